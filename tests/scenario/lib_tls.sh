# lib_tls.sh - helpers for the PED-initiated link scenarios (tls_*.sh), on
# lib.sh and lib_client.sh:
#   tls_pair                 the walk-through's set-up: key and certificate on
#                            both hosts, certificates exchanged and registered,
#                            pedclient listening on LPORT, pedserver running
#                            (SRV = its state dir) with PED $EMU_far_LINK
#   link_state NAME          pedserver -mode show -name NAME: its "Link state"
#   wait_link NAME STATE [S] until that state (deadline S, default 10 s)
#   wait_pc_link [S]         until pedclient shows a link waiting for ped connect
[ -n "${_lib_exit_hooks+x}" ] || . tests/scenario/lib.sh

link_state() {
	"$PS" -mode show -statedir "$SRV" -name "$1" 2>&1 | sed -n 's/^Link state: *//p'
}

# Polls a status that has no event to wait on (a daemon's own state), with a
# deadline; each round is one admin call, so it paces itself.
wait_link() {
	local name=$1 want=$2 end=$((SECONDS + ${3:-10})) got=""
	while [ $SECONDS -lt $end ]; do
		got=$(link_state "$name")
		[ "$got" = "$want" ] && return 0
		timeout 0.2 tail -f /dev/null 2>/dev/null || true
	done
	fail "link $name: state '$got', expected '$want': $("$PS" -mode show -statedir "$SRV" -name "$name" 2>&1 | tr '\n' '|')"
}

wait_pc_link() {
	local end=$((SECONDS + ${1:-10}))
	while [ $SECONDS -lt $end ]; do
		pc -mode show -statedir "$PC_DIR"
		case "$OUT" in *"waiting for ped connect"*) return 0 ;; esac
		timeout 0.2 tail -f /dev/null 2>/dev/null || true
	done
	fail "no PED-initiated link at pedclient: $OUT"
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
	OUT=$("$PS" -mode start -statedir "$SRV" -port "$(free_port)" -admin "$(free_port)" \
		-ped "$EMU_far_LINK" 2>&1) || RC=$?
	[ "$RC" -eq 0 ] || fail "pedserver start: $OUT"
}
