/* test_group.c: group_choose and group_rank (SPEC §8): the same Call-ID
 * gets the same member, a member that goes away moves only its share,
 * weights split the calls, priority tiers, drain, the rank of a 302. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "group.h"
#include "hash.h"
#include "health.h"
#include "metrics.h"
#include "slice.h"

#define NCALLS	10000

static const uint8_t key[16] = "0123456789abcdef";

struct fixture {
	struct conf_group	 g;
	struct group_member	 m[GROUP_MAX_MEMBERS];
	struct member_health	 h[GROUP_MAX_MEMBERS];
	char			 t[GROUP_MAX_MEMBERS][48];
};

static void
fixture(struct fixture *f, size_t n, const unsigned *prio,
    const unsigned *weight)
{
	size_t i;

	memset(f, 0, sizeof(*f));
	for (i = 0; i < n; i++) {
		snprintf(f->t[i], sizeof(f->t[i]), "sip:10.0.0.%zu:5060",
		    i + 1);
		f->m[i].target = f->t[i];
		f->m[i].priority = prio ? prio[i] : 1;
		f->m[i].weight = weight ? weight[i] : 1;
		f->m[i].key = hash_final(hash_bytes(HASH_SEED, f->t[i],
		    strlen(f->t[i])));
		f->m[i].health = &f->h[i];
		atomic_init(&f->h[i].up, true);
		atomic_init(&f->h[i].drained, false);
	}
	f->g.name = "g";
	f->g.members = f->m;
	f->g.nmembers = n;
	f->g.interval = 5;
}

static struct slice
callid(size_t i, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%zx-%zu@host%zu.example.com", i * 7919,
	    i, i % 13);

	return slice_make(buf, (size_t)n);
}

static int
choose(const struct fixture *f, size_t i)
{
	char buf[64];

	return group_choose(&f->g, callid(i, buf, sizeof(buf)), key);
}

static void
test_same_callid_same_member(void **state)
{
	static struct fixture f;
	char buf[64];
	struct slice c;
	size_t i;
	int a;

	(void)state;
	fixture(&f, 8, NULL, NULL);
	for (i = 0; i < 1000; i++) {
		c = callid(i, buf, sizeof(buf));
		a = group_choose(&f.g, c, key);
		assert_in_range(a, 0, 7);
		assert_int_equal(group_choose(&f.g, c, key), a);
	}
}

/* Only the share of a member that goes down moves, and it comes back. */
static void
test_down_moves_only_its_share(void **state)
{
	static struct fixture f;
	static int before[NCALLS];
	size_t i, moved = 0, on2 = 0;
	int now;

	(void)state;
	fixture(&f, 4, NULL, NULL);
	for (i = 0; i < NCALLS; i++)
		before[i] = choose(&f, i);
	atomic_store(&f.h[2].up, false);
	for (i = 0; i < NCALLS; i++) {
		now = choose(&f, i);
		assert_int_not_equal(now, 2);
		if (before[i] == 2)
			on2++;
		else if (now != before[i])
			moved++;
	}
	assert_int_equal(moved, 0);
	/* Its share was about a quarter. */
	assert_in_range(on2, NCALLS / 4 - NCALLS / 50, NCALLS / 4 + NCALLS / 50);
	/* Drained is the same as down; both back: every call as before. */
	atomic_store(&f.h[2].up, true);
	atomic_store(&f.h[1].drained, true);
	for (i = 0; i < NCALLS; i++) {
		now = choose(&f, i);
		assert_int_not_equal(now, 1);
		if (before[i] != 1)
			assert_int_equal(now, before[i]);
	}
	atomic_store(&f.h[1].drained, false);
	for (i = 0; i < NCALLS; i++)
		assert_int_equal(choose(&f, i), before[i]);
}

/* A member added takes calls only for itself. */
static void
test_added_member_takes_only_its_share(void **state)
{
	static struct fixture f;
	static int before[NCALLS];
	size_t i, to_new = 0;
	int now;

	(void)state;
	fixture(&f, 5, NULL, NULL);
	f.g.nmembers = 4;
	for (i = 0; i < NCALLS; i++)
		before[i] = choose(&f, i);
	f.g.nmembers = 5;
	for (i = 0; i < NCALLS; i++) {
		now = choose(&f, i);
		if (now == 4)
			to_new++;
		else
			assert_int_equal(now, before[i]);
	}
	assert_in_range(to_new, NCALLS / 5 - NCALLS / 50,
	    NCALLS / 5 + NCALLS / 50);
}

/* Weights 2:1 split 2/3 : 1/3 within 2 %, and 1:1:... evenly. */
static void
test_weights_split(void **state)
{
	static const unsigned w21[] = { 2, 1 };
	static const unsigned w[] = { 1, 2, 3, 4 };
	static struct fixture f;
	size_t i, n[4] = { 0 };
	const size_t calls = 30000;

	(void)state;
	fixture(&f, 2, NULL, w21);
	for (i = 0; i < calls; i++)
		n[choose(&f, i)]++;
	assert_in_range(n[0] * 1000 / calls, 667 - 20, 667 + 20);
	fixture(&f, 4, NULL, w);
	memset(n, 0, sizeof(n));
	for (i = 0; i < calls; i++)
		n[choose(&f, i)]++;
	for (i = 0; i < 4; i++)
		assert_in_range(n[i] * 1000 / calls, (i + 1) * 100 - 20,
		    (i + 1) * 100 + 20);
}

/* Priority 2 only when every priority 1 member is unusable. */
static void
test_priority_tiers(void **state)
{
	static const unsigned prio[] = { 2, 1, 1, 3 };
	static struct fixture f;
	size_t i;
	int a;

	(void)state;
	fixture(&f, 4, prio, NULL);
	for (i = 0; i < 1000; i++) {
		a = choose(&f, i);
		assert_true(a == 1 || a == 2);
	}
	atomic_store(&f.h[1].drained, true);
	for (i = 0; i < 1000; i++)
		assert_int_equal(choose(&f, i), 2);
	atomic_store(&f.h[2].up, false);
	for (i = 0; i < 1000; i++)
		assert_int_equal(choose(&f, i), 0);
	atomic_store(&f.h[0].up, false);
	for (i = 0; i < 100; i++)
		assert_int_equal(choose(&f, i), 3);
	atomic_store(&f.h[3].drained, true);
	assert_int_equal(choose(&f, 0), -1);
}

/* Without health bound (-t, -T): every member is up. */
static void
test_no_health_is_up(void **state)
{
	static struct fixture f;
	size_t i;

	(void)state;
	fixture(&f, 3, NULL, NULL);
	for (i = 0; i < 3; i++) {
		f.m[i].health = NULL;
		assert_true(group_member_usable(&f.m[i]));
	}
	assert_true(choose(&f, 1) >= 0);
	/* An empty Call-ID (never routed: 400 first) still chooses. */
	assert_true(group_choose(&f.g, slice_make(NULL, 0), key) >= 0);
}

/* The key matters: another branch_secret, another spread. */
static void
test_keyed(void **state)
{
	static const uint8_t other[16] = "fedcba9876543210";
	static struct fixture f;
	char buf[64];
	size_t i, differ = 0;
	struct slice c;

	(void)state;
	fixture(&f, 4, NULL, NULL);
	for (i = 0; i < 1000; i++) {
		c = callid(i, buf, sizeof(buf));
		if (group_choose(&f.g, c, key) != group_choose(&f.g, c, other))
			differ++;
	}
	assert_in_range(differ, 650, 850);	/* about 3/4 */
}

static void
test_rank(void **state)
{
	static const unsigned prio[] = { 2, 1, 1, 1, 3 };
	static const unsigned w[] = { 1, 5, 1, 1, 1 };
	static struct fixture f;
	int order[GROUP_MAX_MEMBERS];
	unsigned q[GROUP_MAX_MEMBERS];
	char buf[64];
	struct slice c;
	size_t i, j, n;

	(void)state;
	fixture(&f, 5, prio, w);
	for (i = 0; i < 500; i++) {
		c = callid(i, buf, sizeof(buf));
		n = group_rank(&f.g, c, key, order, q);
		assert_int_equal(n, 5);
		assert_int_equal(order[0], group_choose(&f.g, c, key));
		for (j = 1; j < n; j++)
			assert_true(f.m[order[j - 1]].priority <=
			    f.m[order[j]].priority);
		assert_int_equal(order[3], 0);	/* priority 2 */
		assert_int_equal(order[4], 4);	/* priority 3 */
		assert_int_equal(q[0], 1000);
		assert_int_equal(q[4], 600);
	}
	atomic_store(&f.h[1].up, false);
	atomic_store(&f.h[4].drained, true);
	c = callid(1, buf, sizeof(buf));
	n = group_rank(&f.g, c, key, order, NULL);
	assert_int_equal(n, 3);
	assert_int_equal(order[2], 0);
	for (j = 0; j < n; j++)
		assert_true(order[j] != 1 && order[j] != 4);
	for (i = 0; i < 5; i++)
		atomic_store(&f.h[i].up, false);
	assert_int_equal(group_rank(&f.g, c, key, order, q), 0);

	/* 64 members: q never below 0.1. */
	fixture(&f, GROUP_MAX_MEMBERS, NULL, NULL);
	n = group_rank(&f.g, c, key, order, q);
	assert_int_equal(n, GROUP_MAX_MEMBERS);
	assert_int_equal(q[8], 200);
	assert_int_equal(q[9], 100);
	assert_int_equal(q[63], 100);
}

/* usher_member_* (SPEC §8) from the members' health; none bound: up. */
static void
test_metrics(void **state)
{
	static struct fixture f;
	static char buf[64 * 1024];
	struct metrics_gauges g;
	ssize_t n;

	(void)state;
	fixture(&f, 2, NULL, NULL);
	f.t[1][4] = '"';	/* a quote in a label value is escaped */
	atomic_store(&f.h[0].up, false);
	atomic_store(&f.h[0].requests, 42);
	atomic_store(&f.h[0].to_down, 3);
	atomic_store(&f.h[0].to_up, 2);
	atomic_store(&f.h[0].rtt_us, 1500);
	atomic_store(&f.h[1].drained, true);
	memset(&g, 0, sizeof(g));
	g.groups = &f.g;
	g.ngroups = 1;
	n = metrics_render(NULL, 0, &g, buf, sizeof(buf));
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "# TYPE usher_member_up gauge\n"
	    "usher_member_up{group=\"g\",member=\"sip:10.0.0.1:5060\"} 0\n"
	    "usher_member_up{group=\"g\",member=\"sip:\\\"0.0.0.2:5060\"} 1\n"));
	assert_non_null(strstr(buf, "usher_member_drained{group=\"g\",member="
	    "\"sip:\\\"0.0.0.2:5060\"} 1\n"));
	assert_non_null(strstr(buf, "usher_member_requests_total{group=\"g\","
	    "member=\"sip:10.0.0.1:5060\"} 42\n"));
	assert_non_null(strstr(buf, "usher_member_transitions_total{group="
	    "\"g\",member=\"sip:10.0.0.1:5060\",to=\"up\"} 2\n"
	    "usher_member_transitions_total{group=\"g\",member=\"sip:10.0.0.1:"
	    "5060\",to=\"down\"} 3\n"));
	assert_non_null(strstr(buf, "usher_member_probe_rtt_seconds{group="
	    "\"g\",member=\"sip:10.0.0.1:5060\"} 0.001500\n"));
	f.m[0].health = NULL;
	n = metrics_render(NULL, 0, &g, buf, sizeof(buf));
	buf[n] = '\0';
	assert_non_null(strstr(buf, "usher_member_up{group=\"g\",member="
	    "\"sip:10.0.0.1:5060\"} 1\n"));
	/* Too small a buffer: -1, never a cut text. */
	assert_int_equal(metrics_render(NULL, 0, &g, buf, (size_t)n - 10), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_callid_same_member),
		cmocka_unit_test(test_down_moves_only_its_share),
		cmocka_unit_test(test_added_member_takes_only_its_share),
		cmocka_unit_test(test_weights_split),
		cmocka_unit_test(test_priority_tiers),
		cmocka_unit_test(test_no_health_is_up),
		cmocka_unit_test(test_keyed),
		cmocka_unit_test(test_rank),
		cmocka_unit_test(test_metrics),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
