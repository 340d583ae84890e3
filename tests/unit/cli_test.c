/* cli_test.c - unit tests for command-line tables (common/cli.h): Luna
 * syntax, aliases, case, flags, "-set Name value", mode restrictions, every
 * error message, bounds on huge arguments, secrets, and the usage text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cli.h"
#include "common/err.h"
#include "tests/unit/memfile.h"

enum { M_CONFIG, M_SHOW, M_START, M_STOP, M_COUNT };

static int run_start(void *ctx, const struct cli_result *r)
{
	(void)ctx;
	return r->val[0].set ? (int)(r->val[0].num % 100) : 7;
}

static const struct cli_mode modes[M_COUNT] = {
	[M_CONFIG] = {"config", "show or change the configuration file", NULL},
	[M_SHOW] = {"show", "show the server's status", NULL},
	[M_START] = {"start", "start the server", run_start},
	[M_STOP] = {"stop", "stop the server", NULL},
};

enum { O_PORT, O_IP, O_FORCE, O_LOGFILE, O_LOGINFO, O_SET, O_SHOW, O_PEDWRITELAY,
       O_PIN, O_LEVEL, O_NAME, O_COUNT };

static const char *const levels[] = {"error", "warning", "info", "trace", NULL};

static const struct cli_opt opts[O_COUNT] = {
	[O_PORT] = {.name = "port", .type = CLI_INT, .min = 1, .max = 65535, .def = "1503",
		    .modes = CLI_MODE(M_START) | CLI_MODE(M_CONFIG), .help = "server TCP port",
		    .cfgkey = "Port"},
	[O_IP] = {.name = "ip", .type = CLI_STRING, .metavar = "<address>",
		  .modes = CLI_MODE(M_START), .help = "address to listen on"},
	[O_FORCE] = {.name = "force", .type = CLI_FLAG, .modes = CLI_MODE(M_START),
		     .help = "do not prompt"},
	[O_LOGFILE] = {.name = "logfile", .alias = "logfilename", .type = CLI_PATH,
		       .help = "log file", .cfgkey = "LogFileName"},
	[O_LOGINFO] = {.name = "loginfo", .type = CLI_INT, .min = 0, .max = 1,
		       .help = "log info messages"},
	[O_SET] = {.name = "set", .type = CLI_FLAG, .flags = CLI_BARE_NAMES,
		   .modes = CLI_MODE(M_CONFIG), .help = "write the options given to the file"},
	[O_SHOW] = {.name = "show", .type = CLI_FLAG, .modes = CLI_MODE(M_CONFIG),
		    .help = "print the configuration file"},
	[O_PEDWRITELAY] = {.name = "pedwritelay", .type = CLI_INT, .min = 0, .max = 10000,
			   .def = "0", .modes = CLI_MODE(M_START) | CLI_MODE(M_CONFIG),
			   .help = "PED write delay in microseconds"},
	[O_PIN] = {.name = "pin", .type = CLI_INT, .min = 0, .max = 9999, .def = "1234",
		   .flags = CLI_SECRET, .modes = CLI_MODE(M_START), .help = "a secret"},
	[O_LEVEL] = {.name = "level", .type = CLI_ENUM, .words = levels, .help = "log level"},
	[O_NAME] = {.name = "name", .type = CLI_STRING, .max = 8, .help = "appliance name"},
};

static const struct cli_spec spec = {"pedserver", "Remote PED server", modes, M_COUNT,
				     opts, O_COUNT};

static struct cli_result res;
static char err[CLI_ERR_MAX];

/* Parses a NULL-terminated list of arguments (program name added). */
static int parse_v(const struct cli_spec *s, const char *first, va_list ap)
{
	char *argv[64];
	int argc = 0;
	const char *a;

	argv[argc++] = (char *)"pedserver";
	for (a = first; a != NULL && argc < 63; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	argv[argc] = NULL;
	return cli_parse(s, argc, argv, &res, err, sizeof(err));
}

static int parse(const char *first, ...)
{
	va_list ap;
	int r;

	va_start(ap, first);
	r = parse_v(&spec, first, ap);
	va_end(ap);
	return r;
}

#define expect_ok(...) assert_int_equal(parse(__VA_ARGS__, NULL), 0)
#define expect_err(code, msg, ...)                                                 \
	do {                                                                       \
		assert_int_equal(parse(__VA_ARGS__, NULL), code);                  \
		assert_string_equal(err, msg);                                     \
	} while (0)

static void test_basic(void **state)
{
	(void)state;
	expect_ok("-mode", "start", "-port", "1600", "-force", "-logfile", "/tmp/x.log");
	assert_int_equal(res.mode, M_START);
	assert_false(res.help);
	assert_true(res.val[O_PORT].set);
	assert_int_equal(res.val[O_PORT].num, 1600);
	assert_string_equal(res.val[O_PORT].str, "1600");
	assert_true(res.val[O_FORCE].set);
	assert_int_equal(res.val[O_FORCE].num, 1);
	assert_null(res.val[O_FORCE].str);
	assert_string_equal(res.val[O_LOGFILE].str, "/tmp/x.log");
	assert_false(res.val[O_IP].set);
	assert_false(res.val[O_PEDWRITELAY].set);
	assert_string_equal(err, "");
}

static void test_aliases_case_and_forms(void **state)
{
	(void)state;
	expect_ok("-m", "START", "-PORT", "1", "--LogFileName", "/l", "-Force");
	assert_int_equal(res.mode, M_START);
	assert_int_equal(res.val[O_PORT].num, 1);
	assert_string_equal(res.val[O_LOGFILE].str, "/l");
	assert_true(res.val[O_FORCE].set);
	expect_ok("--mode=stop", "-logfile=/a=b", "--loginfo", "0", "-level", "TRACE");
	assert_int_equal(res.mode, M_STOP);
	assert_string_equal(res.val[O_LOGFILE].str, "/a=b");
	assert_int_equal(res.val[O_LOGINFO].num, 0);
	assert_true(res.val[O_LOGINFO].set);
	assert_int_equal(res.val[O_LEVEL].num, 3);
	/* -mode may come last, as in Luna's examples */
	expect_ok("-port", "65535", "-M", "config", "-set", "-pedwritelay", "50");
	assert_int_equal(res.mode, M_CONFIG);
	assert_int_equal(res.val[O_PORT].num, 65535);
	assert_true(res.val[O_SET].set);
	assert_int_equal(res.val[O_PEDWRITELAY].num, 50);
	expect_ok("-mode", "config", "-show");
	assert_true(res.val[O_SHOW].set);
	assert_false(res.val[O_SET].set);
	/* a negative number is a value, not an option */
	expect_err(PED_E_RANGE, "-port: -5 is out of range (1-65535)", "-mode", "start",
		   "-port", "-5");
	/* "+7" is a number */
	expect_ok("-mode", "start", "-port", "+7");
	assert_int_equal(res.val[O_PORT].num, 7);
}

static void test_set_bare_names(void **state)
{
	(void)state;
	/* Luna: pedserver -mode config -set LogFileName /tmp/x.log */
	expect_ok("-mode", "config", "-set", "LogFileName", "/tmp/x.log", "PedWriteLay=50",
		  "-port", "2");
	assert_true(res.val[O_SET].set);
	assert_string_equal(res.val[O_LOGFILE].str, "/tmp/x.log");
	assert_int_equal(res.val[O_PEDWRITELAY].num, 50);
	assert_int_equal(res.val[O_PORT].num, 2);
	expect_err(PED_E_PARSE, "-Colour: unknown option (see pedserver -help)", "-mode",
		   "config", "-set", "Colour", "blue");
	/* without -set, a bare word is just an unexpected argument */
	expect_err(PED_E_PARSE, "LogFileName: unexpected argument", "-mode", "config",
		   "LogFileName", "/x");
}

static void test_errors(void **state)
{
	(void)state;
	expect_err(PED_E_RANGE, "-port: 70000 is out of range (1-65535)", "-mode", "start",
		   "-port", "70000");
	expect_err(PED_E_RANGE, "-port: 99999999999999999999999 is out of range (1-65535)",
		   "-mode", "start", "-port", "99999999999999999999999");
	expect_err(PED_E_PARSE, "-port: abc is not a number (1-65535)", "-mode", "start",
		   "-port", "abc");
	expect_err(PED_E_PARSE, "-port: 15x is not a number (1-65535)", "-mode", "start",
		   "-port", "15x");
	expect_err(PED_E_PARSE, "-port: missing value (1-65535)", "-mode", "start", "-port");
	expect_err(PED_E_PARSE, "-port: missing value (1-65535)", "-mode", "start", "-port=");
	expect_err(PED_E_PARSE, "-logfile: missing value (a path)", "-mode", "start",
		   "-logfile", "-force");
	expect_err(PED_E_PARSE, "-logfile: empty path", "-mode", "start", "-logfile", "");
	expect_err(PED_E_PARSE, "-level: missing value (error, warning, info, trace)", "-mode",
		   "start", "-level");
	expect_err(PED_E_RANGE, "-level: loud is not one of: error, warning, info, trace",
		   "-mode", "start", "-level", "loud");
	expect_err(PED_E_TOO_LONG, "-name: value too long (max 8 characters)", "-mode", "start",
		   "-name", "123456789");
	expect_err(PED_E_PARSE, "-prot: unknown option (see pedserver -help)", "-mode", "start",
		   "-prot", "1");
	expect_err(PED_E_PARSE, "-port: given twice", "-mode", "start", "-port", "1", "-PORT",
		   "2");
	expect_err(PED_E_PARSE, "-port: given twice", "-mode", "start", "-port", "1", "--port=1");
	expect_err(PED_E_PARSE, "-mode: given twice", "-mode", "start", "-m", "stop");
	expect_err(PED_E_PARSE, "-force: takes no value", "-mode", "start", "-force=1");
	expect_err(PED_E_PARSE, "-mode: missing (config, show, start, stop)", "-port", "1");
	expect_err(PED_E_PARSE, "-mode: missing value (config, show, start, stop)", "-port",
		   "1", "-mode");
	expect_err(PED_E_RANGE, "-mode: begin is not one of: config, show, start, stop", "-mode",
		   "begin");
	expect_err(PED_E_PARSE, "extra: unexpected argument", "-mode", "start", "extra");
	expect_err(PED_E_PARSE, "-: unexpected argument", "-mode", "start", "-");
	expect_err(PED_E_PARSE, "--: unexpected argument", "-mode", "start", "--");
	/* syntax errors come before the mode checks, in argument order */
	expect_err(PED_E_PARSE, "-x: unknown option (see pedserver -help)", "-force", "-x");
}

static void test_mode_restrictions(void **state)
{
	(void)state;
	expect_err(PED_E_PARSE, "-force: not valid with -mode show (only with: start)", "-mode",
		   "show", "-force");
	expect_err(PED_E_PARSE, "-force: not valid with -mode show (only with: start)", "-force",
		   "-mode", "show");
	expect_err(PED_E_PARSE, "-port: not valid with -mode stop (only with: config, start)",
		   "-mode", "stop", "-port", "1");
	expect_err(PED_E_PARSE, "-set: not valid with -mode start (only with: config)", "-mode",
		   "start", "-set");
	/* options without a mode mask are valid everywhere */
	expect_ok("-mode", "show", "-logfile", "/x", "-loginfo", "1");
	expect_ok("-mode", "stop", "-logfile", "/x", "-loginfo", "1");
}

static void test_bounded_and_secret(void **state)
{
	size_t big = 1 << 20;
	char *huge = malloc(big + 2);
	(void)state;

	assert_non_null(huge);
	memset(huge, 'A', big);
	huge[big] = '\0';
	expect_err(PED_E_TOO_LONG, "-logfile: value too long (max 4095 characters)", "-mode",
		   "start", "-logfile", huge);
	expect_err(PED_E_PARSE, "-port: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA... is not a "
				"number (1-65535)", "-mode", "start", "-port", huge);
	huge[0] = '-';
	assert_int_equal(parse("-mode", "start", huge, NULL), PED_E_PARSE);
	assert_true(strlen(err) < 100);
	assert_non_null(strstr(err, "...: unknown option"));
	memcpy(huge, "-port=", 6);
	assert_int_equal(parse("-mode", "start", huge, NULL), PED_E_PARSE);
	assert_true(strlen(err) < 100);
	/* control characters are never echoed */
	expect_err(PED_E_PARSE, "-port: 1?[2J is not a number (1-65535)", "-mode", "start",
		   "-port", "1\x1b[2J");
	/* a secret value is never echoed */
	expect_err(PED_E_RANGE, "-pin: the value is out of range (0-9999)", "-mode", "start",
		   "-pin", "12345");
	expect_err(PED_E_PARSE, "-pin: the value is not a number (0-9999)", "-mode", "start",
		   "-pin", "12a45");
	free(huge);
}

static void test_help(void **state)
{
	char *argv[] = {(char *)"pedserver", NULL};
	(void)state;

	assert_int_equal(cli_parse(&spec, 1, argv, &res, err, sizeof(err)), 0);
	assert_true(res.help);
	expect_ok("-help");
	assert_true(res.help);
	expect_ok("-H");
	assert_true(res.help);
	expect_ok("--help");
	assert_true(res.help);
	expect_ok("-?");
	assert_true(res.help);
	/* help wins over errors, and keeps the mode for a shorter text */
	expect_ok("-mode", "start", "-bogus", "-h");
	assert_true(res.help);
	assert_int_equal(res.mode, M_START);
}

static char *usage_text(int mode)
{
	FILE *f = memfile_open();
	char *text;

	assert_non_null(f);
	cli_usage(&spec, mode, f);
	text = memfile_text(f, NULL);
	assert_non_null(text);
	return text;
}

static void test_usage(void **state)
{
	char *text = usage_text(-1), needle[64];
	size_t i;
	(void)state;

	assert_non_null(strstr(text, "Usage: pedserver -mode <mode> [options]\n"
				     "Remote PED server\n"));
	for (i = 0; i < M_COUNT; i++) {
		assert_non_null(strstr(text, modes[i].name));
		assert_non_null(strstr(text, modes[i].help));
	}
	for (i = 0; i < O_COUNT; i++) {
		snprintf(needle, sizeof(needle), "  -%s", opts[i].name);
		assert_non_null(strstr(text, needle));
		assert_non_null(strstr(text, opts[i].help));
	}
	assert_non_null(strstr(text, "-port <1-65535>"));
	assert_non_null(strstr(text, "server TCP port (default 1503) [config, start]"));
	assert_non_null(strstr(text, "-logfile, -logfilename <path>"));
	assert_non_null(strstr(text, "-level <error|warning|info|trace>"));
	assert_non_null(strstr(text, "-ip <address>"));
	assert_non_null(strstr(text, "-help, -h"));
	assert_null(strstr(text, "1234")); /* a secret's default is not shown */
	free(text);

	text = usage_text(M_SHOW);
	assert_non_null(strstr(text, "Options with -mode show:"));
	assert_null(strstr(text, "-force"));
	assert_null(strstr(text, "start the server"));
	assert_non_null(strstr(text, "-logfile"));
	free(text);
}

/* Runs fn with stdout and stderr captured into out. */
static int capture(int (*fn)(void *), void *arg, char *out, size_t outlen)
{
	FILE *tmp = tmpfile();
	int save1 = dup(1), save2 = dup(2), r;
	size_t n;

	assert_non_null(tmp);
	fflush(stdout);
	fflush(stderr);
	dup2(fileno(tmp), 1);
	dup2(fileno(tmp), 2);
	r = fn(arg);
	fflush(stdout);
	fflush(stderr);
	dup2(save1, 1);
	dup2(save2, 2);
	close(save1);
	close(save2);
	rewind(tmp);
	n = fread(out, 1, outlen - 1, tmp);
	out[n] = '\0';
	fclose(tmp);
	return r;
}

static int do_fail(void *arg)
{
	return cli_fail(&spec, arg);
}

struct main_args {
	int argc;
	char **argv;
};

static int do_main(void *arg)
{
	struct main_args *m = arg;
	return cli_main(&spec, m->argc, m->argv, NULL);
}

static void test_fail_and_main(void **state)
{
	char out[8192];
	char *a_start[] = {(char *)"pedserver", (char *)"-mode", (char *)"start",
			   (char *)"-port", (char *)"1542", NULL};
	char *a_none[] = {(char *)"pedserver", NULL};
	char *a_help[] = {(char *)"pedserver", (char *)"-help", NULL};
	char *a_bad[] = {(char *)"pedserver", (char *)"-mode", (char *)"start", (char *)"-port",
			 (char *)"0", NULL};
	char *a_stop[] = {(char *)"pedserver", (char *)"-mode", (char *)"stop", NULL};
	struct main_args m;
	(void)state;

	assert_int_equal(capture(do_fail, (void *)"-port: given twice", out, sizeof(out)), 2);
	assert_string_equal(out, "pedserver: -port: given twice\n");

	m = (struct main_args){5, a_start};
	assert_int_equal(capture(do_main, &m, out, sizeof(out)), 42);
	assert_string_equal(out, "");
	m = (struct main_args){1, a_none};
	assert_int_equal(capture(do_main, &m, out, sizeof(out)), 2);
	assert_non_null(strstr(out, "Usage: pedserver"));
	m = (struct main_args){2, a_help};
	assert_int_equal(capture(do_main, &m, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "Usage: pedserver"));
	m = (struct main_args){5, a_bad};
	assert_int_equal(capture(do_main, &m, out, sizeof(out)), 2);
	assert_string_equal(out, "pedserver: -port: 0 is out of range (1-65535)\n");
	m = (struct main_args){3, a_stop};
	assert_int_equal(capture(do_main, &m, out, sizeof(out)), 2);
	assert_string_equal(out, "pedserver: -mode stop: not implemented\n");
}

static void test_without_modes(void **state)
{
	/* pedemu-like: no command modes, -mode is an ordinary option */
	static const char *const pedmodes[] = {"local", "remote", "admin", NULL};
	static const struct cli_opt eopts[] = {
		{.name = "keys", .type = CLI_PATH, .help = "PED key directory"},
		{.name = "mode", .type = CLI_ENUM, .words = pedmodes, .def = "local",
		 .help = "PED mode"},
		{.name = "tui", .type = CLI_FLAG, .help = "terminal UI"},
	};
	static const struct cli_spec espec = {"pedemu", NULL, NULL, 0, eopts, 3};
	char *argv[] = {(char *)"pedemu", (char *)"-keys", (char *)"/k", (char *)"-mode",
			(char *)"Remote", NULL};
	char *text;
	FILE *f;
	(void)state;

	assert_int_equal(cli_parse(&espec, 5, argv, &res, err, sizeof(err)), 0);
	assert_int_equal(res.mode, -1);
	assert_false(res.help);
	assert_int_equal(res.val[1].num, 1);
	assert_string_equal(res.val[0].str, "/k");
	assert_int_equal(cli_parse(&espec, 1, argv, &res, err, sizeof(err)), 0);
	assert_false(res.help); /* no arguments is fine without modes */
	argv[1] = (char *)"-m";
	assert_int_equal(cli_parse(&espec, 3, argv, &res, err, sizeof(err)), PED_E_PARSE);
	assert_string_equal(err, "-m: unknown option (see pedemu -help)");
	f = memfile_open();
	assert_non_null(f);
	cli_usage(&espec, -1, f);
	text = memfile_text(f, NULL);
	assert_non_null(text);
	assert_non_null(strstr(text, "Usage: pedemu [options]\n"));
	assert_non_null(strstr(text, "-mode <local|remote|admin>"));
	assert_null(strstr(text, "Modes"));
	free(text);
}

static void test_bad_spec(void **state)
{
	struct cli_spec s = spec;
	char *argv[] = {(char *)"x", NULL};
	(void)state;

	s.nopts = CLI_MAX_OPTS + 1;
	assert_int_equal(cli_parse(&s, 1, argv, &res, err, sizeof(err)), PED_E_INVAL);
	assert_int_equal(cli_parse(NULL, 1, argv, &res, err, sizeof(err)), PED_E_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_aliases_case_and_forms),
		cmocka_unit_test(test_set_bare_names),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_mode_restrictions),
		cmocka_unit_test(test_bounded_and_secret),
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_usage),
		cmocka_unit_test(test_fail_and_main),
		cmocka_unit_test(test_without_modes),
		cmocka_unit_test(test_bad_spec),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
