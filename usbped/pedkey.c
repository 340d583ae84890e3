/* pedkey.c - PED-key files (format in pedkey.h and docs/PROTOCOL.md).
 *
 * Decoding validates in a fixed order (magic, version, type, serial, label,
 * then the share fields, the checksum, the end) and turns every failure but
 * a version mismatch into PED_E_KEY_UNREADABLE: a damaged key is damaged,
 * whichever byte went wrong. The PIN mask covers only the y bytes of the
 * encoded share, so a masked share still decodes and a wrong PIN gives a
 * share with the right x and M but a wrong value. */
#include "pedkey.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/atomic.h"
#include "common/err.h"
#include "common/log.h"

static const uint8_t pedkey_magic[8] = {'R', 'P', 'E', 'D', 'K', 'E', 'Y', 0};

#define PEDKEY_SERIAL_MIN 8
#define PEDKEY_SERIAL_HEX 16 /* generated serials: 16 upper-case hex digits */
#define PEDKEY_SUM_LEN 32    /* SHA-256 */
#define SHARE_HDR_LEN 5      /* crypto/shamir.h share encoding header */

int pedkey_pin_ok(const char *pin)
{
	size_t n, i;

	if (pin == NULL)
		return PED_E_RANGE;
	n = strnlen(pin, PEDKEY_PIN_MAX + 1);
	if (n < PEDKEY_PIN_MIN || n > PEDKEY_PIN_MAX || pin[0] == '0')
		return PED_E_RANGE;
	for (i = 0; i < n; i++)
		if (pin[i] < '0' || pin[i] > '9')
			return PED_E_RANGE;
	return 0;
}

static int printable(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

/* A C string of min..max printable characters. */
static int str_ok(const char *s, size_t min, size_t max)
{
	size_t n = strnlen(s, max + 1);
	return n >= min && n <= max && printable(s, n);
}

/* mask = PBKDF2-HMAC-SHA-512(PIN, salt || serial, PEDKEY_PBKDF2_ITER, n) */
static int pin_mask(const char *pin, const uint8_t salt[PEDKEY_SALT_LEN],
		    const char *serial, uint8_t *mask, size_t n)
{
	uint8_t ss[PEDKEY_SALT_LEN + PEDKEY_SERIAL_MAX];
	size_t slen = strnlen(serial, PEDKEY_SERIAL_MAX + 1);
	int r = PED_E_INVAL;

	if (slen > PEDKEY_SERIAL_MAX || n == 0 || n > SHAMIR_MAX_SECRET)
		goto out;
	memcpy(ss, salt, PEDKEY_SALT_LEN);
	memcpy(ss + PEDKEY_SALT_LEN, serial, slen);
	r = PED_E_CRYPTO;
	if (PKCS5_PBKDF2_HMAC(pin, (int)strlen(pin), ss, (int)(PEDKEY_SALT_LEN + slen),
			      PEDKEY_PBKDF2_ITER, EVP_sha512(), (int)n, mask) != 1) {
		log_openssl("pedkey: PBKDF2");
		goto out;
	}
	r = 0;
out:
	OPENSSL_cleanse(ss, sizeof(ss));
	if (r != 0)
		OPENSSL_cleanse(mask, n);
	return r;
}

static int has_pin_arg(const char *pin)
{
	return pin != NULL && pin[0] != '\0';
}

int pedkey_blank(pedkey_t *k, const char *label)
{
	uint8_t rnd[PEDKEY_SERIAL_HEX / 2];
	static const char hexd[] = "0123456789ABCDEF";
	size_t i, n;
	int r = PED_E_INVAL;

	if (k == NULL)
		goto out;
	pedkey_wipe(k);
	if (label == NULL)
		label = "";
	n = strnlen(label, PEDKEY_LABEL_MAX + 1);
	r = PED_E_RANGE;
	if (n > PEDKEY_LABEL_MAX || !printable(label, n))
		goto out;
	r = PED_E_CRYPTO;
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		log_openssl("pedkey: RAND_bytes");
		goto out;
	}
	for (i = 0; i < sizeof(rnd); i++) {
		k->serial[2 * i] = hexd[rnd[i] >> 4];
		k->serial[2 * i + 1] = hexd[rnd[i] & 0xf];
	}
	k->serial[PEDKEY_SERIAL_HEX] = '\0';
	memcpy(k->label, label, n);
	k->label[n] = '\0';
	k->type = LINK_KEY_BLANK;
	r = 0;
out:
	OPENSSL_cleanse(rnd, sizeof(rnd));
	return r;
}

int pedkey_set_share(pedkey_t *k, uint8_t type, const uint8_t keyset[LINK_KEYSET_ID_LEN],
		     uint8_t n, const shamir_share_t *s, const char *pin)
{
	pedkey_t t;
	uint8_t mask[SHAMIR_MAX_SECRET];
	pbuf_t b;
	size_t i;
	int r = PED_E_INVAL;

	memset(&t, 0, sizeof(t));
	if (k == NULL || keyset == NULL || s == NULL)
		goto out;
	r = PED_E_RANGE;
	if (type < LINK_KEY_BLUE || type > LINK_KEY_WHITE || n < 1 || n > SHAMIR_MAX_N ||
	    s->m < 1 || s->m > n || s->x < 1 || s->x > n || s->len < 1 ||
	    s->len > SHAMIR_MAX_SECRET)
		goto out;
	if (!str_ok(k->serial, PEDKEY_SERIAL_MIN, PEDKEY_SERIAL_MAX) ||
	    !str_ok(k->label, 0, PEDKEY_LABEL_MAX))
		goto out;
	if (has_pin_arg(pin) && (r = pedkey_pin_ok(pin)) != 0)
		goto out;
	t = *k;
	t.type = type;
	memcpy(t.keyset, keyset, LINK_KEYSET_ID_LEN);
	t.m = s->m;
	t.n = n;
	t.x = s->x;
	t.has_pin = has_pin_arg(pin) ? 1 : 0;
	memset(t.share, 0, sizeof(t.share));
	pbuf_over(&b, t.share, sizeof(t.share));
	if ((r = shamir_share_encode(s, &b)) != 0)
		goto out;
	t.share_len = (uint16_t)b.len;
	r = PED_E_CRYPTO;
	if (RAND_bytes(t.salt, sizeof(t.salt)) != 1) {
		log_openssl("pedkey: RAND_bytes");
		goto out;
	}
	if (t.has_pin) {
		if ((r = pin_mask(pin, t.salt, t.serial, mask, s->len)) != 0)
			goto out;
		for (i = 0; i < s->len; i++)
			t.share[SHARE_HDR_LEN + i] ^= mask[i];
	}
	*k = t;
	r = 0;
out:
	OPENSSL_cleanse(mask, sizeof(mask));
	OPENSSL_cleanse(&t, sizeof(t));
	return r;
}

int pedkey_get_share(const pedkey_t *k, const char *pin, shamir_share_t *s)
{
	uint8_t mask[SHAMIR_MAX_SECRET];
	pbuf_t b;
	size_t i;
	int r = PED_E_INVAL;

	if (s != NULL)
		shamir_share_wipe(s);
	if (k == NULL || s == NULL)
		goto out;
	r = PED_E_WRONG_KEY_TYPE;
	if (k->type == LINK_KEY_BLANK)
		goto out;
	r = PED_E_KEY_UNREADABLE;
	if (k->type > LINK_KEY_WHITE || k->share_len > sizeof(k->share))
		goto out;
	pbuf_from(&b, k->share, k->share_len);
	if (shamir_share_decode(&b, s) != 0 || pbuf_expect_end(&b) != 0 ||
	    s->m != k->m || s->x != k->x)
		goto out;
	if (k->has_pin) {
		if ((r = pedkey_pin_ok(pin)) != 0)
			goto out;
		if ((r = pin_mask(pin, k->salt, k->serial, mask, s->len)) != 0)
			goto out;
		for (i = 0; i < s->len; i++)
			s->y[i] ^= mask[i];
	}
	r = 0;
out:
	OPENSSL_cleanse(mask, sizeof(mask));
	if (r != 0 && s != NULL)
		shamir_share_wipe(s);
	return r;
}

/* The fields a file may hold; shared by encode (PED_E_INVAL) and decode. */
static int fields_ok(const pedkey_t *k)
{
	shamir_share_t s;
	pbuf_t b;
	int ok = 0;

	if (k->type > LINK_KEY_WHITE || !str_ok(k->serial, PEDKEY_SERIAL_MIN, PEDKEY_SERIAL_MAX) ||
	    !str_ok(k->label, 0, PEDKEY_LABEL_MAX))
		return 0;
	if (k->type == LINK_KEY_BLANK)
		return 1;
	if (k->m < 1 || k->m > k->n || k->n > SHAMIR_MAX_N || k->x < 1 || k->x > k->n ||
	    k->has_pin > 1 || k->share_len <= SHARE_HDR_LEN || k->share_len > sizeof(k->share))
		return 0;
	pbuf_from(&b, k->share, k->share_len);
	if (shamir_share_decode(&b, &s) == 0 && pbuf_expect_end(&b) == 0 && s.m == k->m &&
	    s.x == k->x)
		ok = 1;
	shamir_share_wipe(&s);
	return ok;
}

int pedkey_encode(const pedkey_t *k, pbuf_t *out)
{
	uint8_t img[PEDKEY_FILE_MAX];
	uint8_t *sum;
	pbuf_t b;
	int r = PED_E_INVAL;

	if (k == NULL || out == NULL || !fields_ok(k))
		goto out;
	pbuf_over(&b, img, sizeof(img));
	r = PED_E_INTERNAL; /* PEDKEY_FILE_MAX holds the largest key */
	if (pbuf_put_bytes(&b, pedkey_magic, sizeof(pedkey_magic)) != 0 ||
	    pbuf_put_u16(&b, PEDKEY_VERSION) != 0 || pbuf_put_u8(&b, k->type) != 0 ||
	    link_put_str(&b, k->serial) != 0 || link_put_str(&b, k->label) != 0)
		goto out;
	if (k->type != LINK_KEY_BLANK &&
	    (pbuf_put_bytes(&b, k->keyset, sizeof(k->keyset)) != 0 ||
	     pbuf_put_u8(&b, k->m) != 0 || pbuf_put_u8(&b, k->n) != 0 ||
	     pbuf_put_u8(&b, k->x) != 0 || pbuf_put_u8(&b, k->has_pin) != 0 ||
	     pbuf_put_bytes(&b, k->salt, sizeof(k->salt)) != 0 ||
	     pbuf_put_u16(&b, k->share_len) != 0 ||
	     pbuf_put_bytes(&b, k->share, k->share_len) != 0))
		goto out;
	if (pbuf_reserve(&b, PEDKEY_SUM_LEN, &sum) != 0)
		goto out;
	r = PED_E_CRYPTO;
	if (EVP_Digest(img, b.len - PEDKEY_SUM_LEN, sum, NULL, EVP_sha256(), NULL) != 1) {
		log_openssl("pedkey: SHA-256");
		goto out;
	}
	r = pbuf_put_bytes(out, img, b.len);
out:
	OPENSSL_cleanse(img, sizeof(img));
	return r;
}

/* A str of min..max printable characters into out (max+1 bytes). */
static int get_field_str(pbuf_t *b, char *out, size_t min, size_t max)
{
	size_t n;

	if (link_get_str(b, out, max + 1) != 0)
		return -1;
	n = strlen(out);
	return n >= min && printable(out, n) ? 0 : -1;
}

int pedkey_decode(const uint8_t *data, size_t len, pedkey_t *k)
{
	uint8_t magic[sizeof(pedkey_magic)];
	uint8_t sum[PEDKEY_SUM_LEN], want[PEDKEY_SUM_LEN];
	uint16_t ver;
	size_t body;
	pbuf_t b, sb;
	shamir_share_t s;
	int r = PED_E_INVAL;

	memset(&s, 0, sizeof(s));
	if (k != NULL)
		pedkey_wipe(k);
	if (k == NULL || (data == NULL && len > 0))
		goto out;
	r = PED_E_KEY_UNREADABLE;
	if (len > PEDKEY_FILE_MAX)
		goto out;
	pbuf_from(&b, data, len);
	if (pbuf_get_bytes(&b, magic, sizeof(magic)) != 0 ||
	    memcmp(magic, pedkey_magic, sizeof(magic)) != 0 || pbuf_get_u16(&b, &ver) != 0)
		goto out;
	if (ver != PEDKEY_VERSION) {
		r = PED_E_VERSION;
		goto out;
	}
	if (pbuf_get_u8(&b, &k->type) != 0 || k->type > LINK_KEY_WHITE ||
	    get_field_str(&b, k->serial, PEDKEY_SERIAL_MIN, PEDKEY_SERIAL_MAX) != 0 ||
	    get_field_str(&b, k->label, 0, PEDKEY_LABEL_MAX) != 0)
		goto out;
	if (k->type != LINK_KEY_BLANK) {
		if (pbuf_get_bytes(&b, k->keyset, sizeof(k->keyset)) != 0 ||
		    pbuf_get_u8(&b, &k->m) != 0 || pbuf_get_u8(&b, &k->n) != 0 ||
		    pbuf_get_u8(&b, &k->x) != 0)
			goto out;
		if (k->m < 1 || k->m > k->n || k->n > SHAMIR_MAX_N || k->x < 1 || k->x > k->n)
			goto out;
		if (pbuf_get_u8(&b, &k->has_pin) != 0 || k->has_pin > 1 ||
		    pbuf_get_bytes(&b, k->salt, sizeof(k->salt)) != 0 ||
		    pbuf_get_u16(&b, &k->share_len) != 0)
			goto out;
		if (k->share_len <= SHARE_HDR_LEN || k->share_len > sizeof(k->share) ||
		    pbuf_get_sub(&b, k->share_len, &sb) != 0)
			goto out;
		memcpy(k->share, sb.data, k->share_len);
		if (shamir_share_decode(&sb, &s) != 0 || pbuf_expect_end(&sb) != 0 ||
		    s.m != k->m || s.x != k->x)
			goto out;
	}
	body = b.off;
	if (pbuf_get_bytes(&b, sum, sizeof(sum)) != 0 || pbuf_expect_end(&b) != 0)
		goto out;
	if (EVP_Digest(data, body, want, NULL, EVP_sha256(), NULL) != 1) {
		log_openssl("pedkey: SHA-256");
		r = PED_E_CRYPTO;
		goto out;
	}
	if (CRYPTO_memcmp(sum, want, sizeof(sum)) != 0)
		goto out;
	r = 0;
out:
	shamir_share_wipe(&s);
	if (r != 0 && k != NULL)
		pedkey_wipe(k);
	return r;
}

int pedkey_save(const char *path, const pedkey_t *k)
{
	uint8_t img[PEDKEY_FILE_MAX];
	pbuf_t b;
	int r = PED_E_INVAL;

	if (path == NULL || k == NULL)
		goto out;
	pbuf_over(&b, img, sizeof(img));
	if ((r = pedkey_encode(k, &b)) != 0)
		goto out;
	r = atomic_write_file(path, img, b.len, 0600);
out:
	OPENSSL_cleanse(img, sizeof(img));
	return r;
}

int pedkey_load(const char *path, pedkey_t *k)
{
	void *data = NULL;
	size_t len = 0;
	int r = PED_E_INVAL;

	if (k != NULL)
		pedkey_wipe(k);
	if (path == NULL || k == NULL)
		goto out;
	r = atomic_read_file(path, PEDKEY_FILE_MAX, &data, &len);
	if (r == PED_E_TOO_LONG)
		r = PED_E_KEY_UNREADABLE; /* no key file is that large */
	if (r != 0)
		goto out;
	r = pedkey_decode(data, len, k);
out:
	if (data != NULL) {
		OPENSSL_cleanse(data, len);
		free(data);
	}
	return r;
}

void pedkey_wipe(pedkey_t *k)
{
	if (k != NULL)
		OPENSSL_cleanse(k, sizeof(*k));
}
