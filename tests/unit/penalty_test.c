/* penalty_test.c - pedserver's per-source penalties (pedserver/penalty.c):
 * growth to the minimum, decay in real time, the maximum, expiry, IPv6 by
 * /64, the exempt list (and its parser), the bounded table, the blocked
 * list the kernel filter is made of. Time is the caller's (now_ms). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "common/err.h"
#include "pedserver/admit.h"
#include "pedserver/penalty.h"

static void addr4(const char *ip, uint8_t a[PENALTY_ADDR_LEN])
{
	struct sockaddr_in sa = {.sin_family = AF_INET};

	assert_int_equal(uv_inet_pton(AF_INET, ip, &sa.sin_addr), 0);
	assert_int_equal(admit_addr((struct sockaddr *)&sa, a), 0);
}

static void addr6(const char *ip, uint8_t a[PENALTY_ADDR_LEN])
{
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6};

	assert_int_equal(uv_inet_pton(AF_INET6, ip, &sa.sin6_addr), 0);
	assert_int_equal(admit_addr((struct sockaddr *)&sa, a), 0);
}

/* pedserver's defaults: 1 s per silent close, 5 s per silent eviction, 10 s
 * per missed HELLO deadline, 1 s per refusal; blocked from 15 s; at most
 * 600 s. */
static struct penalty_cfg defaults(void)
{
	struct penalty_cfg c = {.secs = {[PENALTY_NO_HELLO] = 1, [PENALTY_EVICTED] = 5,
					 [PENALTY_HELLO_TIMEOUT] = 10, [PENALTY_REFUSED] = 1},
				.min_s = 15, .max_s = 600};
	return c;
}

static penalty_t *make(const struct penalty_cfg *c)
{
	penalty_t *p = NULL;

	assert_int_equal(penalty_new(c, &p), 0);
	return p;
}

static void test_growth_to_min(void **state)
{
	struct penalty_cfg c = defaults();
	penalty_t *p = make(&c);
	uint8_t a[PENALTY_ADDR_LEN], b[PENALTY_ADDR_LEN];

	(void)state;
	addr4("192.0.2.7", a);
	addr4("192.0.2.8", b);
	for (int i = 0; i < 14; i++)
		assert_int_equal(penalty_add(p, a, PENALTY_NO_HELLO, 1000), PENALTY_ACCRUED);
	assert_false(penalty_blocked(p, a, 1000));
	assert_int_equal(penalty_left(p, a, 1000), 14000);
	assert_false(penalty_changed(p, 1000));
	assert_int_equal(penalty_add(p, a, PENALTY_NO_HELLO, 1000), PENALTY_ACTIVATED);
	assert_true(penalty_blocked(p, a, 1000));
	assert_true(penalty_changed(p, 1000));
	assert_false(penalty_changed(p, 1000)); /* said once */
	assert_int_equal(penalty_nblocked(p, 1000), 1);
	/* another source is not touched; an active source keeps accruing */
	assert_false(penalty_blocked(p, b, 1000));
	assert_int_equal(penalty_add(p, a, PENALTY_HELLO_TIMEOUT, 1000), PENALTY_ACCRUED);
	assert_int_equal(penalty_left(p, a, 1000), 25000);
	/* one missed deadline and a few silent ends of a real client: never blocked */
	assert_int_equal(penalty_add(p, b, PENALTY_HELLO_TIMEOUT, 1000), PENALTY_ACCRUED);
	assert_int_equal(penalty_add(p, b, PENALTY_NO_HELLO, 1000), PENALTY_ACCRUED);
	assert_false(penalty_blocked(p, b, 1000));
	/* three silent evictions block a source */
	addr4("192.0.2.9", b);
	assert_int_equal(penalty_add(p, b, PENALTY_EVICTED, 1000), PENALTY_ACCRUED);
	assert_int_equal(penalty_add(p, b, PENALTY_EVICTED, 1000), PENALTY_ACCRUED);
	assert_int_equal(penalty_add(p, b, PENALTY_EVICTED, 1000), PENALTY_ACTIVATED);
	penalty_free(p);
}

static void test_decay_and_expiry(void **state)
{
	struct penalty_cfg c = defaults();
	penalty_t *p = make(&c);
	uint8_t a[PENALTY_ADDR_LEN];

	(void)state;
	addr4("198.51.100.1", a);
	/* events spread over time decay: 1 s per second never reaches 15 s */
	for (uint64_t t = 0; t < 60000; t += 1000)
		assert_int_equal(penalty_add(p, a, PENALTY_NO_HELLO, t), PENALTY_ACCRUED);
	assert_false(penalty_blocked(p, a, 60000));
	/* two a second grow by one a second: blocked after about 15 s */
	uint64_t t = 100000;
	enum penalty_result r = PENALTY_ACCRUED;
	while (t < 200000 && (r = penalty_add(p, a, PENALTY_NO_HELLO, t)) != PENALTY_ACTIVATED)
		t += 500;
	assert_int_equal(r, PENALTY_ACTIVATED);
	assert_in_range(t, 112000, 118000);
	assert_true(penalty_changed(p, t));
	/* blocked while it lasts, not a millisecond longer */
	uint64_t left = penalty_left(p, a, t);
	assert_in_range(left, 15000, 16000);
	assert_int_equal(penalty_next_expiry(p, t), (int64_t)left);
	assert_true(penalty_blocked(p, a, t + left - 1));
	assert_false(penalty_changed(p, t + left - 1));
	assert_true(penalty_changed(p, t + left)); /* the filter must lose it */
	assert_false(penalty_blocked(p, a, t + left));
	assert_int_equal(penalty_left(p, a, t + left), 0);
	assert_int_equal(penalty_nblocked(p, t + left), 0);
	assert_int_equal(penalty_next_expiry(p, t + left), -1);
	/* after expiry it starts from nothing again */
	assert_int_equal(penalty_add(p, a, PENALTY_HELLO_TIMEOUT, t + left + 10), PENALTY_ACCRUED);
	assert_int_equal(penalty_left(p, a, t + left + 10), 10000);
	penalty_free(p);
}

static void test_max_and_off(void **state)
{
	struct penalty_cfg c = defaults();
	penalty_t *p = make(&c);
	uint8_t a[PENALTY_ADDR_LEN];

	(void)state;
	addr4("203.0.113.9", a);
	for (int i = 0; i < 1000; i++)
		penalty_add(p, a, PENALTY_HELLO_TIMEOUT, 5000);
	assert_int_equal(penalty_left(p, a, 5000), 600000);
	/* a lower maximum caps what follows */
	c.max_s = 60;
	penalty_set(p, &c);
	assert_int_equal(penalty_add(p, a, PENALTY_REFUSED, 6000), PENALTY_ACCRUED);
	assert_int_equal(penalty_left(p, a, 6000), 60000);
	/* an event worth 0 s and a maximum of 0 record nothing */
	c.secs[PENALTY_REFUSED] = 0;
	penalty_set(p, &c);
	addr4("203.0.113.10", a);
	assert_int_equal(penalty_add(p, a, PENALTY_REFUSED, 6000), PENALTY_NONE);
	c = defaults();
	c.max_s = 0;
	penalty_set(p, &c);
	assert_int_equal(penalty_add(p, a, PENALTY_HELLO_TIMEOUT, 6000), PENALTY_NONE);
	assert_int_equal(penalty_left(p, a, 6000), 0);
	penalty_free(p);
}

static void test_ipv6_by_64(void **state)
{
	struct penalty_cfg c = defaults();
	penalty_t *p = make(&c);
	uint8_t a[PENALTY_ADDR_LEN], b[PENALTY_ADDR_LEN], o[PENALTY_ADDR_LEN], m[PENALTY_ADDR_LEN];
	struct penalty_prefix l[4];

	(void)state;
	addr6("2001:db8:1:2::1", a);
	addr6("2001:db8:1:2:ffff:1:2:3", b);
	addr6("2001:db8:1:3::1", o);
	penalty_add(p, a, PENALTY_HELLO_TIMEOUT, 0);
	assert_int_equal(penalty_add(p, b, PENALTY_HELLO_TIMEOUT, 0), PENALTY_ACTIVATED);
	assert_true(penalty_blocked(p, a, 1));
	assert_false(penalty_blocked(p, o, 1));
	/* IPv4-mapped IPv6 is the IPv4 source */
	addr4("192.0.2.1", a);
	addr6("::ffff:192.0.2.1", m);
	assert_memory_equal(a, m, PENALTY_ADDR_LEN);
	penalty_add(p, m, PENALTY_HELLO_TIMEOUT, 0);
	penalty_add(p, a, PENALTY_HELLO_TIMEOUT, 0);
	assert_true(penalty_blocked(p, a, 1));
	/* the list for the filter: IPv4 /32 (128 bits), IPv6 /64, most left first */
	penalty_add(p, a, PENALTY_HELLO_TIMEOUT, 0);
	assert_int_equal(penalty_blocked_list(p, 1, l, 4), 2);
	assert_memory_equal(l[0].addr, a, PENALTY_ADDR_LEN);
	assert_int_equal(l[0].bits, 128);
	assert_int_equal(l[1].bits, 64);
	assert_memory_equal(l[1].addr, "\x20\x01\x0d\xb8\x00\x01\x00\x02\0\0\0\0\0\0\0\0", 16);
	assert_int_equal(penalty_blocked_list(p, 1, l, 1), 1);
	penalty_free(p);
}

static void test_exempt(void **state)
{
	struct penalty_cfg c = defaults();
	char err[200];
	penalty_t *p;
	uint8_t a[PENALTY_ADDR_LEN], b[PENALTY_ADDR_LEN], n[PENALTY_ADDR_LEN];

	(void)state;
	assert_int_equal(penalty_exempt_parse("192.0.2.7, 10.0.0.0/8  2001:db8:1:2::5,::1/128", &c,
					      err, sizeof(err)), 0);
	assert_int_equal(c.nexempt, 4);
	assert_int_equal(c.exempt[1].bits, 104);
	p = make(&c);
	addr4("10.200.3.4", a);
	for (int i = 0; i < 100; i++)
		assert_int_equal(penalty_add(p, a, PENALTY_HELLO_TIMEOUT, 0), PENALTY_NONE);
	assert_false(penalty_blocked(p, a, 0));
	addr4("11.0.0.1", a);
	assert_int_equal(penalty_add(p, a, PENALTY_HELLO_TIMEOUT, 0), PENALTY_ACCRUED);
	/* an exempt HSM in a /64 that is blocked still gets in (user space; the
	 * server also puts the exempt list first in the kernel filter) */
	addr6("2001:db8:1:2::6", b);
	addr6("2001:db8:1:2::5", n);
	penalty_add(p, b, PENALTY_HELLO_TIMEOUT, 0);
	penalty_add(p, b, PENALTY_HELLO_TIMEOUT, 0);
	assert_true(penalty_blocked(p, b, 1));
	assert_false(penalty_blocked(p, n, 1));
	assert_true(penalty_exempt(p, n));
	penalty_free(p);

	assert_int_equal(penalty_exempt_parse("", &c, err, sizeof(err)), 0);
	assert_int_equal(c.nexempt, 0);
	assert_int_equal(penalty_exempt_parse("10.0.0.1/8", &c, err, sizeof(err)), PED_E_BAD_PREFIX);
	assert_non_null(strstr(err, "10.0.0.1/8"));
	assert_int_equal(penalty_exempt_parse("300.1.1.1", &c, err, sizeof(err)), PED_E_BAD_PREFIX);
	assert_int_equal(penalty_exempt_parse("::1/129", &c, err, sizeof(err)), PED_E_BAD_PREFIX);
	assert_int_equal(penalty_exempt_parse("1.2.3.4/", &c, err, sizeof(err)), PED_E_BAD_PREFIX);
	assert_int_equal(penalty_exempt_parse("1.2.3.4/-1", &c, err, sizeof(err)), PED_E_BAD_PREFIX);
	assert_int_equal(penalty_exempt_parse("host.example", &c, err, sizeof(err)),
			 PED_E_BAD_PREFIX);
	assert_int_equal(penalty_exempt_parse("1.1.1.1 2.2.2.2 3.3.3.3 4.4.4.4 5.5.5.5 6.6.6.6 "
					      "7.7.7.7 8.8.8.8 9.9.9.9 10.10.10.10 11.11.11.11 "
					      "12.12.12.12 13.13.13.13 14.14.14.14 15.15.15.15 "
					      "16.16.16.16 17.17.17.17",
					      &c, err, sizeof(err)),
			 PED_E_TOO_MANY_PREFIXES);
}

static void nth(unsigned i, uint8_t a[PENALTY_ADDR_LEN])
{
	char ip[32];

	snprintf(ip, sizeof(ip), "10.%u.%u.1", i / 256, i % 256);
	addr4(ip, a);
}

static void test_bounded_table(void **state)
{
	struct penalty_cfg c = defaults();
	penalty_t *p = make(&c);
	uint8_t a[PENALTY_ADDR_LEN];
	static struct penalty_prefix l[PENALTY_SOURCES];

	(void)state;
	/* a full table of sources below the minimum: a newcomer takes the
	 * place of the one with the least left */
	for (unsigned i = 0; i < PENALTY_SOURCES; i++) {
		nth(i, a);
		assert_int_equal(penalty_add(p, a, PENALTY_HELLO_TIMEOUT, 0), PENALTY_ACCRUED);
		if (i != 5)
			penalty_add(p, a, PENALTY_NO_HELLO, 0);
	}
	nth(PENALTY_SOURCES, a);
	assert_int_equal(penalty_add(p, a, PENALTY_HELLO_TIMEOUT, 0), PENALTY_ACCRUED);
	nth(5, a);
	assert_int_equal(penalty_left(p, a, 0), 0); /* it was forgotten */
	nth(6, a);
	assert_int_equal(penalty_left(p, a, 0), 11000);
	/* every entry blocked: a new offender is not tracked */
	penalty_free(p);
	p = make(&c);
	for (unsigned i = 0; i < PENALTY_SOURCES; i++) {
		nth(i, a);
		penalty_add(p, a, PENALTY_HELLO_TIMEOUT, 0);
		assert_int_equal(penalty_add(p, a, PENALTY_HELLO_TIMEOUT, 0), PENALTY_ACTIVATED);
	}
	assert_int_equal(penalty_nblocked(p, 0), PENALTY_SOURCES);
	nth(PENALTY_SOURCES + 1, a);
	assert_int_equal(penalty_add(p, a, PENALTY_HELLO_TIMEOUT, 0), PENALTY_FULL);
	assert_false(penalty_blocked(p, a, 0));
	assert_int_equal(penalty_blocked_list(p, 0, l, PENALTY_SOURCES), PENALTY_SOURCES);
	/* once they have run out there is room again */
	assert_int_equal(penalty_add(p, a, PENALTY_HELLO_TIMEOUT, 20000), PENALTY_ACCRUED);
	assert_int_equal(penalty_nblocked(p, 20000), 0);
	penalty_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_growth_to_min),  cmocka_unit_test(test_decay_and_expiry),
		cmocka_unit_test(test_max_and_off),    cmocka_unit_test(test_ipv6_by_64),
		cmocka_unit_test(test_exempt),         cmocka_unit_test(test_bounded_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
