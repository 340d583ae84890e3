/* softhsm.c - the file-backed software HSM behind hsm.h.
 *
 * One slot = one state file (format and rules in docs/softhsm.md), replaced
 * with atomic_write_file at every change, so that a crash leaves the old or the
 * new state. The in-memory state changes only after the write succeeded:
 * every mutation builds the next state in a copy, writes it, then adopts it.
 * The file holds the HSM's own secrets (static scalar, RPV); role secrets are
 * never stored, only an HMAC-SHA-512 verifier with a per-role salt. Staged
 * (begun, uncommitted) changes live in memory only. Nothing here logs. */
#include "pedclient/hsm.h"
#include "pedclient/softhsm_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/atomic.h"
#include "common/buf.h"
#include "common/err.h"
#include "session/pake.h"

#define PAKE_USED_MAX 64
#define PROOF_CACHE 8

/* The verifier of a role secret s (32 bytes, full entropy, so no stretching):
 * HMAC-SHA-512(key = s, VERIFIER_TAG || u8 role || u64be serial || salt). */
#define VERIFIER_TAG "RemotePED softhsm role verifier v1"

struct staged_role {
	int active;
	int change;            /* staged by hsm_role_change_* (not init) */
	uint32_t token;
	struct softhsm_role rec;
};

struct staged_rpv {
	int active;
	uint32_t token;
	uint8_t rpv[HSM_RPV_LEN];
	uint8_t ped_pub[ECP_PUB_LEN];
};

struct hsm {
	char *path;
	struct softhsm_state st;
	ecp_key_t *static_key;
	uint8_t static_pub[ECP_PUB_LEN];
	unsigned logged_in; /* bit (1u << role) */
	unsigned activated; /* CO/CU activated (partition policy 22): bit (1u << role) */
	struct staged_role staged[HSM_ROLE_COUNT];
	struct staged_rpv staged_rpv;
	ecp_key_t *ephem;      /* Full Unified: this session's ephemeral, one use */
	ecp_key_t *ephem_next; /* the next session's, made ahead (hsm_chan_prepare) */
	/* Full Unified with the stored PED-side key: that key imported and
	 * Zs = CDH(d_HSM, Q_PED), valid while st.ped_pub equals zs_pub */
	ecp_key_t *ped_key;
	uint8_t zs_pub[ECP_PUB_LEN];
	uint8_t zs[ECP_Z_LEN];
	spake2_t *pake;        /* password mode: one attempt (hsm_pake_*) */
	/* passwords already tried (SHA-256 of serial || password), newest
	 * PAKE_USED_MAX, for as long as the handle lives */
	uint8_t pake_used[PAKE_USED_MAX][32];
	unsigned pake_used_n;
	/* key proofs: Kp per server host key, the newest PROOF_CACHE */
	struct {
		uint8_t qh[ECP_PUB_LEN];
		uint8_t kp[SESS_PROOF_KEY_LEN];
	} proof[PROOF_CACHE];
	unsigned proof_n;
};

static const struct {
	const char *name;
	int key_type;          /* docs/PROTOCOL.md key_type */
	unsigned max_failures; /* 0: not a login role */
} role_table[HSM_ROLE_COUNT] = {
	[HSM_ROLE_SO] = {"so", 1, 3},
	[HSM_ROLE_DOMAIN] = {"domain", 2, 0},
	[HSM_ROLE_PO] = {"po", 1, 10},
	[HSM_ROLE_PDOMAIN] = {"pdomain", 2, 0},
	[HSM_ROLE_CO] = {"co", 4, 10},
	[HSM_ROLE_CU] = {"cu", 4, 10},
	[HSM_ROLE_AU] = {"au", 5, 10},
	[HSM_ROLE_LCO] = {"lco", 4, 10},
};

#define ROLE_BIT(r) (1u << (unsigned)(r))

static void activate(const hsm_t *h, struct softhsm_state *next, enum hsm_role role);
static void deactivate(hsm_t *h, struct softhsm_state *next, enum hsm_role role);
static const struct softhsm_chal *chal_of(const hsm_t *h, enum hsm_role role);
static uint64_t now_s(void);

static int role_ok(enum hsm_role r)
{
	return (unsigned)r < HSM_ROLE_COUNT;
}

const char *hsm_role_name(enum hsm_role r)
{
	return role_ok(r) ? role_table[r].name : NULL;
}

int hsm_role_from_name(const char *name, enum hsm_role *r)
{
	unsigned i;

	if (name == NULL || r == NULL)
		return PED_E_INVAL;
	for (i = 0; i < HSM_ROLE_COUNT; i++) {
		if (strcmp(name, role_table[i].name) == 0) {
			*r = (enum hsm_role)i;
			return 0;
		}
	}
	return PED_E_NOT_FOUND;
}

int hsm_role_key_type(enum hsm_role r)
{
	return role_ok(r) ? role_table[r].key_type : PED_E_INVAL;
}

unsigned hsm_role_max_failures(enum hsm_role r)
{
	return role_ok(r) ? role_table[r].max_failures : 0;
}

/* ---- the state file ------------------------------------------------------ */

static int all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint8_t acc = 0;
	size_t i;

	for (i = 0; i < n; i++)
		acc |= b[i];
	return acc == 0;
}

static int printable(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] > 0x7e)
			return 0;
	return 1;
}

static int sha256(const uint8_t *data, size_t len, uint8_t out[SOFTHSM_SUM_LEN])
{
	size_t n = 0;

	if (!EVP_Q_digest(NULL, "SHA256", NULL, data, len, out, &n) || n != SOFTHSM_SUM_LEN)
		return PED_E_CRYPTO;
	return 0;
}

/* u8 len || label padded with zeros to HSM_LABEL_MAX. present: 1..32
 * printable characters; absent: all zero. */
static int get_label(pbuf_t *b, int present, char out[HSM_LABEL_MAX + 1])
{
	uint8_t raw[HSM_LABEL_MAX], n;

	if (pbuf_get_u8(b, &n) != 0 || pbuf_get_bytes(b, raw, sizeof(raw)) != 0)
		return PED_E_STATE_CORRUPT;
	if (n > HSM_LABEL_MAX || (present ? n == 0 : n != 0) || !printable(raw, n) ||
	    !all_zero(raw + n, sizeof(raw) - n))
		return PED_E_STATE_CORRUPT;
	memcpy(out, raw, n);
	out[n] = '\0';
	return 0;
}

static int get_role(pbuf_t *b, unsigned idx, struct softhsm_role *rr)
{
	uint8_t id, state;

	if (pbuf_get_u8(b, &id) != 0 || pbuf_get_u8(b, &state) != 0 ||
	    pbuf_get_u8(b, &rr->m) != 0 || pbuf_get_u8(b, &rr->n) != 0 ||
	    pbuf_get_u8(b, &rr->failures) != 0 ||
	    pbuf_get_bytes(b, rr->keyset_id, sizeof(rr->keyset_id)) != 0 ||
	    pbuf_get_bytes(b, rr->salt, sizeof(rr->salt)) != 0 ||
	    pbuf_get_bytes(b, rr->verifier, sizeof(rr->verifier)) != 0)
		return PED_E_STATE_CORRUPT;
	if (id != idx || state > 1)
		return PED_E_STATE_CORRUPT;
	rr->initialized = state;
	if (!state)
		return all_zero(rr, sizeof(*rr)) ? 0 : PED_E_STATE_CORRUPT;
	if (rr->m < 1 || rr->m > rr->n || rr->n > SHAMIR_MAX_N ||
	    rr->failures > role_table[idx].max_failures)
		return PED_E_STATE_CORRUPT;
	return 0;
}

/* Version 2's tail: policies, the CO and CU challenges, auto-activation. */
static int get_activation(pbuf_t *b, struct softhsm_state *st)
{
	static const enum hsm_role who[SOFTHSM_ACT_ROLES] = {HSM_ROLE_CO, HSM_ROLE_CU};
	struct softhsm_chal *c;
	unsigned i;

	if (pbuf_get_u8(b, &st->policies) != 0 || (st->policies & ~SOFTHSM_P_ALL) != 0)
		return PED_E_STATE_CORRUPT;
	for (i = 0; i < SOFTHSM_ACT_ROLES; i++) {
		c = &st->chal[i];
		if (pbuf_get_u8(b, &c->set) != 0 || pbuf_get_bytes(b, c->salt, sizeof(c->salt)) != 0 ||
		    pbuf_get_bytes(b, c->hash, sizeof(c->hash)) != 0 || c->set > 1)
			return PED_E_STATE_CORRUPT;
		if (c->set ? !st->roles[who[i]].initialized : !all_zero(c, sizeof(*c)))
			return PED_E_STATE_CORRUPT;
	}
	if (pbuf_get_u8(b, &st->active) != 0 || pbuf_get_u64(b, &st->active_at) != 0 ||
	    (st->active & ~3u) != 0 || ((st->active & 1u) && !st->chal[0].set) ||
	    ((st->active & 2u) && !st->chal[1].set) || (!st->active && st->active_at != 0))
		return PED_E_STATE_CORRUPT;
	return 0;
}

/* Which roles must (or may) be initialized for the flags. */
static int roles_consistent(const struct softhsm_state *st)
{
	const int hsm = (st->flags & SOFTHSM_F_HSM) != 0;
	const int part = (st->flags & SOFTHSM_F_PARTITION) != 0;
	const struct softhsm_role *r = st->roles;

	return r[HSM_ROLE_SO].initialized == hsm && r[HSM_ROLE_DOMAIN].initialized == hsm &&
	       r[HSM_ROLE_PO].initialized == part && r[HSM_ROLE_PDOMAIN].initialized == part &&
	       (part || !r[HSM_ROLE_CO].initialized) && (part || !r[HSM_ROLE_CU].initialized) &&
	       (part || !r[HSM_ROLE_LCO].initialized) &&
	       (hsm || !r[HSM_ROLE_AU].initialized);
}

int softhsm_state_parse(const uint8_t *data, size_t len, struct softhsm_state *st,
			ecp_key_t **key)
{
	uint8_t sum[SOFTHSM_SUM_LEN];
	ecp_key_t *k = NULL, *pk = NULL;
	const uint8_t *p;
	uint16_t version, body_len;
	unsigned i, nroles;
	size_t body;
	pbuf_t b;
	int r = PED_E_INVAL;

	if (key != NULL)
		*key = NULL;
	if (st == NULL)
		goto out;
	OPENSSL_cleanse(st, sizeof(*st));
	if (data == NULL && len > 0)
		goto out;
	r = PED_E_STATE_CORRUPT;
	pbuf_from(&b, data, len);
	/* fixed order: magic, version, length, checksum, then the fields */
	if (pbuf_get_view(&b, SOFTHSM_MAGIC_LEN, &p) != 0 ||
	    memcmp(p, SOFTHSM_MAGIC, SOFTHSM_MAGIC_LEN) != 0 || pbuf_get_u16(&b, &version) != 0)
		goto out;
	r = PED_E_VERSION;
	if (version != SOFTHSM_VERSION && version != 1)
		goto out;
	nroles = version == 1 ? SOFTHSM_ROLES_V1 : HSM_ROLE_COUNT;
	body = version == 1 ? SOFTHSM_BODY_LEN_N(nroles) : SOFTHSM_BODY_LEN;
	r = PED_E_STATE_CORRUPT;
	if (pbuf_get_u16(&b, &body_len) != 0 || body_len != body ||
	    len != SOFTHSM_HDR_LEN + body + SOFTHSM_SUM_LEN)
		goto out;
	if ((r = sha256(data, SOFTHSM_HDR_LEN + body, sum)) != 0)
		goto out;
	r = PED_E_STATE_CORRUPT;
	if (CRYPTO_memcmp(sum, data + SOFTHSM_HDR_LEN + body, sizeof(sum)) != 0)
		goto out;
	b.len = SOFTHSM_HDR_LEN + body; /* the body ends at the sum */

	if (pbuf_get_u64(&b, &st->serial) != 0 || st->serial == 0 ||
	    pbuf_get_u8(&b, &st->flags) != 0 || (st->flags & ~SOFTHSM_F_ALL) != 0 ||
	    ((st->flags & SOFTHSM_F_PARTITION) && !(st->flags & SOFTHSM_F_HSM)))
		goto out;
	if ((r = get_label(&b, st->flags & SOFTHSM_F_HSM, st->label)) != 0 ||
	    (r = get_label(&b, st->flags & SOFTHSM_F_PARTITION, st->plabel)) != 0)
		goto out;
	r = PED_E_STATE_CORRUPT;
	if (pbuf_get_bytes(&b, st->static_priv, ECP_PRIV_LEN) != 0 ||
	    pbuf_get_bytes(&b, st->rpv, HSM_RPV_LEN) != 0 ||
	    pbuf_get_bytes(&b, st->ped_pub, ECP_PUB_LEN) != 0)
		goto out;
	if (st->flags & SOFTHSM_F_RPV) {
		if (ecp_import_public(st->ped_pub, ECP_PUB_LEN, &pk) != 0)
			goto out;
	} else if (!all_zero(st->rpv, HSM_RPV_LEN) || !all_zero(st->ped_pub, ECP_PUB_LEN)) {
		goto out;
	}
	for (i = 0; i < nroles; i++) /* a version 1 file: the LCO stays all zero */
		if ((r = get_role(&b, i, &st->roles[i])) != 0)
			goto out;
	r = PED_E_STATE_CORRUPT;
	if (version != 1 && get_activation(&b, st) != 0)
		goto out;
	if (pbuf_expect_end(&b) != 0 || !roles_consistent(st))
		goto out;
	/* last, the costly check: the static scalar is in [1, n-1] */
	if (ecp_from_private(st->static_priv, ECP_PRIV_LEN, &k) != 0)
		goto out;
	if (key != NULL) {
		*key = k;
		k = NULL;
	}
	r = 0;
out:
	if (r != 0 && st != NULL)
		OPENSSL_cleanse(st, sizeof(*st));
	ecp_free(k);
	ecp_free(pk);
	return r;
}

static int put_label(pbuf_t *b, const char *label)
{
	uint8_t raw[HSM_LABEL_MAX] = {0};
	size_t n = strnlen(label, HSM_LABEL_MAX + 1);

	if (n > HSM_LABEL_MAX)
		return PED_E_INVAL;
	memcpy(raw, label, n);
	if (pbuf_put_u8(b, (uint8_t)n) != 0 || pbuf_put_bytes(b, raw, sizeof(raw)) != 0)
		return PED_E_NOSPACE;
	return 0;
}

int softhsm_state_encode(const struct softhsm_state *st, uint8_t *out, size_t cap, size_t *len)
{
	const struct softhsm_role *rr;
	unsigned i;
	pbuf_t b;
	int r = PED_E_INVAL;

	if (len != NULL)
		*len = 0;
	if (st == NULL || out == NULL || len == NULL)
		goto out;
	r = PED_E_NOSPACE;
	if (cap < SOFTHSM_FILE_LEN)
		goto out;
	pbuf_over(&b, out, SOFTHSM_FILE_LEN);
	if (pbuf_put_bytes(&b, SOFTHSM_MAGIC, SOFTHSM_MAGIC_LEN) != 0 ||
	    pbuf_put_u16(&b, SOFTHSM_VERSION) != 0 || pbuf_put_u16(&b, SOFTHSM_BODY_LEN) != 0 ||
	    pbuf_put_u64(&b, st->serial) != 0 || pbuf_put_u8(&b, st->flags) != 0)
		goto out;
	if ((r = put_label(&b, st->label)) != 0 || (r = put_label(&b, st->plabel)) != 0)
		goto out;
	r = PED_E_NOSPACE;
	if (pbuf_put_bytes(&b, st->static_priv, ECP_PRIV_LEN) != 0 ||
	    pbuf_put_bytes(&b, st->rpv, HSM_RPV_LEN) != 0 ||
	    pbuf_put_bytes(&b, st->ped_pub, ECP_PUB_LEN) != 0)
		goto out;
	for (i = 0; i < HSM_ROLE_COUNT; i++) {
		rr = &st->roles[i];
		if (pbuf_put_u8(&b, (uint8_t)i) != 0 || pbuf_put_u8(&b, rr->initialized) != 0 ||
		    pbuf_put_u8(&b, rr->m) != 0 || pbuf_put_u8(&b, rr->n) != 0 ||
		    pbuf_put_u8(&b, rr->failures) != 0 ||
		    pbuf_put_bytes(&b, rr->keyset_id, sizeof(rr->keyset_id)) != 0 ||
		    pbuf_put_bytes(&b, rr->salt, sizeof(rr->salt)) != 0 ||
		    pbuf_put_bytes(&b, rr->verifier, sizeof(rr->verifier)) != 0)
			goto out;
	}
	if (pbuf_put_u8(&b, st->policies) != 0)
		goto out;
	for (i = 0; i < SOFTHSM_ACT_ROLES; i++)
		if (pbuf_put_u8(&b, st->chal[i].set) != 0 ||
		    pbuf_put_bytes(&b, st->chal[i].salt, SOFTHSM_CHAL_SALT_LEN) != 0 ||
		    pbuf_put_bytes(&b, st->chal[i].hash, SOFTHSM_CHAL_HASH_LEN) != 0)
			goto out;
	if (pbuf_put_u8(&b, st->active) != 0 || pbuf_put_u64(&b, st->active_at) != 0)
		goto out;
	r = PED_E_INTERNAL;
	if (b.len != SOFTHSM_HDR_LEN + SOFTHSM_BODY_LEN)
		goto out;
	if ((r = sha256(out, b.len, out + b.len)) != 0)
		goto out;
	*len = SOFTHSM_FILE_LEN;
	r = 0;
out:
	if (r != 0 && out != NULL && cap > 0)
		OPENSSL_cleanse(out, cap < SOFTHSM_FILE_LEN ? cap : SOFTHSM_FILE_LEN);
	return r;
}

static int save_state(const char *path, const struct softhsm_state *st)
{
	uint8_t buf[SOFTHSM_FILE_LEN];
	size_t len;
	int r;

	if ((r = softhsm_state_encode(st, buf, sizeof(buf), &len)) == 0)
		r = atomic_write_file(path, buf, len, 0600);
	OPENSSL_cleanse(buf, sizeof(buf));
	return r;
}

/* Writes next and, only if that worked, adopts it. next is wiped. */
static int commit_state(hsm_t *h, struct softhsm_state *next)
{
	int r = save_state(h->path, next);

	if (r == 0)
		memcpy(&h->st, next, sizeof(h->st));
	OPENSSL_cleanse(next, sizeof(*next));
	return r;
}

/* ---- open / close / info ------------------------------------------------- */

/* At open: the roles auto-activated (policy 23) within the window stay
 * activated; anything else was erased by the restart. */
static void restore_activation(hsm_t *h)
{
	const uint64_t now = now_s();

	h->activated = 0;
	if (!h->st.active || !(h->st.policies & SOFTHSM_P_AUTOACT) ||
	    !(h->st.policies & SOFTHSM_P_ACTIVATION) || now < h->st.active_at ||
	    now - h->st.active_at > HSM_AUTOACT_WINDOW_S)
		return;
	if (h->st.active & 1u)
		h->activated |= ROLE_BIT(HSM_ROLE_CO);
	if (h->st.active & 2u)
		h->activated |= ROLE_BIT(HSM_ROLE_CU);
}

static int create_state(const char *path)
{
	struct softhsm_state st;
	ecp_key_t *k = NULL;
	uint8_t rnd[8];
	uint64_t v;
	int r = PED_E_CRYPTO;

	memset(&st, 0, sizeof(st));
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		goto out;
	v = (uint64_t)pbuf_rd32(rnd) << 32 | pbuf_rd32(rnd + 4);
	st.serial = 1000000000u + v % 9000000000u; /* ten decimal digits */
	if ((r = ecp_generate(&k)) != 0 || (r = ecp_export_private(k, st.static_priv)) != 0)
		goto out;
	r = save_state(path, &st);
out:
	ecp_free(k);
	OPENSSL_cleanse(&st, sizeof(st));
	return r;
}

int hsm_open(const char *path, int create_if_missing, hsm_t **out)
{
	hsm_t *h = NULL;
	void *data = NULL;
	size_t len = 0;
	int r = PED_E_INVAL;

	if (out != NULL)
		*out = NULL;
	if (path == NULL || path[0] == '\0' || out == NULL)
		goto out;
	r = PED_E_NOMEM;
	if ((h = calloc(1, sizeof(*h))) == NULL || (h->path = strdup(path)) == NULL)
		goto out;
	r = atomic_read_file(path, SOFTHSM_FILE_MAX, &data, &len);
	if (r == PED_E_NOT_FOUND && create_if_missing) {
		if ((r = create_state(path)) != 0)
			goto out;
		r = atomic_read_file(path, SOFTHSM_FILE_MAX, &data, &len);
	}
	if (r == PED_E_TOO_LONG)
		r = PED_E_STATE_CORRUPT;
	if (r != 0)
		goto out;
	if ((r = softhsm_state_parse(data, len, &h->st, &h->static_key)) != 0 ||
	    (r = ecp_export_public(h->static_key, h->static_pub)) != 0)
		goto out;
	restore_activation(h);
	*out = h;
	h = NULL;
	r = 0;
out:
	if (data != NULL) {
		OPENSSL_cleanse(data, len);
		free(data);
	}
	hsm_close(h);
	return r;
}

void hsm_close(hsm_t *h)
{
	struct softhsm_state next;
	uint8_t bits;

	if (h == NULL)
		return;
	/* auto-activation: the window counts from the HSM going down */
	bits = (uint8_t)((h->activated & ROLE_BIT(HSM_ROLE_CO) ? 1u : 0u) |
			 (h->activated & ROLE_BIT(HSM_ROLE_CU) ? 2u : 0u));
	if (bits != 0 && (h->st.policies & SOFTHSM_P_AUTOACT)) {
		memcpy(&next, &h->st, sizeof(next));
		next.active = bits;
		next.active_at = now_s();
		(void)commit_state(h, &next); /* best effort: a crash keeps the last stamp */
	}
	ecp_free(h->static_key);
	ecp_free(h->ephem);
	ecp_free(h->ephem_next);
	ecp_free(h->ped_key);
	spake2_free(h->pake);
	free(h->path);
	OPENSSL_cleanse(h, sizeof(*h));
	free(h);
}

int hsm_info(const hsm_t *h, struct hsm_info *out)
{
	const struct softhsm_role *rr;
	struct hsm_role_info *ri;
	unsigned i;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (h == NULL || out == NULL)
		return PED_E_INVAL;
	out->serial = h->st.serial;
	memcpy(out->label, h->st.label, sizeof(out->label));
	memcpy(out->partition_label, h->st.plabel, sizeof(out->partition_label));
	out->initialized = (h->st.flags & SOFTHSM_F_HSM) != 0;
	out->partition_initialized = (h->st.flags & SOFTHSM_F_PARTITION) != 0;
	out->rpv_initialized = (h->st.flags & SOFTHSM_F_RPV) != 0;
	out->policy_activation = (h->st.policies & SOFTHSM_P_ACTIVATION) != 0;
	out->policy_autoact = (h->st.policies & SOFTHSM_P_AUTOACT) != 0;
	for (i = 0; i < HSM_ROLE_COUNT; i++) {
		rr = &h->st.roles[i];
		ri = &out->roles[i];
		ri->initialized = rr->initialized;
		ri->m = rr->m;
		ri->n = rr->n;
		memcpy(ri->keyset_id, rr->keyset_id, sizeof(ri->keyset_id));
		ri->failures = rr->failures;
		ri->max_failures = role_table[i].max_failures;
		ri->remaining = ri->max_failures > rr->failures ? ri->max_failures - rr->failures : 0;
		ri->locked = rr->initialized && ri->max_failures > 0 && ri->remaining == 0;
		ri->logged_in = (h->logged_in & ROLE_BIT(i)) != 0;
		ri->challenge = chal_of(h, (enum hsm_role)i) != NULL &&
				chal_of(h, (enum hsm_role)i)->set;
		ri->activated = (h->activated & ROLE_BIT(i)) != 0;
	}
	return 0;
}

int hsm_static_public(const hsm_t *h, uint8_t out[static ECP_PUB_LEN])
{
	if (h == NULL || out == NULL)
		return PED_E_INVAL;
	memcpy(out, h->static_pub, ECP_PUB_LEN);
	return 0;
}

int hsm_ped_static_public(const hsm_t *h, uint8_t out[static ECP_PUB_LEN])
{
	if (h == NULL || out == NULL)
		return PED_E_INVAL;
	if (!(h->st.flags & SOFTHSM_F_RPV))
		return PED_E_NOT_INITIALIZED;
	memcpy(out, h->st.ped_pub, ECP_PUB_LEN);
	return 0;
}

/* ---- helpers for the two-phase changes ----------------------------------- */

static int logged(const hsm_t *h, enum hsm_role r)
{
	return (h->logged_in & ROLE_BIT(r)) != 0;
}

/* The authorization table of hsm.h. */
static int may_init(const hsm_t *h, enum hsm_role role)
{
	const int hsm = (h->st.flags & SOFTHSM_F_HSM) != 0;
	const int part = (h->st.flags & SOFTHSM_F_PARTITION) != 0;

	switch (role) {
	case HSM_ROLE_SO:
	case HSM_ROLE_DOMAIN:
		return !hsm || logged(h, HSM_ROLE_SO) ? 0 : PED_E_NOT_LOGGED_IN;
	case HSM_ROLE_PO:
	case HSM_ROLE_PDOMAIN:
		if (!hsm)
			return PED_E_NOT_INITIALIZED;
		return logged(h, HSM_ROLE_SO) ? 0 : PED_E_NOT_LOGGED_IN;
	case HSM_ROLE_CO:
		if (!part)
			return PED_E_NOT_INITIALIZED;
		return logged(h, HSM_ROLE_PO) ? 0 : PED_E_NOT_LOGGED_IN;
	case HSM_ROLE_CU:
	case HSM_ROLE_LCO:
		if (!part)
			return PED_E_NOT_INITIALIZED;
		return logged(h, HSM_ROLE_CO) ? 0 : PED_E_NOT_LOGGED_IN;
	case HSM_ROLE_AU:
		if (!hsm)
			return PED_E_NOT_INITIALIZED;
		return logged(h, HSM_ROLE_SO) || logged(h, HSM_ROLE_AU) ? 0 : PED_E_NOT_LOGGED_IN;
	default:
		return PED_E_INVAL;
	}
}

static int may_init_rpv(const hsm_t *h)
{
	return !(h->st.flags & SOFTHSM_F_HSM) || logged(h, HSM_ROLE_SO) ? 0 : PED_E_NOT_LOGGED_IN;
}

static int new_token(uint32_t *t)
{
	uint8_t b[4];
	int i;

	for (i = 0; i < 8; i++) {
		if (RAND_bytes(b, sizeof(b)) != 1)
			return PED_E_CRYPTO;
		if ((*t = pbuf_rd32(b)) != 0)
			return 0;
	}
	return PED_E_CRYPTO;
}

static int make_verifier(enum hsm_role role, uint64_t serial, const uint8_t *secret,
			 const uint8_t salt[SOFTHSM_SALT_LEN], uint8_t out[SOFTHSM_VERIFIER_LEN])
{
	uint8_t msg[sizeof(VERIFIER_TAG) - 1 + 1 + 8 + SOFTHSM_SALT_LEN];
	size_t off = sizeof(VERIFIER_TAG) - 1, n = 0;
	int r = 0;

	memcpy(msg, VERIFIER_TAG, off);
	msg[off++] = (uint8_t)role;
	pbuf_be64(msg + off, serial);
	off += 8;
	memcpy(msg + off, salt, SOFTHSM_SALT_LEN);
	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA512", NULL, secret, HSM_ROLE_SECRET_LEN, msg,
		      sizeof(msg), out, SOFTHSM_VERIFIER_LEN, &n) == NULL ||
	    n != SOFTHSM_VERIFIER_LEN) {
		OPENSSL_cleanse(out, SOFTHSM_VERIFIER_LEN);
		r = PED_E_CRYPTO;
	}
	return r;
}

/* Stages role with the verifier of secret; keyset_id NULL = a random one. */
static int stage_role(hsm_t *h, enum hsm_role role, const uint8_t *secret, unsigned m,
		      unsigned n, const uint8_t *keyset_id, uint32_t *token)
{
	struct staged_role s;
	int r = PED_E_CRYPTO;

	memset(&s, 0, sizeof(s));
	s.rec.initialized = 1;
	s.rec.m = (uint8_t)m;
	s.rec.n = (uint8_t)n;
	if (keyset_id != NULL)
		memcpy(s.rec.keyset_id, keyset_id, HSM_KEYSET_ID_LEN);
	else if (RAND_bytes(s.rec.keyset_id, HSM_KEYSET_ID_LEN) != 1)
		goto out;
	if (RAND_bytes(s.rec.salt, SOFTHSM_SALT_LEN) != 1)
		goto out;
	if ((r = make_verifier(role, h->st.serial, secret, s.rec.salt, s.rec.verifier)) != 0 ||
	    (r = new_token(&s.token)) != 0)
		goto out;
	s.active = 1;
	memcpy(&h->staged[role], &s, sizeof(s));
	*token = s.token;
	r = 0;
out:
	OPENSSL_cleanse(&s, sizeof(s));
	return r;
}

static void unstage_role(hsm_t *h, enum hsm_role role)
{
	OPENSSL_cleanse(&h->staged[role], sizeof(h->staged[role]));
}

static int staged_ok(const hsm_t *h, enum hsm_role role, uint32_t token)
{
	return h->staged[role].active && token != 0 && h->staged[role].token == token;
}

/* The highest x of k shares (the N recorded for a reused keyset). */
static unsigned max_x(const shamir_share_t *shares, unsigned k)
{
	unsigned i, n = 0;

	for (i = 0; i < k; i++)
		if (shares[i].x > n)
			n = shares[i].x;
	return n;
}

static void wipe_shares(shamir_share_t *shares, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		shamir_share_wipe(&shares[i]);
}

/* ---- roles ----------------------------------------------------------------- */

/* Who may stage a change of a role's secret: init (may_init) or changepw
 * (the role itself logged in, after it presented its current keyset). */
static int may_stage(const hsm_t *h, enum hsm_role role, int change)
{
	if (!change)
		return may_init(h, role);
	if (role_table[role].max_failures == 0)
		return PED_E_INVAL;
	if (!h->st.roles[role].initialized)
		return PED_E_NOT_INITIALIZED;
	return logged(h, role) ? 0 : PED_E_NOT_LOGGED_IN;
}

static int role_begin(hsm_t *h, enum hsm_role role, unsigned m, unsigned n,
		      shamir_share_t *shares, uint8_t *keyset_id, uint32_t *token, int change)
{
	uint8_t secret[HSM_ROLE_SECRET_LEN];
	int r = PED_E_INVAL;

	if (token != NULL)
		*token = 0;
	if (h == NULL || !role_ok(role) || shares == NULL || token == NULL)
		goto out;
	r = PED_E_RANGE;
	if (m < 1 || m > n || n > SHAMIR_MAX_N)
		goto out;
	wipe_shares(shares, n);
	if ((r = may_stage(h, role, change)) != 0)
		goto out;
	r = PED_E_CRYPTO;
	if (RAND_priv_bytes(secret, sizeof(secret)) != 1)
		goto out;
	if ((r = shamir_split(secret, sizeof(secret), m, n, shares)) != 0)
		goto out;
	if ((r = stage_role(h, role, secret, m, n, NULL, token)) != 0) {
		wipe_shares(shares, n);
		goto out;
	}
	h->staged[role].change = change;
	if (keyset_id != NULL)
		memcpy(keyset_id, h->staged[role].rec.keyset_id, HSM_KEYSET_ID_LEN);
	r = 0;
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	return r;
}

static int role_reuse(hsm_t *h, enum hsm_role role, const shamir_share_t *shares, unsigned k,
		      const uint8_t *keyset_id, uint32_t *token, int change)
{
	uint8_t secret[SHAMIR_MAX_SECRET];
	int r = PED_E_INVAL;

	if (token != NULL)
		*token = 0;
	if (h == NULL || !role_ok(role) || shares == NULL || token == NULL || k > SHAMIR_MAX_N)
		goto out;
	if ((r = may_stage(h, role, change)) != 0)
		goto out;
	r = PED_E_SHARE_FEW;
	if (k == 0)
		goto out;
	r = PED_E_SHARE_BAD;
	if (shares[0].len != HSM_ROLE_SECRET_LEN)
		goto out;
	if ((r = shamir_combine(shares, k, secret, sizeof(secret))) != 0)
		goto out;
	if ((r = stage_role(h, role, secret, shares[0].m, max_x(shares, k), keyset_id, token)) == 0)
		h->staged[role].change = change;
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	return r;
}

int hsm_role_init_begin(hsm_t *h, enum hsm_role role, unsigned m, unsigned n,
			shamir_share_t *shares, uint8_t *keyset_id, uint32_t *token)
{
	return role_begin(h, role, m, n, shares, keyset_id, token, 0);
}

int hsm_role_init_reuse(hsm_t *h, enum hsm_role role, const shamir_share_t *shares,
			unsigned k, const uint8_t *keyset_id, uint32_t *token)
{
	return role_reuse(h, role, shares, k, keyset_id, token, 0);
}

int hsm_role_change_begin(hsm_t *h, enum hsm_role role, unsigned m, unsigned n,
			  shamir_share_t *shares, uint8_t *keyset_id, uint32_t *token)
{
	return role_begin(h, role, m, n, shares, keyset_id, token, 1);
}

int hsm_role_change_reuse(hsm_t *h, enum hsm_role role, const shamir_share_t *shares,
			  unsigned k, const uint8_t *keyset_id, uint32_t *token)
{
	return role_reuse(h, role, shares, k, keyset_id, token, 1);
}

int hsm_role_change_commit(hsm_t *h, enum hsm_role role, uint32_t token)
{
	struct softhsm_state next;
	int r = PED_E_INVAL;

	if (h == NULL || !role_ok(role))
		goto out;
	r = PED_E_BAD_REQUEST;
	if (!staged_ok(h, role, token) || !h->staged[role].change)
		goto out;
	if ((r = may_stage(h, role, 1)) != 0)
		goto out;
	memcpy(&next, &h->st, sizeof(next));
	memcpy(&next.roles[role], &h->staged[role].rec, sizeof(next.roles[role]));
	deactivate(h, &next, role); /* activation caches the old secret */
	if ((r = commit_state(h, &next)) != 0)
		goto out;
	unstage_role(h, role); /* the role stays logged in */
out:
	OPENSSL_cleanse(&next, sizeof(next));
	return r;
}

int hsm_role_init_commit(hsm_t *h, enum hsm_role role, uint32_t token)
{
	struct softhsm_state next;
	int r = PED_E_INVAL;

	if (h == NULL || (role != HSM_ROLE_CO && role != HSM_ROLE_CU && role != HSM_ROLE_AU &&
			  role != HSM_ROLE_LCO))
		goto out;
	r = PED_E_BAD_REQUEST;
	if (!staged_ok(h, role, token) || h->staged[role].change)
		goto out;
	if ((r = may_init(h, role)) != 0)
		goto out;
	memcpy(&next, &h->st, sizeof(next));
	memcpy(&next.roles[role], &h->staged[role].rec, sizeof(next.roles[role]));
	/* a new (or reset) role: no challenge, no activation */
	deactivate(h, &next, role);
	if (role == HSM_ROLE_CO)
		OPENSSL_cleanse(&next.chal[0], sizeof(next.chal[0]));
	else if (role == HSM_ROLE_CU)
		OPENSSL_cleanse(&next.chal[1], sizeof(next.chal[1]));
	if ((r = commit_state(h, &next)) != 0)
		goto out;
	h->logged_in &= ~ROLE_BIT(role);
	unstage_role(h, role);
out:
	return r;
}

void hsm_role_init_abort(hsm_t *h, enum hsm_role role)
{
	if (h != NULL && role_ok(role))
		unstage_role(h, role);
}

static int label_ok(const char *label)
{
	size_t n;

	if (label == NULL)
		return 0;
	n = strnlen(label, HSM_LABEL_MAX + 1);
	return n >= 1 && n <= HSM_LABEL_MAX && printable((const uint8_t *)label, n);
}

static void clear_role(struct softhsm_state *st, enum hsm_role role)
{
	OPENSSL_cleanse(&st->roles[role], sizeof(st->roles[role]));
}

/* What a zeroized HSM keeps: serial, static key, RPV and PED public key. */
static void zeroize_hsm(struct softhsm_state *st)
{
	unsigned i;

	st->flags &= SOFTHSM_F_RPV;
	memset(st->label, 0, sizeof(st->label));
	memset(st->plabel, 0, sizeof(st->plabel));
	for (i = 0; i < HSM_ROLE_COUNT; i++)
		clear_role(st, (enum hsm_role)i);
	st->policies = 0;
	OPENSSL_cleanse(st->chal, sizeof(st->chal));
	st->active = 0;
	st->active_at = 0;
}

static void zeroize_partition(struct softhsm_state *st)
{
	st->policies = 0;
	OPENSSL_cleanse(st->chal, sizeof(st->chal));
	st->active = 0;
	st->active_at = 0;
	st->flags &= (uint8_t)~SOFTHSM_F_PARTITION;
	memset(st->plabel, 0, sizeof(st->plabel));
	clear_role(st, HSM_ROLE_PO);
	clear_role(st, HSM_ROLE_PDOMAIN);
	clear_role(st, HSM_ROLE_CO);
	clear_role(st, HSM_ROLE_CU);
	clear_role(st, HSM_ROLE_LCO);
}

int hsm_init(hsm_t *h, const char *label, uint32_t so_token, uint32_t domain_token)
{
	struct softhsm_state next;
	unsigned i;
	int r = PED_E_INVAL;

	if (h == NULL || !label_ok(label))
		goto out;
	r = PED_E_BAD_REQUEST;
	if (!staged_ok(h, HSM_ROLE_SO, so_token) || !staged_ok(h, HSM_ROLE_DOMAIN, domain_token))
		goto out;
	if ((r = may_init(h, HSM_ROLE_SO)) != 0)
		goto out;
	memcpy(&next, &h->st, sizeof(next));
	zeroize_hsm(&next);
	next.flags |= SOFTHSM_F_HSM;
	memcpy(next.label, label, strlen(label));
	next.roles[HSM_ROLE_SO] = h->staged[HSM_ROLE_SO].rec;
	next.roles[HSM_ROLE_DOMAIN] = h->staged[HSM_ROLE_DOMAIN].rec;
	if ((r = commit_state(h, &next)) != 0)
		goto out;
	h->logged_in = 0;
	h->activated = 0;
	for (i = 0; i < HSM_ROLE_COUNT; i++)
		unstage_role(h, (enum hsm_role)i);
out:
	return r;
}

int hsm_partition_init(hsm_t *h, const char *label, uint32_t po_token, uint32_t pdomain_token)
{
	struct softhsm_state next;
	int r = PED_E_INVAL;

	if (h == NULL || !label_ok(label))
		goto out;
	r = PED_E_BAD_REQUEST;
	if (!staged_ok(h, HSM_ROLE_PO, po_token) ||
	    !staged_ok(h, HSM_ROLE_PDOMAIN, pdomain_token))
		goto out;
	if ((r = may_init(h, HSM_ROLE_PO)) != 0)
		goto out;
	memcpy(&next, &h->st, sizeof(next));
	zeroize_partition(&next);
	next.flags |= SOFTHSM_F_PARTITION;
	memcpy(next.plabel, label, strlen(label));
	next.roles[HSM_ROLE_PO] = h->staged[HSM_ROLE_PO].rec;
	next.roles[HSM_ROLE_PDOMAIN] = h->staged[HSM_ROLE_PDOMAIN].rec;
	if ((r = commit_state(h, &next)) != 0)
		goto out;
	h->logged_in &= ~(ROLE_BIT(HSM_ROLE_CO) | ROLE_BIT(HSM_ROLE_CU) | ROLE_BIT(HSM_ROLE_LCO));
	h->logged_in |= ROLE_BIT(HSM_ROLE_PO);
	h->activated = 0;
	unstage_role(h, HSM_ROLE_PO);
	unstage_role(h, HSM_ROLE_PDOMAIN);
	unstage_role(h, HSM_ROLE_CO);
	unstage_role(h, HSM_ROLE_CU);
	unstage_role(h, HSM_ROLE_LCO);
out:
	return r;
}

/* The lockout action once a role has used up its attempts: SO zeroizes the
 * HSM, PO the partition; CO, CU, LCO and AU stay locked by their counter. */
static int lockout(hsm_t *h, enum hsm_role role)
{
	struct softhsm_state next;
	unsigned i;
	int r = 0;

	if (role != HSM_ROLE_SO && role != HSM_ROLE_PO)
		return 0;
	memcpy(&next, &h->st, sizeof(next));
	if (role == HSM_ROLE_SO)
		zeroize_hsm(&next);
	else
		zeroize_partition(&next);
	if ((r = commit_state(h, &next)) != 0)
		return r;
	if (role == HSM_ROLE_SO) {
		h->logged_in = 0;
		h->activated = 0;
		for (i = 0; i < HSM_ROLE_COUNT; i++)
			unstage_role(h, (enum hsm_role)i);
		hsm_rpv_init_abort(h);
	} else {
		h->logged_in &= ~(ROLE_BIT(HSM_ROLE_PO) | ROLE_BIT(HSM_ROLE_CO) |
				  ROLE_BIT(HSM_ROLE_CU) | ROLE_BIT(HSM_ROLE_LCO));
		unstage_role(h, HSM_ROLE_CO);
		unstage_role(h, HSM_ROLE_CU);
		unstage_role(h, HSM_ROLE_LCO);
		h->activated = 0;
	}
	return 0;
}

/* ---- activation (partition policies 22 and 23) ---------------------------- */

/* 0 for CO, 1 for CU, -1 for the others */
static int act_idx(enum hsm_role role)
{
	return role == HSM_ROLE_CO ? 0 : role == HSM_ROLE_CU ? 1 : -1;
}

static const struct softhsm_chal *chal_of(const hsm_t *h, enum hsm_role role)
{
	int i = act_idx(role);

	return i < 0 ? NULL : &h->st.chal[i];
}

static uint64_t now_s(void)
{
	time_t t = time(NULL);

	return t > 0 ? (uint64_t)t : 0;
}

/* A PED-key login of role activates it when policy 22 is on and it has a
 * challenge; with policy 23 the activation goes into next (with the time). */
static void activate(const hsm_t *h, struct softhsm_state *next, enum hsm_role role)
{
	int i = act_idx(role);

	if (i < 0 || !h->st.chal[i].set || !(h->st.policies & SOFTHSM_P_ACTIVATION) ||
	    !(h->st.policies & SOFTHSM_P_AUTOACT))
		return;
	next->active |= (uint8_t)(1u << i);
	next->active_at = now_s();
}

/* Drops role's activation from the handle and from next. */
static void deactivate(hsm_t *h, struct softhsm_state *next, enum hsm_role role)
{
	int i = act_idx(role);

	h->activated &= ~ROLE_BIT(role);
	if (i < 0)
		return;
	next->active &= (uint8_t)~(1u << i);
	if (next->active == 0)
		next->active_at = 0;
}

/* Challenge rules: 7 to 255 printable ASCII characters, no space. */
static int challenge_ok(const char *s, size_t len)
{
	size_t i;

	if (s == NULL || len < HSM_CHALLENGE_MIN || len > HSM_CHALLENGE_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return 0;
	return 1;
}

static int challenge_hash(const hsm_t *h, enum hsm_role role, const char *s, size_t len,
			  const uint8_t salt[SOFTHSM_CHAL_SALT_LEN],
			  uint8_t out[SOFTHSM_CHAL_HASH_LEN])
{
	uint8_t full[SOFTHSM_CHAL_SALT_LEN + 9];

	/* PBKDF2-HMAC-SHA-256 over salt || role || serial, so that one
	 * challenge on two roles or two HSMs hashes differently */
	memcpy(full, salt, SOFTHSM_CHAL_SALT_LEN);
	full[SOFTHSM_CHAL_SALT_LEN] = (uint8_t)role;
	pbuf_be64(full + SOFTHSM_CHAL_SALT_LEN + 1, h->st.serial);
	if (PKCS5_PBKDF2_HMAC(s, (int)len, full, sizeof(full), HSM_CHALLENGE_ITER, EVP_sha256(),
			      SOFTHSM_CHAL_HASH_LEN, out) != 1) {
		OPENSSL_cleanse(out, SOFTHSM_CHAL_HASH_LEN);
		return PED_E_CRYPTO;
	}
	return 0;
}

int hsm_policy_set(hsm_t *h, unsigned policy, int value)
{
	struct softhsm_state next;
	uint8_t bit;
	int r = PED_E_INVAL;

	if (h == NULL || (policy != 22 && policy != 23) || (value != 0 && value != 1))
		goto out;
	r = PED_E_NOT_INITIALIZED;
	if (!(h->st.flags & SOFTHSM_F_PARTITION))
		goto out;
	r = PED_E_NOT_LOGGED_IN;
	if (!logged(h, HSM_ROLE_PO))
		goto out;
	bit = policy == 22 ? SOFTHSM_P_ACTIVATION : SOFTHSM_P_AUTOACT;
	memcpy(&next, &h->st, sizeof(next));
	if (value)
		next.policies |= bit;
	else
		next.policies &= (uint8_t)~bit;
	if (!(next.policies & SOFTHSM_P_ACTIVATION)) {
		deactivate(h, &next, HSM_ROLE_CO);
		deactivate(h, &next, HSM_ROLE_CU);
	}
	if (!(next.policies & SOFTHSM_P_AUTOACT)) {
		next.active = 0;
		next.active_at = 0;
	}
	r = commit_state(h, &next);
out:
	return r;
}

int hsm_challenge_set(hsm_t *h, enum hsm_role role, const char *secret, size_t len)
{
	struct softhsm_state next;
	struct softhsm_chal c;
	int r = PED_E_INVAL, i;

	memset(&c, 0, sizeof(c));
	if (h == NULL || (i = act_idx(role)) < 0)
		goto out;
	r = PED_E_CHALLENGE_BAD;
	if (!challenge_ok(secret, len))
		goto out;
	r = PED_E_NOT_INITIALIZED;
	if (!h->st.roles[role].initialized)
		goto out;
	r = PED_E_NOT_LOGGED_IN;
	if (!logged(h, role == HSM_ROLE_CO ? HSM_ROLE_PO : HSM_ROLE_CO))
		goto out;
	r = PED_E_CRYPTO;
	c.set = 1;
	if (RAND_bytes(c.salt, sizeof(c.salt)) != 1 ||
	    (r = challenge_hash(h, role, secret, len, c.salt, c.hash)) != 0)
		goto out;
	memcpy(&next, &h->st, sizeof(next));
	next.chal[i] = c;
	deactivate(h, &next, role); /* a new challenge needs a new PED login */
	r = commit_state(h, &next);
out:
	OPENSSL_cleanse(&c, sizeof(c));
	return r;
}

int hsm_role_deactivate(hsm_t *h, enum hsm_role role)
{
	struct softhsm_state next;

	if (h == NULL || act_idx(role) < 0)
		return PED_E_INVAL;
	memcpy(&next, &h->st, sizeof(next));
	deactivate(h, &next, role);
	if (next.active == h->st.active) {
		OPENSSL_cleanse(&next, sizeof(next));
		return 0;
	}
	return commit_state(h, &next);
}

int hsm_role_login_challenge(hsm_t *h, enum hsm_role role, const char *secret, size_t len,
			     unsigned *remaining)
{
	struct softhsm_state next;
	uint8_t v[SOFTHSM_CHAL_HASH_LEN];
	const struct softhsm_chal *c;
	unsigned max;
	int r = PED_E_INVAL, match;

	if (remaining != NULL)
		*remaining = 0;
	if (h == NULL || act_idx(role) < 0 || secret == NULL)
		goto out;
	max = role_table[role].max_failures;
	h->logged_in &= ~ROLE_BIT(role);
	c = chal_of(h, role);
	r = PED_E_NOT_INITIALIZED;
	if (!h->st.roles[role].initialized)
		goto out;
	r = PED_E_PIN_LOCKED;
	if (h->st.roles[role].failures >= max)
		goto out;
	r = PED_E_NOT_ACTIVATED;
	if (!(h->st.policies & SOFTHSM_P_ACTIVATION) || !c->set ||
	    !(h->activated & ROLE_BIT(role)))
		goto out;
	if (remaining != NULL)
		*remaining = max - h->st.roles[role].failures;
	/* counted like a PED-key login: the counter is written first */
	memcpy(&next, &h->st, sizeof(next));
	next.roles[role].failures++;
	if ((r = commit_state(h, &next)) != 0)
		goto out;
	if ((r = challenge_hash(h, role, secret, len, c->salt, v)) != 0)
		goto out;
	match = challenge_ok(secret, len) && CRYPTO_memcmp(v, c->hash, sizeof(v)) == 0;
	memcpy(&next, &h->st, sizeof(next));
	if (match) {
		next.roles[role].failures = 0;
		if ((r = commit_state(h, &next)) != 0)
			goto out;
		h->logged_in |= ROLE_BIT(role);
		if (remaining != NULL)
			*remaining = max;
		r = 0;
		goto out;
	}
	if (remaining != NULL)
		*remaining = max - h->st.roles[role].failures;
	if (h->st.roles[role].failures >= max) {
		deactivate(h, &next, role); /* locked: the activation goes too */
		if ((r = commit_state(h, &next)) != 0)
			goto out;
	} else {
		OPENSSL_cleanse(&next, sizeof(next));
	}
	r = PED_E_PIN_INCORRECT;
out:
	OPENSSL_cleanse(v, sizeof(v));
	return r;
}

/* The shape checks of a login, before the attempt counts. */
static int check_login_shares(const struct softhsm_role *rec, const shamir_share_t *shares,
			      unsigned k)
{
	unsigned i, j;

	if (k == 0)
		return PED_E_SHARE_FEW;
	for (i = 0; i < k; i++)
		if (shares[i].m != rec->m || shares[i].len != HSM_ROLE_SECRET_LEN ||
		    shares[i].x < 1 || shares[i].x > SHAMIR_MAX_N)
			return PED_E_SHARE_BAD;
	for (i = 0; i < k; i++)
		for (j = i + 1; j < k; j++)
			if (shares[i].x == shares[j].x)
				return PED_E_SHARE_DUP;
	return k < rec->m ? PED_E_SHARE_FEW : 0;
}

int hsm_role_login(hsm_t *h, enum hsm_role role, const shamir_share_t *shares, unsigned k,
		   unsigned *remaining)
{
	struct softhsm_state next;
	uint8_t secret[SHAMIR_MAX_SECRET], v[SOFTHSM_VERIFIER_LEN];
	const struct softhsm_role *rec;
	unsigned max;
	int r = PED_E_INVAL, match;

	if (remaining != NULL)
		*remaining = 0;
	if (h == NULL || !role_ok(role) || shares == NULL || k > SHAMIR_MAX_N ||
	    (max = role_table[role].max_failures) == 0)
		goto out;
	h->logged_in &= ~ROLE_BIT(role);
	rec = &h->st.roles[role];
	r = PED_E_NOT_INITIALIZED;
	if (!rec->initialized)
		goto out;
	if (rec->failures >= max) {
		/* a crash between the counter and the action: act now */
		if ((r = lockout(h, role)) == 0)
			r = PED_E_PIN_LOCKED;
		goto out;
	}
	if (remaining != NULL)
		*remaining = max - rec->failures;
	if ((r = check_login_shares(rec, shares, k)) != 0)
		goto out;

	/* From here the attempt counts. The counter is written first, so that
	 * killing the process after a failed check cannot save an attempt. */
	memcpy(&next, &h->st, sizeof(next));
	next.roles[role].failures++;
	if ((r = commit_state(h, &next)) != 0)
		goto out;
	rec = &h->st.roles[role];
	if ((r = shamir_combine(shares, k, secret, sizeof(secret))) != 0 ||
	    (r = make_verifier(role, h->st.serial, secret, rec->salt, v)) != 0)
		goto out;
	match = CRYPTO_memcmp(v, rec->verifier, sizeof(v)) == 0;
	if (match) {
		memcpy(&next, &h->st, sizeof(next));
		next.roles[role].failures = 0;
		activate(h, &next, role);
		if ((r = commit_state(h, &next)) != 0)
			goto out;
		h->logged_in |= ROLE_BIT(role);
		if (chal_of(h, role) != NULL && chal_of(h, role)->set &&
		    (h->st.policies & SOFTHSM_P_ACTIVATION))
			h->activated |= ROLE_BIT(role);
		if (remaining != NULL)
			*remaining = max;
		r = 0;
		goto out;
	}
	if (remaining != NULL)
		*remaining = max - rec->failures;
	if (rec->failures >= max && (r = lockout(h, role)) != 0)
		goto out;
	r = PED_E_PIN_INCORRECT;
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(v, sizeof(v));
	return r;
}

void hsm_role_logout(hsm_t *h)
{
	if (h != NULL)
		h->logged_in = 0;
}

/* ---- RPV ----------------------------------------------------------------- */

static int stage_rpv(hsm_t *h, const uint8_t *rpv, const ecp_key_t *ped, uint32_t *token)
{
	struct staged_rpv s;
	int r;

	memset(&s, 0, sizeof(s));
	memcpy(s.rpv, rpv, HSM_RPV_LEN);
	if ((r = ecp_export_public(ped, s.ped_pub)) != 0 || (r = new_token(&s.token)) != 0)
		goto out;
	s.active = 1;
	memcpy(&h->staged_rpv, &s, sizeof(s));
	*token = s.token;
out:
	OPENSSL_cleanse(&s, sizeof(s));
	return r;
}

int hsm_rpv_init_begin(hsm_t *h, unsigned m, unsigned n, shamir_share_t *shares,
		       uint32_t *token)
{
	uint8_t secret[HSM_RPK_SECRET_LEN];
	ecp_key_t *ped = NULL;
	int r = PED_E_INVAL;

	if (token != NULL)
		*token = 0;
	if (h == NULL || shares == NULL || token == NULL)
		goto out;
	r = PED_E_RANGE;
	if (m < 1 || m > n || n > SHAMIR_MAX_N)
		goto out;
	wipe_shares(shares, n);
	if ((r = may_init_rpv(h)) != 0)
		goto out;
	r = PED_E_CRYPTO;
	if (RAND_priv_bytes(secret, HSM_RPV_LEN) != 1)
		goto out;
	if ((r = ecp_generate(&ped)) != 0 ||
	    (r = ecp_export_private(ped, secret + HSM_RPV_LEN)) != 0)
		goto out;
	if ((r = shamir_split(secret, sizeof(secret), m, n, shares)) != 0)
		goto out;
	if ((r = stage_rpv(h, secret, ped, token)) != 0)
		wipe_shares(shares, n);
out:
	ecp_free(ped);
	OPENSSL_cleanse(secret, sizeof(secret));
	return r;
}

/* The orange keyset's secret RPV || d_PED from k shares, and d_PED's key. A
 * wrong PIN gives random bytes: the scalar is then out of range with
 * probability 1 - 2^-7 (the top byte of d must be 0 or 1): bad_scalar. */
static int combine_rpk(const shamir_share_t *shares, unsigned k, int bad_scalar,
		       uint8_t secret[SHAMIR_MAX_SECRET], ecp_key_t **ped)
{
	int r;

	if (shares == NULL || k > SHAMIR_MAX_N)
		return PED_E_INVAL;
	if (k == 0)
		return PED_E_SHARE_FEW;
	if (shares[0].len != HSM_RPK_SECRET_LEN)
		return PED_E_SHARE_BAD;
	if ((r = shamir_combine(shares, k, secret, SHAMIR_MAX_SECRET)) != 0)
		return r;
	if (ecp_from_private(secret + HSM_RPV_LEN, ECP_PRIV_LEN, ped) != 0)
		return bad_scalar;
	return 0;
}

int hsm_rpv_init_reuse(hsm_t *h, const shamir_share_t *shares, unsigned k, uint32_t *token)
{
	uint8_t secret[SHAMIR_MAX_SECRET];
	ecp_key_t *ped = NULL;
	int r = PED_E_INVAL;

	if (token != NULL)
		*token = 0;
	if (h == NULL || token == NULL)
		goto out;
	if ((r = may_init_rpv(h)) != 0 ||
	    (r = combine_rpk(shares, k, PED_E_PIN_INCORRECT, secret, &ped)) != 0)
		goto out;
	r = stage_rpv(h, secret, ped, token);
out:
	ecp_free(ped);
	OPENSSL_cleanse(secret, sizeof(secret));
	return r;
}

int hsm_rpv_init_commit(hsm_t *h, uint32_t token)
{
	struct softhsm_state next;
	int r = PED_E_INVAL;

	if (h == NULL)
		goto out;
	r = PED_E_BAD_REQUEST;
	if (!h->staged_rpv.active || token == 0 || h->staged_rpv.token != token)
		goto out;
	if ((r = may_init_rpv(h)) != 0)
		goto out;
	memcpy(&next, &h->st, sizeof(next));
	memcpy(next.rpv, h->staged_rpv.rpv, HSM_RPV_LEN);
	memcpy(next.ped_pub, h->staged_rpv.ped_pub, ECP_PUB_LEN);
	next.flags |= SOFTHSM_F_RPV;
	if ((r = commit_state(h, &next)) != 0)
		goto out;
	hsm_rpv_init_abort(h);
out:
	return r;
}

void hsm_rpv_init_abort(hsm_t *h)
{
	if (h != NULL)
		OPENSSL_cleanse(&h->staged_rpv, sizeof(h->staged_rpv));
}

int hsm_rpv_verify(hsm_t *h, const shamir_share_t *shares, unsigned k)
{
	uint8_t secret[SHAMIR_MAX_SECRET], pub[ECP_PUB_LEN];
	ecp_key_t *ped = NULL;
	int r = PED_E_INVAL;

	if (h == NULL)
		goto out;
	r = PED_E_NOT_INITIALIZED;
	if (!(h->st.flags & SOFTHSM_F_RPV))
		goto out;
	/* a wrong PIN or another HSM's orange keyset: RPV_MISMATCH */
	if ((r = combine_rpk(shares, k, PED_E_RPV_MISMATCH, secret, &ped)) != 0)
		goto out;
	r = PED_E_RPV_MISMATCH;
	if (ecp_export_public(ped, pub) != 0 ||
	    (CRYPTO_memcmp(secret, h->st.rpv, HSM_RPV_LEN) |
	     CRYPTO_memcmp(pub, h->st.ped_pub, ECP_PUB_LEN)) != 0)
		goto out;
	r = 0;
out:
	ecp_free(ped);
	OPENSSL_cleanse(secret, sizeof(secret));
	return r;
}

/* ---- the proof of the static key (KEX_INIT) ---------------------------------- */

int hsm_key_proof(hsm_t *h, const uint8_t qh_v[static ECP_PUB_LEN],
		  const uint8_t ts[static SESS_TRANSCRIPT_LEN],
		  const uint8_t qe_u[static ECP_PUB_LEN], uint8_t proof[static SESS_PROOF_LEN])
{
	ecp_key_t *qh = NULL;
	unsigned i, slot;
	int r;

	if (h == NULL)
		return PED_E_INVAL;
	for (i = 0; i < h->proof_n && i < PROOF_CACHE; i++)
		if (memcmp(h->proof[i].qh, qh_v, ECP_PUB_LEN) == 0)
			return sess_proof(h->proof[i].kp, ts, qe_u, proof);
	slot = h->proof_n++ % PROOF_CACHE;
	if ((r = ecp_import_public(qh_v, ECP_PUB_LEN, &qh)) == 0 &&
	    (r = sess_proof_key(h->static_key, qh, h->static_pub, qh_v, h->proof[slot].kp)) == 0) {
		memcpy(h->proof[slot].qh, qh_v, ECP_PUB_LEN);
		r = sess_proof(h->proof[slot].kp, ts, qe_u, proof);
	} else {
		OPENSSL_cleanse(&h->proof[slot], sizeof(h->proof[slot]));
		h->proof_n--;
	}
	ecp_free(qh);
	return r;
}

/* ---- one-time password mode ------------------------------------------------ */

static void serial_text(const hsm_t *h, char out[32])
{
	snprintf(out, 32, "%llu", (unsigned long long)h->st.serial);
}

static int pw_hash(const hsm_t *h, const char *pw, size_t len, uint8_t out[32])
{
	uint8_t buf[8 + 64];
	unsigned int n = 0;
	int r;

	if (len > 64)
		return PED_E_INVAL;
	pbuf_be64(buf, h->st.serial);
	memcpy(buf + 8, pw, len);
	r = EVP_Digest(buf, 8 + len, out, &n, EVP_sha256(), NULL) == 1 && n == 32 ? 0
									     : PED_E_CRYPTO;
	OPENSSL_cleanse(buf, sizeof(buf));
	return r;
}

int hsm_pake_fresh(const hsm_t *h, const char *pw, size_t pw_len)
{
	uint8_t d[32];
	int r, used = 0;

	if (h == NULL || pw == NULL)
		return PED_E_INVAL;
	if ((r = pw_hash(h, pw, pw_len, d)) != 0)
		return r;
	for (unsigned i = 0; i < h->pake_used_n && i < PAKE_USED_MAX; i++)
		used |= CRYPTO_memcmp(d, h->pake_used[i], sizeof(d)) == 0;
	OPENSSL_cleanse(d, sizeof(d));
	return used ? PED_E_EXISTS : 0;
}

int hsm_pake_begin(hsm_t *h, const char *pw, size_t pw_len, uint8_t pa[static ECP_PUB_LEN])
{
	char serial[32];
	int r;

	if (h == NULL || pw == NULL)
		return PED_E_INVAL;
	hsm_pake_abort(h);
	if (h->st.flags & SOFTHSM_F_RPV)
		return PED_E_RPV_INITIALIZED;
	if ((r = hsm_pake_fresh(h, pw, pw_len)) != 0)
		return r;
	/* burned from here on, whatever the outcome */
	if ((r = pw_hash(h, pw, pw_len, h->pake_used[h->pake_used_n % PAKE_USED_MAX])) != 0)
		return r;
	h->pake_used_n++;
	serial_text(h, serial);
	return pake_start(KAS_U, pw, pw_len, serial, NULL, 0, &h->pake, pa);
}

int hsm_pake_finish(hsm_t *h, const char *server_name, const uint8_t pb[static ECP_PUB_LEN],
		    const uint8_t *t, size_t t_len, kas_keys_t *out)
{
	char serial[32];

	if (h == NULL || out == NULL)
		return PED_E_INVAL;
	if (h->pake == NULL)
		return PED_E_BAD_REQUEST; /* no attempt under way: the password is burned */
	serial_text(h, serial);
	return pake_finish(&h->pake, KAS_U, serial, h->static_pub, server_name, pb, t, t_len,
			   out);
}

void hsm_pake_abort(hsm_t *h)
{
	if (h != NULL) {
		spake2_free(h->pake);
		h->pake = NULL;
	}
}

/* ---- channel keys ---------------------------------------------------------- */

/* The stored PED-side key, imported, and Zs with it: computed once per
 * stored key (they depend on nothing else), so that a handshake only pays
 * for its ephemeral-ephemeral CDH. */
static int stored_ped(hsm_t *h)
{
	int r;

	if (!(h->st.flags & SOFTHSM_F_RPV))
		return PED_E_NOT_INITIALIZED;
	if (h->ped_key != NULL && memcmp(h->zs_pub, h->st.ped_pub, ECP_PUB_LEN) == 0)
		return 0;
	ecp_free(h->ped_key);
	h->ped_key = NULL;
	if ((r = ecp_import_public(h->st.ped_pub, ECP_PUB_LEN, &h->ped_key)) == 0 &&
	    (r = ecp_cdh(h->static_key, h->ped_key, h->zs)) == 0) {
		memcpy(h->zs_pub, h->st.ped_pub, ECP_PUB_LEN);
		return 0;
	}
	ecp_free(h->ped_key);
	h->ped_key = NULL;
	OPENSSL_cleanse(h->zs, sizeof(h->zs));
	return r;
}

int hsm_chan_prepare(hsm_t *h)
{
	int r;

	if (h == NULL)
		return PED_E_INVAL;
	if (h->ephem_next == NULL && (r = ecp_generate(&h->ephem_next)) != 0)
		return r;
	r = stored_ped(h);
	return r == PED_E_NOT_INITIALIZED ? 0 : r;
}

/* The session's ephemeral: the one made ahead, else a new one. */
static int take_ephemeral(hsm_t *h)
{
	ecp_free(h->ephem);
	h->ephem = h->ephem_next;
	h->ephem_next = NULL;
	return h->ephem != NULL ? 0 : ecp_generate(&h->ephem);
}

int hsm_chan_ephemeral(hsm_t *h, uint8_t pub[static ECP_PUB_LEN])
{
	int r;

	if (h == NULL || pub == NULL)
		return PED_E_INVAL;
	if ((r = take_ephemeral(h)) == 0 && (r = ecp_export_public(h->ephem, pub)) != 0) {
		ecp_free(h->ephem);
		h->ephem = NULL;
	}
	return r;
}

int hsm_channel_keys(hsm_t *h, const struct hsm_chan_params *p, kas_keys_t *out,
		     uint8_t *own_ephem_pub)
{
	struct kas_params kp;
	ecp_key_t *peer_e = NULL, *peer_s = NULL;
	int fu = 0, r = PED_E_INVAL;

	memset(&kp, 0, sizeof(kp));
	if (out != NULL)
		kas_keys_wipe(out);
	if (h == NULL || p == NULL || out == NULL || p->peer_ephem == NULL)
		goto out;
	fu = p->scheme == KAS_FULL_UNIFIED;
	if (!fu && p->scheme != KAS_ONE_PASS)
		goto out;
	if (fu ? p->nonce_v != NULL : (p->nonce_v == NULL || p->peer_static != NULL))
		goto out;
	if (fu && h->ephem == NULL && own_ephem_pub == NULL)
		goto out;
	if (p->use_rpv) {
		r = PED_E_NOT_INITIALIZED;
		if (!(h->st.flags & SOFTHSM_F_RPV))
			goto out;
		kp.secret = h->st.rpv;
		kp.secret_len = HSM_RPV_LEN;
	} else {
		kp.secret = p->secret;
		kp.secret_len = p->secret_len;
	}
	if ((r = ecp_import_public(p->peer_ephem, ECP_PUB_LEN, &peer_e)) != 0)
		goto out;
	kp.scheme = p->scheme;
	kp.own_static = h->static_key;
	kp.context = p->context;
	kp.context_len = p->context_len;
	if (fu) {
		if (p->peer_static != NULL) {
			r = ecp_import_public(p->peer_static, ECP_PUB_LEN, &peer_s);
			kp.peer_static = peer_s;
		} else if ((r = stored_ped(h)) == 0) {
			kp.peer_static = h->ped_key;
			kp.zs = h->zs;
		}
		if (r != 0)
			goto out;
		if (h->ephem == NULL && (r = take_ephemeral(h)) != 0)
			goto out;
		if (own_ephem_pub != NULL && (r = ecp_export_public(h->ephem, own_ephem_pub)) != 0)
			goto out;
		kp.role = KAS_U;
		kp.own_ephem = h->ephem;
		kp.peer_ephem = peer_e;
	} else {
		kp.role = KAS_V;
		kp.peer_ephem = peer_e;
		kp.nonce_v = p->nonce_v;
	}
	r = kas_derive(&kp, out);
out:
	if (fu && h != NULL) {
		ecp_free(h->ephem);
		h->ephem = NULL;
	}
	ecp_free(peer_e);
	ecp_free(peer_s);
	OPENSSL_cleanse(&kp, sizeof(kp));
	return r;
}
