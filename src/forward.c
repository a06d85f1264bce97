/* forward.c: what goes out, as pure functions: forwarded requests and
 * relayed responses as spliced bytes, local replies, and the next hop. */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <string.h>

#include "config.h"
#include "forward.h"
#include "hash.h"
#include "netaddr.h"
#include "resolve.h"
#include "route.h"
#include "sipmsg.h"

#define SERVER_NAME	"usher/" USHER_VERSION
#define ALLOW_METHODS	"INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, " \
			"PRACK, UPDATE, INFO, SUBSCRIBE, NOTIFY, REFER, " \
			"MESSAGE, PUBLISH"

int
forward_listener(const struct conf *conf, enum sip_transport tp, int family)
{
	size_t i;

	for (i = 0; i < conf->nlisten; i++)
		if (conf->listen[i].transport == tp &&
		    conf->listen[i].ss.ss_family == family)
			return (int)i;
	return -1;
}

bool
forward_needs_tls(const struct sipmsg *m, const struct route_decision *d)
{
	/* The caller asked for TLS to the end: retargeting to a sip: target
	 * does not lift that (RFC 5630 §3.1.3). RFC 3261 §16.4: a strict
	 * router's request leaves with the last Route as its Request-URI. */
	return d->next_hop_uri.is_sips || m->ruri.is_sips ||
	    (d->strict_route && m->nroute > 0 &&
	    m->route_uri[m->nroute - 1].is_sips);
}

/* The name a TLS peer's certificate must carry: host as written, an IPv6
 * reference without its brackets. */
static void
hop_name(struct fwd_hop *hop, struct slice host)
{
	if (host.len >= 2 && host.p[0] == '[' && host.p[host.len - 1] == ']') {
		host.p++;
		host.len -= 2;
	}
	if (host.len >= sizeof(hop->name))
		host.len = sizeof(hop->name) - 1;
	memcpy(hop->name, host.p, host.len);
	hop->name[host.len] = '\0';
}

int
forward_hop(const struct conf *conf, const struct sip_uri *uri,
    const struct sockaddr_storage *resolved, size_t msglen,
    struct fwd_hop *hop, const char **why)
{
	/* RFC 3261 §26.2.2: sips: is TLS whatever transport= says (tcp
	 * means TLS over TCP there; udp cannot carry it: never downgraded,
	 * SPEC §7). */
	bool tls = uri->is_sips || uri->transport == SIP_TP_TLS;
	uint16_t port = uri->port ? uri->port : tls ? SIP_TLS_DEFAULT_PORT :
	    SIP_DEFAULT_PORT;

	memset(hop, 0, sizeof(*hop));
	if (resolved != NULL) {
		hop->addr = *resolved;
		if (uri->port)
			netaddr_set_port(&hop->addr, port);
	} else if (netaddr_parse(uri->host, port, &hop->addr) == -1) {
		*why = "Next Hop Needs DNS";
		return -1;
	}
	hop->addrlen = netaddr_len(hop->addr.ss_family);
	if (!netaddr_is_unicast(&hop->addr)) {
		*why = "Next Hop Is Not A Unicast Address";
		return -1;
	}
	if (tls) {
		hop->tp = SIP_TP_TLS;
		hop_name(hop, uri->host);
		/* Via names the TLS listener: a response or a new request of
		 * the dialog that finds the connection gone comes back there
		 * (RFC 3261 §18.2.2), over TLS. */
		hop->listener = forward_listener(conf, SIP_TP_TLS,
		    hop->addr.ss_family);
		if (hop->listener == -1) {
			*why = uri->is_sips ? FORWARD_NO_TLS :
			    hop->addr.ss_family == AF_INET6 ?
			    "No IPv6 TLS Listener For Next Hop" :
			    "No IPv4 TLS Listener For Next Hop";
			return -1;
		}
		return 0;
	}
	switch (uri->transport) {
	case SIP_TP_NONE:
		hop->tp = msglen > FORWARD_UDP_MTU_LIMIT ? SIP_TP_TCP :
		    SIP_TP_UDP;
		break;
	case SIP_TP_UDP:
	case SIP_TP_TCP:
		hop->tp = uri->transport;
		break;
	default:
		*why = "Unsupported Transport";
		return -1;
	}
	hop->listener = forward_listener(conf, hop->tp, hop->addr.ss_family);
	/* Over TCP we connect from an ephemeral port; the Via and
	 * Record-Route still name a listener, UDP if we have no TCP one. */
	if (hop->listener == -1 && hop->tp == SIP_TP_TCP)
		hop->listener = forward_listener(conf, SIP_TP_UDP,
		    hop->addr.ss_family);
	if (hop->listener == -1) {
		*why = hop->addr.ss_family == AF_INET6 ?
		    "No IPv6 Listener For Next Hop" :
		    "No IPv4 Listener For Next Hop";
		return -1;
	}
	return 0;
}

void
forward_dns_servers(const struct conf *conf, struct resolve_servers *sv)
{
	size_t i;

	memset(sv, 0, sizeof(*sv));
	for (i = 0; i < conf->ndns_servers && i < RESOLVE_MAX_SERVERS; i++)
		sv->addr[i] = conf->dns_servers[i];
	sv->n = i;
}

/* A 503 reason that names the host ("Next Hop x.test Does Not Resolve"),
 * with nothing in it that could break the status line. */
static const char *
name_reason(char *buf, size_t len, const char *what, struct slice host,
    const char *why)
{
	size_t i, n;

	n = (size_t)snprintf(buf, len, "%s %.*s %s", what,
	    (int)(host.len > 100 ? 100 : host.len), host.p, why);
	for (i = 0; i < n && i < len; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			buf[i] = '?';
	return buf;
}

enum fwd_next
forward_next_hop(const struct conf *conf, const struct sipmsg *m,
    const struct route_decision *d, const struct resolve_answer *a,
    bool target, struct fwd_hop *hop, enum resolve_kind *kind,
    const char **why, char *reason, size_t reasonlen)
{
	struct sip_uri uri = d->next_hop_uri;
	struct sockaddr_storage ss;
	const struct sockaddr_storage *res = NULL;
	int i;

	/* SPEC §7: TLS to the end; forward_hop() then says FORWARD_NO_TLS
	 * when we have no TLS listener of the hop's family. */
	if (forward_needs_tls(m, d))
		uri.is_sips = true;
	/* An IP literal goes straight to forward_hop(); anything else is a
	 * name, RFC 3263. */
	if (!netaddr_is_ip(uri.host)) {
		if (resolve_kind_of(&uri, m->len > FORWARD_UDP_MTU_LIMIT,
		    kind, why) == -1)
			return FWD_NEXT_FAIL;
		if (!resolve_name_ok(uri.host)) {
			*why = "Bad Next Hop Name";
			return FWD_NEXT_FAIL;
		}
		if (a == NULL)
			return FWD_NEXT_DNS;
		/* The same branch picks the same target. */
		if ((i = resolve_pick(a->t, a->n, d->branch_h1)) < 0) {
			*why = name_reason(reason, reasonlen, target ?
			    "Target" : "Next Hop", uri.host, a->why ? a->why :
			    "Does Not Resolve");
			return FWD_NEXT_FAIL;
		}
		ss = a->t[i].addr;
		res = &ss;
		/* §4.1: SRV's transport, but a sips: hop stays TLS (a
		 * _sip._udp answer cached for the name must not downgrade
		 * it; forward_hop() looks at is_sips first). */
		if (a->t[i].tp != SIP_TP_NONE)
			uri.transport = a->t[i].tp;
	}
	return forward_hop(conf, &uri, res, m->len, hop, why) == 0 ?
	    FWD_NEXT_HOP : FWD_NEXT_FAIL;
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
    enum sip_transport tp,
    char *buf, size_t len)
{
	char uri[1024];
	size_t n = 0, i, budget;
	unsigned q;
	ssize_t u;
	int k;

#define ADD(...) do {							\
	k = snprintf(buf + n, len - n, __VA_ARGS__);			\
	if (k < 0 || (size_t)k >= len - n)				\
		return -1;						\
	n += (size_t)k;							\
} while (0)

	if (d->contact && d->group != NULL && d->nranked > 0) {
		/* SPEC §8: every usable member, best first, q by rank. Over
		 * UDP, which anyone can send from a forged address, the
		 * Contacts stay within FORWARD_UDP_CONTACTS bytes, so a
		 * 302 is no amplifier. */
		budget = tp != SIP_TP_UDP && len > 512 ? len - 256 :
		    FORWARD_UDP_CONTACTS;
		for (i = 0; i < d->nranked; i++) {
			if ((u = route_member_uri(d, d->ranked[i], uri,
			    sizeof(uri))) < 0)
				return -1;
			/* The best ones that fit: a shorter list beats
			 * none. */
			if (i > 0 && n + (size_t)u + 32 > budget)
				break;
			q = group_q(i);
			ADD("Contact: <%.*s>;q=%u.%u\r\n", (int)u, uri,
			    q / 1000, q % 1000 / 100);
		}
	} else if (d->contact) {
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
forward_reply(const struct sipmsg *m, const struct route_decision *d,
    const char *src_ip, uint16_t src_port, enum sip_transport tp, char *out,
    size_t outlen)
{
	struct sip_reply r;
	/* A 302 of a group holds a Contact per member (up to 64). */
	char extra[8192], tag[17];
	ssize_t n;

	if ((n = reply_extra(m, d, tp, extra, sizeof(extra))) < 0)
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
forward_reply_addr(const struct sipmsg *m, const struct sockaddr_storage *src,
    struct sockaddr_storage *dst)
{
	*dst = *src;
	if (m->nvia > 0 && m->via[0].has_rport)
		return;
	netaddr_set_port(dst, m->nvia > 0 && m->via[0].port ?
	    m->via[0].port : SIP_DEFAULT_PORT);
}

/*
 * A TCP/TLS answer's way back (RFC 3261 §18.2.2), hop->addr and hop->tp
 * set: the connection the request came in on (found by hop->addr) while it
 * is open, else a new one to the same address at v's sent-by port (5060,
 * 5061 over TLS; rport is for unreliable transports only, RFC 3581 §4:
 * nobody listens on a closed connection's ephemeral port) that verifies
 * the host v names.
 */
static void
answer_hop(struct fwd_hop *hop, const struct sip_via *v)
{
	uint16_t sent_by = v->port ? v->port : hop->tp == SIP_TP_TLS ?
	    SIP_TLS_DEFAULT_PORT : SIP_DEFAULT_PORT;

	hop->answer = true;
	if (hop->tp == SIP_TP_UDP)
		return;
	if (sent_by != netaddr_port(&hop->addr)) {
		hop->alt = hop->addr;
		netaddr_set_port(&hop->alt, sent_by);
		hop->altlen = hop->addrlen;
	}
	if (hop->tp == SIP_TP_TLS)
		hop_name(hop, v->host);
}

void
forward_reply_hop(const struct sipmsg *m, enum sip_transport tp,
    const struct sockaddr_storage *src, struct fwd_hop *hop)
{

	memset(hop, 0, sizeof(*hop));
	hop->tp = tp;
	hop->addrlen = netaddr_len(src->ss_family);
	hop->listener = -1;
	hop->answer = true;
	if (tp == SIP_TP_UDP) {
		forward_reply_addr(m, src, &hop->addr);
		return;
	}
	hop->addr = *src;
	if (m->nvia > 0)
		answer_hop(hop, &m->via[0]);
}

/* host:port of a listener as it goes into Via and Record-Route. */
static int
listener_hostport(const struct conf *conf, int li, char *buf, size_t len)
{
	const struct conf_listen *l = &conf->listen[li];
	bool v6 = conf->advertise == NULL && l->ss.ss_family == AF_INET6;
	const char *host = conf->advertise ? conf->advertise : l->address;
	size_t hl = strlen(host);
	char *p = buf;

	/* No snprintf on this path: it cost 8,000 instructions per
	 * forwarded call (callgrind). */
	if (hl + sizeof("[]:65535") > len)
		return -1;
	if (v6)
		*p++ = '[';
	p = cpymem(p, host, hl);
	if (v6)
		*p++ = ']';
	*p++ = ':';
	p = put_uint(p, l->port);
	*p = '\0';
	return (int)(p - buf);
}

/* Offset just past the line terminator that ends at or after p. */
static size_t
past_eol(const struct sipmsg *m, const char *p)
{
	const char *end = m->buf + m->body_off;
	const char *nl = memchr(p, '\n', (size_t)(end - p));

	return nl != NULL ? (size_t)(nl + 1 - m->buf) : m->body_off;
}

static size_t
off_of(const struct sipmsg *m, const char *p)
{
	return (size_t)(p - m->buf);
}

/*
 * Delete the values marked in gone from the header lines that hold them: a
 * line that loses all its values goes whole; otherwise each run of removed
 * values goes with the comma that joined it to a kept one.
 */
static int
remove_values(const struct sipmsg *m, struct sip_edits *ed,
    const struct sip_hdr *lines, size_t nlines, const struct slice *vals,
    size_t nvals, const bool *gone)
{
	size_t j, i, a, b, first, n;
	const char *lo, *hi;
	bool all;

	for (j = 0; j < nlines; j++) {
		lo = lines[j].line.p;
		hi = lo + lines[j].line.len;
		for (first = 0; first < nvals && (vals[first].p < lo ||
		    vals[first].p >= hi); first++)
			;
		for (n = 0; first + n < nvals && vals[first + n].p >= lo &&
		    vals[first + n].p < hi; n++)
			;
		if (n == 0)
			continue;
		for (all = true, i = first; i < first + n; i++)
			all = all && gone[i];
		if (all) {
			if (sipmsg_edit(ed, off_of(m, lo),
			    past_eol(m, hi) - off_of(m, lo), NULL, 0) == -1)
				return -1;
			continue;
		}
		for (a = first; a < first + n; a = b + 1) {
			if (!gone[a]) {
				b = a;
				continue;
			}
			for (b = a; b + 1 < first + n && gone[b + 1]; b++)
				;
			if (b + 1 < first + n)	/* "a, b, KEPT" */
				lo = vals[a].p, hi = vals[b + 1].p;
			else			/* "KEPT, a, b" */
				lo = vals[a - 1].p + vals[a - 1].len,
				hi = vals[b].p + vals[b].len;
			if (sipmsg_edit(ed, off_of(m, lo), (size_t)(hi - lo),
			    NULL, 0) == -1)
				return -1;
		}
	}
	return 0;
}

/*
 * A datagram may end without the empty line after its header fields (RFC
 * 4475 baddn), or even without the last line's end: what we send has both,
 * or a stream peer would read the next message as more header fields.
 */
static int
end_headers(const struct sipmsg *m, struct sip_edits *ed)
{
	const char *b = m->buf, *eoh;
	size_t o = m->body_off;

	if (m->hdr_complete)
		return 0;
	if (b[o - 1] == '\n')
		eoh = "\r\n";
	else if (b[o - 1] == '\r')	/* a CR ends the data: its LF */
		eoh = b[o - 2] == '\n' ? "\n" : "\n\r\n";
	else
		eoh = "\r\n\r\n";
	return sipmsg_edit(ed, o, 0, eoh, strlen(eoh));
}

/*
 * One Record-Route value for listener li, sending over tp: over TLS
 * <sip:H:P;transport=tls;lr>, or <sips:H:P;lr> when the request must stay
 * TLS to the end (RFC 5630 §3.1.1: transport=tls is deprecated in sips:).
 */
static int
add_rr(const struct conf *conf, struct sip_edits *ed, size_t at, int li,
    enum sip_transport tp, bool sips)
{
	char hp[300], line[400], *p;
	int n;

	if ((n = listener_hostport(conf, li, hp, sizeof(hp))) == -1)
		return -1;
	if (tp == SIP_TP_TLS && sips)
		p = CPYLIT(line, "Record-Route: <sips:");
	else
		p = CPYLIT(line, "Record-Route: <sip:");
	p = cpymem(p, hp, (size_t)n);
	*p++ = ';';
	if (tp == SIP_TP_TCP)
		p = CPYLIT(p, "transport=tcp;");
	else if (tp == SIP_TP_TLS && !sips)
		p = CPYLIT(p, "transport=tls;");
	p = CPYLIT(p, "lr>\r\n");
	return sipmsg_edit(ed, at, 0, line, (size_t)(p - line));
}

/*
 * Over a stream (TCP, TLS) the receiver frames by Content-Length (RFC
 * 3261 §18.3): one that came over UDP without it gets it, for the rest of
 * the datagram (SPEC §6), or the body could be read as a message of its
 * own. Edits at the same offset apply in the order added: call it before
 * anything is deleted at `at`.
 */
static int
add_content_length(const struct sipmsg *m, struct sip_edits *ed, size_t at,
    enum sip_transport tp)
{
	char buf[40], *p;

	if (m->content_length >= 0 || (tp != SIP_TP_TCP && tp != SIP_TP_TLS))
		return 0;
	p = CPYLIT(buf, "Content-Length: ");
	p = put_uint(p, (unsigned)(m->len - m->body_off));
	p = CPYLIT(p, "\r\n");
	return sipmsg_edit(ed, at, 0, buf, (size_t)(p - buf));
}

ssize_t
forward_request(const struct sipmsg *m, const struct route_decision *d,
    const struct conf *conf, const char *src_ip, uint16_t src_port,
    int in_listener, const struct fwd_hop *hop, char *out, size_t outlen,
    const char **why)
{
	struct sip_edits ed;
	struct sip_via sent;
	bool gone[SIPMSG_MAX_ROUTE] = { false };
	char buf[1100], hp[300], branch[ROUTE_BRANCH_LEN], *p;
	char rport[SIPMSG_PORT_TEXT];
	size_t at, i;
	ssize_t n;
	int k;
	enum sip_transport in_tp;
	bool sips;

	*why = "Cannot Build Forwarded Request";
	sipmsg_edits_init(&ed);
	at = past_eol(m, m->version.p);		/* first header line */

	/* Request-URI */
	if (d->rewrite_ruri) {
		if ((n = route_target_uri(d, m, buf, sizeof(buf))) < 0 ||
		    sipmsg_edit(&ed, off_of(m, m->ruri_text.p),
		    m->ruri_text.len, buf, (size_t)n) == -1)
			return -1;
	} else if (d->strict_route) {
		/* RFC 3261 §16.4: the last Route becomes the Request-URI. */
		const struct slice *u = &m->route_uri[m->nroute - 1].all;

		if (sipmsg_edit(&ed, off_of(m, m->ruri_text.p),
		    m->ruri_text.len, u->p, u->len) == -1)
			return -1;
	}
	/* The restored Request-URI leaves the Route set, also when it is then
	 * rewritten to a table target. */
	if (d->strict_route && m->nroute > 0)
		gone[m->nroute - 1] = true;

	/*
	 * Record-Route (SPEC §3); across transports or families two values,
	 * as Kamailio's double RR: the outbound side on top, for the callee
	 * takes the Record-Route in order and sends to its first value, the
	 * caller reverses it (RFC 3261 §12.1, RFC 5658).
	 */
	if (conf->record_route) {
		sips = forward_needs_tls(m, d);
		in_tp = in_listener >= 0 ?
		    conf->listen[in_listener].transport : hop->tp;
		if (add_rr(conf, &ed, at, hop->listener, hop->tp, sips) == -1)
			return -1;
		if (in_listener >= 0 && in_listener != hop->listener &&
		    (in_tp != hop->tp || conf->listen[in_listener].ss.ss_family
		    != conf->listen[hop->listener].ss.ss_family)) {
			if (add_rr(conf, &ed, at, in_listener, in_tp,
			    sips) == -1)
				return -1;
		}
	}

	/* received/rport first: our branch is made of that Via as it
	 * leaves (SPEC §7), which sent becomes. */
	if (m->nvia == 0 || sipmsg_edit_via_received(m, &ed, src_ip, src_port,
	    &sent, rport) == -1)
		return -1;
	/* The response must go back on the connection the request came in on
	 * (RFC 3261 §18.2.2), and that connection is known to us only by the
	 * peer's port: note it, as RFC 3581 rport would (Kamailio's
	 * force_rport does the same for TCP). */
	if (in_listener >= 0 && (conf->listen[in_listener].transport ==
	    SIP_TP_TCP || conf->listen[in_listener].transport == SIP_TP_TLS) &&
	    m->nvia > 0 && !m->via[0].has_rport) {
		p = CPYLIT(buf, ";rport=");
		p = put_uint(p, src_port);
		if (sipmsg_edit(&ed, off_of(m, m->via[0].value.p +
		    m->via[0].value.len), 0, buf, (size_t)(p - buf)) == -1)
			return -1;
		sent.has_rport = true;
		sent.rport = slice_make(rport,
		    (size_t)(put_uint(rport, src_port) - rport));
	}

	/* Our Via on top. */
	route_branch_text(route_via_h1(m, &sent, conf), d->branch_h2, branch);
	if ((k = listener_hostport(conf, hop->listener, hp, sizeof(hp))) == -1)
		return -1;
	p = CPYLIT(buf, "Via: SIP/2.0/");
	p = cpymem(p, hop->tp == SIP_TP_TLS ? "TLS " : hop->tp == SIP_TP_TCP ?
	    "TCP " : "UDP ", 4);
	p = cpymem(p, hp, (size_t)k);
	p = CPYLIT(p, ";branch=");
	p = cpymem(p, branch, ROUTE_BRANCH_LEN);
	p = CPYLIT(p, "\r\n");
	if (sipmsg_edit(&ed, at, 0, buf, (size_t)(p - buf)) == -1)
		return -1;

	/* Max-Forwards; 0 is route_decide's 483, never forwarded. */
	if (m->max_forwards == 0) {
		*why = "Too Many Hops";
		return -1;
	}
	if (m->max_fwd.value.p != NULL) {
		p = put_uint(buf, (unsigned)(m->max_forwards - 1));
		if (sipmsg_edit(&ed, off_of(m, m->max_fwd.value.p),
		    m->max_fwd.value.len, buf, (size_t)(p - buf)) == -1)
			return -1;
	} else if (sipmsg_edit(&ed, at, 0, "Max-Forwards: 70\r\n",
	    sizeof("Max-Forwards: 70\r\n") - 1) == -1)
		return -1;

	if (add_content_length(m, &ed, at, hop->tp) == -1)
		return -1;
	for (i = 0; i < d->pop_routes && i < m->nroute; i++)
		gone[i] = true;
	if ((d->pop_routes > 0 || d->strict_route) &&
	    remove_values(m, &ed, m->route_hdr, m->nroute_hdr, m->route,
	    m->nroute, gone) == -1)
		return -1;
	if (end_headers(m, &ed) == -1)
		return -1;
	if ((n = sipmsg_splice(m, &ed, out, outlen)) < 0)
		*why = "Message Too Large";
	return n;
}

ssize_t
forward_response(const struct sipmsg *m, const struct conf *conf,
    struct fwd_hop *hop, char *out, size_t outlen, const char **why)
{
	const struct sip_via *v = &m->via[1];
	struct slice vals[SIPMSG_MAX_VIA];
	bool gone[SIPMSG_MAX_VIA] = { true };
	struct sip_edits ed;
	struct slice host = v->received.len ? v->received : v->host;
	/* RFC 3261 §18.2.2: 5061 when a TLS Via names no port */
	uint16_t port = v->port ? v->port : v->tp == SIP_TP_TLS ?
	    SIP_TLS_DEFAULT_PORT : SIP_DEFAULT_PORT;
	size_t i;
	ssize_t n;

	memset(hop, 0, sizeof(*hop));
	if (m->nvia < 2) {
		*why = "no Via to relay to";
		return -1;
	}
	/* RFC 3581 §4: rport with a value is where the request came from. */
	if (v->has_rport && v->rport.len > 0) {
		port = 0;
		for (i = 0; i < v->rport.len && port < 6554; i++)
			port = (uint16_t)(port * 10 + (v->rport.p[i] - '0'));
	}
	if (netaddr_parse(host, port, &hop->addr) == -1) {
		*why = "next Via is not an IP address";
		return -1;
	}
	hop->addrlen = netaddr_len(hop->addr.ss_family);
	if (!netaddr_is_unicast(&hop->addr)) {
		*why = "next Via is not a unicast address";
		return -1;
	}
	hop->tp = v->tp == SIP_TP_TCP || v->tp == SIP_TP_TLS ? v->tp :
	    SIP_TP_UDP;
	answer_hop(hop, v);
	hop->listener = forward_listener(conf, SIP_TP_UDP, hop->addr.ss_family);
	if (hop->tp == SIP_TP_UDP && hop->listener == -1) {
		*why = "no UDP listener for the next Via's family";
		return -1;
	}
	for (i = 0; i < m->nvia; i++)
		vals[i] = m->via[i].value;
	sipmsg_edits_init(&ed);
	if (add_content_length(m, &ed, past_eol(m, m->version.p),
	    hop->tp) == -1 ||
	    remove_values(m, &ed, m->via_hdr, m->nvia_hdr, vals, m->nvia,
	    gone) == -1 || end_headers(m, &ed) == -1 ||
	    (n = sipmsg_splice(m, &ed, out, outlen)) < 0) {
		*why = "cannot build the relayed response";
		return -1;
	}
	return n;
}
