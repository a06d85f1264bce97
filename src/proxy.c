/* proxy.c: per message, decide and act; the published configuration. */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "explain.h"
#include "forward.h"
#include "group.h"
#include "hash.h"
#include "health.h"
#include "log.h"
#include "metrics.h"
#include "netaddr.h"
#include "probe.h"
#include "proxy.h"
#include "ratelimit.h"
#include "resolve.h"
#include "route.h"
#include "sipmsg.h"
#include "table.h"
#include "transport.h"

#include <event2/event.h>

/*
 * Host names as next hops (RFC 3263). Names of table targets are resolved
 * before the table is published and then periodically (the published
 * map): a request to them never waits for DNS. Other names (a foreign
 * domain from a trusted source, an in-dialog next hop) go to the resolver
 * thread; the waiting request is copied and processed again in its worker
 * once the answer is in, and the answer is kept in a small per-worker
 * cache. The event loop never blocks on DNS.
 */
#define RATELIMIT_SOURCES	65536	/* sources remembered, ~4 MB */

#define DNS_SLOTS	256

struct dns_slot {
	char			 host[RESOLVE_HOST_MAX];
	enum resolve_kind	 kind;
	struct resolve_answer	 a;
	time_t			 expires;
};

/* A request waiting for its next hop's address. */
struct dns_wait {
	struct resolve_job	 job;
	struct worker		*w;
	struct dns_wait		*next;
	struct tp_source	 src;
	size_t			 len;
	char			 msg[];
};

struct proxy_dns {
	struct resolve_map	*map;		/* held, renewed with pw->conf */
	struct event		*ev;		/* answers are waiting */
	pthread_mutex_t		 mu;
	struct dns_wait		*done;		/* answered, newest first */
	const struct dns_wait	*fresh;		/* the one processed now */
	struct dns_slot		 slot[DNS_SLOTS];
};

/*
 * What proxy keeps per worker, behind w->ctx (the transport's worker knows
 * it only as a pointer). What goes out is built in out (TRANSPORT_UDP_MAX,
 * made once): a 64 KB array per call made frames of 66 to 104 KB.
 */
struct proxy_worker {
	struct conf		*conf;		/* held reference */
	unsigned		 conf_gen;
	struct proxy_dns	*dns;		/* resolver and cache */
	char			*out;		/* reply or forwarded message */
	char			*out503;	/* proxy_undeliverable's 503 */
	struct sipmsg		 m_dns;		/* a request that waited */
	struct sipmsg		 m_und, r_und;	/* proxy_undeliverable */
	struct event		*probe_ev;	/* probe_tick, PROBE_TICK_MS */
};

static inline struct proxy_worker *
pw_of(struct worker *w)
{
	return w->ctx;
}

/* The rate table (SPEC §6, §7): one for all workers. */
static struct ratelimit	*rate_table;

int
proxy_init(void)
{
	if (rate_table == NULL &&
	    (rate_table = ratelimit_new(RATELIMIT_SOURCES)) == NULL)
		return -1;
	return 0;
}

void
proxy_fini(void)
{
	ratelimit_free(rate_table);
	rate_table = NULL;
}

/*
 * The published configuration, and beside it the map of the table's
 * target names resolved ahead of time (a refresh swaps the map alone).
 * Workers compare a generation number on each message (one relaxed load)
 * and take the mutex only when it changed, so the hot path takes no lock;
 * the old conf and map are freed by whoever drops the last reference.
 */
static pthread_mutex_t	 pub_mu = PTHREAD_MUTEX_INITIALIZER;
static struct conf	*published;
static struct resolve_map *published_map;
static atomic_uint	 pub_gen = 1;

void
proxy_publish(struct conf *conf, struct resolve_map *map)
{
	struct conf *old;
	struct resolve_map *oldm;

	pthread_mutex_lock(&pub_mu);
	old = published;
	oldm = published_map;
	published = conf;
	published_map = map;
	atomic_fetch_add(&pub_gen, 1);
	pthread_mutex_unlock(&pub_mu);
	config_unref(old);
	resolve_map_unref(oldm);
}

/* A refreshed map for conf; dropped when a reload published another conf
 * meanwhile (that one came with its own map). */
static void
publish_map(const struct conf *conf, struct resolve_map *map)
{
	pthread_mutex_lock(&pub_mu);
	if (published == conf) {
		struct resolve_map *old = published_map;

		published_map = map;
		map = old;
		atomic_fetch_add(&pub_gen, 1);
	}
	pthread_mutex_unlock(&pub_mu);
	resolve_map_unref(map);
}

struct conf *
proxy_current(void)
{
	struct conf *c;

	pthread_mutex_lock(&pub_mu);
	c = config_ref(published);
	pthread_mutex_unlock(&pub_mu);
	return c;
}

static struct resolve_map *
current_map(void)
{
	struct resolve_map *m;

	pthread_mutex_lock(&pub_mu);
	m = resolve_map_ref(published_map);
	pthread_mutex_unlock(&pub_mu);
	return m;
}

static struct conf *
worker_conf(struct worker *w)
{
	struct proxy_worker *pw = pw_of(w);
	struct conf *old;
	struct resolve_map *oldm;

	if (atomic_load_explicit(&pub_gen, memory_order_acquire) ==
	    pw->conf_gen)
		return pw->conf;
	pthread_mutex_lock(&pub_mu);
	old = pw->conf;
	pw->conf = config_ref(published);
	oldm = pw->dns->map;
	pw->dns->map = resolve_map_ref(published_map);
	pw->conf_gen = atomic_load(&pub_gen);
	pthread_mutex_unlock(&pub_mu);
	config_unref(old);
	resolve_map_unref(oldm);
	return pw->conf;
}

/* Take the configuration published last, dropping the one held. */
static void
proxy_worker_refresh(struct worker *w)
{
	(void)worker_conf(w);
}

static void
send_reply(struct worker *w, const struct tp_source *src,
    const struct sipmsg *m, const struct route_decision *d,
    const struct conf *conf)
{
	char *out = pw_of(w)->out;
	struct fwd_hop hop;
	ssize_t n;

	n = forward_reply(m, d, src->ip, src->port, src->tp, out,
	    TRANSPORT_UDP_MAX);
	if (n < 0) {
		metrics_inc(&w->metrics.dropped[DROP_PARSE]);
		return;
	}
	if (d->code < METRICS_CODES)
		metrics_inc(&w->metrics.replies[d->code]);
	/* Over TCP and TLS on src's connection while it is open; a request
	 * that waited for DNS may outlive it (RFC 3261 §18.2.2). */
	forward_reply_hop(m, src->tp, &src->addr, &hop);
	if (hop.altlen > 0)
		transport_send(w, src, (struct sockaddr *)&hop.alt,
		    hop.altlen, hop.name, out, (size_t)n);
	else
		transport_send(w, src, (struct sockaddr *)&hop.addr,
		    hop.addrlen, hop.name[0] != '\0' ? hop.name : NULL, out,
		    (size_t)n);
}

static void
trace(const struct tp_source *src, const struct sipmsg *m,
    const struct route_decision *d, const struct conf *conf)
{
	char line[2048];

	explain_line(m, d, conf, config_transport_name(src->tp), src->ip,
	    src->port, line, sizeof(line));
	log_debug("%s", line);
}

static void	dns_answers(evutil_socket_t fd, short what, void *arg);

static struct proxy_dns *
dns_new(struct worker *w)
{
	struct proxy_dns *pd;

	if ((pd = calloc(1, sizeof(*pd))) == NULL)
		return NULL;
	if ((pd->ev = event_new(w->base, -1, 0, dns_answers, w)) == NULL) {
		free(pd);
		return NULL;
	}
	pthread_mutex_init(&pd->mu, NULL);
	return pd;
}

static void
dns_free(struct proxy_dns *pd)
{
	struct dns_wait *q;

	if (pd == NULL)
		return;
	while ((q = pd->done) != NULL) {
		pd->done = q->next;
		free(q);
	}
	event_free(pd->ev);
	pthread_mutex_destroy(&pd->mu);
	resolve_map_unref(pd->map);
	free(pd);
}

/* Free what proxy keeps per worker (the DNS cache, answers not yet
 * used). After proxy_dns_stop(). */
static void
proxy_worker_free(struct worker *w)
{
	struct proxy_worker *pw = pw_of(w);

	if (pw == NULL)
		return;
	if (pw->probe_ev != NULL)
		event_free(pw->probe_ev);
	dns_free(pw->dns);
	config_unref(pw->conf);
	free(pw->out);
	free(pw->out503);
	free(pw);
	w->ctx = NULL;
}

/* SPEC §8: this worker's share of the group members' probes. Between
 * messages, never inside one: pw->out is free. */
static void
probe_timer(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	const struct conf *conf = worker_conf(w);
	struct proxy_worker *pw = pw_of(w);

	(void)fd;
	(void)what;
	if (conf != NULL && conf->ngroups > 0)
		probe_tick(w, conf, pw->dns->map, pw->out, TRANSPORT_UDP_MAX);
}

static int
proxy_worker_init(struct worker *w)
{
	struct timeval tick = { 0, PROBE_TICK_MS * 1000 };
	struct proxy_worker *pw;

	if ((pw = calloc(1, sizeof(*pw))) == NULL)
		return -1;
	w->ctx = pw;
	/* conf_gen 0 is never published: the first message takes it. */
	if ((pw->dns = dns_new(w)) == NULL ||
	    (pw->out = malloc(TRANSPORT_UDP_MAX)) == NULL ||
	    (pw->out503 = malloc(TRANSPORT_UDP_MAX)) == NULL ||
	    (pw->probe_ev = event_new(w->base, -1, EV_PERSIST, probe_timer,
	    w)) == NULL || event_add(pw->probe_ev, &tick) == -1) {
		proxy_worker_free(w);
		return -1;
	}
	return 0;
}

static struct dns_slot *
dns_slot(struct proxy_dns *pd, struct slice host, enum resolve_kind kind)
{
	uint64_t h = hash_bytes_nocase(HASH_SEED, host.p, host.len);

	h = hash_bytes(h, &kind, sizeof(kind));
	return &pd->slot[hash_final(h) % DNS_SLOTS];
}

static bool
is_host(const char *name, struct slice host)
{
	return strlen(name) == host.len &&
	    strncasecmp(name, host.p, host.len) == 0;
}

/* In the resolver thread: hand the job back to its worker's loop. */
static void
dns_job_done(struct resolve_job *job)
{
	struct dns_wait *q = job->arg;
	struct proxy_dns *pd = pw_of(q->w)->dns;

	pthread_mutex_lock(&pd->mu);
	q->next = pd->done;
	pd->done = q;
	pthread_mutex_unlock(&pd->mu);
	/* thread-safe: evthread_use_pthreads() ran before the bases */
	event_active(pd->ev, EV_READ, 1);
}

static void	proxy_message(struct worker *w, const struct tp_source *src,
		    const struct sipmsg *m, ssize_t scan_rc);

static void
dns_use(struct worker *w, struct dns_wait *q)
{
	struct proxy_worker *pw = pw_of(w);
	struct proxy_dns *pd = pw->dns;
	const struct resolve_answer *a = &q->job.answer;
	struct dns_slot *s;
	ssize_t rc;

	s = dns_slot(pd, slice_make(q->job.host, strlen(q->job.host)),
	    q->job.kind);
	memcpy(s->host, q->job.host, sizeof(s->host));
	s->kind = q->job.kind;
	s->a = *a;
	s->expires = time(NULL) + (time_t)resolve_ttl(a);
	if (a->n == 0)
		log_debug("dns %s: %s", q->job.host, a->why);
	/* The request waited; now it goes as if it had just arrived, with
	 * this answer whatever became of the slot meanwhile. */
	pd->fresh = q;
	rc = sipmsg_scan(q->msg, q->len, SIPMSG_DGRAM, &pw->m_dns);
	proxy_message(w, &q->src, &pw->m_dns, rc);
	pd->fresh = NULL;
}

static void
dns_answers(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct proxy_dns *pd = pw_of(w)->dns;
	struct dns_wait *q, *list, *fifo = NULL;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&pd->mu);
	list = pd->done;
	pd->done = NULL;
	pthread_mutex_unlock(&pd->mu);
	while ((q = list) != NULL) {
		list = q->next;
		q->next = fifo;
		fifo = q;
	}
	while ((q = fifo) != NULL) {
		fifo = q->next;
		if (!q->job.cancelled)
			dns_use(w, q);
		free(q);
	}
	transport_flush(w);
}

/* Queue a lookup with a copy of the request. 0, or -1 (*why). */
static int
dns_submit(struct worker *w, const struct tp_source *src,
    const struct sipmsg *m, const struct conf *conf, struct slice host,
    enum resolve_kind kind, const char **why)
{
	struct dns_wait *q;

	if ((q = calloc(1, sizeof(*q) + m->len)) == NULL) {
		*why = "Out Of Memory";
		return -1;
	}
	if (resolve_job_host(&q->job, host) == -1) {
		free(q);
		*why = "Bad Next Hop Name";
		return -1;
	}
	q->job.kind = kind;
	forward_dns_servers(conf, &q->job.servers);
	q->job.done = dns_job_done;
	q->job.arg = q;
	q->w = w;
	q->src = *src;
	q->src.conn = NULL;	/* may be gone by then: found by address */
	q->len = m->len;
	memcpy(q->msg, m->buf, m->len);
	if (resolve_submit(&q->job) == -1) {
		free(q);
		*why = "DNS Busy";
		return -1;
	}
	return 0;
}

/*
 * The DNS answer for a host-name next hop, when one is at hand: the
 * published map's (*target), the one a waiting request is processed again
 * with, or the worker's cache. NULL when none is: a lookup was started and
 * the request will be processed again (*why NULL), or could not be (*why).
 */
static const struct resolve_answer *
dns_answer(struct worker *w, const struct tp_source *src,
    const struct sipmsg *m, const struct conf *conf, struct slice host,
    enum resolve_kind kind, bool *target, const char **why)
{
	struct proxy_dns *pd = pw_of(w)->dns;
	const struct resolve_answer *a;
	const struct dns_slot *s;

	*target = false;
	*why = NULL;
	if (pd == NULL) {
		*why = "Out Of Memory";
		return NULL;
	}
	if ((a = resolve_map_find(pd->map, host, kind)) != NULL) {
		*target = true;
		return a;
	}
	if (pd->fresh != NULL && pd->fresh->job.kind == kind &&
	    is_host(pd->fresh->job.host, host))
		return &pd->fresh->job.answer;
	s = dns_slot(pd, host, kind);
	if (s->expires > time(NULL) && s->kind == kind &&
	    is_host(s->host, host))
		return &s->a;
	(void)dns_submit(w, src, m, conf, host, kind, why);
	return NULL;
}

/* ---- names resolved ahead: the map, and its refresh thread ---- */

static struct {
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
	pthread_t		 thread;
	bool			 running;
	atomic_bool		 stopping;
} rf = { .mu = PTHREAD_MUTEX_INITIALIZER };

struct resolve_map *
proxy_resolve_targets(const struct conf *conf,
    const struct resolve_map *prev)
{
	struct resolve_servers sv;
	const struct resolve_answer *a, *was;
	struct resolve_map *map;
	struct timespec t0, t1;
	struct slice host;
	unsigned flags;
	size_t i, n = 0, left;
	long long ms;
	bool srv;

	for (i = 0; table_target_host(conf->table, i, &host, &flags); i++)
		if ((flags & TABLE_HOST_FORWARD) && !netaddr_is_ip(host))
			n++;
	if ((map = resolve_map_new(n)) == NULL || n == 0)
		return map;
	forward_dns_servers(conf, &sv);
	for (i = 0; table_target_host(conf->table, i, &host, &flags); i++) {
		if (!(flags & TABLE_HOST_FORWARD) || netaddr_is_ip(host))
			continue;
		srv = (flags & TABLE_HOST_NO_PORT) != 0;
		if (resolve_map_put(map, host, srv) == -1) {
			log_warnx("target %.*s: out of memory", (int)host.len,
			    host.p);
			break;
		}
	}
	/* All at once: a dead name must not hold up the others (SPEC §7). */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	left = resolve_map_resolve(map, &sv);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	for (i = 0; table_target_host(conf->table, i, &host, &flags) &&
	    !atomic_load(&rf.stopping); i++) {
		if (!(flags & TABLE_HOST_FORWARD) || netaddr_is_ip(host))
			continue;
		srv = (flags & TABLE_HOST_NO_PORT) != 0;
		if ((a = resolve_map_find(map, host, srv ? RESOLVE_ANY :
		    RESOLVE_ADDR)) == NULL)
			continue;	/* out of time: counted in left */
		/* Said once: at load, and when a refresh loses the name. */
		was = resolve_map_find(prev, host, srv ? RESOLVE_ANY :
		    RESOLVE_ADDR);
		if (a->n == 0 && (prev == NULL || (was != NULL && was->n > 0)))
			log_warnx("target %.*s %s: its requests get 503 until "
			    "it resolves", (int)host.len, host.p, a->why);
		else
			log_debug("target %.*s: %zu address%s", (int)host.len,
			    host.p, a->n, a->n == 1 ? "" : "es");
	}
	if (left > 0)
		log_warnx("%zu target names not resolved within the DNS "
		    "timeout: each is looked up when a request needs it",
		    left);
	ms = (long long)(t1.tv_sec - t0.tv_sec) * 1000 +
	    (t1.tv_nsec - t0.tv_nsec) / 1000000;
	if (prev == NULL)	/* a start or reload, not a refresh */
		log_info("resolved %zu target names in %lld ms",
		    resolve_map_count(map) - left, ms);
	return map;
}

static void *
refresh_main(void *arg)
{
	struct timespec ts;
	struct conf *conf;
	struct resolve_map *prev, *map;
	unsigned period;

	(void)arg;
	pthread_mutex_lock(&rf.mu);
	while (!atomic_load(&rf.stopping)) {
		conf = proxy_current();
		period = conf != NULL ? conf->dns_refresh : 0;
		config_unref(conf);
		/* dns.refresh = 0: only look whether a reload set one. */
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += period > 0 ? period : 60;
		while (!atomic_load(&rf.stopping) &&
		    pthread_cond_timedwait(&rf.cv, &rf.mu, &ts) != ETIMEDOUT)
			;
		if (atomic_load(&rf.stopping) || period == 0)
			continue;
		pthread_mutex_unlock(&rf.mu);
		conf = proxy_current();
		prev = current_map();
		if (conf != NULL && (map = proxy_resolve_targets(conf,
		    prev)) != NULL) {
			if (resolve_map_count(map) > 0 ||
			    resolve_map_count(prev) > 0)
				publish_map(conf, map);
			else
				resolve_map_unref(map);
		}
		resolve_map_unref(prev);
		config_unref(conf);
		pthread_mutex_lock(&rf.mu);
	}
	pthread_mutex_unlock(&rf.mu);
	return NULL;
}

int
proxy_dns_start(void)
{
	pthread_condattr_t ca;

	if (resolve_start() == -1)
		return -1;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&rf.cv, &ca);
	pthread_condattr_destroy(&ca);
	atomic_store(&rf.stopping, false);
	if (pthread_create(&rf.thread, NULL, refresh_main, NULL) != 0) {
		resolve_stop();
		return -1;
	}
	rf.running = true;
	return 0;
}

void
proxy_dns_stop(void)
{
	pthread_mutex_lock(&rf.mu);
	atomic_store(&rf.stopping, true);
	if (rf.running)
		pthread_cond_signal(&rf.cv);
	pthread_mutex_unlock(&rf.mu);
	/* First: it also cuts short the queries of a refresh under way. */
	resolve_stop();
	if (rf.running) {
		pthread_join(rf.thread, NULL);
		pthread_cond_destroy(&rf.cv);
		rf.running = false;
	}
}

/*
 * SPEC §7: why a next hop failed (a refused connection, a name that does
 * not resolve, a missing route) maps the network behind us: only trusted
 * sources hear it. That a sips: request has no TLS hop is no secret.
 */
static const char *
public_reason(bool trusted, const char *why)
{
	return trusted || strcmp(why, FORWARD_NO_TLS) == 0 ? why :
	    "Service Unavailable";
}

/* SPEC §3: a request that cannot be sent gets 503 saying why (an ACK is
 * never answered). */
static void
unavailable(struct worker *w, const struct tp_source *src,
    const struct sipmsg *m, struct route_decision *d,
    const struct conf *conf, const char *why)
{
	log_debug("forward %.*s: %s", (int)d->next_hop.len, d->next_hop.p,
	    why);
	if (m->mid == SIP_ACK)
		return;
	d->action = ROUTE_REPLY;
	d->code = 503;
	d->reason = public_reason(d->trusted >= 0, why);
	d->contact = false;
	send_reply(w, src, m, d, conf);
}

static int
send_hop(struct worker *w, const struct fwd_hop *hop, const char *buf,
    size_t len)
{
	if (hop->tp == SIP_TP_TLS)
		return transport_send_tls(w, (const struct sockaddr *)
		    &hop->addr, hop->addrlen, (const struct sockaddr *)
		    &hop->alt, hop->altlen, hop->name, hop->answer, buf, len);
	if (hop->tp == SIP_TP_TCP)
		return transport_send_tcp(w, (const struct sockaddr *)
		    &hop->addr, hop->addrlen, (const struct sockaddr *)
		    &hop->alt, hop->altlen, buf, len);
	return transport_send_udp(w, w->fds[hop->listener],
	    (const struct sockaddr *)&hop->addr, hop->addrlen, buf, len);
}

/* usher_member_requests_total (SPEC §8): shared by the workers. */
static void
member_count(const struct group_member *mb)
{
	if (mb->health != NULL)
		atomic_fetch_add_explicit(&mb->health->requests, 1,
		    memory_order_relaxed);
}

static void
forward(struct worker *w, const struct tp_source *src, const struct sipmsg *m,
    struct route_decision *d, const struct conf *conf)
{
	char *out = pw_of(w)->out, reason[160];
	const struct resolve_answer *a;
	enum resolve_kind kind;
	struct fwd_hop hop;
	const char *why = NULL;
	ssize_t n;
	bool target;

	switch (forward_next_hop(conf, m, d, NULL, false, &hop, &kind, &why,
	    reason, sizeof(reason))) {
	case FWD_NEXT_HOP:
		break;
	case FWD_NEXT_DNS:
		a = dns_answer(w, src, m, conf, d->next_hop_uri.host, kind,
		    &target, &why);
		if (a == NULL && why == NULL)
			return;		/* processed again when known */
		if (a == NULL || forward_next_hop(conf, m, d, a, target, &hop,
		    &kind, &why, reason, sizeof(reason)) != FWD_NEXT_HOP) {
			unavailable(w, src, m, d, conf, why);
			return;
		}
		break;
	case FWD_NEXT_FAIL:
		unavailable(w, src, m, d, conf, why);
		return;
	}
	n = forward_request(m, d, conf, src->ip, src->port, src->listener,
	    &hop, out, TRANSPORT_UDP_MAX, &why);
	if (n < 0) {
		unavailable(w, src, m, d, conf, why);
		return;
	}
	errno = 0;
	if (send_hop(w, &hop, out, (size_t)n) == -1) {
		/* SPEC §8: a member refusing a forwarded request's
		 * connection is a failure, as for a probe. */
		if (hop.tp != SIP_TP_UDP && (errno == ECONNREFUSED ||
		    errno == EHOSTUNREACH || errno == ENETUNREACH))
			(void)probe_peer_failed(conf, (const struct sockaddr *)
			    &hop.addr, errno, hop.tp == SIP_TP_TLS ? "TLS" :
			    "TCP");
		unavailable(w, src, m, d, conf, hop.tp == SIP_TP_TLS ?
		    "Cannot Connect To Next Hop Over TLS" : hop.tp ==
		    SIP_TP_TCP ? "Cannot Connect To Next Hop" :
		    "Cannot Send To Next Hop");
		return;
	}
	metrics_inc(&w->metrics.forwarded_requests);
	if (d->group != NULL && d->member >= 0)
		member_count(&d->group->members[d->member]);
}

static void
relay(struct worker *w, const struct sipmsg *m, const struct conf *conf)
{
	char *out = pw_of(w)->out;
	struct fwd_hop hop;
	const char *why;
	ssize_t n;

	n = forward_response(m, conf, &hop, out, TRANSPORT_UDP_MAX, &why);
	if (n < 0 || send_hop(w, &hop, out, (size_t)n) == -1) {
		log_debug("relay %u response: %s", m->status,
		    n < 0 ? why : "cannot send");
		metrics_inc(&w->metrics.dropped[DROP_PARSE]);
		return;
	}
	metrics_inc(&w->metrics.forwarded_responses);
}

/* SPEC §6, §7: sources outside `trusted` get rate_per_source messages
 * (requests and responses) a second; over it, or banned, they are dropped
 * without an answer. */
static bool
is_limited(struct worker *w, const struct tp_source *src,
    const struct conf *conf)
{
	const struct sockaddr *sa = (const struct sockaddr *)&src->addr;
	struct timespec ts;

	if (rate_table == NULL || config_trusted_find(conf, sa) >= 0)
		return false;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	switch (ratelimit_check(rate_table, sa, conf->rate_per_source,
	    conf->ban_time, (uint64_t)ts.tv_sec * 1000 +
	    (uint64_t)ts.tv_nsec / 1000000)) {
	case RATELIMIT_PASS:
		return false;
	case RATELIMIT_RATE:
		metrics_inc(&w->metrics.dropped[DROP_RATE]);
		return true;
	case RATELIMIT_BANNED:
		metrics_inc(&w->metrics.dropped[DROP_BANNED]);
		return true;
	}
	return false;
}

static void
proxy_message(struct worker *w, const struct tp_source *src,
    const struct sipmsg *m, ssize_t scan_rc)
{
	const struct conf *conf = worker_conf(w);
	struct route_decision d;

	if (m->is_request && (unsigned)m->mid < METRICS_METHODS)
		metrics_inc(&w->metrics.requests[m->mid]);
	if (scan_rc < 0)
		metrics_inc(&w->metrics.parse_errors);
	/* SPEC §7: responses too, or a banned source could still have us
	 * parse, hash and drop as fast as it sends. */
	if (conf->rate_per_source > 0 && is_limited(w, src, conf))
		return;
	/* SPEC §8: our probes' answers, known by their branch in any
	 * worker; route_decide() would drop them as not ours. */
	if (scan_rc >= 0 && probe_is_answer(m)) {
		if (!probe_answer(w, src, m, conf))
			metrics_inc(&w->metrics.dropped[DROP_NOT_OURS]);
		return;
	}
	route_decide(m, (int)scan_rc, (const struct sockaddr *)&src->addr,
	    conf, &d);
	if (log_debug_enabled())
		trace(src, m, &d, conf);

	switch (d.action) {
	case ROUTE_REPLY:
		send_reply(w, src, m, &d, conf);
		break;
	case ROUTE_FORWARD:
		forward(w, src, m, &d, conf);
		break;
	case ROUTE_RELAY:
		relay(w, m, conf);
		break;
	case ROUTE_DROP:
		metrics_inc(&w->metrics.dropped[metrics_drop_of(d.drop_reason)]);
		break;
	}
}

/* A message over max_message_size: 513 when it can be answered (SPEC §4). */
static void
proxy_too_large(struct worker *w, const struct tp_source *src,
    const struct sipmsg *m)
{
	const struct conf *conf = worker_conf(w);
	struct route_decision d;

	if (!m->is_request || m->mid == SIP_ACK || !sipmsg_can_reply(m))
		return;
	memset(&d, 0, sizeof(d));
	d.action = ROUTE_REPLY;
	d.code = 513;
	d.reason = "Message Too Large";
	send_reply(w, src, m, &d, conf);
}

/* Whether the 503 for a forwarded request goes to a trusted address: its
 * second Via (the one before ours), received first, as relay() sends. */
static bool
is_trusted_via(const struct sipmsg *m, const struct conf *conf)
{
	const struct sip_via *v;
	struct sockaddr_storage ss;

	if (m->nvia < 2)
		return false;
	v = &m->via[1];
	return netaddr_parse(v->received.len > 0 ? v->received : v->host,
	    SIP_DEFAULT_PORT, &ss) == 0 &&
	    config_trusted_find(conf, (struct sockaddr *)&ss) >= 0;
}

/*
 * Requests that could not be delivered after forward() had handed them on
 * (an outgoing TCP connect that failed later): each non-ACK one gets a 503
 * with why as the reason, built from the forwarded bytes, whose top Via is
 * ours, and relayed like a response from the next hop, so it finds its way
 * back to the caller without any state kept.
 */
static void
proxy_undeliverable(struct worker *w, const char *buf, size_t len,
    const char *why)
{
	const struct conf *conf = worker_conf(w);
	struct proxy_worker *pw = pw_of(w);
	struct sipmsg *m = &pw->m_und, *r = &pw->r_und;
	char *out = pw->out503;		/* relay() builds into pw->out */
	struct route_decision d;
	ssize_t rc, n;

	while (len > 0 && (rc = sipmsg_scan(buf, len, SIPMSG_STREAM, m)) > 0) {
		buf += rc;
		len -= (size_t)rc;
		if (!m->is_request || m->mid == SIP_ACK || !sipmsg_can_reply(m))
			continue;
		memset(&d, 0, sizeof(d));
		d.action = ROUTE_REPLY;
		d.code = 503;
		d.reason = public_reason(is_trusted_via(m, conf), why);
		n = forward_reply(m, &d, NULL, 0, SIP_TP_UDP, out,
		    TRANSPORT_UDP_MAX);
		if (n < 0 || sipmsg_scan(out, (size_t)n, SIPMSG_DGRAM, r) < 0 ||
		    r->nvia < 2) {
			metrics_inc(&w->metrics.dropped[DROP_PARSE]);
			continue;
		}
		metrics_inc(&w->metrics.replies[503]);
		relay(w, r, conf);
	}
	transport_flush(w);
}

/* SPEC §8: a passive signal; for an address that is no member's (a phone
 * gone, a relayed response's next hop) it is only noted. */
static void
proxy_unreachable(struct worker *w, const struct sockaddr *dst,
    socklen_t dstlen, int err, enum sip_transport tp)
{
	struct sockaddr_storage ss;
	char text[NETADDR_STRLEN];

	if (probe_peer_failed(worker_conf(w), dst, err, tp == SIP_TP_UDP ?
	    "ICMP" : tp == SIP_TP_TLS ? "TLS" : "TCP") || !log_debug_enabled())
		return;
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, dst, dstlen < sizeof(ss) ? dstlen : sizeof(ss));
	if (netaddr_format(&ss, NETADDR_BRACKETS | NETADDR_PORT, text,
	    sizeof(text)) == -1)
		strcpy(text, "?");
	log_debug("%s %s: %s", config_transport_name(tp), text,
	    strerror(err));
}

/* SPEC §7: trusted sources (our PBXs and SBCs) are held to
 * tcp_max_connections only, not to the per-source cap. */
static bool
proxy_is_trusted(struct worker *w, const struct sockaddr *sa)
{
	return config_trusted_find(worker_conf(w), sa) >= 0;
}

/* SPEC §9: a TLS handshake costs more than a request, so it counts as
 * one toward rate_per_source; over the rate or banned, no handshake. */
static bool
proxy_on_handshake(struct worker *w, const struct sockaddr *sa)
{
	struct tp_source src;

	memset(&src, 0, sizeof(src));
	memcpy(&src.addr, sa, sa->sa_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	return worker_conf(w)->rate_per_source == 0 ||
	    !is_limited(w, &src, worker_conf(w));
}

const struct tp_handlers proxy_handlers = {
	.on_init = proxy_worker_init,
	.on_message = proxy_message,
	.on_too_large = proxy_too_large,
	.on_undeliverable = proxy_undeliverable,
	.on_unreachable = proxy_unreachable,
	.on_wake = proxy_worker_refresh,
	.on_handshake = proxy_on_handshake,
	.is_trusted = proxy_is_trusted,
	.on_free = proxy_worker_free,
};
