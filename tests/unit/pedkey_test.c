/* pedkey_test.c - unit tests for PED-key files (usbped/pedkey.h): round
 * trips with and without a PIN, the PIN rules, and a strict decoder that
 * turns every damaged, truncated, foreign or future file into a clean error.
 * Key operations with a PIN cost one PBKDF2 (10000 iterations) each, so
 * this file uses only a handful of them. */
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
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/sys.h"
#include "common/atomic.h"
#include "common/buf.h"
#include "common/err.h"
#include "crypto/shamir.h"
#include "usbped/pedkey.h"

static char dir[64];
static char path[128];

static const uint8_t ksid[LINK_KEYSET_ID_LEN] = {0xa0, 1, 2, 3, 4, 5, 6, 7,
						 8, 9, 10, 11, 12, 13, 14, 0xaf};

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/pedkey_test.XXXXXX");
	if (sys_mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/key1", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return sys_remove_tree(dir);
}

/* Three shares of a 32-byte secret, threshold 2. */
static void make_shares(shamir_share_t sh[3])
{
	uint8_t secret[32];
	int i;

	for (i = 0; i < 32; i++)
		secret[i] = (uint8_t)(0x40 + i);
	assert_int_equal(shamir_split(secret, sizeof(secret), 2, 3, sh), 0);
}

static void assert_same_share(const shamir_share_t *a, const shamir_share_t *b)
{
	assert_int_equal(a->m, b->m);
	assert_int_equal(a->x, b->x);
	assert_int_equal(a->len, b->len);
	assert_memory_equal(a->y, b->y, a->len);
}

static size_t encode(const pedkey_t *k, uint8_t *img, size_t cap)
{
	pbuf_t b;
	pbuf_over(&b, img, cap);
	assert_int_equal(pedkey_encode(k, &b), 0);
	return b.len;
}

static void test_pin_rules(void **state)
{
	(void)state;
	char pin[60];

	assert_int_equal(pedkey_pin_ok("1234"), 0);
	assert_int_equal(pedkey_pin_ok("9000000000"), 0);
	memset(pin, '7', 48);
	pin[48] = '\0';
	assert_int_equal(pedkey_pin_ok(pin), 0);
	pin[48] = '7';
	pin[49] = '\0';
	assert_int_equal(pedkey_pin_ok(pin), PED_E_RANGE);
	assert_int_equal(pedkey_pin_ok("123"), PED_E_RANGE);
	assert_int_equal(pedkey_pin_ok("0123"), PED_E_RANGE);
	assert_int_equal(pedkey_pin_ok("12a4"), PED_E_RANGE);
	assert_int_equal(pedkey_pin_ok("1234 "), PED_E_RANGE);
	assert_int_equal(pedkey_pin_ok(" 1234"), PED_E_RANGE);
	assert_int_equal(pedkey_pin_ok("-1234"), PED_E_RANGE);
	assert_int_equal(pedkey_pin_ok(""), PED_E_RANGE);
	assert_int_equal(pedkey_pin_ok(NULL), PED_E_RANGE);
}

static void test_blank(void **state)
{
	(void)state;
	pedkey_t k, l;
	char label[40];
	size_t i;

	assert_int_equal(pedkey_blank(&k, "spare key"), 0);
	assert_int_equal(k.type, LINK_KEY_BLANK);
	assert_int_equal(strlen(k.serial), 16);
	for (i = 0; i < 16; i++)
		assert_non_null(strchr("0123456789ABCDEF", k.serial[i]));
	assert_string_equal(k.label, "spare key");
	assert_int_equal(pedkey_blank(&l, NULL), 0);
	assert_string_not_equal(k.serial, l.serial);
	assert_string_equal(l.label, "");

	assert_int_equal(pedkey_save(path, &k), 0);
	assert_int_equal(pedkey_load(path, &l), 0);
	assert_memory_equal(&k, &l, sizeof(k));

	memset(label, 'x', 33);
	label[33] = '\0';
	assert_int_equal(pedkey_blank(&k, label), PED_E_RANGE);
	assert_int_equal(pedkey_blank(&k, "tab\there"), PED_E_RANGE);

	/* a blank key holds no share */
	shamir_share_t s;
	assert_int_equal(pedkey_get_share(&l, NULL, &s), PED_E_WRONG_KEY_TYPE);
}

static void test_round_trip_no_pin(void **state)
{
	(void)state;
	shamir_share_t sh[3], s;
	pedkey_t k, l;
	char serial[PEDKEY_SERIAL_MAX + 1];
	struct stat st;

	make_shares(sh);
	assert_int_equal(pedkey_blank(&k, "CO #2"), 0);
	strcpy(serial, k.serial);
	assert_int_equal(pedkey_set_share(&k, LINK_KEY_BLACK, ksid, 3, &sh[1], NULL), 0);
	assert_string_equal(k.serial, serial); /* the serial stays */
	assert_int_equal(k.has_pin, 0);
	assert_int_equal(k.m, 2);
	assert_int_equal(k.n, 3);
	assert_int_equal(k.x, 2);
	assert_int_equal(pedkey_save(path, &k), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(sys_is_private(path));
	assert_int_equal(pedkey_load(path, &l), 0);
	assert_memory_equal(&k, &l, sizeof(k));
	assert_int_equal(pedkey_get_share(&l, NULL, &s), 0);
	assert_same_share(&s, &sh[1]);
	/* "" is no PIN too, and a PIN given for a key without one is ignored */
	assert_int_equal(pedkey_get_share(&l, "", &s), 0);
	assert_same_share(&s, &sh[1]);

	/* the mode is 0600 whatever the umask */
	mode_t old = umask(0);
	assert_int_equal(pedkey_save(path, &k), 0);
	umask(old);
	assert_int_equal(stat(path, &st), 0);
	assert_true(sys_is_private(path));
	pedkey_wipe(&k);
	pedkey_wipe(&l);
}

static void test_round_trip_pin(void **state)
{
	(void)state;
	shamir_share_t sh[3], s;
	pedkey_t k, l;

	make_shares(sh);
	assert_int_equal(pedkey_blank(&k, NULL), 0);
	assert_int_equal(pedkey_set_share(&k, LINK_KEY_BLUE, ksid, 3, &sh[2], "31415926"), 0);
	assert_int_equal(k.has_pin, 1);
	/* only the y bytes are masked: the share header is as encoded */
	assert_int_equal(k.share_len, 5 + 32);
	assert_int_equal(k.share[0], SHAMIR_SHARE_VERSION);
	assert_int_equal(k.share[1], 2);
	assert_int_equal(k.share[2], 3);
	assert_memory_not_equal(k.share + 5, sh[2].y, 32);

	assert_int_equal(pedkey_save(path, &k), 0);
	assert_int_equal(pedkey_load(path, &l), 0);
	assert_memory_equal(&k, &l, sizeof(k));
	assert_int_equal(pedkey_get_share(&l, "31415926", &s), 0);
	assert_same_share(&s, &sh[2]);

	/* a wrong PIN: same x and M, wrong value; only the HSM can tell */
	assert_int_equal(pedkey_get_share(&l, "31415927", &s), 0);
	assert_int_equal(s.x, 3);
	assert_int_equal(s.m, 2);
	assert_int_equal(s.len, 32);
	assert_memory_not_equal(s.y, sh[2].y, 32);

	/* a key with a PIN needs a well-formed one */
	assert_int_equal(pedkey_get_share(&l, NULL, &s), PED_E_RANGE);
	assert_int_equal(pedkey_get_share(&l, "", &s), PED_E_RANGE);
	assert_int_equal(pedkey_get_share(&l, "0314", &s), PED_E_RANGE);
	shamir_share_wipe(&s);
	pedkey_wipe(&k);
	pedkey_wipe(&l);
}

static void test_set_share_rejects(void **state)
{
	(void)state;
	shamir_share_t sh[3];
	pedkey_t k, before;

	make_shares(sh);
	assert_int_equal(pedkey_blank(&k, "x"), 0);
	before = k;
	assert_int_equal(pedkey_set_share(&k, LINK_KEY_RED, ksid, 3, &sh[0], "123"), PED_E_RANGE);
	assert_int_equal(pedkey_set_share(&k, LINK_KEY_RED, ksid, 3, &sh[0], "0123"), PED_E_RANGE);
	assert_int_equal(pedkey_set_share(&k, LINK_KEY_BLANK, ksid, 3, &sh[0], NULL), PED_E_RANGE);
	assert_int_equal(pedkey_set_share(&k, 6, ksid, 3, &sh[0], NULL), PED_E_RANGE);
	assert_int_equal(pedkey_set_share(&k, LINK_KEY_RED, ksid, 1, &sh[0], NULL), PED_E_RANGE);
	assert_int_equal(pedkey_set_share(&k, LINK_KEY_RED, ksid, 2, &sh[2], NULL), PED_E_RANGE);
	assert_int_equal(pedkey_set_share(&k, LINK_KEY_RED, ksid, 17, &sh[0], NULL), PED_E_RANGE);
	assert_memory_equal(&k, &before, sizeof(k)); /* untouched on failure */

	/* encode refuses a struct no file may hold */
	uint8_t img[PEDKEY_FILE_MAX];
	pbuf_t b;
	assert_int_equal(pedkey_set_share(&k, LINK_KEY_RED, ksid, 3, &sh[0], NULL), 0);
	k.m = 3; /* no longer matches the embedded share */
	pbuf_over(&b, img, sizeof(img));
	assert_int_equal(pedkey_encode(&k, &b), PED_E_INVAL);
	assert_int_equal(b.len, 0);
	k.m = 2;
	k.serial[0] = '\n';
	assert_int_equal(pedkey_encode(&k, &b), PED_E_INVAL);
	k.serial[0] = 'A';
	pbuf_over(&b, img, 100);
	assert_int_equal(pedkey_encode(&k, &b), PED_E_NOSPACE);
	pedkey_wipe(&k);
}

/* A key with a PIN, the largest layout: every single-byte change of the file
 * (all 255 other values at every offset), every prefix and any trailing byte
 * is refused cleanly. */
static void test_corrupt_truncated(void **state)
{
	(void)state;
	shamir_share_t sh[3];
	pedkey_t k, l;
	uint8_t img[PEDKEY_FILE_MAX + 1], bad[PEDKEY_FILE_MAX + 1];
	size_t n, i;
	unsigned v;
	int r;

	make_shares(sh);
	assert_int_equal(pedkey_blank(&k, "label"), 0);
	assert_int_equal(pedkey_set_share(&k, LINK_KEY_WHITE, ksid, 3, &sh[0], NULL), 0);
	k.has_pin = 1; /* the layout is the same; no PBKDF2 needed for decoding */
	n = encode(&k, img, sizeof(img));
	assert_int_equal(pedkey_decode(img, n, &l), 0);
	assert_memory_equal(&k, &l, sizeof(k));

	for (i = 0; i < n; i++) {
		memcpy(bad, img, n);
		for (v = 1; v < 256; v++) {
			bad[i] = (uint8_t)(img[i] ^ v);
			r = pedkey_decode(bad, n, &l);
			if (i == 8 || i == 9) /* the version field */
				assert_int_equal(r, PED_E_VERSION);
			else
				assert_int_equal(r, PED_E_KEY_UNREADABLE);
			assert_int_equal(l.type, 0); /* wiped on failure */
		}
	}
	for (i = 0; i < n; i++)
		assert_int_equal(pedkey_decode(img, i, &l), PED_E_KEY_UNREADABLE);
	img[n] = 0;
	assert_int_equal(pedkey_decode(img, n + 1, &l), PED_E_KEY_UNREADABLE);
	assert_int_equal(pedkey_decode(NULL, 0, &l), PED_E_KEY_UNREADABLE);
	pedkey_wipe(&k);
}

/* Field checks behind a valid checksum: a file that was written wrong, not
 * damaged on the way, is refused too. */
static void resum(uint8_t *img, size_t n)
{
	assert_int_equal(EVP_Digest(img, n - 32, img + n - 32, NULL, EVP_sha256(), NULL), 1);
}

static void test_field_errors(void **state)
{
	(void)state;
	shamir_share_t sh[3];
	pedkey_t k, l;
	uint8_t img[PEDKEY_FILE_MAX], bad[PEDKEY_FILE_MAX];
	size_t n, ser, lab, f;
	struct {
		size_t off;
		uint8_t val;
		int want;
	} cases[16];
	size_t nc = 0, i;

	make_shares(sh);
	assert_int_equal(pedkey_blank(&k, "lbl"), 0);
	assert_int_equal(pedkey_set_share(&k, LINK_KEY_ORANGE, ksid, 3, &sh[1], NULL), 0);
	n = encode(&k, img, sizeof(img));
	ser = 11;                  /* serial length byte */
	lab = ser + 1 + img[ser];  /* label length byte */
	f = lab + 1 + img[lab] + LINK_KEYSET_ID_LEN; /* M */
#define CASE(o, v, w) cases[nc].off = (o), cases[nc].val = (v), cases[nc].want = (w), nc++
	CASE(9, 2, PED_E_VERSION);
	CASE(10, 6, PED_E_KEY_UNREADABLE);        /* type out of range */
	CASE(ser + 1, 0x7f, PED_E_KEY_UNREADABLE); /* DEL in the serial */
	CASE(lab + 1, 0x00, PED_E_KEY_UNREADABLE); /* NUL in the label */
	CASE(f, 0, PED_E_KEY_UNREADABLE);         /* M = 0 */
	CASE(f, 4, PED_E_KEY_UNREADABLE);         /* M > N */
	CASE(f + 1, 17, PED_E_KEY_UNREADABLE);    /* N > 16 */
	CASE(f + 2, 0, PED_E_KEY_UNREADABLE);     /* x = 0 */
	CASE(f + 2, 4, PED_E_KEY_UNREADABLE);     /* x > N */
	CASE(f + 3, 2, PED_E_KEY_UNREADABLE);     /* has_pin not 0/1 */
	CASE(f + 4 + 16, 0xff, PED_E_KEY_UNREADABLE); /* share length high byte */
	CASE(f + 6 + 16 + 1, 3, PED_E_KEY_UNREADABLE); /* share's M differs */
	CASE(f + 6 + 16 + 2, 1, PED_E_KEY_UNREADABLE); /* share's x differs */
	CASE(f + 6 + 16 + 0, 2, PED_E_KEY_UNREADABLE); /* share version */
#undef CASE
	for (i = 0; i < nc; i++) {
		memcpy(bad, img, n);
		bad[cases[i].off] = cases[i].val;
		resum(bad, n);
		assert_int_equal(pedkey_decode(bad, n, &l), cases[i].want);
	}
	/* serial of 7 characters: shorten it and the file */
	memcpy(bad, img, ser);
	bad[ser] = 7;
	memcpy(bad + ser + 1, img + ser + 1, 7);
	memcpy(bad + ser + 8, img + ser + 17, n - ser - 17);
	resum(bad, n - 9);
	assert_int_equal(pedkey_decode(bad, n - 9, &l), PED_E_KEY_UNREADABLE);
	/* the unchanged image, re-summed, still decodes */
	memcpy(bad, img, n);
	resum(bad, n);
	assert_int_equal(pedkey_decode(bad, n, &l), 0);
	pedkey_wipe(&k);
	pedkey_wipe(&l);
}

static void write_raw(const char *p, const void *data, size_t n)
{
	FILE *f = fopen(p, "wb");
	assert_non_null(f);
	if (n > 0)
		assert_int_equal(fwrite(data, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static void test_foreign_files(void **state)
{
	(void)state;
	pedkey_t k, l;
	uint8_t *big;
	uint8_t img[PEDKEY_FILE_MAX];
	size_t n;
	char p[160];

	big = calloc(1, 1u << 20);
	assert_non_null(big);
	assert_int_equal(RAND_bytes(big, 600), 1);
	write_raw(path, big, 600);
	assert_int_equal(pedkey_load(path, &l), PED_E_KEY_UNREADABLE);
	write_raw(path, big, 0);
	assert_int_equal(pedkey_load(path, &l), PED_E_KEY_UNREADABLE);
	memcpy(big, "RPEDKEY", 8); /* right magic, 1 MB */
	write_raw(path, big, 1u << 20);
	assert_int_equal(pedkey_load(path, &l), PED_E_KEY_UNREADABLE);
	write_raw(path, big, PEDKEY_FILE_MAX + 1);
	assert_int_equal(pedkey_load(path, &l), PED_E_KEY_UNREADABLE);
	free(big);

	/* a future version, well formed otherwise */
	assert_int_equal(pedkey_blank(&k, "v2"), 0);
	n = encode(&k, img, sizeof(img));
	img[9] = 2;
	resum(img, n);
	write_raw(path, img, n);
	assert_int_equal(pedkey_load(path, &l), PED_E_VERSION);

	snprintf(p, sizeof(p), "%s/missing", dir);
	assert_int_equal(pedkey_load(p, &l), PED_E_NOT_FOUND);
	assert_int_equal(pedkey_load(dir, &l), PED_E_IO);
	snprintf(p, sizeof(p), "%s/nodir/key", dir);
	assert_int_equal(pedkey_save(p, &k), PED_E_IO);
	pedkey_wipe(&k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pin_rules),
		cmocka_unit_test(test_blank),
		cmocka_unit_test(test_round_trip_no_pin),
		cmocka_unit_test(test_round_trip_pin),
		cmocka_unit_test(test_set_share_rejects),
		cmocka_unit_test(test_corrupt_truncated),
		cmocka_unit_test(test_field_errors),
		cmocka_unit_test(test_foreign_files),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
