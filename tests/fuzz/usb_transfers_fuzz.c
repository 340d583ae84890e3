/* usb_transfers_fuzz.c - libFuzzer target for the USB transport
 * (usbped/usbped_libusb.c) under the PED host (pedhost), fed hostile
 * sequences of bulk-transfer results by a scripted libusb.
 *
 * The backend's source is compiled into this target and every libusb call
 * it makes is answered here, from the input: which devices are attached
 * (0-2 of the PED's VID:PID, their serials, an interface that is not a
 * PED's, permission denied), then one operation per input byte group:
 *   complete the pending IN transfer with a status (completed, error,
 *     timed out, stall, no device, overflow) and a length that may exceed
 *     the buffer, carrying raw input bytes or a well-formed link frame
 *     (type, id, payload from the input: CRC-valid, so pedhost's decoder
 *     and dispatch are reached);
 *   complete the pending OUT transfer, with a short, whole or oversize
 *     length or an error status;
 *   a hot-plug removal or arrival; a host operation (status, key read,
 *     cancel), or the transport reopened.
 * The transport must never crash, over-read, leak or leave a handle on the
 * loop: after the script, pedhost is closed and the loop must close. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "usbped/pedhost.h"
#include "usbped/usbped_libusb.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- the script ---------------------------------------------------------- */

static const uint8_t *in;
static size_t inlen, inpos;

static unsigned take(unsigned mod)
{
	return inpos < inlen ? in[inpos++] % mod : 0;
}

/* ---- a scripted libusb ----------------------------------------------------- */

struct fdev {
	int present;
	int bad_iface;
	int denied;
	char serial[8];
};

static struct fdev devs[2];
static libusb_device *devptrs[2] = {(libusb_device *)&devs[0], (libusb_device *)&devs[1]};
/* Transfers in flight, of every transport alive (one closing while pedhost
 * reopens another is normal). */
#define PENDING_MAX 8
static struct pend {
	struct libusb_transfer *x;
	int cancel;
} pend[PENDING_MAX];
static libusb_hotplug_callback_fn hp_fn;
static void *hp_user;
static int ctxs, opened;
static struct libusb_endpoint_descriptor eps[2] = {
	{.bLength = 7, .bDescriptorType = 5, .bEndpointAddress = 0x81, .bmAttributes = 2},
	{.bLength = 7, .bDescriptorType = 5, .bEndpointAddress = 0x01, .bmAttributes = 2},
};
static struct libusb_interface_descriptor alt = {
	.bNumEndpoints = 2, .bInterfaceClass = 0xff, .bInterfaceSubClass = 0x50,
	.bInterfaceProtocol = 0x01, .endpoint = eps,
};
static struct libusb_interface itf = {.altsetting = &alt, .num_altsetting = 1};
static struct libusb_config_descriptor cfg = {.bNumInterfaces = 1, .interface = &itf};

int libusb_init(libusb_context **ctx)
{
	*ctx = (libusb_context *)&ctxs;
	ctxs++;
	return 0;
}

void libusb_exit(libusb_context *ctx)
{
	(void)ctx;
	ctxs--;
}

int libusb_has_capability(uint32_t cap)
{
	(void)cap;
	return 1;
}

const char *libusb_strerror(int code)
{
	(void)code;
	return "scripted";
}

ssize_t libusb_get_device_list(libusb_context *ctx, libusb_device ***list)
{
	static libusb_device *l[3];
	ssize_t n = 0;

	(void)ctx;
	for (int i = 0; i < 2; i++)
		if (devs[i].present)
			l[n++] = devptrs[i];
	l[n] = NULL;
	*list = l;
	return n;
}

void libusb_free_device_list(libusb_device **list, int unref)
{
	(void)list;
	(void)unref;
}

int libusb_get_device_descriptor(libusb_device *dev, struct libusb_device_descriptor *d)
{
	(void)dev;
	memset(d, 0, sizeof(*d));
	d->idVendor = USBPED_DEFAULT_VID;
	d->idProduct = USBPED_DEFAULT_PID;
	d->iSerialNumber = 3;
	return 0;
}

uint8_t libusb_get_bus_number(libusb_device *dev)
{
	return dev == devptrs[0] ? 1 : 2;
}

uint8_t libusb_get_device_address(libusb_device *dev)
{
	(void)dev;
	return 1;
}

int libusb_open(libusb_device *dev, libusb_device_handle **h)
{
	struct fdev *d = (struct fdev *)dev;

	if (d->denied)
		return LIBUSB_ERROR_ACCESS;
	*h = (libusb_device_handle *)dev;
	opened++;
	return 0;
}

void libusb_close(libusb_device_handle *h)
{
	(void)h;
	opened--;
}

int libusb_get_string_descriptor_ascii(libusb_device_handle *h, uint8_t idx, unsigned char *s,
				       int len)
{
	struct fdev *d = (struct fdev *)h;
	int n = (int)strlen(d->serial);

	(void)idx;
	if (n >= len)
		return LIBUSB_ERROR_OVERFLOW;
	memcpy(s, d->serial, (size_t)n + 1);
	return n;
}

int libusb_get_active_config_descriptor(libusb_device *dev,
					struct libusb_config_descriptor **c)
{
	alt.bInterfaceClass = ((struct fdev *)dev)->bad_iface ? 0x08 : 0xff;
	*c = &cfg;
	return 0;
}

void libusb_free_config_descriptor(struct libusb_config_descriptor *c)
{
	(void)c;
}

int libusb_set_auto_detach_kernel_driver(libusb_device_handle *h, int on)
{
	(void)h;
	(void)on;
	return 0;
}

int libusb_claim_interface(libusb_device_handle *h, int i)
{
	(void)h;
	(void)i;
	return 0;
}

int libusb_release_interface(libusb_device_handle *h, int i)
{
	(void)h;
	(void)i;
	return 0;
}

int libusb_clear_halt(libusb_device_handle *h, unsigned char ep)
{
	(void)h;
	(void)ep;
	return 0;
}

struct libusb_transfer *libusb_alloc_transfer(int iso)
{
	(void)iso;
	return calloc(1, sizeof(struct libusb_transfer));
}

void libusb_free_transfer(struct libusb_transfer *x)
{
	for (int i = 0; i < PENDING_MAX; i++)
		if (x != NULL && pend[i].x == x)
			abort(); /* freed while in flight */
	free(x);
}

int libusb_submit_transfer(struct libusb_transfer *x)
{
	int slot = -1;

	for (int i = 0; i < PENDING_MAX; i++) {
		if (pend[i].x == x)
			abort(); /* submitted twice */
		/* one transfer per direction per transport */
		if (pend[i].x != NULL && pend[i].x->user_data == x->user_data &&
		    (pend[i].x->endpoint & 0x80) == (x->endpoint & 0x80))
			abort();
		if (pend[i].x == NULL && slot < 0)
			slot = i;
	}
	if (slot < 0)
		abort();
	if (take(16) == 0)
		return LIBUSB_ERROR_IO;
	pend[slot].x = x;
	pend[slot].cancel = 0;
	return 0;
}

int libusb_cancel_transfer(struct libusb_transfer *x)
{
	for (int i = 0; i < PENDING_MAX; i++) {
		if (pend[i].x == x) {
			pend[i].cancel = 1;
			return 0;
		}
	}
	return LIBUSB_ERROR_NOT_FOUND;
}

int libusb_hotplug_register_callback(libusb_context *ctx, int events, int flags, int vid,
				     int pid, int cls, libusb_hotplug_callback_fn cb,
				     void *user, libusb_hotplug_callback_handle *h)
{
	(void)ctx;
	(void)events;
	(void)flags;
	(void)vid;
	(void)pid;
	(void)cls;
	hp_fn = cb;
	hp_user = user;
	*h = 1;
	return 0;
}

void libusb_hotplug_deregister_callback(libusb_context *ctx, libusb_hotplug_callback_handle h)
{
	(void)ctx;
	(void)h;
	hp_fn = NULL;
	hp_user = NULL; /* the backend's state goes away after this */
}

const struct libusb_pollfd **libusb_get_pollfds(libusb_context *ctx)
{
	(void)ctx;
	return calloc(1, sizeof(struct libusb_pollfd *));
}

void libusb_free_pollfds(const struct libusb_pollfd **p)
{
	free((void *)p);
}

void libusb_set_pollfd_notifiers(libusb_context *ctx, libusb_pollfd_added_cb a,
				 libusb_pollfd_removed_cb r, void *user)
{
	(void)ctx;
	(void)a;
	(void)r;
	(void)user;
}

int libusb_pollfds_handle_timeouts(libusb_context *ctx)
{
	(void)ctx;
	return 1;
}

int libusb_get_next_timeout(libusb_context *ctx, struct timeval *tv)
{
	(void)ctx;
	(void)tv;
	return 0;
}

static void complete(int i, enum libusb_transfer_status st, int len)
{
	struct libusb_transfer *x = pend[i].x;

	pend[i].x = NULL;
	x->status = st;
	x->actual_length = len;
	x->callback(x);
}

/* The newest transfer in flight in one direction (in: 0x80), or -1. */
static int pending(int in_dir)
{
	for (int i = PENDING_MAX - 1; i >= 0; i--)
		if (pend[i].x != NULL && !pend[i].cancel && (pend[i].x->endpoint & 0x80) == in_dir)
			return i;
	return -1;
}

/* One scripted event per call (what a real libusb reports after poll). */
static int script_event;

int libusb_handle_events_timeout_completed(libusb_context *ctx, struct timeval *tv,
					   int *completed)
{
	static const enum libusb_transfer_status st[] = {
		LIBUSB_TRANSFER_COMPLETED, LIBUSB_TRANSFER_ERROR,     LIBUSB_TRANSFER_TIMED_OUT,
		LIBUSB_TRANSFER_STALL,	   LIBUSB_TRANSFER_NO_DEVICE, LIBUSB_TRANSFER_OVERFLOW,
	};
	int ev = script_event;

	(void)ctx;
	(void)tv;
	(void)completed;
	script_event = -1;
	for (int i = 0; i < PENDING_MAX; i++)
		if (pend[i].x != NULL && pend[i].cancel)
			complete(i, LIBUSB_TRANSFER_CANCELLED, 0);
	int i = pending(ev == 2 ? 0 : 0x80);
	switch (ev) {
	case 0: /* IN: raw bytes, any status, any length */
	case 1: /* IN: a well-formed frame */
		if (i >= 0) {
			struct libusb_transfer *x = pend[i].x;
			enum libusb_transfer_status s = take(4) ? LIBUSB_TRANSFER_COMPLETED : st[take(6)];
			size_t n = 0, room = (size_t)x->length;
			if (ev == 1) {
				uint8_t pl[64];
				uint8_t type = (uint8_t)take(256);
				uint16_t id = (uint16_t)take(8);
				size_t pn = take(sizeof(pl) + 1);
				for (size_t k = 0; k < pn; k++)
					pl[k] = (uint8_t)take(256);
				link_encode(type, id, pl, pn, x->buffer, room, &n);
			} else {
				n = take(256);
				for (size_t k = 0; k < n && k < room; k++)
					x->buffer[k] = (uint8_t)take(256);
			}
			/* a length beyond the buffer: the transport must not trust it */
			complete(i, s, (int)(take(8) == 0 ? room + 1 + take(64) : n));
		}
		break;
	case 2: /* OUT: short, whole or oversize, or an error */
		if (i >= 0) {
			unsigned k = take(4);
			int len = pend[i].x->length;
			complete(i, k == 3 ? st[take(6)] : LIBUSB_TRANSFER_COMPLETED,
				 k == 0 ? len / 2 : k == 1 ? len + 7 : len);
		}
		break;
	default:
		break;
	}
	return 0;
}

/* ---- the host on top ------------------------------------------------------- */

static void on_up(void *arg, const pedhost_info_t *info)
{
	(void)arg;
	(void)info;
}

static void on_down(void *arg, int err)
{
	(void)arg;
	(void)err;
}

static void on_result(void *arg, uint16_t id, const pedhost_result_t *res)
{
	(void)arg;
	(void)id;
	(void)res;
}

static void on_closed(void *arg)
{
	*(int *)arg = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pedhost_cbs_t cbs = {.on_up = on_up, .on_down = on_down, .on_result = on_result};
	pedhost_opts_t opts = {.spec = "usb", .hello_timeout_ms = 100000};
	pedhost_t *h = NULL;
	uv_loop_t loop;
	int closed = 0;
	uint16_t id;

	log_set_mask(0); /* the backend logs every fault: keep the run quiet */
	in = data;
	inlen = size;
	inpos = 0;
	memset(pend, 0, sizeof(pend));
	hp_fn = NULL;
	script_event = -1;
	for (int i = 0; i < 2; i++) {
		unsigned b = take(256);
		devs[i].present = i == 0 ? (b & 7) != 0 : (b & 1);
		devs[i].bad_iface = (b & 0x30) == 0x30;
		devs[i].denied = (b & 0xc0) == 0xc0;
		memcpy(devs[i].serial, i == 0 ? "S0" : "S1", 3);
	}
	if (take(2))
		opts.spec = "usb:1209:0001:S1";
	if (uv_loop_init(&loop) != 0)
		return 0;
	if (pedhost_open(&loop, &opts, &cbs, NULL, &h) == 0) {
		while (inpos < inlen) {
			unsigned op = take(8);
			struct lusb *u = hp_user;
			if (op <= 2) {
				script_event = (int)op;
				if (u != NULL && !u->finishing)
					lusb_events(u);
			} else if (op == 3 && hp_fn != NULL) {
				devs[0].present = !devs[0].present;
				hp_fn(NULL, devptrs[0],
				      devs[0].present ? LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED
						      : LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT,
				      hp_user);
				if (u != NULL && !u->finishing)
					lusb_events(u);
			} else if (op == 4) {
				pedhost_status(h);
			} else if (op == 5) {
				pedhost_read_keyset(h, LINK_KEY_BLUE, 1000, "fuzz", NULL, &id);
			} else if (op == 6) {
				pedhost_cancel(h, (uint16_t)take(8));
			} else if (op == 7 && !pedhost_is_up(h)) {
				pedhost_reopen(h);
			}
			uv_run(&loop, UV_RUN_NOWAIT);
		}
		pedhost_close(h, on_closed, &closed);
	}
	/* cancellations complete on the next round of events */
	for (int i = 0; i < 100 && h != NULL && !closed; i++) {
		struct lusb *u = hp_user;
		if (u != NULL && !u->finishing)
			lusb_events(u);
		uv_run(&loop, UV_RUN_NOWAIT);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	if ((h != NULL && !closed) || uv_loop_close(&loop) != 0 || ctxs != 0 || opened != 0)
		abort();
	return 0;
}
