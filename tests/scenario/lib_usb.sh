# lib_usb.sh - helpers for the USB PED scenarios (tests/scenario/usb_*.sh):
# pedemu's USB personality presents the PED in a umockdev testbed ($BED);
# the host side (pedlink, pedserver) runs with umockdev's preload library
# and UMOCKDEV_DIR=$BED, so libusb finds, opens and drives the emulated
# device through the usbdevfs ioctls exactly as it would a real one.
# Source it after lib.sh (and lib_link.sh / lib_client.sh when needed).
#
#   BED                          the shared testbed directory ($T/bed)
#   USB_ID                       the PED identity the emulators present (default)
#   usb_env CMD...               run CMD inside the testbed
#   start_usbped NAME SERIAL [pedemu options]   an emulated USB PED; sets
#                                EMU_LINK to usb:VID:PID:SERIAL (and EMU_<NAME>_LINK)
#   usb_wrap NAME BINARY         a script $T/NAME that runs BINARY in the testbed
BED=$T/bed
USB_ID=1209:0001
USB_PRELOAD=libumockdev-preload.so.0
mkdir -p "$BED"
ldconfig -p | grep -q "$USB_PRELOAD" || fail "$USB_PRELOAD missing (scripts/deps.sh installs umockdev)"

usb_env() {
	UMOCKDEV_DIR=$BED LD_PRELOAD=${LD_PRELOAD:+$LD_PRELOAD:}$USB_PRELOAD \
		ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 "$@"
}

start_usbped() {
	local name=$1 serial=$2
	shift 2
	start_pedemu "$name" -link "usb:$USB_ID:$serial" -usbbed "$BED" "$@"
	EMU_LINK="usb:$USB_ID:$serial"
	eval "EMU_${name}_LINK=\$EMU_LINK"
}

usb_wrap() {
	printf '#!/bin/sh\nUMOCKDEV_DIR=%s LD_PRELOAD=${LD_PRELOAD:+$LD_PRELOAD:}%s ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 exec %s "$@"\n' \
		"$BED" "$USB_PRELOAD" "$(readlink -f "$2")" >"$T/$1"
	chmod +x "$T/$1"
}
