#!/usr/bin/env bash
# A flood from one untrusted address is rate-limited and banned, while a
# caller from another address keeps getting every answer (SPEC §6).
. "$(dirname "$0")/lib.sh"
port=$(free_port)
mport=$(free_port)
write_conf "$TMP/u.conf" "$port" \
    "limits = { rate_per_source = 200; ban_time = 30; };" \
    "metrics = { address = \"127.0.0.1\"; port = $mport; };"
"$USHER" -f -c "$TMP/u.conf" 2>"$TMP/usher.log" &
upid=$!
PIDS+=("$upid")
wait_answer "$port" || fail "usher did not answer"

sipp -sf "$HERE/invite-4xx.xml" -s bob -i 127.0.0.4 -p "$(free_port)" \
    -m 200 -r 40 -timeout 30s -timeout_error -nostdin \
    -trace_err -error_file "$TMP/sipp.err" 127.0.0.1:"$port" \
    >"$TMP/sipp.out" 2>&1 &
spid=$!
PIDS+=("$spid")
python3 "$HERE/flood.py" 127.0.0.3 "$port" 20000 4
rc=0
wait "$spid" || rc=$?
rate=$(python3 "$HERE/scrape.py" "$mport" 'usher_dropped_total{reason="rate"}')
banned=$(python3 "$HERE/scrape.py" "$mport" 'usher_dropped_total{reason="banned"}')
echo "flood drops: rate $rate, banned $banned"
[ "$rc" -eq 0 ] || { tail -20 "$TMP/sipp.out"; fail "the legitimate caller lost calls"; }
[ "$rate" -gt 0 ] && [ "$banned" -gt 0 ] || fail "flood was not limited and banned"
echo "flood: ok (legitimate caller: 200 of 200 calls answered)"
