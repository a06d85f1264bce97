#!/usr/bin/env bash
# The Debian package: dpkg-buildpackage -b turns debian/ into a .deb,
# lintian finds no errors, dpkg -i installs it, `usher -t` (default path)
# passes, usherctl says the daemon is unreachable (3), then it is purged
# and the usher user removed if this test created it. Skips (77) where it
# cannot run: no dpkg-buildpackage/dh, not root, usher already installed.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
skip() { echo "SKIP: $*"; exit 77; }
command -v dpkg-buildpackage >/dev/null || skip "dpkg-buildpackage missing (apt-get install dpkg-dev)"
command -v dh >/dev/null || skip "debhelper missing (apt-get install debhelper)"
[ "$(id -u)" -eq 0 ] || skip "not root: dpkg -i needs root"
dpkg-query -W -f='${Status}' usher 2>/dev/null | grep -q 'ok installed' &&
    skip "a package usher is installed already; not touching it"

W=$(mktemp -d /tmp/usher-deb.XXXXXX)
had_user=no
id usher >/dev/null 2>&1 && had_user=yes
cleanup() {
	dpkg-query -W -f='${Status}' usher 2>/dev/null | grep -q 'installed' &&
	    dpkg --purge usher >/dev/null 2>&1 || true
	if [ "$had_user" = no ] && id usher >/dev/null 2>&1; then
		userdel usher 2>/dev/null || true
		getent group usher >/dev/null && groupdel usher 2>/dev/null || true
	fi
	rm -rf "$W"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# A copy of the tree without build directories, built out of the way.
mkdir "$W/usher"
tar -C "$SRC" --exclude='./build*' --exclude=./.git --exclude=./Testing -cf - . |
    tar -C "$W/usher" -xf -
(cd "$W/usher" && dpkg-buildpackage -b -us -uc -j2 >"$W/build.log" 2>&1) ||
    { tail -40 "$W/build.log"; fail "dpkg-buildpackage"; }
deb=$(ls "$W"/usher_*.deb)
dpkg-deb -c "$deb" >"$W/contents"
for f in ./usr/sbin/usher ./usr/sbin/usherctl ./etc/usher/usher.conf \
    ./lib/systemd/system/usher.service ./usr/lib/sysusers.d/usher.conf \
    ./usr/lib/tmpfiles.d/usher.conf ./usr/share/man/man8/usherctl.8.gz \
    ./usr/share/man/man8/usher.8.gz ./usr/share/man/man5/usher.conf.5.gz; do
	grep -q " $f\$" "$W/contents" || fail "$f not in the package"
done
dpkg-deb -e "$deb" "$W/ctl"
grep -qx /etc/usher/usher.conf "$W/ctl/conffiles" || fail "usher.conf is no conffile"
grep -q systemd-sysusers "$W/ctl/postinst" || fail "postinst does not create the user"
if command -v lintian >/dev/null; then
	lintian --fail-on error "$deb" >"$W/lintian" 2>&1 ||
	    { cat "$W/lintian"; fail "lintian errors"; }
	grep '^W:' "$W/lintian" || true
else
	echo "deb: lintian missing, not run"
fi

dpkg -i "$deb" >"$W/install.log" 2>&1 || { cat "$W/install.log"; fail "dpkg -i"; }
/usr/sbin/usher -t | grep -q '^/etc/usher/usher.conf: OK: ' || fail "usher -t: $(/usr/sbin/usher -t 2>&1)"
id usher >/dev/null 2>&1 || fail "no user usher after install"
set +e
/usr/sbin/usherctl -s "$W/none.sock" status 2>/dev/null; rc=$?
set -e
[ "$rc" -eq 3 ] || fail "usherctl with no daemon exited $rc, not 3"
dpkg --purge usher >"$W/purge.log" 2>&1 || { cat "$W/purge.log"; fail "dpkg --purge"; }
[ -e /usr/sbin/usher ] && fail "usher left after purge"
[ -e /etc/usher/usher.conf ] && fail "conffile left after purge"
echo "deb: ok ($(basename "$deb"), $(stat -c %s "$deb") bytes)"
