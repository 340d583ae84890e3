/* port_tcp.c - the emulator's link end over TCP: it listens like a PED
 * behind a serial-over-IP box and serves one host at a time; a second host
 * is accepted and closed at once (the first keeps the PED). The address is
 * loopback unless the operator allows another (-remotelink): the link is
 * not encrypted. Output is copied per write and wiped when it is sent. */
#include "usbped/emu/port_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/err.h"
#include "common/log.h"
#include "usbped/usbped.h"

#define TPORT_OUT_MAX (8 * LINK_MAX_FRAME)

struct conn {
	uv_tcp_t h;
	tport_t *t;
};

struct wreq {
	uv_write_t req;
	tport_t *t;
	size_t len;
	uint8_t data[];
};

struct tport {
	uv_loop_t *loop;
	port_t *owner;
	uv_tcp_t listener;
	struct conn *conn; /* the host, or NULL */
	size_t queued;     /* bytes in writes not yet completed */
	int handles;
	bool closing;
	void (*done)(port_t *owner);
	char name[INET6_ADDRSTRLEN + 16];
	uint8_t rbuf[4096];
};

static void release(tport_t *t)
{
	if (--t->handles > 0)
		return;
	if (t->done != NULL)
		t->done(t->owner);
	OPENSSL_cleanse(t, sizeof(*t));
	free(t);
}

static void conn_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	tport_t *t = c->t;

	free(c);
	release(t);
}

static void drop_host(tport_t *t)
{
	struct conn *c = t->conn;

	if (c == NULL)
		return;
	t->conn = NULL;
	uv_close((uv_handle_t *)&c->h, conn_closed);
	log_info("link: host left %s", t->name);
	if (!t->closing)
		port_updown(t->owner, 0);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct conn *c = h->data;

	(void)hint;
	*buf = uv_buf_init((char *)c->t->rbuf, sizeof(c->t->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	tport_t *t = c->t;

	(void)buf;
	if (n > 0) {
		port_bytes(t->owner, t->rbuf, (size_t)n);
		OPENSSL_cleanse(t->rbuf, (size_t)n);
	} else if (n < 0 && t->conn == c) {
		drop_host(t);
	}
}

static void on_written(uv_write_t *w, int status)
{
	struct wreq *r = (struct wreq *)w;
	tport_t *t = r->t;
	uv_stream_t *s = w->handle;

	t->queued -= r->len;
	OPENSSL_cleanse(r->data, r->len);
	free(r);
	if (status < 0 && status != UV_ECANCELED && t->conn != NULL &&
	    (uv_stream_t *)&t->conn->h == s)
		drop_host(t);
}

int tport_write(tport_t *t, const uint8_t *data, size_t len)
{
	struct wreq *r;
	uv_buf_t b;

	if (t->conn == NULL || t->closing)
		return PED_E_UNPLUGGED;
	if (len > TPORT_OUT_MAX - t->queued)
		return PED_E_NOSPACE;
	if ((r = malloc(sizeof(*r) + len)) == NULL)
		return PED_E_NOMEM;
	r->t = t;
	r->len = len;
	memcpy(r->data, data, len);
	b = uv_buf_init((char *)r->data, (unsigned)len);
	t->queued += len;
	if (uv_write(&r->req, (uv_stream_t *)&t->conn->h, &b, 1, on_written) < 0) {
		t->queued -= len;
		OPENSSL_cleanse(r->data, len);
		free(r);
		drop_host(t);
		return PED_E_UNPLUGGED;
	}
	return 0;
}

static void on_connection(uv_stream_t *server, int status)
{
	tport_t *t = server->data;
	struct conn *c;

	if (status < 0 || t->closing)
		return;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return;
	c->t = t;
	uv_tcp_init(t->loop, &c->h);
	c->h.data = c;
	t->handles++;
	if (uv_accept(server, (uv_stream_t *)&c->h) != 0) {
		uv_close((uv_handle_t *)&c->h, conn_closed);
		return;
	}
	if (t->conn != NULL) {
		log_warning("link: a second host on %s refused (the PED has a host)", t->name);
		uv_close((uv_handle_t *)&c->h, conn_closed);
		return;
	}
	uv_tcp_nodelay(&c->h, 1);
	if (uv_read_start((uv_stream_t *)&c->h, on_alloc, on_read) != 0) {
		uv_close((uv_handle_t *)&c->h, conn_closed);
		return;
	}
	t->conn = c;
	log_info("link: host connected to %s", t->name);
	port_updown(t->owner, 1);
}

static void listener_closed(uv_handle_t *h)
{
	release(h->data);
}

/* The bound address, for the name. */
static void set_name(tport_t *t)
{
	struct sockaddr_storage sa;
	char host[INET6_ADDRSTRLEN] = "?";
	int len = sizeof(sa), port = 0;

	if (uv_tcp_getsockname(&t->listener, (struct sockaddr *)&sa, &len) != 0)
		return;
	if (sa.ss_family == AF_INET6) {
		uv_ip6_name((struct sockaddr_in6 *)&sa, host, sizeof(host));
		port = ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
		snprintf(t->name, sizeof(t->name), "tcp:[%s]:%d", host, port);
	} else {
		uv_ip4_name((struct sockaddr_in *)&sa, host, sizeof(host));
		port = ntohs(((struct sockaddr_in *)&sa)->sin_port);
		snprintf(t->name, sizeof(t->name), "tcp:%s:%d", host, port);
	}
}

int tport_open(uv_loop_t *loop, const char *spec, bool remote_ok, port_t *owner, tport_t **out)
{
	struct sockaddr_storage sa;
	usbped_spec_t s;
	tport_t *t = NULL;
	int loopback, r = PED_E_INVAL, e;

	*out = NULL;
	r = usbped_parse_spec(spec, &s);
	if (r != 0 || s.kind != USBPED_KIND_TCP || usbped_tcp_addr(&s, &sa, &loopback) != 0) {
		log_error("link %s: not tcp:HOST:PORT with a numeric address", spec);
		return PED_E_INVAL;
	}
	if (!loopback && !remote_ok) {
		log_error("link %s: not a loopback address; the link is not encrypted "
			  "(-remotelink allows it)", spec);
		return PED_E_INVAL;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return PED_E_NOMEM;
	t->loop = loop;
	t->owner = owner;
	snprintf(t->name, sizeof(t->name), "%s", spec);
	uv_tcp_init(loop, &t->listener);
	t->listener.data = t;
	t->handles = 1;
	if ((e = uv_tcp_bind(&t->listener, (const struct sockaddr *)&sa, 0)) != 0 ||
	    (e = uv_listen((uv_stream_t *)&t->listener, 4, on_connection)) != 0) {
		log_error("link: cannot listen on %s: %s", spec, uv_strerror(e));
		t->closing = true;
		uv_close((uv_handle_t *)&t->listener, listener_closed);
		return PED_E_IO;
	}
	set_name(t);
	if (!loopback)
		log_warning("link: listening on %s, not loopback: the link is not encrypted",
			    t->name);
	*out = t;
	return 0;
}

const char *tport_name(const tport_t *t)
{
	return t->name;
}

void tport_close(tport_t *t, void (*done)(port_t *owner))
{
	if (t == NULL || t->closing)
		return;
	t->closing = true;
	t->done = done;
	drop_host(t);
	uv_close((uv_handle_t *)&t->listener, listener_closed);
}
