#!/usr/bin/env python3
"""delayproxy.py - a userspace TCP proxy that delays, jitters and cuts a link.

Stands between pedclient and pedserver in the scenario tests and `make
bench` (tc/netem is not available in these sandboxes):

  delayproxy.py serve --target HOST:PORT --control PATH
                      [--delay-ms D] [--jitter-ms J] [--port P] [--record DIR]
      listens on 127.0.0.1 (port P, 0: any free one), prints "port N" once
      listening, and "accept N TIME" (Unix time) for each connection it
      relays; it relays every connection to HOST:PORT. Each chunk read
      on either side is delivered D ms later, plus a uniform draw in
      [-J, +J] ms, never before the chunk read before it (TCP keeps order).
      --record DIR keeps what each client sent, DIR/conn-N.c2s (N from 1),
      for a test that replays it.
  delayproxy.py ctl PATH COMMAND
      sends one command to a running proxy, prints its answer:
        cut       resets every relayed connection (RST both ways) and
                  refuses new ones (accepted, then reset) until restore
        stall     a silent cut: every byte (and every close) of the relayed
                  connections is dropped, new connections are refused; no
                  reset, so only the peers' own deadlines notice
        restore   relays new connections again (ends a cut or a stall)
        delay D [J]  changes the one-way delay (and jitter) from now on
        stats     "connections N cuts N refused N up|down"
"""
import argparse
import asyncio
import os
import random
import socket
import struct
import sys
import time


class Proxy:
    def __init__(self, target, delay_ms, jitter_ms, record=None):
        self.record = record
        self.host, port = target.rsplit(":", 1)
        self.port = int(port)
        self.delay = delay_ms / 1000.0
        self.jitter = jitter_ms / 1000.0
        self.down = False
        self.stalled = False
        self.dead = set()  # writers of connections a stall cut: silent for good
        self.pairs = set()
        self.connections = self.cuts = self.refused = 0

    def when(self, last):
        loop = asyncio.get_running_loop()
        t = loop.time() + self.delay + random.uniform(-self.jitter, self.jitter)
        return max(t, last)

    async def pump(self, reader, writer, pair, tap=None):
        """Relays one direction: each chunk is written at its due time."""
        loop = asyncio.get_running_loop()
        queue = asyncio.Queue()
        last = 0.0

        async def deliver():
            while True:
                due, data = await queue.get()
                if data is None:
                    break
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)  # the configured delay itself
                if self.stalled or writer in self.dead:
                    continue  # a silent cut: the bytes are lost
                writer.write(data)
                await writer.drain()
            if not self.stalled and writer not in self.dead and writer.can_write_eof():
                writer.write_eof()

        task = asyncio.ensure_future(deliver())
        try:
            while True:
                data = await reader.read(65536)
                if tap is not None and data:
                    tap.write(data)
                    tap.flush()
                last = self.when(last)
                queue.put_nowait((last, data if data else None))
                if not data:
                    break
            await task
        except (ConnectionError, OSError, asyncio.CancelledError):
            task.cancel()
        finally:
            pair.discard(writer)

    @staticmethod
    def reset(writer):
        sock = writer.get_extra_info("socket")
        try:
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                struct.pack("ii", 1, 0))
        except OSError:
            pass
        writer.transport.abort()

    async def client(self, creader, cwriter):
        if self.down or self.stalled:
            self.refused += 1
            self.reset(cwriter)
            return
        try:
            sreader, swriter = await asyncio.open_connection(self.host, self.port)
        except OSError:
            self.reset(cwriter)
            return
        for w in (cwriter, swriter):
            s = w.get_extra_info("socket")
            if s is not None:
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connections += 1
        print("accept %d %.3f" % (self.connections, time.time()), flush=True)
        pair = {cwriter, swriter}
        self.pairs.add((cwriter, swriter))
        tap = None
        if self.record:
            tap = open(os.path.join(self.record, "conn-%d.c2s" % self.connections), "wb")
        try:
            await asyncio.gather(self.pump(creader, swriter, pair, tap),
                                 self.pump(sreader, cwriter, pair))
        finally:
            if tap is not None:
                tap.close()
            self.pairs.discard((cwriter, swriter))
            for w in (cwriter, swriter):
                self.dead.discard(w)
                w.transport.abort()

    def cut(self):
        self.down = True
        self.cuts += 1
        for cw, sw in list(self.pairs):
            self.reset(cw)
            self.reset(sw)
        self.pairs.clear()

    async def control(self, reader, writer):
        line = (await reader.readline()).decode(errors="replace").split()
        answer = "ok"
        if line[:1] == ["cut"]:
            self.cut()
        elif line[:1] == ["stall"]:
            self.stalled = True
            for cw, sw in self.pairs:
                self.dead.update((cw, sw))
        elif line[:1] == ["restore"]:
            self.down = False
            self.stalled = False
        elif line[:1] == ["delay"] and len(line) in (2, 3):
            self.delay = int(line[1]) / 1000.0
            self.jitter = int(line[2]) / 1000.0 if len(line) == 3 else 0.0
        elif line[:1] == ["stats"]:
            answer = "connections %d cuts %d refused %d %s" % (
                self.connections, self.cuts, self.refused,
                "down" if self.down else "up")
        else:
            answer = "error: unknown command"
        writer.write((answer + "\n").encode())
        await writer.drain()
        writer.close()


async def serve(args):
    proxy = Proxy(args.target, args.delay_ms, args.jitter_ms, args.record)
    srv = await asyncio.start_server(proxy.client, "127.0.0.1", args.port)
    if os.path.exists(args.control):
        os.unlink(args.control)
    ctl = await asyncio.start_unix_server(proxy.control, args.control)
    os.chmod(args.control, 0o600)
    print("port %d" % srv.sockets[0].getsockname()[1], flush=True)
    async with srv, ctl:
        await asyncio.gather(srv.serve_forever(), ctl.serve_forever())


def ctl(path, words):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(path)
    s.sendall((" ".join(words) + "\n").encode())
    data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(256)
        if not chunk:
            break
        data += chunk
    answer = data.decode().strip()
    print(answer)
    return 0 if answer and not answer.startswith("error") else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--target", required=True)
    s.add_argument("--control", required=True)
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--delay-ms", type=int, default=0)
    s.add_argument("--jitter-ms", type=int, default=0)
    s.add_argument("--record")
    c = sub.add_parser("ctl")
    c.add_argument("path")
    c.add_argument("words", nargs="+")
    args = ap.parse_args()
    if args.cmd == "ctl":
        sys.exit(ctl(args.path, args.words))
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
