#!/bin/sh
# pedclient_config.sh - config -set / -show round trip and survival across a
# restart, bad config values and bad options (one line, exit 2), an
# unwritable log file (fallback announced), admin requests without the token
# refused.
. tests/scenario/lib_client.sh

A=$(new_statedir a)
PA=$(free_port)

note "config -set then -show"
pc -mode config -statedir "$A" -set -idletimeout 600 -slots 2 -admin "$PA" -ignoreidletimeout
[ "$RC" -eq 0 ] || fail "config -set failed ($RC): $OUT"
assert_contains "IdleTimeout: 1800 -> 600" "$OUT"
assert_contains "Slots: 1 -> 2" "$OUT"
pc -mode config -statedir "$A" -set SocketReadTimeout 7
[ "$RC" -eq 0 ] || fail "bare-name -set failed ($RC): $OUT"
assert_contains "SocketReadTimeout: 20 -> 7" "$OUT"
pcs -mode config -statedir "$A" -show
[ "$RC" -eq 0 ] || fail "config -show: $ERR"
assert_contains "IdleTimeout" "$OUT"
grep -Eq '^IdleTimeout *= 600' <<<"$OUT" || fail "IdleTimeout not 600 in: $OUT"
pcs -mode config -statedir "$A" -json
[ "$(jq -r .config.Slots <<<"$OUT")" = 2 ] || fail "config -json: $OUT"
[ "$(jq -r .config.IgnoreIdleTimeout <<<"$OUT")" = true ] || fail "config -json: $OUT"
[ "$(stat -c %a "$A/pedclient.conf")" = 600 ] || fail "config file not 0600"

note "the settings take effect and survive a restart"
pc -mode start -statedir "$A"
[ "$RC" -eq 0 ] || fail "start: $OUT"
pcs -mode show -statedir "$A" -json
[ "$(jq -r .idle_timeout_s <<<"$OUT")" = 600 ] || fail "idle timeout: $OUT"
[ "$(jq -r .admin_port <<<"$OUT")" = "$PA" ] || fail "admin port from config: $OUT"
[ "$(jq -r '.slots | length' <<<"$OUT")" = 2 ] || fail "slots: $OUT"
[ "$(jq -r .socket_read_timeout_s <<<"$OUT")" = 7 ] || fail "read timeout: $OUT"
pc -mode stop -statedir "$A"
[ "$RC" -eq 0 ] || fail "stop: $OUT"
pc -mode start -statedir "$A" -idletimeout 900
pcs -mode show -statedir "$A" -json
[ "$(jq -r .idle_timeout_s <<<"$OUT")" = 900 ] || fail "command-line override: $OUT"
[ "$(jq -r .socket_read_timeout_s <<<"$OUT")" = 7 ] || fail "after restart: $OUT"

note "admin request without (or with a wrong) token refused"
ANS=$(printf 'show\n' | socat -t 5 - "TCP:127.0.0.1:$PA")
assert_contains "ERR AUTH_REQUIRED" "$ANS"
ANS=$(printf 'AUTH %064d\nstop\n' 0 | socat -t 5 - "TCP:127.0.0.1:$PA")
assert_contains "ERR AUTH_REQUIRED" "$ANS"
ANS=$(printf 'AUTH %s\nshow\n' "$(cat "$A/admin.token")" | socat -t 5 - "TCP:127.0.0.1:$PA")
assert_contains "Sessions: none" "$ANS"
pc -mode show -statedir "$A"
[ "$RC" -eq 0 ] || fail "still running after refused requests: $OUT"
pc -mode stop -statedir "$A"

note "bad config values: one line naming file:line and the range, exit 2"
printf '[Hsm]\nSlots = 40\n' >"$A/pedclient.conf"
pc -mode start -statedir "$A"
[ "$RC" -eq 2 ] || fail "bad config: status $RC ($OUT)"
assert_contains "pedclient.conf:2: Slots = 40 is out of range (1-16)" "$OUT"
[ "$(wc -l <<<"$OUT")" -eq 1 ] || fail "more than one line: $OUT"
assert_no_runtime "$A"
printf '[Admin]\nAdminPort = abc\n' >"$A/pedclient.conf"
pc -mode config -statedir "$A" -show
[ "$RC" -eq 2 ] || fail "config -show with a bad file: $RC"
assert_contains "pedclient.conf:2: AdminPort" "$OUT"
pc -mode stop -statedir "$A"
[ "$RC" -eq 3 ] || fail "stop with a bad config file must still work: $RC ($OUT)"
rm -f "$A/pedclient.conf"

note "bad options: one line, exit 2"
for args in "-mode start -slots 17" "-mode start -admin 70000" "-mode frobnicate" \
	"-mode start -prot 1" "-mode show -id 3" "-mode setid -id 1 -id_ip h" \
	"-mode setid -id 1 -id_ip a;b -id_port 1" "-mode assignid -id 1 -id_serialnumber a/b" \
	"-mode releaseid" "-mode start -idletimeout" "-mode testid"; do
	# shellcheck disable=SC2086
	pc $args -statedir "$A"
	[ "$RC" -eq 2 ] || fail "pedclient $args: status $RC ($OUT)"
	[ "$(wc -l <<<"$OUT")" -eq 1 ] || fail "pedclient $args: not one line: $OUT"
	assert_contains "pedclient: -" "$OUT"
done
pc -mode start -slots 17 -statedir "$A"
assert_contains "-slots: 17 is out of range (1-16)" "$OUT"

note "usage lists the reference's modes"
pc -help
[ "$RC" -eq 0 ] || fail "-help: $RC"
for m in start stop show config setid assignid releaseid deleteid testid; do
	assert_contains "$m" "$OUT"
done

note "log file unwritable: pedclient starts anyway and says where it logs"
mkdir -p "$T/ro"
chmod 0500 "$T/ro"
pc -mode start -statedir "$A" -logfile "$T/ro/x.log"
if [ "$(id -u)" -ne 0 ]; then
	[ "$RC" -eq 0 ] || fail "start with an unwritable log file failed: $OUT"
	assert_contains "logging to $A/pedclient.log instead" "$OUT"
	assert_contains "cannot open log file $T/ro/x.log" "$(cat "$A/pedclient.log")"
fi
pc -mode stop -statedir "$A"
[ "$RC" -eq 0 ] || fail "stop: $OUT"
echo "pedclient_config: ok"
