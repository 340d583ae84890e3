/* tlspins_test.c - unit tests for the registrations and certificates of
 * PED-initiated mode (session/tlspins.h, session/tlscert.h): the limit of 20,
 * unique and valid names, delete, the store's round trip and its malformed
 * lines named by number; -regen's files, fingerprint and -force rule, and
 * certificate files that are not P-256/P-521 ECDSA certificates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/atomic.h"
#include "common/err.h"
#include "common/sys.h"
#include "session/tlscert.h"
#include "session/tlspins.h"

#define DIR "tlspins_test.d"

static int setup(void **state)
{
	(void)state;
	(void)sys_remove_tree(DIR);
	return sys_mkdir(DIR, 0700) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return sys_remove_tree(DIR) == 0 ? 0 : -1;
}

static struct tlspin pin(const char *name, char c)
{
	struct tlspin e;

	memset(&e, 0, sizeof(e));
	snprintf(e.name, sizeof(e.name), "%s", name);
	snprintf(e.addr, sizeof(e.addr), "127.0.0.1");
	e.port = 9697;
	memset(e.fp, c, TLSCERT_FP_HEX);
	return e;
}

static void test_limits(void **state)
{
	struct tlspins p;
	struct tlspin e;
	char name[16];
	unsigned i;

	(void)state;
	memset(&p, 0, sizeof(p));
	for (i = 0; i < TLSPINS_MAX; i++) {
		snprintf(name, sizeof(name), "hsm%u", i);
		e = pin(name, 'a');
		assert_int_equal(tlspins_add(&p, &e), 0);
	}
	e = pin("one-more", 'b');
	assert_int_equal(tlspins_add(&p, &e), PED_E_REG_FULL);
	e = pin("hsm3", 'b');
	assert_int_equal(tlspins_del(&p, "hsm7"), 0);
	assert_int_equal(tlspins_del(&p, "hsm7"), PED_E_REG_UNKNOWN);
	assert_int_equal(tlspins_add(&p, &e), PED_E_REG_DUP);
	e = pin("one-more", 'b');
	assert_int_equal(tlspins_add(&p, &e), 0);
	assert_non_null(tlspins_by_fp(&p, e.fp));
	assert_string_equal(tlspins_by_fp(&p, e.fp)->name, "one-more");
	assert_null(tlspins_by_name(&p, "hsm7"));
	/* names: 1-32 of [A-Za-z0-9._-], not starting with '-' */
	assert_true(tlspins_name_ok("a.b_c-9"));
	assert_false(tlspins_name_ok(""));
	assert_false(tlspins_name_ok("-x"));
	assert_false(tlspins_name_ok("a b"));
	assert_false(tlspins_name_ok("0123456789012345678901234567890123"));
	e = pin("x", 'A'); /* upper-case hex is not a stored fingerprint */
	assert_int_equal(tlspins_add(&p, &e), PED_E_INVAL);
}

static void test_store(void **state)
{
	const char *path = DIR "/store.list";
	struct tlspins p, q;
	struct tlspin e = pin("hsm1", 'c');
	char err[256];

	(void)state;
	assert_int_equal(tlspins_load(&p, path, err, sizeof(err)), 0); /* missing: empty */
	assert_int_equal(p.n, 0);
	assert_int_equal(tlspins_add(&p, &e), 0);
	e = pin("hsm2", 'd');
	e.port = 7000;
	assert_int_equal(tlspins_add(&p, &e), 0);
	assert_int_equal(tlspins_save(&p, path), 0);
	assert_int_equal(tlspins_load(&q, path, err, sizeof(err)), 0);
	assert_int_equal(q.n, 2);
	assert_int_equal(q.e[1].port, 7000);
	assert_memory_equal(&p.e[0], &q.e[0], sizeof(p.e[0]));
	/* a malformed line is an error naming it */
	static const char bad[] = "# remoteped registrations 1\nhsm1 - 0 abc\n";

	assert_int_equal(atomic_write_file(path, bad, strlen(bad), 0600), 0);
	assert_int_equal(tlspins_load(&q, path, err, sizeof(err)), PED_E_PARSE);
	assert_non_null(strstr(err, ":2:"));
	assert_int_equal(q.n, 0);
	/* apply: register then delete, with the fingerprint in the message */
	assert_int_equal(tlspins_save(&p, path), 0);
	e = pin("hsm3", 'e');
	assert_int_equal(tlspins_apply(path, "register", &e, err, sizeof(err)), 0);
	assert_non_null(strstr(err, e.fp));
	assert_int_equal(tlspins_apply(path, "register", &e, err, sizeof(err)), PED_E_REG_DUP);
	assert_non_null(strstr(err, "NAME_ALREADY_REGISTERED"));
	assert_int_equal(tlspins_apply(path, "delete", &e, err, sizeof(err)), 0);
	assert_int_equal(tlspins_apply(path, "delete", &e, err, sizeof(err)), PED_E_REG_UNKNOWN);
	assert_int_equal(tlspins_load(&q, path, err, sizeof(err)), 0);
	assert_int_equal(q.n, 2);
}

static void test_cert(void **state)
{
	char fp[TLSCERT_FP_TEXT], fp2[TLSCERT_FP_TEXT], cn[80];

	(void)state;
	assert_int_equal(tlscert_regen(DIR, "", 256, 0, fp), PED_E_INVAL);
	assert_int_equal(tlscert_regen(DIR, "box", 384, 0, fp), PED_E_INVAL);
	assert_int_equal(tlscert_regen(DIR, "box", 256, 0, fp), 0);
	assert_int_equal(strlen(fp), TLSCERT_FP_HEX);
	assert_int_equal(tlscert_read(DIR "/" TLSCERT_CRT_FILE, fp2, cn, sizeof(cn)), 0);
	assert_string_equal(fp, fp2);
	assert_string_equal(cn, "box");
	assert_int_equal(tlscert_regen(DIR, "box2", 521, 0, fp2), PED_E_CERT_EXISTS);
	assert_int_equal(tlscert_read(DIR "/" TLSCERT_CRT_FILE, fp2, NULL, 0), 0);
	assert_string_equal(fp, fp2); /* untouched */
	assert_int_equal(tlscert_regen(DIR, "box2", 521, 1, fp2), 0);
	assert_string_not_equal(fp, fp2);
	/* not a certificate; a key file; nothing */
	static const char junk[] = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";

	assert_int_equal(atomic_write_file(DIR "/junk.pem", junk, strlen(junk), 0600), 0);
	assert_int_equal(tlscert_read(DIR "/junk.pem", fp, NULL, 0), PED_E_CERT_BAD);
	assert_int_equal(tlscert_read(DIR "/" TLSCERT_KEY_FILE, fp, NULL, 0), PED_E_CERT_BAD);
	assert_string_equal(fp, "");
	assert_int_equal(tlscert_read(DIR "/none.pem", fp, NULL, 0), PED_E_NOT_FOUND);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limits),
		cmocka_unit_test_setup_teardown(test_store, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cert, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
