/* usbped_libusb.c - PED transport over USB bulk endpoints with libusb.
 *
 * libusb runs inside the libuv loop: every fd of libusb_get_pollfds() gets a
 * uv_poll (kept in step with libusb_set_pollfd_notifiers) whose callback calls
 * libusb_handle_events_timeout_completed() with a zero timeout, so nothing
 * ever blocks; libusb's own timeouts, when it cannot express them as an fd,
 * are driven by a uv_timer from libusb_get_next_timeout(). One bulk IN and
 * at most one bulk OUT transfer are in flight. Hot-plug (when libusb has it):
 * removal of our device takes the link down, arrival of the same VID:PID
 * brings it back. Hot-plug callbacks only set flags; the work happens after
 * libusb_handle_events returns, as libusb asks. */
#include "usbped/usbped.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include <libusb-1.0/libusb.h>
#include <openssl/crypto.h>

#include "common/err.h"
#include "common/log.h"

#define LUSB_BUF 4096
#define LUSB_CLOSE_POLL_MS 10
#define LUSB_UNPOLLED_MS 5
/* An OUT transfer the PED does not take within this ends with USB_TIMEOUT
 * (docs/usb.md: a PED takes a frame within 100 ms). */
#define LUSB_OUT_TIMEOUT_MS 1000
#define LUSB_RESET_HOLDOFF_MS 2000

struct lusb;

struct ufd {
	struct lusb *u;
	int fd;
	int polled; /* 0: libuv cannot watch it (see unpolled) */
	uv_poll_t poll;
	struct ufd *next;
};

struct lusb {
	usbped_t *p;	 /* NULL for a watch (usbped_watch_open) */
	uv_loop_t *loop;
	void (*on_arrival)(void *arg); /* a watch's callback */
	void *arrival_arg;
	libusb_context *ctx;
	libusb_device_handle *dev;
	uint16_t vid, pid;
	char serial[USBPED_SERIAL_MAX + 1]; /* "" = any */
	char node[32];			    /* /dev/bus/usb/BBB/DDD of the PED */
	int iface;
	uint8_t ep_in, ep_out;
	struct libusb_transfer *rx, *tx;
	int rx_busy, tx_busy;
	int hotplug;
	libusb_hotplug_callback_handle hp;
	int ev_arrived, ev_left; /* set by the hot-plug callback */
	int reset_pending;       /* reopen after a transfer fault */
	uint64_t reset_at;       /* uv_now of the last reset */
	int closing, finishing;
	int handles; /* libuv handles not yet closed */
	int unpolled; /* fds epoll refuses (a regular file standing in for
		       * usbfs, as under umockdev): checked every LUSB_UNPOLLED_MS */
	uv_timer_t timer;
	struct ufd *fds;
	uint8_t rxbuf[LUSB_BUF];
	uint8_t txbuf[LUSB_BUF];
};

static void lusb_events(struct lusb *u);
static void rearm_timer(struct lusb *u);
static void lusb_try_finish(struct lusb *u);

/* ---- libuv <-> libusb plumbing ---------------------------------------- */

/* After the last libuv handle closed. */
static void lusb_free(struct lusb *u)
{
	usbped_t *p = u->p;

	libusb_exit(u->ctx);
	free(u);
	if (p != NULL)
		usbped_backend_closed(p);
}

static void ufd_closed(uv_handle_t *h)
{
	struct ufd *f = h->data;
	struct lusb *u = f->u;

	free(f);
	if (--u->handles == 0 && u->finishing)
		lusb_free(u);
}

static void ufd_poll_cb(uv_poll_t *h, int status, int events)
{
	struct ufd *f = h->data;

	(void)status;
	(void)events;
	lusb_events(f->u);
}

static void pollfd_added(int fd, short events, void *user)
{
	struct lusb *u = user;
	struct ufd *f;
	int ev = 0;

	if (u->finishing || (f = calloc(1, sizeof(*f))) == NULL)
		return;
	f->u = u;
	f->fd = fd;
	f->next = u->fds;
	u->fds = f;
	if (uv_poll_init(u->loop, &f->poll, fd) < 0) {
		/* A kernel usbfs node is always pollable; a stand-in that is a
		 * regular file is always ready, so it is simply checked often. */
		u->unpolled++;
		log_info("usbped: fd %d cannot be polled, checking it every %d ms", fd,
			 LUSB_UNPOLLED_MS);
		rearm_timer(u);
		return;
	}
	f->polled = 1;
	f->poll.data = f;
	u->handles++;
	if (events & POLLIN)
		ev |= UV_READABLE;
	if (events & POLLOUT)
		ev |= UV_WRITABLE;
	uv_poll_start(&f->poll, ev, ufd_poll_cb);
}

static void pollfd_removed(int fd, void *user)
{
	struct lusb *u = user;
	struct ufd **pp = &u->fds, *f;

	while ((f = *pp) != NULL) {
		if (f->fd == fd) {
			*pp = f->next;
			if (f->polled) {
				uv_close((uv_handle_t *)&f->poll, ufd_closed);
			} else {
				u->unpolled--;
				free(f);
			}
			return;
		}
		pp = &f->next;
	}
}

static void timer_cb(uv_timer_t *t)
{
	lusb_events(t->data);
}

static void timer_closed(uv_handle_t *h)
{
	struct lusb *u = h->data;

	/* Shares the teardown accounting with the poll handles. */
	if (--u->handles == 0 && u->finishing)
		lusb_free(u);
}

static void rearm_timer(struct lusb *u)
{
	struct timeval tv;
	uint64_t ms;

	if (u->finishing)
		return;
	if (u->closing) {
		uv_timer_start(&u->timer, timer_cb, LUSB_CLOSE_POLL_MS, 0);
		return;
	}
	if (u->ev_arrived || u->ev_left) {
		uv_timer_start(&u->timer, timer_cb, 0, 0);
		return;
	}
	if (u->unpolled > 0) {
		uv_timer_start(&u->timer, timer_cb, LUSB_UNPOLLED_MS, 0);
		return;
	}
	if (libusb_pollfds_handle_timeouts(u->ctx) ||
	    libusb_get_next_timeout(u->ctx, &tv) != 1) {
		uv_timer_stop(&u->timer);
		return;
	}
	ms = (uint64_t)tv.tv_sec * 1000u + ((uint64_t)tv.tv_usec + 999u) / 1000u;
	uv_timer_start(&u->timer, timer_cb, ms, 0);
}

/* ---- device ------------------------------------------------------------ */

static void rx_cb(struct libusb_transfer *x);
static void tx_cb(struct libusb_transfer *x);

/* Finds the PED interface (docs/usb.md): vendor class ff, subclass 50,
 * protocol 01, with a bulk IN and a bulk OUT endpoint. */
static int find_endpoints(libusb_device *d, struct lusb *u)
{
	struct libusb_config_descriptor *cfg = NULL;
	int r = PED_E_NOT_FOUND;

	if (libusb_get_active_config_descriptor(d, &cfg) != 0)
		return PED_E_IO;
	for (int i = 0; i < cfg->bNumInterfaces && r < 0; i++) {
		const struct libusb_interface *itf = &cfg->interface[i];
		if (itf->num_altsetting < 1)
			continue;
		const struct libusb_interface_descriptor *alt = &itf->altsetting[0];
		uint8_t in = 0, out = 0;
		if (alt->bInterfaceClass != USBPED_IF_CLASS ||
		    alt->bInterfaceSubClass != USBPED_IF_SUBCLASS ||
		    alt->bInterfaceProtocol != USBPED_IF_PROTOCOL)
			continue;
		for (int e = 0; e < alt->bNumEndpoints; e++) {
			const struct libusb_endpoint_descriptor *ep = &alt->endpoint[e];
			if ((ep->bmAttributes & LIBUSB_TRANSFER_TYPE_MASK) !=
			    LIBUSB_TRANSFER_TYPE_BULK)
				continue;
			if (ep->bEndpointAddress & LIBUSB_ENDPOINT_IN) {
				if (in == 0)
					in = ep->bEndpointAddress;
			} else if (out == 0) {
				out = ep->bEndpointAddress;
			}
		}
		if (in != 0 && out != 0) {
			u->iface = alt->bInterfaceNumber;
			u->ep_in = in;
			u->ep_out = out;
			r = 0;
		}
	}
	libusb_free_config_descriptor(cfg);
	return r;
}

static void node_name(libusb_device *d, char *out, size_t cap)
{
	snprintf(out, cap, "/dev/bus/usb/%03u/%03u", libusb_get_bus_number(d),
		 libusb_get_device_address(d));
}

/* Opens a device of our VID:PID and reads its serial number string. */
static int open_candidate(struct lusb *u, libusb_device *d, libusb_device_handle **h,
			  char *serial, size_t cap)
{
	struct libusb_device_descriptor dd;
	char node[32];
	int lr;

	serial[0] = '\0';
	node_name(d, node, sizeof(node));
	if ((lr = libusb_open(d, h)) != 0) {
		*h = NULL;
		if (lr == LIBUSB_ERROR_ACCESS) {
			log_error("usbped: permission denied on %s (usb %04x:%04x): let pedserver's "
				  "user open it with a udev rule: SUBSYSTEM==\"usb\", "
				  "ATTRS{idVendor}==\"%04x\", ATTRS{idProduct}==\"%04x\", "
				  "MODE=\"0660\", GROUP=\"<pedserver's group>\" (docs/usb.md)",
				  node, u->vid, u->pid, u->vid, u->pid);
			return PED_E_USB_ACCESS;
		}
		log_error("usbped: cannot open %s (usb %04x:%04x): %s", node, u->vid, u->pid,
			  libusb_strerror(lr));
		return lr == LIBUSB_ERROR_NO_DEVICE ? PED_E_NOT_FOUND : PED_E_IO;
	}
	if (libusb_get_device_descriptor(d, &dd) == 0 && dd.iSerialNumber != 0 &&
	    libusb_get_string_descriptor_ascii(*h, dd.iSerialNumber, (unsigned char *)serial,
					       (int)cap) < 0)
		serial[0] = '\0';
	return 0;
}

/* Finds the PED among the attached devices: the one of our VID:PID (and
 * serial, when the spec names one). Several candidates without a serial
 * in the spec is an error that lists them. Returns it opened. */
static int find_ped(struct lusb *u, libusb_device **list, ssize_t n, libusb_device **found,
		    libusb_device_handle **out)
{
	struct libusb_device_descriptor dd;
	libusb_device_handle *h = NULL;
	char serial[USBPED_SERIAL_MAX + 1], node[32], names[512] = "";
	size_t used = 0;
	int r = PED_E_NOT_FOUND, matches = 0, rr;

	*out = NULL;
	for (ssize_t i = 0; i < n; i++) {
		if (libusb_get_device_descriptor(list[i], &dd) != 0 || dd.idVendor != u->vid ||
		    dd.idProduct != u->pid)
			continue;
		if ((rr = open_candidate(u, list[i], &h, serial, sizeof(serial))) < 0) {
			if (r == PED_E_NOT_FOUND)
				r = rr;
			continue;
		}
		if (u->serial[0] != '\0' && strcmp(serial, u->serial) != 0) {
			libusb_close(h);
			h = NULL;
			continue;
		}
		matches++;
		node_name(list[i], node, sizeof(node));
		rr = snprintf(names + used, sizeof(names) - used, "%s usb:%04x:%04x:%s at %s",
			      matches > 1 ? "," : "", u->vid, u->pid, serial[0] ? serial : "?",
			      node);
		if (rr > 0 && (size_t)rr < sizeof(names) - used)
			used += (size_t)rr;
		if (*out == NULL) {
			*out = h;
			*found = list[i];
			snprintf(u->node, sizeof(u->node), "%s", node);
		} else {
			libusb_close(h);
		}
		h = NULL;
	}
	if (matches > 1 && u->serial[0] == '\0') {
		log_error("usbped: %d PEDs match usb %04x:%04x:%s; choose one with -ped "
			  "usb:VID:PID:SERIAL", matches, u->vid, u->pid, names);
		libusb_close(*out);
		*out = NULL;
		return PED_E_PED_AMBIGUOUS;
	}
	if (matches == 0) {
		if (r == PED_E_NOT_FOUND)
			log_error("usbped: no PED found (usb %04x:%04x%s%s): is it plugged in? "
				  "a PED with another identity is named with -ped usb:VID:PID",
				  u->vid, u->pid, u->serial[0] ? " serial " : "", u->serial);
		return r;
	}
	return 0;
}

/* Finds, opens and claims the PED; starts the IN transfer. */
static int device_attach(struct lusb *u)
{
	libusb_device **list = NULL;
	libusb_device *found = NULL;
	libusb_device_handle *h = NULL;
	ssize_t n;
	int r, claimed = 0, lr;

	n = libusb_get_device_list(u->ctx, &list);
	if ((r = find_ped(u, list, n, &found, &h)) < 0)
		goto out;
	if ((r = find_endpoints(found, u)) < 0) {
		log_error("usbped: %s (usb %04x:%04x) has no PED interface (class %02x/%02x/%02x "
			  "with bulk IN and OUT, docs/usb.md)", u->node, u->vid, u->pid,
			  USBPED_IF_CLASS, USBPED_IF_SUBCLASS, USBPED_IF_PROTOCOL);
		goto out;
	}
	libusb_set_auto_detach_kernel_driver(h, 1);
	if ((lr = libusb_claim_interface(h, u->iface)) != 0) {
		r = lr == LIBUSB_ERROR_BUSY ? PED_E_PED_IN_USE : PED_E_IO;
		if (lr == LIBUSB_ERROR_BUSY)
			log_error("usbped: the PED %s (usb %04x:%04x) is held by another program: its "
				  "interface %d is claimed (PED_IN_USE)", u->node, u->vid, u->pid,
				  u->iface);
		else
			log_error("usbped: cannot claim interface %d of %s (usb %04x:%04x): %s",
				  u->iface, u->node, u->vid, u->pid, libusb_strerror(lr));
		goto out;
	}
	claimed = 1;
	/* A halt left over from before (docs/usb.md "Reset") */
	libusb_clear_halt(h, u->ep_in);
	libusb_clear_halt(h, u->ep_out);
	libusb_fill_bulk_transfer(u->rx, h, u->ep_in, u->rxbuf, sizeof(u->rxbuf), rx_cb, u, 0);
	if ((lr = libusb_submit_transfer(u->rx)) != 0) {
		r = PED_E_IO;
		log_error("usbped: %s: %s", u->node, libusb_strerror(lr));
		goto out;
	}
	u->rx_busy = 1;
	u->dev = h;
	h = NULL;
	log_info("usbped: PED at %s (usb %04x:%04x), interface %d, endpoints %02x/%02x", u->node,
		 u->vid, u->pid, u->iface, u->ep_in, u->ep_out);
	r = 0;
out:
	if (h != NULL) {
		if (claimed)
			libusb_release_interface(h, u->iface);
		libusb_close(h);
	}
	if (list != NULL)
		libusb_free_device_list(list, 1);
	return r;
}

/* Closes the device handle once no transfer is in flight. */
static void device_detach_if_idle(struct lusb *u)
{
	if (u->dev == NULL || u->rx_busy || u->tx_busy)
		return;
	libusb_release_interface(u->dev, u->iface);
	libusb_close(u->dev);
	u->dev = NULL;
	OPENSSL_cleanse(u->txbuf, sizeof(u->txbuf));
}

/* A transfer status as a named error. */
static int status_err(enum libusb_transfer_status st)
{
	switch (st) {
	case LIBUSB_TRANSFER_NO_DEVICE:
		return PED_E_UNPLUGGED;
	case LIBUSB_TRANSFER_STALL:
		return PED_E_USB_STALL;
	case LIBUSB_TRANSFER_OVERFLOW:
		return PED_E_USB_OVERFLOW;
	case LIBUSB_TRANSFER_TIMED_OUT:
		return PED_E_USB_TIMEOUT;
	default:
		return PED_E_IO;
	}
}

/* The link goes down with err. A PED that misbehaved (anything but its
 * removal) gets one link reset: the handle is closed and the device opened
 * and claimed again from the loop (lusb_events), unless it already failed
 * within LUSB_RESET_HOLDOFF_MS of the previous reset. */
static void device_gone(struct lusb *u, int err)
{
	if (u->rx_busy)
		libusb_cancel_transfer(u->rx);
	if (u->tx_busy)
		libusb_cancel_transfer(u->tx);
	if (!usbped_is_up(u->p))
		return;
	if (err != PED_E_UNPLUGGED) {
		uint64_t now = uv_now(u->loop);
		log_warning("usbped: %s (usb %04x:%04x): %s (%s)%s", u->node, u->vid, u->pid,
			    ped_errname(err), ped_strerror(err),
			    u->reset_at != 0 && now - u->reset_at < LUSB_RESET_HOLDOFF_MS
				    ? "; it failed again right after a reset: unplug and "
				      "replug it"
				    : "; resetting the link");
		if (u->reset_at == 0 || now - u->reset_at >= LUSB_RESET_HOLDOFF_MS)
			u->reset_pending = 1;
	}
	usbped_set_down(u->p, err);
}

static void rx_cb(struct libusb_transfer *x)
{
	struct lusb *u = x->user_data;

	u->rx_busy = 0;
	switch (x->status) {
	case LIBUSB_TRANSFER_COMPLETED:
	case LIBUSB_TRANSFER_TIMED_OUT:
		if (x->status == LIBUSB_TRANSFER_COMPLETED) {
			/* libusb caps actual_length at the buffer; checked anyway */
			if (x->actual_length < 0 || x->actual_length > x->length) {
				OPENSSL_cleanse(u->rxbuf, sizeof(u->rxbuf));
				if (!u->closing)
					device_gone(u, PED_E_USB_OVERFLOW);
				break;
			}
			usbped_deliver(u->p, u->rxbuf, (size_t)x->actual_length);
			OPENSSL_cleanse(u->rxbuf, sizeof(u->rxbuf));
		}
		if (!u->closing && usbped_is_up(u->p) && libusb_submit_transfer(x) == 0)
			u->rx_busy = 1;
		else if (!u->closing)
			device_gone(u, PED_E_IO);
		break;
	case LIBUSB_TRANSFER_CANCELLED:
		break;
	default:
		OPENSSL_cleanse(u->rxbuf, sizeof(u->rxbuf));
		if (!u->closing)
			device_gone(u, status_err(x->status));
		break;
	}
}

static void lusb_kick(usbped_t *p, void *state);

static void tx_cb(struct libusb_transfer *x)
{
	struct lusb *u = x->user_data;

	u->tx_busy = 0;
	OPENSSL_cleanse(u->txbuf, sizeof(u->txbuf));
	if (x->status == LIBUSB_TRANSFER_COMPLETED &&
	    (x->actual_length < 0 || x->actual_length > x->length)) {
		if (!u->closing)
			device_gone(u, PED_E_USB_OVERFLOW);
	} else if (x->status == LIBUSB_TRANSFER_COMPLETED) {
		usbped_consumed(u->p, (size_t)x->actual_length);
		if (!u->closing)
			lusb_kick(u->p, u);
	} else if (x->status != LIBUSB_TRANSFER_CANCELLED && !u->closing) {
		device_gone(u, status_err(x->status));
	}
}

static int hotplug_cb(libusb_context *ctx, libusb_device *d, libusb_hotplug_event ev,
		      void *user)
{
	struct lusb *u = user;

	(void)ctx;
	(void)d;
	if (ev == LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED)
		u->ev_arrived = 1;
	else if (ev == LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT)
		u->ev_left = 1;
	return 0; /* stay registered */
}

static void lusb_events(struct lusb *u)
{
	struct timeval zero = {0, 0};

	if (u->finishing)
		return;
	libusb_handle_events_timeout_completed(u->ctx, &zero, NULL);
	/* Only here, outside libusb's event handling, may the device handle be
	 * closed: libusb_close from a transfer callback deadlocks. */
	if (u->closing) {
		lusb_try_finish(u);
		return;
	}
	if (u->p == NULL) { /* a watch: tell, and let the callback close us */
		if (u->ev_arrived) {
			u->ev_arrived = 0;
			u->on_arrival(u->arrival_arg);
		}
		if (!u->closing)
			rearm_timer(u);
		return;
	}
	if (!usbped_is_up(u->p))
		device_detach_if_idle(u);
	if (u->ev_left) {
		u->ev_left = 0;
		/* The transfers fail with NO_DEVICE as well; whichever comes first. */
		if (usbped_is_up(u->p) && u->dev != NULL) {
			log_info("usbped: %s (usb %04x:%04x) removed", u->node, u->vid, u->pid);
			device_gone(u, PED_E_UNPLUGGED);
		}
		u->reset_pending = 0;
	}
	if (u->reset_pending && u->dev == NULL && !usbped_is_up(u->p)) {
		u->reset_pending = 0;
		u->reset_at = uv_now(u->loop);
		if (device_attach(u) == 0)
			usbped_set_up(u->p);
	}
	if (u->ev_arrived) {
		u->ev_arrived = 0;
		device_detach_if_idle(u);
		if (!usbped_is_up(u->p) && u->dev == NULL && device_attach(u) == 0)
			usbped_set_up(u->p);
	}
	if (!u->closing)
		rearm_timer(u);
}

/* ---- backend ------------------------------------------------------------ */

static void lusb_kick(usbped_t *p, void *state)
{
	struct lusb *u = state;
	const uint8_t *data;
	size_t n;

	if (u->tx_busy || u->dev == NULL || u->closing)
		return;
	n = usbped_peek(p, &data);
	if (n == 0)
		return;
	if (n > sizeof(u->txbuf))
		n = sizeof(u->txbuf);
	memcpy(u->txbuf, data, n);
	libusb_fill_bulk_transfer(u->tx, u->dev, u->ep_out, u->txbuf, (int)n, tx_cb, u,
				  LUSB_OUT_TIMEOUT_MS);
	if (libusb_submit_transfer(u->tx) == 0)
		u->tx_busy = 1;
	else
		device_gone(u, PED_E_IO);
}

/* Puts libusb's fds and timeouts on the loop and registers for hot-plug
 * events of our VID:PID (with enumerate: those already attached count as
 * arrivals, for a watch). */
static void wire(struct lusb *u, int enumerate)
{
	const struct libusb_pollfd **pfds;

	uv_timer_init(u->loop, &u->timer);
	u->timer.data = u;
	u->handles = 1;
	pfds = libusb_get_pollfds(u->ctx);
	for (size_t i = 0; pfds != NULL && pfds[i] != NULL; i++)
		pollfd_added(pfds[i]->fd, pfds[i]->events, u);
	libusb_free_pollfds(pfds);
	libusb_set_pollfd_notifiers(u->ctx, pollfd_added, pollfd_removed, u);
	if (libusb_has_capability(LIBUSB_CAP_HAS_HOTPLUG) &&
	    libusb_hotplug_register_callback(
		    u->ctx, LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED | LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT,
		    enumerate ? LIBUSB_HOTPLUG_ENUMERATE : 0, u->vid, u->pid,
		    LIBUSB_HOTPLUG_MATCH_ANY, hotplug_cb, u, &u->hp) == 0)
		u->hotplug = 1;
	rearm_timer(u);
}

static int lusb_open(usbped_t *p, const usbped_spec_t *spec, void **state)
{
	struct lusb *u = NULL;
	int r = PED_E_NOMEM, lr;

	*state = NULL;
	if ((u = calloc(1, sizeof(*u))) == NULL)
		goto out;
	u->p = p;
	u->loop = usbped_loop(p);
	u->vid = spec->vid;
	u->pid = spec->pid;
	memcpy(u->serial, spec->serial, sizeof(u->serial));
	if ((lr = libusb_init(&u->ctx)) != 0) {
		u->ctx = NULL;
		r = PED_E_NOT_FOUND;
		log_error("usbped: no PED found (usb %04x:%04x): libusb: %s", u->vid, u->pid,
			  libusb_strerror(lr));
		goto out;
	}
	u->rx = libusb_alloc_transfer(0);
	u->tx = libusb_alloc_transfer(0);
	if (u->rx == NULL || u->tx == NULL)
		goto out;
	if ((r = device_attach(u)) < 0)
		goto out;
	/* Device claimed and IN transfer running: wire libusb into the loop. */
	wire(u, 0);
	*state = u;
	u = NULL;
	r = 0;
out:
	if (u != NULL) {
		if (u->rx != NULL)
			libusb_free_transfer(u->rx);
		if (u->tx != NULL)
			libusb_free_transfer(u->tx);
		if (u->ctx != NULL)
			libusb_exit(u->ctx);
		free(u);
	}
	return r;
}

/* Second half of closing: once no transfer is in flight, release the
 * device and every libuv handle; libusb_exit runs after the last close. */
static void lusb_try_finish(struct lusb *u)
{
	struct ufd *f;

	if (u->finishing || u->rx_busy || u->tx_busy) {
		if (!u->finishing)
			rearm_timer(u);
		return;
	}
	device_detach_if_idle(u);
	if (u->hotplug)
		libusb_hotplug_deregister_callback(u->ctx, u->hp);
	u->hotplug = 0;
	libusb_set_pollfd_notifiers(u->ctx, NULL, NULL, NULL);
	libusb_free_transfer(u->rx);
	libusb_free_transfer(u->tx);
	u->rx = u->tx = NULL;
	u->finishing = 1;
	while ((f = u->fds) != NULL) {
		u->fds = f->next;
		if (f->polled) {
			uv_close((uv_handle_t *)&f->poll, ufd_closed);
		} else {
			u->unpolled--;
			free(f);
		}
	}
	uv_close((uv_handle_t *)&u->timer, timer_closed);
}

static void lusb_close(usbped_t *p, void *state)
{
	struct lusb *u = state;

	(void)p;
	u->closing = 1;
	if (u->rx_busy)
		libusb_cancel_transfer(u->rx);
	if (u->tx_busy)
		libusb_cancel_transfer(u->tx);
	/* May run inside a transfer callback: finish from the loop. */
	uv_timer_start(&u->timer, timer_cb, 0, 0);
}

const usbped_backend_t usbped_libusb_backend = {
	.name = "libusb",
	.open = lusb_open,
	.kick = lusb_kick,
	.close = lusb_close,
};

/* ---- watch --------------------------------------------------------------- */

struct usbped_watch {
	struct lusb *u;
};

int usbped_watch_open(uv_loop_t *loop, const usbped_spec_t *spec, void (*on_arrival)(void *arg),
		      void *arg, usbped_watch_t **out)
{
	usbped_watch_t *w = NULL;
	struct lusb *u = NULL;
	int r = PED_E_NOMEM;

	*out = NULL;
	if (spec->kind != USBPED_KIND_USB || !libusb_has_capability(LIBUSB_CAP_HAS_HOTPLUG))
		return PED_E_INVAL;
	if ((w = calloc(1, sizeof(*w))) == NULL || (u = calloc(1, sizeof(*u))) == NULL)
		goto fail;
	u->loop = loop;
	u->vid = spec->vid;
	u->pid = spec->pid;
	u->on_arrival = on_arrival;
	u->arrival_arg = arg;
	r = PED_E_IO;
	if (libusb_init(&u->ctx) != 0)
		goto fail;
	wire(u, 1);
	if (!u->hotplug) {
		lusb_close(NULL, u);
		free(w);
		return PED_E_INVAL;
	}
	w->u = u;
	*out = w;
	return 0;
fail:
	free(u);
	free(w);
	return r;
}

void usbped_watch_close(usbped_watch_t *w)
{
	if (w == NULL)
		return;
	lusb_close(NULL, w->u);
	free(w);
}
