/* kwp_test.c - AES-256-KWP: round trips, lengths, tampering, known answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/rand.h>

#include "common/err.h"
#include "common/hex.h"
#include "crypto/kwp.h"

#define SENTINEL 0xA5

static void rand_fill(uint8_t *p, size_t n)
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

static void test_round_trip(void **state)
{
	static const size_t lens[] = {1, 7, 8, 9, 15, 16, 17, 32, 4096, KWP_MAX_IN};
	uint8_t kek[KWP_KEY_LEN];
	(void)state;

	rand_fill(kek, sizeof(kek));
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		size_t n = lens[i], wl = 99, ul = 99;
		size_t want = 8 + (n + 7) / 8 * 8;
		uint8_t *in = malloc(n), *w = malloc(want), *u = malloc(n);

		assert_non_null(in);
		assert_non_null(w);
		assert_non_null(u);
		rand_fill(in, n);
		assert_int_equal(KWP_WRAPPED_LEN(n), want);
		assert_int_equal(kwp_wrap(kek, in, n, w, want, &wl), 0);
		assert_int_equal(wl, want);
		assert_int_equal(kwp_unwrap(kek, w, wl, u, n, &ul), 0);
		assert_int_equal(ul, n);
		assert_memory_equal(in, u, n);
		free(in);
		free(w);
		free(u);
	}
}

static void test_bad_lengths(void **state)
{
	uint8_t kek[KWP_KEY_LEN] = {1};
	static uint8_t big[KWP_MAX_IN + 16];
	uint8_t out[64];
	size_t ol = 99;
	(void)state;

	assert_int_equal(kwp_wrap(kek, big, 0, out, sizeof(out), &ol), PED_E_INVAL);
	assert_int_equal(ol, 0);
	ol = 99;
	assert_int_equal(kwp_wrap(kek, big, KWP_MAX_IN + 1, big, sizeof(big), &ol),
			 PED_E_TOO_LONG);
	assert_int_equal(ol, 0);
	/* Output too small by one byte. */
	assert_int_equal(kwp_wrap(kek, big, 9, out, KWP_WRAPPED_LEN(9) - 1, &ol), PED_E_NOSPACE);
	assert_int_equal(kwp_wrap(kek, NULL, 9, out, sizeof(out), &ol), PED_E_INVAL);

	/* Unwrap of lengths no wrap can produce: nothing written. */
	static const size_t bad[] = {0, 1, 8, 15, 17, 23, 31};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(out, SENTINEL, sizeof(out));
		ol = 99;
		assert_int_equal(kwp_unwrap(kek, big, bad[i], out, sizeof(out), &ol), PED_E_UNWRAP);
		assert_int_equal(ol, 0);
		assert_true(all_sentinel(out, sizeof(out)));
	}
	assert_int_equal(kwp_unwrap(kek, big, KWP_WRAPPED_LEN(KWP_MAX_IN) + 8, out, sizeof(out),
				    &ol),
			 PED_E_TOO_LONG);
	assert_true(all_sentinel(out, sizeof(out)));
}

static void test_tamper(void **state)
{
	uint8_t kek[KWP_KEY_LEN], in[32], w[KWP_WRAPPED_LEN(32)], u[64];
	size_t wl, ul;
	(void)state;

	rand_fill(kek, sizeof(kek));
	rand_fill(in, sizeof(in));
	assert_int_equal(kwp_wrap(kek, in, sizeof(in), w, sizeof(w), &wl), 0);
	/* Every bit of the wrapped blob. */
	for (size_t bit = 0; bit < wl * 8; bit++) {
		w[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		memset(u, SENTINEL, sizeof(u));
		ul = 99;
		assert_int_equal(kwp_unwrap(kek, w, wl, u, sizeof(u), &ul), PED_E_UNWRAP);
		assert_int_equal(ul, 0);
		assert_true(all_sentinel(u, sizeof(u)));
		w[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	/* Truncated by one block. */
	memset(u, SENTINEL, sizeof(u));
	assert_int_equal(kwp_unwrap(kek, w, wl - 8, u, sizeof(u), &ul), PED_E_UNWRAP);
	assert_true(all_sentinel(u, sizeof(u)));
	/* Wrong KEK. */
	kek[0] ^= 1;
	assert_int_equal(kwp_unwrap(kek, w, wl, u, sizeof(u), &ul), PED_E_UNWRAP);
	assert_int_equal(ul, 0);
	assert_true(all_sentinel(u, sizeof(u)));
	kek[0] ^= 1;
	/* Output one byte too small: refused, nothing written. */
	assert_int_equal(kwp_unwrap(kek, w, wl, u, sizeof(in) - 1, &ul), PED_E_NOSPACE);
	assert_int_equal(ul, 0);
	assert_true(all_sentinel(u, sizeof(u)));
	/* Still fine with the untouched blob. */
	assert_int_equal(kwp_unwrap(kek, w, wl, u, sizeof(u), &ul), 0);
	assert_int_equal(ul, sizeof(in));
	assert_memory_equal(u, in, sizeof(in));
}

/* Wycheproof aes_kwp_test.json, keySize 256. */
struct kat {
	int tc;
	const char *key, *msg, *ct;
	int valid;
};

static const struct kat kats[] = {
	{167, "38e1b1d075d9d852b9a6c01c8ff6965af01bac457a4e339ae3e1d7b2ffacc0cd",
	 "80ad6820f1c90981e2ca42b817a345c1179d0a11d8e23a8adc0505e13d87295a",
	 "b63b7e0fec7e315816233db6758fd3e744b9f6a40862bdf866487e53bcb950d8b2649269e51b4475", 1},
	{171, "1abf4b7fa2bb62a78f09ddab04625dcacdd9e551d1a69b6b162baa53d2700093", "ae",
	 "06c1e65ac0f385b4e8c400d229f39422", 1},
	{186, "4f710eb6b5e28703becfc3dc52fa8bc1dd44a4a6d38a84b4f94e89ac32d987e7",
	 "a828cbda9b5ff0ae37", "98428fb83dc207033c1585e0242e699be98e0001f1ee15ba", 0},
};

static void test_kat(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(kats) / sizeof(kats[0]); i++) {
		uint8_t key[KWP_KEY_LEN], msg[64], ct[80], w[80], u[80];
		int ml, cl;
		size_t wl, ul;

		assert_int_equal(hex_decode(kats[i].key, key, sizeof(key)), KWP_KEY_LEN);
		ml = hex_decode(kats[i].msg, msg, sizeof(msg));
		cl = hex_decode(kats[i].ct, ct, sizeof(ct));
		assert_true(ml > 0 && cl > 0);
		if (kats[i].valid) {
			assert_int_equal(kwp_wrap(key, msg, (size_t)ml, w, sizeof(w), &wl), 0);
			assert_int_equal(wl, (size_t)cl);
			assert_memory_equal(w, ct, wl);
			assert_int_equal(kwp_unwrap(key, ct, (size_t)cl, u, sizeof(u), &ul), 0);
			assert_int_equal(ul, (size_t)ml);
			assert_memory_equal(u, msg, ul);
		} else {
			memset(u, SENTINEL, sizeof(u));
			assert_int_equal(kwp_unwrap(key, ct, (size_t)cl, u, sizeof(u), &ul),
					 PED_E_UNWRAP);
			assert_true(all_sentinel(u, sizeof(u)));
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_bad_lengths),
		cmocka_unit_test(test_tamper),
		cmocka_unit_test(test_kat),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
