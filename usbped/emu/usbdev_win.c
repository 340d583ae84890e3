/* usbdev_win.c - the USB personality needs umockdev (Linux): on Windows a
 * usb link is refused by name (pedemu checks usbdev_supported before it
 * opens anything; usbdev_open answers the same if called). Built instead of
 * usbdev.c (Makefile, WINDOWS). */
#include "usbped/emu/usbdev.h"

#include "common/err.h"
#include "common/log.h"

bool usbdev_supported(void)
{
	return false;
}

int usbdev_enter_mock(const char *beddir, char **argv)
{
	(void)beddir;
	(void)argv;
	return PED_E_NOT_ON_WINDOWS;
}

int usbdev_open(uv_loop_t *loop, const char *beddir, uint16_t vid, uint16_t pid,
		const char *serial, const port_cb_t *cb, usbdev_t **out)
{
	(void)loop;
	(void)beddir;
	(void)vid;
	(void)pid;
	(void)serial;
	(void)cb;
	*out = NULL;
	log_error("link usb: no USB personality on Windows; use tcp:HOST:PORT");
	return PED_E_NOT_ON_WINDOWS;
}

/* The rest is never reached: no device is ever opened. */
int usbdev_send(usbdev_t *u, uint8_t type, uint16_t id, const uint8_t *payload, size_t len)
{
	(void)u;
	(void)type;
	(void)id;
	(void)payload;
	(void)len;
	return PED_E_UNPLUGGED;
}

int usbdev_unplug(usbdev_t *u)
{
	(void)u;
	return PED_E_NOT_ON_WINDOWS;
}

int usbdev_plug(usbdev_t *u)
{
	(void)u;
	return PED_E_NOT_ON_WINDOWS;
}

int usbdev_set_fault(usbdev_t *u, enum usbdev_fault f)
{
	(void)u;
	(void)f;
	return PED_E_NOT_ON_WINDOWS;
}

int usbdev_fault_from_name(const char *name)
{
	(void)name;
	return -1;
}

const char *usbdev_node(const usbdev_t *u)
{
	(void)u;
	return "";
}

void usbdev_close(usbdev_t *u)
{
	(void)u;
}
