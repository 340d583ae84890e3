/* pedserver.h - the pieces of the pedserver daemon and how they meet:
 * the config table (conf.c), the command line (opts.c), the PED attachment
 * (ped.c), the server port (server.c) and the status report (show.c). */
#ifndef PEDSERVER_PEDSERVER_H
#define PEDSERVER_PEDSERVER_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "common/admin.h"
#include "common/cfg.h"
#include "common/cli.h"
#include "common/prog.h"
#include "usbped/pedhost.h"

#define PEDSERVER_VERSION "0.1.0"
/* A client must complete its HELLO within this many ms (or the socket read
 * timeout, if shorter). */
#define PEDSERVER_HANDSHAKE_MS 5000u

/* Every config key: X(section, key, type, default, min, max, help). */
#define PEDSERVER_CFG(X)                                                                   \
	X(Server, Ip, STRING, "", 0, 64,                                                   \
	  "listen on this one address (IPv4 or IPv6); empty: see ExternalServer")           \
	X(Server, Port, INT, 1503, 1, 65535, "server TCP port (pedclient connects here)")  \
	X(Server, ExternalServer, BOOL, 0, 0, 1,                                           \
	  "0: listen on loopback only; 1: on every address")                               \
	X(Server, AdminPort, INT, 1502, 1, 65535, "admin TCP port (show, stop)")           \
	X(Server, ExternalAdmin, BOOL, 0, 0, 1,                                            \
	  "0: admin port on loopback only; 1: on every address (token still required)")    \
	X(Server, IdleTimeout, INT, 1800, 0, 604800,                                       \
	  "close a client session idle this many seconds (0: never)")                      \
	X(Server, SocketReadTimeout, INT, 30, 1, 3600,                                     \
	  "seconds a client may stay silent in the middle of a message")                   \
	X(Server, SocketWriteTimeout, INT, 30, 1, 3600,                                    \
	  "seconds a write to a client may take")                                          \
	X(Server, PingInterval, INT, 15, 1, 3600,                                          \
	  "seconds between keep-alive pings in a session")                                 \
	X(Server, PingTimeout, INT, 60, 1, 3600,                                           \
	  "seconds without an answer to pings before a session is dropped")                \
	X(Server, InternalShutdownTimeout, INT, 10, 1, 600,                                \
	  "seconds the daemon may take to shut down before it exits anyway")               \
	X(Server, BgProcessStartupTimeout, INT, 10, 1, 600,                                \
	  "seconds -mode start waits for the daemon to be ready")                          \
	X(Server, BgProcessShutdownTimeout, INT, 25, 1, 600,                               \
	  "seconds -mode stop waits for the daemon to exit")                               \
	X(Ped, Device, STRING, "usb", 1, 255,                                              \
	  "the PED: a tty/pty path, usb (default ids) or usb:VVVV:PPPP")                   \
	X(Ped, PedWriteDelay, INT, 0, 0, 10000,                                            \
	  "pause between 64-byte chunks written to the PED, in microseconds")              \
	X(Ped, PedOperationTimeout, INT, 200, 1, 3600,                                     \
	  "seconds a PED operation may take before it is cancelled")                       \
	X(Logging, LogFileName, PATH, "", 0, 0,                                            \
	  "log file; empty: <statedir>/pedserver.log (stderr in the foreground)")          \
	X(Logging, MaxLogFileSize, INT, 4096, 0, 1048576,                                  \
	  "rotate the log file beyond this many KB (0: never)")                            \
	X(Logging, LogInfo, BOOL, 1, 0, 1, "log info messages")                            \
	X(Logging, LogWarning, BOOL, 1, 0, 1, "log warnings")                              \
	X(Logging, LogError, BOOL, 1, 0, 1, "log errors")                                  \
	X(Logging, LogTrace, BOOL, 0, 0, 1, "log trace messages (verbose)")

CFG_STRUCT(pedserver_cfg, PEDSERVER_CFG);
extern const struct cfg_table pedserver_cfg_table;
extern const struct cli_spec pedserver_cli;

/* ---- PED attachment (ped.c) ---- */
typedef struct pedatt pedatt_t;

/* Opens the PED named by spec and keeps it attached: a path that does not
 * exist yet (its directory must) or a PED that goes away is picked up again
 * when it (re)appears. Fails only for a spec that can never work (bad usb
 * spec, missing directory, not a terminal): -1 with the reason in err. */
int pedatt_open(uv_loop_t *loop, const char *spec, unsigned write_delay_us,
		const char *host_name, pedatt_t **out, char *err, size_t errlen);
/* Calls cb(arg) once the first attempt to reach the PED is over: it
 * answered HELLO, failed, or is not there (at once if that is known). */
void pedatt_when_settled(pedatt_t *a, void (*cb)(void *arg), void *arg);
bool pedatt_up(const pedatt_t *a);
/* The PED's identity while it is up, else NULL. */
const pedhost_info_t *pedatt_info(const pedatt_t *a);
const char *pedatt_spec(const pedatt_t *a);
void pedatt_close(pedatt_t *a, void (*done)(void *arg), void *arg);

/* ---- server port (server.c) ---- */
typedef struct server server_t;

struct server_stats {
	unsigned long probes;      /* HELLO PROBE answered */
	unsigned long refused;     /* connections closed with an error */
	unsigned long sessions;    /* sessions served (none yet) */
	uint64_t session_total_s;  /* total connection time */
	uint64_t session_idle_s;   /* of which idle */
};

/* Listens on the address(es) from the config; the server answers HELLO and
 * reports the PED of att. -1 with the reason in err. */
int server_listen(uv_loop_t *loop, const struct pedserver_cfg *cfg, pedatt_t *att,
		  server_t **out, char *err, size_t errlen);
/* "127.0.0.1, ::1" */
const char *server_addresses(const server_t *s);
const struct server_stats *server_stats(const server_t *s);
/* Live-changeable settings (SIGHUP). */
void server_set_timeouts(server_t *s, const struct pedserver_cfg *cfg);
void server_close(server_t *s, void (*done)(void *arg), void *arg);

/* ---- status report (show.c) ---- */
struct pedserver {
	prog_t *prog;
	struct pedserver_cfg *cfg;  /* effective config (prog->vals) */
	uv_loop_t loop;
	admin_server_t *admin;
	server_t *server;
	pedatt_t *ped;
	unsigned closing;           /* components still closing */
};

void pedserver_show(void *ctx, admin_reply_t *r, int argc, char **argv);
void pedserver_show_json(void *ctx, admin_reply_t *r, int argc, char **argv);

#endif
