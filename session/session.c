/* session.c - the Remote PED session protocol state machine, without I/O
 * (see session.h; the wire format is docs/PROTOCOL.md, Part 3).
 *
 * Bytes from the peer land in one fixed input buffer; sess_next takes one
 * frame at a time from it, checks it in a fixed order (version, length cap
 * for the state, type expected in the state, payload in a sub-buffer, nothing
 * trailing) and hands it to the one function for that state transition.
 * Bytes for the peer go to one owned, capped output buffer. */
#include "session.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/buf.h"
#include "common/err.h"
#include "crypto/kdf.h"
#include "session/pake.h"
#include "usbped/link.h"

#define SESS_MIN_VERSION WIRE_VERSION
#define SESS_MAX_VERSION WIRE_VERSION
#define KEX_INIT_LEN (2 * ECP_PUB_LEN + SESS_PROOF_LEN)
#define KEX_SHARE_LEN (2 * ECP_PUB_LEN)
#define KEX_REPLY_LEN KAS_TAG_LEN
#define KEX_CONFIRM_LEN KAS_TAG_LEN
#define PAKE_A_LEN (ECP_PUB_LEN + PAKE_PT_LEN)
#define PAKE_B_LEN (PAKE_PT_LEN + PAKE_CONF_LEN)
#define PAKE_CONFIRM_LEN PAKE_CONF_LEN
#define RESUME_INIT_LEN (SESS_RID_LEN + ECP_PUB_LEN)
#define TR_ENTRY_HDR 5 /* u8 type || u32be length */
#define TR_MAX                                                                 \
	(2 * (TR_ENTRY_HDR + WIRE_MAX_HELLO) + 2 * TR_ENTRY_HDR + KEX_SHARE_LEN +      \
	 KEX_INIT_LEN)
#define FRAME_MAX (WIRE_HDR_LEN + CHAN_MAX_RECORD)
#define IN_CAP (2 * SESS_FEED_MAX)
#define OUT_MAX (16 * FRAME_MAX)

/* Internal states: finer than enum sess_state, one per thing awaited. */
enum st {
	C_HELLO,     /* client: HELLO sent, waiting for HELLO_ACK */
	C_SHARE,     /* client: waiting for KEX_SHARE */
	C_ACKED,     /* client: waiting for the owner's sess_client_kex_init */
	C_KEYS,      /* client: waiting for sess_client_keys */
	C_KEX,       /* client: waiting for KEX_REPLY */
	C_PW_ACKED,  /* client, password: waiting for sess_client_pake */
	C_PW_B,      /* client, password: waiting for PAKE_B */
	C_PW_KEYS,   /* client, password: waiting for sess_client_keys */
	S_HELLO,     /* server: waiting for HELLO */
	S_ANSWER,    /* server: waiting for sess_server_accept / _busy */
	S_KEX,       /* server: waiting for KEX_INIT */
	S_KEYS,      /* server: waiting for sess_server_keys */
	S_CONFIRM,   /* server: waiting for KEX_CONFIRM */
	S_PW_A,      /* server, password: waiting for PAKE_A */
	S_PW_NEED,   /* server, password: waiting for sess_server_password */
	S_PW_CONFIRM, /* server, password: waiting for PAKE_CONFIRM */
	S_RS_INIT,   /* server, resume: waiting for RESUME_INIT */
	S_RS_NEED,   /* server, resume: waiting for sess_server_resume */
	ST_OPEN,
	ST_CLOSED,
	ST_COUNT
};

struct sess {
	enum sess_role role;
	enum st st;
	uint8_t in[IN_CAP];
	size_t in_off, in_len;
	pbuf_t out;

	uint8_t tr[TR_MAX]; /* handshake transcript, hashed into T */
	size_t tr_len;
	uint8_t T[SESS_TRANSCRIPT_LEN];
	uint8_t Ts[SESS_TRANSCRIPT_LEN];  /* T up to KEX_SHARE: the key proof's */
	uint8_t peer_qh[ECP_PUB_LEN];     /* client: the server's host key */
	uint8_t proof[SESS_PROOF_LEN];    /* server: the client's key proof */
	int proof_ok;                     /* server: sess_server_check_proof passed */

	uint8_t peer_qs[ECP_PUB_LEN], peer_qe[ECP_PUB_LEN];
	ecp_key_t *peer_s, *peer_e;       /* server: the client's keys */
	ecp_key_t *own_e;                 /* server: Qe_V, from KEX_SHARE to KEX_REPLY */
	kas_keys_t keys;                  /* until the peer's tag: server between
					   * KEX_REPLY and KEX_CONFIRM, client between
					   * sess_client_keys and KEX_REPLY */
	chan_t *chan;

	struct wire_hello hello;          /* server: the client's HELLO; client: its own */
	struct wire_hello_ack ack;        /* client: the server's, until KEX_SHARE;
					   * server: the one it sent */
	uint8_t peer_conf[KAS_TAG_LEN];   /* client, password: confB of PAKE_B */
	uint8_t pake_peer[PAKE_PT_LEN];   /* password: pA (server) or pB (client) */
	int pending_derive;               /* client: SESS_EV_DERIVE not yet given */
	int pending_open;                 /* client, password: SESS_EV_OPEN not yet given */
	/* resumption (Part 6) */
	uint8_t id_u[ECP_PUB_LEN], id_v[ECP_PUB_LEN]; /* Qs_U, Qh_V of this session */
	uint8_t rid[SESS_RID_LEN];        /* server: RESUME_INIT's */
	struct sess_resume rsm;           /* client resuming: the state it takes up;
					   * once open: this session's next one */
	int resuming, has_rs;
	int closed_reported;
	int close_code;
	char close_reason[WIRE_STR_MAX + 1];

	uint8_t pt[CHAN_MAX_PLAINTEXT];   /* last opened record (ev.body) */
	size_t pt_len;
	uint8_t spt[CHAN_MAX_PLAINTEXT];  /* plaintext being sealed */
};

typedef int (*frame_fn)(sess_t *s, const uint8_t *p, size_t n, struct sess_event *ev);

static int on_hello(sess_t *s, const uint8_t *p, size_t n, struct sess_event *ev);
static int on_hello_ack(sess_t *s, const uint8_t *p, size_t n, struct sess_event *ev);
static int on_kex_share(sess_t *s, const uint8_t *p, size_t n, struct sess_event *ev);
static int on_kex_init(sess_t *s, const uint8_t *p, size_t n, struct sess_event *ev);
static int on_kex_reply(sess_t *s, const uint8_t *p, size_t n, struct sess_event *ev);
static int on_kex_confirm(sess_t *s, const uint8_t *p, size_t n, struct sess_event *ev);
static int on_record(sess_t *s, const uint8_t *p, size_t n, struct sess_event *ev);
static int on_pake_a(sess_t *s, const uint8_t *p, size_t n, struct sess_event *ev);
static int on_pake_b(sess_t *s, const uint8_t *p, size_t n, struct sess_event *ev);
static int on_pake_confirm(sess_t *s, const uint8_t *p, size_t n, struct sess_event *ev);
static int on_resume_init(sess_t *s, const uint8_t *p, size_t n, struct sess_event *ev);

/* What each state accepts besides ERROR (type 0: nothing), and the length cap. */
static const struct state_rule {
	enum sess_state pub;
	uint8_t type;
	frame_fn fn;
	size_t max_len;
} rules[ST_COUNT] = {
	[C_HELLO] = {SESS_ST_HELLO, WIRE_HELLO_ACK, on_hello_ack, WIRE_MAX_HELLO},
	[C_SHARE] = {SESS_ST_HELLO, WIRE_KEX_SHARE, on_kex_share, WIRE_MAX_HELLO},
	[C_ACKED] = {SESS_ST_HELLO, 0, NULL, WIRE_MAX_HELLO},
	[C_KEYS] = {SESS_ST_NEED_KEYS, 0, NULL, WIRE_MAX_HELLO},
	[C_KEX] = {SESS_ST_KEX, WIRE_KEX_REPLY, on_kex_reply, WIRE_MAX_HELLO},
	[C_PW_ACKED] = {SESS_ST_HELLO, 0, NULL, WIRE_MAX_HELLO},
	[C_PW_B] = {SESS_ST_KEX, WIRE_PAKE_B, on_pake_b, WIRE_MAX_HELLO},
	[C_PW_KEYS] = {SESS_ST_NEED_KEYS, 0, NULL, WIRE_MAX_HELLO},
	[S_HELLO] = {SESS_ST_HELLO, WIRE_HELLO, on_hello, WIRE_MAX_HELLO},
	[S_ANSWER] = {SESS_ST_HELLO, 0, NULL, WIRE_MAX_HELLO},
	[S_KEX] = {SESS_ST_KEX, WIRE_KEX_INIT, on_kex_init, WIRE_MAX_HELLO},
	[S_KEYS] = {SESS_ST_NEED_KEYS, 0, NULL, WIRE_MAX_HELLO},
	[S_CONFIRM] = {SESS_ST_CONFIRM, WIRE_KEX_CONFIRM, on_kex_confirm, WIRE_MAX_HELLO},
	[S_PW_A] = {SESS_ST_KEX, WIRE_PAKE_A, on_pake_a, WIRE_MAX_HELLO},
	[S_PW_NEED] = {SESS_ST_NEED_KEYS, 0, NULL, WIRE_MAX_HELLO},
	[S_PW_CONFIRM] = {SESS_ST_CONFIRM, WIRE_PAKE_CONFIRM, on_pake_confirm, WIRE_MAX_HELLO},
	[S_RS_INIT] = {SESS_ST_KEX, WIRE_RESUME_INIT, on_resume_init, WIRE_MAX_HELLO},
	[S_RS_NEED] = {SESS_ST_NEED_KEYS, 0, NULL, WIRE_MAX_HELLO},
	[ST_OPEN] = {SESS_ST_OPEN, WIRE_RECORD, on_record, CHAN_MAX_RECORD},
	[ST_CLOSED] = {SESS_ST_CLOSED, 0, NULL, 0},
};

/* ---- output ------------------------------------------------------------ */

static int queue_frame(sess_t *s, uint8_t type, const uint8_t *p, size_t n)
{
	pbuf_compact(&s->out);
	return wire_frame(&s->out, type, p, n);
}

/* Seals u8 type || body into one WIRE_RECORD frame on the output. */
static int queue_record(sess_t *s, uint8_t type, const uint8_t *body, size_t n)
{
	size_t reclen = 1 + n + CHAN_OVERHEAD, got = 0;
	uint8_t *p;
	int r;

	if (s->chan == NULL)
		return PED_E_CHAN_DEAD;
	if (n > SESS_MSG_MAX - 1)
		return PED_E_TOO_LONG;
	pbuf_compact(&s->out);
	if ((r = pbuf_reserve(&s->out, WIRE_HDR_LEN + reclen, &p)) != 0)
		return r;
	s->spt[0] = type;
	if (n > 0)
		memcpy(s->spt + 1, body, n);
	r = chan_seal(s->chan, s->spt, 1 + n, p + WIRE_HDR_LEN, reclen, &got);
	OPENSSL_cleanse(s->spt, 1 + n);
	if (r != 0 || got != reclen) {
		s->out.len -= WIRE_HDR_LEN + reclen; /* take the reservation back */
		return r != 0 ? r : PED_E_INTERNAL;
	}
	p[0] = WIRE_VERSION;
	p[1] = WIRE_RECORD;
	pbuf_be32(p + 2, (uint32_t)reclen);
	return 0;
}

static void copy_reason(char out[static WIRE_STR_MAX + 1], const char *in)
{
	size_t i = 0;

	for (; in != NULL && in[i] != '\0' && i < WIRE_STR_MAX; i++)
		out[i] = (in[i] >= 0x20 && in[i] <= 0x7e) ? in[i] : '?';
	out[i] = '\0';
}

/* ERROR frame before the channel exists (or once it is dead); DISCONNECT in
 * a record while it lives. Best effort: a full output queue drops it. */
static void tell_peer(sess_t *s, int code, const char *reason)
{
	uint8_t mem[2 + 1 + WIRE_STR_MAX];
	struct wire_error e = {.code = (uint16_t)(code < 0 ? -code : code)};
	pbuf_t b;

	copy_reason(e.message, reason);
	pbuf_over(&b, mem, sizeof(mem));
	if (s->st == ST_OPEN && s->chan != NULL && !chan_is_dead(s->chan)) {
		if (pbuf_put_u16(&b, e.code) == 0 && wire_put_str(&b, e.message) == 0)
			(void)queue_record(s, SESS_MSG_DISCONNECT, b.data, b.len);
		return;
	}
	if (e.code == 0)
		e.code = (uint16_t)-PED_E_DISCONNECTED;
	if (wire_error_encode(&e, &b) == 0)
		(void)queue_frame(s, WIRE_ERROR, b.data, b.len);
}

/* ---- closing ----------------------------------------------------------- */

/* At open: the resumption secret of the keys, for sess_resume_export. */
static void keep_rs(sess_t *s)
{
	if (s->keys.has_rs && resume_state(s->keys.rs, s->id_u, s->id_v, &s->rsm) == 0)
		s->has_rs = 1;
	else
		resume_wipe(&s->rsm);
}

static void wipe_handshake(sess_t *s)
{
	ecp_free(s->peer_s);
	ecp_free(s->peer_e);
	ecp_free(s->own_e);
	s->peer_s = s->peer_e = s->own_e = NULL;
	kas_keys_wipe(&s->keys);
	OPENSSL_cleanse(s->peer_conf, sizeof(s->peer_conf));
	OPENSSL_cleanse(s->pake_peer, sizeof(s->pake_peer));
	OPENSSL_cleanse(s->tr, sizeof(s->tr));
	OPENSSL_cleanse(s->T, sizeof(s->T));
	OPENSSL_cleanse(s->Ts, sizeof(s->Ts));
	OPENSSL_cleanse(s->proof, sizeof(s->proof));
	s->tr_len = 0;
}

/* Ends the session for good; tell = 1 queues ERROR / DISCONNECT for the peer.
 * The event SESS_EV_CLOSED follows from sess_next (once). Returns code. */
static int sess_close(sess_t *s, int code, const char *reason, int tell)
{
	if (s->st == ST_CLOSED)
		return code;
	if (reason == NULL)
		reason = code != 0 ? ped_strerror(code) : "";
	if (tell)
		tell_peer(s, code, reason);
	s->st = ST_CLOSED;
	s->close_code = code;
	copy_reason(s->close_reason, reason);
	s->pending_derive = s->pending_open = 0;
	chan_free(s->chan);
	s->chan = NULL;
	wipe_handshake(s);
	OPENSSL_cleanse(s->in, sizeof(s->in));
	s->in_off = s->in_len = 0;
	return code;
}

/* A record the channel could not open: the channel is dead, so the peer
 * learns it from a plain ERROR frame. */
static int record_failed(sess_t *s, int code)
{
	chan_free(s->chan);
	s->chan = NULL;
	return sess_close(s, code, NULL, 1);
}

/* ---- handshake --------------------------------------------------------- */

static int tr_add(sess_t *s, uint8_t type, const uint8_t *p, size_t n)
{
	if (n > TR_MAX - TR_ENTRY_HDR - s->tr_len)
		return PED_E_INTERNAL;
	s->tr[s->tr_len] = type;
	pbuf_be32(s->tr + s->tr_len + 1, (uint32_t)n);
	memcpy(s->tr + s->tr_len + TR_ENTRY_HDR, p, n);
	s->tr_len += TR_ENTRY_HDR + n;
	return 0;
}

static int tr_hash_to(const sess_t *s, uint8_t out[SESS_TRANSCRIPT_LEN])
{
	unsigned int n = 0;

	if (EVP_Digest(s->tr, s->tr_len, out, &n, EVP_sha512(), NULL) != 1 ||
	    n != SESS_TRANSCRIPT_LEN)
		return PED_E_CRYPTO;
	return 0;
}

static int tr_hash(sess_t *s)
{
	return tr_hash_to(s, s->T);
}

/* Queues a handshake frame and adds it to the transcript. */
static int queue_hs(sess_t *s, uint8_t type, const uint8_t *p, size_t n)
{
	int r = tr_add(s, type, p, n);
	if (r == 0)
		r = queue_frame(s, type, p, n);
	return r;
}

static int import_pair(const uint8_t *p, ecp_key_t **qs, ecp_key_t **qe)
{
	int r = ecp_import_public(p, ECP_PUB_LEN, qs);
	if (r == 0)
		r = ecp_import_public(p + ECP_PUB_LEN, ECP_PUB_LEN, qe);
	return r != 0 ? PED_E_BAD_KEY : 0;
}

static int on_hello(sess_t *s, const uint8_t *p, size_t n, struct sess_event *ev)
{
	if (wire_hello_decode(p, n, &s->hello) != 0)
		return sess_close(s, PED_E_PARSE, "malformed HELLO", 1);
	if (tr_add(s, WIRE_HELLO, p, n) != 0)
		return sess_close(s, PED_E_INTERNAL, NULL, 1);
	s->st = S_ANSWER;
	ev->type = SESS_EV_HELLO;
	ev->hello = s->hello;
	return 0;
}

static int on_hello_ack(sess_t *s, const uint8_t *p, size_t n, struct sess_event *ev)
{
	struct wire_hello_ack a;

	if (wire_hello_ack_decode(p, n, &a) != 0)
		return sess_close(s, PED_E_PARSE, "malformed HELLO_ACK", 1);
	if (a.version < SESS_MIN_VERSION || a.version > SESS_MAX_VERSION)
		return sess_close(s, PED_E_VERSION, NULL, 1);
	if (tr_add(s, WIRE_HELLO_ACK, p, n) != 0)
		return sess_close(s, PED_E_INTERNAL, NULL, 1);
	if (!a.busy && s->hello.purpose == WIRE_PURPOSE_PASSWORD) {
		s->ack = a; /* no KEX_SHARE: the owner sends PAKE_A now */
		s->st = C_PW_ACKED;
		ev->type = SESS_EV_HELLO_ACK;
		ev->ack = a;
		return 0;
	}
	if (!a.busy) { /* the owner hears of it with the KEX_SHARE */
		s->ack = a;
		s->st = C_SHARE;
		return 0;
	}
	ev->type = SESS_EV_HELLO_ACK;
	ev->ack = a;
	/* the ERROR SERVER_BUSY that follows adds nothing */
	sess_close(s, PED_E_SERVER_BUSY, a.holder[0] ? a.holder : NULL, 0);
	return 0;
}

/* Qe_V || Qh_V: both validated (the HSM imports them again). */
static int on_kex_share(sess_t *s, const uint8_t *p, size_t n, struct sess_event *ev)
{
	ecp_key_t *qe = NULL, *qh = NULL;
	int r;

	if (n != KEX_SHARE_LEN)
		return sess_close(s, PED_E_PARSE, "KEX_SHARE of the wrong length", 1);
	r = import_pair(p, &qe, &qh);
	ecp_free(qe);
	ecp_free(qh);
	if (r != 0 || (r = tr_add(s, WIRE_KEX_SHARE, p, n)) != 0 || (r = tr_hash_to(s, s->Ts)) != 0)
		return sess_close(s, r, NULL, 1);
	memcpy(s->peer_qe, p, ECP_PUB_LEN);
	memcpy(s->peer_qh, p + ECP_PUB_LEN, ECP_PUB_LEN);
	s->st = C_ACKED;
	ev->type = SESS_EV_HELLO_ACK;
	ev->ack = s->ack;
	ev->peer_ephem = s->peer_qe;
	ev->peer_static = s->peer_qh;
	ev->context = s->Ts;
	return 0;
}

static int on_kex_init(sess_t *s, const uint8_t *p, size_t n, struct sess_event *ev)
{
	int r;

	if (n != KEX_INIT_LEN)
		return sess_close(s, PED_E_PARSE, "KEX_INIT of the wrong length", 1);
	if ((r = import_pair(p, &s->peer_s, &s->peer_e)) != 0)
		return sess_close(s, r, NULL, 1);
	if ((r = tr_add(s, WIRE_KEX_INIT, p, n)) != 0 || (r = tr_hash(s)) != 0)
		return sess_close(s, r, NULL, 1);
	memcpy(s->peer_qs, p, ECP_PUB_LEN);
	memcpy(s->id_u, p, ECP_PUB_LEN);
	memcpy(s->peer_qe, p + ECP_PUB_LEN, ECP_PUB_LEN);
	memcpy(s->proof, p + 2 * ECP_PUB_LEN, SESS_PROOF_LEN);
	s->proof_ok = 0;
	s->st = S_KEYS;
	ev->type = SESS_EV_KEX_INIT;
	ev->peer_static = s->peer_qs;
	ev->peer_ephem = s->peer_qe;
	ev->context = s->T;
	return 0;
}

/* MacTag_V: checked against the keys the owner gave; a match confirms V
 * and opens the session after queueing MacTag_U. */
static int on_kex_reply(sess_t *s, const uint8_t *p, size_t n, struct sess_event *ev)
{
	int r;

	if (n != KEX_REPLY_LEN)
		return sess_close(s, PED_E_PARSE, "KEX_REPLY of the wrong length", 1);
	if (kas_check_tag(&s->keys, p) != 0)
		return sess_close(s, s->resuming ? PED_E_RESUME_REFUSED : PED_E_RPV_MISMATCH, NULL, 1);
	if ((r = queue_frame(s, WIRE_KEX_CONFIRM, s->keys.own_tag, KAS_TAG_LEN)) != 0 ||
	    (r = chan_new(&s->keys, &s->chan)) != 0)
		return sess_close(s, r, NULL, 1);
	keep_rs(s);
	wipe_handshake(s);
	s->st = ST_OPEN;
	ev->type = SESS_EV_OPEN;
	return 0;
}

/* V: the client's tag (MacTag_U or confA) checked, then open; a mismatch
 * is bad_tag (RPV_MISMATCH or PASSWORD_INCORRECT), sent to the peer. */
static int confirm_open(sess_t *s, const uint8_t *p, size_t n, size_t want, int bad_tag,
			struct sess_event *ev)
{
	int r;

	if (n != want)
		return sess_close(s, PED_E_PARSE, "key confirmation of the wrong length", 1);
	if (kas_check_tag(&s->keys, p) != 0)
		return sess_close(s, s->resuming ? PED_E_RESUME_REFUSED : bad_tag, NULL, 1);
	r = chan_new(&s->keys, &s->chan);
	if (r == 0)
		keep_rs(s);
	wipe_handshake(s);
	if (r != 0)
		return sess_close(s, r, NULL, 1);
	s->st = ST_OPEN;
	ev->type = SESS_EV_OPEN;
	return 0;
}

static int on_kex_confirm(sess_t *s, const uint8_t *p, size_t n, struct sess_event *ev)
{
	return confirm_open(s, p, n, KEX_CONFIRM_LEN, PED_E_RPV_MISMATCH, ev);
}

/* ---- resumption (Part 6) ------------------------------------------------ */

/* Server: rid || Qe_U. The point is validated; T covers HELLO, HELLO_ACK,
 * KEX_SHARE and this frame; the owner then looks rid up. */
static int on_resume_init(sess_t *s, const uint8_t *p, size_t n, struct sess_event *ev)
{
	int r;

	if (n != RESUME_INIT_LEN)
		return sess_close(s, PED_E_PARSE, "RESUME_INIT of the wrong length", 1);
	if (ecp_import_public(p + SESS_RID_LEN, ECP_PUB_LEN, &s->peer_e) != 0)
		return sess_close(s, PED_E_BAD_KEY, NULL, 1);
	if ((r = tr_add(s, WIRE_RESUME_INIT, p, n)) != 0 || (r = tr_hash(s)) != 0)
		return sess_close(s, r, NULL, 1);
	memcpy(s->rid, p, SESS_RID_LEN);
	memcpy(s->peer_qe, p + SESS_RID_LEN, ECP_PUB_LEN);
	s->st = S_RS_NEED;
	ev->type = SESS_EV_RESUME;
	ev->rid = s->rid;
	ev->hello = s->hello;
	return 0;
}

/* ---- the password mode (Part 4) ----------------------------------------- */

/* Server: Qs_U || pA. Both points validated; T covers HELLO, HELLO_ACK and
 * this frame; the owner then asks its PED for the password. */
static int on_pake_a(sess_t *s, const uint8_t *p, size_t n, struct sess_event *ev)
{
	int r;

	if (n != PAKE_A_LEN)
		return sess_close(s, PED_E_PARSE, "PAKE_A of the wrong length", 1);
	if ((r = import_pair(p, &s->peer_s, &s->peer_e)) != 0)
		return sess_close(s, r, NULL, 1);
	if ((r = tr_add(s, WIRE_PAKE_A, p, n)) != 0 || (r = tr_hash(s)) != 0)
		return sess_close(s, r, NULL, 1);
	memcpy(s->peer_qs, p, ECP_PUB_LEN);
	memcpy(s->pake_peer, p + ECP_PUB_LEN, PAKE_PT_LEN);
	s->st = S_PW_NEED;
	ev->type = SESS_EV_PAKE_A;
	ev->hello = s->hello;
	ev->peer_static = s->peer_qs;
	ev->peer_ephem = s->pake_peer;
	ev->context = s->T;
	return 0;
}

/* Client: pB || confB. pB validated here; confB is checked against the keys
 * the HSM derives (sess_client_keys), before anything else is sent. */
static int on_pake_b(sess_t *s, const uint8_t *p, size_t n, struct sess_event *ev)
{
	ecp_key_t *k = NULL;
	int r;

	if (n != PAKE_B_LEN)
		return sess_close(s, PED_E_PARSE, "PAKE_B of the wrong length", 1);
	r = ecp_import_public(p, PAKE_PT_LEN, &k) != 0 ? PED_E_BAD_KEY : 0;
	ecp_free(k);
	if (r != 0)
		return sess_close(s, r, NULL, 1);
	memcpy(s->pake_peer, p, PAKE_PT_LEN);
	memcpy(s->peer_conf, p + PAKE_PT_LEN, PAKE_CONF_LEN);
	s->st = C_PW_KEYS;
	ev->type = SESS_EV_DERIVE;
	ev->peer_ephem = s->pake_peer;
	ev->context = s->T;
	return 0;
}

static int on_pake_confirm(sess_t *s, const uint8_t *p, size_t n, struct sess_event *ev)
{
	return confirm_open(s, p, n, PAKE_CONFIRM_LEN, PED_E_PASSWORD_INCORRECT, ev);
}

/* ---- open session: messages ------------------------------------------- */

static int chk_link(const uint8_t *p, size_t n)
{
	(void)p;
	return n >= 3 && n - 3 <= LINK_MAX_PAYLOAD ? 0 : PED_E_PARSE;
}

static int chk_nonce(const uint8_t *p, size_t n)
{
	(void)p;
	return n == 8 ? 0 : PED_E_PARSE;
}

static int get_disconnect(const uint8_t *p, size_t n, uint16_t *code,
			  char reason[static WIRE_STR_MAX + 1])
{
	pbuf_t b;

	pbuf_from(&b, p, n);
	if (pbuf_get_u16(&b, code) != 0 || wire_get_str(&b, reason) != 0)
		return PED_E_PARSE;
	return pbuf_expect_end(&b);
}

static int chk_disconnect(const uint8_t *p, size_t n)
{
	char reason[WIRE_STR_MAX + 1];
	uint16_t code;
	return get_disconnect(p, n, &code, reason);
}

static int chk_ped_state(const uint8_t *p, size_t n)
{
	char fw[WIRE_STR_MAX + 1];
	uint8_t attached;
	pbuf_t b;

	pbuf_from(&b, p, n);
	if (pbuf_get_u8(&b, &attached) != 0 || attached > 1 || wire_get_str(&b, fw) != 0)
		return PED_E_PARSE;
	return pbuf_expect_end(&b);
}

static uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)pbuf_rd32(p) << 32 | pbuf_rd32(p + 4);
}

static int msg_deliver(sess_t *s, const uint8_t *p, size_t n, struct sess_event *ev)
{
	(void)s;
	ev->type = SESS_EV_MESSAGE;
	ev->msg_type = p[-1];
	ev->body = p;
	ev->body_len = n;
	return 0;
}

static int msg_ping(sess_t *s, const uint8_t *p, size_t n, struct sess_event *ev)
{
	(void)ev;
	int r = queue_record(s, SESS_MSG_PONG, p, n);
	return r != 0 ? sess_close(s, r, "cannot answer a ping", 0) : 0;
}

static int msg_pong(sess_t *s, const uint8_t *p, size_t n, struct sess_event *ev)
{
	(void)s;
	(void)n;
	ev->type = SESS_EV_PONG;
	ev->nonce = rd64(p);
	return 0;
}

/* Code 0 is a clean end; any other is the peer's reason (a positive PED_E_*). */
static int msg_disconnect(sess_t *s, const uint8_t *p, size_t n, struct sess_event *ev)
{
	char reason[WIRE_STR_MAX + 1];
	uint16_t code;

	(void)ev;
	(void)get_disconnect(p, n, &code, reason); /* checked by the table */
	sess_close(s, -(int)code, reason, 0);
	return 0;
}

#define FROM_CLIENT (1u << SESS_CLIENT)
#define FROM_SERVER (1u << SESS_SERVER)

static const struct msg_rule {
	uint8_t type;
	unsigned senders;
	int (*check)(const uint8_t *p, size_t n);
	frame_fn fn;
} msg_rules[] = {
	{SESS_MSG_LINK, FROM_CLIENT | FROM_SERVER, chk_link, msg_deliver},
	{SESS_MSG_PING, FROM_CLIENT | FROM_SERVER, chk_nonce, msg_ping},
	{SESS_MSG_PONG, FROM_CLIENT | FROM_SERVER, chk_nonce, msg_pong},
	{SESS_MSG_DISCONNECT, FROM_CLIENT | FROM_SERVER, chk_disconnect, msg_disconnect},
	{SESS_MSG_PED_STATE, FROM_SERVER, chk_ped_state, msg_deliver},
};

static const struct msg_rule *msg_rule(uint8_t type, enum sess_role sender)
{
	for (size_t i = 0; i < sizeof(msg_rules) / sizeof(msg_rules[0]); i++)
		if (msg_rules[i].type == type)
			return msg_rules[i].senders & (1u << sender) ? &msg_rules[i] : NULL;
	return NULL;
}

static int on_record(sess_t *s, const uint8_t *p, size_t n, struct sess_event *ev)
{
	enum sess_role peer = s->role == SESS_CLIENT ? SESS_SERVER : SESS_CLIENT;
	const struct msg_rule *rule;
	size_t reclen = 0;
	int r;

	if ((r = chan_record_len(p, n, &reclen)) != 0 || reclen != n)
		return record_failed(s, r != 0 ? r : PED_E_BAD_RECORD);
	if ((r = chan_open(s->chan, p, n, s->pt, sizeof(s->pt), &s->pt_len)) != 0)
		return record_failed(s, r);
	if (s->pt_len == 0 || (rule = msg_rule(s->pt[0], peer)) == NULL)
		return sess_close(s, PED_E_BAD_REQUEST, "unexpected message", 1);
	if (rule->check(s->pt + 1, s->pt_len - 1) != 0)
		return sess_close(s, PED_E_PARSE, "malformed message", 1);
	return rule->fn(s, s->pt + 1, s->pt_len - 1, ev);
}

/* ERROR from the peer, in any state: the session ends with its code. */
static int on_error(sess_t *s, const uint8_t *p, size_t n, struct sess_event *ev)
{
	struct wire_error e;

	(void)ev;
	if (wire_error_decode(p, n, &e) != 0 || e.code == 0)
		return sess_close(s, PED_E_PARSE, "malformed ERROR from the peer", 0);
	return sess_close(s, -(int)e.code, e.message, 0);
}

/* ---- the public interface ---------------------------------------------- */

static int sess_alloc(enum sess_role role, enum st st, sess_t **out)
{
	sess_t *s;

	if (out == NULL)
		return PED_E_INVAL;
	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return PED_E_NOMEM;
	s->role = role;
	s->st = st;
	pbuf_init(&s->out, OUT_MAX);
	*out = s;
	return 0;
}

static int client_new(const char *client_name, const char *hsm_serial, uint8_t purpose,
		      sess_t **out)
{
	struct wire_hello h = {SESS_MIN_VERSION, SESS_MAX_VERSION, purpose, "", ""};
	uint8_t mem[WIRE_MAX_HELLO];
	sess_t *s = NULL;
	pbuf_t b;
	int r = PED_E_INVAL;

	if (out != NULL)
		*out = NULL;
	if (client_name == NULL || hsm_serial == NULL || strlen(client_name) > WIRE_STR_MAX ||
	    strlen(hsm_serial) > WIRE_STR_MAX)
		goto out;
	strcpy(h.client_name, client_name);
	strcpy(h.hsm_serial, hsm_serial);
	pbuf_over(&b, mem, sizeof(mem));
	if ((r = wire_hello_encode(&h, &b)) != 0 || (r = sess_alloc(SESS_CLIENT, C_HELLO, &s)) != 0)
		goto out;
	if ((r = queue_hs(s, WIRE_HELLO, b.data, b.len)) != 0)
		goto out;
	s->hello = h;
	*out = s;
	s = NULL;
out:
	sess_free(s);
	return r;
}

int sess_client_new(const char *client_name, const char *hsm_serial, sess_t **out)
{
	return client_new(client_name, hsm_serial, WIRE_PURPOSE_SESSION, out);
}

int sess_client_new_password(const char *client_name, const char *hsm_serial, sess_t **out)
{
	return client_new(client_name, hsm_serial, WIRE_PURPOSE_PASSWORD, out);
}

int sess_client_new_resume(const char *client_name, const char *hsm_serial,
			   const struct sess_resume *st, sess_t **out)
{
	int r;

	if (st == NULL)
		return PED_E_INVAL;
	if ((r = client_new(client_name, hsm_serial, WIRE_PURPOSE_RESUME, out)) == 0) {
		(*out)->rsm = *st;
		(*out)->resuming = 1;
	}
	return r;
}

int sess_client_resume(sess_t *s)
{
	uint8_t init[RESUME_INIT_LEN];
	struct sess_resume st;
	int r = PED_E_INVAL;

	memset(&st, 0, sizeof(st));
	if (s == NULL || s->st != C_ACKED || !s->resuming)
		goto out;
	st = s->rsm;
	if (CRYPTO_memcmp(s->peer_qh, st.qh_v, ECP_PUB_LEN) != 0) {
		r = sess_close(s, PED_E_RESUME_WRONG_SERVER, NULL, 1);
		goto out;
	}
	memcpy(init, st.rid, SESS_RID_LEN);
	if ((r = ecp_generate(&s->own_e)) != 0 ||
	    (r = ecp_export_public(s->own_e, init + SESS_RID_LEN)) != 0 ||
	    (r = queue_hs(s, WIRE_RESUME_INIT, init, sizeof(init))) != 0 || (r = tr_hash(s)) != 0 ||
	    (r = resume_derive(KAS_U, &st, s->own_e, init + SESS_RID_LEN, s->peer_qe, s->T,
			       &s->keys)) != 0) {
		r = sess_close(s, r, NULL, 1);
		goto out;
	}
	memcpy(s->id_u, st.qs_u, ECP_PUB_LEN);
	memcpy(s->id_v, st.qh_v, ECP_PUB_LEN);
	resume_wipe(&s->rsm); /* the next one comes with the keys */
	s->st = C_KEX;
	r = 0;
out:
	resume_wipe(&st);
	return r;
}

int sess_is_resume(const sess_t *s)
{
	return s != NULL && s->hello.purpose == WIRE_PURPOSE_RESUME;
}

int sess_server_resume(sess_t *s, const struct sess_resume *st)
{
	uint8_t qe_v[ECP_PUB_LEN];
	int r;

	if (s == NULL || s->st != S_RS_NEED)
		return PED_E_INVAL;
	if (st == NULL || CRYPTO_memcmp(st->rid, s->rid, SESS_RID_LEN) != 0)
		return sess_close(s, PED_E_RESUME_UNKNOWN, NULL, 1);
	if (CRYPTO_memcmp(st->qh_v, s->id_v, ECP_PUB_LEN) != 0)
		return sess_close(s, PED_E_RESUME_UNKNOWN, "the session was held under another host key", 1);
	if ((r = ecp_export_public(s->own_e, qe_v)) != 0 ||
	    (r = resume_derive(KAS_V, st, s->own_e, s->peer_qe, qe_v, s->T, &s->keys)) != 0 ||
	    (r = queue_frame(s, WIRE_KEX_REPLY, s->keys.own_tag, KAS_TAG_LEN)) != 0)
		return sess_close(s, r, NULL, 1);
	memcpy(s->id_u, st->qs_u, ECP_PUB_LEN);
	s->resuming = 1;
	s->st = S_CONFIRM;
	return 0;
}

int sess_resume_export(const sess_t *s, struct sess_resume *out)
{
	if (s == NULL || out == NULL)
		return PED_E_INVAL;
	if (!s->has_rs)
		return PED_E_NOT_FOUND;
	*out = s->rsm;
	return 0;
}

int sess_is_password(const sess_t *s)
{
	return s != NULL && s->hello.purpose == WIRE_PURPOSE_PASSWORD;
}

int sess_server_new(sess_t **out)
{
	return sess_alloc(SESS_SERVER, S_HELLO, out);
}

void sess_free(sess_t *s)
{
	if (s == NULL)
		return;
	chan_free(s->chan);
	wipe_handshake(s);
	pbuf_release(&s->out);
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
}

enum sess_state sess_state(const sess_t *s)
{
	return s == NULL ? SESS_ST_CLOSED : rules[s->st].pub;
}

int sess_feed(sess_t *s, const uint8_t *data, size_t n)
{
	if (s == NULL || (data == NULL && n > 0))
		return PED_E_INVAL;
	if (s->st == ST_CLOSED)
		return 0; /* the rest of the stream means nothing now */
	if (s->in_off > 0) {
		memmove(s->in, s->in + s->in_off, s->in_len - s->in_off);
		s->in_len -= s->in_off;
		OPENSSL_cleanse(s->in + s->in_len, s->in_off);
		s->in_off = 0;
	}
	if (n > sizeof(s->in) - s->in_len)
		return sess_close(s, PED_E_TOO_LONG, "the peer sent too much ahead", 1);
	if (n > 0)
		memcpy(s->in + s->in_len, data, n);
	s->in_len += n;
	return 0;
}

/* Takes the next whole frame off the input and runs its state transition:
 * 1 if a frame was taken (or the session closed), 0 if more bytes are needed. */
static int next_frame(sess_t *s, struct sess_event *ev)
{
	const struct state_rule *rule = &rules[s->st];
	const uint8_t *hdr = s->in + s->in_off;
	size_t avail = s->in_len - s->in_off;
	uint8_t type;
	uint32_t len;
	int r;

	r = wire_header(hdr, avail, rule->max_len, &type, &len);
	if (r == PED_E_INCOMPLETE)
		return 0;
	if (r != 0) {
		sess_close(s, r, NULL, 1);
		return 1;
	}
	if (avail - WIRE_HDR_LEN < len)
		return 0;
	s->in_off += WIRE_HDR_LEN + len;
	if (type == WIRE_ERROR)
		on_error(s, hdr + WIRE_HDR_LEN, len, ev);
	else if (rule->fn == NULL || type != rule->type)
		sess_close(s, PED_E_BAD_REQUEST, "unexpected frame", 1);
	else
		rule->fn(s, hdr + WIRE_HDR_LEN, len, ev);
	return 1;
}

int sess_next(sess_t *s, struct sess_event *ev)
{
	if (s == NULL || ev == NULL)
		return PED_E_INVAL;
	memset(ev, 0, sizeof(*ev));
	OPENSSL_cleanse(s->pt, s->pt_len); /* the last ev.body is gone now */
	s->pt_len = 0;
	if (s->pending_derive) {
		s->pending_derive = 0;
		ev->type = SESS_EV_DERIVE;
		ev->peer_ephem = s->peer_qe;
		ev->context = s->T;
		return 0;
	}
	if (s->pending_open) {
		s->pending_open = 0;
		ev->type = SESS_EV_OPEN;
		return 0;
	}
	/* A frame may end without an event (a PING answered): take the next. */
	while (s->st != ST_CLOSED && ev->type == SESS_EV_NONE && next_frame(s, ev))
		;
	if (s->st == ST_CLOSED && !s->closed_reported && ev->type == SESS_EV_NONE) {
		s->closed_reported = 1;
		ev->type = SESS_EV_CLOSED;
		ev->code = s->close_code;
		memcpy(ev->reason, s->close_reason, sizeof(ev->reason));
	}
	return 0;
}

void sess_output(const sess_t *s, const uint8_t **data, size_t *len)
{
	*data = s != NULL ? pbuf_ptr(&s->out) : NULL;
	*len = s != NULL ? pbuf_avail(&s->out) : 0;
}

void sess_output_done(sess_t *s, size_t written)
{
	if (s == NULL)
		return;
	if (written > pbuf_avail(&s->out))
		written = pbuf_avail(&s->out);
	s->out.off += written;
	if (pbuf_avail(&s->out) == 0)
		pbuf_compact(&s->out);
}

/* HELLO_ACK from the owner's fields, with the version and busy flag ours. */
static int encode_ack(const struct wire_hello_ack *in, uint8_t busy, pbuf_t *b)
{
	struct wire_hello_ack a = *in;

	a.version = SESS_MAX_VERSION;
	a.busy = busy;
	if (!busy)
		a.holder[0] = '\0';
	return wire_hello_ack_encode(&a, b);
}

int sess_server_accept(sess_t *s, const struct wire_hello_ack *ack, ecp_key_t *ephem,
		       const uint8_t host_pub[static ECP_PUB_LEN])
{
	uint8_t mem[WIRE_MAX_HELLO], qe[KEX_SHARE_LEN];
	pbuf_t b;
	int r;

	if (s == NULL || ack == NULL || s->st != S_ANSWER) {
		ecp_free(ephem);
		return PED_E_INVAL;
	}
	s->own_e = ephem; /* freed with the handshake from here on */
	/* Our range is [SESS_MIN_VERSION, SESS_MAX_VERSION]: the highest common. */
	if (s->hello.max_version < SESS_MIN_VERSION || s->hello.min_version > SESS_MAX_VERSION)
		return sess_close(s, PED_E_VERSION, NULL, 1);
	pbuf_over(&b, mem, sizeof(mem));
	if ((r = encode_ack(ack, 0, &b)) != 0)
		return sess_close(s, r, NULL, 1);
	if ((r = queue_hs(s, WIRE_HELLO_ACK, b.data, b.len)) != 0)
		return sess_close(s, r, NULL, 0);
	if (s->hello.purpose == WIRE_PURPOSE_PROBE)
		return sess_close(s, 0, "probe answered", 0);
	s->ack = *ack;
	if (s->hello.purpose == WIRE_PURPOSE_PASSWORD) {
		ecp_free(s->own_e); /* no ephemeral: SPAKE2 makes its own scalar */
		s->own_e = NULL;
		s->st = S_PW_A;
		return 0;
	}
	memcpy(qe + ECP_PUB_LEN, host_pub, ECP_PUB_LEN);
	memcpy(s->id_v, host_pub, ECP_PUB_LEN);
	if ((s->own_e == NULL && (r = ecp_generate(&s->own_e)) != 0) ||
	    (r = ecp_export_public(s->own_e, qe)) != 0 ||
	    (r = queue_hs(s, WIRE_KEX_SHARE, qe, sizeof(qe))) != 0 || (r = tr_hash_to(s, s->Ts)) != 0)
		return sess_close(s, r, NULL, 1);
	s->st = s->hello.purpose == WIRE_PURPOSE_RESUME ? S_RS_INIT : S_KEX;
	return 0;
}

int sess_server_busy(sess_t *s, const struct wire_hello_ack *ack)
{
	uint8_t mem[WIRE_MAX_HELLO];
	const char *holder;
	pbuf_t b;
	int r;

	if (s == NULL || ack == NULL || s->st != S_ANSWER)
		return PED_E_INVAL;
	pbuf_over(&b, mem, sizeof(mem));
	if ((r = encode_ack(ack, 1, &b)) != 0)
		return r;
	holder = ack->holder[0] ? ack->holder : ped_strerror(PED_E_SERVER_BUSY);
	if ((r = queue_frame(s, WIRE_HELLO_ACK, b.data, b.len)) != 0)
		return sess_close(s, r, NULL, 0);
	sess_close(s, PED_E_SERVER_BUSY, holder, 1); /* the ERROR SERVER_BUSY */
	return 0;
}

int sess_server_keys(sess_t *s, const uint8_t *rpv, size_t rpv_len,
		     const ecp_key_t *ped_static)
{
	struct kas_params kp;
	int r = PED_E_INVAL;

	if (s == NULL || s->st != S_KEYS || !s->proof_ok || rpv == NULL || rpv_len == 0 ||
	    rpv_len > KAS_SECRET_MAX || ped_static == NULL)
		return PED_E_INVAL;
	kp = (struct kas_params){
		.scheme = KAS_FULL_UNIFIED, .role = KAS_V,
		.own_static = ped_static, .own_ephem = s->own_e,
		.peer_static = s->peer_s, .peer_ephem = s->peer_e,
		.secret = rpv, .secret_len = rpv_len,
		.context = s->T, .context_len = SESS_TRANSCRIPT_LEN,
	};
	if ((r = kas_derive(&kp, &s->keys)) != 0 ||
	    (r = queue_frame(s, WIRE_KEX_REPLY, s->keys.own_tag, KAS_TAG_LEN)) != 0)
		goto out;
	ecp_free(s->peer_s);
	ecp_free(s->peer_e);
	ecp_free(s->own_e);
	s->peer_s = s->peer_e = s->own_e = NULL;
	s->st = S_CONFIRM;
out:
	OPENSSL_cleanse(&kp, sizeof(kp));
	if (r != 0)
		sess_close(s, r, NULL, 1);
	return r;
}

int sess_server_password(sess_t *s, const char *pw, size_t pw_len)
{
	uint8_t msg[PAKE_B_LEN];
	spake2_t *sp = NULL;
	int r;

	if (s == NULL || s->st != S_PW_NEED || pw == NULL)
		return PED_E_INVAL;
	if ((r = pake_start(KAS_V, pw, pw_len, s->hello.hsm_serial, NULL, 0, &sp, msg)) != 0 ||
	    (r = pake_finish(&sp, KAS_V, s->hello.hsm_serial, s->peer_qs, s->ack.server_name,
			     s->pake_peer, s->T, SESS_TRANSCRIPT_LEN, &s->keys)) != 0)
		goto out;
	memcpy(msg + PAKE_PT_LEN, s->keys.own_tag, PAKE_CONF_LEN);
	if ((r = queue_frame(s, WIRE_PAKE_B, msg, sizeof(msg))) != 0)
		goto out;
	ecp_free(s->peer_s);
	ecp_free(s->peer_e);
	s->peer_s = s->peer_e = NULL;
	s->st = S_PW_CONFIRM;
out:
	spake2_free(sp);
	OPENSSL_cleanse(msg, sizeof(msg));
	if (r != 0)
		sess_close(s, r == PED_E_INVAL ? PED_E_PASSWORD_INCORRECT : r, NULL, 1);
	return r;
}

int sess_client_pake(sess_t *s, const uint8_t qs_u[static ECP_PUB_LEN],
		     const uint8_t pa[static PAKE_PT_LEN])
{
	uint8_t a[PAKE_A_LEN];
	int r;

	if (s == NULL || s->st != C_PW_ACKED)
		return PED_E_INVAL;
	memcpy(a, qs_u, ECP_PUB_LEN);
	memcpy(a + ECP_PUB_LEN, pa, PAKE_PT_LEN);
	if ((r = queue_hs(s, WIRE_PAKE_A, a, sizeof(a))) != 0 || (r = tr_hash(s)) != 0)
		return sess_close(s, r, NULL, 1);
	s->st = C_PW_B;
	return 0;
}

const char *sess_server_name(const sess_t *s)
{
	return s != NULL ? s->ack.server_name : "";
}

int sess_proof_key(const ecp_key_t *own_static, const ecp_key_t *peer_static,
		   const uint8_t qs_u[static ECP_PUB_LEN], const uint8_t qh_v[static ECP_PUB_LEN],
		   uint8_t kp[static SESS_PROOF_KEY_LEN])
{
	uint8_t z[ECP_Z_LEN], fi[4 + sizeof(SESS_PROOF_LABEL) - 1 + 2 * (4 + ECP_PUB_LEN)];
	pbuf_t b;
	int r;

	pbuf_over(&b, fi, sizeof(fi));
	if ((r = ecp_cdh(own_static, peer_static, z)) == 0 &&
	    (r = pbuf_put_u32(&b, sizeof(SESS_PROOF_LABEL) - 1)) == 0 &&
	    (r = pbuf_put_bytes(&b, SESS_PROOF_LABEL, sizeof(SESS_PROOF_LABEL) - 1)) == 0 &&
	    (r = pbuf_put_u32(&b, ECP_PUB_LEN)) == 0 &&
	    (r = pbuf_put_bytes(&b, qs_u, ECP_PUB_LEN)) == 0 &&
	    (r = pbuf_put_u32(&b, ECP_PUB_LEN)) == 0 &&
	    (r = pbuf_put_bytes(&b, qh_v, ECP_PUB_LEN)) == 0)
		r = kdf_onestep_sha512(z, sizeof(z), b.data, b.len, kp, SESS_PROOF_KEY_LEN);
	OPENSSL_cleanse(z, sizeof(z));
	return r;
}

int sess_proof(const uint8_t kp[static SESS_PROOF_KEY_LEN],
	       const uint8_t ts[static SESS_TRANSCRIPT_LEN], const uint8_t qe_u[static ECP_PUB_LEN],
	       uint8_t proof[static SESS_PROOF_LEN])
{
	uint8_t msg[4 + SESS_TRANSCRIPT_LEN + ECP_PUB_LEN];
	size_t n = 0;

	memcpy(msg, "KP_U", 4);
	memcpy(msg + 4, ts, SESS_TRANSCRIPT_LEN);
	memcpy(msg + 4 + SESS_TRANSCRIPT_LEN, qe_u, ECP_PUB_LEN);
	return EVP_Q_mac(NULL, "HMAC", NULL, "SHA512", NULL, kp, SESS_PROOF_KEY_LEN, msg,
			 sizeof(msg), proof, SESS_PROOF_LEN, &n) != NULL && n == SESS_PROOF_LEN
		       ? 0
		       : PED_E_CRYPTO;
}

int sess_server_check_proof(sess_t *s, const uint8_t kp[static SESS_PROOF_KEY_LEN])
{
	uint8_t want[SESS_PROOF_LEN];
	int r;

	if (s == NULL || s->st != S_KEYS || kp == NULL)
		return PED_E_INVAL;
	if ((r = sess_proof(kp, s->Ts, s->peer_qe, want)) == 0 &&
	    CRYPTO_memcmp(want, s->proof, SESS_PROOF_LEN) != 0)
		r = PED_E_KEY_PROOF;
	OPENSSL_cleanse(want, sizeof(want));
	if (r != 0)
		return sess_close(s, r, NULL, 1);
	s->proof_ok = 1;
	return 0;
}

int sess_client_kex_init(sess_t *s, const uint8_t qs_u[static ECP_PUB_LEN],
			 const uint8_t qe_u[static ECP_PUB_LEN],
			 const uint8_t proof[static SESS_PROOF_LEN])
{
	uint8_t init[KEX_INIT_LEN];
	int r;

	if (s == NULL || s->st != C_ACKED)
		return PED_E_INVAL;
	memcpy(init, qs_u, ECP_PUB_LEN);
	memcpy(s->id_u, qs_u, ECP_PUB_LEN);
	memcpy(s->id_v, s->peer_qh, ECP_PUB_LEN);
	memcpy(init + ECP_PUB_LEN, qe_u, ECP_PUB_LEN);
	memcpy(init + 2 * ECP_PUB_LEN, proof, SESS_PROOF_LEN);
	if ((r = queue_hs(s, WIRE_KEX_INIT, init, sizeof(init))) != 0 || (r = tr_hash(s)) != 0)
		return sess_close(s, r, NULL, 1);
	s->st = C_KEYS;
	s->pending_derive = 1;
	return 0;
}

int sess_client_keys(sess_t *s, kas_keys_t *k)
{
	int r = PED_E_INVAL;

	if (s == NULL || k == NULL)
		return PED_E_INVAL;
	if (s->st == C_PW_KEYS && k->scheme == KAS_SPAKE2 &&
	    k->role == KAS_U && k->has_own_tag && k->has_peer_tag) {
		/* confB first: a wrong password is found before anything is sent */
		memcpy(&s->keys, k, sizeof(s->keys));
		kas_keys_wipe(k);
		if (kas_check_tag(&s->keys, s->peer_conf) != 0)
			return sess_close(s, PED_E_PASSWORD_INCORRECT, NULL, 1);
		if ((r = queue_frame(s, WIRE_PAKE_CONFIRM, s->keys.own_tag, KAS_TAG_LEN)) != 0 ||
		    (r = chan_new(&s->keys, &s->chan)) != 0)
			return sess_close(s, r, NULL, 1);
		wipe_handshake(s);
		s->st = ST_OPEN;
		s->pending_open = 1;
		return 0;
	}
	if (s->st != C_KEYS || s->pending_derive || k->scheme != KAS_FULL_UNIFIED ||
	    k->role != KAS_U || !k->has_own_tag || !k->has_peer_tag)
		goto out;
	memcpy(&s->keys, k, sizeof(s->keys));
	s->st = C_KEX;
	r = 0;
out:
	kas_keys_wipe(k);
	return r;
}

int sess_send(sess_t *s, uint8_t msg_type, const uint8_t *body, size_t len)
{
	const struct msg_rule *rule;

	if (s == NULL || (body == NULL && len > 0))
		return PED_E_INVAL;
	if (s->st != ST_OPEN)
		return PED_E_CHAN_DEAD;
	if (msg_type != SESS_MSG_LINK && msg_type != SESS_MSG_PED_STATE)
		return PED_E_INVAL; /* PING / PONG / DISCONNECT have their own calls */
	if ((rule = msg_rule(msg_type, s->role)) == NULL || len > SESS_MSG_MAX - 1 ||
	    rule->check(body, len) != 0)
		return PED_E_INVAL;
	return queue_record(s, msg_type, body, len);
}

int sess_ping(sess_t *s, uint64_t nonce)
{
	uint8_t p[8];

	if (s == NULL)
		return PED_E_INVAL;
	if (s->st != ST_OPEN)
		return PED_E_CHAN_DEAD;
	pbuf_be64(p, nonce);
	return queue_record(s, SESS_MSG_PING, p, sizeof(p));
}

int sess_disconnect(sess_t *s, int code, const char *reason)
{
	if (s == NULL || code > 0 || code < -0xffff)
		return PED_E_INVAL;
	if (s->st == ST_CLOSED)
		return 0;
	sess_close(s, code, reason, 1);
	return 0;
}

int sess_wrap(sess_t *s, const uint8_t *csp, size_t len, uint8_t *out, size_t cap,
	      size_t *outlen)
{
	if (s == NULL || s->st != ST_OPEN || s->chan == NULL)
		return s == NULL ? PED_E_INVAL : PED_E_CHAN_DEAD;
	return chan_wrap(s->chan, csp, len, out, cap, outlen);
}

int sess_unwrap(sess_t *s, const uint8_t *in, size_t len, uint8_t *out, size_t cap,
		size_t *outlen)
{
	int r;

	if (s == NULL || s->st != ST_OPEN || s->chan == NULL)
		return s == NULL ? PED_E_INVAL : PED_E_CHAN_DEAD;
	if ((r = chan_unwrap(s->chan, in, len, out, cap, outlen)) != 0 && chan_is_dead(s->chan))
		record_failed(s, r);
	return r;
}
