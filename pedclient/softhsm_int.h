/* softhsm_int.h - the software HSM's state record and its file codec; not API
 * (the fuzzer and the unit tests use it). The format is in docs/softhsm.md. */
#ifndef PED_SOFTHSM_INT_H
#define PED_SOFTHSM_INT_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/ecp.h"
#include "pedclient/hsm.h"

#define SOFTHSM_MAGIC "RPEDSHSM"
#define SOFTHSM_MAGIC_LEN 8
#define SOFTHSM_VERSION 2
/* version 1 had the first 7 roles (no LCO); it is read, never written */
#define SOFTHSM_ROLES_V1 7
#define SOFTHSM_SALT_LEN 32
#define SOFTHSM_VERIFIER_LEN 64
#define SOFTHSM_SUM_LEN 32 /* SHA-256 */
/* one role record: id, state, m, n, failures, keyset id, salt, verifier */
#define SOFTHSM_ROLE_LEN (5 + HSM_KEYSET_ID_LEN + SOFTHSM_SALT_LEN + SOFTHSM_VERIFIER_LEN)
/* the body: serial, flags, two labels, static scalar, RPV, PED public, roles */
#define SOFTHSM_CHAL_SALT_LEN 16
#define SOFTHSM_CHAL_HASH_LEN 32
/* one challenge record: set, salt, hash */
#define SOFTHSM_CHAL_LEN (1 + SOFTHSM_CHAL_SALT_LEN + SOFTHSM_CHAL_HASH_LEN)
/* version 2's tail: policies, CO and CU challenges, activation, its time */
#define SOFTHSM_ACT_LEN (1 + 2 * SOFTHSM_CHAL_LEN + 1 + 8)
#define SOFTHSM_BODY_LEN_N(roles) (8 + 1 + 2 * (1 + HSM_LABEL_MAX) + ECP_PRIV_LEN + \
				   HSM_RPV_LEN + ECP_PUB_LEN + (roles) * SOFTHSM_ROLE_LEN)
#define SOFTHSM_BODY_LEN (SOFTHSM_BODY_LEN_N(HSM_ROLE_COUNT) + SOFTHSM_ACT_LEN)
#define SOFTHSM_HDR_LEN (SOFTHSM_MAGIC_LEN + 2 + 2)
#define SOFTHSM_FILE_LEN (SOFTHSM_HDR_LEN + SOFTHSM_BODY_LEN + SOFTHSM_SUM_LEN)
#define SOFTHSM_FILE_LEN_V1 (SOFTHSM_HDR_LEN + SOFTHSM_BODY_LEN_N(SOFTHSM_ROLES_V1) + \
			     SOFTHSM_SUM_LEN)
/* what hsm_open reads at most: a longer file is not ours */
#define SOFTHSM_FILE_MAX 4096

#define SOFTHSM_F_HSM 0x01u       /* hsm init done */
#define SOFTHSM_F_PARTITION 0x02u /* partition init done */
#define SOFTHSM_F_RPV 0x04u       /* RPV initialized */
#define SOFTHSM_F_ALL 0x07u

#define SOFTHSM_P_ACTIVATION 0x01u /* partition policy 22 */
#define SOFTHSM_P_AUTOACT 0x02u    /* partition policy 23 */
#define SOFTHSM_P_ALL 0x03u
/* challenge slots and activation bits: 0 CO, 1 CU */
#define SOFTHSM_ACT_ROLES 2

struct softhsm_role {
	uint8_t initialized;
	uint8_t m, n;
	uint8_t failures;
	uint8_t keyset_id[HSM_KEYSET_ID_LEN];
	uint8_t salt[SOFTHSM_SALT_LEN];
	uint8_t verifier[SOFTHSM_VERIFIER_LEN];
};

struct softhsm_chal {
	uint8_t set;
	uint8_t salt[SOFTHSM_CHAL_SALT_LEN];
	uint8_t hash[SOFTHSM_CHAL_HASH_LEN];
};

struct softhsm_state {
	uint64_t serial;
	uint8_t flags;
	char label[HSM_LABEL_MAX + 1];
	char plabel[HSM_LABEL_MAX + 1];
	uint8_t static_priv[ECP_PRIV_LEN];
	uint8_t rpv[HSM_RPV_LEN];
	uint8_t ped_pub[ECP_PUB_LEN];
	struct softhsm_role roles[HSM_ROLE_COUNT];
	uint8_t policies;              /* SOFTHSM_P_* */
	struct softhsm_chal chal[SOFTHSM_ACT_ROLES];
	uint8_t active;                /* auto-activation: bit 0 CO, bit 1 CU */
	uint64_t active_at;            /* when they were last known active (unix s) */
};

/* Parses a whole state file held in memory, strictly (docs/softhsm.md), of
 * the current version or version 1 (read as if the LCO were not initialized):
 * 0, PED_E_STATE_CORRUPT (wrong magic, length, checksum or any field out of
 * range or inconsistent) or PED_E_VERSION. *st is wiped first and on failure.
 * When key is not NULL it receives the static key pair (caller frees). */
int softhsm_state_parse(const uint8_t *data, size_t len, struct softhsm_state *st,
			ecp_key_t **key);
/* Encodes st into exactly SOFTHSM_FILE_LEN bytes of out. */
int softhsm_state_encode(const struct softhsm_state *st, uint8_t *out, size_t cap,
			 size_t *len);

#endif
