/* prog_test.c - unit tests for the daemons' shared command-line flow
 * (common/prog.h): command-line overrides onto the config, the log level
 * flags, the assignments of `-mode config -set`, the default state dir,
 * JSON strings; and that conf/pedserver.conf is exactly what pedserver's
 * config table generates. After changing that table, regenerate it with
 *     build/tests/unit/prog_test --print-pedserver-conf > conf/pedserver.conf */
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
#include "common/log.h"
#include "common/prog.h"
/* pedserver's table itself (one CFG_TABLE per translation unit) */
#include "pedserver/conf.c"
#include "pedserver/opts.c"

#define T_CFG(X)                                                              \
	X(Server, Port, INT, 1503, 1, 65535, "server port")                     \
	X(Server, Name, STRING, "", 0, 32, "a name")                            \
	X(Logging, LogInfo, BOOL, 1, 0, 1, "info")                              \
	X(Logging, LogTrace, BOOL, 0, 0, 1, "trace")                            \
	X(Logging, LogFileName, PATH, "", 0, 0, "log file")
CFG_STRUCT(t_cfg, T_CFG);
/* CFG_TABLE by hand: the one of this translation unit is pedserver's */
#define T_KEY_(sec, key, type, def, min, max, help)                             \
	{ #sec, #key, CFG_##type, CFG_DEF_##type(def), (min), (max), (help),      \
	  offsetof(struct t_cfg, key) },
static const struct cfg_key t_keys[] = { T_CFG(T_KEY_) };
static const struct cfg_table t_table = {t_keys, sizeof(t_keys) / sizeof(t_keys[0]),
					 sizeof(struct t_cfg)};

enum { TM_START, TM_CONFIG, TM_COUNT };
static const struct cli_mode t_modes[TM_COUNT] = {
	[TM_START] = {"start", "start", NULL},
	[TM_CONFIG] = {"config", "config", NULL},
};
static const struct cli_opt t_opts[] = {
	{.name = "port", .type = CLI_INT, .min = 1, .max = 65535, .cfgkey = "Port"},
	{.name = "name", .type = CLI_STRING, .max = 64, .cfgkey = "Name"},
	{.name = "loginfo", .type = CLI_INT, .min = 0, .max = 1, .cfgkey = "LogInfo"},
	{.name = "logtrace", .type = CLI_INT, .min = 0, .max = 1, .cfgkey = "LogTrace"},
	{.name = "logerror", .type = CLI_INT, .min = 0, .max = 1}, /* no key in t_table */
	{.name = "logfile", .alias = "logfilename", .type = CLI_PATH, .cfgkey = "LogFileName"},
	{.name = "verbose", .type = CLI_FLAG, .cfgkey = "LogTrace"},
	{.name = "set", .type = CLI_FLAG, .flags = CLI_BARE_NAMES, .modes = CLI_MODE(TM_CONFIG)},
	{.name = "statedir", .type = CLI_PATH},
};
static const struct cli_spec spec = {"t", NULL, t_modes, TM_COUNT, t_opts,
				     sizeof(t_opts) / sizeof(t_opts[0])};

static void parse(struct cli_result *r, int argc, char **argv)
{
	char err[CLI_ERR_MAX];

	assert_int_equal(cli_parse(&spec, argc, argv, r, err, sizeof(err)), 0);
}

static void test_overrides(void **state)
{
	char *argv[] = {"t", "-mode", "start", "-port", "1600", "-logfile", "/tmp/x.log",
			"-statedir", "/tmp/s"};
	struct cli_result r;
	struct t_cfg c;
	char err[CFG_ERR_MAX];

	(void)state;
	parse(&r, 9, argv);
	cfg_defaults(&t_table, &c);
	assert_int_equal(prog_apply_overrides(&spec, &r, &t_table, &c, err, sizeof(err)), 0);
	assert_int_equal(c.Port, 1600);
	assert_string_equal(c.LogFileName, "/tmp/x.log");
	assert_string_equal(c.Name, ""); /* untouched */
	assert_true(c.LogInfo);
}

static void test_override_error_names_option(void **state)
{
	/* the cli accepts 40 characters, the config key only 32 */
	char *argv[] = {"t", "-mode", "start", "-name", "0123456789012345678901234567890123456789"};
	struct cli_result r;
	struct t_cfg c;
	char err[CFG_ERR_MAX];

	(void)state;
	parse(&r, 5, argv);
	cfg_defaults(&t_table, &c);
	assert_int_not_equal(prog_apply_overrides(&spec, &r, &t_table, &c, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "-name: "));
	assert_string_equal(c.Name, "");
}

static void test_flag_override(void **state)
{
	char *argv[] = {"t", "-mode", "start", "-verbose"};
	struct cli_result r;
	struct t_cfg c;
	char err[CFG_ERR_MAX];

	(void)state;
	parse(&r, 4, argv);
	cfg_defaults(&t_table, &c);
	assert_int_equal(prog_apply_overrides(&spec, &r, &t_table, &c, err, sizeof(err)), 0);
	assert_true(c.LogTrace);
}

static void test_log_mask(void **state)
{
	char *a1[] = {"t", "-mode", "start"};
	char *a2[] = {"t", "-mode", "start", "-loginfo", "0", "-logtrace", "1", "-logerror", "0"};
	const unsigned def = LOG_MASK(LOG_LVL_ERROR) | LOG_MASK(LOG_LVL_WARNING) |
			     LOG_MASK(LOG_LVL_INFO);
	struct cli_result r;
	struct t_cfg c;
	char err[CFG_ERR_MAX];

	(void)state;
	parse(&r, 3, a1);
	cfg_defaults(&t_table, &c);
	assert_int_equal(prog_log_mask(&spec, &r, &t_table, &c), def);
	assert_int_equal(prog_log_mask(&spec, &r, NULL, NULL), def);

	parse(&r, 9, a2);
	/* options alone (no table) */
	assert_int_equal(prog_log_mask(&spec, &r, NULL, NULL),
			 LOG_MASK(LOG_LVL_WARNING) | LOG_MASK(LOG_LVL_TRACE));
	/* with the table: the keys decide, after the overrides */
	assert_int_equal(prog_apply_overrides(&spec, &r, &t_table, &c, err, sizeof(err)), 0);
	assert_int_equal(prog_log_mask(&spec, &r, &t_table, &c),
			 LOG_MASK(LOG_LVL_WARNING) | LOG_MASK(LOG_LVL_TRACE));
	/* a key set in the file, no option */
	parse(&r, 3, a1);
	cfg_defaults(&t_table, &c);
	c.LogInfo = false;
	assert_int_equal(prog_log_mask(&spec, &r, &t_table, &c),
			 LOG_MASK(LOG_LVL_ERROR) | LOG_MASK(LOG_LVL_WARNING));
}

static void test_collect_assign(void **state)
{
	char *argv[] = {"t", "-mode", "config", "-set", "LogFileName", "/var/log/t.log",
			"-port", "1700", "-logerror", "1", "-statedir", "/tmp/s"};
	struct cli_result r;
	struct cfg_assign a[8];
	size_t n;

	(void)state;
	parse(&r, 12, argv);
	n = prog_collect_assign(&spec, &r, a, 8);
	/* table order; -logerror has no key, -statedir and -set are not config */
	assert_int_equal(n, 2);
	assert_string_equal(a[0].key, "Port");
	assert_string_equal(a[0].value, "1700");
	assert_string_equal(a[1].key, "LogFileName");
	assert_string_equal(a[1].value, "/var/log/t.log");
	assert_int_equal(prog_collect_assign(&spec, &r, a, 1), 1);
}

static void test_argv_has(void **state)
{
	char *argv[] = {"pedserver", "-Appliance", "list", "--regen=1", "name"};

	(void)state;
	assert_true(prog_argv_has(5, argv, "appliance"));
	assert_true(prog_argv_has(5, argv, "regen"));
	assert_false(prog_argv_has(5, argv, "name")); /* a bare word is no option */
	assert_false(prog_argv_has(5, argv, "app"));
}

static void test_json_str(void **state)
{
	char b[64];

	(void)state;
	prog_json_str(b, sizeof(b), "a\"b\\c\n\x01\xc3\xa9");
	assert_string_equal(b, "\"a\\\"b\\\\c\\u000a\\u0001\\u00c3\\u00a9\"");
	prog_json_str(b, 8, "abcdefghij");
	assert_string_equal(b, "\"abcde\"");
	prog_json_str(b, 9, "ab\ncd");
	assert_string_equal(b, "\"ab\"");
}

static void test_default_statedir(void **state)
{
	char b[4096];

	(void)state;
	setenv("XDG_STATE_HOME", "/x/state", 1);
	assert_int_equal(prog_default_statedir(b, sizeof(b), "pedserver"), 0);
	if (geteuid() == 0)
		assert_string_equal(b, "/var/lib/pedserver");
	else
		assert_string_equal(b, "/x/state/pedserver");
	assert_int_equal(prog_default_statedir(b, 8, "pedserver"), PED_E_TOO_LONG);
}

static void test_pedserver_table(void **state)
{
	char err[CFG_ERR_MAX];
	struct pedserver_cfg c;

	(void)state;
	assert_int_equal(cfg_check_table(&pedserver_cfg_table, err, sizeof(err)), 0);
	cfg_defaults(&pedserver_cfg_table, &c);
	assert_int_equal(c.Port, 1503);
	assert_int_equal(c.AdminPort, 1502);
	assert_int_equal(c.IdleTimeout, 1800);
	assert_int_equal(c.PedOperationTimeout, 200);
	assert_int_equal(c.PedWriteDelay, 0);
	/* every option with a cfgkey names a key of the table */
	for (size_t i = 0; i < pedserver_cli.nopts; i++)
		if (pedserver_cli.opts[i].cfgkey != NULL)
			assert_true(cfg_find(&pedserver_cfg_table, pedserver_cli.opts[i].cfgkey) >= 0);
}

static char *template_text(size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	assert_non_null(f);
	assert_int_equal(cfg_write_template(&pedserver_cfg_table, f), 0);
	fclose(f);
	return buf;
}

static void test_pedserver_conf_committed(void **state)
{
	size_t len, flen;
	char *gen = template_text(&len), *file = malloc(CFG_FILE_MAX + 1);
	FILE *f = fopen("conf/pedserver.conf", "rb");

	(void)state;
	assert_non_null(file);
	assert_non_null(f); /* run from the repository root */
	flen = fread(file, 1, CFG_FILE_MAX + 1, f);
	fclose(f);
	if (flen != len || memcmp(file, gen, len) != 0)
		fail_msg("conf/pedserver.conf differs from the table: regenerate it with "
			 "prog_test --print-pedserver-conf");
	free(file);
	free(gen);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_overrides),
		cmocka_unit_test(test_override_error_names_option),
		cmocka_unit_test(test_flag_override),
		cmocka_unit_test(test_log_mask),
		cmocka_unit_test(test_collect_assign),
		cmocka_unit_test(test_argv_has),
		cmocka_unit_test(test_json_str),
		cmocka_unit_test(test_default_statedir),
		cmocka_unit_test(test_pedserver_table),
		cmocka_unit_test(test_pedserver_conf_committed),
	};

	if (argc == 2 && strcmp(argv[1], "--print-pedserver-conf") == 0)
		return cfg_write_template(&pedserver_cfg_table, stdout) == 0 ? 0 : 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
