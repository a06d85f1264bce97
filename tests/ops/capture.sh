#!/usr/bin/env bash
# HEP capture (SPEC §10): every SIP message usher receives or sends, over
# UDP and TCP, reaches a collector as one HEPv3 packet matching the wire;
# a dead or unroutable collector costs SIP nothing but a counter. Bad
# capture settings are refused with file:line, and a reload that changes
# them says a restart applies it. See capture.py.
. "$(dirname "$0")/lib.sh"

port=$(free_port)
cport=$(free_port)
pbxu=$(free_port)
pbxt=$(free_port)
mport=$(free_port)
printf 'alice@example.com active sip:alice@127.0.0.1:%s\ncarol@example.com active sip:carol@127.0.0.1:%s;transport=tcp\n' \
    "$pbxu" "$pbxt" >"$TMP/users.txt"
write_conf "$TMP/u.conf" "$port" "users_file = \"$TMP/users.txt\";" \
    "metrics = { address = \"127.0.0.1\"; port = $mport; };" \
    "limits = { max_message_size = 65535; };" \
    "capture = { hep = \"udp:127.0.0.1:$cport\"; id = 4000000001L; };"
# An IPv6 listener too, where this host has ::1.
if python3 -c 'import socket; socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).bind(("::1", 0))' 2>/dev/null; then
	sed -i "s|^listen = ( |listen = ( { transport = \"udp\"; address = \"::1\"; port = $port; },\n           |" "$TMP/u.conf"
	export CAPTURE_V6=1
fi
"$USHER" -t -c "$TMP/u.conf" >/dev/null || fail "-t with capture"
timeout 60 python3 "$HERE/capture.py" full "$USHER" "$TMP/u.conf" "$port" \
    "$cport" "$pbxu" "$pbxt" 4000000001 "$mport" || fail "capture checks"

# Refused settings, with file:line.
bad() {
	write_conf "$TMP/b.conf" "$port" "$1"
	local out
	out=$("$USHER" -t -c "$TMP/b.conf" 2>&1) && fail "accepted: $1"
	grep -q "b.conf:[0-9]*: .*$2" <<<"$out" || fail "for '$1': $out"
}
bad 'capture = { hep = "udp:collector.example:9060"; };' 'capture.hep must be'
bad 'capture = { hep = "tcp:127.0.0.1:9060"; };' 'capture.hep must be'
bad 'capture = { hep = "udp:127.0.0.1:0"; };' 'capture.hep must be'
bad 'capture = { hep = "udp:127.0.0.1:65536"; };' 'capture.hep must be'
bad 'capture = { hep = "udp:127.0.0.1"; };' 'capture.hep must be'
bad 'capture = { hep = "udp:127.0.0.1:9060"; id = -1; };' 'id -1 out of range'
bad 'capture = { hep = "udp:127.0.0.1:9060"; id = 4294967296L; };' 'out of range'
bad 'capture = { id = 1; };' 'capture.hep missing'
bad 'capture = { hep = "udp:127.0.0.1:9060"; port = 1; };' 'port'
write_conf "$TMP/v6.conf" "$port" 'capture = { hep = "udp:[::1]:9060"; };'
"$USHER" -t -c "$TMP/v6.conf" >/dev/null || fail "[::1] refused"

# A dead collector: a closed loopback port (ICMP port unreachable).
port=$(free_port)
mport=$(free_port)
dport=$(free_port)
write_conf "$TMP/d.conf" "$port" \
    "metrics = { address = \"127.0.0.1\"; port = $mport; };" \
    "capture = { hep = \"udp:127.0.0.1:$dport\"; id = 1; };"
timeout 60 python3 "$HERE/capture.py" dead "$USHER" "$TMP/d.conf" "$port" \
    "$mport" || fail "dead collector"

# A reload that changes capture keeps it and says a restart applies it.
"$USHER" -f -c "$TMP/d.conf" 2>"$TMP/usher.log" &
PIDS+=($!)
wait_answer "$port" || fail "usher did not answer"
sed -i "s|id = 1; };|id = 2; };|" "$TMP/d.conf"
kill -HUP "${PIDS[-1]}"
for i in $(seq 50); do
	grep -q "capture changed: a restart applies it" "$TMP/usher.log" && break
	sleep 0.1
done
grep -q "capture changed: a restart applies it" "$TMP/usher.log" ||
    fail "reload did not report capture as restart-only"
kill -TERM "${PIDS[-1]}"
wait "${PIDS[-1]}" || fail "usher did not stop cleanly"
unset 'PIDS[-1]'

# An unroutable collector: in a network namespace that has only loopback,
# so nothing leaves this host. usher still starts and answers.
if unshare -rn true 2>/dev/null; then
	port=$(free_port)
	mport=$(free_port)
	write_conf "$TMP/n.conf" "$port" \
	    "metrics = { address = \"127.0.0.1\"; port = $mport; };" \
	    "capture = { hep = \"udp:192.0.2.50:9060\"; id = 1; };"
	unshare -rn bash -c "ip link set lo up && timeout 60 python3 \
	    '$HERE/capture.py' dead '$USHER' '$TMP/n.conf' $port $mport" ||
	    fail "unroutable collector"
else
	echo "capture: unshare -rn not permitted here; unroutable case skipped"
fi
echo "capture: ok"
