/* session.h - the Remote PED session protocol between pedclient (the HSM
 * side, party U) and pedserver (the PED side, party V), without I/O.
 *
 * A sess_t is a state machine. The owner feeds it the bytes read from the
 * socket (sess_feed), takes the events it produces (sess_next), answers the
 * events that need an outside action (a PED read, the HSM's key derivation)
 * with the matching call, and writes out whatever the session queued for the
 * socket (sess_output / sess_output_done). It never blocks, never allocates
 * per byte, and owns no timer: the daemons run the deadlines and pings.
 * Wire details are in docs/PROTOCOL.md, Part 3.
 *
 * Handshake (frames of session/wire.h; every payload bounded by
 * WIRE_MAX_HELLO; T = SHA-512 transcript of every handshake payload so far,
 * in order, each prefixed with its type byte and u32be length):
 *   U -> V  HELLO        purpose SESSION (wire.h)
 *   V -> U  HELLO_ACK    busy = 1 is followed by ERROR SERVER_BUSY + close
 *   V -> U  KEX_SHARE    Qe_V(133) || Qh_V(133), in the same write as
 *                        HELLO_ACK; Qh_V is pedserver's host key
 *   U -> V  KEX_INIT     Qs_U(133) || Qe_U(133) || Proof_U(64)
 *           Proof_U = HMAC-SHA-512(Kp, "KP_U" || Ts || Qe_U), Ts = T up to
 *           KEX_SHARE, Kp = KDF(CDH(d_HSM, Qh_V), lv(SESS_PROOF_LABEL) ||
 *           lv(Qs_U) || lv(Qh_V), 64 bytes) (sess_proof_key, sess_proof):
 *           V checks it (sess_server_check_proof) before the PED is touched;
 *           then V reads the orange key on its PED (RPV and d_PED) while
 *           U, which has every input already, derives at the same time
 *   V -> U  KEX_REPLY    MacTag_V(64)
 *   U -> V  KEX_CONFIRM  MacTag_U(64)
 * Both derive with kas.h, Full Unified, SuppPubInfo = T up to and including
 * KEX_INIT (64 bytes), SuppPrivInfo = the RPV; ID_V is the PED-side key the
 * HSM stored at RPV initialization, which V rebuilds from d_PED. U checks
 * MacTag_V before it sends its own tag; a mismatch is RPV_MISMATCH on both
 * sides (U sends ERROR RPV_MISMATCH; V, seeing a bad MacTag_U, also answers
 * ERROR RPV_MISMATCH). After KEX_CONFIRM verifies at V, the session is OPEN
 * on both sides.
 *
 * Open session: every frame is WIRE_RECORD whose payload is one record of
 * crypto/chan.h; the record's plaintext is u8 sess_msg type || body:
 *   SESS_MSG_LINK        u8 link type || u16be request id || link payload
 *                        (usbped/link.h layouts). U sends PED requests, V
 *                        relays them to its PED and sends back the PED's
 *                        EVENT/RESULT/ERROR. Every CSP blob inside travels with
 *                        wrap = 1, AES-256-KWP under the sender's CWK: use
 *                        sess_wrap / sess_unwrap.
 *   SESS_MSG_PING        u64be nonce   (answered automatically with PONG)
 *   SESS_MSG_PONG        u64be nonce   (surfaces as SESS_EV_PONG)
 *   SESS_MSG_DISCONNECT  u16be code || str reason   (then both close)
 *   SESS_MSG_PED_STATE   u8 attached || str firmware (V tells U on change)
 * Any failure (bad frame, bad record, unexpected message for the state,
 * key confirmation) ends the session for good: SESS_EV_CLOSED with the code,
 * after queueing an ERROR frame for the peer where the protocol allows. */
#ifndef PED_SESSION_H
#define PED_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "session/wire.h"
#include "crypto/chan.h"
#include "crypto/ecp.h"
#include "crypto/kas.h"
#include "session/resume.h"

#define WIRE_KEX_INIT 0x10
#define WIRE_KEX_REPLY 0x11
#define WIRE_KEX_CONFIRM 0x12
#define WIRE_KEX_SHARE 0x13
#define WIRE_PAKE_A 0x14       /* password mode (Part 4): Qs_U || pA */
#define WIRE_PAKE_B 0x15       /* pB || confB */
#define WIRE_PAKE_CONFIRM 0x16 /* confA */
#define WIRE_RESUME_INIT 0x17 /* resume (Part 6): rid(32) || Qe_U(133) */
#define WIRE_RECORD 0x20

#define SESS_TRANSCRIPT_LEN 64
#define SESS_PROOF_LEN 64      /* Proof_U in KEX_INIT */
#define SESS_PROOF_KEY_LEN 64  /* Kp */
#define SESS_PROOF_LABEL "RemotePED-1 HSM key proof"
#define SESS_MSG_MAX CHAN_MAX_PLAINTEXT

enum sess_role { SESS_CLIENT = 0 /* HSM side, U */, SESS_SERVER = 1 /* PED side, V */ };

enum sess_msg {
	SESS_MSG_LINK = 1,
	SESS_MSG_PING = 2,
	SESS_MSG_PONG = 3,
	SESS_MSG_DISCONNECT = 4,
	SESS_MSG_PED_STATE = 5,
};

enum sess_state {
	SESS_ST_HELLO,      /* client: HELLO sent; server: waiting for HELLO */
	SESS_ST_KEX,        /* client: waiting for KEX_REPLY; server: for KEX_INIT */
	SESS_ST_NEED_KEYS,  /* waiting for the owner's sess_*_keys call */
	SESS_ST_CONFIRM,    /* server: waiting for KEX_CONFIRM */
	SESS_ST_OPEN,
	SESS_ST_CLOSED,
};

enum sess_event_type {
	SESS_EV_NONE = 0,
	SESS_EV_HELLO,       /* server: a HELLO arrived (ev.hello); answer with
	                      * sess_server_accept or sess_server_busy */
	SESS_EV_HELLO_ACK,   /* client: the server's HELLO_ACK (ev.ack) and, if
	                      * not busy, its KEX_SHARE (ev.peer_ephem = Qe_V,
	                      * ev.peer_static = Qh_V, ev.context = Ts); answer
	                      * with sess_client_kex_init */
	SESS_EV_KEX_INIT,    /* server: the client's keys arrived; check its key
	                      * proof (sess_server_check_proof), then read the
	                      * orange key, then sess_server_keys */
	SESS_EV_DERIVE,      /* client, right after sess_client_kex_init: derive
	                      * with the HSM (ev.peer_ephem, ev.context), then
	                      * sess_client_keys. Write out the queued KEX_INIT
	                      * first: the server works while the HSM derives. */
	SESS_EV_PAKE_A,      /* server, password mode: the client's share arrived
	                      * (ev.peer_static = Qs_U, ev.peer_ephem = pA,
	                      * ev.hello); ask the PED for the password, then
	                      * sess_server_password */
	SESS_EV_RESUME,      /* server, resume (HELLO purpose RESUME): RESUME_INIT
	                      * arrived (ev.rid, ev.hello); answer with
	                      * sess_server_resume */
	SESS_EV_OPEN,        /* key confirmation succeeded: records flow */
	SESS_EV_MESSAGE,     /* open: a SESS_MSG_LINK / PED_STATE message
	                      * (ev.msg_type, ev.body, ev.body_len; valid until
	                      * the next sess_feed or sess_next) */
	SESS_EV_PONG,        /* open: the answer to a ping (ev.nonce) */
	SESS_EV_CLOSED,      /* the session is over: ev.code (0 for a clean
	                      * DISCONNECT from the peer), ev.reason */
};

struct sess_event {
	enum sess_event_type type;
	struct wire_hello hello;
	struct wire_hello_ack ack;
	const uint8_t *peer_static, *peer_ephem; /* ECP_PUB_LEN each; server:
						  * both, client: peer_ephem */
	const uint8_t *context;                  /* SESS_TRANSCRIPT_LEN */
	uint8_t msg_type;
	const uint8_t *body;
	size_t body_len;
	uint64_t nonce;
	const uint8_t *rid;                      /* SESS_EV_RESUME: SESS_RID_LEN */
	int code;                                /* negative PED_E_* or 0 */
	char reason[WIRE_STR_MAX + 1];
};

typedef struct sess sess_t;

/* Client: queues HELLO (purpose SESSION) at once. */
int sess_client_new(const char *client_name, const char *hsm_serial, sess_t **out);
/* Client, one-time password mode (docs/PROTOCOL.md Part 4): HELLO purpose
 * PASSWORD. After SESS_EV_HELLO_ACK (ev.peer_ephem NULL) the owner calls
 * sess_client_pake with the HSM's static key and its SPAKE2 share pA; PAKE_B
 * then gives SESS_EV_DERIVE (ev.peer_ephem = pB, ev.context = T): the HSM
 * finishes SPAKE2 (session/pake.h) and hands over keys of scheme KAS_SPAKE2
 * with sess_client_keys, which checks confB before anything is sent: a
 * mismatch closes with PASSWORD_INCORRECT (ERROR sent), a match sends
 * PAKE_CONFIRM and gives SESS_EV_OPEN. */
int sess_client_new_password(const char *client_name, const char *hsm_serial, sess_t **out);
int sess_client_pake(sess_t *s, const uint8_t qs_u[static ECP_PUB_LEN],
		     const uint8_t pa[static ECP_PUB_LEN]);
/* 1 for a session opened (or opening) in password mode. */
int sess_is_password(const sess_t *s);
/* The server name of the HELLO_ACK (client: received; server: sent). */
const char *sess_server_name(const sess_t *s);
/* Server, after SESS_EV_PAKE_A: the password the key holder typed on the PED
 * (8 ASCII digits). Runs SPAKE2's side B, queues PAKE_B; PAKE_CONFIRM then
 * opens the session, or closes it with PASSWORD_INCORRECT. Nothing of the
 * password is kept. */
int sess_server_password(sess_t *s, const char *pw, size_t pw_len);
/* Server: waits for HELLO. */
int sess_server_new(sess_t **out);
/* Wipes every key and buffer. NULL is a no-op. */
void sess_free(sess_t *s);

enum sess_state sess_state(const sess_t *s);

/* Appends n bytes read from the socket. Bounded: returns PED_E_TOO_LONG (and
 * closes) if the peer sends more than one maximal frame ahead of the owner
 * taking events. An owner that feeds at most SESS_FEED_MAX bytes at a time
 * and calls sess_next until SESS_EV_NONE before feeding again never sees it.
 * Once closed, the session drops what it is fed. */
#define SESS_FEED_MAX (WIRE_HDR_LEN + CHAN_MAX_RECORD)
int sess_feed(sess_t *s, const uint8_t *data, size_t n);
/* The next event, or SESS_EV_NONE when more bytes are needed. Returns 0
 * (PED_E_INVAL for NULL arguments). Every session ends with exactly one
 * SESS_EV_CLOSED, also when the owner's own call closed it (busy, disconnect,
 * RPV mismatch); after it, only SESS_EV_NONE. */
int sess_next(sess_t *s, struct sess_event *ev);

/* Bytes queued for the socket: *data and *len (len 0 if none). After writing
 * them (or a prefix), call sess_output_done with the count written. */
void sess_output(const sess_t *s, const uint8_t **data, size_t *len);
void sess_output_done(sess_t *s, size_t written);

/* Server, after SESS_EV_HELLO: accept (queues HELLO_ACK filled from ack,
 * version chosen by the session, then KEX_SHARE) or refuse as busy (queues
 * HELLO_ACK with busy = 1 and holder, then ERROR SERVER_BUSY; the session
 * closes). ephem is V's ephemeral key made ahead, off the handshake's path
 * (accept takes it and frees it, also on failure), or NULL to make one now;
 * a probe's HELLO gets no KEX_SHARE and frees it. */
int sess_server_accept(sess_t *s, const struct wire_hello_ack *ack, ecp_key_t *ephem,
		       const uint8_t host_pub[static ECP_PUB_LEN]);
int sess_server_busy(sess_t *s, const struct wire_hello_ack *ack);
/* The key proof (KEX_INIT, docs/PROTOCOL.md §3.4): Kp from a CDH of one
 * side's static private key with the other's static public key (the HSM:
 * d_HSM and Qh_V; pedserver: its host key and Qs_U), then Proof_U. */
int sess_proof_key(const ecp_key_t *own_static, const ecp_key_t *peer_static,
		   const uint8_t qs_u[static ECP_PUB_LEN], const uint8_t qh_v[static ECP_PUB_LEN],
		   uint8_t kp[static SESS_PROOF_KEY_LEN]);
int sess_proof(const uint8_t kp[static SESS_PROOF_KEY_LEN],
	       const uint8_t ts[static SESS_TRANSCRIPT_LEN], const uint8_t qe_u[static ECP_PUB_LEN],
	       uint8_t proof[static SESS_PROOF_LEN]);
/* Server, after SESS_EV_KEX_INIT, before anything touches the PED: Kp for
 * the client's Qs_U (ev.peer_static). A wrong proof closes the session with
 * HSM_KEY_PROOF_FAILED (ERROR sent); sess_server_keys needs a passed one. */
int sess_server_check_proof(sess_t *s, const uint8_t kp[static SESS_PROOF_KEY_LEN]);
/* Server, after SESS_EV_KEX_INIT: the orange key's secret is RPV (rpv_len
 * bytes) and the PED-side static key ped_static (with its private scalar).
 * Derives, queues KEX_REPLY. Nothing of rpv is kept beyond the derivation. */
int sess_server_keys(sess_t *s, const uint8_t *rpv, size_t rpv_len,
		     const ecp_key_t *ped_static);

/* Client, after SESS_EV_HELLO_ACK (not busy): queues KEX_INIT with the HSM's
 * static and ephemeral public keys (the HSM keeps the private halves); the
 * next event is SESS_EV_DERIVE. */
int sess_client_kex_init(sess_t *s, const uint8_t qs_u[static ECP_PUB_LEN],
			 const uint8_t qe_u[static ECP_PUB_LEN],
			 const uint8_t proof[static SESS_PROOF_LEN]);
/* Client, after SESS_EV_DERIVE: the keys the HSM derived (role U), copied
 * into the session and wiped in *k. KEX_REPLY then brings MacTag_V: a
 * mismatch closes with RPV_MISMATCH (ERROR sent), a match queues KEX_CONFIRM
 * and gives SESS_EV_OPEN. */
int sess_client_keys(sess_t *s, kas_keys_t *k);

/* Resumption (docs/PROTOCOL.md Part 6, session/resume.h).
 * Client: a session that takes up the one st describes (copied) on a new
 * connection: HELLO purpose RESUME; after SESS_EV_HELLO_ACK the owner calls
 * sess_client_resume, which checks that the server's host key is the one of
 * the session (else RESUME_WRONG_SERVER), makes a fresh ephemeral key, queues
 * RESUME_INIT and derives; KEX_REPLY / KEX_CONFIRM then open it as in a full
 * handshake (a wrong tag is RESUME_REFUSED). */
int sess_client_new_resume(const char *client_name, const char *hsm_serial,
			   const struct sess_resume *st, sess_t **out);
int sess_client_resume(sess_t *s);
/* 1 for a session opened (or opening) by a resume. */
int sess_is_resume(const sess_t *s);
/* Server, after SESS_EV_RESUME: st is the state whose rid the owner found
 * for ev.rid, or NULL when it has none (closes with RESUME_UNKNOWN, ERROR
 * sent). Derives and queues KEX_REPLY; KEX_CONFIRM then opens, or closes
 * with RESUME_REFUSED. st is not changed: the owner drops it on open. */
int sess_server_resume(sess_t *s, const struct sess_resume *st);
/* Either side, once the session has opened (also after it closed): the
 * state for the next resume, with this session's resumption secret.
 * PED_E_NOT_FOUND for a session that has none (password mode, not opened). */
int sess_resume_export(const sess_t *s, struct sess_resume *out);

/* Open session: queue one message (SESS_MSG_*), sealed in a record. */
int sess_send(sess_t *s, uint8_t msg_type, const uint8_t *body, size_t len);
int sess_ping(sess_t *s, uint64_t nonce);
/* Queues DISCONNECT (code, reason) and closes; code is 0 (clean) or a
 * negative PED_E_*, which the peer sees as its ev.code. Before the session is
 * open it queues ERROR (code, or DISCONNECTED for 0) instead, e.g. on the
 * handshake deadline: sess_disconnect(s, PED_E_HANDSHAKE_TIMEOUT, ...). */
int sess_disconnect(sess_t *s, int code, const char *reason);
/* CSP wrapping with this side's sending CWK / unwrapping with the peer's. */
int sess_wrap(sess_t *s, const uint8_t *csp, size_t len, uint8_t *out, size_t cap,
	      size_t *outlen);
int sess_unwrap(sess_t *s, const uint8_t *in, size_t len, uint8_t *out, size_t cap,
		size_t *outlen);

#endif
