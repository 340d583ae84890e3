/* flows.h - the pedhsm commands as pedclient runs them (docs/pedclient.md,
 * "The HSM socket"): each request from hsm.sock is checked, then run against
 * the slot's HSM (slots.h) and, for the PED-bound ones, a PED: the slot's
 * open remote session (remote.h) if there is one, else the Local PED
 * (lped.h), else CKR_PED_UNPLUGGED "no PED: use ped connect".
 *
 * Every change to the HSM uses its two-phase API: the HSM stages the new
 * secret and hands out the shares, the PED writes them, and the change is
 * committed only after the PED's RESULT confirmed every write; any failure
 * aborts, leaving the old state. One PED-bound command per slot at a time
 * (PED_BUSY for a second). */
#ifndef PEDCLIENT_FLOWS_H
#define PEDCLIENT_FLOWS_H

#include <uv.h>

#include "pedclient/config.h"
#include "pedclient/hsmsock.h"
#include "pedclient/ids.h"
#include "pedclient/lped.h"
#include "pedclient/slots.h"

typedef struct flows flows_t;

struct flows_env {
	uv_loop_t *loop;
	struct slots *slots;
	lped_t *lped;                  /* NULL: no Local PED configured */
	const char *statedir;
	const char *host;              /* our host name */
	const struct pedclient_cfg *cfg;
	const struct ids *ids;         /* the PED ID mappings (live), may be NULL */
	struct inbound *inbound;       /* PED-initiated links, NULL when off */
};

int flows_new(const struct flows_env *env, flows_t **out);
/* hsmsock_cmd_fn: ctx is the flows_t. */
void flows_command(void *ctx, hsmsock_conn_t *c, unsigned slot, int argc, char **argv);
/* The server ("host:port") of slot's Remote PED session, or NULL. */
const char *flows_session(const flows_t *f, unsigned slot);
/* Number of open remote sessions, and a line per session (show). */
unsigned flows_sessions(const flows_t *f);
void flows_describe(const flows_t *f, void (*fn)(void *arg, const char *line), void *arg);
/* Ends every running command (ERR HOST_CANCELLED, staged changes dropped)
 * and disconnects every session; closed(arg) once no session handle is
 * left. */
void flows_shutdown(flows_t *f, void (*closed)(void *arg), void *arg);
void flows_free(flows_t *f);

/* The `ped set` defaults of a slot: STATEDIR/slotN.ped ("host port\n").
 * 0 (port 0 and host "" when never set) or a negative code. */
int flows_load_pedset(const char *statedir, unsigned slot, char *host, size_t hostlen,
		      int *port);

#endif
