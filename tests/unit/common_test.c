/* common_test.c - unit tests for the bounded buffer, the error table and hex. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/hex.h"

static void test_getters_never_overread(void **state)
{
	(void)state;
	const uint8_t data[] = {1, 2, 3, 4, 5, 6, 7};
	pbuf_t b, sub;
	uint8_t u8;
	uint16_t u16;
	uint32_t u32 = 99;
	uint64_t u64 = 99;
	const uint8_t *p;

	pbuf_from(&b, data, sizeof(data));
	assert_int_equal(pbuf_get_u64(&b, &u64), PED_E_INCOMPLETE);
	assert_int_equal(u64, 0); /* outputs cleared on entry */
	assert_int_equal(pbuf_avail(&b), 7); /* unchanged on failure */
	assert_int_equal(pbuf_get_u8(&b, &u8), 0);
	assert_int_equal(u8, 1);
	assert_int_equal(pbuf_get_u16(&b, &u16), 0);
	assert_int_equal(u16, 0x0203);
	assert_int_equal(pbuf_get_u32(&b, &u32), 0);
	assert_int_equal(u32, 0x04050607);
	assert_int_equal(pbuf_expect_end(&b), 0);
	assert_int_equal(pbuf_get_u8(&b, &u8), PED_E_INCOMPLETE);
	assert_int_equal(pbuf_get_view(&b, 1, &p), PED_E_INCOMPLETE);
	assert_null(p);
	assert_int_equal(pbuf_skip(&b, 1), PED_E_INCOMPLETE);

	pbuf_from(&b, data, sizeof(data));
	assert_int_equal(pbuf_get_sub(&b, 8, &sub), PED_E_INCOMPLETE);
	assert_int_equal(pbuf_get_sub(&b, 3, &sub), 0);
	assert_int_equal(pbuf_avail(&sub), 3);
	assert_int_equal(pbuf_expect_end(&b), PED_E_TRAILING);
	assert_int_equal(pbuf_get_u64(&sub, &u64), PED_E_INCOMPLETE);
	assert_int_equal(pbuf_get_u8(&sub, &u8), 0);
	assert_int_equal(u8, 1);
	/* a read-only view refuses writes */
	assert_int_equal(pbuf_put_u8(&sub, 1), PED_E_INVAL);
}

static void test_huge_lengths(void **state)
{
	(void)state;
	uint8_t data[4] = {0};
	pbuf_t b;
	const uint8_t *p;

	pbuf_from(&b, data, sizeof(data));
	assert_int_equal(pbuf_get_view(&b, SIZE_MAX, &p), PED_E_INCOMPLETE);
	assert_int_equal(pbuf_skip(&b, (size_t)1 << 31), PED_E_INCOMPLETE);
	assert_int_equal(pbuf_avail(&b), 4);
}

static void test_fixed_writer(void **state)
{
	(void)state;
	uint8_t mem[8];
	pbuf_t b;
	uint64_t v;

	pbuf_over(&b, mem, sizeof(mem));
	assert_int_equal(pbuf_put_u32(&b, 0x01020304), 0);
	assert_int_equal(pbuf_put_u64(&b, 1), PED_E_NOSPACE);
	assert_int_equal(b.len, 4); /* nothing partial was written */
	assert_int_equal(pbuf_put_u16(&b, 0x0506), 0);
	assert_int_equal(pbuf_put_u16(&b, 0x0708), 0);
	assert_int_equal(pbuf_put_u8(&b, 9), PED_E_NOSPACE);
	assert_int_equal(pbuf_get_u64(&b, &v), 0);
	assert_true(v == 0x0102030405060708ULL);
}

static void test_owned_growth_and_cap(void **state)
{
	(void)state;
	pbuf_t b;
	uint8_t chunk[100];
	int i;

	memset(chunk, 0xab, sizeof(chunk));
	pbuf_init(&b, 1000);
	for (i = 0; i < 10; i++)
		assert_int_equal(pbuf_put_bytes(&b, chunk, sizeof(chunk)), 0);
	assert_int_equal(pbuf_put_u8(&b, 1), PED_E_TOO_LONG);
	assert_int_equal(b.len, 1000);
	assert_int_equal(pbuf_skip(&b, 990), 0);
	pbuf_compact(&b);
	assert_int_equal(pbuf_avail(&b), 10);
	assert_int_equal(b.off, 0);
	assert_int_equal(pbuf_put_bytes(&b, chunk, 100), 0);
	pbuf_release(&b);
	assert_null(b.data);
	assert_int_equal(pbuf_avail(&b), 0);
	pbuf_release(&b); /* twice is harmless */
}

static void test_empty_owned_buffer(void **state)
{
	(void)state;
	pbuf_t b;
	uint8_t *p = (uint8_t *)&b;
	const uint8_t *v = (const uint8_t *)&b;

	/* no storage yet: no pointer arithmetic on NULL (UBSan checks this) */
	pbuf_init(&b, 64);
	assert_null(pbuf_ptr(&b));
	assert_int_equal(pbuf_reserve(&b, 0, &p), 0);
	assert_null(p);
	assert_int_equal(pbuf_get_view(&b, 0, &v), 0);
	assert_null(v);
	pbuf_compact(&b);
	pbuf_release(&b);
}

static void test_error_table(void **state)
{
	(void)state;
	assert_string_equal(ped_errname(0), "OK");
	assert_string_equal(ped_errname(PED_E_BAD_TAG), "BAD_RECORD_MAC");
	assert_string_equal(ped_errname(PED_E_KC_FAILED), "KEY_CONFIRMATION_FAILED");
	assert_string_equal(ped_errname(-9999), "UNKNOWN_ERROR");
	assert_string_equal(ped_errname(5), "UNKNOWN_ERROR");
	assert_string_equal(ped_strerror(-9999), "unknown error");
	assert_non_null(strstr(ped_strerror(PED_E_TOO_LONG), "limit"));
}

static void test_hex(void **state)
{
	(void)state;
	uint8_t out[4];
	char s[9];

	assert_int_equal(hex_decode("00aBfF", out, sizeof(out)), 3);
	assert_memory_equal(out, "\x00\xab\xff", 3);
	assert_int_equal(hex_decode("", out, sizeof(out)), 0);
	assert_int_equal(hex_decode("abc", out, sizeof(out)), PED_E_PARSE);
	assert_int_equal(hex_decode("zz", out, sizeof(out)), PED_E_PARSE);
	assert_int_equal(hex_decode("0011223344", out, sizeof(out)), PED_E_NOSPACE);
	hex_encode((const uint8_t *)"\x01\xfe", 2, s);
	assert_string_equal(s, "01fe");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_getters_never_overread),
		cmocka_unit_test(test_huge_lengths),
		cmocka_unit_test(test_fixed_writer),
		cmocka_unit_test(test_owned_growth_and_cap),
		cmocka_unit_test(test_empty_owned_buffer),
		cmocka_unit_test(test_error_table),
		cmocka_unit_test(test_hex),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
