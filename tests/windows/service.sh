#!/bin/sh
# service.sh - pedserver.exe as a Windows service under wine's service control
# manager (make wintest): -mode install registers it (command line, automatic
# start, event log source), `net start` runs it (SCM state RUNNING, a Linux
# pedemu's PED connected over the TCP link, Linux show and a TCP probe are
# answered, a second instance is refused naming it), `net stop` is the same
# clean stop as SIGTERM (STOPPED, exit 0, no runtime file left); a failed start
# (another instance holds the state dir, a bad config file) reaches the SCM as
# the service-specific exit code, the transcript and the event log;
# -mode uninstall stops a running service and removes it.
# Needs BUILD (Linux build) and WIN_BUILD (make windows), wine on PATH and
# WINEPREFIX (scripts/wine-run.sh sets it up).
. tests/scenario/lib.sh
. tests/scenario/lib_client.sh
. tests/windows/lib_svc.sh

WIN_BUILD=${WIN_BUILD:-build-win}
PSX="$WIN_BUILD/pedserver.exe"
[ -x "$PSX" ] || fail "$PSX not built (make windows)"
[ -x "$PS" ] || fail "$PS not built (make BUILD=$BUILD)"
ok() { echo "ok: $*"; }
winpath() { echo "Z:$1"; }
# one wine command: RC and OUT (CRs removed)
w() {
	RC=0
	OUT=$(timeout 60 wine "$@" 2>&1) || RC=$?
	OUT=$(printf '%s' "$OUT" | tr -d '\r')
}
SVC=pedserver
svc_field() {
	timeout 30 wine sc query "$SVC" 2>/dev/null | tr -d '\r' |
		sed -n "s/^ *$1 *: *\([0-9]*\).*/\1/p"
}

# A wine session of our own. Wine ends its system processes (services.exe and
# the services it runs) when the last ordinary process exits: a persistent
# wineserver keeps them. The first process boots services.exe, which hands
# its stderr and WINEDEBUG to the services it starts: wine 8's event log is
# only a debug trace (ReportEventW is a stub that prints the strings on the
# "eventlog" channel), read here from that file.
wineserver -k 2>/dev/null || true
wineserver -p
WINEDEBUG=-all,+eventlog timeout 60 wine cmd /c exit 2>"$T/wine-system.err" || true
PCX="$WIN_BUILD/pedclient.exe"
PHX="$WIN_BUILD/pedhsm.exe"
uninstall_quietly() {
	timeout 60 wine "$PSX" -mode uninstall >/dev/null 2>&1 || true
	timeout 60 wine "$PCX" -mode uninstall >/dev/null 2>&1 || true
}
_lib_exit_hooks="$_lib_exit_hooks uninstall_quietly"
uninstall_quietly # a service left over by an interrupted run

LP=$(free_port)
start_pedemu far -mode remote -link "tcp:127.0.0.1:$LP"
SPORT=$(free_port)
APORT=$(free_port)
mkdir -p "$T/conf"
CONF="$T/conf/pedserver.conf"
"$PS" -mode config -set -configfile "$CONF" -port "$SPORT" -admin "$APORT" \
	-ped "tcp:127.0.0.1:$LP" >/dev/null
SD="$T/sd"
LOG="$SD/pedserver.log"

note "-mode install: the service's command line, automatic start, event log source"
w "$PSX" -mode install -statedir "$(winpath "$SD")" -configfile "$(winpath "$CONF")"
[ "$RC" -eq 0 ] || fail "install: exit $RC: $OUT"
assert_contains "service pedserver installed" "$OUT"
w reg query 'HKLM\System\CurrentControlSet\Services\pedserver'
[ "$RC" -eq 0 ] || fail "no service key: $OUT"
assert_contains "pedserver.exe\" -mode start -winservice -statedir \"$(winpath "$SD")\" -configfile \"$(winpath "$CONF")\"" "$OUT"
assert_contains "Start    REG_DWORD    0x2" "$OUT"
w reg query 'HKLM\System\CurrentControlSet\Services\EventLog\Application\pedserver'
[ "$RC" -eq 0 ] || fail "no event log source: $OUT"
assert_contains "pedserver.exe" "$OUT"
[ "$(svc_state "$SVC")" = STOPPED ] || fail "installed service not STOPPED: $(svc_state "$SVC")"
w "$PSX" -mode install -statedir "$(winpath "$SD")"
[ "$RC" -eq 1 ] || fail "second install: exit $RC: $OUT"
assert_contains "SERVICE_EXISTS" "$OUT"
RC=0
OUT=$("$PS" -mode install -statedir "$T/linux" 2>&1) || RC=$?
[ "$RC" -eq 1 ] || fail "Linux install: exit $RC: $OUT"
assert_contains "WINDOWS_ONLY" "$OUT"
w "$PSX" -mode recovery
[ "$RC" -eq 0 ] || fail "recovery: exit $RC: $OUT"
assert_contains "service pedserver: restart after 5 s on the first two failures" "$OUT"
RC=0
OUT=$("$PS" -mode recovery 2>&1) || RC=$?
[ "$RC" -eq 1 ] || fail "Linux recovery: exit $RC: $OUT"
assert_contains "WINDOWS_ONLY" "$OUT"
ok "installed; a second install is refused (SERVICE_EXISTS); -mode recovery sets the recovery" \
	"again; Linux says WINDOWS_ONLY"

note "net start: RUNNING, the PED connected, Linux show and a TCP probe answered"
w net start pedserver
[ "$RC" -eq 0 ] || fail "net start: $OUT"
svc_wait_state "$SVC" RUNNING 30
wait_file "$LOG" "info: ready \(pid [0-9]+\)"
wait_file "$LOG" "PED connected on tcp:127.0.0.1:$LP"
RC=0
OUT=$("$PS" -mode show -statedir "$SD" 2>&1) || RC=$?
[ "$RC" -eq 0 ] || fail "Linux show of the service: $OUT"
assert_contains "Ped2 Connection Status:    Connected" "$OUT"
exec 7<>"/dev/tcp/127.0.0.1/$SPORT" || fail "server port $SPORT does not accept"
exec 7>&-
SPID=$(cat "$SD/pedserver.pid")
wait_file "$T/wine-system.err" "pedserver service running: serving on"
ok "RUNNING (pid $SPID): show and a TCP probe answered; event log: 'service running'"

note "a second instance is refused, naming the service"
w "$PSX" -mode start -foreground -statedir "$(winpath "$SD")" -port "$(free_port)" \
	-admin "$(free_port)" -ped "tcp:127.0.0.1:$LP"
[ "$RC" -eq 1 ] || fail "second instance: exit $RC: $OUT"
assert_contains "already running (pid $SPID, admin port $APORT)" "$OUT"
ok "second instance refused"

note "net stop: the clean stop of SIGTERM, STOPPED, no runtime file left"
w net stop pedserver
[ "$RC" -eq 0 ] || fail "net stop: $OUT"
svc_wait_state "$SVC" STOPPED 30
wait_file "$LOG" "shutting down \(service stop\)"
wait_file "$LOG" "pedserver exiting with status 0"
[ "$(svc_field WIN32_EXIT_CODE)" = 0 ] || fail "exit code $(svc_field WIN32_EXIT_CODE)"
for f in pedserver.pid admin.port admin.token; do
	[ ! -e "$SD/$f" ] || fail "runtime file $f left behind"
done
ok "stopped cleanly (exit code 0)"

note "a start that fails reaches the SCM: another instance holds the state dir"
run_bg fg timeout 120 wine "$PSX" -mode start -foreground -statedir "$(winpath "$SD")" \
	-configfile "$(winpath "$CONF")"
wait_line fg 'info: ready \(pid [0-9]+\)' 60
FPID=$(cat "$SD/pedserver.pid")
w net start pedserver
svc_wait_state "$SVC" STOPPED 30
[ "$(svc_field WIN32_EXIT_CODE)" = 1066 ] || fail "WIN32_EXIT_CODE $(svc_field WIN32_EXIT_CODE)"
[ "$(svc_field SERVICE_EXIT_CODE)" = 1 ] || fail "SERVICE_EXIT_CODE $(svc_field SERVICE_EXIT_CODE)"
wait_file "$SD/pedserver-service.log" "already running \(pid $FPID, admin port $APORT\)"
wait_file "$T/wine-system.err" "pedserver service stopped with status 1: .*already running"
w "$PSX" -mode stop -statedir "$(winpath "$SD")"
[ "$RC" -eq 0 ] || fail "stop of the foreground instance: $OUT"
wait_bg fg 30 || fail "foreground instance exit status $?"
ok "refused start: ERROR_SERVICE_SPECIFIC_ERROR (1066), code 1, transcript and event log say why"

note "a bad config file: exit code 2, the reason in the transcript"
cp "$CONF" "$T/conf/good"
sed -i "s/^Port = $SPORT\$/Port = 70000/" "$CONF"
w net start pedserver
svc_wait_state "$SVC" STOPPED 30
[ "$(svc_field SERVICE_EXIT_CODE)" = 2 ] || fail "SERVICE_EXIT_CODE $(svc_field SERVICE_EXIT_CODE)"
wait_file "$SD/pedserver-service.log" "pedserver: .*:[0-9]+: Port = 70000 is out of range"
wait_file "$T/wine-system.err" "pedserver service stopped with status 2: .*Port = 70000"
cp "$T/conf/good" "$CONF"
ok "bad config: code 2: $(tail -n 1 "$SD/pedserver-service.log" | tr -d '\r')"

note "-mode uninstall stops a running service, then removes it"
w net start pedserver
svc_wait_state "$SVC" RUNNING 30
N=$(grep -c "pedserver exiting with status 0" "$LOG")
w "$PSX" -mode uninstall
[ "$RC" -eq 0 ] || fail "uninstall: exit $RC: $OUT"
assert_contains "service pedserver removed" "$OUT"
[ "$(grep -c "pedserver exiting with status 0" "$LOG")" -eq $((N + 1)) ] ||
	fail "uninstall returned before the service exited cleanly"
[ -z "$(svc_state "$SVC")" ] || fail "sc query still finds the service: $(svc_state "$SVC")"
RC=0
timeout 30 wine sc query pedserver >/dev/null 2>&1 || RC=$?
[ "$RC" -ne 0 ] || fail "sc query pedserver succeeds after uninstall"
w reg query 'HKLM\System\CurrentControlSet\Services\pedserver'
[ "$RC" -ne 0 ] || fail "service key left: $OUT"
w reg query 'HKLM\System\CurrentControlSet\Services\EventLog\Application\pedserver'
[ "$RC" -ne 0 ] || fail "event log source left: $OUT"
w "$PSX" -mode uninstall
[ "$RC" -eq 3 ] || fail "second uninstall: exit $RC: $OUT"
assert_contains "SERVICE_NOT_INSTALLED" "$OUT"
w "$PSX" -mode recovery
[ "$RC" -eq 3 ] || fail "recovery without a service: exit $RC: $OUT"
assert_contains "SERVICE_NOT_INSTALLED" "$OUT"
for f in pedserver.pid admin.port admin.token; do
	[ ! -e "$SD/$f" ] || fail "runtime file $f left behind"
done
ok "uninstalled: sc query and the registry no longer know it"

note "pedclient.exe as a service: pedhsm.exe answered through its named pipe"
SVC=pedclient
PD="$T/pcsd"
w "$PCX" -mode install -statedir "$(winpath "$PD")" -admin "$(free_port)"
[ "$RC" -eq 2 ] || fail "install with a start option: exit $RC: $OUT"
"$BUILD/pedclient" -mode config -set -configfile "$T/conf/pedclient.conf" \
	-admin "$(free_port)" >/dev/null
w "$PCX" -mode install -statedir "$(winpath "$PD")" -configfile "$(winpath "$T/conf/pedclient.conf")"
[ "$RC" -eq 0 ] || fail "pedclient install: exit $RC: $OUT"
assert_contains "service pedclient installed" "$OUT"
w net start pedclient
svc_wait_state "$SVC" RUNNING 30
wait_file "$PD/pedclient.log" "info: ready \(pid [0-9]+\)"
w "$PHX" -statedir "$(winpath "$PD")" slot list
[ "$RC" -eq 0 ] || fail "pedhsm.exe slot list against the service: $OUT"
assert_contains "Slot 0: serial" "$OUT"
w net stop pedclient
svc_wait_state "$SVC" STOPPED 30
wait_file "$PD/pedclient.log" "pedclient exiting with status 0"
w "$PCX" -mode uninstall
[ "$RC" -eq 0 ] || fail "pedclient uninstall: $OUT"
[ -z "$(svc_state "$SVC")" ] || fail "sc query still finds pedclient"
for f in pedclient.pid admin.port admin.token; do
	[ ! -e "$PD/$f" ] || fail "runtime file $f left behind"
done
ok "pedclient service: RUNNING, pedhsm.exe answered, stopped cleanly, removed"
echo "service: ok"
