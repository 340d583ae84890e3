/* shamir_test.c - unit tests for Shamir M-of-N sharing over GF(2^8)
 * (crypto/shamir.c): field arithmetic against a slow reference, every
 * (M, N), the no-information property of fewer than M shares, rejection of
 * bad share sets, Botan's RTSS vectors, and the share encoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/hex.h"
#include "crypto/shamir.h"
#include "crypto/shamir_int.h"

/* Subsets, orders and lengths come from a fixed-seed splitmix64 so that a
 * failure can be reproduced; secrets and coefficients come from RAND_bytes. */
static uint64_t rng_state = 0x5ba3e1d2c0ffee11u;

static uint64_t rnd64(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static unsigned rnd_below(unsigned n)
{
	return (unsigned)(rnd64() % n);
}

static void random_bytes(uint8_t *p, size_t n)
{
	assert_int_equal(RAND_bytes(p, (int)n), 1);
}

static int all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint8_t acc = 0;
	size_t i;

	for (i = 0; i < n; i++)
		acc |= b[i];
	return acc == 0;
}

/* Schoolbook GF(2^8) product: carry-less multiply, then long division by
 * 0x11b, with ordinary branches. */
static uint8_t ref_mul(uint8_t a, uint8_t b)
{
	unsigned p = 0;
	int i;

	for (i = 0; i < 8; i++)
		if (b & (1u << i))
			p ^= (unsigned)a << i;
	for (i = 14; i >= 8; i--)
		if (p & (1u << i))
			p ^= 0x11bu << (i - 8);
	return (uint8_t)p;
}

static void test_gf_mul_reference(void **state)
{
	(void)state;
	unsigned a, b;

	/* FIPS 197 section 4.2 examples */
	assert_int_equal(shamir_test_gf_mul(0x57, 0x83), 0xc1);
	assert_int_equal(shamir_test_gf_mul(0x57, 0x13), 0xfe);
	assert_int_equal(ref_mul(0x57, 0x83), 0xc1);
	for (a = 0; a < 256; a++)
		for (b = 0; b < 256; b++)
			if (shamir_test_gf_mul((uint8_t)a, (uint8_t)b) != ref_mul((uint8_t)a, (uint8_t)b))
				fail_msg("gf_mul(%#x, %#x) = %#x, want %#x", a, b,
					 shamir_test_gf_mul((uint8_t)a, (uint8_t)b),
					 ref_mul((uint8_t)a, (uint8_t)b));
}

static void test_gf_inverse(void **state)
{
	(void)state;
	unsigned a;

	assert_int_equal(shamir_test_gf_inv(0), 0);
	assert_int_equal(shamir_test_gf_inv(1), 1);
	/* FIPS 197 section 4.2: {53} and {ca} are inverses */
	assert_int_equal(shamir_test_gf_inv(0x53), 0xca);
	for (a = 1; a < 256; a++)
		if (ref_mul((uint8_t)a, shamir_test_gf_inv((uint8_t)a)) != 1)
			fail_msg("inv(%#x) = %#x is not an inverse", a,
				 shamir_test_gf_inv((uint8_t)a));
}

static unsigned binom(unsigned n, unsigned k)
{
	unsigned r = 1, i;

	for (i = 1; i <= k; i++)
		r = r * (n - k + i) / i;
	return r;
}

/* Next k-subset of {0..n-1} in lexicographic order; 0 after the last. */
static int next_subset(unsigned *idx, unsigned k, unsigned n)
{
	int i = (int)k - 1;
	unsigned j;

	while (i >= 0 && idx[i] == n - k + (unsigned)i)
		i--;
	if (i < 0)
		return 0;
	idx[i]++;
	for (j = (unsigned)i + 1; j < k; j++)
		idx[j] = idx[j - 1] + 1;
	return 1;
}

/* A random order of {0..n-1}. */
static void shuffle(unsigned *idx, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		idx[i] = i;
	for (i = n; i > 1; i--) {
		unsigned j = rnd_below(i), t = idx[i - 1];
		idx[i - 1] = idx[j];
		idx[j] = t;
	}
}

/* The shares idx[0..k) give back the secret through combine and interpolate. */
static void check_subset(const shamir_share_t *shares, const unsigned *idx, unsigned k,
			 const uint8_t *secret, size_t len)
{
	shamir_share_t pick[SHAMIR_MAX_N];
	uint8_t out[SHAMIR_MAX_SECRET];
	unsigned i;

	for (i = 0; i < k; i++)
		pick[i] = shares[idx[i]];
	assert_int_equal(shamir_combine(pick, k, out, sizeof(out)), 0);
	assert_memory_equal(out, secret, len);
	assert_true(all_zero(out + len, sizeof(out) - len));
	assert_int_equal(shamir_interpolate(pick, k, out, sizeof(out)), 0);
	assert_memory_equal(out, secret, len);
}

#define SUBSETS_CAP 50

static void test_split_combine_every_m_n(void **state)
{
	(void)state;
	shamir_share_t shares[SHAMIR_MAX_N];
	uint8_t secret[SHAMIR_MAX_SECRET], out[SHAMIR_MAX_SECRET];
	unsigned m, n, j, t, idx[SHAMIR_MAX_N];

	for (m = 1; m <= SHAMIR_MAX_N; m++) {
		for (n = m; n <= SHAMIR_MAX_N; n++) {
			size_t len = (m + n) % 4 == 0 ? SHAMIR_MAX_SECRET : 1 + rnd_below(40);
			unsigned total = binom(n, m), seen = 0;

			random_bytes(secret, len);
			assert_int_equal(shamir_split(secret, len, m, n, shares), 0);
			for (j = 0; j < n; j++) {
				assert_int_equal(shares[j].m, m);
				assert_int_equal(shares[j].x, j + 1);
				assert_int_equal(shares[j].len, len);
				if (m == 1)
					assert_memory_equal(shares[j].y, secret, len);
			}
			if (total <= SUBSETS_CAP) {
				for (j = 0; j < m; j++)
					idx[j] = j;
				do {
					check_subset(shares, idx, m, secret, len);
					seen++;
				} while (next_subset(idx, m, n));
				assert_int_equal(seen, total);
			} else {
				for (t = 0; t < SUBSETS_CAP; t++) {
					shuffle(idx, n);
					check_subset(shares, idx, m, secret, len);
				}
			}
			/* all n shares in a random order: combine takes the first m,
			 * interpolate all n (the polynomial has degree m-1 < n) */
			shuffle(idx, n);
			check_subset(shares, idx, n, secret, len);
			if (m > 1) {
				shamir_share_t pick[SHAMIR_MAX_N];
				for (j = 0; j < m - 1; j++)
					pick[j] = shares[idx[j]];
				assert_int_equal(shamir_combine(pick, m - 1, out, sizeof(out)),
						 PED_E_SHARE_FEW);
				assert_true(all_zero(out, sizeof(out)));
			}
		}
	}
}

/* Fewer than M shares carry no information about the secret: for M=3, N=5
 * the two share bytes at x=2 and x=5 must be uniform over all 65536 pairs
 * whether the secret byte is 0x00 or 0xff. Each split of a STAT_LEN-byte
 * secret gives STAT_LEN independent samples (every byte has its own
 * coefficients). Critical values of chi-square with upper-tail probability
 * 1e-10, from the regularized incomplete gamma function: df 255 -> 425.9,
 * df 65535 -> 67864.4; seven statistics are tested, so a correct
 * implementation fails this test with probability below 1e-9. */
#define STAT_ROUNDS 20000
#define STAT_LEN 16
#define STAT_XA 2
#define STAT_XB 5
#define CHI2_CRIT_DF255 426.0
#define CHI2_CRIT_DF65535 67865.0

static uint32_t stat_joint[2][65536];
static uint32_t stat_marg[2][2][256];

static double chi2_uniform(const uint32_t *count, size_t cells, double samples)
{
	const double e = samples / (double)cells;
	double chi2 = 0;
	size_t i;

	for (i = 0; i < cells; i++)
		chi2 += ((double)count[i] - e) * ((double)count[i] - e) / e;
	return chi2;
}

/* Two samples of equal size: sum over the cells of (a-b)^2/(a+b); chi-square
 * with (nonempty cells - 1) <= 65535 degrees of freedom. */
static double chi2_same(const uint32_t *a, const uint32_t *b, size_t cells)
{
	double chi2 = 0;
	size_t i;

	for (i = 0; i < cells; i++)
		if (a[i] + b[i] > 0)
			chi2 += ((double)a[i] - b[i]) * ((double)a[i] - b[i]) / ((double)a[i] + b[i]);
	return chi2;
}

static void collect(unsigned m, unsigned rounds, uint8_t value, uint32_t *joint,
		    uint32_t marg[2][256])
{
	shamir_share_t shares[5];
	uint8_t secret[STAT_LEN];
	unsigned r, i;

	memset(secret, value, sizeof(secret));
	for (r = 0; r < rounds; r++) {
		assert_int_equal(shamir_split(secret, sizeof(secret), m, 5, shares), 0);
		for (i = 0; i < STAT_LEN; i++) {
			const uint8_t a = shares[STAT_XA - 1].y[i], b = shares[STAT_XB - 1].y[i];
			joint[a << 8 | b]++;
			if (marg != NULL) {
				marg[0][a]++;
				marg[1][b]++;
			}
		}
	}
}

static void test_fewer_than_m_reveal_nothing(void **state)
{
	(void)state;
	const uint8_t values[2] = {0x00, 0xff};
	const double samples = (double)STAT_ROUNDS * STAT_LEN;
	double chi2;
	int v, s;

	memset(stat_joint, 0, sizeof(stat_joint));
	memset(stat_marg, 0, sizeof(stat_marg));
	for (v = 0; v < 2; v++) {
		collect(3, STAT_ROUNDS, values[v], stat_joint[v], stat_marg[v]);
		chi2 = chi2_uniform(stat_joint[v], 65536, samples);
		print_message("secret 0x%02x: joint chi2 = %.0f (df 65535, limit %.0f)\n",
			      values[v], chi2, CHI2_CRIT_DF65535);
		assert_true(chi2 < CHI2_CRIT_DF65535);
		for (s = 0; s < 2; s++) {
			chi2 = chi2_uniform(stat_marg[v][s], 256, samples);
			assert_true(chi2 < CHI2_CRIT_DF255);
		}
	}
	chi2 = chi2_same(stat_joint[0], stat_joint[1], 65536);
	print_message("0x00 vs 0xff: chi2 = %.0f (limit %.0f)\n", chi2, CHI2_CRIT_DF65535);
	assert_true(chi2 < CHI2_CRIT_DF65535);

	/* The same statistic does see a leak: with M=2 the two shares determine
	 * the secret, and their pairs fall on 256 of the 65536 cells only. */
	memset(stat_joint[0], 0, sizeof(stat_joint[0]));
	collect(2, STAT_ROUNDS / 10, 0x00, stat_joint[0], NULL);
	chi2 = chi2_uniform(stat_joint[0], 65536, samples / 10);
	assert_true(chi2 > 10 * CHI2_CRIT_DF65535);
}

static void test_bad_share_sets(void **state)
{
	(void)state;
	shamir_share_t shares[5], pick[4];
	uint8_t secret[32], out[SHAMIR_MAX_SECRET], coeffs[64];

	random_bytes(secret, sizeof(secret));
	assert_int_equal(shamir_split(secret, sizeof(secret), 3, 5, shares), 0);

	/* the same share (or the same x with other bytes) twice */
	pick[0] = shares[0];
	pick[1] = shares[1];
	pick[2] = shares[0];
	memset(out, 0xaa, sizeof(out));
	assert_int_equal(shamir_combine(pick, 3, out, sizeof(out)), PED_E_SHARE_DUP);
	assert_true(all_zero(out, sizeof(out)));
	assert_int_equal(shamir_interpolate(pick, 3, out, sizeof(out)), PED_E_SHARE_DUP);
	pick[2] = shares[3];
	pick[2].x = 2;
	assert_int_equal(shamir_combine(pick, 3, out, sizeof(out)), PED_E_SHARE_DUP);
	pick[2] = shares[0];
	pick[3] = shares[2];
	assert_int_equal(shamir_combine(pick, 4, out, sizeof(out)), PED_E_SHARE_DUP);
	/* a duplicate is reported as such, not as too few */
	pick[1] = shares[0];
	assert_int_equal(shamir_combine(pick, 2, out, sizeof(out)), PED_E_SHARE_DUP);

	/* x = 0 */
	pick[0] = shares[0];
	pick[1] = shares[1];
	pick[2] = shares[2];
	pick[2].x = 0;
	assert_int_equal(shamir_combine(pick, 3, out, sizeof(out)), PED_E_SHARE_BAD);
	assert_int_equal(shamir_interpolate(pick, 3, out, sizeof(out)), PED_E_SHARE_BAD);

	/* mismatched m or len */
	pick[2] = shares[2];
	pick[2].m = 2;
	assert_int_equal(shamir_combine(pick, 3, out, sizeof(out)), PED_E_SHARE_BAD);
	/* interpolate ignores m */
	assert_int_equal(shamir_interpolate(pick, 3, out, sizeof(out)), 0);
	assert_memory_equal(out, secret, sizeof(secret));
	pick[2] = shares[2];
	pick[2].len = sizeof(secret) - 1;
	assert_int_equal(shamir_combine(pick, 3, out, sizeof(out)), PED_E_SHARE_BAD);
	assert_int_equal(shamir_interpolate(pick, 3, out, sizeof(out)), PED_E_SHARE_BAD);

	/* fields out of range in every share */
	pick[2] = shares[2];
	for (int f = 0; f < 4; f++) {
		shamir_share_t bad[3] = {shares[0], shares[1], shares[2]};
		for (int i = 0; i < 3; i++) {
			if (f == 0)
				bad[i].m = 0;
			else if (f == 1)
				bad[i].m = SHAMIR_MAX_N + 1;
			else if (f == 2)
				bad[i].len = 0;
			else
				bad[i].len = SHAMIR_MAX_SECRET + 1;
		}
		assert_int_equal(shamir_combine(bad, 3, out, sizeof(out)), PED_E_SHARE_BAD);
	}

	/* combine uses exactly the first m shares: a damaged extra share behind
	 * them changes nothing, while interpolating all four goes wrong */
	pick[3] = shares[3];
	pick[3].y[0] ^= 0x01;
	assert_int_equal(shamir_combine(pick, 4, out, sizeof(out)), 0);
	assert_memory_equal(out, secret, sizeof(secret));
	assert_int_equal(shamir_interpolate(pick, 4, out, sizeof(out)), 0);
	assert_int_not_equal(out[0], secret[0]);
	assert_memory_equal(out + 1, secret + 1, sizeof(secret) - 1);

	/* fewer than m */
	assert_int_equal(shamir_combine(pick, 2, out, sizeof(out)), PED_E_SHARE_FEW);
	assert_int_equal(shamir_combine(pick, 0, out, sizeof(out)), PED_E_SHARE_FEW);
	assert_int_equal(shamir_interpolate(pick, 0, out, sizeof(out)), PED_E_SHARE_FEW);

	/* output too small, missing arguments */
	assert_int_equal(shamir_combine(pick, 3, out, sizeof(secret) - 1), PED_E_NOSPACE);
	assert_int_equal(shamir_interpolate(pick, 3, out, sizeof(secret) - 1), PED_E_NOSPACE);
	assert_int_equal(shamir_combine(NULL, 3, out, sizeof(out)), PED_E_INVAL);
	assert_int_equal(shamir_combine(pick, 3, NULL, 0), PED_E_INVAL);
	assert_int_equal(shamir_interpolate(NULL, 3, out, sizeof(out)), PED_E_INVAL);
	assert_int_equal(shamir_combine(pick, 3, out, sizeof(secret)), 0);
	assert_memory_equal(out, secret, sizeof(secret));

	/* split arguments */
	assert_int_equal(shamir_split(secret, 32, 0, 5, shares), PED_E_RANGE);
	assert_int_equal(shamir_split(secret, 32, 4, 3, shares), PED_E_RANGE);
	assert_int_equal(shamir_split(secret, 32, 2, SHAMIR_MAX_N + 1, shares), PED_E_RANGE);
	assert_int_equal(shamir_split(secret, 0, 2, 3, shares), PED_E_INVAL);
	assert_int_equal(shamir_split(secret, SHAMIR_MAX_SECRET + 1, 2, 3, shares), PED_E_INVAL);
	assert_int_equal(shamir_split(NULL, 32, 2, 3, shares), PED_E_INVAL);
	assert_int_equal(shamir_split(secret, 32, 2, 3, NULL), PED_E_INVAL);
	assert_int_equal(shamir_split_coeffs(secret, 32, 2, 3, NULL, shares), PED_E_INVAL);
	assert_int_equal(shamir_split_coeffs(secret, 32, 0, 3, coeffs, shares), PED_E_RANGE);
	/* m = 1 needs no coefficient: every share is the secret */
	assert_int_equal(shamir_split_coeffs(secret, 32, 1, 3, NULL, shares), 0);
	assert_memory_equal(shares[2].y, secret, 32);
	assert_true(all_zero(shares[2].y + 32, SHAMIR_MAX_SECRET - 32));
	shamir_share_wipe(shares);
	assert_true(all_zero(&shares[0], sizeof(shares[0])));
	shamir_share_wipe(NULL);
}

/* Botan's RTSS test data (../shared/vectors/shamir-gf256/
 * botan_rtss_gf256_0x11b.json, randombit/botan 081417e4), "decoded" view. */
struct point {
	unsigned x;
	const char *y;
};

struct gen_case {
	int tc;
	unsigned m, n;
	const char *shared; /* sharedValue = secret || hash */
	const char *rng;
	const struct point *points; /* n of them, x = 1..n */
};

enum { HASH_NONE, HASH_SHA1, HASH_SHA256 };

struct rec_case {
	int tc;
	int valid;
	unsigned m, n;
	int hash;
	const char *recovered;
	const struct point *points;
};

/* generation.vec, decoded view: sharedValue split with the rng bytes as
 * coefficients at x = 1..N */
static const struct point gen1_points[] = {
	{1, "f87e4a4fe3269dad6470c0191e096c5b2523b2d31432b74aa7f5a52b7117d3de"
	     "ebda776e8e658b8d3b"},
	{2, "e8fa9192d2462859d329ac1bbd71f92320a11727c06548b060d98de27a202214"
	     "f0b187267c6ecb2b3c"},
};
static const struct point gen2_points[] = {
	{1, "9ee1bad97729978f8d"},
	{2, "24df6aa5e1583c1d1a"},
};
static const struct point gen3_points[] = {
	{1, "912becd81de8dfa6ed"},
	{2, "3a50c6a735c1ac4fda"},
	{3, "aa79297b2d2f74e13e"},
};
static const struct point gen4_points[] = {
	{1, "6fe0a87c6f52c19bb3"},
	{2, "0ca485014470d4ef40"},
	{3, "62462e792e24127cfa"},
	{4, "72aa15f7e5bfb19803"},
	{5, "1c48be8f8feb770bb9"},
};
static const struct point gen5_points[] = {
	{1, "4573b70dd4336617f2aa5ade909f7b269c8a4d7d7a76bfb112315c2247"},
	{2, "31fe3863d12b6ede25235d74111e3f654e5d72cc90647ef7b5218ebf9a"},
	{3, "758f8c6a001e0fc1de3fc2bb06ba43e4e7c429aafe3ff50ddc948e3132"},
	{4, "b7994e05195b4f3278052c7666b25a790b08bbc27c6ea77f8ca886dafd"},
	{5, "f3e8fa0cc86e2e2d8319b3b9711626f8a291e0a412352c85e51d865455"},
};
static const struct point gen6_points[] = {
	{1, "d09cb6c7301ea5a046"},
	{2, "6b481af23258ab3915"},
	{3, "3534a8e4544151d702"},
	{4, "faf1590591a71981da"},
	{5, "2415fe0e55b970a65e"},
	{6, "84ea780108f143b630"},
	{7, "d5ecd8df9fee72d7ec"},
	{8, "c104446bfbc57593de"},
	{9, "26cca5dc70c1ad32eb"},
	{10, "d3b3cd8705abdbb6c0"},
	{11, "bb992be5ddae5b51ad"},
	{12, "9a49c5bb68249a2afc"},
	{13, "72fb36c41226890402"},
	{14, "9caf74a53842c20914"},
	{15, "fbff800f11418961b2"},
	{16, "15386257cf3e465c9d"},
	{17, "08b4a4ad9a5ee1d6d7"},
};
static const struct gen_case gen_cases[] = {
	{1, 2, 2,
	 "01020304050607080947e4ee7f211f73265dd17658f6e21c1318bd6c81f37598"
	 "e20a2756299542efcf",
	 "f97c494be6209aa56d3724f761287328037e63a54cc45556b4ed1847f0e4a646"
	 "09d05038a7f0c962f4",
	 gen1_points},
	{2, 2, 2,
	 "010203040506070809",
	 "9fe3b9dd722f908784",
	 gen2_points},
	{3, 2, 3,
	 "010203040506070809",
	 "9029efdc18eed8aee4",
	 gen3_points},
	{4, 3, 5,
	 "010203040506070809",
	 "c4aa8d6ff358dca4deb47125d81e41d242f8",
	 gen4_points},
	{5, 3, 5,
	 "010203040506070809b6c511873b07a73513161b142d344b7b845cacef",
	 "70347405a81c646db869a6932948332ca05b554927b816d9233444e05c2028a9"
	 "57fef36a7c27ef8983edfca718936f959af393262727880654fc",
	 gen5_points},
	{6, 5, 17,
	 "010203040506070809",
	 "00ec467b2f562fc871e37a5d14065d8c7259958b3d2c7b72e12ded83057be83e"
	 "6895ed5f",
	 gen6_points},
};

/* recovery.vec, decoded view: f(0) = recovered || H(recovered) */
static const struct point rec1_points[] = {
	{1, "dae7fc9ea17b6d120af753e85a28e224109e12ae3bfd885a6209d142b4a0c26d"
	     "ac6f148be9ad11d8"},
	{2, "acd3e62b56fcd33cbe62b1be8b825a7b6474585918908afa9eac22a746e014a9"
	     "47262b63a4fd933d"},
};
static const struct point rec2_points[] = {
	{1, "0773d64642dc18a85158f91d69546202854bc9ed910e9173"},
	{2, "74ac6503a0a6f54dfe9bd135cc759a06b214625d8da2f5ec"},
	{3, "34b5d5731bca274635b37b85707afc86198f16f57fa57ce4"},
	{4, "db009b259b8982a9db67552714c770db64cac422e0e66464"},
	{5, "9b192b5520e550a2104fff97a8c8165bcf51b08a12e1ed6c"},
};
static const struct point rec3_points[] = {
	{1, "9dfeafac164a35ea4545e0916dd5818c3ddcade00df828ebb9b14f84cc4623be"
	     "3e6a90476e"},
	{2, "bd48d0df2cdda89651c96b8283bb353b44b7f1a0d4f7b7bd0343d640de9ac000"
	     "5e662dbdb6"},
	{3, "54d30c073a592a4b5d44127ad96859569a67c5696af2c28f9ce4a1f5d027686a"
	     "7e6246ebfe"},
	{4, "fd3f2e3958e8896e79ca66a44467464eb66149207de992116cbcffd3fa391d67"
	     "9e7e4c521d"},
};
static const struct point rec4_points[] = {
	{1, "dae7fc9ea17b6d120af753e85a28e224109e12ae3bfd885a6209d142b4a0c26d"
	     "ac6f148be9ad11d8"},
	{2, "acd3e62b56fcd33cbe62b1be8b825a7b6474585918908afa9eac22a746e014a9"
	     "47262b63a4fd933e"},
};
static const struct rec_case rec_cases[] = {
	{1, 1, 2, 2, HASH_SHA256, "0102030405060708", rec1_points},
	{2, 1, 3, 5, HASH_NONE, "476a6636f9b0caa39a7053add55b04822ed0bd456309187b", rec2_points},
	{3, 1, 2, 4, HASH_SHA256, "7465737400", rec3_points},
	{4, 0, 2, 2, HASH_SHA256, "0102030405060708", rec4_points},
};

static void load_point(shamir_share_t *s, unsigned m, const struct point *p)
{
	int n;

	memset(s, 0, sizeof(*s));
	n = hex_decode(p->y, s->y, sizeof(s->y));
	assert_true(n > 0);
	s->m = (uint8_t)m;
	s->x = (uint8_t)p->x;
	s->len = (uint16_t)n;
}

static void test_botan_generation(void **state)
{
	(void)state;
	uint8_t shared[SHAMIR_MAX_SECRET], rng[SHAMIR_MAX_SECRET * 4], out[SHAMIR_MAX_SECRET];
	shamir_share_t shares[SHAMIR_MAX_N], want, pick[SHAMIR_MAX_N];
	size_t c;

	for (c = 0; c < sizeof(gen_cases) / sizeof(gen_cases[0]); c++) {
		const struct gen_case *g = &gen_cases[c];
		const unsigned n = g->n > SHAMIR_MAX_N ? SHAMIR_MAX_N : g->n;
		int len = hex_decode(g->shared, shared, sizeof(shared));
		int nrng = hex_decode(g->rng, rng, sizeof(rng));
		unsigned j;

		assert_true(len > 0);
		assert_int_equal(nrng, len * (int)(g->m - 1));
		if (g->n > SHAMIR_MAX_N)
			assert_int_equal(shamir_split_coeffs(shared, (size_t)len, g->m, g->n, rng, shares),
					 PED_E_RANGE);
		assert_int_equal(shamir_split_coeffs(shared, (size_t)len, g->m, n, rng, shares), 0);
		for (j = 0; j < n; j++) {
			load_point(&want, g->m, &g->points[j]);
			assert_int_equal(want.x, j + 1);
			assert_int_equal(shares[j].x, want.x);
			assert_int_equal(shares[j].len, want.len);
			if (memcmp(shares[j].y, want.y, want.len) != 0)
				fail_msg("generation tc %d: share x=%u differs", g->tc, j + 1);
		}
		/* the last m shares (x up to 16) recombine */
		assert_int_equal(shamir_combine(shares + n - g->m, g->m, out, sizeof(out)), 0);
		assert_memory_equal(out, shared, (size_t)len);
		/* points beyond x = 16 (tc 6 has N = 17) lie on the same polynomial */
		for (j = n; j < g->n; j++) {
			unsigned i;
			load_point(&pick[0], g->m, &g->points[j]);
			for (i = 1; i < g->m; i++)
				pick[i] = shares[i];
			assert_int_equal(shamir_interpolate(pick, g->m, out, sizeof(out)), 0);
			assert_memory_equal(out, shared, (size_t)len);
		}
	}
}

static size_t digest(int hash, const uint8_t *in, size_t len, uint8_t *md)
{
	unsigned mdlen = 0;

	if (hash == HASH_NONE)
		return 0;
	assert_int_equal(EVP_Digest(in, len, md, &mdlen,
				    hash == HASH_SHA1 ? EVP_sha1() : EVP_sha256(), NULL), 1);
	return mdlen;
}

static void test_botan_recovery(void **state)
{
	(void)state;
	uint8_t want[SHAMIR_MAX_SECRET], out[SHAMIR_MAX_SECRET], md[EVP_MAX_MD_SIZE];
	shamir_share_t points[SHAMIR_MAX_N], pick[SHAMIR_MAX_N];
	size_t c;

	for (c = 0; c < sizeof(rec_cases) / sizeof(rec_cases[0]); c++) {
		const struct rec_case *rc = &rec_cases[c];
		int rlen = hex_decode(rc->recovered, want, sizeof(want));
		unsigned idx[SHAMIR_MAX_N], j, subsets = 0;
		size_t mdlen;

		assert_true(rlen > 0);
		for (j = 0; j < rc->n; j++)
			load_point(&points[j], rc->m, &rc->points[j]);
		mdlen = digest(rc->hash, want, (size_t)rlen, md);
		assert_int_equal(points[0].len, (size_t)rlen + mdlen);
		for (j = 0; j < rc->m; j++)
			idx[j] = j;
		/* every M-subset: subsets with x > 3 need reductions mod 0x11b */
		do {
			for (j = 0; j < rc->m; j++)
				pick[j] = points[idx[j]];
			assert_int_equal(shamir_combine(pick, rc->m, out, sizeof(out)), 0);
			assert_memory_equal(out, want, (size_t)rlen);
			if (rc->valid)
				assert_memory_equal(out + rlen, md, mdlen);
			else
				assert_memory_not_equal(out + rlen, md, mdlen);
			assert_int_equal(shamir_interpolate(pick, rc->m, out, sizeof(out)), 0);
			assert_memory_equal(out, want, (size_t)rlen);
			subsets++;
		} while (next_subset(idx, rc->m, rc->n));
		assert_int_equal(subsets, binom(rc->n, rc->m));
	}
}

static void check_encoding(const shamir_share_t *s, const uint8_t *enc, size_t n)
{
	assert_int_equal(n, 5 + (size_t)s->len);
	assert_int_equal(enc[0], SHAMIR_SHARE_VERSION);
	assert_int_equal(enc[1], s->m);
	assert_int_equal(enc[2], s->x);
	assert_int_equal(enc[3] << 8 | enc[4], s->len);
	assert_memory_equal(enc + 5, s->y, s->len);
}

static void test_encode_decode_round_trip(void **state)
{
	(void)state;
	shamir_share_t shares[SHAMIR_MAX_N], got[SHAMIR_MAX_N], bad;
	uint8_t secret[SHAMIR_MAX_SECRET], out[SHAMIR_MAX_SECRET], mem[SHAMIR_ENCODED_MAX];
	pbuf_t b, stream;
	unsigned j;

	/* one share at a time: 1-of-1 with one byte, 2-of-16 with the maximum */
	random_bytes(secret, sizeof(secret));
	assert_int_equal(shamir_split(secret, 1, 1, 1, shares), 0);
	pbuf_over(&b, mem, sizeof(mem));
	assert_int_equal(shamir_share_encode(&shares[0], &b), 0);
	check_encoding(&shares[0], mem, b.len);
	memset(&got[0], 0xaa, sizeof(got[0]));
	assert_int_equal(shamir_share_decode(&b, &got[0]), 0);
	assert_int_equal(pbuf_expect_end(&b), 0);
	assert_memory_equal(&got[0], &shares[0], sizeof(got[0])); /* tail of y wiped */

	assert_int_equal(shamir_split(secret, sizeof(secret), 2, 16, shares), 0);
	pbuf_init(&stream, SHAMIR_MAX_N * SHAMIR_ENCODED_MAX);
	for (j = 0; j < 16; j++) {
		size_t at = stream.len;
		assert_int_equal(shamir_share_encode(&shares[j], &stream), 0);
		check_encoding(&shares[j], stream.data + at, stream.len - at);
	}
	assert_int_equal(stream.len, 16 * SHAMIR_ENCODED_MAX);
	for (j = 0; j < 16; j++) {
		assert_int_equal(shamir_share_decode(&stream, &got[j]), 0);
		assert_memory_equal(&got[j], &shares[j], sizeof(got[j]));
	}
	assert_int_equal(pbuf_expect_end(&stream), 0);
	assert_int_equal(shamir_share_decode(&stream, &got[0]), PED_E_INCOMPLETE);
	pbuf_release(&stream);
	assert_int_equal(shamir_combine(got + 7, 9, out, sizeof(out)), 0);
	assert_memory_equal(out, secret, sizeof(secret));

	/* too little room: nothing is written */
	pbuf_over(&b, mem, 5 + SHAMIR_MAX_SECRET - 1);
	assert_int_equal(shamir_share_encode(&shares[0], &b), PED_E_NOSPACE);
	assert_int_equal(b.len, 0);

	/* fields out of range are never encoded */
	pbuf_over(&b, mem, sizeof(mem));
	for (j = 0; j < 6; j++) {
		bad = shares[0];
		switch (j) {
		case 0: bad.m = 0; break;
		case 1: bad.m = SHAMIR_MAX_N + 1; break;
		case 2: bad.x = 0; break;
		case 3: bad.x = SHAMIR_MAX_N + 1; break;
		case 4: bad.len = 0; break;
		default: bad.len = SHAMIR_MAX_SECRET + 1; break;
		}
		assert_int_equal(shamir_share_encode(&bad, &b), PED_E_SHARE_BAD);
		assert_int_equal(b.len, 0);
	}
	assert_int_equal(shamir_share_encode(NULL, &b), PED_E_INVAL);
	assert_int_equal(shamir_share_encode(&shares[0], NULL), PED_E_INVAL);
	/* a read-only view refuses writes */
	pbuf_from(&b, mem, sizeof(mem));
	assert_int_equal(shamir_share_encode(&shares[0], &b), PED_E_INVAL);
	for (j = 0; j < 16; j++) {
		shamir_share_wipe(&shares[j]);
		shamir_share_wipe(&got[j]);
	}
}

/* Decoding enc[0..n) fails with want, consumes nothing and leaves *s wiped. */
static void expect_decode_fails(const uint8_t *enc, size_t n, int want)
{
	shamir_share_t s;
	pbuf_t b;

	memset(&s, 0xaa, sizeof(s));
	pbuf_from(&b, enc, n);
	assert_int_equal(shamir_share_decode(&b, &s), want);
	assert_int_equal(b.off, 0);
	assert_true(all_zero(&s, sizeof(s)));
}

static void test_decode_truncated_and_bad_fields(void **state)
{
	(void)state;
	uint8_t enc[SHAMIR_ENCODED_MAX + 8], bad[SHAMIR_ENCODED_MAX + 8];
	shamir_share_t s, got;
	pbuf_t b;
	size_t n, t;

	memset(&s, 0, sizeof(s));
	s.m = 5;
	s.x = 3;
	s.len = 20;
	random_bytes(s.y, s.len);
	pbuf_over(&b, enc, sizeof(enc));
	assert_int_equal(shamir_share_encode(&s, &b), 0);
	n = b.len;
	assert_int_equal(n, 25);

	for (t = 0; t < n; t++)
		expect_decode_fails(enc, t, PED_E_INCOMPLETE);
	expect_decode_fails(NULL, 0, PED_E_INCOMPLETE);

	/* exactly its own bytes are consumed */
	enc[n] = 0x01;
	pbuf_from(&b, enc, n + 1);
	assert_int_equal(shamir_share_decode(&b, &got), 0);
	assert_int_equal(b.off, n);
	assert_memory_equal(&got, &s, sizeof(s));

	/* the boundaries are accepted */
	memset(bad, 0x5c, sizeof(bad));
	bad[0] = SHAMIR_SHARE_VERSION;
	bad[1] = SHAMIR_MAX_N;
	bad[2] = SHAMIR_MAX_N;
	bad[3] = SHAMIR_MAX_SECRET >> 8;
	bad[4] = SHAMIR_MAX_SECRET & 0xff;
	pbuf_from(&b, bad, SHAMIR_ENCODED_MAX);
	assert_int_equal(shamir_share_decode(&b, &got), 0);
	assert_int_equal(got.m, SHAMIR_MAX_N);
	assert_int_equal(got.x, SHAMIR_MAX_N);
	assert_int_equal(got.len, SHAMIR_MAX_SECRET);
	assert_int_equal(pbuf_expect_end(&b), 0);

	/* each field out of range, with enough bytes behind it */
	struct {
		size_t at;
		uint8_t v;
		int want;
	} cases[] = {
		{0, 0, PED_E_VERSION},
		{0, SHAMIR_SHARE_VERSION + 1, PED_E_VERSION},
		{0, 0xff, PED_E_VERSION},
		{1, 0, PED_E_SHARE_BAD},
		{1, SHAMIR_MAX_N + 1, PED_E_SHARE_BAD},
		{2, 0, PED_E_SHARE_BAD},
		{2, SHAMIR_MAX_N + 1, PED_E_SHARE_BAD},
		{2, 0xff, PED_E_SHARE_BAD},
	};
	for (t = 0; t < sizeof(cases) / sizeof(cases[0]); t++) {
		memcpy(bad, enc, n);
		bad[cases[t].at] = cases[t].v;
		expect_decode_fails(bad, n, cases[t].want);
	}
	/* len = 0, 257 (0x0101) and 0xffff */
	memset(bad, 0x5c, sizeof(bad));
	memcpy(bad, enc, 3);
	bad[3] = 0;
	bad[4] = 0;
	expect_decode_fails(bad, sizeof(bad), PED_E_SHARE_BAD);
	bad[3] = 0x01;
	bad[4] = 0x01;
	expect_decode_fails(bad, sizeof(bad), PED_E_SHARE_BAD);
	bad[3] = 0xff;
	bad[4] = 0xff;
	expect_decode_fails(bad, sizeof(bad), PED_E_SHARE_BAD);

	/* missing arguments */
	pbuf_from(&b, enc, n);
	assert_int_equal(shamir_share_decode(&b, NULL), PED_E_INVAL);
	memset(&got, 0xaa, sizeof(got));
	assert_int_equal(shamir_share_decode(NULL, &got), PED_E_INVAL);
	assert_true(all_zero(&got, sizeof(got)));
	assert_int_equal(b.off, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gf_mul_reference),
		cmocka_unit_test(test_gf_inverse),
		cmocka_unit_test(test_split_combine_every_m_n),
		cmocka_unit_test(test_fewer_than_m_reveal_nothing),
		cmocka_unit_test(test_bad_share_sets),
		cmocka_unit_test(test_botan_generation),
		cmocka_unit_test(test_botan_recovery),
		cmocka_unit_test(test_encode_decode_round_trip),
		cmocka_unit_test(test_decode_truncated_and_bad_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
