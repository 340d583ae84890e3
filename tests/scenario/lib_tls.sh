# lib_tls.sh - helpers for the PED-initiated link scenarios (tls_*.sh), on
# lib.sh and lib_client.sh:
#   tls_pair                 the walk-through's set-up: key and certificate on
#                            both hosts, certificates exchanged and registered,
#                            pedclient listening on LPORT, pedserver running
#                            (SRV = its state dir, SPORT its server port)
#                            with PED $EMU_far_LINK
#   link_state NAME          pedserver -mode show -name NAME: its "Link state"
#   wait_log FILE REGEX N [S]  until FILE's Nth line matching REGEX
#   wait_up N [S]            until the Nth "link up" in both daemons' logs
[ -n "${_lib_exit_hooks+x}" ] || . tests/scenario/lib.sh

link_state() {
	"$PS" -mode show -statedir "$SRV" -name "$1" 2>&1 | sed -n 's/^Link state: *//p'
}

# wait_log FILE REGEX N [S]: until FILE has its Nth line matching REGEX (a
# daemon's log: each link up/down is a line), deadline S (default 10 s).
# (mawk -W interactive counts line by line; grep -m N waits for more input.)
wait_log() {
	RE=$2 N=$3 timeout "${4:-10}" sh -c 'tail -n +1 -f "$1" 2>/dev/null |
		mawk -W interactive '"'"'$0 ~ ENVIRON["RE"] && ++c >= ENVIRON["N"] { exit 0 }'"'"'' _ "$1" || fail "no line $3 /$2/ in $1: $(tail -n 5 "$1" 2>/dev/null | tr '\n' '|')"
}

# the Nth link up on each side
wait_up() {
	wait_log "$SRV/pedserver.log" "appliance hsm1 .*PED-initiated link up" "$1" "${2:-10}"
	wait_log "$PCD/pedclient.log" "pedserver ped1 .*PED-initiated link up" "$1" "${2:-10}"
}

# pedclient's config for PED-initiated links (before it starts)
pc_listen_conf() {
	mkdir -p "$1"
	printf '[PedInitiated]\nListen=1\nPort=%s\nIp=127.0.0.1\nHandshakeTimeout=%s\n' \
		"$2" "${3:-5}" >"$1/pedclient.conf"
}

tls_pair() {
	LPORT=$(free_port)
	SRV="$T/srv"
	PCD="$T/hsm"
	pc_listen_conf "$PCD" "$LPORT"
	# 1. each host makes its key and self-signed certificate
	pc -regen -commonname hsm-host -statedir "$PCD"
	[ "$RC" -eq 0 ] || fail "pedclient -regen: $OUT"
	PC_FP=$(echo "$OUT" | sed -n 's/^fingerprint (SHA-256): //p')
	RC=0
	OUT=$("$PS" -regen -commonname ped-host -curve 256 -statedir "$SRV" 2>&1) || RC=$?
	[ "$RC" -eq 0 ] || fail "pedserver -regen: $OUT"
	PS_FP=$(echo "$OUT" | sed -n 's/^fingerprint (SHA-256): //p')
	[ "$(stat -c %a "$SRV/tls.key")" = 600 ] || fail "pedserver key not 0600"
	[ "$(stat -c %a "$PCD/tls.key")" = 600 ] || fail "pedclient key not 0600"
	# 2. the certificate files change hands (the operator copies them)
	cp "$PCD/tls.crt" "$T/hsm-host.crt"
	cp "$SRV/tls.crt" "$T/ped-host.crt"
	# 3. each registers the other's
	RC=0
	OUT=$("$PS" -appliance register -name hsm1 -certificate "$T/hsm-host.crt" -ip 127.0.0.1 \
		-port "$LPORT" -statedir "$SRV" 2>&1) || RC=$?
	[ "$RC" -eq 0 ] || fail "appliance register: $OUT"
	assert_contains "$PC_FP" "$OUT"
	pc -pedserver register -name ped1 -certificate "$T/ped-host.crt" -statedir "$PCD"
	[ "$RC" -eq 0 ] || fail "pedserver register: $OUT"
	assert_contains "$PS_FP" "$OUT"
	# 4. both daemons run; pedserver connects out
	start_pc hsm ${PC_ARGS:-}
	RC=0
	SPORT=${SPORT:-$(free_port)}
	# -hsmpolicy any: the HSM allowlist is not what these tests prove
	OUT=$("$PS" -mode start -hsmpolicy any -statedir "$SRV" -port "$SPORT" -admin "$(free_port)" \
		-ped "$EMU_far_LINK" ${PS_ARGS:-} 2>&1) || RC=$?
	[ "$RC" -eq 0 ] || fail "pedserver start: $OUT"
}
