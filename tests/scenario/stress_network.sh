#!/bin/sh
# stress_network.sh - a peer that stops answering in the middle of a login
# (issue 6, item 5), with real processes on loopback; pings every 1 s, 2 s
# without a pong ends the session on both sides (bound: interval + timeout
# + 1 s = 4 s):
#   a. kill -STOP pedclient while a login waits on the PED: pedserver drops
#      the session within the bound, the PED goes back to idle, the slot is
#      free (another HSM connects); after kill -CONT pedclient reports a
#      clean error to the waiting pedhsm; the HSM state file is unchanged;
#      a new connect and login work;
#   b. kill -STOP pedserver while a login waits on the PED: pedclient gives
#      up within the bound with a clean error, its session is gone, the HSM
#      state unchanged; after kill -CONT pedserver frees the slot and the PED,
#      and a new connect works.
# Every wait is on an event (LCD text, an output line, a log line, a process
# exit); times come from the daemons' log timestamps.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_client.sh"
. "$(dirname "$0")/lib_stress.sh"

[ -x "$PH" ] || fail "$PH not built (make BUILD=$BUILD $PH)"
[ -x "$PS" ] || fail "$PS not built (make BUILD=$BUILD $PS)"
ok() { echo "ok: $*"; }
BOUND=4000 # PingInterval 1 s + PingTimeout 2 s + 1 s

st_far
st_hsm hsma 1 -pinginterval 1 -pingtimeout 2
A=$PC_DIR
st_hsm hsmb 0
B=$PC_DIR
st_server srv -pinginterval 1 -pingtimeout 2
SLOG=$SRV_DIR/pedserver.log
export CTL_SOCK=$FAR_SOCK
APID=$(cat "$A/pedclient.pid")
SPID=$(cat "$SRV_DIR/pedserver.pid")
_stress_cont() { kill -CONT "$APID" "$SPID" 2>/dev/null || true; }
_lib_exit_hooks="_stress_cont $_lib_exit_hooks"

note "a. kill -STOP pedclient while a login waits on the PED"
PC_DIR=$A
st_connect c1
sum0=$(sha256sum <"$A/slot0.hsm")
hsm_bg l1 role login -name so
ctl_wait "PED Key (BLUE)" 5000
n=$(count_log "$SLOG" "no answer to a ping")
nfree=$(count_log "$SLOG" "session closed after .* the PED is free")
t0=$(now_ms)
kill -STOP "$APID"
line=$(wait_log "$SLOG" "no answer to a ping" 10 $((n + 1)))
dt=$(($(log_ms "$line") - t0))
[ "$dt" -lt "$BOUND" ] || fail "pedserver noticed the stopped pedclient after $dt ms"
wait_log "$SLOG" "session closed after .* the PED is free" 5 $((nfree + 1)) >/dev/null
ctl_wait "Awaiting command" 3000 # the login was cancelled on the PED
srv_show_until "Client Information:          Not Available" 1000
PC_DIR=$B
st_connect cb # the slot is free: another HSM gets in
hsm_run ped disconnect
[ "$RC" -eq 0 ] || fail "B disconnect: $OUT"
t1=$(now_ms)
kill -CONT "$APID"
hsm_done l1 10 && fail "the login of the stopped pedclient succeeded: $OUT"
dc=$(($(now_ms) - t1))
echo "$OUT" | grep -q -E "^Command Result : (PEER_TIMEOUT|DISCONNECTED|CKR_PED_UNPLUGGED) \(" ||
	fail "no clean error after CONT: $OUT"
[ "$dc" -lt 2000 ] || fail "pedclient reported the dead session $dc ms after CONT"
PC_DIR=$A
hsm_run ped show
assert_contains "Remote PED:         not connected" "$OUT"
[ "$(sha256sum <"$A/slot0.hsm")" = "$sum0" ] || fail "the HSM state changed"
res=$(grep "^Command Result" "$T/l1.log")
st_connect c2
st_login l2
hsm_run role logout
hsm_run ped disconnect
ok "pedserver dropped the stopped pedclient after $dt ms (bound $BOUND), slot and PED freed, B got in; after CONT ($dc ms): $res; HSM state unchanged; reconnect and login work"

note "b. kill -STOP pedserver while a login waits on the PED"
st_connect c3
sum0=$(sha256sum <"$A/slot0.hsm")
hsm_bg l3 role login -name so
ctl_wait "PED Key (BLUE)" 5000
t0=$(now_ms)
kill -STOP "$SPID"
hsm_line l3 "^Command Result" 10
dt=$(($(now_ms) - t0))
hsm_done l3 5 && fail "the login with a stopped pedserver succeeded: $OUT"
echo "$OUT" | grep -q -E "^Command Result : PEER_TIMEOUT \(.*stopped answering" ||
	fail "no clean PEER_TIMEOUT: $OUT"
[ "$dt" -lt "$BOUND" ] || fail "pedclient noticed the stopped pedserver after $dt ms"
res=$(grep "^Command Result" "$T/l3.log")
hsm_run ped show
assert_contains "Remote PED:         not connected" "$OUT"
[ "$(sha256sum <"$A/slot0.hsm")" = "$sum0" ] || fail "the HSM state changed"
nfree=$(count_log "$SLOG" "session closed after .* the PED is free")
t1=$(now_ms)
kill -CONT "$SPID"
line=$(wait_log "$SLOG" "session closed after .* the PED is free" 5 $((nfree + 1)))
dc=$(($(log_ms "$line") - t1))
ctl_wait "Awaiting command" 3000
srv_show_until "Client Information:          Not Available" 1000
st_connect c4
st_login l4
hsm_run ped disconnect
ok "pedclient gave up on the stopped pedserver after $dt ms (bound $BOUND): $res; HSM state unchanged; after CONT pedserver freed the slot in $dc ms; reconnect and login work"

echo "stress_network: all ok"
