#!/usr/bin/env bash
# SPEC §9 with a real phone: baresip, headless (its cons module takes the
# commands on a UDP port), registers over TLS through usher (outbound proxy
# ;transport=tls, the test CA as its sip_cafile) to a sipp registrar over
# UDP, then calls through usher to a sipp PBX over UDP: INVITE, 180, 200,
# ACK and BYE along usher's double Record-Route.
# Skipped (77) when baresip is not installed.
. "$(dirname "$0")/lib.sh"
. "$HERE/tlscerts.sh"

command -v baresip >/dev/null || { echo "SKIP: baresip is not installed"; exit 77; }
command -v sipp >/dev/null || { echo "SKIP: sipp missing"; exit 77; }
mods=$(dirname "$(readlink -f "$(command -v baresip)")")/../lib/baresip/modules
[ -f "$mods/cons.so" ] || fail "baresip modules not found in $mods"
mkdir -p "$TMP/certs" && tls_certs "$TMP/certs" || fail "cannot make test certificates"

uport=$(free_port)
tport=$(free_port)
pbx=$(free_port)
bport=$(free_port)
cport=$(free_port)
reg=$(free_port)
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
users = ( { user = "pbx"; domain = "example.com";
            target = "sip:pbx@127.0.0.1:$pbx"; },
          { user = "phone"; domain = "example.com";
            target = "sip:127.0.0.1:$reg"; } );
CONF
mkdir -p "$TMP/baresip"
cat >"$TMP/baresip/config" <<CONF
poll_method epoll
sip_listen 127.0.0.1:$bport
sip_cafile $TMP/certs/ca.pem
module_path $mods
module g711.so
module ausine.so
module aufile.so
module account.so
module menu.so
module cons.so
cons_listen 127.0.0.1:$cport
audio_player aufile,$TMP/out.wav
audio_source ausine,440
ausrc_srate 48000
ausrc_channels 2
auplay_srate 48000
CONF
echo "<sip:phone@example.com;transport=tls>;regint=600;outbound=\"sip:127.0.0.1:$tport;transport=tls\"" \
    >"$TMP/baresip/accounts"

"$USHER" -f -c "$TMP/u.conf" 2>"$TMP/usher.log" &
upid=$!
PIDS+=($upid)
wait_answer "$uport" || fail "usher did not answer"
sipp -sf "$HERE/../bench/scenarios/call-uas.xml" -m 1 -i 127.0.0.1 \
    -p "$pbx" -timeout 30 -timeout_error -nostdin >"$TMP/sipp.log" 2>&1 &
spid=$!
PIDS+=($spid)
sipp -sf "$HERE/register-uas.xml" -m 1 -i 127.0.0.1 -p "$reg" -timeout 30 \
    -timeout_error -nostdin >"$TMP/sipp-reg.log" 2>&1 &
rpid=$!
PIDS+=($rpid)
sleep 0.5
(cd "$TMP" && exec baresip -f "$TMP/baresip" -e "/dial sip:pbx@example.com") \
    >"$TMP/baresip.log" 2>&1 </dev/null &
bpid=$!
PIDS+=($bpid)
cons() {
	python3 -c 'import socket, sys
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(
    sys.argv[1].encode() + b"\n", ("127.0.0.1", int(sys.argv[2])))' "$1" "$cport"
}
# baresip's own log reaches its file in blocks: follow usher's instead
for i in $(seq 150); do
	grep -q 'ACK call-id=.* src=tls:127.0.0.1' "$TMP/usher.log" && break
	sleep 0.1
done
grep -q 'ACK call-id=.* src=tls:127.0.0.1' "$TMP/usher.log" ||
    { tail -20 "$TMP/baresip.log" >&2; fail "baresip: the call over TLS was not established (no ACK)"; }
cons /hangup
rc=0
wait "$spid" || rc=$?
[ "$rc" -eq 0 ] || { tail -20 "$TMP/baresip.log" >&2; fail "sipp PBX: exit $rc (no whole call)"; }
echo "ok   the PBX saw INVITE, ACK and BYE"
cons /quit
for i in $(seq 50); do kill -0 "$bpid" 2>/dev/null || break; sleep 0.1; done
kill "$bpid" 2>/dev/null || true
wait "$bpid" 2>/dev/null || true
# the registrar saw the REGISTER and, at /quit, the one that removes it
rc=0
wait "$rpid" || rc=$?
[ "$rc" -eq 0 ] || { tail -20 "$TMP/baresip.log" >&2; fail "sipp registrar: exit $rc"; }
grep -q 'TLS/v4} 200 OK' "$TMP/baresip.log" ||
    { tail -20 "$TMP/baresip.log" >&2; fail "baresip: not registered"; }
echo "ok   baresip registered over TLS through usher"
grep -qi 'call established' "$TMP/baresip.log" ||
    { tail -20 "$TMP/baresip.log" >&2; fail "baresip: no call established"; }
echo "ok   baresip -> usher (TLS) -> sipp (UDP): call established"
grep -q 'REGISTER call-id=.* src=tls:127.0.0.1' "$TMP/usher.log" ||
    fail "usher did not log a REGISTER over TLS"
grep -q 'INVITE call-id=.* src=tls:127.0.0.1' "$TMP/usher.log" ||
    fail "usher did not log an INVITE over TLS"
grep -q 'BYE call-id=.* src=tls:127.0.0.1.*loose route' "$TMP/usher.log" ||
    fail "the BYE did not come over TLS along the Record-Route"
echo "ok   REGISTER, INVITE and BYE reached usher over TLS"
stop_clean "$upid" "$TMP/usher.log"
PIDS=()
echo "baresip-tls: ok"
