#!/usr/bin/env bash
# TCP abuse (issue: slowloris, idle, too many connections, short body, too
# large, garbage) against a real usher with small limits.
. "$(dirname "$0")/lib.sh"
port=$(free_port)
write_conf "$TMP/u.conf" "$port" \
    "limits = { tcp_max_connections = 20; tcp_idle_timeout = 2; max_message_size = 2000; };"
"$USHER" -f -c "$TMP/u.conf" 2>"$TMP/usher.log" &
upid=$!
PIDS+=("$upid")
wait_answer "$port" || fail "usher did not answer"
python3 "$HERE/abuse.py" "$port" "$upid" 2 20 2000 || fail "abuse checks"
kill -0 "$upid" || fail "usher died"
echo "abuse: ok"
