/* audit.c - the hash-chained ceremony audit trail (see audit.h). */
#include "audit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "err.h"
#include "log.h"
#include "sys.h"

#define HASH_LEN 32
#define HEX_LEN (2 * HASH_LEN)
/* ',"hash":"' + 64 hex + '"}' */
#define TAIL_LEN (9 + HEX_LEN + 2)
/* ',"prev":"' + 64 hex + '"' */
#define PREV_LEN (9 + HEX_LEN + 1)
#define REFUSAL_KINDS 16
#define REFUSAL_SOURCES 64

struct refusal {
	char reason[40];
	char first[64];
	unsigned long count;
	long start;
	size_t nsrc;
	char src[REFUSAL_SOURCES][48];
};

static struct {
	int fd;
	char dir[4096];
	char path[4200];
	char prog[32];
	unsigned long long seq;     /* of the last record written */
	uint8_t last[HASH_LEN];
	size_t size;
	struct refusal ref[REFUSAL_KINDS];
} A = {.fd = -1};
static size_t file_max = AUDIT_FILE_MAX;

void audit_set_file_max(size_t max)
{
	file_max = max > AUDIT_LINE_MAX ? max : AUDIT_LINE_MAX;
}

static long mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec;
}

static void hexify(char out[static HEX_LEN + 1], const uint8_t h[static HASH_LEN])
{
	static const char d[] = "0123456789abcdef";

	for (size_t i = 0; i < HASH_LEN; i++) {
		out[2 * i] = d[h[i] >> 4];
		out[2 * i + 1] = d[h[i] & 15];
	}
	out[HEX_LEN] = '\0';
}

static int unhex(uint8_t h[static HASH_LEN], const char *s)
{
	for (size_t i = 0; i < HEX_LEN; i++) {
		char c = s[i];
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (v < 0)
			return PED_E_PARSE;
		if (i % 2 == 0)
			h[i / 2] = (uint8_t)(v << 4);
		else
			h[i / 2] |= (uint8_t)v;
	}
	return 0;
}

/* SHA-256(prev || body[0..n)) */
static int chain_hash(uint8_t out[static HASH_LEN], const uint8_t prev[static HASH_LEN],
		      const char *body, size_t n)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned len = 0;
	int r = PED_E_CRYPTO;

	if (c == NULL)
		return PED_E_NOMEM;
	if (EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(c, prev, HASH_LEN) == 1 && EVP_DigestUpdate(c, body, n) == 1 &&
	    EVP_DigestFinal_ex(c, out, &len) == 1 && len == HASH_LEN)
		r = 0;
	EVP_MD_CTX_free(c);
	return r;
}

/* Appends a JSON string (quoted, escaped, ASCII) at *o; false if it did not fit. */
static bool put_json_str(char *dst, size_t cap, size_t *o, const char *s)
{
	static const char d[] = "0123456789abcdef";

	if (*o + 2 > cap)
		return false;
	dst[(*o)++] = '"';
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		char e[7];
		size_t el;

		if (c == '"' || c == '\\') {
			e[0] = '\\';
			e[1] = (char)c;
			el = 2;
		} else if (c < 0x20 || c >= 0x7f) {
			memcpy(e, "\\u00", 4);
			e[4] = d[c >> 4];
			e[5] = d[c & 15];
			el = 6;
		} else {
			e[0] = (char)c;
			el = 1;
		}
		if (*o + el + 1 > cap)
			return false;
		memcpy(dst + *o, e, el);
		*o += el;
	}
	if (*o + 2 > cap)
		return false;
	dst[(*o)++] = '"';
	dst[*o] = '\0';
	return true;
}

static bool put_raw(char *dst, size_t cap, size_t *o, const char *fmt, ...)
	PED_PRINTF(4, 5);
static bool put_raw(char *dst, size_t cap, size_t *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*o >= cap)
		return false;
	va_start(ap, fmt);
	n = vsnprintf(dst + *o, cap - *o, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap - *o)
		return false;
	*o += (size_t)n;
	return true;
}

static void utc_now(char *out, size_t cap)
{
	struct timespec ts;
	struct tm tm;
	char base[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, cap, "%.24s.%03uZ", base, (unsigned)(ts.tv_nsec / 1000000L) % 1000u);
}

static int write_line(const char *line, size_t n)
{
	size_t off = 0;

	while (off < n) {
		ssize_t w = write(A.fd, line + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return PED_E_IO;
		off += (size_t)w;
	}
	return sys_fsync(A.fd) == 0 ? 0 : PED_E_IO;
}

/* audit.log -> audit.log.<highest+1>; a new audit.log */
static int rotate(void)
{
	char **files = NULL, to[4300];
	size_t n = 0;
	unsigned long hi = 0;
	int fd;

	if (audit_files(A.dir, &files, &n) == 0) {
		for (size_t i = 0; i < n; i++) {
			const char *dot = strrchr(files[i], '.');
			unsigned long k = dot != NULL ? strtoul(dot + 1, NULL, 10) : 0;
			if (k > hi)
				hi = k;
		}
		audit_files_free(files, n);
	}
	snprintf(to, sizeof(to), "%s.%lu", A.path, hi + 1);
	if (rename(A.path, to) != 0)
		return PED_E_IO;
	fd = sys_open_append(A.path);
	if (fd < 0)
		return PED_E_IO;
	close(A.fd);
	A.fd = fd;
	A.size = 0;
	return 0;
}

/* Builds, chains and appends one record; members already in body (may be ""). */
static void append(const char *event, const char *members)
{
	char line[AUDIT_LINE_MAX + TAIL_LEN + 2], ts[40], prevhex[HEX_LEN + 1], hashhex[HEX_LEN + 1];
	uint8_t h[HASH_LEN];
	size_t o = 0;

	if (A.fd < 0)
		return;
	utc_now(ts, sizeof(ts));
	hexify(prevhex, A.last);
	if (!put_raw(line, AUDIT_LINE_MAX, &o, "{\"seq\":%llu,\"time\":\"%s\",\"prog\":", A.seq + 1,
		     ts) ||
	    !put_json_str(line, AUDIT_LINE_MAX, &o, A.prog) ||
	    !put_raw(line, AUDIT_LINE_MAX, &o, ",\"event\":") ||
	    !put_json_str(line, AUDIT_LINE_MAX, &o, event) ||
	    !put_raw(line, AUDIT_LINE_MAX, &o, "%s%s,\"prev\":\"%s\"", members[0] ? "," : "",
		     members, prevhex)) {
		log_error("audit: the %s record is too long; not written", event);
		return;
	}
	if (chain_hash(h, A.last, line, o) != 0) {
		log_error("audit: cannot hash the %s record", event);
		return;
	}
	hexify(hashhex, h);
	o += (size_t)snprintf(line + o, sizeof(line) - o, ",\"hash\":\"%s\"}\n", hashhex);
	if (A.size > 0 && A.size + o > file_max && rotate() != 0)
		log_error("audit: cannot rotate %s: %s; appending", A.path, strerror(errno));
	if (write_line(line, o) != 0) {
		log_error("audit: cannot write %s: %s", A.path, strerror(errno));
		return;
	}
	A.size += o;
	A.seq++;
	memcpy(A.last, h, HASH_LEN);
}

/* The fields of a well-formed record line (n bytes, no newline). */
struct rec {
	unsigned long long seq;
	uint8_t prev[HASH_LEN], hash[HASH_LEN];
	size_t body; /* bytes covered by the hash */
};

static int parse_rec(const char *l, size_t n, struct rec *r)
{
	char *end;

	if (n < 8 + TAIL_LEN + PREV_LEN || memcmp(l, "{\"seq\":", 7) != 0 || l[7] < '1' ||
	    l[7] > '9')
		return PED_E_PARSE;
	errno = 0;
	r->seq = strtoull(l + 7, &end, 10);
	if (errno != 0 || *end != ',')
		return PED_E_PARSE;
	r->body = n - TAIL_LEN;
	if (memcmp(l + r->body, ",\"hash\":\"", 9) != 0 || memcmp(l + n - 2, "\"}", 2) != 0 ||
	    memcmp(l + r->body - PREV_LEN, ",\"prev\":\"", 9) != 0 || l[r->body - 1] != '"' ||
	    unhex(r->hash, l + r->body + 9) != 0 || unhex(r->prev, l + r->body - PREV_LEN + 9) != 0)
		return PED_E_PARSE;
	return 0;
}

static int read_file(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *b = NULL;
	size_t cap = 0, n = 0, got;
	int r = PED_E_IO;

	if (f == NULL)
		return errno == ENOENT ? PED_E_NOT_FOUND : PED_E_IO;
	for (;;) {
		if (n + 65536 + 1 > cap) {
			char *nb = realloc(b, cap = n + 65536 + 1);
			if (nb == NULL) {
				r = PED_E_NOMEM;
				goto out;
			}
			b = nb;
		}
		got = fread(b + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f))
		goto out;
	b[n] = '\0';
	*out = b;
	*len = n;
	b = NULL;
	r = 0;
out:
	free(b);
	fclose(f);
	return r;
}

/* The last complete record of path: seq and hash; *torn = bytes of a torn tail. */
static int tail_of(const char *path, unsigned long long *seq, uint8_t h[static HASH_LEN],
		   size_t *size, size_t *torn)
{
	char *b = NULL;
	size_t n = 0, end, start;
	struct rec r;
	int rc;

	*torn = 0;
	*size = 0;
	if ((rc = read_file(path, &b, &n)) != 0)
		return rc;
	*size = n;
	end = n;
	while (end > 0 && b[end - 1] != '\n')
		end--;
	*torn = n - end;
	rc = PED_E_NOT_FOUND;
	if (end == 0)
		goto out;
	start = end - 1;
	while (start > 0 && b[start - 1] != '\n')
		start--;
	if (parse_rec(b + start, end - 1 - start, &r) != 0) {
		rc = PED_E_PARSE;
		goto out;
	}
	*seq = r.seq;
	memcpy(h, r.hash, HASH_LEN);
	rc = 0;
out:
	free(b);
	return rc;
}

int audit_open(const char *dir, const char *prog)
{
	char **files = NULL;
	size_t nf = 0, size = 0, torn = 0;
	int rc = PED_E_IO;

	audit_close();
	memset(&A, 0, sizeof(A));
	A.fd = -1;
	snprintf(A.dir, sizeof(A.dir), "%s", dir);
	snprintf(A.path, sizeof(A.path), "%s/%s", dir, AUDIT_FILE_NAME);
	snprintf(A.prog, sizeof(A.prog), "%s", prog);
	/* the tail of the chain: the newest file that holds a record */
	if (audit_files(dir, &files, &nf) == 0) {
		for (size_t i = nf; i-- > 0;) {
			size_t sz, tn;
			int t = tail_of(files[i], &A.seq, A.last, &sz, &tn);
			if (strcmp(files[i], A.path) == 0) {
				size = sz;
				torn = tn;
			}
			if (t == 0)
				break;
			if (t == PED_E_PARSE) {
				log_error("audit: the last record of %s is malformed; "
					  "run -mode audit -verify", files[i]);
				break;
			}
		}
		audit_files_free(files, nf);
	}
	A.fd = sys_open_append(A.path);
	if (A.fd < 0) {
		log_error("audit: cannot open %s: %s; no audit trail", A.path, strerror(errno));
		goto out;
	}
	A.size = size;
	if (torn > 0) {
		/* a crash in the middle of a record: only that record is lost */
		if (ftruncate(A.fd, (off_t)(size - torn)) != 0) {
			log_error("audit: cannot cut the torn record of %s: %s", A.path,
				  strerror(errno));
			close(A.fd);
			A.fd = -1;
			goto out;
		}
		A.size = size - torn;
		log_warning("audit: %s ended in a torn record (%zu bytes); cut away", A.path, torn);
		audit_event("audit_repaired", "torn_bytes:l", (long long)torn);
	}
	rc = 0;
out:
	return rc;
}

int audit_is_open(void)
{
	return A.fd >= 0;
}

void audit_close(void)
{
	if (A.fd < 0)
		return;
	audit_flush(1);
	close(A.fd);
	A.fd = -1;
}

void audit_event(const char *event, const char *fmt, ...)
{
	char m[AUDIT_LINE_MAX], name[40];
	size_t o = 0;
	va_list ap;
	const char *p = fmt != NULL ? fmt : "";
	bool ok = true;

	if (A.fd < 0)
		return;
	audit_flush(0);
	m[0] = '\0';
	va_start(ap, fmt);
	while (ok && *p != '\0') {
		const char *colon;
		size_t nl;
		char t;

		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		colon = strchr(p, ':');
		if (colon == NULL || (nl = (size_t)(colon - p)) == 0 || nl >= sizeof(name)) {
			ok = false;
			break;
		}
		memcpy(name, p, nl);
		name[nl] = '\0';
		t = colon[1];
		p = colon + 2;
		ok = put_raw(m, sizeof(m), &o, "%s\"%s\":", o > 0 ? "," : "", name);
		if (!ok)
			break;
		if (t == 's') {
			const char *v = va_arg(ap, const char *);
			ok = v == NULL ? put_raw(m, sizeof(m), &o, "null")
				       : put_json_str(m, sizeof(m), &o, v);
		} else if (t == 'd') {
			ok = put_raw(m, sizeof(m), &o, "%d", va_arg(ap, int));
		} else if (t == 'u') {
			ok = put_raw(m, sizeof(m), &o, "%u", va_arg(ap, unsigned));
		} else if (t == 'l') {
			ok = put_raw(m, sizeof(m), &o, "%lld", va_arg(ap, long long));
		} else {
			ok = false;
		}
	}
	va_end(ap);
	if (!ok) {
		log_error("audit: bad members for the %s record (our bug); written without them",
			  event);
		m[0] = '\0';
	}
	append(event, m);
}

static void write_refusal(struct refusal *f, long now)
{
	char m[512];
	size_t o = 0;
	long span = now - f->start;

	if (put_raw(m, sizeof(m), &o, "\"reason\":") && put_json_str(m, sizeof(m), &o, f->reason) &&
	    put_raw(m, sizeof(m), &o, ",\"count\":%lu,\"sources\":%zu%s,\"first_source\":",
		    f->count, f->nsrc, f->nsrc == REFUSAL_SOURCES ? ",\"sources_capped\":true" : "") &&
	    put_json_str(m, sizeof(m), &o, f->first) &&
	    put_raw(m, sizeof(m), &o, ",\"seconds\":%ld", span < 1 ? 1 : span))
		append("admission_refused", m);
	f->reason[0] = '\0';
	f->count = 0;
}

static void (*pending_hook)(void);

void audit_set_pending_hook(void (*hook)(void))
{
	pending_hook = hook;
}

int audit_flush(int force)
{
	long now = mono_s();
	int next = -1;

	if (A.fd < 0)
		return -1;
	for (size_t i = 0; i < REFUSAL_KINDS; i++) {
		struct refusal *f = &A.ref[i];
		long age = now - f->start;

		if (f->count == 0)
			continue;
		if (force || age >= AUDIT_REFUSAL_WINDOW_S)
			write_refusal(f, now);
		else if (next < 0 || AUDIT_REFUSAL_WINDOW_S - age < next)
			next = (int)(AUDIT_REFUSAL_WINDOW_S - age);
	}
	return next;
}

void audit_refusal(const char *reason, const char *source)
{
	struct refusal *f = NULL;
	long now = mono_s();
	size_t i;

	if (A.fd < 0)
		return;
	audit_flush(0);
	if (reason == NULL)
		reason = "";
	if (source == NULL)
		source = "";
	for (i = 0; i < REFUSAL_KINDS && f == NULL; i++)
		if (A.ref[i].count > 0 && strncmp(A.ref[i].reason, reason, sizeof(f->reason) - 1) == 0)
			f = &A.ref[i];
	for (i = 0; i < REFUSAL_KINDS && f == NULL; i++)
		if (A.ref[i].count == 0) {
			f = &A.ref[i];
			memset(f, 0, sizeof(*f));
			snprintf(f->reason, sizeof(f->reason), "%s", reason);
			snprintf(f->first, sizeof(f->first), "%s", source);
			f->start = now;
			if (pending_hook != NULL)
				pending_hook();
		}
	if (f == NULL)
		f = &A.ref[REFUSAL_KINDS - 1]; /* more reasons than slots: the last one sums */
	f->count++;
	for (i = 0; i < f->nsrc; i++)
		if (strncmp(f->src[i], source, sizeof(f->src[i]) - 1) == 0)
			return;
	if (f->nsrc < REFUSAL_SOURCES)
		snprintf(f->src[f->nsrc++], sizeof(f->src[0]), "%s", source);
}

/* ---- verification ---- */

static const char *base(const char *p)
{
	const char *s = sys_last_sep(p);
	return s != NULL ? s + 1 : p;
}

int audit_verify(const char *const files[], size_t nfiles, FILE *out)
{
	uint8_t last[HASH_LEN] = {0}, h[HASH_LEN];
	unsigned long long expect = 0, first = 0;
	size_t count = 0;
	int rc = 0;

	for (size_t fi = 0; fi < nfiles && rc == 0; fi++) {
		char *b = NULL;
		size_t n = 0, pos = 0, lineno = 0;
		int r = read_file(files[fi], &b, &n);

		if (r != 0) {
			fprintf(out, "%s: cannot read: %s\n", files[fi],
				r == PED_E_NOT_FOUND ? "no such file" : strerror(errno));
			return PED_E_IO;
		}
		while (pos < n && rc == 0) {
			char *nl = memchr(b + pos, '\n', n - pos);
			size_t len = nl != NULL ? (size_t)(nl - (b + pos)) : n - pos;
			struct rec rec;

			lineno++;
			if (nl == NULL) {
				fprintf(out, "%s:%zu: record %llu: torn (no end of line)\n",
					base(files[fi]), lineno, expect + 1);
				rc = PED_E_AUDIT_BROKEN;
			} else if (parse_rec(b + pos, len, &rec) != 0) {
				fprintf(out, "%s:%zu: record %llu: malformed\n", base(files[fi]),
					lineno, expect + 1);
				rc = PED_E_AUDIT_BROKEN;
			}
			if (rc == 0 && count == 0)
				first = rec.seq;
			if (rc != 0) {
			} else if (rec.seq > expect + 1) {
				fprintf(out, "%s:%zu: record %llu: missing or out of order (found "
					"record %llu)\n", base(files[fi]), lineno, expect + 1, rec.seq);
				rc = PED_E_AUDIT_BROKEN;
			} else if (rec.seq < expect + 1) {
				fprintf(out, "%s:%zu: record %llu: out of order or repeated (expected "
					"record %llu)\n", base(files[fi]), lineno, rec.seq, expect + 1);
				rc = PED_E_AUDIT_BROKEN;
			} else if (CRYPTO_memcmp(rec.prev, last, HASH_LEN) != 0) {
				fprintf(out, "%s:%zu: record %llu: does not follow record %llu (chain "
					"broken)\n", base(files[fi]), lineno, rec.seq, expect);
				rc = PED_E_AUDIT_BROKEN;
			} else if (chain_hash(h, last, b + pos, rec.body) != 0 ||
				   CRYPTO_memcmp(h, rec.hash, HASH_LEN) != 0) {
				fprintf(out, "%s:%zu: record %llu: altered (hash mismatch)\n",
					base(files[fi]), lineno, rec.seq);
				rc = PED_E_AUDIT_BROKEN;
			} else {
				memcpy(last, rec.hash, HASH_LEN);
				expect = rec.seq;
				count++;
			}
			pos += len + 1;
		}
		free(b);
	}
	if (rc == 0) {
		if (count == 0)
			fprintf(out, "audit trail intact: no records in %zu file%s\n", nfiles,
				nfiles == 1 ? "" : "s");
		else
			fprintf(out, "audit trail intact: %zu records (%llu-%llu) in %zu file%s\n",
				count, first, expect, nfiles, nfiles == 1 ? "" : "s");
	}
	return rc;
}

static int cmp_num(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;
	const char *dx = strrchr(x, '.'), *dy = strrchr(y, '.');
	/* audit.log (no number) is the newest */
	unsigned long nx = strcmp(base(x), AUDIT_FILE_NAME) == 0 ? (unsigned long)-1
								  : strtoul(dx + 1, NULL, 10);
	unsigned long ny = strcmp(base(y), AUDIT_FILE_NAME) == 0 ? (unsigned long)-1
								  : strtoul(dy + 1, NULL, 10);
	return nx < ny ? -1 : nx > ny;
}

int audit_files(const char *dir, char ***files, size_t *nfiles)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **v = NULL;
	size_t n = 0, pl = strlen(AUDIT_FILE_NAME);

	*files = NULL;
	*nfiles = 0;
	if (d == NULL)
		return PED_E_NOT_FOUND;
	while ((e = readdir(d)) != NULL) {
		const char *s = e->d_name;
		char **nv;
		char *p;

		if (strncmp(s, AUDIT_FILE_NAME, pl) != 0)
			continue;
		if (s[pl] != '\0') {
			size_t k = pl + 1;
			if (s[pl] != '.' || s[k] < '1' || s[k] > '9')
				continue;
			while (s[k] >= '0' && s[k] <= '9')
				k++;
			if (s[k] != '\0')
				continue;
		}
		if ((nv = realloc(v, (n + 1) * sizeof(*v))) == NULL)
			break;
		v = nv;
		if ((p = malloc(strlen(dir) + strlen(s) + 2)) == NULL)
			break;
		sprintf(p, "%s/%s", dir, s);
		v[n++] = p;
	}
	closedir(d);
	if (n == 0) {
		free(v);
		return PED_E_NOT_FOUND;
	}
	qsort(v, n, sizeof(*v), cmp_num);
	*files = v;
	*nfiles = n;
	return 0;
}

void audit_files_free(char **files, size_t nfiles)
{
	for (size_t i = 0; i < nfiles; i++)
		free(files[i]);
	free(files);
}

int audit_verify_main(const char *statedir, const char *const files[], size_t nfiles)
{
	char **found = NULL;
	size_t nf = 0;
	int r;

	if (nfiles == 0) {
		if (audit_files(statedir, &found, &nf) != 0) {
			fprintf(stderr, "no audit trail in %s (%s)\n", statedir, AUDIT_FILE_NAME);
			return 2;
		}
		files = (const char *const *)found;
		nfiles = nf;
	}
	r = audit_verify(files, nfiles, stdout);
	audit_files_free(found, nf);
	return r == 0 ? 0 : r == PED_E_AUDIT_BROKEN ? 1 : 2;
}
