/* port.c - the emulator's link end: framing (the receive half both
 * personalities share, the encoder on the way out) over one of two carriers,
 * a pseudo-terminal (port_pty.c; refused on Windows by port_pty_win.c) or a
 * TCP listener (port_tcp.c). */
#include "usbped/emu/port.h"
#include "usbped/emu/port_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/err.h"
#include "common/log.h"

#define PORT_NAME_MAX 128

struct port {
	bool up;
	bool closing;
	port_cb_t cb;
	tport_t *tcp; /* a TCP link, or */
	pty_t *pty;   /* a pty */
	port_rx_t rx;
	char slave[PORT_NAME_MAX];
};

int port_rx_init(port_rx_t *r)
{
	memset(r, 0, sizeof(*r));
	return link_decoder_new(&r->dec);
}

void port_rx_reset(port_rx_t *r)
{
	link_decoder_t *d = NULL;

	if (link_decoder_new(&d) == 0) {
		link_decoder_free(r->dec);
		r->dec = d;
	}
}

void port_rx_feed(port_rx_t *r, const uint8_t *data, size_t n, const port_cb_t *cb,
		  const bool *live)
{
	if (link_decoder_feed(r->dec, data, n) != 0) {
		log_warning("link: input overflow, resetting the decoder");
		port_rx_reset(r);
		return;
	}
	while (*live && link_decoder_next(r->dec, &r->frame) == 0) {
		cb->frame(cb->arg, &r->frame);
		OPENSSL_cleanse(r->frame.payload, r->frame.len);
	}
}

void port_rx_free(port_rx_t *r)
{
	link_decoder_free(r->dec);
	r->dec = NULL;
}

void port_bytes(port_t *p, const uint8_t *data, size_t n)
{
	if (p->up && !p->closing)
		port_rx_feed(&p->rx, data, n, &p->cb, &p->up);
}

void port_updown(port_t *p, int up)
{
	if (p->closing)
		return;
	p->up = up != 0;
	port_rx_reset(&p->rx);
	p->cb.updown(p->cb.arg, up);
}

int port_send(port_t *p, uint8_t type, uint16_t id, const uint8_t *payload, size_t len)
{
	uint8_t frame[LINK_MAX_FRAME];
	size_t flen = 0;
	int r;

	if (p == NULL || !p->up || p->closing)
		return PED_E_UNPLUGGED;
	if ((r = link_encode(type, id, payload, len, frame, sizeof(frame), &flen)) != 0)
		goto out;
	r = p->tcp != NULL ? tport_write(p->tcp, frame, flen) : pty_write(p->pty, frame, flen);
out:
	OPENSSL_cleanse(frame, flen);
	return r;
}

static void carrier_done(port_t *p)
{
	port_rx_free(&p->rx);
	OPENSSL_cleanse(p, sizeof(*p));
	free(p);
}

int port_open(uv_loop_t *loop, const char *linkpath, const char *avoid, bool remote_ok,
	      const port_cb_t *cb, port_t **out)
{
	port_t *p;
	int r = PED_E_NOMEM;

	*out = NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return r;
	p->cb = *cb;
	if ((r = port_rx_init(&p->rx)) != 0)
		goto out;
	if (strncmp(linkpath, "tcp:", 4) == 0) {
		if ((r = tport_open(loop, linkpath, remote_ok, p, &p->tcp)) != 0)
			goto out;
		snprintf(p->slave, sizeof(p->slave), "%s", tport_name(p->tcp));
		log_info("link: listening on %s", p->slave);
	} else {
		if ((r = pty_open(loop, linkpath, avoid, p, &p->pty)) != 0)
			goto out;
		snprintf(p->slave, sizeof(p->slave), "%s", pty_name(p->pty));
	}
	*out = p;
	p = NULL;
out:
	if (p != NULL) {
		port_rx_free(&p->rx);
		free(p);
	}
	return r;
}

const char *port_slave(const port_t *p)
{
	return p->slave;
}

void port_close(port_t *p)
{
	if (p == NULL || p->closing)
		return;
	p->closing = true;
	p->up = false;
	if (p->tcp != NULL)
		tport_close(p->tcp, carrier_done);
	else
		pty_close(p->pty, carrier_done);
}
