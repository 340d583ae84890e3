/* cfg_test.c - unit tests for config tables (common/cfg.h): defaults, valid
 * files, every error with its file:line text, warnings, hostile files, the
 * in-place rewrite of cfg_set (byte for byte), file modes and the lookup
 * order. The table below is the example for the daemons' own tables. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cfg.h"
#include "common/err.h"

#define TEST_CFG(X)                                                              \
	X(Server, Port, INT, 1503, 1, 65535, "server TCP port")                  \
	X(Server, IdleTimeout, INT, 1800, 0, 86400, "idle timeout in seconds")    \
	X(Server, LogFileName, PATH, "", 0, 0, "log file")                       \
	X(Server, PedWriteLay, INT, 0, 0, 10000, "PED write delay in microseconds") \
	X(Server, Ped, STRING, "", 0, 0, "PED device")                           \
	X(Server, ExternalServer, BOOL, 0, 0, 1, "listen on all addresses")      \
	X(Log, LogLevel, INT, 2, 0, 3, "log level")

CFG_STRUCT(test_cfg, TEST_CFG);
CFG_TABLE(test_table, struct test_cfg, TEST_CFG)

static char dir[64];
static char path[128];
static char warnings[4096];
static int nwarn;

static void collect(void *ctx, const char *msg)
{
	size_t n = strlen(warnings);
	(void)ctx;
	nwarn++;
	snprintf(warnings + n, sizeof(warnings) - n, "%s\n", msg);
}

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/cfg_test.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/t.conf", dir);
	warnings[0] = '\0';
	nwarn = 0;
	return 0;
}

static int teardown(void **state)
{
	char cmd[256];
	(void)state;
	snprintf(cmd, sizeof(cmd), "chmod -R u+rwx '%s'; rm -rf '%s'", dir, dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void write_text(const char *p, const char *text, size_t len)
{
	FILE *f = fopen(p, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void put(const char *text)
{
	write_text(path, text, strlen(text));
}

/* The whole file as a string (static buffer). */
static const char *slurp(const char *p)
{
	static char buf[70000];
	FILE *f = fopen(p, "rb");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

/* Loads the file at path; returns the code, message in err. */
static int load(struct test_cfg *c, char *err)
{
	return cfg_load(&test_table, c, path, collect, NULL, err, CFG_ERR_MAX);
}

/* Writes text, loads it, expects failure with exactly msg (after "dir/"). */
static void expect_error(const char *text, int code, const char *msg)
{
	struct test_cfg c;
	char err[CFG_ERR_MAX], want[CFG_ERR_MAX];

	put(text);
	assert_int_equal(load(&c, err), code);
	snprintf(want, sizeof(want), "%s/%s", dir, msg);
	assert_string_equal(err, want);
	assert_int_equal(c.Port, 1503); /* defaults on error */
}

static void test_table_and_defaults(void **state)
{
	struct test_cfg c;
	char err[CFG_ERR_MAX];
	(void)state;

	assert_int_equal(cfg_check_table(&test_table, err, sizeof(err)), 0);
	assert_int_equal(test_table.nkeys, 7);
	cfg_defaults(&test_table, &c);
	assert_int_equal(c.Port, 1503);
	assert_int_equal(c.IdleTimeout, 1800);
	assert_string_equal(c.LogFileName, "");
	assert_int_equal(c.PedWriteLay, 0);
	assert_string_equal(c.Ped, "");
	assert_false(c.ExternalServer);
	assert_int_equal(c.LogLevel, 2);
	assert_int_equal(cfg_find(&test_table, "logfilename"), 2);
	assert_int_equal(cfg_find(&test_table, "nope"), -1);
}

static void test_bad_tables(void **state)
{
	struct b1 { int A; };
	struct b2 { int A; bool a; };
	static const struct cfg_key k1[] = {{"S", "A", CFG_INT, 5, NULL, 10, 20, "", 0}};
	static const struct cfg_key k2[] = {{"S", "A", CFG_INT, 1, NULL, 0, 9, "", 0},
					    {"T", "a", CFG_BOOL, 0, NULL, 0, 1, "", 0}};
	static const struct cfg_key k3[] = {{"S", "A", CFG_BOOL, 2, NULL, 0, 1, "", 0}};
	static const struct cfg_key k4[] = {{"S", "A", CFG_STRING, 0, "toolong", 0, 3, "", 0}};
	const struct cfg_table t1 = {k1, 1, sizeof(struct b1)};
	const struct cfg_table t2 = {k2, 2, sizeof(struct b2)};
	const struct cfg_table t3 = {k3, 1, sizeof(struct b1)};
	const struct cfg_table t4 = {k4, 1, CFG_STR_MAX};
	char err[CFG_ERR_MAX];
	(void)state;

	assert_int_equal(cfg_check_table(&t1, err, sizeof(err)), PED_E_INVAL);
	assert_string_equal(err, "A: bad range or default");
	assert_int_equal(cfg_check_table(&t2, err, sizeof(err)), PED_E_INVAL);
	assert_string_equal(err, "a: key given twice");
	assert_int_equal(cfg_check_table(&t3, err, sizeof(err)), PED_E_INVAL);
	assert_int_equal(cfg_check_table(&t4, err, sizeof(err)), PED_E_INVAL);
}

static void test_valid_file(void **state)
{
	struct test_cfg c;
	char err[CFG_ERR_MAX];
	(void)state;

	put("\xEF\xBB\xBF; Remote PED server\r\n"
	    "# another comment\r\n"
	    "\r\n"
	    "[server]\r\n"
	    "  LogFileName = /var/log/ped server.log  \r\n"
	    "port = 1600 ; inline comment\r\n"
	    "IDLETIMEOUT: 0\r\n"
	    "PedWriteLay=10000\r\n"
	    "Ped = usb:0x1234;5\r\n"
	    "ExternalServer = Yes\r\n"
	    "[Log]\r\n"
	    "LogLevel = 3");
	assert_int_equal(load(&c, err), 0);
	assert_int_equal(nwarn, 0);
	assert_int_equal(c.Port, 1600);
	assert_int_equal(c.IdleTimeout, 0);
	assert_string_equal(c.LogFileName, "/var/log/ped server.log");
	assert_int_equal(c.PedWriteLay, 10000);
	assert_string_equal(c.Ped, "usb:0x1234;5");
	assert_true(c.ExternalServer);
	assert_int_equal(c.LogLevel, 3);
	assert_false(cfg_is_default(&test_table, &c, 0));

	/* an empty file and a missing file give the defaults */
	put("");
	assert_int_equal(load(&c, err), 0);
	assert_int_equal(c.Port, 1503);
	assert_int_equal(unlink(path), 0);
	c.Port = 1;
	assert_int_equal(load(&c, err), 0);
	assert_int_equal(c.Port, 1503);
	assert_true(cfg_is_default(&test_table, &c, 0));
}

static void test_errors(void **state)
{
	(void)state;
	expect_error("[Log]\n; level\nLogLevel = 9\n", PED_E_RANGE,
		     "t.conf:3: LogLevel = 9 is out of range (0-3)");
	expect_error("[Server]\nPort = 70000\n", PED_E_RANGE,
		     "t.conf:2: Port = 70000 is out of range (1-65535)");
	expect_error("[Server]\nPort = 0\n", PED_E_RANGE,
		     "t.conf:2: Port = 0 is out of range (1-65535)");
	expect_error("[Server]\nPort = 99999999999999999999999\n", PED_E_RANGE,
		     "t.conf:2: Port = 99999999999999999999999 is out of range (1-65535)");
	expect_error("[Server]\nPort = 15x\n", PED_E_RANGE,
		     "t.conf:2: Port = 15x is not a whole number (1-65535)");
	expect_error("[Server]\nPort =\n", PED_E_RANGE,
		     "t.conf:2: Port =  is not a whole number (1-65535)");
	expect_error("[Server]\nIdleTimeout = -1\n", PED_E_RANGE,
		     "t.conf:2: IdleTimeout = -1 is out of range (0-86400)");
	expect_error("[Server]\nExternalServer = maybe\n", PED_E_RANGE,
		     "t.conf:2: ExternalServer = maybe is not a boolean "
		     "(0/1, yes/no, true/false, on/off)");
	expect_error("[Server]\nPed = a\tb\n", PED_E_RANGE,
		     "t.conf:2: Ped = a?b contains a control character");
	expect_error("[Server]\nPort = 1\nport = 2\n", PED_E_PARSE,
		     "t.conf:3: Port is given again (first on line 2)");
	expect_error("[Server]\nPort = 1\n  2\n", PED_E_PARSE,
		     "t.conf:3: Port is given again (first on line 2)");
	expect_error("[Server]\nPort 1503\n", PED_E_PARSE,
		     "t.conf:2: syntax error (expected [Section], Key = Value or a comment)");
	expect_error("[Server\nPort = 1\n", PED_E_PARSE,
		     "t.conf:1: syntax error (expected [Section], Key = Value or a comment)");
	/* the first error wins, whatever its kind */
	expect_error("[Server]\nPort = 0\nbad line\n", PED_E_RANGE,
		     "t.conf:2: Port = 0 is out of range (1-65535)");
	expect_error("[Server]\nbad line\nPort = 0\n", PED_E_PARSE,
		     "t.conf:2: syntax error (expected [Section], Key = Value or a comment)");
}

static void test_error_names_the_key_as_written(void **state)
{
	(void)state;
	/* the message names the table's spelling, not the file's */
	expect_error("[SERVER]\nPORT = 0\n", PED_E_RANGE,
		     "t.conf:2: Port = 0 is out of range (1-65535)");
}

static void test_warnings(void **state)
{
	struct test_cfg c;
	char err[CFG_ERR_MAX], want[1024];
	(void)state;

	put("Port = 1\n"
	    "[Server]\n"
	    "Colour = blue\n"
	    "[Log]\n"
	    "Port = 2\n"
	    "[Other]\n"
	    "x = 1\n"
	    "[Server]\n"
	    "Port = 1504\n");
	assert_int_equal(load(&c, err), 0);
	assert_int_equal(c.Port, 1504);
	snprintf(want, sizeof(want),
		 "%s/t.conf:1: Port outside any section (ignored; it belongs in [Server])\n"
		 "%s/t.conf:3: unknown key Colour in [Server] (ignored)\n"
		 "%s/t.conf:5: Port in [Log] (ignored; it belongs in [Server])\n"
		 "%s/t.conf:7: unknown key x in [Other] (ignored)\n",
		 dir, dir, dir, dir);
	assert_string_equal(warnings, want);
}

static void test_many_warnings_are_capped(void **state)
{
	struct test_cfg c;
	char err[CFG_ERR_MAX], text[4096];
	size_t n = 0;
	int i;
	(void)state;

	for (i = 0; i < 100; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "k%d = \x1b[31m\n", i);
	put(text);
	assert_int_equal(load(&c, err), 0);
	assert_int_equal(nwarn, 21);
	assert_null(strchr(warnings, '\x1b')); /* control characters never echoed */
	assert_non_null(strstr(warnings, "more warnings not shown"));
}

static void test_hostile_files(void **state)
{
	struct test_cfg c;
	char err[CFG_ERR_MAX], want[CFG_ERR_MAX];
	static char big[100 * 1024 + 32];
	unsigned char garbage[4096];
	size_t i;
	(void)state;

	/* a 100 KB line: too long, never split into pieces */
	memcpy(big, "[Server]\nPed = ", 15);
	memset(big + 15, 'A', 100 * 1024);
	big[15 + 100 * 1024] = '\0';
	put(big);
	assert_int_equal(load(&c, err), PED_E_TOO_LONG);
	snprintf(want, sizeof(want), "%s/t.conf: too large (max 65536 bytes)", dir);
	assert_string_equal(err, want);
	big[15 + 300] = '\n';
	write_text(path, big, 15 + 400);
	assert_int_equal(load(&c, err), PED_E_TOO_LONG);
	snprintf(want, sizeof(want), "%s/t.conf:2: line is too long (max 197 characters)", dir);
	assert_string_equal(err, want);
	/* the longest line accepted */
	memset(big, 'B', 300);
	memcpy(big, "Ped=", 4);
	write_text(path, "[Server]\n", 9);
	{
		FILE *f = fopen(path, "ab");
		assert_non_null(f);
		assert_int_equal(fwrite(big, 1, CFG_LINE_MAX, f), CFG_LINE_MAX);
		fputs("\r\n", f);
		fclose(f);
	}
	assert_int_equal(load(&c, err), 0);
	assert_int_equal(strlen(c.Ped), CFG_LINE_MAX - 4);

	/* binary garbage: a clean error, no crash */
	for (i = 0; i < sizeof(garbage); i++)
		garbage[i] = (unsigned char)(i * 7919u >> 3);
	write_text(path, (const char *)garbage, sizeof(garbage));
	assert_int_not_equal(load(&c, err), 0);
	assert_non_null(strstr(err, "t.conf:"));
	write_text(path, "[Server]\nPort = 1\0\n", 19);
	assert_int_equal(load(&c, err), PED_E_PARSE);
	snprintf(want, sizeof(want), "%s/t.conf:2: NUL byte (not a text file?)", dir);
	assert_string_equal(err, want);

	/* a directory where the file should be */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(load(&c, err), PED_E_IO);
	snprintf(want, sizeof(want), "%s/t.conf: is a directory, not a config file", dir);
	assert_string_equal(err, want);
	assert_int_equal(rmdir(path), 0);

	/* unreadable (root reads anything) */
	put("[Server]\n");
	assert_int_equal(chmod(path, 0), 0);
	snprintf(want, sizeof(want), "%s/t.conf: cannot read: Permission denied", dir);
	if (geteuid() != 0) {
		assert_int_equal(load(&c, err), PED_E_IO);
		assert_string_equal(err, want);
	} else {
		pid_t pid;
		int status;
		assert_int_equal(chmod(dir, 0755), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			if (setgid(65534) != 0 || setuid(65534) != 0)
				_exit(99);
			_exit(load(&c, err) != PED_E_IO || strcmp(err, want) != 0);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}

	/* in memory, without a terminating NUL */
	assert_int_equal(cfg_parse_mem(&test_table, &c, "mem", "[Server]\nPort=7", 15, collect,
				       NULL, err, sizeof(err)), 0);
	assert_int_equal(c.Port, 7);
	assert_int_equal(cfg_parse_mem(&test_table, &c, "mem", NULL, 0, collect, NULL, err,
				       sizeof(err)), 0);
}

static void test_set_value(void **state)
{
	struct test_cfg c;
	char err[CFG_ERR_MAX], longv[400];
	(void)state;

	cfg_defaults(&test_table, &c);
	assert_int_equal(cfg_set_value(&test_table, &c, "port", "1600", err, sizeof(err)), 0);
	assert_int_equal(c.Port, 1600);
	assert_int_equal(cfg_set_value(&test_table, &c, "Port", "70000", err, sizeof(err)),
			 PED_E_RANGE);
	assert_string_equal(err, "Port = 70000 is out of range (1-65535)");
	assert_int_equal(c.Port, 1600);
	assert_int_equal(cfg_set_value(&test_table, &c, "Colour", "1", err, sizeof(err)),
			 PED_E_PARSE);
	assert_string_equal(err, "unknown key Colour");
	memset(longv, 'x', sizeof(longv) - 1);
	longv[sizeof(longv) - 1] = '\0';
	assert_int_equal(cfg_set_value(&test_table, &c, "Ped", longv, err, sizeof(err)),
			 PED_E_TOO_LONG);
	assert_string_equal(err, "Ped = xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx... is too long "
				 "(at most 255 characters)");
	assert_int_equal(cfg_set_value(&test_table, &c, "ExternalServer", "ON", err, sizeof(err)),
			 0);
	assert_true(c.ExternalServer);
}

static int visit(void *ctx, const struct cfg_key *k, const char *value, bool is_default)
{
	char *out = ctx;
	size_t n = strlen(out);
	snprintf(out + n, 1024 - n, "%s.%s=%s%s|", k->section, k->name, value,
		 is_default ? "*" : "");
	return 0;
}

static void test_show_and_foreach(void **state)
{
	struct test_cfg c;
	char out[1024] = "", *text = NULL;
	size_t len = 0;
	FILE *f;
	(void)state;

	cfg_defaults(&test_table, &c);
	c.Port = 1600;
	strcpy(c.LogFileName, "/tmp/x.log");
	assert_int_equal(cfg_foreach(&test_table, &c, visit, out), 0);
	assert_string_equal(out, "Server.Port=1600|Server.IdleTimeout=1800*|"
				 "Server.LogFileName=/tmp/x.log|Server.PedWriteLay=0*|"
				 "Server.Ped=*|Server.ExternalServer=0*|Log.LogLevel=2*|");
	f = open_memstream(&text, &len);
	assert_non_null(f);
	assert_int_equal(cfg_show(&test_table, &c, f), 0);
	fclose(f);
	assert_string_equal(text, "[Server]\n"
				  "Port           = 1600\n"
				  "IdleTimeout    = 1800 ; default\n"
				  "LogFileName    = /tmp/x.log\n"
				  "PedWriteLay    = 0 ; default\n"
				  "Ped            =  ; default\n"
				  "ExternalServer = 0 ; default\n"
				  "\n"
				  "[Log]\n"
				  "LogLevel       = 2 ; default\n");
	/* the show output is itself a valid config file with the same values */
	{
		struct test_cfg c2;
		char err[CFG_ERR_MAX];
		assert_int_equal(cfg_parse_mem(&test_table, &c2, "show", text, len, collect, NULL,
					       err, sizeof(err)), 0);
		assert_memory_equal(&c, &c2, sizeof(c));
	}
	free(text);
}

static void test_template(void **state)
{
	struct test_cfg c;
	char err[CFG_ERR_MAX], *text = NULL;
	size_t len = 0;
	FILE *f;
	(void)state;

	f = open_memstream(&text, &len);
	assert_non_null(f);
	assert_int_equal(cfg_write_template(&test_table, f), 0);
	fclose(f);
	assert_non_null(strstr(text, "[Server]\n; server TCP port\n; integer (1-65535), "
				     "default 1503\n;Port = 1503\n"));
	assert_non_null(strstr(text, ";LogFileName = \n"));
	assert_non_null(strstr(text, "\n[Log]\n"));
	assert_int_equal(cfg_parse_mem(&test_table, &c, "tpl", text, len, collect, NULL, err,
				       sizeof(err)), 0);
	assert_int_equal(nwarn, 0);
	free(text);
}

static int set1(const char *key, const char *value, char *err)
{
	struct cfg_assign a = {key, value};
	return cfg_set(&test_table, path, &a, 1, collect, NULL, err, CFG_ERR_MAX);
}

static void test_set_round_trip(void **state)
{
	struct test_cfg c;
	char err[CFG_ERR_MAX];
	struct cfg_assign a[] = {{"port", "1600"}, {"LOGFILENAME", "/tmp/p s.log"},
				 {"ExternalServer", "yes"}, {"LogLevel", "0"}};
	(void)state;

	/* a new file: mode 0600, keys in their sections */
	assert_int_equal(cfg_set(&test_table, path, a, 4, collect, NULL, err, sizeof(err)), 0);
	assert_string_equal(slurp(path), "[Server]\n"
					 "Port = 1600\n"
					 "LogFileName = /tmp/p s.log\n"
					 "ExternalServer = 1\n"
					 "\n"
					 "[Log]\n"
					 "LogLevel = 0\n");
	{
		struct stat st;
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0600);
	}
	assert_int_equal(load(&c, err), 0);
	assert_int_equal(c.Port, 1600);
	assert_string_equal(c.LogFileName, "/tmp/p s.log");
	assert_true(c.ExternalServer);
	assert_int_equal(c.LogLevel, 0);
	/* again: replaced in place, nothing added */
	assert_int_equal(set1("Port", "1601", err), 0);
	assert_int_equal(load(&c, err), 0);
	assert_int_equal(c.Port, 1601);
	assert_non_null(strstr(slurp(path), "[Server]\nPort = 1601\nLogFileName"));
	assert_int_equal(nwarn, 0);
}

/* In a set-group-ID directory (a packaged service's /etc/<prog>) a new file
 * is 0640 so that the daemon, in that group, can read it; elsewhere 0600. */
static void test_set_setgid_dir(void **state)
{
	char sgdir[] = "/tmp/cfgsgid.XXXXXX", file[64], err[CFG_ERR_MAX];
	struct cfg_assign a = {"Port", "1600"};
	struct stat st;
	(void)state;

	assert_non_null(mkdtemp(sgdir));
	assert_int_equal(chmod(sgdir, 02750), 0);
	snprintf(file, sizeof(file), "%s/p.conf", sgdir);
	assert_int_equal(cfg_set(&test_table, file, &a, 1, collect, NULL, err, sizeof(err)), 0);
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	/* an existing file keeps its mode */
	assert_int_equal(chmod(file, 0600), 0);
	assert_int_equal(cfg_set(&test_table, file, &a, 1, collect, NULL, err, sizeof(err)), 0);
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(unlink(file), 0);
	assert_int_equal(rmdir(sgdir), 0);
}

static void test_set_keeps_everything_else(void **state)
{
	char err[CFG_ERR_MAX];
	(void)state;

	put("; Remote PED server configuration\n"
	    "\n"
	    "[Server]   ; the server\n"
	    "  Colour = blue   ; not ours\n"
	    "Port=1503\n"
	    "IdleTimeout :   60   ; one minute\n"
	    "# PedWriteLay = 5\n"
	    "\n"
	    "[Other]\n"
	    "Thing = 1\n"
	    "\n"
	    "[Log]\n"
	    "LogLevel = 1 ;; chatty");
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(set1("IdleTimeout", "120", err), 0);
	assert_int_equal(set1("Port", "1600", err), 0);
	assert_int_equal(set1("LogLevel", "3", err), 0);
	assert_string_equal(slurp(path), "; Remote PED server configuration\n"
					 "\n"
					 "[Server]   ; the server\n"
					 "  Colour = blue   ; not ours\n"
					 "Port=1600\n"
					 "IdleTimeout :   120   ; one minute\n"
					 "# PedWriteLay = 5\n"
					 "\n"
					 "[Other]\n"
					 "Thing = 1\n"
					 "\n"
					 "[Log]\n"
					 "LogLevel = 3 ;; chatty");
	{
		struct stat st;
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0640);
	}
	/* a missing key goes after the last line of its section */
	assert_int_equal(set1("PedWriteLay", "50", err), 0);
	assert_string_equal(slurp(path), "; Remote PED server configuration\n"
					 "\n"
					 "[Server]   ; the server\n"
					 "  Colour = blue   ; not ours\n"
					 "Port=1600\n"
					 "IdleTimeout :   120   ; one minute\n"
					 "PedWriteLay = 50\n"
					 "# PedWriteLay = 5\n"
					 "\n"
					 "[Other]\n"
					 "Thing = 1\n"
					 "\n"
					 "[Log]\n"
					 "LogLevel = 3 ;; chatty");
	/* no newline at the end, and an empty value followed by a comment */
	put("[Log]\nLogLevel = 1\n[Server]\nPed = ;none");
	assert_int_equal(set1("Ped", "usb", err), 0);
	assert_int_equal(set1("Port", "7", err), 0);
	assert_string_equal(slurp(path), "[Log]\nLogLevel = 1\n[Server]\nPed = usb ;none\nPort = 7\n");
	/* CRLF files get CRLF lines */
	put("[Server]\r\nPort = 1\r\n");
	assert_int_equal(set1("LogLevel", "1", err), 0);
	assert_string_equal(slurp(path), "[Server]\r\nPort = 1\r\n\r\n[Log]\r\nLogLevel = 1\r\n");
}

static void test_set_last_block_and_wrong_section(void **state)
{
	char err[CFG_ERR_MAX];
	(void)state;

	/* [Server] twice: the key goes into the last block; a key in the wrong
	 * section is left alone (it is ignored when loading) */
	put("[Server]\nPort = 2\n[Log]\nIdleTimeout = 5\n[server]\nPed = x\n\n; end\n");
	assert_int_equal(set1("IdleTimeout", "6", err), 0);
	assert_string_equal(slurp(path), "[Server]\nPort = 2\n[Log]\nIdleTimeout = 5\n"
					 "[server]\nPed = x\nIdleTimeout = 6\n\n; end\n");
	/* an indented [header] after a header-only block stays a header (found
	 * by the fuzzer): the keys go into a new block at the end */
	put("[Server]\n  [Other]\nx = 1\n");
	assert_int_equal(set1("Port", "9", err), 0);
	assert_string_equal(slurp(path), "[Server]\n  [Other]\nx = 1\n\n[Server]\nPort = 9\n");
	/* after a line with an empty name, an indented line is no continuation */
	put("[Server]\n= x\n\t[Other]\n");
	assert_int_equal(set1("Port", "9", err), 0);
	assert_string_equal(slurp(path), "[Server]\n= x\n\t[Other]\n\n[Server]\nPort = 9\n");
	/* an empty section gets its key right after the header */
	put("[Log]\n\n[Server]\n");
	assert_int_equal(set1("LogLevel", "0", err), 0);
	assert_string_equal(slurp(path), "[Log]\nLogLevel = 0\n\n[Server]\n");
}

static void test_set_errors(void **state)
{
	char err[CFG_ERR_MAX], want[CFG_ERR_MAX];
	const char *before = "[Server]\nPort = 1\n";
	(void)state;

	put(before);
	assert_int_equal(set1("Port", "70000", err), PED_E_RANGE);
	assert_string_equal(err, "Port = 70000 is out of range (1-65535)");
	assert_int_equal(set1("Colour", "1", err), PED_E_PARSE);
	assert_string_equal(err, "unknown key Colour");
	assert_int_equal(set1("Ped", " x", err), PED_E_RANGE);
	assert_string_equal(err, "Ped =  x: leading or trailing blanks cannot be stored");
	assert_int_equal(set1("Ped", "a ;b", err), PED_E_RANGE);
	assert_int_equal(set1("Ped", ";b", err), PED_E_RANGE);
	assert_int_equal(set1("Ped", "a\nPort = 5", err), PED_E_RANGE);
	assert_string_equal(slurp(path), before);
	/* an invalid file is not touched */
	put("[Server]\nPort = 0\n");
	assert_int_equal(set1("IdleTimeout", "5", err), PED_E_RANGE);
	snprintf(want, sizeof(want), "%s/t.conf:2: Port = 0 is out of range (1-65535)", dir);
	assert_string_equal(err, want);
	assert_string_equal(slurp(path), "[Server]\nPort = 0\n");
	/* a value that would make the line too long */
	put("[Server]\nPed = x ; a comment of some length, long enough to matter later on\n");
	{
		char v[200];
		memset(v, 'v', sizeof(v) - 1);
		v[sizeof(v) - 1] = '\0';
		assert_int_equal(set1("Ped", v, err), PED_E_TOO_LONG);
		assert_non_null(strstr(err, "not written"));
	}
}

static void test_set_new_dirs_and_symlink(void **state)
{
	char err[CFG_ERR_MAX], p2[192], link[192];
	struct stat st;
	struct cfg_assign a = {"Port", "9"};
	(void)state;

	snprintf(p2, sizeof(p2), "%s/a/b/t.conf", dir);
	assert_int_equal(cfg_set(&test_table, p2, &a, 1, collect, NULL, err, sizeof(err)), 0);
	snprintf(link, sizeof(link), "%s/a", dir);
	assert_int_equal(stat(link, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_string_equal(slurp(p2), "[Server]\nPort = 9\n");
	snprintf(link, sizeof(link), "%s/link.conf", dir);
	assert_int_equal(symlink(p2, link), 0);
	a.value = "10";
	assert_int_equal(cfg_set(&test_table, link, &a, 1, collect, NULL, err, sizeof(err)), 0);
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_string_equal(slurp(p2), "[Server]\nPort = 10\n");
}

/* The non-root part of the lookup order; returns the number of failures
 * (run in a child process that dropped root when the test runs as root). */
static int xdg_checks(void)
{
	char out[256];
	int bad = 0;

	setenv("XDG_CONFIG_HOME", "/xdg", 1);
	setenv("HOME", "/home/u", 1);
	bad += cfg_path(out, sizeof(out), "pedclient", NULL, NULL) != 0 ||
	       strcmp(out, "/xdg/pedclient/pedclient.conf") != 0;
	setenv("XDG_CONFIG_HOME", "relative", 1); /* ignored, as the XDG spec says */
	bad += cfg_path(out, sizeof(out), "pedclient", NULL, NULL) != 0 ||
	       strcmp(out, "/home/u/.config/pedclient/pedclient.conf") != 0;
	unsetenv("XDG_CONFIG_HOME");
	bad += cfg_path(out, sizeof(out), "pedclient", NULL, NULL) != 0 ||
	       strcmp(out, "/home/u/.config/pedclient/pedclient.conf") != 0;
	setenv("XDG_CONFIG_HOME", "", 1);
	bad += cfg_path(out, sizeof(out), "pedclient", NULL, NULL) != 0 ||
	       strcmp(out, "/home/u/.config/pedclient/pedclient.conf") != 0;
	bad += cfg_path(out, 10, "pedclient", NULL, NULL) != PED_E_TOO_LONG || out[0] != '\0';
	bad += cfg_path(out, sizeof("/home/u/.config/pedclient/pedclient.conf"), "pedclient",
			NULL, NULL) != 0;
	/* -statedir and -configfile still come first */
	bad += cfg_path(out, sizeof(out), "pedclient", NULL, "/s") != 0 ||
	       strcmp(out, "/s/pedclient.conf") != 0;
	return bad;
}

static void test_lookup_order(void **state)
{
	char out[256];
	pid_t pid;
	int status;
	(void)state;

	assert_int_equal(cfg_path(out, sizeof(out), "pedserver", "/x/my.conf", "/state"), 0);
	assert_string_equal(out, "/x/my.conf");
	assert_int_equal(cfg_path(out, sizeof(out), "pedserver", NULL, "/state"), 0);
	assert_string_equal(out, "/state/pedserver.conf");
	if (geteuid() != 0) {
		assert_int_equal(xdg_checks(), 0);
		return;
	}
	assert_int_equal(cfg_path(out, sizeof(out), "pedserver", NULL, NULL), 0);
	assert_string_equal(out, "/etc/pedserver/pedserver.conf");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(99);
		_exit(xdg_checks());
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_table_and_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_tables, setup, teardown),
		cmocka_unit_test_setup_teardown(test_valid_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_names_the_key_as_written, setup, teardown),
		cmocka_unit_test_setup_teardown(test_warnings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_warnings_are_capped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_value, setup, teardown),
		cmocka_unit_test_setup_teardown(test_show_and_foreach, setup, teardown),
		cmocka_unit_test_setup_teardown(test_template, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_round_trip, setup, teardown),
		cmocka_unit_test(test_set_setgid_dir),
		cmocka_unit_test_setup_teardown(test_set_keeps_everything_else, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_last_block_and_wrong_section, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_set_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_new_dirs_and_symlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lookup_order, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
