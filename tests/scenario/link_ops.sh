#!/bin/sh
# link_ops.sh - how PED operations end: the PED's own timeout (PED_TIMEOUT,
# PED back to idle), CLEAR/NO on the keypad (USER_CANCELLED), CANCEL from the
# host (HOST_CANCELLED), a second request while one runs (PED_BUSY), and
# one-time password entry on the keypad.
. "$(dirname "$0")/lib_link.sh"

start_pedemu -mode local

ll_run to -timeout 600 read blue
ll_wait_line to '^event prompt: .*PED Key \(BLUE\)'
ctl_wait "Awaiting command" 5000
ll_finish to 10 && fail "timeout: exit 0"
grep -q '^result PED_TIMEOUT$' "$T/to.log" || fail "timeout: $(tail -n 1 "$T/to.log")"
out=$(ll_pedlink status) || fail "status after timeout: $out"
assert_contains "busy 0" "$out"
ok "PED timeout -> PED_TIMEOUT, PED idle again"

ll_run uc read blue
ll_wait_line uc '^event prompt: .*PED Key \(BLUE\)'
ctl press CLEAR >/dev/null
ll_finish uc 10 && fail "CLEAR: exit 0"
grep -q '^result USER_CANCELLED$' "$T/uc.log" || fail "CLEAR: $(tail -n 1 "$T/uc.log")"
ctl_wait "Awaiting command" 3000
ok "CLEAR on the PED -> USER_CANCELLED"

ll_run un otp
ll_wait_line un '^event prompt: .*Enter PED Password'
ctl press NO >/dev/null
ll_finish un 10 && fail "NO: exit 0"
grep -q '^result USER_CANCELLED$' "$T/un.log" || fail "NO: $(tail -n 1 "$T/un.log")"
ok "NO on the PED -> USER_CANCELLED"

ll_run hc cancel-after 200 read blue
ll_finish hc 10 && fail "host cancel: exit 0"
grep -q '^cancel sent$' "$T/hc.log" || fail "host cancel: no cancel sent"
grep -q '^result HOST_CANCELLED$' "$T/hc.log" || fail "host cancel: $(tail -n 1 "$T/hc.log")"
ctl_wait "Awaiting command" 3000
ok "CANCEL from the host -> HOST_CANCELLED"

ll_run busy busy-test
ll_finish busy 10 || fail "busy: $(tail -n 3 "$T/busy.log" | tr '\n' '|')"
grep -q '^second result PED_BUSY$' "$T/busy.log" || fail "busy: no PED_BUSY"
grep -q '^first result HOST_CANCELLED$' "$T/busy.log" || fail "busy: first not cancelled"
ok "a second request while one runs -> PED_BUSY (the first one unaffected)"

ll_run otp otp -digits 8
ll_wait_line otp '^event prompt: .*Enter PED Password'
ctl type 1234 >/dev/null
ctl press ENTER >/dev/null
ctl_wait "Enter 8 digits." 3000
ctl type 98765432 >/dev/null
ctl press ENTER >/dev/null
ll_finish otp 10 || fail "otp: $(tail -n 1 "$T/otp.log")"
grep -q '^otp 98765432$' "$T/otp.log" || fail "otp: $(grep '^otp' "$T/otp.log")"
ok "one-time password typed on the keypad"
