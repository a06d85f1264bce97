# fleet-lib.sh: for the fleet tests (SPEC §11), on top of lib.sh: a private
# redis-server on a free loopback port, usher instances that follow it, and
# their metrics. Everything started here is stopped by PID.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if ! command -v redis-server >/dev/null; then
	echo "SKIP: redis-server is not installed (apt-get install redis-server)"
	exit 77
fi

RPORT=$(free_port)
RPID=

# start_redis: on $RPORT, no persistence; waits until it answers.
start_redis() {
	# shellcheck disable=SC2086 # REDIS_ARGS: more options, split
	redis-server --port "$RPORT" --bind 127.0.0.1 --save '' \
	    --appendonly no --daemonize no ${REDIS_ARGS:-} >"$TMP/redis.log" 2>&1 &
	RPID=$!
	PIDS+=("$RPID")
	local i
	for i in $(seq 50); do
		redis-cli -p "$RPORT" ${REDIS_ARGS:+--no-auth-warning -a "$REDIS_PASS"} \
		    ping 2>/dev/null | grep -q PONG && return 0
		sleep 0.1
	done
	fail "redis-server did not start"
}

stop_redis() {
	kill -TERM "$RPID" 2>/dev/null || true
	wait "$RPID" 2>/dev/null || true
	RPID=
}

rcli() { redis-cli -p "$RPORT" "$@"; }

# fleet_conf NAME [extra table_source lines]: $TMP/NAME.conf with its own
# SIP and metrics ports in $TMP/NAME.port and $TMP/NAME.mport
fleet_conf() {
	local n=$1 port mport servers
	shift
	servers=${SERVERS:-"\"127.0.0.1:${SERVER_PORT:-$RPORT}\""}
	port=$(free_port)
	mport=$(free_port)
	echo "$port" >"$TMP/$n.port"
	echo "$mport" >"$TMP/$n.mport"
	cat >"$TMP/$n.conf" <<CONF
listen = ( { transport = "udp"; address = "127.0.0.1"; port = $port; } );
mode = "proxy";
log = { level = "info"; };
daemon = { pidfile = "$TMP/$n.pid"; };
domains = ( { name = "example.com"; authoritative = true; } );
metrics = { address = "127.0.0.1"; port = $mport; };
table_source = {
	type = "redis";
	servers = [ $servers ];
	poll_interval = 1;
	connect_timeout_ms = 300;
	command_timeout_ms = ${CMD_TIMEOUT:-1000};
	cache_file = "$n.cache";
	$(printf '%s\n' "$@")
};
CONF
}

# start_usher NAME: runs usher -f on $TMP/NAME.conf, log in $TMP/NAME.log
start_usher() {
	local n=$1
	"$USHER" -f -c "$TMP/$n.conf" 2>"$TMP/$n.log" &
	echo $! >"$TMP/$n.upid"
	PIDS+=("$!")
	wait_answer "$(cat "$TMP/$n.port")" || { cat "$TMP/$n.log" >&2; fail "$n did not answer"; }
}

stop_usher() {
	local p
	p=$(cat "$TMP/$1.upid")
	kill -TERM "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
}

metric() {	# metric NAME 'usher_x{...}'
	python3 "$HERE/scrape.py" "$(cat "$TMP/$1.mport")" "$2"
}

answer() {	# answer NAME USER -> status line
	probe "$(cat "$TMP/$1.port")" "INVITE sip:$2@example.com"
}

publish() {	# publish FILE [CONF]: prints usher's line, fails on error
	"$USHER" -c "${2:-$TMP/a.conf}" -P "$1" || fail "publish $1"
}

# wait_for SECONDS CMD...: until CMD succeeds, polling every 50 ms
wait_for() {
	local end
	end=$(($(date +%s%N) + ${1%.*} * 1000000000))
	shift
	while ! "$@"; do
		[ "$(date +%s%N)" -lt "$end" ] || return 1
		sleep 0.05
	done
}

is_answer() {	# is_answer NAME USER 'SIP/2.0 604 ...'
	[ "$(answer "$1" "$2")" = "$3" ]
}

is_metric() {	# is_metric NAME METRIC VALUE
	[ "$(metric "$1" "$2")" = "$3" ]
}

is_version() {	# is_version NAME N
	[ "$(metric "$1" usher_table_version)" = "$2" ]
}
