/* chan_test.c - the record layer: round trips, the wire format, and every way
 * a hostile network can touch a record (bit flips, truncation, replay,
 * reorder, splice, reflection), each of which must kill the channel. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/buf.h"
#include "common/err.h"
#include "crypto/chan.h"
#include "crypto/chan_int.h"
#include "crypto/kwp.h"

#define SENTINEL 0xA5

static void rand_fill(void *p, size_t n)
{
	assert_int_equal(RAND_bytes(p, (int)n), 1);
}

static int all_sentinel(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != SENTINEL)
			return 0;
	return 1;
}

/* Session keys as kas_derive() would leave them, but random. */
static void make_keys(kas_keys_t *k)
{
	memset(k, 0, sizeof(*k));
	k->scheme = KAS_FULL_UNIFIED;
	k->role = KAS_U;
	rand_fill(&k->uv, sizeof(k->uv));
	rand_fill(&k->vu, sizeof(k->vu));
}

static chan_t *new_chan(const kas_keys_t *k, enum kas_role role)
{
	kas_keys_t copy = *k;
	chan_t *c = NULL;

	copy.role = role;
	assert_int_equal(chan_new(&copy, &c), 0);
	assert_non_null(c);
	assert_false(chan_is_dead(c));
	OPENSSL_cleanse(&copy, sizeof(copy));
	return c;
}

/* Seals len random bytes with s into rec (CHAN_MAX_RECORD bytes), keeps pt. */
static size_t seal_random(chan_t *s, uint8_t *pt, size_t len, uint8_t *rec)
{
	size_t rl = 0;

	rand_fill(pt, len);
	assert_int_equal(chan_seal(s, pt, len, rec, CHAN_MAX_RECORD, &rl), 0);
	assert_int_equal(rl, len + CHAN_OVERHEAD);
	return rl;
}

/* r must refuse rec, then be dead for good. */
static void expect_rejected(chan_t *r, const uint8_t *rec, size_t rl)
{
	uint8_t pt[CHAN_MAX_PLAINTEXT];
	size_t pl = 99;

	memset(pt, SENTINEL, sizeof(pt));
	assert_int_not_equal(chan_open(r, rec, rl, pt, sizeof(pt), &pl), 0);
	assert_int_equal(pl, 0);
	assert_true(all_sentinel(pt, sizeof(pt)));
	assert_true(chan_is_dead(r));
}

static void test_new_free(void **state)
{
	kas_keys_t k;
	chan_t *c = (chan_t *)&k;
	(void)state;

	make_keys(&k);
	assert_int_equal(chan_new(NULL, &c), PED_E_INVAL);
	assert_null(c);
	assert_int_equal(chan_new(&k, NULL), PED_E_INVAL);
	k.role = (enum kas_role)7;
	assert_int_equal(chan_new(&k, &c), PED_E_INVAL);
	assert_null(c);
	chan_free(NULL);
	c = new_chan(&k, KAS_U);
	assert_int_equal(chan_sent(c), 0);
	assert_int_equal(chan_received(c), 0);
	chan_free(c);
}

static void test_round_trip(void **state)
{
	static const size_t lens[] = {1, 64, 1000, CHAN_MAX_PLAINTEXT};
	static uint8_t pt[CHAN_MAX_PLAINTEXT], got[CHAN_MAX_PLAINTEXT], rec[CHAN_MAX_RECORD];
	kas_keys_t k;
	chan_t *u, *v;
	size_t rl, gl;
	(void)state;

	make_keys(&k);
	u = new_chan(&k, KAS_U);
	v = new_chan(&k, KAS_V);
	for (int round = 0; round < 3; round++) {
		for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			/* U -> V */
			rl = seal_random(u, pt, lens[i], rec);
			assert_int_equal(rec[0], CHAN_REC_VERSION);
			assert_int_equal(pbuf_rd32(rec + 1), lens[i]);
			assert_int_equal(chan_open(v, rec, rl, got, sizeof(got), &gl), 0);
			assert_int_equal(gl, lens[i]);
			assert_memory_equal(got, pt, gl);
			/* V -> U, with an exactly-sized output buffer. */
			rl = seal_random(v, pt, lens[i], rec);
			assert_int_equal(chan_open(u, rec, rl, got, lens[i], &gl), 0);
			assert_int_equal(gl, lens[i]);
			assert_memory_equal(got, pt, gl);
		}
	}
	assert_int_equal(chan_sent(u), 12);
	assert_int_equal(chan_received(u), 12);
	assert_int_equal(chan_sent(v), 12);
	assert_int_equal(chan_received(v), 12);
	/* In place: plaintext already at rec + CHAN_HDR_LEN. */
	rand_fill(pt, 100);
	memcpy(rec + CHAN_HDR_LEN, pt, 100);
	assert_int_equal(chan_seal(u, rec + CHAN_HDR_LEN, 100, rec, sizeof(rec), &rl), 0);
	assert_int_equal(chan_open(v, rec, rl, rec + CHAN_HDR_LEN, 100, &gl), 0);
	assert_memory_equal(rec + CHAN_HDR_LEN, pt, 100);
	chan_free(u);
	chan_free(v);
}

/* The wire format of chan.h, recomputed with EVP directly. */
static void check_format(const kas_dir_keys_t *dk, uint64_t seq, const uint8_t *pt,
			 size_t len, const uint8_t *rec)
{
	static uint8_t body[CHAN_MAX_PLAINTEXT];
	uint8_t iv[16] = {0}, sq[8], tag[CHAN_TAG_LEN];
	char md[] = "SHA512";
	OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, md, 0),
			       OSSL_PARAM_construct_end()};
	EVP_CIPHER_CTX *cc = EVP_CIPHER_CTX_new();
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *mc = EVP_MAC_CTX_new(mac);
	int n = 0;
	size_t tl = 0;

	assert_non_null(cc);
	assert_non_null(mc);
	pbuf_be64(iv, seq);
	pbuf_be64(sq, seq);
	assert_int_equal(EVP_EncryptInit_ex2(cc, EVP_aes_256_ctr(), dk->dek, iv, NULL), 1);
	assert_int_equal(EVP_EncryptUpdate(cc, body, &n, pt, (int)len), 1);
	assert_int_equal((size_t)n, len);
	assert_int_equal(rec[0], CHAN_REC_VERSION);
	assert_int_equal(pbuf_rd32(rec + 1), len);
	assert_memory_equal(rec + CHAN_HDR_LEN, body, len);
	assert_int_equal(EVP_MAC_init(mc, dk->dmk, sizeof(dk->dmk), params), 1);
	assert_int_equal(EVP_MAC_update(mc, sq, 8), 1);
	assert_int_equal(EVP_MAC_update(mc, rec, CHAN_HDR_LEN + len), 1);
	assert_int_equal(EVP_MAC_final(mc, tag, &tl, sizeof(tag)), 1);
	assert_memory_equal(rec + CHAN_HDR_LEN + len, tag, CHAN_TAG_LEN);
	EVP_MAC_CTX_free(mc);
	EVP_MAC_free(mac);
	EVP_CIPHER_CTX_free(cc);
}

static void test_wire_format(void **state)
{
	static uint8_t pt[CHAN_MAX_PLAINTEXT], rec[CHAN_MAX_RECORD], rec2[CHAN_MAX_RECORD];
	kas_keys_t k;
	chan_t *u, *v;
	size_t rl;
	(void)state;

	make_keys(&k);
	u = new_chan(&k, KAS_U);
	v = new_chan(&k, KAS_V);
	seal_random(u, pt, CHAN_MAX_PLAINTEXT, rec);
	check_format(&k.uv, 0, pt, CHAN_MAX_PLAINTEXT, rec);
	seal_random(v, pt, 77, rec);
	check_format(&k.vu, 0, pt, 77, rec);
	seal_random(v, pt, 77, rec);
	check_format(&k.vu, 1, pt, 77, rec);
	/* Same plaintext, next sequence number: a different keystream. */
	assert_int_equal(chan_seal(u, pt, 77, rec, sizeof(rec), &rl), 0);
	assert_int_equal(chan_seal(u, pt, 77, rec2, sizeof(rec2), &rl), 0);
	assert_memory_not_equal(rec + CHAN_HDR_LEN, rec2 + CHAN_HDR_LEN, 77);
	/* A high sequence number lands in the first half of the counter block. */
	assert_int_equal(chan_test_set_seq(u, 0x0123456789abULL, 0), 0);
	seal_random(u, pt, CHAN_MAX_PLAINTEXT, rec);
	check_format(&k.uv, 0x0123456789abULL, pt, CHAN_MAX_PLAINTEXT, rec);
	chan_free(u);
	chan_free(v);
}

static void test_seal_refuses(void **state)
{
	static uint8_t pt[CHAN_MAX_PLAINTEXT + 1], rec[CHAN_MAX_RECORD + 1];
	kas_keys_t k;
	chan_t *u;
	size_t rl = 99;
	(void)state;

	make_keys(&k);
	u = new_chan(&k, KAS_U);
	assert_int_equal(chan_seal(u, pt, 0, rec, sizeof(rec), &rl), PED_E_INVAL);
	assert_int_equal(rl, 0);
	assert_int_equal(chan_seal(u, pt, CHAN_MAX_PLAINTEXT + 1, rec, sizeof(rec), &rl),
			 PED_E_TOO_LONG);
	assert_int_equal(chan_seal(u, pt, 10, rec, 10 + CHAN_OVERHEAD - 1, &rl), PED_E_NOSPACE);
	assert_int_equal(chan_seal(u, NULL, 10, rec, sizeof(rec), &rl), PED_E_INVAL);
	assert_int_equal(chan_seal(NULL, pt, 10, rec, sizeof(rec), &rl), PED_E_INVAL);
	/* A refused seal costs no sequence number and does not kill. */
	assert_int_equal(chan_sent(u), 0);
	assert_false(chan_is_dead(u));
	assert_int_equal(chan_seal(u, pt, 10, rec, 10 + CHAN_OVERHEAD, &rl), 0);
	assert_int_equal(chan_sent(u), 1);
	chan_free(u);
}

/* Every bit of a record with a 64-byte payload, one at a time. */
static void test_every_bit_flip(void **state)
{
	uint8_t pt[64], rec[CHAN_MAX_RECORD], got[64];
	kas_keys_t k;
	chan_t *u, *v;
	size_t rl, gl, want;
	(void)state;

	make_keys(&k);
	u = new_chan(&k, KAS_U);
	rl = seal_random(u, pt, sizeof(pt), rec);
	for (size_t bit = 0; bit < rl * 8; bit++) {
		v = new_chan(&k, KAS_V);
		rec[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		/* A flipped header may already fail here; otherwise chan_open must. */
		if (chan_record_len(rec, rl, &want) == 0 && want == rl)
			assert_true(bit >= CHAN_HDR_LEN * 8);
		expect_rejected(v, rec, rl);
		rec[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		/* Dead for good: the genuine record is refused now. */
		assert_int_equal(chan_open(v, rec, rl, got, sizeof(got), &gl), PED_E_CHAN_DEAD);
		chan_free(v);
	}
	/* The unflipped record was fine all along. */
	v = new_chan(&k, KAS_V);
	assert_int_equal(chan_open(v, rec, rl, got, sizeof(got), &gl), 0);
	assert_memory_equal(got, pt, sizeof(pt));
	chan_free(v);
	chan_free(u);
}

static void test_every_truncation(void **state)
{
	uint8_t pt[64], rec[CHAN_MAX_RECORD + 1];
	kas_keys_t k;
	chan_t *u, *v;
	size_t rl, want;
	int r;
	(void)state;

	make_keys(&k);
	u = new_chan(&k, KAS_U);
	rl = seal_random(u, pt, sizeof(pt), rec);
	for (size_t n = 0; n < rl; n++) {
		r = chan_record_len(rec, n, &want);
		if (n < CHAN_HDR_LEN) {
			assert_int_equal(r, PED_E_INCOMPLETE);
			assert_int_equal(want, 0);
		} else {
			/* The header promises more than n bytes: still incomplete. */
			assert_int_equal(r, 0);
			assert_int_equal(want, rl);
		}
		v = new_chan(&k, KAS_V);
		expect_rejected(v, rec, n);
		chan_free(v);
	}
	/* One trailing byte is refused as well. */
	rec[rl] = 0;
	v = new_chan(&k, KAS_V);
	expect_rejected(v, rec, rl + 1);
	chan_free(v);
	chan_free(u);
}

static void test_replay_reorder_duplicate(void **state)
{
	uint8_t pt[3][40], rec[3][CHAN_MAX_RECORD], got[40];
	size_t rl[3], gl;
	kas_keys_t k;
	chan_t *u, *v;
	(void)state;

	make_keys(&k);
	u = new_chan(&k, KAS_U);
	for (int i = 0; i < 3; i++)
		rl[i] = seal_random(u, pt[i], sizeof(pt[i]), rec[i]);

	/* Duplicate: the same record twice in a row. */
	v = new_chan(&k, KAS_V);
	assert_int_equal(chan_open(v, rec[0], rl[0], got, sizeof(got), &gl), 0);
	expect_rejected(v, rec[0], rl[0]);
	assert_int_equal(chan_open(v, rec[1], rl[1], got, sizeof(got), &gl), PED_E_CHAN_DEAD);
	assert_int_equal(chan_received(v), 1);
	chan_free(v);

	/* Replay: an old record after newer ones. */
	v = new_chan(&k, KAS_V);
	assert_int_equal(chan_open(v, rec[0], rl[0], got, sizeof(got), &gl), 0);
	assert_int_equal(chan_open(v, rec[1], rl[1], got, sizeof(got), &gl), 0);
	expect_rejected(v, rec[0], rl[0]);
	assert_int_equal(chan_open(v, rec[2], rl[2], got, sizeof(got), &gl), PED_E_CHAN_DEAD);
	chan_free(v);

	/* Reorder: record 2 before record 1; record 1 then finds a dead channel. */
	v = new_chan(&k, KAS_V);
	expect_rejected(v, rec[1], rl[1]);
	assert_int_equal(chan_open(v, rec[0], rl[0], got, sizeof(got), &gl), PED_E_CHAN_DEAD);
	chan_free(v);

	/* Dropped record: 0 then 2. */
	v = new_chan(&k, KAS_V);
	assert_int_equal(chan_open(v, rec[0], rl[0], got, sizeof(got), &gl), 0);
	expect_rejected(v, rec[2], rl[2]);
	chan_free(v);
	chan_free(u);
}

static void test_splice_and_reflection(void **state)
{
	uint8_t pt[50], rec[CHAN_MAX_RECORD], got[50];
	size_t rl, gl;
	kas_keys_t k1, k2;
	chan_t *u1, *v1, *u2;
	(void)state;

	make_keys(&k1);
	make_keys(&k2);
	/* A record of another session, same sequence number. */
	u2 = new_chan(&k2, KAS_U);
	v1 = new_chan(&k1, KAS_V);
	rl = seal_random(u2, pt, sizeof(pt), rec);
	expect_rejected(v1, rec, rl);
	chan_free(v1);

	/* A party's own record reflected back to it. */
	u1 = new_chan(&k1, KAS_U);
	rl = seal_random(u1, pt, sizeof(pt), rec);
	expect_rejected(u1, rec, rl);
	chan_free(u1);
	v1 = new_chan(&k1, KAS_V);
	rl = seal_random(v1, pt, sizeof(pt), rec);
	expect_rejected(v1, rec, rl);
	chan_free(v1);

	/* Two V channels of one session: V's record is not for V. */
	v1 = new_chan(&k1, KAS_V);
	chan_t *v1b = new_chan(&k1, KAS_V);
	rl = seal_random(v1, pt, sizeof(pt), rec);
	expect_rejected(v1b, rec, rl);
	chan_free(v1b);
	/* But U of that session accepts it. */
	u1 = new_chan(&k1, KAS_U);
	assert_int_equal(chan_open(u1, rec, rl, got, sizeof(got), &gl), 0);
	assert_memory_equal(got, pt, sizeof(pt));
	chan_free(u1);
	chan_free(v1);
	chan_free(u2);
}

static void test_dead_for_good(void **state)
{
	uint8_t pt[32], rec[CHAN_MAX_RECORD], bad[CHAN_MAX_RECORD], got[32], w[64];
	size_t rl, gl, wl = 99;
	kas_keys_t k;
	chan_t *u, *v;
	(void)state;

	make_keys(&k);
	u = new_chan(&k, KAS_U);
	v = new_chan(&k, KAS_V);
	rl = seal_random(u, pt, sizeof(pt), rec);
	memcpy(bad, rec, rl);
	bad[rl - 1] ^= 0x80;
	assert_int_equal(chan_open(v, bad, rl, got, sizeof(got), &gl), PED_E_BAD_TAG);
	assert_true(chan_is_dead(v));
	assert_int_equal(chan_open(v, rec, rl, got, sizeof(got), &gl), PED_E_CHAN_DEAD);
	assert_int_equal(chan_seal(v, pt, sizeof(pt), bad, sizeof(bad), &rl), PED_E_CHAN_DEAD);
	assert_int_equal(chan_wrap(v, pt, sizeof(pt), w, sizeof(w), &wl), PED_E_CHAN_DEAD);
	assert_int_equal(wl, 0);
	assert_int_equal(chan_unwrap(v, w, 40, got, sizeof(got), &gl), PED_E_CHAN_DEAD);
	assert_int_equal(chan_test_set_seq(v, 0, 0), PED_E_INVAL);
	assert_int_equal(chan_received(v), 0);
	chan_free(v);

	/* An output buffer too small is a failure too. */
	v = new_chan(&k, KAS_V);
	assert_int_equal(chan_open(v, rec, CHAN_OVERHEAD + sizeof(pt), got, sizeof(pt) - 1, &gl),
			 PED_E_NOSPACE);
	assert_true(chan_is_dead(v));
	chan_free(v);
	chan_free(u);
}

static void put_hdr(uint8_t *h, uint8_t ver, uint32_t len)
{
	h[0] = ver;
	pbuf_be32(h + 1, len);
}

static void test_header_fields(void **state)
{
	static const struct {
		uint8_t ver;
		uint32_t len;
		int r;
	} cases[] = {
		{CHAN_REC_VERSION, 0, PED_E_BAD_RECORD},
		{CHAN_REC_VERSION, 1, 0},
		{CHAN_REC_VERSION, CHAN_MAX_PLAINTEXT, 0},
		{CHAN_REC_VERSION, CHAN_MAX_PLAINTEXT + 1, PED_E_TOO_LONG},
		{CHAN_REC_VERSION, 0x80000000u, PED_E_TOO_LONG},
		{CHAN_REC_VERSION, 0xffffffffu, PED_E_TOO_LONG},
		{0, 64, PED_E_BAD_RECORD},
		{CHAN_REC_VERSION + 1, 64, PED_E_BAD_RECORD},
		{0xff, 64, PED_E_BAD_RECORD},
	};
	static uint8_t rec[CHAN_MAX_RECORD], got[CHAN_MAX_PLAINTEXT];
	kas_keys_t k;
	size_t want = 99, gl;
	chan_t *v;
	(void)state;

	make_keys(&k);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		put_hdr(rec, cases[i].ver, cases[i].len);
		/* Only the five header bytes are available: enough to decide. */
		assert_int_equal(chan_record_len(rec, CHAN_HDR_LEN, &want), cases[i].r);
		if (cases[i].r == 0)
			assert_int_equal(want, (size_t)cases[i].len + CHAN_OVERHEAD);
		else
			assert_int_equal(want, 0);
		/* chan_open refuses the whole buffer, and the channel dies. */
		v = new_chan(&k, KAS_V);
		assert_int_not_equal(chan_open(v, rec, sizeof(rec), got, sizeof(got), &gl), 0);
		assert_true(chan_is_dead(v));
		chan_free(v);
	}
	for (size_t n = 0; n < CHAN_HDR_LEN; n++)
		assert_int_equal(chan_record_len(rec, n, &want), PED_E_INCOMPLETE);
	assert_int_equal(chan_record_len(NULL, 0, &want), PED_E_INCOMPLETE);
	assert_int_equal(chan_record_len(rec, CHAN_HDR_LEN, NULL), PED_E_INVAL);
}

static void test_seq_limit(void **state)
{
	uint8_t pt[16], rec[CHAN_MAX_RECORD], got[16];
	size_t rl, gl;
	kas_keys_t k;
	chan_t *u, *v;
	(void)state;

	make_keys(&k);
	u = new_chan(&k, KAS_U);
	v = new_chan(&k, KAS_V);
	assert_int_equal(chan_test_set_seq(u, CHAN_SEQ_LIMIT - 1, 0), 0);
	assert_int_equal(chan_test_set_seq(v, 0, CHAN_SEQ_LIMIT - 1), 0);
	/* The last sequence number still works. */
	rl = seal_random(u, pt, sizeof(pt), rec);
	assert_int_equal(chan_open(v, rec, rl, got, sizeof(got), &gl), 0);
	assert_memory_equal(got, pt, sizeof(pt));
	assert_int_equal(chan_sent(u), CHAN_SEQ_LIMIT);
	assert_int_equal(chan_received(v), CHAN_SEQ_LIMIT);
	/* Beyond it, sealing is refused (without sealing anything) ... */
	assert_int_equal(chan_seal(u, pt, sizeof(pt), rec, sizeof(rec), &rl), PED_E_SEQ_EXHAUSTED);
	assert_int_equal(rl, 0);
	assert_int_equal(chan_sent(u), CHAN_SEQ_LIMIT);
	/* ... and so is opening: a record sealed at the limit by a peer that
	 * would not stop is refused. */
	chan_t *u2 = new_chan(&k, KAS_U);
	assert_int_equal(chan_test_set_seq(u2, CHAN_SEQ_LIMIT - 1, 0), 0);
	rl = seal_random(u2, pt, sizeof(pt), rec);
	assert_int_equal(chan_open(v, rec, rl, got, sizeof(got), &gl), PED_E_SEQ_EXHAUSTED);
	assert_true(chan_is_dead(v));
	chan_free(u2);
	chan_free(u);
	chan_free(v);
}

static void test_wrap(void **state)
{
	static uint8_t csp[CHAN_CSP_MAX + 1], w[CHAN_WRAP_LEN(CHAN_CSP_MAX) + 8],
		got[CHAN_CSP_MAX];
	static const size_t lens[] = {1, 7, 8, 9, 32, CHAN_CSP_MAX};
	size_t wl, gl;
	kas_keys_t k;
	chan_t *u, *v;
	(void)state;

	make_keys(&k);
	u = new_chan(&k, KAS_U);
	v = new_chan(&k, KAS_V);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		rand_fill(csp, lens[i]);
		/* U -> V with CWK_UV. */
		assert_int_equal(chan_wrap(u, csp, lens[i], w, sizeof(w), &wl), 0);
		assert_int_equal(wl, CHAN_WRAP_LEN(lens[i]));
		assert_int_equal(kwp_unwrap(k.uv.cwk, w, wl, got, sizeof(got), &gl), 0);
		assert_int_equal(gl, lens[i]);
		assert_int_equal(chan_unwrap(v, w, wl, got, sizeof(got), &gl), 0);
		assert_int_equal(gl, lens[i]);
		assert_memory_equal(got, csp, gl);
		/* V -> U with CWK_VU. */
		assert_int_equal(chan_wrap(v, csp, lens[i], w, sizeof(w), &wl), 0);
		assert_int_equal(kwp_unwrap(k.vu.cwk, w, wl, got, sizeof(got), &gl), 0);
		assert_int_equal(chan_unwrap(u, w, wl, got, sizeof(got), &gl), 0);
		assert_int_equal(gl, lens[i]);
		assert_memory_equal(got, csp, gl);
	}
	assert_int_equal(chan_wrap(u, csp, 0, w, sizeof(w), &wl), PED_E_INVAL);
	assert_int_equal(chan_wrap(u, csp, CHAN_CSP_MAX + 1, w, sizeof(w), &wl), PED_E_TOO_LONG);
	assert_false(chan_is_dead(u));

	/* Unwrapping one's own wrap uses the wrong direction's key. */
	assert_int_equal(chan_wrap(u, csp, 32, w, sizeof(w), &wl), 0);
	memset(got, SENTINEL, sizeof(got));
	assert_int_equal(chan_unwrap(u, w, wl, got, sizeof(got), &gl), PED_E_UNWRAP);
	assert_int_equal(gl, 0);
	assert_true(all_sentinel(got, sizeof(got)));
	assert_true(chan_is_dead(u));
	/* The receiver is still fine; a tampered wrap kills it. */
	w[3] ^= 1;
	assert_int_equal(chan_unwrap(v, w, wl, got, sizeof(got), &gl), PED_E_UNWRAP);
	assert_true(chan_is_dead(v));
	chan_free(v);
	/* An oversized wrapped blob is refused and kills too. */
	v = new_chan(&k, KAS_V);
	assert_int_equal(chan_unwrap(v, w, CHAN_WRAP_LEN(CHAN_CSP_MAX) + 8, got, sizeof(got), &gl),
			 PED_E_TOO_LONG);
	assert_true(chan_is_dead(v));
	chan_free(v);
	chan_free(u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_free),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_wire_format),
		cmocka_unit_test(test_seal_refuses),
		cmocka_unit_test(test_every_bit_flip),
		cmocka_unit_test(test_every_truncation),
		cmocka_unit_test(test_replay_reorder_duplicate),
		cmocka_unit_test(test_splice_and_reflection),
		cmocka_unit_test(test_dead_for_good),
		cmocka_unit_test(test_header_fields),
		cmocka_unit_test(test_seq_limit),
		cmocka_unit_test(test_wrap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
