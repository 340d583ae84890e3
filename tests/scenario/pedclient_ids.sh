#!/bin/sh
# pedclient_ids.sh - PED ID mappings: setid / assignid / show / releaseid /
# deleteid, prepared before start (edited in the state dir), applied through
# the running daemon, persisted across a restart; testid against pedserver
# stand-ins (HELLO_ACK, ERROR, wrong version, garbage, silence), against the
# real pedserver when it is built, and against a stopped one.
. tests/scenario/lib_client.sh

A=$(new_statedir a)
PA=$(free_port)

note "mappings prepared before start (no daemon: the state file is edited)"
pc -mode setid -statedir "$A" -id 1234 -id_ip ped1.example.com -id_port 1503
[ "$RC" -eq 0 ] || fail "offline setid: $OUT"
assert_contains "id 1234 maps to ped1.example.com:1503" "$OUT"
assert_contains "not running: saved in" "$OUT"
[ "$(stat -c %a "$A/ids.conf")" = 600 ] || fail "ids.conf not 0600"

note "start; the running daemon takes further commands"
pc -mode start -statedir "$A" -admin "$PA" -socketreadtimeout 2
[ "$RC" -eq 0 ] || fail "start: $OUT"
pc -mode setid -statedir "$A" -id 7 -id_ip 127.0.0.1 -id_port 1600
[ "$RC" -eq 0 ] || fail "setid: $OUT"
assert_not_contains "not running" "$OUT"
pc -mode assignid -statedir "$A" -id 7 -id_serialnumber 1234567890
[ "$RC" -eq 0 ] || fail "assignid: $OUT"
assert_contains "id 7 assigned to HSM 1234567890" "$OUT"
pc -mode assignid -statedir "$A" -id 1234 -id_serialnumber 1234567890
[ "$RC" -eq 1 ] || fail "serial assigned twice: $RC ($OUT)"
assert_contains "already assigned to id 7" "$OUT"
pc -mode assignid -statedir "$A" -id 99 -id_serialnumber 5
[ "$RC" -eq 1 ] || fail "assign unmapped id: $RC"
assert_contains "id 99 is not mapped" "$OUT"
pcs -mode show -statedir "$A"
assert_contains "PED ID Mappings: 2" "$OUT"
assert_contains "ID 7     127.0.0.1:1600  assigned to HSM 1234567890" "$OUT"
assert_contains "ID 1234  ped1.example.com:1503  not assigned" "$OUT"
pcs -mode show -statedir "$A" -json
[ "$(jq -r '.mappings[] | select(.id == 7) | .serial' <<<"$OUT")" = 1234567890 ] || fail "json: $OUT"
[ "$(jq -r '.mappings[] | select(.id == 1234) | .serial' <<<"$OUT")" = null ] || fail "json: $OUT"
grep -q '^7 127.0.0.1 1600 1234567890$' "$A/ids.conf" || fail "not persisted: $(cat "$A/ids.conf")"

note "mappings survive a restart"
pc -mode stop -statedir "$A"
pc -mode start -statedir "$A" -admin "$PA" -socketreadtimeout 2
[ "$RC" -eq 0 ] || fail "restart: $OUT"
pcs -mode show -statedir "$A" -json
[ "$(jq -r '.mappings | length' <<<"$OUT")" = 2 ] || fail "after restart: $OUT"
[ "$(jq -r '.mappings[0].serial' <<<"$OUT")" = 1234567890 ] || fail "after restart: $OUT"

note "releaseid by serial and by id, deleteid"
pc -mode releaseid -statedir "$A" -id_serialnumber 1234567890
[ "$RC" -eq 0 ] || fail "releaseid -id_serialnumber: $OUT"
assert_contains "id 7 released from HSM 1234567890" "$OUT"
pc -mode releaseid -statedir "$A" -id 7
[ "$RC" -eq 1 ] || fail "second release: $RC"
assert_contains "id 7 is not assigned to an HSM" "$OUT"
pc -mode assignid -statedir "$A" -id 1234 -id_serialnumber 42
pc -mode releaseid -statedir "$A" -id 1234
[ "$RC" -eq 0 ] || fail "releaseid -id: $OUT"
pc -mode deleteid -statedir "$A" -id 1234
[ "$RC" -eq 0 ] || fail "deleteid: $OUT"
pc -mode deleteid -statedir "$A" -id 1234
[ "$RC" -eq 1 ] || fail "deleteid twice: $RC"
assert_contains "id 1234 is not mapped" "$OUT"
pcs -mode show -statedir "$A" -json
[ "$(jq -c '[.mappings[] | [.id, .serial]]' <<<"$OUT")" = '[[7,null]]' ] || fail "after delete: $OUT"

note "testid through the daemon against pedserver stand-ins"
fake_server ack
pc -mode setid -statedir "$A" -id 7 -id_ip 127.0.0.1 -id_port "$FAKE_PORT"
pcs -mode testid -statedir "$A" -id 7
[ "$RC" -eq 0 ] || fail "testid (ack): $RC $OUT $ERR"
assert_contains "pedserver 127.0.0.1:$FAKE_PORT is reachable" "$OUT"
assert_contains "protocol version: 1" "$OUT"
assert_contains "server: fakeped (pedserver 0.0-fake)" "$OUT"
assert_contains "PED: attached (firmware 2.7.1, protocol 1)" "$OUT"
assert_contains "hello from" "$(cat "$T/fake.ack.log")"
echo "$OUT"
for mode in error version garbage silent; do
	fake_server "$mode"
	pc -mode setid -statedir "$A" -id 8 -id_ip localhost -id_port "$FAKE_PORT"
	pc -mode testid -statedir "$A" -id 8
	[ "$RC" -eq 1 ] || fail "testid ($mode): status $RC ($OUT)"
	[ "$(wc -l <<<"$OUT")" -eq 1 ] || fail "testid ($mode): not one line: $OUT"
	case $mode in
	error) assert_contains "answered ERROR PED_BUSY: PED in use by HSM 42" "$OUT" ;;
	version) assert_contains "speaks wire version 9, this pedclient speaks 1" "$OUT" ;;
	garbage) assert_contains "did not answer with the Remote PED protocol" "$OUT" ;;
	silent) assert_contains "no answer from localhost:$FAKE_PORT within 2 s" "$OUT" ;;
	esac
	echo "$mode: $OUT"
done

note "testid against a stopped pedserver"
DEAD=$(free_port)
pc -mode setid -statedir "$A" -id 9 -id_ip 127.0.0.1 -id_port "$DEAD"
pc -mode testid -statedir "$A" -id 9
[ "$RC" -eq 1 ] || fail "testid (stopped): $RC ($OUT)"
assert_contains "pedclient: testid 9: cannot connect to 127.0.0.1:$DEAD: connection refused" "$OUT"
pc -mode testid -statedir "$A" -id 55
[ "$RC" -eq 1 ] || fail "testid unmapped: $RC"
assert_contains "id 55 is not mapped" "$OUT"

note "testid without a running pedclient probes from the command line"
pc -mode stop -statedir "$A"
pcs -mode testid -statedir "$A" -id 7
[ "$RC" -eq 0 ] || fail "offline testid: $RC $OUT $ERR"
assert_contains "is reachable" "$OUT"
pc -mode testid -statedir "$A" -id 9
[ "$RC" -eq 1 ] || fail "offline testid (stopped): $RC"
assert_contains "connection refused" "$OUT"

if [ -x "$PS" ]; then
	note "testid against the real pedserver ($PS)"
	S=$(new_statedir srv)
	SP=$(free_port)
	"$PS" -mode start -statedir "$S" -port "$SP" -admin "$(free_port)" -ped "$T/no-ped" \
		>"$T/ps.log" 2>&1 || fail "pedserver did not start: $(cat "$T/ps.log")"
	pc -mode setid -statedir "$A" -id 3 -id_ip 127.0.0.1 -id_port "$SP"
	pcs -mode testid -statedir "$A" -id 3
	[ "$RC" -eq 0 ] || fail "testid (pedserver): $RC $OUT $ERR"
	assert_contains "is reachable" "$OUT"
	assert_contains "server: " "$OUT"
	assert_contains "PED: not attached" "$OUT"
	echo "$OUT"
	"$PS" -mode stop -statedir "$S" >/dev/null
	pc -mode testid -statedir "$A" -id 3
	[ "$RC" -eq 1 ] || fail "testid (pedserver stopped): $RC ($OUT)"
	assert_contains "connection refused" "$OUT"
else
	note "no $PS: real pedserver part skipped"
fi

note "a damaged ids.conf stops the start with file:line"
printf '7 127.0.0.1 99999 -\n' >"$A/ids.conf"
pc -mode start -statedir "$A" -admin "$PA"
[ "$RC" -ne 0 ] || fail "start with a damaged ids.conf succeeded"
assert_contains "ids.conf:1: port 99999 is out of range (1-65535)" "$OUT"
assert_no_runtime "$A"
pc -mode setid -statedir "$A" -id 1 -id_ip h -id_port 1
[ "$RC" -eq 1 ] || fail "setid on a damaged file: $RC"
assert_contains "ids.conf:1:" "$OUT"
echo "pedclient_ids: ok"
