#!/bin/sh
# client_deadlines.sh - pedclient's first handshake deadline (docs/PROTOCOL.md
# §3.8, U's table): a server that accepts the connection, reads the HELLO and
# then stays silent. pedclient must give up after its fixed 5 s, report
# HANDSHAKE_TIMEOUT on the console, and close the connection WITHOUT a frame
# (the server sees exactly one frame, the HELLO, then end of stream). The
# server is a python3 stand-in that records what it receives and when.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_client.sh"

[ -x "$PH" ] || fail "$PH not built"
start_pc hsm
PORT=$(free_port)
cat >"$T/srv.py" <<'PY'
import socket, struct, sys, time
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1])))
srv.listen(1)
print("listening", flush=True)
c, _ = srv.accept()
t = time.monotonic()
c.settimeout(20)
data = b""
while True:
    d = c.recv(4096)
    if not d:
        break
    data += d
ms = int((time.monotonic() - t) * 1000)
types, i = [], 0
while i + 6 <= len(data):
    types.append("%02x" % data[i + 1])
    i += 6 + struct.unpack(">I", data[i + 2:i + 6])[0]
print("eof after %d ms; frames %s; bytes %d of %d framed" % (ms, " ".join(types), i, len(data)),
      flush=True)
PY
run_bg srv python3 "$T/srv.py" "$PORT"
wait_line srv '^listening$' 10

hsm_run ped connect -password 12345678 -ip 127.0.0.1 -port "$PORT"
[ "$RC" -ne 0 ] || fail "ped connect to a silent server succeeded: $OUT"
assert_contains "HANDSHAKE_TIMEOUT" "$OUT"
wait_bg srv 30 || fail "silent server: $(cat "$T/srv.log")"
line=$(sed -n 's/^eof after //p' "$T/srv.log")
ms=${line%% ms*}
[ -n "$ms" ] && [ "$ms" -ge 4500 ] && [ "$ms" -lt 8000 ] || fail "closed after '$line'"
assert_contains "frames 01;" "$line"
case "$line" in *"bytes "*" of "*" framed"*) ;; *) fail "odd record: $line" ;; esac
n1=$(sed -n 's/.*bytes \([0-9]*\) of .*/\1/p' <<<"$line")
n2=$(sed -n 's/.* of \([0-9]*\) framed.*/\1/p' <<<"$line")
[ "$n1" = "$n2" ] || fail "bytes after the HELLO: $line"
note "pedclient gave up after $ms ms, HANDSHAKE_TIMEOUT, only its HELLO on the wire"
echo "client_deadlines: all ok"
