#!/bin/sh
# protocol_examples.sh - the worked examples of docs/PROTOCOL.md (§1.7, §1.9,
# §1.10, §2.2.1) against a derivation that shares no code with the project
# (tests/tools/protocol_kat.py: pure-Python P-521 and GF(2^8), hashlib/hmac,
# AES through the openssl command), and against the constants with which
# tests/unit/kat_test.c pins the C code. A value changed in any of the three
# fails here; a document block removed or mislabelled fails too.
. "$(dirname "$0")/lib.sh"

KAT=tests/tools/protocol_kat.py
python3 "$KAT" --check docs/PROTOCOL.md tests/unit/kat_test.c >"$T/check.log" 2>&1 ||
	fail "examples differ: $(cat "$T/check.log")"
n=$(sed -n 's/^protocol_kat: \([0-9]*\) values, 0 mismatches$/\1/p' "$T/check.log")
[ -n "$n" ] && [ "$n" -ge 29 ] || fail "unexpected checker output: $(cat "$T/check.log")"
note "$n values of PROTOCOL.md agree with the independent derivation and kat_test.c"

# The checker must notice a changed value: one hex digit of the document's
# MacKey and of kat_test.c's One-Pass CWK_VU, each in a copy.
sed 's/^    b6a180672d9118a8/    b6a180672d9118a9/' docs/PROTOCOL.md >"$T/doc.md"
if python3 "$KAT" --check "$T/doc.md" tests/unit/kat_test.c >"$T/bad1.log" 2>&1; then
	fail "a changed MacKey in the document went unnoticed"
fi
assert_contains "MacKey differs" "$(cat "$T/bad1.log")"
sed 's/"6a79b23f7df1e862/"6a79b23f7df1e863/' tests/unit/kat_test.c >"$T/kat.c"
if python3 "$KAT" --check docs/PROTOCOL.md "$T/kat.c" >"$T/bad2.log" 2>&1; then
	fail "a changed kat_test.c constant went unnoticed"
fi
assert_contains "kat_op_cwk_vu" "$(cat "$T/bad2.log")"
note "a changed value in either file is caught"
