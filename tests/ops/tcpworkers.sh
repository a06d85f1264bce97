#!/usr/bin/env bash
# TCP with two workers: bytes for a connection another worker owns go to
# its owner (issue 12, item 4). See tcpworkers.py.
. "$(dirname "$0")/lib.sh"
port=$(free_port)
uas_udp=$(free_port)
uas_tcp=$(free_port)
printf 'u@example.com active sip:u@127.0.0.1:%s\nt@example.com active sip:t@127.0.0.1:%s;transport=tcp\n' \
    "$uas_udp" "$uas_tcp" >"$TMP/users.txt"
write_conf "$TMP/u.conf" "$port" "workers = 2;" \
    "limits = { rate_per_source = 0; };" \
    "users_file = \"$TMP/users.txt\";"
"$USHER" -f -c "$TMP/u.conf" 2>"$TMP/usher.log" &
PIDS+=($!)
wait_answer "$port" || fail "usher did not answer"
timeout 120 python3 "$HERE/tcpworkers.py" "$port" "$uas_udp" "$uas_tcp" 2 ||
    fail "tcpworkers checks"
kill -TERM "${PIDS[-1]}"
wait "${PIDS[-1]}" || fail "usher did not stop cleanly"
unset 'PIDS[-1]'
echo "tcpworkers: ok"
