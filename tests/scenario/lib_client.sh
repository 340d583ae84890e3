# lib_client.sh - helpers for the pedclient scenarios. Source it from a
# scenario run from the repository root:   . tests/scenario/lib_client.sh
# Re-executes under bash. Pedclients (and pedservers, fake servers) whose
# state lives under $T are stopped on exit. Nothing sleeps: waits use FIFOs
# with read -t, flock(1) and wait(1).
#
#   PC                       the pedclient binary ($BUILD/pedclient)
#   pc ARGS...               run pedclient; stdout+stderr in $OUT, status in $RC
#   pcs ARGS...              the same, stdout only in $OUT (stderr in $ERR)
#   new_statedir NAME        prints $T/NAME (not created)
#   free_port                a TCP port free on every address (lib.sh)
#   pc_pid DIR               the pid of the pedclient of DIR
#   hold_pidfile DIR / wait_unlocked DIR [SECS]   wait for the daemon's exit
#   assert_no_runtime DIR    no pid/admin file left in DIR
#   fake_server MODE         a python3 pedserver stand-in on a free port,
#                            answering each HELLO per MODE (ack, error,
#                            version, garbage, silent); sets FAKE_PORT FAKE_PID
#
# It builds on lib.sh (sourced here if the test did not: $T, cleanup,
# pedemu, ctl, ctl_wait, run_bg, wait_bg) and adds an exit hook. Also:
#   PH                       the pedhsm binary ($BUILD/pedhsm)
#   start_pc NAME ARGS...    pedclient -mode start -statedir $T/NAME -admin 0
#                            ARGS; sets PC_DIR
#   hsm_bg NAME ARGS...      pedhsm -statedir $PC_DIR ARGS in the background
#                            (output in $T/NAME.log)
#   hsm_line NAME REGEX [S]  until NAME's output has a line matching REGEX
#   hsm_done NAME [S]        wait for pedhsm NAME; its exit status; $OUT = output
#   hsm_run ARGS...          pedhsm in the foreground: $OUT and $RC
#   ped_key NAME PIN         insert key NAME, ENTER, and its PIN ("-": none)
#   ped_mn M N               answer "reuse?" NO, then M and N
#   ped_write_keys PREFIX N PIN   answer the writes of N keys PREFIX1..N
#                            (created blank here if missing), each with PIN
#                            ("-": none); then wait for what follows
#   make_rpv PREFIX EMU      the RPV of the pedclient in $PC_DIR (Local PED EMU,
#                            orange key PREFIX1, PIN $OPIN), the key copied to $T/far.keys
#   ped_hsm_init M N BPREFIX PIN RPREFIX [MS]   answer an hsm init (SO M of N, domain 1 of 1)
#   hsm_init_login LABEL PIN hsm init -label LABEL (SO key b1 with PIN, domain
#                            key r1) then an SO login, on the PED of $CTL_SOCK
if [ -z "${BASH_VERSION:-}" ]; then
	exec bash "$0" "$@"
fi
# lib.sh gives $T, the cleanup (stops what it started, shows the logs of a
# failed test), fail/note/assert_*; sourcing it twice is harmless.
[ -n "${_lib_exit_hooks+x}" ] || . tests/scenario/lib.sh

unset INVOCATION_ID NOTIFY_SOCKET JOURNAL_STREAM
PC=${PC:-$BUILD/pedclient}
PS=${PS:-$BUILD/pedserver}
PH=${PH:-$BUILD/pedhsm}
OUT=""
ERR=""
RC=0
_lc_pids=""

# Stops the daemons whose state lives under $T and the helpers started here.
_lc_stop() {
	local f pid
	for f in "$T"/*/pedclient.pid "$T"/*/pedserver.pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f" 2>/dev/null || true)
		[ -n "$pid" ] && kill "$pid" 2>/dev/null || true
	done
	for pid in $_lc_pids; do
		kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
	done
}
_lib_exit_hooks="$_lib_exit_hooks _lc_stop"

[ -x "$PC" ] || fail "$PC not built (make BUILD=$BUILD $PC)"

pc() {
	RC=0
	OUT=$("$PC" "$@" 2>&1) || RC=$?
}

pcs() {
	RC=0
	OUT=$("$PC" "$@" 2>"$T/.stderr") || RC=$?
	ERR=$(cat "$T/.stderr")
}

new_statedir() {
	echo "$T/$1"
}

pc_pid() {
	cat "$1/pedclient.pid"
}

hold_pidfile() {
	exec {PIDFD}<"$1/pedclient.pid"
}

wait_unlocked() {
	timeout "${2:-10}" flock -s "$PIDFD" || fail "pedclient of $1 did not exit"
	exec {PIDFD}<&-
}

assert_no_runtime() {
	local f
	for f in pedclient.pid admin.port admin.token admin.sock hsm.sock; do
		[ ! -e "$1/$f" ] || fail "runtime file $1/$f left behind"
	done
}

# A pedserver stand-in speaking common/wire.h: reads one HELLO frame per
# connection and answers it. It prints its port once listening.
fake_server() {
	local mode=$1 fifo="$T/fake.$1.ready" fd line
	rm -f "$fifo"
	mkfifo "$fifo"
	python3 - "$mode" >"$fifo" 2>"$T/fake.$mode.log" <<'PY' &
import socket, struct, sys
mode = sys.argv[1]
def s8(t):
    b = t.encode()
    return bytes([len(b)]) + b
def frame(ver, typ, payload):
    return bytes([ver, typ]) + struct.pack(">I", len(payload)) + payload
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(8)
print(srv.getsockname()[1], flush=True)
sys.stdout.close()
while True:
    c, _ = srv.accept()
    hdr = b""
    while len(hdr) < 6:
        d = c.recv(6 - len(hdr))
        if not d:
            break
        hdr += d
    if len(hdr) == 6:
        n = struct.unpack(">I", hdr[2:6])[0]
        body = b""
        while len(body) < n:
            d = c.recv(n - len(body))
            if not d:
                break
            body += d
        assert hdr[0] == 1 and hdr[1] == 1 and body[2] == 1, "not a HELLO PROBE"
        print("hello from", body[4:4 + body[3]].decode(), file=sys.stderr, flush=True)
    if mode == "ack":
        p = bytes([1]) + s8("fakeped") + s8("pedserver 0.0-fake") + bytes([1]) + \
            s8("2.7.1") + s8("1") + bytes([0]) + s8("")
        c.sendall(frame(1, 2, p))
    elif mode == "error":
        c.sendall(frame(1, 0x7f, struct.pack(">H", 28) + s8("PED in use by HSM 42")))
    elif mode == "version":
        c.sendall(frame(9, 2, b"\x09"))
    elif mode == "garbage":
        c.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    elif mode == "silent":
        c.recv(1)
    c.close()
PY
	FAKE_PID=$!
	_lc_pids="$_lc_pids $FAKE_PID"
	exec {fd}<"$fifo"
	read -r -t 10 -u "$fd" line || fail "fake server ($mode) did not start"
	exec {fd}<&-
	FAKE_PORT=$line
}

# ---- HSM flows (with lib.sh) ----

start_pc() {
	local name=$1
	shift
	PC_DIR="$T/$name"
	pc -mode start -statedir "$PC_DIR" -admin 0 "$@"
	[ "$RC" -eq 0 ] || fail "pedclient $name did not start: $OUT"
}

hsm_bg() {
	local name=$1
	shift
	: >"$T/$name.log"
	run_bg "$name" timeout 120 "$PH" -statedir "$PC_DIR" "$@"
}

hsm_line() {
	wait_line "$@"
}

hsm_done() {
	local rc=0
	wait_bg "$1" "${2:-60}" || rc=$?
	OUT=$(cat "$T/$1.log")
	return "$rc"
}

hsm_run() {
	RC=0
	OUT=$(timeout 60 "$PH" -statedir "$PC_DIR" "$@" 2>&1) || RC=$?
}

# ped_mn M N: answer "reuse an existing keyset?" with NO, then M and N.
ped_mn() {
	ctl_wait "reuse an existing" 5000
	ctl press NO >/dev/null
	ctl_wait "M value?" 5000
	ctl type "$1" >/dev/null
	ctl press ENTER >/dev/null
	ctl_wait "N value?" 5000
	ctl type "$2" >/dev/null
	ctl press ENTER >/dev/null
}

ped_write_keys() {
	local prefix=$1 n=$2 pin=$3 i
	for ((i = 1; i <= n; i++)); do
		_ctl_raw newkey "$prefix$i" >/dev/null # may exist already (overwritten)
		ctl_wait "PED Key (" 5000
		_ctl_raw remove >/dev/null
		ctl insert "$prefix$i" >/dev/null
		ctl press ENTER >/dev/null
		ctl_wait "Overwrite? YES/NO" 5000
		ctl press YES >/dev/null
		if ctl screen | grep -q "want to overwrite"; then
			ctl press YES >/dev/null # a key that is not blank asks twice
		fi
		ctl_wait "Enter new PED PIN" 5000
		if [ "$pin" != "-" ]; then
			ctl type "$pin" >/dev/null
		fi
		ctl press ENTER >/dev/null
		ctl_wait "Confirm new PED PIN" 5000
		if [ "$pin" != "-" ]; then
			ctl type "$pin" >/dev/null
		fi
		ctl press ENTER >/dev/null
	done
}

# makes the RPV of the pedclient in $PC_DIR with a new orange keyset 1 of 1
# (key PREFIX1, PIN $OPIN) on its Local PED (pedemu EMU), and copies
# it to the PED host's key store $T/far.keys (start_pedemu far)
make_rpv() {
	local prefix=$1 emu=$2
	eval "export CTL_SOCK=\$EMU_${emu}_SOCK"
	hsm_bg "rpv$prefix" ped vector init
	ped_mn 1 1
	ped_write_keys "$prefix" 1 $OPIN
	ctl_wait "duplicating" 5000
	ctl press NO >/dev/null
	hsm_done "rpv$prefix" || fail "vector init: $OUT"
	# the key holder carries the orange key to the PED host
	cp "$T/$emu.keys/${prefix}1.key" "$T/far.keys/${prefix}1.key"
	unset CTL_SOCK
}

# ped_connect KEY PORT [MS]: ped connect -ip 127.0.0.1 -port PORT, the
# orange key KEY (PIN $OPIN) at the PED of $CTL_SOCK within MS (5000) ms;
# fails unless the session opens ($OUT: the command's output)
ped_connect() {
	hsm_bg c1 ped connect -ip 127.0.0.1 -port "$2"
	hsm_line c1 '^Please attend to the PED\.' # (CRLF from a Windows pedhsm)
	ctl_wait "PED Key (ORANGE)" "${3:-5000}"
	ped_key "$1" $OPIN
	hsm_done c1 || fail "ped connect: $OUT"
	assert_contains "Remote PED session open with 127.0.0.1:$2." "$OUT"
}

# hsm_init_login LABEL PIN: hsm init -label LABEL through the PED of
# $CTL_SOCK (ped_hsm_init: SO keyset 1 of 1, key b1 with PIN, domain key r1),
# then an SO login with b1; fails unless both succeed
hsm_init_login() {
	hsm_bg hi hsm init -label "$1"
	ped_hsm_init 1 1 b "$2" r 10000
	hsm_done hi || fail "hsm init: $OUT"
	assert_contains "HSM initialized with label '$1'." "$OUT"
	hsm_bg l1 role login -name so
	ctl_wait "PED Key (BLUE)" 10000
	ped_key b1 "$2"
	hsm_done l1 || fail "SO login: $OUT"
	assert_contains "HSM Security Officer logged in." "$OUT"
}

# answers the PED for an `hsm init` already started: the SO keyset M of N
# (keys BPREFIX1..N, PIN or "-"), then the domain 1 of 1 (key RPREFIX1, no
# PIN), no duplicates; MS bounds the wait for each keyset's title (5000)
ped_hsm_init() {
	local m=$1 n=$2 b=$3 pin=$4 r=$5 ms=${6:-5000}
	ctl_wait "SETTING SO PIN" "$ms"
	ped_mn "$m" "$n"
	ped_write_keys "$b" "$n" "$pin"
	ctl_wait "duplicating" 5000
	ctl press NO >/dev/null
	ctl_wait "SETTING DOMAIN" "$ms"
	ped_mn 1 1
	ped_write_keys "$r" 1 -
	ctl_wait "duplicating" 5000
	ctl press NO >/dev/null
}
