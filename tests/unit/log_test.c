/* log_test.c - unit tests for common/log: levels, escaping, bounded lines,
 * file rotation and reopening, the fallback warning, journald priorities. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/sys.h"
#include "common/err.h"
#include "common/log.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/logtest.XXXXXX");
	if (sys_mkdtemp(dir) == NULL)
		return -1;
	log_set_ident("logtest");
	log_set_level(LOG_LVL_INFO);
	unsetenv("JOURNAL_STREAM");
	log_stderr_changed();
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	log_close_file();
	unsetenv("JOURNAL_STREAM");
	log_stderr_changed();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (f == NULL)
		return NULL;
	buf = calloc(1, 1 << 20);
	n = fread(buf, 1, (1 << 20) - 1, f);
	fclose(f);
	if (len != NULL)
		*len = n;
	return buf;
}

static off_t fsize(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_size : -1;
}

/* Runs with fd 2 redirected to path; restore with end_capture. */
static int begin_capture(const char *path)
{
	int saved = dup(2);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	dup2(fileno(f), 2);
	fclose(f);
	log_stderr_changed();
	return saved;
}

static void end_capture(int saved)
{
	dup2(saved, 2);
	close(saved);
	log_stderr_changed();
}

static void test_levels_mask(void **state)
{
	(void)state;
	log_set_level(LOG_LVL_WARNING);
	assert_int_equal(log_get_mask(), LOG_MASK(LOG_LVL_ERROR) | LOG_MASK(LOG_LVL_WARNING));
	assert_int_equal(log_get_level(), LOG_LVL_WARNING);
	assert_false(log_enabled(LOG_LVL_INFO));
	log_set_mask(LOG_MASK(LOG_LVL_ERROR) | LOG_MASK(LOG_LVL_TRACE));
	assert_true(log_enabled(LOG_LVL_TRACE));
	assert_false(log_enabled(LOG_LVL_WARNING));
	assert_int_equal(log_get_level(), LOG_LVL_TRACE);
	log_set_level(LOG_LVL_TRACE);
	assert_int_equal(log_get_mask(), LOG_MASK_ALL);
	log_set_level(LOG_LVL_INFO);
}

static void test_file_format_mask_and_mode(void **state)
{
	char path[128], *txt;
	struct stat st;

	(void)state;
	snprintf(path, sizeof(path), "%s/fmt.log", dir);
	assert_int_equal(log_open_file(path, 0), 0);
	assert_string_equal(log_file_path(), path);
	log_set_mask(LOG_MASK(LOG_LVL_ERROR) | LOG_MASK(LOG_LVL_TRACE));
	log_error("first %d", 1);
	log_warning("hidden warning");
	log_info("hidden info");
	log_trace("a trace");
	log_set_level(LOG_LVL_INFO);
	log_close_file();
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	txt = slurp(path, NULL);
	assert_non_null(txt);
	/* 2024-05-01T12:00:00.123Z logtest[pid] error: first 1 */
	assert_int_equal(strlen(txt) > 25, 1);
	assert_true(txt[4] == '-' && txt[10] == 'T' && txt[19] == '.' && txt[23] == 'Z');
	assert_non_null(strstr(txt, " logtest["));
	assert_non_null(strstr(txt, "] error: first 1\n"));
	assert_non_null(strstr(txt, "] trace: a trace\n"));
	assert_null(strstr(txt, "hidden"));
	free(txt);
}

static void test_escaping(void **state)
{
	char path[128], *txt, out[64];
	size_t len, used;
	int lines = 0;

	(void)state;
	snprintf(path, sizeof(path), "%s/esc.log", dir);
	assert_int_equal(log_open_file(path, 0), 0);
	log_info("peer said: %s", "evil\n2024-01-01T00:00:00.000Z logtest[1] error: forged\r\x1b[2J\\x\x7f");
	log_close_file();
	txt = slurp(path, &len);
	assert_non_null(txt);
	for (size_t i = 0; i < len; i++)
		if (txt[i] == '\n')
			lines++;
	assert_int_equal(lines, 1);
	assert_non_null(strstr(txt, "evil\\n2024-01-01T00:00:00.000Z logtest[1] error: forged"
				    "\\r\\x1b[2J\\\\x\\x7f\n"));
	for (size_t i = 0; i + 1 < len; i++)
		assert_true((unsigned char)txt[i] >= 0x20 && txt[i] != 0x7f);
	free(txt);

	/* log_escape never splits an escape sequence and reports what it used */
	used = log_escape(out, 5, "ab\ncd", 5);
	assert_string_equal(out, "ab\\n");
	assert_int_equal(used, 3);
	used = log_escape(out, 5, "abc\x01", 4);
	assert_string_equal(out, "abc");
	assert_int_equal(used, 3);
}

static void test_long_line_bounded(void **state)
{
	char path[128], *txt, *big;
	size_t len;

	(void)state;
	big = malloc(5000);
	assert_non_null(big);
	memset(big, 'A', 4999);
	big[4999] = '\0';
	big[10] = '\n'; /* escaping grows it, still bounded */
	snprintf(path, sizeof(path), "%s/long.log", dir);
	assert_int_equal(log_open_file(path, 0), 0);
	log_info("%s", big);
	log_close_file();
	txt = slurp(path, &len);
	assert_non_null(txt);
	assert_true(len <= LOG_LINE_MAX);
	assert_true(len > LOG_LINE_MAX - 16);
	assert_memory_equal(txt + len - 4, "...\n", 4);
	free(txt);
	free(big);
}

static void test_rotation(void **state)
{
	char path[128], p[160];
	int i;

	(void)state;
	snprintf(path, sizeof(path), "%s/rot.log", dir);
	/* below the minimum: raised to LOG_MIN_FILE_SIZE */
	assert_int_equal(log_open_file(path, 100), 0);
	for (i = 0; i < 400; i++)
		log_info("line %04d %s", i, "0123456789012345678901234567890123456789");
	for (i = 0; i <= LOG_KEEP_FILES; i++) {
		if (i == 0)
			snprintf(p, sizeof(p), "%s", path);
		else
			snprintf(p, sizeof(p), "%s.%d", path, i);
		assert_true(fsize(p) > 0);
		assert_true(fsize(p) <= LOG_MIN_FILE_SIZE);
	}
	snprintf(p, sizeof(p), "%s.%d", path, LOG_KEEP_FILES + 1);
	assert_int_equal(fsize(p), -1);
	/* the newest line is in the current file, older ones rotated away */
	{
		char *txt = slurp(path, NULL), *old;
		assert_non_null(strstr(txt, "line 0399"));
		snprintf(p, sizeof(p), "%s.1", path);
		old = slurp(p, NULL);
		assert_null(strstr(old, "line 0399"));
		free(old);
		free(txt);
	}
	log_close_file();
}

static void test_reopen(void **state)
{
	char path[128], moved[160], *txt;

	(void)state;
	snprintf(path, sizeof(path), "%s/re.log", dir);
	snprintf(moved, sizeof(moved), "%s/re.log.old", dir);
	assert_int_equal(log_open_file(path, 0), 0);
	log_info("before");
	assert_int_equal(rename(path, moved), 0);
	assert_int_equal(log_reopen(), 0);
	log_info("after");
	log_close_file();
	txt = slurp(path, NULL);
	assert_non_null(txt);
	assert_non_null(strstr(txt, "after"));
	assert_null(strstr(txt, "before"));
	free(txt);
	txt = slurp(moved, NULL);
	assert_non_null(strstr(txt, "before"));
	free(txt);
}

static void test_fallback_warning(void **state)
{
	char cap[128], bad[128], ro[128], *txt;
	int saved;

	(void)state;
	snprintf(cap, sizeof(cap), "%s/stderr.txt", dir);
	snprintf(bad, sizeof(bad), "%s/no/such/dir/x.log", dir);
	saved = begin_capture(cap);
	assert_int_equal(log_open_file(bad, 1 << 20), PED_E_IO);
	assert_null(log_file_path());
	log_info("still logging");
	/* a read-only directory (root ignores the mode: use a file as the dir) */
	snprintf(ro, sizeof(ro), "%s/stderr.txt/x.log", dir);
	assert_int_equal(log_open_file(ro, 0), PED_E_IO);
	end_capture(saved);
	log_close_file();
	txt = slurp(cap, NULL);
	assert_non_null(txt);
	{
		char want[256];
		snprintf(want, sizeof(want),
			 "logtest: warning: cannot open log file %s: No such file or directory; "
			 "logging to stderr\n", bad);
		assert_non_null(strstr(txt, want));
		snprintf(want, sizeof(want),
			 "cannot open log file %s: Not a directory; logging to stderr\n", ro);
		assert_non_null(strstr(txt, want));
	}
	assert_non_null(strstr(txt, "logtest: info: still logging\n"));
	free(txt);
}

static void test_journal_prefix(void **state)
{
	char cap[128], js[64], *txt;
	struct stat st;
	int saved;

	(void)state;
	snprintf(cap, sizeof(cap), "%s/journal.txt", dir);
	saved = begin_capture(cap);
	assert_int_equal(fstat(2, &st), 0);
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", js, 1);
	log_stderr_changed();
	assert_true(log_to_journal());
	log_set_stderr_timestamp(1); /* ignored in journal mode */
	log_set_level(LOG_LVL_TRACE);
	log_error("e1");
	log_warning("w1");
	log_info("i1");
	log_trace("t1");
	/* a JOURNAL_STREAM naming another stream is not ours */
	setenv("JOURNAL_STREAM", "1:2", 1);
	log_stderr_changed();
	assert_false(log_to_journal());
	log_set_stderr_timestamp(0);
	log_info("plain");
	end_capture(saved);
	unsetenv("JOURNAL_STREAM");
	log_set_level(LOG_LVL_INFO);
	txt = slurp(cap, NULL);
	assert_non_null(txt);
	assert_string_equal(txt, "<3>logtest: error: e1\n<4>logtest: warning: w1\n"
				 "<6>logtest: info: i1\n<7>logtest: trace: t1\n"
				 "logtest: info: plain\n");
	free(txt);
}

static size_t count_str(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

/* 5,000 lines of one kind from one source and 20 other sources: at most the
 * per-source and per-kind budgets are written, then one summary each. */
static void test_limited(void **state)
{
	char path[128], src[32];
	char *txt;

	(void)state;
	snprintf(path, sizeof(path), "%s/lim.log", dir);
	assert_int_equal(log_open_file(path, 0), 0);
	for (int i = 0; i < 5000; i++)
		log_limited(LOG_LVL_WARNING, "refused", "10.0.0.1", "client 10.0.0.1:%d: refused", i);
	for (int i = 0; i < 20; i++) {
		snprintf(src, sizeof(src), "10.0.1.%d", i);
		log_limited(LOG_LVL_WARNING, "refused", src, "client %s: refused", src);
	}
	log_limited(LOG_LVL_WARNING, "other kind", "10.0.0.1", "another kind passes");
	log_flush_limited(1);
	log_close_file();
	txt = slurp(path, NULL);
	assert_non_null(txt);
	assert_int_equal(count_str(txt, "client 10.0.0.1:"), LOG_LIMIT_PER_SOURCE);
	/* the per-kind budget: 10 lines of the kind in all */
	assert_int_equal(count_str(txt, ": refused\n"), LOG_LIMIT_PER_KIND);
	assert_non_null(strstr(txt, "refused from 10.0.0.1: 4,995 more in the last "));
	assert_non_null(strstr(txt, "refused: 15 more from other sources in the last "));
	assert_non_null(strstr(txt, "another kind passes"));
	free(txt);
}

/* Start-up and session lines come back at the top of every rotated file. */
static void test_kept_lines(void **state)
{
	char path[128], old[140];
	char *txt, *otxt;

	(void)state;
	snprintf(path, sizeof(path), "%s/keep.log", dir);
	snprintf(old, sizeof(old), "%s.1", path);
	assert_int_equal(log_open_file(path, LOG_MIN_FILE_SIZE), 0);
	log_keep_startup(1);
	log_info("start-up line one");
	log_warning("start-up line two");
	log_keep_startup(0);
	log_info("ordinary line");
	log_session_open(LOG_LVL_INFO, "session open with HSM 42");
	for (int i = 0; i < 40; i++)
		log_session(LOG_LVL_INFO, "session op %d", i);
	for (int i = 0; i < 2000; i++)
		log_info("flood line %d with some padding to fill the file quickly", i);
	txt = slurp(path, NULL);
	otxt = slurp(old, NULL);
	assert_non_null(txt);
	assert_non_null(otxt);
	assert_non_null(strstr(txt, "log rotated; kept lines follow (2 start-up, 16 session)"));
	assert_non_null(strstr(txt, "info: start-up line one\n"));
	assert_non_null(strstr(txt, "warning: start-up line two\n"));
	assert_non_null(strstr(txt, "session open with HSM 42\n"));
	/* the newest session lines, oldest first; the first ones dropped */
	assert_non_null(strstr(txt, "session op 25\n"));
	assert_non_null(strstr(txt, "session op 39\n"));
	assert_true(strstr(txt, "session op 25\n") < strstr(txt, "session op 39\n"));
	assert_null(strstr(txt, "session op 24\n"));
	assert_null(strstr(txt, "ordinary line"));
	assert_non_null(strstr(txt, "flood line 1999"));
	free(txt);
	free(otxt);
	/* a new session starts the group again */
	log_session_open(LOG_LVL_INFO, "session open with HSM 43");
	for (int i = 0; i < 2000; i++)
		log_info("flood line %d with some padding to fill the file quickly", i);
	txt = slurp(path, NULL);
	assert_non_null(strstr(txt, "(2 start-up, 1 session)"));
	assert_null(strstr(txt, "HSM 42"));
	assert_non_null(strstr(txt, "session open with HSM 43"));
	free(txt);
	log_close_file();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_levels_mask),
		cmocka_unit_test(test_file_format_mask_and_mode),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_long_line_bounded),
		cmocka_unit_test(test_rotation),
		cmocka_unit_test(test_reopen),
		cmocka_unit_test(test_fallback_warning),
		cmocka_unit_test(test_journal_prefix),
		cmocka_unit_test(test_limited),
		cmocka_unit_test(test_kept_lines),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
