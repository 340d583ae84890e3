/* kat_test.c - the worked examples of docs/PROTOCOL.md, pinned: fixed
 * scalars, RPV, transcript, nonce and Shamir coefficients must give exactly
 * the documented public keys, shared secrets, FixedInfo, MacKey, keys,
 * confirmation tags, first record, KWP output and shares, from both
 * parties' points of view (§1.9 Full Unified, §1.10 One-Pass, §1.7 KWP,
 * §2.2.1 Shamir). The same values are derived again without this code by
 * tests/tools/protocol_kat.py, which also checks that the document and the
 * constants below agree (tests/scenario/protocol_examples.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/hex.h"
#include "crypto/chan.h"
#include "crypto/ecp.h"
#include "crypto/kas.h"
#include "crypto/kdf.h"
#include "crypto/shamir.h"

static const char kat_dek_uv[] =
	"a3dc93bc5e4c9ddc84531bf74382ee83b4cc0b60c08b06affd5e244f3e9c9995";
static const char kat_dmk_uv[] =
	"d4a87e64b0ae66f8c0679f4a68dbdb447d548f31f28c9bda7e612cf7059514e2"
	"f84ee4bef166e9983f046efac5eefd802d69bcd6625625394b976cb554e870ee";
static const char kat_cwk_uv[] =
	"52f3e4044426c72e1238ecedcdba5efc13e00d486f51588333768cd94c0dc726";
static const char kat_dek_vu[] =
	"a5b2368da6b63d6bb6a6f705ef33c48f94597395736087d2ed8e7a60b94cc19c";
static const char kat_dmk_vu[] =
	"cd4c3e27fb437aa713de2f6e59774d73f734b67a4702ed67605731a8f28877f6"
	"8c2ca13e4d82a355364ef0c943cd77be12a2531776eb67689ec6254d17c89173";
static const char kat_cwk_vu[] =
	"3aff5c2a129c8e64ab90c1f199f23265d85e22916aa9a119484197e2b68491b0";
static const char kat_mactag_u[] =
	"35183fafebe1226d6acc0de5cfb9c5a14359d0d244a0c7e7a4fa5477d4b87e1b"
	"d90e7f54da2d86a780d003996b3146078d35a0f9c7dca97aac9e82f5c3f8c507";
static const char kat_mactag_v[] =
	"2c6c6ada89f8ef000a35de19bd8730618d8541e02be3645d0e4215cc08f45f2c"
	"13bf32e7f9cc3deebeeb577f9d12fdbadf6d5dbfe83b159e4aef5535befa5333";
static const char kat_record[] =
	"0100000005e11763c934619fef4e8e4ae8e45b91964862df4bb08906b871ab13"
	"e876b90b34d1d69029b9930508d7117ee05ebfa574adb4f5114800ff9f380ab7"
	"448d391f975efb75d69e";

static const char kat_qs_u[] =
	"0400433c219024277e7e682fcb288148c282747403279b1ccc06352c6e5505d7"
	"69be97b3b204da6ef55507aa104a3a35c5af41cf2fa364d60fd967f43e3933ba"
	"6d783d00f4bb8cc7f86db26700a7f3eceeeed3f0b5c6b5107c4da97740ab21a2"
	"9906c42dbbb3e377de9f251f6b93937fa99a3248f4eafcbe95edc0f4f71be356"
	"d661f41b02";
static const char kat_qe_u[] =
	"0401a73d352443de29195dd91d6a64b5959479b52a6e5b123d9ab9e5ad7a112d"
	"7a8dd1ad3f164a3a4832051da6bd16b59fe21baeb490862c32ea05a5919d2ede"
	"37ad7d013e9b03b97dfa62ddd9979f86c6cab814f2f1557fa82a9d0317d2f8ab"
	"1fa355ceec2e2dd4cf8dc575b02d5aced1dec3c70cf105c9bc93a590425f588c"
	"a1ee86c0e5";
static const char kat_qs_v[] =
	"0400652bf3c52927a432c73dbc3391c04eb0bf7a596efdb53f0d24cf03dab8f1"
	"77ace4383c0c6d5e3014237112feaf137e79a329d7e1e6d8931738d5ab5096ec"
	"8f3078015be6ef1bdd6601d6ec8a2b73114a8112911cd8fe8e872e0051edd817"
	"c9a0347087bb6897c9072cf374311540211cf5ff79d1f007257354f7f8173cc3"
	"e8deb090cb";
static const char kat_qe_v[] =
	"040056d5d1d99d5b7f6346eeb65fda0b073a0c5f22e0e8f5483228f018d2c2f7"
	"114c5d8c308d0abfc698d8c9a6df30dce3bbc46f953f50fdc2619a01cead8828"
	"16ecd4003d2d1b7d9baaa2a110d1d8317a39d68478b5c582d02824f0dd71dbd9"
	"8a26cbde556bd0f293cdec9e2b9523a34591ce1a5f9e76712a5ddefc7b5c6b8b"
	"c90525251b";
static const char kat_ze[] =
	"01a1cbb2c11a742bd2fb3cc8550859ed3b10268bb98c2ed15e9819523e759c46"
	"7fa946257eae4d62a309d9497eaed827d75b37ac920393a46d2d42ef399693c8"
	"c9ed";
static const char kat_zs[] =
	"0190eb8f22bda61f281dfcfe7bb6721ec4cd901d879ac09ac7c34a9246b11ada"
	"8910a2c7c178fcc263299daa4da9842093f37c2e411f1a8e819a87ff09a04f2f"
	"3320";
static const char kat_fixed_sha512[] =
	"6730311bc716395bc32536045a088bd99dc23dbb7f6e5ad0aada250f2149cba0"
	"c4417fcbc812c01c7de405c0f59330995ff927b73cc8b58e395c9e5f1b6e5e3f";
static const char kat_mackey[] =
	"b6a180672d9118a81a5055c1f87f8c60409cb23b2064cecc5dac1612327ea461"
	"39f31b09a940dcd6f64be1e11b132ddf0396112b051096465f27fcd42cc284ca";
static const char kat_share1[] =
	"01030100045042405d";
static const char kat_share2[] =
	"01030200045953517c";
static const char kat_share3[] =
	"01030300045a545273";
static const char kat_share4[] =
	"0103040004770937ce";
static const char kat_kwp[] =
	"b337f4b7789c6d05d039a835488afb0b9ee840a0662bf12d";
static const char kat_op_z[] =
	"006b6ad89abcb92465f041558fc546d4300fb8fbcc30b40a0852d697b532df12"
	"8e11b91cce27dbd00ffe7875bd1c8fc0331d9b8d96981e3f92bde9afe337bcb8"
	"db55";
static const char kat_op_supppub[] =
	"7b9d6fa72a4c34196e99e3e4740d7df944b08c2422b2d0324f4072c67cee2c9d"
	"8d212c3534f23756c8f3f046ab8e9a77700221eafd12a8d5a497088a1856fc34";
static const char kat_op_fixed_sha512[] =
	"8ef2a33685ab7465663127eba0d4cbe4023a4e199e08750c06dd4830ea30e315"
	"40d68daab09810f4a1c080008007aad1cea5a063cb838631eeb8b0f06352b061";
static const char kat_op_mackey[] =
	"784233fab90c899a1b6cc918d0460e742e4f047795b6a97a8701f12b96afa3a2"
	"6614e7efef768395b817aec82d96a99d3fbd2cbe2236d7ef9bdaed2de230a401";
static const char kat_op_cwk_uv[] =
	"c562a796279bf04c6fec3ad86852f07db68fc189c35b6c33e9e51fa4cc82bbed";
static const char kat_op_cwk_vu[] =
	"6a79b23f7df1e8623996904c60a681b2c35641ed2531a202a0ffe46f076e9f1d";
static const char kat_op_mactag_v[] =
	"fce527daed2926151cf6c1fc38994648e21764684ea8fb6165405a8d97bb27b8"
	"a26210c0cab6725f5b2f7ba9fe642c0fc2adf598bec73eb5cee4773b7a91aca2";

static void assert_hex(const uint8_t *got, size_t len, const char *want)
{
	uint8_t buf[256];
	assert_int_equal(hex_decode(want, buf, sizeof(buf)), (int)len);
	assert_memory_equal(got, buf, len);
}

static ecp_key_t *scalar(uint8_t d)
{
	ecp_key_t *k = NULL;
	assert_int_equal(ecp_from_private(&d, 1, &k), 0);
	return k;
}

static void assert_pub(const ecp_key_t *k, const char *want)
{
	uint8_t q[ECP_PUB_LEN];
	assert_int_equal(ecp_export_public(k, q), 0);
	assert_hex(q, sizeof(q), want);
}

static void put_lv(pbuf_t *b, const void *p, size_t n)
{
	assert_int_equal(pbuf_put_u32(b, (uint32_t)n), 0);
	assert_int_equal(pbuf_put_bytes(b, p, n), 0);
}

/* FixedInfo exactly as §1.4 lays it out (not through kas.c), checked by its
 * length and SHA-512; then the one-step KDF over it gives the whole DKM, of
 * which MacKey is the first 64 bytes. */
static void check_fixed_info(const char *alg, const uint8_t *id_u, size_t id_u_len,
			     const uint8_t *e_u, size_t e_u_len, const uint8_t *id_v,
			     size_t id_v_len, const uint8_t *e_v, size_t e_v_len,
			     const uint8_t *pub, size_t pub_len, const uint8_t *priv,
			     size_t priv_len, size_t want_len, const char *want_sha512,
			     const uint8_t *z, size_t zlen, uint8_t dkm[static KAS_DKM_LEN])
{
	uint8_t mem[1024], md[64];
	unsigned int mdlen = 0;
	pbuf_t b;

	pbuf_over(&b, mem, sizeof(mem));
	put_lv(&b, alg, strlen(alg));
	put_lv(&b, id_u, id_u_len);
	put_lv(&b, e_u, e_u_len);
	put_lv(&b, id_v, id_v_len);
	put_lv(&b, e_v, e_v_len);
	assert_int_equal(pbuf_put_u32(&b, 2560), 0);
	put_lv(&b, pub, pub_len);
	put_lv(&b, priv, priv_len);
	assert_int_equal(b.len, want_len);
	assert_int_equal(EVP_Digest(b.data, b.len, md, &mdlen, EVP_sha512(), NULL), 1);
	assert_hex(md, mdlen, want_sha512);
	assert_int_equal(kdf_onestep_sha512(z, zlen, b.data, b.len, dkm, KAS_DKM_LEN), 0);
}

static void assert_dir(const uint8_t *dkm, const kas_dir_keys_t *d)
{
	assert_memory_equal(dkm, d->dek, KAS_DEK_LEN);
	assert_memory_equal(dkm + KAS_DEK_LEN, d->dmk, KAS_DMK_LEN);
	assert_memory_equal(dkm + KAS_DEK_LEN + KAS_DMK_LEN, d->cwk, KAS_CWK_LEN);
}

static void assert_hmac(const uint8_t mackey[static 64], const uint8_t *data, size_t len,
			const char *want)
{
	uint8_t tag[64];
	size_t n = 0;
	assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA512", NULL, mackey, 64, data, len, tag,
				  sizeof(tag), &n));
	assert_hex(tag, n, want);
}

static void cat(uint8_t *out, size_t *len, const void *p, size_t n)
{
	memcpy(out + *len, p, n);
	*len += n;
}

/* §2.2.1: "SECR" split 3 of 4 with the coefficients 01 .. 08. */
static void make_shares(shamir_share_t sh[4])
{
	static const uint8_t coeffs[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	assert_int_equal(shamir_split_coeffs((const uint8_t *)"SECR", 4, 3, 4, coeffs, sh), 0);
}

static void test_documented_example(void **state)
{
	(void)state;
	ecp_key_t *su = scalar(2), *eu = scalar(3), *sv = scalar(5), *ev = scalar(7);
	static const uint8_t ctx[] = "RemotePED example transcript";
	uint8_t rpv[32], rec[128], z[2 * ECP_Z_LEN], z2[ECP_Z_LEN], dkm[KAS_DKM_LEN];
	uint8_t qsu[ECP_PUB_LEN], qeu[ECP_PUB_LEN], qsv[ECP_PUB_LEN], qev[ECP_PUB_LEN];
	uint8_t md[6 + 4 * ECP_PUB_LEN], one[SHAMIR_ENCODED_MAX], w[64], back[64];
	size_t reclen, mdlen, wlen, blen;
	shamir_share_t sh[4];
	kas_keys_t ku, kv;
	chan_t *c = NULL, *cv = NULL;
	pbuf_t b;

	for (int i = 0; i < 32; i++)
		rpv[i] = (uint8_t)i;
	/* the four public keys and the two shared secrets, both ways */
	assert_pub(su, kat_qs_u);
	assert_pub(eu, kat_qe_u);
	assert_pub(sv, kat_qs_v);
	assert_pub(ev, kat_qe_v);
	assert_int_equal(ecp_cdh(eu, ev, z), 0);
	assert_int_equal(ecp_cdh(su, sv, z + ECP_Z_LEN), 0);
	assert_hex(z, ECP_Z_LEN, kat_ze);
	assert_hex(z + ECP_Z_LEN, ECP_Z_LEN, kat_zs);
	assert_int_equal(ecp_cdh(ev, eu, z2), 0);
	assert_memory_equal(z2, z, ECP_Z_LEN);
	assert_int_equal(ecp_cdh(sv, su, z2), 0);
	assert_memory_equal(z2, z + ECP_Z_LEN, ECP_Z_LEN);

	struct kas_params pu = {KAS_FULL_UNIFIED, KAS_U, su, eu, sv, ev, NULL,
				rpv, sizeof(rpv), ctx, sizeof(ctx) - 1, NULL};
	struct kas_params pv = {KAS_FULL_UNIFIED, KAS_V, sv, ev, su, eu, NULL,
				rpv, sizeof(rpv), ctx, sizeof(ctx) - 1, NULL};
	assert_int_equal(kas_derive(&pu, &ku), 0);
	assert_int_equal(kas_derive(&pv, &kv), 0);
	assert_hex(ku.uv.dek, 32, kat_dek_uv);
	assert_hex(ku.uv.dmk, 64, kat_dmk_uv);
	assert_hex(ku.uv.cwk, 32, kat_cwk_uv);
	assert_hex(ku.vu.dek, 32, kat_dek_vu);
	assert_hex(ku.vu.dmk, 64, kat_dmk_vu);
	assert_hex(ku.vu.cwk, 32, kat_cwk_vu);
	assert_hex(ku.own_tag, 64, kat_mactag_u);
	assert_hex(ku.peer_tag, 64, kat_mactag_v);
	assert_hex(kv.own_tag, 64, kat_mactag_v);
	assert_hex(kv.peer_tag, 64, kat_mactag_u);
	assert_memory_equal(&ku.uv, &kv.uv, sizeof(ku.uv));
	assert_memory_equal(&ku.vu, &kv.vu, sizeof(ku.vu));

	/* the documented FixedInfo gives the same keys, and MacKey the tags */
	assert_int_equal(ecp_export_public(su, qsu), 0);
	assert_int_equal(ecp_export_public(eu, qeu), 0);
	assert_int_equal(ecp_export_public(sv, qsv), 0);
	assert_int_equal(ecp_export_public(ev, qev), 0);
	check_fixed_info(KAS_ALG_FULL_UNIFIED, qsu, sizeof(qsu), qeu, sizeof(qeu), qsv,
			 sizeof(qsv), qev, sizeof(qev), ctx, sizeof(ctx) - 1, rpv, sizeof(rpv),
			 695, kat_fixed_sha512, z, sizeof(z), dkm);
	assert_hex(dkm, KAS_MACKEY_LEN, kat_mackey);
	assert_dir(dkm + 64, &ku.uv);
	assert_dir(dkm + 192, &ku.vu);
	mdlen = 0;
	cat(md, &mdlen, "KC_2_U", 6);
	cat(md, &mdlen, qsu, sizeof(qsu));
	cat(md, &mdlen, qsv, sizeof(qsv));
	cat(md, &mdlen, qeu, sizeof(qeu));
	cat(md, &mdlen, qev, sizeof(qev));
	assert_hmac(dkm, md, mdlen, kat_mactag_u);
	mdlen = 0;
	cat(md, &mdlen, "KC_2_V", 6);
	cat(md, &mdlen, qsv, sizeof(qsv));
	cat(md, &mdlen, qsu, sizeof(qsu));
	cat(md, &mdlen, qev, sizeof(qev));
	cat(md, &mdlen, qeu, sizeof(qeu));
	assert_hmac(dkm, md, mdlen, kat_mactag_v);

	/* the first record U sends */
	assert_int_equal(chan_new(&ku, &c), 0);
	assert_int_equal(chan_seal(c, (const uint8_t *)"hello", 5, rec, sizeof(rec), &reclen), 0);
	assert_int_equal(reclen, 5 + CHAN_OVERHEAD);
	assert_hex(rec, reclen, kat_record);

	/* §1.7: U wraps share x=1 of §2.2.1 under CWK_UV; V unwraps it */
	make_shares(sh);
	pbuf_over(&b, one, sizeof(one));
	assert_int_equal(shamir_share_encode(&sh[0], &b), 0);
	assert_hex(b.data, b.len, kat_share1);
	assert_int_equal(chan_wrap(c, b.data, b.len, w, sizeof(w), &wlen), 0);
	assert_int_equal(wlen, CHAN_WRAP_LEN(b.len));
	assert_hex(w, wlen, kat_kwp);
	assert_int_equal(chan_new(&kv, &cv), 0);
	assert_int_equal(chan_unwrap(cv, w, wlen, back, sizeof(back), &blen), 0);
	assert_int_equal(blen, b.len);
	assert_memory_equal(back, b.data, blen);

	chan_free(c);
	chan_free(cv);
	kas_keys_wipe(&ku);
	kas_keys_wipe(&kv);
	ecp_free(su);
	ecp_free(eu);
	ecp_free(sv);
	ecp_free(ev);
}

/* §1.10: the Local PED's One-Pass C(1e,1s) as §2.4.1 runs it: U = the PED
 * (ephemeral 3), V = the HSM (static 5), Nonce_V = 20 .. 3f, SuppPubInfo =
 * SHA-512(Qs_V || Nonce_V), SuppPrivInfo empty. */
static void test_one_pass_example(void **state)
{
	(void)state;
	ecp_key_t *eu = scalar(3), *sv = scalar(5);
	uint8_t nonce[KAS_NONCE_LEN], offer[ECP_PUB_LEN + KAS_NONCE_LEN], spi[64];
	uint8_t qeu[ECP_PUB_LEN], z[ECP_Z_LEN], z2[ECP_Z_LEN], dkm[KAS_DKM_LEN];
	uint8_t md[6 + ECP_PUB_LEN + KAS_NONCE_LEN + ECP_PUB_LEN];
	unsigned int spilen = 0;
	size_t mdlen = 0;
	kas_keys_t ku, kv;

	for (int i = 0; i < KAS_NONCE_LEN; i++)
		nonce[i] = (uint8_t)(0x20 + i);
	assert_int_equal(ecp_export_public(sv, offer), 0);
	memcpy(offer + ECP_PUB_LEN, nonce, sizeof(nonce));
	assert_int_equal(EVP_Digest(offer, sizeof(offer), spi, &spilen, EVP_sha512(), NULL), 1);
	assert_hex(spi, spilen, kat_op_supppub);
	assert_int_equal(ecp_cdh(eu, sv, z), 0);
	assert_int_equal(ecp_cdh(sv, eu, z2), 0);
	assert_memory_equal(z, z2, sizeof(z));
	assert_hex(z, sizeof(z), kat_op_z);

	struct kas_params pu = {KAS_ONE_PASS, KAS_U, NULL, eu, sv, NULL, nonce,
				NULL, 0, spi, sizeof(spi), NULL};
	struct kas_params pv = {KAS_ONE_PASS, KAS_V, sv, NULL, NULL, eu, nonce,
				NULL, 0, spi, sizeof(spi), NULL};
	assert_int_equal(kas_derive(&pu, &ku), 0);
	assert_int_equal(kas_derive(&pv, &kv), 0);
	assert_hex(ku.uv.cwk, 32, kat_op_cwk_uv);
	assert_hex(ku.vu.cwk, 32, kat_op_cwk_vu);
	assert_hex(kv.own_tag, 64, kat_op_mactag_v);
	assert_hex(ku.peer_tag, 64, kat_op_mactag_v);
	assert_false(ku.has_own_tag);
	assert_false(kv.has_peer_tag);
	assert_memory_equal(&ku.uv, &kv.uv, sizeof(ku.uv));
	assert_memory_equal(&ku.vu, &kv.vu, sizeof(ku.vu));

	/* ID_U and EphemData_V empty, SuppPrivInfo empty */
	assert_int_equal(ecp_export_public(eu, qeu), 0);
	check_fixed_info(KAS_ALG_ONE_PASS, NULL, 0, qeu, sizeof(qeu), offer, ECP_PUB_LEN, NULL, 0,
			 spi, sizeof(spi), NULL, 0,
			 4 + strlen(KAS_ALG_ONE_PASS) + 4 + 4 + ECP_PUB_LEN + 4 + ECP_PUB_LEN + 4 + 4 +
				 4 + 64 + 4,
			 kat_op_fixed_sha512, z, sizeof(z), dkm);
	assert_hex(dkm, KAS_MACKEY_LEN, kat_op_mackey);
	assert_dir(dkm + 64, &ku.uv);
	assert_dir(dkm + 192, &ku.vu);
	cat(md, &mdlen, "KC_1_V", 6);
	cat(md, &mdlen, offer, ECP_PUB_LEN);
	cat(md, &mdlen, nonce, sizeof(nonce));
	cat(md, &mdlen, qeu, sizeof(qeu));
	assert_hmac(dkm, md, mdlen, kat_op_mactag_v);

	kas_keys_wipe(&ku);
	kas_keys_wipe(&kv);
	ecp_free(eu);
	ecp_free(sv);
}

/* §2.2.1: the four encoded shares, and the secret back from x = 4, 2, 3. */
static void test_shamir_example(void **state)
{
	(void)state;
	static const char *const want[4] = {kat_share1, kat_share2, kat_share3, kat_share4};
	shamir_share_t sh[4], three[3];
	uint8_t one[SHAMIR_ENCODED_MAX], secret[8];
	pbuf_t b;

	make_shares(sh);
	for (int j = 0; j < 4; j++) {
		pbuf_over(&b, one, sizeof(one));
		assert_int_equal(shamir_share_encode(&sh[j], &b), 0);
		assert_hex(b.data, b.len, want[j]);
		pbuf_from(&b, one, b.len);
		assert_int_equal(shamir_share_decode(&b, &sh[j]), 0);
	}
	three[0] = sh[3];
	three[1] = sh[1];
	three[2] = sh[2];
	assert_int_equal(shamir_combine(three, 3, secret, sizeof(secret)), 0);
	assert_memory_equal(secret, "SECR", 4);
	/* two shares are too few for M = 3 */
	assert_int_equal(shamir_combine(three, 2, secret, sizeof(secret)), PED_E_SHARE_FEW);
	for (int j = 0; j < 4; j++)
		shamir_share_wipe(&sh[j]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_documented_example),
		cmocka_unit_test(test_one_pass_example),
		cmocka_unit_test(test_shamir_example),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
