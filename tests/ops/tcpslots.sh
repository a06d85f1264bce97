#!/usr/bin/env bash
# TCP slots (SPEC §7): per-source cap, outgoing pool, CRLF keep-alives,
# output queue cap, against a real usher with small limits.
. "$(dirname "$0")/lib.sh"
port=$(free_port)
mport=$(free_port)
pbxport=$(free_port)
echo "alice@example.com active sip:alice@127.0.0.1:$pbxport;transport=tcp" \
    >"$TMP/users.txt"
write_conf "$TMP/u.conf" "$port" \
    "limits = { tcp_max_connections = 70; tcp_max_connections_per_source = 32;" \
    "  tcp_idle_timeout = 2; max_message_size = 2000; tcp_max_queue = 4096; };" \
    "metrics = { address = \"127.0.0.1\"; port = $mport; };" \
    "users_file = \"users.txt\";"
# An IPv6 listener too: sources there are /64s.
sed -i "s|^listen = (|listen = ( { transport = \"tcp\"; address = \"::1\"; port = $port; },\n|" \
    "$TMP/u.conf"
"$USHER" -f -c "$TMP/u.conf" 2>"$TMP/usher.log" &
upid=$!
PIDS+=("$upid")
wait_answer "$port" || fail "usher did not answer"
python3 "$HERE/tcpslots.py" "$port" "$mport" "$pbxport" 70 32 2 ||
    fail "tcp slot checks"
kill -0 "$upid" || fail "usher died"
stop_clean "$upid" "$TMP/usher.log"
echo "tcpslots: ok"
