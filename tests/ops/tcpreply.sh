#!/usr/bin/env bash
# RFC 3261 §18.2.2: a response relayed to a TCP caller whose connection has
# closed goes on a new connection to its Via's sent-by port (not to
# received:rport, its old ephemeral port); a forged response cannot make
# usher connect anywhere else (SPEC §7). Local answers too: a 503 to a
# request that waited for DNS while its caller's connection closed.
. "$(dirname "$0")/lib.sh"

port=$(free_port)
mport=$(free_port)
uas=$(free_port)
write_conf "$TMP/u.conf" "$port" \
    "metrics = { address = \"127.0.0.1\"; port = $mport; };"
sed -i "s|state = \"gone\"; } );|state = \"gone\"; },\\
  { user = \"alice\"; domain = \"example.com\"; target = \"sip:alice@127.0.0.1:$uas\"; } );|" "$TMP/u.conf"

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
echo "tcpreply: ok"
