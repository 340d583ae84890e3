#!/bin/sh
# link_keys.sh - which keys a read accepts: a key of the wrong colour is
# refused with a message and the PED asks again; the same key twice counts
# once; an Admin-mode duplicate stands in for its original (and is the same
# key as far as counting goes).
. "$(dirname "$0")/lib_link.sh"

start_pedemu -mode local
PIN=4711
fp=$(ll_create cb blue 2 3 b $PIN)
fpr=$(ll_create cr red 1 1 r 2222)
[ -n "$fp" ] && [ -n "$fpr" ] && [ "$fp" != "$fpr" ] || fail "create: '$fp' '$fpr'"
ok "blue 2-of-3 and red 1-of-1 keysets"

ll_run rd read blue
ll_read r1 -
ctl_wait "Wrong key: RED" 3000
ll_wait_line rd '^event prompt: .*Wrong key: RED'
ped_key b1 $PIN
ll_wait_line rd '^event keys-read 1/2$'
ped_key b1 -
ctl_wait "Key already read!" 3000
ll_wait_line rd '^event prompt: .*Key already read!'
ped_key b2 $PIN
ll_finish rd || fail "read: $(tail -n 1 "$T/rd.log")"
[ "$(ll_fp rd)" = "$fp" ] || fail "read after refusals: wrong secret"
[ "$(grep -c '^event keys-read' "$T/rd.log")" = 2 ] || fail "keys counted: $(grep keys-read "$T/rd.log")"
grep -q '^event prompt: .*Insert another.*PED Key (BLUE)' "$T/rd.log" || fail "no re-prompt"
ok "wrong colour refused and re-prompted; the same key twice counted once"

# Admin mode: duplicate b3 onto a blank key.
ctl mode admin >/dev/null
ctl_wait "Admin mode" 3000
ctl press 1 >/dev/null
ctl_wait "7 Duplicate" 3000
ctl press 7 >/dev/null
ctl_wait "to copy." 3000
ped_key b3 $PIN
ctl_wait "blank or" 3000
ctl newkey b3copy >/dev/null
_ctl_raw remove >/dev/null
ctl insert b3copy >/dev/null
ctl press ENTER >/dev/null
ctl_wait "Overwrite? YES/NO" 3000
ctl press YES >/dev/null
ctl_wait "Copy written." 3000
ctl press ENTER >/dev/null
keys=$(ctl keys)
assert_contains "b3copy BLUE" "$keys"
ctl mode local >/dev/null
ctl_wait "Awaiting command" 3000
ok "duplicated b3 in Admin mode"

fpd=$(ll_read_keys rdup blue b3copy:$PIN b1:$PIN)
[ "$fpd" = "$fp" ] || fail "the duplicate gives $fpd, not $fp"
ok "the duplicate works in place of the original"

ll_run rsame read blue
ll_read b3 $PIN
ll_wait_line rsame '^event keys-read 1/2$'
ped_key b3copy -
ctl_wait "Key already read!" 3000
ped_key b2 $PIN
ll_finish rsame || fail "read: $(tail -n 1 "$T/rsame.log")"
[ "$(ll_fp rsame)" = "$fp" ] || fail "original + copy: wrong secret"
ok "an original and its duplicate count as one key"
