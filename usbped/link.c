/* link.c - the PED link frame codec, stream decoder and payload field
 * helpers (the format is documented in link.h and docs/PROTOCOL.md).
 *
 * The decoder validates in a fixed order: magic, version, length cap (as
 * soon as the 8 header bytes are there, before buffering a payload), then
 * the CRC once the whole frame has arrived. Any failure drops bytes up to
 * the next magic: a bad magic skips to the next 0xA5 0x5A, a bad version,
 * an oversized length or a CRC mismatch drop the two magic bytes and search
 * again from there (the real frame may start inside the bad one). */
#include "link.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/err.h"

#define DECODER_MAX (2 * LINK_MAX_FRAME)

struct link_decoder {
	pbuf_t buf;       /* owned, at most DECODER_MAX bytes */
	uint64_t dropped; /* bytes skipped while resynchronising */
};

/* CRC-32/ISO-HDLC (IEEE 802.3, zlib): reflected polynomial 0xEDB88320,
 * init and final xor 0xFFFFFFFF; four bits at a time. Not secret. */
static const uint32_t crc_nibble[16] = {
	0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac, 0x76dc4190, 0x6b6b51f4,
	0x4db26158, 0x5005713c, 0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c,
	0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c,
};

uint32_t link_crc32(const uint8_t *data, size_t len)
{
	uint32_t c = 0xffffffffu;
	size_t i;

	for (i = 0; i < len; i++) {
		c ^= data[i];
		c = (c >> 4) ^ crc_nibble[c & 0xf];
		c = (c >> 4) ^ crc_nibble[c & 0xf];
	}
	return c ^ 0xffffffffu;
}

int link_encode(uint8_t type, uint16_t id, const uint8_t *payload, size_t len,
		uint8_t *out, size_t outcap, size_t *outlen)
{
	int r = PED_E_INVAL;

	if (outlen != NULL)
		*outlen = 0;
	if (out == NULL || outlen == NULL || (payload == NULL && len > 0))
		goto out;
	r = PED_E_TOO_LONG;
	if (len > LINK_MAX_PAYLOAD)
		goto out;
	r = PED_E_NOSPACE;
	if (outcap < LINK_HDR_LEN + len + LINK_CRC_LEN)
		goto out;
	out[0] = LINK_MAGIC0;
	out[1] = LINK_MAGIC1;
	out[2] = LINK_VERSION;
	out[3] = type;
	out[4] = (uint8_t)(id >> 8);
	out[5] = (uint8_t)id;
	out[6] = (uint8_t)(len >> 8);
	out[7] = (uint8_t)len;
	if (len > 0)
		memmove(out + LINK_HDR_LEN, payload, len);
	pbuf_be32(out + LINK_HDR_LEN + len, link_crc32(out, LINK_HDR_LEN + len));
	*outlen = LINK_HDR_LEN + len + LINK_CRC_LEN;
	r = 0;
out:
	return r;
}

int link_decoder_new(link_decoder_t **out)
{
	link_decoder_t *d;

	if (out == NULL)
		return PED_E_INVAL;
	*out = NULL;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return PED_E_NOMEM;
	pbuf_init(&d->buf, DECODER_MAX);
	*out = d;
	return 0;
}

void link_decoder_free(link_decoder_t *d)
{
	if (d == NULL)
		return;
	pbuf_release(&d->buf);
	OPENSSL_cleanse(d, sizeof(*d));
	free(d);
}

uint64_t link_decoder_dropped(const link_decoder_t *d)
{
	return d == NULL ? 0 : d->dropped;
}

int link_decoder_feed(link_decoder_t *d, const uint8_t *data, size_t n)
{
	if (d == NULL || (data == NULL && n > 0))
		return PED_E_INVAL;
	if (n == 0)
		return 0;
	if (n > DECODER_MAX - pbuf_avail(&d->buf))
		return PED_E_TOO_LONG;
	if (n > DECODER_MAX - d->buf.len)
		pbuf_compact(&d->buf);
	return pbuf_put_bytes(&d->buf, data, n);
}

/* Forget the first n unread bytes (wiped: frames may carry CSPs). */
static void consume(link_decoder_t *d, size_t n, int garbage)
{
	OPENSSL_cleanse(d->buf.data + d->buf.off, n);
	d->buf.off += n;
	if (garbage)
		d->dropped += n;
	if (pbuf_avail(&d->buf) == 0)
		d->buf.off = d->buf.len = 0;
}

/* Skips to the next magic. 0 when the buffer starts with one; otherwise
 * PED_E_INCOMPLETE (keeping a last 0xA5 that may begin a magic). */
static int seek_magic(link_decoder_t *d)
{
	for (;;) {
		const uint8_t *p = pbuf_ptr(&d->buf);
		size_t avail = pbuf_avail(&d->buf);
		const uint8_t *m;

		if (avail == 0)
			return PED_E_INCOMPLETE;
		m = memchr(p, LINK_MAGIC0, avail);
		if (m == NULL) {
			consume(d, avail, 1);
			return PED_E_INCOMPLETE;
		}
		if (m != p)
			consume(d, (size_t)(m - p), 1);
		if (pbuf_avail(&d->buf) < 2)
			return PED_E_INCOMPLETE;
		if (pbuf_ptr(&d->buf)[1] == LINK_MAGIC1)
			return 0;
		consume(d, 1, 1);
	}
}

int link_decoder_next(link_decoder_t *d, link_frame_t *f)
{
	const uint8_t *p;
	size_t plen, total;

	if (f != NULL) {
		f->type = 0;
		f->id = 0;
		f->len = 0;
	}
	if (d == NULL || f == NULL)
		return PED_E_INVAL;
	for (;;) {
		if (seek_magic(d) != 0)
			return PED_E_INCOMPLETE;
		if (pbuf_avail(&d->buf) < LINK_HDR_LEN)
			return PED_E_INCOMPLETE;
		p = pbuf_ptr(&d->buf);
		plen = (size_t)p[6] << 8 | p[7];
		if (p[2] != LINK_VERSION || plen > LINK_MAX_PAYLOAD) {
			consume(d, 2, 1);
			continue;
		}
		total = LINK_HDR_LEN + plen + LINK_CRC_LEN;
		if (pbuf_avail(&d->buf) < total)
			return PED_E_INCOMPLETE;
		if (link_crc32(p, LINK_HDR_LEN + plen) != pbuf_rd32(p + LINK_HDR_LEN + plen)) {
			consume(d, 2, 1);
			continue;
		}
		f->type = p[3];
		f->id = (uint16_t)(p[4] << 8 | p[5]);
		f->len = (uint16_t)plen;
		if (plen > 0)
			memcpy(f->payload, p + LINK_HDR_LEN, plen);
		consume(d, total, 0);
		return 0;
	}
}

int link_put_str(pbuf_t *b, const char *s)
{
	size_t n;
	uint8_t *p;
	int r;

	if (b == NULL)
		return PED_E_INVAL;
	if (s == NULL)
		s = "";
	n = strnlen(s, 256);
	if (n > 255)
		return PED_E_TOO_LONG;
	/* one reservation: the whole field or nothing */
	if ((r = pbuf_reserve(b, 1 + n, &p)) != 0)
		return r;
	p[0] = (uint8_t)n;
	memcpy(p + 1, s, n);
	return 0;
}

int link_get_str(pbuf_t *b, char *out, size_t cap)
{
	pbuf_t t;
	uint8_t n;
	const uint8_t *p;
	int r = PED_E_INVAL;

	if (out != NULL && cap > 0)
		out[0] = '\0';
	if (b == NULL || out == NULL || cap == 0)
		goto out;
	t = *b;
	if ((r = pbuf_get_u8(&t, &n)) != 0 || (r = pbuf_get_view(&t, n, &p)) != 0)
		goto out;
	r = PED_E_TOO_LONG;
	if ((size_t)n + 1 > cap)
		goto out;
	r = PED_E_PARSE;
	if (memchr(p, '\0', n) != NULL)
		goto out;
	memcpy(out, p, n);
	out[n] = '\0';
	b->off = t.off;
	r = 0;
out:
	return r;
}

int link_put_blob(pbuf_t *b, uint8_t wrap, const uint8_t *data, size_t len)
{
	uint8_t *p;
	int r;

	if (b == NULL || wrap > 1 || (data == NULL && len > 0))
		return PED_E_INVAL;
	if (len > 0xffff)
		return PED_E_TOO_LONG;
	if ((r = pbuf_reserve(b, 3 + len, &p)) != 0)
		return r;
	p[0] = wrap;
	p[1] = (uint8_t)(len >> 8);
	p[2] = (uint8_t)len;
	if (len > 0)
		memcpy(p + 3, data, len);
	return 0;
}

int link_get_blob(pbuf_t *b, uint8_t *wrap, uint8_t *out, size_t cap, size_t *len)
{
	pbuf_t t;
	uint8_t w;
	uint16_t n;
	const uint8_t *p;
	int r = PED_E_INVAL;

	if (wrap != NULL)
		*wrap = 0;
	if (len != NULL)
		*len = 0;
	if (out != NULL && cap > 0)
		OPENSSL_cleanse(out, cap);
	if (b == NULL || wrap == NULL || len == NULL || (out == NULL && cap > 0))
		goto out;
	t = *b;
	if ((r = pbuf_get_u8(&t, &w)) != 0 || (r = pbuf_get_u16(&t, &n)) != 0 ||
	    (r = pbuf_get_view(&t, n, &p)) != 0)
		goto out;
	r = PED_E_PARSE;
	if (w > 1)
		goto out;
	r = PED_E_TOO_LONG;
	if (n > cap)
		goto out;
	if (n > 0)
		memcpy(out, p, n);
	*wrap = w;
	*len = n;
	b->off = t.off;
	r = 0;
out:
	return r;
}

const char *link_type_name(uint8_t type)
{
	switch (type) {
	case LINK_HELLO: return "HELLO";
	case LINK_STATUS: return "STATUS";
	case LINK_READ_KEYSET: return "READ_KEYSET";
	case LINK_CREATE_KEYSET: return "CREATE_KEYSET";
	case LINK_SHARES: return "SHARES";
	case LINK_READ_RPK: return "READ_RPK";
	case LINK_FORGET_RPK: return "FORGET_RPK";
	case LINK_OTP: return "OTP";
	case LINK_ALLOW_HSM: return "ALLOW_HSM";
	case LINK_CANCEL: return "CANCEL";
	case LINK_KEX_OFFER: return "KEX_OFFER";
	case LINK_KEX_CONFIRM: return "KEX_CONFIRM";
	case LINK_HELLO_ACK: return "HELLO_ACK";
	case LINK_STATUS_ACK: return "STATUS_ACK";
	case LINK_EVENT: return "EVENT";
	case LINK_RESULT: return "RESULT";
	case LINK_ERROR: return "ERROR";
	case LINK_KEX_ACCEPT: return "KEX_ACCEPT";
	case LINK_KEX_DONE: return "KEX_DONE";
	default: return "UNKNOWN";
	}
}

const char *link_key_type_name(uint8_t key_type)
{
	switch (key_type) {
	case LINK_KEY_BLANK: return "BLANK";
	case LINK_KEY_BLUE: return "BLUE";
	case LINK_KEY_RED: return "RED";
	case LINK_KEY_ORANGE: return "ORANGE";
	case LINK_KEY_BLACK: return "BLACK";
	case LINK_KEY_WHITE: return "WHITE";
	default: return "UNKNOWN";
	}
}
