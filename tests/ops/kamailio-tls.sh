#!/usr/bin/env bash
# SPEC §9: Kamailio with its tls module as usher's TLS peer, both ways.
#  1. UDP caller -> usher -> Kamailio over TLS (usher the TLS client,
#     verifying Kamailio's certificate): Kamailio sees usher's TLS Via and
#     Record-Route and answers 486, which usher relays back.
#  2. UDP caller -> Kamailio -> usher over TLS (Kamailio the TLS client):
#     usher answers 604 for a gone user on the TLS connection, Kamailio
#     relays it back.
# Skipped (77) only when kamailio is not installed; without its tls module
# (Debian kamailio-tls-modules, which .ci/setup installs) it fails.
. "$(dirname "$0")/lib.sh"
. "$HERE/tlscerts.sh"

KAMAILIO=${KAMAILIO:-kamailio}
command -v "$KAMAILIO" >/dev/null ||
    { echo "SKIP: kamailio is not installed (Debian kamailio, kamailio-tls-modules)"; exit 77; }
mkdir -p "$TMP/certs" && tls_certs "$TMP/certs" || fail "cannot make test certificates"

uport=$(free_port)
tport=$(free_port)
kudp=$(free_port)
ktls=$(free_port)
cat >"$TMP/u.conf" <<CONF
listen = ( { transport = "udp"; address = "127.0.0.1"; port = $uport; },
           { transport = "tls"; address = "127.0.0.1"; port = $tport; } );
mode = "proxy";
record_route = true;
trusted = [ "127.0.0.2/32" ];
log = { level = "debug"; };
tls = { certificate = "$TMP/certs/server.pem";
        private_key = "$TMP/certs/server.key";
        ca_file = "$TMP/certs/ca.pem"; };
domains = ( { name = "example.com"; authoritative = true; } );
users = (
  { user = "kam"; domain = "example.com";
    target = "sip:kam@127.0.0.1:$ktls;transport=tls"; },
  { user = "bob"; domain = "example.com"; state = "gone"; }
);
CONF
sed -e "s|@ADDR@|127.0.0.1|g" -e "s|@UDP@|$kudp|g" -e "s|@TLS@|$ktls|g" \
    -e "s|@USHER_TLS@|$tport|g" -e "s|@CERTS@|$TMP/certs|g" \
    "$HERE/kamailio/tls-peer.cfg" >"$TMP/kamailio.cfg"
mkdir -p "$TMP/kamrun"
"$KAMAILIO" -c -f "$TMP/kamailio.cfg" >"$TMP/kamailio.log" 2>&1 ||
    { tail -20 "$TMP/kamailio.log" >&2; fail "kamailio -c refused the test configuration (tls.so missing? install kamailio-tls-modules)"; }
"$KAMAILIO" -DD -E -f "$TMP/kamailio.cfg" -Y "$TMP/kamrun" \
    >>"$TMP/kamailio.log" 2>&1 &
kpid=$!
PIDS+=($kpid)
"$USHER" -f -c "$TMP/u.conf" 2>"$TMP/usher.log" &
upid=$!
PIDS+=($upid)
wait_answer "$uport" || fail "usher did not answer"
for i in $(seq 50); do
	[ -n "$(probe "$kudp" "OPTIONS sip:bob@example.com")" ] && break
	sleep 0.1
done

# 1. usher -> Kamailio over TLS
got=$(python3 "$HERE/sipsend.py" --timeout 8 127.0.0.1 "$uport" \
    "INVITE sip:kam@example.com" | head -1 | tr -d '\r')
[ "$got" = "SIP/2.0 486 Kamailio Saw TLS" ] || {
	tail -20 "$TMP/kamailio.log" >&2
	fail "usher -> Kamailio over TLS: got \"$got\""
}
echo "ok   usher -> Kamailio over TLS: $got"

# 2. Kamailio -> usher over TLS
got=$(python3 "$HERE/sipsend.py" --timeout 8 127.0.0.1 "$kudp" \
    "INVITE sip:bob@example.com" | head -1 | tr -d '\r')
[ "$got" = "SIP/2.0 604 Does Not Exist Anywhere" ] || {
	tail -20 "$TMP/kamailio.log" >&2
	fail "Kamailio -> usher over TLS: got \"$got\""
}
echo "ok   Kamailio -> usher over TLS: $got"

stop_clean "$upid" "$TMP/usher.log"
kill -TERM "$kpid"
wait "$kpid" 2>/dev/null || true
PIDS=()
echo "kamailio-tls: ok"
