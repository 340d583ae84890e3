/* session_fuzz.c - libFuzzer target for the session state machine
 * (session/session.c). Every input is fed
 *   1. to a server session, as the bytes a client would send (the owner
 *      accepts the HELLO and answers KEX_INIT with a fixed RPV and PED key);
 *   2. to a client session that has queued its HELLO (the owner sends
 *      KEX_INIT on HELLO_ACK + KEX_SHARE and derives as the HSM);
 *   2b. if the input starts with 'P': the rest to a password-mode client
 *      (PROTOCOL.md Part 4; the owner answers HELLO_ACK with PAKE_A and
 *      derives with SPAKE2); the server of 1. answers PAKE_A with a fixed
 *      password, so a password-mode transcript in the input reaches PAKE_B;
 *   3. if the input starts with 'R': the rest, cut into messages (u8 length
 *      || bytes), sealed as records by a client that completed a real
 *      handshake, to an open server session: message dispatch after the MAC.
 * No input may crash, leak or read out of bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/err.h"
#include "session/session.h"
#include "crypto/chan.h"
#include "crypto/ecp.h"
#include "crypto/kas.h"
#include "session/pake.h"

static ecp_key_t *hsm_s, *hsm_e, *ped_s;
static uint8_t qs_u[ECP_PUB_LEN], qe_u[ECP_PUB_LEN], qh_v[ECP_PUB_LEN]; /* host key: ped_s */
static const uint8_t rpv[32] = "fuzzing RPV, thirty-two bytes.!";
static spake2_t *pw_sp; /* a password-mode client's SPAKE2 side */

static void keys_once(void)
{
	static const uint8_t d1[] = {0x11}, d2[] = {0x22}, d3[] = {0x33};

	if (hsm_s != NULL)
		return;
	if (ecp_from_private(d1, 1, &hsm_s) != 0 || ecp_from_private(d2, 1, &hsm_e) != 0 ||
	    ecp_from_private(d3, 1, &ped_s) != 0 || ecp_export_public(hsm_s, qs_u) != 0 ||
	    ecp_export_public(ped_s, qh_v) != 0 ||
	    ecp_export_public(hsm_e, qe_u) != 0)
		abort();
}

/* The HSM's derivation; keeps a copy of the keys in *copy when asked. */
static void client_keys(sess_t *c, const struct sess_event *ev, kas_keys_t *copy)
{
	ecp_key_t *qe = NULL;
	kas_keys_t k;
	struct kas_params kp = {
		.scheme = KAS_FULL_UNIFIED, .role = KAS_U, .own_static = hsm_s,
		.own_ephem = hsm_e, .secret = rpv, .secret_len = sizeof(rpv),
		.context = ev->context, .context_len = SESS_TRANSCRIPT_LEN,
	};

	if (ecp_import_public(ev->peer_ephem, ECP_PUB_LEN, &qe) != 0)
		abort(); /* the session validated it */
	kp.peer_static = ped_s; /* as the HSM stored it */
	kp.peer_ephem = qe;
	if (kas_derive(&kp, &k) == 0) {
		if (copy != NULL)
			*copy = k;
		(void)sess_client_keys(c, &k);
	}
	kas_keys_wipe(&k);
	ecp_free(qe);
}

/* Kp of the key proof from own's private key and the public key pub. */
static int proof_key(const ecp_key_t *own, const uint8_t *pub, const uint8_t *qs,
		     const uint8_t *qh, uint8_t kp[SESS_PROOF_KEY_LEN])
{
	ecp_key_t *k = NULL;
	int r = ecp_import_public(pub, ECP_PUB_LEN, &k);

	if (r == 0)
		r = sess_proof_key(own, k, qs, qh, kp);
	ecp_free(k);
	return r;
}

/* Drains one session's events, answering as the daemons would. */
static void drain(sess_t *s, kas_keys_t *copy)
{
	struct sess_event ev;
	struct wire_hello_ack a = {.ped_attached = 1};

	strcpy(a.server_name, "fuzzhost");
	strcpy(a.software, "pedserver fuzz");
	for (int i = 0; i < 100000; i++) {
		if (sess_next(s, &ev) != 0)
			abort();
		switch (ev.type) {
		case SESS_EV_NONE:
			return;
		case SESS_EV_HELLO:
			(void)sess_server_accept(s, &a, NULL, qh_v);
			break;
		case SESS_EV_KEX_INIT: {
			uint8_t kp[SESS_PROOF_KEY_LEN];

			if (proof_key(ped_s, ev.peer_static, ev.peer_static, qh_v, kp) == 0 &&
			    sess_server_check_proof(s, kp) == 0)
				(void)sess_server_keys(s, rpv, sizeof(rpv), ped_s);
			break;
		}
		case SESS_EV_PAKE_A:
			(void)sess_server_password(s, "12345678", 8);
			break;
		case SESS_EV_HELLO_ACK:
			if (ev.ack.busy)
				break;
			if (sess_is_password(s)) {
				uint8_t pa[PAKE_PT_LEN];

				spake2_free(pw_sp);
				if (pake_start(KAS_U, "12345678", 8, "1", NULL, 0, &pw_sp, pa) == 0)
					(void)sess_client_pake(s, qs_u, pa);
			} else {
				uint8_t kp[SESS_PROOF_KEY_LEN], proof[SESS_PROOF_LEN];

				if (proof_key(hsm_s, ev.peer_static, qs_u, ev.peer_static, kp) == 0 &&
				    sess_proof(kp, ev.context, qe_u, proof) == 0)
					(void)sess_client_kex_init(s, qs_u, qe_u, proof);
			}
			break;
		case SESS_EV_DERIVE:
			if (sess_is_password(s)) {
				kas_keys_t k;

				if (pw_sp != NULL &&
				    pake_finish(&pw_sp, KAS_U, "1", qs_u, sess_server_name(s),
						ev.peer_ephem, ev.context, SESS_TRANSCRIPT_LEN, &k) == 0)
					(void)sess_client_keys(s, &k);
				kas_keys_wipe(&k);
			} else {
				client_keys(s, &ev, copy);
			}
			break;
		case SESS_EV_MESSAGE:
			if (ev.body_len > SESS_MSG_MAX || (ev.body_len > 0 && ev.body == NULL))
				abort();
			break;
		default:
			break;
		}
	}
	abort(); /* an endless stream of events */
}

static void discard_output(sess_t *s)
{
	const uint8_t *p;
	size_t n;

	sess_output(s, &p, &n);
	sess_output_done(s, n);
}

/* Feeds data to s in bounded chunks, draining between them. */
static void feed(sess_t *s, const uint8_t *data, size_t size)
{
	while (size > 0) {
		size_t n = size < SESS_FEED_MAX ? size : SESS_FEED_MAX;
		if (sess_feed(s, data, n) != 0)
			break;
		drain(s, NULL);
		discard_output(s);
		data += n;
		size -= n;
	}
}

/* Moves everything queued by from into to. */
static void move(sess_t *from, sess_t *to, kas_keys_t *copy)
{
	const uint8_t *p;
	size_t n;

	sess_output(from, &p, &n);
	if (n > 0 && sess_feed(to, p, n) == 0)
		drain(to, copy);
	sess_output_done(from, n);
}

static void open_server(const uint8_t *data, size_t size)
{
	sess_t *c = NULL, *v = NULL;
	kas_keys_t k;
	chan_t *u = NULL;
	uint8_t rec[WIRE_HDR_LEN + 255 + CHAN_OVERHEAD];

	memset(&k, 0, sizeof(k));
	if (sess_client_new("fuzz", "1", &c) != 0 || sess_server_new(&v) != 0)
		abort();
	for (int i = 0; i < 4; i++) {
		move(c, v, NULL);
		move(v, c, &k);
	}
	move(c, v, NULL);
	if (sess_state(v) != SESS_ST_OPEN || sess_state(c) != SESS_ST_OPEN || chan_new(&k, &u) != 0)
		abort();
	while (size > 0) {
		size_t n = data[0], got = 0;
		data++, size--;
		if (n > size)
			n = size;
		if (n == 0)
			continue;
		rec[0] = WIRE_VERSION;
		rec[1] = WIRE_RECORD;
		if (chan_seal(u, data, n, rec + WIRE_HDR_LEN, sizeof(rec) - WIRE_HDR_LEN, &got) != 0)
			abort();
		rec[2] = rec[3] = 0;
		rec[4] = (uint8_t)(got >> 8);
		rec[5] = (uint8_t)got;
		if (sess_feed(v, rec, WIRE_HDR_LEN + got) != 0)
			break;
		drain(v, NULL);
		discard_output(v);
		data += n;
		size -= n;
	}
	chan_free(u);
	kas_keys_wipe(&k);
	sess_free(c);
	sess_free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sess_t *s = NULL;

	keys_once();
	if (sess_server_new(&s) != 0)
		abort();
	feed(s, data, size);
	sess_free(s);

	if (sess_client_new("fuzz", "1", &s) != 0)
		abort();
	discard_output(s);
	feed(s, data, size);
	sess_free(s);

	if (size > 0 && data[0] == 'P') {
		if (sess_client_new_password("fuzz", "1", &s) != 0)
			abort();
		discard_output(s);
		feed(s, data + 1, size - 1);
		sess_free(s);
		spake2_free(pw_sp);
		pw_sp = NULL;
	}
	if (size > 0 && data[0] == 'R')
		open_server(data + 1, size - 1);
	return 0;
}
