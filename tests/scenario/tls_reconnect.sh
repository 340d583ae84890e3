#!/bin/sh
# tls_reconnect.sh - the PED-initiated link comes back by itself (issue 14):
#   after the HSM host's pedclient restarts (pedserver retries with back-off
#     and jitter: the retries are seen failing while pedclient is down);
#   after the link's TCP connection is cut (ss -K, as root);
#   a session through the link still opens after both.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_client.sh"
. "$(dirname "$0")/lib_tls.sh"
ok() { echo "ok: $*"; }

start_pedemu far -mode remote
PC_ARGS=""
tls_pair
"$PS" -mode connect -name hsm1 -statedir "$SRV" >/dev/null || fail "-mode connect"
wait_up 1

note "pedclient restarts"
pc -mode stop -statedir "$PCD"
[ "$RC" -eq 0 ] || fail "pedclient stop: $OUT"
wait_log "$SRV/pedserver.log" "appliance hsm1 .*PED-initiated link down" 1
# while pedclient is away the attempts fail and back off
wait_log "$SRV/pedserver.log" "appliance hsm1 .*link not made: cannot connect" 2
OUT=$("$PS" -mode show -statedir "$SRV" -name hsm1 2>&1)
assert_contains "Next retry in:" "$OUT"
assert_contains "connection refused" "$OUT"
start_pc hsm
wait_up 2 40
ok "link back after pedclient's restart (back-off retries seen while it was down)"

note "the link's TCP connection is cut"
ss -K dst 127.0.0.1 dport = :"$LPORT" >/dev/null 2>&1 || fail "ss -K failed (needs root)"
wait_log "$SRV/pedserver.log" "appliance hsm1 .*PED-initiated link down" 2
wait_up 3 40
ok "link back after a cut"

note "a ped connect refused before the network does not use up the link"
hsm_run ped connect
assert_contains "NOT_INITIALIZED" "$OUT"
pc -mode show -statedir "$PCD"
assert_contains "waiting for ped connect" "$OUT"
[ "$(link_state hsm1)" = connected ] || fail "pedserver: link not connected"
ok "both sides show the link up after the cut; a refused ped connect leaves it waiting"
