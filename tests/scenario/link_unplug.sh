#!/bin/sh
# link_unplug.sh - the PED unplugged in the middle of a read: the host sees
# CKR_PED_UNPLUGGED within a second; plugged in again, a new HELLO works.
# Also: a USB PED that is not there is reported cleanly.
. "$(dirname "$0")/lib_link.sh"

start_pedemu -mode local

ll_run rd read blue
ll_wait_line rd '^event prompt: .*PED Key \(BLUE\)'
t0=$(date +%s%N)
ctl unplug >/dev/null
ll_finish rd 5 && fail "unplugged read: exit 0"
t1=$(date +%s%N)
grep -q '^result CKR_PED_UNPLUGGED$' "$T/rd.log" || fail "unplug: $(tail -n 1 "$T/rd.log")"
ms=$(((t1 - t0) / 1000000))
[ "$ms" -lt 1000 ] || fail "UNPLUGGED after $ms ms"
ok "unplugged mid-read -> CKR_PED_UNPLUGGED after $ms ms"

out=$(ll_pedlink hello 2>&1) && fail "hello while unplugged: $out"
assert_contains "no PED found" "$out"
ctl plug >/dev/null
out=$(ll_pedlink hello) || fail "hello after plug: $out"
assert_contains "result OK" "$out"
ctl_wait "Awaiting command" 3000
ok "plugged in again, hello works"

out=$(timeout 10 "$PEDLINK" -ped usb hello 2>&1) && fail "usb: exit 0"
assert_contains "no PED found" "$out"
out=$(timeout 10 "$PEDLINK" -ped usb:1234:5678 hello 2>&1) && fail "usb:1234:5678: exit 0"
assert_contains "no PED found" "$out"
out=$(timeout 10 "$PEDLINK" -ped usb:zz:1 hello 2>&1) && fail "usb:zz:1: exit 0"
assert_contains "INVALID_ARGUMENT" "$out"
ok "no USB PED here: 'no PED found'; a bad usb spec is refused"
