#!/bin/sh
# pedserver_ped.sh - the PED followed live (pedemu unplug / plug reflected in
# show within 1 s, a PED that appears after start picked up without a
# restart) and the server port's hello: a probe gets HELLO_ACK with "PED
# attached" yes or no; a session HELLO is answered; garbage, a wrong
# version, an oversized length and a silent client get a logged reason and
# the daemon keeps serving.
. tests/scenario/lib_server.sh

start_pedemu
ps_start p -ped "$EMU_LINK"
D=$PS_DIR
P=$PS_PORT

note "probe: HELLO_ACK with the PED attached"
ans=$(probe "$P")
assert_contains "HELLO_ACK version=1" "$ans"
assert_contains "software=pedserver 0.1.0" "$ans"
assert_contains "ped_attached=1 firmware=pedemu 1.0 protocol=1 busy=0" "$ans"

note "unplug / plug reflected in show within 1 s"
ctl unplug >/dev/null
ms=$(ps_show_until "$D" "Ped2 Connection Status:    Disconnected" 1000) || fail "unplug not seen"
note "  unplug seen after $ms ms"
ans=$(probe "$P")
assert_contains "ped_attached=0" "$ans"
ctl plug >/dev/null
ms=$(ps_show_until "$D" "Ped2 Connection Status:    Connected" 1000) || fail "plug not seen"
note "  plug seen after $ms ms"
ans=$(probe "$P")
assert_contains "ped_attached=1" "$ans"

note "a PED that appears after start is picked up"
ps_start late -ped "$T/late.link"
ps_run -mode show -statedir "$PS_late_DIR"
assert_contains "Ped2 Connection Status:    Disconnected" "$OUT"
start_pedemu late
ms=$(ps_show_until "$PS_late_DIR" "Ped2 Connection Status:    Connected" 1000) ||
	fail "late PED not picked up"
note "  late PED seen after $ms ms"
ps_run -mode stop -statedir "$PS_late_DIR"

note "session: a session HELLO is answered (sessions: tests/scenario/session_*.sh)"
ans=$(probe "$P" -purpose session)
assert_contains "HELLO_ACK version=1" "$ans"

note "wrong version: ERROR VERSION_MISMATCH, logged"
ans=$(probe "$P" -version 9)
assert_contains "ERROR code=23" "$ans"
grep -q "frame version 9, this server speaks 1 (VERSION_MISMATCH)" "$D/pedserver.log" ||
	fail "version mismatch not logged"

note "garbage, oversized length, trailing bytes: logged reasons"
ans=$(probe "$P" -raw 474554202f20485454502f312e310d0a0d0a)
assert_contains "ERROR code=23" "$ans"
ans=$(probe "$P" -len 100000)
assert_contains "ERROR code=6" "$ans"
grep -q "HELLO longer than 1024 bytes" "$D/pedserver.log" || fail "oversized not logged"
ans=$(probe "$P" -raw 0101000000020101)
assert_contains "ERROR code=22" "$ans"
grep -q "malformed HELLO" "$D/pedserver.log" || fail "malformed not logged"
ans=$(probe "$P" -raw 0109000000000000)
assert_contains "ERROR code=" "$ans"

note "a silent client is dropped at the handshake deadline (-socketreadtimeout 1)"
ps_start slow -ped "$EMU_LINK" -socketreadtimeout 1
ms=$(python3 -c '
import socket, sys, time
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
t = time.monotonic()
assert c.recv(100) == b""
print(int((time.monotonic() - t) * 1000))' "$PS_slow_PORT") || fail "silent client not closed"
[ "$ms" -ge 900 ] && [ "$ms" -lt 3000 ] || fail "silent client closed after $ms ms"
note "  closed after $ms ms"
grep -q "no complete HELLO within 1000 ms" "$PS_slow_DIR/pedserver.log" || fail "deadline not logged"
ps_run -mode stop -statedir "$PS_slow_DIR"

note "the daemon keeps serving"
ans=$(probe "$P")
assert_contains "HELLO_ACK" "$ans"
ps_run -mode show -statedir "$D"
[ "$RC" -eq 0 ] || fail "show after bad clients: $OUT"
assert_contains "Probes Answered, Refused:" "$OUT"

ps_run -mode stop -statedir "$D"
assert_no_runtime "$D"
stop_pedemu
note "pedserver_ped: all passed"
