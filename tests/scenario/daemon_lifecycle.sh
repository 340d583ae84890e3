#!/bin/sh
# daemon_lifecycle.sh - lifecycle of a daemon built on common/daemon, admin
# and log (tests/tools/testdaemon): background start returns only when
# ready, single instance, stop, not-running status 3, state dir checks,
# init failure reporting, SIGTERM and the shutdown deadline, sd_notify in
# the foreground (path and abstract sockets), hygiene, idle CPU.
. tests/scenario/lib_daemon.sh

D=$(new_statedir a)
PORT=$(free_port)

note "background start returns only when ready"
td -statedir "$D" -mode start -admin "$PORT" -logfile "$D/td.log"
[ "$RC" -eq 0 ] || fail "start failed ($RC): $OUT"
# no retry: the admin channel must answer right now
td -statedir "$D" -mode show
[ "$RC" -eq 0 ] || fail "show right after start failed ($RC): $OUT"
PID=$(daemon_pid "$D")
assert_contains "pid: $PID" "$OUT"
assert_contains "admin port: $PORT" "$OUT"
[ "$(cat "$D/admin.port")" = "$PORT" ] || fail "admin.port does not hold $PORT"
[ "$(stat -c %a "$D")" = 700 ] || fail "state dir not 0700"
[ "$(stat -c %a "$D/admin.token")" = 600 ] || fail "admin.token not 0600"
[ "$(stat -c %a "$D/td.log")" = 600 ] || fail "log file not 0600"
note "explicit port on show"
td -statedir "$D" -mode show -admin "$PORT"
[ "$RC" -eq 0 ] || fail "show -admin failed: $OUT"

note "undumpable, no core files"
td -statedir "$D" -mode show
assert_contains "dumpable: 0" "$OUT"
assert_contains "core limit: 0 0" "$OUT"

note "second start refused, naming the running one"
td -statedir "$D" -mode start
[ "$RC" -ne 0 ] || fail "second start succeeded"
assert_contains "already running (pid $PID, admin port $PORT)" "$OUT"

note "idle daemon uses no CPU"
mkfifo "$T/never"
exec {NEVER}<>"$T/never"
t0=$(awk '{print $14 + $15}' "/proc/$PID/stat")
read -t 2 -u "$NEVER" _ || true
t1=$(awk '{print $14 + $15}' "/proc/$PID/stat")
[ $((t1 - t0)) -le 3 ] || fail "idle daemon used $((t1 - t0)) ticks in 2 s"

note "stop"
td -statedir "$D" -mode stop
[ "$RC" -eq 0 ] || fail "stop failed ($RC): $OUT"
assert_contains "testdaemon stopped" "$OUT"
# gone, or a zombie waiting for its reaper
if [ -e "/proc/$PID/status" ]; then
	assert_contains "zombie" "$(grep State: "/proc/$PID/status" 2>/dev/null || echo zombie)"
fi
assert_no_runtime "$D"
assert_contains "exiting with status 0" "$(cat "$D/td.log")"

note "stop and show when none runs exit 3"
td -statedir "$D" -mode stop
[ "$RC" -eq 3 ] || fail "stop without daemon: status $RC"
assert_contains "not running" "$OUT"
td -statedir "$D" -mode show
[ "$RC" -eq 3 ] || fail "show without daemon: status $RC"
assert_contains "not running" "$OUT"

note "world-writable state dir refused"
W=$(new_statedir ww)
mkdir -m 0777 "$W"
chmod 0777 "$W"
td -statedir "$W" -mode start
[ "$RC" -ne 0 ] || fail "start with a world-writable state dir succeeded"
assert_contains "writable by group or others" "$OUT"
assert_no_runtime "$W"

note "init failure is reported by start"
F=$(new_statedir fail)
td -statedir "$F" -mode start -fail-init
[ "$RC" -ne 0 ] || fail "start -fail-init succeeded"
assert_contains "initialisation failed on purpose" "$OUT"
assert_no_runtime "$F"

note "unwritable log file: the daemon runs and says where logs go"
L=$(new_statedir logfb)
td -statedir "$L" -mode start -logfile "$T/no/such/dir/x.log"
[ "$RC" -eq 0 ] || fail "start with an unwritable log file failed: $OUT"
assert_contains "cannot open log file $T/no/such/dir/x.log: No such file or directory; logging to stderr" "$OUT"
td -statedir "$L" -mode stop
[ "$RC" -eq 0 ] || fail "stop failed: $OUT"

note "SIGTERM on a background daemon: clean exit, no runtime files"
S=$(new_statedir term)
td -statedir "$S" -mode start -logfile "$S/td.log"
[ "$RC" -eq 0 ] || fail "start failed: $OUT"
SPID=$(daemon_pid "$S")
hold_pidfile "$S"
kill -TERM "$SPID"
wait_unlocked "$S" 10
assert_no_runtime "$S"
assert_contains "exiting with status 0" "$(cat "$S/td.log")"

note "shutdown deadline ends a daemon whose shutdown hangs"
H=$(new_statedir hang)
td -statedir "$H" -mode start -hang-shutdown -internalshutdowntimeout 1 -logfile "$H/td.log"
[ "$RC" -eq 0 ] || fail "start failed: $OUT"
td -statedir "$H" -mode stop -bgprocessshutdowntimeout 10
[ "$RC" -eq 0 ] || fail "stop of a hanging daemon failed ($RC): $OUT"
assert_no_runtime "$H"
assert_contains "shutdown did not finish within 1 s" "$(cat "$H/td.log")"

# notify_listener ADDR: a UNIX-DGRAM listener printing each datagram on a
# line to the FIFO $T/notify.fifo, read on fd $NFD; ends after STOPPING=1.
notify_listener() {
	rm -f "$T/notify.fifo"
	mkfifo "$T/notify.fifo"
	python3 -c '
import socket, sys
a = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + a[1:] if a.startswith("@") else a)
print("LISTENING", flush=True)
while True:
    m = s.recv(4096).decode()
    print(m.replace("\n", " "), flush=True)
    if m.startswith("STOPPING=1"):
        break
' "$1" >"$T/notify.fifo" &
	NPID=$!
	exec {NFD}<"$T/notify.fifo"
	read -t 5 -u "$NFD" line || fail "notify listener did not start"
	[ "$line" = LISTENING ] || fail "notify listener: $line"
}

# expect_notify TEXT: reads datagrams until one starts with TEXT
expect_notify() {
	local line
	while read -t 5 -u "$NFD" line; do
		case "$line" in "$1"*) return 0 ;; esac
	done
	fail "no $1 from the daemon"
}

note "foreground with NOTIFY_SOCKET (path): READY=1 ... STOPPING=1"
G=$(new_statedir fg)
notify_listener "$T/notify.sock"
NOTIFY_SOCKET="$T/notify.sock" "$TD" -statedir "$G" -mode start -foreground \
	>"$T/fg.log" 2>&1 &
GPID=$!
expect_notify READY=1
# READY=1 means serving: show must answer now
td -statedir "$G" -mode show
[ "$RC" -eq 0 ] || fail "show after READY=1 failed: $OUT"
assert_contains "pid: $GPID" "$OUT"
td -statedir "$G" -mode stop
[ "$RC" -eq 0 ] || fail "stop failed: $OUT"
expect_notify STOPPING=1
wait "$GPID" || fail "foreground daemon exited with $?"
wait "$NPID" || true
exec {NFD}<&-
assert_no_runtime "$G"

note "foreground with an abstract NOTIFY_SOCKET, SIGTERM"
notify_listener "@peddaemon-test-$$"
NOTIFY_SOCKET="@peddaemon-test-$$" "$TD" -statedir "$G" -mode start -foreground \
	>"$T/fg2.log" 2>&1 &
GPID=$!
expect_notify READY=1
kill -TERM "$GPID"
expect_notify STOPPING=1
wait "$GPID" || fail "foreground daemon exited with $? after SIGTERM"
wait "$NPID" || true
exec {NFD}<&-
assert_no_runtime "$G"
assert_contains "shutting down (Terminated)" "$(cat "$T/fg2.log")"

note "daemon lifecycle: all passed"
