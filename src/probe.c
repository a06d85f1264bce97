/* probe.c: OPTIONS probes of PBX group members from the workers, their
 * answers, and passive signals mapped to members (SPEC §8). */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "forward.h"
#include "group.h"
#include "health.h"
#include "log.h"
#include "metrics.h"
#include "netaddr.h"
#include "probe.h"
#include "resolve.h"
#include "siphash.h"
#include "transport.h"

int
probe_bind(struct conf_group *groups, size_t ngroups)
{
	struct group_member *m;
	size_t g, i;
	int rc = 0;

	health_bind_begin();
	for (g = 0; g < ngroups; g++) {
		for (i = 0; i < groups[g].nmembers; i++) {
			m = &groups[g].members[i];
			m->health = health_bind_member(groups[g].name,
			    m->target);
			if (m->health == NULL) {
				log_warnx("group %s member %s: no health "
				    "state: counted as always up",
				    groups[g].name, m->target);
				rc = -1;
			}
		}
	}
	health_bind_end();
	return rc;
}

/*
 * Where the probe of member gm goes: its host (an IP literal, or the first
 * address the load's map has for its name: the one forwarding uses first),
 * port and transport, and the listener whose address goes into the Via
 * (and whose UDP socket sends it: SPEC §4). 0, or -1 (*why).
 */
static int
member_hop(const struct conf *conf, const struct group_member *gm,
    const struct resolve_map *map, struct fwd_hop *hop, const char **why)
{
	struct sip_uri u = gm->uri;
	const struct resolve_answer *a;
	enum resolve_kind kind;

	if (netaddr_is_ip(u.host))
		return forward_hop(conf, &u, NULL, 0, hop, why);
	/* The lookup the load made for it, as a request's (sips: and
	 * transport=tls ask _sips._tcp). */
	if (resolve_kind_of(&u, false, &kind, why) == -1)
		return -1;
	if ((a = resolve_map_find(map, u.host, kind)) == NULL) {
		/* Not known yet (the load's lookups ran out of time): no
		 * failure of the member's; the refresh will know. */
		*why = NULL;
		return -1;
	}
	if (a->n == 0) {
		*why = a->why != NULL ? a->why : "Does Not Resolve";
		return -1;
	}
	if (u.transport == SIP_TP_NONE && a->t[0].tp != SIP_TP_NONE)
		u.transport = a->t[0].tp;
	return forward_hop(conf, &u, &a->t[0].addr, 0, hop, why);
}

/* The probe: OPTIONS sip:HOSTPORT, one Via with our probe branch. Length,
 * or -1 when it does not fit. */
static ssize_t
build(const struct conf *conf, const struct group_member *gm,
    const struct fwd_hop *hop, const char *branch, uint32_t seq,
    uint64_t cid, char *buf, size_t len)
{
	const struct conf_listen *l = &conf->listen[hop->listener];
	const char *host = conf->advertise != NULL ? conf->advertise :
	    l->address;
	bool v6 = conf->advertise == NULL && l->ss.ss_family == AF_INET6;
	const char *tp = hop->tp == SIP_TP_TLS ? "TLS" :
	    hop->tp == SIP_TP_TCP ? "TCP" : "UDP";
	int n;

	n = snprintf(buf, len,
	    "OPTIONS sip:%.*s SIP/2.0\r\n"
	    "Via: SIP/2.0/%s %s%s%s:%u;branch=%s;rport\r\n"
	    "Max-Forwards: 70\r\n"
	    "From: <sip:usher@%s%s%s>;tag=%08x\r\n"
	    "To: <sip:%.*s>\r\n"
	    "Call-ID: %016llx@usher\r\n"
	    "CSeq: %u OPTIONS\r\n"
	    "User-Agent: usher/" USHER_VERSION "\r\n"
	    "Accept: application/sdp\r\n"
	    "Content-Length: 0\r\n\r\n",
	    (int)gm->uri.hostport.len, gm->uri.hostport.p,
	    tp, v6 ? "[" : "", host, v6 ? "]" : "", (unsigned)l->port, branch,
	    v6 ? "[" : "", host, v6 ? "]" : "", (unsigned)(cid >> 32),
	    (int)gm->uri.hostport.len, gm->uri.hostport.p,
	    (unsigned long long)cid, seq);
	if (n < 0 || (size_t)n >= len)
		return -1;
	return n;
}

static int
send_probe(struct worker *w, const struct fwd_hop *hop, const char *buf,
    size_t len)
{
	const struct sockaddr *sa = (const struct sockaddr *)&hop->addr;

	switch (hop->tp) {
	case SIP_TP_UDP:
		return transport_send_udp(w, w->fds[hop->listener], sa,
		    hop->addrlen, buf, len);
	case SIP_TP_TCP:
		return transport_send_tcp(w, sa, hop->addrlen, NULL, 0, buf,
		    len);
	case SIP_TP_TLS:
		return transport_send_tls(w, sa, hop->addrlen, NULL, 0,
		    hop->name, false, buf, len);
	default:
		return -1;
	}
}

/* One member's turn: a timed-out probe fails, a due one goes. true when
 * one was sent (or tried). */
static bool
probe_member(struct worker *w, const struct conf *conf,
    const struct conf_group *g, const struct group_member *gm,
    const struct resolve_map *map, const uint8_t key[SIPHASH_KEY_LEN],
    uint64_t now, bool may_send, char *buf, size_t buflen)
{
	struct member_health *h = gm->health;
	char branch[HEALTH_BRANCH_LEN + 1], cause[160];
	struct fwd_hop hop;
	const char *why = NULL;
	bool late, due;
	uint32_t seq;
	ssize_t n;
	uint64_t cid;

	pthread_mutex_lock(&h->mu);
	h->down_after = g->down_after;
	h->up_after = g->up_after;
	due = may_send && h->due_us <= now;
	/* A probe still awaited when the next is due has failed: with
	 * timeout = interval its deadline falls on the very tick that sends
	 * the next one, which would otherwise replace it uncounted. */
	late = h->waiting && (now > h->deadline_us || due);
	if (late)
		h->waiting = false;
	pthread_mutex_unlock(&h->mu);
	if (late) {
		metrics_inc(&w->metrics.probes_failed);
		snprintf(cause, sizeof(cause), "no answer to OPTIONS within "
		    "%us", g->timeout);
		health_report(h, false, cause, g->down_after, g->up_after);
	}
	if (!due)
		return false;
	if (member_hop(conf, gm, map, &hop, &why) == -1) {
		pthread_mutex_lock(&h->mu);
		h->due_us = now + (uint64_t)g->interval * 1000000;
		pthread_mutex_unlock(&h->mu);
		if (why == NULL) {
			log_debug("member %s of group %s: its name is not "
			    "resolved yet, not probed", gm->target, g->name);
			return true;
		}
		metrics_inc(&w->metrics.probes_failed);
		snprintf(cause, sizeof(cause), "cannot probe: %s", why);
		health_report(h, false, cause, g->down_after, g->up_after);
		return true;
	}
	pthread_mutex_lock(&h->mu);
	seq = ++h->seq;
	h->waiting = true;
	h->sent_us = now;
	h->deadline_us = now + (uint64_t)g->timeout * 1000000;
	/* Every interval on the dot, not interval plus a tick's lateness;
	 * after a pause (a reload, a busy loop) from now on. */
	if (h->due_us != 0 && now - h->due_us < (uint64_t)g->interval *
	    1000000)
		h->due_us += (uint64_t)g->interval * 1000000;
	else
		h->due_us = now + (uint64_t)g->interval * 1000000;
	h->addr = hop.addr;
	h->addrlen = hop.addrlen;
	pthread_mutex_unlock(&h->mu);
	health_branch(key, h->id, seq, branch);
	{
		uint64_t in[2] = { ((uint64_t)h->id << 32) | seq, now };

		cid = siphash24(key, in, sizeof(in));
	}
	n = build(conf, gm, &hop, branch, seq, cid, buf, buflen);
	errno = 0;
	if (n < 0 || send_probe(w, &hop, buf, (size_t)n) == -1) {
		int e = errno;

		pthread_mutex_lock(&h->mu);
		if (h->seq == seq)
			h->waiting = false;
		pthread_mutex_unlock(&h->mu);
		metrics_inc(&w->metrics.probes_failed);
		snprintf(cause, sizeof(cause), "probe not sent%s%s",
		    hop.tp != SIP_TP_UDP ? ": cannot connect, " : "",
		    hop.tp != SIP_TP_UDP ? (e != 0 ? strerror(e) : "failed") :
		    "");
		health_report(h, false, cause, g->down_after, g->up_after);
		return true;
	}
	metrics_inc(&w->metrics.probes_sent);
	return true;
}

void
probe_tick(struct worker *w, const struct conf *conf,
    const struct resolve_map *map, char *buf, size_t buflen)
{
	uint8_t key[SIPHASH_KEY_LEN];
	uint64_t now;
	size_t g, i, k = 0;
	unsigned nw = w->srv->nworkers > 0 ? (unsigned)w->srv->nworkers : 1;
	unsigned sent = 0;

	if (conf == NULL || conf->ngroups == 0)
		return;
	health_branch_key(conf->branch_key, key);
	now = health_now_us();
	for (g = 0; g < conf->ngroups; g++) {
		const struct conf_group *cg = &conf->groups[g];

		for (i = 0; i < cg->nmembers; i++, k++) {
			if (k % nw != (unsigned)w->id ||
			    cg->members[i].health == NULL)
				continue;
			/* Bounded work per tick: past PROBE_TICK_MAX the
			 * due ones wait for the next (their timeouts are
			 * still looked at). */
			if (probe_member(w, conf, cg, &cg->members[i], map,
			    key, now, sent < PROBE_TICK_MAX, buf, buflen))
				sent++;
		}
	}
	if (sent > 0)
		transport_flush(w);
}

bool
probe_is_answer(const struct sipmsg *m)
{
	return !m->is_request && m->nvia > 0 &&
	    health_is_probe_branch(m->via[0].branch);
}

/* The state of conf's member with probe id id, or NULL: one that left the
 * configuration no longer counts. A walk without a lock (the worker holds
 * conf), run only for answers whose MAC holds. */
static struct member_health *
member_of(const struct conf *conf, uint32_t id)
{
	const struct member_health *h;
	size_t g, i;

	for (g = 0; g < conf->ngroups; g++)
		for (i = 0; i < conf->groups[g].nmembers; i++)
			if ((h = conf->groups[g].members[i].health) != NULL &&
			    h->id == id)
				return conf->groups[g].members[i].health;
	return NULL;
}

bool
probe_answer(struct worker *w, const struct tp_source *src,
    const struct sipmsg *m, const struct conf *conf)
{
	uint8_t key[SIPHASH_KEY_LEN];
	struct member_health *h;
	struct sockaddr_storage from;
	char cause[64];
	uint32_t id, seq;
	uint64_t now = health_now_us();
	unsigned down_after, up_after;
	bool match;

	health_branch_key(conf->branch_key, key);
	if (m->nvia != 1 ||
	    !health_branch_verify(key, m->via[0].branch, &id, &seq) ||
	    (h = member_of(conf, id)) == NULL) {
		log_debug("probe answer from %s:%u: not one of ours", src->ip,
		    (unsigned)src->port);
		return false;
	}
	if (m->status < 200)
		return true;	/* provisional: the final one counts */
	from = src->addr;
	netaddr_unmap(&from);
	pthread_mutex_lock(&h->mu);
	match = h->waiting && h->seq == seq && now <= h->deadline_us &&
	    h->addr.ss_family != 0 && netaddr_eq_port(&h->addr, &from);
	if (match) {
		h->waiting = false;
		atomic_store(&h->rtt_us, now - h->sent_us);
	}
	down_after = h->down_after;
	up_after = h->up_after;
	pthread_mutex_unlock(&h->mu);
	if (!match) {
		/* Late, a replay, a duplicate, or from elsewhere: it proves
		 * nothing about the member (and is no response to relay). */
		metrics_inc(&w->metrics.probes_stale);
		log_debug("probe answer %u from %s:%u for %s: not the one "
		    "awaited", m->status, src->ip, (unsigned)src->port,
		    h->target);
		return true;
	}
	metrics_inc(&w->metrics.probes_answered);
	if (m->status == 408 || m->status >= 500) {
		snprintf(cause, sizeof(cause), "%u answer to OPTIONS",
		    m->status);
		health_report(h, false, cause, down_after, up_after);
	} else
		health_report(h, true, NULL, down_after, up_after);
	return true;
}

bool
probe_peer_failed(const struct conf *conf, const struct sockaddr *sa,
    int err, const char *how)
{
	struct sockaddr_storage ss;
	struct member_health *h;
	char cause[128];
	size_t g, i;
	unsigned down_after, up_after;
	bool eq, found = false;

	if (conf == NULL || sa == NULL)
		return false;
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, sa, netaddr_len(sa->sa_family) > 0 ?
	    netaddr_len(sa->sa_family) : sizeof(struct sockaddr));
	netaddr_unmap(&ss);
	for (g = 0; g < conf->ngroups; g++) {
		for (i = 0; i < conf->groups[g].nmembers; i++) {
			const struct group_member *gm =
			    &conf->groups[g].members[i];
			struct sockaddr_storage lit;

			if ((h = gm->health) == NULL)
				continue;
			pthread_mutex_lock(&h->mu);
			/* Not probed yet (a request went first): an IP
			 * literal says where it is all the same. */
			if (h->addr.ss_family == 0 && gm->uri.transport !=
			    SIP_TP_TLS && !gm->uri.is_sips &&
			    netaddr_parse(gm->uri.host, gm->uri.port ?
			    gm->uri.port : SIP_DEFAULT_PORT, &lit) == 0) {
				h->addr = lit;
				h->addrlen = netaddr_len(lit.ss_family);
			}
			eq = h->addr.ss_family != 0 &&
			    netaddr_eq_port(&h->addr, &ss);
			if (eq)
				h->waiting = false;	/* counted here */
			down_after = h->down_after;
			up_after = h->up_after;
			pthread_mutex_unlock(&h->mu);
			if (!eq)
				continue;
			found = true;
			snprintf(cause, sizeof(cause), "%s: %s", how,
			    strerror(err));
			health_report(h, false, cause, down_after, up_after);
		}
	}
	return found;
}
