/* resume.h - session resumption (docs/PROTOCOL.md Part 6): what an open
 * session leaves behind so that the next TCP connection can take it up
 * again without the orange key, and the resume's key schedule.
 *
 * Every open session (Full Unified or resumed) holds one resumption secret
 * RS (64 bytes, from its MacKey: kas.h "RSEC_2" / "RSEC_R"). A resume on a
 * new connection names it by rid = HMAC-SHA-512(RS, "RemotePED-1 resume
 * id")[0..32), runs a fresh ephemeral-ephemeral CDH and derives
 *   DKM = KDF(Z = CDH(de_self, Qe_peer), FixedInfo(KAS_ALG_RESUME,
 *             ID_U = Qs_U, E_U = Qe_U, ID_V = Qh_V, E_V = Qe_V,
 *             SuppPubInfo = T, SuppPrivInfo = RS))
 * with confirmation tags and the next RS from its MacKey (kas.h
 * KAS_RESUME). RS is single use: the resumed session carries the next one,
 * and the owner drops the old one when the resume opens. */
#ifndef PED_RESUME_H
#define PED_RESUME_H

#include <stdint.h>

#include "crypto/ecp.h"
#include "crypto/kas.h"

#define SESS_RS_LEN KAS_RS_LEN
#define SESS_RID_LEN 32
#define SESS_RID_LABEL "RemotePED-1 resume id"

struct sess_resume {
	uint8_t rs[SESS_RS_LEN];    /* the resumption secret: wipe with resume_wipe */
	uint8_t rid[SESS_RID_LEN];  /* its public name */
	uint8_t qs_u[ECP_PUB_LEN];  /* the HSM's static key (ID_U) */
	uint8_t qh_v[ECP_PUB_LEN];  /* pedserver's host key (ID_V of a resume) */
};

/* Fills *out from a resumption secret and the two identities (rid computed). */
int resume_state(const uint8_t rs[static SESS_RS_LEN], const uint8_t qs_u[static ECP_PUB_LEN],
		 const uint8_t qh_v[static ECP_PUB_LEN], struct sess_resume *out);
/* The resume's keys for role U (client) or V (server): own_e is this side's
 * fresh ephemeral key (private), qe_u / qe_v the two ephemeral public keys,
 * t the transcript hash up to RESUME_INIT. Wipes Z and the DKM. */
int resume_derive(enum kas_role role, const struct sess_resume *st, const ecp_key_t *own_e,
		  const uint8_t qe_u[static ECP_PUB_LEN], const uint8_t qe_v[static ECP_PUB_LEN],
		  const uint8_t t[static 64], kas_keys_t *out);
void resume_wipe(struct sess_resume *st);
/* The wait before reconnect attempt n (0, 1, ...): RESUME_BACKOFF_MIN_MS
 * doubling up to RESUME_BACKOFF_MAX_MS, then "equal jitter": a uniform
 * draw from rnd in [d/2, d], so that clients cut together do not come back
 * together. */
#define RESUME_BACKOFF_MIN_MS 200u
#define RESUME_BACKOFF_MAX_MS 3200u
unsigned resume_backoff_ms(unsigned attempt, uint32_t rnd);

#endif
