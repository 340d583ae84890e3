/* port.h - the PED end of the link: a pseudo-terminal whose slave (peer)
 * path is published as a symlink, or a TCP listener, carrying link frames
 * (usbped/link.h). */
#ifndef PED_EMU_PORT_H
#define PED_EMU_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "usbped/link.h"

typedef struct port port_t;

typedef struct port_cb {
	void *arg;
	void (*frame)(void *arg, const link_frame_t *f);
	/* The host opened (up = 1) or closed (up = 0) the slave side. */
	void (*updown)(void *arg, int up);
} port_cb_t;

/* The receive half both personalities (pty, USB) share: the host's bytes
 * through a link decoder, each whole frame to cb->frame, then wiped. */
typedef struct port_rx {
	link_decoder_t *dec;
	link_frame_t frame;
} port_rx_t;

int port_rx_init(port_rx_t *r);
/* Drops a partial frame (the host closed or reopened the link). */
void port_rx_reset(port_rx_t *r);
/* Feeds n bytes; frames go to cb while *live is true (a callback may end
 * the link). An overflowing input resets the decoder. */
void port_rx_feed(port_rx_t *r, const uint8_t *data, size_t n, const port_cb_t *cb,
		  const bool *live);
void port_rx_free(port_rx_t *r);

/* Opens a pty (raw mode), points linkpath at its slave, starts serving.
 * avoid: a slave path the new pty must not reuse (the previous one), or NULL.
 * linkpath "tcp:HOST:PORT" listens there instead (port_tcp.c); a HOST that is
 * not loopback needs remote_ok (the link is not encrypted). A pty on
 * Windows: PED_E_NOT_ON_WINDOWS. */
int port_open(uv_loop_t *loop, const char *linkpath, const char *avoid, bool remote_ok,
	      const port_cb_t *cb, port_t **out);
/* A pty link exists on this system (POSIX: yes; Windows: no, port_pty_win.c
 * refuses it: the TCP link is the one link there). */
bool port_pty_supported(void);
/* The slave path of the pty, or "tcp:HOST:PORT". */
const char *port_slave(const port_t *p);
/* Encodes and queues one frame; dropped when no host has the slave open. */
int port_send(port_t *p, uint8_t type, uint16_t id, const uint8_t *payload, size_t len);
/* Closes the master (the host sees a hang-up) and frees the port once the
 * loop has closed its handles. The symlink is left in place. NULL: no-op. */
void port_close(port_t *p);

#endif
