/* sys_win_service.c - the Windows service side of sys.h: ServiceMain and the
 * status reported to the service control manager (SCM), the stop control,
 * install / uninstall with recovery actions, and the event log.
 *
 * Threads: the SCM's control dispatcher runs on the main thread (inside
 * sys_service_run) and calls handler(); ServiceMain runs the daemon on a
 * thread of its own. What both touch (the status, the stop callback) is
 * under one lock; the daemon is woken with its own uv_async_send. */
#include "common/sys.h"

#include <errno.h>
#include <fcntl.h>
#include <io.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include <windows.h>

#include "common/err.h"
#include "common/log.h"

#define PULSE_MS 1000           /* checkpoint while starting or stopping */
#define WAIT_HINT_MS 3000       /* more than PULSE_MS: the SCM sees progress */
#define RESTART_DELAY_MS 5000   /* recovery: restart after 5 s, twice */
#define RESET_PERIOD_S 86400    /* the failure count is reset after a day */
#define EVENT_KEY L"SYSTEM\\CurrentControlSet\\Services\\EventLog\\Application\\"

static SRWLOCK lock = SRWLOCK_INIT;
static struct {
	wchar_t name[64];
	char prog[64];
	const char *statedir;
	char transcript[MAX_PATH];
	int (*body)(void *);
	void *arg;
	int status;
	bool active;                /* ServiceMain is running */
	SERVICE_STATUS_HANDLE h;
	SERVICE_STATUS st;
	HANDLE events;              /* event log source, or NULL */
	void (*on_stop)(void *);
	void *stop_arg;
	bool stop_asked;
	HANDLE pulse_end, pulse;
} S;

/* UTF-8 to UTF-16 (cap in wchar_t): 0 or -1. */
static int wide(const char *s, wchar_t *w, int cap)
{
	return MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, w, cap) == 0 ? -1 : 0;
}

/* The system's text for a Windows error code, on one line. */
static void win_error(char *out, size_t cap, DWORD code)
{
	size_t n;

	if (FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, code,
			   0, out, (DWORD)cap, NULL) == 0)
		snprintf(out, cap, "Windows error %lu", (unsigned long)code);
	n = strlen(out);
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' ' ||
			 out[n - 1] == '.'))
		out[--n] = '\0';
}

static void report_event(WORD type, const char *fmt, ...) PED_PRINTF(2, 3);
static void report_event(WORD type, const char *fmt, ...)
{
	char msg[1024];
	wchar_t w[1024];
	const wchar_t *strs[1] = {w};
	va_list ap;

	if (S.events == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (wide(msg, w, 1024) == 0)
		ReportEventW(S.events, type, 0, 1, NULL, 1, 0, strs, NULL);
}

/* Sets the state (lock held): pending states carry a checkpoint and a wait
 * hint; only RUNNING accepts STOP and SHUTDOWN. */
static void set_state_locked(DWORD state)
{
	bool pending = state == SERVICE_START_PENDING || state == SERVICE_STOP_PENDING;

	if (S.h == NULL)
		return;
	if (S.st.dwCurrentState != state)
		S.st.dwCheckPoint = 0;
	S.st.dwCurrentState = state;
	S.st.dwControlsAccepted =
		state == SERVICE_RUNNING ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN : 0;
	S.st.dwCheckPoint = pending ? S.st.dwCheckPoint + 1 : 0;
	S.st.dwWaitHint = pending ? WAIT_HINT_MS : 0;
	SetServiceStatus(S.h, &S.st);
}

static void set_state(DWORD state)
{
	AcquireSRWLockExclusive(&lock);
	set_state_locked(state);
	ReleaseSRWLockExclusive(&lock);
}

/* While starting or stopping, the checkpoint advances every PULSE_MS: the
 * daemon bounds both itself (the PED's HELLO timeout at start, the
 * InternalShutdownTimeout deadline at stop), so the SCM is not told a hung
 * service is alive for longer than those. */
static DWORD WINAPI pulse(void *arg)
{
	(void)arg;
	while (WaitForSingleObject(S.pulse_end, PULSE_MS) == WAIT_TIMEOUT) {
		AcquireSRWLockExclusive(&lock);
		if (S.st.dwCurrentState == SERVICE_START_PENDING ||
		    S.st.dwCurrentState == SERVICE_STOP_PENDING)
			set_state_locked(S.st.dwCurrentState);
		ReleaseSRWLockExclusive(&lock);
	}
	return 0;
}

static DWORD WINAPI handler(DWORD ctrl, DWORD type, void *data, void *ctx)
{
	(void)type;
	(void)data;
	(void)ctx;
	if (ctrl == SERVICE_CONTROL_INTERROGATE)
		return NO_ERROR;
	if (ctrl != SERVICE_CONTROL_STOP && ctrl != SERVICE_CONTROL_SHUTDOWN)
		return ERROR_CALL_NOT_IMPLEMENTED;
	AcquireSRWLockExclusive(&lock);
	if (!S.stop_asked) {
		S.stop_asked = true;
		set_state_locked(SERVICE_STOP_PENDING);
		if (S.on_stop != NULL)
			S.on_stop(S.stop_arg);
	}
	ReleaseSRWLockExclusive(&lock);
	return NO_ERROR;
}

void sys_service_on_stop(void (*fn)(void *), void *arg)
{
	AcquireSRWLockExclusive(&lock);
	S.on_stop = fn;
	S.stop_arg = arg;
	if (fn != NULL && S.stop_asked)
		fn(arg);
	ReleaseSRWLockExclusive(&lock);
}

/* sd_notify's words, as far as the SCM has them. */
int sys_notify(const char *msg)
{
	if (!S.active)
		return 0;
	if (strstr(msg, "READY=1") != NULL) {
		const char *st = strstr(msg, "STATUS=");
		set_state(SERVICE_RUNNING);
		report_event(EVENTLOG_INFORMATION_TYPE, "%s service running%s%s", S.prog,
			     st != NULL ? ": " : "", st != NULL ? st + 7 : "");
	} else if (strstr(msg, "STOPPING=1") != NULL) {
		set_state(SERVICE_STOP_PENDING);
	}
	return 0;
}

/* The last non-empty line of the transcript (what the program said last
 * before it failed), for the event log. */
static void last_line(char *out, size_t cap)
{
	char buf[4096];
	int fd, n;
	char *end, *start;

	out[0] = '\0';
	if (S.transcript[0] == '\0' || (fd = sys_open_read(S.transcript)) < 0)
		return;
	if (_lseeki64(fd, 0, SEEK_END) > (long long)sizeof(buf) - 1)
		_lseeki64(fd, -(long long)sizeof(buf) + 1, SEEK_END);
	else
		_lseeki64(fd, 0, SEEK_SET);
	n = _read(fd, buf, sizeof(buf) - 1);
	_close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	end = buf + n;
	while (end > buf && (end[-1] == '\n' || end[-1] == '\r'))
		*--end = '\0';
	start = strrchr(buf, '\n');
	snprintf(out, cap, "%s", start != NULL ? start + 1 : buf);
}

static void WINAPI service_main(DWORD argc, wchar_t **argv)
{
	char why[1024];
	int fd;

	(void)argc;
	(void)argv;
	S.h = RegisterServiceCtrlHandlerExW(S.name, handler, NULL);
	if (S.h == NULL) {
		S.status = 1;
		return;
	}
	S.st.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
	set_state(SERVICE_START_PENDING);
	S.active = true;
	S.events = RegisterEventSourceW(NULL, S.name);
	/* a service has no console: what it prints goes to the transcript, in
	 * the state dir (made private first, as start would) */
	sys_harden(); /* umask 077 before anything is created */
	if (S.statedir != NULL && sys_private_dir(S.statedir) != 0)
		S.transcript[0] = '\0';
	if (S.transcript[0] != '\0' && (fd = sys_open_append(S.transcript)) >= 0) {
		/* descriptor 2 (log.c writes there) and the stderr stream on it */
		_chsize(fd, 0);
		if (fd != 2) { /* 2 is free when the SCM gave us no stderr */
			_dup2(fd, 2);
			_close(fd);
		}
		SetStdHandle(STD_ERROR_HANDLE, (HANDLE)_get_osfhandle(2));
		/* msvcrt marks the streams of a process started without standard
		 * handles with descriptor -2 (_NO_CONSOLE_FILENO) and freopen
		 * cannot reopen them: point the stream at descriptor 2 */
		if (_fileno(stderr) < 0)
			stderr->_file = 2;
		setvbuf(stderr, NULL, _IONBF, 0);
	}
	S.pulse_end = CreateEventW(NULL, TRUE, FALSE, NULL);
	if (S.pulse_end != NULL)
		S.pulse = CreateThread(NULL, 0, pulse, NULL, 0, NULL);

	S.status = S.body(S.arg);

	if (S.pulse != NULL) {
		SetEvent(S.pulse_end);
		WaitForSingleObject(S.pulse, INFINITE);
		CloseHandle(S.pulse);
	}
	if (S.pulse_end != NULL)
		CloseHandle(S.pulse_end);
	fflush(stderr);
	if (S.status != 0) {
		last_line(why, sizeof(why));
		report_event(EVENTLOG_ERROR_TYPE, "%s service stopped with status %d%s%s", S.prog,
			     S.status, why[0] ? ": " : "", why);
	} else {
		report_event(EVENTLOG_INFORMATION_TYPE, "%s service stopped", S.prog);
	}
	if (S.events != NULL)
		DeregisterEventSource(S.events);
	AcquireSRWLockExclusive(&lock);
	S.active = false;
	S.on_stop = NULL;
	S.st.dwWin32ExitCode = S.status != 0 ? ERROR_SERVICE_SPECIFIC_ERROR : NO_ERROR;
	S.st.dwServiceSpecificExitCode = (DWORD)S.status;
	set_state_locked(SERVICE_STOPPED);
	ReleaseSRWLockExclusive(&lock);
}

int sys_service_run(const char *prog, const char *statedir, int (*body)(void *), void *arg)
{
	SERVICE_TABLE_ENTRYW table[2] = {{S.name, service_main}, {NULL, NULL}};
	char why[256];
	int n;

	snprintf(S.prog, sizeof(S.prog), "%s", prog);
	if (wide(prog, S.name, 64) != 0)
		return 1;
	n = statedir != NULL ? snprintf(S.transcript, sizeof(S.transcript), "%s/%s-service.log",
					statedir, prog)
			     : -1;
	if (n < 0 || (size_t)n >= sizeof(S.transcript))
		S.transcript[0] = '\0';
	S.statedir = statedir;
	S.body = body;
	S.arg = arg;
	S.status = 1;
	if (!StartServiceCtrlDispatcherW(table)) {
		DWORD e = GetLastError();
		win_error(why, sizeof(why), e);
		if (e == ERROR_FAILED_SERVICE_CONTROLLER_CONNECT)
			fprintf(stderr, "%s: -winservice: not started by the service control manager "
					"(install it with -mode install, start it with net start %s)\n",
				prog, prog);
		else
			fprintf(stderr, "%s: -winservice: %s\n", prog, why);
		return 1;
	}
	return S.status;
}

/* ---- install / uninstall ---- */

static int scm_fail(char *err, size_t errlen, const char *what, const char *prog, int code)
{
	char why[256];

	win_error(why, sizeof(why), GetLastError());
	snprintf(err, errlen, "%s %s: %s", what, prog, why);
	return code;
}

/* Restart after 5 s, twice, the count reset after a day; also when the
 * service stops with a non-zero status (the failure-actions flag). */
static int set_recovery(SC_HANDLE svc, const char *prog, char *err, size_t errlen)
{
	SC_ACTION acts[3] = {{SC_ACTION_RESTART, RESTART_DELAY_MS},
			     {SC_ACTION_RESTART, RESTART_DELAY_MS},
			     {SC_ACTION_NONE, 0}};
	SERVICE_FAILURE_ACTIONSW fa = {RESET_PERIOD_S, NULL, NULL, 3, acts};
	SERVICE_FAILURE_ACTIONS_FLAG ff = {TRUE};

	if (!ChangeServiceConfig2W(svc, SERVICE_CONFIG_FAILURE_ACTIONS, &fa))
		return scm_fail(err, errlen, "cannot set the recovery actions of", prog,
				PED_E_SERVICE_FAILED);
	/* wine 8 does not know this level: said, not fatal */
	if (!ChangeServiceConfig2W(svc, SERVICE_CONFIG_FAILURE_ACTIONS_FLAG, &ff)) {
		if (GetLastError() != ERROR_INVALID_LEVEL)
			return scm_fail(err, errlen, "cannot set the failure-actions flag of", prog,
					PED_E_SERVICE_FAILED);
		log_warning("this service manager has no failure-actions flag: %s is restarted "
			    "after a crash only, not after a failed start", prog);
	}
	return 0;
}

/* Opens the installed service prog with access: 0 with *scm and *svc, or
 * PED_E_TOO_LONG / PED_E_SERVICE_NOT_INSTALLED / PED_E_SERVICE_FAILED with
 * nothing left open. */
static int open_service(const char *prog, DWORD access, SC_HANDLE *scm, SC_HANDLE *svc, char *err,
			size_t errlen)
{
	wchar_t name[64];
	int r = PED_E_SERVICE_FAILED;

	*scm = *svc = NULL;
	if (wide(prog, name, 64) != 0) {
		snprintf(err, errlen, "service name too long");
		return PED_E_TOO_LONG;
	}
	if ((*scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT)) == NULL)
		return scm_fail(err, errlen, "cannot open the service control manager for", prog, r);
	if ((*svc = OpenServiceW(*scm, name, access)) == NULL) {
		r = scm_fail(err, errlen, "cannot open the service", prog,
			     GetLastError() == ERROR_SERVICE_DOES_NOT_EXIST
				     ? PED_E_SERVICE_NOT_INSTALLED : r);
		CloseServiceHandle(*scm);
		*scm = NULL;
		return r;
	}
	return 0;
}

int sys_service_recovery(const char *prog, char *err, size_t errlen)
{
	SC_HANDLE scm, svc;
	/* SERVICE_START: a restart action needs it */
	int r = open_service(prog, SERVICE_CHANGE_CONFIG | SERVICE_START, &scm, &svc, err, errlen);

	if (r != 0)
		return r;
	r = set_recovery(svc, prog, err, errlen);
	CloseServiceHandle(svc);
	CloseServiceHandle(scm);
	return r;
}

int sys_service_install(const char *prog, const char *display, const char *args, char *err,
			size_t errlen)
{
	wchar_t name[64], disp[128], exe[MAX_PATH], wargs[2048], cmd[4096], key[256];
	SERVICE_DESCRIPTIONW desc;
	SC_HANDLE scm = NULL, svc = NULL;
	DWORD types = EVENTLOG_ERROR_TYPE | EVENTLOG_WARNING_TYPE | EVENTLOG_INFORMATION_TYPE;
	HKEY k = NULL;
	int r = PED_E_SERVICE_FAILED;

	if (wide(prog, name, 64) != 0 || wide(display, disp, 128) != 0 ||
	    wide(args, wargs, 2048) != 0) {
		snprintf(err, errlen, "service name or arguments too long");
		return PED_E_TOO_LONG;
	}
	if (GetModuleFileNameW(NULL, exe, MAX_PATH) == 0 || GetLastError() != ERROR_SUCCESS)
		return scm_fail(err, errlen, "cannot find the program file of", prog, r);
	_snwprintf(cmd, 4096, L"\"%ls\" -mode start -winservice%ls%ls", exe, wargs[0] ? L" " : L"",
		   wargs);
	cmd[4095] = L'\0';
	if ((scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT | SC_MANAGER_CREATE_SERVICE)) ==
	    NULL)
		return scm_fail(err, errlen, "cannot open the service control manager for", prog, r);
	svc = CreateServiceW(scm, name, disp, SERVICE_ALL_ACCESS, SERVICE_WIN32_OWN_PROCESS,
			     SERVICE_AUTO_START, SERVICE_ERROR_NORMAL, cmd, NULL, NULL, NULL, NULL,
			     NULL);
	if (svc == NULL) {
		r = scm_fail(err, errlen, "cannot create the service", prog,
			     GetLastError() == ERROR_SERVICE_EXISTS ? PED_E_SERVICE_EXISTS : r);
		goto out;
	}
	desc.lpDescription = disp;
	if (!ChangeServiceConfig2W(svc, SERVICE_CONFIG_DESCRIPTION, &desc)) {
		r = scm_fail(err, errlen, "cannot describe the service", prog, r);
		goto undo;
	}
	if ((r = set_recovery(svc, prog, err, errlen)) != 0)
		goto undo;
	r = PED_E_SERVICE_FAILED;
	/* the event log source: our program file, which carries no message
	 * table, so a viewer shows the text we give as the event's insert */
	_snwprintf(key, 256, EVENT_KEY L"%ls", name);
	key[255] = L'\0';
	if (RegCreateKeyExW(HKEY_LOCAL_MACHINE, key, 0, NULL, 0, KEY_SET_VALUE, NULL, &k, NULL) !=
		    ERROR_SUCCESS ||
	    RegSetValueExW(k, L"EventMessageFile", 0, REG_EXPAND_SZ, (const BYTE *)exe,
			   (DWORD)((wcslen(exe) + 1) * sizeof(wchar_t))) != ERROR_SUCCESS ||
	    RegSetValueExW(k, L"TypesSupported", 0, REG_DWORD, (const BYTE *)&types,
			   sizeof(types)) != ERROR_SUCCESS) {
		snprintf(err, errlen, "cannot register the event log source %s", prog);
		goto undo;
	}
	r = 0;
	goto out;
undo:
	DeleteService(svc);
out:
	if (k != NULL)
		RegCloseKey(k);
	if (svc != NULL)
		CloseServiceHandle(svc);
	CloseServiceHandle(scm);
	return r;
}

int sys_service_uninstall(const char *prog, unsigned timeout_s, char *err, size_t errlen)
{
	wchar_t name[64], key[256];
	SERVICE_STATUS_PROCESS ssp;
	SERVICE_STATUS ss;
	SC_HANDLE scm, svc;
	HANDLE proc = NULL;
	DWORD n;
	int r;

	if ((r = open_service(prog, SERVICE_STOP | SERVICE_QUERY_STATUS | DELETE, &scm, &svc, err,
			      errlen)) != 0)
		return r;
	r = PED_E_SERVICE_FAILED;
	(void)wide(prog, name, 64); /* fits: open_service checked it */
	if (!QueryServiceStatusEx(svc, SC_STATUS_PROCESS_INFO, (BYTE *)&ssp, sizeof(ssp), &n)) {
		r = scm_fail(err, errlen, "cannot query the service", prog, r);
		goto out;
	}
	if (ssp.dwCurrentState != SERVICE_STOPPED) {
		/* stop it and wait for its process to end (an event, no polling) */
		if (ssp.dwProcessId != 0)
			proc = OpenProcess(SYNCHRONIZE, FALSE, ssp.dwProcessId);
		if (!ControlService(svc, SERVICE_CONTROL_STOP, &ss) &&
		    GetLastError() != ERROR_SERVICE_NOT_ACTIVE) {
			r = scm_fail(err, errlen, "cannot stop the service", prog, r);
			goto out;
		}
		if (proc != NULL && WaitForSingleObject(proc, timeout_s * 1000u) != WAIT_OBJECT_0) {
			snprintf(err, errlen, "the service %s did not stop within %u s", prog,
				 timeout_s);
			goto out;
		}
	}
	if (!DeleteService(svc)) {
		r = scm_fail(err, errlen, "cannot remove the service", prog, r);
		goto out;
	}
	_snwprintf(key, 256, EVENT_KEY L"%ls", name);
	key[255] = L'\0';
	(void)RegDeleteKeyW(HKEY_LOCAL_MACHINE, key);
	r = 0;
out:
	if (proc != NULL)
		CloseHandle(proc);
	CloseServiceHandle(svc);
	CloseServiceHandle(scm);
	return r;
}
