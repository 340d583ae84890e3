/* kwp.h - AES-256 key wrap with padding (RFC 5649, SP 800-38F KWP-AE/KWP-AD).
 *
 * Output of a wrap is 8 + roundup8(len) bytes. Input lengths 1..KWP_MAX_IN.
 * Unwrap checks the alternative IV, the length and the zero padding (all
 * inside OpenSSL, constant time) and writes nothing on failure. */
#ifndef PED_KWP_H
#define PED_KWP_H

#include <stddef.h>
#include <stdint.h>

#define KWP_KEY_LEN 32
#define KWP_MAX_IN 65536
#define KWP_WRAPPED_LEN(n) (8 + (((n) + 7) / 8) * 8)

int kwp_wrap(const uint8_t kek[static KWP_KEY_LEN], const uint8_t *in, size_t len,
	     uint8_t *out, size_t outcap, size_t *outlen);
/* PED_E_UNWRAP when the integrity check fails. */
int kwp_unwrap(const uint8_t kek[static KWP_KEY_LEN], const uint8_t *in, size_t len,
	       uint8_t *out, size_t outcap, size_t *outlen);

#endif
