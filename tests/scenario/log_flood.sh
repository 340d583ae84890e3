#!/bin/sh
# log_flood.sh - bounded, rate-limited logging under a flood of refused
# connections (issue "a pedserver that can face a network", item 3), with
# real processes on loopback. An HSM holds an open session; then:
#   * 20,000 connections from 40 source addresses (127.0.0.2-41) each send
#     a bad frame and hang up: every one is refused or closed, yet the
#     warnings are collapsed per kind and per source ("N more in the last
#     10 s"): the log grows by a bounded number of lines and does not rotate;
#     the summaries come once the 10 s window is over (a timer armed only
#     while something is pending); the audit trail sums the refusals in
#     admission_refused records;
#   * the same flood with LogTrace on and MaxLogFileSize 16 KB (a line per
#     connection: the log rotates hundreds of times) leaves the start-up lines
#     and the open session's lines in the current file, under "log rotated;
#     kept lines follow";
#   * the session still works afterwards (an SO login through it).
# Every wait is on an event or a process exit; the floods are bounded.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_client.sh"
. "$(dirname "$0")/lib_stress.sh"

[ -x "$PH" ] || fail "$PH not built (make BUILD=$BUILD $PH)"
command -v jq >/dev/null || fail "jq is needed"
ok() { echo "ok: $*"; }

st_far
st_hsm hsma 1
A=$PC_DIR
# penalties off: this proves the log's bound under 20,000 connections that
# reach pedserver; with penalties the flood's sources would be blocked after
# a few refusals and their SYNs dropped by the kernel (penalty.sh), and the
# flood would never reach the logging it is here to prove
st_server srv -penaltymax 0
SLOG=$SRV_DIR/pedserver.log
export CTL_SOCK=$FAR_SOCK
PC_DIR=$A
st_connect c1

# flood N: N connections from 127.0.0.2..41, 200 in flight; each sends a
# frame of a wrong version and waits until the server closes it (refused
# at accept by admission, or after reading the frame); 60 s at most
flood() {
	python3 -u - "$SRV_PORT" "$1" <<'PY'
import selectors, socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
sel = selectors.DefaultSelector()
started = closed = 0
end = time.monotonic() + 60
def dial():
    global started
    s = socket.socket()
    s.bind(("127.0.0.%d" % (2 + started % 40), 0))
    started += 1
    try:
        s.connect(("127.0.0.1", port))
        s.send(b"\x09\x01\x00\x00\x00\x08garbage!")
    except OSError:
        pass
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
while started < min(n, 200):
    dial()
while closed < n and time.monotonic() < end:
    for key, _ in sel.select(timeout=0.5):
        s = key.fileobj
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        if data:
            continue
        sel.unregister(s)
        s.close()
        closed += 1
        if started < n:
            dial()
print("closed by the server: %d of %d" % (closed, n))
PY
}
lines() { wc -l <"$SLOG"; }
wait_line_file() { # FILE REGEX SECS
	local end=$(( $(date +%s) + $3 ))
	until grep -q -E "$2" "$1"; do
		[ "$(date +%s)" -lt "$end" ] || fail "no line /$2/ in $1 within $3 s"
		read -r -t 0.05 <> <(:) || true
	done
}

note "20,000 refused connections: the warnings are collapsed"
before=$(lines)
flood 20000
"$PS" -mode show -statedir "$SRV_DIR" -json >"$T/show.json" || fail "show -json"
refused=$(jq -r '.operating.refused + .admission.evicted' "$T/show.json")
note "  refused or evicted (show -json): $refused; log lines before $before"
[ "$refused" -ge 20000 ] || fail "the flood was not refused: $(cat "$T/show.json")"
# the flood's trace-less lines: at most 10 per kind per 10 s, plus summaries
grown=$(( $(lines) - before ))
note "  the log grew by $grown lines"
[ "$grown" -le 200 ] || fail "the log grew by $grown lines for one flood"
[ -e "$SLOG.1" ] && fail "the log rotated"
ok "20,000 refusals: $grown log lines, no rotation"

note "the summaries come when the window is over, with nothing else logged"
wait_line_file "$SLOG" 'more (from other sources )?in the last 10 s' 12
grep -q '"event":"admission_refused"' "$SRV_DIR/audit.log" || fail "no admission_refused record"
ok "'... more in the last 10 s' and the admission_refused record came by themselves"

note "the same flood with a line per connection and 16 KB files: kept lines survive"
RC=0
OUT=$("$PS" -mode config -statedir "$SRV_DIR" -set LogTrace 1 MaxLogFileSize 16 2>&1) || RC=$?
[ "$RC" -eq 0 ] || fail "config -set: $OUT"
kill -HUP "$(cat "$SRV_DIR/pedserver.pid")"
wait_line_file "$SLOG" 'reload: applied .*LogTrace' 10
flood 20000
[ -e "$SLOG.3" ] || fail "the log did not rotate through all its files"
head -n 1 "$SLOG" | grep -q "log rotated; kept lines follow" || fail "no kept block: $(head -n 3 "$SLOG")"
grep -q "pedserver .* starting (pid" "$SLOG" || fail "the start-up line was rotated away"
grep -q "info: ready (pid" "$SLOG" || fail "the ready line was rotated away"
grep -q "key confirmation passed; session open" "$SLOG" || fail "the session's open line was rotated away"
ok "after hundreds of rotations the current file starts with the start-up and session lines"

note "the session still works; the trail sums the refusals"
st_login l1
grep -q "READ_KEYSET on the PED: OK" "$SLOG" || fail "the login is not in the log"
hsm_run ped disconnect
RC=0
OUT=$("$PS" -mode stop -statedir "$SRV_DIR" 2>&1) || RC=$?
[ "$RC" -eq 0 ] || fail "pedserver stop: $OUT"
grep -q "more .*in the last [0-9]* s" "$SLOG"* || fail "no collapsed-lines summary"
sum=$(jq -s '[.[] | select(.event == "admission_refused") | .count] | add' "$SRV_DIR"/audit.log)
note "  admission_refused records sum to $sum"
[ "$sum" -ge 20000 ] || fail "the audit trail counts $sum refusals"
[ "$(grep -c '"event":"admission_refused"' "$SRV_DIR/audit.log")" -le 100 ] ||
	fail "too many admission_refused records"
"$PS" -mode audit -verify -statedir "$SRV_DIR" || fail "the trail is broken"
ok "session intact after the floods; refusals summed in the audit trail"
echo "log_flood: all ok"
