/* link_test.c - unit tests for the PED link codec (usbped/link.h): frames of
 * every message type, the stream decoder (byte by byte, garbage, every bit
 * flipped, oversized lengths, truncation) and the payload field helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/err.h"
#include "usbped/link.h"

static const uint8_t ksid[LINK_KEYSET_ID_LEN] = {1, 2, 3, 4, 5, 6, 7, 8,
						 9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t share_bytes[] = {1, 2, 3, 0, 4, 0xde, 0xad, 0xbe, 0xef};

/* A representative payload for each message type, built as link.h says. */
static size_t build_payload(uint8_t type, uint8_t *mem, size_t cap)
{
	pbuf_t b;
	int i;

	pbuf_over(&b, mem, cap);
	switch (type) {
	case LINK_HELLO:
		assert_int_equal(pbuf_put_u8(&b, 1), 0);
		assert_int_equal(pbuf_put_u8(&b, 1), 0);
		assert_int_equal(link_put_str(&b, "pedserver@host"), 0);
		break;
	case LINK_HELLO_ACK:
		assert_int_equal(pbuf_put_u8(&b, 1), 0);
		assert_int_equal(link_put_str(&b, "2.7.1"), 0);
		assert_int_equal(link_put_str(&b, "0123456789ABCDEF"), 0);
		assert_int_equal(link_put_str(&b, "pedemu"), 0);
		break;
	case LINK_STATUS:
	case LINK_FORGET_RPK:
	case LINK_CANCEL:
		break;
	case LINK_STATUS_ACK:
		assert_int_equal(pbuf_put_u8(&b, LINK_MODE_REMOTE), 0);
		assert_int_equal(pbuf_put_u8(&b, 1), 0);
		assert_int_equal(pbuf_put_u8(&b, 0), 0);
		assert_int_equal(link_put_str(&b, "2.7.1"), 0);
		assert_int_equal(pbuf_put_u8(&b, 2), 0);
		assert_int_equal(link_put_str(&b, "AAAAAAAAAAAAAAAA"), 0);
		assert_int_equal(link_put_str(&b, "BBBBBBBBBBBBBBBB"), 0);
		break;
	case LINK_READ_KEYSET:
		assert_int_equal(pbuf_put_u8(&b, LINK_KEY_BLUE), 0);
		assert_int_equal(pbuf_put_u32(&b, LINK_DEFAULT_TIMEOUT_MS), 0);
		assert_int_equal(link_put_str(&b, "HSM SO login"), 0);
		assert_int_equal(pbuf_put_bytes(&b, ksid, sizeof(ksid)), 0);
		break;
	case LINK_CREATE_KEYSET:
		assert_int_equal(pbuf_put_u8(&b, LINK_KEY_BLACK), 0);
		assert_int_equal(pbuf_put_u32(&b, 1000), 0);
		assert_int_equal(link_put_str(&b, "CO init"), 0);
		assert_int_equal(link_put_str(&b, "partition CO"), 0);
		assert_int_equal(pbuf_put_u8(&b, 1), 0);
		break;
	case LINK_SHARES:
		assert_int_equal(pbuf_put_bytes(&b, ksid, sizeof(ksid)), 0);
		assert_int_equal(pbuf_put_u8(&b, 3), 0);
		for (i = 0; i < 3; i++)
			assert_int_equal(link_put_blob(&b, (uint8_t)(i & 1), share_bytes,
						       sizeof(share_bytes)), 0);
		break;
	case LINK_READ_RPK:
		assert_int_equal(pbuf_put_u32(&b, 5000), 0);
		assert_int_equal(link_put_str(&b, "connect"), 0);
		break;
	case LINK_OTP:
		assert_int_equal(pbuf_put_u32(&b, 5000), 0);
		assert_int_equal(link_put_str(&b, "one-time password"), 0);
		assert_int_equal(pbuf_put_u8(&b, 8), 0);
		break;
	case LINK_EVENT:
		assert_int_equal(pbuf_put_u8(&b, LINK_EV_PROMPT), 0);
		assert_int_equal(pbuf_put_u8(&b, 2), 0);
		assert_int_equal(link_put_str(&b, "Insert a SO / HSM"), 0);
		assert_int_equal(link_put_str(&b, "PED key. Press ENTER."), 0);
		break;
	case LINK_RESULT:
		assert_int_equal(pbuf_put_u16(&b, 0), 0);
		assert_int_equal(pbuf_put_u8(&b, 2), 0);
		assert_int_equal(pbuf_put_u8(&b, 3), 0);
		assert_int_equal(pbuf_put_bytes(&b, ksid, sizeof(ksid)), 0);
		assert_int_equal(pbuf_put_u8(&b, 1), 0);
		assert_int_equal(link_put_str(&b, "0123456789ABCDEF"), 0);
		assert_int_equal(link_put_blob(&b, 0, share_bytes, sizeof(share_bytes)), 0);
		break;
	case LINK_ERROR:
		assert_int_equal(pbuf_put_u16(&b, (uint16_t)-PED_E_BAD_REQUEST), 0);
		assert_int_equal(link_put_str(&b, "unknown frame type"), 0);
		break;
	default:
		fail();
	}
	return b.len;
}

static const uint8_t all_types[] = {
	LINK_HELLO,     LINK_STATUS,     LINK_READ_KEYSET, LINK_CREATE_KEYSET, LINK_SHARES,
	LINK_READ_RPK,  LINK_FORGET_RPK, LINK_OTP,         LINK_CANCEL,        LINK_HELLO_ACK,
	LINK_STATUS_ACK, LINK_EVENT,     LINK_RESULT,      LINK_ERROR,
};
#define NTYPES (sizeof(all_types) / sizeof(all_types[0]))

static void assert_frame(const link_frame_t *f, uint8_t type, uint16_t id, const uint8_t *pl,
			 size_t len)
{
	assert_int_equal(f->type, type);
	assert_int_equal(f->id, id);
	assert_int_equal(f->len, len);
	if (len > 0)
		assert_memory_equal(f->payload, pl, len);
}

static link_decoder_t *decoder(void)
{
	link_decoder_t *d = NULL;
	assert_int_equal(link_decoder_new(&d), 0);
	assert_non_null(d);
	return d;
}

static void test_crc32(void **state)
{
	(void)state;
	/* the CRC-32/ISO-HDLC check value and zlib's crc32() of "" */
	assert_int_equal(link_crc32((const uint8_t *)"123456789", 9), 0xCBF43926u);
	assert_int_equal(link_crc32(NULL, 0), 0);
	assert_int_equal(link_crc32((const uint8_t *)"The quick brown fox jumps over the lazy dog",
				    43), 0x414FA339u);
}

static void test_encode_layout(void **state)
{
	(void)state;
	uint8_t out[LINK_MAX_FRAME];
	size_t n = 99;
	/* STATUS, id 1, empty payload: the worked example of docs/PROTOCOL.md */
	static const uint8_t want[] = {0xA5, 0x5A, 0x01, 0x02, 0x00, 0x01, 0x00, 0x00,
				       0xB0, 0x74, 0x6A, 0x8A};

	assert_int_equal(link_encode(LINK_STATUS, 1, NULL, 0, out, sizeof(out), &n), 0);
	assert_int_equal(n, sizeof(want));
	assert_memory_equal(out, want, sizeof(want));
	assert_int_equal(link_encode(LINK_STATUS, 1, out, LINK_MAX_PAYLOAD + 1, out, sizeof(out), &n),
			 PED_E_TOO_LONG);
	assert_int_equal(n, 0);
	assert_int_equal(link_encode(LINK_STATUS, 1, NULL, 0, out, 11, &n), PED_E_NOSPACE);
	assert_int_equal(link_encode(LINK_STATUS, 1, NULL, 1, out, sizeof(out), &n), PED_E_INVAL);
}

static void test_round_trip_every_type(void **state)
{
	(void)state;
	uint8_t pl[LINK_MAX_PAYLOAD], fr[LINK_MAX_FRAME];
	link_frame_t f;
	size_t i, n, flen;
	link_decoder_t *d = decoder();

	for (i = 0; i < NTYPES; i++) {
		uint16_t id = (uint16_t)(0x100 * i + 7);
		n = build_payload(all_types[i], pl, sizeof(pl));
		assert_int_equal(link_encode(all_types[i], id, pl, n, fr, sizeof(fr), &flen), 0);
		assert_int_equal(flen, LINK_HDR_LEN + n + LINK_CRC_LEN);
		assert_int_equal(link_decoder_next(d, &f), PED_E_INCOMPLETE);
		assert_int_equal(link_decoder_feed(d, fr, flen), 0);
		assert_int_equal(link_decoder_next(d, &f), 0);
		assert_frame(&f, all_types[i], id, pl, n);
		assert_int_equal(link_decoder_next(d, &f), PED_E_INCOMPLETE);
		assert_string_not_equal(link_type_name(all_types[i]), "UNKNOWN");
	}
	/* a maximal payload */
	for (i = 0; i < LINK_MAX_PAYLOAD; i++)
		pl[i] = (uint8_t)(i * 7);
	assert_int_equal(link_encode(LINK_RESULT, 0xFFFF, pl, LINK_MAX_PAYLOAD, fr, sizeof(fr), &flen),
			 0);
	assert_int_equal(flen, LINK_MAX_FRAME);
	assert_int_equal(link_decoder_feed(d, fr, flen), 0);
	assert_int_equal(link_decoder_next(d, &f), 0);
	assert_frame(&f, LINK_RESULT, 0xFFFF, pl, LINK_MAX_PAYLOAD);
	assert_int_equal(link_decoder_dropped(d), 0);
	link_decoder_free(d);
	link_decoder_free(NULL);
}

/* All types back to back, fed one byte at a time: each frame appears exactly
 * when its last byte arrives. */
static void test_byte_by_byte(void **state)
{
	(void)state;
	uint8_t pl[LINK_MAX_PAYLOAD], fr[LINK_MAX_FRAME];
	link_frame_t f;
	size_t i, j, n, flen;
	link_decoder_t *d = decoder();

	for (i = 0; i < NTYPES; i++) {
		n = build_payload(all_types[i], pl, sizeof(pl));
		assert_int_equal(link_encode(all_types[i], (uint16_t)i, pl, n, fr, sizeof(fr), &flen), 0);
		for (j = 0; j < flen; j++) {
			assert_int_equal(link_decoder_feed(d, fr + j, 1), 0);
			if (j + 1 < flen) {
				assert_int_equal(link_decoder_next(d, &f), PED_E_INCOMPLETE);
			} else {
				assert_int_equal(link_decoder_next(d, &f), 0);
				assert_frame(&f, all_types[i], (uint16_t)i, pl, n);
			}
		}
	}
	assert_int_equal(link_decoder_dropped(d), 0);
	link_decoder_free(d);
}

/* Line noise before and between frames, including lone magic bytes, a magic
 * with a bad version, and a magic followed by a length above the cap. */
static void test_garbage_skipped(void **state)
{
	(void)state;
	static const uint8_t junk1[] = {0x00, 0xA5, 0x11, 0xA5, 0xA5, 0xFF, 0x5A, 0x5A};
	static const uint8_t junk2[] = {0xA5, 0x5A, 0x02, 0x01, 0x00, 0x00, 0x00, 0x00, 0x13};
	static const uint8_t junk3[] = {0xA5, 0x5A, 0x01, 0x84, 0x00, 0x01, 0x10, 0x01, 0xA5};
	const uint8_t *junk[] = {junk1, junk2, junk3};
	const size_t jlen[] = {sizeof(junk1), sizeof(junk2), sizeof(junk3)};
	uint8_t pl[LINK_MAX_PAYLOAD], fr[LINK_MAX_FRAME];
	link_frame_t f;
	size_t i, n, flen, total = 0;
	link_decoder_t *d = decoder();

	n = build_payload(LINK_EVENT, pl, sizeof(pl));
	assert_int_equal(link_encode(LINK_EVENT, 42, pl, n, fr, sizeof(fr), &flen), 0);
	for (i = 0; i < 3; i++) {
		assert_int_equal(link_decoder_feed(d, junk[i], jlen[i]), 0);
		total += jlen[i];
		assert_int_equal(link_decoder_feed(d, fr, flen), 0);
		assert_int_equal(link_decoder_next(d, &f), 0);
		assert_frame(&f, LINK_EVENT, 42, pl, n);
		assert_int_equal(link_decoder_next(d, &f), PED_E_INCOMPLETE);
		assert_int_equal(link_decoder_dropped(d), total);
	}
	/* trailing junk without any magic is dropped at once */
	assert_int_equal(link_decoder_feed(d, junk1, 3), 0);
	assert_int_equal(link_decoder_next(d, &f), PED_E_INCOMPLETE);
	assert_int_equal(link_decoder_dropped(d), total + 3);
	link_decoder_free(d);
}

/* Every single-bit flip of a frame, followed by enough good frames to
 * complete any length the flip may have produced: the damaged frame is never
 * returned, and every good frame after it is. */
static void test_bit_flips(void **state)
{
	(void)state;
	enum { GOOD = 400 };
	uint8_t pl[LINK_MAX_PAYLOAD], bad[LINK_MAX_FRAME], good[LINK_MAX_FRAME];
	uint8_t gpl[2] = {0x12, 0x34};
	link_frame_t f;
	size_t n, blen, glen, bit, k, got;
	link_decoder_t *d;

	n = build_payload(LINK_RESULT, pl, sizeof(pl));
	assert_int_equal(link_encode(LINK_STATUS_ACK, 5, gpl, sizeof(gpl), good, sizeof(good), &glen),
			 0);
	for (bit = 0; bit < 8 * (LINK_HDR_LEN + n + LINK_CRC_LEN); bit++) {
		d = decoder();
		assert_int_equal(link_encode(LINK_RESULT, 9, pl, n, bad, sizeof(bad), &blen), 0);
		bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(link_decoder_feed(d, bad, blen), 0);
		got = 0;
		for (k = 0; k < GOOD; k++) {
			assert_int_equal(link_decoder_feed(d, good, glen), 0);
			while (link_decoder_next(d, &f) == 0) {
				assert_frame(&f, LINK_STATUS_ACK, 5, gpl, sizeof(gpl));
				got++;
			}
		}
		assert_int_equal(got, GOOD);
		assert_true(link_decoder_dropped(d) >= 1);
		assert_true(link_decoder_dropped(d) <= blen);
		link_decoder_free(d);
	}
}

/* A header announcing more than LINK_MAX_PAYLOAD is dropped as soon as the
 * header is complete: nothing waits for, or buffers, the announced bytes. */
static void test_oversized_length(void **state)
{
	(void)state;
	static const uint16_t lens[] = {LINK_MAX_PAYLOAD + 1, 0xFFFF};
	uint8_t hdr[LINK_HDR_LEN] = {0xA5, 0x5A, LINK_VERSION, LINK_RESULT, 0, 1, 0, 0};
	uint8_t fr[LINK_MAX_FRAME];
	link_frame_t f;
	size_t i, flen;
	link_decoder_t *d;

	assert_int_equal(link_encode(LINK_CANCEL, 3, NULL, 0, fr, sizeof(fr), &flen), 0);
	for (i = 0; i < 2; i++) {
		d = decoder();
		hdr[6] = (uint8_t)(lens[i] >> 8);
		hdr[7] = (uint8_t)lens[i];
		assert_int_equal(link_decoder_feed(d, hdr, sizeof(hdr)), 0);
		assert_int_equal(link_decoder_next(d, &f), PED_E_INCOMPLETE);
		assert_int_equal(link_decoder_dropped(d), sizeof(hdr));
		assert_int_equal(link_decoder_feed(d, fr, flen), 0);
		assert_int_equal(link_decoder_next(d, &f), 0);
		assert_frame(&f, LINK_CANCEL, 3, NULL, 0);
		link_decoder_free(d);
	}
}

static void test_truncated(void **state)
{
	(void)state;
	uint8_t pl[LINK_MAX_PAYLOAD], fr[LINK_MAX_FRAME];
	link_frame_t f;
	size_t n, flen, cut;
	link_decoder_t *d;

	n = build_payload(LINK_SHARES, pl, sizeof(pl));
	assert_int_equal(link_encode(LINK_SHARES, 77, pl, n, fr, sizeof(fr), &flen), 0);
	for (cut = 0; cut < flen; cut++) {
		d = decoder();
		assert_int_equal(link_decoder_feed(d, fr, cut), 0);
		assert_int_equal(link_decoder_next(d, &f), PED_E_INCOMPLETE);
		assert_int_equal(link_decoder_dropped(d), 0);
		/* the rest arrives later */
		assert_int_equal(link_decoder_feed(d, fr + cut, flen - cut), 0);
		assert_int_equal(link_decoder_next(d, &f), 0);
		assert_frame(&f, LINK_SHARES, 77, pl, n);
		link_decoder_free(d);
	}
}

/* The decoder holds at most two maximal frames; after draining it always
 * accepts another maximal frame. */
static void test_feed_bound(void **state)
{
	(void)state;
	static uint8_t big[2 * LINK_MAX_FRAME + 1];
	uint8_t fr[LINK_MAX_FRAME];
	link_frame_t f;
	size_t flen, i;
	link_decoder_t *d = decoder();

	assert_int_equal(link_decoder_feed(d, big, sizeof(big)), PED_E_TOO_LONG);
	assert_int_equal(link_encode(LINK_EVENT, 1, big, LINK_MAX_PAYLOAD, fr, sizeof(fr), &flen), 0);
	assert_int_equal(link_decoder_feed(d, fr, flen), 0);
	assert_int_equal(link_decoder_feed(d, fr, flen), 0);
	assert_int_equal(link_decoder_feed(d, fr, 1), PED_E_TOO_LONG);
	for (i = 0; i < 5; i++) {
		assert_int_equal(link_decoder_next(d, &f), 0);
		assert_int_equal(f.len, LINK_MAX_PAYLOAD);
		assert_int_equal(link_decoder_feed(d, fr, flen), 0);
	}
	assert_int_equal(link_decoder_next(d, &f), 0);
	assert_int_equal(link_decoder_next(d, &f), 0);
	assert_int_equal(link_decoder_next(d, &f), PED_E_INCOMPLETE);
	/* a partial frame, then the rest of it and one more maximal frame */
	assert_int_equal(link_decoder_feed(d, fr, flen - 1), 0);
	assert_int_equal(link_decoder_next(d, &f), PED_E_INCOMPLETE);
	assert_int_equal(link_decoder_feed(d, fr + flen - 1, 1), 0);
	assert_int_equal(link_decoder_feed(d, fr, flen), 0);
	assert_int_equal(link_decoder_next(d, &f), 0);
	assert_int_equal(link_decoder_next(d, &f), 0);
	assert_int_equal(link_decoder_next(d, &f), PED_E_INCOMPLETE);
	assert_int_equal(link_decoder_dropped(d), 0);
	link_decoder_free(d);
}

static void test_str_helpers(void **state)
{
	(void)state;
	uint8_t mem[300];
	char s[257], out[16];
	pbuf_t b, r;

	memset(s, 'a', 255);
	s[255] = '\0';
	pbuf_over(&b, mem, sizeof(mem));
	assert_int_equal(link_put_str(&b, s), 0);
	assert_int_equal(b.len, 256);
	s[255] = 'a';
	s[256] = '\0';
	assert_int_equal(link_put_str(&b, s), PED_E_TOO_LONG);
	assert_int_equal(b.len, 256);
	assert_int_equal(link_put_str(&b, "0123456789abcdefghijklmnopqrstuvwxyz0123456789"),
			 PED_E_NOSPACE);
	assert_int_equal(b.len, 256); /* nothing partial */

	pbuf_over(&b, mem, sizeof(mem));
	assert_int_equal(link_put_str(&b, "hello"), 0);
	assert_int_equal(link_put_str(&b, NULL), 0); /* NULL is "" */
	pbuf_from(&r, mem, b.len);
	assert_int_equal(link_get_str(&r, out, 5), PED_E_TOO_LONG); /* needs 6 with NUL */
	assert_int_equal(r.off, 0);
	assert_string_equal(out, "");
	assert_int_equal(link_get_str(&r, out, 6), 0);
	assert_string_equal(out, "hello");
	assert_int_equal(link_get_str(&r, out, 1), 0);
	assert_string_equal(out, "");
	assert_int_equal(link_get_str(&r, out, sizeof(out)), PED_E_INCOMPLETE);

	/* truncated: length says 5, 3 bytes follow */
	pbuf_from(&r, mem, 4);
	assert_int_equal(link_get_str(&r, out, sizeof(out)), PED_E_INCOMPLETE);
	assert_int_equal(r.off, 0);
	/* an embedded NUL is not a str */
	mem[2] = 0;
	pbuf_from(&r, mem, 6);
	assert_int_equal(link_get_str(&r, out, sizeof(out)), PED_E_PARSE);
	assert_int_equal(r.off, 0);
}

static void test_blob_helpers(void **state)
{
	(void)state;
	uint8_t mem[64], out[8], w = 9;
	static const uint8_t data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	static uint8_t huge[0x10000];
	size_t n = 9;
	pbuf_t b, r;

	pbuf_over(&b, mem, sizeof(mem));
	assert_int_equal(link_put_blob(&b, 2, data, 1), PED_E_INVAL);
	assert_int_equal(link_put_blob(&b, 0, huge, sizeof(huge)), PED_E_TOO_LONG);
	assert_int_equal(link_put_blob(&b, 0, huge, 62), PED_E_NOSPACE);
	assert_int_equal(b.len, 0);
	assert_int_equal(link_put_blob(&b, 1, data, 8), 0);
	assert_int_equal(link_put_blob(&b, 0, NULL, 0), 0);
	assert_int_equal(b.len, 11 + 3);

	pbuf_from(&r, mem, b.len);
	assert_int_equal(link_get_blob(&r, &w, out, 7, &n), PED_E_TOO_LONG);
	assert_int_equal(r.off, 0);
	assert_int_equal(n, 0);
	assert_int_equal(w, 0);
	assert_int_equal(link_get_blob(&r, &w, out, sizeof(out), &n), 0);
	assert_int_equal(w, 1);
	assert_int_equal(n, 8);
	assert_memory_equal(out, data, 8);
	assert_int_equal(link_get_blob(&r, &w, out, sizeof(out), &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(link_get_blob(&r, &w, out, sizeof(out), &n), PED_E_INCOMPLETE);

	pbuf_from(&r, mem, 10); /* one byte short */
	assert_int_equal(link_get_blob(&r, &w, out, sizeof(out), &n), PED_E_INCOMPLETE);
	assert_int_equal(r.off, 0);
	mem[0] = 2; /* unknown wrapping */
	pbuf_from(&r, mem, 11);
	assert_int_equal(link_get_blob(&r, &w, out, sizeof(out), &n), PED_E_PARSE);
	assert_int_equal(r.off, 0);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(link_type_name(LINK_HELLO), "HELLO");
	assert_string_equal(link_type_name(LINK_ERROR), "ERROR");
	assert_string_equal(link_type_name(0), "UNKNOWN");
	assert_string_equal(link_type_name(0xFF), "UNKNOWN");
	assert_string_equal(link_key_type_name(LINK_KEY_BLANK), "BLANK");
	assert_string_equal(link_key_type_name(LINK_KEY_BLUE), "BLUE");
	assert_string_equal(link_key_type_name(LINK_KEY_RED), "RED");
	assert_string_equal(link_key_type_name(LINK_KEY_ORANGE), "ORANGE");
	assert_string_equal(link_key_type_name(LINK_KEY_BLACK), "BLACK");
	assert_string_equal(link_key_type_name(LINK_KEY_WHITE), "WHITE");
	assert_string_equal(link_key_type_name(6), "UNKNOWN");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32),
		cmocka_unit_test(test_encode_layout),
		cmocka_unit_test(test_round_trip_every_type),
		cmocka_unit_test(test_byte_by_byte),
		cmocka_unit_test(test_garbage_skipped),
		cmocka_unit_test(test_bit_flips),
		cmocka_unit_test(test_oversized_length),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_feed_bound),
		cmocka_unit_test(test_str_helpers),
		cmocka_unit_test(test_blob_helpers),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
