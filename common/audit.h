/* audit.h - the ceremony audit trail: an append-only, hash-chained log of
 * security events (JSON lines), shared by pedserver and pedclient.
 *
 * Record (one line, members in this order; the first three and the last two
 * are always there):
 *   {"seq":12,"time":"2026-12-03T11:00:00.123Z","prog":"pedserver","event":"session_open",
 *    ...event members...,"prev":"<64 hex>","hash":"<64 hex>"}
 * hash = SHA-256(prev as 32 bytes || the line up to and including the prev
 * member, i.e. everything before ',"hash":'). The first record ever has
 * seq 1 and prev = 64 zeros; every other record's prev is the hash of the
 * record before it, across files.
 *
 * Files: DIR/audit.log; when it would grow beyond AUDIT_FILE_MAX it is renamed
 * DIR/audit.log.<N> (N = one more than the highest present; never deleted:
 * archiving is the operator's business) and a new audit.log begins, whose first
 * record carries the last hash of the old one.
 *
 * Durability: each record is one write() of the whole line (O_APPEND) then
 * fdatasync, so a crash loses at most the record being written. On open, a
 * torn last line (no newline) is cut away and an "audit_repaired" record says so.
 *
 * Never pass a secret, PIN, share, password or RPV: members are identities,
 * counts, names and results only. */
#ifndef PED_AUDIT_H
#define PED_AUDIT_H

#include <stddef.h>
#include <stdio.h>

#define AUDIT_FILE_NAME "audit.log"
#define AUDIT_FILE_MAX (1024 * 1024)
#define AUDIT_LINE_MAX 2048
/* refusals are summed and written at most once per this many seconds */
#define AUDIT_REFUSAL_WINDOW_S 10

/* Opens (creates, 0600) DIR/audit.log for prog and finds the chain's tail.
 * 0, or PED_E_IO (the trail is then off and one error is logged). */
int audit_open(const char *dir, const char *prog);
/* Writes pending refusal counts and closes. No-op when not open. */
void audit_close(void);
int audit_is_open(void);
/* The size beyond which audit.log is rotated (default AUDIT_FILE_MAX; at
 * least AUDIT_LINE_MAX). */
void audit_set_file_max(size_t max);

/* Appends one record. fmt lists the members: space-separated "name:t" with
 * t = s (const char *, JSON-escaped; NULL is null), d (int), u (unsigned),
 * l (long long); e.g.
 *   audit_event("ped_op", "kind:s role:s m:d n:d result:s", "login", "so", 2, 3, "OK");
 * No-op when the trail is not open. */
void audit_event(const char *event, const char *fmt, ...);

/* Counts one refused connection (reason: a short name such as "HELLO_TIMEOUT",
 * source: the peer address). Written as one "admission_refused" record per
 * reason per window: count, distinct sources (up to 64 counted) and the first
 * source. */
void audit_refusal(const char *reason, const char *source);
/* Writes the refusal counts whose window is over (all if force). Returns
 * the seconds until the next pending count is due, or -1 if none. */
int audit_flush(int force);
/* hook() is called when a refusal starts a new count (as log_set_pending_hook). */
void audit_set_pending_hook(void (*hook)(void));

/* Checks the chain of files in order (oldest first). Prints one line on out:
 *   "audit trail intact: 42 records (1-42) in 2 files"
 * or the first problem, naming the record by number:
 *   "audit.log:7: record 7: altered (hash mismatch)"
 * Returns 0 when intact, PED_E_AUDIT_BROKEN when not, PED_E_IO when a file
 * cannot be read. The chain must start at record 1: pass archived files too. */
int audit_verify(const char *const files[], size_t nfiles, FILE *out);
/* The trail's files in DIR, oldest first (audit.log.1 .. audit.log.N, then
 * audit.log), malloc'd (free with audit_files_free). 0 or PED_E_NOT_FOUND. */
int audit_files(const char *dir, char ***files, size_t *nfiles);
void audit_files_free(char **files, size_t nfiles);

/* The "-mode audit -verify [FILE...]" of both daemons: no files means the
 * trail in statedir. Exit status: 0 intact, 1 broken, 2 cannot read. */
int audit_verify_main(const char *statedir, const char *const files[], size_t nfiles);

#endif
