# lib.sh - helpers shared by the scenario tests. Source it from a scenario
# script run from the repository root:   . tests/scenario/lib.sh
#
# The helpers need bash (read -t, {fd} redirections); a script started with
# `sh script.sh` is re-executed under bash here. Binaries are found under
# ${BUILD:-build}. Every test gets a private directory $T under ${TMPDIR:-/tmp},
# removed on exit together with every process started through the helpers.
#
#   start_pedemu [NAME] [pedemu options]   start an emulator, wait for "ready"
#       sets EMU_SOCK EMU_LINK EMU_KEYS EMU_PID (and EMU_<NAME>_SOCK/LINK/PID)
#   stop_pedemu [NAME]       "quit", wait for the exit, check socket and link are gone
#   ctl CMD...               one control command to $CTL_SOCK (default $EMU_SOCK);
#                            prints the answer lines (without the final OK),
#                            fails unless the last line is OK. A directory as
#                            $CTL_SOCK is the key dir of a pedemu with
#                            -control tcp:127.0.0.1:PORT: its control.port
#                            and control.token (sent first as AUTH)
#   expect_ctl_err CMD...    the same, but the answer must end in ERR
#   ctl_wait TEXT [MS]       until the LCD shows TEXT (the emulator's own wait)
#   ped_key NAME PIN         insert key NAME, ENTER, and its PIN ("-": none)
#   wait_exit PID [SECS]     wait for a background child to exit (deadline
#                            SECS, default 10); returns its status, 124 on timeout
#   run_bg NAME CMD...       run CMD in the background, output in $T/NAME.log
#   wait_line NAME REGEX [SECS]  until $T/NAME.log has a line matching REGEX
#   wait_bg NAME [SECS]      wait for it (default 30 s); returns its exit status
#   fail MSG / note MSG / assert_contains TEXT STRING / assert_not_contains
if [ -z "${BASH_VERSION:-}" ]; then
	exec bash "$0" "$@"
fi
set -eu

BUILD=${BUILD:-build}
PEDEMU=${PEDEMU:-$BUILD/pedemu}
PEDLINK=${PEDLINK:-$BUILD/tests/tools/pedlink}
T=$(mktemp -d "${TMPDIR:-/tmp}/pedscen.XXXXXX")
_lib_pids=""
_lib_bg=""
# Functions other libraries register to run first on exit (e.g. stop daemons).
_lib_exit_hooks=""

_lib_cleanup() {
	local rc=$? pid h
	for h in $_lib_exit_hooks; do
		"$h" || true
	done
	# Children already reaped by wait_exit are gone: wait only for the rest
	# (a zombie still answers kill -0).
	local live=""
	for pid in $_lib_pids; do
		kill "$pid" 2>/dev/null && live="$live $pid"
	done
	for pid in $live; do
		wait "$pid" 2>/dev/null || true
	done
	if [ "$rc" -ne 0 ] && [ -d "$T" ]; then
		for f in "$T"/*.err "$T"/*.log "$T"/*/*.log; do
			[ -s "$f" ] || continue
			echo "---- $f" >&2
			tail -n 30 "$f" >&2
		done
	fi
	rm -rf "$T"
	exit "$rc"
}
trap _lib_cleanup EXIT
trap 'exit 130' INT TERM

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

note() {
	echo "-- $*"
}

assert_contains() {
	case "$2" in
	*"$1"*) ;;
	*) fail "expected '$1' in: $2" ;;
	esac
}

assert_not_contains() {
	case "$2" in
	*"$1"*) fail "did not expect '$1' in: $2" ;;
	*) ;;
	esac
}

# start_pedemu [NAME] [options...]: NAME defaults to "emu"; files live in $T.
start_pedemu() {
	local name=emu line fd pid
	case "${1:-}" in
	-* | "") ;;
	*) name=$1; shift ;;
	esac
	local fifo="$T/$name.ready"
	[ -x "$PEDEMU" ] || fail "$PEDEMU not built (make BUILD=$BUILD $PEDEMU)"
	command -v socat >/dev/null || fail "socat is needed"
	rm -f "$fifo"
	mkfifo "$fifo"
	"$PEDEMU" -keys "$T/$name.keys" -link "$T/$name.link" -control "$T/$name.sock" "$@" \
		>"$fifo" 2>"$T/$name.err" &
	pid=$!
	_lib_pids="$_lib_pids $pid"
	exec {fd}<"$fifo"
	if ! read -r -t 10 -u "$fd" line || [ "$line" != "pedemu: ready" ]; then
		exec {fd}<&-
		fail "pedemu $name did not get ready"
	fi
	exec {fd}<&-
	EMU_SOCK="$T/$name.sock"
	EMU_LINK="$T/$name.link"
	EMU_KEYS="$T/$name.keys"
	EMU_PID=$pid
	eval "EMU_${name}_SOCK=\$EMU_SOCK EMU_${name}_LINK=\$EMU_LINK EMU_${name}_PID=\$pid"
}

# _ctl_raw CMD: the whole answer, as sent by the emulator.
_ctl_raw() {
	local to=${CTL_SOCK:-$EMU_SOCK}
	if [ -d "$to" ]; then
		# printf is a builtin: the token is in no process's arguments
		{ printf 'AUTH %s\n' "$(cat "$to/control.token")" && printf '%s\n' "$*"; } |
			socat -t 60 - "TCP:127.0.0.1:$(cat "$to/control.port")"
	else
		printf '%s\n' "$*" | socat -t 60 - "UNIX-CONNECT:$to"
	fi
}

ctl() {
	local out last
	out=$(_ctl_raw "$@") || fail "ctl $*: cannot reach the control socket"
	last=$(printf '%s\n' "$out" | tail -n 1)
	if [ "$last" != "OK" ]; then
		echo "ctl $*: $last" >&2
		return 1
	fi
	printf '%s\n' "$out" | sed '$d'
}

expect_ctl_err() {
	local out last
	out=$(_ctl_raw "$@") || fail "ctl $*: cannot reach the control socket"
	last=$(printf '%s\n' "$out" | tail -n 1)
	case "$last" in
	ERR*) printf '%s\n' "$last" ;;
	*) fail "ctl $*: expected ERR, got: $last" ;;
	esac
}

ctl_wait() {
	ctl "wait \"$1\" ${2:-5000}" >/dev/null || fail "LCD never showed '$1'; screen: $(ctl screen | tr '\n' '|')"
}

# wait(1) on the child itself: the exit is the event. A plain sleep is the
# deadline, raced against it with wait -n (no subshell: a subshell would
# inherit the EXIT trap and run the cleanup when killed). A child that is
# already gone has been reaped by bash: its status comes from plain wait.
wait_exit() {
	local pid=$1 secs=${2:-10} w first="" rc=0
	if kill -0 "$pid" 2>/dev/null; then
		sleep "$secs" &
		w=$!
		wait -n -p first "$pid" "$w" 2>/dev/null || rc=$?
		# SIGKILL: a SIGTERM that reaches the timer between its fork and
		# its exec is caught by our trap's handler there and lost, and
		# the wait below would then last the whole deadline
		kill -KILL "$w" 2>/dev/null || true
		wait "$w" 2>/dev/null || true
		[ "$first" = "$pid" ] && return "$rc"
		if kill -0 "$pid" 2>/dev/null; then
			kill -KILL "$pid" 2>/dev/null || true
			wait "$pid" 2>/dev/null || true
			return 124
		fi
		rc=0
	fi
	wait "$pid" 2>/dev/null || rc=$?
	return "$rc"
}

ped_key() {
	_ctl_raw remove >/dev/null # the slot may be empty: no check
	ctl insert "$1" >/dev/null
	ctl press ENTER >/dev/null
	if [ "$2" != "-" ]; then
		ctl_wait "Enter PED PIN" 5000
		ctl type "$2" >/dev/null
		ctl press ENTER >/dev/null
	fi
}

stop_pedemu() {
	local name=${1:-emu} pid sock link
	eval "pid=\$EMU_${name}_PID sock=\$EMU_${name}_SOCK link=\$EMU_${name}_LINK"
	CTL_SOCK=$sock ctl quit >/dev/null || fail "quit refused"
	wait_exit "$pid" 10 || fail "pedemu $name: exit status $? after quit (124: still running)"
	[ ! -e "$sock" ] || fail "control socket left behind"
	[ ! -L "$link" ] || fail "link symlink left behind"
}

# free_port: a TCP port free on every address
free_port() {
	# free on every address: pedserver's default listener is the wildcard
	# (dual stack "::"), which a port used on any local address would refuse
	python3 -c 'import socket
try:
    s = socket.socket(socket.AF_INET6)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", 0))
except OSError:
    s = socket.socket()
    s.bind(("0.0.0.0", 0))
print(s.getsockname()[1])'
}

# tail -f ends as soon as grep has its match (its output pipe closes).
wait_line() {
	timeout "${3:-10}" sh -c 'tail -n +1 -f "$1" | grep -q -m 1 -E -- "$2"' _ \
		"$T/$1.log" "$2" || fail "no line /$2/ from $1: $(tail -n 5 "$T/$1.log" | tr '\n' '|')"
}

run_bg() {
	local name=$1 pid
	shift
	: >"$T/$name.log" # exists before wait_line's tail -f looks for it
	"$@" >>"$T/$name.log" 2>&1 &
	pid=$!
	_lib_pids="$_lib_pids $pid"
	eval "_lib_bg_$name=$pid"
}

wait_bg() {
	local name=$1 secs=${2:-30} pid rc=0
	eval "pid=\$_lib_bg_$name"
	wait_exit "$pid" "$secs" || rc=$?
	[ "$rc" -ne 124 ] || fail "$name still running after ${secs}s"
	return "$rc"
}
