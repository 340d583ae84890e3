/* ids.h - pedclient's PED ID mappings (Luna `setid / assignid / releaseid /
 * deleteid`): a PED ID names a pedserver (host, port) and may be assigned to
 * one HSM serial number.
 *
 * The store is a plain value (struct ids) so that a change can be applied to
 * a copy, written, and only then adopted. It persists in STATEDIR/ids.conf,
 * one mapping per line, fields separated by blanks:
 *
 *   # comment
 *   <id> <host> <port> <serial or ->
 *   1234 ped1.example.com 1503 -
 *   7 127.0.0.1 1600 1234567890
 *
 * The file is untrusted input: at most IDS_FILE_MAX bytes, lines of at most
 * IDS_LINE_MAX characters, no NUL or control characters (a tab separates
 * fields like a space), exactly four fields, every field validated as the
 * commands validate it, no id and no serial twice, at most IDS_MAX
 * mappings. Errors name file:line: "ids.conf:3: port 70000 is out of range
 * (1-65535)". The file is rewritten atomically (common/atomic.h), mode 0600.
 *
 * Who writes it. STATEDIR/ids.lock (a persistent, empty lock file) is held
 * with an exclusive flock by the owner of the store: a running pedclient for
 * its whole life, or a `-mode setid|...` invocation for the duration of one
 * edit when no pedclient runs. ids_lock() takes it. */
#ifndef PEDCLIENT_IDS_H
#define PEDCLIENT_IDS_H

#include <stdbool.h>
#include <stddef.h>

#define IDS_FILE "ids.conf"
#define IDS_LOCK_FILE "ids.lock"
#define IDS_MAX 64
#define IDS_FILE_MAX (32 * 1024)
#define IDS_LINE_MAX 400
#define IDS_ID_MIN 1
#define IDS_ID_MAX 65535
#define IDS_HOST_MAX 253
#define IDS_SERIAL_MAX 32
#define IDS_ERR_MAX 512

struct ids_entry {
	long id;
	char host[IDS_HOST_MAX + 1];
	long port;
	char serial[IDS_SERIAL_MAX + 1]; /* "" when not assigned */
};

struct ids {
	size_t n;
	struct ids_entry e[IDS_MAX]; /* sorted by id */
};

/* Empties the store. */
void ids_init(struct ids *s);

/* Parses len bytes (need not be NUL-terminated) into s; name stands for
 * the file in messages. On error s is empty and err holds one line.
 * Returns 0, PED_E_TOO_LONG or PED_E_PARSE. */
int ids_parse(struct ids *s, const char *name, const char *data, size_t len, char *err,
	      size_t errlen);
/* Loads path; a missing file is an empty store. Adds PED_E_IO. */
int ids_load(struct ids *s, const char *path, char *err, size_t errlen);
/* The file text of s (malloc'd, NUL-terminated; free() it). */
int ids_format(const struct ids *s, char **out, size_t *len);
/* Writes s to path atomically (mode 0600). */
int ids_save(const struct ids *s, const char *path, char *err, size_t errlen);

/* Field checks, as for the file and the commands: 0 or PED_E_RANGE /
 * PED_E_PARSE with a message naming the value. */
int ids_check_id(long id, char *err, size_t errlen);
int ids_check_host(const char *host, char *err, size_t errlen);
int ids_check_port(long port, char *err, size_t errlen);
int ids_check_serial(const char *serial, char *err, size_t errlen);

/* The mapping of id, or NULL. */
const struct ids_entry *ids_get(const struct ids *s, long id);

/* The operations. Each returns 0 with a one-line result in msg, or a
 * negative PED_E_* code with the reason in msg; s is unchanged on error.
 *   setid:     creates the mapping or changes its host and port (an
 *              assignment is kept).
 *   assignid:  id must exist; a serial is assigned to at most one id, an id
 *              to at most one serial (release it first); assigning the same
 *              pair again is a no-op.
 *   releaseid: by id (serial NULL) or by serial (id < 0): the mapping stays,
 *              its assignment goes. NOT_FOUND if there is nothing to release.
 *   deleteid:  removes the mapping (and its assignment). */
int ids_setid(struct ids *s, long id, const char *host, long port, char *msg, size_t len);
int ids_assignid(struct ids *s, long id, const char *serial, char *msg, size_t len);
int ids_releaseid(struct ids *s, long id, const char *serial, char *msg, size_t len);
int ids_deleteid(struct ids *s, long id, char *msg, size_t len);

/* The same operations from admin-channel words (what the daemon receives
 * and what the CLI applies itself when no daemon runs):
 *   setid <id> <host> <port> | assignid <id> <serial> | releaseid id <id> |
 *   releaseid serial <serial> | deleteid <id>
 * *changed tells whether s was modified (the caller then saves it).
 * PED_E_BAD_REQUEST for malformed words. */
int ids_apply(struct ids *s, int argc, char *const *argv, bool *changed, char *msg,
	      size_t len);

/* Takes the exclusive flock on dir/ids.lock (created 0600 if missing).
 * nonblock: fails with PED_E_EXISTS at once if someone holds it; else waits
 * at most timeout_s seconds (a blocking flock bounded by an alarm, no
 * polling) and fails with PED_E_EXISTS then.
 * Returns the fd (>= 0, close it to release) or a negative PED_E_* code. */
int ids_lock(const char *dir, bool nonblock, unsigned timeout_s);

#endif
