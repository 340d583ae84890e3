/* lped.c - the Local PED (see lped.h). */
#include "lped.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/err.h"
#include "common/log.h"

enum lped_state { L_IDLE, L_WAIT_UP, L_SECURING, L_RUNNING };

struct lped {
	uv_loop_t *loop;
	pedhost_t *h;
	char path[4096];
	char host[256];
	int opening;          /* HELLO sent, no on_up/on_down yet */
	int no_kex;           /* this PED does not know KEX_OFFER (until the next HELLO) */
	int cancel_pending;   /* cancelled while the link was being secured */
	hsm_t *secured_for;   /* the HSM the link's keys belong to */
	enum lped_state st;
	hsm_t *hsm;
	struct pedreq req;
	struct pedport_owner owner;
	uint16_t id;
};

static void complete(lped_t *l, int err)
{
	pedhost_result_t *res;
	struct pedport_owner o = l->owner;

	l->st = L_IDLE;
	if ((res = calloc(1, sizeof(*res))) == NULL)
		return; /* cannot happen in practice; the owner's deadline ends it */
	res->op = l->req.op;
	res->status = err;
	if (o.on_result != NULL)
		o.on_result(o.arg, res);
	free(res);
}

static int step_send(lped_t *l)
{
	const struct pedreq *q = &l->req;
	int r;

	if (q->op == LINK_READ_KEYSET)
		r = pedhost_read_keyset(l->h, q->key_type, q->timeout_ms, q->title,
					q->any_keyset ? NULL : q->keyset, &l->id);
	else
		r = pedhost_create_keyset(l->h, q->key_type, q->timeout_ms, q->title, q->label,
					  q->allow_reuse, &l->id);
	if (r == 0)
		l->st = L_RUNNING;
	return r;
}

static int derive(void *arg, const uint8_t qe_u[ECP_PUB_LEN], const uint8_t nonce_v[KAS_NONCE_LEN],
		  const uint8_t context[PEDHOST_KEX_CONTEXT_LEN], kas_keys_t *keys)
{
	lped_t *l = arg;
	struct hsm_chan_params p;

	if (l->st != L_SECURING || l->hsm == NULL)
		return PED_E_INTERNAL;
	memset(&p, 0, sizeof(p));
	p.scheme = KAS_ONE_PASS;
	p.peer_ephem = qe_u;
	p.context = context;
	p.context_len = PEDHOST_KEX_CONTEXT_LEN;
	p.nonce_v = nonce_v;
	return hsm_channel_keys(l->hsm, &p, keys, NULL);
}

static void secure_done(void *arg, int err)
{
	lped_t *l = arg;

	if (l->st != L_SECURING)
		return;
	if (err == PED_E_BAD_REQUEST) {
		log_warning("local PED %s does not support the secure link; using it unsecured",
			    l->path);
		l->no_kex = 1;
		err = 0;
	} else if (err == 0) {
		l->secured_for = l->hsm;
		log_info("local PED %s: link secured (One-Pass C(1e,1s))", l->path);
	}
	if (err == 0 && l->cancel_pending)
		err = PED_E_HOST_CANCELLED;
	if (err == 0)
		err = step_send(l);
	if (err != 0)
		complete(l, err);
}

static int step_secure(lped_t *l)
{
	uint8_t qs[ECP_PUB_LEN];
	int r;

	if (l->no_kex || (l->secured_for == l->hsm && pedhost_is_secure(l->h)))
		return step_send(l);
	if ((r = hsm_static_public(l->hsm, qs)) != 0)
		return r;
	l->secured_for = NULL;
	l->st = L_SECURING;
	r = pedhost_secure(l->h, qs, derive, l, secure_done);
	if (r != 0)
		l->st = L_IDLE;
	return r;
}

static void on_up(void *arg, const pedhost_info_t *info)
{
	lped_t *l = arg;
	int r;

	l->opening = 0;
	l->no_kex = 0;
	l->secured_for = NULL;
	log_info("local PED %s up: firmware %s, serial %s", l->path, info->firmware, info->serial);
	if (l->st == L_WAIT_UP && (r = step_secure(l)) != 0)
		complete(l, r);
}

static void on_down(void *arg, int err)
{
	lped_t *l = arg;

	l->opening = 0;
	l->secured_for = NULL;
	log_warning("local PED %s down: %s", l->path, ped_strerror(err));
	if (l->st == L_WAIT_UP)
		complete(l, err == PED_E_PED_TIMEOUT ? err : PED_E_UNPLUGGED);
}

static void on_status(void *arg, int err, const pedhost_status_t *st)
{
	(void)arg;
	(void)err;
	(void)st;
}

static void on_event(void *arg, uint16_t id, const pedhost_event_t *ev)
{
	lped_t *l = arg;

	if (l->st == L_RUNNING && id == l->id && l->owner.on_event != NULL)
		l->owner.on_event(l->owner.arg, ev);
}

static void on_result(void *arg, uint16_t id, const pedhost_result_t *res)
{
	lped_t *l = arg;
	struct pedport_owner o = l->owner;

	if (l->st != L_RUNNING || id != l->id)
		return;
	l->st = L_IDLE;
	if (o.on_result != NULL)
		o.on_result(o.arg, res);
}

static const pedhost_cbs_t cbs = {on_up, on_down, on_status, on_event, on_result};

static int open_link(lped_t *l)
{
	pedhost_opts_t o;
	int r;

	if (l->h != NULL) {
		if (l->opening)
			return 0;
		r = pedhost_reopen(l->h);
	} else {
		memset(&o, 0, sizeof(o));
		o.spec = l->path;
		o.host_name = l->host;
		r = pedhost_open(l->loop, &o, &cbs, l, &l->h);
	}
	if (r == 0)
		l->opening = 1;
	return r;
}

int lped_new(uv_loop_t *loop, const char *path, const char *host_name, lped_t **out)
{
	lped_t *l;
	int r;

	*out = NULL;
	if (strlen(path) >= sizeof(l->path))
		return PED_E_INVAL;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return PED_E_NOMEM;
	l->loop = loop;
	snprintf(l->path, sizeof(l->path), "%s", path);
	snprintf(l->host, sizeof(l->host), "%s", host_name);
	if ((r = open_link(l)) != 0)
		log_warning("local PED %s: %s; looked for again at the next PED operation", path,
			    ped_strerror(r));
	*out = l;
	return 0;
}

int lped_is_up(const lped_t *l)
{
	return l != NULL && l->h != NULL && pedhost_is_up(l->h);
}

const char *lped_path(const lped_t *l)
{
	return l->path;
}

int lped_start(lped_t *l, hsm_t *hsm, const struct pedreq *req,
	       const struct pedport_owner *owner)
{
	int r;

	if (l->st != L_IDLE)
		return PED_E_PED_BUSY;
	l->hsm = hsm;
	l->cancel_pending = 0;
	l->req = *req;
	l->owner = *owner;
	if (l->h == NULL || !pedhost_is_up(l->h)) {
		if ((r = open_link(l)) != 0)
			return PED_E_UNPLUGGED;
		l->st = L_WAIT_UP;
		return 0;
	}
	if ((r = step_secure(l)) != 0)
		l->st = L_IDLE;
	return r;
}

int lped_send_shares(lped_t *l, const uint8_t keyset[LINK_KEYSET_ID_LEN],
		     const shamir_share_t *shares, unsigned count)
{
	if (l->st != L_RUNNING)
		return PED_E_BAD_REQUEST;
	return pedhost_send_shares(l->h, l->id, keyset, shares, count);
}

void lped_cancel(lped_t *l)
{
	if (l->st == L_RUNNING)
		pedhost_cancel(l->h, l->id);
	else if (l->st == L_WAIT_UP)
		complete(l, PED_E_HOST_CANCELLED);
	else if (l->st == L_SECURING)
		l->cancel_pending = 1; /* the agreement ends within its margin */
}

void lped_close(lped_t *l, void (*closed)(void *arg), void *arg)
{
	if (l == NULL)
		return;
	l->owner.on_event = NULL;
	l->owner.on_result = NULL;
	l->st = L_IDLE;
	if (l->h != NULL)
		pedhost_close(l->h, closed, arg);
	else if (closed != NULL)
		closed(arg);
	OPENSSL_cleanse(&l->req, sizeof(l->req));
	free(l);
}
