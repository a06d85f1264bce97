#!/usr/bin/env bash
# journald: with JOURNAL_STREAM naming usher's stderr, each line starts with
# its syslog priority "<N>" (SPEC §10), so `journalctl -p warning` works;
# without it (or when it names another file) lines are as before.
. "$(dirname "$0")/lib.sh"

port=$(free_port)
write_conf "$TMP/u.conf" "$port"
: >"$TMP/usher.log"
JOURNAL_STREAM=$(stat -c '%d:%i' "$TMP/usher.log") \
    "$USHER" -f -c "$TMP/u.conf" 2>>"$TMP/usher.log" &
PIDS+=($!)
wait_answer "$port" || fail "usher did not answer"
echo 'garbage here' >>"$TMP/u.conf"
kill -HUP "${PIDS[0]}"
for i in $(seq 50); do grep -q 'reload failed' "$TMP/usher.log" && break; sleep 0.1; done
grep -q '^<6>usher: info: serving' "$TMP/usher.log" || fail "no <6> on info"
grep -q '^<4>usher: warning: reload failed' "$TMP/usher.log" || fail "no <4> on warning"
grep -v '^<[0-7]>usher: ' "$TMP/usher.log" && fail "a line without a priority"

# An error at start-up: <3>.
: >"$TMP/err.log"
write_conf "$TMP/u2.conf" "$port"
sed -i "s|$TMP/usher.pid|$TMP/u2.pid|" "$TMP/u2.conf"
set +e
JOURNAL_STREAM=$(stat -c '%d:%i' "$TMP/err.log") timeout 10 \
    "$USHER" -f -c "$TMP/u2.conf" 2>>"$TMP/err.log"
set -e
grep -q '^<3>usher: error: .*Address already in use' "$TMP/err.log" ||
    fail "no <3> on the start-up error: $(cat "$TMP/err.log")"

# JOURNAL_STREAM inherited but stderr elsewhere: no prefixes.
kill -TERM "${PIDS[0]}"; wait "${PIDS[0]}" || true
: >"$TMP/plain.log"
write_conf "$TMP/u3.conf" "$port"
JOURNAL_STREAM=1:1 "$USHER" -f -c "$TMP/u3.conf" 2>>"$TMP/plain.log" &
PIDS+=($!)
wait_answer "$port" || fail "usher did not answer (plain)"
grep -q '^usher: info: serving' "$TMP/plain.log" || fail "prefix where stderr is not the journal: $(cat "$TMP/plain.log")"
echo "journal: ok"
