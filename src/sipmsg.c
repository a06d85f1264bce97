/* sipmsg.c: one scan of received SIP bytes into slices, URI and Via
 * decoding, local replies and byte splicing. Nothing in this file allocates,
 * writes into the received bytes or reads past the length it was given. */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "netaddr.h"
#include "sipmsg.h"

/* The received bytes may hold NULs (RFC 4475 mpart01, intmeth), so nothing
 * below uses a string function on them: lengths and memchr only. */

/* ---- characters ---- */

/* One table lookup per byte: the scan spends most of its time here. */
#define C_DIGIT	0x01
#define C_ALPHA	0x02
#define C_HEX	0x04
#define C_LWS	0x08	/* SP, HTAB, and the CR LF a folded value keeps */
#define C_TOKEN	0x10	/* RFC 3261 §25.1 token */
#define C_HOST	0x20	/* hostname or IPv4 (and '_', seen in the wild) */
#define C_NOURI	0x40	/* never raw in a URI: CTL, SP, <, >, DQUOTE */

#define DIG	(C_DIGIT | C_HEX | C_TOKEN | C_HOST)
#define HEXA	(C_ALPHA | C_HEX | C_TOKEN | C_HOST)
#define ALPHA	(C_ALPHA | C_TOKEN | C_HOST)
#define WS	(C_LWS | C_NOURI)

static const unsigned char ctype[256] = {
	[0 ... 8] = C_NOURI, ['\t'] = WS, ['\n'] = WS, [11 ... 12] = C_NOURI,
	['\r'] = WS, [14 ... 31] = C_NOURI, [' '] = WS, [127] = C_NOURI,
	['"'] = C_NOURI, ['<'] = C_NOURI, ['>'] = C_NOURI,
	['0' ... '9'] = DIG,
	['a' ... 'f'] = HEXA, ['A' ... 'F'] = HEXA,
	['g' ... 'z'] = ALPHA, ['G' ... 'Z'] = ALPHA,
	['-'] = C_TOKEN | C_HOST, ['.'] = C_TOKEN | C_HOST,
	['_'] = C_TOKEN | C_HOST,
	['!'] = C_TOKEN, ['%'] = C_TOKEN, ['*'] = C_TOKEN, ['+'] = C_TOKEN,
	['`'] = C_TOKEN, ['\''] = C_TOKEN, ['~'] = C_TOKEN,
};

#undef DIG
#undef HEXA
#undef ALPHA
#undef WS

static bool
is(char c, unsigned char cls)
{
	return (ctype[(unsigned char)c] & cls) != 0;
}

#define is_digit(c)	is((c), C_DIGIT)
#define is_alpha(c)	is((c), C_ALPHA)
#define is_alnum(c)	is((c), C_ALPHA | C_DIGIT)
#define is_hex(c)	is((c), C_HEX)
#define is_lws(c)	is((c), C_LWS)
#define is_token(c)	is((c), C_TOKEN)

static char
lower(char c)
{
	return is_alpha(c) ? (char)(c | 0x20) : c;
}

/* Case-insensitive comparison of n bytes; neither side needs a NUL. */
static bool
caseeq(const char *a, const char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (lower(a[i]) != lower(b[i]))
			return false;
	return true;
}

/* The same against a lower-case literal, which needs no folding. */
static bool
caseeq_lc(const char *a, const char *lc, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (lower(a[i]) != lc[i])
			return false;
	return true;
}

/* s equals the lower-case literal lit, ignoring case. */
#define IS(s, lit)	((s).len == sizeof(lit) - 1 &&		\
	caseeq_lc((s).p, (lit), sizeof(lit) - 1))

/* Also for an absent slice: NULL + 0 is undefined in C. */
static const char *
end_of(struct slice s)
{
	return s.p != NULL ? s.p + s.len : NULL;
}

static struct slice
span(const char *a, const char *b)
{
	return slice_make(a, (size_t)(b - a));
}

static const char *
skip_lws(const char *p, const char *end)
{
	while (p < end && is_lws(*p))
		p++;
	return p;
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

/* 1*DIGIT with value <= max; leading zeros are fine (RFC 4475 wsinv's
 * Max-Forwards 0068). No strtol: the bytes are not NUL-terminated. */
static bool
parse_num(struct slice s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (s.len == 0)
		return false;
	for (i = 0; i < s.len; i++) {
		if (!is_digit(s.p[i]))
			return false;
		v = v * 10 + (uint64_t)(s.p[i] - '0');
		if (v > max)
			return false;
	}
	*out = v;
	return true;
}

/* Past a quoted-string that starts at p ('"'); NULL when it never ends. */
static const char *
skip_quoted(const char *p, const char *end)
{
	for (p++; p < end; p++) {
		if (*p == '\\') {
			if (++p == end)
				return NULL;
		} else if (*p == '"')
			return p + 1;
	}
	return NULL;
}

/*
 * Next comma-separated element of a header value: commas inside quoted
 * strings or <> do not separate. The element comes back trimmed (possibly
 * empty, "a,,b"); false when *rest is used up.
 */
static bool
next_element(struct slice *rest, struct slice *el)
{
	const char *p = rest->p, *end = end_of(*rest), *q;
	bool angle = false;

	if (p == NULL)
		return false;
	/* Most lines hold one value: no comma, nothing to look inside. */
	if (memchr(p, ',', (size_t)(end - p)) == NULL)
		p = end;
	for (; p < end; p++) {
		if (*p == '"') {
			if ((q = skip_quoted(p, end)) == NULL) {
				p = end;
				break;
			}
			p = q - 1;
		} else if (*p == '<')
			angle = true;
		else if (*p == '>')
			angle = false;
		else if (*p == ',' && !angle)
			break;
	}
	*el = trim(span(rest->p, p));
	if (p < end)
		*rest = span(p + 1, end);
	else
		*rest = SLICE_NULL;
	return true;
}

/* ---- parameters ---- */

/*
 * The next ";name[=value]" of a parameter list at *pp: the value keeps its
 * quotes, and is empty (at the end of the name) for a bare name. false at
 * the end of the list.
 */
static bool
next_param(const char **pp, const char *end, struct slice *name,
    struct slice *val)
{
	const char *p = *pp, *n, *q;

	p = skip_lws(p, end);
	if (p < end && *p == ';')
		p = skip_lws(p + 1, end);
	if (p >= end)
		return false;
	for (n = p; p < end && *p != '=' && *p != ';' && !is_lws(*p); p++)
		;
	*name = span(n, p);
	*val = slice_make(p, 0);
	p = skip_lws(p, end);
	if (p < end && *p == '=') {
		n = p = skip_lws(p + 1, end);
		if (p < end && *p == '"')
			p = (q = skip_quoted(p, end)) != NULL ? q : end;
		else
			while (p < end && *p != ';' && !is_lws(*p))
				p++;
		*val = span(n, p);
	}
	while (p < end && *p != ';')
		p++;
	*pp = p;
	return true;
}

bool
sipmsg_param(struct slice params, const char *name, struct slice *val)
{
	const char *p = params.p, *end = end_of(params);
	struct slice n, v;
	size_t nl = strlen(name);

	if (p == NULL || nl == 0)
		return false;
	while (next_param(&p, end, &n, &v))
		if (n.len == nl && caseeq(n.p, name, nl)) {
			*val = v;
			return true;
		}
	return false;
}

/* ---- URIs and host:port ---- */

static enum sip_transport
transport_of(struct slice t)
{
	if (IS(t, "udp"))
		return SIP_TP_UDP;
	if (IS(t, "tcp"))
		return SIP_TP_TCP;
	if (IS(t, "tls"))
		return SIP_TP_TLS;
	if (IS(t, "sctp"))
		return SIP_TP_SCTP;
	return SIP_TP_OTHER;
}

/*
 * host [":" port] at *pp: a name, IPv4 or "[IPv6]". Stops at the first byte
 * that cannot belong to it and leaves *pp there. lws: the Via form, where
 * COLON may have LWS around it (RFC 3261 §25.1).
 */
static int
scan_hostport(const char **pp, const char *end, bool lws, struct slice *host,
    uint16_t *port)
{
	const char *p = *pp, *h = p, *q;
	uint64_t v;
	bool colon = false;

	*port = 0;
	if (p >= end)
		return -1;
	if (*p == '[') {
		/* Only hex, ':' and '.' in between; the RFC 5118 §4.10
		 * three-colon form is tolerated, as it asks. */
		for (p++; p < end && *p != ']'; p++) {
			if (*p == ':')
				colon = true;
			else if (!is_hex(*p) && *p != '.')
				return -1;
		}
		if (p >= end || !colon)
			return -1;
		p++;
	} else {
		while (p < end && is(*p, C_HOST))
			p++;
		if (p == h)
			return -1;
	}
	*host = span(h, p);
	q = lws ? skip_lws(p, end) : p;
	if (q < end && *q == ':') {
		q = lws ? skip_lws(q + 1, end) : q + 1;
		for (p = q; p < end && is_digit(*p); p++)
			;
		/* an unbracketed IPv6 address ends here (RFC 5118 §4.2) */
		if (!parse_num(span(q, p), 65535, &v) || v == 0)
			return -1;
		*port = (uint16_t)v;
	}
	*pp = p;
	return 0;
}

int
sipmsg_uri_parse(struct slice s, struct sip_uri *u, const char **fault)
{
	const char *p = s.p, *end = end_of(s), *at, *c, *q;
	struct slice n, v;
	bool seen_user = false;

	memset(u, 0, sizeof(*u));
	u->all = s;
	*fault = "Bad URI";
	if (p == NULL || s.len == 0 || !is_alpha(*p))
		return -1;
	/* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
	while (p < end && (is_alnum(*p) || *p == '+' || *p == '-' || *p == '.'))
		p++;
	if (p >= end || *p != ':')
		return -1;
	u->scheme = span(s.p, p);
	/* No URI holds these raw; seeing one means the text around the URI
	 * was cut wrong (RFC 4475 ltgtruri, lwsruri). */
	for (q = p + 1; q < end; q++)
		if (is(*q, C_NOURI))
			return -1;
	if (!IS(u->scheme, "sip") && !IS(u->scheme, "sips")) {
		*fault = NULL;
		return 0;		/* routing answers 416 */
	}
	u->is_sip = true;
	u->is_sips = IS(u->scheme, "sips");
	p++;
	/* A raw '@' can only end the userinfo: params and headers may not
	 * hold one, while the user part may hold ';' and '?' (RFC 3261
	 * user-unreserved; RFC 4475 intmeth). */
	if ((at = memchr(p, '@', (size_t)(end - p))) != NULL) {
		if ((c = memchr(p, ':', (size_t)(at - p))) != NULL) {
			u->user = span(p, c);
			u->password = span(c + 1, at);
		} else
			u->user = span(p, at);
		if (u->user.len == 0)
			return -1;
		p = at + 1;
	}
	q = p;
	if (scan_hostport(&p, end, false, &u->host, &u->port) == -1)
		return -1;
	u->hostport = span(q, p);
	if (p < end && *p == ';') {
		if ((q = memchr(p, '?', (size_t)(end - p))) == NULL)
			q = end;
		u->params = span(p, q);
		p = q;
		/* one pass for the three parameters routing needs; the
		 * first of each counts, as sipmsg_param() would find it */
		for (q = u->params.p; next_param(&q, p, &n, &v);) {
			if (IS(n, "transport") && u->transport == SIP_TP_NONE)
				u->transport = transport_of(v);
			else if (IS(n, "user") && !seen_user) {
				seen_user = true;
				u->user_phone = IS(v, "phone");
			} else if (IS(n, "lr"))
				u->lr = true;
		}
	}
	if (p < end && *p == '?') {
		u->headers = span(p, end);
		p = end;
	}
	if (p != end)
		return -1;
	*fault = NULL;
	return 0;
}

/* ---- Via ---- */

int
sipmsg_via_parse(struct slice s, struct sip_via *v, const char **fault)
{
	const char *p = s.p, *end = end_of(s), *t, *semi, *n, *pe;
	struct slice name, val;
	uint64_t port;
	int i;

	memset(v, 0, sizeof(*v));
	v->value = s;
	*fault = "Malformed Via";
	if (p == NULL)
		return -1;
	/* sent-protocol = name SLASH version SLASH transport, where SLASH may
	 * have LWS around it (RFC 4475 wsinv: "SIP  /   2.0 /UDP"). */
	p = skip_lws(p, end);
	for (i = 0; i < 3; i++) {
		if (i > 0) {
			p = skip_lws(p, end);
			if (p >= end || *p != '/')
				return -1;
			p = skip_lws(p + 1, end);
		}
		for (t = p; p < end && is_token(*p); p++)
			;
		if (p == t)
			return -1;
	}
	v->transport = span(t, p);
	v->tp = transport_of(v->transport);
	if (p >= end || !is_lws(*p))
		return -1;
	p = skip_lws(p, end);
	if (scan_hostport(&p, end, true, &v->host, &v->port) == -1)
		return -1;

	for (;;) {
		p = skip_lws(p, end);
		if (p >= end)
			break;
		if (*p != ';')
			return -1;
		semi = p;
		p = skip_lws(p + 1, end);
		for (n = p; p < end && is_token(*p); p++)
			;
		if (p == n)
			return -1;		/* ";;" (RFC 4475 badinv01) */
		name = span(n, p);
		pe = p;
		val = slice_make(p, 0);
		p = skip_lws(p, end);
		if (p < end && *p == '=') {
			p = skip_lws(p + 1, end);
			t = p;
			if (p < end && *p == '"') {
				if ((p = skip_quoted(p, end)) == NULL)
					return -1;
			} else if (p < end && *p == '[') {
				/* RFC 5118 §4.5: received=[v6] is accepted */
				while (p < end && *p != ']')
					p++;
				if (p == end)
					return -1;
				p++;
			} else
				while (p < end && (is_token(*p) || *p == ':'))
					p++;
			if (p == t)
				return -1;
			val = span(t, p);
			pe = p;
		}
		if (IS(name, "branch"))
			v->branch = val;
		else if (IS(name, "received")) {
			v->received = val;
			v->received_param = span(semi, pe);
		} else if (IS(name, "rport")) {
			if (val.len > 0 && !parse_num(val, 65535, &port))
				return -1;
			v->has_rport = true;
			v->rport = val;
			v->rport_param = span(semi, pe);
		}
	}
	*fault = NULL;
	return 0;
}

/* ---- name-addr / addr-spec (From, To, Route) ---- */

/*
 * The URI of a name-addr ([display-name] "<" URI ">") or addr-spec, and the
 * header params after it. *angle tells which form it was. -1 when quotes or
 * brackets do not balance, or junk follows the ">".
 */
static int
split_nameaddr(struct slice s, struct slice *uri, struct slice *params,
    bool *angle)
{
	const char *p = s.p, *end = end_of(s), *lt = NULL, *gt;
	bool quoted = false;

	if (s.len == 0)
		return -1;
	if (memchr(p, '"', s.len) == NULL)
		lt = memchr(p, '<', s.len);
	else
		for (; p < end; p++) {
			if (*p == '"') {
				if ((p = skip_quoted(p, end)) == NULL)
					return -1;	/* RFC 4475 quotbal */
				quoted = true;
				p--;
			} else if (*p == '<') {
				lt = p;
				break;
			}
		}
	if (lt != NULL) {
		if ((gt = memchr(lt, '>', (size_t)(end - lt))) == NULL)
			return -1;
		/* RFC 4475 badaspec puts LWS inside <>; tolerated. */
		*uri = trim(span(lt + 1, gt));
		*params = span(gt + 1, end);
		p = skip_lws(gt + 1, end);
		if (p < end && *p != ';')
			return -1;
		*angle = true;
		return uri->len > 0 ? 0 : -1;
	}
	/* A quoted display name needs <>; an addr-spec ends at the first ';'
	 * (a URI holding ';' must be in <>, RFC 3261 §20.10). */
	if (quoted)
		return -1;
	for (p = s.p; p < end && *p != ';'; p++)
		if (*p == '>')
			return -1;
	*uri = trim(span(s.p, p));
	*params = span(p, end);
	*angle = false;
	return uri->len > 0 ? 0 : -1;
}

/* ---- the scan ---- */

static void
fault(struct sipmsg *m, const char *why)
{
	if (m->fault == NULL)
		m->fault = why;
}

enum sip_method
sipmsg_method(struct slice t)
{
	static const struct {
		const char	*name;
		size_t		 len;
		enum sip_method	 id;
	} methods[] = {
#define M(s, id)	{ s, sizeof(s) - 1, id }
		M("INVITE", SIP_INVITE), M("ACK", SIP_ACK), M("BYE", SIP_BYE),
		M("CANCEL", SIP_CANCEL), M("OPTIONS", SIP_OPTIONS),
		M("REGISTER", SIP_REGISTER), M("INFO", SIP_INFO),
		M("UPDATE", SIP_UPDATE), M("PRACK", SIP_PRACK),
		M("SUBSCRIBE", SIP_SUBSCRIBE), M("NOTIFY", SIP_NOTIFY),
		M("MESSAGE", SIP_MESSAGE), M("REFER", SIP_REFER),
		M("PUBLISH", SIP_PUBLISH),
#undef M
	};
	size_t i;

	/* Methods are case-sensitive (RFC 3261 §7.1), and a token that only
	 * unescapes to one is another method (RFC 4475 esc02). */
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (t.len == methods[i].len &&
		    memcmp(t.p, methods[i].name, t.len) == 0)
			return methods[i].id;
	return SIP_OTHER;
}

/* SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT, "SIP" in any case (RFC 3261
 * §7.1). Any version passes here: routing answers 505 for the others. */
static bool
is_version(struct slice v)
{
	const char *p = v.p, *end = end_of(v), *d;

	if (v.len < 7 || !caseeq_lc(p, "sip/", 4))
		return false;
	for (p += 4, d = p; p < end && is_digit(*p); p++)
		;
	if (p == d || p >= end || *p != '.')
		return false;
	for (d = ++p; p < end && is_digit(*p); p++)
		;
	return p == end && p > d;
}

static void
scan_status_line(struct sipmsg *m, struct slice line)
{
	const char *p = line.p, *end = end_of(line), *sp;

	m->is_request = false;
	if ((sp = memchr(p, ' ', line.len)) == NULL)
		sp = end;
	m->version = span(p, sp);
	/* Status-Code is exactly 3 digits (RFC 4475 bigcode has ten). */
	if (!is_version(m->version) || end - sp < 4 || !is_digit(sp[1]) ||
	    sp[1] == '0' || !is_digit(sp[2]) || !is_digit(sp[3]) ||
	    (end - sp > 4 && sp[4] != ' ')) {
		fault(m, "Bad Status-Line");
		return;
	}
	m->status = (unsigned)((sp[1] - '0') * 100 + (sp[2] - '0') * 10 +
	    (sp[3] - '0'));
	/* The reason phrase may be empty (RFC 4475 noreason). */
	m->reason = end - sp > 4 ? span(sp + 5, end) : slice_make(end, 0);
}

static void
scan_request_line(struct sipmsg *m, struct slice line)
{
	const char *p = line.p, *end = end_of(line), *sp1, *sp2, *why;

	m->is_request = true;
	for (sp1 = p; sp1 < end && is_token(*sp1); sp1++)
		;
	m->method = span(p, sp1);
	m->mid = sipmsg_method(m->method);
	/* Exactly METHOD SP Request-URI SP SIP-Version: RFC 4475 lwsstart
	 * (two SP) and trws (SP at the end) are refused, never forwarded. */
	if (sp1 == p || sp1 >= end || *sp1 != ' ') {
		fault(m, "Bad Request-Line");
		return;
	}
	if ((sp2 = memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1))) == NULL) {
		fault(m, "Bad Request-Line");
		return;
	}
	m->ruri_text = span(sp1 + 1, sp2);
	m->version = span(sp2 + 1, end);
	if (m->ruri_text.len == 0 || !is_version(m->version)) {
		fault(m, "Bad Request-Line");
		return;
	}
	if (sipmsg_uri_parse(m->ruri_text, &m->ruri, &why) == -1)
		fault(m, "Bad Request-URI");
	else if (m->ruri.headers.len > 0)	/* RFC 4475 escruri */
		fault(m, "Request-URI has escaped headers");
}

static void
scan_start_line(struct sipmsg *m, struct slice line)
{
	if (line.len >= 4 && caseeq_lc(line.p, "sip/", 4))
		scan_status_line(m, line);
	else
		scan_request_line(m, line);
}

enum hdr_kind {
	H_OTHER, H_VIA, H_FROM, H_TO, H_CALLID, H_CSEQ, H_MAXFWD, H_CLEN,
	H_UA, H_ROUTE, H_PREQ,
};

/* Long and compact names (RFC 3261 §7.3.3), case-insensitive. */
static enum hdr_kind
header_kind(struct slice n)
{
	switch (n.len) {
	case 1:
		switch (lower(n.p[0])) {
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
		break;
	case 2:
		return IS(n, "to") ? H_TO : H_OTHER;
	case 3:
		return IS(n, "via") ? H_VIA : H_OTHER;
	case 4:
		if (IS(n, "from"))
			return H_FROM;
		return IS(n, "cseq") ? H_CSEQ : H_OTHER;
	case 5:
		return IS(n, "route") ? H_ROUTE : H_OTHER;
	case 7:
		return IS(n, "call-id") ? H_CALLID : H_OTHER;
	case 10:
		return IS(n, "user-agent") ? H_UA : H_OTHER;
	case 12:
		return IS(n, "max-forwards") ? H_MAXFWD : H_OTHER;
	case 13:
		return IS(n, "proxy-require") ? H_PREQ : H_OTHER;
	case 14:
		return IS(n, "content-length") ? H_CLEN : H_OTHER;
	}
	return H_OTHER;
}

/* State of one scan that the caller does not see. */
struct scan {
	bool	 via_bad;	/* a Via value failed: record no more */
	bool	 framing_bad;	/* Content-Length unusable */
};

static void
scan_via(struct sipmsg *m, struct scan *st, const struct sip_hdr *h)
{
	struct slice rest = h->value, el;
	const char *why;

	if (m->nvia_hdr == SIPMSG_MAX_VIA) {
		fault(m, "Too many Via headers");
		st->via_bad = true;
		return;
	}
	m->via_hdr[m->nvia_hdr++] = *h;
	/* Once a value fails, later ones are not kept, so via[0] is the top
	 * Via whenever nvia > 0. */
	while (!st->via_bad && next_element(&rest, &el)) {
		if (m->nvia == SIPMSG_MAX_VIA) {
			fault(m, "Too many Via headers");
			st->via_bad = true;
		} else if (el.len == 0 ||
		    sipmsg_via_parse(el, &m->via[m->nvia], &why) == -1) {
			fault(m, "Malformed Via");
			st->via_bad = true;
		} else
			m->nvia++;
	}
}

/* From or To: the URI must parse and a tag, when there, needs a value. */
static void
scan_addr(struct sipmsg *m, const struct sip_hdr *h, struct slice *tag,
    struct sip_uri *u, const char *bad)
{
	struct slice uri, params;
	const char *why;
	bool angle;

	*tag = SLICE_NULL;
	if (split_nameaddr(h->value, &uri, &params, &angle) == -1 ||
	    sipmsg_uri_parse(uri, u, &why) == -1) {
		memset(u, 0, sizeof(*u));
		fault(m, bad);
		return;
	}
	if (sipmsg_param(params, "tag", tag) && tag->len == 0) {
		*tag = SLICE_NULL;
		fault(m, bad);
	}
}

static void
scan_route(struct sipmsg *m, const struct sip_hdr *h)
{
	struct slice rest = h->value, el, uri, params;
	const char *why;
	bool angle;

	if (m->nroute_hdr == SIPMSG_MAX_ROUTE) {
		fault(m, "Too many Route headers");
		return;
	}
	m->route_hdr[m->nroute_hdr++] = *h;
	while (next_element(&rest, &el)) {
		if (m->nroute == SIPMSG_MAX_ROUTE) {
			fault(m, "Too many Route headers");
			return;
		}
		/* route-param = name-addr: the URI is always in <> */
		if (el.len == 0 ||
		    split_nameaddr(el, &uri, &params, &angle) == -1 ||
		    !angle || sipmsg_uri_parse(uri, &m->route_uri[m->nroute],
		    &why) == -1) {
			fault(m, "Malformed Route");
			return;
		}
		m->route[m->nroute++] = el;
	}
}

static void
scan_cseq(struct sipmsg *m, const struct sip_hdr *h)
{
	const char *p = h->value.p, *end = end_of(h->value), *d, *t;
	uint64_t v;

	/* CSeq = 1*DIGIT LWS Method, the number below 2**32 (RFC 3261
	 * §8.1.1.5; RFC 4475 scalar02) */
	for (d = p; p < end && is_digit(*p); p++)
		;
	if (!parse_num(span(d, p), UINT32_MAX, &v) || p >= end ||
	    !is_lws(*p)) {
		fault(m, "Bad CSeq");
		return;
	}
	p = skip_lws(p, end);
	for (t = p; p < end && is_token(*p); p++)
		;
	if (p == t || p != end) {
		fault(m, "Bad CSeq");
		return;
	}
	m->cseq_num = (uint32_t)v;
	m->cseq_method = span(t, p);
}

static void
scan_callid(struct sipmsg *m, const struct sip_hdr *h)
{
	size_t i;

	if (h->value.len == 0) {
		fault(m, "Malformed Call-ID");
		return;
	}
	for (i = 0; i < h->value.len; i++)
		if ((unsigned char)h->value.p[i] <= ' ' ||
		    h->value.p[i] == 0x7f) {
			fault(m, "Malformed Call-ID");
			return;
		}
}

static void
scan_preq(struct sipmsg *m, const struct sip_hdr *h)
{
	struct slice rest = h->value, el;

	while (next_element(&rest, &el)) {
		if (el.len == 0)
			continue;
		/* Dropping a tag could forward what must get 420. */
		if (m->npreq == SIPMSG_MAX_PREQ) {
			fault(m, "Too many Proxy-Require options");
			return;
		}
		m->proxy_require[m->npreq++] = el;
	}
}

static void
scan_clen(struct sipmsg *m, struct scan *st, const struct sip_hdr *h)
{
	uint64_t v;

	if (st->framing_bad)
		return;
	/* Two lengths, even equal ones, leave the framing in doubt (RFC 4475
	 * mcl01). */
	if (m->content_length >= 0) {
		fault(m, "Multiple Content-Length headers");
		st->framing_bad = true;
	} else if (!parse_num(h->value, INT32_MAX, &v)) {
		fault(m, "Bad Content-Length");	/* RFC 4475 ncl */
		st->framing_bad = true;
	} else
		m->content_length = (long)v;
	if (st->framing_bad)
		m->content_length = -1;
}

/* One header field, folding kept: name, optional LWS, ':', value. */
static void
scan_field(struct sipmsg *m, struct scan *st, struct slice line)
{
	const char *p = line.p, *end = end_of(line), *colon;
	struct sip_uri from_uri;
	struct slice name;
	struct sip_hdr h;
	uint64_t v;

	while (p < end && is_token(*p))
		p++;
	name = span(line.p, p);
	colon = skip_lws(p, end);	/* RFC 4475 wsinv: "TO :" */
	if (name.len == 0 || colon >= end || *colon != ':') {
		fault(m, "Malformed header line");
		return;
	}
	h.line = line;
	h.value = trim(span(colon + 1, end));
	if (h.value.len == 0)
		h.value.p = colon + 1;		/* present, but empty */

	switch (header_kind(name)) {
	case H_VIA:
		scan_via(m, st, &h);
		break;
	case H_FROM:
		if (m->from.value.p != NULL) {
			fault(m, "Multiple From headers");	/* multi01 */
			break;
		}
		m->from = h;
		/* checked, not kept: nothing routes on the From URI */
		scan_addr(m, &h, &m->from_tag, &from_uri, "Malformed From");
		break;
	case H_TO:
		if (m->to.value.p != NULL) {
			fault(m, "Multiple To headers");
			break;
		}
		m->to = h;
		scan_addr(m, &h, &m->to_tag, &m->to_uri, "Malformed To");
		break;
	case H_CALLID:
		if (m->callid.value.p != NULL) {
			fault(m, "Multiple Call-ID headers");
			break;
		}
		m->callid = h;
		scan_callid(m, &h);
		break;
	case H_CSEQ:
		if (m->cseq.value.p != NULL) {
			fault(m, "Multiple CSeq headers");
			break;
		}
		m->cseq = h;
		scan_cseq(m, &h);
		break;
	case H_MAXFWD:
		if (m->max_fwd.value.p != NULL) {
			fault(m, "Multiple Max-Forwards headers");
			break;
		}
		m->max_fwd = h;
		if (parse_num(h.value, 255, &v))
			m->max_forwards = (int)v;
		else
			fault(m, "Bad Max-Forwards");	/* scalar02: 300 */
		break;
	case H_CLEN:
		scan_clen(m, st, &h);
		break;
	case H_UA:
		if (m->user_agent.value.p == NULL)
			m->user_agent = h;
		break;
	case H_ROUTE:
		scan_route(m, &h);
		break;
	case H_PREQ:
		scan_preq(m, &h);
		break;
	case H_OTHER:
		/* not ours to judge (SPEC §6) */
		break;
	}
}

static void
init(struct sipmsg *m)
{
	/* Everything before the arrays, counts included (sipmsg.h). */
	_Static_assert(offsetof(struct sipmsg, npreq) <
	    offsetof(struct sipmsg, via_hdr), "sipmsg layout");
	memset(m, 0, offsetof(struct sipmsg, via_hdr));
	m->content_length = -1;
	m->max_forwards = -1;
}

ssize_t
sipmsg_scan(const char *buf, size_t len, int mode, struct sipmsg *m)
{
	const char *p = buf, *end = len > 0 ? buf + len : buf, *line, *eol;
	const char *vend;
	struct scan st = { false, false };
	bool stream = mode == SIPMSG_STREAM;
	size_t skip, avail;

	init(m);
	while (p < end && (*p == '\r' || *p == '\n'))
		p++;
	skip = (size_t)(p - buf);
	m->buf = p;
	if (p == end)
		return -1;		/* CRLF keep-alive: the transport's */

	if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL) {
		if (stream)
			return -2;
		eol = end;
	}
	vend = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
	scan_start_line(m, span(p, vend));
	p = eol < end ? eol + 1 : end;

	for (;;) {
		if (p >= end) {
			if (stream)
				return -2;
			/* a datagram may end without the empty line */
			break;
		}
		if (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n')) {
			p += *p == '\n' ? 1 : 2;
			m->hdr_complete = true;
			break;
		}
		if (*p == '\r' && p + 1 == end) {
			if (stream)
				return -2;
			p = end;
			break;
		}
		/* One field: its line and every continuation line, which
		 * starts with SP or HTAB (RFC 3261 §7.3.1). */
		line = p;
		for (;;) {
			eol = memchr(p, '\n', (size_t)(end - p));
			if (eol == NULL) {
				if (stream)
					return -2;
				eol = p = end;
				break;
			}
			p = eol + 1;
			if (p == end) {
				if (stream)
					return -2;
				break;
			}
			if (*p != ' ' && *p != '\t')
				break;
		}
		vend = eol > line && eol[-1] == '\r' ? eol - 1 : eol;
		scan_field(m, &st, span(line, vend));
	}
	m->body_off = (size_t)(p - m->buf);

	/* Framing (RFC 3261 §18.3) */
	avail = (size_t)(end - p);
	if (st.framing_bad)
		m->len = stream ? m->body_off : (size_t)(end - m->buf);
	else if (stream) {
		if (m->content_length < 0) {
			fault(m, "Missing Content-Length");
			m->len = m->body_off;
		} else if ((size_t)m->content_length > avail)
			return -2;
		else
			m->len = m->body_off + (size_t)m->content_length;
	} else if (m->content_length < 0)
		m->len = (size_t)(end - m->buf);
	else if ((size_t)m->content_length > avail) {
		/* RFC 4475 clerr */
		fault(m, "Content-Length larger than datagram");
		m->len = (size_t)(end - m->buf);
	} else	/* octets past it are ignored (RFC 4475 dblreq) */
		m->len = m->body_off + (size_t)m->content_length;

	if (m->nvia_hdr == 0)
		fault(m, "Missing Via");
	if (m->to.value.p == NULL)
		fault(m, "Missing To");
	if (m->from.value.p == NULL)
		fault(m, "Missing From");
	if (m->callid.value.p == NULL)
		fault(m, "Missing Call-ID");
	if (m->cseq.value.p == NULL)
		fault(m, "Missing CSeq");
	if (m->fault != NULL)
		return -1;
	return (ssize_t)(skip + m->len);
}

bool
sipmsg_can_reply(const struct sipmsg *m)
{
	return m->is_request && m->nvia_hdr > 0 && m->nvia > 0 &&
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
	const struct sip_edit *e;
	size_t i, at;

	if (ed->n == SIPMSG_MAX_EDITS ||
	    inslen > SIPMSG_EDIT_SPACE - ed->used || off + del < off ||
	    (inslen > 0 && ins == NULL))
		return -1;
	for (i = 0; i < ed->n; i++) {
		e = &ed->e[i];
		/* Two deletions may not share a byte, and nothing may be
		 * inserted strictly inside a deleted range. */
		if (del > 0 && e->del > 0 && off < e->off + e->del &&
		    e->off < off + del)
			return -1;
		if (e->del > 0 && off > e->off && off < e->off + e->del)
			return -1;
		if (del > 0 && e->off > off && e->off < off + del)
			return -1;
	}
	/* After every edit at the same offset: they apply in the order
	 * added. */
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

/*
 * Write in[from, to) with the edits whose offset lies in [from, to]. The
 * length is worked out first, so nothing is written when it does not fit.
 * -1 also when such an edit deletes past to.
 */
static ssize_t
splice_range(const char *in, size_t from, size_t to,
    const struct sip_edits *ed, char *out, size_t outlen)
{
	const struct sip_edit *e;
	size_t i, need = to - from;
	char *o = out;
	size_t pos = from;

	for (i = 0; i < ed->n; i++) {
		e = &ed->e[i];
		if (e->off < from || e->off > to)
			continue;
		if (e->del > to - e->off)
			return -1;
		need = need - e->del + e->ins.len;
	}
	if (need > outlen || need > SSIZE_MAX)
		return -1;
	for (i = 0; i < ed->n; i++) {
		e = &ed->e[i];
		if (e->off < from || e->off > to)
			continue;
		if (e->off > pos)
			o = cpymem(o, in + pos, e->off - pos);
		o = cpymem(o, e->ins.p, e->ins.len);
		if (e->off + e->del > pos)
			pos = e->off + e->del;
	}
	o = cpymem(o, in + pos, to - pos);
	return o - out;
}

ssize_t
sipmsg_splice(const struct sipmsg *m, const struct sip_edits *ed, char *out,
    size_t outlen)
{
	size_t i;

	/* An edit beyond the message would be skipped silently below. */
	for (i = 0; i < ed->n; i++)
		if (ed->e[i].off > m->len)
			return -1;
	return splice_range(m->buf, 0, m->len, ed, out, outlen);
}

static bool
host_is_ip(struct slice host, const char *ip, size_t iplen)
{
	struct sockaddr_storage a, b;

	if (host.len == iplen && memcmp(host.p, ip, iplen) == 0)
		return true;
	/* "192.0.2.1" and "[::ffff:192.0.2.1]" are one host. */
	if (netaddr_parse(host, 0, &a) == -1 ||
	    netaddr_parse(slice_make(ip, iplen), 0, &b) == -1)
		return false;
	netaddr_unmap(&a);
	netaddr_unmap(&b);
	return netaddr_eq(&a, &b);
}

int
sipmsg_edit_via_received(const struct sipmsg *m, struct sip_edits *ed,
    const char *src_ip, uint16_t src_port, struct sip_via *sent,
    char port_text[SIPMSG_PORT_TEXT])
{
	const struct sip_via *v = &m->via[0];
	char txt[sizeof(";received=") + 64], *o;
	size_t iplen;

	if (sent != NULL && m->nvia > 0)
		*sent = *v;
	if (m->nvia == 0 || src_ip == NULL)
		return 0;
	if ((iplen = strlen(src_ip)) == 0 || iplen > 64)
		return -1;
	/* RFC 3581 §4: a bare rport gets the source port, in place. */
	if (v->has_rport && v->rport.len == 0) {
		o = txt;
		*o++ = '=';
		o = put_uint(o, src_port);
		if (sipmsg_edit(ed, (size_t)(end_of(v->rport_param) - m->buf),
		    0, txt, (size_t)(o - txt)) == -1)
			return -1;
		if (sent != NULL)
			sent->rport = slice_make(port_text,
			    (size_t)(put_uint(port_text, src_port) - port_text));
	}
	/* RFC 3261 §18.2.1: received when the sent-by is not the source, and
	 * always with rport (RFC 3581 §4). One already there is replaced
	 * (RFC 5118 §4.5: an IPv6 value needs no brackets). */
	if (v->received.len == 0 && !v->has_rport &&
	    host_is_ip(v->host, src_ip, iplen))
		return 0;
	if (sent != NULL)
		sent->received = slice_make(src_ip, iplen);
	if (v->received.len > 0)
		return sipmsg_edit(ed, (size_t)(v->received.p - m->buf),
		    v->received.len, src_ip, iplen);
	o = CPYLIT(txt, ";received=");
	o = cpymem(o, src_ip, iplen);
	return sipmsg_edit(ed, (size_t)(end_of(v->value) - m->buf), 0, txt,
	    (size_t)(o - txt));
}

ssize_t
sipmsg_reply(const struct sipmsg *req, const struct sip_reply *r, char *out,
    size_t outlen)
{
	struct sip_edits ed;
	const struct sip_hdr *h;
	char *o = out, *lim = out + outlen;
	size_t i, from;
	ssize_t n;

#define PUT(p, len) do {						\
	if ((size_t)(lim - o) < (size_t)(len))				\
		return -1;						\
	o = cpymem(o, (p), (len));					\
} while (0)
#define PUTLIT(s)	PUT((s), sizeof(s) - 1)
#define PUTSL(sl)	PUT((sl).p, (sl).len)

	if (!sipmsg_can_reply(req) || r->reason == NULL || r->code < 100 ||
	    r->code > 699)
		return -1;
	PUTLIT("SIP/2.0 ");
	if (lim - o < 4)
		return -1;
	o = put_uint(o, r->code);
	*o++ = ' ';
	PUT(r->reason, strlen(r->reason));
	PUTLIT("\r\n");

	/* The top Via gets the edits a forwarded request would get: one
	 * implementation of RFC 3261 §18.2.1 / RFC 3581 for both. */
	sipmsg_edits_init(&ed);
	if (sipmsg_edit_via_received(req, &ed, r->src_ip, r->src_port,
	    NULL, NULL) == -1)
		return -1;
	for (i = 0; i < req->nvia_hdr; i++) {
		h = &req->via_hdr[i];
		from = (size_t)(h->line.p - req->buf);
		n = splice_range(req->buf, from, from + h->line.len, &ed, o,
		    (size_t)(lim - o));
		if (n < 0)
			return -1;
		o += n;
		PUTLIT("\r\n");
	}
	PUTSL(req->from.line);
	PUTLIT("\r\n");
	if (req->to_tag.len == 0 && r->to_tag.len > 0) {
		h = &req->to;
		PUT(h->line.p, (size_t)(end_of(h->value) - h->line.p));
		PUTLIT(";tag=");
		PUTSL(r->to_tag);
	} else
		PUTSL(req->to.line);
	PUTLIT("\r\n");
	PUTSL(req->callid.line);
	PUTLIT("\r\n");
	PUTSL(req->cseq.line);
	PUTLIT("\r\n");
	if (r->server.len > 0) {
		PUTLIT("Server: ");
		PUTSL(r->server);
		PUTLIT("\r\n");
	}
	PUTSL(r->extra);
	PUTLIT("Content-Length: 0\r\n\r\n");
#undef PUT
#undef PUTLIT
#undef PUTSL
	return o - out;
}
