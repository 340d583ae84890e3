/* penalty.c - per-source penalties (see penalty.h). The sources live in a
 * fixed table reached through a hash keyed with a random seed, so that an
 * attacker who picks its addresses cannot make every lookup walk the whole
 * table; blocked sources are also counted for show and the kernel filter. */
#include "pedserver/penalty.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "common/err.h"
#include "pedserver/admit.h"

#define BUCKETS 2048u /* a power of two, twice the entries */
#define NIL 0xffffu
#define MS 1000u

struct entry {
	uint8_t key[PENALTY_ADDR_LEN]; /* the source: IPv4 address or IPv6 /64 */
	uint64_t until_ms;             /* the penalty runs out then */
	uint16_t next;                 /* the bucket's chain */
	bool used, active;
};

struct penalty {
	struct penalty_cfg cfg;
	struct entry e[PENALTY_SOURCES];
	uint16_t head[BUCKETS];
	uint64_t seed[2];
	unsigned nused;
	bool changed;
};

_Static_assert(PENALTY_ADDR_LEN == ADMIT_KEY_LEN, "one address form");

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static unsigned bucket(const penalty_t *p, const uint8_t key[PENALTY_ADDR_LEN])
{
	uint64_t a, b, h;

	memcpy(&a, key, 8);
	memcpy(&b, key + 8, 8);
	h = (a ^ p->seed[0]) * 0x9e3779b97f4a7c15u;
	h = (h ^ (h >> 29) ^ b ^ p->seed[1]) * 0xbf58476d1ce4e5b9u;
	h ^= h >> 31;
	return (unsigned)(h & (BUCKETS - 1));
}

int penalty_new(const struct penalty_cfg *cfg, penalty_t **out)
{
	penalty_t *p;

	if (cfg == NULL || out == NULL)
		return PED_E_INVAL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return PED_E_NOMEM;
	if (RAND_bytes((unsigned char *)p->seed, sizeof(p->seed)) != 1) {
		free(p);
		return PED_E_CRYPTO;
	}
	for (unsigned i = 0; i < BUCKETS; i++)
		p->head[i] = NIL;
	p->cfg = *cfg;
	*out = p;
	return 0;
}

void penalty_free(penalty_t *p)
{
	free(p);
}

void penalty_set(penalty_t *p, const struct penalty_cfg *cfg)
{
	if (p != NULL && cfg != NULL)
		p->cfg = *cfg;
}

static bool prefix_match(const struct penalty_prefix *x, const uint8_t a[PENALTY_ADDR_LEN])
{
	unsigned full = x->bits / 8, rest = x->bits % 8;

	if (memcmp(x->addr, a, full) != 0)
		return false;
	return rest == 0 || ((x->addr[full] ^ a[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

bool penalty_exempt(const penalty_t *p, const uint8_t addr[PENALTY_ADDR_LEN])
{
	for (size_t i = 0; p != NULL && i < p->cfg.nexempt; i++)
		if (prefix_match(&p->cfg.exempt[i], addr))
			return true;
	return false;
}

/* One item of an exempt list: "ADDR" or "ADDR/BITS". */
static int parse_prefix(const char *item, struct penalty_prefix *out)
{
	char a[64];
	const char *slash = strchr(item, '/');
	size_t alen = slash != NULL ? (size_t)(slash - item) : strlen(item);
	unsigned long bits;
	char *end;
	bool v4;

	memset(out, 0, sizeof(*out));
	if (alen == 0 || alen >= sizeof(a))
		return PED_E_BAD_PREFIX;
	memcpy(a, item, alen);
	a[alen] = '\0';
	v4 = strchr(a, ':') == NULL;
	if (v4) {
		memcpy(out->addr, v4mapped, sizeof(v4mapped));
		if (uv_inet_pton(AF_INET, a, out->addr + 12) != 0)
			return PED_E_BAD_PREFIX;
	} else if (uv_inet_pton(AF_INET6, a, out->addr) != 0) {
		return PED_E_BAD_PREFIX;
	}
	bits = v4 ? 32 : 128;
	if (slash != NULL) {
		if (slash[1] < '0' || slash[1] > '9')
			return PED_E_BAD_PREFIX;
		bits = strtoul(slash + 1, &end, 10);
		if (*end != '\0' || bits > (v4 ? 32u : 128u))
			return PED_E_BAD_PREFIX;
	}
	out->bits = (unsigned)bits + (v4 ? 96u : 0u);
	for (unsigned b = out->bits; b < 128; b++) /* host bits must be clear */
		if (out->addr[b / 8] & (0x80 >> (b % 8)))
			return PED_E_BAD_PREFIX;
	return 0;
}

int penalty_exempt_parse(const char *list, struct penalty_cfg *cfg, char *err, size_t errlen)
{
	const char *s = list != NULL ? list : "";
	size_t n = 0;

	cfg->nexempt = 0;
	while (*s != '\0') {
		char item[80];
		size_t len = strcspn(s, ", \t");
		int r;

		if (len == 0) {
			s++;
			continue;
		}
		if (n == PENALTY_EXEMPT_MAX) {
			snprintf(err, errlen, "more than %u exempt addresses or prefixes",
				 PENALTY_EXEMPT_MAX);
			return PED_E_TOO_MANY_PREFIXES;
		}
		snprintf(item, sizeof(item), "%.*s", (int)(len < sizeof(item) - 1 ? len : sizeof(item) - 1), s);
		if (len >= sizeof(item) || (r = parse_prefix(item, &cfg->exempt[n])) != 0) {
			snprintf(err, errlen, "%s: not an address or prefix (host bits clear)", item);
			return PED_E_BAD_PREFIX;
		}
		n++;
		s += len;
	}
	cfg->nexempt = n;
	return 0;
}

static struct entry *find(penalty_t *p, const uint8_t key[PENALTY_ADDR_LEN], uint16_t **link)
{
	uint16_t *l = &p->head[bucket(p, key)];

	while (*l != NIL) {
		struct entry *e = &p->e[*l];

		if (memcmp(e->key, key, PENALTY_ADDR_LEN) == 0) {
			if (link != NULL)
				*link = l;
			return e;
		}
		l = &e->next;
	}
	return NULL;
}

static void drop(penalty_t *p, struct entry *e)
{
	uint16_t *l;

	if (find(p, e->key, &l) == e)
		*l = e->next;
	if (e->active)
		p->changed = true;
	memset(e, 0, sizeof(*e));
	p->nused--;
}

/* Forgets every penalty that has run out. */
static void sweep(penalty_t *p, uint64_t now)
{
	for (unsigned i = 0; i < PENALTY_SOURCES && p->nused > 0; i++)
		if (p->e[i].used && p->e[i].until_ms <= now)
			drop(p, &p->e[i]);
}

/* A free entry for key; a full table gives up the inactive entry with the
 * least penalty left (it is the furthest from being blocked). NULL: every
 * entry is active. */
static struct entry *take(penalty_t *p, const uint8_t key[PENALTY_ADDR_LEN], uint64_t now)
{
	struct entry *e = NULL;
	unsigned b;

	if (p->nused == PENALTY_SOURCES)
		sweep(p, now);
	if (p->nused == PENALTY_SOURCES) {
		for (unsigned i = 0; i < PENALTY_SOURCES; i++)
			if (!p->e[i].active && (e == NULL || p->e[i].until_ms < e->until_ms))
				e = &p->e[i];
		if (e == NULL)
			return NULL;
		drop(p, e);
	}
	for (unsigned i = 0; i < PENALTY_SOURCES; i++)
		if (!p->e[i].used) {
			e = &p->e[i];
			break;
		}
	memcpy(e->key, key, PENALTY_ADDR_LEN);
	e->used = true;
	e->until_ms = now;
	b = bucket(p, key);
	e->next = p->head[b];
	p->head[b] = (uint16_t)(e - p->e);
	p->nused++;
	return e;
}

/* key's entry if its penalty has not run out (one that has is forgotten). */
static struct entry *live(penalty_t *p, const uint8_t key[PENALTY_ADDR_LEN], uint64_t now)
{
	struct entry *e = find(p, key, NULL);

	if (e != NULL && e->until_ms <= now) {
		drop(p, e);
		e = NULL;
	}
	return e;
}

enum penalty_result penalty_add(penalty_t *p, const uint8_t addr[PENALTY_ADDR_LEN],
				enum penalty_kind kind, uint64_t now_ms)
{
	uint8_t key[PENALTY_ADDR_LEN];
	uint64_t max;
	struct entry *e;
	unsigned secs;

	if (p == NULL || kind >= PENALTY_KINDS || p->cfg.max_s == 0 ||
	    (secs = p->cfg.secs[kind]) == 0 || penalty_exempt(p, addr))
		return PENALTY_NONE;
	admit_source(addr, key);
	if ((e = live(p, key, now_ms)) == NULL && (e = take(p, key, now_ms)) == NULL)
		return PENALTY_FULL;
	max = now_ms + (uint64_t)p->cfg.max_s * MS;
	e->until_ms += (uint64_t)secs * MS;
	if (e->until_ms > max)
		e->until_ms = max;
	if (!e->active && e->until_ms - now_ms >= (uint64_t)p->cfg.min_s * MS) {
		e->active = true;
		p->changed = true;
		return PENALTY_ACTIVATED;
	}
	return PENALTY_ACCRUED;
}

bool penalty_blocked(penalty_t *p, const uint8_t addr[PENALTY_ADDR_LEN], uint64_t now_ms)
{
	uint8_t key[PENALTY_ADDR_LEN];
	struct entry *e;

	if (p == NULL || p->nused == 0 || penalty_exempt(p, addr))
		return false;
	admit_source(addr, key);
	return (e = live(p, key, now_ms)) != NULL && e->active;
}

uint64_t penalty_left(penalty_t *p, const uint8_t addr[PENALTY_ADDR_LEN], uint64_t now_ms)
{
	uint8_t key[PENALTY_ADDR_LEN];
	struct entry *e;

	if (p == NULL)
		return 0;
	admit_source(addr, key);
	return (e = live(p, key, now_ms)) != NULL ? e->until_ms - now_ms : 0;
}

static int by_until_desc(const void *a, const void *b)
{
	const struct entry *x = *(const struct entry *const *)a, *y = *(const struct entry *const *)b;

	return x->until_ms < y->until_ms ? 1 : x->until_ms > y->until_ms ? -1 : 0;
}

size_t penalty_blocked_list(penalty_t *p, uint64_t now_ms, struct penalty_prefix *out, size_t max)
{
	static const struct entry *act[PENALTY_SOURCES]; /* the loop's thread only */
	size_t n = 0, i;

	if (p == NULL)
		return 0;
	sweep(p, now_ms);
	for (i = 0; i < PENALTY_SOURCES; i++)
		if (p->e[i].used && p->e[i].active)
			act[n++] = &p->e[i];
	qsort(act, n, sizeof(act[0]), by_until_desc);
	for (i = 0; i < n && i < max; i++) {
		memcpy(out[i].addr, act[i]->key, PENALTY_ADDR_LEN);
		out[i].bits = admit_is_v4(act[i]->key) ? 128 : 64;
	}
	return i;
}

unsigned penalty_nblocked(penalty_t *p, uint64_t now_ms)
{
	unsigned n = 0;

	if (p == NULL)
		return 0;
	sweep(p, now_ms);
	for (unsigned i = 0; i < PENALTY_SOURCES; i++)
		n += p->e[i].used && p->e[i].active;
	return n;
}

int64_t penalty_next_expiry(penalty_t *p, uint64_t now_ms)
{
	uint64_t next = UINT64_MAX;

	for (unsigned i = 0; p != NULL && i < PENALTY_SOURCES; i++)
		if (p->e[i].used && p->e[i].active && p->e[i].until_ms < next)
			next = p->e[i].until_ms;
	if (next == UINT64_MAX)
		return -1;
	return next > now_ms ? (int64_t)(next - now_ms) : 0;
}

bool penalty_changed(penalty_t *p, uint64_t now_ms)
{
	bool c;

	if (p == NULL)
		return false;
	sweep(p, now_ms);
	c = p->changed;
	p->changed = false;
	return c;
}
