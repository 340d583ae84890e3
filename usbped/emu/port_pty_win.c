/* port_pty_win.c - Windows has no pseudo-terminals: a pty link is refused
 * (pedemu refuses -link PATH by name before it opens anything, see
 * port_pty_supported; pty_open answers the same if called). The TCP link
 * (port_tcp.c) is the emulator's link on Windows. Built instead of
 * port_pty.c (Makefile, WINDOWS). */
#include "usbped/emu/port_int.h"

#include "common/err.h"
#include "common/log.h"

bool port_pty_supported(void)
{
	return false;
}

int pty_open(uv_loop_t *loop, const char *linkpath, const char *avoid, port_t *owner, pty_t **out)
{
	(void)loop;
	(void)avoid;
	(void)owner;
	*out = NULL;
	log_error("link %s: no ptys on Windows; use tcp:HOST:PORT", linkpath);
	return PED_E_NOT_ON_WINDOWS;
}

/* Never reached: no pty is ever opened. */
int pty_write(pty_t *p, const uint8_t *data, size_t len)
{
	(void)p;
	(void)data;
	(void)len;
	return PED_E_UNPLUGGED;
}

const char *pty_name(const pty_t *p)
{
	(void)p;
	return "";
}

void pty_close(pty_t *p, void (*done)(port_t *owner))
{
	(void)p;
	(void)done;
}
