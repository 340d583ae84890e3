/* usbped.h - the PED transport: a byte stream to a PIN Entry Device, behind
 * one opaque handle, on a libuv loop.
 *
 * Spec syntax (pedserver -ped, pedlink -ped):
 *   /dev/ttyUSB0, /run/ped/link, ...   a tty, pty or serial line (usbped_tty.c)
 *   usb                                libusb, the default PED VID:PID
 *   usb:VVVV:PPPP                      libusb, hex vendor and product id
 *   usb:VVVV:PPPP:SERIAL               the one with this serial number string
 *   tcp:HOST:PORT, tcp:[V6]:PORT       a TCP connection to a PED that listens
 *                                      (pedemu -link tcp:..., a serial-over-IP
 *                                      box); HOST is a numeric address
 *                                      (usbped_tcp.c, docs/transports.md)
 * A spec that starts with "usb" or "tcp:" but is not one of those forms is
 * rejected (PED_E_INVAL); anything else is a path.
 *
 * Bytes written are copied into a bounded queue and flushed when the device
 * can take them; with a write delay (-pedwritelay, 0..10000 us) they go out
 * in chunks of USBPED_CHUNK bytes with a uv_timer pause between chunks.
 * Received bytes are handed to on_data as they arrive (no framing here: see
 * link.h). When the device goes away (tty hang-up, EIO, POLLHUP, USB device
 * removal) on_down fires once with PED_E_UNPLUGGED; a USB backend with
 * hot-plug then calls on_up when the same VID:PID comes back.
 *
 * Closing is asynchronous: usbped_close() starts it and on_closed runs once
 * every libuv handle of the transport is closed; after that the loop holds
 * nothing of ours. Callbacks never run after usbped_close() was called.
 * Buffers that held link bytes (which carry shares) are wiped. */
#ifndef PED_USBPED_H
#define PED_USBPED_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

/* The default USB identity of a PED (docs/usb.md, "Identity"): 1209 is the
 * pid.codes vendor id for open hardware, 0001 its test product id. A PED
 * built to docs/usb.md with its own pair is named with -ped usb:VVVV:PPPP.
 * This is the one place the default lives (the udev rule is generated from
 * it). */
#define USBPED_DEFAULT_VID 0x1209u
#define USBPED_DEFAULT_PID 0x0001u
#define USBPED_SERIAL_MAX 64
/* The PED interface (docs/usb.md): vendor-specific class, 'P', link v1. */
#define USBPED_IF_CLASS 0xffu
#define USBPED_IF_SUBCLASS 0x50u
#define USBPED_IF_PROTOCOL 0x01u

#define USBPED_WRITE_DELAY_MAX_US 10000u
#define USBPED_QUEUE_MAX 65536u /* bytes waiting to be written */
#define USBPED_CHUNK 64u        /* bytes per throttled chunk (a full-speed packet) */

typedef struct usbped usbped_t;

enum usbped_kind { USBPED_KIND_TTY = 1, USBPED_KIND_USB = 2, USBPED_KIND_TCP = 3 };

typedef struct usbped_spec {
	int kind;
	char path[PATH_MAX]; /* tty; tcp: the numeric host, without brackets */
	uint16_t vid, pid;   /* usb */
	char serial[USBPED_SERIAL_MAX + 1]; /* usb: "" = any */
	uint16_t port;       /* tcp, 1..65535 */
} usbped_spec_t;

/* Parses a spec (syntax above): 0, or PED_E_INVAL / PED_E_TOO_LONG. */
int usbped_parse_spec(const char *spec, usbped_spec_t *out);
/* The address of a tcp spec: 0, or PED_E_INVAL (not a numeric IPv4/IPv6
 * address). *loopback is set when it is 127.0.0.0/8 or ::1. */
int usbped_tcp_addr(const usbped_spec_t *spec, struct sockaddr_storage *sa, int *loopback);

typedef struct usbped_cbs {
	/* Bytes from the PED (valid during the call only; wiped afterwards). */
	void (*on_data)(void *arg, const uint8_t *data, size_t len);
	/* The link went down: PED_E_UNPLUGGED, or PED_E_IO for another failure. */
	void (*on_down)(void *arg, int err);
	/* Optional: the device came back (USB hot-plug only). */
	void (*on_up)(void *arg);
} usbped_cbs_t;

/* Opens the PED named by spec. Synchronous failures: PED_E_INVAL (bad spec,
 * not a terminal), PED_E_RANGE (write delay), PED_E_NOT_FOUND (no such path,
 * no USB PED found), PED_E_IO. On success the link is up. */
int usbped_open(uv_loop_t *loop, const char *spec, unsigned write_delay_us,
		const usbped_cbs_t *cbs, void *arg, usbped_t **out);
/* Queues len bytes: 0, PED_E_UNPLUGGED when the link is down, PED_E_NOSPACE
 * when the queue cannot take them all (nothing is queued then). */
int usbped_write(usbped_t *p, const void *data, size_t len);
int usbped_is_up(const usbped_t *p);
/* Bytes queued and not yet written. */
size_t usbped_pending(const usbped_t *p);
/* "tty /path", "usb 1234:5678" or "tcp 127.0.0.1:4000" (for logs). */
const char *usbped_describe(const usbped_t *p);
/* Starts closing; on_closed(arg) (may be NULL) runs from a libuv close
 * callback when everything is released. usbped_close(NULL, ...) is a no-op
 * (on_closed is not called). */
void usbped_close(usbped_t *p, void (*on_closed)(void *arg), void *arg);

/* USB only: calls on_arrival (from the loop) when a device of spec's
 * VID:PID is attached, or already is, through libusb hot-plug events (no
 * polling). It may fire again for later arrivals until closed; closing from
 * the callback is allowed. PED_E_INVAL when libusb has no hot-plug here. */
typedef struct usbped_watch usbped_watch_t;
int usbped_watch_open(uv_loop_t *loop, const usbped_spec_t *spec, void (*on_arrival)(void *arg),
		      void *arg, usbped_watch_t **out);
void usbped_watch_close(usbped_watch_t *w);

/* ---- Backend seam ------------------------------------------------------
 * usbped.c owns the handle, the write queue and the throttle; a backend
 * (usbped_tty.c, usbped_libusb.c, or a test's scripted device) moves bytes. */
typedef struct usbped_backend {
	const char *name;
	/* Opens the device; *state is the backend's own data. */
	int (*open)(usbped_t *p, const usbped_spec_t *spec, void **state);
	/* Bytes are waiting (usbped_peek): write what the device takes now,
	 * the rest when it becomes writable. */
	void (*kick)(usbped_t *p, void *state);
	/* Releases everything, then calls usbped_backend_closed(p) exactly once
	 * (typically from the last libuv close callback). */
	void (*close)(usbped_t *p, void *state);
} usbped_backend_t;

extern const usbped_backend_t usbped_tty_backend;
extern const usbped_backend_t usbped_libusb_backend;
extern const usbped_backend_t usbped_tcp_backend;

/* Opens with an explicit backend (tests); spec is passed through as parsed. */
int usbped_open_backend(uv_loop_t *loop, const usbped_backend_t *be, const usbped_spec_t *spec,
			unsigned write_delay_us, const usbped_cbs_t *cbs, void *arg,
			usbped_t **out);

uv_loop_t *usbped_loop(const usbped_t *p);
/* The next contiguous bytes the backend may write now (0: nothing, or the
 * throttle is pausing); usbped_consumed() once n of them are written. */
size_t usbped_peek(usbped_t *p, const uint8_t **data);
void usbped_consumed(usbped_t *p, size_t n);
/* Backend events. */
void usbped_deliver(usbped_t *p, const uint8_t *data, size_t len);
void usbped_set_down(usbped_t *p, int err);
void usbped_set_up(usbped_t *p);
void usbped_backend_closed(usbped_t *p);

#endif
