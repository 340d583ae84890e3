#!/bin/sh
# flow_remote.sh - the Remote PED flows with real processes on loopback:
# pedclient (the HSM side, its RPV made with a Local PED), pedserver with
# its own pedemu in Remote mode (the PED host), pedhsm driving pedclient:
#   ped connect -ip -port: "Please attend to the PED.", the orange key
#     prompt on the remote PED, success; pedserver show lists the client;
#     ped show names the server;
#   hsm init -label and role login -name so through the session (the PED's
#     progress relayed as PED: lines), a wrong PIN: CKR_PIN_INCORRECT;
#   a second HSM while the first holds the server: SERVER_BUSY naming it;
#   ped disconnect, then ped set -ip -port and a bare ped connect;
#   the orange key of another HSM: RPV_MISMATCH on both sides, the server
#     slot free again; the idle timeout closes a session.
# Every wait is on an event (LCD text, an output line, a process exit).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_client.sh"

[ -x "$PH" ] || fail "$PH not built (make BUILD=$BUILD $PH)"
[ -x "$PS" ] || fail "$PS not built (make BUILD=$BUILD $PS)"
ok() { echo "ok: $*"; }

# the HSM hosts' Local PEDs (orange keys) and the PED host's PED
start_pedemu local -mode local
start_pedemu localb -mode local
start_pedemu far -mode remote
FAR_SOCK=$EMU_far_SOCK

OPIN=13579

start_pc hsma -localped "$EMU_local_LINK"
A=$PC_DIR
make_rpv oa local
SA=$(timeout 10 "$PH" -statedir "$A" slot list | sed -n 's/^Slot 0: serial \([0-9]*\),.*/\1/p')
ok "HSM A: RPV initialized with the Local PED"

SPORT=$(free_port)
RC=0
OUT=$("$PS" -mode start -hsmpolicy any -statedir "$T/srv" -port "$SPORT" -admin "$(free_port)" \
	-ped "$EMU_far_LINK" 2>&1) || RC=$?
[ "$RC" -eq 0 ] || fail "pedserver start: $OUT"
export CTL_SOCK=$FAR_SOCK

note "ped connect -ip -port: the orange key on the remote PED"
PC_DIR=$A
ped_connect oa1 "$SPORT"
assert_contains "Command Result : No Error" "$OUT"
RC=0
OUT=$("$PS" -mode show -statedir "$T/srv" 2>&1) || RC=$?
assert_contains "$SA" "$OUT"
echo "$OUT" | sed -n '1,40p' | grep -i -E "client|rpk|serial" || true
pcs -mode show -statedir "$A" -json
[ "$(jq -r '.sessions[0].server' <<<"$OUT")" = "127.0.0.1:$SPORT" ] || fail "show -json: $OUT"
hsm_run ped show
assert_contains "Remote PED server:  127.0.0.1:$SPORT" "$OUT"
assert_contains "Session:            open" "$OUT"
assert_contains "pedserver" "$OUT"
ok "session open; pedserver show lists HSM $SA; ped show names the server"

note "hsm init and role login -name so through the session"
SOPIN=24680
hsm_bg hi hsm init -label REMOTE-A
ped_hsm_init 2 3 b $SOPIN r
hsm_done hi || fail "hsm init over the session: $OUT"
assert_contains "PED: Remote PED mode | SETTING SO PIN..." "$OUT"
assert_contains "HSM initialized with label 'REMOTE-A'." "$OUT"
hsm_bg l1 role login -name so
ctl_wait "PED Key (BLUE)" 5000
ped_key b2 $SOPIN
ctl_wait "Keys read: 01 of 02" 5000
ped_key b3 1111
hsm_done l1 && fail "wrong PIN logged in: $OUT"
assert_contains "CKR_PIN_INCORRECT" "$OUT"
assert_contains "2 login attempts left" "$OUT"
hsm_bg l2 role login -name so
ctl_wait "PED Key (BLUE)" 5000
ped_key b3 $SOPIN
ctl_wait "Keys read: 01 of 02" 5000
ped_key b1 $SOPIN
hsm_done l2 || fail "SO login over the session: $OUT"
assert_contains "HSM Security Officer logged in." "$OUT"
ok "hsm init 2 of 3 and SO login (and a wrong PIN) through the Remote PED"

note "cancels through the session: CLEAR on the remote PED, and a console that hangs up"
hsm_bg x1 role login -name so
ctl_wait "PED Key (BLUE)" 5000
ctl press CLEAR >/dev/null
hsm_done x1 && fail "a cancelled login succeeded: $OUT"
assert_contains "Command Result : USER_CANCELLED" "$OUT"
ctl_wait "Awaiting command" 5000
hsm_bg x2 role login -name so
ctl_wait "PED Key (BLUE)" 5000
kill "$_lib_bg_x2"
wait_bg x2 10 || true
# pedclient relays CANCEL through the session: the remote PED goes idle
ctl_wait "Awaiting command" 5000
hsm_bg x3 role login -name so
ctl_wait "PED Key (BLUE)" 5000
ped_key b1 $SOPIN
ctl_wait "Keys read: 01 of 02" 5000
ped_key b2 $SOPIN
hsm_done x3 || fail "login after the cancels: $OUT"
ok "USER_CANCELLED relayed; a hung-up console's operation is cancelled on the remote PED; the session still works"

note "a second HSM while A holds the server: SERVER_BUSY"
start_pc hsmb -localped "$EMU_localb_LINK" -idletimeout 2
B=$PC_DIR
make_rpv ob localb
export CTL_SOCK=$FAR_SOCK
hsm_run ped connect -ip 127.0.0.1 -port "$SPORT"
[ "$RC" -eq 1 ] || fail "busy server accepted B: $OUT"
assert_contains "Command Result : SERVER_BUSY" "$OUT"
assert_contains "$SA" "$OUT"
ok "SERVER_BUSY names the HSM holding the server"

note "ped disconnect; ped set; a bare ped connect uses the defaults"
PC_DIR=$A
hsm_run ped disconnect
[ "$RC" -eq 0 ] || fail "disconnect: $OUT"
hsm_run ped show
assert_contains "Remote PED:         not connected" "$OUT"
hsm_run ped set -ip 127.0.0.1 -port "$SPORT"
[ "$RC" -eq 0 ] || fail "ped set: $OUT"
hsm_run ped show
assert_contains "Defaults (ped set): 127.0.0.1:$SPORT" "$OUT"
hsm_bg c2 ped connect
hsm_line c2 '^Please attend to the PED\.$'
# Remote mode caches the orange key read at the first connect
if ! ctl screen | grep -q "Awaiting command"; then
	ctl_wait "PED Key (ORANGE)" 5000
	ped_key oa1 $OPIN
fi
hsm_done c2 || fail "bare ped connect: $OUT"
assert_contains "Remote PED session open with 127.0.0.1:$SPORT." "$OUT"
hsm_run ped disconnect
[ "$RC" -eq 0 ] || fail "disconnect: $OUT"
ok "disconnect, ped set, bare connect"

note "the orange key of another HSM: RPV_MISMATCH"
PC_DIR=$B
ctl mode local >/dev/null
ctl mode remote >/dev/null # leaving Remote mode forgets the cached orange key
hsm_bg c3 ped connect -ip 127.0.0.1 -port "$SPORT"
hsm_line c3 '^Please attend to the PED\.$'
ctl_wait "PED Key (ORANGE)" 5000
ped_key oa1 $OPIN
hsm_done c3 && fail "wrong orange key accepted: $OUT"
assert_contains "Command Result : RPV_MISMATCH (the orange key presented at 127.0.0.1:$SPORT does not belong to this HSM" "$OUT"
grep -q "RPV_MISMATCH" "$T/srv/pedserver.log" || fail "pedserver did not report RPV_MISMATCH"
ctl_wait "Awaiting command" 5000
ok "RPV_MISMATCH with A's orange key on HSM B"

note "the server slot is free again: B connects with its own key"
ctl mode local >/dev/null
ctl mode remote >/dev/null
hsm_bg c4 ped connect -ip 127.0.0.1 -port "$SPORT"
ctl_wait "PED Key (ORANGE)" 5000
ped_key ob1 $OPIN
hsm_done c4 || fail "B connect after the mismatch: $OUT"
assert_contains "Remote PED session open" "$OUT"
ok "after RPV_MISMATCH the server serves the next HSM"

note "the idle timeout (2 s for HSM B) closes the session"
timeout 15 sh -c 'tail -n +1 -f "$1" | grep -q -m 1 "idle for 2 s: closing"' _ "$B/pedclient.log" ||
	fail "no idle timeout: $(tail -n 3 "$B/pedclient.log")"
hsm_run ped show
assert_contains "Remote PED:         not connected" "$OUT"
ok "idle session closed after IdleTimeout"

echo "flow_remote: all ok"
