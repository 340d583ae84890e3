/* spake2.c - SPAKE2 (RFC 9382) on OpenSSL's EC_GROUP / EC_POINT arithmetic
 * (see spake2.h). Secret scalars are multiplied with BN_FLG_CONSTTIME, so
 * OpenSSL takes its constant-time ladder for both x*P and w*M. */
#include "spake2.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/obj_mac.h>
#include <openssl/params.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/hex.h"

/* TT: six length-prefixed fields (§3.3). */
#define TT_MAX (6 * 8 + 2 * SPAKE2_ID_MAX + 3 * SPAKE2_PT_MAX + SPAKE2_SCALAR_MAX)
#define CONF_INFO "ConfirmationKeys"

/* M and N of RFC 9382 §6, compressed SEC1 (shared/vectors/spake2/constants.json). */
static const struct suite_def {
	enum spake2_suite id;
	int nid;
	const char *md;
	const char *m_hex, *n_hex;
} suites[] = {
	{SPAKE2_P256_SHA256, NID_X9_62_prime256v1, "SHA256",
	 "02886e2f97ace46e55ba9dd7242579f2993b64e16ef3dcab95afd497333d8fa12f",
	 "03d8bbd6c639c62937b04d997f38c3770719c629d7014d49a24b4f98baa1292b49"},
	{SPAKE2_P384_SHA256, NID_secp384r1, "SHA256",
	 "030ff0895ae5ebf6187080a82d82b42e2765e3b2f8749c7e05eba366434b363d3dc36f1531473907"
	 "4d2eb8613fceec2853",
	 "02c72cf2e390853a1c1c4ad816a62fd15824f56078918f43f922ca21518f9c543bb252c5490214cf"
	 "9aa3f0baab4b665c10"},
	{SPAKE2_P521_SHA512, NID_secp521r1, "SHA512",
	 "02003f06f38131b2ba2600791e82488e8d20ab889af753a41806c5db18d37d85608cfae06b82e4a7"
	 "2cd744c719193562a653ea1f119eef9356907edc9b56979962d7aa",
	 "0200c7924b9ec017f3094562894336a53c50167ba8c5963876880542bc669e494b2532d76c5b53df"
	 "b349fdf69154b9e0048c58a42e8ed04cef052a3bc349d95575cd25"},
};

struct spake2 {
	const struct suite_def *def;
	enum spake2_role role;
	EC_GROUP *group;
	BN_CTX *bn;
	BIGNUM *w, *x;               /* secret: wiped at finish and free */
	EC_POINT *own_m, *peer_n;    /* M and N, ordered for this role */
	size_t pt_len, sc_len, hash_len;
	uint8_t msg[SPAKE2_PT_MAX];  /* this side's pA / pB */
	int finished;
	uint8_t k[SPAKE2_PT_MAX];
	uint8_t tt[TT_MAX];
	size_t tt_len;
};

static const struct suite_def *find_suite(enum spake2_suite id)
{
	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		if (suites[i].id == id)
			return &suites[i];
	return NULL;
}

int spake2_lengths(enum spake2_suite suite, size_t *pt_len, size_t *scalar_len)
{
	const struct suite_def *d = find_suite(suite);
	EC_GROUP *g;
	int bytes;

	if (d == NULL || (g = EC_GROUP_new_by_curve_name(d->nid)) == NULL)
		return PED_E_INVAL;
	bytes = (EC_GROUP_get_degree(g) + 7) / 8;
	if (pt_len != NULL)
		*pt_len = 1 + 2 * (size_t)bytes;
	if (scalar_len != NULL)
		*scalar_len = (size_t)(EC_GROUP_order_bits(g) + 7) / 8;
	EC_GROUP_free(g);
	return 0;
}

static EC_POINT *point_from_hex(const EC_GROUP *g, const char *hex, BN_CTX *bn)
{
	uint8_t raw[SPAKE2_PT_MAX];
	int n = hex_decode(hex, raw, sizeof(raw));
	EC_POINT *p = EC_POINT_new(g);

	if (p == NULL || n <= 0 || EC_POINT_oct2point(g, p, raw, (size_t)n, bn) != 1) {
		EC_POINT_free(p);
		return NULL;
	}
	return p;
}

void spake2_free(spake2_t *s)
{
	if (s == NULL)
		return;
	BN_clear_free(s->w);
	BN_clear_free(s->x);
	EC_POINT_free(s->own_m);
	EC_POINT_free(s->peer_n);
	EC_GROUP_free(s->group);
	BN_CTX_free(s->bn);
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
}

void spake2_keys_wipe(struct spake2_keys *k)
{
	if (k != NULL)
		OPENSSL_cleanse(k, sizeof(*k));
}

/* out = a*P + b*Q with secret a and b (each multiplication constant time). */
static int mul2(const spake2_t *s, EC_POINT *out, const BIGNUM *a, const BIGNUM *b,
		const EC_POINT *q)
{
	EC_POINT *t = EC_POINT_new(s->group);
	int ok = t != NULL && EC_POINT_mul(s->group, out, a, NULL, NULL, s->bn) == 1 &&
		 EC_POINT_mul(s->group, t, NULL, q, b, s->bn) == 1 &&
		 EC_POINT_add(s->group, out, out, t, s->bn) == 1;

	EC_POINT_free(t);
	return ok ? 0 : PED_E_CRYPTO;
}

static int encode_point(const spake2_t *s, const EC_POINT *p, uint8_t *out)
{
	return EC_POINT_point2oct(s->group, p, POINT_CONVERSION_UNCOMPRESSED, out, s->pt_len,
				  s->bn) == s->pt_len
		       ? 0
		       : PED_E_CRYPTO;
}

int spake2_new(enum spake2_suite suite, enum spake2_role role, const uint8_t *w,
	       size_t w_len, const uint8_t *scalar, size_t scalar_len, spake2_t **out)
{
	const struct suite_def *d = find_suite(suite);
	spake2_t *s = NULL;
	EC_POINT *m = NULL, *n = NULL, *msg = NULL;
	const BIGNUM *order;
	int r = PED_E_INVAL;

	if (out != NULL)
		*out = NULL;
	if (d == NULL || out == NULL || w == NULL || (role != SPAKE2_A && role != SPAKE2_B) ||
	    (scalar == NULL && scalar_len != 0))
		return PED_E_INVAL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return PED_E_NOMEM;
	s->def = d;
	s->role = role;
	r = PED_E_CRYPTO;
	if ((s->group = EC_GROUP_new_by_curve_name(d->nid)) == NULL ||
	    (s->bn = BN_CTX_secure_new()) == NULL || (s->w = BN_secure_new()) == NULL ||
	    (s->x = BN_secure_new()) == NULL)
		goto out;
	if ((r = spake2_lengths(suite, &s->pt_len, &s->sc_len)) != 0)
		goto out;
	r = PED_E_INVAL;
	if (w_len == 0 || w_len > 2 * s->sc_len || scalar_len > s->sc_len)
		goto out;
	s->hash_len = (size_t)EVP_MD_get_size(EVP_get_digestbyname(d->md));
	order = EC_GROUP_get0_order(s->group);
	BN_set_flags(s->w, BN_FLG_CONSTTIME);
	BN_set_flags(s->x, BN_FLG_CONSTTIME);
	r = PED_E_CRYPTO;
	if (BN_bin2bn(w, (int)w_len, s->w) == NULL || BN_nnmod(s->w, s->w, order, s->bn) != 1)
		goto out;
	if (scalar != NULL) {
		if (BN_bin2bn(scalar, (int)scalar_len, s->x) == NULL)
			goto out;
	} else if (BN_priv_rand_range_ex(s->x, order, 0, s->bn) != 1) {
		goto out;
	}
	r = PED_E_BAD_SCALAR;
	if (BN_is_zero(s->w) || BN_is_zero(s->x) || BN_cmp(s->x, order) >= 0)
		goto out;
	r = PED_E_CRYPTO;
	if ((m = point_from_hex(s->group, d->m_hex, s->bn)) == NULL ||
	    (n = point_from_hex(s->group, d->n_hex, s->bn)) == NULL ||
	    (msg = EC_POINT_new(s->group)) == NULL)
		goto out;
	s->own_m = role == SPAKE2_A ? m : n;
	s->peer_n = role == SPAKE2_A ? n : m;
	m = n = NULL;
	if ((r = mul2(s, msg, s->x, s->w, s->own_m)) != 0 ||
	    (r = encode_point(s, msg, s->msg)) != 0)
		goto out;
	*out = s;
	s = NULL;
	r = 0;
out:
	EC_POINT_free(m);
	EC_POINT_free(n);
	EC_POINT_clear_free(msg);
	spake2_free(s);
	return r;
}

int spake2_msg(const spake2_t *s, uint8_t *out, size_t cap, size_t *len)
{
	if (s == NULL || out == NULL || len == NULL)
		return PED_E_INVAL;
	if (cap < s->pt_len)
		return PED_E_NOSPACE;
	memcpy(out, s->msg, s->pt_len);
	*len = s->pt_len;
	return 0;
}

static int tt_put(spake2_t *s, const uint8_t *p, size_t n)
{
	if (n > sizeof(s->tt) - 8 - s->tt_len)
		return PED_E_TOO_LONG;
	for (int i = 0; i < 8; i++)
		s->tt[s->tt_len + (size_t)i] = (uint8_t)((uint64_t)n >> (8 * i));
	if (n > 0)
		memcpy(s->tt + s->tt_len + 8, p, n);
	s->tt_len += 8 + n;
	return 0;
}

/* KcA || KcB = HKDF(salt = nil, IKM = Ka, info = "ConfirmationKeys" || AAD). */
static int conf_keys(const spake2_t *s, const uint8_t *aad, size_t aad_len,
		     struct spake2_keys *k)
{
	uint8_t info[sizeof(CONF_INFO) - 1 + SPAKE2_AAD_MAX], both[SPAKE2_HASH_MAX];
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM ps[4];
	int r = PED_E_CRYPTO;

	memcpy(info, CONF_INFO, sizeof(CONF_INFO) - 1);
	if (aad_len > 0)
		memcpy(info + sizeof(CONF_INFO) - 1, aad, aad_len);
	ps[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)s->def->md, 0);
	ps[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)k->ka, k->half_len);
	ps[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info,
						  sizeof(CONF_INFO) - 1 + aad_len);
	ps[3] = OSSL_PARAM_construct_end();
	if (ctx != NULL && EVP_KDF_derive(ctx, both, s->hash_len, ps) == 1) {
		memcpy(k->kc_a, both, k->half_len);
		memcpy(k->kc_b, both + k->half_len, k->half_len);
		r = 0;
	}
	OPENSSL_cleanse(both, sizeof(both));
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return r;
}

static int mac(const spake2_t *s, const uint8_t *key, size_t key_len, uint8_t *out)
{
	size_t n = 0;

	return EVP_Q_mac(NULL, "HMAC", NULL, s->def->md, NULL, key, key_len, s->tt, s->tt_len,
			 out, SPAKE2_HASH_MAX, &n) != NULL && n == s->hash_len
		       ? 0
		       : PED_E_CRYPTO;
}

/* Validated peer point: uncompressed, on the curve, not the identity, not ours. */
static int peer_point(const spake2_t *s, const uint8_t *peer, size_t len, EC_POINT *p)
{
	if (len != s->pt_len || peer[0] != 0x04 || CRYPTO_memcmp(peer, s->msg, len) == 0)
		return PED_E_BAD_KEY;
	if (EC_POINT_oct2point(s->group, p, peer, len, s->bn) != 1 ||
	    EC_POINT_is_at_infinity(s->group, p) || EC_POINT_is_on_curve(s->group, p, s->bn) != 1)
		return PED_E_BAD_KEY;
	return 0;
}

int spake2_finish(spake2_t *s, const uint8_t *id_a, size_t id_a_len, const uint8_t *id_b,
		  size_t id_b_len, const uint8_t *peer, size_t peer_len, const uint8_t *aad,
		  size_t aad_len, struct spake2_keys *out)
{
	uint8_t wbuf[SPAKE2_SCALAR_MAX], h[SPAKE2_HASH_MAX];
	EC_POINT *p = NULL, *k = NULL, *t = NULL;
	const uint8_t *pa, *pb;
	unsigned int hl = 0;
	int r = PED_E_INVAL;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (s == NULL || out == NULL || peer == NULL || s->finished ||
	    (id_a == NULL && id_a_len > 0) || (id_b == NULL && id_b_len > 0) ||
	    (aad == NULL && aad_len > 0) || id_a_len > SPAKE2_ID_MAX || id_b_len > SPAKE2_ID_MAX ||
	    aad_len > SPAKE2_AAD_MAX)
		return PED_E_INVAL;
	s->finished = 1;
	r = PED_E_CRYPTO;
	if ((p = EC_POINT_new(s->group)) == NULL || (k = EC_POINT_new(s->group)) == NULL ||
	    (t = EC_POINT_new(s->group)) == NULL)
		goto out;
	if ((r = peer_point(s, peer, peer_len, p)) != 0)
		goto out;
	/* K = x * (peer - w * N'), N' the other side's constant */
	r = PED_E_CRYPTO;
	if (EC_POINT_mul(s->group, t, NULL, s->peer_n, s->w, s->bn) != 1 ||
	    EC_POINT_invert(s->group, t, s->bn) != 1 || EC_POINT_add(s->group, t, p, t, s->bn) != 1 ||
	    EC_POINT_mul(s->group, k, NULL, t, s->x, s->bn) != 1)
		goto out;
	if (EC_POINT_is_at_infinity(s->group, k)) {
		r = PED_E_BAD_KEY;
		goto out;
	}
	if ((r = encode_point(s, k, s->k)) != 0)
		goto out;
	r = PED_E_CRYPTO;
	if (BN_bn2binpad(s->w, wbuf, (int)s->sc_len) != (int)s->sc_len)
		goto out;
	pa = s->role == SPAKE2_A ? s->msg : peer;
	pb = s->role == SPAKE2_A ? peer : s->msg;
	s->tt_len = 0;
	if ((r = tt_put(s, id_a, id_a_len)) != 0 || (r = tt_put(s, id_b, id_b_len)) != 0 ||
	    (r = tt_put(s, pa, s->pt_len)) != 0 || (r = tt_put(s, pb, s->pt_len)) != 0 ||
	    (r = tt_put(s, s->k, s->pt_len)) != 0 || (r = tt_put(s, wbuf, s->sc_len)) != 0)
		goto out;
	r = PED_E_CRYPTO;
	if (EVP_Digest(s->tt, s->tt_len, h, &hl, EVP_get_digestbyname(s->def->md), NULL) != 1 ||
	    hl != s->hash_len)
		goto out;
	out->hash_len = s->hash_len;
	out->half_len = s->hash_len / 2;
	memcpy(out->ke, h, out->half_len);
	memcpy(out->ka, h + out->half_len, out->half_len);
	if ((r = conf_keys(s, aad, aad_len, out)) != 0 ||
	    (r = mac(s, out->kc_a, out->half_len, out->conf_a)) != 0 ||
	    (r = mac(s, out->kc_b, out->half_len, out->conf_b)) != 0)
		goto out;
	r = 0;
out:
	OPENSSL_cleanse(wbuf, sizeof(wbuf));
	OPENSSL_cleanse(h, sizeof(h));
	EC_POINT_free(p);
	EC_POINT_clear_free(k);
	EC_POINT_clear_free(t);
	BN_clear(s->w);
	BN_clear(s->x);
	if (r != 0)
		spake2_keys_wipe(out);
	return r;
}

int spake2_check_conf(const spake2_t *s, const struct spake2_keys *k, const uint8_t *conf,
		      size_t len)
{
	const uint8_t *want;

	if (s == NULL || k == NULL || conf == NULL || k->hash_len == 0)
		return PED_E_INVAL;
	want = s->role == SPAKE2_A ? k->conf_b : k->conf_a;
	if (len != k->hash_len || CRYPTO_memcmp(want, conf, len) != 0)
		return PED_E_KC_FAILED;
	return 0;
}

int spake2_debug_k_tt(const spake2_t *s, const uint8_t **k, size_t *k_len,
		      const uint8_t **tt, size_t *tt_len)
{
	if (s == NULL || !s->finished || s->tt_len == 0)
		return PED_E_INVAL;
	*k = s->k;
	*k_len = s->pt_len;
	*tt = s->tt;
	*tt_len = s->tt_len;
	return 0;
}
