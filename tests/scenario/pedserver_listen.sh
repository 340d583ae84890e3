#!/usr/bin/env bash
# pedserver_listen.sh - where the server port listens: -ip ::1 (IPv6, one
# address: reachable over ::1, refused on 127.0.0.1), the default (every
# address, as the reference's "External Server Interface: Yes"; the admin
# port stays on loopback) and -eserverport 0 (loopback only), each probed
# with pedclient -mode testid.
. tests/scenario/lib.sh
. tests/scenario/lib_client.sh

[ -x "$PS" ] || fail "$PS not built (make BUILD=$BUILD $PS)"

# start_ps NAME ARGS...: a pedserver with its own state dir and ports; sets PORT
start_ps() {
	local name=$1
	shift
	PORT=$(free_port)
	RC=0
	OUT=$("$PS" -mode start -statedir "$T/$name" -port "$PORT" -admin "$(free_port)" \
		-ped "$T/no-ped-yet" "$@" 2>&1) || RC=$?
	[ "$RC" -eq 0 ] || fail "pedserver $name: $OUT"
}

# probe ID HOST: map PED ID to HOST:$PORT and testid it; $RC and $OUT
probe() {
	pc -mode setid -statedir "$T/pc" -id "$1" -id_ip "$2" -id_port "$PORT"
	[ "$RC" -eq 0 ] || fail "setid: $OUT"
	pc -mode testid -statedir "$T/pc" -id "$1"
}

note "-ip ::1: one IPv6 address"
start_ps v6 -ip ::1
OUT=$("$PS" -mode show -statedir "$T/v6")
assert_contains "IP:                        ::1" "$OUT"
probe 1 ::1
[ "$RC" -eq 0 ] || fail "testid over ::1: $OUT"
assert_contains "is reachable" "$OUT"
probe 2 127.0.0.1
[ "$RC" -ne 0 ] || fail "127.0.0.1 answered a server bound to ::1 only: $OUT"
assert_contains "connection refused" "$OUT"
"$PS" -mode stop -statedir "$T/v6" >/dev/null

note "default: every address; the admin port on loopback only"
start_ps ext
OUT=$("$PS" -mode show -statedir "$T/ext")
assert_contains "External Server Interface: Yes" "$OUT"
assert_contains "External Admin Interface:  No" "$OUT"
ss -ltnH "sport = :$PORT" | grep -Eq '(\*|\[::\]|0\.0\.0\.0):'"$PORT" ||
	fail "not listening on all addresses: $(ss -ltnH "sport = :$PORT")"
APORT=$(cat "$T/ext/admin.port")
ss -ltnH "sport = :$APORT" | grep -Eq '(\*|\[::\]|0\.0\.0\.0):'"$APORT" &&
	fail "the admin port listens beyond loopback: $(ss -ltnH "sport = :$APORT")"
ss -ltnH "sport = :$APORT" | grep -q "127.0.0.1:$APORT" || fail "admin port: $(ss -ltnH "sport = :$APORT")"
probe 4 127.0.0.1
[ "$RC" -eq 0 ] || fail "testid on the external listener: $OUT"
"$PS" -mode stop -statedir "$T/ext" >/dev/null

note "-eserverport 0: loopback only, both families"
start_ps lo -eserverport 0
OUT=$("$PS" -mode show -statedir "$T/lo")
assert_contains "IP:                        127.0.0.1, ::1" "$OUT"
assert_contains "External Server Interface: No" "$OUT"
probe 3 127.0.0.1
[ "$RC" -eq 0 ] || fail "testid over 127.0.0.1: $OUT"
"$PS" -mode stop -statedir "$T/lo" >/dev/null

echo "pedserver_listen: all passed"
