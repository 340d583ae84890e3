/* port.c - the emulator's link end: a pty master polled on the loop.
 *
 * The slave side is put in raw mode once (cfmakeraw) and published as a
 * symlink. The host opens and closes the slave as it likes. While nobody
 * holds the slave open, reads on the master fail with EIO and poll reports
 * POLLHUP continuously, so watching the fd would spin: on a hang-up the
 * port stops its uv_poll and instead checks every PORT_RETRY_MS with a
 * zero-timeout poll(2) whether the slave has been opened again. That timer
 * is the emulator's one periodic check; it runs only while no host is
 * attached. Output that cannot be written at once waits in a bounded queue
 * (wiped as it drains: frames can carry shares).
 * A link "tcp:HOST:PORT" listens instead (port_tcp.c); framing stays here. */
#include "usbped/emu/port.h"
#include "usbped/emu/port_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/err.h"
#include "common/log.h"

#define PORT_RETRY_MS 50
#define PORT_OUT_MAX (8 * LINK_MAX_FRAME)
#define PORT_PATH_MAX 128

struct port {
	uv_poll_t poll;
	uv_timer_t retry;
	int fd;
	int open_handles;
	bool up;
	bool closing;
	int events;
	port_cb_t cb;
	tport_t *tcp; /* a TCP link instead of the pty */
	port_rx_t rx;
	char slave[PORT_PATH_MAX];
	link_frame_t frame;
	size_t outlen;
	uint8_t out[PORT_OUT_MAX];
};

static void on_retry(uv_timer_t *t);
static void on_poll(uv_poll_t *h, int status, int events);

static void set_events(port_t *p)
{
	int ev = UV_READABLE | (p->outlen > 0 ? UV_WRITABLE : 0);

	if (!p->up || p->closing || ev == p->events)
		return;
	if (uv_poll_start(&p->poll, ev, on_poll) == 0)
		p->events = ev;
}

static void drop_output(port_t *p)
{
	OPENSSL_cleanse(p->out, p->outlen);
	p->outlen = 0;
}

int port_rx_init(port_rx_t *r)
{
	memset(r, 0, sizeof(*r));
	return link_decoder_new(&r->dec);
}

void port_rx_reset(port_rx_t *r)
{
	link_decoder_t *d = NULL;

	if (link_decoder_new(&d) == 0) {
		link_decoder_free(r->dec);
		r->dec = d;
	}
}

void port_rx_feed(port_rx_t *r, const uint8_t *data, size_t n, const port_cb_t *cb,
		  const bool *live)
{
	if (link_decoder_feed(r->dec, data, n) != 0) {
		log_warning("link: input overflow, resetting the decoder");
		port_rx_reset(r);
		return;
	}
	while (*live && link_decoder_next(r->dec, &r->frame) == 0) {
		cb->frame(cb->arg, &r->frame);
		OPENSSL_cleanse(r->frame.payload, r->frame.len);
	}
}

void port_rx_free(port_rx_t *r)
{
	link_decoder_free(r->dec);
	r->dec = NULL;
}

/* The host closed the slave (or the pty failed): stop watching the fd and
 * wait for the next opener. */
static void hangup(port_t *p)
{
	if (!p->up || p->closing)
		return;
	p->up = false;
	uv_poll_stop(&p->poll);
	p->events = 0;
	drop_output(p);
	port_rx_reset(&p->rx);
	uv_timer_start(&p->retry, on_retry, PORT_RETRY_MS, PORT_RETRY_MS);
	log_info("link: host closed %s", p->slave);
	p->cb.updown(p->cb.arg, 0);
}

static bool slave_is_open(int fd)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	if (poll(&pfd, 1, 0) < 0)
		return false;
	return !(pfd.revents & (POLLHUP | POLLERR | POLLNVAL));
}

static void on_retry(uv_timer_t *t)
{
	port_t *p = t->data;

	if (p->closing || !slave_is_open(p->fd))
		return;
	uv_timer_stop(&p->retry);
	p->up = true;
	p->events = 0;
	port_rx_reset(&p->rx);
	set_events(p);
	log_info("link: host opened %s", p->slave);
	p->cb.updown(p->cb.arg, 1);
}

static void flush(port_t *p)
{
	ssize_t n;

	while (p->outlen > 0) {
		n = write(p->fd, p->out, p->outlen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			hangup(p);
			return;
		}
		memmove(p->out, p->out + n, p->outlen - (size_t)n);
		OPENSSL_cleanse(p->out + p->outlen - (size_t)n, (size_t)n);
		p->outlen -= (size_t)n;
	}
	set_events(p);
}


static void on_poll(uv_poll_t *h, int status, int events)
{
	port_t *p = h->data;
	uint8_t buf[4096];
	ssize_t n;

	if (status < 0) {
		hangup(p);
		return;
	}
	if (events & UV_READABLE) {
		while (p->up && !p->closing) {
			n = read(p->fd, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				break;
			if (n <= 0) { /* EIO: the last holder of the slave closed it */
				hangup(p);
				break;
			}
			port_rx_feed(&p->rx, buf, (size_t)n, &p->cb, &p->up);
		}
		OPENSSL_cleanse(buf, sizeof(buf));
	}
	if ((events & UV_WRITABLE) && p->up && !p->closing)
		flush(p);
}

int port_send(port_t *p, uint8_t type, uint16_t id, const uint8_t *payload, size_t len)
{
	uint8_t frame[LINK_MAX_FRAME];
	size_t flen = 0;
	int r;

	if (p == NULL || !p->up || p->closing)
		return PED_E_UNPLUGGED;
	if ((r = link_encode(type, id, payload, len, frame, sizeof(frame), &flen)) != 0)
		goto out;
	if (p->tcp != NULL) {
		r = tport_write(p->tcp, frame, flen);
		goto out;
	}
	r = PED_E_NOSPACE;
	if (flen > sizeof(p->out) - p->outlen) {
		log_warning("link: output queue full, frame dropped");
		goto out;
	}
	memcpy(p->out + p->outlen, frame, flen);
	p->outlen += flen;
	flush(p);
	r = 0;
out:
	OPENSSL_cleanse(frame, flen);
	return r;
}

/* Points linkpath at target, replacing it atomically. */
static int publish(const char *linkpath, const char *target)
{
	char tmp[4096];
	int n;

	n = snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", linkpath, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return PED_E_TOO_LONG;
	unlink(tmp);
	if (symlink(target, tmp) != 0) {
		log_error("symlink %s: %s", tmp, strerror(errno));
		return PED_E_IO;
	}
	if (rename(tmp, linkpath) != 0) {
		log_error("rename %s: %s", linkpath, strerror(errno));
		unlink(tmp);
		return PED_E_IO;
	}
	return 0;
}

static int open_master(char *slave, size_t cap)
{
	int fd = posix_openpt(O_RDWR | O_NOCTTY);

	if (fd < 0)
		return -1;
	if (grantpt(fd) != 0 || unlockpt(fd) != 0 || ptsname_r(fd, slave, cap) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void on_handle_closed(uv_handle_t *h)
{
	port_t *p = h->data;

	if (--p->open_handles > 0)
		return;
	port_rx_free(&p->rx);
	OPENSSL_cleanse(p, sizeof(*p));
	free(p);
}

void port_tcp_bytes(port_t *p, const uint8_t *data, size_t n)
{
	if (p->up && !p->closing)
		port_rx_feed(&p->rx, data, n, &p->cb, &p->up);
}

void port_tcp_updown(port_t *p, int up)
{
	if (p->closing)
		return;
	p->up = up != 0;
	port_rx_reset(&p->rx);
	p->cb.updown(p->cb.arg, up);
}

static void tcp_done(port_t *p)
{
	port_rx_free(&p->rx);
	OPENSSL_cleanse(p, sizeof(*p));
	free(p);
}

static int open_tcp(uv_loop_t *loop, const char *spec, bool remote_ok, const port_cb_t *cb,
		    port_t **out)
{
	port_t *p;
	int r = PED_E_NOMEM;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return r;
	p->fd = -1;
	p->cb = *cb;
	if ((r = port_rx_init(&p->rx)) != 0 ||
	    (r = tport_open(loop, spec, remote_ok, p, &p->tcp)) != 0) {
		port_rx_free(&p->rx);
		free(p);
		return r;
	}
	snprintf(p->slave, sizeof(p->slave), "%s", tport_name(p->tcp));
	log_info("link: listening on %s", p->slave);
	*out = p;
	return 0;
}

int port_open(uv_loop_t *loop, const char *linkpath, const char *avoid, bool remote_ok,
	      const port_cb_t *cb, port_t **out)
{
	struct termios tio;
	port_t *p = NULL;
	char other[PORT_PATH_MAX];
	int fd = -1, fd2, sfd = -1, r = PED_E_NOMEM;

	*out = NULL;
	if (strncmp(linkpath, "tcp:", 4) == 0)
		return open_tcp(loop, linkpath, remote_ok, cb, out);
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		goto out;
	p->fd = -1;
	p->cb = *cb;
	if ((r = port_rx_init(&p->rx)) != 0)
		goto out;
	r = PED_E_IO;
	if ((fd = open_master(p->slave, sizeof(p->slave))) < 0) {
		log_error("posix_openpt: %s", strerror(errno));
		goto out;
	}
	/* A host still holding the old path must not find a new PED there. */
	if (avoid != NULL && strcmp(p->slave, avoid) == 0) {
		if ((fd2 = open_master(other, sizeof(other))) < 0)
			goto out;
		close(fd);
		fd = fd2;
		memcpy(p->slave, other, sizeof(other));
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)
		goto out;
	sfd = open(p->slave, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (sfd < 0 || tcgetattr(sfd, &tio) != 0)
		goto out;
	cfmakeraw(&tio);
	if (tcsetattr(sfd, TCSANOW, &tio) != 0)
		goto out;
	close(sfd);
	sfd = -1;
	if ((r = publish(linkpath, p->slave)) != 0)
		goto out;
	r = PED_E_INTERNAL;
	if (uv_poll_init(loop, &p->poll, fd) != 0)
		goto out;
	p->fd = fd;
	fd = -1;
	p->poll.data = p;
	p->open_handles = 1;
	uv_timer_init(loop, &p->retry);
	p->retry.data = p;
	p->open_handles = 2;
	uv_timer_start(&p->retry, on_retry, 0, PORT_RETRY_MS);
	log_info("link: %s -> %s", linkpath, p->slave);
	*out = p;
	p = NULL;
	r = 0;
out:
	if (sfd >= 0)
		close(sfd);
	if (fd >= 0)
		close(fd);
	if (p != NULL && p->open_handles > 0) {
		port_close(p);
	} else if (p != NULL) {
		port_rx_free(&p->rx);
		free(p);
	}
	return r;
}

const char *port_slave(const port_t *p)
{
	return p->slave;
}

void port_close(port_t *p)
{
	if (p == NULL || p->closing)
		return;
	p->closing = true;
	p->up = false;
	drop_output(p);
	if (p->tcp != NULL) {
		tport_close(p->tcp, tcp_done);
		return;
	}
	uv_close((uv_handle_t *)&p->poll, on_handle_closed);
	uv_close((uv_handle_t *)&p->retry, on_handle_closed);
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
}
