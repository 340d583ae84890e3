# lib_link.sh - helpers for the PED link scenarios (tests/scenario/link_*.sh),
# on top of lib.sh (bash, $T, start_pedemu, ctl, ctl_wait, run_bg, wait_bg).
# pedlink runs in the background; its output ($T/NAME.log) is waited for
# line by line. Every wait has a deadline; nothing sleeps to wait for an event.
#
#   ll_run NAME ARGS...              pedlink -ped $EMU_LINK ARGS in the background
#   ll_wait_line NAME REGEX [S]      until NAME's output has a line matching REGEX
#   ll_finish NAME [S]               wait for pedlink NAME; its exit status
#   ll_pedlink ARGS...               pedlink in the foreground (30 s deadline)
#   ll_newkeys PREFIX N              N blank keys PREFIX1..PREFIXN
#   ped_key NAME PIN                  insert NAME, ENTER, and the PIN ("-": none)
#   ll_read NAME PIN                 wait for an "insert" prompt, then ped_key
#   ll_read_keys NAME COLOUR K:PIN.. a whole read; prints the fingerprint
#   ll_create_flow NAME M N PREFIX PIN   answer the PED during a create
#   ll_fp NAME                       the fingerprint NAME printed
# shellcheck source=tests/scenario/lib.sh
. "$(dirname "$0")/lib.sh"

[ -x "$PEDLINK" ] || fail "$PEDLINK not built (make BUILD=$BUILD $PEDLINK)"

ok() { echo "ok: $*"; }

ll_run() {
	local name=$1
	shift
	: >"$T/$name.log"
	run_bg "$name" timeout 60 "$PEDLINK" -ped "$EMU_LINK" "$@"
}

ll_wait_line() {
	wait_line "$@"
}

ll_finish() {
	wait_bg "$1" "${2:-30}"
}

ll_pedlink() {
	timeout 30 "$PEDLINK" -ped "$EMU_LINK" "$@"
}

ll_newkeys() {
	local i
	for ((i = 1; i <= $2; i++)); do
		ctl newkey "$1$i" >/dev/null
	done
}

ll_read() {
	ctl_wait "PED Key (" 5000
	ped_key "$1" "$2"
}

ll_fp() {
	sed -n 's/^fingerprint //p' "$T/$1.log" | tail -n 1
}

ll_read_keys() {
	local name=$1 colour=$2 kp
	shift 2
	ll_run "$name" read "$colour"
	for kp in "$@"; do
		ll_read "${kp%%:*}" "${kp#*:}"
	done
	ll_finish "$name" || fail "$name: $(tail -n 1 "$T/$name.log")"
	ll_fp "$name"
}

ll_create_flow() {
	local name=$1 m=$2 n=$3 prefix=$4 pin=$5 i
	ctl_wait "M value?" 5000
	ctl type "$m" >/dev/null
	ctl press ENTER >/dev/null
	ctl_wait "N value?" 5000
	ctl type "$n" >/dev/null
	ctl press ENTER >/dev/null
	for ((i = 1; i <= n; i++)); do
		ctl_wait "Insert" 5000
		_ctl_raw remove >/dev/null
		ctl insert "$prefix$i" >/dev/null
		ctl press ENTER >/dev/null
		ctl_wait "Overwrite? YES/NO" 5000
		ctl press YES >/dev/null
		ctl_wait "Enter new PED PIN" 5000
		ctl type "$pin" >/dev/null
		ctl press ENTER >/dev/null
		ctl_wait "Confirm new PED PIN" 5000
		ctl type "$pin" >/dev/null
		ctl press ENTER >/dev/null
		ll_wait_line "$name" "^event key-written $i/$n "
	done
	ctl_wait "duplicating" 5000
	ctl press NO >/dev/null
}

# Creates a keyset M of N of COLOUR on keys PREFIX1..N with PIN (pedlink
# run NAME); prints its fingerprint.
ll_create() {
	local name=$1 colour=$2 m=$3 n=$4 prefix=$5 pin=$6
	ll_newkeys "$prefix" "$n"
	ll_run "$name" create "$colour" -label "$prefix"
	ll_create_flow "$name" "$m" "$n" "$prefix" "$pin"
	ll_finish "$name" || fail "$name: $(tail -n 1 "$T/$name.log")"
	ll_fp "$name"
}
