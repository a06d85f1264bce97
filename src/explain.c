/* explain.c: `usher -T`, and the decision trace line of the debug log. */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "explain.h"
#include "forward.h"
#include "group.h"
#include "health.h"
#include "netaddr.h"
#include "resolve.h"
#include "route.h"
#include "sipmsg.h"
#include "table.h"

#define EXPLAIN_MAX	65536

/* Where in SPEC §3 a rule is written down. */
static const char *
rule_place(enum route_rule rule)
{
	switch (rule) {
	case RULE_ACTIVE:
		return "SPEC 3 table row 1";
	case RULE_MOVED:
		return "SPEC 3 table row 2";
	case RULE_UNAVAILABLE:
		return "SPEC 3 table row 3";
	case RULE_GONE_AUTH:
		return "SPEC 3 table row 4";
	case RULE_GONE_NONAUTH:
		return "SPEC 3 table row 5";
	case RULE_UNKNOWN_COMPLETE:
		return "SPEC 3 table row 6";
	case RULE_UNKNOWN:
		return "SPEC 3 table row 7";
	case RULE_RESPONSE_OURS:
	case RULE_RESPONSE_NOT_OURS:
		return "SPEC 3 Responses, SPEC 7";
	case RULE_SCANNER:
		return "SPEC 6 block_user_agents";
	case RULE_GROUP_DOWN:
		return "SPEC 8 all members down or drained";
	case RULE_PROBE_ANSWER:
		return "SPEC 8 probing";
	default:
		return "SPEC 3 Other requests";
	}
}

/* Print s as a JSON string (with quotes). */
static void
json_str(FILE *out, const char *s, size_t len)
{
	size_t i;

	fputc('"', out);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", out);
		else if (c == '\r')
			fputs("\\r", out);
		else if (c < 0x20 || c == 0x7f)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

static void
json_kv(FILE *out, bool *first, const char *key, const char *s, size_t len)
{
	fprintf(out, "%s\"%s\": ", *first ? "" : ", ", key);
	*first = false;
	if (s == NULL)
		fputs("null", out);
	else
		json_str(out, s, len);
}

static void
json_kvs(FILE *out, bool *first, const char *key, const char *s)
{
	json_kv(out, first, key, s, s ? strlen(s) : 0);
}

static void
json_kvn(FILE *out, bool *first, const char *key, long n)
{
	fprintf(out, "%s\"%s\": %ld", *first ? "" : ", ", key, n);
	*first = false;
}

static void
json_kvb(FILE *out, bool *first, const char *key, bool b)
{
	fprintf(out, "%s\"%s\": %s", *first ? "" : ", ", key,
	    b ? "true" : "false");
	*first = false;
}

/* The user part as a person reads it: bytes that do not print escaped. */
static void
printable(const char *s, size_t len, char *buf, size_t buflen)
{
	size_t i, n = 0;

	for (i = 0; i < len && n + 5 < buflen; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c >= 0x7f)
			n += (size_t)snprintf(buf + n, buflen - n, "\\x%02x", c);
		else
			buf[n++] = (char)c;
	}
	buf[n] = '\0';
}

static void
dest_text(enum sip_transport tp, const struct sockaddr_storage *ss,
    char *buf, size_t len)
{
	char hp[NETADDR_STRLEN];

	if (netaddr_format(ss, NETADDR_PORT, hp, sizeof(hp)) == -1)
		snprintf(hp, sizeof(hp), "?");
	snprintf(buf, len, "%s %s", config_transport_name(tp), hp);
}

/* A hop as -T shows it; over TLS with the name its certificate must carry
 * (RFC 5922 §7.2), or that nothing is checked (verify_server = false). */
static void
hop_text(const struct conf *conf, const struct fwd_hop *hop, char *buf,
    size_t len)
{
	char alt[NETADDR_STRLEN];
	size_t n;

	dest_text(hop->tp, &hop->addr, buf, len);
	n = strlen(buf);
	/* RFC 3261 §18.2.2: a relayed response's connection, and where a
	 * new one goes once that has closed */
	if (hop->altlen > 0 && netaddr_format(&hop->alt, NETADDR_PORT, alt,
	    sizeof(alt)) != -1) {
		snprintf(buf + n, len - n, " while open, else %s", alt);
		n = strlen(buf);
	}
	if (hop->tp != SIP_TP_TLS)
		return;
	if (conf->tls.verify_server)
		snprintf(buf + n, len - n, ", certificate must name %s",
		    hop->name);
	else
		snprintf(buf + n, len - n, ", certificate not checked "
		    "(verify_server = false)");
}

/* The outcome of a decision, one phrase; -T and the log share it. */
static void
outcome(const struct sipmsg *m, const struct route_decision *d,
    const struct conf *conf, char *buf, size_t len)
{
	char uri[1024], via[FORWARD_NAME_MAX + 128], reason[160];
	enum resolve_kind kind;
	struct fwd_hop hop;
	const char *why;
	ssize_t u;
	size_t n;

	switch (d->action) {
	case ROUTE_REPLY:
		if (d->contact && d->group != NULL && d->nranked > 1 &&
		    (u = route_target_uri(d, m, uri, sizeof(uri))) >= 0)
			snprintf(buf, len, "%u %s Contact: <%.*s>;q=1.0 and %u "
			    "more (members)", d->code, d->reason, (int)u, uri,
			    d->nranked - 1);
		else if (d->contact &&
		    (u = route_target_uri(d, m, uri, sizeof(uri))) >= 0)
			snprintf(buf, len, "%u %s Contact: <%.*s>", d->code,
			    d->reason, (int)u, uri);
		else if (d->retry_after > 0)
			snprintf(buf, len, "%u %s Retry-After: %u", d->code,
			    d->reason, d->retry_after);
		else
			snprintf(buf, len, "%u %s", d->code, d->reason);
		break;
	case ROUTE_FORWARD:
		if (d->rewrite_ruri &&
		    (u = route_target_uri(d, m, uri, sizeof(uri))) >= 0)
			snprintf(buf, len, "forward to %.*s", (int)u, uri);
		else
			snprintf(buf, len, "forward to %.*s",
			    (int)d->next_hop.len, d->next_hop.p);
		n = strlen(buf);
		switch (forward_next_hop(conf, m, d, NULL, false, &hop, &kind,
		    &why, reason, sizeof(reason))) {
		case FWD_NEXT_HOP:
			hop_text(conf, &hop, via, sizeof(via));
			snprintf(buf + n, len - n, " via %s", via);
			break;
		case FWD_NEXT_DNS:
			snprintf(buf + n, len - n, " (next hop by DNS)");
			break;
		case FWD_NEXT_FAIL:
			snprintf(buf + n, len - n, " (503 %s)", why);
			break;
		}
		break;
	case ROUTE_RELAY:
		snprintf(buf, len, "relay to the next Via");
		break;
	case ROUTE_DROP:
		if (d->code != 0)
			snprintf(buf, len, "drop (%s; would be %u %s)",
			    d->drop_reason, d->code, d->reason);
		else
			snprintf(buf, len, "drop (%s)", d->drop_reason);
		break;
	}
}

static void
entry_text(const struct route_decision *d, char *buf, size_t len)
{
	const struct table_entry *e = d->entry;
	char user[TABLE_MAX_USER * 4 + 1];

	if (e == NULL) {
		snprintf(buf, len, "none");
		return;
	}
	printable(e->user, strlen(e->user), user, sizeof(user));
	snprintf(buf, len, "%s %s%s %s%s%s (%s:%u)",
	    e->is_prefix ? "prefix" : "exact", user, e->is_prefix ? "*" : "",
	    table_state_name((enum user_state)e->state),
	    e->target ? " " : "", e->target ? e->target : "", e->file,
	    e->line);
}

void
explain_line(const struct sipmsg *m, const struct route_decision *d,
    const struct conf *conf, const char *transport, const char *src_ip,
    unsigned src_port, char *buf, size_t len)
{
	char out[1200], entry[600];

	outcome(m, d, conf, out, sizeof(out));
	entry_text(d, entry, sizeof(entry));
	snprintf(buf, len, "%.*s call-id=%.*s src=%s:%s:%u entry=%s "
	    "rule=\"%s\" -> %s",
	    (int)(m->is_request ? m->method.len : 8),
	    m->is_request ? m->method.p : "response",
	    (int)m->callid.value.len,
	    m->callid.value.p ? m->callid.value.p : "", transport, src_ip,
	    src_port, entry, route_rule_name(d->rule), out);
}

/* Build "METHOD URI" into a minimal request (SPEC §1 -T). */
static int
build_request(const char *request, const char *src, bool v6, char *buf,
    size_t len, size_t *outlen)
{
	const char *sp = strchr(request, ' ');
	int n;

	if (sp == NULL || sp == request || sp[1] == '\0' ||
	    strchr(sp + 1, ' ') != NULL)
		return -1;
	n = snprintf(buf, len,
	    "%.*s %s SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP %s%s%s:5060;branch=z9hG4bK-usher-T\r\n"
	    "From: <sip:usher-T@%s%s%s>;tag=usher-T\r\n"
	    "To: <%s>\r\n"
	    "Call-ID: usher-T@%s%s%s\r\n"
	    "CSeq: 1 %.*s\r\n"
	    "Max-Forwards: 70\r\n"
	    "Content-Length: 0\r\n\r\n",
	    (int)(sp - request), request, sp + 1,
	    v6 ? "[" : "", src, v6 ? "]" : "",
	    v6 ? "[" : "", src, v6 ? "]" : "",
	    sp + 1,
	    v6 ? "[" : "", src, v6 ? "]" : "",
	    (int)(sp - request), request);
	if (n < 0 || (size_t)n >= len)
		return -1;
	*outlen = (size_t)n;
	return 0;
}

/* rank of member i in a 302 (1-based), 0 when not in it */
static unsigned
rank_of(const struct route_decision *d, size_t i)
{
	unsigned r;

	for (r = 0; r < d->nranked; r++)
		if (d->ranked[r] == i)
			return r + 1;
	return 0;
}

/* SPEC §8: the group, its members, the one this Call-ID goes to. */
static void
print_group(FILE *out, const struct sipmsg *m, const struct route_decision *d)
{
	const struct conf_group *g = d->group;
	const struct group_member *mb;
	unsigned r;
	size_t i;

	fprintf(out, "group:    %s, %zu member%s (probe every %u s, timeout "
	    "%u s, down after %u, up after %u)\n", g->name, g->nmembers,
	    g->nmembers == 1 ? "" : "s", g->interval, g->timeout,
	    g->down_after, g->up_after);
	for (i = 0; i < g->nmembers; i++) {
		mb = &g->members[i];
		fprintf(out, "member:   %zu %s priority %u weight %u%s", i,
		    mb->target, mb->priority, mb->weight,
		    group_member_usable(mb) ? "" : " (down or drained)");
		if ((r = rank_of(d, i)) > 0)
			fprintf(out, " <- Contact %u, q=%u.%u", r,
			    group_q(r - 1) / 1000, group_q(r - 1) % 1000 / 100);
		else if (d->nranked == 0 && (int)i == d->member)
			fprintf(out, " <- chosen for Call-ID %.*s",
			    (int)m->callid.value.len, m->callid.value.p);
		fputc('\n', out);
	}
}

/* A response whose top Via branch is shaped like a probe's (SPEC §8): the
 * daemon takes it before routing, as probe_answer() does. 0: not one;
 * 1: our MAC holds (*id, *seq set); -1: the shape but not our MAC. */
static int
probe_view(const struct sipmsg *m, const struct conf *conf, uint32_t *id,
    uint32_t *seq)
{
	uint8_t key[SIPHASH_KEY_LEN];

	if (m->is_request || m->nvia == 0 ||
	    !health_is_probe_branch(m->via[0].branch))
		return 0;
	health_branch_key(conf->branch_key, key);
	return health_branch_verify(key, m->via[0].branch, id, seq) ? 1 : -1;
}

static void
print_human(FILE *out, const struct sipmsg *m, const struct route_decision *d,
    const struct conf *conf, const char *src)
{
	const struct conf_domain *cd;
	char buf[1200], raw[TABLE_MAX_USER * 4 + 1];
	const struct sip_uri *u;

	if (m->is_request)
		fprintf(out, "request:  %.*s %.*s\n", (int)m->method.len,
		    m->method.p, (int)m->ruri_text.len, m->ruri_text.p);
	else
		fprintf(out, "response: %u %.*s\n", m->status,
		    (int)m->reason.len, m->reason.p);
	fprintf(out, "source:   %s (%s%s)\n", src,
	    d->trusted >= 0 ? "trusted: " : "not in trusted",
	    d->trusted >= 0 ? conf->trusted[d->trusted].text : "");
	if (m->fault != NULL)
		fprintf(out, "fault:    %s\n", m->fault);
	if (d->strict_route)
		fprintf(out, "route:    Request-URI is this proxy with Route "
		    "headers: strict router, last Route restored\n");
	if (d->pop_routes > 0)
		fprintf(out, "route:    %u top Route value%s name%s this "
		    "proxy: removed\n", d->pop_routes,
		    d->pop_routes > 1 ? "s" : "", d->pop_routes > 1 ? "" : "s");
	if (d->domain >= 0) {
		cd = &conf->domains[d->domain];
		u = d->user_from_to ? &m->to_uri : &m->ruri;
		printable(u->user.p, u->user.len, raw, sizeof(raw));
		printable(d->user, d->user_len, buf, sizeof(buf));
		fprintf(out, "user:     \"%s\"%s -> \"%s\"%s\n", raw,
		    d->user_from_to ? " (REGISTER: from To)" : "", buf,
		    u->user_phone ? " (user=phone: visual separators removed)"
		    : "");
		fprintf(out, "domain:   %s (matched by %s; %sauthoritative, "
		    "%scomplete)\n", cd->name, d->domain_alias ? "alias" :
		    "name", cd->authoritative ? "" : "not ",
		    cd->complete ? "" : "not ");
		entry_text(d, buf, sizeof(buf));
		fprintf(out, "entry:    %s\n", buf);
		if (d->group != NULL)
			print_group(out, m, d);
	} else if (d->self)
		fprintf(out, "target:   this proxy\n");
	fprintf(out, "rule:     %s (%s, %s mode)\n", route_rule_name(d->rule),
	    rule_place(d->rule), conf->mode == MODE_PROXY ? "proxy" :
	    "redirect");
	outcome(m, d, conf, buf, sizeof(buf));
	fprintf(out, "outcome:  %s\n", buf);
}

static void
json_group(FILE *out, const struct sipmsg *m, const struct route_decision *d)
{
	const struct conf_group *g = d->group;
	const struct group_member *mb;
	bool first = true, f2;
	size_t i;

	fprintf(out, ", \"group\": {");
	json_kvs(out, &first, "name", g->name);
	json_kv(out, &first, "call_id", m->callid.value.p,
	    m->callid.value.len);
	json_kvn(out, &first, "interval", (long)g->interval);
	json_kvn(out, &first, "timeout", (long)g->timeout);
	json_kvn(out, &first, "down_after", (long)g->down_after);
	json_kvn(out, &first, "up_after", (long)g->up_after);
	json_kvn(out, &first, "chosen", (long)d->member);
	fprintf(out, ", \"members\": [");
	for (i = 0; i < g->nmembers; i++) {
		mb = &g->members[i];
		f2 = true;
		fputs(i ? ", {" : "{", out);
		json_kvs(out, &f2, "target", mb->target);
		json_kvn(out, &f2, "priority", (long)mb->priority);
		json_kvn(out, &f2, "weight", (long)mb->weight);
		json_kvb(out, &f2, "usable", group_member_usable(mb));
		json_kvn(out, &f2, "contact", (long)rank_of(d, i));
		fputc('}', out);
	}
	fputs("]}", out);
}

static void
print_json(FILE *out, const struct sipmsg *m, const struct route_decision *d,
    const struct conf *conf, const char *src, const char *bytes,
    size_t nbytes, const char *dest, const char *tls_name, int probe,
    uint32_t probe_id, uint32_t probe_seq)
{
	const struct table_entry *e = d->entry;
	char buf[1200];
	bool first = true, f2 = true;

	fputc('{', out);
	if (m->is_request) {
		json_kv(out, &first, "method", m->method.p, m->method.len);
		json_kv(out, &first, "request_uri", m->ruri_text.p,
		    m->ruri_text.len);
	} else
		json_kvn(out, &first, "status", (long)m->status);
	json_kvs(out, &first, "source", src);
	json_kvs(out, &first, "trusted", d->trusted >= 0 ?
	    conf->trusted[d->trusted].text : NULL);
	json_kvs(out, &first, "fault", m->fault);
	json_kvb(out, &first, "strict_route", d->strict_route);
	json_kvn(out, &first, "routes_removed", (long)d->pop_routes);
	json_kvb(out, &first, "self", d->self);
	if (d->domain >= 0) {
		const struct sip_uri *u = d->user_from_to ? &m->to_uri :
		    &m->ruri;

		json_kv(out, &first, "user", u->user.p, u->user.len);
		json_kv(out, &first, "user_normalised", d->user, d->user_len);
		json_kvs(out, &first, "domain", conf->domains[d->domain].name);
		json_kvs(out, &first, "domain_match", d->domain_alias ?
		    "alias" : "name");
		json_kvb(out, &first, "authoritative",
		    conf->domains[d->domain].authoritative);
		json_kvb(out, &first, "complete",
		    conf->domains[d->domain].complete);
	}
	fprintf(out, ", \"entry\": ");
	if (e == NULL)
		fputs("null", out);
	else {
		fputc('{', out);
		json_kvs(out, &f2, "user", e->user);
		json_kvb(out, &f2, "prefix", e->is_prefix);
		json_kvs(out, &f2, "state",
		    table_state_name((enum user_state)e->state));
		json_kvs(out, &f2, "target", e->target);
		json_kvs(out, &f2, "file", e->file);
		json_kvn(out, &f2, "line", (long)e->line);
		fputc('}', out);
	}
	if (d->group != NULL)
		json_group(out, m, d);
	json_kvs(out, &first, "rule", route_rule_name(d->rule));
	json_kvs(out, &first, "spec", rule_place(d->rule));
	json_kvs(out, &first, "action", route_action_name(d->action));
	if (d->code)
		json_kvn(out, &first, "code", (long)d->code);
	json_kvs(out, &first, "reason", d->reason);
	json_kvs(out, &first, "drop_reason", d->drop_reason);
	outcome(m, d, conf, buf, sizeof(buf));
	json_kvs(out, &first, "outcome", buf);
	if (dest[0] != '\0')
		json_kvs(out, &first, "destination", dest);
	if (tls_name[0] != '\0')
		json_kvs(out, &first, "tls_name", tls_name);
	if (probe != 0) {
		json_kvb(out, &first, "probe_mac_ok", probe == 1);
		if (probe == 1) {
			json_kvn(out, &first, "probe_member_id",
			    (long)probe_id);
			json_kvn(out, &first, "probe_seq", (long)probe_seq);
		}
	}
	if (bytes != NULL) {
		json_kv(out, &first, "bytes", bytes, nbytes);
	}
	fputs("}\n", out);
}

static char *
read_all(FILE *in, size_t *len)
{
	char *buf = malloc(EXPLAIN_MAX + 1);
	size_t n = 0, k;

	if (buf == NULL)
		return NULL;
	while (n < EXPLAIN_MAX && (k = fread(buf + n, 1, EXPLAIN_MAX - n,
	    in)) > 0)
		n += k;
	*len = n;
	return buf;
}

/* The forwarded bytes, as the daemon would send them: its next hop
 * decision, but with a blocking lookup for a name (the daemon never
 * blocks). Returns the length, or -1 with dest saying why. */
static ssize_t
explain_forward(const struct sipmsg *m, const struct route_decision *d,
    const struct conf *conf, const char *source,
    const struct sockaddr_storage *src, char *bytes, char *dest,
    size_t destlen, char *tls_name)
{
	struct resolve_servers sv;
	struct resolve_answer a;
	enum resolve_kind kind;
	enum fwd_next next;
	struct fwd_hop hop;
	char host[RESOLVE_HOST_MAX], reason[160];
	const char *why = NULL;
	ssize_t n;

	next = forward_next_hop(conf, m, d, NULL, false, &hop, &kind, &why,
	    reason, sizeof(reason));
	if (next == FWD_NEXT_DNS) {
		snprintf(host, sizeof(host), "%.*s",
		    (int)d->next_hop_uri.host.len, d->next_hop_uri.host.p);
		forward_dns_servers(conf, &sv);
		resolve_sip(&sv, host, kind, &a);
		next = forward_next_hop(conf, m, d, &a, false, &hop, &kind,
		    &why, reason, sizeof(reason));
	}
	if (next != FWD_NEXT_HOP) {
		snprintf(dest, destlen, "nowhere: 503 %s", why);
		return -1;
	}
	/* As if it came in on our UDP listener of the source's family. */
	n = forward_request(m, d, conf, source, SIP_DEFAULT_PORT,
	    forward_listener(conf, SIP_TP_UDP, src->ss_family), &hop, bytes,
	    EXPLAIN_MAX, &why);
	if (n < 0)
		snprintf(dest, destlen, "nowhere: 503 %s", why);
	else {
		hop_text(conf, &hop, dest, destlen);
		memcpy(tls_name, hop.name, sizeof(hop.name));
	}
	return n;
}

int
explain_run(const struct conf *conf, const char *request, const char *source,
    bool json, FILE *in, FILE *out, FILE *err)
{
	struct route_decision d;
	uint32_t probe_id = 0, probe_seq = 0;
	int probe;
	struct sipmsg *m = NULL;	/* 18 KB: not on the stack */
	struct sockaddr_storage ss, dst;
	char *buf = NULL, *bytes = NULL, dest[FORWARD_NAME_MAX + 128] = "";
	char tls_name[FORWARD_NAME_MAX] = "";
	size_t len = 0;
	ssize_t rc, nbytes = -1;
	bool whole = strcmp(request, "-") == 0;
	int ret = 2;

	if (source == NULL)
		source = "127.0.0.1";
	if (source[0] == '[' || netaddr_parse(slice_make(source,
	    strlen(source)), SIP_DEFAULT_PORT, &ss) == -1) {
		fprintf(err, "usher: -s %s: not an IP address\n", source);
		return 2;
	}
	if (whole) {
		if ((buf = read_all(in, &len)) == NULL || len == 0) {
			fprintf(err, "usher: -T -: no message on standard "
			    "input\n");
			goto out;
		}
	} else {
		if ((buf = malloc(EXPLAIN_MAX)) == NULL)
			goto out;
		if (build_request(request, source, ss.ss_family == AF_INET6,
		    buf, EXPLAIN_MAX, &len) == -1) {
			fprintf(err, "usher: -T \"%s\": expected \"METHOD "
			    "URI\"\n", request);
			goto out;
		}
	}
	if ((m = malloc(sizeof(*m))) == NULL) {
		fprintf(err, "usher: -T: out of memory\n");
		goto out;
	}
	rc = sipmsg_scan(buf, len, SIPMSG_DGRAM, m);
	if (!whole && rc < 0) {
		fprintf(err, "usher: -T \"%s\": %s\n", request,
		    m->fault ? m->fault : "cannot be parsed");
		goto out;
	}
	route_decide(m, (int)rc, (struct sockaddr *)&ss, conf, &d);
	if (whole && (bytes = malloc(EXPLAIN_MAX)) == NULL)
		goto out;
	if (whole && d.action == ROUTE_REPLY) {
		nbytes = forward_reply(m, &d, source, SIP_DEFAULT_PORT, SIP_TP_UDP, bytes,
		    EXPLAIN_MAX);
		forward_reply_addr(m, &ss, &dst);
		dest_text(SIP_TP_UDP, &dst, dest, sizeof(dest));
	} else if (whole && d.action == ROUTE_FORWARD)
		nbytes = explain_forward(m, &d, conf, source, &ss, bytes,
		    dest, sizeof(dest), tls_name);
	else if (whole && d.action == ROUTE_RELAY) {
		struct fwd_hop hop;
		const char *why;

		nbytes = forward_response(m, conf, &hop, bytes, EXPLAIN_MAX,
		    &why);
		if (nbytes >= 0) {
			hop_text(conf, &hop, dest, sizeof(dest));
			memcpy(tls_name, hop.name, sizeof(hop.name));
		} else
			snprintf(dest, sizeof(dest), "nowhere: %s", why);
	}
	/* The daemon takes a probe's answer before routing: so does -T. */
	if ((probe = probe_view(m, conf, &probe_id, &probe_seq)) == 1) {
		d.action = ROUTE_DROP;
		d.rule = RULE_PROBE_ANSWER;
		d.drop_reason = "probe_answer";
	}
	if (json) {
		print_json(out, m, &d, conf, source, nbytes >= 0 ? bytes :
		    NULL, nbytes >= 0 ? (size_t)nbytes : 0, dest, tls_name,
		    probe, probe_id, probe_seq);
	} else {
		print_human(out, m, &d, conf, source);
		if (probe == 1)
			fprintf(out, "probe:    the answer to probe %u of member "
			    "id %u: counted for that member when it comes "
			    "from the address the probe went to, within "
			    "timeout; never relayed\n", probe_seq, probe_id);
		else if (probe == -1)
			fprintf(out, "probe:    a probe's branch without our MAC: "
			    "dropped (not_ours)\n");
		if (dest[0] != '\0')
			fprintf(out, "send to:  %s\n", dest);
		if (nbytes >= 0) {
			fprintf(out, "bytes:\n");
			fwrite(bytes, 1, (size_t)nbytes, out);
		}
	}
	ret = 0;
out:
	free(m);
	free(buf);
	free(bytes);
	return ret;
}
