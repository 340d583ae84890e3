#!/usr/bin/env python3
"""protocol_kat.py - the worked examples of docs/PROTOCOL.md, derived again
without the project's C code: P-521 in pure Python, SHA-512 and HMAC from
hashlib/hmac, GF(2^8) Shamir in pure Python, AES only through the `openssl`
command (AES-256-CTR for records; AES-256-ECB single blocks for an RFC 5649
key wrap written here from the RFC).

  protocol_kat.py                 prints every value, one "label = hex" a line
  protocol_kat.py --check DOC KAT checks that each value appears in DOC (a
                                  fenced block that starts "label =") and,
                                  for the labels that have one, equals the
                                  constant of the same name in KAT
                                  (tests/unit/kat_test.c); exit 1 otherwise.

So the document, the unit test's constants (which pin the C code) and this
independent derivation cannot drift apart."""
import hashlib
import hmac
import re
import subprocess
import sys

# ---- P-521 (FIPS 186-4 D.1.2.5), affine, for fixed tiny scalars only ----
P = 2**521 - 1
A = P - 3
B = int("0051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef1"
        "09e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00", 16)
GX = int("00c6858e06b70404e9cd9e3ecb662395b4429c648139053fb521f828af606b4d"
         "3dbaa14b5e77efe75928fe1dc127a2ffa8de3348b3c1856a429bf97e7e31c2e5bd66", 16)
GY = int("011839296a789a3bc0045c8a5fb42c7d1bd998f54449579b446817afbd17273e"
         "662c97ee72995ef42640c550b9013fad0761353c7086a272c24088be94769fd16650", 16)


def on_curve(pt):
    x, y = pt
    return (y * y - (x * x * x + A * x + B)) % P == 0


def add(p1, p2):
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    (x1, y1), (x2, y2) = p1, p2
    if x1 == x2 and (y1 + y2) % P == 0:
        return None
    if p1 == p2:
        lam = (3 * x1 * x1 + A) * pow(2 * y1, -1, P) % P
    else:
        lam = (y2 - y1) * pow(x2 - x1, -1, P) % P
    x3 = (lam * lam - x1 - x2) % P
    return x3, (lam * (x1 - x3) - y1) % P


def mul(d, pt):
    r = None
    while d:
        if d & 1:
            r = add(r, pt)
        pt = add(pt, pt)
        d >>= 1
    return r


def pub(d):
    x, y = mul(d, (GX, GY))
    return b"\x04" + x.to_bytes(66, "big") + y.to_bytes(66, "big")


def cdh(d, q):
    x = int.from_bytes(q[1:67], "big")
    y = int.from_bytes(q[67:], "big")
    assert on_curve((x, y))
    return mul(d, (x, y))[0].to_bytes(66, "big")


# ---- SP 800-56C rev2 one-step KDF, SHA-512; FixedInfo of §1.4 ----
def u32(n):
    return n.to_bytes(4, "big")


def lv(x):
    return u32(len(x)) + x


def kdf(z, fixed, n):
    out, i = b"", 1
    while len(out) < n:
        out += hashlib.sha512(u32(i) + z + fixed).digest()
        i += 1
    return out[:n]


ALG_FU = b"RemotePED-1 C(2e,2s) P-521 SHA-512 AES-256-CTR HMAC-SHA-512 AES-256-KWP"
ALG_OP = b"RemotePED-1 C(1e,1s) P-521 SHA-512 AES-256-CTR HMAC-SHA-512 AES-256-KWP"


def fixed_info(alg, id_u, e_u, id_v, e_v, pub_info, priv_info):
    return (lv(alg) + lv(id_u) + lv(e_u) + lv(id_v) + lv(e_v) + u32(2560) +
            lv(pub_info) + lv(priv_info))


def split_dkm(dkm):
    names = ["MacKey", "DEK_UV", "DMK_UV", "CWK_UV", "DEK_VU", "DMK_VU", "CWK_VU"]
    sizes = [64, 32, 64, 32, 32, 64, 32]
    out, off = {}, 0
    for name, size in zip(names, sizes):
        out[name] = dkm[off:off + size]
        off += size
    return out


def hmac512(key, data):
    return hmac.new(key, data, hashlib.sha512).digest()


# ---- AES through the openssl command ----
def openssl_enc(cipher, key, data, iv=None):
    cmd = ["openssl", "enc", "-" + cipher, "-nopad", "-K", key.hex()]
    if iv is not None:
        cmd += ["-iv", iv.hex()]
    return subprocess.run(cmd, input=data, capture_output=True, check=True).stdout


def aes_block(key, block):
    return openssl_enc("aes-256-ecb", key, block)


def kwp_wrap(kek, plain):
    """RFC 5649 §4.1 from its text: AIV, zero padding, one block or W."""
    aiv = bytes.fromhex("a65959a6") + u32(len(plain))
    padded = plain + b"\x00" * (-len(plain) % 8)
    if len(padded) == 8:
        return aes_block(kek, aiv + padded)
    a, r = aiv, [padded[i:i + 8] for i in range(0, len(padded), 8)]
    n = len(r)
    for j in range(6):
        for i in range(n):
            b = aes_block(kek, a + r[i])
            t = n * j + i + 1
            a = (int.from_bytes(b[:8], "big") ^ t).to_bytes(8, "big")
            r[i] = b[8:]
    return a + b"".join(r)


# ---- Shamir over GF(2^8), x^8 + x^4 + x^3 + x + 1 ----
def gf_mul(a, b):
    r = 0
    while b:
        if b & 1:
            r ^= a
        a <<= 1
        if a & 0x100:
            a ^= 0x11B
        b >>= 1
    return r


def gf_inv(a):
    return next(x for x in range(1, 256) if gf_mul(a, x) == 1)


def shamir_split(secret, m, n, coeffs):
    """Byte i uses f_i(x) = s_i + c_i1 x + ... + c_i(m-1) x^(m-1) with
    c_ik = coeffs[i*(m-1) + k-1]; share j has x = j."""
    shares = []
    for x in range(1, n + 1):
        y = bytearray()
        for i, s in enumerate(secret):
            acc, xp = s, 1
            for k in range(1, m):
                xp = gf_mul(xp, x)
                acc ^= gf_mul(coeffs[i * (m - 1) + k - 1], xp)
            y.append(acc)
        shares.append(bytes([1, m, x]) + len(secret).to_bytes(2, "big") + bytes(y))
    return shares


def shamir_combine(shares):
    xs = [s[2] for s in shares]
    basis = []
    for j, xj in enumerate(xs):
        num = den = 1
        for i, xi in enumerate(xs):
            if i != j:
                num = gf_mul(num, xi)
                den = gf_mul(den, xi ^ xj)
        basis.append(gf_mul(num, gf_inv(den)))
    ln = int.from_bytes(shares[0][3:5], "big")
    out = bytearray(ln)
    for s, l in zip(shares, basis):
        for i in range(ln):
            out[i] ^= gf_mul(s[5 + i], l)
    return bytes(out), bytes(basis)


# ---- the examples ----
def examples():
    v = {}
    # §1.9 Full Unified, U = HSM side, V = PED side
    qs_u, qe_u, qs_v, qe_v = pub(2), pub(3), pub(5), pub(7)
    v["Qs_U"], v["Qe_U"], v["Qs_V"], v["Qe_V"] = qs_u, qe_u, qs_v, qe_v
    rpv = bytes(range(32))
    ctx = b"RemotePED example transcript"
    ze, zs = cdh(3, qe_v), cdh(2, qs_v)
    assert ze == cdh(7, qe_u) and zs == cdh(5, qs_u)
    v["Ze"], v["Zs"] = ze, zs
    fi = fixed_info(ALG_FU, qs_u, qe_u, qs_v, qe_v, ctx, rpv)
    assert len(fi) == 695
    v["SHA-512(FixedInfo)"] = hashlib.sha512(fi).digest()
    keys = split_dkm(kdf(ze + zs, fi, 320))
    for name, val in keys.items():
        v[name] = val
    v["MacTag_U"] = hmac512(keys["MacKey"], b"KC_2_U" + qs_u + qs_v + qe_u + qe_v)
    v["MacTag_V"] = hmac512(keys["MacKey"], b"KC_2_V" + qs_v + qs_u + qe_v + qe_u)
    # the first record U sends: seq 0, plaintext "hello"
    hdr = b"\x01" + u32(5)
    body = openssl_enc("aes-256-ctr", keys["DEK_UV"], b"hello", iv=bytes(16))
    tag = hmac512(keys["DMK_UV"], bytes(8) + hdr + body)
    v["record 0 from U"] = hdr + body + tag

    # §2.2.1 Shamir: M = 3 of N = 4, secret "SECR"
    secret = b"SECR"
    shares = shamir_split(secret, 3, 4, bytes(range(1, 9)))
    for s in shares:
        v["share x=%d" % s[2]] = s
    got, basis = shamir_combine([shares[3], shares[1], shares[2]])
    assert got == secret
    v["Lagrange basis at 0 for x = 4, 2, 3"] = basis

    # §1.7 KWP: share x=1 wrapped under the example's CWK_UV
    v["KWP(CWK_UV, share x=1)"] = kwp_wrap(keys["CWK_UV"], shares[0])

    # §1.10 One-Pass: U = PED (ephemeral 3), V = HSM (static 5), Nonce_V 20..3f
    nonce = bytes(range(0x20, 0x40))
    z = cdh(3, qs_v)
    assert z == cdh(5, qe_u)
    v["Z (One-Pass)"] = z
    spi = hashlib.sha512(qs_v + nonce).digest()
    v["SuppPubInfo (One-Pass)"] = spi
    fi1 = fixed_info(ALG_OP, b"", qe_u, qs_v, b"", spi, b"")
    assert len(fi1) == 4 + len(ALG_OP) + 4 + 4 + 133 + 4 + 133 + 4 + 4 + 4 + 64 + 4
    v["SHA-512(FixedInfo) (One-Pass)"] = hashlib.sha512(fi1).digest()
    k1 = split_dkm(kdf(z, fi1, 320))
    for name in ("MacKey", "CWK_UV", "CWK_VU"):
        v[name + " (One-Pass)"] = k1[name]
    v["MacTag_V (One-Pass)"] = hmac512(k1["MacKey"], b"KC_1_V" + qs_v + nonce + qe_u)
    return v


# label in the document -> name of the constant in kat_test.c
KAT_NAMES = {
    "Qs_U": "kat_qs_u", "Qe_U": "kat_qe_u", "Qs_V": "kat_qs_v", "Qe_V": "kat_qe_v",
    "Ze": "kat_ze", "Zs": "kat_zs", "SHA-512(FixedInfo)": "kat_fixed_sha512",
    "MacKey": "kat_mackey",
    "DEK_UV": "kat_dek_uv", "DMK_UV": "kat_dmk_uv", "CWK_UV": "kat_cwk_uv",
    "DEK_VU": "kat_dek_vu", "DMK_VU": "kat_dmk_vu", "CWK_VU": "kat_cwk_vu",
    "MacTag_U": "kat_mactag_u", "MacTag_V": "kat_mactag_v", "record 0 from U": "kat_record",
    "share x=1": "kat_share1", "share x=2": "kat_share2", "share x=3": "kat_share3",
    "share x=4": "kat_share4", "KWP(CWK_UV, share x=1)": "kat_kwp",
    "Z (One-Pass)": "kat_op_z", "SuppPubInfo (One-Pass)": "kat_op_supppub",
    "SHA-512(FixedInfo) (One-Pass)": "kat_op_fixed_sha512", "MacKey (One-Pass)": "kat_op_mackey",
    "CWK_UV (One-Pass)": "kat_op_cwk_uv", "CWK_VU (One-Pass)": "kat_op_cwk_vu",
    "MacTag_V (One-Pass)": "kat_op_mactag_v",
}


def doc_values(text):
    """label -> hex of every fenced block that starts with 'label ='."""
    out = {}
    for block in re.findall(r"```\n(.*?)```", text, re.S):
        m = re.match(r"([^\n]+) =[ \t]*\n(.*)", block, re.S)
        if m:
            out[m.group(1).strip()] = "".join(m.group(2).split()).lower()
    return out


def kat_values(text):
    out = {}
    for name, body in re.findall(r"static const char (kat_\w+)\[\] =\s*((?:\"[0-9a-f]*\"\s*)+);",
                                 text):
        out[name] = "".join(re.findall(r"\"([0-9a-f]*)\"", body))
    return out


def main(argv):
    v = examples()
    if len(argv) == 1:
        for k, x in v.items():
            print("%s = %s" % (k, x.hex()))
        return 0
    if len(argv) != 4 or argv[1] != "--check":
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[2]) as f:
        doc = doc_values(f.read())
    with open(argv[3]) as f:
        kat = kat_values(f.read())
    bad = 0
    for k, x in v.items():
        if doc.get(k) != x.hex():
            print("%s: %s differs from the derivation (%s)" % (argv[2], k,
                  "missing" if k not in doc else doc[k][:16] + "..."))
            bad += 1
        c = KAT_NAMES.get(k)
        if c is not None and kat.get(c) != x.hex():
            print("%s: %s (%s) differs from the derivation" % (argv[3], c, k))
            bad += 1
    print("protocol_kat: %d values, %d mismatches" % (len(v), bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
