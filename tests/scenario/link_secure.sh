#!/bin/sh
# link_secure.sh - the Local PED's secure link (pedlink -secure -> pedemu):
# One-Pass key agreement, then a 2-of-3 keyset with PINs created and read
# back with every CSP wrapped under the link's CWKs (same fingerprint, also
# over a plain link); the frame trace shows the key agreement and the share
# blobs arrive wrapped; a tampered KEX_CONFIRM gives KEY_CONFIRMATION_FAILED,
# shown on the PED, and the link stays plain.
. "$(dirname "$0")/lib_link.sh"

start_pedemu -mode local -loglevel trace

out=$(ll_pedlink -secure hello) || fail "secure hello: $out"
assert_contains "secured" "$out"
assert_contains "result OK" "$out"
ok "One-Pass key agreement: secured"

# Create over a secured link: the host's SHARES go wrapped under CWK_VU.
ll_newkeys so 3
ll_run create -secure -v create blue -label so
ll_wait_line create "^secured$"
ll_create_flow create 2 3 so 12345678
ll_finish create || fail "secure create: $(tail -n 3 "$T/create.log" | tr '\n' '|')"
grep -q '^result OK$' "$T/create.log" || fail "secure create: no result OK"
fp=$(ll_fp create)
[ -n "$fp" ] || fail "secure create: no fingerprint"
ok "2-of-3 blue keyset created over a secured link, fingerprint $fp"

assert_contains "secure 0" "$(ctl status)"
ok "the PED dropped the link keys when the host closed the link"

# Read over a secured link: the PED's RESULT carries wrapped share blobs.
ll_run read1 -secure -v read blue
ll_wait_line read1 "^secured$"
ll_read so1 12345678
ll_read so3 12345678
ll_finish read1 || fail "secure read: $(tail -n 3 "$T/read1.log" | tr '\n' '|')"
fp1=$(ll_fp read1)
[ "$fp1" = "$fp" ] || fail "secure read of keys 1,3 gives '$fp1', not $fp"
grep -q 'pedhost: 2 wrapped share blob(s) unwrapped' "$T/read1.log" ||
	fail "the read's share blobs did not arrive wrapped"
ok "secure read of keys 1,3 gives the same secret; the blobs arrived wrapped"

# The PED's own trace (frame types and sizes only, never contents).
for t in "in KEX_OFFER" "out KEX_ACCEPT" "in KEX_CONFIRM" "out KEX_DONE" "in SHARES"; do
	grep -q "link: $t #" "$T/emu.err" || fail "pedemu trace has no '$t'"
done
grep -q "KEX_CONFIRM #[0-9]*: link secured" "$T/emu.err" || fail "pedemu never secured the link"
ok "the link trace shows the key agreement and the wrapped exchange"

# The same keyset over a plain link still reads (unsecured links unchanged).
fp2=$(ll_read_keys read2 blue so2:12345678 so3:12345678)
[ "$fp2" = "$fp" ] || fail "plain read of keys 2,3 gives '$fp2', not $fp"
ok "a plain link reads the same secret"

# A tampered KEX_CONFIRM: the PED refuses the tag, says so, keeps no keys.
out=$(ll_pedlink -secure -tampertag status) && fail "tampered tag accepted: $out"
assert_contains "secure KEY_CONFIRMATION_FAILED" "$out"
assert_contains "result KEY_CONFIRMATION_FAILED" "$out"
assert_not_contains "secured" "$out"
ok "a tampered KEX_CONFIRM gives KEY_CONFIRMATION_FAILED"
ctl_wait "Secure link failed" 3000
ctl press LOG >/dev/null
ctl_wait "Key confirm failed" 3000
ctl press BACK >/dev/null
assert_contains "secure 0" "$(ctl status)"
ok "the PED shows the failure and holds no keys"

ctl_wait "Awaiting command" 3000
ok "PED idle"
