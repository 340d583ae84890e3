/* kas.h - the channel's key-agreement schemes and key schedule.
 *
 * Two schemes of SP 800-56A rev3 on P-521 with ECC CDH:
 *   KAS_FULL_UNIFIED  C(2e,2s) §6.1.1.2, Z = Ze || Zs (132 bytes), bilateral
 *                     key confirmation (§5.9.1, labels "KC_2_U" / "KC_2_V").
 *   KAS_ONE_PASS      C(1e,1s) §6.2.2.2, Z = CDH(de_U, Qs_V) = CDH(ds_V, Qe_U)
 *                     (66 bytes); unilateral key confirmation from V to U
 *                     ("KC_1_V"), V contributing a 32-byte nonce.
 * Party U is the initiator. In Full Unified, U is the HSM side (pedclient),
 * V the PED side (pedserver). In One-Pass (Local PED), U is the PED with an
 * ephemeral key and V the HSM with its static key.
 *
 * One-step KDF (kdf.h) with, lv(x) = u32be(len(x)) || x:
 *   FixedInfo = lv(AlgorithmID) || lv(ID_U) || lv(EphemData_U)
 *            || lv(ID_V) || lv(EphemData_V) || u32be(L)
 *            || lv(SuppPubInfo) || lv(SuppPrivInfo)
 *   AlgorithmID  KAS_ALG_FULL_UNIFIED or KAS_ALG_ONE_PASS (ASCII, no NUL)
 *   ID_X         X's static public key (133 bytes), empty if X has none
 *   EphemData_X  X's ephemeral public key (133 bytes), empty if X has none
 *   L            KAS_DKM_LEN * 8 = 2560 (bits)
 *   SuppPubInfo  the caller's context (protocol transcript hash), may be empty
 *   SuppPrivInfo the shared secret value: the RPV (Full Unified); empty in
 *                the Local PED's One-Pass (docs/PROTOCOL.md §1.4)
 * The DKM (KAS_DKM_LEN bytes) is cut, in order, into
 *   MacKey(64) || DEK_UV(32) || DMK_UV(64) || CWK_UV(32)
 *              || DEK_VU(32) || DMK_VU(64) || CWK_VU(32)
 * MacKey only computes the confirmation tags and is wiped at once:
 *   MacTag_X = HMAC-SHA-512(MacKey, MacData_X), 64 bytes, where
 *   MacData_U = "KC_2_U" || ID_U || ID_V || EphemData_U || EphemData_V
 *   MacData_V = "KC_2_V" || ID_V || ID_U || EphemData_V || EphemData_U
 *   MacData_V = "KC_1_V" || ID_V || ID_U || Nonce_V || EphemData_U  (One-Pass,
 *               where ID_U is empty: the ephemeral-only party has no ID)
 * A different RPV changes FixedInfo, so every key and tag is unrelated. */
#ifndef PED_KAS_H
#define PED_KAS_H

#include <stddef.h>
#include <stdint.h>

#include "ecp.h"

#define KAS_ALG_FULL_UNIFIED "RemotePED-1 C(2e,2s) P-521 SHA-512 AES-256-CTR HMAC-SHA-512 AES-256-KWP"
#define KAS_ALG_ONE_PASS "RemotePED-1 C(1e,1s) P-521 SHA-512 AES-256-CTR HMAC-SHA-512 AES-256-KWP"
#define KAS_DEK_LEN 32
#define KAS_DMK_LEN 64
#define KAS_CWK_LEN 32
#define KAS_MACKEY_LEN 64
#define KAS_DKM_LEN (KAS_MACKEY_LEN + 2 * (KAS_DEK_LEN + KAS_DMK_LEN + KAS_CWK_LEN))
#define KAS_TAG_LEN 64
#define KAS_NONCE_LEN 32
#define KAS_RS_LEN 64 /* resumption secret, HMAC-SHA-512(MacKey, ...) */
#define KAS_SECRET_MAX 512   /* SuppPrivInfo */
#define KAS_CONTEXT_MAX 1024 /* SuppPubInfo */

/* KAS_SPAKE2: keys from kas_schedule over SPAKE2's Ke (PROTOCOL.md Part 4),
 * confirmation tags from SPAKE2 itself. */
/* KAS_RESUME: a session resumption (PROTOCOL.md Part 6): keys from
 * kas_schedule over an ephemeral-only CDH with the resumption secret as
 * SuppPrivInfo, and, unlike KAS_SPAKE2, its tags and next resumption secret
 * from MacKey like Full Unified's (labels "KC_R_U", "KC_R_V", "RSEC_R"). */
enum kas_scheme { KAS_FULL_UNIFIED = 1, KAS_ONE_PASS = 2, KAS_SPAKE2 = 3, KAS_RESUME = 4 };
#define KAS_ALG_RESUME "RemotePED-1 resume C(2e,0s) P-521 SHA-512 AES-256-CTR HMAC-SHA-512 AES-256-KWP"
#define KAS_ID_MAX 512 /* ID_U / ID_V in kas_schedule */
enum kas_role { KAS_U = 0, KAS_V = 1 };

typedef struct kas_dir_keys {
	uint8_t dek[KAS_DEK_LEN]; /* AES-256-CTR */
	uint8_t dmk[KAS_DMK_LEN]; /* HMAC-SHA-512 */
	uint8_t cwk[KAS_CWK_LEN]; /* AES-256-KWP */
} kas_dir_keys_t;

typedef struct kas_keys {
	enum kas_scheme scheme;
	enum kas_role role;
	kas_dir_keys_t uv;                /* keys for records U -> V */
	kas_dir_keys_t vu;                /* keys for records V -> U */
	int has_own_tag, has_peer_tag;    /* One-Pass: V sends, U checks */
	uint8_t own_tag[KAS_TAG_LEN];     /* the tag this party sends */
	uint8_t peer_tag[KAS_TAG_LEN];    /* the tag this party expects */
	int has_rs;                       /* Full Unified and KAS_RESUME: */
	uint8_t rs[KAS_RS_LEN];           /* the resumption secret, "RSEC_2" /
					   * "RSEC_R" over the MacData fields */
} kas_keys_t;

struct kas_params {
	enum kas_scheme scheme;
	enum kas_role role;
	/* Full Unified: all four. One-Pass: U gives own_ephem and peer_static,
	 * V gives own_static and peer_ephem; the others are NULL. */
	const ecp_key_t *own_static;
	const ecp_key_t *own_ephem;
	const ecp_key_t *peer_static;
	const ecp_key_t *peer_ephem;
	const uint8_t *nonce_v;          /* One-Pass: V's nonce, KAS_NONCE_LEN */
	const uint8_t *secret;           /* SuppPrivInfo (RPV), may be NULL/0 */
	size_t secret_len;
	const uint8_t *context;          /* SuppPubInfo, may be NULL/0 */
	size_t context_len;
	/* Full Unified, optional: Zs = CDH(own_static, peer_static) computed
	 * before (ECP_Z_LEN bytes), as a party that keeps its static keys may
	 * cache it; NULL computes it. The caller vouches that it belongs to
	 * these two keys: a wrong value only fails key confirmation. */
	const uint8_t *zs;
};

/* Computes Z, the DKM, the keys and the confirmation tags; wipes Z, the DKM
 * and MacKey. On failure *out is wiped. */
int kas_derive(const struct kas_params *p, kas_keys_t *out);
/* The key schedule alone, for a scheme whose Z and confirmation come from
 * elsewhere (SPAKE2): FixedInfo from f as above (IDs up to KAS_ID_MAX, ephemeral
 * data up to ECP_PUB_LEN bytes), DKM = KDF(Z, FixedInfo), cut into the two
 * directions' keys; MacKey is wiped unused and no tag is set. */
struct kas_fixed {
	const char *alg;
	const uint8_t *id_u, *e_u, *id_v, *e_v;
	size_t id_u_len, e_u_len, id_v_len, e_v_len;
	const uint8_t *context, *secret;
	size_t context_len, secret_len;
};
int kas_schedule(const uint8_t *z, size_t zlen, const struct kas_fixed *f,
		 enum kas_scheme scheme, enum kas_role role, kas_keys_t *out);
/* Checks the peer's confirmation tag in constant time: 0 or PED_E_KC_FAILED
 * (PED_E_INVAL if this party expects no tag). */
int kas_check_tag(const kas_keys_t *k, const uint8_t tag[static KAS_TAG_LEN]);
void kas_keys_wipe(kas_keys_t *k);

#endif
