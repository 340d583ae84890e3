#!/bin/sh
# pkgversion.sh VERSION - fails, saying which, unless VERSION (of
# debian/changelog or the RPM spec) is the version the code reports
# (PEDSERVER_VERSION, PEDCLIENT_VERSION). Run by debian/rules, the spec and
# scripts/pkgbuild.sh.
set -eu
want=${1:?usage: pkgversion.sh VERSION}
rc=0
for f in pedserver/pedserver.h:PEDSERVER_VERSION pedclient/config.h:PEDCLIENT_VERSION; do
	file=${f%%:*} macro=${f#*:}
	have=$(sed -n "s/^#define $macro \"\\(.*\\)\"$/\\1/p" "$file")
	if [ -z "$have" ]; then
		echo "pkgversion.sh: no $macro in $file" >&2
		rc=1
	elif [ "$have" != "$want" ]; then
		echo "pkgversion.sh: version mismatch: the package says $want, $file says $macro \"$have\"" >&2
		rc=1
	fi
done
exit $rc
