/* sys_posix.c - sys.h for Linux and other POSIX systems. */
#include "common/sys.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <poll.h>
#include <stddef.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/filter.h>
#endif

#include "common/err.h"
#include "common/log.h"

void sys_harden(void)
{
	struct rlimit rl = {0, 0};

	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	(void)setrlimit(RLIMIT_CORE, &rl);
	umask(077);
	signal(SIGPIPE, SIG_IGN);
}

int sys_create_excl(const char *path, unsigned mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, (mode_t)mode);
	int e;

	/* the mode asked for, whatever the umask */
	if (fd >= 0 && fchmod(fd, (mode_t)mode) != 0) {
		e = errno;
		close(fd);
		(void)unlink(path);
		errno = e;
		return -1;
	}
	return fd;
}

int sys_open_append(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, 0600);
}

int sys_open_read(const char *path)
{
	return open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
}

int sys_fsync(int fd)
{
	return fsync(fd);
}

int sys_replace(const char *src, const char *dst, const char *dir)
{
	int dfd, r;

	if (rename(src, dst) != 0)
		return -1;
	if (dir == NULL)
		return 0;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	r = fsync(dfd);
	close(dfd);
	return r;
}

long sys_pid(void)
{
	return (long)getpid();
}

bool sys_pid_alive(long pid)
{
	return !(kill((pid_t)pid, 0) < 0 && errno == ESRCH);
}

void sys_die_now(void)
{
	raise(SIGKILL);
}

int sys_mkdir(const char *path, unsigned mode)
{
	return mkdir(path, (mode_t)mode);
}

int sys_node_identity(const char *path, unsigned long long *ino, unsigned long long *rdev)
{
	struct stat l, t;

	if (lstat(path, &l) != 0 || stat(path, &t) != 0)
		return -1;
	*ino = (unsigned long long)l.st_ino;
	*rdev = (unsigned long long)t.st_rdev;
	return 0;
}

bool sys_setgid_dir(const char *dir)
{
	struct stat st;

	return stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & S_ISGID);
}

bool sys_is_private(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0 || st.st_uid != geteuid())
		return false;
	return S_ISDIR(st.st_mode) ? (st.st_mode & 077) == 0 : (st.st_mode & 07777) == 0600;
}

int sys_remove_tree(const char *dir)
{
	char p[PATH_MAX];
	struct dirent *e;
	struct stat st;
	DIR *d;
	int r = 0;

	if (lstat(dir, &st) != 0)
		return -1;
	if (!S_ISDIR(st.st_mode))
		return unlink(dir);
	if ((d = opendir(dir)) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (snprintf(p, sizeof(p), "%s/%s", dir, e->d_name) >= (int)sizeof(p) ||
		    sys_remove_tree(p) != 0)
			r = -1;
	}
	closedir(d);
	return rmdir(dir) != 0 ? -1 : r;
}

char *sys_mkdtemp(char *tmpl)
{
	return mkdtemp(tmpl);
}

int sys_resolve_link(const char *path, char *out, size_t outlen)
{
	char real[PATH_MAX];
	struct stat st;
	size_t n;

	if (lstat(path, &st) != 0 || !S_ISLNK(st.st_mode))
		return 0;
	if (realpath(path, real) == NULL)
		return -1;
	if ((n = strlen(real)) >= outlen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(out, real, n + 1);
	return 1;
}

/* $HOME, else the passwd entry's home directory; NULL if none */
static const char *home_dir(void)
{
	const char *home = getenv("HOME");
	struct passwd *pw;

	if (home != NULL && home[0] == '/')
		return home;
	pw = getpwuid(geteuid());
	return pw != NULL && pw->pw_dir != NULL && pw->pw_dir[0] != '\0' ? pw->pw_dir : NULL;
}

static int fit(int n, size_t outlen)
{
	return n < 0 || (size_t)n >= outlen ? PED_E_TOO_LONG : 0;
}

int sys_default_statedir(char *out, size_t outlen, const char *prog)
{
	const char *x = getenv("XDG_STATE_HOME"), *home;

	if (geteuid() == 0)
		return fit(snprintf(out, outlen, "/var/lib/%s", prog), outlen);
	if (x != NULL && x[0] == '/')
		return fit(snprintf(out, outlen, "%s/%s", x, prog), outlen);
	if ((home = home_dir()) == NULL)
		return PED_E_NOT_FOUND;
	return fit(snprintf(out, outlen, "%s/.local/state/%s", home, prog), outlen);
}

int sys_default_config(char *out, size_t outlen, const char *prog)
{
	const char *x = getenv("XDG_CONFIG_HOME"), *home;

	if (geteuid() == 0)
		return fit(snprintf(out, outlen, "/etc/%s/%s.conf", prog, prog), outlen);
	if (x != NULL && x[0] == '/')
		return fit(snprintf(out, outlen, "%s/%s/%s.conf", x, prog, prog), outlen);
	if ((home = home_dir()) == NULL)
		return PED_E_NOT_FOUND;
	return fit(snprintf(out, outlen, "%s/.config/%s/%s.conf", home, prog, prog), outlen);
}

bool sys_local_socket_ok(void)
{
	return true;
}

bool sys_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

int sys_local_socket_prepare(const char *path)
{
	struct stat st;

	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return -1;
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		(void)unlink(path);
	return 0;
}

int sys_local_socket_private(const char *path)
{
	return chmod(path, 0600);
}

bool sys_peer_is_us(uv_stream_t *s)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	uv_os_fd_t fd;

	return uv_fileno((uv_handle_t *)s, &fd) == 0 &&
	       getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0 && cr.uid == geteuid();
}

/* ---- daemon life cycle ---- */

int sys_private_dir(const char *dir)
{
	struct stat st;

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

bool sys_path_absolute(const char *path)
{
	return path[0] == '/';
}

int sys_lock_take(const char *path, int *fdout)
{
	struct stat a, b;
	int fd, tries, e;

	*fdout = -1;
	for (tries = 0; tries < 5; tries++) {
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			return PED_E_IO;
		if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
			e = errno;
			close(fd);
			errno = e;
			return e == EWOULDBLOCK ? PED_E_EXISTS : PED_E_IO;
		}
		/* the previous holder may have unlinked the file meanwhile */
		if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
		    a.st_dev == b.st_dev) {
			*fdout = fd;
			return 0;
		}
		close(fd);
	}
	errno = EAGAIN;
	return PED_E_IO;
}

int sys_lock_peek(const char *path, int *fdout)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	*fdout = -1;
	if (fd < 0)
		return 0;
	if (flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
		*fdout = fd;
		return 1;
	}
	close(fd);
	return 0;
}

static void on_alarm(int sig)
{
	(void)sig;
}

int sys_lock_wait(int fd, long pid, unsigned timeout_s)
{
	struct sigaction sa, old;
	struct itimerval it, itold;
	int r;

	(void)pid; /* the lock itself: the holder may be a child of pid */
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
	close(fd);
	return r == 0 ? 0 : -1;
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

int sys_daemonize(int *rfd, int *wfd, long *childout)
{
	int pfd[2] = {-1, -1};
	pid_t child;

	*rfd = *wfd = -1;
	*childout = 0;
	fflush(NULL);
	if (pipe2(pfd, O_CLOEXEC) != 0 || (child = fork()) < 0) {
		int e = errno;
		if (pfd[0] >= 0) {
			close(pfd[0]);
			close(pfd[1]);
		}
		errno = e;
		return PED_E_IO;
	}
	if (child > 0) {
		close(pfd[1]);
		*rfd = pfd[0];
		*childout = (long)child;
		return 1;
	}
	/* first child: new session, then the daemon as its child, so that it
	 * is not a session leader and never gets a controlling terminal */
	close(pfd[0]);
	if (setsid() < 0)
		_exit(1);
	child = fork();
	if (child < 0)
		_exit(1);
	if (child > 0)
		_exit(0);
	*wfd = pfd[1];
	if (redirect_std() != 0)
		log_warning("cannot open /dev/null: %s", strerror(errno));
	return 0;
}

int sys_wait_line(int rfd, long child, unsigned timeout_s, char *msg, size_t cap)
{
	size_t len = 0;
	struct pollfd p = {.fd = rfd, .events = POLLIN};
	struct timespec t0, t;
	long long left;
	int status;

	/* the first child exits as soon as it has forked the daemon */
	while (waitpid((pid_t)child, &status, 0) < 0 && errno == EINTR)
		;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		ssize_t n;
		clock_gettime(CLOCK_MONOTONIC, &t);
		left = (long long)timeout_s * 1000 - ((t.tv_sec - t0.tv_sec) * 1000LL +
						      (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0)
			return -1;
		n = poll(&p, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			continue;
		n = read(rfd, msg + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n > 0) {
			len += (size_t)n;
			if (len < cap - 1 && memchr(msg, '\n', len) == NULL)
				continue;
		}
		break;
	}
	msg[len] = '\0';
	if (len > 0 && msg[len - 1] == '\n')
		msg[--len] = '\0';
	return 0;
}

void sys_stderr_to_null(const char *prog)
{
	const char *dir = getenv("PED_DEBUG_STDERR_DIR");
	char path[PATH_MAX];
	int fd = -1;

	if (dir != NULL && dir[0] == '/' &&
	    snprintf(path, sizeof(path), "%s/%s.%ld.stderr", dir, prog, (long)getpid()) <
		    (int)sizeof(path))
		fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
}

int sys_notify(const char *msg)
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

int sys_terminate(long pid)
{
	return pid > 0 ? kill((pid_t)pid, SIGTERM) : -1;
}

void sys_hygiene(int *dumpable, unsigned long long *core_limit)
{
	struct rlimit rl;

	*dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
	*core_limit = getrlimit(RLIMIT_CORE, &rl) == 0 ? (unsigned long long)rl.rlim_cur
						       : ~0ULL;
}

bool sys_socket_unread(uv_handle_t *h)
{
	uv_os_fd_t fd;
	int n = 0;

	return uv_fileno(h, &fd) == 0 && ioctl(fd, FIONREAD, &n) == 0 && n > 0;
}

/* ---- the kernel's filter of new connections ---- */

#ifdef __linux__
/* The classic BPF program of sys_syn_filter. A TCP socket's filter runs in
 * tcp_v4_rcv / tcp_v6_rcv (tcp_filter) before a listener makes a request
 * socket for a SYN; the packet it sees starts at the TCP header (the flags
 * are byte 13) and the IP header is reached below SKF_NET_OFF:
 *     ldb [13]; and #SYN|ACK; jeq #SYN, judge, pass     only pure SYNs
 *     ldb [net 0]; rsh #4; jeq #4, v4, v6               the IP version
 *   v4: per rule: ld [net 12]; (and #mask;) jeq #addr, 0, next; ret verdict
 *       ret pass
 *   v6: jeq #6, 0, pass
 *       per rule, per word w of its prefix: ld [net 8+4w]; (and #mask;)
 *       jeq #word, 0, next; ... ret verdict
 *       ret pass
 * Every conditional jump is short (within a rule, <= 12), so the 8-bit jump
 * offsets of classic BPF suffice however many rules there are. */
#define TCP_SYN 0x02
#define TCP_ACK 0x10
#define PASS 0xffffffffu

static bool rule_v4(const struct sys_syn_rule *r)
{
	static const unsigned char m[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	return r->bits >= 96 && memcmp(r->addr, m, sizeof(m)) == 0;
}

/* Emits rule r into f at *at (f NULL: counts only); returns its length. */
static unsigned emit_rule(struct sock_filter *f, unsigned at, const struct sys_syn_rule *r)
{
	bool v4 = rule_v4(r);
	unsigned bits = r->bits > 128 ? 128 : r->bits;
	unsigned first = v4 ? 3 : 0, last = (bits + 31) / 32, len = 1, p = 0;

	for (unsigned w = first; w < last; w++)
		len += bits >= 32 * (w + 1) ? 2 : 3;
	if (f == NULL)
		return len;
	for (unsigned w = first; w < last; w++) {
		uint32_t word = (uint32_t)r->addr[4 * w] << 24 | (uint32_t)r->addr[4 * w + 1] << 16 |
				(uint32_t)r->addr[4 * w + 2] << 8 | r->addr[4 * w + 3];
		unsigned keep = bits >= 32 * (w + 1) ? 32 : bits - 32 * w;
		uint32_t mask = keep == 32 ? 0xffffffffu : ~(0xffffffffu >> keep);

		f[at + p++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
							  (uint32_t)SKF_NET_OFF + (v4 ? 12 : 8) +
								  4 * (w - first));
		if (keep < 32)
			f[at + p++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_AND | BPF_K, mask);
		f[at + p] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, word & mask, 0,
							 (uint8_t)(len - 1 - p));
		p++;
	}
	f[at + p] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, r->drop ? 0 : PASS);
	return len;
}

int sys_syn_filter(uv_tcp_t *listener, const struct sys_syn_rule *rules, size_t n)
{
	static struct sock_filter f[SYS_SYN_FILTER_MAX_INSNS]; /* the loop's thread only */
	struct sock_fprog prog = {.filter = f};
	const unsigned head = 8, v6head = 2, tails = 2;
	unsigned used = head + v6head + tails, at, v6start, taken = 0;
	uv_os_fd_t fd;

	if (uv_fileno((uv_handle_t *)listener, &fd) != 0) {
		errno = EBADF;
		return PED_E_IO;
	}
	if (n == 0) { /* the kernel wants an int's worth of option, unused */
		int unused = 0;

		if (setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &unused, sizeof(unused)) != 0 &&
		    errno != ENOENT)
			return PED_E_IO;
		return 0;
	}
	while (taken < n && used + emit_rule(NULL, 0, &rules[taken]) <= SYS_SYN_FILTER_MAX_INSNS)
		used += emit_rule(NULL, 0, &rules[taken++]);
	at = head;
	for (unsigned i = 0; i < taken; i++)
		if (rule_v4(&rules[i]))
			at += emit_rule(f, at, &rules[i]);
	f[at++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, PASS);
	v6start = at;
	f[at++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 6, 1, 0);
	f[at++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, PASS);
	for (unsigned i = 0; i < taken; i++)
		if (!rule_v4(&rules[i]))
			at += emit_rule(f, at, &rules[i]);
	f[at++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, PASS);
	f[0] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 13);
	f[1] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_AND | BPF_K, TCP_SYN | TCP_ACK);
	f[2] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TCP_SYN, 1, 0);
	f[3] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, PASS);
	f[4] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_B | BPF_ABS, (uint32_t)SKF_NET_OFF);
	f[5] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 4);
	f[6] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 4, 1, 0);
	f[7] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JA, v6start - 8, 0, 0);
	prog.len = (unsigned short)at;
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) != 0)
		return PED_E_IO;
	return (int)taken;
}
#else
int sys_syn_filter(uv_tcp_t *listener, const struct sys_syn_rule *rules, size_t n)
{
	(void)listener;
	(void)rules;
	(void)n;
	return PED_E_NO_SOCKET_FILTER;
}
#endif

/* ---- Windows services: none here ---- */

int sys_service_run(const char *prog, const char *statedir, int (*body)(void *), void *arg)
{
	(void)prog;
	(void)statedir;
	(void)body;
	(void)arg;
	return PED_E_WINDOWS_ONLY;
}

void sys_service_on_stop(void (*fn)(void *), void *arg)
{
	(void)fn;
	(void)arg;
}

static int windows_only(char *err, size_t errlen)
{
	snprintf(err, errlen, "%s", ped_strerror(PED_E_WINDOWS_ONLY));
	return PED_E_WINDOWS_ONLY;
}

int sys_service_install(const char *prog, const char *display, const char *args, char *err,
			size_t errlen)
{
	(void)prog;
	(void)display;
	(void)args;
	return windows_only(err, errlen);
}

int sys_service_recovery(const char *prog, char *err, size_t errlen)
{
	(void)prog;
	return windows_only(err, errlen);
}

int sys_service_uninstall(const char *prog, unsigned timeout_s, char *err, size_t errlen)
{
	(void)prog;
	(void)timeout_s;
	return windows_only(err, errlen);
}

/* ---- local IPC (hsm.sock) ---- */

int sys_ipc_bind(uv_pipe_t *srv, const char *path)
{
	mode_t old;
	int r;

	unlink(path); /* a stale socket of a dead daemon (its pid lock is ours) */
	old = umask(077);
	r = uv_pipe_bind(srv, path);
	umask(old);
	if (r == 0 && chmod(path, 0600) != 0)
		r = UV_EPERM;
	return r;
}

void sys_ipc_unbind(const char *path)
{
	unlink(path);
}

bool sys_ipc_peer_ok(uv_pipe_t *p)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	uv_os_fd_t fd;

	if (uv_fileno((uv_handle_t *)p, &fd) != 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0)
		return false;
	return cr.uid == geteuid() || cr.uid == 0;
}

int sys_ipc_connect(const char *path)
{
	struct sockaddr_un a;
	int fd;

	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(a.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(a.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int sys_lock_exclusive(const char *path, bool nonblock, unsigned timeout_s)
{
	struct sigaction sa, old;
	int fd, r, e;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return PED_E_IO;
	if (nonblock) {
		r = flock(fd, LOCK_EX | LOCK_NB);
		e = errno;
	} else {
		/* A blocking flock bounded by an alarm (no SA_RESTART: EINTR). */
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_alarm;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGALRM, &sa, &old);
		alarm(timeout_s > 0 ? timeout_s : 1);
		r = flock(fd, LOCK_EX);
		e = errno;
		alarm(0);
		sigaction(SIGALRM, &old, NULL);
	}
	if (r != 0) {
		close(fd);
		return e == EWOULDBLOCK || e == EINTR ? PED_E_EXISTS : PED_E_IO;
	}
	return fd;
}

bool sys_is_sep(char c)
{
	return c == '/';
}

const char *sys_last_sep(const char *path)
{
	return strrchr(path, '/');
}
