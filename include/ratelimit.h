/* ratelimit.h: per-source token buckets with bans (SPEC §6), in a fixed
 * amount of memory however many addresses a flood spoofs. Shared by the
 * workers; the clock is passed in so that tests drive it. */
#ifndef USHER_RATELIMIT_H
#define USHER_RATELIMIT_H

#include <sys/types.h>
#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

enum ratelimit_verdict {
	RATELIMIT_PASS = 0,
	RATELIMIT_RATE,		/* over the rate: drop this request */
	RATELIMIT_BANNED,	/* banned for ban_time: drop */
};

struct ratelimit;

/*
 * A table of about slots sources (rounded up to a whole number of sets of
 * 8; 8 or fewer makes one set, which tests use to make every source
 * collide). Its index is keyed with 128 random bits from getrandom(2).
 * NULL when out of memory or without randomness.
 */
struct ratelimit	*ratelimit_new(size_t slots);
void			 ratelimit_free(struct ratelimit *rl);

/*
 * Count one request from sa (IPv4 address, or IPv6 /64) at now_ms
 * (monotonic milliseconds). The bucket holds one second's worth of rate;
 * a source that goes over in 3 consecutive seconds is banned for ban_time
 * seconds. When a set is full the least recently seen source of the set
 * that is not banned is forgotten; a banned one stays until its ban ends.
 * When every source of the set is banned, a new one passes untracked.
 */
enum ratelimit_verdict	 ratelimit_check(struct ratelimit *rl,
			    const struct sockaddr *sa, unsigned rate,
			    unsigned ban_time, uint64_t now_ms);

#endif
