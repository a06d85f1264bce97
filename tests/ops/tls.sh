#!/usr/bin/env bash
# SIP over TLS (SPEC §9, issue 14): -t and start-up checks of certificate
# and key here; the rest in tls.py against three instances (server side,
# mutual TLS, handshake rate) and tls_send (usher's transport as a client).
. "$(dirname "$0")/lib.sh"
. "$HERE/tlscerts.sh"
TLS_SEND=${TLS_SEND:?set TLS_SEND to the tls_send binary}
[ -x "$TLS_SEND" ] || fail "tls_send not built ($TLS_SEND)"
mkdir "$TMP/c"
tls_certs "$TMP/c" || fail "cannot make the test certificates"
C=$TMP/c
cp "$C/server.pem" "$TMP/live.pem"
cp "$C/server.key" "$TMP/live.key"

IDLE=5
HS_TIMEOUT=1
# tls_conf FILE UDP_PORT TLS_PORT METRICS_PORT CERT KEY [extra lines...]
tls_conf() {
	local f=$1 port=$2 tport=$3 mport=$4 cert=$5 key=$6
	shift 6
	cat >"$f" <<CONF
listen = ( { transport = "udp"; address = "127.0.0.1"; port = $port; },
           { transport = "tls"; address = "127.0.0.1"; port = $tport; },
           { transport = "tls"; address = "::1"; port = $tport; } );
mode = "proxy";
log = { level = "info"; };
domains = ( { name = "example.com"; authoritative = true; } );
users = ( { user = "bob"; domain = "example.com"; state = "gone"; } );
metrics = { address = "127.0.0.1"; port = $mport; };
tls = { certificate = "$cert"; private_key = "$key"; ca_file = "$C/ca.pem";
        handshake_timeout = $HS_TIMEOUT; $TLS_EXTRA };
$(printf '%s\n' "$@")
CONF
}
# No IPv6 loopback here: the IPv4 listeners only.
have6=1
python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0))' \
    2>/dev/null || have6=0
v4only() { [ "$have6" = 1 ] || sed -i '/address = "::1"/d; /transport = "tls"; address = "127/ s/},$/} );/' "$1"; }

# ---- -t and start-up ----
port=$(free_port); tport=$(free_port); mport=$(free_port)
TLS_EXTRA=""
tls_conf "$TMP/t.conf" "$port" "$tport" "$mport" "$C/server.pem" "$C/server.key"
v4only "$TMP/t.conf"
"$USHER" -t -c "$TMP/t.conf" >"$TMP/out" 2>&1 || fail "-t refused a good pair: $(cat "$TMP/out")"
! grep -q warning "$TMP/out" || fail "-t warned about a good pair: $(cat "$TMP/out")"
tls_conf "$TMP/t.conf" "$port" "$tport" "$mport" "$C/other.pem" "$C/other.key"
v4only "$TMP/t.conf"
"$USHER" -t -c "$TMP/t.conf" >"$TMP/out" 2>&1 || fail "-t refused a 30-day pair"
grep -Eq 'warning: tls.certificate .*other.pem expires on .*in (29|30) days' "$TMP/out" ||
    fail "-t did not warn about expiry within 30 days: $(cat "$TMP/out")"
echo "ok   -t warns about a certificate expiring within 30 days"
tls_conf "$TMP/t.conf" "$port" "$tport" "$mport" "$C/expired.pem" "$C/expired.key"
v4only "$TMP/t.conf"
"$USHER" -t -c "$TMP/t.conf" >"$TMP/out" 2>&1 || true
grep -q 'expired on 2020-01-02' "$TMP/out" || fail "-t did not say expired: $(cat "$TMP/out")"
echo "ok   -t says an expired certificate expired"
tls_conf "$TMP/t.conf" "$port" "$tport" "$mport" "$C/server.pem" "$C/other.key"
v4only "$TMP/t.conf"
if "$USHER" -t -c "$TMP/t.conf" >"$TMP/out" 2>&1; then fail "-t took a mismatched pair"; fi
grep -q 'does not match the certificate' "$TMP/out" || fail "mismatch not named: $(cat "$TMP/out")"
echo "ok   -t refuses a key that does not match, saying so"
if "$USHER" -f -c "$TMP/t.conf" >"$TMP/out" 2>&1; then fail "started with a mismatched pair"; fi
grep -q 'does not match the certificate' "$TMP/out" || fail "start: mismatch not named: $(cat "$TMP/out")"
echo "ok   start refuses a key that does not match, saying so"
tls_conf "$TMP/t.conf" "$port" "$tport" "$mport" "$C/none.pem" "$C/server.key"
v4only "$TMP/t.conf"
if "$USHER" -t -c "$TMP/t.conf" >"$TMP/out" 2>&1; then fail "-t took a missing certificate"; fi
grep -q 'tls.certificate .*none.pem: No such file' "$TMP/out" || fail "missing file not named: $(cat "$TMP/out")"
echo "ok   -t names a certificate file that is missing"
printf 'garbage\n' >"$TMP/garbage.pem"
tls_conf "$TMP/t.conf" "$port" "$tport" "$mport" "$TMP/garbage.pem" "$C/server.key"
v4only "$TMP/t.conf"
if "$USHER" -t -c "$TMP/t.conf" >"$TMP/out" 2>&1; then fail "-t took a garbage certificate"; fi
grep -q 'no PEM certificate' "$TMP/out" || fail "garbage not named: $(cat "$TMP/out")"
echo "ok   -t refuses a file that holds no certificate"

# ---- instance 1: server side ----
tls_conf "$TMP/u.conf" "$port" "$tport" "$mport" "$TMP/live.pem" "$TMP/live.key" \
    "limits = { tcp_idle_timeout = $IDLE; rate_per_source = 0;" \
    "           tcp_max_connections_per_source = 0; };"
v4only "$TMP/u.conf"
"$USHER" -f -c "$TMP/u.conf" 2>"$TMP/usher.log" &
PIDS+=($!)
upid=$!
wait_answer "$port" || fail "usher did not answer"

# ---- instance 2: mutual TLS ----
vport=$(free_port); vtport=$(free_port); vmport=$(free_port)
TLS_EXTRA="verify_client = true; min_version = \"1.3\";"
tls_conf "$TMP/v.conf" "$vport" "$vtport" "$vmport" "$C/server.pem" "$C/server.key" \
    "limits = { rate_per_source = 0; tcp_max_queue = 65536; };"
v4only "$TMP/v.conf"
"$USHER" -f -c "$TMP/v.conf" 2>"$TMP/usher-v.log" &
PIDS+=($!)
vpid=$!
wait_answer "$vport" || fail "usher (verify_client) did not answer"

# ---- instance 3: handshake rate ----
rport=$(free_port); rtport=$(free_port); rmport=$(free_port)
TLS_EXTRA=""
tls_conf "$TMP/r.conf" "$rport" "$rtport" "$rmport" "$C/server.pem" "$C/server.key" \
    "limits = { rate_per_source = 3; ban_time = 1; };"
v4only "$TMP/r.conf"
"$USHER" -f -c "$TMP/r.conf" 2>"$TMP/usher-r.log" &
PIDS+=($!)
rpid=$!
wait_answer "$rport" || fail "usher (rate) did not answer"

# ---- tls_send's configurations (a UDP listener it never uses) ----
cat >"$TMP/out.conf" <<CONF
listen = ( { transport = "udp"; address = "127.0.0.1"; port = $(free_port); } );
domains = ( { name = "example.com"; } );
tls = { ca_file = "$C/ca.pem"; handshake_timeout = 2; };
CONF
sed 's/handshake_timeout = 2;/handshake_timeout = 2; verify_server = false;/' \
    "$TMP/out.conf" >"$TMP/out-noverify.conf"

TPORT=$tport MPORT=$mport UPID=$upid LOG=$TMP/usher.log VPORT=$vtport \
    VMPORT=$vmport RPORT=$rtport RMPORT=$rmport CERTS=$C LIVE=$TMP \
    TLS_SEND=$TLS_SEND OUT_CONF=$TMP/out.conf \
    OUT_NOVERIFY_CONF=$TMP/out-noverify.conf IDLE=$IDLE HS_TIMEOUT=$HS_TIMEOUT \
    timeout 150 python3 "$HERE/tls.py" || fail "tls checks"

stop_clean "$rpid" "$TMP/usher-r.log"
unset 'PIDS[-1]'
stop_clean "$vpid" "$TMP/usher-v.log"
unset 'PIDS[-1]'
stop_clean "$upid" "$TMP/usher.log"
unset 'PIDS[-1]'
echo "tls: ok"
