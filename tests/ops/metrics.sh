#!/usr/bin/env bash
# The Prometheus endpoint: counters move with the traffic usher sees.
. "$(dirname "$0")/lib.sh"

port=$(free_port)
mport=$(free_port)
write_conf "$TMP/u.conf" "$port" \
    "metrics = { address = \"127.0.0.1\"; port = $mport; };" \
    "security = { block_user_agents = [ \"friendly-scanner\" ]; };"
"$USHER" -f -c "$TMP/u.conf" 2>"$TMP/usher.log" &
PIDS+=($!)
wait_answer "$port" || fail "usher did not answer"

for i in 1 2 3; do
	[ "$(probe "$port" "INVITE sip:bob@example.com")" = "SIP/2.0 604 Does Not Exist Anywhere" ] || fail "no 604"
done
probe "$port" "INVITE sip:nobody@example.com" >/dev/null
python3 "$HERE/sipsend.py" --timeout 0.5 127.0.0.1 "$port" "INVITE sip:bob@example.com" \
    "User-Agent: friendly-scanner" >/dev/null && fail "a scanner got an answer"
python3 "$HERE/sipsend.py" --tcp 127.0.0.1 "$port" "OPTIONS sip:127.0.0.1:$port" >/dev/null || fail "no TCP answer"

m() { python3 "$HERE/scrape.py" "$mport" "$1"; }
python3 "$HERE/scrape.py" "$mport" >"$TMP/page"
[ "$(m 'usher_replies_total{code="604"}')" -ge 3 ] || fail "604 count: $(m 'usher_replies_total{code="604"}')"
[ "$(m 'usher_replies_total{code="404"}')" -ge 1 ] || fail "404 count"
[ "$(m 'usher_requests_total{method="INVITE"}')" -ge 5 ] || fail "INVITE count"
[ "$(m 'usher_dropped_total{reason="scanner"}')" -eq 1 ] || fail "scanner drop count"
[ "$(m 'usher_table_entries')" -eq 1 ] || fail "table entries"
[ "$(m 'usher_reloads_total{result="ok"}')" -eq 0 ] || fail "reloads"
grep -q '^usher_build_info{version="' "$TMP/page" || fail "no build info"
grep -q '^usher_tcp_connections ' "$TMP/page" || fail "no tcp gauge"
grep -q '^usher_last_reload_timestamp_seconds ' "$TMP/page" || fail "no reload time"

kill -HUP "${PIDS[0]}"
sleep 0.5
[ "$(m 'usher_reloads_total{result="ok"}')" -eq 1 ] || fail "reload not counted"
echo "metrics: ok"
