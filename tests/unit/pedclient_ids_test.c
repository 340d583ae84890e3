/* pedclient_ids_test.c - the PED ID mapping store (pedclient/ids.c) and the
 * slot serials (pedclient/slots.c: the software HSMs' own serials): stable, strict
 * parsing of damaged files (with line numbers), the editing rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/sys.h"
#include "common/err.h"
#include "pedclient/ids.h"
#include "pedclient/slots.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/pcids.XXXXXX");
	return sys_mkdtemp(dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return sys_remove_tree(dir);
}

static int parse(struct ids *s, const char *text, char *err)
{
	return ids_parse(s, "ids.conf", text, strlen(text), err, IDS_ERR_MAX);
}

static void expect_error(const char *text, int code, const char *msg)
{
	struct ids s;
	char err[IDS_ERR_MAX] = "";

	assert_int_equal(parse(&s, text, err), code);
	if (strstr(err, msg) == NULL)
		fail_msg("expected '%s' in '%s'", msg, err);
	assert_int_equal(s.n, 0);
}

static void round_trip(void **state)
{
	struct ids s, t;
	char err[IDS_ERR_MAX], msg[IDS_ERR_MAX], path[128], *text;
	size_t len;
	struct stat st;

	(void)state;
	ids_init(&s);
	assert_int_equal(ids_setid(&s, 1234, "ped1.example.com", 1503, msg, sizeof(msg)), 0);
	assert_int_equal(ids_setid(&s, 7, "::1", 1600, msg, sizeof(msg)), 0);
	assert_int_equal(ids_assignid(&s, 7, "1234567890", msg, sizeof(msg)), 0);
	assert_string_equal(msg, "id 7 assigned to HSM 1234567890");
	assert_int_equal(ids_format(&s, &text, &len), 0);
	assert_non_null(strstr(text, "\n7 ::1 1600 1234567890\n1234 ped1.example.com 1503 -\n"));
	assert_int_equal(parse(&t, text, err), 0);
	assert_memory_equal(&s, &t, sizeof(s));
	free(text);

	snprintf(path, sizeof(path), "%s/%s", dir, IDS_FILE);
	assert_int_equal(ids_load(&t, path, err, sizeof(err)), 0); /* missing: empty */
	assert_int_equal(t.n, 0);
	assert_int_equal(ids_save(&s, path, err, sizeof(err)), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(sys_is_private(path)); /* 0600; Windows: the private DACL */
	assert_int_equal(ids_load(&t, path, err, sizeof(err)), 0);
	assert_memory_equal(&s, &t, sizeof(s));
}

static void atomic_rewrite(void **state)
{
	struct ids s, t;
	char err[IDS_ERR_MAX], msg[IDS_ERR_MAX], path[128], tmpdir[160];
	struct stat a, b;

	(void)state;
	snprintf(path, sizeof(path), "%s/%s", dir, IDS_FILE);
	ids_init(&s);
	assert_int_equal(ids_setid(&s, 1, "a", 1, msg, sizeof(msg)), 0);
	assert_int_equal(ids_save(&s, path, err, sizeof(err)), 0);
	assert_int_equal(stat(path, &a), 0);
	assert_int_equal(ids_setid(&s, 2, "b", 2, msg, sizeof(msg)), 0);
	assert_int_equal(ids_save(&s, path, err, sizeof(err)), 0);
	assert_int_equal(stat(path, &b), 0);
	/* replaced by rename: a new inode, never rewritten in place (Windows
	 * has no inode numbers in stat: MoveFileExW, atomic_test's concern) */
	assert_true(a.st_ino != b.st_ino || (a.st_ino == 0 && b.st_ino == 0));
	assert_int_equal(ids_load(&t, path, err, sizeof(err)), 0);
	assert_int_equal(t.n, 2);
	/* a failed write leaves the old file */
	snprintf(tmpdir, sizeof(tmpdir), "%s/nodir/%s", dir, IDS_FILE);
	assert_int_not_equal(ids_save(&s, tmpdir, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "cannot write"));
}

static void damaged_files(void **state)
{
	char big[IDS_FILE_MAX + 2], line[IDS_LINE_MAX + 10];
	char many[IDS_MAX * 40 + 64];
	size_t i, o = 0;

	(void)state;
	expect_error("# c\n1 a 1 -\n1 b 2 -\n", PED_E_PARSE, "ids.conf:3: id 1 given twice (first on line 2)");
	expect_error("1 a 1 S1\n2 b 2 S1\n", PED_E_PARSE, "ids.conf:2: serial S1 is assigned twice");
	expect_error("1 a 70000 -\n", PED_E_PARSE, "ids.conf:1: port 70000 is out of range (1-65535)");
	expect_error("1 a 0 -\n", PED_E_PARSE, "ids.conf:1: port 0 is out of range");
	expect_error("\n\n1 a -5 -\n", PED_E_PARSE, "ids.conf:3: port '-5' is not a number");
	expect_error("0 a 1 -\n", PED_E_PARSE, "ids.conf:1: id 0 is out of range (1-65535)");
	expect_error("99999999999 a 1 -\n", PED_E_PARSE, "ids.conf:1: id '99999999999' is not a number");
	expect_error("1 a;b 1 -\n", PED_E_PARSE, "ids.conf:1: host 'a;b' has a character");
	expect_error("1 -x 1 -\n", PED_E_PARSE, "is not a host name or address");
	expect_error("1 a 1 s/1\n", PED_E_PARSE, "ids.conf:1: serial number 's/1' may only hold");
	expect_error("1 a 1\n", PED_E_PARSE, "ids.conf:1: expected 4 fields (id host port serial), found 3");
	expect_error("1 a 1 - extra\n", PED_E_PARSE, "found more");
	/* truncated in the middle of a line (no newline at the end) */
	expect_error("1 a 1 -\n2 b", PED_E_PARSE, "ids.conf:2: expected 4 fields");
	expect_error("1 a 1 -\r\n", PED_E_PARSE, "ids.conf:1: control character 0x0d");
	expect_error("1 a\0 1 -\n", PED_E_PARSE, "expected 4 fields"); /* strlen stops at NUL */
	{
		struct ids s;
		char err[IDS_ERR_MAX];
		assert_int_equal(ids_parse(&s, "f", "1 a\0 1 -\n", 9, err, sizeof(err)), PED_E_PARSE);
		assert_non_null(strstr(err, "f:1: control character 0x00"));
		assert_int_equal(ids_parse(&s, "f", "1 \xc3\xa9 1 -\n", 10, err, sizeof(err)),
				 PED_E_PARSE);
		assert_non_null(strstr(err, "non-ASCII"));
	}
	memset(line, 'a', sizeof(line));
	line[sizeof(line) - 1] = '\0';
	expect_error(line, PED_E_TOO_LONG, "ids.conf:1: line longer than 400 characters");
	memset(big, '#', sizeof(big));
	big[sizeof(big) - 1] = '\0';
	expect_error(big, PED_E_TOO_LONG, "larger than");
	for (i = 1; i <= IDS_MAX + 1; i++)
		o += (size_t)snprintf(many + o, sizeof(many) - o, "%zu h %zu -\n", i, i);
	expect_error(many, PED_E_TOO_LONG, "ids.conf:65: more than 64 mappings");
	/* comments, blank lines and tabs are fine */
	{
		struct ids s;
		char err[IDS_ERR_MAX];
		assert_int_equal(parse(&s, "\n# x\n  \t\n5\th.example\t22  -\n", err), 0);
		assert_int_equal(s.n, 1);
		assert_string_equal(s.e[0].host, "h.example");
	}
}

static void load_errors_name_the_file(void **state)
{
	struct ids s;
	char err[IDS_ERR_MAX], path[128];
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/%s", dir, IDS_FILE);
	f = fopen(path, "wb");
	assert_non_null(f);
	fputs("1 a 1 -\n2 b 99999 -\n", f);
	fclose(f);
	assert_int_equal(ids_load(&s, path, err, sizeof(err)), PED_E_PARSE);
	assert_non_null(strstr(err, "ids.conf:2: port 99999"));
	assert_non_null(strstr(err, dir));
}

static void editing_rules(void **state)
{
	struct ids s;
	char msg[IDS_ERR_MAX];
	bool changed;
	char *w1[] = {"setid", "3", "h", "1503", NULL};
	char *w2[] = {"assignid", "3", "555", NULL};
	char *w3[] = {"releaseid", "serial", "555", NULL};
	char *w4[] = {"deleteid", "3", NULL};
	char *bad[] = {"setid", "3", "h", NULL};
	char *badn[] = {"setid", "x", "h", "1", NULL};

	(void)state;
	ids_init(&s);
	/* bad ports and hosts */
	assert_int_equal(ids_setid(&s, 1, "h", 0, msg, sizeof(msg)), PED_E_RANGE);
	assert_int_equal(ids_setid(&s, 1, "h", 65536, msg, sizeof(msg)), PED_E_RANGE);
	assert_int_equal(ids_setid(&s, 1, "", 1, msg, sizeof(msg)), PED_E_PARSE);
	assert_int_equal(ids_setid(&s, 1, "a b", 1, msg, sizeof(msg)), PED_E_PARSE);
	assert_int_equal(ids_setid(&s, 70000, "h", 1, msg, sizeof(msg)), PED_E_RANGE);
	assert_int_equal(s.n, 0);
	/* assign needs a mapping; one serial per id and one id per serial */
	assert_int_equal(ids_assignid(&s, 1, "S1", msg, sizeof(msg)), PED_E_NOT_FOUND);
	assert_int_equal(ids_setid(&s, 1, "h", 1, msg, sizeof(msg)), 0);
	assert_int_equal(ids_setid(&s, 2, "h", 2, msg, sizeof(msg)), 0);
	assert_int_equal(ids_assignid(&s, 1, "S1", msg, sizeof(msg)), 0);
	assert_int_equal(ids_assignid(&s, 1, "S1", msg, sizeof(msg)), 0); /* again: no-op */
	assert_int_equal(ids_assignid(&s, 2, "S1", msg, sizeof(msg)), PED_E_EXISTS);
	assert_non_null(strstr(msg, "already assigned to id 1"));
	assert_int_equal(ids_assignid(&s, 1, "S2", msg, sizeof(msg)), PED_E_EXISTS);
	/* setid on an existing id keeps the assignment */
	assert_int_equal(ids_setid(&s, 1, "other", 9, msg, sizeof(msg)), 0);
	assert_string_equal(ids_get(&s, 1)->serial, "S1");
	assert_string_equal(ids_get(&s, 1)->host, "other");
	/* release by id or by serial; the mapping stays */
	assert_int_equal(ids_releaseid(&s, 2, NULL, msg, sizeof(msg)), PED_E_NOT_FOUND);
	assert_int_equal(ids_releaseid(&s, -1, "S9", msg, sizeof(msg)), PED_E_NOT_FOUND);
	assert_int_equal(ids_releaseid(&s, 1, NULL, msg, sizeof(msg)), 0);
	assert_string_equal(msg, "id 1 released from HSM S1");
	assert_string_equal(ids_get(&s, 1)->serial, "");
	assert_int_equal(s.n, 2);
	/* delete */
	assert_int_equal(ids_deleteid(&s, 9, msg, sizeof(msg)), PED_E_NOT_FOUND);
	assert_int_equal(ids_deleteid(&s, 1, msg, sizeof(msg)), 0);
	assert_null(ids_get(&s, 1));
	assert_int_equal(s.n, 1);
	/* the admin-word form */
	ids_init(&s);
	assert_int_equal(ids_apply(&s, 4, w1, &changed, msg, sizeof(msg)), 0);
	assert_true(changed);
	assert_int_equal(ids_apply(&s, 4, w1, &changed, msg, sizeof(msg)), 0);
	assert_false(changed);
	assert_int_equal(ids_apply(&s, 3, w2, &changed, msg, sizeof(msg)), 0);
	assert_int_equal(ids_apply(&s, 3, w3, &changed, msg, sizeof(msg)), 0);
	assert_true(changed);
	assert_int_equal(ids_apply(&s, 3, w3, &changed, msg, sizeof(msg)), PED_E_NOT_FOUND);
	assert_false(changed);
	assert_int_equal(ids_apply(&s, 2, w4, &changed, msg, sizeof(msg)), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(ids_apply(&s, 3, bad, &changed, msg, sizeof(msg)), PED_E_BAD_REQUEST);
	assert_int_equal(ids_apply(&s, 4, badn, &changed, msg, sizeof(msg)), PED_E_BAD_REQUEST);
}

static void lock_is_exclusive(void **state)
{
	int a, b;

	(void)state;
	a = ids_lock(dir, true, 0);
	assert_true(a >= 0);
	b = ids_lock(dir, true, 0);
	assert_int_equal(b, PED_E_EXISTS);
	b = ids_lock(dir, false, 1); /* bounded wait */
	assert_int_equal(b, PED_E_EXISTS);
	close(a);
	b = ids_lock(dir, true, 0);
	assert_true(b >= 0);
	close(b);
}

static void slot_serials(void **state)
{
	struct slots s, t;
	char err[256], path[512];
	unsigned i, j;

	(void)state;
	assert_int_equal(slots_open(&s, dir, 3, err, sizeof(err)), 0);
	assert_int_equal(s.n, 3);
	for (i = 0; i < 3; i++) {
		assert_int_equal(strlen(s.serial[i]), 10);
		assert_true(s.serial[i][0] != '0');
		for (j = 0; j < i; j++)
			assert_string_not_equal(s.serial[i], s.serial[j]);
	}
	slots_close(&s);
	/* the serial is the HSM's: stable across re-opening; fewer slots keep
	 * the other state files */
	assert_int_equal(slots_open(&t, dir, 1, err, sizeof(err)), 0);
	slots_close(&t);
	assert_int_equal(slots_open(&t, dir, 3, err, sizeof(err)), 0);
	for (i = 0; i < 3; i++)
		assert_string_equal(t.serial[i], s.serial[i]);
	slots_close(&t);
	assert_int_equal(slots_open(&t, dir, 17, err, sizeof(err)), PED_E_RANGE);
	/* a damaged state file is an error naming it, never re-created */
	assert_int_equal(slots_path(dir, 1, path, sizeof(path)), 0);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	fputs("garbage", f);
	fclose(f);
	assert_int_equal(slots_open(&t, dir, 2, err, sizeof(err)), PED_E_STATE_CORRUPT);
	assert_non_null(strstr(err, "slot1.hsm"));
	assert_int_equal(t.n, 0);
	assert_null(t.hsm[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(atomic_rewrite, setup, teardown),
		cmocka_unit_test(damaged_files),
		cmocka_unit_test_setup_teardown(load_errors_name_the_file, setup, teardown),
		cmocka_unit_test(editing_rules),
		cmocka_unit_test_setup_teardown(lock_is_exclusive, setup, teardown),
		cmocka_unit_test_setup_teardown(slot_serials, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
