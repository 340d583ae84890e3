/* modes.h - pedclient's own modes (the standard start / stop / show / config
 * are common/prog.c's): setid, assignid, releaseid, deleteid and testid.
 *
 * The one rule: when a pedclient runs on the state dir, the command goes to
 * it through the admin channel (it owns the mappings: STATEDIR/ids.lock is
 * held for its whole life); when none runs, the command edits
 * STATEDIR/ids.conf itself, atomically, holding STATEDIR/ids.lock for the
 * duration of the edit, so mappings can be prepared before the first start.
 * testid without a running pedclient probes from the CLI process. */
#ifndef PEDCLIENT_MODES_H
#define PEDCLIENT_MODES_H

#include "common/cli.h"

/* cli_mode.run: ctx is the prog_t (common/prog.h). */
int pedclient_mode_ids(void *ctx, const struct cli_result *r);
int pedclient_mode_testid(void *ctx, const struct cli_result *r);

#endif
