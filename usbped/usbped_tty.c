/* usbped_tty.c - PED transport over a tty, pty or serial line: the fd is
 * non-blocking and raw, watched with one uv_poll; writes go out when the
 * line is writable. A hang-up (POLLHUP, EOF, EIO) means the PED left. */
#include "usbped/usbped.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/err.h"
#include "common/log.h"

#define TTY_READ_CHUNK 4096

struct tty {
	usbped_t *p;
	int fd;
	int polling;   /* uv_poll started */
	int want_write;
	uv_poll_t poll;
};

static void tty_update(struct tty *t);

static void tty_hangup(struct tty *t, int err)
{
	if (t->polling) {
		uv_poll_stop(&t->poll);
		t->polling = 0;
	}
	usbped_set_down(t->p, err);
}

/* Writes what the line takes now; 0, or a negative code when it failed. */
static int tty_flush(struct tty *t)
{
	const uint8_t *data;
	size_t n;
	ssize_t w;

	while ((n = usbped_peek(t->p, &data)) > 0) {
		w = write(t->fd, data, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			t->want_write = 1;
			return 0;
		}
		if (w < 0)
			return errno == EIO ? PED_E_UNPLUGGED : PED_E_IO;
		usbped_consumed(t->p, (size_t)w);
	}
	t->want_write = 0;
	return 0;
}

static void tty_poll_cb(uv_poll_t *h, int status, int events)
{
	struct tty *t = h->data;
	uint8_t buf[TTY_READ_CHUNK];
	ssize_t n;
	int r = 0;

	if (status < 0) {
		log_warning("usbped: %s: poll: %s", usbped_describe(t->p), uv_strerror(status));
		tty_hangup(t, PED_E_UNPLUGGED);
		return;
	}
	if (events & (UV_READABLE | UV_DISCONNECT)) {
		for (;;) {
			n = read(t->fd, buf, sizeof(buf));
			if (n > 0) {
				usbped_deliver(t->p, buf, (size_t)n);
				if (!usbped_is_up(t->p) || !t->polling)
					goto out; /* closed or downed from the callback */
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				break;
			/* EOF, EIO (pty master gone) or another read error. */
			r = (n == 0 || errno == EIO) ? PED_E_UNPLUGGED : PED_E_IO;
			goto out;
		}
		if (events & UV_DISCONNECT) {
			r = PED_E_UNPLUGGED;
			goto out;
		}
	}
	if (events & UV_WRITABLE)
		r = tty_flush(t);
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	if (r < 0)
		tty_hangup(t, r);
	else if (t->polling)
		tty_update(t);
}

static void tty_update(struct tty *t)
{
	int ev = UV_READABLE | UV_DISCONNECT;

	if (t->want_write)
		ev |= UV_WRITABLE;
	if (uv_poll_start(&t->poll, ev, tty_poll_cb) < 0)
		tty_hangup(t, PED_E_IO);
	else
		t->polling = 1;
}

/* Who else has the device open (a scan of /proc/PID/fd, as fuser does):
 * "pid N (comm)" into out, or "another program". */
static void tty_owner(const char *path, char *out, size_t cap)
{
	char real[PATH_MAX], dirp[64], link[PATH_MAX], comm[64];
	struct dirent *d, *f;
	DIR *proc, *fds;
	ssize_t n;
	FILE *c;

	snprintf(out, cap, "another program");
	if (realpath(path, real) == NULL || (proc = opendir("/proc")) == NULL)
		return;
	while ((d = readdir(proc)) != NULL) {
		long pid = strtol(d->d_name, NULL, 10);

		if (pid <= 0 || pid == (long)getpid())
			continue;
		snprintf(dirp, sizeof(dirp), "/proc/%ld/fd", pid);
		if ((fds = opendir(dirp)) == NULL)
			continue;
		while ((f = readdir(fds)) != NULL) {
			char fdp[96];

			snprintf(fdp, sizeof(fdp), "%s/%.20s", dirp, f->d_name);
			if ((n = readlink(fdp, link, sizeof(link) - 1)) <= 0)
				continue;
			link[n] = '\0';
			if (strcmp(link, real) != 0)
				continue;
			comm[0] = '\0';
			snprintf(fdp, sizeof(fdp), "/proc/%ld/comm", pid);
			if ((c = fopen(fdp, "r")) != NULL) {
				if (fgets(comm, sizeof(comm), c) == NULL)
					comm[0] = '\0';
				fclose(c);
			}
			comm[strcspn(comm, "\n")] = '\0';
			snprintf(out, cap, "pid %ld (%s)", pid, comm[0] ? comm : "?");
			closedir(fds);
			closedir(proc);
			return;
		}
		closedir(fds);
	}
	closedir(proc);
}

static int tty_open(usbped_t *p, const usbped_spec_t *spec, void **state)
{
	struct tty *t = NULL;
	struct termios tio;
	int fd = -1, r = PED_E_NOMEM, e;

	*state = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		goto out;
	fd = open(spec->path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		r = (e == ENOENT || e == ENXIO || e == ENODEV) ? PED_E_NOT_FOUND : PED_E_IO;
		log_error("usbped: cannot open PED %s: %s", spec->path, strerror(e));
		goto out;
	}
	if (tcgetattr(fd, &tio) < 0) {
		r = PED_E_INVAL;
		log_error("usbped: %s is not a terminal", spec->path);
		goto out;
	}
	/* one owner: an exclusive lock, which every pedserver takes (root too).
	 * Not TIOCEXCL: on a pty it outlives our close while the emulator holds
	 * the master, and would lock out our own reopen without privileges. */
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		char who[128];

		tty_owner(spec->path, who, sizeof(who));
		r = PED_E_PED_IN_USE;
		log_error("usbped: the PED %s is held by %s (PED_IN_USE)", spec->path, who);
		goto out;
	}

	cfmakeraw(&tio);
	tio.c_cflag |= CLOCAL | CREAD;
	tio.c_cc[VMIN] = 1;
	tio.c_cc[VTIME] = 0;
	if (tcsetattr(fd, TCSANOW, &tio) < 0) {
		r = PED_E_IO;
		log_error("usbped: cannot set raw mode on %s: %s", spec->path, strerror(errno));
		goto out;
	}
	t->p = p;
	t->fd = fd;
	r = PED_E_IO;
	if (uv_poll_init(usbped_loop(p), &t->poll, fd) < 0)
		goto out;
	t->poll.data = t;
	fd = -1;
	/* The poll handle is initialised: from now on it must be closed. */
	if (uv_poll_start(&t->poll, UV_READABLE | UV_DISCONNECT, tty_poll_cb) == 0)
		t->polling = 1;
	*state = t;
	t = NULL;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	free(t);
	return r;
}

static void tty_kick(usbped_t *p, void *state)
{
	struct tty *t = state;
	int r;

	(void)p;
	if (!t->polling)
		return;
	r = tty_flush(t);
	if (r < 0)
		tty_hangup(t, r);
	else
		tty_update(t);
}

static void tty_closed(uv_handle_t *h)
{
	struct tty *t = h->data;
	usbped_t *p = t->p;

	close(t->fd);
	free(t);
	usbped_backend_closed(p);
}

static void tty_close(usbped_t *p, void *state)
{
	struct tty *t = state;

	(void)p;
	t->polling = 0;
	/* the fd closes in the callback: give the PED up now, so that a reopen
	 * right after (pedhost_reopen) finds it free */
	(void)flock(t->fd, LOCK_UN);
	uv_close((uv_handle_t *)&t->poll, tty_closed);
}

const usbped_backend_t usbped_tty_backend = {
	.name = "tty",
	.open = tty_open,
	.kick = tty_kick,
	.close = tty_close,
};
