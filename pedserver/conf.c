/* conf.c - pedserver's config table (the keys are listed in pedserver.h);
 * conf/pedserver.conf is generated from it (see tests/unit/prog_test.c). */
#include <stddef.h>

#include "pedserver/pedserver.h"

CFG_TABLE(pedserver_cfg_table, struct pedserver_cfg, PEDSERVER_CFG)
