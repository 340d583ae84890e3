#!/bin/sh
# pedemu.sh - pedemu.exe under wine (make wintest): the PED emulator on a TCP
# link, driven from Linux through its TCP control channel (the token in its
# key dir), behind a Linux pedserver, with a Linux pedclient + pedhsm. The
# orange key opens a session, hsm init and an SO login run through it; the
# key files pedemu.exe writes are private (their DACL, judged by
# sysprivate.exe); bad options get the Linux pedemu's messages and exit
# codes, and what Windows lacks (a pty, USB, a Unix socket) is refused by
# name (NOT_ON_WINDOWS, exit 2); quit exits 0 with no runtime file left.
# Needs BUILD (Linux build) and WIN_BUILD (make windows), wine on PATH and
# WINEPREFIX (scripts/wine-run.sh sets it up).
. tests/scenario/lib.sh
. tests/scenario/lib_client.sh

WIN_BUILD=${WIN_BUILD:-build-win}
PEX="$WIN_BUILD/pedemu.exe"
SPX="$WIN_BUILD/tests/tools/sysprivate.exe"
[ -x "$PEX" ] && [ -x "$SPX" ] || fail "$PEX or $SPX not built (make windows)"
[ -x "$PS" ] && [ -x "$PH" ] || fail "Linux programs not built (make BUILD=$BUILD)"
ok() { echo "ok: $*"; }
# the Windows programs see the Linux file system as drive Z:
winpath() { echo "Z:$1"; }
pex() {
	RC=0
	OUT=$(timeout 60 wine "$PEX" "$@" 2>&1 </dev/null) || RC=$?
	OUT=$(printf '%s' "$OUT" | tr -d '\r')
}
lin() {
	RC=0
	OUT=$("$PEDEMU" "$@" 2>&1 </dev/null) || RC=$?
}
private() {
	RC=0
	OUT=$(wine "$SPX" "$@" 2>&1) || RC=$?
	OUT=$(printf '%s' "$OUT" | tr -d '\r')
}

note "bad options: the Linux pedemu's messages and exit codes"
BP=$(free_port)
while IFS='|' read -r code args; do
	# shellcheck disable=SC2086 # args are words
	pex $(echo "$args" | sed "s|KEYS|$(winpath "$T/badw")|")
	wrc=$RC wout=$OUT
	# shellcheck disable=SC2086
	lin $(echo "$args" | sed "s|KEYS|$T/badl|")
	[ "$RC" -eq "$code" ] || fail "$args: exit $RC on Linux (expected $code): $OUT"
	[ "$wrc" -eq "$code" ] || fail "$args: exit $wrc on Windows (expected $code): $wout"
	line=$(printf '%s\n' "$OUT" | grep '^pedemu: ' | grep -v -E '^pedemu: (ready$|info: )' | head -1)
	[ -n "$line" ] || fail "$args: no message on Linux: $OUT"
	assert_contains "$line" "$wout"
done <<EOT
2|-bogus
2|-keys KEYS -link tcp:127.0.0.1:$BP
2|-keys KEYS -link tcp:127.0.0.1:$BP -control tcp:127.0.0.1:$BP -mode foo
2|-keys KEYS -link tcp:127.0.0.1:$BP -control tcp:127.0.0.1:$BP -loglevel loud
1|-keys KEYS -link tcp:localhost:$BP -control tcp:127.0.0.1:$(free_port)
1|-keys KEYS -link tcp:10.1.2.3:$BP -control tcp:127.0.0.1:$(free_port)
1|-keys KEYS -link tcp:127.0.0.1:$BP -control tcp:10.1.2.3:$BP
1|-keys KEYS -link tcp:127.0.0.1:$BP -control tcp:127.0.0.1:$(free_port) -tui
EOT
for f in control.token control.port; do
	[ ! -e "$T/badw/$f" ] || fail "a refused pedemu.exe left $f"
done
ok "bad options refused as on Linux (-tui without a console: 'terminal UI', exit 1)"

note "what Windows lacks is refused by name, before anything is made"
for args in "-link $(winpath "$T/x.link") -control tcp:127.0.0.1:$BP" \
	"-link usb -usbbed $(winpath "$T/bed") -control tcp:127.0.0.1:$BP" \
	"-link tcp:127.0.0.1:$BP -control $(winpath "$T/x.sock")"; do
	# shellcheck disable=SC2086
	pex -keys "$(winpath "$T/lack")" $args
	[ "$RC" -eq 2 ] || fail "$args: exit $RC: $OUT"
	assert_contains "not available on Windows (docs/windows.md) (NOT_ON_WINDOWS); use " "$OUT"
done
[ ! -e "$T/lack" ] || fail "a refused pedemu.exe made its key dir"
ok "pty, usb and a Unix control socket: NOT_ON_WINDOWS, exit 2"

K="$T/far.keys"
LP=$(free_port)
CP=$(free_port)
run_bg far timeout 300 wine "$PEX" -keys "$(winpath "$K")" -mode remote -link "tcp:127.0.0.1:$LP" \
	-control "tcp:127.0.0.1:$CP"
wait_line far '^pedemu: ready' 60
[ "$(tr -d '\r' <"$K/control.port")" = "$CP" ] || fail "control.port: $(cat "$K/control.port")"
private "$(winpath "$K")" "$(winpath "$K/control.token")"
[ "$RC" -eq 0 ] || fail "key dir or token not private: $OUT"
ok "pedemu.exe under wine: ready; its key dir and control.token are private"

export CTL_SOCK=$K
OUT=$(printf 'AUTH %064d\nstatus\n' 0 | socat -t 10 - "TCP:127.0.0.1:$CP")
assert_contains "ERR AUTH_REQUIRED" "$OUT"
assert_not_contains "mode remote" "$OUT"
assert_contains "mode remote" "$(ctl status)"
ok "the Linux harness drives it through the token; a wrong token is refused"

OPIN=13579
start_pedemu local -mode local
start_pc hsma -localped "$EMU_local_LINK"
make_rpv oa local
SPORT=$(free_port)
run_bg srv "$PS" -mode start -foreground -hsmpolicy any -statedir "$T/srv" -port "$SPORT" \
	-admin "$(free_port)" -ped "tcp:127.0.0.1:$LP"
wait_line srv "PED connected on tcp:127.0.0.1:$LP" 30
export CTL_SOCK=$K
assert_contains "link up" "$(ctl status)"
ok "Linux pedserver connected to pedemu.exe's TCP link"

note "ped connect: the orange key on pedemu.exe"
ped_connect oa1 "$SPORT" 10000
ok "session open"

note "hsm init and an SO login on pedemu.exe"
hsm_init_login WIN-PEDEMU 24680
hsm_run ped disconnect
[ "$RC" -eq 0 ] || fail "ped disconnect: $OUT"
ok "hsm init and SO login through pedemu.exe"

private "$(winpath "$K/b1.key")" "$(winpath "$K/r1.key")"
[ "$RC" -eq 0 ] || fail "PED-key files not private: $OUT"
: >"$K/open.txt"
chmod 644 "$K/open.txt"
private "$(winpath "$K/open.txt")"
[ "$RC" -eq 1 ] || fail "sysprivate judged a 0644 file private: $OUT"
rm -f "$K/open.txt"
ok "the PED-key files pedemu.exe wrote are private (a world-readable file is not)"

note "quit: a clean exit, no runtime file left"
ctl quit >/dev/null
wait_bg far 30 || fail "pedemu.exe exit status $?"
grep -q 'pedemu: info: exiting' "$T/far.log" || fail "no clean exit in the log"
for f in control.token control.port; do
	[ ! -e "$K/$f" ] || fail "runtime file $f left behind"
done
ok "pedemu.exe exited with status 0"
echo "pedemu: ok"
