/* test_health.c: member state transitions, probe branches (MAC, member,
 * sequence) and the registry keeping states across binds (SPEC §8). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "group.h"
#include "health.h"
#include "probe.h"

/* One row: a state, a result, the counts, what it becomes. */
static const struct {
	bool		 up;
	unsigned	 fails, oks;
	bool		 ok;
	unsigned	 down_after, up_after;
	bool		 up_after_step;
	unsigned	 fails_after, oks_after;
	enum health_change change;
} steps[] = {
	/* up: failures count, the down_after-th takes it down */
	{ true, 0, 0, false, 2, 2, true, 1, 0, HEALTH_SAME },
	{ true, 1, 0, false, 2, 2, false, 2, 0, HEALTH_WENT_DOWN },
	{ true, 0, 0, false, 1, 2, false, 1, 0, HEALTH_WENT_DOWN },
	{ true, 2, 0, false, 3, 2, false, 3, 0, HEALTH_WENT_DOWN },
	/* a success in between starts the count again */
	{ true, 1, 0, true, 2, 2, true, 0, 1, HEALTH_SAME },
	{ true, 0, 1, false, 2, 2, true, 1, 0, HEALTH_SAME },
	/* down: successes count, the up_after-th brings it up */
	{ false, 2, 0, true, 2, 2, false, 0, 1, HEALTH_SAME },
	{ false, 0, 1, true, 2, 2, true, 0, 2, HEALTH_WENT_UP },
	{ false, 0, 0, true, 2, 1, true, 0, 1, HEALTH_WENT_UP },
	{ false, 0, 1, false, 2, 2, false, 1, 0, HEALTH_SAME },
	/* down stays down however many failures; counts stay bounded */
	{ false, 2, 0, false, 2, 2, false, 2, 0, HEALTH_SAME },
	/* up stays up on success */
	{ true, 0, 2, true, 2, 2, true, 0, 2, HEALTH_SAME },
	/* 0 counts as 1 */
	{ true, 0, 0, false, 0, 0, false, 1, 0, HEALTH_WENT_DOWN },
	{ false, 0, 0, true, 0, 0, true, 0, 1, HEALTH_WENT_UP },
};

static void
test_steps(void **state)
{
	struct health_state s;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		s.up = steps[i].up;
		s.fails = steps[i].fails;
		s.oks = steps[i].oks;
		assert_int_equal(health_step(&s, steps[i].ok,
		    steps[i].down_after, steps[i].up_after), steps[i].change);
		assert_int_equal(s.up, steps[i].up_after_step);
		assert_int_equal(s.fails, steps[i].fails_after);
		assert_int_equal(s.oks, steps[i].oks_after);
	}
}

/* A flapping member: down only after down_after in a row. */
static void
test_sequence(void **state)
{
	struct health_state s = { true, 0, 0 };
	static const bool in[] = { 0, 1, 0, 1, 0, 0, 1, 1, 0, 1, 1 };
	static const bool up[] = { 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(in); i++) {
		health_step(&s, in[i], 2, 2);
		assert_int_equal(s.up, up[i]);
	}
}

static void
test_report(void **state)
{
	struct conf_group g;
	struct group_member m[1];
	struct member_health *h;

	(void)state;
	memset(&g, 0, sizeof(g));
	memset(m, 0, sizeof(m));
	m[0].target = "sip:10.0.0.1:5060";
	g.name = "r";
	g.members = m;
	g.nmembers = 1;
	assert_int_equal(probe_bind(&g, 1), 0);
	h = m[0].health;
	assert_non_null(h);
	assert_true(atomic_load(&h->up));
	assert_int_equal(health_report(h, false, "timeout", 2, 2), HEALTH_SAME);
	assert_int_equal(health_report(h, false, "timeout", 2, 2),
	    HEALTH_WENT_DOWN);
	assert_false(atomic_load(&h->up));
	assert_int_equal(atomic_load(&h->to_down), 1);
	assert_int_equal(health_report(h, true, NULL, 2, 2), HEALTH_SAME);
	assert_int_equal(health_report(h, true, NULL, 2, 2), HEALTH_WENT_UP);
	assert_int_equal(atomic_load(&h->to_up), 1);
	assert_true(atomic_load(&h->up));
	health_fini();
}

static void
test_branch(void **state)
{
	uint8_t bk[SIPHASH_KEY_LEN], key[SIPHASH_KEY_LEN], other[SIPHASH_KEY_LEN];
	char b[HEALTH_BRANCH_LEN + 1], t[HEALTH_BRANCH_LEN + 1];
	uint32_t id, seq;
	size_t i;

	(void)state;
	memset(bk, 7, sizeof(bk));
	health_branch_key(bk, key);
	bk[0] ^= 1;
	health_branch_key(bk, other);
	assert_memory_not_equal(key, other, sizeof(key));

	health_branch(key, 42, 7, b);
	assert_int_equal(strlen(b), HEALTH_BRANCH_LEN);
	assert_true(health_is_probe_branch(slice_make(b, strlen(b))));
	assert_true(health_branch_verify(key, slice_make(b, strlen(b)), &id,
	    &seq));
	assert_int_equal(id, 42);
	assert_int_equal(seq, 7);
	/* another key (another fleet, another secret) */
	assert_false(health_branch_verify(other, slice_make(b, strlen(b)), &id,
	    &seq));
	/* every single character changed breaks it */
	for (i = 0; i < HEALTH_BRANCH_LEN; i++) {
		memcpy(t, b, sizeof(t));
		t[i] = t[i] == 'a' ? 'b' : 'a';
		assert_false(health_branch_verify(key, slice_make(t,
		    strlen(t)), &id, &seq));
	}
	/* the MAC of member 42 on member 43, and of seq 7 on seq 8 */
	health_branch(key, 43, 7, t);
	memcpy(t + strlen(HEALTH_BRANCH_PREFIX) + 16,
	    b + strlen(HEALTH_BRANCH_PREFIX) + 16, 16);
	assert_false(health_branch_verify(key, slice_make(t, strlen(t)), &id,
	    &seq));
	health_branch(key, 42, 8, t);
	memcpy(t + strlen(HEALTH_BRANCH_PREFIX) + 16,
	    b + strlen(HEALTH_BRANCH_PREFIX) + 16, 16);
	assert_false(health_branch_verify(key, slice_make(t, strlen(t)), &id,
	    &seq));
	/* cut, longer, upper-case hex, our forwarding branches */
	assert_false(health_branch_verify(key, slice_make(b, strlen(b) - 1),
	    &id, &seq));
	assert_false(health_is_probe_branch(slice_make(b, strlen(b) - 1)));
	memcpy(t, b, sizeof(t));
	t[10] = (char)(t[10] >= 'a' ? t[10] - 32 : t[10]);
	if (t[10] != b[10])
		assert_false(health_branch_verify(key, slice_make(t,
		    strlen(t)), &id, &seq));
	assert_false(health_is_probe_branch(slice_make(
	    "z9hG4bK0123456789abcdef.0123456789abcdef0123", 44)));
	assert_false(health_is_probe_branch(SLICE_NULL));
}

static void
test_registry(void **state)
{
	struct conf_group g1[2], g2[2], g3[1];
	struct group_member a[2], b[1], a2[2], b2[2], a3[1];
	struct member_health *ha, *hb, *hb2;

	(void)state;
	memset(g1, 0, sizeof(g1));
	memset(g2, 0, sizeof(g2));
	memset(g3, 0, sizeof(g3));
	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	memset(a2, 0, sizeof(a2));
	memset(b2, 0, sizeof(b2));
	memset(a3, 0, sizeof(a3));
	a[0].target = "sip:10.0.0.1:5060";
	a[1].target = "sip:10.0.0.2:5060";
	b[0].target = "sip:10.0.0.1:5060";	/* same target, other group */
	g1[0].name = "east";
	g1[0].members = a;
	g1[0].nmembers = 2;
	g1[1].name = "west";
	g1[1].members = b;
	g1[1].nmembers = 1;
	assert_int_equal(probe_bind(g1, 2), 0);
	assert_int_equal(health_count(), 3);
	assert_ptr_not_equal(a[0].health, b[0].health);
	assert_int_not_equal(a[0].health->id, b[0].health->id);
	ha = a[0].health;
	hb = a[1].health;
	/* east's first member down, the second drained */
	health_report(ha, false, "x", 1, 1);
	atomic_store(&hb->drained, true);
	atomic_store(&hb->requests, 5);

	/* Reload: east keeps 10.0.0.1, 10.0.0.2 written otherwise (a new
	 * member), west gets a new member. */
	a2[0].target = "sip:10.0.0.1:5060";
	a2[1].target = "sip:10.0.0.2";
	b2[0].target = "sip:10.0.0.1:5060";
	b2[1].target = "sip:10.0.0.3:5060";
	g2[0].name = "east";
	g2[0].members = a2;
	g2[0].nmembers = 2;
	g2[1].name = "west";
	g2[1].members = b2;
	g2[1].nmembers = 2;
	assert_int_equal(probe_bind(g2, 2), 0);
	assert_ptr_equal(a2[0].health, ha);
	assert_false(atomic_load(&a2[0].health->up));	/* kept */
	assert_int_equal(atomic_load(&a2[0].health->to_down), 1);
	assert_ptr_equal(b2[0].health, b[0].health);
	assert_ptr_not_equal(a2[1].health, hb);
	assert_true(atomic_load(&a2[1].health->up));	/* new: up */
	assert_false(atomic_load(&a2[1].health->drained));
	assert_true(atomic_load(&b2[1].health->up));
	/* the retired one is still there (an old conf may read it) */
	assert_int_equal(health_count(), 5);
	assert_true(atomic_load(&hb->drained));

	/* back in the next load: taken back with its state */
	assert_int_equal(probe_bind(g1, 2), 0);
	assert_ptr_equal(a[1].health, hb);
	assert_true(atomic_load(&hb->drained));
	assert_int_equal(atomic_load(&hb->requests), 5);
	assert_int_equal(a[1].health->id, hb->id);

	/* Retired states are freed two binds later once old enough. */
	health_set_retire_us(0);
	a3[0].target = "sip:10.0.0.9:5060";
	g3[0].name = "solo";
	g3[0].members = a3;
	g3[0].nmembers = 1;
	/* 10.0.0.2 and west's 10.0.0.3 left two binds ago: freed; the
	 * three of g1 left now: kept */
	assert_int_equal(probe_bind(g3, 1), 0);
	assert_int_equal(health_count(), 4);
	hb2 = a3[0].health;
	assert_int_equal(probe_bind(g3, 1), 0);
	assert_int_equal(health_count(), 1);
	assert_ptr_equal(a3[0].health, hb2);
	/* an empty configuration retires everything */
	assert_int_equal(probe_bind(NULL, 0), 0);
	assert_int_equal(health_count(), 1);
	health_fini();
	assert_int_equal(health_count(), 0);
	health_set_retire_us((uint64_t)HEALTH_RETIRE_S * 1000000);
}

/* A long target gets its state like any other. */
static void
test_bind_long(void **state)
{
	struct conf_group g;
	struct group_member m[1];
	char t[400];

	(void)state;
	memset(&g, 0, sizeof(g));
	memset(m, 0, sizeof(m));
	memset(t, 'a', sizeof(t) - 1);
	t[sizeof(t) - 1] = '\0';
	m[0].target = t;
	g.name = "long";
	g.members = m;
	g.nmembers = 1;
	assert_int_equal(probe_bind(&g, 1), 0);
	assert_non_null(m[0].health);
	assert_string_equal(m[0].health->target, t);
	assert_string_equal(m[0].health->group, "long");
	health_fini();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_steps),
		cmocka_unit_test(test_sequence),
		cmocka_unit_test(test_report),
		cmocka_unit_test(test_branch),
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_bind_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
