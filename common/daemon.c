/* daemon.c - process lifecycle of the daemons (see daemon.h). */
#include "daemon.h"
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
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
} D = {.pidfd = -1, .readyfd = -1};

/* ------------------------------------------------------------------ */
/* helpers */

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
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

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
	struct stat st;

	if (dir == NULL || dir[0] == '\0') {
		log_error("no state directory given");
		return PED_E_INVAL;
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		log_error("cannot create state directory %s: %s", dir, strerror(errno));
		return PED_E_IO;
	}
	if (stat(dir, &st) != 0) {
		log_error("state directory %s: %s", dir, strerror(errno));
		return PED_E_IO;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_error("state directory %s is not a directory", dir);
		return PED_E_IO;
	}
	if (st.st_uid != geteuid()) {
		log_error("state directory %s is owned by uid %ld, not by us (uid %ld); refusing",
			  dir, (long)st.st_uid, (long)geteuid());
		return PED_E_IO;
	}
	if ((st.st_mode & 022) != 0) {
		log_error("state directory %s is writable by group or others (mode %04o); refusing",
			  dir, (unsigned)(st.st_mode & 07777));
		return PED_E_IO;
	}
	return 0;
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
	struct stat a, b;
	char why[128];
	int fd, tries;

	for (tries = 0; tries < 5; tries++) {
		fd = open(D.pidpath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0) {
			log_error("cannot open %s: %s", D.pidpath, strerror(errno));
			return PED_E_IO;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
			int e = errno;
			close(fd);
			if (e == EWOULDBLOCK) {
				describe_running(D.statedir, D.pidpath, why, sizeof(why));
				log_error("%s", why);
				return PED_E_EXISTS;
			}
			log_error("cannot lock %s: %s", D.pidpath, strerror(e));
			return PED_E_IO;
		}
		/* the previous holder may have unlinked the file meanwhile */
		if (fstat(fd, &a) == 0 && stat(D.pidpath, &b) == 0 && a.st_ino == b.st_ino &&
		    a.st_dev == b.st_dev) {
			D.pidfd = fd;
			return 0;
		}
		close(fd);
	}
	log_error("cannot lock %s: it keeps changing", D.pidpath);
	return PED_E_IO;
}

static void write_pid(void)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(D.pidfd, 0) == 0 && lseek(D.pidfd, 0, SEEK_SET) == 0)
		write_str(D.pidfd, buf);
}

int daemon_running_pid(const char *dir, const char *prog, pid_t *pid)
{
	char path[PATH_MAX], name[PATH_MAX], txt[32];
	int fd, r = ADMIN_NOT_RUNNING;
	long v;

	*pid = 0;
	snprintf(name, sizeof(name), "%s.pid", prog);
	if (path_join(path, sizeof(path), dir, name) != 0)
		return PED_E_TOO_LONG;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return ADMIN_NOT_RUNNING;
	if (flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
		if (read_text(path, txt, sizeof(txt)) == 0 && (v = strtol(txt, NULL, 10)) > 0)
			*pid = (pid_t)v;
		r = 0;
	}
	close(fd);
	return r;
}

/* ------------------------------------------------------------------ */
/* readiness */

int daemon_notify(const char *msg)
{
	const char *e = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun;
	socklen_t len;
	size_t n;
	int fd, r = PED_E_IO;

	if (e == NULL || e[0] == '\0')
		return 0;
	n = strlen(e);
	if ((e[0] != '/' && e[0] != '@') || n >= sizeof(sun.sun_path))
		return PED_E_IO;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, e, n);
	if (e[0] == '@')
		sun.sun_path[0] = '\0'; /* abstract namespace */
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (e[0] == '@' ? 0 : 1));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return PED_E_IO;
	if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sun, len) >= 0)
		r = 0;
	close(fd);
	return r;
}

/* After start-up a background daemon's stderr goes to /dev/null, or, for
 * sanitizer builds (make asan), to a file in $PED_DEBUG_STDERR_DIR, so that
 * a sanitizer report (always written to stderr) is not lost. */
static void stderr_to_null(void)
{
	const char *dir = getenv("PED_DEBUG_STDERR_DIR");
	char path[PATH_MAX];
	int fd = -1;

	if (dir != NULL && dir[0] == '/' &&
	    snprintf(path, sizeof(path), "%s/%s.%ld.stderr", dir, D.prog, (long)getpid()) <
		    (int)sizeof(path))
		fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

	if (fd >= 0) {
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	log_stderr_changed();
}

void daemon_ready(void)
{
	if (D.ready)
		return;
	D.ready = 1;
	log_info("ready (pid %ld)", (long)getpid());
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
		stderr_to_null();
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
		log_info("%s: already shutting down", strsignal(signum));
		return;
	}
	daemon_request_shutdown(strsignal(signum));
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
	D.attached = 1;
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
	struct rlimit rl;

	*dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
	*core_limit = getrlimit(RLIMIT_CORE, &rl) == 0 ? (unsigned long long)rl.rlim_cur
						       : ~0ULL;
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
static int wait_ready(int rfd, pid_t child, unsigned timeout_s)
{
	char msg[600];
	size_t len = 0;
	struct pollfd p = {.fd = rfd, .events = POLLIN};
	struct timespec t0, t;
	long long left;
	pid_t pid;
	int status;

	/* the first child exits as soon as it has forked the daemon */
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		ssize_t n;
		clock_gettime(CLOCK_MONOTONIC, &t);
		left = (long long)timeout_s * 1000 - ((t.tv_sec - t0.tv_sec) * 1000LL +
						      (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0) {
			if (daemon_running_pid(D.statedir, D.prog, &pid) == 0 && pid > 0)
				kill(pid, SIGTERM);
			log_error("the background process did not become ready within %u s",
				  timeout_s);
			return 1;
		}
		n = poll(&p, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			continue;
		n = read(rfd, msg + len, sizeof(msg) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n > 0) {
			len += (size_t)n;
			if (len < sizeof(msg) - 1 && memchr(msg, '\n', len) == NULL)
				continue;
		}
		break;
	}
	msg[len] = '\0';
	if (len > 0 && msg[len - 1] == '\n')
		msg[--len] = '\0';
	if (strncmp(msg, READY_MSG, strlen(READY_MSG)) == 0 &&
	    (msg[strlen(READY_MSG)] == '\0' || msg[strlen(READY_MSG)] == ' ')) {
		if (msg[strlen(READY_MSG)] == ' ')
			printf("%s: %s\n", D.prog, msg + strlen(READY_MSG) + 1);
		return 0;
	}
	if (len == 0)
		log_error("the background process exited before it was ready");
	else
		log_error("%s", msg);
	return 1;
}

static int redirect_std(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -1;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	close(fd);
	return 0;
}

int daemon_start(const struct daemon_opts *o)
{
	int pfd[2] = {-1, -1};
	pid_t child;
	char cwd[PATH_MAX];
	int n;

	if (o == NULL || o->prog == NULL || o->statedir == NULL || o->run == NULL)
		return 1;
	D.prog = o->prog;
	log_set_ident(o->prog);
	if (daemon_statedir_check(o->statedir) != 0)
		return 1;
	if (o->statedir[0] == '/')
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

	fflush(NULL);
	if (pipe2(pfd, O_CLOEXEC) != 0 || (child = fork()) < 0) {
		log_error("cannot start the background process: %s", strerror(errno));
		if (pfd[0] >= 0) {
			close(pfd[0]);
			close(pfd[1]);
		}
		remove_runtime_files();
		return 1;
	}
	if (child > 0) {
		int st;
		close(pfd[1]);
		/* the daemon keeps the lock through its own descriptor */
		close(D.pidfd);
		D.pidfd = -1;
		st = wait_ready(pfd[0], child, o->startup_timeout_s ? o->startup_timeout_s
								    : DAEMON_DEFAULT_STARTUP_TIMEOUT);
		close(pfd[0]);
		return st;
	}
	/* first child: new session, then the daemon as its child */
	close(pfd[0]);
	if (setsid() < 0)
		_exit(1);
	child = fork();
	if (child < 0)
		_exit(1);
	if (child > 0)
		_exit(0);
	D.readyfd = pfd[1];
	if (redirect_std() != 0) {
		daemon_fail("cannot open /dev/null: %s", strerror(errno));
		remove_runtime_files();
		return 1;
	}
	return run_daemon(o);
}

/* ------------------------------------------------------------------ */
/* stop */

static void on_alarm(int sig)
{
	(void)sig;
}

/* Blocks until the pid lock is free or timeout_s passed; 0 when free. */
static int wait_unlocked(int fd, unsigned timeout_s)
{
	struct sigaction sa, old;
	struct itimerval it, itold;
	int r;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm; /* no SA_RESTART: flock returns EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, &old);
	memset(&it, 0, sizeof(it));
	it.it_value.tv_sec = timeout_s;
	/* repeats, in case the first expiry came before flock() started */
	it.it_interval.tv_usec = 100000;
	setitimer(ITIMER_REAL, &it, &itold);
	r = flock(fd, LOCK_SH);
	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);
	sigaction(SIGALRM, &old, NULL);
	return r;
}

int daemon_stop(const char *statedir, const char *prog, unsigned timeout_s)
{
	char path[PATH_MAX], name[PATH_MAX], txt[32];
	struct admin_result res;
	pid_t pid = 0;
	int fd, r, st = 1;

	if (timeout_s == 0)
		timeout_s = DAEMON_DEFAULT_SHUTDOWN_TIMEOUT;
	log_set_ident(prog);
	snprintf(name, sizeof(name), "%s.pid", prog);
	if (path_join(path, sizeof(path), statedir, name) != 0)
		return 1;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || flock(fd, LOCK_SH | LOCK_NB) == 0) {
		if (fd >= 0)
			close(fd);
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
		if (pid <= 0 || kill(pid, SIGTERM) != 0) {
			log_error("cannot signal pid %ld: %s", (long)pid, strerror(errno));
			goto out;
		}
	}
	if (wait_unlocked(fd, timeout_s) != 0) {
		log_error("%s (pid %ld) did not stop within %u s", prog, (long)pid, timeout_s);
		goto out;
	}
	printf("%s stopped\n", prog);
	st = 0;
out:
	close(fd);
	return st;
}
