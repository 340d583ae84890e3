/* inbound.c - PED-initiated links on the HSM host (see inbound.h). */
#include "pedclient/inbound.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/audit.h"
#include "common/err.h"
#include "common/log.h"
#include "session/tlslink.h"

struct ilink {
	struct inbound *in;
	bool used, up, taken;
	tlslink_t *tl;
	int fd;                 /* the plaintext end while waiting, else -1 */
	char name[TLSPINS_NAME_MAX + 1];
	char fp[TLSCERT_FP_TEXT];
	char peer[80];
	time_t since;
};

struct inbound {
	uv_loop_t *loop;
	uv_tcp_t listener;
	tlslink_ctx_t *ctx;
	char statedir[PATH_MAX];
	char where[96];
	unsigned handshake_ms;
	struct ilink l[INBOUND_MAX];
	unsigned handles;       /* listener + links */
	bool closing;
	void (*done)(void *arg);
	void *done_arg;
};

static void maybe_done(struct inbound *in)
{
	if (!in->closing || in->handles > 0)
		return;
	tlslink_ctx_free(in->ctx);
	if (in->done != NULL)
		in->done(in->done_arg);
	free(in);
}

static void link_up(void *arg, int fd, const char *name, const char *fp)
{
	struct ilink *k = arg;

	k->up = true;
	k->fd = fd;
	k->since = time(NULL);
	snprintf(k->name, sizeof(k->name), "%s", name);
	snprintf(k->fp, sizeof(k->fp), "%s", fp);
	log_info("pedserver %s (%s): PED-initiated link up (TLS 1.3, fingerprint %s)", name,
		 k->peer, fp);
	audit_event("link_up", "pedserver:s peer:s fingerprint:s", name, k->peer, fp);
}

static void link_down(void *arg, int code, const char *why, const char *fp)
{
	struct ilink *k = arg;
	struct inbound *in = k->in;

	if (k->up) {
		log_info("pedserver %s (%s): PED-initiated link down: %s", k->name, k->peer, why);
		audit_event("link_down", "pedserver:s fingerprint:s result:s", k->name, k->fp,
			    ped_errname(code));
	} else {
		log_warning("pedserver at %s: link refused: %s (%s)", k->peer, why, ped_errname(code));
		audit_event("link_refused", "peer:s offered:s result:s", k->peer,
			    fp != NULL && fp[0] != '\0' ? fp : NULL, ped_errname(code));
	}
	if (k->fd >= 0)
		tlslink_drop_fd(in->loop, k->fd);
	memset(k, 0, sizeof(*k));
	k->fd = -1;
	in->handles--;
	maybe_done(in);
}

static const struct tlslink_cbs link_cbs = {link_up, link_down};

static void peer_of(uv_tcp_t *t, char *out, size_t cap)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	char a[64] = "?";

	if (uv_tcp_getpeername(t, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET6)
			uv_ip6_name((struct sockaddr_in6 *)&ss, a, sizeof(a));
		else
			uv_ip4_name((struct sockaddr_in *)&ss, a, sizeof(a));
		snprintf(out, cap, "%s:%d", a,
			 ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						      : ((struct sockaddr_in *)&ss)->sin_port));
	} else {
		snprintf(out, cap, "?");
	}
}

static void reject_closed(uv_handle_t *h)
{
	free(h);
}

static void on_connection(uv_stream_t *l, int status)
{
	struct inbound *in = l->data;
	char path[PATH_MAX + 64], err[512];
	struct tlspins pins;
	struct ilink *k = NULL;
	uv_tcp_t *t;
	unsigned i;

	if (status < 0 || in->closing)
		return;
	for (i = 0; i < INBOUND_MAX && k == NULL; i++)
		if (!in->l[i].used)
			k = &in->l[i];
	snprintf(path, sizeof(path), "%s/%s", in->statedir, INBOUND_STORE);
	/* the registrations as they are now: a change needs no restart */
	if (k == NULL || tlspins_load(&pins, path, err, sizeof(err)) != 0) {
		if (k != NULL)
			log_warning("PED-initiated link refused: %s", err);
		else
			log_warning("PED-initiated link refused: %u links already", INBOUND_MAX);
		if ((t = malloc(sizeof(*t))) != NULL && uv_tcp_init(in->loop, t) == 0) {
			(void)uv_accept(l, (uv_stream_t *)t);
			uv_close((uv_handle_t *)t, reject_closed);
		} else {
			free(t);
		}
		return;
	}
	memset(k, 0, sizeof(*k));
	k->in = in;
	k->fd = -1;
	if (tlslink_new(in->loop, in->ctx, &pins, in->handshake_ms, &link_cbs, k, &k->tl) != 0)
		return;
	k->used = true;
	in->handles++;
	if (uv_accept(l, (uv_stream_t *)tlslink_tcp(k->tl)) != 0) {
		tlslink_close(k->tl, PED_E_IO, "accept failed");
		return;
	}
	peer_of(tlslink_tcp(k->tl), k->peer, sizeof(k->peer));
	tlslink_start(k->tl, k->peer);
}

static void listener_closed(uv_handle_t *h);

int inbound_listen(uv_loop_t *loop, const char *statedir, const char *ip, int port,
		   unsigned handshake_ms, inbound_t **out, char *err, size_t errlen)
{
	struct inbound *in = calloc(1, sizeof(*in));
	struct sockaddr_storage ss;
	const char *addr = ip != NULL && ip[0] != '\0' ? ip : "0.0.0.0";
	int r = PED_E_NOMEM;
	unsigned i;

	*out = NULL;
	if (in == NULL)
		goto fail;
	in->loop = loop;
	in->handshake_ms = handshake_ms;
	snprintf(in->statedir, sizeof(in->statedir), "%s", statedir);
	for (i = 0; i < INBOUND_MAX; i++)
		in->l[i].fd = -1;
	if ((r = tlslink_ctx_new(statedir, true, &in->ctx, err, errlen)) != 0)
		goto fail;
	r = PED_E_INVAL;
	if (uv_ip4_addr(addr, port, (struct sockaddr_in *)&ss) != 0 &&
	    uv_ip6_addr(addr, port, (struct sockaddr_in6 *)&ss) != 0) {
		snprintf(err, errlen, "PedInitiated Ip %s is not an IP address", addr);
		goto fail;
	}
	uv_tcp_init(loop, &in->listener);
	in->listener.data = in;
	in->handles = 1;
	if ((r = uv_tcp_bind(&in->listener, (struct sockaddr *)&ss, 0)) != 0 ||
	    (r = uv_listen((uv_stream_t *)&in->listener, 64, on_connection)) != 0) {
		snprintf(err, errlen, "cannot listen on %s port %d: %s", addr, port, uv_strerror(r));
		in->closing = true; /* freed once the listener is closed */
		uv_close((uv_handle_t *)&in->listener, listener_closed);
		return PED_E_IO;
	}
	snprintf(in->where, sizeof(in->where), "%s port %d", addr, port);
	log_info("PED-initiated links: listening on %s (this host's certificate %s)", in->where,
		 tlslink_ctx_fp(in->ctx));
	*out = in;
	return 0;
fail:
	if (in != NULL)
		tlslink_ctx_free(in->ctx);
	free(in);
	return r;
}

int inbound_take(inbound_t *in, const char *name, int *fd, char *got, size_t gotlen)
{
	unsigned i;

	for (i = 0; in != NULL && i < INBOUND_MAX; i++) {
		struct ilink *k = &in->l[i];

		if (!k->used || !k->up || k->taken || k->fd < 0 ||
		    (name != NULL && strcmp(name, k->name) != 0))
			continue;
		k->taken = true;
		*fd = k->fd;
		k->fd = -1;
		snprintf(got, gotlen, "%s", k->name);
		return 0;
	}
	return PED_E_NO_LINK;
}

void inbound_describe(const inbound_t *in, void (*fn)(void *arg, const char *line), void *arg)
{
	char line[512], t[40];
	struct tm tm;
	unsigned i;

	if (in == NULL) {
		fn(arg, "PED-initiated links:  off (PedInitiated Listen=0)");
		return;
	}
	snprintf(line, sizeof(line), "PED-initiated links:  listening on %s", in->where);
	fn(arg, line);
	for (i = 0; i < INBOUND_MAX; i++) {
		const struct ilink *k = &in->l[i];

		if (!k->used || !k->up)
			continue;
		gmtime_r(&k->since, &tm);
		strftime(t, sizeof(t), "%Y-%m-%d %H:%M:%S UTC", &tm);
		snprintf(line, sizeof(line), "  Link %s from %s: %s since %s, fingerprint %s", k->name,
			 k->peer, k->taken ? "in a session" : "waiting for ped connect", t, k->fp);
		fn(arg, line);
	}
}

static void listener_closed(uv_handle_t *h)
{
	struct inbound *in = h->data;

	in->handles--;
	maybe_done(in);
}

void inbound_close(inbound_t *in, void (*done)(void *arg), void *arg)
{
	unsigned i;

	if (in == NULL) {
		if (done != NULL)
			done(arg);
		return;
	}
	in->closing = true;
	in->done = done;
	in->done_arg = arg;
	for (i = 0; i < INBOUND_MAX; i++)
		if (in->l[i].used && in->l[i].tl != NULL)
			tlslink_close(in->l[i].tl, 0, "pedclient is stopping");
	uv_close((uv_handle_t *)&in->listener, listener_closed);
}
