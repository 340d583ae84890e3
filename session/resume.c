/* resume.c - the resumption secret's name and the resume key schedule
 * (see resume.h; docs/PROTOCOL.md Part 6). */
#include "resume.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/err.h"

int resume_state(const uint8_t rs[static SESS_RS_LEN], const uint8_t qs_u[static ECP_PUB_LEN],
		 const uint8_t qh_v[static ECP_PUB_LEN], struct sess_resume *out)
{
	uint8_t mac[64];
	size_t n = 0;
	int r = PED_E_CRYPTO;

	if (out == NULL)
		return PED_E_INVAL;
	resume_wipe(out);
	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA512", NULL, rs, SESS_RS_LEN,
		      (const uint8_t *)SESS_RID_LABEL, strlen(SESS_RID_LABEL), mac, sizeof(mac),
		      &n) == NULL || n != sizeof(mac))
		goto out;
	memcpy(out->rs, rs, SESS_RS_LEN);
	memcpy(out->rid, mac, SESS_RID_LEN);
	memcpy(out->qs_u, qs_u, ECP_PUB_LEN);
	memcpy(out->qh_v, qh_v, ECP_PUB_LEN);
	r = 0;
out:
	OPENSSL_cleanse(mac, sizeof(mac));
	return r;
}

int resume_derive(enum kas_role role, const struct sess_resume *st, const ecp_key_t *own_e,
		  const uint8_t qe_u[static ECP_PUB_LEN], const uint8_t qe_v[static ECP_PUB_LEN],
		  const uint8_t t[static 64], kas_keys_t *out)
{
	uint8_t z[ECP_Z_LEN];
	ecp_key_t *peer = NULL;
	struct kas_fixed f;
	int r = PED_E_INVAL;

	memset(z, 0, sizeof(z));
	if (out == NULL)
		return PED_E_INVAL;
	kas_keys_wipe(out);
	if (st == NULL || own_e == NULL || (role != KAS_U && role != KAS_V))
		goto out;
	if ((r = ecp_import_public(role == KAS_U ? qe_v : qe_u, ECP_PUB_LEN, &peer)) != 0) {
		r = PED_E_BAD_KEY;
		goto out;
	}
	if ((r = ecp_cdh(own_e, peer, z)) != 0)
		goto out;
	f = (struct kas_fixed){
		.alg = KAS_ALG_RESUME,
		.id_u = st->qs_u, .id_u_len = ECP_PUB_LEN, .e_u = qe_u, .e_u_len = ECP_PUB_LEN,
		.id_v = st->qh_v, .id_v_len = ECP_PUB_LEN, .e_v = qe_v, .e_v_len = ECP_PUB_LEN,
		.context = t, .context_len = 64, .secret = st->rs, .secret_len = SESS_RS_LEN,
	};
	r = kas_schedule(z, sizeof(z), &f, KAS_RESUME, role, out);
out:
	OPENSSL_cleanse(z, sizeof(z));
	ecp_free(peer);
	return r;
}

void resume_wipe(struct sess_resume *st)
{
	if (st != NULL)
		OPENSSL_cleanse(st, sizeof(*st));
}

unsigned resume_backoff_ms(unsigned attempt, uint32_t rnd)
{
	unsigned d = RESUME_BACKOFF_MIN_MS;

	while (attempt-- > 0 && d < RESUME_BACKOFF_MAX_MS)
		d *= 2;
	if (d > RESUME_BACKOFF_MAX_MS)
		d = RESUME_BACKOFF_MAX_MS;
	return d / 2 + rnd % (d / 2 + 1);
}
