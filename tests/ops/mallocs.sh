#!/usr/bin/env bash
# No heap allocation per request on the hot paths (issue: speed, item 3).
# Each sipp scenario runs twice through a real usher with a counting
# malloc preloaded (malloc_count.c), once with FEW calls and once with MANY;
# the difference in allocations divided by the difference in calls is the
# figure per call, free of start-up and shutdown costs. Counts, not time:
# the result is the same on a busy machine. Fails above LIMIT per call.
. "$(dirname "$0")/lib.sh"
[ -n "${MALLOC_COUNT_LIB:-}" ] && [ -r "$MALLOC_COUNT_LIB" ] ||
    fail "MALLOC_COUNT_LIB not set or not readable"
RUN=$HERE/../sipp/run-scenario
SIPPDIR=$HERE/../sipp
FEW=100 MANY=600 LIMIT=0.02

cat >"$TMP/usher" <<WRAP
#!/bin/sh
USHER_MALLOC_COUNT=\$MC_OUT LD_PRELOAD=$MALLOC_COUNT_LIB exec "$USHER" "\$@"
WRAP
chmod +x "$TMP/usher"

# count NAME SCENARIO MODE TRANSPORT PBX-or-- SERVICE CALLS -> allocations
count() {
	local pbx=()
	[ "$5" != - ] && pbx=(--expect-pbx "$SIPPDIR/$5.xml")
	MC_OUT="$TMP/$1.$7" bash "$RUN" --usher "$TMP/usher" \
	    --scenario "$SIPPDIR/$2.xml" --mode "$3" --transport "$4" \
	    --service "$6" --calls "$7" --rate 200 --timeout 60 "${pbx[@]}" \
	    >"$TMP/$1.$7.log" 2>&1 || { cat "$TMP/$1.$7.log" >&2;
	    fail "$1: $7 calls did not all succeed"; }
	[ -s "$TMP/$1.$7" ] || fail "$1: no allocation count written"
	awk '{print $2}' "$TMP/$1.$7"
}

bad=0
for row in \
    "404-udp unknown_404 proxy udp - nobody" \
    "404-tcp unknown_404 proxy tcp - nobody" \
    "302-udp redirect_active_302 redirect udp - -" \
    "options-udp options_self_200 proxy udp - -" \
    "486-forwarded-udp proxy_forward_486 proxy udp pbx_486 -"; do
	set -- $row
	a=$(count "$@" "$FEW")
	b=$(count "$@" "$MANY")
	per=$(awk -v a="$a" -v b="$b" -v n=$((MANY - FEW)) \
	    'BEGIN { printf "%.3f", (b - a) / n }')
	echo "$1: $a allocations for $FEW calls, $b for $MANY: $per per call"
	awk -v p="$per" -v l="$LIMIT" 'BEGIN { exit !(p > l) }' && bad=1
done
[ "$bad" -eq 0 ] || fail "allocations per call above $LIMIT"
echo "mallocs: ok"
