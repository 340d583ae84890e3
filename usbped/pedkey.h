/* pedkey.h - PED-key files ("iKeys"): one file per physical key in the
 * emulator's key directory.
 *
 * File layout (version 1, big-endian):
 *   u8[8]  magic "RPEDKEY\0"
 *   u16    format version (PEDKEY_VERSION)
 *   u8     key type (enum link_key_type; BLANK for a blank key)
 *   str    serial (8-32 printable ASCII)          str = u8 len || bytes
 *   str    label (0-32 printable ASCII)
 *   then, unless blank:
 *   u8[16] keyset id
 *   u8     M, u8 N (1 <= M <= N <= 16), u8 x (share index, 1..N)
 *   u8     has_pin (0/1)
 *   u8[16] salt
 *   u16    share length, share bytes: the encoded share (crypto/shamir.h)
 *          whose y bytes are XORed with the PIN mask when has_pin
 *   u8[32] SHA-256 of every byte before it (detects corruption)
 * PIN mask = PBKDF2-HMAC-SHA-512(PIN, salt || serial, PEDKEY_PBKDF2_ITER,
 * len(y)). The PIN is never stored: a wrong PIN yields a wrong share that
 * only the HSM can detect after recombination. Files are written atomically
 * (common/atomic.h) with mode 0600. */
#ifndef PED_PEDKEY_H
#define PED_PEDKEY_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "crypto/shamir.h"
#include "usbped/link.h"

#define PEDKEY_VERSION 1
#define PEDKEY_SERIAL_MAX 32
#define PEDKEY_LABEL_MAX 32
#define PEDKEY_SALT_LEN 16
#define PEDKEY_PBKDF2_ITER 10000
#define PEDKEY_PIN_MIN 4
#define PEDKEY_PIN_MAX 48
#define PEDKEY_FILE_MAX 1024

typedef struct pedkey {
	uint8_t type;
	char serial[PEDKEY_SERIAL_MAX + 1];
	char label[PEDKEY_LABEL_MAX + 1];
	uint8_t keyset[LINK_KEYSET_ID_LEN];
	uint8_t m, n, x;
	uint8_t has_pin;
	uint8_t salt[PEDKEY_SALT_LEN];
	uint16_t share_len;
	uint8_t share[SHAMIR_ENCODED_MAX]; /* as stored (masked if has_pin) */
} pedkey_t;

/* A blank key with a fresh random serial. */
int pedkey_blank(pedkey_t *k, const char *label);
/* Imprints a share (and keyset id, M, N) protected by pin (NULL or "" for
 * none; otherwise 4-48 digits, first not 0: PED_E_RANGE). Keeps the serial. */
int pedkey_set_share(pedkey_t *k, uint8_t type, const uint8_t keyset[LINK_KEYSET_ID_LEN],
		     uint8_t n, const shamir_share_t *s, const char *pin);
/* Recovers the share with pin (a wrong pin gives a wrong share, by design). */
int pedkey_get_share(const pedkey_t *k, const char *pin, shamir_share_t *s);
/* PIN syntax check: 0 or PED_E_RANGE. */
int pedkey_pin_ok(const char *pin);

int pedkey_encode(const pedkey_t *k, pbuf_t *out);
/* Strict decode of a whole file image: PED_E_KEY_UNREADABLE for anything
 * corrupt, truncated, trailing or foreign; PED_E_VERSION for another version. */
int pedkey_decode(const uint8_t *data, size_t len, pedkey_t *k);
int pedkey_load(const char *path, pedkey_t *k);
int pedkey_save(const char *path, const pedkey_t *k);
void pedkey_wipe(pedkey_t *k);

#endif
