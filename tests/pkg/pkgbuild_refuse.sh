#!/bin/bash
# pkgbuild_refuse.sh - make deb and make rpm refuse, with the reason, a tree
# with uncommitted changes and a package version that is not the code's
# (debian/changelog, the spec); debian/rules itself refuses the mismatch.
# Works on a clone of HEAD in a temporary directory.
. tests/scenario/lib.sh

C=$T/clone
git clone -q --no-local "$PWD" "$C"
cd "$C"
git config user.email t@example.org
git config user.name pkgtest

expect_refusal() { # WHAT KIND TEXT
	local rc=0 out
	out=$(PKGOUT="$T/out" sh scripts/pkgbuild.sh "$2" 2>&1) || rc=$?
	[ "$rc" -ne 0 ] || fail "$1: pkgbuild.sh $2 built anyway"
	assert_contains "$3" "$out"
	[ -z "$(ls "$T/out" 2>/dev/null)" ] || fail "$1: packages written"
	note "$1 ($2): $(grep -m1 "$3" <<<"$out")"
}

echo "# local edit" >>README.md
expect_refusal "dirty tree" deb "uncommitted changes"
expect_refusal "dirty tree" rpm "uncommitted changes"
git checkout -q README.md

sed -i '1s/(\([0-9.]*\))/(9.9.9)/' debian/changelog
git commit -qam "changelog says 9.9.9"
expect_refusal "changelog version" deb "version mismatch: the package says 9.9.9"
out=$(sh -c 'dpkg-buildpackage -b -us -uc' 2>&1) && fail "dpkg-buildpackage built a 9.9.9"
assert_contains "version mismatch" "$out"
git reset -q --hard HEAD~1

sed -i 's/^Version: .*/Version:        9.9.8/' packaging/remoteped.spec
git commit -qam "spec says 9.9.8"
expect_refusal "spec version" rpm "version mismatch: the package says 9.9.8"
