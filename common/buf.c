/* buf.c - bounded byte buffer (see buf.h). */
#include "buf.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "err.h"

enum { PBUF_RDONLY = 1, PBUF_OWNED = 2 };

void pbuf_from(pbuf_t *b, const void *data, size_t len)
{
	*b = (pbuf_t){.data = (uint8_t *)data, .cap = len, .len = len, .flags = PBUF_RDONLY};
}

void pbuf_over(pbuf_t *b, void *mem, size_t cap)
{
	*b = (pbuf_t){.data = mem, .cap = cap};
}

void pbuf_init(pbuf_t *b, size_t max)
{
	*b = (pbuf_t){.max = max, .flags = PBUF_OWNED};
}

void pbuf_release(pbuf_t *b)
{
	if (b->flags & PBUF_OWNED && b->data != NULL) {
		OPENSSL_cleanse(b->data, b->cap);
		free(b->data);
		b->data = NULL;
		b->cap = 0;
	}
	b->len = b->off = 0;
}

void pbuf_reset(pbuf_t *b)
{
	if (b->flags & PBUF_OWNED && b->data != NULL)
		OPENSSL_cleanse(b->data, b->cap);
	b->len = b->off = 0;
}

static int need(const pbuf_t *b, size_t n)
{
	return pbuf_avail(b) < n ? PED_E_INCOMPLETE : 0;
}

int pbuf_get_bytes(pbuf_t *b, void *out, size_t n)
{
	memset(out, 0, n);
	if (need(b, n) != 0)
		return PED_E_INCOMPLETE;
	if (n > 0)
		memcpy(out, b->data + b->off, n);
	b->off += n;
	return 0;
}

int pbuf_get_u8(pbuf_t *b, uint8_t *v)
{
	return pbuf_get_bytes(b, v, 1);
}

int pbuf_get_u16(pbuf_t *b, uint16_t *v)
{
	uint8_t p[2];
	*v = 0;
	if (pbuf_get_bytes(b, p, 2) != 0)
		return PED_E_INCOMPLETE;
	*v = (uint16_t)(p[0] << 8 | p[1]);
	return 0;
}

int pbuf_get_u32(pbuf_t *b, uint32_t *v)
{
	uint8_t p[4];
	*v = 0;
	if (pbuf_get_bytes(b, p, 4) != 0)
		return PED_E_INCOMPLETE;
	*v = pbuf_rd32(p);
	return 0;
}

int pbuf_get_u64(pbuf_t *b, uint64_t *v)
{
	uint8_t p[8];
	*v = 0;
	if (pbuf_get_bytes(b, p, 8) != 0)
		return PED_E_INCOMPLETE;
	*v = (uint64_t)pbuf_rd32(p) << 32 | pbuf_rd32(p + 4);
	return 0;
}

int pbuf_get_view(pbuf_t *b, size_t n, const uint8_t **p)
{
	*p = NULL;
	if (need(b, n) != 0)
		return PED_E_INCOMPLETE;
	*p = pbuf_ptr(b);
	b->off += n;
	return 0;
}

int pbuf_get_sub(pbuf_t *b, size_t n, pbuf_t *sub)
{
	const uint8_t *p;
	pbuf_from(sub, NULL, 0);
	if (pbuf_get_view(b, n, &p) != 0)
		return PED_E_INCOMPLETE;
	pbuf_from(sub, p, n);
	return 0;
}

int pbuf_skip(pbuf_t *b, size_t n)
{
	if (need(b, n) != 0)
		return PED_E_INCOMPLETE;
	b->off += n;
	return 0;
}

int pbuf_expect_end(const pbuf_t *b)
{
	return pbuf_avail(b) == 0 ? 0 : PED_E_TRAILING;
}

/* Make room for n more bytes at len. */
static int grow(pbuf_t *b, size_t n)
{
	size_t want, ncap;
	uint8_t *nd;

	if (b->flags & PBUF_RDONLY)
		return PED_E_INVAL;
	if (n <= b->cap - b->len)
		return 0;
	if (!(b->flags & PBUF_OWNED))
		return PED_E_NOSPACE;
	if (n > b->max - b->len)
		return PED_E_TOO_LONG;
	want = b->len + n;
	ncap = b->cap < 256 ? 256 : b->cap;
	while (ncap < want)
		ncap = ncap > b->max / 2 ? b->max : ncap * 2;
	if (ncap > b->max)
		ncap = b->max;
	/* Never realloc: the old storage may hold secrets and must be wiped. */
	nd = malloc(ncap);
	if (nd == NULL)
		return PED_E_NOMEM;
	if (b->data != NULL) {
		memcpy(nd, b->data, b->len);
		OPENSSL_cleanse(b->data, b->cap);
		free(b->data);
	}
	b->data = nd;
	b->cap = ncap;
	return 0;
}

int pbuf_reserve(pbuf_t *b, size_t n, uint8_t **p)
{
	int r;
	*p = NULL;
	if ((r = grow(b, n)) != 0)
		return r;
	if (b->data == NULL) /* n == 0 on an empty owned buffer */
		return 0;
	*p = b->data + b->len;
	b->len += n;
	return 0;
}

int pbuf_put_bytes(pbuf_t *b, const void *data, size_t n)
{
	uint8_t *p;
	int r = pbuf_reserve(b, n, &p);
	if (r == 0 && n > 0)
		memcpy(p, data, n);
	return r;
}

int pbuf_put_u8(pbuf_t *b, uint8_t v)
{
	return pbuf_put_bytes(b, &v, 1);
}

int pbuf_put_u16(pbuf_t *b, uint16_t v)
{
	uint8_t p[2] = {(uint8_t)(v >> 8), (uint8_t)v};
	return pbuf_put_bytes(b, p, 2);
}

int pbuf_put_u32(pbuf_t *b, uint32_t v)
{
	uint8_t p[4];
	pbuf_be32(p, v);
	return pbuf_put_bytes(b, p, 4);
}

int pbuf_put_u64(pbuf_t *b, uint64_t v)
{
	uint8_t p[8];
	pbuf_be64(p, v);
	return pbuf_put_bytes(b, p, 8);
}

void pbuf_compact(pbuf_t *b)
{
	size_t n = pbuf_avail(b);
	if (b->flags & PBUF_RDONLY || b->off == 0)
		return;
	memmove(b->data, b->data + b->off, n);
	if (b->flags & PBUF_OWNED)
		OPENSSL_cleanse(b->data + n, b->len - n);
	b->len = n;
	b->off = 0;
}
