/* tlslink.h - the transport of a PED-initiated link (docs/PROTOCOL.md
 * Part 5): TLS 1.3 on a libuv TCP stream through memory BIOs, mutual
 * authentication by pinned certificate fingerprints, no tickets.
 *
 * Once the link is up, its plaintext is offered to the owner as one end of
 * a local stream socket pair (tlslink_cbs.up gets the fd): the session's
 * owner (pedserver's server.c, pedclient's remote.c) runs the Part 3 session
 * on it exactly as on a plain TCP connection, so the session code is the
 * same for both directions. Closing that fd closes the link (close_notify),
 * and the link going down closes the other end, which the owner reads as
 * EOF.
 *
 * The TLS server side (pedclient) sends one byte TLSLINK_READY after its
 * handshake: TLS 1.3 lets the client finish before the server has checked
 * the client's certificate, so pedserver counts the link up only when that
 * byte arrives, within the same handshake deadline. */
#ifndef PED_TLSLINK_H
#define PED_TLSLINK_H

#include <stdbool.h>

#include <uv.h>

#include "session/tlscert.h"
#include "session/tlspins.h"

#define TLSLINK_READY 0x01
#define TLSLINK_WHY_MAX 256

typedef struct tlslink tlslink_t;
typedef struct tlslink_ctx tlslink_ctx_t;

struct tlslink_cbs {
	/* The link is up: fd is the plaintext end for the owner (it owns it
	 * from now on). name: the registration the peer's certificate matched. */
	void (*up)(void *arg, int fd, const char *name, const char *peer_fp);
	/* The link is over (also when it never came up): code 0 for a clean
	 * close, else why. peer_fp: what the peer offered ("" if nothing).
	 * The link is freed after this call. */
	void (*down)(void *arg, int code, const char *why, const char *peer_fp);
};

/* This host's key and certificate from dir (tlscert.h files) for the TLS
 * server (appliance, pedclient) or client (pedserver) role. PED_E_NO_CERT if
 * they are missing; err says what failed. */
int tlslink_ctx_new(const char *dir, bool server, tlslink_ctx_t **out, char *err, size_t errlen);
void tlslink_ctx_free(tlslink_ctx_t *c);
/* This host's certificate's fingerprint. */
const char *tlslink_ctx_fp(const tlslink_ctx_t *c);

/* A link with its own TCP handle (tlslink_tcp): the caller accepts or
 * connects on it, then calls tlslink_start. pins: the registered peers
 * (copied). handshake_ms bounds the TLS handshake (and the READY byte). */
int tlslink_new(uv_loop_t *loop, tlslink_ctx_t *ctx, const struct tlspins *pins,
		unsigned handshake_ms, const struct tlslink_cbs *cbs, void *arg, tlslink_t **out);
uv_tcp_t *tlslink_tcp(tlslink_t *l);
/* peer: "address:port" for logs. */
void tlslink_start(tlslink_t *l, const char *peer);
/* Closes a plaintext end the owner will not use (portably, through libuv). */
void tlslink_drop_fd(uv_loop_t *loop, int fd);
/* Time from tlslink_start to up (the TLS handshake, and READY), in ms. */
double tlslink_handshake_ms(const tlslink_t *l);
/* Closes now (the TCP connect failed, or the owner gives up); down follows
 * with code. */
void tlslink_close(tlslink_t *l, int code, const char *why);

#endif
