/* flows.c - the pedhsm commands run in pedclient (see flows.h). */
#include "flows.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/atomic.h"
#include "common/audit.h"
#include "common/err.h"
#include "common/log.h"
#include "pedclient/inbound.h"
#include "pedclient/remote.h"
#include "session/pake.h"
#include "common/sys.h"

enum op_kind {
	OP_VECTOR,
	OP_HSM_INIT,
	OP_PART_INIT,
	OP_ROLE_INIT,
	OP_LOGIN,
	OP_CONNECT,
	OP_CHANGEPW /* role changepw: the current keyset, then the new one */
};

struct op;

struct slotrt {
	struct op *op;          /* the PED-bound command running, or NULL */
	remote_t *remote;       /* the session (opening or open), or NULL */
	time_t connected_at;
};

struct flows {
	struct flows_env env;
	struct slotrt slot[SLOTS_MAX];
	void (*closed)(void *arg);
	void *closed_arg;
	int shutting_down;
	unsigned closing;       /* sessions still closing at shutdown */
};

/* A running PED-bound command. */
struct op {
	flows_t *f;
	unsigned slot;
	hsmsock_conn_t *conn;
	enum op_kind kind;
	int phase;                       /* which keyset of the flow (0, 1) */
	int ped_running;                 /* a PED operation is in flight */
	int attended;
	int err;                         /* a failure decided while the PED runs */
	char errmsg[256];
	enum hsm_role role;              /* login / role init */
	enum hsm_role roles[2];          /* staged keysets (init flows) */
	uint32_t tokens[2];
	int rpv_staged;
	uint32_t rpv_token;
	char pw[PAKE_PW_DIGITS + 1];     /* ped connect -password: shown once the
					  * server accepted the hello */
	int rpv_verifying;               /* rotation: reading the current orange keys */
	int rpv_verified;                /* rotation: the current quorum was shown */
	char label[HSM_LABEL_MAX + 1];
	int reset;                       /* role resetpw (OP_ROLE_INIT) */
};

static hsm_t *slot_hsm(const flows_t *f, unsigned slot)
{
	return f->env.slots->hsm[slot];
}

/* ---- small helpers ---- */

/* "-name value" options of a command; NULL if absent. Every word from
 * argv[0] on must be an option with a value among names. */
static int get_opts(int argc, char **argv, const char *const *names, const char **vals,
		    char *why, size_t whylen)
{
	int i, k;

	for (k = 0; names[k] != NULL; k++)
		vals[k] = NULL;
	for (i = 0; i < argc; i += 2) {
		for (k = 0; names[k] != NULL; k++)
			if (strcmp(argv[i], names[k]) == 0)
				break;
		if (names[k] == NULL) {
			snprintf(why, whylen, "unknown option '%.40s'", argv[i]);
			return PED_E_INVAL;
		}
		if (i + 1 >= argc) {
			snprintf(why, whylen, "%s needs a value", names[k]);
			return PED_E_INVAL;
		}
		if (vals[k] != NULL) {
			snprintf(why, whylen, "%s given twice", names[k]);
			return PED_E_INVAL;
		}
		vals[k] = argv[i + 1];
	}
	return 0;
}

static int parse_port(const char *s, int *port)
{
	char *end;
	long v;

	if (s == NULL || s[0] == '\0')
		return PED_E_INVAL;
	v = strtol(s, &end, 10);
	if (*end != '\0' || v < 1 || v > 65535)
		return PED_E_RANGE;
	*port = (int)v;
	return 0;
}

static int valid_host(const char *h)
{
	size_t i, n = strlen(h);

	if (n == 0 || n > 253)
		return 0;
	for (i = 0; i < n; i++) {
		char c = h[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-' || c == ':' || c == '_'))
			return 0;
	}
	return 1;
}

static int valid_label(const char *l)
{
	size_t i, n = strlen(l);

	if (n == 0 || n > HSM_LABEL_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)l[i] < 0x20 || (unsigned char)l[i] > 0x7e)
			return 0;
	return 1;
}

static const char *role_upper(enum hsm_role r)
{
	static const char *const n[HSM_ROLE_COUNT] = {"SO", "DOMAIN", "PO", "PDOMAIN",
						      "CO", "CU", "AU", "LCO"};
	return (unsigned)r < HSM_ROLE_COUNT ? n[r] : "?";
}

static const char *role_desc(enum hsm_role r)
{
	static const char *const n[HSM_ROLE_COUNT] = {
		"HSM Security Officer", "HSM domain", "Partition Security Officer",
		"partition domain", "Crypto Officer", "Crypto User", "Auditor",
		"Limited Crypto Officer"};
	return (unsigned)r < HSM_ROLE_COUNT ? n[r] : "?";
}

/* ---- the audit trail (common/audit.h): names and results, never a share ---- */

static const char *op_name(enum op_kind k)
{
	static const char *const n[] = {"ped vector init", "hsm init", "partition init",
					"role init", "role login", "ped connect"};
	return (unsigned)k < sizeof(n) / sizeof(n[0]) ? n[k] : "?";
}

static const char *op_role(const struct op *o)
{
	return o->kind == OP_LOGIN || o->kind == OP_ROLE_INIT ? role_upper(o->role)
	       : o->kind == OP_VECTOR			       ? "RPV"
							       : NULL;
}

static const char *slot_serial(const flows_t *f, unsigned slot)
{
	return f->env.slots->serial[slot];
}

/* One PED operation's outcome: kind, role, keyset, M/N, key serials, result. */
static void trail_ped_op(const struct op *o, const pedhost_result_t *res)
{
	char ks[2 * LINK_KEYSET_ID_LEN + 1], serials[PEDHOST_MAX_KEYS * 40] = "";
	size_t n = 0;

	for (size_t i = 0; i < LINK_KEYSET_ID_LEN; i++)
		snprintf(ks + 2 * i, 3, "%02x", res->keyset[i]);
	for (size_t i = 0; i < res->count && i < PEDHOST_MAX_KEYS && n < sizeof(serials); i++)
		n += (size_t)snprintf(serials + n, sizeof(serials) - n, "%s%.32s", i ? "," : "",
				      res->shares[i].serial);
	audit_event("ped_op", "slot:u hsm:s command:s role:s kind:s keyset:s m:u n:u "
		    "keys_read:s keys_written:u reused:u result:s", o->slot,
		    slot_serial(o->f, o->slot), op_name(o->kind), op_role(o),
		    link_type_name(res->op), ks, (unsigned)res->m, (unsigned)res->n,
		    res->reused || res->op != LINK_CREATE_KEYSET ? serials : "",
		    (unsigned)res->keys_written, (unsigned)res->reused, ped_errname(res->status));
}

/* ---- ped set defaults ---- */

static void pedset_path(const flows_t *f, unsigned slot, char *out, size_t len)
{
	snprintf(out, len, "%s/slot%u.ped", f->env.statedir, slot);
}

int flows_load_pedset(const char *statedir, unsigned slot, char *host, size_t hostlen,
		      int *port)
{
	char path[4096], text[300], h[300];
	void *data = NULL;
	size_t len = 0;
	long p;
	int r;

	host[0] = '\0';
	*port = 0;
	snprintf(path, sizeof(path), "%s/slot%u.ped", statedir, slot);
	r = atomic_read_file(path, 280, &data, &len);
	if (r == PED_E_NOT_FOUND)
		return 0;
	if (r != 0)
		return r;
	memcpy(text, data, len);
	text[len] = '\0';
	free(data);
	if (sscanf(text, "%255s %ld", h, &p) != 2 || !valid_host(h) || p < 1 || p > 65535)
		return PED_E_PARSE;
	snprintf(host, hostlen, "%s", h);
	*port = (int)p;
	return 0;
}

/* ---- ending a command ---- */

static void op_abort_staged(struct op *o)
{
	hsm_t *h = slot_hsm(o->f, o->slot);
	int i;

	if (o->rpv_staged)
		hsm_rpv_init_abort(h);
	o->rpv_staged = 0;
	for (i = 0; i < 2; i++)
		if (o->tokens[i] != 0) {
			hsm_role_init_abort(h, o->roles[i]);
			o->tokens[i] = 0;
		}
}

static void op_end(struct op *o, int err, const char *fmt, ...)
	PED_PRINTF(3, 4);

static void op_end(struct op *o, int err, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (err != 0)
		op_abort_staged(o);
	audit_event("ceremony", "slot:u hsm:s command:s role:s result:s", o->slot,
		    slot_serial(o->f, o->slot), op_name(o->kind), op_role(o), ped_errname(err));
	if (o->f->slot[o->slot].op == o)
		o->f->slot[o->slot].op = NULL;
	if (err == 0) {
		hsmsock_end(o->conn, 0, NULL);
	} else {
		msg[0] = '\0';
		if (fmt != NULL) {
			va_start(ap, fmt);
			vsnprintf(msg, sizeof(msg), fmt, ap);
			va_end(ap);
		}
		if (msg[0] == '\0')
			snprintf(msg, sizeof(msg), "%s", ped_strerror(err));
		log_info("slot %u: command failed: %s %s", o->slot, ped_errname(err), msg);
		hsmsock_end(o->conn, err, "%s", msg);
	}
	OPENSSL_cleanse(o, sizeof(*o));
	free(o);
}

/* ---- the PED ---- */

static void op_event(void *arg, const pedhost_event_t *ev);
static void op_result(void *arg, const pedhost_result_t *res);

static void op_cancel_ped(struct op *o)
{
	struct slotrt *s = &o->f->slot[o->slot];

	if (!o->ped_running)
		return;
	if (s->remote != NULL && remote_is_open(s->remote))
		remote_cancel(s->remote);
	else if (o->f->env.lped != NULL)
		lped_cancel(o->f->env.lped);
}

/* Starts req on the slot's PED; 0 or an error with the message set. */
static int op_ped(struct op *o, const struct pedreq *req)
{
	struct slotrt *s = &o->f->slot[o->slot];
	struct pedport_owner owner = {op_event, op_result, o};
	int r;

	if (!o->attended) {
		hsmsock_line(o->conn, "attend", NULL);
		o->attended = 1;
	}
	if (s->remote != NULL && remote_is_open(s->remote))
		r = remote_start(s->remote, req, &owner);
	else if (o->f->env.lped != NULL)
		r = lped_start(o->f->env.lped, slot_hsm(o->f, o->slot), req, &owner);
	else
		r = PED_E_UNPLUGGED;
	if (r == 0)
		o->ped_running = 1;
	return r;
}

static int op_send_shares(struct op *o, const uint8_t keyset[LINK_KEYSET_ID_LEN],
			  const shamir_share_t *shares, unsigned n)
{
	struct slotrt *s = &o->f->slot[o->slot];

	if (s->remote != NULL && remote_is_open(s->remote))
		return remote_send_shares(s->remote, keyset, shares, n);
	if (o->f->env.lped != NULL)
		return lped_send_shares(o->f->env.lped, keyset, shares, n);
	return PED_E_UNPLUGGED;
}

static const char *no_ped_msg(int err)
{
	switch (err) {
	case PED_E_UNPLUGGED: return "no PED: use ped connect";
	case PED_E_PED_BUSY: return "the PED is busy with another operation";
	default: return NULL;
	}
}

static void op_start_failed(struct op *o, int r)
{
	const char *m = no_ped_msg(r);

	op_end(o, r, "%s", m != NULL ? m : ped_strerror(r));
}

static void op_gone(void *arg)
{
	struct op *o = arg;

	/* the console hung up: cancel; the RESULT ends the command */
	if (o->err == 0) {
		o->err = PED_E_HOST_CANCELLED;
		snprintf(o->errmsg, sizeof(o->errmsg), "the console went away");
	}
	op_cancel_ped(o);
}

static void op_event(void *arg, const pedhost_event_t *ev)
{
	struct op *o = arg;
	char line[PEDHOST_STR * 2];
	size_t used = 0;
	unsigned i;

	if (ev->kind == LINK_EV_KEY_WRITTEN)
		audit_event("ped_key_written", "slot:u hsm:s command:s role:s serial:s k:u n:u",
			    o->slot, slot_serial(o->f, o->slot), op_name(o->kind), op_role(o),
			    ev->serial, (unsigned)ev->k, (unsigned)ev->n);
	switch (ev->kind) {
	case LINK_EV_PROMPT:
		line[0] = '\0';
		for (i = 0; i < ev->nlines && i < 8; i++) {
			const char *t = ev->lines[i];
			size_t n = strlen(t);
			while (n > 0 && t[n - 1] == ' ')
				n--;
			while (n > 0 && *t == ' ')
				t++, n--;
			if (n == 0)
				continue;
			used += (size_t)snprintf(line + used, sizeof(line) - used, "%s%.*s",
						 used ? " | " : "", (int)n, t);
			if (used >= sizeof(line))
				break;
		}
		if (line[0] != '\0')
			hsmsock_line(o->conn, "ped", "%s", line);
		break;
	case LINK_EV_KEYS_READ:
		hsmsock_line(o->conn, "ped", "Keys read %02u of %02u", ev->k, ev->m);
		break;
	case LINK_EV_KEY_WRITTEN:
		hsmsock_line(o->conn, "ped", "Key written %02u of %02u (PED key serial %s)", ev->k,
			     ev->n, ev->serial);
		break;
	case LINK_EV_NEED_SHARES: {
		hsm_t *h = slot_hsm(o->f, o->slot);
		shamir_share_t *sh = calloc(SHAMIR_MAX_N, sizeof(*sh));
		uint8_t keyset[LINK_KEYSET_ID_LEN];
		unsigned m = ev->m, n = ev->n, k;
		int r;

		hsmsock_line(o->conn, "ped", "Creating a %u of %u keyset", m, n);
		if (o->kind == OP_LOGIN || o->kind == OP_CONNECT ||
		    (o->kind == OP_CHANGEPW && o->phase == 0) ||
		    (o->kind == OP_VECTOR ? o->rpv_staged : o->tokens[o->phase] != 0)) {
			/* only a CREATE_KEYSET asks, and once */
			r = PED_E_BAD_REQUEST;
		} else if (sh == NULL) {
			r = PED_E_NOMEM;
		} else if (o->kind == OP_VECTOR) {
			r = hsm_rpv_init_begin(h, m, n, sh, &o->rpv_token);
			if (r == 0) {
				o->rpv_staged = 1;
				if (RAND_bytes(keyset, sizeof(keyset)) != 1)
					r = PED_E_CRYPTO;
			}
		} else if (o->kind == OP_CHANGEPW) {
			r = hsm_role_change_begin(h, o->roles[o->phase], m, n, sh, keyset,
						  &o->tokens[o->phase]);
		} else {
			r = hsm_role_init_begin(h, o->roles[o->phase], m, n, sh, keyset,
						&o->tokens[o->phase]);
		}
		if (r == 0)
			r = op_send_shares(o, keyset, sh, n);
		if (sh != NULL) {
			for (k = 0; k < SHAMIR_MAX_N; k++)
				shamir_share_wipe(&sh[k]);
			free(sh);
		}
		if (r != 0 && o->err == 0) {
			o->err = r;
			snprintf(o->errmsg, sizeof(o->errmsg), "cannot make the %s keyset: %s",
				 o->kind == OP_VECTOR ? "orange" : role_desc(o->roles[o->phase]),
				 ped_strerror(r));
			op_cancel_ped(o);
		}
		break;
	}
	default:
		break;
	}
}

/* The shares of a RESULT, decoded (k of them). */
static int decode_shares(const pedhost_result_t *res, shamir_share_t *sh, unsigned *k)
{
	pbuf_t b;
	unsigned i;
	int r;

	*k = 0;
	if (res->count == 0 || res->count > PEDHOST_MAX_KEYS)
		return PED_E_SHARE_FEW;
	for (i = 0; i < res->count; i++) {
		if (res->shares[i].wrap != 0)
			return PED_E_UNWRAP;
		pbuf_from(&b, res->shares[i].data, res->shares[i].len);
		if ((r = shamir_share_decode(&b, &sh[i])) != 0 || (r = pbuf_expect_end(&b)) != 0)
			return r == PED_E_INCOMPLETE ? PED_E_SHARE_BAD : r;
	}
	*k = res->count;
	return 0;
}

static void next_step(struct op *o);

static void login_done(struct op *o, shamir_share_t *sh, unsigned k)
{
	hsm_t *h = slot_hsm(o->f, o->slot);
	unsigned remaining = 0;
	struct hsm_info info;
	int r;

	r = hsm_role_login(h, o->role, sh, k, &remaining);
	if (r == 0 && o->kind == OP_CHANGEPW) {
		log_info("slot %u: %s changepw: current keyset verified", o->slot,
			 role_desc(o->role));
		hsmsock_line(o->conn, "out", "Current %s keyset verified; now the new one.",
			     role_upper(o->role));
		o->phase++;
		next_step(o);
	} else if (r == 0) {
		hsmsock_line(o->conn, "out", "%s logged in.", role_desc(o->role));
		if (hsm_info(h, &info) == 0 && info.roles[o->role].activated)
			hsmsock_line(o->conn, "out", "%s activated: role login -name %s -password "
						    "works without PED keys.",
				     role_desc(o->role), hsm_role_name(o->role));
		log_info("slot %u: %s logged in", o->slot, role_desc(o->role));
		op_end(o, 0, NULL);
	} else if (r == PED_E_PIN_INCORRECT) {
		log_warning("slot %u: %s login failed (%u attempts left)", o->slot,
			    role_desc(o->role), remaining);
		if (remaining > 0)
			op_end(o, r, "wrong PIN or wrong PED key; %u login attempt%s left before %s",
			       remaining, remaining == 1 ? "" : "s",
			       o->role == HSM_ROLE_SO	? "the HSM is zeroized"
			       : o->role == HSM_ROLE_PO ? "the partition is zeroized"
							: "the role is locked");
		else if (o->role == HSM_ROLE_SO && hsm_info(h, &info) == 0 && !info.initialized)
			op_end(o, r, "wrong PIN or wrong PED key; too many failed SO logins: the "
				     "HSM was zeroized");
		else
			op_end(o, r, "wrong PIN or wrong PED key; no login attempts left");
	} else if (r == PED_E_SHARE_DUP) {
		op_end(o, r, "the same PED key was presented twice");
	} else {
		op_end(o, r, "%s login: %s", role_upper(o->role), ped_strerror(r));
	}
}

static void op_result(void *arg, const pedhost_result_t *res)
{
	struct op *o = arg;
	hsm_t *h = slot_hsm(o->f, o->slot);
	shamir_share_t *sh = NULL;
	unsigned k = 0, i;
	int r = res->status;

	o->ped_running = 0;
	trail_ped_op(o, res);
	if (o->err != 0) {
		op_end(o, o->err, "%s", o->errmsg);
		return;
	}
	if (r != 0) {
		if (res->message[0] != '\0')
			op_end(o, r, "%s", res->message);
		else if (r == PED_E_UNPLUGGED)
			op_end(o, r, "the PED is not connected (unplugged?)");
		else if (no_ped_msg(r) != NULL)
			op_end(o, r, "%s", no_ped_msg(r));
		else
			op_end(o, r, "%s", ped_strerror(r));
		return;
	}
	if ((sh = calloc(PEDHOST_MAX_KEYS, sizeof(*sh))) == NULL) {
		op_end(o, PED_E_NOMEM, NULL);
		return;
	}
	if (o->kind == OP_LOGIN || (o->kind == OP_CHANGEPW && o->phase == 0)) {
		if ((r = decode_shares(res, sh, &k)) == 0) {
			login_done(o, sh, k);
			o = NULL;
		}
		goto out;
	}
	if (o->kind == OP_VECTOR && o->rpv_verifying) {
		/* rotation: the current orange quorum, checked before anything changes */
		if ((r = decode_shares(res, sh, &k)) == 0 &&
		    (r = hsm_rpv_verify(h, sh, k)) == 0) {
			o->rpv_verifying = 0;
			o->rpv_verified = 1;
			hsmsock_line(o->conn, "out", "Current orange key verified; now the new one.");
			next_step(o);
			o = NULL;
		} else if (r == PED_E_RPV_MISMATCH) {
			op_end(o, r, "the orange keys presented do not hold this HSM's current RPV "
				     "(or a PIN was wrong); the RPV is unchanged");
			o = NULL;
		}
		goto out;
	}
	/* a CREATE_KEYSET: new shares written, or an existing keyset reused */
	if (res->reused) {
		if ((r = decode_shares(res, sh, &k)) != 0)
			goto out;
		if (o->kind == OP_VECTOR) {
			hsm_rpv_init_abort(h);
			r = hsm_rpv_init_reuse(h, sh, k, &o->rpv_token);
			o->rpv_staged = r == 0;
		} else if (o->kind == OP_CHANGEPW) {
			hsm_role_init_abort(h, o->roles[o->phase]);
			o->tokens[o->phase] = 0;
			r = hsm_role_change_reuse(h, o->roles[o->phase], sh, k, res->keyset,
						  &o->tokens[o->phase]);
		} else {
			r = hsm_role_init_reuse(h, o->roles[o->phase], sh, k, res->keyset,
						&o->tokens[o->phase]);
		}
		if (r == 0)
			hsmsock_line(o->conn, "out", "Reusing an existing %u of %u keyset.", res->m,
				     res->n);
	} else if ((o->kind == OP_VECTOR && !o->rpv_staged) ||
		   (o->kind != OP_VECTOR && o->tokens[o->phase] == 0)) {
		r = PED_E_BAD_REQUEST; /* a RESULT without our shares */
	} else if (res->keys_written < res->n) {
		r = PED_E_BAD_REQUEST;
	}
	if (r != 0)
		goto out;
	o->phase++;
	next_step(o);
	o = NULL;
out:
	if (sh != NULL) {
		for (i = 0; i < PEDHOST_MAX_KEYS; i++)
			shamir_share_wipe(&sh[i]);
		free(sh);
	}
	if (o != NULL && r != 0)
		op_end(o, r, r == PED_E_PIN_INCORRECT ? "wrong PIN or wrong PED key" : NULL);
}

/* role changepw: phase 0 reads the current keyset (checked as a login),
 * phase 1 writes the new one (or reuses one), phase 2 commits. 0 when q is
 * the PED operation to start; -1 when the command ended. */
static int changepw_step(struct op *o, const struct hsm_info *info, struct pedreq *q)
{
	hsm_t *h = slot_hsm(o->f, o->slot);
	int r;

	q->key_type = (uint8_t)hsm_role_key_type(o->role);
	if (o->phase == 0) {
		q->op = LINK_READ_KEYSET;
		q->allow_reuse = 0;
		memcpy(q->keyset, info->roles[o->role].keyset_id, sizeof(q->keyset));
		snprintf(q->title, sizeof(q->title), "OLD %s PIN...", role_upper(o->role));
		hsmsock_line(o->conn, "out", "Present the current %s keyset first.",
			     role_upper(o->role));
		return 0;
	}
	if (o->phase == 1) {
		snprintf(q->title, sizeof(q->title), "NEW %s PIN...", role_upper(o->role));
		snprintf(q->label, sizeof(q->label), "%s %s",
			 o->role == HSM_ROLE_SO || o->role == HSM_ROLE_AU ? info->label
									  : info->partition_label,
			 role_upper(o->role));
		return 0;
	}
	r = hsm_role_change_commit(h, o->role, o->tokens[1]);
	if (r != 0) {
		op_end(o, r, "cannot store the new %s keyset: %s (the old one stays valid)",
		       role_upper(o->role), ped_strerror(r));
		return -1;
	}
	o->tokens[1] = 0;
	log_info("slot %u: %s credential changed", o->slot, role_desc(o->role));
	hsmsock_line(o->conn, "out", "%s credential changed.", role_desc(o->role));
	op_end(o, 0, NULL);
	return -1;
}

/* Starts the PED operation of the current phase, or commits when all are
 * done. */
static void next_step(struct op *o)
{
	hsm_t *h = slot_hsm(o->f, o->slot);
	struct hsm_info info;
	struct pedreq q;
	int r;

	memset(&q, 0, sizeof(q));
	q.timeout_ms = LINK_DEFAULT_TIMEOUT_MS;
	q.op = LINK_CREATE_KEYSET;
	q.allow_reuse = 1;
	hsm_info(h, &info);
	switch (o->kind) {
	case OP_VECTOR:
		if (o->phase == 1) {
			r = hsm_rpv_init_commit(h, o->rpv_token);
			o->rpv_staged = 0;
			if (r != 0) {
				op_end(o, r, "cannot store the RPV: %s", ped_strerror(r));
				return;
			}
			log_info("slot %u: RPV initialized", o->slot);
			hsmsock_line(o->conn, "out", "Remote PED Vector initialized.");
			op_end(o, 0, NULL);
			return;
		}
		if (info.rpv_initialized && !o->rpv_verified) {
			/* rotation: the current orange quorum first; the RPV changes
			 * only when the new keyset is written and committed */
			q.op = LINK_READ_KEYSET;
			q.allow_reuse = 0;
			q.key_type = LINK_KEY_ORANGE;
			snprintf(q.title, sizeof(q.title), "CURRENT RPV...");
			o->rpv_verifying = 1;
			hsmsock_line(o->conn, "out", "The RPV is initialized: present the current "
						    "orange key(s) first.");
			break;
		}
		q.key_type = LINK_KEY_ORANGE;
		snprintf(q.title, sizeof(q.title), "SETTING RPV...");
		snprintf(q.label, sizeof(q.label), "RPV %s", o->f->env.slots->serial[o->slot]);
		break;
	case OP_HSM_INIT:
	case OP_PART_INIT:
		if (o->phase == 2) {
			if (o->kind == OP_HSM_INIT)
				r = hsm_init(h, o->label, o->tokens[0], o->tokens[1]);
			else
				r = hsm_partition_init(h, o->label, o->tokens[0], o->tokens[1]);
			if (r == 0)
				o->tokens[0] = o->tokens[1] = 0;
			if (r != 0) {
				op_end(o, r, "cannot store the keysets: %s", ped_strerror(r));
				return;
			}
			log_info("slot %u: %s initialized, label %s", o->slot,
				 o->kind == OP_HSM_INIT ? "HSM" : "partition", o->label);
			hsmsock_line(o->conn, "out", "%s initialized with label '%s'.",
				     o->kind == OP_HSM_INIT ? "HSM" : "Partition", o->label);
			op_end(o, 0, NULL);
			return;
		}
		q.key_type = (uint8_t)hsm_role_key_type(o->roles[o->phase]);
		if (o->kind == OP_HSM_INIT)
			snprintf(q.title, sizeof(q.title), "%s",
				 o->phase == 0 ? "SETTING SO PIN..." : "SETTING DOMAIN...");
		else
			snprintf(q.title, sizeof(q.title), "%s",
				 o->phase == 0 ? "SETTING PO PIN..." : "SETTING PAR DOMAIN..");
		snprintf(q.label, sizeof(q.label), "%s", o->label);
		break;
	case OP_ROLE_INIT:
		if (o->phase == 1) {
			r = hsm_role_init_commit(h, o->role, o->tokens[0]);
			if (r == 0)
				o->tokens[0] = 0;
			if (r != 0) {
				op_end(o, r, "cannot store the %s keyset: %s", role_upper(o->role),
				       ped_strerror(r));
				return;
			}
			log_info("slot %u: %s %s", o->slot, role_desc(o->role),
				 o->reset ? "reset" : "initialized");
			hsmsock_line(o->conn, "out", "%s %s.", role_desc(o->role),
				     o->reset ? "credential reset" : "initialized");
			op_end(o, 0, NULL);
			return;
		}
		q.key_type = (uint8_t)hsm_role_key_type(o->role);
		snprintf(q.title, sizeof(q.title), "%s %s PIN...", o->reset ? "RESET" : "SETTING",
			 role_upper(o->role));
		snprintf(q.label, sizeof(q.label), "%s %s", info.partition_label,
			 role_upper(o->role));
		break;
	case OP_CHANGEPW:
		if (changepw_step(o, &info, &q) != 0)
			return;
		break;
	case OP_LOGIN:
		q.op = LINK_READ_KEYSET;
		q.allow_reuse = 0;
		q.key_type = (uint8_t)hsm_role_key_type(o->role);
		memcpy(q.keyset, info.roles[o->role].keyset_id, sizeof(q.keyset));
		snprintf(q.title, sizeof(q.title), "%s LOGIN...", role_upper(o->role));
		break;
	default:
		op_end(o, PED_E_INTERNAL, NULL);
		return;
	}
	if ((r = op_ped(o, &q)) != 0)
		op_start_failed(o, r);
}

/* ---- command handlers ---- */

struct cmd_ctx {
	flows_t *f;
	hsmsock_conn_t *c;
	unsigned slot;
	int argc;
	char **argv;
};

static struct op *op_new(struct cmd_ctx *x, enum op_kind kind)
{
	struct slotrt *s = &x->f->slot[x->slot];
	struct op *o;

	if (s->op != NULL) {
		hsmsock_end(x->c, PED_E_PED_BUSY, "slot %u is busy with another PED command",
			    x->slot);
		return NULL;
	}
	if (kind != OP_VECTOR && kind != OP_CONNECT && s->remote != NULL &&
	    remote_is_password(s->remote)) {
		hsmsock_end(x->c, PED_E_BAD_REQUEST,
			    "the session with %s was opened with a one-time password and serves "
			    "ped vector init only; then ped disconnect and ped connect with the "
			    "new orange key", remote_where(s->remote));
		return NULL;
	}
	if ((o = calloc(1, sizeof(*o))) == NULL) {
		hsmsock_end(x->c, PED_E_NOMEM, NULL);
		return NULL;
	}
	o->f = x->f;
	o->slot = x->slot;
	o->conn = x->c;
	o->kind = kind;
	s->op = o;
	hsmsock_on_gone(x->c, op_gone, o);
	return o;
}

static int need_so(const struct hsm_info *i, const char *what, hsmsock_conn_t *c)
{
	if (i->initialized && !i->roles[HSM_ROLE_SO].logged_in) {
		hsmsock_end(c, PED_E_NOT_LOGGED_IN, "%s on an initialized HSM needs the SO "
						    "logged in (role login -name so)", what);
		return -1;
	}
	return 0;
}

static void cmd_vector_init(struct cmd_ctx *x)
{
	struct hsm_info i;
	struct op *o;

	if (x->argc != 0) {
		hsmsock_end(x->c, PED_E_INVAL, "usage: ped vector init");
		return;
	}
	hsm_info(slot_hsm(x->f, x->slot), &i);
	if (need_so(&i, "ped vector init", x->c) != 0 || (o = op_new(x, OP_VECTOR)) == NULL)
		return;
	next_step(o);
}

static void cmd_init(struct cmd_ctx *x, int partition)
{
	static const char *const names[] = {"-label", NULL};
	const char *v[1];
	char why[128];
	struct hsm_info i;
	struct op *o;

	if (get_opts(x->argc, x->argv, names, v, why, sizeof(why)) != 0 || v[0] == NULL) {
		hsmsock_end(x->c, PED_E_INVAL, "usage: %s init -label LABEL",
			    partition ? "partition" : "hsm");
		return;
	}
	if (!valid_label(v[0])) {
		hsmsock_end(x->c, PED_E_INVAL, "the label must be 1-%d printable characters",
			    HSM_LABEL_MAX);
		return;
	}
	hsm_info(slot_hsm(x->f, x->slot), &i);
	if (!partition && need_so(&i, "hsm init", x->c) != 0)
		return;
	if (partition && !i.initialized) {
		hsmsock_end(x->c, PED_E_NOT_INITIALIZED, "the HSM is not initialized (hsm init)");
		return;
	}
	if (partition && !i.roles[HSM_ROLE_SO].logged_in) {
		hsmsock_end(x->c, PED_E_NOT_LOGGED_IN,
			    "partition init needs the SO logged in (role login -name so)");
		return;
	}
	if ((o = op_new(x, partition ? OP_PART_INIT : OP_HSM_INIT)) == NULL)
		return;
	snprintf(o->label, sizeof(o->label), "%s", v[0]);
	o->roles[0] = partition ? HSM_ROLE_PO : HSM_ROLE_SO;
	o->roles[1] = partition ? HSM_ROLE_PDOMAIN : HSM_ROLE_DOMAIN;
	next_step(o);
}

static int role_arg(struct cmd_ctx *x, const char *usage, const char *allowed,
		    enum hsm_role *role)
{
	static const char *const names[] = {"-name", NULL};
	const char *v[1];
	char why[128], pat[16];

	if (get_opts(x->argc, x->argv, names, v, why, sizeof(why)) != 0 || v[0] == NULL) {
		hsmsock_end(x->c, PED_E_INVAL, "usage: %s", usage);
		return -1;
	}
	snprintf(pat, sizeof(pat), "|%s|", v[0]);
	if (strlen(v[0]) > 3 || strstr(allowed, pat) == NULL ||
	    hsm_role_from_name(v[0], role) != 0) {
		hsmsock_end(x->c, PED_E_INVAL, "usage: %s", usage);
		return -1;
	}
	return 0;
}

static void role_init(struct cmd_ctx *x, int reset)
{
	const char *usage = reset ? "role resetpw -name co|cu" : "role init -name co|cu|lco|au";
	struct hsm_info i;
	enum hsm_role role;
	struct op *o;
	const char *need = NULL;

	if (role_arg(x, usage, reset ? "|co|cu|" : "|co|cu|lco|au|", &role) != 0)
		return;
	hsm_info(slot_hsm(x->f, x->slot), &i);
	if (reset && i.partition_initialized && !i.roles[role].initialized) {
		need = role == HSM_ROLE_CO ? "the Crypto Officer is not initialized (role init -name co)"
					   : "the Crypto User is not initialized (role init -name cu)";
	} else if (role == HSM_ROLE_AU) {
		if (!i.initialized)
			need = "the HSM is not initialized (hsm init)";
		else if (!i.roles[HSM_ROLE_SO].logged_in && !i.roles[HSM_ROLE_AU].logged_in)
			need = "role init -name au needs the SO (or the AU) logged in";
	} else if (!i.partition_initialized) {
		need = "the partition is not initialized (partition init)";
	} else if (role == HSM_ROLE_CO && !i.roles[HSM_ROLE_PO].logged_in) {
		need = reset ? "role resetpw -name co needs the partition SO logged in"
			     : "role init -name co needs the partition SO logged in";
	} else if (role == HSM_ROLE_CU && !i.roles[HSM_ROLE_CO].logged_in) {
		need = reset ? "role resetpw -name cu needs the Crypto Officer logged in"
			     : "role init -name cu needs the Crypto Officer logged in";
	} else if (role == HSM_ROLE_LCO && !i.roles[HSM_ROLE_CO].logged_in) {
		need = "role init -name lco needs the Crypto Officer logged in";
	}
	if (need != NULL) {
		hsmsock_end(x->c, strstr(need, "not initialized") ? PED_E_NOT_INITIALIZED
								  : PED_E_NOT_LOGGED_IN,
			    "%s", need);
		return;
	}
	if ((o = op_new(x, OP_ROLE_INIT)) == NULL)
		return;
	o->role = role;
	o->roles[0] = role;
	o->reset = reset;
	next_step(o);
}

static void cmd_role_init(struct cmd_ctx *x) { role_init(x, 0); }
/* role resetpw -name co|cu: a new keyset for a CO (by the PO) or a CU (by the
 * CO) whose secret was lost; the counter is reset and the role unlocked. */
static void cmd_role_resetpw(struct cmd_ctx *x) { role_init(x, 1); }

static void login_challenge(struct cmd_ctx *x, const char *role_name, const char *secret);

static void cmd_role_login(struct cmd_ctx *x)
{
	static const char *const names[] = {"-name", "-password", NULL};
	const char *v[2];
	char why[128];
	struct hsm_info i;
	enum hsm_role role;
	struct op *o;

	if (get_opts(x->argc, x->argv, names, v, why, sizeof(why)) == 0 && v[1] != NULL) {
		login_challenge(x, v[0], v[1]);
		return;
	}
	if (role_arg(x, "role login -name so|po|co|cu|lco|au [-password CHALLENGE]",
		     "|so|po|co|cu|lco|au|", &role) != 0)
		return;
	hsm_info(slot_hsm(x->f, x->slot), &i);
	if (!i.roles[role].initialized) {
		hsmsock_end(x->c, PED_E_NOT_INITIALIZED, "the %s is not initialized",
			    role_desc(role));
		return;
	}
	if (i.roles[role].locked) {
		hsmsock_end(x->c, PED_E_PIN_LOCKED, "the %s is locked after too many failed "
						    "logins", role_desc(role));
		return;
	}
	if ((o = op_new(x, OP_LOGIN)) == NULL)
		return;
	o->role = role;
	next_step(o);
}

/* role changepw -name so|po|co|cu|au: the role logged in changes its own
 * secret (the current keyset first, then the new one). */
static void cmd_role_changepw(struct cmd_ctx *x)
{
	struct hsm_info i;
	enum hsm_role role;
	struct op *o;

	if (role_arg(x, "role changepw -name so|po|co|cu|lco|au", "|so|po|co|cu|lco|au|",
		     &role) != 0)
		return;
	hsm_info(slot_hsm(x->f, x->slot), &i);
	if (!i.roles[role].initialized) {
		hsmsock_end(x->c, PED_E_NOT_INITIALIZED, "the %s is not initialized",
			    role_desc(role));
		return;
	}
	if (!i.roles[role].logged_in) {
		hsmsock_end(x->c, PED_E_NOT_LOGGED_IN,
			    "role changepw -name %s needs the %s logged in (role login -name %s)",
			    hsm_role_name(role), role_desc(role), hsm_role_name(role));
		return;
	}
	if ((o = op_new(x, OP_CHANGEPW)) == NULL)
		return;
	o->role = role;
	o->roles[0] = o->roles[1] = role;
	next_step(o);
}

/* ---- activation: partition policies 22/23, challenge secrets ---- */

/* role login -name co|cu -password CHALLENGE: no PED; the role must be
 * activated (a PED-key login with policy 22 on). */
static void login_challenge(struct cmd_ctx *x, const char *role_name, const char *secret)
{
	hsm_t *h = slot_hsm(x->f, x->slot);
	enum hsm_role role;
	unsigned remaining = 0;
	int r;

	if (role_name == NULL || (strcmp(role_name, "co") != 0 && strcmp(role_name, "cu") != 0) ||
	    hsm_role_from_name(role_name, &role) != 0) {
		hsmsock_end(x->c, PED_E_INVAL, "usage: role login -name co|cu -password CHALLENGE");
		return;
	}
	if (x->f->slot[x->slot].op != NULL) {
		hsmsock_end(x->c, PED_E_PED_BUSY, "slot %u is busy with another PED command",
			    x->slot);
		return;
	}
	r = hsm_role_login_challenge(h, role, secret, strlen(secret), &remaining);
	if (r == 0) {
		log_info("slot %u: %s logged in with its challenge (activated)", x->slot,
			 role_desc(role));
		hsmsock_line(x->c, "out", "%s logged in (activated: challenge secret).",
			     role_desc(role));
		hsmsock_end(x->c, 0, NULL);
	} else if (r == PED_E_NOT_ACTIVATED) {
		hsmsock_end(x->c, r, "the %s is not activated: role login -name %s with its PED "
				     "keys first (partition policy 22 on, a challenge set)",
			    role_desc(role), role_name);
	} else if (r == PED_E_PIN_INCORRECT) {
		log_warning("slot %u: %s challenge login failed (%u attempts left)", x->slot,
			    role_desc(role), remaining);
		hsmsock_end(x->c, r, "wrong challenge secret; %u login attempt%s left before the "
				     "role is locked", remaining, remaining == 1 ? "" : "s");
	} else {
		hsmsock_end(x->c, r, "%s", ped_strerror(r));
	}
}

/* partition changepolicy -policy 22|23 -value 0|1 (the partition SO) */
static void cmd_partition_changepolicy(struct cmd_ctx *x)
{
	static const char *const names[] = {"-policy", "-value", NULL};
	const char *v[2];
	char why[128];
	int r;

	if (get_opts(x->argc, x->argv, names, v, why, sizeof(why)) != 0 || v[0] == NULL ||
	    v[1] == NULL || (strcmp(v[0], "22") != 0 && strcmp(v[0], "23") != 0) ||
	    (strcmp(v[1], "0") != 0 && strcmp(v[1], "1") != 0)) {
		hsmsock_end(x->c, PED_E_INVAL,
			    "usage: partition changepolicy -policy 22|23 -value 0|1");
		return;
	}
	r = hsm_policy_set(slot_hsm(x->f, x->slot), (unsigned)atoi(v[0]), atoi(v[1]));
	if (r == PED_E_NOT_LOGGED_IN)
		hsmsock_end(x->c, r, "partition changepolicy needs the partition SO logged in");
	else if (r == PED_E_NOT_INITIALIZED)
		hsmsock_end(x->c, r, "the partition is not initialized (partition init)");
	else if (r != 0)
		hsmsock_end(x->c, r, "%s", ped_strerror(r));
	else {
		log_info("slot %u: partition policy %s set to %s", x->slot, v[0], v[1]);
		hsmsock_line(x->c, "out", "Partition policy %s set to %s.", v[0], v[1]);
		hsmsock_end(x->c, 0, NULL);
	}
}

static void cmd_partition_showpolicies(struct cmd_ctx *x)
{
	struct hsm_info i;

	hsm_info(slot_hsm(x->f, x->slot), &i);
	hsmsock_line(x->c, "out", "22: Allow activation:       %d", i.policy_activation);
	hsmsock_line(x->c, "out", "23: Allow auto-activation:  %d (window %d s)", i.policy_autoact,
		     HSM_AUTOACT_WINDOW_S);
	hsmsock_end(x->c, 0, NULL);
}

/* role createchallenge -name co|cu -challengesecret S (PO for the CO, CO
 * for the CU) */
static void cmd_role_createchallenge(struct cmd_ctx *x)
{
	static const char *const names[] = {"-name", "-challengesecret", NULL};
	const char *v[2];
	char why[128];
	enum hsm_role role;
	int r;

	if (get_opts(x->argc, x->argv, names, v, why, sizeof(why)) != 0 || v[0] == NULL ||
	    v[1] == NULL || (strcmp(v[0], "co") != 0 && strcmp(v[0], "cu") != 0) ||
	    hsm_role_from_name(v[0], &role) != 0) {
		hsmsock_end(x->c, PED_E_INVAL,
			    "usage: role createchallenge -name co|cu -challengesecret SECRET");
		return;
	}
	r = hsm_challenge_set(slot_hsm(x->f, x->slot), role, v[1], strlen(v[1]));
	if (r == PED_E_NOT_LOGGED_IN)
		hsmsock_end(x->c, r, "role createchallenge -name %s needs the %s logged in", v[0],
			    role == HSM_ROLE_CO ? "partition SO" : "Crypto Officer");
	else if (r == PED_E_CHALLENGE_BAD)
		hsmsock_end(x->c, r, "the challenge secret must be %d-%d printable characters "
				     "without spaces", HSM_CHALLENGE_MIN, HSM_CHALLENGE_MAX);
	else if (r == PED_E_NOT_INITIALIZED)
		hsmsock_end(x->c, r, "the %s is not initialized", role_desc(role));
	else if (r != 0)
		hsmsock_end(x->c, r, "%s", ped_strerror(r));
	else {
		log_info("slot %u: %s challenge secret set", x->slot, role_desc(role));
		hsmsock_line(x->c, "out", "%s challenge secret set.", role_desc(role));
		hsmsock_end(x->c, 0, NULL);
	}
}

/* role deactivate -name co|cu */
static void cmd_role_deactivate(struct cmd_ctx *x)
{
	enum hsm_role role;
	int r;

	if (role_arg(x, "role deactivate -name co|cu", "|co|cu|", &role) != 0)
		return;
	if ((r = hsm_role_deactivate(slot_hsm(x->f, x->slot), role)) != 0) {
		hsmsock_end(x->c, r, "%s", ped_strerror(r));
		return;
	}
	log_info("slot %u: %s deactivated", x->slot, role_desc(role));
	hsmsock_line(x->c, "out", "%s deactivated.", role_desc(role));
	hsmsock_end(x->c, 0, NULL);
}

static void cmd_role_logout(struct cmd_ctx *x)
{
	if (x->argc != 0) {
		hsmsock_end(x->c, PED_E_INVAL, "usage: role logout");
		return;
	}
	if (x->f->slot[x->slot].op != NULL) {
		hsmsock_end(x->c, PED_E_PED_BUSY, "slot %u is busy with another PED command",
			    x->slot);
		return;
	}
	hsm_role_logout(slot_hsm(x->f, x->slot));
	hsmsock_line(x->c, "out", "All roles logged out.");
	hsmsock_end(x->c, 0, NULL);
}

/* The fingerprint a pedserver's allowlist knows this HSM by: SHA-256 of its
 * static public key as sent, 16 groups of 4 hex digits (pedserver/allow.h). */
static void key_fingerprint(const hsm_t *h, char out[80])
{
	uint8_t qs[ECP_PUB_LEN], fp[EVP_MAX_MD_SIZE];
	unsigned len = 0, i;
	size_t o = 0;

	snprintf(out, 80, "(none)");
	if (hsm_static_public(h, qs) != 0 || EVP_Digest(qs, sizeof(qs), fp, &len, EVP_sha256(),
							NULL) != 1 || len != 32)
		return;
	for (i = 0; i < len; i++)
		o += (size_t)snprintf(out + o, 80 - o, "%s%02x", i > 0 && i % 2 == 0 ? ":" : "",
				      fp[i]);
}

static void cmd_hsm_show(struct cmd_ctx *x)
{
	struct hsm_info i;
	char fp[80];
	int r;
	unsigned k;

	if ((r = hsm_info(slot_hsm(x->f, x->slot), &i)) != 0) {
		hsmsock_end(x->c, r, NULL);
		return;
	}
	hsmsock_line(x->c, "out", "Slot:               %u", x->slot);
	hsmsock_line(x->c, "out", "Serial Number:      %llu", (unsigned long long)i.serial);
	key_fingerprint(slot_hsm(x->f, x->slot), fp);
	hsmsock_line(x->c, "out", "Key Fingerprint:    %s", fp);
	hsmsock_line(x->c, "out", "HSM Label:          %s", i.initialized ? i.label : "(none)");
	hsmsock_line(x->c, "out", "HSM Initialized:    %s", i.initialized ? "yes" : "no");
	hsmsock_line(x->c, "out", "Partition:          %s",
		     i.partition_initialized ? i.partition_label : "(not initialized)");
	hsmsock_line(x->c, "out", "RPV Initialized:    %s", i.rpv_initialized ? "yes" : "no");
	hsmsock_line(x->c, "out", "Roles:");
	for (k = 0; k < HSM_ROLE_COUNT; k++) {
		const struct hsm_role_info *ri = &i.roles[k];
		if (!ri->initialized) {
			hsmsock_line(x->c, "out", "  %-8s not initialized", role_upper(k));
		} else if (ri->max_failures == 0) {
			hsmsock_line(x->c, "out", "  %-8s %u of %u keyset", role_upper(k), ri->m,
				     ri->n);
		} else {
			hsmsock_line(x->c, "out",
				     "  %-8s %u of %u keyset, failed logins %u of %u%s%s%s%s",
				     role_upper(k), ri->m, ri->n, ri->failures, ri->max_failures,
				     ri->locked ? ", LOCKED" : "",
				     ri->logged_in ? ", logged in" : "",
				     ri->challenge ? ", challenge set" : "",
				     ri->activated ? ", activated" : "");
		}
	}
	hsmsock_end(x->c, 0, NULL);
}

static void describe_line(void *arg, const char *line)
{
	hsmsock_line(arg, "out", "%s", line);
}

static void cmd_ped_show(struct cmd_ctx *x)
{
	struct slotrt *s = &x->f->slot[x->slot];
	char host[256];
	int port, r;

	if (x->argc != 0) {
		hsmsock_end(x->c, PED_E_INVAL, "usage: ped show");
		return;
	}
	hsmsock_line(x->c, "out", "Slot %u (HSM serial %s)", x->slot,
		     x->f->env.slots->serial[x->slot]);
	if (s->remote != NULL) {
		remote_describe(s->remote, describe_line, x->c);
	} else {
		hsmsock_line(x->c, "out", "Remote PED:         not connected");
	}
	if (x->f->env.lped != NULL)
		hsmsock_line(x->c, "out", "Local PED:          %s (%s)", lped_path(x->f->env.lped),
			     lped_is_up(x->f->env.lped) ? "connected" : "not connected");
	else
		hsmsock_line(x->c, "out", "Local PED:          none");
	r = flows_load_pedset(x->f->env.statedir, x->slot, host, sizeof(host), &port);
	if (r == 0 && port != 0)
		hsmsock_line(x->c, "out", "Defaults (ped set): %s:%d", host, port);
	else
		hsmsock_line(x->c, "out", "Defaults (ped set): none (127.0.0.1:%d)",
			     WIRE_DEFAULT_PORT);
	hsmsock_end(x->c, 0, NULL);
}

static void cmd_ped_set(struct cmd_ctx *x)
{
	static const char *const names[] = {"-ip", "-port", NULL};
	const char *v[2];
	char why[128], path[4096], host[256], text[300];
	int port = WIRE_DEFAULT_PORT, oldport = 0, r, n;

	if (get_opts(x->argc, x->argv, names, v, why, sizeof(why)) != 0 ||
	    (v[0] == NULL && v[1] == NULL)) {
		hsmsock_end(x->c, PED_E_INVAL, "usage: ped set -ip ADDRESS -port PORT");
		return;
	}
	/* what is not given keeps its current value */
	if (flows_load_pedset(x->f->env.statedir, x->slot, host, sizeof(host), &oldport) != 0 ||
	    oldport == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	else
		port = oldport;
	if (v[0] != NULL) {
		if (!valid_host(v[0])) {
			hsmsock_end(x->c, PED_E_INVAL, "-ip: not a host name or address");
			return;
		}
		snprintf(host, sizeof(host), "%s", v[0]);
	}
	if (v[1] != NULL && parse_port(v[1], &port) != 0) {
		hsmsock_end(x->c, PED_E_RANGE, "-port: must be 1-65535");
		return;
	}
	pedset_path(x->f, x->slot, path, sizeof(path));
	n = snprintf(text, sizeof(text), "%s %d\n", host, port);
	if ((r = atomic_write_file(path, text, (size_t)n, 0600)) != 0) {
		hsmsock_end(x->c, r, "cannot write %s", path);
		return;
	}
	hsmsock_line(x->c, "out", "Remote PED defaults of slot %u: %s:%d", x->slot, host, port);
	hsmsock_end(x->c, 0, NULL);
}

/* ---- ped connect / disconnect ---- */

static void on_attend(void *arg)
{
	struct op *o = arg;

	if (!o->attended) {
		hsmsock_line(o->conn, "attend", NULL);
		o->attended = 1;
	}
	if (remote_is_password(o->f->slot[o->slot].remote)) {
		hsmsock_line(o->conn, "out",
			     "Please attend to the PED and enter the following password: %s", o->pw);
		OPENSSL_cleanse(o->pw, sizeof(o->pw));
	} else {
		hsmsock_line(o->conn, "out", "Present the orange (RPV) PED key at the PED of %s.",
			     remote_where(o->f->slot[o->slot].remote));
	}
}

static void on_connected(void *arg, int err, const char *msg)
{
	struct op *o = arg;
	struct slotrt *s = &o->f->slot[o->slot];

	audit_event(err == 0 ? "session_open" : "connect_failed", "slot:u hsm:s server:s mode:s "
		    "result:s", o->slot, slot_serial(o->f, o->slot),
		    s->remote != NULL ? remote_where(s->remote) : NULL,
		    s->remote != NULL && remote_is_password(s->remote) ? "one-time password"
									: "orange key",
		    ped_errname(err));
	if (err == 0) {
		s->connected_at = time(NULL);
		log_info("slot %u: remote PED session open with %s", o->slot, remote_where(s->remote));
		hsmsock_line(o->conn, "out", "Remote PED session open with %s.",
			     remote_where(s->remote));
		op_end(o, 0, NULL);
	} else {
		log_warning("slot %u: ped connect failed: %s", o->slot, msg);
		op_end(o, err, "%s", msg);
	}
}

static void on_session_closed(flows_t *f, unsigned idx, int err, const char *msg)
{
	if (f->slot[idx].remote != NULL) {
		audit_event("session_close", "slot:u hsm:s result:s", idx, slot_serial(f, idx),
			    ped_errname(err));
		if (err != 0)
			log_warning("slot %u: remote PED session closed: %s", idx, msg);
		else
			log_info("slot %u: remote PED session closed", idx);
	}
	f->slot[idx].remote = NULL;
	if (f->shutting_down && f->closing > 0 && --f->closing == 0 && f->closed != NULL)
		f->closed(f->closed_arg);
}

/* The session callbacks: connect reports to the op; later ones to the slot. */
struct conn_glue {
	flows_t *f;
	unsigned slot;
	struct op *op;
};

static void glue_attend(void *arg)
{
	struct conn_glue *g = arg;

	if (g->op != NULL)
		on_attend(g->op);
}

static void glue_connected(void *arg, int err, const char *msg)
{
	struct conn_glue *g = arg;
	struct op *o = g->op;

	g->op = NULL;
	if (o != NULL) {
		o->ped_running = 0;
		on_connected(o, err, msg);
	}
}

static void glue_closed(void *arg, int err, const char *msg)
{
	struct conn_glue *g = arg;
	flows_t *f = g->f;
	unsigned slot = g->slot;
	struct op *o = g->op;

	g->op = NULL;
	free(g);
	if (o != NULL)
		on_connected(o, err != 0 ? err : PED_E_DISCONNECTED, msg);
	on_session_closed(f, slot, err, msg);
}

/* The link broke and resumes, or resumed: the console of the command that
 * waits on this slot's PED hears it (each console asks `ped show` anyway). */
static void glue_link(void *arg, const char *msg)
{
	struct conn_glue *g = arg;
	struct op *o = g->f->slot[g->slot].op;

	audit_event("session_link", "slot:u hsm:s what:s", g->slot, slot_serial(g->f, g->slot), msg);
	if (o != NULL)
		hsmsock_line(o->conn, "out", "%s", msg);
}

static void connect_gone(void *arg)
{
	struct op *o = arg;
	struct slotrt *s = &o->f->slot[o->slot];

	if (s->remote != NULL)
		remote_disconnect(s->remote, "the console went away");
}

/* Where ped connect goes: -ip/-port, else -ped ID, else the PED ID assigned
 * to this slot's serial, else the slot's ped set defaults, else
 * 127.0.0.1:1503. 0, or an error already answered. */
static int connect_target(struct cmd_ctx *x, const char *ip, const char *port, const char *ped,
			  char *host, size_t hostlen, int *portp, char *via, size_t vialen)
{
	const char *serial = x->f->env.slots->serial[x->slot];
	const struct ids_entry *e = NULL;
	char *end;
	long id;

	via[0] = '\0';
	if (ped != NULL && ip != NULL) {
		hsmsock_end(x->c, PED_E_INVAL, "-ped and -ip exclude each other");
		return -1;
	}
	if (ped != NULL) {
		id = strtol(ped, &end, 10);
		if (*ped == '\0' || *end != '\0' || id < IDS_ID_MIN || id > IDS_ID_MAX) {
			hsmsock_end(x->c, PED_E_RANGE, "-ped: a PED ID is %d-%d", IDS_ID_MIN,
				    IDS_ID_MAX);
			return -1;
		}
		if (x->f->env.ids == NULL || (e = ids_get(x->f->env.ids, id)) == NULL) {
			hsmsock_end(x->c, PED_E_NOT_FOUND, "PED ID %ld is not mapped (pedclient "
							   "-mode setid -id %ld -id_ip A -id_port P)",
				    id, id);
			return -1;
		}
	} else if (ip == NULL && x->f->env.ids != NULL) {
		for (size_t i = 0; i < x->f->env.ids->n; i++)
			if (strcmp(x->f->env.ids->e[i].serial, serial) == 0)
				e = &x->f->env.ids->e[i];
	}
	if (e != NULL) {
		snprintf(host, hostlen, "%s", e->host);
		*portp = (int)e->port;
		snprintf(via, vialen, " (PED ID %ld%s)", e->id,
			 ped != NULL ? "" : ", assigned to this HSM");
	} else if (flows_load_pedset(x->f->env.statedir, x->slot, host, hostlen, portp) != 0 ||
		   *portp == 0) {
		snprintf(host, hostlen, "127.0.0.1");
		*portp = WIRE_DEFAULT_PORT;
	}
	if (ip != NULL) {
		if (!valid_host(ip)) {
			hsmsock_end(x->c, PED_E_INVAL, "-ip: not a host name or address");
			return -1;
		}
		snprintf(host, hostlen, "%s", ip);
	}
	if (port != NULL && parse_port(port, portp) != 0) {
		hsmsock_end(x->c, PED_E_RANGE, "-port: must be 1-65535");
		return -1;
	}
	return 0;
}

static void cmd_ped_connect(struct cmd_ctx *x)
{
	static const char *const names[] = {"-ip", "-port", "-ped", NULL};
	static const struct remote_cbs cbs = {glue_attend, glue_connected, glue_closed, glue_link};
	struct slotrt *s = &x->f->slot[x->slot];
	const struct pedclient_cfg *cfg = x->f->env.cfg;
	struct remote_opts ro;
	struct conn_glue *g;
	struct hsm_info info;
	const char *v[3];
	char why[128], host[256], via[64], pw[PAKE_PW_DIGITS + 1], link[TLSPINS_NAME_MAX + 1];
	char *argv[8];
	int argc = 0, port = 0, r, password = 0;
	bool by_name;
	struct op *o;

	pw[0] = '\0';
	/* -password takes an optional value: take it out before the table */
	for (r = 0; r < x->argc; r++) {
		if (strcmp(x->argv[r], "-password") != 0) {
			if (argc < 8)
				argv[argc++] = x->argv[r];
			continue;
		}
		password = 1;
		if (r + 1 < x->argc && x->argv[r + 1][0] != '-') {
			r++;
			if (pake_password_check(x->argv[r], strlen(x->argv[r])) != 0) {
				hsmsock_end(x->c, PED_E_INVAL, "-password: the one-time password is "
							       "exactly 8 digits");
				return;
			}
			memcpy(pw, x->argv[r], PAKE_PW_DIGITS + 1);
		}
	}
	if (argc >= 8 || get_opts(argc, argv, names, v, why, sizeof(why)) != 0) {
		OPENSSL_cleanse(pw, sizeof(pw));
		hsmsock_end(x->c, PED_E_INVAL, "%s; usage: ped connect [-ip A] [-port P] [-ped ID] "
					       "[-password [NNNNNNNN]]",
			    argc >= 8 ? "too many words" : why);
		return;
	}
	if (s->remote != NULL) {
		OPENSSL_cleanse(pw, sizeof(pw));
		hsmsock_end(x->c, PED_E_EXISTS, "slot %u already has a Remote PED session with "
						"%s (ped disconnect first)",
			    x->slot, remote_where(s->remote));
		return;
	}
	hsm_info(slot_hsm(x->f, x->slot), &info);
	if (password && info.rpv_initialized) {
		OPENSSL_cleanse(pw, sizeof(pw));
		hsmsock_end(x->c, PED_E_RPV_INITIALIZED,
			    "the RPV of slot %u is already initialized: the one-time password mode "
			    "is only for the first contact; use ped connect with the orange key",
			    x->slot);
		return;
	}
	if (!password && !info.rpv_initialized) {
		hsmsock_end(x->c, PED_E_NOT_INITIALIZED,
			    "the RPV of slot %u is not initialized: ped connect -password (a "
			    "one-time password typed on the distant PED), or ped vector init on a "
			    "Local PED", x->slot);
		return;
	}
	/* -ped NAME: a registered pedserver's PED-initiated link (a PED ID is
	 * a number) */
	by_name = v[2] != NULL && strspn(v[2], "0123456789") != strlen(v[2]);
	if (by_name && (v[0] != NULL || v[1] != NULL || x->f->env.inbound == NULL ||
			!tlspins_name_ok(v[2]))) {
		OPENSSL_cleanse(pw, sizeof(pw));
		hsmsock_end(x->c, PED_E_NO_LINK, "-ped %s: not a PED ID, and no PED-initiated "
						 "link of that name can be up here", v[2]);
		return;
	}
	if (by_name) {
		snprintf(host, sizeof(host), "%s", v[2]);
		port = WIRE_DEFAULT_PORT;
	} else if (connect_target(x, v[0], v[1], v[2], host, sizeof(host), &port, via,
				  sizeof(via)) != 0) {
		OPENSSL_cleanse(pw, sizeof(pw));
		return;
	}
	if (password && pw[0] == '\0' && (r = pake_password_new(pw)) != 0) {
		hsmsock_end(x->c, r, "cannot draw a password");
		return;
	}
	if (password && hsm_pake_fresh(slot_hsm(x->f, x->slot), pw, strlen(pw)) != 0) {
		OPENSSL_cleanse(pw, sizeof(pw));
		hsmsock_end(x->c, PED_E_EXISTS, "this one-time password was used already: give "
						"another, or -password alone for a new one");
		return;
	}
	if ((o = op_new(x, OP_CONNECT)) == NULL) {
		OPENSSL_cleanse(pw, sizeof(pw));
		return;
	}
	hsmsock_on_gone(x->c, connect_gone, o);
	if ((g = calloc(1, sizeof(*g))) == NULL) {
		OPENSSL_cleanse(pw, sizeof(pw));
		op_end(o, PED_E_NOMEM, NULL);
		return;
	}
	g->f = x->f;
	g->slot = x->slot;
	g->op = o;
	memset(&ro, 0, sizeof(ro));
	ro.host = host;
	ro.port = port;
	ro.client_name = x->f->env.host;
	ro.serial = x->f->env.slots->serial[x->slot];
	ro.handshake_ms = REMOTE_HANDSHAKE_MS;
	ro.ped_timeout_ms = LINK_DEFAULT_TIMEOUT_MS;
	ro.write_timeout_ms = (unsigned)cfg->SocketWriteTimeout * 1000u;
	ro.ping_interval_ms = (unsigned)cfg->PingInterval * 1000u;
	ro.ping_timeout_ms = (unsigned)cfg->PingTimeout * 1000u;
	ro.idle_timeout_ms = (unsigned)cfg->IdleTimeout * 1000u;
	ro.resume_window_ms = (unsigned)cfg->ResumeWindow * 1000u;
	ro.password = password ? pw : NULL;
	/* no address given: a PED-initiated link that is up goes first; -ped
	 * NAME: that pedserver's link, or NO_PED_LINK */
	if (((v[0] == NULL && v[1] == NULL && v[2] == NULL) || by_name) &&
	    x->f->env.inbound != NULL &&
	    inbound_take(x->f->env.inbound, by_name ? v[2] : NULL, &ro.link_fd, link,
			 sizeof(link)) == 0) {
		ro.link_name = link;
		hsmsock_line(o->conn, "out", "Using the PED-initiated link of pedserver %s ...",
			     link);
	} else if (by_name) {
		free(g);
		OPENSSL_cleanse(pw, sizeof(pw));
		op_end(o, PED_E_NO_LINK, "pedserver %s has no PED-initiated link up here "
					 "(pedserver -mode connect on the PED host)", v[2]);
		return;
	} else {
		hsmsock_line(o->conn, "out", "Connecting to the Remote PED server at %s:%d%s ...",
			     host, port, via);
	}
	memcpy(o->pw, pw, sizeof(o->pw));
	o->ped_running = 1;
	r = remote_connect(x->f->env.loop, slot_hsm(x->f, x->slot), &ro, &cbs, g, &s->remote);
	OPENSSL_cleanse(pw, sizeof(pw));
	if (r != 0) {
		free(g);
		s->remote = NULL;
		o->ped_running = 0;
		op_end(o, r, "cannot connect to %s:%d: %s", host, port, ped_strerror(r));
	}
}

static void cmd_ped_disconnect(struct cmd_ctx *x)
{
	struct slotrt *s = &x->f->slot[x->slot];

	if (x->argc != 0) {
		hsmsock_end(x->c, PED_E_INVAL, "usage: ped disconnect");
		return;
	}
	if (s->remote == NULL) {
		hsmsock_end(x->c, PED_E_NOT_FOUND, "slot %u has no Remote PED session", x->slot);
		return;
	}
	if (s->op != NULL) {
		hsmsock_end(x->c, PED_E_PED_BUSY, "slot %u is busy with another PED command",
			    x->slot);
		return;
	}
	hsmsock_line(x->c, "out", "Remote PED session with %s closed.", remote_where(s->remote));
	remote_disconnect(s->remote, "ped disconnect");
	hsmsock_end(x->c, 0, NULL);
}

static void cmd_slot_list(struct cmd_ctx *x)
{
	const struct slots *sl = x->f->env.slots;
	struct hsm_info i;
	unsigned k;

	hsmsock_line(x->c, "out", "Slots: %u", sl->n);
	for (k = 0; k < sl->n; k++) {
		const struct slotrt *s = &x->f->slot[k];
		hsm_info(sl->hsm[k], &i);
		hsmsock_line(x->c, "out", "Slot %u: serial %s, label %s, RPV %s, PED %s%s", k,
			     sl->serial[k], i.initialized ? i.label : "(not initialized)",
			     i.rpv_initialized ? "initialized" : "not initialized",
			     s->remote != NULL	  ? "remote "
			     : x->f->env.lped ? "local"
					      : "none",
			     s->remote != NULL ? remote_where(s->remote) : "");
	}
	hsmsock_end(x->c, 0, NULL);
}

struct cmd {
	const char *w1, *w2, *w3;
	void (*fn)(struct cmd_ctx *x);
};

static void cmd_hsm_init(struct cmd_ctx *x) { cmd_init(x, 0); }
static void cmd_partition_init(struct cmd_ctx *x) { cmd_init(x, 1); }

static const struct cmd cmds[] = {
	{"ped", "connect", NULL, cmd_ped_connect},
	{"ped", "disconnect", NULL, cmd_ped_disconnect},
	{"ped", "set", NULL, cmd_ped_set},
	{"ped", "show", NULL, cmd_ped_show},
	{"ped", "vector", "init", cmd_vector_init},
	{"hsm", "init", NULL, cmd_hsm_init},
	{"hsm", "show", NULL, cmd_hsm_show},
	{"partition", "init", NULL, cmd_partition_init},
	{"role", "init", NULL, cmd_role_init},
	{"role", "login", NULL, cmd_role_login},
	{"role", "logout", NULL, cmd_role_logout},
	{"role", "changepw", NULL, cmd_role_changepw},
	{"role", "resetpw", NULL, cmd_role_resetpw},
	{"role", "createchallenge", NULL, cmd_role_createchallenge},
	{"role", "deactivate", NULL, cmd_role_deactivate},
	{"partition", "changepolicy", NULL, cmd_partition_changepolicy},
	{"partition", "showpolicies", NULL, cmd_partition_showpolicies},
	{"slot", "list", NULL, cmd_slot_list},
};

void flows_command(void *ctx, hsmsock_conn_t *c, unsigned slot, int argc, char **argv)
{
	flows_t *f = ctx;
	struct cmd_ctx x = {f, c, slot, 0, NULL};
	char *rest[HSMSOCK_ARGS_MAX];
	size_t i;
	int k, n = 0, words;

	if (f->shutting_down) {
		hsmsock_end(c, PED_E_HOST_CANCELLED, "pedclient is stopping");
		return;
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		const struct cmd *d = &cmds[i];
		words = d->w3 != NULL ? 3 : 2;
		if (argc < words || strcasecmp(argv[0], d->w1) != 0 ||
		    strcasecmp(argv[1], d->w2) != 0 ||
		    (d->w3 != NULL && strcasecmp(argv[2], d->w3) != 0))
			continue;
		/* -slot S (ped connect's, or any command's) selects the slot */
		for (k = words; k < argc; k++) {
			if (strcmp(argv[k], "-slot") == 0 && k + 1 < argc) {
				char *end;
				long v = strtol(argv[k + 1], &end, 10);
				if (*end != '\0' || v < 0 || v > 99) {
					hsmsock_end(c, PED_E_INVAL, "-slot: not a slot number");
					return;
				}
				x.slot = (unsigned)v;
				k++;
				continue;
			}
			rest[n++] = argv[k];
		}
		if (x.slot >= f->env.slots->n) {
			hsmsock_end(c, PED_E_NOT_FOUND, "no slot %u (slots 0-%u; slot list)",
				    x.slot, f->env.slots->n - 1);
			return;
		}
		x.argc = n;
		x.argv = rest;
		d->fn(&x);
		return;
	}
	hsmsock_end(c, PED_E_BAD_REQUEST, "unknown command '%.20s%s%.20s' (help lists them)",
		    argv[0], argc > 1 ? " " : "", argc > 1 ? argv[1] : "");
}

/* ---- life cycle ---- */

int flows_new(const struct flows_env *env, flows_t **out)
{
	flows_t *f;

	*out = NULL;
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return PED_E_NOMEM;
	f->env = *env;
	*out = f;
	return 0;
}

const char *flows_session(const flows_t *f, unsigned slot)
{
	if (slot >= SLOTS_MAX || f->slot[slot].remote == NULL)
		return NULL;
	return remote_where(f->slot[slot].remote);
}

unsigned flows_sessions(const flows_t *f)
{
	unsigned i, n = 0;

	for (i = 0; i < SLOTS_MAX; i++)
		n += f->slot[i].remote != NULL;
	return n;
}

void flows_describe(const flows_t *f, void (*fn)(void *arg, const char *line), void *arg)
{
	char line[300];
	unsigned i;

	for (i = 0; i < f->env.slots->n; i++) {
		if (f->slot[i].remote == NULL)
			continue;
		snprintf(line, sizeof(line), "  Slot %u (HSM %s): %s", i, f->env.slots->serial[i],
			 remote_where(f->slot[i].remote));
		fn(arg, line);
	}
}

void flows_shutdown(flows_t *f, void (*closed)(void *arg), void *arg)
{
	unsigned i;

	f->shutting_down = 1;
	f->closed = closed;
	f->closed_arg = arg;
	/* sessions first: their running operations and connects end through
	 * the session (synchronously); then the Local PED's */
	for (i = 0; i < SLOTS_MAX; i++)
		if (f->slot[i].remote != NULL)
			f->closing++;
	f->closing++; /* held until the loop below is done */
	for (i = 0; i < SLOTS_MAX; i++)
		if (f->slot[i].remote != NULL)
			remote_disconnect(f->slot[i].remote, "pedclient is stopping");
	for (i = 0; i < SLOTS_MAX; i++) {
		struct op *o = f->slot[i].op;
		if (o != NULL)
			op_end(o, PED_E_HOST_CANCELLED, "pedclient is stopping");
	}
	if (--f->closing == 0 && closed != NULL)
		closed(arg);
}

void flows_free(flows_t *f)
{
	free(f);
}
