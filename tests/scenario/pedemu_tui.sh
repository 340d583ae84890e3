#!/usr/bin/env bash
# pedemu_tui.sh - pedemu -tui in a tmux pane: the LCD box and status line are
# drawn, keyboard keys drive the keypad and the menus, i/k/r/u work, and q
# quits cleanly. Run from the repository root.
. tests/scenario/lib.sh

command -v tmux >/dev/null || fail "tmux is needed"

TM="$T/tmux.sock"
tm() {
	tmux -S "$TM" "$@"
}
pane() {
	tm capture-pane -p -t tui 2>/dev/null
}
shows() {
	pane | grep -qF -- "$1"
}
# A terminal's contents raise no event, so this one helper re-reads the pane
# (every 50 ms, 10 s deadline). Everything else waits for events.
expect_pane() {
	local deadline=$((SECONDS + 10))
	until shows "$1"; do
		[ "$SECONDS" -lt "$deadline" ] || fail "the pane never showed '$1':
$(pane)"
		sleep 0.05
	done
}
keys() {
	tm send-keys -t tui "$@"
}

case "$PEDEMU" in
/*) bin=$PEDEMU ;;
*) bin=$PWD/$PEDEMU ;;
esac
EMU_SOCK="$T/tui.sock"
EMU_LINK="$T/tui.link"
tm new-session -d -s tui -x 100 -y 30 \
	"$bin -tui -keys $T/tui.keys -link $EMU_LINK -control $EMU_SOCK 2>$T/tui.err; tmux -S $TM wait-for -S tui-exited"
# Keep the tmux server alive after the session ends, so that the exit signal
# below is never lost with it.
tm set-option -g exit-empty off
_lib_pids="$_lib_pids $(tm display-message -p -t tui '#{pid}')"

note "the LCD box and the status line"
expect_pane "|Local PED mode      |"
expect_pane "Awaiting command..."
expect_pane "Mode: local"
expect_pane "q=quit"
assert_contains "Awaiting command" "$(ctl screen)"

note "keyboard: create and insert a key"
keys k t1 Enter
expect_pane "Created blank key t1"
keys i t1 Enter
expect_pane "Key: t1"
assert_contains "slot t1" "$(ctl status)"

note "menus: < -> Select Mode -> 4 Admin -> 9 Self Test"
keys '<'
expect_pane "Select Mode"
expect_pane "0 Local PED-USB"
keys 4
expect_pane "Admin mode..."
keys 9
expect_pane "Self Test PASSED"
keys Enter
expect_pane "1 PED Key"
keys 1
expect_pane "3 Identify key"
keys 3
expect_pane "Type: BLANK"
keys Enter
keys BSpace
expect_pane "Admin mode..."
keys '>'
expect_pane "Recent actions:"
keys Enter
keys '<'
expect_pane "Select Mode"
keys 7
expect_pane "Remote PED mode"
expect_pane "Mode: remote"

note "r removes the key, u unplugs and plugs"
keys r
expect_pane "Key: (none)"
keys u
expect_pane "Link: unplugged"
keys u
expect_pane "Plugged in"

note "q quits and cleans up"
keys q
timeout 10 tmux -S "$TM" wait-for tui-exited || fail "pedemu -tui did not exit"
[ ! -e "$EMU_SOCK" ] || fail "socket left behind"
[ ! -L "$EMU_LINK" ] || fail "symlink left behind"
tm kill-server 2>/dev/null || true

echo "pedemu_tui: all passed"
