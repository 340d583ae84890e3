#!/bin/sh
# msi.sh - the installer (make msi) under wine's msiexec (make wintest):
# /i /qn puts pedserver.exe, pedclient.exe and pedhsm.exe under
# Program Files\RemotePED and registers both services (automatic start,
# -mode start -winservice, event log sources), not started; configured with
# the installed programs (default places under %ProgramData%\RemotePED) they
# run: pedserver with a Linux pedemu's PED on a TCP link (Linux show reads it),
# pedclient answering the installed pedhsm.exe; /x /qn stops both (a clean
# exit in their logs) and removes programs, services and event sources. The
# services' recovery actions: the MSI's deferred custom actions (rows checked
# with msiinfo) run each installed program's -mode recovery after
# InstallServices on install, not on uninstall (its answer is in msiexec's
# output under wine; wine's SCM does not keep the actions, docs/windows.md).
# Needs BUILD, WIN_BUILD, WIN_MSI (make msi), wine and WINEPREFIX
# (scripts/wine-run.sh).
. tests/scenario/lib.sh
. tests/scenario/lib_client.sh
. tests/windows/lib_svc.sh

WIN_BUILD=${WIN_BUILD:-build-win}
MSI=${WIN_MSI:-}
[ -n "$MSI" ] && [ -f "$MSI" ] || fail "no MSI '$MSI' (make msi)"
ok() { echo "ok: $*"; }
w() {
	RC=0
	OUT=$(timeout 120 wine "$@" 2>&1) || RC=$?
	OUT=$(printf '%s' "$OUT" | tr -d '\r')
}
PF="$WINEPREFIX/drive_c/Program Files/RemotePED"
PD="$WINEPREFIX/drive_c/ProgramData/RemotePED"
WPF='C:\Program Files\RemotePED'

# a session of our own that keeps its services (see service.sh)
wineserver -k 2>/dev/null || true
wineserver -p
msi_cleanup() {
	timeout 120 wine msiexec /x "Z:$MSI" /qn >/dev/null 2>&1 || true
	rm -rf "$PD"
}
_lib_exit_hooks="$_lib_exit_hooks msi_cleanup"
msi_cleanup # what an interrupted run left

note "the recovery actions in the MSI: deferred custom actions after InstallServices"
CA=$(msiinfo export "$MSI" CustomAction | tr -d '\r')
SEQ=$(msiinfo export "$MSI" InstallExecuteSequence | tr -d '\r')
seq_of() { printf '%s\n' "$SEQ" | awk -F'\t' -v a="$1" '$1 == a { print $3 }'; }
for s in pedserver pedclient; do
	a=$([ $s = pedserver ] && echo PedServerRecovery || echo PedClientRecovery)
	# 3090 = 18 (an installed program) + 1024 (deferred) + 2048 (no impersonation)
	assert_contains "$(printf '%s\t3090\t%s.exe\t-mode recovery' "$a" "$s")" "$CA"
	assert_contains "$(printf '%s\tNOT REMOVE="ALL"\t' "$a")" "$SEQ"
	n=$(seq_of "$a")
	[ "$n" -gt "$(seq_of InstallServices)" ] && [ "$n" -lt "$(seq_of StartServices)" ] &&
		[ "$n" -lt "$(seq_of InstallFinalize)" ] || fail "$a at $n: not between InstallServices and StartServices"
done
ok "CustomAction and InstallExecuteSequence rows: -mode recovery, deferred, no impersonation"

note "msiexec /i /qn: programs, services, event sources, recovery actions"
w msiexec /i "Z:$MSI" /qn
[ "$RC" -eq 0 ] || fail "msiexec /i: exit $RC: $OUT"
for s in pedserver pedclient; do
	assert_contains "$s: service $s: restart after 5 s on the first two failures, the count reset after a day" "$OUT"
done
for p in pedserver pedclient pedhsm; do
	[ -f "$PF/$p.exe" ] || fail "$PF/$p.exe not installed"
done
for s in pedserver pedclient; do
	[ "$(svc_state $s)" = STOPPED ] || fail "service $s: '$(svc_state $s)', not STOPPED"
	w reg query "HKLM\\System\\CurrentControlSet\\Services\\$s"
	assert_contains "RemotePED\\$s.exe -mode start -winservice" "$OUT"
	assert_contains "Start    REG_DWORD    0x2" "$OUT"
	w reg query "HKLM\\System\\CurrentControlSet\\Services\\EventLog\\Application\\$s"
	[ "$RC" -eq 0 ] || fail "no event log source $s"
	assert_contains "RemotePED\\$s.exe" "$OUT"
done
ok "installed under Program Files; services pedserver and pedclient registered (auto, stopped)"

note "the installed services run with the default places"
LP=$(free_port)
start_pedemu far -mode remote -link "tcp:127.0.0.1:$LP"
SPORT=$(free_port)
APORT=$(free_port)
w "$WPF\\pedserver.exe" -mode config -set -port "$SPORT" -admin "$APORT" -ped "tcp:127.0.0.1:$LP"
[ "$RC" -eq 0 ] || fail "pedserver config -set: $OUT"
w "$WPF\\pedclient.exe" -mode config -set -admin "$(free_port)"
[ "$RC" -eq 0 ] || fail "pedclient config -set: $OUT"
w net start pedserver
w net start pedclient
svc_wait_state pedserver RUNNING
svc_wait_state pedclient RUNNING
wait_file "$PD/pedserver/pedserver.log" "PED connected on tcp:127.0.0.1:$LP"
RC=0
OUT=$("$PS" -mode show -statedir "$PD/pedserver" 2>&1) || RC=$?
[ "$RC" -eq 0 ] || fail "Linux show of the installed pedserver: $OUT"
assert_contains "Ped2 Connection Status:    Connected" "$OUT"
wait_file "$PD/pedclient/pedclient.log" "info: ready \(pid [0-9]+\)"
w "$WPF\\pedhsm.exe" slot list
[ "$RC" -eq 0 ] || fail "installed pedhsm.exe: $OUT"
assert_contains "Slot 0: serial" "$OUT"
ok "both services RUNNING from %ProgramData%\\RemotePED; show and pedhsm.exe answered"

note "msiexec /x /qn with both services running: stopped cleanly, services removed"
w msiexec /x "Z:$MSI" /qn
[ "$RC" -eq 0 ] || fail "msiexec /x: exit $RC: $OUT"
assert_not_contains "restart after 5 s" "$OUT"
wait_file "$PD/pedserver/pedserver.log" "pedserver exiting with status 0"
wait_file "$PD/pedclient/pedclient.log" "pedclient exiting with status 0"
for s in pedserver pedclient; do
	[ -z "$(svc_state $s)" ] || fail "service $s still known: $(svc_state $s)"
	w reg query "HKLM\\System\\CurrentControlSet\\Services\\$s"
	[ "$RC" -ne 0 ] || fail "service key $s left"
	w reg query "HKLM\\System\\CurrentControlSet\\Services\\EventLog\\Application\\$s"
	[ "$RC" -ne 0 ] || fail "event log source $s left"
	# wine's msiexec sends STOP but does not wait for the service to end
	# before RemoveFiles (Windows Installer does): wait for the process
	# (its pid lock) here, with the build's program
	w "$WIN_BUILD/$s.exe" -mode stop -statedir "C:\\ProgramData\\RemotePED\\$s"
	[ "$RC" -eq 0 ] || [ "$RC" -eq 3 ] || fail "$s still running after the uninstall: $OUT"
done
[ ! -e "$PD/pedserver/pedserver.pid" ] && [ ! -e "$PD/pedclient/pedclient.pid" ] ||
	fail "runtime files left"
ok "uninstall stopped both services (clean exits), removed them and their event sources"

note "install and uninstall again: the programs are removed"
w msiexec /i "Z:$MSI" /qn
[ "$RC" -eq 0 ] || fail "msiexec /i again: exit $RC: $OUT"
[ "$(svc_state pedserver)" = STOPPED ] || fail "reinstalled pedserver: $(svc_state pedserver)"
w msiexec /x "Z:$MSI" /qn
[ "$RC" -eq 0 ] || fail "msiexec /x again: exit $RC: $OUT"
for p in pedserver pedclient pedhsm; do
	[ ! -e "$PF/$p.exe" ] || fail "$PF/$p.exe left"
done
[ ! -e "$PF" ] || fail "$PF left"
for s in pedserver pedclient; do
	[ -z "$(svc_state $s)" ] || fail "service $s still known after the second uninstall"
done
ok "programs, services and event sources gone; the state in %ProgramData% is kept"
echo "msi: ok"
