/* softhsm_state_fuzz.c - libFuzzer target for the software HSM's state-file
 * parser (pedclient/softhsm_int.h).
 *
 * The parser must never crash and must return only its documented codes; on
 * failure the output record is wiped and no key is returned. A state it
 * accepts must encode back to exactly the bytes it was read from (the format
 * has one encoding per state), and parse again to the same record.
 * An input of the file's length is tried a second time with its checksum
 * made right, so that the fuzzer reaches the field checks behind it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/err.h"
#include "crypto/ecp.h"
#include "pedclient/softhsm_int.h"

static int is_wiped(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint8_t acc = 0;
	size_t i;

	for (i = 0; i < n; i++)
		acc |= b[i];
	return acc == 0;
}

static void check(const uint8_t *data, size_t size)
{
	struct softhsm_state st, again;
	uint8_t out[SOFTHSM_FILE_LEN];
	ecp_key_t *key = NULL;
	size_t len = 0;
	int r;

	r = softhsm_state_parse(data, size, &st, &key);
	if (r != 0) {
		if (key != NULL || !is_wiped(&st, sizeof(st)))
			abort();
		if (r != PED_E_STATE_CORRUPT && r != PED_E_VERSION)
			abort();
		return;
	}
	if (key == NULL || (size != SOFTHSM_FILE_LEN && size != SOFTHSM_FILE_LEN_V1))
		abort();
	/* the current version round-trips; version 1 is rewritten as current */
	if (softhsm_state_encode(&st, out, sizeof(out), &len) != 0 || len != SOFTHSM_FILE_LEN ||
	    (size == SOFTHSM_FILE_LEN && memcmp(out, data, size) != 0))
		abort();
	if (softhsm_state_parse(out, len, &again, NULL) != 0 ||
	    memcmp(&st, &again, sizeof(st)) != 0)
		abort();
	ecp_free(key);
	OPENSSL_cleanse(&st, sizeof(st));
	OPENSSL_cleanse(&again, sizeof(again));
	OPENSSL_cleanse(out, sizeof(out));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t fixed[SOFTHSM_FILE_LEN];
	const size_t body_end = size - SOFTHSM_SUM_LEN;
	size_t n = 0;

	check(data, size);
	if (size == SOFTHSM_FILE_LEN || size == SOFTHSM_FILE_LEN_V1) {
		memcpy(fixed, data, size);
		if (!EVP_Q_digest(NULL, "SHA256", NULL, fixed, body_end, fixed + body_end, &n) ||
		    n != SOFTHSM_SUM_LEN)
			abort();
		check(fixed, size);
		OPENSSL_cleanse(fixed, sizeof(fixed));
	}
	return 0;
}
