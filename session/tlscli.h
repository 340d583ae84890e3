/* tlscli.h - the certificate commands of PED-initiated mode, shared by
 * pedserver and pedclient (the reference's pedserver syntax, no -mode):
 *   <prog> -regen -commonname CN [-curve 521|256] [-force]
 *   <prog> -<verb> register -name N -certificate FILE [-ip A [-port P]]
 *   <prog> -<verb> list
 *   <prog> -<verb> delete -name N [-force]
 * with <verb> "appliance" (pedserver: the HSM hosts it dials) or
 * "pedserver" (pedclient: the PED hosts it admits); every command takes
 * -statedir. A registration goes through the running daemon's admin channel
 * (so that one writer keeps the audit trail's chain), or is written directly
 * when none runs. Exit 0, 1 (refused: a named error), 2 (usage). */
#ifndef PED_TLSCLI_H
#define PED_TLSCLI_H

#include <stdbool.h>

#include "common/admin.h"

struct tlscli_desc {
	const char *prog;      /* "pedserver" */
	const char *verb;      /* "appliance" */
	const char *store;     /* file name in the state dir */
	bool dials;            /* registrations carry -ip/-port (pedserver) */
};

#define TLSCLI_DEFAULT_PORT 9697

/* true if argv is one of these commands (has -regen or -<verb>). */
bool tlscli_wants(const struct tlscli_desc *d, int argc, char *argv[]);
int tlscli_main(const struct tlscli_desc *d, int argc, char *argv[]);
/* The daemon's admin verbs "tls-register NAME ADDR PORT FP" and
 * "tls-delete NAME", on the store in statedir. */
void tlscli_admin(const struct tlscli_desc *d, const char *statedir, admin_reply_t *r, int argc,
		  char **argv);

#endif
