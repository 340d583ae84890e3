/* vectors.c - runs the public test vectors (tests/README.md, "Vector policy").
 *
 * Usage: vectors VECTORS_DIR. Reads VECTORS_DIR/index.json and runs every
 * case of every file listed there against our crypto/ API: ECDH through
 * ecp_*, the KDF through kdf_onestep_sha512, KWP through kwp_*, Shamir through
 * shamir_split_coeffs / shamir_interpolate. HMAC-SHA-512 and AES-256-CTR have
 * no API of their own (they live inside crypto/chan.c), so those cases call
 * OpenSSL EVP the way chan.c does. SPAKE2 (RFC 9382) runs through spake2_*:
 * spake2/ is read directly while index.json does not list it yet (a file
 * that index.json lists runs once, from the index). Prints one line per file
 * and a totals line;
 * exits 1 on any failure, on an unreadable file, or when the number of cases
 * in a file differs from the index. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/params.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/hex.h"
#include "crypto/ecp.h"
#include "crypto/kdf.h"
#include "crypto/kwp.h"
#include "crypto/shamir.h"
#include "crypto/spake2.h"
#include "common/sys.h"

#define FIELD_MAX 8192                  /* largest hex field: KDF z, 65536 bits */
#define FIXED_INFO_MAX (4 * FIELD_MAX)  /* t || U.id || U.eph || V.id || V.eph || l */
#define MAX_POINTS 32                   /* Shamir points per case */
#define MAX_TALLY 8                     /* distinct skip reasons / notes per file */

/* Counted strings: skip reasons and notes for the per-file line. */
struct tally {
	const char *text[MAX_TALLY];
	unsigned count[MAX_TALLY];
	unsigned n;
};

/* One file's results. */
struct run {
	const char *path;
	unsigned passed, failed, skipped, seen;
	struct tally skips, notes;
};

enum outcome { OUT_NONE, OUT_PASS, OUT_FAIL, OUT_SKIP };

/* One case: every handler records exactly one outcome (the first one wins). */
struct tcase {
	struct run *run;
	json_object *group, *test;
	long id;
	const char *idname; /* "tcId", or "count" in the CAVP file */
	enum outcome out;
	const char *skip_reason;
};

/* Wycheproof's result field. */
enum expect { EXP_VALID, EXP_INVALID, EXP_ACCEPTABLE };

static void tally_add(struct tally *t, const char *text)
{
	unsigned i;

	for (i = 0; i < t->n; i++) {
		if (strcmp(t->text[i], text) == 0) {
			t->count[i]++;
			return;
		}
	}
	if (t->n < MAX_TALLY) {
		t->text[t->n] = text;
		t->count[t->n++] = 1;
	}
}

static void pass(struct tcase *c)
{
	if (c->out == OUT_NONE)
		c->out = OUT_PASS;
}

static void skip(struct tcase *c, const char *reason)
{
	if (c->out == OUT_NONE) {
		c->out = OUT_SKIP;
		c->skip_reason = reason;
	}
}

PED_PRINTF(2, 3)
static void fail(struct tcase *c, const char *fmt, ...)
{
	va_list ap;

	if (c->out != OUT_NONE)
		return;
	c->out = OUT_FAIL;
	printf("  FAIL %s %s %ld: ", c->run->path, c->idname, c->id);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static void note(struct tcase *c, const char *text)
{
	tally_add(&c->run->notes, text);
}

/* ---- JSON and hex helpers ---------------------------------------------- */

static json_object *jget(json_object *o, const char *key)
{
	json_object *v = NULL;

	return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static const char *jstr(json_object *o, const char *key)
{
	json_object *v = jget(o, key);

	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* Integer field; -1 (and a failed case) when absent. */
static int jint(struct tcase *c, json_object *o, const char *key, long *out)
{
	json_object *v = jget(o, key);

	*out = 0;
	if (!v || !json_object_is_type(v, json_type_int)) {
		fail(c, "malformed vector: no integer field '%s'", key);
		return -1;
	}
	*out = (long)json_object_get_int64(v);
	return 0;
}

/* Hex field key of o, decoded into out (cap bytes); fails the case if absent. */
static int jhex(struct tcase *c, json_object *o, const char *key, uint8_t *out, size_t cap,
		size_t *n)
{
	const char *s = jstr(o, key);
	int r;

	*n = 0;
	if (!s) {
		fail(c, "malformed vector: no string field '%s'", key);
		return -1;
	}
	r = hex_decode(s, out, cap);
	if (r < 0) {
		fail(c, "malformed vector: field '%s': %s", key, ped_errname(r));
		return -1;
	}
	*n = (size_t)r;
	return 0;
}

static int streq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/* 1 if the Wycheproof test carries the flag. */
static int has_flag(json_object *test, const char *flag)
{
	json_object *flags = jget(test, "flags");
	size_t i;

	for (i = 0; flags && json_object_is_type(flags, json_type_array) &&
		    i < json_object_array_length(flags); i++)
		if (streq(json_object_get_string(json_object_array_get_idx(flags, i)), flag))
			return 1;
	return 0;
}

static int bytes_equal(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	return alen == blen && memcmp(a, b, alen) == 0;
}

/* 1 if the leftmost nbits of a and b are equal. */
static int bits_equal(const uint8_t *a, const uint8_t *b, size_t nbits)
{
	size_t whole = nbits / 8;
	unsigned rest = nbits % 8;
	uint8_t mask;

	if (memcmp(a, b, whole) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (uint8_t)(0xff << (8 - rest));
	return ((a[whole] ^ b[whole]) & mask) == 0;
}

static int wycheproof_expect(struct tcase *c, enum expect *e)
{
	const char *res = jstr(c->test, "result");

	if (streq(res, "valid"))
		*e = EXP_VALID;
	else if (streq(res, "invalid"))
		*e = EXP_INVALID;
	else if (streq(res, "acceptable"))
		*e = EXP_ACCEPTABLE;
	else {
		fail(c, "malformed vector: result '%s'", res ? res : "(none)");
		return -1;
	}
	return 0;
}

/* Verdict for a Wycheproof case. err: 0 when our code accepted the input,
 * else the error code (why: which step); match: the accepted result equals
 * the expected one. */
static void wycheproof_verdict(struct tcase *c, enum expect e, int err, const char *why,
			       int match)
{
	switch (e) {
	case EXP_VALID:
		if (err)
			fail(c, "valid case rejected by %s: %s", why, ped_errname(err));
		else if (!match)
			fail(c, "valid case: wrong result");
		else
			pass(c);
		break;
	case EXP_INVALID:
		if (err)
			pass(c);
		else
			fail(c, "invalid case accepted");
		break;
	case EXP_ACCEPTABLE:
		if (err) {
			note(c, "acceptable cases rejected");
			pass(c);
		} else if (!match) {
			fail(c, "acceptable case accepted with a wrong result");
		} else {
			note(c, "acceptable cases accepted with the expected result");
			pass(c);
		}
		break;
	}
}

/* ---- ECDH on P-521: ecp_from_private + ecp_import_* + ecp_cdh ------------ */

/* z = CDH(priv, pub). pub is a raw point, or an SPKI if spki. When own_pub is
 * not NULL it receives our public key. Returns 0 or the error; *why names the
 * step that failed. */
static int ecdh(const uint8_t *priv, size_t privlen, const uint8_t *pub, size_t publen,
		int spki, uint8_t z[ECP_Z_LEN], uint8_t *own_pub, const char **why)
{
	ecp_key_t *own = NULL, *peer = NULL;
	int r;

	*why = "ecp_from_private";
	r = ecp_from_private(priv, privlen, &own);
	if (r < 0)
		goto out;
	*why = spki ? "ecp_import_spki" : "ecp_import_public";
	r = spki ? ecp_import_spki(pub, publen, &peer) : ecp_import_public(pub, publen, &peer);
	if (r < 0)
		goto out;
	*why = "ecp_cdh";
	r = ecp_cdh(own, peer, z);
	if (r < 0 || !own_pub)
		goto out;
	*why = "ecp_export_public";
	r = ecp_export_public(own, own_pub);
out:
	ecp_free(peer);
	ecp_free(own);
	return r;
}

static void wycheproof_ecdh(struct tcase *c, int spki)
{
	uint8_t pub[FIELD_MAX], priv[ECP_PRIV_LEN + 8], shared[ECP_Z_LEN + 8], z[ECP_Z_LEN];
	size_t publen, privlen, sharedlen;
	const char *why;
	enum expect e;
	int r;

	if (!streq(jstr(c->group, "curve"), "secp521r1")) {
		skip(c, "curve is not secp521r1");
		return;
	}
	if (wycheproof_expect(c, &e) < 0 ||
	    jhex(c, c->test, "public", pub, sizeof pub, &publen) < 0 ||
	    jhex(c, c->test, "private", priv, sizeof priv, &privlen) < 0 ||
	    jhex(c, c->test, "shared", shared, sizeof shared, &sharedlen) < 0)
		return;
	r = ecdh(priv, privlen, pub, publen, spki, z, NULL, &why);
	if (r < 0 && has_flag(c->test, "UnnamedCurve"))
		note(c, "explicit-parameter (UnnamedCurve) keys rejected");
	wycheproof_verdict(c, e, r, why, r == 0 && bytes_equal(z, sizeof z, shared, sharedlen));
}

static void run_wycheproof_ecdh_ecpoint(struct tcase *c)
{
	wycheproof_ecdh(c, 0);
}

static void run_wycheproof_ecdh_spki(struct tcase *c)
{
	wycheproof_ecdh(c, 1);
}

/* 04 || x || y from two 66-byte hex fields. */
static int point_from_xy(struct tcase *c, const char *kx, const char *ky,
			 uint8_t pt[ECP_PUB_LEN])
{
	size_t nx, ny;

	pt[0] = 0x04;
	if (jhex(c, c->test, kx, pt + 1, ECP_Z_LEN, &nx) < 0 ||
	    jhex(c, c->test, ky, pt + 1 + ECP_Z_LEN, ECP_Z_LEN, &ny) < 0)
		return -1;
	if (nx != ECP_Z_LEN || ny != ECP_Z_LEN) {
		fail(c, "malformed vector: %s/%s are not 66 bytes", kx, ky);
		return -1;
	}
	return 0;
}

/* Computes z and our public key; compares the latter with (kx, ky). */
static int ecdh_with_pub(struct tcase *c, const char *priv_key, const char *peer_x,
			 const char *peer_y, const char *own_x, const char *own_y,
			 uint8_t z[ECP_Z_LEN])
{
	uint8_t peer[ECP_PUB_LEN], own[ECP_PUB_LEN], own_exp[ECP_PUB_LEN], priv[ECP_PRIV_LEN + 8];
	size_t privlen;
	const char *why;
	int r;

	if (point_from_xy(c, peer_x, peer_y, peer) < 0 ||
	    point_from_xy(c, own_x, own_y, own_exp) < 0 ||
	    jhex(c, c->test, priv_key, priv, sizeof priv, &privlen) < 0)
		return -1;
	r = ecdh(priv, privlen, peer, sizeof peer, 0, z, own, &why);
	if (r < 0) {
		fail(c, "%s: %s", why, ped_errname(r));
		return -1;
	}
	if (memcmp(own, own_exp, sizeof own) != 0) {
		fail(c, "our public key d*G differs from the vector's");
		return -1;
	}
	return 0;
}

static void run_cavp_ecdh(struct tcase *c)
{
	uint8_t z[ECP_Z_LEN], zexp[ECP_Z_LEN + 8];
	size_t zlen;

	if (ecdh_with_pub(c, "dIUT", "QCAVSx", "QCAVSy", "QIUTx", "QIUTy", z) < 0 ||
	    jhex(c, c->test, "ZIUT", zexp, sizeof zexp, &zlen) < 0)
		return;
	if (bytes_equal(z, sizeof z, zexp, zlen))
		pass(c);
	else
		fail(c, "Z differs from ZIUT");
}

static void run_acvp_ecc_ssc(struct tcase *c)
{
	uint8_t z[ECP_Z_LEN], zexp[ECP_Z_LEN + 8];
	size_t zlen;
	json_object *exp = jget(c->test, "x_expectedTestPassed");
	int expect_pass;

	if (!streq(jstr(c->group, "domainParameterGenerationMode"), "P-521") ||
	    !streq(jstr(c->group, "scheme"), "ephemeralUnified")) {
		skip(c, "not P-521 ephemeralUnified");
		return;
	}
	if (!exp || !json_object_is_type(exp, json_type_boolean)) {
		fail(c, "malformed vector: no x_expectedTestPassed");
		return;
	}
	expect_pass = json_object_get_boolean(exp);
	if (ecdh_with_pub(c, "ephemeralPrivateIut", "ephemeralPublicServerX",
			  "ephemeralPublicServerY", "ephemeralPublicIutX", "ephemeralPublicIutY",
			  z) < 0 ||
	    jhex(c, c->test, "z", zexp, sizeof zexp, &zlen) < 0)
		return;
	if (bytes_equal(z, sizeof z, zexp, zlen) == expect_pass) {
		if (!expect_pass)
			note(c, "VAL cases with a changed z detected");
		pass(c);
	} else {
		fail(c, expect_pass ? "z differs" : "z matches although the vector's z is wrong");
	}
}

/* ---- One-step KDF: kdf_onestep_sha512 ------------------------------------ */

/* Appends the hex field key of o (absent and optional: nothing) to fi. */
static int put_hex(struct tcase *c, pbuf_t *fi, json_object *o, const char *key, int optional)
{
	uint8_t v[FIELD_MAX];
	size_t n;

	if (optional && !jget(o, key))
		return 0;
	if (jhex(c, o, key, v, sizeof v, &n) < 0)
		return -1;
	if (pbuf_put_bytes(fi, v, n) < 0) {
		fail(c, "FixedInfo longer than %d bytes", FIXED_INFO_MAX);
		return -1;
	}
	return 0;
}

/* FixedInfo, "concatenation" encoding, in the order of fixedInfoPattern:
 * t, uPartyInfo = U.partyId || U.ephemeralData, vPartyInfo likewise, l as
 * u32be bits. 1 = a token we do not know (the case is skipped). */
static int build_fixed_info(struct tcase *c, json_object *kp, const char *pattern, long l,
			    pbuf_t *fi)
{
	json_object *u = jget(c->test, "fixedInfoPartyU"), *v = jget(c->test, "fixedInfoPartyV");
	const char *p = pattern;

	while (*p) {
		size_t len = strcspn(p, "|");
		json_object *party = NULL;

		if (len == 1 && p[0] == 't') {
			if (put_hex(c, fi, kp, "t", 0) < 0)
				return -1;
		} else if (len == 1 && p[0] == 'l') {
			if (pbuf_put_u32(fi, (uint32_t)l) < 0) {
				fail(c, "FixedInfo too long");
				return -1;
			}
		} else if (len == 10 && strncmp(p, "uPartyInfo", len) == 0) {
			party = u;
		} else if (len == 10 && strncmp(p, "vPartyInfo", len) == 0) {
			party = v;
		} else {
			skip(c, "fixedInfoPattern field not supported");
			return 1;
		}
		if (party && (put_hex(c, fi, party, "partyId", 0) < 0 ||
			      put_hex(c, fi, party, "ephemeralData", 1) < 0))
			return -1;
		p += len;
		while (*p == '|')
			p++;
	}
	return 0;
}

static void run_acvp_kda_onestep(struct tcase *c)
{
	uint8_t fibuf[FIXED_INFO_MAX];
	uint8_t z[FIELD_MAX], dkm[KDF_MAX_OUT], exp[KDF_MAX_OUT];
	json_object *kp = jget(c->test, "kdfParameter"), *passed = jget(c->test, "testPassed");
	const char *pattern = jstr(kp, "fixedInfoPattern");
	size_t zlen, explen;
	pbuf_t fi;
	long l;
	int r, expect_pass = 1;

	if (!kp || !pattern) {
		fail(c, "malformed vector: no kdfParameter.fixedInfoPattern");
		return;
	}
	if (!streq(jstr(kp, "auxFunction"), "SHA2-512") ||
	    !streq(jstr(kp, "fixedInputEncoding"), "concatenation")) {
		skip(c, "not SHA2-512 with concatenation encoding");
		return;
	}
	if (jint(c, kp, "l", &l) < 0 || jhex(c, kp, "z", z, sizeof z, &zlen) < 0 ||
	    jhex(c, c->test, "dkm", exp, sizeof exp, &explen) < 0)
		return;
	if (l <= 0 || l % 8 != 0 || l / 8 > KDF_MAX_OUT || (size_t)l / 8 != explen) {
		skip(c, "l not a whole number of bytes up to KDF_MAX_OUT");
		return;
	}
	if (passed) {
		if (!json_object_is_type(passed, json_type_boolean)) {
			fail(c, "malformed vector: testPassed");
			return;
		}
		expect_pass = json_object_get_boolean(passed);
	}
	pbuf_over(&fi, fibuf, sizeof fibuf);
	if (build_fixed_info(c, kp, pattern, l, &fi) != 0)
		return;
	r = kdf_onestep_sha512(z, zlen, fi.data, fi.len, dkm, explen);
	if (r < 0)
		fail(c, "kdf_onestep_sha512: %s", ped_errname(r));
	else if (bytes_equal(dkm, explen, exp, explen) != expect_pass)
		fail(c, expect_pass ? "DKM differs" : "DKM matches a dkm marked testPassed:false");
	else {
		if (!expect_pass)
			note(c, "VAL cases with testPassed:false gave a different DKM");
		pass(c);
	}
}

/* ---- HMAC-SHA-512: OpenSSL EVP_MAC, as crypto/chan.c uses it -------------- */

/* Like chan.c: the context is keyed once (EVP_MAC_init with the key and the
 * digest), then re-initialised with no key for each message. */
static int hmac_sha512(const uint8_t *key, size_t keylen, const uint8_t *msg, size_t msglen,
		       uint8_t tag[64])
{
	char digest[] = "SHA512";
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
		OSSL_PARAM_construct_end(),
	};
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	size_t taglen = 0;
	int r = PED_E_CRYPTO;

	if (ctx && EVP_MAC_init(ctx, key, keylen, params) == 1 &&
	    EVP_MAC_init(ctx, NULL, 0, NULL) == 1 && EVP_MAC_update(ctx, msg, msglen) == 1 &&
	    EVP_MAC_final(ctx, tag, &taglen, 64) == 1 && taglen == 64)
		r = 0;
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return r;
}

/* Compares the leftmost bits of HMAC(key, msg) with the tag in field tagkey:
 * 1 equal, 0 different, -1 the case failed already. */
static int hmac_check(struct tcase *c, const char *msgkey, const char *tagkey, long bits)
{
	uint8_t key[FIELD_MAX], msg[FIELD_MAX], exp[64], tag[64];
	size_t keylen, msglen, explen;
	int r;

	if (jhex(c, c->test, "key", key, sizeof key, &keylen) < 0 ||
	    jhex(c, c->test, msgkey, msg, sizeof msg, &msglen) < 0 ||
	    jhex(c, c->test, tagkey, exp, sizeof exp, &explen) < 0)
		return -1;
	if (bits <= 0 || bits > 512) {
		fail(c, "malformed vector: tag length %ld bits", bits);
		return -1;
	}
	r = hmac_sha512(key, keylen, msg, msglen, tag);
	if (r < 0) {
		fail(c, "EVP_MAC HMAC-SHA-512: %s", ped_errname(r));
		return -1;
	}
	return explen == ((size_t)bits + 7) / 8 && bits_equal(tag, exp, (size_t)bits);
}

static void run_acvp_hmac(struct tcase *c)
{
	long maclen;
	int r;

	if (jint(c, c->test, "macLen", &maclen) < 0)
		return;
	r = hmac_check(c, "msg", "mac", maclen);
	if (r == 1)
		pass(c);
	else if (r == 0)
		fail(c, "MAC differs");
}

static void run_rfc4231_hmac(struct tcase *c)
{
	long maclen;
	int r;

	if (jint(c, c->test, "macLen", &maclen) < 0)
		return;
	r = hmac_check(c, "data", "mac", maclen);
	if (r == 1)
		pass(c);
	else if (r == 0)
		fail(c, "MAC differs");
}

static void run_wycheproof_hmac(struct tcase *c)
{
	enum expect e;
	long tagsize;
	int r;

	if (wycheproof_expect(c, &e) < 0 || jint(c, c->group, "tagSize", &tagsize) < 0)
		return;
	r = hmac_check(c, "msg", "tag", tagsize);
	if (r < 0)
		return;
	/* Verification "accepts" exactly when the tags are equal. */
	wycheproof_verdict(c, e, r ? 0 : PED_E_BAD_TAG, "tag comparison", r);
}

/* ---- AES-256-CTR: OpenSSL EVP_aes_256_ctr, as crypto/chan.c uses it ------- */

/* Like chan.c: "AES-256-CTR" keyed once with no IV, then re-initialised with
 * the counter block alone; enc is 1 to encrypt, 0 to decrypt. */
static int aes256_ctr(int enc, const uint8_t key[32], const uint8_t iv[16], const uint8_t *in,
		      size_t len, uint8_t *out)
{
	EVP_CIPHER *aes = EVP_CIPHER_fetch(NULL, "AES-256-CTR", NULL);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, r = PED_E_CRYPTO;

	if (aes && ctx && len <= FIELD_MAX &&
	    EVP_CipherInit_ex2(ctx, aes, key, NULL, enc, NULL) == 1 &&
	    EVP_CipherInit_ex2(ctx, NULL, NULL, iv, enc, NULL) == 1 &&
	    EVP_CipherUpdate(ctx, out, &n, in, (int)len) == 1 && (size_t)n == len)
		r = 0;
	EVP_CIPHER_CTX_free(ctx);
	EVP_CIPHER_free(aes);
	return r;
}

/* Runs CTR over field inkey and compares the leftmost bits with field outkey
 * (bits 0: the whole input, which must then be whole bytes). */
static void ctr_check(struct tcase *c, int enc, const uint8_t key[32], const uint8_t iv[16],
		      const char *inkey, const char *outkey, size_t bits)
{
	uint8_t in[FIELD_MAX], exp[FIELD_MAX], out[FIELD_MAX];
	size_t inlen, explen, bytes;
	int r;

	if (jhex(c, c->test, inkey, in, sizeof in, &inlen) < 0 ||
	    jhex(c, c->test, outkey, exp, sizeof exp, &explen) < 0)
		return;
	if (bits == 0)
		bits = 8 * inlen;
	bytes = (bits + 7) / 8;
	if (inlen != bytes || explen != bytes) {
		fail(c, "malformed vector: %s/%s are not %zu bytes", inkey, outkey, bytes);
		return;
	}
	r = aes256_ctr(enc, key, iv, in, inlen, out);
	if (r < 0)
		fail(c, "EVP AES-256-CTR: %s", ped_errname(r));
	else if (!bits_equal(out, exp, bits))
		fail(c, "%s differs", outkey);
	else
		pass(c);
}

/* key (32 bytes) and a 16-byte counter block from the named fields. */
static int ctr_key_iv(struct tcase *c, const char *keykey, const char *ivkey, uint8_t key[32],
		      uint8_t iv[16])
{
	uint8_t k[64], v[32];
	size_t klen, vlen;

	if (jhex(c, c->test, keykey, k, sizeof k, &klen) < 0 ||
	    jhex(c, c->test, ivkey, v, sizeof v, &vlen) < 0)
		return -1;
	if (klen != 32) {
		skip(c, "key is not AES-256");
		return -1;
	}
	if (vlen != 16) {
		fail(c, "malformed vector: %s is not 16 bytes", ivkey);
		return -1;
	}
	memcpy(key, k, 32);
	memcpy(iv, v, 16);
	return 0;
}

static void run_acvp_ctr(struct tcase *c)
{
	const char *dir = jstr(c->group, "direction");
	uint8_t key[32], iv[16];
	long bits;

	if (jint(c, c->test, "payloadLen", &bits) < 0 || ctr_key_iv(c, "key", "iv", key, iv) < 0)
		return;
	if (bits <= 0 || bits > 8L * FIELD_MAX) {
		fail(c, "malformed vector: payloadLen %ld", bits);
		return;
	}
	if (bits % 8 != 0)
		note(c, "partial-byte payloads compared on their leftmost payloadLen bits");
	if (streq(dir, "encrypt"))
		ctr_check(c, 1, key, iv, "pt", "ct", (size_t)bits);
	else if (streq(dir, "decrypt"))
		ctr_check(c, 0, key, iv, "ct", "pt", (size_t)bits);
	else
		fail(c, "malformed vector: direction");
}

static void run_sp800_38a_ctr(struct tcase *c)
{
	json_object *blocks = jget(c->test, "outputBlocks");
	uint8_t key[32], iv[16], zeros[256] = { 0 }, ks[256], exp[16];
	const char *dir = jstr(c->test, "direction");
	size_t i, n;

	if (ctr_key_iv(c, "key", "initCounter", key, iv) < 0)
		return;
	/* The keystream is the encryption of zeros: it must equal the Output Blocks. */
	n = blocks && json_object_is_type(blocks, json_type_array) ?
		json_object_array_length(blocks) : 0;
	if (n == 0 || n > sizeof ks / 16 || aes256_ctr(1, key, iv, zeros, 16 * n, ks) < 0) {
		fail(c, "cannot compute the keystream of outputBlocks");
		return;
	}
	for (i = 0; i < n; i++) {
		const char *s = json_object_get_string(json_object_array_get_idx(blocks, i));

		if (!s || hex_decode(s, exp, sizeof exp) != 16 || memcmp(ks + 16 * i, exp, 16)) {
			fail(c, "output block %zu differs", i + 1);
			return;
		}
	}
	if (streq(dir, "encrypt"))
		ctr_check(c, 1, key, iv, "plaintext", "ciphertext", 0);
	else if (streq(dir, "decrypt"))
		ctr_check(c, 0, key, iv, "ciphertext", "plaintext", 0);
	else
		fail(c, "malformed vector: direction");
}

static void run_rfc3686_ctr(struct tcase *c)
{
	uint8_t key[32], iv[16], nonce[8], ivpart[16];
	size_t nlen, ivlen;

	if (ctr_key_iv(c, "key", "counterBlock", key, iv) < 0 ||
	    jhex(c, c->test, "nonce", nonce, sizeof nonce, &nlen) < 0 ||
	    jhex(c, c->test, "iv", ivpart, sizeof ivpart, &ivlen) < 0)
		return;
	/* RFC 3686 §4: counter block = nonce(4) || IV(8) || u32be(1). */
	if (nlen != 4 || ivlen != 8 || memcmp(iv, nonce, 4) || memcmp(iv + 4, ivpart, 8) ||
	    pbuf_rd32(iv + 12) != 1) {
		fail(c, "counterBlock is not nonce || iv || 00000001");
		return;
	}
	ctr_check(c, 1, key, iv, "plaintext", "ciphertext", 0);
}

/* ---- AES-256-KWP: kwp_wrap / kwp_unwrap ---------------------------------- */

#define KWP_BUF (KWP_WRAPPED_LEN(FIELD_MAX))
#define POISON 0xa5

/* Unwraps in; 0 and the plaintext, or the error. Checks that a failed
 * unwrap wrote nothing (kwp.h promises it). */
static int kwp_unwrap_checked(struct tcase *c, const uint8_t key[KWP_KEY_LEN], const uint8_t *in,
			      size_t inlen, uint8_t out[KWP_BUF], size_t *outlen)
{
	size_t i;
	int r;

	memset(out, POISON, KWP_BUF);
	r = kwp_unwrap(key, in, inlen, out, KWP_BUF, outlen);
	if (r < 0) {
		for (i = 0; i < KWP_BUF; i++) {
			if (out[i] != POISON) {
				fail(c, "kwp_unwrap failed (%s) but wrote output", ped_errname(r));
				break;
			}
		}
	}
	return r;
}

static int kwp_key(struct tcase *c, const char *field, uint8_t key[KWP_KEY_LEN])
{
	uint8_t k[64];
	size_t n;

	if (jhex(c, c->test, field, k, sizeof k, &n) < 0)
		return -1;
	if (n != KWP_KEY_LEN) {
		skip(c, n == 24 ? "AES-192 KEK, AES-256-only runner" : "KEK is not AES-256");
		return -1;
	}
	memcpy(key, k, KWP_KEY_LEN);
	return 0;
}

/* Wraps field ptkey and compares with field ctkey; then unwraps ctkey and
 * compares with ptkey. Returns 0 or the error; *match if both agree. */
static int kwp_both_ways(struct tcase *c, const uint8_t key[KWP_KEY_LEN], const char *ptkey,
			 const char *ctkey, const char **why, int *match)
{
	uint8_t pt[FIELD_MAX], ct[KWP_BUF], out[KWP_BUF];
	size_t ptlen, ctlen, outlen;
	int r;

	*match = 0;
	if (jhex(c, c->test, ptkey, pt, sizeof pt, &ptlen) < 0 ||
	    jhex(c, c->test, ctkey, ct, sizeof ct, &ctlen) < 0)
		return PED_E_PARSE;
	*why = "kwp_wrap";
	r = kwp_wrap(key, pt, ptlen, out, sizeof out, &outlen);
	if (r < 0)
		return r;
	*match = bytes_equal(out, outlen, ct, ctlen);
	*why = "kwp_unwrap";
	r = kwp_unwrap_checked(c, key, ct, ctlen, out, &outlen);
	if (r < 0)
		return r;
	*match = *match && bytes_equal(out, outlen, pt, ptlen);
	return 0;
}

static void run_acvp_kwp(struct tcase *c)
{
	uint8_t key[KWP_KEY_LEN], pt[FIELD_MAX], ct[KWP_BUF], out[KWP_BUF];
	const char *dir = jstr(c->group, "direction");
	json_object *passed = jget(c->test, "testPassed");
	size_t ptlen, ctlen, outlen;
	int r;

	if (!streq(jstr(c->group, "kwCipher"), "cipher")) {
		skip(c, "kwCipher is not 'cipher'");
		return;
	}
	if (kwp_key(c, "key", key) < 0)
		return;
	if (streq(dir, "encrypt")) {
		if (jhex(c, c->test, "pt", pt, sizeof pt, &ptlen) < 0 ||
		    jhex(c, c->test, "ct", ct, sizeof ct, &ctlen) < 0)
			return;
		r = kwp_wrap(key, pt, ptlen, out, sizeof out, &outlen);
		if (r < 0)
			fail(c, "kwp_wrap: %s", ped_errname(r));
		else if (!bytes_equal(out, outlen, ct, ctlen))
			fail(c, "wrapped key differs");
		else
			pass(c);
	} else if (streq(dir, "decrypt") && passed) {
		if (!json_object_is_type(passed, json_type_boolean) ||
		    json_object_get_boolean(passed)) {
			fail(c, "malformed vector: testPassed without pt");
			return;
		}
		if (jhex(c, c->test, "ct", ct, sizeof ct, &ctlen) < 0)
			return;
		if (kwp_unwrap_checked(c, key, ct, ctlen, out, &outlen) == 0) {
			fail(c, "kwp_unwrap accepted a ciphertext marked testPassed:false");
		} else {
			note(c, "must-fail unwraps rejected");
			pass(c);
		}
	} else if (streq(dir, "decrypt")) {
		if (jhex(c, c->test, "pt", pt, sizeof pt, &ptlen) < 0 ||
		    jhex(c, c->test, "ct", ct, sizeof ct, &ctlen) < 0)
			return;
		r = kwp_unwrap_checked(c, key, ct, ctlen, out, &outlen);
		if (r < 0)
			fail(c, "kwp_unwrap: %s", ped_errname(r));
		else if (!bytes_equal(out, outlen, pt, ptlen))
			fail(c, "unwrapped key differs");
		else
			pass(c);
	} else {
		fail(c, "malformed vector: direction");
	}
}

static void run_wycheproof_kwp(struct tcase *c)
{
	uint8_t key[KWP_KEY_LEN], ct[KWP_BUF], out[KWP_BUF];
	const char *why = "kwp_unwrap";
	size_t ctlen, outlen;
	enum expect e;
	int r, match = 0;

	if (wycheproof_expect(c, &e) < 0 || kwp_key(c, "key", key) < 0)
		return;
	if (e == EXP_INVALID) {
		/* Only unwrapping applies: the ciphertext was built with bad padding. */
		if (jhex(c, c->test, "ct", ct, sizeof ct, &ctlen) < 0)
			return;
		r = kwp_unwrap_checked(c, key, ct, ctlen, out, &outlen);
	} else {
		r = kwp_both_ways(c, key, "msg", "ct", &why, &match);
	}
	if (e == EXP_VALID && r == 0 && match && has_flag(c->test, "SmallKey"))
		note(c, "SmallKey cases (< 16 bytes) accepted by policy");
	wycheproof_verdict(c, e, r, why, match);
}

static void run_rfc5649_kwp(struct tcase *c)
{
	uint8_t kek[KWP_KEY_LEN];
	const char *why = "";
	int r, match;

	if (kwp_key(c, "kek", kek) < 0)
		return;
	r = kwp_both_ways(c, kek, "key", "wrap", &why, &match);
	if (r < 0)
		fail(c, "%s: %s", why, ped_errname(r));
	else if (!match)
		fail(c, "wrap or unwrap result differs");
	else
		pass(c);
}

/* ---- Shamir over GF(2^8)/0x11b: shamir_split_coeffs / shamir_interpolate - */

/* Digest named by the Botan vector's "hash" field; NULL md for "None". */
static int tss_hash(struct tcase *c, const EVP_MD **md, size_t *len)
{
	const char *h = jstr(c->test, "hash");

	*md = NULL;
	*len = 0;
	if (streq(h, "None"))
		return 0;
	if (streq(h, "SHA-1"))
		*md = EVP_sha1();
	else if (streq(h, "SHA-256"))
		*md = EVP_sha256();
	if (!*md) {
		skip(c, "hash not supported");
		return -1;
	}
	*len = (size_t)EVP_MD_get_size(*md);
	return 0;
}

/* out = in || H(in); the caller has room for len + 64 bytes. */
static int with_hash(const EVP_MD *md, const uint8_t *in, size_t len, uint8_t *out,
		     size_t *outlen)
{
	unsigned int hlen = 0;

	memmove(out, in, len);
	*outlen = len;
	if (!md)
		return 0;
	if (EVP_Digest(in, len, out + len, &hlen, md, NULL) != 1)
		return PED_E_CRYPTO;
	*outlen += hlen;
	return 0;
}

/* decoded.points into shares; returns the count or -1. */
static int load_points(struct tcase *c, shamir_share_t *pts, unsigned max)
{
	json_object *arr = jget(jget(c->test, "decoded"), "points");
	size_t i, n = arr && json_object_is_type(arr, json_type_array) ?
			      json_object_array_length(arr) : 0;

	if (n == 0 || n > max) {
		fail(c, "malformed vector: decoded.points (%zu points)", n);
		return -1;
	}
	for (i = 0; i < n; i++) {
		json_object *p = json_object_array_get_idx(arr, i);
		size_t ylen;
		long x;

		memset(&pts[i], 0, sizeof pts[i]);
		if (jint(c, p, "x", &x) < 0 || jhex(c, p, "y", pts[i].y, sizeof pts[i].y, &ylen) < 0)
			return -1;
		if (x < 1 || x > 255 || ylen == 0 || (i > 0 && ylen != pts[0].len)) {
			fail(c, "malformed vector: point %zu", i + 1);
			return -1;
		}
		pts[i].x = (uint8_t)x;
		pts[i].len = (uint16_t)ylen;
	}
	return (int)n;
}

/* RTSS recombination: interpolate at 0, split secret || H(secret), check the
 * hash. 0 and the secret in out, or an error. */
static int tss_recover(const shamir_share_t *pts, unsigned k, const EVP_MD *md, size_t hlen,
		       uint8_t *out, size_t *outlen)
{
	uint8_t f0[SHAMIR_MAX_SECRET], check[SHAMIR_MAX_SECRET + 64];
	size_t len = pts[0].len, n;
	int r;

	r = shamir_interpolate(pts, k, f0, sizeof f0);
	if (r < 0)
		return r;
	if (len < hlen)
		return PED_E_SHARE_BAD;
	r = with_hash(md, f0, len - hlen, check, &n);
	if (r < 0)
		return r;
	if (memcmp(check, f0, len) != 0)
		return PED_E_SHARE_BAD;
	memcpy(out, f0, len - hlen);
	*outlen = len - hlen;
	return 0;
}

static unsigned bit_count(unsigned v)
{
	unsigned n = 0;

	for (; v; v &= v - 1)
		n++;
	return n;
}

/* Valid: every M-subset and the whole set recover "recovered". Invalid: the
 * whole set must be rejected (subsets without the bad share may succeed). */
static void shamir_recovery(struct tcase *c, const EVP_MD *md, size_t hlen)
{
	shamir_share_t pts[MAX_POINTS], sub[MAX_POINTS];
	uint8_t exp[SHAMIR_MAX_SECRET], got[SHAMIR_MAX_SECRET];
	size_t explen, gotlen;
	unsigned mask, i, k;
	enum expect e;
	long m;
	int n, r;

	if (wycheproof_expect(c, &e) < 0 || jint(c, c->test, "M", &m) < 0 ||
	    jhex(c, c->test, "recovered", exp, sizeof exp, &explen) < 0 ||
	    (n = load_points(c, pts, 16)) < 0)
		return;
	if (m < 1 || m > n) {
		fail(c, "malformed vector: M = %ld with %d points", m, n);
		return;
	}
	r = tss_recover(pts, (unsigned)n, md, hlen, got, &gotlen);
	if (e != EXP_VALID) {
		wycheproof_verdict(c, e, r, "hash check", r == 0 && bytes_equal(got, gotlen, exp, explen));
		return;
	}
	if (r < 0 || !bytes_equal(got, gotlen, exp, explen)) {
		fail(c, "all %d points: %s", n, r < 0 ? ped_errname(r) : "wrong secret");
		return;
	}
	for (mask = 1; mask < 1u << n; mask++) {
		if (bit_count(mask) != (unsigned)m)
			continue;
		for (i = 0, k = 0; i < (unsigned)n; i++)
			if (mask & 1u << i)
				sub[k++] = pts[i];
		r = tss_recover(sub, k, md, hlen, got, &gotlen);
		if (r < 0 || !bytes_equal(got, gotlen, exp, explen)) {
			fail(c, "subset 0x%x of %ld points: %s", mask, m,
			     r < 0 ? ped_errname(r) : "wrong secret");
			return;
		}
	}
	pass(c);
}

/* Deterministic split with the vector's rng as coefficients: every share
 * must match. Shares beyond SHAMIR_MAX_N are checked by interpolating them
 * with M-1 of ours, which must give the shared value back. */
static void shamir_generation(struct tcase *c, const EVP_MD *md)
{
	shamir_share_t exp[MAX_POINTS], ours[SHAMIR_MAX_N], sub[SHAMIR_MAX_N];
	uint8_t input[SHAMIR_MAX_SECRET], sv[SHAMIR_MAX_SECRET + 64], svexp[SHAMIR_MAX_SECRET];
	uint8_t rng[SHAMIR_MAX_SECRET * SHAMIR_MAX_N], f0[SHAMIR_MAX_SECRET];
	json_object *dec = jget(c->test, "decoded");
	size_t inlen, svlen, svexplen, rnglen;
	long m, nn;
	int n, i, r;
	unsigned gen;

	if (jint(c, c->test, "M", &m) < 0 || jint(c, c->test, "N", &nn) < 0 ||
	    jhex(c, c->test, "input", input, sizeof input, &inlen) < 0 ||
	    jhex(c, c->test, "rng", rng, sizeof rng, &rnglen) < 0 ||
	    jhex(c, dec, "sharedValue", svexp, sizeof svexp, &svexplen) < 0 ||
	    (n = load_points(c, exp, MAX_POINTS)) < 0)
		return;
	if (with_hash(md, input, inlen, sv, &svlen) < 0 || !bytes_equal(sv, svlen, svexp, svexplen)) {
		fail(c, "input || H(input) differs from decoded.sharedValue");
		return;
	}
	if (m < 2 || m > SHAMIR_MAX_N || nn != n || n < m || rnglen != svlen * (size_t)(m - 1)) {
		fail(c, "malformed vector: M %ld, N %ld, %d points, %zu rng bytes", m, nn, n, rnglen);
		return;
	}
	gen = n < SHAMIR_MAX_N ? (unsigned)n : SHAMIR_MAX_N;
	r = shamir_split_coeffs(sv, svlen, (unsigned)m, gen, rng, ours);
	if (r < 0) {
		fail(c, "shamir_split_coeffs: %s", ped_errname(r));
		return;
	}
	for (i = 0; i < (int)gen; i++) {
		if (ours[i].x != exp[i].x || !bytes_equal(ours[i].y, ours[i].len, exp[i].y, exp[i].len)) {
			fail(c, "share x=%u differs", exp[i].x);
			return;
		}
	}
	for (i = (int)gen; i < n; i++) {
		memcpy(sub, ours, (size_t)(m - 1) * sizeof sub[0]);
		sub[m - 1] = exp[i];
		r = shamir_interpolate(sub, (unsigned)m, f0, sizeof f0);
		if (r < 0 || !bytes_equal(f0, svlen, sv, svlen)) {
			fail(c, "share x=%u does not lie on our polynomials", exp[i].x);
			return;
		}
		note(c, "shares beyond SHAMIR_MAX_N checked by interpolation");
	}
	pass(c);
}

static void run_botan_shamir(struct tcase *c)
{
	const char *type = jstr(c->group, "type");
	const EVP_MD *md;
	size_t hlen;

	if (tss_hash(c, &md, &hlen) < 0)
		return;
	if (streq(type, "recovery"))
		shamir_recovery(c, md, hlen);
	else if (streq(type, "generation"))
		shamir_generation(c, md);
	else
		fail(c, "malformed vector: group type");
}


/* ---- SPAKE2 (RFC 9382), spake2/ ------------------------------------------ */

/* One published P-256 case: both roles from the vector's w, x and y; every
 * intermediate value compared, from both sides where both compute it. */
static void run_spake2(struct tcase *c)
{
	static const char *const names[] = {"pA", "pB", "K", "TT", "Hash(TT)", "Ke", "Ka",
					    "KcA", "KcB", "A conf", "B conf"};
	uint8_t w[64], x[64], y[64], ida[SPAKE2_ID_MAX], idb[SPAKE2_ID_MAX], aad[SPAKE2_AAD_MAX];
	uint8_t want[11][1024], got[SPAKE2_PT_MAX], hash[64];
	size_t wl, xl, yl, al, bl, dl = 0, wantl[11], gl, kl, tl;
	struct spake2_keys ka, kb;
	spake2_t *a = NULL, *b = NULL;
	const uint8_t *kp, *tp;
	const char *aadhex = jstr(c->test, "AAD");
	unsigned i;

	memset(&ka, 0, sizeof(ka));
	memset(&kb, 0, sizeof(kb));
	if (jhex(c, c->test, "w", w, sizeof(w), &wl) || jhex(c, c->test, "x", x, sizeof(x), &xl) ||
	    jhex(c, c->test, "y", y, sizeof(y), &yl) ||
	    jhex(c, c->test, "A_hex", ida, sizeof(ida), &al) ||
	    jhex(c, c->test, "B_hex", idb, sizeof(idb), &bl))
		goto out;
	if (aadhex != NULL && aadhex[0] != '\0' && jhex(c, c->test, "AAD", aad, sizeof(aad), &dl))
		goto out;
	for (i = 0; i < 11; i++)
		if (jhex(c, c->test, names[i], want[i], sizeof(want[i]), &wantl[i]))
			goto out;
	if (spake2_new(SPAKE2_P256_SHA256, SPAKE2_A, w, wl, x, xl, &a) != 0 ||
	    spake2_new(SPAKE2_P256_SHA256, SPAKE2_B, w, wl, y, yl, &b) != 0) {
		fail(c, "spake2_new failed");
		goto out;
	}
	if (spake2_msg(a, got, sizeof(got), &gl) || !bytes_equal(got, gl, want[0], wantl[0])) {
		fail(c, "pA differs");
		goto out;
	}
	if (spake2_msg(b, got, sizeof(got), &gl) || !bytes_equal(got, gl, want[1], wantl[1])) {
		fail(c, "pB differs");
		goto out;
	}
	if (spake2_finish(a, ida, al, idb, bl, want[1], wantl[1], aad, dl, &ka) ||
	    spake2_finish(b, ida, al, idb, bl, want[0], wantl[0], aad, dl, &kb)) {
		fail(c, "spake2_finish failed");
		goto out;
	}
	for (i = 0; i < 2; i++) {
		spake2_debug_k_tt(i == 0 ? a : b, &kp, &kl, &tp, &tl);
		if (!bytes_equal(kp, kl, want[2], wantl[2]) || !bytes_equal(tp, tl, want[3], wantl[3])) {
			fail(c, "%s: K or TT differs", i == 0 ? "A" : "B");
			goto out;
		}
	}
	for (i = 0; i < 2; i++) {
		const struct spake2_keys *k = i == 0 ? &ka : &kb;

		memcpy(hash, k->ke, k->half_len);
		memcpy(hash + k->half_len, k->ka, k->half_len);
		if (!bytes_equal(hash, k->hash_len, want[4], wantl[4]) ||
		    !bytes_equal(k->ke, k->half_len, want[5], wantl[5]) ||
		    !bytes_equal(k->ka, k->half_len, want[6], wantl[6]) ||
		    !bytes_equal(k->kc_a, k->half_len, want[7], wantl[7]) ||
		    !bytes_equal(k->kc_b, k->half_len, want[8], wantl[8]) ||
		    !bytes_equal(k->conf_a, k->hash_len, want[9], wantl[9]) ||
		    !bytes_equal(k->conf_b, k->hash_len, want[10], wantl[10])) {
			fail(c, "%s: a key or a confirmation MAC differs", i == 0 ? "A" : "B");
			goto out;
		}
	}
	if (spake2_check_conf(a, &ka, want[10], wantl[10]) || spake2_check_conf(b, &kb, want[9], wantl[9]) ||
	    spake2_check_conf(a, &ka, want[9], wantl[9]) == 0) {
		fail(c, "confirmation check");
		goto out;
	}
	pass(c);
out:
	spake2_keys_wipe(&ka);
	spake2_keys_wipe(&kb);
	spake2_free(a);
	spake2_free(b);
}

/* RFC 9382 Appendix A: block i = SHA-256 applied i times to the seed; blocks
 * from `start` on, concatenated and cut to the compressed length, first byte
 * 0x02 | (byte & 1). */
static int spake2_candidate(const char *seed, unsigned start, size_t len, uint8_t *out)
{
	uint8_t blk[32];
	unsigned int n;
	size_t have = 0;

	if (EVP_Digest(seed, strlen(seed), blk, &n, EVP_sha256(), NULL) != 1)
		return -1;
	for (unsigned i = 1; have < len; i++) {
		if (i >= start) {
			size_t take = len - have < 32 ? len - have : 32;
			memcpy(out + have, blk, take);
			have += take;
		}
		if (EVP_Digest(blk, 32, blk, &n, EVP_sha256(), NULL) != 1)
			return -1;
	}
	out[0] = (uint8_t)(0x02 | (out[0] & 1));
	return 0;
}

/* One curve of constants.json: M and N are points of the curve and are what
 * the seed strings give. */
static void run_spake2_constants(struct tcase *c)
{
	static const struct { const char *name; int nid; } curves[] = {
		{"P-256", NID_X9_62_prime256v1}, {"P-384", NID_secp384r1}, {"P-521", NID_secp521r1}};
	const char *name = jstr(c->group, "name");
	EC_GROUP *g = NULL;
	EC_POINT *p = NULL;
	uint8_t pt[SPAKE2_PT_MAX], cand[SPAKE2_PT_MAX];
	size_t len, i;
	int nid = 0;

	for (i = 0; name != NULL && i < 3; i++)
		if (strcmp(curves[i].name, name) == 0)
			nid = curves[i].nid;
	if (nid == 0 || (g = EC_GROUP_new_by_curve_name(nid)) == NULL ||
	    (p = EC_POINT_new(g)) == NULL) {
		fail(c, "unknown curve");
		goto out;
	}
	for (i = 0; i < 2; i++) {
		char key[8], seedkey[16];
		const char *seed;
		unsigned start;

		snprintf(key, sizeof(key), "%s", i == 0 ? "M" : "N");
		snprintf(seedkey, sizeof(seedkey), "%s_seed", key);
		if (jhex(c, c->test, key, pt, sizeof(pt), &len))
			goto out;
		if ((seed = jstr(c->test, seedkey)) == NULL) {
			fail(c, "no %s", seedkey);
			goto out;
		}
		if (EC_POINT_oct2point(g, p, pt, len, NULL) != 1 ||
		    EC_POINT_is_on_curve(g, p, NULL) != 1) {
			fail(c, "%s is not a point of %s", key, name);
			goto out;
		}
		/* hash and retry until the candidate is a point: it must be this one */
		for (start = 1; start < 1024; start++) {
			if (spake2_candidate(seed, start, len, cand) != 0) {
				fail(c, "SHA-256");
				goto out;
			}
			if (EC_POINT_oct2point(g, p, cand, len, NULL) == 1)
				break;
		}
		if (start == 1024 || memcmp(cand, pt, len) != 0) {
			fail(c, "%s is not the point its seed gives", key);
			goto out;
		}
	}
	pass(c);
out:
	EC_POINT_free(p);
	EC_GROUP_free(g);
}

/* ---- the table and the driver -------------------------------------------- */

static const struct handler {
	const char *path;
	void (*run)(struct tcase *c);
	const char *how; /* printed when not through our API */
} handlers[] = {
	{ "aes256-ctr/acvp_aes_ctr_aes256.json", run_acvp_ctr, "OpenSSL EVP AES-256-CTR, as chan.c calls it" },
	{ "aes256-ctr/rfc3686_ctr_aes256.json", run_rfc3686_ctr, "OpenSSL EVP AES-256-CTR, as chan.c calls it" },
	{ "aes256-ctr/sp800_38a_f55_f56_ctr_aes256.json", run_sp800_38a_ctr,
	  "OpenSSL EVP AES-256-CTR, as chan.c calls it" },
	{ "aes256-kwp/acvp_aes_kwp_aes256.json", run_acvp_kwp, NULL },
	{ "aes256-kwp/rfc5649_kwp_examples_aes192.json", run_rfc5649_kwp, NULL },
	{ "aes256-kwp/wycheproof_aes_kwp_test.json", run_wycheproof_kwp, NULL },
	{ "ecdh-p521/acvp_kas_ecc_ssc_p521_ephemeralUnified_val.json", run_acvp_ecc_ssc, NULL },
	{ "ecdh-p521/cavp_ecccdh_primitive_p521.json", run_cavp_ecdh, NULL },
	{ "ecdh-p521/wycheproof_ecdh_secp521r1_ecpoint_test.json", run_wycheproof_ecdh_ecpoint,
	  NULL },
	{ "ecdh-p521/wycheproof_ecdh_secp521r1_test.json", run_wycheproof_ecdh_spki, NULL },
	{ "hmac-sha512/acvp_hmac_sha2_512.json", run_acvp_hmac, "OpenSSL EVP_MAC HMAC-SHA-512, as chan.c calls it" },
	{ "hmac-sha512/rfc4231_hmac_sha512.json", run_rfc4231_hmac, "OpenSSL EVP_MAC HMAC-SHA-512, as chan.c calls it" },
	{ "hmac-sha512/wycheproof_hmac_sha512_test.json", run_wycheproof_hmac,
	  "OpenSSL EVP_MAC HMAC-SHA-512, as chan.c calls it" },
	{ "kdf-onestep-sha512/acvp_kda_onestep_sp800_56cr1_sha2_512.json", run_acvp_kda_onestep,
	  NULL },
	{ "kdf-onestep-sha512/acvp_kda_onestep_sp800_56cr2_sha2_512.json", run_acvp_kda_onestep,
	  NULL },
	{ "shamir-gf256/botan_rtss_gf256_0x11b.json", run_botan_shamir, NULL },
	{ "spake2/spake2_vectors.json", run_spake2, NULL },
	{ "spake2/constants.json", run_spake2_constants, "OpenSSL EC point decoding" },
};

/* Files read even when index.json does not list them, with their case counts
 * (spake2/README.md: four P-256 cases; M and N of three curves). */
static const struct { const char *path; long count; } unlisted[] = {
	{ "spake2/spake2_vectors.json", 4 },
	{ "spake2/constants.json", 3 },
};

static const struct handler *find_handler(const char *path)
{
	size_t i;

	for (i = 0; i < sizeof handlers / sizeof handlers[0]; i++)
		if (strcmp(handlers[i].path, path) == 0)
			return &handlers[i];
	return NULL;
}

static void run_case(struct run *r, const struct handler *h, json_object *group,
		     json_object *test)
{
	struct tcase c = { .run = r, .group = group, .test = test, .idname = "tcId" };
	json_object *id = jget(test, "tcId");

	if (!id) {
		id = jget(test, "count");
		c.idname = "count";
	}
	c.id = id ? (long)json_object_get_int64(id) : -1;
	r->seen++;
	h->run(&c);
	switch (c.out) {
	case OUT_PASS:
		r->passed++;
		break;
	case OUT_SKIP:
		r->skipped++;
		tally_add(&r->skips, c.skip_reason);
		break;
	case OUT_NONE:
		fail(&c, "runner bug: no verdict");
		/* fall through */
	case OUT_FAIL:
		r->failed++;
		break;
	}
}

/* spake2/: "test_cases" is one list of cases; "curves" an object whose
 * members are cases (the group carries the member's name). */
static void spake2_layout(struct run *r, const struct handler *h, json_object *root)
{
	json_object *cases = jget(root, "test_cases"), *curves = jget(root, "curves");
	size_t t;

	for (t = 0; cases && t < json_object_array_length(cases); t++) {
		json_object *grp = json_object_new_object();

		run_case(r, h, grp, json_object_array_get_idx(cases, t));
		json_object_put(grp);
	}
	if (curves && json_object_is_type(curves, json_type_object)) {
		json_object_object_foreach(curves, name, val) {
			json_object *grp = json_object_new_object();

			json_object_object_add(grp, "name", json_object_new_string(name));
			run_case(r, h, grp, val);
			json_object_put(grp);
		}
	}
}

/* Runs every case of one file; -1 if the file itself is unusable. */
static int run_file(struct run *r, const char *dir, long expected)
{
	const struct handler *h = find_handler(r->path);
	json_object *root, *groups;
	char full[4096];
	size_t g, t;
	long own_count = -1;
	int ret = -1;

	if (!h) {
		printf("%s: ERROR: no handler for this file\n", r->path);
		return -1;
	}
	if ((size_t)snprintf(full, sizeof full, "%s/%s", dir, r->path) >= sizeof full) {
		printf("%s: ERROR: path too long\n", r->path);
		return -1;
	}
	root = json_object_from_file(full);
	groups = jget(root, "testGroups");
	if (root && !groups && (jget(root, "test_cases") || jget(root, "curves"))) {
		spake2_layout(r, h, root);
		ret = 0;
		own_count = (long)r->seen;
		goto report;
	}
	if (!root || !groups || !json_object_is_type(groups, json_type_array)) {
		const char *why = root ? "no testGroups" : json_util_get_last_err();

		printf("%s: ERROR: missing or unparseable: %.*s\n", r->path,
		       (int)strcspn(why ? why : "", "\n"), why ? why : "");
		goto out;
	}
	for (g = 0; g < json_object_array_length(groups); g++) {
		json_object *grp = json_object_array_get_idx(groups, g);
		json_object *tests = jget(grp, "tests");

		for (t = 0; tests && t < json_object_array_length(tests); t++)
			run_case(r, h, grp, json_object_array_get_idx(tests, t));
	}
	if (jget(root, "numberOfTests"))
		own_count = (long)json_object_get_int64(jget(root, "numberOfTests"));
	ret = 0;
report:
	printf("%s: %u passed, %u failed, %u skipped", r->path, r->passed, r->failed, r->skipped);
	for (t = 0; t < r->skips.n; t++)
		printf(" (%u skipped: %s)", r->skips.count[t], r->skips.text[t]);
	if (h->how || r->notes.n) {
		printf(" [");
		if (h->how)
			printf("%s%s", h->how, r->notes.n ? "; " : "");
		for (t = 0; t < r->notes.n; t++)
			printf("%s%s: %u", t ? "; " : "", r->notes.text[t], r->notes.count[t]);
		printf("]");
	}
	putchar('\n');
	if ((long)r->seen != expected || own_count != expected) {
		printf("%s: ERROR: %u cases seen, file says %ld, index.json says %ld\n", r->path,
		       r->seen, own_count, expected);
		ret = -1;
	}
out:
	json_object_put(root);
	return ret;
}

int main(int argc, char **argv)
{
	json_object *index, *files;
	unsigned passed = 0, failed = 0, skipped = 0;
	char path[4096];
	size_t i;
	int bad = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s VECTORS_DIR\n", argv[0]);
		return 2;
	}
	if ((size_t)snprintf(path, sizeof path, "%s/index.json", argv[1]) >= sizeof path) {
		fprintf(stderr, "vectors: path too long\n");
		return 1;
	}
	index = json_object_from_file(path);
	files = jget(index, "files");
	if (!files || !json_object_is_type(files, json_type_array)) {
		printf("%s: ERROR: missing or unparseable index\n", path);
		bad = 1;
	}
	for (i = 0; files && i < json_object_array_length(files); i++) {
		json_object *f = json_object_array_get_idx(files, i);
		json_object *count = jget(f, "numberOfTests");
		struct run r = { .path = jstr(f, "path") };

		if (!r.path || !count) {
			printf("%s: ERROR: index entry %zu has no path or numberOfTests\n", path, i);
			bad = 1;
			continue;
		}
		if (run_file(&r, argv[1], (long)json_object_get_int64(count)) < 0)
			bad = 1;
		passed += r.passed;
		failed += r.failed;
		skipped += r.skipped;
	}
	for (i = 0; i < sizeof unlisted / sizeof unlisted[0]; i++) {
		struct run r = { .path = unlisted[i].path };
		int listed = 0;

		for (size_t k = 0; files && k < json_object_array_length(files); k++)
			if (streq(jstr(json_object_array_get_idx(files, k), "path"), r.path))
				listed = 1;
		if (listed)
			continue;
		if (run_file(&r, argv[1], unlisted[i].count) < 0)
			bad = 1;
		passed += r.passed;
		failed += r.failed;
		skipped += r.skipped;
	}
	json_object_put(index);
	printf("vectors: %u passed, %u failed, %u skipped\n", passed, failed, skipped);
	return bad || failed ? 1 : 0;
}
