#!/usr/bin/env python3
"""stress_mutator.py - a one-connection TCP relay that flips one bit of one
session-protocol frame (docs/PROTOCOL.md Part 3), for stress_hostile.sh.

    stress_mutator.py UPSTREAM_PORT DIR FRAME OFFSET BIT

DIR is c2s (pedclient -> pedserver) or s2c; FRAME the index of the frame in
that direction (c2s 0: HELLO, 1: KEX_INIT, 2: KEX_CONFIRM; s2c 0:
HELLO_ACK, 1: KEX_SHARE, 2: KEX_REPLY); OFFSET the byte in that frame counted from its first header
byte (negative: from its end). Frame boundaries come from the bytes as sent,
so a flipped length does not confuse the relay. Prints the listening port,
then relays until both sides have closed (at most 30 s)."""
import select, socket, struct, sys, time

up_port, direction, target, offset, bit = (int(sys.argv[1]), sys.argv[2], int(sys.argv[3]),
                                          int(sys.argv[4]), int(sys.argv[5]))
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
print(srv.getsockname()[1], flush=True)
sys.stdout.close()
srv.settimeout(30)
cli, _ = srv.accept()
up = socket.create_connection(("127.0.0.1", up_port), timeout=10)


class Dir:
    def __init__(self, name, src, dst):
        self.name, self.src, self.dst = name, src, dst
        self.buf, self.index, self.open = b"", 0, True

    def pump(self):
        d = self.src.recv(65536)
        if not d:
            self.open = False
            self.dst.sendall(self.buf)  # a partial frame goes as it is
            self.buf = b""
            try:
                self.dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            return
        self.buf += d
        while len(self.buf) >= 6:
            n = 6 + struct.unpack(">I", self.buf[2:6])[0]
            if len(self.buf) < n:
                break
            f = bytearray(self.buf[:n])
            self.buf = self.buf[n:]
            if self.name == direction and self.index == target:
                at = offset if offset >= 0 else n + offset
                f[at] ^= 1 << bit
                print("%s frame %d (type 0x%02x, %d bytes): flipped bit %d of byte %d"
                      % (self.name, self.index, f[1], n, bit, at), file=sys.stderr, flush=True)
            self.index += 1
            try:
                self.dst.sendall(bytes(f))
            except OSError:
                self.open = False
                return


dirs = {cli: Dir("c2s", cli, up), up: Dir("s2c", up, cli)}
end = time.monotonic() + 30
while any(d.open for d in dirs.values()) and time.monotonic() < end:
    r, _, _ = select.select([s for s, d in dirs.items() if d.open], [], [], 1)
    for s in r:
        try:
            dirs[s].pump()
        except OSError:
            dirs[s].open = False
cli.close()
up.close()
