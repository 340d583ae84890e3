/* shamir.c - Shamir M-of-N secret sharing over GF(2^8), polynomial 0x11b
 * (see shamir.h for the scheme and the share encoding).
 *
 * Everything that touches a secret byte (secret, coefficients, y values) is
 * constant time: multiplication is shift-and-xor with masks computed
 * arithmetically, inversion is a fixed square-and-multiply chain, and no table
 * is indexed and no branch is taken on secret data. Branches on x, m and len
 * are fine: those are public. */
#include "shamir.h"
#include "shamir_int.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/err.h"
#include "common/log.h"

#define SHARE_HDR_LEN 5 /* version, M, x, u16 len */

/* a*b in GF(2^8) mod x^8+x^4+x^3+x+1. Eight fixed rounds; the masks are 0 or
 * all ones, derived from the bits by negation, never by a branch. */
static uint8_t gf_mul(uint8_t a, uint8_t b)
{
	uint32_t x = a, y = b, r = 0;
	int i;

	for (i = 0; i < 8; i++) {
		r ^= x & (0u - (y & 1u));
		y >>= 1;
		/* x < 0x100 here, so x >> 7 is the bit that overflows into x^8 */
		x = (x << 1) ^ (0x11bu & (0u - (x >> 7)));
	}
	return (uint8_t)r;
}

/* a^-1 = a^254 (the multiplicative group has order 255); inv(0) = 0.
 * Fixed chain: a^3, a^7, ..., a^127 by r = r^2 * a, then one square. */
static uint8_t gf_inv(uint8_t a)
{
	uint8_t r = a;
	int i;

	for (i = 0; i < 6; i++)
		r = gf_mul(gf_mul(r, r), a);
	return gf_mul(r, r);
}

uint8_t shamir_test_gf_mul(uint8_t a, uint8_t b)
{
	return gf_mul(a, b);
}

uint8_t shamir_test_gf_inv(uint8_t a)
{
	return gf_inv(a);
}

void shamir_share_wipe(shamir_share_t *s)
{
	if (s != NULL)
		OPENSSL_cleanse(s, sizeof(*s));
}

static int check_split_args(const uint8_t *secret, size_t len, unsigned m, unsigned n,
			    const uint8_t *coeffs, int need_coeffs, const shamir_share_t *shares)
{
	if (secret == NULL || shares == NULL || (need_coeffs && m > 1 && coeffs == NULL))
		return PED_E_INVAL;
	if (m < 1 || m > n || n > SHAMIR_MAX_N)
		return PED_E_RANGE;
	if (len < 1 || len > SHAMIR_MAX_SECRET)
		return PED_E_INVAL;
	return 0;
}

int shamir_split_coeffs(const uint8_t *secret, size_t len, unsigned m, unsigned n,
			const uint8_t *coeffs, shamir_share_t *shares)
{
	unsigned j, k;
	size_t i;
	int r;

	if ((r = check_split_args(secret, len, m, n, coeffs, 1, shares)) != 0)
		goto out;
	for (j = 0; j < n; j++) {
		shamir_share_t *s = &shares[j];
		const uint8_t x = (uint8_t)(j + 1);

		shamir_share_wipe(s);
		s->m = (uint8_t)m;
		s->x = x;
		s->len = (uint16_t)len;
		/* Horner: f_i(x) = ((c_i(m-1) x + c_i(m-2)) x + ... + c_i1) x + s_i */
		for (i = 0; i < len; i++) {
			const uint8_t *c = coeffs + i * (m - 1);
			uint8_t y = 0;

			for (k = m - 1; k >= 1; k--)
				y = gf_mul(y, x) ^ c[k - 1];
			s->y[i] = gf_mul(y, x) ^ secret[i];
		}
	}
	r = 0;
out:
	return r;
}

int shamir_split(const uint8_t *secret, size_t len, unsigned m, unsigned n,
		 shamir_share_t *shares)
{
	uint8_t coeffs[SHAMIR_MAX_SECRET * (SHAMIR_MAX_N - 1)];
	size_t nc = 0;
	unsigned j;
	int r;

	if ((r = check_split_args(secret, len, m, n, NULL, 0, shares)) != 0)
		goto out;
	nc = len * (m - 1);
	if (nc > 0 && RAND_bytes(coeffs, (int)nc) != 1) {
		log_openssl("shamir: RAND_bytes failed");
		for (j = 0; j < n; j++)
			shamir_share_wipe(&shares[j]);
		r = PED_E_CRYPTO;
		goto out;
	}
	r = shamir_split_coeffs(secret, len, m, n, coeffs, shares);
out:
	OPENSSL_cleanse(coeffs, nc);
	return r;
}

/* Checks a set of k shares for interpolation: same len (and the same valid m
 * when check_m), x nonzero and pairwise distinct. */
static int check_set(const shamir_share_t *shares, unsigned k, int check_m)
{
	uint8_t seen[256] = {0};
	const unsigned m = shares[0].m, len = shares[0].len;
	unsigned j;

	if (len < 1 || len > SHAMIR_MAX_SECRET)
		return PED_E_SHARE_BAD;
	if (check_m && (m < 1 || m > SHAMIR_MAX_N))
		return PED_E_SHARE_BAD;
	for (j = 0; j < k; j++) {
		const shamir_share_t *s = &shares[j];

		if (s->len != len || s->x == 0 || (check_m && s->m != m))
			return PED_E_SHARE_BAD;
		if (seen[s->x])
			return PED_E_SHARE_DUP;
		seen[s->x] = 1;
	}
	return 0;
}

/* Lagrange interpolation at 0 over the first k shares (checked by the
 * caller): secret_b = sum_j y_jb * L_j with L_j = prod_{i!=j} x_i / (x_i - x_j),
 * and subtraction is xor in characteristic 2. The basis depends on x only. */
static void interpolate(const shamir_share_t *shares, unsigned k, size_t len, uint8_t *secret)
{
	uint8_t basis[255]; /* k <= 255: the x are distinct and nonzero */
	unsigned i, j;
	size_t b;

	for (j = 0; j < k; j++) {
		uint8_t num = 1, den = 1;

		for (i = 0; i < k; i++) {
			if (i == j)
				continue;
			num = gf_mul(num, shares[i].x);
			den = gf_mul(den, shares[i].x ^ shares[j].x);
		}
		basis[j] = gf_mul(num, gf_inv(den));
	}
	for (b = 0; b < len; b++) {
		uint8_t acc = 0;

		for (j = 0; j < k; j++)
			acc ^= gf_mul(shares[j].y[b], basis[j]);
		secret[b] = acc;
	}
}

/* Validates the set and interpolates at 0: with use_m, the first m shares
 * of a set that must agree on m (shamir_combine); otherwise all k points
 * (shamir_interpolate). */
static int recombine(const shamir_share_t *shares, unsigned k, uint8_t *secret, size_t cap,
		     int use_m)
{
	int r = PED_E_INVAL;

	if (shares == NULL || secret == NULL)
		goto out;
	memset(secret, 0, cap);
	r = PED_E_SHARE_FEW;
	if (k == 0)
		goto out;
	if ((r = check_set(shares, k, use_m)) != 0)
		goto out;
	r = PED_E_SHARE_FEW;
	if (use_m && k < shares[0].m)
		goto out;
	r = PED_E_NOSPACE;
	if (cap < shares[0].len)
		goto out;
	interpolate(shares, use_m ? shares[0].m : k, shares[0].len, secret);
	r = 0;
out:
	return r;
}

int shamir_combine(const shamir_share_t *shares, unsigned k, uint8_t *secret, size_t cap)
{
	return recombine(shares, k, secret, cap, 1);
}

int shamir_interpolate(const shamir_share_t *shares, unsigned k, uint8_t *secret, size_t cap)
{
	return recombine(shares, k, secret, cap, 0);
}

static int check_fields(unsigned m, unsigned x, unsigned len)
{
	if (m < 1 || m > SHAMIR_MAX_N || x < 1 || x > SHAMIR_MAX_N ||
	    len < 1 || len > SHAMIR_MAX_SECRET)
		return PED_E_SHARE_BAD;
	return 0;
}

int shamir_share_encode(const shamir_share_t *s, pbuf_t *out)
{
	uint8_t *p;
	int r = PED_E_INVAL;

	if (s == NULL || out == NULL)
		goto out;
	if ((r = check_fields(s->m, s->x, s->len)) != 0)
		goto out;
	/* one reservation: either the whole share is written or nothing */
	if ((r = pbuf_reserve(out, SHARE_HDR_LEN + (size_t)s->len, &p)) != 0)
		goto out;
	p[0] = SHAMIR_SHARE_VERSION;
	p[1] = s->m;
	p[2] = s->x;
	p[3] = (uint8_t)(s->len >> 8);
	p[4] = (uint8_t)s->len;
	memcpy(p + SHARE_HDR_LEN, s->y, s->len);
	r = 0;
out:
	return r;
}

/* Parses on a copy of the cursor and commits only on success, so that a
 * failure (incomplete or invalid) leaves in unchanged. Fixed order: header
 * complete, version, M, x, len, then the y bytes. */
int shamir_share_decode(pbuf_t *in, shamir_share_t *s)
{
	pbuf_t t;
	uint8_t ver, m, x;
	uint16_t len;
	int r = PED_E_INVAL;

	shamir_share_wipe(s);
	if (in == NULL || s == NULL)
		goto out;
	t = *in;
	r = PED_E_INCOMPLETE;
	if (pbuf_avail(&t) < SHARE_HDR_LEN)
		goto out;
	if (pbuf_get_u8(&t, &ver) != 0 || pbuf_get_u8(&t, &m) != 0 ||
	    pbuf_get_u8(&t, &x) != 0 || pbuf_get_u16(&t, &len) != 0)
		goto out;
	r = PED_E_VERSION;
	if (ver != SHAMIR_SHARE_VERSION)
		goto out;
	if ((r = check_fields(m, x, len)) != 0)
		goto out;
	if ((r = pbuf_get_bytes(&t, s->y, len)) != 0)
		goto out;
	s->m = m;
	s->x = x;
	s->len = len;
	in->off = t.off;
	r = 0;
out:
	if (r != 0)
		shamir_share_wipe(s);
	return r;
}
