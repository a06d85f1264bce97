#!/usr/bin/env bash
# The RFC 4475/5118 torture messages sent to a real usher (SPEC §6).
. "$(dirname "$0")/lib.sh"
port=$(free_port)
write_conf "$TMP/u.conf" "$port"
"$USHER" -f -c "$TMP/u.conf" 2>"$TMP/usher.log" &
upid=$!
PIDS+=("$upid")
wait_answer "$port" || fail "usher did not answer"
python3 "$HERE/corpus.py" "$HERE/../data" "$port" "$upid" || fail "corpus"
kill -TERM "$upid"; wait "$upid" || fail "usher exited non-zero after the corpus"
echo "corpus: ok"
