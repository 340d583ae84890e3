/* port_int.h - between port.c (framing) and its two carriers: port_tcp.c
 * (the PED end of a TCP link: it listens, one host at a time) and
 * port_pty.c (a pseudo-terminal; POSIX only, port_pty_win.c refuses it). */
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
 * port_bytes / port_updown. 0, PED_E_INVAL, PED_E_IO. */
int tport_open(uv_loop_t *loop, const char *spec, bool remote_ok, port_t *owner, tport_t **out);
/* Copies and sends len bytes to the host: 0, PED_E_UNPLUGGED (no host),
 * PED_E_NOSPACE (too much already waiting). */
int tport_write(tport_t *t, const uint8_t *data, size_t len);
/* "tcp:127.0.0.1:40123": the address actually listened on. */
const char *tport_name(const tport_t *t);
/* Drops the host and the listener; done(owner) once every handle is closed. */
void tport_close(tport_t *t, void (*done)(port_t *owner));

typedef struct pty pty_t;

/* Opens a pty (raw mode), points linkpath at its slave (symlink), starts
 * serving. avoid: a slave path the new pty must not reuse (the previous
 * one), or NULL. 0, PED_E_IO, PED_E_TOO_LONG, PED_E_NOMEM, PED_E_INTERNAL;
 * Windows: PED_E_NOT_ON_WINDOWS. */
int pty_open(uv_loop_t *loop, const char *linkpath, const char *avoid, port_t *owner, pty_t **out);
/* Queues len bytes for the host: 0, PED_E_UNPLUGGED, PED_E_NOSPACE. */
int pty_write(pty_t *p, const uint8_t *data, size_t len);
/* The slave's path. */
const char *pty_name(const pty_t *p);
/* Closes the master (the host sees a hang-up); done(owner) once every
 * handle is closed. The symlink is left in place. */
void pty_close(pty_t *p, void (*done)(port_t *owner));

/* From a carrier to its port: bytes from the host, the host came or left. */
void port_bytes(port_t *p, const uint8_t *data, size_t n);
void port_updown(port_t *p, int up);

#endif
