/* ecp.c - P-521 keys for the channel (see ecp.h), on OpenSSL 3 EVP_PKEY.
 *
 * Public keys are validated once, in ecp_import_public(); ecp_cdh() then tells
 * OpenSSL not to validate the peer again (EVP_PKEY_derive_set_peer_ex(..., 0)):
 * the default re-check roughly doubles the cost of an ECDH on P-521. */
#include "ecp.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"

#define ECP_COORD_LEN 66
#define ECP_GROUP_NAME "P-521"

struct ecp_key {
	EVP_PKEY *pkey;
	int has_priv;
	uint8_t pub[ECP_PUB_LEN]; /* cached uncompressed encoding */
};

/* The field prime p = 2^521 - 1 as 66 big-endian bytes. */
static const uint8_t p521_p[ECP_COORD_LEN] = {
	0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
};

/* The only SubjectPublicKeyInfo we accept, up to the point (canonical DER):
 *   SEQUENCE(155) { SEQUENCE(16) { OID id-ecPublicKey 1.2.840.10045.2.1,
 *                                  OID secp521r1 1.3.132.0.35 },
 *                   BIT STRING(134) { 0 unused bits, 04 || X || Y } } */
static const uint8_t spki_prefix[] = {
	0x30, 0x81, 0x9b,
	0x30, 0x10,
	0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
	0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23,
	0x03, 0x81, 0x86, 0x00,
};
#define ECP_SPKI_LEN (sizeof(spki_prefix) + ECP_PUB_LEN) /* 158 */

/* A parameters-only P-521 key, built once per process. Key generation and
 * point decoding start from it instead of from the curve name: building the
 * group by name costs more than decoding a point. */
static EVP_PKEY *ecp_template;
static CRYPTO_ONCE ecp_once = CRYPTO_ONCE_STATIC_INIT;

static void ecp_template_release(void)
{
	EVP_PKEY_free(ecp_template);
	ecp_template = NULL;
}

static void ecp_template_build(void)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	OSSL_PARAM params[] = {
		OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)ECP_GROUP_NAME, 0),
		OSSL_PARAM_END,
	};

	if (ctx != NULL && EVP_PKEY_fromdata_init(ctx) == 1 &&
	    EVP_PKEY_fromdata(ctx, &ecp_template, EVP_PKEY_KEY_PARAMETERS, params) == 1)
		OPENSSL_atexit(ecp_template_release);
	EVP_PKEY_CTX_free(ctx);
}

static const EVP_PKEY *template_get(void)
{
	if (!CRYPTO_THREAD_run_once(&ecp_once, ecp_template_build) || ecp_template == NULL) {
		log_openssl("ecp: cannot set up the P-521 group");
		return NULL;
	}
	return ecp_template;
}

static ecp_key_t *key_new(void)
{
	return calloc(1, sizeof(ecp_key_t));
}

void ecp_free(ecp_key_t *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pkey); /* OpenSSL clears the private scalar */
	OPENSSL_cleanse(k, sizeof(*k));
	free(k);
}

/* Fills k->pub from k->pkey and checks it is an uncompressed point. */
static int cache_public(ecp_key_t *k)
{
	size_t n = 0;

	if (EVP_PKEY_get_octet_string_param(k->pkey, OSSL_PKEY_PARAM_PUB_KEY, k->pub,
					    sizeof(k->pub), &n) != 1 ||
	    n != ECP_PUB_LEN || k->pub[0] != 0x04) {
		log_openssl("ecp: cannot encode the public key");
		return PED_E_CRYPTO;
	}
	return 0;
}

int ecp_generate(ecp_key_t **out)
{
	int r = PED_E_CRYPTO;
	EVP_PKEY_CTX *ctx = NULL;
	ecp_key_t *k = NULL;

	if (out == NULL)
		return PED_E_INVAL;
	*out = NULL;
	if ((k = key_new()) == NULL) {
		r = PED_E_NOMEM;
		goto out;
	}
	if (template_get() == NULL)
		goto out;
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, (EVP_PKEY *)ecp_template, NULL);
	if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1 ||
	    EVP_PKEY_generate(ctx, &k->pkey) != 1) {
		log_openssl("ecp: key generation failed");
		goto out;
	}
	k->has_priv = 1;
	if ((r = cache_public(k)) != 0)
		goto out;
	*out = k;
	k = NULL;
	r = 0;
out:
	EVP_PKEY_CTX_free(ctx);
	ecp_free(k);
	return r;
}

/* EVP_PKEY from a validated-range public point and, optionally, a scalar. */
static int pkey_fromdata(const uint8_t pub[ECP_PUB_LEN], const BIGNUM *priv, EVP_PKEY **pkey)
{
	int r = PED_E_CRYPTO;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;

	*pkey = NULL;
	bld = OSSL_PARAM_BLD_new();
	if (bld == NULL ||
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, ECP_GROUP_NAME, 0) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, ECP_PUB_LEN) != 1 ||
	    (priv != NULL && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv) != 1) ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL) {
		log_openssl("ecp: cannot build key parameters");
		goto out;
	}
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1) {
		log_openssl("ecp: cannot create a key context");
		goto out;
	}
	/* Decoding the point (EC_POINT_oct2point) already refuses a point that
	 * is not on the curve; anything failing here is treated as a bad key
	 * and the queue is cleared, so a hostile peer cannot flood the log. */
	if (EVP_PKEY_fromdata(ctx, pkey, priv != NULL ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
			      params) != 1) {
		ERR_clear_error();
		r = PED_E_BAD_KEY;
		goto out;
	}
	r = 0;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params); /* clears the copy of priv */
	OSSL_PARAM_BLD_free(bld);
	return r;
}

/* x >= p or y >= p? Fixed-width big-endian byte strings compare like the
 * numbers they encode, so memcmp is an exact integer comparison here. */
static int coord_in_range(const uint8_t c[ECP_COORD_LEN])
{
	return memcmp(c, p521_p, ECP_COORD_LEN) < 0;
}

/* SP 800-56A rev3 §5.6.2.3.4 (ECC partial public-key validation), done once:
 *   1. Q is not the identity      - the identity has no 133-byte encoding
 *                                   (it is the single byte 00);
 *   2. x, y in [0, p-1]            - checked explicitly below, before OpenSSL
 *                                   sees the point;
 *   3. Q on the curve              - checked when the point is decoded
 *                                   (EVP_PKEY_set1_encoded_public_key ->
 *                                   EC_POINT_oct2point, which refuses a point
 *                                   off the curve; vectors and unit tests
 *                                   prove invalid-curve points are refused).
 * Full validation (§5.6.2.3.3) adds step 4, n·Q = identity. Every point on
 * the curve is in the group of prime order n because P-521's cofactor h is 1
 * (#E = n), so step 4 cannot fail for a point that passed 1-3: the partial
 * check is full validation for this curve, and ecp_cdh() skips OpenSSL's
 * re-validation (which would double the cost of a derivation). */
int ecp_import_public(const uint8_t *pt, size_t len, ecp_key_t **out)
{
	int r = PED_E_BAD_KEY;
	ecp_key_t *k = NULL;

	if (out == NULL || (pt == NULL && len > 0))
		return PED_E_INVAL;
	*out = NULL;
	if (len != ECP_PUB_LEN || pt[0] != 0x04)
		goto out;
	if (!coord_in_range(pt + 1) || !coord_in_range(pt + 1 + ECP_COORD_LEN))
		goto out;
	if ((k = key_new()) == NULL) {
		r = PED_E_NOMEM;
		goto out;
	}
	if (template_get() == NULL || (k->pkey = EVP_PKEY_dup(ecp_template)) == NULL) {
		r = PED_E_CRYPTO;
		goto out;
	}
	/* A failure here is a bad point from the peer: clear the queue rather
	 * than log it, so a hostile peer cannot flood the log. */
	if (EVP_PKEY_set1_encoded_public_key(k->pkey, pt, ECP_PUB_LEN) != 1) {
		ERR_clear_error();
		r = PED_E_BAD_KEY;
		goto out;
	}
	memcpy(k->pub, pt, ECP_PUB_LEN);
	*out = k;
	k = NULL;
	r = 0;
out:
	ecp_free(k);
	return r;
}

/* Only the one canonical DER form is accepted (see spki_prefix): anything
 * else - explicit parameters, another curve, a compressed point, long-form or
 * indefinite lengths, unused bits - differs from the prefix. */
int ecp_import_spki(const uint8_t *der, size_t len, ecp_key_t **out)
{
	int r = PED_E_PARSE;
	pbuf_t b;
	const uint8_t *prefix, *pt;

	if (out == NULL || (der == NULL && len > 0))
		return PED_E_INVAL;
	*out = NULL;
	pbuf_from(&b, der, len);
	if (pbuf_get_view(&b, sizeof(spki_prefix), &prefix) != 0 ||
	    memcmp(prefix, spki_prefix, sizeof(spki_prefix)) != 0 ||
	    pbuf_get_view(&b, ECP_PUB_LEN, &pt) != 0)
		goto out;
	if ((r = pbuf_expect_end(&b)) != 0)
		goto out;
	r = ecp_import_public(pt, ECP_PUB_LEN, out);
out:
	return r;
}

int ecp_from_private(const uint8_t *d, size_t len, ecp_key_t **out)
{
	int r = PED_E_BAD_SCALAR;
	uint8_t s[ECP_PRIV_LEN];
	BIGNUM *bn = NULL;
	BN_CTX *bnctx = NULL;
	EC_GROUP *group = NULL;
	EC_POINT *q = NULL;
	ecp_key_t *k = NULL;
	size_t i, extra;

	memset(s, 0, sizeof(s));
	if (out == NULL || (d == NULL && len > 0))
		return PED_E_INVAL;
	*out = NULL;
	/* Longer encodings are allowed only with leading zero bytes. */
	extra = len > ECP_PRIV_LEN ? len - ECP_PRIV_LEN : 0;
	for (i = 0; i < extra; i++)
		if (d[i] != 0)
			goto out;
	if (len - extra > 0)
		memcpy(s + ECP_PRIV_LEN - (len - extra), d + extra, len - extra);

	r = PED_E_CRYPTO;
	if ((k = key_new()) == NULL) {
		r = PED_E_NOMEM;
		goto out;
	}
	group = EC_GROUP_new_by_curve_name(NID_secp521r1);
	bnctx = BN_CTX_secure_new();
	bn = BN_secure_new();
	if (group == NULL || bnctx == NULL || bn == NULL ||
	    BN_bin2bn(s, sizeof(s), bn) == NULL) {
		log_openssl("ecp: cannot load the private key");
		goto out;
	}
	BN_set_flags(bn, BN_FLG_CONSTTIME);
	if (BN_is_zero(bn) || BN_cmp(bn, EC_GROUP_get0_order(group)) >= 0) {
		r = PED_E_BAD_SCALAR;
		goto out;
	}
	/* fromdata with only the scalar would not compute Q: Q = d·G here. */
	if ((q = EC_POINT_new(group)) == NULL ||
	    EC_POINT_mul(group, q, bn, NULL, NULL, bnctx) != 1 ||
	    EC_POINT_point2oct(group, q, POINT_CONVERSION_UNCOMPRESSED, k->pub,
			       sizeof(k->pub), bnctx) != ECP_PUB_LEN) {
		log_openssl("ecp: cannot compute the public key");
		goto out;
	}
	if ((r = pkey_fromdata(k->pub, bn, &k->pkey)) != 0) {
		if (r == PED_E_BAD_KEY)
			r = PED_E_CRYPTO; /* our own Q = d·G cannot be invalid */
		goto out;
	}
	k->has_priv = 1;
	*out = k;
	k = NULL;
	r = 0;
out:
	OPENSSL_cleanse(s, sizeof(s));
	EC_POINT_free(q);
	BN_clear_free(bn);
	BN_CTX_free(bnctx);
	EC_GROUP_free(group);
	ecp_free(k);
	return r;
}

int ecp_export_public(const ecp_key_t *k, uint8_t out[static ECP_PUB_LEN])
{
	if (k == NULL || out == NULL)
		return PED_E_INVAL;
	memcpy(out, k->pub, ECP_PUB_LEN);
	return 0;
}

int ecp_export_private(const ecp_key_t *k, uint8_t out[static ECP_PRIV_LEN])
{
	int r = PED_E_INVAL;
	BIGNUM *bn = NULL;

	if (out == NULL)
		return PED_E_INVAL;
	memset(out, 0, ECP_PRIV_LEN);
	if (k == NULL || !k->has_priv)
		goto out;
	r = PED_E_CRYPTO;
	if (EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_PRIV_KEY, &bn) != 1 ||
	    BN_bn2binpad(bn, out, ECP_PRIV_LEN) != ECP_PRIV_LEN) {
		log_openssl("ecp: cannot export the private key");
		OPENSSL_cleanse(out, ECP_PRIV_LEN);
		goto out;
	}
	r = 0;
out:
	BN_clear_free(bn);
	return r;
}

int ecp_cdh(const ecp_key_t *own, const ecp_key_t *peer, uint8_t z[static ECP_Z_LEN])
{
	int r = PED_E_CRYPTO;
	EVP_PKEY_CTX *ctx = NULL;
	uint8_t tmp[ECP_Z_LEN];
	size_t n = sizeof(tmp);

	memset(tmp, 0, sizeof(tmp));
	if (z == NULL)
		return PED_E_INVAL;
	memset(z, 0, ECP_Z_LEN);
	if (own == NULL || peer == NULL || !own->has_priv) {
		r = PED_E_INVAL;
		goto out;
	}
	/* validate_peer = 0: peer was fully validated by ecp_import_public()
	 * (or is a key we generated); see the comment there. */
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, own->pkey, NULL);
	if (ctx == NULL || EVP_PKEY_derive_init(ctx) != 1 ||
	    EVP_PKEY_derive_set_peer_ex(ctx, peer->pkey, 0) != 1 ||
	    EVP_PKEY_derive(ctx, tmp, &n) != 1 || n == 0 || n > ECP_Z_LEN) {
		log_openssl("ecp: ECC CDH failed");
		goto out;
	}
	/* Z is the x-coordinate as exactly 66 bytes, left-padded (§5.7.1.2). */
	memcpy(z + ECP_Z_LEN - n, tmp, n);
	r = 0;
out:
	OPENSSL_cleanse(tmp, sizeof(tmp));
	EVP_PKEY_CTX_free(ctx);
	return r;
}
