/* test_ratelimit.c: token buckets, bans and the eviction rule on the
 * injected clock (now_ms); nothing here reads a real clock. */
#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ratelimit.h"

#define RATE	5
#define BAN	30	/* seconds */
#define T0	100000	/* ms: well clear of 0 */

static struct sockaddr_storage
addr(const char *s)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, s, &sin->sin_addr) == 1)
		sin->sin_family = AF_INET;
	else {
		assert_int_equal(inet_pton(AF_INET6, s, &sin6->sin6_addr), 1);
		sin6->sin6_family = AF_INET6;
	}
	return ss;
}

static enum ratelimit_verdict
check(struct ratelimit *rl, const char *src, uint64_t now_ms)
{
	struct sockaddr_storage ss = addr(src);

	return ratelimit_check(rl, (const struct sockaddr *)&ss, RATE, BAN,
	    now_ms);
}

/* Sends n requests at now_ms; returns how many passed. */
static int
burst(struct ratelimit *rl, const char *src, int n, uint64_t now_ms)
{
	int i, pass = 0;

	for (i = 0; i < n; i++)
		pass += check(rl, src, now_ms) == RATELIMIT_PASS;
	return pass;
}

/* Over the rate in 3 consecutive seconds: banned from the third. */
static void
ban(struct ratelimit *rl, const char *src, uint64_t t)
{
	assert_int_equal(burst(rl, src, RATE + 1, t), RATE);
	assert_int_equal(burst(rl, src, RATE + 1, t + 1000), RATE);
	assert_int_equal(burst(rl, src, RATE, t + 2000), RATE);
	assert_int_equal(check(rl, src, t + 2000), RATELIMIT_BANNED);
}

static void
test_bucket(void **state)
{
	struct ratelimit *rl = ratelimit_new(1024);

	(void)state;
	assert_non_null(rl);
	/* exactly rate pass, rate + 1 is dropped */
	assert_int_equal(burst(rl, "192.0.2.1", RATE, T0), RATE);
	assert_int_equal(check(rl, "192.0.2.1", T0), RATELIMIT_RATE);
	assert_int_equal(check(rl, "192.0.2.1", T0 + 100), RATELIMIT_RATE);
	/* a fifth of a second buys one request at 5/s */
	assert_int_equal(check(rl, "192.0.2.1", T0 + 200), RATELIMIT_PASS);
	assert_int_equal(check(rl, "192.0.2.1", T0 + 200), RATELIMIT_RATE);
	/* a whole second refills the bucket, and no more than that */
	assert_int_equal(burst(rl, "192.0.2.1", RATE + 1, T0 + 5000), RATE);
	/* others have their own bucket */
	assert_int_equal(burst(rl, "192.0.2.2", RATE, T0), RATE);
	/* rate 0: no limit */
	{
		struct sockaddr_storage ss = addr("192.0.2.1");
		assert_int_equal(ratelimit_check(rl,
		    (const struct sockaddr *)&ss, 0, BAN, T0 + 5000),
		    RATELIMIT_PASS);
	}
	ratelimit_free(rl);
	ratelimit_free(NULL);
}

static void
test_ban(void **state)
{
	struct ratelimit *rl = ratelimit_new(1024);

	(void)state;
	assert_non_null(rl);
	/* over in two seconds, then a quiet one: the streak starts again */
	assert_int_equal(burst(rl, "192.0.2.1", RATE + 1, T0), RATE);
	assert_int_equal(burst(rl, "192.0.2.1", RATE + 1, T0 + 1000), RATE);
	assert_int_equal(burst(rl, "192.0.2.1", RATE, T0 + 3000), RATE);
	assert_int_equal(burst(rl, "192.0.2.1", RATE + 1, T0 + 4000), RATE);
	assert_int_equal(burst(rl, "192.0.2.1", RATE + 1, T0 + 5000), RATE);
	assert_int_equal(check(rl, "192.0.2.1", T0 + 5000), RATELIMIT_RATE);
	/* the third second in a row bans */
	ban(rl, "192.0.2.9", T0);
	assert_int_equal(check(rl, "192.0.2.9", T0 + 2000 + BAN * 1000 - 1),
	    RATELIMIT_BANNED);
	/* and the ban ends after ban_time, with a full bucket */
	assert_int_equal(burst(rl, "192.0.2.9", RATE, T0 + 2000 + BAN * 1000),
	    RATE);
	/* a banned source does not ban its neighbours */
	assert_int_equal(check(rl, "192.0.2.10", T0 + 2000), RATELIMIT_PASS);
	ratelimit_free(rl);
}

/* SPEC §6: an IPv6 source is its /64; a v4-mapped address is the v4 one. */
static void
test_ipv6_64(void **state)
{
	struct ratelimit *rl = ratelimit_new(1024);

	(void)state;
	assert_non_null(rl);
	assert_int_equal(burst(rl, "2001:db8:1:2::1", RATE, T0), RATE);
	assert_int_equal(check(rl, "2001:db8:1:2:ffff:ffff:ffff:ffff", T0),
	    RATELIMIT_RATE);
	assert_int_equal(check(rl, "2001:db8:1:3::1", T0), RATELIMIT_PASS);
	assert_int_equal(burst(rl, "198.51.100.7", RATE, T0), RATE);
	assert_int_equal(check(rl, "::ffff:198.51.100.7", T0),
	    RATELIMIT_RATE);
	ratelimit_free(rl);
}

/* One set of 8 ways: every source collides. The least recently seen
 * unbanned one goes. */
static void
test_lru(void **state)
{
	struct ratelimit *rl = ratelimit_new(8);
	char a[32];
	int i;

	(void)state;
	assert_non_null(rl);
	for (i = 1; i <= 8; i++) {	/* .1 seen first, .8 last */
		snprintf(a, sizeof(a), "192.0.2.%d", i);
		assert_int_equal(burst(rl, a, RATE + 1, T0 + i), RATE);
	}
	/* .1 went over at T0 + 1 and is still empty: remembered */
	assert_int_equal(check(rl, "192.0.2.1", T0 + 10), RATELIMIT_RATE);
	/* a ninth source pushes out .2, now the least recently seen */
	assert_int_equal(check(rl, "192.0.2.9", T0 + 11), RATELIMIT_PASS);
	/* ... not .3, still remembered empty */
	assert_int_equal(check(rl, "192.0.2.3", T0 + 12), RATELIMIT_RATE);
	/* .2 comes back as new, with a full bucket */
	assert_int_equal(burst(rl, "192.0.2.2", RATE, T0 + 13), RATE);
	ratelimit_free(rl);
}

/* SPEC §7: a ban cannot be lifted by flooding its set from spoofed
 * addresses. */
static void
test_ban_survives_flood(void **state)
{
	struct ratelimit *rl = ratelimit_new(8);
	uint64_t t = T0 + 2000;
	char a[32];
	int i, pass = 0;

	(void)state;
	assert_non_null(rl);
	ban(rl, "203.0.113.66", T0);
	for (i = 0; i < 1000; i++) {
		snprintf(a, sizeof(a), "10.%d.%d.1", i / 250, i % 250);
		pass += check(rl, a, t + (uint64_t)i) == RATELIMIT_PASS;
	}
	assert_int_equal(pass, 1000);	/* each is new: a full bucket */
	assert_int_equal(check(rl, "203.0.113.66", t + 1000),
	    RATELIMIT_BANNED);
	/* after the ban it is an ordinary, evictable entry again */
	t = T0 + 2000 + BAN * 1000;
	assert_int_equal(check(rl, "203.0.113.66", t), RATELIMIT_PASS);
	ratelimit_free(rl);
}

/* Every way banned: a newcomer passes untracked, the bans stand. */
static void
test_full_of_bans(void **state)
{
	struct ratelimit *rl = ratelimit_new(8);
	uint64_t t = T0 + 2000;
	char a[32];
	int i;

	(void)state;
	assert_non_null(rl);
	for (i = 1; i <= 8; i++) {
		snprintf(a, sizeof(a), "203.0.113.%d", i);
		ban(rl, a, T0);
	}
	/* untracked: never limited, and so never banned either */
	assert_int_equal(burst(rl, "192.0.2.1", 100, t), 100);
	for (i = 1; i <= 8; i++) {
		snprintf(a, sizeof(a), "203.0.113.%d", i);
		assert_int_equal(check(rl, a, t + 1), RATELIMIT_BANNED);
	}
	/* the first ban to end frees a way for the next newcomer */
	t = T0 + 2000 + BAN * 1000;
	assert_int_equal(burst(rl, "192.0.2.1", RATE + 1, t), RATE);
	assert_int_equal(check(rl, "203.0.113.2", t), RATELIMIT_PASS);
	ratelimit_free(rl);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket),
		cmocka_unit_test(test_ban),
		cmocka_unit_test(test_ipv6_64),
		cmocka_unit_test(test_lru),
		cmocka_unit_test(test_ban_survives_flood),
		cmocka_unit_test(test_full_of_bans),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
