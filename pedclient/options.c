/* options.c - the pedclient command-line table (see options.h). Option
 * names and modes follow the Luna PEDclient reference; -statedir,
 * -foreground, -json, -localped and -slots are ours. */
#include "pedclient/options.h"

#include "common/prog.h"
#include "pedclient/modes.h"

#define M(x) CLI_MODE(PC_M_##x)
#define DAEMON (M(START) | M(CONFIG))
#define IDMODES (M(SETID) | M(ASSIGNID) | M(RELEASEID) | M(DELETEID) | M(TESTID))

static const struct cli_mode modes[PC_M_COUNT] = {
	[PC_M_START] = {"start", "start pedclient (in the background unless -foreground)", NULL},
	[PC_M_STOP] = {"stop", "stop the running pedclient", NULL},
	[PC_M_SHOW] = {"show", "status of the running pedclient (exit 3 when none runs)", NULL},
	[PC_M_CONFIG] = {"config", "show the configuration, or -set the options given", NULL},
	[PC_M_SETID] = {"setid", "map a PED ID to a pedserver: -id N -id_ip HOST -id_port P",
			pedclient_mode_ids},
	[PC_M_ASSIGNID] = {"assignid", "assign a PED ID to an HSM: -id N -id_serialnumber S",
			   pedclient_mode_ids},
	[PC_M_RELEASEID] = {"releaseid", "release a PED ID from its HSM: -id N or -id_serialnumber S",
			    pedclient_mode_ids},
	[PC_M_DELETEID] = {"deleteid", "delete a PED ID mapping: -id N", pedclient_mode_ids},
	[PC_M_TESTID] = {"testid", "test the pedserver of a PED ID: -id N", pedclient_mode_testid},
	[PC_M_AUDIT] = {"audit", "check the audit trail: -verify [FILE...] (exit 0 only when intact)",
			prog_mode_audit},
	[PC_M_INSTALL] = {"install", "Windows: register the pedclient service (automatic start, "
				     "restart on failure; -statedir/-configfile kept)", NULL},
	[PC_M_UNINSTALL] = {"uninstall", "Windows: stop and remove the pedclient service", NULL},
	[PC_M_RECOVERY] = {"recovery", "Windows: give the installed pedclient service the recovery "
				       "actions of install (the MSI runs it)", NULL},
};

static const struct cli_opt opts[] = {
	/* where */
	{.name = "statedir", .type = CLI_PATH, .metavar = "DIR",
	 .help = "state dir: config, mappings, slots, runtime files, default log "
		 "(default ~/.local/state/pedclient, /var/lib/pedclient as root)"},
	{.name = "configfile", .type = CLI_PATH, .metavar = "FILE",
	 .help = "config file (default STATEDIR/pedclient.conf with -statedir)"},
	/* process */
	{.name = "foreground", .type = CLI_FLAG, .modes = M(START),
	 .help = "stay in the foreground (automatic under systemd), sd_notify"},
	{.name = "winservice", .type = CLI_FLAG, .modes = M(START),
	 .help = "Windows service start; accepted and ignored on this system"},
	{.name = "force", .type = CLI_FLAG,
	 .help = "do not prompt (pedclient never prompts; accepted for scripts)"},
	{.name = "json", .type = CLI_FLAG, .modes = M(SHOW) | M(CONFIG),
	 .help = "machine-readable output: one JSON object with schema_version"},
	{.name = "verify", .type = CLI_FLAG, .flags = CLI_OPERANDS, .modes = M(AUDIT),
	 .help = "check the chain of FILE... (default: the state dir's audit.log*)"},
	{.name = "set", .type = CLI_FLAG, .flags = CLI_BARE_NAMES, .modes = M(CONFIG),
	 .help = "write the options given into the config file"},
	{.name = "show", .type = CLI_FLAG, .modes = M(CONFIG), .help = "print the configuration"},
	/* admin port */
	{.name = "admin", .type = CLI_INT, .min = 0, .max = 65535, .metavar = "PORT",
	 .def = "1505", .modes = M(START) | M(SHOW) | M(CONFIG) | IDMODES, .cfgkey = "AdminPort",
	 .help = "admin port (start: listen there, 0 = any; others: ask there)"},
	{.name = "eadmin", .type = CLI_INT, .min = 0, .max = 1, .def = "0",
	 .modes = M(START) | M(SHOW) | M(STOP) | M(CONFIG), .cfgkey = "ExternalAdmin",
	 .help = "1: admin port on every address, 0: loopback only"},
	/* timeouts */
	{.name = "idletimeout", .type = CLI_INT, .min = 0, .max = 86400, .def = "1800",
	 .modes = DAEMON, .cfgkey = "IdleTimeout", .help = "idle session timeout, seconds"},
	{.name = "ignoreidletimeout", .type = CLI_FLAG, .modes = DAEMON,
	 .cfgkey = "IgnoreIdleTimeout", .help = "no idle timeout for assigned PED IDs"},
	{.name = "socketreadtimeout", .type = CLI_INT, .min = 1, .max = 3600, .def = "20",
	 .modes = DAEMON | M(SHOW) | M(STOP) | M(TESTID), .cfgkey = "SocketReadTimeout",
	 .help = "socket read timeout, seconds (also the testid deadline)"},
	{.name = "socketwritetimeout", .type = CLI_INT, .min = 1, .max = 3600, .def = "20",
	 .modes = DAEMON | M(SHOW) | M(STOP), .cfgkey = "SocketWriteTimeout",
	 .help = "socket write timeout, seconds"},
	{.name = "pinginterval", .type = CLI_INT, .min = 1, .max = 3600, .def = "60",
	 .modes = DAEMON, .cfgkey = "PingInterval", .help = "keep-alive ping interval, seconds"},
	{.name = "pingtimeout", .type = CLI_INT, .min = 1, .max = 3600, .def = "30",
	 .modes = DAEMON, .cfgkey = "PingTimeout", .help = "keep-alive ping timeout, seconds"},
	{.name = "resumewindow", .type = CLI_INT, .min = 0, .max = 86400, .def = "300",
	 .modes = DAEMON, .cfgkey = "ResumeWindow",
	 .help = "seconds to resume a session whose link broke (0: no resumption)"},
	{.name = "internalshutdowntimeout", .alias = "shutdowntimeout", .type = CLI_INT,
	 .min = 1, .max = 3600, .def = "10", .modes = DAEMON | M(STOP),
	 .cfgkey = "InternalShutdownTimeout", .help = "shutdown deadline of the daemon, seconds"},
	{.name = "bgprocessstartuptimeout", .alias = "pstartuptimeout", .type = CLI_INT,
	 .min = 1, .max = 3600, .def = "10", .modes = DAEMON | M(STOP),
	 .cfgkey = "BgProcessStartupTimeout", .help = "how long start waits for readiness, seconds"},
	{.name = "bgprocessshutdowntimeout", .alias = "pshutdowntimeout", .type = CLI_INT,
	 .min = 1, .max = 3600, .def = "25", .modes = DAEMON | M(STOP) | M(UNINSTALL),
	 .cfgkey = "BgProcessShutdownTimeout", .help = "how long stop waits for the exit, seconds"},
	/* logging (every mode, as in the reference) */
	{.name = "logfile", .alias = "logfilename", .type = CLI_PATH, .metavar = "FILE",
	 .cfgkey = "LogFileName", .help = "log file (default STATEDIR/pedclient.log in the background)"},
	{.name = "loginfo", .type = CLI_INT, .min = 0, .max = 1, .def = "1", .cfgkey = "LogInfo",
	 .help = "log info messages"},
	{.name = "logwarning", .type = CLI_INT, .min = 0, .max = 1, .def = "1",
	 .cfgkey = "LogWarning", .help = "log warnings"},
	{.name = "logerror", .type = CLI_INT, .min = 0, .max = 1, .def = "1", .cfgkey = "LogError",
	 .help = "log errors"},
	{.name = "logtrace", .type = CLI_INT, .min = 0, .max = 1, .def = "0", .cfgkey = "LogTrace",
	 .help = "log trace messages"},
	{.name = "maxlogfilesize", .type = CLI_INT, .min = 0, .max = 1048576, .metavar = "KB",
	 .def = "4096", .cfgkey = "MaxLogFileSize", .help = "log size before rotation, KB (0: no limit)"},
	{.name = "locallogger", .type = CLI_FLAG,
	 .help = "use pedclient's own logger (always the case here; accepted)"},
	/* HSM side */
	{.name = "slots", .type = CLI_INT, .min = 1, .max = 16, .def = "1", .modes = DAEMON,
	 .cfgkey = "Slots", .help = "number of software-HSM slots"},
	{.name = "localped", .type = CLI_PATH, .metavar = "PATH", .modes = DAEMON,
	 .cfgkey = "LocalPed", .help = "PED attached to this host (tty/pty), for the Local PED case"},
	/* PED ID mappings */
	{.name = "id", .type = CLI_INT, .min = 1, .max = 65535, .modes = IDMODES,
	 .help = "PED ID"},
	{.name = "id_ip", .type = CLI_STRING, .max = 253, .metavar = "HOST", .modes = M(SETID),
	 .help = "host name or address of the pedserver for the PED ID"},
	{.name = "id_port", .type = CLI_INT, .min = 1, .max = 65535, .metavar = "PORT",
	 .modes = M(SETID), .help = "pedserver port for the PED ID (its default is 1503)"},
	{.name = "id_serialnumber", .type = CLI_STRING, .max = 32, .metavar = "SERIAL",
	 .modes = M(ASSIGNID) | M(RELEASEID), .help = "serial number of the HSM (slot)"},
};

const struct cli_spec pedclient_cli = {
	"pedclient", "Remote PED client: the HSM side of a Remote PED link",
	modes, PC_M_COUNT, opts, sizeof(opts) / sizeof(opts[0]),
};
