#!/bin/bash
# slownet.sh - Remote PED over a slow network (make bench; never in make test).
# Real processes: pedhsm -> pedclient -> tests/tools/delayproxy.py (one-way
# delay D both ways, no jitter) -> pedserver -> pedemu (Remote mode). The
# emulator answers at once: the orange key's RPK is cached after a first
# connect, and the SO keys carry no PIN (one key press each, over its local
# control socket). Measured at D = 0 and D = 75 ms (median of RUNS each):
#   * ped connect until "session open";
#   * role login -name so with 2 keys;
# the difference, in round trips of 2 D, beside the count on paper. The proxy
# delays data, not TCP's own handshake (both of its sockets are on
# loopback): on a real link add one round trip for TCP per connection.
#   * a 3 s cut (RST, connections refused) while idle, then the link back:
#     the time from the link's return to pedclient's "resumed", beside
#     the bound of one back-off step plus two round trips.
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
export BUILD
. tests/scenario/lib.sh
. tests/scenario/lib_client.sh

DELAY=${DELAY:-75}
RUNS=${RUNS:-3}
CUT_S=${CUT_S:-3}
PROXY=tests/tools/delayproxy.py

now_ms() { echo $(($(date +%s%N) / 1000000)); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}'; }

start_pedemu local -mode local
start_pedemu far -mode remote
start_pc hsma -localped "$EMU_local_LINK" -resumewindow 60
A=$PC_DIR
OPIN=-
make_rpv oa local
export CTL_SOCK=$EMU_local_SOCK
hsm_bg hi hsm init -label BENCH
ped_hsm_init 2 2 b - r
hsm_done hi || fail "hsm init: $OUT"
for k in b1 b2; do cp "$T/local.keys/$k.key" "$T/far.keys/$k.key"; done

SPORT=$(free_port)
o=$("$PS" -mode start -hsmpolicy any -statedir "$T/srv" -port "$SPORT" -admin "$(free_port)" \
	-ped "$EMU_far_LINK" -resumewindow 60 2>&1) || fail "pedserver: $o"
run_bg proxy python3 "$PROXY" serve --target "127.0.0.1:$SPORT" --control "$T/proxy.sock"
wait_line proxy '^port [0-9]+$'
PPORT=$(sed -n 's/^port //p' "$T/proxy.log")
pctl() { python3 "$PROXY" ctl "$T/proxy.sock" "$@" >/dev/null || fail "proxy $*"; }
export CTL_SOCK=$EMU_far_SOCK

# the first connect reads the orange key; the PED caches its RPK
hsm_bg warm ped connect -ip 127.0.0.1 -port "$PPORT"
ctl_wait "PED Key (ORANGE)" 5000
ped_key oa1 -
hsm_done warm || fail "ped connect: $OUT"
hsm_run ped disconnect

connect_once() {
	local t0 t1
	t0=$(now_ms)
	hsm_run ped connect -ip 127.0.0.1 -port "$PPORT"
	t1=$(now_ms)
	[ "$RC" -eq 0 ] || fail "ped connect: $OUT"
	echo $((t1 - t0))
}

login_once() {
	local t0 t1
	t0=$(now_ms)
	hsm_bg lg role login -name so
	ctl_wait "PED Key (BLUE)" 5000
	ped_key b1 -
	ctl_wait "Keys read: 01 of 02" 5000
	ped_key b2 -
	hsm_done lg || fail "login: $OUT"
	t1=$(now_ms)
	hsm_run role logout >/dev/null
	echo $((t1 - t0))
}

declare -A CONN LOGIN
for d in 0 "$DELAY"; do
	pctl delay "$d" 0
	: >"$T/c.$d"
	: >"$T/l.$d"
	for _ in $(seq "$RUNS"); do
		connect_once >>"$T/c.$d"
		login_once >>"$T/l.$d"
		hsm_run ped disconnect
	done
	CONN[$d]=$(median <"$T/c.$d")
	LOGIN[$d]=$(median <"$T/l.$d")
done

# a cut of CUT_S seconds on an idle session at DELAY
pctl delay "$DELAY" 0
hsm_run ped connect -ip 127.0.0.1 -port "$PPORT"
[ "$RC" -eq 0 ] || fail "ped connect: $OUT"
n0=$(grep -c '^accept ' "$T/proxy.log" || true)
pctl cut
sleep "$CUT_S" # the length of the cut itself, not a wait for an event
pctl restore
t_back=$(now_ms)
timeout 70 sh -c 'tail -n +1 -f "$1" | grep -q -m 1 -E "resumed after [0-9.]+ s"' _ \
	"$A/pedclient.log" || fail "no resume: $(tail -5 "$A/pedclient.log")"
# when pedclient resumed: its log line's own time stamp (ms)
t_res=$(grep 'resumed after [0-9.]* s' "$A/pedclient.log" | tail -1 | python3 -c '
import datetime, sys
ts = sys.stdin.read().split()[0].rstrip("Z")
d = datetime.datetime.fromisoformat(ts).replace(tzinfo=datetime.timezone.utc)
print(round(d.timestamp() * 1000))')
acc=$(awk -v n="$n0" '/^accept / { if (++c > n) { print $3; exit } }' "$T/proxy.log")
resumed_line=$(grep -o 'resumed after [0-9.]* s (attempt [0-9]*)' "$A/pedclient.log" | tail -1)
back_ms=$((t_res - t_back))
hs_ms=$(python3 -c "print(round($t_res - $acc * 1000))")
rtt=$((2 * DELAY))

rt() { python3 -c "print('%.1f' % (($2 - $1) / $rtt))"; }
echo
echo "slow-network bench: ${DELAY} ms one way (round trip ${rtt} ms), no jitter; the emulator"
echo "answers at once; median of $RUNS runs; pedclient -> delayproxy.py -> pedserver on loopback"
printf '  %-34s %8s %8s %8s %9s %s\n' "" "0 ms" "${DELAY} ms" "added" "= trips" "on paper"
printf '  %-34s %6s ms %6s ms %6s ms %9s %s\n' "ped connect -> session open" "${CONN[0]}" \
	"${CONN[$DELAY]}" $((CONN[$DELAY] - CONN[0])) "$(rt "${CONN[0]}" "${CONN[$DELAY]}")" \
	"3 (HELLO, KEX_INIT, KEX_CONFIRM->PED_STATE) + TCP's 1"
printf '  %-34s %6s ms %6s ms %6s ms %9s %s\n' "role login -name so, 2 keys" "${LOGIN[0]}" \
	"${LOGIN[$DELAY]}" $((LOGIN[$DELAY] - LOGIN[0])) "$(rt "${LOGIN[0]}" "${LOGIN[$DELAY]}")" \
	"1 (READ_KEYSET -> RESULT; the PED's prompts stream back)"
echo "  a ${CUT_S} s cut while idle, then the link back:"
echo "    link back -> resumed:            ${back_ms} ms (bound: one back-off step <= 3200 ms + 2 trips)"
echo "    the attempt that resumed:        ${hs_ms} ms from its connection to resumed ($(python3 -c "print('%.1f' % ($hs_ms / $rtt))") trips; on paper 2: HELLO, RESUME_INIT)"
echo "    pedclient: ${resumed_line}"
