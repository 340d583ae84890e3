/* usbped_win.c - the tty and USB backends on Windows, not written yet: a
 * COM port or a WinUSB PED is refused by name at open (PED_E_INVAL), so
 * pedserver -ped COM3 or -ped usb fails its start with a clear reason. The
 * TCP backend (usbped_tcp.c) works on Windows as everywhere. Built instead
 * of usbped_tty.c and usbped_libusb.c (Makefile, WINDOWS). */
#include "usbped/usbped.h"

#include "common/err.h"
#include "common/log.h"

static int refuse(usbped_t *p, const usbped_spec_t *spec, void **state)
{
	(void)p;
	*state = NULL;
	log_error("usbped: %s PEDs are not supported on Windows yet; use tcp:HOST:PORT "
		  "(docs/windows.md)", spec->kind == USBPED_KIND_USB ? "USB" : "serial/tty");
	return PED_E_INVAL;
}

static void never(usbped_t *p, void *state)
{
	(void)p;
	(void)state;
}

const usbped_backend_t usbped_tty_backend = {
	.name = "tty", .open = refuse, .kick = never, .close = never};
const usbped_backend_t usbped_libusb_backend = {
	.name = "usb", .open = refuse, .kick = never, .close = never};

/* No hot-plug watch without a USB backend: pedserver falls back to its
 * slow retry, which the refusing backend above answers. */
int usbped_watch_open(uv_loop_t *loop, const usbped_spec_t *spec, void (*on_arrival)(void *arg),
		      void *arg, usbped_watch_t **out)
{
	(void)loop;
	(void)spec;
	(void)on_arrival;
	(void)arg;
	*out = NULL;
	return PED_E_INVAL;
}

void usbped_watch_close(usbped_watch_t *w)
{
	(void)w;
}
