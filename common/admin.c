/* admin.c - the admin channel: a line protocol behind a token (TCP) or peer
 * credentials (Unix socket), served on a libuv loop, and its blocking client
 * (see admin.h). */
#include "admin.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "atomic.h"
#include "hex.h"
#include "log.h"
#include "common/sys.h"

#define BUSY_HARD_EXTRA 8 /* connections beyond max_conns that still get "ERR BUSY" */
#define FINAL_RESERVE 600 /* bytes kept free in a response for the final line */

enum conn_state { ST_AUTH, ST_CMD, ST_HANDLING, ST_WRITING, ST_CLOSED };

struct admin_reply {
	struct admin_conn *c;
};

struct admin_conn {
	union {
		uv_handle_t h;
		uv_stream_t s;
		uv_tcp_t tcp;
		uv_pipe_t pipe;
	} io;
	uv_timer_t timer;
	uv_write_t wreq;
	uv_shutdown_t sreq;
	admin_server_t *srv;
	struct admin_conn *prev, *next;
	struct admin_reply reply;
	enum conn_state st;
	int open_handles;  /* of io and timer, until their close callbacks ran */
	int pending;       /* a handler owns the reply */
	int gone;          /* the client went away or the connection is closing */
	int uid_ok;        /* Unix socket peer has our uid */
	int overflow;
	char in[ADMIN_LINE_MAX];
	size_t inlen;
	char *out;
	size_t outlen, outcap;
	char cmd[ADMIN_LINE_MAX];
	char *argv[ADMIN_MAX_ARGS + 1];
};

struct admin_server {
	uv_loop_t *loop;
	uv_tcp_t tcp[2];
	uv_pipe_t pipe;
	int tcp_used[2], pipe_used;
	int open_handles;
	int port;
	int files_written; /* admin.token / admin.port are ours to remove */
	int closing;
	void (*done)(void *);
	void *done_arg;
	char *statedir;
	const struct admin_cmd *cmds;
	void *ctx;
	unsigned timeout_ms, max_conns, nconns;
	struct admin_conn *conns;
	uint8_t token[ADMIN_TOKEN_BYTES];
};

/* ------------------------------------------------------------------ */
/* server: teardown */

static void statefile(const admin_server_t *s, const char *name, char *out, size_t cap)
{
	snprintf(out, cap, "%s/%s", s->statedir, name);
}

static void server_maybe_free(admin_server_t *s)
{
	void (*done)(void *);
	void *arg;

	if (!s->closing || s->open_handles > 0 || s->nconns > 0)
		return;
	done = s->done;
	arg = s->done_arg;
	OPENSSL_cleanse(s->token, sizeof(s->token));
	free(s->statedir);
	free(s);
	if (done != NULL)
		done(arg);
}

static void conn_maybe_free(struct admin_conn *c)
{
	admin_server_t *s = c->srv;

	if (c->open_handles > 0 || c->pending)
		return;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	s->nconns--;
	if (c->out != NULL) {
		OPENSSL_cleanse(c->out, c->outcap);
		free(c->out);
	}
	OPENSSL_cleanse(c->in, sizeof(c->in));
	OPENSSL_cleanse(c->cmd, sizeof(c->cmd));
	free(c);
	server_maybe_free(s);
}

static void conn_handle_closed(uv_handle_t *h)
{
	struct admin_conn *c = h->data;

	c->open_handles--;
	conn_maybe_free(c);
}

static void conn_close(struct admin_conn *c)
{
	if (c->st == ST_CLOSED)
		return;
	c->st = ST_CLOSED;
	c->gone = 1;
	uv_close(&c->io.h, conn_handle_closed);
	uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
}

static void listener_closed(uv_handle_t *h)
{
	admin_server_t *s = h->data;

	s->open_handles--;
	server_maybe_free(s);
}

void admin_server_close(admin_server_t *s, void (*done)(void *arg), void *arg)
{
	char path[4096];
	struct admin_conn *c, *next;
	int i;

	if (s == NULL || s->closing)
		return;
	s->closing = 1;
	s->done = done;
	s->done_arg = arg;
	for (i = 0; i < 2; i++)
		if (s->tcp_used[i])
			uv_close((uv_handle_t *)&s->tcp[i], listener_closed);
	if (s->pipe_used) {
		uv_close((uv_handle_t *)&s->pipe, listener_closed);
		statefile(s, ADMIN_SOCK_FILE, path, sizeof(path));
		(void)unlink(path);
	}
	if (s->files_written)
		admin_token_unpublish(s->statedir, ADMIN_TOKEN_FILE, ADMIN_PORT_FILE);
	/* connections still waiting for their request are dropped; answers
	 * being prepared or written are completed first */
	for (c = s->conns; c != NULL; c = next) {
		next = c->next;
		if (c->st == ST_AUTH || c->st == ST_CMD)
			conn_close(c);
	}
	server_maybe_free(s);
}

int admin_server_port(const admin_server_t *s)
{
	return s != NULL ? s->port : 0;
}

/* ------------------------------------------------------------------ */
/* server: replies */

static void append(struct admin_conn *c, const char *line, size_t n, int final)
{
	size_t need, ncap;
	char *nb;

	if (!final && (c->overflow || c->outlen + n + 1 > ADMIN_RESPONSE_MAX - FINAL_RESERVE)) {
		c->overflow = 1;
		return;
	}
	need = c->outlen + n + 1;
	if (need > c->outcap) {
		ncap = c->outcap == 0 ? 1024 : c->outcap;
		while (ncap < need)
			ncap *= 2;
		if ((nb = malloc(ncap)) == NULL) {
			c->overflow = 1;
			return;
		}
		if (c->out != NULL) {
			memcpy(nb, c->out, c->outlen);
			OPENSSL_cleanse(c->out, c->outcap);
			free(c->out);
		}
		c->out = nb;
		c->outcap = ncap;
	}
	memcpy(c->out + c->outlen, line, n);
	c->out[c->outlen + n] = '\n';
	c->outlen += n + 1;
}

static void vline(struct admin_conn *c, const char *fmt, va_list ap)
	PED_PRINTF(2, 0);
static void vline(struct admin_conn *c, const char *fmt, va_list ap)
{
	char raw[ADMIN_LINE_MAX], esc[ADMIN_LINE_MAX];
	int n;

	n = vsnprintf(raw, sizeof(raw), fmt, ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(raw))
		n = (int)sizeof(raw) - 1;
	(void)log_escape(esc, sizeof(esc), raw, (size_t)n);
	append(c, esc, strlen(esc), 0);
}

void admin_reply_line(admin_reply_t *r, const char *fmt, ...)
{
	va_list ap;

	if (r == NULL || r->c == NULL || !r->c->pending)
		return;
	va_start(ap, fmt);
	vline(r->c, fmt, ap);
	va_end(ap);
}

static void on_timeout(uv_timer_t *t)
{
	struct admin_conn *c = t->data;

	log_trace("admin: connection timed out");
	conn_close(c);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	(void)status;
	conn_close(req->data);
}

static void on_write(uv_write_t *req, int status)
{
	struct admin_conn *c = req->data;

	if (c->st == ST_CLOSED)
		return;
	if (status != 0 || uv_shutdown(&c->sreq, &c->io.s, on_shutdown) != 0)
		conn_close(c);
}

static void finish(struct admin_conn *c)
{
	uv_buf_t b;

	c->pending = 0;
	if (c->gone || c->st == ST_CLOSED) {
		conn_close(c);
		conn_maybe_free(c);
		return;
	}
	c->st = ST_WRITING;
	uv_read_stop(&c->io.s);
	b = uv_buf_init(c->out, (unsigned)c->outlen);
	c->wreq.data = c;
	c->sreq.data = c;
	/* a client that does not read its answer is dropped, too */
	uv_timer_start(&c->timer, on_timeout, c->srv->timeout_ms, 0);
	if (uv_write(&c->wreq, &c->io.s, &b, 1, on_write) != 0)
		conn_close(c);
}

static void end_error(struct admin_conn *c, const char *name, const char *fmt, va_list ap)
	PED_PRINTF(3, 0);
static void end_error(struct admin_conn *c, const char *name, const char *fmt, va_list ap)
{
	char msg[512], line[600];
	int n;

	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	(void)n;
	snprintf(line, sizeof(line), "ERR %s %s", name, msg);
	if (c->overflow) {
		c->outlen = 0;
		snprintf(line, sizeof(line), "ERR TOO_LONG response exceeds %d bytes",
			 ADMIN_RESPONSE_MAX);
	}
	{
		char esc[ADMIN_LINE_MAX];
		(void)log_escape(esc, sizeof(esc), line, strlen(line));
		append(c, esc, strlen(esc), 1);
	}
	finish(c);
}

void admin_reply_error(admin_reply_t *r, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (r == NULL || r->c == NULL || !r->c->pending)
		return;
	va_start(ap, fmt);
	end_error(r->c, name, fmt, ap);
	va_end(ap);
}

static void reply_error(struct admin_conn *c, const char *name, const char *fmt, ...)
	PED_PRINTF(3, 4);
static void reply_error(struct admin_conn *c, const char *name, const char *fmt, ...)
{
	va_list ap;

	c->pending = 1;
	c->st = ST_HANDLING;
	va_start(ap, fmt);
	end_error(c, name, fmt, ap);
	va_end(ap);
}

void admin_reply_end(admin_reply_t *r, int code)
{
	struct admin_conn *c;

	if (r == NULL || (c = r->c) == NULL || !c->pending)
		return;
	if (code != 0) {
		admin_reply_error(r, ped_errname(code), "%s", ped_strerror(code));
		return;
	}
	if (c->overflow) {
		admin_reply_error(r, "TOO_LONG", "response too long");
		return;
	}
	append(c, "OK", 2, 1);
	finish(c);
}

/* ------------------------------------------------------------------ */
/* server: requests */

static void builtin_help(struct admin_conn *c)
{
	const struct admin_cmd *cmd;

	for (cmd = c->srv->cmds; cmd != NULL && cmd->verb != NULL; cmd++)
		admin_reply_line(&c->reply, "%-12s %s", cmd->verb, cmd->help ? cmd->help : "");
	admin_reply_end(&c->reply, 0);
}

static void dispatch(struct admin_conn *c, const char *line)
{
	const struct admin_cmd *cmd;
	char *save = NULL, *w;
	int argc = 0;

	snprintf(c->cmd, sizeof(c->cmd), "%s", line);
	for (w = strtok_r(c->cmd, " \t", &save); w != NULL; w = strtok_r(NULL, " \t", &save)) {
		if (argc == ADMIN_MAX_ARGS) {
			reply_error(c, "BAD_REQUEST", "more than %d words", ADMIN_MAX_ARGS);
			return;
		}
		c->argv[argc++] = w;
	}
	c->argv[argc] = NULL;
	if (argc == 0) {
		reply_error(c, "BAD_REQUEST", "empty command");
		return;
	}
	uv_timer_stop(&c->timer);
	uv_read_stop(&c->io.s);
	c->st = ST_HANDLING;
	c->pending = 1;
	for (cmd = c->srv->cmds; cmd != NULL && cmd->verb != NULL; cmd++) {
		if (strcmp(cmd->verb, c->argv[0]) == 0) {
			log_trace("admin: command %s", c->argv[0]);
			cmd->fn(c->srv->ctx, &c->reply, argc, c->argv);
			return;
		}
	}
	if (strcmp(c->argv[0], "help") == 0) {
		builtin_help(c);
		return;
	}
	c->pending = 0;
	reply_error(c, "UNKNOWN_COMMAND", "unknown command: %s", c->argv[0]);
}

bool admin_token_ok(const uint8_t token[ADMIN_TOKEN_BYTES], const char *hex)
{
	uint8_t got[ADMIN_TOKEN_BYTES];
	bool ok;

	ok = strlen(hex) == 2 * ADMIN_TOKEN_BYTES &&
	     hex_decode(hex, got, sizeof(got)) == ADMIN_TOKEN_BYTES &&
	     CRYPTO_memcmp(got, token, sizeof(got)) == 0;
	OPENSSL_cleanse(got, sizeof(got));
	return ok;
}

/* Handles one complete line; returns 0 to keep reading. */
static int handle_line(struct admin_conn *c, char *line)
{
	size_t n = strlen(line);

	if (n > 0 && line[n - 1] == '\r')
		line[--n] = '\0';
	if (c->st == ST_AUTH) {
		if (strncmp(line, "AUTH ", 5) == 0) {
			if (!admin_token_ok(c->srv->token, line + 5)) {
				log_warning("admin: wrong token, connection refused");
				reply_error(c, "AUTH_REQUIRED", "wrong token");
				return 1;
			}
			c->st = ST_CMD;
			return 0;
		}
		if (!c->uid_ok) {
			log_warning("admin: command without token refused");
			reply_error(c, "AUTH_REQUIRED", "send AUTH <token> first");
			return 1;
		}
		c->st = ST_CMD;
	}
	dispatch(c, line);
	return 1;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct admin_conn *c = h->data;

	(void)suggested;
	*buf = uv_buf_init(c->in + c->inlen, (unsigned)(sizeof(c->in) - c->inlen));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct admin_conn *c = st->data;
	char *nl;
	size_t used;

	(void)buf;
	if (c->st != ST_AUTH && c->st != ST_CMD)
		return;
	if (nread < 0) {
		conn_close(c);
		return;
	}
	c->inlen += (size_t)nread;
	while ((nl = memchr(c->in, '\n', c->inlen)) != NULL) {
		*nl = '\0';
		used = (size_t)(nl - c->in) + 1;
		if (memchr(c->in, '\0', used - 1) != NULL) {
			reply_error(c, "BAD_REQUEST", "NUL byte in request");
			return;
		}
		if (handle_line(c, c->in) != 0)
			return;
		OPENSSL_cleanse(c->in, used);
		memmove(c->in, c->in + used, c->inlen - used);
		c->inlen -= used;
	}
	if (c->inlen == sizeof(c->in))
		reply_error(c, "TOO_LONG", "request line exceeds %d bytes", ADMIN_LINE_MAX);
}

static void peer_uid_check(struct admin_conn *c)
{
	if (sys_peer_is_us(&c->io.s))
		c->uid_ok = 1;
}

static void on_connection(uv_stream_t *server, int status)
{
	admin_server_t *s = server->data;
	struct admin_conn *c;
	int is_pipe = server == (uv_stream_t *)&s->pipe;

	if (status != 0 || s->closing)
		return;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return; /* the pending connection is refused by the kernel later */
	c->srv = s;
	c->reply.c = c;
	c->st = ST_AUTH;
	if (is_pipe)
		uv_pipe_init(s->loop, &c->io.pipe, 0);
	else
		uv_tcp_init(s->loop, &c->io.tcp);
	uv_timer_init(s->loop, &c->timer);
	c->io.h.data = c;
	c->timer.data = c;
	c->open_handles = 2;
	c->next = s->conns;
	if (s->conns != NULL)
		s->conns->prev = c;
	s->conns = c;
	s->nconns++;
	if (uv_accept(server, &c->io.s) != 0) {
		conn_close(c);
		return;
	}
	if (s->nconns > s->max_conns + BUSY_HARD_EXTRA) {
		conn_close(c);
		return;
	}
	if (s->nconns > s->max_conns) {
		reply_error(c, "BUSY", "too many admin connections");
		return;
	}
	if (is_pipe) {
		peer_uid_check(c);
		if (!c->uid_ok) {
			log_warning("admin: Unix socket peer with another uid refused");
			reply_error(c, "AUTH_REQUIRED", "peer uid not allowed");
			return;
		}
	}
	uv_timer_start(&c->timer, on_timeout, s->timeout_ms, 0);
	if (uv_read_start(&c->io.s, on_alloc, on_read) != 0)
		conn_close(c);
}

/* ------------------------------------------------------------------ */
/* server: start */

static int listen_tcp(admin_server_t *s, int i, const struct sockaddr *sa, unsigned flags,
		      int quiet)
{
	int r;

	uv_tcp_init(s->loop, &s->tcp[i]);
	s->tcp[i].data = s;
	s->tcp_used[i] = 1;
	s->open_handles++;
	r = uv_tcp_bind(&s->tcp[i], sa, flags);
	if (r == 0)
		r = uv_listen((uv_stream_t *)&s->tcp[i], 16, on_connection);
	if (r != 0) {
		if (!quiet)
			log_error("admin: cannot listen on port %d: %s",
				  ntohs(((const struct sockaddr_in *)sa)->sin_port), uv_strerror(r));
		s->tcp_used[i] = 0;
		uv_close((uv_handle_t *)&s->tcp[i], listener_closed);
		return PED_E_IO;
	}
	return 0;
}

static int bound_port(uv_tcp_t *t)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	if (uv_tcp_getsockname(t, (struct sockaddr *)&ss, &len) != 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static int start_tcp(admin_server_t *s, int port, int external)
{
	struct sockaddr_in a4;
	struct sockaddr_in6 a6;
	int r;

	if (external) {
		uv_ip6_addr("::", port, &a6);
		if (listen_tcp(s, 0, (const struct sockaddr *)&a6, 0, 1) != 0) {
			uv_ip4_addr("0.0.0.0", port, &a4);
			if ((r = listen_tcp(s, 0, (const struct sockaddr *)&a4, 0, 0)) != 0)
				return r;
		}
		s->port = bound_port(&s->tcp[0]);
		return s->port > 0 ? 0 : PED_E_IO;
	}
	uv_ip4_addr("127.0.0.1", port, &a4);
	if ((r = listen_tcp(s, 0, (const struct sockaddr *)&a4, 0, 0)) != 0)
		return r;
	s->port = bound_port(&s->tcp[0]);
	if (s->port <= 0)
		return PED_E_IO;
	/* ::1 on the same port, if this host has IPv6 loopback */
	uv_ip6_addr("::1", s->port, &a6);
	if (listen_tcp(s, 1, (const struct sockaddr *)&a6, UV_TCP_IPV6ONLY, 1) != 0)
		log_trace("admin: no IPv6 loopback listener");
	return 0;
}

static int start_unix(admin_server_t *s)
{
	char path[4096];
	int r;

	statefile(s, ADMIN_SOCK_FILE, path, sizeof(path));
	if (!sys_local_socket_ok())
		return 0; /* loopback TCP and the token only */
	/* a stale socket is removed: our pid lock proves no one else uses it */
	if (sys_local_socket_prepare(path) != 0) {
		log_warning("admin: socket path too long, no Unix socket: %s", path);
		return 0;
	}
	uv_pipe_init(s->loop, &s->pipe, 0);
	s->pipe.data = s;
	s->pipe_used = 1;
	s->open_handles++;
	r = uv_pipe_bind(&s->pipe, path);
	if (r == 0 && sys_local_socket_private(path) != 0)
		r = UV_EPERM;
	if (r == 0)
		r = uv_listen((uv_stream_t *)&s->pipe, 16, on_connection);
	if (r != 0) {
		log_error("admin: cannot listen on %s: %s", path, uv_strerror(r));
		return PED_E_IO;
	}
	return 0;
}

int admin_token_publish(const char *dir, const char *token_file, const char *port_file, int port,
			uint8_t token[ADMIN_TOKEN_BYTES])
{
	char path[4096], hex[2 * ADMIN_TOKEN_BYTES + 2], num[16];
	int r, n;

	if (RAND_bytes(token, ADMIN_TOKEN_BYTES) != 1) {
		log_openssl("admin: RAND_bytes failed");
		return PED_E_CRYPTO;
	}
	hex_encode(token, ADMIN_TOKEN_BYTES, hex);
	hex[2 * ADMIN_TOKEN_BYTES] = '\n';
	snprintf(path, sizeof(path), "%s/%s", dir, token_file);
	r = atomic_write_file(path, hex, 2 * ADMIN_TOKEN_BYTES + 1, 0600);
	OPENSSL_cleanse(hex, sizeof(hex));
	if (r != 0) {
		log_error("cannot write %s: %s", path, ped_strerror(r));
		return r;
	}
	n = snprintf(num, sizeof(num), "%d\n", port);
	snprintf(path, sizeof(path), "%s/%s", dir, port_file);
	if ((r = atomic_write_file(path, num, (size_t)n, 0600)) != 0) {
		log_error("cannot write %s: %s", path, ped_strerror(r));
		admin_token_unpublish(dir, token_file, port_file);
	}
	return r;
}

void admin_token_unpublish(const char *dir, const char *token_file, const char *port_file)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, port_file);
	(void)unlink(path);
	snprintf(path, sizeof(path), "%s/%s", dir, token_file);
	(void)unlink(path);
}

int admin_server_start(uv_loop_t *loop, const struct admin_config *cfg,
		       admin_server_t **out)
{
	admin_server_t *s = NULL;
	int r = PED_E_INVAL;

	if (out != NULL)
		*out = NULL;
	if (loop == NULL || cfg == NULL || out == NULL || cfg->statedir == NULL ||
	    cfg->port > 65535 || cfg->port < -1 || (cfg->port < 0 && !cfg->unix_socket))
		goto out;
	r = PED_E_NOMEM;
	if ((s = calloc(1, sizeof(*s))) == NULL || (s->statedir = strdup(cfg->statedir)) == NULL)
		goto out;
	s->loop = loop;
	s->cmds = cfg->cmds;
	s->ctx = cfg->ctx;
	s->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : ADMIN_DEFAULT_TIMEOUT_MS;
	s->max_conns = cfg->max_conns ? cfg->max_conns : ADMIN_DEFAULT_MAX_CONNS;
	if (cfg->port >= 0 && (r = start_tcp(s, cfg->port, cfg->external)) != 0)
		goto out;
	if (cfg->unix_socket && (r = start_unix(s)) != 0)
		goto out;
	if ((r = admin_token_publish(s->statedir, ADMIN_TOKEN_FILE, ADMIN_PORT_FILE, s->port,
				       s->token)) != 0)
		goto out;
	s->files_written = 1;
	log_info("admin: listening on %s port %d%s", cfg->external ? "all addresses" : "loopback",
		 s->port, s->pipe_used ? " and " ADMIN_SOCK_FILE : "");
	*out = s;
	s = NULL;
	r = 0;
out:
	if (s != NULL) {
		if (s->statedir == NULL)
			free(s);
		else
			admin_server_close(s, NULL, NULL);
	}
	return r;
}

/* ------------------------------------------------------------------ */
/* client */

/* The client runs its exchange on a private loop (it may be called from a
 * CLI process only, never from a loop callback): connect, send the request,
 * read lines until OK or ERR, all bounded by one deadline timer. The same
 * code serves TCP and the local socket on every platform. */
struct call {
	uv_loop_t loop;
	union {
		uv_handle_t h;
		uv_stream_t s;
		uv_tcp_t tcp;
		uv_pipe_t pipe;
	} io;
	uv_timer_t timer;
	uv_connect_t creq;
	uv_write_t wreq;
	int status;  /* first failure (a uv error), or 1 when the answer ended */
	int connected;
	int r;       /* the result: 0, ADMIN_REMOTE_ERR or PED_E_IO */
	const char *req;
	size_t reqlen;
	admin_line_fn cb;
	void *cbarg;
	struct admin_result *res;
	size_t len, total;
	char buf[ADMIN_LINE_MAX + 1];
};

static void set_msg(struct admin_result *res, const char *fmt, ...)
	PED_PRINTF(2, 3);
static void set_msg(struct admin_result *res, const char *fmt, ...)
{
	va_list ap;

	if (res == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(res->message, sizeof(res->message), fmt, ap);
	va_end(ap);
}

static void call_end(struct call *k, int status)
{
	if (k->status != 0)
		return;
	k->status = status;
	uv_timer_stop(&k->timer);
	if (!uv_is_closing(&k->io.h))
		uv_close(&k->io.h, NULL);
	uv_close((uv_handle_t *)&k->timer, NULL);
}

static void call_timeout(uv_timer_t *t)
{
	call_end(t->data, UV_ETIMEDOUT);
}

static int answer_lines(struct call *k);

static void call_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct call *k = h->data;

	(void)hint;
	*b = uv_buf_init(k->buf + k->len, (unsigned)(ADMIN_LINE_MAX - k->len));
}

static void call_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	struct call *k = st->data;

	(void)b;
	if (n == 0)
		return;
	if (n < 0) {
		set_msg(k->res, n == UV_EOF ? "connection closed without an answer" : "read: %s",
			uv_strerror((int)n));
		call_end(k, (int)n);
		return;
	}
	k->len += (size_t)n;
	k->total += (size_t)n;
	if (k->total > ADMIN_RESPONSE_MAX + ADMIN_LINE_MAX) {
		set_msg(k->res, "answer too long");
		call_end(k, UV_E2BIG);
		return;
	}
	if (answer_lines(k) != 0)
		call_end(k, 1);
	else if (k->len == ADMIN_LINE_MAX) {
		set_msg(k->res, "answer line too long");
		call_end(k, UV_E2BIG);
	}
}

static void call_written(uv_write_t *w, int status)
{
	struct call *k = w->data;

	if (status < 0) {
		set_msg(k->res, "send: %s", uv_strerror(status));
		call_end(k, status);
	}
}

static void call_connected(uv_connect_t *c, int status)
{
	struct call *k = c->data;
	uv_buf_t b = uv_buf_init((char *)k->req, (unsigned)k->reqlen);
	int e;

	if (status < 0) {
		call_end(k, status);
		return;
	}
	k->connected = 1;
	if ((e = uv_write(&k->wreq, &k->io.s, &b, 1, call_written)) < 0 ||
	    (e = uv_read_start(&k->io.s, call_alloc, call_read)) < 0) {
		set_msg(k->res, "send: %s", uv_strerror(e));
		call_end(k, e);
	}
}

/* One exchange with the daemon at addr (TCP) or path (local socket).
 * Returns 0, ADMIN_REMOTE_ERR, or PED_E_IO; *uverr is the uv error of a
 * failed connect (UV_ECONNREFUSED: nothing listens), else 0. */
static int call_run(const struct sockaddr *addr, const char *path, const char *req, size_t reqlen,
		    unsigned timeout_ms, admin_line_fn cb, void *cbarg,
		    struct admin_result *res, int *uverr)
{
	struct call *k;
	int r = PED_E_NOMEM;

	*uverr = 0;
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return r;
	k->req = req;
	k->reqlen = reqlen;
	k->cb = cb;
	k->cbarg = cbarg;
	k->res = res;
	k->r = PED_E_IO;
	r = PED_E_IO;
	if (uv_loop_init(&k->loop) != 0)
		goto out;
	if (path != NULL)
		uv_pipe_init(&k->loop, &k->io.pipe, 0);
	else
		uv_tcp_init(&k->loop, &k->io.tcp);
	uv_timer_init(&k->loop, &k->timer);
	k->io.h.data = k->timer.data = k->creq.data = k->wreq.data = k;
	uv_timer_start(&k->timer, call_timeout, timeout_ms, 0);
	if (path != NULL)
		uv_pipe_connect(&k->creq, &k->io.pipe, path, call_connected);
	else if ((r = uv_tcp_connect(&k->creq, &k->io.tcp, addr, call_connected)) != 0)
		call_end(k, r);
	uv_run(&k->loop, UV_RUN_DEFAULT);
	uv_loop_close(&k->loop);
	r = PED_E_IO;
	if (k->status == 1)
		r = k->r;
	else if (!k->connected)
		*uverr = k->status;
	else if (k->status == UV_ETIMEDOUT)
		set_msg(res, "timed out waiting for the answer");
out:
	OPENSSL_cleanse(k->buf, sizeof(k->buf));
	free(k);
	return r;
}

/* Hands over the complete lines in k->buf; 1 once OK or ERR ended the
 * answer (k->r says which), else 0. */
static int answer_lines(struct call *k)
{
	struct admin_result *res = k->res;
	char *nl, *sp, *buf = k->buf;

	while ((nl = memchr(buf, '\n', k->len)) != NULL) {
		size_t used = (size_t)(nl - buf) + 1;
		*nl = '\0';
		if (nl > buf && nl[-1] == '\r')
			nl[-1] = '\0';
		if (strcmp(buf, "OK") == 0) {
			k->r = 0;
			return 1;
		}
		if (strncmp(buf, "ERR ", 4) == 0) {
			if (res != NULL) {
				sp = strchr(buf + 4, ' ');
				if (sp != NULL)
					*sp++ = '\0';
				snprintf(res->name, sizeof(res->name), "%s", buf + 4);
				snprintf(res->message, sizeof(res->message), "%s", sp != NULL ? sp : "");
			}
			k->r = ADMIN_REMOTE_ERR;
			return 1;
		}
		if (k->cb != NULL)
			k->cb(k->cbarg, buf);
		memmove(buf, buf + used, k->len - used);
		k->len -= used;
	}
	return 0;
}

static int read_small(const char *dir, const char *name, char *out, size_t cap)
{
	char path[4096];
	void *data = NULL;
	size_t len = 0;
	int r;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	r = atomic_read_file(path, cap - 1, &data, &len);
	if (r == 0) {
		memcpy(out, data, len);
		out[len] = '\0';
		while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == '\r' ||
				   out[len - 1] == ' '))
			out[--len] = '\0';
		OPENSSL_cleanse(data, len);
	}
	free(data);
	return r;
}

static int word_ok(const char *w)
{
	if (w == NULL || *w == '\0')
		return 0;
	for (; *w; w++)
		if ((unsigned char)*w <= 0x20 || *w == 0x7f)
			return 0;
	return 1;
}

int admin_call(const char *statedir, const char *host, int port, const char *verb,
	       const char *const *args, admin_line_fn cb, void *cbarg, unsigned timeout_ms,
	       struct admin_result *res)
{
	char token[2 * ADMIN_TOKEN_BYTES + 8], portbuf[16], path[4096];
	char req[ADMIN_LINE_MAX * 2];
	struct sockaddr_storage sa;
	uv_getaddrinfo_t gai;
	size_t rl;
	int e = 0, r = PED_E_INVAL, i, have_token = 0, done = 0;
	char *end;
	long pv;

	if (res != NULL)
		memset(res, 0, sizeof(*res));
	if (timeout_ms == 0)
		timeout_ms = ADMIN_DEFAULT_TIMEOUT_MS;
	if (statedir == NULL || !word_ok(verb) || port < 0 || port > 65535) {
		set_msg(res, "invalid arguments");
		goto out;
	}
	for (i = 0; args != NULL && args[i] != NULL; i++) {
		if (!word_ok(args[i]) || i + 1 >= ADMIN_MAX_ARGS) {
			set_msg(res, "invalid argument word");
			goto out;
		}
	}

	r = read_small(statedir, ADMIN_TOKEN_FILE, token, sizeof(token));
	if (r == 0)
		have_token = 1;
	else if (r != PED_E_NOT_FOUND) {
		set_msg(res, "cannot read %s/%s: %s", statedir, ADMIN_TOKEN_FILE,
			r == PED_E_IO ? strerror(errno) : ped_strerror(r));
		r = PED_E_IO;
		goto out;
	}

	rl = 0;
	if (have_token)
		rl = (size_t)snprintf(req, sizeof(req), "AUTH %s\n", token);
	rl += (size_t)snprintf(req + rl, sizeof(req) - rl, "%s", verb);
	for (i = 0; args != NULL && args[i] != NULL; i++) {
		if (rl + strlen(args[i]) + 3 > sizeof(req)) {
			set_msg(res, "command too long");
			r = PED_E_INVAL;
			goto out;
		}
		rl += (size_t)snprintf(req + rl, sizeof(req) - rl, " %s", args[i]);
	}
	rl += (size_t)snprintf(req + rl, sizeof(req) - rl, "\n");

	if (host == NULL && port == 0 && sys_local_socket_ok()) {
		snprintf(path, sizeof(path), "%s/%s", statedir, ADMIN_SOCK_FILE);
		if (access(path, F_OK) == 0) {
			r = call_run(NULL, path, req, rl, timeout_ms, cb, cbarg, res, &e);
			done = e == 0; /* a failed connect falls back to TCP */
			if (res != NULL && !done)
				memset(res, 0, sizeof(*res));
		}
	}
	if (done)
		goto out;
	if (!have_token) {
		set_msg(res, "not running (no %s in %s)", ADMIN_TOKEN_FILE, statedir);
		r = ADMIN_NOT_RUNNING;
		goto out;
	}
	if (port == 0) {
		r = read_small(statedir, ADMIN_PORT_FILE, portbuf, sizeof(portbuf));
		if (r == PED_E_NOT_FOUND) {
			set_msg(res, "not running (no %s in %s)", ADMIN_PORT_FILE, statedir);
			r = ADMIN_NOT_RUNNING;
			goto out;
		}
		errno = 0;
		pv = r == 0 ? strtol(portbuf, &end, 10) : 0;
		if (r != 0 || errno != 0 || *end != '\0' || pv <= 0 || pv > 65535) {
			set_msg(res, "bad %s/%s", statedir, ADMIN_PORT_FILE);
			r = PED_E_IO;
			goto out;
		}
		port = (int)pv;
	}
	/* a literal address, else a name looked up here (no loop: blocking) */
	if (uv_ip4_addr(host != NULL ? host : "127.0.0.1", port, (struct sockaddr_in *)&sa) != 0 &&
	    uv_ip6_addr(host, port, (struct sockaddr_in6 *)&sa) != 0) {
		uv_loop_t l;
		struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
		r = PED_E_IO;
		if (uv_loop_init(&l) != 0)
			goto out;
		e = uv_getaddrinfo(&l, &gai, NULL, host, NULL, &hints);
		if (e == 0) {
			memcpy(&sa, gai.addrinfo->ai_addr, gai.addrinfo->ai_addrlen);
			((struct sockaddr_in *)&sa)->sin_port = htons((uint16_t)port);
			uv_freeaddrinfo(gai.addrinfo);
		}
		uv_loop_close(&l);
		if (e != 0) {
			set_msg(res, "cannot connect to admin port %d: %s: %s", port, host,
				uv_strerror(e));
			goto out;
		}
	}
	r = call_run((const struct sockaddr *)&sa, NULL, req, rl, timeout_ms, cb, cbarg, res, &e);
	if (e == UV_ECONNREFUSED) {
		set_msg(res, "not running (nothing listens on admin port %d)", port);
		r = ADMIN_NOT_RUNNING;
	} else if (e != 0) {
		set_msg(res, "cannot connect to admin port %d: %s", port, uv_strerror(e));
		r = PED_E_IO;
	}
out:
	OPENSSL_cleanse(token, sizeof(token));
	OPENSSL_cleanse(req, sizeof(req));
	return r;
}
