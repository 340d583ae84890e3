/* audit_test.c - unit tests for common/audit: the hash chain across reopen
 * and rotation, verification naming the first altered, missing or reordered
 * record, a torn last record cut away, aggregated refusals, JSON escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/audit.h"
#include "common/err.h"
#include "common/log.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/audittest.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	log_set_level(LOG_LVL_ERROR);
	audit_set_file_max(AUDIT_FILE_MAX);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	audit_close();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Verifies the trail in dir (or the one file); returns the code, *out the line. */
static int verify(const char *file, char *out, size_t cap)
{
	char *buf = NULL, **files = NULL;
	size_t len = 0, nf = 0;
	FILE *m = open_memstream(&buf, &len);
	int r;

	assert_non_null(m);
	if (file != NULL) {
		r = audit_verify(&file, 1, m);
	} else {
		assert_int_equal(audit_files(dir, &files, &nf), 0);
		r = audit_verify((const char *const *)files, nf, m);
		audit_files_free(files, nf);
	}
	fclose(m);
	snprintf(out, cap, "%s", buf != NULL ? buf : "");
	free(buf);
	return r;
}

static void write_events(int n)
{
	for (int i = 0; i < n; i++)
		audit_event("ped_op", "kind:s role:s m:u n:u result:s", "READ_KEYSET", "SO", 2u,
			    3u, "OK");
}

/* runs sed on the trail's file */
static void edit(const char *file, const char *script)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "sed -i '%s' %s/%s", script, dir, file);
	assert_int_equal(system(cmd), 0);
}

static void copy(const char *from, const char *to)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "cp %s/%s %s/%s", dir, from, dir, to);
	assert_int_equal(system(cmd), 0);
}

static void test_chain_and_reopen(void **state)
{
	char out[512];

	(void)state;
	assert_int_equal(audit_open(dir, "test"), 0);
	write_events(3);
	audit_close();
	assert_int_equal(verify(NULL, out, sizeof(out)), 0);
	assert_string_equal(out, "audit trail intact: 3 records (1-3) in 1 file\n");
	/* a restarted daemon continues the chain */
	assert_int_equal(audit_open(dir, "test"), 0);
	write_events(2);
	audit_close();
	assert_int_equal(verify(NULL, out, sizeof(out)), 0);
	assert_string_equal(out, "audit trail intact: 5 records (1-5) in 1 file\n");
}

static void test_tamper(void **state)
{
	char out[512], path[128];

	(void)state;
	assert_int_equal(audit_open(dir, "test"), 0);
	write_events(6);
	audit_close();
	copy("audit.log", "orig");
	snprintf(path, sizeof(path), "%s/audit.log", dir);

	edit("audit.log", "3s/\"SO\"/\"CO\"/");
	assert_int_equal(verify(path, out, sizeof(out)), PED_E_AUDIT_BROKEN);
	assert_string_equal(out, "audit.log:3: record 3: altered (hash mismatch)\n");

	copy("orig", "audit.log");
	edit("audit.log", "4d");
	assert_int_equal(verify(path, out, sizeof(out)), PED_E_AUDIT_BROKEN);
	assert_string_equal(out, "audit.log:4: record 4: missing or out of order (found record 5)\n");

	copy("orig", "audit.log");
	edit("audit.log", "2{h;d};3G"); /* swap records 2 and 3 */
	assert_int_equal(verify(path, out, sizeof(out)), PED_E_AUDIT_BROKEN);
	assert_string_equal(out, "audit.log:2: record 2: missing or out of order (found record 3)\n");

	copy("orig", "audit.log");
	edit("audit.log", "1d"); /* the first record is part of the chain too */
	assert_int_equal(verify(path, out, sizeof(out)), PED_E_AUDIT_BROKEN);
	assert_string_equal(out, "audit.log:1: record 1: missing or out of order (found record 2)\n");

	/* record 5's link to record 4 changed (its first hex digit, 0 <-> other) */
	copy("orig", "audit.log");
	edit("audit.log", "5{s/\"prev\":\"0/\"prev\":\"X/;s/\"prev\":\"[1-9a-f]/\"prev\":\"0/;"
			  "s/\"prev\":\"X/\"prev\":\"1/}");
	assert_int_equal(verify(path, out, sizeof(out)), PED_E_AUDIT_BROKEN);
	assert_string_equal(out, "audit.log:5: record 5: does not follow record 4 (chain broken)\n");
}

static void test_rotation(void **state)
{
	char out[512], **files = NULL;
	size_t nf = 0;

	(void)state;
	audit_set_file_max(4096);
	assert_int_equal(audit_open(dir, "test"), 0);
	write_events(100);
	audit_close();
	assert_int_equal(audit_files(dir, &files, &nf), 0);
	assert_true(nf >= 3);
	assert_non_null(strstr(files[0], "/audit.log.1"));
	assert_non_null(strstr(files[nf - 1], "/audit.log"));
	audit_files_free(files, nf);
	assert_int_equal(verify(NULL, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "audit trail intact: 100 records (1-100) in "));
	/* the first record of the newest file carries the last hash of the one before */
	copy("audit.log", "keep");
	edit("audit.log", "1d");
	assert_int_equal(verify(NULL, out, sizeof(out)), PED_E_AUDIT_BROKEN);
	assert_non_null(strstr(out, "audit.log:1: record "));
	assert_non_null(strstr(out, ": missing or out of order"));
	copy("keep", "audit.log");
	/* a whole old file missing */
	edit("audit.log.2", "d");
	assert_int_equal(verify(NULL, out, sizeof(out)), PED_E_AUDIT_BROKEN);
	assert_non_null(strstr(out, "missing or out of order"));
	audit_set_file_max(AUDIT_FILE_MAX);
}

static void test_torn_tail(void **state)
{
	char out[512], cmd[256];

	(void)state;
	assert_int_equal(audit_open(dir, "test"), 0);
	write_events(2);
	audit_close();
	/* a crash in the middle of the third record */
	snprintf(cmd, sizeof(cmd), "printf '{\"seq\":3,\"time\":\"2026' >> %s/audit.log", dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(verify(NULL, out, sizeof(out)), PED_E_AUDIT_BROKEN);
	assert_string_equal(out, "audit.log:3: record 3: torn (no end of line)\n");
	assert_int_equal(audit_open(dir, "test"), 0);
	write_events(1);
	audit_close();
	assert_int_equal(verify(NULL, out, sizeof(out)), 0);
	assert_string_equal(out, "audit trail intact: 4 records (1-4) in 1 file\n");
}

static void test_refusals_and_escaping(void **state)
{
	char out[512], path[128], line[4096];
	FILE *f;
	int found = 0;

	(void)state;
	assert_int_equal(audit_open(dir, "test"), 0);
	for (int i = 0; i < 1000; i++)
		audit_refusal("HELLO_TIMEOUT", i % 3 == 0 ? "127.0.0.2" : i % 3 == 1 ? "127.0.0.3"
											: "::1");
	audit_refusal("SOURCE_RATE", "127.0.0.9");
	audit_event("odd", "name:s none:s", "a \"quoted\"\n\\name\x01", NULL);
	audit_close();
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	assert_int_equal(verify(path, out, sizeof(out)), 0);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strstr(line, "\"reason\":\"HELLO_TIMEOUT\",\"count\":1000,\"sources\":3,"
				 "\"first_source\":\"127.0.0.2\"") != NULL)
			found |= 1;
		if (strstr(line, "\"reason\":\"SOURCE_RATE\",\"count\":1,") != NULL)
			found |= 2;
		if (strstr(line, "\"name\":\"a \\\"quoted\\\"\\u000a\\\\name\\u0001\","
				 "\"none\":null") != NULL)
			found |= 4;
	}
	fclose(f);
	assert_int_equal(found, 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_chain_and_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals_and_escaping, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
