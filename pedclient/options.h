/* options.h - pedclient's command line: its modes and options in one table
 * (common/cli.h), which also prints the usage text. The options that carry a
 * cfgkey override (start, show, ...) or write (-mode config -set) that config
 * key (common/prog.h). */
#ifndef PEDCLIENT_OPTIONS_H
#define PEDCLIENT_OPTIONS_H

#include "common/cli.h"

enum {
	PC_M_START, PC_M_STOP, PC_M_SHOW, PC_M_CONFIG,
	PC_M_SETID, PC_M_ASSIGNID, PC_M_RELEASEID, PC_M_DELETEID, PC_M_TESTID, PC_M_AUDIT,
	PC_M_INSTALL, PC_M_UNINSTALL, PC_M_RECOVERY,
	PC_M_COUNT
};

extern const struct cli_spec pedclient_cli;

#endif
