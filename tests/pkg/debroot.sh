#!/bin/sh
# debroot.sh - prints the path of a Debian 12 root tarball with what the
# packages need at run time, made by mmdebstrap from Debian's mirror and
# cached under /var/cache/remoteped/ in a directory named after the suite,
# the variant and the package list (a changed list makes a new root).
set -eu
suite=bookworm
variant=minbase
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# Runtime dependencies of the .debs (systemd: systemd-sysusers and
# systemd-tmpfiles for the postinst; deb-systemd-helper comes with it;
# libumockdev0: pedemu's USB personality, docs/usb.md).
pkgs="systemd,libinih1,libssl3,libusb-1.0-0,libuv1,libumockdev0"
key=$(printf '%s %s %s\n' "$suite" "$variant" "$pkgs" | sha256sum | cut -c1-12)
dir=${PKGTEST_CACHE:-/var/cache/remoteped}/debian12-$variant-$key
tar=$dir/root.tar
if [ ! -f "$tar" ] || [ ! -s "$tar" ]; then
	mkdir -p "$dir"
	printf '%s\n' "$suite $variant $pkgs $mirror" >"$dir/README"
	echo "debroot.sh: building $tar (mmdebstrap, once)" >&2
	mmdebstrap --quiet --variant="$variant" --include="$pkgs" "$suite" "$dir/root.tmp.tar" \
		"deb $mirror $suite main" >&2
	mv "$dir/root.tmp.tar" "$tar"
fi
echo "$tar"
