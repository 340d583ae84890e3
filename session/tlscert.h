/* tlscert.h - the host key and self-signed certificate of a PED-initiated
 * link (docs/PROTOCOL.md Part 5), and certificate files of peers.
 *
 * Each host (pedserver, pedclient) has one ECDSA key (P-521 or P-256) in
 * STATEDIR/tls.key (0600) and a self-signed X.509 certificate for it in
 * STATEDIR/tls.crt (0644, PEM), both written atomically. A peer's
 * certificate is trusted by its SHA-256 fingerprint (of the DER encoding),
 * registered beforehand: no CA, no names, no dates. */
#ifndef PED_TLSCERT_H
#define PED_TLSCERT_H

#include <stddef.h>

#define TLSCERT_KEY_FILE "tls.key"
#define TLSCERT_CRT_FILE "tls.crt"
#define TLSCERT_FP_HEX 64                /* SHA-256, lower-case hex */
#define TLSCERT_FP_TEXT (TLSCERT_FP_HEX + 1)
#define TLSCERT_MAX_FILE 16384           /* a certificate file we read */
#define TLSCERT_DAYS 3650

/* Makes a new key on curve bits (521 or 256) and a certificate with
 * subject CN = cn, and writes both into dir. An existing pair is kept
 * (PED_E_CERT_EXISTS) unless force. fp receives the new fingerprint. */
int tlscert_regen(const char *dir, const char *cn, int bits, int force,
		  char fp[static TLSCERT_FP_TEXT]);
/* Reads a PEM (or DER) certificate file, checks it holds a P-256 or P-521
 * ECDSA key, and gives its fingerprint and subject CN (cn may be NULL).
 * PED_E_CERT_BAD, PED_E_IO, PED_E_NOT_FOUND. */
int tlscert_read(const char *path, char fp[static TLSCERT_FP_TEXT], char *cn, size_t cncap);
/* The fingerprint of an X509 * (passed as void * to keep OpenSSL out). */
int tlscert_fp(const void *x509, char fp[static TLSCERT_FP_TEXT]);

#endif
