/* share_decode_fuzz.c - libFuzzer target for the Shamir share decoder.
 *
 * Decodes shares one after another from the input. A failed decode must
 * consume nothing and leave the share wiped; a decoded share must re-encode
 * to exactly the bytes it was read from. Two or more decoded shares are
 * handed to shamir_combine and shamir_interpolate, which must not crash, and
 * whatever combine returns must match interpolating the first m shares. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/buf.h"
#include "common/err.h"
#include "crypto/shamir.h"

#define FUZZ_MAX_SHARES (SHAMIR_MAX_N + 4)

static int is_wiped(const shamir_share_t *s)
{
	const uint8_t *p = (const uint8_t *)s;
	uint8_t acc = 0;
	size_t i;

	for (i = 0; i < sizeof(*s); i++)
		acc |= p[i];
	return acc == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	shamir_share_t shares[FUZZ_MAX_SHARES], s;
	uint8_t enc[SHAMIR_ENCODED_MAX];
	uint8_t secret[SHAMIR_MAX_SECRET], again[SHAMIR_MAX_SECRET];
	unsigned k = 0;
	pbuf_t in, out;
	int r;

	pbuf_from(&in, data, size);
	for (;;) {
		const size_t before = in.off;
		const uint8_t *start = pbuf_ptr(&in);
		size_t used;

		r = shamir_share_decode(&in, &s);
		if (r != 0) {
			if (in.off != before || !is_wiped(&s))
				abort();
			if (r != PED_E_INCOMPLETE && r != PED_E_VERSION && r != PED_E_SHARE_BAD)
				abort();
			break;
		}
		used = in.off - before;
		pbuf_over(&out, enc, sizeof(enc));
		if (shamir_share_encode(&s, &out) != 0 || out.len != used ||
		    memcmp(enc, start, used) != 0)
			abort();
		if (k < FUZZ_MAX_SHARES)
			shares[k++] = s;
	}

	if (k >= 2) {
		r = shamir_combine(shares, k, secret, sizeof(secret));
		if (r == 0) {
			if (shamir_interpolate(shares, shares[0].m, again, sizeof(again)) != 0 ||
			    memcmp(secret, again, shares[0].len) != 0)
				abort();
		} else if (r != PED_E_SHARE_BAD && r != PED_E_SHARE_DUP && r != PED_E_SHARE_FEW) {
			abort();
		}
		(void)shamir_interpolate(shares, k, secret, sizeof(secret));
	}

	OPENSSL_cleanse(shares, sizeof(shares));
	OPENSSL_cleanse(&s, sizeof(s));
	OPENSSL_cleanse(enc, sizeof(enc));
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(again, sizeof(again));
	return 0;
}
