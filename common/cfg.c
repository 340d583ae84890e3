/* cfg.c - the generic engine behind config tables (see cfg.h): parse with
 * libinih, validate against the table, show, and rewrite a file in place.
 *
 * inih is fed through our own line reader over a bounded in-memory copy of
 * the file. Lines are checked first (length, NUL bytes), so every reader
 * call hands inih exactly one whole line and the reader's count is the line
 * number inih would report. The rewriter in cfg_set classifies lines with
 * the same rules as inih (comments, continuation lines, [sections]) and
 * checks its result by parsing it again before anything is written. */
#include "cfg.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>
#include <openssl/crypto.h>

#include "atomic.h"
#include "buf.h"
#include "err.h"
#include "common/sys.h"

_Static_assert(CFG_LINE_MAX + 3 <= INI_MAX_LINE,
	       "inih's line buffer must hold CFG_LINE_MAX characters, \\r\\n and NUL");

#define WARN_MAX 20        /* warnings reported per file, then one summary */
#define MSG_VALUE_MAX 40   /* characters of a value quoted in a message */

/* ---- small helpers ------------------------------------------------------ */

/* isspace() in the C locale, as inih sees it. */
static int is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static int is_ctrl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

static void fmt(char *err, size_t errlen, const char *f, ...)
	PED_PRINTF(3, 4);
static void fmt(char *err, size_t errlen, const char *f, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, f);
	vsnprintf(err, errlen, f, ap);
	va_end(ap);
}

/* Copies at most MSG_VALUE_MAX characters of s for a message, control
 * characters replaced by '?', "..." appended if cut. */
static const char *quote(char out[MSG_VALUE_MAX + 4], const char *s)
{
	size_t i;

	for (i = 0; i < MSG_VALUE_MAX && s[i] != '\0'; i++)
		out[i] = is_ctrl((unsigned char)s[i]) ? '?' : s[i];
	if (s[i] != '\0') {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}

static void default_warn(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "warning: %s\n", msg);
}

static void silent_warn(void *ctx, const char *msg)
{
	(void)ctx;
	(void)msg;
}

static int *int_field(const struct cfg_key *k, void *vals)
{
	return (int *)((char *)vals + k->offset);
}

static bool *bool_field(const struct cfg_key *k, void *vals)
{
	return (bool *)((char *)vals + k->offset);
}

static char *str_field(const struct cfg_key *k, void *vals)
{
	return (char *)vals + k->offset;
}

static size_t str_max(const struct cfg_key *k)
{
	return k->max > 0 && k->max < CFG_STR_MAX ? (size_t)k->max : CFG_STR_MAX - 1;
}

/* The allowed values of a key, for messages: "(1-65535)". */
static const char *range_text(const struct cfg_key *k, char *buf, size_t len)
{
	switch (k->type) {
	case CFG_INT:
		snprintf(buf, len, "(%lld-%lld)", k->min, k->max);
		break;
	case CFG_BOOL:
		snprintf(buf, len, "(0/1, yes/no, true/false, on/off)");
		break;
	default:
		if (k->min > 0)
			snprintf(buf, len, "(%lld-%zu characters)", k->min, str_max(k));
		else
			snprintf(buf, len, "(at most %zu characters)", str_max(k));
		break;
	}
	return buf;
}

static int parse_bool(const char *s, bool *v)
{
	static const char *const yes[] = {"1", "yes", "true", "on"};
	static const char *const no[] = {"0", "no", "false", "off"};
	size_t i;

	for (i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*v = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*v = false;
			return 0;
		}
	}
	return -1;
}

/* Validates text for key k and stores it into vals. On error, msg holds
 * "Key = value is out of range (min-max)" (no file:line). */
static int store_value(const struct cfg_key *k, void *vals, const char *text,
		       char *msg, size_t msglen)
{
	char q[MSG_VALUE_MAX + 4], range[64];
	const char *p;
	char *end;
	long long n;
	size_t len;
	bool b;

	switch (k->type) {
	case CFG_INT:
		p = text[0] == '+' || text[0] == '-' ? text + 1 : text;
		if (*p < '0' || *p > '9')
			goto not_number;
		errno = 0;
		n = strtoll(text, &end, 10);
		if (*end != '\0')
			goto not_number;
		if (errno == ERANGE || n < k->min || n > k->max) {
			fmt(msg, msglen, "%s = %s is out of range %s", k->name, quote(q, text),
			    range_text(k, range, sizeof(range)));
			return PED_E_RANGE;
		}
		*int_field(k, vals) = (int)n;
		return 0;
	not_number:
		fmt(msg, msglen, "%s = %s is not a whole number %s", k->name, quote(q, text),
		    range_text(k, range, sizeof(range)));
		return PED_E_RANGE;
	case CFG_BOOL:
		if (parse_bool(text, &b) != 0) {
			fmt(msg, msglen, "%s = %s is not a boolean %s", k->name, quote(q, text),
			    range_text(k, range, sizeof(range)));
			return PED_E_RANGE;
		}
		*bool_field(k, vals) = b;
		return 0;
	case CFG_STRING:
	case CFG_PATH:
		len = strnlen(text, CFG_STR_MAX);
		if (len > str_max(k) || (k->min > 0 && len < (size_t)k->min)) {
			fmt(msg, msglen, "%s = %s is too %s %s", k->name, quote(q, text),
			    len > str_max(k) ? "long" : "short",
			    range_text(k, range, sizeof(range)));
			return len > str_max(k) ? PED_E_TOO_LONG : PED_E_RANGE;
		}
		for (p = text; *p != '\0'; p++) {
			if (is_ctrl((unsigned char)*p)) {
				fmt(msg, msglen, "%s = %s contains a control character", k->name,
				    quote(q, text));
				return PED_E_RANGE;
			}
		}
		memcpy(str_field(k, vals), text, len + 1);
		return 0;
	}
	fmt(msg, msglen, "%s: unknown type", k->name);
	return PED_E_INTERNAL;
}

/* ---- table -------------------------------------------------------------- */

int cfg_find(const struct cfg_table *t, const char *name)
{
	size_t i;

	if (t == NULL || name == NULL)
		return -1;
	for (i = 0; i < t->nkeys; i++)
		if (strcasecmp(t->keys[i].name, name) == 0)
			return (int)i;
	return -1;
}

void cfg_defaults(const struct cfg_table *t, void *vals)
{
	size_t i;

	memset(vals, 0, t->size);
	for (i = 0; i < t->nkeys; i++) {
		const struct cfg_key *k = &t->keys[i];
		switch (k->type) {
		case CFG_INT:
			*int_field(k, vals) = (int)k->def_num;
			break;
		case CFG_BOOL:
			*bool_field(k, vals) = k->def_num != 0;
			break;
		case CFG_STRING:
		case CFG_PATH:
			snprintf(str_field(k, vals), CFG_STR_MAX, "%s", k->def_str);
			break;
		}
	}
}

int cfg_check_table(const struct cfg_table *t, char *err, size_t errlen)
{
	size_t i, j;

	for (i = 0; i < t->nkeys; i++) {
		const struct cfg_key *k = &t->keys[i];
		if (k->name[0] == '\0' || k->section[0] == '\0') {
			fmt(err, errlen, "key %zu: empty name or section", i);
			return PED_E_INVAL;
		}
		for (j = 0; j < i; j++) {
			if (strcasecmp(t->keys[j].name, k->name) == 0) {
				fmt(err, errlen, "%s: key given twice", k->name);
				return PED_E_INVAL;
			}
		}
		if (k->type == CFG_INT &&
		    (k->min > k->max || k->min < INT_MIN || k->max > INT_MAX ||
		     k->def_num < k->min || k->def_num > k->max)) {
			fmt(err, errlen, "%s: bad range or default", k->name);
			return PED_E_INVAL;
		}
		if (k->type == CFG_BOOL && k->def_num != 0 && k->def_num != 1) {
			fmt(err, errlen, "%s: bool default must be 0 or 1", k->name);
			return PED_E_INVAL;
		}
		if ((k->type == CFG_STRING || k->type == CFG_PATH) &&
		    (k->def_str == NULL || strlen(k->def_str) > str_max(k) ||
		     (k->min > 0 && strlen(k->def_str) < (size_t)k->min))) {
			fmt(err, errlen, "%s: default does not fit the length limits", k->name);
			return PED_E_INVAL;
		}
	}
	return 0;
}

/* ---- parsing ------------------------------------------------------------ */

struct parse_ctx {
	const struct cfg_table *t;
	void *vals;
	const char *name;          /* file name for messages */
	const char *data;          /* reader position */
	size_t left;
	int lineno;                /* lines handed to inih so far */
	int *key_line;             /* per key: line where it was set, 0 if not */
	int err_line;              /* line of the first handler error, 0 if none */
	int err_code;
	char *err;
	size_t errlen;
	cfg_warn_fn warn;
	void *warn_ctx;
	unsigned nwarn;
};

static void warnf(struct parse_ctx *c, const char *f, ...) PED_PRINTF(2, 3);
static void warnf(struct parse_ctx *c, const char *f, ...)
{
	char msg[CFG_ERR_MAX];
	va_list ap;
	int n;

	if (++c->nwarn > WARN_MAX + 1)
		return;
	if (c->nwarn == WARN_MAX + 1) {
		snprintf(msg, sizeof(msg), "%s: more warnings not shown", c->name);
	} else {
		n = snprintf(msg, sizeof(msg), "%s:%d: ", c->name, c->lineno);
		va_start(ap, f);
		if (n > 0 && (size_t)n < sizeof(msg))
			vsnprintf(msg + n, sizeof(msg) - (size_t)n, f, ap);
		va_end(ap);
	}
	c->warn(c->warn_ctx, msg);
}

/* fgets() over the bytes in memory: one line (up to and including '\n') per
 * call. Lines were checked to fit in num - 1 bytes. */
static char *mem_reader(char *str, int num, void *stream)
{
	struct parse_ctx *c = stream;
	size_t n = 0;

	if (c->left == 0 || num < 2)
		return NULL;
	while (n < (size_t)num - 1 && n < c->left) {
		str[n] = c->data[n];
		if (str[n++] == '\n')
			break;
	}
	str[n] = '\0';
	c->data += n;
	c->left -= n;
	c->lineno++;
	return str;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse_ctx *c = user;
	char q1[MSG_VALUE_MAX + 4], q2[MSG_VALUE_MAX + 4], msg[CFG_ERR_MAX];
	const struct cfg_key *k;
	int i = cfg_find(c->t, name), r;

	if (i < 0) {
		warnf(c, "unknown key %s in [%s] (ignored)", quote(q1, name), quote(q2, section));
		return 1;
	}
	k = &c->t->keys[i];
	if (strcasecmp(section, k->section) != 0) {
		if (section[0] == '\0')
			warnf(c, "%s outside any section (ignored; it belongs in [%s])",
			      k->name, k->section);
		else
			warnf(c, "%s in [%s] (ignored; it belongs in [%s])", k->name,
			      quote(q1, section), k->section);
		return 1;
	}
	if (c->err_line != 0)
		return 0; /* only the first error is reported */
	if (c->key_line[i] != 0) {
		fmt(c->err, c->errlen, "%s:%d: %s is given again (first on line %d)", c->name,
		    c->lineno, k->name, c->key_line[i]);
		c->err_code = PED_E_PARSE;
		c->err_line = c->lineno;
		return 0;
	}
	c->key_line[i] = c->lineno;
	r = store_value(k, c->vals, value, msg, sizeof(msg));
	if (r != 0) {
		fmt(c->err, c->errlen, "%s:%d: %s", c->name, c->lineno, msg);
		c->err_code = r;
		c->err_line = c->lineno;
		return 0;
	}
	return 1;
}

/* Line checks before inih sees the bytes: NUL bytes, line length. */
static int prescan(const char *name, const char *data, size_t len, char *err, size_t errlen)
{
	size_t i, start = 0, content;
	int line = 1;

	for (i = 0; i <= len; i++) {
		if (i < len && data[i] == '\0') {
			fmt(err, errlen, "%s:%d: NUL byte (not a text file?)", name, line);
			return PED_E_PARSE;
		}
		if (i < len && data[i] != '\n')
			continue;
		content = i - start;
		if (content > 0 && data[i - 1] == '\r')
			content--;
		if (content > CFG_LINE_MAX) {
			fmt(err, errlen, "%s:%d: line is too long (max %d characters)", name, line,
			    CFG_LINE_MAX);
			return PED_E_TOO_LONG;
		}
		start = i + 1;
		line++;
	}
	return 0;
}

/* Parses into vals (defaults first) and records where each key was set. */
static int parse(const struct cfg_table *t, void *vals, const char *name, const char *data,
		 size_t len, int *key_line, cfg_warn_fn warn, void *ctx, char *err,
		 size_t errlen)
{
	struct parse_ctx c;
	int r, rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	cfg_defaults(t, vals);
	memset(key_line, 0, t->nkeys * sizeof(*key_line));
	if (len > CFG_FILE_MAX) {
		fmt(err, errlen, "%s: too large (max %d bytes)", name, CFG_FILE_MAX);
		return PED_E_TOO_LONG;
	}
	if ((r = prescan(name, data, len, err, errlen)) != 0)
		return r;
	memset(&c, 0, sizeof(c));
	c.t = t;
	c.vals = vals;
	c.name = name;
	c.data = data;
	c.left = len;
	c.key_line = key_line;
	c.err = err;
	c.errlen = errlen;
	c.warn = warn != NULL ? warn : default_warn;
	c.warn_ctx = ctx;
	rc = ini_parse_stream(mem_reader, &c, handler, &c);
	if (rc > 0 && (c.err_line == 0 || rc < c.err_line)) {
		fmt(err, errlen, "%s:%d: syntax error (expected [Section], Key = Value or a comment)",
		    name, rc);
		r = PED_E_PARSE;
	} else if (rc < 0) {
		fmt(err, errlen, "%s: parser failure", name);
		r = PED_E_NOMEM;
	} else {
		r = c.err_code;
	}
	if (r != 0)
		cfg_defaults(t, vals);
	return r;
}

int cfg_parse_mem(const struct cfg_table *t, void *vals, const char *name,
		  const char *data, size_t len, cfg_warn_fn warn, void *ctx,
		  char *err, size_t errlen)
{
	int *key_line;
	int r;

	if (t == NULL || vals == NULL || name == NULL || (data == NULL && len > 0))
		return PED_E_INVAL;
	if ((key_line = calloc(t->nkeys + 1, sizeof(*key_line))) == NULL) {
		fmt(err, errlen, "%s: out of memory", name);
		return PED_E_NOMEM;
	}
	r = parse(t, vals, name, data != NULL ? data : "", len, key_line, warn, ctx, err,
		  errlen);
	free(key_line);
	return r;
}

/* Reads a config file. *data is NULL and *missing true if it does not
 * exist. Errors name the file. */
static int read_file(const char *path, char **data, size_t *len, bool *missing, char *err,
		     size_t errlen)
{
	struct stat st;
	void *p = NULL;
	int r;

	*data = NULL;
	*len = 0;
	*missing = false;
	if (stat(path, &st) != 0) {
		if (errno == ENOENT) {
			*missing = true;
			return 0;
		}
		fmt(err, errlen, "%s: %s", path, strerror(errno));
		return PED_E_IO;
	}
	if (S_ISDIR(st.st_mode)) {
		fmt(err, errlen, "%s: is a directory, not a config file", path);
		return PED_E_IO;
	}
	if (!S_ISREG(st.st_mode)) {
		fmt(err, errlen, "%s: not a regular file", path);
		return PED_E_IO;
	}
	errno = 0;
	r = atomic_read_file(path, CFG_FILE_MAX, &p, len);
	if (r == PED_E_NOT_FOUND) {
		*missing = true;
		return 0;
	}
	if (r == PED_E_TOO_LONG)
		fmt(err, errlen, "%s: too large (max %d bytes)", path, CFG_FILE_MAX);
	else if (r != 0)
		fmt(err, errlen, "%s: cannot read: %s", path,
		    errno != 0 ? strerror(errno) : ped_strerror(r));
	if (r != 0)
		return r;
	*data = p;
	return 0;
}

static void free_data(char *data, size_t len)
{
	if (data != NULL) {
		OPENSSL_cleanse(data, len);
		free(data);
	}
}

int cfg_load(const struct cfg_table *t, void *vals, const char *path,
	     cfg_warn_fn warn, void *ctx, char *err, size_t errlen)
{
	char *data = NULL;
	size_t len = 0;
	bool missing;
	int r;

	if (t == NULL || vals == NULL || path == NULL)
		return PED_E_INVAL;
	cfg_defaults(t, vals);
	if ((r = read_file(path, &data, &len, &missing, err, errlen)) != 0 || missing)
		goto out;
	r = cfg_parse_mem(t, vals, path, data, len, warn, ctx, err, errlen);
out:
	free_data(data, len);
	return r;
}

int cfg_set_value(const struct cfg_table *t, void *vals, const char *key,
		  const char *text, char *err, size_t errlen)
{
	char q[MSG_VALUE_MAX + 4];
	int i;

	if (t == NULL || vals == NULL || key == NULL || text == NULL)
		return PED_E_INVAL;
	if ((i = cfg_find(t, key)) < 0) {
		fmt(err, errlen, "unknown key %s", quote(q, key));
		return PED_E_PARSE;
	}
	return store_value(&t->keys[i], vals, text, err, errlen);
}

/* ---- showing ------------------------------------------------------------ */

const char *cfg_value_text(const struct cfg_table *t, const void *vals, size_t i,
			   char *buf, size_t len)
{
	const struct cfg_key *k = &t->keys[i];
	const char *p = (const char *)vals + k->offset;

	if (len == 0)
		return buf;
	switch (k->type) {
	case CFG_INT:
		snprintf(buf, len, "%d", *(const int *)(const void *)p);
		break;
	case CFG_BOOL:
		snprintf(buf, len, "%d", *(const bool *)(const void *)p ? 1 : 0);
		break;
	default:
		snprintf(buf, len, "%.*s", CFG_STR_MAX - 1, p);
		break;
	}
	return buf;
}

bool cfg_is_default(const struct cfg_table *t, const void *vals, size_t i)
{
	const struct cfg_key *k = &t->keys[i];
	const char *p = (const char *)vals + k->offset;

	switch (k->type) {
	case CFG_INT:
		return *(const int *)(const void *)p == k->def_num;
	case CFG_BOOL:
		return *(const bool *)(const void *)p == (k->def_num != 0);
	default:
		return strncmp(p, k->def_str, CFG_STR_MAX) == 0;
	}
}

int cfg_foreach(const struct cfg_table *t, const void *vals, cfg_visit_fn fn, void *ctx)
{
	char v[CFG_STR_MAX];
	size_t i;
	int r;

	for (i = 0; i < t->nkeys; i++) {
		cfg_value_text(t, vals, i, v, sizeof(v));
		if ((r = fn(ctx, &t->keys[i], v, cfg_is_default(t, vals, i))) != 0)
			return r;
	}
	return 0;
}

/* Index of the first key of the section of key i, so that sections are
 * printed once each, in the order of their first key. */
static size_t section_first(const struct cfg_table *t, size_t i)
{
	size_t j;

	for (j = 0; j < i; j++)
		if (strcasecmp(t->keys[j].section, t->keys[i].section) == 0)
			return j;
	return i;
}

int cfg_show(const struct cfg_table *t, const void *vals, FILE *out)
{
	char v[CFG_STR_MAX];
	size_t s, i, w = 0;

	for (i = 0; i < t->nkeys; i++)
		if (strlen(t->keys[i].name) > w)
			w = strlen(t->keys[i].name);
	for (s = 0; s < t->nkeys; s++) {
		if (section_first(t, s) != s)
			continue;
		fprintf(out, "%s[%s]\n", s > 0 ? "\n" : "", t->keys[s].section);
		for (i = s; i < t->nkeys; i++) {
			if (strcasecmp(t->keys[i].section, t->keys[s].section) != 0)
				continue;
			cfg_value_text(t, vals, i, v, sizeof(v));
			fprintf(out, "%-*s = %s%s\n", (int)w, t->keys[i].name, v,
				cfg_is_default(t, vals, i) ? " ; default" : "");
		}
	}
	return fflush(out) == 0 && !ferror(out) ? 0 : PED_E_IO;
}

int cfg_write_template(const struct cfg_table *t, FILE *out)
{
	static const char *const tname[] = {"integer", "boolean", "string", "path"};
	char range[64], def[CFG_STR_MAX];
	size_t s, i;

	for (s = 0; s < t->nkeys; s++) {
		if (section_first(t, s) != s)
			continue;
		fprintf(out, "%s[%s]\n", s > 0 ? "\n" : "", t->keys[s].section);
		for (i = s; i < t->nkeys; i++) {
			const struct cfg_key *k = &t->keys[i];
			if (strcasecmp(k->section, t->keys[s].section) != 0)
				continue;
			if (k->type == CFG_INT || k->type == CFG_BOOL)
				snprintf(def, sizeof(def), "%lld", k->def_num);
			else
				snprintf(def, sizeof(def), "%s", k->def_str);
			fprintf(out, "; %s\n; %s %s, default %s\n;%s = %s\n", k->help,
				tname[k->type], range_text(k, range, sizeof(range)),
				def[0] != '\0' ? def : "empty", k->name, def);
		}
	}
	return fflush(out) == 0 && !ferror(out) ? 0 : PED_E_IO;
}

/* ---- cfg_set: rewriting a file in place --------------------------------- */

enum line_kind { LINE_OTHER, LINE_SECTION, LINE_KEY, LINE_CONT };

struct line {
	size_t off, end;           /* bytes [off, end) without the line break */
	size_t next;               /* offset of the next line */
	enum line_kind kind;
	size_t name_off, name_len; /* LINE_SECTION: the name between [ and ] */
	int block;                 /* index of the section header line, -1 before any */
};

/* inih's ini_find_chars_or_comment over [p, end): the first of chars, or a
 * ';' that follows whitespace. */
static size_t find_chars_or_comment(const char *s, size_t p, size_t end, const char *chars)
{
	int was_space = 0;

	for (; p < end; p++) {
		if ((chars != NULL && strchr(chars, s[p]) != NULL) || (was_space && s[p] == ';'))
			break;
		was_space = is_space((unsigned char)s[p]);
	}
	return p;
}

/* Splits text into lines and classifies them as inih does. */
static struct line *split_lines(const char *s, size_t len, size_t *nlines)
{
	struct line *lines, *l;
	size_t n = 1, i, p, e;
	int prev_name = 0, block = -1;

	for (i = 0; i < len; i++)
		n += s[i] == '\n';
	if ((lines = calloc(n, sizeof(*lines))) == NULL)
		return NULL;
	for (p = 0, n = 0; p < len; n++) {
		l = &lines[n];
		l->off = p;
		for (e = p; e < len && s[e] != '\n'; e++)
			;
		l->next = e < len ? e + 1 : e;
		l->end = e > p && s[e - 1] == '\r' ? e - 1 : e;
		if (n == 0 && l->end - p >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
			p += 3;
		while (p < l->end && is_space((unsigned char)s[p]))
			p++;
		e = l->end;
		while (e > p && is_space((unsigned char)s[e - 1]))
			e--;
		if (p == e || s[p] == ';' || s[p] == '#') {
			l->kind = LINE_OTHER;
		} else if (prev_name && p > l->off) {
			l->kind = LINE_CONT;
		} else if (s[p] == '[') {
			l->kind = LINE_SECTION;
			l->name_off = p + 1;
			l->name_len = find_chars_or_comment(s, p + 1, e, "]") - (p + 1);
			prev_name = 0;
			block = (int)n;
		} else {
			/* inih remembers the name for continuations; an empty
			 * name ("= x") does not count */
			l->kind = LINE_KEY;
			prev_name = find_chars_or_comment(s, p, e, "=:") > p;
		}
		l->block = block;
		p = l->next;
	}
	*nlines = n;
	return lines;
}

/* Writes line l of s with its value replaced by v (a LINE_KEY line). */
static int put_replaced(pbuf_t *b, const char *s, const struct line *l, const char *v)
{
	size_t sep = find_chars_or_comment(s, l->off, l->end, "=:");
	size_t stop = find_chars_or_comment(s, sep + 1, l->end, NULL);
	size_t v0 = sep + 1, v1 = stop;
	int r;

	while (v0 < stop && is_space((unsigned char)s[v0]))
		v0++;
	while (v1 > v0 && is_space((unsigned char)s[v1 - 1]))
		v1--;
	if ((r = pbuf_put_bytes(b, s + l->off, v0 - l->off)) != 0 ||
	    (r = pbuf_put_bytes(b, v, strlen(v))) != 0)
		return r;
	if (v1 < l->end && s[v1] == ';' && (r = pbuf_put_u8(b, ' ')) != 0)
		return r;
	return pbuf_put_bytes(b, s + v1, l->next - v1);
}

static bool same_name(const char *s, size_t off, size_t len, const char *name)
{
	return strlen(name) == len && strncasecmp(s + off, name, len) == 0;
}

/* New values for cfg_set, per key. */
struct want {
	bool set;
	char v[CFG_STR_MAX];
};

/* Appends "Key = value" for every wanted key of section sec not yet in the
 * file, marking them written. */
static int put_missing(pbuf_t *b, const struct cfg_table *t, const char *sec,
		       const struct want *want, bool *done, const char *eol)
{
	size_t i;
	int r;

	for (i = 0; i < t->nkeys; i++) {
		if (!want[i].set || done[i] || strcasecmp(t->keys[i].section, sec) != 0)
			continue;
		if ((r = pbuf_put_bytes(b, t->keys[i].name, strlen(t->keys[i].name))) != 0 ||
		    (r = pbuf_put_bytes(b, " = ", 3)) != 0 ||
		    (r = pbuf_put_bytes(b, want[i].v, strlen(want[i].v))) != 0 ||
		    (r = pbuf_put_bytes(b, eol, strlen(eol))) != 0)
			return r;
		done[i] = true;
	}
	return 0;
}

/* A value must read back as written: inih trims blanks and cuts at " ;". */
static int check_writable(const char *key, const char *v, char *err, size_t errlen)
{
	char q[MSG_VALUE_MAX + 4];
	size_t i, n = strlen(v);

	if (n > 0 && (is_space((unsigned char)v[0]) || is_space((unsigned char)v[n - 1]))) {
		fmt(err, errlen, "%s = %s: leading or trailing blanks cannot be stored", key,
		    quote(q, v));
		return PED_E_RANGE;
	}
	for (i = 0; i < n; i++) {
		if (v[i] == ';' && (i == 0 || is_space((unsigned char)v[i - 1]))) {
			fmt(err, errlen, "%s = %s: a ';' at the start or after a blank starts a comment",
			    key, quote(q, v));
			return PED_E_RANGE;
		}
	}
	return 0;
}

/* Line index after which the missing keys of section sec go: the last
 * significant line of the last [sec] block; -1 for a new block at the end. */
static long insert_point(const char *s, const struct line *lines, size_t n, const char *sec)
{
	long h = -1, last;
	size_t i;

	for (i = 0; i < n; i++)
		if (lines[i].kind == LINE_SECTION &&
		    same_name(s, lines[i].name_off, lines[i].name_len, sec))
			h = (long)i;
	if (h < 0)
		return -1;
	last = h;
	for (i = (size_t)h + 1; i < n && lines[i].block == h; i++)
		if (lines[i].kind != LINE_OTHER)
			last = (long)i;
	/* An indented [header] right after a header-only block would become a
	 * continuation of the keys we insert: append a new block instead. */
	for (; i < n && lines[i].kind == LINE_OTHER; i++)
		;
	if (i < n && is_space((unsigned char)s[lines[i].off]))
		return -1;
	return last;
}

/* Builds the new text: s with the wanted values replaced in place, missing
 * keys after the last line of their section, missing sections at the end. */
static int rewrite(const struct cfg_table *t, const char *s, size_t len, const int *key_line,
		   const struct want *want, pbuf_t *b)
{
	struct line *lines = NULL;
	long *ins = NULL;
	bool *done = NULL;
	const char *eol = "\n";
	size_t n = 0, i, k;
	int r = PED_E_NOMEM;

	if ((len > 0 && (lines = split_lines(s, len, &n)) == NULL) ||
	    (ins = calloc(t->nkeys, sizeof(*ins))) == NULL ||
	    (done = calloc(t->nkeys, sizeof(*done))) == NULL)
		goto out;
	if (n > 0 && lines[0].end + 1 < lines[0].next)
		eol = "\r\n"; /* keep the file's line breaks */
	for (k = 0; k < t->nkeys; k++) {
		done[k] = !want[k].set || key_line[k] != 0;
		ins[k] = done[k] ? -1 : insert_point(s, lines, n, t->keys[k].section);
	}
	for (i = 0; i < n; i++) {
		const struct line *l = &lines[i];

		for (k = 0; k < t->nkeys; k++)
			if (want[k].set && key_line[k] == (int)i + 1)
				break;
		if (k < t->nkeys && l->kind == LINE_KEY)
			r = put_replaced(b, s, l, want[k].v);
		else
			r = pbuf_put_bytes(b, s + l->off, l->next - l->off);
		if (r != 0)
			goto out;
		for (k = 0; k < t->nkeys; k++) {
			if (done[k] || ins[k] != (long)i)
				continue;
			if (s[l->next - 1] != '\n' && (r = pbuf_put_bytes(b, eol, strlen(eol))) != 0)
				goto out;
			if ((r = put_missing(b, t, t->keys[k].section, want, done, eol)) != 0)
				goto out;
		}
	}
	/* Sections not in the file, in table order. */
	for (k = 0; k < t->nkeys; k++) {
		if (done[k])
			continue;
		if (b->len > 0 && b->data[b->len - 1] != '\n' &&
		    (r = pbuf_put_bytes(b, eol, strlen(eol))) != 0)
			goto out;
		if ((b->len > 0 && (r = pbuf_put_bytes(b, eol, strlen(eol))) != 0) ||
		    (r = pbuf_put_u8(b, '[')) != 0 ||
		    (r = pbuf_put_bytes(b, t->keys[k].section, strlen(t->keys[k].section))) != 0 ||
		    (r = pbuf_put_u8(b, ']')) != 0 ||
		    (r = pbuf_put_bytes(b, eol, strlen(eol))) != 0 ||
		    (r = put_missing(b, t, t->keys[k].section, want, done, eol)) != 0)
			goto out;
	}
	r = 0;
out:
	free(lines);
	free(ins);
	free(done);
	return r;
}

/* Creates the missing parent directories of path (mode 0700). */
static int make_parents(const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	size_t i, n = strlen(path);

	if (n >= sizeof(dir)) {
		fmt(err, errlen, "path too long");
		return PED_E_TOO_LONG;
	}
	memcpy(dir, path, n + 1);
	for (i = 1; i < n; i++) {
		char sep = dir[i];
		if (!sys_is_sep(sep))
			continue;
		dir[i] = '\0';
		if (sys_mkdir(dir, 0700) != 0 && errno != EEXIST) {
			fmt(err, errlen, "%s: cannot create directory: %s", dir, strerror(errno));
			return PED_E_IO;
		}
		dir[i] = sep;
	}
	return 0;
}

int cfg_set_mem(const struct cfg_table *t, const char *name, const char *data, size_t len,
		const struct cfg_assign *a, size_t n, cfg_warn_fn warn, void *ctx,
		char **out, size_t *outlen, char *err, size_t errlen)
{
	struct want *want = NULL;
	char msg[CFG_ERR_MAX], q[MSG_VALUE_MAX + 4], v1[CFG_STR_MAX], v2[CFG_STR_MAX];
	void *vals = NULL, *check = NULL;
	int *key_line = NULL, *check_line = NULL;
	size_t i;
	pbuf_t b;
	int r = PED_E_INVAL, k;

	pbuf_init(&b, CFG_FILE_MAX);
	if (out != NULL)
		*out = NULL;
	if (outlen != NULL)
		*outlen = 0;
	if (t == NULL || name == NULL || (data == NULL && len > 0) || (a == NULL && n > 0) ||
	    out == NULL || outlen == NULL)
		goto out;
	if (data == NULL)
		data = "";
	r = PED_E_NOMEM;
	if ((want = calloc(t->nkeys + 1, sizeof(*want))) == NULL ||
	    (vals = malloc(t->size)) == NULL || (check = malloc(t->size)) == NULL ||
	    (key_line = calloc(t->nkeys + 1, sizeof(*key_line))) == NULL ||
	    (check_line = calloc(t->nkeys + 1, sizeof(*check_line))) == NULL) {
		fmt(err, errlen, "out of memory");
		goto out;
	}
	if ((r = parse(t, vals, name, data, len, key_line, warn, ctx, err, errlen)) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		r = PED_E_PARSE;
		if (a[i].key == NULL || a[i].value == NULL || (k = cfg_find(t, a[i].key)) < 0) {
			fmt(err, errlen, "unknown key %s", quote(q, a[i].key ? a[i].key : "(null)"));
			goto out;
		}
		if ((r = store_value(&t->keys[k], vals, a[i].value, err, errlen)) != 0 ||
		    (r = check_writable(t->keys[k].name, a[i].value, err, errlen)) != 0)
			goto out;
		cfg_value_text(t, vals, (size_t)k, want[k].v, sizeof(want[k].v));
		want[k].set = true;
	}
	if ((r = rewrite(t, data, len, key_line, want, &b)) != 0) {
		if (r == PED_E_TOO_LONG)
			fmt(err, errlen, "%s: not written: it would grow beyond %d bytes", name,
			    CFG_FILE_MAX);
		else
			fmt(err, errlen, "%s: %s", name, ped_strerror(r));
		goto out;
	}
	/* The new text must parse back to exactly the values wanted. */
	r = parse(t, check, name, (const char *)b.data, b.len, check_line, silent_warn, NULL,
		  msg, sizeof(msg));
	for (i = 0; r == 0 && i < t->nkeys; i++)
		if (strcmp(cfg_value_text(t, vals, i, v1, sizeof(v1)),
			   cfg_value_text(t, check, i, v2, sizeof(v2))) != 0)
			r = PED_E_INTERNAL;
	if (r != 0) {
		fmt(err, errlen, "%s: not written: the new text would not read back (%s)", name,
		    r == PED_E_INTERNAL ? "a value changed" : msg);
		goto out;
	}
	r = PED_E_NOMEM;
	if ((*out = malloc(b.len + 1)) == NULL)
		goto out;
	memcpy(*out, b.data, b.len);
	(*out)[b.len] = '\0';
	*outlen = b.len;
	r = 0;
out:
	pbuf_release(&b);
	free(want);
	free(vals);
	free(check);
	free(key_line);
	free(check_line);
	return r;
}

/* True when path's directory has the set-group-ID bit: the config directory
 * of a packaged service (/etc/pedserver, 2750 root:pedserver, tmpfiles.d),
 * where a new file takes the daemon's group and must be readable by it. */
static bool setgid_parent(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int n;

	if (slash == NULL)
		n = snprintf(dir, sizeof(dir), ".");
	else
		n = snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path) + (slash == path), path);
	return n > 0 && (size_t)n < sizeof(dir) && sys_setgid_dir(dir);
}

int cfg_set(const struct cfg_table *t, const char *path, const struct cfg_assign *a,
	    size_t n, cfg_warn_fn warn, void *ctx, char *err, size_t errlen)
{
	char real[PATH_MAX];
	const char *target = path;
	char *data = NULL, *text = NULL;
	size_t len = 0, tlen = 0;
	mode_t mode = 0600;
	struct stat st;
	bool missing;
	int r = PED_E_INVAL;

	if (t == NULL || path == NULL)
		goto out;
	switch (sys_resolve_link(path, real, sizeof(real))) {
	case 1:
		target = real;
		break;
	case -1:
		fmt(err, errlen, "%s: %s", path, strerror(errno));
		r = PED_E_IO;
		goto out;
	}
	if ((r = read_file(target, &data, &len, &missing, err, errlen)) != 0 ||
	    (r = cfg_set_mem(t, path, data, len, a, n, warn, ctx, &text, &tlen, err, errlen)) != 0)
		goto out;
	if (!missing && stat(target, &st) == 0)
		mode = st.st_mode & 07777;
	else if ((r = make_parents(target, err, errlen)) != 0)
		goto out;
	else if (setgid_parent(target))
		mode = 0640; /* a service's config dir: its group (the daemon) reads it */
	errno = 0;
	if ((r = atomic_write_file(target, text, tlen, mode)) != 0) {
		fmt(err, errlen, "%s: cannot write: %s", path,
		    errno != 0 ? strerror(errno) : ped_strerror(r));
		goto out;
	}
	r = 0;
out:
	free_data(data, len);
	free(text);
	return r;
}

/* ---- where the file is -------------------------------------------------- */

int cfg_path(char *out, size_t outlen, const char *prog, const char *configfile,
	     const char *statedir)
{
	int n, r;

	if (out == NULL || outlen == 0 || prog == NULL)
		return PED_E_INVAL;
	out[0] = '\0';
	if (configfile == NULL && statedir == NULL)
		r = sys_default_config(out, outlen, prog);
	else if ((n = configfile != NULL ? snprintf(out, outlen, "%s", configfile)
					  : snprintf(out, outlen, "%s/%s.conf", statedir, prog)) < 0 ||
		 (size_t)n >= outlen)
		r = PED_E_TOO_LONG;
	else
		r = 0;
	if (r != 0)
		out[0] = '\0';
	return r;
}
