#!/bin/sh
# pkgbuild.sh deb|rpm - builds the Debian or RPM packages from the committed
# tree (git archive HEAD), never from work in progress: a dirty tree or a
# package version that is not the code's fails first, with the reason.
# Output: $PKGOUT (default build/pkg); lintian runs on the .debs and fails on
# any error or warning.
set -eu
cd "$(dirname "$0")/.."
kind=${1:?usage: pkgbuild.sh deb|rpm}
out=$(mkdir -p "${PKGOUT:-build/pkg}" && cd "${PKGOUT:-build/pkg}" && pwd)

if ! git rev-parse --git-dir >/dev/null 2>&1; then
	echo "pkgbuild.sh: not a git checkout: packages are built from a commit" >&2
	exit 1
fi
dirty=$(git status --porcelain --untracked-files=normal -- . ':!build*' | head -5)
if [ -n "$dirty" ]; then
	echo "pkgbuild.sh: the tree has uncommitted changes; commit or stash them first:" >&2
	echo "$dirty" >&2
	exit 1
fi
deb_version=$(dpkg-parsechangelog -S Version)
rpm_version=$(sed -n 's/^Version: *//p' packaging/remoteped.spec)
sh scripts/pkgversion.sh "$deb_version" || { echo "pkgbuild.sh: fix debian/changelog" >&2; exit 1; }
sh scripts/pkgversion.sh "$rpm_version" || { echo "pkgbuild.sh: fix packaging/remoteped.spec" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/remoteped-pkg.XXXXXX")
trap 'rm -rf "$work"' EXIT
src=$work/remoteped-$deb_version
mkdir -p "$src"
git archive --format=tar HEAD | tar -x -C "$src"
# The build must not depend on the public vectors or anything beside the tree.
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)
export SOURCE_DATE_EPOCH

case "$kind" in
deb)
	(cd "$src" && dpkg-buildpackage -b -us -uc -j2) >"$work/build.log" 2>&1 || {
		tail -n 40 "$work/build.log" >&2
		echo "pkgbuild.sh: dpkg-buildpackage failed" >&2
		exit 1
	}
	rm -f "$out"/*.deb "$out"/*.changes "$out"/*.buildinfo
	mv "$work"/*.deb "$work"/*.changes "$work"/*.buildinfo "$out"/
	changes=$(ls "$out"/*.changes)
	# lintian: no error, no warning (overrides in debian/*.lintian-overrides
	# carry their reasons)
	lintian --fail-on error,warning --display-level '>=warning' "$changes"
	echo "lintian: no error, no warning"
	ls -l "$out"/*.deb
	;;
rpm)
	top=$work/rpmbuild
	mkdir -p "$top/SOURCES"
	tar -C "$work" -czf "$top/SOURCES/remoteped-$rpm_version.tar.gz" "remoteped-$deb_version"
	rpmbuild --nodeps -bb --define "_topdir $top" packaging/remoteped.spec \
		>"$work/build.log" 2>&1 || {
		tail -n 40 "$work/build.log" >&2
		echo "pkgbuild.sh: rpmbuild failed" >&2
		exit 1
	}
	rm -f "$out"/*.rpm
	find "$top/RPMS" -name '*.rpm' -exec mv {} "$out"/ \;
	ls -l "$out"/*.rpm
	;;
*) echo "usage: pkgbuild.sh deb|rpm" >&2; exit 2 ;;
esac
