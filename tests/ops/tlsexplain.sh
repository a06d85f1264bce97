#!/usr/bin/env bash
# SPEC §9 routing, mostly without a socket: usher -t on sips: and
# transport=tls targets (refused without a TLS listener, accepted with
# one), and -T (text and JSON) for TLS next hops: the hop, the name its
# certificate must carry, Via SIP/2.0/TLS, Record-Route transport=tls and
# sips:, RFC 3263 _sips._tcp SRV and the 5061 default from a test DNS
# server, the 503 when no TLS listener serves the hop's family; and the
# daemon delivering a call to a sips: target found by _sips._tcp SRV at
# start.
. "$(dirname "$0")/lib.sh"
. "$HERE/tlscerts.sh"

mkdir -p "$TMP/certs" && tls_certs "$TMP/certs" || fail "cannot make test certificates"
DNSLOG=$TMP/queries.log
pbx=$(free_port)
python3 "$HERE/dnsserver.py" --port-file "$TMP/dns.port" --log "$DNSLOG" \
    "_sips._tcp.pbx.test SRV 10 0 5071 a.pbx.test" \
    "_sips._tcp.localhost SRV 10 0 $pbx localhost" "localhost A 127.0.0.1" \
    "_sip._udp.pbx.test SRV 10 0 5090 a.pbx.test" \
    "a.pbx.test A 10.0.0.7" "plain.test A 10.0.0.8" &
PIDS+=($!)
for i in $(seq 50); do
	[ -s "$TMP/dns.port" ] && break
	sleep 0.1
done
dnsport=$(cat "$TMP/dns.port") || fail "dnsserver did not start"

# conf FILE WITH_TLS(0|1)
conf() {
	local tls_listen="" tls_block=""
	if [ "$2" = 1 ]; then
		tls_listen=', { transport = "tls"; address = "127.0.0.1"; port = 5061; }'
		tls_block="tls = { certificate = \"$TMP/certs/server.pem\"; private_key = \"$TMP/certs/server.key\"; ca_file = \"$TMP/certs/ca.pem\"; };"
	fi
	cat >"$1" <<CONF
listen = ( { transport = "udp"; address = "127.0.0.1"; port = 5060; }$tls_listen );
mode = "proxy";
record_route = true;
trusted = [ "10.0.0.0/8" ];
$tls_block
dns = { servers = [ "127.0.0.1:$dnsport" ]; };
domains = ( { name = "example.com"; authoritative = true; } );
users = (
  { user = "bob"; domain = "example.com"; target = "sips:bob@10.0.0.5"; },
  { user = "carl"; domain = "example.com"; target = "sips:carl@pbx.test"; },
  { user = "dan"; domain = "example.com"; target = "sip:dan@plain.test;transport=tls"; },
  { user = "eve"; domain = "example.com"; target = "sip:eve@pbx.test"; }
);
CONF
}

# -t: refused without a TLS listener, with what to add
conf "$TMP/notls.conf" 0
if "$USHER" -t -c "$TMP/notls.conf" >"$TMP/t.out" 2>&1; then
	fail "usher -t accepted a sips: target without a TLS listener"
fi
grep -q 'target "sips:bob@10.0.0.5": sips: needs TLS: add a listen entry with transport = "tls" and a tls block' "$TMP/t.out" ||
    { cat "$TMP/t.out" >&2; fail "usher -t: not the expected refusal"; }
conf "$TMP/u.conf" 1
"$USHER" -t -c "$TMP/u.conf" >"$TMP/t.out" 2>&1 ||
    { cat "$TMP/t.out" >&2; fail "usher -t refused TLS targets with a TLS listener"; }

# explain METHOD URI [SOURCE]: the JSON of -T - for that request
explain() {
	printf '%s %s SIP/2.0\r\nVia: SIP/2.0/UDP %s:5060;branch=z9hG4bKtx\r\nFrom: <sip:a@example.org>;tag=1\r\nTo: <%s>\r\nCall-ID: tx\r\nCSeq: 1 %s\r\nContent-Length: 0\r\n\r\n' \
	    "$1" "$2" "${3:-10.1.1.1}" "$2" "$1" |
	    "$USHER" -c "$TMP/u.conf" -s "${3:-10.1.1.1}" -T - -j 2>/dev/null
}

# field JSON KEY
field() {
	python3 -c 'import json, sys; v = json.loads(sys.argv[1]).get(sys.argv[2]); print(v if v is not None else "")' "$1" "$2"
}

expect() {	# what got want
	[ "$2" = "$3" ] || fail "$1: \"$2\", want \"$3\""
	echo "ok   $1"
}

contains() {	# what bytes text
	case "$2" in *"$3"*) echo "ok   $1" ;; *) fail "$1: no \"$3\" in: $2" ;; esac
}

# a sips: user, caller over UDP: TLS to 5061, double Record-Route, sips:
j=$(explain INVITE "sips:bob@example.com")
expect "sips: IP literal destination" "$(field "$j" destination)" \
    "tls 10.0.0.5:5061, certificate must name 10.0.0.5"
expect "sips: IP literal tls_name" "$(field "$j" tls_name)" "10.0.0.5"
b=$(field "$j" bytes)
contains "sips: Via" "$b" "Via: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK"
contains "sips: Record-Route (TLS side, sips:)" "$b" "Record-Route: <sips:127.0.0.1:5061;lr>"
contains "sips: Record-Route (UDP side)" "$b" "Record-Route: <sip:127.0.0.1:5060;lr>"

# _sips._tcp SRV: its target and port, the certificate names the URI's host
j=$(explain INVITE "sip:carl@example.com")
expect "_sips._tcp SRV destination" "$(field "$j" destination)" \
    "tls 10.0.0.7:5071, certificate must name pbx.test"
grep -q '^_sips._tcp.pbx.test SRV' "$DNSLOG" || fail "no _sips._tcp query"
echo "ok   _sips._tcp.pbx.test asked"

# transport=tls, a name without SRV: its address at 5061
j=$(explain INVITE "sip:dan@example.com")
expect "transport=tls without SRV" "$(field "$j" destination)" \
    "tls 10.0.0.8:5061, certificate must name plain.test"
contains "transport=tls Record-Route" "$(field "$j" bytes)" \
    "Record-Route: <sip:127.0.0.1:5061;transport=tls;lr>"

# a sips: Request-URI retargeted to a sip: target: TLS still, _sips._tcp
# (never the _sip._udp record the name also has)
j=$(explain INVITE "sips:eve@example.com")
expect "sips: retargeted to sip: stays TLS" "$(field "$j" destination)" \
    "tls 10.0.0.7:5071, certificate must name pbx.test"
j=$(explain INVITE "sip:eve@example.com")
expect "the same user by sip: over UDP" "$(field "$j" destination)" "udp 10.0.0.7:5090"

# no TLS listener for IPv6: a trusted caller's sips: IPv6 literal
j=$(explain INVITE "sips:x@[2001:db8::9]")
expect "sips: IPv6 without an IPv6 TLS listener" "$(field "$j" destination)" \
    "nowhere: 503 No TLS For sips Next Hop"

# The daemon: a sips: target name resolved at start (_sips._tcp SRV), the
# call delivered over TLS to the SRV's port, the certificate checked for
# the URI's host.
uport=$(free_port)
tport=$(free_port)
cat >"$TMP/d.conf" <<CONF
listen = ( { transport = "udp"; address = "127.0.0.1"; port = $uport; },
           { transport = "tls"; address = "127.0.0.1"; port = $tport; } );
mode = "proxy";
trusted = [ "127.0.0.2/32" ];
log = { level = "debug"; };
tls = { certificate = "$TMP/certs/server.pem";
        private_key = "$TMP/certs/server.key";
        ca_file = "$TMP/certs/ca.pem"; };
dns = { servers = [ "127.0.0.1:$dnsport" ]; };
domains = ( { name = "example.com"; authoritative = true; } );
users = ( { user = "srv"; domain = "example.com"; target = "sips:srv@localhost"; } );
CONF
"$USHER" -f -c "$TMP/d.conf" 2>"$TMP/usher.log" &
PIDS+=($!)
wait_answer "$uport" || fail "usher did not answer"
python3 "$HERE/tlscall.py" srv --uport "$uport" --pbx "$pbx" \
    --certs "$TMP/certs" --tmp "$TMP" || fail "_sips._tcp target"
stop_clean "${PIDS[-1]}" "$TMP/usher.log"
unset 'PIDS[-1]'
echo "tlsexplain: ok"
