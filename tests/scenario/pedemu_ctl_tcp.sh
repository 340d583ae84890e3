#!/bin/sh
# pedemu_ctl_tcp.sh - pedemu's TCP control channel (-control
# tcp:127.0.0.1:PORT, the one pedemu.exe has): the token and the port are
# published private in the key dir; a client must send AUTH with that token
# first (a wrong or missing one is refused, ERR AUTH_REQUIRED, and logged;
# a silent client is dropped after 5 s);
# then the commands are those of the Unix socket; a non-loopback address is
# refused; quit removes the token and port files.
. tests/scenario/lib.sh

K="$T/emu.keys"
CP=$(free_port)
run_bg emu "$PEDEMU" -keys "$K" -link "tcp:127.0.0.1:$(free_port)" -control "tcp:127.0.0.1:$CP"
wait_line emu '^pedemu: ready$' 10
[ "$(cat "$K/control.port")" = "$CP" ] || fail "control.port: $(cat "$K/control.port")"
[ "$(stat -c %a "$K/control.token")" = 600 ] || fail "control.token is not 0600"
grep -qE '^[0-9a-f]{64}$' "$K/control.token" || fail "control.token is not 64 hex digits"
note "token file private, port published"

export CTL_SOCK=$K
ctl newkey k1 >/dev/null
assert_contains "k1 BLANK" "$(ctl keys)"
assert_contains "link down" "$(ctl status)"
note "commands after AUTH"

OUT=$(printf 'status\n' | socat -t 5 - "TCP:127.0.0.1:$CP")
[ "$OUT" = "ERR AUTH_REQUIRED send AUTH <token of $K/control.token> first" ] || fail "no AUTH: $OUT"
OUT=$(printf 'AUTH %064d\nstatus\n' 0 | socat -t 5 - "TCP:127.0.0.1:$CP")
assert_contains "ERR AUTH_REQUIRED" "$OUT"
assert_not_contains "mode" "$OUT"
wait_line emu 'warning: control: wrong token, connection refused' 5
wait_line emu 'warning: control: command without token, connection refused' 5
note "no token or a wrong one: refused and logged"

# socat -u only reads the connection: it ends when pedemu drops it
RC=0
OUT=$(timeout 15 socat -u "TCP:127.0.0.1:$CP" - 2>&1) || RC=$?
[ "$RC" -eq 0 ] && [ -z "$OUT" ] || fail "a silent client: exit $RC: $OUT"
wait_line emu 'warning: control: no AUTH within 5000 ms, connection dropped' 5
note "a client silent before its AUTH is dropped after 5 s"

RC=0
OUT=$("$PEDEMU" -keys "$T/k2" -link "tcp:127.0.0.1:$(free_port)" -control tcp:10.1.2.3:4000 2>&1) || RC=$?
[ "$RC" -eq 1 ] || fail "non-loopback control: exit $RC: $OUT"
assert_contains "control tcp:10.1.2.3:4000: not tcp:HOST:PORT with a numeric loopback address" "$OUT"
[ ! -e "$T/k2/control.token" ] || fail "token left by a refused start"
note "a non-loopback control address is refused"

ctl quit >/dev/null
wait_bg emu 10 || fail "pedemu exit status $?"
for f in control.token control.port; do
	[ ! -e "$K/$f" ] || fail "$f left behind"
done
[ -e "$K/k1.key" ] || fail "the key is gone"
echo "pedemu_ctl_tcp: all passed"
