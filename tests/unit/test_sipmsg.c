/* test_sipmsg.c: the scanner, URI and Via decoding, replies and splicing. */
#include <sys/types.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sipmsg.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

#define RLINE	"INVITE sip:bob@example.com SIP/2.0\r\n"
#define VIA1	"Via: SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK-1\r\n"
#define FROM1	"From: \"A, B\" <sip:a@example.com>;tag=f1\r\n"
#define TO1	"To: <sip:bob@example.com>\r\n"
#define CID1	"Call-ID: c1@192.0.2.1\r\n"
#define CSEQ1	"CSeq: 7 INVITE\r\n"
#define BASE_HDRS	VIA1 FROM1 TO1 CID1 CSEQ1

static ssize_t
scan(const char *s, int mode, struct sipmsg *m)
{
	return sipmsg_scan(s, strlen(s), mode, m);
}

/* A slice equals a C string; want NULL means "absent" (p == NULL). */
static bool
eq(struct slice s, const char *want)
{
	if (want == NULL)
		return s.p == NULL;
	return s.len == strlen(want) && (s.len == 0 ||
	    memcmp(s.p, want, s.len) == 0);
}

#define assert_slice(s, want) do {					\
	if (!eq((s), (want)))						\
		fail_msg("%s: got \"%.*s\", want \"%s\"", #s,		\
		    (int)(s).len, (s).p ? (s).p : "", (want) ? (want) :	\
		    "(absent)");					\
} while (0)

/* ---- the scanner: one message with every header kind ---- */

static void
test_scan_all_kinds(void **state)
{
	struct sipmsg m;
	const char *msg =
	    "\r\n\r\nINVITE sip:bob@example.com;user=phone SIP/2.0\r\n"
	    "v: SIP/2.0/UDP 192.0.2.1;rport;branch=z9hG4bKa , "
	    "SIP/2.0/TCP [2001:db8::1]:5061;received=10.0.0.1\r\n"
	    "VIA: SIP / 2.0 / UDP\r\n h.example.com;branch=x\r\n"
	    "f: <sip:a@example.com>;tag=abc\r\n"
	    "t: \"Bob, the \\\"B\\\"\" <sip:bob@example.com>\r\n"
	    "i: call-1\r\n"
	    "CSEQ:  0009\r\n INVITE\r\n"
	    "max-forwards: 0068\r\n"
	    "Route: <sip:p1.example.com;lr>,"
	    " \"x,y\" <sip:p2.example.com;lr>\r\n"
	    "route: <sip:x,y@p3.example.com;lr>\r\n"
	    "Proxy-Require: foo, bar\r\n"
	    "Contact: <sip:a@192.0.2.1>;;;,junk\r\n"	/* not ours */
	    "User-Agent: friendly-scanner\r\n"
	    "User-Agent: second\r\n"
	    "l: 4\r\n\r\nbodyTRAILING";
	ssize_t rc;

	(void)state;
	rc = scan(msg, SIPMSG_DGRAM, &m);
	assert_null(m.fault);
	assert_int_equal(rc, (ssize_t)(strlen(msg) - strlen("TRAILING")));
	assert_ptr_equal(m.buf, msg + 4);
	assert_int_equal(m.len, strlen(msg) - 4 - strlen("TRAILING"));
	assert_true(m.is_request && m.hdr_complete);
	assert_int_equal(m.mid, SIP_INVITE);
	assert_slice(m.method, "INVITE");
	assert_slice(m.ruri_text, "sip:bob@example.com;user=phone");
	assert_slice(m.version, "SIP/2.0");
	assert_true(m.ruri.is_sip && m.ruri.user_phone);
	assert_slice(m.ruri.user, "bob");
	assert_slice(m.ruri.host, "example.com");

	assert_int_equal(m.nvia_hdr, 2);
	assert_int_equal(m.nvia, 3);
	assert_slice(m.via_hdr[1].line,
	    "VIA: SIP / 2.0 / UDP\r\n h.example.com;branch=x");
	assert_true(m.via[0].has_rport);
	assert_slice(m.via[0].rport, "");
	assert_slice(m.via[0].branch, "z9hG4bKa");
	assert_slice(m.via[0].value,
	    "SIP/2.0/UDP 192.0.2.1;rport;branch=z9hG4bKa");
	assert_slice(m.via[1].host, "[2001:db8::1]");
	assert_int_equal(m.via[1].port, 5061);
	assert_int_equal(m.via[1].tp, SIP_TP_TCP);
	assert_slice(m.via[1].received, "10.0.0.1");
	assert_slice(m.via[2].host, "h.example.com");

	assert_slice(m.from_tag, "abc");
	assert_slice(m.to_tag, NULL);
	assert_slice(m.to.value,
	    "\"Bob, the \\\"B\\\"\" <sip:bob@example.com>");
	assert_slice(m.to_uri.user, "bob");
	assert_slice(m.callid.value, "call-1");
	assert_int_equal(m.cseq_num, 9);
	assert_slice(m.cseq_method, "INVITE");
	assert_int_equal(m.max_forwards, 68);
	assert_slice(m.max_fwd.value, "0068");

	assert_int_equal(m.nroute_hdr, 2);
	assert_int_equal(m.nroute, 3);
	assert_slice(m.route[1], "\"x,y\" <sip:p2.example.com;lr>");
	assert_slice(m.route_uri[1].host, "p2.example.com");
	assert_slice(m.route_uri[1].all, "sip:p2.example.com;lr");
	assert_true(m.route_uri[2].lr);
	assert_slice(m.route_uri[2].user, "x,y");	/* no split inside <> */

	assert_int_equal(m.npreq, 2);
	assert_slice(m.proxy_require[0], "foo");
	assert_slice(m.proxy_require[1], "bar");
	assert_slice(m.user_agent.value, "friendly-scanner");
	assert_int_equal(m.content_length, 4);
	assert_memory_equal(m.buf + m.body_off, "body", 4);
}

/* ---- the scanner, table-driven ---- */

enum want { OK, FAULT, PARTIAL, KEEPALIVE };

static const struct scan_case {
	const char	*name;
	const char	*msg;
	int		 mode;
	enum want	 want;
	const char	*fault;		/* exact reason for FAULT */
} scan_cases[] = {
	/* well formed */
	{ "compact forms", "OPTIONS sip:x@example.com SIP/2.0\r\n"
	  "v: SIP/2.0/UDP h\r\nf: <sip:a@x>;tag=1\r\nt: sip:b@x\r\n"
	  "i: c\r\nCSeq: 1 OPTIONS\r\nl: 0\r\n\r\n", SIPMSG_STREAM, OK, NULL },
	{ "names in any case, LWS before colon",
	  "OPTIONS sip:x@example.com SIP/2.0\r\n"
	  "vIa  : SIP/2.0/UDP h\r\nFROM\t: <sip:a@x>;tag=1\r\n"
	  "tO : sip:b@x\r\nCALL-id: c\r\ncseq: 1 OPTIONS\r\n"
	  "CONTENT-LENGTH : 0\r\n\r\n", SIPMSG_STREAM, OK, NULL },
	{ "bare LF line ends", "OPTIONS sip:x@example.com SIP/2.0\n"
	  "Via: SIP/2.0/UDP h\nFrom: <sip:a@x>;tag=1\nTo: sip:b@x\n"
	  "Call-ID: c\nCSeq: 1 OPTIONS\nContent-Length: 0\n\n",
	  SIPMSG_STREAM, OK, NULL },
	{ "unknown method, escaped-looking token",
	  "RE%47IST%45R sip:x@example.com SIP/2.0\r\n" BASE_HDRS "\r\n",
	  SIPMSG_DGRAM, OK, NULL },
	{ "other version is routing's 505", "INVITE sip:b@x SIP/7.0\r\n"
	  BASE_HDRS "\r\n", SIPMSG_DGRAM, OK, NULL },
	{ "unknown scheme is routing's 416",
	  "INVITE nobodyKnowsThisScheme:opaque SIP/2.0\r\n" BASE_HDRS "\r\n",
	  SIPMSG_DGRAM, OK, NULL },
	{ "empty unknown header, no empty line in a datagram",
	  RLINE BASE_HDRS "Subject:\r\nX-Odd: ;;,,;", SIPMSG_DGRAM, OK, NULL },
	{ "Max-Forwards 0 is routing's 483", RLINE BASE_HDRS
	  "Max-Forwards: 0\r\n\r\n", SIPMSG_DGRAM, OK, NULL },
	{ "CSeq 2**32-1", RLINE VIA1 FROM1 TO1 CID1
	  "CSeq: 4294967295 INVITE\r\n\r\n", SIPMSG_DGRAM, OK, NULL },
	{ "response", "SIP/2.0 180 Ringing\r\n" BASE_HDRS "\r\n",
	  SIPMSG_DGRAM, OK, NULL },
	{ "bracketed IPv6 Request-URI",
	  "REGISTER sip:[2001:db8::10] SIP/2.0\r\n" BASE_HDRS "\r\n",
	  SIPMSG_DGRAM, OK, NULL },
	{ "To with display name and no LWS before <",
	  RLINE VIA1 FROM1 "To: \"caller\"<sip:bob@example.com>\r\n" CID1
	  CSEQ1 "\r\n", SIPMSG_DGRAM, OK, NULL },

	/* keep-alives and partial input */
	{ "CRLF only", "\r\n\r\n", SIPMSG_DGRAM, KEEPALIVE, NULL },
	{ "CRLF only, stream", "\r\n", SIPMSG_STREAM, KEEPALIVE, NULL },
	{ "no empty line yet", RLINE BASE_HDRS, SIPMSG_STREAM, PARTIAL, NULL },
	{ "body short", RLINE BASE_HDRS "Content-Length: 5\r\n\r\nabc",
	  SIPMSG_STREAM, PARTIAL, NULL },

	/* the Request-Line (RFC 4475 §3.1.2.7 - 3.1.2.11) */
	{ "two SP", "INVITE  sip:b@example.com SIP/2.0\r\n" BASE_HDRS "\r\n",
	  SIPMSG_DGRAM, FAULT, "Bad Request-Line" },
	{ "SP at the end", "INVITE sip:b@example.com SIP/2.0 \r\n" BASE_HDRS
	  "\r\n", SIPMSG_DGRAM, FAULT, "Bad Request-Line" },
	{ "LWS in the URI", "INVITE sip:b@example.com; lr SIP/2.0\r\n"
	  BASE_HDRS "\r\n", SIPMSG_DGRAM, FAULT, "Bad Request-Line" },
	{ "tab in the URI", "INVITE sip:b@exa\tmple.com SIP/2.0\r\n"
	  BASE_HDRS "\r\n", SIPMSG_DGRAM, FAULT, "Bad Request-URI" },
	{ "no version", "INVITE sip:b@example.com\r\n" BASE_HDRS "\r\n",
	  SIPMSG_DGRAM, FAULT, "Bad Request-Line" },
	{ "bad version", "INVITE sip:b@example.com SIP/2\r\n" BASE_HDRS
	  "\r\n", SIPMSG_DGRAM, FAULT, "Bad Request-Line" },
	{ "method not a token", "INV@TE sip:b@example.com SIP/2.0\r\n"
	  BASE_HDRS "\r\n", SIPMSG_DGRAM, FAULT, "Bad Request-Line" },
	{ "URI in <>", "INVITE <sip:b@example.com> SIP/2.0\r\n" BASE_HDRS
	  "\r\n", SIPMSG_DGRAM, FAULT, "Bad Request-URI" },
	{ "escaped headers",
	  "INVITE sip:b@example.com?Route=%3Csip:x%3E SIP/2.0\r\n" BASE_HDRS
	  "\r\n", SIPMSG_DGRAM, FAULT, "Request-URI has escaped headers" },
	{ "unbracketed IPv6", "REGISTER sip:2001:db8::10 SIP/2.0\r\n"
	  BASE_HDRS "\r\n", SIPMSG_DGRAM, FAULT, "Bad Request-URI" },
	{ "port out of range", "INVITE sip:b@example.com:65536 SIP/2.0\r\n"
	  BASE_HDRS "\r\n", SIPMSG_DGRAM, FAULT, "Bad Request-URI" },

	/* the Status-Line */
	{ "status with 10 digits (RFC 4475 bigcode)",
	  "SIP/2.0 4294967301 better not break\r\n" BASE_HDRS "\r\n",
	  SIPMSG_DGRAM, FAULT, "Bad Status-Line" },
	{ "status with 2 digits", "SIP/2.0 20 OK\r\n" BASE_HDRS "\r\n",
	  SIPMSG_DGRAM, FAULT, "Bad Status-Line" },
	{ "status not a number", "SIP/2.0 2x0 OK\r\n" BASE_HDRS "\r\n",
	  SIPMSG_DGRAM, FAULT, "Bad Status-Line" },

	/* missing and repeated headers */
	{ "missing Via", "INVITE sip:b@x SIP/2.0\r\n" FROM1 TO1 CID1 CSEQ1
	  "\r\n", SIPMSG_DGRAM, FAULT, "Missing Via" },
	{ "missing From", "INVITE sip:b@x SIP/2.0\r\n" VIA1 TO1 CID1 CSEQ1
	  "\r\n", SIPMSG_DGRAM, FAULT, "Missing From" },
	{ "missing To", "INVITE sip:b@x SIP/2.0\r\n" VIA1 FROM1 CID1 CSEQ1
	  "\r\n", SIPMSG_DGRAM, FAULT, "Missing To" },
	{ "missing Call-ID", "INVITE sip:b@x SIP/2.0\r\n" VIA1 FROM1 TO1
	  CSEQ1 "\r\n", SIPMSG_DGRAM, FAULT, "Missing Call-ID" },
	{ "missing CSeq", "INVITE sip:b@x SIP/2.0\r\n" VIA1 FROM1 TO1 CID1
	  "\r\n", SIPMSG_DGRAM, FAULT, "Missing CSeq" },
	{ "two Call-IDs", RLINE BASE_HDRS "i: again\r\n\r\n", SIPMSG_DGRAM,
	  FAULT, "Multiple Call-ID headers" },
	{ "two To", RLINE BASE_HDRS "t: <sip:c@x>\r\n\r\n", SIPMSG_DGRAM,
	  FAULT, "Multiple To headers" },
	{ "two From", RLINE BASE_HDRS "From: <sip:c@x>;tag=2\r\n\r\n",
	  SIPMSG_DGRAM, FAULT, "Multiple From headers" },
	{ "two CSeq", RLINE BASE_HDRS "CSeq: 8 INVITE\r\n\r\n", SIPMSG_DGRAM,
	  FAULT, "Multiple CSeq headers" },
	{ "two Max-Forwards", RLINE BASE_HDRS
	  "Max-Forwards: 70\r\nMax-Forwards: 70\r\n\r\n", SIPMSG_DGRAM,
	  FAULT, "Multiple Max-Forwards headers" },

	/* malformed values */
	{ "Via ;;,", RLINE "Via: SIP/2.0/UDP 192.0.2.1;;,\r\n" FROM1 TO1 CID1
	  CSEQ1 "\r\n", SIPMSG_DGRAM, FAULT, "Malformed Via" },
	{ "Via empty value", RLINE "Via: SIP/2.0/UDP h, ,SIP/2.0/UDP g\r\n"
	  FROM1 TO1 CID1 CSEQ1 "\r\n", SIPMSG_DGRAM, FAULT, "Malformed Via" },
	{ "Via unbracketed IPv6", RLINE "Via: SIP/2.0/UDP 2001:db8::1\r\n"
	  FROM1 TO1 CID1 CSEQ1 "\r\n", SIPMSG_DGRAM, FAULT, "Malformed Via" },
	{ "Via without transport", RLINE "Via: SIP/2.0 h\r\n" FROM1 TO1 CID1
	  CSEQ1 "\r\n", SIPMSG_DGRAM, FAULT, "Malformed Via" },
	{ "Via rport not a port", RLINE "Via: SIP/2.0/UDP h;rport=x\r\n"
	  FROM1 TO1 CID1 CSEQ1 "\r\n", SIPMSG_DGRAM, FAULT, "Malformed Via" },
	{ "CSeq over 2**32-1", RLINE VIA1 FROM1 TO1 CID1
	  "CSeq: 4294967296 INVITE\r\n\r\n", SIPMSG_DGRAM, FAULT, "Bad CSeq" },
	{ "CSeq without method", RLINE VIA1 FROM1 TO1 CID1 "CSeq: 4\r\n\r\n",
	  SIPMSG_DGRAM, FAULT, "Bad CSeq" },
	{ "CSeq without LWS", RLINE VIA1 FROM1 TO1 CID1
	  "CSeq: 4INVITE\r\n\r\n", SIPMSG_DGRAM, FAULT, "Bad CSeq" },
	{ "CSeq with junk", RLINE VIA1 FROM1 TO1 CID1
	  "CSeq: 4 INVITE x\r\n\r\n", SIPMSG_DGRAM, FAULT, "Bad CSeq" },
	{ "CSeq negative", RLINE VIA1 FROM1 TO1 CID1
	  "CSeq: -4 INVITE\r\n\r\n", SIPMSG_DGRAM, FAULT, "Bad CSeq" },
	{ "Max-Forwards 256", RLINE BASE_HDRS "Max-Forwards: 256\r\n\r\n",
	  SIPMSG_DGRAM, FAULT, "Bad Max-Forwards" },
	{ "Max-Forwards not a number", RLINE BASE_HDRS
	  "Max-Forwards: 7a\r\n\r\n", SIPMSG_DGRAM, FAULT, "Bad Max-Forwards" },
	{ "Max-Forwards empty", RLINE BASE_HDRS "Max-Forwards:\r\n\r\n",
	  SIPMSG_DGRAM, FAULT, "Bad Max-Forwards" },
	{ "Call-ID with a space", RLINE VIA1 FROM1 TO1 "Call-ID: a b\r\n"
	  CSEQ1 "\r\n", SIPMSG_DGRAM, FAULT, "Malformed Call-ID" },
	{ "To with an open quote", RLINE VIA1 FROM1
	  "To: \"Mr. J. User <sip:j@example.com>\r\n" CID1 CSEQ1 "\r\n",
	  SIPMSG_DGRAM, FAULT, "Malformed To" },
	{ "To with two values", RLINE VIA1 FROM1
	  "To: <sip:a@x>, <sip:b@x>\r\n" CID1 CSEQ1 "\r\n", SIPMSG_DGRAM,
	  FAULT, "Malformed To" },
	{ "To with a bad URI", RLINE VIA1 FROM1 "To: <sip:a@>\r\n" CID1 CSEQ1
	  "\r\n", SIPMSG_DGRAM, FAULT, "Malformed To" },
	{ "From tag without value", RLINE VIA1
	  "From: <sip:a@x>;tag\r\n" TO1 CID1 CSEQ1 "\r\n", SIPMSG_DGRAM,
	  FAULT, "Malformed From" },
	{ "Route without <>", RLINE BASE_HDRS "Route: sip:x;lr\r\n\r\n",
	  SIPMSG_DGRAM, FAULT, "Malformed Route" },
	{ "header without colon", RLINE BASE_HDRS "Garbage\r\n\r\n",
	  SIPMSG_DGRAM, FAULT, "Malformed header line" },

	/* framing (RFC 3261 §18.3, RFC 4475 clerr, ncl, mcl01) */
	{ "Content-Length negative", RLINE BASE_HDRS
	  "Content-Length: -999\r\n\r\n", SIPMSG_DGRAM, FAULT,
	  "Bad Content-Length" },
	{ "Content-Length not a number", RLINE BASE_HDRS
	  "Content-Length: 1O\r\n\r\n", SIPMSG_STREAM, FAULT,
	  "Bad Content-Length" },
	{ "Content-Length huge", RLINE BASE_HDRS
	  "Content-Length: 99999999999999999999\r\n\r\n", SIPMSG_STREAM, FAULT,
	  "Bad Content-Length" },
	{ "Content-Length twice", RLINE BASE_HDRS
	  "Content-Length: 5\r\nl: 3\r\n\r\nabcde", SIPMSG_DGRAM, FAULT,
	  "Multiple Content-Length headers" },
	{ "Content-Length twice, stream, body short", RLINE BASE_HDRS
	  "Content-Length: 5\r\nl: 5\r\n\r\nab", SIPMSG_STREAM, FAULT,
	  "Multiple Content-Length headers" },
	{ "Content-Length over the datagram", RLINE BASE_HDRS
	  "Content-Length: 50\r\n\r\nshort", SIPMSG_DGRAM, FAULT,
	  "Content-Length larger than datagram" },
	{ "no Content-Length on a stream", RLINE BASE_HDRS "\r\n",
	  SIPMSG_STREAM, FAULT, "Missing Content-Length" },

	/* the first fault wins */
	{ "first of two faults", "INVITE  sip:b@x SIP/2.0\r\n" VIA1 FROM1 TO1
	  CSEQ1 "\r\n", SIPMSG_DGRAM, FAULT, "Bad Request-Line" },
};

static void
test_scan_table(void **state)
{
	const struct scan_case *c;
	struct sipmsg m;
	ssize_t rc;
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(scan_cases); i++) {
		c = &scan_cases[i];
		rc = scan(c->msg, c->mode, &m);
		switch (c->want) {
		case OK:
			if (rc <= 0 || m.fault != NULL)
				fail_msg("%s: rc %zd, fault %s", c->name, rc,
				    m.fault ? m.fault : "(none)");
			break;
		case PARTIAL:
			if (rc != -2)
				fail_msg("%s: rc %zd, want -2", c->name, rc);
			break;
		case KEEPALIVE:
			if (rc != -1 || m.fault != NULL)
				fail_msg("%s: rc %zd, fault %s", c->name, rc,
				    m.fault ? m.fault : "(none)");
			break;
		case FAULT:
			if (rc != -1 || m.fault == NULL ||
			    strcmp(m.fault, c->fault) != 0)
				fail_msg("%s: rc %zd, fault \"%s\", want "
				    "\"%s\"", c->name, rc,
				    m.fault ? m.fault : "(none)", c->fault);
			break;
		}
	}
}

/* After -1 the fields a 400 needs are still there. */
static void
test_scan_fault_keeps_fields(void **state)
{
	struct sipmsg m;

	(void)state;
	assert_int_equal(scan("INVITE  sip:b@x SIP/2.0\r\n" BASE_HDRS
	    "Max-Forwards: 300\r\nContent-Length: 9\r\n\r\nab",
	    SIPMSG_DGRAM, &m), -1);
	assert_string_equal(m.fault, "Bad Request-Line");
	assert_true(sipmsg_can_reply(&m));
	assert_slice(m.callid.value, "c1@192.0.2.1");
	assert_int_equal(m.cseq_num, 7);
	assert_slice(m.via[0].host, "192.0.2.1");
	assert_slice(m.from_tag, "f1");

	/* a bad top Via: nothing to answer to */
	assert_int_equal(scan(RLINE "Via: SIP/2.0/UDP 2001:db8::1\r\n" VIA1
	    FROM1 TO1 CID1 CSEQ1 "\r\n", SIPMSG_DGRAM, &m), -1);
	assert_int_equal(m.nvia, 0);
	assert_int_equal(m.nvia_hdr, 2);
	assert_false(sipmsg_can_reply(&m));

	/* no Call-ID, From, To (RFC 4475 insuf): no reply either */
	assert_int_equal(scan(RLINE VIA1 CSEQ1 "\r\n", SIPMSG_DGRAM, &m), -1);
	assert_false(sipmsg_can_reply(&m));

	/* a response is never answered */
	assert_true(scan("SIP/2.0 200 OK\r\n" BASE_HDRS "\r\n", SIPMSG_DGRAM,
	    &m) > 0);
	assert_false(sipmsg_can_reply(&m));
}

static void
test_scan_status_line(void **state)
{
	static const struct {
		const char	*line;
		unsigned	 status;
		const char	*reason;
	} cases[] = {
		{ "SIP/2.0 200 OK", 200, "OK" },
		{ "SIP/2.0 100 ", 100, "" },	/* RFC 4475 noreason */
		{ "SIP/2.0 100", 100, "" },
		{ "SIP/2.0 486 Busy Here", 486, "Busy Here" },
		{ "sip/2.0 603 Decline", 603, "Decline" },
	};
	char buf[512];
	struct sipmsg m;
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		snprintf(buf, sizeof(buf), "%s\r\n" BASE_HDRS "\r\n",
		    cases[i].line);
		if (scan(buf, SIPMSG_DGRAM, &m) <= 0)
			fail_msg("%s: %s", cases[i].line, m.fault);
		assert_false(m.is_request);
		assert_int_equal(m.status, cases[i].status);
		assert_slice(m.reason, cases[i].reason);
	}
}

static void
test_scan_stream(void **state)
{
	const char *msg = "OPTIONS sip:x@example.com SIP/2.0\r\n" BASE_HDRS
	    "Content-Length: 3\r\n\r\nabcOPTIONS";
	size_t whole = strlen(msg) - strlen("OPTIONS"), n;
	struct sipmsg m;

	(void)state;
	/* Every cut short of the whole message is partial. */
	for (n = 1; n < whole; n++)
		if (sipmsg_scan(msg, n, SIPMSG_STREAM, &m) != -2)
			fail_msg("cut at %zu not partial", n);
	assert_int_equal(sipmsg_scan(msg, 0, SIPMSG_STREAM, &m), -1);
	assert_int_equal(sipmsg_scan(msg, whole, SIPMSG_STREAM, &m),
	    (ssize_t)whole);
	assert_int_equal(sipmsg_scan(msg, strlen(msg), SIPMSG_STREAM, &m),
	    (ssize_t)whole);
	/* Headers complete, body not: the length is known. */
	assert_int_equal(sipmsg_scan(msg, whole - 1, SIPMSG_STREAM, &m), -2);
	assert_true(m.hdr_complete);
	assert_int_equal(m.content_length, 3);
	assert_int_equal(m.body_off, whole - 3);
	/* Header not complete yet. */
	assert_int_equal(sipmsg_scan(msg, 40, SIPMSG_STREAM, &m), -2);
	assert_false(m.hdr_complete);
	/* A header fault with sound framing still consumes the message. */
	assert_int_equal(scan("OPTIONS sip:x@x SIP/2.0\r\n" BASE_HDRS
	    "Max-Forwards: 999\r\nContent-Length: 2\r\n\r\nab",
	    SIPMSG_STREAM, &m), -1);
	assert_string_equal(m.fault, "Bad Max-Forwards");
	assert_true(m.hdr_complete);
	assert_int_equal(m.content_length, 2);
	/* Framing lost: content_length tells the transport to close. */
	assert_int_equal(scan("OPTIONS sip:x@x SIP/2.0\r\n" BASE_HDRS
	    "Content-Length: 2\r\nContent-Length: 2\r\n\r\nab",
	    SIPMSG_STREAM, &m), -1);
	assert_int_equal(m.content_length, -1);
	/* Leading CRLFs are consumed with the message. */
	assert_int_equal(scan("\r\n\r\nOPTIONS sip:x@x SIP/2.0\r\n" BASE_HDRS
	    "l: 0\r\n\r\n", SIPMSG_STREAM, &m),
	    (ssize_t)strlen("\r\n\r\nOPTIONS sip:x@x SIP/2.0\r\n" BASE_HDRS
	    "l: 0\r\n\r\n"));
}

/* Bodies and quoted strings may hold NUL: lengths, never strlen. */
static void
test_scan_nul_bytes(void **state)
{
	static const char msg[] = "MESSAGE sip:b@x SIP/2.0\r\n" VIA1 FROM1
	    "To: \"N\0L\" <sip:b@x>\r\n" CID1 "CSeq: 1 MESSAGE\r\n"
	    "Content-Length: 5\r\n\r\na\0b\0c";
	struct sipmsg m;

	(void)state;
	assert_int_equal(sipmsg_scan(msg, sizeof(msg) - 1, SIPMSG_STREAM, &m),
	    (ssize_t)(sizeof(msg) - 1));
	assert_int_equal(m.mid, SIP_MESSAGE);
	assert_int_equal(m.len - m.body_off, 5);
	assert_memory_equal(m.buf + m.body_off, "a\0b\0c", 5);
	assert_slice(m.to_uri.user, "b");
}

/* Exact-size heap copies of every prefix, so ASan sees any read past len,
 * and the input is never written (it is compared afterwards). */
static void
test_scan_never_past_len(void **state)
{
	const char *msg = "\r\nINVITE sip:b@[2001:db8::1]:5060;lr SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP [2001:db8::2]:5070 ; rport ; branch = \"q\"\r\n"
	    " ,SIP/2.0/TCP h\r\n" FROM1 "To: sip:bob@x;tag=1\r\n" CID1 CSEQ1
	    "Route: <sip:r@x;lr>\r\nProxy-Require: a\r\nMax-Forwards: 1\r\n"
	    "Content-Length: 4\r\n\r\nbody";
	size_t len = strlen(msg), n;
	struct sipmsg m;
	char *copy;
	int mode;

	(void)state;
	for (mode = 0; mode < 2; mode++)
		for (n = 0; n <= len; n++) {
			copy = malloc(n ? n : 1);
			assert_non_null(copy);
			memcpy(copy, msg, n);
			(void)sipmsg_scan(copy, n, mode, &m);
			assert_memory_equal(copy, msg, n);
			free(copy);
		}
}

/* ---- URIs ---- */

static const struct uri_case {
	const char	*uri;
	int		 rc;
	bool		 is_sip;
	const char	*scheme, *user, *password, *host, *hostport;
	unsigned	 port;
	const char	*params, *headers;
	enum sip_transport tp;
	bool		 phone, lr;
} uri_cases[] = {
	{ "sip:alice@example.com", 0, true, "sip", "alice", "",
	  "example.com", "example.com", 0, "", "", SIP_TP_NONE, false, false },
	{ "SIPS:a:pw@h.example.com:5061;transport=TCP;lr", 0, true, "SIPS",
	  "a", "pw", "h.example.com", "h.example.com:5061", 5061,
	  ";transport=TCP;lr", "", SIP_TP_TCP, false, true },
	{ "sip:+1-555@x;user=phone", 0, true, "sip", "+1-555", "", "x", "x",
	  0, ";user=phone", "", SIP_TP_NONE, true, false },
	{ "sip:h;transport=udp;lr=on", 0, true, "sip", "", "", "h", "h", 0,
	  ";transport=udp;lr=on", "", SIP_TP_UDP, false, true },
	{ "sip:h;transport=sctp", 0, true, "sip", "", "", "h", "h", 0,
	  ";transport=sctp", "", SIP_TP_SCTP, false, false },
	{ "sip:h;transport=tls", 0, true, "sip", "", "", "h", "h", 0,
	  ";transport=tls", "", SIP_TP_TLS, false, false },
	{ "sip:h;transport=ws", 0, true, "sip", "", "", "h", "h", 0,
	  ";transport=ws", "", SIP_TP_OTHER, false, false },
	/* the first of a repeated parameter counts; names are whole */
	{ "sip:h;transport=tcp;transport=udp;user=ip;user=phone;lrx", 0, true,
	  "sip", "", "", "h", "h", 0,
	  ";transport=tcp;transport=udp;user=ip;user=phone;lrx", "",
	  SIP_TP_TCP, false, false },
	{ "sip:h;USER=Phone;LR", 0, true, "sip", "", "", "h", "h", 0,
	  ";USER=Phone;LR", "", SIP_TP_NONE, true, true },
	{ "sip:10.0.0.5:5060", 0, true, "sip", "", "", "10.0.0.5",
	  "10.0.0.5:5060", 5060, "", "", SIP_TP_NONE, false, false },
	/* RFC 5118 §4.1, 4.3, 4.4, 4.10 */
	{ "sip:[2001:db8::10]:5070", 0, true, "sip", "", "",
	  "[2001:db8::10]", "[2001:db8::10]:5070", 5070, "", "",
	  SIP_TP_NONE, false, false },
	{ "sip:[2001:db8::10:5070]", 0, true, "sip", "", "",
	  "[2001:db8::10:5070]", "[2001:db8::10:5070]", 0, "", "",
	  SIP_TP_NONE, false, false },
	{ "sip:user@[2001:db8:::192.0.2.1]", 0, true, "sip", "user", "",
	  "[2001:db8:::192.0.2.1]", "[2001:db8:::192.0.2.1]", 0, "", "",
	  SIP_TP_NONE, false, false },
	/* RFC 4475 semiuri, esc01, intmeth */
	{ "sip:user;par=u%40example.net@example.com", 0, true, "sip",
	  "user;par=u%40example.net", "", "example.com", "example.com", 0, "",
	  "", SIP_TP_NONE, false, false },
	{ "sips:sips%3Auser%40example.com@example.net", 0, true, "sips",
	  "sips%3Auser%40example.com", "", "example.net", "example.net", 0,
	  "", "", SIP_TP_NONE, false, false },
	{ "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,"
	  "weird!*pas$wo~d_too.(doesn't-it)@example.com", 0, true, "sip",
	  "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*",
	  "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)", "example.com",
	  "example.com", 0, "", "", SIP_TP_NONE, false, false },
	/* headers */
	{ "sip:b@example.com?Route=%3Csip:x%3E&x=y", 0, true, "sip", "b", "",
	  "example.com", "example.com", 0, "", "?Route=%3Csip:x%3E&x=y",
	  SIP_TP_NONE, false, false },
	{ "sip:b@h;lr?subject=x", 0, true, "sip", "b", "", "h", "h", 0,
	  ";lr", "?subject=x", SIP_TP_NONE, false, true },
	/* other schemes: scheme and all only */
	{ "tel:+15551234", 0, false, "tel", "", "", "", "", 0, "", "",
	  SIP_TP_NONE, false, false },
	{ "soap.beep://192.0.2.103:3002", 0, false, "soap.beep", "", "", "",
	  "", 0, "", "", SIP_TP_NONE, false, false },
	{ "isbn:2983792873", 0, false, "isbn", "", "", "", "", 0, "", "",
	  SIP_TP_NONE, false, false },
	/* bad */
	{ .uri = "sip:2001:db8::10", .rc = -1 },
	{ .uri = "sip:[2001:db8::10", .rc = -1 },
	{ .uri = "sip:[]", .rc = -1 },
	{ .uri = "sip:[192.0.2.1]", .rc = -1 },
	{ .uri = "sip:[2001:db8::g]", .rc = -1 },
	{ .uri = "sip:a@host:99999", .rc = -1 },
	{ .uri = "sip:a@host:0", .rc = -1 },
	{ .uri = "sip:a@host:", .rc = -1 },
	{ .uri = "sip:a@host/path", .rc = -1 },
	{ .uri = "sip:@host", .rc = -1 },
	{ .uri = "sip:a@", .rc = -1 },
	{ .uri = "sip:", .rc = -1 },
	{ .uri = "sip:a b@host", .rc = -1 },
	{ .uri = "sip:a@host>", .rc = -1 },
	{ .uri = ":nothing", .rc = -1 },
	{ .uri = "1sip:a@b", .rc = -1 },
	{ .uri = "nocolon", .rc = -1 },
	{ .uri = "", .rc = -1 },
};

static void
test_uri(void **state)
{
	const struct uri_case *c;
	struct sip_uri u;
	const char *why;
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < NELEM(uri_cases); i++) {
		c = &uri_cases[i];
		why = "unset";
		rc = sipmsg_uri_parse(slice_make(c->uri, strlen(c->uri)), &u,
		    &why);
		if (rc != c->rc)
			fail_msg("%s: rc %d, want %d", c->uri, rc, c->rc);
		if (rc == -1) {
			assert_non_null(why);
			continue;
		}
		assert_null(why);
		assert_slice(u.all, c->uri);
		assert_slice(u.scheme, c->scheme);
		assert_int_equal(u.is_sip, c->is_sip);
		assert_slice(u.user, c->is_sip ? c->user : NULL);
		assert_slice(u.password, c->is_sip ? c->password : NULL);
		if (!c->is_sip) {
			assert_null(u.host.p);
			continue;
		}
		assert_slice(u.host, c->host);
		assert_slice(u.hostport, c->hostport);
		assert_int_equal(u.port, c->port);
		if (!eq(u.params, c->params) && !(c->params[0] == '\0' &&
		    u.params.len == 0))
			fail_msg("%s: params %.*s", c->uri,
			    (int)u.params.len, u.params.p);
		if (u.headers.len != strlen(c->headers) ||
		    memcmp(u.headers.p ? u.headers.p : "", c->headers,
		    u.headers.len) != 0)
			fail_msg("%s: headers", c->uri);
		assert_int_equal(u.transport, c->tp);
		assert_int_equal(u.user_phone, c->phone);
		assert_int_equal(u.lr, c->lr);
	}
}

/* ---- Via ---- */

static const struct via_case {
	const char	*via;
	int		 rc;
	const char	*transport;
	enum sip_transport tp;
	const char	*host;
	unsigned	 port;
	const char	*branch, *received, *received_param;
	bool		 has_rport;
	const char	*rport, *rport_param;
} via_cases[] = {
	{ "SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK-1", 0, "UDP",
	  SIP_TP_UDP, "192.0.2.1", 5070, "z9hG4bK-1", "", "", false, "",
	  "" },
	{ "SIP/2.0/TCP h.example.com;rport;branch=z9hG4bKx", 0, "TCP",
	  SIP_TP_TCP, "h.example.com", 0, "z9hG4bKx", "", "", true, "",
	  ";rport" },
	{ "SIP/2.0/UDP h;received=1.2.3.4;rport=5061", 0, "UDP", SIP_TP_UDP,
	  "h", 0, "", "1.2.3.4", ";received=1.2.3.4", true, "5061",
	  ";rport=5061" },
	{ "SIP / 2.0 / TLS\r\n  spindle.example.com : 5061 ;\r\n  branch  ="
	  "   z9hG4bK9ikj8", 0, "TLS", SIP_TP_TLS, "spindle.example.com", 5061,
	  "z9hG4bK9ikj8", "", "", false, "", "" },
	{ "SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf", 0, "SCTP",
	  SIP_TP_SCTP, "t2.example.com", 0, "z9hG4bKklasjdhf", "", "", false,
	  "", "" },
	{ "SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en", 0,
	  "UNKNOWN", SIP_TP_OTHER, "t4.example.com", 0, "z9hG4bKasd0f3en", "",
	  "", false, "", "" },
	/* RFC 5118 §4.5: received with and without brackets */
	{ "SIP/2.0/UDP [2001:db8::9:1];received=[2001:db8::9:255];branch=b",
	  0, "UDP", SIP_TP_UDP, "[2001:db8::9:1]", 0, "b",
	  "[2001:db8::9:255]", ";received=[2001:db8::9:255]", false, "", "" },
	{ "SIP/2.0/UDP [2001:db8::9:1]:6050;received=2001:db8::9:255;branch=b",
	  0, "UDP", SIP_TP_UDP, "[2001:db8::9:1]", 6050, "b",
	  "2001:db8::9:255", ";received=2001:db8::9:255", false, "", "" },
	{ "SIP/2.0/UDP h;ReCeIvEd=1.2.3.4;RPORT;maddr=x;ttl=1;x=\"a;b\"", 0,
	  "UDP", SIP_TP_UDP, "h", 0, "", "1.2.3.4", ";ReCeIvEd=1.2.3.4", true,
	  "", ";RPORT" },
	{ "SIP/2.0/UDP h;rport ;branch=b", 0, "UDP", SIP_TP_UDP, "h", 0, "b",
	  "", "", true, "", ";rport" },
	/* bad */
	{ .via = "SIP/2.0/UDP 192.0.2.15;;", .rc = -1 },
	{ .via = "SIP/2.0/UDP", .rc = -1 },
	{ .via = "SIP/2.0/UDP ", .rc = -1 },
	{ .via = "SIP/2.0 h", .rc = -1 },
	{ .via = "SIP/2.0/UDPh", .rc = -1 },
	{ .via = "SIP/2.0/UDP 2001:db8::1", .rc = -1 },
	{ .via = "SIP/2.0/UDP h:0", .rc = -1 },
	{ .via = "SIP/2.0/UDP h junk", .rc = -1 },
	{ .via = "SIP/2.0/UDP h;branch=", .rc = -1 },
	{ .via = "SIP/2.0/UDP h;x=\"open", .rc = -1 },
	{ .via = "SIP/2.0/UDP h;rport=99999", .rc = -1 },
	{ .via = "SIP/2.0/UDP h;received=[::1", .rc = -1 },
};

static void
test_via(void **state)
{
	const struct via_case *c;
	struct sip_via v;
	const char *why;
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < NELEM(via_cases); i++) {
		c = &via_cases[i];
		rc = sipmsg_via_parse(slice_make(c->via, strlen(c->via)), &v,
		    &why);
		if (rc != c->rc)
			fail_msg("%s: rc %d, want %d", c->via, rc, c->rc);
		if (rc == -1) {
			assert_string_equal(why, "Malformed Via");
			continue;
		}
		assert_slice(v.value, c->via);
		assert_slice(v.transport, c->transport);
		assert_int_equal(v.tp, c->tp);
		assert_slice(v.host, c->host);
		assert_int_equal(v.port, c->port);
		assert_true(v.branch.len == strlen(c->branch) &&
		    (v.branch.len == 0 ||
		    memcmp(v.branch.p, c->branch, v.branch.len) == 0));
		assert_true(v.received.len == strlen(c->received) &&
		    (v.received.len == 0 || memcmp(v.received.p, c->received,
		    v.received.len) == 0));
		assert_true(v.received_param.len ==
		    strlen(c->received_param) && (v.received_param.len == 0 ||
		    memcmp(v.received_param.p, c->received_param,
		    v.received_param.len) == 0));
		assert_int_equal(v.has_rport, c->has_rport);
		assert_int_equal(v.rport.len, strlen(c->rport));
		assert_true(v.rport_param.len == strlen(c->rport_param) &&
		    (v.rport_param.len == 0 || memcmp(v.rport_param.p,
		    c->rport_param, v.rport_param.len) == 0));
	}
}

/* Several values per line, commas in quoted strings are no separators. */
static void
test_via_values(void **state)
{
	struct sipmsg m;

	(void)state;
	assert_true(scan(RLINE "Via: SIP/2.0/UDP a;x=\"1,2\";branch=b1,"
	    "SIP/2.0/UDP b , SIP/2.0/TCP c\r\n"
	    "v: SIP/2.0/UDP d\r\n" FROM1 TO1 CID1 CSEQ1 "\r\n",
	    SIPMSG_DGRAM, &m) > 0);
	assert_int_equal(m.nvia_hdr, 2);
	assert_int_equal(m.nvia, 4);
	assert_slice(m.via[0].value, "SIP/2.0/UDP a;x=\"1,2\";branch=b1");
	assert_slice(m.via[0].branch, "b1");
	assert_slice(m.via[1].host, "b");
	assert_slice(m.via[2].host, "c");
	assert_slice(m.via[3].host, "d");
	assert_slice(m.via_hdr[1].value, "SIP/2.0/UDP d");
}

/* ---- From / To ---- */

static const struct addr_case {
	const char	*to;
	const char	*tag;		/* NULL: none */
	const char	*user, *host;	/* of to_uri */
	bool		 is_sip;
} addr_cases[] = {
	{ "<sip:bob@example.com>", NULL, "bob", "example.com", true },
	{ "<sip:bob@example.com>;tag=t1", "t1", "bob", "example.com", true },
	{ "sip:bob@example.com;tag=t2", "t2", "bob", "example.com", true },
	{ "sip:bob@example.com", NULL, "bob", "example.com", true },
	{ "\"Bob <b>, Jr\" <sip:bob@h;lr>;TAG=t3", "t3", "bob", "h", true },
	{ "Bob Smith <sip:bob@h>", NULL, "bob", "h", true },
	{ "<sip:bob@h;tag=no>", NULL, "bob", "h", true },
	{ "\"x\"<sip:bob@h> ;\r\n tag = t4", "t4", "bob", "h", true },
	{ "< sip:t.watson@example.org >", NULL, "t.watson", "example.org",
	  true },					/* badaspec */
	{ "isbn:2983792873", NULL, "", "", false },	/* unksm2 */
	{ "<sip:null-%00-null@example.com>", NULL, "null-%00-null",
	  "example.com", true },			/* escnull */
};

static void
test_addr(void **state)
{
	const struct addr_case *c;
	struct sipmsg m;
	char buf[1024];
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(addr_cases); i++) {
		c = &addr_cases[i];
		snprintf(buf, sizeof(buf), RLINE VIA1 FROM1 "To: %s\r\n" CID1
		    CSEQ1 "\r\n", c->to);
		if (scan(buf, SIPMSG_DGRAM, &m) <= 0)
			fail_msg("To: %s: %s", c->to, m.fault);
		assert_slice(m.to_tag, c->tag);
		assert_int_equal(m.to_uri.is_sip, c->is_sip);
		if (c->is_sip) {
			assert_slice(m.to_uri.user, c->user);
			assert_slice(m.to_uri.host, c->host);
		}
		/* the same text as From */
		snprintf(buf, sizeof(buf), RLINE VIA1 TO1 "From: %s\r\n" CID1
		    CSEQ1 "\r\n", c->to);
		if (scan(buf, SIPMSG_DGRAM, &m) <= 0)
			fail_msg("From: %s: %s", c->to, m.fault);
		assert_slice(m.from_tag, c->tag);
	}
}

/* ---- parameters and methods ---- */

static void
test_param(void **state)
{
	static const struct {
		const char	*params, *name;
		bool		 found;
		const char	*val;
	} cases[] = {
		{ ";a=1; B = two ;c;d=\"x;y\"", "a", true, "1" },
		{ ";a=1; B = two ;c;d=\"x;y\"", "b", true, "two" },
		{ ";a=1; B = two ;c;d=\"x;y\"", "C", true, "" },
		{ ";a=1; B = two ;c;d=\"x;y\"", "d", true, "\"x;y\"" },
		{ ";a=1; B = two ;c;d=\"x;y\"", "y", false, NULL },
		{ ";a=1; B = two ;c;d=\"x;y\"", "x", false, NULL },
		{ ";transport=tcp;lr", "lr", true, "" },
		{ ";lrx", "lr", false, NULL },
		{ ";xlr", "lr", false, NULL },
		{ "tag=abc", "tag", true, "abc" },
		{ "", "tag", false, NULL },
		{ ";tag=a;tag=b", "tag", true, "a" },
	};
	struct slice v;
	size_t i;
	bool found;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		found = sipmsg_param(slice_make(cases[i].params,
		    strlen(cases[i].params)), cases[i].name, &v);
		if (found != cases[i].found)
			fail_msg("%s in %s: %d", cases[i].name,
			    cases[i].params, found);
		if (found)
			assert_slice(v, cases[i].val);
	}
	assert_false(sipmsg_param(SLICE_NULL, "tag", &v));
}

static void
test_method(void **state)
{
	static const struct {
		const char	*token;
		enum sip_method	 id;
	} cases[] = {
		{ "INVITE", SIP_INVITE }, { "ACK", SIP_ACK },
		{ "BYE", SIP_BYE },
		{ "CANCEL", SIP_CANCEL }, { "OPTIONS", SIP_OPTIONS },
		{ "REGISTER", SIP_REGISTER }, { "INFO", SIP_INFO },
		{ "UPDATE", SIP_UPDATE }, { "PRACK", SIP_PRACK },
		{ "SUBSCRIBE", SIP_SUBSCRIBE }, { "NOTIFY", SIP_NOTIFY },
		{ "MESSAGE", SIP_MESSAGE }, { "REFER", SIP_REFER },
		{ "PUBLISH", SIP_PUBLISH },
		{ "invite", SIP_OTHER }, { "RE%47IST%45R", SIP_OTHER },
		{ "INVITEX", SIP_OTHER }, { "INVIT", SIP_OTHER },
		{ "NEWMETHOD", SIP_OTHER }, { "", SIP_OTHER },
	};
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(cases); i++)
		if (sipmsg_method(slice_make(cases[i].token,
		    strlen(cases[i].token))) != cases[i].id)
			fail_msg("%s", cases[i].token);
}

/* ---- replies ---- */

static const struct reply_case {
	const char	*name;
	const char	*req;
	const char	*ip;
	uint16_t	 port;
	const char	*want;
} reply_cases[] = {
	{ "sent-by is the source: no received", RLINE BASE_HDRS "\r\n",
	  "192.0.2.1", 5070,
	  "SIP/2.0 404 Not Found\r\n" VIA1 FROM1
	  "To: <sip:bob@example.com>;tag=tt\r\n" CID1 CSEQ1
	  "Server: usher/test\r\nRetry-After: 5\r\nContent-Length: 0\r\n\r\n" },
	{ "sent-by is another address: received",
	  RLINE "Via: SIP/2.0/UDP h.example.com;branch=b1\r\n"
	  "Via: SIP/2.0/UDP 10.0.0.1\r\n" FROM1 TO1 CID1 CSEQ1 "\r\n",
	  "198.51.100.7", 5060,
	  "SIP/2.0 404 Not Found\r\n"
	  "Via: SIP/2.0/UDP h.example.com;branch=b1;received=198.51.100.7\r\n"
	  "Via: SIP/2.0/UDP 10.0.0.1\r\n" FROM1
	  "To: <sip:bob@example.com>;tag=tt\r\n" CID1 CSEQ1
	  "Server: usher/test\r\nRetry-After: 5\r\nContent-Length: 0\r\n\r\n" },
	{ "bare rport: filled in place, received added although sent-by "
	  "matches (RFC 3581)",
	  RLINE "v: SIP/2.0/UDP 192.0.2.1;rport;branch=b2\r\n" FROM1 TO1 CID1
	  CSEQ1 "\r\n", "192.0.2.1", 40000,
	  "SIP/2.0 404 Not Found\r\n"
	  "v: SIP/2.0/UDP 192.0.2.1;rport=40000;branch=b2;received=192.0.2.1"
	  "\r\n" FROM1 "To: <sip:bob@example.com>;tag=tt\r\n" CID1 CSEQ1
	  "Server: usher/test\r\nRetry-After: 5\r\nContent-Length: 0\r\n\r\n" },
	{ "rport last, existing received replaced, To tag kept",
	  "OPTIONS sip:b@example.com SIP/2.0\r\n"
	  "Via: SIP/2.0/UDP h.example.com;received=1.2.3.4;branch=x;rport\r\n"
	  "From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=keep\r\n"
	  "Call-ID: c\r\nCSeq: 2 OPTIONS\r\n\r\n", "198.51.100.7", 40000,
	  "SIP/2.0 404 Not Found\r\n"
	  "Via: SIP/2.0/UDP h.example.com;received=198.51.100.7;branch=x;"
	  "rport=40000\r\n"
	  "From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=keep\r\n"
	  "Call-ID: c\r\nCSeq: 2 OPTIONS\r\n"
	  "Server: usher/test\r\nRetry-After: 5\r\nContent-Length: 0\r\n\r\n" },
	{ "rport with a value is left alone",
	  RLINE "Via: SIP/2.0/UDP h;rport=7;branch=b\r\n" FROM1 TO1 CID1
	  CSEQ1 "\r\n", "10.1.1.1", 9,
	  "SIP/2.0 404 Not Found\r\n"
	  "Via: SIP/2.0/UDP h;rport=7;branch=b;received=10.1.1.1\r\n" FROM1
	  "To: <sip:bob@example.com>;tag=tt\r\n" CID1 CSEQ1
	  "Server: usher/test\r\nRetry-After: 5\r\nContent-Length: 0\r\n\r\n" },
	{ "IPv6: bracketed sent-by equals the source, addr-spec To",
	  RLINE "Via: SIP/2.0/UDP [2001:DB8::9:1]:5070;branch=b\r\n" FROM1
	  "t: sip:bob@x  \r\n" CID1 CSEQ1 "\r\n", "2001:db8::9:1", 5070,
	  "SIP/2.0 404 Not Found\r\n"
	  "Via: SIP/2.0/UDP [2001:DB8::9:1]:5070;branch=b\r\n" FROM1
	  "t: sip:bob@x;tag=tt\r\n" CID1 CSEQ1
	  "Server: usher/test\r\nRetry-After: 5\r\nContent-Length: 0\r\n\r\n" },
	{ "IPv6 received replaces a bracketed one (RFC 5118 §4.5)",
	  RLINE "Via: SIP/2.0/UDP [2001:db8::9:1];received=[2001:db8::9:255]"
	  ";branch=b\r\n" FROM1 TO1 CID1 CSEQ1 "\r\n", "2001:db8::7", 5060,
	  "SIP/2.0 404 Not Found\r\n"
	  "Via: SIP/2.0/UDP [2001:db8::9:1];received=2001:db8::7;branch=b\r\n"
	  FROM1 "To: <sip:bob@example.com>;tag=tt\r\n" CID1 CSEQ1
	  "Server: usher/test\r\nRetry-After: 5\r\nContent-Length: 0\r\n\r\n" },
	{ "folded lines copied verbatim, two values on the top line",
	  RLINE "Via: SIP/2.0/UDP a.example.com;branch=b ,\r\n"
	  " SIP/2.0/UDP 10.0.0.2\r\n" FROM1 TO1 CID1
	  "CSeq: 7\r\n INVITE\r\n\r\n", "10.0.0.9", 5060,
	  "SIP/2.0 404 Not Found\r\n"
	  "Via: SIP/2.0/UDP a.example.com;branch=b;received=10.0.0.9 ,\r\n"
	  " SIP/2.0/UDP 10.0.0.2\r\n" FROM1
	  "To: <sip:bob@example.com>;tag=tt\r\n" CID1 "CSeq: 7\r\n INVITE\r\n"
	  "Server: usher/test\r\nRetry-After: 5\r\nContent-Length: 0\r\n\r\n" },
};

static void
test_reply(void **state)
{
	const struct reply_case *c;
	struct sip_reply r;
	struct sipmsg m;
	char out[2048];
	ssize_t n;
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(reply_cases); i++) {
		c = &reply_cases[i];
		if (scan(c->req, SIPMSG_DGRAM, &m) <= 0)
			fail_msg("%s: scan: %s", c->name, m.fault);
		memset(&r, 0, sizeof(r));
		r.code = 404;
		r.reason = "Not Found";
		r.src_ip = c->ip;
		r.src_port = c->port;
		r.to_tag = SLICE("tt");
		r.server = SLICE("usher/test");
		r.extra = SLICE("Retry-After: 5\r\n");
		n = sipmsg_reply(&m, &r, out, sizeof(out));
		if (n < 0)
			fail_msg("%s: reply -1", c->name);
		if ((size_t)n != strlen(c->want) ||
		    memcmp(out, c->want, (size_t)n) != 0)
			fail_msg("%s:\n%.*s\nwant\n%s", c->name, (int)n, out,
			    c->want);
		/* every shorter buffer is refused, never overrun */
		for (; n > 0; n--)
			if (sipmsg_reply(&m, &r, out, (size_t)n - 1) != -1)
				fail_msg("%s: fits in %zd", c->name, n - 1);
	}
}

static void
test_reply_refused(void **state)
{
	struct sip_reply r;
	struct sipmsg m;
	char out[1024];

	(void)state;
	memset(&r, 0, sizeof(r));
	r.code = 400;
	r.reason = "Bad CSeq";
	/* a 400 for a faulty request, no source known: no received */
	assert_int_equal(scan(RLINE BASE_HDRS "Max-Forwards: x\r\n\r\n",
	    SIPMSG_DGRAM, &m), -1);
	assert_true(sipmsg_reply(&m, &r, out, sizeof(out)) > 0);
	assert_memory_equal(out, "SIP/2.0 400 Bad CSeq\r\n" VIA1, 22 +
	    strlen(VIA1));
	/* out-of-range code */
	r.code = 1000;
	assert_int_equal(sipmsg_reply(&m, &r, out, sizeof(out)), -1);
	/* nothing to answer */
	r.code = 400;
	assert_int_equal(scan(RLINE VIA1 CSEQ1 "\r\n", SIPMSG_DGRAM, &m), -1);
	assert_int_equal(sipmsg_reply(&m, &r, out, sizeof(out)), -1);
	assert_true(scan("SIP/2.0 200 OK\r\n" BASE_HDRS "\r\n", SIPMSG_DGRAM,
	    &m) > 0);
	assert_int_equal(sipmsg_reply(&m, &r, out, sizeof(out)), -1);
}

/* The same received/rport logic, as edits for forwarding. */
static void
test_edit_via_received(void **state)
{
	const char *req = RLINE
	    "Via: SIP/2.0/UDP h.example.com;rport;branch=b\r\n"
	    "Via: SIP/2.0/UDP 10.0.0.1\r\n" FROM1 TO1 CID1 CSEQ1 "\r\n";
	struct sip_edits ed;
	struct sip_via sent;
	char port[SIPMSG_PORT_TEXT];
	struct sipmsg m;
	char out[1024];
	ssize_t n;

	(void)state;
	assert_true(scan(req, SIPMSG_DGRAM, &m) > 0);
	sipmsg_edits_init(&ed);
	assert_int_equal(sipmsg_edit_via_received(&m, &ed, "203.0.113.5",
	    1234, &sent, port), 0);
	assert_int_equal(ed.n, 2);
	/* the Via as it leaves: what a response brings back, H1's input */
	assert_true(sent.has_rport);
	assert_true(slice_eq(sent.rport, SLICE("1234")));
	assert_true(slice_eq(sent.received, SLICE("203.0.113.5")));
	assert_true(slice_eq(sent.branch, SLICE("b")));
	assert_true(slice_eq(sent.host, SLICE("h.example.com")));
	n = sipmsg_splice(&m, &ed, out, sizeof(out));
	assert_true(n > 0);
	out[n] = '\0';
	assert_string_equal(out, RLINE
	    "Via: SIP/2.0/UDP h.example.com;rport=1234;branch=b;"
	    "received=203.0.113.5\r\n"
	    "Via: SIP/2.0/UDP 10.0.0.1\r\n" FROM1 TO1 CID1 CSEQ1 "\r\n");

	/* sent-by is the source, no rport: nothing to record */
	assert_true(scan(RLINE BASE_HDRS "\r\n", SIPMSG_DGRAM, &m) > 0);
	sipmsg_edits_init(&ed);
	assert_int_equal(sipmsg_edit_via_received(&m, &ed, "192.0.2.1", 1,
	    &sent, port), 0);
	assert_int_equal(ed.n, 0);
	assert_int_equal(sent.received.len, 0);
	assert_false(sent.has_rport);
	/* IPv4-mapped source against an IPv4 sent-by */
	assert_int_equal(sipmsg_edit_via_received(&m, &ed,
	    "::ffff:192.0.2.1", 1, NULL, NULL), 0);
	assert_int_equal(ed.n, 0);

	/* a full edit list is reported */
	sipmsg_edits_init(&ed);
	ed.n = SIPMSG_MAX_EDITS;
	assert_int_equal(sipmsg_edit_via_received(&m, &ed, "10.9.9.9", 1,
	    NULL, NULL), -1);
}

/* ---- edits and splicing ---- */

static void
test_splice(void **state)
{
	const char *msg = RLINE BASE_HDRS "\r\n";
	struct sip_edits ed;
	struct sipmsg m;
	char out[1024];
	ssize_t n;

	(void)state;
	assert_true(scan(msg, SIPMSG_DGRAM, &m) > 0);
	sipmsg_edits_init(&ed);
	/* added out of order; same-offset edits keep the order added */
	assert_int_equal(sipmsg_edit(&ed, 7, 19, "sip:x@y", 7), 0);
	assert_int_equal(sipmsg_edit(&ed, 36, 0, "A: 1\r\n", 6), 0);
	assert_int_equal(sipmsg_edit(&ed, 0, 0, ">", 1), 0);
	assert_int_equal(sipmsg_edit(&ed, 36, 0, "B: 2\r\n", 6), 0);
	/* at the end of the deletion, and at its start */
	assert_int_equal(sipmsg_edit(&ed, 26, 0, "!", 1), 0);
	assert_int_equal(sipmsg_edit(&ed, 7, 0, "<", 1), 0);
	/* overlapping deletions and an insert inside a deletion: refused */
	assert_int_equal(sipmsg_edit(&ed, 10, 2, NULL, 0), -1);
	assert_int_equal(sipmsg_edit(&ed, 5, 3, NULL, 0), -1);
	assert_int_equal(sipmsg_edit(&ed, 25, 5, NULL, 0), -1);
	assert_int_equal(sipmsg_edit(&ed, 9, 0, "x", 1), -1);
	/* a deletion around an insertion: refused */
	assert_int_equal(sipmsg_edit(&ed, 30, 10, NULL, 0), -1);
	assert_int_equal(ed.n, 6);
	n = sipmsg_splice(&m, &ed, out, sizeof(out));
	assert_true(n > 0);
	out[n] = '\0';
	assert_string_equal(out, ">INVITE sip:x@y<! SIP/2.0\r\nA: 1\r\nB: 2\r\n"
	    BASE_HDRS "\r\n");
	/* out too small: refused, whatever the size */
	for (; n > 0; n--)
		assert_int_equal(sipmsg_splice(&m, &ed, out, (size_t)n - 1),
		    -1);
	/* an edit past the message */
	assert_int_equal(sipmsg_edit(&ed, m.len + 1, 0, "x", 1), 0);
	assert_int_equal(sipmsg_splice(&m, &ed, out, sizeof(out)), -1);
}

static void
test_edit_limits(void **state)
{
	static char big[SIPMSG_EDIT_SPACE + 1];
	struct sip_edits ed;
	size_t i;

	(void)state;
	sipmsg_edits_init(&ed);
	for (i = 0; i < SIPMSG_MAX_EDITS; i++)
		assert_int_equal(sipmsg_edit(&ed, i * 2, 1, "x", 1), 0);
	assert_int_equal(sipmsg_edit(&ed, 1000, 0, "y", 1), -1);
	for (i = 1; i < ed.n; i++)
		assert_true(ed.e[i - 1].off < ed.e[i].off);

	sipmsg_edits_init(&ed);
	assert_int_equal(sipmsg_edit(&ed, 0, 0, big, sizeof(big)), -1);
	assert_int_equal(sipmsg_edit(&ed, 0, 0, big, sizeof(big) - 1), 0);
	assert_int_equal(sipmsg_edit(&ed, 0, 0, "z", 1), -1);
	/* the inserted bytes are copied, not referenced */
	big[0] = 'q';
	assert_int_equal(ed.e[0].ins.p[0], '\0');
	/* off + del wrapping around */
	sipmsg_edits_init(&ed);
	assert_int_equal(sipmsg_edit(&ed, 10, SIZE_MAX, NULL, 0), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scan_all_kinds),
		cmocka_unit_test(test_scan_table),
		cmocka_unit_test(test_scan_fault_keeps_fields),
		cmocka_unit_test(test_scan_status_line),
		cmocka_unit_test(test_scan_stream),
		cmocka_unit_test(test_scan_nul_bytes),
		cmocka_unit_test(test_scan_never_past_len),
		cmocka_unit_test(test_uri),
		cmocka_unit_test(test_via),
		cmocka_unit_test(test_via_values),
		cmocka_unit_test(test_addr),
		cmocka_unit_test(test_param),
		cmocka_unit_test(test_method),
		cmocka_unit_test(test_reply),
		cmocka_unit_test(test_reply_refused),
		cmocka_unit_test(test_edit_via_received),
		cmocka_unit_test(test_splice),
		cmocka_unit_test(test_edit_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
