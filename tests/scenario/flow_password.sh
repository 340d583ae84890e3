#!/bin/sh
# flow_password.sh - first contact from afar and RPV rotation, with real
# processes on loopback (docs/PROTOCOL.md Part 4, issue "one-time password
# mode"): a pedclient WITHOUT a Local PED, a pedserver with its pedemu in
# Remote mode, pedhsm driving pedclient:
#   ped connect on an HSM without RPV: NOT_INITIALIZED naming -password;
#   -password with a value that is not 8 digits: INVALID_ARGUMENT;
#   a drawn password typed wrong on the PED: PASSWORD_INCORRECT on the
#     console and in both logs, the server slot free at once, the password
#     burned (the HSM's SPAKE2 state is gone: a new connect draws anew);
#   a given password reused after its attempt: refused (burned);
#   the right password: the session opens; it serves ped vector init only;
#   remote RPV init: a 2-of-3 orange keyset with PINs written on the distant
#     PED; ped disconnect; -password now RPV_ALREADY_INITIALIZED; a normal
#     ped connect with 2 of the new orange keys; hsm init and an SO login;
#   rotation: the current orange quorum first, then a new 1-of-1 keyset;
#     the old keys are refused afterwards (RPV_MISMATCH), the new one works;
#   rotation interrupted (a cancel at the current-key step, a cancel after a
#     first new key was written, kill -9 of pedserver and of pedclient in
#     the middle of writing): the old key still connects, a partial new key
#     is refused;
#   the password sessions and the vector init in both audit trails;
#   no password in any log or audit trail; pedclient's and pedhsm's argv never hold it
#     (pedhsm is the short-lived console).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_client.sh"

[ -x "$PH" ] || fail "$PH not built"
[ -x "$PS" ] || fail "$PS not built"
ok() { echo "ok: $*"; }

start_pedemu far -mode remote
export CTL_SOCK=$EMU_far_SOCK
SPORT=$(free_port)
start_ps() {
	RC=0
	OUT=$("$PS" -mode start -hsmpolicy any -statedir "$T/srv" -port "$SPORT" -admin "$(free_port)" \
		-ped "$EMU_far_LINK" -resumewindow 0 "$@" 2>&1) || RC=$?
	[ "$RC" -eq 0 ] || fail "pedserver start: $OUT"
}
# first a server whose PED operations time out after 1 s
start_ps -pedoperationtimeout 1
# no resumption: the kill -9 tests below expect the command to fail at once
start_pc hsma -resumewindow 0
A=$PC_DIR
SA=$(timeout 10 "$PH" -statedir "$A" slot list | sed -n 's/^Slot 0: serial \([0-9]*\),.*/\1/p')
[ -n "$SA" ] || fail "no serial"

# log_has FILE TEXT: until FILE has a line with TEXT, at most 5 s
log_has() {
	timeout 5 sh -c 'tail -n +1 -F "$1" 2>/dev/null | grep -q -m 1 -F -- "$2"' _ "$1" "$2"
}
# The PED forgets a cached orange key when it leaves Remote mode.
forget_rpk() {
	ctl mode local >/dev/null
	ctl mode remote >/dev/null
}
# The password a console printed.
printed_pw() {
	sed -n 's/^Please attend to the PED and enter the following password: \([0-9]*\)$/\1/p' \
		"$T/$1.log"
}

note "a PED that times out on the password prompt: PED_TIMEOUT, slot free"
hsm_bg t1 ped connect -ip 127.0.0.1 -port "$SPORT" -password
ctl_wait "Enter PED Password" 5000
hsm_done t1 && fail "a timed-out password prompt opened a session: $OUT"
assert_contains "Command Result : PED_TIMEOUT" "$OUT"
log_has "$T/srv/pedserver.log" "PED_TIMEOUT" || fail "pedserver log lacks PED_TIMEOUT"
grep -q "PED_TIMEOUT" "$A/pedclient.log" || fail "pedclient log lacks PED_TIMEOUT"
ctl_wait "Awaiting command" 5000
"$PS" -mode stop -statedir "$T/srv" >/dev/null 2>&1 || fail "pedserver stop"
start_ps
ok "PED timeout on the password prompt named on the console and in both logs"

note "no RPV: ped connect says how to start; -password checks its value"
hsm_run ped connect -ip 127.0.0.1 -port "$SPORT"
[ "$RC" -eq 1 ] || fail "connect without RPV: $OUT"
assert_contains "Command Result : NOT_INITIALIZED" "$OUT"
assert_contains "ped connect -password" "$OUT"
for bad in 1234567 123456789 1234567a; do
	hsm_run ped connect -ip 127.0.0.1 -port "$SPORT" -password "$bad"
	[ "$RC" -eq 1 ] || fail "-password $bad accepted: $OUT"
	assert_contains "Command Result : INVALID_ARGUMENT" "$OUT"
	assert_contains "exactly 8 digits" "$OUT"
done
ok "NOT_INITIALIZED names -password; a password is exactly 8 digits"

note "a drawn password typed wrong: PASSWORD_INCORRECT on both sides, slot freed"
hsm_bg w1 ped connect -ip 127.0.0.1 -port "$SPORT" -password
hsm_line w1 '^Please attend to the PED and enter the following password: [0-9]{8}$'
PW1=$(printed_pw w1)
ctl_wait "Enter PED Password" 5000
WRONG=$(printf '%s' "$PW1" | tr '0123456789' '1234567890')
ctl type "$WRONG" >/dev/null
ctl press ENTER >/dev/null
hsm_done w1 && fail "a wrong password opened a session: $OUT"
assert_contains "Command Result : PASSWORD_INCORRECT" "$OUT"
assert_contains "burned" "$OUT"
# pedserver learns it from pedclient's ERROR: wait for its line (bounded)
log_has "$T/srv/pedserver.log" "PASSWORD_INCORRECT" || fail "pedserver log lacks PASSWORD_INCORRECT"
grep -q "PASSWORD_INCORRECT" "$A/pedclient.log" || fail "pedclient log lacks PASSWORD_INCORRECT"
ctl_wait "Awaiting command" 5000
hsm_run hsm show
assert_contains "RPV Initialized:    no" "$OUT"
hsm_run ped connect -ip 127.0.0.1 -port "$SPORT" -password "$PW1"
[ "$RC" -eq 1 ] || fail "a burned password was accepted again: $OUT"
assert_contains "Command Result : ALREADY_EXISTS" "$OUT"
assert_contains "used already" "$OUT"
ok "wrong password: named on the console and in both logs, no HSM change, password burned"

note "NO on the password prompt: USER_CANCELLED, the slot free again"
hsm_bg k1 ped connect -ip 127.0.0.1 -port "$SPORT" -password
ctl_wait "Enter PED Password" 5000
ctl press NO >/dev/null
hsm_done k1 && fail "a cancelled password prompt opened a session: $OUT"
assert_contains "Command Result : USER_CANCELLED" "$OUT"
ctl_wait "Awaiting command" 5000
ok "a cancelled password prompt is named on the console"

note "the slot is free at once; a given password"
PW2=86420135
hsm_bg g1 ped connect -ip 127.0.0.1 -port "$SPORT" -password "$PW2"
hsm_line g1 "^Please attend to the PED and enter the following password: $PW2\$"
ctl_wait "Enter PED Password" 5000
ctl type "$PW2" >/dev/null
ctl press ENTER >/dev/null
hsm_done g1 || fail "connect with the right password: $OUT"
assert_contains "Remote PED session open with 127.0.0.1:$SPORT." "$OUT"
# pedclient never had the password in its argv
tr '\0' ' ' <"/proc/$(cat "$A/pedclient.pid")/cmdline" | grep -q "$PW2" && fail "password in argv"
ok "the right password opens the session"

note "a password session serves ped vector init only"
hsm_run hsm init -label NOPE
[ "$RC" -eq 1 ] || fail "hsm init over a password session: $OUT"
assert_contains "Command Result : BAD_REQUEST" "$OUT"
assert_contains "one-time password" "$OUT"

note "remote RPV init: 2 of 3 orange keys with PINs on the distant PED"
OPIN=97531
hsm_bg v1 ped vector init
ctl_wait "SETTING RPV" 5000
ped_mn 2 3
ped_write_keys o 3 $OPIN
ctl_wait "duplicating" 5000
ctl press NO >/dev/null
hsm_done v1 || fail "remote vector init: $OUT"
assert_contains "Remote PED Vector initialized." "$OUT"
hsm_run ped disconnect
[ "$RC" -eq 0 ] || fail "disconnect: $OUT"
hsm_run ped connect -ip 127.0.0.1 -port "$SPORT" -password "$PW2"
[ "$RC" -eq 1 ] || fail "password mode on an initialized RPV: $OUT"
assert_contains "Command Result : RPV_ALREADY_INITIALIZED" "$OUT"
ok "RPV written remotely; the password mode is refused now"

# connect_keys NAME KEY...: ped connect, the orange keys (2 of 3 or 1 of 1)
connect_keys() {
	local name=$1 k
	shift
	forget_rpk
	hsm_bg "$name" ped connect ${CONNECT_ARGS--ip 127.0.0.1 -port $SPORT}
	ctl_wait "PED Key (ORANGE)" 5000
	for k in "$@"; do
		ped_key "$k" $OPIN
		[ "$k" = "$1" ] && [ $# -gt 1 ] && ctl_wait "Keys read: 01 of 02" 5000
	done
	hsm_done "$name"
}

note "a normal connect with the new orange keys; hsm init; SO login"
connect_keys n1 o1 o3 || fail "connect with the new orange key: $OUT"
assert_contains "Remote PED session open" "$OUT"
SOPIN=24680
hsm_bg hi hsm init -label FAR-HSM
ped_hsm_init 1 1 b $SOPIN r
hsm_done hi || fail "hsm init: $OUT"
so_login() {
	hsm_bg "$1" role login -name so
	ctl_wait "PED Key (BLUE)" 5000
	ped_key b1 $SOPIN
	hsm_done "$1" || fail "SO login: $OUT"
}
so_login l1
ok "remote RPV init end to end: new orange key connects, HSM initialized, SO logged in"

note "PED IDs: ped connect -ped ID, and the ID assigned to this HSM's serial"
hsm_run ped disconnect
pc -mode setid -statedir "$A" -id 7 -id_ip 127.0.0.1 -id_port "$SPORT"
[ "$RC" -eq 0 ] || fail "setid: $OUT"
pc -mode setid -statedir "$A" -id 8 -id_ip 127.0.0.1 -id_port "$(free_port)"
[ "$RC" -eq 0 ] || fail "setid: $OUT"
hsm_run ped connect -ped 9
[ "$RC" -eq 1 ] || fail "unmapped PED ID: $OUT"
assert_contains "Command Result : NOT_FOUND" "$OUT"
assert_contains "PED ID 9 is not mapped" "$OUT"
hsm_run ped connect -ped 8 -ip 127.0.0.1
assert_contains "-ped and -ip exclude each other" "$OUT"
forget_rpk
hsm_bg i1 ped connect -ped 7
hsm_line i1 "Connecting to the Remote PED server at 127.0.0.1:$SPORT \\(PED ID 7\\)"
ctl_wait "PED Key (ORANGE)" 5000
ped_key o1 $OPIN
ctl_wait "Keys read: 01 of 02" 5000
ped_key o2 $OPIN
hsm_done i1 || fail "ped connect -ped 7: $OUT"
hsm_run ped disconnect
pc -mode assignid -statedir "$A" -id 7 -id_serialnumber "$SA"
[ "$RC" -eq 0 ] || fail "assignid: $OUT"
hsm_run ped set -ip 127.0.0.1 -port "$(free_port)" # the assigned ID comes first
CONNECT_ARGS="" connect_keys i2 o2 o3 || fail "ped connect with the assigned ID: $OUT"
assert_contains "(PED ID 7, assigned to this HSM)" "$OUT"
ok "PED IDs resolve through pedclient's mappings"

note "rotation interrupted at the current-key step: nothing changes"
hsm_bg r1 ped vector init
hsm_line r1 "present the current orange"
ctl_wait "PED Key (ORANGE)" 5000
ctl press CLEAR >/dev/null
hsm_done r1 && fail "cancelled rotation succeeded: $OUT"
assert_contains "USER_CANCELLED" "$OUT"
ctl_wait "Awaiting command" 5000

note "rotation interrupted after one new key was written (CLEAR on the second)"
hsm_bg r3 ped vector init
ctl_wait "PED Key (ORANGE)" 5000
ped_key o1 $OPIN
ctl_wait "Keys read: 01 of 02" 5000
ped_key o2 $OPIN
hsm_line r3 "Current orange key verified"
ctl_wait "SETTING RPV" 5000
ped_mn 1 2
_ctl_raw newkey p1 >/dev/null
ctl_wait "PED Key (" 5000
_ctl_raw remove >/dev/null
ctl insert p1 >/dev/null
ctl press ENTER >/dev/null
ctl_wait "Overwrite? YES/NO" 5000
ctl press YES >/dev/null
ctl_wait "Enter new PED PIN" 5000
ctl type $OPIN >/dev/null
ctl press ENTER >/dev/null
ctl_wait "Confirm new PED PIN" 5000
ctl type $OPIN >/dev/null
ctl press ENTER >/dev/null
ctl_wait "PED Key (" 5000 # the second key's prompt: the first is written
ctl press CLEAR >/dev/null
hsm_done r3 && fail "half-written rotation succeeded: $OUT"
ctl_wait "Awaiting command" 5000
hsm_run ped disconnect
connect_keys n2 o2 o3 || fail "old key refused after an interrupted rotation: $OUT"
ok "old orange keys still connect after interrupted rotations"

note "kill -9 of pedserver while the new keyset is written"
so_login l2
hsm_bg r4 ped vector init
ctl_wait "PED Key (ORANGE)" 5000
ped_key o1 $OPIN
ctl_wait "Keys read: 01 of 02" 5000
ped_key o3 $OPIN
ctl_wait "SETTING RPV" 5000
ped_mn 1 1
ctl_wait "PED Key (" 5000
kill -9 "$(cat "$T/srv/pedserver.pid")"
hsm_done r4 && fail "rotation survived a dead pedserver: $OUT"
rm -f "$T/srv/pedserver.pid"
ctl press CLEAR >/dev/null || true
ctl_wait "Awaiting command" 5000
start_ps
connect_keys n3 o1 o2 || fail "old key refused after pedserver was killed: $OUT"

note "kill -9 of pedclient while the new keyset is written"
so_login l3
hsm_bg r5 ped vector init
ctl_wait "PED Key (ORANGE)" 5000
ped_key o2 $OPIN
ctl_wait "Keys read: 01 of 02" 5000
ped_key o3 $OPIN
ctl_wait "SETTING RPV" 5000
ped_mn 1 1
ctl_wait "PED Key (" 5000
kill -9 "$(cat "$A/pedclient.pid")"
hsm_done r5 && fail "rotation survived a dead pedclient: $OUT"
ctl_wait "Awaiting command" 10000
rm -f "$A/pedclient.pid"
start_pc hsma -resumewindow 0
connect_keys n4 o1 o3 || fail "old key refused after pedclient was killed: $OUT"
ok "kill -9 of either daemon mid-rotation leaves the old RPV"

note "the new key written before the interruption (p1 of a 1-of-2 keyset) is refused"
hsm_run ped disconnect
connect_keys n5 p1 && fail "a key of an interrupted rotation connected: $OUT"
assert_contains "RPV_MISMATCH" "$OUT"
ok "partial new keys refused (RPV_MISMATCH)"

note "rotation: current quorum, then a new 1-of-1 keyset; old keys refused afterwards"
connect_keys n6 o2 o3 || fail "connect: $OUT"
so_login l4
hsm_bg r6 ped vector init
ctl_wait "PED Key (ORANGE)" 5000
ped_key o1 $OPIN
ctl_wait "Keys read: 01 of 02" 5000
ped_key o2 $OPIN
ctl_wait "SETTING RPV" 5000
ped_mn 1 1
ped_write_keys q 1 $OPIN
ctl_wait "duplicating" 5000
ctl press NO >/dev/null
hsm_done r6 || fail "rotation: $OUT"
assert_contains "Remote PED Vector initialized." "$OUT"
hsm_run ped disconnect
connect_keys n7 o1 o3 && fail "an old orange key connected after the rotation: $OUT"
assert_contains "RPV_MISMATCH" "$OUT"
connect_keys n8 q1 || fail "the new orange key: $OUT"
assert_contains "Remote PED session open" "$OUT"
ok "rotation: old keys refused, new key works"

note "a rotation shown the old (replaced) orange keys: RPV_MISMATCH, nothing changes"
so_login l5
hsm_bg r7 ped vector init
ctl_wait "PED Key (ORANGE)" 5000
ped_key o1 $OPIN
ctl_wait "Keys read: 01 of 02" 5000
ped_key o3 $OPIN
hsm_done r7 && fail "rotation with replaced keys: $OUT"
assert_contains "Command Result : RPV_MISMATCH" "$OUT"
assert_contains "the RPV is unchanged" "$OUT"
hsm_run ped disconnect
connect_keys n9 q1 || fail "the current orange key after a refused rotation: $OUT"
ok "a rotation needs the current orange quorum"

note "the password sessions and the vector init in both audit trails"
grep '"event":"session_open"' "$T/srv/audit.log" | grep -q '"mode":"one-time password"' ||
	fail "pedserver's audit trail has no password session"
grep '"event":"session_open"' "$A/audit.log" | grep -q '"mode":"one-time password"' ||
	fail "pedclient's audit trail has no password session"
grep '"event":"ceremony"' "$A/audit.log" | grep '"command":"ped vector init"' |
	grep -q '"result":"OK"' || fail "pedclient's audit trail has no vector init"
grep '"event":"handshake_failed"' "$T/srv/audit.log" | grep -q '"result":"PASSWORD_INCORRECT"' ||
	fail "pedserver's audit trail lacks the wrong password"
"$PS" -mode audit -verify -statedir "$T/srv" >/dev/null || fail "pedserver's trail broken"
"$PC" -mode audit -verify -statedir "$A" >/dev/null || fail "pedclient's trail broken"
ok "password sessions, the wrong password and the vector init audited; both trails intact"

note "no password in any log (audit trails included)"
for pw in "$PW1" "$WRONG" "$PW2"; do
	if grep -r -l "$pw" "$T/srv" "$A" 2>/dev/null | grep -v '\.key$'; then
		fail "password $pw found in the files above"
	fi
done
ok "no password in the daemons' logs or state"

echo "flow_password: all ok"
