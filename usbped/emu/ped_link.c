/* ped_link.c - the host side of the emulated PED: frames out (RESULT,
 * ERROR, EVENT PROMPT), the request handlers, link up/down. */
#include "usbped/emu/ped_int.h"

/* Appends a CSP as a blob: wrapped under CWK_UV on a secured link. */
static int put_csp(const ped_t *p, pbuf_t *b, const uint8_t *data, size_t len)
{
	uint8_t w[WRAPPED_MAX];
	size_t wlen = 0;
	int r;

	if (!p->secure)
		return link_put_blob(b, 0, data, len);
	if ((r = kwp_wrap(p->cwk_uv, data, len, w, sizeof(w), &wlen)) == 0)
		r = link_put_blob(b, 1, w, wlen);
	OPENSSL_cleanse(w, sizeof(w));
	return r;
}

static void send_frame(ped_t *p, uint8_t type, uint16_t id, const pbuf_t *b)
{
	if (p->link_up && p->io.send != NULL)
		p->io.send(p->io.arg, type, id, b->data, b->len);
}

static void send_error(ped_t *p, uint16_t id, int code, const char *text)
{
	uint8_t mem[300];
	pbuf_t b;

	pbuf_over(&b, mem, sizeof(mem));
	if (pbuf_put_u16(&b, (uint16_t)-code) == 0 && link_put_str(&b, text) == 0)
		send_frame(p, LINK_ERROR, id, &b);
}

static void send_status_result(ped_t *p, uint16_t id, int code)
{
	uint8_t mem[2];
	pbuf_t b;

	pbuf_over(&b, mem, sizeof(mem));
	if (pbuf_put_u16(&b, (uint16_t)-code) == 0)
		send_frame(p, LINK_RESULT, id, &b);
}

void ped_send_event(ped_t *p, const uint8_t *data, size_t len)
{
	pbuf_t b;

	pbuf_from(&b, data, len);
	if (p->linkop)
		send_frame(p, LINK_EVENT, p->id, &b);
}

void ped_send_prompt(ped_t *p)
{
	uint8_t mem[2 + PED_LCD_LINES * (PED_LCD_COLS + 1)];
	unsigned n = PED_LCD_LINES, i;
	pbuf_t b;

	while (n > 0 && p->lcd[n - 1][0] == '\0')
		n--;
	pbuf_over(&b, mem, sizeof(mem));
	pbuf_put_u8(&b, LINK_EV_PROMPT);
	pbuf_put_u8(&b, (uint8_t)n);
	/* An echoed entry ("****") stays on the PED: its length is a hint. */
	for (i = 0; i < n; i++)
		link_put_str(&b, strspn(p->lcd[i], "*") == strlen(p->lcd[i]) ? "" : p->lcd[i]);
	ped_send_event(p, b.data, b.len);
}

/* Appends count x (str serial, blob share). */
static int put_shares(const ped_t *p, pbuf_t *b, const struct got *g, unsigned count)
{
	uint8_t enc[SHAMIR_ENCODED_MAX];
	pbuf_t e;
	unsigned i;
	int r = 0;

	if ((r = pbuf_put_u8(b, (uint8_t)count)) != 0)
		goto out;
	for (i = 0; i < count; i++) {
		pbuf_over(&e, enc, sizeof(enc));
		if ((r = shamir_share_encode(&g[i].s, &e)) != 0 ||
		    (r = link_put_str(b, g[i].serial)) != 0 ||
		    (r = put_csp(p, b, e.data, e.len)) != 0)
			goto out;
	}
out:
	OPENSSL_cleanse(enc, sizeof(enc));
	return r;
}

/* Ends the running host operation with a RESULT and returns to idle. A
 * status of 0 carries the payload the operation produces. */
void ped_end_op(ped_t *p, int status)
{
	static uint8_t mem[LINK_MAX_PAYLOAD];
	pbuf_t b;
	int r = 0;

	pbuf_over(&b, mem, sizeof(mem));
	if (!p->linkop)
		goto done;
	pbuf_put_u16(&b, 0);
	if (status == 0) {
		switch (p->flow) {
		case F_READ:
		case F_RPK:
			if ((r = pbuf_put_u8(&b, p->m)) != 0 || (r = pbuf_put_u8(&b, p->n)) != 0 ||
			    (r = pbuf_put_bytes(&b, p->keyset, LINK_KEYSET_ID_LEN)) != 0 ||
			    (r = put_shares(p, &b, p->got, p->nread)) != 0)
				break;
			break;
		case F_CREATE:
			if ((r = pbuf_put_u8(&b, p->reused)) != 0 || (r = pbuf_put_u8(&b, p->m)) != 0 ||
			    (r = pbuf_put_u8(&b, p->n)) != 0 ||
			    (r = pbuf_put_bytes(&b, p->keyset, LINK_KEYSET_ID_LEN)) != 0 ||
			    (r = pbuf_put_u8(&b, (uint8_t)(p->written > 255 ? 255 : p->written))) != 0)
				break;
			if (p->reused)
				r = put_shares(p, &b, p->got, p->nread);
			break;
		case F_OTP:
			r = put_csp(p, &b, (const uint8_t *)p->entry, p->elen);
			break;
		default:
			break;
		}
		if (r != 0)
			status = PED_E_TOO_LONG;
	}
	if (status != 0) {
		pbuf_over(&b, mem, sizeof(mem));
		pbuf_put_u16(&b, (uint16_t)-status);
	}
	log_info("%s #%u: %s", p->flow == F_CREATE ? "CREATE_KEYSET"
			       : p->flow == F_RPK  ? "READ_RPK"
			       : p->flow == F_OTP  ? "OTP"
			       : p->flow == F_ALLOW ? "ALLOW_HSM"
						   : "READ_KEYSET",
		 p->id, status == 0 ? "OK" : ped_errname(status));
	if (status != 0)
		ped_add_log(p, "%.20s", ped_errname(status));
	send_frame(p, LINK_RESULT, p->id, &b);
done:
	OPENSSL_cleanse(mem, sizeof(mem));
	ped_flow_reset(p);
	ped_go(p, ped_idle_screen(p), NULL);
}

static void start_op(ped_t *p, enum flow f, const link_frame_t *fr, uint32_t timeout_ms)
{
	ped_flow_reset(p);
	p->flow = f;
	p->linkop = true;
	p->id = fr->id;
	if (timeout_ms == 0)
		timeout_ms = LINK_DEFAULT_TIMEOUT_MS;
	uv_timer_start(&p->timer, ped_on_timeout, timeout_ms, 0);
	log_info("%s #%u started", link_type_name(fr->type), fr->id);
}

/* Checks common to every operation request; false if answered already. */
static bool may_start(ped_t *p, const link_frame_t *f)
{
	if (p->linkop) {
		send_status_result(p, f->id, PED_E_PED_BUSY);
		return false;
	}
	if (p->mode != LINK_MODE_LOCAL && p->mode != LINK_MODE_REMOTE) {
		send_status_result(p, f->id, PED_E_WRONG_MODE);
		return false;
	}
	return true;
}

/* The LCD shows at most PED_LCD_COLS printable characters of the host's
 * title (a control character could reach a terminal through the TUI). */
static void title_copy(ped_t *p, const char *t)
{
	size_t i, n = strnlen(t, PED_LCD_COLS);

	for (i = 0; i < n; i++)
		p->title[i] = t[i] >= 0x20 && t[i] < 0x7f ? t[i] : '?';
	p->title[n] = '\0';
}

static bool printable(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s < 0x20 || *s >= 0x7f)
			return false;
	return true;
}

static int h_hello(ped_t *p, const link_frame_t *f, pbuf_t *in)
{
	uint8_t vmin, vmax, mem[200];
	char host[256];
	pbuf_t b;

	if (pbuf_get_u8(in, &vmin) != 0 || pbuf_get_u8(in, &vmax) != 0 ||
	    link_get_str(in, host, sizeof(host)) != 0 || pbuf_expect_end(in) != 0)
		return PED_E_PARSE;
	if (vmin > LINK_VERSION || vmax < LINK_VERSION) {
		send_error(p, f->id, PED_E_VERSION, "unsupported link version");
		return 0;
	}
	log_info("host hello");
	ped_unsecure(p); /* a new host session: its keys, if any, come with a new KEX */
	pbuf_over(&b, mem, sizeof(mem));
	pbuf_put_u8(&b, LINK_VERSION);
	link_put_str(&b, PED_FIRMWARE);
	link_put_str(&b, p->serial);
	link_put_str(&b, PED_MODEL);
	send_frame(p, LINK_HELLO_ACK, f->id, &b);
	return 0;
}

static int h_status(ped_t *p, const link_frame_t *f, pbuf_t *in)
{
	uint8_t mem[64 + SHAMIR_MAX_N * (PEDKEY_SERIAL_MAX + 1)];
	unsigned i;
	pbuf_t b;

	if (pbuf_expect_end(in) != 0)
		return PED_E_PARSE;
	pbuf_over(&b, mem, sizeof(mem));
	pbuf_put_u8(&b, (uint8_t)p->mode);
	pbuf_put_u8(&b, p->slot_full);
	pbuf_put_u8(&b, p->linkop);
	link_put_str(&b, PED_FIRMWARE);
	pbuf_put_u8(&b, (uint8_t)p->rpk_count);
	for (i = 0; i < p->rpk_count; i++)
		link_put_str(&b, p->rpk[i].serial);
	send_frame(p, LINK_STATUS_ACK, f->id, &b);
	return 0;
}

static bool key_type_ok(uint8_t t)
{
	return t >= LINK_KEY_BLUE && t <= LINK_KEY_WHITE;
}

static int h_read_keyset(ped_t *p, const link_frame_t *f, pbuf_t *in)
{
	uint8_t type, want[LINK_KEYSET_ID_LEN];
	uint32_t timeout;
	char title[TITLE_MAX];

	if (pbuf_get_u8(in, &type) != 0 || pbuf_get_u32(in, &timeout) != 0 ||
	    link_get_str(in, title, sizeof(title)) != 0 ||
	    pbuf_get_bytes(in, want, sizeof(want)) != 0 || pbuf_expect_end(in) != 0)
		return PED_E_PARSE;
	if (!may_start(p, f))
		return 0;
	if (!key_type_ok(type)) {
		send_status_result(p, f->id, PED_E_BAD_REQUEST);
		return 0;
	}
	start_op(p, F_READ, f, timeout);
	p->key_type = type;
	title_copy(p, title);
	memcpy(p->want, want, sizeof(want));
	p->want_any = ped_keyset_zero(want);
	ped_go(p, S_RD_INSERT, NULL);
	return 0;
}

static int h_read_rpk(ped_t *p, const link_frame_t *f, pbuf_t *in)
{
	static uint8_t mem[LINK_MAX_PAYLOAD];
	uint32_t timeout;
	char title[TITLE_MAX];
	pbuf_t b;

	if (pbuf_get_u32(in, &timeout) != 0 ||
	    link_get_str(in, title, sizeof(title)) != 0 || pbuf_expect_end(in) != 0)
		return PED_E_PARSE;
	if (!may_start(p, f))
		return 0;
	if (p->rpk_cached && p->mode == LINK_MODE_REMOTE) {
		pbuf_over(&b, mem, sizeof(mem));
		if (pbuf_put_u16(&b, 0) != 0 || pbuf_put_u8(&b, p->rpk_m) != 0 ||
		    pbuf_put_u8(&b, p->rpk_n) != 0 ||
		    pbuf_put_bytes(&b, p->rpk_keyset, LINK_KEYSET_ID_LEN) != 0 ||
		    put_shares(p, &b, p->rpk, p->rpk_count) != 0) {
			OPENSSL_cleanse(mem, sizeof(mem));
			send_status_result(p, f->id, PED_E_TOO_LONG);
			return 0;
		}
		log_info("READ_RPK #%u: cached", f->id);
		send_frame(p, LINK_RESULT, f->id, &b);
		OPENSSL_cleanse(mem, sizeof(mem));
		return 0;
	}
	start_op(p, F_RPK, f, timeout);
	p->key_type = LINK_KEY_ORANGE;
	p->want_any = true;
	title_copy(p, title);
	ped_go(p, S_RD_INSERT, NULL);
	return 0;
}

static int h_create(ped_t *p, const link_frame_t *f, pbuf_t *in)
{
	uint8_t type, reuse;
	uint32_t timeout;
	char title[TITLE_MAX], label[TITLE_MAX];

	if (pbuf_get_u8(in, &type) != 0 || pbuf_get_u32(in, &timeout) != 0 ||
	    link_get_str(in, title, sizeof(title)) != 0 ||
	    link_get_str(in, label, sizeof(label)) != 0 ||
	    pbuf_get_u8(in, &reuse) != 0 || pbuf_expect_end(in) != 0)
		return PED_E_PARSE;
	if (!may_start(p, f))
		return 0;
	if (!key_type_ok(type) || strlen(label) > PEDKEY_LABEL_MAX || !printable(label)) {
		send_status_result(p, f->id, PED_E_BAD_REQUEST);
		return 0;
	}
	start_op(p, F_CREATE, f, timeout);
	p->key_type = type;
	p->allow_reuse = reuse != 0;
	p->want_any = true;
	title_copy(p, title);
	memcpy(p->label, label, strlen(label) + 1); /* length checked above */
	ped_go(p, p->allow_reuse ? S_CR_REUSE : S_CR_M, NULL);
	return 0;
}

static int h_shares(ped_t *p, const link_frame_t *f, pbuf_t *in)
{
	uint8_t keyset[LINK_KEYSET_ID_LEN], count, wrap, blob[SHAMIR_ENCODED_MAX];
	uint8_t wblob[WRAPPED_MAX];
	unsigned i, j, seen = 0;
	size_t blen, wlen;
	pbuf_t sb;
	int r = PED_E_SHARE_BAD;

	if (p->flow != F_CREATE || p->scr != S_CR_WAIT) {
		send_error(p, f->id, PED_E_BAD_REQUEST, "no shares expected");
		return 0;
	}
	if (pbuf_get_bytes(in, keyset, sizeof(keyset)) != 0 || pbuf_get_u8(in, &count) != 0)
		goto bad;
	if (count != p->n || count > SHAMIR_MAX_N)
		goto bad;
	for (i = 0; i < count; i++) {
		if (p->secure) {
			/* Only shares wrapped under CWK_VU on a secured link. */
			if (link_get_blob(in, &wrap, wblob, sizeof(wblob), &wlen) != 0 ||
			    wrap != 1 || kwp_unwrap(p->cwk_vu, wblob, wlen, blob, sizeof(blob),
						    &blen) != 0) {
				log_warning("SHARES: a share is not wrapped under the link key");
				goto bad;
			}
		} else if (link_get_blob(in, &wrap, blob, sizeof(blob), &blen) != 0 || wrap != 0) {
			goto bad;
		}
		pbuf_from(&sb, blob, blen);
		if (shamir_share_decode(&sb, &p->shares[i]) != 0 || pbuf_expect_end(&sb) != 0)
			goto bad;
		if (p->shares[i].m != p->m || p->shares[i].x < 1 || p->shares[i].x > p->n ||
		    p->shares[i].len != p->shares[0].len || (seen & (1u << p->shares[i].x)))
			goto bad;
		seen |= 1u << p->shares[i].x;
	}
	if (pbuf_expect_end(in) != 0)
		goto bad;
	p->nshares = count;
	memcpy(p->keyset, keyset, sizeof(keyset));
	p->have_keyset = true;
	p->set_no = p->idx = 0;
	ped_go(p, S_W_INSERT, NULL);
	r = 0;
bad:
	OPENSSL_cleanse(blob, sizeof(blob));
	OPENSSL_cleanse(wblob, sizeof(wblob));
	if (r != 0) {
		for (j = 0; j < SHAMIR_MAX_N; j++)
			shamir_share_wipe(&p->shares[j]);
		ped_end_op(p, r);
	}
	return 0;
}

static int h_forget(ped_t *p, const link_frame_t *f, pbuf_t *in)
{
	if (pbuf_expect_end(in) != 0)
		return PED_E_PARSE;
	ped_rpk_drop(p);
	send_status_result(p, f->id, 0);
	return 0;
}

static int h_otp(ped_t *p, const link_frame_t *f, pbuf_t *in)
{
	uint32_t timeout;
	uint8_t digits;
	char title[TITLE_MAX];

	if (pbuf_get_u32(in, &timeout) != 0 ||
	    link_get_str(in, title, sizeof(title)) != 0 ||
	    pbuf_get_u8(in, &digits) != 0 || pbuf_expect_end(in) != 0)
		return PED_E_PARSE;
	if (!may_start(p, f))
		return 0;
	if (digits < 1 || digits > OTP_MAX_DIGITS) {
		send_status_result(p, f->id, PED_E_BAD_REQUEST);
		return 0;
	}
	start_op(p, F_OTP, f, timeout);
	p->otp_digits = digits;
	title_copy(p, title);
	ped_go(p, S_OTP, NULL);
	return 0;
}

/* ALLOW_HSM: the key holder says YES or NO to an HSM's key. */
static int h_allow(ped_t *p, const link_frame_t *f, pbuf_t *in)
{
	uint32_t timeout;
	uint8_t fp[LINK_FINGERPRINT_LEN];
	char serial[TITLE_MAX];

	if (pbuf_get_u32(in, &timeout) != 0 || link_get_str(in, serial, sizeof(serial)) != 0 ||
	    pbuf_get_bytes(in, fp, sizeof(fp)) != 0 || pbuf_expect_end(in) != 0)
		return PED_E_PARSE;
	if (!may_start(p, f))
		return 0;
	start_op(p, F_ALLOW, f, timeout);
	memcpy(p->allow_fp, fp, sizeof(fp));
	title_copy(p, serial);
	memcpy(p->allow_serial, p->title, sizeof(p->allow_serial));
	title_copy(p, "Allow HSM?");
	ped_go(p, S_ALLOW, NULL);
	return 0;
}

/* KEX_OFFER: One-Pass C(1e,1s) as party U; the ephemeral key lives for
 * this derivation only. */
static int h_kex_offer(ped_t *p, const link_frame_t *f, pbuf_t *in)
{
	uint8_t qe[ECP_PUB_LEN], ctx[EVP_MAX_MD_SIZE];
	unsigned ctxlen = 0;
	ecp_key_t *qs = NULL, *e = NULL;
	struct kas_params kp;
	pbuf_t b;
	int r;

	if (f->len != KEX_OFFER_LEN || pbuf_skip(in, KEX_OFFER_LEN) != 0 ||
	    pbuf_expect_end(in) != 0)
		return PED_E_PARSE;
	if (p->flow != F_NONE) {
		/* A running operation keeps the keys it started with. */
		send_error(p, f->id, PED_E_PED_BUSY, "an operation is running");
		return 0;
	}
	ped_unsecure(p);
	if ((r = ecp_import_public(f->payload, ECP_PUB_LEN, &qs)) != 0) {
		log_warning("KEX_OFFER #%u: invalid static key", f->id);
		send_error(p, f->id, PED_E_BAD_KEY, "invalid static key");
		goto out;
	}
	r = PED_E_CRYPTO;
	if (EVP_Digest(f->payload, KEX_OFFER_LEN, ctx, &ctxlen, EVP_sha512(), NULL) != 1)
		goto fail;
	if ((r = ecp_generate(&e)) != 0 || (r = ecp_export_public(e, qe)) != 0)
		goto fail;
	memset(&kp, 0, sizeof(kp));
	kp.scheme = KAS_ONE_PASS;
	kp.role = KAS_U;
	kp.own_ephem = e;
	kp.peer_static = qs;
	kp.nonce_v = f->payload + ECP_PUB_LEN;
	kp.context = ctx;
	kp.context_len = ctxlen;
	if ((r = kas_derive(&kp, &p->kex_keys)) != 0)
		goto fail;
	p->kex_wait = true;
	p->kex_id = f->id;
	log_info("KEX_OFFER #%u: key agreement started", f->id);
	pbuf_from(&b, qe, sizeof(qe));
	send_frame(p, LINK_KEX_ACCEPT, f->id, &b);
	r = 0;
	goto out;
fail:
	log_warning("KEX_OFFER #%u: %s", f->id, ped_errname(r));
	ped_unsecure(p);
	send_error(p, f->id, r, "key agreement failed");
out:
	ecp_free(e);
	ecp_free(qs);
	OPENSSL_cleanse(ctx, sizeof(ctx));
	return 0;
}

static int h_kex_confirm(ped_t *p, const link_frame_t *f, pbuf_t *in)
{
	uint8_t mem[2];
	pbuf_t b;
	int r;

	if (!p->kex_wait || f->id != p->kex_id) {
		send_error(p, f->id, PED_E_BAD_REQUEST, "no key agreement pending");
		return 0;
	}
	if (f->len != KAS_TAG_LEN || pbuf_skip(in, KAS_TAG_LEN) != 0 ||
	    pbuf_expect_end(in) != 0) {
		ped_unsecure(p);
		return PED_E_PARSE;
	}
	p->kex_wait = false;
	r = kas_check_tag(&p->kex_keys, f->payload);
	if (r == 0) {
		memcpy(p->cwk_uv, p->kex_keys.uv.cwk, sizeof(p->cwk_uv));
		memcpy(p->cwk_vu, p->kex_keys.vu.cwk, sizeof(p->cwk_vu));
		kas_keys_wipe(&p->kex_keys);
		p->secure = true;
		log_info("KEX_CONFIRM #%u: link secured", f->id);
		ped_add_log(p, "Link secured");
	} else {
		ped_unsecure(p);
		r = PED_E_KC_FAILED;
		log_warning("KEX_CONFIRM #%u: %s", f->id, ped_errname(r));
		ped_add_log(p, "Key confirm failed");
		if (p->scr == ped_idle_screen(p))
			ped_go(p, p->scr, "Secure link failed");
	}
	pbuf_over(&b, mem, sizeof(mem));
	pbuf_put_u16(&b, (uint16_t)-r);
	send_frame(p, LINK_KEX_DONE, f->id, &b);
	return 0;
}

static int h_cancel(ped_t *p, const link_frame_t *f, pbuf_t *in)
{
	(void)in;
	if (p->linkop && f->id == p->id)
		ped_end_op(p, PED_E_HOST_CANCELLED);
	return 0;
}

static const struct {
	uint8_t type;
	int (*fn)(ped_t *p, const link_frame_t *f, pbuf_t *in);
} handlers[] = {
	{LINK_HELLO, h_hello},		{LINK_STATUS, h_status},     {LINK_READ_KEYSET, h_read_keyset},
	{LINK_CREATE_KEYSET, h_create}, {LINK_SHARES, h_shares},     {LINK_READ_RPK, h_read_rpk},
	{LINK_FORGET_RPK, h_forget},	{LINK_OTP, h_otp},	     {LINK_CANCEL, h_cancel},
	{LINK_KEX_OFFER, h_kex_offer},	{LINK_KEX_CONFIRM, h_kex_confirm}, {LINK_ALLOW_HSM, h_allow},
};

void ped_link_frame(ped_t *p, const link_frame_t *f)
{
	pbuf_t in;
	size_t i;

	if (p == NULL || f == NULL)
		return;
	pbuf_from(&in, f->payload, f->len);
	for (i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++) {
		if (handlers[i].type == f->type) {
			if (handlers[i].fn(p, f, &in) != 0) {
				log_warning("malformed %s frame", link_type_name(f->type));
				send_error(p, f->id, PED_E_BAD_REQUEST, "malformed payload");
			}
			ped_refresh(p);
			return;
		}
	}
	log_warning("unexpected frame type 0x%02x", f->type);
	send_error(p, f->id, PED_E_BAD_REQUEST, "unknown frame type");
}

void ped_link_down(ped_t *p)
{
	if (p == NULL)
		return;
	ped_unsecure(p);
	if (p->linkop) {
		log_info("host gone: operation #%u abandoned", p->id);
		ped_add_log(p, "Link lost");
		ped_flow_reset(p);
		ped_go(p, ped_idle_screen(p), NULL);
	}
	ped_refresh(p);
}

void ped_forget_rpk(ped_t *p)
{
	if (p == NULL)
		return;
	ped_rpk_drop(p);
	ped_refresh(p);
}

