#!/bin/sh
# audit_trail.sh - the ceremony audit trail of both daemons with real
# processes: pedclient (RPV made with a Local PED), pedserver with its pedemu
# in Remote mode, pedhsm driving ped connect, hsm init (2 of 3) and an SO
# login through the session, ped disconnect, both daemons stopped. Then:
#   each daemon's audit.log holds start, the session's open and close with
#   both identities, each PED operation (kind, role, keyset, M/N, key serials,
#   result), the keys written, stop; never a PIN;
#   -mode audit -verify passes on the untouched trail (exit 0) and names the
#   record after editing, deleting or swapping one line (exit 1);
#   a torn last record (a crash while writing) is cut at the next start and
#   the chain goes on.
# Every wait is on an event (LCD text, an output line, a process exit).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_client.sh"

[ -x "$PH" ] || fail "$PH not built (make BUILD=$BUILD $PH)"
[ -x "$PS" ] || fail "$PS not built (make BUILD=$BUILD $PS)"
command -v jq >/dev/null || fail "jq is needed"
ok() { echo "ok: $*"; }

start_pedemu local -mode local
start_pedemu far -mode remote

OPIN=13579
SOPIN=24680
start_pc hsma -localped "$EMU_local_LINK"
A=$PC_DIR
make_rpv oa local
SA=$(timeout 10 "$PH" -statedir "$A" slot list | sed -n 's/^Slot 0: serial \([0-9]*\),.*/\1/p')
[ -n "$SA" ] || fail "no slot serial"

SPORT=$(free_port)
S=$T/srv
RC=0
OUT=$("$PS" -mode start -hsmpolicy any -statedir "$S" -port "$SPORT" -admin "$(free_port)" \
	-ped "$EMU_far_LINK" 2>&1) || RC=$?
[ "$RC" -eq 0 ] || fail "pedserver start: $OUT"
export CTL_SOCK=$EMU_far_SOCK

ped_connect oa1 "$SPORT"
hsm_bg hi hsm init -label AUDITED
ped_hsm_init 2 3 b $SOPIN r
hsm_done hi || fail "hsm init over the session: $OUT"
hsm_bg l1 role login -name so
ctl_wait "PED Key (BLUE)" 5000
ped_key b1 $SOPIN
ctl_wait "Keys read: 01 of 02" 5000
ped_key b2 $SOPIN
hsm_done l1 || fail "SO login: $OUT"
hsm_run ped disconnect
[ "$RC" -eq 0 ] || fail "ped disconnect: $OUT"
pc -mode stop -statedir "$A"
[ "$RC" -eq 0 ] || fail "pedclient stop: $OUT"
RC=0
OUT=$("$PS" -mode stop -statedir "$S" 2>&1) || RC=$?
[ "$RC" -eq 0 ] || fail "pedserver stop: $OUT"

note "the records"
SL=$S/audit.log
CL=$A/audit.log
[ -s "$SL" ] && [ -s "$CL" ] || fail "no audit.log"
# every line is one JSON object
jq -c . "$SL" "$CL" >/dev/null || fail "a line that is not JSON"
ev() { jq -c "select(.event == \"$2\")${3:+ | select($3)}" "$1"; }
need() { [ -n "$(ev "$@")" ] || { cat "$1" >&2; fail "$1: no $2 record ${3:-}"; }; }
need "$SL" start '.prog == "pedserver"'
need "$SL" session_open ".hsm == \"$SA\" and .mode == \"orange key\" and .client != null"
need "$SL" ped_request '.kind == "CREATE_KEYSET" and .key == "BLUE" and .role == "SO" and .title == "SETTING SO PIN..."'
need "$SL" ped_request '.kind == "READ_KEYSET" and .key == "BLUE" and .role == "SO" and .title == "SO LOGIN..."'
need "$SL" ped_op '.kind == "CREATE_KEYSET" and .role == "SO" and .m == 2 and .n == 3 and .keys_written == 3 and .result == "OK"'
need "$SL" ped_op '.kind == "CREATE_KEYSET" and .role == "DOMAIN" and .result == "OK"'
need "$SL" ped_op '.kind == "READ_KEYSET" and .role == "SO" and .m == 2 and (.keys_read | split(",") | length) == 2'
need "$SL" ped_key_written ".hsm == \"$SA\" and .serial != \"\""
need "$SL" session_close ".hsm == \"$SA\" and .result == \"OK\""
need "$SL" stop '.status == 0'
need "$CL" start '.prog == "pedclient"'
need "$CL" ceremony '.command == "ped vector init" and .role == "RPV" and .result == "OK"'
need "$CL" session_open ".hsm == \"$SA\" and .server == \"127.0.0.1:$SPORT\" and .result == \"OK\""
need "$CL" ped_op '.command == "hsm init" and .m == 2 and .n == 3 and .result == "OK"'
need "$CL" ped_op '.command == "role login" and .role == "SO" and .kind == "READ_KEYSET" and (.keys_read | split(",") | length) == 2'
need "$CL" ceremony '.command == "role login" and .role == "SO" and .result == "OK"'
need "$CL" ceremony '.command == "hsm init" and .result == "OK"'
need "$CL" session_close ".hsm == \"$SA\""
need "$CL" stop '.status == 0'
# the key serials of the login are among those written at hsm init
W=$(ev "$CL" ped_key_written '.role == null or true' | jq -r .serial | sort -u)
for s in $(ev "$CL" ped_op '.command == "role login"' | jq -r '.keys_read' | tr , ' '); do
	echo "$W" | grep -qx "$s" || fail "key serial $s read but never written"
done
for pin in $OPIN $SOPIN; do
	grep -q "$pin" "$SL" "$CL" && fail "a PIN in the audit trail"
done
ok "both trails: start, session open/close with both identities, PED operations, keys, stop; no PIN"

note "-mode audit -verify"
RC=0
OUT=$("$PS" -mode audit -verify -statedir "$S" 2>&1) || RC=$?
[ "$RC" -eq 0 ] || fail "pedserver verify ($RC): $OUT"
assert_contains "audit trail intact:" "$OUT"
pc -mode audit -verify -statedir "$A"
[ "$RC" -eq 0 ] || fail "pedclient verify ($RC): $OUT"
N=$(wc -l <"$CL")
assert_contains "audit trail intact: $N records (1-$N) in 1 file" "$OUT"
pc -mode audit -statedir "$A"
[ "$RC" -eq 2 ] || fail "audit without -verify: $RC $OUT"

cp "$CL" "$T/c.orig"
tamper() {
	cp "$T/c.orig" "$T/c.log"
	sed -i "$1" "$T/c.log"
	pc -mode audit -verify "$T/c.log"
	[ "$RC" -eq 1 ] || fail "verify after '$1': exit $RC: $OUT"
	assert_contains "$2" "$OUT"
}
tamper '4s/"pedclient"/"pedclienT"/' "c.log:4: record 4: altered (hash mismatch)"
tamper '5d' "c.log:5: record 5: missing or out of order (found record 6)"
tamper '3{h;d};4G' "c.log:3: record 3: missing or out of order (found record 4)"
ok "verify: exit 0 intact; altered, deleted and swapped records named by number"

note "a crash while writing: the torn record is cut at the next start"
printf '{"seq":%s,"time":"2026-' "$(( $(wc -l <"$SL") + 1 ))" >>"$SL"
RC=0
OUT=$("$PS" -mode audit -verify -statedir "$S" 2>&1) || RC=$?
[ "$RC" -eq 1 ] || fail "a torn record passed: $OUT"
assert_contains "torn (no end of line)" "$OUT"
RC=0
OUT=$("$PS" -mode start -hsmpolicy any -statedir "$S" -port "$SPORT" -admin "$(free_port)" \
	-ped "$EMU_far_LINK" 2>&1) || RC=$?
[ "$RC" -eq 0 ] || fail "pedserver restart: $OUT"
RC=0
OUT=$("$PS" -mode stop -statedir "$S" 2>&1) || RC=$?
[ "$RC" -eq 0 ] || fail "pedserver stop: $OUT"
need "$SL" audit_repaired '.torn_bytes > 0'
RC=0
OUT=$("$PS" -mode audit -verify -statedir "$S" 2>&1) || RC=$?
[ "$RC" -eq 0 ] || fail "verify after the repair ($RC): $OUT"
[ "$(ev "$SL" start | wc -l)" -eq 2 ] || fail "expected two start records"
ok "torn last record cut at start (audit_repaired), the chain goes on"
