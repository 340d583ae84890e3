#!/bin/sh
# ped_exclusive.sh - one PED, one owner (issue "a pedserver that can face a
# network", item 6): a second pedserver on the same host cannot open the PED
# that the first one holds; it says who holds it (pid and program), and the
# first keeps serving it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_client.sh"

ok() { echo "ok: $*"; }
start_pedemu far -mode remote
ps_start() {
	RC=0
	OUT=$("$PS" -mode start -statedir "$T/$1" -port "$(free_port)" -admin "$(free_port)" \
		-ped "$EMU_far_LINK" 2>&1) || RC=$?
}
ps_start one
[ "$RC" -eq 0 ] || fail "first pedserver: $OUT"
ONE=$(cat "$T/one/pedserver.pid")
wait_line_file() { timeout "$3" sh -c 'tail -n +1 -F "$1" 2>/dev/null | grep -q -m 1 -E -- "$2"' _ "$1" "$2"; }
wait_line_file "$T/one/pedserver.log" "PED connected on" 10 || fail "the first pedserver has no PED"

ps_start two
wait_line_file "$T/two/pedserver.log" "PED_IN_USE" 10 ||
	fail "the second pedserver did not say the PED is in use: $(tail -n 5 "$T/two/pedserver.log")"
grep -q "held by pid $ONE (pedserver)" "$T/two/pedserver.log" ||
	fail "the owner is not named: $(grep PED_IN_USE "$T/two/pedserver.log")"
"$PS" -mode show -statedir "$T/two" -json >"$T/two.json" 2>&1 || fail "show two"
[ "$(jq -r '.ped.connected' "$T/two.json")" = false ] || fail "two claims the PED: $(cat "$T/two.json")"
"$PS" -mode show -statedir "$T/one" -json >"$T/one.json" 2>&1 || fail "show one"
[ "$(jq -r '.ped.connected' "$T/one.json")" = true ] || fail "one lost the PED: $(cat "$T/one.json")"
ok "a second pedserver cannot take the PED; it names pid $ONE (pedserver)"
"$PS" -mode stop -statedir "$T/two" >/dev/null 2>&1 || true
"$PS" -mode stop -statedir "$T/one" >/dev/null 2>&1 || true
echo "ped_exclusive: all ok"
