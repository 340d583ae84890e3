/* admit.c - per-source admission (see admit.h). */
#include "pedserver/admit.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"

#define MILLI 1000u

struct source {
	uint8_t key[ADMIT_KEY_LEN];
	unsigned count;      /* pre-session connections */
	uint64_t tokens;     /* milli-tokens */
	uint64_t last_ms;    /* last refill */
	int used;
};

struct admit {
	struct admit_cfg cfg;
	struct source src[ADMIT_SOURCES];
};

int admit_new(const struct admit_cfg *cfg, admit_t **out)
{
	admit_t *a;

	if (cfg == NULL || out == NULL)
		return PED_E_INVAL;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return PED_E_NOMEM;
	a->cfg = *cfg;
	*out = a;
	return 0;
}

void admit_free(admit_t *a)
{
	free(a);
}

void admit_set(admit_t *a, const struct admit_cfg *cfg)
{
	if (a != NULL && cfg != NULL)
		a->cfg = *cfg;
}

static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int admit_addr(const struct sockaddr *sa, uint8_t addr[ADMIT_KEY_LEN])
{
	memset(addr, 0, ADMIT_KEY_LEN);
	if (sa == NULL)
		return PED_E_INVAL;
	if (sa->sa_family == AF_INET) {
		memcpy(addr, mapped, sizeof(mapped));
		memcpy(addr + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(addr, ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr, ADMIT_KEY_LEN);
		return 0;
	}
	return PED_E_INVAL;
}

bool admit_is_v4(const uint8_t addr[ADMIT_KEY_LEN])
{
	return memcmp(addr, mapped, sizeof(mapped)) == 0;
}

void admit_source(const uint8_t addr[ADMIT_KEY_LEN], uint8_t key[ADMIT_KEY_LEN])
{
	memcpy(key, addr, ADMIT_KEY_LEN);
	if (!admit_is_v4(addr))
		memset(key + 8, 0, 8); /* the /64 */
}

int admit_key(const struct sockaddr *sa, uint8_t key[ADMIT_KEY_LEN])
{
	uint8_t addr[ADMIT_KEY_LEN];
	int r = admit_addr(sa, addr);

	admit_source(addr, key);
	return r;
}

static uint64_t cap(const admit_t *a)
{
	return (uint64_t)(a->cfg.burst > 0 ? a->cfg.burst : 1) * MILLI;
}

static void refill(const admit_t *a, struct source *s, uint64_t now)
{
	if (now > s->last_ms) {
		s->tokens += (now - s->last_ms) * a->cfg.rate; /* rate/s = rate milli-tokens/ms */
		if (s->tokens > cap(a))
			s->tokens = cap(a);
	}
	s->last_ms = now;
}

static struct source *find(admit_t *a, const uint8_t key[ADMIT_KEY_LEN])
{
	for (unsigned i = 0; i < ADMIT_SOURCES; i++)
		if (a->src[i].used && memcmp(a->src[i].key, key, ADMIT_KEY_LEN) == 0)
			return &a->src[i];
	return NULL;
}

/* A free entry, else the idle one with the fullest bucket (after refill:
 * it forgets least), oldest first among equals. */
static struct source *take(admit_t *a, uint64_t now)
{
	struct source *best = NULL;

	for (unsigned i = 0; i < ADMIT_SOURCES; i++) {
		struct source *s = &a->src[i];

		if (!s->used)
			return s;
		if (s->count > 0)
			continue;
		refill(a, s, now);
		if (best == NULL || s->tokens > best->tokens ||
		    (s->tokens == best->tokens && s->last_ms < best->last_ms))
			best = s;
	}
	return best;
}

enum admit_verdict admit_enter(admit_t *a, const uint8_t key[ADMIT_KEY_LEN], uint64_t now_ms)
{
	struct source *s;

	if ((s = find(a, key)) == NULL) {
		if ((s = take(a, now_ms)) == NULL)
			return ADMIT_PER_SOURCE; /* every entry busy: cannot happen with a
						  * global cap below ADMIT_SOURCES */
		memset(s, 0, sizeof(*s));
		memcpy(s->key, key, ADMIT_KEY_LEN);
		s->used = 1;
		s->tokens = cap(a);
		s->last_ms = now_ms;
	}
	refill(a, s, now_ms);
	if (s->tokens < MILLI)
		return ADMIT_RATE;
	s->tokens -= MILLI; /* every attempt costs a token, refused or not */
	if (s->count >= a->cfg.per_source)
		return ADMIT_PER_SOURCE;
	s->count++;
	return ADMIT_OK;
}

void admit_leave(admit_t *a, const uint8_t key[ADMIT_KEY_LEN])
{
	struct source *s = a != NULL ? find(a, key) : NULL;

	if (s != NULL && s->count > 0)
		s->count--;
}

unsigned admit_slot(const admit_t *a, const uint8_t key[ADMIT_KEY_LEN])
{
	unsigned i;

	for (i = 0; i < ADMIT_SOURCES; i++)
		if (a->src[i].used && memcmp(a->src[i].key, key, ADMIT_KEY_LEN) == 0)
			break;
	return i;
}

unsigned admit_slot_count(const admit_t *a, unsigned slot)
{
	return slot < ADMIT_SOURCES ? a->src[slot].count : 0;
}

unsigned admit_count(const admit_t *a, const uint8_t key[ADMIT_KEY_LEN])
{
	return admit_slot_count(a, admit_slot(a, key));
}
