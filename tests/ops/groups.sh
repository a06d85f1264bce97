#!/usr/bin/env bash
# groups.sh: PBX groups (SPEC §8) through real usher processes on loopback.
# Two members (Python UAS, tests/ops/groupuas.py) of one group, weights 2:1:
# 3,000 calls (INVITE, 486, ACK) split 2:1 within 5 %, and every ACK and
# CANCEL of 300 cancelled calls reaches its INVITE's member; a second
# instance with the same configuration sends the same Call-IDs to the same
# members; in redirect mode the 302 lists both members, the proxy's choice
# first, q=1.0 then q=0.9; /metrics has the usher_member_* series.
. "$(dirname "$0")/lib.sh"
command -v sipp >/dev/null || { echo "SKIP: sipp not installed"; exit 77; }

pa=$(free_port)
pb=$(free_port)
port=$(free_port)
port2=$(free_port)
port3=$(free_port)
mport=$(free_port)
python3 "$HERE/groupuas.py" "$pa" --log "$TMP/a.log" >"$TMP/a.out" 2>&1 &
PIDS+=($!)
python3 "$HERE/groupuas.py" "$pb" --log "$TMP/b.log" >"$TMP/b.out" 2>&1 &
PIDS+=($!)
printf 'alice@example.com active group:pbx\n' >"$TMP/users.txt"
GRP="groups = ( { name = \"pbx\"; members = (
  { target = \"sip:127.0.0.1:$pa\"; weight = 2; },
  { target = \"sip:127.0.0.1:$pb\"; weight = 1; } ); } );"
write_conf "$TMP/u.conf" "$port" 'branch_secret = "groups-test";' \
    "$GRP" 'users_file = "users.txt";' \
    "metrics = { address = \"127.0.0.1\"; port = $mport; };"
sed "s/port = $port;/port = $port2;/g; /^metrics/d" "$TMP/u.conf" >"$TMP/u2.conf"
sed "s/port = $port;/port = $port3;/g; s/mode = \"proxy\"/mode = \"redirect\"/; /^metrics/d" \
    "$TMP/u.conf" >"$TMP/u3.conf"
"$USHER" -t -c "$TMP/u.conf" | grep -q '1 groups (2 members)' ||
    fail "-t summary: $("$USHER" -t -c "$TMP/u.conf" 2>&1)"
"$USHER" -f -c "$TMP/u.conf" 2>"$TMP/usher.log" &
PIDS+=($!)
upid=$!
"$USHER" -f -c "$TMP/u2.conf" -p "$TMP/u2.pid" 2>"$TMP/usher2.log" &
PIDS+=($!)
"$USHER" -f -c "$TMP/u3.conf" -p "$TMP/u3.pid" 2>"$TMP/usher3.log" &
PIDS+=($!)
for p in "$port" "$port2" "$port3"; do
	wait_answer "$p" || fail "usher on $p did not answer"
done

# 3,000 busy calls and 300 cancelled ones, bounded.
sipp_run() {
	local sf=$1 calls=$2 rate=$3 tag=$4
	shift 4
	sipp "$@" -nostdin -timeout 90s -timeout_error -max_recv_loops 1000 \
	    -sf "$HERE/$sf" -s alice -m "$calls" -r "$rate" -l 400 \
	    -i 127.0.0.1 -p "$(free_port)" -trace_err \
	    -error_file "$TMP/$tag.err" 127.0.0.1:"$port" \
	    >"$TMP/$tag.out" 2>&1 </dev/null ||
	    { tail -n 20 "$TMP/$tag.out" >&2; head -c 3000 "$TMP/$tag.err" >&2
	    fail "sipp $sf"; }
}
sipp_run group-486.xml 3000 400 busy
sipp_run group-cancel.xml 300 200 cancel -cid_str 'cancel-%u-%p@%s'

# The same Call-IDs through the second instance and the first; and to
# the redirect instance.
python3 "$HERE/groupsend.py" --ports "$port,$port2" --prefix fleet \
    --count 300 >"$TMP/fleet.txt"
python3 "$HERE/groupsend.py" --ports "$port3" --prefix fleet --count 300 \
    >"$TMP/redirect.txt"
m=$(curl -s "http://127.0.0.1:$mport/metrics" || true)
echo "$m" | grep -q "^usher_member_up{group=\"pbx\",member=\"sip:127.0.0.1:$pa\"} 1$" ||
    fail "usher_member_up not in /metrics"
echo "$m" | grep -q "^usher_member_requests_total{group=\"pbx\",member=\"sip:127.0.0.1:$pb\"} " ||
    fail "usher_member_requests_total not in /metrics"
sleep 0.5
for p in "${PIDS[0]}" "${PIDS[1]}"; do kill -TERM "$p"; done
wait "${PIDS[0]}" "${PIDS[1]}" || true
PIDS[0]=
PIDS[1]=

python3 - "$HERE" "$TMP" "$pa" "$pb" "$port" "$port2" <<'PY' || fail "checks"
import collections, sys
sys.path.insert(0, sys.argv[1])
from checks import check, done
tmp, pa, pb, port, port2 = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
seen = {}
for name in ("a", "b"):
    d = collections.defaultdict(set)
    for line in open(f"{tmp}/{name}.log"):
        m, cid = line.split(" ", 1)
        d[m].add(cid.strip())
    seen[name] = d
a, b = seen["a"], seen["b"]
busy_a = {c for c in a["INVITE"] if "cancel" not in c and "fleet" not in c}
busy_b = {c for c in b["INVITE"] if "cancel" not in c and "fleet" not in c}
check("every busy call reached one member", len(busy_a | busy_b) == 3000,
      f"{len(busy_a | busy_b)}")
check("no INVITE reached both members", not (a["INVITE"] & b["INVITE"]),
      f"{len(a['INVITE'] & b['INVITE'])} in both")
share = len(busy_a) / max(1, len(busy_a) + len(busy_b))
check("weights 2:1 split within 5 %", abs(share - 2 / 3) <= 0.05 * 2 / 3,
      f"{len(busy_a)}:{len(busy_b)}, share {share:.4f}")
for name, d in seen.items():
    other = seen["b" if name == "a" else "a"]
    stray = {c for c in d["ACK"] if c not in d["INVITE"]}
    check(f"every ACK at {name} follows its INVITE", not stray, f"{len(stray)} stray")
    stray = {c for c in d["CANCEL"] if c not in d["INVITE"]}
    check(f"every CANCEL at {name} follows its INVITE", not stray, f"{len(stray)} stray")
acks = len(a["ACK"]) + len(b["ACK"])
check("every call's ACK arrived", acks == 3300, f"{acks}")
cancels = len(a["CANCEL"]) + len(b["CANCEL"])
check("every CANCEL arrived", cancels == 300, f"{cancels}")
# Two instances, same Call-IDs, same members.
fleet = collections.defaultdict(list)
for line in open(f"{tmp}/fleet.txt"):
    p, cid, code = line.split()[:3]
    fleet[cid].append(int(code))
check("both instances answered every fleet call",
      len(fleet) == 300 and all(v == [486, 486] for v in fleet.values()),
      f"{len(fleet)}")
fa = {c for c in a["INVITE"] if c.startswith("fleet-")}
fb = {c for c in b["INVITE"] if c.startswith("fleet-")}
check("the two instances chose alike", len(fa) + len(fb) == 300 and not (fa & fb),
      f"{len(fa)} at a, {len(fb)} at b, {len(fa & fb)} at both")
# Redirect: both members, the proxy's choice first, q-values.
bad = 0
n = 0
for line in open(f"{tmp}/redirect.txt"):
    p, cid, code, ms, contacts, retry = line.split()
    n += 1
    first = f"<sip:alice@127.0.0.1:{pa}>;q=1.0" if cid in fa else \
        f"<sip:alice@127.0.0.1:{pb}>;q=1.0"
    second = f"<sip:alice@127.0.0.1:{pb}>;q=0.9" if cid in fa else \
        f"<sip:alice@127.0.0.1:{pa}>;q=0.9"
    if code != "302" or contacts != f"{first};{second}":
        bad += 1
        if bad < 3:
            print("   ", line.strip())
check("302s list both members, the proxy's choice first, q=1.0, 0.9",
      n == 300 and bad == 0, f"{n} answers, {bad} wrong")
done()
PY
"$USHER" -t -c "$TMP/u.conf" >/dev/null || fail "-t"

# The shipped sample's groups block, uncommented and named by a user,
# loads: the example cannot rot.
conf=$HERE/../../conf
cp "$conf/users.txt" "$TMP/"
sed -e '/^#groups = (/,/^#);/s/^#//' \
    -e 's|target = "sip:alice@127.0.0.1:5070";|target = "group:pbx";|' \
    "$conf/usher.conf" >"$TMP/sample.conf"
out=$("$USHER" -t -c "$TMP/sample.conf" 2>&1) || fail "sample groups: $out"
echo "$out" | grep -q '1 groups (3 members)' || fail "sample groups: $out"
out=$("$USHER" -T 'INVITE sip:alice@example.com' -c "$TMP/sample.conf") ||
    fail "-T on the sample"
echo "$out" | grep -q '^group: *pbx, 3 members' || fail "-T: $out"
echo "$out" | grep -q '^outcome: *forward to sip:alice@127.0.0.1:507[02]' ||
    fail "-T outcome: $out"
echo "groups: ok"
