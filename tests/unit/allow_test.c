/* allow_test.c - pedserver's HSM allowlist store (pedserver/allow.c):
 * fingerprint text in and out, the policy words, add/find/delete with the
 * file rewritten and read back, the limits (duplicate, full, bad words), and
 * a damaged file refused as STATE_CORRUPT. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/err.h"
#include "pedserver/allow.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/allow_test.XXXXXX");
	return mkdtemp(dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, ALLOW_FILE);
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void test_fingerprint_text(void **state)
{
	uint8_t fp[ALLOW_FP_LEN], back[ALLOW_FP_LEN], qs[ECP_PUB_LEN] = {4};
	char text[ALLOW_FP_TEXT];

	(void)state;
	for (unsigned i = 0; i < ALLOW_FP_LEN; i++)
		fp[i] = (uint8_t)(i * 17 + 1);
	allow_fp_text(fp, text);
	assert_int_equal(strlen(text), 79);
	assert_string_equal(text, "0112:2334:4556:6778:899a:abbc:cdde:ef00:"
				  "1122:3344:5566:7788:99aa:bbcc:ddee:ff10");
	assert_int_equal(allow_fp_parse(text, back), 0);
	assert_memory_equal(fp, back, ALLOW_FP_LEN);
	/* no separators, upper case, spaces and dashes */
	assert_int_equal(allow_fp_parse("0112233445566778899AABBCCDDEEF00"
					 "112233445566778899aabbccddeeff10", back), 0);
	assert_memory_equal(fp, back, ALLOW_FP_LEN);
	assert_int_equal(allow_fp_parse("0112 2334-4556:6778 899a abbc cdde ef00 "
					 "1122 3344 5566 7788 99aa bbcc ddee ff10", back), 0);
	assert_memory_equal(fp, back, ALLOW_FP_LEN);
	/* short, long, not hex, empty */
	assert_int_equal(allow_fp_parse("0112:2334", back), PED_E_BAD_FINGERPRINT);
	assert_int_equal(allow_fp_parse("00112233445566778899aabbccddeeff00112233445566778899"
					 "aabbccddeeff00", back), PED_E_BAD_FINGERPRINT);
	assert_int_equal(allow_fp_parse("g112233445566778899aabbccddeeff0"
					 "0112233445566778899aabbccddeeff0", back),
			 PED_E_BAD_FINGERPRINT);
	assert_int_equal(allow_fp_parse("", back), PED_E_BAD_FINGERPRINT);
	/* SHA-256 of the 133-byte key as sent: another key, another print */
	assert_int_equal(allow_fingerprint(qs, fp), 0);
	/* python3: hashlib.sha256(bytes([4]) + bytes(132)).hexdigest() */
	allow_fp_text(fp, text);
	assert_string_equal(text, "8620:a1b8:2097:e900:ac6a:332e:c54b:4bf3:"
				  "fc51:08d8:beaf:3e03:454b:194b:d045:273b");
	qs[1] = 1;
	assert_int_equal(allow_fingerprint(qs, back), 0);
	assert_memory_not_equal(fp, back, ALLOW_FP_LEN);
}

static void test_words_and_policies(void **state)
{
	char out[ALLOW_STR_MAX + 1];
	enum allow_policy p = ALLOW_ANY;

	(void)state;
	assert_true(allow_word_ok("9484539456"));
	assert_true(allow_word_ok("lab-a_1.2:x"));
	assert_false(allow_word_ok(""));
	assert_false(allow_word_ok("two words"));
	assert_false(allow_word_ok("123456789012345678901234567890123")); /* 33 */
	allow_word_clean("ab c\n\x01", out);
	assert_string_equal(out, "ab?c??");
	allow_word_clean("", out);
	assert_string_equal(out, "-");
	assert_int_equal(allow_policy_parse("prompt", &p), 0);
	assert_int_equal(p, ALLOW_PROMPT);
	assert_int_equal(allow_policy_parse("tofu", &p), 0);
	assert_int_equal(p, ALLOW_TOFU);
	assert_int_equal(allow_policy_parse("Prompt", &p), PED_E_RANGE);
	assert_int_equal(allow_policy_parse("", &p), PED_E_RANGE);
	assert_string_equal(allow_policy_name(ALLOW_LIST), "list");
}

static void test_add_delete_reload(void **state)
{
	allow_t *a = NULL, *b = NULL;
	uint8_t fp1[ALLOW_FP_LEN], fp2[ALLOW_FP_LEN], fp3[ALLOW_FP_LEN];
	unsigned n = 0;

	(void)state;
	memset(fp1, 1, sizeof(fp1));
	memset(fp2, 2, sizeof(fp2));
	memset(fp3, 3, sizeof(fp3));
	assert_int_equal(allow_load(dir, &a), 0); /* no file: empty */
	assert_int_equal(allow_count(a), 0);
	assert_int_equal(allow_add(a, fp1, "111", "lab-a", "cli"), 0);
	assert_int_equal(allow_add(a, fp2, "222", "", "ped"), 0);
	assert_int_equal(allow_add(a, fp3, "222", "", "tofu"), 0);
	assert_int_equal(allow_add(a, fp1, "999", "", "cli"), PED_E_EXISTS);
	assert_int_equal(allow_add(a, fp1, "bad serial", "", "cli"), PED_E_INVAL);
	assert_int_equal(allow_count(a), 3);
	/* the file holds what the list holds */
	assert_int_equal(allow_load(dir, &b), 0);
	assert_int_equal(allow_count(b), 3);
	assert_string_equal(allow_find(b, fp1)->serial, "111");
	assert_string_equal(allow_find(b, fp1)->name, "lab-a");
	assert_string_equal(allow_find(b, fp2)->how, "ped");
	assert_string_equal(allow_find(b, fp2)->name, "");
	assert_int_equal(strlen(allow_find(b, fp3)->added), 20);
	allow_free(b);
	/* delete by serial takes every entry with it; unknown: NOT_FOUND */
	assert_int_equal(allow_delete(a, NULL, "222", &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(allow_delete(a, NULL, "222", &n), PED_E_NOT_FOUND);
	assert_int_equal(allow_delete(a, fp2, NULL, &n), PED_E_NOT_FOUND);
	assert_int_equal(allow_delete(a, fp1, NULL, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(allow_load(dir, &b), 0);
	assert_int_equal(allow_count(b), 0);
	allow_free(b);
	allow_free(a);
}

static void test_full(void **state)
{
	allow_t *a = NULL;
	uint8_t fp[ALLOW_FP_LEN] = {0};

	(void)state;
	write_file("");
	assert_int_equal(allow_load(dir, &a), 0);
	for (unsigned i = 0; i < ALLOW_MAX; i++) {
		fp[0] = (uint8_t)i;
		fp[1] = (uint8_t)(i >> 8);
		assert_int_equal(allow_add(a, fp, "1", "", "cli"), 0);
	}
	fp[2] = 1;
	assert_int_equal(allow_add(a, fp, "1", "", "cli"), PED_E_ALLOWLIST_FULL);
	allow_free(a);
}

static void test_corrupt(void **state)
{
	static const char *const bad[] = {
		"0101 111 2026-12-03T13:10:32Z cli\n", /* short fingerprint */
		"zz01010101010101010101010101010101010101010101010101010101010101 1 t cli\n",
		"0101010101010101010101010101010101010101010101010101010101010101 1 t\n",
		"0101010101010101010101010101010101010101010101010101010101010101 a b c d e\n",
		"0101010101010101010101010101010101010101010101010101010101010101 1 t cli\n"
		"0101010101010101010101010101010101010101010101010101010101010101 2 t cli\n",
	};
	allow_t *a = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file(bad[i]);
		assert_int_equal(allow_load(dir, &a), PED_E_STATE_CORRUPT);
		assert_null(a);
	}
	write_file("# comment\n\n0101010101010101010101010101010101010101010101010101010101010101 "
		   "1 2026-12-03T13:10:32Z cli lab\n");
	assert_int_equal(allow_load(dir, &a), 0);
	assert_int_equal(allow_count(a), 1);
	assert_string_equal(allow_at(a, 0)->name, "lab");
	allow_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fingerprint_text),
		cmocka_unit_test(test_words_and_policies),
		cmocka_unit_test_setup_teardown(test_add_delete_reload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
