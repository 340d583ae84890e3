/* outbound.c - PED-initiated links (docs/PROTOCOL.md Part 5): on `-mode
 * connect -name N` pedserver dials the registered appliance N (the HSM
 * host's pedclient, port 9697 by default) over TLS 1.3 pinned to the
 * registered certificate, and hands the link's plaintext to the server
 * (server_adopt) where the HSM opens the Part 3 session as usual. A link
 * that drops or cannot be made is dialled again after an exponential
 * back-off with jitter, until `-mode disconnect -name N`. */
#include "pedserver/pedserver.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "common/audit.h"
#include "common/err.h"
#include "common/log.h"
#include "session/tlslink.h"
#include "session/tlspins.h"

#define RETRY_MIN_MS 500u
#define RETRY_MAX_MS 30000u

enum ostate { OL_OFF, OL_CONNECTING, OL_UP, OL_WAIT };

static const char *const state_names[] = {"disconnected", "connecting", "connected",
					  "waiting to retry"};

struct olink {
	struct outbound *ob;
	bool used, wanted;
	struct tlspin pin;
	enum ostate st;
	tlslink_ctx_t *ctx;
	tlslink_t *tl;
	uv_connect_t creq;
	uv_timer_t retry;
	bool retry_init;
	unsigned attempts;
	uint64_t retry_at;      /* uv_now of the next attempt */
	time_t since;           /* connected since */
	char since_text[32];
	char last_err[TLSLINK_WHY_MAX + 320];
	char peer_fp[TLSCERT_FP_TEXT];
};

struct outbound {
	uv_loop_t *loop;
	server_t *srv;
	char statedir[PATH_MAX];
	unsigned handshake_ms;
	struct olink l[TLSPINS_MAX];
	unsigned handles;        /* retry timers and links still open */
	bool closing;
	void (*done)(void *arg);
	void *done_arg;
};

static void attempt(struct olink *k);

static void maybe_done(struct outbound *o)
{
	if (!o->closing || o->handles > 0)
		return;
	if (o->done != NULL)
		o->done(o->done_arg);
	free(o);
}

static void label(const struct olink *k, char *out, size_t cap)
{
	snprintf(out, cap, "appliance %s (%s:%d)", k->pin.name, k->pin.addr, k->pin.port);
}

static void on_retry(uv_timer_t *t)
{
	attempt(t->data);
}

/* The next attempt after RETRY_MIN_MS * 2^attempts, at most RETRY_MAX_MS,
 * of which a random half (jitter: links of many pedservers do not beat
 * together after an appliance restarts). */
static void schedule(struct olink *k)
{
	uint64_t d = RETRY_MIN_MS;
	uint32_t rnd = 0;
	unsigned i;

	for (i = 0; i < k->attempts && d < RETRY_MAX_MS; i++)
		d *= 2;
	if (d > RETRY_MAX_MS)
		d = RETRY_MAX_MS;
	if (RAND_bytes((unsigned char *)&rnd, sizeof(rnd)) != 1)
		rnd = (uint32_t)time(NULL);
	d = d / 2 + rnd % (d / 2 + 1);
	if (k->attempts < 32)
		k->attempts++;
	k->st = OL_WAIT;
	k->retry_at = uv_now(k->ob->loop) + d;
	uv_timer_start(&k->retry, on_retry, d, 0);
}

static void link_up(void *arg, int fd, const char *name, const char *fp)
{
	struct olink *k = arg;
	char lb[160];
	struct tm tm;

	(void)name;
	label(k, lb, sizeof(lb));
	snprintf(k->peer_fp, sizeof(k->peer_fp), "%s", fp);
	if (!k->wanted || server_adopt(k->ob->srv, fd, lb) != 0) {
		if (k->wanted)
			tlslink_close(k->tl, PED_E_IO, "the server cannot take the link");
		else
			tlslink_drop_fd(k->ob->loop, fd);
		return;
	}
	k->st = OL_UP;
	k->attempts = 0;
	k->since = time(NULL);
	gmtime_r(&k->since, &tm);
	strftime(k->since_text, sizeof(k->since_text), "%Y-%m-%d %H:%M:%S UTC", &tm);
	k->last_err[0] = '\0';
	log_info("%s: PED-initiated link up (TLS 1.3 handshake %.2f ms, appliance fingerprint %s)",
		 lb, tlslink_handshake_ms(k->tl), fp);
	audit_event("link_up", "appliance:s address:s port:d fingerprint:s", k->pin.name,
		    k->pin.addr, k->pin.port, fp);
}

static void link_down(void *arg, int code, const char *why, const char *fp)
{
	struct olink *k = arg;
	struct outbound *o = k->ob;
	char lb[160];
	bool was_up = k->st == OL_UP;

	label(k, lb, sizeof(lb));
	k->tl = NULL;
	tlslink_ctx_free(k->ctx);
	k->ctx = NULL;
	if (fp != NULL && fp[0] != '\0')
		snprintf(k->peer_fp, sizeof(k->peer_fp), "%s", fp);
	if (code != 0 || !was_up)
		snprintf(k->last_err, sizeof(k->last_err), "%s (%s)", why,
			 ped_errname(code != 0 ? code : PED_E_DISCONNECTED));
	if (was_up) {
		log_info("%s: PED-initiated link down: %s", lb, why);
		audit_event("link_down", "appliance:s fingerprint:s result:s", k->pin.name,
			    k->peer_fp, ped_errname(code));
	} else {
		log_warning("%s: link not made: %s (%s)", lb, why, ped_errname(code));
		if (code == PED_E_CERT_UNKNOWN || code == PED_E_TLS_HANDSHAKE)
			audit_event("link_refused", "appliance:s offered:s result:s", k->pin.name,
				    fp != NULL && fp[0] != '\0' ? fp : NULL, ped_errname(code));
	}
	if (o->closing || !k->wanted) {
		k->st = OL_OFF;
		o->handles--;
		maybe_done(o);
		return;
	}
	o->handles--;
	schedule(k);
}

static const struct tlslink_cbs link_cbs = {link_up, link_down};

static void on_connect(uv_connect_t *req, int status)
{
	struct olink *k = req->data;
	char lb[160], why[200];

	if (k->tl == NULL)
		return;
	label(k, lb, sizeof(lb));
	if (status != 0 || !k->wanted) {
		snprintf(why, sizeof(why), "cannot connect to %s:%d: %s", k->pin.addr, k->pin.port,
			 status != 0 ? uv_strerror(status) : "disconnected");
		tlslink_close(k->tl, status != 0 ? PED_E_IO : 0, why);
		return;
	}
	tlslink_start(k->tl, lb);
}

/* 0 with k->pin refreshed from the store, or -1: the registration is gone
 * or unreadable and the link stops (the operator must -mode connect again). */
static int reload(struct olink *k)
{
	char path[PATH_MAX + 64], err[512];
	struct tlspins pins;
	const struct tlspin *pin;

	snprintf(path, sizeof(path), "%s/%s", k->ob->statedir, OUTBOUND_STORE);
	if (tlspins_load(&pins, path, err, sizeof(err)) == 0 &&
	    (pin = tlspins_by_name(&pins, k->pin.name)) != NULL) {
		k->pin = *pin;
		return 0;
	}
	if (err[0] == '\0')
		snprintf(err, sizeof(err), "appliance %s is no longer registered", k->pin.name);
	snprintf(k->last_err, sizeof(k->last_err), "%s (NAME_NOT_REGISTERED); not dialling", err);
	log_warning("appliance %s: %s", k->pin.name, k->last_err);
	k->wanted = false;
	k->st = OL_OFF;
	return -1;
}

/* One try: load the key (a -regen since is taken), dial, TLS. */
static void attempt(struct olink *k)
{
	struct outbound *o = k->ob;
	struct sockaddr_storage ss;
	struct tlspins pins;
	char err[300];
	int r;

	if (!k->wanted || o->closing || k->tl != NULL)
		return;
	/* the registration as it is now: deleted, or re-registered after a
	 * -regen on the appliance */
	if (reload(k) != 0)
		return;
	k->st = OL_CONNECTING;
	if (uv_ip4_addr(k->pin.addr, k->pin.port, (struct sockaddr_in *)&ss) != 0 &&
	    uv_ip6_addr(k->pin.addr, k->pin.port, (struct sockaddr_in6 *)&ss) != 0) {
		snprintf(k->last_err, sizeof(k->last_err), "%s is not an IP address (INVALID_ARGUMENT)",
			 k->pin.addr);
		schedule(k);
		return;
	}
	if ((r = tlslink_ctx_new(o->statedir, false, &k->ctx, err, sizeof(err))) != 0) {
		snprintf(k->last_err, sizeof(k->last_err), "%s (%s)", err, ped_errname(r));
		log_warning("appliance %s: %s", k->pin.name, k->last_err);
		schedule(k);
		return;
	}
	memset(&pins, 0, sizeof(pins));
	pins.n = 1;
	pins.e[0] = k->pin; /* this appliance's certificate, nothing else */
	if (tlslink_new(o->loop, k->ctx, &pins, o->handshake_ms, &link_cbs, k, &k->tl) != 0) {
		tlslink_ctx_free(k->ctx);
		k->ctx = NULL;
		schedule(k);
		return;
	}
	o->handles++;
	k->creq.data = k;
	if ((r = uv_tcp_connect(&k->creq, tlslink_tcp(k->tl), (struct sockaddr *)&ss,
				on_connect)) != 0)
		tlslink_close(k->tl, PED_E_IO, uv_strerror(r));
}

int outbound_new(uv_loop_t *loop, server_t *srv, const char *statedir, unsigned handshake_ms,
		 outbound_t **out)
{
	struct outbound *o = calloc(1, sizeof(*o));

	*out = NULL;
	if (o == NULL)
		return PED_E_NOMEM;
	o->loop = loop;
	o->srv = srv;
	o->handshake_ms = handshake_ms;
	snprintf(o->statedir, sizeof(o->statedir), "%s", statedir);
	*out = o;
	return 0;
}

static struct olink *find(struct outbound *o, const char *name)
{
	unsigned i;

	for (i = 0; i < TLSPINS_MAX; i++)
		if (o->l[i].used && strcmp(o->l[i].pin.name, name) == 0)
			return &o->l[i];
	return NULL;
}

static void retry_closed(uv_handle_t *h)
{
	struct olink *k = h->data;
	struct outbound *o = k->ob;

	k->retry_init = false;
	o->handles--;
	maybe_done(o);
}

static void do_connect(struct outbound *o, admin_reply_t *r, const char *name)
{
	char path[PATH_MAX + 64], err[512];
	struct tlspins pins;
	const struct tlspin *pin;
	struct olink *k = find(o, name);
	unsigned i;

	snprintf(path, sizeof(path), "%s/%s", o->statedir, OUTBOUND_STORE);
	if (tlspins_load(&pins, path, err, sizeof(err)) != 0) {
		admin_reply_error(r, "PARSE_ERROR", "%s", err);
		return;
	}
	if ((pin = tlspins_by_name(&pins, name)) == NULL) {
		admin_reply_error(r, ped_errname(PED_E_REG_UNKNOWN), "no appliance is registered as %s",
				  name);
		return;
	}
	if (k == NULL) {
		for (i = 0; i < TLSPINS_MAX && o->l[i].used; i++)
			;
		if (i == TLSPINS_MAX) {
			admin_reply_end(r, PED_E_REG_FULL);
			return;
		}
		k = &o->l[i];
		memset(k, 0, sizeof(*k));
		k->used = true;
		k->ob = o;
		uv_timer_init(o->loop, &k->retry);
		k->retry.data = k;
		k->retry_init = true;
		o->handles++;
	}
	if (k->wanted) {
		admin_reply_line(r, "appliance %s: already %s", name, state_names[k->st]);
		admin_reply_end(r, 0);
		return;
	}
	k->pin = *pin; /* the registration as it is now */
	k->wanted = true;
	k->attempts = 0;
	k->last_err[0] = '\0';
	audit_event("link_connect", "appliance:s address:s port:d fingerprint:s", pin->name,
		    pin->addr, pin->port, pin->fp);
	log_info("appliance %s: connecting to %s:%d", pin->name, pin->addr, pin->port);
	attempt(k);
	admin_reply_line(r, "appliance %s: connecting to %s:%d (fingerprint %s)", name, pin->addr,
			 pin->port, pin->fp);
	admin_reply_end(r, 0);
}

static void do_disconnect(struct outbound *o, admin_reply_t *r, const char *name)
{
	struct olink *k = find(o, name);

	if (k == NULL || !k->wanted) {
		admin_reply_error(r, ped_errname(PED_E_NO_LINK), "appliance %s is not connected "
				  "(no -mode connect for it)", name);
		return;
	}
	k->wanted = false;
	uv_timer_stop(&k->retry);
	audit_event("link_disconnect", "appliance:s", name);
	log_info("appliance %s: disconnected by the operator", name);
	if (k->tl != NULL)
		tlslink_close(k->tl, 0, "disconnected by the operator");
	else
		k->st = OL_OFF;
	admin_reply_line(r, "appliance %s: disconnected", name);
	admin_reply_end(r, 0);
}

void outbound_show(outbound_t *o, admin_reply_t *r, const char *name)
{
	struct olink *k = find(o, name);
	uint64_t now = uv_now(o->loop);

	if (k == NULL) {
		admin_reply_line(r, "Appliance %s: disconnected (never connected since the start)",
				 name);
		admin_reply_end(r, 0);
		return;
	}
	admin_reply_line(r, "Appliance:            %s", k->pin.name);
	admin_reply_line(r, "Address:              %s port %d", k->pin.addr, k->pin.port);
	admin_reply_line(r, "Registered cert:      %s", k->pin.fp);
	admin_reply_line(r, "Link state:           %s", state_names[k->st]);
	if (k->st == OL_UP)
		admin_reply_line(r, "Connected since:      %s", k->since_text);
	if (k->st == OL_WAIT)
		admin_reply_line(r, "Next retry in:        %.1f s (attempt %u)",
				 k->retry_at > now ? (double)(k->retry_at - now) / 1000.0 : 0.0,
				 k->attempts + 1);
	admin_reply_line(r, "Last error:           %s", k->last_err[0] != '\0' ? k->last_err
									  : "none");
	admin_reply_end(r, 0);
}

void outbound_describe(const outbound_t *o, admin_reply_t *r)
{
	unsigned i;

	for (i = 0; o != NULL && i < TLSPINS_MAX; i++) {
		const struct olink *k = &o->l[i];
		char what[48];

		if (!k->used || (!k->wanted && k->st == OL_OFF))
			continue;
		snprintf(what, sizeof(what), "PED-initiated Link %s:", k->pin.name);
		admin_reply_line(r, "%-28s %s:%d %s%s%s", what, k->pin.addr, k->pin.port,
				 state_names[k->st], k->st == OL_UP ? " since " : "",
				 k->st == OL_UP ? k->since_text : "");
	}
}

void outbound_admin(outbound_t *o, admin_reply_t *r, int argc, char **argv)
{
	if (argc != 2 || !tlspins_name_ok(argv[1])) {
		admin_reply_end(r, PED_E_INVAL);
		return;
	}
	if (strcmp(argv[0], "link-connect") == 0)
		do_connect(o, r, argv[1]);
	else
		do_disconnect(o, r, argv[1]);
}

void outbound_close(outbound_t *o, void (*done)(void *arg), void *arg)
{
	unsigned i;

	if (o == NULL) {
		if (done != NULL)
			done(arg);
		return;
	}
	o->closing = true;
	o->done = done;
	o->done_arg = arg;
	for (i = 0; i < TLSPINS_MAX; i++) {
		struct olink *k = &o->l[i];

		if (!k->used)
			continue;
		k->wanted = false;
		if (k->tl != NULL)
			tlslink_close(k->tl, 0, "pedserver is stopping");
		if (k->retry_init)
			uv_close((uv_handle_t *)&k->retry, retry_closed);
	}
	maybe_done(o);
}
