#!/usr/bin/env bash
# Starting without Redis (SPEC §11): from cache_file, or exit 1 naming
# both when there is none; -t with a Redis source; a Redis that accepts
# and never answers costs command_timeout_ms, and SIP is answered.
. "$(dirname "$0")/fleet-lib.sh"

# 1. Nothing listens, no cache: exit 1, and why.
SERVER_PORT=$(free_port) fleet_conf a
rc=0
timeout 10 "$USHER" -f -c "$TMP/a.conf" 2>"$TMP/start.err" || rc=$?
[ "$rc" = 1 ] || fail "no Redis, no cache: exit $rc, not 1"
grep -q "redis 127.0.0.1:[0-9]*: Connection refused" "$TMP/start.err" &&
    grep -q "cache_file $TMP/a.cache: No such file" "$TMP/start.err" ||
    { cat "$TMP/start.err" >&2; fail "the error does not name Redis and the cache"; }
rc=0
"$USHER" -t -c "$TMP/a.conf" >/dev/null 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "-t without Redis and cache: exit $rc"

# 2. With Redis: -t checks the current version; a start writes the cache.
start_redis
fleet_conf a
printf 'alice@example.com gone\n' >"$TMP/v1.txt"
v=$(publish "$TMP/v1.txt" | sed -n 's/^published version \([0-9]*\):.*/\1/p')
"$USHER" -t -c "$TMP/a.conf" | grep -q "OK: .*1 users.*(table version $v)" ||
    fail "-t does not check the current version"
start_usher a
[ -f "$TMP/a.cache" ] || fail "no cache_file after the start"
stop_usher a
# Again, the cache now holding the current version: taken as it is.
start_usher a
is_version a "$v" || fail "restart on the cached current version"
grep -q "starting from cache_file" "$TMP/a.log" && fail "warned about the cache"
wait_for 3 is_metric a usher_table_source_up 1 || fail "restart: not up"
stop_usher a
stop_redis

# 3. Redis gone, the cache there: serves it, says so, source down.
start_usher a
is_answer a alice "SIP/2.0 604 Does Not Exist Anywhere" || fail "cache not served"
is_version a "$v" || fail "version from the cache: $(metric a usher_table_version)"
[ "$(metric a usher_table_source_up)" = 0 ] || fail "source up without Redis"
grep -q "starting from cache_file $TMP/a.cache (version $v)" "$TMP/a.log" ||
    fail "no word of the cache in the log"
"$USHER" -t -c "$TMP/a.conf" | grep -q "(table version $v, from cache_file)" ||
    fail "-t without Redis does not check the cache"
stop_usher a

# 4. A Redis that accepts and never answers: the start waits no longer
# than the timeouts, SIP is answered, the sync keeps giving up.
hport=$(free_port)
python3 "$HERE/hangredis.py" "$hport" &
PIDS+=("$!")
sleep 0.3
SERVER_PORT=$hport CMD_TIMEOUT=300 fleet_conf a
t0=$(date +%s%N)
start_usher a
ms=$((($(date +%s%N) - t0) / 1000000))
echo "start against a silent Redis: $ms ms"
[ "$ms" -lt $((3000 * ${FLEET_SLACK:-1})) ] || fail "start took $ms ms"
grep -q "no answer within 300 ms" "$TMP/a.log" || fail "no timeout in the log"
is_answer a alice "SIP/2.0 604 Does Not Exist Anywhere" || fail "no answer with a silent Redis"
sleep 2
for i in $(seq 20); do
	is_answer a alice "SIP/2.0 604 Does Not Exist Anywhere" || fail "SIP stalled"
done
[ "$(metric a 'usher_table_load_failures_total{reason="timeout"}')" -ge 1 ] ||
    fail "timeouts not counted"
[ "$(metric a usher_table_source_up)" = 0 ] || fail "a silent Redis is up"
[ "$(grep -c 'no answer within 300 ms' "$TMP/a.log")" -le 2 ] ||
    fail "the timeout is logged again and again"
kill -0 "$(cat "$TMP/a.upid")" || fail "usher died"
stop_usher a

# 5. servers in order: the first is down, the second serves; AUTH with
# password_file, and a wrong password is a clear error.
REDIS_PASS=s3cret REDIS_ARGS="--requirepass s3cret" start_redis
echo s3cret >"$TMP/redis.pass"
echo wrong >"$TMP/wrong.pass"
dead=$(free_port)
SERVERS="\"127.0.0.1:$dead\", \"127.0.0.1:$RPORT\"" fleet_conf a \
    'password_file = "redis.pass";'
rm -f "$TMP/a.cache"
printf 'alice@example.com gone\nhenry@example.com gone\n' >"$TMP/v2.txt"
v=$(publish "$TMP/v2.txt" | sed -n 's/^published version \([0-9]*\):.*/\1/p')
start_usher a
is_answer a henry "SIP/2.0 604 Does Not Exist Anywhere" || fail "second server, AUTH: henry"
is_version a "$v" || fail "second server: version"
wait_for 3 is_metric a usher_table_source_up 1 || fail "second server: not up"
stop_usher a
SERVER_PORT=$RPORT fleet_conf b 'password_file = "wrong.pass";'
rc=0
"$USHER" -c "$TMP/b.conf" -P "$TMP/v2.txt" 2>"$TMP/auth.err" || rc=$?
[ "$rc" = 1 ] && grep -q "AUTH: .*\(WRONGPASS\|invalid password\)" "$TMP/auth.err" ||
    { cat "$TMP/auth.err" >&2; fail "a wrong password: exit $rc"; }
echo "fleet-start: ok"
