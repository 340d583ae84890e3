#!/bin/sh
# session_stress.sh - pedserver's session under hostile or failing
# conditions: a silent client is dropped at the handshake deadline and a
# real client then gets in; garbage, a wrong version and a corrupted
# KEX_INIT close the connection with a logged reason while the daemon keeps
# serving; an idle session is closed after IdleTimeout (both sides told);
# the PED unplugged during a relayed read gives CKR_PED_UNPLUGGED on the
# client within 1 s, show says Disconnected, and after plug a new session
# works.
. tests/scenario/lib_server.sh

start_pedemu -mode remote
sc_rpv ra "$T/a.state" rpvA 13579
ctl newkey blu1 >/dev/null # blank: the relayed read below waits on it

ps_start s -hsmpolicy any -ped "$EMU_LINK" -handshaketimeout 1 -idletimeout 2
D=$PS_DIR
P=$PS_PORT

note "a silent client is dropped at the handshake deadline, then a real one gets in"
ms=$(python3 -c '
import socket, sys, time
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
t = time.monotonic()
while c.recv(100): pass
print(int((time.monotonic() - t) * 1000))' "$P") || fail "silent client not closed"
[ "$ms" -ge 900 ] && [ "$ms" -lt 2500 ] || fail "silent client closed after $ms ms"
note "  closed after $ms ms"
# a session HELLO, then silence: HANDSHAKE_TIMEOUT
ans=$(python3 - "$P" <<'PY'
import socket, struct, sys
def s(x): b = x.encode(); return bytes([len(b)]) + b
body = bytes([1, 1, 2]) + s("slowhsm") + s("999")
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
c.sendall(bytes([1, 1]) + struct.pack(">I", len(body)) + body)
data = b""
while True:
    d = c.recv(4096)
    if not d: break
    data += d
# HELLO_ACK, KEX_SHARE (19), then ERROR
i = 0; out = []
while i + 6 <= len(data):
    t = data[i + 1]; n = struct.unpack(">I", data[i + 2:i + 6])[0]
    p = data[i + 6:i + 6 + n]
    out.append("ERROR %d" % struct.unpack(">H", p[:2])[0] if t == 0x7f else "type %d" % t)
    i += 6 + n
print(" ".join(out))
PY
)
assert_contains "type 2 type 19 ERROR 42" "$ans"
grep -q "HSM 999): handshake step not completed within 1000 ms (HANDSHAKE_TIMEOUT)" \
	"$D/pedserver.log" || fail "handshake timeout not logged"
sc_run c1 -hsm "$T/a.state" connect
sc_key rpvA1 13579
wait_bg c1 20 || fail "real client after silent ones: $(cat "$T/c1.log")"

note "garbage, wrong version, corrupted KEX_INIT: closed with a logged reason"
ans=$(probe "$P" -raw 474554202f20485454502f312e310d0a0d0a)
assert_contains "ERROR code=23" "$ans"
ans=$(probe "$P" -purpose session -version 7)
assert_contains "ERROR code=23" "$ans"
ans=$(python3 - "$P" <<'PY'
import os, socket, struct, sys
def s(x): b = x.encode(); return bytes([len(b)]) + b
body = bytes([1, 1, 2]) + s("evilhsm") + s("666")
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
c.sendall(bytes([1, 1]) + struct.pack(">I", len(body)) + body)
hdr = c.recv(6); n = struct.unpack(">I", hdr[2:6])[0]
while n > 0: n -= len(c.recv(n))
kex = b"\x04" + os.urandom(132) + b"\x04" + os.urandom(132) + os.urandom(64)  # Qs_U Qe_U Proof_U
c.sendall(bytes([1, 0x10]) + struct.pack(">I", len(kex)) + kex)
data = b""
while True:
    d = c.recv(4096)
    if not d: break
    data += d
# the KEX_SHARE that followed the HELLO_ACK, then the ERROR
if len(data) >= 6 and data[1] == 0x13:
    data = data[6 + struct.unpack(">I", data[2:6])[0]:]
print("ERROR %d" % struct.unpack(">H", data[6:8])[0] if len(data) >= 8 and data[1] == 0x7f else "answer %r" % data[:8])
PY
)
assert_contains "ERROR 9" "$ans"
grep -q "HSM 666): session ended: .*BAD_PUBLIC_KEY" "$D/pedserver.log" ||
	fail "corrupted KEX_INIT not logged"
ans=$(probe "$P")
assert_contains "HELLO_ACK" "$ans"

note "idle timeout 2 s closes the session on both sides"
sc_hold h1 "$T/a.state"
sc_wait_line h1 '^open$'
t0=$(date +%s%N)
wait_bg h1 10 && fail "idle: exit 0"
ms=$((($(date +%s%N) - t0) / 1000000))
grep -q '^closed IDLE_TIMEOUT' "$T/h1.log" || fail "idle: $(cat "$T/h1.log")"
[ "$ms" -ge 1500 ] && [ "$ms" -lt 3500 ] || fail "idle close after $ms ms"
note "  closed after $ms ms"
grep -q "session idle for 2 s; closing (IDLE_TIMEOUT)" "$D/pedserver.log" || fail "idle not logged"
sc_release h1

note "PED unplugged during a relayed read: CKR_PED_UNPLUGGED within 1 s"
sc_run rd -hsm "$T/a.state" read blue
sc_wait_line rd '^event prompt:'
t0=$(date +%s%N)
ctl unplug >/dev/null
wait_bg rd 10 && fail "unplug: exit 0"
ms=$((($(date +%s%N) - t0) / 1000000))
grep -q '^result CKR_PED_UNPLUGGED$' "$T/rd.log" || fail "unplug: $(cat "$T/rd.log")"
[ "$ms" -lt 1000 ] || fail "CKR_PED_UNPLUGGED after $ms ms"
note "  CKR_PED_UNPLUGGED after $ms ms"
ps_show_until "$D" "Ped2 Connection Status:    Disconnected" 1000 >/dev/null || fail "show"
ctl plug >/dev/null
ps_show_until "$D" "Ped2 Connection Status:    Connected" 2000 >/dev/null || fail "replug"
sc_run c2 -hsm "$T/a.state" connect
sc_key rpvA1 13579 # a replugged PED has lost its cache
wait_bg c2 20 || fail "connect after plug: $(cat "$T/c2.log")"

ps_run -mode stop -statedir "$D"
assert_no_runtime "$D"
note "session_stress: all passed"
