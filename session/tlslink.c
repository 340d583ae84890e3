/* tlslink.c - TLS 1.3 through memory BIOs on a libuv TCP stream, its
 * plaintext bridged to a local socket pair (see tlslink.h). */
#include "session/tlslink.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/err.h"
#include "common/log.h"

#define CHUNK 16384
/* Bytes queued towards one side beyond which the link is dropped: the
 * session bounds its own traffic far below this (one record in flight per
 * PED operation, pings), so only a misbehaving peer gets here. */
#define QUEUE_MAX (1024 * 1024)
#define PATH_CAP 4200

struct tlslink_ctx {
	SSL_CTX *ssl;
	bool server;
	char fp[TLSCERT_FP_TEXT];
};

struct wr {
	uv_write_t w;
	tlslink_t *l;
	size_t len;
	uint8_t data[];
};

struct tlslink {
	uv_loop_t *loop;
	tlslink_ctx_t *ctx;
	struct tlspins pins;
	unsigned handshake_ms;
	struct tlslink_cbs cbs;
	void *arg;
	uv_tcp_t tcp;       /* the network side */
	uv_tcp_t plain;     /* our end of the socket pair */
	uv_timer_t timer;   /* the handshake deadline */
	SSL *ssl;
	BIO *rbio, *wbio;   /* network -> SSL, SSL -> network */
	int handles;        /* open uv handles */
	bool shook, up, plain_open, closing, draining;
	unsigned writes;    /* network writes in flight */
	int code;
	uint64_t t_start, t_up; /* uv_hrtime at tlslink_start and when up */
	bool refused;       /* our pin check refused the peer */
	char why[TLSLINK_WHY_MAX];
	char peer[96];
	char fp[TLSCERT_FP_TEXT];
	char name[TLSPINS_NAME_MAX + 1];
	uint8_t buf[CHUNK];
};

/* ---- context ---- */

/* Pinned, exact match: the peer's leaf certificate's fingerprint must be
 * registered. No chain, no CA, no dates, no names (docs/PROTOCOL.md §5.2). */
static int verify_pinned(X509_STORE_CTX *xs, void *arg)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	tlslink_t *l = ssl != NULL ? SSL_get_app_data(ssl) : NULL;
	X509 *leaf = X509_STORE_CTX_get0_cert(xs);
	const struct tlspin *pin;

	(void)arg;
	if (l == NULL || leaf == NULL || tlscert_fp(leaf, l->fp) != 0) {
		X509_STORE_CTX_set_error(xs, X509_V_ERR_UNSPECIFIED);
		return 0;
	}
	if ((pin = tlspins_by_fp(&l->pins, l->fp)) == NULL) {
		l->refused = true;
		X509_STORE_CTX_set_error(xs, X509_V_ERR_CERT_REJECTED);
		return 0;
	}
	snprintf(l->name, sizeof(l->name), "%s", pin->name);
	if (X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0)
		log_warning("tls %s: the certificate of %s (fingerprint %s) has expired; accepted "
			    "because it is registered (the pin decides)", l->peer, pin->name, l->fp);
	X509_STORE_CTX_set_error(xs, X509_V_OK);
	return 1;
}

int tlslink_ctx_new(const char *dir, bool server, tlslink_ctx_t **out, char *err, size_t errlen)
{
	char kpath[PATH_CAP], cpath[PATH_CAP];
	tlslink_ctx_t *c = calloc(1, sizeof(*c));
	FILE *f = NULL;
	X509 *x = NULL;
	int r = PED_E_NOMEM;

	*out = NULL;
	err[0] = '\0';
	if (c == NULL)
		goto out;
	c->server = server;
	snprintf(kpath, sizeof(kpath), "%s/%s", dir, TLSCERT_KEY_FILE);
	snprintf(cpath, sizeof(cpath), "%s/%s", dir, TLSCERT_CRT_FILE);
	r = PED_E_NO_CERT;
	if ((f = fopen(cpath, "r")) == NULL || (x = PEM_read_X509(f, NULL, NULL, NULL)) == NULL) {
		snprintf(err, errlen, "no certificate in %s (make one with -regen)", cpath);
		goto out;
	}
	if (tlscert_fp(x, c->fp) != 0)
		goto out;
	r = PED_E_CRYPTO;
	if ((c->ssl = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(c->ssl, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(c->ssl, TLS1_3_VERSION) != 1)
		goto out;
	/* no resumption: no tickets, no session cache, every link a full handshake */
	SSL_CTX_set_options(c->ssl, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_num_tickets(c->ssl, 0);
	SSL_CTX_set_session_cache_mode(c->ssl, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_verify(c->ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_cert_verify_callback(c->ssl, verify_pinned, NULL);
	if (SSL_CTX_use_certificate(c->ssl, x) != 1 ||
	    SSL_CTX_use_PrivateKey_file(c->ssl, kpath, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(c->ssl) != 1) {
		r = PED_E_NO_CERT;
		snprintf(err, errlen, "%s does not hold the key of %s", kpath, cpath);
		goto out;
	}
	*out = c;
	c = NULL;
	r = 0;
out:
	ERR_clear_error();
	if (f != NULL)
		fclose(f);
	X509_free(x);
	tlslink_ctx_free(c);
	if (r != 0 && err[0] == '\0')
		snprintf(err, errlen, "%s", ped_strerror(r));
	return r;
}

void tlslink_ctx_free(tlslink_ctx_t *c)
{
	if (c == NULL)
		return;
	SSL_CTX_free(c->ssl);
	free(c);
}

const char *tlslink_ctx_fp(const tlslink_ctx_t *c)
{
	return c->fp;
}

/* ---- teardown ---- */

static void handle_closed(uv_handle_t *h)
{
	tlslink_t *l = h->data;

	if (--l->handles > 0)
		return;
	if (l->cbs.down != NULL)
		l->cbs.down(l->arg, l->code, l->why, l->fp);
	SSL_free(l->ssl); /* frees the BIOs */
	OPENSSL_cleanse(l->buf, sizeof(l->buf));
	free(l);
}

static void close_now(tlslink_t *l)
{
	if (l->closing)
		return;
	l->closing = true;
	uv_close((uv_handle_t *)&l->tcp, handle_closed);
	uv_close((uv_handle_t *)&l->timer, handle_closed);
	if (l->plain_open) {
		l->plain_open = false;
		uv_close((uv_handle_t *)&l->plain, handle_closed);
	}
}

/* Records why (the first reason wins) and closes. */
static void vnote(tlslink_t *l, int code, const char *fmt, va_list ap) PED_PRINTF(3, 0);
static void vnote(tlslink_t *l, int code, const char *fmt, va_list ap)
{
	if (l->code == 0 && l->why[0] == '\0') {
		l->code = code;
		vsnprintf(l->why, sizeof(l->why), fmt, ap);
	}
}

static void fail(tlslink_t *l, int code, const char *fmt, ...) PED_PRINTF(3, 4);
static void fail(tlslink_t *l, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vnote(l, code, fmt, ap);
	va_end(ap);
	close_now(l);
}

/* As fail, but the alert SSL queued is written first. */
static void fail_alert(tlslink_t *l, int code, const char *fmt, ...) PED_PRINTF(3, 4);
static void flush_net(tlslink_t *l);
static void fail_alert(tlslink_t *l, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vnote(l, code, fmt, ap);
	va_end(ap);
	flush_net(l);
	if (l->writes == 0)
		close_now(l);
	else
		l->draining = true;
}

void tlslink_close(tlslink_t *l, int code, const char *why)
{
	fail(l, code, "%s", why);
}

/* ---- network side ---- */

static void on_net_written(uv_write_t *w, int status)
{
	struct wr *q = (struct wr *)w;
	tlslink_t *l = q->l;

	free(q);
	l->writes--;
	if (status < 0 && !l->closing)
		fail(l, PED_E_IO, "write to %s failed: %s", l->peer, uv_strerror(status));
	else if (l->draining && l->writes == 0)
		close_now(l);
}

/* Sends what SSL produced. */
static void flush_net(tlslink_t *l)
{
	struct wr *q;
	uv_buf_t b;
	int n;

	if (l->tcp.write_queue_size > QUEUE_MAX) {
		fail(l, PED_E_TOO_LONG, "%s does not read what is sent", l->peer);
		return;
	}
	while (!l->closing && BIO_ctrl_pending(l->wbio) > 0) {
		n = (int)BIO_ctrl_pending(l->wbio);
		if ((q = malloc(sizeof(*q) + (size_t)n)) == NULL) {
			fail(l, PED_E_NOMEM, "out of memory");
			return;
		}
		q->l = l;
		q->len = (size_t)BIO_read(l->wbio, q->data, n);
		b = uv_buf_init((char *)q->data, (unsigned)q->len);
		if (uv_write(&q->w, (uv_stream_t *)&l->tcp, &b, 1, on_net_written) != 0) {
			free(q);
			fail(l, PED_E_IO, "cannot write to %s", l->peer);
			return;
		}
		l->writes++;
	}
}

/* A closing link sends close_notify, then closes once it is written. */
static void drain(tlslink_t *l, int code, const char *why)
{
	if (l->closing || l->draining)
		return;
	if (l->code == 0 && l->why[0] == '\0') {
		l->code = code;
		snprintf(l->why, sizeof(l->why), "%s", why);
	}
	l->draining = true;
	if (l->plain_open) {
		l->plain_open = false;
		uv_close((uv_handle_t *)&l->plain, handle_closed);
	}
	if (l->shook)
		SSL_shutdown(l->ssl);
	flush_net(l);
	if (l->writes == 0)
		close_now(l);
}

/* The reason of the first error on the queue, as text for the log. */
static void ssl_reason(char *out, size_t cap)
{
	unsigned long e = ERR_peek_error();
	const char *s = e != 0 ? ERR_reason_error_string(e) : NULL;

	snprintf(out, cap, "%s", s != NULL ? s : "connection closed");
	ERR_clear_error();
}

/* ---- plaintext side ---- */

static void on_plain_written(uv_write_t *w, int status)
{
	struct wr *q = (struct wr *)w;
	tlslink_t *l = q->l;

	OPENSSL_cleanse(q->data, q->len);
	free(q);
	if (status < 0 && !l->closing)
		drain(l, 0, "the session end closed");
}

static void to_plain(tlslink_t *l, const uint8_t *p, size_t n)
{
	struct wr *q;
	uv_buf_t b;

	if (!l->plain_open || n == 0)
		return;
	if (l->plain.write_queue_size > QUEUE_MAX) {
		fail(l, PED_E_TOO_LONG, "%s sends faster than the session reads", l->peer);
		return;
	}
	if ((q = malloc(sizeof(*q) + n)) == NULL) {
		fail(l, PED_E_NOMEM, "out of memory");
		return;
	}
	q->l = l;
	q->len = n;
	memcpy(q->data, p, n);
	b = uv_buf_init((char *)q->data, (unsigned)n);
	if (uv_write(&q->w, (uv_stream_t *)&l->plain, &b, 1, on_plain_written) != 0) {
		OPENSSL_cleanse(q->data, n);
		free(q);
		drain(l, 0, "the session end closed");
	}
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	tlslink_t *l = h->data;

	(void)hint;
	*buf = uv_buf_init((char *)l->buf, sizeof(l->buf));
}

static void on_plain_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	tlslink_t *l = st->data;

	if (l->closing || l->draining)
		return;
	if (n < 0) { /* the owner closed its end: the link is over */
		drain(l, 0, "closed by this host");
		return;
	}
	if (n > 0 && SSL_write(l->ssl, buf->base, (int)n) != (int)n) {
		char why[128];

		ssl_reason(why, sizeof(why));
		fail(l, PED_E_TLS_HANDSHAKE, "TLS write to %s failed: %s", l->peer, why);
		return;
	}
	OPENSSL_cleanse(buf->base, (size_t)(n > 0 ? n : 0));
	flush_net(l);
}

/* The link is up: make the socket pair, give the owner its end. */
static void go_up(tlslink_t *l)
{
	uv_os_sock_t sv[2];

	uv_timer_stop(&l->timer);
	if (uv_socketpair(SOCK_STREAM, 0, sv, 0, 0) != 0) {
		fail(l, PED_E_IO, "cannot make a socket pair");
		return;
	}
	if (uv_tcp_init(l->loop, &l->plain) != 0) {
		tlslink_drop_fd(l->loop, (int)sv[0]);
		tlslink_drop_fd(l->loop, (int)sv[1]);
		fail(l, PED_E_IO, "cannot make a socket pair");
		return;
	}
	l->plain.data = l;
	l->handles++;
	l->plain_open = true;
	if (uv_tcp_open(&l->plain, sv[0]) != 0 ||
	    uv_read_start((uv_stream_t *)&l->plain, on_alloc, on_plain_read) != 0) {
		tlslink_drop_fd(l->loop, (int)sv[1]);
		fail(l, PED_E_IO, "cannot open the socket pair");
		return;
	}
	l->up = true;
	l->t_up = uv_hrtime();
	l->cbs.up(l->arg, (int)sv[1], l->name, l->fp);
}

/* Decrypts what arrived; before the link is up, the client waits for the
 * READY byte here. */
static void read_app(tlslink_t *l)
{
	int n, e;
	char why[128];

	while (!l->closing && !l->draining) {
		n = SSL_read(l->ssl, l->buf, sizeof(l->buf));
		if (n <= 0) {
			e = SSL_get_error(l->ssl, n);
			if (e == SSL_ERROR_WANT_READ)
				return;
			if (e == SSL_ERROR_ZERO_RETURN) {
				ERR_clear_error();
				drain(l, 0, "closed by the peer");
				return;
			}
			ssl_reason(why, sizeof(why));
			if (!l->up && !l->ctx->server) /* our certificate was refused */
				fail(l, PED_E_CERT_UNKNOWN, "%s refused this host's certificate "
				     "(fingerprint %s): %s", l->peer, l->ctx->fp, why);
			else
				fail(l, PED_E_IO, "TLS link to %s broken: %s", l->peer, why);
			return;
		}
		if (!l->up) {
			if (l->buf[0] != TLSLINK_READY) {
				fail(l, PED_E_TLS_HANDSHAKE, "%s sent no READY byte", l->peer);
				return;
			}
			go_up(l);
			if (l->closing)
				return;
			to_plain(l, l->buf + 1, (size_t)n - 1);
		} else {
			to_plain(l, l->buf, (size_t)n);
		}
		OPENSSL_cleanse(l->buf, (size_t)n);
	}
}

static void handshake(tlslink_t *l)
{
	static const uint8_t ready = TLSLINK_READY;
	char why[128];
	int n, e;

	n = SSL_do_handshake(l->ssl);
	if (n != 1) {
		e = SSL_get_error(l->ssl, n);
		if (e == SSL_ERROR_WANT_READ) {
			flush_net(l);
			return;
		}
		ssl_reason(why, sizeof(why));
		if (l->refused)
			fail_alert(l, PED_E_CERT_UNKNOWN, "%s offered an unregistered certificate "
			     "(fingerprint %s)", l->peer, l->fp);
		else
			fail_alert(l, PED_E_TLS_HANDSHAKE, "TLS handshake with %s failed: %s (it offered "
			     "fingerprint %s; this host offered %s)", l->peer, why,
			     l->fp[0] != '\0' ? l->fp : "none yet", l->ctx->fp);
		return;
	}
	l->shook = true;
	if (l->ctx->server) {
		if (SSL_write(l->ssl, &ready, 1) != 1) {
			fail(l, PED_E_TLS_HANDSHAKE, "cannot send READY to %s", l->peer);
			return;
		}
		flush_net(l);
		go_up(l);
		if (l->closing)
			return;
	}
	flush_net(l);
	read_app(l);
}

static void on_net_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	tlslink_t *l = st->data;

	if (l->closing || l->draining)
		return;
	if (n < 0) {
		if (!l->up)
			fail(l, PED_E_TLS_HANDSHAKE, "%s closed during the TLS handshake%s%s",
			     l->peer, l->fp[0] != '\0' ? " (it offered fingerprint " : "",
			     l->fp[0] != '\0' ? l->fp : "");
		else
			fail(l, n == UV_EOF ? 0 : PED_E_IO, "%s: %s", l->peer,
			     n == UV_EOF ? "connection closed" : uv_strerror((int)n));
		return;
	}
	if (n == 0)
		return;
	if (BIO_write(l->rbio, buf->base, (int)n) != (int)n) {
		fail(l, PED_E_NOMEM, "out of memory");
		return;
	}
	if (!l->shook)
		handshake(l);
	else
		read_app(l);
	flush_net(l);
}

static void on_deadline(uv_timer_t *t)
{
	tlslink_t *l = t->data;

	fail(l, PED_E_TLS_TIMEOUT, "%s did not finish the TLS handshake within %u ms", l->peer,
	     l->handshake_ms);
}

/* ---- set-up ---- */

int tlslink_new(uv_loop_t *loop, tlslink_ctx_t *ctx, const struct tlspins *pins,
		unsigned handshake_ms, const struct tlslink_cbs *cbs, void *arg, tlslink_t **out)
{
	tlslink_t *l = calloc(1, sizeof(*l));

	*out = NULL;
	if (l == NULL)
		return PED_E_NOMEM;
	l->loop = loop;
	l->ctx = ctx;
	l->pins = *pins;
	l->handshake_ms = handshake_ms;
	l->cbs = *cbs;
	l->arg = arg;
	uv_tcp_init(loop, &l->tcp);
	uv_timer_init(loop, &l->timer);
	l->tcp.data = l->timer.data = l;
	l->handles = 2;
	snprintf(l->peer, sizeof(l->peer), "(not connected)");
	*out = l;
	return 0;
}

uv_tcp_t *tlslink_tcp(tlslink_t *l)
{
	return &l->tcp;
}

void tlslink_start(tlslink_t *l, const char *peer)
{
	snprintf(l->peer, sizeof(l->peer), "%s", peer);
	l->t_start = uv_hrtime();
	uv_timer_start(&l->timer, on_deadline, l->handshake_ms, 0);
	if ((l->ssl = SSL_new(l->ctx->ssl)) == NULL ||
	    (l->rbio = BIO_new(BIO_s_mem())) == NULL || (l->wbio = BIO_new(BIO_s_mem())) == NULL) {
		BIO_free(l->rbio);
		l->rbio = NULL;
		ERR_clear_error();
		fail(l, PED_E_CRYPTO, "cannot make a TLS connection");
		return;
	}
	SSL_set_bio(l->ssl, l->rbio, l->wbio);
	SSL_set_app_data(l->ssl, l);
	if (l->ctx->server)
		SSL_set_accept_state(l->ssl);
	else
		SSL_set_connect_state(l->ssl);
	uv_tcp_keepalive(&l->tcp, 1, 30);
	uv_tcp_nodelay(&l->tcp, 1);
	if (uv_read_start((uv_stream_t *)&l->tcp, on_alloc, on_net_read) != 0) {
		fail(l, PED_E_IO, "cannot read from %s", l->peer);
		return;
	}
	if (!l->ctx->server)
		handshake(l);
}

double tlslink_handshake_ms(const tlslink_t *l)
{
	return l->t_up > l->t_start ? (double)(l->t_up - l->t_start) / 1e6 : 0.0;
}

static void dropped(uv_handle_t *h)
{
	free(h);
}

void tlslink_drop_fd(uv_loop_t *loop, int fd)
{
	uv_tcp_t *t = malloc(sizeof(*t));

	/* through libuv, which closes a socket the platform's way */
	if (t == NULL || uv_tcp_init(loop, t) != 0) {
		free(t);
		return;
	}
	if (uv_tcp_open(t, (uv_os_sock_t)fd) != 0)
		log_warning("tls: cannot close socket %d", fd);
	uv_close((uv_handle_t *)t, dropped);
}
