/* proxy.c: per message, decide and act; the published configuration. */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "explain.h"
#include "forward.h"
#include "hash.h"
#include "log.h"
#include "metrics.h"
#include "proxy.h"
#include "ratelimit.h"
#include "route.h"
#include "sipmsg.h"
#include "transport.h"

#include <event2/dns.h>
#include <event2/event.h>

#define SERVER_NAME	"usher/" USHER_VERSION
#define ALLOW_METHODS	"INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, " \
			"PRACK, UPDATE, INFO, SUBSCRIBE, NOTIFY, REFER, " \
			"MESSAGE, PUBLISH"

/*
 * The published configuration. Workers compare a generation number on each
 * message (one relaxed load) and take the mutex only when it changed, so the
 * hot path takes no lock; the old conf is freed by whoever drops the last
 * reference to it.
 */
static pthread_mutex_t	 pub_mu = PTHREAD_MUTEX_INITIALIZER;
static struct conf	*published;
static atomic_uint	 pub_gen = 1;

void
proxy_publish(struct conf *conf)
{
	struct conf *old;

	pthread_mutex_lock(&pub_mu);
	old = published;
	published = conf;
	atomic_fetch_add(&pub_gen, 1);
	pthread_mutex_unlock(&pub_mu);
	config_unref(old);
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

static struct conf *
worker_conf(struct worker *w)
{
	struct conf *old;

	if (atomic_load_explicit(&pub_gen, memory_order_acquire) ==
	    w->conf_gen)
		return w->conf;
	pthread_mutex_lock(&pub_mu);
	old = w->conf;
	w->conf = config_ref(published);
	w->conf_gen = atomic_load(&pub_gen);
	pthread_mutex_unlock(&pub_mu);
	config_unref(old);
	return w->conf;
}

void
proxy_worker_refresh(struct worker *w)
{
	(void)worker_conf(w);
}

/* A To tag that a retransmission gets again: no state, no randomness. */
static void
to_tag(const struct sipmsg *m, char out[17])
{
	uint64_t h = HASH_SEED;

	h = hash_bytes(h, m->callid.value.p, m->callid.value.len);
	h = hash_bytes(h, m->from_tag.p, m->from_tag.len);
	if (m->nvia > 0)
		h = hash_bytes(h, m->via[0].branch.p, m->via[0].branch.len);
	h = hash_bytes(h, &m->cseq_num, sizeof(m->cseq_num));
	*put_hex64(out, hash_final(h)) = '\0';
}

/* The extra header lines a decision asks for, into buf. -1: too long. */
static ssize_t
reply_extra(const struct sipmsg *m, const struct route_decision *d,
    char *buf, size_t len)
{
	char uri[1024];
	size_t n = 0, i;
	ssize_t u;
	int k;

#define ADD(...) do {							\
	k = snprintf(buf + n, len - n, __VA_ARGS__);			\
	if (k < 0 || (size_t)k >= len - n)				\
		return -1;						\
	n += (size_t)k;							\
} while (0)

	if (d->contact) {
		if ((u = route_target_uri(d, m, uri, sizeof(uri))) < 0)
			return -1;
		ADD("Contact: <%.*s>\r\n", (int)u, uri);
	}
	if (d->retry_after > 0)
		ADD("Retry-After: %u\r\n", d->retry_after);
	if (d->options_caps)
		ADD("Allow: " ALLOW_METHODS "\r\nAccept: application/sdp\r\n"
		    "Supported: \r\n");
	if (d->unsupported) {
		ADD("Unsupported: ");
		for (i = 0; i < m->npreq; i++)
			ADD("%s%.*s", i ? ", " : "",
			    (int)m->proxy_require[i].len,
			    m->proxy_require[i].p);
		ADD("\r\n");
	}
#undef ADD
	return (ssize_t)n;
}

ssize_t
proxy_reply(const struct sipmsg *m, const struct route_decision *d,
    const struct conf *conf, const char *src_ip, uint16_t src_port,
    char *out, size_t outlen)
{
	struct sip_reply r;
	char extra[2048], tag[17];
	ssize_t n;

	(void)conf;
	if ((n = reply_extra(m, d, extra, sizeof(extra))) < 0)
		return -1;
	to_tag(m, tag);
	memset(&r, 0, sizeof(r));
	r.code = d->code;
	r.reason = d->reason;
	r.src_ip = src_ip;
	r.src_port = src_port;
	r.to_tag = slice_make(tag, 16);
	r.extra = slice_make(extra, (size_t)n);
	r.server = SLICE(SERVER_NAME);
	return sipmsg_reply(m, &r, out, outlen);
}

void
proxy_reply_dest(const struct sipmsg *m, const struct sockaddr_storage *src,
    struct sockaddr_storage *dst)
{
	uint16_t port;

	*dst = *src;
	if (m->nvia > 0 && m->via[0].has_rport)
		return;
	port = m->nvia > 0 && m->via[0].port ? m->via[0].port : 5060;
	if (dst->ss_family == AF_INET6)
		((struct sockaddr_in6 *)dst)->sin6_port = htons(port);
	else
		((struct sockaddr_in *)dst)->sin_port = htons(port);
}

static void
send_reply(struct worker *w, const struct tp_source *src,
    const struct sipmsg *m, const struct route_decision *d,
    const struct conf *conf)
{
	char out[TRANSPORT_UDP_MAX];
	struct sockaddr_storage dst;
	ssize_t n;

	n = proxy_reply(m, d, conf, src->ip, src->port, out, sizeof(out));
	if (n < 0) {
		metrics_inc(&w->metrics.dropped[DROP_PARSE]);
		return;
	}
	if (d->code < METRICS_CODES)
		metrics_inc(&w->metrics.replies[d->code]);
	proxy_reply_dest(m, &src->addr, &dst);
	transport_send(w, src, (struct sockaddr *)&dst,
	    src->addr.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in), out, (size_t)n);
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

/*
 * Host names as next hops (a foreign domain from a trusted source, a target
 * written as a name) are resolved asynchronously with evdns, the answer
 * kept in a small per-worker cache, and the waiting request processed again
 * from a copy once it is known: the event loop never blocks on DNS, and a
 * name is not looked up again for every request.
 */
#define DNS_SLOTS	256
#define DNS_TTL_MIN	30
#define DNS_NEGATIVE	10	/* seconds a failed name answers 503 */
#define DNS_HOST_MAX	256

struct dns_slot {
	char			 host[DNS_HOST_MAX];
	struct sockaddr_storage	 addr;
	time_t			 expires;
	bool			 failed;
};

struct proxy_dns {
	struct evdns_base	*base;
	struct dns_slot		 slot[DNS_SLOTS];
};

struct dns_wait {
	struct worker		*w;
	struct tp_source	 src;
	char			 host[DNS_HOST_MAX];
	bool			 v6;		/* second try, AAAA */
	size_t			 len;
	char			 msg[];
};

void
proxy_worker_free(struct worker *w)
{
	if (w->dns == NULL)
		return;
	if (w->dns->base != NULL)
		evdns_base_free(w->dns->base, 1);
	free(w->dns);
	w->dns = NULL;
}

static struct dns_slot *
dns_slot(struct worker *w, struct slice host)
{
	uint64_t h = hash_final(hash_bytes(HASH_SEED, host.p, host.len));

	return &w->dns->slot[h % DNS_SLOTS];
}

static void	dns_answer(int result, char type, int count, int ttl,
		    void *addresses, void *arg);

static void
dns_start(struct dns_wait *q)
{
	struct evdns_request *r;

	r = q->v6 ? evdns_base_resolve_ipv6(q->w->dns->base, q->host, 0,
	    dns_answer, q) : evdns_base_resolve_ipv4(q->w->dns->base, q->host,
	    0, dns_answer, q);
	if (r == NULL)
		dns_answer(DNS_ERR_UNKNOWN, 0, 0, 0, NULL, q);
}

static void
dns_answer(int result, char type, int count, int ttl, void *addresses,
    void *arg)
{
	struct dns_wait *q = arg;
	struct worker *w = q->w;
	struct dns_slot *s;
	struct sipmsg m;
	ssize_t rc;

	if (result != DNS_ERR_NONE || count == 0) {
		if (!q->v6 && result != DNS_ERR_SHUTDOWN) {
			q->v6 = true;	/* no A record: try AAAA */
			dns_start(q);
			return;
		}
	}
	if (result == DNS_ERR_SHUTDOWN) {
		free(q);
		return;
	}
	s = dns_slot(w, slice_make(q->host, strlen(q->host)));
	memset(s, 0, sizeof(*s));
	memcpy(s->host, q->host, sizeof(s->host));
	if (result == DNS_ERR_NONE && count > 0 && type == DNS_IPv4_A) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&s->addr;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(5060);
		memcpy(&sin->sin_addr, addresses, 4);
		s->expires = time(NULL) + (ttl > DNS_TTL_MIN ? ttl :
		    DNS_TTL_MIN);
	} else if (result == DNS_ERR_NONE && count > 0 &&
	    type == DNS_IPv6_AAAA) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&s->addr;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(5060);
		memcpy(&sin6->sin6_addr, addresses, 16);
		s->expires = time(NULL) + (ttl > DNS_TTL_MIN ? ttl :
		    DNS_TTL_MIN);
	} else {
		log_debug("dns %s: no address", q->host);
		s->failed = true;
		s->expires = time(NULL) + DNS_NEGATIVE;
	}
	/* The request waited; now it goes as if it had just arrived. */
	rc = sipmsg_scan(q->msg, q->len, SIPMSG_DGRAM, &m);
	proxy_message(w, &q->src, &m, rc);
	transport_flush(w);
	free(q);
}

/*
 * The address of a host-name next hop: 1 when known (in *ss), 0 when a
 * lookup was started and the request will be processed again, -1 when the
 * name does not resolve (*why).
 */
static int
dns_lookup(struct worker *w, const struct tp_source *src,
    const struct sipmsg *m, struct slice host, struct sockaddr_storage *ss,
    const char **why)
{
	struct dns_slot *s;
	struct dns_wait *q;

	if (host.len >= DNS_HOST_MAX) {
		*why = "Next Hop Name Too Long";
		return -1;
	}
	if (w->dns == NULL) {
		if ((w->dns = calloc(1, sizeof(*w->dns))) == NULL)
			goto oom;
		w->dns->base = evdns_base_new(w->base,
		    EVDNS_BASE_INITIALIZE_NAMESERVERS |
		    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
		if (w->dns->base == NULL) {
			*why = "No DNS Resolver";
			return -1;
		}
	}
	s = dns_slot(w, host);
	if (s->expires > time(NULL) && strlen(s->host) == host.len &&
	    strncasecmp(s->host, host.p, host.len) == 0) {
		if (s->failed) {
			*why = "Next Hop Does Not Resolve";
			return -1;
		}
		*ss = s->addr;
		return 1;
	}
	if ((q = malloc(sizeof(*q) + m->len)) == NULL)
		goto oom;
	q->w = w;
	q->src = *src;
	q->src.conn = NULL;	/* may be gone by then: found by address */
	memcpy(q->host, host.p, host.len);
	q->host[host.len] = '\0';
	q->v6 = false;
	q->len = m->len;
	memcpy(q->msg, m->buf, m->len);
	dns_start(q);
	return 0;
oom:
	*why = "Out Of Memory";
	return -1;
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
	d->reason = why;
	d->contact = false;
	send_reply(w, src, m, d, conf);
}

static int
send_hop(struct worker *w, const struct fwd_hop *hop, const char *buf,
    size_t len)
{
	if (hop->tp == SIP_TP_TCP)
		return transport_send_tcp(w, (const struct sockaddr *)
		    &hop->addr, hop->addrlen, buf, len);
	return transport_send_udp(w, w->fds[hop->listener],
	    (const struct sockaddr *)&hop->addr, hop->addrlen, buf, len);
}

static void
forward(struct worker *w, const struct tp_source *src, const struct sipmsg *m,
    struct route_decision *d, const struct conf *conf)
{
	char out[TRANSPORT_UDP_MAX];
	struct sockaddr_storage ss, *resolved = NULL;
	struct fwd_hop hop;
	socklen_t sl;
	const char *why = NULL;
	ssize_t n;
	int rc;

	if (!forward_host_addr(d->next_hop_uri.host, 5060, &ss, &sl)) {
		rc = dns_lookup(w, src, m, d->next_hop_uri.host, &ss, &why);
		if (rc == 0)
			return;		/* processed again when known */
		if (rc == -1) {
			unavailable(w, src, m, d, conf, why);
			return;
		}
		resolved = &ss;
	}
	if (forward_hop(conf, &d->next_hop_uri, resolved, m->len, &hop,
	    &why) == -1) {
		unavailable(w, src, m, d, conf, why);
		return;
	}
	n = forward_request(m, d, conf, src->ip, src->port, src->listener,
	    &hop, out, sizeof(out), &why);
	if (n < 0) {
		unavailable(w, src, m, d, conf, why);
		return;
	}
	if (send_hop(w, &hop, out, (size_t)n) == -1) {
		unavailable(w, src, m, d, conf, hop.tp == SIP_TP_TCP ?
		    "Cannot Connect To Next Hop" : "Cannot Send To Next Hop");
		return;
	}
	metrics_inc(&w->metrics.forwarded_requests);
}

static void
relay(struct worker *w, const struct sipmsg *m, const struct conf *conf)
{
	char out[TRANSPORT_UDP_MAX];
	struct fwd_hop hop;
	const char *why;
	ssize_t n;

	n = forward_response(m, conf, &hop, out, sizeof(out), &why);
	if (n < 0 || send_hop(w, &hop, out, (size_t)n) == -1) {
		log_debug("relay %u response: %s", m->status,
		    n < 0 ? why : "cannot send");
		metrics_inc(&w->metrics.dropped[DROP_PARSE]);
		return;
	}
	metrics_inc(&w->metrics.forwarded_responses);
}

/* SPEC §6: sources outside `trusted` get rate_per_source requests a
 * second; over it, or banned, they are dropped without an answer. */
static bool
is_limited(struct worker *w, const struct tp_source *src,
    const struct conf *conf)
{
	const struct sockaddr *sa = (const struct sockaddr *)&src->addr;
	struct timespec ts;

	if (w->srv->rl == NULL || config_trusted_find(conf, sa) >= 0)
		return false;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	switch (ratelimit_check(w->srv->rl, sa, conf->rate_per_source,
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

void
proxy_message(struct worker *w, const struct tp_source *src,
    const struct sipmsg *m, ssize_t scan_rc)
{
	const struct conf *conf = worker_conf(w);
	struct route_decision d;

	if (m->is_request && (unsigned)m->mid < METRICS_METHODS)
		metrics_inc(&w->metrics.requests[m->mid]);
	if (scan_rc < 0)
		metrics_inc(&w->metrics.parse_errors);
	if (conf->rate_per_source > 0 && m->is_request && is_limited(w, src,
	    conf))
		return;
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

void
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

/*
 * Requests that could not be delivered after forward() had handed them on
 * (an outgoing TCP connect that failed later): each non-ACK one gets a 503
 * with why as the reason, built from the forwarded bytes, whose top Via is
 * ours, and relayed like a response from the next hop, so it finds its way
 * back to the caller without any state kept.
 */
void
proxy_undeliverable(struct worker *w, const char *buf, size_t len,
    const char *why)
{
	const struct conf *conf = worker_conf(w);
	char out[TRANSPORT_UDP_MAX];
	struct route_decision d;
	struct sipmsg m, r;
	ssize_t rc, n;

	while (len > 0 && (rc = sipmsg_scan(buf, len, SIPMSG_STREAM, &m)) > 0) {
		buf += rc;
		len -= (size_t)rc;
		if (!m.is_request || m.mid == SIP_ACK || !sipmsg_can_reply(&m))
			continue;
		memset(&d, 0, sizeof(d));
		d.action = ROUTE_REPLY;
		d.code = 503;
		d.reason = why;
		n = proxy_reply(&m, &d, conf, NULL, 0, out, sizeof(out));
		if (n < 0 || sipmsg_scan(out, (size_t)n, SIPMSG_DGRAM, &r) < 0 ||
		    r.nvia < 2) {
			metrics_inc(&w->metrics.dropped[DROP_PARSE]);
			continue;
		}
		metrics_inc(&w->metrics.replies[503]);
		relay(w, &r, conf);
	}
	transport_flush(w);
}
