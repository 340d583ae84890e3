#!/bin/sh
# stress_hostile.sh - slow and hostile connections to pedserver (issue 6,
# item 6), HandshakeTimeout 2 s, with real processes on loopback:
#   * a client that connects and sends nothing, one that trickles its HELLO
#     one byte a second, and one that trickles its KEX_INIT after a complete
#     HELLO are each dropped at the handshake deadline (the trickle does not
#     extend it), while a real pedclient connects meanwhile;
#   * garbage, a wrong protocol version, and one flipped bit in HELLO,
#     KEX_INIT (a key, the length, the type), KEX_CONFIRM, HELLO_ACK,
#     KEX_SHARE and KEX_REPLY (a relay that mutates a real pedclient's handshake): the
#     connection closes with a reason in pedserver's log, pedhsm reports a
#     named error, and both daemons keep serving (a real connect and login
#     at the end, same pids); a flipped hello, HELLO_ACK or key proof (a
#     KEX_INIT with the real HSM's public key but no valid proof) gets
#     HSM_KEY_PROOF_FAILED without the PED being asked for anything.
# Every wait is on an event (an output line, a log line, a process exit, LCD
# text).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_client.sh"
. "$(dirname "$0")/lib_stress.sh"

[ -x "$PH" ] || fail "$PH not built (make BUILD=$BUILD $PH)"
[ -x "$PS" ] || fail "$PS not built (make BUILD=$BUILD $PS)"
ok() { echo "ok: $*"; }
MUT=$(dirname "$0")/stress_mutator.py

st_far
st_hsm hsma 1
A=$PC_DIR
SA=$HSM_SERIAL
# the real HSM's address exempt from penalties (PenaltyExempt, as for any
# known HSM): here the hostile clients share 127.0.0.1 with it, and their
# missed deadlines would otherwise block the address, the HSM with it
# (penalty.sh proves penalties)
st_server srv -handshaketimeout 2 -penaltyexempt 127.0.0.1
SLOG=$SRV_DIR/pedserver.log
SPID=$(cat "$SRV_DIR/pedserver.pid")
APID=$(cat "$A/pedclient.pid")
export CTL_SOCK=$FAR_SOCK

# slow MODE: a python3 client (silent, hello: the HELLO one byte a second,
# kex: a HELLO, then the KEX_INIT one byte a second); prints "connected" (and
# "acked"), then "closed after N ms [ERROR code]" (time since connect, or
# since the HELLO_ACK for kex), at most 20 s
slow() {
	python3 -u - "$SRV_PORT" "$1" <<'PY'
import os, socket, struct, sys, time
port, mode = int(sys.argv[1]), sys.argv[2]
def s(x): b = x.encode(); return bytes([len(b)]) + b
def frame(t, p): return bytes([1, t]) + struct.pack(">I", len(p)) + p
hello = frame(1, bytes([1, 1, 2]) + s("slowhsm") + s("4242"))
c = socket.create_connection(("127.0.0.1", port), timeout=20)
t0 = time.monotonic()
print("connected")
drip = b""
if mode == "hello":
    drip = hello
elif mode == "kex":
    c.sendall(hello)
    h = c.recv(6)
    n = struct.unpack(">I", h[2:6])[0]
    while n > 0:
        n -= len(c.recv(n))
    t0 = time.monotonic()
    print("acked")
    drip = frame(0x10, b"\x04" + os.urandom(132) + b"\x04" + os.urandom(132))
data = b""
c.settimeout(1.0)
end = t0 + 20
i = 0
while time.monotonic() < end:
    if i < len(drip):
        try:
            c.send(drip[i:i + 1])
        except OSError:
            break
        i += 1
    try:
        d = c.recv(4096)
        if not d:
            break
        data += d
    except socket.timeout:
        continue
    except OSError:
        break
ms = int((time.monotonic() - t0) * 1000)
err = ""
j = 0
while j + 6 <= len(data):
    t, n = data[j + 1], struct.unpack(">I", data[j + 2:j + 6])[0]
    if t == 0x7f:
        err = " ERROR %d" % struct.unpack(">H", data[j + 6:j + 8])[0]
    j += 6 + n
print("closed after %d ms%s (sent %d of %d bytes)" % (ms, err, i, len(drip)))
PY
}

note "slow clients are dropped at the handshake deadline; a real client gets in meanwhile"
run_bg s_kex slow kex
hsm_line s_kex '^acked$'
run_bg s_silent slow silent
run_bg s_hello slow hello
hsm_line s_silent '^connected$'
hsm_line s_hello '^connected$'
PC_DIR=$A
st_connect c1
wait_bg s_silent 10 || fail "silent client: $(cat "$T/s_silent.log")"
wait_bg s_hello 10 || fail "trickled HELLO: $(cat "$T/s_hello.log")"
wait_bg s_kex 10 || fail "trickled KEX_INIT: $(cat "$T/s_kex.log")"
for c in s_silent s_hello s_kex; do
	line=$(grep "^closed after" "$T/$c.log") || fail "$c: $(cat "$T/$c.log")"
	ms=$(echo "$line" | sed 's/^closed after \([0-9]*\) ms.*/\1/')
	[ "$ms" -ge 1950 ] && [ "$ms" -lt 3000 ] || fail "$c: $line (deadline 2000 ms)"
	note "  $c: $line"
done
assert_contains "ERROR 42" "$(cat "$T/s_kex.log")"
grep -q "no complete HELLO within 2000 ms; closing" "$SLOG" || fail "the silent clients' drop is not logged"
grep -q "HSM 4242): handshake step not completed within 2000 ms (HANDSHAKE_TIMEOUT)" "$SLOG" ||
	fail "the trickled KEX_INIT's drop is not logged"
hsm_run ped show
assert_contains "Session:            open" "$OUT"
hsm_run ped disconnect
ok "silent and trickling clients dropped at the 2 s deadline; A connected meanwhile"

note "garbage and a wrong protocol version: closed with a logged reason"
ans=$(python3 - "$SRV_PORT" <<'PY'
import socket, struct, sys
port = int(sys.argv[1])
def s(x): b = x.encode(); return bytes([len(b)]) + b
def ask(raw):
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    c.sendall(raw)
    data = b""
    while True:
        d = c.recv(4096)
        if not d: break
        data += d
    if len(data) >= 8 and data[1] == 0x7f:
        return "ERROR %d" % struct.unpack(">H", data[6:8])[0]
    return "answer %r" % data[:8]
body = bytes([7, 7, 2]) + s("oldhsm") + s("777")
print(ask(b"GET / HTTP/1.1\r\n\r\n"), ask(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"),
      ask(bytes([2, 1]) + struct.pack(">I", len(body)) + body),
      ask(bytes([1, 1]) + struct.pack(">I", len(body)) + body))
PY
)
[ "$ans" = "ERROR 23 ERROR 23 ERROR 23 ERROR 23" ] || fail "garbage/version: $ans"
grep -q "frame version 71, this server speaks 1 (VERSION_MISMATCH); closing" "$SLOG" || fail "HTTP not logged"
grep -q "frame version 22, this server speaks 1 (VERSION_MISMATCH); closing" "$SLOG" || fail "TLS not logged"
grep -q "client speaks versions 7-7, this server 1 (VERSION_MISMATCH); closing" "$SLOG" ||
	fail "protocol version 7 not logged"
ok "HTTP, a TLS ClientHello, frame version 2 and protocol version 7: VERSION_MISMATCH, logged"

# flip NAME DIR FRAME OFFSET BIT PROMPT RESULT LOGREGEX: ped connect through a
# relay flipping that bit; PROMPT=1: the orange key is asked for (the flip
# shows only after the PED read it); RESULT: pedhsm's error name; LOGREGEX:
# pedserver's reason
flip() {
	local name=$1 dir=$2 fr=$3 off=$4 bit=$5 prompt=$6 result=$7 re=$8 fd port
	rm -f "$T/$name.port"
	mkfifo "$T/$name.port"
	python3 "$MUT" "$SRV_PORT" "$dir" "$fr" "$off" "$bit" >"$T/$name.port" 2>"$T/$name.mut.log" &
	_lib_pids="$_lib_pids $!"
	exec {fd}<"$T/$name.port"
	read -r -t 10 -u "$fd" port || fail "$name: the relay did not start"
	exec {fd}<&-
	ctl mode local >/dev/null
	ctl mode remote >/dev/null
	nlog=$(count_log "$SLOG" "$re")
	nped=$(count_log "$T/far.err" "READ_RPK #[0-9]* started")
	hsm_bg "$name" ped connect -ip 127.0.0.1 -port "$port"
	if [ "$prompt" = 1 ]; then
		ctl_wait "PED Key (ORANGE)" 5000
		ped_key hsmao1 "$OPIN"
	fi
	hsm_done "$name" 15 && fail "$name: ped connect succeeded through a flipped bit: $OUT"
	assert_contains "Command Result : $result (" "$OUT"
	# no prompt expected: the PED was not asked for anything
	[ "$prompt" = 1 ] || [ "$(count_log "$T/far.err" "READ_RPK #[0-9]* started")" = "$nped" ] ||
		fail "$name: the PED was asked for the orange key"
	line=$(wait_log "$SLOG" "$re" 5 $((nlog + 1)))
	hsm_run ped show
	assert_contains "Remote PED:         not connected" "$OUT"
	srv_show_until "Client Information:          Not Available" 2000
	ctl_wait "Awaiting command" 3000
	note "  $name: $(cat "$T/$name.mut.log"); pedhsm $result; pedserver: ${line#* * }"
}

note "one flipped bit in each handshake message: a clean error, a logged reason"
PC_DIR=$A
flip hello_ver c2s 0 0 0 0 VERSION_MISMATCH "frame version 0, this server speaks 1 \(VERSION_MISMATCH\)"
flip hello_purpose c2s 0 8 2 0 PARSE_ERROR "malformed HELLO: .*\(PARSE_ERROR\)"
# a changed hello or HELLO_ACK changes Ts: the HSM's key proof fails and the
# PED is never asked (before the key proof, the PED prompted and the key
# confirmation failed)
flip hello_serial c2s 0 -1 0 0 HSM_KEY_PROOF_FAILED "refused before the PED: .*\(HSM_KEY_PROOF_FAILED\)"
flip kex_key c2s 1 150 3 0 BAD_PUBLIC_KEY "session ended: .*\(BAD_PUBLIC_KEY\)"
flip kex_len c2s 1 2 0 0 TOO_LONG "session ended: .*\(TOO_LONG\)"
flip kex_type c2s 1 1 0 0 BAD_REQUEST "session ended: .*\(BAD_REQUEST\)"
flip confirm c2s 2 16 1 1 RPV_MISMATCH "key confirmation failed.*RPV_MISMATCH"
flip ack_proto s2c 0 -3 0 0 HSM_KEY_PROOF_FAILED "refused before the PED: .*\(HSM_KEY_PROOF_FAILED\)"
flip kex_proof c2s 1 300 5 0 HSM_KEY_PROOF_FAILED "refused before the PED: .*\(HSM_KEY_PROOF_FAILED\)"
flip share_key s2c 1 40 3 0 BAD_PUBLIC_KEY "session ended: .*\(BAD_PUBLIC_KEY\)"
flip reply_tag s2c 2 -5 2 1 RPV_MISMATCH "key confirmation failed.*RPV_MISMATCH"
ok "flipped bits in HELLO, KEX_INIT, KEX_CONFIRM, HELLO_ACK, KEX_SHARE, KEX_REPLY: each refused with a reason"

note "both daemons kept serving"
[ "$(cat "$SRV_DIR/pedserver.pid")" = "$SPID" ] && kill -0 "$SPID" || fail "pedserver restarted or died"
[ "$(cat "$A/pedclient.pid")" = "$APID" ] && kill -0 "$APID" || fail "pedclient restarted or died"
st_connect c2
st_login l2
hsm_run ped disconnect
ok "a real connect and SO login after all of it"

echo "stress_hostile: all ok"
