#!/usr/bin/env bash
# Open files (SPEC §7, issue 11 item 7): usher checks RLIMIT_NOFILE against
# its limits at start (and with -t), raises the soft limit when the hard one
# allows, else refuses naming both numbers; accept() under EMFILE backs off
# instead of spinning.
. "$(dirname "$0")/lib.sh"
port=$(free_port)
write_conf "$TMP/big.conf" "$port" "limits = { tcp_max_connections = 100000; };"
mport=$(free_port)
write_conf "$TMP/u.conf" "$port" "limits = { tcp_max_connections = 200; };" \
    "metrics = { address = \"127.0.0.1\"; port = $mport; };"

# 1. Hard limit 64: -t and a start refuse, naming what is needed and 64.
for mode in -t -f; do
	rc=0
	out=$(bash -c 'ulimit -Sn 64 && ulimit -Hn 64 && exec "$@"' sh \
	    "$USHER" "$mode" -c "$TMP/big.conf" 2>&1) || rc=$?
	echo "hard 64, usher $mode: exit $rc: $out"
	[ "$rc" -eq 1 ] || fail "usher $mode with ulimit -Hn 64: exit $rc, not 1"
	need=$(sed -n 's/.*the limits need \([0-9]*\) open files.*/\1/p' <<<"$out")
	[ -n "$need" ] && [ "$need" -ge 200000 ] ||
	    fail "usher $mode does not say how many files it needs"
	grep -q "hard limit is 64" <<<"$out" ||
	    fail "usher $mode does not name the hard limit"
	grep -q "$TMP/big.conf" <<<"$out" || fail "usher $mode: no file name"
done

# 2. Soft limit 64, hard higher: -t passes, a start raises the soft limit.
hard=$(ulimit -Hn)
echo "hard limit here: $hard"
bash -c 'ulimit -Sn 64 && exec "$@"' sh "$USHER" -t -c "$TMP/u.conf" ||
    fail "usher -t refused although the hard limit allows"
bash -c 'ulimit -Sn 64 && exec "$@"' sh "$USHER" -f -c "$TMP/u.conf" \
    2>"$TMP/usher.log" &
upid=$!
PIDS+=("$upid")
wait_answer "$port" || fail "usher did not start with the soft limit low"
soft=$(awk '/^Max open files/ { print $4 }' "/proc/$upid/limits")
echo "soft limit now: $soft"
[ "$soft" -gt 400 ] || fail "soft limit not raised ($soft)"
grep -q "soft limit raised from 64 to $soft" "$TMP/usher.log" ||
    fail "the raise is not logged"

# 3. EMFILE: the soft limit lowered under usher's feet to a few above what
# it holds (the hard one kept, so it can be given back); then more
# connections than it can accept.
n=$(ls "/proc/$upid/fd" | wc -l)
prlimit --pid "$upid" --nofile=$((n + 4)):
python3 "$HERE/emfile.py" "$port" "$upid" "$TMP/usher.log" 25 4 ||
    fail "accept() spins under EMFILE"
# Room again: accepting resumes.
prlimit --pid "$upid" --nofile="$soft":
sleep 0.3
ans=$(python3 "$HERE/sipsend.py" --tcp --timeout 2 127.0.0.1 "$port" \
    "OPTIONS sip:127.0.0.1:$port" | head -1 | tr -d '\r' || true)
[ -n "$ans" ] || fail "no answer over TCP once files are free again"
# The same for the metrics endpoint (evhttp's own listener).
n=$(ls "/proc/$upid/fd" | wc -l)
prlimit --pid "$upid" --nofile=$((n + 4)):
python3 "$HERE/emfile.py" "$mport" "$upid" "$TMP/usher.log" 25 4 ||
    fail "the metrics endpoint's accept() spins under EMFILE"
prlimit --pid "$upid" --nofile="$soft":
sleep 0.3
python3 "$HERE/scrape.py" "$mport" usher_tcp_connections >/dev/null ||
    fail "no metrics once files are free again"
kill -0 "$upid" || fail "usher died"
stop_clean "$upid" "$TMP/usher.log"
echo "nofile: ok"
