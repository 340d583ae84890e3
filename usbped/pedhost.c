/* pedhost.c - the host side of the PED link protocol (see pedhost.h). */
#include "usbped/pedhost.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "crypto/kwp.h"
#include "usbped/usbped.h"

#define KEX_OFFER_LEN (ECP_PUB_LEN + KAS_NONCE_LEN)
/* A CSP blob as it may arrive: the largest plain one, wrapped. */
#define WRAPPED_MAX KWP_WRAPPED_LEN(SHAMIR_ENCODED_MAX)

enum kex_stage { KEX_IDLE, KEX_OFFERED, KEX_CONFIRMED };

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

	/* The Local PED's secure link (pedhost_secure). */
	enum kex_stage kex;
	uint16_t kex_id;
	uv_timer_t kex_timer;
	pedhost_derive_cb kex_derive;
	pedhost_secure_done_cb kex_done;
	void *kex_arg;
	uint8_t kex_offer[KEX_OFFER_LEN];
	uint8_t kex_context[PEDHOST_KEX_CONTEXT_LEN];
	kas_keys_t kex_keys;                  /* filled by the derive callback */
	uint8_t kex_cwk_uv[KAS_CWK_LEN];      /* derived, not yet confirmed */
	uint8_t kex_cwk_vu[KAS_CWK_LEN];
	int secure;
	uint8_t cwk_uv[KAS_CWK_LEN];          /* PED -> host: unwrap with it */
	uint8_t cwk_vu[KAS_CWK_LEN];          /* host -> PED: wrap with it */
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
		int busy = id == 0 || (h->status_pending && id == h->status_id) ||
			   (h->kex != KEX_IDLE && id == h->kex_id);
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
	if (!raw && (ops_pending(h) > 0 || h->kex != KEX_IDLE))
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
	uint8_t mem[LINK_MAX_PAYLOAD], one[SHAMIR_ENCODED_MAX], wrapped[WRAPPED_MAX];
	size_t wlen = 0;
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
		if ((r = shamir_share_encode(&shares[i], &s)) < 0)
			goto out;
		if (h->secure) {
			/* The CWK wraps every CSP on a secured link. */
			if ((r = kwp_wrap(h->cwk_vu, one, s.len, wrapped, sizeof(wrapped),
					  &wlen)) < 0 ||
			    (r = link_put_blob(&b, 1, wrapped, wlen)) < 0)
				goto out;
		} else if ((r = link_put_blob(&b, 0, one, s.len)) < 0) {
			goto out;
		}
		OPENSSL_cleanse(one, sizeof(one));
	}
	if ((r = send_frame(h, LINK_SHARES, id, mem, b.len)) < 0)
		goto out;
	arm_deadline(h, o, (uint64_t)o->timeout_ms + h->margin_ms);
	r = 0;
out:
	OPENSSL_cleanse(one, sizeof(one));
	OPENSSL_cleanse(wrapped, sizeof(wrapped));
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

/* ---- the secure link (One-Pass key agreement, link.h KEX_*) ------------ */

static void unsecure(pedhost_t *h)
{
	if (h->secure)
		log_info("pedhost: link keys dropped");
	h->secure = 0;
	OPENSSL_cleanse(h->cwk_uv, sizeof(h->cwk_uv));
	OPENSSL_cleanse(h->cwk_vu, sizeof(h->cwk_vu));
}

static void kex_wipe(pedhost_t *h)
{
	kas_keys_wipe(&h->kex_keys);
	OPENSSL_cleanse(h->kex_cwk_uv, sizeof(h->kex_cwk_uv));
	OPENSSL_cleanse(h->kex_cwk_vu, sizeof(h->kex_cwk_vu));
	OPENSSL_cleanse(h->kex_offer, sizeof(h->kex_offer));
	OPENSSL_cleanse(h->kex_context, sizeof(h->kex_context));
}

/* Ends the pending key agreement: err 0 installs the confirmed keys. */
static void kex_finish(pedhost_t *h, int err)
{
	pedhost_secure_done_cb done = h->kex_done;
	void *arg = h->kex_arg;

	if (h->kex == KEX_IDLE)
		return;
	h->kex = KEX_IDLE;
	uv_timer_stop(&h->kex_timer);
	if (err == 0) {
		memcpy(h->cwk_uv, h->kex_cwk_uv, sizeof(h->cwk_uv));
		memcpy(h->cwk_vu, h->kex_cwk_vu, sizeof(h->cwk_vu));
		h->secure = 1;
		log_info("pedhost: link secured (One-Pass key agreement)");
	} else {
		unsecure(h);
		log_warning("pedhost: securing the link failed: %s", ped_errname(err));
	}
	kex_wipe(h);
	h->kex_done = NULL;
	h->kex_derive = NULL;
	h->kex_arg = NULL;
	if (done != NULL && !h->closing)
		done(arg, err);
}

static void kex_timeout_cb(uv_timer_t *t)
{
	pedhost_t *h = t->data;

	log_warning("pedhost: the PED did not answer the key agreement in time");
	kex_finish(h, PED_E_PED_TIMEOUT);
}

int pedhost_secure(pedhost_t *h, const uint8_t qs_v[ECP_PUB_LEN], pedhost_derive_cb derive,
		   void *cb_arg, pedhost_secure_done_cb done)
{
	unsigned mdlen = 0;
	int r;

	if (h == NULL || h->closing || qs_v == NULL || derive == NULL || done == NULL)
		return PED_E_INVAL;
	if (h->state != HS_UP)
		return PED_E_UNPLUGGED;
	if (ops_pending(h) > 0 || h->kex != KEX_IDLE)
		return PED_E_PED_BUSY;
	unsecure(h); /* the PED drops its keys on KEX_OFFER too */
	kex_wipe(h);
	memcpy(h->kex_offer, qs_v, ECP_PUB_LEN);
	if (RAND_bytes(h->kex_offer + ECP_PUB_LEN, KAS_NONCE_LEN) != 1 ||
	    EVP_Digest(h->kex_offer, sizeof(h->kex_offer), h->kex_context, &mdlen, EVP_sha512(),
		       NULL) != 1 ||
	    mdlen != sizeof(h->kex_context)) {
		kex_wipe(h);
		return PED_E_CRYPTO;
	}
	h->kex_id = new_id(h);
	if ((r = send_frame(h, LINK_KEX_OFFER, h->kex_id, h->kex_offer, sizeof(h->kex_offer))) < 0) {
		kex_wipe(h);
		return r;
	}
	h->kex = KEX_OFFERED;
	h->kex_derive = derive;
	h->kex_done = done;
	h->kex_arg = cb_arg;
	uv_timer_start(&h->kex_timer, kex_timeout_cb, h->margin_ms, 0);
	return 0;
}

int pedhost_is_secure(const pedhost_t *h)
{
	return h != NULL && h->state == HS_UP && h->secure;
}

static void on_kex_accept(pedhost_t *h, const link_frame_t *f)
{
	int r;

	if (h->kex != KEX_OFFERED || f->id != h->kex_id) {
		log_trace("pedhost: stray KEX_ACCEPT ignored");
		return;
	}
	if (f->len != ECP_PUB_LEN) {
		log_warning("pedhost: malformed KEX_ACCEPT");
		kex_finish(h, PED_E_PARSE);
		return;
	}
	memset(&h->kex_keys, 0, sizeof(h->kex_keys));
	r = h->kex_derive(h->kex_arg, f->payload, h->kex_offer + ECP_PUB_LEN, h->kex_context,
			  &h->kex_keys);
	if (h->closing || h->kex != KEX_OFFERED) {
		kex_wipe(h); /* the callback closed us or the link dropped */
		return;
	}
	if (r == 0 && (h->kex_keys.scheme != KAS_ONE_PASS || h->kex_keys.role != KAS_V ||
		       !h->kex_keys.has_own_tag))
		r = PED_E_INVAL;
	if (r < 0) {
		kex_finish(h, r);
		return;
	}
	memcpy(h->kex_cwk_uv, h->kex_keys.uv.cwk, sizeof(h->kex_cwk_uv));
	memcpy(h->kex_cwk_vu, h->kex_keys.vu.cwk, sizeof(h->kex_cwk_vu));
	r = send_frame(h, LINK_KEX_CONFIRM, h->kex_id, h->kex_keys.own_tag, KAS_TAG_LEN);
	kas_keys_wipe(&h->kex_keys);
	if (r < 0) {
		kex_finish(h, r);
		return;
	}
	h->kex = KEX_CONFIRMED;
	uv_timer_start(&h->kex_timer, kex_timeout_cb, h->margin_ms, 0);
}

static void on_kex_done(pedhost_t *h, const link_frame_t *f)
{
	uint16_t status = 0;
	pbuf_t b;

	if (h->kex != KEX_CONFIRMED || f->id != h->kex_id) {
		log_trace("pedhost: stray KEX_DONE ignored");
		return;
	}
	pbuf_from(&b, f->payload, f->len);
	if (pbuf_get_u16(&b, &status) < 0 || pbuf_expect_end(&b) < 0) {
		log_warning("pedhost: malformed KEX_DONE");
		kex_finish(h, PED_E_PARSE);
		return;
	}
	kex_finish(h, status == 0 ? 0 : -(int)status);
}

/* ---- link up and down -------------------------------------------------- */

static void go_down(pedhost_t *h, int err)
{
	int was = h->state;

	h->state = HS_DOWN;
	uv_timer_stop(&h->hello_timer);
	unsecure(h);
	/* A callback may close or reopen us: stop as soon as it did. */
	for (int i = 0; i < PEDHOST_MAX_OPS && !h->closing && h->state == HS_DOWN; i++)
		if (h->ops[i].used)
			fail_op(h, &h->ops[i], err);
	if (h->kex != KEX_IDLE && !h->closing && h->state == HS_DOWN)
		kex_finish(h, err);
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
	unsecure(h); /* a new HELLO: the PED drops its link keys too */
	h->hello_id = new_id(h);
	h->state = HS_HELLO;
	memset(&h->info, 0, sizeof(h->info));
	if ((r = send_frame(h, LINK_HELLO, h->hello_id, mem, b.len)) < 0)
		return r;
	uv_timer_start(&h->hello_timer, hello_timeout_cb, h->hello_timeout_ms, 0);
	return 0;
}

/* ---- frames from the PED ----------------------------------------------- */

/* Reads a CSP blob into out (cap bytes). With a CWK (a secured link) the
 * blob must be wrapped: it is unwrapped into out and *wrap set to 0; a plain
 * or forged one gives PED_E_UNWRAP. Without one the blob is copied as is. */
static int get_csp(pbuf_t *b, const uint8_t *cwk, uint8_t *wrap, uint8_t *out, size_t cap,
		   size_t *len)
{
	uint8_t tmp[WRAPPED_MAX];
	size_t n = 0;
	int r;

	*len = 0;
	if (cwk == NULL)
		return link_get_blob(b, wrap, out, cap, len);
	if ((r = link_get_blob(b, wrap, tmp, sizeof(tmp), &n)) < 0)
		goto out;
	if (*wrap != 1) {
		r = PED_E_UNWRAP;
		log_warning("pedhost: a plain CSP on a secured link refused");
		goto out;
	}
	if ((r = kwp_unwrap(cwk, tmp, n, out, cap, len)) < 0) {
		r = PED_E_UNWRAP;
		log_warning("pedhost: a wrapped CSP did not unwrap");
		goto out;
	}
	*wrap = 0;
	r = 0;
out:
	OPENSSL_cleanse(tmp, sizeof(tmp));
	return r;
}

static int get_share(pbuf_t *b, const uint8_t *cwk, pedhost_share_t *s)
{
	size_t len = 0;
	int r;

	if ((r = link_get_str(b, s->serial, sizeof(s->serial))) < 0 ||
	    (r = get_csp(b, cwk, &s->wrap, s->data, sizeof(s->data), &len)) < 0)
		return r;
	s->len = (uint16_t)len;
	return 0;
}

static int get_shares(pbuf_t *b, const uint8_t *cwk, pedhost_result_t *res)
{
	int r;

	if ((r = pbuf_get_u8(b, &res->count)) < 0)
		return r;
	if (res->count > PEDHOST_MAX_KEYS)
		return PED_E_TOO_LONG;
	for (unsigned i = 0; i < res->count; i++)
		if ((r = get_share(b, cwk, &res->shares[i])) < 0)
			return r;
	if (cwk != NULL && res->count > 0)
		log_trace("pedhost: %u wrapped share blob(s) unwrapped", res->count);
	return 0;
}

static int parse_result_body(pbuf_t *b, uint8_t type, const uint8_t *cwk,
			     pedhost_result_t *res)
{
	int r = 0;

	switch (type) {
	case LINK_READ_KEYSET:
	case LINK_READ_RPK:
		if ((r = pbuf_get_u8(b, &res->m)) < 0 || (r = pbuf_get_u8(b, &res->n)) < 0 ||
		    (r = pbuf_get_bytes(b, res->keyset, LINK_KEYSET_ID_LEN)) < 0 ||
		    (r = get_shares(b, cwk, res)) < 0)
			return r;
		break;
	case LINK_CREATE_KEYSET:
		if ((r = pbuf_get_u8(b, &res->reused)) < 0 || (r = pbuf_get_u8(b, &res->m)) < 0 ||
		    (r = pbuf_get_u8(b, &res->n)) < 0 ||
		    (r = pbuf_get_bytes(b, res->keyset, LINK_KEYSET_ID_LEN)) < 0 ||
		    (r = pbuf_get_u8(b, &res->keys_written)) < 0)
			return r;
		if (res->reused && (r = get_shares(b, cwk, res)) < 0)
			return r;
		break;
	case LINK_OTP:
		if ((r = get_csp(b, cwk, &res->otp_wrap, res->otp, sizeof(res->otp),
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
		else if ((r = parse_result_body(&b, o->type, h->secure ? h->cwk_uv : NULL,
						&h->res)) < 0 && r != PED_E_UNWRAP)
			r = PED_E_PARSE;
	} else {
		r = PED_E_PARSE;
	}
	if (r == PED_E_PARSE)
		log_warning("pedhost: malformed RESULT for %s", link_type_name(o->type));
	if (r < 0)
		OPENSSL_cleanse(&h->res, sizeof(h->res));
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
	if (h->kex != KEX_IDLE && f->id == h->kex_id) {
		kex_finish(h, err);
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
	case LINK_KEX_ACCEPT:
		if (h->state == HS_UP)
			on_kex_accept(h, f);
		break;
	case LINK_KEX_DONE:
		if (h->state == HS_UP)
			on_kex_done(h, f);
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
	uv_timer_init(loop, &h->kex_timer);
	h->hello_timer.data = h;
	h->status_timer.data = h;
	h->kex_timer.data = h;
	h->handles += 3;
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
	h->kex = KEX_IDLE;
	kex_wipe(h);
	unsecure(h);
	transport_drop(h);
	uv_close((uv_handle_t *)&h->hello_timer, handle_closed);
	uv_close((uv_handle_t *)&h->status_timer, handle_closed);
	uv_close((uv_handle_t *)&h->kex_timer, handle_closed);
	for (int i = 0; i < PEDHOST_MAX_OPS; i++) {
		h->ops[i].used = 0;
		h->ops[i].timer.data = h;
		uv_close((uv_handle_t *)&h->ops[i].timer, handle_closed);
	}
}
