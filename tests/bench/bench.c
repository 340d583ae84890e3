/* bench.c - `make bench`: the channel's cost beside OpenSSL's raw primitives,
 * measured in the same run. Never part of `make test`.
 *
 * 1. One side's handshake computation: ephemeral keygen, import (validation)
 *    of the peer's static and ephemeral keys, two ECC CDH, the one-step KDF
 *    and two confirmation HMACs (kas_derive) -- against the floor made of the
 *    same raw EVP calls (keygen, two derives without re-validation, SSKDF,
 *    two HMACs). Target: <= 1.15x.
 * 2. Record seal+open (chan_seal + chan_open) at 64 B, 1 KiB and 16 KiB --
 *    against raw AES-256-CTR + HMAC-SHA-512 over the same bytes with reused
 *    contexts. Target at 16 KiB: >= 85% of the raw throughput.
 * Each figure is the median of several alternating rounds.
 * 3. The session over loopback TCP (bench_session.c): handshake latency
 *    against the two-sided crypto floor and a TLS 1.3 handshake, and the
 *    ping round trip against a raw TCP ping-pong. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "common/err.h"
#include "crypto/chan.h"
#include "crypto/ecp.h"
#include "crypto/kas.h"
#include "tests/bench/bench.h"

#define ROUNDS 7

double bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

double bench_median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return v[n / 2];
}

void bench_die(const char *what, int r)
{
	fprintf(stderr, "bench: %s failed: %s\n", what, ped_errname(r));
	exit(1);
}

/* ---- handshake ---------------------------------------------------------- */

struct hs_fixture {
	ecp_key_t *own_static, *peer_static_key, *peer_eph_key;
	uint8_t peer_static[ECP_PUB_LEN], peer_eph[ECP_PUB_LEN];
	EVP_PKEY *raw_own_static, *raw_peer_static, *raw_peer_eph;
	uint8_t rpv[32], ctx[64];
};

static void hs_ours(struct hs_fixture *fx)
{
	ecp_key_t *eph = NULL, *ps = NULL, *pe = NULL;
	kas_keys_t keys;
	int r;

	if ((r = ecp_generate(&eph)) != 0 ||
	    (r = ecp_import_public(fx->peer_static, ECP_PUB_LEN, &ps)) != 0 ||
	    (r = ecp_import_public(fx->peer_eph, ECP_PUB_LEN, &pe)) != 0)
		bench_die("ours: keys", r);
	struct kas_params p = {KAS_FULL_UNIFIED, KAS_U, fx->own_static, eph, ps, pe, NULL,
			       fx->rpv, sizeof(fx->rpv), fx->ctx, sizeof(fx->ctx), NULL};
	if ((r = kas_derive(&p, &keys)) != 0)
		bench_die("ours: kas_derive", r);
	kas_keys_wipe(&keys);
	ecp_free(eph);
	ecp_free(ps);
	ecp_free(pe);
}

static EVP_PKEY *raw_keygen(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-521");
	if (k == NULL)
		bench_die("raw keygen", PED_E_CRYPTO);
	return k;
}

static void raw_derive(EVP_PKEY *own, EVP_PKEY *peer, uint8_t z[66])
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(own, NULL);
	size_t zl = 66;
	if (c == NULL || EVP_PKEY_derive_init(c) != 1 || EVP_PKEY_derive_set_peer_ex(c, peer, 0) != 1 ||
	    EVP_PKEY_derive(c, z, &zl) != 1)
		bench_die("raw derive", PED_E_CRYPTO);
	EVP_PKEY_CTX_free(c);
}

static void hs_floor(struct hs_fixture *fx, EVP_KDF *kdf, EVP_MAC *mac)
{
	uint8_t z[132], info[700], dkm[KAS_DKM_LEN], tag[64];
	size_t taglen;
	EVP_PKEY *eph = raw_keygen();
	OSSL_PARAM kp[4], mp[2];

	raw_derive(eph, fx->raw_peer_eph, z);
	raw_derive(fx->raw_own_static, fx->raw_peer_static, z + 66);
	memset(info, 0x5a, sizeof(info));
	kp[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA512", 0);
	kp[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, z, sizeof(z));
	kp[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, sizeof(info));
	kp[3] = OSSL_PARAM_construct_end();
	EVP_KDF_CTX *kc = EVP_KDF_CTX_new(kdf);
	if (kc == NULL || EVP_KDF_derive(kc, dkm, sizeof(dkm), kp) != 1)
		bench_die("raw kdf", PED_E_CRYPTO);
	EVP_KDF_CTX_free(kc);
	mp[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA512", 0);
	mp[1] = OSSL_PARAM_construct_end();
	for (int i = 0; i < 2; i++) {
		EVP_MAC_CTX *mc = EVP_MAC_CTX_new(mac);
		if (mc == NULL || EVP_MAC_init(mc, dkm, 64, mp) != 1 ||
		    EVP_MAC_update(mc, info, 6 + 4 * 133) != 1 ||
		    EVP_MAC_final(mc, tag, &taglen, sizeof(tag)) != 1)
			bench_die("raw hmac", PED_E_CRYPTO);
		EVP_MAC_CTX_free(mc);
	}
	OPENSSL_cleanse(z, sizeof(z));
	OPENSSL_cleanse(dkm, sizeof(dkm));
	EVP_PKEY_free(eph);
}

static void bench_handshake(void)
{
	struct hs_fixture fx;
	ecp_key_t *ps, *pe;
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SSKDF", NULL);
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	double ours[ROUNDS], flo[ROUNDS];
	const int n = 40;
	int r;

	if (kdf == NULL || mac == NULL)
		bench_die("fetch", PED_E_CRYPTO);
	if ((r = ecp_generate(&fx.own_static)) != 0 || (r = ecp_generate(&ps)) != 0 ||
	    (r = ecp_generate(&pe)) != 0)
		bench_die("keys", r);
	ecp_export_public(ps, fx.peer_static);
	ecp_export_public(pe, fx.peer_eph);
	RAND_bytes(fx.rpv, sizeof(fx.rpv));
	RAND_bytes(fx.ctx, sizeof(fx.ctx));
	/* The floor needs keys of the same curve, not the same keys. */
	fx.raw_own_static = raw_keygen();
	fx.raw_peer_static = raw_keygen();
	fx.raw_peer_eph = raw_keygen();
	hs_ours(&fx); /* warm up: fetches, tables */
	hs_floor(&fx, kdf, mac);
	for (int round = 0; round < ROUNDS; round++) {
		double t0 = bench_now();
		for (int i = 0; i < n; i++)
			hs_ours(&fx);
		double t1 = bench_now();
		for (int i = 0; i < n; i++)
			hs_floor(&fx, kdf, mac);
		double t2 = bench_now();
		ours[round] = (t1 - t0) / n * 1e6;
		flo[round] = (t2 - t1) / n * 1e6;
	}
	double o = bench_median(ours, ROUNDS), f = bench_median(flo, ROUNDS);
	printf("handshake, one side (keygen + 2 ECDH + KDF + 2 KC MACs, P-521)\n");
	printf("  ours   %8.1f us   (incl. validation of both peer keys)\n", o);
	printf("  floor  %8.1f us   (raw OpenSSL EVP, no re-validation)\n", f);
	printf("  ratio  %8.3fx    target <= 1.15x\n\n", o / f);
	EVP_PKEY_free(fx.raw_own_static);
	EVP_PKEY_free(fx.raw_peer_static);
	EVP_PKEY_free(fx.raw_peer_eph);
	ecp_free(fx.own_static);
	ecp_free(ps);
	ecp_free(pe);
	EVP_KDF_free(kdf);
	EVP_MAC_free(mac);
}

/* ---- records ------------------------------------------------------------ */

struct raw_dir {
	EVP_CIPHER_CTX *enc, *dec;
	EVP_MAC_CTX *mac;
};

static void raw_seal_open(struct raw_dir *d, uint64_t seq, const uint8_t *pt, size_t len,
			  uint8_t *ct, uint8_t *out)
{
	uint8_t iv[16] = {0}, hdr[5] = {1, 0, 0, 0, 0}, sq[8], tag[64], tag2[64];
	size_t tl;
	int ol;

	for (int i = 0; i < 8; i++)
		sq[i] = iv[i] = (uint8_t)(seq >> (56 - 8 * i));
	hdr[3] = (uint8_t)(len >> 8);
	hdr[4] = (uint8_t)len;
	/* seal */
	if (EVP_EncryptInit_ex2(d->enc, NULL, NULL, iv, NULL) != 1 ||
	    EVP_EncryptUpdate(d->enc, ct, &ol, pt, (int)len) != 1 ||
	    EVP_MAC_init(d->mac, NULL, 0, NULL) != 1 || EVP_MAC_update(d->mac, sq, 8) != 1 ||
	    EVP_MAC_update(d->mac, hdr, 5) != 1 || EVP_MAC_update(d->mac, ct, len) != 1 ||
	    EVP_MAC_final(d->mac, tag, &tl, sizeof(tag)) != 1)
		bench_die("raw seal", PED_E_CRYPTO);
	/* open */
	if (EVP_MAC_init(d->mac, NULL, 0, NULL) != 1 || EVP_MAC_update(d->mac, sq, 8) != 1 ||
	    EVP_MAC_update(d->mac, hdr, 5) != 1 || EVP_MAC_update(d->mac, ct, len) != 1 ||
	    EVP_MAC_final(d->mac, tag2, &tl, sizeof(tag2)) != 1 ||
	    CRYPTO_memcmp(tag, tag2, 64) != 0 ||
	    EVP_DecryptInit_ex2(d->dec, NULL, NULL, iv, NULL) != 1 ||
	    EVP_DecryptUpdate(d->dec, out, &ol, ct, (int)len) != 1)
		bench_die("raw open", PED_E_CRYPTO);
}

static void bench_records(void)
{
	static const size_t sizes[] = {64, 1024, 16384};
	static uint8_t pt[CHAN_MAX_PLAINTEXT], rec[CHAN_MAX_RECORD], out[CHAN_MAX_PLAINTEXT];
	kas_keys_t ku, kv;
	chan_t *cu, *cv;
	struct raw_dir raw;
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	OSSL_PARAM mp[2];
	uint64_t rseq = 0;
	int r;

	memset(&ku, 0, sizeof(ku));
	ku.scheme = KAS_FULL_UNIFIED;
	RAND_bytes((uint8_t *)&ku.uv, sizeof(ku.uv));
	RAND_bytes((uint8_t *)&ku.vu, sizeof(ku.vu));
	ku.role = KAS_U;
	kv = ku;
	kv.role = KAS_V;
	if ((r = chan_new(&ku, &cu)) != 0 || (r = chan_new(&kv, &cv)) != 0)
		bench_die("chan_new", r);
	RAND_bytes(pt, sizeof(pt));
	raw.enc = EVP_CIPHER_CTX_new();
	raw.dec = EVP_CIPHER_CTX_new();
	raw.mac = EVP_MAC_CTX_new(mac);
	mp[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA512", 0);
	mp[1] = OSSL_PARAM_construct_end();
	if (EVP_EncryptInit_ex2(raw.enc, EVP_aes_256_ctr(), ku.uv.dek, NULL, NULL) != 1 ||
	    EVP_DecryptInit_ex2(raw.dec, EVP_aes_256_ctr(), ku.uv.dek, NULL, NULL) != 1 ||
	    EVP_MAC_init(raw.mac, ku.uv.dmk, sizeof(ku.uv.dmk), mp) != 1)
		bench_die("raw init", PED_E_CRYPTO);

	printf("records, seal + open (AES-256-CTR + HMAC-SHA-512, encrypt-then-MAC)\n");
	printf("  %6s %12s %12s %8s\n", "size", "ours MB/s", "raw MB/s", "ratio");
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t len = sizes[s], reclen, ptlen;
		int n = (int)(64u * 1024 * 1024 / 8 / len) + 1000;
		double ours[ROUNDS], raws[ROUNDS];
		for (int round = 0; round < ROUNDS; round++) {
			double t0 = bench_now();
			for (int i = 0; i < n; i++) {
				if ((r = chan_seal(cu, pt, len, rec, sizeof(rec), &reclen)) != 0 ||
				    (r = chan_open(cv, rec, reclen, out, sizeof(out), &ptlen)) != 0)
					bench_die("chan", r);
			}
			double t1 = bench_now();
			for (int i = 0; i < n; i++)
				raw_seal_open(&raw, rseq++, pt, len, rec, out);
			double t2 = bench_now();
			ours[round] = (double)len * n / (t1 - t0) / 1e6;
			raws[round] = (double)len * n / (t2 - t1) / 1e6;
		}
		double o = bench_median(ours, ROUNDS), w = bench_median(raws, ROUNDS);
		printf("  %6zu %12.1f %12.1f %7.1f%%%s\n", len, o, w, 100.0 * o / w,
		       len == 16384 ? "   target >= 85%" : "");
	}
	chan_free(cu);
	chan_free(cv);
	kas_keys_wipe(&ku);
	kas_keys_wipe(&kv);
	EVP_CIPHER_CTX_free(raw.enc);
	EVP_CIPHER_CTX_free(raw.dec);
	EVP_MAC_CTX_free(raw.mac);
	EVP_MAC_free(mac);
}

int main(void)
{
	printf("Remote PED benchmarks (%s)\n\n", OpenSSL_version(OPENSSL_VERSION));
	bench_handshake();
	bench_records();
	bench_session();
	return 0;
}
