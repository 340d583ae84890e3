/* hsmsock.c - the HSM slots' local socket (see hsmsock.h). */
#include "hsmsock.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/err.h"
#include "common/log.h"
#include "common/sys.h"

struct hsmsock {
	uv_loop_t *loop;
	uv_pipe_t srv;
	hsmsock_cmd_fn fn;
	void *ctx;
	char path[4096];
	struct hsmsock_conn *conns;
	void (*closed)(void *arg);
	void *closed_arg;
	int closing;
};

struct hsmsock_conn {
	hsmsock_t *s;
	struct hsmsock_conn *next;
	uv_pipe_t pipe;
	char buf[HSMSOCK_LINE_MAX + 1];
	size_t len;
	unsigned writes;     /* uv_writes in flight */
	int dispatched;      /* the command runs (or ran) */
	int ended;           /* hsmsock_end was called */
	int gone;            /* the client hung up / error: no more output */
	int handle_closing, handle_closed;
	void (*gone_fn)(void *arg);
	void *gone_arg;
};

struct wreq {
	uv_write_t req;
	struct hsmsock_conn *c;
	char data[];
};

int hsmsock_parse(char *line, unsigned *slot, int *argc, char **argv, int max)
{
	char *p, *word, *save = NULL;
	size_t len = strlen(line), i;
	unsigned long v;
	int n = 0;

	*slot = 0;
	*argc = 0;
	if (len > HSMSOCK_LINE_MAX)
		return PED_E_TOO_LONG;
	for (i = 0; i < len; i++)
		if ((unsigned char)line[i] < 0x20 || (unsigned char)line[i] > 0x7e)
			return PED_E_PARSE;
	word = strtok_r(line, " ", &save);
	if (word == NULL || strlen(word) > 2 || strspn(word, "0123456789") != strlen(word) ||
	    (word[0] == '0' && word[1] != '\0'))
		return PED_E_PARSE;
	v = strtoul(word, NULL, 10);
	while ((p = strtok_r(NULL, " ", &save)) != NULL) {
		if (n == max)
			return PED_E_TOO_LONG;
		argv[n++] = p;
	}
	if (n == 0)
		return PED_E_PARSE;
	*slot = (unsigned)v;
	*argc = n;
	return 0;
}

static void unlink_conn(struct hsmsock_conn *c)
{
	struct hsmsock_conn **pp;

	if (c->s == NULL)
		return;
	for (pp = &c->s->conns; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
}

static void maybe_free(struct hsmsock_conn *c)
{
	if (!c->handle_closed || c->writes > 0 || (c->dispatched && !c->ended))
		return;
	unlink_conn(c);
	free(c);
}

static void on_conn_closed(uv_handle_t *h)
{
	struct hsmsock_conn *c = h->data;

	c->handle_closed = 1;
	maybe_free(c);
}

static void close_conn(struct hsmsock_conn *c)
{
	if (c->handle_closing)
		return;
	c->handle_closing = 1;
	uv_close((uv_handle_t *)&c->pipe, on_conn_closed);
}

static void client_gone(struct hsmsock_conn *c)
{
	void (*fn)(void *) = c->gone_fn;

	if (c->gone)
		return;
	c->gone = 1;
	c->gone_fn = NULL;
	close_conn(c);
	if (fn != NULL && c->dispatched && !c->ended)
		fn(c->gone_arg);
}

static void on_written(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct hsmsock_conn *c = w->c;

	free(w);
	c->writes--;
	if (status < 0 && !c->ended)
		client_gone(c);
	else if (c->ended && c->writes == 0)
		close_conn(c);
	maybe_free(c);
}

static void send_text(struct hsmsock_conn *c, const char *text, size_t len)
{
	struct wreq *w;
	uv_buf_t b;

	if (c->gone || c->handle_closing)
		return;
	if ((w = malloc(sizeof(*w) + len)) == NULL) {
		client_gone(c);
		return;
	}
	w->c = c;
	memcpy(w->data, text, len);
	b = uv_buf_init(w->data, (unsigned)len);
	if (uv_write(&w->req, (uv_stream_t *)&c->pipe, &b, 1, on_written) != 0) {
		free(w);
		client_gone(c);
		return;
	}
	c->writes++;
}

static void vline(struct hsmsock_conn *c, const char *prefix, const char *fmt, va_list ap)
	PED_PRINTF(3, 0);
static void vline(struct hsmsock_conn *c, const char *prefix, const char *fmt, va_list ap)
{
	char line[HSMSOCK_LINE_MAX + 2];
	size_t n, i, start;
	int k;

	k = snprintf(line, sizeof(line) - 1, "%s", prefix);
	start = n = (size_t)k;
	if (fmt != NULL) {
		k = vsnprintf(line + n, sizeof(line) - 1 - n, fmt, ap);
		if (k > 0)
			n += (size_t)k < sizeof(line) - 1 - n ? (size_t)k : sizeof(line) - 2 - n;
	}
	for (i = start; i < n; i++)
		if ((unsigned char)line[i] < 0x20 || (unsigned char)line[i] > 0x7e)
			line[i] = '?';
	while (n > 0 && line[n - 1] == ' ')
		n--;
	line[n++] = '\n';
	send_text(c, line, n);
}

void hsmsock_line(hsmsock_conn_t *c, const char *kind, const char *fmt, ...)
{
	char prefix[16];
	va_list ap;

	if (c == NULL || c->ended)
		return;
	snprintf(prefix, sizeof(prefix), "%s%s", kind, fmt != NULL ? " " : "");
	va_start(ap, fmt);
	vline(c, prefix, fmt, ap);
	va_end(ap);
}

void hsmsock_end(hsmsock_conn_t *c, int err, const char *fmt, ...)
{
	char prefix[64];
	va_list ap;

	if (c == NULL || c->ended)
		return;
	if (err == 0) {
		send_text(c, "OK\n", 3);
	} else {
		snprintf(prefix, sizeof(prefix), "ERR %s ", ped_errname(err));
		if (fmt == NULL) {
			char msg[256];
			snprintf(msg, sizeof(msg), "ERR %s %s\n", ped_errname(err),
				 ped_strerror(err));
			send_text(c, msg, strlen(msg));
		} else {
			va_start(ap, fmt);
			vline(c, prefix, fmt, ap);
			va_end(ap);
		}
	}
	c->ended = 1;
	c->gone_fn = NULL;
	if (c->writes == 0)
		close_conn(c);
	maybe_free(c);
}

void hsmsock_on_gone(hsmsock_conn_t *c, void (*fn)(void *arg), void *arg)
{
	c->gone_fn = fn;
	c->gone_arg = arg;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct hsmsock_conn *c = h->data;
	(void)hint;

	if (c->dispatched) { /* only watching for the hang-up */
		static char sink[256];
		*buf = uv_buf_init(sink, sizeof(sink));
		return;
	}
	*buf = uv_buf_init(c->buf + c->len, (unsigned)(sizeof(c->buf) - 1 - c->len));
}

static void dispatch(struct hsmsock_conn *c)
{
	char *argv[HSMSOCK_ARGS_MAX];
	unsigned slot;
	int argc, r;

	c->dispatched = 1;
	if (c->s == NULL || c->s->closing) {
		hsmsock_end(c, PED_E_HOST_CANCELLED, "pedclient is stopping");
		return;
	}
	r = hsmsock_parse(c->buf, &slot, &argc, argv, HSMSOCK_ARGS_MAX);
	if (r != 0) {
		hsmsock_end(c, r, "request: expected '<slot> <command...>' (printable, at most %d "
				  "bytes and %d words)", HSMSOCK_LINE_MAX, HSMSOCK_ARGS_MAX);
		return;
	}
	c->s->fn(c->s->ctx, c, slot, argc, argv);
	/* the line may hold a one-time password or a challenge secret: the
	 * handlers copy what they keep, nothing points into it after them */
	OPENSSL_cleanse(c->buf, sizeof(c->buf));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct hsmsock_conn *c = st->data;
	char *nl;

	(void)buf;
	if (nread < 0) {
		if (!c->dispatched) {
			c->gone = 1;
			close_conn(c);
		} else {
			client_gone(c);
		}
		return;
	}
	if (c->dispatched || nread == 0)
		return;
	c->len += (size_t)nread;
	c->buf[c->len] = '\0';
	if ((nl = memchr(c->buf, '\n', c->len)) != NULL) {
		*nl = '\0';
		if (nl > c->buf && nl[-1] == '\r')
			nl[-1] = '\0';
		dispatch(c);
	} else if (c->len >= sizeof(c->buf) - 1) {
		c->dispatched = 1;
		hsmsock_end(c, PED_E_TOO_LONG, "request longer than %d bytes", HSMSOCK_LINE_MAX);
	}
}

static void on_connection(uv_stream_t *srv, int status)
{
	hsmsock_t *s = srv->data;
	struct hsmsock_conn *c;

	if (status < 0 || s->closing)
		return;
	/* a command that outlives the server (shutdown) has c->s == NULL */
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return;
	c->s = s;
	if (uv_pipe_init(s->loop, &c->pipe, 0) != 0) {
		free(c);
		return;
	}
	c->pipe.data = c;
	c->next = s->conns;
	s->conns = c;
	if (uv_accept(srv, (uv_stream_t *)&c->pipe) != 0) {
		close_conn(c);
		return;
	}
	if (!sys_ipc_peer_ok(&c->pipe)) {
		log_warning("hsm.sock: refused a connection from another user");
		close_conn(c);
		return;
	}
	if (uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read) != 0)
		close_conn(c);
}

static void free_srv(uv_handle_t *h)
{
	free(h->data);
}

int hsmsock_start(uv_loop_t *loop, const char *path, hsmsock_cmd_fn fn, void *ctx,
		  hsmsock_t **out)
{
	hsmsock_t *s;
	int r;

	*out = NULL;
	if (strlen(path) >= sizeof(s->path))
		return PED_E_TOO_LONG;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return PED_E_NOMEM;
	s->loop = loop;
	s->fn = fn;
	s->ctx = ctx;
	snprintf(s->path, sizeof(s->path), "%s", path);
	if (uv_pipe_init(loop, &s->srv, 0) != 0) {
		free(s);
		return PED_E_IO;
	}
	s->srv.data = s;
	r = sys_ipc_bind(&s->srv, path);
	if (r == 0)
		r = uv_listen((uv_stream_t *)&s->srv, 16, on_connection);
	if (r != 0) {
		s->closing = 1;
		uv_close((uv_handle_t *)&s->srv, free_srv);
		return PED_E_IO;
	}
	*out = s;
	return 0;
}

static void on_srv_closed(uv_handle_t *h)
{
	hsmsock_t *s = h->data;
	void (*fn)(void *) = s->closed;
	void *arg = s->closed_arg;
	struct hsmsock_conn *c;

	/* commands still running keep their connection; detach them */
	for (c = s->conns; c != NULL; c = c->next)
		c->s = NULL;
	free(s);
	if (fn != NULL)
		fn(arg);
}

void hsmsock_close(hsmsock_t *s, void (*closed)(void *arg), void *arg)
{
	struct hsmsock_conn *c, *next;

	if (s == NULL)
		return;
	s->closing = 1;
	s->closed = closed;
	s->closed_arg = arg;
	for (c = s->conns; c != NULL; c = next) {
		next = c->next;
		if (!c->dispatched || c->ended)
			close_conn(c);
	}
	uv_close((uv_handle_t *)&s->srv, on_srv_closed);
	sys_ipc_unbind(s->path);
}
