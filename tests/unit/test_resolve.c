/* test_resolve.c: the pure parts of RFC 3263 resolution: SRV selection by
 * priority and weight (RFC 2782) with a seeded choice, the lookup a URI
 * needs, DNS names, queries and answers as bytes, and the target map. */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "resolve.h"
#include "sipmsg.h"
#include "slice.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

static void
set_targets(struct resolve_target *t, const uint16_t (*pw)[2], size_t n)
{
	size_t i;

	memset(t, 0, n * sizeof(*t));
	for (i = 0; i < n; i++) {
		t[i].priority = pw[i][0];
		t[i].weight = pw[i][1];
	}
}

/* How often each target is picked over seeds 0..nseeds-1. */
static void
count_picks(const struct resolve_target *t, size_t n, unsigned nseeds,
    unsigned *hits)
{
	unsigned s;
	int i;

	memset(hits, 0, n * sizeof(*hits));
	for (s = 0; s < nseeds; s++) {
		i = resolve_pick(t, n, s);
		assert_true(i >= 0 && (size_t)i < n);
		hits[i]++;
	}
}

static void
test_pick_priority(void **state)
{
	static const uint16_t pw[][2] = { { 20, 50 }, { 10, 0 }, { 30, 9 },
	    { 10, 0 } };
	struct resolve_target t[NELEM(pw)];
	unsigned hits[NELEM(pw)];

	(void)state;
	set_targets(t, pw, NELEM(pw));
	count_picks(t, NELEM(pw), 1000, hits);
	/* Only priority 10; weights all 0 there: an equal share each. */
	assert_int_equal(hits[0], 0);
	assert_int_equal(hits[2], 0);
	assert_int_equal(hits[1], 500);
	assert_int_equal(hits[3], 500);
	assert_int_equal(resolve_pick(t, 0, 7), -1);
}

static void
test_pick_weight(void **state)
{
	/* RFC 2782: r uniform in 0..sum; the first running sum >= r wins.
	 * Weights 1 and 3: r 0..1 -> first, 2..4 -> second. */
	static const uint16_t w13[][2] = { { 1, 1 }, { 1, 3 } };
	/* Zero weights go first: r == 0 picks it, 1..10 the other. */
	static const uint16_t w0[][2] = { { 5, 10 }, { 5, 0 } };
	static const uint16_t w3[][2] = { { 0, 60 }, { 0, 30 }, { 0, 10 },
	    { 1, 100 } };
	struct resolve_target t[4];
	unsigned hits[4];

	(void)state;
	set_targets(t, w13, NELEM(w13));
	count_picks(t, NELEM(w13), 1000, hits);
	assert_int_equal(hits[0], 400);
	assert_int_equal(hits[1], 600);

	set_targets(t, w0, NELEM(w0));
	count_picks(t, NELEM(w0), 1100, hits);
	assert_int_equal(hits[1], 100);
	assert_int_equal(hits[0], 1000);

	set_targets(t, w3, NELEM(w3));
	count_picks(t, NELEM(w3), 101 * 10, hits);
	assert_int_equal(hits[0], 610);	/* r 0..60 */
	assert_int_equal(hits[1], 300);	/* r 61..90 */
	assert_int_equal(hits[2], 100);	/* r 91..100 */
	assert_int_equal(hits[3], 0);

	/* The same seed, the same target: a retransmission follows. */
	assert_int_equal(resolve_pick(t, 3, 0x1234567890abcdefULL),
	    resolve_pick(t, 3, 0x1234567890abcdefULL));
}

static const struct {
	const char	*uri;
	bool		 big;
	int		 rc;
	enum resolve_kind kind;
} kinds[] = {
	{ "sip:x@example.com", false, 0, RESOLVE_ANY },
	{ "sip:x@example.com", true, 0, RESOLVE_TCP },
	{ "sip:x@example.com;transport=udp", true, 0, RESOLVE_UDP },
	{ "sip:x@example.com;transport=TCP", false, 0, RESOLVE_TCP },
	{ "sip:x@example.com:5070", false, 0, RESOLVE_ADDR },
	{ "sip:x@example.com:5070;transport=tcp", true, 0, RESOLVE_ADDR },
	/* RFC 3263 §4.1, SPEC §9: sips: and transport=tls ask _sips._tcp,
	 * whatever the size; sips: stays TLS whatever transport= says */
	{ "sips:x@example.com", false, 0, RESOLVE_TLS },
	{ "sips:x@example.com", true, 0, RESOLVE_TLS },
	{ "SIPS:x@example.com;transport=tcp", false, 0, RESOLVE_TLS },
	{ "sips:x@example.com;transport=udp", false, 0, RESOLVE_TLS },
	{ "sip:x@example.com;transport=tls", false, 0, RESOLVE_TLS },
	{ "sip:x@example.com;transport=TLS", true, 0, RESOLVE_TLS },
	{ "sips:x@example.com:5071", false, 0, RESOLVE_ADDR },
	{ "sips:x@example.com;transport=sctp", false, 0, RESOLVE_TLS },
	{ "sip:x@example.com;transport=sctp", false, -1, 0 },
};

static void
test_kind_of(void **state)
{
	struct sip_uri u;
	enum resolve_kind k;
	const char *fault, *why;
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(kinds); i++) {
		assert_int_equal(sipmsg_uri_parse(slice_make(kinds[i].uri,
		    strlen(kinds[i].uri)), &u, &fault), 0);
		why = NULL;
		k = RESOLVE_KINDS;
		if (resolve_kind_of(&u, kinds[i].big, &k, &why) !=
		    kinds[i].rc)
			fail_msg("row %zu (%s): wrong result", i, kinds[i].uri);
		if (kinds[i].rc == 0)
			assert_int_equal(k, kinds[i].kind);
		else
			assert_non_null(why);
	}
}

static void
test_name_ok(void **state)
{
	static const struct {
		const char	*name;
		bool		 ok;
	} rows[] = {
		{ "example.com", true },
		{ "example.com.", true },
		{ "_sip._udp.example.com", true },
		{ "a-b.c0", true },
		{ "localhost", true },
		{ "", false },
		{ ".", false },
		{ "a..b", false },
		{ ".a", false },
		{ "a b", false },
		{ "a\r\nb", false },
		{ "[::1]", false },
		{ "0123456789012345678901234567890123456789012345678901234567"
		    "890123.com", false },	/* a 64-byte label */
	};
	char big[300];
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(rows); i++)
		if (resolve_name_ok(slice_make(rows[i].name,
		    strlen(rows[i].name))) != rows[i].ok)
			fail_msg("row %zu \"%s\"", i, rows[i].name);
	/* 254 bytes in all is one too many. */
	for (i = 0; i < 254; i++)
		big[i] = (i % 50 == 49) ? '.' : 'a';
	assert_false(resolve_name_ok(slice_make(big, 254)));
	assert_true(resolve_name_ok(slice_make(big, 253)));
}

static void
test_query_build(void **state)
{
	static const unsigned char want[] = {
		0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
		4, '_', 's', 'i', 'p', 4, '_', 'u', 'd', 'p', 1, 'a', 0,
		0, 33, 0, 1,
	};
	unsigned char buf[512];
	ssize_t n;

	(void)state;
	n = resolve_query_build("_sip._udp.a.", ns_t_srv, 0x1234, buf,
	    sizeof(buf));
	assert_int_equal(n, sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	assert_int_equal(resolve_query_build("a..b", ns_t_a, 1, buf,
	    sizeof(buf)), -1);
	assert_int_equal(resolve_query_build("_sip._udp.a", ns_t_srv, 1, buf,
	    sizeof(want) - 1), -1);
}

/* A DNS message by hand: header, question, records. */
struct pkt {
	unsigned char	 b[512];
	size_t		 n;
};

static void
put(struct pkt *p, const void *v, size_t len)
{
	assert_true(p->n + len <= sizeof(p->b));
	memcpy(p->b + p->n, v, len);
	p->n += len;
}

static void
put16(struct pkt *p, unsigned v)
{
	unsigned char b[2] = { (unsigned char)(v >> 8), (unsigned char)v };

	put(p, b, 2);
}

static void
put_name(struct pkt *p, const char *name)
{
	const char *dot;
	size_t len;
	unsigned char c;

	while (*name != '\0') {
		dot = strchr(name, '.');
		len = dot ? (size_t)(dot - name) : strlen(name);
		c = (unsigned char)len;
		put(p, &c, 1);
		put(p, name, len);
		name += len + (dot ? 1 : 0);
	}
	c = 0;
	put(p, &c, 1);
}

static void
put_rr(struct pkt *p, const char *name, unsigned type, unsigned ttl,
    const void *rdata, size_t rdlen)
{
	put_name(p, name);
	put16(p, type);
	put16(p, ns_c_in);
	put16(p, ttl >> 16);
	put16(p, ttl & 0xffff);
	put16(p, (unsigned)rdlen);
	put(p, rdata, rdlen);
}

static void
put_srv(struct pkt *p, const char *owner, unsigned prio, unsigned weight,
    unsigned port, const char *target, unsigned ttl)
{
	struct pkt rd = { .n = 0 };

	put16(&rd, prio);
	put16(&rd, weight);
	put16(&rd, port);
	put_name(&rd, target);
	put_rr(p, owner, ns_t_srv, ttl, rd.b, rd.n);
}

static void
header(struct pkt *p, unsigned rcode, unsigned an, unsigned ar,
    const char *qname, unsigned qtype)
{
	p->n = 0;
	put16(p, 0x1234);
	put16(p, 0x8180 | rcode);
	put16(p, 1);
	put16(p, an);
	put16(p, 0);
	put16(p, ar);
	put_name(p, qname);
	put16(p, qtype);
	put16(p, ns_c_in);
}

static void
test_parse_srv(void **state)
{
	static const unsigned char a1[4] = { 192, 0, 2, 7 };
	struct resolve_srv srv[RESOLVE_MAX_TARGETS];
	struct pkt p;
	uint32_t ttl = UINT32_MAX;
	int rcode = -1, n;
	struct sockaddr_in *sin;

	(void)state;
	header(&p, 0, 3, 1, "_sip._udp.example.com", ns_t_srv);
	put_srv(&p, "_sip._udp.example.com", 20, 5, 5070, "b.example.com", 300);
	put_srv(&p, "_sip._udp.example.com", 10, 0, 5080, "a.example.com", 120);
	put_srv(&p, "_sip._udp.example.com", 10, 7, 5090, ".", 600);
	put_rr(&p, "A.example.com", ns_t_a, 60, a1, 4);
	n = resolve_parse(p.b, p.n, ns_t_srv, &rcode, srv, NULL, NELEM(srv),
	    &ttl);
	assert_int_equal(n, 3);
	assert_int_equal(rcode, 0);
	/* sorted by priority, stable */
	assert_int_equal(srv[0].priority, 10);
	assert_int_equal(srv[0].port, 5080);
	assert_string_equal(srv[0].target, "a.example.com");
	assert_int_equal(srv[1].port, 5090);
	assert_string_equal(srv[1].target, "");	/* "." */
	assert_int_equal(srv[2].priority, 20);
	assert_int_equal(srv[2].weight, 5);
	/* glue from the additional section, names case-insensitive */
	assert_int_equal(srv[0].addr.ss_family, AF_INET);
	sin = (struct sockaddr_in *)&srv[0].addr;
	assert_memory_equal(&sin->sin_addr, a1, 4);
	assert_int_equal(srv[2].addr.ss_family, 0);
	assert_int_equal(ttl, 60);

	/* More records than room: the lowest priorities stay. */
	ttl = UINT32_MAX;
	n = resolve_parse(p.b, p.n, ns_t_srv, &rcode, srv, NULL, 1, &ttl);
	assert_int_equal(n, 1);
	assert_int_equal(srv[0].priority, 10);

	/* Cut short: malformed. */
	assert_int_equal(resolve_parse(p.b, p.n - 30, ns_t_srv, &rcode, srv,
	    NULL, NELEM(srv), &ttl), -1);
	assert_int_equal(resolve_parse(p.b, 5, ns_t_srv, &rcode, srv, NULL,
	    NELEM(srv), &ttl), -1);
}

static void
test_parse_addr(void **state)
{
	static const unsigned char a1[4] = { 198, 51, 100, 1 };
	static const unsigned char a6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 5 };
	struct sockaddr_storage ss[4];
	struct pkt p, cname;
	uint32_t ttl = UINT32_MAX;
	int rcode = -1, n;

	(void)state;
	/* A CNAME first, then the address of the name it points to. */
	cname.n = 0;
	put_name(&cname, "pbx.example.net");
	header(&p, 0, 3, 0, "sip.example.com", ns_t_a);
	put_rr(&p, "sip.example.com", ns_t_cname, 30, cname.b, cname.n);
	put_rr(&p, "pbx.example.net", ns_t_a, 90, a1, 4);
	put_rr(&p, "pbx.example.net", ns_t_aaaa, 10, a6, 16);
	n = resolve_parse(p.b, p.n, ns_t_a, &rcode, NULL, ss, NELEM(ss), &ttl);
	assert_int_equal(n, 1);
	assert_int_equal(ss[0].ss_family, AF_INET);
	assert_memory_equal(&((struct sockaddr_in *)&ss[0])->sin_addr, a1, 4);
	assert_int_equal(ttl, 90);

	ttl = UINT32_MAX;
	n = resolve_parse(p.b, p.n, ns_t_aaaa, &rcode, NULL, ss, NELEM(ss),
	    &ttl);
	assert_int_equal(n, 1);
	assert_int_equal(ss[0].ss_family, AF_INET6);
	assert_memory_equal(&((struct sockaddr_in6 *)&ss[0])->sin6_addr, a6,
	    16);

	/* NXDOMAIN: no record, the rcode says so. */
	header(&p, ns_r_nxdomain, 0, 0, "nx.example.com", ns_t_a);
	n = resolve_parse(p.b, p.n, ns_t_a, &rcode, NULL, ss, NELEM(ss), &ttl);
	assert_int_equal(n, 0);
	assert_int_equal(rcode, ns_r_nxdomain);

	/* An A record of the wrong length is not an address. */
	header(&p, 0, 1, 0, "x.example.com", ns_t_a);
	put_rr(&p, "x.example.com", ns_t_a, 90, a6, 16);
	assert_int_equal(resolve_parse(p.b, p.n, ns_t_a, &rcode, NULL, ss,
	    NELEM(ss), &ttl), 0);
}

/* The map answers without DNS for names it cannot ask about, and only
 * for the kinds it resolved. */
static void
test_map(void **state)
{
	struct resolve_servers sv = { .n = 0 };
	struct resolve_answer first;
	const struct resolve_answer *a;
	struct resolve_map *m;

	(void)state;
	assert_null(resolve_map_find(NULL, SLICE("x"), RESOLVE_ADDR));
	m = resolve_map_new(2);
	assert_non_null(m);
	assert_int_equal(resolve_map_add(m, SLICE("Bad Name"), true, &sv,
	    &first), 0);
	assert_int_equal(first.n, 0);
	assert_string_equal(first.why, "Is Not A DNS Name");
	assert_int_equal(resolve_map_add(m, SLICE("bad name"), true, &sv,
	    NULL), 0);			/* the same, once */
	assert_int_equal(resolve_map_count(m), 1);
	assert_int_equal(resolve_map_add(m, SLICE("x y"), false, &sv, NULL),
	    0);
	assert_int_equal(resolve_map_add(m, SLICE("z w"), false, &sv, NULL),
	    -1);			/* full */
	a = resolve_map_find(m, SLICE("BAD NAME"), RESOLVE_TCP);
	assert_non_null(a);
	assert_int_equal(a->n, 0);
	assert_non_null(resolve_map_find(m, SLICE("x y"), RESOLVE_ADDR));
	assert_null(resolve_map_find(m, SLICE("x y"), RESOLVE_ANY));
	assert_null(resolve_map_find(m, SLICE("other"), RESOLVE_ADDR));
	assert_ptr_equal(resolve_map_ref(m), m);
	resolve_map_unref(m);
	resolve_map_unref(m);
	resolve_map_unref(NULL);
}

/* Put, then resolve all at once: unknown (NULL) until resolved, once per
 * name. Only names DNS cannot be asked about: no query leaves. */
static void
test_map_batch(void **state)
{
	struct resolve_servers sv = { .n = 0 };
	const struct resolve_answer *a;
	struct resolve_map *m;
	char name[16];
	int i;

	(void)state;
	m = resolve_map_new(100);
	assert_non_null(m);
	assert_int_equal(resolve_map_resolve(m, &sv), 0);	/* empty */
	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "bad name %d", i % 90);
		assert_int_equal(resolve_map_put(m, slice_make(name,
		    strlen(name)), i % 2 == 0), 0);
	}
	assert_int_equal(resolve_map_count(m), 90);
	assert_null(resolve_map_find(m, SLICE("bad name 1"), RESOLVE_ADDR));
	assert_int_equal(resolve_map_resolve(m, &sv), 0);
	for (i = 0; i < 90; i++) {
		snprintf(name, sizeof(name), "BAD NAME %d", i);
		a = resolve_map_find(m, slice_make(name, strlen(name)),
		    RESOLVE_ADDR);
		assert_non_null(a);
		assert_string_equal(a->why, "Is Not A DNS Name");
	}
	resolve_map_unref(m);
}

/* A name of len bytes: labels of 63 letters, dots between, a last dot
 * when dot. */
static void
long_name(char *buf, size_t len, bool dot)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = i % 64 == 63 ? '.' : 'a';
	if (dot)
		buf[len - 1] = '.';
	else if (buf[len - 1] == '.')
		buf[len - 1] = 'a';
	buf[len] = '\0';
}

/* 253 bytes is the longest name, 254 with the root's dot; each keeps its
 * NUL in a job; 255 and 256 are refused, and nothing is copied. */
static void
test_long_names(void **state)
{
	static const struct {
		size_t	 len;
		bool	 dot, ok;
	} rows[] = {
		{ 253, false, true },
		{ 253, true, true },
		{ 254, true, true },
		{ 254, false, false },
		{ 255, true, false },
		{ 255, false, false },
		{ 256, true, false },
		{ 256, false, false },
	};
	struct resolve_job job;
	unsigned char q[NS_PACKETSZ];
	char name[300];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		long_name(name, rows[i].len, rows[i].dot);
		assert_int_equal(strlen(name), rows[i].len);
		memset(&job, 'x', sizeof(job));
		assert_int_equal(resolve_name_ok(slice_make(name,
		    rows[i].len)), rows[i].ok);
		assert_int_equal(resolve_job_host(&job, slice_make(name,
		    rows[i].len)), rows[i].ok ? 0 : -1);
		if (rows[i].ok)
			assert_string_equal(job.host, name);
		else
			assert_int_equal(job.host[0], 'x');
		assert_int_equal(resolve_query_build(name, ns_t_a, 1, q,
		    sizeof(q)) > 0, rows[i].ok);
	}
	/* Cut to fit a job's buffer (as -T's snprintf does), a longer name
	 * is still too long. */
	long_name(name, 299, true);
	memcpy(job.host, name, sizeof(job.host) - 1);
	job.host[sizeof(job.host) - 1] = '\0';
	assert_false(resolve_name_ok(slice_make(job.host,
	    strlen(job.host))));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pick_priority),
		cmocka_unit_test(test_pick_weight),
		cmocka_unit_test(test_kind_of),
		cmocka_unit_test(test_name_ok),
		cmocka_unit_test(test_query_build),
		cmocka_unit_test(test_parse_srv),
		cmocka_unit_test(test_parse_addr),
		cmocka_unit_test(test_map),
		cmocka_unit_test(test_map_batch),
		cmocka_unit_test(test_long_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
