#!/usr/bin/env bash
# pedemu_ctl.sh - the PED emulator through its control socket: key files,
# slot, screens, modes and menus, Admin identify/duplicate/self test, wait,
# errors, unplug/plug and a clean quit. Run from the repository root.
. tests/scenario/lib.sh

start_pedemu

note "start-up: pty symlink, socket 0600, idle screen"
[ -L "$EMU_LINK" ] || fail "no link symlink"
[ -c "$(readlink "$EMU_LINK")" ] || fail "link does not point at a character device"
[ -S "$EMU_SOCK" ] || fail "no control socket"
[ "$(stat -c %a "$EMU_SOCK")" = 600 ] || fail "socket mode is not 0600"
scr=$(ctl screen)
[ "$(printf '%s\n' "$scr" | wc -l)" -eq 8 ] || fail "screen is not 8 lines: $scr"
assert_contains "Local PED mode" "$scr"
assert_contains "Awaiting command" "$scr"

note "newkey / keys / insert / remove"
ctl newkey k1
ctl newkey k2
expect_ctl_err newkey k1 >/dev/null
expect_ctl_err newkey ../evil >/dev/null
[ -f "$EMU_KEYS/k1.key" ] || fail "no key file"
[ "$(stat -c %a "$EMU_KEYS/k1.key")" = 600 ] || fail "key file mode is not 0600"
keys=$(ctl keys)
assert_contains "k1 BLANK" "$keys"
assert_contains "k2 BLANK" "$keys"
expect_ctl_err insert nosuchkey >/dev/null
expect_ctl_err remove >/dev/null
ctl insert k1
expect_ctl_err insert k2 >/dev/null
assert_contains "slot k1" "$(ctl status)"
ctl remove
assert_contains "slot -" "$(ctl status)"

note "bad commands and a long line"
expect_ctl_err bogus >/dev/null
expect_ctl_err press FOO >/dev/null
expect_ctl_err type 12a4 >/dev/null
expect_ctl_err mode turbo >/dev/null
expect_ctl_err screen extra >/dev/null
expect_ctl_err "" >/dev/null
long=$(head -c 400 /dev/zero | tr '\0' x)
expect_ctl_err "screen $long" | grep -q "too long" || fail "long line not rejected"
# the connection still works after a long line: two commands on one connection
out=$(printf 'screen %s\nscreen\n' "$long" | socat -t 10 - "UNIX-CONNECT:$EMU_SOCK")
assert_contains "ERR line too long" "$out"
[ "$(printf '%s\n' "$out" | tail -n 1)" = OK ] || fail "no answer after a long line"

note "wait: immediate, after a change, timeout"
ctl wait "Awaiting command"
ctl "wait \"Awaiting command\" 100"
expect_ctl_err "wait Nothing-like-this 200" | grep -q timeout || fail "wait did not time out"
printf 'wait Select Mode 3000\n' | socat -t 10 - "UNIX-CONNECT:$EMU_SOCK" >"$T/wsel.log" &
wpid=$!
ctl press BACK
wait "$wpid" || fail "wait client failed"
[ "$(cat "$T/wsel.log")" = OK ] || fail "wait after a change: $(cat "$T/wsel.log")"
scr=$(ctl screen)
assert_contains "Select Mode" "$scr"
assert_contains "4 Admin" "$scr"
assert_contains "7 Remote PED" "$scr"
assert_contains "0 Local PED-USB" "$scr"
assert_contains "pedemu 1.0" "$scr"
assert_contains "mode menu" "$(ctl status)"

note "main menu: remote, the RPK warning, local, admin"
ctl press 7
ctl_wait "Remote PED mode"
ctl press BACK
ctl_wait "invalidate the RPK"
ctl press NO
ctl_wait "Remote PED mode"
ctl press BACK
ctl_wait "invalidate the RPK"
ctl press YES
ctl_wait "Select Mode"
ctl press 0
ctl_wait "Local PED mode"
ctl mode admin
ctl_wait "Admin mode..."
assert_contains "mode admin" "$(ctl status)"

note "admin: self test"
ctl press 9
ctl_wait "PASSED"
ctl press ENTER
ctl_wait "Admin mode..."

note "admin: identify a blank key, then no key"
ctl press 1
ctl_wait "PED Key mode"
ctl insert k1
ctl press 3
ctl_wait "Type: BLANK"
ctl press ENTER
ctl remove
ctl press 3
ctl_wait "No PED Key inserted"
ctl press ENTER

note "log (>) shows recent actions"
ctl press BACK
ctl_wait "Admin mode..."
ctl press LOG
ctl_wait "Recent actions"
assert_contains "Self test PASSED" "$(ctl screen)"
ctl press ENTER
ctl_wait "Admin mode..."

if [ -x "$PEDLINK" ]; then
	note "a 2-of-2 blue keyset with PINs through the link ($PEDLINK)"
	ctl mode local
	ctl newkey s1
	ctl newkey s2
	ctl newkey copy
	run_bg create "$PEDLINK" -ped "$EMU_LINK" -timeout 30000 create blue -label SOkey
	ctl_wait "M value?"
	ctl type 2; ctl press ENTER
	ctl_wait "N value?"
	ctl type 2; ctl press ENTER
	ctl_wait "Insert a"
	ctl insert s1; ctl press ENTER
	ctl_wait "blank."; ctl press YES
	ctl_wait "Enter new PED PIN"
	ctl type 1234; ctl press ENTER
	ctl_wait "Confirm new PED PIN"
	ctl type 1235; ctl press ENTER
	ctl_wait "PINs do not match"
	ctl type 1234; ctl press ENTER; ctl type 1234; ctl press ENTER
	ctl_wait "Keys write: 01 of 02"
	ctl remove
	ctl insert s2; ctl press ENTER
	ctl_wait "blank."; ctl press YES
	ctl_wait "Enter new PED PIN"
	ctl press ENTER; ctl press ENTER
	ctl_wait "duplicating"
	ctl press NO
	wait_bg create || fail "create failed: $(cat "$T/create.log")"
	grep -q "result OK" "$T/create.log" || fail "create: no OK"
	assert_contains "s1 BLUE SOkey" "$(ctl keys)"
	ctl remove

	note "admin: identify and duplicate the PIN-protected key"
	ctl mode admin
	ctl press 1
	ctl insert s1
	ctl press 3
	ctl_wait "Type: BLUE"
	scr=$(ctl screen)
	assert_contains "Label: SOkey" "$scr"
	assert_contains "M/N: 2 of 2" "$scr"
	assert_contains "Keyset: " "$scr"
	ctl press ENTER
	ctl press 7
	ctl_wait "to copy."
	ctl press ENTER
	ctl_wait "Enter PED PIN"
	ctl type 1234; ctl press ENTER
	ctl_wait "reusable PED Key"
	ctl press ENTER
	ctl_wait "That is the original"
	ctl remove
	ctl insert s2; ctl press ENTER
	ctl_wait "This PED Key is for"
	ctl press NO
	ctl_wait "Insert another key"
	ctl remove
	ctl insert copy; ctl press ENTER
	ctl_wait "blank."; ctl press YES
	ctl_wait "Copy written"
	ctl press ENTER
	ctl remove
	assert_contains "copy BLUE SOkey" "$(ctl keys)"
	! cmp -s "$EMU_KEYS/s1.key" "$EMU_KEYS/copy.key" || fail "the copy is a byte copy"

	note "the copy (same PIN) and s2 log in through the link"
	ctl mode local
	run_bg read "$PEDLINK" -ped "$EMU_LINK" -timeout 30000 read blue
	ctl_wait "Insert a"
	ctl insert copy; ctl press ENTER
	ctl_wait "Enter PED PIN"; ctl type 1234; ctl press ENTER
	ctl_wait "Keys read: 01 of 02"
	ctl remove
	ctl insert s1; ctl press ENTER
	ctl_wait "Key already read"
	ctl remove
	ctl insert s2; ctl press ENTER
	wait_bg read || fail "read failed: $(cat "$T/read.log")"
	fp1=$(grep '^fingerprint' "$T/create.log")
	fp2=$(grep '^fingerprint' "$T/read.log")
	[ -n "$fp1" ] && [ "$fp1" = "$fp2" ] || fail "the copy did not give the secret back"
	ctl remove
	# no PIN reached stdout/stderr of the emulator
	! grep -q 1234 "$T/emu.err" || fail "a PIN reached the log"
else
	note "skipping link-level parts: $PEDLINK not built"
fi

note "unplug / plug"
ctl mode local
old=$(readlink "$EMU_LINK")
ctl unplug
expect_ctl_err unplug >/dev/null
assert_contains "link unplugged" "$(ctl status)"
[ ! -e "$old" ] || fail "old pty $old still exists after unplug"
ctl plug
expect_ctl_err plug >/dev/null
new=$(readlink "$EMU_LINK")
[ -c "$new" ] || fail "new link target $new is not a device"
[ "$new" != "$old" ] || fail "plug reused the old pty $old"
if [ -x "$PEDLINK" ]; then
	"$PEDLINK" -ped "$EMU_LINK" hello >"$T/hello.log" 2>&1 || fail "hello after plug failed"
	grep -q "firmware pedemu 1.0" "$T/hello.log" || fail "no HELLO_ACK after plug"
fi

note "several clients at once"
printf 'wait NeverShown 2000\n' | socat -t 10 - "UNIX-CONNECT:$EMU_SOCK" >"$T/w1.log" &
w1=$!
ctl screen >/dev/null
ctl keys >/dev/null
wait "$w1" || true
grep -q "ERR timeout" "$T/w1.log" || fail "parallel wait: $(cat "$T/w1.log")"

note "hardened like the daemons: no core file (PINs pass through it)"
grep -Eq '^Max core file size +0 +0 ' "/proc/$EMU_PID/limits" || fail "core limit: $(grep core "/proc/$EMU_PID/limits")"

note "quit removes the socket and the symlink"
stop_pedemu

note "SIGTERM exits cleanly too"
start_pedemu second -mode remote
assert_contains "Remote PED mode" "$(CTL_SOCK=$EMU_SOCK ctl screen)"
kill -TERM "$EMU_PID"
wait_exit "$EMU_PID" 10 || fail "exit status $? on SIGTERM (124: no exit)"
[ ! -e "$EMU_SOCK" ] && [ ! -L "$EMU_LINK" ] || fail "files left after SIGTERM"

echo "pedemu_ctl: all passed"
