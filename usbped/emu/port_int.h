/* port_int.h - between port.c (framing, the pty) and port_tcp.c (the PED
 * end of a TCP link: it listens, one host at a time). */
#ifndef PED_EMU_PORT_INT_H
#define PED_EMU_PORT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "usbped/emu/port.h"

typedef struct tport tport_t;

/* Listens on spec ("tcp:HOST:PORT"); a host that is
 * not loopback needs remote_ok. Bytes and up/down go to the owner through
 * port_tcp_bytes / port_tcp_updown. 0, PED_E_INVAL, PED_E_IO. */
int tport_open(uv_loop_t *loop, const char *spec, bool remote_ok, port_t *owner, tport_t **out);
/* Copies and sends len bytes to the host: 0, PED_E_UNPLUGGED (no host),
 * PED_E_NOSPACE (too much already waiting). */
int tport_write(tport_t *t, const uint8_t *data, size_t len);
/* "tcp:127.0.0.1:40123": the address actually listened on. */
const char *tport_name(const tport_t *t);
/* Drops the host and the listener; done(owner) once every handle is closed. */
void tport_close(tport_t *t, void (*done)(port_t *owner));

void port_tcp_bytes(port_t *p, const uint8_t *data, size_t n);
void port_tcp_updown(port_t *p, int up);

#endif
