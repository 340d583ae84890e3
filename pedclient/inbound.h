/* inbound.h - PED-initiated links on the HSM host (docs/PROTOCOL.md Part 5):
 * pedclient listens (config [PedInitiated], off by default, port 9697) for
 * registered pedservers, authenticates them by pinned certificate over TLS
 * 1.3 (session/tlslink.h) and keeps each link that is up until `ped
 * connect` takes it for a Part 3 session (remote.h, link_fd). */
#ifndef PEDCLIENT_INBOUND_H
#define PEDCLIENT_INBOUND_H

#include <stdbool.h>

#include <uv.h>

#include "session/tlspins.h"

#define INBOUND_STORE "pedservers.list"
#define INBOUND_MAX TLSPINS_MAX

typedef struct inbound inbound_t;

/* Listens on ip ("" = every address) and port with the key in statedir.
 * -1 with err on failure (no certificate: PED_E_NO_CERT). */
int inbound_listen(uv_loop_t *loop, const char *statedir, const char *ip, int port,
		   unsigned handshake_ms, inbound_t **out, char *err, size_t errlen);
/* Takes a waiting link: the one of registration name, or any (name NULL).
 * 0 with *fd (the caller owns it) and its name, or PED_E_NO_LINK. */
int inbound_take(inbound_t *in, const char *name, int *fd, char *got, size_t gotlen);
/* Lines for show: the listener and each link. */
void inbound_describe(const inbound_t *in, void (*fn)(void *arg, const char *line), void *arg);
void inbound_close(inbound_t *in, void (*done)(void *arg), void *arg);

#endif
