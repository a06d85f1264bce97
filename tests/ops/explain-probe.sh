#!/usr/bin/env bash
# usher -T - on the answer to a health probe (SPEC §8): a real probe is
# captured from a running usher, answered, and the answer explained with the
# same configuration: the MAC holds, member and sequence are named. The same
# answer with one hex digit of the MAC changed is a forgery (not_ours).
. "$(dirname "$0")/lib.sh"

port=$(free_port)
member=$(free_port)
write_conf "$TMP/u.conf" "$port" \
    'branch_secret = "explain-probe";' \
    "groups = ( { name = \"pbx\"; members = ( { target = \"sip:127.0.0.1:$member\"; } );" \
    "  probe = { interval = 1; timeout = 1; }; } );"

# The member: receives one probe and writes it out.
python3 - "$member" "$TMP/probe.txt" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.settimeout(10)
data, _ = s.recvfrom(65535)
open(sys.argv[2], "wb").write(data)
PY
catcher=$!
PIDS+=("$catcher")
"$USHER" -f -c "$TMP/u.conf" -p "$TMP/usher.pid" 2>"$TMP/usher.log" &
PIDS+=($!)
usher_pid=$!
wait "$catcher" || fail "no probe reached the member within 10 s"
stop_clean "$usher_pid" "$TMP/usher.log"

# The member's 200, built from the probe's own headers.
python3 - "$TMP/probe.txt" "$TMP/answer.txt" "$TMP/forged.txt" <<'PY'
import re, sys
req = open(sys.argv[1], "rb").read().decode()
assert req.startswith("OPTIONS "), req[:40]
head = req.split("\r\n\r\n", 1)[0].split("\r\n")[1:]
keep = [h for h in head if re.match(r"(?i)(via|from|to|call-id|cseq):", h)]
resp = "SIP/2.0 200 OK\r\n" + "\r\n".join(keep) + "\r\nContent-Length: 0\r\n\r\n"
open(sys.argv[2], "w").write(resp)
m = re.search(r"branch=(z9hG4bKP[0-9a-f]{32})", resp)
assert m, "no probe branch in " + resp
b = m.group(1)
last = "0" if b[-1] != "0" else "1"
open(sys.argv[3], "w").write(resp.replace(b, b[:-1] + last))
PY

out=$("$USHER" -c "$TMP/u.conf" -T - -s 127.0.0.1 <"$TMP/answer.txt") || fail "-T - on the answer"
grep -q '^probe:    the answer to probe [0-9]* of member id [0-9]*' <<<"$out" ||
    fail "-T - did not recognise the probe answer: $out"
j=$("$USHER" -c "$TMP/u.conf" -T - -j -s 127.0.0.1 <"$TMP/answer.txt") || fail "-T - -j"
grep -q '"probe_mac_ok": true' <<<"$j" || fail "-T - -j: $j"
grep -q '"outcome": "drop (probe_answer)"' <<<"$j" || fail "-T - -j outcome: $j"
out=$("$USHER" -c "$TMP/u.conf" -T - -s 127.0.0.1 <"$TMP/forged.txt") || fail "-T - on the forgery"
grep -q "^probe:    a probe's branch without our MAC: dropped (not_ours)" <<<"$out" ||
    fail "-T - took a forged probe answer: $out"
echo "-T -: a probe answer is recognised, a forged MAC is not"
