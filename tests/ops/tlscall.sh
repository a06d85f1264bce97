#!/usr/bin/env bash
# SPEC §9 with §3 and §7, end to end on loopback: calls UDP -> TLS and
# TLS -> UDP through usher with record_route (Via SIP/2.0/TLS, Record-Route
# transport=tls and sips:, double Record-Route, the BYE along it), mutual
# TLS to the PBX, sips: never downgraded, an untrusted in-dialog request to
# a TLS host that is no target; a PBX certificate for another name gets
# 503, and goes through only with verify_server = false; a PBX that never
# answers the handshake gets the call 503 within handshake_timeout
# (tlscall.py).
. "$(dirname "$0")/lib.sh"
. "$HERE/tlscerts.sh"

command -v sipp >/dev/null || { echo "SKIP: sipp missing"; exit 77; }
command -v openssl >/dev/null || { echo "SKIP: openssl missing"; exit 77; }
mkdir -p "$TMP/certs" && tls_certs "$TMP/certs" || fail "cannot make test certificates"

uport=$(free_port)
tport=$(free_port)
pbx=$(free_port)
udppbx=$(free_port)
caller=$(free_port)
mport=$(free_port)

# conf FILE [tls lines...]
conf() {
	local f=$1
	shift
	cat >"$f" <<CONF
listen = ( { transport = "udp"; address = "127.0.0.1"; port = $uport; },
           { transport = "tcp"; address = "127.0.0.1"; port = $uport; },
           { transport = "tls"; address = "127.0.0.1"; port = $tport; } );
mode = "proxy";
record_route = true;
trusted = [ "127.0.0.2/32" ];
log = { level = "debug"; };
metrics = { address = "127.0.0.1"; port = $mport; };
tls = { certificate = "$TMP/certs/server.pem";
        private_key = "$TMP/certs/server.key";
        ca_file = "$TMP/certs/ca.pem";
        $(printf '%s\n' "$@") };
domains = ( { name = "example.com"; authoritative = true; } );
users = (
  { user = "pbx1"; domain = "example.com";
    target = "sip:pbx1@127.0.0.1:$pbx;transport=tls"; },
  { user = "pbx2"; domain = "example.com";
    target = "sip:pbx2@127.0.0.1:$udppbx"; },
  { user = "wrong"; domain = "example.com";
    target = "sip:wrong@127.0.0.1:$pbx;transport=tls"; }
);
CONF
}

run_usher() {
	"$USHER" -t -c "$1" >"$TMP/t.out" 2>&1 || { cat "$TMP/t.out" >&2; fail "usher -t refused $1"; }
	"$USHER" -f -c "$1" 2>"$TMP/usher.log" &
	PIDS+=($!)
	wait_answer "$uport" || fail "usher did not answer"
}

args=(--uport "$uport" --tport "$tport" --pbx "$pbx" --udppbx "$udppbx"
    --caller "$caller" --certs "$TMP/certs" --tmp "$TMP")

conf "$TMP/u.conf"
run_usher "$TMP/u.conf"
python3 "$HERE/tlscall.py" main "${args[@]}" || fail "calls over TLS"
python3 "$HERE/tlscall.py" wrong "${args[@]}" || fail "wrong certificate name"
failed=$(python3 -c 'import sys; sys.path.insert(0, sys.argv[1])
from checks import metric
print(metric(int(sys.argv[2]), "usher_tls_handshakes_total{result=\"failed\"}"))' \
    "$HERE" "$mport")
[ "${failed:-0}" -ge 1 ] || fail "the refused handshake was not counted (${failed:-none})"
stop_clean "${PIDS[-1]}" "$TMP/usher.log"
unset 'PIDS[-1]'

# A lab: verify_server = false lets the same PBX through; then a PBX that
# stalls the handshake.
conf "$TMP/lab.conf" "verify_server = false;" "handshake_timeout = 2;"
run_usher "$TMP/lab.conf"
python3 "$HERE/tlscall.py" lab "${args[@]}" || fail "verify_server = false"
python3 "$HERE/tlscall.py" stall "${args[@]}" || fail "stalled TLS next hop"
stop_clean "${PIDS[-1]}" "$TMP/usher.log"
unset 'PIDS[-1]'
echo "tlscall: ok"
