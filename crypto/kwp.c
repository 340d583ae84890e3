/* kwp.c - AES-256 key wrap with padding (RFC 5649 / SP 800-38F KWP), see kwp.h.
 *
 * OpenSSL's unwrap writes the candidate plaintext into its output before the
 * integrity check, so we unwrap into a private temporary and copy only a
 * verified result: the caller's buffer is never touched on failure. */
#include "kwp.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "common/err.h"
#include "common/log.h"

/* Smallest wrapped blob: 8-byte AIV block plus one 8-byte block. */
#define KWP_MIN_WRAPPED 16

static EVP_CIPHER_CTX *kwp_ctx(const uint8_t kek[static KWP_KEY_LEN], int enc)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

	if (ctx == NULL)
		return NULL;
	/* Wrap modes are refused by EVP unless the caller opts in. */
	EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	if (EVP_CipherInit_ex2(ctx, EVP_aes_256_wrap_pad(), kek, NULL, enc, NULL) != 1) {
		EVP_CIPHER_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

int kwp_wrap(const uint8_t kek[static KWP_KEY_LEN], const uint8_t *in, size_t len,
	     uint8_t *out, size_t outcap, size_t *outlen)
{
	EVP_CIPHER_CTX *ctx = NULL;
	size_t want = 0;
	int touched = 0, n = 0, fin = 0, r = PED_E_INTERNAL;

	if (outlen != NULL)
		*outlen = 0;
	if (kek == NULL || in == NULL || out == NULL || outlen == NULL || len == 0) {
		r = PED_E_INVAL;
		goto out;
	}
	if (len > KWP_MAX_IN) {
		r = PED_E_TOO_LONG;
		goto out;
	}
	want = KWP_WRAPPED_LEN(len);
	if (outcap < want) {
		r = PED_E_NOSPACE;
		goto out;
	}
	touched = 1;
	if ((ctx = kwp_ctx(kek, 1)) == NULL ||
	    EVP_EncryptUpdate(ctx, out, &n, in, (int)len) != 1 ||
	    EVP_EncryptFinal_ex(ctx, out + n, &fin) != 1) {
		log_openssl("kwp: wrap failed");
		r = PED_E_CRYPTO;
		goto out;
	}
	if ((size_t)n + (size_t)fin != want) {
		r = PED_E_INTERNAL;
		goto out;
	}
	*outlen = want;
	r = 0;
out:
	if (r != 0 && touched)
		OPENSSL_cleanse(out, want);
	EVP_CIPHER_CTX_free(ctx);
	return r;
}

int kwp_unwrap(const uint8_t kek[static KWP_KEY_LEN], const uint8_t *in, size_t len,
	       uint8_t *out, size_t outcap, size_t *outlen)
{
	EVP_CIPHER_CTX *ctx = NULL;
	uint8_t *tmp = NULL;
	size_t tmpcap = 0;
	int n = 0, fin = 0, r = PED_E_INTERNAL;

	if (outlen != NULL)
		*outlen = 0;
	if (kek == NULL || in == NULL || out == NULL || outlen == NULL) {
		r = PED_E_INVAL;
		goto out;
	}
	if (len > KWP_WRAPPED_LEN(KWP_MAX_IN)) {
		r = PED_E_TOO_LONG;
		goto out;
	}
	/* A length no wrap can produce fails the integrity check by definition. */
	if (len < KWP_MIN_WRAPPED || len % 8 != 0) {
		r = PED_E_UNWRAP;
		goto out;
	}
	/* OpenSSL writes at most len - 8 bytes; len leaves room to spare. */
	tmpcap = len;
	if ((tmp = malloc(tmpcap)) == NULL) {
		tmpcap = 0;
		r = PED_E_NOMEM;
		goto out;
	}
	if ((ctx = kwp_ctx(kek, 0)) == NULL) {
		log_openssl("kwp: cipher setup failed");
		r = PED_E_CRYPTO;
		goto out;
	}
	if (EVP_DecryptUpdate(ctx, tmp, &n, in, (int)len) != 1 ||
	    EVP_DecryptFinal_ex(ctx, tmp + n, &fin) != 1) {
		/* Integrity failure: expected from a hostile peer, not logged. */
		ERR_clear_error();
		r = PED_E_UNWRAP;
		goto out;
	}
	n += fin;
	if (n < 1 || (size_t)n > len - 8 || (size_t)n > KWP_MAX_IN) {
		r = PED_E_UNWRAP;
		goto out;
	}
	if ((size_t)n > outcap) {
		r = PED_E_NOSPACE;
		goto out;
	}
	memcpy(out, tmp, (size_t)n);
	*outlen = (size_t)n;
	r = 0;
out:
	if (tmp != NULL) {
		OPENSSL_cleanse(tmp, tmpcap);
		free(tmp);
	}
	EVP_CIPHER_CTX_free(ctx);
	return r;
}
