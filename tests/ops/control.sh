#!/usr/bin/env bash
# usherctl against a running daemon, every command, text and JSON; a reload
# that fails exits 1 with file:line while SIP is still answered; garbage,
# oversized and silent control clients never disturb SIP; no daemon: 3.
. "$(dirname "$0")/lib.sh"
CTL=${USHERCTL:-$(dirname "$USHER")/usherctl}

port=$(free_port)
sock=$TMP/usher.sock
write_conf "$TMP/u.conf" "$port" "control = { socket = \"$sock\"; };"
"$USHER" -f -c "$TMP/u.conf" 2>"$TMP/usher.log" &
PIDS+=($!)
wait_answer "$port" || fail "usher did not answer"
c() { "$CTL" -s "$sock" "$@"; }

[ "$(stat -c %a "$sock")" = 660 ] || fail "socket mode $(stat -c %a "$sock")"
out=$(c status) || fail "status exit $?"
echo "$out" | grep -q "^usher .*, pid ${PIDS[0]}, up " || fail "status: $out"
echo "$out" | grep -q "^listeners: udp 127.0.0.1:$port, tcp 127.0.0.1:$port$" || fail "status listeners: $out"
echo "$out" | grep -q '^version: sha256:[0-9a-f]\{64\}$' || fail "status version: $out"
echo "$out" | grep -q '^entries: 1 (0 prefixes), 1 domains$' || fail "status entries: $out"
echo "$out" | grep -q '^last reload: .* ok$' || fail "status reload: $out"
v1=$(echo "$out" | sed -n 's/^version: //p')
c -j status | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["pid"] > 0 and d["mode"] == "proxy" and d["workers"] >= 1, d
assert d["table"]["entries"] == 1 and d["table"]["version"].startswith("sha256:"), d
assert d["last_reload"]["result"] == "ok", d
assert {l["transport"] for l in d["listeners"]} == {"udp", "tcp"}, d' ||
    fail "status -j"

out=$(c explain 'INVITE sip:bob@example.com' -s 127.0.0.2) || fail "explain exit $?"
echo "$out" | grep -q '^outcome: *604 ' || fail "explain: $out"
echo "$out" | grep -q '127.0.0.2 (trusted' || fail "explain -s: $out"
c -j explain INVITE sip:bob@example.com | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["code"] == 604, d' || fail "explain -j"
set +e
c explain 'INVITE' >/dev/null 2>&1; rc=$?
set -e
[ "$rc" -eq 1 ] || fail "bad explain exit $rc, not 1"

out=$(c members) || fail "members exit $?"
[ "$out" = "no groups configured" ] || fail "members: $out"
[ "$(c -j members)" = '{"members":[]}' ] || fail "members -j"
set +e
out=$(c drain pbx 10.0.0.1 2>&1); rc=$?
c undrain pbx 10.0.0.1 >/dev/null 2>&1; rc2=$?
c drain pbx >/dev/null 2>&1; rc3=$?
c bogus >/dev/null 2>&1; rc4=$?
out5=$(c -j drain pbx 10.0.0.1); rc5=$?
set -e
[ "$rc" -eq 1 ] && [ "$out" = "no group pbx" ] || fail "drain: $rc $out"
[ "$rc2" -eq 1 ] || fail "undrain exit $rc2"
[ "$rc3" -eq 2 ] && [ "$rc4" -eq 2 ] || fail "usage errors exit $rc3 $rc4, not 2"
[ "$rc5" -eq 1 ] && [ "$out5" = '{"error":"no group pbx"}' ] || fail "drain -j: $rc5 $out5"

# A reload that works: the new summary, a new table version.
sed -i 's/^users = .*/users = ( { user = "bob"; domain = "example.com"; state = "gone"; }, { user = "al"; domain = "example.com"; state = "gone"; } );/' "$TMP/u.conf"
out=$(c reload) || fail "reload exit $?"
echo "$out" | grep -q '^entries: 2 ' || fail "reload: $out"
v2=$(echo "$out" | sed -n 's/^version: //p')
[ "$v1" != "$v2" ] || fail "table version did not change"
[ "$(c -j reload | python3 -c 'import json,sys; print(json.load(sys.stdin)["table"]["entries"])')" = 2 ] ||
    fail "reload -j"

# A reload that fails: exit 1, file:line on stderr, the old table serves.
echo 'users_file = 12;' >>"$TMP/u.conf"
set +e
err=$(c reload 2>&1 >/dev/null); rc=$?
jerr=$(c -j reload); rc2=$?
set -e
[ "$rc" -eq 1 ] || fail "failed reload exit $rc, not 1"
echo "$err" | grep -q "^$TMP/u.conf:[0-9]*: " || fail "failed reload said: $err"
[ "$rc2" -eq 1 ] && echo "$jerr" | grep -q '^{"error":"' || fail "failed reload -j: $rc2 $jerr"
[ "$(probe "$port" "INVITE sip:al@example.com")" = "SIP/2.0 604 Does Not Exist Anywhere" ] ||
    fail "SIP not answered from the old table after a failed reload"
c status | grep -q '^last reload: .* failed: ' || fail "status after a failed reload"

# Garbage, oversized lines, and silent clients: SIP answers all along.
python3 - "$sock" "$port" <<'PY' || fail "control abuse"
import socket, sys, time, subprocess
path, port = sys.argv[1], int(sys.argv[2])
def ctl(data, wait=2.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(wait); s.connect(path)
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass    # told "busy" before it spoke
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b: break
            out += b
    except socket.timeout:
        out += b"<timeout>"
    s.close()
    return out
def sip():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(1)
    u.sendto((f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;rport;branch=z9hG4bK-c{time.time_ns()}\r\n"
              "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: ctl\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode(),
             ("127.0.0.1", port))
    return u.recv(4096).startswith(b"SIP/2.0 ")
for junk in [b"\x00\xff\xfe garbage\n", b"json\n", b"\n", b"status status\n" * 3, b"\r\n",
             b"explain -s\n", b"explain -s 1.2.3.4 -\n", b"drain a b c d\n"]:
    r = ctl(junk)
    assert r.startswith(b"error\n") or r.startswith(b"ok\n"), (junk, r)
assert ctl(b"x" * 5000).startswith(b"error\nrequest longer"), "oversized"
assert sip()
# More silent clients than the daemon takes at once: the extra ones are
# told busy, SIP answers, and after the timeout all are dropped.
silent = []
for i in range(16):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.connect(path); silent.append(s)
t_conn = time.time()
# connect() returns once a client is queued, before the daemon took it:
# ask until all 16 hold their slots (well within their 5 s timeout).
deadline = time.monotonic() + 3
while True:
    r = ctl(b"status\n")
    if r.startswith(b"error\nbusy") or time.monotonic() > deadline:
        break
    time.sleep(0.1)
assert r.startswith(b"error\nbusy"), ("no busy", r[:40])
assert sip()
silent[0].settimeout(10)
assert silent[0].recv(100) == b"", "silent client not dropped"
took = time.time() - t_conn     # the daemon's timeout is 5 s
assert 4 < took < 9, took
time.sleep(0.3)
assert ctl(b"status\n").startswith(b"ok\n"), "status after the silent ones"
assert sip()
PY

kill -TERM "${PIDS[0]}"
wait "${PIDS[0]}" || fail "usher exited non-zero"
[ -e "$sock" ] && fail "socket left behind"
set +e
"$CTL" -s "$sock" status 2>"$TMP/err"; rc=$?
"$CTL" -s "$sock" -j reload >/dev/null 2>&1; rc2=$?
set -e
[ "$rc" -eq 3 ] && [ "$rc2" -eq 3 ] || fail "no daemon: exit $rc $rc2, not 3"
grep -q "cannot reach usher at $sock" "$TMP/err" || fail "no daemon said: $(cat "$TMP/err")"
echo "control: ok"
