/* main.c - pedclient, the HSM side of a Remote PED link.
 *
 *   command line (options.c: modes and options, one table)
 *   -> common/prog.c: config file (config.h), overrides, logging, and the
 *      standard modes start / stop / show / config
 *   -> our own modes (modes.c): setid assignid releaseid deleteid testid
 *   -> the daemon body (service.c): state dir files (ids.c: PED ID
 *      mappings, slots.c: the software-HSM slots), event loop, admin
 *      channel, testid probes (probe.c), the Local PED (lped.c), the HSM
 *      socket for pedhsm (hsmsock.c) and its commands (flows.c) with their
 *      Remote PED sessions (remote.c), shutdown.
 * pedhsm.c is the console, a binary of its own. */
#include "common/prog.h"
#include "pedclient/config.h"
#include "pedclient/options.h"
#include "pedclient/service.h"

static const struct prog_desc desc = {
	.cli = &pedclient_cli,
	.cfg = &pedclient_cfg_table,
	.version = PEDCLIENT_VERSION,
	.run = pedclient_run,
	.admin_cmds = pedclient_admin_cmds,
};

int main(int argc, char *argv[])
{
	struct pedclient_cfg vals;

	/* PED-initiated mode's certificate commands have no -mode (tlscli.h) */
	if (tlscli_wants(&pedclient_tls, argc, argv))
		return tlscli_main(&pedclient_tls, argc, argv);
	return prog_main(&desc, &vals, argc, argv);
}
