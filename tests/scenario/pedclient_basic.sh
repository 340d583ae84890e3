#!/bin/sh
# pedclient_basic.sh - pedclient as a daemon: start returns when ready,
# show (text and -json through jq), slots with stable serials, two instances
# side by side, second start refused naming the running one, stop, stop and
# show when none runs (3), SIGTERM clean exit, idle RSS and CPU.
. tests/scenario/lib_client.sh

A=$(new_statedir a)
B=$(new_statedir b)
PA=$(free_port)
PB=$(free_port)

note "start returns only when ready; show answers at once"
pc -mode start -statedir "$A" -admin "$PA"
[ "$RC" -eq 0 ] || fail "start failed ($RC): $OUT"
pcs -mode show -statedir "$A"
[ "$RC" -eq 0 ] || fail "show failed ($RC): $OUT $ERR"
PID=$(pc_pid "$A")
assert_contains "Software Version:      pedclient" "$OUT"
assert_contains "Process ID:            $PID" "$OUT"
assert_contains "Admin Port:            $PA" "$OUT"
assert_contains "HSM Slots: 1" "$OUT"
assert_contains "PED ID Mappings: 0" "$OUT"
assert_contains "Sessions: none" "$OUT"
[ "$(echo "$OUT" | head -n 1)" = "Ped Client launched in status mode." ] || fail "first line: $OUT"
[ "$(echo "$OUT" | tail -n 1)" = "Show command passed." ] || fail "last line: $OUT"
SERIAL=$(sed -n 's/^  Slot 0:  serial \([0-9]*\)$/\1/p' <<<"$OUT")
[ "${#SERIAL}" -eq 10 ] || fail "no 10-digit slot serial in: $OUT"
echo "$OUT"
[ "$(stat -c %a "$A")" = 700 ] || fail "state dir not 0700"
[ "$(stat -c %a "$A/admin.token")" = 600 ] || fail "admin.token not 0600"
[ "$(stat -c %a "$A/slot0.hsm")" = 600 ] || fail "slot0.hsm not 0600"
[ "$(stat -c %a "$A/hsm.sock")" = 600 ] || fail "hsm.sock not 0600"

note "show -json is one JSON object (jq)"
pcs -mode show -statedir "$A" -json
[ "$RC" -eq 0 ] || fail "show -json failed: $ERR"
[ "$(jq -r .schema_version <<<"$OUT")" = 1 ] || fail "schema_version: $OUT"
[ "$(jq -r .running <<<"$OUT")" = true ] || fail "running: $OUT"
[ "$(jq -r .pid <<<"$OUT")" = "$PID" ] || fail "pid: $OUT"
[ "$(jq -r .admin_port <<<"$OUT")" = "$PA" ] || fail "admin_port: $OUT"
[ "$(jq -r '.slots[0].serial' <<<"$OUT")" = "$SERIAL" ] || fail "slot serial: $OUT"
[ "$(jq -r '.mappings | length' <<<"$OUT")" = 0 ] || fail "mappings: $OUT"
[ "$(jq -r '.sessions | length' <<<"$OUT")" = 0 ] || fail "sessions: $OUT"

note "idle: no CPU, RSS measured"
mkfifo "$T/never"
exec {NEVER}<>"$T/never"
t0=$(awk '{print $14 + $15}' "/proc/$PID/stat")
read -t 2 -u "$NEVER" _ || true
t1=$(awk '{print $14 + $15}' "/proc/$PID/stat")
[ $((t1 - t0)) -le 3 ] || fail "idle pedclient used $((t1 - t0)) ticks in 2 s"
RSS=$(awk '/^VmRSS/ {print $2}' "/proc/$PID/status")
echo "idle RSS of pedclient: $RSS kB"
[ "$RSS" -gt 0 ] && [ "$RSS" -lt 32768 ] || fail "idle RSS $RSS kB (expected under 32 MB)"

note "a second instance side by side, with 3 slots"
pc -mode start -statedir "$B" -admin "$PB" -slots 3
[ "$RC" -eq 0 ] || fail "second instance failed ($RC): $OUT"
pcs -mode show -statedir "$B" -json
[ "$(jq -r '.slots | length' <<<"$OUT")" = 3 ] || fail "3 slots: $OUT"
[ "$(jq -r .admin_port <<<"$OUT")" = "$PB" ] || fail "B admin_port: $OUT"
[ "$(jq -r '[.slots[].serial] | unique | length' <<<"$OUT")" = 3 ] || fail "serials not unique"
pcs -mode show -statedir "$A" -json
[ "$(jq -r .admin_port <<<"$OUT")" = "$PA" ] || fail "A disturbed: $OUT"

note "second start on the same state dir refused, naming the running one"
pc -mode start -statedir "$A" -admin "$(free_port)"
[ "$RC" -ne 0 ] || fail "second start succeeded"
assert_contains "already running (pid $PID, admin port $PA)" "$OUT"

note "start on a busy admin port fails with the reason"
C=$(new_statedir c)
pc -mode start -statedir "$C" -admin "$PA"
[ "$RC" -ne 0 ] || fail "start on a used port succeeded"
assert_contains "cannot listen on admin port $PA" "$OUT"
assert_no_runtime "$C"

note "stop"
hold_pidfile "$A"
pc -mode stop -statedir "$A"
[ "$RC" -eq 0 ] || fail "stop failed ($RC): $OUT"
assert_contains "pedclient stopped" "$OUT"
wait_unlocked "$A"
assert_no_runtime "$A"
assert_contains "pedclient exiting with status 0" "$(cat "$A/pedclient.log")"

note "stop and show when none runs: exit 3"
pc -mode stop -statedir "$A"
[ "$RC" -eq 3 ] || fail "stop without daemon: $RC ($OUT)"
assert_contains "not running" "$OUT"
pcs -mode show -statedir "$A"
[ "$RC" -eq 3 ] || fail "show without daemon: $RC"
assert_contains "pedclient is not running" "$OUT"
pcs -mode show -statedir "$A" -json
[ "$RC" -eq 3 ] || fail "show -json without daemon: $RC"
[ "$(jq -r .running <<<"$OUT")" = false ] || fail "running=false expected: $OUT"

note "slot serials survive a restart"
pc -mode start -statedir "$A" -admin "$PA"
[ "$RC" -eq 0 ] || fail "restart failed: $OUT"
pcs -mode show -statedir "$A" -json
[ "$(jq -r '.slots[0].serial' <<<"$OUT")" = "$SERIAL" ] || fail "serial changed: $OUT"

note "SIGTERM: clean exit, no runtime files left"
PID=$(pc_pid "$A")
hold_pidfile "$A"
kill -TERM "$PID"
wait_unlocked "$A"
assert_no_runtime "$A"
assert_contains "pedclient exiting with status 0" "$(cat "$A/pedclient.log")"
PIDB=$(pc_pid "$B")
hold_pidfile "$B"
kill -INT "$PIDB"
wait_unlocked "$B"
assert_no_runtime "$B"

note "foreground: READY=1 through NOTIFY_SOCKET"
F=$(new_statedir fg)
PF=$(free_port)
mkfifo "$T/notify.fifo"
python3 - "$T/notify.sock" >"$T/notify.fifo" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("listening", flush=True)
while True:
    m = s.recv(4096).decode()
    print(m, flush=True)
    if m.startswith("READY=1"):
        break
PY
NPID=$!
exec {NFD}<"$T/notify.fifo"
read -r -t 10 -u "$NFD" line || fail "notify listener"
NOTIFY_SOCKET="$T/notify.sock" "$PC" -mode start -statedir "$F" -admin "$PF" \
	-logfile "$T/fg.log" 2>"$T/fg.err" &
FPID=$!
_lc_pids="$_lc_pids $FPID"
read -r -t 10 -u "$NFD" line || fail "no READY=1"
assert_contains "READY=1" "$line"
pc -mode show -statedir "$F"
[ "$RC" -eq 0 ] || fail "foreground show: $OUT"
kill -TERM "$FPID"
RCF=0
wait "$FPID" || RCF=$?
[ "$RCF" -eq 0 ] || fail "foreground exit status $RCF"
wait "$NPID" 2>/dev/null || true
assert_no_runtime "$F"
echo "pedclient_basic: ok"
