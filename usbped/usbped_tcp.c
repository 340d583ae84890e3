/* usbped_tcp.c - PED transport over TCP: pedserver connects to a PED that
 * listens (pedemu -link tcp:HOST:PORT, a serial-over-IP box). The connect
 * is asynchronous: bytes written before it completes wait in usbped's queue.
 * A refused or failed connect, an EOF or a read/write error mean the PED
 * left (on_down); pedserver's PED attachment connects again later.
 *
 * The link carries what a serial line carries, unencrypted: a host other
 * than loopback is the operator's explicit choice and is logged as such. */
#include "usbped/usbped.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/err.h"
#include "common/log.h"

#define TCP_READ_CHUNK 4096
#define TCP_WRITE_CHUNK 4096

struct tcpl {
	usbped_t *p;
	uv_tcp_t tcp;
	uv_connect_t creq;
	uv_write_t wreq;
	int connected; /* connect completed, stream usable */
	int dead;      /* down: nothing more is read or written */
	size_t writing; /* bytes of wbuf in flight */
	uint8_t rbuf[TCP_READ_CHUNK];
	uint8_t wbuf[TCP_WRITE_CHUNK];
};

static void tcp_flush(struct tcpl *t);

static void tcp_down(struct tcpl *t, int err)
{
	if (t->dead)
		return;
	t->dead = 1;
	if (t->connected)
		uv_read_stop((uv_stream_t *)&t->tcp);
	usbped_set_down(t->p, err);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct tcpl *t = h->data;

	(void)hint;
	*buf = uv_buf_init((char *)t->rbuf, sizeof(t->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct tcpl *t = s->data;

	(void)buf;
	if (n > 0) {
		usbped_deliver(t->p, t->rbuf, (size_t)n);
		OPENSSL_cleanse(t->rbuf, (size_t)n);
	} else if (n < 0) {
		if (n != UV_EOF)
			log_warning("usbped: %s: read: %s", usbped_describe(t->p), uv_strerror((int)n));
		tcp_down(t, n == UV_EOF || n == UV_ECONNRESET ? PED_E_UNPLUGGED : PED_E_IO);
	}
}

static void on_written(uv_write_t *w, int status)
{
	struct tcpl *t = w->data;
	size_t n = t->writing;

	OPENSSL_cleanse(t->wbuf, n);
	t->writing = 0;
	if (status == UV_ECANCELED)
		return; /* closing */
	if (status < 0) {
		log_warning("usbped: %s: write: %s", usbped_describe(t->p), uv_strerror(status));
		tcp_down(t, PED_E_UNPLUGGED);
		return;
	}
	usbped_consumed(t->p, n);
	tcp_flush(t);
}

/* One write in flight at a time, from a private copy: usbped's queue may
 * move while it is under way. */
static void tcp_flush(struct tcpl *t)
{
	const uint8_t *data;
	uv_buf_t b;
	size_t n;

	if (!t->connected || t->dead || t->writing > 0)
		return;
	if ((n = usbped_peek(t->p, &data)) == 0)
		return;
	if (n > sizeof(t->wbuf))
		n = sizeof(t->wbuf);
	memcpy(t->wbuf, data, n);
	t->writing = n;
	b = uv_buf_init((char *)t->wbuf, (unsigned)n);
	if (uv_write(&t->wreq, (uv_stream_t *)&t->tcp, &b, 1, on_written) < 0) {
		OPENSSL_cleanse(t->wbuf, n);
		t->writing = 0;
		tcp_down(t, PED_E_UNPLUGGED);
	}
}

static void on_connect(uv_connect_t *c, int status)
{
	struct tcpl *t = c->data;

	if (status == UV_ECANCELED)
		return;
	if (status < 0) {
		log_trace("usbped: %s: connect: %s", usbped_describe(t->p), uv_strerror(status));
		tcp_down(t, PED_E_NOT_FOUND);
		return;
	}
	t->connected = 1;
	uv_tcp_nodelay(&t->tcp, 1);
	if (uv_read_start((uv_stream_t *)&t->tcp, on_alloc, on_read) < 0) {
		tcp_down(t, PED_E_IO);
		return;
	}
	log_info("usbped: %s: connected", usbped_describe(t->p));
	tcp_flush(t);
}

static void free_data(uv_handle_t *h)
{
	free(h->data);
}

static int tcp_open(usbped_t *p, const usbped_spec_t *spec, void **state)
{
	struct sockaddr_storage sa;
	struct tcpl *t = NULL;
	int loopback, r;

	*state = NULL;
	if ((r = usbped_tcp_addr(spec, &sa, &loopback)) < 0)
		return r;
	if (!loopback)
		log_warning("usbped: %s is not a loopback address: the PED link is not encrypted, "
			    "keep it on a network you trust", spec->path);
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return PED_E_NOMEM;
	t->p = p;
	if (uv_tcp_init(usbped_loop(p), &t->tcp) < 0) {
		free(t);
		return PED_E_IO;
	}
	t->tcp.data = t;
	t->creq.data = t;
	t->wreq.data = t;
	/* The handle is initialised: from now on it is released by tcp_close. */
	*state = t;
	if ((r = uv_tcp_connect(&t->creq, &t->tcp, (const struct sockaddr *)&sa, on_connect)) < 0) {
		log_error("usbped: %s: connect: %s", usbped_describe(p), uv_strerror(r));
		t->dead = 1; /* usbped_open fails: nothing to report */
		uv_close((uv_handle_t *)&t->tcp, free_data);
		*state = NULL;
		return PED_E_IO;
	}
	return 0;
}

static void tcp_kick(usbped_t *p, void *state)
{
	(void)p;
	tcp_flush(state);
}

static void tcp_closed(uv_handle_t *h)
{
	struct tcpl *t = h->data;
	usbped_t *p = t->p;

	OPENSSL_cleanse(t, sizeof(*t));
	free(t);
	usbped_backend_closed(p);
}

static void tcp_close(usbped_t *p, void *state)
{
	struct tcpl *t = state;

	(void)p;
	t->dead = 1;
	uv_close((uv_handle_t *)&t->tcp, tcp_closed);
}

const usbped_backend_t usbped_tcp_backend = {
	.name = "tcp",
	.open = tcp_open,
	.kick = tcp_kick,
	.close = tcp_close,
};
