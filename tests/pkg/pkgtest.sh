#!/bin/bash
# pkgtest.sh - the .debs of make deb installed into a throw-away Debian 12
# root (tests/pkg/debroot.sh: mmdebstrap, cached), then:
#   * the file list, owners and modes of each package; the system users
#     (sysusers.d) and the directories (tmpfiles.d) the postinst made;
#   * "pedserver -mode config -set" as root writes /etc/pedserver/pedserver.conf
#     that the daemon, as user pedserver, reads;
#   * each daemon runs as its unit's ExecStart says, as the unit's user, with
#     what a chroot can reproduce of the unit's sandbox (setpriv: user and
#     groups, no new privileges, empty capability sets, UMask, no core;
#     mounts: a read-only root but for its state and log directories, a
#     private /tmp, no /home or /root), and
#     answers: pedserver the session protocol's HELLO on its port (pedemu of
#     ped-tools as the PED) and show as root; pedclient show and pedhsm;
#   * reinstalling keeps the config, remove keeps config and state, purge
#     removes pedserver's config, state and logs, keeps pedclient's HSM state
#     (keys) and both system users;
#   * the .rpms of make rpm (if built) installed with rpm --root --nodeps into
#     a second fresh root: their file lists, and the users and directories
#     their %post made.
# Runs in a private mount namespace (proc and a devpts of its own for the
# root); needs root. Usage: PKGOUT=dir bash tests/pkg/pkgtest.sh
if [ -z "${PKGTEST_NS:-}" ]; then
	[ "$(id -u)" -eq 0 ] || { echo "pkgtest.sh: needs root (chroot, mounts)" >&2; exit 1; }
	PKGTEST_NS=1 exec unshare --mount --propagation private bash "$0" "$@"
fi
. tests/scenario/lib_server.sh

PKGOUT=${PKGOUT:-$BUILD/pkg}
R=$T/root
debs=$(ls "$PKGOUT"/pedserver_*.deb "$PKGOUT"/pedclient_*.deb "$PKGOUT"/ped-tools_*.deb 2>/dev/null) ||
	fail "no .debs in $PKGOUT (make deb)"

_pk_umount() {
	umount -l "$R/dev/ptmx" "$R/dev/pts" "$R/proc" "$T/rroot/proc" 2>/dev/null || true
}
_lib_exit_hooks="_pk_umount $_lib_exit_hooks"

# ---- a fresh root from the cached tarball
tarball=$(sh tests/pkg/debroot.sh) || fail "no Debian 12 root"
mkdir -p "$R"
tar -C "$R" -xf "$tarball"
mount -t proc proc "$R/proc"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$R/dev/pts"
touch "$R/dev/ptmx" 2>/dev/null || true
mount --bind "$R/dev/pts/ptmx" "$R/dev/ptmx"
mkdir -p "$R/tmp/debs"
cp $debs "$R/tmp/debs/"

inroot() { chroot "$R" "$@"; }
# A unit's User= and Group= with what setpriv reproduces of its sandbox.
asuser() {
	local u=$1
	shift
	chroot "$R" setpriv --reuid="$u" --regid="$u" --init-groups --no-new-privs \
		--bounding-set=-all --inh-caps=-all --reset-env \
		-- sh -c 'umask 0077; ulimit -c 0; exec "$@"' sh "$@"
}
ids_of() { stat -c '%a %u %g' "$R$1"; } # numbers: the host's names are not the root's
uid_of() { inroot id -u "$1"; }
gid_of() { inroot id -g "$1"; }

out=$(inroot sh -c 'dpkg -i /tmp/debs/*.deb' 2>&1) || fail "dpkg -i: $out"
note "installed: $(inroot dpkg-query -W -f '${Package} ${Version} ' pedserver pedclient ped-tools)"

# ---- file lists
expect_files() { # PACKAGE FILE...: dpkg -L lists each; nothing under /usr/local
	local p=$1 f list
	shift
	list=$(inroot dpkg -L "$p")
	for f in "$@"; do
		grep -qxF "$f" <<<"$list" || fail "$p does not ship $f"
		[ -e "$R$f" ] || fail "$f listed but missing"
	done
	grep -q '^/usr/local' <<<"$list" && fail "$p ships files under /usr/local"
	return 0
}
expect_files pedserver /usr/bin/pedserver /lib/systemd/system/pedserver.service \
	/lib/udev/rules.d/60-pedserver.rules /usr/lib/sysusers.d/pedserver.conf \
	/usr/lib/tmpfiles.d/pedserver.conf /usr/share/man/man8/pedserver.8.gz \
	/usr/share/man/man5/pedserver.conf.5.gz /usr/share/doc/pedserver/copyright \
	/usr/share/doc/pedserver/examples/pedserver.conf
expect_files pedclient /usr/bin/pedclient /usr/bin/pedhsm /lib/systemd/system/pedclient.service \
	/usr/lib/sysusers.d/pedclient.conf /usr/lib/tmpfiles.d/pedclient.conf \
	/usr/share/man/man8/pedclient.8.gz /usr/share/man/man5/pedclient.conf.5.gz \
	/usr/share/man/man1/pedhsm.1.gz
expect_files ped-tools /usr/bin/pedemu /usr/bin/pedlink /usr/share/man/man1/pedemu.1.gz \
	/usr/share/man/man1/pedlink.1.gz
# no conffile: config -set rewrites the config, upgrades must not prompt
for p in pedserver pedclient ped-tools; do
	[ -z "$(inroot dpkg-query -W -f '${Conffiles}' "$p")" ] || fail "$p has conffiles"
done
note "file lists as expected, no conffiles"

# ---- users, owners, modes
for u in pedserver pedclient; do
	pw=$(inroot getent passwd "$u") || fail "no system user $u"
	[ "${pw##*:}" = /usr/sbin/nologin ] || fail "$u can log in: $pw"
	[ "$(uid_of "$u")" -lt 1000 ] || fail "$u is not a system user: $pw"
	assert_contains ":/var/lib/$u:" "$pw"
	[ "$(ids_of /etc/$u)" = "2750 0 $(gid_of "$u")" ] || fail "/etc/$u: $(ids_of /etc/$u)"
	[ "$(ids_of /var/lib/$u)" = "700 $(uid_of "$u") $(gid_of "$u")" ] ||
		fail "/var/lib/$u: $(ids_of /var/lib/$u)"
	[ "$(ids_of /usr/bin/$u)" = "755 0 0" ] || fail "/usr/bin/$u: $(ids_of /usr/bin/$u)"
	[ "$(ids_of /lib/systemd/system/$u.service)" = "644 0 0" ] || fail "$u.service mode"
done
note "users pedserver $(uid_of pedserver), pedclient $(uid_of pedclient); dirs and modes right"

# ---- pedserver as its unit runs it, the emulated PED as its PED
P=$(free_port)
A=$(free_port)
while [ "$A" = "$P" ]; do A=$(free_port); done
out=$(inroot pedserver -mode config -set -port "$P" -admin "$A" -ped /run/ped/desk 2>&1) ||
	fail "config -set as root: $out"
[ "$(ids_of /etc/pedserver/pedserver.conf)" = "640 0 $(gid_of pedserver)" ] ||
	fail "config written by root: $(ids_of /etc/pedserver/pedserver.conf)"
PC=$(free_port)
out=$(inroot pedclient -mode config -set -admin "$PC" 2>&1) || fail "pedclient config -set: $out"

# The units' file system, as far as mounts reproduce it: ProtectSystem=strict
# (the whole root read-only but for the StateDirectory= and LogsDirectory=),
# PrivateTmp= (a /tmp of their own), ProtectHome= (no /home, /root).
sandbox_on() {
	mount --rbind "$R" "$R"
	mount -o remount,bind,ro "$R"
	for u in pedserver pedclient; do
		mkdir -p "$T/log-$u"
		chown "$(uid_of "$u"):$(gid_of "$u")" "$T/log-$u"
		mount --bind "$R/var/lib/$u" "$R/var/lib/$u"
		mount -o remount,bind,rw "$R/var/lib/$u"
	done
	mount --bind "$T/log-pedserver" "$R/var/log" # LogsDirectory=, one at a time here
	mkdir -p "$T/ptmp" && chmod 1777 "$T/ptmp" && mount --bind "$T/ptmp" "$R/tmp"
	mount -t tmpfs -o ro,mode=0000 none "$R/home"
	mount -t tmpfs -o ro,mode=0000 none "$R/root"
	mount --bind "$T/run" "$R/run"
}
sandbox_off() {
	umount -R "$R" # the read-only bind and everything under it
}
mkdir -p "$T/run/ped" && chown "$(uid_of pedserver)" "$T/run/ped" # the PED's link
sandbox_on
touch "$R/etc/x" 2>/dev/null && fail "the sandbox's root is writable"
asuser pedserver touch /var/lib/pedserver/.w && rm "$R/var/lib/pedserver/.w" ||
	fail "the state directory is not writable in the sandbox"
run_bg emu asuser pedserver pedemu -keys /run/ped/keys -link /run/ped/desk \
	-control /run/ped/ctl -mode remote
wait_line emu 'pedemu: ready' 10
[ "$(ids_of /run/ped/keys)" = "700 $(uid_of pedserver) $(gid_of pedserver)" ] ||
	fail "pedemu's key dir: $(ids_of /run/ped/keys)"
read -r -a cmd < <(sed -n 's/^ExecStart=//p' "$R/lib/systemd/system/pedserver.service")
[ "${cmd[0]}" = /usr/bin/pedserver ] || fail "ExecStart: ${cmd[*]}"
run_bg server asuser pedserver "${cmd[@]}"
wait_line server 'info: ready' 20
pid=$(cat "$R/var/lib/pedserver/pedserver.pid" 2>/dev/null || pgrep -f -n '^/usr/bin/pedserver') ||
	fail "no pedserver process"
st=$(cat "/proc/$pid/status")
grep -q "^Uid:[[:space:]]*$(uid_of pedserver)[[:space:]]" <<<"$st" || fail "not user pedserver: $st"
grep -q '^NoNewPrivs:[[:space:]]*1' <<<"$st" || fail "NoNewPrivs not set"
grep -q '^CapBnd:[[:space:]]*0000000000000000' <<<"$st" || fail "capabilities left"
ans=$(probe "$P")
assert_contains "HELLO_ACK" "$ans"
assert_contains "ped_attached=1" "$ans"
show=$(inroot pedserver -mode show 2>&1) || fail "show as root: $show"
assert_contains "Connected" "$show"
note "pedserver as user pedserver (no caps, no new privs): $ans"
out=$(inroot pedserver -mode stop 2>&1) || fail "stop as root: $out"
wait_bg server 20 || fail "pedserver exit status $?"
CTL_SOCK=$R/run/ped/ctl ctl quit >/dev/null || fail "pedemu quit"
wait_bg emu 10 || fail "pedemu exit status $?"

# ---- pedclient the same way; pedhsm and show as root
read -r -a cmd < <(sed -n 's/^ExecStart=//p' "$R/lib/systemd/system/pedclient.service")
run_bg client asuser pedclient "${cmd[@]}"
wait_line client 'ready' 20
out=$(inroot pedhsm slot list 2>&1) || fail "pedhsm slot list as root: $out"
assert_contains "Command Result : No Error" "$out"
show=$(inroot pedclient -mode show 2>&1) || fail "pedclient show: $show"
[ "$(ids_of /var/lib/pedclient/hsm.sock | cut -d' ' -f2)" = "$(uid_of pedclient)" ] ||
	fail "hsm.sock not the daemon's: $(ids_of /var/lib/pedclient/hsm.sock)"
note "pedclient as user pedclient: pedhsm and show answer"
out=$(inroot pedclient -mode stop 2>&1) || fail "pedclient stop: $out"
wait_bg client 20 || fail "pedclient exit status $?"
ls "$R/var/lib/pedclient" >"$T/pcstate.txt"
sandbox_off
[ -s "$T/pcstate.txt" ] || fail "pedclient left no state"

# ---- reinstall, remove, purge
conf_before=$(cat "$R/etc/pedserver/pedserver.conf")
out=$(inroot sh -c 'dpkg -i /tmp/debs/*.deb' 2>&1 </dev/null) || fail "reinstall: $out"
[ "$(cat "$R/etc/pedserver/pedserver.conf")" = "$conf_before" ] || fail "reinstall changed the config"
out=$(inroot dpkg -r pedserver pedclient ped-tools 2>&1) || fail "remove: $out"
for f in /etc/pedserver/pedserver.conf /etc/pedclient/pedclient.conf /var/lib/pedserver \
	/var/lib/pedclient; do
	[ -e "$R$f" ] || fail "remove deleted $f"
done
[ ! -e "$R/usr/bin/pedserver" ] || fail "remove left /usr/bin/pedserver"
out=$(inroot dpkg -P pedserver pedclient ped-tools 2>&1) || fail "purge: $out"
for f in /etc/pedserver /var/lib/pedserver /var/log/pedserver /etc/pedclient \
	/lib/systemd/system/pedserver.service /usr/lib/sysusers.d/pedserver.conf; do
	[ ! -e "$R$f" ] || fail "purge left $f"
done
[ -d "$R/var/lib/pedclient" ] || fail "purge deleted pedclient's HSM state (keys)"
assert_contains "HSM keys" "$out"
inroot getent passwd pedserver >/dev/null || fail "purge removed the system user"
[ -z "$(inroot dpkg-query -W -f '${db:Status-Abbrev}' pedserver 2>/dev/null | tr -d ' ')" ] ||
	[ "$(inroot dpkg-query -W -f '${db:Status-Abbrev}' pedserver | tr -d ' ')" = pn ] ||
	fail "pedserver still known to dpkg after purge"
note "reinstall keeps the config; remove keeps config and state; purge removes" \
	"pedserver's, keeps pedclient's HSM state and the users"

# ---- the RPMs in a second fresh root
rpms=$(ls "$PKGOUT"/pedserver-*.rpm "$PKGOUT"/pedclient-*.rpm "$PKGOUT"/ped-tools-*.rpm \
	2>/dev/null) || { note "no .rpms in $PKGOUT: RPM install not tested (make rpm)"; exit 0; }
RR=$T/rroot
mkdir -p "$RR"
tar -C "$RR" -xf "$tarball"
mount -t proc proc "$RR/proc"
rpm --root "$RR" --initdb
# --nodeps: the root's libraries come from Debian packages, unknown to rpm
out=$(rpm --root "$RR" -i --nodeps $rpms 2>&1) || fail "rpm -i: $out"
list=$(rpm --root "$RR" -ql pedserver pedclient ped-tools)
for f in /usr/bin/pedserver /usr/bin/pedclient /usr/bin/pedhsm /usr/bin/pedemu /usr/bin/pedlink \
	/usr/lib/systemd/system/pedserver.service /usr/lib/systemd/system/pedclient.service \
	/usr/lib/udev/rules.d/60-pedserver.rules /usr/share/man/man8/pedserver.8 \
	/usr/share/man/man5/pedclient.conf.5 /usr/share/man/man1/pedemu.1; do
	grep -q "^$f" <<<"$list" || fail "the rpms do not ship $f"
	[ -e "$RR$f" ] || fail "$f missing after rpm -i"
done
grep -q '^ExecStart=/usr/bin/pedserver ' "$RR/usr/lib/systemd/system/pedserver.service" ||
	fail "rpm unit ExecStart"
for u in pedserver pedclient; do
	chroot "$RR" getent passwd "$u" >/dev/null || fail "rpm %post made no user $u"
	[ "$(stat -c '%a %u' "$RR/var/lib/$u")" = "700 $(chroot "$RR" id -u "$u")" ] ||
		fail "rpm: /var/lib/$u: $(stat -c '%a %u' "$RR/var/lib/$u")"
done
rc=0
out=$(chroot "$RR" pedserver -mode show 2>&1) || rc=$?
[ "$rc" -eq 3 ] || fail "rpm's pedserver show with none running: $rc $out"
out=$(rpm --root "$RR" -e pedserver pedclient ped-tools 2>&1) || fail "rpm -e: $out"
[ ! -e "$RR/usr/bin/pedserver" ] || fail "rpm -e left /usr/bin/pedserver"
note "rpms: installed with their users and directories, removed"
