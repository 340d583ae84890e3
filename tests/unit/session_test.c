/* session_test.c - the session protocol (session/session.c): a client and a
 * server session wired back to back in memory. The server gets an RPV and a
 * PED static key; the client side derives as party U with crypto/kas.h, as
 * the HSM would. Then every way a hostile network can touch the handshake
 * and the records: bit flips, truncation, garbage, oversize lengths,
 * reflection, busy server, version mismatch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/rand.h>

#include "common/buf.h"
#include "common/err.h"
#include "session/session.h"
#include "session/wire.h"
#include "crypto/chan.h"
#include "crypto/ecp.h"
#include "crypto/kas.h"
#include "usbped/link.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#define STREAM_MAX 8192
#define HOLDER "HSM 154704 at 10.0.0.7 since 2024-05-01 10:00"

/* Keys shared by all tests (P-521 generation is the slow part). */
static ecp_key_t *hsm_static, *hsm_ephem, *ped_static, *ped_other, *srv_host;
/* the server's host key; Kp as each side computes it, and one forged with
 * another key than the HSM's (a stranger claiming the HSM's public key) */
static uint8_t qh_v[ECP_PUB_LEN], kp_v[SESS_PROOF_KEY_LEN], kp_u[SESS_PROOF_KEY_LEN];
static uint8_t kp_forged[SESS_PROOF_KEY_LEN];
static uint8_t qs_u[ECP_PUB_LEN], qe_u[ECP_PUB_LEN];

struct side {
	sess_t *s;
	int opened, closed, code;
	char reason[WIRE_STR_MAX + 1];
	int hello, ack, ack_busy, kex, msgs, pongs;
	uint8_t msg_type;
	uint8_t body[SESS_MSG_MAX];
	size_t body_len;
	uint64_t nonce;
	int keys_rc;
	char holder[WIRE_STR_MAX + 1];
};

/* One flip: byte `at` of the stream in direction dir (0: client to server). */
struct tamper {
	int dir;
	size_t at;
	uint8_t mask;
};

struct pair {
	struct side c, v;
	uint8_t rpv_v[32], rpv_u[32];
	int busy, wrong_ped, hello_max, chunk, forge;
	const struct tamper *t;
	size_t moved[2];
	uint8_t stream[2][STREAM_MAX]; /* what crossed, for recording */
	size_t stream_len[2];
};

static void pair_init(struct pair *p)
{
	memset(p, 0, sizeof(*p));
	assert_int_equal(RAND_bytes(p->rpv_v, sizeof(p->rpv_v)), 1);
	memcpy(p->rpv_u, p->rpv_v, sizeof(p->rpv_u));
	assert_int_equal(sess_client_new("hsmhost", "154704", &p->c.s), 0);
	assert_int_equal(sess_server_new(&p->v.s), 0);
	p->chunk = SESS_FEED_MAX;
}

static void pair_free(struct pair *p)
{
	sess_free(p->c.s);
	sess_free(p->v.s);
}

static void fill_ack(struct wire_hello_ack *a, const char *holder)
{
	memset(a, 0, sizeof(*a));
	strcpy(a->server_name, "pedhost");
	strcpy(a->software, "pedserver 0.1.0");
	a->ped_attached = 1;
	strcpy(a->ped_firmware, "2.7.4");
	strcpy(a->ped_protocol, "1");
	strcpy(a->holder, holder);
}

/* The HSM's side of the derivation (party U), with the PED-side key it
 * stored at RPV initialization (another one for wrong_ped). */
static void client_derive(struct pair *p, const struct sess_event *ev)
{
	ecp_key_t *qe = NULL;
	kas_keys_t k;
	struct kas_params kp = {
		.scheme = KAS_FULL_UNIFIED, .role = KAS_U,
		.own_static = hsm_static, .own_ephem = hsm_ephem,
		.secret = p->rpv_u, .secret_len = sizeof(p->rpv_u),
		.context = ev->context, .context_len = SESS_TRANSCRIPT_LEN,
	};

	assert_null(ev->peer_static);
	assert_int_equal(ecp_import_public(ev->peer_ephem, ECP_PUB_LEN, &qe), 0);
	kp.peer_static = p->wrong_ped ? ped_other : ped_static;
	kp.peer_ephem = qe;
	assert_int_equal(kas_derive(&kp, &k), 0);
	p->c.keys_rc = sess_client_keys(p->c.s, &k);
	ecp_free(qe);
}

static void record_event(struct side *d, const struct sess_event *ev)
{
	switch (ev->type) {
	case SESS_EV_OPEN:
		d->opened++;
		break;
	case SESS_EV_MESSAGE:
		d->msgs++;
		d->msg_type = ev->msg_type;
		assert_true(ev->body_len <= sizeof(d->body));
		memcpy(d->body, ev->body, ev->body_len);
		d->body_len = ev->body_len;
		break;
	case SESS_EV_PONG:
		d->pongs++;
		d->nonce = ev->nonce;
		break;
	case SESS_EV_CLOSED:
		assert_int_equal(d->closed, 0); /* exactly once */
		d->closed++;
		d->code = ev->code;
		strcpy(d->reason, ev->reason);
		break;
	default:
		break;
	}
}

/* Takes every event of one side and answers like the daemons would. */
static int drain(struct pair *p, struct side *d)
{
	struct sess_event ev;
	struct wire_hello_ack a;
	int n = 0;

	for (;;) {
		assert_int_equal(sess_next(d->s, &ev), 0);
		if (ev.type == SESS_EV_NONE)
			return n;
		n++;
		record_event(d, &ev);
		if (ev.type == SESS_EV_HELLO) {
			d->hello++;
			fill_ack(&a, p->busy ? HOLDER : "");
			if (p->busy) {
				assert_int_equal(sess_server_busy(d->s, &a), 0);
			} else {
				static unsigned accepted;
				ecp_key_t *ahead = NULL;
				/* every other handshake with V's ephemeral made ahead */
				if (++accepted % 2 == 0)
					assert_int_equal(ecp_generate(&ahead), 0);
				(void)sess_server_accept(d->s, &a, ahead, qh_v);
			}
		} else if (ev.type == SESS_EV_KEX_INIT) {
			/* the key proof first: the PED is not touched without it */
			if (sess_server_check_proof(d->s, kp_v) != 0)
				continue;
			d->kex++;
			assert_int_equal(sess_server_keys(d->s, p->rpv_v, sizeof(p->rpv_v),
							  ped_static), 0);
		} else if (ev.type == SESS_EV_HELLO_ACK) {
			d->ack++;
			d->ack_busy = ev.ack.busy;
			strcpy(d->holder, ev.ack.holder);
			if (!ev.ack.busy) {
				uint8_t proof[SESS_PROOF_LEN];

				assert_memory_equal(ev.peer_static, qh_v, ECP_PUB_LEN);
				assert_int_equal(sess_proof(p->forge ? kp_forged : kp_u, ev.context,
							    qe_u, proof), 0);
				assert_int_equal(sess_client_kex_init(d->s, qs_u, qe_u, proof), 0);
			}
		} else if (ev.type == SESS_EV_DERIVE) {
			d->kex++;
			client_derive(p, &ev);
		}
	}
}

/* Moves what one side queued into the other, in chunks of p->chunk bytes,
 * applying the tamper if it falls in this direction. */
static int move(struct pair *p, int dir)
{
	struct side *from = dir == 0 ? &p->c : &p->v, *to = dir == 0 ? &p->v : &p->c;
	const uint8_t *data;
	uint8_t buf[SESS_FEED_MAX];
	size_t len, n;
	int moved = 0;

	for (;;) {
		sess_output(from->s, &data, &len);
		if (len == 0)
			return moved;
		n = len < (size_t)p->chunk ? len : (size_t)p->chunk;
		memcpy(buf, data, n);
		sess_output_done(from->s, n);
		if (p->t != NULL && p->t->dir == dir && p->t->at >= p->moved[dir] &&
		    p->t->at < p->moved[dir] + n)
			buf[p->t->at - p->moved[dir]] ^= p->t->mask;
		if (p->stream_len[dir] + n <= STREAM_MAX) {
			memcpy(p->stream[dir] + p->stream_len[dir], buf, n);
			p->stream_len[dir] += n;
		}
		p->moved[dir] += n;
		assert_int_equal(sess_feed(to->s, buf, n), 0);
		drain(p, to);
		moved = 1;
	}
}

static void pump(struct pair *p)
{
	drain(p, &p->c);
	drain(p, &p->v);
	while (move(p, 0) | move(p, 1))
		;
}

static void handshake(struct pair *p)
{
	pump(p);
}

static void assert_open(struct pair *p)
{
	assert_int_equal(p->c.opened, 1);
	assert_int_equal(p->v.opened, 1);
	assert_int_equal(sess_state(p->c.s), SESS_ST_OPEN);
	assert_int_equal(sess_state(p->v.s), SESS_ST_OPEN);
	assert_int_equal(p->c.closed + p->v.closed, 0);
}

static void assert_closed(struct side *d, int code)
{
	assert_int_equal(d->closed, 1);
	assert_int_equal(d->code, code);
	assert_int_equal(sess_state(d->s), SESS_ST_CLOSED);
}

/* ---- the good path ---------------------------------------------------- */

static void test_handshake_and_messages(void **state)
{
	(void)state;
	struct pair p;
	uint8_t link[3 + 5] = {LINK_STATUS, 0x00, 0x07, 'h', 'e', 'l', 'l', 'o'};
	uint8_t ped_state[1 + 1 + 5] = {1, 5, '2', '.', '7', '.', '4'};

	pair_init(&p);
	handshake(&p);
	assert_open(&p);

	assert_int_equal(sess_send(p.c.s, SESS_MSG_LINK, link, sizeof(link)), 0);
	pump(&p);
	assert_int_equal(p.v.msgs, 1);
	assert_int_equal(p.v.msg_type, SESS_MSG_LINK);
	assert_int_equal(p.v.body_len, sizeof(link));
	assert_memory_equal(p.v.body, link, sizeof(link));

	link[0] = LINK_RESULT;
	assert_int_equal(sess_send(p.v.s, SESS_MSG_LINK, link, sizeof(link)), 0);
	assert_int_equal(sess_send(p.v.s, SESS_MSG_PED_STATE, ped_state, sizeof(ped_state)), 0);
	pump(&p);
	assert_int_equal(p.c.msgs, 2);
	assert_int_equal(p.c.msg_type, SESS_MSG_PED_STATE);
	assert_memory_equal(p.c.body, ped_state, sizeof(ped_state));

	/* PED_STATE only from the PED side; malformed bodies refused on send */
	assert_int_equal(sess_send(p.c.s, SESS_MSG_PED_STATE, ped_state, sizeof(ped_state)), PED_E_INVAL);
	assert_int_equal(sess_send(p.c.s, SESS_MSG_LINK, link, 2), PED_E_INVAL);
	assert_int_equal(sess_send(p.c.s, SESS_MSG_PING, link, 8), PED_E_INVAL);

	assert_int_equal(sess_ping(p.c.s, 0x0102030405060708ull), 0);
	assert_int_equal(sess_ping(p.v.s, 42), 0);
	pump(&p);
	assert_int_equal(p.c.pongs, 1);
	assert_true(p.c.nonce == 0x0102030405060708ull);
	assert_int_equal(p.v.pongs, 1);
	assert_true(p.v.nonce == 42);
	assert_open(&p);
	pair_free(&p);
}

static void wrap_one(sess_t *a, sess_t *b, size_t n)
{
	uint8_t csp[CHAN_CSP_MAX], w[CHAN_WRAP_LEN(CHAN_CSP_MAX)], u[CHAN_CSP_MAX];
	size_t wl = 0, ul = 0;

	assert_int_equal(RAND_bytes(csp, (int)n), 1);
	assert_int_equal(sess_wrap(a, csp, n, w, sizeof(w), &wl), 0);
	assert_int_equal(wl, CHAN_WRAP_LEN(n));
	/* the sender cannot unwrap its own blob: per-direction CWKs */
	assert_int_equal(sess_unwrap(b, w, wl, u, sizeof(u), &ul), 0);
	assert_int_equal(ul, n);
	assert_memory_equal(u, csp, n);
}

static void test_wrap_both_ways(void **state)
{
	(void)state;
	struct pair p;
	uint8_t csp[32] = {1}, w[CHAN_WRAP_LEN(32)], u[32];
	size_t wl, ul;

	pair_init(&p);
	handshake(&p);
	assert_open(&p);
	wrap_one(p.c.s, p.v.s, 32);
	wrap_one(p.v.s, p.c.s, 1);
	wrap_one(p.c.s, p.v.s, CHAN_CSP_MAX);
	/* reflected wrap: fails, and kills the receiving session */
	assert_int_equal(sess_wrap(p.c.s, csp, sizeof(csp), w, sizeof(w), &wl), 0);
	assert_int_not_equal(sess_unwrap(p.c.s, w, wl, u, sizeof(u), &ul), 0);
	pump(&p);
	assert_closed(&p.c, PED_E_UNWRAP);
	assert_closed(&p.v, PED_E_UNWRAP);
	pair_free(&p);
}

static void test_disconnect_with_reason(void **state)
{
	(void)state;
	struct pair p;

	pair_init(&p);
	handshake(&p);
	assert_int_equal(sess_disconnect(p.c.s, PED_E_IDLE_TIMEOUT, "idle for 1800 s"), 0);
	pump(&p);
	assert_closed(&p.c, PED_E_IDLE_TIMEOUT);
	assert_closed(&p.v, PED_E_IDLE_TIMEOUT);
	assert_string_equal(p.v.reason, "idle for 1800 s");
	pair_free(&p);

	pair_init(&p);
	handshake(&p);
	assert_int_equal(sess_disconnect(p.v.s, 0, "ped disconnect\n"), 0);
	pump(&p);
	assert_closed(&p.v, 0);
	assert_closed(&p.c, 0);
	assert_string_equal(p.c.reason, "ped disconnect?");
	assert_int_equal(sess_send(p.c.s, SESS_MSG_LINK, (const uint8_t *)"abc", 3), PED_E_CHAN_DEAD);
	pair_free(&p);
}

static void test_byte_by_byte(void **state)
{
	(void)state;
	struct pair p;
	uint8_t link[4] = {LINK_STATUS, 0, 1, 9};

	pair_init(&p);
	p.chunk = 1;
	handshake(&p);
	assert_open(&p);
	assert_int_equal(sess_send(p.c.s, SESS_MSG_LINK, link, sizeof(link)), 0);
	assert_int_equal(sess_ping(p.v.s, 7), 0);
	pump(&p);
	assert_int_equal(p.v.msgs, 1);
	assert_memory_equal(p.v.body, link, sizeof(link));
	assert_int_equal(p.v.pongs, 1);
	pair_free(&p);
}

/* ---- key confirmation failures, busy, versions ------------------------ */

static void test_wrong_rpv(void **state)
{
	(void)state;
	struct pair p;

	pair_init(&p);
	p.rpv_u[5] ^= 1;
	handshake(&p);
	assert_int_equal(p.c.keys_rc, 0); /* MacTag_V tells, in KEX_REPLY */
	assert_closed(&p.c, PED_E_RPV_MISMATCH);
	assert_closed(&p.v, PED_E_RPV_MISMATCH);
	assert_int_equal(p.c.opened + p.v.opened, 0);
	pair_free(&p);
}

static void test_wrong_ped_key(void **state)
{
	(void)state;
	struct pair p;

	pair_init(&p);
	p.wrong_ped = 1;
	handshake(&p);
	assert_int_equal(p.c.keys_rc, 0); /* MacTag_V tells, in KEX_REPLY */
	assert_closed(&p.c, PED_E_RPV_MISMATCH);
	assert_closed(&p.v, PED_E_RPV_MISMATCH);
	assert_int_equal(p.c.opened + p.v.opened, 0);
	pair_free(&p);
}

static void test_busy(void **state)
{
	(void)state;
	struct pair p;

	pair_init(&p);
	p.busy = 1;
	handshake(&p);
	assert_int_equal(p.c.ack, 1);
	assert_int_equal(p.c.ack_busy, 1);
	assert_string_equal(p.c.holder, HOLDER);
	assert_closed(&p.c, PED_E_SERVER_BUSY);
	assert_string_equal(p.c.reason, HOLDER);
	assert_closed(&p.v, PED_E_SERVER_BUSY);
	pair_free(&p);
}

/* A frame of the given type and payload, by hand. */
static size_t frame(uint8_t *out, uint8_t version, uint8_t type, const uint8_t *pl, size_t n)
{
	out[0] = version;
	out[1] = type;
	pbuf_be32(out + 2, (uint32_t)n);
	if (n > 0)
		memcpy(out + WIRE_HDR_LEN, pl, n);
	return WIRE_HDR_LEN + n;
}

/* Feeds bytes to a fresh server: it must close at once, and *err_code is the
 * code of the ERROR it queued (0 if none). */
static void server_rejects(const uint8_t *data, size_t n, uint16_t *err_code)
{
	sess_t *v = NULL;
	struct sess_event ev;
	const uint8_t *out;
	size_t olen;
	struct wire_error e;
	uint8_t type;
	uint32_t len;

	assert_int_equal(sess_server_new(&v), 0);
	assert_int_equal(sess_feed(v, data, n), 0);
	assert_int_equal(sess_next(v, &ev), 0);
	assert_int_equal(ev.type, SESS_EV_CLOSED);
	assert_int_equal(sess_state(v), SESS_ST_CLOSED);
	sess_output(v, &out, &olen);
	*err_code = 0;
	if (olen > 0) {
		assert_int_equal(wire_header(out, olen, WIRE_MAX_HELLO, &type, &len), 0);
		assert_int_equal(type, WIRE_ERROR);
		assert_int_equal(olen, WIRE_HDR_LEN + len);
		assert_int_equal(wire_error_decode(out + WIRE_HDR_LEN, len, &e), 0);
		*err_code = e.code;
	}
	assert_int_equal(sess_next(v, &ev), 0);
	assert_int_equal(ev.type, SESS_EV_NONE);
	sess_free(v);
}

static void test_version_mismatch(void **state)
{
	(void)state;
	struct pair p;
	uint8_t buf[64], hello[] = {2, 3, WIRE_PURPOSE_SESSION, 1, 'h', 0};
	uint16_t code;

	/* a frame of another version: ERROR VERSION_MISMATCH, once */
	size_t n = frame(buf, 2, WIRE_HELLO, hello, sizeof(hello));
	server_rejects(buf, n, &code);
	assert_int_equal(code, -PED_E_VERSION);

	/* a HELLO whose range excludes ours: refused at accept */
	pair_init(&p);
	n = frame(buf, WIRE_VERSION, WIRE_HELLO, hello, sizeof(hello));
	sess_free(p.c.s);
	p.c.s = NULL;
	assert_int_equal(sess_feed(p.v.s, buf, n), 0);
	drain(&p, &p.v);
	assert_int_equal(p.v.hello, 1);
	assert_closed(&p.v, PED_E_VERSION);
	pair_free(&p);

	/* a HELLO_ACK choosing a version we do not speak */
	pair_init(&p);
	{
		struct wire_hello_ack a;
		uint8_t mem[WIRE_MAX_HELLO];
		pbuf_t b;
		fill_ack(&a, "");
		a.version = 2;
		pbuf_over(&b, mem, sizeof(mem));
		assert_int_equal(wire_hello_ack_encode(&a, &b), 0);
		uint8_t f[WIRE_MAX_HELLO + WIRE_HDR_LEN];
		n = frame(f, WIRE_VERSION, WIRE_HELLO_ACK, b.data, b.len);
		assert_int_equal(sess_feed(p.c.s, f, n), 0);
	}
	drain(&p, &p.c);
	assert_closed(&p.c, PED_E_VERSION);
	pair_free(&p);
}

/* A client given an accepting HELLO_ACK, then the frame f (n bytes): it
 * closes with code, and the owner never hears of the HELLO_ACK. */
static void client_after_ack(const uint8_t *f, size_t n, int code)
{
	struct wire_hello_ack a;
	uint8_t mem[WIRE_MAX_HELLO], buf[WIRE_MAX_HELLO + WIRE_HDR_LEN];
	struct pair p;
	pbuf_t b;

	pair_init(&p);
	fill_ack(&a, "");
	a.version = WIRE_VERSION;
	pbuf_over(&b, mem, sizeof(mem));
	assert_int_equal(wire_hello_ack_encode(&a, &b), 0);
	assert_int_equal(sess_feed(p.c.s, buf, frame(buf, WIRE_VERSION, WIRE_HELLO_ACK, b.data,
						       b.len)), 0);
	drain(&p, &p.c);
	assert_int_equal(p.c.ack, 0); /* waiting for the KEX_SHARE */
	assert_int_equal(sess_state(p.c.s), SESS_ST_HELLO);
	assert_int_equal(sess_feed(p.c.s, f, n), 0);
	drain(&p, &p.c);
	assert_int_equal(p.c.ack, 0);
	assert_closed(&p.c, code);
	pair_free(&p);
}

static void test_kex_share(void **state)
{
	(void)state;
	uint8_t pt[2 * ECP_PUB_LEN + 1], f[WIRE_HDR_LEN + 2 * ECP_PUB_LEN + 1];

	/* Qe_V || Qh_V: either point off the curve ((0, 0)) is refused */
	memset(pt, 0, sizeof(pt));
	pt[0] = 0x04;
	assert_int_equal(ecp_export_public(ped_static, pt + ECP_PUB_LEN), 0);
	client_after_ack(f, frame(f, WIRE_VERSION, WIRE_KEX_SHARE, pt, 2 * ECP_PUB_LEN),
			 PED_E_BAD_KEY);
	assert_int_equal(ecp_export_public(ped_static, pt), 0);
	memset(pt + ECP_PUB_LEN, 0, ECP_PUB_LEN);
	pt[ECP_PUB_LEN] = 0x04;
	client_after_ack(f, frame(f, WIRE_VERSION, WIRE_KEX_SHARE, pt, 2 * ECP_PUB_LEN),
			 PED_E_BAD_KEY);
	assert_int_equal(ecp_export_public(ped_static, pt + ECP_PUB_LEN), 0);
	client_after_ack(f, frame(f, WIRE_VERSION, WIRE_KEX_SHARE, pt, ECP_PUB_LEN), PED_E_PARSE);
	client_after_ack(f, frame(f, WIRE_VERSION, WIRE_KEX_SHARE, pt, 2 * ECP_PUB_LEN + 1),
			 PED_E_PARSE);
	/* the reply before the share */
	client_after_ack(f, frame(f, WIRE_VERSION, WIRE_KEX_REPLY, pt, KAS_TAG_LEN),
			 PED_E_BAD_REQUEST);
}

static void test_probe(void **state)
{
	(void)state;
	struct pair p;
	uint8_t buf[64], hello[] = {1, 1, WIRE_PURPOSE_PROBE, 1, 'h', 0};
	const uint8_t *out;
	size_t olen;
	uint8_t type;
	uint32_t len;
	struct wire_hello_ack a;

	pair_init(&p);
	size_t n = frame(buf, WIRE_VERSION, WIRE_HELLO, hello, sizeof(hello));
	assert_int_equal(sess_feed(p.v.s, buf, n), 0);
	drain(&p, &p.v);
	assert_closed(&p.v, 0);
	sess_output(p.v.s, &out, &olen);
	assert_int_equal(wire_header(out, olen, WIRE_MAX_HELLO, &type, &len), 0);
	assert_int_equal(type, WIRE_HELLO_ACK);
	assert_int_equal(olen, WIRE_HDR_LEN + len);
	assert_int_equal(wire_hello_ack_decode(out + WIRE_HDR_LEN, len, &a), 0);
	assert_string_equal(a.server_name, "pedhost");
	assert_int_equal(a.busy, 0);
	pair_free(&p);
}

/* ---- hostile bytes ---------------------------------------------------- */

static void test_garbage_and_oversize(void **state)
{
	(void)state;
	uint8_t buf[16];
	uint16_t code;
	static const char http[] = "GET / HTTP/1.1\r\n";
	static const uint8_t tls[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01};

	server_rejects((const uint8_t *)http, sizeof(http) - 1, &code);
	assert_int_equal(code, -PED_E_VERSION);
	server_rejects(tls, sizeof(tls), &code);
	assert_int_equal(code, -PED_E_VERSION);
	/* unknown type, and a type valid only later */
	frame(buf, WIRE_VERSION, 0x55, NULL, 0);
	server_rejects(buf, WIRE_HDR_LEN, &code);
	assert_int_equal(code, -PED_E_BAD_REQUEST);
	frame(buf, WIRE_VERSION, WIRE_RECORD, NULL, 0);
	server_rejects(buf, WIRE_HDR_LEN, &code);
	assert_int_equal(code, -PED_E_BAD_REQUEST);
	/* oversize: refused from the header alone, before the payload */
	frame(buf, WIRE_VERSION, WIRE_HELLO, NULL, 0);
	pbuf_be32(buf + 2, WIRE_MAX_HELLO + 1);
	server_rejects(buf, WIRE_HDR_LEN, &code);
	assert_int_equal(code, -PED_E_TOO_LONG);
	pbuf_be32(buf + 2, 0xffffffffu);
	server_rejects(buf, WIRE_HDR_LEN, &code);
	assert_int_equal(code, -PED_E_TOO_LONG);
	/* an empty HELLO is malformed */
	frame(buf, WIRE_VERSION, WIRE_HELLO, NULL, 0);
	server_rejects(buf, WIRE_HDR_LEN, &code);
	assert_int_equal(code, -PED_E_PARSE);

	/* feeding far ahead of the events: bounded */
	{
		sess_t *v = NULL;
		static uint8_t big[3 * SESS_FEED_MAX];
		assert_int_equal(sess_server_new(&v), 0);
		assert_int_equal(sess_feed(v, big, sizeof(big)), PED_E_TOO_LONG);
		assert_int_equal(sess_state(v), SESS_ST_CLOSED);
		sess_free(v);
	}
}

/* An open session's server given the bytes f: it closes with code, and what
 * it tells the client is a frame of type answer (WIRE_RECORD: DISCONNECT in a
 * record, the channel being alive; WIRE_ERROR: a plain ERROR, the channel
 * dead); the client then closes with the same code (PROTOCOL.md §3.1, §3.6). */
static void open_server_rejects(const uint8_t *f, size_t n, int code, uint8_t answer)
{
	struct pair p;
	const uint8_t *out;
	size_t len;

	pair_init(&p);
	handshake(&p);
	assert_open(&p);
	assert_int_equal(sess_feed(p.v.s, f, n), 0);
	drain(&p, &p.v);
	assert_closed(&p.v, code);
	sess_output(p.v.s, &out, &len);
	assert_true(len > WIRE_HDR_LEN);
	assert_int_equal(out[0], WIRE_VERSION);
	assert_int_equal(out[1], answer);
	assert_int_equal(len, WIRE_HDR_LEN + pbuf_rd32(out + 2));
	pump(&p);
	assert_closed(&p.c, code);
	assert_int_equal(p.v.msgs, 0);
	pair_free(&p);
}

static void test_open_framing_errors(void **state)
{
	(void)state;
	uint8_t f[WIRE_HDR_LEN + CHAN_OVERHEAD + 1];

	/* frame header: another version, a length above one maximal record */
	frame(f, 2, WIRE_RECORD, NULL, 0);
	open_server_rejects(f, WIRE_HDR_LEN, PED_E_VERSION, WIRE_RECORD);
	frame(f, WIRE_VERSION, WIRE_RECORD, NULL, 0);
	pbuf_be32(f + 2, CHAN_MAX_RECORD + 1);
	open_server_rejects(f, WIRE_HDR_LEN, PED_E_TOO_LONG, WIRE_RECORD);
	/* a frame type other than RECORD */
	frame(f, WIRE_VERSION, WIRE_HELLO, NULL, 0);
	open_server_rejects(f, WIRE_HDR_LEN, PED_E_BAD_REQUEST, WIRE_RECORD);
	/* record header inside a good frame: another record version, length 0,
	 * a length that does not fill the frame: BAD_RECORD, channel dead */
	memset(f, 0, sizeof(f));
	frame(f, WIRE_VERSION, WIRE_RECORD, f + WIRE_HDR_LEN, CHAN_OVERHEAD + 1);
	f[WIRE_HDR_LEN] = CHAN_REC_VERSION + 1;
	pbuf_be32(f + WIRE_HDR_LEN + 1, 1);
	open_server_rejects(f, sizeof(f), PED_E_BAD_RECORD, WIRE_ERROR);
	f[WIRE_HDR_LEN] = CHAN_REC_VERSION;
	pbuf_be32(f + WIRE_HDR_LEN + 1, 0);
	open_server_rejects(f, sizeof(f), PED_E_BAD_RECORD, WIRE_ERROR);
	pbuf_be32(f + WIRE_HDR_LEN + 1, 2);
	open_server_rejects(f, sizeof(f), PED_E_BAD_RECORD, WIRE_ERROR);
	/* a well-formed record with a wrong tag */
	pbuf_be32(f + WIRE_HDR_LEN + 1, 1);
	open_server_rejects(f, sizeof(f), PED_E_BAD_TAG, WIRE_ERROR);
}

/* A clean handshake's byte streams, recorded. */
static void record_handshake(struct pair *p)
{
	pair_init(p);
	handshake(p);
	assert_open(p);
}

/* Frame boundaries of a recorded stream: starts[i], up to max frames. */
static size_t frames_of(const uint8_t *s, size_t len, size_t *starts, size_t max)
{
	size_t off = 0, k = 0;

	while (off + WIRE_HDR_LEN <= len && k < max) {
		starts[k++] = off;
		off += WIRE_HDR_LEN + pbuf_rd32(s + off + 2);
	}
	return k;
}

static void test_truncated(void **state)
{
	(void)state;
	struct pair rec;
	size_t starts[4];

	record_handshake(&rec);
	/* every prefix of the client's HELLO, KEX_INIT: a fresh server waits */
	size_t k = frames_of(rec.stream[0], rec.stream_len[0], starts, 4);
	assert_int_equal(k, 3);
	for (size_t n = 0; n < starts[1]; n++) {
		sess_t *v = NULL;
		struct sess_event ev;
		uint8_t *copy = malloc(n ? n : 1); /* exact size: ASan sees over-reads */
		assert_non_null(copy);
		memcpy(copy, rec.stream[0], n);
		assert_int_equal(sess_server_new(&v), 0);
		assert_int_equal(sess_feed(v, copy, n), 0);
		free(copy);
		assert_int_equal(sess_next(v, &ev), 0);
		assert_int_equal(ev.type, SESS_EV_NONE);
		assert_int_equal(sess_state(v), SESS_ST_HELLO);
		sess_free(v);
	}
	/* every prefix of the server's HELLO_ACK + KEX_SHARE at a fresh client:
	 * nothing for the owner until the KEX_SHARE is whole */
	k = frames_of(rec.stream[1], rec.stream_len[1], starts, 4);
	assert_int_equal(k, 3);
	for (size_t n = 0; n < starts[2]; n++) {
		sess_t *c = NULL;
		struct sess_event ev;
		assert_int_equal(sess_client_new("hsmhost", "154704", &c), 0);
		assert_int_equal(sess_feed(c, rec.stream[1], n), 0);
		assert_int_equal(sess_next(c, &ev), 0);
		assert_int_equal(ev.type, SESS_EV_NONE);
		sess_free(c);
	}
	pair_free(&rec);
}

/* Runs a handshake with one bit flipped and checks that it fails with a
 * named error on some side, and never opens both sides. A flip that leaves a
 * frame incomplete stalls it: the server's handshake deadline ends that. */
static void flipped_handshake(const struct tamper *t)
{
	struct pair p;

	pair_init(&p);
	p.t = t;
	pump(&p);
	if (!p.v.closed && !p.c.closed) {
		assert_int_equal(sess_disconnect(p.v.s, PED_E_HANDSHAKE_TIMEOUT, "deadline"), 0);
		pump(&p);
	}
	assert_false(p.c.opened && p.v.opened && !p.c.closed && !p.v.closed);
	assert_int_equal(p.v.opened, 0);
	assert_true(p.c.closed || p.v.closed);
	if (p.c.closed)
		assert_string_not_equal(ped_errname(p.c.code), "UNKNOWN_ERROR");
	if (p.v.closed)
		assert_string_not_equal(ped_errname(p.v.code), "UNKNOWN_ERROR");
	if (p.c.closed)
		assert_int_not_equal(p.c.code, 0);
	if (p.v.closed)
		assert_int_not_equal(p.v.code, 0);
	pair_free(&p);
}

static void test_handshake_bit_flips(void **state)
{
	(void)state;
	struct pair rec;
	/* Under valgrind, one bit per byte (rotating) instead of all eight. */
	int all_bits = !RUNNING_ON_VALGRIND && getenv("SESS_TEST_QUICK") == NULL;
	size_t runs = 0;

	record_handshake(&rec);
	for (int dir = 0; dir < 2; dir++) {
		for (size_t at = 0; at < rec.stream_len[dir]; at++) {
			for (int bit = 0; bit < 8; bit++) {
				if (!all_bits && bit != (int)(at % 8))
					continue;
				struct tamper t = {dir, at, (uint8_t)(1u << bit)};
				flipped_handshake(&t);
				runs++;
			}
		}
	}
	/* HELLO, KEX_INIT, KEX_CONFIRM and HELLO_ACK, KEX_SHARE, KEX_REPLY all
	 * covered */
	assert_true(rec.stream_len[0] > WIRE_HDR_LEN * 3 + 266 + 64);
	assert_true(rec.stream_len[1] > WIRE_HDR_LEN * 3 + 133 + 64);
	print_message("  %u flipped handshakes\n", (unsigned)runs);
	pair_free(&rec);
}

static void test_record_bit_flip_and_reflection(void **state)
{
	(void)state;
	struct pair p;
	uint8_t link[5] = {LINK_STATUS, 0, 1, 2, 3};
	const uint8_t *out;
	size_t len;
	uint8_t copy[256];

	/* a flipped bit in a record: both sides closed, nothing delivered */
	for (size_t at = 0; at < WIRE_HDR_LEN + 1 + sizeof(link) + CHAN_OVERHEAD; at += 7) {
		pair_init(&p);
		handshake(&p);
		assert_int_equal(sess_send(p.c.s, SESS_MSG_LINK, link, sizeof(link)), 0);
		sess_output(p.c.s, &out, &len);
		assert_true(len <= sizeof(copy));
		{ /* one RECORD frame holding exactly one record */
			size_t reclen = 0;
			assert_int_equal(out[1], WIRE_RECORD);
			assert_int_equal(chan_record_len(out + WIRE_HDR_LEN, len - WIRE_HDR_LEN, &reclen), 0);
			assert_int_equal(reclen, len - WIRE_HDR_LEN);
		}
		memcpy(copy, out, len);
		sess_output_done(p.c.s, len);
		copy[at] ^= (uint8_t)(1u << (at % 8));
		assert_int_equal(sess_feed(p.v.s, copy, len), 0);
		drain(&p, &p.v);
		pump(&p);
		if (!p.v.closed) { /* a length grown within the cap: waits */
			assert_int_equal(p.v.msgs, 0);
			assert_int_equal(sess_disconnect(p.v.s, PED_E_PEER_TIMEOUT, NULL), 0);
			pump(&p);
		}
		assert_int_equal(p.v.msgs, 0);
		assert_int_equal(p.v.closed, 1);
		assert_int_not_equal(p.v.code, 0);
		assert_int_equal(p.c.closed, 1);
		pair_free(&p);
	}

	/* a record reflected back to its sender */
	pair_init(&p);
	handshake(&p);
	assert_int_equal(sess_send(p.c.s, SESS_MSG_LINK, link, sizeof(link)), 0);
	sess_output(p.c.s, &out, &len);
	memcpy(copy, out, len);
	sess_output_done(p.c.s, len);
	assert_int_equal(sess_feed(p.c.s, copy, len), 0);
	drain(&p, &p.c);
	assert_closed(&p.c, PED_E_BAD_TAG);
	assert_int_equal(p.c.msgs, 0);
	pair_free(&p);
}

static void test_reflected_confirm(void **state)
{
	(void)state;
	struct pair rec, p;
	size_t cs[4], vs[4];

	record_handshake(&rec);
	frames_of(rec.stream[0], rec.stream_len[0], cs, 4);
	frames_of(rec.stream[1], rec.stream_len[1], vs, 4);

	/* KEX_CONFIRM reflected to the client that sent it: unexpected */
	{
		sess_t *c = NULL;
		struct sess_event ev;
		assert_int_equal(sess_client_new("hsmhost", "154704", &c), 0);
		assert_int_equal(sess_feed(c, rec.stream[0] + cs[2], rec.stream_len[0] - cs[2]), 0);
		assert_int_equal(sess_next(c, &ev), 0);
		assert_int_equal(ev.type, SESS_EV_CLOSED);
		assert_int_equal(ev.code, PED_E_BAD_REQUEST);
		sess_free(c);
	}
	/* the server's own tag (KEX_REPLY's last 64 bytes) as KEX_CONFIRM */
	pair_init(&p);
	drain(&p, &p.c);
	move(&p, 0); /* HELLO */
	move(&p, 1); /* HELLO_ACK, KEX_SHARE */
	move(&p, 0); /* KEX_INIT */
	{
		const uint8_t *out;
		size_t len;
		uint8_t f[WIRE_HDR_LEN + KAS_TAG_LEN];
		sess_output(p.v.s, &out, &len);
		assert_int_equal(len, WIRE_HDR_LEN + KAS_TAG_LEN);
		frame(f, WIRE_VERSION, WIRE_KEX_CONFIRM, out + WIRE_HDR_LEN, KAS_TAG_LEN);
		assert_int_equal(sess_feed(p.v.s, f, sizeof(f)), 0);
	}
	drain(&p, &p.v);
	assert_closed(&p.v, PED_E_RPV_MISMATCH);
	assert_int_equal(p.v.opened, 0);
	pair_free(&p);
	pair_free(&rec);
}

static void test_api_misuse(void **state)
{
	(void)state;
	sess_t *c = NULL;
	kas_keys_t k;

	assert_int_equal(sess_client_new("bad\nname", "1", &c), PED_E_INVAL);
	assert_null(c);
	assert_int_equal(sess_client_new("h", "1", &c), 0);
	assert_int_equal(sess_client_kex_init(c, qs_u, qe_u, kp_u), PED_E_INVAL);
	assert_int_equal(sess_server_check_proof(c, kp_u), PED_E_INVAL);
	memset(&k, 0, sizeof(k));
	assert_int_equal(sess_client_keys(c, &k), PED_E_INVAL);
	assert_int_equal(sess_send(c, SESS_MSG_LINK, (const uint8_t *)"abc", 3), PED_E_CHAN_DEAD);
	assert_int_equal(sess_ping(c, 1), PED_E_CHAN_DEAD);
	assert_int_equal(sess_server_keys(c, (const uint8_t *)"x", 1, ped_static), PED_E_INVAL);
	{
		struct wire_hello_ack a;
		ecp_key_t *ahead = NULL; /* freed by the refusing call (valgrind) */
		fill_ack(&a, "");
		assert_int_equal(ecp_generate(&ahead), 0);
		assert_int_equal(sess_server_accept(c, &a, ahead, qh_v), PED_E_INVAL);
		assert_int_equal(sess_server_accept(c, &a, NULL, qh_v), PED_E_INVAL);
	}
	assert_int_equal(sess_state(c), SESS_ST_HELLO);
	sess_free(c);
	sess_free(NULL);
}

/* A stranger that claims the HSM's public key without its private key: the
 * proof fails, both sides say HSM_KEY_PROOF_FAILED, the PED is never asked. */
static void test_forged_key_proof(void **state)
{
	struct pair p;

	(void)state;
	pair_init(&p);
	p.forge = 1;
	handshake(&p);
	assert_int_equal(p.v.kex, 0);
	assert_closed(&p.v, PED_E_KEY_PROOF);
	assert_closed(&p.c, PED_E_KEY_PROOF);
	pair_free(&p);
}

static int setup(void **state)
{
	(void)state;
	ecp_key_t *qs = NULL, *qh = NULL;
	int r;

	if (ecp_generate(&hsm_static) != 0 || ecp_generate(&hsm_ephem) != 0 ||
	    ecp_generate(&ped_static) != 0 || ecp_generate(&ped_other) != 0 ||
	    ecp_generate(&srv_host) != 0 || ecp_export_public(srv_host, qh_v) != 0 ||
	    ecp_export_public(hsm_static, qs_u) != 0 || ecp_export_public(hsm_ephem, qe_u) != 0)
		return -1;
	r = ecp_import_public(qs_u, ECP_PUB_LEN, &qs) != 0 ||
	    ecp_import_public(qh_v, ECP_PUB_LEN, &qh) != 0 ||
	    sess_proof_key(srv_host, qs, qs_u, qh_v, kp_v) != 0 ||
	    sess_proof_key(hsm_static, qh, qs_u, qh_v, kp_u) != 0 ||
	    sess_proof_key(ped_other, qh, qs_u, qh_v, kp_forged) != 0 ||
	    memcmp(kp_u, kp_v, sizeof(kp_u)) != 0; /* the CDH is symmetric */
	ecp_free(qs);
	ecp_free(qh);
	return r ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	ecp_free(hsm_static);
	ecp_free(hsm_ephem);
	ecp_free(ped_static);
	ecp_free(ped_other);
	ecp_free(srv_host);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handshake_and_messages),
		cmocka_unit_test(test_forged_key_proof),
		cmocka_unit_test(test_wrap_both_ways),
		cmocka_unit_test(test_disconnect_with_reason),
		cmocka_unit_test(test_byte_by_byte),
		cmocka_unit_test(test_wrong_rpv),
		cmocka_unit_test(test_wrong_ped_key),
		cmocka_unit_test(test_kex_share),
		cmocka_unit_test(test_busy),
		cmocka_unit_test(test_version_mismatch),
		cmocka_unit_test(test_probe),
		cmocka_unit_test(test_garbage_and_oversize),
		cmocka_unit_test(test_open_framing_errors),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_record_bit_flip_and_reflection),
		cmocka_unit_test(test_reflected_confirm),
		cmocka_unit_test(test_api_misuse),
		cmocka_unit_test(test_handshake_bit_flips),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
