/* pedkey_fuzz.c - libFuzzer target for the PED-key file decoder.
 *
 * The input is decoded as it is, and again with its last 32 bytes replaced
 * by the SHA-256 of the rest, so that the fuzzer reaches the field checks
 * behind the checksum too. A file that decodes must encode back to exactly
 * the same bytes (the format has one encoding per key), and a key without a
 * PIN must yield its share; anything else aborts. Keys with a PIN are not
 * unmasked (PBKDF2 would slow the fuzzer to a crawl; the mask is a plain
 * XOR over a share that has already decoded). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/buf.h"
#include "usbped/pedkey.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one(const uint8_t *data, size_t size)
{
	static uint8_t img[PEDKEY_FILE_MAX];
	pedkey_t k;
	shamir_share_t s;
	pbuf_t b;

	if (pedkey_decode(data, size, &k) != 0)
		return;
	pbuf_over(&b, img, sizeof(img));
	if (pedkey_encode(&k, &b) != 0 || b.len != size || memcmp(img, data, size) != 0)
		abort();
	if (k.type != LINK_KEY_BLANK && !k.has_pin) {
		if (pedkey_get_share(&k, NULL, &s) != 0 || s.m != k.m || s.x != k.x)
			abort();
		shamir_share_wipe(&s);
	}
	pedkey_wipe(&k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;

	one(data, size);
	if (size < 32 || size > PEDKEY_FILE_MAX)
		return 0;
	if ((copy = malloc(size)) == NULL)
		return 0;
	memcpy(copy, data, size);
	if (EVP_Digest(copy, size - 32, copy + size - 32, NULL, EVP_sha256(), NULL) == 1)
		one(copy, size);
	free(copy);
	return 0;
}
