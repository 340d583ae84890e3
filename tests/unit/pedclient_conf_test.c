/* pedclient_conf_test.c - pedclient's config table is sound, and the
 * committed conf/pedclient.conf is exactly what the table generates
 * (regenerate it with: build/tests/unit/pedclient_conf_test -write). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/cfg.h"
#include "common/err.h"
#include "pedclient/config.h"
#include "tests/unit/memfile.h"

#define CONF "conf/pedclient.conf"

static char *template_text(size_t *len)
{
	FILE *f = memfile_open();
	char *text;

	assert_non_null(f);
	assert_int_equal(cfg_write_template(&pedclient_cfg_table, f), 0);
	text = memfile_text(f, len);
	assert_non_null(text);
	return text;
}

static void table_is_sound(void **state)
{
	char err[CFG_ERR_MAX];
	struct pedclient_cfg c;

	(void)state;
	assert_int_equal(cfg_check_table(&pedclient_cfg_table, err, sizeof(err)), 0);
	cfg_defaults(&pedclient_cfg_table, &c);
	assert_int_equal(c.AdminPort, PEDCLIENT_ADMIN_PORT);
	assert_int_not_equal(c.AdminPort, 1502);
	assert_int_equal(c.Slots, 1);
	assert_int_equal(c.IdleTimeout, 1800);
	assert_int_equal(cfg_set_value(&pedclient_cfg_table, &c, "Slots", "17", err, sizeof(err)),
			 PED_E_RANGE);
	assert_non_null(strstr(err, "1-16"));
}

static void committed_file_matches(void **state)
{
	size_t len = 0, flen;
	char *text = template_text(&len), *file;
	FILE *f = fopen(CONF, "rb");

	(void)state;
	assert_non_null(f);
	file = malloc(len + 2);
	assert_non_null(file);
	flen = fread(file, 1, len + 1, f);
	fclose(f);
	if (flen != len || memcmp(file, text, len) != 0)
		fail_msg(CONF " differs from the table: run pedclient_conf_test -write");
	/* the template parses back to the defaults */
	{
		struct pedclient_cfg a, b;
		char err[CFG_ERR_MAX];
		assert_int_equal(cfg_parse_mem(&pedclient_cfg_table, &a, CONF, file, flen, NULL,
					       NULL, err, sizeof(err)), 0);
		cfg_defaults(&pedclient_cfg_table, &b);
		assert_memory_equal(&a, &b, sizeof(a));
	}
	free(file);
	free(text);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(table_is_sound),
		cmocka_unit_test(committed_file_matches),
	};

	if (argc == 2 && strcmp(argv[1], "-write") == 0) {
		FILE *f = fopen(CONF, "wb");
		if (f == NULL || cfg_write_template(&pedclient_cfg_table, f) != 0 || fclose(f) != 0)
			return 1;
		return 0;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
