/* pedhost_kex_test.c - the host side of the Local PED's secure link
 * (pedhost_secure, link.h KEX_*) against a fake PED on a pty that runs
 * One-Pass C(1e,1s) as party U with crypto/kas.h: the round trip, a wrong
 * tag (KEY_CONFIRMATION_FAILED), wrapped result blobs unwrapped for the
 * caller, plain or forged CSPs refused once secured, shares sent wrapped,
 * the key-agreement deadline, and the keys dropped with the link. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <uv.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "crypto/ecp.h"
#include "crypto/kas.h"
#include "crypto/kwp.h"
#include "crypto/shamir.h"
#include "usbped/link.h"
#include "usbped/pedhost.h"

/* How the fake PED answers. */
enum script { S_NORMAL, S_SILENT_KEX, S_PLAIN_RESULT, S_FORGED_RESULT };

struct fix {
	uv_loop_t loop;
	uv_timer_t guard;
	int guard_fired;
	char dir[64], link[96];
	int master;
	uv_poll_t mpoll;
	int mpolling;
	link_decoder_t *dec;
	enum script script;
	/* the fake PED (party U) */
	kas_keys_t pk;
	int ped_pending, ped_secure;
	uint8_t plain_share[SHAMIR_ENCODED_MAX];
	size_t plain_len;
	uint8_t wrapped_share[KWP_WRAPPED_LEN(SHAMIR_ENCODED_MAX)];
	size_t wrapped_len;
	int shares_wrapped, shares_plain, shares_ok;
	/* the host (party V) */
	ecp_key_t *hsm;
	uint8_t qs[ECP_PUB_LEN];
	int tamper;
	int derives;
	pedhost_t *h;
	int ups, downs;
	int dones, done_err;
	int results, result_status;
	pedhost_result_t res;
	int closed;
};

static void guard_cb(uv_timer_t *t)
{
	((struct fix *)t->data)->guard_fired = 1;
}

#define RUN_UNTIL(f, cond)                                                     \
	do {                                                                   \
		(f)->guard_fired = 0;                                          \
		uv_timer_start(&(f)->guard, guard_cb, 3000, 0);                \
		while (!(cond) && !(f)->guard_fired)                           \
			uv_run(&(f)->loop, UV_RUN_ONCE);                        \
		uv_timer_stop(&(f)->guard);                                    \
		assert_true(cond);                                             \
	} while (0)

/* ---- the fake PED ----------------------------------------------------- */

static void ped_send(struct fix *f, uint8_t type, uint16_t id, const pbuf_t *b)
{
	uint8_t out[LINK_MAX_FRAME];
	size_t n = 0;

	assert_int_equal(link_encode(type, id, b != NULL ? b->data : NULL, b != NULL ? b->len : 0,
				     out, sizeof(out), &n),
			 0);
	assert_int_equal(write(f->master, out, n), (ssize_t)n);
}

static void ped_kex_offer(struct fix *f, const link_frame_t *fr)
{
	uint8_t qe[ECP_PUB_LEN], ctx[64];
	unsigned ctxlen = 0;
	ecp_key_t *qs = NULL, *e = NULL;
	struct kas_params kp = {0};
	pbuf_t b;

	assert_int_equal(fr->len, ECP_PUB_LEN + KAS_NONCE_LEN);
	assert_memory_equal(fr->payload, f->qs, ECP_PUB_LEN);
	f->ped_secure = 0;
	kas_keys_wipe(&f->pk);
	if (f->script == S_SILENT_KEX)
		return;
	assert_int_equal(ecp_import_public(fr->payload, ECP_PUB_LEN, &qs), 0);
	assert_int_equal(EVP_Digest(fr->payload, fr->len, ctx, &ctxlen, EVP_sha512(), NULL), 1);
	assert_int_equal(ecp_generate(&e), 0);
	assert_int_equal(ecp_export_public(e, qe), 0);
	kp.scheme = KAS_ONE_PASS;
	kp.role = KAS_U;
	kp.own_ephem = e;
	kp.peer_static = qs;
	kp.nonce_v = fr->payload + ECP_PUB_LEN;
	kp.context = ctx;
	kp.context_len = ctxlen;
	assert_int_equal(kas_derive(&kp, &f->pk), 0);
	f->ped_pending = 1;
	ecp_free(e);
	ecp_free(qs);
	pbuf_from(&b, qe, sizeof(qe));
	ped_send(f, LINK_KEX_ACCEPT, fr->id, &b);
}

static void ped_kex_confirm(struct fix *f, const link_frame_t *fr)
{
	uint8_t mem[2];
	pbuf_t b;
	int r;

	assert_true(f->ped_pending);
	assert_int_equal(fr->len, KAS_TAG_LEN);
	f->ped_pending = 0;
	r = kas_check_tag(&f->pk, fr->payload);
	f->ped_secure = r == 0;
	pbuf_over(&b, mem, sizeof(mem));
	pbuf_put_u16(&b, r == 0 ? 0 : (uint16_t)-PED_E_KC_FAILED);
	ped_send(f, LINK_KEX_DONE, fr->id, &b);
}

/* READ_KEYSET: one share of a 1-of-1 keyset, wrapped under CWK_UV once
 * secured (S_PLAIN_RESULT: plain anyway; S_FORGED_RESULT: a flipped bit). */
static void ped_read(struct fix *f, const link_frame_t *fr)
{
	static const uint8_t ks[LINK_KEYSET_ID_LEN] = {1, 2, 3};
	uint8_t mem[LINK_MAX_PAYLOAD], secret[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
	shamir_share_t sh[1];
	pbuf_t b, s;

	assert_int_equal(shamir_split(secret, sizeof(secret), 1, 1, sh), 0);
	pbuf_over(&s, f->plain_share, sizeof(f->plain_share));
	assert_int_equal(shamir_share_encode(&sh[0], &s), 0);
	f->plain_len = s.len;
	shamir_share_wipe(&sh[0]);
	pbuf_over(&b, mem, sizeof(mem));
	pbuf_put_u16(&b, 0);
	pbuf_put_u8(&b, 1);
	pbuf_put_u8(&b, 1);
	pbuf_put_bytes(&b, ks, sizeof(ks));
	pbuf_put_u8(&b, 1);
	link_put_str(&b, "KEYA");
	if (f->ped_secure && f->script != S_PLAIN_RESULT) {
		assert_int_equal(kwp_wrap(f->pk.uv.cwk, f->plain_share, f->plain_len,
					  f->wrapped_share, sizeof(f->wrapped_share),
					  &f->wrapped_len),
				 0);
		if (f->script == S_FORGED_RESULT)
			f->wrapped_share[5] ^= 0x80;
		link_put_blob(&b, 1, f->wrapped_share, f->wrapped_len);
	} else {
		link_put_blob(&b, 0, f->plain_share, f->plain_len);
	}
	ped_send(f, LINK_RESULT, fr->id, &b);
}

static void ped_otp(struct fix *f, const link_frame_t *fr)
{
	uint8_t mem[64], w[32];
	size_t wlen = 0;
	pbuf_t b;

	pbuf_over(&b, mem, sizeof(mem));
	pbuf_put_u16(&b, 0);
	assert_true(f->ped_secure);
	assert_int_equal(kwp_wrap(f->pk.uv.cwk, (const uint8_t *)"12345678", 8, w, sizeof(w),
				  &wlen),
			 0);
	link_put_blob(&b, 1, w, wlen);
	ped_send(f, LINK_RESULT, fr->id, &b);
}

static void ped_shares(struct fix *f, const link_frame_t *fr)
{
	uint8_t ks[LINK_KEYSET_ID_LEN], count, wrap, blob[KWP_WRAPPED_LEN(SHAMIR_ENCODED_MAX)];
	uint8_t plain[SHAMIR_ENCODED_MAX], mem[64];
	size_t len, plen;
	shamir_share_t s;
	pbuf_t in, sb, b;

	pbuf_from(&in, fr->payload, fr->len);
	assert_int_equal(pbuf_get_bytes(&in, ks, sizeof(ks)), 0);
	assert_int_equal(pbuf_get_u8(&in, &count), 0);
	for (unsigned i = 0; i < count; i++) {
		assert_int_equal(link_get_blob(&in, &wrap, blob, sizeof(blob), &len), 0);
		if (wrap != 1) {
			f->shares_plain++;
			continue;
		}
		f->shares_wrapped++;
		assert_int_equal(kwp_unwrap(f->pk.vu.cwk, blob, len, plain, sizeof(plain), &plen), 0);
		pbuf_from(&sb, plain, plen);
		assert_int_equal(shamir_share_decode(&sb, &s), 0);
		assert_int_equal(s.x, i + 1);
		f->shares_ok++;
		shamir_share_wipe(&s);
	}
	pbuf_over(&b, mem, sizeof(mem));
	pbuf_put_u16(&b, 0);
	pbuf_put_u8(&b, 0);
	pbuf_put_u8(&b, 2);
	pbuf_put_u8(&b, count);
	pbuf_put_bytes(&b, ks, sizeof(ks));
	pbuf_put_u8(&b, count);
	ped_send(f, LINK_RESULT, fr->id, &b);
}

static void ped_frame(struct fix *f, const link_frame_t *fr)
{
	uint8_t mem[LINK_MAX_PAYLOAD];
	pbuf_t b;

	pbuf_over(&b, mem, sizeof(mem));
	switch (fr->type) {
	case LINK_HELLO:
		f->ped_secure = 0;
		kas_keys_wipe(&f->pk);
		pbuf_put_u8(&b, 1);
		link_put_str(&b, "fake 0.1");
		link_put_str(&b, "SN42");
		link_put_str(&b, "fakeped");
		ped_send(f, LINK_HELLO_ACK, fr->id, &b);
		return;
	case LINK_KEX_OFFER:
		ped_kex_offer(f, fr);
		return;
	case LINK_KEX_CONFIRM:
		ped_kex_confirm(f, fr);
		return;
	case LINK_READ_KEYSET:
		ped_read(f, fr);
		return;
	case LINK_OTP:
		ped_otp(f, fr);
		return;
	case LINK_CREATE_KEYSET:
		pbuf_put_u8(&b, LINK_EV_NEED_SHARES);
		pbuf_put_u8(&b, 2);
		pbuf_put_u8(&b, 3);
		ped_send(f, LINK_EVENT, fr->id, &b);
		return;
	case LINK_SHARES:
		ped_shares(f, fr);
		return;
	default:
		return;
	}
}

static void master_cb(uv_poll_t *hp, int status, int events)
{
	struct fix *f = hp->data;
	uint8_t buf[4096];
	link_frame_t fr;
	ssize_t n;

	(void)status;
	if (!(events & UV_READABLE))
		return;
	while ((n = read(f->master, buf, sizeof(buf))) > 0) {
		assert_int_equal(link_decoder_feed(f->dec, buf, (size_t)n), 0);
		while (link_decoder_next(f->dec, &fr) == 0)
			ped_frame(f, &fr);
	}
}

/* A new pty whose slave is published at f->link (like pedemu -link). */
static void ped_plug(struct fix *f)
{
	char slave[128];
	struct termios tio;

	f->master = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK);
	assert_true(f->master >= 0);
	assert_int_equal(grantpt(f->master), 0);
	assert_int_equal(unlockpt(f->master), 0);
	assert_int_equal(ptsname_r(f->master, slave, sizeof(slave)), 0);
	assert_int_equal(tcgetattr(f->master, &tio), 0);
	cfmakeraw(&tio);
	assert_int_equal(tcsetattr(f->master, TCSANOW, &tio), 0);
	unlink(f->link);
	assert_int_equal(symlink(slave, f->link), 0);
	assert_int_equal(uv_poll_init(&f->loop, &f->mpoll, f->master), 0);
	f->mpoll.data = f;
	f->mpolling = 1;
	assert_int_equal(uv_poll_start(&f->mpoll, UV_READABLE, master_cb), 0);
	link_decoder_free(f->dec);
	f->dec = NULL;
	assert_int_equal(link_decoder_new(&f->dec), 0);
}

static void master_closed(uv_handle_t *hd)
{
	struct fix *f = hd->data;

	close(f->master);
	f->master = -1;
}

static void ped_unplug(struct fix *f)
{
	f->mpolling = 0;
	uv_close((uv_handle_t *)&f->mpoll, master_closed);
}

/* ---- the host (party V) --------------------------------------------------- */

static void on_up(void *arg, const pedhost_info_t *info)
{
	(void)info;
	((struct fix *)arg)->ups++;
}

static void on_down(void *arg, int err)
{
	(void)err;
	((struct fix *)arg)->downs++;
}

static void on_event(void *arg, uint16_t id, const pedhost_event_t *ev)
{
	struct fix *f = arg;

	if (ev->kind == LINK_EV_NEED_SHARES) {
		static const uint8_t ks[LINK_KEYSET_ID_LEN] = {7, 7, 7};
		const uint8_t secret[32] = {1};
		shamir_share_t sh[SHAMIR_MAX_N];
		assert_int_equal(shamir_split(secret, sizeof(secret), ev->m, ev->n, sh), 0);
		assert_int_equal(pedhost_send_shares(f->h, id, ks, sh, ev->n), 0);
		for (unsigned i = 0; i < ev->n; i++)
			shamir_share_wipe(&sh[i]);
	}
}

static void on_result(void *arg, uint16_t id, const pedhost_result_t *res)
{
	struct fix *f = arg;

	(void)id;
	f->results++;
	f->result_status = res->status;
	f->res = *res;
}

static const pedhost_cbs_t cbs = {on_up, on_down, NULL, on_event, on_result};

static int derive_v(void *arg, const uint8_t qe_u[ECP_PUB_LEN],
		    const uint8_t nonce_v[KAS_NONCE_LEN],
		    const uint8_t context[PEDHOST_KEX_CONTEXT_LEN], kas_keys_t *keys)
{
	struct fix *f = arg;
	ecp_key_t *qe = NULL;
	struct kas_params kp = {0};
	int r;

	f->derives++;
	assert_int_equal(ecp_import_public(qe_u, ECP_PUB_LEN, &qe), 0);
	kp.scheme = KAS_ONE_PASS;
	kp.role = KAS_V;
	kp.own_static = f->hsm;
	kp.peer_ephem = qe;
	kp.nonce_v = nonce_v;
	kp.context = context;
	kp.context_len = PEDHOST_KEX_CONTEXT_LEN;
	r = kas_derive(&kp, keys);
	if (f->tamper)
		keys->own_tag[KAS_TAG_LEN - 1] ^= 0x01;
	ecp_free(qe);
	return r;
}

static void secure_done(void *arg, int err)
{
	struct fix *f = arg;

	f->dones++;
	f->done_err = err;
}

static void on_closed(void *arg)
{
	((struct fix *)arg)->closed++;
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	log_set_level(LOG_LVL_ERROR);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	uv_timer_init(&f->loop, &f->guard);
	f->guard.data = f;
	snprintf(f->dir, sizeof(f->dir), "/tmp/pedhost_kex.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->link, sizeof(f->link), "%s/link", f->dir);
	assert_int_equal(ecp_generate(&f->hsm), 0);
	assert_int_equal(ecp_export_public(f->hsm, f->qs), 0);
	ped_plug(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	pedhost_close(f->h, on_closed, f);
	if (f->mpolling)
		ped_unplug(f);
	uv_close((uv_handle_t *)&f->guard, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	if (f->h != NULL)
		assert_int_equal(f->closed, 1);
	link_decoder_free(f->dec);
	ecp_free(f->hsm);
	kas_keys_wipe(&f->pk);
	unlink(f->link);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void open_up(struct fix *f, uint32_t margin_ms)
{
	pedhost_opts_t o = {.spec = f->link, .host_name = "test", .margin_ms = margin_ms};

	assert_int_equal(pedhost_open(&f->loop, &o, &cbs, f, &f->h), 0);
	RUN_UNTIL(f, f->ups == 1);
}

static void secure(struct fix *f)
{
	assert_int_equal(pedhost_secure(f->h, f->qs, derive_v, f, secure_done), 0);
	RUN_UNTIL(f, f->dones == 1);
	assert_int_equal(f->done_err, 0);
	assert_true(pedhost_is_secure(f->h));
	assert_true(f->ped_secure);
}

static void read_one(struct fix *f)
{
	int before = f->results;

	assert_int_equal(pedhost_read_keyset(f->h, LINK_KEY_BLUE, 1000, "t", NULL, NULL), 0);
	RUN_UNTIL(f, f->results == before + 1);
}

static void test_round_trip_and_unwrap(void **state)
{
	struct fix *f = *state;

	open_up(f, 0);
	assert_false(pedhost_is_secure(f->h));
	/* No operation while the key agreement runs, and only one at a time. */
	assert_int_equal(pedhost_secure(f->h, f->qs, derive_v, f, secure_done), 0);
	assert_int_equal(pedhost_secure(f->h, f->qs, derive_v, f, secure_done), PED_E_PED_BUSY);
	assert_int_equal(pedhost_otp(f->h, 1000, "t", 8, NULL), PED_E_PED_BUSY);
	RUN_UNTIL(f, f->dones == 1);
	assert_int_equal(f->done_err, 0);
	assert_int_equal(f->derives, 1);
	assert_true(pedhost_is_secure(f->h));
	assert_true(f->ped_secure);

	/* The PED's share travels wrapped; the caller sees the plain share. */
	read_one(f);
	assert_int_equal(f->result_status, 0);
	assert_int_equal(f->res.count, 1);
	assert_true(f->wrapped_len == KWP_WRAPPED_LEN(f->plain_len));
	assert_true(f->wrapped_len != f->plain_len ||
		    memcmp(f->wrapped_share, f->plain_share, f->plain_len) != 0);
	assert_int_equal(f->res.shares[0].wrap, 0);
	assert_int_equal(f->res.shares[0].len, f->plain_len);
	assert_memory_equal(f->res.shares[0].data, f->plain_share, f->plain_len);
	assert_string_equal(f->res.shares[0].serial, "KEYA");

	/* OTP digits too. */
	assert_int_equal(pedhost_otp(f->h, 1000, "t", 8, NULL), 0);
	RUN_UNTIL(f, f->results == 2);
	assert_int_equal(f->result_status, 0);
	assert_int_equal(f->res.otp_wrap, 0);
	assert_int_equal(f->res.otp_len, 8);
	assert_memory_equal(f->res.otp, "12345678", 8);

	/* The host's shares go wrapped under CWK_VU. */
	assert_int_equal(pedhost_create_keyset(f->h, LINK_KEY_BLUE, 1000, "t", "L", 0, NULL), 0);
	RUN_UNTIL(f, f->results == 3);
	assert_int_equal(f->result_status, 0);
	assert_int_equal(f->shares_wrapped, 3);
	assert_int_equal(f->shares_ok, 3);
	assert_int_equal(f->shares_plain, 0);
	memset(&f->res, 0, sizeof(f->res));
}

static void test_wrong_tag(void **state)
{
	struct fix *f = *state;

	open_up(f, 0);
	f->tamper = 1;
	assert_int_equal(pedhost_secure(f->h, f->qs, derive_v, f, secure_done), 0);
	RUN_UNTIL(f, f->dones == 1);
	assert_int_equal(f->done_err, PED_E_KC_FAILED);
	assert_false(pedhost_is_secure(f->h));
	assert_false(f->ped_secure);
	/* The link still works, plain as before. */
	read_one(f);
	assert_int_equal(f->result_status, 0);
	assert_int_equal(f->res.shares[0].wrap, 0);
	/* And a fresh agreement succeeds. */
	f->tamper = 0;
	f->dones = 0;
	secure(f);
}

static void test_plain_blob_refused(void **state)
{
	struct fix *f = *state;

	open_up(f, 0);
	secure(f);
	f->script = S_PLAIN_RESULT;
	read_one(f);
	assert_int_equal(f->result_status, PED_E_UNWRAP);
	assert_int_equal(f->res.count, 0);
	f->script = S_FORGED_RESULT;
	read_one(f);
	assert_int_equal(f->result_status, PED_E_UNWRAP);
	assert_int_equal(f->res.count, 0);
	f->script = S_NORMAL;
	read_one(f);
	assert_int_equal(f->result_status, 0);
}

static void test_kex_timeout_and_unplug(void **state)
{
	struct fix *f = *state;

	open_up(f, 200);
	f->script = S_SILENT_KEX;
	assert_int_equal(pedhost_secure(f->h, f->qs, derive_v, f, secure_done), 0);
	RUN_UNTIL(f, f->dones == 1);
	assert_int_equal(f->done_err, PED_E_PED_TIMEOUT);
	assert_false(pedhost_is_secure(f->h));
	assert_int_equal(f->derives, 0);

	/* Secured, then the PED goes away: the keys go with the link. */
	f->script = S_NORMAL;
	f->dones = 0;
	secure(f);
	ped_unplug(f);
	RUN_UNTIL(f, f->downs == 1);
	assert_false(pedhost_is_secure(f->h));
	assert_int_equal(pedhost_secure(f->h, f->qs, derive_v, f, secure_done), PED_E_UNPLUGGED);
	/* Back again: plain until a new agreement. */
	ped_plug(f);
	assert_int_equal(pedhost_reopen(f->h), 0);
	RUN_UNTIL(f, f->ups == 2);
	assert_false(pedhost_is_secure(f->h));
	read_one(f);
	assert_int_equal(f->result_status, 0);
	assert_false(f->ped_secure);
}

static void test_args(void **state)
{
	struct fix *f = *state;

	assert_int_equal(pedhost_secure(NULL, f->qs, derive_v, f, secure_done), PED_E_INVAL);
	assert_false(pedhost_is_secure(NULL));
	open_up(f, 0);
	assert_int_equal(pedhost_secure(f->h, NULL, derive_v, f, secure_done), PED_E_INVAL);
	assert_int_equal(pedhost_secure(f->h, f->qs, NULL, f, secure_done), PED_E_INVAL);
	assert_int_equal(pedhost_secure(f->h, f->qs, derive_v, f, NULL), PED_E_INVAL);
	/* pedhost_close with a key agreement pending: no callback afterwards. */
	assert_int_equal(pedhost_secure(f->h, f->qs, derive_v, f, secure_done), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip_and_unwrap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_tag, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plain_blob_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kex_timeout_and_unplug, setup, teardown),
		cmocka_unit_test_setup_teardown(test_args, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
