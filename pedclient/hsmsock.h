/* hsmsock.h - STATEDIR/hsm.sock: the local API of pedclient's HSM slots,
 * spoken by the pedhsm console (docs/pedclient.md, "The HSM socket").
 *
 * A Unix stream socket, mode 0600; a peer must have pedclient's uid or be
 * root (SO_PEERCRED). The client sends ONE line
 *     <slot> <word> [<word>...]\n
 * (at most HSMSOCK_LINE_MAX bytes, printable ASCII, words separated by
 * spaces). pedclient answers with lines
 *     attend            the console prints "Please attend to the PED."
 *     ped <text>        progress relayed from the PED
 *     out <text>        ordinary output
 * and finally exactly one of
 *     OK
 *     ERR <NAME> <message>      NAME from common/err.h
 * then closes. A client that hangs up early abandons its command (the owner
 * is told through the gone callback and cancels the PED operation). */
#ifndef PEDCLIENT_HSMSOCK_H
#define PEDCLIENT_HSMSOCK_H

#include <stddef.h>

#include <uv.h>
#include "common/sys.h"

#define HSMSOCK_FILE "hsm.sock"
#define HSMSOCK_LINE_MAX 1024
#define HSMSOCK_ARGS_MAX 16

typedef struct hsmsock hsmsock_t;
typedef struct hsmsock_conn hsmsock_conn_t;

/* Parses one request line in place (without its newline): the slot number
 * (0..99, decimal, no sign, no leading zero but "0") and 1..max words into
 * argv. 0, or PED_E_PARSE (empty, no command, bad slot, a byte outside
 * 0x20..0x7e), PED_E_TOO_LONG (longer than HSMSOCK_LINE_MAX or more than
 * max words). */
int hsmsock_parse(char *line, unsigned *slot, int *argc, char **argv, int max);

/* A request: answer with hsmsock_line() and end with hsmsock_end(), now or
 * later. argv lives until the call returns. */
typedef void (*hsmsock_cmd_fn)(void *ctx, hsmsock_conn_t *c, unsigned slot, int argc,
			       char **argv);

int hsmsock_start(uv_loop_t *loop, const char *path, hsmsock_cmd_fn fn, void *ctx,
		  hsmsock_t **out);
/* Stops listening and drops every connection that has no command running;
 * the running ones live until their hsmsock_end. closed(arg) fires when the
 * listener is closed. Removes the socket file. NULL is a no-op. */
void hsmsock_close(hsmsock_t *s, void (*closed)(void *arg), void *arg);

/* One answer line: kind is "attend", "ped" or "out"; control characters in
 * the text become '?'. Ignored once the client is gone. */
void hsmsock_line(hsmsock_conn_t *c, const char *kind, const char *fmt, ...)
	PED_PRINTF(3, 4);
/* The last line: OK for err == 0, else "ERR <ped_errname(err)> <message>"
 * (message: fmt, or ped_strerror(err) when fmt is NULL). The connection
 * closes after it; c is invalid afterwards. */
void hsmsock_end(hsmsock_conn_t *c, int err, const char *fmt, ...)
	PED_PRINTF(3, 4);
/* Registers fn(arg), called once if the client hangs up before the end. */
void hsmsock_on_gone(hsmsock_conn_t *c, void (*fn)(void *arg), void *arg);

#endif
