/* sys_win.c - sys.h for Windows (mingw-w64, Windows 10 and later). Paths
 * are UTF-8 in the project and converted to UTF-16 for the W functions. */
#include "common/sys.h"

#include <errno.h>
#include <fcntl.h>
#include <direct.h>
#include <io.h>
#include <process.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <windows.h>

#include <aclapi.h>
#include <dirent.h>
#include <knownfolders.h>
#include <sddl.h>
#include <shlobj.h>

#include <openssl/rand.h>

#include "common/err.h"
#include "common/log.h"

static int make_private_dir(const wchar_t *w, bool must_be_new);
static PSECURITY_DESCRIPTOR private_sd(void);

/* UTF-8 to UTF-16 in a caller's buffer: 0 or -1 (errno ENAMETOOLONG/EINVAL). */
static int wide(const char *s, wchar_t *w, int cap)
{
	if (MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, w, cap) == 0) {
		errno = GetLastError() == ERROR_INSUFFICIENT_BUFFER ? ENAMETOOLONG : EINVAL;
		return -1;
	}
	return 0;
}

void sys_harden(void)
{
	/* no Windows Error Reporting dialog or dump of a crashed daemon */
	SetErrorMode(SEM_FAILCRITICALERRORS | SEM_NOGPFAULTERRORBOX | SEM_NOOPENFILEERRORBOX);
	_umask(077);
}

int sys_create_excl(const char *path, unsigned mode)
{
	PSECURITY_DESCRIPTOR sd;
	SECURITY_ATTRIBUTES sa = {sizeof(sa), NULL, FALSE};
	wchar_t w[MAX_PATH];
	HANDLE h;
	int fd;

	(void)mode; /* every file we create is private: the DACL says so */
	if (wide(path, w, MAX_PATH) != 0)
		return -1;
	if ((sd = private_sd()) == NULL) {
		errno = EACCES;
		return -1;
	}
	sa.lpSecurityDescriptor = sd;
	h = CreateFileW(w, GENERIC_WRITE, 0, &sa, CREATE_NEW, FILE_ATTRIBUTE_NORMAL, NULL);
	LocalFree(sd);
	if (h == INVALID_HANDLE_VALUE) {
		errno = GetLastError() == ERROR_FILE_EXISTS ? EEXIST : EACCES;
		return -1;
	}
	if ((fd = _open_osfhandle((intptr_t)h, _O_WRONLY | _O_BINARY)) < 0)
		CloseHandle(h);
	return fd;
}

int sys_open_append(const char *path)
{
	wchar_t w[MAX_PATH];

	if (wide(path, w, MAX_PATH) != 0)
		return -1;
	return _wopen(w, _O_WRONLY | _O_APPEND | _O_CREAT | _O_BINARY | _O_NOINHERIT,
		      _S_IREAD | _S_IWRITE);
}

int sys_open_read(const char *path)
{
	wchar_t w[MAX_PATH];

	if (wide(path, w, MAX_PATH) != 0)
		return -1;
	return _wopen(w, _O_RDONLY | _O_BINARY | _O_NOINHERIT);
}

int sys_fsync(int fd)
{
	return _commit(fd);
}

int sys_replace(const char *src, const char *dst, const char *dir)
{
	wchar_t ws[MAX_PATH], wd[MAX_PATH];

	(void)dir; /* MOVEFILE_WRITE_THROUGH flushes the move itself */
	if (wide(src, ws, MAX_PATH) != 0 || wide(dst, wd, MAX_PATH) != 0)
		return -1;
	if (!MoveFileExW(ws, wd, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) {
		errno = EACCES;
		return -1;
	}
	return 0;
}

long sys_pid(void)
{
	return (long)GetCurrentProcessId();
}

bool sys_pid_alive(long pid)
{
	HANDLE h = OpenProcess(SYNCHRONIZE, FALSE, (DWORD)pid);
	DWORD w;

	if (h == NULL)
		return GetLastError() == ERROR_ACCESS_DENIED; /* exists, not ours */
	w = WaitForSingleObject(h, 0);
	CloseHandle(h);
	return w == WAIT_TIMEOUT;
}

void sys_die_now(void)
{
	TerminateProcess(GetCurrentProcess(), 9);
}

bool sys_exists(const char *path)
{
	wchar_t w[MAX_PATH];

	return wide(path, w, MAX_PATH) == 0 && GetFileAttributesW(w) != INVALID_FILE_ATTRIBUTES;
}

int sys_mkdir(const char *path, unsigned mode)
{
	wchar_t w[MAX_PATH];

	DWORD a;

	(void)mode; /* every directory we make is private, as every file */
	if (wide(path, w, MAX_PATH) != 0)
		return -1;
	a = GetFileAttributesW(w); /* also a drive ("C:") */
	if (a != INVALID_FILE_ATTRIBUTES) {
		errno = EEXIST;
		return -1;
	}
	return make_private_dir(w, true);
}

char *sys_mkdtemp(char *tmpl)
{
	static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	size_t n = strlen(tmpl);
	unsigned char rnd[6];
	wchar_t w[MAX_PATH];

	if (n < 6 || strcmp(tmpl + n - 6, "XXXXXX") != 0) {
		errno = EINVAL;
		return NULL;
	}
	for (int tries = 0; tries < 100; tries++) {
		if (RAND_bytes(rnd, sizeof(rnd)) != 1)
			break;
		for (int i = 0; i < 6; i++)
			tmpl[n - 6 + i] = digits[rnd[i] % 36];
		if (wide(tmpl, w, MAX_PATH) != 0)
			return NULL;
		if (make_private_dir(w, true) == 0)
			return tmpl;
		if (errno != EEXIST)
			break;
	}
	errno = EEXIST;
	return NULL;
}

int sys_resolve_link(const char *path, char *out, size_t outlen)
{
	(void)path;
	(void)out;
	(void)outlen;
	return 0;
}

/* %ProgramData%\RemotePED\PROG (C:\ProgramData\... on a default install),
 * then \PROG.conf for the config file */
static int program_data(char *out, size_t outlen, const char *prog, bool conf)
{
	wchar_t *w = NULL;
	char pd[MAX_PATH * 3];
	int n;

	/* the known folder, not %ProgramData%: a service's environment may
	 * differ (wine gives services C:\users\Public there) */
	if (SHGetKnownFolderPath(&FOLDERID_ProgramData, 0, NULL, &w) != S_OK ||
	    WideCharToMultiByte(CP_UTF8, 0, w, -1, pd, sizeof(pd), NULL, NULL) == 0) {
		CoTaskMemFree(w);
		return PED_E_NOT_FOUND;
	}
	CoTaskMemFree(w);
	n = snprintf(out, outlen, "%s\\RemotePED\\%s%s%s%s", pd, prog, conf ? "\\" : "",
		     conf ? prog : "", conf ? ".conf" : "");
	return n < 0 || (size_t)n >= outlen ? PED_E_TOO_LONG : 0;
}

int sys_default_statedir(char *out, size_t outlen, const char *prog)
{
	return program_data(out, outlen, prog, false);
}

int sys_default_config(char *out, size_t outlen, const char *prog)
{
	return program_data(out, outlen, prog, true);
}

bool sys_local_socket_ok(void)
{
	return false;
}

int sys_local_socket_prepare(const char *path)
{
	(void)path;
	return -1;
}

int sys_local_socket_private(const char *path)
{
	(void)path;
	return -1;
}

bool sys_peer_is_us(uv_stream_t *s)
{
	(void)s;
	return false;
}

/* ---- access control: a protected DACL for the owner, Administrators and
 * SYSTEM (what mode 0700 is on POSIX) ---- */

/* The user SID of process proc, in a malloc'd TOKEN_USER; NULL on error. */
static TOKEN_USER *user_of(HANDLE proc)
{
	HANDLE tok = NULL;
	TOKEN_USER *tu = NULL;
	DWORD len = 0;

	if (!OpenProcessToken(proc, TOKEN_QUERY, &tok))
		return NULL;
	GetTokenInformation(tok, TokenUser, NULL, 0, &len);
	if (len == 0 || (tu = malloc(len)) == NULL ||
	    !GetTokenInformation(tok, TokenUser, tu, len, &len)) {
		free(tu);
		tu = NULL;
	}
	CloseHandle(tok);
	return tu;
}

/* The SID of this process's user (user_of). */
static TOKEN_USER *token_user(void)
{
	return user_of(GetCurrentProcess());
}

/* A self-relative security descriptor with the private DACL (inherited by
 * what is created inside); LocalFree it. NULL on error. */
static PSECURITY_DESCRIPTOR private_sd(void)
{
	TOKEN_USER *tu = token_user();
	PSECURITY_DESCRIPTOR sd = NULL;
	wchar_t *sid = NULL, sddl[256];

	if (tu == NULL || !ConvertSidToStringSidW(tu->User.Sid, &sid))
		goto out;
	_snwprintf(sddl, sizeof(sddl) / sizeof(sddl[0]),
		   L"D:P(A;OICI;FA;;;%ls)(A;OICI;FA;;;BA)(A;OICI;FA;;;SY)", sid);
	sddl[sizeof(sddl) / sizeof(sddl[0]) - 1] = L'\0';
	if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl, SDDL_REVISION_1, &sd,
								  NULL))
		sd = NULL;
out:
	if (sid != NULL)
		LocalFree(sid);
	free(tu);
	return sd;
}

/* Creates dir with the private DACL, or puts it on an existing one. */
static int make_private_dir(const wchar_t *w, bool must_be_new)
{
	PSECURITY_DESCRIPTOR sd = private_sd();
	SECURITY_ATTRIBUTES sa = {sizeof(sa), sd, FALSE};
	PACL dacl = NULL;
	BOOL present = FALSE, dflt = FALSE;
	int r = -1;

	if (sd == NULL) {
		errno = EACCES;
		return -1;
	}
	if (CreateDirectoryW(w, &sa)) {
		r = 0;
	} else if (GetLastError() == ERROR_ALREADY_EXISTS && !must_be_new) {
		if (GetSecurityDescriptorDacl(sd, &present, &dacl, &dflt) &&
		    SetNamedSecurityInfoW((wchar_t *)w, SE_FILE_OBJECT,
					  DACL_SECURITY_INFORMATION |
						  PROTECTED_DACL_SECURITY_INFORMATION,
					  NULL, NULL, dacl, NULL) == ERROR_SUCCESS)
			r = 0;
		else
			errno = EACCES;
	} else {
		errno = GetLastError() == ERROR_ALREADY_EXISTS ? EEXIST : ENOENT;
	}
	LocalFree(sd);
	return r;
}

int sys_private_dir(const char *dir)
{
	wchar_t w[MAX_PATH];
	DWORD a;

	if (wide(dir, w, MAX_PATH) != 0) {
		log_error("state directory %s: %s", dir, strerror(errno));
		return PED_E_IO;
	}
	a = GetFileAttributesW(w);
	if (a != INVALID_FILE_ATTRIBUTES && !(a & FILE_ATTRIBUTE_DIRECTORY)) {
		log_error("state directory %s is not a directory", dir);
		return PED_E_IO;
	}
	if (a == INVALID_FILE_ATTRIBUTES) {
		/* the missing parents first (%ProgramData%\RemotePED at the first
		 * start), private as everything we make */
		char p[MAX_PATH];
		size_t n = strlen(dir);
		if (n < sizeof(p)) {
			memcpy(p, dir, n + 1);
			for (size_t i = 3; i < n; i++) {
				if (!sys_is_sep(p[i]))
					continue;
				char c = p[i];
				p[i] = '\0';
				(void)sys_mkdir(p, 0700);
				p[i] = c;
			}
		}
	}
	/* already private: leave its DACL alone (wine maps a DACL set again on
	 * an existing directory to group and world bits) */
	if (a != INVALID_FILE_ATTRIBUTES && sys_is_private(dir))
		return 0;
	if (make_private_dir(w, false) != 0) {
		log_error("cannot create state directory %s or restrict it to its owner, "
			  "Administrators and SYSTEM: %s", dir, strerror(errno));
		return PED_E_IO;
	}
	if (!sys_is_private(dir)) {
		log_error("state directory %s admits others than its owner, Administrators "
			  "and SYSTEM; refusing", dir);
		return PED_E_IO;
	}
	return 0;
}

int sys_node_identity(const char *path, unsigned long long *ino, unsigned long long *rdev)
{
	(void)path;
	*ino = *rdev = 0;
	return -1;
}

bool sys_setgid_dir(const char *dir)
{
	(void)dir;
	return false;
}

bool sys_is_private(const char *path)
{
	PSECURITY_DESCRIPTOR sd = NULL;
	PACL dacl = NULL;
	TOKEN_USER *tu = token_user();
	wchar_t w[MAX_PATH];
	bool ok = false;

	if (tu == NULL || wide(path, w, MAX_PATH) != 0 ||
	    GetNamedSecurityInfoW(w, SE_FILE_OBJECT, DACL_SECURITY_INFORMATION, NULL, NULL, &dacl,
				  NULL, &sd) != ERROR_SUCCESS || dacl == NULL)
		goto out; /* no DACL: everyone may */
	ok = true;
	for (DWORD i = 0; ok && i < dacl->AceCount; i++) {
		ACE_HEADER *h;
		PSID sid;
		if (!GetAce(dacl, i, (void **)&h)) {
			ok = false;
			break;
		}
		if (h->AceType == ACCESS_DENIED_ACE_TYPE)
			continue;
		if (h->AceType != ACCESS_ALLOWED_ACE_TYPE) {
			ok = false;
			break;
		}
		sid = (PSID)&((ACCESS_ALLOWED_ACE *)h)->SidStart;
		ok = EqualSid(sid, tu->User.Sid) || IsWellKnownSid(sid, WinBuiltinAdministratorsSid) ||
		     IsWellKnownSid(sid, WinLocalSystemSid) || IsWellKnownSid(sid, WinCreatorOwnerSid);
	}
out:
	if (sd != NULL)
		LocalFree(sd);
	free(tu);
	return ok;
}

bool sys_is_sep(char c)
{
	return c == '/' || c == '\\';
}

const char *sys_last_sep(const char *path)
{
	const char *a = strrchr(path, '/'), *b = strrchr(path, '\\');

	return a == NULL ? b : b == NULL ? a : a > b ? a : b;
}

bool sys_path_absolute(const char *p)
{
	return (((p[0] >= 'A' && p[0] <= 'Z') || (p[0] >= 'a' && p[0] <= 'z')) && p[1] == ':' &&
		(p[2] == '\\' || p[2] == '/')) ||
	       ((p[0] == '\\' || p[0] == '/') && (p[1] == '\\' || p[1] == '/'));
}

int sys_remove_tree(const char *dir)
{
	char p[MAX_PATH];
	struct _stat st;
	struct dirent *e;
	DIR *d;
	int r = 0;

	if (_stat(dir, &st) != 0)
		return -1;
	if (!(st.st_mode & _S_IFDIR))
		return _unlink(dir);
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
	return _rmdir(dir) != 0 ? -1 : r;
}

/* ---- daemon life cycle ---- */

/* The pid file is locked past its end, so that its text stays readable. */
#define LOCK_OFFSET 0x7ffffff0u

static BOOL lock_fd(int fd, DWORD flags)
{
	OVERLAPPED ov = {0};

	ov.Offset = LOCK_OFFSET;
	return LockFileEx((HANDLE)_get_osfhandle(fd), flags, 0, 1, 0, &ov);
}

int sys_lock_take(const char *path, int *fdout)
{
	wchar_t w[MAX_PATH];
	HANDLE h;
	int fd;

	*fdout = -1;
	if (wide(path, w, MAX_PATH) != 0)
		return PED_E_IO;
	h = CreateFileW(w, GENERIC_READ | GENERIC_WRITE,
			FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL, OPEN_ALWAYS,
			FILE_ATTRIBUTE_NORMAL, NULL);
	if (h == INVALID_HANDLE_VALUE) {
		errno = EACCES;
		return PED_E_IO;
	}
	if ((fd = _open_osfhandle((intptr_t)h, _O_RDWR | _O_BINARY)) < 0) {
		CloseHandle(h);
		return PED_E_IO;
	}
	if (!lock_fd(fd, LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY)) {
		_close(fd);
		errno = EWOULDBLOCK;
		return PED_E_EXISTS;
	}
	*fdout = fd;
	return 0;
}

int sys_lock_peek(const char *path, int *fdout)
{
	wchar_t w[MAX_PATH];
	HANDLE h;
	int fd;

	*fdout = -1;
	if (wide(path, w, MAX_PATH) != 0)
		return 0;
	h = CreateFileW(w, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
			NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
	if (h == INVALID_HANDLE_VALUE)
		return 0;
	if ((fd = _open_osfhandle((intptr_t)h, _O_RDONLY | _O_BINARY)) < 0) {
		CloseHandle(h);
		return 0;
	}
	if (lock_fd(fd, LOCKFILE_FAIL_IMMEDIATELY)) {
		OVERLAPPED ov = {0};
		ov.Offset = LOCK_OFFSET;
		UnlockFileEx((HANDLE)_get_osfhandle(fd), 0, 1, 0, &ov);
		_close(fd);
		return 0;
	}
	*fdout = fd;
	return 1;
}

int sys_lock_wait(int fd, long pid, unsigned timeout_s)
{
	OVERLAPPED ov = {0};
	HANDLE h = (HANDLE)_get_osfhandle(fd), proc;
	DWORD n;
	int r = -1;

	/* the holder's process: its end is an event with a deadline */
	if (pid > 0 && (proc = OpenProcess(SYNCHRONIZE, FALSE, (DWORD)pid)) != NULL) {
		r = WaitForSingleObject(proc, timeout_s * 1000u) == WAIT_OBJECT_0 ? 0 : -1;
		CloseHandle(proc);
		_close(fd);
		return r;
	}
	ov.Offset = LOCK_OFFSET;
	ov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
	if (ov.hEvent == NULL)
		goto out;
	/* a blocking shared lock, waited for with a deadline */
	if (LockFileEx(h, 0, 0, 1, 0, &ov) ||
	    (GetLastError() == ERROR_IO_PENDING &&
	     WaitForSingleObject(ov.hEvent, timeout_s * 1000u) == WAIT_OBJECT_0 &&
	     GetOverlappedResult(h, &ov, &n, FALSE)))
		r = 0;
	else
		CancelIo(h);
	CloseHandle(ov.hEvent);
out:
	_close(fd);
	return r;
}

int sys_daemonize(int *rfd, int *wfd, long *child)
{
	*rfd = *wfd = -1;
	*child = 0;
	return PED_E_INVAL;
}

int sys_wait_line(int rfd, long child, unsigned timeout_s, char *out, size_t cap)
{
	(void)rfd;
	(void)child;
	(void)timeout_s;
	if (cap > 0)
		out[0] = '\0';
	return -1;
}

void sys_stderr_to_null(const char *prog)
{
	(void)prog;
	(void)freopen("NUL", "w", stderr);
}

/* sys_notify: sys_win_service.c (the SCM status of a service) */

int sys_terminate(long pid)
{
	(void)pid;
	errno = ENOSYS;
	return -1;
}

void sys_hygiene(int *dumpable, unsigned long long *core_limit)
{
	*dumpable = 0;
	*core_limit = 0;
}

/* No socket filter on Windows (Winsock has no SO_ATTACH_FILTER, and the
 * Windows Filtering Platform needs administrator rights and a driver-level
 * API): pedserver refuses penalised sources at accept instead, and says so
 * once in its log. */
int sys_syn_filter(uv_tcp_t *listener, const struct sys_syn_rule *rules, size_t n)
{
	(void)listener;
	(void)rules;
	(void)n;
	return PED_E_NO_SOCKET_FILTER;
}

bool sys_socket_unread(uv_handle_t *h)
{
	uv_os_fd_t fd;
	u_long n = 0;

	return uv_fileno(h, &fd) == 0 && ioctlsocket((SOCKET)fd, FIONREAD, &n) == 0 && n > 0;
}

/* ---- local IPC (hsm.sock): a named pipe per state dir ---- */

/* \\.\pipe\RemotePED-<FNV-1a 64 of path's full, lower-cased form> */
static int ipc_name(const char *path, wchar_t *out, size_t cap)
{
	wchar_t w[MAX_PATH], full[MAX_PATH];
	unsigned long long h = 1469598103934665603ULL;
	DWORD n;

	if (wide(path, w, MAX_PATH) != 0)
		return -1;
	n = GetFullPathNameW(w, MAX_PATH, full, NULL);
	if (n == 0 || n >= MAX_PATH) {
		errno = ENAMETOOLONG;
		return -1;
	}
	CharLowerW(full);
	for (wchar_t *p = full; *p != L'\0'; p++) {
		h ^= (unsigned long long)(*p == L'/' ? L'\\' : *p);
		h *= 1099511628211ULL;
	}
	_snwprintf(out, cap, L"\\\\.\\pipe\\RemotePED-%016llx", h);
	out[cap - 1] = L'\0';
	return 0;
}

int sys_ipc_bind(uv_pipe_t *srv, const char *path)
{
	wchar_t name[128];
	char utf8[256];

	if (ipc_name(path, name, 128) != 0 ||
	    WideCharToMultiByte(CP_UTF8, 0, name, -1, utf8, sizeof(utf8), NULL, NULL) == 0)
		return UV_ENAMETOOLONG;
	/* libuv creates the pipe with the default DACL: full control for the
	 * owner, Administrators and SYSTEM, read only for others */
	return uv_pipe_bind(srv, utf8);
}

void sys_ipc_unbind(const char *path)
{
	(void)path; /* a named pipe goes with its last handle */
}

/* The user SID of process pid, in a malloc'd TOKEN_USER; NULL on error. */
static TOKEN_USER *process_user(DWORD pid)
{
	HANDLE proc;
	TOKEN_USER *tu;

	if ((proc = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid)) == NULL)
		return NULL;
	tu = user_of(proc);
	CloseHandle(proc);
	return tu;
}

bool sys_ipc_peer_ok(uv_pipe_t *p)
{
	TOKEN_USER *me = token_user(), *peer = NULL;
	uv_os_fd_t h;
	ULONG pid = 0;
	bool ok = false;

	if (me != NULL && uv_fileno((uv_handle_t *)p, &h) == 0 &&
	    GetNamedPipeClientProcessId(h, &pid) && (peer = process_user(pid)) != NULL)
		ok = EqualSid(peer->User.Sid, me->User.Sid) ||
		     IsWellKnownSid(peer->User.Sid, WinLocalSystemSid);
	free(peer);
	free(me);
	return ok;
}

int sys_ipc_connect(const char *path)
{
	wchar_t name[128];
	HANDLE h;
	int fd;

	if (ipc_name(path, name, 128) != 0)
		return -1;
	for (int tries = 0;; tries++) {
		h = CreateFileW(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
		if (h != INVALID_HANDLE_VALUE)
			break;
		/* every instance busy: wait (bounded) for one, once */
		if (GetLastError() != ERROR_PIPE_BUSY || tries > 0 || !WaitNamedPipeW(name, 5000)) {
			DWORD e = GetLastError();
			errno = e == ERROR_FILE_NOT_FOUND ? ENOENT
				: e == ERROR_ACCESS_DENIED ? EACCES : ECONNREFUSED;
			return -1;
		}
	}
	if ((fd = _open_osfhandle((intptr_t)h, _O_RDWR | _O_BINARY)) < 0)
		CloseHandle(h);
	return fd;
}

int sys_lock_exclusive(const char *path, bool nonblock, unsigned timeout_s)
{
	PSECURITY_DESCRIPTOR sd = private_sd();
	SECURITY_ATTRIBUTES sa = {sizeof(sa), sd, FALSE};
	OVERLAPPED ov = {0};
	wchar_t w[MAX_PATH];
	HANDLE h;
	DWORD n;
	int fd, r = PED_E_IO;

	if (sd == NULL || wide(path, w, MAX_PATH) != 0) {
		if (sd != NULL)
			LocalFree(sd);
		return PED_E_IO;
	}
	/* overlapped, so that a blocking lock can be waited for with a deadline */
	h = CreateFileW(w, GENERIC_READ | GENERIC_WRITE,
			FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, &sa, OPEN_ALWAYS,
			FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OVERLAPPED, NULL);
	LocalFree(sd);
	if (h == INVALID_HANDLE_VALUE)
		return PED_E_IO;
	ov.Offset = LOCK_OFFSET;
	if ((ov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL)) == NULL)
		goto fail;
	if (LockFileEx(h, LOCKFILE_EXCLUSIVE_LOCK | (nonblock ? LOCKFILE_FAIL_IMMEDIATELY : 0), 0,
		       1, 0, &ov)) {
		r = 0;
	} else if (GetLastError() == ERROR_IO_PENDING && !nonblock) {
		if (WaitForSingleObject(ov.hEvent, (timeout_s > 0 ? timeout_s : 1) * 1000u) ==
			    WAIT_OBJECT_0 &&
		    GetOverlappedResult(h, &ov, &n, FALSE))
			r = 0;
		else
			CancelIo(h);
	}
	if (r != 0 && (GetLastError() == ERROR_LOCK_VIOLATION || GetLastError() == ERROR_IO_PENDING ||
		       !nonblock))
		r = PED_E_EXISTS;
	CloseHandle(ov.hEvent);
	if (r != 0)
		goto fail;
	if ((fd = _open_osfhandle((intptr_t)h, _O_RDWR | _O_BINARY)) < 0)
		goto fail;
	return fd;
fail:
	CloseHandle(h);
	return r != 0 ? r : PED_E_IO;
}
