# lib_daemon.sh - helpers for the daemon lifecycle scenarios (testdaemon).
# Source it from a scenario run from the repository root:
#     . tests/scenario/lib_daemon.sh
# Builds on lib.sh (private directory $T, cleanup, fail/note/asserts);
# daemons whose state dirs live under $T are stopped on exit. Nothing here
# sleeps: waits use flock(1), FIFOs with read -t, wait(1).
#
#   TD                       path of the testdaemon binary
#   td ARGS...               run testdaemon, output in $OUT, status in $RC
#   new_statedir NAME        prints $T/NAME (not created: the daemon does it)
#   free_port                prints a TCP port that is free on every address
#   daemon_pid DIR           prints the pid in DIR/testdaemon.pid
#   wait_unlocked DIR [SECS] waits until DIR/testdaemon.pid is no longer locked
#                            (the daemon exited); needs an fd opened earlier by
#                            hold_pidfile
#   hold_pidfile DIR         opens DIR/testdaemon.pid on fd $PIDFD
#   assert_no_runtime DIR    no pid/admin file left in DIR
#   fail MSG / note MSG / assert_contains TEXT STRING / assert_not_contains
if [ -z "${BASH_VERSION:-}" ]; then
	exec bash "$0" "$@"
fi
. tests/scenario/lib.sh

# a test run from inside a systemd unit must still exercise background starts
unset INVOCATION_ID NOTIFY_SOCKET JOURNAL_STREAM
TD=${TD:-$BUILD/tests/tools/testdaemon}
OUT=""
RC=0

_ld_stop_daemons() {
	local f pid
	for f in "$T"/*/testdaemon.pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f" 2>/dev/null || true)
		[ -n "$pid" ] && kill "$pid" 2>/dev/null || true
	done
}
_lib_exit_hooks="$_lib_exit_hooks _ld_stop_daemons"

[ -x "$TD" ] || fail "$TD not built (make BUILD=$BUILD $TD)"

td() {
	RC=0
	OUT=$("$TD" "$@" 2>&1) || RC=$?
}

new_statedir() {
	echo "$T/$1"
}

daemon_pid() {
	cat "$1/testdaemon.pid"
}

hold_pidfile() {
	exec {PIDFD}<"$1/testdaemon.pid"
}

wait_unlocked() {
	timeout "${2:-10}" flock -s "$PIDFD" || fail "daemon of $1 did not exit"
	exec {PIDFD}<&-
}

assert_no_runtime() {
	local f
	for f in testdaemon.pid admin.port admin.token admin.sock; do
		[ ! -e "$1/$f" ] || fail "runtime file $1/$f left behind"
	done
}
