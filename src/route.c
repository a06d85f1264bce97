/* route.c: the routing core, a pure function from a request to a decision. */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <string.h>

#include "config.h"
#include "group.h"
#include "hash.h"
#include "netaddr.h"
#include "route.h"
#include "siphash.h"
#include "sipmsg.h"
#include "table.h"

#define MAGIC_COOKIE	"z9hG4bK"
#define MAGIC_LEN	(sizeof(MAGIC_COOKIE) - 1)

static const char *rule_names[RULE__COUNT] = {
	[RULE_ACTIVE] = "active user",
	[RULE_MOVED] = "moved user",
	[RULE_UNAVAILABLE] = "unavailable user",
	[RULE_GONE_AUTH] = "gone user, authoritative domain",
	[RULE_GONE_NONAUTH] = "gone user, domain not authoritative",
	[RULE_UNKNOWN_COMPLETE] = "unknown user, complete domain",
	[RULE_UNKNOWN] = "unknown user",
	[RULE_SELF_OPTIONS] = "OPTIONS to the proxy itself",
	[RULE_SELF_OTHER] = "request to the proxy itself",
	[RULE_ROUTE_NEXT] = "loose route to the next Route",
	[RULE_ROUTE_UNTRUSTED] = "next Route not allowed from an untrusted source",
	[RULE_FOREIGN_TRUSTED] = "foreign domain from a trusted source",
	[RULE_FOREIGN_UNTRUSTED] = "foreign domain",
	[RULE_MAX_FORWARDS] = "Max-Forwards exhausted",
	[RULE_LOOP] = "loop detected",
	[RULE_PROXY_REQUIRE] = "unsupported Proxy-Require",
	[RULE_SCHEME] = "unsupported Request-URI scheme",
	[RULE_VERSION] = "unsupported SIP version",
	[RULE_BAD_REQUEST] = "malformed request",
	[RULE_UNPARSABLE] = "unparsable message",
	[RULE_SCANNER] = "blocked User-Agent",
	[RULE_RESPONSE_OURS] = "response to a request we forwarded",
	/* one literal in parentheses: clang warns of a missing comma */
	[RULE_RESPONSE_NOT_OURS] = ("response whose top Via is not ours "
	    "(not our address, or an H1 we did not make)"),
	[RULE_GROUP_DOWN] = "group target, no member up",
	[RULE_PROBE_ANSWER] = "answer to a health probe of a group member",
};

const char *
route_rule_name(enum route_rule rule)
{
	if ((unsigned)rule >= RULE__COUNT)
		return "?";
	return rule_names[rule];
}

const char *
route_action_name(enum route_action action)
{
	switch (action) {
	case ROUTE_REPLY:
		return "reply";
	case ROUTE_FORWARD:
		return "forward";
	case ROUTE_RELAY:
		return "relay";
	case ROUTE_DROP:
		return "drop";
	}
	return "?";
}

static void
reply(struct route_decision *d, enum route_rule rule, unsigned code,
    const char *reason)
{
	d->action = ROUTE_REPLY;
	d->rule = rule;
	d->code = code;
	d->reason = reason;
}

static void
drop(struct route_decision *d, enum route_rule rule, const char *why)
{
	d->action = ROUTE_DROP;
	d->rule = rule;
	d->drop_reason = why;
}

static void
forward(struct route_decision *d, enum route_rule rule, struct slice uri)
{
	d->action = ROUTE_FORWARD;
	d->rule = rule;
	d->next_hop = uri;
}

/* An IP literal host (IPv6 possibly bracketed) inside a trusted network? */
static bool
is_trusted_host(const struct conf *conf, struct slice host)
{
	struct sockaddr_storage ss;

	return netaddr_parse(host, SIP_DEFAULT_PORT, &ss) == 0 &&
	    config_trusted_find(conf, (struct sockaddr *)&ss) >= 0;
}

/*
 * SPEC §7: a next hop an untrusted source may reach by following our
 * Record-Route: exactly the host, port and transport of an active table
 * target (so a PBX's other ports stay out of reach), or a host inside
 * `trusted`.
 */
static bool
is_vouched_hop(const struct conf *conf, const struct sip_uri *u)
{
	return u->is_sip && (table_is_next_hop(conf->table, u) ||
	    is_trusted_host(conf, u->host));
}

static bool
is_blocked_ua(const struct sipmsg *m, const struct conf *conf)
{
	struct slice ua = m->user_agent.value;
	size_t i, j, n;

	if (ua.p == NULL)
		return false;
	/* Patterns are lower case (config.c); the first byte filters. */
	for (i = 0; i < conf->nblock_ua; i++) {
		const char *pat = conf->block_ua[i];

		n = strlen(pat);
		if (n == 0 || n > ua.len)
			continue;
		for (j = 0; j + n <= ua.len; j++)
			if (lower_ascii(ua.p[j]) == pat[0] &&
			    strncasecmp(ua.p + j, pat, n) == 0)
				return true;
	}
	return false;
}

/* A sips: or transport=tls URI without a port means 5061 (RFC 3261
 * §19.1.2): <sips:proxy;lr> is our TLS listener's. */
static bool
is_self_uri(const struct conf *conf, const struct sip_uri *u)
{
	uint16_t port = u->port;

	if (port == 0 && (u->is_sips || u->transport == SIP_TP_TLS))
		port = SIP_TLS_DEFAULT_PORT;
	return u->is_sip && config_is_self(conf, u->host, port);
}

/*
 * The local domain a host[:port] names, or -1. Configured names and aliases
 * match at any port; our own addresses (SPEC §6) stand for the first domain
 * without a port or at a port we listen on: the same address at another
 * port is another server, e.g. a PBX on the same host, whose Contact
 * in-dialog requests must reach (Kamailio's `myself` compares the port
 * when the URI has one).
 */
static int
local_domain(const struct conf *conf, struct slice host, uint16_t port,
    bool *alias)
{
	bool by_alias = false;
	int dom;

	dom = config_domain_find(conf, host, &by_alias);
	if (dom == 0 && by_alias && port != 0 && conf->nlisten > 0 &&
	    !config_is_self(conf, host, port) &&
	    config_is_self(conf, host, conf->listen[0].port))
		return -1;	/* our address, not our port */
	if (alias != NULL)
		*alias = by_alias;
	return dom;
}

static uint64_t
hash_slice(uint64_t h, struct slice s)
{
	h = hash_bytes(h, s.p, s.len);
	return hash_bytes(h, "\0", 1);	/* keep fields apart */
}

/*
 * H2: what makes a request the same request on a second pass (SPEC §3,
 * RFC 3261 §16.6 step 8): only fields a CANCEL and the ACK for a non-2xx
 * share with their INVITE.
 */
static uint64_t
branch_h2(const struct sipmsg *m, const struct conf *conf)
{
	uint64_t h = HASH_SEED;
	size_t i;

	h = hash_bytes(h, conf->branch_secret, strlen(conf->branch_secret));
	h = hash_slice(h, m->ruri_text);
	h = hash_slice(h, m->from_tag);
	h = hash_slice(h, m->callid.value);
	h = hash_bytes(h, &m->cseq_num, sizeof(m->cseq_num));
	for (i = 0; i < m->nroute; i++)
		h = hash_slice(h, m->route[i]);
	return hash_final(h);
}

/*
 * H1's input, field by field, length first (4 bytes, little-endian), so no
 * two field lists give the same bytes. The fields are gathered in a buffer
 * and hashed in one pass: fed one by one, a dozen pieces of a few bytes
 * each cost SipHash more than the hashing itself. A Via too long for the
 * buffer is fed in pieces; the bytes, and so the hash, are the same.
 */
struct h1_input {
	struct siphash	 st;
	uint8_t		 buf[384];
	size_t		 n;
};

static void
h1_field(struct h1_input *in, const void *p, size_t len)
{
	uint8_t hdr[4] = { (uint8_t)len, (uint8_t)(len >> 8),
	    (uint8_t)(len >> 16), (uint8_t)(len >> 24) };

	if (in->n + sizeof(hdr) + len > sizeof(in->buf)) {
		siphash_update(&in->st, in->buf, in->n);
		in->n = 0;
		siphash_update(&in->st, hdr, sizeof(hdr));
		siphash_update(&in->st, p, len);
		return;
	}
	memcpy(in->buf + in->n, hdr, sizeof(hdr));
	if (len > 0)
		memcpy(in->buf + in->n + sizeof(hdr), p, len);
	in->n += sizeof(hdr) + len;
}

static bool
has_cookie(struct slice branch)
{
	return branch.len > MAGIC_LEN &&
	    memcmp(branch.p, MAGIC_COOKIE, MAGIC_LEN) == 0;
}

uint64_t
route_via_h1(const struct sipmsg *m, const struct sip_via *v,
    const struct conf *conf)
{
	struct h1_input in;
	uint8_t num[4], port[2], rport = v->has_rport;

	siphash_init(&in.st, conf->branch_key);
	in.n = 0;
	if (has_cookie(v->branch)) {
		h1_field(&in, "b", 1);
		h1_field(&in, v->branch.p, v->branch.len);
	} else {
		/* RFC 3261 §17.2.3: without the cookie a transaction is
		 * known by what its responses carry as well. */
		num[0] = (uint8_t)m->cseq_num;
		num[1] = (uint8_t)(m->cseq_num >> 8);
		num[2] = (uint8_t)(m->cseq_num >> 16);
		num[3] = (uint8_t)(m->cseq_num >> 24);
		h1_field(&in, "2", 1);
		h1_field(&in, m->callid.value.p, m->callid.value.len);
		h1_field(&in, m->from_tag.p, m->from_tag.len);
		h1_field(&in, num, sizeof(num));
	}
	port[0] = (uint8_t)v->port;
	port[1] = (uint8_t)(v->port >> 8);
	h1_field(&in, v->transport.p, v->transport.len);
	h1_field(&in, v->host.p, v->host.len);
	h1_field(&in, port, sizeof(port));
	h1_field(&in, v->received.p, v->received.len);
	h1_field(&in, &rport, 1);
	h1_field(&in, v->rport.p, v->rport.len);
	siphash_update(&in.st, in.buf, in.n);
	return siphash_final(&in.st);
}

/*
 * Our top Via carries the H1 of the Via below it (SPEC §7). The hex is
 * compared without an early exit, so the time taken tells nothing about
 * how many digits a guess got right.
 */
static bool
is_our_response(const struct sipmsg *m, const struct conf *conf)
{
	struct slice b = m->via[0].branch;
	char want[16];
	unsigned diff = 0;
	size_t i;

	if (m->nvia < 2 ||
	    !config_is_self(conf, m->via[0].host, m->via[0].port) ||
	    b.len != ROUTE_BRANCH_LEN ||
	    memcmp(b.p, MAGIC_COOKIE, MAGIC_LEN) != 0 ||
	    b.p[MAGIC_LEN + 16] != '.')
		return false;
	put_hex64(want, route_via_h1(m, &m->via[1], conf));
	for (i = 0; i < sizeof(want); i++)
		diff |= (unsigned char)(b.p[MAGIC_LEN + i] ^ want[i]);
	return diff == 0;
}

/*
 * The top Via as it arrived, keyed: the same for a retransmission, the
 * CANCEL and the ACK of a non-2xx, so resolve_pick() sends them where the
 * INVITE went. The H1 written into our Via is forward_request()'s, of
 * that Via as it leaves with received/rport.
 */
static uint64_t
branch_h1(const struct sipmsg *m, const struct conf *conf)
{
	return route_via_h1(m, &m->via[0], conf);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* H2 of a branch we wrote: "z9hG4bK" 16 hex "." 16 hex. */
static bool
our_branch_h2(struct slice b, uint64_t *h2)
{
	size_t i;
	int x;

	if (b.len != ROUTE_BRANCH_LEN ||
	    memcmp(b.p, MAGIC_COOKIE, MAGIC_LEN) != 0 ||
	    b.p[MAGIC_LEN + 16] != '.')
		return false;
	*h2 = 0;
	for (i = MAGIC_LEN + 17; i < b.len; i++) {
		if ((x = hexval(b.p[i])) < 0)
			return false;
		*h2 = *h2 << 4 | (uint64_t)x;
	}
	return true;
}

static bool
is_loop(const struct sipmsg *m, const struct conf *conf, uint64_t h2)
{
	uint64_t seen;
	size_t i;

	for (i = 0; i < m->nvia; i++) {
		if (!config_is_self(conf, m->via[i].host, m->via[i].port))
			continue;
		if (our_branch_h2(m->via[i].branch, &seen) && seen == h2)
			return true;
	}
	return false;
}

/*
 * SPEC §8: an active user whose target is a group. The member comes from
 * the Call-ID, so a retransmission, the CANCEL and the ACK of a non-2xx
 * reach the INVITE's member while the usable set stays as it is. None
 * usable: 503 with Retry-After at once, naming the group to trusted
 * sources only.
 */
static void
decide_group(const struct sipmsg *m, const struct conf *conf,
    const struct table_entry *e, struct route_decision *d)
{
	const struct conf_group *g = &conf->groups[e->group];
	const struct group_member *mb;
	int order[GROUP_MAX_MEMBERS];
	size_t i, n;

	d->group = g;
	if (conf->mode == MODE_REDIRECT) {
		n = group_rank(g, m->callid.value, conf->branch_key, order,
		    NULL);
		for (i = 0; i < n; i++)
			d->ranked[i] = (uint8_t)order[i];
		d->nranked = (unsigned)n;
		d->member = n > 0 ? order[0] : -1;
	} else if (m->mid == SIP_CANCEL || m->mid == SIP_ACK)
		/* A member drained while this call rang still has it. */
		d->member = group_choose_following(g, m->callid.value,
		    conf->branch_key);
	else
		d->member = group_choose(g, m->callid.value,
		    conf->branch_key);
	if (d->member < 0) {
		reply(d, RULE_GROUP_DOWN, 503, d->trusted >= 0 ?
		    g->reason_down : "Service Unavailable");
		d->retry_after = g->interval;
		return;
	}
	if (conf->mode == MODE_REDIRECT) {
		reply(d, RULE_ACTIVE, 302, "Moved Temporarily");
		d->contact = true;
		return;
	}
	mb = &g->members[d->member];
	forward(d, RULE_ACTIVE, mb->uri.all);
	d->next_hop_uri = mb->uri;
	/* A REGISTER keeps the registrar's Request-URI. */
	d->rewrite_ruri = m->mid != SIP_REGISTER;
}

/* The rows of SPEC §3 for a user of a local domain. */
static void
decide_user(const struct sipmsg *m, const struct conf *conf,
    const struct sip_uri *uri, int dom, struct route_decision *d)
{
	const struct conf_domain *cd = &conf->domains[dom];
	const struct table_entry *e = NULL;
	const char *fault;
	ssize_t n;

	d->domain = dom;
	n = table_normalise_user(uri->user, uri->user_phone, d->user,
	    sizeof(d->user));
	if (n >= 0) {
		d->user_len = (size_t)n;
		e = table_lookup(conf->table, (uint16_t)dom, d->user,
		    d->user_len);
	}
	d->entry = e;
	if (e == NULL) {
		if (cd->authoritative && cd->complete)
			reply(d, RULE_UNKNOWN_COMPLETE, 604,
			    "Does Not Exist Anywhere");
		else
			reply(d, RULE_UNKNOWN, 404, "Not Found");
		return;
	}
	switch ((enum user_state)e->state) {
	case USER_ACTIVE:
		if (e->group != TABLE_NO_GROUP) {
			decide_group(m, conf, e, d);
			break;
		}
		if (conf->mode == MODE_REDIRECT) {
			reply(d, RULE_ACTIVE, 302, "Moved Temporarily");
			d->contact = true;
			break;
		}
		forward(d, RULE_ACTIVE, slice_make(e->target,
		    strlen(e->target)));
		/* A REGISTER keeps the registrar's Request-URI. */
		d->rewrite_ruri = m->mid != SIP_REGISTER;
		if (sipmsg_uri_parse(d->next_hop, &d->next_hop_uri,
		    &fault) == -1)
			reply(d, RULE_ACTIVE, 500, "Bad Target In User Table");
		break;
	case USER_MOVED:
		reply(d, RULE_MOVED, 301, "Moved Permanently");
		d->contact = true;
		break;
	case USER_UNAVAILABLE:
		reply(d, RULE_UNAVAILABLE, 480, "Temporarily Unavailable");
		d->retry_after = e->retry_after;
		break;
	case USER_GONE:
		if (cd->authoritative)
			reply(d, RULE_GONE_AUTH, 604, "Does Not Exist Anywhere");
		else
			reply(d, RULE_GONE_NONAUTH, 404, "Not Found");
		break;
	}
}

/* Route a Request-URI with no Route left to follow. */
static void
decide_ruri(const struct sipmsg *m, const struct conf *conf,
    const struct sip_uri *ruri, struct route_decision *d)
{
	bool alias = false;
	int dom;

	dom = local_domain(conf, ruri->host, ruri->port, &alias);
	if (ruri->user.len == 0 &&
	    (dom >= 0 || config_is_self(conf, ruri->host, ruri->port))) {
		d->self = true;
		if (m->mid == SIP_OPTIONS) {
			reply(d, RULE_SELF_OPTIONS, 200, "OK");
			d->options_caps = true;
			return;
		}
		if (m->mid != SIP_REGISTER) {
			reply(d, RULE_SELF_OTHER, 404, "Not Found");
			return;
		}
	}
	if (dom >= 0) {
		d->domain_alias = alias;
		if (m->mid == SIP_REGISTER) {
			d->user_from_to = true;
			decide_user(m, conf, &m->to_uri, dom, d);
		} else
			decide_user(m, conf, ruri, dom, d);
		return;
	}
	if (conf->mode == MODE_PROXY && d->trusted >= 0)
		forward(d, RULE_FOREIGN_TRUSTED, ruri->all);
	else
		reply(d, RULE_FOREIGN_UNTRUSTED, 403, "Forbidden");
}

/* Checks of RFC 3261 §16.3 and SPEC §3 "Other requests", in that order. */
static bool
decide_checks(const struct sipmsg *m, const struct conf *conf,
    struct route_decision *d)
{
	bool self_options;

	/* RFC 3261 §7.1: the SIP-Version is case-insensitive */
	if (!slice_caseeq(m->version, SLICE("SIP/2.0"))) {
		reply(d, RULE_VERSION, 505, "Version Not Supported");
		return true;
	}
	if (!slice_eq(m->cseq_method, m->method)) {
		reply(d, RULE_BAD_REQUEST, 400, "CSeq Method Does Not Match");
		return true;
	}
	if (!m->ruri.is_sip) {
		reply(d, RULE_SCHEME, 416, "Unsupported URI Scheme");
		return true;
	}
	if (m->ruri.headers.len > 0) {
		reply(d, RULE_BAD_REQUEST, 400,
		    "Request-URI Has Escaped Headers");
		return true;
	}
	self_options = m->mid == SIP_OPTIONS && m->nroute == 0 &&
	    m->ruri.user.len == 0 &&
	    (config_is_self(conf, m->ruri.host, m->ruri.port) ||
	    local_domain(conf, m->ruri.host, m->ruri.port, NULL) >= 0);
	if (m->max_forwards == 0 && !self_options) {
		reply(d, RULE_MAX_FORWARDS, 483, "Too Many Hops");
		return true;
	}
	d->branch_h2 = branch_h2(m, conf);
	if (is_loop(m, conf, d->branch_h2)) {
		reply(d, RULE_LOOP, 482, "Loop Detected");
		return true;
	}
	if (m->npreq > 0) {
		reply(d, RULE_PROXY_REQUIRE, 420, "Bad Extension");
		d->unsupported = true;
		return true;
	}
	return false;
}

static void
decide_request(const struct sipmsg *m, const struct conf *conf,
    struct route_decision *d)
{
	const struct sip_uri *ruri = &m->ruri;
	size_t first = 0, last = m->nroute;

	if (is_blocked_ua(m, conf)) {
		drop(d, RULE_SCANNER, "scanner");
		return;
	}
	if (decide_checks(m, conf, d))
		return;

	/* RFC 3261 §16.4: a strict router put our Record-Route into the
	 * Request-URI; the real one is the last Route. */
	if (last > 0 && ruri->user.len == 0 && is_self_uri(conf, ruri)) {
		ruri = &m->route_uri[--last];
		d->strict_route = true;
	}
	/* Loose routing: our own Route values are removed. Two of them may
	 * lead when we record-routed across transports. */
	while (first < last && is_self_uri(conf, &m->route_uri[first]))
		first++;
	d->pop_routes = (unsigned)first;

	if (first < last) {
		const struct sip_uri *next = &m->route_uri[first];

		if (conf->mode == MODE_PROXY && (d->trusted >= 0 ||
		    ((first > 0 || d->strict_route) &&
		    is_vouched_hop(conf, next)))) {
			forward(d, RULE_ROUTE_NEXT, next->all);
			d->next_hop_uri = *next;
		} else
			reply(d, RULE_ROUTE_UNTRUSTED, 403, "Forbidden");
	} else if (!ruri->is_sip)
		reply(d, RULE_SCHEME, 416, "Unsupported URI Scheme");
	else {
		decide_ruri(m, conf, ruri, d);
		/* In-dialog from outside `trusted`: our Route led here, and the
		 * Request-URI (the PBX's Contact) is a next hop we vouch for. */
		if (d->rule == RULE_FOREIGN_UNTRUSTED &&
		    (first > 0 || d->strict_route) &&
		    conf->mode == MODE_PROXY && is_vouched_hop(conf, ruri)) {
			d->code = 0;
			d->reason = NULL;
			forward(d, RULE_ROUTE_NEXT, ruri->all);
		}
		if (d->action == ROUTE_FORWARD && d->rule != RULE_ACTIVE)
			d->next_hop_uri = *ruri;
	}
	if (d->action == ROUTE_FORWARD)
		d->branch_h1 = branch_h1(m, conf);
}

void
route_decide(const struct sipmsg *m, int scan_rc, const struct sockaddr *src,
    const struct conf *conf, struct route_decision *d)
{
	memset(d, 0, sizeof(*d));
	d->domain = -1;
	d->member = -1;
	d->trusted = src != NULL ? config_trusted_find(conf, src) : -1;

	if (scan_rc < 0 || m->fault != NULL) {
		if (m->is_request && sipmsg_can_reply(m))
			reply(d, RULE_BAD_REQUEST, 400,
			    m->fault != NULL ? m->fault : "Bad Request");
		else
			drop(d, RULE_UNPARSABLE, "parse");
	} else if (!m->is_request) {
		if (is_our_response(m, conf)) {
			d->action = ROUTE_RELAY;
			d->rule = RULE_RESPONSE_OURS;
		} else
			drop(d, RULE_RESPONSE_NOT_OURS, "not_ours");
		return;
	} else
		decide_request(m, conf, d);

	/* RFC 3261 §8.2.7: a stateless UAS does not answer ACK, and a CANCEL
	 * of a transaction it never kept has nothing to cancel. */
	if (d->action == ROUTE_REPLY &&
	    (m->mid == SIP_ACK || m->mid == SIP_CANCEL)) {
		d->action = ROUTE_DROP;
		d->drop_reason = "local_ack";
	}
}

static bool
is_user_unreserved(unsigned char c)
{
	/* RFC 3261 §25.1: unreserved / user-unreserved */
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return strchr("-_.!~*'()&=+$,;?/", c) != NULL && c != '\0';
}

/* target into out, with the dialled user of d put in when insert (SPEC
 * §2: a number block's user-less target; §8: a group member). */
static ssize_t
target_uri(const struct route_decision *d, const char *target, bool insert,
    char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	const char *colon;
	size_t tlen, i, n = 0, need;

	tlen = strlen(target);
	if (!insert) {
		if (tlen >= outlen)
			return -1;
		memcpy(out, target, tlen + 1);
		return (ssize_t)tlen;
	}
	if ((colon = strchr(target, ':')) == NULL)
		return -1;
	n = (size_t)(colon - target) + 1;
	for (i = 0, need = n + 1 + (tlen - n); i < d->user_len; i++)
		need += is_user_unreserved((unsigned char)d->user[i]) ? 1 : 3;
	if (need >= outlen)
		return -1;
	memcpy(out, target, n);
	for (i = 0; i < d->user_len; i++) {
		unsigned char c = (unsigned char)d->user[i];

		if (is_user_unreserved(c))
			out[n++] = (char)c;
		else {
			out[n++] = '%';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 15];
		}
	}
	out[n++] = '@';
	memcpy(out + n, colon + 1, tlen - (size_t)(colon - target));
	n += tlen - (size_t)(colon - target) - 1;
	return (ssize_t)n;
}

ssize_t
route_member_uri(const struct route_decision *d, int i, char *out,
    size_t outlen)
{
	if (d->group == NULL || i < 0 || (size_t)i >= d->group->nmembers)
		return -1;
	return target_uri(d, d->group->members[i].target, d->user_len > 0,
	    out, outlen);
}

ssize_t
route_target_uri(const struct route_decision *d, const struct sipmsg *m,
    char *out, size_t outlen)
{
	const struct table_entry *e = d->entry;

	(void)m;
	if (d->group != NULL)
		return route_member_uri(d, d->member, out, outlen);
	if (e == NULL || e->target == NULL)
		return -1;
	return target_uri(d, e->target, e->is_prefix && !e->target_has_user,
	    out, outlen);
}

void
route_branch_text(uint64_t h1, uint64_t h2, char *out)
{
	char *p = out;

	p = cpymem(p, MAGIC_COOKIE, sizeof(MAGIC_COOKIE) - 1);
	p = put_hex64(p, h1);
	*p++ = '.';
	put_hex64(p, h2);
}

void
route_branch(const struct route_decision *d, char *out)
{
	route_branch_text(d->branch_h1, d->branch_h2, out);
}
