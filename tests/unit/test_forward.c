/* test_forward.c: the edit engine (forward_request, forward_response)
 * against a model of its documented edits that this file builds on its own,
 * by line-level operations on the received bytes (never with sipmsg_splice).
 *
 * A forwarded request is the received message with exactly these edits:
 *  (a) the Request-URI replaced by the target (strict routing: by the URI
 *      of the last Route, RFC 3261 §16.4);
 *  (b) new lines at the top of the header section, in this order: the
 *      Record-Route values when configured (outbound side, then inbound
 *      side: the callee's first hop is the top value, RFC 5658 and
 *      Kamailio's rr), our Via ("Via: SIP/2.0/UDP|TCP <sent-by>;branch=
 *      z9hG4bK<h1>.<h2>", h1 the SipHash-2-4 of the previous top Via as
 *      it leaves, after (c), SPEC §7), "Max-Forwards: 70" when there was
 *      none, and
 *      "Content-Length: N" when there was none and it goes over TCP (g);
 *  (c) on the value that was the top Via, and only there: a bare rport
 *      filled with the source port, received= added when the sent-by is not
 *      the source or rport is present (an existing received replaced), and
 *      ;rport=PORT added when it came over TCP without rport (RFC 3261
 *      §18.2.1, RFC 3581, RFC 5118 §4.5);
 *  (d) the Max-Forwards value decremented;
 *  (f) our Route values removed: a line that loses all its values goes
 *      whole, else each removed value goes with the comma joining it to a
 *      kept one;
 *  and, for a datagram that ended without the empty line after its header
 *  fields, the empty line added.
 * Every other byte (odd whitespace, folding, compact forms, unknown headers,
 * the body) is the same and in the same order. A relayed response is the
 * response with its top Via value removed (the whole line when it held
 * only that value). Outputs must re-parse (sipmsg_scan, libosip2), and
 * every output buffer size must either fit or give -1 without a byte
 * written past it.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>
#include <osipparser2/osip_parser.h>

#include "config.h"
#include "forward.h"
#include "netaddr.h"
#include "route.h"
#include "siphash.h"
#include "sipmsg.h"
#include "slice.h"
#include "table.h"

#ifndef TEST_DATA_DIR
#define TEST_DATA_DIR	"tests/data"
#endif

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

#define SRC4		"198.51.100.7"		/* outside `trusted` */
#define SRC6		"2001:db8:2::7"
#define TRUS4		"10.1.2.3"		/* inside `trusted` */
#define SRC_PORT	5070
#define ALICE_T		"sip:alice@10.0.0.5:5060"
#define ADVERTISE	"proxy.example.com"
#define OUTMAX		(70 * 1024)		/* bigger than any output */
#define GUARD		64			/* canary bytes past outlen */

/*
 * The listeners of every test configuration, and what a Via or
 * Record-Route names for each (written here, not taken from the code).
 */
static const struct {
	enum sip_transport	 tp;
	int			 family;
	unsigned		 port;
	const char		*hostport;
} lis[] = {
	{ SIP_TP_UDP, AF_INET, 5060, "127.0.0.1:5060" },
	{ SIP_TP_TCP, AF_INET, 5062, "127.0.0.1:5062" },
	{ SIP_TP_UDP, AF_INET6, 5064, "[::1]:5064" },
	{ SIP_TP_TCP, AF_INET6, 5066, "[::1]:5066" },
	{ SIP_TP_UDP, AF_INET, 5080, "127.0.0.1:5080" },
	{ SIP_TP_TLS, AF_INET, 5061, "127.0.0.1:5061" },
	{ SIP_TP_TLS, AF_INET6, 5063, "[::1]:5063" },
};

#define CONF_HEAD							\
	"listen = (\n"							\
	"  { transport = \"udp\"; address = \"127.0.0.1\"; port = 5060; },\n" \
	"  { transport = \"tcp\"; address = \"127.0.0.1\"; port = 5062; },\n" \
	"  { transport = \"udp\"; address = \"::1\"; port = 5064; },\n" \
	"  { transport = \"tcp\"; address = \"::1\"; port = 5066; },\n" \
	"  { transport = \"udp\"; address = \"127.0.0.1\"; port = 5080; },\n" \
	"  { transport = \"tls\"; address = \"127.0.0.1\"; port = 5061; },\n" \
	"  { transport = \"tls\"; address = \"::1\"; port = 5063; }\n" \
	");\n"								\
	"tls = { certificate = \"/nonexistent/usher.pem\";"		\
	" private_key = \"/nonexistent/usher.key\"; };\n"		\
	"mode = \"proxy\";\n"						\
	"trusted = [ \"10.0.0.0/8\" ];\n"				\
	"log = { level = \"error\"; };\n"				\
	"domains = ( { name = \"usher.test\"; authoritative = true; } );\n" \
	"users = (\n"							\
	"  { user = \"alice\"; domain = \"usher.test\";"		\
	" target = \"" ALICE_T "\"; },\n"				\
	"  { prefix = \"+1555\"; domain = \"usher.test\";"		\
	" target = \"sip:10.0.0.9:5060\"; }\n"				\
	");\n"

enum { C_PLAIN = 0, C_RR, C_ADV, C__COUNT };

static const char *const conf_tail[C__COUNT] = {
	"record_route = false;\n",
	"record_route = true;\n",
	"record_route = true;\nadvertise = \"" ADVERTISE "\";\n",
};
static const char *const conf_name[C__COUNT] = { "plain", "rr", "adv" };

static struct conf *confs[C__COUNT];

/* Where a forwarded request leaves: transport, listener, address. */
struct fwd_ctx {
	int			 ci;		/* C_PLAIN, ... */
	int			 in;		/* in_listener, -1: none */
	struct fwd_hop		 hop;
	const char		*src_ip;
	uint16_t		 src_port;
};

/* ---- the model: a message as fields, built without sipmsg ---- */

#define MAXF	512
#define MAXV	64

struct span {
	size_t	 s, e;		/* [s, e) offsets into the message */
};

struct field {
	size_t	 off;		/* first byte of the name */
	size_t	 colon;		/* the ':' */
	size_t	 vend;		/* end of its text, terminator excluded */
	size_t	 end;		/* past the terminator of its last line */
	char	 name[32];	/* lower case, trimmed (truncated) */
};

struct model {
	const char	*b;		/* the start line's first byte */
	size_t		 sl_end;	/* past the start line's terminator */
	struct span	 ruri;		/* Request-URI of a request */
	struct field	 f[MAXF];
	size_t		 nf;
	bool		 has_empty;	/* the empty line is there */
	size_t		 body;		/* the body's offset */
	size_t		 len;		/* the message, body included */
	long		 clen;		/* -1: no Content-Length */
};

static bool
is_lws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static struct span
trim(const char *b, size_t s, size_t e)
{
	struct span r;

	while (s < e && is_lws(b[s]))
		s++;
	while (e > s && is_lws(b[e - 1]))
		e--;
	r.s = s;
	r.e = e;
	return r;
}

/* The digits at the start of s (the bytes are not NUL-terminated). */
static long
num(const char *b, struct span s)
{
	long v = 0;
	size_t i;

	for (i = s.s; i < s.e && isdigit((unsigned char)b[i]); i++)
		v = v * 10 + (b[i] - '0');
	return v;
}

static void
model_parse(const char *raw, size_t rawlen, struct model *md)
{
	const char *b, *nl, *sp;
	size_t n, p, skip = 0, i, rest;
	struct field *f;
	struct span nm;

	while (skip < rawlen && (raw[skip] == '\r' || raw[skip] == '\n'))
		skip++;
	memset(md, 0, sizeof(*md));
	md->b = b = raw + skip;
	n = rawlen - skip;
	md->clen = -1;
	if ((nl = memchr(b, '\n', n)) == NULL)
		fail_msg("model: no start line");
	md->sl_end = (size_t)(nl - b) + 1;
	if (memcmp(b, "SIP/", 4) != 0) {
		/* "METHOD SP Request-URI SP SIP-Version" */
		sp = memchr(b, ' ', md->sl_end);
		md->ruri.s = (size_t)(sp - b) + 1;
		for (md->ruri.e = md->sl_end - 1; b[md->ruri.e] != ' ';
		    md->ruri.e--)
			;
	}
	for (p = md->sl_end;;) {
		if (p >= n) {
			md->body = n;
			break;
		}
		if (b[p] == '\r' && p + 1 == n) {	/* half an empty line */
			md->body = n;
			break;
		}
		if (b[p] == '\n' || (b[p] == '\r' && p + 1 < n &&
		    b[p + 1] == '\n')) {
			md->has_empty = true;
			md->body = p + (b[p] == '\n' ? 1 : 2);
			break;
		}
		if (md->nf == MAXF)
			fail_msg("model: too many fields");
		f = &md->f[md->nf++];
		f->off = p;
		for (f->colon = p; f->colon < n && b[f->colon] != ':' &&
		    b[f->colon] != '\n'; f->colon++)
			;
		if (f->colon == n || b[f->colon] != ':')
			fail_msg("model: field without ':' at %zu", p);
		nm = trim(b, p, f->colon);
		for (i = 0; i < nm.e - nm.s && i < sizeof(f->name) - 1; i++)
			f->name[i] = (char)tolower((unsigned char)b[nm.s + i]);
		/* the field's lines: this one and its continuations */
		for (;;) {
			nl = memchr(b + p, '\n', n - p);
			p = nl != NULL ? (size_t)(nl - b) + 1 : n;
			if (p >= n || (b[p] != ' ' && b[p] != '\t'))
				break;
		}
		f->end = p;
		f->vend = p;
		if (f->vend > f->off && b[f->vend - 1] == '\n')
			f->vend--;
		if (f->vend > f->off && b[f->vend - 1] == '\r')
			f->vend--;
		if (strcmp(f->name, "content-length") == 0 ||
		    strcmp(f->name, "l") == 0) {
			nm = trim(b, f->colon + 1, f->vend);
			md->clen = num(b, nm);
		}
	}
	rest = n - md->body;
	if (md->clen >= 0 && (size_t)md->clen < rest)
		rest = (size_t)md->clen;
	md->len = md->body + rest;
}

static bool
named(const struct field *f, const char *a, const char *b)
{
	return strcmp(f->name, a) == 0 ||
	    (b != NULL && strcmp(f->name, b) == 0);
}

static const struct field *
first_field(const struct model *md, const char *a, const char *b)
{
	size_t i;

	for (i = 0; i < md->nf; i++)
		if (named(&md->f[i], a, b))
			return &md->f[i];
	return NULL;
}

/* The comma-separated values of a field, trimmed; commas inside quotes or
 * <> do not count. */
static size_t
elements(const struct model *md, const struct field *f, struct span *v,
    size_t max)
{
	const char *b = md->b;
	size_t p, s = f->colon + 1, n = 0;
	bool quote = false, angle = false;

	for (p = s; p <= f->vend; p++) {
		if (p < f->vend && quote) {
			if (b[p] == '\\')
				p++;
			else if (b[p] == '"')
				quote = false;
			continue;
		}
		if (p < f->vend && b[p] == '"')
			quote = true;
		else if (p < f->vend && b[p] == '<')
			angle = true;
		else if (p < f->vend && b[p] == '>')
			angle = false;
		else if (p == f->vend || (b[p] == ',' && !angle)) {
			if (n == max)
				fail_msg("model: too many values");
			v[n++] = trim(b, s, p);
			s = p + 1;
		}
	}
	return n;
}

/* ---- one Via value, decoded here ---- */

struct tvia {
	struct span	 transport;
	struct span	 host;
	unsigned	 port;		/* 0: absent */
	bool		 has_rport;
	size_t		 rport_name_end;
	struct span	 rport;		/* empty: bare */
	bool		 has_received;
	struct span	 received;
	struct span	 branch;
};

static bool
is_tok(char c)
{
	return isalnum((unsigned char)c) || strchr("-.!%*_+`'~", c) != NULL;
}

static size_t
skip_ws(const char *b, size_t p, size_t e)
{
	while (p < e && is_lws(b[p]))
		p++;
	return p;
}

static void
tvia_parse(const char *b, struct span v, struct tvia *t)
{
	size_t p = v.s, e = v.e, slashes = 0, n, ns;
	struct span val;

	memset(t, 0, sizeof(*t));
	while (p < e && slashes < 2)
		if (b[p++] == '/')
			slashes++;
	p = skip_ws(b, p, e);
	t->transport.s = p;
	while (p < e && is_tok(b[p]))
		p++;
	t->transport.e = p;
	p = skip_ws(b, p, e);
	t->host.s = p;
	if (p < e && b[p] == '[') {
		while (p < e && b[p] != ']')
			p++;
		p++;
	} else
		while (p < e && b[p] != ':' && b[p] != ';' && !is_lws(b[p]))
			p++;
	t->host.e = p;
	if (p < e && b[p] == ':')
		for (p++; p < e && isdigit((unsigned char)b[p]); p++)
			t->port = t->port * 10 + (unsigned)(b[p] - '0');
	for (;;) {
		p = skip_ws(b, p, e);
		if (p >= e)
			break;
		if (b[p] != ';')
			fail_msg("tvia: '%c' where ';' was expected", b[p]);
		p = skip_ws(b, p + 1, e);
		for (ns = p; p < e && is_tok(b[p]); p++)
			;
		n = p;
		val.s = val.e = p;
		p = skip_ws(b, p, e);
		if (p < e && b[p] == '=') {
			p = skip_ws(b, p + 1, e);
			val.s = p;
			if (p < e && b[p] == '"') {
				for (p++; p < e && b[p] != '"'; p++)
					if (b[p] == '\\')
						p++;
				p++;
			} else if (p < e && b[p] == '[') {
				while (p < e && b[p] != ']')
					p++;
				p++;
			} else
				while (p < e && (is_tok(b[p]) || b[p] == ':'))
					p++;
			val.e = p;
		} else
			p = n;
		if (n - ns == 5 && strncasecmp(b + ns, "rport", 5) == 0) {
			t->has_rport = true;
			t->rport_name_end = n;
			t->rport = val;
		} else if (n - ns == 8 &&
		    strncasecmp(b + ns, "received", 8) == 0) {
			t->has_received = true;
			t->received = val;
		} else if (n - ns == 6 &&
		    strncasecmp(b + ns, "branch", 6) == 0)
			t->branch = val;
	}
}

/* An address as 16 bytes, IPv4 mapped, brackets allowed. */
static bool
ip16(const char *p, size_t len, unsigned char a[16])
{
	char txt[64];

	if (len >= 2 && p[0] == '[' && p[len - 1] == ']') {
		p++;
		len -= 2;
	}
	if (len == 0 || len >= sizeof(txt))
		return false;
	memcpy(txt, p, len);
	txt[len] = '\0';
	if (inet_pton(AF_INET6, txt, a) == 1)
		return true;
	memset(a, 0, 10);
	a[10] = a[11] = 0xff;
	return inet_pton(AF_INET, txt, a + 12) == 1;
}

static bool
same_ip(const char *p, size_t len, const char *ip)
{
	unsigned char a[16], c[16];

	return ip16(p, len, a) && ip16(ip, strlen(ip), c) &&
	    memcmp(a, c, 16) == 0;
}

/* ---- edits of the model, applied by a plain copy ---- */

#define MAXE	128

struct tedit {
	size_t	 off, del;
	char	*ins;
	size_t	 inslen;
};

struct tedits {
	struct tedit	 e[MAXE];
	size_t		 n;
};

static void
ted_add(struct tedits *t, size_t off, size_t del, const char *ins,
    size_t inslen)
{
	struct tedit *e;
	size_t at;

	if (t->n == MAXE)
		fail_msg("model: too many edits");
	/* sorted by offset; at the same offset in the order added */
	for (at = t->n; at > 0 && t->e[at - 1].off > off; at--)
		;
	memmove(&t->e[at + 1], &t->e[at], (t->n - at) * sizeof(t->e[0]));
	e = &t->e[at];
	e->off = off;
	e->del = del;
	e->inslen = inslen;
	e->ins = malloc(inslen + 1);
	assert_non_null(e->ins);
	memcpy(e->ins, ins, inslen);
	t->n++;
}

static void
ted_addstr(struct tedits *t, size_t off, size_t del, const char *s)
{
	ted_add(t, off, del, s, strlen(s));
}

static char *
ted_apply(const char *b, size_t len, struct tedits *t, size_t *outlen)
{
	size_t i, pos = 0, cap = len + 1, o = 0;
	char *out;

	for (i = 0; i < t->n; i++)
		cap += t->e[i].inslen;
	out = malloc(cap);
	assert_non_null(out);
	for (i = 0; i < t->n; i++) {
		if (t->e[i].off < pos || t->e[i].off + t->e[i].del > len)
			fail_msg("model: edits overlap at %zu", t->e[i].off);
		memcpy(out + o, b + pos, t->e[i].off - pos);
		o += t->e[i].off - pos;
		memcpy(out + o, t->e[i].ins, t->e[i].inslen);
		o += t->e[i].inslen;
		pos = t->e[i].off + t->e[i].del;
		free(t->e[i].ins);
	}
	memcpy(out + o, b + pos, len - pos);
	o += len - pos;
	t->n = 0;
	*outlen = o;
	return out;
}

/*
 * Remove the values marked in gone from the fields named a/b: a field that
 * loses all its values goes whole; a run of removed values goes with the
 * comma and space up to the next kept value, or, at the end of the line,
 * from the end of the kept value before it.
 */
static void
remove_values(const struct model *md, struct tedits *t, const char *a,
    const char *b, const bool *gone, size_t ngone)
{
	struct span v[MAXV];
	size_t i, j, k, n, idx = 0, r;
	bool all;

	for (i = 0; i < md->nf; i++) {
		if (!named(&md->f[i], a, b))
			continue;
		n = elements(md, &md->f[i], v, MAXV);
		for (all = true, j = 0; j < n; j++)
			all = all && idx + j < ngone && gone[idx + j];
		if (all) {
			ted_add(t, md->f[i].off, md->f[i].end - md->f[i].off,
			    "", 0);
			idx += n;
			continue;
		}
		for (j = 0; j < n; j = r) {
			if (idx + j >= ngone || !gone[idx + j]) {
				r = j + 1;
				continue;
			}
			for (k = j; k + 1 < n && idx + k + 1 < ngone &&
			    gone[idx + k + 1]; k++)
				;
			r = k + 1;
			if (k + 1 < n)
				ted_add(t, v[j].s, v[k + 1].s - v[j].s, "", 0);
			else
				ted_add(t, v[j - 1].e, v[k].e - v[j - 1].e,
				    "", 0);
		}
		idx += n;
	}
}

/* A datagram may end without the empty line, or even without the last
 * line's end: what we send has both. */
static void
end_headers(const struct model *md, struct tedits *t)
{
	const char *b = md->b;
	size_t o = md->body;

	if (md->has_empty)
		return;
	if (b[o - 1] == '\n')
		ted_addstr(t, o, 0, "\r\n");
	else if (b[o - 1] == '\r' && b[o - 2] == '\n')
		ted_addstr(t, o, 0, "\n");
	else if (b[o - 1] == '\r')
		ted_addstr(t, o, 0, "\n\r\n");
	else
		ted_addstr(t, o, 0, "\r\n\r\n");
}

static const char *
sent_by(int ci, int li, char *buf, size_t len)
{
	if (ci == C_ADV)
		snprintf(buf, len, "%s:%u", ADVERTISE, lis[li].port);
	else
		snprintf(buf, len, "%s", lis[li].hostport);
	return buf;
}

/* SPEC §9: a TLS listener's value is <sip:..;transport=tls;lr>, or
 * <sips:..;lr> when the request asked for TLS to the end (RFC 5630). */
static void
add_rr(struct tedits *t, size_t at, int ci, int li, enum sip_transport tp,
    bool sips)
{
	char hp[128], line[256];

	snprintf(line, sizeof(line), "Record-Route: <%s:%s;%slr>\r\n",
	    tp == SIP_TP_TLS && sips ? "sips" : "sip",
	    sent_by(ci, li, hp, sizeof(hp)),
	    tp == SIP_TP_TCP ? "transport=tcp;" :
	    tp == SIP_TP_TLS && !sips ? "transport=tls;" : "");
	ted_addstr(t, at, 0, line);
}

/* One length-prefixed field of H1 (32-bit little-endian length). */
static void
h1_put(struct siphash *st, const char *p, size_t len)
{
	uint8_t n[4] = { (uint8_t)len, (uint8_t)(len >> 8),
	    (uint8_t)(len >> 16), (uint8_t)(len >> 24) };

	siphash_update(st, n, 4);
	siphash_update(st, p, len);
}

static void
h1_span(struct siphash *st, const char *b, struct span s)
{
	h1_put(st, b + s.s, s.e - s.s);
}

/*
 * H1 (SPEC §7) as this file reads it: SipHash-2-4 under the conf's key of
 * the Via value v in b, decoded by tvia_parse: "b" + branch when it has
 * the magic cookie, else "2" + Call-ID + From tag + CSeq number (taken
 * from m, the same in request and response); then transport, host, port
 * (16 bits LE), received, rport present (1 byte) and rport value.
 */
static uint64_t
model_h1(int ci, const struct sipmsg *m, const char *b, struct span v)
{
	struct siphash st;
	struct tvia tv;
	uint8_t x[4];

	tvia_parse(b, v, &tv);
	siphash_init(&st, confs[ci]->branch_key);
	if (tv.branch.e - tv.branch.s > 7 &&
	    memcmp(b + tv.branch.s, "z9hG4bK", 7) == 0) {
		h1_put(&st, "b", 1);
		h1_span(&st, b, tv.branch);
	} else {
		h1_put(&st, "2", 1);
		h1_put(&st, m->callid.value.p, m->callid.value.len);
		h1_put(&st, m->from_tag.p, m->from_tag.len);
		x[0] = (uint8_t)m->cseq_num;
		x[1] = (uint8_t)(m->cseq_num >> 8);
		x[2] = (uint8_t)(m->cseq_num >> 16);
		x[3] = (uint8_t)(m->cseq_num >> 24);
		h1_put(&st, (const char *)x, 4);
	}
	h1_span(&st, b, tv.transport);
	h1_span(&st, b, tv.host);
	x[0] = (uint8_t)tv.port;
	x[1] = (uint8_t)(tv.port >> 8);
	h1_put(&st, (const char *)x, 2);
	if (tv.has_received)
		h1_span(&st, b, tv.received);
	else
		h1_put(&st, "", 0);
	x[0] = tv.has_rport;
	h1_put(&st, (const char *)x, 1);
	h1_span(&st, b, tv.rport);
	return siphash_final(&st);
}

/* The n-th Via value of the model (0: top). false when there is none. */
static bool
nth_via(const struct model *md, size_t n, struct span *out)
{
	struct span v[MAXV];
	size_t i, k, seen = 0;

	for (i = 0; i < md->nf; i++) {
		if (!named(&md->f[i], "via", "v"))
			continue;
		k = elements(md, &md->f[i], v, MAXV);
		if (seen + k > n) {
			*out = v[n - seen];
			return true;
		}
		seen += k;
	}
	return false;
}

/*
 * (c): the edits of the top Via value v0 (decoded as tv), at offsets
 * less base: on the message (base 0) and on the value alone.
 */
static void
via_edits(struct tedits *t, const struct tvia *tv, struct span v0,
    const struct fwd_ctx *c, const char *b, size_t base)
{
	char line[128];

	if (tv->has_rport && tv->rport.e == tv->rport.s) {
		snprintf(line, sizeof(line), "=%u", c->src_port);
		ted_addstr(t, tv->rport_name_end - base, 0, line);
	}
	if (tv->has_received)
		ted_addstr(t, tv->received.s - base,
		    tv->received.e - tv->received.s, c->src_ip);
	else if (tv->has_rport || !same_ip(b + tv->host.s,
	    tv->host.e - tv->host.s, c->src_ip)) {
		snprintf(line, sizeof(line), ";received=%s", c->src_ip);
		ted_addstr(t, v0.e - base, 0, line);
	}
	if (c->in >= 0 && (lis[c->in].tp == SIP_TP_TCP ||
	    lis[c->in].tp == SIP_TP_TLS) && !tv->has_rport) {
		snprintf(line, sizeof(line), ";rport=%u", c->src_port);
		ted_addstr(t, v0.e - base, 0, line);
	}
}

/* Our branch for m forwarded from c: H1 of its top Via after (c). */
static void
want_branch(const struct model *md, const struct sipmsg *m,
    const struct route_decision *d, const struct fwd_ctx *c, char *buf,
    size_t len)
{
	struct tedits t;
	struct tvia tv;
	struct span v0, all;
	char *sent;
	size_t n;

	if (!nth_via(md, 0, &v0))
		fail_msg("model: no Via");
	tvia_parse(md->b, v0, &tv);
	t.n = 0;
	via_edits(&t, &tv, v0, c, md->b, v0.s);
	sent = ted_apply(md->b + v0.s, v0.e - v0.s, &t, &n);
	all.s = 0;
	all.e = n;
	snprintf(buf, len, "z9hG4bK%016llx.%016llx",
	    (unsigned long long)model_h1(c->ci, m, sent, all),
	    (unsigned long long)d->branch_h2);
	free(sent);
}

/*
 * The request as forwarded, by the edits listed at the top of this file.
 * target: the new Request-URI when d->rewrite_ruri.
 */
static char *
expect_request(const struct model *md, const struct sipmsg *m,
    const struct route_decision *d, const struct fwd_ctx *c,
    const char *target, size_t *len)
{
	const char *b = md->b;
	const struct field *f;
	struct span v[MAXV], last = { 0, 0 }, mf;
	struct tedits t;
	struct tvia tv;
	bool gone[MAXV] = { false };
	char line[512], hp[128], br[64];
	size_t at = md->sl_end, nroute = 0, i, n;
	enum sip_transport in_tp;
	bool sips;

	t.n = 0;
	/* (a) */
	for (i = 0; i < md->nf; i++)
		if (named(&md->f[i], "route", NULL)) {
			n = elements(md, &md->f[i], v, MAXV);
			if (n > 0)
				last = v[n - 1];
			nroute += n;
		}
	if (d->rewrite_ruri)
		ted_addstr(&t, md->ruri.s, md->ruri.e - md->ruri.s, target);
	else if (d->strict_route) {
		const char *lt = memchr(b + last.s, '<', last.e - last.s);
		const char *gt = memchr(b + last.s, '>', last.e - last.s);

		assert_true(nroute > 0 && lt != NULL && gt != NULL);
		ted_add(&t, md->ruri.s, md->ruri.e - md->ruri.s, lt + 1,
		    (size_t)(gt - lt - 1));
	}
	/* (b), (e) */
	if (confs[c->ci]->record_route) {
		/* sips: asked, by the caller or by where it goes */
		sips = strncasecmp(b + md->ruri.s, "sips:", 5) == 0 ||
		    d->next_hop_uri.is_sips || (d->strict_route &&
		    nroute > 0 && strncasecmp(memchr(b + last.s, '<',
		    last.e - last.s) + 1, "sips:", 5) == 0);
		in_tp = c->in >= 0 ? lis[c->in].tp : c->hop.tp;
		add_rr(&t, at, c->ci, c->hop.listener, c->hop.tp, sips);
		if (c->in >= 0 && c->in != c->hop.listener &&
		    (in_tp != c->hop.tp ||
		    lis[c->in].family != lis[c->hop.listener].family))
			add_rr(&t, at, c->ci, c->in, in_tp, sips);
	}
	want_branch(md, m, d, c, br, sizeof(br));
	snprintf(line, sizeof(line), "Via: SIP/2.0/%s %s;branch=%s\r\n",
	    c->hop.tp == SIP_TP_TLS ? "TLS" :
	    c->hop.tp == SIP_TP_TCP ? "TCP" : "UDP",
	    sent_by(c->ci, c->hop.listener, hp, sizeof(hp)), br);
	ted_addstr(&t, at, 0, line);
	/* (d) */
	if ((f = first_field(md, "max-forwards", NULL)) == NULL)
		ted_addstr(&t, at, 0, "Max-Forwards: 70\r\n");
	/* (g) */
	if (md->clen < 0 && (c->hop.tp == SIP_TP_TCP ||
	    c->hop.tp == SIP_TP_TLS)) {
		snprintf(line, sizeof(line), "Content-Length: %zu\r\n",
		    md->len - md->body);
		ted_addstr(&t, at, 0, line);
	}
	/* (c) */
	f = first_field(md, "via", "v");
	assert_non_null(f);
	elements(md, f, v, MAXV);
	tvia_parse(b, v[0], &tv);
	via_edits(&t, &tv, v[0], c, b, 0);
	/* (d) */
	if ((f = first_field(md, "max-forwards", NULL)) != NULL) {
		mf = trim(b, f->colon + 1, f->vend);
		snprintf(line, sizeof(line), "%ld", num(b, mf) - 1);
		ted_addstr(&t, mf.s, mf.e - mf.s, line);
	}
	/* (f) */
	for (i = 0; i < d->pop_routes && i < nroute && i < MAXV; i++)
		gone[i] = true;
	if (d->strict_route && nroute > 0)
		gone[nroute - 1] = true;
	remove_values(md, &t, "route", NULL, gone, nroute);
	end_headers(md, &t);
	return ted_apply(b, md->len, &t, len);
}

/* The response relayed: its top Via value gone. */
static char *
expect_response(const struct model *md, size_t *len)
{
	struct tedits t;
	bool gone[1] = { true };

	t.n = 0;
	assert_non_null(first_field(md, "via", "v"));
	remove_values(md, &t, "via", "v", gone, 1);
	end_headers(md, &t);
	return ted_apply(md->b, md->len, &t, len);
}

/* ---- comparing, re-parsing, sizes ---- */

/* Up to nlines lines of p from off, escaped. */
static void
show(const char *tag, const char *p, size_t len, size_t off, int nlines)
{
	unsigned char ch;
	int l;

	for (l = 0; l < nlines && off < len; l++) {
		fprintf(stderr, "  %s ", tag);
		for (; off < len; off++) {
			ch = (unsigned char)p[off];
			if (ch == '\n') {
				fputs("\\n", stderr);
				off++;
				break;
			}
			if (ch == '\r')
				fputs("\\r", stderr);
			else if (ch == '\t')
				fputs("\\t", stderr);
			else if (ch < 32 || ch >= 127)
				fprintf(stderr, "\\x%02x", ch);
			else
				fputc(ch, stderr);
		}
		fputc('\n', stderr);
	}
}

static void
same_bytes(const char *what, const char *want, size_t wl, const char *got,
    size_t gl)
{
	size_t i, ls;
	int back = 0;

	if (wl == gl && memcmp(want, got, wl) == 0)
		return;
	for (i = 0; i < wl && i < gl && want[i] == got[i]; i++)
		;
	/* from two lines before the first difference */
	for (ls = i; ls > 0; ls--)
		if (want[ls - 1] == '\n' && ++back == 3)
			break;
	fprintf(stderr, "%s: differs at byte %zu (want %zu bytes, got %zu)\n",
	    what, i, wl, gl);
	show("want|", want, wl, ls, 6);
	show("got |", got, gl, ls, 6);
	fail_msg("%s: not the input with exactly the documented edits", what);
}

/* out scanned again, from a copy of its exact size (kept: m points into
 * it); also as a stream and by libosip2 when asked. */
static char *
reparse(const char *what, const char *out, size_t n, bool stream, bool osip,
    struct sipmsg *m)
{
	osip_message_t *om = NULL;
	struct sipmsg s;
	ssize_t rc;
	char *copy;

	copy = malloc(n);
	assert_non_null(copy);
	memcpy(copy, out, n);
	rc = sipmsg_scan(copy, n, SIPMSG_DGRAM, m);
	if (rc != (ssize_t)n || m->fault != NULL)
		fail_msg("%s: output does not scan again: %zd of %zu (%s)",
		    what, rc, n, m->fault ? m->fault : "-");
	if (stream && (rc = sipmsg_scan(copy, n, SIPMSG_STREAM, &s)) !=
	    (ssize_t)n)
		fail_msg("%s: output does not frame on a stream: %zd of %zu "
		    "(%s)", what, rc, n, s.fault ? s.fault : "-");
	if (osip) {
		if (osip_message_init(&om) != 0)
			fail_msg("osip_message_init");
		if (osip_message_parse(om, copy, n) != 0)
			fail_msg("%s: libosip2 parsed the input, not the "
			    "output", what);
		osip_message_free(om);
	}
	return copy;
}

static bool
osip_parses(const char *buf, size_t len)
{
	osip_message_t *om = NULL;
	bool ok;

	if (osip_message_init(&om) != 0)
		fail_msg("osip_message_init");
	ok = osip_message_parse(om, buf, len) == 0;
	osip_message_free(om);
	return ok;
}

static bool
slice_is(struct slice s, const char *want)
{
	return s.len == strlen(want) && memcmp(s.p, want, s.len) == 0;
}

/* What the engine is called with; d NULL: a response. */
struct call {
	const struct sipmsg		*m;
	const struct route_decision	*d;
	const struct fwd_ctx		*c;
	int				 ci;
};

static ssize_t
call_engine(const struct call *k, char *out, size_t outlen, const char **why)
{
	struct fwd_hop hop;

	if (k->d == NULL)
		return forward_response(k->m, confs[k->ci], &hop, out, outlen,
		    why);
	return forward_request(k->m, k->d, confs[k->c->ci], k->c->src_ip,
	    k->c->src_port, k->c->in, &k->c->hop, out, outlen, why);
}

/*
 * Every output size from lo to hi: too small gives -1 with a reason, big
 * enough gives the expected bytes; never a byte written past outlen (the
 * canary here; ASan beyond it).
 */
static void
sweep(const char *what, const struct call *k, const char *want, size_t wl,
    size_t lo, size_t hi)
{
	const char *why;
	size_t outlen, i;
	ssize_t n;
	char *buf;

	for (outlen = lo; outlen <= hi; outlen++) {
		buf = malloc(outlen + GUARD);
		assert_non_null(buf);
		memset(buf, 0x5a, outlen + GUARD);
		why = NULL;
		n = call_engine(k, buf, outlen, &why);
		if (outlen < wl) {
			if (n != -1 || why == NULL)
				fail_msg("%s: %zu-byte buffer for %zu bytes: "
				    "%zd", what, outlen, wl, n);
		} else if (n != (ssize_t)wl || memcmp(buf, want, wl) != 0)
			fail_msg("%s: %zu-byte buffer: %zd bytes, not the "
			    "%zu expected", what, outlen, n, wl);
		for (i = outlen; i < outlen + GUARD; i++)
			if ((unsigned char)buf[i] != 0x5a)
				fail_msg("%s: %zu-byte buffer: byte %zu "
				    "written", what, outlen, i);
		free(buf);
	}
}

/* The hop matches ip (brackets allowed), port and transport. */
static void
check_hop(const char *what, const struct fwd_hop *hop, const char *ip,
    size_t iplen, unsigned port, enum sip_transport tp)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&hop->addr;
	const struct sockaddr_in6 *sin6 =
	    (const struct sockaddr_in6 *)&hop->addr;
	unsigned char want[16], got[16];
	unsigned gport;
	char txt[64];
	int fam;

	if (!ip16(ip, iplen, want))
		fail_msg("%s: next hop %.*s is no address", what, (int)iplen,
		    ip);
	snprintf(txt, sizeof(txt), "%.*s", (int)iplen, ip);
	fam = strchr(txt, ':') != NULL ? AF_INET6 : AF_INET;
	if (hop->addr.ss_family != fam)
		fail_msg("%s: hop family %d, want %d", what,
		    hop->addr.ss_family, fam);
	if (fam == AF_INET) {
		memset(got, 0, 10);
		got[10] = got[11] = 0xff;
		memcpy(got + 12, &sin->sin_addr, 4);
		gport = ntohs(sin->sin_port);
	} else {
		memcpy(got, &sin6->sin6_addr, 16);
		gport = ntohs(sin6->sin6_port);
	}
	if (memcmp(got, want, 16) != 0 || gport != port || hop->tp != tp)
		fail_msg("%s: hop port %u tp %d, want %s port %u tp %d", what,
		    gport, hop->tp, txt, port, tp);
}

/* The value after the top Via (where a relayed response goes), from the
 * model: received or sent-by host, rport value or sent-by port or 5060. */
static void
next_via_hop(const struct model *md, struct span *ip, unsigned *port,
    enum sip_transport *tp)
{
	struct span v[MAXV];
	struct tvia tv;
	size_t i, n, seen = 0;

	for (i = 0; i < md->nf; i++) {
		if (!named(&md->f[i], "via", "v"))
			continue;
		n = elements(md, &md->f[i], v, MAXV);
		if (seen + n >= 2)
			break;
		seen += n;
	}
	if (i == md->nf)
		fail_msg("model: no second Via");
	tvia_parse(md->b, v[1 - seen], &tv);
	*ip = tv.has_received ? tv.received : tv.host;
	*tp = tv.transport.e - tv.transport.s != 3 ? SIP_TP_UDP :
	    strncasecmp(md->b + tv.transport.s, "TCP", 3) == 0 ? SIP_TP_TCP :
	    strncasecmp(md->b + tv.transport.s, "TLS", 3) == 0 ? SIP_TP_TLS :
	    SIP_TP_UDP;
	if (tv.has_rport && tv.rport.e > tv.rport.s)
		*port = (unsigned)num(md->b, tv.rport);
	else
		*port = tv.port ? tv.port : *tp == SIP_TP_TLS ? 5061 : 5060;
}

#define CHK_SWEEP	0x01	/* every output size */
#define CHK_OSIP	0x02	/* libosip2 parses the input: the output too */
#define CHK_RELAY	0x04	/* its response comes back through us */
#define CHK_DECIDE	0x08	/* route_decide() must call a response ours */
#define CHK_HOP		0x10	/* the response goes where the next Via says */
#define CHK_SEAL	0x20	/* first give our Via the H1 of the next */

/* The offset of the 16 hex digits of H1 in the top Via's branch, which
 * must have our shape (z9hG4bK + 16 hex + "." + 16 hex). */
static size_t
top_h1_off(const char *what, const char *b, size_t len)
{
	struct model md;
	struct span v0;
	struct tvia tv;

	model_parse(b, len, &md);
	if (!nth_via(&md, 0, &v0))
		fail_msg("%s: no Via", what);
	tvia_parse(b, v0, &tv);
	if (tv.branch.e - tv.branch.s != ROUTE_BRANCH_LEN ||
	    memcmp(b + tv.branch.s, "z9hG4bK", 7) != 0)
		fail_msg("%s: the top branch is not of our shape", what);
	return tv.branch.s + 7;
}

/* What usher would have written: the top H1 made the model's H1 of the
 * second Via (m: the same message scanned, for RFC 2543 fields). */
static void
seal(const char *what, char *b, size_t len, const struct sipmsg *m, int ci)
{
	struct model md;
	struct span v1;
	char hex[17];
	size_t off = top_h1_off(what, b, len);

	model_parse(b, len, &md);
	if (!nth_via(&md, 1, &v1))
		fail_msg("%s: no second Via", what);
	snprintf(hex, sizeof(hex), "%016llx",
	    (unsigned long long)model_h1(ci, m, b, v1));
	memcpy(b + off, hex, 16);
}

/*
 * route_decide() on raw (sealed first with CHK_SEAL) must relay it, and
 * drop it as not_ours with any one digit of H1 changed.
 */
static void
check_decide(const char *what, const char *raw, size_t rawlen,
    const struct sipmsg *m, int ci, unsigned flags)
{
	struct route_decision d;
	struct sipmsg m2;
	char *b;
	size_t off, i;
	ssize_t rc;

	b = malloc(rawlen);
	assert_non_null(b);
	memcpy(b, raw, rawlen);
	if (flags & CHK_SEAL)
		seal(what, b, rawlen, m, ci);
	rc = sipmsg_scan(b, rawlen, SIPMSG_DGRAM, &m2);
	route_decide(&m2, (int)rc, NULL, confs[ci], &d);
	if (d.action != ROUTE_RELAY)
		fail_msg("%s: route_decide: %s, not relay", what,
		    route_rule_name(d.rule));
	off = top_h1_off(what, b, rawlen);
	for (i = 0; i < 16; i += 5) {
		b[off + i] = b[off + i] == '0' ? '1' : '0';
		rc = sipmsg_scan(b, rawlen, SIPMSG_DGRAM, &m2);
		route_decide(&m2, (int)rc, NULL, confs[ci], &d);
		if (d.action != ROUTE_DROP ||
		    d.rule != RULE_RESPONSE_NOT_OURS ||
		    strcmp(d.drop_reason, "not_ours") != 0)
			fail_msg("%s: H1 digit %zu changed: %s, not dropped",
			    what, i, route_rule_name(d.rule));
		b[off + i] = raw[off + i];
		if (flags & CHK_SEAL)
			seal(what, b, rawlen, m, ci);
	}
	free(b);
}

/*
 * Relay raw (one response) and compare with the model. Returns the output
 * length; *outp gets the bytes (caller frees).
 */
static size_t
check_response(const char *what, const char *raw, size_t rawlen, int ci,
    unsigned flags, char **outp)
{
	struct sipmsg m, m2;
	struct model md;
	struct fwd_hop hop;
	struct call k;
	struct span ip;
	enum sip_transport tp;
	const char *why = NULL;
	char *want, *out, *copy;
	unsigned port;
	size_t wl;
	ssize_t rc, n;

	rc = sipmsg_scan(raw, rawlen, SIPMSG_DGRAM, &m);
	if (rc <= 0 || m.fault != NULL || m.is_request)
		fail_msg("%s: no response (%s)", what, m.fault ? m.fault : "-");
	if (flags & CHK_DECIDE)
		check_decide(what, raw, rawlen, &m, ci, flags);
	model_parse(raw, rawlen, &md);
	if (md.b != m.buf || md.len != m.len)
		fail_msg("%s: model frames %zu bytes, sipmsg %zu", what,
		    md.len, m.len);
	want = expect_response(&md, &wl);
	out = malloc(OUTMAX);
	assert_non_null(out);
	n = forward_response(&m, confs[ci], &hop, out, OUTMAX, &why);
	if (n < 0)
		fail_msg("%s: forward_response: -1 (%s)", what, why);
	same_bytes(what, want, wl, out, (size_t)n);
	if (flags & CHK_HOP) {
		next_via_hop(&md, &ip, &port, &tp);
		check_hop(what, &hop, md.b + ip.s, ip.e - ip.s, port, tp);
	}
	copy = reparse(what, out, (size_t)n, false,
	    (flags & CHK_OSIP) != 0 && osip_parses(raw, rawlen), &m2);
	assert_int_equal(m2.nvia, m.nvia - 1);
	assert_true(slice_eq(m2.via[0].value, m.via[1].value));
	if (flags & CHK_SWEEP) {
		k.m = &m;
		k.d = NULL;
		k.c = NULL;
		k.ci = ci;
		sweep(what, &k, want, wl, 0, wl + 2);
	}
	free(copy);
	free(want);
	*outp = out;
	return (size_t)n;
}

/* A forwarded request as the response to it: the start line replaced. */
static void
check_relay_of(const char *what, const char *out, size_t n, int ci,
    bool osip)
{
	static const char sl[] = "SIP/2.0 200 OK\r\n";
	const char *nl = memchr(out, '\n', n);
	char *resp, *relayed, w[300];
	size_t rl, skip;

	assert_non_null(nl);
	skip = (size_t)(nl + 1 - out);
	rl = sizeof(sl) - 1 + n - skip;
	resp = malloc(rl);
	assert_non_null(resp);
	memcpy(resp, sl, sizeof(sl) - 1);
	memcpy(resp + sizeof(sl) - 1, out + skip, n - skip);
	snprintf(w, sizeof(w), "%s, its response", what);
	check_response(w, resp, rl, ci, CHK_DECIDE | CHK_HOP |
	    (osip ? CHK_OSIP : 0), &relayed);
	free(relayed);
	free(resp);
}

/*
 * Forward raw (one datagram) with decision d from context c, compare with
 * the model and check the output. target: the new Request-URI when
 * d->rewrite_ruri. Returns the output length; *outp gets the bytes when
 * not NULL.
 */
static size_t
check_request(const char *what, const char *raw, size_t rawlen,
    const struct route_decision *d, const char *target,
    const struct fwd_ctx *c, unsigned flags, char **outp)
{
	struct sipmsg m, m2;
	struct model md;
	struct call k;
	const char *why = NULL;
	char *want, *out, *copy, br[64];
	size_t wl, popped;
	ssize_t rc, n;
	bool osip;

	rc = sipmsg_scan(raw, rawlen, SIPMSG_DGRAM, &m);
	if (rc <= 0 || m.fault != NULL || !m.is_request)
		fail_msg("%s: no request (%s)", what, m.fault ? m.fault : "-");
	model_parse(raw, rawlen, &md);
	if (md.b != m.buf || md.len != m.len)
		fail_msg("%s: model frames %zu bytes, sipmsg %zu", what,
		    md.len, m.len);
	want = expect_request(&md, &m, d, c, target, &wl);
	out = malloc(OUTMAX);
	assert_non_null(out);
	n = forward_request(&m, d, confs[c->ci], c->src_ip, c->src_port,
	    c->in, &c->hop, out, OUTMAX, &why);
	if (n < 0)
		fail_msg("%s: forward_request: -1 (%s)", what, why);
	same_bytes(what, want, wl, out, (size_t)n);

	/* what a next hop reads in it */
	osip = (flags & CHK_OSIP) != 0 && osip_parses(raw, rawlen);
	copy = reparse(what, out, (size_t)n, c->hop.tp == SIP_TP_TCP ||
	    c->hop.tp == SIP_TP_TLS, osip, &m2);
	want_branch(&md, &m, d, c, br, sizeof(br));
	if (m2.nvia != m.nvia + 1 || !slice_is(m2.via[0].branch, br))
		fail_msg("%s: %zu Via values, top branch %.*s", what, m2.nvia,
		    (int)m2.via[0].branch.len, m2.via[0].branch.p);
	if (m2.max_forwards != (m.max_forwards >= 0 ? m.max_forwards - 1 :
	    70))
		fail_msg("%s: Max-Forwards %d", what, m2.max_forwards);
	if (d->rewrite_ruri && !slice_is(m2.ruri_text, target))
		fail_msg("%s: Request-URI %.*s", what, (int)m2.ruri_text.len,
		    m2.ruri_text.p);
	popped = (d->pop_routes < m.nroute ? d->pop_routes : m.nroute) +
	    (d->strict_route ? 1 : 0);
	if (m2.nroute != m.nroute - popped)
		fail_msg("%s: %zu Route values left of %zu", what, m2.nroute,
		    m.nroute);
	if (m2.len - m2.body_off != m.len - m.body_off ||
	    memcmp(m2.buf + m2.body_off, m.buf + m.body_off,
	    m.len - m.body_off) != 0)
		fail_msg("%s: body changed", what);
	if (flags & CHK_SWEEP) {
		k.m = &m;
		k.d = d;
		k.c = c;
		k.ci = c->ci;
		sweep(what, &k, want, wl, 0, wl + 2);
	}
	if (flags & CHK_RELAY)
		check_relay_of(what, out, (size_t)n, c->ci, osip);
	free(copy);
	free(want);
	if (outp != NULL)
		*outp = out;
	else
		free(out);
	return (size_t)n;
}

/* ---- decisions and contexts ---- */

static const struct {
	enum sip_transport	 tp;
	int			 listener;
	const char		*addr;
} hops[] = {
	{ SIP_TP_UDP, 0, "10.0.0.5" },
	{ SIP_TP_TCP, 1, "10.0.0.5" },
	{ SIP_TP_UDP, 2, "2001:db8::5" },
	{ SIP_TP_TCP, 3, "2001:db8::5" },
	{ SIP_TP_TLS, 5, "10.0.0.5" },
	{ SIP_TP_TLS, 6, "2001:db8::5" },
};

static void
ctx_make(struct fwd_ctx *c, int ci, int in, int hi, const char *src_ip)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&c->hop.addr;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&c->hop.addr;

	memset(c, 0, sizeof(*c));
	c->ci = ci;
	c->in = in;
	c->src_ip = src_ip;
	c->src_port = SRC_PORT;
	c->hop.tp = hops[hi].tp;
	c->hop.listener = hops[hi].listener;
	if (lis[hops[hi].listener].family == AF_INET) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(5060);
		assert_int_equal(inet_pton(AF_INET, hops[hi].addr,
		    &sin->sin_addr), 1);
		c->hop.addrlen = sizeof(*sin);
	} else {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(5060);
		assert_int_equal(inet_pton(AF_INET6, hops[hi].addr,
		    &sin6->sin6_addr), 1);
		c->hop.addrlen = sizeof(*sin6);
	}
}

static void
ctx_name(char *buf, size_t len, const char *file, const struct fwd_ctx *c,
    const char *how)
{
	snprintf(buf, len, "%s [%s, conf %s, in %d, out %s/%d, from %s]",
	    file, how, conf_name[c->ci], c->in,
	    c->hop.tp == SIP_TP_TLS ? "tls" :
	    c->hop.tp == SIP_TP_TCP ? "tcp" : "udp", c->hop.listener,
	    c->src_ip);
}

/* "Forward to alice's target", as route_decide() would say it. */
static void
direct(struct route_decision *d, bool rewrite, uint64_t salt)
{
	const char *fault;

	memset(d, 0, sizeof(*d));
	d->action = ROUTE_FORWARD;
	d->rule = RULE_ACTIVE;
	d->domain = 0;
	d->trusted = -1;
	d->rewrite_ruri = rewrite;
	d->entry = table_lookup(confs[C_PLAIN]->table, 0, "alice", 5);
	assert_non_null(d->entry);
	assert_string_equal(d->entry->target, ALICE_T);
	d->next_hop = SLICE(ALICE_T);
	assert_int_equal(sipmsg_uri_parse(d->next_hop, &d->next_hop_uri,
	    &fault), 0);
	d->branch_h1 = 0x0123456789abcdefULL ^ salt;
	d->branch_h2 = 0xfedcba9876543210ULL + salt;
}

static void
src_addr(const char *ip, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(SRC_PORT);
	} else {
		assert_int_equal(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(SRC_PORT);
	}
}

/* ---- the corpus ---- */

/* The file's bytes in a buffer of exactly their size. */
static char *
slurp(const char *rel, size_t *len)
{
	char path[512];
	char *buf;
	long n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", TEST_DATA_DIR, rel);
	if ((f = fopen(path, "rb")) == NULL)
		fail_msg("cannot open %s", path);
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0)
		fail_msg("%s: cannot size", path);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	*len = fread(buf, 1, (size_t)n, f);
	fclose(f);
	if (*len != (size_t)n)
		fail_msg("%s: short read", path);
	return buf;
}

typedef void	(*row_fn)(const char *file, const char *expect, char *buf,
		    size_t len, size_t *count);

/* Call fn for every valid message of tests/data/index.tsv. */
static size_t
each_valid(row_fn fn, size_t *rows)
{
	char *index, *line, *save = NULL, *f[6], *p, *buf;
	size_t len, n, i, count = 0;

	*rows = 0;
	index = slurp("index.tsv", &len);
	index[len] = '\0';
	for (line = strtok_r(index, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		for (p = line, i = 0; i < 6; i++) {
			f[i] = p;
			if ((p = strchr(p, '\t')) != NULL)
				*p++ = '\0';
			else
				p = line + strlen(line);
		}
		if (strcmp(f[0], "file") == 0 || strcmp(f[2], "yes") != 0)
			continue;
		(*rows)++;
		buf = slurp(f[0], &n);
		fn(f[0], f[3], buf, n, &count);
		free(buf);
	}
	free(index);
	return count;
}

/* Sources for a message: outside and inside IPv6, and its top Via's own
 * host when that is an address (then no received). */
static size_t
sources(const char *raw, size_t len, const char **src, char *own,
    size_t ownlen)
{
	struct model md;
	struct span v[MAXV], h;
	struct tvia tv;
	unsigned char a[16];
	size_t n = 0;

	src[n++] = SRC4;
	src[n++] = SRC6;
	model_parse(raw, len, &md);
	elements(&md, first_field(&md, "via", "v"), v, MAXV);
	tvia_parse(md.b, v[0], &tv);
	h = tv.host;
	if (h.e - h.s >= 2 && md.b[h.s] == '[') {
		h.s++;
		h.e--;
	}
	if (ip16(md.b + h.s, h.e - h.s, a) && h.e - h.s < ownlen) {
		memcpy(own, md.b + h.s, h.e - h.s);
		own[h.e - h.s] = '\0';
		src[n++] = own;
	}
	return n;
}

static void
corpus_request(const char *file, const char *expect, char *buf, size_t len,
    size_t *count)
{
	struct route_decision d;
	struct sockaddr_storage ss, res;
	struct fwd_ctx c;
	struct sipmsg m;
	const char *src[3], *why;
	char what[512], own[64];
	size_t nsrc, s;
	/* no listener, UDP, TCP, UDP over IPv6, TLS */
	static const int ins[] = { -1, 0, 1, 2, 5 };
	int ci, in, hi, rw;
	size_t ii;
	ssize_t rc;
	unsigned flags;

	rc = sipmsg_scan(buf, len, SIPMSG_DGRAM, &m);
	if (rc <= 0) {
		if (strcmp(expect, "process normally") == 0)
			fail_msg("%s: does not scan (%s)", file,
			    m.fault ? m.fault : "-");
		return;		/* "process normally or 400" */
	}
	if (!m.is_request)
		return;
	if (strcmp(expect, "483") == 0) {
		/* Max-Forwards 0: never forwarded, so never decremented */
		src_addr(TRUS4, &ss);
		route_decide(&m, (int)rc, (struct sockaddr *)&ss,
		    confs[C_PLAIN], &d);
		assert_int_equal(d.action, ROUTE_REPLY);
		assert_int_equal(d.code, 483);
		return;
	}
	(*count)++;

	/* Direct decisions: forward to alice's target, Request-URI
	 * rewritten or kept, from every listener to every kind of hop. */
	nsrc = sources(buf, len, src, own, sizeof(own));
	for (ci = 0; ci < C__COUNT; ci++)
	for (ii = 0; ii < NELEM(ins) && (in = ins[ii], true); ii++)
	for (hi = 0; hi < (int)NELEM(hops); hi++)
	for (s = 0; s < nsrc; s++)
	for (rw = 0; rw < 2; rw++) {
		ctx_make(&c, ci, in, hi, src[s]);
		direct(&d, rw, (uint64_t)*count);
		ctx_name(what, sizeof(what), file, &c,
		    rw ? "to alice, R-URI rewritten" : "R-URI kept");
		flags = CHK_OSIP | (rw ? CHK_RELAY : 0);
		/* every output size, once per message */
		if (ci == C_ADV && in == 1 && hi == 2 && s == 1 && rw)
			flags |= CHK_SWEEP;
		check_request(what, buf, len, &d, ALICE_T, &c, flags, NULL);
	}

	/* The daemon's own decision, from a trusted source: the foreign
	 * Request-URI (or a Route) is the next hop, found at 10.0.0.99. */
	src_addr(TRUS4, &ss);
	src_addr("10.0.0.99", &res);
	for (ci = 0; ci < C__COUNT; ci++) {
		route_decide(&m, (int)rc, (struct sockaddr *)&ss, confs[ci],
		    &d);
		if (d.action != ROUTE_FORWARD)
			continue;	/* 416, 420 */
		if (d.rewrite_ruri)
			fail_msg("%s: rewritten to a local user", file);
		memset(&c, 0, sizeof(c));
		c.ci = ci;
		c.in = 0;
		c.src_ip = TRUS4;
		c.src_port = SRC_PORT;
		if (forward_hop(confs[ci], &d.next_hop_uri, &res, m.len,
		    &c.hop, &why) == -1)
			fail_msg("%s: forward_hop: %s", file, why);
		ctx_name(what, sizeof(what), file, &c,
		    route_rule_name(d.rule));
		check_request(what, buf, len, &d, NULL, &c,
		    CHK_OSIP | CHK_RELAY, NULL);
	}
}

static void
test_corpus_requests(void **state)
{
	size_t rows, n;

	(void)state;
	n = each_valid(corpus_request, &rows);
	/* 49 + 12 messages, 38 valid: 3 responses, zeromf (483) */
	assert_int_equal(rows, 38);
	assert_int_equal(n, 34);
}

/* A valid corpus response: its top Via stripped as it stands, and the same
 * response under a Via of ours relayed back to exactly its own bytes. */
static void
corpus_response(const char *file, const char *expect, char *buf, size_t len,
    size_t *count)
{
	static const char ours[] = "Via: SIP/2.0/UDP 127.0.0.1:5060;"
	    "branch=z9hG4bK0123456789abcdef.0123456789abcdef\r\n";
	struct fwd_hop hop;
	struct sipmsg m;
	struct model md;
	const char *why = NULL;
	char *in, *out, what[300];
	size_t n;
	ssize_t rc;

	(void)expect;
	if ((rc = sipmsg_scan(buf, len, SIPMSG_DGRAM, &m)) <= 0 ||
	    m.is_request)
		return;
	(*count)++;
	model_parse(buf, len, &md);
	if (m.nvia >= 2 && !slice_eq(m.via[1].host,
	    SLICE("255.255.255.255"))) {
		snprintf(what, sizeof(what), "%s as it is", file);
		n = check_response(what, buf, len, C_PLAIN,
		    CHK_SWEEP | CHK_OSIP, &out);
		free(out);
	} else {
		/* nowhere to go, or (bcast) never to a whole network */
		out = malloc(OUTMAX);
		assert_non_null(out);
		assert_int_equal(forward_response(&m, confs[C_PLAIN], &hop,
		    out, OUTMAX, &why), -1);
		assert_non_null(why);
		free(out);
	}
	in = malloc(md.len + sizeof(ours));
	assert_non_null(in);
	memcpy(in, md.b, md.sl_end);
	memcpy(in + md.sl_end, ours, sizeof(ours) - 1);
	memcpy(in + md.sl_end + sizeof(ours) - 1, md.b + md.sl_end,
	    md.len - md.sl_end);
	snprintf(what, sizeof(what), "%s under our Via", file);
	n = check_response(what, in, md.len + sizeof(ours) - 1, C_PLAIN,
	    CHK_SWEEP | CHK_OSIP | CHK_DECIDE | CHK_SEAL | CHK_HOP, &out);
	same_bytes(what, md.b, md.len, out, n);
	free(out);
	free(in);
}

static void
test_corpus_responses(void **state)
{
	size_t rows;

	(void)state;
	assert_int_equal(each_valid(corpus_response, &rows), 3);
}

/* ---- hand-written requests, decided by route_decide() ---- */

#define BR	"z9hG4bK0123456789abcdef.fedcba9876543210"
/* H1 made right by seal() where route_decide() is asked */
#define OURS_V	"SIP/2.0/UDP 127.0.0.1:5060;branch=" \
		"z9hG4bK0000000000000000.0000000000000000"

#define OURVIA	"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=" BR "\r\n"
#define VIA_H	"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKv1\r\n"
#define VIA_RX	"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKv1;" \
		"received=" SRC4 "\r\n"
#define VIA_TLS	"Via: SIP/2.0/TLS 192.0.2.1:5061;branch=z9hG4bKv1\r\n"
#define VIA_TLS_RX "Via: SIP/2.0/TLS 192.0.2.1:5061;branch=z9hG4bKv1;" \
		"received=" SRC4 ";rport=5070\r\n"
#define FROM_H	"From: \"A, B\" <sip:a@example.org>;tag=f1\r\n"
#define TO_H	"To: <sip:alice@usher.test>\r\n"
#define TOB_H	"To: <sip:bob@10.0.0.5>\r\n"
#define CID_H	"Call-ID: fwd@192.0.2.1\r\n"
#define MF_H	"Max-Forwards: 70\r\n"
#define MF69	"Max-Forwards: 69\r\n"
#define END_H	"Content-Length: 0\r\n\r\n"

struct tcase {
	int		 line;
	const char	*msg;
	const char	*src;
	int		 ci;
	int		 in;		/* in_listener */
	int		 hop;		/* in hops[]; -1: forward_hop() */
	enum route_rule	 rule;	/* what route_decide() must say */
	unsigned	 pop;
	bool		 strict;
	const char	*target;	/* the new Request-URI; NULL: kept */
	const char	*golden;	/* the whole output with branch BR */
};

#define L	__LINE__

static const struct tcase tcases[] = {
	/* Several Via values in one line: only the first gets received
	 * and its bare rport filled; the second's rport stays bare. */
	{ L, "INVITE sip:alice@usher.test SIP/2.0\r\n"
	  "Via: SIP/2.0/UDP 192.0.2.1:5060;rport;branch=z9hG4bKa1 , "
	  "SIP/2.0/UDP 192.0.2.2;branch=z9hG4bKa2;rport\r\n"
	  "Via: SIP/2.0/TCP 192.0.2.3;branch=z9hG4bKa3\r\n"
	  FROM_H TO_H CID_H "CSeq: 1 INVITE\r\n" MF_H END_H,
	  SRC4, C_PLAIN, 0, -1, RULE_ACTIVE, 0, false, ALICE_T,
	  "INVITE " ALICE_T " SIP/2.0\r\n" OURVIA
	  "Via: SIP/2.0/UDP 192.0.2.1:5060;rport=5070;branch=z9hG4bKa1;"
	  "received=" SRC4 " , "
	  "SIP/2.0/UDP 192.0.2.2;branch=z9hG4bKa2;rport\r\n"
	  "Via: SIP/2.0/TCP 192.0.2.3;branch=z9hG4bKa3\r\n"
	  FROM_H TO_H CID_H "CSeq: 1 INVITE\r\n" MF69 END_H },
	/* Compact forms, LWS everywhere, a received to replace; over TCP
	 * in, so rport too; UDP out, so two Record-Route values. */
	{ L, "OPTIONS sip:alice@usher.test SIP/2.0\r\n"
	  "f: <sip:a@example.org>;tag=f2\r\n"
	  "v:   SIP / 2.0 / UDP   192.0.2.1 ;  received = 10.9.9.9 ; "
	  "branch=z9hG4bKb1   \r\n"
	  "t: <sip:alice@usher.test>\r\n"
	  "i: fwd-2\r\n"
	  "CSeq: 2 OPTIONS\r\n"
	  "max-forwards:   0010  \r\n"
	  "l: 0\r\n\r\n",
	  SRC4, C_RR, 1, -1, RULE_ACTIVE, 0, false, ALICE_T,
	  "OPTIONS " ALICE_T " SIP/2.0\r\n"
	  "Record-Route: <sip:127.0.0.1:5060;lr>\r\n"
	  "Record-Route: <sip:127.0.0.1:5062;transport=tcp;lr>\r\n"
	  OURVIA
	  "f: <sip:a@example.org>;tag=f2\r\n"
	  "v:   SIP / 2.0 / UDP   192.0.2.1 ;  received = " SRC4 " ; "
	  "branch=z9hG4bKb1;rport=5070   \r\n"
	  "t: <sip:alice@usher.test>\r\n"
	  "i: fwd-2\r\n"
	  "CSeq: 2 OPTIONS\r\n"
	  "max-forwards:   9  \r\n"
	  "l: 0\r\n\r\n" },
	/* No Max-Forwards, no Content-Length, a body, over UDP, from the
	 * sent-by itself: no received, no Content-Length. */
	{ L, "MESSAGE sip:alice@usher.test SIP/2.0\r\n"
	  "Via: SIP/2.0/UDP " SRC4 ":5070;branch=z9hG4bKc1\r\n"
	  FROM_H TO_H CID_H "CSeq: 3 MESSAGE\r\n"
	  "Content-Type: text/plain\r\n\r\n"
	  "hello\r\nworld",
	  SRC4, C_PLAIN, 0, -1, RULE_ACTIVE, 0, false, ALICE_T,
	  "MESSAGE " ALICE_T " SIP/2.0\r\n" OURVIA
	  "Max-Forwards: 70\r\n"
	  "Via: SIP/2.0/UDP " SRC4 ":5070;branch=z9hG4bKc1\r\n"
	  FROM_H TO_H CID_H "CSeq: 3 MESSAGE\r\n"
	  "Content-Type: text/plain\r\n\r\n"
	  "hello\r\nworld" },
	/* The same over TCP: Content-Length added. */
	{ L, "MESSAGE sip:alice@usher.test SIP/2.0\r\n"
	  "Via: SIP/2.0/UDP " SRC4 ":5070;branch=z9hG4bKc1\r\n"
	  FROM_H TO_H CID_H "CSeq: 3 MESSAGE\r\n"
	  "Content-Type: text/plain\r\n\r\n"
	  "hello\r\nworld",
	  SRC4, C_PLAIN, 0, 1, RULE_ACTIVE, 0, false, ALICE_T,
	  "MESSAGE " ALICE_T " SIP/2.0\r\n"
	  "Via: SIP/2.0/TCP 127.0.0.1:5062;branch=" BR "\r\n"
	  "Max-Forwards: 70\r\n"
	  "Content-Length: 12\r\n"
	  "Via: SIP/2.0/UDP " SRC4 ":5070;branch=z9hG4bKc1\r\n"
	  FROM_H TO_H CID_H "CSeq: 3 MESSAGE\r\n"
	  "Content-Type: text/plain\r\n\r\n"
	  "hello\r\nworld" },
	/* No body, no Content-Length, TCP: Content-Length: 0. */
	{ L, "BYE sip:alice@usher.test SIP/2.0\r\n" VIA_H FROM_H TO_H CID_H
	  "CSeq: 4 BYE\r\n" MF_H "\r\n",
	  SRC4, C_PLAIN, 0, 1, RULE_ACTIVE, 0, false, ALICE_T,
	  "BYE " ALICE_T " SIP/2.0\r\n"
	  "Via: SIP/2.0/TCP 127.0.0.1:5062;branch=" BR "\r\n"
	  "Content-Length: 0\r\n"
	  VIA_RX FROM_H TO_H CID_H "CSeq: 4 BYE\r\n" MF69 "\r\n" },
	/* Loose routing: our Route first, the PBX next, in one line. */
	{ L, "INVITE sip:bob@10.0.0.5:5060 SIP/2.0\r\n" VIA_H
	  "Route: <sip:127.0.0.1:5060;lr>, <sip:10.0.0.5:5060;lr>\r\n"
	  FROM_H TOB_H CID_H "CSeq: 5 INVITE\r\n" MF_H END_H,
	  SRC4, C_PLAIN, 0, -1, RULE_ROUTE_NEXT, 1, false, NULL,
	  "INVITE sip:bob@10.0.0.5:5060 SIP/2.0\r\n" OURVIA VIA_RX
	  "Route: <sip:10.0.0.5:5060;lr>\r\n"
	  FROM_H TOB_H CID_H "CSeq: 5 INVITE\r\n" MF69 END_H },
	/* ... in a line of its own: the line goes whole. */
	{ L, "INVITE sip:bob@10.0.0.5:5060 SIP/2.0\r\n" VIA_H
	  "Route: <sip:127.0.0.1:5060;lr>\r\n"
	  "Route: <sip:10.0.0.5;lr>,<sip:10.0.0.7;lr>\r\n"
	  FROM_H TOB_H CID_H "CSeq: 6 INVITE\r\n" MF_H END_H,
	  SRC4, C_PLAIN, 0, -1, RULE_ROUTE_NEXT, 1, false, NULL,
	  "INVITE sip:bob@10.0.0.5:5060 SIP/2.0\r\n" OURVIA VIA_RX
	  "Route: <sip:10.0.0.5;lr>,<sip:10.0.0.7;lr>\r\n"
	  FROM_H TOB_H CID_H "CSeq: 6 INVITE\r\n" MF69 END_H },
	/* Two of ours (UDP and TCP side), a quoted comma, folding. */
	{ L, "INVITE sip:bob@10.0.0.5:5060 SIP/2.0\r\n" VIA_H
	  "Route: \"us, really\" <sip:127.0.0.1:5060;lr> ,\r\n"
	  "  <sip:127.0.0.1:5062;transport=tcp;lr>,  <sip:10.0.0.5;lr>\r\n"
	  FROM_H TOB_H CID_H "CSeq: 7 INVITE\r\n" MF_H END_H,
	  SRC4, C_PLAIN, 0, -1, RULE_ROUTE_NEXT, 2, false, NULL,
	  "INVITE sip:bob@10.0.0.5:5060 SIP/2.0\r\n" OURVIA VIA_RX
	  "Route: <sip:10.0.0.5;lr>\r\n"
	  FROM_H TOB_H CID_H "CSeq: 7 INVITE\r\n" MF69 END_H },
	/* Only ours, as the last header field: the Request-URI is next. */
	{ L, "INVITE sip:bob@10.0.0.5 SIP/2.0\r\n" VIA_H
	  FROM_H TOB_H CID_H "CSeq: 8 INVITE\r\n" MF_H
	  "Content-Length: 0\r\nRoute: <sip:[::1]:5064;lr>\r\n\r\n",
	  SRC4, C_PLAIN, 0, -1, RULE_ROUTE_NEXT, 1, false, NULL,
	  "INVITE sip:bob@10.0.0.5 SIP/2.0\r\n" OURVIA VIA_RX
	  FROM_H TOB_H CID_H "CSeq: 8 INVITE\r\n" MF69
	  "Content-Length: 0\r\n\r\n" },
	/* Ours not first: not ours to remove. */
	{ L, "INVITE sip:bob@10.0.0.5 SIP/2.0\r\n" VIA_H
	  "Route: <sip:10.0.0.5;lr>, <sip:127.0.0.1;lr>\r\n"
	  FROM_H TOB_H CID_H "CSeq: 9 INVITE\r\n" MF_H END_H,
	  TRUS4, C_PLAIN, 0, -1, RULE_ROUTE_NEXT, 0, false, NULL,
	  "INVITE sip:bob@10.0.0.5 SIP/2.0\r\n" OURVIA
	  "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKv1;"
	  "received=" TRUS4 "\r\n"
	  "Route: <sip:10.0.0.5;lr>, <sip:127.0.0.1;lr>\r\n"
	  FROM_H TOB_H CID_H "CSeq: 9 INVITE\r\n" MF69 END_H },
	/* Strict routing (RFC 3261 §16.4): the Request-URI is us, the last
	 * Route becomes the Request-URI and leaves the Route set. */
	{ L, "INVITE sip:127.0.0.1:5060 SIP/2.0\r\n" VIA_H
	  "Route: <sip:10.0.0.7;lr>, <sip:bob@10.0.0.5:5070>\r\n"
	  FROM_H TOB_H CID_H "CSeq: 10 INVITE\r\n" MF_H END_H,
	  TRUS4, C_PLAIN, 0, -1, RULE_ROUTE_NEXT, 0, true, NULL,
	  "INVITE sip:bob@10.0.0.5:5070 SIP/2.0\r\n" OURVIA
	  "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKv1;"
	  "received=" TRUS4 "\r\n"
	  "Route: <sip:10.0.0.7;lr>\r\n"
	  FROM_H TOB_H CID_H "CSeq: 10 INVITE\r\n" MF69 END_H },
	/* ... one Route only: its line goes. */
	{ L, "INVITE sip:127.0.0.1 SIP/2.0\r\n" VIA_H
	  "Route: <sip:bob@10.0.0.5>\r\n"
	  FROM_H TOB_H CID_H "CSeq: 11 INVITE\r\n" MF_H END_H,
	  SRC4, C_PLAIN, 0, -1, RULE_ROUTE_NEXT, 0, true, NULL,
	  "INVITE sip:bob@10.0.0.5 SIP/2.0\r\n" OURVIA VIA_RX
	  FROM_H TOB_H CID_H "CSeq: 11 INVITE\r\n" MF69 END_H },
	/* ... with a loose Route of ours too, restoring a local user:
	 * rewritten to the target, both Route lines gone. */
	{ L, "INVITE sip:[::1]:5064 SIP/2.0\r\n" VIA_H
	  "Route: <sip:127.0.0.1:5080;lr>\r\n"
	  FROM_H TO_H CID_H "CSeq: 12 INVITE\r\n" MF_H
	  "Route: <sip:alice@usher.test>\r\n" END_H,
	  SRC4, C_PLAIN, 0, -1, RULE_ACTIVE, 1, true, ALICE_T,
	  "INVITE " ALICE_T " SIP/2.0\r\n" OURVIA VIA_RX
	  FROM_H TO_H CID_H "CSeq: 12 INVITE\r\n" MF69 END_H },
	/* rport from the sent-by itself: received all the same (RFC 3581
	 * §4), and the port filled. */
	{ L, "INVITE sip:alice@usher.test SIP/2.0\r\n"
	  "Via: SIP/2.0/UDP " SRC4 ":5070;branch=z9hG4bKg1;rport\r\n"
	  FROM_H TO_H CID_H "CSeq: 13 INVITE\r\n" MF_H END_H,
	  SRC4, C_PLAIN, 0, -1, RULE_ACTIVE, 0, false, ALICE_T,
	  "INVITE " ALICE_T " SIP/2.0\r\n" OURVIA
	  "Via: SIP/2.0/UDP " SRC4 ":5070;branch=z9hG4bKg1;rport=5070;"
	  "received=" SRC4 "\r\n"
	  FROM_H TO_H CID_H "CSeq: 13 INVITE\r\n" MF69 END_H },
	/* TCP in with an rport that has a value: received only. */
	{ L, "INVITE sip:alice@usher.test SIP/2.0\r\n"
	  "Via: SIP/2.0/TCP 192.0.2.1;rport=1234;branch=z9hG4bKe1\r\n"
	  FROM_H TO_H CID_H "CSeq: 13 INVITE\r\n" MF_H END_H,
	  SRC4, C_PLAIN, 1, -1, RULE_ACTIVE, 0, false, ALICE_T,
	  "INVITE " ALICE_T " SIP/2.0\r\n" OURVIA
	  "Via: SIP/2.0/TCP 192.0.2.1;rport=1234;branch=z9hG4bKe1;"
	  "received=" SRC4 "\r\n"
	  FROM_H TO_H CID_H "CSeq: 13 INVITE\r\n" MF69 END_H },
	/* TCP in, received the last parameter: replaced, then rport. */
	{ L, "INVITE sip:alice@usher.test SIP/2.0\r\n"
	  "Via: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bKh1;received=10.9.9.9\r\n"
	  FROM_H TO_H CID_H "CSeq: 13 INVITE\r\n" MF_H END_H,
	  SRC4, C_PLAIN, 1, -1, RULE_ACTIVE, 0, false, ALICE_T,
	  "INVITE " ALICE_T " SIP/2.0\r\n" OURVIA
	  "Via: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bKh1;received=" SRC4
	  ";rport=5070\r\n"
	  FROM_H TO_H CID_H "CSeq: 13 INVITE\r\n" MF69 END_H },
	/* IPv6 sent-by that is the source written another way: no
	 * received; v6 in, v4 out: two Record-Route values. */
	{ L, "INVITE sip:alice@usher.test SIP/2.0\r\n"
	  "Via: SIP/2.0/UDP [2001:db8:2:0:0::7]:5070;branch=z9hG4bKf1\r\n"
	  FROM_H TO_H CID_H "CSeq: 14 INVITE\r\n" MF_H END_H,
	  SRC6, C_RR, 2, -1, RULE_ACTIVE, 0, false, ALICE_T,
	  "INVITE " ALICE_T " SIP/2.0\r\n"
	  "Record-Route: <sip:127.0.0.1:5060;lr>\r\n"
	  "Record-Route: <sip:[::1]:5064;lr>\r\n" OURVIA
	  "Via: SIP/2.0/UDP [2001:db8:2:0:0::7]:5070;branch=z9hG4bKf1\r\n"
	  FROM_H TO_H CID_H "CSeq: 14 INVITE\r\n" MF69 END_H },
	/* ... with advertise: its name in both, with each side's port. */
	{ L, "INVITE sip:alice@usher.test SIP/2.0\r\n"
	  "Via: SIP/2.0/UDP [2001:db8:2:0:0::7]:5070;branch=z9hG4bKf1\r\n"
	  FROM_H TO_H CID_H "CSeq: 14 INVITE\r\n" MF_H END_H,
	  SRC6, C_ADV, 2, -1, RULE_ACTIVE, 0, false, ALICE_T,
	  "INVITE " ALICE_T " SIP/2.0\r\n"
	  "Record-Route: <sip:" ADVERTISE ":5060;lr>\r\n"
	  "Record-Route: <sip:" ADVERTISE ":5064;lr>\r\n"
	  "Via: SIP/2.0/UDP " ADVERTISE ":5060;branch=" BR "\r\n"
	  "Via: SIP/2.0/UDP [2001:db8:2:0:0::7]:5070;branch=z9hG4bKf1\r\n"
	  FROM_H TO_H CID_H "CSeq: 14 INVITE\r\n" MF69 END_H },
	/* A number block keeps the dialled user. */
	{ L, "INVITE sip:+1-555-0100@usher.test;user=phone SIP/2.0\r\n"
	  VIA_H FROM_H TO_H CID_H "CSeq: 15 INVITE\r\n"
	  "Max-Forwards: 1\r\n" END_H,
	  SRC4, C_PLAIN, 0, -1, RULE_ACTIVE, 0, false,
	  "sip:+15550100@10.0.0.9:5060",
	  "INVITE sip:+15550100@10.0.0.9:5060 SIP/2.0\r\n" OURVIA VIA_RX
	  FROM_H TO_H CID_H "CSeq: 15 INVITE\r\n"
	  "Max-Forwards: 0\r\n" END_H },
	/* REGISTER keeps the registrar's Request-URI. */
	{ L, "REGISTER sip:usher.test SIP/2.0\r\n" VIA_H FROM_H TO_H CID_H
	  "CSeq: 16 REGISTER\r\n" MF_H "Max-Breadth: 60\r\n"
	  "RouteX: <sip:127.0.0.1;lr>\r\n"
	  "Contact: <sip:alice@192.0.2.1>;expires=60\r\n" END_H,
	  SRC4, C_PLAIN, 0, -1, RULE_ACTIVE, 0, false, NULL,
	  "REGISTER sip:usher.test SIP/2.0\r\n" OURVIA VIA_RX FROM_H TO_H
	  CID_H "CSeq: 16 REGISTER\r\n" MF69 "Max-Breadth: 60\r\n"
	  "RouteX: <sip:127.0.0.1;lr>\r\n"
	  "Contact: <sip:alice@192.0.2.1>;expires=60\r\n" END_H },
	/* Bare LF line ends: ours are CRLF, the rest stays. */
	{ L, "INVITE sip:alice@usher.test SIP/2.0\n"
	  "VIA:SIP/2.0/UDP 192.0.2.1\n"
	  "From: <sip:a@example.org>;tag=f1\n"
	  "To: <sip:alice@usher.test>\n"
	  "Call-ID: lf\n"
	  "CSeq: 17 INVITE\n"
	  "X-Unknown: a,,b ;; c\n"
	  "Max-Forwards: 70\n"
	  "Content-Length: 3\n\nabc",
	  SRC4, C_PLAIN, 0, -1, RULE_ACTIVE, 0, false, ALICE_T,
	  "INVITE " ALICE_T " SIP/2.0\n" OURVIA
	  "VIA:SIP/2.0/UDP 192.0.2.1;received=" SRC4 "\n"
	  "From: <sip:a@example.org>;tag=f1\n"
	  "To: <sip:alice@usher.test>\n"
	  "Call-ID: lf\n"
	  "CSeq: 17 INVITE\n"
	  "X-Unknown: a,,b ;; c\n"
	  "Max-Forwards: 69\n"
	  "Content-Length: 3\n\nabc" },
	/* A datagram without the empty line after its header fields
	 * (RFC 4475 baddn): what we send has it. */
	{ L, "OPTIONS sip:alice@usher.test SIP/2.0\r\n" VIA_H FROM_H TO_H
	  CID_H "CSeq: 18 OPTIONS\r\n" MF_H "l: 0\r\n",
	  SRC4, C_PLAIN, 0, -1, RULE_ACTIVE, 0, false, ALICE_T,
	  "OPTIONS " ALICE_T " SIP/2.0\r\n" OURVIA VIA_RX FROM_H TO_H
	  CID_H "CSeq: 18 OPTIONS\r\n" MF69 "l: 0\r\n\r\n" },
	/* ... nor even the last line's end, over TCP. */
	{ L, "OPTIONS sip:alice@usher.test SIP/2.0\r\n" VIA_H FROM_H TO_H
	  CID_H "CSeq: 19 OPTIONS\r\n" "Max-Forwards: 70",
	  SRC4, C_PLAIN, 0, 1, RULE_ACTIVE, 0, false, ALICE_T,
	  "OPTIONS " ALICE_T " SIP/2.0\r\n"
	  "Via: SIP/2.0/TCP 127.0.0.1:5062;branch=" BR "\r\n"
	  "Content-Length: 0\r\n" VIA_RX FROM_H TO_H
	  CID_H "CSeq: 19 OPTIONS\r\n" "Max-Forwards: 69\r\n\r\n" },
	/* ... the last line ending in a CR, over UDP */
	{ L, "OPTIONS sip:alice@usher.test SIP/2.0\r\n" VIA_H FROM_H TO_H
	  CID_H "CSeq: 20 OPTIONS\r\n" "Max-Forwards: 70\r",
	  SRC4, C_PLAIN, 0, -1, RULE_ACTIVE, 0, false, ALICE_T,
	  "OPTIONS " ALICE_T " SIP/2.0\r\n" OURVIA VIA_RX FROM_H TO_H
	  CID_H "CSeq: 20 OPTIONS\r\n" "Max-Forwards: 69\r\n\r\n" },
	/* ... half the empty line there */
	{ L, "OPTIONS sip:alice@usher.test SIP/2.0\r\n" VIA_H FROM_H TO_H
	  CID_H "CSeq: 21 OPTIONS\r\n" MF_H "\r",
	  SRC4, C_PLAIN, 0, -1, RULE_ACTIVE, 0, false, ALICE_T,
	  "OPTIONS " ALICE_T " SIP/2.0\r\n" OURVIA VIA_RX FROM_H TO_H
	  CID_H "CSeq: 21 OPTIONS\r\n" MF69 "\r\n" },
	/* ... the top Via the last line, unended */
	{ L, "OPTIONS sip:alice@usher.test SIP/2.0\r\n" FROM_H TO_H
	  CID_H "CSeq: 22 OPTIONS\r\n" MF_H
	  "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKv1",
	  SRC4, C_PLAIN, 1, 1, RULE_ACTIVE, 0, false, ALICE_T,
	  "OPTIONS " ALICE_T " SIP/2.0\r\n"
	  "Via: SIP/2.0/TCP 127.0.0.1:5062;branch=" BR "\r\n"
	  "Content-Length: 0\r\n"
	  FROM_H TO_H CID_H "CSeq: 22 OPTIONS\r\n" MF69
	  "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKv1;"
	  "received=" SRC4 ";rport=5070\r\n\r\n" },
	/* SPEC §9: UDP in, TLS out: Via TLS, the TLS listener's value
	 * (transport=tls) on top of the UDP one */
	{ L, "INVITE sip:alice@usher.test SIP/2.0\r\n" VIA_H FROM_H TO_H
	  CID_H "CSeq: 1 INVITE\r\n" MF_H END_H,
	  SRC4, C_RR, 0, 4, RULE_ACTIVE, 0, false, ALICE_T,
	  "INVITE " ALICE_T " SIP/2.0\r\n"
	  "Record-Route: <sip:127.0.0.1:5061;transport=tls;lr>\r\n"
	  "Record-Route: <sip:127.0.0.1:5060;lr>\r\n"
	  "Via: SIP/2.0/TLS 127.0.0.1:5061;branch=" BR "\r\n"
	  VIA_RX FROM_H TO_H CID_H "CSeq: 1 INVITE\r\n" MF69 END_H },
	/* TLS in, UDP out: rport noted for the connection, double RR */
	{ L, "INVITE sip:alice@usher.test SIP/2.0\r\n" VIA_TLS FROM_H TO_H
	  CID_H "CSeq: 1 INVITE\r\n" MF_H END_H,
	  SRC4, C_RR, 5, 0, RULE_ACTIVE, 0, false, ALICE_T,
	  "INVITE " ALICE_T " SIP/2.0\r\n"
	  "Record-Route: <sip:127.0.0.1:5060;lr>\r\n"
	  "Record-Route: <sip:127.0.0.1:5061;transport=tls;lr>\r\n"
	  OURVIA VIA_TLS_RX FROM_H TO_H CID_H "CSeq: 1 INVITE\r\n" MF69
	  END_H },
	/* TLS in, TCP out */
	{ L, "INVITE sip:alice@usher.test SIP/2.0\r\n" VIA_TLS FROM_H TO_H
	  CID_H "CSeq: 1 INVITE\r\n" MF_H END_H,
	  SRC4, C_RR, 5, 1, RULE_ACTIVE, 0, false, ALICE_T,
	  "INVITE " ALICE_T " SIP/2.0\r\n"
	  "Record-Route: <sip:127.0.0.1:5062;transport=tcp;lr>\r\n"
	  "Record-Route: <sip:127.0.0.1:5061;transport=tls;lr>\r\n"
	  "Via: SIP/2.0/TCP 127.0.0.1:5062;branch=" BR "\r\n"
	  VIA_TLS_RX FROM_H TO_H CID_H "CSeq: 1 INVITE\r\n" MF69 END_H },
	/* TCP in, TLS out */
	{ L, "INVITE sip:alice@usher.test SIP/2.0\r\n" VIA_H FROM_H TO_H
	  CID_H "CSeq: 1 INVITE\r\n" MF_H END_H,
	  SRC4, C_RR, 1, 4, RULE_ACTIVE, 0, false, ALICE_T,
	  "INVITE " ALICE_T " SIP/2.0\r\n"
	  "Record-Route: <sip:127.0.0.1:5061;transport=tls;lr>\r\n"
	  "Record-Route: <sip:127.0.0.1:5062;transport=tcp;lr>\r\n"
	  "Via: SIP/2.0/TLS 127.0.0.1:5061;branch=" BR "\r\n"
	  "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKv1;"
	  "received=" SRC4 ";rport=5070\r\n"
	  FROM_H TO_H CID_H "CSeq: 1 INVITE\r\n" MF69 END_H },
	/* RFC 5630: a sips: Request-URI (retargeted to a sip: target,
	 * still TLS to the end) gets a sips: value on the TLS side */
	{ L, "INVITE sips:alice@usher.test SIP/2.0\r\n" VIA_H FROM_H TO_H
	  CID_H "CSeq: 1 INVITE\r\n" MF_H END_H,
	  SRC4, C_RR, 0, 4, RULE_ACTIVE, 0, false, ALICE_T,
	  "INVITE " ALICE_T " SIP/2.0\r\n"
	  "Record-Route: <sips:127.0.0.1:5061;lr>\r\n"
	  "Record-Route: <sip:127.0.0.1:5060;lr>\r\n"
	  "Via: SIP/2.0/TLS 127.0.0.1:5061;branch=" BR "\r\n"
	  VIA_RX FROM_H TO_H CID_H "CSeq: 1 INVITE\r\n" MF69 END_H },
	/* TLS to TLS: one value; sips: */
	{ L, "INVITE sips:alice@usher.test SIP/2.0\r\n" VIA_TLS FROM_H TO_H
	  CID_H "CSeq: 1 INVITE\r\n" MF_H END_H,
	  SRC4, C_RR, 5, 4, RULE_ACTIVE, 0, false, ALICE_T,
	  "INVITE " ALICE_T " SIP/2.0\r\n"
	  "Record-Route: <sips:127.0.0.1:5061;lr>\r\n"
	  "Via: SIP/2.0/TLS 127.0.0.1:5061;branch=" BR "\r\n"
	  VIA_TLS_RX FROM_H TO_H CID_H "CSeq: 1 INVITE\r\n" MF69 END_H },
	/* ... advertised, sip: */
	{ L, "INVITE sip:alice@usher.test SIP/2.0\r\n" VIA_TLS FROM_H TO_H
	  CID_H "CSeq: 1 INVITE\r\n" MF_H END_H,
	  SRC4, C_ADV, 5, 4, RULE_ACTIVE, 0, false, ALICE_T,
	  "INVITE " ALICE_T " SIP/2.0\r\n"
	  "Record-Route: <sip:" ADVERTISE ":5061;transport=tls;lr>\r\n"
	  "Via: SIP/2.0/TLS " ADVERTISE ":5061;branch=" BR "\r\n"
	  VIA_TLS_RX FROM_H TO_H CID_H "CSeq: 1 INVITE\r\n" MF69 END_H },
	/* TLS over IPv6 in, TLS over IPv4 out: the family changes */
	{ L, "INVITE sip:alice@usher.test SIP/2.0\r\n" VIA_TLS FROM_H TO_H
	  CID_H "CSeq: 1 INVITE\r\n" MF_H END_H,
	  SRC4, C_RR, 6, 4, RULE_ACTIVE, 0, false, ALICE_T,
	  "INVITE " ALICE_T " SIP/2.0\r\n"
	  "Record-Route: <sip:127.0.0.1:5061;transport=tls;lr>\r\n"
	  "Record-Route: <sip:[::1]:5063;transport=tls;lr>\r\n"
	  "Via: SIP/2.0/TLS 127.0.0.1:5061;branch=" BR "\r\n"
	  VIA_TLS_RX FROM_H TO_H CID_H "CSeq: 1 INVITE\r\n" MF69 END_H },
	/* over TLS a message without Content-Length gets one (a stream) */
	{ L, "MESSAGE sip:alice@usher.test SIP/2.0\r\n" VIA_H FROM_H TO_H
	  CID_H "CSeq: 1 MESSAGE\r\n" MF_H "\r\nhello",
	  SRC4, C_PLAIN, 0, 5, RULE_ACTIVE, 0, false, ALICE_T,
	  "MESSAGE " ALICE_T " SIP/2.0\r\n"
	  "Via: SIP/2.0/TLS [::1]:5063;branch=" BR "\r\n"
	  "Content-Length: 5\r\n"
	  VIA_RX FROM_H TO_H CID_H "CSeq: 1 MESSAGE\r\n" MF69 "\r\nhello" },
};

static void
run_tcase(const struct tcase *t)
{
	struct route_decision d;
	struct sockaddr_storage ss;
	struct fwd_ctx c;
	struct sipmsg m;
	const char *why;
	char what[64], *raw, *out, *golden;
	size_t len;
	ssize_t rc, n;

	snprintf(what, sizeof(what), "case at line %d", t->line);
	len = strlen(t->msg);
	raw = malloc(len);
	assert_non_null(raw);
	memcpy(raw, t->msg, len);
	rc = sipmsg_scan(raw, len, SIPMSG_DGRAM, &m);
	if (rc <= 0)
		fail_msg("%s: scan: %s", what, m.fault ? m.fault : "-");
	src_addr(t->src, &ss);
	route_decide(&m, (int)rc, (struct sockaddr *)&ss, confs[t->ci], &d);
	if (d.action != ROUTE_FORWARD || d.rule != t->rule ||
	    d.pop_routes != t->pop || d.strict_route != t->strict ||
	    d.rewrite_ruri != (t->target != NULL))
		fail_msg("%s: route_decide: %s %s (%u %s) pop %u strict %d "
		    "rewrite %d", what, route_action_name(d.action),
		    route_rule_name(d.rule), d.code, d.reason ? d.reason : "",
		    d.pop_routes, d.strict_route, d.rewrite_ruri);
	if (t->hop >= 0)
		ctx_make(&c, t->ci, t->in, t->hop, t->src);
	else {
		memset(&c, 0, sizeof(c));
		c.ci = t->ci;
		c.in = t->in;
		c.src_ip = t->src;
		c.src_port = SRC_PORT;
		if (forward_hop(confs[t->ci], &d.next_hop_uri, NULL, m.len,
		    &c.hop, &why) == -1)
			fail_msg("%s: forward_hop: %s", what, why);
	}
	check_request(what, raw, len, &d, t->target, &c,
	    CHK_SWEEP | CHK_OSIP | CHK_RELAY, NULL);

	/* The model itself, against bytes written out by hand. */
	d.branch_h1 = 0x0123456789abcdefULL;
	d.branch_h2 = 0xfedcba9876543210ULL;
	out = malloc(OUTMAX);
	assert_non_null(out);
	n = forward_request(&m, &d, confs[t->ci], c.src_ip, c.src_port, c.in,
	    &c.hop, out, OUTMAX, &why);
	if (n < 0)
		fail_msg("%s: -1 (%s)", what, why);
	/* BR's H1 stands for the one of the second Via as written */
	len = strlen(t->golden);
	golden = malloc(len);
	assert_non_null(golden);
	memcpy(golden, t->golden, len);
	seal(what, golden, len, &m, t->ci);
	same_bytes(what, golden, len, out, (size_t)n);
	free(golden);
	free(out);
	free(raw);
}

static void
test_cases(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(tcases); i++)
		run_tcase(&tcases[i]);
}

/* ---- sizes: near the output buffer, edit list and edit space full ---- */

/* A request of exactly len bytes: headers, then a body filling it. */
static char *
sized_request(size_t len, bool with_clen)
{
	static const char head[] = "INVITE sip:alice@usher.test SIP/2.0\r\n"
	    VIA_H FROM_H TO_H CID_H "CSeq: 20 INVITE\r\n" MF_H
	    "Content-Type: application/octet-stream\r\n";
	char cl[64], *buf;
	size_t h, body, i;
	int k = 0;

	buf = malloc(len);
	assert_non_null(buf);
	memcpy(buf, head, sizeof(head) - 1);
	h = sizeof(head) - 1;
	/* the Content-Length digits depend on the body length: settle */
	for (body = len - h - 2, i = 0; i < 3; i++) {
		k = with_clen ? snprintf(cl, sizeof(cl),
		    "Content-Length: %zu\r\n", body) : 0;
		body = len - h - (size_t)k - 2;
	}
	assert_true(h + (size_t)k + 2 + body == len);
	memcpy(buf + h, cl, (size_t)k);
	memcpy(buf + h + (size_t)k, "\r\n", 2);
	for (i = 0; i < body; i++)
		buf[h + (size_t)k + 2 + i] = (char)(i % 251);
	return buf;
}

static void
test_near_buffer_size(void **state)
{
	struct route_decision d;
	struct sipmsg m;
	struct fwd_ctx c;
	struct model md;
	struct call k;
	char *raw, *want, *out, what[128];
	size_t len, wl, delta;
	int cl;

	(void)state;
	/* How much forwarding adds: then a request whose forwarded form is
	 * exactly 65535 bytes, and one that arrives with 65535. */
	for (cl = 0; cl < 2; cl++) {
		ctx_make(&c, C_ADV, 1, 3, SRC6);
		direct(&d, true, 7);
		raw = sized_request(65000, cl);
		model_parse(raw, 65000, &md);
		want = expect_request(&md, &m, &d, &c, ALICE_T, &wl);
		delta = wl - 65000;
		free(want);
		free(raw);

		for (len = 65535 - delta - 1; len <= 65535; len++) {
			if (len > 65535 - delta + 1 && len < 65535)
				continue;
			snprintf(what, sizeof(what), "%zu-byte request%s", len,
			    cl ? "" : " without Content-Length");
			raw = sized_request(len, cl);
			assert_true(sipmsg_scan(raw, len, SIPMSG_DGRAM, &m) ==
			    (ssize_t)len);
			model_parse(raw, len, &md);
			want = expect_request(&md, &m, &d, &c, ALICE_T, &wl);
			assert_int_equal(wl, len + delta);
			check_request(what, raw, len, &d, ALICE_T, &c, 0,
			    &out);
			free(out);
			k.m = &m;
			k.d = &d;
			k.c = &c;
			k.ci = c.ci;
			sweep(what, &k, want, wl, 65530, 65540);
			sweep(what, &k, want, wl, wl - 3, wl + 3);
			free(want);
			free(raw);
		}
	}
}

/* Responses near the size too: the relayed one is shorter. */
static void
test_response_near_buffer_size(void **state)
{
	static const char head[] = "SIP/2.0 200 OK\r\n"
	    "Via: " OURS_V ", "
	    "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKv1\r\n"
	    FROM_H TO_H CID_H "CSeq: 20 INVITE\r\n";
	char *raw, *out;
	size_t len = 65535, body, i, n;
	int k;

	(void)state;
	raw = malloc(len);
	assert_non_null(raw);
	memcpy(raw, head, sizeof(head) - 1);
	/* "Content-Length: NNNNN" + CRLF + CRLF: 25 bytes */
	body = len - (sizeof(head) - 1) - 25;
	k = snprintf(raw + sizeof(head) - 1, 64, "Content-Length: %zu\r\n\r\n",
	    body);
	assert_int_equal(k, 25);
	for (i = sizeof(head) - 1 + 25; i < len; i++)
		raw[i] = (char)(i % 253);
	n = check_response("65535-byte response", raw, len, C_PLAIN,
	    CHK_DECIDE | CHK_SEAL | CHK_HOP, &out);
	assert_int_equal(n, len - strlen(OURS_V ", "));
	free(out);
	free(raw);
}

/*
 * Many Route values of ours in lines of their own, each line an edit: the
 * output is right, or -1 when the edit list is full; never wrong bytes.
 * A restored Request-URI longer than the edit space: likewise.
 */
static void
test_edit_limits(void **state)
{
	struct route_decision d;
	struct sockaddr_storage ss;
	struct fwd_ctx c;
	struct sipmsg m;
	struct model md;
	struct call k;
	const char *why;
	char *raw, *want, *out, what[128];
	size_t len, wl, nours, ulen, i, okays = 0, fails = 0;
	ssize_t n;
	int pass;

	(void)state;
	raw = malloc(OUTMAX);
	assert_non_null(raw);
	src_addr(SRC4, &ss);
	for (pass = 0; pass < 2; pass++)
	for (nours = 1, ulen = 100; pass == 0 ? nours <= 30 : ulen <= 2600;
	    nours++, ulen += 250) {
		len = 0;
		if (pass == 0) {
			len += (size_t)sprintf(raw + len,
			    "INVITE sip:bob@10.0.0.5 SIP/2.0\r\n" VIA_H);
			for (i = 0; i < nours; i++)
				len += (size_t)sprintf(raw + len,
				    "Route: <sip:127.0.0.1:5060;lr>\r\n");
			len += (size_t)sprintf(raw + len,
			    "Route: <sip:10.0.0.5;lr>\r\n");
		} else {
			len += (size_t)sprintf(raw + len,
			    "INVITE sip:127.0.0.1 SIP/2.0\r\n" VIA_H
			    "Route: <sip:10.0.0.7;lr>, <sip:bob@10.0.0.5;x=");
			memset(raw + len, 'y', ulen);
			len += ulen;
			len += (size_t)sprintf(raw + len, ">\r\n");
		}
		len += (size_t)sprintf(raw + len, FROM_H TOB_H CID_H
		    "CSeq: 21 INVITE\r\n" MF_H END_H);
		snprintf(what, sizeof(what), pass == 0 ? "%zu Route lines "
		    "of ours" : "strict route, %zu-byte URI parameter",
		    pass == 0 ? nours : ulen);
		if (sipmsg_scan(raw, len, SIPMSG_DGRAM, &m) != (ssize_t)len)
			fail_msg("%s: scan: %s", what, m.fault);
		route_decide(&m, (int)len, (struct sockaddr *)&ss,
		    confs[C_RR], &d);
		if (d.action != ROUTE_FORWARD || (pass == 0 ?
		    d.pop_routes != nours : !d.strict_route))
			fail_msg("%s: %s", what, route_rule_name(d.rule));
		ctx_make(&c, C_RR, 1, 2, SRC4);
		model_parse(raw, len, &md);
		want = expect_request(&md, &m, &d, &c, NULL, &wl);
		out = malloc(wl + GUARD);
		assert_non_null(out);
		memset(out, 0x5a, wl + GUARD);
		why = NULL;
		n = forward_request(&m, &d, confs[C_RR], c.src_ip, c.src_port,
		    c.in, &c.hop, out, wl + GUARD, &why);
		if (n == -1) {
			if (why == NULL)
				fail_msg("%s: -1 without a reason", what);
			fails++;
		} else {
			same_bytes(what, want, wl, out, (size_t)n);
			okays++;
			k.m = &m;
			k.d = &d;
			k.c = &c;
			k.ci = c.ci;
			sweep(what, &k, want, wl, wl - 2, wl + 2);
		}
		/* the small ones always fit */
		if (n == -1 && (pass == 0 ? nours <= 10 : ulen <= 1600))
			fail_msg("%s: -1 (%s)", what, why);
		free(out);
		free(want);
	}
	free(raw);
	assert_true(okays > 0);
	(void)fails;
}

/* ---- hand-written responses ---- */

#define RESP_T	FROM_H TO_H CID_H "CSeq: 1 INVITE\r\n" END_H

static const struct {
	int		 line;
	const char	*msg;
	const char	*golden;	/* NULL: forward_response() fails */
} rcases[] = {
	/* ours first of two values in a line */
	{ L, "SIP/2.0 180 Ringing\r\n"
	  "Via: " OURS_V ", SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bKa;"
	  "received=10.0.0.6\r\n"
	  "Via: SIP/2.0/UDP 10.0.0.7;branch=z9hG4bKb\r\n" RESP_T,
	  "SIP/2.0 180 Ringing\r\n"
	  "Via: SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bKa;"
	  "received=10.0.0.6\r\n"
	  "Via: SIP/2.0/UDP 10.0.0.7;branch=z9hG4bKb\r\n" RESP_T },
	/* ours alone in its line; the next line holds two */
	{ L, "SIP/2.0 200 OK\r\n"
	  "Via: " OURS_V "\r\n"
	  "Via: SIP/2.0/UDP 10.0.0.5, SIP/2.0/UDP 10.0.0.7\r\n" RESP_T,
	  "SIP/2.0 200 OK\r\n"
	  "Via: SIP/2.0/UDP 10.0.0.5, SIP/2.0/UDP 10.0.0.7\r\n" RESP_T },
	/* three values, compact form, folded after the comma */
	{ L, "SIP/2.0 183 Session Progress\r\n"
	  "v: " OURS_V " ,\r\n"
	  "   SIP/2.0/TCP [2001:db8::5]:5090;rport=6000;branch=z9hG4bKr3,"
	  "SIP/2.0/UDP 10.0.0.7\r\n" RESP_T,
	  "SIP/2.0 183 Session Progress\r\n"
	  "v: SIP/2.0/TCP [2001:db8::5]:5090;rport=6000;branch=z9hG4bKr3,"
	  "SIP/2.0/UDP 10.0.0.7\r\n" RESP_T },
	/* Vias below other fields, an unknown one between them */
	{ L, "SIP/2.0 200 OK\r\n" FROM_H TO_H
	  "Via: " OURS_V "\r\n"
	  "X-Odd:  a,b , c\r\n"
	  "Viaduct: SIP/2.0/UDP 10.0.0.9\r\n"
	  "VIA : SIP/2.0/UDP 10.0.0.5:5072;branch=x\r\n"
	  CID_H "CSeq: 1 INVITE\r\n" END_H,
	  "SIP/2.0 200 OK\r\n" FROM_H TO_H
	  "X-Odd:  a,b , c\r\n"
	  "Viaduct: SIP/2.0/UDP 10.0.0.9\r\n"
	  "VIA : SIP/2.0/UDP 10.0.0.5:5072;branch=x\r\n"
	  CID_H "CSeq: 1 INVITE\r\n" END_H },
	/* odd spacing around ours */
	{ L, "SIP/2.0 486 Busy Here\r\n"
	  "Via  :  SIP / 2.0 / UDP 127.0.0.1:5060 ;branch="
	  "z9hG4bK0000000000000000.0000000000000000  ,\t"
	  "SIP/2.0/UDP 10.0.0.5;received=10.0.0.6;rport=7000\r\n" RESP_T,
	  "SIP/2.0 486 Busy Here\r\n"
	  "Via  :  SIP/2.0/UDP 10.0.0.5;received=10.0.0.6;rport=7000\r\n"
	  RESP_T },
	/* a body, no Content-Length */
	{ L, "SIP/2.0 200 OK\r\n"
	  "Via: " OURS_V "\r\n"
	  "Via: SIP/2.0/UDP [2001:db8::9]\r\n" FROM_H TO_H CID_H
	  "CSeq: 1 INVITE\r\n\r\nv=0\r\n",
	  "SIP/2.0 200 OK\r\n"
	  "Via: SIP/2.0/UDP [2001:db8::9]\r\n" FROM_H TO_H CID_H
	  "CSeq: 1 INVITE\r\n\r\nv=0\r\n" },
	/* no empty line after the header fields */
	{ L, "SIP/2.0 200 OK\r\n"
	  "Via: " OURS_V "\r\n"
	  "Via: SIP/2.0/UDP 10.0.0.5\r\n" FROM_H TO_H CID_H
	  "CSeq: 1 INVITE\r\n",
	  "SIP/2.0 200 OK\r\n"
	  "Via: SIP/2.0/UDP 10.0.0.5\r\n" FROM_H TO_H CID_H
	  "CSeq: 1 INVITE\r\n\r\n" },
	/* SPEC §9: to a TLS Via: received and rport, or its sent-by at
	 * 5061 */
	{ L, "SIP/2.0 200 OK\r\n"
	  "Via: " OURS_V "\r\n"
	  "Via: SIP/2.0/TLS pbx.example.com:5061;branch=z9hG4bKt1;"
	  "received=10.0.0.6;rport=40000\r\n" RESP_T,
	  "SIP/2.0 200 OK\r\n"
	  "Via: SIP/2.0/TLS pbx.example.com:5061;branch=z9hG4bKt1;"
	  "received=10.0.0.6;rport=40000\r\n" RESP_T },
	{ L, "SIP/2.0 180 Ringing\r\n"
	  "Via: " OURS_V ",SIP/2.0/TLS [2001:db8::9];branch=z9hG4bKt2\r\n"
	  RESP_T,
	  "SIP/2.0 180 Ringing\r\n"
	  "Via: SIP/2.0/TLS [2001:db8::9];branch=z9hG4bKt2\r\n" RESP_T },
	/* nowhere to go */
	{ L, "SIP/2.0 200 OK\r\nVia: " OURS_V "\r\n" RESP_T, NULL },
	{ L, "SIP/2.0 200 OK\r\nVia: " OURS_V ", SIP/2.0/UDP pbx.example.com"
	  "\r\n" RESP_T, NULL },
	/* never to more than one host, nor to port 0 */
	{ L, "SIP/2.0 200 OK\r\nVia: " OURS_V ", SIP/2.0/UDP 10.0.0.5;"
	  "received=255.255.255.255\r\n" RESP_T, NULL },
	{ L, "SIP/2.0 200 OK\r\nVia: " OURS_V ", SIP/2.0/UDP 224.0.0.1\r\n"
	  RESP_T, NULL },
	{ L, "SIP/2.0 200 OK\r\nVia: " OURS_V ", SIP/2.0/UDP 0.0.0.0\r\n"
	  RESP_T, NULL },
	{ L, "SIP/2.0 200 OK\r\nVia: " OURS_V ", SIP/2.0/UDP 10.0.0.5:5060;"
	  "rport=0\r\n" RESP_T, NULL },
	{ L, "SIP/2.0 200 OK\r\nVia: " OURS_V ", SIP/2.0/UDP [ff02::1]\r\n"
	  RESP_T, NULL },
	{ L, "SIP/2.0 200 OK\r\nVia: " OURS_V ", SIP/2.0/UDP [::]\r\n"
	  RESP_T, NULL },
};

static void
test_responses(void **state)
{
	struct fwd_hop hop;
	struct sipmsg m;
	const char *why;
	char what[64], *raw, *out;
	size_t i, len, n;

	(void)state;
	for (i = 0; i < NELEM(rcases); i++) {
		snprintf(what, sizeof(what), "response at line %d",
		    rcases[i].line);
		len = strlen(rcases[i].msg);
		raw = malloc(len);
		assert_non_null(raw);
		memcpy(raw, rcases[i].msg, len);
		if (rcases[i].golden == NULL) {
			assert_true(sipmsg_scan(raw, len, SIPMSG_DGRAM,
			    &m) > 0);
			out = malloc(OUTMAX);
			assert_non_null(out);
			why = NULL;
			assert_int_equal(forward_response(&m, confs[C_PLAIN],
			    &hop, out, OUTMAX, &why), -1);
			assert_non_null(why);
		} else {
			n = check_response(what, raw, len, C_PLAIN,
			    CHK_SWEEP | CHK_OSIP | CHK_DECIDE | CHK_SEAL |
			    CHK_HOP, &out);
			same_bytes(what, rcases[i].golden,
			    strlen(rcases[i].golden), out, n);
		}
		free(out);
		free(raw);
	}
}

/* SPEC §9: a response to a TLS Via goes over TLS; a new connection
 * verifies the host the Via named (the connection it came in on, when
 * open, is the transport's to find by address). */
static void
test_response_tls(void **state)
{
	static const struct {
		const char	*via;
		const char	*dest;		/* addr:port name */
		const char	*clen;	/* Content-Length added */
	} c[] = {
		{ "SIP/2.0/TLS pbx.example.com:5061;branch=z9hG4bKt;"
		  "received=10.0.0.6;rport=40000",
		  "10.0.0.6:40000 pbx.example.com", "Content-Length: 0" },
		{ "SIP/2.0/TLS 10.0.0.7;branch=z9hG4bKt",
		  "10.0.0.7:5061 10.0.0.7", "Content-Length: 0" },
		{ "SIP/2.0/TLS [2001:db8::9]:5071;branch=z9hG4bKt",
		  "[2001:db8::9]:5071 2001:db8::9", "Content-Length: 0" },
		{ "SIP/2.0/tls PBX.example.com;received=10.0.0.6;"
		  "branch=z9hG4bKt", "10.0.0.6:5061 PBX.example.com",
		  "Content-Length: 0" },
		/* UDP and TCP have no name to verify */
		{ "SIP/2.0/TCP 10.0.0.7;branch=z9hG4bKt", "10.0.0.7:5060 ",
		  "Content-Length: 0" },
		{ "SIP/2.0/UDP 10.0.0.7;branch=z9hG4bKt", "10.0.0.7:5060 ",
		  NULL },
	};
	struct fwd_hop hop;
	struct sipmsg m;
	const char *why = NULL;
	char buf[1024], out[1024], got[512], hp[NETADDR_STRLEN];
	size_t i;
	ssize_t n;
	int len;

	(void)state;
	for (i = 0; i < NELEM(c); i++) {
		/* no Content-Length in what came (over UDP) */
		len = snprintf(buf, sizeof(buf), "SIP/2.0 200 OK\r\n"
		    "Via: " OURS_V "\r\nVia: %s\r\n" FROM_H TO_H CID_H
		    "CSeq: 1 INVITE\r\n\r\n", c[i].via);
		assert_true(sipmsg_scan(buf, (size_t)len, SIPMSG_DGRAM,
		    &m) > 0);
		n = forward_response(&m, confs[C_PLAIN], &hop, out,
		    sizeof(out), &why);
		if (n < 0)
			fail_msg("%s: %s", c[i].via, why);
		netaddr_format(&hop.addr, NETADDR_PORT, hp, sizeof(hp));
		snprintf(got, sizeof(got), "%s %s", hp, hop.name);
		if (strcmp(got, c[i].dest) != 0)
			fail_msg("%s: \"%s\", not \"%s\"", c[i].via, got,
			    c[i].dest);
		if (strncasecmp(c[i].via, "SIP/2.0/TLS", 11) == 0)
			assert_int_equal(hop.tp, SIP_TP_TLS);
		else
			assert_int_not_equal(hop.tp, SIP_TP_TLS);
		if ((memmem(out, (size_t)n, "Content-Length: 0", 17) !=
		    NULL) != (c[i].clen != NULL))
			fail_msg("%s: Content-Length %s", c[i].via,
			    c[i].clen ? "missing" : "added");
	}
}

/* RFC 3261 §18.2.2, RFC 3581 §4: a response to a TCP or TLS Via goes on
 * the connection it came in on (received:rport) while open, else on a new
 * one to received (or the host) at the sent-by port, 5060 or 5061 when
 * absent: alt, "-" when it is addr. UDP keeps received:rport alone. */
static void
test_response_stream_alt(void **state)
{
	static const struct {
		const char	*via;
		const char	*dest;		/* addr alt name */
	} c[] = {
		{ "SIP/2.0/TCP 10.0.0.5:5070;branch=z9hG4bKt;"
		  "received=10.0.0.6;rport=40000", "10.0.0.6:40000 "
		  "10.0.0.6:5070 " },
		{ "SIP/2.0/TCP 10.0.0.5;rport=40000;received=10.0.0.6;"
		  "branch=z9hG4bKt", "10.0.0.6:40000 10.0.0.6:5060 " },
		{ "SIP/2.0/TCP 10.0.0.5:5070;branch=z9hG4bKt",
		  "10.0.0.5:5070 - " },
		{ "SIP/2.0/TCP 10.0.0.5;received=10.0.0.6;branch=z9hG4bKt",
		  "10.0.0.6:5060 - " },
		/* rport is the sent-by port: one address */
		{ "SIP/2.0/TCP 10.0.0.5:5080;rport=5080;received=10.0.0.6;"
		  "branch=z9hG4bKt", "10.0.0.6:5080 - " },
		{ "SIP/2.0/TLS pbx.example.com:5071;branch=z9hG4bKt;"
		  "received=10.0.0.6;rport=40000",
		  "10.0.0.6:40000 10.0.0.6:5071 pbx.example.com" },
		{ "SIP/2.0/TLS pbx.example.com;received=10.0.0.6;"
		  "rport=40000;branch=z9hG4bKt",
		  "10.0.0.6:40000 10.0.0.6:5061 pbx.example.com" },
		{ "SIP/2.0/TLS [2001:db8::9];received=2001:db8::8;"
		  "rport=40000;branch=z9hG4bKt",
		  "[2001:db8::8]:40000 [2001:db8::8]:5061 2001:db8::9" },
		/* UDP unchanged: received:rport, no second address */
		{ "SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bKt;"
		  "received=10.0.0.6;rport=40000", "10.0.0.6:40000 - " },
		{ "SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKt", "10.0.0.5:5060 - " },
	};
	struct fwd_hop hop;
	struct sipmsg m;
	const char *why = NULL;
	char buf[1024], out[1024], got[512], hp[NETADDR_STRLEN],
	    ap[NETADDR_STRLEN];
	size_t i;
	int len;

	(void)state;
	for (i = 0; i < NELEM(c); i++) {
		len = snprintf(buf, sizeof(buf), "SIP/2.0 486 Busy Here\r\n"
		    "Via: " OURS_V "\r\nVia: %s\r\n" FROM_H TO_H CID_H
		    "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n", c[i].via);
		assert_true(sipmsg_scan(buf, (size_t)len, SIPMSG_DGRAM,
		    &m) > 0);
		if (forward_response(&m, confs[C_PLAIN], &hop, out,
		    sizeof(out), &why) < 0)
			fail_msg("%s: %s", c[i].via, why);
		netaddr_format(&hop.addr, NETADDR_PORT | NETADDR_BRACKETS, hp,
		    sizeof(hp));
		strcpy(ap, "-");
		if (hop.altlen > 0) {
			assert_int_equal(hop.altlen, hop.addrlen);
			netaddr_format(&hop.alt, NETADDR_PORT |
			    NETADDR_BRACKETS, ap, sizeof(ap));
		}
		snprintf(got, sizeof(got), "%s %s %s", hp, ap, hop.name);
		if (strcmp(got, c[i].dest) != 0)
			fail_msg("%s: \"%s\", not \"%s\"", c[i].via, got,
			    c[i].dest);
	}
}

/* SPEC §7, §9: without a TLS listener of the hop's family, sips: is never
 * downgraded: 503 No TLS For sips Next Hop; transport=tls says which
 * listener is missing. */
static void
test_no_tls_listener(void **state)
{
	static const char conf_text[] =
	    "listen = (\n"
	    "  { transport = \"udp\"; address = \"127.0.0.1\"; port = 5060; },\n"
	    "  { transport = \"tcp\"; address = \"127.0.0.1\"; port = 5060; },\n"
	    "  { transport = \"udp\"; address = \"::1\"; port = 5060; },\n"
	    "  { transport = \"tls\"; address = \"::1\"; port = 5061; }\n"
	    ");\n"
	    "tls = { certificate = \"/nonexistent/c.pem\";"
	    " private_key = \"/nonexistent/k.pem\"; };\n"
	    "mode = \"proxy\";\n"
	    "trusted = [ \"10.0.0.0/8\" ];\n"
	    "log = { level = \"error\"; };\n"
	    "domains = ( { name = \"usher.test\"; authoritative = true; } );\n"
	    "users = ( { user = \"alice\"; domain = \"usher.test\";"
	    " target = \"sip:alice@10.0.0.5\"; } );\n";
	static const struct {
		const char	*ruri;
		const char	*next;		/* next hop URI */
		const char	*want;	/* tp addr:port, or why */
	} c[] = {
		{ "sips:x@10.0.0.1", "sips:x@10.0.0.1", FORWARD_NO_TLS },
		{ "sip:x@10.0.0.1", "sip:x@10.0.0.1;transport=tls",
		  "No IPv4 TLS Listener For Next Hop" },
		/* a sips: Request-URI retargeted to a sip: target */
		{ "sips:alice@usher.test", "sip:alice@10.0.0.5",
		  FORWARD_NO_TLS },
		{ "sip:alice@usher.test", "sip:alice@10.0.0.5",
		  "udp 10.0.0.5:5060" },
		/* the IPv6 TLS listener serves IPv6 hops */
		{ "sips:x@[2001:db8::1]", "sips:x@[2001:db8::1]",
		  "tls [2001:db8::1]:5061" },
	};
	char path[] = "/tmp/test_forward.XXXXXX", err[512], req[512];
	char reason[160], got[160], hp[NETADDR_STRLEN];
	struct route_decision d;
	enum resolve_kind kind;
	struct fwd_hop hop;
	struct conf *conf = NULL;
	struct sipmsg m;
	const char *why, *fault;
	size_t i;
	int fd, len;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, conf_text, sizeof(conf_text) - 1),
	    (ssize_t)sizeof(conf_text) - 1);
	close(fd);
	if (config_load(path, &conf, err, sizeof(err)) == -1)
		fail_msg("%s", err);
	unlink(path);
	for (i = 0; i < NELEM(c); i++) {
		len = snprintf(req, sizeof(req), "OPTIONS %s SIP/2.0\r\n"
		    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKnt\r\n"
		    "From: <sip:a@usher.test>;tag=1\r\nTo: <%s>\r\n"
		    "Call-ID: nt\r\nCSeq: 1 OPTIONS\r\n"
		    "Content-Length: 0\r\n\r\n", c[i].ruri, c[i].ruri);
		assert_true(sipmsg_scan(req, (size_t)len, SIPMSG_DGRAM,
		    &m) > 0);
		memset(&d, 0, sizeof(d));
		d.action = ROUTE_FORWARD;
		assert_int_equal(sipmsg_uri_parse(slice_make(c[i].next,
		    strlen(c[i].next)), &d.next_hop_uri, &fault), 0);
		why = NULL;
		if (forward_next_hop(conf, &m, &d, NULL, false, &hop, &kind,
		    &why, reason, sizeof(reason)) == FWD_NEXT_HOP) {
			netaddr_format(&hop.addr, NETADDR_PORT, hp, sizeof(hp));
			snprintf(got, sizeof(got), "%s %s", hop.tp ==
			    SIP_TP_TLS ? "tls" : "udp", hp);
		} else
			snprintf(got, sizeof(got), "%s", why ? why : "");
		if (strcmp(got, c[i].want) != 0)
			fail_msg("%s -> %s: \"%s\", not \"%s\"", c[i].ruri,
			    c[i].next, got, c[i].want);
	}
	config_unref(conf);
}

/* Targets that are not one host are refused before anything is built. */
static void
test_hop_not_unicast(void **state)
{
	static const char *const bad[] = {
		"sip:a@0.0.0.0", "sip:a@255.255.255.255", "sip:a@224.0.0.1:5060",
		"sip:a@239.1.2.3", "sip:a@[ff02::1]", "sip:a@[::]",
	};
	struct sip_uri u;
	struct fwd_hop hop;
	const char *why, *fault;
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(bad); i++) {
		assert_int_equal(sipmsg_uri_parse(slice_make(bad[i],
		    strlen(bad[i])), &u, &fault), 0);
		why = NULL;
		if (forward_hop(confs[C_PLAIN], &u, NULL, 100, &hop, &why) != -1)
			fail_msg("%s: forward_hop accepted it", bad[i]);
		assert_non_null(why);
	}
	assert_int_equal(sipmsg_uri_parse(SLICE("sip:a@10.0.0.1"), &u, &fault),
	    0);
	assert_int_equal(forward_hop(confs[C_PLAIN], &u, NULL, 100, &hop, &why),
	    0);
}

/* RFC 3261 §18.1.1: over 1300 bytes, TCP unless the URI says udp; TLS
 * whatever the size. */
static void
test_hop_transport(void **state)
{
	static const struct {
		const char		*uri;
		size_t			 len;
		enum sip_transport	 tp;
	} c[] = {
		{ "sip:a@10.0.0.1", 1300, SIP_TP_UDP },
		{ "sip:a@10.0.0.1", 1301, SIP_TP_TCP },
		{ "sip:a@10.0.0.1;transport=udp", 4000, SIP_TP_UDP },
		{ "sip:a@10.0.0.1;transport=tcp", 100, SIP_TP_TCP },
		{ "sip:a@10.0.0.1:5070;transport=TCP", 100, SIP_TP_TCP },
		/* over the UDP limit a TLS hop stays TLS (never plain TCP) */
		{ "sip:a@10.0.0.1;transport=tls", 100, SIP_TP_TLS },
		{ "sip:a@10.0.0.1;transport=tls", 4000, SIP_TP_TLS },
		{ "sips:a@10.0.0.1", 4000, SIP_TP_TLS },
		{ "sips:a@10.0.0.1;transport=udp", 100, SIP_TP_TLS },
	};
	struct sip_uri u;
	struct fwd_hop hop;
	const char *why = NULL, *fault;
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(c); i++) {
		assert_int_equal(sipmsg_uri_parse(slice_make(c[i].uri,
		    strlen(c[i].uri)), &u, &fault), 0);
		assert_int_equal(forward_hop(confs[C_PLAIN], &u, NULL, c[i].len,
		    &hop, &why), 0);
		if (hop.tp != c[i].tp)
			fail_msg("%s, %zu bytes: transport %d, not %d",
			    c[i].uri, c[i].len, hop.tp, c[i].tp);
	}
}

/*
 * forward_next_hop(), which the daemon and -T both run: one row per
 * outcome, with the DNS answer a caller would have got (none, or one
 * target) and whether it came from the table targets' map.
 */
static void
test_next_hop(void **state)
{
	static const struct {
		const char		*uri;
		const char		*answer;	/* NULL: none given */
		enum sip_transport	 answer_tp;
		bool			 target;
		enum fwd_next		 want;
		const char		*dest;	/* tp addr:port, or why */
	} c[] = {
		{ "sip:a@10.0.0.1", NULL, 0, false, FWD_NEXT_HOP,
		  "udp 10.0.0.1:5060" },
		{ "sip:a@[::2]:5070;transport=tcp", NULL, 0, false,
		  FWD_NEXT_HOP, "tcp [::2]:5070" },
		/* SPEC §9: sips: and transport=tls go over TLS, 5061 by
		 * default, verifying the host as written */
		{ "sips:a@10.0.0.1", NULL, 0, false, FWD_NEXT_HOP,
		  "tls 10.0.0.1:5061 10.0.0.1" },
		{ "sips:a@10.0.0.1:5071", NULL, 0, false, FWD_NEXT_HOP,
		  "tls 10.0.0.1:5071 10.0.0.1" },
		{ "sip:a@10.0.0.1;transport=tls", NULL, 0, false,
		  FWD_NEXT_HOP, "tls 10.0.0.1:5061 10.0.0.1" },
		{ "sip:a@10.0.0.1:5070;transport=TLS", NULL, 0, false,
		  FWD_NEXT_HOP, "tls 10.0.0.1:5070 10.0.0.1" },
		/* IPv6: the name without brackets (set1_ip_asc) */
		{ "sips:a@[2001:db8::7]", NULL, 0, false, FWD_NEXT_HOP,
		  "tls [2001:db8::7]:5061 2001:db8::7" },
		{ "sip:a@[::2]:5090;transport=tls", NULL, 0, false,
		  FWD_NEXT_HOP, "tls [::2]:5090 ::2" },
		/* sips: with transport=tcp is TLS over TCP; with udp it
		 * is never downgraded either */
		{ "sips:a@10.0.0.1;transport=tcp", NULL, 0, false,
		  FWD_NEXT_HOP, "tls 10.0.0.1:5061 10.0.0.1" },
		{ "sips:a@10.0.0.1;transport=udp", NULL, 0, false,
		  FWD_NEXT_HOP, "tls 10.0.0.1:5061 10.0.0.1" },
		{ "sips:a@pbx.test", NULL, 0, false, FWD_NEXT_DNS, NULL },
		/* _sips._tcp SRV's target and port; the certificate must
		 * name the domain of the URI (RFC 5922 §4), not the SRV
		 * target */
		{ "sips:a@pbx.test", "10.0.0.7:5081", SIP_TP_TLS, false,
		  FWD_NEXT_HOP, "tls 10.0.0.7:5081 pbx.test" },
		{ "sip:a@PBX.test;transport=tls", "10.0.0.7:5061",
		  SIP_TP_NONE, true, FWD_NEXT_HOP,
		  "tls 10.0.0.7:5061 PBX.test" },
		/* an answer saying UDP never downgrades sips: */
		{ "sips:a@pbx.test", "10.0.0.7:5081", SIP_TP_UDP, false,
		  FWD_NEXT_HOP, "tls 10.0.0.7:5081 pbx.test" },
		{ "sips:a@pbx.test", "", 0, false, FWD_NEXT_FAIL,
		  "Next Hop pbx.test Does Not Resolve" },
		{ "sip:a@10.0.0.1;transport=sctp", NULL, 0, false,
		  FWD_NEXT_FAIL, "Unsupported Transport" },
		{ "sip:a@255.255.255.255", NULL, 0, false, FWD_NEXT_FAIL,
		  "Next Hop Is Not A Unicast Address" },
		{ "sip:a@pbx.test", NULL, 0, false, FWD_NEXT_DNS, NULL },
		{ "sip:a@pbx..test", NULL, 0, false, FWD_NEXT_FAIL,
		  "Bad Next Hop Name" },
		/* SRV chose TCP and the port */
		{ "sip:a@pbx.test", "10.0.0.7:5080", SIP_TP_TCP, false,
		  FWD_NEXT_HOP, "tcp 10.0.0.7:5080" },
		/* a port in the URI wins over the answer's */
		{ "sip:a@pbx.test:5090", "10.0.0.7:5060", SIP_TP_NONE, true,
		  FWD_NEXT_HOP, "udp 10.0.0.7:5090" },
		{ "sip:a@pbx.test", "", 0, false, FWD_NEXT_FAIL,
		  "Next Hop pbx.test Does Not Resolve" },
		{ "sip:a@pbx.test", "", 0, true, FWD_NEXT_FAIL,
		  "Target pbx.test Does Not Resolve" },
	};
	static const char req[] = "OPTIONS sip:x@usher.test SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKnh\r\n"
	    "From: <sip:a@usher.test>;tag=1\r\nTo: <sip:x@usher.test>\r\n"
	    "Call-ID: nh\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
	struct route_decision d;
	struct resolve_answer a;
	enum resolve_kind kind;
	struct fwd_hop hop;
	struct sipmsg m;
	char reason[160], got[512], hp[NETADDR_STRLEN];
	const char *why, *fault;
	enum fwd_next r;
	size_t i;

	(void)state;
	assert_true(sipmsg_scan(req, sizeof(req) - 1, SIPMSG_DGRAM, &m) > 0);
	for (i = 0; i < NELEM(c); i++) {
		memset(&d, 0, sizeof(d));
		d.action = ROUTE_FORWARD;
		d.branch_h1 = 42;
		assert_int_equal(sipmsg_uri_parse(slice_make(c[i].uri,
		    strlen(c[i].uri)), &d.next_hop_uri, &fault), 0);
		memset(&a, 0, sizeof(a));
		if (c[i].answer != NULL && c[i].answer[0] != '\0') {
			assert_int_equal(netaddr_parse_hostport(slice_make(
			    c[i].answer, strlen(c[i].answer)), 5060,
			    &a.t[0].addr), 0);
			a.t[0].tp = c[i].answer_tp;
			a.n = 1;
		}
		why = NULL;
		r = forward_next_hop(confs[C_PLAIN], &m, &d, c[i].answer ?
		    &a : NULL, c[i].target, &hop, &kind, &why, reason,
		    sizeof(reason));
		if (r != c[i].want)
			fail_msg("%s: %d, not %d (%s)", c[i].uri, r, c[i].want,
			    why ? why : "");
		if (r == FWD_NEXT_HOP) {
			netaddr_format(&hop.addr, NETADDR_PORT, hp, sizeof(hp));
			snprintf(got, sizeof(got), "%s %s%s%s", hop.tp ==
			    SIP_TP_TLS ? "tls" : hop.tp == SIP_TP_TCP ? "tcp" :
			    "udp", hp, hop.tp == SIP_TP_TLS ? " " : "",
			    hop.name);
			assert_int_equal(hop.addrlen,
			    netaddr_len(hop.addr.ss_family));
			assert_true(hop.listener >= 0);
			/* Via names a listener of the hop's transport */
			if (hop.tp == SIP_TP_TLS) {
				assert_int_equal(lis[hop.listener].tp,
				    SIP_TP_TLS);
				assert_int_equal(lis[hop.listener].family,
				    hop.addr.ss_family);
			} else
				assert_string_equal(hop.name, "");
		} else
			snprintf(got, sizeof(got), "%s", why ? why : "");
		if (c[i].dest != NULL && strcmp(got, c[i].dest) != 0)
			fail_msg("%s: \"%s\", not \"%s\"", c[i].uri, got,
			    c[i].dest);
	}
}

/* RFC 3261 §18.2.2, RFC 3581: where a local answer from 192.0.2.9:3000
 * goes: the top Via's port, or the source port with rport. */
static void
test_reply_addr(void **state)
{
	static const struct {
		const char	*via;
		const char	*dest;
	} c[] = {
		{ "SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK1", "192.0.2.9:5070" },
		{ "SIP/2.0/UDP 192.0.2.1:5070;rport;branch=z9hG4bK1",
		  "192.0.2.9:3000" },
		{ "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1", "192.0.2.9:5060" },
	};
	struct sockaddr_storage src, dst;
	struct sipmsg m;
	char buf[512], hp[NETADDR_STRLEN];
	size_t i;
	int n;

	(void)state;
	assert_int_equal(netaddr_parse(SLICE("192.0.2.9"), 3000, &src), 0);
	for (i = 0; i < NELEM(c); i++) {
		n = snprintf(buf, sizeof(buf), "OPTIONS sip:x@usher.test "
		    "SIP/2.0\r\nVia: %s\r\nFrom: <sip:a@b>;tag=1\r\n"
		    "To: <sip:x@usher.test>\r\nCall-ID: ra\r\n"
		    "CSeq: 1 OPTIONS\r\n\r\n", c[i].via);
		assert_true(sipmsg_scan(buf, (size_t)n, SIPMSG_DGRAM, &m) > 0);
		forward_reply_addr(&m, &src, &dst);
		netaddr_format(&dst, NETADDR_PORT, hp, sizeof(hp));
		assert_string_equal(hp, c[i].dest);
	}
}

/* RFC 3261 §18.2.2: a local answer to a request from 192.0.2.9:3000 over
 * TCP or TLS goes on its connection (addr) while open, else to the source
 * address at the Via's sent-by port (alt, "-" when the same); TLS verifies
 * the sent-by host. UDP as forward_reply_addr(). */
static void
test_reply_hop(void **state)
{
	static const struct {
		enum sip_transport	 tp;
		const char		*via;
		const char		*dest;	/* addr alt name */
	} c[] = {
		{ SIP_TP_UDP, "SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK1",
		  "192.0.2.9:5070 - " },
		{ SIP_TP_UDP, "SIP/2.0/UDP 192.0.2.1:5070;rport;"
		  "branch=z9hG4bK1", "192.0.2.9:3000 - " },
		{ SIP_TP_TCP, "SIP/2.0/TCP 192.0.2.1:5070;rport;"
		  "branch=z9hG4bK1", "192.0.2.9:3000 192.0.2.9:5070 " },
		{ SIP_TP_TCP, "SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK1",
		  "192.0.2.9:3000 192.0.2.9:5060 " },
		{ SIP_TP_TCP, "SIP/2.0/TCP 192.0.2.1:3000;branch=z9hG4bK1",
		  "192.0.2.9:3000 - " },
		{ SIP_TP_TLS, "SIP/2.0/TLS phone.example;rport;"
		  "branch=z9hG4bK1", "192.0.2.9:3000 192.0.2.9:5061 "
		  "phone.example" },
	};
	struct sockaddr_storage src;
	struct fwd_hop hop;
	struct sipmsg m;
	char buf[512], got[512], hp[NETADDR_STRLEN], ap[NETADDR_STRLEN];
	size_t i;
	int n;

	(void)state;
	assert_int_equal(netaddr_parse(SLICE("192.0.2.9"), 3000, &src), 0);
	for (i = 0; i < NELEM(c); i++) {
		n = snprintf(buf, sizeof(buf), "OPTIONS sip:x@usher.test "
		    "SIP/2.0\r\nVia: %s\r\nFrom: <sip:a@b>;tag=1\r\n"
		    "To: <sip:x@usher.test>\r\nCall-ID: ra\r\n"
		    "CSeq: 1 OPTIONS\r\n\r\n", c[i].via);
		assert_true(sipmsg_scan(buf, (size_t)n, SIPMSG_DGRAM, &m) > 0);
		forward_reply_hop(&m, c[i].tp, &src, &hop);
		assert_int_equal(hop.tp, c[i].tp);
		netaddr_format(&hop.addr, NETADDR_PORT, hp, sizeof(hp));
		strcpy(ap, "-");
		if (hop.altlen > 0)
			netaddr_format(&hop.alt, NETADDR_PORT, ap, sizeof(ap));
		snprintf(got, sizeof(got), "%s %s %s", hp, ap, hop.name);
		if (strcmp(got, c[i].dest) != 0)
			fail_msg("%s: \"%s\", not \"%s\"", c[i].via, got,
			    c[i].dest);
	}
}

/* ---- set-up ---- */

static int
load_conf(int ci)
{
	char path[] = "/tmp/test_forward.XXXXXX", err[512];
	FILE *f;
	int fd, rc = -1;

	if ((fd = mkstemp(path)) == -1) {
		perror("mkstemp");
		return -1;
	}
	if ((f = fdopen(fd, "w")) == NULL) {
		close(fd);
		goto out;
	}
	fputs(CONF_HEAD, f);
	fputs(conf_tail[ci], f);
	if (fclose(f) != 0)
		goto out;
	if (config_load(path, &confs[ci], err, sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		goto out;
	}
	/* the listeners are the ones this file describes */
	if (confs[ci]->nlisten != NELEM(lis)) {
		fprintf(stderr, "conf %s: %zu listeners\n", conf_name[ci],
		    confs[ci]->nlisten);
		goto out;
	}
	rc = 0;
out:
	unlink(path);
	return rc;
}

static void
osip_quiet(const char *fi, int li, osip_trace_level_t level,
    const char *chfr, va_list ap)
{
	(void)fi;
	(void)li;
	(void)level;
	(void)chfr;
	(void)ap;
}

static int
setup(void **state)
{
	int ci;

	(void)state;
	parser_init();		/* libosip2's tables, once */
	/* its refusals are expected: not on the terminal */
	osip_trace_initialize_func(TRACE_LEVEL0, osip_quiet);
	for (ci = 0; ci < C__COUNT; ci++)
		if (load_conf(ci) == -1)
			return -1;
	return 0;
}

static int
teardown(void **state)
{
	int ci;

	(void)state;
	for (ci = 0; ci < C__COUNT; ci++) {
		config_unref(confs[ci]);
		confs[ci] = NULL;
	}
	return 0;
}

/*
 * SPEC §6, §7: over TCP the receiver frames by Content-Length. A response
 * that came over UDP without one gets it (the rest of the datagram), and a
 * body holding a whole SIP message stays body; bytes past Content-Length
 * are never copied, to any hop.
 */
static void
test_stream_framing(void **state)
{
	static const char inner[] = "SIP/2.0 200 OK\r\n"
	    "Via: SIP/2.0/TCP 10.6.6.6:5060;branch=z9hG4bKevil\r\n"
	    FROM_H TO_H CID_H "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
	static const char head[] = "SIP/2.0 200 OK\r\n"
	    "Via: " OURS_V "\r\n"
	    "Via: SIP/2.0/TCP 10.0.0.5:5070;branch=z9hG4bKa\r\n"
	    FROM_H TO_H CID_H "CSeq: 1 INVITE\r\n";
	struct route_decision d;
	struct fwd_hop hop;
	struct fwd_ctx c;
	struct sipmsg m, m2;
	const char *why = NULL, *cl;
	char raw[2048], out[4096], want[64];
	size_t len;
	ssize_t n;
	int tcp;

	(void)state;
	/* no Content-Length: to a TCP client, one for the whole rest */
	len = (size_t)snprintf(raw, sizeof(raw), "%s\r\n%s", head, inner);
	assert_true(sipmsg_scan(raw, len, SIPMSG_DGRAM, &m) == (ssize_t)len);
	n = forward_response(&m, confs[C_PLAIN], &hop, out, sizeof(out), &why);
	assert_true(n > 0);
	assert_int_equal(hop.tp, SIP_TP_TCP);
	snprintf(want, sizeof(want), "\r\nContent-Length: %zu\r\n",
	    sizeof(inner) - 1);
	cl = memmem(out, (size_t)n, want, strlen(want));
	if (cl == NULL)
		fail_msg("no \"Content-Length: %zu\" in the relayed response",
		    sizeof(inner) - 1);
	/* one message on the stream, the forged one only its body */
	assert_int_equal(sipmsg_scan(out, (size_t)n, SIPMSG_STREAM, &m2), n);
	assert_int_equal(m2.content_length, (long)sizeof(inner) - 1);
	assert_int_equal(m2.nvia, 1);
	assert_memory_equal(m2.buf + m2.body_off, inner, sizeof(inner) - 1);

	/* the same to a UDP client: the datagram is the frame, nothing
	 * added (the golden of test_responses says so too) */
	len = (size_t)snprintf(raw, sizeof(raw), "%s\r\n%s", head, inner);
	memcpy(strstr(raw, "TCP 10.0.0.5"), "UDP", 3);
	assert_true(sipmsg_scan(raw, len, SIPMSG_DGRAM, &m) == (ssize_t)len);
	n = forward_response(&m, confs[C_PLAIN], &hop, out, sizeof(out), &why);
	assert_int_equal(hop.tp, SIP_TP_UDP);
	assert_true(n > (ssize_t)sizeof(inner));
	assert_null(memmem(out, (size_t)n - (sizeof(inner) - 1),
	    "Content-Length", 14));

	/* Content-Length 4 and a forged message after it: never copied */
	len = (size_t)snprintf(raw, sizeof(raw), "%sContent-Length: 4\r\n"
	    "\r\nv=0\n%s", head, inner);
	assert_true(sipmsg_scan(raw, len, SIPMSG_DGRAM, &m) > 0);
	n = forward_response(&m, confs[C_PLAIN], &hop, out, sizeof(out), &why);
	assert_true(n > 0);
	assert_null(memmem(out, (size_t)n, "z9hG4bKevil", 10));
	assert_memory_equal(out + n - 4, "v=0\n", 4);
	assert_int_equal(sipmsg_scan(out, (size_t)n, SIPMSG_STREAM, &m2), n);

	/* a request likewise, over UDP and over TCP */
	for (tcp = 0; tcp < 2; tcp++) {
		len = (size_t)snprintf(raw, sizeof(raw),
		    "MESSAGE sip:alice@usher.test SIP/2.0\r\n" VIA_H FROM_H
		    TO_H CID_H "CSeq: 1 MESSAGE\r\n" MF_H
		    "Content-Length: 3\r\n\r\nabc%s", inner);
		assert_true(sipmsg_scan(raw, len, SIPMSG_DGRAM, &m) > 0);
		direct(&d, true, 3);
		ctx_make(&c, C_PLAIN, 0, tcp ? 1 : 0, SRC4);
		n = forward_request(&m, &d, confs[C_PLAIN], c.src_ip,
		    c.src_port, c.in, &c.hop, out, sizeof(out), &why);
		assert_true(n > 0);
		assert_null(memmem(out, (size_t)n, "z9hG4bKevil", 10));
		assert_memory_equal(out + n - 3, "abc", 3);
		assert_int_equal(sipmsg_scan(out, (size_t)n, SIPMSG_STREAM,
		    &m2), n);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_responses),
		cmocka_unit_test(test_corpus_requests),
		cmocka_unit_test(test_corpus_responses),
		cmocka_unit_test(test_near_buffer_size),
		cmocka_unit_test(test_response_near_buffer_size),
		cmocka_unit_test(test_edit_limits),
		cmocka_unit_test(test_hop_not_unicast),
		cmocka_unit_test(test_hop_transport),
		cmocka_unit_test(test_next_hop),
		cmocka_unit_test(test_response_tls),
		cmocka_unit_test(test_response_stream_alt),
		cmocka_unit_test(test_no_tls_listener),
		cmocka_unit_test(test_reply_addr),
		cmocka_unit_test(test_reply_hop),
		cmocka_unit_test(test_stream_framing),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
