/* softhsm_test.c - unit tests for the software HSM (pedclient/softhsm.c)
 * behind the HSM back-end interface (pedclient/hsm.h): the state file, role
 * initialization and M-of-N login with lockout, the RPV and the channel keys,
 * and strict reading of damaged state files. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/sys.h"
#include "common/atomic.h"
#include "common/err.h"
#include "crypto/ecp.h"
#include "crypto/kas.h"
#include "crypto/shamir.h"
#include "pedclient/hsm.h"
#include "pedclient/softhsm_int.h"

static char dir[64];
static char path[128];
static unsigned file_no;

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/softhsm_test.XXXXXX");
	return sys_mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	return rmdir(dir);
}

/* A fresh state path per test. */
static int new_path(void **state)
{
	(void)state;
	snprintf(path, sizeof(path), "%s/slot%u.state", dir, file_no++);
	return 0;
}

static int drop_path(void **state)
{
	(void)state;
	unlink(path);
	return 0;
}

static void read_file(const char *p, uint8_t **data, size_t *len)
{
	void *d = NULL;

	assert_int_equal(atomic_read_file(p, 1u << 16, &d, len), 0);
	*data = d;
}

static void write_file(const char *p, const uint8_t *data, size_t len)
{
	FILE *f = fopen(p, "wb");

	assert_non_null(f);
	if (len > 0)
		assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static hsm_t *open_new(void)
{
	hsm_t *h = NULL;

	assert_int_equal(hsm_open(path, 1, &h), 0);
	assert_non_null(h);
	return h;
}

static void reopen(hsm_t **h)
{
	hsm_close(*h);
	*h = NULL;
	assert_int_equal(hsm_open(path, 0, h), 0);
}

/* hsm init with a fresh SO keyset m of n (shares out) and a 1-of-1 domain. */
static void do_hsm_init(hsm_t *h, unsigned m, unsigned n, shamir_share_t *so)
{
	shamir_share_t dom[1];
	uint32_t t_so, t_dom;

	assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_SO, m, n, so, NULL, &t_so), 0);
	assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_DOMAIN, 1, 1, dom, NULL, &t_dom), 0);
	assert_int_equal(hsm_init(h, "test hsm", t_so, t_dom), 0);
	shamir_share_wipe(&dom[0]);
}

static unsigned remaining_of(const hsm_t *h, enum hsm_role role)
{
	struct hsm_info info;

	assert_int_equal(hsm_info(h, &info), 0);
	return info.roles[role].remaining;
}

static void wipe_all(shamir_share_t *s, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		shamir_share_wipe(&s[i]);
}

/* ---- open / close ---------------------------------------------------------- */

static void test_create_reopen(void **state)
{
	uint8_t pub1[ECP_PUB_LEN], pub2[ECP_PUB_LEN];
	struct hsm_info i1, i2;
	struct stat sb;
	hsm_t *h = NULL;

	(void)state;
	assert_int_equal(hsm_open(path, 0, &h), PED_E_NOT_FOUND);
	assert_null(h);
	h = open_new();
	assert_int_equal(stat(path, &sb), 0);
	assert_true(sys_is_private(path));
	assert_int_equal(sb.st_size, SOFTHSM_FILE_LEN);
	assert_int_equal(hsm_info(h, &i1), 0);
	assert_true(i1.serial >= 1000000000u && i1.serial <= 9999999999u);
	assert_false(i1.initialized);
	assert_false(i1.partition_initialized);
	assert_false(i1.rpv_initialized);
	assert_string_equal(i1.label, "");
	assert_int_equal(i1.roles[HSM_ROLE_SO].max_failures, 3);
	assert_int_equal(i1.roles[HSM_ROLE_CO].max_failures, 10);
	assert_int_equal(i1.roles[HSM_ROLE_DOMAIN].max_failures, 0);
	assert_int_equal(hsm_static_public(h, pub1), 0);
	assert_int_equal(pub1[0], 0x04);
	assert_int_equal(hsm_ped_static_public(h, pub2), PED_E_NOT_INITIALIZED);

	/* create_if_missing does not re-create an existing slot */
	hsm_close(h);
	h = open_new();
	assert_int_equal(hsm_info(h, &i2), 0);
	assert_int_equal(hsm_static_public(h, pub2), 0);
	assert_true(i1.serial == i2.serial);
	assert_memory_equal(pub1, pub2, ECP_PUB_LEN);
	reopen(&h);
	assert_int_equal(hsm_info(h, &i2), 0);
	assert_true(i1.serial == i2.serial);
	hsm_close(h);
	hsm_close(NULL);

	assert_int_equal(hsm_open(NULL, 1, &h), PED_E_INVAL);
	assert_int_equal(hsm_open("", 1, &h), PED_E_INVAL);
	assert_int_equal(hsm_open(path, 1, NULL), PED_E_INVAL);
}

static void test_names(void **state)
{
	enum hsm_role r;
	unsigned i;

	(void)state;
	for (i = 0; i < HSM_ROLE_COUNT; i++) {
		assert_int_equal(hsm_role_from_name(hsm_role_name((enum hsm_role)i), &r), 0);
		assert_int_equal(r, i);
	}
	assert_int_equal(hsm_role_from_name("xx", &r), PED_E_NOT_FOUND);
	assert_null(hsm_role_name(HSM_ROLE_COUNT));
	assert_int_equal(hsm_role_key_type(HSM_ROLE_SO), 1);
	assert_int_equal(hsm_role_key_type(HSM_ROLE_PDOMAIN), 2);
	assert_int_equal(hsm_role_key_type(HSM_ROLE_CU), 4);
	assert_int_equal(hsm_role_key_type(HSM_ROLE_AU), 5);
	assert_int_equal(hsm_role_max_failures(HSM_ROLE_SO), 3);
	assert_int_equal(hsm_role_max_failures(HSM_ROLE_PO), 10);
}

/* ---- SO: init, login, lockout ---------------------------------------------- */

static void test_so_login(void **state)
{
	static const unsigned pairs[][2] = {{0, 1}, {0, 2}, {1, 2}, {2, 0}, {1, 0}, {2, 1}};
	shamir_share_t so[3], two[2], bad[2];
	struct hsm_info info;
	unsigned rem = 99, i;
	hsm_t *h;

	(void)state;
	h = open_new();
	do_hsm_init(h, 2, 3, so);
	assert_int_equal(hsm_info(h, &info), 0);
	assert_true(info.initialized);
	assert_string_equal(info.label, "test hsm");
	assert_true(info.roles[HSM_ROLE_SO].initialized);
	assert_int_equal(info.roles[HSM_ROLE_SO].m, 2);
	assert_int_equal(info.roles[HSM_ROLE_SO].n, 3);
	assert_true(info.roles[HSM_ROLE_DOMAIN].initialized);
	assert_false(info.roles[HSM_ROLE_SO].logged_in);

	/* every 2-subset, in either order, and all three */
	for (i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		two[0] = so[pairs[i][0]];
		two[1] = so[pairs[i][1]];
		assert_int_equal(hsm_role_login(h, HSM_ROLE_SO, two, 2, &rem), 0);
		assert_int_equal(rem, 3);
		assert_int_equal(hsm_info(h, &info), 0);
		assert_true(info.roles[HSM_ROLE_SO].logged_in);
		hsm_role_logout(h);
		assert_int_equal(hsm_info(h, &info), 0);
		assert_false(info.roles[HSM_ROLE_SO].logged_in);
	}
	assert_int_equal(hsm_role_login(h, HSM_ROLE_SO, so, 3, &rem), 0);

	/* too few, duplicate, malformed: rejected before the attempt counts */
	assert_int_equal(hsm_role_login(h, HSM_ROLE_SO, so, 1, &rem), PED_E_SHARE_FEW);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_SO, so, 0, &rem), PED_E_SHARE_FEW);
	two[0] = so[1];
	two[1] = so[1];
	assert_int_equal(hsm_role_login(h, HSM_ROLE_SO, two, 2, &rem), PED_E_SHARE_DUP);
	two[1].y[0] ^= 0x55; /* same x, other y: still the same key twice */
	assert_int_equal(hsm_role_login(h, HSM_ROLE_SO, two, 2, &rem), PED_E_SHARE_DUP);
	two[1] = so[2];
	two[1].m = 3;
	assert_int_equal(hsm_role_login(h, HSM_ROLE_SO, two, 2, &rem), PED_E_SHARE_BAD);
	two[1] = so[2];
	two[1].len = 31;
	assert_int_equal(hsm_role_login(h, HSM_ROLE_SO, two, 2, &rem), PED_E_SHARE_BAD);
	assert_int_equal(remaining_of(h, HSM_ROLE_SO), 3);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_DOMAIN, so, 2, &rem), PED_E_INVAL);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_CO, so, 2, &rem), PED_E_NOT_INITIALIZED);

	/* a wrong PIN on one key: a wrong y, caught after recombination */
	bad[0] = so[0];
	bad[1] = so[2];
	bad[1].y[7] ^= 0x01;
	assert_int_equal(hsm_role_login(h, HSM_ROLE_SO, bad, 2, &rem), PED_E_PIN_INCORRECT);
	assert_int_equal(rem, 2);
	assert_int_equal(hsm_info(h, &info), 0);
	assert_false(info.roles[HSM_ROLE_SO].logged_in); /* a failed try logs out */
	assert_int_equal(info.roles[HSM_ROLE_SO].failures, 1);
	/* the counter is persistent */
	reopen(&h);
	assert_int_equal(remaining_of(h, HSM_ROLE_SO), 2);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_SO, bad, 2, &rem), PED_E_PIN_INCORRECT);
	assert_int_equal(rem, 1);
	/* a success resets it */
	assert_int_equal(hsm_role_login(h, HSM_ROLE_SO, so, 2, &rem), 0);
	assert_int_equal(rem, 3);
	assert_int_equal(remaining_of(h, HSM_ROLE_SO), 3);

	/* three consecutive failures zeroize the HSM */
	assert_int_equal(hsm_role_login(h, HSM_ROLE_SO, bad, 2, &rem), PED_E_PIN_INCORRECT);
	assert_int_equal(rem, 2);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_SO, bad, 2, &rem), PED_E_PIN_INCORRECT);
	assert_int_equal(rem, 1);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_SO, bad, 2, &rem), PED_E_PIN_INCORRECT);
	assert_int_equal(rem, 0);
	assert_int_equal(hsm_info(h, &info), 0);
	assert_false(info.initialized);
	assert_false(info.roles[HSM_ROLE_SO].initialized);
	assert_false(info.roles[HSM_ROLE_DOMAIN].initialized);
	assert_string_equal(info.label, "");
	assert_int_equal(hsm_role_login(h, HSM_ROLE_SO, so, 2, &rem), PED_E_NOT_INITIALIZED);
	reopen(&h);
	assert_int_equal(hsm_info(h, &info), 0);
	assert_false(info.initialized);

	wipe_all(so, 3);
	wipe_all(two, 2);
	wipe_all(bad, 2);
	hsm_close(h);
}

/* A crash between the counter write and the lockout action (simulated by
 * writing a state with failures == max) is completed at the next login. */
static void test_so_lockout_recovery(void **state)
{
	struct softhsm_state st;
	uint8_t *data, buf[SOFTHSM_FILE_LEN];
	shamir_share_t so[1];
	struct hsm_info info;
	size_t len;
	unsigned rem;
	hsm_t *h;

	(void)state;
	h = open_new();
	do_hsm_init(h, 1, 1, so);
	hsm_close(h);
	read_file(path, &data, &len);
	assert_int_equal(softhsm_state_parse(data, len, &st, NULL), 0);
	st.roles[HSM_ROLE_SO].failures = 3;
	assert_int_equal(softhsm_state_encode(&st, buf, sizeof(buf), &len), 0);
	write_file(path, buf, len);
	assert_int_equal(hsm_open(path, 0, &h), 0);
	assert_int_equal(hsm_info(h, &info), 0);
	assert_int_equal(info.roles[HSM_ROLE_SO].remaining, 0);
	assert_true(info.initialized); /* not yet acted on */
	assert_int_equal(hsm_role_login(h, HSM_ROLE_SO, so, 1, &rem), PED_E_PIN_LOCKED);
	assert_int_equal(hsm_info(h, &info), 0);
	assert_false(info.initialized);
	hsm_close(h);
	OPENSSL_cleanse(&st, sizeof(st));
	OPENSSL_cleanse(buf, sizeof(buf));
	free(data);
	shamir_share_wipe(&so[0]);
}

/* ---- two-phase: abort, no commit, crash ------------------------------------ */

static void test_two_phase(void **state)
{
	shamir_share_t so[3], so2[3], dom[1];
	uint8_t before[SOFTHSM_FILE_LEN], *data;
	struct hsm_info info;
	uint32_t t_so, t_dom;
	size_t len;
	unsigned rem;
	hsm_t *h;

	(void)state;
	h = open_new();
	/* begin without commit: nothing stored, nothing in the file */
	read_file(path, &data, &len);
	memcpy(before, data, sizeof(before));
	free(data);
	assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_SO, 2, 3, so2, NULL, &t_so), 0);
	assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_DOMAIN, 1, 1, dom, NULL, &t_dom), 0);
	read_file(path, &data, &len);
	assert_memory_equal(data, before, sizeof(before));
	free(data);
	assert_int_equal(hsm_info(h, &info), 0);
	assert_false(info.initialized);
	/* a simulated crash: close without commit, reopen */
	reopen(&h);
	assert_int_equal(hsm_info(h, &info), 0);
	assert_false(info.initialized);
	assert_false(info.roles[HSM_ROLE_SO].initialized);
	/* the staged change died with the handle */
	assert_int_equal(hsm_init(h, "x", t_so, t_dom), PED_E_BAD_REQUEST);
	wipe_all(so2, 3);

	do_hsm_init(h, 2, 3, so);
	/* re-init needs the SO */
	assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_SO, 2, 3, so2, NULL, &t_so),
			 PED_E_NOT_LOGGED_IN);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_SO, so, 2, &rem), 0);
	assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_SO, 2, 3, so2, NULL, &t_so), 0);
	assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_DOMAIN, 1, 1, dom, NULL, &t_dom), 0);
	/* wrong or missing tokens */
	assert_int_equal(hsm_init(h, "new", t_so + 1, t_dom), PED_E_BAD_REQUEST);
	assert_int_equal(hsm_init(h, "new", t_so, 0), PED_E_BAD_REQUEST);
	assert_int_equal(hsm_init(h, "", t_so, t_dom), PED_E_INVAL);
	assert_int_equal(hsm_init(h, "0123456789abcdef0123456789abcdefX", t_so, t_dom),
			 PED_E_INVAL);
	assert_int_equal(hsm_init(h, "tab\there", t_so, t_dom), PED_E_INVAL);
	/* abort: the previous SO keyset still works, the new one does not */
	hsm_role_init_abort(h, HSM_ROLE_SO);
	assert_int_equal(hsm_init(h, "new", t_so, t_dom), PED_E_BAD_REQUEST);
	hsm_role_logout(h);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_SO, so2, 2, &rem), PED_E_PIN_INCORRECT);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_SO, so, 2, &rem), 0);
	assert_int_equal(hsm_info(h, &info), 0);
	assert_string_equal(info.label, "test hsm");
	wipe_all(so2, 3);

	/* a crash between begin and commit of a re-init leaves the old state */
	assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_SO, 2, 3, so2, NULL, &t_so), 0);
	assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_DOMAIN, 1, 1, dom, NULL, &t_dom), 0);
	reopen(&h);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_SO, so, 2, &rem), 0);
	assert_int_equal(hsm_info(h, &info), 0);
	assert_string_equal(info.label, "test hsm");

	/* a committed re-init replaces the keyset and logs out */
	assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_SO, 2, 3, so2, NULL, &t_so), 0);
	assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_DOMAIN, 1, 1, dom, NULL, &t_dom), 0);
	assert_int_equal(hsm_init(h, "new", t_so, t_dom), 0);
	assert_int_equal(hsm_info(h, &info), 0);
	assert_false(info.roles[HSM_ROLE_SO].logged_in);
	assert_string_equal(info.label, "new");
	assert_int_equal(hsm_role_login(h, HSM_ROLE_SO, so, 2, &rem), PED_E_PIN_INCORRECT);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_SO, so2, 2, &rem), 0);
	/* a token is single-use */
	assert_int_equal(hsm_init(h, "again", t_so, t_dom), PED_E_BAD_REQUEST);

	/* argument checks */
	assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_SO, 0, 3, so2, NULL, &t_so), PED_E_RANGE);
	assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_SO, 3, 2, so2, NULL, &t_so), PED_E_RANGE);
	assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_SO, 2, 17, so2, NULL, &t_so), PED_E_RANGE);
	assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_COUNT, 1, 1, so2, NULL, &t_so),
			 PED_E_INVAL);
	assert_int_equal(hsm_role_init_commit(h, HSM_ROLE_SO, t_so), PED_E_INVAL);

	wipe_all(so, 3);
	wipe_all(so2, 3);
	shamir_share_wipe(&dom[0]);
	hsm_close(h);
}

/* ---- partition, CO, CU, AU ------------------------------------------------- */

static void test_partition_roles(void **state)
{
	shamir_share_t so[1], po[2], pd[1], co[3], co2[1], cu[1], au[1], reuse[2], bad[2];
	uint8_t ksid[HSM_KEYSET_ID_LEN];
	struct hsm_info info;
	uint32_t t_po, t_pd, t_co, t_cu, t_au;
	unsigned rem, i;
	hsm_t *h;

	(void)state;
	h = open_new();
	assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_PO, 1, 2, po, NULL, &t_po),
			 PED_E_NOT_INITIALIZED);
	do_hsm_init(h, 1, 1, so);
	assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_PO, 1, 2, po, NULL, &t_po),
			 PED_E_NOT_LOGGED_IN);
	assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_CO, 1, 1, co, NULL, &t_co),
			 PED_E_NOT_INITIALIZED);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_SO, so, 1, &rem), 0);
	assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_PO, 1, 2, po, ksid, &t_po), 0);
	assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_PDOMAIN, 1, 1, pd, NULL, &t_pd), 0);
	assert_int_equal(hsm_partition_init(h, "part", t_po, t_pd), 0);
	assert_int_equal(hsm_info(h, &info), 0);
	assert_true(info.partition_initialized);
	assert_string_equal(info.partition_label, "part");
	assert_true(info.roles[HSM_ROLE_PO].logged_in);
	assert_memory_equal(info.roles[HSM_ROLE_PO].keyset_id, ksid, sizeof(ksid));

	/* CO 2 of 3, by the PO; commit only CO, CU, AU with role_init_commit */
	assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_CO, 2, 3, co, NULL, &t_co), 0);
	hsm_role_logout(h);
	assert_int_equal(hsm_role_init_commit(h, HSM_ROLE_CO, t_co), PED_E_NOT_LOGGED_IN);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_PO, &po[1], 1, &rem), 0);
	assert_int_equal(hsm_role_init_commit(h, HSM_ROLE_CO, t_co), 0);
	assert_int_equal(hsm_role_init_commit(h, HSM_ROLE_CO, t_co), PED_E_BAD_REQUEST);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_CO, &co[1], 2, &rem), 0);

	/* CU by the CO, reusing the CO's keyset (one black key for both) */
	reuse[0] = co[0];
	reuse[1] = co[2];
	assert_int_equal(hsm_role_init_reuse(h, HSM_ROLE_CU, reuse, 2, ksid, &t_cu), 0);
	assert_int_equal(hsm_role_init_commit(h, HSM_ROLE_CU, t_cu), 0);
	assert_int_equal(hsm_info(h, &info), 0);
	assert_int_equal(info.roles[HSM_ROLE_CU].m, 2);
	assert_int_equal(info.roles[HSM_ROLE_CU].n, 3);
	assert_memory_equal(info.roles[HSM_ROLE_CU].keyset_id, ksid, sizeof(ksid));
	assert_int_equal(hsm_role_login(h, HSM_ROLE_CU, co, 2, &rem), 0);
	assert_int_equal(hsm_role_init_reuse(h, HSM_ROLE_CU, reuse, 1, NULL, &t_cu),
			 PED_E_SHARE_FEW);
	assert_int_equal(hsm_role_init_reuse(h, HSM_ROLE_CU, so, 1, NULL, &t_cu), 0);
	hsm_role_init_abort(h, HSM_ROLE_CU);

	/* CO: 10 failures lock it; the PO unlocks it by initializing it again */
	bad[0] = co[0];
	bad[1] = co[1];
	bad[1].y[0] ^= 0x80;
	for (i = 1; i <= 10; i++) {
		assert_int_equal(hsm_role_login(h, HSM_ROLE_CO, bad, 2, &rem), PED_E_PIN_INCORRECT);
		assert_int_equal(rem, 10 - i);
	}
	assert_int_equal(hsm_info(h, &info), 0);
	assert_true(info.roles[HSM_ROLE_CO].locked);
	assert_true(info.partition_initialized);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_CO, co, 2, &rem), PED_E_PIN_LOCKED);
	reopen(&h);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_CO, co, 2, &rem), PED_E_PIN_LOCKED);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_CU, co, 2, &rem), 0); /* CU unaffected */
	assert_int_equal(hsm_role_login(h, HSM_ROLE_PO, po, 1, &rem), 0);
	assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_CO, 1, 1, co2, NULL, &t_co), 0);
	assert_int_equal(hsm_role_init_commit(h, HSM_ROLE_CO, t_co), 0);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_CO, co2, 1, &rem), 0);
	assert_int_equal(rem, 10);

	/* AU by the SO */
	assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_AU, 1, 1, au, NULL, &t_au),
			 PED_E_NOT_LOGGED_IN);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_SO, so, 1, &rem), 0);
	assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_AU, 1, 1, au, NULL, &t_au), 0);
	assert_int_equal(hsm_role_init_commit(h, HSM_ROLE_AU, t_au), 0);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_AU, au, 1, &rem), 0);

	/* PO: 10 failures zeroize the partition (PO, domain, CO, CU); AU stays */
	bad[0] = po[0];
	bad[0].y[3] ^= 1;
	for (i = 1; i <= 10; i++)
		assert_int_equal(hsm_role_login(h, HSM_ROLE_PO, bad, 1, &rem), PED_E_PIN_INCORRECT);
	assert_int_equal(rem, 0);
	assert_int_equal(hsm_info(h, &info), 0);
	assert_false(info.partition_initialized);
	assert_string_equal(info.partition_label, "");
	assert_false(info.roles[HSM_ROLE_PO].initialized);
	assert_false(info.roles[HSM_ROLE_PDOMAIN].initialized);
	assert_false(info.roles[HSM_ROLE_CO].initialized);
	assert_false(info.roles[HSM_ROLE_CU].initialized);
	assert_false(info.roles[HSM_ROLE_CO].logged_in);
	assert_true(info.initialized);
	assert_true(info.roles[HSM_ROLE_AU].initialized);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_CO, co2, 1, &rem), PED_E_NOT_INITIALIZED);
	reopen(&h);
	assert_int_equal(hsm_info(h, &info), 0);
	assert_false(info.partition_initialized);

	wipe_all(so, 1);
	wipe_all(po, 2);
	wipe_all(pd, 1);
	wipe_all(co, 3);
	wipe_all(co2, 1);
	wipe_all(cu, 1);
	wipe_all(au, 1);
	wipe_all(reuse, 2);
	wipe_all(bad, 2);
	hsm_close(h);
}

/* role changepw: staged until committed (old secret valid meanwhile, and
 * after an abort, a close or a crash); init and change tokens do not mix; the
 * role must be logged in; the commit keeps it logged in with a fresh
 * counter; a reused keyset becomes the role's. */
static void test_changepw(void **state)
{
	shamir_share_t so[1], so2[16], co[2], co2[3], dom[1];
	uint8_t ksid[HSM_KEYSET_ID_LEN];
	struct hsm_info info;
	uint32_t t, t2;
	unsigned rem;
	hsm_t *h;

	(void)state;
	h = open_new();
	do_hsm_init(h, 1, 1, so);
	/* not logged in: refused, nothing staged */
	assert_int_equal(hsm_role_change_begin(h, HSM_ROLE_SO, 2, 3, so2, NULL, &t),
			 PED_E_NOT_LOGGED_IN);
	assert_int_equal(t, 0);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_SO, so, 1, &rem), 0);
	/* the domains and the uninitialized roles have no changepw */
	assert_int_equal(hsm_role_change_begin(h, HSM_ROLE_DOMAIN, 1, 1, dom, NULL, &t),
			 PED_E_INVAL);
	assert_int_equal(hsm_role_change_begin(h, HSM_ROLE_AU, 1, 1, dom, NULL, &t),
			 PED_E_NOT_INITIALIZED);
	assert_int_equal(hsm_role_change_begin(h, HSM_ROLE_SO, 0, 3, so2, NULL, &t), PED_E_RANGE);
	assert_int_equal(hsm_role_change_begin(h, HSM_ROLE_SO, 4, 3, so2, NULL, &t), PED_E_RANGE);

	/* staged, then the handle closes (a crash): the old secret stays */
	assert_int_equal(hsm_role_change_begin(h, HSM_ROLE_SO, 16, 16, so2, ksid, &t), 0);
	reopen(&h);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_SO, so2, 16, &rem), PED_E_SHARE_BAD);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_SO, so, 1, &rem), 0);
	/* staged, then aborted */
	assert_int_equal(hsm_role_change_begin(h, HSM_ROLE_SO, 16, 16, so2, ksid, &t), 0);
	hsm_role_init_abort(h, HSM_ROLE_SO);
	assert_int_equal(hsm_role_change_commit(h, HSM_ROLE_SO, t), PED_E_BAD_REQUEST);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_SO, so, 1, &rem), 0);
	/* a change token does not commit an init, a wrong token nothing */
	assert_int_equal(hsm_role_change_begin(h, HSM_ROLE_SO, 16, 16, so2, ksid, &t), 0);
	assert_int_equal(hsm_role_change_commit(h, HSM_ROLE_SO, t ^ 1u), PED_E_BAD_REQUEST);
	assert_int_equal(hsm_role_change_commit(h, HSM_ROLE_SO, 0), PED_E_BAD_REQUEST);
	/* logged out before the commit: refused, the old secret stays */
	hsm_role_logout(h);
	assert_int_equal(hsm_role_change_commit(h, HSM_ROLE_SO, t), PED_E_NOT_LOGGED_IN);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_SO, so, 1, &rem), 0);
	assert_int_equal(hsm_role_change_commit(h, HSM_ROLE_SO, t), 0);
	assert_int_equal(hsm_role_change_commit(h, HSM_ROLE_SO, t), PED_E_BAD_REQUEST);
	assert_int_equal(hsm_info(h, &info), 0);
	assert_true(info.roles[HSM_ROLE_SO].logged_in);
	assert_int_equal(info.roles[HSM_ROLE_SO].m, 16);
	assert_int_equal(info.roles[HSM_ROLE_SO].n, 16);
	assert_memory_equal(info.roles[HSM_ROLE_SO].keyset_id, ksid, sizeof(ksid));
	assert_true(info.initialized);
	reopen(&h);
	/* the old keyset no longer fits (its M differs: refused before counting) */
	assert_int_equal(hsm_role_login(h, HSM_ROLE_SO, so, 1, &rem), PED_E_SHARE_BAD);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_SO, so2, 15, &rem), PED_E_SHARE_FEW);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_SO, so2, 16, &rem), 0);
	assert_int_equal(rem, 3);

	/* partition, CO 1 of 2; changepw CO reusing a 2-of-3 keyset */
	{
		shamir_share_t po[1], pd[1];
		uint32_t t_po, t_pd;

		assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_PO, 1, 1, po, NULL, &t_po), 0);
		assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_PDOMAIN, 1, 1, pd, NULL, &t_pd),
				 0);
		assert_int_equal(hsm_partition_init(h, "p", t_po, t_pd), 0);
		assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_CO, 1, 2, co, NULL, &t), 0);
		/* an init token does not commit a change */
		assert_int_equal(hsm_role_change_commit(h, HSM_ROLE_CO, t), PED_E_BAD_REQUEST);
		assert_int_equal(hsm_role_init_commit(h, HSM_ROLE_CO, t), 0);
		wipe_all(po, 1);
		wipe_all(pd, 1);
	}
	assert_int_equal(hsm_role_change_begin(h, HSM_ROLE_CO, 1, 1, dom, NULL, &t),
			 PED_E_NOT_LOGGED_IN);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_CO, &co[1], 1, &rem), 0);
	/* a change token does not commit an init */
	assert_int_equal(hsm_role_change_begin(h, HSM_ROLE_CO, 1, 1, dom, NULL, &t), 0);
	assert_int_equal(hsm_role_init_commit(h, HSM_ROLE_CO, t), PED_E_BAD_REQUEST);
	/* reuse replaces the staged change; too few shares refused */
	assert_int_equal(shamir_split((const uint8_t *)"0123456789abcdef0123456789abcdef", 32,
				      2, 3, co2),
			 0);
	assert_int_equal(hsm_role_change_reuse(h, HSM_ROLE_CO, co2, 0, NULL, &t2),
			 PED_E_SHARE_FEW);
	assert_int_equal(hsm_role_change_reuse(h, HSM_ROLE_CO, &co2[1], 2, ksid, &t2), 0);
	assert_int_equal(hsm_role_change_commit(h, HSM_ROLE_CO, t), PED_E_BAD_REQUEST);
	assert_int_equal(hsm_role_change_commit(h, HSM_ROLE_CO, t2), 0);
	assert_int_equal(hsm_info(h, &info), 0);
	assert_int_equal(info.roles[HSM_ROLE_CO].m, 2);
	assert_int_equal(info.roles[HSM_ROLE_CO].n, 3);
	assert_int_equal(info.roles[HSM_ROLE_CO].failures, 0);
	assert_true(info.roles[HSM_ROLE_CO].logged_in);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_CO, co, 1, &rem), PED_E_SHARE_BAD);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_CO, co2, 2, &rem), 0);
	assert_int_equal(rem, 10);

	wipe_all(so, 1);
	wipe_all(so2, 16);
	wipe_all(co, 2);
	wipe_all(co2, 3);
	wipe_all(dom, 1);
	hsm_close(h);
}

/* ---- the Limited Crypto Officer and the version 1 file -------------------- */

/* A version 1 file made from a current one: the 7 roles before the LCO, the
 * version and body length of version 1, its checksum. */
static size_t to_v1(const uint8_t *v2, uint8_t *out)
{
	const size_t body = SOFTHSM_BODY_LEN_N(SOFTHSM_ROLES_V1);
	size_t n = 0;

	memcpy(out, v2, SOFTHSM_HDR_LEN + body);
	out[8] = 0;
	out[9] = 1;
	out[10] = (uint8_t)(body >> 8);
	out[11] = (uint8_t)body;
	assert_true(EVP_Q_digest(NULL, "SHA256", NULL, out, SOFTHSM_HDR_LEN + body,
				 out + SOFTHSM_HDR_LEN + body, &n));
	assert_int_equal(n, SOFTHSM_SUM_LEN);
	return SOFTHSM_FILE_LEN_V1;
}

static void test_lco_and_v1_file(void **state)
{
	shamir_share_t so[1], po[1], pd[1], co[1], cu[1], lco[2], lco2[1];
	uint8_t *data, v1[SOFTHSM_FILE_MAX];
	struct softhsm_state st;
	struct hsm_info info;
	uint32_t t, t2;
	unsigned rem, i;
	size_t len, n;
	hsm_t *h;

	(void)state;
	h = open_new();
	do_hsm_init(h, 1, 1, so);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_SO, so, 1, &rem), 0);
	assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_LCO, 1, 1, lco, NULL, &t),
			 PED_E_NOT_INITIALIZED);
	assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_PO, 1, 1, po, NULL, &t), 0);
	assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_PDOMAIN, 1, 1, pd, NULL, &t2), 0);
	assert_int_equal(hsm_partition_init(h, "p", t, t2), 0);
	assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_CO, 1, 1, co, NULL, &t), 0);
	assert_int_equal(hsm_role_init_commit(h, HSM_ROLE_CO, t), 0);
	/* the PO alone may not make an LCO: the CO does */
	assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_LCO, 1, 1, lco, NULL, &t),
			 PED_E_NOT_LOGGED_IN);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_CO, co, 1, &rem), 0);
	assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_CU, 1, 1, cu, NULL, &t), 0);
	assert_int_equal(hsm_role_init_commit(h, HSM_ROLE_CU, t), 0);

	/* a version 1 file (no LCO) opens; every role in it works */
	hsm_close(h);
	read_file(path, &data, &len);
	assert_int_equal(len, SOFTHSM_FILE_LEN);
	n = to_v1(data, v1);
	free(data);
	write_file(path, v1, n);
	assert_int_equal(softhsm_state_parse(v1, n, &st, NULL), 0);
	assert_false(st.roles[HSM_ROLE_LCO].initialized);
	assert_int_equal(hsm_open(path, 0, &h), 0);
	assert_int_equal(hsm_info(h, &info), 0);
	assert_true(info.partition_initialized);
	assert_false(info.roles[HSM_ROLE_LCO].initialized);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_SO, so, 1, &rem), 0);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_PO, po, 1, &rem), 0);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_CU, cu, 1, &rem), 0);
	/* the login counter's write made it a current file */
	read_file(path, &data, &len);
	assert_int_equal(len, SOFTHSM_FILE_LEN);
	assert_int_equal(data[9], SOFTHSM_VERSION);
	free(data);
	/* a version 1 header on a current body, or the reverse: corrupt */
	v1[11] = (uint8_t)(SOFTHSM_BODY_LEN & 0xff);
	v1[10] = (uint8_t)(SOFTHSM_BODY_LEN >> 8);
	assert_int_equal(softhsm_state_parse(v1, n, &st, NULL), PED_E_STATE_CORRUPT);
	read_file(path, &data, &len);
	data[9] = 1;
	assert_int_equal(softhsm_state_parse(data, len, &st, NULL), PED_E_STATE_CORRUPT);
	free(data);

	/* the LCO, 1 of 2, by the CO; its login; what it may not do */
	assert_int_equal(hsm_role_login(h, HSM_ROLE_CO, co, 1, &rem), 0);
	assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_LCO, 1, 2, lco, NULL, &t), 0);
	assert_int_equal(hsm_role_init_commit(h, HSM_ROLE_LCO, t), 0);
	hsm_role_logout(h);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_LCO, &lco[1], 1, &rem), 0);
	assert_int_equal(rem, 10);
	assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_CU, 1, 1, lco2, NULL, &t),
			 PED_E_NOT_LOGGED_IN);
	assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_LCO, 1, 1, lco2, NULL, &t),
			 PED_E_NOT_LOGGED_IN);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_CO, lco, 1, &rem), PED_E_PIN_INCORRECT);
	/* it changes its own secret */
	assert_int_equal(hsm_role_change_begin(h, HSM_ROLE_LCO, 1, 1, lco2, NULL, &t), 0);
	assert_int_equal(hsm_role_change_commit(h, HSM_ROLE_LCO, t), 0);
	reopen(&h);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_LCO, lco, 1, &rem), PED_E_PIN_INCORRECT);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_LCO, lco2, 1, &rem), 0);
	assert_int_equal(hsm_info(h, &info), 0);
	assert_string_equal(hsm_role_name(HSM_ROLE_LCO), "lco");
	assert_int_equal(hsm_role_key_type(HSM_ROLE_LCO), 4);
	/* 10 failures lock it */
	lco[0] = lco2[0];
	lco[0].y[0] ^= 1;
	for (i = 1; i <= 10; i++)
		assert_int_equal(hsm_role_login(h, HSM_ROLE_LCO, lco, 1, &rem),
				 PED_E_PIN_INCORRECT);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_LCO, lco2, 1, &rem), PED_E_PIN_LOCKED);
	/* partition init erases it */
	assert_int_equal(hsm_role_login(h, HSM_ROLE_SO, so, 1, &rem), 0);
	assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_PO, 1, 1, po, NULL, &t), 0);
	assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_PDOMAIN, 1, 1, pd, NULL, &t2), 0);
	assert_int_equal(hsm_partition_init(h, "q", t, t2), 0);
	assert_int_equal(hsm_info(h, &info), 0);
	assert_false(info.roles[HSM_ROLE_LCO].initialized);

	OPENSSL_cleanse(&st, sizeof(st));
	OPENSSL_cleanse(v1, sizeof(v1));
	wipe_all(so, 1);
	wipe_all(po, 1);
	wipe_all(pd, 1);
	wipe_all(co, 1);
	wipe_all(cu, 1);
	wipe_all(lco, 2);
	wipe_all(lco2, 1);
	hsm_close(h);
}

/* ---- activation (partition policies 22 and 23) ----------------------------- */

static int activated(const hsm_t *h, enum hsm_role role)
{
	struct hsm_info info;

	assert_int_equal(hsm_info(h, &info), 0);
	return info.roles[role].activated;
}

/* Rewrites the state file with its auto-activation time moved to t. */
static void set_active_at(uint64_t t)
{
	uint8_t *data, buf[SOFTHSM_FILE_LEN];
	struct softhsm_state st;
	size_t len, n;

	read_file(path, &data, &len);
	assert_int_equal(softhsm_state_parse(data, len, &st, NULL), 0);
	assert_true(st.active != 0);
	st.active_at = t;
	assert_int_equal(softhsm_state_encode(&st, buf, sizeof(buf), &n), 0);
	write_file(path, buf, n);
	OPENSSL_cleanse(&st, sizeof(st));
	OPENSSL_cleanse(data, len);
	free(data);
}

static void test_activation(void **state)
{
	static const char ch[] = "Chal-0001x", cu_ch[] = "cu-secret!";
	char longch[HSM_CHALLENGE_MAX + 2];
	shamir_share_t so[1], po[1], pd[1], co[1], cu[1], co2[1];
	uint32_t t, t2;
	unsigned rem, i;
	hsm_t *h;

	(void)state;
	h = open_new();
	do_hsm_init(h, 1, 1, so);
	assert_int_equal(hsm_policy_set(h, 22, 1), PED_E_NOT_INITIALIZED);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_SO, so, 1, &rem), 0);
	assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_PO, 1, 1, po, NULL, &t), 0);
	assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_PDOMAIN, 1, 1, pd, NULL, &t2), 0);
	assert_int_equal(hsm_partition_init(h, "p", t, t2), 0);
	assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_CO, 1, 1, co, NULL, &t), 0);
	assert_int_equal(hsm_role_init_commit(h, HSM_ROLE_CO, t), 0);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_CO, co, 1, &rem), 0);
	assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_CU, 1, 1, cu, NULL, &t), 0);
	assert_int_equal(hsm_role_init_commit(h, HSM_ROLE_CU, t), 0);

	/* the challenge rules and who sets them */
	memset(longch, 'x', sizeof(longch));
	assert_int_equal(hsm_challenge_set(h, HSM_ROLE_CO, "abcdef", 6), PED_E_CHALLENGE_BAD);
	assert_int_equal(hsm_challenge_set(h, HSM_ROLE_CO, longch, HSM_CHALLENGE_MAX + 1),
			 PED_E_CHALLENGE_BAD);
	assert_int_equal(hsm_challenge_set(h, HSM_ROLE_CO, "abc defg", 8), PED_E_CHALLENGE_BAD);
	assert_int_equal(hsm_challenge_set(h, HSM_ROLE_AU, ch, strlen(ch)), PED_E_INVAL);
	assert_int_equal(hsm_challenge_set(h, HSM_ROLE_CU, cu_ch, strlen(cu_ch)), 0); /* by the CO */
	hsm_role_logout(h);
	assert_int_equal(hsm_challenge_set(h, HSM_ROLE_CO, ch, strlen(ch)), PED_E_NOT_LOGGED_IN);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_PO, po, 1, &rem), 0);
	assert_int_equal(hsm_challenge_set(h, HSM_ROLE_CO, longch, HSM_CHALLENGE_MAX), 0);
	assert_int_equal(hsm_challenge_set(h, HSM_ROLE_CO, ch, strlen(ch)), 0);

	/* policy 22 off: no activation, not counted */
	assert_int_equal(hsm_role_login(h, HSM_ROLE_CO, co, 1, &rem), 0);
	assert_false(activated(h, HSM_ROLE_CO));
	assert_int_equal(hsm_role_login_challenge(h, HSM_ROLE_CO, ch, strlen(ch), &rem),
			 PED_E_NOT_ACTIVATED);
	assert_int_equal(remaining_of(h, HSM_ROLE_CO), 10);
	assert_int_equal(hsm_policy_set(h, 24, 1), PED_E_INVAL);
	assert_int_equal(hsm_policy_set(h, 22, 2), PED_E_INVAL);
	assert_int_equal(hsm_policy_set(h, 22, 1), 0);
	assert_int_equal(hsm_role_login_challenge(h, HSM_ROLE_CO, ch, strlen(ch), &rem),
			 PED_E_NOT_ACTIVATED);
	/* a PED-key login activates; logout keeps it */
	assert_int_equal(hsm_role_login(h, HSM_ROLE_CO, co, 1, &rem), 0);
	assert_true(activated(h, HSM_ROLE_CO));
	assert_false(activated(h, HSM_ROLE_CU));
	hsm_role_logout(h);
	assert_int_equal(hsm_role_login_challenge(h, HSM_ROLE_CO, ch, strlen(ch), &rem), 0);
	assert_int_equal(rem, 10);
	/* a wrong challenge counts like a wrong PIN */
	assert_int_equal(hsm_role_login_challenge(h, HSM_ROLE_CO, "Chal-0001y", 10, &rem),
			 PED_E_PIN_INCORRECT);
	assert_int_equal(rem, 9);
	assert_int_equal(hsm_role_login_challenge(h, HSM_ROLE_CO, "short", 5, &rem),
			 PED_E_PIN_INCORRECT);
	assert_int_equal(rem, 8);
	assert_int_equal(hsm_role_login_challenge(h, HSM_ROLE_CO, ch, strlen(ch), &rem), 0);
	assert_int_equal(remaining_of(h, HSM_ROLE_CO), 10);
	/* deactivate */
	assert_int_equal(hsm_role_deactivate(h, HSM_ROLE_CO), 0);
	assert_int_equal(hsm_role_login_challenge(h, HSM_ROLE_CO, ch, strlen(ch), &rem),
			 PED_E_NOT_ACTIVATED);
	assert_int_equal(hsm_role_deactivate(h, HSM_ROLE_PO), PED_E_INVAL);
	/* a restart without policy 23 erases it */
	assert_int_equal(hsm_role_login(h, HSM_ROLE_CO, co, 1, &rem), 0);
	assert_true(activated(h, HSM_ROLE_CO));
	reopen(&h);
	assert_false(activated(h, HSM_ROLE_CO));
	assert_int_equal(hsm_role_login_challenge(h, HSM_ROLE_CO, ch, strlen(ch), &rem),
			 PED_E_NOT_ACTIVATED);

	/* policy 23: a restart within the window keeps it, CO and CU */
	assert_int_equal(hsm_role_login(h, HSM_ROLE_PO, po, 1, &rem), 0);
	assert_int_equal(hsm_policy_set(h, 23, 1), 0);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_CO, co, 1, &rem), 0);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_CU, cu, 1, &rem), 0);
	assert_true(activated(h, HSM_ROLE_CU));
	reopen(&h);
	assert_true(activated(h, HSM_ROLE_CO));
	assert_true(activated(h, HSM_ROLE_CU));
	assert_int_equal(hsm_role_login_challenge(h, HSM_ROLE_CU, cu_ch, strlen(cu_ch), &rem), 0);
	assert_int_equal(hsm_role_login_challenge(h, HSM_ROLE_CO, cu_ch, strlen(cu_ch), &rem),
			 PED_E_PIN_INCORRECT); /* the CU's challenge is not the CO's */
	/* ... but not past the window (down for more than 2 h), nor from the future */
	hsm_close(h);
	h = NULL;
	set_active_at((uint64_t)time(NULL) - HSM_AUTOACT_WINDOW_S - 5);
	assert_int_equal(hsm_open(path, 0, &h), 0);
	assert_false(activated(h, HSM_ROLE_CO));
	assert_false(activated(h, HSM_ROLE_CU));
	hsm_close(h);
	h = NULL;
	set_active_at((uint64_t)time(NULL) + 3600);
	assert_int_equal(hsm_open(path, 0, &h), 0);
	assert_false(activated(h, HSM_ROLE_CO));
	hsm_close(h);
	h = NULL;
	set_active_at((uint64_t)time(NULL) - HSM_AUTOACT_WINDOW_S + 60);
	assert_int_equal(hsm_open(path, 0, &h), 0);
	assert_true(activated(h, HSM_ROLE_CO));

	/* a changepw of the CO ends its activation; the challenge stays */
	assert_int_equal(hsm_role_login(h, HSM_ROLE_CO, co, 1, &rem), 0);
	assert_int_equal(hsm_role_change_begin(h, HSM_ROLE_CO, 1, 1, co2, NULL, &t), 0);
	assert_int_equal(hsm_role_change_commit(h, HSM_ROLE_CO, t), 0);
	assert_false(activated(h, HSM_ROLE_CO));
	assert_int_equal(hsm_role_login(h, HSM_ROLE_CO, co2, 1, &rem), 0);
	assert_true(activated(h, HSM_ROLE_CO));
	/* locked by wrong challenges: the activation goes */
	for (i = 1; i <= 10; i++)
		assert_int_equal(hsm_role_login_challenge(h, HSM_ROLE_CO, "Wrong-0001", 10, &rem),
				 PED_E_PIN_INCORRECT);
	assert_false(activated(h, HSM_ROLE_CO));
	assert_int_equal(hsm_role_login_challenge(h, HSM_ROLE_CO, ch, strlen(ch), &rem),
			 PED_E_PIN_LOCKED);
	/* resetpw (init again) by the PO: unlocked, no challenge left */
	assert_int_equal(hsm_role_login(h, HSM_ROLE_PO, po, 1, &rem), 0);
	assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_CO, 1, 1, co, NULL, &t), 0);
	assert_int_equal(hsm_role_init_commit(h, HSM_ROLE_CO, t), 0);
	assert_int_equal(hsm_role_login(h, HSM_ROLE_CO, co, 1, &rem), 0);
	assert_false(activated(h, HSM_ROLE_CO));
	{
		struct hsm_info info;
		assert_int_equal(hsm_info(h, &info), 0);
		assert_false(info.roles[HSM_ROLE_CO].challenge);
		assert_true(info.roles[HSM_ROLE_CU].challenge);
		assert_true(info.policy_activation);
		assert_true(info.policy_autoact);
	}
	/* policy 22 off ends every activation */
	assert_true(activated(h, HSM_ROLE_CU));
	assert_int_equal(hsm_policy_set(h, 22, 0), 0);
	assert_false(activated(h, HSM_ROLE_CU));
	/* partition init erases policies and challenges */
	assert_int_equal(hsm_role_login(h, HSM_ROLE_SO, so, 1, &rem), 0);
	assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_PO, 1, 1, po, NULL, &t), 0);
	assert_int_equal(hsm_role_init_begin(h, HSM_ROLE_PDOMAIN, 1, 1, pd, NULL, &t2), 0);
	assert_int_equal(hsm_partition_init(h, "q", t, t2), 0);
	{
		struct hsm_info info;
		assert_int_equal(hsm_info(h, &info), 0);
		assert_false(info.policy_activation);
		assert_false(info.policy_autoact);
		assert_false(info.roles[HSM_ROLE_CU].challenge);
	}
	reopen(&h);

	wipe_all(so, 1);
	wipe_all(po, 1);
	wipe_all(pd, 1);
	wipe_all(co, 1);
	wipe_all(cu, 1);
	wipe_all(co2, 1);
	hsm_close(h);
}

/* ---- RPV and channel keys -------------------------------------------------- */

static const uint8_t ctx[] = "transcript hash";

/* The PED side: the orange keyset's secret split back into RPV and key. */
struct ped_side {
	uint8_t rpv[HSM_RPV_LEN];
	ecp_key_t *key;
};

static void ped_from_shares(const shamir_share_t *s, unsigned k, struct ped_side *p)
{
	uint8_t secret[SHAMIR_MAX_SECRET];

	assert_int_equal(s[0].len, HSM_RPK_SECRET_LEN);
	assert_int_equal(shamir_combine(s, k, secret, sizeof(secret)), 0);
	memcpy(p->rpv, secret, HSM_RPV_LEN);
	assert_int_equal(ecp_from_private(secret + HSM_RPV_LEN, ECP_PRIV_LEN, &p->key), 0);
	OPENSSL_cleanse(secret, sizeof(secret));
}

static void ped_free(struct ped_side *p)
{
	ecp_free(p->key);
	OPENSSL_cleanse(p, sizeof(*p));
}

/* One Full Unified handshake: the HSM (U) against the PED side (V) holding
 * ped_key and rpv. Returns what V's check of U's tag gave; asserts that U's
 * check of V's tag gives the same. prepare: 0 the HSM makes its ephemeral in
 * hsm_channel_keys, 1 in hsm_chan_ephemeral first, 2 hsm_chan_prepare ahead
 * of that (the ephemeral and Zs made off the handshake's path). */
static int handshake(hsm_t *h, const ecp_key_t *ped_key, const uint8_t *rpv, int prepare)
{
	uint8_t hsm_pub[ECP_PUB_LEN], u_eph[ECP_PUB_LEN], v_eph[ECP_PUB_LEN], pre[ECP_PUB_LEN];
	ecp_key_t *ve = NULL, *hs = NULL, *ue = NULL;
	struct hsm_chan_params hp;
	struct kas_params vp;
	kas_keys_t ku, kv;
	int rv, ru;

	assert_int_equal(hsm_static_public(h, hsm_pub), 0);
	assert_int_equal(ecp_import_public(hsm_pub, ECP_PUB_LEN, &hs), 0);
	assert_int_equal(ecp_generate(&ve), 0);
	assert_int_equal(ecp_export_public(ve, v_eph), 0);
	if (prepare == 2)
		assert_int_equal(hsm_chan_prepare(h), 0);
	if (prepare)
		assert_int_equal(hsm_chan_ephemeral(h, pre), 0);

	memset(&hp, 0, sizeof(hp));
	hp.scheme = KAS_FULL_UNIFIED;
	hp.peer_ephem = v_eph;
	hp.use_rpv = 1;
	hp.context = ctx;
	hp.context_len = sizeof(ctx);
	assert_int_equal(hsm_channel_keys(h, &hp, &ku, u_eph), 0);
	if (prepare)
		assert_memory_equal(pre, u_eph, ECP_PUB_LEN);
	assert_int_equal(ecp_import_public(u_eph, ECP_PUB_LEN, &ue), 0);

	memset(&vp, 0, sizeof(vp));
	vp.scheme = KAS_FULL_UNIFIED;
	vp.role = KAS_V;
	vp.own_static = ped_key;
	vp.own_ephem = ve;
	vp.peer_static = hs;
	vp.peer_ephem = ue;
	vp.secret = rpv;
	vp.secret_len = HSM_RPV_LEN;
	vp.context = ctx;
	vp.context_len = sizeof(ctx);
	assert_int_equal(kas_derive(&vp, &kv), 0);
	rv = kas_check_tag(&kv, ku.own_tag);
	ru = kas_check_tag(&ku, kv.own_tag);
	assert_int_equal(rv, ru);
	if (rv == 0) {
		assert_memory_equal(&ku.uv, &kv.uv, sizeof(ku.uv));
		assert_memory_equal(&ku.vu, &kv.vu, sizeof(ku.vu));
	}
	kas_keys_wipe(&ku);
	kas_keys_wipe(&kv);
	ecp_free(ve);
	ecp_free(hs);
	ecp_free(ue);
	return rv;
}

static void test_rpv_channel(void **state)
{
	char path2[160];
	shamir_share_t rpk[3], rpk2[3], sub[2], so[1];
	uint8_t pedpub[ECP_PUB_LEN], pub2[ECP_PUB_LEN], v_eph[ECP_PUB_LEN];
	struct ped_side ped, ped2;
	struct hsm_chan_params hp;
	struct hsm_info info;
	kas_keys_t k;
	uint32_t t, t2;
	unsigned rem;
	hsm_t *h, *h2 = NULL;

	(void)state;
	h = open_new();
	memset(&hp, 0, sizeof(hp));
	hp.scheme = KAS_FULL_UNIFIED;
	hp.peer_ephem = v_eph;
	hp.use_rpv = 1;
	assert_int_equal(hsm_chan_prepare(h), 0); /* no RPV yet: the ephemeral only */
	assert_int_equal(hsm_chan_ephemeral(h, v_eph), 0); /* any valid point */
	assert_int_equal(hsm_chan_ephemeral(h, pub2), 0);  /* never the same twice */
	assert_memory_not_equal(v_eph, pub2, ECP_PUB_LEN);
	assert_int_equal(hsm_channel_keys(h, &hp, &k, pub2), PED_E_NOT_INITIALIZED);
	assert_int_equal(hsm_chan_prepare(NULL), PED_E_INVAL);

	/* RPV init 2 of 3: nothing changes before the commit */
	assert_int_equal(hsm_rpv_init_begin(h, 2, 3, rpk, &t), 0);
	assert_int_equal(rpk[0].len, HSM_RPK_SECRET_LEN);
	reopen(&h);
	assert_int_equal(hsm_info(h, &info), 0);
	assert_false(info.rpv_initialized);
	assert_int_equal(hsm_rpv_init_commit(h, t), PED_E_BAD_REQUEST);
	assert_int_equal(hsm_rpv_init_begin(h, 2, 3, rpk, &t), 0);
	hsm_rpv_init_abort(h);
	assert_int_equal(hsm_rpv_init_commit(h, t), PED_E_BAD_REQUEST);
	assert_int_equal(hsm_rpv_init_begin(h, 2, 3, rpk, &t), 0);
	assert_int_equal(hsm_rpv_init_commit(h, t), 0);
	reopen(&h);
	assert_int_equal(hsm_info(h, &info), 0);
	assert_true(info.rpv_initialized);

	/* the PED side from any two orange keys; the HSM keeps its public key */
	sub[0] = rpk[2];
	sub[1] = rpk[0];
	ped_from_shares(sub, 2, &ped);
	assert_int_equal(hsm_ped_static_public(h, pedpub), 0);
	assert_int_equal(ecp_export_public(ped.key, pub2), 0);
	assert_memory_equal(pedpub, pub2, ECP_PUB_LEN);

	assert_int_equal(handshake(h, ped.key, ped.rpv, 0), 0);
	assert_int_equal(handshake(h, ped.key, ped.rpv, 1), 0);
	assert_int_equal(handshake(h, ped.key, ped.rpv, 2), 0);
	assert_int_equal(handshake(h, ped.key, ped.rpv, 2), 0);
	/* a wrong RPV (right static key) */
	ped.rpv[31] ^= 1;
	assert_int_equal(handshake(h, ped.key, ped.rpv, 0), PED_E_KC_FAILED);
	ped.rpv[31] ^= 1;

	/* another HSM's orange key */
	snprintf(path2, sizeof(path2), "%s/other.state", dir);
	assert_int_equal(hsm_open(path2, 1, &h2), 0);
	assert_int_equal(hsm_rpv_init_begin(h2, 1, 1, rpk2, &t2), 0);
	assert_int_equal(hsm_rpv_init_commit(h2, t2), 0);
	ped_from_shares(rpk2, 1, &ped2);
	assert_int_equal(handshake(h, ped2.key, ped2.rpv, 0), PED_E_KC_FAILED);
	assert_int_equal(handshake(h2, ped2.key, ped2.rpv, 2), 0);
	assert_int_equal(handshake(h2, ped.key, ped.rpv, 2), PED_E_KC_FAILED);

	/* reuse of the first orange keyset on the second HSM: same RPV */
	assert_int_equal(hsm_rpv_init_reuse(h2, rpk, 1, &t2), PED_E_SHARE_FEW);
	assert_int_equal(hsm_rpv_init_reuse(h2, rpk, 0, &t2), PED_E_SHARE_FEW);
	assert_int_equal(hsm_rpv_init_reuse(h2, sub, 2, &t2), 0);
	assert_int_equal(handshake(h2, ped.key, ped.rpv, 0), PED_E_KC_FAILED); /* not yet */
	assert_int_equal(hsm_rpv_init_commit(h2, t2), 0);
	/* Zs of the replaced PED key is not used any more */
	assert_int_equal(handshake(h2, ped.key, ped.rpv, 2), 0);
	assert_int_equal(handshake(h2, ped2.key, ped2.rpv, 2), PED_E_KC_FAILED);
	/* a wrong PIN on a 1-of-1 orange key: the scalar's top byte is >= 0x80 */
	sub[0] = rpk2[0];
	sub[0].y[HSM_RPV_LEN] ^= 0x80;
	assert_int_equal(hsm_rpv_init_reuse(h2, sub, 1, &t2), PED_E_PIN_INCORRECT);
	sub[0].len = 32;
	assert_int_equal(hsm_rpv_init_reuse(h2, sub, 1, &t2), PED_E_SHARE_BAD);

	/* once the HSM is initialized, an RPV change needs the SO */
	do_hsm_init(h2, 1, 1, so);
	assert_int_equal(hsm_rpv_init_begin(h2, 1, 1, rpk2, &t2), PED_E_NOT_LOGGED_IN);
	assert_int_equal(hsm_rpv_init_reuse(h2, rpk, 2, &t2), PED_E_NOT_LOGGED_IN);
	assert_int_equal(hsm_role_login(h2, HSM_ROLE_SO, so, 1, &rem), 0);
	assert_int_equal(hsm_rpv_init_begin(h2, 1, 1, rpk2, &t2), 0);
	hsm_role_logout(h2);
	assert_int_equal(hsm_rpv_init_commit(h2, t2), PED_E_NOT_LOGGED_IN);
	/* SO zeroization keeps the RPV and the static key */
	so[0].y[0] ^= 1;
	assert_int_equal(hsm_role_login(h2, HSM_ROLE_SO, so, 1, &rem), PED_E_PIN_INCORRECT);
	assert_int_equal(hsm_role_login(h2, HSM_ROLE_SO, so, 1, &rem), PED_E_PIN_INCORRECT);
	assert_int_equal(hsm_role_login(h2, HSM_ROLE_SO, so, 1, &rem), PED_E_PIN_INCORRECT);
	assert_int_equal(hsm_info(h2, &info), 0);
	assert_false(info.initialized);
	assert_true(info.rpv_initialized);
	assert_int_equal(handshake(h2, ped.key, ped.rpv, 0), 0);
	/* the RPV change staged under the SO died with the zeroization */
	assert_int_equal(hsm_rpv_init_commit(h2, t2), PED_E_BAD_REQUEST);
	assert_int_equal(handshake(h2, ped.key, ped.rpv, 0), 0);

	hsm_close(h2);
	unlink(path2);
	ped_free(&ped);
	ped_free(&ped2);
	wipe_all(rpk, 3);
	wipe_all(rpk2, 3);
	wipe_all(sub, 2);
	wipe_all(so, 1);
	hsm_close(h);
}

static void test_one_pass(void **state)
{
	static const uint8_t nonce[KAS_NONCE_LEN] = "nonce of V, 32 bytes long......";
	static const uint8_t pw[] = "password-derived value";
	uint8_t hsm_pub[ECP_PUB_LEN], u_eph[ECP_PUB_LEN], other[ECP_PUB_LEN];
	ecp_key_t *ue = NULL, *hs = NULL;
	struct hsm_chan_params hp;
	struct kas_params up;
	shamir_share_t rpk[1];
	kas_keys_t kh, kp;
	uint32_t t;
	hsm_t *h;

	(void)state;
	h = open_new();
	assert_int_equal(hsm_static_public(h, hsm_pub), 0);
	assert_int_equal(ecp_import_public(hsm_pub, ECP_PUB_LEN, &hs), 0);
	assert_int_equal(ecp_generate(&ue), 0);
	assert_int_equal(ecp_export_public(ue, u_eph), 0);

	/* Local PED before any RPV: no SuppPrivInfo */
	memset(&hp, 0, sizeof(hp));
	hp.scheme = KAS_ONE_PASS;
	hp.peer_ephem = u_eph;
	hp.nonce_v = nonce;
	hp.context = ctx;
	hp.context_len = sizeof(ctx);
	memset(other, 0xee, sizeof(other));
	assert_int_equal(hsm_channel_keys(h, &hp, &kh, other), 0);
	assert_int_equal(other[0], 0xee); /* One-Pass: the HSM has no ephemeral */
	assert_int_equal(kh.role, KAS_V);

	memset(&up, 0, sizeof(up));
	up.scheme = KAS_ONE_PASS;
	up.role = KAS_U;
	up.own_ephem = ue;
	up.peer_static = hs;
	up.nonce_v = nonce;
	up.context = ctx;
	up.context_len = sizeof(ctx);
	assert_int_equal(kas_derive(&up, &kp), 0);
	assert_int_equal(kas_check_tag(&kp, kh.own_tag), 0);
	assert_memory_equal(&kp.uv, &kh.uv, sizeof(kp.uv));
	assert_memory_equal(&kp.vu, &kh.vu, sizeof(kp.vu));

	/* with a caller's secret: both must use it */
	hp.secret = pw;
	hp.secret_len = sizeof(pw);
	assert_int_equal(hsm_channel_keys(h, &hp, &kh, NULL), 0);
	assert_int_equal(kas_check_tag(&kp, kh.own_tag), PED_E_KC_FAILED);
	up.secret = pw;
	up.secret_len = sizeof(pw);
	assert_int_equal(kas_derive(&up, &kp), 0);
	assert_int_equal(kas_check_tag(&kp, kh.own_tag), 0);

	/* with the RPV: none yet, then the stored one */
	hp.secret = NULL;
	hp.secret_len = 0;
	hp.use_rpv = 1;
	assert_int_equal(hsm_channel_keys(h, &hp, &kh, NULL), PED_E_NOT_INITIALIZED);
	assert_int_equal(hsm_rpv_init_begin(h, 1, 1, rpk, &t), 0);
	assert_int_equal(hsm_rpv_init_commit(h, t), 0);
	assert_int_equal(hsm_channel_keys(h, &hp, &kh, NULL), 0);
	up.secret = rpk[0].y; /* 1 of 1: y is the secret, RPV first */
	up.secret_len = HSM_RPV_LEN;
	assert_int_equal(kas_derive(&up, &kp), 0);
	assert_int_equal(kas_check_tag(&kp, kh.own_tag), 0);

	/* parameter checks */
	hp.nonce_v = NULL;
	assert_int_equal(hsm_channel_keys(h, &hp, &kh, NULL), PED_E_INVAL);
	hp.nonce_v = nonce;
	hp.peer_static = hsm_pub;
	assert_int_equal(hsm_channel_keys(h, &hp, &kh, NULL), PED_E_INVAL);
	hp.peer_static = NULL;
	memcpy(other, u_eph, sizeof(other));
	other[100] ^= 1; /* off the curve */
	hp.peer_ephem = other;
	assert_int_equal(hsm_channel_keys(h, &hp, &kh, NULL), PED_E_BAD_KEY);
	hp.peer_ephem = u_eph;
	hp.scheme = (enum kas_scheme)7;
	assert_int_equal(hsm_channel_keys(h, &hp, &kh, NULL), PED_E_INVAL);
	hp.scheme = KAS_FULL_UNIFIED;
	assert_int_equal(hsm_channel_keys(h, &hp, &kh, NULL), PED_E_INVAL); /* nonce */
	hp.nonce_v = NULL;
	assert_int_equal(hsm_channel_keys(h, &hp, &kh, NULL), PED_E_INVAL); /* no ephem out */
	assert_int_equal(hsm_channel_keys(h, NULL, &kh, NULL), PED_E_INVAL);
	assert_int_equal(hsm_channel_keys(h, &hp, NULL, NULL), PED_E_INVAL);

	kas_keys_wipe(&kh);
	kas_keys_wipe(&kp);
	ecp_free(ue);
	ecp_free(hs);
	shamir_share_wipe(&rpk[0]);
	hsm_close(h);
}

/* ---- damaged state files --------------------------------------------------- */

static void expect_open_fails(const uint8_t *data, size_t len, int want)
{
	uint8_t *after;
	size_t alen;
	hsm_t *h = NULL;
	int r;

	write_file(path, data, len);
	r = hsm_open(path, 1, &h);
	assert_null(h);
	if (want != 0)
		assert_int_equal(r, want);
	else
		assert_true(r == PED_E_STATE_CORRUPT || r == PED_E_VERSION);
	/* never modified, never re-created */
	read_file(path, &after, &alen);
	assert_int_equal(alen, len);
	if (len > 0)
		assert_memory_equal(after, data, len);
	free(after);
}

static void test_corrupt_files(void **state)
{
	struct softhsm_state st;
	uint8_t *good, buf[SOFTHSM_FILE_MAX + 2];
	shamir_share_t so[1], rpk[1];
	size_t len, n, bit;
	uint32_t t;
	hsm_t *h;

	(void)state;
	h = open_new();
	assert_int_equal(hsm_rpv_init_begin(h, 1, 1, rpk, &t), 0);
	assert_int_equal(hsm_rpv_init_commit(h, t), 0);
	do_hsm_init(h, 1, 1, so);
	hsm_close(h);
	read_file(path, &good, &len);
	assert_int_equal(len, SOFTHSM_FILE_LEN);

	/* every truncation */
	for (n = 0; n < len; n++)
		expect_open_fails(good, n, PED_E_STATE_CORRUPT);
	/* a byte too many, and a file too long to be ours */
	memcpy(buf, good, len);
	buf[len] = 0;
	expect_open_fails(buf, len + 1, PED_E_STATE_CORRUPT);
	memset(buf, 'A', sizeof(buf));
	expect_open_fails(buf, SOFTHSM_FILE_MAX + 1, PED_E_STATE_CORRUPT);
	/* foreign files */
	expect_open_fails((const uint8_t *)"[slot]\nlabel=x\n", 15, PED_E_STATE_CORRUPT);
	expect_open_fails(buf, len, PED_E_STATE_CORRUPT);
	/* bit flips: every bit of the header, then every 7th bit */
	for (bit = 0; bit < len * 8; bit += bit < SOFTHSM_HDR_LEN * 8 ? 1 : 7) {
		memcpy(buf, good, len);
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		expect_open_fails(buf, len,
				  bit / 8 == 8 || bit / 8 == 9 ? PED_E_VERSION : PED_E_STATE_CORRUPT);
	}

	/* well-formed checksum, inconsistent content */
	assert_int_equal(softhsm_state_parse(good, len, &st, NULL), 0);
	st.flags = SOFTHSM_F_PARTITION | SOFTHSM_F_RPV;
	assert_int_equal(softhsm_state_encode(&st, buf, sizeof(buf), &n), 0);
	expect_open_fails(buf, n, PED_E_STATE_CORRUPT);
	assert_int_equal(softhsm_state_parse(good, len, &st, NULL), 0);
	memset(st.static_priv, 0, sizeof(st.static_priv));
	assert_int_equal(softhsm_state_encode(&st, buf, sizeof(buf), &n), 0);
	expect_open_fails(buf, n, PED_E_STATE_CORRUPT);
	assert_int_equal(softhsm_state_parse(good, len, &st, NULL), 0);
	st.ped_pub[70] ^= 1;
	assert_int_equal(softhsm_state_encode(&st, buf, sizeof(buf), &n), 0);
	expect_open_fails(buf, n, PED_E_STATE_CORRUPT);
	assert_int_equal(softhsm_state_parse(good, len, &st, NULL), 0);
	st.roles[HSM_ROLE_SO].failures = 4;
	assert_int_equal(softhsm_state_encode(&st, buf, sizeof(buf), &n), 0);
	expect_open_fails(buf, n, PED_E_STATE_CORRUPT);
	assert_int_equal(softhsm_state_parse(good, len, &st, NULL), 0);
	st.roles[HSM_ROLE_CO].salt[0] = 1; /* junk in an empty role */
	assert_int_equal(softhsm_state_encode(&st, buf, sizeof(buf), &n), 0);
	expect_open_fails(buf, n, PED_E_STATE_CORRUPT);
	assert_int_equal(softhsm_state_parse(good, len, &st, NULL), 0);
	st.label[3] = '\n';
	assert_int_equal(softhsm_state_encode(&st, buf, sizeof(buf), &n), 0);
	expect_open_fails(buf, n, PED_E_STATE_CORRUPT);
	assert_int_equal(softhsm_state_parse(good, len, &st, NULL), 0);
	st.roles[HSM_ROLE_SO].m = 2; /* m > n */
	assert_int_equal(softhsm_state_encode(&st, buf, sizeof(buf), &n), 0);
	expect_open_fails(buf, n, PED_E_STATE_CORRUPT);
	/* version 2's tail: a challenge of a role that does not exist, an
	 * activation without a challenge, a time without an activation, an
	 * unknown policy bit */
	assert_int_equal(softhsm_state_parse(good, len, &st, NULL), 0);
	st.chal[0].set = 1;
	assert_int_equal(softhsm_state_encode(&st, buf, sizeof(buf), &n), 0);
	expect_open_fails(buf, n, PED_E_STATE_CORRUPT);
	assert_int_equal(softhsm_state_parse(good, len, &st, NULL), 0);
	st.active = 1;
	st.active_at = 1;
	assert_int_equal(softhsm_state_encode(&st, buf, sizeof(buf), &n), 0);
	expect_open_fails(buf, n, PED_E_STATE_CORRUPT);
	assert_int_equal(softhsm_state_parse(good, len, &st, NULL), 0);
	st.active_at = 1;
	assert_int_equal(softhsm_state_encode(&st, buf, sizeof(buf), &n), 0);
	expect_open_fails(buf, n, PED_E_STATE_CORRUPT);
	assert_int_equal(softhsm_state_parse(good, len, &st, NULL), 0);
	st.policies = 4;
	assert_int_equal(softhsm_state_encode(&st, buf, sizeof(buf), &n), 0);
	expect_open_fails(buf, n, PED_E_STATE_CORRUPT);
	/* a later version, checksum and all */
	assert_int_equal(softhsm_state_parse(good, len, &st, NULL), 0);
	assert_int_equal(softhsm_state_encode(&st, buf, sizeof(buf), &n), 0);
	buf[9] = SOFTHSM_VERSION + 1;
	expect_open_fails(buf, n, PED_E_VERSION);

	/* the good file still opens */
	write_file(path, good, len);
	assert_int_equal(hsm_open(path, 0, &h), 0);
	hsm_close(h);
	assert_int_equal(softhsm_state_parse(NULL, 0, &st, NULL), PED_E_STATE_CORRUPT);
	assert_int_equal(softhsm_state_parse(good, len, NULL, NULL), PED_E_INVAL);
	assert_int_equal(softhsm_state_encode(&st, buf, SOFTHSM_FILE_LEN - 1, &n), PED_E_NOSPACE);

	OPENSSL_cleanse(&st, sizeof(st));
	OPENSSL_cleanse(good, len);
	free(good);
	shamir_share_wipe(&so[0]);
	shamir_share_wipe(&rpk[0]);
}

/* A state file that is not a regular file, or unreadable, is an error too. */
static void test_not_a_file(void **state)
{
	hsm_t *h = NULL;

	(void)state;
	assert_int_equal(sys_mkdir(path, 0700), 0);
	assert_int_equal(hsm_open(path, 1, &h), PED_E_IO);
	assert_null(h);
	assert_int_equal(rmdir(path), 0);
}

/* Rotation's check of the current orange quorum, and the password mode's
 * rules: only before RPV initialization, one attempt per password. */
static void test_rpv_verify_and_pake(void **state)
{
	shamir_share_t rpk[3], other[1], sub[2];
	uint8_t pa[ECP_PUB_LEN], pb[ECP_PUB_LEN], t[64] = {0};
	uint32_t tok;
	kas_keys_t k;
	hsm_t *h;

	(void)state;
	h = open_new();
	assert_int_equal(hsm_rpv_verify(h, rpk, 0), PED_E_NOT_INITIALIZED);
	/* password mode: a fresh password starts, a second use is refused */
	assert_int_equal(hsm_pake_fresh(h, "12345678", 8), 0);
	assert_int_equal(hsm_pake_begin(h, "12345678", 8, pa), 0);
	assert_int_equal(hsm_pake_fresh(h, "12345678", 8), PED_E_EXISTS);
	assert_int_equal(hsm_pake_begin(h, "12345678", 8, pa), PED_E_EXISTS);
	assert_int_equal(hsm_pake_begin(h, "1234567", 7, pa), PED_E_INVAL);
	/* the attempt's state is gone after an abort: finish has nothing */
	assert_int_equal(hsm_pake_begin(h, "87654321", 8, pa), 0);
	hsm_pake_abort(h);
	memcpy(pb, pa, sizeof(pb));
	assert_int_equal(hsm_pake_finish(h, "pedhost", pb, t, sizeof(t), &k), PED_E_BAD_REQUEST);
	/* a reflected share: refused, and the attempt is over */
	assert_int_equal(hsm_pake_begin(h, "11223344", 8, pa), 0);
	assert_int_equal(hsm_pake_finish(h, "pedhost", pa, t, sizeof(t), &k), PED_E_BAD_KEY);
	assert_int_equal(hsm_pake_finish(h, "pedhost", pa, t, sizeof(t), &k), PED_E_BAD_REQUEST);

	/* an RPV 2 of 3, and another HSM's orange key */
	assert_int_equal(hsm_rpv_init_begin(h, 2, 3, rpk, &tok), 0);
	assert_int_equal(hsm_rpv_init_commit(h, tok), 0);
	assert_int_equal(hsm_pake_begin(h, "55667788", 8, pa), PED_E_RPV_INITIALIZED);
	sub[0] = rpk[1];
	sub[1] = rpk[2];
	assert_int_equal(hsm_rpv_verify(h, sub, 2), 0);
	assert_int_equal(hsm_rpv_verify(h, rpk, 3), 0);
	sub[1].y[0] ^= 1; /* a wrong PIN on one key */
	assert_int_equal(hsm_rpv_verify(h, sub, 2), PED_E_RPV_MISMATCH);
	assert_int_equal(hsm_rpv_init_begin(h, 1, 1, other, &tok), 0); /* staged, not committed */
	hsm_rpv_init_abort(h);
	assert_int_equal(hsm_rpv_verify(h, other, 1), PED_E_RPV_MISMATCH);
	assert_int_equal(hsm_rpv_verify(h, rpk, 1), PED_E_SHARE_FEW);
	wipe_all(rpk, 3);
	wipe_all(other, 1);
	wipe_all(sub, 2);
	hsm_close(h);
}

#define T(f) cmocka_unit_test_setup_teardown(f, new_path, drop_path)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_create_reopen),
		T(test_names),
		T(test_so_login),
		T(test_so_lockout_recovery),
		T(test_two_phase),
		T(test_partition_roles),
		T(test_changepw),
		T(test_lco_and_v1_file),
		T(test_activation),
		T(test_rpv_channel),
		T(test_one_pass),
		T(test_rpv_verify_and_pake),
		T(test_corrupt_files),
		T(test_not_a_file),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
