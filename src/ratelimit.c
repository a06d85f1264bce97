/* ratelimit.c: set-associative table of token buckets, lock per set. */
#include <sys/types.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ratelimit.h"
#include "siphash.h"

#define WAYS		8
#define STREAK_BAN	3	/* consecutive seconds over the rate */

struct bucket {
	uint8_t		 key[16];	/* v4 address, or v6 /64; 0: free */
	uint8_t		 keylen;
	uint8_t		 streak;	/* consecutive seconds over */
	uint64_t	 tokens;	/* in 1/1000 of a request */
	uint64_t	 refill_ms;	/* last refill */
	uint64_t	 over_sec;	/* last second it went over, + 1 */
	uint64_t	 banned_until;	/* ms */
	uint64_t	 seen_ms;
};

struct set {
	pthread_mutex_t	 mu;
	struct bucket	 b[WAYS];
};

struct ratelimit {
	struct set	*sets;
	size_t		 nsets;
	/*
	 * SPEC §7: the set index is keyed, with a key of this process only.
	 * With a plain hash anyone who reads the source picks addresses that
	 * all land in one set and pushes a banned source out of it.
	 */
	uint8_t		 key[SIPHASH_KEY_LEN];
};

struct ratelimit *
ratelimit_new(size_t slots)
{
	struct ratelimit *rl;
	size_t i;

	if ((rl = calloc(1, sizeof(*rl))) == NULL)
		return NULL;
	/* Blocks only before the kernel's pool is first seeded (early boot). */
	if (getrandom(rl->key, sizeof(rl->key), 0) != sizeof(rl->key)) {
		free(rl);
		return NULL;
	}
	rl->nsets = (slots + WAYS - 1) / WAYS;
	if (rl->nsets == 0)
		rl->nsets = 1;
	if ((rl->sets = calloc(rl->nsets, sizeof(*rl->sets))) == NULL) {
		free(rl);
		return NULL;
	}
	for (i = 0; i < rl->nsets; i++)
		pthread_mutex_init(&rl->sets[i].mu, NULL);
	return rl;
}

void
ratelimit_free(struct ratelimit *rl)
{
	size_t i;

	if (rl == NULL)
		return;
	for (i = 0; i < rl->nsets; i++)
		pthread_mutex_destroy(&rl->sets[i].mu);
	free(rl->sets);
	free(rl);
}

/* SPEC §6: an IPv6 source is its /64 (one customer, many addresses). */
static size_t
source_key(const struct sockaddr *sa, uint8_t key[16])
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

	if (sa->sa_family == AF_INET6) {
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			memcpy(key, sin6->sin6_addr.s6_addr + 12, 4);
			return 4;
		}
		memcpy(key, sin6->sin6_addr.s6_addr, 8);
		key[8] = 6;	/* keep a /64 apart from any v4 key */
		return 9;
	}
	memcpy(key, &sin->sin_addr, 4);
	return 4;
}

/*
 * The entry a new source takes: a free one, else the one seen longest ago
 * among those not banned. A ban is never cut short to make room (SPEC §7):
 * were it, a banned source would lift its own ban by sending from a few
 * spoofed addresses of its set.
 *
 * NULL when every way is banned: the new source passes untracked. Refusing
 * it instead would hand whoever can get WAYS spoofed addresses banned in a
 * set the power to shut out every innocent source of that set. Passing
 * gives the newcomer no more than any new address gets anyway (a full
 * bucket), and with the keyed index nobody can aim at one set: filling a
 * set with bans means filling the whole table with them.
 */
static struct bucket *
victim(struct set *s, uint64_t now_ms)
{
	struct bucket *old = NULL;
	int i;

	for (i = 0; i < WAYS; i++) {
		if (s->b[i].keylen == 0)
			return &s->b[i];
		if (s->b[i].banned_until > now_ms)
			continue;
		if (old == NULL || s->b[i].seen_ms < old->seen_ms)
			old = &s->b[i];
	}
	return old;
}

enum ratelimit_verdict
ratelimit_check(struct ratelimit *rl, const struct sockaddr *sa,
    unsigned rate, unsigned ban_time, uint64_t now_ms)
{
	enum ratelimit_verdict v = RATELIMIT_PASS;
	uint8_t key[16] = { 0 };
	size_t len = source_key(sa, key);
	struct set *s;
	struct bucket *b = NULL, *old;
	uint64_t cap = (uint64_t)rate * 1000, sec = now_ms / 1000;
	int i;

	if (rate == 0)
		return RATELIMIT_PASS;
	s = &rl->sets[siphash24(rl->key, key, len) % rl->nsets];
	pthread_mutex_lock(&s->mu);
	for (i = 0; i < WAYS; i++) {
		if (s->b[i].keylen == len && memcmp(s->b[i].key, key, len) == 0) {
			b = &s->b[i];
			break;
		}
	}
	if (b == NULL) {
		if ((old = victim(s, now_ms)) == NULL)
			goto out;	/* untracked: see victim() */
		b = old;
		memset(b, 0, sizeof(*b));
		memcpy(b->key, key, len);
		b->keylen = (uint8_t)len;
		b->tokens = cap;
		b->refill_ms = now_ms;
	}
	b->seen_ms = now_ms;
	if (b->banned_until > now_ms) {
		v = RATELIMIT_BANNED;
		goto out;
	}
	if (now_ms > b->refill_ms) {
		b->tokens += (now_ms - b->refill_ms) * rate;
		if (b->tokens > cap)
			b->tokens = cap;
		b->refill_ms = now_ms;
	}
	if (b->tokens >= 1000) {
		b->tokens -= 1000;
		goto out;
	}
	v = RATELIMIT_RATE;
	if (b->over_sec != sec + 1) {	/* first time over this second */
		b->streak = b->over_sec == sec && b->streak > 0 ?
		    b->streak + 1 : 1;
		b->over_sec = sec + 1;
		if (b->streak >= STREAK_BAN) {
			b->banned_until = now_ms + (uint64_t)ban_time * 1000;
			b->streak = 0;
			v = RATELIMIT_BANNED;
		}
	}
out:
	pthread_mutex_unlock(&s->mu);
	return v;
}
