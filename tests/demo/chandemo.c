/* chandemo.c - the in-process channel demo behind `make demo` (until the
 * daemons exist): an HSM-side endpoint (party U) and a PED-side endpoint
 * (party V) agree keys with Full Unified C(2e,2s) on P-521 and the RPV,
 * confirm them both ways, and exchange one record in each direction. Then
 * the same handshake with a wrong RPV, which key confirmation must refuse.
 * Prints what was negotiated; never prints a key, the RPV or a secret. */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/err.h"
#include "common/hex.h"
#include "crypto/chan.h"
#include "crypto/ecp.h"
#include "crypto/kas.h"

#define RPV_LEN 32

struct party {
	const char *name;
	ecp_key_t *stat, *eph;
	kas_keys_t keys;
	chan_t *chan;
};

static void fingerprint(const ecp_key_t *k, char out[17])
{
	uint8_t pub[ECP_PUB_LEN], md[32];
	ecp_export_public(k, pub);
	EVP_Digest(pub, sizeof(pub), md, NULL, EVP_sha256(), NULL);
	hex_encode(md, 8, out);
}

/* Both parties derive from each other's public keys; returns 0 when each
 * accepts the other's confirmation tag. */
static int handshake(struct party *u, struct party *v, const uint8_t *rpv_u,
		     const uint8_t *rpv_v, const uint8_t *ctx, size_t ctxlen)
{
	struct kas_params pu = {KAS_FULL_UNIFIED, KAS_U, u->stat, u->eph, v->stat, v->eph,
				NULL, rpv_u, RPV_LEN, ctx, ctxlen, NULL};
	struct kas_params pv = {KAS_FULL_UNIFIED, KAS_V, v->stat, v->eph, u->stat, u->eph,
				NULL, rpv_v, RPV_LEN, ctx, ctxlen, NULL};
	int r;

	if ((r = kas_derive(&pu, &u->keys)) != 0 || (r = kas_derive(&pv, &v->keys)) != 0)
		return r;
	/* Each sends its own tag; each checks the peer's. */
	if ((r = kas_check_tag(&v->keys, u->keys.own_tag)) != 0) {
		printf("  %s: key confirmation from %s FAILED (%s)\n", v->name, u->name,
		       ped_errname(r));
		return r;
	}
	printf("  %s: key confirmation from %s OK\n", v->name, u->name);
	if ((r = kas_check_tag(&u->keys, v->keys.own_tag)) != 0) {
		printf("  %s: key confirmation from %s FAILED (%s)\n", u->name, v->name,
		       ped_errname(r));
		return r;
	}
	printf("  %s: key confirmation from %s OK\n", u->name, v->name);
	return 0;
}

static int send_record(struct party *from, struct party *to, const char *text)
{
	uint8_t rec[CHAN_MAX_RECORD], pt[CHAN_MAX_PLAINTEXT];
	size_t reclen, ptlen, need;
	int r;

	if ((r = chan_seal(from->chan, (const uint8_t *)text, strlen(text), rec, sizeof(rec),
			   &reclen)) != 0)
		return r;
	if ((r = chan_record_len(rec, reclen, &need)) != 0 || need != reclen)
		return r ? r : PED_E_BAD_RECORD;
	if ((r = chan_open(to->chan, rec, reclen, pt, sizeof(pt), &ptlen)) != 0)
		return r;
	printf("  %s -> %s: record #%llu, %zu bytes on the wire, opened: \"%.*s\"\n",
	       from->name, to->name, (unsigned long long)chan_sent(from->chan) - 1, reclen,
	       (int)ptlen, (const char *)pt);
	return 0;
}

int main(void)
{
	struct party u = {.name = "HSM (pedclient)"}, v = {.name = "PED (pedserver)"};
	uint8_t rpv[RPV_LEN], other_rpv[RPV_LEN], ctx[64];
	char fp[17];
	int r = PED_E_INTERNAL, bad;

	printf("Remote PED channel demo (in-process; the daemons come later)\n\n");
	if (RAND_bytes(rpv, sizeof(rpv)) != 1 || RAND_bytes(other_rpv, sizeof(other_rpv)) != 1 ||
	    RAND_bytes(ctx, sizeof(ctx)) != 1)
		goto out;
	if ((r = ecp_generate(&u.stat)) != 0 || (r = ecp_generate(&v.stat)) != 0 ||
	    (r = ecp_generate(&u.eph)) != 0 || (r = ecp_generate(&v.eph)) != 0)
		goto out;
	printf("Scheme:  Full Unified C(2e,2s), ECC CDH on P-521 (SP 800-56A rev3)\n");
	printf("KDF:     one-step SHA-512 (SP 800-56C rev2), RPV in SuppPrivInfo\n");
	printf("Records: AES-256-CTR + HMAC-SHA-512 (encrypt-then-MAC), CSPs in AES-256-KWP\n");
	fingerprint(u.stat, fp);
	printf("HSM static key   SHA-256/64 %s\n", fp);
	fingerprint(v.stat, fp);
	printf("PED static key   SHA-256/64 %s (from the orange key)\n", fp);
	printf("RPV              %d bytes, same on both sides (not shown)\n\n", RPV_LEN);

	printf("1. Handshake with the right RPV\n");
	if ((r = handshake(&u, &v, rpv, rpv, ctx, sizeof(ctx))) != 0)
		goto out;
	if ((r = chan_new(&u.keys, &u.chan)) != 0 || (r = chan_new(&v.keys, &v.chan)) != 0)
		goto out;
	if ((r = send_record(&u, &v, "READ_KEYSET blue")) != 0 ||
	    (r = send_record(&v, &u, "EVENT keys read 01 of 02")) != 0)
		goto out;

	printf("\n2. Handshake with a different RPV on the PED side\n");
	kas_keys_wipe(&u.keys);
	kas_keys_wipe(&v.keys);
	bad = handshake(&u, &v, rpv, other_rpv, ctx, sizeof(ctx));
	if (bad != PED_E_KC_FAILED) {
		printf("  expected key confirmation to fail, got %s\n", ped_errname(bad));
		r = PED_E_INTERNAL;
		goto out;
	}
	printf("  -> RPV_MISMATCH: the channel is refused, as it must be\n");
	r = 0;
	printf("\nDemo complete: channel established, records exchanged, wrong RPV refused.\n");
out:
	if (r != 0)
		fprintf(stderr, "demo failed: %s (%s)\n", ped_errname(r), ped_strerror(r));
	kas_keys_wipe(&u.keys);
	kas_keys_wipe(&v.keys);
	OPENSSL_cleanse(rpv, sizeof(rpv));
	OPENSSL_cleanse(other_rpv, sizeof(other_rpv));
	chan_free(u.chan);
	chan_free(v.chan);
	ecp_free(u.stat);
	ecp_free(u.eph);
	ecp_free(v.stat);
	ecp_free(v.eph);
	return r == 0 ? 0 : 1;
}
