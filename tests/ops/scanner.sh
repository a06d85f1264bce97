#!/usr/bin/env bash
# sipvicious' svwar (User-Agent friendly-scanner) against usher: with the
# default block_user_agents it finds nothing; with blocking off it would
# enumerate the extensions that answer something other than 404.
. "$(dirname "$0")/lib.sh"
command -v svwar >/dev/null || fail "svwar missing (Debian package sipvicious: .ci/setup installs it)"
port=$(free_port)
users='users = ( { user = "100"; domain = "example.com"; state = "unavailable"; }, { user = "105"; domain = "example.com"; state = "gone"; } );'
write_conf "$TMP/u.conf" "$port" "$users"
sed -i '/^users = ( { user = "bob"/d' "$TMP/u.conf"
"$USHER" -f -c "$TMP/u.conf" 2>"$TMP/usher.log" &
PIDS+=($!)
wait_answer "$port" || fail "usher did not answer"
out=$(timeout 60 svwar -e100-110 -m INVITE "udp://127.0.0.1:$port" -t 0.2 2>&1 || true)
echo "$out" | grep -q "found nothing" || fail "svwar found something: $out"
kill -TERM "${PIDS[0]}"; wait "${PIDS[0]}" || true

write_conf "$TMP/open.conf" "$port" "$users" "security = { block_user_agents = [ ]; };"
sed -i '/^users = ( { user = "bob"/d' "$TMP/open.conf"
"$USHER" -f -c "$TMP/open.conf" 2>"$TMP/usher.log" &
PIDS+=($!)
wait_answer "$port" || fail "usher did not answer"
out=$(timeout 60 svwar -e100-110 -m INVITE "udp://127.0.0.1:$port" -t 0.2 2>&1 || true)
echo "$out" | grep -q "| 100 " || fail "the control run did not enumerate 100: $out"
echo "scanner: ok (blocked: svwar found nothing; unblocked: it enumerates 100 and 105)"
