/* ctl.c - the control channel (see ctl.h): a Unix socket, or a loopback TCP
 * port whose clients first present the token of DIR/control.token (the admin
 * channel's scheme and code, common/admin.h).
 *
 * Each client has a bounded line buffer: a line longer than CTL_LINE_MAX is
 * discarded up to its newline and answered with ERR. "wait" parks the
 * client (its later commands stay queued and reading stops) until the LCD
 * shows the text - checked on every change the PED reports, never by
 * polling - or until its uv_timer fires. On EOF a client is answered to the
 * end and then shut down, so `socat -t N -` sees every answer. */
#include "usbped/emu/ctl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/admin.h"
#include "common/err.h"
#include "common/log.h"
#include "common/sys.h"
#include "usbped/usbped.h"

#define CTL_MAX_CLIENTS 32
#define CTL_RBUF 1024

union stream {
	uv_handle_t h;
	uv_stream_t s;
	uv_pipe_t pipe;
	uv_tcp_t tcp;
};

struct client {
	union stream io;
	uv_timer_t timer;
	uv_shutdown_t shut;
	ctl_t *ctl;
	struct client *next;
	int open_handles;
	bool closing, eof, waiting, reading;
	bool authed; /* Unix socket: the peer's uid; TCP: the token */
	bool discard;
	size_t acclen;
	char acc[CTL_LINE_MAX + 1];
	size_t pendoff, pendlen;
	char pend[CTL_RBUF];
	char wtext[CTL_LINE_MAX + 1];
};

struct ctl {
	union stream srv;
	bool tcp;
	char *tokendir; /* TCP: where control.token and control.port are */
	uint8_t token[ADMIN_TOKEN_BYTES];
	emu_t *emu;
	struct client *clients;
	unsigned nclients;
	bool closing;
	bool srv_closed;
};

struct wreq {
	uv_write_t req;
	char data[];
};

static void process(struct client *c);
static void client_close(struct client *c);
static void ctl_free(ctl_t *ctl);

static void on_written(uv_write_t *req, int status)
{
	(void)status;
	free(req);
}

static void reply(struct client *c, const char *fmt, ...) PED_PRINTF(2, 3);
static void reply(struct client *c, const char *fmt, ...)
{
	char line[CTL_LINE_MAX + 64];
	struct wreq *w;
	uv_buf_t buf;
	va_list ap;
	int n;

	if (c->closing)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	w = malloc(sizeof(*w) + (size_t)n);
	if (w == NULL)
		return;
	memcpy(w->data, line, (size_t)n);
	buf = uv_buf_init(w->data, (unsigned)n);
	if (uv_write(&w->req, &c->io.s, &buf, 1, on_written) != 0)
		free(w);
}

static void reply_err(struct client *c, int code)
{
	reply(c, "ERR %s", ped_strerror(code));
}

/* ------------------------------------------------------------- commands */

static void emit_line(void *arg, const char *text)
{
	reply(arg, "%s", text);
}

static int c_screen(struct client *c, char *arg)
{
	ped_t *p = emu_ped(c->ctl->emu);
	unsigned i;

	(void)arg;
	for (i = 0; i < PED_LCD_LINES; i++)
		reply(c, "%s", ped_lcd_line(p, i));
	return 0;
}

static void on_wait_timeout(uv_timer_t *t);

static int c_wait(struct client *c, char *arg)
{
	char *text = arg, *ms_s = NULL, *end, *q;
	unsigned long ms = CTL_WAIT_DEFAULT_MS;

	if (*text == '"') {
		text++;
		q = strchr(text, '"');
		if (q == NULL)
			return PED_E_PARSE;
		*q = '\0';
		ms_s = q + 1;
		while (*ms_s == ' ')
			ms_s++;
		if (*ms_s == '\0')
			ms_s = NULL;
	} else {
		q = strrchr(text, ' ');
		if (q != NULL && q[1] != '\0' && strspn(q + 1, "0123456789") == strlen(q + 1)) {
			*q = '\0';
			ms_s = q + 1;
		}
	}
	if (ms_s != NULL) {
		errno = 0;
		ms = strtoul(ms_s, &end, 10);
		if (errno != 0 || *end != '\0' || end == ms_s || ms > 3600000)
			return PED_E_PARSE;
	}
	if (*text == '\0')
		return PED_E_INVAL;
	if (ped_lcd_contains(emu_ped(c->ctl->emu), text))
		return 0;
	snprintf(c->wtext, sizeof(c->wtext), "%s", text);
	c->waiting = true;
	uv_timer_start(&c->timer, on_wait_timeout, ms, 0);
	return 1; /* answered later */
}

static int c_press(struct client *c, char *arg)
{
	int key = ped_key_from_name(arg);

	if (key < 0)
		return PED_E_INVAL;
	ped_press(emu_ped(c->ctl->emu), key);
	return 0;
}

static int c_type(struct client *c, char *arg)
{
	size_t i;

	if (*arg == '\0' || strspn(arg, "0123456789") != strlen(arg))
		return PED_E_INVAL;
	for (i = 0; arg[i] != '\0'; i++)
		ped_press(emu_ped(c->ctl->emu), arg[i]);
	return 0;
}

static int c_newkey(struct client *c, char *arg)
{
	return ped_newkey(emu_ped(c->ctl->emu), arg);
}

static int c_insert(struct client *c, char *arg)
{
	return ped_insert(emu_ped(c->ctl->emu), arg);
}

static int c_remove(struct client *c, char *arg)
{
	(void)arg;
	return ped_remove(emu_ped(c->ctl->emu));
}

static int c_keys(struct client *c, char *arg)
{
	(void)arg;
	return ped_list_keys(emu_ped(c->ctl->emu), emit_line, c);
}

static int c_unplug(struct client *c, char *arg)
{
	(void)arg;
	return emu_unplug(c->ctl->emu);
}

static int c_usbfault(struct client *c, char *arg)
{
	return emu_usbfault(c->ctl->emu, arg);
}

static int c_plug(struct client *c, char *arg)
{
	(void)arg;
	return emu_plug(c->ctl->emu);
}

static int c_mode(struct client *c, char *arg)
{
	static const char *const names[] = {"local", "remote", "admin"};
	static const enum link_mode modes[] = {LINK_MODE_LOCAL, LINK_MODE_REMOTE, LINK_MODE_ADMIN};
	size_t i;

	for (i = 0; i < 3; i++)
		if (strcmp(arg, names[i]) == 0)
			return ped_set_mode(emu_ped(c->ctl->emu), modes[i]);
	return PED_E_INVAL;
}

static int c_status(struct client *c, char *arg)
{
	ped_t *p = emu_ped(c->ctl->emu);
	const char *slot = ped_slot(p);

	(void)arg;
	reply(c, "mode %s", ped_mode_name(ped_mode(p)));
	reply(c, "slot %s", slot != NULL ? slot : "-");
	reply(c, "link %s", !emu_plugged(c->ctl->emu) ? "unplugged" : ped_link_up(p) ? "up" : "down");
	reply(c, "busy %d", ped_busy(p) ? 1 : 0);
	reply(c, "secure %d", ped_secure(p) ? 1 : 0);
	return 0;
}

static int c_quit(struct client *c, char *arg)
{
	(void)arg;
	reply(c, "OK");
	emu_quit(c->ctl->emu);
	return 1;
}

enum { ARG_NONE, ARG_ONE, ARG_REST };

static const struct {
	const char *name;
	int args;
	int (*fn)(struct client *c, char *arg);
} commands[] = {
	{"screen", ARG_NONE, c_screen}, {"wait", ARG_REST, c_wait},	{"press", ARG_ONE, c_press},
	{"type", ARG_ONE, c_type},	{"newkey", ARG_ONE, c_newkey},	{"insert", ARG_ONE, c_insert},
	{"remove", ARG_NONE, c_remove}, {"keys", ARG_NONE, c_keys},	{"unplug", ARG_NONE, c_unplug},
	{"plug", ARG_NONE, c_plug},	{"mode", ARG_ONE, c_mode},	{"status", ARG_NONE, c_status},
	{"quit", ARG_NONE, c_quit},	{"usbfault", ARG_ONE, c_usbfault},
};

static void exec_line(struct client *c, char *line)
{
	char *arg;
	size_t i, n;
	int r;

	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
		line[--n] = '\0';
	while (*line == ' ' || *line == '\t')
		line++;
	if (*line == '\0') {
		reply(c, "ERR empty command");
		return;
	}
	arg = line + strcspn(line, " \t");
	if (*arg != '\0')
		*arg++ = '\0';
	while (*arg == ' ' || *arg == '\t')
		arg++;
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(line, commands[i].name) != 0)
			continue;
		if ((commands[i].args == ARG_NONE && *arg != '\0') ||
		    (commands[i].args != ARG_NONE && *arg == '\0') ||
		    (commands[i].args == ARG_ONE && strpbrk(arg, " \t") != NULL)) {
			reply(c, "ERR usage: %s%s", commands[i].name,
			      commands[i].args == ARG_NONE ? "" : " <argument>");
			return;
		}
		r = commands[i].fn(c, arg);
		if (r == 0)
			reply(c, "OK");
		else if (r < 0)
			reply_err(c, r);
		return;
	}
	reply(c, "ERR unknown command");
}

static void finish_wait(struct client *c, bool ok)
{
	c->waiting = false;
	uv_timer_stop(&c->timer);
	if (ok)
		reply(c, "OK");
	else
		reply(c, "ERR timeout");
	process(c);
}

static void on_wait_timeout(uv_timer_t *t)
{
	struct client *c = t->data;

	if (c->waiting)
		finish_wait(c, false);
}

void ctl_notify(ctl_t *ctl)
{
	struct client *c, *next;
	ped_t *p;

	if (ctl == NULL || ctl->closing)
		return;
	p = emu_ped(ctl->emu);
	for (c = ctl->clients; c != NULL; c = next) {
		next = c->next;
		if (c->waiting && !c->closing && ped_lcd_contains(p, c->wtext))
			finish_wait(c, true);
	}
}

/* ------------------------------------------------------------- clients */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct client *c = h->data;

	(void)hint;
	*buf = uv_buf_init(c->pend + c->pendlen, (unsigned)(sizeof(c->pend) - c->pendlen));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct client *c = s->data;

	(void)buf;
	if (n == UV_EOF) {
		c->eof = true;
		uv_read_stop(s);
		c->reading = false;
	} else if (n < 0) {
		client_close(c);
		return;
	} else {
		c->pendlen += (size_t)n;
	}
	process(c);
}

/* A TCP client silent before its AUTH line is dropped, as the admin
 * channel drops one (a slot is not held for ever). */
static void on_auth_timeout(uv_timer_t *t)
{
	struct client *c = t->data;

	if (c->authed || c->closing)
		return;
	log_warning("control: no AUTH within %d ms, connection dropped", ADMIN_DEFAULT_TIMEOUT_MS);
	client_close(c);
}

/* A TCP client's first line: "AUTH <token>", answered only when wrong. */
static void auth_line(struct client *c, char *line)
{
	size_t n = strlen(line);

	if (n > 0 && line[n - 1] == '\r')
		line[--n] = '\0';
	if (strncmp(line, "AUTH ", 5) == 0 && admin_token_ok(c->ctl->token, line + 5)) {
		c->authed = true;
		uv_timer_stop(&c->timer);
		return;
	}
	log_warning("control: %s, connection refused",
		    strncmp(line, "AUTH ", 5) == 0 ? "wrong token" : "command without token");
	reply(c, "ERR AUTH_REQUIRED send AUTH <token of %s/%s> first", c->ctl->tokendir,
	      CTL_TOKEN_FILE);
	client_close(c);
}

/* Runs the complete lines received, until a "wait" parks the client. */
static void process(struct client *c)
{
	char ch;

	while (!c->waiting && !c->closing && c->pendoff < c->pendlen) {
		ch = c->pend[c->pendoff++];
		if (ch == '\n') {
			if (c->discard) {
				reply(c, "ERR line too long (max %d)", CTL_LINE_MAX);
				c->discard = false;
			} else if (memchr(c->acc, '\0', c->acclen) != NULL) {
				reply(c, "ERR NUL byte in the line");
			} else {
				c->acc[c->acclen] = '\0';
				if (c->authed)
					exec_line(c, c->acc);
				else
					auth_line(c, c->acc);
			}
			OPENSSL_cleanse(c->acc, c->acclen);
			c->acclen = 0;
		} else if (!c->discard) {
			if (c->acclen >= CTL_LINE_MAX) {
				c->discard = true;
				c->acclen = 0;
			} else {
				c->acc[c->acclen++] = ch;
			}
		}
	}
	if (c->closing)
		return;
	if (c->pendoff >= c->pendlen)
		c->pendoff = c->pendlen = 0;
	if (c->waiting) {
		if (c->reading) {
			uv_read_stop(&c->io.s);
			c->reading = false;
		}
		return;
	}
	if (c->eof) {
		client_close(c);
		return;
	}
	if (!c->reading && !c->ctl->closing) {
		if (uv_read_start(&c->io.s, on_alloc, on_read) == 0)
			c->reading = true;
	}
}

static void on_client_closed(uv_handle_t *h)
{
	struct client *c = h->data, **pp;
	ctl_t *ctl = c->ctl;

	if (--c->open_handles > 0)
		return;
	for (pp = &ctl->clients; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	ctl->nclients--;
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
	if (ctl->closing && ctl->clients == NULL && ctl->srv_closed)
		ctl_free(ctl);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	struct client *c = req->data;

	(void)status;
	uv_close(&c->io.h, on_client_closed);
}

static void client_close(struct client *c)
{
	if (c->closing)
		return;
	c->closing = true;
	c->waiting = false;
	uv_close((uv_handle_t *)&c->timer, on_client_closed);
	if (c->reading)
		uv_read_stop(&c->io.s);
	c->reading = false;
	c->shut.data = c;
	if (uv_shutdown(&c->shut, &c->io.s, on_shutdown) != 0)
		uv_close(&c->io.h, on_client_closed);
}

static void on_connection(uv_stream_t *srv, int status)
{
	ctl_t *ctl = srv->data;
	struct client *c;

	if (status < 0 || ctl->closing)
		return;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return;
	c->ctl = ctl;
	if (ctl->tcp)
		uv_tcp_init(srv->loop, &c->io.tcp);
	else
		uv_pipe_init(srv->loop, &c->io.pipe, 0);
	uv_timer_init(srv->loop, &c->timer);
	c->io.h.data = c->timer.data = c;
	c->open_handles = 2;
	c->next = ctl->clients;
	ctl->clients = c;
	ctl->nclients++;
	if (uv_accept(srv, &c->io.s) != 0) {
		client_close(c);
		return;
	}
	if (!ctl->tcp)
		c->authed = sys_ipc_peer_ok(&c->io.pipe);
	if (ctl->nclients > CTL_MAX_CLIENTS || (!ctl->tcp && !c->authed)) {
		log_warning("control: client refused");
		client_close(c);
		return;
	}
	if (!c->authed)
		uv_timer_start(&c->timer, on_auth_timeout, ADMIN_DEFAULT_TIMEOUT_MS, 0);
	process(c);
}

static void ctl_free(ctl_t *ctl)
{
	OPENSSL_cleanse(ctl->token, sizeof(ctl->token));
	free(ctl->tokendir);
	free(ctl);
}

static void on_srv_closed(uv_handle_t *h)
{
	ctl_t *ctl = h->data;

	ctl->srv_closed = true;
	if (ctl->clients == NULL)
		ctl_free(ctl);
}

/* A stale socket of ours is replaced; anything else at path is refused. */
static int listen_unix(ctl_t *ctl, uv_loop_t *loop, const char *path)
{
	int r;

	if (sys_local_socket_prepare(path) != 0) {
		log_error("control: %s: path too long for a socket", path);
		return PED_E_TOO_LONG;
	}
	uv_pipe_init(loop, &ctl->srv.pipe, 0);
	r = uv_pipe_bind(&ctl->srv.pipe, path); /* umask 077: sys_harden */
	if (r == UV_EADDRINUSE) {
		log_error("control: %s exists and is not a socket", path);
		return PED_E_EXISTS;
	}
	if (r == 0)
		r = sys_local_socket_private(path) == 0 ? 0 : UV_EPERM;
	if (r == 0)
		r = uv_listen(&ctl->srv.s, 16, on_connection);
	if (r != 0) {
		log_error("control: %s: %s", path, uv_strerror(r));
		return PED_E_IO;
	}
	return 0;
}

/* spec "tcp:HOST:PORT" on a loopback address; the token and the port go to
 * keydir (private: the PED keys live there). */
static int listen_tcp(ctl_t *ctl, uv_loop_t *loop, const char *spec, const char *keydir)
{
	struct sockaddr_storage sa;
	usbped_spec_t s;
	int loopback = 0, r, port, len = sizeof(sa);

	ctl->tcp = true;
	uv_tcp_init(loop, &ctl->srv.tcp);
	if (usbped_parse_spec(spec, &s) != 0 || s.kind != USBPED_KIND_TCP ||
	    usbped_tcp_addr(&s, &sa, &loopback) != 0 || !loopback) {
		log_error("control %s: not tcp:HOST:PORT with a numeric loopback address", spec);
		return PED_E_INVAL;
	}
	if ((ctl->tokendir = strdup(keydir)) == NULL)
		return PED_E_NOMEM;
	if ((r = uv_tcp_bind(&ctl->srv.tcp, (const struct sockaddr *)&sa, 0)) != 0 ||
	    (r = uv_listen(&ctl->srv.s, 16, on_connection)) != 0 ||
	    (r = uv_tcp_getsockname(&ctl->srv.tcp, (struct sockaddr *)&sa, &len)) != 0) {
		log_error("control: cannot listen on %s: %s", spec, uv_strerror(r));
		return PED_E_IO;
	}
	port = sa.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&sa)->sin6_port)
					: ntohs(((struct sockaddr_in *)&sa)->sin_port);
	if ((r = admin_token_publish(keydir, CTL_TOKEN_FILE, CTL_PORT_FILE, port, ctl->token)) != 0)
		return r;
	log_info("control: listening on %s (token in %s/%s)", spec, keydir, CTL_TOKEN_FILE);
	return 0;
}

int ctl_open(uv_loop_t *loop, const char *spec, const char *keydir, emu_t *emu, ctl_t **out)
{
	ctl_t *ctl;
	int r;

	*out = NULL;
	ctl = calloc(1, sizeof(*ctl));
	if (ctl == NULL)
		return PED_E_NOMEM;
	ctl->emu = emu;
	if (ctl_is_tcp(spec))
		r = listen_tcp(ctl, loop, spec, keydir);
	else
		r = listen_unix(ctl, loop, spec);
	ctl->srv.h.data = ctl;
	if (r != 0) {
		ctl->closing = true;
		if (uv_handle_get_type(&ctl->srv.h) != UV_UNKNOWN_HANDLE)
			uv_close(&ctl->srv.h, on_srv_closed);
		else
			ctl_free(ctl);
		return r;
	}
	*out = ctl;
	return 0;
}

bool ctl_is_tcp(const char *spec)
{
	return strncmp(spec, "tcp:", 4) == 0;
}

void ctl_close(ctl_t *ctl)
{
	struct client *c, *next;

	if (ctl == NULL || ctl->closing)
		return;
	ctl->closing = true;
	if (ctl->tcp)
		admin_token_unpublish(ctl->tokendir, CTL_TOKEN_FILE, CTL_PORT_FILE);
	for (c = ctl->clients; c != NULL; c = next) {
		next = c->next;
		client_close(c);
	}
	uv_close(&ctl->srv.h, on_srv_closed);
}
