/* ped.c - pedserver's PED: opened through pedhost, followed live, and
 * picked up again when it comes (back) after start, without polling.
 *
 * A tty/pty path: the directory holding it is watched (uv_fs_event); when
 * the name changes (pedemu re-publishes its symlink on "plug", udev creates
 * a device node) and the PED is not up, it is opened again. When the link
 * drops, it is reopened at once only if the path now names another device
 * than the one that dropped (no retry loop on a dead path).
 * USB: after the first open the transport's libusb hot-plug brings the PED
 * back by itself; while no USB PED was ever found, a hot-plug watch
 * (usbped_watch_open) opens it when it arrives. Only where libusb has no
 * hot-plug does one slow retry timer (PEDATT_USB_RETRY_MS) look for it.
 * TCP (a PED that listens): while the PED is down, one connect attempt every
 * PEDATT_TCP_RETRY_MS; nothing runs while it is up. */
#include "pedserver/pedserver.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/err.h"
#include "common/log.h"
#include "common/sys.h"
#include "usbped/usbped.h"

#define PEDATT_USB_RETRY_MS 5000u
/* A PED path that opened but failed its first HELLO (e.g. the emulator was
 * still setting its pty up) is tried again this many times, this far apart. */
#define PEDATT_TTY_RETRIES 3
#define PEDATT_TTY_RETRY_MS 250u
#define PEDATT_TCP_RETRY_MS 500u

struct pedatt {
	uv_loop_t *loop;
	pedhost_opts_t hopts;
	char spec[PATH_MAX];
	usbped_spec_t parsed;
	char dir[PATH_MAX], base[PATH_MAX];
	pedhost_t *h;
	pedhost_info_t info;
	bool up;
	/* identity of what the path named when it was last opened */
	unsigned long long link_ino, rdev;
	uv_fs_event_t watch;
	uv_timer_t retry;
	bool watching, timer;
	usbped_watch_t *usbwatch; /* USB PED not found yet: its arrival */
	unsigned retries;   /* HELLO retries left for the current device */
	int open_err;       /* of the last open attempt */
	bool settled;       /* the first attempt is over (up, down or absent) */
	void (*on_settled)(void *arg);
	void *settled_arg;
	/* the server's interest: operations, events, up/down */
	struct pedatt_client client;
	void *client_arg;
	pedhost_status_t status; /* last STATUS_ACK while up */
	bool have_status;
	unsigned pending; /* handles still closing */
	void (*done)(void *arg);
	void *done_arg;
	bool closing;
};

static void settle(pedatt_t *a)
{
	if (a->settled)
		return;
	a->settled = true;
	if (a->on_settled != NULL)
		a->on_settled(a->settled_arg);
}

static void on_up(void *arg, const pedhost_info_t *info)
{
	pedatt_t *a = arg;

	a->info = *info;
	a->up = true;
	a->retries = PEDATT_TTY_RETRIES;
	settle(a);
	log_info("PED connected on %s: model %s, serial %s, firmware %s, link protocol %u",
		 a->spec, info->model, info->serial, info->firmware, info->version);
	pedatt_refresh_status(a);
	if (a->client.on_state != NULL)
		a->client.on_state(a->client_arg, true);
}

/* What the path names now: 0 and its identity, or -1 (does not exist). */
static int identity(const pedatt_t *a, unsigned long long *ino, unsigned long long *rdev)
{
	return sys_node_identity(a->spec, ino, rdev);
}

static bool try_open(pedatt_t *a);
static void on_retry(uv_timer_t *t);

static void on_down(void *arg, int err)
{
	pedatt_t *a = arg;
	bool was_up = a->up;
	unsigned long long ino, rdev;

	if (was_up)
		log_warning("PED on %s disconnected: %s", a->spec, ped_strerror(err));
	else if (a->parsed.kind == USBPED_KIND_TCP && err == PED_E_NOT_FOUND)
		log_trace("no PED listening at %s yet", a->spec);
	else
		log_warning("PED on %s does not answer: %s", a->spec, ped_strerror(err));
	a->up = false;
	memset(&a->info, 0, sizeof(a->info));
	a->have_status = false;
	if (was_up && a->client.on_state != NULL)
		a->client.on_state(a->client_arg, false);
	if (a->parsed.kind == USBPED_KIND_TTY && identity(a, &ino, &rdev) == 0) {
		if (ino != a->link_ino || rdev != a->rdev) {
			try_open(a);
		} else if (!was_up && a->retries > 0) {
			a->retries--;
			uv_timer_start(&a->retry, on_retry, PEDATT_TTY_RETRY_MS, 0);
		}
	}
	if (a->parsed.kind == USBPED_KIND_TCP && !a->closing)
		uv_timer_start(&a->retry, on_retry, PEDATT_TCP_RETRY_MS, 0);
	/* the first attempt is over either way; retries go on after ready */
	settle(a);
}

static void on_status(void *arg, int err, const pedhost_status_t *st)
{
	pedatt_t *a = arg;

	if (err == 0 && st != NULL && a->up) {
		a->status = *st;
		a->have_status = true;
	} else if (err != 0) {
		log_trace("PED status: %s", ped_strerror(err));
	}
}

static void on_event(void *arg, uint16_t id, const pedhost_event_t *ev)
{
	pedatt_t *a = arg;

	if (a->client.on_event != NULL)
		a->client.on_event(a->client_arg, id, ev);
}

static void on_result(void *arg, uint16_t id, const pedhost_result_t *res)
{
	pedatt_t *a = arg;

	if (a->client.on_result != NULL)
		a->client.on_result(a->client_arg, id, res);
	/* an operation may have changed the cached RPK: ask again */
	pedatt_refresh_status(a);
}

static const pedhost_cbs_t cbs = {.on_up = on_up, .on_down = on_down, .on_status = on_status,
				  .on_event = on_event, .on_result = on_result};

/* Opens (or reopens) the PED if it is not up; quiet if it is not there.
 * True if a HELLO is now under way. */
static bool try_open(pedatt_t *a)
{
	unsigned long long ino, rdev;
	int r;

	if (a->closing || (a->h != NULL && (a->up || pedhost_is_up(a->h))))
		return false;
	if (a->parsed.kind == USBPED_KIND_TTY) {
		if (identity(a, &ino, &rdev) != 0)
			return false;
		if (ino != a->link_ino || rdev != a->rdev)
			a->retries = PEDATT_TTY_RETRIES; /* another device: fresh retries */
		a->link_ino = ino;
		a->rdev = rdev;
	}
	if (a->h != NULL) {
		r = pedhost_reopen(a->h);
		if (r == PED_E_BAD_REQUEST) /* HELLO under way */
			return true;
	} else {
		r = pedhost_open(a->loop, &a->hopts, &cbs, a, &a->h);
		if (r != 0)
			a->h = NULL;
	}
	a->open_err = r;
	if (r == 0)
		log_info("PED %s opened, waiting for its HELLO", a->spec);
	else if (r != PED_E_NOT_FOUND)
		log_warning("cannot open the PED %s: %s", a->spec, ped_strerror(r));
	else
		log_trace("no PED at %s yet", a->spec);
	return r == 0;
}

static void on_fs(uv_fs_event_t *w, const char *filename, int events, int status)
{
	pedatt_t *a = w->data;

	(void)events;
	if (status < 0) {
		log_warning("watching %s: %s", a->dir, uv_strerror(status));
		return;
	}
	if (filename != NULL && strcmp(filename, a->base) != 0)
		return;
	try_open(a);
}

static void on_retry(uv_timer_t *t)
{
	pedatt_t *a = t->data;

	if (a->parsed.kind != USBPED_KIND_USB) {
		try_open(a);
		return;
	}
	try_open(a);
	if (a->h != NULL) {
		uv_timer_stop(&a->retry);
		log_info("USB PED found; hot-plug follows it from now on");
	}
}

static void on_usb_arrival(void *arg)
{
	pedatt_t *a = arg;

	try_open(a);
	if (a->h != NULL) {
		usbped_watch_close(a->usbwatch);
		a->usbwatch = NULL;
		log_info("USB PED arrived; hot-plug follows it from now on");
	}
}

/* A path that can never be a PED: missing directory, or not a terminal. */
static int check_path(pedatt_t *a, char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	struct stat st;

	snprintf(tmp, sizeof(tmp), "%s", a->spec);
	snprintf(a->dir, sizeof(a->dir), "%s", dirname(tmp));
	snprintf(tmp, sizeof(tmp), "%s", a->spec);
	snprintf(a->base, sizeof(a->base), "%s", basename(tmp));
	if (stat(a->dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "PED %s unusable: directory %s: %s", a->spec, a->dir,
			 stat(a->dir, &st) != 0 ? strerror(errno) : "not a directory");
		return -1;
	}
	if (stat(a->spec, &st) == 0 && !S_ISCHR(st.st_mode)) {
		snprintf(err, errlen, "PED %s unusable: not a terminal device", a->spec);
		return -1;
	}
	return 0;
}

int pedatt_open(uv_loop_t *loop, const char *spec, unsigned write_delay_us,
		const char *host_name, pedatt_t **out, char *err, size_t errlen)
{
	pedatt_t *a;
	int r;

	*out = NULL;
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	a->loop = loop;
	snprintf(a->spec, sizeof(a->spec), "%s", spec);
	a->hopts.spec = a->spec;
	a->hopts.write_delay_us = write_delay_us;
	a->hopts.host_name = host_name;
	if ((r = usbped_parse_spec(spec, &a->parsed)) != 0) {
		snprintf(err, errlen, "-ped %s: %s (a tty path, usb, usb:VVVV:PPPP[:SERIAL] or tcp:HOST:PORT)", spec,
			 ped_strerror(r));
		free(a);
		return -1;
	}
	if (a->parsed.kind == USBPED_KIND_TTY) {
		if (check_path(a, err, errlen) != 0) {
			free(a);
			return -1;
		}
		uv_fs_event_init(loop, &a->watch);
		a->watch.data = a;
		a->watching = true;
		if ((r = uv_fs_event_start(&a->watch, on_fs, a->dir, 0)) != 0)
			log_warning("cannot watch %s (%s): a PED plugged in later needs a "
				    "restart", a->dir, uv_strerror(r));
	}
	uv_timer_init(loop, &a->retry);
	a->retry.data = a;
	a->timer = true;
	a->retries = PEDATT_TTY_RETRIES;
	if (!try_open(a))
		a->settled = true;
	/* USB PEDs that are there but unusable as configured: say so now */
	if (a->h == NULL && a->parsed.kind == USBPED_KIND_USB &&
	    (a->open_err == PED_E_PED_AMBIGUOUS || a->open_err == PED_E_USB_ACCESS)) {
		snprintf(err, errlen, "-ped %s: %s: %s (the log names %s)", spec,
			 ped_errname(a->open_err), ped_strerror(a->open_err),
			 a->open_err == PED_E_PED_AMBIGUOUS ? "each PED as usb:VID:PID:SERIAL"
							    : "the device node and the udev rule");
		pedatt_close(a, NULL, NULL);
		return -1;
	}
	if (a->h == NULL && a->parsed.kind == USBPED_KIND_TTY)
		log_info("no PED at %s yet; it is picked up when it appears", a->spec);
	if (a->h == NULL && a->parsed.kind == USBPED_KIND_USB &&
	    usbped_watch_open(loop, &a->parsed, on_usb_arrival, a, &a->usbwatch) == 0) {
		log_info("no USB PED found yet; it is opened when it is plugged in");
	} else if (a->h == NULL && a->parsed.kind == USBPED_KIND_USB) {
		log_info("no USB PED found yet (no hot-plug here); looking again every %u s",
			 PEDATT_USB_RETRY_MS / 1000);
		uv_timer_start(&a->retry, on_retry, PEDATT_USB_RETRY_MS, PEDATT_USB_RETRY_MS);
	}
	*out = a;
	return 0;
}

void pedatt_when_settled(pedatt_t *a, void (*cb)(void *arg), void *arg)
{
	if (a->settled) {
		cb(arg);
		return;
	}
	a->on_settled = cb;
	a->settled_arg = arg;
}

bool pedatt_up(const pedatt_t *a)
{
	return a != NULL && a->up;
}

const pedhost_info_t *pedatt_info(const pedatt_t *a)
{
	return a != NULL && a->up ? &a->info : NULL;
}

void pedatt_set_client(pedatt_t *a, const struct pedatt_client *c, void *arg)
{
	if (c != NULL)
		a->client = *c;
	else
		memset(&a->client, 0, sizeof(a->client));
	a->client_arg = arg;
}

pedhost_t *pedatt_host(pedatt_t *a)
{
	return a != NULL && a->up ? a->h : NULL;
}

void pedatt_refresh_status(pedatt_t *a)
{
	if (a != NULL && a->up && a->h != NULL)
		(void)pedhost_status(a->h); /* PED_BUSY: one is under way already */
}

const pedhost_status_t *pedatt_status(const pedatt_t *a)
{
	return a != NULL && a->up && a->have_status ? &a->status : NULL;
}

const char *pedatt_spec(const pedatt_t *a)
{
	return a != NULL ? a->spec : "";
}

static void closed_one(pedatt_t *a)
{
	if (--a->pending > 0)
		return;
	if (a->done != NULL)
		a->done(a->done_arg);
	free(a);
}

static void handle_closed(uv_handle_t *hd)
{
	closed_one(hd->data);
}

static void host_closed(void *arg)
{
	closed_one(arg);
}

void pedatt_close(pedatt_t *a, void (*done)(void *arg), void *arg)
{
	if (a == NULL || a->closing)
		return;
	a->closing = true;
	a->done = done;
	a->done_arg = arg;
	a->pending = 1; /* released below, so that done runs once */
	usbped_watch_close(a->usbwatch);
	a->usbwatch = NULL;
	if (a->watching) {
		a->pending++;
		uv_close((uv_handle_t *)&a->watch, handle_closed);
	}
	if (a->timer) {
		a->pending++;
		uv_close((uv_handle_t *)&a->retry, handle_closed);
	}
	if (a->h != NULL) {
		a->pending++;
		pedhost_close(a->h, host_closed, a);
		a->h = NULL;
	}
	memset(&a->info, 0, sizeof(a->info));
	memset(&a->client, 0, sizeof(a->client));
	closed_one(a);
}
