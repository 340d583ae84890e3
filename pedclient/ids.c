/* ids.c - PED ID mappings: validation, the ids.conf format, the four
 * editing operations and the store's lock (see ids.h). */
#include "ids.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/atomic.h"
#include "common/err.h"
#include "common/sys.h"

#define FIELDS 4

static int fail(int code, char *err, size_t len, const char *fmt, ...)
	PED_PRINTF(4, 5);

static int fail(int code, char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && len > 0) {
		va_start(ap, fmt);
		vsnprintf(err, len, fmt, ap);
		va_end(ap);
	}
	return code;
}

void ids_init(struct ids *s)
{
	memset(s, 0, sizeof(*s));
}

int ids_check_id(long id, char *err, size_t len)
{
	if (id < IDS_ID_MIN || id > IDS_ID_MAX)
		return fail(PED_E_RANGE, err, len, "id %ld is out of range (%d-%d)", id,
			    IDS_ID_MIN, IDS_ID_MAX);
	return 0;
}

int ids_check_port(long port, char *err, size_t len)
{
	if (port < 1 || port > 65535)
		return fail(PED_E_RANGE, err, len, "port %ld is out of range (1-65535)", port);
	return 0;
}

/* A host name (RFC 1123 letters, digits, '-', '.'), an IPv4 address or an
 * IPv6 literal (hex digits, ':', '.'): what getaddrinfo will be given. */
int ids_check_host(const char *host, char *err, size_t len)
{
	size_t n = strnlen(host, IDS_HOST_MAX + 1), i;

	if (n == 0)
		return fail(PED_E_PARSE, err, len, "host is empty");
	if (n > IDS_HOST_MAX)
		return fail(PED_E_TOO_LONG, err, len, "host is longer than %d characters",
			    IDS_HOST_MAX);
	for (i = 0; i < n; i++) {
		char c = host[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.' || c == ':'))
			return fail(PED_E_PARSE, err, len,
				    "host '%.64s' has a character not allowed in a host name "
				    "or address", host);
	}
	if (host[0] == '-' || host[0] == '.')
		return fail(PED_E_PARSE, err, len, "host '%.64s' is not a host name or address",
			    host);
	return 0;
}

/* HSM serial numbers: 1 to IDS_SERIAL_MAX letters, digits, '-' or '_'. */
int ids_check_serial(const char *serial, char *err, size_t len)
{
	size_t n = strnlen(serial, IDS_SERIAL_MAX + 1), i;

	if (n == 0)
		return fail(PED_E_PARSE, err, len, "serial number is empty");
	if (n > IDS_SERIAL_MAX)
		return fail(PED_E_TOO_LONG, err, len, "serial number is longer than %d characters",
			    IDS_SERIAL_MAX);
	for (i = 0; i < n; i++) {
		char c = serial[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return fail(PED_E_PARSE, err, len,
				    "serial number '%.40s' may only hold letters, digits, - and _",
				    serial);
	}
	if (serial[0] == '-')
		return fail(PED_E_PARSE, err, len, "serial number '%.40s' starts with '-'", serial);
	return 0;
}

/* A decimal number without sign, at most 10 digits; -1 if not one. */
static long number(const char *s)
{
	long v = 0;
	size_t i;

	if (s[0] == '\0' || strlen(s) > 10)
		return -1;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static size_t find(const struct ids *s, long id)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->e[i].id == id)
			return i;
	return s->n;
}

static size_t find_serial(const struct ids *s, const char *serial)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->e[i].serial[0] != '\0' && strcmp(s->e[i].serial, serial) == 0)
			return i;
	return s->n;
}

const struct ids_entry *ids_get(const struct ids *s, long id)
{
	size_t i = find(s, id);

	return i < s->n ? &s->e[i] : NULL;
}

/* Inserts e keeping the array sorted by id (the caller checked room and
 * uniqueness). */
static void insert(struct ids *s, const struct ids_entry *e)
{
	size_t i = 0;

	while (i < s->n && s->e[i].id < e->id)
		i++;
	memmove(&s->e[i + 1], &s->e[i], (s->n - i) * sizeof(s->e[0]));
	s->e[i] = *e;
	s->n++;
}

/* One line of the file, NUL-terminated, without its newline. */
static int parse_line(struct ids *s, char *line, const char *name, unsigned lineno,
		      unsigned *first_line, char *err, size_t errlen)
{
	char *f[FIELDS + 1], *p = line, why[IDS_ERR_MAX];
	struct ids_entry e;
	size_t n = 0, i;
	long v;

	while (n <= FIELDS) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		f[n++] = p;
		while (*p != '\0' && *p != ' ' && *p != '\t')
			p++;
		if (*p != '\0')
			*p++ = '\0';
	}
	if (n == 0 || f[0][0] == '#')
		return 0;
	if (n != FIELDS)
		return fail(PED_E_PARSE, err, errlen,
			    "%s:%u: expected 4 fields (id host port serial), found %s", name,
			    lineno, n > FIELDS ? "more" : n == 1 ? "1" : n == 2 ? "2" : "3");
	memset(&e, 0, sizeof(e));
	if ((v = number(f[0])) < 0)
		return fail(PED_E_PARSE, err, errlen, "%s:%u: id '%.20s' is not a number", name,
			    lineno, f[0]);
	if (ids_check_id(v, why, sizeof(why)) != 0)
		goto bad;
	e.id = v;
	if (ids_check_host(f[1], why, sizeof(why)) != 0)
		goto bad;
	memcpy(e.host, f[1], strlen(f[1]) + 1);
	if ((v = number(f[2])) < 0)
		return fail(PED_E_PARSE, err, errlen, "%s:%u: port '%.20s' is not a number", name,
			    lineno, f[2]);
	if (ids_check_port(v, why, sizeof(why)) != 0)
		goto bad;
	e.port = v;
	if (strcmp(f[3], "-") != 0) {
		if (ids_check_serial(f[3], why, sizeof(why)) != 0)
			goto bad;
		memcpy(e.serial, f[3], strlen(f[3]) + 1);
	}
	if ((i = find(s, e.id)) < s->n)
		return fail(PED_E_PARSE, err, errlen, "%s:%u: id %ld given twice (first on line %u)",
			    name, lineno, e.id, first_line[i]);
	if (e.serial[0] != '\0' && (i = find_serial(s, e.serial)) < s->n)
		return fail(PED_E_PARSE, err, errlen,
			    "%s:%u: serial %s is assigned twice (ids %ld and %ld)", name, lineno,
			    e.serial, s->e[i].id, e.id);
	if (s->n == IDS_MAX)
		return fail(PED_E_TOO_LONG, err, errlen, "%s:%u: more than %d mappings", name,
			    lineno, IDS_MAX);
	/* keep first_line parallel to the sorted array */
	for (i = 0; i < s->n && s->e[i].id < e.id; i++)
		;
	memmove(&first_line[i + 1], &first_line[i], (s->n - i) * sizeof(first_line[0]));
	first_line[i] = lineno;
	insert(s, &e);
	return 0;
bad:
	return fail(PED_E_PARSE, err, errlen, "%s:%u: %s", name, lineno, why);
}

int ids_parse(struct ids *s, const char *name, const char *data, size_t len, char *err,
	      size_t errlen)
{
	char line[IDS_LINE_MAX + 1];
	unsigned first_line[IDS_MAX + 1], lineno = 0;
	size_t pos = 0, n;
	int r = 0;

	ids_init(s);
	if (len > IDS_FILE_MAX) {
		r = fail(PED_E_TOO_LONG, err, errlen, "%s: larger than %d bytes", name,
			 IDS_FILE_MAX);
		goto out;
	}
	while (pos < len) {
		lineno++;
		for (n = 0; pos + n < len && data[pos + n] != '\n'; n++) {
			unsigned char c = (unsigned char)data[pos + n];
			if (n == IDS_LINE_MAX) {
				r = fail(PED_E_TOO_LONG, err, errlen,
					 "%s:%u: line longer than %d characters", name, lineno,
					 IDS_LINE_MAX);
				goto out;
			}
			if ((c < 0x20 && c != '\t') || c == 0x7f) {
				r = fail(PED_E_PARSE, err, errlen,
					 "%s:%u: control character 0x%02x", name, lineno, c);
				goto out;
			}
			if (c >= 0x80) {
				r = fail(PED_E_PARSE, err, errlen, "%s:%u: non-ASCII byte 0x%02x",
					 name, lineno, c);
				goto out;
			}
			line[n] = (char)c;
		}
		line[n] = '\0';
		pos += n + 1; /* past the '\n' (or past the end) */
		if ((r = parse_line(s, line, name, lineno, first_line, err, errlen)) != 0)
			goto out;
	}
out:
	if (r != 0)
		ids_init(s);
	return r;
}

int ids_load(struct ids *s, const char *path, char *err, size_t errlen)
{
	void *data = NULL;
	size_t len = 0;
	int r;

	ids_init(s);
	r = atomic_read_file(path, IDS_FILE_MAX, &data, &len);
	if (r == PED_E_TOO_LONG)
		return fail(r, err, errlen, "%s: larger than %d bytes", path, IDS_FILE_MAX);
	if (r == PED_E_NOT_FOUND)
		return 0;
	if (r != 0)
		return fail(PED_E_IO, err, errlen, "%s: cannot read: %s", path, strerror(errno));
	r = ids_parse(s, path, data, len, err, errlen);
	free(data);
	return r;
}

int ids_format(const struct ids *s, char **out, size_t *len)
{
	static const char head[] =
		"# pedclient PED ID mappings, rewritten by pedclient -mode setid, assignid,\n"
		"# releaseid and deleteid. One per line: id host port serial ('-': the id\n"
		"# is not assigned to an HSM).\n";
	size_t i, o = sizeof(head) - 1, cap = sizeof(head);
	char *b;

	*out = NULL;
	*len = 0;
	for (i = 0; i < s->n; i++) /* two numbers, four separators, the strings */
		cap += 2 * 21 + 4 + strlen(s->e[i].host) + strlen(s->e[i].serial) + 1;
	if ((b = malloc(cap)) == NULL)
		return PED_E_NOMEM;
	memcpy(b, head, o);
	for (i = 0; i < s->n; i++)
		o += (size_t)snprintf(b + o, cap - o, "%ld %s %ld %s\n", s->e[i].id, s->e[i].host,
				      s->e[i].port, s->e[i].serial[0] ? s->e[i].serial : "-");
	*out = b;
	*len = o;
	return 0;
}

int ids_save(const struct ids *s, const char *path, char *err, size_t errlen)
{
	char *text;
	size_t len;
	int r;

	if ((r = ids_format(s, &text, &len)) != 0)
		return fail(r, err, errlen, "%s: %s", path, ped_strerror(r));
	r = atomic_write_file(path, text, len, 0600);
	free(text);
	if (r != 0)
		return fail(r, err, errlen, "%s: cannot write: %s", path, strerror(errno));
	return 0;
}

int ids_setid(struct ids *s, long id, const char *host, long port, char *msg, size_t len)
{
	struct ids_entry e;
	size_t i;
	int r;

	if ((r = ids_check_id(id, msg, len)) != 0 || (r = ids_check_host(host, msg, len)) != 0 ||
	    (r = ids_check_port(port, msg, len)) != 0)
		return r;
	if ((i = find(s, id)) < s->n) {
		memcpy(s->e[i].host, host, strlen(host) + 1);
		s->e[i].port = port;
		return fail(0, msg, len, "id %ld now maps to %s:%ld", id, host, port);
	}
	if (s->n == IDS_MAX)
		return fail(PED_E_TOO_LONG, msg, len, "cannot add id %ld: already %d mappings", id,
			    IDS_MAX);
	memset(&e, 0, sizeof(e));
	e.id = id;
	memcpy(e.host, host, strlen(host) + 1);
	e.port = port;
	insert(s, &e);
	return fail(0, msg, len, "id %ld maps to %s:%ld", id, host, port);
}

int ids_assignid(struct ids *s, long id, const char *serial, char *msg, size_t len)
{
	size_t i, j;
	int r;

	if ((r = ids_check_id(id, msg, len)) != 0 || (r = ids_check_serial(serial, msg, len)) != 0)
		return r;
	if ((i = find(s, id)) == s->n)
		return fail(PED_E_NOT_FOUND, msg, len, "id %ld is not mapped (use -mode setid first)",
			    id);
	if ((j = find_serial(s, serial)) < s->n) {
		if (j == i)
			return fail(0, msg, len, "id %ld is already assigned to HSM %s", id, serial);
		return fail(PED_E_EXISTS, msg, len,
			    "HSM %s is already assigned to id %ld (release it first)", serial,
			    s->e[j].id);
	}
	if (s->e[i].serial[0] != '\0')
		return fail(PED_E_EXISTS, msg, len,
			    "id %ld is already assigned to HSM %s (release it first)", id,
			    s->e[i].serial);
	memcpy(s->e[i].serial, serial, strlen(serial) + 1);
	return fail(0, msg, len, "id %ld assigned to HSM %s", id, serial);
}

int ids_releaseid(struct ids *s, long id, const char *serial, char *msg, size_t len)
{
	size_t i;
	int r;

	if (serial != NULL) {
		if ((r = ids_check_serial(serial, msg, len)) != 0)
			return r;
		if ((i = find_serial(s, serial)) == s->n)
			return fail(PED_E_NOT_FOUND, msg, len, "HSM %s is not assigned to any id",
				    serial);
	} else {
		if ((r = ids_check_id(id, msg, len)) != 0)
			return r;
		if ((i = find(s, id)) == s->n)
			return fail(PED_E_NOT_FOUND, msg, len, "id %ld is not mapped", id);
		if (s->e[i].serial[0] == '\0')
			return fail(PED_E_NOT_FOUND, msg, len, "id %ld is not assigned to an HSM",
				    id);
	}
	fail(0, msg, len, "id %ld released from HSM %s", s->e[i].id, s->e[i].serial);
	s->e[i].serial[0] = '\0';
	return 0;
}

int ids_deleteid(struct ids *s, long id, char *msg, size_t len)
{
	size_t i;
	int r;

	if ((r = ids_check_id(id, msg, len)) != 0)
		return r;
	if ((i = find(s, id)) == s->n)
		return fail(PED_E_NOT_FOUND, msg, len, "id %ld is not mapped", id);
	if (s->e[i].serial[0] != '\0')
		fail(0, msg, len, "id %ld deleted (it was assigned to HSM %s)", id, s->e[i].serial);
	else
		fail(0, msg, len, "id %ld deleted", id);
	memmove(&s->e[i], &s->e[i + 1], (s->n - i - 1) * sizeof(s->e[0]));
	s->n--;
	memset(&s->e[s->n], 0, sizeof(s->e[0]));
	return 0;
}

/* A number word of a request; -2 when it is not one. */
static long word_num(const char *w)
{
	long v = number(w);

	return v < 0 ? -2 : v;
}

int ids_apply(struct ids *s, int argc, char *const *argv, bool *changed, char *msg,
	      size_t len)
{
	struct ids copy;
	long id = -1;
	int r;

	*changed = false;
	if (argc < 2)
		return fail(PED_E_BAD_REQUEST, msg, len, "missing arguments");
	copy = *s;
	if (strcmp(argv[0], "setid") == 0 && argc == 4) {
		long port = word_num(argv[3]);
		if ((id = word_num(argv[1])) < 0 || port < 0)
			return fail(PED_E_BAD_REQUEST, msg, len, "setid: id and port must be numbers");
		r = ids_setid(&copy, id, argv[2], port, msg, len);
	} else if (strcmp(argv[0], "assignid") == 0 && argc == 3) {
		if ((id = word_num(argv[1])) < 0)
			return fail(PED_E_BAD_REQUEST, msg, len, "assignid: id must be a number");
		r = ids_assignid(&copy, id, argv[2], msg, len);
	} else if (strcmp(argv[0], "releaseid") == 0 && argc == 3 &&
		   strcmp(argv[1], "id") == 0) {
		if ((id = word_num(argv[2])) < 0)
			return fail(PED_E_BAD_REQUEST, msg, len, "releaseid: id must be a number");
		r = ids_releaseid(&copy, id, NULL, msg, len);
	} else if (strcmp(argv[0], "releaseid") == 0 && argc == 3 &&
		   strcmp(argv[1], "serial") == 0) {
		r = ids_releaseid(&copy, -1, argv[2], msg, len);
	} else if (strcmp(argv[0], "deleteid") == 0 && argc == 2) {
		if ((id = word_num(argv[1])) < 0)
			return fail(PED_E_BAD_REQUEST, msg, len, "deleteid: id must be a number");
		r = ids_deleteid(&copy, id, msg, len);
	} else {
		return fail(PED_E_BAD_REQUEST, msg, len, "%s: wrong arguments", argv[0]);
	}
	if (r == 0 && memcmp(&copy, s, sizeof(copy)) != 0) {
		*s = copy;
		*changed = true;
	}
	return r;
}

int ids_lock(const char *dir, bool nonblock, unsigned timeout_s)
{
	char path[4096];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, IDS_LOCK_FILE) >= sizeof(path))
		return PED_E_TOO_LONG;
	return sys_lock_exclusive(path, nonblock, timeout_s);
}
