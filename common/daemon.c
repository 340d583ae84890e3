/* daemon.c - process lifecycle of the daemons (see daemon.h). */
#include "daemon.h"
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "audit.h"
#include "err.h"
#include "log.h"

#define READY_MSG "READY"

static struct {
	char statedir[PATH_MAX];
	char pidpath[PATH_MAX];
	const char *prog;
	int pidfd;           /* holds the single-instance flock */
	int readyfd;         /* background: pipe to the waiting CLI process */
	int background;
	int ready;
	int fail_sent;
	int shutting;
	int attached;
	int cleaned;         /* runtime files removed (once only) */
	unsigned internal_timeout_s;
	char status[512];    /* the last daemon_status(), for the starter */
	struct timespec started;
	struct daemon_hooks hooks;
	uv_signal_t sig_term, sig_int, sig_hup;
	uv_timer_t deadline;
	uv_timer_t flush;    /* collapsed log lines and refusal counts due */
	uv_async_t svc_stop; /* a Windows service's STOP/SHUTDOWN (another thread) */
} D = {.pidfd = -1, .readyfd = -1};

/* ------------------------------------------------------------------ */
/* helpers (what differs between POSIX and Windows is in sys.h) */

/* strsignal() is not everywhere; these are the ones we watch */
static const char *signame(int signum)
{
	return signum == SIGINT ? "Interrupt" : signum == SIGHUP ? "Hangup" : "Terminated";
}

static int path_join(char *out, size_t cap, const char *dir, const char *name)
{
	int n = snprintf(out, cap, "%s/%s", dir, name);
	return n < 0 || (size_t)n >= cap ? PED_E_TOO_LONG : 0;
}

static void write_str(int fd, const char *s)
{
	size_t n = strlen(s);

	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

/* Reads a small text file into out (NUL-terminated, trailing space cut). */
static int read_text(const char *path, char *out, size_t cap)
{
	ssize_t n;
	int fd = sys_open_read(path);

	out[0] = '\0';
	if (fd < 0)
		return -1;
	n = read(fd, out, cap - 1);
	close(fd);
	if (n < 0)
		return -1;
	out[n] = '\0';
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
		out[--n] = '\0';
	return 0;
}

static void remove_runtime_files(void)
{
	static const char *const names[] = {ADMIN_PORT_FILE, ADMIN_TOKEN_FILE, ADMIN_SOCK_FILE};
	char p[PATH_MAX];
	size_t i;

	if (D.statedir[0] == '\0' || D.cleaned)
		return;
	D.cleaned = 1;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (path_join(p, sizeof(p), D.statedir, names[i]) == 0)
			(void)unlink(p);
	/* the pid file goes last, while we still hold its lock; the lock itself
	 * is released by the kernel when the process exits, so that a waiting
	 * `-mode stop` returns only then */
	if (D.pidfd >= 0)
		(void)unlink(D.pidpath);
}

/* ------------------------------------------------------------------ */
/* state dir and pid lock */

int daemon_statedir_check(const char *dir)
{
	if (dir == NULL || dir[0] == '\0') {
		log_error("no state directory given");
		return PED_E_INVAL;
	}
	return sys_private_dir(dir);
}

static void describe_running(const char *dir, const char *pidpath, char *out, size_t cap)
{
	char pid[32], port[16], pp[PATH_MAX];

	(void)read_text(pidpath, pid, sizeof(pid));
	if (path_join(pp, sizeof(pp), dir, ADMIN_PORT_FILE) != 0 ||
	    read_text(pp, port, sizeof(port)) != 0 || port[0] == '\0')
		snprintf(port, sizeof(port), "?");
	snprintf(out, cap, "already running (pid %s, admin port %s)", pid[0] ? pid : "?", port);
}

/* Takes the single-instance lock; on failure logs why. */
static int lock_pidfile(void)
{
	char why[128];
	int r = sys_lock_take(D.pidpath, &D.pidfd);

	if (r == PED_E_EXISTS) {
		describe_running(D.statedir, D.pidpath, why, sizeof(why));
		log_error("%s", why);
	} else if (r != 0) {
		log_error("cannot lock %s: %s", D.pidpath, strerror(errno));
	}
	return r;
}

static void write_pid(void)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%ld\n", sys_pid());
	if (ftruncate(D.pidfd, 0) == 0 && lseek(D.pidfd, 0, SEEK_SET) == 0)
		write_str(D.pidfd, buf);
}

int daemon_running_pid(const char *dir, const char *prog, pid_t *pid)
{
	char path[PATH_MAX], name[PATH_MAX], txt[32];
	long v;
	int fd;

	*pid = 0;
	snprintf(name, sizeof(name), "%s.pid", prog);
	if (path_join(path, sizeof(path), dir, name) != 0)
		return PED_E_TOO_LONG;
	if (!sys_lock_peek(path, &fd))
		return ADMIN_NOT_RUNNING;
	close(fd);
	if (read_text(path, txt, sizeof(txt)) == 0 && (v = strtol(txt, NULL, 10)) > 0)
		*pid = (pid_t)v;
	return 0;
}

/* ------------------------------------------------------------------ */
/* readiness */

int daemon_notify(const char *msg)
{
	return sys_notify(msg);
}

void daemon_ready(void)
{
	if (D.ready)
		return;
	D.ready = 1;
	log_info("ready (pid %ld)", sys_pid());
	log_keep_startup(0);
	if (D.background) {
		if (D.readyfd >= 0) {
			/* "READY <status>; log <file>": the one line start prints */
			char line[sizeof(D.status) + PATH_MAX + 32];
			const char *log = log_file_path();

			snprintf(line, sizeof(line), READY_MSG "%s%s%s%s\n", D.status[0] ? " " : "",
				 D.status, log != NULL ? (D.status[0] ? "; log " : " log ") : "",
				 log != NULL ? log : "");
			write_str(D.readyfd, line);
			close(D.readyfd);
			D.readyfd = -1;
		}
		sys_stderr_to_null(D.prog);
		log_stderr_changed();
	} else if (D.status[0] != '\0') {
		char st[sizeof(D.status) + 32];

		/* one datagram: READY=1 first, then the status given before it */
		snprintf(st, sizeof(st), "READY=1\nSTATUS=%s", D.status);
		(void)daemon_notify(st);
	} else {
		(void)daemon_notify("READY=1");
	}
}

void daemon_fail(const char *fmt, ...)
{
	char msg[512], esc[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (D.background && D.readyfd >= 0 && !D.ready) {
		/* the CLI process prints it; a log file gets it too */
		if (log_file_path() != NULL)
			log_error("%s", msg);
		(void)log_escape(esc, sizeof(esc), msg, strlen(msg));
		write_str(D.readyfd, esc);
		write_str(D.readyfd, "\n");
		close(D.readyfd);
		D.readyfd = -1;
		D.fail_sent = 1;
		return;
	}
	log_error("%s", msg);
	D.fail_sent = 1;
	if (!D.background) {
		char st[600];
		snprintf(st, sizeof(st), "STATUS=failed: %s", msg);
		(void)daemon_notify(st);
	}
}

void daemon_status(const char *fmt, ...)
{
	char msg[512], st[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_info("%s", msg);
	snprintf(D.status, sizeof(D.status), "%s", msg);
	if (!D.ready)
		return; /* sent with READY (daemon_ready) */
	snprintf(st, sizeof(st), "STATUS=%s", msg);
	(void)daemon_notify(st);
}

/* ------------------------------------------------------------------ */
/* signals and shutdown */

static void on_deadline(uv_timer_t *t)
{
	(void)t;
	log_error("shutdown did not finish within %u s; exiting", D.internal_timeout_s);
	remove_runtime_files();
	_exit(1);
}

void daemon_request_shutdown(const char *why)
{
	if (D.shutting)
		return;
	D.shutting = 1;
	log_info("shutting down (%s)", why != NULL ? why : "requested");
	(void)daemon_notify("STOPPING=1");
	if (D.attached)
		uv_timer_start(&D.deadline, on_deadline, (uint64_t)D.internal_timeout_s * 1000, 0);
	if (D.hooks.shutdown != NULL)
		D.hooks.shutdown(D.hooks.arg);
}

int daemon_shutting_down(void)
{
	return D.shutting;
}

static void on_term(uv_signal_t *h, int signum)
{
	(void)h;
	if (D.shutting) {
		log_info("%s: already shutting down", signame(signum));
		return;
	}
	daemon_request_shutdown(signame(signum));
}

/* The SCM's thread (sys_service_on_stop): only wakes the loop. */
static void wake_for_stop(void *arg)
{
	(void)arg;
	uv_async_send(&D.svc_stop);
}

static void on_service_stop(uv_async_t *a)
{
	(void)a;
	if (!D.shutting)
		daemon_request_shutdown("service stop");
}

static void on_hup(uv_signal_t *h, int signum)
{
	(void)h;
	(void)signum;
	log_info("SIGHUP: reopening the log, reloading");
	(void)log_reopen();
	if (D.hooks.reload != NULL)
		D.hooks.reload(D.hooks.arg);
}

/* Runs only while a collapsed-lines summary or a refusal count is pending. */
static void on_flush(uv_timer_t *t)
{
	int a = log_flush_limited(0), b = audit_flush(0);
	int next = a < 0 ? b : b < 0 ? a : a < b ? a : b;

	if (next >= 0)
		uv_timer_start(t, on_flush, (uint64_t)next * 1000 + 100, 0);
}

static void flush_pending(void)
{
	if (D.attached && !uv_is_active((uv_handle_t *)&D.flush))
		uv_timer_start(&D.flush, on_flush, LOG_LIMIT_WINDOW_S * 1000 + 100, 0);
}

int daemon_loop_attach(uv_loop_t *loop, const struct daemon_hooks *hooks)
{
	if (loop == NULL || hooks == NULL || D.attached)
		return PED_E_INVAL;
	D.hooks = *hooks;
	if (D.internal_timeout_s == 0)
		D.internal_timeout_s = DAEMON_DEFAULT_INTERNAL_TIMEOUT;
	uv_signal_init(loop, &D.sig_term);
	uv_signal_init(loop, &D.sig_int);
	uv_signal_init(loop, &D.sig_hup);
	uv_timer_init(loop, &D.deadline);
	uv_timer_init(loop, &D.flush);
	uv_async_init(loop, &D.svc_stop, on_service_stop);
	D.attached = 1;
	sys_service_on_stop(wake_for_stop, NULL);
	log_set_pending_hook(flush_pending);
	audit_set_pending_hook(flush_pending);
	if (uv_signal_start(&D.sig_term, on_term, SIGTERM) != 0 ||
	    uv_signal_start(&D.sig_int, on_term, SIGINT) != 0 ||
	    uv_signal_start(&D.sig_hup, on_hup, SIGHUP) != 0) {
		daemon_loop_detach();
		return PED_E_IO;
	}
	return 0;
}

void daemon_loop_detach(void)
{
	if (!D.attached)
		return;
	D.attached = 0;
	sys_service_on_stop(NULL, NULL);
	uv_close((uv_handle_t *)&D.svc_stop, NULL);
	uv_close((uv_handle_t *)&D.sig_term, NULL);
	uv_close((uv_handle_t *)&D.sig_int, NULL);
	uv_close((uv_handle_t *)&D.sig_hup, NULL);
	uv_close((uv_handle_t *)&D.deadline, NULL);
	log_set_pending_hook(NULL);
	audit_set_pending_hook(NULL);
	uv_close((uv_handle_t *)&D.flush, NULL);
}

void daemon_hygiene_status(int *dumpable, unsigned long long *core_limit)
{
	sys_hygiene(dumpable, core_limit);
}

unsigned long daemon_uptime(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (unsigned long)(now.tv_sec - D.started.tv_sec);
}

const char *daemon_statedir(void)
{
	return D.statedir;
}

/* ------------------------------------------------------------------ */
/* start */

/* The daemon process: hygiene, pid, run(), cleanup. */
static int run_daemon(const struct daemon_opts *o)
{
	int st;

	sys_harden();
	write_pid();
	clock_gettime(CLOCK_MONOTONIC, &D.started);
	st = o->run(o->arg);
	if (!D.ready && !D.fail_sent)
		daemon_fail("initialisation failed (status %d)", st);
	if (!D.ready && st == 0)
		st = 1;
	if (D.readyfd >= 0) {
		close(D.readyfd);
		D.readyfd = -1;
	}
	remove_runtime_files();
	return st;
}

/* The CLI process: waits for READY or the reason of a failure. */
static int wait_ready(int rfd, long child, unsigned timeout_s)
{
	char msg[600];
	pid_t pid;

	if (sys_wait_line(rfd, child, timeout_s, msg, sizeof(msg)) != 0) {
		if (daemon_running_pid(D.statedir, D.prog, &pid) == 0 && pid > 0)
			(void)sys_terminate((long)pid);
		log_error("the background process did not become ready within %u s", timeout_s);
		return 1;
	}
	if (strncmp(msg, READY_MSG, strlen(READY_MSG)) == 0 &&
	    (msg[strlen(READY_MSG)] == '\0' || msg[strlen(READY_MSG)] == ' ')) {
		if (msg[strlen(READY_MSG)] == ' ')
			printf("%s: %s\n", D.prog, msg + strlen(READY_MSG) + 1);
		return 0;
	}
	if (msg[0] == '\0')
		log_error("the background process exited before it was ready");
	else
		log_error("%s", msg);
	return 1;
}

int daemon_start(const struct daemon_opts *o)
{
	char cwd[PATH_MAX];
	long child;
	int n, rfd, r;

	if (o == NULL || o->prog == NULL || o->statedir == NULL || o->run == NULL)
		return 1;
	D.prog = o->prog;
	log_set_ident(o->prog);
	if (daemon_statedir_check(o->statedir) != 0)
		return 1;
	if (sys_path_absolute(o->statedir))
		n = snprintf(D.statedir, sizeof(D.statedir), "%s", o->statedir);
	else if (getcwd(cwd, sizeof(cwd)) != NULL)
		n = snprintf(D.statedir, sizeof(D.statedir), "%s/%s", cwd, o->statedir);
	else
		n = -1;
	if (n < 0 || (size_t)n >= sizeof(D.statedir) - 32) {
		log_error("state directory path too long");
		return 1;
	}
	n = snprintf(D.pidpath, sizeof(D.pidpath), "%s/%s.pid", D.statedir, o->prog);
	if (n < 0 || (size_t)n >= sizeof(D.pidpath)) {
		log_error("state directory path too long");
		return 1;
	}
	D.internal_timeout_s = o->internal_timeout_s ? o->internal_timeout_s
						     : DAEMON_DEFAULT_INTERNAL_TIMEOUT;
	D.background = !(o->foreground || getenv("NOTIFY_SOCKET") != NULL ||
			 getenv("INVOCATION_ID") != NULL);
	if (lock_pidfile() != 0)
		return 1;
	if (!D.background) {
		log_set_stderr_timestamp(1);
		return run_daemon(o);
	}

	r = sys_daemonize(&rfd, &D.readyfd, &child);
	if (r < 0) {
		log_error(r == PED_E_INVAL ? "no background start on this system: use -foreground "
					     "or run it as a service"
					   : "cannot start the background process: %s",
			  strerror(errno));
		remove_runtime_files();
		return 1;
	}
	if (r == 1) {
		int st;
		/* the daemon keeps the lock through its own descriptor */
		close(D.pidfd);
		D.pidfd = -1;
		st = wait_ready(rfd, child, o->startup_timeout_s ? o->startup_timeout_s
								 : DAEMON_DEFAULT_STARTUP_TIMEOUT);
		close(rfd);
		return st;
	}
	return run_daemon(o);
}

/* ------------------------------------------------------------------ */
/* stop */

int daemon_stop(const char *statedir, const char *prog, unsigned timeout_s)
{
	char path[PATH_MAX], name[PATH_MAX], txt[32];
	struct admin_result res;
	pid_t pid = 0;
	int fd, r;

	if (timeout_s == 0)
		timeout_s = DAEMON_DEFAULT_SHUTDOWN_TIMEOUT;
	log_set_ident(prog);
	snprintf(name, sizeof(name), "%s.pid", prog);
	if (path_join(path, sizeof(path), statedir, name) != 0)
		return 1;
	if (!sys_lock_peek(path, &fd)) {
		printf("%s is not running\n", prog);
		return DAEMON_EXIT_NOT_RUNNING;
	}
	if (read_text(path, txt, sizeof(txt)) == 0)
		pid = (pid_t)strtol(txt, NULL, 10);
	r = admin_call(statedir, NULL, 0, "stop", NULL, NULL, NULL,
		       timeout_s * 1000 < ADMIN_DEFAULT_TIMEOUT_MS ? timeout_s * 1000
								   : ADMIN_DEFAULT_TIMEOUT_MS,
		       &res);
	if (r != 0) {
		log_warning("admin channel: %s%s%s; sending SIGTERM to pid %ld", res.name,
			    res.name[0] ? " " : "", res.message, (long)pid);
		if (sys_terminate((long)pid) != 0) {
			log_error("cannot signal pid %ld: %s", (long)pid, strerror(errno));
			close(fd);
			return 1;
		}
	}
	if (sys_lock_wait(fd, (long)pid, timeout_s) != 0) {
		log_error("%s (pid %ld) did not stop within %u s", prog, (long)pid, timeout_s);
		return 1;
	}
	printf("%s stopped\n", prog);
	return 0;
}
