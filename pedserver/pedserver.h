/* pedserver.h - the pieces of the pedserver daemon and how they meet:
 * the config table (conf.c), the command line (opts.c), the PED attachment
 * (ped.c), the server port (server.c) and the status report (show.c). */
#ifndef PEDSERVER_PEDSERVER_H
#define PEDSERVER_PEDSERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <uv.h>

#include "common/admin.h"
#include "common/cfg.h"
#include "common/cli.h"
#include "common/prog.h"
#include "session/session.h"
#include "usbped/pedhost.h"

#define PEDSERVER_VERSION "0.1.0"

/* Every config key: X(section, key, type, default, min, max, help). */
#define PEDSERVER_CFG(X)                                                                   \
	X(Server, Ip, STRING, "", 0, 64,                                                   \
	  "listen on this one address (IPv4 or IPv6); empty: see ExternalServer")           \
	X(Server, Port, INT, 1503, 1, 65535, "server TCP port (pedclient connects here)")  \
	X(Server, ExternalServer, BOOL, 1, 0, 1,                                           \
	  "1: listen on every address (a distant HSM must reach it); 0: on loopback only") \
	X(Server, AdminPort, INT, 1502, 1, 65535, "admin TCP port (show, stop)")           \
	X(Server, ExternalAdmin, BOOL, 0, 0, 1,                                            \
	  "0: admin port on loopback only; 1: on every address (token still required)")    \
	X(Server, IdleTimeout, INT, 1800, 0, 604800,                                       \
	  "close a client session idle this many seconds (0: never)")                      \
	X(Server, SocketReadTimeout, INT, 30, 1, 3600,                                     \
	  "seconds a client may stay silent in the middle of a message")                   \
	X(Server, SocketWriteTimeout, INT, 30, 1, 3600,                                    \
	  "seconds a write to a client may take")                                          \
	X(Server, HandshakeTimeout, INT, 5, 1, 600,                                        \
	  "seconds a client may take for each handshake step (HELLO, KEX_INIT, "           \
	  "KEX_CONFIRM); the orange key read is bounded by PedOperationTimeout")           \
	X(Server, MaxPreSession, INT, 64, 4, 512,                                          \
	  "connections still in their handshake, all sources; a newcomer beyond it evicts" \
	  " one, silent first, from the busiest source (never an open session)")           \
	X(Server, MaxPreSessionPerSource, INT, 8, 1, 512,                                  \
	  "connections in their handshake from one source (IPv4 address, IPv6 /64)")       \
	X(Server, NewConnectionRate, INT, 10, 1, 100000,                                   \
	  "new connections per second from one source (token bucket)")                     \
	X(Server, NewConnectionBurst, INT, 20, 1, 100000,                                  \
	  "new connections at once from one source (the bucket's size)")                   \
	X(Server, PenaltyNoHello, INT, 1, 0, 3600,                                         \
	  "penalty seconds for a connection the client closes before its HELLO; 0: none") \
	X(Server, PenaltyEvicted, INT, 5, 0, 3600,                                         \
	  "penalty seconds for a connection evicted before its HELLO (silent while the "   \
	  "handshake table was full); 0: none")                                            \
	X(Server, PenaltyHelloTimeout, INT, 10, 0, 3600,                                   \
	  "penalty seconds for a connection that misses the HELLO deadline; 0: none")     \
	X(Server, PenaltyRefused, INT, 1, 0, 3600,                                         \
	  "penalty seconds for a connection refused for its source's rate or cap; 0: none") \
	X(Server, PenaltyMin, INT, 15, 1, 86400,                                           \
	  "a source whose penalty reaches this many seconds is blocked until it runs out: " \
	  "its new connections are dropped by the kernel (refused at accept where it cannot)") \
	X(Server, PenaltyMax, INT, 600, 0, 86400,                                          \
	  "the most penalty seconds a source accrues; 0: no penalties")                   \
	X(Server, PenaltyExempt, STRING, "", 0, 255,                                        \
	  "addresses or prefixes never penalised (known HSMs), separated by commas: "      \
	  "192.0.2.7, 10.1.0.0/16, 2001:db8::/48")                                         \
	X(Server, HsmPolicy, STRING, "prompt", 3, 6,                                        \
	  "an HSM whose key is not on the allowlist: prompt (ask on the PED), list "       \
	  "(refuse), tofu (record the first HSM), any (no allowlist)")                    \
	X(Server, PingInterval, INT, 15, 1, 3600,                                          \
	  "seconds between keep-alive pings in a session")                                 \
	X(Server, PingTimeout, INT, 60, 1, 3600,                                           \
	  "seconds without an answer to pings before a session is dropped")                \
	X(Server, ResumeWindow, INT, 300, 0, 86400,                                        \
	  "seconds the PED stays reserved for an HSM whose connection broke, so that it "   \
	  "resumes without the orange key (0: no resumption)")                             \
	X(Server, InternalShutdownTimeout, INT, 10, 1, 600,                                \
	  "seconds the daemon may take to shut down before it exits anyway")               \
	X(Server, BgProcessStartupTimeout, INT, 10, 1, 600,                                \
	  "seconds -mode start waits for the daemon to be ready")                          \
	X(Server, BgProcessShutdownTimeout, INT, 25, 1, 600,                               \
	  "seconds -mode stop waits for the daemon to exit")                               \
	X(Ped, Device, STRING, "usb", 1, 255,                                              \
	  "the PED: a tty/pty path, usb (default ids), usb:VVVV:PPPP[:SERIAL]")                   \
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
/* The server's hooks: the PED's events and results of operations started
 * on pedatt_host(), and up (true) / down (false) changes. One client. */
struct pedatt_client {
	void (*on_event)(void *arg, uint16_t id, const pedhost_event_t *ev);
	void (*on_result)(void *arg, uint16_t id, const pedhost_result_t *res);
	void (*on_state)(void *arg, bool up);
};
void pedatt_set_client(pedatt_t *a, const struct pedatt_client *c, void *arg);
/* The PED's link while it is up (start operations on it), else NULL. */
pedhost_t *pedatt_host(pedatt_t *a);
/* The PED's last STATUS (mode, cached RPK), refreshed after HELLO and after
 * every operation; NULL while unknown or down. */
const pedhost_status_t *pedatt_status(const pedatt_t *a);
void pedatt_refresh_status(pedatt_t *a);
void pedatt_close(pedatt_t *a, void (*done)(void *arg), void *arg);

/* ---- server port (server.c) ---- */
typedef struct server server_t;

struct server_stats {
	unsigned long probes;      /* HELLO PROBE answered */
	unsigned long refused;     /* connections closed with an error */
	unsigned long sessions;    /* sessions opened (key confirmation passed) */
	unsigned long busy;        /* SESSION HELLOs answered SERVER_BUSY */
	unsigned long refused_rate;       /* closed at accept: the source's rate */
	unsigned long refused_per_source; /* closed at accept: the source's cap */
	unsigned long evicted;     /* pre-session connections evicted for a newcomer */
	unsigned long penalties;   /* sources blocked (a penalty reached PenaltyMin) */
	unsigned long refused_penalty; /* closed at accept: a blocked source the kernel
					* filter did not hold back */
	unsigned penalised;        /* sources blocked now (show fills it in) */
	int penalty_filter;        /* 1: the kernel drops blocked sources' SYNs;
				    * 0: refused at accept only */
	unsigned long resumed;     /* sessions resumed after a link loss */
	unsigned long resume_refused; /* resumes refused: unknown, stale or replayed
				       * secret, failed confirmation */
	unsigned long resume_expired; /* reservations that ran out */
	uint64_t session_total_s;  /* total connection time */
	uint64_t session_idle_s;   /* of which idle */
};

/* Listens on the address(es) from the config; the server answers HELLO and
 * reports the PED of att. -1 with the reason in err. */
int server_listen(uv_loop_t *loop, const struct pedserver_cfg *cfg, pedatt_t *att,
		  server_t **out, char *err, size_t errlen);
/* The client of the server's one slot: the open session, else a handshake
 * that is reading the orange key or waiting for KEX_CONFIRM. */
struct server_client {
	char hsm_serial[WIRE_STR_MAX + 1], name[WIRE_STR_MAX + 1];
	char addr[80];
	char since[32];          /* UTC, "YYYY-MM-DD HH:MM:SS" */
	const char *state;       /* "open", "reading the orange key", ... */
	bool open;
	char resume[160];        /* the link is lost and the PED reserved: what for */
	uint64_t conn_s, idle_s; /* since the session opened; since the last operation */
};
/* false if nobody holds or is taking the slot */
bool server_client(const server_t *s, struct server_client *out);
/* "127.0.0.1, ::1" */
const char *server_addresses(const server_t *s);
const struct server_stats *server_stats(const server_t *s);
/* A PED-initiated link's plaintext end (outbound.c) served like a client
 * connection; label names it in logs. The server owns fd from now on. */
int server_adopt(server_t *s, int fd, const char *label);
/* Live-changeable settings (SIGHUP). */
void server_set_timeouts(server_t *s, const struct pedserver_cfg *cfg);
void server_close(server_t *s, void (*done)(void *arg), void *arg);

/* ---- the PED reserved for a resuming HSM (resume.c) ----
 * When an open session's connection breaks, the server keeps what a resume
 * needs (session/resume.h) and the relayed PED operation under way, for
 * ResumeWindow seconds; the server owns the timer and the logging. */
struct resv {
	bool on;
	struct sess_resume st;    /* the session's resumption secret and identities */
	char hsm[WIRE_STR_MAX + 1], client[WIRE_STR_MAX + 1];
	char peer[80], ip[72], since[32];
	time_t t_open, t_lost, until;
	bool password;
	/* the PED operation the session had under way (it continues) */
	bool op;
	uint8_t op_type, op_key_type;
	uint16_t op_cid, op_pid;
	char op_title[WIRE_STR_MAX + 1]; /* its title on the PED: the audit's role */
	pedhost_result_t *result; /* its result once the PED answered, for the resume */
};
/* Starts a reservation with a copy of st (wipes any previous one). */
void resv_hold(struct resv *v, const struct sess_resume *st, unsigned window_s);
/* true if v holds the secret named rid (constant time). */
bool resv_match(const struct resv *v, const uint8_t rid[SESS_RID_LEN]);
/* Keeps a copy of the operation's result (wiped on drop); PED_E_NOMEM. */
int resv_keep_result(struct resv *v, const pedhost_result_t *res);
/* Ends it, wiping the secret and any kept result. */
void resv_drop(struct resv *v);
/* "HSM 154704 at 10.0.0.7 (link lost 12 s ago, resuming; reserved until ...)" */
void resv_holder_text(const struct resv *v, char *out, size_t cap);

/* ---- session <-> PED relay codec (relay.c) ---- */
/* The orange key's one secret: RPV(32) || d_PED(66) (pedclient/hsm.h). */
#define RELAY_RPV_LEN 32
#define RELAY_RPK_SECRET_LEN (RELAY_RPV_LEN + ECP_PRIV_LEN)
/* SESS_MSG_LINK bodies (u8 type || u16 id || payload) for the client. */
int relay_encode_event(uint16_t id, const pedhost_event_t *ev, uint8_t *out, size_t cap,
		       size_t *len);
/* Every share / OTP blob is wrapped with sess_wrap. */
int relay_encode_result(sess_t *s, uint16_t id, const pedhost_result_t *res, uint8_t *out,
			size_t cap, size_t *len);
/* A SHARES payload from the client: keyset id and the unwrapped shares
 * (array of SHAMIR_MAX_N; wiped by the caller). */
int relay_decode_shares(sess_t *s, const uint8_t *p, size_t len,
			uint8_t keyset[static LINK_KEYSET_ID_LEN], shamir_share_t *shares,
			unsigned *count);
/* Recombines a READ_RPK result into the orange key's secret. */
int relay_rpk_secret(const pedhost_result_t *res, uint8_t secret[static RELAY_RPK_SECRET_LEN]);

/* ---- PED-initiated links (outbound.c) ---- */
#define OUTBOUND_STORE "appliances.list"
typedef struct outbound outbound_t;

int outbound_new(uv_loop_t *loop, server_t *srv, const char *statedir, unsigned handshake_ms,
		 outbound_t **out);
/* Admin verbs: link-connect NAME, link-disconnect NAME; show -name NAME. */
void outbound_admin(outbound_t *o, admin_reply_t *r, int argc, char **argv);
void outbound_show(outbound_t *o, admin_reply_t *r, const char *name);
/* One line per link asked for (show's block; nothing when none). */
void outbound_describe(const outbound_t *o, admin_reply_t *r);
void outbound_close(outbound_t *o, void (*done)(void *arg), void *arg);

/* ---- status report (show.c) ---- */
struct pedserver {
	prog_t *prog;
	struct pedserver_cfg *cfg;  /* effective config (prog->vals) */
	uv_loop_t loop;
	admin_server_t *admin;
	server_t *server;
	outbound_t *outbound;
	pedatt_t *ped;
	unsigned closing;           /* components still closing */
};

void pedserver_show(void *ctx, admin_reply_t *r, int argc, char **argv);

/* ---- the HSM allowlist (allow.h, allow_cmd.c) ---- */
struct allow;
/* The daemon's allowlist and policy (NULL / ALLOW_PROMPT without a server). */
struct allow *server_allow(const server_t *s);
int server_policy(const server_t *s);
/* The admin verb "hsm" and the CLI mode behind -hsm add|list|delete. */
void allow_admin(void *ctx, admin_reply_t *r, int argc, char **argv);
int allow_mode(void *ctx, const struct cli_result *r);
/* One reply line per entry. */
void allow_list_lines(const struct allow *a, admin_reply_t *r, const char *indent);
void pedserver_show_json(void *ctx, admin_reply_t *r, int argc, char **argv);

/* trail.c: the audit trail's records (common/audit.h) */
void trail_session_open(const char *peer, const char *client, const char *hsm, bool password,
			const char *ped_firmware);
void trail_session_close(const char *peer, const char *hsm, int code, time_t t_open);
/* role: as the operation's title names it (trail_role), or NULL */
const char *trail_role(const char *title);
void trail_ped_request(const char *peer, const char *hsm, uint8_t type, uint8_t key_type,
		       const char *title);
void trail_ped_result(const char *peer, const char *hsm, const pedhost_result_t *res,
		      const char *role);
void trail_key_written(const char *peer, const char *hsm, const pedhost_event_t *ev);

#endif
