/* wire_test.c - session framing and hello messages (session/wire.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/err.h"
#include "session/wire.h"

static void test_header_limits(void **state)
{
	(void)state;
	uint8_t hdr[WIRE_HDR_LEN] = {WIRE_VERSION, WIRE_HELLO};
	uint8_t type;
	uint32_t len;
	static const uint32_t bad[] = {WIRE_MAX_HELLO + 1, 1u << 31, 0xffffffffu};

	assert_int_equal(wire_header(hdr, 5, WIRE_MAX_HELLO, &type, &len), PED_E_INCOMPLETE);
	pbuf_be32(hdr + 2, 0);
	assert_int_equal(wire_header(hdr, 6, WIRE_MAX_HELLO, &type, &len), 0);
	assert_int_equal(type, WIRE_HELLO);
	pbuf_be32(hdr + 2, WIRE_MAX_HELLO);
	assert_int_equal(wire_header(hdr, 6, WIRE_MAX_HELLO, &type, &len), 0);
	assert_int_equal(len, WIRE_MAX_HELLO);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		pbuf_be32(hdr + 2, bad[i]);
		assert_int_equal(wire_header(hdr, 6, WIRE_MAX_HELLO, &type, &len), PED_E_TOO_LONG);
		assert_int_equal(len, 0);
	}
	hdr[0] = 2;
	assert_int_equal(wire_header(hdr, 6, WIRE_MAX_HELLO, &type, &len), PED_E_VERSION);
	hdr[0] = 0x16; /* a TLS ClientHello is not us */
	assert_int_equal(wire_header(hdr, 6, WIRE_MAX_HELLO, &type, &len), PED_E_VERSION);
}

static void test_hello_round_trip_and_truncation(void **state)
{
	(void)state;
	struct wire_hello h = {1, 1, WIRE_PURPOSE_PROBE, "hsmhost", "123456"}, g;
	uint8_t mem[600];
	pbuf_t b;

	pbuf_over(&b, mem, sizeof(mem));
	assert_int_equal(wire_hello_encode(&h, &b), 0);
	assert_int_equal(wire_hello_decode(b.data, b.len, &g), 0);
	assert_memory_equal(&h, &g, sizeof(h));
	for (size_t n = 0; n < b.len; n++)
		assert_int_not_equal(wire_hello_decode(b.data, n, &g), 0);
	mem[b.len] = 0;
	assert_int_equal(wire_hello_decode(b.data, b.len + 1, &g), PED_E_TRAILING);
	mem[2] = 9; /* purpose */
	assert_int_equal(wire_hello_decode(b.data, b.len, &g), PED_E_PARSE);
	mem[2] = WIRE_PURPOSE_PROBE;
	mem[0] = 2; /* min > max */
	assert_int_equal(wire_hello_decode(b.data, b.len, &g), PED_E_PARSE);
	mem[0] = 1;
	mem[4] = '\n'; /* control character inside a string */
	assert_int_equal(wire_hello_decode(b.data, b.len, &g), PED_E_PARSE);
}

static void test_ack_and_error(void **state)
{
	(void)state;
	struct wire_hello_ack a = {1, "pedhost", "pedserver 0.1", 1, "pedemu 1.0", "1", 1,
				   "HSM 123 at 127.0.0.1 since 2026-11-23T10:00:00Z"},
			      c;
	struct wire_error e = {(uint16_t)-PED_E_VERSION, "version 1 only"}, f;
	uint8_t mem[2048];
	pbuf_t b;

	pbuf_over(&b, mem, sizeof(mem));
	assert_int_equal(wire_hello_ack_encode(&a, &b), 0);
	assert_int_equal(wire_hello_ack_decode(b.data, b.len, &c), 0);
	assert_memory_equal(&a, &c, sizeof(a));
	for (size_t n = 0; n < b.len; n++)
		assert_int_not_equal(wire_hello_ack_decode(b.data, n, &c), 0);
	pbuf_over(&b, mem, sizeof(mem));
	assert_int_equal(wire_error_encode(&e, &b), 0);
	assert_int_equal(wire_error_decode(b.data, b.len, &f), 0);
	assert_memory_equal(&e, &f, sizeof(e));
}

static void test_frame_all_or_nothing(void **state)
{
	(void)state;
	uint8_t mem[10], type;
	uint32_t len;
	pbuf_t b;

	pbuf_over(&b, mem, sizeof(mem));
	assert_int_equal(wire_frame(&b, WIRE_ERROR, (const uint8_t *)"abcde", 5), PED_E_NOSPACE);
	assert_int_equal(b.len, 0);
	assert_int_equal(wire_frame(&b, WIRE_ERROR, (const uint8_t *)"abcd", 4), 0);
	assert_int_equal(wire_header(b.data, b.len, WIRE_MAX_HELLO, &type, &len), 0);
	assert_int_equal(type, WIRE_ERROR);
	assert_int_equal(len, 4);
	assert_int_equal(wire_put_str(&b, "x\ny"), PED_E_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_limits),
		cmocka_unit_test(test_hello_round_trip_and_truncation),
		cmocka_unit_test(test_ack_and_error),
		cmocka_unit_test(test_frame_all_or_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
