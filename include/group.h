/* group.h: PBX groups (SPEC §8): the members of a group as the
 * configuration names them, and the choice of one member for a request:
 * lowest priority number among the usable members (up and not drained),
 * then weighted rendezvous hashing of the Call-ID keyed with the branch
 * key. Pure: it reads each member's health (health.h) and nothing else,
 * so -T, the daemon and the unit tests choose alike. */
#ifndef USHER_GROUP_H
#define USHER_GROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sipmsg.h"
#include "slice.h"

struct member_health;

#define GROUP_MAX_MEMBERS	64	/* per group */
#define GROUP_NAME_MAX		64

struct group_member {
	char			*target;	/* as written, no user part */
	struct sip_uri		 uri;		/* parsed; slices into target */
	unsigned		 priority;	/* 1 = best */
	unsigned		 weight;	/* >= 1 */
	uint64_t		 key;		/* hash of target: rendezvous */
	/* Shared run-time state (health.c); NULL: always up, never
	 * drained (-t, -T, unit tests that do not bind health). */
	struct member_health	*health;
};

struct conf_group {
	char			*name;
	struct group_member	*members;	/* as written */
	size_t			 nmembers;
	/* probe = { interval; timeout; down_after; up_after; } (seconds,
	 * counts); defaults 5, 2, 2, 2. */
	unsigned		 interval;
	unsigned		 timeout;
	unsigned		 down_after;
	unsigned		 up_after;
	/* "Service Unavailable: No Member Of NAME Up" style reason of the
	 * 503 for trusted sources (SPEC §8), made at load. */
	char			*reason_down;
};

/* The index of the group of groups[0..n) named name (len bytes, as
 * written: names compare exactly), or -1. */
int	group_find(const struct conf_group *groups, size_t n, const char *name,
	    size_t len);

/* true when m may take new requests: up and not drained. */
bool	group_member_usable(const struct group_member *m);

/*
 * The member of g a request with this Call-ID goes to: among the usable
 * members those of the lowest priority number, among them the one with the
 * highest weighted rendezvous score of (keyed hash of callid, member key).
 * key is conf->branch_key. -1 when no member is usable. No allocation.
 */
int	group_choose(const struct conf_group *g, struct slice callid,
	    const uint8_t key[16]);

/*
 * group_choose() for a CANCEL or the ACK of a non-2xx: a drained member
 * still counts, as it still handles the calls it took before the drain
 * (so they can be cancelled there). -1 when no member is up.
 */
int	group_choose_following(const struct conf_group *g,
	    struct slice callid, const uint8_t key[16]);

/*
 * Every usable member of g, best first (priority, then the weighted
 * rendezvous score of callid, so order[0] is group_choose()'s member),
 * into order (nmembers slots); the q-value
 * of each for a 302 (1000 = q=1.0, then 900, ... never below 100) into q
 * when not NULL. Returns how many.
 */
size_t	group_rank(const struct conf_group *g, struct slice callid,
	    const uint8_t key[16], int *order, unsigned *q);

/* The q-value of the rank-th Contact (0: the best) of a group's 302, in
 * thousandths: q=1.0, 0.9, ... 0.1 for the rest (SPEC §8). */
static inline unsigned
group_q(size_t rank)
{
	return rank < 9 ? 1000 - 100 * (unsigned)rank : 100;
}

#endif
