# lib_svc.sh - helpers for the Windows service scripts under wine (service.sh,
# msi.sh), on top of tests/scenario/lib.sh.
#   svc_state NAME                 the service's SCM state (RUNNING, ...), empty if none
#   svc_wait_state NAME STATE [S]  until NAME is in STATE, S seconds at most (30)
#   wait_file FILE REGEX [S]       until FILE (which may not exist yet) has a
#                                  line matching REGEX, S seconds at most (20)

svc_state() {
	timeout 30 wine sc query "$1" 2>/dev/null | tr -d '\r' |
		sed -n 's/^ *STATE *: *[0-9]* *\([A-Z_]*\).*/\1/p'
}
# The SCM has an event for state changes (NotifyServiceStatusChange) but no
# command-line client for it, and wine's net and sc return at once (net stop
# does not wait): so sc query is polled, with a deadline.
svc_wait_state() {
	local end=$((SECONDS + ${3:-30})) st
	while :; do
		st=$(svc_state "$1")
		[ "$st" = "$2" ] && return 0
		[ "$SECONDS" -lt "$end" ] || fail "service $1: '$st', not $2, after ${3:-30}s"
		sleep 0.2
	done
}
wait_file() {
	timeout "${3:-20}" sh -c 'tail -n +1 -F "$1" 2>/dev/null | grep -q -m 1 -E -- "$2"' _ \
		"$1" "$2" || fail "no line /$2/ in $1: $(tail -n 5 "$1" 2>/dev/null | tr '\n' '|')"
}
