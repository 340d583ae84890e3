/* admin.h - the admin channel of a daemon (server on a libuv loop) and its
 * blocking client for the `-mode show|stop|config|...` invocations.
 *
 * Where it listens. TCP on 127.0.0.1 and, if the host has it, ::1 (the same
 * port on both), or on every address (dual-stack "::", else 0.0.0.0) when
 * external admin is enabled (-eadmin 1). pedserver's default port is 1502
 * (ADMIN_PORT_PEDSERVER); port 0 asks the kernel for a free one. Optionally
 * also a Unix socket STATEDIR/admin.sock (mode 0600).
 *
 * Access control. TCP has no SO_PEERCRED, so on TCP the only credential is a
 * token: 32 random bytes (RAND_bytes), written as 64 hex digits to
 * STATEDIR/admin.token (mode 0600, atomically) when the server starts, beside
 * STATEDIR/admin.port (the decimal port). Whoever can read the token file --
 * the daemon's owner (and root), since the state dir is 0700 (daemon.h) -- may
 * command the daemon; nobody else can, whatever address they connect from.
 * A new token is made at every start. On the Unix socket the peer's uid
 * (SO_PEERCRED) must equal ours; the AUTH line is then optional.
 *
 * Protocol (text, one request per connection):
 *   client: AUTH <64 hex digits>\n        (token; compared with CRYPTO_memcmp)
 *   client: <verb> [arg ...]\n            (words separated by spaces/tabs)
 *   server: zero or more reply lines\n
 *   server: OK\n   or   ERR <NAME> <message>\n      then closes.
 * A "\r" before "\n" is ignored. A request line may be at most ADMIN_LINE_MAX
 * bytes (else ERR TOO_LONG), a whole response at most ADMIN_RESPONSE_MAX
 * (else the lines are dropped and the answer is ERR TOO_LONG). At most
 * ADMIN_MAX_ARGS words. Control characters in reply lines are escaped as in
 * log.h. Errors produced by the channel itself:
 *   ERR AUTH_REQUIRED ...     no AUTH line, or a wrong token (logged as a warning)
 *   ERR UNKNOWN_COMMAND ...   verb not in the daemon's table
 *   ERR TOO_LONG ...          request line or response too long
 *   ERR BUSY ...              more than max_conns connections at once
 *   ERR BAD_REQUEST ...       empty command line
 * A client silent for timeout_ms (default 5 s) before its command is complete
 * is dropped without an answer. The built-in verb "help" lists the verbs.
 *
 * Not thread-safe; the server lives on one loop. */
#ifndef PED_ADMIN_H
#define PED_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "err.h"
#include "common/sys.h"

#define ADMIN_PORT_PEDSERVER 1502
#define ADMIN_LINE_MAX 4096
#define ADMIN_RESPONSE_MAX 65536
#define ADMIN_MAX_ARGS 32
#define ADMIN_TOKEN_BYTES 32
#define ADMIN_DEFAULT_TIMEOUT_MS 5000
#define ADMIN_DEFAULT_MAX_CONNS 8

/* Runtime files in the state dir; removed when the server closes. */
#define ADMIN_TOKEN_FILE "admin.token"
#define ADMIN_PORT_FILE "admin.port"
#define ADMIN_SOCK_FILE "admin.sock"

/* Return codes of admin_call besides 0 (OK) and other PED_E_* codes.
 * ADMIN_NOT_RUNNING: no port file, no token file, or nothing listens (the
 * files are stale): the CLI prints "not running" and exits 3.
 * ADMIN_REMOTE_ERR: the daemon answered ERR; see admin_result. */
#define ADMIN_NOT_RUNNING PED_E_NOT_FOUND
#define ADMIN_REMOTE_ERR PED_E_BAD_REQUEST

/* ---- server ---- */

typedef struct admin_server admin_server_t;
typedef struct admin_reply admin_reply_t;

/* A command handler. argv[0] is the verb; argv[argc] is NULL; the strings
 * live until admin_reply_end. The handler must eventually call
 * admin_reply_end exactly once, now or later from another callback (an
 * asynchronous answer); until then r stays valid even if the client has gone
 * (its lines are then discarded). */
typedef void (*admin_handler_fn)(void *ctx, admin_reply_t *r, int argc, char **argv);

struct admin_cmd {
	const char *verb;
	admin_handler_fn fn;
	const char *help; /* one line for "help" */
};

struct admin_config {
	const char *statedir;  /* where admin.token / admin.port / admin.sock go */
	int port;              /* TCP port; 0 = any free port; -1 = no TCP */
	int external;          /* 1: listen on all addresses (-eadmin 1) */
	int unix_socket;       /* 1: also listen on STATEDIR/admin.sock */
	const struct admin_cmd *cmds; /* table, ends with a NULL verb */
	void *ctx;             /* passed to every handler */
	unsigned timeout_ms;   /* 0: ADMIN_DEFAULT_TIMEOUT_MS */
	unsigned max_conns;    /* 0: ADMIN_DEFAULT_MAX_CONNS */
};

/* Binds, writes the token and port files, starts accepting. On failure
 * nothing is left open or written; returns PED_E_IO (bind failed: the port is
 * in use, logged with the reason), PED_E_CRYPTO, PED_E_NOMEM or PED_E_INVAL. */
int admin_server_start(uv_loop_t *loop, const struct admin_config *cfg,
		       admin_server_t **out);
/* The TCP port actually bound (useful with port 0); 0 without TCP. */
int admin_server_port(const admin_server_t *s);
/* Stops listening, removes admin.port / admin.token / admin.sock, and closes
 * connections once their replies have ended (answers already started are
 * still sent: a "stop" handler may end its reply after calling this). When
 * every handle is closed, done(arg) runs (may be NULL) and s is freed.
 * Idempotent; NULL is a no-op. */
void admin_server_close(admin_server_t *s, void (*done)(void *arg), void *arg);

/* Appends one reply line (printf format, escaped, cut to ADMIN_LINE_MAX). */
void admin_reply_line(admin_reply_t *r, const char *fmt, ...)
	PED_PRINTF(2, 3);
/* Ends the reply: code 0 sends "OK", a negative PED_E_* code sends
 * "ERR <ped_errname(code)> <ped_strerror(code)>". r is invalid afterwards. */
void admin_reply_end(admin_reply_t *r, int code);
/* Ends the reply with "ERR <name> <message>" (name: [A-Z0-9_]+). */
void admin_reply_error(admin_reply_t *r, const char *name, const char *fmt, ...)
	PED_PRINTF(3, 4);

/* ---- the token of a loopback TCP channel ----
 * Also pedemu's control port (usbped/emu/ctl.c): one token scheme. */

/* Draws a new token (RAND_bytes) into token and writes it as 64 hex digits
 * to DIR/token_file, then port (decimal) to DIR/port_file, each atomically
 * and private to the owner (0600; Windows: the owner, Administrators and
 * SYSTEM). 0, PED_E_CRYPTO or the write's error (nothing left behind). */
int admin_token_publish(const char *dir, const char *token_file, const char *port_file, int port,
			uint8_t token[ADMIN_TOKEN_BYTES]);
/* Removes both files (missing ones are fine). */
void admin_token_unpublish(const char *dir, const char *token_file, const char *port_file);
/* hex is exactly the token's 64 hex digits (compared with CRYPTO_memcmp). */
bool admin_token_ok(const uint8_t token[ADMIN_TOKEN_BYTES], const char *hex);

/* ---- client (blocking, for CLI invocations outside any event loop) ---- */

struct admin_result {
	char name[64];     /* ERR name, e.g. "AUTH_REQUIRED"; "" on OK */
	char message[512]; /* ERR message, or why the call failed locally */
};

/* Called for each reply line before the final OK/ERR (NUL-terminated, no "\n"). */
typedef void (*admin_line_fn)(void *arg, const char *line);

/* Sends one command to the daemon whose state dir is statedir and collects
 * the answer. host: NULL for 127.0.0.1 (else a name or address, e.g. for
 * -eadmin setups); port: 0 to read STATEDIR/admin.port, else that port. The
 * token is always read from STATEDIR/admin.token. When host and port are not
 * overridden and STATEDIR/admin.sock exists, the Unix socket is tried first.
 * args: NULL-terminated words (may be NULL); a word must be non-empty and
 * contain no space or control character. The whole exchange is bounded by
 * timeout_ms (0: ADMIN_DEFAULT_TIMEOUT_MS). res may be NULL.
 * Returns 0 (OK), ADMIN_NOT_RUNNING, ADMIN_REMOTE_ERR, PED_E_IO (connection
 * broke, timed out or the answer is malformed; res->message says which),
 * PED_E_INVAL. */
int admin_call(const char *statedir, const char *host, int port, const char *verb,
	       const char *const *args, admin_line_fn cb, void *cbarg, unsigned timeout_ms,
	       struct admin_result *res);

#endif
