#!/bin/sh
# usb_flow.sh - the Remote PED ceremony with the PED on USB: pedserver
# -ped usb:VID:PID drives pedemu's USB personality (a umockdev testbed)
# through libusb:
#   pedserver starts before any PED is attached; the PED plugged in later is
#     opened within 1 s through libusb hot-plug (no polling timer);
#   ped connect with the orange key; hsm init (SO 2 of 3 with PINs, domain);
#     role login -name so with two of the blue keys;
#   the PED removed in the middle of a login: CKR_PED_UNPLUGGED at the HSM
#     within 1 s; plugged in again: pedserver takes it back by itself, and
#     the login completes without restarting anything;
#   a second PED of the same VID:PID: pedserver -ped usb refuses to start
#     (PED_AMBIGUOUS) and its log lists both; usb:VID:PID:SERIAL selects one;
#   a second pedserver on a PED the first one holds: PED_IN_USE.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_client.sh"
. "$(dirname "$0")/lib_usb.sh"

[ -x "$PH" ] || fail "$PH not built (make BUILD=$BUILD $PH)"
[ -x "$PS" ] || fail "$PS not built (make BUILD=$BUILD $PS)"
ok() { echo "ok: $*"; }
# log_line FILE N REGEX: until a line after the first N of FILE matches
log_line() {
	timeout 10 sh -c 'tail -n +"$2" -f "$1" | grep -q -m 1 -E -- "$3"' _ \
		"$1" "$(($2 + 1))" "$3" || fail "no line /$3/ in $1: $(tail -n 3 "$1")"
}
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

OPIN=13579
SOPIN=24680
start_pedemu local -mode local
start_pc hsma -localped "$EMU_local_LINK"
export CTL_SOCK=$EMU_local_SOCK
hsm_bg rpv ped vector init
ped_mn 1 1
ped_write_keys o 1 $OPIN
ctl_wait "duplicating" 5000
ctl press NO >/dev/null
hsm_done rpv || fail "vector init: $OUT"
ok "RPV made on the Local PED"

note "pedserver -ped usb:$USB_ID before any PED is attached"
SPORT=$(free_port)
RC=0
OUT=$(usb_env "$PS" -mode start -hsmpolicy any -statedir "$T/srv" -port "$SPORT" -admin "$(free_port)" \
	-ped "usb:$USB_ID" 2>&1) || RC=$?
[ "$RC" -eq 0 ] || fail "pedserver start: $OUT"
grep -q "it is opened when it is plugged in" "$T/srv/pedserver.log" ||
	fail "no hot-plug watch: $(tail -n 3 "$T/srv/pedserver.log")"
n=$(wc -l <"$T/srv/pedserver.log")
t0=$(date +%s%N)
start_usbped far FAR1 -mode remote
log_line "$T/srv/pedserver.log" "$n" "PED connected on"
ms=$(ms_since "$t0")
[ "$ms" -lt 1000 ] || fail "PED picked up after $ms ms"
ok "the PED plugged in after start is up in pedserver after $ms ms (hot-plug)"

cp "$T/local.keys/o1.key" "$T/far.keys/o1.key"
export CTL_SOCK=$EMU_far_SOCK
note "ped connect with the orange key on the USB PED"
ped_connect o1 "$SPORT"
ok "session open through the USB PED"

note "hsm init and an M-of-N login with PINs over USB"
hsm_bg hi hsm init -label USB-HSM
ped_hsm_init 2 3 b $SOPIN r
hsm_done hi || fail "hsm init: $OUT"
assert_contains "HSM initialized with label 'USB-HSM'." "$OUT"
hsm_bg l1 role login -name so
ctl_wait "PED Key (BLUE)" 5000
ped_key b1 $SOPIN
ctl_wait "Keys read: 01 of 02" 5000
ped_key b3 $SOPIN
hsm_done l1 || fail "SO login: $OUT"
assert_contains "HSM Security Officer logged in." "$OUT"
hsm_run role logout
ok "hsm init (SO 2 of 3, domain 1 of 1) and SO login 2 of 3 over USB"

note "the PED removed in the middle of a login"
hsm_bg l2 role login -name so
ctl_wait "PED Key (BLUE)" 5000
n=$(wc -l <"$T/srv/pedserver.log")
t0=$(date +%s%N)
ctl unplug >/dev/null
hsm_done l2 10 && fail "login with the PED removed: $OUT"
ms=$(ms_since "$t0")
assert_contains "CKR_PED_UNPLUGGED" "$OUT"
[ "$ms" -lt 1000 ] || fail "CKR_PED_UNPLUGGED after $ms ms"
log_line "$T/srv/pedserver.log" "$n" "PED .*disconnected"
ok "removal mid-login: CKR_PED_UNPLUGGED at the HSM after $ms ms"
n=$(wc -l <"$T/srv/pedserver.log")
t0=$(date +%s%N)
ctl plug >/dev/null
log_line "$T/srv/pedserver.log" "$n" "PED connected on"
ms=$(ms_since "$t0")
[ "$ms" -lt 1000 ] || fail "PED back after $ms ms"
hsm_run ped show
if ! grep -q "Session: *open" <<<"$OUT"; then
	# the PED forgot the orange key when it lost power: present it again
	hsm_bg c2 ped connect -ip 127.0.0.1 -port "$SPORT"
	ctl_wait "PED Key (ORANGE)" 5000
	ped_key o1 $OPIN
	hsm_done c2 || fail "reconnect: $OUT"
fi
hsm_bg l3 role login -name so
ctl_wait "PED Key (BLUE)" 5000
ped_key b2 $SOPIN
ctl_wait "Keys read: 01 of 02" 5000
ped_key b1 $SOPIN
hsm_done l3 || fail "login after re-arrival: $OUT"
assert_contains "HSM Security Officer logged in." "$OUT"
ok "re-arrival taken back after $ms ms; the login completes, nothing restarted"

note "two PEDs of the same VID:PID"
start_usbped second FAR2 -mode remote
RC=0
OUT=$(usb_env "$PS" -mode start -hsmpolicy any -statedir "$T/srv2" -port "$(free_port)" -admin "$(free_port)" \
	-ped "usb:$USB_ID" 2>&1) || RC=$?
[ "$RC" -ne 0 ] || fail "pedserver started with two PEDs and no serial: $OUT"
assert_contains "PED_AMBIGUOUS" "$OUT"
grep -q "usb:$USB_ID:FAR1 at /dev/bus/usb/.*usb:$USB_ID:FAR2 at /dev/bus/usb/\|usb:$USB_ID:FAR2 at /dev/bus/usb/.*usb:$USB_ID:FAR1 at /dev/bus/usb/" \
	"$T/srv2/pedserver.log" || fail "the error does not list both: $(tail -n 3 "$T/srv2/pedserver.log")"
n=0
RC=0
OUT=$(usb_env "$PS" -mode start -hsmpolicy any -statedir "$T/srv3" -port "$(free_port)" -admin "$(free_port)" \
	-ped "usb:$USB_ID:FAR2" 2>&1) || RC=$?
[ "$RC" -eq 0 ] || fail "pedserver -ped usb:$USB_ID:FAR2: $OUT"
log_line "$T/srv3/pedserver.log" 0 "PED connected on"
grep -q "serial FAR2" "$T/srv3/pedserver.log" || fail "not FAR2: $(grep PED "$T/srv3/pedserver.log")"
"$PS" -mode stop -statedir "$T/srv3" >/dev/null
ok "-ped usb with two PEDs: start fails with PED_AMBIGUOUS, the log lists both; usb:$USB_ID:FAR2 opens FAR2"

note "one owner per PED: a second pedserver on the PED the first one holds"
RC=0
OUT=$(usb_env "$PS" -mode start -hsmpolicy any -statedir "$T/srv4" -port "$(free_port)" -admin "$(free_port)" \
	-ped "usb:$USB_ID:FAR1" 2>&1) || RC=$?
[ "$RC" -eq 0 ] || fail "second pedserver start: $OUT"
grep -q "the PED /dev/bus/usb/.* is held by another program.*PED_IN_USE" "$T/srv4/pedserver.log" ||
	fail "no PED_IN_USE: $(tail -n 3 "$T/srv4/pedserver.log")"
"$PS" -mode stop -statedir "$T/srv4" >/dev/null
hsm_run ped show
assert_contains "Session:            open" "$OUT"
ok "a second pedserver on FAR1: PED_IN_USE; the first keeps its session"

"$PS" -mode stop -statedir "$T/srv" >/dev/null || fail "pedserver stop"
echo "usb_flow: all ok"
