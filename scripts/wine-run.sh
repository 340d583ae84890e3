#!/bin/sh
# wine-run.sh - run Windows test programs under wine, headless, each with a
# deadline, through run-tests.sh. The wine prefix ($WINEPREFIX, default under
# /var/cache/remoteped) is created once with wineboot and reused: the first
# boot takes a while, later runs start at once.
#   scripts/wine-run.sh PROG.exe...       each under wine
#   scripts/wine-run.sh -s SCRIPT.sh...   each with bash (scripts that start
#                                         .exe programs under wine themselves)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
: "${WINEPREFIX:=/var/cache/remoteped/wine-$(wine --version | tr -c 'a-zA-Z0-9.\n-' _)}"
export WINEPREFIX WINEDEBUG=${WINEDEBUG:--all} WINEARCH=win64
# no display: wine must not try to open windows or ask to install Mono/Gecko
unset DISPLAY WAYLAND_DISPLAY
export WINEDLLOVERRIDES="mscoree,mshtml=;winemenubuilder.exe=d"
if [ ! -f "$WINEPREFIX/.ready" ]; then
	mkdir -p "$WINEPREFIX"
	echo "wine-run: creating the wine prefix $WINEPREFIX (once)" >&2
	wineboot -i >/dev/null 2>&1
	wineserver -w
	touch "$WINEPREFIX/.ready"
fi
wrap=wine
if [ "${1:-}" = -s ]; then
	wrap=bash
	shift
fi
status=0
"$here/run-tests.sh" -w $wrap "$@" || status=$?
wineserver -k 2>/dev/null || true
exit $status
