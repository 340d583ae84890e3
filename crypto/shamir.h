/* shamir.h - Shamir M-of-N secret sharing over GF(2^8), polynomial 0x11b.
 *
 * Each secret byte s_i gets its own polynomial
 *   f_i(x) = s_i + c_i1 x + ... + c_i(M-1) x^(M-1)
 * and share j (x = j, 1 <= j <= N) holds y_i = f_i(j). 1 <= M <= N <= 16.
 * Field arithmetic is constant time: no table indexed by a secret, no branch
 * on a secret (multiplication by shift-and-mask, inversion as a^254).
 *
 * Share encoding (PED keys, wire):
 *   u8 SHAMIR_SHARE_VERSION || u8 M || u8 x || u16be len || y[len]
 * with 1 <= M <= 16, 1 <= x <= 16, 1 <= len <= SHAMIR_MAX_SECRET. */
#ifndef PED_SHAMIR_H
#define PED_SHAMIR_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define SHAMIR_MAX_N 16
#define SHAMIR_MAX_SECRET 256
#define SHAMIR_SHARE_VERSION 1
#define SHAMIR_ENCODED_MAX (5 + SHAMIR_MAX_SECRET)

typedef struct shamir_share {
	uint8_t m;    /* threshold */
	uint8_t x;    /* x-coordinate, nonzero */
	uint16_t len; /* bytes of y (= secret length) */
	uint8_t y[SHAMIR_MAX_SECRET];
} shamir_share_t;

/* Splits len bytes of secret into n shares (array of n), coefficients from
 * RAND_bytes, x = 1..n. */
int shamir_split(const uint8_t *secret, size_t len, unsigned m, unsigned n,
		 shamir_share_t *shares);
/* The same with caller-chosen coefficients: c_ik = coeffs[i*(m-1) + k-1],
 * len*(m-1) bytes (for known-answer tests). */
int shamir_split_coeffs(const uint8_t *secret, size_t len, unsigned m, unsigned n,
			const uint8_t *coeffs, shamir_share_t *shares);
/* Recombines the secret (shares[0].len bytes into secret, cap bytes) from k
 * shares. Every share must carry the same m and len, x must be nonzero and
 * distinct (PED_E_SHARE_DUP for a repeated x), k >= m (PED_E_SHARE_FEW);
 * exactly the first m shares are interpolated. */
int shamir_combine(const shamir_share_t *shares, unsigned k, uint8_t *secret, size_t cap);
/* Lagrange interpolation at 0 of k points with arbitrary distinct nonzero x
 * (m is ignored); used by the vector runner for foreign share sets. */
int shamir_interpolate(const shamir_share_t *shares, unsigned k, uint8_t *secret, size_t cap);

int shamir_share_encode(const shamir_share_t *s, pbuf_t *out);
/* Decodes one share from in (consumes exactly its bytes); *s is wiped first. */
int shamir_share_decode(pbuf_t *in, shamir_share_t *s);
void shamir_share_wipe(shamir_share_t *s);

#endif
