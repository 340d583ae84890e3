/* hsm.h - the HSM back-end interface: the seam where a real HSM plugs in.
 *
 * One hsm_t per slot. The embedded implementation is the file-backed
 * software HSM (softhsm.c, docs/softhsm.md); a hardware back-end would
 * implement the same functions. Nothing here ever hands out the HSM's static
 * private key, the RPV or a role secret: the channel keys are derived inside
 * (hsm_channel_keys), role secrets leave only as Shamir shares for the PED to
 * write, and logins are checked inside.
 *
 * Secrets and keys (the PED key colours of the reference):
 *   HSM_ROLE_SO       HSM Security Officer          blue   login role
 *   HSM_ROLE_DOMAIN   HSM cloning domain            red    secret only
 *   HSM_ROLE_PO       partition Security Officer    blue   login role
 *   HSM_ROLE_PDOMAIN  partition cloning domain      red    secret only
 *   HSM_ROLE_CO       Crypto Officer                black  login role
 *   HSM_ROLE_CU       Crypto User                   gray ("black" to the PED)
 *   HSM_ROLE_AU       Auditor                       white  login role
 *   HSM_ROLE_LCO      Limited Crypto Officer        gray ("black" to the PED)
 *   the RPV           Remote PED Vector             orange (hsm_rpv_*)
 *
 * Two-phase initialization. A *_begin (or *_reuse) generates (or recombines)
 * a secret, returns the shares for the PED to write and stages the change in
 * memory only, under a token. Nothing is stored until the matching commit,
 * which the caller makes only when the PED confirmed every write; the commit
 * is one atomic write of the state. An abort, a crash or a close before the
 * commit leaves the previous state. hsm init and partition init commit two
 * staged keysets (SO + domain, PO + partition domain) in one write.
 *
 * Who may do what (checked at begin and again at commit):
 *   hsm init (SO, DOMAIN)        the HSM is not initialized, or SO logged in
 *   partition init (PO, PDOMAIN) the HSM is initialized and SO logged in;
 *                                afterwards the PO is logged in
 *   CO                           the partition is initialized, PO logged in
 *   CU, LCO                      the partition is initialized, CO logged in
 *   AU                           the HSM is initialized, SO or AU logged in
 *   role resetpw CO / CU         as CO / CU above, on an initialized role
 *   role changepw (SO PO CO CU AU) the role itself logged in
 *   RPV                          the HSM is not initialized, or SO logged in
 *
 * Failed logins (consecutive, persisted before the check, reset by a success):
 *   SO  3  -> the HSM is zeroized (labels, every role and domain, partition;
 *             the serial, the static key and the RPV stay)
 *   PO  10 -> the partition is zeroized (PO, partition domain, CO, CU, LCO)
 *   CO, CU, LCO, AU 10 -> the role is locked (CKR_PIN_LOCKED) until it is
 *             initialized again (CO/CU/LCO by their initializer, AU by the
 *             SO)
 *
 * A handle is not thread-safe. State changes fsync the state file and key
 * operations cost a P-521 multiplication or two: a few milliseconds each.
 *
 * All functions return 0 or a negative PED_E_* code (common/err.h). */
#ifndef PED_HSM_H
#define PED_HSM_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/ecp.h"
#include "crypto/kas.h"
#include "crypto/shamir.h"
#include "session/session.h"

#define HSM_LABEL_MAX 32          /* printable ASCII, 1..32 characters */
#define HSM_RPV_LEN 32
#define HSM_ROLE_SECRET_LEN 32
/* The orange key's one secret: RPV || PED-side static private scalar. */
#define HSM_RPK_SECRET_LEN (HSM_RPV_LEN + ECP_PRIV_LEN) /* 98 */
#define HSM_KEYSET_ID_LEN 16

typedef struct hsm hsm_t;

enum hsm_role {
	HSM_ROLE_SO = 0,
	HSM_ROLE_DOMAIN = 1,
	HSM_ROLE_PO = 2,
	HSM_ROLE_PDOMAIN = 3,
	HSM_ROLE_CO = 4,
	HSM_ROLE_CU = 5,
	HSM_ROLE_AU = 6,
	HSM_ROLE_LCO = 7,
	HSM_ROLE_COUNT = 8
};

struct hsm_role_info {
	int initialized;
	unsigned m, n;                 /* the keyset's M of N */
	uint8_t keyset_id[HSM_KEYSET_ID_LEN];
	unsigned failures;             /* consecutive failed logins */
	unsigned max_failures;         /* 0 for the domains (no login) */
	unsigned remaining;            /* max_failures - failures */
	int locked;                    /* CO/CU/AU at the limit */
	int logged_in;
	int challenge;                 /* CO/CU: a challenge secret is set */
	int activated;                 /* CO/CU: activated (challenge logins work) */
};

struct hsm_info {
	uint64_t serial;               /* random at creation, 10 decimal digits */
	char label[HSM_LABEL_MAX + 1];
	char partition_label[HSM_LABEL_MAX + 1];
	int initialized;               /* hsm init done */
	int partition_initialized;
	int rpv_initialized;
	int policy_activation;         /* partition policy 22 */
	int policy_autoact;            /* partition policy 23 */
	struct hsm_role_info roles[HSM_ROLE_COUNT];
};

/* Opens the slot whose state lives at path. A missing file is created (new
 * serial, new static P-521 key, nothing initialized, mode 0600) when
 * create_if_missing is set, else PED_E_NOT_FOUND. A damaged or foreign file
 * gives PED_E_STATE_CORRUPT or PED_E_VERSION and is never modified. */
int hsm_open(const char *path, int create_if_missing, hsm_t **out);
/* Wipes every secret the handle holds (staged changes are dropped). NULL ok. */
void hsm_close(hsm_t *h);

int hsm_info(const hsm_t *h, struct hsm_info *out);
/* The HSM's static public key (ID_U in Full Unified, ID_V in One-Pass). */
int hsm_static_public(const hsm_t *h, uint8_t out[static ECP_PUB_LEN]);
/* The PED-side static public key stored at RPV initialization
 * (PED_E_NOT_INITIALIZED before). */
int hsm_ped_static_public(const hsm_t *h, uint8_t out[static ECP_PUB_LEN]);

/* "so" "domain" "po" "pdomain" "co" "cu" "au" "lco"; NULL for an invalid
 * role. */
const char *hsm_role_name(enum hsm_role r);
int hsm_role_from_name(const char *name, enum hsm_role *r);
/* The PED key type of docs/PROTOCOL.md (1 blue, 2 red, 4 black, 5 white). */
int hsm_role_key_type(enum hsm_role r);
/* Failed logins allowed before the lockout action; 0 for the domains. */
unsigned hsm_role_max_failures(enum hsm_role r);

/* ---- channel keys --------------------------------------------------------
 * Full Unified C(2e,2s): the HSM is party U (own static + own ephemeral);
 * One-Pass C(1e,1s): the HSM is party V (own static, nonce). */
struct hsm_chan_params {
	enum kas_scheme scheme;
	/* the peer's ephemeral public key (133 bytes, validated here) */
	const uint8_t *peer_ephem;
	/* Full Unified: the peer's static public key; NULL = the PED-side key
	 * stored at RPV initialization. Must be NULL for One-Pass. */
	const uint8_t *peer_static;
	/* SuppPrivInfo: use_rpv = the stored RPV (PED_E_NOT_INITIALIZED
	 * without one); otherwise secret/secret_len (may be empty: the Local
	 * PED's One-Pass). The password mode does not come here: hsm_pake_*. */
	int use_rpv;
	const uint8_t *secret;
	size_t secret_len;
	const uint8_t *context;        /* SuppPubInfo, may be NULL/0 */
	size_t context_len;
	const uint8_t *nonce_v;        /* One-Pass: this (V) side's 32-byte nonce */
};

/* Full Unified, off a handshake's path (at start, after a session ends):
 * makes the next session's ephemeral key now, and computes once the
 * static-static secret Zs with the stored PED-side key (it changes only with
 * the RPV), so that a handshake is left with one CDH. Both stay inside the
 * handle; the ephemeral is used by one session only. */
int hsm_chan_prepare(hsm_t *h);
/* Full Unified only, when U must send its ephemeral before it has V's: takes
 * the session's ephemeral key (the one prepared, else a new one) and returns
 * its public key. It is kept inside the handle until hsm_channel_keys uses
 * and destroys it, or the next call replaces it. */
int hsm_chan_ephemeral(hsm_t *h, uint8_t pub[static ECP_PUB_LEN]);
/* Full Unified: the proof that this HSM holds its static key, for KEX_INIT
 * (session/session.h: sess_proof_key with d_HSM and the server's host key
 * qh_v, then sess_proof over ts and the ephemeral qe_u). Kp is cached per
 * server host key (a few servers), so a reconnect costs one HMAC. */
int hsm_key_proof(hsm_t *h, const uint8_t qh_v[static ECP_PUB_LEN],
		  const uint8_t ts[static SESS_TRANSCRIPT_LEN],
		  const uint8_t qe_u[static ECP_PUB_LEN], uint8_t proof[static SESS_PROOF_LEN]);
/* Derives the session keys and confirmation tags (crypto/kas.h) inside.
 * Full Unified: uses the ephemeral of hsm_chan_ephemeral, or takes one, and
 * copies its public key to own_ephem_pub (may be NULL only if it was made
 * before); the ephemeral is destroyed either way. One-Pass: own_ephem_pub is
 * not touched. */
int hsm_channel_keys(hsm_t *h, const struct hsm_chan_params *p, kas_keys_t *out,
		     uint8_t *own_ephem_pub);

/* ---- Remote PED Vector (orange key) ---------------------------------------
 * begin: a new 32-byte RPV and a new PED-side static P-521 key pair, split as
 * ONE secret RPV(32) || d_PED(66) into n shares (array of n, x = 1..n,
 * wiped by the caller with shamir_share_wipe). reuse: recombines an existing
 * orange keyset (k shares) instead; a secret whose scalar is invalid (what a
 * wrong PIN gives) is PED_E_PIN_INCORRECT. commit stores the RPV and the PED
 * public key (not d_PED). Only one RPV change is staged at a time. */
int hsm_rpv_init_begin(hsm_t *h, unsigned m, unsigned n, shamir_share_t *shares,
		       uint32_t *token);
int hsm_rpv_init_reuse(hsm_t *h, const shamir_share_t *shares, unsigned k, uint32_t *token);
int hsm_rpv_init_commit(hsm_t *h, uint32_t token);
void hsm_rpv_init_abort(hsm_t *h);

/* Checks an orange keyset against the stored RPV (k shares): 0 when the
 * recombined secret is this HSM's RPV and its PED-side key (both compared in
 * constant time), PED_E_RPV_MISMATCH for another orange keyset (or a wrong
 * PIN), PED_E_NOT_INITIALIZED without an RPV. Rotation (ped vector init on
 * an HSM with an RPV) proves the current orange quorum with it first. */
int hsm_rpv_verify(hsm_t *h, const shamir_share_t *shares, unsigned k);

/* ---- one-time password mode (docs/PROTOCOL.md Part 4) ----------------------
 * Only while the RPV is not initialized (PED_E_RPV_INITIALIZED otherwise).
 * begin: w from the 8-digit password and this HSM's serial, SPAKE2 side A;
 * pa receives the share. The password is not kept (only w, inside the
 * SPAKE2 state). finish: with the server name of the HELLO_ACK, pB and the
 * transcript hash T, the session keys (scheme KAS_SPAKE2, own_tag confA,
 * peer_tag confB). The SPAKE2 state is destroyed by finish, abort, close or
 * the next begin, whatever the outcome: one password attempt per begin. */
int hsm_pake_begin(hsm_t *h, const char *pw, size_t pw_len, uint8_t pa[static ECP_PUB_LEN]);
/* 0 if pw was not tried on this HSM (since pedclient started), else
 * PED_E_EXISTS: begin burns every password it is given. */
int hsm_pake_fresh(const hsm_t *h, const char *pw, size_t pw_len);
int hsm_pake_finish(hsm_t *h, const char *server_name, const uint8_t pb[static ECP_PUB_LEN],
		    const uint8_t *t, size_t t_len, kas_keys_t *out);
void hsm_pake_abort(hsm_t *h);

/* ---- roles and domains ---------------------------------------------------
 * begin: a fresh 32-byte secret split m of n (1 <= m <= n <= 16) into shares
 * (array of n); keyset_id (optional, 16 bytes) receives a new random keyset
 * id for the PED. reuse: the secret of an existing keyset of k shares and its
 * keyset id (may be NULL). Only the verifier is kept, never the secret. One
 * staged change per role; a new begin replaces it. */
int hsm_role_init_begin(hsm_t *h, enum hsm_role role, unsigned m, unsigned n,
			shamir_share_t *shares, uint8_t *keyset_id, uint32_t *token);
int hsm_role_init_reuse(hsm_t *h, enum hsm_role role, const shamir_share_t *shares,
			unsigned k, const uint8_t *keyset_id, uint32_t *token);
/* Commits a staged CO, CU, LCO or AU (resets its counter, unlocks it). SO, DOMAIN,
 * PO and PDOMAIN are committed by hsm_init / hsm_partition_init. */
int hsm_role_init_commit(hsm_t *h, enum hsm_role role, uint32_t token);
void hsm_role_init_abort(hsm_t *h, enum hsm_role role);
/* role changepw: a new keyset for a login role (SO, PO, CO, CU, AU) by the
 * role itself. The caller proves the current keyset first with
 * hsm_role_login (a failure counts as a failed login); begin/reuse then
 * need the role logged in (PED_E_NOT_LOGGED_IN) and initialized. The change
 * is staged like an init and committed in one write only when the new keyset
 * is fully written: until then the old secret stays valid. The commit resets
 * the counter and the role stays logged in. An init token does not commit a
 * change nor the reverse (PED_E_BAD_REQUEST); hsm_role_init_abort drops
 * either. */
int hsm_role_change_begin(hsm_t *h, enum hsm_role role, unsigned m, unsigned n,
			  shamir_share_t *shares, uint8_t *keyset_id, uint32_t *token);
int hsm_role_change_reuse(hsm_t *h, enum hsm_role role, const shamir_share_t *shares,
			  unsigned k, const uint8_t *keyset_id, uint32_t *token);
int hsm_role_change_commit(hsm_t *h, enum hsm_role role, uint32_t token);
/* hsm init: label, SO and domain in one write; everything else is erased
 * (partition, CO, CU, AU); every role is logged out. */
int hsm_init(hsm_t *h, const char *label, uint32_t so_token, uint32_t domain_token);
/* partition init: label, PO and partition domain in one write; CO, CU and
 * LCO are erased; the PO is logged in afterwards. */
int hsm_partition_init(hsm_t *h, const char *label, uint32_t po_token,
		       uint32_t pdomain_token);

/* Login with k shares of the role's keyset. Checked before anything counts:
 * the role is a login role (PED_E_INVAL), initialized (PED_E_NOT_INITIALIZED),
 * not locked (PED_E_PIN_LOCKED), 1 <= k <= 16, every share of this keyset's
 * shape (PED_E_SHARE_BAD), no x twice (PED_E_SHARE_DUP), k >= M
 * (PED_E_SHARE_FEW). Then the attempt counts: the recombined secret is checked
 * against the verifier in constant time; a mismatch (a wrong PIN on any key,
 * a key of another keyset) is PED_E_PIN_INCORRECT and may trigger the
 * lockout action. *remaining (may be NULL) gets the attempts left. */
int hsm_role_login(hsm_t *h, enum hsm_role role, const shamir_share_t *shares,
		   unsigned k, unsigned *remaining);
/* Logs every role out (activation stays). */
void hsm_role_logout(hsm_t *h);

/* ---- activation (partition policies 22 and 23) -----------------------------
 * The Crypto Officer and the Crypto User may have a challenge secret (7-255
 * printable ASCII characters without space, else PED_E_CHALLENGE_BAD; kept
 * as a salted PBKDF2 hash), set by their initializer: the PO for the CO, the
 * CO for the CU (hsm_challenge_set; a new challenge deactivates the role).
 * With policy 22 on, a PED-key login of a role with a challenge activates
 * it: from then on hsm_role_login_challenge logs it in with the challenge
 * alone (counted like a PED-key login: PED_E_PIN_INCORRECT, the same
 * counter and lockout), until hsm_role_deactivate, a policy 22 off, a new
 * keyset or challenge for the role, a lockout, or the HSM restart
 * (hsm_close/hsm_open). Without activation it is PED_E_NOT_ACTIVATED (not
 * counted). With policy 23 on as well (auto-activation) the activation is
 * written to the state and survives a restart within HSM_AUTOACT_WINDOW_S of
 * the last time the HSM was known up (activation, close). Logout keeps the
 * activation. hsm_policy_set needs the partition and the PO logged in. */
#define HSM_CHALLENGE_MIN 7
#define HSM_CHALLENGE_MAX 255
#define HSM_CHALLENGE_ITER 20000
#define HSM_AUTOACT_WINDOW_S 7200 /* the reference: up to two hours */
int hsm_policy_set(hsm_t *h, unsigned policy, int value);
int hsm_challenge_set(hsm_t *h, enum hsm_role role, const char *secret, size_t len);
int hsm_role_login_challenge(hsm_t *h, enum hsm_role role, const char *secret, size_t len,
			     unsigned *remaining);
int hsm_role_deactivate(hsm_t *h, enum hsm_role role);

#endif
