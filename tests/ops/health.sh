#!/usr/bin/env bash
# health.sh: PBX group members' health end to end (SPEC §8), in
# tests/ops/health.py: failover under 200 calls/s when a member dies
# (SIGKILL) or hangs (SIGSTOP) and back, probe answer codes, forged and
# replayed probe answers, 503 + Retry-After in under 10 ms with no member
# up, ICMP and TCP refusals as passive signals, a reload under load, members
# named in DNS.
set -euo pipefail
: "${USHER:?set USHER to the usher binary}"
cd "$(dirname "$0")"
exec timeout 280 python3 health.py "$USHER" ${HEALTH_SCENARIOS:-all}
