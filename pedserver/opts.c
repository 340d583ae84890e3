/* opts.c - pedserver's command line: the modes and options of the Luna
 * PEDserver reference plus ours (-statedir -foreground -json -ped). The
 * options that carry a cfgkey override that config key for this run, or are
 * written by -mode config -set (common/prog.h). */
#include "pedserver/pedserver.h"

#include <stdio.h>
#include <string.h>

static void print_line(void *arg, const char *line)
{
	(void)arg;
	printf("%s\n", line);
}

enum { M_START, M_STOP, M_SHOW, M_CONFIG, M_CONNECT, M_DISCONNECT, M_AUDIT, M_HSM, M_INSTALL,
       M_UNINSTALL, M_RECOVERY, M_COUNT };

#define ALL 0
#define START CLI_MODE(M_START)
#define STOP CLI_MODE(M_STOP)
#define SHOW CLI_MODE(M_SHOW)
#define CONFIG CLI_MODE(M_CONFIG)

/* -mode connect|disconnect -name N: the running daemon opens or closes the
 * PED-initiated link to appliance N (outbound.c). */
static int link_mode(void *ctx, const struct cli_result *r)
{
	prog_t *p = ctx;
	const struct cli_val *name = prog_opt(p, "name"), *port = prog_opt(p, "admin");
	const char *args[2] = {name != NULL ? name->str : NULL, NULL};
	struct admin_result res;
	int rc;

	if (name == NULL) {
		fprintf(stderr, "pedserver: -mode %s needs -name <appliance>\n",
			r->mode == M_CONNECT ? "connect" : "disconnect");
		return PROG_EXIT_USAGE;
	}
	memset(&res, 0, sizeof(res));
	rc = admin_call(p->statedir, NULL, port != NULL ? (int)port->num : 0,
			r->mode == M_CONNECT ? "link-connect" : "link-disconnect", args,
			print_line, NULL, 0, &res);
	if (rc == ADMIN_NOT_RUNNING) {
		printf("pedserver is not running\n");
		return PROG_EXIT_NOT_RUNNING;
	}
	if (rc != 0) {
		fprintf(stderr, "pedserver: %s (%s)\n", res.message, res.name);
		return 1;
	}
	return 0;
}

static const struct cli_mode modes[M_COUNT] = {
	[M_START] = {"start", "start the server (in the background unless -foreground)", NULL},
	[M_STOP] = {"stop", "stop the running server", NULL},
	[M_SHOW] = {"show", "status of the running server (exit 3 if none runs)", NULL},
	[M_CONFIG] = {"config", "print (-show) or change (-set ...) the config file", NULL},
	[M_CONNECT] = {"connect", "open the PED-initiated link to -name <appliance> (docs/pedserver.md)",
		       link_mode},
	[M_AUDIT] = {"audit", "check the audit trail: -verify [FILE...] (exit 0 only when intact)",
		     prog_mode_audit},
	[M_HSM] = {"hsm", "the HSM allowlist: -hsm add|list|delete (also without -mode hsm)",
		   allow_mode},
	[M_DISCONNECT] = {"disconnect", "close the PED-initiated link to -name <appliance>",
			  link_mode},
	[M_INSTALL] = {"install", "Windows: register the pedserver service (automatic start, "
				  "restart on failure; -statedir/-configfile kept)", NULL},
	[M_UNINSTALL] = {"uninstall", "Windows: stop and remove the pedserver service", NULL},
	[M_RECOVERY] = {"recovery", "Windows: give the installed pedserver service the recovery "
				    "actions of install (the MSI runs it)", NULL},
};

static const char *const policy_words[] = {"prompt", "list", "tofu", "any", NULL};
static const char *const hsm_words[] = {"add", "list", "delete", NULL};

#define SECS(lo, hi) .type = CLI_INT, .min = (lo), .max = (hi), .metavar = "<s>"
#define BIT .type = CLI_INT, .min = 0, .max = 1, .metavar = "<0|1>"

static const struct cli_opt opts[] = {
	{.name = "ip", .type = CLI_STRING, .max = 64, .metavar = "<addr>", .modes = START | CONFIG,
	 .help = "listen on this one address, IPv4 or IPv6", .cfgkey = "Ip"},
	{.name = "port", .type = CLI_INT, .min = 1, .max = 65535, .metavar = "<port>",
	 .def = "1503", .modes = START | CONFIG, .help = "server port", .cfgkey = "Port"},
	{.name = "admin", .type = CLI_INT, .min = 1, .max = 65535, .metavar = "<port>",
	 .def = "1502", .modes = START | SHOW | CONFIG | CLI_MODE(M_CONNECT) | CLI_MODE(M_DISCONNECT),
	 .help = "admin port (show: ask this port)", .cfgkey = "AdminPort"},
	{.name = "eserverport", BIT, .def = "1", .modes = START | CONFIG,
	 .help = "server port on every address (1, default) or loopback only (0)",
	 .cfgkey = "ExternalServer"},
	{.name = "eadmin", BIT, .def = "0", .modes = START | CONFIG,
	 .help = "admin port on every address (1) or loopback only (0)", .cfgkey = "ExternalAdmin"},
	{.name = "idletimeout", SECS(0, 604800), .def = "1800", .modes = START | CONFIG,
	 .help = "idle session timeout (0: never)", .cfgkey = "IdleTimeout"},
	{.name = "resumewindow", SECS(0, 86400), .def = "300", .modes = START | CONFIG,
	 .help = "how long the PED stays reserved for a session whose link broke (0: no "
		 "resumption)", .cfgkey = "ResumeWindow"},
	{.name = "socketreadtimeout", SECS(1, 3600), .def = "30", .modes = START | STOP | CONFIG,
	 .help = "socket read timeout", .cfgkey = "SocketReadTimeout"},
	{.name = "socketwritetimeout", SECS(1, 3600), .def = "30", .modes = START | STOP | CONFIG,
	 .help = "socket write timeout", .cfgkey = "SocketWriteTimeout"},
	{.name = "internalshutdowntimeout", SECS(1, 600), .def = "10",
	 .modes = START | STOP | CONFIG, .help = "shutdown deadline of the daemon",
	 .cfgkey = "InternalShutdownTimeout"},
	{.name = "bgprocessstartuptimeout", SECS(1, 600), .def = "10",
	 .modes = START | STOP | CONFIG, .help = "how long start waits for readiness",
	 .cfgkey = "BgProcessStartupTimeout"},
	{.name = "bgprocessshutdowntimeout", SECS(1, 600), .def = "25",
	 .modes = START | STOP | CONFIG | CLI_MODE(M_UNINSTALL), .help = "how long stop waits for the exit",
	 .cfgkey = "BgProcessShutdownTimeout"},
	{.name = "logfile", .alias = "logfilename", .type = CLI_PATH, .metavar = "<file>",
	 .help = "log file (default: <statedir>/pedserver.log)", .cfgkey = "LogFileName"},
	{.name = "loginfo", BIT, .def = "1", .help = "log info messages", .cfgkey = "LogInfo"},
	{.name = "logwarning", BIT, .def = "1", .help = "log warnings", .cfgkey = "LogWarning"},
	{.name = "logerror", BIT, .def = "1", .help = "log errors", .cfgkey = "LogError"},
	{.name = "logtrace", BIT, .def = "0", .help = "log trace messages", .cfgkey = "LogTrace"},
	{.name = "maxlogfilesize", .type = CLI_INT, .min = 0, .max = 1048576, .metavar = "<KB>",
	 .def = "4096", .help = "rotate the log file beyond this size (0: never)",
	 .cfgkey = "MaxLogFileSize"},
	{.name = "pedwritelay", .type = CLI_INT, .min = 0, .max = 10000, .metavar = "<us>",
	 .def = "0", .modes = START | CONFIG, .help = "delay between chunks written to the PED",
	 .cfgkey = "PedWriteDelay"},
	{.name = "pinginterval", SECS(1, 3600), .def = "15", .modes = START | CONFIG,
	 .help = "seconds between session pings", .cfgkey = "PingInterval"},
	{.name = "pingtimeout", SECS(1, 3600), .def = "60", .modes = START | CONFIG,
	 .help = "seconds without a ping answer before a session is dropped",
	 .cfgkey = "PingTimeout"},
	{.name = "handshaketimeout", SECS(1, 600), .def = "5", .modes = START | CONFIG,
	 .help = "seconds for each handshake step of a client", .cfgkey = "HandshakeTimeout"},
	{.name = "maxpresession", .type = CLI_INT, .metavar = "<n>", .min = 4, .max = 512, .def = "64",
	 .modes = START | CONFIG, .help = "connections in their handshake, all sources",
	 .cfgkey = "MaxPreSession"},
	{.name = "maxpresessionpersource", .type = CLI_INT, .metavar = "<n>", .min = 1, .max = 512, .def = "8",
	 .modes = START | CONFIG, .help = "connections in their handshake from one source",
	 .cfgkey = "MaxPreSessionPerSource"},
	{.name = "newconnectionrate", .type = CLI_INT, .metavar = "<n>", .min = 1, .max = 100000, .def = "10",
	 .modes = START | CONFIG, .help = "new connections per second from one source",
	 .cfgkey = "NewConnectionRate"},
	{.name = "newconnectionburst", .type = CLI_INT, .metavar = "<n>", .min = 1, .max = 100000, .def = "20",
	 .modes = START | CONFIG, .help = "new connections at once from one source",
	 .cfgkey = "NewConnectionBurst"},
	{.name = "penaltynohello", SECS(0, 3600), .def = "1", .modes = START | CONFIG,
	 .help = "penalty for a connection closed before its HELLO", .cfgkey = "PenaltyNoHello"},
	{.name = "penaltyevicted", SECS(0, 3600), .def = "5", .modes = START | CONFIG,
	 .help = "penalty for a connection evicted before its HELLO", .cfgkey = "PenaltyEvicted"},
	{.name = "penaltyhellotimeout", SECS(0, 3600), .def = "10", .modes = START | CONFIG,
	 .help = "penalty for a missed HELLO deadline", .cfgkey = "PenaltyHelloTimeout"},
	{.name = "penaltyrefused", SECS(0, 3600), .def = "1", .modes = START | CONFIG,
	 .help = "penalty for a connection refused for its source's rate or cap",
	 .cfgkey = "PenaltyRefused"},
	{.name = "penaltymin", SECS(1, 86400), .def = "15", .modes = START | CONFIG,
	 .help = "penalty from which a source is blocked", .cfgkey = "PenaltyMin"},
	{.name = "penaltymax", SECS(0, 86400), .def = "600", .modes = START | CONFIG,
	 .help = "most penalty a source accrues (0: no penalties)", .cfgkey = "PenaltyMax"},
	{.name = "penaltyexempt", .type = CLI_STRING, .max = 255, .metavar = "<list>",
	 .modes = START | CONFIG, .help = "addresses or prefixes never penalised",
	 .cfgkey = "PenaltyExempt"},
	{.name = "hsmpolicy", .type = CLI_ENUM, .words = policy_words, .metavar = "<policy>",
	 .def = "prompt", .modes = START | CONFIG,
	 .help = "an HSM not on the allowlist: prompt, list, tofu or any", .cfgkey = "HsmPolicy"},
	{.name = "hsm", .type = CLI_ENUM, .words = hsm_words, .metavar = "<verb>",
	 .modes = CLI_MODE(M_HSM), .help = "the HSM allowlist: add, list or delete"},
	{.name = "fingerprint", .type = CLI_STRING, .max = 200, .metavar = "<fp>",
	 .modes = CLI_MODE(M_HSM), .help = "an HSM key's fingerprint (64 hex digits, ':' allowed)"},
	{.name = "serial", .type = CLI_STRING, .max = 64, .metavar = "<serial>",
	 .modes = CLI_MODE(M_HSM), .help = "an HSM's serial number"},
	{.name = "pedoperationtimeout", SECS(1, 3600), .def = "200", .modes = START | CONFIG,
	 .help = "seconds a PED operation may take", .cfgkey = "PedOperationTimeout"},
	{.name = "ped", .type = CLI_STRING, .max = 255, .metavar = "<device>", .def = "usb",
	 .modes = START | CONFIG, .help = "the PED: tty/pty path, usb, usb:VVVV:PPPP[:SERIAL] or tcp:HOST:PORT",
	 .cfgkey = "Device"},
	{.name = "configfile", .type = CLI_PATH, .metavar = "<file>",
	 .help = "config file (default: <statedir>/pedserver.conf if -statedir, else "
		 "/etc/pedserver or $XDG_CONFIG_HOME/pedserver)"},
	{.name = "statedir", .type = CLI_PATH, .metavar = "<dir>",
	 .help = "state dir: pid, admin token and port, default log "
		 "(default /var/lib/pedserver or ~/.local/state/pedserver)"},
	{.name = "foreground", .type = CLI_FLAG, .modes = START,
	 .help = "stay in the foreground (systemd; automatic with NOTIFY_SOCKET)"},
	{.name = "winservice", .type = CLI_FLAG, .modes = START,
	 .help = "run as a Windows service (the SCM starts it so: see -mode install)"},
	{.name = "json", .type = CLI_FLAG, .modes = SHOW | CONFIG,
	 .help = "print one JSON object"},
	{.name = "set", .type = CLI_FLAG, .flags = CLI_BARE_NAMES, .modes = CONFIG,
	 .help = "write the options given into the config file"},
	{.name = "show", .type = CLI_FLAG, .modes = CONFIG, .help = "print the effective config"},
	{.name = "verify", .type = CLI_FLAG, .flags = CLI_OPERANDS, .modes = CLI_MODE(M_AUDIT),
	 .help = "check the chain of FILE... (default: the state dir's audit.log*)"},
	{.name = "force", .type = CLI_FLAG, .help = "do not prompt (nothing prompts)"},
	{.name = "name", .type = CLI_STRING, .max = 255, .metavar = "<name>",
	 .modes = SHOW | CLI_MODE(M_CONNECT) | CLI_MODE(M_DISCONNECT) | CLI_MODE(M_HSM),
	 .help = "with -hsm add: the HSM's name; with connect, disconnect, show: a registered "
		 "appliance (-appliance list)"},
};

const struct cli_spec pedserver_cli = {
	"pedserver", "Remote PED server: relays the PED on this host to a distant HSM",
	modes, M_COUNT, opts, sizeof(opts) / sizeof(opts[0]),
};
