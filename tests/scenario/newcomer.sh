#!/bin/bash
# newcomer.sh - what a first-time operator meets (issue 12, point 7):
# start says in one line where it listens, which PED and where it logs; a
# PED path that does not exist yet starts but says "waiting for the PED at";
# stop with nothing running says "<prog> is not running" (exit 3) like show;
# a failed start leaves no pid file for a later stop; -help describes the
# PED-initiated modes; pedemu makes its key directory with its parents, names
# a bad option, and -h, -help and --help agree; pedhsm names an unknown
# option; pedhsm's usage and pedclient's role login usage list the same roles.
. tests/scenario/lib_server.sh

PC=$BUILD/pedclient
HSM=$BUILD/pedhsm

note "start: one line on stdout, the missing PED on stderr"
D=$T/srv
mkdir "$T/later" # the PED's directory exists, the PED (its link) not yet
P=$(free_port)
A=$(free_port)
while [ "$A" = "$P" ]; do A=$(free_port); done
"$PS" -mode start -statedir "$D" -port "$P" -admin "$A" -ped "$T/later/desk" \
	>"$T/start.out" 2>"$T/start.err" || fail "start: $(cat "$T/start.out" "$T/start.err")"
[ "$(wc -l <"$T/start.out")" -eq 1 ] || fail "start printed: $(cat "$T/start.out")"
line=$(cat "$T/start.out")
echo "$line" | grep -Eq "^pedserver: serving on (::|0\.0\.0\.0) port $P, admin port $A" ||
	fail "start line: $line"
assert_contains "PED $T/later/desk not connected" "$line"
assert_contains "; log $D/pedserver.log" "$line"
[ "$(cat "$T/start.err")" = "pedserver: waiting for the PED at $T/later/desk" ] ||
	fail "stderr: $(cat "$T/start.err")"
ps_run -mode stop -statedir "$D"
[ "$RC" -eq 0 ] || fail "stop: $OUT"

note "a PED path whose directory is missing is refused, naming it"
ps_run -mode start -statedir "$T/srv2" -port "$P" -admin "$A" -ped "$T/nodir/desk"
[ "$RC" -eq 1 ] || fail "start with a missing PED directory: exit $RC: $OUT"
assert_contains "directory $T/nodir: No such file or directory" "$OUT"

note "stop and show with nothing running say the same"
ps_run -mode stop -statedir "$D"
[ "$RC" -eq 3 ] || fail "stop exit $RC"
[ "$OUT" = "pedserver is not running" ] || fail "stop said: $OUT"
ps_run -mode show -statedir "$D"
[ "$RC" -eq 3 ] || fail "show exit $RC"
assert_contains "pedserver is not running" "$OUT"

note "a failed start leaves nothing a later stop acts on"
python3 -c 'import signal,socket,sys
s=socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1)
print("up", flush=True); signal.pause()' "$P" >"$T/holder.log" 2>&1 &
holder=$!
_lib_pids="$_lib_pids $holder"
wait_line holder '^up$' 5
ps_run -mode start -statedir "$D" -port "$P" -admin "$A" -ped "$T/later/desk"
[ "$RC" -eq 1 ] || fail "start on a port in use: exit $RC: $OUT"
assert_contains "$P" "$OUT"
[ ! -e "$D/pedserver.pid" ] || fail "failed start left $D/pedserver.pid"
ps_run -mode stop -statedir "$D"
[ "$RC" -eq 3 ] && [ "$OUT" = "pedserver is not running" ] || fail "stop after failed start: $RC $OUT"
kill "$holder"
wait "$holder" 2>/dev/null || true

note "-help lists the PED-initiated modes"
help=$("$PS" -help)
for m in connect disconnect; do
	grep -E "^  $m +.*PED-initiated link" <<<"$help" >/dev/null ||
		fail "-help does not describe $m: $help"
done

note "pedemu: help, bad options, key directory with its parents"
h1=$("$PEDEMU" -h) && h2=$("$PEDEMU" -help) && h3=$("$PEDEMU" --help) ||
	fail "pedemu help exit status"
[ "$h1" = "$h2" ] && [ "$h2" = "$h3" ] || fail "pedemu -h, -help, --help differ"
rc=0
out=$("$PEDEMU" -bogus 2>&1) || rc=$?
[ "$rc" -eq 2 ] || fail "pedemu -bogus: exit $rc"
assert_contains "pedemu: -bogus: unknown option" "$out"
rc=0
out=$("$PEDEMU" -keys "$T/k" -link "$T/l" -control "$T/c" -mode sideways 2>&1) || rc=$?
[ "$rc" -eq 2 ] || fail "pedemu -mode sideways: exit $rc"
assert_contains "pedemu: -mode: not one of: local, remote, admin" "$out"
start_pedemu deep -keys "$T/new/ped/keys"
[ "$(stat -c %a "$T/new/ped/keys")" = 700 ] || fail "key dir mode"
[ "$(stat -c %a "$T/new/ped")" = 700 ] || fail "parent dir mode"
stop_pedemu deep

note "pedhsm: unknown option named; role login usage = help's roles"
rc=0
out=$("$HSM" -bogus 2>&1) || rc=$?
[ "$rc" -eq 2 ] || fail "pedhsm -bogus: exit $rc"
assert_contains "pedhsm: -bogus: unknown option" "$out"
roles_help=$("$HSM" -h | sed -n 's/^ *role login -name \([a-z|]*\) .*/\1/p')
[ -n "$roles_help" ] || fail "no role login line in pedhsm -h"
CD=$T/pc
"$PC" -mode start -statedir "$CD" -admin "$(free_port)" >/dev/null || fail "pedclient start"
out=$("$HSM" -statedir "$CD" role login 2>&1) || true
roles_usage=$(sed -n 's/.*role login -name \([a-z|]*\).*/\1/p' <<<"$out" | head -n 1)
[ "$roles_usage" = "$roles_help" ] ||
	fail "role login usage lists '$roles_usage', pedhsm -h lists '$roles_help'"
"$PC" -mode stop -statedir "$CD" >/dev/null || fail "pedclient stop"
note "newcomer: all passed"
