/* probe.c - testid: HELLO purpose PROBE to a pedserver (see probe.h). */
#include "probe.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/sys.h"

struct probe {
	uv_loop_t *loop;
	uv_timer_t timer;
	uv_tcp_t tcp;
	uv_getaddrinfo_t gai;
	uv_connect_t conn;
	uv_write_t wreq;
	struct addrinfo *ai, *next;   /* resolved addresses, the one to try next */
	struct sockaddr_storage addr; /* a numeric host */
	char where[WIRE_STR_MAX + 16]; /* "host:port" for messages */
	char portstr[8];
	char client[WIRE_STR_MAX + 1];
	unsigned timeout_ms;
	uint8_t out[WIRE_HDR_LEN + WIRE_MAX_HELLO];
	size_t outlen;
	uint8_t in[WIRE_HDR_LEN + WIRE_MAX_HELLO];
	size_t inlen;
	int tcp_open, gai_pending, closing, finished;
	struct probe_result res;
	probe_done_fn done;
	void *arg;
};

static void maybe_done(probe_t *p)
{
	if (p->closing > 0 || p->gai_pending)
		return;
	if (p->ai != NULL)
		uv_freeaddrinfo(p->ai);
	p->done(p->arg, &p->res);
	free(p);
}

static void on_closed(uv_handle_t *h)
{
	probe_t *p = h->data;

	p->closing--;
	maybe_done(p);
}

static void finish(probe_t *p, int rc, const char *fmt, ...) PED_PRINTF(3, 4);

static void finish(probe_t *p, int rc, const char *fmt, ...)
{
	va_list ap;

	if (p->finished)
		return;
	p->finished = 1;
	p->res.rc = rc;
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(p->res.message, sizeof(p->res.message), fmt, ap);
		va_end(ap);
	}
	if (p->gai_pending)
		uv_cancel((uv_req_t *)&p->gai);
	p->closing++;
	uv_close((uv_handle_t *)&p->timer, on_closed);
	if (p->tcp_open) {
		p->tcp_open = 0;
		p->closing++;
		uv_close((uv_handle_t *)&p->tcp, on_closed);
	}
	maybe_done(p);
}

static void on_timeout(uv_timer_t *t)
{
	probe_t *p = t->data;

	finish(p, PED_E_IO, "no answer from %s within %u s", p->where, (p->timeout_ms + 999) / 1000);
}

/* A whole frame is in p->in: judge it. */
static void frame(probe_t *p, uint8_t type, const uint8_t *pl, uint32_t len)
{
	struct wire_error e;

	if (type == WIRE_HELLO_ACK) {
		if (wire_hello_ack_decode(pl, len, &p->res.ack) != 0) {
			finish(p, PED_E_PARSE, "%s sent a malformed HELLO_ACK", p->where);
			return;
		}
		if (p->res.ack.version != WIRE_VERSION) {
			finish(p, PED_E_VERSION, "%s chose protocol version %u, this pedclient speaks %d",
			       p->where, p->res.ack.version, WIRE_VERSION);
			return;
		}
		finish(p, 0, NULL);
	} else if (type == WIRE_ERROR) {
		if (wire_error_decode(pl, len, &e) != 0)
			finish(p, PED_E_PARSE, "%s sent a malformed ERROR frame", p->where);
		else
			finish(p, e.code >= 1 && e.code <= 34 ? -(int)e.code : PED_E_BAD_REQUEST,
			       "%s answered ERROR %s: %s", p->where,
			       e.code >= 1 && e.code <= 34 ? ped_errname(-(int)e.code) : "UNKNOWN",
			       e.message);
	} else {
		finish(p, PED_E_PARSE,
		       "%s did not answer with the Remote PED protocol (frame type 0x%02x)", p->where,
		       type);
	}
}

static void check_input(probe_t *p, int eof)
{
	uint8_t type;
	uint32_t len;
	int r = wire_header(p->in, p->inlen, WIRE_MAX_HELLO, &type, &len);

	if (r == PED_E_VERSION && p->inlen >= 2 &&
	    (p->in[1] == WIRE_HELLO_ACK || p->in[1] == WIRE_ERROR)) {
		finish(p, PED_E_VERSION, "%s speaks wire version %u, this pedclient speaks %d",
		       p->where, p->in[0], WIRE_VERSION);
		return;
	}
	if (r == PED_E_VERSION || r == PED_E_TOO_LONG) {
		finish(p, PED_E_PARSE,
		       "%s did not answer with the Remote PED protocol (first bytes %02x %02x)",
		       p->where, p->in[0], p->inlen > 1 ? p->in[1] : 0);
		return;
	}
	if (r == 0 && p->inlen >= WIRE_HDR_LEN + (size_t)len) {
		if (p->inlen > WIRE_HDR_LEN + (size_t)len) {
			finish(p, PED_E_TRAILING, "%s sent bytes after its answer", p->where);
			return;
		}
		frame(p, type, p->in + WIRE_HDR_LEN, len);
		return;
	}
	if (eof)
		finish(p, PED_E_IO, "%s closed the connection %s", p->where,
		       p->inlen == 0 ? "without answering" : "in the middle of its answer");
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	probe_t *p = h->data;

	(void)hint;
	*buf = uv_buf_init((char *)p->in + p->inlen, (unsigned)(sizeof(p->in) - p->inlen));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	probe_t *p = s->data;

	(void)buf;
	if (p->finished)
		return;
	if (n > 0) {
		p->inlen += (size_t)n;
		check_input(p, 0);
		if (!p->finished && p->inlen == sizeof(p->in))
			finish(p, PED_E_TOO_LONG, "%s sent too much", p->where);
	} else if (n == UV_EOF) {
		check_input(p, 1);
	} else if (n < 0) {
		finish(p, PED_E_IO, "connection to %s broke: %s", p->where, uv_strerror((int)n));
	}
}

static void on_write(uv_write_t *w, int status)
{
	probe_t *p = w->data;

	if (status < 0 && !p->finished)
		finish(p, PED_E_IO, "cannot send to %s: %s", p->where, uv_strerror(status));
}

static void try_connect(probe_t *p, const struct sockaddr *sa);

static void on_retry_closed(uv_handle_t *h)
{
	probe_t *p = h->data;
	struct addrinfo *ai = p->next;

	p->closing--;
	if (p->finished) {
		maybe_done(p);
		return;
	}
	p->next = ai->ai_next;
	try_connect(p, ai->ai_addr);
}

static void on_connect(uv_connect_t *c, int status)
{
	probe_t *p = c->data;
	uv_buf_t b;
	int r;

	if (p->finished)
		return;
	if (status < 0) {
		if (p->next != NULL) { /* another address of the name */
			p->tcp_open = 0;
			p->closing++;
			uv_close((uv_handle_t *)&p->tcp, on_retry_closed);
			return;
		}
		finish(p, PED_E_IO, "cannot connect to %s: %s", p->where, uv_strerror(status));
		return;
	}
	b = uv_buf_init((char *)p->out, (unsigned)p->outlen);
	p->wreq.data = p;
	if ((r = uv_write(&p->wreq, (uv_stream_t *)&p->tcp, &b, 1, on_write)) != 0 ||
	    (r = uv_read_start((uv_stream_t *)&p->tcp, on_alloc, on_read)) != 0)
		finish(p, PED_E_IO, "cannot talk to %s: %s", p->where, uv_strerror(r));
}

static void try_connect(probe_t *p, const struct sockaddr *sa)
{
	int r;

	if ((r = uv_tcp_init(p->loop, &p->tcp)) != 0) {
		finish(p, PED_E_IO, "cannot connect to %s: %s", p->where, uv_strerror(r));
		return;
	}
	p->tcp.data = p;
	p->tcp_open = 1;
	p->conn.data = p;
	if ((r = uv_tcp_connect(&p->conn, &p->tcp, sa, on_connect)) != 0)
		finish(p, PED_E_IO, "cannot connect to %s: %s", p->where, uv_strerror(r));
}

static void on_resolved(uv_getaddrinfo_t *g, int status, struct addrinfo *ai)
{
	probe_t *p = g->data;

	p->gai_pending = 0;
	p->ai = ai;
	if (p->finished) {
		maybe_done(p);
		return;
	}
	if (status < 0 || ai == NULL) {
		finish(p, PED_E_IO, "cannot resolve %s: %s", p->where,
		       status < 0 ? uv_strerror(status) : "no address");
		return;
	}
	p->next = ai->ai_next;
	try_connect(p, ai->ai_addr);
}

int probe_start(uv_loop_t *loop, const char *host, int port, unsigned timeout_ms,
		const char *client_name, probe_done_fn done, void *arg, probe_t **out)
{
	struct wire_hello h;
	uint8_t pl[WIRE_MAX_HELLO];
	pbuf_t b, f;
	probe_t *p;
	struct addrinfo hints;
	int r;

	if (out != NULL)
		*out = NULL;
	if (host == NULL || strlen(host) > WIRE_STR_MAX || port < 1 || port > 65535 ||
	    done == NULL || strlen(client_name) > WIRE_STR_MAX)
		return PED_E_INVAL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return PED_E_NOMEM;
	p->loop = loop;
	p->done = done;
	p->arg = arg;
	p->timeout_ms = timeout_ms;
	snprintf(p->where, sizeof(p->where), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
	snprintf(p->portstr, sizeof(p->portstr), "%d", port);
	memset(&h, 0, sizeof(h));
	h.min_version = h.max_version = WIRE_VERSION;
	h.purpose = WIRE_PURPOSE_PROBE;
	snprintf(h.client_name, sizeof(h.client_name), "%s", client_name);
	pbuf_over(&b, pl, sizeof(pl));
	pbuf_over(&f, p->out, sizeof(p->out));
	if (wire_hello_encode(&h, &b) != 0 || wire_frame(&f, WIRE_HELLO, b.data, b.len) != 0) {
		free(p);
		return PED_E_INVAL;
	}
	p->outlen = f.len;
	uv_timer_init(loop, &p->timer);
	p->timer.data = p;
	uv_timer_start(&p->timer, on_timeout, timeout_ms, 0);
	if (out != NULL)
		*out = p;
	if (uv_ip4_addr(host, port, (struct sockaddr_in *)&p->addr) == 0 ||
	    uv_ip6_addr(host, port, (struct sockaddr_in6 *)&p->addr) == 0) {
		try_connect(p, (const struct sockaddr *)&p->addr);
		return 0;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	p->gai.data = p;
	p->gai_pending = 1;
	if ((r = uv_getaddrinfo(loop, &p->gai, on_resolved, host, p->portstr, &hints)) != 0) {
		p->gai_pending = 0;
		finish(p, PED_E_IO, "cannot resolve %s: %s", p->where, uv_strerror(r));
	}
	return 0;
}

void probe_cancel(probe_t *p)
{
	if (p != NULL)
		finish(p, PED_E_HOST_CANCELLED, "%s: test cancelled (pedclient is stopping)",
		       p->where);
}

void probe_describe(const struct probe_result *res, long id, const char *host, long port,
		    void (*fn)(void *arg, const char *line), void *arg)
{
	const struct wire_hello_ack *a = &res->ack;
	char line[1024];

	if (res->rc != 0) {
		snprintf(line, sizeof(line), "testid %ld: %s", id, res->message);
		fn(arg, line);
		return;
	}
	snprintf(line, sizeof(line), "PED ID %ld: pedserver %s:%ld is reachable", id, host, port);
	fn(arg, line);
	snprintf(line, sizeof(line), "  protocol version: %u", a->version);
	fn(arg, line);
	snprintf(line, sizeof(line), "  server: %s (%s)", a->server_name[0] ? a->server_name : "?",
		 a->software[0] ? a->software : "unknown software");
	fn(arg, line);
	if (a->ped_attached)
		snprintf(line, sizeof(line), "  PED: attached (firmware %s, protocol %s)",
			 a->ped_firmware[0] ? a->ped_firmware : "?",
			 a->ped_protocol[0] ? a->ped_protocol : "?");
	else
		snprintf(line, sizeof(line), "  PED: not attached");
	fn(arg, line);
	if (a->busy)
		snprintf(line, sizeof(line), "  busy: yes, held by %s", a->holder);
	else
		snprintf(line, sizeof(line), "  busy: no");
	fn(arg, line);
}
