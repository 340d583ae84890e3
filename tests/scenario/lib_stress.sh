# lib_stress.sh - set-up shared by the stress scenarios (tests/scenario/
# stress_*.sh): HSM hosts with their RPV (and optionally an initialized HSM)
# made on a Local PED, the PED host's pedserver with its pedemu, and waits on
# log lines with the time they were written. Source it after lib.sh and
# lib_client.sh. Nothing here sleeps.
#
#   OPIN SOPIN                 the orange and blue keys' PINs
#   now_ms                     wall-clock milliseconds
#   log_ms LINE                the time (ms) of a daemon log line
#   wait_log FILE REGEX [S] [N]  until FILE has N lines (default 1) matching
#                              REGEX (at most S seconds, default 10); prints
#                              the N-th
#   count_log FILE REGEX       how many lines of FILE match REGEX now
#   st_far                     the PED host's PED: pedemu "far" in Remote mode;
#                              sets FAR_SOCK FAR_LINK FAR_KEYS
#   st_hsm NAME INIT ARGS...   pedclient $T/NAME (start options ARGS) with its own
#                              Local PED (pedemu NAME.l, stopped again at the
#                              end: PED operations then need a Remote PED); its
#                              RPV on a new orange key NAMEo1 (1 of 1, $OPIN); with
#                              INIT=1 also hsm init: blue NAMEb1 (1 of 1, $SOPIN),
#                              red NAMEr1 (1 of 1). The keys are copied to
#                              $FAR_KEYS. Sets PC_DIR and HSM_SERIAL
#   st_server NAME ARGS...     pedserver $T/NAME on $FAR_LINK; ARGS are written
#                              with config -set first, then it starts on fresh
#                              ports; sets SRV_DIR SRV_PORT SRV_IP (127.0.0.1)
#   st_connect NAME            pedhsm (output NAME) ped connect from $PC_DIR to
#                              $SRV_IP:$SRV_PORT, answering the orange key prompt
#                              on the far PED with the key of $PC_DIR's HSM
#   st_login NAME              pedhsm role login -name so, the blue key given on
#                              the far PED; must succeed
#   srv_show_until TEXT MS     pedserver show until it contains TEXT (bounded)
OPIN=13579
SOPIN=24680

now_ms() {
	date +%s%3N
}

log_ms() {
	date -d "${1%% *}" +%s%3N
}

wait_log() {
	local line n=${4:-1}
	line=$(timeout "${3:-10}" sh -c 'tail -n +1 -F "$1" 2>/dev/null | grep -m "$3" -E -- "$2"' _ \
		"$1" "$2" "$n" | tail -n 1)
	[ "$(printf '%s\n' "$line" | grep -c -E -- "$2")" -eq 1 ] ||
		fail "no line /$2/ (#$n) in $1 within ${3:-10} s: $(tail -n 5 "$1" 2>/dev/null | tr '\n' '|')"
	printf '%s\n' "$line"
}

count_log() {
	grep -c -E -- "$2" "$1" 2>/dev/null || true
}

st_far() {
	start_pedemu far -mode remote
	FAR_SOCK=$EMU_far_SOCK
	FAR_LINK=$EMU_far_LINK
	FAR_KEYS=$EMU_KEYS
}

# the keyset-creation dialogue for 1 of 1: M, N, one key written, no duplicate
_st_one_key() {
	ped_mn 1 1
	ped_write_keys "$1" 1 "$2"
	ctl_wait "duplicating" 5000
	ctl press NO >/dev/null
}

st_hsm() {
	local name=$1 init=$2 emu=$1l
	shift 2
	start_pedemu "$emu" -mode local
	# -resumewindow 0 (both daemons): the stress tests prove the failures
	# without session resumption (PEER_TIMEOUT and the like); resume_session.sh
	# proves resumption
	start_pc "$name" -localped "$EMU_LINK" -resumewindow 0 "$@"
	export CTL_SOCK=$EMU_SOCK
	hsm_bg "${name}_rpv" ped vector init
	_st_one_key "${name}o" "$OPIN"
	hsm_done "${name}_rpv" || fail "$name: ped vector init: $OUT"
	cp "$EMU_KEYS/${name}o1.key" "$FAR_KEYS/"
	if [ "$init" = 1 ]; then
		hsm_bg "${name}_init" hsm init -label "$name"
		ctl_wait "SETTING SO PIN" 5000
		_st_one_key "${name}b" "$SOPIN"
		ctl_wait "SETTING DOMAIN" 5000
		_st_one_key "${name}r" -
		hsm_done "${name}_init" || fail "$name: hsm init: $OUT"
		cp "$EMU_KEYS/${name}b1.key" "$EMU_KEYS/${name}r1.key" "$FAR_KEYS/"
	fi
	unset CTL_SOCK
	stop_pedemu "$emu"
	HSM_SERIAL=$(timeout 10 "$PH" -statedir "$PC_DIR" slot list |
		sed -n 's/^Slot 0: serial \([0-9]*\),.*/\1/p')
	[ -n "$HSM_SERIAL" ] || fail "$name: no serial"
}

st_server() {
	local name=$1 admin
	shift
	SRV_DIR=$T/$name
	SRV_IP=${SRV_IP:-127.0.0.1}
	SRV_PORT=$(free_port)
	admin=$(free_port)
	while [ "$admin" = "$SRV_PORT" ]; do admin=$(free_port); done
	if [ $# -gt 0 ]; then
		RC=0
		OUT=$("$PS" -mode config -statedir "$SRV_DIR" -set "$@" 2>&1) || RC=$?
		[ "$RC" -eq 0 ] || fail "pedserver config -set $*: $OUT"
	fi
	RC=0
	OUT=$(${SRV_NETNS:+ip netns exec "$SRV_NETNS"} "$PS" -mode start -hsmpolicy any -statedir "$SRV_DIR" \
		-port "$SRV_PORT" -admin "$admin" ${SRV_NETNS:+-ip "$SRV_IP"} -ped "$FAR_LINK" \
		-resumewindow 0 2>&1) || RC=$?
	[ "$RC" -eq 0 ] || fail "pedserver start: $OUT"
}

# the key of the HSM in $PC_DIR is the one whose name is its state dir's
st_connect() {
	local name=$1 key
	key=$(basename "$PC_DIR")o1
	# leaving Remote mode forgets the orange key the PED cached
	CTL_SOCK=$FAR_SOCK ctl mode local >/dev/null
	CTL_SOCK=$FAR_SOCK ctl mode remote >/dev/null
	hsm_bg "$name" ped connect -ip "$SRV_IP" -port "$SRV_PORT"
	hsm_line "$name" '^Please attend to the PED\.$'
	CTL_SOCK=$FAR_SOCK ctl_wait "PED Key (ORANGE)" 5000
	CTL_SOCK=$FAR_SOCK ped_key "$key" "$OPIN"
	hsm_done "$name" 20 || fail "ped connect: $OUT"
	assert_contains "Remote PED session open with $SRV_IP:$SRV_PORT." "$OUT"
}

st_login() {
	local name=$1 key
	key=$(basename "$PC_DIR")b1
	hsm_bg "$name" role login -name so
	CTL_SOCK=$FAR_SOCK ctl_wait "PED Key (BLUE)" 5000
	CTL_SOCK=$FAR_SOCK ped_key "$key" "$SOPIN"
	hsm_done "$name" 20 || fail "SO login: $OUT"
	assert_contains "HSM Security Officer logged in." "$OUT"
}

srv_show_until() {
	local text=$1 ms=$2 t0 out
	t0=$(now_ms)
	while :; do
		out=$(${SRV_NETNS:+ip netns exec "$SRV_NETNS"} "$PS" -mode show -statedir "$SRV_DIR" 2>&1) || true
		case "$out" in
		*"$text"*) return 0 ;;
		esac
		[ $(($(now_ms) - t0)) -lt "$ms" ] || fail "pedserver show never said '$text' within $ms ms: $out"
	done
}
