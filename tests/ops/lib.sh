# lib.sh: shared by the operations tests. Starts usher on free loopback ports
# with a generated configuration and stops only the processes it started.
set -euo pipefail

USHER=${USHER:?set USHER to the usher binary}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TMP=$(mktemp -d /tmp/usher-ops.XXXXXX)
PIDS=()

cleanup() {
	local p
	for p in "${PIDS[@]:-}"; do
		[ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true
	done
	[ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	[ -f "$TMP/usher.log" ] && { echo "--- usher log:" >&2; tail -30 "$TMP/usher.log" >&2; }
	exit 1
}

free_port() {
	python3 -c 'import socket
for _ in range(50):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0))
    p = u.getsockname()[1]
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        t.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass'
}

# write_conf FILE PORT [extra config lines...]
write_conf() {
	local f=$1 port=$2
	shift 2
	cat >"$f" <<CONF
listen = ( { transport = "udp"; address = "127.0.0.1"; port = $port; },
           { transport = "tcp"; address = "127.0.0.1"; port = $port; } );
mode = "proxy";
trusted = [ "127.0.0.2/32" ];
log = { level = "info"; };
daemon = { pidfile = "$TMP/usher.pid"; };
domains = ( { name = "example.com"; authoritative = true; } );
users = ( { user = "bob"; domain = "example.com"; state = "gone"; } );
$(printf '%s\n' "$@")
CONF
}

# probe PORT 'METHOD URI' -> prints the status line, or nothing
probe() {
	python3 "$HERE/sipsend.py" --timeout 1 127.0.0.1 "$1" "$2" 2>/dev/null |
	    head -1 | tr -d '\r' || true
}

wait_answer() {
	local port=$1 i
	for i in $(seq 50); do
		[ -n "$(probe "$port" "OPTIONS sip:127.0.0.1:$port")" ] && return 0
		sleep 0.1
	done
	return 1
}

# stop_clean PID LOG: SIGTERM usher and require a clean stop: exit 0, and
# under ASan/UBSan no report in its log (leaks included).
stop_clean() {
	local rc=0
	kill -TERM "$1"
	wait "$1" || rc=$?
	! grep -E 'Sanitizer|runtime error' "$2" || fail "sanitizer report"
	[ "$rc" -eq 0 ] || fail "usher exited $rc after SIGTERM"
}
