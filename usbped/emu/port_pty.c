/* port_pty.c - the emulator's link end on a pseudo-terminal (POSIX): the
 * master polled on the loop, the slave published as a symlink.
 *
 * The slave side is put in raw mode once (cfmakeraw) and published as a
 * symlink. The host opens and closes the slave as it likes. While nobody
 * holds the slave open, reads on the master fail with EIO and poll reports
 * POLLHUP continuously, so watching the fd would spin: on a hang-up the
 * pty stops its uv_poll and instead checks every PTY_RETRY_MS with a
 * zero-timeout poll(2) whether the slave has been opened again. That timer
 * is the emulator's one periodic check; it runs only while no host is
 * attached. Output that cannot be written at once waits in a bounded queue
 * (wiped as it drains: frames can carry shares). Windows has no ptys:
 * port_pty_win.c refuses them by name. */
#include "usbped/emu/port_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/err.h"
#include "common/log.h"

#define PTY_RETRY_MS 50
#define PTY_OUT_MAX (8 * LINK_MAX_FRAME)
#define PTY_PATH_MAX 128

struct pty {
	uv_poll_t poll;
	uv_timer_t retry;
	port_t *owner;
	void (*done)(port_t *owner);
	int fd;
	int open_handles;
	bool up;
	bool closing;
	int events;
	char slave[PTY_PATH_MAX];
	size_t outlen;
	uint8_t out[PTY_OUT_MAX];
};

static void on_retry(uv_timer_t *t);
static void on_poll(uv_poll_t *h, int status, int events);

bool port_pty_supported(void)
{
	return true;
}

static void set_events(pty_t *p)
{
	int ev = UV_READABLE | (p->outlen > 0 ? UV_WRITABLE : 0);

	if (!p->up || p->closing || ev == p->events)
		return;
	if (uv_poll_start(&p->poll, ev, on_poll) == 0)
		p->events = ev;
}

static void drop_output(pty_t *p)
{
	OPENSSL_cleanse(p->out, p->outlen);
	p->outlen = 0;
}

/* The host closed the slave (or the pty failed): stop watching the fd and
 * wait for the next opener. */
static void hangup(pty_t *p)
{
	if (!p->up || p->closing)
		return;
	p->up = false;
	uv_poll_stop(&p->poll);
	p->events = 0;
	drop_output(p);
	uv_timer_start(&p->retry, on_retry, PTY_RETRY_MS, PTY_RETRY_MS);
	log_info("link: host closed %s", p->slave);
	port_updown(p->owner, 0);
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
	pty_t *p = t->data;

	if (p->closing || !slave_is_open(p->fd))
		return;
	uv_timer_stop(&p->retry);
	p->up = true;
	p->events = 0;
	set_events(p);
	log_info("link: host opened %s", p->slave);
	port_updown(p->owner, 1);
}

static void flush(pty_t *p)
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
	pty_t *p = h->data;
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
			port_bytes(p->owner, buf, (size_t)n);
		}
		OPENSSL_cleanse(buf, sizeof(buf));
	}
	if ((events & UV_WRITABLE) && p->up && !p->closing)
		flush(p);
}

int pty_write(pty_t *p, const uint8_t *data, size_t len)
{
	if (!p->up || p->closing)
		return PED_E_UNPLUGGED;
	if (len > sizeof(p->out) - p->outlen) {
		log_warning("link: output queue full, frame dropped");
		return PED_E_NOSPACE;
	}
	memcpy(p->out + p->outlen, data, len);
	p->outlen += len;
	flush(p);
	return 0;
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
	pty_t *p = h->data;
	port_t *owner = p->owner;
	void (*done)(port_t *) = p->done;

	if (--p->open_handles > 0)
		return;
	OPENSSL_cleanse(p, sizeof(*p));
	free(p);
	if (done != NULL)
		done(owner);
}

int pty_open(uv_loop_t *loop, const char *linkpath, const char *avoid, port_t *owner, pty_t **out)
{
	struct termios tio;
	pty_t *p = NULL;
	char other[PTY_PATH_MAX];
	int fd = -1, fd2, sfd = -1, r = PED_E_NOMEM;

	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		goto out;
	p->fd = -1;
	p->owner = owner;
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
	uv_timer_init(loop, &p->retry);
	p->retry.data = p;
	p->open_handles = 2;
	uv_timer_start(&p->retry, on_retry, 0, PTY_RETRY_MS);
	log_info("link: %s -> %s", linkpath, p->slave);
	*out = p;
	p = NULL;
	r = 0;
out:
	if (sfd >= 0)
		close(sfd);
	if (fd >= 0)
		close(fd);
	free(p);
	return r;
}

const char *pty_name(const pty_t *p)
{
	return p->slave;
}

void pty_close(pty_t *p, void (*done)(port_t *owner))
{
	if (p == NULL || p->closing)
		return;
	p->closing = true;
	p->up = false;
	p->done = done;
	drop_output(p);
	uv_close((uv_handle_t *)&p->poll, on_handle_closed);
	uv_close((uv_handle_t *)&p->retry, on_handle_closed);
	close(p->fd);
	p->fd = -1;
}
