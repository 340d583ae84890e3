#!/bin/sh
# tls_link.sh - PED-initiated mode end to end (issue 14), real processes on
# loopback: the operator's set-up walk-through (regen on both hosts,
# certificates exchanged and registered, pedclient listening, pedserver
# -mode connect), then ped connect with no address over the link (the
# orange key still authenticates the PED), ped show naming the mode, hsm
# init with an SO keyset of 2 of 3 and an SO login with 2 of them through
# the link, a second HSM host through its own link answered SERVER_BUSY,
# -mode disconnect, both audit trails (registrations, link up/down with
# fingerprints).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_client.sh"
. "$(dirname "$0")/lib_tls.sh"
ok() { echo "ok: $*"; }

start_pedemu local -mode local
start_pedemu far -mode remote
OPIN=13579
PC_ARGS="-localped $EMU_local_LINK"
tls_pair
make_rpv o local

RC=0
OUT=$("$PS" -mode show -statedir "$SRV" -name hsm1 2>&1) || RC=$?
assert_contains "disconnected" "$OUT"
RC=0
OUT=$("$PS" -mode connect -name hsm1 -statedir "$SRV" 2>&1) || RC=$?
[ "$RC" -eq 0 ] || fail "-mode connect: $OUT"
wait_up 1
[ "$(link_state hsm1)" = connected ] || fail "pedserver: link not shown connected"
pc -mode show -statedir "$PCD"
assert_contains "waiting for ped connect" "$OUT"
assert_contains "ped1 from 127.0.0.1" "$OUT"
assert_contains "$PS_FP" "$OUT"
OUT=$("$PS" -mode show -statedir "$SRV" -name hsm1 2>&1)
assert_contains "Connected since:" "$OUT"
assert_contains "PED-initiated Link hsm1:" "$("$PS" -mode show -statedir "$SRV" 2>&1)"
assert_contains "$PC_FP" "$OUT"
ok "walk-through: regen, exchange, register, connect: the link is up on both sides"

export CTL_SOCK=$EMU_far_SOCK
hsm_bg c1 ped connect
ctl_wait "PED Key (ORANGE)" 5000
ped_key o1 $OPIN
hsm_done c1 || fail "ped connect over the link: $OUT"
assert_contains "PED-initiated link of pedserver ped1" "$OUT"
hsm_run ped show
assert_contains "PED-initiated" "$OUT"
ok "ped connect with no address uses the link; the orange key opens the session; ped show says PED-initiated"

SOPIN=24680
hsm_bg hi hsm init -label TLSHSM
ped_hsm_init 2 3 b $SOPIN r
hsm_done hi || fail "hsm init over the link: $OUT"
hsm_bg l1 role login -name so
ctl_wait "PED Key (BLUE)" 5000
ped_key b3 $SOPIN
ctl_wait "Keys read: 01 of 02" 5000
ped_key b1 $SOPIN
hsm_done l1 || fail "SO login 2 of 3 over the link: $OUT"
assert_contains "logged in" "$OUT"
ok "hsm init (SO keyset 2 of 3) and SO login with 2 keys through the PED-initiated link"

note "a second registered HSM host while the first holds the PED: busy"
L2=$(free_port)
PCD2="$T/hsm2"
pc_listen_conf "$PCD2" "$L2"
pc -regen -commonname hsm-host-2 -statedir "$PCD2"
[ "$RC" -eq 0 ] || fail "regen 2: $OUT"
pc -pedserver register -name ped1 -certificate "$T/ped-host.crt" -statedir "$PCD2"
"$PS" -appliance register -name hsm2 -certificate "$PCD2/tls.crt" -ip 127.0.0.1 -port "$L2" \
	-statedir "$SRV" >/dev/null || fail "register hsm2 (through the daemon)"
PC_DIR_1=$PC_DIR
start_pc hsm2
"$PS" -mode connect -name hsm2 -statedir "$SRV" >/dev/null || fail "connect hsm2"
wait_log "$PCD2/pedclient.log" "pedserver ped1 .*PED-initiated link up" 1
# its HSM has no RPV yet: the one-time password mode, which reaches pedserver
hsm_run ped connect -password
assert_contains "SERVER_BUSY" "$OUT"
assert_contains "PED-initiated link of pedserver ped1" "$OUT"
PC_DIR=$PC_DIR_1
ok "a second HSM host through its own link gets SERVER_BUSY while the first holds the PED"

hsm_run ped disconnect
[ "$RC" -eq 0 ] || fail "ped disconnect: $OUT"
# the link carries one session: pedserver dials again at once
wait_up 2
ok "after ped disconnect the link is made again, waiting for the next ped connect"

hsm_run ped connect -ped nosuch
[ "$RC" -ne 0 ] || fail "ped connect -ped nosuch succeeded"
assert_contains "NO_PED_LINK" "$OUT"
# the PED cached the orange key at the first connect: it answers at once
hsm_run ped connect -ped ped1
[ "$RC" -eq 0 ] || fail "ped connect -ped ped1: $OUT"
assert_contains "PED-initiated link of pedserver ped1" "$OUT"
hsm_run ped disconnect
wait_up 3
ok "ped connect -ped NAME takes that pedserver's link (NO_PED_LINK for a name without one)"

RC=0
OUT=$("$PS" -mode disconnect -name hsm1 -statedir "$SRV" 2>&1) || RC=$?
[ "$RC" -eq 0 ] || fail "-mode disconnect: $OUT"
wait_log "$SRV/pedserver.log" "appliance hsm1: disconnected by the operator" 1
wait_log "$PCD/pedclient.log" "pedserver ped1 .*PED-initiated link down" 3
[ "$(link_state hsm1)" = disconnected ] || fail "pedserver: link not shown disconnected"
hsm_run ped connect -port 1
# no link any more: ped connect falls back to dialling (and fails here)
assert_not_contains "PED-initiated link" "$OUT"
ok "-mode disconnect closes the link and it stays closed"

A=$(cat "$SRV/audit.log")
for ev in cert_registered link_connect link_up link_down link_disconnect; do
	assert_contains "\"event\":\"$ev\"" "$A"
done
assert_contains "$PC_FP" "$A"
"$PS" -mode audit -verify -statedir "$SRV" >/dev/null || fail "pedserver audit chain broken"
A=$(cat "$PCD/audit.log")
for ev in cert_registered link_up link_down; do
	assert_contains "\"event\":\"$ev\"" "$A"
done
assert_contains "$PS_FP" "$A"
pc -mode audit -verify -statedir "$PCD"
[ "$RC" -eq 0 ] || fail "pedclient audit chain broken: $OUT"
ok "audit trails: registrations, link up/down with fingerprints; chains intact"
