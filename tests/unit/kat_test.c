/* kat_test.c - the key-schedule example of docs/PROTOCOL.md §1.9, pinned:
 * fixed scalars, RPV and transcript must give exactly the documented keys,
 * confirmation tags and first record, from both parties' points of view. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/hex.h"
#include "crypto/chan.h"
#include "crypto/ecp.h"
#include "crypto/kas.h"

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

static void test_documented_example(void **state)
{
	(void)state;
	ecp_key_t *su = scalar(2), *eu = scalar(3), *sv = scalar(5), *ev = scalar(7);
	static const uint8_t ctx[] = "RemotePED example transcript";
	uint8_t rpv[32], rec[128];
	size_t reclen;
	kas_keys_t ku, kv;
	chan_t *c = NULL;

	for (int i = 0; i < 32; i++)
		rpv[i] = (uint8_t)i;
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
	assert_int_equal(chan_new(&ku, &c), 0);
	assert_int_equal(chan_seal(c, (const uint8_t *)"hello", 5, rec, sizeof(rec), &reclen), 0);
	assert_int_equal(reclen, 5 + CHAN_OVERHEAD);
	assert_hex(rec, reclen, kat_record);
	chan_free(c);
	kas_keys_wipe(&ku);
	kas_keys_wipe(&kv);
	ecp_free(su);
	ecp_free(eu);
	ecp_free(sv);
	ecp_free(ev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_documented_example),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
