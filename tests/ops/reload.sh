#!/usr/bin/env bash
# SIGHUP under load: a 100,000-user table is reloaded several times while
# sipp runs a steady INVITE -> 4xx -> ACK load. No call may fail, nothing
# unexpected may arrive, and the answers switch at the reload (u50000 is
# gone in the first table, 604; absent from the second, 404).
. "$(dirname "$0")/lib.sh"

users=${USERS:-100000}
port=$(free_port)
mport=$(free_port)
gen() {	# gen FILE OFFSET: users u$OFFSET.. gone
	python3 - "$1" "$2" "$users" <<'PY'
import sys
f, off, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(f, "w") as out:
    for i in range(off, off + n):
        out.write(f"u{i}@example.com gone\n")
PY
}
gen "$TMP/a.txt" 0
gen "$TMP/b.txt" 60000
cp "$TMP/a.txt" "$TMP/users.txt"
write_conf "$TMP/u.conf" "$port" "users_file = \"users.txt\";" \
    "metrics = { address = \"127.0.0.1\"; port = $mport; };"
"$USHER" -f -c "$TMP/u.conf" 2>"$TMP/usher.log" &
upid=$!
PIDS+=("$upid")
wait_answer "$port" || fail "usher did not answer"
[ "$(probe "$port" "INVITE sip:u50000@example.com")" = "SIP/2.0 604 Does Not Exist Anywhere" ] || fail "table a"

calls=${CALLS:-6000}
sipp -sf "$HERE/invite-4xx.xml" -s u50000 -i 127.0.0.1 -p "$(free_port)" \
    -m "$calls" -r 500 -timeout 60s -timeout_error -nostdin \
    -trace_err -error_file "$TMP/sipp.err" -trace_stat -stf "$TMP/stat.csv" \
    127.0.0.1:"$port" >"$TMP/sipp.out" 2>&1 &
spid=$!
PIDS+=("$spid")
for n in 1 2 3 4; do
	sleep 2
	if [ $((n % 2)) -eq 1 ]; then cp "$TMP/b.txt" "$TMP/users.txt"; else cp "$TMP/a.txt" "$TMP/users.txt"; fi
	t0=$(date +%s.%N)
	kill -HUP "$upid"
	# the reload is done when the counter moves
	for i in $(seq 100); do
		[ "$(python3 "$HERE/scrape.py" "$mport" 'usher_reloads_total{result="ok"}')" -ge "$n" ] && break
		sleep 0.05
	done
	echo "reload $n: $(echo "$(date +%s.%N) - $t0" | bc 2>/dev/null || echo '?') s"
done
rc=0
wait "$spid" || rc=$?
[ "$rc" -eq 0 ] || { cat "$TMP/sipp.out" | tail -30; cat "$TMP/sipp.err" 2>/dev/null | head -20; fail "sipp failed calls (rc $rc)"; }
ok4=$(python3 "$HERE/scrape.py" "$mport" 'usher_replies_total{code="404"}')
ok6=$(python3 "$HERE/scrape.py" "$mport" 'usher_replies_total{code="604"}')
echo "404 answers: $ok4, 604 answers: $ok6"
[ "$ok4" -gt 0 ] && [ "$ok6" -gt 0 ] || fail "answers did not switch at the reloads"
kill -0 "$upid" || fail "usher died"
echo "reload: ok ($calls calls, 0 failed, 4 reloads of $users users)"
