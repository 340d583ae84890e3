#!/bin/sh
# multi_slot.sh - several HSMs in one Remote PED sitting (issue 16): two
# slots whose RPVs share one orange key (reused at RPV initialization), each
# with its own SO key; one pedhsm run
#   pedhsm -slot 0,1 ped connect ... ';' role login -name so ';' ped disconnect
# connects, logs in and disconnects slot 0, then slot 1, naming the slot at
# every step; the orange key is presented once (the remote PED caches its
# RPK), each SO key once; both slots end logged in. A bad slot list is refused.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_client.sh"

ok() { echo "ok: $*"; }
start_pedemu local -mode local
start_pedemu far -mode remote

start_pc hsm -localped "$EMU_local_LINK" -slots 2
export CTL_SOCK=$EMU_local_SOCK
note "slot 0: a new orange key; slot 1: the same orange key reused; an SO key each"
hsm_bg v0 -slot 0 ped vector init
ped_mn 1 1
ped_write_keys o 1 -
ctl_wait "duplicating" 5000
ctl press NO >/dev/null
hsm_done v0 || fail "vector init slot 0: $OUT"
hsm_bg v1 -slot 1 ped vector init
ctl_wait "reuse an existing" 5000
ctl press YES >/dev/null
ctl_wait "PED Key (ORANGE)" 5000
ped_key o1 -
ctl_wait "duplicating" 5000
ctl press NO >/dev/null
hsm_done v1 || fail "vector init slot 1 (reuse): $OUT"
for s in 0 1; do
	hsm_bg i$s -slot $s hsm init -label HA$s
	ped_hsm_init 1 1 s${s}b - s${s}r
	hsm_done i$s || fail "hsm init slot $s: $OUT"
done
for k in o1 s0b1 s1b1; do cp "$T/local.keys/$k.key" "$T/far.keys/$k.key"; done
ok "two HSMs, one orange key"

SPORT=$(free_port)
o=$("$PS" -mode start -hsmpolicy any -statedir "$T/srv" -port "$SPORT" -admin "$(free_port)" \
	-ped "$EMU_far_LINK" 2>&1) || fail "pedserver: $o"
export CTL_SOCK=$EMU_far_SOCK

note "one sitting: ped connect, role login -name so, ped disconnect on slots 0 and 1"
hsm_bg sit -slot 0,1 ped connect -ip 127.0.0.1 -port "$SPORT" ';' role login -name so ';' \
	ped disconnect
hsm_line sit '^=== Slot 0: ped connect -ip 127.0.0.1 -port [0-9]+ ===$'
ctl_wait "PED Key (ORANGE)" 5000
ped_key o1 -
hsm_line sit '^=== Slot 0: role login -name so ===$'
ctl_wait "PED Key (BLUE)" 5000
ped_key s0b1 -
hsm_line sit '^=== Slot 1: role login -name so ===$'
ctl_wait "PED Key (BLUE)" 5000
ped_key s1b1 -
hsm_done sit || fail "the sitting failed: $OUT"
assert_contains "=== Slot 1: ped connect -ip 127.0.0.1 -port $SPORT ===" "$OUT"
assert_contains "=== Slot 1: ped disconnect ===" "$OUT"
assert_contains "=== Sitting: slot 0 passed, slot 1 passed ===" "$OUT"
[ "$(grep -c 'HSM Security Officer logged in.' <<<"$OUT")" = 2 ] || fail "two logins: $OUT"
[ "$(grep -c 'key o1 inserted' "$T/far.err")" = 1 ] || fail "orange key presented again: $(cat "$T/far.err")"
grep -q 'READ_RPK #[0-9]*: cached' "$T/far.err" || fail "slot 1 not from the cached RPK: $(cat "$T/far.err")"
for s in 0 1; do
	hsm_run -slot $s hsm show
	grep -qE "SO +1 of 1 keyset, .*logged in" <<<"$OUT" || fail "slot $s: SO not logged in: $OUT"
done
ok "one sitting: 2 slots connected, logged in, disconnected; the orange key presented once"

note "a bad slot list is refused before anything runs"
RC=0
OUT=$("$PH" -statedir "$PC_DIR" -slot 0,0 ped show 2>&1) || RC=$?
[ "$RC" = 2 ] || fail "duplicate slot accepted: $OUT"
RC=0
OUT=$("$PH" -statedir "$PC_DIR" -slot 0,x ped show 2>&1) || RC=$?
[ "$RC" = 2 ] || fail "bad slot accepted: $OUT"
ok "-slot 0,0 and -slot 0,x refused"
echo "PASS multi_slot"
