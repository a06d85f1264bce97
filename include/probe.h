/* probe.h: OPTIONS probes of PBX group members (SPEC §8), sent by the
 * workers from their own listening sockets (UDP) or over TCP/TLS, their
 * answers recognised statelessly by the MAC'd branch in any worker, and the
 * passive signals (ICMP unreachable, TCP refused or reset) mapped to the
 * member they concern. The member states are health.h's. */
#ifndef USHER_PROBE_H
#define USHER_PROBE_H

#include <sys/types.h>
#include <sys/socket.h>

#include <stdbool.h>

#include "config.h"
#include "resolve.h"
#include "sipmsg.h"
#include "transport.h"

struct conf_group;

#define PROBE_TICK_MS	100	/* how often a worker looks at its members */
#define PROBE_TICK_MAX	32	/* probes one worker sends per tick, at most */

/*
 * Give every member of groups its health state (health.h), kept across
 * loads for unchanged (group, target) pairs: on every load path, before
 * the conf is published. 0, or -1 when some member got none (it then
 * counts as always up).
 */
int	probe_bind(struct conf_group *groups, size_t ngroups);

/*
 * Worker w's turn (every PROBE_TICK_MS, from its event loop): of conf's
 * members those whose index modulo the number of workers is w->id: an
 * answer that did not come within `timeout` counts as a failure, and a
 * member whose `interval` is up gets its probe (at most PROBE_TICK_MAX,
 * the rest at the next tick). map: the names resolved ahead (may be
 * NULL). buf: TRANSPORT_UDP_MAX bytes of scratch. Never blocks.
 */
void	probe_tick(struct worker *w, const struct conf *conf,
	    const struct resolve_map *map, char *buf, size_t buflen);

/* Cheap, for every response: whether its top Via branch looks like a
 * probe's (then it is probe_answer()'s, whatever it turns out to be). */
bool	probe_is_answer(const struct sipmsg *m);

/*
 * A response whose branch looks like a probe's: it counts for the member
 * only when the MAC holds under conf's branch key, it answers the member's
 * latest probe within its timeout, and it comes from the address the probe
 * went to; any final response but 408 and 5xx is alive. One with our MAC
 * that does not count (late, replayed, from elsewhere) is counted as
 * stale. false when the branch is not ours (a forgery, or a retired
 * member's): the caller counts it as not ours.
 */
bool	probe_answer(struct worker *w, const struct tp_source *src,
	    const struct sipmsg *m, const struct conf *conf);

/*
 * A passive signal (SPEC §8): sa, where usher sent something, cannot be
 * reached (err: ECONNREFUSED, EHOSTUNREACH, ECONNRESET, ...; how: "ICMP",
 * "TCP"). A member of conf at that address (as its last probe went)
 * counts a failure. true when sa is a member's.
 */
bool	probe_peer_failed(const struct conf *conf, const struct sockaddr *sa,
	    int err, const char *how);

#endif
