/* remote.h - one slot's Remote PED session with a pedserver (`ped
 * connect`): TCP, the session protocol of session/session.h with the slot's
 * HSM as party U (its static key and ephemeral stay inside the HSM:
 * hsm_chan_ephemeral, hsm_channel_keys with the stored RPV and PED key),
 * then PED operations carried as SESS_MSG_LINK messages (CSP blobs wrapped
 * with the session's CWK), keep-alive pings and the idle timeout.
 *
 * Deadlines (each a uv_timer): the handshake (connect to OPEN) must finish
 * within the handshake deadline, except for the time the PED waits for the
 * orange key (the server answers KEX_REPLY once the key holder is done: that
 * wait is bounded by the PED timeout); a write may take SocketWriteTimeout; a
 * ping unanswered for PingTimeout drops the session; no PED operation for
 * IdleTimeout closes it (0: never). */
#ifndef PEDCLIENT_REMOTE_H
#define PEDCLIENT_REMOTE_H

#include <uv.h>

#include "session/wire.h"
#include "pedclient/hsm.h"
#include "pedclient/pedport.h"

#define REMOTE_HANDSHAKE_MS 5000u

typedef struct remote remote_t;

struct remote_opts {
	const char *host;          /* name or address */
	int port;
	const char *client_name;   /* our host name (HELLO) */
	const char *serial;        /* the slot's HSM serial (HELLO) */
	unsigned handshake_ms;     /* 0: REMOTE_HANDSHAKE_MS */
	unsigned ped_timeout_ms;   /* the orange-key wait (0: LINK_DEFAULT_TIMEOUT_MS) */
	unsigned write_timeout_ms;
	unsigned ping_interval_ms;
	unsigned ping_timeout_ms;
	unsigned idle_timeout_ms;  /* 0: none */
	/* one-time password mode (docs/PROTOCOL.md Part 4): the 8 digits the
	 * console shows, copied and wiped once the HSM has made its share; NULL
	 * for the normal mode with the orange key */
	const char *password;
	/* PED-initiated mode (docs/PROTOCOL.md Part 5): the plaintext end of a
	 * connected TLS link (pedclient/inbound.h) instead of host and port;
	 * the session takes link_fd (closed on every path). NULL: dial. */
	const char *link_name;
	int link_fd;
	/* session resumption (docs/PROTOCOL.md Part 6): when the connection of
	 * an open session breaks, reconnect with back-off and resume without the
	 * orange key for up to this long; 0: no resumption */
	unsigned resume_window_ms;
};

struct remote_cbs {
	/* KEX_INIT (PAKE_A) is out: the PED now asks for the orange key (the
	 * password). */
	void (*on_attend)(void *arg);
	/* The connect ended: err 0 (open) or why not, with a message. */
	void (*on_connected)(void *arg, int err, const char *msg);
	/* An open session ended (err 0: we disconnected); the handle is freed
	 * after this call. Also the end of a connect that failed (after
	 * on_connected). */
	void (*on_closed)(void *arg, int err, const char *msg);
	/* The link broke and the session is resuming, or it resumed: a line
	 * for the console ("Network lost ... resuming...", "Resumed ... after
	 * 3.2 s."). May be NULL. */
	void (*on_link)(void *arg, const char *msg);
};

int remote_connect(uv_loop_t *loop, hsm_t *hsm, const struct remote_opts *o,
		   const struct remote_cbs *cbs, void *arg, remote_t **out);
int remote_is_open(const remote_t *r);
/* 1 while a broken link is being resumed (PED operations wait). */
int remote_is_resuming(const remote_t *r);
/* 1 for a session opened with a one-time password (RPV initialization only). */
int remote_is_password(const remote_t *r);
/* PED operations, as lped.h. */
int remote_start(remote_t *r, const struct pedreq *req, const struct pedport_owner *owner);
int remote_send_shares(remote_t *r, const uint8_t keyset[LINK_KEYSET_ID_LEN],
		       const shamir_share_t *shares, unsigned count);
void remote_cancel(remote_t *r);
/* Sends DISCONNECT (when open) and closes; on_closed(err 0) follows. A
 * running operation ends with PED_E_DISCONNECTED. */
void remote_disconnect(remote_t *r, const char *reason);
/* Status lines for `ped show` (fn per line). */
void remote_describe(const remote_t *r, void (*fn)(void *arg, const char *line), void *arg);
/* "host:port" */
const char *remote_where(const remote_t *r);

#endif
