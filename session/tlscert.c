/* tlscert.c - host key and self-signed certificate (see tlscert.h). */
#include "session/tlscert.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "common/atomic.h"
#include "common/err.h"
#include "common/hex.h"
#include "common/log.h"

#define PATH_CAP 4200

int tlscert_fp(const void *x509, char fp[static TLSCERT_FP_TEXT])
{
	unsigned char md[32];
	unsigned int n = 0;

	fp[0] = '\0';
	if (x509 == NULL || X509_digest(x509, EVP_sha256(), md, &n) != 1 || n != sizeof(md))
		return PED_E_CRYPTO;
	hex_encode(md, sizeof(md), fp);
	fp[TLSCERT_FP_HEX] = '\0';
	return 0;
}

/* The key's curve: 521, 256 or 0 (not an accepted key). */
static int key_bits(EVP_PKEY *k)
{
	char grp[64];
	size_t n = 0;

	if (k == NULL || EVP_PKEY_base_id(k) != EVP_PKEY_EC ||
	    EVP_PKEY_get_utf8_string_param(k, "group", grp, sizeof(grp), &n) != 1)
		return 0;
	if (strcmp(grp, SN_secp521r1) == 0)
		return 521;
	if (strcmp(grp, SN_X9_62_prime256v1) == 0)
		return 256;
	return 0;
}

int tlscert_read(const char *path, char fp[static TLSCERT_FP_TEXT], char *cn, size_t cncap)
{
	void *data = NULL;
	size_t len = 0;
	BIO *b = NULL;
	X509 *x = NULL;
	EVP_PKEY *k = NULL;
	const unsigned char *p;
	int r;

	fp[0] = '\0';
	if (cn != NULL && cncap > 0)
		cn[0] = '\0';
	if ((r = atomic_read_file(path, TLSCERT_MAX_FILE, &data, &len)) != 0) {
		if (r == PED_E_TOO_LONG)
			r = PED_E_CERT_BAD;
		goto out;
	}
	r = PED_E_CERT_BAD;
	if ((b = BIO_new_mem_buf(data, (int)len)) == NULL)
		goto out;
	x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	if (x == NULL) {
		p = data;
		x = d2i_X509(NULL, &p, (long)len);
		if (x != NULL && p != (const unsigned char *)data + len) {
			X509_free(x);
			x = NULL;
		}
	}
	if (x == NULL || (k = X509_get_pubkey(x)) == NULL || key_bits(k) == 0)
		goto out;
	if (tlscert_fp(x, fp) != 0)
		goto out;
	if (cn != NULL && cncap > 0 &&
	    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, (int)cncap) < 0)
		cn[0] = '\0';
	r = 0;
out:
	ERR_clear_error();
	EVP_PKEY_free(k);
	X509_free(x);
	BIO_free(b);
	if (data != NULL) {
		OPENSSL_cleanse(data, len);
		free(data);
	}
	return r;
}

static int self_sign(EVP_PKEY *k, const char *cn, X509 **out)
{
	X509 *x = X509_new();
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	int r = PED_E_CRYPTO;

	if (x == NULL || X509_set_version(x, 2) != 1 || RAND_bytes(serial, sizeof(serial)) != 1)
		goto out;
	serial[0] &= 0x7f;
	if ((bn = BN_bin2bn(serial, sizeof(serial), NULL)) == NULL ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
		goto out;
	if (X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), (long)TLSCERT_DAYS * 86400) == NULL)
		goto out;
	/* (no X509_NAME variable: wincrypt.h defines that name as a macro) */
	if (X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
				       (const unsigned char *)cn, -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, X509_get_subject_name(x)) != 1 || X509_set_pubkey(x, k) != 1 ||
	    X509_sign(x, k, EVP_sha256()) <= 0)
		goto out;
	*out = x;
	x = NULL;
	r = 0;
out:
	BN_free(bn);
	X509_free(x);
	return r;
}

/* PEM of k (private) or x into a malloc'd buffer. */
static int pem_of(EVP_PKEY *k, X509 *x, char **out, size_t *len)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p;
	long n;
	int r = PED_E_CRYPTO;

	*out = NULL;
	if (b == NULL)
		goto out;
	if (k != NULL ? PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) != 1
		      : PEM_write_bio_X509(b, x) != 1)
		goto out;
	if ((n = BIO_get_mem_data(b, &p)) <= 0 || (*out = malloc((size_t)n)) == NULL)
		goto out;
	memcpy(*out, p, (size_t)n);
	*len = (size_t)n;
	r = 0;
out:
	if (b != NULL) {
		if (BIO_get_mem_data(b, &p) > 0)
			OPENSSL_cleanse(p, (size_t)BIO_get_mem_data(b, &p));
		BIO_free(b);
	}
	return r;
}

int tlscert_regen(const char *dir, const char *cn, int bits, int force,
		  char fp[static TLSCERT_FP_TEXT])
{
	char kpath[PATH_CAP], cpath[PATH_CAP];
	struct stat st;
	EVP_PKEY *k = NULL;
	X509 *x = NULL;
	char *kpem = NULL, *cpem = NULL;
	size_t klen = 0, clen = 0;
	int r = PED_E_INVAL;

	fp[0] = '\0';
	if (cn == NULL || cn[0] == '\0' || strlen(cn) > 64 || (bits != 521 && bits != 256))
		goto out;
	snprintf(kpath, sizeof(kpath), "%s/%s", dir, TLSCERT_KEY_FILE);
	snprintf(cpath, sizeof(cpath), "%s/%s", dir, TLSCERT_CRT_FILE);
	r = PED_E_CERT_EXISTS;
	if (!force && (stat(kpath, &st) == 0 || stat(cpath, &st) == 0))
		goto out;
	r = PED_E_CRYPTO;
	if ((k = EVP_EC_gen(bits == 521 ? SN_secp521r1 : SN_X9_62_prime256v1)) == NULL)
		goto out;
	if ((r = self_sign(k, cn, &x)) != 0 || (r = pem_of(k, NULL, &kpem, &klen)) != 0 ||
	    (r = pem_of(NULL, x, &cpem, &clen)) != 0 || (r = tlscert_fp(x, fp)) != 0)
		goto out;
	/* the key first: a certificate never names a key that is not there */
	if ((r = atomic_write_file(kpath, kpem, klen, 0600)) != 0 ||
	    (r = atomic_write_file(cpath, cpem, clen, 0644)) != 0)
		goto out;
	r = 0;
out:
	if (r == PED_E_CRYPTO)
		log_openssl("tls key");
	ERR_clear_error();
	if (kpem != NULL) {
		OPENSSL_cleanse(kpem, klen);
		free(kpem);
	}
	free(cpem);
	X509_free(x);
	EVP_PKEY_free(k);
	if (r != 0)
		fp[0] = '\0';
	return r;
}
