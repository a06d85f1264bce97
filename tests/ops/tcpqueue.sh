#!/usr/bin/env bash
# The total of all TCP output queues is capped at 64 MiB (SPEC §7).
. "$(dirname "$0")/lib.sh"
port=$(free_port)
mport=$(free_port)
write_conf "$TMP/u.conf" "$port" \
    "limits = { tcp_max_queue = 62914560; };" \
    "metrics = { address = \"127.0.0.1\"; port = $mport; };"
"$USHER" -f -c "$TMP/u.conf" 2>"$TMP/usher.log" &
upid=$!
PIDS+=("$upid")
wait_answer "$port" || fail "usher did not answer"
python3 "$HERE/tcpqueue.py" "$port" "$mport" || fail "queue total checks"
kill -0 "$upid" || fail "usher died"
stop_clean "$upid" "$TMP/usher.log"
echo "tcpqueue: ok"
