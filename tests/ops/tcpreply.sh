#!/usr/bin/env bash
# RFC 3261 §18.2.2: a response relayed to a TCP caller whose connection has
# closed goes on a new connection to its Via's sent-by port (not to
# received:rport, its old ephemeral port); a forged response cannot make
# usher connect anywhere else (SPEC §7). Local answers too: a 503 to a
# request that waited for DNS while its caller's connection closed. Over
# TLS the new connection verifies the Via's sent-by host.
. "$(dirname "$0")/lib.sh"

port=$(free_port)
mport=$(free_port)
uas=$(free_port)
write_conf "$TMP/u.conf" "$port" \
    "metrics = { address = \"127.0.0.1\"; port = $mport; };"
sed -i "s|state = \"gone\"; } );|state = \"gone\"; },\\
  { user = \"alice\"; domain = \"example.com\"; target = \"sip:alice@127.0.0.1:$uas\"; } );|" "$TMP/u.conf"

# -T: a relayed response names both addresses: received:rport while the
# caller's connection is open, else received at the sent-by port; over
# UDP received:rport alone.
relay_dest() {	# VIA -> "send to:" of -T for a 486 to an INVITE with VIA
	local req
	req=$(printf 'INVITE sip:alice@example.com SIP/2.0\r\nVia: %s\r\nFrom: <sip:a@example.org>;tag=1\r\nTo: <sip:alice@example.com>\r\nCall-ID: tx\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n' "$1" |
	    "$USHER" -c "$TMP/u.conf" -s 10.1.1.1 -T - -j) || return 1
	python3 -c 'import json, sys
b = json.loads(sys.argv[1])["bytes"]
vias = [l for l in b.split("\r\n") if l.startswith("Via:")]
sys.stdout.write("SIP/2.0 486 Busy Here\r\n" + "\r\n".join(vias) +
    "\r\nFrom: <sip:a@example.org>;tag=1\r\n"
    "To: <sip:alice@example.com>;tag=2\r\nCall-ID: tx\r\n"
    "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")' "$req" |
	    "$USHER" -c "$TMP/u.conf" -s 127.0.0.1 -T - | sed -n 's/^send to:  //p'
}
d=$(relay_dest "SIP/2.0/TCP 10.1.1.1:5070;rport;branch=z9hG4bKtx")
[ "$d" = "tcp 10.1.1.1:5060 while open, else 10.1.1.1:5070" ] ||
    fail "-T relay over TCP: \"$d\""
d=$(relay_dest "SIP/2.0/TCP 10.1.1.1;branch=z9hG4bKtx")
[ "$d" = "tcp 10.1.1.1:5060" ] || fail "-T relay over TCP, no rport: \"$d\""
d=$(relay_dest "SIP/2.0/UDP 10.1.1.1:5070;rport;branch=z9hG4bKtx")
[ "$d" = "udp 10.1.1.1:5060" ] || fail "-T relay over UDP: \"$d\""
echo "ok   -T names where a relayed response goes"

"$USHER" -f -c "$TMP/u.conf" 2>"$TMP/usher.log" &
pid=$!
PIDS+=($pid)
wait_answer "$port" || fail "usher did not answer"
timeout 60 python3 "$HERE/tcpreply.py" relay "$port" "$mport" "$uas" ||
    fail "TCP responses after the caller closed"
stop_clean "$pid" "$TMP/usher.log"

port=$(free_port)
dns=$(free_port)
write_conf "$TMP/d.conf" "$port" \
    "dns = { servers = [ \"127.0.0.1:$dns\" ]; };"
"$USHER" -f -c "$TMP/d.conf" 2>"$TMP/usher.log" &
pid=$!
PIDS+=($pid)
wait_answer "$port" || fail "usher (dns) did not answer"
timeout 60 python3 "$HERE/tcpreply.py" dns "$port" "$dns" ||
    fail "a local answer after the caller closed"
stop_clean "$pid" "$TMP/usher.log"
command -v openssl >/dev/null || { echo "SKIP: openssl missing"; exit 77; }
. "$HERE/tlscerts.sh"
mkdir -p "$TMP/certs" && tls_certs "$TMP/certs" || fail "cannot make test certificates"
port=$(free_port)
tport=$(free_port)
uas=$(free_port)
cat >"$TMP/t.conf" <<CONF
listen = ( { transport = "udp"; address = "127.0.0.1"; port = $port; },
           { transport = "tls"; address = "127.0.0.1"; port = $tport; } );
mode = "proxy";
log = { level = "info"; };
tls = { certificate = "$TMP/certs/server.pem";
        private_key = "$TMP/certs/server.key";
        ca_file = "$TMP/certs/ca.pem"; };
domains = ( { name = "example.com"; authoritative = true; } );
users = ( { user = "alice"; domain = "example.com"; target = "sip:alice@127.0.0.1:$uas"; } );
CONF
"$USHER" -f -c "$TMP/t.conf" 2>"$TMP/usher.log" &
pid=$!
PIDS+=($pid)
wait_answer "$port" || fail "usher (tls) did not answer"
timeout 60 python3 "$HERE/tcpreply.py" tls "$port" "$tport" "$uas" "$TMP/certs" ||
    fail "TLS responses after the caller closed"
stop_clean "$pid" "$TMP/usher.log"
echo "tcpreply: ok"
