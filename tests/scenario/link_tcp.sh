#!/bin/sh
# link_tcp.sh - the TCP PED link (docs/transports.md): pedemu listens on
# tcp:127.0.0.1:PORT, pedserver -ped tcp:... connects. An orange-key session
# runs over it; unplug / plug and a PED that starts after pedserver are
# followed (reconnects); a second host on the link is refused while the first
# keeps the PED; bad tcp specs get named errors on both sides, and a
# non-loopback listen address needs -remotelink.
. tests/scenario/lib_server.sh

LP=$(free_port)
start_pedemu -mode remote -link "tcp:127.0.0.1:$LP"
EMU_LINK="tcp:127.0.0.1:$LP"
grep -q "link: listening on tcp:127.0.0.1:$LP" "$T/emu.err" || fail "no listening line"

note "an RPV over the TCP link (sessclient as the local host)"
sc_rpv ra "$T/a.state" rpvA 13579

ps_start s -hsmpolicy any -ped "$EMU_LINK"
D=$PS_DIR
ms=$(ps_show_until "$D" "Ped2 Connection Status:    Connected" 2000) || fail "PED not connected"
note "  PED connected after $ms ms"
ans=$(probe "$PS_PORT")
assert_contains "ped_attached=1 firmware=pedemu 1.0" "$ans"
grep -q "usbped: tcp 127.0.0.1:$LP: connected" "$D/pedserver.log" || fail "connect not logged"

note "a second host on the link is closed at once; pedserver keeps the PED"
out=$(python3 -c '
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
print("closed" if c.recv(10) == b"" else "data")' "$LP")
[ "$out" = closed ] || fail "second host: $out"
grep -q "a second host on tcp:127.0.0.1:$LP refused" "$T/emu.err" || fail "refusal not logged"
ans=$(probe "$PS_PORT")
assert_contains "ped_attached=1" "$ans"

note "orange key over TCP: the session opens"
sc_hold h1 "$T/a.state" -serial 1111
sc_key rpvA1 13579
sc_wait_line h1 '^open$'
ps_show_until "$D" "HSM Serial Number:         1111" 2000 >/dev/null || fail "client not in show"
sc_release h1
wait_bg h1 10 || true

note "unplug / plug: pedserver reconnects"
ctl unplug >/dev/null
ms=$(ps_show_until "$D" "Ped2 Connection Status:    Disconnected" 2000) || fail "unplug not seen"
note "  unplug seen after $ms ms"
ctl plug >/dev/null
ms=$(ps_show_until "$D" "Ped2 Connection Status:    Connected" 2000) || fail "plug not seen"
note "  plug seen after $ms ms"

note "a PED that starts listening after pedserver is picked up"
LP2=$(free_port)
ps_start late -hsmpolicy any -ped "tcp:127.0.0.1:$LP2"
ps_run -mode show -statedir "$PS_late_DIR"
assert_contains "Ped2 Connection Status:    Disconnected" "$OUT"
start_pedemu late -link "tcp:127.0.0.1:$LP2"
ms=$(ps_show_until "$PS_late_DIR" "Ped2 Connection Status:    Connected" 2000) ||
	fail "late PED not picked up"
note "  late PED seen after $ms ms"
ps_run -mode stop -statedir "$PS_late_DIR"
[ "$RC" -eq 0 ] || fail "stop late: $OUT"

note "bad tcp specs: named errors, nothing started"
for spec in tcp:localhost:1 tcp:127.0.0.1:0 tcp:127.0.0.1:65536 tcp::::1:5 tcp:127.0.0.1 \
	tcp:[::1]5 tcp:127.0.0.1:12x; do
	ps_run -mode start -statedir "$T/bad" -port "$(free_port)" -admin "$(free_port)" -ped "$spec"
	[ "$RC" -ne 0 ] || fail "-ped $spec accepted"
	assert_contains "-ped $spec: invalid argument" "$OUT"
	[ "$RC" -eq 1 ] || fail "-ped $spec: exit $RC"
done
[ ! -e "$T/bad/pedserver.pid" ] || fail "pid file after a refused start"

for spec in tcp:localhost:5 tcp:10.9.8.7:5; do
	rc=0
	"$PEDEMU" -keys "$T/k2" -link "$spec" -control "$T/k2.sock" >"$T/k2.out" 2>&1 || rc=$?
	[ "$rc" -eq 1 ] || fail "pedemu -link $spec: exit $rc"
done
grep -q "not a loopback address; the link is not encrypted (-remotelink allows it)" "$T/k2.out" ||
	fail "non-loopback refusal not explained: $(cat "$T/k2.out")"

note "IPv6 loopback"
LP3=$(free_port)
start_pedemu v6 -link "tcp:[::1]:$LP3"
ps_start v6 -hsmpolicy any -ped "tcp:[::1]:$LP3"
ps_show_until "$PS_v6_DIR" "Ped2 Connection Status:    Connected" 2000 >/dev/null ||
	fail "IPv6 link not connected"

ps_run -mode stop -statedir "$D"
[ "$RC" -eq 0 ] || fail "stop: $OUT"
assert_no_runtime "$D"
stop_pedemu
echo "link_tcp: ok"
