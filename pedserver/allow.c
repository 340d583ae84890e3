/* allow.c - the HSM allowlist's store (allow.h). The file is text, one entry
 * per line, so that an operator can read it:
 *   # pedserver HSM allowlist: fingerprint serial added how [name]
 *   <64 hex> <serial> <YYYY-MM-DDTHH:MM:SSZ> <how> [<name>]
 * Each change rewrites it whole, atomically (0600). */
#include "pedserver/allow.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "common/atomic.h"
#include "common/audit.h"
#include "common/err.h"
#include "common/hex.h"
#include "common/log.h"

#define FILE_MAX (ALLOW_MAX * 200 + 200)
#define HEADER "# pedserver HSM allowlist: fingerprint serial added how [name]\n"

struct allow {
	char path[4096];
	size_t n;
	struct allow_entry e[ALLOW_MAX];
};

static const char *const policies[] = {"prompt", "list", "tofu", "any"};

int allow_policy_parse(const char *s, enum allow_policy *out)
{
	for (size_t i = 0; i < sizeof(policies) / sizeof(policies[0]); i++)
		if (strcmp(s, policies[i]) == 0) {
			*out = (enum allow_policy)i;
			return 0;
		}
	return PED_E_RANGE;
}

const char *allow_policy_name(enum allow_policy p)
{
	return (unsigned)p < sizeof(policies) / sizeof(policies[0]) ? policies[p] : "?";
}

static int word_char(char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
	       ch == '.' || ch == '_' || ch == ':' || ch == '-';
}

int allow_word_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > ALLOW_STR_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!word_char(s[i]))
			return 0;
	return 1;
}

void allow_word_clean(const char *in, char out[ALLOW_STR_MAX + 1])
{
	size_t i;

	for (i = 0; i < ALLOW_STR_MAX && in[i] != '\0'; i++)
		out[i] = word_char(in[i]) ? in[i] : '?';
	out[i] = '\0';
	if (i == 0)
		snprintf(out, ALLOW_STR_MAX + 1, "-");
}

int allow_fingerprint(const uint8_t qs[ECP_PUB_LEN], uint8_t fp[ALLOW_FP_LEN])
{
	unsigned len = 0;

	if (EVP_Digest(qs, ECP_PUB_LEN, fp, &len, EVP_sha256(), NULL) != 1 ||
	    len != ALLOW_FP_LEN)
		return PED_E_CRYPTO;
	return 0;
}

int allow_fp_parse(const char *text, uint8_t fp[ALLOW_FP_LEN])
{
	char hex[2 * ALLOW_FP_LEN + 1];
	size_t n = 0;

	for (; *text != '\0'; text++) {
		if (*text == ':' || *text == ' ' || *text == '-')
			continue;
		if (n == sizeof(hex) - 1)
			return PED_E_BAD_FINGERPRINT;
		hex[n++] = *text;
	}
	hex[n] = '\0';
	if (n != 2 * ALLOW_FP_LEN || hex_decode(hex, fp, ALLOW_FP_LEN) != ALLOW_FP_LEN)
		return PED_E_BAD_FINGERPRINT;
	return 0;
}

void allow_fp_text(const uint8_t fp[ALLOW_FP_LEN], char out[ALLOW_FP_TEXT])
{
	static const char digits[] = "0123456789abcdef";
	size_t o = 0;

	for (size_t i = 0; i < ALLOW_FP_LEN; i++) {
		if (i > 0 && i % 2 == 0)
			out[o++] = ':';
		out[o++] = digits[fp[i] >> 4];
		out[o++] = digits[fp[i] & 15];
	}
	out[o] = '\0';
}

/* One line into e; 0 or PED_E_STATE_CORRUPT. */
static int parse_line(char *line, struct allow_entry *e)
{
	char *f[6], *save = NULL;
	unsigned n = 0;

	for (char *w = strtok_r(line, " \t", &save); w != NULL; w = strtok_r(NULL, " \t", &save))
		if (n < 6)
			f[n++] = w;
		else
			return PED_E_STATE_CORRUPT;
	memset(e, 0, sizeof(*e));
	if ((n != 4 && n != 5) || strlen(f[0]) != 2 * ALLOW_FP_LEN ||
	    hex_decode(f[0], e->fp, ALLOW_FP_LEN) != ALLOW_FP_LEN || !allow_word_ok(f[1]) ||
	    strlen(f[2]) >= sizeof(e->added) || !allow_word_ok(f[2]) ||
	    strlen(f[3]) >= sizeof(e->how) || !allow_word_ok(f[3]) ||
	    (n == 5 && !allow_word_ok(f[4])))
		return PED_E_STATE_CORRUPT;
	snprintf(e->serial, sizeof(e->serial), "%s", f[1]);
	snprintf(e->added, sizeof(e->added), "%s", f[2]);
	snprintf(e->how, sizeof(e->how), "%s", f[3]);
	if (n == 5)
		snprintf(e->name, sizeof(e->name), "%s", f[4]);
	return 0;
}

int allow_load(const char *dir, allow_t **out)
{
	allow_t *a = NULL;
	char *data = NULL, *line, *save = NULL;
	void *raw = NULL;
	size_t len = 0;
	unsigned lineno = 0;
	int r = PED_E_NOMEM;

	*out = NULL;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		goto out;
	if ((size_t)snprintf(a->path, sizeof(a->path), "%s/%s", dir, ALLOW_FILE) >= sizeof(a->path)) {
		r = PED_E_TOO_LONG;
		goto out;
	}
	r = atomic_read_file(a->path, FILE_MAX, &raw, &len);
	if (r == PED_E_NOT_FOUND) {
		r = 0;
		goto done;
	}
	if (r != 0)
		goto out;
	r = PED_E_NOMEM;
	if ((data = malloc(len + 1)) == NULL)
		goto out;
	memcpy(data, raw, len);
	data[len] = '\0';
	r = PED_E_STATE_CORRUPT;
	if (strlen(data) != len)
		goto out;
	for (line = strtok_r(data, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		if (line[0] == '#' || line[strspn(line, " \t\r")] == '\0')
			continue;
		if (a->n == ALLOW_MAX || parse_line(line, &a->e[a->n]) != 0) {
			log_error("%s:%u: not an allowlist entry", a->path, lineno);
			goto out;
		}
		if (allow_find(a, a->e[a->n].fp) != NULL) {
			log_error("%s:%u: the key is listed twice", a->path, lineno);
			goto out;
		}
		a->n++;
	}
done:
	*out = a;
	a = NULL;
	r = 0;
out:
	free(raw);
	free(data);
	free(a);
	return r;
}

void allow_free(allow_t *a)
{
	free(a);
}

size_t allow_count(const allow_t *a)
{
	return a != NULL ? a->n : 0;
}

const struct allow_entry *allow_at(const allow_t *a, size_t i)
{
	return a != NULL && i < a->n ? &a->e[i] : NULL;
}

const struct allow_entry *allow_find(const allow_t *a, const uint8_t fp[ALLOW_FP_LEN])
{
	for (size_t i = 0; a != NULL && i < a->n; i++)
		if (memcmp(a->e[i].fp, fp, ALLOW_FP_LEN) == 0)
			return &a->e[i];
	return NULL;
}

static int save(const allow_t *a)
{
	static char buf[FILE_MAX];
	char hex[2 * ALLOW_FP_LEN + 1];
	size_t o = 0;
	int n;

	o = (size_t)snprintf(buf, sizeof(buf), "%s", HEADER);
	for (size_t i = 0; i < a->n; i++) {
		const struct allow_entry *e = &a->e[i];

		hex_encode(e->fp, ALLOW_FP_LEN, hex);
		n = snprintf(buf + o, sizeof(buf) - o, "%s %s %s %s%s%s\n", hex, e->serial, e->added,
			     e->how, e->name[0] ? " " : "", e->name);
		if (n < 0 || (size_t)n >= sizeof(buf) - o)
			return PED_E_TOO_LONG;
		o += (size_t)n;
	}
	return atomic_write_file(a->path, buf, o, 0600);
}

int allow_add(allow_t *a, const uint8_t fp[ALLOW_FP_LEN], const char *serial, const char *name,
	      const char *how)
{
	struct allow_entry *e;
	char text[ALLOW_FP_TEXT];
	time_t t = time(NULL);
	struct tm tm;
	int r;

	if (!allow_word_ok(serial) || (name[0] != '\0' && !allow_word_ok(name)) ||
	    !allow_word_ok(how) || strlen(how) >= sizeof(e->how))
		return PED_E_INVAL;
	if (allow_find(a, fp) != NULL)
		return PED_E_EXISTS;
	if (a->n == ALLOW_MAX)
		return PED_E_ALLOWLIST_FULL;
	e = &a->e[a->n];
	memset(e, 0, sizeof(*e));
	memcpy(e->fp, fp, ALLOW_FP_LEN);
	snprintf(e->serial, sizeof(e->serial), "%s", serial);
	snprintf(e->name, sizeof(e->name), "%s", name);
	snprintf(e->how, sizeof(e->how), "%s", how);
	if (gmtime_r(&t, &tm) == NULL || strftime(e->added, sizeof(e->added), "%Y-%m-%dT%H:%M:%SZ",
						  &tm) == 0)
		snprintf(e->added, sizeof(e->added), "-");
	a->n++;
	if ((r = save(a)) != 0) {
		a->n--;
		log_error("cannot write %s: %s", a->path, ped_errname(r));
		return r;
	}
	allow_fp_text(fp, text);
	log_info("HSM allowlist: added HSM %s (%s) key %s (%s)", serial, name[0] ? name : "-",
		 text, how);
	audit_event("hsm_allow_add", "fingerprint:s serial:s name:s how:s", text, serial,
		    name[0] ? name : NULL, how);
	return 0;
}

int allow_delete(allow_t *a, const uint8_t *fp, const char *serial, unsigned *count)
{
	struct allow_entry gone[ALLOW_MAX];
	size_t i, k = 0, g = 0;
	char text[ALLOW_FP_TEXT];
	int r;

	*count = 0;
	for (i = 0; i < a->n; i++) {
		bool match = fp != NULL ? memcmp(a->e[i].fp, fp, ALLOW_FP_LEN) == 0
					: strcmp(a->e[i].serial, serial) == 0;
		if (match)
			gone[g++] = a->e[i];
		else
			a->e[k++] = a->e[i];
	}
	if (g == 0)
		return PED_E_NOT_FOUND;
	a->n = k;
	if ((r = save(a)) != 0) {
		log_error("cannot write %s: %s", a->path, ped_errname(r));
		/* put the list back as it is on disk */
		for (i = 0; i < g && a->n < ALLOW_MAX; i++)
			a->e[a->n++] = gone[i];
		return r;
	}
	for (i = 0; i < g; i++) {
		allow_fp_text(gone[i].fp, text);
		log_info("HSM allowlist: deleted HSM %s key %s", gone[i].serial, text);
		audit_event("hsm_allow_delete", "fingerprint:s serial:s", text, gone[i].serial);
	}
	*count = (unsigned)g;
	return 0;
}
