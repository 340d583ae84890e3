#!/bin/sh
# crash_pedemu.sh - kill -9 of the PED (pedemu, on the PED host) during an M-of-N
# keyset creation (hsm init: SO 2 of 3, domain 1 of 1) and during a login,
# at these points: after M and N were entered (the PED asks for the first
# key), during the write of the first key (old or new file, never torn),
# after the first key was written, between the last key write and the
# commit (the PED asks "duplicating?" after the domain key), and in an SO
# login after the first key was read. After each strike: pedhsm ends with a
# named error (CKR_PED_UNPLUGGED), pedserver logs the PED gone and keeps
# serving (show: Disconnected), pedclient keeps its session, every PED-key
# file decodes, and the HSM state file is byte for byte the old one. After a
# restart of pedemu (pedserver opens it again) and, if the session did not
# survive, a new ped connect, the same command completes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_client.sh"
. "$(dirname "$0")/lib_crash.sh"
ERRS="CKR_PED_UNPLUGGED"

crash_setup
ok "session open"

# after the strike: the survivors' view, then restart and reconnect
survived() {
	local what=$1 n res
	n=$(wc -l <"$T/srv/pedserver.log")
	kill9 "$EMU_far_PID"
	hsm_done "$2" && fail "$what: the command succeeded: $OUT"
	assert_named_error "$ERRS"
	res=$(grep '^Command Result' <<<"$OUT" | tail -n 1)
	assert_same_state "$what"
	log_line "$T/srv/pedserver.log" "$n" "PED .*(closed|lost|gone|unplugged|hung up|disconnected)"
	RC=0
	OUT=$("$PS" -mode show -statedir "$T/srv" 2>&1) || RC=$?
	[ "$RC" -eq 0 ] || fail "pedserver gone after $what: $OUT"
	assert_contains "Ped2 Connection Status:    Disconnected" "$OUT"
	pcs -mode show -statedir "$HSM"
	[ "$RC" -eq 0 ] || fail "pedclient gone after $what: $OUT $ERR"
	n=$(wc -l <"$T/srv/pedserver.log")
	start_far
	assert_keys_readable
	log_line "$T/srv/pedserver.log" "$n" "PED connected on"
	hsm_run ped show
	if ! grep -q "Session: *open" <<<"$OUT"; then
		connect_far
	fi
	ok "$what: $res; pedserver saw the PED go and took it back; pedclient serves"
}

note "hsm init: kill -9 pedemu after M and N"
snap
hsm_bg hi1 hsm init -label CRASH
ctl_wait "SETTING SO PIN" 5000
new_keyset_until 2 3 b $SOPIN 0
ctl_wait "PED Key (BLUE)" 5000
survived "after M/N" hi1

note "hsm init: kill -9 pedemu while it writes a key (right after the PIN)"
hsm_bg hiw hsm init -label CRASH
ctl_wait "SETTING SO PIN" 5000
new_keyset_until 2 3 t $SOPIN 1
survived "during the write of key 1" hiw
t1=$(ctl keys | grep '^t1 ') || fail "key t1 gone"
case "$t1" in
"t1 BLANK"* | "t1 BLUE"*) ;;
*) fail "key t1 after a crash during its write: $t1" ;;
esac
ok "the key written at the crash is whole: $t1"

note "hsm init: kill -9 pedemu after the first key written"
hsm_bg hi2 hsm init -label CRASH
ctl_wait "SETTING SO PIN" 5000
new_keyset_until 2 3 b $SOPIN 1
hsm_line hi2 'Key written 01 of 03'
survived "after key 1 of 3" hi2

note "hsm init: kill -9 pedemu between the last key write and the commit"
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

note "redo: hsm init completes"
hsm_init_full
snap

note "SO login: kill -9 pedemu after the first key read"
hsm_bg lo1 role login -name so
ctl_wait "PED Key (BLUE)" 5000
ped_key b1 $SOPIN
ctl_wait "Keys read: 01 of 02" 5000
hsm_line lo1 'Keys read 01 of 02'
survived "login after key 1 of 2" lo1
so_login
ok "redo: hsm init and SO login complete after pedemu restarts"

echo "crash_pedemu: all ok"
