/* kas_test.c - unit tests for crypto/kdf (one-step KDF) and crypto/kas (the
 * Full Unified and One-Pass key agreement with key confirmation). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/hex.h"
#include "crypto/ecp.h"
#include "crypto/kas.h"
#include "crypto/kdf.h"

static void hx(const char *s, uint8_t *out, size_t n)
{
	assert_int_equal(hex_decode(s, out, n), (int)n);
}

/* ---- one-step KDF ------------------------------------------------------ */

/* ACVP KDA-OneStep-Sp800-56Cr2, SHA2-512, AFT tcId 146
 * (shared/vectors/kdf-onestep-sha512/acvp_kda_onestep_sp800_56cr2_sha2_512.json).
 * FixedInfo = t || U.partyId || U.ephemeralData || V.partyId || u32be(l). */
static void test_kdf_acvp(void **state)
{
	uint8_t z[28], t[16], uid[16], ueph[28], vid[16], dkm[128], out[128];
	uint8_t fi[16 + 16 + 28 + 16 + 4];
	pbuf_t b;

	(void)state;
	hx("42FADA67EFE128BF38084D2C527C58602627932DE0CF6E9C31BFCC41", z, sizeof(z));
	hx("9DFC08FACB29226A7F5D61ABD3A2EC5C", t, sizeof(t));
	hx("17A6C21DEE61B538388C7C7915BEDC89", uid, sizeof(uid));
	hx("EB761A43CCE4AD11D450568C73C1C9D0EB19DDC3FFAD9FD6A6111F36", ueph, sizeof(ueph));
	hx("9EB516113CB29BE9BB31B5C981FD1B1A", vid, sizeof(vid));
	hx("4D174ABE90E6B6FFEF4B4873F9562EE5E4511EAE9C884559DA1F4BAC2284B8AA"
	   "07CD674D22BC9E6C541C5D5CCE558DA8E181C960357F1C1F91791FA762C2E21A"
	   "860F85585BFD44AA939B38E62832646C9512987B19503AF49FA6BD6545D0C521"
	   "1381793A8210CC7BC01220CEC87FA10A70CAF9D9452B7DCCFC9AF0C5E3CA0D3B",
	   dkm, sizeof(dkm));
	pbuf_over(&b, fi, sizeof(fi));
	assert_int_equal(pbuf_put_bytes(&b, t, sizeof(t)), 0);
	assert_int_equal(pbuf_put_bytes(&b, uid, sizeof(uid)), 0);
	assert_int_equal(pbuf_put_bytes(&b, ueph, sizeof(ueph)), 0);
	assert_int_equal(pbuf_put_bytes(&b, vid, sizeof(vid)), 0);
	assert_int_equal(pbuf_put_u32(&b, 1024), 0);
	assert_int_equal(b.len, sizeof(fi));

	assert_int_equal(kdf_onestep_sha512(z, sizeof(z), fi, sizeof(fi), out, sizeof(out)), 0);
	assert_memory_equal(out, dkm, sizeof(dkm));
	/* A shorter output is a prefix (the same counter blocks). */
	memset(out, 0, sizeof(out));
	assert_int_equal(kdf_onestep_sha512(z, sizeof(z), fi, sizeof(fi), out, 70), 0);
	assert_memory_equal(out, dkm, 70);
	assert_int_equal(out[70], 0);
}

static void test_kdf_params(void **state)
{
	static uint8_t out[KDF_MAX_OUT + 1];
	uint8_t z[4] = {1, 2, 3, 4};

	(void)state;
	assert_int_equal(kdf_onestep_sha512(z, sizeof(z), NULL, 0, out, KDF_MAX_OUT), 0);
	assert_int_equal(kdf_onestep_sha512(z, sizeof(z), NULL, 0, out, KDF_MAX_OUT + 1),
			 PED_E_TOO_LONG);
	assert_int_equal(kdf_onestep_sha512(z, sizeof(z), NULL, 0, out, 0), PED_E_INVAL);
	assert_int_equal(kdf_onestep_sha512(z, sizeof(z), NULL, 0, NULL, 16), PED_E_INVAL);
	assert_int_equal(kdf_onestep_sha512(NULL, 4, NULL, 0, out, 16), PED_E_INVAL);
	assert_int_equal(kdf_onestep_sha512(z, 0, NULL, 0, out, 16), PED_E_INVAL);
	assert_int_equal(kdf_onestep_sha512(z, sizeof(z), NULL, 3, out, 16), PED_E_INVAL);
}

/* ---- key agreement ----------------------------------------------------- */

/* Both parties' key pairs, and the public halves as each peer imports them. */
struct parties {
	ecp_key_t *su, *eu, *sv, *ev;         /* key pairs */
	ecp_key_t *su_pub, *eu_pub, *sv_pub, *ev_pub; /* imported public keys */
	ecp_key_t *other, *other_pub;         /* an unrelated key */
};

static ecp_key_t *pub_of(const ecp_key_t *k)
{
	uint8_t pub[ECP_PUB_LEN];
	ecp_key_t *p = NULL;
	assert_int_equal(ecp_export_public(k, pub), 0);
	assert_int_equal(ecp_import_public(pub, sizeof(pub), &p), 0);
	return p;
}

static int setup(void **state)
{
	struct parties *pt = calloc(1, sizeof(*pt));
	if (pt == NULL || ecp_generate(&pt->su) != 0 || ecp_generate(&pt->eu) != 0 ||
	    ecp_generate(&pt->sv) != 0 || ecp_generate(&pt->ev) != 0 ||
	    ecp_generate(&pt->other) != 0)
		return -1;
	pt->su_pub = pub_of(pt->su);
	pt->eu_pub = pub_of(pt->eu);
	pt->sv_pub = pub_of(pt->sv);
	pt->ev_pub = pub_of(pt->ev);
	pt->other_pub = pub_of(pt->other);
	*state = pt;
	return 0;
}

static int teardown(void **state)
{
	struct parties *pt = *state;
	ecp_free(pt->su);
	ecp_free(pt->eu);
	ecp_free(pt->sv);
	ecp_free(pt->ev);
	ecp_free(pt->other);
	ecp_free(pt->su_pub);
	ecp_free(pt->eu_pub);
	ecp_free(pt->sv_pub);
	ecp_free(pt->ev_pub);
	ecp_free(pt->other_pub);
	free(pt);
	return 0;
}

static const uint8_t rpv[32] = "0123456789abcdef0123456789abcdef";
static const uint8_t ctx_hash[64] = "transcript hash .................................. end";

static struct kas_params fu_params(const struct parties *pt, enum kas_role role)
{
	struct kas_params p = {
		.scheme = KAS_FULL_UNIFIED,
		.role = role,
		.secret = rpv,
		.secret_len = sizeof(rpv),
		.context = ctx_hash,
		.context_len = sizeof(ctx_hash),
	};
	if (role == KAS_U) {
		p.own_static = pt->su, p.own_ephem = pt->eu;
		p.peer_static = pt->sv_pub, p.peer_ephem = pt->ev_pub;
	} else {
		p.own_static = pt->sv, p.own_ephem = pt->ev;
		p.peer_static = pt->su_pub, p.peer_ephem = pt->eu_pub;
	}
	return p;
}

static void assert_same_keys(const kas_keys_t *a, const kas_keys_t *b)
{
	assert_memory_equal(&a->uv, &b->uv, sizeof(a->uv));
	assert_memory_equal(&a->vu, &b->vu, sizeof(a->vu));
}

/* Derives U and V and expects both confirmations to fail. */
static void expect_fu_mismatch(const struct kas_params *pu, const struct kas_params *pv)
{
	kas_keys_t ku, kv;

	assert_int_equal(kas_derive(pu, &ku), 0);
	assert_int_equal(kas_derive(pv, &kv), 0);
	assert_int_equal(kas_check_tag(&ku, kv.own_tag), PED_E_KC_FAILED);
	assert_int_equal(kas_check_tag(&kv, ku.own_tag), PED_E_KC_FAILED);
	assert_memory_not_equal(&ku.uv, &kv.uv, sizeof(ku.uv));
	assert_memory_not_equal(&ku.vu, &kv.vu, sizeof(ku.vu));
	kas_keys_wipe(&ku);
	kas_keys_wipe(&kv);
}

static void test_fu_agree(void **state)
{
	struct parties *pt = *state;
	struct kas_params pu = fu_params(pt, KAS_U), pv = fu_params(pt, KAS_V);
	kas_keys_t ku, kv;

	assert_int_equal(kas_derive(&pu, &ku), 0);
	assert_int_equal(kas_derive(&pv, &kv), 0);
	assert_int_equal(ku.scheme, KAS_FULL_UNIFIED);
	assert_int_equal(ku.role, KAS_U);
	assert_int_equal(kv.role, KAS_V);
	assert_true(ku.has_own_tag && ku.has_peer_tag && kv.has_own_tag && kv.has_peer_tag);
	assert_same_keys(&ku, &kv);
	assert_int_equal(kas_check_tag(&ku, kv.own_tag), 0);
	assert_int_equal(kas_check_tag(&kv, ku.own_tag), 0);
	assert_memory_equal(ku.peer_tag, kv.own_tag, KAS_TAG_LEN);
	assert_memory_equal(kv.peer_tag, ku.own_tag, KAS_TAG_LEN);

	/* Per-direction keys are different. */
	assert_memory_not_equal(ku.uv.dek, ku.vu.dek, KAS_DEK_LEN);
	assert_memory_not_equal(ku.uv.dmk, ku.vu.dmk, KAS_DMK_LEN);
	assert_memory_not_equal(ku.uv.cwk, ku.vu.cwk, KAS_CWK_LEN);
	assert_memory_not_equal(ku.own_tag, ku.peer_tag, KAS_TAG_LEN);

	/* A tag reflected back to its sender is refused. */
	assert_int_equal(kas_check_tag(&ku, ku.own_tag), PED_E_KC_FAILED);
	assert_int_equal(kas_check_tag(&kv, kv.own_tag), PED_E_KC_FAILED);

	/* Any flipped bit of the tag is refused. */
	for (size_t i = 0; i < KAS_TAG_LEN * 8; i += 7) {
		uint8_t t[KAS_TAG_LEN];
		memcpy(t, kv.own_tag, sizeof(t));
		t[i / 8] ^= (uint8_t)(1u << (i % 8));
		assert_int_equal(kas_check_tag(&ku, t), PED_E_KC_FAILED);
	}

	/* Fresh ephemerals: unrelated keys. */
	{
		kas_keys_t k2;
		struct kas_params p2 = pu;
		ecp_key_t *e2 = NULL, *e2v = NULL;
		assert_int_equal(ecp_generate(&e2), 0);
		assert_int_equal(ecp_generate(&e2v), 0);
		p2.own_ephem = e2;
		p2.peer_ephem = e2v;
		assert_int_equal(kas_derive(&p2, &k2), 0);
		assert_memory_not_equal(k2.uv.dek, ku.uv.dek, KAS_DEK_LEN);
		kas_keys_wipe(&k2);
		ecp_free(e2);
		ecp_free(e2v);
	}
	kas_keys_wipe(&ku);
	kas_keys_wipe(&kv);
	for (size_t i = 0; i < sizeof(ku); i++)
		assert_int_equal(((uint8_t *)&ku)[i], 0);
}

static void test_fu_wrong_secret(void **state)
{
	struct parties *pt = *state;
	struct kas_params pu = fu_params(pt, KAS_U), pv = fu_params(pt, KAS_V);
	uint8_t other[sizeof(rpv)];

	memcpy(other, rpv, sizeof(other));
	other[31] ^= 1;
	pv.secret = other;
	expect_fu_mismatch(&pu, &pv);
	/* Shorter secret, and no secret at all on one side. */
	pv.secret = rpv;
	pv.secret_len = sizeof(rpv) - 1;
	expect_fu_mismatch(&pu, &pv);
	pv.secret = NULL;
	pv.secret_len = 0;
	expect_fu_mismatch(&pu, &pv);
}

/* Zs given by a party that cached it: the very same keys; a wrong Zs is a
 * failed confirmation, never an agreement. */
static void test_fu_precomputed_zs(void **state)
{
	struct parties *pt = *state;
	struct kas_params pu = fu_params(pt, KAS_U), pv = fu_params(pt, KAS_V);
	uint8_t zs_u[ECP_Z_LEN], zs_v[ECP_Z_LEN];
	kas_keys_t ref, ku, kv;

	assert_int_equal(ecp_cdh(pt->su, pt->sv_pub, zs_u), 0);
	assert_int_equal(ecp_cdh(pt->sv, pt->su_pub, zs_v), 0);
	assert_memory_equal(zs_u, zs_v, ECP_Z_LEN);
	assert_int_equal(kas_derive(&pu, &ref), 0);
	pu.zs = zs_u;
	pv.zs = zs_v;
	assert_int_equal(kas_derive(&pu, &ku), 0);
	assert_int_equal(kas_derive(&pv, &kv), 0);
	assert_memory_equal(&ku, &ref, sizeof(ku));
	assert_same_keys(&ku, &kv);
	assert_int_equal(kas_check_tag(&ku, kv.own_tag), 0);
	assert_int_equal(kas_check_tag(&kv, ku.own_tag), 0);
	kas_keys_wipe(&ref);
	kas_keys_wipe(&ku);
	kas_keys_wipe(&kv);
	zs_v[ECP_Z_LEN - 1] ^= 1;
	expect_fu_mismatch(&pu, &pv);
	pu.zs = NULL;
	expect_fu_mismatch(&pu, &pv);
}

static void test_fu_context(void **state)
{
	struct parties *pt = *state;
	struct kas_params pu = fu_params(pt, KAS_U), pv = fu_params(pt, KAS_V);
	uint8_t other[sizeof(ctx_hash) + 1];

	memcpy(other, ctx_hash, sizeof(ctx_hash));
	other[sizeof(ctx_hash)] = 0;
	other[0] ^= 0x80;
	pv.context = other;
	expect_fu_mismatch(&pu, &pv); /* one bit */
	other[0] ^= 0x80;
	pv.context_len = sizeof(ctx_hash) + 1;
	expect_fu_mismatch(&pu, &pv); /* one byte appended */
	pv.context_len = sizeof(ctx_hash) - 1;
	expect_fu_mismatch(&pu, &pv); /* one byte cut */
	pv.context = NULL;
	pv.context_len = 0;
	expect_fu_mismatch(&pu, &pv); /* none */
}

static void test_fu_wrong_keys(void **state)
{
	struct parties *pt = *state;
	struct kas_params pu = fu_params(pt, KAS_U), pv;

	/* V sees another ephemeral key for U (substituted in transit). */
	pv = fu_params(pt, KAS_V);
	pv.peer_ephem = pt->other_pub;
	expect_fu_mismatch(&pu, &pv);
	/* V holds another static key for U (wrong HSM). */
	pv = fu_params(pt, KAS_V);
	pv.peer_static = pt->other_pub;
	expect_fu_mismatch(&pu, &pv);
	/* V uses another static key of its own (wrong orange key). */
	pv = fu_params(pt, KAS_V);
	pv.own_static = pt->other;
	expect_fu_mismatch(&pu, &pv);
	/* U's static and ephemeral keys swapped on V's side. */
	pv = fu_params(pt, KAS_V);
	pv.peer_static = pt->eu_pub;
	pv.peer_ephem = pt->su_pub;
	expect_fu_mismatch(&pu, &pv);
	/* Roles swapped: both think they are U. */
	pv = fu_params(pt, KAS_V);
	pv.role = KAS_U;
	expect_fu_mismatch(&pu, &pv);
}

/* Recomputes the documented schedule by hand: FixedInfo, DKM split, tags. */
static void put_lv(pbuf_t *b, const void *p, size_t n)
{
	assert_int_equal(pbuf_put_u32(b, (uint32_t)n), 0);
	assert_int_equal(pbuf_put_bytes(b, p, n), 0);
}

static void hmac512(const uint8_t *key, const uint8_t *msg, size_t n, uint8_t out[64])
{
	size_t len = 0;
	assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA512", NULL, key, 64, msg, n, out, 64,
				  &len));
	assert_int_equal(len, 64);
}

static void test_fu_schedule_layout(void **state)
{
	struct parties *pt = *state;
	struct kas_params pu = fu_params(pt, KAS_U);
	uint8_t su[ECP_PUB_LEN], eu[ECP_PUB_LEN], sv[ECP_PUB_LEN], ev[ECP_PUB_LEN];
	uint8_t z[2 * ECP_Z_LEN], mem[2048], dkm[KAS_DKM_LEN], md[6 + 4 * ECP_PUB_LEN];
	uint8_t tag[64];
	pbuf_t b;
	kas_keys_t ku;

	assert_int_equal(ecp_export_public(pt->su, su), 0);
	assert_int_equal(ecp_export_public(pt->eu, eu), 0);
	assert_int_equal(ecp_export_public(pt->sv, sv), 0);
	assert_int_equal(ecp_export_public(pt->ev, ev), 0);
	assert_int_equal(ecp_cdh(pt->eu, pt->ev_pub, z), 0);
	assert_int_equal(ecp_cdh(pt->su, pt->sv_pub, z + ECP_Z_LEN), 0);
	pbuf_over(&b, mem, sizeof(mem));
	put_lv(&b, KAS_ALG_FULL_UNIFIED, strlen(KAS_ALG_FULL_UNIFIED));
	put_lv(&b, su, ECP_PUB_LEN);
	put_lv(&b, eu, ECP_PUB_LEN);
	put_lv(&b, sv, ECP_PUB_LEN);
	put_lv(&b, ev, ECP_PUB_LEN);
	assert_int_equal(pbuf_put_u32(&b, 2560), 0);
	put_lv(&b, ctx_hash, sizeof(ctx_hash));
	put_lv(&b, rpv, sizeof(rpv));
	assert_int_equal(kdf_onestep_sha512(z, sizeof(z), b.data, b.len, dkm, sizeof(dkm)), 0);

	assert_int_equal(kas_derive(&pu, &ku), 0);
	assert_memory_equal(ku.uv.dek, dkm + 64, 32);
	assert_memory_equal(ku.uv.dmk, dkm + 96, 64);
	assert_memory_equal(ku.uv.cwk, dkm + 160, 32);
	assert_memory_equal(ku.vu.dek, dkm + 192, 32);
	assert_memory_equal(ku.vu.dmk, dkm + 224, 64);
	assert_memory_equal(ku.vu.cwk, dkm + 288, 32);

	memcpy(md, "KC_2_U", 6);
	memcpy(md + 6, su, ECP_PUB_LEN);
	memcpy(md + 6 + ECP_PUB_LEN, sv, ECP_PUB_LEN);
	memcpy(md + 6 + 2 * ECP_PUB_LEN, eu, ECP_PUB_LEN);
	memcpy(md + 6 + 3 * ECP_PUB_LEN, ev, ECP_PUB_LEN);
	hmac512(dkm, md, sizeof(md), tag);
	assert_memory_equal(ku.own_tag, tag, 64);
	memcpy(md, "KC_2_V", 6);
	memcpy(md + 6, sv, ECP_PUB_LEN);
	memcpy(md + 6 + ECP_PUB_LEN, su, ECP_PUB_LEN);
	memcpy(md + 6 + 2 * ECP_PUB_LEN, ev, ECP_PUB_LEN);
	memcpy(md + 6 + 3 * ECP_PUB_LEN, eu, ECP_PUB_LEN);
	hmac512(dkm, md, sizeof(md), tag);
	assert_memory_equal(ku.peer_tag, tag, 64);
	kas_keys_wipe(&ku);
}

/* ---- One-Pass ---------------------------------------------------------- */

static const uint8_t nonce[KAS_NONCE_LEN] = "nonce of V, 32 bytes long......";

static struct kas_params op_params(const struct parties *pt, enum kas_role role)
{
	struct kas_params p = {
		.scheme = KAS_ONE_PASS,
		.role = role,
		.nonce_v = nonce,
		.secret = rpv,
		.secret_len = sizeof(rpv),
		.context = ctx_hash,
		.context_len = sizeof(ctx_hash),
	};
	if (role == KAS_U) {
		p.own_ephem = pt->eu;
		p.peer_static = pt->sv_pub;
	} else {
		p.own_static = pt->sv;
		p.peer_ephem = pt->eu_pub;
	}
	return p;
}

static void test_op_agree(void **state)
{
	struct parties *pt = *state;
	struct kas_params pu = op_params(pt, KAS_U), pv = op_params(pt, KAS_V);
	kas_keys_t ku, kv;
	uint8_t other_nonce[KAS_NONCE_LEN];

	assert_int_equal(kas_derive(&pu, &ku), 0);
	assert_int_equal(kas_derive(&pv, &kv), 0);
	assert_int_equal(ku.scheme, KAS_ONE_PASS);
	assert_true(!ku.has_own_tag && ku.has_peer_tag);
	assert_true(kv.has_own_tag && !kv.has_peer_tag);
	assert_same_keys(&ku, &kv);
	assert_int_equal(kas_check_tag(&ku, kv.own_tag), 0);
	/* V expects no tag. */
	assert_int_equal(kas_check_tag(&kv, kv.own_tag), PED_E_INVAL);
	assert_memory_not_equal(ku.uv.dek, ku.vu.dek, KAS_DEK_LEN);
	assert_memory_not_equal(ku.uv.dmk, ku.vu.dmk, KAS_DMK_LEN);
	assert_memory_not_equal(ku.uv.cwk, ku.vu.cwk, KAS_CWK_LEN);

	/* Wrong nonce: keys agree (the nonce is only in MacData), tag fails. */
	memcpy(other_nonce, nonce, sizeof(other_nonce));
	other_nonce[5] ^= 4;
	pv.nonce_v = other_nonce;
	assert_int_equal(kas_derive(&pv, &kv), 0);
	assert_same_keys(&ku, &kv);
	assert_int_equal(kas_check_tag(&ku, kv.own_tag), PED_E_KC_FAILED);

	/* V with another static key (U believes in sv). */
	pv = op_params(pt, KAS_V);
	pv.own_static = pt->other;
	assert_int_equal(kas_derive(&pv, &kv), 0);
	assert_int_equal(kas_check_tag(&ku, kv.own_tag), PED_E_KC_FAILED);
	/* U with another static key for V. */
	pu.peer_static = pt->other_pub;
	pv = op_params(pt, KAS_V);
	kas_keys_wipe(&ku);
	assert_int_equal(kas_derive(&pu, &ku), 0);
	assert_int_equal(kas_derive(&pv, &kv), 0);
	assert_int_equal(kas_check_tag(&ku, kv.own_tag), PED_E_KC_FAILED);
	/* Wrong secret. */
	pu = op_params(pt, KAS_U);
	pv.secret_len = 0;
	pv.secret = NULL;
	assert_int_equal(kas_derive(&pu, &ku), 0);
	assert_int_equal(kas_derive(&pv, &kv), 0);
	assert_int_equal(kas_check_tag(&ku, kv.own_tag), PED_E_KC_FAILED);
	kas_keys_wipe(&ku);
	kas_keys_wipe(&kv);
}

static void test_op_schedule_layout(void **state)
{
	struct parties *pt = *state;
	struct kas_params pv = op_params(pt, KAS_V);
	uint8_t eu[ECP_PUB_LEN], sv[ECP_PUB_LEN], z[ECP_Z_LEN], mem[2048], dkm[KAS_DKM_LEN];
	uint8_t md[6 + ECP_PUB_LEN + KAS_NONCE_LEN + ECP_PUB_LEN], tag[64];
	pbuf_t b;
	kas_keys_t kv;

	assert_int_equal(ecp_export_public(pt->eu, eu), 0);
	assert_int_equal(ecp_export_public(pt->sv, sv), 0);
	assert_int_equal(ecp_cdh(pt->eu, pt->sv_pub, z), 0);
	pbuf_over(&b, mem, sizeof(mem));
	put_lv(&b, KAS_ALG_ONE_PASS, strlen(KAS_ALG_ONE_PASS));
	put_lv(&b, NULL, 0);
	put_lv(&b, eu, ECP_PUB_LEN);
	put_lv(&b, sv, ECP_PUB_LEN);
	put_lv(&b, NULL, 0);
	assert_int_equal(pbuf_put_u32(&b, 2560), 0);
	put_lv(&b, ctx_hash, sizeof(ctx_hash));
	put_lv(&b, rpv, sizeof(rpv));
	assert_int_equal(kdf_onestep_sha512(z, sizeof(z), b.data, b.len, dkm, sizeof(dkm)), 0);

	assert_int_equal(kas_derive(&pv, &kv), 0);
	assert_memory_equal(&kv.uv, dkm + 64, sizeof(kv.uv));
	assert_memory_equal(&kv.vu, dkm + 192, sizeof(kv.vu));
	memcpy(md, "KC_1_V", 6);
	memcpy(md + 6, sv, ECP_PUB_LEN);
	memcpy(md + 6 + ECP_PUB_LEN, nonce, KAS_NONCE_LEN);
	memcpy(md + 6 + ECP_PUB_LEN + KAS_NONCE_LEN, eu, ECP_PUB_LEN);
	hmac512(dkm, md, sizeof(md), tag);
	assert_memory_equal(kv.own_tag, tag, 64);
	kas_keys_wipe(&kv);
}

/* ---- parameter checks -------------------------------------------------- */

static void expect_inval(const struct kas_params *p)
{
	kas_keys_t k;
	memset(&k, 0xaa, sizeof(k));
	assert_int_equal(kas_derive(p, &k), PED_E_INVAL);
	for (size_t i = 0; i < sizeof(k); i++)
		assert_int_equal(((uint8_t *)&k)[i], 0);
}

static void test_bad_params(void **state)
{
	struct parties *pt = *state;
	struct kas_params p, ok = fu_params(pt, KAS_U);
	static uint8_t big[KAS_CONTEXT_MAX + 1];
	kas_keys_t k;
	uint8_t tag[KAS_TAG_LEN] = {0};

	expect_inval(NULL);
	assert_int_equal(kas_derive(&ok, NULL), PED_E_INVAL);

	p = ok, p.scheme = 0;
	expect_inval(&p);
	p = ok, p.scheme = 3;
	expect_inval(&p);
	p = ok, p.role = 2;
	expect_inval(&p);
	p = ok, p.own_static = NULL;
	expect_inval(&p);
	p = ok, p.own_ephem = NULL;
	expect_inval(&p);
	p = ok, p.peer_static = NULL;
	expect_inval(&p);
	p = ok, p.peer_ephem = NULL;
	expect_inval(&p);
	p = ok, p.nonce_v = nonce; /* Full Unified has no nonce */
	expect_inval(&p);
	p = ok, p.secret = NULL; /* length without data */
	expect_inval(&p);
	p = ok, p.context = NULL;
	expect_inval(&p);
	p = ok, p.secret = big, p.secret_len = KAS_SECRET_MAX + 1;
	expect_inval(&p);
	p = ok, p.context = big, p.context_len = KAS_CONTEXT_MAX + 1;
	expect_inval(&p);
	/* Own keys must hold private keys. */
	p = ok, p.own_static = pt->su_pub;
	expect_inval(&p);
	p = ok, p.own_ephem = pt->eu_pub;
	expect_inval(&p);

	/* The limits themselves are fine. */
	p = ok, p.secret = big, p.secret_len = KAS_SECRET_MAX;
	p.context = big, p.context_len = KAS_CONTEXT_MAX;
	assert_int_equal(kas_derive(&p, &k), 0);
	kas_keys_wipe(&k);

	/* One-Pass: nonce required; only the keys of the role. */
	ok = op_params(pt, KAS_U);
	p = ok, p.nonce_v = NULL;
	expect_inval(&p);
	p = ok, p.own_static = pt->su;
	expect_inval(&p);
	p = ok, p.peer_ephem = pt->ev_pub;
	expect_inval(&p);
	p = ok, p.own_ephem = NULL;
	expect_inval(&p);
	p = ok, p.peer_static = NULL;
	expect_inval(&p);
	ok = op_params(pt, KAS_V);
	p = ok, p.nonce_v = NULL;
	expect_inval(&p);
	p = ok, p.own_ephem = pt->ev;
	expect_inval(&p);
	p = ok, p.peer_static = pt->su_pub;
	expect_inval(&p);
	p = ok, p.own_static = NULL;
	expect_inval(&p);
	p = ok, p.peer_ephem = NULL;
	expect_inval(&p);
	p = ok, p.zs = tag; /* One-Pass has no static-static secret */
	expect_inval(&p);

	assert_int_equal(kas_check_tag(NULL, tag), PED_E_INVAL);
	kas_keys_wipe(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kdf_acvp),
		cmocka_unit_test(test_kdf_params),
		cmocka_unit_test(test_fu_agree),
		cmocka_unit_test(test_fu_wrong_secret),
		cmocka_unit_test(test_fu_precomputed_zs),
		cmocka_unit_test(test_fu_context),
		cmocka_unit_test(test_fu_wrong_keys),
		cmocka_unit_test(test_fu_schedule_layout),
		cmocka_unit_test(test_op_agree),
		cmocka_unit_test(test_op_schedule_layout),
		cmocka_unit_test(test_bad_params),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
