#!/bin/sh
# session_basic.sh - the Remote PED session, pedserver side, with real
# pedemu + pedserver + sessclient (a minimal HSM side): the orange key opens
# a session and show lists the client and the cached RPK; a second HSM gets
# SERVER_BUSY naming the holder within 1 s while the first keeps its
# session; a relayed READ_KEYSET with a PIN; another HSM's orange key gives
# RPV_MISMATCH on both sides (logged in plain words) and the slot is free
# again for the right HSM; a LINK STATUS is answered RESULT BAD_REQUEST by
# pedserver itself (not relayed, PROTOCOL.md §3.6) and the session goes on.
. tests/scenario/lib_server.sh
PEDLINK=${PEDLINK:-$BUILD/tests/tools/pedlink}
[ -x "$PEDLINK" ] || fail "$PEDLINK not built"

start_pedemu -mode remote

note "setup over the PED link: RPVs of HSM A and HSM B, a blue keyset"
sc_rpv ra "$T/a.state" rpvA 13579
sc_rpv rb "$T/b.state" rpvB 24680
grep -q '^rpv created$' "$T/ra.log" || fail "rpv A: $(cat "$T/ra.log")"
# the orange key's read is cached by the PED (remote mode): forget A's read
ctl newkey blu1 >/dev/null
run_bg bl timeout 60 "$PEDLINK" -ped "$EMU_LINK" create blue -label blu
ctl_wait "M value?" 5000; ctl type 1 >/dev/null; ctl press ENTER >/dev/null
ctl_wait "N value?" 5000; ctl type 1 >/dev/null; ctl press ENTER >/dev/null
ctl_wait "Insert" 5000; _ctl_raw remove >/dev/null; ctl insert blu1 >/dev/null
ctl press ENTER >/dev/null
ctl_wait "Overwrite? YES/NO" 5000; ctl press YES >/dev/null
ctl_wait "Enter new PED PIN" 5000; ctl type 5678 >/dev/null; ctl press ENTER >/dev/null
ctl_wait "Confirm new PED PIN" 5000; ctl type 5678 >/dev/null; ctl press ENTER >/dev/null
ctl_wait "duplicating" 5000; ctl press NO >/dev/null
wait_bg bl 20 || fail "blue create: $(cat "$T/bl.log")"
BLUE_FP=$(sed -n 's/^fingerprint //p' "$T/bl.log")
_ctl_raw remove >/dev/null

ps_start s -hsmpolicy any -ped "$EMU_LINK"
D=$PS_DIR

note "HSM A: orange key -> open; show lists the client and RPK count 1"
sc_hold h1 "$T/a.state" -serial 1111
sc_key rpvA1 13579
sc_wait_line h1 '^open$'
ms=$(ps_show_until "$D" "HSM Serial Number:         1111" 2000) || fail "client not in show"
ps_run -mode show -statedir "$D"
assert_contains "Session State:             open" "$OUT"
assert_contains "Client IP:                 127.0.0.1:" "$OUT"
ms=$(ps_show_until "$D" "Ped2 RPK Count             1" 2000) || fail "RPK count not 1"
ps_run -mode show -statedir "$D" -json
assert_contains '"client":{"hsm_serial":"1111"' "$OUT"
assert_contains '"rpk_count":1' "$OUT"
grep -q '^ped-state 1$' "$T/h1.log" || fail "no PED_STATE at open"

note "busy: a second HSM gets SERVER_BUSY naming the holder within 1 s"
t0=$(date +%s%N)
out=$(timeout 10 "$SC" -port "$PS_PORT" -hsm "$T/b.state" -serial 2222 connect) && fail "busy connect exit 0"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -lt 1000 ] || fail "SERVER_BUSY after $ms ms"
assert_contains "busy HSM 1111 at 127.0.0.1 since " "$out"
assert_contains "result SERVER_BUSY" "$out"
note "  SERVER_BUSY after $ms ms"
grep -q "refused, the PED serves HSM 1111" "$D/pedserver.log" || fail "busy not logged"
ps_run -mode show -statedir "$D"
assert_contains "HSM Serial Number:         1111" "$OUT"
sc_release h1
wait_bg h1 10 || fail "h1: $(cat "$T/h1.log")"
grep -q '^result OK$' "$T/h1.log" || fail "h1: $(cat "$T/h1.log")"
ms=$(ps_show_until "$D" "Client Information:          Not Available" 2000) || fail "slot not freed"

note "relayed READ_KEYSET blue with its PIN through the session"
sc_run rd -hsm "$T/a.state" read blue
sc_wait_line rd '^open$'
sc_key blu1 5678
wait_bg rd 20 || fail "read: $(cat "$T/rd.log")"
grep -q "^fingerprint $BLUE_FP\$" "$T/rd.log" || fail "read fingerprint: $(cat "$T/rd.log") vs $BLUE_FP"
grep -q '^event prompt:' "$T/rd.log" || fail "no relayed events"
grep -q "relaying READ_KEYSET to the PED" "$D/pedserver.log" || fail "relay not logged"

note "another HSM's RPV: RPV_MISMATCH on both sides, slot free again"
sc_run wr -hsm "$T/b.state" -serial 2222 connect
wait_bg wr 20 && fail "wrong key: exit 0"
grep -q '^result RPV_MISMATCH$' "$T/wr.log" || fail "wrong key: $(cat "$T/wr.log")"
grep -q "HSM 2222): key confirmation failed: the orange key does not match this HSM" \
	"$D/pedserver.log" || fail "RPV mismatch not logged plainly"
sc_run ok -hsm "$T/a.state" connect
sc_key rpvA1 13579 # the PED forgot the mismatched key: asked again
wait_bg ok 20 || fail "right HSM after mismatch: $(cat "$T/ok.log")"
grep -q '^open$' "$T/ok.log" || fail "no open: $(cat "$T/ok.log")"

note "STATUS is not relayed: RESULT BAD_REQUEST under its id, the session lives on"
sc_run st -hsm "$T/a.state" status
wait_bg st 20 || fail "status: $(cat "$T/st.log")"
grep -q '^answer RESULT BAD_REQUEST$' "$T/st.log" || fail "status answer: $(cat "$T/st.log")"
grep -q '^pong$' "$T/st.log" || fail "no pong after STATUS: $(cat "$T/st.log")"
grep -q "PED request type 0x02 not relayed (BAD_REQUEST)" "$D/pedserver.log" ||
	fail "STATUS refusal not logged"

note "no secret in the log"
assert_not_contains "13579" "$(cat "$D/pedserver.log")"
ps_run -mode stop -statedir "$D"
assert_no_runtime "$D"
note "session_basic: all passed"
