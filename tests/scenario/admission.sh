#!/bin/sh
# admission.sh - pedserver facing a network (issue "a pedserver that can
# face a network", item 1), with real processes on loopback:
#   * the lock-out is gone: 200 silent connections from 25 source addresses
#     (127.0.0.2-26, 8 each, re-opened as soon as they are dropped) and a
#     real ped connect from 127.0.0.1 still succeeds, within 1 s of its
#     start; the oldest silent connections are evicted for newcomers;
#   * one source may not hold more than MaxPreSessionPerSource handshakes nor
#     open more than NewConnectionBurst connections at once: the rest are
#     closed at accept, counted in show -json (admission.refused_*);
#   * an open session is never evicted: the same flood while A holds the
#     PED leaves A's session working (an SO login through it after the flood).
# Every wait is on an event or a deadline; the flood is bounded in time.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_client.sh"
. "$(dirname "$0")/lib_stress.sh"

[ -x "$PH" ] || fail "$PH not built (make BUILD=$BUILD $PH)"
ok() { echo "ok: $*"; }

st_far
st_hsm hsma 1
A=$PC_DIR
st_server srv
SLOG=$SRV_DIR/pedserver.log
export CTL_SOCK=$FAR_SOCK

# flood FIRST LAST PER SECS: silent connections from 127.0.0.FIRST..LAST,
# PER each, re-opened when the server drops one; prints "holding N" once all
# are open, then runs SECS seconds at most (until killed)
flood() {
	exec python3 -u - "$SRV_PORT" "$@" <<'PY'
import selectors, socket, sys, time
port, first, last, per, secs = (int(x) for x in sys.argv[1:6])
sel = selectors.DefaultSelector()
def dial(src):
    s = socket.socket()
    s.bind(("127.0.0.%d" % src, 0))
    s.setblocking(False)
    try:
        s.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    sel.register(s, selectors.EVENT_READ, src)
for src in range(first, last + 1):
    for _ in range(per):
        dial(src)
print("holding %d" % ((last - first + 1) * per))
end = time.monotonic() + secs
reopened = 0
while time.monotonic() < end:
    for key, _ in sel.select(timeout=0.2):
        s = key.fileobj
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        if not data:
            sel.unregister(s)
            s.close()
            dial(key.data)
            reopened += 1
print("reopened %d" % reopened)
PY
}

# timed_connect NAME: ped connect from A; REACH = ms from its start until
# the PED asks for the orange key (the network part, what a flood could
# block), TOTAL = until the session is open (the emulator driven by script)
timed_connect() {
	local t0 t1 t2
	ctl mode local >/dev/null
	ctl mode remote >/dev/null
	t0=$(now_ms)
	hsm_bg "$1" ped connect -ip "$SRV_IP" -port "$SRV_PORT"
	ctl_wait "PED Key (ORANGE)" 5000
	t1=$(now_ms)
	ped_key hsmao1 "$OPIN"
	hsm_done "$1" 20 || fail "ped connect: $OUT"
	t2=$(now_ms)
	REACH=$((t1 - t0))
	TOTAL=$((t2 - t0))
}

note "a ped connect without a flood"
PC_DIR=$A
timed_connect c0
note "  the PED prompts after $REACH ms, session open after $TOTAL ms"
hsm_run ped disconnect

note "200 silent connections from 25 sources; a real ped connect gets in"
# a lone silent connection from its own source, opened first: the oldest
# quiet one, but its source holds one handshake where the flood's hold 8,
# so the evictions take the flood's (it may end at its HELLO deadline)
run_bg lone python3 -u -c '
import socket, sys
s = socket.socket(); s.bind(("127.0.0.200", 0)); s.connect(("127.0.0.1", int(sys.argv[1])))
print("open", flush=True); s.settimeout(30)
try: s.recv(1)
except OSError: pass
' "$SRV_PORT"
wait_line lone '^open$' 5
run_bg fl1 flood 2 26 8 30
wait_line fl1 '^holding 200$' 10
timed_connect c1
note "  during the flood: the PED prompts after $REACH ms, session open after $TOTAL ms"
[ "$REACH" -le 1000 ] || fail "the PED was reached only after $REACH ms during the flood"
"$PS" -mode show -statedir "$SRV_DIR" -json >"$T/show.json" 2>&1 || fail "show -json"
ev=$(jq -r '.admission.evicted' "$T/show.json")
[ "$ev" -gt 0 ] || fail "no eviction counted: $(cat "$T/show.json")"
note "  evicted so far: $ev"
grep -q "client 127.0.0.200:[0-9]*: evicted" "$SLOG" &&
	fail "the lone connection was evicted before the flood's"
kill "$_lib_bg_lone" 2>/dev/null || true
ok "a real connect succeeds within 1 s while 200 idle connections are held and re-opened"

note "an open session is never evicted: A logs in through it during the flood"
st_login l1
grep -q "client 127.0.0.1:[0-9]*: evicted" "$SLOG" && fail "A's connection was evicted"
kill "$_lib_bg_fl1" 2>/dev/null || true
wait_bg fl1 10 || true
hsm_run ped disconnect
ok "the session survived the flood"

note "one source: at most 8 handshakes, a burst of at most 20 connections"
"$PS" -mode show -statedir "$SRV_DIR" -json >"$T/show.json" 2>&1 || fail "show -json"
pen0=$(jq -r '.admission.refused_penalised' "$T/show.json")
# 30 connections at once from 127.0.0.99: 8 admitted (the cap), 12 refused
# for the cap (each takes a token: the bucket of 20 is empty then), 10 for
# the rate -- or, from the 15th refusal on, for the penalty those refusals
# earned (PenaltyRefused 1 s each, PenaltyMin 15 s: penalty.sh proves
# penalties); the refused ones are closed at accept, which the script waits
# for (select, 4 s at most: the admitted ones stay until the HELLO deadline)
python3 -u - "$SRV_PORT" >"$T/burst.log" <<'PY'
import select, socket, sys, time
port = int(sys.argv[1])
socks = []
for _ in range(30):
    s = socket.socket()
    s.bind(("127.0.0.99", 0))
    s.setblocking(False)  # a SYN the penalty drops must not block the script
    s.connect_ex(("127.0.0.1", port))
    socks.append(s)
# the kernel answers at once, unless the penalty's filter dropped the SYN
# (the connect stays unanswered): 1 s at most
pending, end = set(socks), time.monotonic() + 1
while pending and time.monotonic() < end:
    _, w, _ = select.select([], list(pending), [], 0.1)
    pending -= set(w)
closed, end = set(), time.monotonic() + 4
while len(closed) + len(pending) < 22 and time.monotonic() < end:
    r, _, _ = select.select([s for s in socks if s not in closed and s not in pending], [], [], 0.2)
    for s in r:
        try:
            s.recv(1)
        except OSError:
            pass
        closed.add(s)
print("closed %d of 30, unanswered %d" % (len(closed), len(pending)))
PY
cat "$T/burst.log"
unanswered=$(sed -n 's/.*unanswered \([0-9]*\)$/\1/p' "$T/burst.log")
"$PS" -mode show -statedir "$SRV_DIR" -json >"$T/show.json" 2>&1 || fail "show -json"
ps_src=$(jq -r '.admission.refused_per_source' "$T/show.json")
ps_rate=$(jq -r '.admission.refused_rate' "$T/show.json")
ps_pen=$(($(jq -r '.admission.refused_penalised' "$T/show.json") - pen0))
note "  refused per source: $ps_src, for the rate: $ps_rate, penalised: $ps_pen at accept, $unanswered in the kernel"
[ "$ps_src" -ge 10 ] || fail "per-source cap not applied: $(cat "$T/show.json")"
[ "$ps_rate" -ge 1 ] || fail "rate not applied: $(cat "$T/show.json")"
[ $((ps_rate + ps_pen + unanswered)) -ge 5 ] || fail "rate not applied: $(cat "$T/show.json")"
"$PS" -mode show -statedir "$SRV_DIR" | grep -q "Admission Refused, Evicted: rate" || fail "show text"
ok "per-source cap and rate applied, counted in show and show -json"

echo "admission: all ok"
