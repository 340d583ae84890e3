#!/bin/sh
# tls_registry.sh - certificates and registrations of PED-initiated mode
# (issue 14): -regen (modes, -force, P-256/P-521), the 20-registration limit,
# duplicate names, malformed certificate files, delete, -mode connect to an
# unknown name, registrations through the running daemon (its audit chain
# stays whole), a -regen on the PED host: the appliance refuses the new
# certificate until it is registered there; a deleted appliance is no
# longer dialled once its link ends.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_client.sh"
. "$(dirname "$0")/lib_tls.sh"
ok() { echo "ok: $*"; }

psr() {
	RC=0
	OUT=$("$PS" "$@" 2>&1) || RC=$?
}

D="$T/reg"
psr -regen -statedir "$D"
[ "$RC" -eq 2 ] || fail "-regen without -commonname: exit $RC: $OUT"
psr -regen -commonname a -statedir "$D"
[ "$RC" -eq 0 ] || fail "regen: $OUT"
FP1=$(echo "$OUT" | sed -n 's/^fingerprint (SHA-256): //p')
[ ${#FP1} -eq 64 ] || fail "no fingerprint printed: $OUT"
[ "$(stat -c %a "$D/tls.key")" = 600 ] || fail "key mode $(stat -c %a "$D/tls.key")"
openssl x509 -in "$D/tls.crt" -noout -text | grep -q "NIST CURVE: P-521" || fail "default curve not P-521"
psr -regen -commonname b -statedir "$D"
[ "$RC" -eq 1 ] || fail "regen over an existing key: exit $RC"
assert_contains "CERTIFICATE_EXISTS" "$OUT"
[ "$(openssl x509 -in "$D/tls.crt" -noout -fingerprint -sha256 | tr -d : | tr A-F a-f | sed 's/.*=//')" = "$FP1" ] ||
	fail "the refused regen changed the certificate"
psr -regen -commonname b -curve 256 -force -statedir "$D"
[ "$RC" -eq 0 ] || fail "regen -force: $OUT"
assert_not_contains "$FP1" "$OUT"
openssl x509 -in "$D/tls.crt" -noout -text | grep -q "NIST CURVE: P-256" || fail "-curve 256 not P-256"
ok "-regen: P-521 by default, 0600 key, fingerprint printed, -force needed to replace, -curve 256"

printf 'not a certificate\n' >"$T/bad.pem"
psr -appliance register -name bad -certificate "$T/bad.pem" -ip 127.0.0.1 -statedir "$D"
[ "$RC" -eq 1 ] || fail "malformed certificate: exit $RC"
assert_contains "BAD_CERTIFICATE" "$OUT"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/rsa.key" -out "$T/rsa.crt" -subj /CN=rsa \
	-days 1 2>/dev/null
psr -appliance register -name rsa -certificate "$T/rsa.crt" -ip 127.0.0.1 -statedir "$D"
[ "$RC" -eq 1 ] || fail "RSA certificate: exit $RC"
assert_contains "BAD_CERTIFICATE" "$OUT"
psr -appliance register -name nofile -certificate "$T/none.pem" -ip 127.0.0.1 -statedir "$D"
[ "$RC" -eq 1 ] || fail "missing file: exit $RC"
psr -appliance register -name x -certificate "$D/tls.crt" -statedir "$D"
[ "$RC" -eq 2 ] || fail "register without -ip: exit $RC"
psr -appliance register -name x -certificate "$D/tls.crt" -ip hsm.example -statedir "$D"
[ "$RC" -eq 2 ] || fail "register with a host name: exit $RC"
assert_contains "-ip: not an IPv4 or IPv6 address" "$OUT"
ok "malformed, RSA and missing certificate files: BAD_CERTIFICATE / NOT_FOUND (exit 1); usage errors exit 2"

for i in $(seq 1 20); do
	psr -appliance register -name "hsm$i" -certificate "$D/tls.crt" -ip "10.0.0.$i" -statedir "$D"
	[ "$RC" -eq 0 ] || fail "registration $i: $OUT"
done
psr -appliance register -name hsm21 -certificate "$D/tls.crt" -ip 10.0.0.21 -statedir "$D"
[ "$RC" -eq 1 ] || fail "21st registration: exit $RC"
assert_contains "TOO_MANY_REGISTRATIONS" "$OUT"
psr -appliance list -statedir "$D"
assert_contains "20 of 20 registered" "$OUT"
assert_contains "hsm20            10.0.0.20                9697" "$OUT"
psr -appliance delete -name hsm7 -statedir "$D"
[ "$RC" -eq 0 ] || fail "delete: $OUT"
psr -appliance register -name hsm3 -certificate "$D/tls.crt" -ip 10.0.0.3 -statedir "$D"
[ "$RC" -eq 1 ] || fail "duplicate name: exit $RC"
assert_contains "NAME_ALREADY_REGISTERED" "$OUT"
psr -appliance register -name hsm21 -certificate "$D/tls.crt" -ip 10.0.0.21 -port 7000 -statedir "$D"
[ "$RC" -eq 0 ] || fail "registration after a delete: $OUT"
psr -appliance delete -name hsm7 -statedir "$D"
[ "$RC" -eq 1 ] || fail "delete twice: exit $RC"
assert_contains "NAME_NOT_REGISTERED" "$OUT"
psr -appliance list -statedir "$D"
assert_not_contains "hsm7 " "$OUT"
assert_contains "hsm21            10.0.0.21                7000" "$OUT"
[ "$(stat -c %a "$D/appliances.list")" = 600 ] || fail "store mode"
"$PS" -mode audit -verify -statedir "$D" >/dev/null || fail "audit chain"
ok "20 registrations at most (TOO_MANY_REGISTRATIONS), unique names, delete, list, store 0600, audited"

note "through the running daemons; regen on the PED host"
start_pedemu far -mode remote
PC_ARGS=""
tls_pair
RC=0
OUT=$("$PS" -mode connect -name nosuch -statedir "$SRV" 2>&1) || RC=$?
[ "$RC" -eq 1 ] || fail "connect to an unknown name: exit $RC"
assert_contains "NAME_NOT_REGISTERED" "$OUT"
psr -appliance register -name hsm2 -certificate "$T/hsm-host.crt" -ip 127.0.0.1 -statedir "$SRV"
[ "$RC" -eq 0 ] || fail "register via the daemon: $OUT"
psr -appliance register -name hsm2 -certificate "$T/hsm-host.crt" -ip 127.0.0.1 -statedir "$SRV"
assert_contains "NAME_ALREADY_REGISTERED" "$OUT"
"$PS" -mode connect -name hsm1 -statedir "$SRV" >/dev/null || fail "connect"
wait_up 1
psr -regen -commonname ped-host-2 -force -statedir "$SRV"
[ "$RC" -eq 0 ] || fail "regen: $OUT"
NEWFP=$(echo "$OUT" | sed -n 's/^fingerprint (SHA-256): //p')
"$PS" -mode disconnect -name hsm1 -statedir "$SRV" >/dev/null
"$PS" -mode connect -name hsm1 -statedir "$SRV" >/dev/null
wait_log "$PCD/pedclient.log" "offered an unregistered certificate \\(fingerprint $NEWFP\\)" 1
pc -pedserver delete -name ped1 -statedir "$PCD"
[ "$RC" -eq 0 ] || fail "pedclient delete: $OUT"
pc -pedserver register -name ped1 -certificate "$SRV/tls.crt" -statedir "$PCD"
[ "$RC" -eq 0 ] || fail "pedclient register the new certificate: $OUT"
wait_up 2 40
pc -pedserver list -statedir "$PCD"
assert_contains "$NEWFP" "$OUT"
"$PS" -mode audit -verify -statedir "$SRV" >/dev/null || fail "pedserver audit chain"
pc -mode audit -verify -statedir "$PCD"
[ "$RC" -eq 0 ] || fail "pedclient audit chain: $OUT"
psr -appliance delete -name hsm1 -statedir "$SRV"
[ "$RC" -eq 0 ] || fail "delete while the link is up: $OUT"
pc -mode stop -statedir "$PCD"
wait_log "$SRV/pedserver.log" "appliance hsm1: .*no longer registered" 1
[ "$(link_state hsm1)" = disconnected ] || fail "a deleted appliance is still dialled"
"$PS" -mode stop -statedir "$SRV" >/dev/null
RC=0
OUT=$("$PS" -mode connect -name hsm1 -statedir "$SRV" 2>&1) || RC=$?
[ "$RC" -eq 3 ] || fail "connect with no daemon: exit $RC"
ok "unknown name refused; registrations through the daemon; after a regen the new certificate is refused until registered, then the link is up; a deleted appliance is no longer dialled; audit chains whole"
