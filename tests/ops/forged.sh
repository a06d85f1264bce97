#!/usr/bin/env bash
# SPEC §7 as an attacker: forged responses (a made-up branch, or a captured
# pair steered elsewhere) reach no victim over UDP or TCP and are counted
# as not_ours; a genuine answer gets through; a response relayed UDP->TCP
# is framed by its Content-Length; responses from an untrusted source obey
# rate_per_source and bans. -T - says a forged response is dropped.
. "$(dirname "$0")/lib.sh"

port=$(free_port)
mport=$(free_port)
pbx=$(free_port)
write_conf "$TMP/u.conf" "$port" \
    "metrics = { address = \"127.0.0.1\"; port = $mport; };"
sed -i "s|state = \"gone\"; } );|state = \"gone\"; },\\
  { user = \"alice\"; domain = \"example.com\"; target = \"sip:alice@127.0.0.1:$pbx\"; } );|" "$TMP/u.conf"

# -T -: a forged response is a drop, not_ours, in text and in JSON
forged="SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:$port;branch=z9hG4bK0123456789abcdef.0123456789abcdef\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKx\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
o=$(printf "$forged" | "$USHER" -c "$TMP/u.conf" -T -) || fail "-T - on a forged response"
grep -q '^outcome:  drop (not_ours)' <<<"$o" || fail "-T -: $o"
printf "$forged" | "$USHER" -c "$TMP/u.conf" -T - -j |
    python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["action"]=="drop" and d["drop_reason"]=="not_ours", d' ||
    fail "-T - -j on a forged response"

"$USHER" -f -c "$TMP/u.conf" 2>"$TMP/usher.log" &
PIDS+=($!)
wait_answer "$port" || fail "usher did not answer"
timeout 60 python3 "$HERE/forged.py" relay "$port" "$mport" "$pbx" || fail "forged responses"
kill -TERM "${PIDS[0]}"; wait "${PIDS[0]}" || fail "usher exited non-zero"

# the same attacker, rate limited
port=$(free_port)
mport=$(free_port)
write_conf "$TMP/r.conf" "$port" \
    "metrics = { address = \"127.0.0.1\"; port = $mport; };" \
    "limits = { rate_per_source = 5; ban_time = 30; };"
"$USHER" -f -c "$TMP/r.conf" 2>"$TMP/usher.log" &
PIDS+=($!)
wait_answer "$port" || fail "usher (rate) did not answer"
timeout 60 python3 "$HERE/forged.py" rate "$port" "$mport" || fail "rate of responses"
echo "forged: ok"
