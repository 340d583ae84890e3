#!/bin/sh
# tls_refuse.sh - PED-initiated links that must not come up (issue 14, Bad
# input), real processes on loopback:
#   pedclient does not know pedserver's certificate: pedclient refuses it,
#     both logs name the fingerprint pedserver offered, pedserver retries
#     (CERT_NOT_REGISTERED as its last error) and nothing reaches the PED;
#   pedserver registered another certificate for the appliance: pedserver
#     refuses the appliance's, both logs name what was offered;
#   a silent peer on either side is dropped at the handshake deadline.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_client.sh"
. "$(dirname "$0")/lib_tls.sh"
ok() { echo "ok: $*"; }

start_pedemu far -mode remote
PC_ARGS=""
PS_ARGS="-handshaketimeout 1"
tls_pair
PSLOG="$SRV/pedserver.log"
PCLOG="$PCD/pedclient.log"

note "pedclient without pedserver's certificate"
pc -pedserver delete -name ped1 -statedir "$PCD"
[ "$RC" -eq 0 ] || fail "pedserver delete: $OUT"
assert_contains "$PS_FP" "$OUT"
RC=0
OUT=$("$PS" -mode connect -name hsm1 -statedir "$SRV" 2>&1) || RC=$?
[ "$RC" -eq 0 ] || fail "-mode connect: $OUT"
wait_log "$PCLOG" "offered an unregistered certificate \\(fingerprint $PS_FP\\)" 1
wait_log "$PSLOG" "refused this host's certificate \\(fingerprint $PS_FP\\).*CERT_NOT_REGISTERED" 1
# it keeps trying with back-off: a second refusal
wait_log "$PCLOG" "offered an unregistered certificate" 2
OUT=$("$PS" -mode show -statedir "$SRV" -name hsm1 2>&1)
assert_contains "CERT_NOT_REGISTERED" "$OUT"
assert_not_contains "PED-initiated link up" "$(cat "$PSLOG" "$PCLOG")"
assert_not_contains "session" "$(cat "$PSLOG")"
ok "unregistered pedserver certificate: refused by pedclient, fingerprint in both logs, PED untouched"

note "registered again: the next retry succeeds"
pc -pedserver register -name ped1 -certificate "$T/ped-host.crt" -statedir "$PCD"
[ "$RC" -eq 0 ] || fail "register again: $OUT"
wait_up 1 40
RC=0
"$PS" -mode disconnect -name hsm1 -statedir "$SRV" >/dev/null 2>&1 || RC=$?
[ "$RC" -eq 0 ] || fail "-mode disconnect failed"
ok "after registration the back-off retry brings the link up"

note "pedserver registered another certificate for the appliance"
mkdir -p "$T/other"
"$PC" -regen -commonname impostor -statedir "$T/other" >/dev/null
"$PS" -appliance delete -name hsm1 -statedir "$SRV" >/dev/null
RC=0
OUT=$("$PS" -appliance register -name hsm1 -certificate "$T/other/tls.crt" -ip 127.0.0.1 \
	-port "$LPORT" -statedir "$SRV" 2>&1) || RC=$?
[ "$RC" -eq 0 ] || fail "register other: $OUT"
"$PS" -mode connect -name hsm1 -statedir "$SRV" >/dev/null
wait_log "$PSLOG" "offered an unregistered certificate \\(fingerprint $PC_FP\\)" 1
wait_log "$PCLOG" "TLS handshake with .* failed: .*this host offered $PC_FP" 1
[ "$(grep -c 'PED-initiated link up' "$PSLOG")" -eq 1 ] || fail "a link came up with a wrong pin"
"$PS" -mode disconnect -name hsm1 -statedir "$SRV" >/dev/null
ok "wrong appliance certificate: refused by pedserver, fingerprints in both logs"

note "silent peers are dropped at the handshake deadline"
# a TCP client that never starts TLS, against pedclient (HandshakeTimeout 1)
RC=0
"$PC" -mode stop -statedir "$PCD" >/dev/null 2>&1 || RC=$?
pc_listen_conf "$PCD" "$LPORT" 1
start_pc hsm
exec {SIL}<>/dev/tcp/127.0.0.1/"$LPORT"
wait_log "$PCLOG" "did not finish the TLS handshake within 1000 ms.*TLS_HANDSHAKE_TIMEOUT" 1 5
exec {SIL}>&-
# a listener that accepts and never answers, against pedserver
SPORT=$(free_port)
python3 -c 'import socket,sys
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); c=[]
while True: c.append(s.accept())' "$SPORT" &
_lc_pids="$_lc_pids $!"
"$PS" -appliance register -name mute -certificate "$T/hsm-host.crt" -ip 127.0.0.1 \
	-port "$SPORT" -statedir "$SRV" >/dev/null
"$PS" -mode connect -name mute -statedir "$SRV" >/dev/null
wait_log "$PSLOG" "appliance mute .*did not finish the TLS handshake within 1000 ms \\(TLS_HANDSHAKE_TIMEOUT\\)" 1 5
ok "a silent TLS peer is dropped at the handshake deadline on both sides"
