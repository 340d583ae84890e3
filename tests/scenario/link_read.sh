#!/bin/sh
# link_read.sh - the PED link end to end (pedlink -> tty backend -> pedemu):
# hello, status, a 3-of-5 blue keyset created with PINs, read back with two
# different subsets of 3 keys (same secret), and a wrong PIN on one key (a
# different secret: the PED cannot tell, only the HSM can).
. "$(dirname "$0")/lib_link.sh"

start_pedemu -mode local

out=$(ll_pedlink hello) || fail "hello: $out"
assert_contains "result OK" "$out"
echo "$out" | grep -q '^hello version 1 firmware .* serial .* model ' || fail "hello: $out"
ok "hello"

out=$(ll_pedlink status) || fail "status: $out"
echo "$out" | grep -q '^status mode local key 0 busy 0 ' || fail "status: $out"
ok "status"

out=$(ll_pedlink -pedwritelay 2000 status) || fail "status with -pedwritelay: $out"
assert_contains "result OK" "$out"
out=$(ll_pedlink -pedwritelay 10001 hello 2>&1) && fail "-pedwritelay 10001 accepted"
assert_contains "OUT_OF_RANGE" "$out"
ok "-pedwritelay 2000 works, 10001 is refused"

fp=$(ll_create create blue 3 5 so 12345678)
grep -q '^event need-shares 3/5$' "$T/create.log" || fail "no need-shares event"
grep -q '^keyset [0-9a-f]\{32\} m 3 n 5$' "$T/create.log" || fail "create: no keyset line"
grep -q '^written 5$' "$T/create.log" || fail "create: not 5 keys written"
[ -n "$fp" ] || fail "create: no fingerprint"
ok "created a 3-of-5 blue keyset, fingerprint $fp"

fp1=$(ll_read_keys read1 blue so1:12345678 so2:12345678 so3:12345678)
[ "$fp1" = "$fp" ] || fail "keys 1-3 give $fp1, not $fp"
grep -q '^event keys-read 3/3$' "$T/read1.log" || fail "read1: no keys-read 3/3"
grep -q '^event prompt: .*Enter PED PIN' "$T/read1.log" || fail "read1: no PIN prompt"
ok "keys 1,2,3 give the secret back"

fp2=$(ll_read_keys read2 blue so5:12345678 so3:12345678 so4:12345678)
[ "$fp2" = "$fp" ] || fail "keys 5,3,4 give $fp2, not $fp"
ok "keys 5,3,4 give the same secret"

fp3=$(ll_read_keys read3 blue so1:12345678 so2:87654321 so4:12345678)
grep -q '^result OK$' "$T/read3.log" || fail "wrong PIN: the PED should not notice"
[ -n "$fp3" ] && [ "$fp3" != "$fp" ] || fail "a wrong PIN gave fingerprint '$fp3'"
ok "a wrong PIN gives another secret (only the HSM can tell)"

ctl_wait "Awaiting command" 3000
ok "PED idle"
