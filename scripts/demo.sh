#!/usr/bin/env bash
# demo.sh - `make demo`: a whole Remote PED ceremony on loopback, with real
# processes and temporary state, the PED keys pressed by this script:
#   1. the HSM host's Local PED makes the orange key (RPV, 2 of 3, PINs);
#   2. the key holders carry two orange keys to the PED host, where pedserver
#      owns a PED in Remote mode; `ped connect` opens the secure channel (the
#      PED first asks to allow the new HSM: pedserver's allowlist);
#   3. `hsm init` creates the blue SO keyset (2 of 3, PINs) and the red
#      domain key through that channel;
#   4. `role login -name so` with two of the three blue keys.
# It prints what the operator types and sees, and what the PED shows. Every
# process and file is cleaned up on exit; the exit status is 0 on success.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
. tests/scenario/lib.sh
. tests/scenario/lib_client.sh

OPIN=20242024 # the orange keys' PIN (demo values, never used elsewhere)
BPIN=31415926 # the blue keys' PIN

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show_ped() {
	echo "   +--------------------+ PED ($1)"
	ctl screen | while IFS= read -r line; do printf '   |%-20s|\n' "$line"; done
	echo "   +--------------------+"
}
operator() { echo "   HSM operator> pedhsm $*"; }
console_output() { sed 's/^/     /' "$T/$1.log"; }

# run one pedhsm command in the background, let DRIVE answer the PED, then
# print what the operator saw
ceremony() {
	local name=$1 drive=$2
	shift 2
	operator "$@"
	hsm_bg "$name" "$@"
	"$drive"
	hsm_done "$name" || { console_output "$name"; fail "pedhsm $*"; }
	console_output "$name"
}

new_keyset() { # M N PIN PREFIX
	ped_mn "$1" "$2"
	ped_write_keys "$4" "$2" "$3"
	ctl_wait "duplicating" 5000
	show_ped "after writing the last key"
	ctl press NO >/dev/null
}

drive_vector_init() { new_keyset 2 3 "$OPIN" orange; }
drive_connect() {
	# a first contact: pedserver's allowlist (policy prompt) has the key
	# holder allow this HSM's key on the PED, then the orange key
	ctl_wait "Allow HSM?" 10000
	show_ped "asks whether to allow this HSM (its serial and key fingerprint)"
	ctl press YES >/dev/null
	ctl_wait "PED Key (ORANGE)" 10000
	show_ped "asks for the orange key"
	ped_key orange1 "$OPIN"
	ctl_wait "Keys read: 01 of 02" 5000
	ped_key orange3 "$OPIN"
}
drive_hsm_init() {
	new_keyset 2 3 "$BPIN" blue
	new_keyset 1 1 - red
}
drive_login() {
	ctl_wait "PED Key (BLUE)" 10000
	show_ped "SO login"
	ped_key blue1 "$BPIN"
	ctl_wait "Keys read: 01 of 02" 5000
	ped_key blue3 "$BPIN"
}

say "Starting: a Local PED at the HSM, a PED at the key holders' desk, pedserver, pedclient"
start_pedemu local -mode local
start_pedemu desk -mode remote
SPORT=$(free_port)
"$BUILD/pedserver" -mode start -statedir "$T/pedserver" -port "$SPORT" -admin "$(free_port)" \
	-ped "$EMU_desk_LINK" >/dev/null
start_pc hsm -localped "$EMU_local_LINK"
echo "   pedserver listens on 127.0.0.1:$SPORT with the desk PED; pedclient runs the"
echo "   software HSM (slot 0) with the Local PED; state in $T"

say "1. RPV initialization with the Local PED (orange keyset, 2 of 3, PINs)"
export CTL_SOCK=$EMU_local_SOCK
ceremony vector drive_vector_init ped vector init
echo "   (the key holders carry orange1 and orange3 to the PED host)"
cp "$T/local.keys/orange1.key" "$T/local.keys/orange3.key" "$T/desk.keys/"

say "2. Remote PED connection: the orange key on the desk PED"
export CTL_SOCK=$EMU_desk_SOCK
ceremony connect drive_connect ped connect -ip 127.0.0.1 -port "$SPORT"
"$BUILD/pedserver" -mode show -statedir "$T/pedserver" | sed -n '/^Client/,/^Operation/p' |
	sed '$d; s/^/     /'

say "3. HSM initialization through the channel (blue SO 2 of 3 with PINs, red domain)"
ceremony init drive_hsm_init hsm init -label DemoHSM

say "4. SO login with two of the three blue keys"
ceremony login drive_login role login -name so
operator hsm show
hsm_run hsm show
echo "$OUT" | sed 's/^/     /'

say "5. Disconnect and clean up"
operator ped disconnect
hsm_run ped disconnect
echo "$OUT" | sed 's/^/     /'
"$BUILD/pedserver" -mode stop -statedir "$T/pedserver" >/dev/null
pc -mode stop -statedir "$PC_DIR"
echo
echo "Demo complete: orange key made locally, secure channel opened with it, HSM"
echo "initialized and the SO logged in with 2 of 3 keys, all through the Remote PED."
