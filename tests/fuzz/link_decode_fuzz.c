/* link_decode_fuzz.c - libFuzzer target for the PED link stream decoder.
 *
 * Input: two bytes that choose the chunking, then the byte stream. The
 * stream is fed in chunks whose sizes come from a generator seeded by the
 * first two bytes (byte 0's top bit: chunks up to a maximal frame, else up
 * to 128 bytes); after every chunk the decoder is drained. Every frame it
 * returns must occur verbatim in the stream, re-encode to a CRC-valid frame,
 * and decode again to identical fields; anything else aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "usbped/link.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_frame(const link_frame_t *f, const uint8_t *stream, size_t seen)
{
	static uint8_t enc[LINK_MAX_FRAME];
	static link_frame_t g;
	link_decoder_t *d2 = NULL;
	size_t n;

	if (f->len > LINK_MAX_PAYLOAD)
		abort();
	if (link_encode(f->type, f->id, f->payload, f->len, enc, sizeof(enc), &n) != 0 ||
	    n != (size_t)LINK_HDR_LEN + f->len + LINK_CRC_LEN)
		abort();
	if (link_crc32(enc, n - LINK_CRC_LEN) != pbuf_rd32(enc + n - LINK_CRC_LEN))
		abort();
	/* the decoder returns only what was sent, never a splice */
	if (memmem(stream, seen, enc, n) == NULL)
		abort();
	if (link_decoder_new(&d2) != 0 || link_decoder_feed(d2, enc, n) != 0 ||
	    link_decoder_next(d2, &g) != 0)
		abort();
	if (g.type != f->type || g.id != f->id || g.len != f->len ||
	    memcmp(g.payload, f->payload, f->len) != 0 || link_decoder_dropped(d2) != 0)
		abort();
	link_decoder_free(d2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static link_frame_t f;
	link_decoder_t *d = NULL;
	const uint8_t *stream;
	size_t n, pos = 0, c, maxc, frames_bytes = 0;
	uint32_t st;
	int r;

	if (size < 2)
		return 0;
	stream = data + 2;
	n = size - 2;
	maxc = data[0] & 0x80 ? LINK_MAX_FRAME : 1 + (size_t)(data[0] & 0x7f);
	st = ((uint32_t)data[0] << 8 | data[1]) * 2654435761u | 1;
	if (link_decoder_new(&d) != 0)
		abort();
	while (pos < n) {
		st ^= st << 13;
		st ^= st >> 17;
		st ^= st << 5;
		c = 1 + st % maxc;
		if (c > n - pos)
			c = n - pos;
		/* drained, the decoder always takes another maximal frame */
		if (link_decoder_feed(d, stream + pos, c) != 0)
			abort();
		pos += c;
		while ((r = link_decoder_next(d, &f)) == 0) {
			check_frame(&f, stream, pos);
			frames_bytes += (size_t)LINK_HDR_LEN + f.len + LINK_CRC_LEN;
		}
		if (r != PED_E_INCOMPLETE)
			abort();
		if (link_decoder_dropped(d) + frames_bytes > pos)
			abort();
	}
	link_decoder_free(d);
	return 0;
}
