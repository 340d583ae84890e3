/* usbdev.c - the emulator's USB personality (usbdev.h, docs/usb.md).
 *
 * Two threads meet here. umockdev answers the host's usbdevfs ioctls on a
 * worker thread of its testbed (handle_ioctl below); the PED runs on the
 * libuv loop. They share the URB lists and the two byte queues under one
 * mutex; the worker wakes the loop with a uv_async when bytes from the host
 * arrive or the interface is claimed or released. The loop never waits for
 * the worker: a frame for the host is appended to the IN queue and put into
 * whatever IN URBs the host has submitted, which the host then reaps.
 *
 * Testbed sharing: umockdev_testbed_new() always makes a fresh temporary
 * directory. To let several emulators (and the host) share one directory,
 * that fresh directory is replaced by a symlink to the shared one, so every
 * path the testbed builds lands there; before the testbed object is freed
 * the symlink becomes an empty directory again, so freeing it removes only
 * that. */
#include "usbped/emu/usbdev.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sys/ioctl.h>

#include <linux/usbdevice_fs.h>
#include <openssl/crypto.h>
#include <umockdev.h>

#include "common/err.h"
#include "common/log.h"

#define EP_OUT 0x01
#define EP_IN 0x81
#define BULK_MPS 512  /* high speed */
#define CTRL_SETUP 8
#define QUEUE_MAX (8 * LINK_MAX_FRAME)
#define BUS_MAX 127
#define USBDEV_PRELOAD "libumockdev-preload.so.0"
#define USB_CLASS_VENDOR 0xff
#define PED_SUBCLASS 0x50 /* 'P' */
#define PED_PROTOCOL 0x01 /* link protocol, docs/PROTOCOL.md Part 2 */

struct urb {
	struct urb *next;
	UMockdevIoctlClient *client;
	UMockdevIoctlData *data; /* struct usbdevfs_urb */
	UMockdevIoctlData *buf;  /* its buffer */
};

struct usbdev {
	uv_loop_t *loop;
	uv_async_t wake;
	bool closing;
	port_cb_t cb;
	port_rx_t frames; /* the host's bytes, decoded on the loop */
	bool up; /* as last told to cb.updown */

	UMockdevTestbed *tb;
	UMockdevIoctlBase *handler;
	char *own_root;
	char bed[PATH_MAX - 64];
	char buslock[PATH_MAX];
	uint16_t vid, pid;
	char serial[USBDEV_SERIAL_MAX + 1];
	unsigned bus, devnum;
	char node[64];    /* /dev/bus/usb/BBB/DDD, "" when unplugged */
	char syspath[64]; /* /sys/devices/usbB */

	/* Shared with the umockdev worker thread. */
	pthread_mutex_t mu;
	unsigned gen;		    /* device generation: +1 per arrival */
	bool present;
	UMockdevIoctlClient *owner; /* the client that claimed the interface */
	struct urb *in_wait;	    /* IN URBs waiting for bytes */
	struct urb *held;	    /* OUT URBs a mute PED never completes */
	struct urb *done;	    /* completed, not yet reaped */
	enum usbdev_fault fault;
	bool halted;
	bool dead; /* usbdev_close ran: a late ioctl gets ENODEV, nothing else */
	size_t txlen, rxlen;
	uint8_t tx[QUEUE_MAX]; /* PED -> host */
	uint8_t rx[QUEUE_MAX]; /* host -> PED */
};

/* ------------------------------------------------------------ descriptors */

static const char *const strings[] = {NULL, "Remote PED project", "pedemu USB PED"};

/* Device, configuration, interface and two endpoint descriptors (USB 2.0
 * chapter 9), as the sysfs "descriptors" attribute holds them. */
static size_t descriptors(const usbdev_t *u, uint8_t *d)
{
	const uint8_t dev[18] = {18, 1, 0x00, 0x02, 0, 0, 0, 64, (uint8_t)u->vid,
				 (uint8_t)(u->vid >> 8), (uint8_t)u->pid, (uint8_t)(u->pid >> 8),
				 0x00, 0x01, 1, 2, 3, 1};
	const uint8_t cfg[32] = {
		9, 2, 32, 0, 1, 1, 0, 0x80, 50, /* config: 1 interface, 100 mA */
		9, 4, 0, 0, 2, USB_CLASS_VENDOR, PED_SUBCLASS, PED_PROTOCOL, 0,
		7, 5, EP_OUT, 2, BULK_MPS & 0xff, BULK_MPS >> 8, 0,
		7, 5, EP_IN, 2, BULK_MPS & 0xff, BULK_MPS >> 8, 0,
	};
	memcpy(d, dev, sizeof(dev));
	memcpy(d + sizeof(dev), cfg, sizeof(cfg));
	return sizeof(dev) + sizeof(cfg);
}

/* String descriptor idx (0: the language list) in UTF-16LE; 0 if none. */
static size_t string_desc(const usbdev_t *u, unsigned idx, uint8_t *out, size_t cap)
{
	const char *s = idx == 3 ? u->serial : idx < 3 ? strings[idx] : NULL;
	size_t n = 2, i;

	if (idx == 0) {
		const uint8_t langs[4] = {4, 3, 0x09, 0x04};
		n = cap < 4 ? cap : 4;
		memcpy(out, langs, n);
		return n;
	}
	if (s == NULL)
		return 0;
	for (i = 0; s[i] != '\0' && n + 2 <= cap && n + 2 <= 254; i++) {
		out[n++] = (uint8_t)s[i];
		out[n++] = 0;
	}
	if (cap >= 2) {
		out[0] = (uint8_t)n;
		out[1] = 3;
	}
	return n;
}

/* ----------------------------------------------------- URB bookkeeping */

static struct usbdevfs_urb *urb_of(struct urb *x)
{
	return (struct usbdevfs_urb *)x->data->data;
}

static void urb_free(struct urb *x)
{
	if (x == NULL)
		return;
	if (x->buf != NULL) {
		OPENSSL_cleanse(x->buf->data, (size_t)x->buf->data_len);
		umockdev_ioctl_data_unref(x->buf);
	}
	umockdev_ioctl_data_unref(x->data);
	g_object_unref(x->client);
	free(x);
}

static void push(struct urb **q, struct urb *x)
{
	x->next = NULL;
	while (*q != NULL)
		q = &(*q)->next;
	*q = x;
}

static void finish(usbdev_t *u, struct urb *x, int status, int actual)
{
	urb_of(x)->status = status;
	urb_of(x)->actual_length = actual;
	push(&u->done, x);
}

/* Moves every URB of list *q (of client c, or all when c is NULL) to done
 * with status; or frees them when status is 0 (the client is gone). */
static void fail_all(usbdev_t *u, struct urb **q, UMockdevIoctlClient *c, int status)
{
	struct urb *x;

	while ((x = *q) != NULL) {
		if (c != NULL && x->client != c) {
			q = &x->next;
			continue;
		}
		*q = x->next;
		if (status != 0)
			finish(u, x, status, 0);
		else
			urb_free(x);
	}
}

/* Puts queued PED bytes into waiting IN URBs. Each URB completes with what
 * is there (a short transfer ends it, as a short or zero-length packet
 * would on the bus). Called with mu held. */
static void fill_in(usbdev_t *u)
{
	struct urb *x;

	while (u->in_wait != NULL && u->fault != USBDEV_FAULT_MUTE &&
	       (u->txlen > 0 || u->halted || u->fault == USBDEV_FAULT_BABBLE)) {
		x = u->in_wait;
		u->in_wait = x->next;
		size_t cap = (size_t)urb_of(x)->buffer_length, n = u->txlen < cap ? u->txlen : cap;
		if (u->halted) {
			finish(u, x, -EPIPE, 0);
			continue;
		}
		if (u->fault == USBDEV_FAULT_BABBLE) {
			/* more than the host asked for: the controller reports babble */
			u->fault = USBDEV_FAULT_NONE;
			memset(x->buf->data, 0xA5, cap);
			finish(u, x, -EOVERFLOW, (int)cap);
			continue;
		}
		memcpy(x->buf->data, u->tx, n);
		memmove(u->tx, u->tx + n, u->txlen - n);
		OPENSSL_cleanse(u->tx + u->txlen - n, n);
		u->txlen -= n;
		finish(u, x, 0, (int)n);
	}
}

static bool client_current(usbdev_t *u, UMockdevIoctlClient *c)
{
	return u->present &&
	       GPOINTER_TO_UINT(g_object_get_data(G_OBJECT(c), "pedemu-gen")) == u->gen;
}

/* ------------------------------------------------ the ioctls (worker thread) */

static int submit(usbdev_t *u, UMockdevIoctlClient *c, UMockdevIoctlData *arg)
{
	UMockdevIoctlData *d, *b = NULL;
	struct usbdevfs_urb *urb;
	struct urb *x;
	GError *err = NULL;

	d = umockdev_ioctl_data_resolve(arg, 0, sizeof(struct usbdevfs_urb), &err);
	if (d == NULL) {
		g_clear_error(&err);
		return EFAULT;
	}
	urb = (struct usbdevfs_urb *)d->data;
	if (urb->buffer_length < 0 || urb->buffer_length > 16 * 1024 * 1024)
		goto inval;
	if (urb->buffer_length > 0) {
		b = umockdev_ioctl_data_resolve(d, G_STRUCT_OFFSET(struct usbdevfs_urb, buffer),
						(gsize)urb->buffer_length, &err);
		if (b == NULL) {
			g_clear_error(&err);
			goto inval;
		}
	}
	if (!client_current(u, c)) {
		if (b != NULL)
			umockdev_ioctl_data_unref(b);
		umockdev_ioctl_data_unref(d);
		return ENODEV;
	}
	if ((x = calloc(1, sizeof(*x))) == NULL) {
		if (b != NULL)
			umockdev_ioctl_data_unref(b);
		umockdev_ioctl_data_unref(d);
		return ENOMEM;
	}
	x->client = g_object_ref(c);
	x->data = d;
	x->buf = b;
	urb->status = 0;
	urb->actual_length = 0;
	if (urb->type == USBDEVFS_URB_TYPE_CONTROL && b != NULL && b->data_len >= CTRL_SETUP) {
		const uint8_t *s = b->data;
		unsigned len = s[6] | (unsigned)s[7] << 8, n = 0;
		uint8_t desc[256];
		if (len > (unsigned)b->data_len - CTRL_SETUP)
			len = (unsigned)b->data_len - CTRL_SETUP;
		/* GET_DESCRIPTOR: a string, or the device descriptor (18 bytes) */
		if (s[0] == 0x80 && s[1] == 6 && s[3] == 3) {
			n = (unsigned)string_desc(u, s[2], desc, sizeof(desc));
		} else if (s[0] == 0x80 && s[1] == 6 && s[3] == 1) {
			descriptors(u, desc);
			n = 18;
		}
		if (n == 0) {
			finish(u, x, -EPIPE, 0); /* anything else: the PED stalls EP0 */
			return 0;
		}
		n = n < len ? n : len;
		memcpy(b->data + CTRL_SETUP, desc, n);
		finish(u, x, 0, (int)n);
		return 0;
	}
	if (urb->type != USBDEVFS_URB_TYPE_BULK)
		goto inval_x;
	if (urb->endpoint == EP_OUT) {
		size_t n = (size_t)urb->buffer_length;
		if (u->fault == USBDEV_FAULT_MUTE) {
			push(&u->held, x);
			return 0;
		}
		if (n > sizeof(u->rx) - u->rxlen) {
			finish(u, x, -EPIPE, 0); /* the host ignored the link's queue limit */
			return 0;
		}
		if (n > 0)
			memcpy(u->rx + u->rxlen, b->data, n);
		u->rxlen += n;
		finish(u, x, 0, (int)n);
		uv_async_send(&u->wake);
		return 0;
	}
	if (urb->endpoint == EP_IN) {
		push(&u->in_wait, x);
		fill_in(u);
		return 0;
	}
inval_x:
	urb_free(x);
	return EINVAL;
inval:
	umockdev_ioctl_data_unref(d);
	return EINVAL;
}

static int reap(usbdev_t *u, UMockdevIoctlClient *c, UMockdevIoctlData *arg)
{
	struct urb **q = &u->done, *x;
	UMockdevIoctlData *p;
	GError *err = NULL;

	while ((x = *q) != NULL && x->client != c)
		q = &x->next;
	if (x == NULL)
		return client_current(u, c) ? EAGAIN : ENODEV;
	if ((p = umockdev_ioctl_data_resolve(arg, 0, sizeof(void *), &err)) == NULL) {
		g_clear_error(&err);
		return EFAULT;
	}
	*q = x->next;
	umockdev_ioctl_data_set_ptr(p, 0, x->data);
	umockdev_ioctl_data_unref(p);
	/* The reply carries the URB and its buffer back to the host (umockdev
	 * holds them until then): not wiped here. */
	if (x->buf != NULL)
		umockdev_ioctl_data_unref(x->buf);
	x->buf = NULL;
	urb_free(x);
	return 0;
}

static int discard(usbdev_t *u, UMockdevIoctlClient *c, UMockdevIoctlData *arg)
{
	struct urb **lists[2] = {&u->in_wait, &u->held};
	gulong addr = *(gulong *)arg->data;

	for (int i = 0; i < 2; i++) {
		for (struct urb **q = lists[i], *x; (x = *q) != NULL; q = &x->next) {
			if (x->client == c && x->data->client_addr == addr) {
				*q = x->next;
				finish(u, x, -ENOENT, 0);
				return 0;
			}
		}
	}
	return EINVAL;
}

static gboolean handle_ioctl(UMockdevIoctlBase *h, UMockdevIoctlClient *c, gpointer arg)
{
	usbdev_t *u = arg;
	UMockdevIoctlData *a = umockdev_ioctl_client_get_arg(c);
	gulong req = umockdev_ioctl_client_get_request(c);
	int e = 0, ret = 0;
	bool wake = false;

	(void)h;
	pthread_mutex_lock(&u->mu);
	if (u->dead) {
		pthread_mutex_unlock(&u->mu);
		umockdev_ioctl_client_complete(c, -1, ENODEV);
		return TRUE;
	}
	switch (req) {
	case USBDEVFS_SUBMITURB:
		e = submit(u, c, a);
		break;
	case USBDEVFS_REAPURB:
	case USBDEVFS_REAPURBNDELAY:
		e = reap(u, c, a);
		break;
	case USBDEVFS_DISCARDURB:
		e = discard(u, c, a);
		break;
	case USBDEVFS_GET_CAPABILITIES: {
		GError *err = NULL;
		UMockdevIoctlData *d = umockdev_ioctl_data_resolve(a, 0, sizeof(guint32), &err);
		if (d == NULL) {
			g_clear_error(&err);
			e = EFAULT;
			break;
		}
		*(guint32 *)d->data = USBDEVFS_CAP_BULK_SCATTER_GATHER |
				      USBDEVFS_CAP_BULK_CONTINUATION |
				      USBDEVFS_CAP_NO_PACKET_SIZE_LIM |
				      USBDEVFS_CAP_REAP_AFTER_DISCONNECT | USBDEVFS_CAP_ZERO_PACKET;
		umockdev_ioctl_data_unref(d);
		break;
	}
	case USBDEVFS_CLAIMINTERFACE:
	case USBDEVFS_DISCONNECT_CLAIM: /* libusb with auto-detach */
		if (!client_current(u, c))
			e = ENODEV;
		else if (u->owner != NULL && u->owner != c)
			e = EBUSY;
		else if (u->owner == NULL) {
			u->owner = c;
			wake = true;
		}
		break;
	case USBDEVFS_RELEASEINTERFACE:
		if (u->owner == c) {
			u->owner = NULL;
			wake = true;
		}
		break;
	case USBDEVFS_CLEAR_HALT:
		if (!client_current(u, c))
			e = ENODEV;
		u->halted = false;
		break;
	case USBDEVFS_GETDRIVER:
		e = ENODATA; /* no kernel driver is bound to a PED */
		break;
	case USBDEVFS_RESET:
	case USBDEVFS_RESETEP:
	case USBDEVFS_SETINTERFACE:
	case USBDEVFS_SETCONFIGURATION:
		e = client_current(u, c) ? 0 : ENODEV;
		break;
	default:
		pthread_mutex_unlock(&u->mu);
		return FALSE; /* umockdev answers ENOTTY */
	}
	if (wake)
		uv_async_send(&u->wake);
	pthread_mutex_unlock(&u->mu);
	if (e != 0)
		ret = -1;
	umockdev_ioctl_client_complete(c, ret, e);
	return TRUE;
}

/* The host closed the device node (or exited): its URBs and its claim go. */
static void on_client_notify(GObject *obj, GParamSpec *ps, gpointer arg)
{
	UMockdevIoctlClient *c = (UMockdevIoctlClient *)obj;
	usbdev_t *u = arg;
	bool wake = false;

	(void)ps;
	if (umockdev_ioctl_client_get_connected(c))
		return;
	pthread_mutex_lock(&u->mu);
	if (u->dead) {
		pthread_mutex_unlock(&u->mu);
		return;
	}
	fail_all(u, &u->in_wait, c, 0);
	fail_all(u, &u->held, c, 0);
	fail_all(u, &u->done, c, 0);
	if (u->owner == c) {
		u->owner = NULL;
		wake = true;
	}
	if (wake)
		uv_async_send(&u->wake);
	pthread_mutex_unlock(&u->mu);
}

static void on_client_connected(UMockdevIoctlBase *h, UMockdevIoctlClient *c, gpointer arg)
{
	usbdev_t *u = arg;

	(void)h;
	pthread_mutex_lock(&u->mu);
	g_object_set_data(G_OBJECT(c), "pedemu-gen", GUINT_TO_POINTER(u->gen));
	pthread_mutex_unlock(&u->mu);
	g_signal_connect(c, "notify::connected", G_CALLBACK(on_client_notify), u);
}

/* ------------------------------------------------------------ loop side */


static void on_wake(uv_async_t *a)
{
	usbdev_t *u = a->data;
	static uint8_t in[QUEUE_MAX];
	size_t n;
	bool claimed;

	if (u->closing)
		return;
	pthread_mutex_lock(&u->mu);
	n = u->rxlen;
	memcpy(in, u->rx, n);
	OPENSSL_cleanse(u->rx, n);
	u->rxlen = 0;
	claimed = u->owner != NULL;
	if (!claimed)
		u->txlen = 0;
	pthread_mutex_unlock(&u->mu);

	if (claimed && !u->up) {
		u->up = true;
		port_rx_reset(&u->frames);
		log_info("usb: host claimed the interface of %s", u->node);
		u->cb.updown(u->cb.arg, 1);
	}
	if (n > 0 && u->up)
		port_rx_feed(&u->frames, in, n, &u->cb, &u->up);
	OPENSSL_cleanse(in, n);
	if (!claimed && u->up) {
		u->up = false;
		log_info("usb: host released %s", u->node[0] ? u->node : "the PED");
		u->cb.updown(u->cb.arg, 0);
	}
}

int usbdev_send(usbdev_t *u, uint8_t type, uint16_t id, const uint8_t *payload, size_t len)
{
	uint8_t frame[LINK_MAX_FRAME];
	size_t flen = 0;
	int r;

	if (u == NULL || !u->up || u->closing)
		return PED_E_UNPLUGGED;
	if ((r = link_encode(type, id, payload, len, frame, sizeof(frame), &flen)) != 0)
		goto out;
	pthread_mutex_lock(&u->mu);
	r = PED_E_NOSPACE;
	if (flen <= sizeof(u->tx) - u->txlen) {
		memcpy(u->tx + u->txlen, frame, flen);
		u->txlen += flen;
		fill_in(u);
		r = 0;
	}
	pthread_mutex_unlock(&u->mu);
	if (r != 0)
		log_warning("usb: output queue full, frame dropped");
out:
	OPENSSL_cleanse(frame, sizeof(frame));
	return r;
}

/* --------------------------------------------------------- the testbed */

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

static int mkdirs(const char *dir)
{
	char tmp[PATH_MAX];
	size_t n = strlen(dir);

	if (n >= sizeof(tmp))
		return PED_E_TOO_LONG;
	memcpy(tmp, dir, n + 1);
	for (char *s = tmp + 1; *s != '\0'; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
			return PED_E_IO;
		*s = '/';
	}
	return mkdir(tmp, 0755) == 0 || errno == EEXIST ? 0 : PED_E_IO;
}

static int bed_prepare(usbdev_t *u)
{
	static const char *const sub[] = {"sys/bus", "sys/class", "dev", "ioctl"};
	char p[PATH_MAX];
	int fd, n;

	for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		n = snprintf(p, sizeof(p), "%s/%s", u->bed, sub[i]);
		if (n < 0 || (size_t)n >= sizeof(p) || mkdirs(p) != 0) {
			log_error("usb: cannot prepare the testbed %s: %s", u->bed, strerror(errno));
			return PED_E_IO;
		}
	}
	/* One bus per emulated PED: the first free number, claimed atomically. */
	for (u->bus = 1; u->bus <= BUS_MAX; u->bus++) {
		snprintf(u->buslock, sizeof(u->buslock), "%s/.pedemu-bus%03u", u->bed, u->bus);
		if ((fd = open(u->buslock, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644)) >= 0) {
			close(fd);
			return 0;
		}
	}
	u->buslock[0] = '\0';
	log_error("usb: no free bus number in %s", u->bed);
	return PED_E_NOSPACE;
}

/* Adds the device with the next device number and announces it. */
static int device_add(usbdev_t *u)
{
	uint8_t d[64];
	char hex[2 * sizeof(d) + 1], *s = NULL;
	size_t n = descriptors(u, d);
	GError *err = NULL;
	int r = PED_E_IO;

	for (size_t i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	u->devnum = u->devnum % 127 + 1;
	snprintf(u->node, sizeof(u->node), "/dev/bus/usb/%03u/%03u", u->bus, u->devnum);
	snprintf(u->syspath, sizeof(u->syspath), "/sys/devices/usb%u", u->bus);
	if (!umockdev_testbed_attach_ioctl(u->tb, u->node, u->handler, &err))
		goto out;
	s = g_strdup_printf("P: /devices/usb%u\nN: bus/usb/%03u/%03u\n"
			    "E: SUBSYSTEM=usb\nE: DEVNAME=%s\nE: DEVTYPE=usb_device\n"
			    "E: BUSNUM=%03u\nE: DEVNUM=%03u\nE: ID_VENDOR_ID=%04x\n"
			    "E: ID_MODEL_ID=%04x\nE: ID_SERIAL_SHORT=%s\n"
			    "A: busnum=%u\\n\nA: devnum=%u\\n\nA: speed=480\\n\n"
			    "A: bConfigurationValue=1\\n\nA: idVendor=%04x\\n\n"
			    "A: idProduct=%04x\\n\nA: serial=%s\\n\nH: descriptors=%s\n",
			    u->bus, u->bus, u->devnum, u->node, u->bus, u->devnum, u->vid, u->pid,
			    u->serial, u->bus, u->devnum, u->vid, u->pid, u->serial, hex);
	pthread_mutex_lock(&u->mu);
	u->gen++;
	u->present = true;
	u->halted = false;
	pthread_mutex_unlock(&u->mu);
	if (!umockdev_testbed_add_from_string(u->tb, s, &err))
		goto out;
	umockdev_testbed_uevent(u->tb, u->syspath, "add");
	log_info("usb: %04x:%04x serial %s at %s", u->vid, u->pid, u->serial, u->node);
	r = 0;
out:
	if (err != NULL) {
		log_error("usb: umockdev: %s", err->message);
		g_error_free(err);
	}
	g_free(s);
	return r;
}

/* Removes the device: pending transfers end with ENODEV, as the kernel ends
 * them when a device is unplugged. */
static void device_remove(usbdev_t *u)
{
	GError *err = NULL;

	pthread_mutex_lock(&u->mu);
	u->present = false;
	u->owner = NULL;
	fail_all(u, &u->in_wait, NULL, -ENODEV);
	fail_all(u, &u->held, NULL, -ENODEV);
	OPENSSL_cleanse(u->tx, u->txlen);
	u->txlen = 0;
	pthread_mutex_unlock(&u->mu);
	umockdev_testbed_uevent(u->tb, u->syspath, "remove");
	umockdev_testbed_remove_device(u->tb, u->syspath);
	/* the node goes with the device, as udev removes it */
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s%s", u->bed, u->node) < (int)sizeof(path))
		unlink(path);
	if (!umockdev_testbed_detach_ioctl(u->tb, u->node, &err)) {
		log_warning("usb: umockdev: %s", err->message);
		g_error_free(err);
	}
	log_info("usb: %s removed", u->node);
	u->node[0] = '\0';
	if (u->up) {
		u->up = false;
		u->cb.updown(u->cb.arg, 0);
	}
}

int usbdev_unplug(usbdev_t *u)
{
	if (u->node[0] == '\0')
		return PED_E_UNPLUGGED;
	device_remove(u);
	return 0;
}

int usbdev_plug(usbdev_t *u)
{
	if (u->node[0] != '\0')
		return PED_E_EXISTS;
	return device_add(u);
}

int usbdev_set_fault(usbdev_t *u, enum usbdev_fault f)
{
	pthread_mutex_lock(&u->mu);
	u->fault = f;
	if (f == USBDEV_FAULT_STALL) {
		u->fault = USBDEV_FAULT_NONE;
		u->halted = true;
		fill_in(u);
	} else if (f == USBDEV_FAULT_BABBLE) {
		fill_in(u);
	} else if (f == USBDEV_FAULT_NONE) {
		/* a mute PED that comes back completes what it held */
		for (struct urb *x; (x = u->held) != NULL;) {
			u->held = x->next;
			finish(u, x, -EPROTO, 0);
		}
		fill_in(u);
	}
	pthread_mutex_unlock(&u->mu);
	return 0;
}

bool usbdev_supported(void)
{
	return true;
}

int usbdev_fault_from_name(const char *name)
{
	static const char *const names[] = {"none", "stall", "babble", "mute"};

	for (int i = 0; i < 4; i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	return -1;
}

const char *usbdev_node(const usbdev_t *u)
{
	return u->node;
}

int usbdev_enter_mock(const char *beddir, char **argv)
{
	const char *pre = getenv("LD_PRELOAD"), *asan = getenv("ASAN_OPTIONS");
	char *v = NULL, *a = NULL;

	if (getenv("PEDEMU_UMOCKDEV") != NULL)
		return 0; /* the re-executed process: never loop */
	if (beddir[0] != '/' || mkdirs(beddir) != 0) {
		log_error("usb: cannot create the testbed %s: %s", beddir, strerror(errno));
		return PED_E_IO;
	}
	/* the preload library must come after a sanitizer runtime */
	v = g_strdup_printf("%s%s" USBDEV_PRELOAD, pre != NULL ? pre : "", pre != NULL ? ":" : "");
	a = g_strdup_printf("%s%sverify_asan_link_order=0", asan != NULL ? asan : "",
			    asan != NULL ? ":" : "");
	if (setenv("LD_PRELOAD", v, 1) != 0 || setenv("ASAN_OPTIONS", a, 1) != 0 ||
	    setenv("UMOCKDEV_DIR", beddir, 1) != 0 || setenv("PEDEMU_UMOCKDEV", "1", 1) != 0)
		goto out;
	execv("/proc/self/exe", argv);
	log_error("usb: cannot re-run under umockdev: %s", strerror(errno));
out:
	g_free(v);
	g_free(a);
	return PED_E_IO;
}

int usbdev_open(uv_loop_t *loop, const char *beddir, uint16_t vid, uint16_t pid,
		const char *serial, const port_cb_t *cb, usbdev_t **out)
{
	usbdev_t *u = NULL;
	int r = PED_E_NOMEM;

	*out = NULL;
	if (strlen(serial) > USBDEV_SERIAL_MAX || strlen(beddir) >= sizeof(u->bed) ||
	    beddir[0] != '/')
		return PED_E_INVAL;
	if ((u = calloc(1, sizeof(*u))) == NULL)
		return PED_E_NOMEM;
	pthread_mutex_init(&u->mu, NULL);
	u->loop = loop;
	u->cb = *cb;
	u->vid = vid;
	u->pid = pid;
	snprintf(u->serial, sizeof(u->serial), "%s", serial);
	snprintf(u->bed, sizeof(u->bed), "%s", beddir);
	if ((r = port_rx_init(&u->frames)) != 0 || (r = bed_prepare(u)) != 0)
		goto fail;
	r = PED_E_IO;
	u->tb = umockdev_testbed_new();
	u->own_root = umockdev_testbed_get_root_dir(u->tb);
	if (nftw(u->own_root, rm_cb, 16, FTW_DEPTH | FTW_PHYS) != 0 ||
	    symlink(u->bed, u->own_root) != 0) {
		log_error("usb: cannot join the testbed %s: %s", u->bed, strerror(errno));
		goto fail;
	}
	/* The preload library maps paths back by this prefix: the real one. */
	if (setenv("UMOCKDEV_DIR", u->bed, 1) != 0)
		goto fail;
	u->handler = umockdev_ioctl_base_new();
	g_signal_connect(u->handler, "handle-ioctl", G_CALLBACK(handle_ioctl), u);
	g_signal_connect(u->handler, "client-connected", G_CALLBACK(on_client_connected), u);
	if (uv_async_init(loop, &u->wake, on_wake) != 0)
		goto fail;
	u->wake.data = u;
	if ((r = device_add(u)) != 0) {
		usbdev_close(u);
		return r;
	}
	*out = u;
	return 0;
fail:
	if (u->own_root != NULL && unlink(u->own_root) == 0)
		mkdir(u->own_root, 0700);
	if (u->tb != NULL)
		g_object_unref(u->tb);
	g_free(u->own_root);
	if (u->buslock[0])
		unlink(u->buslock);
	port_rx_free(&u->frames);
	pthread_mutex_destroy(&u->mu);
	free(u);
	return r;
}

static void on_closed(uv_handle_t *h)
{
	usbdev_t *u = h->data;

	port_rx_free(&u->frames);
	pthread_mutex_destroy(&u->mu);
	OPENSSL_cleanse(u, sizeof(*u));
	free(u);
}

void usbdev_close(usbdev_t *u)
{
	if (u == NULL || u->closing)
		return;
	u->closing = true;
	if (u->node[0] != '\0')
		device_remove(u);
	/* From here the worker touches nothing of ours: a late ioctl (a host
	 * that still holds the node) is answered ENODEV. */
	pthread_mutex_lock(&u->mu);
	u->dead = true;
	pthread_mutex_unlock(&u->mu);
	g_signal_handlers_disconnect_by_data(u->handler, u);
	if (unlink(u->own_root) == 0)
		mkdir(u->own_root, 0700);
	g_object_unref(u->tb);
	g_object_unref(u->handler);
	pthread_mutex_lock(&u->mu);
	fail_all(u, &u->in_wait, NULL, 0);
	fail_all(u, &u->held, NULL, 0);
	fail_all(u, &u->done, NULL, 0);
	OPENSSL_cleanse(u->rx, sizeof(u->rx));
	OPENSSL_cleanse(u->tx, sizeof(u->tx));
	pthread_mutex_unlock(&u->mu);
	g_free(u->own_root);
	unlink(u->buslock);
	uv_close((uv_handle_t *)&u->wake, on_closed);
}
