/* kas.c - the channel's key agreement and key schedule (see kas.h for the
 * schemes, the FixedInfo layout, the DKM split and the MacData strings). */
#include "kas.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "crypto/kdf.h"

#define KAS_L_BITS ((uint32_t)KAS_DKM_LEN * 8)
#define KAS_ALG_MAX 128 /* the longest AlgorithmID is KAS_ALG_RESUME, 78 */
/* lv(AlgorithmID) lv(ID_U) lv(EphemData_U) lv(ID_V) lv(EphemData_V) L
 * lv(SuppPubInfo) lv(SuppPrivInfo) */
#define KAS_FIXED_MAX                                                          \
	(4 + KAS_ALG_MAX + 2 * (4 + KAS_ID_MAX) + 2 * (4 + ECP_PUB_LEN) + 4 + 4 + \
	 KAS_CONTEXT_MAX + 4 + KAS_SECRET_MAX)
#define KAS_LABEL_LEN 6 /* "KC_2_U", "KC_2_V", "KC_1_V" */
#define KAS_MACDATA_MAX (KAS_LABEL_LEN + 4 * ECP_PUB_LEN)

_Static_assert(KAS_DKM_LEN == 320, "DKM layout of kas.h");
_Static_assert(KAS_NONCE_LEN <= ECP_PUB_LEN, "MacData bound");

/* The public values of one exchange, from U's and V's point of view;
 * a length of 0 means "empty" (the party has no such key). */
struct kas_pubs {
	uint8_t id_u[ECP_PUB_LEN], id_v[ECP_PUB_LEN];
	uint8_t e_u[ECP_PUB_LEN], e_v[ECP_PUB_LEN];
	size_t id_u_len, id_v_len, e_u_len, e_v_len;
};

static CRYPTO_ONCE kas_mac_once = CRYPTO_ONCE_STATIC_INIT;
static EVP_MAC *kas_hmac;

/* Runs inside OPENSSL_cleanup(), before the providers are unloaded. */
static void kas_mac_release(void)
{
	EVP_MAC_free(kas_hmac);
	kas_hmac = NULL;
}

static void kas_mac_fetch(void)
{
	kas_hmac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
	if (kas_hmac != NULL)
		OPENSSL_atexit(kas_mac_release);
}

/* HMAC-SHA-512(key, data) into tag. */
static int hmac_sha512(const uint8_t *key, size_t keylen, const uint8_t *data, size_t len,
		       uint8_t tag[KAS_TAG_LEN])
{
	int r = PED_E_CRYPTO;
	EVP_MAC_CTX *ctx = NULL;
	OSSL_PARAM params[2];
	size_t n = 0;

	if (!CRYPTO_THREAD_run_once(&kas_mac_once, kas_mac_fetch) || kas_hmac == NULL) {
		log_openssl("kas: cannot fetch HMAC");
		goto out;
	}
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA512", 0);
	params[1] = OSSL_PARAM_construct_end();
	if ((ctx = EVP_MAC_CTX_new(kas_hmac)) == NULL ||
	    EVP_MAC_init(ctx, key, keylen, params) != 1 ||
	    EVP_MAC_update(ctx, data, len) != 1 ||
	    EVP_MAC_final(ctx, tag, &n, KAS_TAG_LEN) != 1 || n != KAS_TAG_LEN) {
		log_openssl("kas: HMAC-SHA-512 failed");
		goto out;
	}
	r = 0;
out:
	EVP_MAC_CTX_free(ctx); /* clears its copy of the key */
	return r;
}

static int check_params(const struct kas_params *p)
{
	int ok;

	if (p == NULL || (p->role != KAS_U && p->role != KAS_V))
		return PED_E_INVAL;
	if ((p->secret == NULL && p->secret_len > 0) || p->secret_len > KAS_SECRET_MAX ||
	    (p->context == NULL && p->context_len > 0) || p->context_len > KAS_CONTEXT_MAX)
		return PED_E_INVAL;
	switch (p->scheme) {
	case KAS_FULL_UNIFIED:
		ok = p->own_static != NULL && p->own_ephem != NULL && p->peer_static != NULL &&
		     p->peer_ephem != NULL && p->nonce_v == NULL;
		break;
	case KAS_ONE_PASS:
		if (p->role == KAS_U)
			ok = p->own_ephem != NULL && p->peer_static != NULL &&
			     p->own_static == NULL && p->peer_ephem == NULL;
		else
			ok = p->own_static != NULL && p->peer_ephem != NULL &&
			     p->own_ephem == NULL && p->peer_static == NULL;
		ok = ok && p->nonce_v != NULL && p->zs == NULL;
		break;
	default:
		ok = 0;
		break;
	}
	return ok ? 0 : PED_E_INVAL;
}

static int export_opt(const ecp_key_t *k, uint8_t buf[ECP_PUB_LEN], size_t *len)
{
	*len = 0;
	if (k == NULL)
		return 0;
	*len = ECP_PUB_LEN;
	return ecp_export_public(k, buf);
}

/* ID_U, ID_V, EphemData_U, EphemData_V for the scheme and our role. */
static int collect_pubs(const struct kas_params *p, struct kas_pubs *pp)
{
	const ecp_key_t *su, *sv, *eu, *ev;
	int r;

	if (p->role == KAS_U) {
		su = p->own_static;
		eu = p->own_ephem;
		sv = p->peer_static;
		ev = p->peer_ephem;
	} else {
		su = p->peer_static;
		eu = p->peer_ephem;
		sv = p->own_static;
		ev = p->own_ephem;
	}
	if ((r = export_opt(su, pp->id_u, &pp->id_u_len)) != 0 ||
	    (r = export_opt(sv, pp->id_v, &pp->id_v_len)) != 0 ||
	    (r = export_opt(eu, pp->e_u, &pp->e_u_len)) != 0 ||
	    (r = export_opt(ev, pp->e_v, &pp->e_v_len)) != 0)
		return r;
	return 0;
}

/* Z = Ze || Zs (Full Unified) or the single CDH value (One-Pass). */
static int compute_z(const struct kas_params *p, uint8_t z[2 * ECP_Z_LEN], size_t *zlen)
{
	int r;

	*zlen = 0;
	if (p->scheme == KAS_FULL_UNIFIED) {
		if ((r = ecp_cdh(p->own_ephem, p->peer_ephem, z)) != 0)
			return r;
		if (p->zs != NULL)
			memcpy(z + ECP_Z_LEN, p->zs, ECP_Z_LEN);
		else if ((r = ecp_cdh(p->own_static, p->peer_static, z + ECP_Z_LEN)) != 0)
			return r;
		*zlen = 2 * ECP_Z_LEN;
		return 0;
	}
	if (p->role == KAS_U)
		r = ecp_cdh(p->own_ephem, p->peer_static, z);
	else
		r = ecp_cdh(p->own_static, p->peer_ephem, z);
	if (r == 0)
		*zlen = ECP_Z_LEN;
	return r;
}

static int put_lv(pbuf_t *b, const void *data, size_t len)
{
	int r;

	if (len > UINT32_MAX)
		return PED_E_TOO_LONG;
	if ((r = pbuf_put_u32(b, (uint32_t)len)) != 0)
		return r;
	return pbuf_put_bytes(b, data, len);
}

static int build_fixed_info(const struct kas_fixed *f, pbuf_t *fi)
{
	int r;

	if (f->alg == NULL || strlen(f->alg) >= KAS_ALG_MAX || f->id_u_len > KAS_ID_MAX ||
	    f->id_v_len > KAS_ID_MAX || f->e_u_len > ECP_PUB_LEN || f->e_v_len > ECP_PUB_LEN ||
	    f->context_len > KAS_CONTEXT_MAX || f->secret_len > KAS_SECRET_MAX)
		return PED_E_INVAL;
	if ((r = put_lv(fi, f->alg, strlen(f->alg))) != 0 ||
	    (r = put_lv(fi, f->id_u, f->id_u_len)) != 0 ||
	    (r = put_lv(fi, f->e_u, f->e_u_len)) != 0 ||
	    (r = put_lv(fi, f->id_v, f->id_v_len)) != 0 ||
	    (r = put_lv(fi, f->e_v, f->e_v_len)) != 0 ||
	    (r = pbuf_put_u32(fi, KAS_L_BITS)) != 0 ||
	    (r = put_lv(fi, f->context, f->context_len)) != 0 ||
	    (r = put_lv(fi, f->secret, f->secret_len)) != 0)
		return r == PED_E_NOSPACE ? PED_E_INTERNAL : r;
	return 0;
}

/* DKM = KDF(Z, FixedInfo, 2560 bits); FixedInfo wiped (it may hold a secret). */
static int make_dkm(const uint8_t *z, size_t zlen, const struct kas_fixed *f,
		    uint8_t dkm[KAS_DKM_LEN])
{
	uint8_t fixed[KAS_FIXED_MAX];
	pbuf_t fi;
	int r;

	pbuf_over(&fi, fixed, sizeof(fixed));
	if ((r = build_fixed_info(f, &fi)) == 0)
		r = kdf_onestep_sha512(z, zlen, fi.data, fi.len, dkm, KAS_DKM_LEN);
	OPENSSL_cleanse(fixed, sizeof(fixed));
	return r;
}

/* MacTag = HMAC-SHA-512(MacKey, label || a || b || c || d), §5.9.1. */
static int mac_tag(const uint8_t mac_key[KAS_MACKEY_LEN], const char *label,
		   const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
		   const uint8_t *c, size_t clen, const uint8_t *d, size_t dlen,
		   uint8_t tag[KAS_TAG_LEN])
{
	uint8_t mem[KAS_MACDATA_MAX];
	pbuf_t md;

	pbuf_over(&md, mem, sizeof(mem));
	if (pbuf_put_bytes(&md, label, KAS_LABEL_LEN) != 0 || pbuf_put_bytes(&md, a, alen) != 0 ||
	    pbuf_put_bytes(&md, b, blen) != 0 || pbuf_put_bytes(&md, c, clen) != 0 ||
	    pbuf_put_bytes(&md, d, dlen) != 0)
		return PED_E_INTERNAL;
	return hmac_sha512(mac_key, KAS_MACKEY_LEN, md.data, md.len, tag);
}

static void split_dir(const uint8_t *src, kas_dir_keys_t *d)
{
	memcpy(d->dek, src, KAS_DEK_LEN);
	memcpy(d->dmk, src + KAS_DEK_LEN, KAS_DMK_LEN);
	memcpy(d->cwk, src + KAS_DEK_LEN + KAS_DMK_LEN, KAS_CWK_LEN);
}

static void split_dkm(const uint8_t dkm[KAS_DKM_LEN], kas_keys_t *out)
{
	const size_t dir_len = KAS_DEK_LEN + KAS_DMK_LEN + KAS_CWK_LEN;

	split_dir(dkm + KAS_MACKEY_LEN, &out->uv);
	split_dir(dkm + KAS_MACKEY_LEN + dir_len, &out->vu);
}

/* KAS_RESUME: MacTag_U, MacTag_V and the next resumption secret from
 * MacKey over "label" || ID_self || ID_peer || E_self || E_peer, as Full
 * Unified does (PROTOCOL.md §6.3). */
static int resume_tags(const uint8_t mac_key[KAS_MACKEY_LEN], const struct kas_fixed *f,
		       enum kas_role role, kas_keys_t *out)
{
	uint8_t tag_u[KAS_TAG_LEN], tag_v[KAS_TAG_LEN];
	int r;

	if ((r = mac_tag(mac_key, "KC_R_U", f->id_u, f->id_u_len, f->id_v, f->id_v_len, f->e_u,
			 f->e_u_len, f->e_v, f->e_v_len, tag_u)) == 0 &&
	    (r = mac_tag(mac_key, "KC_R_V", f->id_v, f->id_v_len, f->id_u, f->id_u_len, f->e_v,
			 f->e_v_len, f->e_u, f->e_u_len, tag_v)) == 0 &&
	    (r = mac_tag(mac_key, "RSEC_R", f->id_u, f->id_u_len, f->id_v, f->id_v_len, f->e_u,
			 f->e_u_len, f->e_v, f->e_v_len, out->rs)) == 0) {
		memcpy(out->own_tag, role == KAS_U ? tag_u : tag_v, KAS_TAG_LEN);
		memcpy(out->peer_tag, role == KAS_U ? tag_v : tag_u, KAS_TAG_LEN);
		out->has_own_tag = out->has_peer_tag = out->has_rs = 1;
	}
	OPENSSL_cleanse(tag_u, sizeof(tag_u));
	OPENSSL_cleanse(tag_v, sizeof(tag_v));
	return r;
}

int kas_schedule(const uint8_t *z, size_t zlen, const struct kas_fixed *f,
		 enum kas_scheme scheme, enum kas_role role, kas_keys_t *out)
{
	uint8_t dkm[KAS_DKM_LEN];
	int r;

	if (out == NULL)
		return PED_E_INVAL;
	kas_keys_wipe(out);
	if (z == NULL || zlen == 0 || f == NULL || (role != KAS_U && role != KAS_V))
		return PED_E_INVAL;
	if ((r = make_dkm(z, zlen, f, dkm)) == 0) {
		out->scheme = scheme;
		out->role = role;
		split_dkm(dkm, out);
		if (scheme == KAS_RESUME)
			r = resume_tags(dkm, f, role, out);
	}
	OPENSSL_cleanse(dkm, sizeof(dkm)); /* MacKey (unused but by KAS_RESUME) */
	if (r != 0)
		kas_keys_wipe(out);
	return r;
}

int kas_derive(const struct kas_params *p, kas_keys_t *out)
{
	int r = PED_E_INVAL;
	uint8_t z[2 * ECP_Z_LEN];
	size_t zlen = 0;
	struct kas_fixed f;
	uint8_t dkm[KAS_DKM_LEN];
	const uint8_t *mac_key = dkm;
	struct kas_pubs pp;
	uint8_t tag_u[KAS_TAG_LEN], tag_v[KAS_TAG_LEN];

	memset(z, 0, sizeof(z));
	memset(dkm, 0, sizeof(dkm));
	memset(&pp, 0, sizeof(pp));
	memset(tag_u, 0, sizeof(tag_u));
	memset(tag_v, 0, sizeof(tag_v));
	if (out == NULL)
		goto out;
	kas_keys_wipe(out);
	if ((r = check_params(p)) != 0)
		goto out;
	if ((r = collect_pubs(p, &pp)) != 0 || (r = compute_z(p, z, &zlen)) != 0)
		goto out;
	f = (struct kas_fixed){
		.alg = p->scheme == KAS_FULL_UNIFIED ? KAS_ALG_FULL_UNIFIED : KAS_ALG_ONE_PASS,
		.id_u = pp.id_u, .id_u_len = pp.id_u_len, .e_u = pp.e_u, .e_u_len = pp.e_u_len,
		.id_v = pp.id_v, .id_v_len = pp.id_v_len, .e_v = pp.e_v, .e_v_len = pp.e_v_len,
		.context = p->context, .context_len = p->context_len,
		.secret = p->secret, .secret_len = p->secret_len,
	};
	if ((r = make_dkm(z, zlen, &f, dkm)) != 0)
		goto out;
	out->scheme = p->scheme;
	out->role = p->role;
	split_dkm(dkm, out);

	if (p->scheme == KAS_FULL_UNIFIED) {
		/* MacData_U = "KC_2_U" || ID_U || ID_V || EphemData_U || EphemData_V
		 * MacData_V = "KC_2_V" || ID_V || ID_U || EphemData_V || EphemData_U */
		if ((r = mac_tag(mac_key, "KC_2_U", pp.id_u, pp.id_u_len, pp.id_v, pp.id_v_len,
				 pp.e_u, pp.e_u_len, pp.e_v, pp.e_v_len, tag_u)) != 0 ||
		    (r = mac_tag(mac_key, "KC_2_V", pp.id_v, pp.id_v_len, pp.id_u, pp.id_u_len,
				 pp.e_v, pp.e_v_len, pp.e_u, pp.e_u_len, tag_v)) != 0)
			goto out;
		memcpy(out->own_tag, p->role == KAS_U ? tag_u : tag_v, KAS_TAG_LEN);
		memcpy(out->peer_tag, p->role == KAS_U ? tag_v : tag_u, KAS_TAG_LEN);
		out->has_own_tag = out->has_peer_tag = 1;
		/* the first resumption secret (PROTOCOL.md §6.2), same MacData
		 * fields, so it is bound to both identities and the RPV */
		if ((r = mac_tag(mac_key, "RSEC_2", pp.id_u, pp.id_u_len, pp.id_v, pp.id_v_len,
				 pp.e_u, pp.e_u_len, pp.e_v, pp.e_v_len, out->rs)) != 0)
			goto out;
		out->has_rs = 1;
	} else {
		/* MacData_V = "KC_1_V" || ID_V || ID_U || Nonce_V || EphemData_U,
		 * ID_U empty: unilateral confirmation from V to U. */
		if ((r = mac_tag(mac_key, "KC_1_V", pp.id_v, pp.id_v_len, pp.id_u, pp.id_u_len,
				 p->nonce_v, KAS_NONCE_LEN, pp.e_u, pp.e_u_len, tag_v)) != 0)
			goto out;
		if (p->role == KAS_V) {
			memcpy(out->own_tag, tag_v, KAS_TAG_LEN);
			out->has_own_tag = 1;
		} else {
			memcpy(out->peer_tag, tag_v, KAS_TAG_LEN);
			out->has_peer_tag = 1;
		}
	}
	r = 0;
out:
	OPENSSL_cleanse(z, sizeof(z));
	OPENSSL_cleanse(dkm, sizeof(dkm)); /* and with it MacKey */
	OPENSSL_cleanse(tag_u, sizeof(tag_u));
	OPENSSL_cleanse(tag_v, sizeof(tag_v));
	if (r != 0 && out != NULL)
		kas_keys_wipe(out);
	return r;
}

int kas_check_tag(const kas_keys_t *k, const uint8_t tag[static KAS_TAG_LEN])
{
	if (k == NULL || tag == NULL || !k->has_peer_tag)
		return PED_E_INVAL;
	return CRYPTO_memcmp(k->peer_tag, tag, KAS_TAG_LEN) == 0 ? 0 : PED_E_KC_FAILED;
}

void kas_keys_wipe(kas_keys_t *k)
{
	if (k != NULL)
		OPENSSL_cleanse(k, sizeof(*k));
}
