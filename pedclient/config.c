/* config.c - instantiates pedclient's config table (config.h). */
#include <stddef.h>

#include "pedclient/config.h"

CFG_TABLE(pedclient_cfg_table, struct pedclient_cfg, PEDCLIENT_CFG)
