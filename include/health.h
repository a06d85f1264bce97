/* health.h: whether each PBX group member is alive (SPEC §8): its state
 * shared by every worker (atomics, no lock on the request path), probing
 * by OPTIONS with a MAC'd branch, passive signals, drain, transitions and
 * their logs and metrics. A reload keeps the state of members whose group
 * and target are unchanged. */
#ifndef USHER_HEALTH_H
#define USHER_HEALTH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct member_health {
	atomic_bool		 up;		/* members start up */
	atomic_bool		 drained;	/* usherctl drain */
	atomic_uint		 fails;		/* failures in a row */
	atomic_uint		 oks;		/* successes in a row */
	atomic_ullong		 requests;	/* forwarded to it */
	atomic_ullong		 to_up, to_down;	/* transitions */
	atomic_ullong		 rtt_us;	/* last probe answer */
	/* the rest is health.c's own */
};

#endif
