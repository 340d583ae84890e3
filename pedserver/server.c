/* server.c - pedserver's server port: accepts pedclient connections and
 * answers the session protocol's hello (common/wire.h). A HELLO with
 * purpose PROBE gets a HELLO_ACK describing this server and its PED; a
 * SESSION is refused for now (remote sessions come with the next issue).
 * Anything else gets a logged reason and the connection is closed; the
 * server keeps serving.
 *
 * Each connection embeds its handles (socket, one timer) and is freed in
 * the last close callback. The timer is the handshake deadline (the sooner
 * of PEDSERVER_HANDSHAKE_MS and the socket read timeout) until the answer is
 * written, then the socket write timeout. The frame header is checked before
 * the payload is read: the version, then the length against WIRE_MAX_HELLO,
 * so no more than one bounded buffer is ever used per connection. */
#include "pedserver/pedserver.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/wire.h"

#define MAX_LISTEN 3
#define MAX_CONNS 64
#define ADDR_MAX 64

struct conn {
	server_t *srv;
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_write_t wr;
	uint8_t in[WIRE_HDR_LEN + WIRE_MAX_HELLO];
	size_t inlen;
	pbuf_t out;
	char peer[ADDR_MAX + 8];
	unsigned open_handles;
	bool closing, answered;
	struct conn *prev, *next;
};

struct server {
	uv_loop_t *loop;
	pedatt_t *ped;
	uv_tcp_t listener[MAX_LISTEN];
	unsigned nlisten, open_handles;
	char addrs[2 * ADDR_MAX + 4];
	struct conn *conns;
	unsigned nconns;
	unsigned read_ms, write_ms;
	char hostname[WIRE_STR_MAX + 1];
	struct server_stats stats;
	bool closing;
	void (*done)(void *arg);
	void *done_arg;
};

/* ---- connections ---- */

static void maybe_done(server_t *s)
{
	if (s->closing && s->open_handles == 0 && s->conns == NULL) {
		if (s->done != NULL)
			s->done(s->done_arg);
		free(s);
	}
}

static void conn_handle_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	server_t *s = c->srv;

	if (--c->open_handles > 0)
		return;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	s->nconns--;
	pbuf_release(&c->out);
	free(c);
	maybe_done(s);
}

static void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
	uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
}

static void on_written(uv_write_t *w, int status)
{
	struct conn *c = w->data;

	if (status < 0 && status != UV_ECANCELED)
		log_warning("client %s: write failed: %s", c->peer, uv_strerror(status));
	conn_close(c);
}

static void on_timer(uv_timer_t *t)
{
	struct conn *c = t->data;

	if (c->answered)
		log_warning("client %s: write timed out; closing", c->peer);
	else
		log_warning("client %s: no complete HELLO within %u ms; closing", c->peer,
			    c->srv->read_ms < PEDSERVER_HANDSHAKE_MS ? c->srv->read_ms
								   : PEDSERVER_HANDSHAKE_MS);
	c->srv->stats.refused++;
	conn_close(c);
}

/* Sends one frame (already in c->out), then closes. */
static void send_and_close(struct conn *c)
{
	uv_buf_t b = uv_buf_init((char *)pbuf_ptr(&c->out), (unsigned)pbuf_avail(&c->out));
	int r;

	c->answered = true;
	uv_read_stop((uv_stream_t *)&c->tcp);
	uv_timer_start(&c->timer, on_timer, c->srv->write_ms, 0);
	c->wr.data = c;
	if ((r = uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, on_written)) != 0) {
		log_warning("client %s: cannot write: %s", c->peer, uv_strerror(r));
		conn_close(c);
	}
}

/* Answers ERROR code/message (logged with the reason) and closes. */
static void refuse(struct conn *c, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void refuse(struct conn *c, int code, const char *fmt, ...)
{
	struct wire_error e = {0};
	pbuf_t body;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e.message, sizeof(e.message), fmt, ap);
	va_end(ap);
	log_warning("client %s: %s (%s); closing", c->peer, e.message, ped_errname(code));
	c->srv->stats.refused++;
	e.code = (uint16_t)-code;
	pbuf_init(&body, WIRE_MAX_HELLO);
	if (wire_error_encode(&e, &body) != 0 ||
	    wire_frame(&c->out, WIRE_ERROR, pbuf_ptr(&body), pbuf_avail(&body)) != 0) {
		pbuf_release(&body);
		conn_close(c);
		return;
	}
	pbuf_release(&body);
	send_and_close(c);
}

static void answer_probe(struct conn *c, const struct wire_hello *h)
{
	server_t *s = c->srv;
	const pedhost_info_t *info = pedatt_info(s->ped);
	struct wire_hello_ack a = {0};
	pbuf_t body;

	a.version = WIRE_VERSION;
	snprintf(a.server_name, sizeof(a.server_name), "%s", s->hostname);
	snprintf(a.software, sizeof(a.software), "pedserver %s", PEDSERVER_VERSION);
	a.ped_attached = info != NULL;
	if (info != NULL) {
		snprintf(a.ped_firmware, sizeof(a.ped_firmware), "%s", info->firmware);
		snprintf(a.ped_protocol, sizeof(a.ped_protocol), "%u", info->version);
	}
	a.busy = 0;
	pbuf_init(&body, WIRE_MAX_HELLO);
	if (wire_hello_ack_encode(&a, &body) != 0 ||
	    wire_frame(&c->out, WIRE_HELLO_ACK, pbuf_ptr(&body), pbuf_avail(&body)) != 0) {
		pbuf_release(&body);
		refuse(c, PED_E_INTERNAL, "cannot encode the answer");
		return;
	}
	pbuf_release(&body);
	s->stats.probes++;
	log_info("client %s (%s): probe answered, PED %s", c->peer, h->client_name,
		 info != NULL ? "attached" : "not attached");
	send_and_close(c);
}

/* A whole frame is in c->in: validate in a fixed order, answer. */
static void handle_frame(struct conn *c, uint8_t type, const uint8_t *p, size_t len)
{
	struct wire_hello h;
	int r;

	if (type != WIRE_HELLO) {
		refuse(c, PED_E_BAD_REQUEST, "expected HELLO, got message type 0x%02x", type);
		return;
	}
	if ((r = wire_hello_decode(p, len, &h)) != 0) {
		refuse(c, PED_E_PARSE, "malformed HELLO: %s", ped_strerror(r));
		return;
	}
	if (h.min_version > WIRE_VERSION || h.max_version < WIRE_VERSION) {
		refuse(c, PED_E_VERSION, "client speaks versions %u-%u, this server %u",
		       h.min_version, h.max_version, WIRE_VERSION);
		return;
	}
	if (h.purpose == WIRE_PURPOSE_PROBE) {
		answer_probe(c, &h);
	} else if (h.purpose == WIRE_PURPOSE_SESSION) {
		refuse(c, PED_E_BAD_REQUEST,
		       "remote PED sessions are not available in this build yet");
	} else {
		refuse(c, PED_E_BAD_REQUEST, "unknown HELLO purpose %u", h.purpose);
	}
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;

	(void)suggested;
	buf->base = (char *)c->in + c->inlen;
	buf->len = sizeof(c->in) - c->inlen;
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct conn *c = st->data;
	uint8_t type;
	uint32_t len;
	int r;

	(void)buf;
	if (c->closing || c->answered)
		return;
	if (n < 0) {
		if (n != UV_EOF)
			log_warning("client %s: read failed: %s", c->peer, uv_strerror((int)n));
		else if (c->inlen > 0)
			log_warning("client %s: closed in the middle of a message", c->peer);
		conn_close(c);
		return;
	}
	c->inlen += (size_t)n;
	r = wire_header(c->in, c->inlen, WIRE_MAX_HELLO, &type, &len);
	/* the version byte comes first: answer a foreign one at once */
	if (r == PED_E_VERSION || (c->inlen > 0 && c->in[0] != WIRE_VERSION)) {
		refuse(c, PED_E_VERSION, "frame version %u, this server speaks %u", c->in[0],
		       WIRE_VERSION);
		return;
	}
	if (r == PED_E_INCOMPLETE)
		return;
	if (r == PED_E_TOO_LONG) {
		refuse(c, PED_E_TOO_LONG, "HELLO longer than %u bytes", WIRE_MAX_HELLO);
		return;
	}
	if (r != 0) {
		refuse(c, PED_E_PARSE, "bad frame header");
		return;
	}
	if (c->inlen < WIRE_HDR_LEN + (size_t)len)
		return;
	if (c->inlen > WIRE_HDR_LEN + (size_t)len) {
		refuse(c, PED_E_TRAILING, "bytes after the HELLO frame");
		return;
	}
	handle_frame(c, type, c->in + WIRE_HDR_LEN, len);
}

static void peer_name(uv_tcp_t *t, char *out, size_t cap)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	char a[ADDR_MAX] = "?";
	int port = 0;

	if (uv_tcp_getpeername(t, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET6) {
			uv_ip6_name((struct sockaddr_in6 *)&ss, a, sizeof(a));
			port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
			snprintf(out, cap, "[%s]:%d", a, port);
			return;
		}
		uv_ip4_name((struct sockaddr_in *)&ss, a, sizeof(a));
		port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	}
	snprintf(out, cap, "%s:%d", a, port);
}

static void on_connection(uv_stream_t *l, int status)
{
	server_t *s = l->data;
	struct conn *c;

	if (status < 0) {
		log_warning("accept: %s", uv_strerror(status));
		return;
	}
	if (s->closing || (c = calloc(1, sizeof(*c))) == NULL)
		return;
	c->srv = s;
	pbuf_init(&c->out, WIRE_HDR_LEN + WIRE_MAX_HELLO);
	uv_tcp_init(s->loop, &c->tcp);
	uv_timer_init(s->loop, &c->timer);
	c->tcp.data = c->timer.data = c;
	c->open_handles = 2;
	c->next = s->conns;
	if (s->conns != NULL)
		s->conns->prev = c;
	s->conns = c;
	s->nconns++;
	if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0) {
		conn_close(c);
		return;
	}
	peer_name(&c->tcp, c->peer, sizeof(c->peer));
	if (s->nconns > MAX_CONNS) {
		log_warning("client %s: too many connections; closing", c->peer);
		s->stats.refused++;
		conn_close(c);
		return;
	}
	log_trace("client %s: connected", c->peer);
	uv_timer_start(&c->timer, on_timer,
		       s->read_ms < PEDSERVER_HANDSHAKE_MS ? s->read_ms : PEDSERVER_HANDSHAKE_MS, 0);
	uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

/* ---- listeners ---- */

static void listener_closed(uv_handle_t *h)
{
	server_t *s = h->data;

	s->open_handles--;
	maybe_done(s);
}

static int listen_on(server_t *s, const char *addr, int port, bool v6only, char *err,
		     size_t errlen)
{
	struct sockaddr_storage ss;
	uv_tcp_t *t = &s->listener[s->nlisten];
	int r;

	if (strchr(addr, ':') != NULL)
		r = uv_ip6_addr(addr, port, (struct sockaddr_in6 *)&ss);
	else
		r = uv_ip4_addr(addr, port, (struct sockaddr_in *)&ss);
	if (r != 0) {
		snprintf(err, errlen, "-ip %s: not an IPv4 or IPv6 address", addr);
		return r;
	}
	uv_tcp_init(s->loop, t);
	t->data = s;
	s->nlisten++;
	s->open_handles++;
	r = uv_tcp_bind(t, (struct sockaddr *)&ss, v6only ? UV_TCP_IPV6ONLY : 0);
	if (r == 0)
		r = uv_listen((uv_stream_t *)t, 16, on_connection);
	if (r != 0) {
		snprintf(err, errlen, "cannot listen on %s port %d: %s", addr, port,
			 uv_strerror(r));
		return r;
	}
	snprintf(s->addrs + strlen(s->addrs), sizeof(s->addrs) - strlen(s->addrs), "%s%s",
		 s->addrs[0] != '\0' ? ", " : "", addr);
	return 0;
}

void server_set_timeouts(server_t *s, const struct pedserver_cfg *cfg)
{
	s->read_ms = (unsigned)cfg->SocketReadTimeout * 1000u;
	s->write_ms = (unsigned)cfg->SocketWriteTimeout * 1000u;
}

int server_listen(uv_loop_t *loop, const struct pedserver_cfg *cfg, pedatt_t *att,
		  server_t **out, char *err, size_t errlen)
{
	server_t *s;
	char e2[256];
	int r;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->loop = loop;
	s->ped = att;
	server_set_timeouts(s, cfg);
	if (gethostname(s->hostname, sizeof(s->hostname) - 1) != 0)
		snprintf(s->hostname, sizeof(s->hostname), "unknown");
	for (char *q = s->hostname; *q != '\0'; q++)
		if (*q < 0x20 || *q > 0x7e)
			*q = '?';
	if (cfg->Ip[0] != '\0') {
		r = listen_on(s, cfg->Ip, cfg->Port, false, err, errlen);
	} else if (cfg->ExternalServer) {
		/* dual stack where the host has IPv6, else IPv4 only */
		r = listen_on(s, "::", cfg->Port, false, e2, sizeof(e2));
		if (r != 0 && r != UV_EADDRINUSE) { /* the failed handle closes with the rest */
			r = listen_on(s, "0.0.0.0", cfg->Port, false, err, errlen);
		} else if (r != 0) {
			snprintf(err, errlen, "%s", e2);
		}
	} else {
		r = listen_on(s, "127.0.0.1", cfg->Port, false, err, errlen);
		/* ::1 too, when the host has IPv6 */
		if (r == 0 && listen_on(s, "::1", cfg->Port, true, e2, sizeof(e2)) != 0)
			log_trace("not listening on ::1: %s", e2);
	}
	if (r != 0) {
		server_close(s, NULL, NULL);
		return -1;
	}
	*out = s;
	return 0;
}

const char *server_addresses(const server_t *s)
{
	return s != NULL ? s->addrs : "";
}

const struct server_stats *server_stats(const server_t *s)
{
	static const struct server_stats none;

	return s != NULL ? &s->stats : &none;
}

void server_close(server_t *s, void (*done)(void *arg), void *arg)
{
	struct conn *c;
	unsigned i;

	if (s == NULL || s->closing)
		return;
	s->closing = true;
	s->done = done;
	s->done_arg = arg;
	for (i = 0; i < s->nlisten; i++)
		if (!uv_is_closing((uv_handle_t *)&s->listener[i]))
			uv_close((uv_handle_t *)&s->listener[i], listener_closed);
	for (c = s->conns; c != NULL; c = c->next)
		conn_close(c);
	maybe_done(s);
}
