/* log.h - leveled logging (error, warning, info, trace) for tools and daemons.
 *
 * Levels. Each of the four levels is enabled or disabled on its own (a mask),
 * which is what the daemons' -logerror -logwarning -loginfo -logtrace <0|1>
 * flags need: e.g. log_set_mask(LOG_MASK(LOG_LVL_ERROR) | LOG_MASK(LOG_LVL_TRACE)).
 * log_set_level(l) is the older, still supported form: it enables exactly the
 * levels from error up to l. Default: error, warning and info.
 *
 * Outputs.
 *  - stderr (the default):          "ident: level: message"
 *    With log_set_stderr_timestamp(1) (daemons in the foreground) each line
 *    starts with the ISO-8601 UTC time, like the file format below.
 *  - the systemd journal: when JOURNAL_STREAM names our stderr (the "dev:ino"
 *    that systemd puts there), stderr lines are "<P>ident: level: message"
 *    with the syslog priority P (3 error, 4 warning, 6 info, 7 trace) and no
 *    timestamp of ours (journald stamps them).
 *  - a log file (log_open_file): "2024-05-01T12:00:00.123Z ident[pid] level: message".
 *    While a file is open, lines go to the file only; if stderr is the
 *    journal they go to both.
 *
 * Lines are bounded: a whole line is at most LOG_LINE_MAX bytes (longer
 * messages are cut and end in "..."). Control characters (0x00-0x1f, 0x7f) and
 * the backslash inside a message are escaped ("\n", "\r", "\t", "\\",
 * "\xNN"), so a string that came from a peer cannot forge a log line or drive a
 * terminal. Bytes >= 0x80 are passed through (UTF-8).
 *
 * Not thread-safe: call from one thread (the event loop's).
 * Never pass a secret, a PIN, a share or the RPV to these functions. */
#ifndef PED_LOG_H
#define PED_LOG_H

#include <stddef.h>
#include "common/sys.h"

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARNING, LOG_LVL_INFO, LOG_LVL_TRACE };

#define LOG_MASK(lvl) (1u << (lvl))
#define LOG_MASK_ALL 0xfu
#define LOG_LINE_MAX 1024
/* log files keep this many old generations: path.1 (newest) .. path.3 */
#define LOG_KEEP_FILES 3
/* smallest max_size honoured by log_open_file (smaller values are raised) */
#define LOG_MIN_FILE_SIZE 4096

/* Enables exactly the levels error..lvl (default: info). */
void log_set_level(enum log_level lvl);
/* The most verbose enabled level (LOG_LVL_ERROR if none is enabled). */
enum log_level log_get_level(void);
/* Enables exactly the levels whose LOG_MASK bit is set. */
void log_set_mask(unsigned mask);
unsigned log_get_mask(void);
/* 1 if a message of this level would be written (to skip costly formatting). */
int log_enabled(enum log_level lvl);
/* Prefix for every line, usually the program name (kept by reference). */
void log_set_ident(const char *ident);
/* Timestamps on stderr lines (not in journal mode); default off. */
void log_set_stderr_timestamp(int on);
/* Call after fd 2 was replaced (dup2): re-checks JOURNAL_STREAM against it. */
void log_stderr_changed(void);
/* 1 if stderr is the systemd journal (JOURNAL_STREAM matches fd 2). */
int log_to_journal(void);

/* Opens (creates, mode 0600, append) the log file. max_size is in bytes;
 * when a line would make the file larger, the file is rotated first:
 * path.2 -> path.3, path.1 -> path.2, path -> path.1 (LOG_KEEP_FILES old
 * files; the oldest is dropped). 0 means no limit; values below
 * LOG_MIN_FILE_SIZE are raised to it. Non-regular files (e.g. /dev/null) are
 * accepted and never rotated. A previously open file is closed first.
 * On failure returns PED_E_IO (or PED_E_INVAL / PED_E_NOMEM), logging stays
 * on stderr / the journal and one warning says so, e.g.
 * "cannot open log file /var/log/x: Permission denied; logging to stderr". */
int log_open_file(const char *path, size_t max_size);
/* Closes and reopens the file by name (SIGHUP, after logrotate moved it).
 * 0 if no file is configured; on failure behaves like log_open_file. */
int log_reopen(void);
/* Closes the log file (lines go back to stderr) and forgets its name. */
void log_close_file(void);
/* The path given to log_open_file while a file is open, else NULL. */
const char *log_file_path(void);

void log_msg(enum log_level lvl, const char *fmt, ...)
	PED_PRINTF(2, 3);
/* Logs msg followed by the drained OpenSSL error queue, once, at error level. */
void log_openssl(const char *msg);

/* Copies n bytes of src into dst (capacity cap >= 1, always NUL-terminated)
 * with the escaping described above; stops before an escape sequence that
 * would not fit. Returns the number of source bytes consumed. Also used by
 * the admin channel for its reply lines. */
size_t log_escape(char *dst, size_t cap, const char *src, size_t n);

/* ---- rate-limited lines (a flood cannot fill the log) ----
 * log_limited(lvl, kind, source, fmt, ...) logs like log_msg, but per window
 * of LOG_LIMIT_WINDOW_S seconds at most LOG_LIMIT_PER_SOURCE lines of one kind
 * from one source, and LOG_LIMIT_PER_KIND lines of one kind from all sources
 * together (sources by their text, e.g. the peer address; kind is a
 * string literal, compared by content). What is held back is counted and said
 * once the window is over, in one line per source and one per kind:
 *   "<kind> from <source>: 1,234 more in the last 10 s"
 *   "<kind>: 12,345 more from other sources in the last 10 s"
 * The summaries are written by the next log call after the window (any
 * line), by log_flush_limited() (a daemon's timer, see log_set_pending_hook)
 * and when the file is closed. */
#define LOG_LIMIT_WINDOW_S 10
#define LOG_LIMIT_PER_SOURCE 5
#define LOG_LIMIT_PER_KIND 10
void log_limited(enum log_level lvl, const char *kind, const char *source, const char *fmt, ...)
	PED_PRINTF(4, 5);
/* Writes the summaries of every window that is over (all windows if force).
 * Returns the seconds until the next pending summary is due, or -1 if none. */
int log_flush_limited(int force);
/* hook() is called when a line is first held back in a window, so that an
 * event loop can call log_flush_limited when the window is over (daemon.c
 * arms a timer: no timer runs while nothing is pending). NULL: none. */
void log_set_pending_hook(void (*hook)(void));

/* ---- kept lines (a flood cannot rotate them away) ----
 * Two groups of lines are kept in memory and written again at the top of
 * each new file when the log rotates, under a line "log rotated; kept lines
 * follow", with their original time: the start-up lines (every line from
 * log_keep_startup(1) to log_keep_startup(0), at most LOG_KEEP_STARTUP_MAX)
 * and the current session's lines (log_session_open starts the group again,
 * log_session adds to it; at most LOG_KEEP_SESSION_MAX: the first line and
 * the newest others). The file budget thus always holds them; a file is
 * rotated only once something besides the kept block was written to it. */
#define LOG_KEEP_STARTUP_MAX 24
#define LOG_KEEP_SESSION_MAX 16
void log_keep_startup(int on);
void log_session_open(enum log_level lvl, const char *fmt, ...)
	PED_PRINTF(2, 3);
void log_session(enum log_level lvl, const char *fmt, ...)
	PED_PRINTF(2, 3);

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LVL_WARNING, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_trace(...) log_msg(LOG_LVL_TRACE, __VA_ARGS__)

#endif
