#!/bin/sh
# stress_netns.sh - a real link cut in the middle of a login (issue 6, item
# 5): pedserver runs in one network namespace, pedclient in another, joined
# by a veth pair (10.200.0.1/30 and 10.200.0.2/30, addresses that exist only
# inside the two namespaces this test makes and removes). Pings every 1 s,
# 2 s without a pong ends a session (bound: 1 + 2 + 1 = 4 s). With the link
# down mid-login:
#   * pedserver drops the session within the bound, frees the slot and the
#     PED (back to "Awaiting command"): a half-open connection does not hold
#     the server;
#   * pedclient gives up within the bound, pedhsm reports a clean
#     PEER_TIMEOUT, the session is gone, the HSM state file is unchanged;
#   * with the link back, a new ped connect and a login work, nothing
#     restarted.
# Needs root and ip netns; skipped (exit 0) otherwise. The pedemus, the PED
# pty and pedhsm stay in the host's namespace (Unix sockets and ptys are not
# bound to one).
if [ "$(id -u)" != 0 ] || ! ip netns list >/dev/null 2>&1; then
	echo "SKIP: stress_netns.sh needs root and ip netns"
	exit 0
fi
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_client.sh"
. "$(dirname "$0")/lib_stress.sh"

[ -x "$PH" ] || fail "$PH not built (make BUILD=$BUILD $PH)"
[ -x "$PS" ] || fail "$PS not built (make BUILD=$BUILD $PS)"
ok() { echo "ok: $*"; }
BOUND=4000

NS_S=pedS$$
NS_C=pedC$$
VS=pvs$$
VC=pvc$$
_stress_netns_del() {
	ip netns del "$NS_S" 2>/dev/null || true
	ip netns del "$NS_C" 2>/dev/null || true
}
# after the daemons are stopped (lib_client's hook comes first)
_lib_exit_hooks="$_lib_exit_hooks _stress_netns_del"
if ! ip netns add "$NS_S" || ! ip netns add "$NS_C"; then
	echo "SKIP: stress_netns.sh: cannot create network namespaces"
	exit 0
fi
ip link add "$VS" netns "$NS_S" type veth peer name "$VC" netns "$NS_C" ||
	fail "cannot create the veth pair"
ip -n "$NS_S" addr add 10.200.0.1/30 dev "$VS"
ip -n "$NS_C" addr add 10.200.0.2/30 dev "$VC"
for ns in "$NS_S" "$NS_C"; do ip -n "$ns" link set lo up; done
ip -n "$NS_S" link set "$VS" up
ip -n "$NS_C" link set "$VC" up

st_far
# pedclient (and its daemon) in the client's namespace
printf '#!/bin/sh\nexec ip netns exec %s %s "$@"\n' "$NS_C" "$(realpath "$PC")" >"$T/pc_netns"
chmod +x "$T/pc_netns"
PC_HOST=$PC
PC=$T/pc_netns
st_hsm hsmc 1 -pinginterval 1 -pingtimeout 2
PC=$PC_HOST
C=$PC_DIR
SRV_NETNS=$NS_S
SRV_IP=10.200.0.1
st_server srv -pinginterval 1 -pingtimeout 2
SLOG=$SRV_DIR/pedserver.log
export CTL_SOCK=$FAR_SOCK

note "a session across the veth link"
st_connect c1
ip netns exec "$NS_S" ss -tn state established "( sport = :$SRV_PORT )" | grep -q "10.200.0.2:" ||
	fail "the session does not run over the veth link"

note "the link goes down while a login waits on the PED"
sum0=$(sha256sum <"$C/slot0.hsm")
hsm_bg l1 role login -name so
ctl_wait "PED Key (BLUE)" 5000
n=$(count_log "$SLOG" "no answer to a ping")
nfree=$(count_log "$SLOG" "session closed after .* the PED is free")
t0=$(now_ms)
ip -n "$NS_C" link set "$VC" down
line=$(wait_log "$SLOG" "no answer to a ping" 10 $((n + 1)))
d_srv=$(($(log_ms "$line") - t0))
wait_log "$SLOG" "session closed after .* the PED is free" 5 $((nfree + 1)) >/dev/null
hsm_line l1 "^Command Result" 10
d_cli=$(($(now_ms) - t0))
hsm_done l1 5 && fail "the login succeeded across a cut link: $OUT"
echo "$OUT" | grep -q -E "^Command Result : PEER_TIMEOUT \(10\.200\.0\.1:$SRV_PORT stopped answering" ||
	fail "no clean PEER_TIMEOUT: $OUT"
res=$(grep "^Command Result" "$T/l1.log")
[ "$d_srv" -lt "$BOUND" ] || fail "pedserver noticed the cut after $d_srv ms"
[ "$d_cli" -lt "$BOUND" ] || fail "pedclient noticed the cut after $d_cli ms"
ctl_wait "Awaiting command" 3000
srv_show_until "Client Information:          Not Available" 1000
hsm_run ped show
assert_contains "Remote PED:         not connected" "$OUT"
[ "$(sha256sum <"$C/slot0.hsm")" = "$sum0" ] || fail "the HSM state changed"
ok "cut noticed by pedserver after $d_srv ms, by pedclient after $d_cli ms (bound $BOUND): $res; slot, PED and session freed; HSM state unchanged"

note "the link comes back: a new connect and login work"
ip -n "$NS_C" link set "$VC" up
st_connect c2
st_login l2
hsm_run ped disconnect
ok "reconnected and logged in over the restored link"

echo "stress_netns: all ok"
