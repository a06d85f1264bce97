#!/usr/bin/env bash
# usher is never an open relay, and trusted sources do get relayed.
. "$(dirname "$0")/lib.sh"
port=$(free_port)
write_conf "$TMP/u.conf" "$port"
"$USHER" -f -c "$TMP/u.conf" 2>"$TMP/usher.log" &
PIDS+=($!)
wait_answer "$port" || fail "usher did not answer"
python3 "$HERE/relay.py" "$port" || fail "relay checks"
echo "relay: ok"
