#!/bin/bash
# tls_link.sh - `make bench`: the session handshake over a PED-initiated link
# beside the HSM-initiated one (issue 14), real processes on loopback:
# pedemu (Remote mode, the orange key cached after the first connect, so it
# answers at once), pedserver, pedclient with its software HSM, pedhsm.
#   direct  pedhsm ped connect -ip 127.0.0.1 -port P: TCP connect + the
#           Part 3 handshake (HSM-initiated);
#   link    pedhsm ped connect with no address: the Part 3 handshake inside
#           the TLS link pedserver made beforehand (PED-initiated);
# each the wall time of the pedhsm process (start to exit, ped disconnect
# after it, not timed), interleaved, median of N. And the link's own TLS 1.3
# handshake (pedserver's log: connect to READY), median over the re-dials
# that follow each session. Bounded: everything stops after the rounds.
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
. tests/scenario/lib.sh
. tests/scenario/lib_client.sh
. tests/scenario/lib_tls.sh
N=${TLS_BENCH_N:-15}

start_pedemu local -mode local
start_pedemu far -mode remote
PC_ARGS="-localped $EMU_local_LINK"
SPORT=$(free_port)
PS_ARGS="-idletimeout 0"
tls_pair
OPIN=-
make_rpv o local
"$PS" -mode connect -name hsm1 -statedir "$SRV" >/dev/null
wait_up 1
export CTL_SOCK=$EMU_far_SOCK
hsm_bg c0 ped connect -ip 127.0.0.1 -port "$SPORT"
ctl_wait "PED Key (ORANGE)" 5000
ped_key o1 -
hsm_done c0 || fail "first connect: $OUT"
hsm_run ped disconnect

ms() { echo $(( ($2 - $1) / 1000 )); }
ups=1
: >"$T/direct" >"$T/link"
for ((i = 0; i < N; i++)); do
	for kind in direct link; do
		if [ "$kind" = link ]; then
			wait_up "$ups"
			set -- ped connect
		else
			set -- ped connect -ip 127.0.0.1 -port "$SPORT"
		fi
		t0=$(date +%s%N)
		"$PH" -statedir "$PC_DIR" "$@" >"$T/one.log" 2>&1 || fail "$kind connect: $(cat "$T/one.log")"
		t1=$(date +%s%N)
		[ "$kind" = direct ] || grep -q "PED-initiated link" "$T/one.log" || fail "not over the link"
		echo $(( (t1 - t0) / 1000 )) >>"$T/$kind"
		"$PH" -statedir "$PC_DIR" ped disconnect >/dev/null
		[ "$kind" = direct ] || ups=$((ups + 1))
	done
done
wait_up "$ups"
med() { sort -n "$1" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
grep -o 'TLS 1.3 handshake [0-9.]* ms' "$SRV/pedserver.log" | awk '{ print $4 * 1000 }' >"$T/tls"
D=$(med "$T/direct")
L=$(med "$T/link")
H=$(med "$T/tls")
echo "PED-initiated link vs HSM-initiated (pedhsm ped connect wall time, median of $N, interleaved)"
printf '  direct   %8d us   (TCP connect + Part 3 handshake; process start included)\n' "$D"
printf '  link     %8d us   (Part 3 handshake inside the TLS link made beforehand)\n' "$L"
awk -v d="$D" -v l="$L" 'BEGIN { printf "  link / direct  %6.3fx\n", l / d }'
printf '  TLS 1.3 link set-up %6d us   (pedserver: TCP connect, mutual pinned ECDSA, READY; median of %s re-dials, off the session'"'"'s path)\n\n' \
	"$H" "$(wc -l <"$T/tls")"
