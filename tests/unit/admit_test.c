/* admit_test.c - pedserver's per-source admission (pedserver/admit.c):
 * token bucket, concurrent cap, IPv6 grouped by /64, IPv4-mapped = IPv4,
 * a bounded table that forgets idle sources first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h> /* sockaddr_in, AF_*, uv_inet_pton: POSIX and Windows alike */

#include "common/err.h"
#include "pedserver/admit.h"

static void key4(const char *ip, uint8_t key[ADMIT_KEY_LEN])
{
	struct sockaddr_in sa = {.sin_family = AF_INET};

	assert_int_equal(uv_inet_pton(AF_INET, ip, &sa.sin_addr), 0);
	assert_int_equal(admit_key((struct sockaddr *)&sa, key), 0);
}

static void key6(const char *ip, uint8_t key[ADMIT_KEY_LEN])
{
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6};

	assert_int_equal(uv_inet_pton(AF_INET6, ip, &sa.sin6_addr), 0);
	assert_int_equal(admit_key((struct sockaddr *)&sa, key), 0);
}

static void test_keys(void **state)
{
	uint8_t a[ADMIT_KEY_LEN], b[ADMIT_KEY_LEN];
	struct sockaddr sa = {.sa_family = AF_UNIX};

	(void)state;
	key6("2001:db8:1:2::1", a);
	key6("2001:db8:1:2:ffff:1:2:3", b);
	assert_memory_equal(a, b, ADMIT_KEY_LEN); /* one /64 */
	key6("2001:db8:1:3::1", b);
	assert_memory_not_equal(a, b, ADMIT_KEY_LEN);
	key4("192.0.2.7", a);
	key6("::ffff:192.0.2.7", b);
	assert_memory_equal(a, b, ADMIT_KEY_LEN); /* mapped = the IPv4 address */
	key4("192.0.2.8", b);
	assert_memory_not_equal(a, b, ADMIT_KEY_LEN);
	assert_int_equal(admit_key(&sa, a), PED_E_INVAL);
}

static void test_rate_and_concurrency(void **state)
{
	struct admit_cfg cfg = {.per_source = 3, .rate = 2, .burst = 4};
	uint8_t a[ADMIT_KEY_LEN], b[ADMIT_KEY_LEN];
	admit_t *ad;

	(void)state;
	assert_int_equal(admit_new(&cfg, &ad), 0);
	key4("10.1.1.1", a);
	key4("10.1.1.2", b);
	/* three at once, the fourth over the concurrent cap (it still costs a
	 * token: the bucket of 4 is empty now) */
	for (int i = 0; i < 3; i++)
		assert_int_equal(admit_enter(ad, a, 1000), ADMIT_OK);
	assert_int_equal(admit_enter(ad, a, 1000), ADMIT_PER_SOURCE);
	assert_int_equal(admit_count(ad, a), 3);
	/* another source is not affected */
	assert_int_equal(admit_enter(ad, b, 1000), ADMIT_OK);
	/* the bucket is empty, whatever the concurrency */
	admit_leave(ad, a);
	admit_leave(ad, a);
	assert_int_equal(admit_enter(ad, a, 1000), ADMIT_RATE);
	assert_int_equal(admit_count(ad, a), 1);
	/* 2 per second: one token after 500 ms, not before (a refusal for the
	 * rate costs nothing) */
	assert_int_equal(admit_enter(ad, a, 1499), ADMIT_RATE);
	assert_int_equal(admit_enter(ad, a, 1500), ADMIT_OK);
	assert_int_equal(admit_enter(ad, a, 1500), ADMIT_RATE);
	/* a long pause refills to the burst, not beyond */
	admit_leave(ad, a);
	admit_leave(ad, a);
	for (int i = 0; i < 3; i++)
		assert_int_equal(admit_enter(ad, a, 100000), ADMIT_OK);
	assert_int_equal(admit_enter(ad, a, 100000), ADMIT_PER_SOURCE);
	admit_free(ad);
}

/* More sources than the table holds: idle ones are forgotten, busy ones
 * (with pre-session connections) are kept. */
static void test_table_bound(void **state)
{
	struct admit_cfg cfg = {.per_source = 2, .rate = 1, .burst = 2};
	uint8_t k[ADMIT_KEY_LEN], keep[ADMIT_KEY_LEN];
	admit_t *ad;
	char ip[32];
	unsigned slot;

	(void)state;
	assert_int_equal(admit_new(&cfg, &ad), 0);
	key4("10.9.9.9", keep);
	assert_int_equal(admit_enter(ad, keep, 0), ADMIT_OK);
	assert_int_equal(admit_enter(ad, keep, 0), ADMIT_OK);
	slot = admit_slot(ad, keep);
	assert_true(slot < ADMIT_SOURCES);
	for (unsigned i = 0; i < 3 * ADMIT_SOURCES; i++) {
		snprintf(ip, sizeof(ip), "10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
		key4(ip, k);
		assert_int_equal(admit_enter(ad, k, 10), ADMIT_OK);
		admit_leave(ad, k);
	}
	assert_int_equal(admit_count(ad, keep), 2);
	/* its entry was never reused while it held handshakes */
	assert_int_equal(admit_slot(ad, keep), slot);
	assert_int_equal(admit_slot_count(ad, slot), 2);
	assert_int_equal(admit_slot_count(ad, ADMIT_SOURCES), 0);
	assert_int_equal(admit_enter(ad, keep, 100000), ADMIT_PER_SOURCE);
	admit_free(ad);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_rate_and_concurrency),
		cmocka_unit_test(test_table_bound),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
