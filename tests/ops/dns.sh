#!/usr/bin/env bash
# RFC 3263 next hops against a test DNS server on loopback (dnsserver.py):
# foreign domains from a trusted source, table targets written as names
# (resolved at start, then every dns.refresh seconds), 503 and 403 cases.
. "$(dirname "$0")/lib.sh"

for v in L1 L2 LW1 LW2 LT LA LB LH; do
	export "P_$v=$(free_port)"
done
# "No SRV" sends to port 5060: listen on a loopback address of our own
# when we can (a wildcard bind of port 5060 elsewhere on the machine makes
# that impossible; -T below checks the same choice without a socket).
PLAIN_ADDR=$(python3 -c 'import random, socket
for _ in range(50):
    a = "127.0.53.%d" % random.randint(2, 250)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((a, 5060)); print(a); break
    except OSError:
        pass
else:
    print("127.0.53.1")')
export PLAIN_ADDR
export DNSLOG=$TMP/queries.log ZONE=$TMP/zone
: >"$DNSLOG"
echo "_sip._udp.pbx.test SRV 10 0 $P_LA a.far.test" >"$ZONE"

python3 "$HERE/dnsserver.py" --port-file "$TMP/dns.port" --log "$DNSLOG" \
    --zone "$ZONE" \
    "_sip._udp.far.test SRV 10 0 $P_L1 a.far.test" \
    "_sip._udp.far.test SRV 20 0 $P_L2 b.far.test" \
    "a.far.test A 127.0.0.1" "b.far.test A 127.0.0.1" \
    "_sip._udp.w.test SRV 10 1 $P_LW1 a.far.test" \
    "_sip._udp.w.test SRV 10 1 $P_LW2 a.far.test" \
    "plain.test A $PLAIN_ADDR" \
    "_sip._tcp.tcponly.test SRV 5 0 $P_LT a.far.test" &
PIDS+=($!)
for i in $(seq 50); do
	[ -s "$TMP/dns.port" ] && break
	sleep 0.1
done
dnsport=$(cat "$TMP/dns.port") || fail "dnsserver did not start"

start_usher() {
	export USHER_PORT
	USHER_PORT=$(free_port)
	write_conf "$TMP/u.conf" "$USHER_PORT" "$@"
	"$USHER" -f -c "$TMP/u.conf" 2>"$TMP/usher.log" &
	PIDS+=($!)
	wait_answer "$USHER_PORT" || fail "usher did not answer"
}

stop_usher() {
	kill -TERM "${PIDS[-1]}"
	wait "${PIDS[-1]}" || fail "usher did not stop cleanly"
	unset 'PIDS[-1]'
}

# The table targets, written as names.
printf 'carl@example.com active sip:carl@pbx.test\ndan@example.com active sip:dan@nores.test\n' \
    >"$TMP/users.txt"

start_usher "dns = { servers = [ \"127.0.0.1:$dnsport\" ]; refresh = 300; };" \
    "users_file = \"$TMP/users.txt\";"
grep -q "warning: target nores.test Does Not Resolve" "$TMP/usher.log" ||
    fail "no warning for a target that does not resolve"
python3 "$HERE/dns.py" foreign || fail "foreign domain and target checks"
# -T takes the daemon's RFC 3263 steps too.
printf 'INVITE sip:x@far.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@far.test>\r\nCall-ID: t\r\nCSeq: 1 INVITE\r\n\r\n' |
    "$USHER" -c "$TMP/u.conf" -s 127.0.0.2 -T - >"$TMP/explain.out" ||
    fail "-T failed"
grep -q "^send to:  udp 127.0.0.1:$P_L1\$" "$TMP/explain.out" ||
    fail "-T does not send to the SRV target: $(grep 'send to' "$TMP/explain.out")"
echo "ok   -T follows SRV"
printf 'INVITE sip:x@plain.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@far.test>\r\nCall-ID: t\r\nCSeq: 1 INVITE\r\n\r\n' |
    "$USHER" -c "$TMP/u.conf" -s 127.0.0.2 -T - >"$TMP/explain.out" ||
    fail "-T failed"
grep -q "^send to:  udp $PLAIN_ADDR:5060\$" "$TMP/explain.out" ||
    fail "-T, no SRV: $(grep 'send to' "$TMP/explain.out")"
echo "ok   -T, no SRV: A at port 5060"
stop_usher

start_usher "dns = { servers = [ \"127.0.0.1:$dnsport\" ]; refresh = 1; };" \
    "users_file = \"$TMP/users.txt\";"
python3 "$HERE/dns.py" refresh || fail "dns.refresh"
stop_usher

start_usher "dns = { servers = [ \"127.0.0.1:$dnsport\" ]; refresh = 0; };" \
    "users_file = \"$TMP/users.txt\";"
USHER_PID=${PIDS[-1]} python3 "$HERE/dns.py" reload || fail "reload"
stop_usher

# Without dns.servers: getaddrinfo(), which reads /etc/hosts (no query
# leaves the machine: the name has a port, so no SRV is asked for).
echo "lh@example.com active sip:lh@localhost:$P_LH" >"$TMP/users.txt"
start_usher "users_file = \"$TMP/users.txt\";"
python3 "$HERE/dns.py" hosts || fail "target name from /etc/hosts"
stop_usher
# SPEC §7: target names are resolved in parallel, the whole set within
# the DNS timeout. 50 names against a server that never answers: usher
# must answer its first request within 3 s of its start (one name after
# another, this took 100 s). Then 50 names against a live server: the 48
# it knows resolve, the 2 it does not are named.
python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
open(sys.argv[1] + ".tmp", "w").write("%d" % s.getsockname()[1])
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(170)' "$TMP/silent.port" &
PIDS+=($!)
for i in $(seq 50); do
	[ -s "$TMP/silent.port" ] && break
	sleep 0.1
done
silent=$(cat "$TMP/silent.port") || fail "silent server did not start"
: >"$TMP/users.txt"
for i in $(seq 50); do
	if [ $((i % 2)) -eq 0 ]; then port=":5060"; else port=""; fi
	echo "d$i@example.com active sip:d$i@d$i.dead.test$port" >>"$TMP/users.txt"
done
# first_answer PORT T0: seconds from T0 to usher's first answer
first_answer() {
	python3 - "$1" "$2" <<'PY'
import socket, sys, time, uuid
port, t0 = int(sys.argv[1]), float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
s.settimeout(0.05)
lp = s.getsockname()[1]
while time.time() - t0 < 60:
    msg = (f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
           f"Via: SIP/2.0/UDP 127.0.0.1:{lp};branch=z9hG4bK{uuid.uuid4().hex};rport\r\n"
           f"From: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1:{port}>\r\n"
           f"Call-ID: {uuid.uuid4().hex}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
           "Content-Length: 0\r\n\r\n")
    try:
        s.sendto(msg.encode(), ("127.0.0.1", port))
        s.recv(65535)
        print("%.2f" % (time.time() - t0))
        sys.exit(0)
    except (socket.timeout, ConnectionError):
        pass
sys.exit(1)
PY
}
USHER_PORT=$(free_port)
write_conf "$TMP/u.conf" "$USHER_PORT" \
    "dns = { servers = [ \"127.0.0.1:$silent\" ]; refresh = 0; };" \
    "users_file = \"$TMP/users.txt\";"
t0=$(date +%s.%N)
"$USHER" -f -c "$TMP/u.conf" 2>"$TMP/usher.log" &
PIDS+=($!)
took=$(first_answer "$USHER_PORT" "$t0") || fail "no answer within 60 s"
echo "50 dead target names: first answer after $took s"
python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) < 3 else 1)" \
    "$took" || fail "first answer after $took s, want < 3 s"
[ "$(grep -c 'Gets No DNS Answer' "$TMP/usher.log")" -eq 50 ] ||
    fail "not every dead name was named"
stop_usher

: >"$TMP/users.txt"
for i in $(seq 50); do
	echo "l$i@example.com active sip:l$i@l$i.live.test:5060" >>"$TMP/users.txt"
	[ "$i" -le 48 ] && echo "l$i.live.test A 127.0.0.1" >>"$ZONE"
done
sleep 1.1	# dnsserver reads the zone again when its mtime moves
t0=$(date +%s.%N)
start_usher "dns = { servers = [ \"127.0.0.1:$dnsport\" ]; refresh = 0; };" \
    "users_file = \"$TMP/users.txt\";"
grep -q 'resolved 50 target names' "$TMP/usher.log" ||
    fail "live names: $(grep 'resolved' "$TMP/usher.log")"
[ "$(grep -c 'Does Not Resolve' "$TMP/usher.log")" -eq 2 ] &&
    grep -q 'target l49.live.test Does Not Resolve' "$TMP/usher.log" ||
    fail "the 2 unknown live names were not named"
echo "ok   50 live names resolved in parallel: $(grep -o 'in [0-9]* ms' "$TMP/usher.log")"
stop_usher
echo "dns: ok"
