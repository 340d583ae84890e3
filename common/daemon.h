/* daemon.h - process lifecycle of the pedserver / pedclient daemons: state
 * dir, single instance, background start with a readiness handshake,
 * foreground (systemd) mode with sd_notify, process hygiene, signals with a
 * shutdown deadline, clean exit, and `-mode stop`.
 *
 * Typical main() of a daemon (`-mode start`):
 *
 *     static int run(void *arg)            // runs in the daemon process
 *     {
 *         uv_loop_init(&loop);
 *         daemon_loop_attach(&loop, &hooks);         // SIGTERM/SIGINT/SIGHUP
 *         if (admin_server_start(&loop, &acfg, &admin) != 0) {
 *             daemon_fail("cannot listen on admin port %d", port);
 *             ... close what was opened, run the loop until it ends ...
 *             return 1;
 *         }
 *         ... open the server port, the PED ...
 *         daemon_ready();                             // the parent returns 0 now
 *         uv_run(&loop, UV_RUN_DEFAULT);              // until shutdown closed all
 *         uv_loop_close(&loop);
 *         return 0;
 *     }
 *     hooks.shutdown = on_shutdown;  // close listeners, sessions, admin server,
 *                                    // then daemon_loop_detach()
 *     struct daemon_opts o = { .prog = "pedserver", .statedir = dir, .run = run, ... };
 *     return daemon_start(&o);
 *
 * and `-mode stop`:   return daemon_stop(dir, "pedserver", timeout_s);
 *
 * State dir (daemon_statedir_check): created 0700 if missing; refused if it
 * is not a directory, not owned by our euid, or writable by group or others
 * (the admin token inside it is the only credential of the admin port).
 *
 * Files in the state dir while the daemon runs: <prog>.pid (the pid, with an
 * flock held for the daemon's life: the single-instance lock), and the admin
 * channel's admin.token / admin.port / admin.sock (admin.h). A clean exit
 * (return from run, SIGTERM, the shutdown deadline) removes all of them.
 *
 * Background start (the default): the CLI process takes the pid lock, forks;
 * the child calls setsid() and forks again, so the daemon is not a session
 * leader and can never acquire a controlling terminal when it opens a tty
 * (the PED's pty) without O_NOCTTY. The daemon's stdin and stdout are
 * /dev/null at once; its stderr stays the CLI's stderr until daemon_ready()
 * (so start-up warnings, e.g. an unwritable log file, reach the user) and
 * becomes /dev/null then: give the daemon a log file. The working directory
 * is not changed (relative paths given on the command line keep working).
 * The CLI process waits on a pipe for daemon_ready() ("READY") or
 * daemon_fail() (the reason, which it prints), at most startup_timeout_s,
 * then returns 0 (ready) or 1 (failed, died, or timed out: then the daemon
 * is killed).
 *
 * Foreground (opts.foreground, or automatically when NOTIFY_SOCKET or
 * INVOCATION_ID is set, i.e. under systemd): no fork; daemon_ready() sends
 * READY=1, daemon_status() STATUS=..., shutdown STOPPING=1 to NOTIFY_SOCKET
 * (a path, or an abstract socket when it starts with '@'); stderr lines get
 * timestamps unless they go to the journal (log.h).
 *
 * Hygiene, at daemon_start in the daemon process: sys_harden() (sys.h):
 * prctl(PR_SET_DUMPABLE, 0), RLIMIT_CORE = {0, 0}, umask 077, SIGPIPE ignored.
 *
 * One daemon per process: this module keeps process-wide state. */
#ifndef PED_DAEMON_H
#define PED_DAEMON_H

#include <sys/types.h>

#include <uv.h>
#include "common/sys.h"

/* Defaults for the Luna-style options (seconds). */
#define DAEMON_DEFAULT_STARTUP_TIMEOUT 10  /* -bgprocessstartuptimeout */
#define DAEMON_DEFAULT_SHUTDOWN_TIMEOUT 25 /* -bgprocessshutdowntimeout */
#define DAEMON_DEFAULT_INTERNAL_TIMEOUT 10 /* -internalshutdowntimeout */

/* Exit status of `-mode stop|show` when no daemon runs. */
#define DAEMON_EXIT_NOT_RUNNING 3

struct daemon_opts {
	const char *prog;      /* "pedserver": pid file name and log ident */
	const char *statedir;  /* made absolute before forking */
	int foreground;        /* -foreground */
	unsigned startup_timeout_s;  /* 0: DAEMON_DEFAULT_STARTUP_TIMEOUT */
	unsigned internal_timeout_s; /* shutdown deadline; 0: DAEMON_DEFAULT_INTERNAL_TIMEOUT */
	/* The daemon itself: initialise, daemon_ready(), run the loop, tear
	 * down; returns the exit status. Runs in the daemon process. */
	int (*run)(void *arg);
	void *arg;
};

/* Starts the daemon as described above. Returns the exit status for main():
 * in the CLI process of a background start 0 (ready) or 1; in the daemon
 * process (and in the foreground) run()'s status, or 1 if the start failed
 * before run() (state dir refused, already running -- both printed as one
 * line "<prog>: error: ..."). */
int daemon_start(const struct daemon_opts *opts);

/* Tells the starter that the daemon is serving (call when listening):
 * background: "READY" to the waiting CLI process, which prints one line,
 * "<prog>: <last daemon_status()>; log <file>", then stderr -> /dev/null;
 * foreground: READY=1 to NOTIFY_SOCKET. Idempotent. */
void daemon_ready(void);
/* Reports why initialisation failed (logged as an error; in the background
 * the CLI process prints it and exits 1). run() should then return non-zero.
 * If run() returns non-zero before daemon_ready() without it, a generic
 * reason is sent. */
void daemon_fail(const char *fmt, ...) PED_PRINTF(1, 2);
/* STATUS=<text> to NOTIFY_SOCKET (no-op without one) and an info log line.
 * Before daemon_ready() it is only kept: daemon_ready() sends it with
 * READY=1 in one datagram (foreground) or start prints it (background). */
void daemon_status(const char *fmt, ...) PED_PRINTF(1, 2);

struct daemon_hooks {
	/* Begin an orderly shutdown: close listeners and sessions, then call
	 * daemon_loop_detach() so the loop can end. Called once. */
	void (*shutdown)(void *arg);
	/* SIGHUP: re-read configuration. log_reopen() is done before it. */
	void (*reload)(void *arg);
	void *arg;
};

/* Watches SIGTERM, SIGINT (shutdown) and SIGHUP (log_reopen + reload) on
 * loop with uv_signal handles, and a Windows service's STOP / SHUTDOWN
 * control (sys_service_on_stop, woken by uv_async_send: the same shutdown). 0 or PED_E_INVAL / PED_E_IO. */
int daemon_loop_attach(uv_loop_t *loop, const struct daemon_hooks *hooks);
/* Starts the shutdown, as SIGTERM does: STOPPING=1, calls hooks.shutdown
 * once, and arms the deadline (internal_timeout_s): if the process is still
 * running then, it logs an error, removes its runtime files and _exit(1)s.
 * Idempotent; what the admin verb "stop" calls (before replying OK). */
void daemon_request_shutdown(const char *why);
/* 1 once a shutdown was requested. */
int daemon_shutting_down(void);
/* Closes the signal handles and the deadline timer (after the daemon closed
 * everything else), so that uv_run returns and uv_loop_close succeeds. */
void daemon_loop_detach(void);

/* Seconds since daemon_start; the state dir (absolute) in use. */
unsigned long daemon_uptime(void);
/* What `show` reports of the hygiene: prctl(PR_GET_DUMPABLE) and the soft
 * RLIMIT_CORE (both 0 in a started daemon). */
void daemon_hygiene_status(int *dumpable, unsigned long long *core_limit);
const char *daemon_statedir(void);

/* Creates dir (0700) if missing and checks it (see above). 0, or PED_E_IO
 * with the reason logged as an error. */
int daemon_statedir_check(const char *dir);
/* The pid of the running daemon <prog> of dir: 0 and *pid if one holds the
 * lock; ADMIN_NOT_RUNNING (PED_E_NOT_FOUND) if none runs. */
int daemon_running_pid(const char *dir, const char *prog, pid_t *pid);

/* `-mode stop`: sends "stop" over the admin channel and waits until the
 * daemon released its pid lock (a blocking flock bounded by an alarm, no
 * polling), at most timeout_s (0: DAEMON_DEFAULT_SHUTDOWN_TIMEOUT). If the
 * admin channel does not answer, sends SIGTERM to the pid holding the lock.
 * Prints "<prog> stopped", or "not running" and returns
 * DAEMON_EXIT_NOT_RUNNING, or prints the error and returns 1. */
int daemon_stop(const char *statedir, const char *prog, unsigned timeout_s);

/* Sends one sd_notify datagram (e.g. "READY=1") to NOTIFY_SOCKET; 0 if sent
 * or no socket is configured, PED_E_IO otherwise. */
int daemon_notify(const char *msg);

#endif
