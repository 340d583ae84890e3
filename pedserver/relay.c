/* relay.c - the bytes pedserver moves between a session (session/session.h)
 * and its PED (usbped/pedhost.h): the PED's EVENT and RESULT re-encoded as
 * SESS_MSG_LINK bodies with every CSP blob wrapped under this side's session
 * CWK, the client's SHARES unwrapped, and the orange key's secret
 * recombined for the handshake. No I/O; nothing here logs a CSP. */
#include "pedserver/pedserver.h"

#include <string.h>

#include <openssl/crypto.h>

#include "common/buf.h"
#include "common/err.h"

/* an encoded share (or OTP digits), wrapped: KWP adds at most 15 bytes */
#define WRAP_MAX (SHAMIR_ENCODED_MAX + 16)

static int put_head(pbuf_t *b, uint8_t type, uint16_t id)
{
	int r;

	if ((r = pbuf_put_u8(b, type)) < 0 || (r = pbuf_put_u16(b, id)) < 0)
		return r;
	return 0;
}

int relay_encode_event(uint16_t id, const pedhost_event_t *ev, uint8_t *out, size_t cap,
		       size_t *len)
{
	pbuf_t b;
	int r;

	pbuf_over(&b, out, cap);
	if ((r = put_head(&b, LINK_EVENT, id)) < 0 || (r = pbuf_put_u8(&b, ev->kind)) < 0)
		return r;
	switch (ev->kind) {
	case LINK_EV_PROMPT:
		if ((r = pbuf_put_u8(&b, ev->nlines)) < 0)
			return r;
		for (unsigned i = 0; i < ev->nlines && i < 8; i++)
			if ((r = link_put_str(&b, ev->lines[i])) < 0)
				return r;
		break;
	case LINK_EV_KEYS_READ:
		if ((r = pbuf_put_u8(&b, ev->k)) < 0 || (r = pbuf_put_u8(&b, ev->m)) < 0)
			return r;
		break;
	case LINK_EV_KEY_WRITTEN:
		if ((r = pbuf_put_u8(&b, ev->k)) < 0 || (r = pbuf_put_u8(&b, ev->n)) < 0 ||
		    (r = link_put_str(&b, ev->serial)) < 0)
			return r;
		break;
	case LINK_EV_NEED_SHARES:
		if ((r = pbuf_put_u8(&b, ev->m)) < 0 || (r = pbuf_put_u8(&b, ev->n)) < 0)
			return r;
		break;
	default:
		return PED_E_PARSE;
	}
	*len = b.len;
	return 0;
}

/* A CSP from the PED (plain: pedhost unwrapped it if the link is secured)
 * goes out wrapped under the session's CWK. */
static int put_wrapped(sess_t *s, pbuf_t *b, const uint8_t *csp, size_t len)
{
	uint8_t w[WRAP_MAX];
	size_t wlen = 0;
	int r;

	if ((r = sess_wrap(s, csp, len, w, sizeof(w), &wlen)) == 0)
		r = link_put_blob(b, 1, w, wlen);
	OPENSSL_cleanse(w, sizeof(w));
	return r < 0 ? r : 0;
}

static int put_shares(sess_t *s, pbuf_t *b, const pedhost_result_t *res)
{
	int r;

	if ((r = pbuf_put_u8(b, res->count)) < 0)
		return r;
	for (unsigned i = 0; i < res->count && i < PEDHOST_MAX_KEYS; i++) {
		if (res->shares[i].wrap != 0)
			return PED_E_UNWRAP;
		if ((r = link_put_str(b, res->shares[i].serial)) < 0 ||
		    (r = put_wrapped(s, b, res->shares[i].data, res->shares[i].len)) < 0)
			return r;
	}
	return 0;
}

int relay_encode_result(sess_t *s, uint16_t id, const pedhost_result_t *res, uint8_t *out,
			size_t cap, size_t *len)
{
	pbuf_t b;
	int r;

	pbuf_over(&b, out, cap);
	if (res->status != 0) {
		/* an ERROR frame from the PED keeps its message */
		if (res->message[0] != '\0') {
			if ((r = put_head(&b, LINK_ERROR, id)) < 0 ||
			    (r = pbuf_put_u16(&b, (uint16_t)-res->status)) < 0 ||
			    (r = link_put_str(&b, res->message)) < 0)
				return r;
		} else if ((r = put_head(&b, LINK_RESULT, id)) < 0 ||
			   (r = pbuf_put_u16(&b, (uint16_t)-res->status)) < 0) {
			return r;
		}
		*len = b.len;
		return 0;
	}
	if ((r = put_head(&b, LINK_RESULT, id)) < 0 || (r = pbuf_put_u16(&b, 0)) < 0)
		return r;
	switch (res->op) {
	case LINK_READ_KEYSET:
	case LINK_READ_RPK:
		if ((r = pbuf_put_u8(&b, res->m)) < 0 || (r = pbuf_put_u8(&b, res->n)) < 0 ||
		    (r = pbuf_put_bytes(&b, res->keyset, LINK_KEYSET_ID_LEN)) < 0 ||
		    (r = put_shares(s, &b, res)) < 0)
			return r;
		break;
	case LINK_CREATE_KEYSET:
		if ((r = pbuf_put_u8(&b, res->reused)) < 0 || (r = pbuf_put_u8(&b, res->m)) < 0 ||
		    (r = pbuf_put_u8(&b, res->n)) < 0 ||
		    (r = pbuf_put_bytes(&b, res->keyset, LINK_KEYSET_ID_LEN)) < 0 ||
		    (r = pbuf_put_u8(&b, res->keys_written)) < 0)
			return r;
		if (res->reused && (r = put_shares(s, &b, res)) < 0)
			return r;
		break;
	case LINK_OTP:
		if (res->otp_wrap != 0)
			return PED_E_UNWRAP;
		if ((r = put_wrapped(s, &b, res->otp, res->otp_len)) < 0)
			return r;
		break;
	default:
		break;
	}
	*len = b.len;
	return 0;
}

int relay_decode_shares(sess_t *s, const uint8_t *p, size_t len,
			uint8_t keyset[static LINK_KEYSET_ID_LEN], shamir_share_t *shares,
			unsigned *count)
{
	uint8_t w[WRAP_MAX], plain[WRAP_MAX];
	size_t wlen = 0, plen = 0;
	uint8_t n = 0, wrap = 0;
	pbuf_t b, one;
	unsigned i = 0;
	int r;

	*count = 0;
	pbuf_from(&b, p, len);
	if ((r = pbuf_get_bytes(&b, keyset, LINK_KEYSET_ID_LEN)) < 0 ||
	    (r = pbuf_get_u8(&b, &n)) < 0)
		goto out;
	r = PED_E_RANGE;
	if (n == 0 || n > SHAMIR_MAX_N)
		goto out;
	for (i = 0; i < n; i++) {
		if ((r = link_get_blob(&b, &wrap, w, sizeof(w), &wlen)) < 0)
			goto out;
		r = PED_E_UNWRAP; /* a CSP never travels in the clear */
		if (wrap != 1)
			goto out;
		if ((r = sess_unwrap(s, w, wlen, plain, sizeof(plain), &plen)) < 0)
			goto out;
		pbuf_from(&one, plain, plen);
		if ((r = shamir_share_decode(&one, &shares[i])) < 0 ||
		    (r = pbuf_expect_end(&one)) < 0)
			goto out;
	}
	if ((r = pbuf_expect_end(&b)) < 0)
		goto out;
	*count = n;
	r = 0;
out:
	if (r < 0)
		for (unsigned j = 0; j <= i && j < n; j++)
			shamir_share_wipe(&shares[j]);
	OPENSSL_cleanse(w, sizeof(w));
	OPENSSL_cleanse(plain, sizeof(plain));
	return r < 0 ? r : 0;
}

int relay_rpk_secret(const pedhost_result_t *res, uint8_t secret[static RELAY_RPK_SECRET_LEN])
{
	shamir_share_t sh[PEDHOST_MAX_KEYS];
	uint8_t buf[SHAMIR_MAX_SECRET];
	unsigned k = 0;
	pbuf_t b;
	int r = PED_E_SHARE_FEW;

	memset(sh, 0, sizeof(sh));
	if (res->count == 0 || res->count > PEDHOST_MAX_KEYS)
		goto out;
	for (k = 0; k < res->count; k++) {
		r = PED_E_UNWRAP;
		if (res->shares[k].wrap != 0)
			goto out;
		pbuf_from(&b, res->shares[k].data, res->shares[k].len);
		if ((r = shamir_share_decode(&b, &sh[k])) < 0)
			goto out;
	}
	r = PED_E_WRONG_KEY_TYPE; /* not an orange key's secret */
	if (sh[0].len != RELAY_RPK_SECRET_LEN)
		goto out;
	if ((r = shamir_combine(sh, k, buf, sizeof(buf))) < 0)
		goto out;
	memcpy(secret, buf, RELAY_RPK_SECRET_LEN);
	r = 0;
out:
	OPENSSL_cleanse(sh, sizeof(sh));
	OPENSSL_cleanse(buf, sizeof(buf));
	return r;
}
