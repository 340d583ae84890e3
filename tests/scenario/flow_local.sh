#!/bin/sh
# flow_local.sh - the HSM flows with the Local PED (pedclient -localped on
# pedemu's link), driven through pedhsm and the emulator's control socket:
#   ped vector init: a new orange keyset 2-of-3 with PINs (slot 0), and the
#     same orange key reused for a second slot (slot 1);
#   hsm init -label: blue SO keyset 2-of-3 with PINs and a duplicate set,
#     red domain 1-of-1;
#   role login -name so with 2 of the 3 keys, with a duplicate, a wrong PIN
#     on one key (CKR_PIN_INCORRECT after both keys, attempts left shown),
#     the same key twice (not counted);
#   partition init, role init -name co, role login -name co, role logout;
#   PED_BUSY for a second PED command on a slot; a console that hangs up
#   cancels its PED operation and leaves the old state; no PED at all:
#   CKR_PED_UNPLUGGED "no PED: use ped connect"; the interactive shell.
# Every wait is on an event (LCD text, an output line, a process exit).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_client.sh"

[ -x "$PH" ] || fail "$PH not built (make BUILD=$BUILD $PH)"
ok() { echo "ok: $*"; }

start_pedemu -mode local
start_pc hsm -localped "$EMU_LINK" -slots 2
HSMDIR=$PC_DIR
[ "$(stat -c %a "$PC_DIR/hsm.sock")" = 600 ] || fail "hsm.sock not 0600"
[ "$(stat -c %a "$PC_DIR/slot0.hsm")" = 600 ] || fail "slot0.hsm not 0600"

hsm_run slot list
[ "$RC" -eq 0 ] || fail "slot list: $OUT"
S0=$(sed -n 's/^Slot 0: serial \([0-9]*\),.*/\1/p' <<<"$OUT")
S1=$(sed -n 's/^Slot 1: serial \([0-9]*\),.*/\1/p' <<<"$OUT")
[ "${#S0}" -eq 10 ] && [ "${#S1}" -eq 10 ] && [ "$S0" != "$S1" ] || fail "serials: $OUT"
pcs -mode show -statedir "$PC_DIR" -json
[ "$(jq -r '.slots[0].serial' <<<"$OUT")" = "$S0" ] || fail "show and slot list disagree: $OUT"
assert_contains "Command Result : No Error" "$(cat <<<"$(timeout 10 "$PH" -statedir "$PC_DIR" hsm show)")"
ok "two slots; the serial shown everywhere is the software HSM's"

note "ped vector init, slot 0: a new orange keyset 2 of 3 with PINs"
OPIN=13579
hsm_bg vi0 ped vector init
ctl_wait "reuse an existing" 5000
hsm_line vi0 '^Please attend to the PED\.$'
ctl press NO >/dev/null
ctl_wait "M value?" 5000
ctl type 2 >/dev/null
ctl press ENTER >/dev/null
ctl_wait "N value?" 5000
ctl type 3 >/dev/null
ctl press ENTER >/dev/null
ped_write_keys o 3 $OPIN
ctl_wait "duplicating" 5000
ctl press NO >/dev/null
hsm_done vi0 || fail "vector init: $OUT"
assert_contains "PED: Local PED mode | SETTING RPV..." "$OUT"
assert_contains "Key written 03 of 03" "$OUT"
assert_contains "Command Result : No Error" "$OUT"
assert_not_contains "$OPIN" "$OUT"
[ "$(ctl keys | grep -c '^o[123] ORANGE')" = 3 ] || fail "orange keys: $(ctl keys)"
hsm_run hsm show
assert_contains "RPV Initialized:    yes" "$OUT"
ok "orange keyset 2 of 3 written, RPV committed"

note "ped vector init, slot 1: reuse the orange key"
hsm_bg vi1 -slot 1 ped vector init
ctl_wait "reuse an existing" 5000
ctl press YES >/dev/null
ctl_wait "PED Key (ORANGE)" 5000
ped_key o1 $OPIN
ctl_wait "Keys read: 01 of 02" 5000
ped_key o3 $OPIN
ctl_wait "duplicating" 5000
ctl press NO >/dev/null
hsm_done vi1 || fail "vector init (reuse): $OUT"
assert_contains "Reusing an existing 2 of 3 keyset." "$OUT"
assert_contains "Keys read 01 of 02" "$OUT"
hsm_run -slot 1 hsm show
assert_contains "RPV Initialized:    yes" "$OUT"
ok "the same orange key initializes the RPV of a second slot"

note "no RPV change without confirmed writes: a console that hangs up cancels"
before=$(sha256sum "$HSMDIR/slot1.hsm")
hsm_bg gone -slot 1 ped vector init
ctl_wait "CURRENT RPV" 5000 # slot 1 has an RPV: a rotation reads the current orange key first
kill "$_lib_bg_gone"
ctl_wait "Awaiting command" 5000
wait_bg gone 10 || true
[ "$(sha256sum "$HSMDIR/slot1.hsm")" = "$before" ] || fail "state changed by a cancelled init"
ok "cancelled from the console: the PED is free again, the state unchanged"

note "hsm init -label: blue SO 2 of 3 with PINs and a duplicate set, red domain 1 of 1"
SOPIN=24680
DPIN=11223
hsm_bg hi hsm init -label HSM-ZERO
ctl_wait "SETTING SO PIN" 5000
ped_mn 2 3
ped_write_keys b 3 $SOPIN
ctl_wait "duplicating" 5000
ctl press YES >/dev/null
ped_write_keys bd 3 $SOPIN
ctl_wait "make another" 5000
ctl press NO >/dev/null
ctl_wait "SETTING DOMAIN" 5000
ped_mn 1 1
ped_write_keys r 1 $DPIN
ctl_wait "duplicating" 5000
ctl press NO >/dev/null
hsm_done hi || fail "hsm init: $OUT"
assert_contains "HSM initialized with label 'HSM-ZERO'." "$OUT"
[ "$(grep -c '^Please attend to the PED\.$' <<<"$OUT")" = 1 ] || fail "attend: $OUT"
[ "$(grep -c 'Key written' <<<"$OUT")" = 7 ] || fail "7 keys written: $OUT"
hsm_run hsm show
assert_contains "HSM Label:          HSM-ZERO" "$OUT"
assert_contains "SO       2 of 3 keyset, failed logins 0 of 3" "$OUT"
assert_contains "DOMAIN   1 of 1 keyset" "$OUT"
assert_not_contains "logged in" "$OUT"
ok "hsm init: SO 2 of 3 (+ duplicate set), domain 1 of 1"

note "role login -name so: 2 of the 3 keys"
hsm_bg l1 role login -name so
ctl_wait "SO LOGIN" 5000
ctl_wait "PED Key (BLUE)" 5000
ped_key b1 $SOPIN
ctl_wait "Keys read: 01 of 02" 5000
ped_key b3 $SOPIN
hsm_done l1 || fail "SO login: $OUT"
assert_contains "Please attend to the PED." "$OUT"
assert_contains "HSM Security Officer logged in." "$OUT"
hsm_run role logout
[ "$RC" -eq 0 ] || fail "logout: $OUT"
ok "SO login with keys 1 and 3"

note "a wrong PIN on one key: CKR_PIN_INCORRECT after both keys"
hsm_bg l2 role login -name so
ctl_wait "PED Key (BLUE)" 5000
ped_key b2 $SOPIN
ctl_wait "Keys read: 01 of 02" 5000
ped_key bd3 99999
hsm_done l2 && fail "a wrong PIN logged in: $OUT"
assert_contains "Keys read 01 of 02" "$OUT"
assert_contains "Command Result : CKR_PIN_INCORRECT (wrong PIN or wrong PED key; 2 login attempts left" "$OUT"
hsm_run hsm show
assert_contains "SO       2 of 3 keyset, failed logins 1 of 3" "$OUT"
ok "wrong PIN detected after the M-th key; 2 attempts left"

note "the same key twice is not counted; a duplicate key works"
hsm_bg l3 role login -name so
ctl_wait "PED Key (BLUE)" 5000
ped_key bd2 $SOPIN
ctl_wait "Keys read: 01 of 02" 5000
ped_key bd2 - # refused before its PIN is asked for
ctl_wait "Key already read!" 5000
ped_key b1 $SOPIN
hsm_done l3 || fail "SO login after a repeated key: $OUT"
assert_contains "HSM Security Officer logged in." "$OUT"
[ "$(grep -c 'PED: Keys read [0-9]' <<<"$OUT")" = 2 ] || fail "keys counted: $OUT"
assert_contains "PED: Keys read 02 of 02" "$OUT"
hsm_run hsm show
assert_contains "failed logins 0 of 3, logged in" "$OUT"
ok "a key presented twice counted once; duplicate + original log in; counter reset"

note "one PED command per slot at a time"
hsm_bg pi partition init -label PART-A
ctl_wait "SETTING PO PIN" 5000
hsm_run role login -name so
[ "$RC" -eq 1 ] || fail "second PED command: $OUT"
assert_contains "Command Result : PED_BUSY" "$OUT"
ok "PED_BUSY for a second PED command on the slot"

note "partition init: blue PO 1 of 1, red partition domain 1 of 1 (no PINs)"
ped_mn 1 1
ped_write_keys po 1 -
ctl_wait "duplicating" 5000
ctl press NO >/dev/null
ctl_wait "SETTING PAR DOMAIN" 5000
ped_mn 1 1
ped_write_keys pr 1 -
ctl_wait "duplicating" 5000
ctl press NO >/dev/null
hsm_done pi || fail "partition init: $OUT"
assert_contains "Partition initialized with label 'PART-A'." "$OUT"
ok "partition init"

note "role init -name co: black 1 of 1 with a PIN; role login -name co; role logout"
COPIN=5555
hsm_bg ci role init -name co
ctl_wait "SETTING CO PIN" 5000
ped_mn 1 1
ped_write_keys k 1 $COPIN
ctl_wait "duplicating" 5000
ctl press NO >/dev/null
hsm_done ci || fail "role init co: $OUT"
assert_contains "Crypto Officer initialized." "$OUT"
hsm_bg lc role login -name co
ctl_wait "CO LOGIN" 5000
ctl_wait "PED Key (BLACK)" 5000
ped_key k1 $COPIN
hsm_done lc || fail "CO login: $OUT"
assert_contains "Crypto Officer logged in." "$OUT"
hsm_run hsm show
assert_contains "CO       1 of 1 keyset, failed logins 0 of 10, logged in" "$OUT"
hsm_run role logout
assert_contains "All roles logged out." "$OUT"
hsm_run hsm show
assert_not_contains "logged in" "$OUT"
ok "CO initialized, logged in, logged out"

note "the interactive shell (stdin not a terminal)"
OUT=$(printf 'hsm show\n\nslot list\nfrobnicate\nexit\nhsm show\n' | timeout 20 "$PH" -statedir "$PC_DIR") || true
assert_contains "pedhsm:> hsm show" "$OUT"
assert_contains "HSM Label:          HSM-ZERO" "$OUT"
assert_contains "Slot 1: serial $S1" "$OUT"
assert_contains "Command Result : BAD_REQUEST (unknown command" "$OUT"
[ "$(grep -c 'HSM Label' <<<"$OUT")" = 1 ] || fail "exit did not end the shell: $OUT"
ok "shell: prompt, commands, exit"

note "the state survives a restart of pedclient"
pc -mode stop -statedir "$PC_DIR"
[ "$RC" -eq 0 ] || fail "stop: $OUT"
[ ! -e "$PC_DIR/hsm.sock" ] || fail "hsm.sock left behind"
start_pc hsm -localped "$EMU_LINK" -slots 2
hsm_run hsm show
assert_contains "Serial Number:      $S0" "$OUT"
assert_contains "PART-A" "$OUT"
ok "restart: same serial, same state"

note "no PED at all: CKR_PED_UNPLUGGED"
start_pc nolocal
hsm_run ped vector init
[ "$RC" -eq 1 ] || fail "vector init without a PED: $OUT"
assert_contains "Please attend to the PED." "$OUT"
assert_contains "Command Result : CKR_PED_UNPLUGGED (no PED: use ped connect)" "$OUT"
hsm_run ped connect -password -ip 127.0.0.1 -port "$(free_port)"
assert_contains "Command Result : IO_ERROR (cannot connect to 127.0.0.1:" "$OUT"
assert_not_contains "enter the following password" "$OUT" # shown only once a server answers
hsm_run -slot 5 hsm show
assert_contains "Command Result : NOT_FOUND (no slot 5" "$OUT"
ok "no PED: the reference's hint; -password without a server; a missing slot"

echo "flow_local: all ok"
