#!/bin/sh
# pake_interop.sh - the worked example of docs/PROTOCOL.md Part 4 (§4.6)
# recomputed by an independent implementation written from the document
# alone (tests/tools/pake_ref.py: the P-521 arithmetic and one-step KDF of protocol_kat.py,
# HKDF and HMAC from Python's hashlib/hmac) and compared with the values the
# C code produces and tests/unit/pake_test.c pins (tests/unit/pake_example.h).
set -eu
cd "$(dirname "$0")/../.."
python3 tests/tools/pake_ref.py tests/unit/pake_example.h
