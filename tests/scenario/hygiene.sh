#!/bin/sh
# hygiene.sh - secrets never leave their stores. A whole ceremony at trace
# level (pedserver and pedclient -logtrace 1, pedemu -loglevel trace):
# local RPV init (orange 1 of 1), ped connect, hsm init (blue SO 2 of 3, red
# domain 1 of 1), SO login with a wrong-PIN attempt, partition init, CO init
# and CO login, with canary PINs. Every stdout, stderr, log and LCD snapshot is
# kept under $T. Then the test decodes the real secrets from their stores
# (tests/tools/keysecrets: the HSM state file, and the PED-key files with the
# known PINs; it proves its decoding against the HSM's verifiers) and searches
# every other file under $T (the logs and both audit trails too), and the daemons' command lines, for each PIN and
# each secret (RPV, d_PED, role secrets, the HSM's static scalar, every
# share's y bytes) as raw bytes, lower/upper-case hex and base64: any hit
# fails with the file and offset. The LCD shows one '*' per PIN digit;
# pedlink -v reading the orange key afterwards prints no secret either. Both
# daemons report dumpable 0 and a core limit of 0 (show, /proc/PID/limits).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_client.sh"

KS=${KS:-$BUILD/tests/tools/keysecrets}
for b in "$PH" "$PS" "$KS"; do
	[ -x "$b" ] || fail "$b not built (make BUILD=$BUILD)"
done
ok() { echo "ok: $*"; }

# canary PINs: 8 or more digits, so that no random hex in a trace matches
OPIN=80873301
SOPIN=42771953
BADPIN=61094827
DPIN=39517264
POPIN=57302918
PDPIN=92648315
COPIN=73460195
PINS="$OPIN $SOPIN $BADPIN $DPIN $POPIN $PDPIN $COPIN"
CAP=$T/captured.txt # every output this script sees
cap() { printf '%s\n' "$*" >>"$CAP"; }

# one key entry with a PIN; the LCD is captured while the PIN is typed
pin_entry() {
	local pin=$1 scr
	ctl type "$pin" >/dev/null
	scr=$(ctl screen)
	cap "$scr"
	grep -q -- "$(printf '%*s' ${#pin} '' | tr ' ' '*')" <<<"$scr" ||
		fail "the LCD does not mask the PIN with ${#pin} '*': $scr"
	ctl press ENTER >/dev/null
}
hy_key() {
	_ctl_raw remove >/dev/null
	ctl insert "$1" >/dev/null
	ctl press ENTER >/dev/null
	ctl_wait "Enter PED PIN" 5000
	pin_entry "$2"
}
hy_write() { # PREFIX N PIN
	local i
	for ((i = 1; i <= $2; i++)); do
		_ctl_raw newkey "$1$i" >/dev/null
		ctl_wait "PED Key (" 5000
		_ctl_raw remove >/dev/null
		ctl insert "$1$i" >/dev/null
		ctl press ENTER >/dev/null
		ctl_wait "Overwrite? YES/NO" 5000
		ctl press YES >/dev/null
		ctl_wait "Enter new PED PIN" 5000
		pin_entry "$3"
		ctl_wait "Confirm new PED PIN" 5000
		pin_entry "$3"
	done
}
new_keyset() { # TITLE M N PREFIX PIN
	ctl_wait "$1" 5000
	ped_mn "$2" "$3"
	hy_write "$4" "$3" "$5"
	ctl_wait "duplicating" 5000
	ctl press NO >/dev/null
}
hsm_cmd() { # pedhsm in the foreground, output kept
	hsm_run "$@"
	cap "$OUT"
}

start_pedemu local -mode local -loglevel trace
start_pedemu far -mode remote -loglevel trace
start_pc hsm -localped "$EMU_local_LINK" -logtrace 1
cap "$OUT"
HSM=$PC_DIR
SPORT=$(free_port)
RC=0
OUT=$("$PS" -mode start -hsmpolicy any -statedir "$T/srv" -port "$SPORT" -admin "$(free_port)" \
	-ped "$EMU_far_LINK" -logtrace 1 2>&1) || RC=$?
cap "$OUT"
[ "$RC" -eq 0 ] || fail "pedserver start: $OUT"

note "the daemons are undumpable, with no core files"
pcs -mode show -statedir "$HSM"
cap "$OUT$ERR"
assert_contains "Dumpable, Core Limit:  0, 0" "$OUT"
RC=0
OUT=$("$PS" -mode show -statedir "$T/srv" 2>&1) || RC=$?
cap "$OUT"
assert_contains "Dumpable, Core Limit:      0, 0" "$OUT"
PIDS="$(cat "$HSM/pedclient.pid") $(cat "$T/srv/pedserver.pid")"
for pid in $PIDS; do
	grep -q -E '^Max core file size +0 +0 ' "/proc/$pid/limits" ||
		fail "core limit of $pid: $(grep core "/proc/$pid/limits")"
done
ok "pedclient and pedserver: PR_GET_DUMPABLE 0, RLIMIT_CORE 0/0"

note "the ceremony, at trace level, with canary PINs"
export CTL_SOCK=$EMU_local_SOCK
hsm_bg rpv ped vector init
new_keyset "SETTING RPV" 1 1 o $OPIN
hsm_done rpv || fail "vector init: $OUT"
cp "$T/local.keys/o1.key" "$T/far.keys/o1.key"

export CTL_SOCK=$EMU_far_SOCK
hsm_bg con ped connect -ip 127.0.0.1 -port "$SPORT"
ctl_wait "PED Key (ORANGE)" 5000
hy_key o1 $OPIN
hsm_done con || fail "ped connect: $OUT"

hsm_bg hi hsm init -label CANARY
new_keyset "SETTING SO PIN" 2 3 b $SOPIN
new_keyset "SETTING DOMAIN" 1 1 r $DPIN
hsm_done hi || fail "hsm init: $OUT"

hsm_bg bad role login -name so
ctl_wait "PED Key (BLUE)" 5000
hy_key b1 $SOPIN
ctl_wait "Keys read: 01 of 02" 5000
hy_key b2 $BADPIN
hsm_done bad && fail "a wrong PIN logged in: $OUT"
assert_contains "CKR_PIN_INCORRECT" "$OUT"

hsm_bg so role login -name so
ctl_wait "PED Key (BLUE)" 5000
hy_key b3 $SOPIN
ctl_wait "Keys read: 01 of 02" 5000
hy_key b2 $SOPIN
hsm_done so || fail "SO login: $OUT"

hsm_bg pi partition init -label CANARY-P
new_keyset "SETTING PO PIN" 1 1 p $POPIN
new_keyset "SETTING PAR DOMAIN" 1 1 q $PDPIN
hsm_done pi || fail "partition init: $OUT"

hsm_bg ci role init -name co
new_keyset "SETTING CO PIN" 1 1 k $COPIN
hsm_done ci || fail "CO init: $OUT"
hsm_bg lc role login -name co
ctl_wait "PED Key (BLACK)" 5000
hy_key k1 $COPIN
hsm_done lc || fail "CO login: $OUT"
hsm_cmd hsm show
assert_contains "CO       1 of 1 keyset, failed logins 0 of 10, logged in" "$OUT"
hsm_cmd ped show
for s in "$EMU_local_SOCK" "$EMU_far_SOCK"; do
	CTL_SOCK=$s
	cap "$(ctl screen)" "$(ctl keys)" "$(ctl status)"
	ctl press LOG >/dev/null # the PED's action log
	cap "$(ctl screen)"
done
for pid in $PIDS; do # no secret on a command line
	tr '\0' ' ' <"/proc/$pid/cmdline" >"$T/cmdline.$pid"
done
ok "ceremony done: RPV, connect, hsm init 2 of 3, SO login (+ wrong PIN), partition, CO"

note "stop everything, so that every log is complete"
hsm_cmd ped disconnect
pc -mode stop -statedir "$HSM"
cap "$OUT"
RC=0
OUT=$("$PS" -mode stop -statedir "$T/srv" 2>&1) || RC=$?
cap "$OUT"
# pedlink (-v: every frame) reads the orange key on the now free Local PED
export CTL_SOCK=$EMU_local_SOCK
run_bg pedlink "$PEDLINK" -ped "$T/local.link" -v -secure read orange
ctl_wait "PED Key (ORANGE)" 5000
hy_key o1 $OPIN
wait_bg pedlink 20 || fail "pedlink read orange: $(cat "$T/pedlink.log")"
grep -q "^fingerprint " "$T/pedlink.log" || fail "pedlink: $(cat "$T/pedlink.log")"
stop_pedemu local
stop_pedemu far
for f in "$HSM/pedclient.log" "$T/srv/pedserver.log" "$T/local.err" "$T/far.err"; do
	[ -s "$f" ] || fail "no log in $f"
done
# the audit trails are among the files searched below: they must be there
for f in "$HSM/audit.log" "$T/srv/audit.log"; do
	grep -q '"event":"ped_op"' "$f" || fail "no PED operation in the audit trail $f"
done
grep -q -i "trace" "$T/local.err" "$T/far.err" || grep -q "link: in" "$T/far.err" ||
	fail "pedemu did not trace"

note "decode the secrets from their stores"
KEYARGS=()
for f in "$T/local.keys/o1.key" "$T"/far.keys/*.key; do
	n=$(basename "$f" .key)
	case $n in
	o*) p=$OPIN ;; b*) p=$SOPIN ;; r*) p=$DPIN ;; p*) p=$POPIN ;; q*) p=$PDPIN ;;
	k*) p=$COPIN ;; *) fail "unexpected key $f" ;;
	esac
	KEYARGS+=("$f=$p")
done
SECRETS=$(PED_TEST_SECRETS=1 "$KS" -state "$HSM/slot0.hsm" "${KEYARGS[@]}") ||
	fail "keysecrets failed"
for v in rpv so domain po pdomain co; do
	grep -q "^verified $v\$" <<<"$SECRETS" || fail "the decoded $v secret is not the HSM's"
done
[ "$(grep -c '^share ' <<<"$SECRETS")" = 9 ] || fail "shares decoded: $(grep -c '^share ' <<<"$SECRETS")"
ok "secrets decoded from the key store and the HSM state, checked against the verifiers"

note "search every other file for the PINs and the secrets"
# secrets on stdin (never in a file), PINs as arguments
awk '{print $NF}' <<<"$SECRETS" | grep -E '^[0-9a-f]+$' | python3 -c '
import base64, os, sys
root, pins = sys.argv[1], sys.argv[2:]
needles = []
def add(name, b):
    needles.append((name + " raw", b))
    needles.append((name + " hex", b.hex().encode()))
    needles.append((name + " HEX", b.hex().upper().encode()))
    for shift in range(3): # base64 at each alignment: its stable middle
        e = base64.b64encode(bytes(shift) + b)
        lo, hi = -(-8 * shift // 6), (8 * (shift + len(b))) // 6
        needles.append((name + " base64", e[lo:hi]))
for i, line in enumerate(sys.stdin.read().split()):
    add("secret#%d" % i, bytes.fromhex(line))
for p in pins:
    add("PIN " + p, p.encode())
# the search itself must work: each encoding of a test secret is found
saved = needles[:]
needles.clear()
add("probe", os.urandom(32))
blob = b"".join(b"xx" + n for _, n in needles)
assert all(n in blob for _, n in needles) and len(needles) == 6
needles[:] = saved
hits = 0
for d, _, files in os.walk(root):
    for f in files:
        p = os.path.join(d, f)
        if f.endswith(".key") or (f.startswith("slot") and f.endswith(".hsm")):
            continue
        if not os.path.isfile(p) or os.path.islink(p):
            continue
        data = open(p, "rb").read()
        for name, n in needles:
            i = data.find(n)
            if i >= 0:
                print("LEAK: %s in %s at offset %d" % (name, p, i))
                hits += 1
print("scanned %d needles" % len(needles), file=sys.stderr)
sys.exit(1 if hits else 0)
' "$T" $PINS || fail "a secret or a PIN outside its store"
ok "no PIN and no secret (raw, hex, HEX, base64) in any log, output or file outside the stores"

echo "hygiene: all ok"
