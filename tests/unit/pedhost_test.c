/* pedhost_test.c - the host side of the PED link against a scripted fake PED
 * on the master end of a pty: HELLO and version checks, status, events and
 * results, NEED_SHARES answered with shares, the host deadline when the PED
 * stays silent, cancel, busy, and unplug then reopen. */
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

#include <uv.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "crypto/shamir.h"
#include "usbped/link.h"
#include "usbped/pedhost.h"

/* What the fake PED does with each request. */
enum script { S_NORMAL, S_SILENT, S_HELLO_ERROR, S_HELLO_V9, S_STAY_BUSY };

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
	/* what the fake PED saw */
	int hellos, cancels, shares_frames, requests;
	uint16_t last_id;
	uint8_t last_type;
	unsigned shares_count;
	/* what the host reported */
	pedhost_t *h;
	int ups, downs, down_err;
	pedhost_info_t info;
	int statuses, status_err;
	pedhost_status_t st;
	int events, prompts, need;
	char prompt0[PEDHOST_STR];
	int results, result_status;
	uint16_t result_id;
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

static void ped_result(struct fix *f, uint16_t id, uint16_t status, const uint8_t *body,
		       size_t len)
{
	uint8_t mem[LINK_MAX_PAYLOAD];
	pbuf_t b;

	pbuf_over(&b, mem, sizeof(mem));
	pbuf_put_u16(&b, status);
	pbuf_put_bytes(&b, body, len);
	ped_send(f, LINK_RESULT, id, &b);
}

static void ped_prompt(struct fix *f, uint16_t id, const char *l0, const char *l1)
{
	uint8_t mem[256];
	pbuf_t b;

	pbuf_over(&b, mem, sizeof(mem));
	pbuf_put_u8(&b, LINK_EV_PROMPT);
	pbuf_put_u8(&b, 2);
	link_put_str(&b, l0);
	link_put_str(&b, l1);
	ped_send(f, LINK_EVENT, id, &b);
}

static void ped_frame(struct fix *f, const link_frame_t *fr)
{
	uint8_t mem[LINK_MAX_PAYLOAD];
	pbuf_t b, in;

	f->last_id = fr->id;
	f->last_type = fr->type;
	pbuf_over(&b, mem, sizeof(mem));
	switch (fr->type) {
	case LINK_HELLO:
		f->hellos++;
		if (f->script == S_SILENT)
			return;
		if (f->script == S_HELLO_ERROR) {
			pbuf_put_u16(&b, (uint16_t)-PED_E_VERSION);
			link_put_str(&b, "version 1 only");
			ped_send(f, LINK_ERROR, fr->id, &b);
			return;
		}
		pbuf_put_u8(&b, f->script == S_HELLO_V9 ? 9 : 1);
		link_put_str(&b, "fake 0.1");
		link_put_str(&b, "SN42");
		link_put_str(&b, "fakeped");
		ped_send(f, LINK_HELLO_ACK, fr->id, &b);
		return;
	case LINK_STATUS:
		pbuf_put_u8(&b, LINK_MODE_REMOTE);
		pbuf_put_u8(&b, 1);
		pbuf_put_u8(&b, 0);
		link_put_str(&b, "fake 0.1");
		pbuf_put_u8(&b, 1);
		link_put_str(&b, "RPK0001");
		ped_send(f, LINK_STATUS_ACK, fr->id, &b);
		return;
	case LINK_CANCEL:
		f->cancels++;
		if (f->script != S_SILENT)
			ped_result(f, fr->id, (uint16_t)-PED_E_HOST_CANCELLED, NULL, 0);
		return;
	case LINK_SHARES: {
		uint8_t ks[LINK_KEYSET_ID_LEN], count, wrap, blob[SHAMIR_ENCODED_MAX];
		size_t len;
		shamir_share_t s;
		f->shares_frames++;
		pbuf_from(&in, fr->payload, fr->len);
		assert_int_equal(pbuf_get_bytes(&in, ks, sizeof(ks)), 0);
		assert_int_equal(pbuf_get_u8(&in, &count), 0);
		for (unsigned i = 0; i < count; i++) {
			pbuf_t sb;
			assert_int_equal(link_get_blob(&in, &wrap, blob, sizeof(blob), &len), 0);
			pbuf_from(&sb, blob, len);
			assert_int_equal(shamir_share_decode(&sb, &s), 0);
			assert_int_equal(s.x, i + 1);
		}
		assert_int_equal(pbuf_expect_end(&in), 0);
		f->shares_count = count;
		/* two keys written, then the result */
		for (unsigned k = 1; k <= 2; k++) {
			pbuf_over(&b, mem, sizeof(mem));
			pbuf_put_u8(&b, LINK_EV_KEY_WRITTEN);
			pbuf_put_u8(&b, (uint8_t)k);
			pbuf_put_u8(&b, (uint8_t)count);
			link_put_str(&b, k == 1 ? "K1" : "K2");
			ped_send(f, LINK_EVENT, fr->id, &b);
		}
		pbuf_over(&b, mem, sizeof(mem));
		pbuf_put_u8(&b, 0);     /* reused */
		pbuf_put_u8(&b, 2);     /* m */
		pbuf_put_u8(&b, count); /* n */
		pbuf_put_bytes(&b, ks, sizeof(ks));
		pbuf_put_u8(&b, count);
		ped_result(f, fr->id, 0, mem, b.len);
		return;
	}
	default:
		break;
	}
	/* operations */
	f->requests++;
	if (f->script == S_SILENT)
		return;
	if (f->script == S_STAY_BUSY && f->requests > 1) {
		ped_result(f, fr->id, (uint16_t)-PED_E_PED_BUSY, NULL, 0);
		return;
	}
	ped_prompt(f, fr->id, "Insert a SO / HSM", "Admin (Blue) PED key");
	if (f->script == S_STAY_BUSY)
		return;
	switch (fr->type) {
	case LINK_READ_KEYSET: {
		static const uint8_t ks[LINK_KEYSET_ID_LEN] = {1, 2, 3};
		shamir_share_t sh[3];
		uint8_t secret[4] = {9, 8, 7, 6}, one[SHAMIR_ENCODED_MAX];
		pbuf_t s;
		pbuf_put_u8(&b, LINK_EV_KEYS_READ);
		pbuf_put_u8(&b, 1);
		pbuf_put_u8(&b, 2);
		ped_send(f, LINK_EVENT, fr->id, &b);
		assert_int_equal(shamir_split(secret, sizeof(secret), 2, 3, sh), 0);
		pbuf_over(&b, mem, sizeof(mem));
		pbuf_put_u8(&b, 2);
		pbuf_put_u8(&b, 3);
		pbuf_put_bytes(&b, ks, sizeof(ks));
		pbuf_put_u8(&b, 2);
		for (unsigned i = 0; i < 2; i++) {
			pbuf_over(&s, one, sizeof(one));
			assert_int_equal(shamir_share_encode(&sh[i], &s), 0);
			link_put_str(&b, i == 0 ? "KEYA" : "KEYB");
			link_put_blob(&b, 0, one, s.len);
		}
		ped_result(f, fr->id, 0, mem, b.len);
		return;
	}
	case LINK_CREATE_KEYSET:
		pbuf_put_u8(&b, LINK_EV_NEED_SHARES);
		pbuf_put_u8(&b, 2);
		pbuf_put_u8(&b, 3);
		ped_send(f, LINK_EVENT, fr->id, &b);
		return;
	case LINK_OTP:
		link_put_blob(&b, 0, (const uint8_t *)"12345678", 8);
		ped_result(f, fr->id, 0, mem, b.len);
		return;
	case LINK_FORGET_RPK:
		ped_result(f, fr->id, 0, NULL, 0);
		return;
	default:
		ped_result(f, fr->id, (uint16_t)-PED_E_BAD_REQUEST, NULL, 0);
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

/* ---- the host's callbacks ------------------------------------------------ */

static void on_up(void *arg, const pedhost_info_t *info)
{
	struct fix *f = arg;

	f->ups++;
	f->info = *info;
}

static void on_down(void *arg, int err)
{
	struct fix *f = arg;

	f->downs++;
	f->down_err = err;
}

static void on_status(void *arg, int err, const pedhost_status_t *st)
{
	struct fix *f = arg;

	f->statuses++;
	f->status_err = err;
	if (st != NULL)
		f->st = *st;
}

static void on_event(void *arg, uint16_t id, const pedhost_event_t *ev)
{
	struct fix *f = arg;

	f->events++;
	if (ev->kind == LINK_EV_PROMPT) {
		f->prompts++;
		snprintf(f->prompt0, sizeof(f->prompt0), "%s", ev->lines[0]);
	}
	if (ev->kind == LINK_EV_NEED_SHARES) {
		static const uint8_t ks[LINK_KEYSET_ID_LEN] = {7, 7, 7};
		const uint8_t secret[32] = {1};
		shamir_share_t sh[SHAMIR_MAX_N];
		f->need++;
		assert_int_equal(shamir_split(secret, sizeof(secret), ev->m, ev->n, sh), 0);
		assert_int_equal(pedhost_send_shares(f->h, id, ks, sh, ev->n), 0);
		shamir_share_wipe(&sh[0]);
	}
}

static void on_result(void *arg, uint16_t id, const pedhost_result_t *res)
{
	struct fix *f = arg;

	f->results++;
	f->result_id = id;
	f->result_status = res->status;
	f->res = *res;
}

static const pedhost_cbs_t cbs = {on_up, on_down, on_status, on_event, on_result};

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
	snprintf(f->dir, sizeof(f->dir), "/tmp/pedhost_test.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->link, sizeof(f->link), "%s/link", f->dir);
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
	unlink(f->link);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void open_host(struct fix *f, uint32_t hello_ms, uint32_t margin_ms)
{
	pedhost_opts_t o = {.spec = f->link, .host_name = "test",
			    .hello_timeout_ms = hello_ms, .margin_ms = margin_ms};

	assert_int_equal(pedhost_open(&f->loop, &o, &cbs, f, &f->h), 0);
}

static void test_hello_and_status(void **state)
{
	struct fix *f = *state;

	open_host(f, 0, 0);
	assert_false(pedhost_is_up(f->h));
	RUN_UNTIL(f, f->ups == 1);
	assert_true(pedhost_is_up(f->h));
	assert_int_equal(f->info.version, 1);
	assert_string_equal(f->info.firmware, "fake 0.1");
	assert_string_equal(f->info.serial, "SN42");
	assert_string_equal(f->info.model, "fakeped");
	assert_int_equal(pedhost_status(f->h), 0);
	assert_int_equal(pedhost_status(f->h), PED_E_PED_BUSY);
	RUN_UNTIL(f, f->statuses == 1);
	assert_int_equal(f->status_err, 0);
	assert_int_equal(f->st.mode, LINK_MODE_REMOTE);
	assert_int_equal(f->st.key_present, 1);
	assert_int_equal(f->st.rpk_count, 1);
	assert_string_equal(f->st.rpk_serial[0], "RPK0001");
	assert_int_equal(f->downs, 0);
}

static void test_hello_timeout(void **state)
{
	struct fix *f = *state;
	uint16_t id;

	f->script = S_SILENT;
	open_host(f, 100, 0);
	RUN_UNTIL(f, f->downs == 1);
	assert_int_equal(f->down_err, PED_E_PED_TIMEOUT);
	assert_int_equal(f->ups, 0);
	assert_int_equal(pedhost_read_rpk(f->h, 1000, "t", &id), PED_E_UNPLUGGED);
	/* the PED wakes up: a reopen says hello again */
	f->script = S_NORMAL;
	assert_int_equal(pedhost_reopen(f->h), 0);
	RUN_UNTIL(f, f->ups == 1);
	assert_int_equal(f->hellos, 2);
}

static void test_hello_refused(void **state)
{
	struct fix *f = *state;

	f->script = S_HELLO_ERROR;
	open_host(f, 0, 0);
	RUN_UNTIL(f, f->downs == 1);
	assert_int_equal(f->down_err, PED_E_VERSION);
}

static void test_hello_bad_version(void **state)
{
	struct fix *f = *state;

	f->script = S_HELLO_V9;
	open_host(f, 0, 0);
	RUN_UNTIL(f, f->downs == 1);
	assert_int_equal(f->down_err, PED_E_VERSION);
	assert_false(pedhost_is_up(f->h));
}

static void test_read(void **state)
{
	struct fix *f = *state;
	shamir_share_t s[2];
	uint8_t secret[16];
	uint16_t id, id2;
	pbuf_t b;

	open_host(f, 0, 0);
	RUN_UNTIL(f, f->ups == 1);
	assert_int_equal(pedhost_read_keyset(f->h, LINK_KEY_BLUE, 5000, "login", NULL, &id), 0);
	assert_true(id != 0);
	/* one operation at a time */
	assert_int_equal(pedhost_otp(f->h, 5000, "otp", 8, &id2), PED_E_PED_BUSY);
	RUN_UNTIL(f, f->results == 1);
	assert_int_equal(f->result_id, id);
	assert_int_equal(f->result_status, 0);
	assert_int_equal(f->res.op, LINK_READ_KEYSET);
	assert_int_equal(f->prompts, 1);
	assert_string_equal(f->prompt0, "Insert a SO / HSM");
	assert_int_equal(f->events, 2);
	assert_int_equal(f->res.m, 2);
	assert_int_equal(f->res.n, 3);
	assert_int_equal(f->res.keyset[2], 3);
	assert_int_equal(f->res.count, 2);
	assert_string_equal(f->res.shares[1].serial, "KEYB");
	for (int i = 0; i < 2; i++) {
		pbuf_from(&b, f->res.shares[i].data, f->res.shares[i].len);
		assert_int_equal(shamir_share_decode(&b, &s[i]), 0);
	}
	assert_int_equal(shamir_combine(s, 2, secret, sizeof(secret)), 0);
	assert_int_equal(secret[0], 9);
	assert_int_equal(secret[3], 6);
	/* the next operation may start */
	assert_int_equal(pedhost_otp(f->h, 5000, "otp", 8, &id2), 0);
	RUN_UNTIL(f, f->results == 2);
	assert_int_equal(f->result_status, 0);
	assert_int_equal(f->res.otp_len, 8);
	assert_memory_equal(f->res.otp, "12345678", 8);
	assert_int_equal(pedhost_forget_rpk(f->h, &id2), 0);
	RUN_UNTIL(f, f->results == 3);
	assert_int_equal(f->result_status, 0);
	assert_int_equal(f->res.op, LINK_FORGET_RPK);
}

static void test_create_with_shares(void **state)
{
	struct fix *f = *state;
	uint16_t id;

	open_host(f, 0, 0);
	RUN_UNTIL(f, f->ups == 1);
	assert_int_equal(pedhost_create_keyset(f->h, LINK_KEY_BLUE, 5000, "init", "SO", 0, &id), 0);
	RUN_UNTIL(f, f->results == 1);
	assert_int_equal(f->need, 1);
	assert_int_equal(f->shares_frames, 1);
	assert_int_equal(f->shares_count, 3);
	assert_int_equal(f->result_status, 0);
	assert_int_equal(f->res.op, LINK_CREATE_KEYSET);
	assert_int_equal(f->res.m, 2);
	assert_int_equal(f->res.n, 3);
	assert_int_equal(f->res.keyset[0], 7);
	assert_int_equal(f->res.keys_written, 3);
	/* shares for an unknown request are refused */
	assert_int_equal(pedhost_send_shares(f->h, (uint16_t)(id + 100), f->res.keyset, NULL, 0),
			 PED_E_BAD_REQUEST);
}

static void test_deadline(void **state)
{
	struct fix *f = *state;
	uint16_t id;
	uint64_t t0;

	open_host(f, 0, 150);
	RUN_UNTIL(f, f->ups == 1);
	f->script = S_SILENT;
	uv_update_time(&f->loop);
	t0 = uv_now(&f->loop);
	assert_int_equal(pedhost_read_keyset(f->h, LINK_KEY_BLUE, 100, "t", NULL, &id), 0);
	RUN_UNTIL(f, f->results == 1);
	assert_int_equal(f->result_status, PED_E_PED_TIMEOUT);
	assert_true(uv_now(&f->loop) - t0 >= 250);
	/* the host told the PED to give up */
	RUN_UNTIL(f, f->cancels == 1);
	assert_int_equal(f->last_id, id);
	assert_true(pedhost_is_up(f->h));
}

static void test_cancel(void **state)
{
	struct fix *f = *state;
	uint16_t id;

	open_host(f, 0, 0);
	RUN_UNTIL(f, f->ups == 1);
	f->script = S_STAY_BUSY;
	assert_int_equal(pedhost_read_keyset(f->h, LINK_KEY_BLUE, 5000, "t", NULL, &id), 0);
	RUN_UNTIL(f, f->prompts == 1);
	/* a raw second request reaches the PED, which answers PED_BUSY */
	uint8_t p[1 + 4 + 1 + LINK_KEYSET_ID_LEN] = {LINK_KEY_BLUE};
	uint16_t id2;
	assert_int_equal(pedhost_request(f->h, LINK_READ_KEYSET, p, sizeof(p), 5000, &id2), 0);
	RUN_UNTIL(f, f->results == 1);
	assert_int_equal(f->result_id, id2);
	assert_int_equal(f->result_status, PED_E_PED_BUSY);
	assert_int_equal(pedhost_cancel(f->h, id), 0);
	assert_int_equal(pedhost_cancel(f->h, (uint16_t)(id + 99)), PED_E_BAD_REQUEST);
	RUN_UNTIL(f, f->results == 2);
	assert_int_equal(f->result_id, id);
	assert_int_equal(f->result_status, PED_E_HOST_CANCELLED);
}

static void test_unplug_and_reopen(void **state)
{
	struct fix *f = *state;
	uint16_t id;

	open_host(f, 0, 0);
	RUN_UNTIL(f, f->ups == 1);
	f->script = S_STAY_BUSY;
	assert_int_equal(pedhost_read_keyset(f->h, LINK_KEY_BLUE, 5000, "t", NULL, &id), 0);
	RUN_UNTIL(f, f->prompts == 1);
	ped_unplug(f);
	RUN_UNTIL(f, f->downs == 1);
	/* the pending operation completed first, then the link went down */
	assert_int_equal(f->results, 1);
	assert_int_equal(f->result_id, id);
	assert_int_equal(f->result_status, PED_E_UNPLUGGED);
	assert_int_equal(f->down_err, PED_E_UNPLUGGED);
	assert_false(pedhost_is_up(f->h));
	assert_int_equal(pedhost_status(f->h), PED_E_UNPLUGGED);
	/* plugged in again (a new pty behind the same link path) */
	RUN_UNTIL(f, f->master < 0);
	f->script = S_NORMAL;
	ped_plug(f);
	assert_int_equal(pedhost_reopen(f->h), 0);
	RUN_UNTIL(f, f->ups == 2);
	assert_int_equal(pedhost_read_keyset(f->h, LINK_KEY_BLUE, 5000, "t", NULL, &id), 0);
	RUN_UNTIL(f, f->results == 2);
	assert_int_equal(f->result_status, 0);
}

static void test_open_errors(void **state)
{
	struct fix *f = *state;
	pedhost_opts_t o = {.spec = "/nonexistent/ped"};
	pedhost_t *h = (pedhost_t *)1;

	assert_int_equal(pedhost_open(&f->loop, &o, &cbs, f, &h), PED_E_NOT_FOUND);
	assert_null(h);
	o.spec = "usb:zz:1";
	assert_int_equal(pedhost_open(&f->loop, &o, &cbs, f, &h), PED_E_INVAL);
	o.spec = "usb";
	assert_int_equal(pedhost_open(&f->loop, &o, &cbs, f, &h), PED_E_NOT_FOUND);
	pedhost_close(NULL, on_closed, f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hello_and_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hello_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hello_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hello_bad_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_with_shares, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deadline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unplug_and_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
