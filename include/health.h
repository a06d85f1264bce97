/* health.h: whether each PBX group member is alive (SPEC §8): its state
 * shared by every worker (atomics, no lock on the request path), probing
 * by OPTIONS with a MAC'd branch, passive signals, drain, transitions and
 * their logs and metrics. A reload keeps the state of members whose group
 * and target are unchanged. */
#ifndef USHER_HEALTH_H
#define USHER_HEALTH_H

#include <sys/types.h>
#include <sys/socket.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "siphash.h"
#include "slice.h"


/* The line size the request counter keeps to itself. */
#define HEALTH_LINE	64

struct member_health {
	atomic_bool		 up;		/* members start up */
	atomic_bool		 drained;	/* usherctl drain */
	atomic_uint		 fails;		/* failures in a row */
	atomic_uint		 oks;		/* successes in a row */
	/* Written by every forwarded request, in any worker: a cache line
	 * of its own, so that it does not take along up and drained, which
	 * every worker reads for every member on every choice. */
	_Alignas(HEALTH_LINE) atomic_ullong requests;	/* forwarded to it */
	_Alignas(HEALTH_LINE) atomic_ullong to_up, to_down;	/* transitions */
	atomic_ullong		 rtt_us;	/* last probe answer */
	/* the rest is health.c's own */
	uint32_t		 id;		/* in probe branches; never 0 */
	const char		*group;		/* as the conf names it */
	const char		*target;	/* as written; both in names */
	/* Probing: mu guards these and every transition (rare: a probe or
	 * a passive signal, never a forwarded request). */
	pthread_mutex_t		 mu;
	uint32_t		 seq;		/* of the last probe sent */
	bool			 waiting;	/* its answer has not come */
	uint64_t		 sent_us;	/* when (monotonic) */
	uint64_t		 due_us;	/* next probe (monotonic) */
	uint64_t		 deadline_us;	/* its answer counts until */
	struct sockaddr_storage	 addr;		/* where it went; family 0: none */
	socklen_t		 addrlen;
	/* The group's down_after and up_after as last probed, for the
	 * answers and passive signals that come without a group. */
	unsigned		 down_after, up_after;
	/* The registry's: its chain, and when it left the configuration. */
	struct member_health	*next;
	unsigned		 bound_gen;	/* last bind that had it */
	uint64_t		 retired_us;	/* 0 while bound */
	char			 names[];	/* "group\0target\0" */
};

/*
 * Bind a freshly loaded configuration's members to the registry (every
 * load: start, reload, table switch; probe_bind() walks the groups):
 * between begin and end (the registry's lock is held), each
 * health_bind_member() gives the state of (group name, target as
 * written), kept from the previous binds when it was there (up, drained,
 * counters), else a new one that starts up; NULL when out of memory. At end the states this load did not name are retired, and
 * freed at a later bind once no worker can still read them (two binds and
 * HEALTH_RETIRE_S seconds later), or by health_fini().
 */
#define HEALTH_RETIRE_S	30
void	health_bind_begin(void);
struct member_health *health_bind_member(const char *group,
	    const char *target);
void	health_bind_end(void);
/* For tests: how long a retired state is kept (microseconds; default
 * HEALTH_RETIRE_S seconds). */
void	health_set_retire_us(uint64_t us);
/* Free every state (at exit, after the workers). */
void	health_fini(void);
/* How many states the registry holds (bound and retired), for tests. */
size_t	health_count(void);

/* ---- transitions (pure) ---- */

enum health_change {
	HEALTH_SAME = 0,
	HEALTH_WENT_DOWN,
	HEALTH_WENT_UP,
};

struct health_state {
	bool		 up;
	unsigned	 fails;		/* failures in a row */
	unsigned	 oks;		/* successes in a row */
};

/* s after one probe result or passive signal (ok: alive): a member that
 * is up goes down after down_after failures in a row, one that is down up
 * after up_after successes in a row (0 counts as 1). */
enum health_change health_step(struct health_state *s, bool ok,
	    unsigned down_after, unsigned up_after);

/*
 * Apply one result to h (under h->mu): the step above, the public atomics,
 * to_up/to_down, and one log line per transition: warning "member TARGET
 * of group G down: CAUSE", info "member TARGET of group G up". What
 * changed.
 */
enum health_change health_report(struct member_health *h, bool ok,
	    const char *cause, unsigned down_after, unsigned up_after);

/* ---- probe branches ---- */

/* "z9hG4bK" "P" id (8 hex) seq (8 hex) MAC (16 hex): a 'P' where our
 * forwarding branches (route.c) have a hex digit, so they never mix. */
#define HEALTH_BRANCH_PREFIX	"z9hG4bKP"
#define HEALTH_BRANCH_LEN	(sizeof(HEALTH_BRANCH_PREFIX) - 1 + 32)

/* The MAC key of probe branches, from the branch key (SPEC §7). */
void	health_branch_key(const uint8_t branch_key[SIPHASH_KEY_LEN],
	    uint8_t key[SIPHASH_KEY_LEN]);
/* The branch for probe seq of member id into out (HEALTH_BRANCH_LEN + 1
 * bytes, NUL-terminated). */
void	health_branch(const uint8_t key[SIPHASH_KEY_LEN], uint32_t id,
	    uint32_t seq, char *out);
/* Cheap: whether b looks like a probe branch (prefix and length). */
bool	health_is_probe_branch(struct slice b);
/* Whether b is a probe branch made with key: *id and *seq then set.
 * Constant-time MAC comparison. */
bool	health_branch_verify(const uint8_t key[SIPHASH_KEY_LEN],
	    struct slice b, uint32_t *id, uint32_t *seq);

/* Monotonic microseconds. */
uint64_t	health_now_us(void);

#endif
