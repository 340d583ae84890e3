# lib_server.sh - helpers for the pedserver scenarios, on top of lib.sh
# (pedemu helpers, $T, fail/note/assert_*). Source it from the repository root:
#     . tests/scenario/lib_server.sh
# Every pedserver whose state dir lies under $T is stopped on exit. Nothing
# here sleeps: the waits are start's own readiness, wait(1) and flock(1).
#
#   PS                       the pedserver binary
#   ps_run ARGS...           run pedserver, output (stdout+stderr) in $OUT, status in $RC
#   free_port                a TCP port free on every address right now
#   ps_start NAME [ARGS...]  -mode start with state dir $T/NAME and fresh ports:
#                            sets PS_DIR PS_PORT PS_ADMIN (and PS_<NAME>_DIR/PORT/ADMIN);
#                            fails the test unless start exits 0
#   ps_pid DIR               the daemon's pid
#   ps_show_until DIR TEXT MS  re-runs show until its output contains TEXT, at
#                            most MS milliseconds (the bounded re-check IS the
#                            assertion: "reflected within MS"); prints the time
#   probe PORT [ARGS...]     a raw session-protocol client (python3), prints
#                            what the server answered (HELLO_ACK ... or ERROR ...)
#   assert_no_runtime DIR    no pid/admin file left in DIR
. tests/scenario/lib.sh

# a test run from inside a systemd unit must still exercise background starts
unset INVOCATION_ID NOTIFY_SOCKET JOURNAL_STREAM
PS=${PS:-$BUILD/pedserver}
[ -x "$PS" ] || fail "$PS not built (make BUILD=$BUILD $PS)"
command -v python3 >/dev/null || fail "python3 is needed"
OUT=""
RC=0

_ls_cleanup() {
	local rc=$? f pid
	for f in "$T"/*/pedserver.pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f" 2>/dev/null || true)
		[ -n "$pid" ] && kill "$pid" 2>/dev/null || true
	done
	if [ "$rc" -ne 0 ]; then
		for f in "$T"/*/pedserver.log; do
			[ -s "$f" ] || continue
			echo "---- $f" >&2
			tail -n 30 "$f" >&2
		done
	fi
	# lib.sh's cleanup (emulators, $T) with our status
	( exit "$rc" )
	_lib_cleanup
}
trap _ls_cleanup EXIT

ps_run() {
	RC=0
	OUT=$("$PS" "$@" 2>&1) || RC=$?
}

ps_start() {
	local name=$1
	shift
	PS_DIR="$T/$name"
	PS_PORT=$(free_port)
	PS_ADMIN=$(free_port)
	while [ "$PS_ADMIN" = "$PS_PORT" ]; do PS_ADMIN=$(free_port); done
	ps_run -mode start -statedir "$PS_DIR" -port "$PS_PORT" -admin "$PS_ADMIN" "$@"
	[ "$RC" -eq 0 ] || fail "pedserver $name did not start ($RC): $OUT"
	eval "PS_${name}_DIR=\$PS_DIR PS_${name}_PORT=\$PS_PORT PS_${name}_ADMIN=\$PS_ADMIN"
}

ps_pid() {
	cat "$1/pedserver.pid"
}

ps_show_until() {
	local dir=$1 text=$2 ms=$3 t0 now out
	t0=$(date +%s%N)
	while :; do
		out=$("$PS" -mode show -statedir "$dir" 2>&1) || true
		now=$(date +%s%N)
		case "$out" in
		*"$text"*)
			echo "$(((now - t0) / 1000000))"
			return 0
			;;
		esac
		[ $(((now - t0) / 1000000)) -lt "$ms" ] || {
			echo "show never said '$text' within $ms ms; last: $out" >&2
			return 1
		}
	done
}

# probe PORT [-purpose probe|session] [-version V] [-raw HEX] [-len N]
probe() {
	python3 - "$@" <<'EOF'
import socket, struct, sys
port = int(sys.argv[1]); args = sys.argv[2:]
opt = dict(zip(args[0::2], args[1::2]))
purpose = {"probe": 1, "session": 2}[opt.get("-purpose", "probe")]
ver = int(opt.get("-version", "1"))
def s(x): b = x.encode(); return bytes([len(b)]) + b
body = bytes([1, 1, purpose]) + s("testhsm") + s("")
frame = bytes([ver, 1]) + struct.pack(">I", int(opt.get("-len", len(body)))) + body
if "-raw" in opt: frame = bytes.fromhex(opt["-raw"])
c = socket.create_connection(("127.0.0.1", port), timeout=10)
c.sendall(frame)
data = b""
while True:
    d = c.recv(4096)
    if not d: break
    data += d
if len(data) < 6: print("closed without answer"); sys.exit(0)
v, t, n = data[0], data[1], struct.unpack(">I", data[2:6])[0]
p = data[6:6 + n]
def gs(p, i): n = p[i]; return p[i + 1:i + 1 + n].decode(), i + 1 + n
if t == 2:
    i = 1; name, i = gs(p, i); sw, i = gs(p, i); att = p[i]; i += 1
    fw, i = gs(p, i); proto, i = gs(p, i); busy = p[i]
    print("HELLO_ACK version=%d server=%s software=%s ped_attached=%d firmware=%s protocol=%s busy=%d"
          % (p[0], name, sw, att, fw, proto, busy))
elif t == 0x7f:
    code = struct.unpack(">H", p[0:2])[0]; msg, _ = gs(p, 2)
    print("ERROR code=%d %s" % (code, msg))
else:
    print("type=%d" % t)
EOF
}

assert_no_runtime() {
	local f
	for f in pedserver.pid admin.port admin.token admin.sock; do
		[ ! -e "$1/$f" ] || fail "runtime file $1/$f left behind"
	done
}

# ---- Remote PED sessions (tests/scenario/session_*.sh) ----
#   SC                          the sessclient test tool
#   sc_rpv NAME STATE KEYPREFIX PIN   initialize STATE's RPV on a new orange
#                               key KEYPREFIX1 (1 of 1) over $EMU_LINK (before
#                               pedserver opens the PED); prints nothing
#   sc_run NAME ARGS...         sessclient -port $PS_PORT ARGS in the background
#   sc_wait_line NAME REGEX [S] until NAME's output has a line matching REGEX
#   sc_hold NAME STATE          a session held open until sc_release NAME
SC=${SC:-$BUILD/tests/tools/sessclient}

sc_rpv() {
	local name=$1 state=$2 prefix=$3 pin=$4
	[ -x "$SC" ] || fail "$SC not built"
	ctl newkey "${prefix}1" >/dev/null
	: >"$T/$name.log"
	run_bg "$name" timeout 60 "$SC" -hsm "$state" rpv-init -ped "$EMU_LINK"
	ctl_wait "M value?" 5000
	ctl type 1 >/dev/null
	ctl press ENTER >/dev/null
	ctl_wait "N value?" 5000
	ctl type 1 >/dev/null
	ctl press ENTER >/dev/null
	ctl_wait "Insert" 5000
	_ctl_raw remove >/dev/null
	ctl insert "${prefix}1" >/dev/null
	ctl press ENTER >/dev/null
	ctl_wait "Overwrite? YES/NO" 5000
	ctl press YES >/dev/null
	ctl_wait "Enter new PED PIN" 5000
	ctl type "$pin" >/dev/null
	ctl press ENTER >/dev/null
	ctl_wait "Confirm new PED PIN" 5000
	ctl type "$pin" >/dev/null
	ctl press ENTER >/dev/null
	ctl_wait "duplicating" 5000
	ctl press NO >/dev/null
	wait_bg "$name" 20 || fail "rpv-init $name: $(tail -n 3 "$T/$name.log" | tr '\n' '|')"
	_ctl_raw remove >/dev/null
}

sc_run() {
	local name=$1
	shift
	: >"$T/$name.log"
	run_bg "$name" timeout 60 "$SC" -port "$PS_PORT" "$@"
}

sc_wait_line() {
	wait_line "$@"
}

# stdin is a FIFO whose writer this shell holds: closing it ends the session
sc_hold() {
	local name=$1 state=$2 fd
	shift 2
	rm -f "$T/$name.in"
	mkfifo "$T/$name.in"
	: >"$T/$name.log"
	timeout 120 "$SC" -port "$PS_PORT" -hsm "$state" "$@" hold <"$T/$name.in" \
		>"$T/$name.log" 2>&1 &
	_lib_pids="$_lib_pids $!"
	eval "_lib_bg_$name=$!"
	exec {fd}>"$T/$name.in"
	eval "_sc_fd_$name=$fd"
}

sc_release() {
	local fd
	eval "fd=\$_sc_fd_$1"
	exec {fd}>&-
}

# sc_key KEY PIN: wait for a key prompt, insert KEY, ENTER, then the PIN
sc_key() {
	ctl_wait "PED Key (" 5000
	_ctl_raw remove >/dev/null
	ctl insert "$1" >/dev/null
	ctl press ENTER >/dev/null
	ctl_wait "Enter PED PIN" 5000
	ctl type "$2" >/dev/null
	ctl press ENTER >/dev/null
}
