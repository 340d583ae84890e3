#!/bin/sh
# run-tests.sh - run test programs one by one, each with a deadline, and end
# with the line "tests: N passed, M failed". Usage: run-tests.sh [-w WRAPPER] PROG...
set -u
wrap=""
if [ "${1:-}" = "-w" ]; then wrap=$2; shift 2; fi
pass=0 fail=0 failed=""
for t in "$@"; do
	echo "== $t"
	if timeout 600 $wrap $t; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		failed="$failed $t"
	fi
done
[ -n "$failed" ] && echo "failed:$failed"
echo "tests: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
