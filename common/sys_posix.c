/* sys_posix.c - sys.h for Linux and other POSIX systems. */
#include "common/sys.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/err.h"

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
