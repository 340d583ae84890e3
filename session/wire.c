/* wire.c - session protocol framing and hello messages (see wire.h). */
#include "wire.h"

#include <string.h>

#include "common/err.h"

int wire_header(const uint8_t *hdr, size_t avail, size_t max_payload, uint8_t *type,
		uint32_t *len)
{
	*type = 0;
	*len = 0;
	if (avail < WIRE_HDR_LEN)
		return PED_E_INCOMPLETE;
	if (hdr[0] != WIRE_VERSION)
		return PED_E_VERSION;
	*len = pbuf_rd32(hdr + 2);
	if (*len > max_payload) {
		*len = 0;
		return PED_E_TOO_LONG;
	}
	*type = hdr[1];
	return 0;
}

int wire_frame(pbuf_t *out, uint8_t type, const uint8_t *payload, size_t len)
{
	uint8_t hdr[WIRE_HDR_LEN] = {WIRE_VERSION, type};
	uint8_t *p;
	int r;

	if (len > WIRE_MAX_PAYLOAD)
		return PED_E_TOO_LONG;
	pbuf_be32(hdr + 2, (uint32_t)len);
	/* Reserve the whole frame first, so a failure writes nothing. */
	if ((r = pbuf_reserve(out, WIRE_HDR_LEN + len, &p)) != 0)
		return r;
	memcpy(p, hdr, WIRE_HDR_LEN);
	if (len > 0)
		memcpy(p + WIRE_HDR_LEN, payload, len);
	return 0;
}

static int printable(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return 0;
	return 1;
}

int wire_put_str(pbuf_t *b, const char *s)
{
	size_t n = strlen(s);
	int r;

	if (n > WIRE_STR_MAX || !printable((const uint8_t *)s, n))
		return PED_E_INVAL;
	if ((r = pbuf_put_u8(b, (uint8_t)n)) != 0)
		return r;
	return pbuf_put_bytes(b, s, n);
}

int wire_get_str(pbuf_t *b, char out[static WIRE_STR_MAX + 1])
{
	uint8_t n;
	const uint8_t *p;

	out[0] = '\0';
	if (pbuf_get_u8(b, &n) != 0 || pbuf_get_view(b, n, &p) != 0)
		return PED_E_PARSE;
	if (!printable(p, n))
		return PED_E_PARSE;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

int wire_hello_encode(const struct wire_hello *h, pbuf_t *out)
{
	int r;
	if ((r = pbuf_put_u8(out, h->min_version)) != 0 ||
	    (r = pbuf_put_u8(out, h->max_version)) != 0 ||
	    (r = pbuf_put_u8(out, h->purpose)) != 0 ||
	    (r = wire_put_str(out, h->client_name)) != 0 ||
	    (r = wire_put_str(out, h->hsm_serial)) != 0)
		return r;
	return 0;
}

/* Field order and checks: versions (min <= max, min >= 1), purpose, strings,
 * then nothing trailing. */
int wire_hello_decode(const uint8_t *p, size_t len, struct wire_hello *h)
{
	pbuf_t b;

	memset(h, 0, sizeof(*h));
	pbuf_from(&b, p, len);
	if (pbuf_get_u8(&b, &h->min_version) != 0 || pbuf_get_u8(&b, &h->max_version) != 0 ||
	    pbuf_get_u8(&b, &h->purpose) != 0)
		return PED_E_PARSE;
	if (h->min_version == 0 || h->min_version > h->max_version)
		return PED_E_PARSE;
	if (h->purpose < WIRE_PURPOSE_PROBE || h->purpose > WIRE_PURPOSE_RESUME)
		return PED_E_PARSE;
	if (wire_get_str(&b, h->client_name) != 0 || wire_get_str(&b, h->hsm_serial) != 0)
		return PED_E_PARSE;
	return pbuf_expect_end(&b);
}

int wire_hello_ack_encode(const struct wire_hello_ack *a, pbuf_t *out)
{
	int r;
	if ((r = pbuf_put_u8(out, a->version)) != 0 ||
	    (r = wire_put_str(out, a->server_name)) != 0 ||
	    (r = wire_put_str(out, a->software)) != 0 ||
	    (r = pbuf_put_u8(out, a->ped_attached)) != 0 ||
	    (r = wire_put_str(out, a->ped_firmware)) != 0 ||
	    (r = wire_put_str(out, a->ped_protocol)) != 0 ||
	    (r = pbuf_put_u8(out, a->busy)) != 0 || (r = wire_put_str(out, a->holder)) != 0)
		return r;
	return 0;
}

int wire_hello_ack_decode(const uint8_t *p, size_t len, struct wire_hello_ack *a)
{
	pbuf_t b;

	memset(a, 0, sizeof(*a));
	pbuf_from(&b, p, len);
	if (pbuf_get_u8(&b, &a->version) != 0 || a->version == 0 ||
	    wire_get_str(&b, a->server_name) != 0 || wire_get_str(&b, a->software) != 0 ||
	    pbuf_get_u8(&b, &a->ped_attached) != 0 || a->ped_attached > 1 ||
	    wire_get_str(&b, a->ped_firmware) != 0 || wire_get_str(&b, a->ped_protocol) != 0 ||
	    pbuf_get_u8(&b, &a->busy) != 0 || a->busy > 1 || wire_get_str(&b, a->holder) != 0)
		return PED_E_PARSE;
	return pbuf_expect_end(&b);
}

int wire_error_encode(const struct wire_error *e, pbuf_t *out)
{
	int r;
	if ((r = pbuf_put_u16(out, e->code)) != 0)
		return r;
	return wire_put_str(out, e->message);
}

int wire_error_decode(const uint8_t *p, size_t len, struct wire_error *e)
{
	pbuf_t b;

	memset(e, 0, sizeof(*e));
	pbuf_from(&b, p, len);
	if (pbuf_get_u16(&b, &e->code) != 0 || wire_get_str(&b, e->message) != 0)
		return PED_E_PARSE;
	return pbuf_expect_end(&b);
}
