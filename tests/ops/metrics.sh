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

# SPEC §10 conventions, at start: every reply code usher can send is there
# at 0, process_*, the reload gauge and the table's identity.
python3 "$HERE/scrape.py" "$mport" >"$TMP/start"
for code in 200 301 302 400 403 404 416 420 480 482 483 500 503 505 513 604; do
	want=0
	[ "$code" = 200 ] && want='[0-9]*'	# wait_answer's OPTIONS
	grep -q "^usher_replies_total{code=\"$code\"} $want$" "$TMP/start" ||
	    fail "no usher_replies_total{code=\"$code\"} 0 at start"
done
for fam in process_resident_memory_bytes process_virtual_memory_bytes \
    process_cpu_seconds_total process_open_fds process_max_fds \
    process_start_time_seconds usher_config_last_reload_successful \
    usher_requests_total usher_dropped_total usher_forwarded_requests_total \
    usher_forwarded_responses_total usher_parse_errors_total \
    usher_capture_errors_total \
    usher_tcp_connections usher_table_entries usher_table_prefixes \
    usher_tls_connections usher_tls_handshakes_total \
    usher_tls_certificate_expiry_timestamp_seconds \
    usher_reloads_total usher_last_reload_timestamp_seconds usher_workers \
    usher_build_info usher_table_info; do
	grep -q "^# TYPE $fam " "$TMP/start" || fail "no family $fam at start"
	grep -q "^$fam[{ ]" "$TMP/start" || fail "no sample of $fam at start"
done
grep -q '^usher_config_last_reload_successful 1$' "$TMP/start" || fail "reload gauge at start"
grep -q '^usher_table_info{source="file",version="sha256:[0-9a-f]\{64\}"} 1$' "$TMP/start" || fail "table info"
rss=$(sed -n 's/^process_resident_memory_bytes //p' "$TMP/start")
[ "$rss" -gt 1000000 ] || fail "resident memory $rss"
fds=$(sed -n 's/^process_open_fds //p' "$TMP/start")
# /proc now, plus the scrape's own connection then.
[ "$fds" -eq $(( $(ls /proc/"${PIDS[0]}"/fd | wc -l) + 1 )) ] || fail "open fds $fds, /proc says $(ls /proc/"${PIDS[0]}"/fd | wc -l)"
st=$(sed -n 's/^process_start_time_seconds //p' "$TMP/start")
python3 -c "import sys,time; d=time.time()-float(sys.argv[1]); sys.exit(0 if 0 <= d < 60 else 1)" "$st" ||
    fail "start time $st"
grep -q 'port = 9090' "$HERE/../../conf/usher.conf" && fail "the example uses 9090, Prometheus' port"

# A message that does not scan is counted once: parse_errors, not dropped.
python3 - "$port" <<'PY'
import socket, sys
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.sendto(b"SIP/2.0 200 OK\r\nVia: broken\r\n\r\n", ("127.0.0.1", int(sys.argv[1])))
PY
sleep 0.3
[ "$(python3 "$HERE/scrape.py" "$mport" usher_parse_errors_total)" -eq 1 ] || fail "parse error not counted"
[ "$(python3 "$HERE/scrape.py" "$mport" 'usher_dropped_total{reason="parse"}')" -eq 0 ] ||
    fail "a parse failure counted twice (dropped{parse} too)"

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

# until METRIC reads VALUE (a reload runs in a thread of its own), 5 s
wait_m() {
	for i in $(seq 50); do
		[ "$(m "$1")" -eq "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
kill -HUP "${PIDS[0]}"
wait_m 'usher_reloads_total{result="ok"}' 1 || fail "reload not counted"
echo 'junk' >>"$TMP/u.conf"
kill -HUP "${PIDS[0]}"
wait_m usher_config_last_reload_successful 0 || fail "failed reload: gauge not 0"
echo "metrics: ok"
