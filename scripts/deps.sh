#!/bin/sh
# deps.sh - make sure the Debian build and test dependencies are installed.
# As root, installs what is missing (non-interactive); otherwise prints the
# exact apt-get line and fails.
# Usage: scripts/deps.sh [build|test|fuzz|deb|rpm|pkgtest|windows]
set -eu

# libumockdev-dev: pedemu's USB personality; umockdev: the USB PED scenarios (docs/usb.md)
# python3, openssl: scenario helpers and the independent derivation of PROTOCOL.md's examples
build="gcc make pkg-config libssl-dev libuv1-dev libusb-1.0-0-dev libinih-dev scdoc libumockdev-dev"
test_="$build libcmocka-dev libjson-c-dev jq socat tmux iproute2 valgrind systemd man-db umockdev python3 openssl"
fuzz="$test_ clang-14 libclang-rt-14-dev"
# make deb: the Build-Depends of debian/control, dpkg-buildpackage, lintian
deb="$build debhelper dpkg-dev fakeroot lintian git"
rpm="$build rpm git"
# make pkgtest: a Debian 12 root from the mirror (mmdebstrap), run in a chroot
pkgtest="$deb mmdebstrap util-linux"
# make windows / wintest / msi: the cross compiler, cmake and dpkg-dev for
# scripts/windeps.sh, wine, wixl (msitools)
windows="gcc-mingw-w64-x86-64 cmake dpkg-dev wine wine64 msitools wixl"

case "${1:-test}" in
build) want=$build ;;
test) want=$test_ ;;
fuzz) want=$fuzz ;;
deb) want=$deb ;;
rpm) want=$rpm ;;
pkgtest) want=$pkgtest ;;
windows) want=$windows ;;
*) echo "usage: $0 [build|test|fuzz|deb|rpm|pkgtest|windows]" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in *"ok installed"*) ;; *) missing="$missing $p" ;; esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "missing Debian packages; install them with:" >&2
	echo "  sudo apt-get install -y$missing" >&2
	exit 1
fi
echo "installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
apt-get install -y -q $missing >/dev/null 2>&1 || {
	apt-get update -q >/dev/null
	apt-get install -y -q $missing
}
