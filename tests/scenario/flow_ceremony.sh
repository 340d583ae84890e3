#!/bin/sh
# flow_ceremony.sh - the key holders' ceremonies over a Remote PED session,
# with real processes on loopback (pedclient, pedserver, two pedemus):
#   a 16-of-16 Crypto Officer keyset with PINs written and used for login;
#   role changepw -name co: the 16 current keys (one presented twice: refused
#     at the PED), then a new 3-of-16 keyset
#     with PINs, login with 3 of it; the old keys are refused by the PED;
#   changepw with a wrong PIN on a current key: CKR_PIN_INCORRECT, counted,
#     the credential unchanged;
#   changepw interrupted (PED unplugged after the first new key): the old
#     keyset still logs in, the half-written new one does not;
#   role changepw -name so with the SO's blue key, then login with the new;
#   role resetpw -name co by the partition SO, -name cu by the CO: the lost
#     keys are refused, the new ones log in; resetpw of a role never
#     initialized (NOT_INITIALIZED) or without its resetter (NOT_LOGGED_IN);
#   changepw co onto an existing keyset (holders moving back to their
#     original keys after a replacement), then those keys log in;
#   role init -name lco by the CO, role login -name lco, and what the LCO
#     may not do (make a CU or an LCO);
#   activation: partition policy 22, role createchallenge (a short secret:
#     CHALLENGE_INVALID), a PED login activates the CO, challenge logins
#     with no PED session (after ped disconnect), a wrong challenge counted,
#     role deactivate (CKR_NOT_ACTIVATED); a pedclient restart erases the
#     activation, unless policy 23 (auto-activation) is on;
#   changepw interrupted by a PED timeout: the old keyset still valid.
# Every wait is on an event (LCD text, an output line, a process exit).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_client.sh"

[ -x "$PH" ] || fail "$PH not built (make BUILD=$BUILD $PH)"
[ -x "$PS" ] || fail "$PS not built (make BUILD=$BUILD $PS)"
ok() { echo "ok: $*"; }

start_pedemu local -mode local
start_pedemu far -mode remote
OPIN=13579

start_pc hsm -localped "$EMU_local_LINK"
make_rpv o local

SPORT=$(free_port)
RC=0
OUT=$("$PS" -mode start -hsmpolicy any -statedir "$T/srv" -port "$SPORT" -admin "$(free_port)" \
	-ped "$EMU_far_LINK" 2>&1) || RC=$?
[ "$RC" -eq 0 ] || fail "pedserver start: $OUT"
export CTL_SOCK=$EMU_far_SOCK
ped_connect o1 "$SPORT"

# write_one TITLE PREFIX PIN: a new 1-of-1 keyset for the prompt TITLE
write_one() {
	ctl_wait "$1" 5000
	ped_mn 1 1
	ped_write_keys "$2" 1 "$3"
	ctl_wait "duplicating" 5000
	ctl press NO >/dev/null
}
# read_keys M PREFIX PIN I...: present keys PREFIX<I> (PIN) for an M-key read
# (R0=J: J keys were read already)
read_keys() {
	local m=$1 prefix=$2 pin=$3 j=${R0:-0} i
	shift 3
	for i in "$@"; do
		if [ "$j" -gt 0 ]; then
			ctl_wait "$(printf 'Keys read: %02d of %02d' "$j" "$m")" 5000
		fi
		ped_key "$prefix$i" "$pin"
		j=$((j + 1))
	done
}

SOPIN=24680
POPIN=35791
hsm_bg hi hsm init -label CEREMONY
write_one "SETTING SO PIN" b $SOPIN
write_one "SETTING DOMAIN" r -
hsm_done hi || fail "hsm init: $OUT"
hsm_bg l1 role login -name so
ctl_wait "PED Key (BLUE)" 5000
ped_key b1 $SOPIN
hsm_done l1 || fail "SO login: $OUT"
hsm_bg pi partition init -label PART
write_one "SETTING PO PIN" p $POPIN
write_one "SETTING PAR DOMAIN" pr -
hsm_done pi || fail "partition init: $OUT"
ok "RPV, hsm init, partition init over the Remote PED"

note "16-of-16 Crypto Officer keyset with PINs, login with all 16"
COPIN=4712
T0=$(date +%s%N)
hsm_bg co role init -name co
ctl_wait "SETTING CO PIN" 5000
ped_mn 16 16
ped_write_keys k 16 $COPIN
ctl_wait "duplicating" 5000
ctl press NO >/dev/null
hsm_done co || fail "role init co 16 of 16: $OUT"
assert_contains "Creating a 16 of 16 keyset" "$OUT"
assert_contains "Key written 16 of 16" "$OUT"
hsm_bg l2 role login -name co
ctl_wait "PED Key (BLACK)" 5000
read_keys 16 k $COPIN 16 15 14 13 12 11 10 9 8 7 6 5 4 3 2 1
hsm_done l2 || fail "CO login 16 of 16: $OUT"
assert_contains "Crypto Officer logged in." "$OUT"
assert_contains "Keys read 16 of 16" "$OUT"
T1=$(date +%s%N)
ok "16-of-16 keyset written and logged in over the Remote PED ($(((T1 - T0) / 1000000)) ms)"

note "role changepw -name co: the 16 current keys, then a new 3-of-16 keyset"
NPIN=8642
hsm_bg ch1 role changepw -name co
hsm_line ch1 'Present the current CO keyset first'
ctl_wait "OLD CO PIN" 5000
read_keys 16 k $COPIN 1
ctl_wait "Keys read: 01 of 16" 5000
ped_key k1 - # the same key twice: refused at the PED, not counted
ctl_wait "Key already read!" 5000
R0=1 read_keys 16 k $COPIN 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16
ctl_wait "NEW CO PIN" 5000
ped_mn 3 16
ped_write_keys n 16 $NPIN
ctl_wait "duplicating" 5000
ctl press NO >/dev/null
hsm_done ch1 || fail "changepw co: $OUT"
assert_contains "Current CO keyset verified; now the new one." "$OUT"
assert_contains "Key already read!" "$OUT"
assert_contains "Crypto Officer credential changed." "$OUT"
hsm_run hsm show
assert_contains "3 of 16" "$OUT"
hsm_bg l3 role login -name co
ctl_wait "PED Key (BLACK)" 5000
read_keys 3 n $NPIN 16 7 2
hsm_done l3 || fail "CO login 3 of 16 after changepw: $OUT"
hsm_bg l4 role login -name co
ctl_wait "PED Key (BLACK)" 5000
ped_key k1 -
ctl_wait "Wrong keyset!" 5000
ctl press CLEAR >/dev/null
hsm_done l4 && fail "an old CO key logged in: $OUT"
assert_contains "USER_CANCELLED" "$OUT"
ctl_wait "Awaiting command" 5000
ok "changepw 16-of-16 -> 3-of-16; the new keys log in, the PED refuses the old ones"

note "changepw with a wrong PIN on a current key: CKR_PIN_INCORRECT, nothing changed"
hsm_bg l5 role login -name co
ctl_wait "PED Key (BLACK)" 5000
read_keys 3 n $NPIN 1 2 3
hsm_done l5 || fail "CO login: $OUT"
hsm_bg ch2 role changepw -name co
ctl_wait "OLD CO PIN" 5000
ped_key n4 $NPIN
ctl_wait "Keys read: 01 of 03" 5000
ped_key n5 $NPIN
ctl_wait "Keys read: 02 of 03" 5000
ped_key n6 1111
hsm_done ch2 && fail "changepw with a wrong PIN: $OUT"
assert_contains "CKR_PIN_INCORRECT" "$OUT"
assert_contains "9 login attempts left" "$OUT"
assert_not_contains "credential changed" "$OUT"
hsm_run role changepw -name co
[ "$RC" -ne 0 ] || fail "changepw without the CO logged in: $OUT"
assert_contains "CKR_USER_NOT_LOGGED_IN" "$OUT"
ok "a wrong PIN counts as a failed login and logs the CO out; changepw then needs a login"

note "changepw interrupted: the PED unplugged after the first new key"
hsm_bg l6 role login -name co
ctl_wait "PED Key (BLACK)" 5000
read_keys 3 n $NPIN 4 5 6
hsm_done l6 || fail "CO login: $OUT"
hsm_bg ch3 role changepw -name co
ctl_wait "OLD CO PIN" 5000
read_keys 3 n $NPIN 8 9 10
ctl_wait "NEW CO PIN" 5000
ped_mn 2 2
ped_write_keys x 1 1234
ctl_wait "PED Key (" 5000
ctl unplug >/dev/null
hsm_done ch3 && fail "an interrupted changepw succeeded: $OUT"
assert_contains "Key written 01 of 02" "$OUT"
assert_not_contains "credential changed" "$OUT"
# the session stays open; pedserver tells pedclient when its PED is back
NLOG=$(wc -l <"$T/srv/pedserver.log")
ctl plug >/dev/null
timeout 10 sh -c 'tail -n +"$2" -f "$1" | grep -q -m 1 "telling it the PED is connected"' _ \
	"$T/srv/pedserver.log" $((NLOG + 1)) || fail "the PED did not come back"
hsm_run ped show
assert_contains "Session:            open" "$OUT"
hsm_run hsm show
assert_contains "3 of 16" "$OUT"
hsm_bg l7 role login -name co
ctl_wait "PED Key (BLACK)" 5000
read_keys 3 n $NPIN 11 12 13
hsm_done l7 || fail "the old CO keyset after an interrupted changepw: $OUT"
hsm_bg l8 role login -name co
ctl_wait "PED Key (BLACK)" 5000
ped_key x1 -
ctl_wait "Wrong keyset!" 5000
ctl press CLEAR >/dev/null
hsm_done l8 && fail "a half-written CO key logged in: $OUT"
ctl_wait "Awaiting command" 5000
ok "after an unplug mid-roll-over the old CO keyset still logs in; the half-written one does not"

note "role changepw -name so"
hsm_bg ch4 role changepw -name so
ctl_wait "OLD SO PIN" 5000
ped_key b1 $SOPIN
write_one "NEW SO PIN" nb 97531
hsm_done ch4 || fail "changepw so: $OUT"
assert_contains "HSM Security Officer credential changed." "$OUT"
hsm_run role logout
hsm_bg l9 role login -name so
ctl_wait "PED Key (BLUE)" 5000
ped_key nb1 97531
hsm_done l9 || fail "SO login with the new key: $OUT"
ok "the SO changes its own credential; the new key logs in"

note "role resetpw -name co by the partition SO"
hsm_run role resetpw -name cu
[ "$RC" -ne 0 ] || fail "resetpw of a CU never initialized: $OUT"
assert_contains "Command Result : NOT_INITIALIZED" "$OUT"
hsm_run role resetpw -name co
[ "$RC" -ne 0 ] || fail "resetpw co without the PO: $OUT"
assert_contains "Command Result : CKR_USER_NOT_LOGGED_IN (role resetpw -name co needs the partition SO logged in)" "$OUT"
hsm_bg l10 role login -name po
ctl_wait "PED Key (BLUE)" 5000
ped_key p1 $POPIN
hsm_done l10 || fail "PO login: $OUT"
hsm_bg rs role resetpw -name co
write_one "RESET CO PIN" z 5555
hsm_done rs || fail "resetpw co: $OUT"
assert_contains "Crypto Officer credential reset." "$OUT"
hsm_bg l11 role login -name co
ctl_wait "PED Key (BLACK)" 5000
ped_key z1 5555
hsm_done l11 || fail "CO login after resetpw: $OUT"
ok "resetpw co by the PO: the new CO key logs in (never-initialized role, no PO: named errors)"

note "role resetpw -name cu by the Crypto Officer"
hsm_bg cu role init -name cu
write_one "SETTING CU PIN" g 6666
hsm_done cu || fail "role init cu: $OUT"
hsm_bg rs2 role resetpw -name cu
write_one "RESET CU PIN" ng 7777
hsm_done rs2 || fail "resetpw cu: $OUT"
assert_contains "Crypto User credential reset." "$OUT"
hsm_bg l12 role login -name cu
ctl_wait "PED Key (BLACK)" 5000
ped_key g1 -
ctl_wait "Wrong keyset!" 5000
ped_key ng1 7777
hsm_done l12 || fail "CU login after resetpw: $OUT"
ok "resetpw cu by the CO: the lost gray key is refused, the new one logs in"

note "holders move back to their original keys: changepw co reusing the 3-of-16 keyset"
hsm_bg ch5 role changepw -name co
ctl_wait "OLD CO PIN" 5000
ped_key z1 5555
ctl_wait "reuse an existing" 5000
ctl press YES >/dev/null
ctl_wait "PED Key (BLACK)" 5000
read_keys 3 n $NPIN 14 15 16
ctl_wait "duplicating" 5000
ctl press NO >/dev/null
hsm_done ch5 || fail "changepw co with a reused keyset: $OUT"
assert_contains "Reusing an existing 3 of 16 keyset." "$OUT"
assert_contains "Crypto Officer credential changed." "$OUT"
ok "changepw onto an existing keyset (the replacement key z1, then the original 3-of-16)"

note "the Limited Crypto Officer: role init -name lco by the CO, role login -name lco"
hsm_bg lc role init -name lco
write_one "SETTING LCO PIN" lc 8888
hsm_done lc || fail "role init lco: $OUT"
assert_contains "Limited Crypto Officer initialized." "$OUT"
hsm_run role logout
hsm_bg l13 role login -name lco
ctl_wait "PED Key (BLACK)" 5000
ped_key lc1 8888
hsm_done l13 || fail "LCO login: $OUT"
assert_contains "Limited Crypto Officer logged in." "$OUT"
hsm_run hsm show
assert_contains "LCO      1 of 1 keyset, failed logins 0 of 10, logged in" "$OUT"
hsm_run role init -name cu
[ "$RC" -ne 0 ] || fail "the LCO initialized a CU: $OUT"
assert_contains "CKR_USER_NOT_LOGGED_IN (role init -name cu needs the Crypto Officer logged in)" "$OUT"
hsm_run role init -name lco
assert_contains "CKR_USER_NOT_LOGGED_IN (role init -name lco needs the Crypto Officer logged in)" "$OUT"
ok "LCO made by the CO, logs in with its key, may not make a CU or another LCO"

note "the original CO keys log in again; the replacement key does not"
hsm_bg l14 role login -name co
ctl_wait "PED Key (BLACK)" 5000
ped_key z1 -
ctl_wait "Wrong keyset!" 5000
read_keys 3 n $NPIN 5 10 15
hsm_done l14 || fail "CO login with the original keys: $OUT"
ok "after moving back, the original 3-of-16 keys log the CO in"

note "activation: policy 22, the CO's challenge, a PED login activates"
HSMD=$PC_DIR
CH=Chal-0001x
hsm_run role createchallenge -name co -challengesecret "$CH"
assert_contains "CKR_USER_NOT_LOGGED_IN (role createchallenge -name co needs the partition SO logged in)" "$OUT"
hsm_bg l15 role login -name po
ctl_wait "PED Key (BLUE)" 5000
ped_key p1 $POPIN
hsm_done l15 || fail "PO login: $OUT"
hsm_run role createchallenge -name co -challengesecret abc
assert_contains "Command Result : CHALLENGE_INVALID" "$OUT"
hsm_run role createchallenge -name co -challengesecret "$CH"
[ "$RC" -eq 0 ] || fail "createchallenge: $OUT"
hsm_run role login -name co -password "$CH"
assert_contains "Command Result : CKR_NOT_ACTIVATED" "$OUT"
hsm_run partition changepolicy -policy 22 -value 1
[ "$RC" -eq 0 ] || fail "changepolicy 22: $OUT"
hsm_run partition showpolicies
assert_contains "22: Allow activation:       1" "$OUT"
hsm_bg l16 role login -name co
ctl_wait "PED Key (BLACK)" 5000
read_keys 3 n $NPIN 1 2 3
hsm_done l16 || fail "CO PED login: $OUT"
assert_contains "Crypto Officer activated: role login -name co -password works without PED keys." "$OUT"
ok "policy 22 on, challenge set by the PO (a short one refused), the PED login activates the CO"

note "activation survives ped disconnect; wrong challenge counted; deactivate"
hsm_run ped disconnect
[ "$RC" -eq 0 ] || fail "disconnect: $OUT"
hsm_run role logout
hsm_run role login -name co -password "$CH"
[ "$RC" -eq 0 ] || fail "challenge login without a PED: $OUT"
assert_contains "Crypto Officer logged in (activated: challenge secret)." "$OUT"
assert_not_contains "attend to the PED" "$OUT"
hsm_run role login -name co -password Wrong-0001
assert_contains "Command Result : CKR_PIN_INCORRECT (wrong challenge secret; 9 login attempts left" "$OUT"
hsm_run role login -name co -password "$CH"
[ "$RC" -eq 0 ] || fail "challenge login: $OUT"
hsm_run hsm show
assert_contains "failed logins 0 of 10, logged in, challenge set, activated" "$OUT"
hsm_run role deactivate -name co
[ "$RC" -eq 0 ] || fail "deactivate: $OUT"
hsm_run role login -name co -password "$CH"
assert_contains "Command Result : CKR_NOT_ACTIVATED" "$OUT"
ok "challenge logins with no PED session; a wrong one counts; role deactivate ends it"

# reconnect_login: ped connect, then the CO's PED login (activates it)
reconnect_login() {
	hsm_bg "$1c" ped connect -ip 127.0.0.1 -port "$SPORT"
	hsm_line "$1c" '^Please attend to the PED\.$'
	if ! ctl screen | grep -q "Awaiting command"; then
		ctl_wait "PED Key (ORANGE)" 5000
		ped_key o1 $OPIN
	fi
	hsm_done "$1c" || fail "ped connect: $OUT"
	hsm_bg "$1l" role login -name co
	ctl_wait "PED Key (BLACK)" 5000
	read_keys 3 n $NPIN 4 5 6
	hsm_done "$1l" || fail "CO PED login: $OUT"
	assert_contains "Crypto Officer activated" "$OUT"
}
# restart_pc: stop pedclient and start it again on the same state dir
restart_pc() {
	hold_pidfile "$HSMD"
	pc -mode stop -statedir "$HSMD"
	[ "$RC" -eq 0 ] || fail "stop: $OUT"
	wait_unlocked "$HSMD"
	start_pc hsm -localped "$EMU_local_LINK"
}

note "an HSM restart erases the activation (no auto-activation)"
ctl mode local >/dev/null
ctl mode remote >/dev/null
reconnect_login r1
restart_pc
hsm_run role login -name co -password "$CH"
assert_contains "Command Result : CKR_NOT_ACTIVATED" "$OUT"
ok "restart without policy 23: the CO must log in with its PED keys again"

note "auto-activation (policy 23): the activation survives a restart within the window"
reconnect_login r2
hsm_bg l17 role login -name po
ctl_wait "PED Key (BLUE)" 5000
ped_key p1 $POPIN
hsm_done l17 || fail "PO login: $OUT"
hsm_run partition changepolicy -policy 23 -value 1
[ "$RC" -eq 0 ] || fail "changepolicy 23: $OUT"
hsm_bg l18 role login -name co
ctl_wait "PED Key (BLACK)" 5000
read_keys 3 n $NPIN 7 8 9
hsm_done l18 || fail "CO PED login: $OUT"
restart_pc
hsm_run ped show
assert_contains "Remote PED:         not connected" "$OUT"
hsm_run role login -name co -password "$CH"
[ "$RC" -eq 0 ] || fail "challenge login after a restart with auto-activation: $OUT"
assert_contains "Crypto Officer logged in (activated: challenge secret)." "$OUT"
ok "policy 23: after a pedclient restart the CO logs in with its challenge, no PED"

note "changepw interrupted by a PED timeout (pedserver -pedoperationtimeout 3)"
RC=0
OUT=$("$PS" -mode stop -statedir "$T/srv" 2>&1) || RC=$?
[ "$RC" -eq 0 ] || fail "pedserver stop: $OUT"
SPORT=$(free_port)
RC=0
OUT=$("$PS" -mode start -hsmpolicy any -statedir "$T/srv" -port "$SPORT" -admin "$(free_port)" \
	-ped "$EMU_far_LINK" -pedoperationtimeout 3 2>&1) || RC=$?
[ "$RC" -eq 0 ] || fail "pedserver start: $OUT"
ctl mode local >/dev/null
ctl mode remote >/dev/null
hsm_bg c3 ped connect -ip 127.0.0.1 -port "$SPORT"
ctl_wait "PED Key (ORANGE)" 5000
ped_key o1 $OPIN
hsm_done c3 || fail "ped connect: $OUT"
hsm_bg ch6 role changepw -name co
ctl_wait "OLD CO PIN" 5000
read_keys 3 n $NPIN 2 4 6
ctl_wait "NEW CO PIN" 5000
ped_mn 1 2
ped_write_keys y 1 2468
hsm_done ch6 20 && fail "changepw past the PED timeout succeeded: $OUT"
assert_contains "Key written 01 of 02" "$OUT"
assert_contains "Command Result : PED_TIMEOUT" "$OUT"
ctl_wait "Awaiting command" 5000
hsm_bg l19 role login -name co
ctl_wait "PED Key (BLACK)" 5000
ped_key y1 -
ctl_wait "Wrong keyset!" 5000
read_keys 3 n $NPIN 12 13 14
hsm_done l19 || fail "the old CO keyset after a PED timeout: $OUT"
ok "a PED timeout mid-roll-over: PED_TIMEOUT, the old keys still log in, the half-written key is refused"

echo "flow_ceremony: all ok"
