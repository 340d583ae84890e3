#!/bin/sh
# client.sh - the HSM side on Windows (make wintest): pedclient.exe and the
# pedhsm.exe console under wine, a Linux pedserver and two Linux pedemus on
# TCP links. pedclient.exe initializes the RPV with its Local PED (a TCP
# link: Windows has no pty), then the orange key opens a Remote PED session
# through the Linux pedserver, and hsm init and an SO login run through it;
# pedhsm.exe reaches pedclient.exe over the state dir's named pipe, show is
# read from both worlds, and -mode stop ends it cleanly.
# Needs BUILD (Linux build) and WIN_BUILD (make windows), wine on PATH and
# WINEPREFIX (scripts/wine-run.sh sets it up).
. tests/scenario/lib.sh

WIN_BUILD=${WIN_BUILD:-build-win}
PCX="$WIN_BUILD/pedclient.exe"
PHX="$WIN_BUILD/pedhsm.exe"
[ -x "$PCX" ] && [ -x "$PHX" ] || fail "$PCX or $PHX not built (make windows)"
# lib_client.sh's pedhsm helpers run pedhsm.exe under wine
PH="$T/pedhsm-wine"
printf '#!/bin/sh\nexec wine "%s" "$@"\n' "$(pwd)/$PHX" >"$PH"
chmod +x "$PH"
. tests/scenario/lib_client.sh
ok() { echo "ok: $*"; }
# the Windows programs see the Linux file system as drive Z:
winpath() { echo "Z:$1"; }
pcx() {
	RC=0
	OUT=$(timeout 60 wine "$PCX" "$@" 2>&1) || RC=$?
	OUT=$(printf '%s' "$OUT" | tr -d '\r')
}

LLP=$(free_port)
start_pedemu local -mode local -link "tcp:127.0.0.1:$LLP"
LP=$(free_port)
start_pedemu far -mode remote -link "tcp:127.0.0.1:$LP"
SPORT=$(free_port)
run_bg srv "$PS" -mode start -foreground -hsmpolicy any -statedir "$T/srv" -port "$SPORT" -admin "$(free_port)" \
	-ped "tcp:127.0.0.1:$LP"
wait_line srv "PED connected on tcp:127.0.0.1:$LP" 20

A="$T/hsma"
PCA=$(free_port)
run_bg pc timeout 300 wine "$PCX" -mode start -foreground -statedir "$(winpath "$A")" \
	-admin "$PCA" -localped "tcp:127.0.0.1:$LLP"
wait_line pc 'info: ready \(pid [0-9]+\)' 60
PC_DIR=$(winpath "$A")
ok "pedclient.exe under wine: ready, its Local PED on a TCP link"

note "pedhsm.exe reaches pedclient.exe through the state dir's named pipe"
hsm_run slot list
[ "$RC" -eq 0 ] || fail "slot list: $OUT"
SA=$(printf '%s' "$OUT" | tr -d '\r' | sed -n 's/^Slot 0: serial \([0-9]*\),.*/\1/p')
[ -n "$SA" ] || fail "no slot 0: $OUT"
RC=0
OUT=$("$BUILD/pedhsm" -statedir "$A" slot list 2>&1) || RC=$?
[ "$RC" -ne 0 ] || fail "a Linux pedhsm reached the Windows pedclient: $OUT"
RC=0
OUT=$("$PC" -mode show -statedir "$A" 2>&1) || RC=$?
[ "$RC" -eq 0 ] || fail "Linux show of pedclient.exe: $OUT"
ok "slot 0 is HSM $SA; Linux pedclient -mode show reads pedclient.exe"

note "ped vector init with the Local PED (TCP link)"
OPIN=13579
make_rpv oa local
assert_contains "Command Result : No Error" "$OUT"
ok "RPV initialized"

note "ped connect: the orange key on the PED behind the Linux pedserver"
export CTL_SOCK=$EMU_far_SOCK
ped_connect oa1 "$SPORT" 10000
RC=0
OUT=$("$PS" -mode show -statedir "$T/srv" 2>&1) || RC=$?
assert_contains "$SA" "$OUT"
ok "session open across the worlds; the Linux pedserver lists HSM $SA"

note "hsm init and an SO login through the session"
hsm_init_login WIN-CLIENT 24680
hsm_run ped disconnect
[ "$RC" -eq 0 ] || fail "ped disconnect: $OUT"
ok "hsm init and SO login from pedhsm.exe through pedclient.exe"

note "pedclient.exe -mode stop: a clean exit, nothing left behind"
pcx -mode stop -statedir "$(winpath "$A")"
[ "$RC" -eq 0 ] || fail "stop: $OUT"
assert_contains "pedclient stopped" "$OUT"
wait_bg pc 30 || fail "pedclient.exe exit status $?"
grep -q "pedclient exiting with status 0" "$T/pc.log" || fail "no clean exit in the log"
assert_no_runtime "$A"
ok "stopped cleanly"
echo "client: ok"
