# lib_crash.sh - the set-up of the crash scenarios (tests/scenario/crash_*.sh):
# an HSM host (pedclient with its Local PED, RPV made there), a PED host
# (pedserver and its pedemu "far" in Remote mode) and an open session. Source
# it from a scenario run from the repository root, after lib.sh and
# lib_client.sh:
#   crash_setup              everything above; sets HSM SPORT SADMIN, CTL_SOCK
#   start_srv / start_far / start_hsm   (re)start one process, same dirs/ports
#   connect_far              ped connect to pedserver, the orange key on "far"
#   kill9 PID [PIDFILE]      kill -9, wait for the end (wait_exit, or the
#                            pid-file lock of a daemon)
#   log_line FILE N REGEX    until a line after the first N of FILE matches
#   snap / assert_same_state the slot state (sha256 + hsm show) before/after
#   assert_keys_readable     every PED-key file in far.keys decodes (pedemu keys)
#   assert_named_error       $OUT ends in a named error, not an internal one
#   new_keyset_until M N PREFIX PIN KEYS   answers the M/N questions and writes
#                            KEYS keys (KEYS < N stops after the KEYS-th)
#   so_login                 role login -name so with b1, b2 (PIN $SOPIN)
OPIN=13579
SOPIN=24680
[ -x "$PH" ] || fail "$PH not built (make BUILD=$BUILD $PH)"
[ -x "$PS" ] || fail "$PS not built (make BUILD=$BUILD $PS)"
ok() { echo "ok: $*"; }

start_srv() {
	RC=0
	# -resumewindow 0 (both daemons): these tests prove what a crash does
	# without session resumption; resume_session.sh proves the restarts with it
	OUT=$("$PS" -mode start -hsmpolicy any -statedir "$T/srv" -port "$SPORT" -admin "$SADMIN" \
		-ped "$T/far.link" -resumewindow 0 2>&1) || RC=$?
	[ "$RC" -eq 0 ] || fail "pedserver start: $OUT"
	SRV_PID=$(cat "$T/srv/pedserver.pid")
}

start_far() {
	start_pedemu far -mode remote
	export CTL_SOCK=$EMU_far_SOCK
}

start_hsm() {
	start_pc hsm -localped "$EMU_local_LINK" -resumewindow 0
	HSM=$PC_DIR
	HSM_PID=$(cat "$HSM/pedclient.pid")
}

# kill9 PID [PIDFILE]: a daemon is not our child: its end is the release of
# the lock it holds on its pid file (the kernel drops it at the exit)
kill9() {
	local fd
	if [ -n "${2:-}" ]; then
		exec {fd}<"$2"
		kill -KILL "$1"
		timeout 10 flock -s "$fd" || fail "$1 survived kill -9"
		exec {fd}<&-
	else
		kill -KILL "$1"
		wait_exit "$1" 10 || true
		! kill -0 "$1" 2>/dev/null || fail "$1 survived kill -9"
	fi
}

connect_far() {
	PC_DIR=$HSM
	hsm_bg con ped connect -ip 127.0.0.1 -port "$SPORT"
	hsm_line con '^Please attend to the PED\.$'
	if ! ctl screen | grep -q "Awaiting command"; then
		ctl_wait "PED Key (ORANGE)" 5000
		ped_key o1 $OPIN
	fi
	hsm_done con || fail "ped connect: $OUT"
	assert_contains "Remote PED session open" "$OUT"
}

crash_setup() {
	start_pedemu local -mode local
	start_far
	start_hsm
	# the RPV, made with the Local PED; the orange key goes to the PED host
	make_rpv o local
	export CTL_SOCK=$EMU_far_SOCK
	SPORT=$(free_port)
	SADMIN=$(free_port)
	start_srv
	connect_far
}

# log_line FILE N REGEX: until a line after the first N of FILE matches
log_line() {
	timeout 10 sh -c 'tail -n +"$2" -f "$1" | grep -q -m 1 -E -- "$3"' _ \
		"$1" "$(($2 + 1))" "$3" || fail "no line /$3/ in $1: $(tail -n 3 "$1")"
}

snap() {
	SNAP_SUM=$(sha256sum <"$HSM/slot0.hsm")
	hsm_run hsm show
	SNAP_SHOW=$(grep -v -E 'logged in|^Command Result' <<<"$OUT" || true)
}

# the state file is byte for byte the old one (hsm show agrees)
assert_same_state() {
	[ "$(sha256sum <"$HSM/slot0.hsm")" = "$SNAP_SUM" ] || fail "the HSM state changed: $1"
	hsm_run hsm show
	[ "$RC" -eq 0 ] || fail "hsm show after $1: $OUT"
	[ "$(grep -v -E 'logged in|^Command Result' <<<"$OUT" || true)" = "$SNAP_SHOW" ] ||
		fail "hsm show changed after $1: $OUT"
}

assert_keys_readable() {
	local keys
	keys=$(CTL_SOCK=${1:-$CTL_SOCK} ctl keys) || fail "keys"
	assert_not_contains "UNREADABLE" "$keys"
	[ -n "$keys" ] || fail "no keys listed"
}

# a clean result line: a named error, never INTERNAL_ERROR or a silence
assert_named_error() {
	local last e
	last=$(grep '^Command Result : ' <<<"$OUT" | tail -n 1)
	[ -n "$last" ] || fail "no result line: $OUT"
	assert_not_contains "No Error" "$last"
	assert_not_contains "INTERNAL_ERROR" "$last"
	for e in $1; do
		case "$last" in
		*"Result : $e"*) return 0 ;;
		esac
	done
	fail "expected one of $1: $last"
}

new_keyset_until() {
	local m=$1 n=$2 prefix=$3 pin=$4 keys=$5
	ped_mn "$m" "$n"
	[ "$keys" -gt 0 ] && ped_write_keys "$prefix" "$keys" "$pin"
	return 0
}

# hsm init (SO 2 of 3, domain 1 of 1) from start to end, output in $OUT
hsm_init_full() {
	hsm_bg hi hsm init -label CRASH
	ctl_wait "SETTING SO PIN" 5000
	new_keyset_until 2 3 b $SOPIN 3
	ctl_wait "duplicating" 5000
	ctl press NO >/dev/null
	ctl_wait "SETTING DOMAIN" 5000
	new_keyset_until 1 1 r - 1
	ctl_wait "duplicating" 5000
	ctl press NO >/dev/null
	hsm_done hi || fail "hsm init: $OUT"
	assert_contains "Command Result : No Error" "$OUT"
}

so_login() {
	hsm_bg lo role login -name so
	ctl_wait "PED Key (BLUE)" 5000
	ped_key b1 $SOPIN
	ctl_wait "Keys read: 01 of 02" 5000
	ped_key b2 $SOPIN
	hsm_done lo || fail "SO login: $OUT"
	assert_contains "HSM Security Officer logged in." "$OUT"
}
