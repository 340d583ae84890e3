#!/bin/sh
# pedserver_config.sh - config -set / -show round trip and its survival
# across a restart; bad config values (file:line and range) and bad options
# (one line, exit 2); PED-initiated mode refused; an unwritable log file
# (the daemon starts and says where it logs); two instances side by side;
# an admin request without the token refused.
. tests/scenario/lib_server.sh

start_pedemu
D="$T/cfg"
mkdir -m 700 "$D"
P1=$(free_port)
A1=$(free_port)

note "config -set writes the file and says what changed"
ps_run -mode config -statedir "$D" -set -port "$P1" -admin "$A1" -ped "$EMU_LINK" -idletimeout 600
[ "$RC" -eq 0 ] || fail "config -set: $RC $OUT"
assert_contains "Port: 1503 -> $P1" "$OUT"
assert_contains "IdleTimeout: 1800 -> 600" "$OUT"
[ "$(stat -c %a "$D/pedserver.conf")" = 600 ] || fail "config file not 0600"
echo "; a comment that must survive" >>"$D/pedserver.conf"
ps_run -mode config -statedir "$D" -set LogTrace 1
[ "$RC" -eq 0 ] || fail "config -set (Luna bare form): $RC $OUT"
assert_contains "LogTrace: 0 -> 1" "$OUT"
grep -q "a comment that must survive" "$D/pedserver.conf" || fail "comment lost"
ps_run -mode config -statedir "$D" -set -idletimeout 600
assert_contains "IdleTimeout: 600 (unchanged)" "$OUT"

note "config -show prints the effective values"
ps_run -mode config -statedir "$D" -show
[ "$RC" -eq 0 ] || fail "config -show: $RC $OUT"
assert_contains "Port" "$OUT"
assert_contains "$P1" "$OUT"
J=$("$PS" -mode config -statedir "$D" -show -json)
[ "$(echo "$J" | jq -r .config.IdleTimeout)" = 600 ] || fail "config json: $J"
[ "$(echo "$J" | jq -r .config.LogTrace)" = true ] || fail "config json: $J"

note "the daemon uses the file; survives a restart"
ps_run -mode start -statedir "$D"
[ "$RC" -eq 0 ] || fail "start from the config: $RC $OUT"
ps_run -mode show -statedir "$D"
assert_contains "Server Port:               $P1" "$OUT"
assert_contains "Idle Timeout Value:        600 (secs)" "$OUT"
assert_contains "Ped2 Connection Status:    Connected" "$OUT"
ps_run -mode stop -statedir "$D"
[ "$RC" -eq 0 ] || fail "stop: $OUT"
ps_run -mode start -statedir "$D"
[ "$RC" -eq 0 ] || fail "restart: $RC $OUT"
ps_run -mode show -statedir "$D"
assert_contains "Idle Timeout Value:        600 (secs)" "$OUT"

note "two instances side by side (each with its own PED)"
start_pedemu e2
ps_start two -ped "$EMU_e2_LINK"
ps_run -mode show -statedir "$PS_two_DIR"
[ "$RC" -eq 0 ] || fail "second instance show: $OUT"
assert_contains "Server Port:               $PS_two_PORT" "$OUT"
assert_contains "Ped2 Connection Status:    Connected" "$OUT"
ps_run -mode show -statedir "$D"
assert_contains "Server Port:               $P1" "$OUT"

note "an admin request without the token is refused"
ans=$(printf 'show\n' | socat -t 5 - "TCP:127.0.0.1:$A1")
assert_contains "ERR AUTH_REQUIRED" "$ans"
assert_not_contains "Server Port" "$ans"
ans=$(printf 'AUTH %064d\nshow\n' 0 | socat -t 5 - "TCP:127.0.0.1:$A1")
assert_contains "ERR AUTH_REQUIRED" "$ans"
ps_run -mode stop -statedir "$D"
ps_run -mode stop -statedir "$PS_two_DIR"

note "bad config values: file:line and the range"
B="$T/bad"
mkdir -m 700 "$B"
printf '[Server]\nPort = 70000\n' >"$B/pedserver.conf"
ps_run -mode start -statedir "$B"
[ "$RC" -eq 2 ] || fail "bad port in file: $RC $OUT"
assert_contains "pedserver.conf:2: Port = 70000 is out of range (1-65535)" "$OUT"
[ "$(echo "$OUT" | wc -l)" -eq 1 ] || fail "more than one line: $OUT"
printf '[Ped]\nPedWriteDelay = fast\n' >"$B/pedserver.conf"
ps_run -mode config -statedir "$B" -show
[ "$RC" -eq 2 ] || fail "bad delay in file: $RC $OUT"
assert_contains "pedserver.conf:2: PedWriteDelay" "$OUT"
assert_contains "0-10000" "$OUT"
assert_no_runtime "$B"

note "bad options: one line naming the option, exit 2"
for args in "-mode start -prot 1" "-mode start -port" "-mode start -port 70000" \
	"-mode start -pedwritelay 10001" "-mode bogus" "-mode show -port 1" \
	"-mode start -eserverport 2"; do
	# shellcheck disable=SC2086
	ps_run -statedir "$B" $args
	[ "$RC" -eq 2 ] || fail "'$args': exit $RC ($OUT)"
	[ "$(echo "$OUT" | wc -l)" -eq 1 ] || fail "'$args': more than one line: $OUT"
	note "  $args -> $OUT"
done
ps_run -mode start -port 70000 -statedir "$B"
assert_contains "-port: 70000 is out of range (1-65535)" "$OUT"
ps_run -mode start -prot 1 -statedir "$B"
assert_contains "-prot: unknown option" "$OUT"

note "PED-initiated mode: usage errors (tls_*.sh test the rest)"
for args in "-mode connect" "-mode disconnect" "-regen" "-appliance register" \
	"-mode start -name box"; do
	# shellcheck disable=SC2086
	ps_run $args -statedir "$B"
	[ "$RC" -eq 2 ] || fail "'$args': exit $RC ($OUT)"
done

note "log file unwritable: the daemon starts and says where it logs"
mkdir -m 500 "$T/ro"
L="$T/ro/sub/x.log"
ps_start lg -ped "$EMU_LINK" -logfile "$L"
assert_contains "cannot open log file $L" "$OUT"
assert_contains "logging to $PS_DIR/pedserver.log instead" "$OUT"
ps_run -mode show -statedir "$PS_DIR"
[ "$RC" -eq 0 ] || fail "show: $OUT"
grep -q "cannot open log file $L" "$PS_DIR/pedserver.log" || fail "fallback log lacks the reason"
ps_run -mode stop -statedir "$PS_DIR"

note "start fails clearly: port in use, PED path unusable"
ps_start busy -ped "$EMU_LINK"
ps_run -mode start -statedir "$T/other" -port "$PS_busy_PORT" -admin "$(free_port)" -ped "$EMU_LINK"
[ "$RC" -ne 0 ] || fail "start on a port in use succeeded"
assert_contains "port $PS_busy_PORT" "$OUT"
assert_contains "address already in use" "$OUT"
assert_no_runtime "$T/other"
ps_run -mode start -statedir "$T/other" -port "$(free_port)" -admin "$(free_port)" -ped /etc/passwd
[ "$RC" -ne 0 ] || fail "start with /etc/passwd as PED succeeded"
assert_contains "not a terminal" "$OUT"
ps_run -mode start -statedir "$T/other" -port "$(free_port)" -admin "$(free_port)" -ped /nonexistent/dir/ped
[ "$RC" -ne 0 ] || fail "start with a PED in a missing directory succeeded"
assert_contains "unusable" "$OUT"
ps_run -mode stop -statedir "$PS_busy_DIR"

stop_pedemu
note "pedserver_config: all passed"
