/* pedclient_hsmsock_test.c - the hsm.sock request line (pedclient/hsmsock.c):
 * slot and words, the bounds, and what is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "pedclient/hsmsock.h"

static int parse(const char *text, unsigned *slot, int *argc, char **argv, int max, char *buf)
{
	snprintf(buf, HSMSOCK_LINE_MAX + 64, "%s", text);
	return hsmsock_parse(buf, slot, argc, argv, max);
}

static void good_lines(void **state)
{
	char buf[HSMSOCK_LINE_MAX + 64], *argv[HSMSOCK_ARGS_MAX];
	unsigned slot;
	int argc;

	(void)state;
	assert_int_equal(parse("0 hsm show", &slot, &argc, argv, HSMSOCK_ARGS_MAX, buf), 0);
	assert_int_equal(slot, 0);
	assert_int_equal(argc, 2);
	assert_string_equal(argv[0], "hsm");
	assert_string_equal(argv[1], "show");

	assert_int_equal(parse("15 role  login -name so", &slot, &argc, argv, HSMSOCK_ARGS_MAX,
			       buf), 0);
	assert_int_equal(slot, 15);
	assert_int_equal(argc, 4);
	assert_string_equal(argv[3], "so");

	assert_int_equal(parse(" 3 ped vector init ", &slot, &argc, argv, HSMSOCK_ARGS_MAX, buf), 0);
	assert_int_equal(slot, 3);
	assert_int_equal(argc, 3);
	assert_string_equal(argv[2], "init");
}

static void refused_lines(void **state)
{
	char buf[HSMSOCK_LINE_MAX + 64], *argv[HSMSOCK_ARGS_MAX];
	char longline[HSMSOCK_LINE_MAX + 8];
	unsigned slot = 7;
	int argc = 7;

	(void)state;
	assert_int_equal(parse("", &slot, &argc, argv, HSMSOCK_ARGS_MAX, buf), PED_E_PARSE);
	assert_int_equal(slot, 0);
	assert_int_equal(argc, 0);
	assert_int_equal(parse("0", &slot, &argc, argv, HSMSOCK_ARGS_MAX, buf), PED_E_PARSE);
	assert_int_equal(parse("hsm show", &slot, &argc, argv, HSMSOCK_ARGS_MAX, buf), PED_E_PARSE);
	assert_int_equal(parse("-1 hsm show", &slot, &argc, argv, HSMSOCK_ARGS_MAX, buf),
			 PED_E_PARSE);
	assert_int_equal(parse("01 hsm show", &slot, &argc, argv, HSMSOCK_ARGS_MAX, buf),
			 PED_E_PARSE);
	assert_int_equal(parse("100 hsm show", &slot, &argc, argv, HSMSOCK_ARGS_MAX, buf),
			 PED_E_PARSE);
	assert_int_equal(parse("0 hsm\tshow", &slot, &argc, argv, HSMSOCK_ARGS_MAX, buf),
			 PED_E_PARSE);
	assert_int_equal(parse("0 hsm \x7f", &slot, &argc, argv, HSMSOCK_ARGS_MAX, buf),
			 PED_E_PARSE);
	assert_int_equal(parse("0 hsm init -label \xc3\xa9", &slot, &argc, argv,
			       HSMSOCK_ARGS_MAX, buf), PED_E_PARSE);
	/* word count bound */
	assert_int_equal(parse("0 a b c", &slot, &argc, argv, 2, buf), PED_E_TOO_LONG);
	assert_int_equal(parse("0 a b", &slot, &argc, argv, 2, buf), 0);
	/* length bound */
	memset(longline, 'a', sizeof(longline) - 1);
	longline[0] = '0';
	longline[1] = ' ';
	longline[sizeof(longline) - 1] = '\0';
	assert_int_equal(parse(longline, &slot, &argc, argv, HSMSOCK_ARGS_MAX, buf),
			 PED_E_TOO_LONG);
	longline[HSMSOCK_LINE_MAX] = '\0';
	assert_int_equal(parse(longline, &slot, &argc, argv, HSMSOCK_ARGS_MAX, buf), 0);
	assert_int_equal(argc, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(good_lines),
		cmocka_unit_test(refused_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
