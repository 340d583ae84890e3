#!/bin/sh
# allowlist.sh - the HSM allowlist (issue 11, 2b) with real processes: two
# pedclients (HSMs A and B, RPVs made on Local PEDs), a pedserver with its
# pedemu in Remote mode, pedhsm driving the HSMs:
#   HsmPolicy prompt (the default): the PED asks "Allow HSM <serial>?" with
#     the key's fingerprint; NO -> HSM_DECLINED, the PED timeout ->
#     PED_TIMEOUT, nothing recorded, the PED back at "Awaiting command"; YES
#     -> recorded "by ped", the orange key, the session opens; the next
#     connect is not asked again; show and show -json list it; pedhsm hsm
#     show prints the same fingerprint on the HSM side;
#   HsmPolicy list (config -set, SIGHUP): B -> HSM_NOT_ALLOWED at once, the
#     PED untouched; delete A by serial with the daemon running -> A refused;
#     add it back by fingerprint (running), delete and add with the daemon
#     stopped; bad fingerprint text (exit 2), unknown delete (exit 1),
#     duplicate add (exit 1), each with its named error;
#   password mode (an HSM without RPV): no question, recorded "by password";
#     while its handshake holds the PED a busy answer says "a connection
#     from 127.0.0.1 in handshake" (no serial before a proof);
#   HsmPolicy tofu: A, the first, is recorded "by tofu"; B refused;
#   the audit trail has every change (allowlist, config -set with the daemon
#   running and stopped) and still verifies.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_client.sh"

[ -x "$PH" ] || fail "$PH not built (make BUILD=$BUILD $PH)"
[ -x "$PS" ] || fail "$PS not built (make BUILD=$BUILD $PS)"
command -v jq >/dev/null || fail "jq is needed"
ok() { echo "ok: $*"; }

start_pedemu local -mode local
start_pedemu localb -mode local
start_pedemu far -mode remote
FAR_SOCK=$EMU_far_SOCK
OPIN=13579

serial_of() {
	timeout 10 "$PH" -statedir "$1" slot list | sed -n 's/^Slot 0: serial \([0-9]*\),.*/\1/p'
}

start_pc hsma -localped "$EMU_local_LINK"
A=$PC_DIR
make_rpv oa local
SA=$(serial_of "$A")
start_pc hsmb -localped "$EMU_localb_LINK"
B=$PC_DIR
make_rpv ob localb
SB=$(serial_of "$B")
[ -n "$SA" ] && [ -n "$SB" ] || fail "no HSM serials"

S=$T/srv
SPORT=$(free_port)
ps_start() {
	RC=0
	OUT=$("$PS" -mode start -statedir "$S" -port "$SPORT" -admin "$(free_port)" \
		-ped "$EMU_far_LINK" -pedoperationtimeout 3 "$@" 2>&1) || RC=$?
	[ "$RC" -eq 0 ] || fail "pedserver start: $OUT"
}
ps_cmd() {
	RC=0
	OUT=$("$PS" -statedir "$S" "$@" 2>&1) || RC=$?
}
# connect NAME DIR: ped connect from the HSM in DIR (in the background)
connect() {
	PC_DIR=$2
	hsm_bg "$1" ped connect -ip 127.0.0.1 -port "$SPORT"
}
awaiting() {
	ctl_wait "Awaiting command" 5000
	ctl screen | grep -q "Allow HSM" && fail "the PED still asks: $(ctl screen | tr '\n' '|')"
	return 0
}
export CTL_SOCK=$FAR_SOCK
ps_start
ps_cmd -mode config -show
echo "$OUT" | grep -qE "^HsmPolicy +=  *prompt" || fail "default policy: $OUT"

note "prompt: NO on the PED -> HSM_DECLINED, nothing recorded"
connect c1 "$A"
ctl_wait "HSM $SA" 5000
SCREEN=$(ctl screen)
echo "$SCREEN" | grep -q "Allow HSM?" || fail "no question: $SCREEN"
echo "$SCREEN" | grep -q "^YES/NO" || fail "no YES/NO: $SCREEN"
FPLINE=$(echo "$SCREEN" | grep -E '^[0-9a-f]{4} [0-9a-f]{4} [0-9a-f]{4} [0-9a-f]{4}$' | head -n 1)
[ -n "$FPLINE" ] || fail "no fingerprint on the PED: $SCREEN"
grep -q "asking the key holder on the PED to allow key" "$S/pedserver.log" || fail "not logged"
ctl press NO >/dev/null
hsm_done c1 && fail "a declined HSM connected: $OUT"
assert_contains "HSM_DECLINED" "$OUT"
awaiting
ps_cmd -hsm list
[ "$RC" -eq 0 ] || fail "-hsm list: $OUT"
assert_contains "HSM allowlist: 0 entries, policy prompt" "$OUT"
ok "NO on the PED: HSM_DECLINED, nothing recorded, the PED awaits a command"

note "prompt: no answer -> PED_TIMEOUT"
connect c2 "$A"
ctl_wait "HSM $SA" 5000
hsm_done c2 && fail "an unanswered HSM connected: $OUT"
assert_contains "PED_TIMEOUT" "$OUT"
awaiting
ps_cmd -hsm list
assert_contains "0 entries" "$OUT"
ok "no answer: PED_TIMEOUT, nothing recorded"

note "prompt: YES -> recorded, then the orange key, the session opens"
connect c3 "$A"
ctl_wait "HSM $SA" 5000
ctl press YES >/dev/null
ctl_wait "PED Key (ORANGE)" 5000
ped_key oa1 $OPIN
hsm_done c3 || fail "ped connect after YES: $OUT"
assert_contains "Command Result : No Error" "$OUT"
ps_cmd -hsm list
assert_contains "HSM allowlist: 1 entry, policy prompt" "$OUT"
assert_contains "HSM $SA, added" "$OUT"
assert_contains "by ped, key" "$OUT"
FP=$(echo "$OUT" | sed -n 's/.*, key \([0-9a-f:]*\)$/\1/p')
echo "$FP" | tr -d ':' | grep -qE '^[0-9a-f]{64}$' || fail "no fingerprint listed: $OUT"
case "$FP" in "$(echo "$FPLINE" | tr ' ' ':')"*) ;; *) fail "PED showed $FPLINE, list says $FP" ;; esac
# the HSM's operator reads the same fingerprint on the HSM side
PC_DIR=$A
hsm_run hsm show
assert_contains "Key Fingerprint:    $FP" "$OUT"
ps_cmd -mode show
assert_contains "HSM Policy, Allowlist:" "$OUT"
assert_contains "HSM $SA, added" "$OUT"
ps_cmd -mode show -json
[ "$(jq -r '.allowlist.policy' <<<"$OUT")" = prompt ] || fail "show -json: $OUT"
[ "$(jq -r '.allowlist.hsms[0].serial' <<<"$OUT")" = "$SA" ] || fail "show -json: $OUT"
[ "$(jq -r '.allowlist.hsms[0].fingerprint' <<<"$OUT")" = "$FP" ] || fail "show -json: $OUT"
ok "YES: recorded by ped ($FP), the session opened; show and show -json list it"

note "a busy server names the HSM that proved its key"
connect c4 "$B"
hsm_done c4 && fail "B got in while A holds the server: $OUT"
assert_contains "SERVER_BUSY" "$OUT"
assert_contains "HSM $SA at 127.0.0.1" "$OUT"
PC_DIR=$A
hsm_run ped disconnect
[ "$RC" -eq 0 ] || fail "ped disconnect: $OUT"
N0=$(grep -c "asking the key holder" "$S/pedserver.log")
connect c5 "$A"
hsm_done c5 || fail "the allowed HSM's second connect: $OUT"
[ "$(grep -c "asking the key holder" "$S/pedserver.log")" = "$N0" ] || fail "asked again"
PC_DIR=$A
hsm_run ped disconnect
ok "an allowed HSM is not asked again"

note "list: a stranger is refused at once, the PED untouched"
ps_cmd -mode config -set -hsmpolicy list
[ "$RC" -eq 0 ] || fail "config -set: $OUT"
kill -HUP "$(cat "$S/pedserver.pid")"
timeout 10 sh -c 'tail -n +1 -f "$1" | grep -q -m 1 "reload: applied .*HsmPolicy"' _ \
	"$S/pedserver.log" || fail "the reload did not apply HsmPolicy"
ps_cmd -hsm list
assert_contains "policy list" "$OUT"
NREQ=$(grep -c "ALLOW_HSM\|READ_RPK" "$T/far.err" || true)
connect c6 "$B"
hsm_done c6 && fail "a stranger connected under list: $OUT"
assert_contains "HSM_NOT_ALLOWED" "$OUT"
[ "$(grep -c "ALLOW_HSM\|READ_RPK" "$T/far.err" || true)" = "$NREQ" ] || fail "the PED was asked"
awaiting
grep -q "refused before the PED (HsmPolicy list): .*HSM_NOT_ALLOWED" "$S/pedserver.log" ||
	fail "the refusal is not logged"
ok "list: HSM_NOT_ALLOWED, no PED request, the PED awaits a command"

note "management with the daemon running"
ps_cmd -hsm delete -serial "$SA"
[ "$RC" -eq 0 ] || fail "delete -serial: $OUT"
assert_contains "1 entry deleted" "$OUT"
connect c7 "$A"
hsm_done c7 && fail "a deleted HSM connected: $OUT"
assert_contains "HSM_NOT_ALLOWED" "$OUT"
ps_cmd -hsm add -fingerprint "$FP" -serial "$SA" -name lab-a
[ "$RC" -eq 0 ] || fail "add (running): $OUT"
connect c8 "$A"
hsm_done c8 || fail "re-added HSM refused: $OUT"
PC_DIR=$A
hsm_run ped disconnect
ps_cmd -hsm add -fingerprint "$FP" -serial "$SA"
[ "$RC" -eq 1 ] || fail "duplicate add: $RC $OUT"
assert_contains "ALREADY_EXISTS" "$OUT"
ps_cmd -hsm add -fingerprint "12:34" -serial "$SA"
[ "$RC" -eq 2 ] || fail "bad fingerprint: $RC $OUT"
assert_contains "BAD_FINGERPRINT" "$OUT"
ps_cmd -hsm delete -serial 999999
[ "$RC" -eq 1 ] || fail "unknown delete: $RC $OUT"
assert_contains "NOT_FOUND" "$OUT"
ps_cmd -hsm delete -fingerprint "$(printf '%064d' 0)"
[ "$RC" -eq 1 ] || fail "unknown delete: $RC $OUT"
assert_contains "NOT_FOUND" "$OUT"
ok "running: delete/add take effect at once; ALREADY_EXISTS 1, BAD_FINGERPRINT 2, NOT_FOUND 1"

note "management with the daemon stopped"
ps_cmd -mode stop
[ "$RC" -eq 0 ] || fail "stop: $OUT"
ps_cmd -hsm list
[ "$RC" -eq 0 ] || fail "list (stopped): $OUT"
assert_contains "1 entry (pedserver is not running)" "$OUT"
assert_contains "HSM $SA (lab-a)" "$OUT"
ps_cmd -hsm delete -fingerprint "$(echo "$FP" | tr 'a-f' 'A-F')"
[ "$RC" -eq 0 ] || fail "delete (stopped): $OUT"
ps_cmd -hsm add -fingerprint "$FP" -serial "$SA" -name desk-a
[ "$RC" -eq 0 ] || fail "add (stopped): $OUT"
ps_cmd -hsm add -fingerprint "nothex" -serial 1
[ "$RC" -eq 2 ] || fail "bad fingerprint (stopped): $RC $OUT"
ps_cmd -hsm delete -serial 999999
[ "$RC" -eq 1 ] || fail "unknown delete (stopped): $RC $OUT"
ps_start
ps_cmd -hsm list
assert_contains "HSM $SA (desk-a), added" "$OUT"
assert_contains "policy list" "$OUT"
connect c9 "$A"
hsm_done c9 || fail "HSM added offline refused: $OUT"
PC_DIR=$A
hsm_run ped disconnect
ok "stopped: list, delete, add edit the file; the restarted daemon uses it"

note "the audit trail has every change"
ps_cmd -mode stop
for ev in hsm_prompt hsm_allow_add hsm_allow_delete; do
	grep -q "\"event\":\"$ev\"" "$S/audit.log" || fail "no $ev in the audit trail"
done
[ "$(grep -c '"event":"hsm_allow_add"' "$S/audit.log")" -ge 3 ] || fail "adds missing"
grep -q '"result":"HSM_DECLINED"' "$S/audit.log" || fail "the NO is not audited"
grep -q '"event":"config_set","changes":"HsmPolicy=prompt->list"' "$S/audit.log" ||
	fail "config -set (daemon running) is not audited"
ps_cmd -mode audit -verify
[ "$RC" -eq 0 ] || fail "audit -verify: $OUT"
ok "audit: prompts, adds and deletes recorded; the chain verifies"

note "password mode: not asked; under prompt the HSM is recorded when the session opens"
ps_cmd -mode config -set -hsmpolicy prompt
ps_start
start_pc hsmc
C=$PC_DIR
SC=$(serial_of "$C")
PC_DIR=$C
hsm_bg p1 ped connect -ip 127.0.0.1 -port "$SPORT" -password 86420135
ctl_wait "Enter PED Password" 5000
# C has proved no key yet: a busy answer does not repeat its claimed serial
connect p2 "$A"
hsm_done p2 && fail "A got in during C's password handshake: $OUT"
assert_contains "SERVER_BUSY" "$OUT"
assert_contains "a connection from 127.0.0.1 in handshake" "$OUT"
case "$OUT" in *"$SC"*) fail "the unproved serial $SC was named: $OUT" ;; esac
ctl type 86420135 >/dev/null
ctl press ENTER >/dev/null
hsm_done p1 || fail "password session: $OUT"
PC_DIR=$C
hsm_run ped disconnect
grep -q '"event":"config_set","changes":"HsmPolicy=list->prompt"' "$S/audit.log" ||
	fail "config -set (daemon stopped) is not audited"
ps_cmd -hsm list
assert_contains "HSM $SC, added" "$OUT"
assert_contains "by password" "$OUT"
ps_cmd -mode stop
ps_cmd -mode audit -verify
[ "$RC" -eq 0 ] || fail "audit -verify after the CLI's own records: $OUT"
ok "password mode: no Allow question; HSM $SC recorded by password"

note "tofu: the first HSM is recorded, later strangers refused"
S=$T/srv2
SPORT=$(free_port)
ps_start -hsmpolicy tofu
connect t1 "$A"
hsm_done t1 || fail "tofu: the first HSM refused: $OUT"
PC_DIR=$A
hsm_run ped disconnect
ps_cmd -hsm list
assert_contains "1 entry, policy tofu" "$OUT"
assert_contains "HSM $SA, added" "$OUT"
assert_contains "by tofu" "$OUT"
connect t2 "$B"
hsm_done t2 && fail "tofu: a second HSM connected: $OUT"
assert_contains "HSM_NOT_ALLOWED" "$OUT"
awaiting
ok "tofu: A recorded by tofu, B refused with HSM_NOT_ALLOWED"
echo "allowlist: all ok"
