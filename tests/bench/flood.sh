#!/bin/bash
# flood.sh - pedserver under a connection flood (make bench; never in make
# test). Real processes on loopback: pedemu (Remote mode, the orange key
# cached after the first connect, so it answers instantly), pedserver, and
# sessclient as the HSM. The attacker (python3) runs on one CPU, the daemons
# on the other. Measured side by side, the same run:
#   (a) 100 legitimate connects (sessclient connect, a process each): success
#       rate and p99 time, without and with the flood;
#   (b) an open session's PING round trip p99 (2000 pings), idle and during
#       the flood;
#   (c) pedserver's CPU time per refused or evicted connection.
# The flood: 504 idle connections (127.0.0.2-64, 8 each, re-opened when
# dropped) and about 2000 new connections a second from 512 other sources
# (127.1.x.y), each closed by the attacker after 50 ms. Everything stops by
# itself after the measurement (bounded: 60 s).
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
. tests/scenario/lib_server.sh

nproc_=$(nproc)
if [ "$nproc_" -ge 2 ]; then
	DAEMON_CPU=0
	ATTACK_CPU=1
	pin() { taskset -c "$1" "${@:2}"; }
else
	pin() { "${@:2}"; }
fi

start_pedemu far -mode remote
sc_rpv rpv "$T/hsm.state" orange 13579
# the legitimate HSM connects 100 times in a row from 127.0.0.1: a rate
# above its burst (the flood's sources stay below it: the defence measured
# here is the eviction)
ps_start srv -hsmpolicy any -ped "$EMU_LINK" -idletimeout 0 -newconnectionrate 200 -newconnectionburst 200 ${FLOOD_ARGS:-}
SPID=$(ps_pid "$PS_DIR")
for p in "$SPID" "$EMU_PID"; do
	taskset -a -p -c "${DAEMON_CPU:-0}" "$p" >/dev/null 2>&1 || true
done
# the first connect: the orange key at the PED (then cached by the PED)
sc_run c0 -hsm "$T/hsm.state" connect
sc_key orange1 13579
wait_bg c0 20 || fail "first connect: $(cat "$T/c0.log")"

# connects N: N sessclient connects one after the other; prints "ok N p99 MS"
connects() {
	local n=$1 i ok=0 t0 t1
	: >"$T/times"
	for ((i = 0; i < n; i++)); do
		t0=$(date +%s%N)
		if pin "${DAEMON_CPU:-0}" "$SC" -port "$PS_PORT" -hsm "$T/hsm.state" -timeout 5000 \
			connect >"$T/one" 2>&1; then
			ok=$((ok + 1))
		else
			tail -n 1 "$T/one" >>"$T/failed"
		fi
		t1=$(date +%s%N)
		echo $(((t1 - t0) / 1000)) >>"$T/times"
	done
	echo "ok $ok p99 $(sort -n "$T/times" | awk '{a[NR] = $1} END {i = int(NR * 0.99); if (i < 1) i = 1; print a[i] / 1000}')"
}

# ping: an open session's 2000 pings; prints the p99 in us
ping_p99() {
	pin "${DAEMON_CPU:-0}" "$SC" -port "$PS_PORT" -hsm "$T/hsm.state" ping 2000 |
		sed -n 's/^ping n [0-9]* p50 [0-9.]* p99 \([0-9.]*\) .*/\1/p'
}

cpu_ticks() {
	awk '{print $14 + $15}' "/proc/$SPID/stat"
}

refusals() {
	"$BUILD/pedserver" -mode show -statedir "$PS_DIR" -json |
		jq '.admission.refused_rate + .admission.refused_per_source + .admission.evicted +
			.admission.refused_penalised'
}

# penalties: "PENALISED_NOW PENALTIES_IMPOSED" (show -json)
penalties() {
	"$BUILD/pedserver" -mode show -statedir "$PS_DIR" -json |
		jq -r '"\(.admission.penalised) \(.admission.penalties)"'
}

# SYNs the listener's socket filter dropped: its sk_drops (ss -m "d"), which
# the kernel counts for every packet discarded at the listener (the filter's
# drops, and the rare full-backlog drop)
syn_drops() {
	ss -Hltnm "sport = :$PS_PORT" | grep -o ',d[0-9]*)' | tr -dc '0-9\n' |
		awk '{s += $1} END {print s + 0}'
}

read -r _ ok_idle _ p99_idle < <(connects 100)
ping_idle=$(ping_p99)

python3 -u - "$PS_PORT" >"$T/flood.log" 2>&1 <<'PY' &
import selectors, socket, sys, time
port = int(sys.argv[1])
sel = selectors.DefaultSelector()
def dial(src, idle):
    s = socket.socket()
    try:
        s.bind((src, 0))
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
    except OSError:
        s.close()
        return
    sel.register(s, selectors.EVENT_READ, (src, idle, time.monotonic()))
for a in range(2, 65):
    for _ in range(8):
        dial("127.0.0.%d" % a, True)
print("holding", flush=True)
srcs = ["127.1.%d.%d" % (i // 256, i % 256 + 1) for i in range(512)]
end = time.monotonic() + 60
made, k, t_next = 0, 0, time.monotonic()
while time.monotonic() < end:
    now = time.monotonic()
    while t_next <= now:             # about 2000 a second
        dial(srcs[k % len(srcs)], False)
        k += 1
        made += 1
        t_next += 0.0005
    for key, _ in sel.select(timeout=0.001):
        s = key.fileobj
        src, idle, t0 = key.data
        try:
            d = s.recv(4096)
        except OSError:
            d = b""
        if not d:
            sel.unregister(s)
            s.close()
            if idle:
                dial(src, True)
    # the attacker closes its short-lived connections after 50 ms
    for key in list(sel.get_map().values()):
        src, idle, t0 = key.data
        if not idle and now - t0 > 0.05:
            sel.unregister(key.fileobj)
            key.fileobj.close()
print("made", made, flush=True)
PY
FLOOD=$!
_lib_pids="$_lib_pids $FLOOD"
taskset -p -c "${ATTACK_CPU:-0}" "$FLOOD" >/dev/null 2>&1 || true
wait_line flood '^holding$' 10 2>/dev/null || true
ticks0=$(cpu_ticks)
ref0=$(refusals)
drops0=$(syn_drops)
t0=$(date +%s%N)
read -r _ ok_flood _ p99_flood < <(connects 100)
ping_flood=$(ping_p99)
t1=$(date +%s%N)
ticks1=$(cpu_ticks)
ref1=$(refusals)
drops1=$(syn_drops)
read -r pen_now pen_total < <(penalties)
kill "$FLOOD" 2>/dev/null || true
wait "$FLOOD" 2>/dev/null || true

hz=$(getconf CLK_TCK)
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", (b - a) / 1e9}')
refused=$((ref1 - ref0))
echo
echo "pedserver under a connection flood (504 idle connections re-opened, ~2000 new/s from 512 sources; $secs s)"
printf '  legitimate connects  idle: %3d/100 ok, p99 %7.1f ms   flood: %3d/100 ok, p99 %7.1f ms   ratio %.2fx  target <= 2x\n' \
	"$ok_idle" "$p99_idle" "$ok_flood" "$p99_flood" "$(awk -v a="$p99_flood" -v b="$p99_idle" 'BEGIN {print a / b}')"
printf '  session ping p99     idle: %7.1f us                 flood: %7.1f us                 ratio %.2fx  target <= 2x\n' \
	"$ping_idle" "$ping_flood" "$(awk -v a="$ping_flood" -v b="$ping_idle" 'BEGIN {print a / b}')"
printf '  pedserver CPU        %d refused/evicted connections, %.1f ms CPU: %.1f us each\n' \
	"$refused" "$(awk -v t="$((ticks1 - ticks0))" -v hz="$hz" 'BEGIN {print t * 1000 / hz}')" \
	"$(awk -v t="$((ticks1 - ticks0))" -v hz="$hz" -v n="$refused" 'BEGIN {if (n > 0) print t * 1e6 / hz / n; else print 0}')"
printf '  reaching pedserver   %.0f connections/s refused or evicted; pedserver CPU %.0f%% of a core\n' \
	"$(awk -v n="$refused" -v s="$secs" 'BEGIN {print n / s}')" \
	"$(awk -v t="$((ticks1 - ticks0))" -v hz="$hz" -v s="$secs" 'BEGIN {print t * 100 / hz / s}')"
printf '  penalties            %d sources penalised now, %d penalties imposed; %d SYNs dropped by the kernel filter\n' \
	"$pen_now" "$pen_total" "$((drops1 - drops0))"
if [ -s "$T/failed" ]; then
	sort "$T/failed" | uniq -c | sed 's/^/  failed connect: /'
fi
