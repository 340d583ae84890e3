#!/bin/sh
# pedserver_basic.sh - pedserver's life cycle: start returns when serving,
# show (people and -json), second start refused naming the running one,
# stop, stop/show when none runs (exit 3), SIGTERM with no runtime file left,
# hygiene (no core files), idle CPU and idle RSS.
. tests/scenario/lib_server.sh

start_pedemu
ps_start a -ped "$EMU_LINK"
D=$PS_DIR
PID=$(ps_pid "$D")

note "show right after start"
ps_run -mode show -statedir "$D"
[ "$RC" -eq 0 ] || fail "show: $RC $OUT"
assert_contains "pedserver 0.1.0 is running (pid $PID)" "$OUT"
assert_contains "Ped2 Connection Status:    Connected" "$OUT"
assert_contains "Server Port:               $PS_PORT" "$OUT"
assert_contains "Admin Port:                $PS_ADMIN" "$OUT"
# the default: every address (dual stack "::", or 0.0.0.0 without IPv6)
echo "$OUT" | grep -Eq "^  IP: +(::|0\.0\.0\.0)$" || fail "not on every address: $OUT"
assert_contains "External Server Interface: Yes" "$OUT"
assert_contains "External Admin Interface:  No" "$OUT"
assert_contains "Idle Timeout Value:        1800 (secs)" "$OUT"
assert_contains "Ped2 RPK Serial Numbers    (none)" "$OUT"
echo "$OUT"
# the reference's status block: its labels, in its order, before ours
want="Ped Server launched in status mode.|Server Information:|Hostname:|IP:|Firmware Version:"
want="$want|PedII Protocol Version:|Software Version:|Ped2 Connection Status:|Ped2 RPK Count"
want="$want|Ped2 RPK Serial Numbers|Client Information:|Operating Information:|Server Port:"
want="$want|External Server Interface:|Admin Port:|External Admin Interface:|Server Up Time:"
want="$want|Server Idle Time:|Idle Timeout Value:|Current Connection Time:"
want="$want|Current Connection Idle Time:|Current Connection Total Idle Time:"
want="$want|Total Connection Time:|Total Connection Idle Time:|Additional Information:"
want="$want|Show command passed."
got=$(echo "$OUT" | sed -e 's/^ *//' -e 's/^\(Ped2 RPK [A-Za-z ]*[a-z]\) .*/\1/' \
	-e 's/^\([^:]*:\).*/\1/' -e 's/^\(Ped Server launched in status mode\.\|Show command passed\.\)$/\1/' |
	grep -xF -f <(echo "$want" | tr '|' '\n') | paste -sd'|')
[ "$got" = "$want" ] || fail "show is not the reference's block: $got"

note "show -json is one JSON object"
J=$("$PS" -mode show -json -statedir "$D")
[ "$(echo "$J" | jq -r .schema_version)" = 1 ] || fail "schema_version: $J"
[ "$(echo "$J" | jq -r .ped.connected)" = true ] || fail "ped.connected: $J"
[ "$(echo "$J" | jq -r .operating.server_port)" = "$PS_PORT" ] || fail "server_port: $J"
[ "$(echo "$J" | jq -r .operating.idle_timeout_s)" = 1800 ] || fail "idle timeout: $J"
[ "$(echo "$J" | jq -r .pid)" = "$PID" ] || fail "pid: $J"

note "files and hygiene"
[ "$(stat -c %a "$D")" = 700 ] || fail "state dir not 0700"
[ "$(stat -c %a "$D/admin.token")" = 600 ] || fail "admin.token not 0600"
[ "$(stat -c %a "$D/pedserver.log")" = 600 ] || fail "log not 0600"
grep -Eq '^Max core file size +0 +0 ' "/proc/$PID/limits" || fail "core limit not 0"

note "second start refused, naming the running one"
ps_run -mode start -statedir "$D" -port "$(free_port)" -admin "$(free_port)"
[ "$RC" -ne 0 ] || fail "second start succeeded"
assert_contains "already running (pid $PID, admin port $PS_ADMIN)" "$OUT"

note "idle: no CPU, RSS measured"
mkfifo "$T/never"
exec {NEVER}<>"$T/never"
t0=$(awk '{print $14 + $15}' "/proc/$PID/stat")
read -t 2 -u "$NEVER" _ || true
t1=$(awk '{print $14 + $15}' "/proc/$PID/stat")
[ $((t1 - t0)) -le 2 ] || fail "idle pedserver used $((t1 - t0)) ticks in 2 s"
note "idle pedserver: $((t1 - t0)) CPU ticks in 2 s, $(grep VmRSS "/proc/$PID/status" | tr -s ' \t' ' ')"

note "stop"
exec {PIDFD}<"$D/pedserver.pid"
ps_run -mode stop -statedir "$D"
[ "$RC" -eq 0 ] || fail "stop: $RC $OUT"
assert_contains "pedserver stopped" "$OUT"
timeout 10 flock -s "$PIDFD" || fail "daemon did not exit"
exec {PIDFD}<&-
assert_no_runtime "$D"
assert_contains "pedserver exiting with status 0" "$(cat "$D/pedserver.log")"

note "stop and show when none runs: exit 3"
ps_run -mode stop -statedir "$D"
[ "$RC" -eq 3 ] || fail "stop without daemon: $RC $OUT"
assert_contains "not running" "$OUT"
ps_run -mode show -statedir "$D"
[ "$RC" -eq 3 ] || fail "show without daemon: $RC $OUT"
assert_contains "pedserver is not running" "$OUT"
J=$("$PS" -mode show -json -statedir "$D") && fail "show -json without daemon: exit 0"
[ "$(echo "$J" | jq -r .running)" = false ] || fail "show -json without daemon: $J"

note "SIGTERM: clean exit, no runtime file left"
ps_start b -ped "$EMU_LINK"
PID=$(ps_pid "$PS_DIR")
exec {PIDFD}<"$PS_DIR/pedserver.pid"
kill -TERM "$PID"
timeout 10 flock -s "$PIDFD" || fail "daemon did not exit on SIGTERM"
exec {PIDFD}<&-
assert_no_runtime "$PS_DIR"
assert_contains "pedserver exiting with status 0" "$(cat "$PS_DIR/pedserver.log")"

stop_pedemu
note "pedserver_basic: all passed"
