#!/bin/bash
# packaging_files.sh - what an installed system gets besides the binaries:
# the systemd units (systemd-analyze verify silent, security exposure <= 2.0,
# the paths of make install PREFIX=/usr), the sysusers entries
# (systemd-sysusers --dry-run), the udev rule (parsed; the ids are the code's),
# the man pages (render without warnings; every mode, option and config key
# of the tables is on its page, the usage texts of pedemu, pedhsm, pedlink
# too). Each checker is also shown to fail on a broken input.
. tests/scenario/lib.sh

MANGEN=$BUILD/packaging/mangen
[ -x "$MANGEN" ] || fail "$MANGEN missing (make all builds it)"
command -v systemd-analyze >/dev/null || fail "systemd-analyze missing (scripts/deps.sh test)"

# ---- units
bindir=$(cd "$BUILD" && pwd)
make -s --no-print-directory units BUILD="$BUILD" BINDIR="$bindir" PKG="$T/u" >/dev/null
verify_unit() { # silent and 0, or the messages
	local out
	out=$(systemd-analyze verify --man=no "$1" 2>&1) || { echo "$out"; return 1; }
	[ -z "$out" ] || { echo "$out"; return 1; }
}
exposure() {
	systemd-analyze security --offline=yes "$1" 2>&1 |
		sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p'
}
for u in pedserver pedclient; do
	f=$T/u/$u.service
	verify_unit "$f" || fail "$u.service: systemd-analyze verify complained"
	e=$(exposure "$f")
	[ -n "$e" ] || fail "$u.service: no exposure figure"
	awk -v e="$e" 'BEGIN { exit !(e <= 2.0) }' || fail "$u.service: exposure $e > 2.0"
	note "$u.service: verify silent, exposure $e"
	for d in 'Type=notify' "User=$u" "Group=$u" "StateDirectory=$u" "LogsDirectory=$u" \
		'ExecReload=/bin/kill -HUP $MAINPID' 'ProtectSystem=strict' 'NoNewPrivileges=yes' \
		'CapabilityBoundingSet=' 'SystemCallFilter=@system-service' \
		'MemoryDenyWriteExecute=yes' 'LockPersonality=yes' 'PrivateTmp=yes' 'ProtectHome=yes'; do
		grep -qxF "$d" "$f" || fail "$u.service: no line $d"
	done
	grep -q "^ExecStart=$bindir/$u -mode start -foreground " "$f" ||
		fail "$u.service: ExecStart is not $bindir/$u"
done
grep -qx 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK' "$T/u/pedserver.service" ||
	fail "pedserver.service: libusb hot-plug needs AF_NETLINK"
grep -qx 'DeviceAllow=char-usb_device rw' "$T/u/pedserver.service" ||
	fail "pedserver.service: no USB device access"
# the checkers fail on a broken unit
sed 's/^ProtectSystem=strict/ProtectSystem=bogus/' "$T/u/pedserver.service" >"$T/bad.service"
verify_unit "$T/bad.service" >/dev/null && fail "verify_unit accepted ProtectSystem=bogus"
grep -v '^SystemCallFilter\|^CapabilityBoundingSet\|^Protect\|^Private' \
	"$T/u/pedserver.service" >"$T/weak.service"
e=$(exposure "$T/weak.service")
awk -v e="$e" 'BEGIN { exit !(e > 2.0) }' || fail "a weakened unit still scores $e"
note "a broken unit is reported, a weakened one scores $e"

# make install PREFIX=/usr: the units name /usr/bin
make -s --no-print-directory units BUILD="$BUILD" PREFIX=/usr PKG="$T/usr" >/dev/null
grep -q '^ExecStart=/usr/bin/pedserver ' "$T/usr/pedserver.service" || fail "PREFIX=/usr unit"
grep -q '/usr/local' "$T/usr/pedserver.service" "$T/usr/pedclient.service" &&
	fail "PREFIX=/usr units still name /usr/local"

# ---- sysusers
mkdir -p "$T/root/etc"
for u in pedserver pedclient; do
	out=$(systemd-sysusers --root="$T/root" --dry-run "$PWD/packaging/$u.sysusers" 2>&1) ||
		fail "$u.sysusers: $out"
	assert_contains "Creating user '$u'" "$out"
done
printf 'u bad user line x y z\n' >"$T/bad.sysusers"
systemd-sysusers --root="$T/root" --dry-run "$T/bad.sysusers" >/dev/null 2>&1 &&
	fail "systemd-sysusers accepted a bad line"

# ---- sysusers then tmpfiles into a scratch root, as the packages' postinst
# does: the users exist, the config dir is set-group-ID for the daemon's group
mkdir -p "$T/sys/etc"
for u in pedserver pedclient; do
	out=$(systemd-sysusers --root="$T/sys" "$PWD/packaging/$u.sysusers" 2>&1) || fail "$out"
	out=$(systemd-tmpfiles --root="$T/sys" --create "$PWD/packaging/$u.tmpfiles" 2>&1) ||
		fail "$u.tmpfiles: $out"
	grep -q "^$u:x:[0-9]*:[0-9]*:[^:]*:/var/lib/$u:/usr/sbin/nologin$" "$T/sys/etc/passwd" ||
		fail "no system user $u: $(cat "$T/sys/etc/passwd")"
	# ids of the scratch root's user, not of a host user of that name
	ids=$(awk -F: -v u="$u" '$1 == u { print $3, $4 }' "$T/sys/etc/passwd")
	[ "$(stat -c '%a %u %g' "$T/sys/etc/$u")" = "2750 0 ${ids#* }" ] ||
		fail "/etc/$u: $(stat -c '%a %u %g' "$T/sys/etc/$u"), user $u is $ids"
	[ "$(stat -c '%a %u %g' "$T/sys/var/lib/$u")" = "700 $ids" ] ||
		fail "/var/lib/$u: $(stat -c '%a %u %g' "$T/sys/var/lib/$u"), user $u is $ids"
done
note "sysusers and tmpfiles applied to a scratch root: users, /etc and /var/lib dirs"

# ---- udev rule: udevadm verify is newer than Debian 12's systemd 252, so a
# parse: each rule line is comma-separated KEY[{attr}] OP "value" tokens.
parse_rules() {
	awk '
	/^[ \t]*(#|$)/ { next }
	{
		line = $0; n = 0
		while (line != "") {
			if (!match(line, /^[ \t]*[A-Z_]+(\{[A-Za-z0-9_]+\})?[ \t]*(==|!=|\+=|-=|:=|=)[ \t]*"[^"]*"[ \t]*/)) {
				printf "line %d: cannot parse at: %s\n", NR, line; bad = 1; next
			}
			line = substr(line, RLENGTH + 1); n++
			if (line != "" && !sub(/^,/, "", line)) {
				printf "line %d: no comma before: %s\n", NR, line; bad = 1; next
			}
		}
		rules += 1
	}
	END { if (bad || rules == 0) exit 1 }' "$1"
}
r=$T/u/60-pedserver.rules
parse_rules "$r" || fail "60-pedserver.rules does not parse"
if command -v udevadm >/dev/null && udevadm verify --help >/dev/null 2>&1; then
	out=$(udevadm verify "$r" 2>&1) || fail "udevadm verify: $out" # systemd >= 254
fi
read -r vid pid < <("$MANGEN" usbids)
grep -q "ATTR{idVendor}==\"$vid\", ATTR{idProduct}==\"$pid\"" "$r" || fail "udev rule ids are not $vid:$pid"
for w in 'GROUP="pedserver"' 'MODE="0660"' 'TAG+="uaccess"'; do
	grep -qF "$w" "$r" || fail "udev rule: no $w"
done
printf 'SUBSYSTEM=="usb" ATTR{idVendor}=="ffff"\n' >"$T/bad.rules"
parse_rules "$T/bad.rules" >/dev/null && fail "the rule parser accepted a missing comma"
note "sysusers and udev rule parse (ids $vid:$pid)"

# ---- man pages: render silently, cover the tables
page_has() { # PAGE TEXT: TEXT in the rendered page, as whole words
	MANWIDTH=200 man -l "$1" 2>/dev/null | tr -s ' ' | grep -qwF -- "$2"
}
for m in "$BUILD"/man/*; do
	out=$(MANWIDTH=80 man --warnings -l "$m" 2>&1 >/dev/null)
	[ -z "$out" ] || fail "$m: man warnings: $out"
done
for p in pedserver pedclient; do
	n=0
	while read -r name; do
		case "$name" in
		-*) page=$BUILD/man/$p.8 ;;
		*) page=$BUILD/man/$p.conf.5 ;;
		esac
		page_has "$page" "$name" || fail "$name is missing from $page"
		n=$((n + 1))
	done < <("$MANGEN" names "$p")
	note "$p: $n table entries found on $p.8 and $p.conf.5"
done
for p in pedemu pedhsm tests/tools/pedlink; do
	page=$BUILD/man/$(basename "$p").1
	"$BUILD/$p" -help 2>&1 | head -3 | while IFS= read -r l; do
		page_has "$page" "$(echo "$l" | tr -s ' ')" || fail "$page lacks usage line: $l"
	done
done
# a page without its generated options lacks them
grep -v '^@OPTS' packaging/man/pedserver.8.scd | scdoc >"$T/cut.8"
page_has "$T/cut.8" -pedwritelay && fail "page_has found an option that is not there"
page_has "$BUILD/man/pedserver.conf.5" Port || fail "Port is missing from pedserver.conf.5"
note "man pages render without warnings and cover the tables"
