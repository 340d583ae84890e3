/* spake2.h - SPAKE2 (RFC 9382), a password-authenticated key exchange, over
 * a NIST prime curve and a hash, with the RFC's published M and N points.
 *
 *   A: pA = x*P + w*M        B: pB = y*P + w*N
 *   K  = h*x*(pB - w*N) = h*y*(pA - w*M)              (h = 1 on NIST curves)
 *   TT = len(A)||A || len(B)||B || len(pA)||pA || len(pB)||pB
 *        || len(K)||K || len(w)||w                    (len: u64 little-endian)
 *   Ke || Ka = Hash(TT)                               (halves)
 *   KcA || KcB = HKDF(salt = nil, IKM = Ka, info = "ConfirmationKeys" || AAD,
 *                     L = hash length)                (halves)
 *   confA = HMAC(KcA, TT), confB = HMAC(KcB, TT)
 * Points are uncompressed SEC1; w and the scalars are big-endian, padded to
 * the length of the group order; K is the uncompressed point (RFC 9382 §3.3,
 * §4, §6). Every received point is validated (on the curve, not the
 * identity; cofactor 1) and a K at the identity is refused.
 *
 * An attacker who takes part in one exchange can test one password guess;
 * an eavesdropper none. The protocol's use of it is docs/PROTOCOL.md Part 4. */
#ifndef PED_SPAKE2_H
#define PED_SPAKE2_H

#include <stddef.h>
#include <stdint.h>

#define SPAKE2_PT_MAX 133     /* P-521 uncompressed */
#define SPAKE2_SCALAR_MAX 66  /* P-521 order */
#define SPAKE2_HASH_MAX 64    /* SHA-512 */
#define SPAKE2_ID_MAX 512
#define SPAKE2_AAD_MAX 1024

enum spake2_suite {
	SPAKE2_P256_SHA256 = 1, /* SPAKE2-P256-SHA256-HKDF-HMAC (the RFC's vectors) */
	SPAKE2_P384_SHA256 = 2, /* SPAKE2-P384-SHA256-HKDF-HMAC */
	SPAKE2_P521_SHA512 = 3, /* SPAKE2-P521-SHA512-HKDF-HMAC (Remote PED) */
};

enum spake2_role { SPAKE2_A = 0, SPAKE2_B = 1 };

typedef struct spake2 spake2_t;

/* What the exchange yields; every field hash length or half of it. */
struct spake2_keys {
	size_t hash_len;                         /* confA/confB length */
	size_t half_len;                         /* Ke, Ka, KcA, KcB length */
	uint8_t ke[SPAKE2_HASH_MAX / 2];         /* the shared key */
	uint8_t ka[SPAKE2_HASH_MAX / 2];
	uint8_t kc_a[SPAKE2_HASH_MAX / 2], kc_b[SPAKE2_HASH_MAX / 2];
	uint8_t conf_a[SPAKE2_HASH_MAX];         /* A sends it, B checks it */
	uint8_t conf_b[SPAKE2_HASH_MAX];         /* B sends it, A checks it */
};

/* Lengths of the suite: uncompressed point and scalar (group order). */
int spake2_lengths(enum spake2_suite suite, size_t *pt_len, size_t *scalar_len);

/* One side of an exchange. w: the password scalar, big-endian, at most 2 x
 * the order's length, reduced mod the order here (0 is refused). scalar: the
 * x or y to use (tests: the RFC's), or NULL for a fresh random one in
 * [1, order-1]. */
int spake2_new(enum spake2_suite suite, enum spake2_role role, const uint8_t *w,
	       size_t w_len, const uint8_t *scalar, size_t scalar_len, spake2_t **out);
/* This side's message (pA or pB), *len = the suite's point length. */
int spake2_msg(const spake2_t *s, uint8_t *out, size_t cap, size_t *len);
/* Takes the peer's message: validates it (PED_E_BAD_KEY: not an
 * uncompressed point on the curve, the identity, or this side's own message
 * reflected), computes K, TT and the keys. id_a / id_b are the identities
 * (may be empty; at most SPAKE2_ID_MAX), aad at most SPAKE2_AAD_MAX. The
 * private scalar and w are wiped afterwards; a second call fails. */
int spake2_finish(spake2_t *s, const uint8_t *id_a, size_t id_a_len, const uint8_t *id_b,
		  size_t id_b_len, const uint8_t *peer, size_t peer_len, const uint8_t *aad,
		  size_t aad_len, struct spake2_keys *out);
/* The peer's confirmation MAC against the expected one, in constant time:
 * 0 or PED_E_KC_FAILED. */
int spake2_check_conf(const spake2_t *s, const struct spake2_keys *k, const uint8_t *conf,
		      size_t len);
/* Wipes every secret. NULL is a no-op. */
void spake2_free(spake2_t *s);
void spake2_keys_wipe(struct spake2_keys *k);

/* Tests only: K and TT of a finished exchange (they hold w). */
int spake2_debug_k_tt(const spake2_t *s, const uint8_t **k, size_t *k_len,
		      const uint8_t **tt, size_t *tt_len);

#endif
