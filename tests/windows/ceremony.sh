#!/bin/sh
# ceremony.sh - the two worlds in one ceremony (make wintest): a Linux
# pedemu listening on a TCP link <-> pedserver.exe under wine <-> Linux
# pedclient + pedhsm. The orange key opens the session, hsm init and an SO
# login run through it; Linux pedserver and pedserver.exe both read the
# Windows daemon's show through its admin port and token; a second instance
# and bad input are refused as on Linux (same messages, same exit codes);
# -mode stop ends it cleanly with no runtime file left.
# Needs BUILD (Linux build) and WIN_BUILD (make windows), wine on PATH and
# WINEPREFIX (scripts/wine-run.sh sets it up).
. tests/scenario/lib.sh
. tests/scenario/lib_client.sh

WIN_BUILD=${WIN_BUILD:-build-win}
PSX="$WIN_BUILD/pedserver.exe"
[ -x "$PSX" ] || fail "$PSX not built (make windows)"
[ -x "$PH" ] || fail "$PH not built (make BUILD=$BUILD)"
ok() { echo "ok: $*"; }
# pedserver.exe sees the Linux file system as drive Z:
winpath() { echo "Z:$1"; }
psx() {
	RC=0
	OUT=$(timeout 60 wine "$PSX" "$@" 2>&1) || RC=$?
	OUT=$(printf '%s' "$OUT" | tr -d '\r')
}

start_pedemu local -mode local
LP=$(free_port)
start_pedemu far -mode remote -link "tcp:127.0.0.1:$LP"

OPIN=13579
start_pc hsma -localped "$EMU_local_LINK"
A=$PC_DIR
make_rpv oa local
SA=$(timeout 10 "$PH" -statedir "$A" slot list | sed -n 's/^Slot 0: serial \([0-9]*\),.*/\1/p')
ok "HSM A (Linux pedclient): RPV initialized with its Local PED"

SPORT=$(free_port)
APORT=$(free_port)
SRV=$(winpath "$T/srv")
run_bg srv timeout 300 wine "$PSX" -mode start -foreground -hsmpolicy any -statedir "$SRV" -port "$SPORT" \
	-admin "$APORT" -ped "tcp:127.0.0.1:$LP"
wait_line srv 'info: ready \(pid [0-9]+\)' 60
wait_line srv "PED connected on tcp:127.0.0.1:$LP" 20
ok "pedserver.exe under wine: ready, PED connected over the TCP link"

note "the Windows daemon's state dir is private; its show is read from both worlds"
RC=0
OUT=$("$PS" -mode show -statedir "$T/srv" 2>&1) || RC=$?
[ "$RC" -eq 0 ] || fail "Linux show of the Windows daemon: $OUT"
assert_contains "Ped2 Connection Status:    Connected" "$OUT"
assert_contains "PED Device:" "$OUT"
assert_contains "tcp:127.0.0.1:$LP" "$OUT"
psx -mode show -statedir "$SRV"
[ "$RC" -eq 0 ] || fail "pedserver.exe show: $OUT"
assert_contains "Ped2 Connection Status:    Connected" "$OUT"

note "a second instance is refused, naming the first"
psx -mode start -foreground -statedir "$SRV" -port "$(free_port)" -admin "$(free_port)" \
	-ped "tcp:127.0.0.1:$LP"
[ "$RC" -eq 1 ] || fail "second instance: exit $RC: $OUT"
assert_contains "already running (pid " "$OUT"
assert_contains "admin port $APORT)" "$OUT"

note "bad input: the same named errors and exit codes as on Linux"
for spec in tcp:localhost:1 tcp:127.0.0.1:0 usb:zz:1; do
	psx -mode start -foreground -statedir "$(winpath "$T/bad")" -port "$(free_port)" \
		-admin "$(free_port)" -ped "$spec"
	wrc=$RC wout=$OUT
	RC=0
	OUT=$("$PS" -mode start -foreground -statedir "$T/badl" -port "$(free_port)" \
		-admin "$(free_port)" -ped "$spec" 2>&1) || RC=$?
	[ "$wrc" -eq "$RC" ] || fail "-ped $spec: exit $wrc on Windows, $RC on Linux"
	assert_contains "-ped $spec: invalid argument" "$wout"
	assert_contains "-ped $spec: invalid argument" "$OUT"
done
psx -mode start -foreground -statedir "$SRV" -port 70000
RC_W=$RC OUT_W=$OUT
RC=0
OUT=$("$PS" -mode start -foreground -statedir "$T/badl" -port 70000 2>&1) || RC=$?
[ "$RC_W" -eq "$RC" ] || fail "-port 70000: exit $RC_W on Windows, $RC on Linux"
assert_contains "$(echo "$OUT" | sed -n 's/^pedserver: error: //p' | head -1)" "$OUT_W"
ok "second instance and bad input refused as on Linux"

export CTL_SOCK=$EMU_far_SOCK
note "ped connect: the orange key on the PED behind pedserver.exe"
PC_DIR=$A
ped_connect oa1 "$SPORT" 10000
psx -mode show -statedir "$SRV"
assert_contains "$SA" "$OUT"
ok "session open across the worlds; pedserver.exe show lists HSM $SA"

note "hsm init and an SO login through pedserver.exe"
hsm_init_login CROSS-WORLD 24680
ok "hsm init and SO login through the Windows pedserver"

hsm_run ped disconnect
[ "$RC" -eq 0 ] || fail "ped disconnect: $OUT"

note "pedserver.exe -mode stop: a clean exit, nothing left behind"
psx -mode stop -statedir "$SRV"
[ "$RC" -eq 0 ] || fail "stop: $OUT"
assert_contains "pedserver stopped" "$OUT"
wait_bg srv 30 || fail "pedserver.exe exit status $?"
grep -q "pedserver exiting with status 0" "$T/srv.log" || fail "no clean exit in the log"
for f in pedserver.pid admin.port admin.token; do
	[ ! -e "$T/srv/$f" ] || fail "runtime file $f left behind"
done
ok "stopped cleanly"
echo "ceremony: ok"
