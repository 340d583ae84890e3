#!/bin/sh
# link_rpk.sh - the orange key (RPK) in Remote PED mode: read once with its
# PIN, then served from the PED's cache without any key prompt, then gone
# after FORGET_RPK.
. "$(dirname "$0")/lib_link.sh"

start_pedemu -mode remote

fp=$(ll_create co orange 1 1 rpv 13579)
[ -n "$fp" ] || fail "no orange keyset"
ok "orange keyset created"

fp1=$(ll_read_keys r1 orange rpv1:13579)
[ "$fp1" = "$fp" ] || fail "RPK read: $fp1, not $fp"
grep -q '^event prompt:.*Remote PED Vector' "$T/r1.log" || fail "first RPK read without prompt"
ok "first RPK read asks for the key"

_ctl_raw remove >/dev/null
out=$(ll_pedlink status) || fail "status: $out"
echo "$out" | grep -q '^status mode remote key 0 busy 0 .* rpk 1 ' || fail "status: $out"
out=$(ll_pedlink read orange) || fail "cached read: $out"
assert_not_contains "event" "$out"
echo "$out" | grep -q "^fingerprint $fp\$" || fail "cached read: $out"
ok "second RPK read comes from the cache, no key prompts"

out=$(ll_pedlink forget) || fail "forget: $out"
out=$(ll_pedlink status) || fail "status: $out"
assert_contains "rpk 0" "$out"
ll_run r3 read orange
ll_wait_line r3 '^event prompt:.*Remote PED Vector'
ctl press CLEAR >/dev/null
ll_finish r3 10 && fail "r3: exit 0"
grep -q '^result USER_CANCELLED$' "$T/r3.log" || fail "r3: $(tail -n 1 "$T/r3.log")"
ok "after FORGET_RPK the PED asks for the orange key again"
