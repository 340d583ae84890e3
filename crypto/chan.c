/* chan.c - the channel's record layer (see chan.h for the record format).
 *
 * Each direction keeps one AES-256-CTR cipher context and one HMAC-SHA-512
 * context, keyed once in chan_new(); a record only sets the counter block
 * and re-initialises the MAC with the key it already holds, so the per-record
 * cost is the bulk work and not the key schedules. The DEK and DMK live only
 * inside those OpenSSL contexts (which wipe them when freed); the CWKs are
 * kept here. */
#include "chan.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "chan_int.h"
#include "kwp.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"

#define CHAN_IV_LEN 16

struct chan_dir {
	EVP_CIPHER_CTX *cipher; /* AES-256-CTR keyed with the DEK */
	EVP_MAC_CTX *mac;       /* HMAC-SHA-512 keyed with the DMK */
	uint8_t cwk[KAS_CWK_LEN];
	uint64_t seq;           /* sequence number of the next record */
};

struct chan {
	int dead;
	struct chan_dir tx, rx;
};

static void dir_wipe(struct chan_dir *d)
{
	/* Freeing the contexts wipes the key schedules and HMAC pads. */
	EVP_CIPHER_CTX_free(d->cipher);
	EVP_MAC_CTX_free(d->mac);
	d->cipher = NULL;
	d->mac = NULL;
	OPENSSL_cleanse(d->cwk, sizeof(d->cwk));
}

/* The channel is closed for good: wipe every key, keep only the counters. */
static void chan_kill(chan_t *c)
{
	c->dead = 1;
	dir_wipe(&c->tx);
	dir_wipe(&c->rx);
}

static int dir_init(struct chan_dir *d, const kas_dir_keys_t *k, int enc,
		    const EVP_CIPHER *aes, EVP_MAC *hmac)
{
	char digest[] = "SHA512";
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
		OSSL_PARAM_construct_end(),
	};
	int r = PED_E_CRYPTO;

	if ((d->cipher = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_CipherInit_ex2(d->cipher, aes, k->dek, NULL, enc, NULL) != 1)
		goto out;
	if ((d->mac = EVP_MAC_CTX_new(hmac)) == NULL ||
	    EVP_MAC_init(d->mac, k->dmk, sizeof(k->dmk), params) != 1)
		goto out;
	memcpy(d->cwk, k->cwk, sizeof(d->cwk));
	r = 0;
out:
	return r;
}

int chan_new(const kas_keys_t *keys, chan_t **out)
{
	EVP_CIPHER *aes = NULL;
	EVP_MAC *hmac = NULL;
	chan_t *c = NULL;
	const kas_dir_keys_t *tx, *rx;
	int r = PED_E_INTERNAL;

	if (out != NULL)
		*out = NULL;
	if (keys == NULL || out == NULL || (keys->role != KAS_U && keys->role != KAS_V)) {
		r = PED_E_INVAL;
		goto out;
	}
	tx = keys->role == KAS_U ? &keys->uv : &keys->vu;
	rx = keys->role == KAS_U ? &keys->vu : &keys->uv;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		r = PED_E_NOMEM;
		goto out;
	}
	if ((aes = EVP_CIPHER_fetch(NULL, "AES-256-CTR", NULL)) == NULL ||
	    (hmac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL ||
	    dir_init(&c->tx, tx, 1, aes, hmac) != 0 || dir_init(&c->rx, rx, 0, aes, hmac) != 0) {
		log_openssl("chan: cannot set up the record ciphers");
		r = PED_E_CRYPTO;
		goto out;
	}
	*out = c;
	c = NULL;
	r = 0;
out:
	chan_free(c);
	EVP_CIPHER_free(aes);
	EVP_MAC_free(hmac);
	return r;
}

void chan_free(chan_t *c)
{
	if (c == NULL)
		return;
	chan_kill(c);
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
}

/* HMAC-SHA-512(DMK, u64be(seq) || data), data = header || body. */
static int dir_mac(struct chan_dir *d, const uint8_t *data, size_t len,
		   uint8_t tag[static CHAN_TAG_LEN])
{
	uint8_t seq[8];
	size_t tl = 0;

	pbuf_be64(seq, d->seq);
	/* No key: re-initialise with the key the context already holds. */
	if (EVP_MAC_init(d->mac, NULL, 0, NULL) != 1 || EVP_MAC_update(d->mac, seq, 8) != 1 ||
	    EVP_MAC_update(d->mac, data, len) != 1 ||
	    EVP_MAC_final(d->mac, tag, &tl, CHAN_TAG_LEN) != 1 || tl != CHAN_TAG_LEN)
		return PED_E_CRYPTO;
	return 0;
}

/* AES-256-CTR from the counter block u64be(seq) || u64be(0); len <= 16 KiB. */
static int dir_ctr(struct chan_dir *d, int enc, const uint8_t *in, size_t len, uint8_t *out)
{
	uint8_t iv[CHAN_IV_LEN] = {0};
	int n = 0;

	pbuf_be64(iv, d->seq);
	if (EVP_CipherInit_ex2(d->cipher, NULL, NULL, iv, enc, NULL) != 1 ||
	    EVP_CipherUpdate(d->cipher, out, &n, in, (int)len) != 1 || (size_t)n != len)
		return PED_E_CRYPTO;
	return 0;
}

int chan_seal(chan_t *c, const uint8_t *pt, size_t len, uint8_t *out, size_t outcap,
	      size_t *outlen)
{
	int r = PED_E_INTERNAL;

	if (outlen != NULL)
		*outlen = 0;
	if (c == NULL || pt == NULL || out == NULL || outlen == NULL) {
		r = PED_E_INVAL;
		goto out;
	}
	if (c->dead) {
		r = PED_E_CHAN_DEAD;
		goto out;
	}
	if (c->tx.seq >= CHAN_SEQ_LIMIT) {
		r = PED_E_SEQ_EXHAUSTED;
		goto out;
	}
	if (len == 0) {
		r = PED_E_INVAL;
		goto out;
	}
	if (len > CHAN_MAX_PLAINTEXT) {
		r = PED_E_TOO_LONG;
		goto out;
	}
	if (outcap < len + CHAN_OVERHEAD) {
		r = PED_E_NOSPACE;
		goto out;
	}
	out[0] = CHAN_REC_VERSION;
	pbuf_be32(out + 1, (uint32_t)len);
	if (dir_ctr(&c->tx, 1, pt, len, out + CHAN_HDR_LEN) != 0 ||
	    dir_mac(&c->tx, out, CHAN_HDR_LEN + len, out + CHAN_HDR_LEN + len) != 0) {
		/* A half-done record must never be sent nor its counter reused. */
		log_openssl("chan: sealing a record failed");
		OPENSSL_cleanse(out, len + CHAN_OVERHEAD);
		chan_kill(c);
		r = PED_E_CRYPTO;
		goto out;
	}
	c->tx.seq++;
	*outlen = len + CHAN_OVERHEAD;
	r = 0;
out:
	return r;
}

int chan_record_len(const uint8_t *hdr, size_t avail, size_t *reclen)
{
	uint32_t len;

	if (reclen == NULL)
		return PED_E_INVAL;
	*reclen = 0;
	if (avail < CHAN_HDR_LEN)
		return PED_E_INCOMPLETE;
	if (hdr == NULL)
		return PED_E_INVAL;
	len = pbuf_rd32(hdr + 1);
	/* The protocol version is agreed in the hello: another record version
	 * is a malformed record, not a version to negotiate. */
	if (hdr[0] != CHAN_REC_VERSION || len == 0)
		return PED_E_BAD_RECORD;
	if (len > CHAN_MAX_PLAINTEXT)
		return PED_E_TOO_LONG;
	*reclen = (size_t)len + CHAN_OVERHEAD;
	return 0;
}

int chan_open(chan_t *c, const uint8_t *rec, size_t reclen, uint8_t *pt, size_t ptcap,
	      size_t *ptlen)
{
	uint8_t tag[CHAN_TAG_LEN];
	size_t want = 0, len = 0;
	int decrypting = 0, r = PED_E_INTERNAL;

	if (ptlen != NULL)
		*ptlen = 0;
	if (c == NULL)
		return PED_E_INVAL;
	if (c->dead)
		return PED_E_CHAN_DEAD;
	if (rec == NULL || pt == NULL || ptlen == NULL) {
		r = PED_E_INVAL;
		goto out;
	}
	if ((r = chan_record_len(rec, reclen, &want)) != 0)
		goto out;
	if (reclen != want) {
		r = reclen < want ? PED_E_INCOMPLETE : PED_E_TRAILING;
		goto out;
	}
	len = want - CHAN_OVERHEAD;
	if (ptcap < len) {
		r = PED_E_NOSPACE;
		goto out;
	}
	if (c->rx.seq >= CHAN_SEQ_LIMIT) {
		r = PED_E_SEQ_EXHAUSTED;
		goto out;
	}
	if ((r = dir_mac(&c->rx, rec, CHAN_HDR_LEN + len, tag)) != 0) {
		log_openssl("chan: record MAC failed");
		goto out;
	}
	if (CRYPTO_memcmp(tag, rec + CHAN_HDR_LEN + len, CHAN_TAG_LEN) != 0) {
		r = PED_E_BAD_TAG;
		goto out;
	}
	decrypting = 1;
	if ((r = dir_ctr(&c->rx, 0, rec + CHAN_HDR_LEN, len, pt)) != 0) {
		log_openssl("chan: record decryption failed");
		goto out;
	}
	c->rx.seq++;
	*ptlen = len;
	r = 0;
out:
	OPENSSL_cleanse(tag, sizeof(tag));
	if (r != 0) {
		if (decrypting)
			OPENSSL_cleanse(pt, len);
		chan_kill(c);
	}
	return r;
}

int chan_wrap(chan_t *c, const uint8_t *csp, size_t len, uint8_t *out, size_t outcap,
	      size_t *outlen)
{
	if (outlen != NULL)
		*outlen = 0;
	if (c == NULL)
		return PED_E_INVAL;
	if (c->dead)
		return PED_E_CHAN_DEAD;
	if (len > CHAN_CSP_MAX)
		return PED_E_TOO_LONG;
	return kwp_wrap(c->tx.cwk, csp, len, out, outcap, outlen);
}

int chan_unwrap(chan_t *c, const uint8_t *in, size_t len, uint8_t *out, size_t outcap,
		size_t *outlen)
{
	int r;

	if (outlen != NULL)
		*outlen = 0;
	if (c == NULL)
		return PED_E_INVAL;
	if (c->dead)
		return PED_E_CHAN_DEAD;
	if (len > CHAN_WRAP_LEN(CHAN_CSP_MAX))
		r = PED_E_TOO_LONG;
	else
		r = kwp_unwrap(c->rx.cwk, in, len, out, outcap, outlen);
	if (r != 0)
		chan_kill(c);
	return r;
}

int chan_is_dead(const chan_t *c)
{
	return c == NULL || c->dead;
}

uint64_t chan_sent(const chan_t *c)
{
	return c == NULL ? 0 : c->tx.seq;
}

uint64_t chan_received(const chan_t *c)
{
	return c == NULL ? 0 : c->rx.seq;
}

int chan_test_set_seq(chan_t *c, uint64_t sent, uint64_t received)
{
	if (c == NULL || c->dead)
		return PED_E_INVAL;
	c->tx.seq = sent;
	c->rx.seq = received;
	return 0;
}
