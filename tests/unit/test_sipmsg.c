/* test_sipmsg.c: the scanner, URI and Via decoding, replies and splicing. */
#include <sys/types.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sipmsg.h"

#define BASE_HDRS							\
	"Via: SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK-1\r\n"		\
	"From: \"A, B\" <sip:a@example.com>;tag=f1\r\n"			\
	"To: <sip:bob@example.com>\r\n"					\
	"Call-ID: c1@192.0.2.1\r\n"					\
	"CSeq: 7 INVITE\r\n"

static ssize_t
scan(const char *s, int mode, struct sipmsg *m)
{
	return sipmsg_scan(s, strlen(s), mode, m);
}

static bool
eq(struct slice s, const char *want)
{
	return s.len == strlen(want) && (s.len == 0 ||
	    memcmp(s.p, want, s.len) == 0);
}

/* Messages that must scan, and what they must yield. */
static void
test_scan_ok(void **state)
{
	struct sipmsg m;
	const char *msg =
	    "\r\n\r\nINVITE sip:bob@example.com;user=phone SIP/2.0\r\n"
	    "v: SIP/2.0/UDP 192.0.2.1;rport;branch=z9hG4bKa , "
	    "SIP/2.0/TCP [2001:db8::1]:5061;received=10.0.0.1\r\n"
	    "Via: SIP / 2.0 / UDP\r\n h.example.com;branch=x\r\n"
	    "f: <sip:a@example.com>;tag=abc\r\n"
	    "t: \"Bob, the \\\"B\\\"\" <sip:bob@example.com>\r\n"
	    "i: call-1\r\n"
	    "CSeq:  0009\r\n INVITE\r\n"
	    "Max-Forwards: 0068\r\n"
	    "Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n"
	    "Route: <sip:p3.example.com;lr>\r\n"
	    "Proxy-Require: foo, bar\r\n"
	    "User-Agent: friendly-scanner\r\n"
	    "l: 4\r\n\r\nbodyTRAILING";
	ssize_t rc;

	(void)state;
	rc = scan(msg, SIPMSG_DGRAM, &m);
	assert_null(m.fault);
	assert_int_equal(rc, (ssize_t)(strlen(msg) - strlen("TRAILING")));
	assert_true(m.is_request);
	assert_int_equal(m.mid, SIP_INVITE);
	assert_true(m.ruri.is_sip && m.ruri.user_phone);
	assert_true(eq(m.ruri.user, "bob") && eq(m.ruri.host, "example.com"));
	assert_int_equal(m.nvia_hdr, 2);
	assert_int_equal(m.nvia, 3);
	assert_true(m.via[0].has_rport && m.via[0].rport.len == 0);
	assert_true(eq(m.via[0].branch, "z9hG4bKa"));
	assert_true(eq(m.via[1].host, "[2001:db8::1]"));
	assert_int_equal(m.via[1].port, 5061);
	assert_int_equal(m.via[1].tp, SIP_TP_TCP);
	assert_true(eq(m.via[1].received, "10.0.0.1"));
	assert_true(eq(m.via[2].host, "h.example.com"));
	assert_true(eq(m.from_tag, "abc"));
	assert_null(m.to_tag.p);
	assert_true(eq(m.to_uri.user, "bob"));
	assert_true(eq(m.callid.value, "call-1"));
	assert_int_equal(m.cseq_num, 9);
	assert_true(eq(m.cseq_method, "INVITE"));
	assert_int_equal(m.max_forwards, 68);
	assert_int_equal(m.nroute, 3);
	assert_int_equal(m.nroute_hdr, 2);
	assert_true(eq(m.route_uri[1].host, "p2.example.com"));
	assert_true(m.route_uri[2].lr);
	assert_int_equal(m.npreq, 2);
	assert_true(eq(m.proxy_require[1], "bar"));
	assert_true(eq(m.user_agent.value, "friendly-scanner"));
	assert_int_equal(m.content_length, 4);
	assert_true(eq(slice_make(m.buf + m.body_off, 4), "body"));
}

static const struct {
	const char	*msg;
	const char	*fault;
} faults[] = {
	{ "INVITE sip:b@example.com SIP/2.0\r\n"
	  "From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: c\r\n"
	  "CSeq: 1 INVITE\r\n\r\n", "Missing Via" },
	{ "INVITE sip:b@example.com SIP/2.0\r\n"
	  "Via: SIP/2.0/UDP h\r\nTo: <sip:b@x>\r\nCall-ID: c\r\n"
	  "CSeq: 1 INVITE\r\n\r\n", "Missing From" },
	{ "INVITE sip:b@example.com SIP/2.0\r\n" BASE_HDRS
	  "Call-ID: again\r\n\r\n", "Multiple Call-ID Headers" },
	{ "INVITE sip:b@example.com SIP/2.0\r\n"
	  "Via: SIP/2.0/UDP 192.0.2.1;;,\r\nFrom: <sip:a@x>;tag=1\r\n"
	  "To: <sip:b@x>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\r\n",
	  "Malformed Via" },
	{ "INVITE sip:b@example.com SIP/2.0\r\n"
	  "Via: SIP/2.0/UDP h\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\n"
	  "Call-ID: c\r\nCSeq: 4294967296 INVITE\r\n\r\n", "Bad CSeq" },
	{ "INVITE sip:b@example.com SIP/2.0\r\n" BASE_HDRS
	  "Max-Forwards: 256\r\n\r\n", "Bad Max-Forwards" },
	{ "INVITE sip:b@example.com SIP/2.0\r\n" BASE_HDRS
	  "Content-Length: -999\r\n\r\n", "Bad Content-Length" },
	{ "INVITE sip:b@example.com SIP/2.0\r\n" BASE_HDRS
	  "Content-Length: 5\r\nl: 3\r\n\r\nabcde",
	  "Multiple Content-Length Headers" },
	{ "INVITE sip:b@example.com SIP/2.0\r\n" BASE_HDRS
	  "Content-Length: 50\r\n\r\nshort",
	  "Content-Length Larger Than Datagram" },
	{ "INVITE  sip:b@example.com SIP/2.0\r\n" BASE_HDRS "\r\n",
	  "Bad Request-Line" },
	{ "INVITE sip:b@example.com SIP/2.0 \r\n" BASE_HDRS "\r\n",
	  "Bad Request-Line" },
	{ "INVITE <sip:b@example.com> SIP/2.0\r\n" BASE_HDRS "\r\n",
	  "Bad Request-URI" },
	{ "INVITE sip:b@example.com?Route=%3Csip:x%3E SIP/2.0\r\n"
	  BASE_HDRS "\r\n", "Request-URI Has Escaped Headers" },
	{ "REGISTER sip:2001:db8::10 SIP/2.0\r\n" BASE_HDRS "\r\n",
	  "Bad Request-URI" },
	{ "INVITE sip:b@example.com SIP/2.0\r\n" BASE_HDRS
	  "To: <sip:c@x>\r\n\r\n", "Multiple To Headers" },
	{ "INVITE sip:b@example.com SIP/2.0\r\n" BASE_HDRS
	  "Route: sip:x;lr\r\n\r\n", "Malformed Route" },
	{ "SIP/2.0 4294967301 Big\r\n" BASE_HDRS "\r\n",
	  "Bad Status-Line" },
};

static void
test_scan_faults(void **state)
{
	struct sipmsg m;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
		assert_int_equal(scan(faults[i].msg, SIPMSG_DGRAM, &m), -1);
		if (m.fault == NULL || strcmp(m.fault, faults[i].fault) != 0)
			fail_msg("case %zu: fault %s, want %s", i,
			    m.fault ? m.fault : "(none)", faults[i].fault);
	}
	/* After a fault the reply fields are still there. */
	scan(faults[5].msg, SIPMSG_DGRAM, &m);
	assert_true(sipmsg_can_reply(&m));
	scan(faults[1].msg, SIPMSG_DGRAM, &m);
	assert_false(sipmsg_can_reply(&m));
}

static void
test_scan_stream(void **state)
{
	const char *msg = "OPTIONS sip:x@example.com SIP/2.0\r\n" BASE_HDRS
	    "Content-Length: 3\r\n\r\nabcOPTIONS";
	struct sipmsg m;
	size_t whole = strlen(msg) - strlen("OPTIONS"), n;

	(void)state;
	/* Every cut short of the whole message is partial. */
	for (n = 0; n < whole; n++)
		assert_int_equal(sipmsg_scan(msg, n, SIPMSG_STREAM, &m),
		    n == 0 ? -1 : -2);
	assert_int_equal(sipmsg_scan(msg, strlen(msg), SIPMSG_STREAM, &m),
	    (ssize_t)whole);
	/* Headers complete, body not: the length is known. */
	assert_int_equal(sipmsg_scan(msg, whole - 1, SIPMSG_STREAM, &m), -2);
	assert_true(m.hdr_complete);
	assert_int_equal(m.content_length, 3);
	/* TCP needs Content-Length. */
	assert_int_equal(scan("OPTIONS sip:x@example.com SIP/2.0\r\n"
	    BASE_HDRS "\r\n", SIPMSG_STREAM, &m), -1);
	assert_string_equal(m.fault, "Missing Content-Length");
	/* Only CRLFs: a keep-alive, not a fault. */
	assert_int_equal(scan("\r\n\r\n", SIPMSG_DGRAM, &m), -1);
	assert_null(m.fault);
}

static const struct {
	const char	*uri;
	int		 rc;
	const char	*user, *host;
	unsigned	 port;
	enum sip_transport tp;
	bool		 is_sip, phone, lr;
} uris[] = {
	{ "sip:alice@example.com", 0, "alice", "example.com", 0,
	  SIP_TP_NONE, true, false, false },
	{ "sips:a:pw@h.example.com:5061;transport=TCP;lr", 0, "a",
	  "h.example.com", 5061, SIP_TP_TCP, true, false, true },
	{ "sip:+1-555@x;user=phone", 0, "+1-555", "x", 0, SIP_TP_NONE, true,
	  true, false },
	{ "sip:[2001:db8::10]:5070", 0, "", "[2001:db8::10]", 5070,
	  SIP_TP_NONE, true, false, false },
	{ "sip:[2001:db8::10:5070]", 0, "", "[2001:db8::10:5070]", 0,
	  SIP_TP_NONE, true, false, false },
	{ "sip:user;par=u%40x@example.com", 0, "user;par=u%40x",
	  "example.com", 0, SIP_TP_NONE, true, false, false },
	{ "tel:+15551234", 0, "", "", 0, SIP_TP_NONE, false, false, false },
	{ "sip:2001:db8::10", -1, NULL, NULL, 0, 0, 0, 0, 0 },
	{ "sip:a@host:99999", -1, NULL, NULL, 0, 0, 0, 0, 0 },
	{ "sip:@host", -1, NULL, NULL, 0, 0, 0, 0, 0 },
	{ "sip:a@", -1, NULL, NULL, 0, 0, 0, 0, 0 },
	{ "sip:a b@host", -1, NULL, NULL, 0, 0, 0, 0, 0 },
	{ ":nothing", -1, NULL, NULL, 0, 0, 0, 0, 0 },
};

static void
test_uri(void **state)
{
	struct sip_uri u;
	const char *why;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(uris) / sizeof(uris[0]); i++) {
		int rc = sipmsg_uri_parse(slice_make(uris[i].uri,
		    strlen(uris[i].uri)), &u, &why);

		if (rc != uris[i].rc)
			fail_msg("%s: rc %d", uris[i].uri, rc);
		if (rc == -1) {
			assert_non_null(why);
			continue;
		}
		assert_int_equal(u.is_sip, uris[i].is_sip);
		if (!u.is_sip)
			continue;
		assert_true(eq(u.user, uris[i].user));
		assert_true(eq(u.host, uris[i].host));
		assert_int_equal(u.port, uris[i].port);
		assert_int_equal(u.transport, uris[i].tp);
		assert_int_equal(u.user_phone, uris[i].phone);
		assert_int_equal(u.lr, uris[i].lr);
	}
}

static void
test_param(void **state)
{
	struct slice v;
	const char *p = ";a=1; B = two ;c;d=\"x;y\"";
	struct slice ps = slice_make(p, strlen(p));

	(void)state;
	assert_true(sipmsg_param(ps, "a", &v) && eq(v, "1"));
	assert_true(sipmsg_param(ps, "b", &v) && eq(v, "two"));
	assert_true(sipmsg_param(ps, "c", &v) && v.len == 0);
	assert_true(sipmsg_param(ps, "d", &v) && eq(v, "\"x;y\""));
	assert_false(sipmsg_param(ps, "y", &v));
}

static void
reply_check(const char *req, const char *ip, uint16_t port,
    const char *want)
{
	char out[2048];
	struct sip_reply r;
	struct sipmsg m;
	ssize_t n;

	assert_true(scan(req, SIPMSG_DGRAM, &m) > 0);
	memset(&r, 0, sizeof(r));
	r.code = 404;
	r.reason = "Not Found";
	r.src_ip = ip;
	r.src_port = port;
	r.to_tag = SLICE("tt");
	r.server = SLICE("usher/test");
	r.extra = SLICE("Retry-After: 5\r\n");
	n = sipmsg_reply(&m, &r, out, sizeof(out));
	assert_true(n > 0);
	out[n] = '\0';
	assert_string_equal(out, want);
	/* Too small a buffer is refused, never overrun. */
	assert_int_equal(sipmsg_reply(&m, &r, out, (size_t)n - 1), -1);
}

static void
test_reply(void **state)
{
	(void)state;
	/* sent-by is the source: no received */
	reply_check("INVITE sip:b@example.com SIP/2.0\r\n" BASE_HDRS "\r\n",
	    "192.0.2.1", 5070,
	    "SIP/2.0 404 Not Found\r\n"
	    "Via: SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK-1\r\n"
	    "From: \"A, B\" <sip:a@example.com>;tag=f1\r\n"
	    "To: <sip:bob@example.com>;tag=tt\r\n"
	    "Call-ID: c1@192.0.2.1\r\nCSeq: 7 INVITE\r\n"
	    "Server: usher/test\r\nRetry-After: 5\r\n"
	    "Content-Length: 0\r\n\r\n");
	/* rport filled, received added, existing received replaced, second
	 * Via line copied as is, To tag kept */
	reply_check("OPTIONS sip:b@example.com SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP h.example.com;received=1.2.3.4;rport;"
	    "branch=z9hG4bKx\r\n"
	    "Via: SIP/2.0/UDP 10.0.0.1\r\n"
	    "From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=keep\r\n"
	    "Call-ID: c\r\nCSeq: 2 OPTIONS\r\n\r\n", "198.51.100.7", 40000,
	    "SIP/2.0 404 Not Found\r\n"
	    "Via: SIP/2.0/UDP h.example.com;branch=z9hG4bKx"
	    ";received=198.51.100.7;rport=40000\r\n"
	    "Via: SIP/2.0/UDP 10.0.0.1\r\n"
	    "From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=keep\r\n"
	    "Call-ID: c\r\nCSeq: 2 OPTIONS\r\n"
	    "Server: usher/test\r\nRetry-After: 5\r\n"
	    "Content-Length: 0\r\n\r\n");
}

static void
test_splice(void **state)
{
	const char *msg = "INVITE sip:b@example.com SIP/2.0\r\n" BASE_HDRS
	    "\r\n";
	struct sip_edits ed;
	struct sipmsg m;
	char out[1024];
	ssize_t n;

	(void)state;
	assert_true(scan(msg, SIPMSG_DGRAM, &m) > 0);
	sipmsg_edits_init(&ed);
	/* added out of order; same-offset inserts keep their order */
	assert_int_equal(sipmsg_edit(&ed, 7, 17, "sip:x@y", 7), 0);
	assert_int_equal(sipmsg_edit(&ed, 34, 0, "A: 1\r\n", 6), 0);
	assert_int_equal(sipmsg_edit(&ed, 0, 0, ">", 1), 0);
	assert_int_equal(sipmsg_edit(&ed, 34, 0, "B: 2\r\n", 6), 0);
	/* overlapping deletions and an insert inside a deletion: refused */
	assert_int_equal(sipmsg_edit(&ed, 10, 2, NULL, 0), -1);
	assert_int_equal(sipmsg_edit(&ed, 9, 0, "x", 1), -1);
	n = sipmsg_splice(&m, &ed, out, sizeof(out));
	assert_true(n > 0);
	out[n] = '\0';
	assert_string_equal(out, ">INVITE sip:x@y SIP/2.0\r\nA: 1\r\nB: 2\r\n"
	    BASE_HDRS "\r\n");
	assert_int_equal(sipmsg_splice(&m, &ed, out, (size_t)n - 1), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scan_ok),
		cmocka_unit_test(test_scan_faults),
		cmocka_unit_test(test_scan_stream),
		cmocka_unit_test(test_uri),
		cmocka_unit_test(test_param),
		cmocka_unit_test(test_reply),
		cmocka_unit_test(test_splice),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
