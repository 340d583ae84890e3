#!/bin/sh
# penalty.sh - per-source penalties (pedserver/penalty.h) against real
# processes on loopback, with short penalties (blocked from 3 s, at most 8 s):
#   * a source that floods (30 connections at once: most refused for its
#     burst, each a penalty second) is blocked: its next connect gets no
#     SYN-ACK (the kernel filter drops it: the connect times out), show and
#     show -json count it, the log and the audit trail say so;
#   * meanwhile another source connects at once and a real HSM opens a
#     session (ped connect with the orange key);
#   * an exempt source floods the same way and is never blocked;
#   * once the penalty has run out the flooding source connects again.
# Every wait is on an event or a deadline.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_client.sh"
. "$(dirname "$0")/lib_stress.sh"

[ -x "$PH" ] || fail "$PH not built (make BUILD=$BUILD $PH)"
ok() { echo "ok: $*"; }

st_far
st_hsm hsma 0
st_server srv -penaltymin 3 -penaltymax 8 -newconnectionburst 5 -penaltyexempt 127.0.0.11
SLOG=$SRV_DIR/pedserver.log

# burst SRC: 30 connections at once from SRC; waits (4 s at most) until the
# server has closed the refused ones (at least 20), then closes the rest;
# prints "closed N of 30"
burst() {
	python3 -u - "$SRV_PORT" "$1" <<'PY'
import select, socket, sys, time
port, src = int(sys.argv[1]), sys.argv[2]
socks = []
for _ in range(30):
    s = socket.socket()
    s.bind((src, 0))
    s.setblocking(False)  # a SYN the penalty drops must not block the script
    s.connect_ex(("127.0.0.1", port))
    socks.append(s)
closed, end = set(), time.monotonic() + 4
while len(closed) < 20 and time.monotonic() < end:
    r, _, _ = select.select([s for s in socks if s not in closed], [], [], 0.2)
    for s in r:
        try:
            s.recv(1)
        except OSError:
            pass
        closed.add(s)
print("closed %d of 30" % len(closed))
for s in socks:
    s.close()
PY
}

# dial SRC MS: one connect from SRC; prints "connected" (the server accepted
# it and kept it MS ms), "refused" (accepted, then closed at once: a blocked
# source the filter did not hold back yet) or "no answer" (no SYN-ACK in MS ms)
dial() {
	python3 -u - "$SRV_PORT" "$1" "$2" <<'PY'
import select, socket, sys
port, src, ms = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
s = socket.socket()
s.bind((src, 0))
s.settimeout(ms / 1000)
try:
    s.connect(("127.0.0.1", port))
except socket.timeout:
    print("no answer")
    sys.exit(0)
r, _, _ = select.select([s], [], [], ms / 1000)
print("refused" if r else "connected")
PY
}

show_json() {
	"$PS" -mode show -statedir "$SRV_DIR" -json >"$T/show.json" 2>&1 || fail "show -json: $(cat "$T/show.json")"
}

note "127.0.0.9 floods: 30 connections at once, a burst of 5 allowed"
burst 127.0.0.9
show_json
pen=$(jq -r '.admission.penalties' "$T/show.json")
[ "$pen" -ge 1 ] || fail "no penalty imposed: $(cat "$T/show.json")"
[ "$(jq -r '.admission.penalised' "$T/show.json")" -ge 1 ] || fail "not penalised now: $(cat "$T/show.json")"
[ "$(jq -r '.admission.penalty_filter' "$T/show.json")" = true ] || fail "no kernel filter: $(cat "$T/show.json")"
grep -q "client 127.0.0.9: source penalised for [0-9]* s" "$SLOG" || fail "no penalty in the log"
# the filter is rebuilt within 100 ms of the penalty: until then a connect
# may still reach accept (and is refused there); then it gets no SYN-ACK
t0=$(now_ms)
while :; do
	r=$(dial 127.0.0.9 700)
	[ "$r" = "no answer" ] && break
	[ "$r" = refused ] || fail "a penalised source connected ($r)"
	[ $(($(now_ms) - t0)) -lt 3000 ] || fail "127.0.0.9 still reaches accept after 3 s"
done
"$PS" -mode show -statedir "$SRV_DIR" | grep -q "Penalised Sources: *1 now" || fail "show text: $("$PS" -mode show -statedir "$SRV_DIR")"
ok "the flooding source is penalised: its connect times out, show counts it"

note "meanwhile another source and a real HSM connect at once"
[ "$(dial 127.0.0.10 300)" = connected ] || fail "127.0.0.10 could not connect"
PC_DIR=$T/hsma
t0=$(now_ms)
st_connect c1
note "  ped connect took $(($(now_ms) - t0)) ms"
show_json
[ "$(jq -r '.admission.penalised' "$T/show.json")" -ge 1 ] ||
	fail "the penalty ran out before the checks were done; they prove nothing: $(cat "$T/show.json")"
grep -q "client 127.0.0.1: source penalised" "$SLOG" && fail "the real HSM was penalised"
hsm_run ped disconnect
ok "another source and a real HSM connect while 127.0.0.9 is penalised"

note "a reload that exempts 127.0.0.9 lets it in at once; the old list blocks it again"
# reload ADDRS: PenaltyExempt = ADDRS in the config, SIGHUP, until the log
# says it was applied (the N-th time)
reload() {
	RC=0
	OUT=$("$PS" -mode config -statedir "$SRV_DIR" -set -penaltyexempt "$1" 2>&1) || RC=$?
	[ "$RC" -eq 0 ] || fail "config -set: $OUT"
	kill -HUP "$(cat "$SRV_DIR/pedserver.pid")"
	wait_log "$SLOG" "reload: applied .*PenaltyExempt" 10 "$2" >/dev/null
}
# dial_until SRC WANT: dials until the answer is WANT (the kernel filter is
# rebuilt right after the reload), 3 s at most
dial_until() {
	local t0 r
	t0=$(now_ms)
	while r=$(dial "$1" 300); [ "$r" != "$2" ]; do
		[ $(($(now_ms) - t0)) -lt 3000 ] || fail "$1: '$r', not '$2', 3 s after the reload"
	done
}
reload "127.0.0.11, 127.0.0.9" 1
dial_until 127.0.0.9 connected
reload "127.0.0.11" 2
dial_until 127.0.0.9 "no answer"
ok "PenaltyExempt reloads: the kernel filter follows"

note "an exempt source floods the same way and is never blocked"
burst 127.0.0.11
[ "$(dial 127.0.0.11 300)" = connected ] || fail "the exempt source was held back"
grep -q "client 127.0.0.11: source penalised" "$SLOG" && fail "the exempt source was penalised"
ok "PenaltyExempt"

note "the penalty runs out: 127.0.0.9 connects again"
t0=$(now_ms)
while show_json; [ "$(jq -r '.admission.penalised' "$T/show.json")" -ne 0 ]; do
	[ $(($(now_ms) - t0)) -lt 10000 ] || fail "still penalised after 10 s: $(cat "$T/show.json")"
done
[ "$(dial 127.0.0.9 1000)" = connected ] || fail "127.0.0.9 still held back after its penalty"
ok "after the penalty, the source connects again"

note "a bad exempt list stops the start with a named error"
RC=0
OUT=$("$PS" -mode start -statedir "$T/bad" -port "$(free_port)" -admin "$(free_port)" \
	-ped "$FAR_LINK" -penaltyexempt "192.0.2.0/24, 10.0.0.1/8" 2>&1) || RC=$?
[ "$RC" -ne 0 ] || fail "pedserver started with PenaltyExempt 10.0.0.1/8"
assert_contains "10.0.0.1/8" "$OUT"
assert_contains "BAD_ADDRESS_PREFIX" "$OUT"
ok "PenaltyExempt 10.0.0.1/8: BAD_ADDRESS_PREFIX"

"$PS" -mode stop -statedir "$SRV_DIR" >/dev/null 2>&1 || fail "pedserver stop"
grep -q '"reason":"PENALISED"' "$SRV_DIR/audit.log" || fail "no PENALISED record in the audit trail"
"$PS" -mode audit -verify "$SRV_DIR/audit.log" >/dev/null || fail "audit trail broken"
ok "the audit trail sums the penalties"

echo "penalty: all ok"
