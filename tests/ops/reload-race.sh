#!/usr/bin/env bash
# SPEC §7: every SIGHUP is honoured. The test hook USHER_TEST_RELOAD_DELAY_MS
# holds a reload open between its last look for another SIGHUP and its end;
# a SIGHUP sent into that window, after the users file changed, must cause
# a second reload that serves the new user.
. "$(dirname "$0")/lib.sh"

port=$(free_port)
echo "u1@example.com gone" >"$TMP/users.txt"
write_conf "$TMP/u.conf" "$port" "users_file = \"users.txt\";"
USHER_TEST_RELOAD_DELAY_MS=1500 "$USHER" -f -c "$TMP/u.conf" \
    2>"$TMP/usher.log" &
upid=$!
PIDS+=("$upid")
wait_answer "$port" || fail "usher did not answer"
[ "$(probe "$port" "INVITE sip:u2@example.com")" = "SIP/2.0 404 Not Found" ] ||
    fail "u2 known before the reload"

reloads() { grep -c 'reloaded ' "$TMP/usher.log" || true; }
wait_reloads() {	# wait_reloads N TENTHS
	local i
	for i in $(seq "$2"); do
		[ "$(reloads)" -ge "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

kill -HUP "$upid"
# The first pass has read the file and now sits in the window.
wait_reloads 1 50 || fail "no first reload"
echo "u1@example.com gone
u2@example.com gone" >"$TMP/users.txt"
kill -HUP "$upid"
wait_reloads 2 60 || fail "the SIGHUP sent during the reload was lost"
[ "$(probe "$port" "INVITE sip:u2@example.com")" = \
    "SIP/2.0 604 Does Not Exist Anywhere" ] || fail "u2 not served"
sleep 2		# the second pass's window: nothing more may come
[ "$(reloads)" -eq 2 ] || fail "$(reloads) reloads, want 2"
kill -0 "$upid" || fail "usher died"
kill -TERM "$upid"
wait "$upid" || fail "usher did not stop cleanly"
PIDS=()
echo "reload-race: ok (2 SIGHUPs, 2 reloads, the second one's user served)"
