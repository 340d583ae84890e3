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

#include <openssl/rand.h>

#include "common/err.h"

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
	wchar_t w[MAX_PATH];

	if (wide(path, w, MAX_PATH) != 0)
		return -1;
	return _wopen(w, _O_WRONLY | _O_CREAT | _O_EXCL | _O_BINARY | _O_NOINHERIT,
		      (mode & 0200) ? _S_IREAD | _S_IWRITE : _S_IREAD);
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

int sys_mkdir(const char *path, unsigned mode)
{
	wchar_t w[MAX_PATH];

	(void)mode;
	if (wide(path, w, MAX_PATH) != 0)
		return -1;
	return _wmkdir(w);
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
		if (CreateDirectoryW(w, NULL))
			return tmpl;
		if (GetLastError() != ERROR_ALREADY_EXISTS)
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
	const char *pd = getenv("ProgramData");
	int n;

	if (pd == NULL || pd[0] == '\0')
		return PED_E_NOT_FOUND;
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
