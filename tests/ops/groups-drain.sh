#!/usr/bin/env bash
# groups-drain.sh: PBX group failover by drain (SPEC §8), real processes on
# loopback: two priority-1 members and a priority-2 one (Python UAS,
# groupuas.py). Priority 2 gets no call while a priority-1 member is
# usable, and every call once both are drained; all drained: each caller
# gets 503 with Retry-After: <interval>, every answer in under 10 ms;
# drain outlasts a reload; undrain brings the calls back; usherctl members
# and usher_member_requests_total show it. Needs the members' health state
# (health_bind): skipped (77) when usherctl says a member has none.
. "$(dirname "$0")/lib.sh"
CTL=${USHERCTL:-$(dirname "$USHER")/usherctl}

pa=$(free_port)
pb=$(free_port)
pc=$(free_port)
port=$(free_port)
mport=$(free_port)
sock=$TMP/usher.sock
for m in a b c; do
	eval "mp=\$p$m"
	python3 "$HERE/groupuas.py" "$mp" --log "$TMP/$m.log" \
	    >"$TMP/$m.out" 2>&1 &
	PIDS+=($!)
done
printf 'alice@example.com active group:pbx\n' >"$TMP/users.txt"
GRP="groups = ( { name = \"pbx\"; members = (
  { target = \"sip:127.0.0.1:$pa\"; },
  { target = \"sip:127.0.0.1:$pb\"; },
  { target = \"sip:127.0.0.1:$pc\"; priority = 2; } );
  probe = { interval = 7; timeout = 2; }; } );"
write_conf "$TMP/u.conf" "$port" 'branch_secret = "groups-drain";' \
    "$GRP" 'users_file = "users.txt";' \
    "control = { socket = \"$sock\"; };" \
    "metrics = { address = \"127.0.0.1\"; port = $mport; };"
"$USHER" -f -c "$TMP/u.conf" 2>"$TMP/usher.log" &
PIDS+=($!)
upid=$!
wait_answer "$port" || fail "usher did not answer"
c() { "$CTL" -s "$sock" "$@"; }

set +e
out=$(c drain pbx 2 2>&1)
rc=$?
set -e
if echo "$out" | grep -q 'has no health state'; then
	echo "SKIP: members have no health state (health_bind not built in)"
	exit 77
fi
[ "$rc" -eq 0 ] || fail "drain: $rc $out"
c undrain pbx "sip:127.0.0.1:$pc" >/dev/null || fail "undrain by target"

# calls PREFIX N [--serial]: INVITEs with Call-IDs PREFIX-i, answers kept.
calls() {
	python3 "$HERE/groupsend.py" --ports "$port" --prefix "$1" \
	    --count "$2" "${@:3}" >"$TMP/$1.txt"
}
calls p1 200
c drain pbx 0 >/dev/null || fail "drain 0"
calls p2 200
c drain pbx "sip:127.0.0.1:$pb" >/dev/null || fail "drain b"
calls p3 200
c members >"$TMP/members.txt" || fail "members"
# A reload keeps the drained flags (the state lives in member_health).
kill -HUP "$upid"
sleep 0.5
for i in $(seq 50); do
	c status | grep -q '^last reload: .* ok$' && break
	sleep 0.1
done
c members >"$TMP/members-reloaded.txt" || fail "members after reload"
calls p4 200
c drain pbx 2 >/dev/null || fail "drain 2"
calls p5 200 --serial
c undrain pbx 0 >/dev/null || fail "undrain 0"
c undrain pbx 1 >/dev/null || fail "undrain 1"
c undrain pbx 2 >/dev/null || fail "undrain 2"
calls p6 200
req=$(curl -s "http://127.0.0.1:$mport/metrics" |
    sed -n "s/^usher_member_requests_total{group=\"pbx\",member=\"sip:127.0.0.1:$pc\"} //p")
sleep 0.3
for i in 0 1 2; do kill -TERM "${PIDS[$i]}"; done
wait "${PIDS[0]}" "${PIDS[1]}" "${PIDS[2]}" || true
PIDS[0]= PIDS[1]= PIDS[2]=

python3 - "$HERE" "$TMP" "$pc" "${req:-0}" <<'PY' || fail "checks"
import collections, sys
sys.path.insert(0, sys.argv[1])
from checks import check, done
tmp, pc, req = sys.argv[2], sys.argv[3], int(sys.argv[4])
at = collections.defaultdict(set)
for m in "abc":
    for line in open(f"{tmp}/{m}.log"):
        meth, cid = line.split(" ", 1)
        if meth == "INVITE":
            at[cid.split("-")[0] + ":" + m].add(cid.strip())
def n(prefix, m):
    return len(at[f"{prefix}:{m}"])
def answers(prefix):
    return [l.split() for l in open(f"{tmp}/{prefix}.txt")]
check("all up: priority 1 only", n("p1", "a") + n("p1", "b") == 200 and
      n("p1", "c") == 0 and n("p1", "a") > 50 and n("p1", "b") > 50,
      f"a {n('p1','a')} b {n('p1','b')} c {n('p1','c')}")
check("a drained: all to b", n("p2", "b") == 200 and n("p2", "a") == 0 and
      n("p2", "c") == 0, f"a {n('p2','a')} b {n('p2','b')} c {n('p2','c')}")
check("a and b drained: priority 2 takes over", n("p3", "c") == 200,
      f"a {n('p3','a')} b {n('p3','b')} c {n('p3','c')}")
check("after a reload still drained", n("p4", "c") == 200,
      f"a {n('p4','a')} b {n('p4','b')} c {n('p4','c')}")
ans = answers("p5")
ok = [a for a in ans if a[2] == "503" and a[5] == "7"]
worst = max(float(a[3]) for a in ans) if ans else -1
check("all drained: 503 with Retry-After: 7 to every call", len(ok) == 200,
      f"{len(ok)} of {len(ans)}")
check("each 503 in under 10 ms", 0 <= worst < 10, f"worst {worst:.3f} ms")
check("no member got a call while all were drained",
      n("p5", "a") + n("p5", "b") + n("p5", "c") == 0)
check("undrained: back to priority 1", n("p6", "a") + n("p6", "b") == 200)
check("usher_member_requests_total counts the standby's calls", req >= 400,
      f"{req}")
members = open(f"{tmp}/members.txt").read()
check("members shows the drained ones",
      members.count(" drained ") == 2 and "sip:127.0.0.1:" + pc + " up priority=2" in members,
      members.replace("\n", " | "))
check("members after reload: still drained",
      open(f"{tmp}/members-reloaded.txt").read().count(" drained ") == 2)
done()
PY
stop_clean "$upid" "$TMP/usher.log"
PIDS[3]=
echo "groups-drain: ok"
