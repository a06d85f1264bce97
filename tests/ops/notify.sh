#!/usr/bin/env bash
# systemd's notify protocol against a fake $NOTIFY_SOCKET: READY=1 (with
# STATUS=) only once a SIP request is answered, RELOADING=1 with
# MONOTONIC_USEC then READY=1 around each reload (failed ones too), the
# watchdog pinged while every worker loop turns and not while one is stuck,
# and an abstract-namespace socket ("@name") works too.
. "$(dirname "$0")/lib.sh"
CTL=${USHERCTL:-$(dirname "$USHER")/usherctl}

port=$(free_port)
sock=$TMP/usher.sock
write_conf "$TMP/u.conf" "$port" "control = { socket = \"$sock\"; };" "workers = 2;"
python3 "$HERE/notify.py" "$TMP/notify" "$TMP/notify.log" "$port" &
PIDS+=($!)
for i in $(seq 50); do [ -e "$TMP/notify.log.bound" ] && break; sleep 0.1; done
NOTIFY_SOCKET=$TMP/notify WATCHDOG_USEC=400000 \
    "$USHER" -f -c "$TMP/u.conf" 2>"$TMP/usher.log" &
upid=$!
PIDS+=("$upid")
for i in $(seq 50); do grep -q '^ANSWERED\|^NO-ANSWER' "$TMP/notify.log" 2>/dev/null && break; sleep 0.1; done
head -2 "$TMP/notify.log" | grep -q '^READY=1|STATUS=serving: 1 domains, 1 users' ||
    fail "first message: $(head -2 "$TMP/notify.log")"
sed -n 2p "$TMP/notify.log" | grep -qx ANSWERED || fail "READY=1 before SIP was answered"

# The watchdog: pinged about every 200 ms while the loops turn (3 pings
# take 0.6 s; up to 5 s allowed, for a machine busy with other tests).
for i in $(seq 50); do
	n=$(grep -c '^WATCHDOG=1$' "$TMP/notify.log" || true)
	[ "$n" -ge 3 ] && break
	sleep 0.1
done
[ "$n" -ge 3 ] || fail "only $n watchdog pings in 5 s"
# ... and no more often than every 200 ms: a watchdog that does not wait
# between its looks spins (a load only makes pings rarer, never denser).
sleep 1
m=$(grep -c '^WATCHDOG=1$' "$TMP/notify.log" || true)
[ $((m - n)) -le 7 ] || fail "$((m - n)) watchdog pings in 1 s: the watchdog does not wait"

# Reloads: RELOADING=1 + MONOTONIC_USEC, then READY=1; failed ones too.
"$CTL" -s "$sock" reload >/dev/null || fail "reload"
echo 'junk' >>"$TMP/u.conf"
set +e; "$CTL" -s "$sock" reload >/dev/null 2>&1; rc=$?; set -e
[ "$rc" -eq 1 ] || fail "failed reload exit $rc"
# usherctl reload returns when the pass is done, just before READY=1 goes
# out, and the listener writes what it gets when it gets to it: wait for
# the 7 lines (READY, ANSWERED, then RELOADING/READY/ANSWERED twice; the
# last ANSWERED may still be coming), 5 s at most.
for i in $(seq 50); do
	grep -v '^WATCHDOG=1$' "$TMP/notify.log" >"$TMP/seq"
	[ "$(wc -l <"$TMP/seq")" -ge 7 ] && break
	sleep 0.1
done
sed -n 3p "$TMP/seq" | grep -q '^RELOADING=1|MONOTONIC_USEC=[0-9]\+|STATUS=reloading ' || fail "no RELOADING: $(cat "$TMP/seq")"
sed -n 4p "$TMP/seq" | grep -q '^READY=1|STATUS=serving: ' || fail "no READY after reload: $(cat "$TMP/seq")"
sed -n 6p "$TMP/seq" | grep -q '^RELOADING=1|' || fail "no RELOADING (failed): $(cat "$TMP/seq")"
sed -n 7p "$TMP/seq" | grep -q '^READY=1|STATUS=serving: .*; last reload failed: .*u.conf:[0-9]*: ' ||
    fail "no READY with the failure: $(cat "$TMP/seq")"

kill -TERM "$upid"; wait "$upid" || fail "usher exit"
tail -1 "$TMP/notify.log" | grep -qx 'STOPPING=1' || fail "no STOPPING=1"

# A worker loop that does not turn for 1.5 s: no pings meanwhile.
sed -i '$d' "$TMP/u.conf"
: >"$TMP/notify.log"
USHER_TEST_WATCHDOG_STALL_MS=1500 NOTIFY_SOCKET=$TMP/notify WATCHDOG_USEC=400000 \
    "$USHER" -f -c "$TMP/u.conf" 2>"$TMP/usher.log" &
upid=$!
PIDS+=("$upid")
# The stall is logged about 200 ms into it (it lasts 1.5 s): count the
# pings then, however long a busy machine took to start usher.
for i in $(seq 50); do
	grep -q 'not pinging the systemd watchdog' "$TMP/usher.log" && break
	sleep 0.1
done
grep -q 'not pinging the systemd watchdog' "$TMP/usher.log" || fail "stall not logged"
n=$(grep -c '^WATCHDOG=1$' "$TMP/notify.log" || true)
[ "$n" -le 1 ] || fail "$n pings while a worker loop was stuck"
for i in $(seq 50); do
	n=$(grep -c '^WATCHDOG=1$' "$TMP/notify.log" || true)
	[ "$n" -ge 3 ] && break
	sleep 0.1
done
[ "$n" -ge 3 ] || fail "pings did not resume ($n)"
kill -TERM "$upid"; wait "$upid" || true

# The abstract namespace.
python3 "$HERE/notify.py" "@usher-test-$$" "$TMP/abs.log" "$port" &
PIDS+=($!)
for i in $(seq 50); do [ -e "$TMP/abs.log.bound" ] && break; sleep 0.1; done
NOTIFY_SOCKET=@usher-test-$$ "$USHER" -f -c "$TMP/u.conf" 2>"$TMP/usher.log" &
upid=$!
PIDS+=("$upid")
for i in $(seq 50); do grep -q '^READY=1' "$TMP/abs.log" 2>/dev/null && break; sleep 0.1; done
grep -q '^READY=1' "$TMP/abs.log" || fail "nothing on the abstract socket"
echo "notify: ok"
