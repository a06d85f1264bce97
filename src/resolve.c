/* resolve.c: RFC 3263 resolution of next hop names, off the event loops. */
#include <sys/types.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "hash.h"
#include "netaddr.h"
#include "resolve.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

#define DNS_TRIES	2	/* rounds over the servers */
#define DNS_WAIT_MS	1000	/* per server and round */
#define DNS_MSG_MAX	65535
#define DNS_MARGIN_MS	500	/* past the timeout: a dead name's end */
#define POOL_STACK	(512 * 1024)
#define RESOLV_CONF	"/etc/resolv.conf"

/* ---- pure parts ---- */

int
resolve_kind_of(const struct sip_uri *uri, bool big, enum resolve_kind *kind,
    const char **why)
{
	/* RFC 3261 §26.2.2: sips asks for TLS on every hop, whatever
	 * transport= says; RFC 3263 §4.1: _sips._tcp. */
	switch (uri->is_sips ? SIP_TP_TLS : uri->transport) {
	case SIP_TP_NONE:
		*kind = big ? RESOLVE_TCP : RESOLVE_ANY;
		break;
	case SIP_TP_UDP:
		*kind = RESOLVE_UDP;
		break;
	case SIP_TP_TCP:
		*kind = RESOLVE_TCP;
		break;
	case SIP_TP_TLS:
		*kind = RESOLVE_TLS;
		break;
	default:
		*why = "Unsupported Transport";
		return -1;
	}
	if (uri->port != 0)
		*kind = RESOLVE_ADDR;
	return 0;
}

bool
resolve_name_ok(struct slice host)
{
	size_t i, label = 0;
	char c;

	if (host.len > 0 && host.p[host.len - 1] == '.')
		host.len--;		/* absolute: "example.com." */
	if (host.len == 0 || host.len > 253)
		return false;
	for (i = 0; i < host.len; i++) {
		c = host.p[i];
		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0;
}

int
resolve_pick(const struct resolve_target *t, size_t n, uint64_t seed)
{
	size_t i, k, group[RESOLVE_MAX_TARGETS], ng = 0;
	uint32_t best = UINT32_MAX, sum = 0, run = 0, r;

	if (n == 0)
		return -1;
	if (n > RESOLVE_MAX_TARGETS)
		n = RESOLVE_MAX_TARGETS;
	for (i = 0; i < n; i++)
		if (t[i].priority < best)
			best = t[i].priority;
	/* RFC 2782: the zero weights first, the others in their order. */
	for (k = 0; k < 2; k++)
		for (i = 0; i < n; i++)
			if (t[i].priority == best &&
			    (t[i].weight == 0) == (k == 0)) {
				group[ng++] = i;
				sum += t[i].weight;
			}
	if (sum == 0)
		return (int)group[seed % ng];
	r = (uint32_t)(seed % ((uint64_t)sum + 1));
	for (k = 0; k < ng; k++) {
		run += t[group[k]].weight;
		if (run >= r)
			return (int)group[k];
	}
	return (int)group[ng - 1];
}

ssize_t
resolve_query_build(const char *name, int type, uint16_t id,
    unsigned char *buf, size_t len)
{
	size_t nlen = strlen(name), i, n = 12, label;
	const char *dot;

	if (!resolve_name_ok(slice_make(name, nlen)))
		return -1;
	if (name[nlen - 1] == '.')
		nlen--;
	/* header, labels with their lengths, root, type, class */
	if (len < 12 + nlen + 2 + 4)
		return -1;
	memset(buf, 0, 12);
	buf[0] = (unsigned char)(id >> 8);
	buf[1] = (unsigned char)id;
	buf[2] = 0x01;			/* RD: recursion desired */
	buf[5] = 1;			/* one question */
	for (i = 0; i < nlen; i += label + 1) {
		dot = memchr(name + i, '.', nlen - i);
		label = dot ? (size_t)(dot - (name + i)) : nlen - i;
		buf[n++] = (unsigned char)label;
		memcpy(buf + n, name + i, label);
		n += label;
	}
	buf[n++] = 0;
	buf[n++] = (unsigned char)(type >> 8);
	buf[n++] = (unsigned char)type;
	buf[n++] = 0;
	buf[n++] = ns_c_in;
	return (ssize_t)n;
}

static uint16_t
get16(const unsigned char *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void
set_addr(struct sockaddr_storage *ss, int family, const unsigned char *a)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, a, 4);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, a, 16);
	}
}

/* An A/AAAA record's address when rr is one; false otherwise. */
static bool
rr_addr(const ns_rr *rr, struct sockaddr_storage *ss)
{
	if (ns_rr_class(*rr) != ns_c_in)
		return false;
	if (ns_rr_type(*rr) == ns_t_a && ns_rr_rdlen(*rr) == 4)
		set_addr(ss, AF_INET, ns_rr_rdata(*rr));
	else if (ns_rr_type(*rr) == ns_t_aaaa && ns_rr_rdlen(*rr) == 16)
		set_addr(ss, AF_INET6, ns_rr_rdata(*rr));
	else
		return false;
	return true;
}

static void
min_ttl(uint32_t *ttl, uint32_t v)
{
	if (v < *ttl)
		*ttl = v;
}

/* The SRV records of the answer section, kept sorted by priority. */
static int
parse_srv(ns_msg *msg, struct resolve_srv *srv, size_t max, uint32_t *ttl)
{
	const unsigned char *rd;
	ns_rr rr;
	size_t n = 0, j;
	int i, count = ns_msg_count(*msg, ns_s_an);
	struct resolve_srv s;

	for (i = 0; i < count; i++) {
		if (ns_parserr(msg, ns_s_an, i, &rr) == -1)
			return -1;
		if (ns_rr_type(rr) != ns_t_srv || ns_rr_class(rr) != ns_c_in)
			continue;
		if (ns_rr_rdlen(rr) < 7)
			return -1;
		rd = ns_rr_rdata(rr);
		memset(&s, 0, sizeof(s));
		s.priority = get16(rd);
		s.weight = get16(rd + 2);
		s.port = get16(rd + 4);
		s.ttl = ns_rr_ttl(rr);
		if (dn_expand(ns_msg_base(*msg), ns_msg_end(*msg), rd + 6,
		    s.target, sizeof(s.target)) < 0)
			return -1;
		if (n == max) {
			if (s.priority >= srv[n - 1].priority)
				continue;
			n--;		/* drop the worst kept one */
		}
		for (j = n; j > 0 && srv[j - 1].priority > s.priority; j--)
			srv[j] = srv[j - 1];
		srv[j] = s;
		n++;
	}
	/* RFC 2782 glue: addresses of the targets, when given. */
	count = ns_msg_count(*msg, ns_s_ar);
	for (i = 0; i < count; i++) {
		struct sockaddr_storage ss;

		if (ns_parserr(msg, ns_s_ar, i, &rr) == -1)
			break;		/* the answer itself was fine */
		if (!rr_addr(&rr, &ss))
			continue;
		for (j = 0; j < n; j++)
			if (srv[j].addr.ss_family == 0 &&
			    strcasecmp(srv[j].target, ns_rr_name(rr)) == 0) {
				srv[j].addr = ss;
				min_ttl(&srv[j].ttl, ns_rr_ttl(rr));
			}
	}
	for (j = 0; j < n; j++)
		min_ttl(ttl, srv[j].ttl);
	return (int)n;
}

int
resolve_parse(const unsigned char *buf, size_t len, int type, int *rcode,
    struct resolve_srv *srv, struct sockaddr_storage *addr, size_t max,
    uint32_t *ttl)
{
	ns_msg msg;
	ns_rr rr;
	size_t n = 0;
	int i, count;

	if (max == 0 || ns_initparse(buf, (int)len, &msg) == -1)
		return -1;
	*rcode = ns_msg_getflag(msg, ns_f_rcode);
	if (type == ns_t_srv)
		return parse_srv(&msg, srv, max, ttl);
	count = ns_msg_count(msg, ns_s_an);
	/* A CNAME chain may come first: every address of the type counts. */
	for (i = 0; i < count && n < max; i++) {
		if (ns_parserr(&msg, ns_s_an, i, &rr) == -1)
			return -1;
		if ((int)ns_rr_type(rr) != type || !rr_addr(&rr, &addr[n]))
			continue;
		min_ttl(ttl, ns_rr_ttl(rr));
		n++;
	}
	return (int)n;
}

/* ---- the DNS client ---- */

/* Set while the daemon stops: queries in progress give up at the next
 * wait, so that stopping takes no longer than one DNS_WAIT_MS. */
static atomic_bool	 aborting;

/* The end of the whole set a pool thread works on (resolve_map_resolve):
 * no wait of this thread goes past it. NULL: each query has its own
 * timeout only. */
static _Thread_local const struct timespec *deadline;

/* Milliseconds until the deadline (0 when past), INT_MAX without one. */
static int
deadline_left_ms(void)
{
	struct timespec t;
	long long ms;

	if (deadline == NULL)
		return INT_MAX;
	clock_gettime(CLOCK_MONOTONIC, &t);
	ms = (long long)(deadline->tv_sec - t.tv_sec) * 1000 +
	    (deadline->tv_nsec - t.tv_nsec) / 1000000;
	return ms <= 0 ? 0 : ms > INT_MAX ? INT_MAX : (int)ms;
}

enum dns_result {
	DNS_OK = 0,		/* an answer (maybe with no record: NODATA) */
	DNS_NXDOMAIN,
	DNS_NOANSWER,		/* no server answered in time */
	DNS_ERROR,		/* SERVFAIL, REFUSED, garbage */
};

static const char *
dns_why(enum dns_result r)
{
	switch (r) {
	case DNS_OK:
		return "Has No Address";
	case DNS_NXDOMAIN:
		return "Does Not Resolve";
	case DNS_NOANSWER:
		return "Gets No DNS Answer";
	case DNS_ERROR:
		break;
	}
	return "Gets A DNS Error";
}

/* The nameserver lines of /etc/resolv.conf (127.0.0.1 when none, as the
 * C library does). Read for every lookup: they are few, and the file may
 * change under a running daemon. */
static void
servers_default(struct resolve_servers *sv)
{
	char line[256], addr[64];
	FILE *fp;

	sv->n = 0;
	if ((fp = fopen(RESOLV_CONF, "re")) != NULL) {
		while (sv->n < RESOLVE_MAX_SERVERS &&
		    fgets(line, sizeof(line), fp) != NULL) {
			if (sscanf(line, " nameserver %63s", addr) != 1)
				continue;
			if (netaddr_parse(slice_make(addr, strlen(addr)),
			    RESOLVE_DNS_PORT, &sv->addr[sv->n]) == 0)
				sv->n++;
		}
		fclose(fp);
	}
	if (sv->n == 0) {
		(void)netaddr_parse(SLICE("127.0.0.1"), RESOLVE_DNS_PORT,
		    &sv->addr[0]);
		sv->n = 1;
	}
}

static int
elapsed_ms(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int)((t.tv_sec - t0->tv_sec) * 1000 +
	    (t.tv_nsec - t0->tv_nsec) / 1000000);
}

/* One exchange over UDP: the answer's length, 0 on timeout, -1 when the
 * server cannot be reached. */
static ssize_t
ask_udp(const struct sockaddr_storage *srv, const unsigned char *q,
    size_t qlen, unsigned char *ans, size_t anslen)
{
	struct pollfd pfd;
	struct timespec t0;
	ssize_t n = -1;
	int fd, left;

	if ((fd = socket(srv->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	/* Connected: only that server's datagrams, and a refusal is seen. */
	if (connect(fd, (const struct sockaddr *)srv,
	    netaddr_len(srv->ss_family)) == -1 ||
	    send(fd, q, qlen, 0) != (ssize_t)qlen)
		goto out;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pfd.fd = fd;
	pfd.events = POLLIN;
	for (;;) {
		left = DNS_WAIT_MS - elapsed_ms(&t0);
		if (deadline_left_ms() < left)
			left = deadline_left_ms();
		if (left <= 0 || atomic_load(&aborting) ||
		    poll(&pfd, 1, left) == 0) {
			n = 0;
			break;
		}
		if ((n = recv(fd, ans, anslen, 0)) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		/* Someone else's, or not an answer: keep waiting. */
		if (n >= 12 && ans[0] == q[0] && ans[1] == q[1] &&
		    (ans[2] & 0x80) != 0)
			break;
	}
out:
	close(fd);
	return n;
}

static int
io_all(int fd, void *buf, size_t len, bool out)
{
	unsigned char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = out ? send(fd, p, len, MSG_NOSIGNAL) : recv(fd, p, len, 0);
		if (n <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The same over TCP, after a truncated UDP answer (RFC 1035 §4.2.2). */
static ssize_t
ask_tcp(const struct sockaddr_storage *srv, const unsigned char *q,
    size_t qlen, unsigned char *ans, size_t anslen)
{
	struct timeval tv = { DNS_WAIT_MS / 1000, DNS_WAIT_MS % 1000 * 1000 };
	unsigned char pre[2];
	ssize_t n = -1;
	size_t len;
	int fd;

	if ((fd = socket(srv->ss_family, SOCK_STREAM | SOCK_CLOEXEC,
	    0)) == -1)
		return -1;
	/* Linux applies the send timeout to connect() too. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1 ||
	    connect(fd, (const struct sockaddr *)srv,
	    netaddr_len(srv->ss_family)) == -1)
		goto out;
	pre[0] = (unsigned char)(qlen >> 8);
	pre[1] = (unsigned char)qlen;
	if (io_all(fd, pre, 2, true) == -1 ||
	    io_all(fd, (void *)(uintptr_t)q, qlen, true) == -1 ||
	    io_all(fd, pre, 2, false) == -1)
		goto out;
	len = get16(pre);
	if (len < 12 || len > anslen || io_all(fd, ans, len, false) == -1 ||
	    ans[0] != q[0] || ans[1] != q[1])
		goto out;
	n = (ssize_t)len;
out:
	close(fd);
	return n;
}

/*
 * Ask the servers for name/type, each in turn, for DNS_TRIES rounds.
 * DNS_OK or DNS_NXDOMAIN with the answer in ans (*len); otherwise why no
 * server gave one.
 */
static enum dns_result
dns_ask(const struct resolve_servers *sv, const char *name, int type,
    unsigned char *ans, size_t anslen, size_t *len)
{
	unsigned char q[NS_PACKETSZ];
	enum dns_result res = DNS_NOANSWER;
	uint16_t id;
	ssize_t ql, n;
	size_t round, i;
	int rcode;

	if (getrandom(&id, sizeof(id), GRND_NONBLOCK) != sizeof(id))
		id = (uint16_t)(hash_final((uint64_t)time(NULL) ^
		    (uint64_t)(uintptr_t)name));
	if ((ql = resolve_query_build(name, type, id, q, sizeof(q))) < 0)
		return DNS_ERROR;
	for (round = 0; round < DNS_TRIES; round++)
		for (i = 0; i < sv->n && !atomic_load(&aborting) &&
		    deadline_left_ms() > 0; i++) {
			n = ask_udp(&sv->addr[i], q, (size_t)ql, ans, anslen);
			if (n > 0 && (ans[2] & 0x02) != 0)	/* TC */
				n = ask_tcp(&sv->addr[i], q, (size_t)ql, ans,
				    anslen);
			if (n == 0)
				continue;		/* timeout */
			if (n < 0) {
				res = DNS_ERROR;	/* unreachable */
				continue;
			}
			rcode = ans[3] & 0x0f;
			if (rcode == ns_r_noerror || rcode == ns_r_nxdomain) {
				*len = (size_t)n;
				return rcode == ns_r_noerror ? DNS_OK :
				    DNS_NXDOMAIN;
			}
			res = DNS_ERROR;	/* SERVFAIL, REFUSED: next */
		}
	return res;
}

/* A/AAAA of name (A first, as most PBXs listen on IPv4): up to max
 * addresses with port. */
static enum dns_result
lookup_addr_dns(const struct resolve_servers *sv, const char *name,
    uint16_t port, struct sockaddr_storage *out, size_t max, size_t *nout,
    uint32_t *ttl)
{
	static const int types[] = { ns_t_a, ns_t_aaaa };
	unsigned char *ans;
	enum dns_result r = DNS_ERROR;
	size_t len, i, k;
	int n, rcode;

	*nout = 0;
	if ((ans = malloc(DNS_MSG_MAX)) == NULL)
		return DNS_ERROR;
	for (k = 0; k < NELEM(types); k++) {
		r = dns_ask(sv, name, types[k], ans, DNS_MSG_MAX, &len);
		if (r != DNS_OK)
			break;		/* NXDOMAIN for A is NXDOMAIN for all */
		n = resolve_parse(ans, len, types[k], &rcode, NULL, out, max,
		    ttl);
		if (n < 0) {
			r = DNS_ERROR;
			break;
		}
		if (n > 0) {
			for (i = 0; i < (size_t)n; i++)
				netaddr_set_port(&out[i], port);
			*nout = (size_t)n;
			break;
		}
	}
	free(ans);
	return r;
}

/* The same through getaddrinfo(): /etc/hosts, nsswitch, resolv.conf. */
static enum dns_result
lookup_addr_libc(const char *name, uint16_t port,
    struct sockaddr_storage *out, size_t max, size_t *nout, uint32_t *ttl)
{
	struct addrinfo hints, *res, *ai;
	int family, rc;

	*nout = 0;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_DGRAM;
	if ((rc = getaddrinfo(name, NULL, &hints, &res)) != 0)
		return rc == EAI_NONAME ? DNS_NXDOMAIN : rc == EAI_AGAIN ?
		    DNS_NOANSWER : rc == EAI_NODATA ? DNS_OK : DNS_ERROR;
	for (family = AF_INET; *nout == 0; family = AF_INET6) {
		for (ai = res; ai != NULL && *nout < max; ai = ai->ai_next) {
			if (ai->ai_family != family ||
			    ai->ai_addrlen > sizeof(*out))
				continue;
			memset(&out[*nout], 0, sizeof(*out));
			memcpy(&out[*nout], ai->ai_addr, ai->ai_addrlen);
			netaddr_set_port(&out[(*nout)++], port);
		}
		if (family == AF_INET6)
			break;
	}
	freeaddrinfo(res);
	min_ttl(ttl, RESOLVE_TTL_HOSTS);
	return DNS_OK;
}

static enum dns_result
lookup_addr(const struct resolve_servers *sv, const char *name,
    uint16_t port, struct sockaddr_storage *out, size_t max, size_t *nout,
    uint32_t *ttl)
{
	if (sv->n == 0)
		return lookup_addr_libc(name, port, out, max, nout, ttl);
	return lookup_addr_dns(sv, name, port, out, max, nout, ttl);
}

/* RFC 3263 §4.2 without SRV: the name's addresses at port 5060, equal. */
static void
answer_addr(const struct resolve_servers *sv, const char *name, uint16_t port,
    struct resolve_answer *a)
{
	struct sockaddr_storage ss[RESOLVE_MAX_TARGETS];
	enum dns_result r;
	size_t i, n;

	memset(a, 0, sizeof(*a));
	a->ttl = UINT32_MAX;
	r = lookup_addr(sv, name, port, ss, NELEM(ss), &n, &a->ttl);
	for (i = 0; i < n; i++) {
		a->t[i].addr = ss[i];
		a->t[i].tp = SIP_TP_NONE;
	}
	a->n = n;
	if (n == 0)
		a->why = dns_why(r);
}

enum srv_state {
	SRV_FOUND,		/* a->n targets */
	SRV_NONE,		/* no SRV: go on to A/AAAA */
	SRV_FAILED,		/* SRV there, but no usable target: a->why */
};

/* RFC 3263 §4.2: the SRV records of service.name, each target resolved
 * (from the additional section when there). */
static enum srv_state
answer_srv(const struct resolve_servers *sv, const char *service,
    const char *name, enum sip_transport tp, struct resolve_answer *a)
{
	struct resolve_srv srv[RESOLVE_MAX_TARGETS];
	struct resolve_servers dflt;
	const struct resolve_servers *ask = sv;
	char qname[RESOLVE_HOST_MAX + 16];
	unsigned char *ans;
	enum dns_result r;
	size_t len, i, n;
	int k, rcode;
	bool declined = false;

	memset(a, 0, sizeof(*a));
	a->ttl = UINT32_MAX;
	if (sv->n == 0) {
		servers_default(&dflt);
		ask = &dflt;
	}
	if (snprintf(qname, sizeof(qname), "%s.%s", service, name) >=
	    (int)sizeof(qname) || (ans = malloc(DNS_MSG_MAX)) == NULL)
		return SRV_NONE;
	r = dns_ask(ask, qname, ns_t_srv, ans, DNS_MSG_MAX, &len);
	k = r == DNS_OK ? resolve_parse(ans, len, ns_t_srv, &rcode, srv,
	    NULL, NELEM(srv), &a->ttl) : 0;
	free(ans);
	if (k <= 0)
		return SRV_NONE;
	for (i = 0; i < (size_t)k; i++) {
		struct resolve_target *t = &a->t[a->n];

		/* RFC 2782: target "." means "decidedly not available". */
		if (srv[i].target[0] == '\0' || strcmp(srv[i].target,
		    ".") == 0) {
			declined = true;
			continue;
		}
		if (srv[i].addr.ss_family != 0) {
			t->addr = srv[i].addr;
			netaddr_set_port(&t->addr, srv[i].port);
		} else if (lookup_addr(sv, srv[i].target, srv[i].port,
		    &t->addr, 1, &n, &a->ttl) != DNS_OK || n == 0)
			continue;
		t->tp = tp;
		t->priority = srv[i].priority;
		t->weight = srv[i].weight;
		a->n++;
	}
	if (a->n > 0)
		return SRV_FOUND;
	a->why = declined ? "Does Not Offer SIP" :
	    "Has SRV Targets That Do Not Resolve";
	return SRV_FAILED;
}

void
resolve_sip(const struct resolve_servers *sv, const char *host,
    enum resolve_kind kind, struct resolve_answer *a)
{
	enum srv_state s = SRV_NONE;

	if (!resolve_name_ok(slice_make(host, strlen(host)))) {
		memset(a, 0, sizeof(*a));
		a->why = "Is Not A DNS Name";
		return;
	}
	switch (kind) {
	case RESOLVE_ADDR:
		break;
	case RESOLVE_ANY:
		/* RFC 3263 §4.1: without NAPTR, SRV for each transport in
		 * order of preference; usher prefers UDP below its limit. */
		s = answer_srv(sv, "_sip._udp", host, SIP_TP_UDP, a);
		if (s == SRV_NONE)
			s = answer_srv(sv, "_sip._tcp", host, SIP_TP_TCP, a);
		break;
	case RESOLVE_UDP:
		s = answer_srv(sv, "_sip._udp", host, SIP_TP_UDP, a);
		break;
	case RESOLVE_TCP:
	case RESOLVE_KINDS:
		s = answer_srv(sv, "_sip._tcp", host, SIP_TP_TCP, a);
		break;
	case RESOLVE_TLS:
		s = answer_srv(sv, "_sips._tcp", host, SIP_TP_TLS, a);
		break;
	}
	if (s == SRV_NONE)
		answer_addr(sv, host, kind == RESOLVE_TLS ?
		    SIP_TLS_DEFAULT_PORT : SIP_DEFAULT_PORT, a);
	if (a->ttl == UINT32_MAX)
		a->ttl = 0;
}

uint32_t
resolve_ttl(const struct resolve_answer *a)
{
	if (a->n == 0)
		return RESOLVE_TTL_NEGATIVE;
	return a->ttl < RESOLVE_TTL_MIN ? RESOLVE_TTL_MIN :
	    a->ttl > RESOLVE_TTL_MAX ? RESOLVE_TTL_MAX : a->ttl;
}

/* ---- the resolver thread ---- */

#define CACHE_SLOTS	64

/* Answers the thread gave lately, shared by every worker's jobs: only the
 * thread touches it. */
struct cache_slot {
	char			 host[RESOLVE_HOST_MAX];
	enum resolve_kind	 kind;
	struct resolve_servers	 sv;
	struct resolve_answer	 a;
	time_t			 expires;
};

static struct {
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
	pthread_t		 thread;
	bool			 running;
	bool			 stopping;
	struct resolve_job	*head, *tail;
	size_t			 n;
	struct cache_slot	*cache;
} rs = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static uint64_t
name_hash(const char *p, size_t len)
{
	return hash_final(hash_bytes_nocase(HASH_SEED, p, len));
}

static bool
servers_eq(const struct resolve_servers *a, const struct resolve_servers *b)
{
	size_t i;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++)
		if (!netaddr_eq_port(&a->addr[i], &b->addr[i]))
			return false;
	return true;
}

static void
answer_job(struct resolve_job *job)
{
	struct cache_slot *s;
	time_t now = time(NULL);

	s = &rs.cache[(name_hash(job->host, strlen(job->host)) + job->kind) %
	    CACHE_SLOTS];
	if (s->expires > now && s->kind == job->kind &&
	    strcasecmp(s->host, job->host) == 0 &&
	    servers_eq(&s->sv, &job->servers)) {
		job->answer = s->a;
		return;
	}
	resolve_sip(&job->servers, job->host, job->kind, &job->answer);

	memcpy(s->host, job->host, sizeof(s->host));
	s->kind = job->kind;
	s->sv = job->servers;
	s->a = job->answer;
	s->expires = now + (time_t)resolve_ttl(&job->answer);
}

static void *
resolver_main(void *arg)
{
	struct resolve_job *job, *rest;

	(void)arg;
	pthread_mutex_lock(&rs.mu);
	for (;;) {
		while (rs.head == NULL && !rs.stopping)
			pthread_cond_wait(&rs.cv, &rs.mu);
		if (rs.stopping)
			break;
		job = rs.head;
		if ((rs.head = job->next) == NULL)
			rs.tail = NULL;
		rs.n--;
		pthread_mutex_unlock(&rs.mu);
		job->next = NULL;
		job->cancelled = false;
		answer_job(job);
		job->done(job);
		pthread_mutex_lock(&rs.mu);
	}
	rest = rs.head;
	rs.head = rs.tail = NULL;
	rs.n = 0;
	pthread_mutex_unlock(&rs.mu);
	while ((job = rest) != NULL) {
		rest = job->next;
		job->next = NULL;
		job->cancelled = true;
		job->done(job);
	}
	return NULL;
}

int
resolve_start(void)
{
	int rc = -1;

	pthread_mutex_lock(&rs.mu);
	if (rs.running) {
		rc = 0;
		goto out;
	}
	if (rs.cache == NULL &&
	    (rs.cache = calloc(CACHE_SLOTS, sizeof(*rs.cache))) == NULL)
		goto out;
	rs.stopping = false;
	atomic_store(&aborting, false);
	if (pthread_create(&rs.thread, NULL, resolver_main, NULL) != 0)
		goto out;
	rs.running = true;
	rc = 0;
out:
	pthread_mutex_unlock(&rs.mu);
	return rc;
}

void
resolve_stop(void)
{
	pthread_mutex_lock(&rs.mu);
	if (!rs.running) {
		pthread_mutex_unlock(&rs.mu);
		return;
	}
	rs.stopping = true;
	atomic_store(&aborting, true);
	pthread_cond_signal(&rs.cv);
	pthread_mutex_unlock(&rs.mu);
	pthread_join(rs.thread, NULL);
	pthread_mutex_lock(&rs.mu);
	rs.running = false;
	free(rs.cache);
	rs.cache = NULL;
	pthread_mutex_unlock(&rs.mu);
}

int
resolve_job_host(struct resolve_job *job, struct slice host)
{
	if (!resolve_name_ok(host) || host.len >= sizeof(job->host))
		return -1;
	memcpy(job->host, host.p, host.len);
	job->host[host.len] = '\0';
	return 0;
}

int
resolve_submit(struct resolve_job *job)
{
	int rc = -1;

	pthread_mutex_lock(&rs.mu);
	if (rs.running && !rs.stopping && rs.n < RESOLVE_QUEUE_MAX) {
		job->next = NULL;
		if (rs.tail != NULL)
			rs.tail->next = job;
		else
			rs.head = job;
		rs.tail = job;
		rs.n++;
		pthread_cond_signal(&rs.cv);
		rc = 0;
	}
	pthread_mutex_unlock(&rs.mu);
	return rc;
}

/* ---- the map of table targets ---- */

struct map_entry {
	char			*name;		/* lower case */
	size_t			 len;
	bool			 srv;		/* every kind, else ADDR only */
	bool			 resolved;	/* else unknown: asked on use */
	struct resolve_answer	 a[RESOLVE_KINDS];
};

struct resolve_map {
	atomic_int		 refs;
	struct map_entry	*ents;
	size_t			 n, cap;
	uint32_t		*slots;		/* entry index + 1; 0: empty */
	size_t			 nslots;	/* a power of two > 2 cap */
};

struct resolve_map *
resolve_map_new(size_t nhosts)
{
	struct resolve_map *m;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	atomic_init(&m->refs, 1);
	m->cap = nhosts;
	for (m->nslots = 8; m->nslots <= 2 * nhosts; m->nslots *= 2)
		;
	m->ents = calloc(nhosts ? nhosts : 1, sizeof(*m->ents));
	m->slots = calloc(m->nslots, sizeof(*m->slots));
	if (m->ents == NULL || m->slots == NULL) {
		resolve_map_unref(m);
		return NULL;
	}
	return m;
}

static const struct map_entry *
map_lookup(const struct resolve_map *m, struct slice host)
{
	size_t i, mask;
	const struct map_entry *e;

	if (m == NULL || m->n == 0)
		return NULL;
	mask = m->nslots - 1;
	for (i = name_hash(host.p, host.len) & mask; m->slots[i] != 0;
	    i = (i + 1) & mask) {
		e = &m->ents[m->slots[i] - 1];
		if (e->len == host.len && strncasecmp(e->name, host.p,
		    host.len) == 0)
			return e;
	}
	return NULL;
}

/* a's addresses at port 5061: RFC 3263 §4.2 for TLS without SRV. */
static struct resolve_answer
tls_port(const struct resolve_answer *a)
{
	struct resolve_answer t = *a;
	size_t i;

	for (i = 0; i < t.n; i++)
		netaddr_set_port(&t.t[i].addr, SIP_TLS_DEFAULT_PORT);
	return t;
}

/* Where e leads, for each kind it needs (blocking). */
static void
entry_resolve(struct map_entry *e, const struct resolve_servers *sv)
{
	struct resolve_answer su, st, ss;
	enum srv_state u = SRV_NONE, t = SRV_NONE, s = SRV_NONE;
	size_t i;

	if (!resolve_name_ok(slice_make(e->name, e->len))) {
		for (i = 0; i < RESOLVE_KINDS; i++)
			e->a[i].why = "Is Not A DNS Name";
		return;
	}
	/* The queries the four kinds share are made once. */
	answer_addr(sv, e->name, SIP_DEFAULT_PORT,
	    &e->a[RESOLVE_ADDR]);
	/* No server answered: asking SRV too would only triple the wait
	 * (the start or reload waits for the map). */
	if (e->a[RESOLVE_ADDR].why == dns_why(DNS_NOANSWER)) {
		for (i = 1; i < RESOLVE_KINDS; i++)
			e->a[i] = e->a[RESOLVE_ADDR];
	} else if (e->srv) {
		u = answer_srv(sv, "_sip._udp", e->name, SIP_TP_UDP, &su);
		t = answer_srv(sv, "_sip._tcp", e->name, SIP_TP_TCP, &st);
		e->a[RESOLVE_UDP] = u == SRV_NONE ? e->a[RESOLVE_ADDR] : su;
		e->a[RESOLVE_TCP] = t == SRV_NONE ? e->a[RESOLVE_ADDR] : st;
		e->a[RESOLVE_ANY] = u != SRV_NONE ? su : e->a[RESOLVE_TCP];
		s = answer_srv(sv, "_sips._tcp", e->name, SIP_TP_TLS, &ss);
		e->a[RESOLVE_TLS] = s == SRV_NONE ?
		    tls_port(&e->a[RESOLVE_ADDR]) : ss;
	}
}

/* The entry of host, added unresolved when new; NULL when out of memory
 * or full. */
static struct map_entry *
entry_put(struct resolve_map *m, struct slice host, bool srv)
{
	struct map_entry *e;
	size_t i, mask = m->nslots - 1;

	if ((e = (struct map_entry *)map_lookup(m, host)) != NULL)
		return e;
	if (m->n == m->cap)
		return NULL;
	e = &m->ents[m->n];
	memset(e, 0, sizeof(*e));
	if ((e->name = strndup(host.p, host.len)) == NULL)
		return NULL;
	e->len = host.len;
	for (i = 0; i < e->len; i++)
		e->name[i] = lower_ascii(e->name[i]);
	e->srv = srv;
	for (i = name_hash(e->name, e->len) & mask; m->slots[i] != 0;
	    i = (i + 1) & mask)
		;
	m->slots[i] = (uint32_t)(++m->n);
	return e;
}

int
resolve_map_add(struct resolve_map *m, struct slice host, bool srv,
    const struct resolve_servers *sv, struct resolve_answer *first)
{
	struct map_entry *e;

	if ((e = entry_put(m, host, srv)) == NULL)
		return -1;
	if (!e->resolved) {
		entry_resolve(e, sv);
		e->resolved = true;
	}
	if (first != NULL)
		*first = e->a[e->srv ? RESOLVE_ANY : RESOLVE_ADDR];
	return 0;
}

int
resolve_map_put(struct resolve_map *m, struct slice host, bool srv)
{
	return entry_put(m, host, srv) == NULL ? -1 : 0;
}

/* One run of resolve_map_resolve, shared by its pool threads. */
struct batch {
	struct resolve_map		*m;
	const struct resolve_servers	*sv;
	struct timespec			 end;
	atomic_size_t			 next;	/* entry to take */
};

static void *
batch_main(void *arg)
{
	struct batch *b = arg;
	struct map_entry *e;
	size_t i;

	deadline = &b->end;
	while ((i = atomic_fetch_add(&b->next, 1)) < b->m->n &&
	    deadline_left_ms() > 0 && !atomic_load(&aborting)) {
		e = &b->m->ents[i];
		if (e->resolved)
			continue;
		entry_resolve(e, b->sv);
		/* Cut short by the deadline: unknown, not "no answer". */
		e->resolved = deadline_left_ms() > 0;
	}
	deadline = NULL;
	return NULL;
}

/*
 * A thread per name in flight, up to RESOLVE_PARALLEL: the blocking DNS
 * client above stays the one code path for the resolver thread, -T and
 * this, and a dead name costs its timeout once, beside the others, not
 * after them (50 dead names held the start for 100 s one by one).
 */
size_t
resolve_map_resolve(struct resolve_map *m, const struct resolve_servers *sv)
{
	pthread_t th[RESOLVE_PARALLEL];
	pthread_attr_t attr;
	struct batch b;
	size_t i, nth = 0, want, left = 0, nsv;
	long long ms;

	if (m == NULL || m->n == 0)
		return 0;
	/* One name's whole timeout: every round over every server. */
	nsv = sv->n > 0 ? sv->n : 1;
	ms = (long long)DNS_TRIES * (long long)nsv * DNS_WAIT_MS +
	    DNS_MARGIN_MS;
	memset(&b, 0, sizeof(b));
	b.m = m;
	b.sv = sv;
	atomic_init(&b.next, 0);
	clock_gettime(CLOCK_MONOTONIC, &b.end);
	b.end.tv_sec += ms / 1000;
	b.end.tv_nsec += (ms % 1000) * 1000000;
	if (b.end.tv_nsec >= 1000000000) {
		b.end.tv_sec++;
		b.end.tv_nsec -= 1000000000;
	}
	want = m->n < RESOLVE_PARALLEL ? m->n : RESOLVE_PARALLEL;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, POOL_STACK);
	for (; nth < want; nth++)
		if (pthread_create(&th[nth], &attr, batch_main, &b) != 0)
			break;
	pthread_attr_destroy(&attr);
	if (nth == 0)
		batch_main(&b);		/* no thread to be had: in turn */
	for (i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < m->n; i++)
		left += !m->ents[i].resolved;
	return left;
}

const struct resolve_answer *
resolve_map_find(const struct resolve_map *m, struct slice host,
    enum resolve_kind kind)
{
	const struct map_entry *e = map_lookup(m, host);

	if (e == NULL || !e->resolved || (unsigned)kind >= RESOLVE_KINDS ||
	    (!e->srv && kind != RESOLVE_ADDR))
		return NULL;
	return &e->a[kind];
}

size_t
resolve_map_count(const struct resolve_map *m)
{
	return m != NULL ? m->n : 0;
}

struct resolve_map *
resolve_map_ref(struct resolve_map *m)
{
	if (m != NULL)
		atomic_fetch_add(&m->refs, 1);
	return m;
}

void
resolve_map_unref(struct resolve_map *m)
{
	size_t i;

	if (m == NULL || atomic_fetch_sub(&m->refs, 1) != 1)
		return;
	for (i = 0; i < m->n; i++)
		free(m->ents[i].name);
	free(m->ents);
	free(m->slots);
	free(m);
}
