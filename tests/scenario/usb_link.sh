#!/bin/sh
# usb_link.sh - the PED link over USB: pedemu's USB personality in a umockdev
# testbed, driven by pedlink through the libusb transport (usbped_libusb.c):
#   the PED is found by VID:PID, opened, claimed; HELLO and a key read;
#   removal mid-read -> CKR_PED_UNPLUGGED within 1 s; "no PED found" while
#     it is away; re-arrival works again;
#   two PEDs: -ped usb is refused with PED_AMBIGUOUS listing both,
#     usb:VID:PID:SERIAL selects one;
#   a PED that stalls its IN endpoint (USB_STALL), babbles (USB_OVERFLOW)
#     or stops taking transfers (USB_TIMEOUT): a named error in bounded
#     time, the link reset, the PED usable again;
#   a device node the (unprivileged) host may not open: USB_ACCESS_DENIED
#     naming the node and the udev rule that fixes it.
. "$(dirname "$0")/lib_link.sh"
. "$(dirname "$0")/lib_usb.sh"

usb_wrap pedlink "$PEDLINK"
PEDLINK=$T/pedlink
start_usbped a PEDA -mode local

note "found by VID:PID, opened, claimed: HELLO"
out=$(ll_pedlink hello) || fail "hello: $out"
assert_contains "serial PEDA" "$out"
out=$(timeout 30 "$PEDLINK" -ped usb hello) || fail "hello on -ped usb: $out"
assert_contains "serial PEDA" "$out"
ok "HELLO over USB bulk transfers (usb:$USB_ID:PEDA and the default usb)"

note "a keyset made and read over USB"
fpc=$(ll_create mk blue 2 2 b 1234)
ctl remove >/dev/null
fpr=$(ll_read_keys rd blue b1:1234 b2:1234)
[ -n "$fpc" ] && [ "$fpc" = "$fpr" ] || fail "read back $fpr, made $fpc"
ok "blue 2 of 2 created and read back over USB (fingerprint $fpr)"

note "removal in the middle of a read"
ctl remove >/dev/null || true
ll_run rd3 read blue
ll_wait_line rd3 '^event prompt: .*PED Key \(BLUE\)'
t0=$(date +%s%N)
ctl unplug >/dev/null
ll_finish rd3 5 && fail "unplugged read: exit 0"
t1=$(date +%s%N)
grep -q '^result CKR_PED_UNPLUGGED$' "$T/rd3.log" || fail "unplug: $(tail -n 3 "$T/rd3.log")"
ms=$(((t1 - t0) / 1000000))
[ "$ms" -lt 1000 ] || fail "UNPLUGGED after $ms ms"
ok "removed mid-read -> CKR_PED_UNPLUGGED after $ms ms"
out=$(ll_pedlink hello 2>&1) && fail "hello while removed: $out"
assert_contains "no PED found" "$out"
ctl plug >/dev/null
out=$(ll_pedlink hello) || fail "hello after re-arrival: $out"
ctl_wait "Awaiting command" 3000
ok "no PED found while away; HELLO again after re-arrival"

note "two PEDs of the same VID:PID"
start_usbped b PEDB -mode local
out=$(timeout 30 "$PEDLINK" -ped usb hello 2>&1) && fail "-ped usb with two PEDs: $out"
assert_contains "PED_AMBIGUOUS" "$out"
assert_contains "usb:$USB_ID:PEDA" "$out"
assert_contains "usb:$USB_ID:PEDB" "$out"
out=$(timeout 30 "$PEDLINK" -ped "usb:$USB_ID:PEDB" hello) || fail "select PEDB: $out"
assert_contains "serial PEDB" "$out"
out=$(timeout 30 "$PEDLINK" -ped "usb:$USB_ID:PEDX" hello 2>&1) && fail "PEDX: $out"
assert_contains "no PED found" "$out"
CTL_SOCK=$EMU_b_SOCK ctl quit >/dev/null
wait_exit "$EMU_b_PID" 10 || fail "pedemu b did not exit"
EMU_LINK=$EMU_a_LINK EMU_SOCK=$EMU_a_SOCK
ok "PED_AMBIGUOUS lists both; the serial selects PEDB; an unknown serial: no PED found"

# fault NAME ERROR: the PED misbehaves during a read; pedlink gets ERROR
fault() {
	ll_run "f$1" read blue
	ll_wait_line "f$1" '^event prompt: .*PED Key \(BLUE\)'
	t0=$(date +%s%N)
	ctl usbfault "$1" >/dev/null
	ll_finish "f$1" 5 && fail "$1: exit 0"
	t1=$(date +%s%N)
	grep -q "^result $2\$" "$T/f$1.log" || fail "$1: $(tail -n 3 "$T/f$1.log")"
	echo "$(((t1 - t0) / 1000000))"
}
note "a PED that stalls its IN endpoint, or babbles"
ms=$(fault stall USB_STALL)
ctl_wait "Awaiting command" 3000
out=$(ll_pedlink hello) || fail "hello after the stall: $out"
ok "stall -> USB_STALL after $ms ms; the halt cleared, HELLO works"
ms=$(fault babble USB_OVERFLOW)
ctl_wait "Awaiting command" 3000
out=$(ll_pedlink hello) || fail "hello after babble: $out"
ok "babble -> USB_OVERFLOW after $ms ms; HELLO works"

note "a PED that stops taking transfers"
ctl usbfault mute >/dev/null
t0=$(date +%s%N)
out=$(ll_pedlink hello 2>&1) && fail "hello to a mute PED: $out"
t1=$(date +%s%N)
assert_contains "USB_TIMEOUT" "$out"
ms=$(((t1 - t0) / 1000000))
[ "$ms" -lt 5000 ] || fail "USB_TIMEOUT after $ms ms"
ctl usbfault none >/dev/null
out=$(ll_pedlink hello) || fail "hello after mute: $out"
ok "mute -> USB_TIMEOUT after $ms ms; answering again, HELLO works"

note "permission denied on the device node"
# pedserver runs unprivileged: a node it may not open names itself and the fix
[ "$(id -u)" -eq 0 ] || fail "this scenario runs as root (it drops to nobody here)"
command -v setpriv >/dev/null || fail "setpriv (util-linux) is needed"
chmod 755 "$T" "$PEDLINK"
chmod -R a+rX "$BED"
chmod 777 "$BED" # the preload library makes (and replaces) its uevent sockets there
node=$(cd "$BED" && find dev/bus/usb -type f | head -n 1)
[ -n "$node" ] || fail "no device node in the testbed"
chmod 600 "$BED/$node"
# umockdev's socket that stands in for the kernel's usbfs must stay reachable
find "$BED/ioctl" -type s -exec chmod 666 {} +
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups timeout 30 "$PEDLINK" -ped "$EMU_LINK" \
	hello 2>&1) && fail "hello without permission: $out"
assert_contains "USB_ACCESS_DENIED" "$out"
assert_contains "permission denied on /$node" "$out"
assert_contains 'ATTRS{idVendor}=="1209", ATTRS{idProduct}=="0001"' "$out"
chmod 666 "$BED/$node"
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups timeout 30 "$PEDLINK" -ped "$EMU_LINK" \
	hello 2>&1) || fail "hello with the node opened up: $out"
ok "permission denied: USB_ACCESS_DENIED naming /$node and the udev rule; with access, HELLO works"

CTL_SOCK=$EMU_a_SOCK ctl quit >/dev/null
wait_exit "$EMU_a_PID" 10 || fail "pedemu a did not exit"
[ -z "$(find "$BED/dev" "$BED/sys/devices" -mindepth 1 ! -type d 2>/dev/null)" ] || fail "device left in the testbed: $(find "$BED/dev" "$BED/sys/devices" ! -type d)"
echo "usb_link: all ok"
