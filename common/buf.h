/* buf.h - the bounded byte buffer through which every byte from outside passes.
 *
 * A pbuf is a window [off, len) of readable bytes inside storage of size cap.
 * Getters never read past len: they return PED_E_INCOMPLETE and leave the
 * buffer unchanged instead, and they clear their outputs on entry. Putters never
 * write past cap (fixed storage) or max (owned, growable storage): they return
 * PED_E_NOSPACE / PED_E_TOO_LONG. Multi-byte integers are big-endian.
 *
 * The struct is public on purpose (unlike our other handles): a pbuf is a
 * small cursor used on the stack for every parse, and must not allocate. */
#ifndef PED_BUF_H
#define PED_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct pbuf {
	uint8_t *data;
	size_t cap;    /* bytes of storage at data */
	size_t len;    /* end of the valid bytes */
	size_t off;    /* read position, off <= len */
	size_t max;    /* owned buffers: hard cap on cap */
	unsigned flags;
} pbuf_t;

/* Read-only view of len bytes (putters fail with PED_E_INVAL). */
void pbuf_from(pbuf_t *b, const void *data, size_t len);
/* Empty writable buffer over caller storage of cap bytes; never grows. */
void pbuf_over(pbuf_t *b, void *mem, size_t cap);
/* Empty owned buffer that grows on demand up to max bytes. */
void pbuf_init(pbuf_t *b, size_t max);
/* Wipes and frees owned storage; any buffer is left empty. */
void pbuf_release(pbuf_t *b);
/* Forget all bytes (wiping them in owned storage); keeps the storage. */
void pbuf_reset(pbuf_t *b);

static inline size_t pbuf_avail(const pbuf_t *b) { return b->len - b->off; }
/* NULL for an empty owned buffer that has no storage yet (never NULL + 0). */
static inline const uint8_t *pbuf_ptr(const pbuf_t *b)
{
	return b->data == NULL ? NULL : b->data + b->off;
}

int pbuf_get_u8(pbuf_t *b, uint8_t *v);
int pbuf_get_u16(pbuf_t *b, uint16_t *v);
int pbuf_get_u32(pbuf_t *b, uint32_t *v);
int pbuf_get_u64(pbuf_t *b, uint64_t *v);
/* Copy n bytes out. */
int pbuf_get_bytes(pbuf_t *b, void *out, size_t n);
/* Point *p at the next n bytes (valid while the buffer is unchanged). */
int pbuf_get_view(pbuf_t *b, size_t n, const uint8_t **p);
/* Take the next n bytes as a read-only sub-buffer. */
int pbuf_get_sub(pbuf_t *b, size_t n, pbuf_t *sub);
int pbuf_skip(pbuf_t *b, size_t n);
/* PED_E_TRAILING unless every byte was consumed. */
int pbuf_expect_end(const pbuf_t *b);

int pbuf_put_u8(pbuf_t *b, uint8_t v);
int pbuf_put_u16(pbuf_t *b, uint16_t v);
int pbuf_put_u32(pbuf_t *b, uint32_t v);
int pbuf_put_u64(pbuf_t *b, uint64_t v);
int pbuf_put_bytes(pbuf_t *b, const void *data, size_t n);
/* Reserve n writable bytes at the end, returned in *p (valid until the next put). */
int pbuf_reserve(pbuf_t *b, size_t n, uint8_t **p);
/* Move the unread bytes to the front of the storage (stream reading). */
void pbuf_compact(pbuf_t *b);

/* Big-endian helpers for fixed layouts. */
static inline void pbuf_be32(uint8_t p[4], uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);  p[3] = (uint8_t)v;
}
static inline void pbuf_be64(uint8_t p[8], uint64_t v)
{
	pbuf_be32(p, (uint32_t)(v >> 32));
	pbuf_be32(p + 4, (uint32_t)v);
}
static inline uint32_t pbuf_rd32(const uint8_t p[4])
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

#endif
