/* service.h - the pedclient daemon body (run in the daemon process by
 * common/prog.c's start mode): the event loop, the admin channel and its
 * verbs, the PED ID store (held under STATEDIR/ids.lock for the daemon's
 * life) and the slot identities. */
#ifndef PEDCLIENT_SERVICE_H
#define PEDCLIENT_SERVICE_H

#include "common/admin.h"
#include "common/prog.h"
#include "session/tlscli.h"

/* The admin verbs: show, show-json, stop, setid, assignid, releaseid,
 * deleteid, testid (ids.h and probe.h give their argument forms). */
extern const struct admin_cmd pedclient_admin_cmds[];

/* -regen and -pedserver register|list|delete (session/tlscli.h) */
extern const struct tlscli_desc pedclient_tls;

/* desc->run: returns the daemon's exit status. */
int pedclient_run(prog_t *p);

#endif
