#!/usr/bin/env bash
# cmake --install (default prefix /usr/local) puts usher in sbin, the sample config in etc/usher (never
# over an edited one), the systemd unit and both man pages in place.
set -euo pipefail
BUILD=${BUILD_DIR:?}
d=$(mktemp -d /tmp/usher-install.XXXXXX)
trap 'rm -rf "$d"' EXIT
DESTDIR=$d cmake --install "$BUILD" >/dev/null
for f in usr/local/sbin/usher usr/local/sbin/usherctl usr/local/etc/usher/usher.conf \
    usr/local/etc/usher/users.txt usr/local/lib/systemd/system/usher.service \
    usr/local/lib/sysusers.d/usher.conf usr/local/lib/tmpfiles.d/usher.conf \
    usr/local/share/man/man8/usher.8 usr/local/share/man/man8/usherctl.8 \
    usr/local/share/man/man5/usher.conf.5; do
	[ -e "$d/$f" ] || { echo "FAIL: $f not installed"; exit 1; }
done
grep -q '^ExecStart=/usr/local/sbin/usher -f ' "$d/usr/local/lib/systemd/system/usher.service" ||
    { echo "FAIL: unit ExecStart"; exit 1; }
unit=$d/usr/local/lib/systemd/system/usher.service
grep -q '^ExecReload=/usr/local/sbin/usherctl reload$' "$unit" ||
    { echo "FAIL: unit ExecReload"; exit 1; }
grep -q '^Type=notify$' "$unit" && grep -q '^WatchdogSec=' "$unit" ||
    { echo "FAIL: unit not Type=notify with a watchdog"; exit 1; }
for k in ProtectKernelLogs ProtectClock RestrictNamespaces RestrictRealtime \
    LockPersonality MemoryDenyWriteExecute; do
	grep -q "^$k=yes$" "$unit" || { echo "FAIL: unit lacks $k"; exit 1; }
done
grep -q '^SystemCallFilter=@system-service$' "$unit" &&
    grep -q '^SystemCallArchitectures=native$' "$unit" ||
    { echo "FAIL: unit lacks the system call filter"; exit 1; }
# The installed config is the unit's: control socket where usherctl looks.
grep -q '^control = { socket = "/run/usher/usher.sock"; };' "$d/usr/local/etc/usher/usher.conf" ||
    { echo "FAIL: installed usher.conf has no /run/usher control socket"; exit 1; }
if command -v systemd-analyze >/dev/null; then
	# The unit as it would be, pointing at the binaries under DESTDIR.
	sed "s|/usr/local/|$d/usr/local/|g" "$unit" >"$d/usher.service"
	out=$(systemd-analyze verify --man=no "$d/usher.service" 2>&1) ||
	    { echo "FAIL: systemd-analyze verify: $out"; exit 1; }
	[ -z "$out" ] || { echo "FAIL: systemd-analyze verify says: $out"; exit 1; }
else
	echo "install: systemd-analyze missing, unit not verified"
fi
# The built-in default config path is the install's (SPEC §10), so that
# `cmake --install` then `usher -t` finds the sample.
etc=$(sed -n 's/^CMAKE_INSTALL_SYSCONFDIR:PATH=//p' "$BUILD/CMakeCache.txt")
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$BUILD/CMakeCache.txt")
case $etc in /*) ;; *) etc=$prefix/$etc ;; esac
[ "$prefix" = /usr ] && etc=/etc
"$d$prefix/sbin/usher" -h | grep -qF "(default: $etc/usher/usher.conf)" ||
    { echo "FAIL: default config path is not $etc/usher/usher.conf: $("$d$prefix/sbin/usher" -h | grep default)"; exit 1; }
"$d$prefix/sbin/usher" -t -c "$d$etc/usher/usher.conf" | grep -q OK ||
    { echo "FAIL: the installed sample does not pass -t"; exit 1; }
echo "# operator's edit" >>"$d/usr/local/etc/usher/usher.conf"
DESTDIR=$d cmake --install "$BUILD" >/dev/null
tail -1 "$d/usr/local/etc/usher/usher.conf" | grep -q "operator's edit" ||
    { echo "FAIL: install overwrote an edited usher.conf"; exit 1; }
if command -v man >/dev/null; then
	man -l "$d/usr/local/share/man/man8/usher.8" 2>/dev/null | grep -q -- '-T' ||
	    { echo "FAIL: usher(8) does not render"; exit 1; }
fi
echo "install: ok"
