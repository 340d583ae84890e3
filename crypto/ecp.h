/* ecp.h - P-521 keys for the channel: generation, strict import/export, ECC CDH.
 *
 * Public keys travel as uncompressed SEC1 points, 0x04 || X || Y (133 bytes).
 * ecp_import_public() performs public-key validation per SP 800-56A rev3
 * §5.6.2.3 exactly once (encoding and length, coordinates in [0, p-1], on the
 * curve, not the identity; P-521 has cofactor 1, so this partial check is
 * equivalent to full validation). Compressed points, hybrid points, explicit
 * parameters and wrong lengths are rejected. ecp_cdh() then derives without
 * OpenSSL's default re-validation of the peer key, which would double the cost. */
#ifndef PED_ECP_H
#define PED_ECP_H

#include <stddef.h>
#include <stdint.h>

#define ECP_PUB_LEN 133  /* 0x04 || X(66) || Y(66) */
#define ECP_PRIV_LEN 66  /* big-endian scalar, left-padded */
#define ECP_Z_LEN 66     /* x-coordinate of the shared point */

typedef struct ecp_key ecp_key_t;

/* New key pair from RAND_bytes (OpenSSL's DRBG). */
int ecp_generate(ecp_key_t **out);
/* Key pair from a big-endian private scalar d, 1 <= d <= n-1. len may be up
 * to 67 when the extra leading bytes are zero. */
int ecp_from_private(const uint8_t *d, size_t len, ecp_key_t **out);
/* Validated public key from an uncompressed point of exactly 133 bytes. */
int ecp_import_public(const uint8_t *pt, size_t len, ecp_key_t **out);
/* Validated public key from a DER SubjectPublicKeyInfo: only id-ecPublicKey
 * with namedCurve secp521r1 and an uncompressed point, canonical DER, nothing
 * trailing. */
int ecp_import_spki(const uint8_t *der, size_t len, ecp_key_t **out);
int ecp_export_public(const ecp_key_t *k, uint8_t out[static ECP_PUB_LEN]);
/* Fails with PED_E_INVAL for a public-only key. */
int ecp_export_private(const ecp_key_t *k, uint8_t out[static ECP_PRIV_LEN]);
/* ECC CDH primitive (SP 800-56A rev3 §5.7.1.2): z = x(d_own · Q_peer), 66 bytes.
 * own must hold a private key; peer was validated at import. */
int ecp_cdh(const ecp_key_t *own, const ecp_key_t *peer, uint8_t z[static ECP_Z_LEN]);
/* Frees the key; the private scalar is wiped by OpenSSL. NULL is a no-op. */
void ecp_free(ecp_key_t *k);

#endif
