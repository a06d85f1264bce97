/* forward.c: forwarded requests and relayed responses as spliced bytes. */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <string.h>

#include "config.h"
#include "forward.h"
#include "route.h"
#include "sipmsg.h"

#define MAX_VALUES	(SIPMSG_MAX_VIA > SIPMSG_MAX_ROUTE ? \
			    SIPMSG_MAX_VIA : SIPMSG_MAX_ROUTE)

bool
forward_host_addr(struct slice host, uint16_t port,
    struct sockaddr_storage *ss, socklen_t *sslen)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	char buf[INET6_ADDRSTRLEN + 1];

	if (host.len >= 2 && host.p[0] == '[' && host.p[host.len - 1] == ']') {
		host.p++;
		host.len -= 2;
	}
	if (host.len == 0 || host.len >= sizeof(buf))
		return false;
	memset(ss, 0, sizeof(*ss));
	if (ipv4_parse(host.p, host.len, (unsigned char *)&sin->sin_addr)) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		*sslen = sizeof(*sin);
		return true;
	}
	if (memchr(host.p, ':', host.len) == NULL)
		return false;
	memcpy(buf, host.p, host.len);
	buf[host.len] = '\0';
	if (inet_pton(AF_INET6, buf, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		*sslen = sizeof(*sin6);
		return true;
	}
	return false;
}

static int
find_listener(const struct conf *conf, enum sip_transport tp, int family)
{
	size_t i;

	for (i = 0; i < conf->nlisten; i++)
		if (conf->listen[i].transport == tp &&
		    conf->listen[i].ss.ss_family == family)
			return (int)i;
	return -1;
}

/*
 * Only ever one host: never the unspecified address, broadcast, multicast
 * or the reserved IPv4 block, nor port 0. A forged response whose next
 * Via says received=255.255.255.255 (or a target written so) would
 * otherwise have us send to a whole network.
 */
static bool
is_unicast(const struct sockaddr_storage *ss)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
	uint32_t a;

	if (ss->ss_family == AF_INET6)
		return sin6->sin6_port != 0 &&
		    !IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr) &&
		    !IN6_IS_ADDR_MULTICAST(&sin6->sin6_addr);
	a = ntohl(sin->sin_addr.s_addr);
	return sin->sin_port != 0 && a != INADDR_ANY &&
	    (a & 0xf0000000u) != 0xe0000000u &&	/* 224/4 multicast */
	    (a & 0xf0000000u) != 0xf0000000u;	/* 240/4, broadcast */
}

static bool
is_sips(const struct sip_uri *u)
{
	return u->is_sip && u->scheme.len == 4 &&
	    strncasecmp(u->scheme.p, "sips", 4) == 0;
}

bool
forward_needs_tls(const struct sipmsg *m, const struct route_decision *d)
{
	/* The caller asked for TLS to the end: retargeting to a sip: target
	 * does not lift that (RFC 5630 §3.1.3). RFC 3261 §16.4: a strict
	 * router's request leaves with the last Route as its Request-URI. */
	return is_sips(&d->next_hop_uri) || is_sips(&m->ruri) ||
	    (d->strict_route && m->nroute > 0 &&
	    is_sips(&m->route_uri[m->nroute - 1]));
}

int
forward_hop(const struct conf *conf, const struct sip_uri *uri,
    const struct sockaddr_storage *resolved, size_t msglen,
    struct fwd_hop *hop, const char **why)
{
	uint16_t port = uri->port ? uri->port : 5060;
	struct sockaddr_in *sin;

	memset(hop, 0, sizeof(*hop));
	if (resolved != NULL) {
		hop->addr = *resolved;
		sin = (struct sockaddr_in *)&hop->addr;
		hop->addrlen = hop->addr.ss_family == AF_INET6 ?
		    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
		if (uri->port)
			sin->sin_port = htons(port);	/* same offset in v6 */
	} else if (!forward_host_addr(uri->host, port, &hop->addr,
	    &hop->addrlen)) {
		*why = "Next Hop Needs DNS";
		return -1;
	}
	if (!is_unicast(&hop->addr)) {
		*why = "Next Hop Is Not A Unicast Address";
		return -1;
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
	hop->listener = find_listener(conf, hop->tp, hop->addr.ss_family);
	/* Over TCP we connect from an ephemeral port; the Via and
	 * Record-Route still name a listener, UDP if we have no TCP one. */
	if (hop->listener == -1 && hop->tp == SIP_TP_TCP)
		hop->listener = find_listener(conf, SIP_TP_UDP,
		    hop->addr.ss_family);
	if (hop->listener == -1) {
		*why = hop->addr.ss_family == AF_INET6 ?
		    "No IPv6 Listener For Next Hop" :
		    "No IPv4 Listener For Next Hop";
		return -1;
	}
	return 0;
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

static int
add_rr(const struct conf *conf, struct sip_edits *ed, size_t at, int li,
    enum sip_transport tp)
{
	char hp[300], line[400], *p;
	int n;

	if ((n = listener_hostport(conf, li, hp, sizeof(hp))) == -1)
		return -1;
	p = cpymem(line, "Record-Route: <sip:", 19);
	p = cpymem(p, hp, (size_t)n);
	*p++ = ';';
	if (tp == SIP_TP_TCP)
		p = cpymem(p, "transport=tcp;", 14);
	p = cpymem(p, "lr>\r\n", 5);
	return sipmsg_edit(ed, at, 0, line, (size_t)(p - line));
}

/*
 * Over a stream the receiver frames by Content-Length (RFC 3261 §18.3):
 * one that came over UDP without it gets it, for the rest of the datagram
 * (SPEC §6), or the body could be read as a message of its own. Edits at
 * the same offset apply in the order added: call it before anything is
 * deleted at `at`.
 */
static int
add_content_length(const struct sipmsg *m, struct sip_edits *ed, size_t at,
    enum sip_transport tp)
{
	char buf[40], *p;

	if (m->content_length >= 0 || tp != SIP_TP_TCP)
		return 0;
	p = cpymem(buf, "Content-Length: ", 16);
	p = put_uint(p, (unsigned)(m->len - m->body_off));
	p = cpymem(p, "\r\n", 2);
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
		in_tp = in_listener >= 0 ?
		    conf->listen[in_listener].transport : hop->tp;
		if (add_rr(conf, &ed, at, hop->listener, hop->tp) == -1)
			return -1;
		if (in_listener >= 0 && in_listener != hop->listener &&
		    (in_tp != hop->tp || conf->listen[in_listener].ss.ss_family
		    != conf->listen[hop->listener].ss.ss_family)) {
			if (add_rr(conf, &ed, at, in_listener, in_tp) == -1)
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
	if (in_listener >= 0 && conf->listen[in_listener].transport ==
	    SIP_TP_TCP && m->nvia > 0 && !m->via[0].has_rport) {
		p = cpymem(buf, ";rport=", 7);
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
	p = cpymem(buf, "Via: SIP/2.0/", 13);
	p = cpymem(p, hop->tp == SIP_TP_TCP ? "TCP " : "UDP ", 4);
	p = cpymem(p, hp, (size_t)k);
	p = cpymem(p, ";branch=", 8);
	p = cpymem(p, branch, ROUTE_BRANCH_LEN);
	p = cpymem(p, "\r\n", 2);
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
	} else if (sipmsg_edit(&ed, at, 0, "Max-Forwards: 70\r\n", 18) == -1)
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
	uint16_t port = v->port ? v->port : 5060;
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
	if (!forward_host_addr(host, port, &hop->addr, &hop->addrlen)) {
		*why = "next Via is not an IP address";
		return -1;
	}
	if (!is_unicast(&hop->addr)) {
		*why = "next Via is not a unicast address";
		return -1;
	}
	hop->tp = v->tp == SIP_TP_TCP ? SIP_TP_TCP : SIP_TP_UDP;
	hop->listener = find_listener(conf, SIP_TP_UDP, hop->addr.ss_family);
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
