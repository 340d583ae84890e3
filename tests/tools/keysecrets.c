/* keysecrets - tests only: decodes a software-HSM state file and PED-key files
 * (with their known PINs) into the raw secrets they protect, so that the
 * hygiene scenario can look for those bytes everywhere else.
 *
 *   PED_TEST_SECRETS=1 keysecrets -state FILE [KEYFILE[=PIN]]...
 *
 * It refuses to run without PED_TEST_SECRETS=1 in the environment (no daemon
 * reads it). Output, one hex value per line:
 *   static HEX          the HSM's static private scalar
 *   rpv HEX             the committed RPV
 *   share NAME HEX      a key's y bytes, unmasked with its PIN
 *   secret KEYSET HEX   the secret recombined from the first M keys of a keyset
 *   dped HEX            an orange secret's P-521 scalar (RPV || d_PED)
 *   verified ROLE       a recombined secret matches that role's verifier
 *                       (or, for "rpv", the state's RPV): the decoding is right
 * Exit 0, or 1 on any error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/hex.h"
#include "pedclient/softhsm_int.h"
#include "usbped/pedkey.h"

#define MAX_KEYS 64
#define VERIFIER_TAG "RemotePED softhsm role verifier v1" /* pedclient/softhsm.c */

static void put_hex(const char *what, const char *name, const uint8_t *b, size_t n)
{
	char h[2 * SHAMIR_MAX_SECRET + 1];

	hex_encode(b, n, h);
	printf("%s%s%s %s\n", what, name ? " " : "", name ? name : "", h);
	OPENSSL_cleanse(h, sizeof(h));
}

static int verifies(const struct softhsm_state *st, unsigned role, const uint8_t *secret)
{
	const struct softhsm_role *rr = &st->roles[role];
	uint8_t msg[sizeof(VERIFIER_TAG) - 1 + 1 + 8 + SOFTHSM_SALT_LEN], v[64];
	size_t off = sizeof(VERIFIER_TAG) - 1, n = 0;
	int ok;

	memcpy(msg, VERIFIER_TAG, off);
	msg[off++] = (uint8_t)role;
	pbuf_be64(msg + off, st->serial);
	memcpy(msg + off + 8, rr->salt, SOFTHSM_SALT_LEN);
	ok = EVP_Q_mac(NULL, "HMAC", NULL, "SHA512", NULL, secret, HSM_ROLE_SECRET_LEN, msg,
		       sizeof(msg), v, sizeof(v), &n) != NULL &&
	     n == sizeof(v) && CRYPTO_memcmp(v, rr->verifier, sizeof(v)) == 0;
	OPENSSL_cleanse(v, sizeof(v));
	return ok;
}

int main(int argc, char **argv)
{
	static pedkey_t k[MAX_KEYS];
	static shamir_share_t sh[MAX_KEYS], set[SHAMIR_MAX_N];
	static struct softhsm_state st;
	uint8_t file[SOFTHSM_FILE_MAX], secret[SHAMIR_MAX_SECRET];
	const char *e = getenv("PED_TEST_SECRETS");
	int nk = 0, i, j, r, rc = 1;
	unsigned role, have;
	size_t len;
	FILE *f;

	if (e == NULL || strcmp(e, "1") != 0 || argc < 3 || strcmp(argv[1], "-state") != 0) {
		fprintf(stderr, "usage: PED_TEST_SECRETS=1 keysecrets -state FILE "
				"[KEYFILE[=PIN]]...\n");
		return 2;
	}
	if ((f = fopen(argv[2], "rb")) == NULL)
		goto out;
	len = fread(file, 1, sizeof(file), f);
	fclose(f);
	if ((r = softhsm_state_parse(file, len, &st, NULL)) != 0) {
		fprintf(stderr, "keysecrets: %s: %s\n", argv[2], ped_strerror(r));
		goto out;
	}
	put_hex("static", NULL, st.static_priv, sizeof(st.static_priv));
	if (st.flags & SOFTHSM_F_RPV)
		put_hex("rpv", NULL, st.rpv, sizeof(st.rpv));
	for (i = 3; i < argc && nk < MAX_KEYS; i++, nk++) {
		char *pin = strchr(argv[i], '=');

		if (pin != NULL)
			*pin++ = '\0';
		if ((r = pedkey_load(argv[i], &k[nk])) != 0 ||
		    (r = pedkey_get_share(&k[nk], pin, &sh[nk])) != 0) {
			fprintf(stderr, "keysecrets: %s: %s\n", argv[i], ped_strerror(r));
			goto out;
		}
		put_hex("share", argv[i], sh[nk].y, sh[nk].len);
	}
	if (i < argc) {
		fprintf(stderr, "keysecrets: more than %d keys\n", MAX_KEYS);
		goto out;
	}
	/* each keyset once: the first M keys of it recombine its secret */
	for (i = 0; i < nk; i++) {
		char id[2 * LINK_KEYSET_ID_LEN + 1];

		for (j = 0; j < i; j++)
			if (memcmp(k[j].keyset, k[i].keyset, LINK_KEYSET_ID_LEN) == 0)
				break;
		if (j < i)
			continue;
		for (have = 0, j = i; j < nk && have < k[i].m; j++)
			if (memcmp(k[j].keyset, k[i].keyset, LINK_KEYSET_ID_LEN) == 0)
				set[have++] = sh[j];
		if (have < k[i].m || shamir_combine(set, have, secret, sizeof(secret)) != 0)
			continue;
		hex_encode(k[i].keyset, LINK_KEYSET_ID_LEN, id);
		len = set[0].len;
		put_hex("secret", id, secret, len);
		if (len == HSM_RPK_SECRET_LEN) {
			put_hex("dped", NULL, secret + HSM_RPV_LEN, ECP_PRIV_LEN);
			if ((st.flags & SOFTHSM_F_RPV) &&
			    CRYPTO_memcmp(secret, st.rpv, HSM_RPV_LEN) == 0)
				printf("verified rpv\n");
		} else if (len == HSM_ROLE_SECRET_LEN) {
			for (role = 0; role < HSM_ROLE_COUNT; role++)
				if (st.roles[role].initialized &&
				    memcmp(st.roles[role].keyset_id, k[i].keyset,
					   HSM_KEYSET_ID_LEN) == 0 &&
				    verifies(&st, role, secret))
					printf("verified %s\n", hsm_role_name(role));
		}
	}
	rc = 0;
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(file, sizeof(file));
	OPENSSL_cleanse(&st, sizeof(st));
	OPENSSL_cleanse(sh, sizeof(sh));
	OPENSSL_cleanse(set, sizeof(set));
	for (j = 0; j < nk; j++)
		pedkey_wipe(&k[j]);
	return rc;
}
