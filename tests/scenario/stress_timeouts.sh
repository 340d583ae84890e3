#!/bin/sh
# stress_timeouts.sh - the Remote PED session under the timeouts of issue 6,
# with real processes on loopback (pedemu, pedserver, two pedclients, pedhsm):
#   1. busy: a second pedclient connecting while HSM A holds the server gets
#      SERVER_BUSY naming A (serial, address, since when) within 1 s; A's
#      session keeps working (a login afterwards succeeds);
#   3. PED operation timeout (4 s): PED_TIMEOUT, the PED back to "Awaiting
#      command", the session usable for the next command;
#   4. PED unplugged mid-login: CKR_PED_UNPLUGGED within 1 s, pedserver show
#      Disconnected; after plug a new ped connect works, nothing restarted;
#   2. idle timeout (3 s, set with config -set and SIGHUP on both sides): the
#      session closes on both sides at the deadline counted from the last
#      user operation (never before, within 1 s after), the 1 s pings do not
#      reset it, a login does; the next PED command gets CKR_PED_UNPLUGGED
#      with the hint to ped connect.
# Every wait is on an event (LCD text, an output line, a log line, a process
# exit); times come from the daemons' log timestamps.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_client.sh"
. "$(dirname "$0")/lib_stress.sh"

[ -x "$PH" ] || fail "$PH not built (make BUILD=$BUILD $PH)"
[ -x "$PS" ] || fail "$PS not built (make BUILD=$BUILD $PS)"
ok() { echo "ok: $*"; }

st_far
st_hsm hsma 1 -pinginterval 1 -pingtimeout 2
A=$PC_DIR
SA=$HSM_SERIAL
st_hsm hsmb 0
B=$PC_DIR
st_server srv -pedoperationtimeout 4 -pinginterval 1 -pingtimeout 2
SLOG=$SRV_DIR/pedserver.log
export CTL_SOCK=$FAR_SOCK

note "1. busy: a second pedclient gets SERVER_BUSY naming the holder within 1 s"
PC_DIR=$A
st_connect c1
PC_DIR=$B
t0=$(now_ms)
hsm_run ped connect -ip 127.0.0.1 -port "$SRV_PORT"
dt=$(($(now_ms) - t0))
[ "$RC" -eq 1 ] || fail "busy server accepted B: $OUT"
assert_contains "Command Result : SERVER_BUSY (" "$OUT"
echo "$OUT" | grep -q -E "SERVER_BUSY \(.*HSM $SA at 127\.0\.0\.1 since [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} UTC\)" ||
	fail "the holder is not named: $OUT"
[ "$dt" -lt 1000 ] || fail "SERVER_BUSY after $dt ms"
PC_DIR=$A
st_login l1
hsm_run role logout
[ "$RC" -eq 0 ] || fail "logout: $OUT"
ok "SERVER_BUSY naming HSM $SA, address and time, in $dt ms; A's login afterwards succeeded"

note "3. PED operation timeout (4 s): PED_TIMEOUT, the PED idle, the session usable"
hsm_bg l2 role login -name so
ctl_wait "PED Key (BLUE)" 5000
t0=$(now_ms)
hsm_done l2 15 && fail "login without a key succeeded: $OUT"
dt=$(($(now_ms) - t0))
assert_contains "Command Result : PED_TIMEOUT" "$OUT"
[ "$dt" -lt 5500 ] || fail "PED_TIMEOUT after $dt ms (PedOperationTimeout 4 s)"
ctl_wait "Awaiting command" 3000
hsm_run ped show
assert_contains "Session:            open" "$OUT"
st_login l3
hsm_run role logout
ok "PED_TIMEOUT after $dt ms; PED back to Awaiting command; the next login succeeded"

note "4. PED unplugged mid-login: CKR_PED_UNPLUGGED within 1 s; plug; ped connect again"
hsm_bg l4 role login -name so
ctl_wait "PED Key (BLUE)" 5000
t0=$(now_ms)
ctl unplug >/dev/null
hsm_done l4 10 && fail "login with the PED unplugged succeeded: $OUT"
dt=$(($(now_ms) - t0))
assert_contains "Command Result : CKR_PED_UNPLUGGED" "$OUT"
[ "$dt" -lt 1000 ] || fail "CKR_PED_UNPLUGGED after $dt ms"
srv_show_until "Ped2 Connection Status:    Disconnected" 1000
ctl plug >/dev/null
srv_show_until "Ped2 Connection Status:    Connected" 3000
hsm_run ped disconnect
[ "$RC" -eq 0 ] || fail "ped disconnect after the unplug: $OUT"
st_connect c2
st_login l5
hsm_run role logout
ok "CKR_PED_UNPLUGGED after $dt ms; show Disconnected, then Connected; new session and login"

note "2. idle timeout 3 s (config -set, SIGHUP): both sides close at the deadline"
pc -mode config -statedir "$A" -set -idletimeout 3
[ "$RC" -eq 0 ] || fail "pedclient config -set: $OUT"
ps_cfg=$("$PS" -mode config -statedir "$SRV_DIR" -set -idletimeout 3 2>&1) || fail "pedserver config -set: $ps_cfg"
n_ps=$(count_log "$SLOG" "reload: applied IdleTimeout")
n_pc=$(count_log "$A/pedclient.log" "reload: applied IdleTimeout")
kill -HUP "$(cat "$SRV_DIR/pedserver.pid")" "$(cat "$A/pedclient.pid")"
wait_log "$SLOG" "reload: applied IdleTimeout" 10 $((n_ps + 1)) >/dev/null
wait_log "$A/pedclient.log" "reload: applied IdleTimeout" 10 $((n_pc + 1)) >/dev/null
hsm_run ped disconnect
[ "$RC" -eq 0 ] || fail "ped disconnect: $OUT"
nsess=$(count_log "$SLOG" "key confirmation passed; session open")
st_connect c3 # a session opened after the reload has IdleTimeout 3 s
open_line=$(wait_log "$SLOG" "key confirmation passed; session open" 5 $((nsess + 1)))
t_open=$(log_ms "$open_line")
ncl=$(count_log "$A/pedclient.log" "slot 0: remote PED session closed")
nfree=$(count_log "$SLOG" "session closed after .* the PED is free")
nidle=$(count_log "$SLOG" "IDLE_TIMEOUT")
# the user pauses 1.5 s, then logs in: the login restarts the idle clock
sleep 1.5
nops=$(count_log "$SLOG" "READ_KEYSET on the PED: ")
st_login l6
last_line=$(wait_log "$SLOG" "READ_KEYSET on the PED: " 5 $((nops + 1)))
t_last=$(log_ms "$last_line")
# whichever side's clock fires first closes; the other is told (IDLE_TIMEOUT)
srv_line=$(wait_log "$SLOG" "session closed after .* the PED is free" 10 $((nfree + 1)))
[ "$(count_log "$SLOG" "IDLE_TIMEOUT")" -gt "$nidle" ] || fail "pedserver did not log IDLE_TIMEOUT"
cli_line=$(wait_log "$A/pedclient.log" "slot 0: remote PED session closed" 10 $((ncl + 1)))
t_srv=$(log_ms "$srv_line")
t_cli=$(log_ms "$cli_line")
d_srv=$((t_srv - t_last))
d_cli=$((t_cli - t_last))
note "  last user operation $((t_last - t_open)) ms after the open; closed after $d_srv ms (pedserver), $d_cli ms (pedclient)"
[ "$d_srv" -ge 3000 ] && [ "$d_srv" -lt 4000 ] || fail "pedserver closed $d_srv ms after the last operation"
[ "$d_cli" -ge 3000 ] && [ "$d_cli" -lt 4000 ] || fail "pedclient closed $d_cli ms after the last operation"
[ $((t_srv - t_open)) -ge 4500 ] || fail "the login did not restart the idle clock"
echo "$cli_line" | grep -q -E "idle (too long|for 3 s)" || fail "pedclient closed for another reason: $cli_line"
hsm_run ped show
assert_contains "Remote PED:         not connected" "$OUT"
srv_show_until "Client Information:          Not Available" 1000
hsm_run role login -name so
[ "$RC" -eq 1 ] || fail "a PED command after the idle timeout: $OUT"
assert_contains "Command Result : CKR_PED_UNPLUGGED (no PED: use ped connect)" "$OUT"
ok "idle close $d_srv/$d_cli ms after the last operation (deadline 3000 ms, pings every 1 s); then CKR_PED_UNPLUGGED with the ped connect hint"

echo "stress_timeouts: all ok"
