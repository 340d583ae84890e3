/* prog.h - the command-line flow shared by the daemons (pedserver,
 * pedclient): parse the command line (cli.h), find and load the config file
 * (cfg.h), apply command-line overrides, set up logging (log.h), and run the
 * standard modes start / stop / show / config (daemon.h, admin.h). A program
 * supplies its tables and its daemon body; program-specific modes plug in
 * through the same cli table.
 *
 *   static int run(prog_t *p) { ... the daemon: loop, daemon_ready(), ... }
 *   static const struct prog_desc desc = {
 *       .cli = &spec, .cfg = &pedserver_cfg_table, .run = run,
 *       .admin_cmds = cmds, .version = "0.1.0",
 *   };
 *   int main(int argc, char **argv)
 *   {
 *       struct pedserver_cfg vals;
 *       return prog_main(&desc, &vals, argc, argv);
 *   }
 *
 * Modes. A mode whose cli_mode.run is NULL and whose name is "start",
 * "stop", "show" or "config" gets the standard behaviour below. A mode with
 * a run function gets it instead, called as run(prog_t *p, &p->cli): cast
 * the void *ctx to prog_t * (the config is loaded and overrides applied by
 * then; logging is set up for the CLI process). Any other mode without run
 * is "not implemented" (exit 2).
 *   start   daemon_start(): background with readiness, or foreground with
 *           -foreground (or NOTIFY_SOCKET / INVOCATION_ID set). In the daemon
 *           process prog opens the log file, then calls desc->run(p).
 *   stop    daemon_stop(statedir): "<prog> stopped", or "not running" (3).
 *   show    admin verb "show" ("show-json" with -json), reply lines on
 *           stdout; exit 0; "<prog> is not running" and exit 3 when none runs
 *           (with -json: {"schema_version":1,"running":false} on stdout).
 *   config  -set: writes every given option that has a cfgkey into the config
 *           file (cfg_set: atomic, comments and unknown keys kept) and prints
 *           one line per key: "Port: 1503 -> 1600" or "Port: 1600 (unchanged)";
 *           a -set with no such option is an error (2).
 *           -show (or neither): prints "; <path>" then the effective config
 *           (file + command-line overrides), or one JSON object with -json.
 *
 * Standard option names (each optional in the table; matched by cli_opt.name):
 *   statedir    the state dir (default: prog_default_statedir)
 *   configfile  the config file (else cfg_path with statedir)
 *   foreground  start: stay in the foreground
 *   json        show / config -show: machine form
 *   set, show   config: write / print
 *   admin       show: the admin port to ask (default: STATEDIR/admin.port);
 *               also an ordinary override when it has a cfgkey
 * Every option with a cfgkey that is given on the command line overrides that
 * config key (start: for this run; config -set: written to the file). A FLAG
 * option with a cfgkey sets the key to "1".
 *
 * Standard config keys (each optional in the table; looked up by name):
 *   LogInfo LogWarning LogError LogTrace  (BOOL) the log levels (log mask);
 *       without such a key the same-named option (-loginfo 0|1) still acts
 *   LogFileName (PATH)    log file; empty: STATEDIR/<prog>.log in the
 *       background, stderr (or the journal) in the foreground
 *   MaxLogFileSize (INT)  in KB, 0 = no limit (log rotation, log.h)
 *   AdminPort (INT), ExternalAdmin (BOOL)        used by prog_admin_start
 *   BgProcessStartupTimeout BgProcessShutdownTimeout InternalShutdownTimeout
 *       (INT, seconds) for daemon_start / daemon_stop
 *
 * Errors: a bad option or value is one line "<prog>: -opt: why" on stderr
 * (cli.h), a bad config file one line "<prog>: file:line: why"; both exit 2.
 * Exit codes: 0 success, 1 failure (start could not, stop failed), 2 usage or
 * config error, 3 not running (PROG_EXIT_NOT_RUNNING). */
#ifndef PED_PROG_H
#define PED_PROG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "common/admin.h"
#include "common/cfg.h"
#include "common/cli.h"

#define PROG_EXIT_USAGE 2
#define PROG_EXIT_NOT_RUNNING 3

typedef struct prog prog_t;

struct prog_desc {
	const struct cli_spec *cli;      /* modes and options */
	const struct cfg_table *cfg;     /* config keys; its values struct is vals */
	const char *version;             /* "0.1.0": for logs and show */
	/* The daemon body, run in the daemon process after logging is set up:
	 * initialise, daemon_ready() or daemon_fail(), run the loop, tear down;
	 * returns the exit status (see daemon.h). */
	int (*run)(prog_t *p);
	/* Admin verbs for prog_admin_start (ends with a NULL verb), or NULL. */
	const struct admin_cmd *admin_cmds;
	void *arg;                       /* the program's own context */
};

/* The state of one invocation. Public so that modes and the daemon body can
 * read it; treat it as read-only except where noted. */
struct prog {
	const struct prog_desc *desc;
	struct cli_result cli;           /* the parsed command line */
	void *vals;                      /* effective config (desc->cfg struct) */
	char statedir[PATH_MAX];         /* as given or the default (not made absolute) */
	char cfgpath[PATH_MAX];          /* the config file in use */
	char logpath[PATH_MAX];          /* the log file opened by start, or "" */
	bool foreground;                 /* -foreground given */
	bool json;                       /* -json given */
	bool service;                    /* started by the Windows SCM (-winservice) */
};

/* The whole front door: parse, load, override, dispatch (see above).
 * vals: storage of desc->cfg->size bytes for the config values. Returns the
 * process exit status. */
int prog_main(const struct prog_desc *desc, void *vals, int argc, char *argv[]);

/* ---- pieces, for modes and daemon bodies (and unit tests) ---- */

/* Index of the option named name (case-insensitive) in the cli table, or -1. */
int prog_opt_index(const struct cli_spec *s, const char *name);
/* The option's parsed value if it was given on the command line, else NULL. */
const struct cli_val *prog_opt(const prog_t *p, const char *name);

/* Applies every option given in r that has a cfgkey onto vals (validated as
 * in a file). 0, or PED_E_RANGE / PED_E_PARSE with one line
 * "-opt: <cfg message>" in err. */
int prog_apply_overrides(const struct cli_spec *s, const struct cli_result *r,
			 const struct cfg_table *t, void *vals, char *err, size_t errlen);

/* Collects the assignments of `-mode config -set`: one per option given in r
 * that has a cfgkey (key = cfgkey, value = the text typed, "1" for a FLAG),
 * at most max. Returns how many. */
size_t prog_collect_assign(const struct cli_spec *s, const struct cli_result *r,
			   struct cfg_assign *a, size_t max);

/* The log mask: error, warning and info by default; each of the config keys
 * LogError/LogWarning/LogInfo/LogTrace (when the table has it) sets its bit,
 * and so does the option -logerror/-logwarning/-loginfo/-logtrace <0|1>
 * when the table has no such key. vals may be NULL (options only). */
unsigned prog_log_mask(const struct cli_spec *s, const struct cli_result *r,
		       const struct cfg_table *t, const void *vals);

/* An INT or BOOL config value by key name, or def if the table has no such key. */
long long prog_cfg_num(const prog_t *p, const char *key, long long def);
/* A STRING or PATH config value by key name, or "" if the table has none. */
const char *prog_cfg_str(const prog_t *p, const char *key);

/* Re-reads the config file into vals (a struct of desc->cfg->size bytes)
 * and re-applies the command-line overrides (SIGHUP). On error vals is
 * unchanged and err holds one line. */
int prog_reload(const prog_t *p, void *vals, char *err, size_t errlen);
/* SIGHUP for a running daemon: prog_reload, then every changed key takes
 * effect in running (the live config struct) except those in restart_keys
 * (NULL-terminated), which keep their running values; reopens the log file
 * if LogFileName or MaxLogFileSize changed, resets the log mask, and logs
 * one line naming what was applied and what needs a restart. Returns 0, or
 * the prog_reload error (logged; running is unchanged). */
int prog_reload_apply(prog_t *p, void *running, const char *const restart_keys[]);

/* The mode "audit" both daemons have (cli_mode.run): "-verify [FILE...]"
 * checks the audit trail (audit.h), the state dir's when no FILE is given.
 * Exit 0 intact, 1 broken (the first bad record named), 2 unreadable/usage. */
int prog_mode_audit(void *ctx, const struct cli_result *r);

/* The admin verb "stop" every daemon has: asks the daemon to shut down
 * (daemon_request_shutdown) and answers "stopping". */
void prog_admin_stop(void *ctx, admin_reply_t *r, int argc, char **argv);

/* Starts the admin channel on loop with desc->admin_cmds and ctx, on the
 * AdminPort / ExternalAdmin config keys (defaults ADMIN_PORT_PEDSERVER and
 * 0 when the table lacks them), in the state dir. As admin_server_start. */
int prog_admin_start(const prog_t *p, uv_loop_t *loop, void *ctx, admin_server_t **out);

/* The default state dir of prog: /var/lib/<prog> for root, else
 * $XDG_STATE_HOME/<prog> ($HOME/.local/state/<prog>). 0 or PED_E_TOO_LONG /
 * PED_E_NOT_FOUND. */
int prog_default_statedir(char *out, size_t outlen, const char *prog);

/* Writes src as a JSON string (quotes included, control characters and
 * bytes >= 0x80 as \u00XX, so the output is ASCII) into dst (cap >= 3,
 * always NUL-terminated; cut before an escape that would not fit). */
void prog_json_str(char *dst, size_t cap, const char *src);

/* Whether argv holds the option -name or --name (any case; "-name=v" too),
 * before parsing: for options that change everything (e.g. -appliance). */
bool prog_argv_has(int argc, char *const argv[], const char *name);

#endif
