/* pedhost.c - the host side of the PED link protocol (see pedhost.h). */
#include "usbped/pedhost.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "usbped/usbped.h"

enum hstate { HS_DOWN, HS_HELLO, HS_UP };

struct op {
	pedhost_t *h;
	int used;
	uint16_t id;
	uint8_t type;
	uint32_t timeout_ms;
	uv_timer_t timer;
};

struct pedhost {
	uv_loop_t *loop;
	pedhost_cbs_t cbs;
	void *arg;
	char spec[PATH_MAX + 16];
	char host_name[PEDHOST_STR];
	unsigned write_delay_us;
	uint32_t hello_timeout_ms, margin_ms;
	usbped_t *tp;
	link_decoder_t *dec;
	enum hstate state;
	uint16_t next_id;
	uint16_t hello_id;
	uint16_t status_id;
	int status_pending;
	int closing;
	int handles; /* timers and transports not yet closed */
	void (*on_closed)(void *arg);
	void *closed_arg;
	uv_timer_t hello_timer;
	uv_timer_t status_timer;
	struct op ops[PEDHOST_MAX_OPS];
	pedhost_info_t info;
	link_frame_t frame;
	pedhost_event_t ev;
	pedhost_status_t st;
	pedhost_result_t res;
};

static void release_one(pedhost_t *h)
{
	if (--h->handles > 0 || !h->closing)
		return;
	link_decoder_free(h->dec);
	if (h->on_closed != NULL)
		h->on_closed(h->closed_arg);
	OPENSSL_cleanse(h, sizeof(*h));
	free(h);
}

static void handle_closed(uv_handle_t *hd)
{
	release_one(hd->data);
}

static void transport_closed(void *arg)
{
	release_one(arg);
}

static void transport_drop(pedhost_t *h)
{
	if (h->tp == NULL)
		return;
	usbped_close(h->tp, transport_closed, h);
	h->tp = NULL;
}

static uint16_t new_id(pedhost_t *h)
{
	for (;;) {
		uint16_t id = ++h->next_id;
		int busy = id == 0 || (h->status_pending && id == h->status_id);
		for (int i = 0; i < PEDHOST_MAX_OPS; i++)
			busy |= h->ops[i].used && h->ops[i].id == id;
		if (!busy)
			return id;
	}
}

static int send_frame(pedhost_t *h, uint8_t type, uint16_t id, const uint8_t *payload,
		      size_t len)
{
	uint8_t buf[LINK_MAX_FRAME];
	size_t n = 0;
	int r;

	if (h->tp == NULL || !usbped_is_up(h->tp))
		return PED_E_UNPLUGGED;
	r = link_encode(type, id, payload, len, buf, sizeof(buf), &n);
	if (r == 0)
		r = usbped_write(h->tp, buf, n);
	OPENSSL_cleanse(buf, n);
	if (r < 0)
		log_warning("pedhost: cannot send %s: %s", link_type_name(type), ped_strerror(r));
	return r;
}

/* ---- operations -------------------------------------------------------- */

static struct op *find_op(pedhost_t *h, uint16_t id)
{
	for (int i = 0; i < PEDHOST_MAX_OPS; i++)
		if (h->ops[i].used && h->ops[i].id == id)
			return &h->ops[i];
	return NULL;
}

static int ops_pending(const pedhost_t *h)
{
	int n = 0;
	for (int i = 0; i < PEDHOST_MAX_OPS; i++)
		n += h->ops[i].used;
	return n;
}

/* Completes op with h->res (status and body already filled in). */
static void complete_op(pedhost_t *h, struct op *o)
{
	uint16_t id = o->id;

	o->used = 0;
	uv_timer_stop(&o->timer);
	h->res.op = o->type;
	if (h->cbs.on_result != NULL && !h->closing)
		h->cbs.on_result(h->arg, id, &h->res);
	OPENSSL_cleanse(&h->res, sizeof(h->res));
}

static void fail_op(pedhost_t *h, struct op *o, int err)
{
	memset(&h->res, 0, sizeof(h->res));
	h->res.status = err;
	complete_op(h, o);
}

static void op_deadline_cb(uv_timer_t *t)
{
	struct op *o = t->data;
	pedhost_t *h = o->h;

	log_warning("pedhost: %s (id %u): no result from the PED in time",
		    link_type_name(o->type), o->id);
	/* Tell the PED to give up too; it may be gone, which is fine. */
	if (h->state == HS_UP)
		send_frame(h, LINK_CANCEL, o->id, NULL, 0);
	fail_op(h, o, PED_E_PED_TIMEOUT);
}

static void arm_deadline(pedhost_t *h, struct op *o, uint64_t ms)
{
	uv_timer_start(&o->timer, op_deadline_cb, ms, 0);
	(void)h;
}

static int start_op(pedhost_t *h, uint8_t type, const uint8_t *payload, size_t len,
		    uint32_t timeout_ms, int raw, uint16_t *id)
{
	struct op *o = NULL;
	int r;

	if (id != NULL)
		*id = 0;
	if (h == NULL || h->closing)
		return PED_E_INVAL;
	if (h->state != HS_UP)
		return PED_E_UNPLUGGED;
	if (!raw && ops_pending(h) > 0)
		return PED_E_PED_BUSY;
	for (int i = 0; i < PEDHOST_MAX_OPS && o == NULL; i++)
		if (!h->ops[i].used)
			o = &h->ops[i];
	if (o == NULL)
		return PED_E_PED_BUSY;
	o->id = new_id(h);
	o->type = type;
	o->timeout_ms = timeout_ms;
	if ((r = send_frame(h, type, o->id, payload, len)) < 0)
		return r;
	o->used = 1;
	arm_deadline(h, o, (uint64_t)timeout_ms + h->margin_ms);
	if (id != NULL)
		*id = o->id;
	return 0;
}

int pedhost_request(pedhost_t *h, uint8_t type, const uint8_t *payload, size_t len,
		    uint32_t timeout_ms, uint16_t *id)
{
	return start_op(h, type, payload, len, timeout_ms, 1, id);
}

int pedhost_read_keyset(pedhost_t *h, uint8_t key_type, uint32_t timeout_ms, const char *title,
			const uint8_t *keyset, uint16_t *id)
{
	uint8_t mem[LINK_MAX_PAYLOAD];
	static const uint8_t any[LINK_KEYSET_ID_LEN];
	pbuf_t b;
	int r;

	pbuf_over(&b, mem, sizeof(mem));
	if ((r = pbuf_put_u8(&b, key_type)) < 0 || (r = pbuf_put_u32(&b, timeout_ms)) < 0 ||
	    (r = link_put_str(&b, title != NULL ? title : "")) < 0 ||
	    (r = pbuf_put_bytes(&b, keyset != NULL ? keyset : any, LINK_KEYSET_ID_LEN)) < 0)
		return r;
	return start_op(h, LINK_READ_KEYSET, mem, b.len, timeout_ms, 0, id);
}

int pedhost_create_keyset(pedhost_t *h, uint8_t key_type, uint32_t timeout_ms,
			  const char *title, const char *label, int allow_reuse, uint16_t *id)
{
	uint8_t mem[LINK_MAX_PAYLOAD];
	pbuf_t b;
	int r;

	pbuf_over(&b, mem, sizeof(mem));
	if ((r = pbuf_put_u8(&b, key_type)) < 0 || (r = pbuf_put_u32(&b, timeout_ms)) < 0 ||
	    (r = link_put_str(&b, title != NULL ? title : "")) < 0 ||
	    (r = link_put_str(&b, label != NULL ? label : "")) < 0 ||
	    (r = pbuf_put_u8(&b, allow_reuse ? 1 : 0)) < 0)
		return r;
	return start_op(h, LINK_CREATE_KEYSET, mem, b.len, timeout_ms, 0, id);
}

int pedhost_read_rpk(pedhost_t *h, uint32_t timeout_ms, const char *title, uint16_t *id)
{
	uint8_t mem[LINK_MAX_PAYLOAD];
	pbuf_t b;
	int r;

	pbuf_over(&b, mem, sizeof(mem));
	if ((r = pbuf_put_u32(&b, timeout_ms)) < 0 ||
	    (r = link_put_str(&b, title != NULL ? title : "")) < 0)
		return r;
	return start_op(h, LINK_READ_RPK, mem, b.len, timeout_ms, 0, id);
}

int pedhost_forget_rpk(pedhost_t *h, uint16_t *id)
{
	return start_op(h, LINK_FORGET_RPK, NULL, 0, 0, 0, id);
}

int pedhost_otp(pedhost_t *h, uint32_t timeout_ms, const char *title, uint8_t digits,
		uint16_t *id)
{
	uint8_t mem[LINK_MAX_PAYLOAD];
	pbuf_t b;
	int r;

	pbuf_over(&b, mem, sizeof(mem));
	if ((r = pbuf_put_u32(&b, timeout_ms)) < 0 ||
	    (r = link_put_str(&b, title != NULL ? title : "")) < 0 ||
	    (r = pbuf_put_u8(&b, digits)) < 0)
		return r;
	return start_op(h, LINK_OTP, mem, b.len, timeout_ms, 0, id);
}

int pedhost_send_shares(pedhost_t *h, uint16_t id, const uint8_t keyset[LINK_KEYSET_ID_LEN],
			const shamir_share_t *shares, unsigned count)
{
	uint8_t mem[LINK_MAX_PAYLOAD], one[SHAMIR_ENCODED_MAX];
	pbuf_t b, s;
	struct op *o;
	int r = PED_E_INVAL;

	if (h == NULL || h->closing || keyset == NULL || (shares == NULL && count > 0) ||
	    count > SHAMIR_MAX_N)
		return PED_E_INVAL;
	if ((o = find_op(h, id)) == NULL)
		return PED_E_BAD_REQUEST;
	pbuf_over(&b, mem, sizeof(mem));
	if ((r = pbuf_put_bytes(&b, keyset, LINK_KEYSET_ID_LEN)) < 0 ||
	    (r = pbuf_put_u8(&b, (uint8_t)count)) < 0)
		goto out;
	for (unsigned i = 0; i < count; i++) {
		pbuf_over(&s, one, sizeof(one));
		if ((r = shamir_share_encode(&shares[i], &s)) < 0 ||
		    (r = link_put_blob(&b, 0, one, s.len)) < 0)
			goto out;
		OPENSSL_cleanse(one, sizeof(one));
	}
	if ((r = send_frame(h, LINK_SHARES, id, mem, b.len)) < 0)
		goto out;
	arm_deadline(h, o, (uint64_t)o->timeout_ms + h->margin_ms);
	r = 0;
out:
	OPENSSL_cleanse(one, sizeof(one));
	OPENSSL_cleanse(mem, sizeof(mem));
	return r;
}

int pedhost_cancel(pedhost_t *h, uint16_t id)
{
	struct op *o;
	int r;

	if (h == NULL || h->closing)
		return PED_E_INVAL;
	if ((o = find_op(h, id)) == NULL)
		return PED_E_BAD_REQUEST;
	if ((r = send_frame(h, LINK_CANCEL, id, NULL, 0)) < 0)
		return r;
	arm_deadline(h, o, h->margin_ms);
	return 0;
}

/* ---- status ------------------------------------------------------------- */

static void status_done(pedhost_t *h, int err, const pedhost_status_t *st)
{
	h->status_pending = 0;
	uv_timer_stop(&h->status_timer);
	if (h->cbs.on_status != NULL && !h->closing)
		h->cbs.on_status(h->arg, err, err == 0 ? st : NULL);
}

static void status_timeout_cb(uv_timer_t *t)
{
	pedhost_t *h = t->data;

	log_warning("pedhost: no STATUS_ACK from the PED in time");
	status_done(h, PED_E_PED_TIMEOUT, NULL);
}

int pedhost_status(pedhost_t *h)
{
	int r;

	if (h == NULL || h->closing)
		return PED_E_INVAL;
	if (h->state != HS_UP)
		return PED_E_UNPLUGGED;
	if (h->status_pending)
		return PED_E_PED_BUSY;
	h->status_id = new_id(h);
	if ((r = send_frame(h, LINK_STATUS, h->status_id, NULL, 0)) < 0)
		return r;
	h->status_pending = 1;
	uv_timer_start(&h->status_timer, status_timeout_cb, h->margin_ms, 0);
	return 0;
}

/* ---- link up and down -------------------------------------------------- */

static void go_down(pedhost_t *h, int err)
{
	int was = h->state;

	h->state = HS_DOWN;
	uv_timer_stop(&h->hello_timer);
	/* A callback may close or reopen us: stop as soon as it did. */
	for (int i = 0; i < PEDHOST_MAX_OPS && !h->closing && h->state == HS_DOWN; i++)
		if (h->ops[i].used)
			fail_op(h, &h->ops[i], err);
	if (h->status_pending && !h->closing && h->state == HS_DOWN)
		status_done(h, err, NULL);
	if (was != HS_DOWN && h->cbs.on_down != NULL && !h->closing && h->state == HS_DOWN)
		h->cbs.on_down(h->arg, err);
}

static void hello_timeout_cb(uv_timer_t *t)
{
	pedhost_t *h = t->data;

	log_warning("pedhost: %s: no answer to HELLO", usbped_describe(h->tp));
	go_down(h, PED_E_PED_TIMEOUT);
}

static int start_hello(pedhost_t *h)
{
	uint8_t mem[2 + PEDHOST_STR];
	pbuf_t b;
	int r;

	link_decoder_free(h->dec);
	h->dec = NULL;
	if ((r = link_decoder_new(&h->dec)) < 0)
		return r;
	pbuf_over(&b, mem, sizeof(mem));
	if ((r = pbuf_put_u8(&b, 1)) < 0 || (r = pbuf_put_u8(&b, LINK_VERSION)) < 0 ||
	    (r = link_put_str(&b, h->host_name)) < 0)
		return r;
	h->hello_id = new_id(h);
	h->state = HS_HELLO;
	memset(&h->info, 0, sizeof(h->info));
	if ((r = send_frame(h, LINK_HELLO, h->hello_id, mem, b.len)) < 0)
		return r;
	uv_timer_start(&h->hello_timer, hello_timeout_cb, h->hello_timeout_ms, 0);
	return 0;
}

/* ---- frames from the PED ----------------------------------------------- */

static int get_share(pbuf_t *b, pedhost_share_t *s)
{
	size_t len = 0;
	int r;

	if ((r = link_get_str(b, s->serial, sizeof(s->serial))) < 0 ||
	    (r = link_get_blob(b, &s->wrap, s->data, sizeof(s->data), &len)) < 0)
		return r;
	s->len = (uint16_t)len;
	return 0;
}

static int get_shares(pbuf_t *b, pedhost_result_t *res)
{
	int r;

	if ((r = pbuf_get_u8(b, &res->count)) < 0)
		return r;
	if (res->count > PEDHOST_MAX_KEYS)
		return PED_E_TOO_LONG;
	for (unsigned i = 0; i < res->count; i++)
		if ((r = get_share(b, &res->shares[i])) < 0)
			return r;
	return 0;
}

static int parse_result_body(pbuf_t *b, uint8_t type, pedhost_result_t *res)
{
	int r = 0;

	switch (type) {
	case LINK_READ_KEYSET:
	case LINK_READ_RPK:
		if ((r = pbuf_get_u8(b, &res->m)) < 0 || (r = pbuf_get_u8(b, &res->n)) < 0 ||
		    (r = pbuf_get_bytes(b, res->keyset, LINK_KEYSET_ID_LEN)) < 0 ||
		    (r = get_shares(b, res)) < 0)
			return r;
		break;
	case LINK_CREATE_KEYSET:
		if ((r = pbuf_get_u8(b, &res->reused)) < 0 || (r = pbuf_get_u8(b, &res->m)) < 0 ||
		    (r = pbuf_get_u8(b, &res->n)) < 0 ||
		    (r = pbuf_get_bytes(b, res->keyset, LINK_KEYSET_ID_LEN)) < 0 ||
		    (r = pbuf_get_u8(b, &res->keys_written)) < 0)
			return r;
		if (res->reused && (r = get_shares(b, res)) < 0)
			return r;
		break;
	case LINK_OTP:
		if ((r = link_get_blob(b, &res->otp_wrap, res->otp, sizeof(res->otp),
				       &res->otp_len)) < 0)
			return r;
		break;
	default:
		break;
	}
	return pbuf_expect_end(b);
}

static void on_result_frame(pedhost_t *h, const link_frame_t *f)
{
	struct op *o = find_op(h, f->id);
	uint16_t status;
	pbuf_t b;
	int r;

	if (o == NULL) {
		log_trace("pedhost: RESULT for unknown request %u ignored", f->id);
		return;
	}
	memset(&h->res, 0, sizeof(h->res));
	pbuf_from(&b, f->payload, f->len);
	if ((r = pbuf_get_u16(&b, &status)) == 0) {
		if (status != 0)
			r = pbuf_expect_end(&b) < 0 ? PED_E_PARSE : -(int)status;
		else if (parse_result_body(&b, o->type, &h->res) < 0)
			r = PED_E_PARSE;
	} else {
		r = PED_E_PARSE;
	}
	if (r == PED_E_PARSE) {
		log_warning("pedhost: malformed RESULT for %s", link_type_name(o->type));
		OPENSSL_cleanse(&h->res, sizeof(h->res));
	}
	h->res.status = r;
	complete_op(h, o);
}

static void on_event_frame(pedhost_t *h, const link_frame_t *f)
{
	struct op *o = find_op(h, f->id);
	pedhost_event_t *ev = &h->ev;
	pbuf_t b;
	int r;

	if (o == NULL) {
		log_trace("pedhost: EVENT for unknown request %u ignored", f->id);
		return;
	}
	memset(ev, 0, sizeof(*ev));
	pbuf_from(&b, f->payload, f->len);
	if ((r = pbuf_get_u8(&b, &ev->kind)) < 0)
		goto bad;
	switch (ev->kind) {
	case LINK_EV_PROMPT:
		if ((r = pbuf_get_u8(&b, &ev->nlines)) < 0)
			goto bad;
		if (ev->nlines > 8) {
			r = PED_E_TOO_LONG;
			goto bad;
		}
		for (unsigned i = 0; i < ev->nlines; i++)
			if ((r = link_get_str(&b, ev->lines[i], sizeof(ev->lines[i]))) < 0)
				goto bad;
		break;
	case LINK_EV_KEYS_READ:
		if ((r = pbuf_get_u8(&b, &ev->k)) < 0 || (r = pbuf_get_u8(&b, &ev->m)) < 0)
			goto bad;
		break;
	case LINK_EV_KEY_WRITTEN:
		if ((r = pbuf_get_u8(&b, &ev->k)) < 0 || (r = pbuf_get_u8(&b, &ev->n)) < 0 ||
		    (r = link_get_str(&b, ev->serial, sizeof(ev->serial))) < 0)
			goto bad;
		break;
	case LINK_EV_NEED_SHARES:
		if ((r = pbuf_get_u8(&b, &ev->m)) < 0 || (r = pbuf_get_u8(&b, &ev->n)) < 0)
			goto bad;
		break;
	default:
		log_warning("pedhost: unknown event kind %u ignored", ev->kind);
		return;
	}
	if ((r = pbuf_expect_end(&b)) < 0)
		goto bad;
	/* The PED is alive: push the deadline back. */
	arm_deadline(h, o, (uint64_t)o->timeout_ms + h->margin_ms);
	if (h->cbs.on_event != NULL)
		h->cbs.on_event(h->arg, f->id, ev);
	return;
bad:
	log_warning("pedhost: malformed EVENT ignored (%s)", ped_strerror(r));
}

static void on_hello_ack(pedhost_t *h, const link_frame_t *f)
{
	pbuf_t b;
	int r;

	if (h->state != HS_HELLO || f->id != h->hello_id) {
		log_trace("pedhost: stray HELLO_ACK ignored");
		return;
	}
	uv_timer_stop(&h->hello_timer);
	pbuf_from(&b, f->payload, f->len);
	if ((r = pbuf_get_u8(&b, &h->info.version)) < 0 ||
	    (r = link_get_str(&b, h->info.firmware, sizeof(h->info.firmware))) < 0 ||
	    (r = link_get_str(&b, h->info.serial, sizeof(h->info.serial))) < 0 ||
	    (r = link_get_str(&b, h->info.model, sizeof(h->info.model))) < 0 ||
	    (r = pbuf_expect_end(&b)) < 0) {
		log_error("pedhost: malformed HELLO_ACK");
		go_down(h, PED_E_PARSE);
		return;
	}
	if (h->info.version < 1 || h->info.version > LINK_VERSION) {
		log_error("pedhost: the PED chose link version %u, we speak 1..%u",
			  h->info.version, LINK_VERSION);
		go_down(h, PED_E_VERSION);
		return;
	}
	h->state = HS_UP;
	log_info("pedhost: PED up: %s serial %s firmware %s, link version %u", h->info.model,
		 h->info.serial, h->info.firmware, h->info.version);
	if (h->cbs.on_up != NULL)
		h->cbs.on_up(h->arg, &h->info);
}

static void on_status_ack(pedhost_t *h, const link_frame_t *f)
{
	pedhost_status_t *st = &h->st;
	char skip[PEDHOST_STR];
	pbuf_t b;
	int r;

	if (!h->status_pending || f->id != h->status_id)
		return;
	memset(st, 0, sizeof(*st));
	pbuf_from(&b, f->payload, f->len);
	if ((r = pbuf_get_u8(&b, &st->mode)) < 0 || (r = pbuf_get_u8(&b, &st->key_present)) < 0 ||
	    (r = pbuf_get_u8(&b, &st->busy)) < 0 ||
	    (r = link_get_str(&b, st->firmware, sizeof(st->firmware))) < 0 ||
	    (r = pbuf_get_u8(&b, &st->rpk_count)) < 0)
		goto out;
	for (unsigned i = 0; i < st->rpk_count; i++) {
		char *dst = i < PEDHOST_MAX_KEYS ? st->rpk_serial[i] : skip;
		if ((r = link_get_str(&b, dst, PEDHOST_STR)) < 0)
			goto out;
	}
	r = pbuf_expect_end(&b);
out:
	if (r < 0) {
		log_warning("pedhost: malformed STATUS_ACK");
		r = PED_E_PARSE;
	}
	status_done(h, r, st);
}

static void on_error_frame(pedhost_t *h, const link_frame_t *f)
{
	char msg[PEDHOST_STR] = "";
	uint16_t status = 0;
	struct op *o;
	pbuf_t b;
	int err;

	pbuf_from(&b, f->payload, f->len);
	if (pbuf_get_u16(&b, &status) < 0 || link_get_str(&b, msg, sizeof(msg)) < 0)
		snprintf(msg, sizeof(msg), "(malformed ERROR frame)");
	err = status != 0 ? -(int)status : PED_E_BAD_REQUEST;
	log_warning("pedhost: the PED refused request %u: %s (%s)", f->id, msg,
		    ped_errname(err));
	if (h->state == HS_HELLO && f->id == h->hello_id) {
		go_down(h, err);
		return;
	}
	if (h->status_pending && f->id == h->status_id) {
		status_done(h, err, NULL);
		return;
	}
	if ((o = find_op(h, f->id)) != NULL) {
		memset(&h->res, 0, sizeof(h->res));
		h->res.status = err;
		snprintf(h->res.message, sizeof(h->res.message), "%s", msg);
		complete_op(h, o);
	}
}

static void dispatch(pedhost_t *h, const link_frame_t *f)
{
	switch (f->type) {
	case LINK_HELLO_ACK:
		on_hello_ack(h, f);
		break;
	case LINK_ERROR:
		on_error_frame(h, f);
		break;
	case LINK_STATUS_ACK:
		if (h->state == HS_UP)
			on_status_ack(h, f);
		break;
	case LINK_EVENT:
		if (h->state == HS_UP)
			on_event_frame(h, f);
		break;
	case LINK_RESULT:
		if (h->state == HS_UP)
			on_result_frame(h, f);
		break;
	default:
		log_warning("pedhost: unexpected %s frame ignored", link_type_name(f->type));
		break;
	}
}

static void tp_data(void *arg, const uint8_t *data, size_t len)
{
	pedhost_t *h = arg;
	usbped_t *tp = h->tp;
	int r;

	if (h->dec == NULL || h->state == HS_DOWN)
		return;
	if ((r = link_decoder_feed(h->dec, data, len)) < 0) {
		log_warning("pedhost: link decoder overflow; resetting it");
		link_decoder_free(h->dec);
		h->dec = NULL;
		if (link_decoder_new(&h->dec) < 0 || link_decoder_feed(h->dec, data, len) < 0)
			return;
	}
	/* Stop if a callback closed us, dropped or replaced the transport. */
	while (!h->closing && h->tp == tp && h->dec != NULL && h->state != HS_DOWN &&
	       link_decoder_next(h->dec, &h->frame) == 0) {
		dispatch(h, &h->frame);
		OPENSSL_cleanse(&h->frame, sizeof(h->frame));
	}
}

static void tp_down(void *arg, int err)
{
	pedhost_t *h = arg;

	go_down(h, err);
}

static void tp_up(void *arg)
{
	pedhost_t *h = arg;

	/* USB hot-plug brought the PED back: say hello again. */
	if (h->state == HS_DOWN && start_hello(h) < 0)
		go_down(h, PED_E_IO);
}

static const usbped_cbs_t tp_cbs = {tp_data, tp_down, tp_up};

static int transport_open(pedhost_t *h)
{
	int r;

	if ((r = usbped_open(h->loop, h->spec, h->write_delay_us, &tp_cbs, h, &h->tp)) < 0)
		return r;
	h->handles++;
	if ((r = start_hello(h)) < 0) {
		h->state = HS_DOWN;
		transport_drop(h);
	}
	return r;
}

int pedhost_open(uv_loop_t *loop, const pedhost_opts_t *opts, const pedhost_cbs_t *cbs,
		 void *arg, pedhost_t **out)
{
	pedhost_t *h = NULL;
	int r = PED_E_INVAL;

	if (out == NULL)
		return PED_E_INVAL;
	*out = NULL;
	if (loop == NULL || opts == NULL || opts->spec == NULL || cbs == NULL)
		return PED_E_INVAL;
	if (strlen(opts->spec) >= sizeof(((pedhost_t *)0)->spec) ||
	    (opts->host_name != NULL && strlen(opts->host_name) >= PEDHOST_STR - 1))
		return PED_E_TOO_LONG;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return PED_E_NOMEM;
	h->loop = loop;
	h->cbs = *cbs;
	h->arg = arg;
	snprintf(h->spec, sizeof(h->spec), "%s", opts->spec);
	snprintf(h->host_name, sizeof(h->host_name), "%s",
		 opts->host_name != NULL ? opts->host_name : "pedhost");
	h->write_delay_us = opts->write_delay_us;
	h->hello_timeout_ms = opts->hello_timeout_ms ? opts->hello_timeout_ms : PEDHOST_HELLO_TIMEOUT_MS;
	h->margin_ms = opts->margin_ms ? opts->margin_ms : PEDHOST_MARGIN_MS;
	h->state = HS_DOWN;
	/* The transport first: a synchronous failure leaves nothing to close. */
	if ((r = usbped_open(loop, h->spec, h->write_delay_us, &tp_cbs, h, &h->tp)) < 0) {
		free(h);
		return r;
	}
	h->handles = 1;
	uv_timer_init(loop, &h->hello_timer);
	uv_timer_init(loop, &h->status_timer);
	h->hello_timer.data = h;
	h->status_timer.data = h;
	h->handles += 2;
	for (int i = 0; i < PEDHOST_MAX_OPS; i++) {
		h->ops[i].h = h;
		uv_timer_init(loop, &h->ops[i].timer);
		h->ops[i].timer.data = &h->ops[i];
		h->handles++;
	}
	if ((r = start_hello(h)) < 0) {
		pedhost_close(h, NULL, NULL); /* released once the loop runs */
		return r;
	}
	*out = h;
	return 0;
}

int pedhost_reopen(pedhost_t *h)
{
	if (h == NULL || h->closing)
		return PED_E_INVAL;
	if (h->state != HS_DOWN)
		return PED_E_BAD_REQUEST;
	transport_drop(h);
	return transport_open(h);
}

int pedhost_is_up(const pedhost_t *h)
{
	return h != NULL && h->state == HS_UP;
}

const pedhost_info_t *pedhost_info(const pedhost_t *h)
{
	return h != NULL && h->state == HS_UP ? &h->info : NULL;
}

void pedhost_close(pedhost_t *h, void (*on_closed)(void *arg), void *arg)
{
	if (h == NULL || h->closing)
		return;
	h->closing = 1;
	h->on_closed = on_closed;
	h->closed_arg = arg;
	/* Best effort: tell the PED to drop what it was doing for us. */
	for (int i = 0; i < PEDHOST_MAX_OPS; i++)
		if (h->ops[i].used && h->state == HS_UP)
			send_frame(h, LINK_CANCEL, h->ops[i].id, NULL, 0);
	h->state = HS_DOWN;
	transport_drop(h);
	uv_close((uv_handle_t *)&h->hello_timer, handle_closed);
	uv_close((uv_handle_t *)&h->status_timer, handle_closed);
	for (int i = 0; i < PEDHOST_MAX_OPS; i++) {
		h->ops[i].used = 0;
		h->ops[i].timer.data = h;
		uv_close((uv_handle_t *)&h->ops[i].timer, handle_closed);
	}
}
