#!/usr/bin/env bash
# The daemon: start in the background, pid file locked, a second instance
# refused with the reason, SIGTERM stops cleanly and removes the pid file,
# -t and -V exit codes, and (as root) privileges dropped after binding.
. "$(dirname "$0")/lib.sh"

port=$(free_port)
write_conf "$TMP/u.conf" "$port"

"$USHER" -t -c "$TMP/u.conf" | grep -q "OK" || fail "-t did not say OK"
"$USHER" -V | grep -q "^usher " || fail "-V"
set +e
"$USHER" -t -c "$TMP/missing.conf" >/dev/null 2>&1; rc=$?
"$USHER" -x >/dev/null 2>&1; rc2=$?
set -e
[ "$rc" -eq 1 ] || fail "-t on a missing file exited $rc, not 1"
[ "$rc2" -eq 2 ] || fail "a bad option exited $rc2, not 2"

# Background start: the parent returns 0 only once the daemon serves.
"$USHER" -c "$TMP/u.conf" || fail "daemon start exited non-zero"
[ -s "$TMP/usher.pid" ] || fail "no pid file"
pid=$(cat "$TMP/usher.pid")
PIDS+=("$pid")
kill -0 "$pid" || fail "daemon $pid not running"
[ "$(probe "$port" "INVITE sip:bob@example.com")" = "SIP/2.0 604 Does Not Exist Anywhere" ] ||
    fail "daemon did not answer"

# A second instance with the same pid file refuses and says why.
set +e
out=$("$USHER" -c "$TMP/u.conf" 2>&1); rc=$?
set -e
[ "$rc" -eq 1 ] || fail "second instance exited $rc, not 1"
echo "$out" | grep -q "another usher (pid $pid)" || fail "second instance said: $out"

# Another usher (its own pid file) on the same UDP port is refused, not
# let in to take part of the traffic (SO_REUSEADDR on UDP once allowed it),
# with workers = 1 and with several workers (SO_REUSEPORT sockets).
for nw in 1 2; do
	cat >"$TMP/udp$nw.conf" <<CONF
listen = ( { transport = "udp"; address = "127.0.0.1"; port = $port; } );
workers = $nw;
daemon = { pidfile = "$TMP/udp$nw.pid"; };
domains = ( { name = "example.com"; authoritative = true; } );
CONF
	set +e
	out=$(timeout 10 "$USHER" -f -c "$TMP/udp$nw.conf" 2>&1); rc=$?
	set -e
	[ "$rc" -eq 1 ] && echo "$out" | grep -q "udp 127.0.0.1 port $port: Address already in use" ||
	    fail "second usher on udp port $port (workers $nw): rc=$rc: $out"
	echo "$out" | grep -q "usher: error: .*another process holds that port" ||
	    fail "the bind failure is not an error naming the fix: $out"
done

# A first run as a new user makes it (issue 15 item 9): a minimal config of
# their own, no daemon block, in the foreground: no pid file is wanted.
fport=$(free_port)
cat >"$TMP/first.conf" <<CONF
listen = ( { transport = "udp"; address = "127.0.0.1"; port = $fport; } );
domains = ( { name = "example.com"; } );
CONF
(cd "$TMP" && exec "$USHER" -f -c first.conf 2>"$TMP/first.log") &
fpid=$!
PIDS+=("$fpid")
wait_answer "$fport" || fail "first run did not answer: $(cat "$TMP/first.log")"
grep -q 'pid file' "$TMP/first.log" && fail "first run spoke of a pid file: $(cat "$TMP/first.log")"
kill -TERM "$fpid"
wait "$fpid" || fail "first run did not stop cleanly"
# With -p it is written, and a failing one is an error that names the fix.
set +e
out=$(timeout 10 "$USHER" -f -c "$TMP/first.conf" -p "$TMP/no/such/dir.pid" 2>&1); rc=$?
set -e
[ "$rc" -eq 1 ] && echo "$out" | grep -q "usher: error: pid file $TMP/no/such/dir.pid: No such file or directory (create its directory" ||
    fail "-p into a missing directory: rc=$rc: $out"

kill -TERM "$pid"
for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "daemon did not stop on SIGTERM"
[ -e "$TMP/usher.pid" ] && fail "pid file left behind"

# Privilege drop, where the test runs as root.
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then
	write_conf "$TMP/u2.conf" "$port"
	sed -i "s|daemon = { pidfile = \"$TMP/usher.pid\"; };|daemon = { pidfile = \"$TMP/usher.pid\"; user = \"nobody\"; group = \"nogroup\"; };|" "$TMP/u2.conf"
	echo "control = { socket = \"$TMP/c.sock\"; };" >>"$TMP/u2.conf"
	chmod 755 "$TMP"
	"$USHER" -c "$TMP/u2.conf" || fail "daemon start as nobody"
	pid=$(cat "$TMP/usher.pid")
	PIDS+=("$pid")
	user=$(ps -o user= -p "$pid")
	[ "$user" = "nobody" ] || fail "daemon runs as $user, not nobody"
	[ -n "$(probe "$port" "OPTIONS sip:127.0.0.1:$port")" ] || fail "no answer after privdrop"
	# The control socket belongs to the daemon's user and group, 0660.
	[ "$(stat -c '%U:%G %a' "$TMP/c.sock")" = "nobody:nogroup 660" ] ||
	    fail "control socket is $(stat -c '%U:%G %a' "$TMP/c.sock")"
	"$(dirname "$USHER")/usherctl" -s "$TMP/c.sock" status >/dev/null || fail "usherctl after privdrop"
	write_conf "$TMP/u3.conf" "$(free_port)"
	sed -i "s|daemon = { pidfile = \"$TMP/usher.pid\"; };|daemon = { pidfile = \"$TMP/u3.pid\"; user = \"no-such-user-x\"; };|" "$TMP/u3.conf"
	set +e
	out=$("$USHER" -c "$TMP/u3.conf" 2>&1); rc=$?
	set -e
	[ "$rc" -eq 1 ] && echo "$out" | grep -q 'no-such-user-x' || fail "unknown user: rc=$rc: $out"
	kill -TERM "$pid"
fi
echo "daemon: ok"
