/* sipmsg.c: zero-copy scan of SIP messages, URI and Via decoding, local
 * replies and byte splicing. No allocation anywhere in this file. */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "sipmsg.h"

/* ---- characters ---- */

static bool
is_lws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* RFC 3261 §25.1 token */
static bool
is_token(char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	switch (c) {
	case '-': case '.': case '!': case '%': case '*': case '_':
	case '+': case '`': case '\'': case '~':
		return true;
	}
	return false;
}

static struct slice
trim(struct slice s)
{
	while (s.len > 0 && is_lws(s.p[0])) {
		s.p++;
		s.len--;
	}
	while (s.len > 0 && is_lws(s.p[s.len - 1]))
		s.len--;
	return s;
}

static struct slice
trim_cr(const char *p, const char *eol)
{
	if (eol > p && eol[-1] == '\r')
		eol--;
	return slice_make(p, (size_t)(eol - p));
}

static const char *
slice_end(struct slice s)
{
	return s.p + s.len;
}

static struct slice
span(const char *a, const char *b)
{
	return slice_make(a, (size_t)(b - a));
}

/* Decimal digits only, at most maxdig of them, value <= max. */
static bool
parse_uint(struct slice s, size_t maxdig, unsigned long max,
    unsigned long *out)
{
	unsigned long v = 0;
	size_t i;

	if (s.len == 0 || s.len > maxdig)
		return false;
	for (i = 0; i < s.len; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(s.p[i] - '0');
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

/*
 * Split a header value at commas that are outside quoted strings and <>.
 * Returns the next element (trimmed) and advances *rest; false at the end.
 * *bad is set when an element is empty ("a,,b").
 */
static bool
next_element(struct slice *rest, struct slice *el, bool *bad)
{
	const char *p, *end;
	bool quoted = false, angle = false;

	if (rest->p == NULL)
		return false;
	p = rest->p;
	end = slice_end(*rest);
	for (; p < end; p++) {
		if (quoted) {
			if (*p == '\\' && p + 1 < end)
				p++;
			else if (*p == '"')
				quoted = false;
		} else if (*p == '"')
			quoted = true;
		else if (*p == '<')
			angle = true;
		else if (*p == '>')
			angle = false;
		else if (*p == ',' && !angle)
			break;
	}
	*el = trim(span(rest->p, p));
	if (el->len == 0)
		*bad = true;
	if (p < end)
		*rest = span(p + 1, end);
	else
		*rest = SLICE_NULL;
	return true;
}

/* ---- parameters ---- */

bool
sipmsg_param(struct slice params, const char *name, struct slice *val)
{
	const char *p = params.p, *end = slice_end(params), *n, *ne, *v;
	size_t nl = strlen(name);

	if (p == NULL)
		return false;
	while (p < end) {
		while (p < end && (*p == ';' || is_lws(*p)))
			p++;
		n = p;
		while (p < end && *p != '=' && *p != ';' && !is_lws(*p))
			p++;
		ne = p;
		while (p < end && is_lws(*p))
			p++;
		v = NULL;
		if (p < end && *p == '=') {
			p++;
			while (p < end && is_lws(*p))
				p++;
			v = p;
			if (p < end && *p == '"') {
				for (p++; p < end && *p != '"'; p++)
					if (*p == '\\' && p + 1 < end)
						p++;
				if (p < end)
					p++;
			} else
				while (p < end && *p != ';' && !is_lws(*p))
					p++;
		}
		if ((size_t)(ne - n) == nl && nl > 0 &&
		    strncasecmp(n, name, nl) == 0) {
			*val = v ? span(v, p) : slice_make(n, 0);
			if (v == NULL)
				val->p = ne;
			return true;
		}
		while (p < end && *p != ';')
			p++;
	}
	return false;
}

/* ---- URIs ---- */

static enum sip_transport
transport_of(struct slice t)
{
	if (slice_caseeq_str(t, "udp"))
		return SIP_TP_UDP;
	if (slice_caseeq_str(t, "tcp"))
		return SIP_TP_TCP;
	if (slice_caseeq_str(t, "tls"))
		return SIP_TP_TLS;
	if (slice_caseeq_str(t, "sctp"))
		return SIP_TP_SCTP;
	return SIP_TP_OTHER;
}

/* host [":" port], host a name, IPv4 or "[IPv6]". */
static int
parse_hostport(struct slice s, struct slice *host, uint16_t *port,
    const char **fault)
{
	const char *p = s.p, *end = slice_end(s), *h;
	unsigned long v;

	*port = 0;
	if (p >= end)
		goto bad;
	if (*p == '[') {
		for (h = p + 1; h < end && *h != ']'; h++)
			if (!((*h >= '0' && *h <= '9') || (*h >= 'a' &&
			    *h <= 'f') || (*h >= 'A' && *h <= 'F') ||
			    *h == ':' || *h == '.'))
				goto bad;
		if (h >= end || h == p + 1)
			goto bad;
		*host = span(p, h + 1);
		p = h + 1;
	} else {
		for (h = p; h < end && *h != ':'; h++)
			if (!((*h >= '0' && *h <= '9') || (*h >= 'a' &&
			    *h <= 'z') || (*h >= 'A' && *h <= 'Z') ||
			    *h == '-' || *h == '.' || *h == '_'))
				goto bad;
		if (h == p)
			goto bad;
		*host = span(p, h);
		p = h;
	}
	if (p < end) {
		if (*p != ':' || !parse_uint(span(p + 1, end), 5, 65535, &v) ||
		    v == 0)
			goto bad;
		*port = (uint16_t)v;
	}
	return 0;
bad:
	*fault = "Bad Host Or Port";
	return -1;
}

int
sipmsg_uri_parse(struct slice s, struct sip_uri *u, const char **fault)
{
	const char *p = s.p, *end = slice_end(s), *c, *at, *hp, *q;
	struct slice v;
	size_t i;

	memset(u, 0, sizeof(*u));
	u->all = s;
	*fault = "Bad URI";
	if (s.len == 0)
		return -1;
	for (i = 0; i < s.len; i++)
		if (is_lws(s.p[i]) || (unsigned char)s.p[i] < 0x20 ||
		    s.p[i] == '<' || s.p[i] == '>' || s.p[i] == '"')
			return -1;
	if ((c = memchr(p, ':', s.len)) == NULL || c == p)
		return -1;
	for (q = p; q < c; q++)
		if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
		    (q > p && ((*q >= '0' && *q <= '9') || *q == '+' ||
		    *q == '-' || *q == '.'))))
			return -1;
	u->scheme = span(p, c);
	if (!slice_caseeq_str(u->scheme, "sip") &&
	    !slice_caseeq_str(u->scheme, "sips")) {
		*fault = NULL;
		return 0;
	}
	u->is_sip = true;
	p = c + 1;
	/* The user part may hold ';' and '?' (RFC 3261 user-unreserved), so
	 * the userinfo ends at the first '@', and headers start at the first
	 * '?' after it. */
	at = memchr(p, '@', (size_t)(end - p));
	q = memchr(at ? at : p, '?', (size_t)(end - (at ? at : p)));
	if (q != NULL) {
		u->headers = span(q, end);
		end = q;
		if (at != NULL && at >= q)
			at = NULL;
	}
	if (at != NULL) {
		if ((c = memchr(p, ':', (size_t)(at - p))) != NULL) {
			u->user = span(p, c);
			u->password = span(c + 1, at);
		} else
			u->user = span(p, at);
		if (u->user.len == 0)
			return -1;
		p = at + 1;
	}
	for (hp = p; hp < end && *hp != ';'; hp++)
		;
	u->hostport = span(p, hp);
	if (parse_hostport(u->hostport, &u->host, &u->port, fault) == -1)
		return -1;
	if (hp < end) {
		u->params = span(hp, end);
		if (sipmsg_param(u->params, "transport", &v))
			u->transport = transport_of(v);
		if (sipmsg_param(u->params, "user", &v) &&
		    slice_caseeq_str(v, "phone"))
			u->user_phone = true;
		u->lr = sipmsg_param(u->params, "lr", &v);
	}
	*fault = NULL;
	return 0;
}

/* ---- Via ---- */

/* One ";name[=value]" after p; false at the end, *bad on junk. */
static bool
next_param(const char **pp, const char *end, struct slice *whole,
    struct slice *name, struct slice *val, bool *bad)
{
	const char *p = *pp, *start, *n;

	while (p < end && is_lws(*p))
		p++;
	if (p >= end)
		return false;
	start = p;
	if (*p != ';') {
		*bad = true;
		return false;
	}
	for (p++; p < end && is_lws(*p); p++)
		;
	for (n = p; p < end && is_token(*p); p++)
		;
	*name = span(n, p);
	if (name->len == 0) {
		*bad = true;
		return false;
	}
	while (p < end && is_lws(*p))
		p++;
	*val = slice_make(p, 0);
	if (p < end && *p == '=') {
		for (p++; p < end && is_lws(*p); p++)
			;
		n = p;
		if (p < end && *p == '"') {
			for (p++; p < end && *p != '"'; p++)
				if (*p == '\\' && p + 1 < end)
					p++;
			if (p >= end) {
				*bad = true;
				return false;
			}
			p++;
		} else if (p < end && *p == '[') {
			while (p < end && *p != ']')
				p++;
			if (p < end)
				p++;
		} else
			while (p < end && (is_token(*p) || *p == ':'))
				p++;
		*val = span(n, p);
		if (val->len == 0) {
			*bad = true;
			return false;
		}
	}
	*whole = span(start, p);
	*pp = p;
	return true;
}

int
sipmsg_via_parse(struct slice s, struct sip_via *v, const char **fault)
{
	const char *p = s.p, *end = slice_end(s), *t;
	struct slice whole, name, val;
	bool bad = false;
	int slash;

	memset(v, 0, sizeof(*v));
	v->value = s;
	*fault = "Malformed Via";
	/* sent-protocol = name "/" version "/" transport, LWS allowed around
	 * the slashes (RFC 3261 §25.1 SLASH). */
	for (slash = 0; slash < 2; slash++) {
		for (t = p; p < end && is_token(*p); p++)
			;
		if (p == t)
			return -1;
		while (p < end && is_lws(*p))
			p++;
		if (p >= end || *p != '/')
			return -1;
		for (p++; p < end && is_lws(*p); p++)
			;
	}
	for (t = p; p < end && is_token(*p); p++)
		;
	if (p == t || p >= end || !is_lws(*p))
		return -1;
	v->transport = span(t, p);
	v->tp = transport_of(v->transport);
	while (p < end && is_lws(*p))
		p++;
	for (t = p; p < end && *p != ';' && !is_lws(*p); p++)
		;
	if (parse_hostport(span(t, p), &v->host, &v->port, fault) == -1) {
		*fault = "Malformed Via";
		return -1;
	}
	while (next_param(&p, end, &whole, &name, &val, &bad)) {
		if (slice_caseeq_str(name, "branch"))
			v->branch = val;
		else if (slice_caseeq_str(name, "received")) {
			v->received = val;
			v->received_param = whole;
		} else if (slice_caseeq_str(name, "rport")) {
			v->has_rport = true;
			v->rport = val;
			v->rport_param = whole;
		}
	}
	if (bad)
		return -1;
	if (v->has_rport && v->rport.len > 0) {
		unsigned long port;

		if (!parse_uint(v->rport, 5, 65535, &port))
			return -1;
	}
	*fault = NULL;
	return 0;
}

/* ---- name-addr (From, To, Route) ---- */

/*
 * name-addr / addr-spec followed by params: the URI in *uri, the text after
 * it (header params) in *params. -1 on unbalanced quotes or brackets.
 */
static int
parse_nameaddr(struct slice s, struct slice *uri, struct slice *params)
{
	const char *p = s.p, *end = slice_end(s), *lt = NULL, *gt;
	bool quoted = false;

	for (; p < end; p++) {
		if (quoted) {
			if (*p == '\\' && p + 1 < end)
				p++;
			else if (*p == '"')
				quoted = false;
		} else if (*p == '"')
			quoted = true;
		else if (*p == '<') {
			lt = p;
			break;
		}
	}
	if (quoted)
		return -1;
	if (lt != NULL) {
		if ((gt = memchr(lt, '>', (size_t)(end - lt))) == NULL)
			return -1;
		*uri = trim(span(lt + 1, gt));
		*params = span(gt + 1, end);
		return 0;
	}
	/* addr-spec: no display name, params start at the first ';' (a
	 * user part with ';' must be in <>, RFC 3261 §20.10) */
	for (p = s.p; p < end && *p != ';'; p++)
		if (*p == '"')
			return -1;
	*uri = trim(span(s.p, p));
	*params = span(p, end);
	return uri->len > 0 ? 0 : -1;
}

/* ---- the scan ---- */

enum hdr_kind {
	H_OTHER, H_VIA, H_FROM, H_TO, H_CALLID, H_CSEQ, H_MAXFWD, H_CLEN,
	H_UA, H_ROUTE, H_PREQ,
};

static enum hdr_kind
header_kind(struct slice n)
{
	if (n.len == 1) {
		switch (n.p[0] | 0x20) {
		case 'v':
			return H_VIA;
		case 'f':
			return H_FROM;
		case 't':
			return H_TO;
		case 'i':
			return H_CALLID;
		case 'l':
			return H_CLEN;
		}
		return H_OTHER;
	}
	switch (n.p[0] | 0x20) {
	case 'v':
		return slice_caseeq_str(n, "via") ? H_VIA : H_OTHER;
	case 'f':
		return slice_caseeq_str(n, "from") ? H_FROM : H_OTHER;
	case 't':
		return slice_caseeq_str(n, "to") ? H_TO : H_OTHER;
	case 'c':
		if (slice_caseeq_str(n, "call-id"))
			return H_CALLID;
		if (slice_caseeq_str(n, "cseq"))
			return H_CSEQ;
		if (slice_caseeq_str(n, "content-length"))
			return H_CLEN;
		return H_OTHER;
	case 'm':
		return slice_caseeq_str(n, "max-forwards") ? H_MAXFWD :
		    H_OTHER;
	case 'u':
		return slice_caseeq_str(n, "user-agent") ? H_UA : H_OTHER;
	case 'r':
		return slice_caseeq_str(n, "route") ? H_ROUTE : H_OTHER;
	case 'p':
		return slice_caseeq_str(n, "proxy-require") ? H_PREQ :
		    H_OTHER;
	}
	return H_OTHER;
}

static void
fault(struct sipmsg *m, const char *why)
{
	if (m->fault == NULL)
		m->fault = why;
}

static const struct {
	const char	*name;
	enum sip_method	 id;
} methods[] = {
	{ "INVITE", SIP_INVITE }, { "ACK", SIP_ACK }, { "BYE", SIP_BYE },
	{ "CANCEL", SIP_CANCEL }, { "OPTIONS", SIP_OPTIONS },
	{ "REGISTER", SIP_REGISTER }, { "INFO", SIP_INFO },
	{ "UPDATE", SIP_UPDATE }, { "PRACK", SIP_PRACK },
	{ "SUBSCRIBE", SIP_SUBSCRIBE }, { "NOTIFY", SIP_NOTIFY },
	{ "MESSAGE", SIP_MESSAGE }, { "REFER", SIP_REFER },
	{ "PUBLISH", SIP_PUBLISH },
};

enum sip_method
sipmsg_method(struct slice t)
{
	size_t i;

	/* Methods are case-sensitive (RFC 3261 §7.1). */
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (slice_eq(t, slice_make(methods[i].name,
		    strlen(methods[i].name))))
			return methods[i].id;
	return SIP_OTHER;
}

static bool
is_version(struct slice v)
{
	const char *p = v.p, *end = slice_end(v);
	const char *d;

	if (v.len < 7 || strncmp(p, "SIP/", 4) != 0)
		return false;
	for (p += 4, d = p; p < end && *p >= '0' && *p <= '9'; p++)
		;
	if (p == d || p >= end || *p != '.')
		return false;
	for (p++, d = p; p < end && *p >= '0' && *p <= '9'; p++)
		;
	return p == end && p > d;
}

static void
scan_start_line(struct sipmsg *m, struct slice line)
{
	const char *p = line.p, *end = slice_end(line), *sp1, *sp2, *why;
	unsigned long v;

	if (line.len > 4 && strncmp(p, "SIP/", 4) == 0) {
		m->is_request = false;
		sp1 = memchr(p, ' ', line.len);
		if (sp1 == NULL) {
			fault(m, "Bad Status-Line");
			return;
		}
		m->version = span(p, sp1);
		sp2 = sp1 + 1;
		while (sp2 < end && *sp2 != ' ')
			sp2++;
		if (!is_version(m->version) ||
		    !parse_uint(span(sp1 + 1, sp2), 3, 699, &v) || v < 100) {
			fault(m, "Bad Status-Line");
			return;
		}
		m->status = (unsigned)v;
		m->reason = sp2 < end ? span(sp2 + 1, end) : slice_make(end, 0);
		return;
	}
	m->is_request = true;
	for (sp1 = p; sp1 < end && is_token(*sp1); sp1++)
		;
	m->method = span(p, sp1);
	m->mid = sipmsg_method(m->method);
	if (sp1 == p || sp1 >= end || *sp1 != ' ') {
		fault(m, "Bad Request-Line");
		return;
	}
	sp2 = memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1));
	if (sp2 == NULL) {
		fault(m, "Bad Request-Line");
		return;
	}
	m->ruri_text = span(sp1 + 1, sp2);
	m->version = span(sp2 + 1, end);
	/* RFC 4475 §3.1.2.9/10: one SP between the parts, none at the end. */
	if (m->ruri_text.len == 0 || !is_version(m->version)) {
		fault(m, "Bad Request-Line");
		return;
	}
	if (sipmsg_uri_parse(m->ruri_text, &m->ruri, &why) == -1) {
		fault(m, "Bad Request-URI");
	} else if (m->ruri.headers.len > 0)
		fault(m, "Request-URI Has Escaped Headers");
}

static bool
single(struct sipmsg *m, struct sip_hdr *h, const char *dup)
{
	if (h->value.p != NULL) {
		fault(m, dup);
		return false;
	}
	return true;
}

static void
scan_via(struct sipmsg *m, struct sip_hdr *h)
{
	struct slice rest = h->value, el;
	const char *why;
	bool bad = false;

	if (m->nvia_hdr == SIPMSG_MAX_VIA) {
		fault(m, "Too Many Via Headers");
		return;
	}
	m->via_hdr[m->nvia_hdr++] = *h;
	while (next_element(&rest, &el, &bad)) {
		if (bad) {
			fault(m, "Malformed Via");
			return;
		}
		if (m->nvia == SIPMSG_MAX_VIA) {
			fault(m, "Too Many Via Headers");
			return;
		}
		if (sipmsg_via_parse(el, &m->via[m->nvia], &why) == -1) {
			fault(m, why);
			return;
		}
		m->nvia++;
	}
}

static void
scan_addr(struct sipmsg *m, struct sip_hdr *h, struct slice *tag,
    struct sip_uri *u, const char *bad)
{
	struct slice uri, params;
	const char *why;

	if (parse_nameaddr(h->value, &uri, &params) == -1) {
		fault(m, bad);
		return;
	}
	if (!sipmsg_param(params, "tag", tag))
		*tag = slice_make(NULL, 0);
	if (u != NULL && sipmsg_uri_parse(uri, u, &why) == -1)
		memset(u, 0, sizeof(*u));	/* routing falls back to 404 */
}

static void
scan_route(struct sipmsg *m, struct sip_hdr *h)
{
	struct slice rest = h->value, el, uri, params;
	const char *why;
	bool bad = false;

	if (m->nroute_hdr == SIPMSG_MAX_ROUTE) {
		fault(m, "Too Many Route Headers");
		return;
	}
	m->route_hdr[m->nroute_hdr++] = *h;
	while (next_element(&rest, &el, &bad)) {
		if (bad || memchr(el.p, '<', el.len) == NULL) {
			fault(m, "Malformed Route");
			return;
		}
		if (m->nroute == SIPMSG_MAX_ROUTE) {
			fault(m, "Too Many Route Headers");
			return;
		}
		if (parse_nameaddr(el, &uri, &params) == -1 ||
		    sipmsg_uri_parse(uri, &m->route_uri[m->nroute], &why)
		    == -1) {
			fault(m, "Malformed Route");
			return;
		}
		m->route[m->nroute++] = el;
	}
}

static void
scan_header(struct sipmsg *m, struct slice name, struct sip_hdr *h)
{
	struct slice rest, el, method;
	unsigned long v;
	const char *p, *end;
	bool bad = false;

	switch (header_kind(name)) {
	case H_VIA:
		scan_via(m, h);
		break;
	case H_FROM:
		if (single(m, &m->from, "Multiple From Headers")) {
			m->from = *h;
			scan_addr(m, h, &m->from_tag, NULL, "Malformed From");
		}
		break;
	case H_TO:
		if (single(m, &m->to, "Multiple To Headers")) {
			m->to = *h;
			scan_addr(m, h, &m->to_tag, &m->to_uri,
			    "Malformed To");
		}
		break;
	case H_CALLID:
		if (single(m, &m->callid, "Multiple Call-ID Headers")) {
			m->callid = *h;
			for (p = h->value.p, end = slice_end(h->value);
			    p < end; p++)
				if (is_lws(*p))
					break;
			if (h->value.len == 0 || p < end)
				fault(m, "Malformed Call-ID");
		}
		break;
	case H_CSEQ:
		if (!single(m, &m->cseq, "Multiple CSeq Headers"))
			break;
		m->cseq = *h;
		p = h->value.p;
		end = slice_end(h->value);
		while (p < end && *p >= '0' && *p <= '9')
			p++;
		if (!parse_uint(span(h->value.p, p), 10, 4294967295UL, &v)) {
			fault(m, "Bad CSeq");
			break;
		}
		m->cseq_num = (uint32_t)v;
		method = trim(span(p, end));
		for (p = method.p; p < slice_end(method) && is_token(*p); p++)
			;
		if (method.len == 0 ||
		    p != slice_end(method) || !is_lws(method.p[-1])) {
			fault(m, "Bad CSeq");
			break;
		}
		m->cseq_method = method;
		break;
	case H_MAXFWD:
		if (!single(m, &m->max_fwd, "Multiple Max-Forwards Headers"))
			break;
		m->max_fwd = *h;
		/* leading zeros are fine (RFC 4475 §3.1.1.1: 0068) */
		if (!parse_uint(h->value, 10, 255, &v))
			fault(m, "Bad Max-Forwards");
		else
			m->max_forwards = (int)v;
		break;
	case H_CLEN:
		if (m->content_length != -1) {
			fault(m, "Multiple Content-Length Headers");
			m->content_length = -2;	/* framing lost */
			break;
		}
		if (!parse_uint(h->value, 9, 999999999UL, &v)) {
			fault(m, "Bad Content-Length");
			m->content_length = -2;
			break;
		}
		m->content_length = (long)v;
		break;
	case H_UA:
		m->user_agent = *h;
		break;
	case H_ROUTE:
		scan_route(m, h);
		break;
	case H_PREQ:
		rest = h->value;
		while (next_element(&rest, &el, &bad)) {
			if (bad || m->npreq == SIPMSG_MAX_PREQ)
				break;
			m->proxy_require[m->npreq++] = el;
		}
		break;
	case H_OTHER:
		break;
	}
}

static void
init(struct sipmsg *m)
{
	/* Only the scalars and counts: the arrays are filled up to their
	 * counts, so clearing them would cost a memset of ~20 KB per message. */
	memset(m, 0, offsetof(struct sipmsg, via_hdr));
	m->nvia_hdr = 0;
	m->nvia = 0;
	memset(&m->from, 0, offsetof(struct sipmsg, route_hdr) -
	    offsetof(struct sipmsg, from));
	m->nroute_hdr = 0;
	m->nroute = 0;
	m->npreq = 0;
	m->fault = NULL;
	m->content_length = -1;
	m->max_forwards = -1;
}

ssize_t
sipmsg_scan(const char *buf, size_t len, int mode, struct sipmsg *m)
{
	const char *p = buf, *end = buf + len, *eol, *line, *colon, *vend;
	struct slice name;
	struct sip_hdr h;
	size_t skip, avail;

	init(m);
	while (p < end && (*p == '\r' || *p == '\n'))
		p++;
	skip = (size_t)(p - buf);
	m->buf = p;
	if (p == end)
		return -1;	/* keep-alive only, no fault */

	/* Start line */
	if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL) {
		if (mode == SIPMSG_STREAM)
			return -2;
		fault(m, "Bad Request-Line");
		m->len = len - skip;
		return -1;
	}
	scan_start_line(m, trim_cr(p, eol));
	p = eol + 1;

	/* Header fields, each possibly folded over several lines. */
	for (;;) {
		if (p >= end) {
			if (mode == SIPMSG_STREAM)
				return -2;
			/* A datagram may end without the empty line. */
			m->body_off = (size_t)(end - m->buf);
			break;
		}
		if (*p == '\n' || (*p == '\r' && p + 1 < end &&
		    p[1] == '\n')) {
			p += *p == '\n' ? 1 : 2;
			m->body_off = (size_t)(p - m->buf);
			m->hdr_complete = true;
			break;
		}
		if (*p == '\r' && p + 1 == end) {
			if (mode == SIPMSG_STREAM)
				return -2;
			m->body_off = (size_t)(end - m->buf);
			break;
		}
		line = p;
		for (;;) {
			eol = memchr(p, '\n', (size_t)(end - p));
			if (eol == NULL) {
				if (mode == SIPMSG_STREAM)
					return -2;
				eol = end;
				p = end;
				break;
			}
			p = eol + 1;
			if (p >= end || (*p != ' ' && *p != '\t'))
				break;
		}
		vend = eol;
		if (vend > line && vend[-1] == '\r')
			vend--;
		colon = memchr(line, ':', (size_t)(vend - line));
		for (name.p = line; name.p < vend && is_token(*name.p);
		    name.p++)
			;
		name = span(line, name.p);
		if (colon == NULL || name.len == 0 ||
		    trim(span(slice_end(name), colon)).len != 0) {
			fault(m, "Malformed Header Line");
			continue;
		}
		h.line = span(line, vend);
		h.value = trim(span(colon + 1, vend));
		if (h.value.len == 0)
			h.value.p = colon + 1;	/* present, empty */
		scan_header(m, name, &h);
	}

	/* Framing (RFC 3261 §18.3) */
	avail = (size_t)(end - m->buf) - m->body_off;
	if (m->content_length == -2) {
		m->len = (size_t)(end - m->buf);
		return -1;
	}
	if (mode == SIPMSG_STREAM) {
		if (m->content_length < 0) {
			fault(m, "Missing Content-Length");
			m->len = m->body_off;
			return -1;
		}
		if ((size_t)m->content_length > avail)
			return -2;
		m->len = m->body_off + (size_t)m->content_length;
	} else if (m->content_length < 0)
		m->len = (size_t)(end - m->buf);
	else if ((size_t)m->content_length > avail) {
		fault(m, "Content-Length Larger Than Datagram");
		m->len = (size_t)(end - m->buf);
	} else
		m->len = m->body_off + (size_t)m->content_length;

	if (m->nvia == 0)
		fault(m, "Missing Via");
	if (m->is_request) {
		if (m->from.value.p == NULL)
			fault(m, "Missing From");
		if (m->to.value.p == NULL)
			fault(m, "Missing To");
		if (m->callid.value.p == NULL)
			fault(m, "Missing Call-ID");
		if (m->cseq.value.p == NULL)
			fault(m, "Missing CSeq");
	}
	if (m->fault != NULL)
		return -1;
	return (ssize_t)(skip + m->len);
}

bool
sipmsg_can_reply(const struct sipmsg *m)
{
	return m->is_request && m->nvia > 0 && m->via_hdr[0].line.p != NULL &&
	    m->from.value.len > 0 && m->to.value.len > 0 &&
	    m->callid.value.len > 0 && m->cseq.value.len > 0;
}

/* ---- edits ---- */

void
sipmsg_edits_init(struct sip_edits *ed)
{
	ed->n = 0;
	ed->used = 0;
}

int
sipmsg_edit(struct sip_edits *ed, size_t off, size_t del, const char *ins,
    size_t inslen)
{
	size_t i, at;

	if (ed->n == SIPMSG_MAX_EDITS || inslen > SIPMSG_EDIT_SPACE - ed->used)
		return -1;
	for (i = 0; i < ed->n; i++) {
		const struct sip_edit *e = &ed->e[i];

		/* Two deletions may not overlap, nor may an insertion fall
		 * strictly inside a deleted range. */
		if (del > 0 && e->del > 0 && off < e->off + e->del &&
		    e->off < off + del)
			return -1;
		if (del == 0 && e->del > 0 && off > e->off &&
		    off < e->off + e->del)
			return -1;
		if (e->del == 0 && del > 0 && e->off > off &&
		    e->off < off + del)
			return -1;
	}
	for (at = ed->n; at > 0 && ed->e[at - 1].off > off; at--)
		;
	memmove(&ed->e[at + 1], &ed->e[at], (ed->n - at) * sizeof(ed->e[0]));
	ed->e[at].off = off;
	ed->e[at].del = del;
	ed->e[at].ins = slice_make(ed->space + ed->used, inslen);
	if (inslen > 0)
		memcpy(ed->space + ed->used, ins, inslen);
	ed->used += inslen;
	ed->n++;
	return 0;
}

/* Write in[from, to) with the edits that fall inside it. */
static ssize_t
splice_range(const char *in, size_t from, size_t to,
    const struct sip_edits *ed, char *out, size_t outlen)
{
	size_t i, pos = from, need = 0;
	char *o = out;

	/* Size first, so that nothing is written past outlen. */
	for (i = 0; i < ed->n; i++) {
		const struct sip_edit *e = &ed->e[i];

		if (e->off < from || e->off > to)
			continue;
		if (e->off > pos)
			need += e->off - pos;
		need += e->ins.len;
		if (e->off + e->del > pos)
			pos = e->off + e->del;
	}
	if (to > pos)
		need += to - pos;
	if (need > outlen)
		return -1;
	pos = from;
	for (i = 0; i < ed->n; i++) {
		const struct sip_edit *e = &ed->e[i];

		if (e->off < from || e->off > to)
			continue;
		if (e->off > pos)
			o = cpymem(o, in + pos, e->off - pos);
		o = cpymem(o, e->ins.p, e->ins.len);
		if (e->off + e->del > pos)
			pos = e->off + e->del;
	}
	if (to > pos)
		o = cpymem(o, in + pos, to - pos);
	return o - out;
}

ssize_t
sipmsg_splice(const struct sipmsg *m, const struct sip_edits *ed, char *out,
    size_t outlen)
{
	return splice_range(m->buf, 0, m->len, ed, out, outlen);
}

/* Is the sent-by host the source address? Compared as addresses, so that
 * "[::1]" and "0::1" agree. */
static bool
host_is_ip(struct slice host, const char *ip)
{
	unsigned char a[16], b[16];
	char buf[INET6_ADDRSTRLEN + 1];
	int fa, fb;

	if (host.len >= 2 && host.p[0] == '[') {
		host.p++;
		host.len -= 2;
	}
	if (host.len == 0 || host.len >= sizeof(buf))
		return false;
	memcpy(buf, host.p, host.len);
	buf[host.len] = '\0';
	fa = inet_pton(AF_INET, buf, a) == 1 ? 4 :
	    inet_pton(AF_INET6, buf, a) == 1 ? 16 : 0;
	fb = inet_pton(AF_INET, ip, b) == 1 ? 4 :
	    inet_pton(AF_INET6, ip, b) == 1 ? 16 : 0;
	return fa != 0 && fa == fb && memcmp(a, b, (size_t)fa) == 0;
}

int
sipmsg_edit_via_received(const struct sipmsg *m, struct sip_edits *ed,
    const char *src_ip, uint16_t src_port)
{
	const struct sip_via *v = &m->via[0];
	size_t end = (size_t)(slice_end(v->value) - m->buf);
	char add[128];
	int n = 0;

	if (m->nvia == 0 || src_ip == NULL)
		return 0;
	/* RFC 3261 §18.2.1: received when the sent-by is not the source;
	 * RFC 3581 §4: always with rport, and rport gets the source port. */
	if (!v->has_rport && host_is_ip(v->host, src_ip) &&
	    v->received.len == 0)
		return 0;
	if (v->received_param.len > 0 && sipmsg_edit(ed,
	    (size_t)(v->received_param.p - m->buf), v->received_param.len,
	    NULL, 0) == -1)
		return -1;
	n = snprintf(add, sizeof(add), ";received=%s", src_ip);
	if (v->has_rport && v->rport.len == 0) {
		if (sipmsg_edit(ed, (size_t)(v->rport_param.p - m->buf),
		    v->rport_param.len, NULL, 0) == -1)
			return -1;
		n += snprintf(add + n, sizeof(add) - (size_t)n, ";rport=%u",
		    src_port);
	}
	return sipmsg_edit(ed, end, 0, add, (size_t)n);
}

ssize_t
sipmsg_reply(const struct sipmsg *req, const struct sip_reply *r, char *out,
    size_t outlen)
{
	struct sip_edits ed;
	char *o = out, *lim = out + outlen;
	size_t i;
	ssize_t n;
	int k;

#define PUT(p, len) do {						\
	if ((size_t)(lim - o) < (size_t)(len))				\
		return -1;						\
	o = cpymem(o, (p), (len));					\
} while (0)
#define PUTS(s)		PUT((s), strlen(s))
#define PUTSL(sl)	PUT((sl).p, (sl).len)

	if (!sipmsg_can_reply(req))
		return -1;
	k = snprintf(o, (size_t)(lim - o), "SIP/2.0 %03u %s\r\n", r->code,
	    r->reason);
	if (k < 0 || k >= lim - o)
		return -1;
	o += k;

	sipmsg_edits_init(&ed);
	if (sipmsg_edit_via_received(req, &ed, r->src_ip, r->src_port) == -1)
		return -1;
	for (i = 0; i < req->nvia_hdr; i++) {
		const struct sip_hdr *h = &req->via_hdr[i];
		size_t from = (size_t)(h->line.p - req->buf);

		n = splice_range(req->buf, from, from + h->line.len, &ed, o,
		    (size_t)(lim - o));
		if (n < 0)
			return -1;
		o += n;
		PUT("\r\n", 2);
	}
	PUTSL(req->from.line);
	PUT("\r\n", 2);
	PUTSL(req->to.line);
	if (req->to_tag.p == NULL && r->to_tag.len > 0) {
		PUT(";tag=", 5);
		PUTSL(r->to_tag);
	}
	PUT("\r\n", 2);
	PUTSL(req->callid.line);
	PUT("\r\n", 2);
	PUTSL(req->cseq.line);
	PUT("\r\n", 2);
	if (r->server.len > 0) {
		PUTS("Server: ");
		PUTSL(r->server);
		PUT("\r\n", 2);
	}
	PUTSL(r->extra);
	PUTS("Content-Length: 0\r\n\r\n");
#undef PUT
#undef PUTS
#undef PUTSL
	return o - out;
}
