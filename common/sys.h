/* sys.h - what differs between POSIX and Windows, behind one interface:
 * sys_posix.c and sys_win.c implement it (the Makefile builds one of them),
 * callers never test _WIN32. Kept narrow, like chrony's sys.h:
 *   - printf format checking of our own varargs functions (mingw's "printf"
 *     archetype is Microsoft's; we print through mingw's ANSI stdio, whose
 *     archetype is gnu_printf): the one #ifdef, in this header;
 *   - process hardening (undumpable, no core file / crash dump);
 *   - files: exclusive private creation, binary reads, durable writes and
 *     atomic replacement (rename + directory fsync; MoveFileExW with
 *     MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH);
 *   - process liveness and an abrupt death (crash tests of atomic.c);
 *   - private temporary directories (tests). */
#ifndef PED_SYS_H
#define PED_SYS_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#ifdef __MINGW32__
#define PED_PRINTF(f, a) __attribute__((format(gnu_printf, f, a)))
#else
#define PED_PRINTF(f, a) __attribute__((format(printf, f, a)))
#endif

/* Undumpable, no core file, umask 077, SIGPIPE ignored (POSIX); no Windows
 * Error Reporting dumps or crash dialogs (Windows). Best effort. */
void sys_harden(void);

/* Creates path exclusively (it must not exist, a symlink is not followed)
 * for writing, binary, close-on-exec, with exactly mode's permission bits
 * (POSIX; on Windows always the protected DACL of sys_private_dir: the
 * owner, Administrators and SYSTEM). Returns an fd, or -1 with errno set
 * (EEXIST when it exists). */
int sys_create_excl(const char *path, unsigned mode);
/* Opens (creating it 0600 if needed) path for appending: the log file.
 * A symlink is not followed (POSIX). An fd or -1 with errno set. */
int sys_open_append(const char *path);
/* Opens path for binary reading: an fd or -1 with errno set. */
int sys_open_read(const char *path);
/* Flushes fd's data to stable storage: 0 or -1. */
int sys_fsync(int fd);
/* Replaces dst by src in one step and makes the change durable (POSIX:
 * rename(2), then fsync of dst's directory dir unless dir is NULL; Windows:
 * MoveFileExW with MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH).
 * 0 or -1. */
int sys_replace(const char *src, const char *dst, const char *dir);

/* path names something (POSIX: lstat, a dangling symlink counts). */
bool sys_exists(const char *path);

/* If path is a symbolic link: 1 and its target's real path in out; 0 if
 * it is not a link (always on Windows); -1 with errno on failure. */
int sys_resolve_link(const char *path, char *out, size_t outlen);

/* Default places (0, PED_E_TOO_LONG, PED_E_NOT_FOUND without a home):
 * the state dir of prog -- POSIX: /var/lib/PROG as root, else
 * $XDG_STATE_HOME/PROG or ~/.local/state/PROG; Windows:
 * %ProgramData%\RemotePED\PROG -- and its config file when no state dir
 * was given -- POSIX: /etc/PROG/PROG.conf as root, else
 * $XDG_CONFIG_HOME/PROG/PROG.conf or ~/.config/PROG/PROG.conf; Windows:
 * %ProgramData%\RemotePED\PROG\PROG.conf. */
int sys_default_statedir(char *out, size_t outlen, const char *prog);
int sys_default_config(char *out, size_t outlen, const char *prog);

/* Local (Unix domain) sockets for the admin channel beside loopback TCP:
 * POSIX yes, the peer's uid checked with SO_PEERCRED; Windows no (loopback
 * TCP with the token file, which only the owner, Administrators and SYSTEM
 * may read). prepare: removes a stale socket at path, -1 if path is too
 * long; private: mode 0600 after the bind; peer_is_us: the connected peer
 * runs as our effective user. */
bool sys_local_socket_ok(void);
int sys_local_socket_prepare(const char *path);
int sys_local_socket_private(const char *path);
bool sys_peer_is_us(uv_stream_t *s);

/* What a device path names now (pedserver follows a PED's path): the
 * inode of the name itself and the device number it leads to. 0, or -1 if
 * it does not exist (Windows: always -1, no tty PEDs there yet). */
int sys_node_identity(const char *path, unsigned long long *ino, unsigned long long *rdev);

/* ---- daemon life cycle (daemon.c) ---- */

/* The state dir: created if missing, then refused unless it is a directory
 * that only we may change (POSIX: owned by our euid, not writable by group
 * or others; Windows: a protected DACL granting the owner, Administrators
 * and SYSTEM only, set when the directory is made). 0, or PED_E_IO with the
 * reason logged. */
int sys_private_dir(const char *dir);
/* A directory separator in a path (POSIX '/'; Windows '/' and '\\'). */
bool sys_is_sep(char c);
/* The last separator in path, or NULL. */
const char *sys_last_sep(const char *path);
/* An absolute path (POSIX "/..."; Windows "C:\...", "\\server\..."). */
bool sys_path_absolute(const char *path);

/* The single-instance lock on path (the pid file): taken and held through
 * *fd for the life of the process (POSIX flock; Windows LockFileEx on a
 * byte past the end, so the pid stays readable). 0, PED_E_EXISTS (another
 * process holds it), or PED_E_IO (errno set). */
int sys_lock_take(const char *path, int *fd);
/* 1 if a live process holds the lock on path, and *fd open on it for
 * sys_lock_wait (the holder may unlink path before it exits); else 0. */
int sys_lock_peek(const char *path, int *fd);
/* Waits until the holder of the lock behind fd (from sys_lock_peek) is
 * gone, at most timeout_s: 0 when free, -1 on timeout. Closes fd. pid is
 * the holder's pid as its pid file says (0: unknown): Windows waits on that
 * process's handle (the lock goes with it; a blocking LockFileEx on the
 * synchronous handle would not honour the deadline), POSIX on the lock. */
int sys_lock_wait(int fd, long pid, unsigned timeout_s);

/* Background start (POSIX: pipe, fork, setsid, fork; the daemon's stdin and
 * stdout on /dev/null). Returns, in the CLI process: 1 and *rfd (read end
 * of the readiness pipe), *child; in the daemon: 0 and *wfd (write end);
 * on failure PED_E_IO in the CLI process (errno set). Windows: PED_E_INVAL
 * (no background start: use -foreground or -winservice). */
int sys_daemonize(int *rfd, int *wfd, long *child);
/* The CLI process of a background start: waits for the daemon's first line
 * on rfd ("READY" or the reason it failed), at most timeout_s; out gets it
 * (NUL-terminated, "" if the daemon exited first). 0, or -1 on timeout. */
int sys_wait_line(int rfd, long child, unsigned timeout_s, char *out, size_t cap);
/* A background daemon's stderr after start-up: /dev/null, or a file in
 * $PED_DEBUG_STDERR_DIR (sanitizer builds). */
void sys_stderr_to_null(const char *prog);
/* systemd's NOTIFY_SOCKET (POSIX): 0 (also without one) or PED_E_IO. */
int sys_notify(const char *msg);
/* Asks process pid to terminate (SIGTERM): 0 or -1 (Windows: always -1,
 * the admin channel's stop is the way). */
int sys_terminate(long pid);
/* What show reports: dumpable flag and soft core limit (Windows: 0, 0). */
void sys_hygiene(int *dumpable, unsigned long long *core_limit);

/* A connected TCP handle has received bytes not read yet (FIONREAD). */
bool sys_socket_unread(uv_handle_t *h);

/* ---- the kernel's filter of new connections (pedserver's penalties) ----
 * Rules on the source address of a connection request: addr in 16 bytes
 * (IPv6, or ::ffff:a.b.c.d for IPv4), the number of its leading bits that
 * must match (an IPv4 /n is 96 + n), and what happens to a match: drop
 * (the request is discarded before the kernel makes any state for it: no
 * SYN-ACK, the peer's connect times out) or accept. The first matching rule
 * wins; a request no rule matches is accepted. Only pure SYNs (SYN without
 * ACK) are judged: the rest of a handshake and every established
 * connection (which inherits the filter) always pass. */
struct sys_syn_rule {
	unsigned char addr[16];
	unsigned bits;
	bool drop;
};
/* The program's size limit: half the kernel's BPF_MAXINSNS. */
#define SYS_SYN_FILTER_MAX_INSNS 2048
/* Replaces the listener's filter in one step by one made of rules (none:
 * no filter). Linux: a classic BPF program (SO_ATTACH_FILTER, no privilege
 * needed) that reads the IP header at SKF_NET_OFF; IPv4 and IPv4-mapped
 * peers of a dual-stack listener are judged as IPv4. Returns how many
 * rules it holds (the leading ones that fit in SYS_SYN_FILTER_MAX_INSNS),
 * PED_E_NO_SOCKET_FILTER where the system has no such filter (Windows,
 * POSIX systems other than Linux), or PED_E_IO (errno set). */
int sys_syn_filter(uv_tcp_t *listener, const struct sys_syn_rule *rules, size_t n);

/* This process's id, and whether process pid still exists. */
long sys_pid(void);
bool sys_pid_alive(long pid);
/* Ends this process at once, as a crash would (SIGKILL; TerminateProcess). */
void sys_die_now(void);

/* mkdir(2) with mode (Windows: the protected DACL of sys_private_dir, as
 * for files; mode is not used). */
int sys_mkdir(const char *path, unsigned mode);
/* True if path is a file or directory only its owner may read or change
 * (POSIX: no group/other permission bits; Windows: every entry of its DACL
 * grants the owner, Administrators or SYSTEM). */
bool sys_is_private(const char *path);
/* Removes dir and everything below it (symbolic links are removed, never
 * followed): 0 or -1. For tests. */
int sys_remove_tree(const char *dir);
/* dir has the set-group-ID bit (a packaged service's config directory);
 * Windows: false. */
bool sys_setgid_dir(const char *dir);
/* Creates a fresh directory from a template that ends in XXXXXX: only its
 * owner may use it (mkdtemp, mode 0700; Windows: the protected DACL of
 * sys_private_dir). Returns tmpl or NULL. */
char *sys_mkdtemp(char *tmpl);

/* ---- Windows services (sys_win_service.c; POSIX: none) ----
 * The SCM side of `-mode start -winservice` and of `-mode install` /
 * `-mode uninstall`. The daemon itself does not know it runs as a service:
 * sys_notify's READY=1 and STOPPING=1 become SERVICE_RUNNING and
 * SERVICE_STOP_PENDING, and a STOP or SHUTDOWN control calls the function
 * given to sys_service_on_stop (daemon.c: uv_async_send, then the same
 * clean stop as SIGTERM). */

/* Runs body(arg) as the service prog under the service control manager and
 * returns its status (reported to the SCM as the service-specific exit
 * code when not 0). While it runs, stderr is the transcript
 * STATEDIR/PROG-service.log (truncated at each start: what is printed before
 * the log file is open, e.g. a bad config file; statedir NULL: none), and
 * its last line goes to the event log when the status is not 0. Fails with 1
 * and a message when the process was not started by the SCM. POSIX:
 * PED_E_WINDOWS_ONLY, body not run (the caller runs it as an ordinary
 * start: -winservice is ignored, as the reference's Linux programs do). */
int sys_service_run(const char *prog, const char *statedir, int (*body)(void *), void *arg);
/* fn(arg) is called on the SCM's thread when it asks the service to stop
 * (it must only wake the loop, e.g. uv_async_send); a stop asked before fn
 * was registered is delivered at once. fn NULL unregisters. */
void sys_service_on_stop(void (*fn)(void *), void *arg);
/* Registers the service prog (display name display): the running program's
 * own path with "-mode start -winservice" and args (already quoted for a
 * command line, "" for none), automatic start, restart on failure, and an
 * event log source. 0, or PED_E_WINDOWS_ONLY / PED_E_SERVICE_EXISTS /
 * PED_E_SERVICE_FAILED with the reason in err. */
int sys_service_install(const char *prog, const char *display, const char *args, char *err,
			size_t errlen);
/* Gives the installed service prog the recovery actions of
 * sys_service_install (restart after 5 s, twice; the failure count reset
 * after a day; the failure-actions flag: also after a non-zero exit). The
 * MSI runs it as a deferred custom action (`-mode recovery`): Windows
 * Installer's own MsiServiceConfigFailureActions is documented as not
 * working (docs/windows.md). 0, or PED_E_WINDOWS_ONLY /
 * PED_E_SERVICE_NOT_INSTALLED / PED_E_SERVICE_FAILED with the reason in err. */
int sys_service_recovery(const char *prog, char *err, size_t errlen);
/* Stops the service prog if it runs (waits for its process to exit, at most
 * timeout_s), then removes it and its event log source. 0, or
 * PED_E_WINDOWS_ONLY / PED_E_SERVICE_NOT_INSTALLED / PED_E_SERVICE_FAILED. */
int sys_service_uninstall(const char *prog, unsigned timeout_s, char *err, size_t errlen);

/* ---- local IPC: pedclient's HSM socket (hsm.sock), spoken by pedhsm ----
 * POSIX: a Unix stream socket at path, mode 0600, a peer with our uid or
 * root. Windows: a named pipe \\.\pipe\RemotePED-<hash of path's full,
 * lower-cased form>, so that the daemon and the console meet through the
 * same state dir; the pipe's default DACL gives full control to its owner,
 * Administrators and SYSTEM (others may only read, not write a request),
 * and the peer's token must be our user or SYSTEM. */

/* Binds srv (uv_pipe_init'ed) to path's endpoint: POSIX removes a stale
 * socket, binds under umask 077, then chmod 0600. A libuv error (< 0). */
int sys_ipc_bind(uv_pipe_t *srv, const char *path);
/* Removes path's socket file after the server closed (Windows: nothing). */
void sys_ipc_unbind(const char *path);
/* The connected peer runs as our user (or root; Windows: SYSTEM). */
bool sys_ipc_peer_ok(uv_pipe_t *p);
/* Connects to path's endpoint: a descriptor for read(2) / write(2), or -1
 * with errno set (ENOENT / ECONNREFUSED: no server). */
int sys_ipc_connect(const char *path);
/* The exclusive lock file path (created 0600 if missing): a descriptor
 * that holds it until closed, PED_E_EXISTS if another holds it (at once
 * when nonblock, else after timeout_s), or PED_E_IO. */
int sys_lock_exclusive(const char *path, bool nonblock, unsigned timeout_s);

#endif
