#!/bin/bash
# windeps.sh - cross-build the Windows (x86_64-w64-mingw32) dependencies:
# OpenSSL, libuv, libusb-1.0 and cmocka from Debian's source packages, inih
# from ../shared/third_party. Static libraries and headers go to a cache
# outside the source tree, keyed by the versions, and are reused when present.
#
#   scripts/windeps.sh            build (or reuse) and print the prefix
#   scripts/windeps.sh -p         print the prefix of a complete cache, fail if none
#
# Environment: WINDEPS_CACHE (default /var/cache/remoteped), INIH_TARBALL.
# The deb-src line lives in a private apt configuration under the cache: the
# machine's own sources.list is never touched.
set -euo pipefail

cache=${WINDEPS_CACHE:-/var/cache/remoteped}
here=$(cd "$(dirname "$0")/.." && pwd)
inih_tgz=${INIH_TARBALL:-$here/../shared/third_party/inih-r62.tar.gz}
inih_sha=35c2488687f9b8a3335f588d936eaf5a2b40f2a284b7b0d939157c9d3ec4db00
host=x86_64-w64-mingw32
srcpkgs="openssl libuv1 libusb-1.0 cmocka"
# bump when the recipe below changes: the cache key includes it
recipe=2

apt_dir=$cache/win-apt
apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
	-o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o "APT::Sandbox::User=root")

die() { echo "windeps: $*" >&2; exit 1; }

apt_index() {
	mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
	cat > "$apt_dir/sources.list" <<-EOF
	deb-src http://deb.debian.org/debian bookworm main
	deb-src http://deb.debian.org/debian bookworm-updates main
	EOF
	apt-get "${apt_opts[@]}" -q update >/dev/null
}

# newest source version of a package in the private index
src_version() {
	apt-cache "${apt_opts[@]}" showsrc "$1" 2>/dev/null |
		awk '/^Version:/ {print $2}' | sort -V | tail -1
}

# Without -p: refresh the private index so the key follows the mirror.
if [ "${1:-}" = -p ]; then
	pfx=$(ls -d "$cache"/win-*/prefix 2>/dev/null | while read -r d; do
		[ -f "$d/../done" ] && echo "$d"; done | tail -1)
	[ -n "$pfx" ] || die "no complete cache under $cache (run scripts/windeps.sh)"
	echo "$pfx"
	exit 0
fi

command -v $host-gcc >/dev/null || die "$host-gcc missing (scripts/deps.sh windows)"
[ "$(id -u)" -eq 0 ] || [ -w "$cache" ] || die "$cache not writable"
mkdir -p "$cache"
apt_index
key=""
declare -A ver
for p in $srcpkgs; do
	v=$(src_version "$p")
	[ -n "$v" ] || die "no source package $p on the mirror"
	ver[$p]=$v
	key="$key-$p-${v//[:~+]/_}"
done
root="$cache/win$key-inih-r62-r$recipe"
pfx=$root/prefix
if [ -f "$root/done" ]; then
	echo "$pfx"
	exit 0
fi

echo "$inih_sha  $inih_tgz" | sha256sum -c --quiet - || die "bad sha256: $inih_tgz"
rm -rf "$root"
mkdir -p "$root/src" "$pfx"
log=$root/build.log
echo "windeps: building into $root (log: $log)" >&2
t0=$(date +%s)
cd "$root/src"
for p in $srcpkgs; do
	apt-get "${apt_opts[@]}" -q source "$p=${ver[$p]}" >>"$log" 2>&1 || die "apt-get source $p failed (see $log)"
done
rm -f ./*.dsc ./*.tar.* 

jobs=$(nproc)
run() { "$@" >>"$log" 2>&1 || die "failed: $* (see $log)"; }
toolchain=$root/toolchain.cmake
cat > "$toolchain" <<-EOF
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_C_COMPILER $host-gcc)
set(CMAKE_RC_COMPILER $host-windres)
set(CMAKE_FIND_ROOT_PATH /usr/$host $pfx)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
EOF

# OpenSSL: libraries only, built-in providers, no DLLs.
(cd openssl-*/ && run ./Configure mingw64 no-shared no-module no-tests \
	--cross-compile-prefix=$host- --prefix="$pfx" --libdir=lib &&
	run make -j"$jobs" build_libs && run make install_dev)

(cd libuv1-*/ && run cmake -S . -B b -DCMAKE_TOOLCHAIN_FILE="$toolchain" \
	-DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$pfx" -DLIBUV_BUILD_TESTS=OFF \
	-DLIBUV_BUILD_BENCH=OFF && run cmake --build b -j"$jobs" --target uv_a &&
	install -m 0644 b/libuv_a.a "$pfx/lib/libuv.a" && cp -r include/. "$pfx/include/")

(cd libusb-1.0-*/ && run ./configure --host=$host --prefix="$pfx" --disable-shared --enable-static &&
	run make -j"$jobs" && run make install)

(cd cmocka-*/ && run cmake -S . -B b -DCMAKE_TOOLCHAIN_FILE="$toolchain" \
	-DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$pfx" -DWITH_STATIC_LIB=ON \
	-DWITH_EXAMPLES=OFF -DUNIT_TESTING=OFF && run cmake --build b -j"$jobs" &&
	lib=$(find b -name 'libcmocka-static.a' | head -1) && [ -n "$lib" ] &&
	install -m 0644 "$lib" "$pfx/lib/libcmocka.a" && install -m 0644 include/cmocka.h "$pfx/include/")

# inih: one file, Debian's defaults (INI_MAX_LINE 200).
tar xzf "$inih_tgz"
(cd inih-*/ && run $host-gcc -O2 -c ini.c -o ini.o && run $host-ar rcs "$pfx/lib/libinih.a" ini.o &&
	install -m 0644 ini.h "$pfx/include/")

{
	for p in $srcpkgs; do echo "$p ${ver[$p]}"; done
	echo "inih r62 $inih_sha"
	echo "seconds $(($(date +%s) - t0))"
} > "$root/versions"
rm -rf "$root/src"
touch "$root/done"
echo "windeps: done in $(($(date +%s) - t0)) s" >&2
echo "$pfx"
