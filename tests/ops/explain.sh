#!/usr/bin/env bash
# usher -T explains every row of SPEC §3 and the "Other requests" bullets,
# and for each the running daemon answers the same request the same way.
. "$(dirname "$0")/lib.sh"

port=$(free_port)
pbx=$(free_port)
conf() {	# conf FILE MODE
	write_conf "$1" "$port" \
	    "domains = ( { name = \"example.com\"; authoritative = true; aliases = [ \"192.0.2.10\" ]; }," \
	    "  { name = \"partner.net\"; authoritative = false; }," \
	    "  { name = \"closed.example.com\"; authoritative = true; complete = true; } );" \
	    "users = ( { user = \"alice\"; domain = \"example.com\"; target = \"sip:alice@127.0.0.1:$pbx\"; }," \
	    "  { user = \"bob\"; domain = \"example.com\"; state = \"gone\"; }," \
	    "  { user = \"carol\"; domain = \"example.com\"; state = \"unavailable\"; retry_after = 300; }," \
	    "  { user = \"dave\"; domain = \"example.com\"; state = \"moved\"; target = \"sip:dave@partner.net\"; }," \
	    "  { user = \"erin\"; domain = \"partner.net\"; state = \"gone\"; }," \
	    "  { prefix = \"+1555\"; domain = \"example.com\"; target = \"sip:127.0.0.1:$pbx\"; } );"
	# write_conf put a default domains/users first: keep only ours
	python3 - "$1" "$2" <<'PY'
import sys, re
f, mode = sys.argv[1], sys.argv[2]
s = open(f).read()
s = re.sub(r'domains = \( \{ name = "example.com"; authoritative = true; \} \);\n', '', s, count=1)
s = re.sub(r'users = \( \{ user = "bob"; domain = "example.com"; state = "gone"; \} \);\n', '', s, count=1)
s = s.replace('mode = "proxy";', f'mode = "{mode}";')
open(f, "w").write(s)
PY
}
conf "$TMP/proxy.conf" proxy
conf "$TMP/redirect.conf" redirect

# CONF|REQUEST|SOURCE|expected outcome line (prefix)
cases=(
"proxy|INVITE sip:alice@example.com|127.0.0.1|forward to sip:alice@127.0.0.1:$pbx via udp 127.0.0.1:$pbx"
"redirect|INVITE sip:alice@example.com|127.0.0.1|302 Moved Temporarily Contact: <sip:alice@127.0.0.1:$pbx>"
"proxy|INVITE sip:dave@example.com|127.0.0.1|301 Moved Permanently Contact: <sip:dave@partner.net>"
"proxy|INVITE sip:carol@example.com|127.0.0.1|480 Temporarily Unavailable Retry-After: 300"
"proxy|INVITE sip:bob@example.com|127.0.0.1|604 Does Not Exist Anywhere"
"proxy|INVITE sip:erin@partner.net|127.0.0.1|404 Not Found"
"proxy|INVITE sip:zed@closed.example.com|127.0.0.1|604 Does Not Exist Anywhere"
"proxy|INVITE sip:zed@example.com|127.0.0.1|404 Not Found"
"redirect|INVITE sip:+1-555-1234@example.com;user=phone|127.0.0.1|302 Moved Temporarily Contact: <sip:+15551234@127.0.0.1:$pbx>"
"proxy|OPTIONS sip:127.0.0.1:$port|127.0.0.1|200 OK"
"proxy|BYE sip:example.com|127.0.0.1|404 Not Found"
"proxy|REGISTER sip:example.com|127.0.0.1|404 Not Found"
"proxy|INVITE sip:bob@EXAMPLE.COM|127.0.0.1|604 Does Not Exist Anywhere"
"proxy|INVITE sip:bob@192.0.2.10|127.0.0.1|604 Does Not Exist Anywhere"
"proxy|INVITE sip:%62ob@example.com|127.0.0.1|604 Does Not Exist Anywhere"
"proxy|INVITE sip:bob@127.0.0.1:$port|127.0.0.1|604 Does Not Exist Anywhere"
"proxy|INVITE sip:x@elsewhere.org|127.0.0.1|403 Forbidden"
"redirect|INVITE sip:x@elsewhere.org|127.0.0.2|403 Forbidden"
"proxy|INVITE tel:+15551234|127.0.0.1|416 Unsupported URI Scheme"
"proxy|ACK sip:zed@example.com|127.0.0.1|drop (local_ack; would be 404 Not Found)"
)
for c in "${cases[@]}"; do
	IFS='|' read -r mode req src want <<<"$c"
	out=$("$USHER" -c "$TMP/$mode.conf" -T "$req" -s "$src") || fail "-T '$req' exited $?"
	got=$(sed -n 's/^outcome:  //p' <<<"$out")
	[ "${got#"$want"}" != "$got" ] || fail "-T '$req' ($mode, $src): outcome '$got', want '$want'"
done
echo "-T: ${#cases[@]} outcomes as expected"

# JSON and the bad-request exit status.
"$USHER" -c "$TMP/proxy.conf" -T 'INVITE sip:bob@example.com' -j |
    python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["code"]==604 and d["entry"]["state"]=="gone", d' ||
    fail "-T --json"
set +e
"$USHER" -c "$TMP/proxy.conf" -T 'INVITE' >/dev/null 2>&1; rc=$?
set -e
[ "$rc" -eq 2 ] || fail "-T with a bad request exited $rc, not 2"

# -T - over torture messages: valid ones routed, invalid ones 400 naming the fault.
data=$HERE/../data
for f in rfc4475/esc01.sip rfc4475/intmeth.sip rfc5118/ipv6-good.sip; do
	o=$("$USHER" -c "$TMP/proxy.conf" -T - -s 192.0.2.1 <"$data/$f") || fail "-T - $f"
	grep -q '^outcome:  \(404\|403\|604\|forward\)' <<<"$o" || fail "-T - $f: $(grep outcome <<<"$o")"
done
for f in rfc4475/scalar02.sip rfc4475/escruri.sip rfc4475/mismatch01.sip; do
	o=$("$USHER" -c "$TMP/proxy.conf" -T - -s 192.0.2.1 <"$data/$f") || fail "-T - $f"
	grep -q '^outcome:  400 ' <<<"$o" || fail "-T - $f: $(grep outcome <<<"$o")"
	grep -q '^SIP/2.0 400 ' <<<"$o" || fail "-T - $f: no 400 bytes"
done
echo "-T -: corpus messages explained"

# The running daemon agrees, request for request.
for mode in proxy redirect; do
	"$USHER" -f -c "$TMP/$mode.conf" 2>"$TMP/usher.log" &
	upid=$!
	PIDS+=("$upid")
	wait_answer "$port" || fail "usher ($mode) did not answer"
	for c in "${cases[@]}"; do
		IFS='|' read -r cmode req src want <<<"$c"
		[ "$cmode" = "$mode" ] && [ "$src" = 127.0.0.1 ] || continue
		case $want in forward*|drop*) continue ;; esac
		code=${want%% *}
		got=$(python3 "$HERE/sipsend.py" --timeout 1 127.0.0.1 "$port" "$req" | head -1 | tr -d '\r')
		[ "${got#SIP/2.0 $code }" != "$got" ] || fail "daemon ($mode) answered '$got' to '$req', -T said $code"
	done
	kill -TERM "$upid"; wait "$upid" || fail "usher exited non-zero"
done
echo "explain: ok (daemon agrees with -T)"
