/* log.c - leveled, bounded, escaped logging to stderr, the journal and a
 * rotated log file (see log.h). */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "err.h"
#include "sys.h"

static unsigned log_mask = LOG_MASK(LOG_LVL_ERROR) | LOG_MASK(LOG_LVL_WARNING) |
			   LOG_MASK(LOG_LVL_INFO);
static const char *log_ident = "ped";
static int stderr_ts;
static int journal = -1; /* -1: not checked yet */

static int file_fd = -1;
static char *file_path;
static size_t file_max;
static size_t file_size;
static int file_regular;

/* kept lines: start-up and the current session (see log.h) */
enum keep_group { KEEP_NONE = 0, KEEP_STARTUP, KEEP_SESSION_OPEN, KEEP_SESSION };
static int keep_startup_on;
static enum keep_group keep_next;
static char startup_lines[LOG_KEEP_STARTUP_MAX][LOG_LINE_MAX];
static size_t n_startup;
static char session_lines[LOG_KEEP_SESSION_MAX][LOG_LINE_MAX]; /* [0] the first, then a ring */
static size_t n_session, session_next;
static size_t head_size; /* bytes of the kept block at the top of the file */

/* rate-limited kinds and sources (see log.h) */
#define LIMIT_SLOTS 128
struct limit {
	int used;
	int is_kind;         /* the all-sources entry of the kind */
	char kind[48];
	char src[64];
	long start;          /* monotonic seconds */
	enum log_level lvl;
	unsigned logged;
	unsigned long held;
};
static struct limit limits[LIMIT_SLOTS];

static const char *const level_names[] = {"error", "warning", "info", "trace"};
/* syslog priorities: LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG */
static const int level_prio[] = {3, 4, 6, 7};

void log_set_level(enum log_level lvl)
{
	log_mask = (LOG_MASK(lvl) << 1) - 1;
	log_mask &= LOG_MASK_ALL;
}

enum log_level log_get_level(void)
{
	int l;

	for (l = LOG_LVL_TRACE; l > LOG_LVL_ERROR; l--)
		if (log_mask & LOG_MASK(l))
			break;
	return (enum log_level)l;
}

void log_set_mask(unsigned mask)
{
	log_mask = mask & LOG_MASK_ALL;
}

unsigned log_get_mask(void)
{
	return log_mask;
}

int log_enabled(enum log_level lvl)
{
	return (unsigned)lvl <= LOG_LVL_TRACE && (log_mask & LOG_MASK(lvl)) != 0;
}

void log_set_ident(const char *ident)
{
	log_ident = ident != NULL ? ident : "ped";
}

void log_set_stderr_timestamp(int on)
{
	stderr_ts = on != 0;
}

void log_stderr_changed(void)
{
	journal = -1;
}

/* systemd sets JOURNAL_STREAM=<dev>:<inode> of the stream it gave us; it
 * only counts if fd 2 still is that stream (see systemd.exec(5)). */
int log_to_journal(void)
{
	const char *js;
	unsigned long long dev, ino;
	struct stat st;
	char tail;

	if (journal >= 0)
		return journal;
	journal = 0;
	js = getenv("JOURNAL_STREAM");
	if (js != NULL && sscanf(js, "%llu:%llu%c", &dev, &ino, &tail) == 2 &&
	    fstat(STDERR_FILENO, &st) == 0 && (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino)
		journal = 1;
	return journal;
}

size_t log_escape(char *dst, size_t cap, const char *src, size_t n)
{
	static const char hexd[] = "0123456789abcdef";
	size_t i, o = 0;

	if (cap == 0)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)src[i];
		char e[4];
		size_t el = 2;

		e[0] = '\\';
		if (c == '\\')
			e[1] = '\\';
		else if (c == '\n')
			e[1] = 'n';
		else if (c == '\r')
			e[1] = 'r';
		else if (c == '\t')
			e[1] = 't';
		else if (c < 0x20 || c == 0x7f) {
			e[1] = 'x';
			e[2] = hexd[c >> 4];
			e[3] = hexd[c & 15];
			el = 4;
		} else {
			e[0] = (char)c;
			el = 1;
		}
		if (o + el >= cap)
			break;
		memcpy(dst + o, e, el);
		o += el;
	}
	dst[o] = '\0';
	return i;
}

static void timestamp(char *out, size_t cap)
{
	struct timespec ts;
	struct tm tm;
	char base[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, cap, "%.24s.%03uZ", base, (unsigned)(ts.tv_nsec / 1000000L) % 1000u);
}

/* Builds "<prefix><escaped msg>\n" bounded to LOG_LINE_MAX; returns length. */
static size_t compose(char line[static LOG_LINE_MAX], const char *prefix, const char *msg,
		      size_t mlen, int cut)
{
	size_t p = strlen(prefix), used;

	if (p > LOG_LINE_MAX / 2)
		p = LOG_LINE_MAX / 2;
	memcpy(line, prefix, p);
	/* room for the body, "..." and "\n" */
	used = log_escape(line + p, LOG_LINE_MAX - p - 4, msg, mlen);
	p += strlen(line + p);
	if (used < mlen || cut) {
		memcpy(line + p, "...", 3);
		p += 3;
	}
	line[p++] = '\n';
	return p;
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static int open_fd(const char *path, int *regular, size_t *size)
{
	struct stat st;
	int fd = sys_open_append(path);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	*regular = S_ISREG(st.st_mode);
	*size = *regular ? (size_t)st.st_size : 0;
	return fd;
}

static void warn_fallback(const char *path, int e)
{
	log_warning("cannot open log file %s: %s; logging to %s", path, strerror(e),
		    log_to_journal() ? "the journal" : "stderr");
}

static void emit(enum log_level lvl, const char *msg, size_t mlen, int cut);

static void keep_line(const char *line, size_t n)
{
	char *dst = NULL;

	if (n >= LOG_LINE_MAX)
		n = LOG_LINE_MAX - 1;
	if (keep_next == KEEP_STARTUP && n_startup < LOG_KEEP_STARTUP_MAX) {
		dst = startup_lines[n_startup++];
	} else if (keep_next == KEEP_SESSION_OPEN) {
		n_session = 1;
		session_next = 1;
		dst = session_lines[0];
	} else if (keep_next == KEEP_SESSION) {
		if (n_session == 0) { /* no open line: slot 0 stays empty */
			n_session = session_next = 1;
			session_lines[0][0] = '\0';
		}
		dst = session_lines[session_next];
		session_next = session_next + 1 < LOG_KEEP_SESSION_MAX ? session_next + 1 : 1;
		if (n_session < LOG_KEEP_SESSION_MAX)
			n_session++;
	}
	if (dst != NULL) {
		memcpy(dst, line, n);
		dst[n] = '\0';
	}
}

static void write_kept(const char *line)
{
	size_t n = strlen(line);

	if (n == 0)
		return;
	write_all(file_fd, line, n);
	file_size += n;
}

/* the kept block at the top of a new file */
static void write_head(void)
{
	char ts[40], line[LOG_LINE_MAX];
	size_t i, k;

	if (n_startup == 0 && n_session == 0)
		return;
	timestamp(ts, sizeof(ts));
	snprintf(line, sizeof(line), "%s %s[%ld] info: log rotated; kept lines follow (%zu "
		 "start-up, %zu session)\n", ts, log_ident, (long)getpid(), n_startup, n_session);
	write_kept(line);
	for (i = 0; i < n_startup; i++)
		write_kept(startup_lines[i]);
	if (n_session > 0) {
		write_kept(session_lines[0]);
		/* the ring, oldest first: it is full once n_session is the maximum */
		k = n_session == LOG_KEEP_SESSION_MAX ? session_next : 1;
		for (i = 1; i < n_session; i++) {
			write_kept(session_lines[k]);
			k = k + 1 < LOG_KEEP_SESSION_MAX ? k + 1 : 1;
		}
	}
	head_size = file_size;
}

static void rotate(void)
{
	char from[4096], to[4096];
	int i, e;

	close(file_fd);
	file_fd = -1;
	for (i = LOG_KEEP_FILES - 1; i >= 1; i--) {
		snprintf(from, sizeof(from), "%s.%d", file_path, i);
		snprintf(to, sizeof(to), "%s.%d", file_path, i + 1);
		(void)sys_replace(from, to, NULL);
	}
	snprintf(to, sizeof(to), "%s.1", file_path);
	(void)sys_replace(file_path, to, NULL);
	head_size = 0;
	file_fd = open_fd(file_path, &file_regular, &file_size);
	if (file_fd < 0) {
		e = errno;
		warn_fallback(file_path, e);
		return;
	}
	write_head();
}

static void emit(enum log_level lvl, const char *msg, size_t mlen, int cut)
{
	char prefix[LOG_LINE_MAX / 2], line[LOG_LINE_MAX], ts[40];
	size_t n;
	int jr = log_to_journal();

	if (file_fd >= 0) {
		timestamp(ts, sizeof(ts));
		snprintf(prefix, sizeof(prefix), "%s %s[%ld] %s: ", ts, log_ident,
			 sys_pid(), level_names[lvl]);
		n = compose(line, prefix, msg, mlen, cut);
		if (keep_next != KEEP_NONE)
			keep_line(line, n);
		/* never rotate a file that holds only the kept block */
		if (file_regular && file_max > 0 && file_size > head_size &&
		    file_size + n > file_max)
			rotate();
		if (file_fd >= 0) {
			write_all(file_fd, line, n);
			file_size += n;
			if (!jr)
				return;
		}
	}
	if (jr)
		snprintf(prefix, sizeof(prefix), "<%d>%s: %s: ", level_prio[lvl], log_ident,
			 level_names[lvl]);
	else if (stderr_ts) {
		timestamp(ts, sizeof(ts));
		snprintf(prefix, sizeof(prefix), "%s %s: %s: ", ts, log_ident, level_names[lvl]);
	} else
		snprintf(prefix, sizeof(prefix), "%s: %s: ", log_ident, level_names[lvl]);
	n = compose(line, prefix, msg, mlen, cut);
	write_all(STDERR_FILENO, line, n);
}

static void vlog(enum log_level lvl, enum keep_group keep, const char *fmt, va_list ap)
	PED_PRINTF(3, 0);
static void vlog(enum log_level lvl, enum keep_group keep, const char *fmt, va_list ap)
{
	char msg[LOG_LINE_MAX];
	int n;

	log_flush_limited(0);
	if (!log_enabled(lvl))
		return;
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		return;
	keep_next = keep != KEEP_NONE ? keep : keep_startup_on ? KEEP_STARTUP : KEEP_NONE;
	if ((size_t)n >= sizeof(msg))
		emit(lvl, msg, sizeof(msg) - 1, 1);
	else
		emit(lvl, msg, (size_t)n, 0);
	keep_next = KEEP_NONE;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(lvl, KEEP_NONE, fmt, ap);
	va_end(ap);
}

void log_session_open(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(lvl, KEEP_SESSION_OPEN, fmt, ap);
	va_end(ap);
}

void log_session(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(lvl, KEEP_SESSION, fmt, ap);
	va_end(ap);
}

void log_keep_startup(int on)
{
	if (on)
		n_startup = 0;
	keep_startup_on = on != 0;
}

static long mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec;
}

/* 1234567 -> "1,234,567" */
static void grouped(char *out, size_t cap, unsigned long v)
{
	char d[32];
	size_t n = (size_t)snprintf(d, sizeof(d), "%lu", v), i, o = 0;

	for (i = 0; i < n && o + 2 < cap; i++) {
		if (i > 0 && (n - i) % 3 == 0)
			out[o++] = ',';
		out[o++] = d[i];
	}
	out[o] = '\0';
}

static void (*pending_hook)(void);

void log_set_pending_hook(void (*hook)(void))
{
	pending_hook = hook;
}

int log_flush_limited(int force)
{
	long now = mono_s();
	char num[32], msg[LOG_LINE_MAX];
	int n, next = -1;

	for (size_t i = 0; i < LIMIT_SLOTS; i++) {
		struct limit *l = &limits[i];
		long age = now - l->start;

		if (l->used && l->held > 0 && !force && age < LOG_LIMIT_WINDOW_S &&
		    (next < 0 || LOG_LIMIT_WINDOW_S - age < next))
			next = (int)(LOG_LIMIT_WINDOW_S - age);
		if (!l->used || (!force && age < LOG_LIMIT_WINDOW_S))
			continue;
		l->used = 0;
		if (l->held == 0 || !log_enabled(l->lvl))
			continue;
		grouped(num, sizeof(num), l->held);
		if (age < 1)
			age = 1;
		if (age > LOG_LIMIT_WINDOW_S && !force)
			age = LOG_LIMIT_WINDOW_S;
		if (l->is_kind)
			n = snprintf(msg, sizeof(msg), "%s: %s more from other sources in the last "
				     "%ld s", l->kind, num, age);
		else
			n = snprintf(msg, sizeof(msg), "%s from %s: %s more in the last %ld s",
				     l->kind, l->src, num, age);
		if (n > 0)
			emit(l->lvl, msg, strnlen(msg, sizeof(msg)), 0);
	}
	return next;
}

static struct limit *limit_slot(const char *kind, const char *src, int is_kind, long now,
				enum log_level lvl)
{
	struct limit *free_slot = NULL;

	for (size_t i = 0; i < LIMIT_SLOTS; i++) {
		struct limit *l = &limits[i];
		if (!l->used) {
			if (free_slot == NULL)
				free_slot = l;
			continue;
		}
		if (l->is_kind == is_kind && strncmp(l->kind, kind, sizeof(l->kind) - 1) == 0 &&
		    (is_kind || strncmp(l->src, src, sizeof(l->src) - 1) == 0))
			return l;
	}
	if (free_slot != NULL) {
		memset(free_slot, 0, sizeof(*free_slot));
		free_slot->used = 1;
		free_slot->is_kind = is_kind;
		snprintf(free_slot->kind, sizeof(free_slot->kind), "%s", kind);
		snprintf(free_slot->src, sizeof(free_slot->src), "%s", is_kind ? "" : src);
		free_slot->start = now;
		free_slot->lvl = lvl;
	}
	return free_slot;
}

void log_limited(enum log_level lvl, const char *kind, const char *source, const char *fmt, ...)
{
	struct limit *k, *s;
	va_list ap;
	long now;

	log_flush_limited(0);
	if (!log_enabled(lvl))
		return;
	if (kind == NULL)
		kind = "";
	if (source == NULL)
		source = "";
	now = mono_s();
	k = limit_slot(kind, source, 1, now, lvl);
	if (k != NULL && k->logged >= LOG_LIMIT_PER_KIND) {
		if (k->held++ == 0 && pending_hook != NULL)
			pending_hook();
		return;
	}
	s = limit_slot(kind, source, 0, now, lvl);
	if (s != NULL && s->logged >= LOG_LIMIT_PER_SOURCE) {
		if (s->held++ == 0 && pending_hook != NULL)
			pending_hook();
		return;
	}
	if (s != NULL)
		s->logged++;
	if (k != NULL)
		k->logged++;
	va_start(ap, fmt);
	vlog(lvl, KEEP_NONE, fmt, ap);
	va_end(ap);
}

int log_open_file(const char *path, size_t max_size)
{
	char *copy;
	int fd, regular, e;
	size_t size;

	if (path == NULL || path[0] == '\0')
		return PED_E_INVAL;
	if ((copy = strdup(path)) == NULL)
		return PED_E_NOMEM;
	log_close_file();
	file_path = copy;
	file_max = max_size == 0 ? 0 : max_size < LOG_MIN_FILE_SIZE ? LOG_MIN_FILE_SIZE : max_size;
	fd = open_fd(path, &regular, &size);
	if (fd < 0) {
		e = errno;
		warn_fallback(path, e);
		return PED_E_IO;
	}
	file_fd = fd;
	file_regular = regular;
	file_size = size;
	head_size = 0;
	return 0;
}

int log_reopen(void)
{
	int fd, regular, e;
	size_t size;

	if (file_path == NULL)
		return 0;
	if (file_fd >= 0) {
		close(file_fd);
		file_fd = -1;
	}
	fd = open_fd(file_path, &regular, &size);
	if (fd < 0) {
		e = errno;
		warn_fallback(file_path, e);
		return PED_E_IO;
	}
	file_fd = fd;
	file_regular = regular;
	file_size = size;
	head_size = 0;
	return 0;
}

void log_close_file(void)
{
	log_flush_limited(1);
	if (file_fd >= 0)
		close(file_fd);
	file_fd = -1;
	free(file_path);
	file_path = NULL;
	file_size = 0;
	file_max = 0;
}

const char *log_file_path(void)
{
	return file_fd >= 0 ? file_path : NULL;
}

void log_openssl(const char *msg)
{
	char buf[256];
	unsigned long e;

	log_error("%s", msg);
	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		log_error("  openssl: %s", buf);
	}
}
