/* kdf.c - SP 800-56C rev2 one-step KDF with SHA-512 (see kdf.h), on
 * OpenSSL's EVP_KDF "SSKDF". The EVP_KDF is fetched once per process: a
 * fetch walks the provider store and costs more than a short derivation. */
#include "kdf.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "common/err.h"
#include "common/log.h"

static CRYPTO_ONCE kdf_once = CRYPTO_ONCE_STATIC_INIT;
static EVP_KDF *kdf_sskdf;

/* Runs inside OPENSSL_cleanup(), before the providers are unloaded. */
static void kdf_release(void)
{
	EVP_KDF_free(kdf_sskdf);
	kdf_sskdf = NULL;
}

static void kdf_fetch(void)
{
	kdf_sskdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_SSKDF, NULL);
	if (kdf_sskdf != NULL)
		OPENSSL_atexit(kdf_release);
}

int kdf_onestep_sha512(const uint8_t *z, size_t zlen, const uint8_t *fixed_info,
		       size_t fixed_len, uint8_t *out, size_t outlen)
{
	int r = PED_E_INVAL;
	EVP_KDF_CTX *ctx = NULL;
	OSSL_PARAM params[4];
	static const uint8_t empty[1];

	if (out == NULL || outlen == 0 || z == NULL || zlen == 0 ||
	    (fixed_info == NULL && fixed_len > 0))
		goto out;
	r = PED_E_TOO_LONG;
	if (outlen > KDF_MAX_OUT)
		goto out;
	r = PED_E_CRYPTO;
	if (!CRYPTO_THREAD_run_once(&kdf_once, kdf_fetch) || kdf_sskdf == NULL) {
		log_openssl("kdf: cannot fetch SSKDF");
		goto out;
	}
	if ((ctx = EVP_KDF_CTX_new(kdf_sskdf)) == NULL) {
		log_openssl("kdf: cannot create a context");
		goto out;
	}
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA512", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)z, zlen);
	params[2] = OSSL_PARAM_construct_octet_string(
		OSSL_KDF_PARAM_INFO, (void *)(fixed_info != NULL ? fixed_info : empty), fixed_len);
	params[3] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(ctx, out, outlen, params) != 1) {
		log_openssl("kdf: SSKDF derivation failed");
		goto out;
	}
	r = 0;
out:
	if (r != 0 && out != NULL && outlen <= KDF_MAX_OUT)
		OPENSSL_cleanse(out, outlen);
	EVP_KDF_CTX_free(ctx); /* clears its copies of Z and FixedInfo */
	return r;
}
