#!/usr/bin/env python3
"""pake_ref.py - an independent implementation of docs/PROTOCOL.md Part 4
(the one-time password mode), written from the document alone, on the P-521
arithmetic and KDF of protocol_kat.py, HKDF and HMAC from hashlib/hmac. It recomputes
the worked example of section 4.6 and compares every value with the C code's
pinned copy (tests/unit/pake_example.h). Usage: pake_ref.py EXAMPLE_H
Exit 0 when every value matches."""
import hashlib
import hmac
import os
import re
import sys

# P-521 arithmetic, lv() and the one-step KDF: the other reference written
# from the document (protocol_kat.py, same folder)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from protocol_kat import A, B, GX, GY, P, add, kdf as sskdf, lv, mul  # noqa: E402

N = 0x01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409
G = (GX, GY)
# RFC 9382 section 6, compressed
M_HEX = ("02003f06f38131b2ba2600791e82488e8d20ab889af753a41806c5db18d37d85608cfae06b82e4a7"
         "2cd744c719193562a653ea1f119eef9356907edc9b56979962d7aa")
N_HEX = ("0200c7924b9ec017f3094562894336a53c50167ba8c5963876880542bc669e494b2532d76c5b53df"
         "b349fdf69154b9e0048c58a42e8ed04cef052a3bc349d95575cd25")


def neg(pt):
    return (pt[0], (-pt[1]) % P)


def decompress(h):
    b = bytes.fromhex(h)
    x = int.from_bytes(b[1:], "big")
    y = pow((x**3 + A * x + B) % P, (P + 1) // 4, P)
    if (y & 1) != (b[0] & 1):
        y = P - y
    return (x, y)


def enc(pt):
    return b"\x04" + pt[0].to_bytes(66, "big") + pt[1].to_bytes(66, "big")


def hkdf(ikm, info, n):
    prk = hmac.new(b"\x00" * 64, ikm, hashlib.sha512).digest()
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha512).digest()
        out += t
        i += 1
    return out[:n]


def le8(n):
    return n.to_bytes(8, "little")


def main():
    want = dict(re.findall(r'#define EX_(\w+) "([0-9a-f]*)"', open(sys.argv[1]).read()))
    pw, serial, server = b"12345678", b"154704", b"pedhost"
    t = bytes(range(64))
    x, y = 3, 5
    Mp, Np = decompress(M_HEX), decompress(N_HEX)
    w_raw = sskdf(pw, lv(b"RemotePED-1 SPAKE2 password") + lv(serial), 74)
    w = int.from_bytes(w_raw, "big") % N
    ida = bytes([len(serial)]) + serial + enc(mul(2, G))
    idb = bytes([len(server)]) + server
    pa = add(mul(x, G), mul(w, Mp))
    pb = add(mul(y, G), mul(w, Np))
    k = mul(x, add(pb, neg(mul(w, Np))))
    assert k == mul(y, add(pa, neg(mul(w, Mp))))
    wb = w.to_bytes(66, "big")
    tt = b"".join(le8(len(f)) + f for f in (ida, idb, enc(pa), enc(pb), enc(k), wb))
    h = hashlib.sha512(tt).digest()
    ke, ka = h[:32], h[32:]
    kc = hkdf(ka, b"ConfirmationKeys" + t, 64)
    kca, kcb = kc[:32], kc[32:]
    confa = hmac.new(kca, tt, hashlib.sha512).digest()
    confb = hmac.new(kcb, tt, hashlib.sha512).digest()
    alg = b"RemotePED-1 SPAKE2 P-521 SHA-512 AES-256-CTR HMAC-SHA-512 AES-256-KWP"
    fixed = (lv(alg) + lv(ida) + lv(enc(pa)) + lv(idb) + lv(enc(pb)) +
             (2560).to_bytes(4, "big") + lv(t) + lv(b""))
    dkm = sskdf(ke, fixed, 320)
    got = {
        "W": w_raw, "IDA": ida, "PA": enc(pa), "PB": enc(pb), "K": enc(k), "HTT": h,
        "KCA": kca, "KCB": kcb, "CONFA": confa, "CONFB": confb,
        "DEK_UV": dkm[64:96], "DMK_UV": dkm[96:160], "CWK_UV": dkm[160:192],
        "DEK_VU": dkm[192:224], "DMK_VU": dkm[224:288], "CWK_VU": dkm[288:320],
    }
    bad = [n for n, v in got.items() if want.get(n) != v.hex()]
    for n in got:
        print("%-7s %s" % (n, "match" if n not in bad else "DIFFERS"))
    print("pake_ref: %d passed, %d failed" % (len(got) - len(bad), len(bad)))
    return 1 if bad or len(want) != len(got) else 0


if __name__ == "__main__":
    sys.exit(main())
