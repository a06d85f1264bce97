/* group.c: the choice of a PBX group member for a request (SPEC §8):
 * priority tier, then weighted rendezvous hashing of the Call-ID. */
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "group.h"
#include "health.h"
#include "siphash.h"
#include "slice.h"

bool
group_member_usable(const struct group_member *m)
{
	const struct member_health *h = m->health;

	/* No health bound (-t, -T, unit tests): up, not drained. */
	if (h == NULL)
		return true;
	return atomic_load_explicit(&h->up, memory_order_relaxed) &&
	    !atomic_load_explicit(&h->drained, memory_order_relaxed);
}

/* The Call-ID under the branch key: every instance of a fleet with one
 * branch_secret gets the same value, nobody without it can aim calls at
 * one member. */
static uint64_t
callid_hash(struct slice callid, const uint8_t key[16])
{
	return siphash24(key, callid.p, callid.len);
}

/* A member's own uniform 64 bits for this call: murmur3's finaliser of
 * the call's hash and the member's key, cheap and well mixed. */
static inline uint64_t
mix(uint64_t c, uint64_t k)
{
	uint64_t x = c ^ k;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/*
 * -log2(u) for u = (x | 1) / 2^64 in (0, 1): an exponential variable when
 * x is uniform. Weighted rendezvous (Schindelhauer and Schomaker) takes the
 * member with the smallest -ln(u) / weight; log2 orders alike. The exponent
 * comes from the leading zeros, the mantissa's log2 from a polynomial
 * (error about 1e-4, monotonic on [1, 2)): no libm call per member.
 */
static inline double
neg_log2_unit(uint64_t x)
{
	int n = __builtin_clzll(x | 1);
	uint64_t m = (x | 1) << n;	/* top bit set */
	double f = (double)(m >> 11) * 0x1p-52;	/* in [1, 2) */
	double l;

	l = -1.7417939 + (2.8212026 + (-1.4699568 + (0.44717955 -
	    0.056570851 * f) * f) * f) * f;
	return (double)(n + 1) - l;
}

/* Is score a / weight wa better (smaller) than b / wb? */
static inline bool
is_better(double a, unsigned wa, double b, unsigned wb)
{
	return a * wb < b * wa;
}

int
group_choose(const struct conf_group *g, struct slice callid,
    const uint8_t key[16])
{
	const struct group_member *m;
	unsigned prio = 0, bw = 1;
	double bs = 0, s;
	uint64_t c = 0;
	bool hashed = false;
	size_t i;
	int best = -1;

	for (i = 0; i < g->nmembers; i++) {
		m = &g->members[i];
		if (!group_member_usable(m))
			continue;
		if (best >= 0 && m->priority > prio)
			continue;
		if (!hashed) {
			c = callid_hash(callid, key);
			hashed = true;
		}
		s = neg_log2_unit(mix(c, m->key));
		if (best < 0 || m->priority < prio ||
		    is_better(s, m->weight, bs, bw)) {
			best = (int)i;
			prio = m->priority;
			bs = s;
			bw = m->weight;
		}
	}
	return best;
}

size_t
group_rank(const struct conf_group *g, struct slice callid,
    const uint8_t key[16], int *order, unsigned *q)
{
	double score[GROUP_MAX_MEMBERS];
	const struct group_member *a, *b;
	uint64_t c = callid_hash(callid, key);
	size_t i, j, n = 0;
	int t;

	for (i = 0; i < g->nmembers && i < GROUP_MAX_MEMBERS; i++) {
		if (!group_member_usable(&g->members[i]))
			continue;
		score[i] = neg_log2_unit(mix(c, g->members[i].key));
		/* Insertion sort: 64 members at most, once per 302. */
		for (j = n; j > 0; j--) {
			t = order[j - 1];
			a = &g->members[t];
			b = &g->members[i];
			if (a->priority < b->priority ||
			    (a->priority == b->priority &&
			    !is_better(score[i], b->weight, score[t],
			    a->weight)))
				break;
			order[j] = t;
		}
		order[j] = (int)i;
		n++;
	}
	if (q != NULL)
		for (i = 0; i < n; i++)
			q[i] = i < 9 ? 1000 - 100 * (unsigned)i : 100;
	return n;
}
