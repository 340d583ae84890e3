#!/bin/sh
# resume_session.sh - session resumption (docs/PROTOCOL.md Part 6) with real
# processes: pedclient -> delay proxy (tests/tools/delayproxy.py, cut on
# command) -> pedserver with a remote pedemu.
#   a cut while idle: both sides say so, pedclient resumes by itself, and the
#     next SO login needs no orange key (the PED asks only for the blue keys);
#   a cut while the key holders present the 2 blue keys: the PED goes on,
#     the second key is answered during the cut, the login completes after
#     the resume, the console heard "Network lost" and "Resumed";
#   while the PED is reserved: another HSM gets SERVER_BUSY naming the
#     resuming one; the first resume's bytes replayed: RESUME_UNKNOWN,
#     counted, and the real client still resumes;
#   a silent cut (the proxy drops every byte): PEER_TIMEOUT on both sides
#     suspends the session instead of ending it; it resumes;
#   pedserver restarted during a cut: the resume is refused (RESUME_UNKNOWN),
#     pedclient ends the session; pedclient killed during a cut: its new
#     session (after the key proof) ends the reservation;
#   a cut longer than the window: RESUME_WINDOW_EXPIRED on both sides, the
#     PED idle again, the login not applied.
# Every wait is on an event (a log or console line, LCD text, a process exit).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_client.sh"

ok() { echo "ok: $*"; }
PROXY=tests/tools/delayproxy.py

start_pedemu local -mode local
start_pedemu far -mode remote
FAR_SOCK=$EMU_far_SOCK

# HSM A: its RPV (orange key oa1) and an SO keyset 2 of 2 (b1, b2) made on
# its Local PED; the key holders carry the keys to the PED host.
OPIN=13579
SOPIN=24680
start_pc hsma -localped "$EMU_local_LINK" -resumewindow 30 -pinginterval 1 -pingtimeout 2
A=$PC_DIR
make_rpv oa local
export CTL_SOCK=$EMU_local_SOCK
hsm_bg hi hsm init -label RESUME
ped_hsm_init 2 2 b $SOPIN r
hsm_done hi || fail "hsm init: $OUT"
for k in b1 b2; do cp "$T/local.keys/$k.key" "$T/far.keys/$k.key"; done
SA=$(timeout 10 "$PH" -statedir "$A" slot list | sed -n 's/^Slot 0: serial \([0-9]*\),.*/\1/p')

SPORT=$(free_port)
pc_out=$("$PS" -mode start -hsmpolicy any -statedir "$T/srv" -port "$SPORT" -admin "$(free_port)" \
	-ped "$EMU_far_LINK" -resumewindow 30 -pinginterval 1 -pingtimeout 2 2>&1) ||
	fail "pedserver start: $pc_out"
mkdir "$T/rec"
run_bg proxy python3 "$PROXY" serve --target "127.0.0.1:$SPORT" --control "$T/proxy.sock" \
	--record "$T/rec"
wait_line proxy '^port [0-9]+$'
PPORT=$(sed -n 's/^port //p' "$T/proxy.log")
pctl() { python3 "$PROXY" ctl "$T/proxy.sock" "$@" >/dev/null || fail "proxy $*"; }
# until the daemon log (srvlog: pedserver's, pclog: pedclient's) has N lines
# matching REGEX; tail -f on the file itself (through a symlink it polls)
wait_nth() {
	local f
	case $1 in srvlog) f=$T/srv/pedserver.log ;; pclog) f=$A/pedclient.log ;; esac
	timeout "${4:-10}" sh -c 'tail -n +1 -f "$1" | grep -m "$3" -E -- "$2" | cat >/dev/null' _ \
		"$f" "$2" "$3" ||
		fail "no ${3}th line /$2/ from $1: $(tail -n 5 "$f" | tr '\n' '|')"
}
LOST="link lost after [0-9]+ s; the PED is reserved for it to resume"
export CTL_SOCK=$FAR_SOCK

note "ped connect through the proxy: the orange key, once"
ped_connect oa1 "$PPORT"
assert_contains "Remote PED session open" "$OUT"
ctl_wait "Awaiting command" 5000

note "a cut while idle: resumed without the orange key"
pctl cut
wait_nth srvlog "$LOST for 30 s" 1
wait_nth pclog "network lost .*resuming, for up to 30 s" 1
RC=0
OUT=$("$PS" -mode show -statedir "$T/srv" 2>&1) || RC=$?
assert_contains "link lost" "$OUT"
assert_contains "reserved for its resume" "$OUT"
hsm_run ped show
assert_contains "network lost" "$OUT"
assert_contains "resuming" "$OUT"

note "meanwhile another HSM is told the PED is reserved for A"
start_pc hsmb
B=$PC_DIR
PC_DIR=$B
hsm_run ped connect -ip 127.0.0.1 -port "$SPORT" -password
[ "$RC" -ne 0 ] || fail "B took the reserved PED: $OUT"
assert_contains "SERVER_BUSY" "$OUT"
assert_contains "HSM $SA" "$OUT"
assert_contains "resuming" "$OUT"
PC_DIR=$A
ok "while the link is down both shows say so; another HSM gets SERVER_BUSY naming $SA"

pctl restore
wait_nth pclog "resumed after [0-9.]+ s" 1
wait_nth srvlog "session resumed after [0-9]+ s without the orange key" 1
hsm_run ped show
assert_contains "Session:            open" "$OUT"
assert_contains "Resumed:            1 time" "$OUT"
hsm_bg l1 role login -name so
ctl_wait "PED Key (BLUE)" 5000
ped_key b1 $SOPIN
ctl_wait "Keys read: 01 of 02" 5000
ped_key b2 $SOPIN
hsm_done l1 || fail "SO login after the resume: $OUT"
assert_contains "HSM Security Officer logged in." "$OUT"
hsm_run role logout
ok "cut while idle: resumed, the SO login needs no orange key"

note "a cut while the key holders present their keys: the login completes after the resume"
ctl_wait "Awaiting command" 5000
hsm_bg l2 role login -name so
ctl_wait "PED Key (BLUE)" 5000
ped_key b1 $SOPIN
ctl_wait "Keys read: 01 of 02" 5000
pctl cut
wait_line l2 "Network lost"
wait_nth srvlog "$LOST" 2
# the second key holder, who did not notice anything, goes on
ped_key b2 $SOPIN
wait_nth srvlog "READ_KEYSET on the PED: .*; kept for the resume" 1
ctl_wait "Awaiting command" 5000
pctl restore
hsm_done l2 || fail "SO login across a cut: $OUT"
assert_contains "Resumed the session" "$OUT"
assert_contains "HSM Security Officer logged in." "$OUT"
[ "$(grep -c 'logged in' <<<"$OUT")" = 1 ] || fail "applied twice? $OUT"
hsm_run role logout
ok "cut during a 2-key login: the PED went on, the result came after the resume, applied once"

note "a silent cut (bytes dropped, no reset): the pings time out on both sides, then it resumes"
pctl stall
wait_nth srvlog "no answer to a ping within 2 s" 1
wait_nth srvlog "$LOST" 3
wait_nth pclog "network lost \(PEER_TIMEOUT\)" 1
pctl restore
wait_nth pclog "resumed after [0-9.]+ s" 3
ok "a silent cut: PEER_TIMEOUT on both sides suspends the session (no DISCONNECT); resumed"

note "a replayed resume is refused, counted, and the real client still resumes"
pctl cut
wait_nth srvlog "$LOST" 4
# the first resume's connection as recorded: HELLO (purpose RESUME), then
# RESUME_INIT with a secret used up since
python3 - "$SPORT" "$T/rec" >"$T/replay.out" 2>&1 <<'PY' || fail "replay: $(cat "$T/replay.out")"
import glob, os, socket, struct, sys
port, d = int(sys.argv[1]), sys.argv[2]
files = sorted(glob.glob(os.path.join(d, "conn-*.c2s")),
               key=lambda f: int(f.rsplit("-", 1)[1].split(".")[0]))
rec = next(r for r in (open(f, "rb").read() for f in files) if len(r) > 8 and r[8] == 4)
s = socket.create_connection(("127.0.0.1", port), timeout=10)
buf = b""
def frame():
    global buf
    while len(buf) < 6 or len(buf) < 6 + struct.unpack(">I", buf[2:6])[0]:
        d = s.recv(4096)
        if not d:
            raise SystemExit("closed early")
        buf += d
    n = 6 + struct.unpack(">I", buf[2:6])[0]
    f, buf = buf[:n], buf[n:]
    return f
hl = 6 + struct.unpack(">I", rec[2:6])[0]
s.sendall(rec[:hl])            # HELLO
ack, share = frame(), frame()  # HELLO_ACK, KEX_SHARE
assert ack[1] == 0x02 and share[1] == 0x13, (ack[:2], share[:2])
rl = 6 + struct.unpack(">I", rec[hl + 2:hl + 6])[0]
assert rec[hl + 1] == 0x17
s.sendall(rec[hl:hl + rl])     # the replayed RESUME_INIT
f = frame()
assert f[1] == 0x7f, f[:2]
code = struct.unpack(">H", f[6:8])[0]
print("ERROR", code)
assert code == 81, code        # RESUME_UNKNOWN
PY
wait_nth srvlog "resume refused: no session holds that secret .*RESUME_UNKNOWN" 1
RC=0
OUT=$("$PS" -mode show -statedir "$T/srv" 2>&1) || RC=$?
grep -qE "Resumed, Refused, Expired: +3, 1, 0" <<<"$OUT" || fail "resume counters: $OUT"
pctl restore
wait_nth pclog "resumed after [0-9.]+ s" 4
ok "a replayed RESUME_INIT: RESUME_UNKNOWN, counted; the reservation stood and A resumed"

note "pedserver restarts during a cut: it forgot the secret; a clean end (RESUME_UNKNOWN)"
pctl cut
wait_nth srvlog "$LOST" 5
"$PS" -mode stop -statedir "$T/srv" >/dev/null 2>&1 || fail "pedserver stop"
pc_out=$("$PS" -mode start -hsmpolicy any -statedir "$T/srv" -port "$SPORT" -admin "$(free_port)" \
	-ped "$EMU_far_LINK" -resumewindow 4 2>&1) || fail "pedserver restart: $pc_out"
pctl restore
wait_nth pclog "session cannot be resumed: .*RESUME_UNKNOWN|no session to resume" 1
hsm_run ped show
assert_contains "not connected" "$OUT"
ok "a restarted pedserver refuses the resume; pedclient ends the session"

note "pedclient killed during a cut: its new session drops the reservation"
# (the PED has the orange key's RPK cached: no prompt from here on)
hsm_bg c2 ped connect -ip 127.0.0.1 -port "$PPORT"
hsm_done c2 || fail "ped connect again: $OUT"
pctl cut
wait_nth srvlog "$LOST for 4 s" 1
hold_pidfile "$A"
kill -9 "$(cat "$A/pedclient.pid")"
wait_unlocked "$A"
rm -f "$A/pedclient.pid"
pctl restore
start_pc hsma -localped "$EMU_local_LINK" -resumewindow 2
hsm_bg c3 ped connect -ip 127.0.0.1 -port "$PPORT"
hsm_done c3 || fail "ped connect after the restart: $OUT"
wait_nth srvlog "no longer reserved for its resume: the HSM started a new session" 1
ok "a restarted pedclient forgot its secret; its new session (key proof) ends the reservation"

note "a cut longer than the window: both sides end cleanly, the PED idle, nothing applied"
hsm_bg l3 role login -name so
ctl_wait "PED Key (BLUE)" 5000
ped_key b1 $SOPIN
ctl_wait "Keys read: 01 of 02" 5000
pctl cut
wait_line l3 "Network lost"
hsm_done l3 && fail "a login across an expired window succeeded: $OUT"
assert_contains "RESUME_WINDOW_EXPIRED" "$OUT"
wait_nth srvlog "did not resume within 4 s \(RESUME_WINDOW_EXPIRED\); the PED operation is cancelled" 1
ctl_wait "Awaiting command" 5000
pctl restore
hsm_run hsm show
assert_not_contains "logged in" "$OUT"
hsm_run ped show
assert_contains "not connected" "$OUT"
ok "window expired: RESUME_WINDOW_EXPIRED on both sides, PED idle, SO not logged in"
echo "PASS resume_session"
