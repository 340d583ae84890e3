/* kdf.h - SP 800-56C rev2 §4.1 one-step KDF, option 1, H = SHA-512.
 *
 * K(i) = SHA-512(u32be(i) || Z || FixedInfo), i = 1, 2, ...; the output is
 * the leftmost outlen bytes of K(1) || K(2) || ... (OpenSSL EVP_KDF "SSKDF"). */
#ifndef PED_KDF_H
#define PED_KDF_H

#include <stddef.h>
#include <stdint.h>

#define KDF_MAX_OUT 4096

int kdf_onestep_sha512(const uint8_t *z, size_t zlen, const uint8_t *fixed_info,
		       size_t fixed_len, uint8_t *out, size_t outlen);

#endif
