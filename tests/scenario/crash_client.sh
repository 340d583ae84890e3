#!/bin/sh
# crash_client.sh - kill -9 of pedclient (the HSM host) during an M-of-N
# keyset creation (hsm init: SO 2 of 3, domain 1 of 1) and during a login,
# at these points: after M and N were entered (the PED asks for the first
# key), after the first key was written, between the last key write and the
# commit (the PED asks "duplicating?" after the domain key), and in an SO
# login after the first key was read. After each strike: pedhsm ends with a
# named error (DISCONNECTED: its pedclient is gone), pedserver logs the
# reason and keeps serving (show: no client), the PED is back at idle, every PED-key
# file decodes, and the HSM state file is byte for byte the old one. After a
# restart of pedclient and a new ped connect, the same command completes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_client.sh"
. "$(dirname "$0")/lib_crash.sh"
ERRS="DISCONNECTED"

crash_setup
ok "session open"

# after the strike: the survivors' view, then restart and reconnect
survived() {
	local what=$1 n res
	n=$(wc -l <"$T/srv/pedserver.log")
	kill9 "$HSM_PID" "$HSM/pedclient.pid"
	hsm_done "$2" && fail "$what: the command succeeded: $OUT"
	assert_named_error "$ERRS"
	res=$(grep '^Command Result' <<<"$OUT" | tail -n 1)
	ctl_wait "Awaiting command" 5000
	log_line "$T/srv/pedserver.log" "$n" "client .*(closed|lost|reset|gone|EOF)"
	RC=0
	OUT=$("$PS" -mode show -statedir "$T/srv" 2>&1) || RC=$?
	[ "$RC" -eq 0 ] || fail "pedserver gone after $what: $OUT"
	assert_contains "Client Information:          Not Available" "$OUT"
	assert_contains "Ped2 Connection Status:    Connected" "$OUT"
	assert_keys_readable
	start_hsm
	assert_same_state "$what"
	connect_far
	ok "$what: $res; pedserver logged why and serves; a new connect works"
}

note "hsm init: kill -9 pedclient after M and N"
snap
hsm_bg hi1 hsm init -label CRASH
ctl_wait "SETTING SO PIN" 5000
new_keyset_until 2 3 b $SOPIN 0
ctl_wait "PED Key (BLUE)" 5000
survived "after M/N" hi1

note "hsm init: kill -9 pedclient after the first key written"
hsm_bg hi2 hsm init -label CRASH
ctl_wait "SETTING SO PIN" 5000
new_keyset_until 2 3 b $SOPIN 1
hsm_line hi2 'Key written 01 of 03'
survived "after key 1 of 3" hi2

note "hsm init: kill -9 pedclient between the last key write and the commit"
hsm_bg hi3 hsm init -label CRASH
ctl_wait "SETTING SO PIN" 5000
new_keyset_until 2 3 b $SOPIN 3
ctl_wait "duplicating" 5000
ctl press NO >/dev/null
ctl_wait "SETTING DOMAIN" 5000
new_keyset_until 1 1 r - 1
ctl_wait "duplicating" 5000
hsm_line hi3 'Key written 01 of 01'
survived "after the last key, before the commit" hi3

note "hsm init: kill -9 pedclient racing the commit (right after the last answer)"
hsm_bg hi4 hsm init -label CRASH
ctl_wait "SETTING SO PIN" 5000
new_keyset_until 2 3 b $SOPIN 3
ctl_wait "duplicating" 5000
ctl press NO >/dev/null
ctl_wait "SETTING DOMAIN" 5000
new_keyset_until 1 1 r - 1
ctl_wait "duplicating" 5000
ctl press NO >/dev/null
kill9 "$HSM_PID" "$HSM/pedclient.pid"
hsm_done hi4 || assert_named_error "$ERRS"
assert_keys_readable
start_hsm
hsm_run hsm show
[ "$RC" -eq 0 ] || fail "the state after a crash at the commit: $OUT"
if [ "$(sha256sum <"$HSM/slot0.hsm")" = "$SNAP_SUM" ]; then
	assert_same_state "the commit race"
	won=old
else
	assert_contains "HSM Label:          CRASH" "$OUT"
	assert_contains "SO       2 of 3 keyset, failed logins 0 of 3" "$OUT"
	assert_contains "DOMAIN   1 of 1 keyset" "$OUT"
	won=new
fi
connect_far
ok "commit race: the $won state, whole ($(grep '^Command Result' "$T/hi4.log" | tail -n 1))"

note "redo: hsm init completes"
[ "$won" = new ] && so_login # a committed HSM is re-initialized by its SO
hsm_init_full
snap

note "SO login: kill -9 pedclient after the first key read"
hsm_bg lo1 role login -name so
ctl_wait "PED Key (BLUE)" 5000
ped_key b1 $SOPIN
ctl_wait "Keys read: 01 of 02" 5000
hsm_line lo1 'Keys read 01 of 02'
survived "login after key 1 of 2" lo1
so_login
ok "redo: hsm init and SO login complete after pedclient restarts"

echo "crash_client: all ok"
