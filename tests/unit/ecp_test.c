/* ecp_test.c - unit tests for crypto/ecp: P-521 keys, strict import, CDH. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/err.h"
#include "common/hex.h"
#include "crypto/ecp.h"

/* NIST CAVP KAS_ECC_CDH_PrimitiveTest.txt [P-521] COUNT = 0
 * (shared/vectors/ecdh-p521/cavp_ecccdh_primitive_p521.json). */
static const char cavp_qcavs_x[] =
	"00685a48e86c79f0f0875f7bc18d25eb5fc8c0b07e5da4f4370f3a9490340854334b1e1b87fa3954"
	"64c60626124a4e70d0f785601d37c09870ebf176666877a2046d";
static const char cavp_qcavs_y[] =
	"01ba52c56fc8776d9e8f5db4f0cc27636d0b741bbe05400697942e80b739884a83bde99e0f671693"
	"9e632bc8986fa18dccd443a348b6c3e522497955a4f3c302f676";
static const char cavp_d_iut[] =
	"017eecc07ab4b329068fba65e56a1f8890aa935e57134ae0ffcce802735151f4eac6564f6ee9974c"
	"5e6887a1fefee5743ae2241bfeb95d5ce31ddcb6f9edb4d6fc47";
static const char cavp_qiut_x[] =
	"00602f9d0cf9e526b29e22381c203c48a886c2b0673033366314f1ffbcba240ba42f4ef38a761746"
	"35f91e6b4ed34275eb01c8467d05ca80315bf1a7bbd945f550a5";
static const char cavp_qiut_y[] =
	"01b7c85f26f5d4b2d7355cf6b02117659943762b6d1db5ab4f1dbc44ce7b2946eb6c7de342962893"
	"fd387d1b73d7a8672d1f236961170b7eb3579953ee5cdc88cd2d";
static const char cavp_z_iut[] =
	"005fc70477c3e63bc3954bd0df3ea0d1f41ee21746ed95fc5e1fdf90930d5e136672d72cc770742d"
	"1711c3c3a4c334a0ad9759436a4d3c5bf6e74b9578fac148c831";

/* P-521 domain constants (SEC 2 / FIPS 186-4). */
static const char p521_n[] =
	"01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f"
	"966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409";
static const char p521_p[] =
	"01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
	"ffffffffffffffffffffffffffffffffffffffffffffffffffff";
static const char p521_g[] =
	"0400c6858e06b70404e9cd9e3ecb662395b4429c648139053fb521f828af606b4d3dbaa14b5e77ef"
	"e75928fe1dc127a2ffa8de3348b3c1856a429bf97e7e31c2e5bd66011839296a789a3bc0045c8a5f"
	"b42c7d1bd998f54449579b446817afbd17273e662c97ee72995ef42640c550b9013fad0761353c70"
	"86a272c24088be94769fd16650";

static void hx(const char *s, uint8_t *out, size_t n)
{
	assert_int_equal(hex_decode(s, out, n), (int)n);
}

/* The CAVP peer point QCAVS as 04 || X || Y. */
static void cavp_peer(uint8_t pt[ECP_PUB_LEN])
{
	pt[0] = 0x04;
	hx(cavp_qcavs_x, pt + 1, 66);
	hx(cavp_qcavs_y, pt + 67, 66);
}

static void expect_reject(const uint8_t *pt, size_t len)
{
	ecp_key_t *k = (ecp_key_t *)1;
	int r = ecp_import_public(pt, len, &k);
	assert_true(r < 0);
	assert_null(k);
}

static void test_generate_roundtrip(void **state)
{
	ecp_key_t *a = NULL, *b = NULL, *c = NULL;
	uint8_t pub[ECP_PUB_LEN], pub2[ECP_PUB_LEN], priv[ECP_PRIV_LEN], priv2[ECP_PRIV_LEN];

	(void)state;
	assert_int_equal(ecp_generate(&a), 0);
	assert_int_equal(ecp_export_public(a, pub), 0);
	assert_int_equal(pub[0], 0x04);
	assert_int_equal(ecp_export_private(a, priv), 0);

	assert_int_equal(ecp_from_private(priv, sizeof(priv), &b), 0);
	assert_int_equal(ecp_export_public(b, pub2), 0);
	assert_memory_equal(pub, pub2, ECP_PUB_LEN);
	assert_int_equal(ecp_export_private(b, priv2), 0);
	assert_memory_equal(priv, priv2, ECP_PRIV_LEN);

	assert_int_equal(ecp_import_public(pub, sizeof(pub), &c), 0);
	memset(pub2, 0, sizeof(pub2));
	assert_int_equal(ecp_export_public(c, pub2), 0);
	assert_memory_equal(pub, pub2, ECP_PUB_LEN);
	/* A public-only key has no scalar to export. */
	assert_int_equal(ecp_export_private(c, priv2), PED_E_INVAL);

	ecp_free(a);
	ecp_free(b);
	ecp_free(c);
	ecp_free(NULL);
}

static void test_import_rejects_encodings(void **state)
{
	uint8_t pt[ECP_PUB_LEN + 1], bad[ECP_PUB_LEN + 1];
	ecp_key_t *k = NULL;

	(void)state;
	cavp_peer(pt);
	pt[ECP_PUB_LEN] = 0;
	assert_int_equal(ecp_import_public(pt, ECP_PUB_LEN, &k), 0);
	ecp_free(k);

	/* Compressed: 02/03 || X, both as 67 bytes and with Y still attached. */
	for (uint8_t pre = 0x02; pre <= 0x03; pre++) {
		memcpy(bad, pt, sizeof(bad));
		bad[0] = pre;
		expect_reject(bad, 67);
		expect_reject(bad, ECP_PUB_LEN);
	}
	/* Hybrid: 06/07 || X || Y (one of them with the right parity of Y). */
	for (uint8_t pre = 0x06; pre <= 0x07; pre++) {
		memcpy(bad, pt, sizeof(bad));
		bad[0] = pre;
		expect_reject(bad, ECP_PUB_LEN);
	}
	/* Wrong lengths. */
	expect_reject(pt, 0);
	expect_reject(pt, 1);
	expect_reject(pt, 132);
	expect_reject(pt, 134);
	expect_reject(NULL, 0);
	assert_int_equal(ecp_import_public(NULL, ECP_PUB_LEN, &k), PED_E_INVAL);
	assert_int_equal(ecp_import_public(pt, ECP_PUB_LEN, NULL), PED_E_INVAL);
}

/* Writes v (< 2^528) into a 66-byte coordinate. */
static void put_coord(const BIGNUM *v, uint8_t *c)
{
	assert_int_equal(BN_bn2binpad(v, c, 66), 66);
}

static void test_import_rejects_out_of_range(void **state)
{
	uint8_t pt[ECP_PUB_LEN], bad[ECP_PUB_LEN];
	BIGNUM *p = NULL, *v = NULL;

	(void)state;
	cavp_peer(pt);
	assert_non_null(BN_hex2bn(&p, p521_p));
	v = BN_new();
	assert_non_null(v);

	/* x = p, y = p. */
	memcpy(bad, pt, sizeof(bad));
	put_coord(p, bad + 1);
	expect_reject(bad, ECP_PUB_LEN);
	memcpy(bad, pt, sizeof(bad));
	put_coord(p, bad + 67);
	expect_reject(bad, ECP_PUB_LEN);

	/* x + p and y + p: the same point if coordinates were reduced mod p. */
	memcpy(bad, pt, sizeof(bad));
	assert_non_null(BN_bin2bn(pt + 1, 66, v));
	assert_int_equal(BN_add(v, v, p), 1);
	put_coord(v, bad + 1);
	expect_reject(bad, ECP_PUB_LEN);
	memcpy(bad, pt, sizeof(bad));
	assert_non_null(BN_bin2bn(pt + 67, 66, v));
	assert_int_equal(BN_add(v, v, p), 1);
	put_coord(v, bad + 67);
	expect_reject(bad, ECP_PUB_LEN);

	/* All-ones coordinates (2^528 - 1). */
	memset(bad + 1, 0xff, 132);
	expect_reject(bad, ECP_PUB_LEN);

	BN_free(p);
	BN_free(v);
}

static void test_import_rejects_off_curve_and_identity(void **state)
{
	uint8_t pt[ECP_PUB_LEN], bad[ECP_PUB_LEN];
	static const uint8_t one_zero[1] = {0x00};

	(void)state;
	cavp_peer(pt);
	/* Off the curve: one bit of Y, one bit of X. */
	memcpy(bad, pt, sizeof(bad));
	bad[ECP_PUB_LEN - 1] ^= 0x01;
	expect_reject(bad, ECP_PUB_LEN);
	memcpy(bad, pt, sizeof(bad));
	bad[10] ^= 0x40;
	expect_reject(bad, ECP_PUB_LEN);
	/* Sanity of the above: (x, p - y) is on the curve and is accepted. */
	{
		BIGNUM *p = NULL, *y = BN_new();
		ecp_key_t *k = NULL;
		assert_non_null(y);
		assert_non_null(BN_hex2bn(&p, p521_p));
		assert_non_null(BN_bin2bn(pt + 67, 66, y));
		assert_int_equal(BN_sub(y, p, y), 1);
		memcpy(bad, pt, sizeof(bad));
		put_coord(y, bad + 67);
		assert_int_equal(ecp_import_public(bad, ECP_PUB_LEN, &k), 0);
		ecp_free(k);
		BN_free(p);
		BN_free(y);
	}

	/* Identity: its SEC1 encoding is the single byte 00; also the all-zero
	 * forms, which are not points. */
	expect_reject(one_zero, 1);
	memset(bad, 0, sizeof(bad));
	expect_reject(bad, ECP_PUB_LEN);
	bad[0] = 0x04;
	expect_reject(bad, ECP_PUB_LEN);
	/* (0, y) and (x, 0) with the other coordinate from a real point. */
	memcpy(bad, pt, sizeof(bad));
	memset(bad + 1, 0, 66);
	expect_reject(bad, ECP_PUB_LEN);
	memcpy(bad, pt, sizeof(bad));
	memset(bad + 67, 0, 66);
	expect_reject(bad, ECP_PUB_LEN);
}

static void expect_bad_scalar(const uint8_t *d, size_t len)
{
	ecp_key_t *k = (ecp_key_t *)1;
	assert_int_equal(ecp_from_private(d, len, &k), PED_E_BAD_SCALAR);
	assert_null(k);
}

static void test_from_private_range(void **state)
{
	uint8_t d[68], pub[ECP_PUB_LEN], g[ECP_PUB_LEN], pub2[ECP_PUB_LEN];
	ecp_key_t *k = NULL;
	BIGNUM *n = NULL;

	(void)state;
	hx(p521_g, g, sizeof(g));
	assert_non_null(BN_hex2bn(&n, p521_n));

	/* 0 in every length, and the empty string. */
	memset(d, 0, sizeof(d));
	expect_bad_scalar(d, 66);
	expect_bad_scalar(d, 1);
	expect_bad_scalar(d, 67);
	expect_bad_scalar(d, 0);

	/* n, n + 1, 2^528 - 1. */
	put_coord(n, d);
	expect_bad_scalar(d, 66);
	assert_int_equal(BN_add_word(n, 1), 1);
	put_coord(n, d);
	expect_bad_scalar(d, 66);
	memset(d, 0xff, 66);
	expect_bad_scalar(d, 66);

	/* n - 1 is the largest valid scalar: Q = -G. */
	assert_int_equal(BN_sub_word(n, 2), 1);
	put_coord(n, d);
	assert_int_equal(ecp_from_private(d, 66, &k), 0);
	assert_int_equal(ecp_export_public(k, pub), 0);
	assert_memory_equal(pub, g, 67); /* same x as G */
	assert_memory_not_equal(pub + 67, g + 67, 66);
	ecp_free(k);

	/* d = 1: Q = G, as 1 byte, 66 bytes, and 67/68 bytes with leading zeros. */
	static const size_t lens[] = {1, 66, 67, 68};
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		memset(d, 0, sizeof(d));
		d[lens[i] - 1] = 1;
		k = NULL;
		assert_int_equal(ecp_from_private(d, lens[i], &k), 0);
		assert_int_equal(ecp_export_public(k, pub2), 0);
		assert_memory_equal(pub2, g, ECP_PUB_LEN);
		ecp_free(k);
	}
	/* A 67-byte encoding with a non-zero leading byte is out of range. */
	memset(d, 0, sizeof(d));
	d[0] = 1;
	d[66] = 1;
	expect_bad_scalar(d, 67);

	assert_int_equal(ecp_from_private(NULL, 66, &k), PED_E_INVAL);
	assert_int_equal(ecp_from_private(d, 66, NULL), PED_E_INVAL);
	BN_free(n);
}

static void test_cdh_symmetric(void **state)
{
	ecp_key_t *a = NULL, *b = NULL, *pa = NULL, *pb = NULL;
	uint8_t pub[ECP_PUB_LEN], z1[ECP_Z_LEN], z2[ECP_Z_LEN], z3[ECP_Z_LEN];

	(void)state;
	assert_int_equal(ecp_generate(&a), 0);
	assert_int_equal(ecp_generate(&b), 0);
	assert_int_equal(ecp_export_public(a, pub), 0);
	assert_int_equal(ecp_import_public(pub, sizeof(pub), &pa), 0);
	assert_int_equal(ecp_export_public(b, pub), 0);
	assert_int_equal(ecp_import_public(pub, sizeof(pub), &pb), 0);

	assert_int_equal(ecp_cdh(a, pb, z1), 0);
	assert_int_equal(ecp_cdh(b, pa, z2), 0);
	assert_memory_equal(z1, z2, ECP_Z_LEN);
	/* The key pair itself works as a peer too. */
	assert_int_equal(ecp_cdh(a, b, z3), 0);
	assert_memory_equal(z1, z3, ECP_Z_LEN);

	/* A public-only key cannot compute CDH. */
	assert_int_equal(ecp_cdh(pa, pb, z3), PED_E_INVAL);
	assert_int_equal(ecp_cdh(NULL, pb, z3), PED_E_INVAL);
	assert_int_equal(ecp_cdh(a, NULL, z3), PED_E_INVAL);

	ecp_free(a);
	ecp_free(b);
	ecp_free(pa);
	ecp_free(pb);
}

static void test_cavp_cdh(void **state)
{
	uint8_t d[66], qiut[ECP_PUB_LEN], qcavs[ECP_PUB_LEN], zexp[66], z[ECP_Z_LEN];
	uint8_t pub[ECP_PUB_LEN];
	ecp_key_t *own = NULL, *peer = NULL;

	(void)state;
	hx(cavp_d_iut, d, sizeof(d));
	qiut[0] = 0x04;
	hx(cavp_qiut_x, qiut + 1, 66);
	hx(cavp_qiut_y, qiut + 67, 66);
	hx(cavp_z_iut, zexp, sizeof(zexp));
	cavp_peer(qcavs);

	assert_int_equal(ecp_from_private(d, sizeof(d), &own), 0);
	assert_int_equal(ecp_export_public(own, pub), 0);
	assert_memory_equal(pub, qiut, ECP_PUB_LEN);
	assert_int_equal(ecp_import_public(qcavs, sizeof(qcavs), &peer), 0);
	assert_int_equal(ecp_cdh(own, peer, z), 0);
	/* ZIUT starts with a zero byte: the left padding is checked too. */
	assert_int_equal(z[0], 0);
	assert_memory_equal(z, zexp, ECP_Z_LEN);
	ecp_free(own);
	ecp_free(peer);
}

/* DER SubjectPublicKeyInfo of pkey as OpenSSL writes it. */
static size_t spki_of(EVP_PKEY *pkey, uint8_t *out, size_t cap)
{
	uint8_t *der = NULL;
	int n = i2d_PUBKEY(pkey, &der);
	assert_true(n > 0 && (size_t)n <= cap);
	memcpy(out, der, (size_t)n);
	OPENSSL_free(der);
	return (size_t)n;
}

static void expect_spki_reject(const uint8_t *der, size_t len)
{
	ecp_key_t *k = (ecp_key_t *)1;
	assert_true(ecp_import_spki(der, len, &k) < 0);
	assert_null(k);
}

static void test_spki(void **state)
{
	EVP_PKEY *pkey;
	uint8_t der[1024], bad[1024], raw[ECP_PUB_LEN], pub[ECP_PUB_LEN];
	size_t n, rawlen = 0, bn;
	ecp_key_t *k = NULL;

	(void)state;
	pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
	assert_non_null(pkey);
	assert_int_equal(EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, raw,
							 sizeof(raw), &rawlen),
			 1);
	assert_int_equal(rawlen, ECP_PUB_LEN);

	/* OpenSSL's named-curve uncompressed SPKI is the canonical 158 bytes. */
	n = spki_of(pkey, der, sizeof(der));
	assert_int_equal(n, 158);
	assert_int_equal(ecp_import_spki(der, n, &k), 0);
	assert_int_equal(ecp_export_public(k, pub), 0);
	assert_memory_equal(pub, raw, ECP_PUB_LEN);
	ecp_free(k);

	/* Trailing byte, every truncation. */
	memcpy(bad, der, n);
	bad[n] = 0;
	assert_int_equal(ecp_import_spki(bad, n + 1, &k), PED_E_TRAILING);
	assert_null(k);
	for (size_t i = 0; i < n; i++)
		expect_spki_reject(der, i);
	/* Every single-bit change of the DER header. */
	for (size_t i = 0; i < 25 * 8; i++) {
		memcpy(bad, der, n);
		bad[i / 8] ^= (uint8_t)(1u << (i % 8));
		expect_spki_reject(bad, n);
	}
	/* A point off the curve inside a well-formed SPKI. */
	memcpy(bad, der, n);
	bad[n - 1] ^= 1;
	assert_int_equal(ecp_import_spki(bad, n, &k), PED_E_BAD_KEY);
	/* Non-canonical outer length: 30 82 00 9b. */
	bad[0] = 0x30, bad[1] = 0x82, bad[2] = 0x00, bad[3] = 0x9b;
	memcpy(bad + 4, der + 3, n - 3);
	expect_spki_reject(bad, n + 1);

	/* Compressed point. */
	assert_int_equal(EVP_PKEY_set_utf8_string_param(
				 pkey, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "compressed"),
			 1);
	bn = spki_of(pkey, bad, sizeof(bad));
	assert_int_equal(bn, 90); /* short-form lengths, 67-byte point */
	expect_spki_reject(bad, bn);
	/* Explicit curve parameters (uncompressed point). */
	assert_int_equal(EVP_PKEY_set_utf8_string_param(
				 pkey, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "uncompressed"),
			 1);
	assert_int_equal(EVP_PKEY_set_utf8_string_param(pkey, OSSL_PKEY_PARAM_EC_ENCODING,
							"explicit"),
			 1);
	bn = spki_of(pkey, bad, sizeof(bad));
	assert_true(bn > 158);
	expect_spki_reject(bad, bn);

	assert_int_equal(ecp_import_spki(NULL, 10, &k), PED_E_INVAL);
	assert_int_equal(ecp_import_spki(der, n, NULL), PED_E_INVAL);
	expect_spki_reject(NULL, 0);
	EVP_PKEY_free(pkey);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_generate_roundtrip),
		cmocka_unit_test(test_import_rejects_encodings),
		cmocka_unit_test(test_import_rejects_out_of_range),
		cmocka_unit_test(test_import_rejects_off_curve_and_identity),
		cmocka_unit_test(test_from_private_range),
		cmocka_unit_test(test_cdh_symmetric),
		cmocka_unit_test(test_cavp_cdh),
		cmocka_unit_test(test_spki),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
