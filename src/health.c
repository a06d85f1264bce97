/* health.c: the registry of PBX group members' states, their transitions
 * and the MAC'd branches of probes (SPEC §8). No sockets: probe.c sends. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "health.h"
#include "log.h"
#include "siphash.h"

/*
 * Every state ever bound and not yet freed, in one list. bind is rare (a
 * load) and so are lookups by probe id (a probe answer): one mutex. The
 * request path never comes here: it reads member->health's atomics.
 *
 * A state that leaves the configuration may still be read by a worker that
 * holds the previous conf (until transport_wake() reaches it) or by a probe
 * or answer under way: it is retired, and freed only at a bind at least two
 * binds later and HEALTH_RETIRE_S seconds after, when no conf that names it
 * can be held any more (workers take the published conf on every message
 * and on every wake-up). Should it come back meanwhile, it is taken back
 * with its state.
 */
static pthread_mutex_t		 reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct member_health	*reg;
static unsigned			 reg_gen;
static uint32_t			 reg_next_id = 1;
static uint64_t			 retire_us = (uint64_t)HEALTH_RETIRE_S * 1000000;

void
health_set_retire_us(uint64_t us)
{
	retire_us = us;
}

uint64_t
health_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static struct member_health *
reg_find(const char *group, const char *target)
{
	struct member_health *h;

	for (h = reg; h != NULL; h = h->next)
		if (strcmp(h->group, group) == 0 &&
		    strcmp(h->target, target) == 0)
			return h;
	return NULL;
}

static struct member_health *
health_new(const char *group, const char *target)
{
	struct member_health *h;
	size_t gl = strlen(group), tl = strlen(target);
	/* aligned_alloc wants a multiple of the alignment. */
	size_t size = (sizeof(*h) + gl + 1 + tl + 1 + HEALTH_LINE - 1) &
	    ~(size_t)(HEALTH_LINE - 1);

	if ((h = aligned_alloc(HEALTH_LINE, size)) == NULL)
		return NULL;
	memset(h, 0, size);
	atomic_init(&h->up, true);
	atomic_init(&h->drained, false);
	atomic_init(&h->fails, 0);
	atomic_init(&h->oks, 0);
	atomic_init(&h->requests, 0);
	atomic_init(&h->to_up, 0);
	atomic_init(&h->to_down, 0);
	atomic_init(&h->rtt_us, 0);
	pthread_mutex_init(&h->mu, NULL);
	h->id = reg_next_id++;
	if (reg_next_id == 0)
		reg_next_id = 1;
	memcpy(h->names, group, gl + 1);
	memcpy(h->names + gl + 1, target, tl + 1);
	h->group = h->names;
	h->target = h->names + gl + 1;
	h->next = reg;
	reg = h;
	return h;
}

static void
health_free(struct member_health *h)
{
	pthread_mutex_destroy(&h->mu);
	free(h);
}

void
health_bind_begin(void)
{
	pthread_mutex_lock(&reg_mu);
	reg_gen++;
}

struct member_health *
health_bind_member(const char *group, const char *target)
{
	struct member_health *h;

	if ((h = reg_find(group, target)) == NULL &&
	    (h = health_new(group, target)) == NULL)
		return NULL;
	h->bound_gen = reg_gen;
	h->retired_us = 0;
	return h;
}

void
health_bind_end(void)
{
	struct member_health *h, **hp;
	uint64_t now = health_now_us();

	/* Retire what this load does not name; free what retired long
	 * enough ago (see above). */
	for (hp = &reg; (h = *hp) != NULL;) {
		if (h->bound_gen == reg_gen) {
			hp = &h->next;
			continue;
		}
		if (h->retired_us == 0)
			h->retired_us = now;
		if (reg_gen - h->bound_gen >= 2 &&
		    now - h->retired_us >= retire_us) {
			*hp = h->next;
			health_free(h);
			continue;
		}
		hp = &h->next;
	}
	pthread_mutex_unlock(&reg_mu);
}

void
health_fini(void)
{
	struct member_health *h;

	pthread_mutex_lock(&reg_mu);
	while ((h = reg) != NULL) {
		reg = h->next;
		health_free(h);
	}
	pthread_mutex_unlock(&reg_mu);
}

size_t
health_count(void)
{
	struct member_health *h;
	size_t n = 0;

	pthread_mutex_lock(&reg_mu);
	for (h = reg; h != NULL; h = h->next)
		n++;
	pthread_mutex_unlock(&reg_mu);
	return n;
}

/* ---- transitions ---- */

enum health_change
health_step(struct health_state *s, bool ok, unsigned down_after,
    unsigned up_after)
{
	if (down_after == 0)
		down_after = 1;
	if (up_after == 0)
		up_after = 1;
	if (ok) {
		s->fails = 0;
		if (s->oks < up_after)
			s->oks++;
		if (!s->up && s->oks >= up_after) {
			s->up = true;
			return HEALTH_WENT_UP;
		}
		return HEALTH_SAME;
	}
	s->oks = 0;
	if (s->fails < down_after)
		s->fails++;
	if (s->up && s->fails >= down_after) {
		s->up = false;
		return HEALTH_WENT_DOWN;
	}
	return HEALTH_SAME;
}

enum health_change
health_report(struct member_health *h, bool ok, const char *cause,
    unsigned down_after, unsigned up_after)
{
	struct health_state s;
	enum health_change c;

	pthread_mutex_lock(&h->mu);
	s.up = atomic_load(&h->up);
	s.fails = atomic_load(&h->fails);
	s.oks = atomic_load(&h->oks);
	c = health_step(&s, ok, down_after, up_after);
	atomic_store(&h->fails, s.fails);
	atomic_store(&h->oks, s.oks);
	atomic_store(&h->up, s.up);
	if (c == HEALTH_WENT_DOWN)
		atomic_fetch_add(&h->to_down, 1);
	else if (c == HEALTH_WENT_UP)
		atomic_fetch_add(&h->to_up, 1);
	pthread_mutex_unlock(&h->mu);
	if (c == HEALTH_WENT_DOWN)
		log_warnx("member %s of group %s down: %s", h->target,
		    h->group, cause != NULL ? cause : "failed");
	else if (c == HEALTH_WENT_UP)
		log_info("member %s of group %s up", h->target, h->group);
	else if (!ok)
		log_debug("member %s of group %s: %s", h->target, h->group,
		    cause != NULL ? cause : "failed");
	return c;
}

/* ---- probe branches ---- */

#define PREFIX_LEN	(sizeof(HEALTH_BRANCH_PREFIX) - 1)

static const char hexd[] = "0123456789abcdef";

static char *
put_hex(char *p, uint64_t v, int digits)
{
	int i;

	for (i = digits - 1; i >= 0; i--)
		*p++ = hexd[(v >> (4 * i)) & 15];
	return p;
}

static bool
get_hex(const char *p, int digits, uint64_t *v)
{
	uint64_t x = 0;
	int i, d;

	for (i = 0; i < digits; i++) {
		char c = p[i];

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else
			return false;
		x = x << 4 | (uint64_t)d;
	}
	*v = x;
	return true;
}

void
health_branch_key(const uint8_t branch_key[SIPHASH_KEY_LEN],
    uint8_t key[SIPHASH_KEY_LEN])
{
	siphash_derive_key(branch_key, SIPHASH_KEY_LEN, "usher probe branch",
	    key);
}

static uint64_t
branch_mac(const uint8_t key[SIPHASH_KEY_LEN], uint32_t id, uint32_t seq)
{
	uint8_t b[8];

	b[0] = (uint8_t)(id >> 24);
	b[1] = (uint8_t)(id >> 16);
	b[2] = (uint8_t)(id >> 8);
	b[3] = (uint8_t)id;
	b[4] = (uint8_t)(seq >> 24);
	b[5] = (uint8_t)(seq >> 16);
	b[6] = (uint8_t)(seq >> 8);
	b[7] = (uint8_t)seq;
	return siphash24(key, b, sizeof(b));
}

void
health_branch(const uint8_t key[SIPHASH_KEY_LEN], uint32_t id, uint32_t seq,
    char *out)
{
	char *p = out;

	memcpy(p, HEALTH_BRANCH_PREFIX, PREFIX_LEN);
	p += PREFIX_LEN;
	p = put_hex(p, id, 8);
	p = put_hex(p, seq, 8);
	p = put_hex(p, branch_mac(key, id, seq), 16);
	*p = '\0';
}

bool
health_is_probe_branch(struct slice b)
{
	return b.len == HEALTH_BRANCH_LEN &&
	    memcmp(b.p, HEALTH_BRANCH_PREFIX, PREFIX_LEN) == 0;
}

bool
health_branch_verify(const uint8_t key[SIPHASH_KEY_LEN], struct slice b,
    uint32_t *id, uint32_t *seq)
{
	char want[16];
	uint64_t i, s;
	unsigned diff = 0;
	size_t k;

	if (!health_is_probe_branch(b) ||
	    !get_hex(b.p + PREFIX_LEN, 8, &i) ||
	    !get_hex(b.p + PREFIX_LEN + 8, 8, &s))
		return false;
	put_hex(want, branch_mac(key, (uint32_t)i, (uint32_t)s), 16);
	/* No early exit: the time taken tells nothing of a guess. */
	for (k = 0; k < sizeof(want); k++)
		diff |= (unsigned char)(b.p[PREFIX_LEN + 16 + k] ^ want[k]);
	if (diff != 0)
		return false;
	*id = (uint32_t)i;
	*seq = (uint32_t)s;
	return true;
}
