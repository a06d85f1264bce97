/* test_route.c: the routing core, one table row per decision of SPEC §3 and
 * per "Other requests" bullet, in proxy and redirect mode. */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

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

#include "config.h"
#include "forward.h"
#include "hash.h"
#include "route.h"
#include "sipmsg.h"
#include "slice.h"
#include "table.h"

#ifndef TEST_SRC_DIR
#define TEST_SRC_DIR	"tests"
#endif
#define DATA_DIR	TEST_SRC_DIR "/unit/data"
#define CONF_PATH	DATA_DIR "/route.conf"
#define USERS_LINE	"users_file = \"route-users.txt\";"
#define USERS_ABS	"users_file = \"" DATA_DIR "/route-users.txt\";"

/* Sources: inside and outside `trusted` (10.0.0.0/8, 2001:db8:1::/48). */
#define UNTR	"198.51.100.7"
#define TRUS	"10.1.2.3"
#define UNTR6	"2001:db8:2::7"
#define TRUS6	"2001:db8:1::7"

#define P	1u	/* the row holds in proxy mode */
#define R	2u	/* ... in redirect mode */
#define PR	(P | R)
#define L	__LINE__

enum tri { ANY = 0, YES, NO };	/* a flag that is checked only when set */

static struct conf *conf_proxy, *conf_redirect, *conf_secret;

/* What build_msg() writes; NULL fields get the defaults shown there. */
struct msgspec {
	const char	*method;
	const char	*ruri;
	const char	*extra;		/* more header lines, each with CRLF */
	const char	*to;		/* To URI; NULL: the Request-URI */
	const char	*version;	/* NULL: SIP/2.0 */
	const char	*cseq;		/* CSeq method; NULL: method */
	const char	*mf;		/* Max-Forwards; NULL: 70, "": none */
	const char	*via;		/* Via lines with CRLF; NULL: one */
	const char	*to_tag;	/* NULL: none */
	const char	*callid;	/* NULL: a fixed one */
	unsigned	 cseq_num;	/* 0: 4711 */
};

struct row {
	int		 line;
	unsigned	 modes;
	const char	*src;
	struct msgspec	 q;

	enum route_action action;
	enum route_rule	 rule;
	unsigned	 code;		/* 0 for forward and non-local drops */
	const char	*drop;		/* drop_reason of a ROUTE_DROP */
	const char	*hop;		/* next_hop; required for a forward */
	const char	*uri;		/* route_target_uri(), NULL: any */
	const char	*dom;		/* domain name, "-": none, NULL: any */
	const char	*entry;		/* entry->user, "-": none, NULL: any */
	const char	*user;		/* normalised user, NULL: any */
	unsigned	 pop;		/* pop_routes, checked on a forward */
	bool		 strict;
	bool		 rewrite;
	bool		 contact;
	bool		 caps;
	bool		 unsup;
	uint32_t	 retry;
	enum tri	 self;
	enum tri	 alias;
	enum tri	 from_to;
	bool		 may_fault;	/* the scanner may call it bad */
};

/* The request of a row: method, then Request-URI and other fields. */
#define Q(m, ...)	{ .method = (m), .ruri = __VA_ARGS__ }

/* Routes used by several rows. */
#define RT_US		"Route: <sip:127.0.0.1:5060;lr>\r\n"
#define RT_US_PBX	"Route: <sip:127.0.0.1:5060;lr>, " \
			"<sip:10.0.0.5:5060;lr>\r\n"
#define PBX_CONTACT	"sip:alice@10.0.0.5:5060"
#define ALICE_T		"sip:alice@10.0.0.5:5060"

static const struct row rows[] = {
	/* SPEC §3 table, row by row. */
	{ L, P, UNTR, Q("INVITE", "sip:alice@example.com"),
	  .action = ROUTE_FORWARD, .rule = RULE_ACTIVE, .hop = ALICE_T,
	  .uri = ALICE_T, .rewrite = true, .dom = "example.com",
	  .entry = "alice", .user = "alice", .alias = NO, .self = NO },
	{ L, R, UNTR, Q("INVITE", "sip:alice@example.com"),
	  .action = ROUTE_REPLY, .rule = RULE_ACTIVE, .code = 302,
	  .contact = true, .uri = ALICE_T, .dom = "example.com",
	  .entry = "alice" },
	{ L, P, TRUS, Q("INVITE", "sip:alice@example.com"),
	  .action = ROUTE_FORWARD, .rule = RULE_ACTIVE, .hop = ALICE_T,
	  .rewrite = true, .entry = "alice" },
	{ L, P, UNTR6, Q("INVITE", "sip:alice@example.com"),
	  .action = ROUTE_FORWARD, .rule = RULE_ACTIVE, .hop = ALICE_T,
	  .rewrite = true, .entry = "alice" },
	{ L, PR, UNTR, Q("INVITE", "sip:dave@example.com"),
	  .action = ROUTE_REPLY, .rule = RULE_MOVED, .code = 301,
	  .contact = true, .uri = "sip:dave@partner.net",
	  .dom = "example.com", .entry = "dave" },
	{ L, PR, TRUS, Q("INVITE", "sip:dave@example.com"),
	  .action = ROUTE_REPLY, .rule = RULE_MOVED, .code = 301,
	  .contact = true, .uri = "sip:dave@partner.net" },
	{ L, PR, UNTR, Q("INVITE", "sip:carol@example.com"),
	  .action = ROUTE_REPLY, .rule = RULE_UNAVAILABLE, .code = 480,
	  .retry = 300, .entry = "carol" },
	{ L, PR, UNTR, Q("INVITE", "sip:ivan@example.com"),
	  .action = ROUTE_REPLY, .rule = RULE_UNAVAILABLE, .code = 480,
	  .retry = 0, .entry = "ivan" },
	{ L, PR, UNTR, Q("INVITE", "sip:bob@example.com"),
	  .action = ROUTE_REPLY, .rule = RULE_GONE_AUTH, .code = 604,
	  .dom = "example.com", .entry = "bob" },
	{ L, PR, TRUS6, Q("INVITE", "sip:bob@example.com"),
	  .action = ROUTE_REPLY, .rule = RULE_GONE_AUTH, .code = 604 },
	{ L, PR, UNTR, Q("INVITE", "sip:erin@partner.net"),
	  .action = ROUTE_REPLY, .rule = RULE_GONE_NONAUTH, .code = 404,
	  .dom = "partner.net", .entry = "erin" },
	{ L, PR, UNTR, Q("INVITE", "sip:nobody@closed.example.com"),
	  .action = ROUTE_REPLY, .rule = RULE_UNKNOWN_COMPLETE, .code = 604,
	  .dom = "closed.example.com", .entry = "-", .user = "nobody" },
	{ L, PR, UNTR, Q("INVITE", "sip:nobody@example.com"),
	  .action = ROUTE_REPLY, .rule = RULE_UNKNOWN, .code = 404,
	  .dom = "example.com", .entry = "-", .user = "nobody" },
	{ L, PR, TRUS, Q("INVITE", "sip:nobody@partner.net"),
	  .action = ROUTE_REPLY, .rule = RULE_UNKNOWN, .code = 404,
	  .dom = "partner.net", .entry = "-" },
	/* alice exists in example.com only */
	{ L, PR, UNTR, Q("INVITE", "sip:alice@closed.example.com"),
	  .action = ROUTE_REPLY, .rule = RULE_UNKNOWN_COMPLETE, .code = 604,
	  .entry = "-" },
	{ L, PR, UNTR, Q("MESSAGE", "sip:carol@example.com"),
	  .action = ROUTE_REPLY, .rule = RULE_UNAVAILABLE, .code = 480,
	  .retry = 300 },
	/* Unknown methods are routed like any other (SPEC §6). */
	{ L, P, UNTR, Q("FOO", "sip:alice@example.com"),
	  .action = ROUTE_FORWARD, .rule = RULE_ACTIVE, .hop = ALICE_T,
	  .rewrite = true },
	{ L, R, UNTR, Q("FOO", "sip:alice@example.com"),
	  .action = ROUTE_REPLY, .rule = RULE_ACTIVE, .code = 302,
	  .contact = true, .uri = ALICE_T },
	/* Require is for the UAS; only Proxy-Require concerns us. */
	{ L, P, UNTR, Q("INVITE", "sip:alice@example.com",
	  .extra = "Require: 100rel\r\nSupported: timer\r\n"),
	  .action = ROUTE_FORWARD, .rule = RULE_ACTIVE, .hop = ALICE_T,
	  .rewrite = true },

	/* Number blocks (SPEC §2): exact beats prefix, longest prefix wins,
	 * the dialled user goes into a target without one. */
	{ L, P, UNTR, Q("INVITE", "sip:+15559999@example.com"),
	  .action = ROUTE_FORWARD, .rule = RULE_ACTIVE,
	  .hop = "sip:10.0.0.9:5060", .uri = "sip:+15559999@10.0.0.9:5060",
	  .rewrite = true, .entry = "+1555", .user = "+15559999" },
	{ L, R, UNTR, Q("INVITE", "sip:+15559999@example.com"),
	  .action = ROUTE_REPLY, .rule = RULE_ACTIVE, .code = 302,
	  .contact = true, .uri = "sip:+15559999@10.0.0.9:5060",
	  .entry = "+1555" },
	{ L, P, UNTR, Q("INVITE", "sip:+1-555-1234@example.com;user=phone"),
	  .action = ROUTE_FORWARD, .rule = RULE_ACTIVE,
	  .hop = "sip:pbx3@10.0.0.11", .uri = "sip:pbx3@10.0.0.11",
	  .rewrite = true, .entry = "+15551234", .user = "+15551234" },
	{ L, R, UNTR, Q("INVITE", "sip:+1-555-1234@example.com;user=phone"),
	  .action = ROUTE_REPLY, .rule = RULE_ACTIVE, .code = 302,
	  .contact = true, .uri = "sip:pbx3@10.0.0.11",
	  .entry = "+15551234" },
	{ L, P, UNTR, Q("INVITE", "sip:+1-555-1999@example.com;user=phone"),
	  .action = ROUTE_FORWARD, .rule = RULE_ACTIVE,
	  .hop = "sip:10.0.0.10:5060", .uri = "sip:+15551999@10.0.0.10:5060",
	  .rewrite = true, .entry = "+15551", .user = "+15551999" },
	{ L, R, UNTR, Q("INVITE", "sip:+1-555-1999@example.com;user=phone"),
	  .action = ROUTE_REPLY, .rule = RULE_ACTIVE, .code = 302,
	  .contact = true, .uri = "sip:+15551999@10.0.0.10:5060",
	  .entry = "+15551" },
	{ L, P, UNTR, Q("INVITE", "sip:+1.555.(123)4@example.com;user=phone"),
	  .action = ROUTE_FORWARD, .rule = RULE_ACTIVE,
	  .hop = "sip:pbx3@10.0.0.11", .rewrite = true,
	  .entry = "+15551234", .user = "+15551234" },
	/* escaped spaces are visual separators once unescaped */
	{ L, P, UNTR, Q("INVITE", "sip:+1%20555%201999@example.com;user=phone"),
	  .action = ROUTE_FORWARD, .rule = RULE_ACTIVE,
	  .hop = "sip:10.0.0.10:5060", .uri = "sip:+15551999@10.0.0.10:5060",
	  .rewrite = true, .entry = "+15551", .user = "+15551999" },
	/* no user=phone: exact match as written, separators kept */
	{ L, P, UNTR, Q("INVITE", "sip:+15551234@example.com"),
	  .action = ROUTE_FORWARD, .rule = RULE_ACTIVE,
	  .hop = "sip:pbx3@10.0.0.11", .rewrite = true,
	  .entry = "+15551234" },
	{ L, PR, UNTR, Q("INVITE", "sip:+1-555-1234@example.com"),
	  .action = ROUTE_REPLY, .rule = RULE_UNKNOWN, .code = 404,
	  .entry = "-", .user = "+1-555-1234" },
	{ L, P, UNTR, Q("INVITE", "sip:+1555@example.com"),
	  .action = ROUTE_FORWARD, .rule = RULE_ACTIVE,
	  .hop = "sip:10.0.0.9:5060", .uri = "sip:+1555@10.0.0.9:5060",
	  .rewrite = true, .entry = "+1555" },
	{ L, PR, UNTR, Q("INVITE", "sip:+155@example.com"),
	  .action = ROUTE_REPLY, .rule = RULE_UNKNOWN, .code = 404,
	  .entry = "-" },
	/* prefix entries match any user part, telephone number or not */
	{ L, P, UNTR, Q("INVITE", "sip:+1555abc@example.com"),
	  .action = ROUTE_FORWARD, .rule = RULE_ACTIVE,
	  .hop = "sip:10.0.0.9:5060", .uri = "sip:+1555abc@10.0.0.9:5060",
	  .rewrite = true, .entry = "+1555" },
	/* the dialled user is escaped again where it has to be */
	{ L, P, UNTR, Q("INVITE", "sip:+1555%209@example.com"),
	  .action = ROUTE_FORWARD, .rule = RULE_ACTIVE,
	  .hop = "sip:10.0.0.9:5060", .uri = "sip:+1555%209@10.0.0.9:5060",
	  .rewrite = true, .entry = "+1555", .user = "+1555 9" },
	/* blocks belong to their domain */
	{ L, PR, UNTR, Q("INVITE", "sip:+15559999@partner.net"),
	  .action = ROUTE_REPLY, .rule = RULE_UNKNOWN, .code = 404,
	  .entry = "-" },

	/* Domain and user matching. */
	{ L, P, UNTR, Q("INVITE", "sip:alice@EXAMPLE.COM"),
	  .action = ROUTE_FORWARD, .rule = RULE_ACTIVE, .hop = ALICE_T,
	  .rewrite = true, .dom = "example.com", .alias = NO },
	{ L, PR, UNTR, Q("INVITE", "sip:bob@EXAMPLE.com"),
	  .action = ROUTE_REPLY, .rule = RULE_GONE_AUTH, .code = 604 },
	{ L, PR, UNTR, Q("INVITE", "sip:nobody@Closed.Example.COM"),
	  .action = ROUTE_REPLY, .rule = RULE_UNKNOWN_COMPLETE, .code = 604 },
	{ L, PR, UNTR, Q("INVITE", "sip:Alice@example.com"),
	  .action = ROUTE_REPLY, .rule = RULE_UNKNOWN, .code = 404,
	  .entry = "-", .user = "Alice" },
	{ L, P, UNTR, Q("INVITE", "sip:alice@192.0.2.10"),
	  .action = ROUTE_FORWARD, .rule = RULE_ACTIVE, .hop = ALICE_T,
	  .rewrite = true, .dom = "example.com", .alias = YES },
	{ L, R, UNTR, Q("INVITE", "sip:alice@192.0.2.10:5060"),
	  .action = ROUTE_REPLY, .rule = RULE_ACTIVE, .code = 302,
	  .contact = true, .uri = ALICE_T, .dom = "example.com",
	  .alias = YES },
	/* our own addresses are aliases of the first domain (SPEC §6) */
	{ L, P, UNTR, Q("INVITE", "sip:alice@127.0.0.1:5060"),
	  .action = ROUTE_FORWARD, .rule = RULE_ACTIVE, .hop = ALICE_T,
	  .rewrite = true, .dom = "example.com", .alias = YES, .self = NO },
	{ L, P, UNTR, Q("INVITE", "sip:alice@127.0.0.1"),
	  .action = ROUTE_FORWARD, .rule = RULE_ACTIVE, .hop = ALICE_T,
	  .rewrite = true, .dom = "example.com", .self = NO },
	{ L, P, UNTR6, Q("INVITE", "sip:alice@[::1]:5060"),
	  .action = ROUTE_FORWARD, .rule = RULE_ACTIVE, .hop = ALICE_T,
	  .rewrite = true, .dom = "example.com", .alias = YES },
	{ L, P, UNTR, Q("INVITE", "sip:alice@proxy.example.com"),
	  .action = ROUTE_FORWARD, .rule = RULE_ACTIVE, .hop = ALICE_T,
	  .rewrite = true, .dom = "example.com", .alias = YES },
	/* ... but only at a port we listen on: the same address at another
	 * port is another server, e.g. a PBX on this host (found by
	 * tests/sipp: the in-dialog BYE to its Contact got 404) */
	{ L, PR, UNTR, Q("INVITE", "sip:alice@127.0.0.1:5080"),
	  .action = ROUTE_REPLY, .rule = RULE_FOREIGN_UNTRUSTED, .code = 403,
	  .dom = "-", .self = NO },
	{ L, PR, UNTR6, Q("INVITE", "sip:alice@[::1]:5080"),
	  .action = ROUTE_REPLY, .rule = RULE_FOREIGN_UNTRUSTED, .code = 403,
	  .dom = "-", .self = NO },
	{ L, P, TRUS, Q("INVITE", "sip:alice@127.0.0.1:5080"),
	  .action = ROUTE_FORWARD, .rule = RULE_FOREIGN_TRUSTED,
	  .hop = "sip:alice@127.0.0.1:5080", .rewrite = false, .dom = "-" },
	{ L, P, TRUS, Q("BYE", "sip:pbx@127.0.0.1:5080", .extra = RT_US,
	  .to_tag = "p1"),
	  .action = ROUTE_FORWARD, .rule = RULE_FOREIGN_TRUSTED,
	  .hop = "sip:pbx@127.0.0.1:5080", .pop = 1, .dom = "-" },
	{ L, P, TRUS, Q("BYE", "sip:127.0.0.1:5080", .extra = RT_US,
	  .to_tag = "p1"),
	  .action = ROUTE_FORWARD, .rule = RULE_FOREIGN_TRUSTED,
	  .hop = "sip:127.0.0.1:5080", .pop = 1, .self = NO },
	{ L, PR, UNTR, Q("OPTIONS", "sip:127.0.0.1:5080", .mf = "0"),
	  .action = ROUTE_REPLY, .rule = RULE_MAX_FORWARDS, .code = 483 },
	/* a configured alias stands for its domain at any port */
	{ L, P, UNTR, Q("INVITE", "sip:alice@192.0.2.10:5080"),
	  .action = ROUTE_FORWARD, .rule = RULE_ACTIVE, .hop = ALICE_T,
	  .rewrite = true, .dom = "example.com", .alias = YES },
	{ L, PR, UNTR, Q("INVITE", "sip:bob@127.0.0.1"),
	  .action = ROUTE_REPLY, .rule = RULE_GONE_AUTH, .code = 604,
	  .dom = "example.com" },
	{ L, P, UNTR, Q("INVITE", "sip:%61lice@example.com"),
	  .action = ROUTE_FORWARD, .rule = RULE_ACTIVE, .hop = ALICE_T,
	  .uri = ALICE_T, .rewrite = true, .entry = "alice",
	  .user = "alice" },
	{ L, P, UNTR, Q("INVITE", "sip:h%40rry@example.com"),
	  .action = ROUTE_FORWARD, .rule = RULE_ACTIVE,
	  .hop = "sip:harry@10.0.0.6", .uri = "sip:harry@10.0.0.6",
	  .rewrite = true, .entry = "h@rry", .user = "h@rry" },
	{ L, PR, UNTR, Q("INVITE", "sip:harry@example.com"),
	  .action = ROUTE_REPLY, .rule = RULE_UNKNOWN, .code = 404,
	  .entry = "-" },
	{ L, P, UNTR, Q("INVITE", "sip:frank@example.com"),
	  .action = ROUTE_FORWARD, .rule = RULE_ACTIVE,
	  .hop = "sip:frank@203.0.113.50:5060", .rewrite = true,
	  .entry = "frank" },
	{ L, P, UNTR, Q("INVITE", "sip:alice@example.com;transport=tcp"),
	  .action = ROUTE_FORWARD, .rule = RULE_ACTIVE, .hop = ALICE_T,
	  .rewrite = true, .entry = "alice" },

	/* The proxy itself: its addresses, or a local domain, no user. */
	{ L, PR, UNTR, Q("OPTIONS", "sip:127.0.0.1"),
	  .action = ROUTE_REPLY, .rule = RULE_SELF_OPTIONS, .code = 200,
	  .caps = true, .self = YES },
	{ L, PR, UNTR, Q("OPTIONS", "sip:127.0.0.1:5060"),
	  .action = ROUTE_REPLY, .rule = RULE_SELF_OPTIONS, .code = 200,
	  .caps = true, .self = YES },
	{ L, PR, UNTR, Q("OPTIONS", "sip:127.0.0.1:5060;transport=tcp"),
	  .action = ROUTE_REPLY, .rule = RULE_SELF_OPTIONS, .code = 200,
	  .caps = true, .self = YES },
	{ L, PR, UNTR6, Q("OPTIONS", "sip:[::1]:5060"),
	  .action = ROUTE_REPLY, .rule = RULE_SELF_OPTIONS, .code = 200,
	  .caps = true, .self = YES },
	{ L, PR, UNTR, Q("OPTIONS", "sip:example.com"),
	  .action = ROUTE_REPLY, .rule = RULE_SELF_OPTIONS, .code = 200,
	  .caps = true, .self = YES },
	{ L, PR, TRUS, Q("OPTIONS", "sip:EXAMPLE.com"),
	  .action = ROUTE_REPLY, .rule = RULE_SELF_OPTIONS, .code = 200,
	  .caps = true, .self = YES },
	{ L, PR, UNTR, Q("OPTIONS", "sip:192.0.2.10"),
	  .action = ROUTE_REPLY, .rule = RULE_SELF_OPTIONS, .code = 200,
	  .caps = true, .self = YES },
	{ L, PR, UNTR, Q("OPTIONS", "sip:proxy.example.com"),
	  .action = ROUTE_REPLY, .rule = RULE_SELF_OPTIONS, .code = 200,
	  .caps = true, .self = YES },
	{ L, PR, UNTR, Q("OPTIONS", "sip:127.0.0.1", .mf = "0"),
	  .action = ROUTE_REPLY, .rule = RULE_SELF_OPTIONS, .code = 200,
	  .caps = true, .self = YES },
	{ L, PR, UNTR, Q("OPTIONS", "sip:example.com", .mf = "0"),
	  .action = ROUTE_REPLY, .rule = RULE_SELF_OPTIONS, .code = 200,
	  .caps = true, .self = YES },
	{ L, PR, UNTR, Q("INVITE", "sip:127.0.0.1"),
	  .action = ROUTE_REPLY, .rule = RULE_SELF_OTHER, .code = 404,
	  .self = YES },
	{ L, PR, UNTR, Q("INVITE", "sip:example.com"),
	  .action = ROUTE_REPLY, .rule = RULE_SELF_OTHER, .code = 404,
	  .self = YES },
	{ L, PR, TRUS, Q("MESSAGE", "sip:proxy.example.com"),
	  .action = ROUTE_REPLY, .rule = RULE_SELF_OTHER, .code = 404,
	  .self = YES },
	{ L, PR, UNTR, Q("SUBSCRIBE", "sip:[::1]"),
	  .action = ROUTE_REPLY, .rule = RULE_SELF_OTHER, .code = 404,
	  .self = YES },
	/* OPTIONS to a user is routed like any request */
	{ L, P, UNTR, Q("OPTIONS", "sip:alice@example.com"),
	  .action = ROUTE_FORWARD, .rule = RULE_ACTIVE, .hop = ALICE_T,
	  .rewrite = true, .self = NO },
	{ L, R, UNTR, Q("OPTIONS", "sip:alice@example.com"),
	  .action = ROUTE_REPLY, .rule = RULE_ACTIVE, .code = 302,
	  .contact = true, .uri = ALICE_T },

	/* REGISTER: the user comes from To; the Request-URI is kept. */
	{ L, P, UNTR, Q("REGISTER", "sip:example.com",
	  .to = "sip:alice@example.com"),
	  .action = ROUTE_FORWARD, .rule = RULE_ACTIVE, .hop = ALICE_T,
	  .rewrite = false, .from_to = YES, .entry = "alice",
	  .user = "alice", .dom = "example.com" },
	{ L, R, UNTR, Q("REGISTER", "sip:example.com",
	  .to = "sip:alice@example.com"),
	  .action = ROUTE_REPLY, .rule = RULE_ACTIVE, .code = 302,
	  .contact = true, .uri = ALICE_T, .from_to = YES,
	  .entry = "alice" },
	{ L, PR, UNTR, Q("REGISTER", "sip:example.com",
	  .to = "sip:carol@example.com"),
	  .action = ROUTE_REPLY, .rule = RULE_UNAVAILABLE, .code = 480,
	  .retry = 300, .from_to = YES, .entry = "carol" },
	{ L, PR, UNTR, Q("REGISTER", "sip:example.com",
	  .to = "sip:bob@example.com"),
	  .action = ROUTE_REPLY, .rule = RULE_GONE_AUTH, .code = 604,
	  .from_to = YES },
	{ L, PR, UNTR, Q("REGISTER", "sip:example.com",
	  .to = "sip:dave@example.com"),
	  .action = ROUTE_REPLY, .rule = RULE_MOVED, .code = 301,
	  .contact = true, .uri = "sip:dave@partner.net", .from_to = YES },
	{ L, PR, UNTR, Q("REGISTER", "sip:example.com",
	  .to = "sip:nobody@example.com"),
	  .action = ROUTE_REPLY, .rule = RULE_UNKNOWN, .code = 404,
	  .from_to = YES, .entry = "-", .user = "nobody" },
	{ L, PR, UNTR, Q("REGISTER", "sip:closed.example.com",
	  .to = "sip:nobody@closed.example.com"),
	  .action = ROUTE_REPLY, .rule = RULE_UNKNOWN_COMPLETE, .code = 604,
	  .from_to = YES, .dom = "closed.example.com" },
	{ L, PR, UNTR, Q("REGISTER", "sip:partner.net",
	  .to = "sip:erin@partner.net"),
	  .action = ROUTE_REPLY, .rule = RULE_GONE_NONAUTH, .code = 404,
	  .from_to = YES, .dom = "partner.net" },
	{ L, P, UNTR, Q("REGISTER", "sip:127.0.0.1:5060",
	  .to = "sip:alice@example.com"),
	  .action = ROUTE_FORWARD, .rule = RULE_ACTIVE, .hop = ALICE_T,
	  .rewrite = false, .from_to = YES, .dom = "example.com" },
	{ L, P, UNTR, Q("REGISTER", "sip:example.com",
	  .to = "sip:+1-555-1234@example.com;user=phone"),
	  .action = ROUTE_FORWARD, .rule = RULE_ACTIVE,
	  .hop = "sip:pbx3@10.0.0.11", .rewrite = false, .from_to = YES,
	  .entry = "+15551234" },

	/* Max-Forwards */
	{ L, PR, UNTR, Q("INVITE", "sip:alice@example.com", .mf = "0"),
	  .action = ROUTE_REPLY, .rule = RULE_MAX_FORWARDS, .code = 483 },
	{ L, PR, TRUS, Q("INVITE", "sip:bob@partner.org", .mf = "0"),
	  .action = ROUTE_REPLY, .rule = RULE_MAX_FORWARDS, .code = 483 },
	{ L, PR, UNTR, Q("INVITE", "sip:127.0.0.1", .mf = "0"),
	  .action = ROUTE_REPLY, .rule = RULE_MAX_FORWARDS, .code = 483 },
	{ L, PR, UNTR, Q("OPTIONS", "sip:alice@example.com", .mf = "0"),
	  .action = ROUTE_REPLY, .rule = RULE_MAX_FORWARDS, .code = 483 },
	{ L, P, UNTR, Q("INVITE", "sip:alice@example.com", .mf = ""),
	  .action = ROUTE_FORWARD, .rule = RULE_ACTIVE, .hop = ALICE_T,
	  .rewrite = true },
	{ L, R, UNTR, Q("INVITE", "sip:alice@example.com", .mf = ""),
	  .action = ROUTE_REPLY, .rule = RULE_ACTIVE, .code = 302,
	  .contact = true, .uri = ALICE_T },
	{ L, P, UNTR, Q("INVITE", "sip:alice@example.com", .mf = "1"),
	  .action = ROUTE_FORWARD, .rule = RULE_ACTIVE, .hop = ALICE_T,
	  .rewrite = true },

	/* Proxy-Require, schemes, version, CSeq, escaped headers */
	{ L, PR, UNTR, Q("INVITE", "sip:alice@example.com",
	  .extra = "Proxy-Require: foo\r\n"),
	  .action = ROUTE_REPLY, .rule = RULE_PROXY_REQUIRE, .code = 420,
	  .unsup = true },
	{ L, PR, TRUS, Q("OPTIONS", "sip:127.0.0.1",
	  .extra = "Proxy-Require: sec-agree, foo\r\n"),
	  .action = ROUTE_REPLY, .rule = RULE_PROXY_REQUIRE, .code = 420,
	  .unsup = true },
	{ L, PR, UNTR, Q("INVITE", "tel:+15551234", .to = "tel:+15551234"),
	  .action = ROUTE_REPLY, .rule = RULE_SCHEME, .code = 416 },
	{ L, PR, TRUS, Q("INVITE", "tel:+1-555-1234;phone-context=example.com",
	  .to = "sip:callee@example.com"),
	  .action = ROUTE_REPLY, .rule = RULE_SCHEME, .code = 416 },
	{ L, PR, UNTR, Q("INVITE", "mailto:alice@example.com",
	  .to = "sip:alice@example.com"),
	  .action = ROUTE_REPLY, .rule = RULE_SCHEME, .code = 416 },
	{ L, PR, UNTR, Q("OPTIONS", "urn:service:sos",
	  .to = "sip:sos@example.com"),
	  .action = ROUTE_REPLY, .rule = RULE_SCHEME, .code = 416 },
	{ L, PR, UNTR, Q("INVITE", "sip:alice@example.com",
	  .version = "SIP/3.0"),
	  .action = ROUTE_REPLY, .rule = RULE_VERSION, .code = 505 },
	{ L, PR, UNTR, Q("INVITE", "sip:alice@example.com", .cseq = "BYE"),
	  .action = ROUTE_REPLY, .rule = RULE_BAD_REQUEST, .code = 400,
	  .may_fault = true },
	{ L, PR, UNTR, Q("BYE", "sip:alice@example.com", .cseq = "bye"),
	  .action = ROUTE_REPLY, .rule = RULE_BAD_REQUEST, .code = 400,
	  .may_fault = true },
	{ L, PR, UNTR, Q("INVITE", "sip:alice@example.com?Subject=hi",
	  .to = "sip:alice@example.com"),
	  .action = ROUTE_REPLY, .rule = RULE_BAD_REQUEST, .code = 400,
	  .may_fault = true },
	{ L, PR, TRUS, Q("INVITE", "sip:bob@partner.org?Route=%3Csip:x%3E",
	  .to = "sip:bob@partner.org"),
	  .action = ROUTE_REPLY, .rule = RULE_BAD_REQUEST, .code = 400,
	  .may_fault = true },

	/* ACK and CANCEL: dropped when they would be answered here. */
	{ L, PR, UNTR, Q("ACK", "sip:nobody@example.com", .to_tag = "ab12"),
	  .action = ROUTE_DROP, .rule = RULE_UNKNOWN, .code = 404,
	  .drop = "local_ack" },
	{ L, PR, UNTR, Q("CANCEL", "sip:nobody@example.com"),
	  .action = ROUTE_DROP, .rule = RULE_UNKNOWN, .code = 404,
	  .drop = "local_ack" },
	{ L, PR, UNTR, Q("ACK", "sip:bob@example.com", .to_tag = "ab12"),
	  .action = ROUTE_DROP, .rule = RULE_GONE_AUTH, .code = 604,
	  .drop = "local_ack" },
	{ L, PR, UNTR, Q("CANCEL", "sip:carol@example.com"),
	  .action = ROUTE_DROP, .rule = RULE_UNAVAILABLE, .code = 480,
	  .drop = "local_ack", .retry = 300 },
	{ L, PR, UNTR, Q("ACK", "sip:127.0.0.1", .to_tag = "ab12"),
	  .action = ROUTE_DROP, .rule = RULE_SELF_OTHER, .code = 404,
	  .drop = "local_ack", .self = YES },
	{ L, PR, UNTR, Q("ACK", "sip:alice@example.com", .mf = "0"),
	  .action = ROUTE_DROP, .rule = RULE_MAX_FORWARDS, .code = 483,
	  .drop = "local_ack" },
	{ L, PR, UNTR, Q("CANCEL", "sip:alice@203.0.113.9"),
	  .action = ROUTE_DROP, .rule = RULE_FOREIGN_UNTRUSTED, .code = 403,
	  .drop = "local_ack" },
	{ L, P, UNTR, Q("ACK", "sip:alice@example.com", .to_tag = "ab12"),
	  .action = ROUTE_FORWARD, .rule = RULE_ACTIVE, .hop = ALICE_T,
	  .rewrite = true },
	{ L, P, UNTR, Q("CANCEL", "sip:alice@example.com"),
	  .action = ROUTE_FORWARD, .rule = RULE_ACTIVE, .hop = ALICE_T,
	  .rewrite = true },
	{ L, R, UNTR, Q("ACK", "sip:alice@example.com", .to_tag = "ab12"),
	  .action = ROUTE_DROP, .rule = RULE_ACTIVE, .code = 302,
	  .drop = "local_ack", .contact = true, .uri = ALICE_T },
	{ L, R, UNTR, Q("CANCEL", "sip:alice@example.com"),
	  .action = ROUTE_DROP, .rule = RULE_ACTIVE, .code = 302,
	  .drop = "local_ack", .contact = true, .uri = ALICE_T },

	/* Blocked User-Agent: a case-insensitive substring. */
	{ L, PR, UNTR, Q("OPTIONS", "sip:100@198.51.100.1",
	  .extra = "User-Agent: friendly-scanner\r\n"),
	  .action = ROUTE_DROP, .rule = RULE_SCANNER, .drop = "scanner" },
	{ L, PR, UNTR, Q("INVITE", "sip:alice@example.com",
	  .extra = "User-Agent: Friendly-Scanner/1.0\r\n"),
	  .action = ROUTE_DROP, .rule = RULE_SCANNER, .drop = "scanner" },
	{ L, PR, UNTR, Q("OPTIONS", "sip:127.0.0.1",
	  .extra = "User-Agent: xFRIENDLY-SCANNERx\r\n"),
	  .action = ROUTE_DROP, .rule = RULE_SCANNER, .drop = "scanner" },
	{ L, PR, TRUS, Q("REGISTER", "sip:example.com",
	  .to = "sip:alice@example.com",
	  .extra = "User-Agent: SIPVicious 0.3\r\n"),
	  .action = ROUTE_DROP, .rule = RULE_SCANNER, .drop = "scanner" },
	{ L, P, UNTR, Q("INVITE", "sip:alice@example.com",
	  .extra = "User-Agent: friendly scanner\r\n"),
	  .action = ROUTE_FORWARD, .rule = RULE_ACTIVE, .hop = ALICE_T,
	  .rewrite = true },

	/* Loose routing (RFC 3261 §16.4): our Route goes, the next leads. */
	{ L, P, UNTR, Q("BYE", PBX_CONTACT, .extra = RT_US_PBX,
	  .to_tag = "pbx1"),
	  .action = ROUTE_FORWARD, .rule = RULE_ROUTE_NEXT,
	  .hop = "sip:10.0.0.5:5060;lr", .pop = 1, .rewrite = false },
	{ L, P, TRUS, Q("BYE", PBX_CONTACT, .extra = RT_US_PBX,
	  .to_tag = "pbx1"),
	  .action = ROUTE_FORWARD, .rule = RULE_ROUTE_NEXT,
	  .hop = "sip:10.0.0.5:5060;lr", .pop = 1 },
	/* next hop is a table target host outside `trusted` */
	{ L, P, UNTR, Q("BYE", "sip:frank@203.0.113.50:5060",
	  .extra = "Route: <sip:127.0.0.1:5060;lr>,"
	  " <sip:203.0.113.50:5060;lr>\r\n", .to_tag = "pbx1"),
	  .action = ROUTE_FORWARD, .rule = RULE_ROUTE_NEXT,
	  .hop = "sip:203.0.113.50:5060;lr", .pop = 1 },
	/*
	 * SPEC §7: only the exact host, port and transport of an active
	 * target. Another port of a target host (its SSH-over-SIP gateway,
	 * another tenant), another transport, a moved user's target: 403.
	 */
	{ L, P, UNTR, Q("BYE", "sip:frank@203.0.113.50:5060",
	  .extra = "Route: <sip:127.0.0.1:5060;lr>,"
	  " <sip:203.0.113.50:5070;lr>\r\n", .to_tag = "pbx1"),
	  .action = ROUTE_REPLY, .rule = RULE_ROUTE_UNTRUSTED, .code = 403 },
	{ L, P, UNTR, Q("BYE", "sip:frank@203.0.113.50:5060",
	  .extra = "Route: <sip:127.0.0.1:5060;lr>,"
	  " <sip:203.0.113.50:5060;transport=tcp;lr>\r\n", .to_tag = "pbx1"),
	  .action = ROUTE_REPLY, .rule = RULE_ROUTE_UNTRUSTED, .code = 403 },
	{ L, P, UNTR, Q("BYE", "sip:frank@203.0.113.50:5060",
	  .extra = "Route: <sip:127.0.0.1:5060;lr>,"
	  " <sip:203.0.113.50;transport=UDP;lr>\r\n", .to_tag = "pbx1"),
	  .action = ROUTE_FORWARD, .rule = RULE_ROUTE_NEXT,
	  .hop = "sip:203.0.113.50;transport=UDP;lr", .pop = 1 },
	{ L, P, UNTR, Q("BYE", "sips:frank@203.0.113.50:5060",
	  .extra = RT_US, .to_tag = "pbx1"),
	  .action = ROUTE_REPLY, .rule = RULE_FOREIGN_UNTRUSTED, .code = 403 },
	{ L, P, UNTR, Q("BYE", "sip:frank@203.0.113.50:5061", .extra = RT_US,
	  .to_tag = "pbx1"),
	  .action = ROUTE_REPLY, .rule = RULE_FOREIGN_UNTRUSTED, .code = 403 },
	/* dave's moved target, sip:dave@partner.net */
	{ L, P, UNTR, Q("BYE", "sip:x@203.0.113.9",
	  .extra = "Route: <sip:127.0.0.1:5060;lr>, <sip:partner.net;lr>\r\n",
	  .to_tag = "pbx1"),
	  .action = ROUTE_REPLY, .rule = RULE_ROUTE_UNTRUSTED, .code = 403 },
	/* a trusted host is vouched for at any port */
	{ L, P, UNTR, Q("BYE", "sip:alice@10.9.9.9:5099;transport=tcp",
	  .extra = RT_US, .to_tag = "pbx1"),
	  .action = ROUTE_FORWARD, .rule = RULE_ROUTE_NEXT,
	  .hop = "sip:alice@10.9.9.9:5099;transport=tcp", .pop = 1 },
	/* next hop inside `trusted` (IPv6) */
	{ L, P, UNTR6, Q("BYE", "sip:alice@[2001:db8:1::99]",
	  .extra = "Route: <sip:[::1]:5060;lr>\r\n"
	  "Route: <sip:[2001:db8:1::99];lr>\r\n", .to_tag = "pbx1"),
	  .action = ROUTE_FORWARD, .rule = RULE_ROUTE_NEXT,
	  .hop = "sip:[2001:db8:1::99];lr", .pop = 1 },
	{ L, P, UNTR, Q("BYE", "sip:x@203.0.113.9",
	  .extra = "Route: <sip:127.0.0.1:5060;lr>, <sip:203.0.113.9;lr>\r\n",
	  .to_tag = "pbx1"),
	  .action = ROUTE_REPLY, .rule = RULE_ROUTE_UNTRUSTED, .code = 403 },
	{ L, P, UNTR, Q("INVITE", "sip:bob@pbx.partner.net",
	  .extra = "Route: <sip:127.0.0.1;lr>, <sip:pbx.partner.net;lr>\r\n"),
	  .action = ROUTE_REPLY, .rule = RULE_ROUTE_UNTRUSTED, .code = 403 },
	{ L, P, TRUS, Q("BYE", "sip:x@203.0.113.9",
	  .extra = "Route: <sip:127.0.0.1:5060;lr>, <sip:203.0.113.9;lr>\r\n",
	  .to_tag = "pbx1"),
	  .action = ROUTE_FORWARD, .rule = RULE_ROUTE_NEXT,
	  .hop = "sip:203.0.113.9;lr", .pop = 1 },
	{ L, R, TRUS, Q("BYE", "sip:x@203.0.113.9",
	  .extra = "Route: <sip:127.0.0.1:5060;lr>, <sip:203.0.113.9;lr>\r\n",
	  .to_tag = "pbx1"),
	  .action = ROUTE_REPLY, .rule = RULE_ROUTE_UNTRUSTED, .code = 403 },
	/* two leading Routes of ours (record-routed across transports) */
	{ L, P, UNTR, Q("BYE", PBX_CONTACT,
	  .extra = "Route: <sip:127.0.0.1:5060;lr>\r\n"
	  "Route: <sip:127.0.0.1:5060;transport=tcp;lr>,"
	  " <sip:10.0.0.5:5060;lr>\r\n", .to_tag = "pbx1"),
	  .action = ROUTE_FORWARD, .rule = RULE_ROUTE_NEXT,
	  .hop = "sip:10.0.0.5:5060;lr", .pop = 2 },
	{ L, P, TRUS, Q("BYE", "sip:x@203.0.113.9",
	  .extra = "Route: <sip:proxy.example.com;lr>,"
	  " <sip:[::1]:5060;lr>, <sip:203.0.113.9;lr>\r\n",
	  .to_tag = "pbx1"),
	  .action = ROUTE_FORWARD, .rule = RULE_ROUTE_NEXT,
	  .hop = "sip:203.0.113.9;lr", .pop = 2 },
	{ L, P, UNTR, Q("BYE", PBX_CONTACT,
	  .extra = "Route: <sip:proxy.example.com;lr>, <sip:10.0.0.5;lr>\r\n",
	  .to_tag = "pbx1"),
	  .action = ROUTE_FORWARD, .rule = RULE_ROUTE_NEXT,
	  .hop = "sip:10.0.0.5;lr", .pop = 1 },
	/* Route to us and none left: the Request-URI is routed. */
	{ L, P, UNTR, Q("INVITE", "sip:alice@example.com", .extra = RT_US),
	  .action = ROUTE_FORWARD, .rule = RULE_ACTIVE, .hop = ALICE_T,
	  .rewrite = true, .pop = 1, .entry = "alice" },
	{ L, R, UNTR, Q("INVITE", "sip:alice@example.com", .extra = RT_US),
	  .action = ROUTE_REPLY, .rule = RULE_ACTIVE, .code = 302,
	  .contact = true, .uri = ALICE_T },
	{ L, PR, UNTR, Q("INVITE", "sip:bob@example.com", .extra = RT_US),
	  .action = ROUTE_REPLY, .rule = RULE_GONE_AUTH, .code = 604 },
	{ L, P, UNTR, Q("BYE", PBX_CONTACT, .extra = RT_US, .to_tag = "p1"),
	  .action = ROUTE_FORWARD, .rule = RULE_ROUTE_NEXT,
	  .hop = PBX_CONTACT, .pop = 1, .rewrite = false },
	{ L, P, UNTR, Q("ACK", PBX_CONTACT, .extra = RT_US, .to_tag = "p1"),
	  .action = ROUTE_FORWARD, .rule = RULE_ROUTE_NEXT,
	  .hop = PBX_CONTACT, .pop = 1, .rewrite = false },
	{ L, P, UNTR, Q("BYE", "sip:frank@203.0.113.50:5060", .extra = RT_US,
	  .to_tag = "p1"),
	  .action = ROUTE_FORWARD, .rule = RULE_ROUTE_NEXT,
	  .hop = "sip:frank@203.0.113.50:5060", .pop = 1 },
	{ L, P, UNTR, Q("BYE", "sip:x@203.0.113.9", .extra = RT_US,
	  .to_tag = "p1"),
	  .action = ROUTE_REPLY, .rule = RULE_FOREIGN_UNTRUSTED, .code = 403 },
	{ L, P, UNTR, Q("ACK", "sip:x@203.0.113.9", .extra = RT_US,
	  .to_tag = "p1"),
	  .action = ROUTE_DROP, .rule = RULE_FOREIGN_UNTRUSTED, .code = 403,
	  .drop = "local_ack" },
	{ L, P, TRUS, Q("BYE", "sip:x@203.0.113.9", .extra = RT_US,
	  .to_tag = "p1"),
	  .action = ROUTE_FORWARD, .rule = RULE_FOREIGN_TRUSTED,
	  .hop = "sip:x@203.0.113.9", .pop = 1 },
	{ L, R, UNTR, Q("BYE", PBX_CONTACT, .extra = RT_US, .to_tag = "p1"),
	  .action = ROUTE_REPLY, .rule = RULE_FOREIGN_UNTRUSTED, .code = 403 },
	/*
	 * RFC 3261 §16.4: only a Request-URI that is a value we put in a
	 * Record-Route (no user part) means a strict router; a user at our
	 * address is a user of the first domain (SPEC §6), reached after our
	 * Route is removed.
	 */
	{ L, P, UNTR, Q("INVITE", "sip:alice@127.0.0.1:5060", .extra = RT_US),
	  .action = ROUTE_FORWARD, .rule = RULE_ACTIVE, .hop = ALICE_T,
	  .rewrite = true, .pop = 1, .strict = false, .entry = "alice" },
	/* A Route elsewhere on top: only a trusted source may use it. */
	{ L, P, UNTR, Q("INVITE", "sip:alice@example.com",
	  .extra = "Route: <sip:10.0.0.5;lr>\r\n"),
	  .action = ROUTE_REPLY, .rule = RULE_ROUTE_UNTRUSTED, .code = 403 },
	{ L, P, UNTR, Q("INVITE", "sip:alice@example.com",
	  .extra = "Route: <sip:203.0.113.9;lr>\r\n"),
	  .action = ROUTE_REPLY, .rule = RULE_ROUTE_UNTRUSTED, .code = 403 },
	{ L, P, TRUS, Q("INVITE", "sip:alice@example.com",
	  .extra = "Route: <sip:203.0.113.9;lr>\r\n"),
	  .action = ROUTE_FORWARD, .rule = RULE_ROUTE_NEXT,
	  .hop = "sip:203.0.113.9;lr", .pop = 0, .rewrite = false },
	{ L, R, TRUS, Q("INVITE", "sip:alice@example.com",
	  .extra = "Route: <sip:203.0.113.9;lr>\r\n"),
	  .action = ROUTE_REPLY, .rule = RULE_ROUTE_UNTRUSTED, .code = 403 },

	/* Strict router: our address in the R-URI, the last Route is the
	 * real one (RFC 3261 §16.4). */
	{ L, P, TRUS, Q("BYE", "sip:127.0.0.1:5060",
	  .extra = "Route: <" PBX_CONTACT ">\r\n", .to_tag = "p1"),
	  .action = ROUTE_FORWARD, .rule = RULE_FOREIGN_TRUSTED,
	  .hop = PBX_CONTACT, .strict = true, .pop = 0 },
	{ L, P, UNTR, Q("INVITE", "sip:proxy.example.com",
	  .extra = "Route: <sip:alice@example.com>\r\n"),
	  .action = ROUTE_FORWARD, .rule = RULE_ACTIVE, .hop = ALICE_T,
	  .rewrite = true, .strict = true, .entry = "alice" },
	{ L, PR, UNTR, Q("INVITE", "sip:127.0.0.1",
	  .extra = "Route: <sip:nobody@example.com>\r\n"),
	  .action = ROUTE_REPLY, .rule = RULE_UNKNOWN, .code = 404,
	  .strict = true },
	{ L, P, TRUS, Q("BYE", "sip:127.0.0.1",
	  .extra = "Route: <sip:10.0.0.7>, <" PBX_CONTACT ">\r\n",
	  .to_tag = "p1"),
	  .action = ROUTE_FORWARD, .rule = RULE_ROUTE_NEXT,
	  .hop = "sip:10.0.0.7", .strict = true, .pop = 0 },
	{ L, PR, UNTR, Q("BYE", "sip:127.0.0.1",
	  .extra = "Route: <sip:x@203.0.113.9>\r\n", .to_tag = "p1"),
	  .action = ROUTE_REPLY, .rule = RULE_FOREIGN_UNTRUSTED, .code = 403,
	  .strict = true },
	/*
	 * A strict-routed request followed our Record-Route just as a
	 * loose-routed one does (SPEC §3: "a request that arrived with a
	 * Route to this proxy (an in-dialog request following our
	 * Record-Route)"), so its next hop is vouched for the same way.
	 */
	{ L, P, UNTR, Q("BYE", "sip:127.0.0.1:5060",
	  .extra = "Route: <" PBX_CONTACT ">\r\n", .to_tag = "p1"),
	  .action = ROUTE_FORWARD, .rule = RULE_ROUTE_NEXT,
	  .hop = PBX_CONTACT, .strict = true },
	{ L, P, UNTR, Q("BYE", "sip:127.0.0.1",
	  .extra = "Route: <sip:10.0.0.7>, <" PBX_CONTACT ">\r\n",
	  .to_tag = "p1"),
	  .action = ROUTE_FORWARD, .rule = RULE_ROUTE_NEXT,
	  .hop = "sip:10.0.0.7", .strict = true },

	/* Foreign domains: never an open relay. */
	{ L, P, TRUS, Q("INVITE", "sip:bob@partner.org"),
	  .action = ROUTE_FORWARD, .rule = RULE_FOREIGN_TRUSTED,
	  .hop = "sip:bob@partner.org", .rewrite = false, .dom = "-",
	  .entry = "-" },
	{ L, P, TRUS6, Q("INVITE", "sip:bob@partner.org;transport=tcp"),
	  .action = ROUTE_FORWARD, .rule = RULE_FOREIGN_TRUSTED,
	  .hop = "sip:bob@partner.org;transport=tcp", .rewrite = false },
	{ L, PR, UNTR, Q("INVITE", "sip:bob@partner.org"),
	  .action = ROUTE_REPLY, .rule = RULE_FOREIGN_UNTRUSTED, .code = 403,
	  .dom = "-" },
	{ L, PR, UNTR6, Q("INVITE", "sip:bob@partner.org"),
	  .action = ROUTE_REPLY, .rule = RULE_FOREIGN_UNTRUSTED, .code = 403 },
	{ L, R, TRUS, Q("INVITE", "sip:bob@partner.org"),
	  .action = ROUTE_REPLY, .rule = RULE_FOREIGN_UNTRUSTED, .code = 403 },
	{ L, R, TRUS6, Q("INVITE", "sip:bob@partner.org"),
	  .action = ROUTE_REPLY, .rule = RULE_FOREIGN_UNTRUSTED, .code = 403 },
	{ L, PR, UNTR, Q("INVITE", "sip:alice@203.0.113.9"),
	  .action = ROUTE_REPLY, .rule = RULE_FOREIGN_UNTRUSTED, .code = 403 },
	/* a target host is reachable from outside only with our Route */
	{ L, PR, UNTR, Q("INVITE", PBX_CONTACT),
	  .action = ROUTE_REPLY, .rule = RULE_FOREIGN_UNTRUSTED, .code = 403 },
	{ L, PR, UNTR, Q("INVITE", "sip:frank@203.0.113.50:5060"),
	  .action = ROUTE_REPLY, .rule = RULE_FOREIGN_UNTRUSTED, .code = 403 },
	{ L, P, TRUS, Q("INVITE", PBX_CONTACT),
	  .action = ROUTE_FORWARD, .rule = RULE_FOREIGN_TRUSTED,
	  .hop = PBX_CONTACT },
	{ L, P, TRUS, Q("OPTIONS", "sip:10.0.0.5"),
	  .action = ROUTE_FORWARD, .rule = RULE_FOREIGN_TRUSTED,
	  .hop = "sip:10.0.0.5", .self = NO },
};

/* Messages given whole: faults and responses. */
struct raw {
	int		 line;
	const char	*text;
	enum route_action action;
	enum route_rule	 rule;
	unsigned	 code;
	const char	*drop;
	bool		 scan_fails;	/* sipmsg_scan() must return -1 */
};

#define VIA_US	"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1a2b.3c4d\r\n"
#define VIA_UA	"Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK74bf9\r\n"
#define HDRS	"From: <sip:caller@198.51.100.7>;tag=9fxced76sl\r\n" \
		"To: <sip:alice@example.com>\r\n" \
		"Call-ID: 3848276298220188511@198.51.100.7\r\n"
#define RESP_HDRS "From: <sip:caller@198.51.100.7>;tag=9fxced76sl\r\n" \
		"To: <sip:alice@example.com>;tag=314159\r\n" \
		"Call-ID: 3848276298220188511@198.51.100.7\r\n" \
		"CSeq: 4711 INVITE\r\n"

static const struct raw raws[] = {
	/* enough to answer: 400 naming the fault */
	{ L, "INVITE sip:alice@example.com SIP/2.0\r\n" VIA_UA
	  "Max-Forwards: 70\r\n" HDRS "CSeq: 1 INVITE\r\n"
	  "Content-Length: 500\r\n\r\nv=0\r\n",
	  ROUTE_REPLY, RULE_BAD_REQUEST, 400, NULL, true },
	{ L, "INVITE sip:alice@example.com SIP/2.0\r\n" VIA_UA
	  "Max-Forwards: seventy\r\n" HDRS "CSeq: 1 INVITE\r\n"
	  "Content-Length: 0\r\n\r\n",
	  ROUTE_REPLY, RULE_BAD_REQUEST, 400, NULL, true },
	{ L, "OPTIONS sip:127.0.0.1 SIP/2.0\r\n" VIA_UA
	  "Max-Forwards: -1\r\n" HDRS "CSeq: 1 OPTIONS\r\n"
	  "Content-Length: 0\r\n\r\n",
	  ROUTE_REPLY, RULE_BAD_REQUEST, 400, NULL, true },
	/* an ACK is never answered, not even with a 400 */
	{ L, "ACK sip:alice@example.com SIP/2.0\r\n" VIA_UA
	  "Max-Forwards: many\r\n" HDRS "CSeq: 1 ACK\r\n"
	  "Content-Length: 0\r\n\r\n",
	  ROUTE_DROP, RULE_BAD_REQUEST, 400, "local_ack", true },
	/* too little to answer: dropped and counted */
	{ L, "INVITE sip:alice@example.com SIP/2.0\r\n"
	  "Max-Forwards: 70\r\n" HDRS "CSeq: 1 INVITE\r\n"
	  "Content-Length: 0\r\n\r\n",
	  ROUTE_DROP, RULE_UNPARSABLE, 0, "parse", true },
	{ L, "INVITE sip:alice@example.com SIP/2.0\r\n" VIA_UA
	  "Max-Forwards: 70\r\n"
	  "From: <sip:caller@198.51.100.7>;tag=9fxced76sl\r\n"
	  "To: <sip:alice@example.com>\r\n"
	  "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
	  ROUTE_DROP, RULE_UNPARSABLE, 0, "parse", true },
	{ L, "INVITE sip:alice@example.com SIP/2.0\r\n"
	  "Via: this is not a via\r\n"
	  "Max-Forwards: 70\r\n" HDRS "CSeq: 1 INVITE\r\n"
	  "Content-Length: 0\r\n\r\n",
	  ROUTE_DROP, RULE_UNPARSABLE, 0, "parse", true },
	{ L, "hello world\r\n\r\n",
	  ROUTE_DROP, RULE_UNPARSABLE, 0, "parse", true },
	{ L, "\x01\x02\x03\xff\xfe",
	  ROUTE_DROP, RULE_UNPARSABLE, 0, "parse", true },
	{ L, "SIP/2.0 200 OK\r\n" RESP_HDRS "Content-Length: 0\r\n\r\n",
	  ROUTE_DROP, RULE_UNPARSABLE, 0, "parse", true },

	/* responses under a Via that names us but whose branch we did not
	 * make: a guessed H1 is not ours (SPEC §7), whatever form our
	 * address takes; test_response_h1 relays the real ones */
	{ L, "SIP/2.0 200 OK\r\n" VIA_US VIA_UA RESP_HDRS
	  "Content-Length: 0\r\n\r\n",
	  ROUTE_DROP, RULE_RESPONSE_NOT_OURS, 0, "not_ours", false },
	{ L, "SIP/2.0 180 Ringing\r\n"
	  "Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1a2b.3c4d\r\n"
	  VIA_UA RESP_HDRS "Content-Length: 0\r\n\r\n",
	  ROUTE_DROP, RULE_RESPONSE_NOT_OURS, 0, "not_ours", false },
	{ L, "SIP/2.0 486 Busy Here\r\n"
	  "Via: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK1a2b.3c4d\r\n"
	  VIA_UA RESP_HDRS "Content-Length: 0\r\n\r\n",
	  ROUTE_DROP, RULE_RESPONSE_NOT_OURS, 0, "not_ours", false },
	{ L, "SIP/2.0 200 OK\r\n"
	  "Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bK1a2b.3c4d\r\n"
	  VIA_UA RESP_HDRS "Content-Length: 0\r\n\r\n",
	  ROUTE_DROP, RULE_RESPONSE_NOT_OURS, 0, "not_ours", false },
	{ L, "SIP/2.0 200 OK\r\n"
	  "Via: SIP/2.0/UDP [::1]:5060;branch=z9hG4bK1a2b.3c4d\r\n"
	  "Via: SIP/2.0/UDP [2001:db8:2::7]:5060;branch=z9hG4bK74bf9\r\n"
	  RESP_HDRS "Content-Length: 0\r\n\r\n",
	  ROUTE_DROP, RULE_RESPONSE_NOT_OURS, 0, "not_ours", false },
	{ L, "SIP/2.0 200 OK\r\n"
	  "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1a2b.3c4d, "
	  "SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK74bf9\r\n"
	  RESP_HDRS "Content-Length: 0\r\n\r\n",
	  ROUTE_DROP, RULE_RESPONSE_NOT_OURS, 0, "not_ours", false },
	/* responses that are not ours */
	{ L, "SIP/2.0 200 OK\r\n" VIA_UA RESP_HDRS "Content-Length: 0\r\n\r\n",
	  ROUTE_DROP, RULE_RESPONSE_NOT_OURS, 0, "not_ours", false },
	{ L, "SIP/2.0 200 OK\r\n" VIA_UA VIA_US RESP_HDRS
	  "Content-Length: 0\r\n\r\n",
	  ROUTE_DROP, RULE_RESPONSE_NOT_OURS, 0, "not_ours", false },
	{ L, "SIP/2.0 200 OK\r\n"
	  "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1a2b.3c4d\r\n"
	  VIA_UA RESP_HDRS "Content-Length: 0\r\n\r\n",
	  ROUTE_DROP, RULE_RESPONSE_NOT_OURS, 0, "not_ours", false },
	{ L, "SIP/2.0 100 Trying\r\n"
	  "Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK1a2b.3c4d\r\n"
	  VIA_UA RESP_HDRS "Content-Length: 0\r\n\r\n",
	  ROUTE_DROP, RULE_RESPONSE_NOT_OURS, 0, "not_ours", false },
};

/* The trusted entry each source should match in route.conf. */
static int
src_trusted(const char *src)
{
	if (strcmp(src, TRUS) == 0)
		return 0;
	if (strcmp(src, TRUS6) == 0)
		return 1;
	return -1;
}

static void
make_src(const char *ip, uint16_t port, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
	} else {
		assert_int_equal(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
	}
}

/* Write the request q describes into buf; returns its length. */
static size_t
build_msg(char *buf, size_t len, const struct msgspec *q)
{
	const char *to = q->to;
	char mf[64] = "";
	int n;

	if (to == NULL)
		to = strchr(q->ruri, '?') == NULL ? q->ruri :
		    "sip:callee@example.com";
	if (q->mf == NULL || q->mf[0] != '\0')
		snprintf(mf, sizeof(mf), "Max-Forwards: %s\r\n",
		    q->mf != NULL ? q->mf : "70");
	n = snprintf(buf, len,
	    "%s %s %s\r\n"
	    "%s"
	    "%s"
	    "From: \"Caller\" <sip:caller@198.51.100.7>;tag=9fxced76sl\r\n"
	    "To: <%s>%s%s\r\n"
	    "Call-ID: %s\r\n"
	    "CSeq: %u %s\r\n"
	    "%s"
	    "Content-Length: 0\r\n"
	    "\r\n",
	    q->method, q->ruri, q->version != NULL ? q->version : "SIP/2.0",
	    q->via != NULL ? q->via : VIA_UA,
	    mf,
	    to, q->to_tag != NULL ? ";tag=" : "",
	    q->to_tag != NULL ? q->to_tag : "",
	    q->callid != NULL ? q->callid :
	    "3848276298220188511@198.51.100.7",
	    q->cseq_num != 0 ? q->cseq_num : 4711u,
	    q->cseq != NULL ? q->cseq : q->method,
	    q->extra != NULL ? q->extra : "");
	assert_true(n > 0 && (size_t)n < len);
	return (size_t)n;
}

/* One message, scanned and decided. */
struct run {
	char			 buf[4096];
	size_t			 len;
	struct sipmsg		 m;
	ssize_t			 rc;
	struct route_decision	 d;
};

static void
run_bytes(struct run *r, const char *text, size_t len, const char *src,
    uint16_t port, const struct conf *conf)
{
	struct sockaddr_storage ss;

	assert_true(len < sizeof(r->buf));
	memcpy(r->buf, text, len);
	r->len = len;
	make_src(src, port, &ss);
	memset(&r->m, 0, sizeof(r->m));
	r->rc = sipmsg_scan(r->buf, r->len, SIPMSG_DGRAM, &r->m);
	route_decide(&r->m, (int)r->rc, (struct sockaddr *)&ss, conf, &r->d);
}

static void
run_spec(struct run *r, const struct msgspec *q, const char *src,
    const struct conf *conf)
{
	char text[4096];
	size_t n;

	n = build_msg(text, sizeof(text), q);
	run_bytes(r, text, n, src, 5060, conf);
}

static bool
slice_is(struct slice s, const char *str)
{
	return s.p != NULL && slice_eq(s, slice_make(str, strlen(str)));
}

/* Failures are collected per row so one run shows all of them. */
static int nfail;

static void
fail_row(int line, const char *what, const struct run *r, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

static void
fail_row(int line, const char *what, const struct run *r, const char *fmt,
    ...)
{
	va_list ap;
	const char *eol;
	int first;

	eol = memchr(r->buf, '\r', r->len);
	first = eol != NULL ? (int)(eol - r->buf) : (int)r->len;
	if (first > 100)
		first = 100;
	fprintf(stderr, "%s:%d: [%s] %.*s: ", __FILE__, line, what, first,
	    r->buf);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (got %s/%s %u%s%s)\n",
	    route_action_name(r->d.action), route_rule_name(r->d.rule),
	    r->d.code, r->d.drop_reason != NULL ? " drop=" : "",
	    r->d.drop_reason != NULL ? r->d.drop_reason : "");
	nfail++;
}

#define CHECK(cond, ...) do {						\
	if (!(cond))							\
		fail_row(line, what, r, __VA_ARGS__);			\
} while (0)

static void
check_tri(int line, const char *what, const struct run *r, const char *name,
    enum tri want, bool got)
{
	if (want != ANY && (want == YES) != got)
		fail_row(line, what, r, "%s: expected %s", name,
		    want == YES ? "true" : "false");
}

/* Our branch: "z9hG4bK" 16 hex "." 16 hex, the two halves of d. */
static void
check_branch(int line, const char *what, const struct run *r)
{
	char b[ROUTE_BRANCH_LEN + 8], want[64];

	memset(b, '#', sizeof(b));
	route_branch(&r->d, b);
	CHECK(memcmp(b + ROUTE_BRANCH_LEN, "########", 8) == 0,
	    "route_branch wrote past ROUTE_BRANCH_LEN");
	snprintf(want, sizeof(want), "z9hG4bK%016llx.%016llx",
	    (unsigned long long)r->d.branch_h1,
	    (unsigned long long)r->d.branch_h2);
	CHECK(memcmp(b, "z9hG4bK", 7) == 0 &&
	    strncasecmp(b, want, ROUTE_BRANCH_LEN) == 0,
	    "branch %.*s is not %s", ROUTE_BRANCH_LEN, b, want);
	CHECK(r->d.branch_h1 != 0 && r->d.branch_h2 != 0,
	    "branch halves left zero");
}

/* Two decisions on equal input must be equal; pointers into the message
 * are compared by what they point to. */
static bool
same_decision(const struct route_decision *a, const struct route_decision *b)
{
	return a->action == b->action && a->rule == b->rule &&
	    a->code == b->code &&
	    (a->reason == b->reason ||
	    (a->reason && b->reason && strcmp(a->reason, b->reason) == 0)) &&
	    a->drop_reason == b->drop_reason &&
	    a->user_len == b->user_len &&
	    memcmp(a->user, b->user, sizeof(a->user)) == 0 &&
	    a->user_from_to == b->user_from_to &&
	    a->strict_route == b->strict_route && a->self == b->self &&
	    a->domain == b->domain && a->domain_alias == b->domain_alias &&
	    a->entry == b->entry && a->trusted == b->trusted &&
	    a->retry_after == b->retry_after && a->contact == b->contact &&
	    a->options_caps == b->options_caps &&
	    a->unsupported == b->unsupported &&
	    a->rewrite_ruri == b->rewrite_ruri &&
	    a->pop_routes == b->pop_routes &&
	    slice_eq(a->next_hop, b->next_hop) &&
	    slice_eq(a->next_hop_uri.all, b->next_hop_uri.all) &&
	    slice_eq(a->next_hop_uri.host, b->next_hop_uri.host) &&
	    a->next_hop_uri.port == b->next_hop_uri.port &&
	    a->branch_h1 == b->branch_h1 && a->branch_h2 == b->branch_h2;
}

static void
check_row(const struct row *w, const struct conf *conf, const char *what)
{
	static struct run run, again;
	struct run *r = &run;
	const struct route_decision *d = &r->d;
	struct route_decision d2;
	struct sockaddr_storage ss;
	char uri[512];
	ssize_t n;
	int line = w->line;

	run_spec(r, &w->q, w->src, conf);
	if (r->rc < 0 && !w->may_fault) {
		CHECK(0, "scan failed (%s): the test request is wrong",
		    r->m.fault != NULL ? r->m.fault : "no fault");
		return;
	}
	if (d->action != w->action || d->rule != w->rule ||
	    d->code != w->code) {
		/* the rest would only repeat it */
		CHECK(0, "expected %s/%s %u", route_action_name(w->action),
		    route_rule_name(w->rule), w->code);
		return;
	}
	if (d->action == ROUTE_REPLY)
		CHECK(d->reason != NULL && d->reason[0] != '\0',
		    "a reply without a reason phrase");
	/* a 400 for a scan fault names that fault (SPEC §3) */
	if (r->rc < 0 && d->code == 400)
		CHECK(d->reason != NULL && r->m.fault != NULL &&
		    strcmp(d->reason, r->m.fault) == 0,
		    "reason \"%s\" is not the scan fault \"%s\"",
		    d->reason ? d->reason : "(null)",
		    r->m.fault ? r->m.fault : "(null)");
	if (w->action == ROUTE_DROP)
		CHECK(d->drop_reason != NULL &&
		    strcmp(d->drop_reason, w->drop) == 0,
		    "drop_reason: expected %s", w->drop);
	else
		CHECK(d->drop_reason == NULL, "drop_reason set: %s",
		    d->drop_reason);
	CHECK(d->trusted == src_trusted(w->src), "trusted: expected %d, got %d",
	    src_trusted(w->src), d->trusted);
	CHECK(d->strict_route == w->strict, "strict_route: expected %d",
	    w->strict);
	CHECK(d->contact == w->contact, "contact: expected %d", w->contact);
	CHECK(d->options_caps == w->caps, "options_caps: expected %d",
	    w->caps);
	CHECK(d->unsupported == w->unsup, "unsupported: expected %d",
	    w->unsup);
	CHECK(d->retry_after == w->retry, "retry_after: expected %u, got %u",
	    (unsigned)w->retry, (unsigned)d->retry_after);
	check_tri(line, what, r, "self", w->self, d->self);
	check_tri(line, what, r, "domain_alias", w->alias, d->domain_alias);
	check_tri(line, what, r, "user_from_to", w->from_to, d->user_from_to);

	if (w->action == ROUTE_FORWARD) {
		assert_non_null(w->hop);	/* every forward row names it */
		CHECK(slice_is(d->next_hop, w->hop),
		    "next_hop: expected %s, got %.*s", w->hop,
		    (int)d->next_hop.len, d->next_hop.p ? d->next_hop.p : "");
		CHECK(slice_eq(d->next_hop_uri.all, d->next_hop) &&
		    d->next_hop_uri.is_sip,
		    "next_hop_uri is not next_hop parsed");
		CHECK(d->pop_routes == w->pop,
		    "pop_routes: expected %u, got %u", w->pop, d->pop_routes);
		CHECK(d->rewrite_ruri == w->rewrite,
		    "rewrite_ruri: expected %d", w->rewrite);
		if (d->action == ROUTE_FORWARD)
			check_branch(line, what, r);
	} else
		CHECK(!d->rewrite_ruri, "rewrite_ruri set without a forward");

	if (w->contact)
		assert_true(w->uri != NULL);	/* every 3xx row names it */
	if (w->uri != NULL) {
		n = route_target_uri(d, &r->m, uri, sizeof(uri));
		CHECK(n >= 0 && slice_is(slice_make(uri, (size_t)n), w->uri),
		    "route_target_uri: expected %s, got %.*s", w->uri,
		    n >= 0 ? (int)n : 2, n >= 0 ? uri : "-1");
	}
	if (w->dom != NULL) {
		if (strcmp(w->dom, "-") == 0)
			CHECK(d->domain == -1, "domain: expected none, got %d",
			    d->domain);
		else
			CHECK(d->domain >= 0 &&
			    (size_t)d->domain < conf->ndomains &&
			    strcmp(conf->domains[d->domain].name, w->dom) == 0,
			    "domain: expected %s, got %d", w->dom, d->domain);
	}
	if (w->entry != NULL) {
		if (strcmp(w->entry, "-") == 0)
			CHECK(d->entry == NULL, "entry: expected none, got %s",
			    d->entry->user);
		else
			CHECK(d->entry != NULL &&
			    strcmp(d->entry->user, w->entry) == 0,
			    "entry: expected %s, got %s", w->entry,
			    d->entry != NULL ? d->entry->user : "none");
	}
	if (w->user != NULL)
		CHECK(slice_is(slice_make(d->user, d->user_len), w->user),
		    "user: expected %s, got %.*s", w->user,
		    (int)d->user_len, d->user);

	/* Pure: the same input gives the same bytes ... */
	make_src(w->src, 5060, &ss);
	route_decide(&r->m, (int)r->rc, (struct sockaddr *)&ss, conf, &d2);
	CHECK(memcmp(&d2, d, sizeof(d2)) == 0,
	    "route_decide gave other bytes the second time");
	/* ... and a copy of the message elsewhere the same decision. */
	run_spec(&again, &w->q, w->src, conf);
	CHECK(same_decision(&again.d, d),
	    "the same request in another buffer got another decision");
}

static void
test_rows(void **state)
{
	size_t i;
	int before;

	(void)state;
	nfail = 0;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (rows[i].modes & P)
			check_row(&rows[i], conf_proxy, "proxy");
		if (rows[i].modes & R)
			check_row(&rows[i], conf_redirect, "redirect");
	}
	before = nfail;
	if (before > 0)
		fprintf(stderr, "%d failed checks in %zu rows\n", before, i);
	assert_int_equal(nfail, 0);
}

static void
test_raw(void **state)
{
	static struct run run;
	struct run *r = &run;
	const char *what = "raw";
	size_t i;
	int line, k;
	const struct conf *confs[2];

	(void)state;
	confs[0] = conf_proxy;
	confs[1] = conf_redirect;
	nfail = 0;
	for (i = 0; i < sizeof(raws) / sizeof(raws[0]); i++) {
		const struct raw *w = &raws[i];

		line = w->line;
		for (k = 0; k < 2; k++) {
			what = k == 0 ? "proxy" : "redirect";
			run_bytes(r, w->text, strlen(w->text), UNTR, 5060,
			    confs[k]);
			CHECK(w->scan_fails == (r->rc < 0),
			    "scan: expected %s, got %zd",
			    w->scan_fails ? "a fault" : "success", r->rc);
			CHECK(r->d.action == w->action, "action: expected %s",
			    route_action_name(w->action));
			CHECK(r->d.rule == w->rule, "rule: expected %s",
			    route_rule_name(w->rule));
			CHECK(r->d.code == w->code, "code: expected %u",
			    w->code);
			if (w->action == ROUTE_DROP)
				CHECK(r->d.drop_reason != NULL &&
				    strcmp(r->d.drop_reason, w->drop) == 0,
				    "drop_reason: expected %s", w->drop);
			if (w->code == 400)
				CHECK(r->m.fault != NULL &&
				    r->d.reason != NULL &&
				    strcmp(r->d.reason, r->m.fault) == 0,
				    "reason \"%s\" is not the fault \"%s\"",
				    r->d.reason ? r->d.reason : "(null)",
				    r->m.fault ? r->m.fault : "(null)");
			if (w->code == 400 && w->action == ROUTE_REPLY)
				CHECK(sipmsg_can_reply(&r->m),
				    "400 for a message that cannot be "
				    "answered");
		}
	}
	assert_int_equal(nfail, 0);
}

/* The INVITE whose companions test_branch builds. */
#define INV_VIA	"Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKnashds8\r\n"

static void
test_branch(void **state)
{
	static struct run inv, other;
	struct run *r = &other;
	const char *what = "branch";
	int line;
	char b1[ROUTE_BRANCH_LEN], b2[ROUTE_BRANCH_LEN];
	struct msgspec q = { .method = "INVITE",
	    .ruri = "sip:alice@example.com", .via = INV_VIA, .cseq_num = 1 };
	struct msgspec cancel = q, ack = q, q2 = q, auth = q, acancel;

	(void)state;
	nfail = 0;
	run_spec(&inv, &q, UNTR, conf_proxy);
	assert_int_equal(inv.d.action, ROUTE_FORWARD);

	/* CANCEL (RFC 3261 §9.1) and the ACK for a non-2xx (§17.1.1.3):
	 * same top branch, R-URI, From tag, Call-ID, CSeq number. */
	cancel.method = "CANCEL";
	line = __LINE__;
	run_spec(r, &cancel, UNTR, conf_proxy);
	CHECK(r->d.action == ROUTE_FORWARD, "CANCEL to alice not forwarded");
	CHECK(r->d.branch_h1 == inv.d.branch_h1 &&
	    r->d.branch_h2 == inv.d.branch_h2,
	    "CANCEL branch differs from the INVITE's");

	ack.method = "ACK";
	ack.to_tag = "as83kd9bs";
	line = __LINE__;
	run_spec(r, &ack, UNTR, conf_proxy);
	CHECK(r->d.action == ROUTE_FORWARD, "ACK to alice not forwarded");
	CHECK(r->d.branch_h1 == inv.d.branch_h1 &&
	    r->d.branch_h2 == inv.d.branch_h2,
	    "ACK (non-2xx) branch differs from the INVITE's");

	/* a retransmission, even from another port or through another
	 * instance of the fleet (same branch_secret) */
	line = __LINE__;
	run_bytes(r, inv.buf, inv.len, UNTR, 5099, conf_proxy);
	CHECK(r->d.branch_h1 == inv.d.branch_h1 &&
	    r->d.branch_h2 == inv.d.branch_h2,
	    "a retransmission got another branch");
	route_branch(&inv.d, b1);
	route_branch(&r->d, b2);
	CHECK(memcmp(b1, b2, sizeof(b1)) == 0, "branch text differs");

	/* another secret: another branch */
	line = __LINE__;
	run_bytes(r, inv.buf, inv.len, UNTR, 5060, conf_secret);
	CHECK(r->d.action == ROUTE_FORWARD, "not forwarded with a secret");
	CHECK(r->d.branch_h1 != inv.d.branch_h1 &&
	    r->d.branch_h2 != inv.d.branch_h2,
	    "branch_secret does not change the branch");
	route_branch(&r->d, b2);
	CHECK(memcmp(b1, b2, sizeof(b1)) != 0, "branch text unchanged");

	/* a new transaction (another top branch): another H1, and the
	 * same H2 as nothing H2 hashes changed */
	q2.via = "Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKother1\r\n";
	line = __LINE__;
	run_spec(r, &q2, UNTR, conf_proxy);
	CHECK(r->d.branch_h1 != inv.d.branch_h1,
	    "another top branch, same H1");
	CHECK(r->d.branch_h2 == inv.d.branch_h2,
	    "H2 depends on the top Via branch");

	/* the INVITE after a 407: CSeq 2 and Proxy-Authorization; its
	 * CANCEL carries no credentials and still gets its branch */
	auth.via = "Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKauth2\r\n";
	auth.cseq_num = 2;
	auth.extra = "Proxy-Authorization: Digest username=\"caller\", "
	    "realm=\"example.com\", nonce=\"abc\", "
	    "uri=\"sip:alice@example.com\", "
	    "response=\"0123456789abcdef0123456789abcdef\"\r\n";
	acancel = auth;
	acancel.method = "CANCEL";
	acancel.extra = NULL;
	line = __LINE__;
	run_spec(&inv, &auth, UNTR, conf_proxy);
	run_spec(r, &acancel, UNTR, conf_proxy);
	CHECK(inv.d.action == ROUTE_FORWARD && r->d.action == ROUTE_FORWARD,
	    "INVITE with credentials or its CANCEL not forwarded");
	CHECK(r->d.branch_h1 == inv.d.branch_h1 &&
	    r->d.branch_h2 == inv.d.branch_h2,
	    "CANCEL after a 407 differs from its INVITE (Proxy-Authorization "
	    "must not go into the branch)");

	/* RFC 2543 peers: no magic cookie; the same rules hold */
	q2 = q;
	q2.via = "Via: SIP/2.0/UDP 198.51.100.7:5060\r\n";
	cancel = q2;
	cancel.method = "CANCEL";
	ack = q2;
	ack.method = "ACK";
	ack.to_tag = "x9";
	line = __LINE__;
	run_spec(&inv, &q2, UNTR, conf_proxy);
	run_spec(r, &cancel, UNTR, conf_proxy);
	CHECK(r->d.branch_h1 == inv.d.branch_h1 &&
	    r->d.branch_h2 == inv.d.branch_h2,
	    "RFC 2543 CANCEL differs from its INVITE");
	run_spec(r, &ack, UNTR, conf_proxy);
	CHECK(r->d.branch_h1 == inv.d.branch_h1 &&
	    r->d.branch_h2 == inv.d.branch_h2,
	    "RFC 2543 ACK differs from its INVITE");
	q2.callid = "another-call@198.51.100.7";
	run_spec(r, &q2, UNTR, conf_proxy);
	CHECK(r->d.branch_h1 != inv.d.branch_h1 &&
	    r->d.branch_h2 != inv.d.branch_h2,
	    "RFC 2543: another Call-ID, same branch");
	assert_int_equal(nfail, 0);
}

/* ---- SPEC §7: a response is relayed only under the H1 we made ---- */

#define FWD_MAX	4096

/* Forward q from src:port that came in on listener in; out gets the bytes. */
static size_t
fwd_spec(const struct msgspec *q, const char *src, uint16_t port, int in,
    const struct conf *conf, char *out)
{
	static struct run r;
	struct fwd_hop hop;
	const char *why = NULL;
	char text[FWD_MAX];
	ssize_t n;

	run_bytes(&r, text, build_msg(text, sizeof(text), q), src, port,
	    conf);
	assert_int_equal(r.d.action, ROUTE_FORWARD);
	assert_int_equal(forward_hop(conf, &r.d.next_hop_uri, NULL, r.m.len,
	    &hop, &why), 0);
	n = forward_request(&r.m, &r.d, conf, src, port, in, &hop, out,
	    FWD_MAX, &why);
	if (n <= 0)
		fail_msg("forward_request: %s", why);
	return (size_t)n;
}

/* The forwarded request fwd as its callee's 200 answers it. */
static size_t
answer(const char *fwd, size_t n, char *out)
{
	static const char sl[] = "SIP/2.0 200 OK\r\n";
	const char *nl = memchr(fwd, '\n', n);

	assert_non_null(nl);
	n -= (size_t)(nl + 1 - fwd);
	assert_true(n + sizeof(sl) < FWD_MAX);
	memcpy(out, sl, sizeof(sl) - 1);
	memcpy(out + sizeof(sl) - 1, nl + 1, n);
	return n + sizeof(sl) - 1;
}

/* in with its first `from` replaced by `to`, into out. */
static size_t
mutate(const char *in, size_t n, const char *from, const char *to,
    char *out)
{
	const char *p = memmem(in, n, from, strlen(from));
	size_t a, fl = strlen(from), tl = strlen(to);

	if (p == NULL)
		fail_msg("mutate: no \"%s\" in the response", from);
	a = (size_t)(p - in);
	assert_true(n - fl + tl < FWD_MAX);
	memcpy(out, in, a);
	memcpy(out + a, to, tl);
	memcpy(out + a + tl, p + fl, n - a - fl);
	return n - fl + tl;
}

/* The top branch of a message: 40 bytes of ours. */
static const char *
top_branch(const char *b, size_t n)
{
	const char *p = memmem(b, n, ";branch=z9hG4bK", 15);

	assert_non_null(p);
	return p + 8;
}

static void
expect_relay(int line, const char *what, const char *resp, size_t n,
    const struct conf *conf, bool ours)
{
	static struct run run;
	struct run *r = &run;

	run_bytes(r, resp, n, "10.0.0.5", 5060, conf);
	if (ours)
		CHECK(r->d.action == ROUTE_RELAY &&
		    r->d.rule == RULE_RESPONSE_OURS, "not relayed");
	else
		CHECK(r->d.action == ROUTE_DROP &&
		    r->d.rule == RULE_RESPONSE_NOT_OURS &&
		    strcmp(r->d.drop_reason, "not_ours") == 0,
		    "relayed, or dropped for another reason");
}

static void
test_response_h1(void **state)
{
	static const struct {
		const char *from, *to, *what;
	} forged[] = {
		{ "192.0.2.33:5060;rport", "192.0.2.34:5060;rport",
		  "second Via sent-by host changed" },
		{ "192.0.2.33:5060;rport", "192.0.2.33:5061;rport",
		  "second Via sent-by port changed" },
		{ "received=198.51.100.7", "received=198.51.100.8",
		  "second Via received changed" },
		{ ";received=198.51.100.7", "", "second Via received removed" },
		{ "rport=5072", "rport=5073", "second Via rport changed" },
		{ "rport=5072", "rport", "second Via rport emptied" },
		{ "z9hG4bKh1test", "z9hG4bKh1tesu",
		  "second Via branch changed" },
		{ "SIP/2.0/UDP 192.0.2.33", "SIP/2.0/TCP 192.0.2.33",
		  "second Via transport changed" },
		{ "SIP/2.0/UDP 192.0.2.33", "SIP/2.0/TLS 192.0.2.33",
		  "second Via transport changed to TLS" },
		{ "SIP/2.0/UDP proxy.example.com:5060",
		  "SIP/2.0/UDP 10.9.9.9:5060", "top Via not ours" },
	};
	static const char via[] = "Via: SIP/2.0/UDP 192.0.2.33:5060;"
	    "rport;branch=z9hG4bKh1test\r\n";
	char fwd[FWD_MAX], resp[FWD_MAX], bad[FWD_MAX], b1[ROUTE_BRANCH_LEN];
	char hex[17];
	struct msgspec q = { .method = "INVITE",
	    .ruri = "sip:alice@example.com", .via = via, .cseq_num = 1 };
	static struct run none;
	struct run *r = &none;
	struct msgspec c;
	const char *what = "response H1", *br;
	size_t n, rn, bn, i;
	uint64_t h;
	int line;

	(void)state;
	nfail = 0;
	/* the genuine answer is relayed; each forgery of it is not */
	n = fwd_spec(&q, UNTR, 5072, 0, conf_proxy, fwd);
	rn = answer(fwd, n, resp);
	line = __LINE__;
	expect_relay(line, "genuine", resp, rn, conf_proxy, true);
	for (i = 0; i < sizeof(forged) / sizeof(forged[0]); i++) {
		bn = mutate(resp, rn, forged[i].from, forged[i].to, bad);
		expect_relay(line, forged[i].what, bad, bn, conf_proxy, false);
	}
	/* another key (branch_secret) does not know it */
	expect_relay(line, "under another key", resp, rn, conf_secret, false);

	/* guessed H1s: a made-up one, and the old unkeyed FNV of the top
	 * branch (what any reader of the source could compute) */
	br = top_branch(resp, rn);
	memcpy(bad, resp, rn);
	memcpy(bad + (br - resp) + 7, "0123456789abcdef", 16);
	expect_relay(line, "made-up H1", bad, rn, conf_proxy, false);
	h = hash_bytes(HASH_SEED, "", 0);
	h = hash_bytes(h, "z9hG4bKh1test", 13);
	h = hash_final(hash_bytes(h, "\0", 1));
	snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)h);
	memcpy(bad + (br - resp) + 7, hex, 16);
	expect_relay(line, "old FNV H1", bad, rn, conf_proxy, false);

	/* CANCEL and the ACK of a non-2xx: the INVITE's branch */
	memcpy(b1, top_branch(fwd, n), sizeof(b1));
	c = q;
	c.method = "CANCEL";
	n = fwd_spec(&c, UNTR, 5072, 0, conf_proxy, fwd);
	CHECK(memcmp(top_branch(fwd, n), b1, sizeof(b1)) == 0,
	    "CANCEL branch differs from the INVITE's");
	c.method = "ACK";
	c.to_tag = "as83kd9bs";
	n = fwd_spec(&c, UNTR, 5072, 0, conf_proxy, fwd);
	CHECK(memcmp(top_branch(fwd, n), b1, sizeof(b1)) == 0,
	    "ACK branch differs from the INVITE's");
	/* ... but not from another port: rport says where it goes */
	n = fwd_spec(&q, UNTR, 5073, 0, conf_proxy, fwd);
	CHECK(memcmp(top_branch(fwd, n), b1, sizeof(b1)) != 0,
	    "another rport, the same H1");

	/* over TCP, where we add rport ourselves */
	q.via = "Via: SIP/2.0/TCP 192.0.2.33:5060;branch=z9hG4bKh1tcp\r\n";
	n = fwd_spec(&q, UNTR, 40001, 1, conf_proxy, fwd);
	rn = answer(fwd, n, resp);
	expect_relay(line, "TCP genuine", resp, rn, conf_proxy, true);
	bn = mutate(resp, rn, "rport=40001", "rport=40002", bad);
	expect_relay(line, "TCP rport changed", bad, bn, conf_proxy, false);

	/* SPEC §7, §9: the transport is in H1, so a replay that moves a
	 * response from TLS to UDP or TCP (out of the encrypted channel), or
	 * the other way, is dropped */
	q.via = "Via: SIP/2.0/TLS 192.0.2.33:5061;branch=z9hG4bKh1tls\r\n";
	n = fwd_spec(&q, UNTR, 40003, 1, conf_proxy, fwd);
	rn = answer(fwd, n, resp);
	expect_relay(line, "TLS genuine", resp, rn, conf_proxy, true);
	bn = mutate(resp, rn, "SIP/2.0/TLS 192.0.2.33", "SIP/2.0/UDP "
	    "192.0.2.33", bad);
	expect_relay(line, "TLS made UDP", bad, bn, conf_proxy, false);
	bn = mutate(resp, rn, "SIP/2.0/TLS 192.0.2.33", "SIP/2.0/TCP "
	    "192.0.2.33", bad);
	expect_relay(line, "TLS made TCP", bad, bn, conf_proxy, false);
	bn = mutate(resp, rn, "192.0.2.33:5061", "192.0.2.33:5062", bad);
	expect_relay(line, "TLS sent-by port changed", bad, bn, conf_proxy,
	    false);

	/* RFC 2543: no branch; Call-ID, From tag and CSeq stand for it */
	q.via = "Via: SIP/2.0/UDP 192.0.2.33:5060\r\n";
	n = fwd_spec(&q, UNTR, 5072, 0, conf_proxy, fwd);
	memcpy(b1, top_branch(fwd, n), sizeof(b1));
	rn = answer(fwd, n, resp);
	expect_relay(line, "RFC 2543 genuine", resp, rn, conf_proxy, true);
	bn = mutate(resp, rn, "Call-ID: 38", "Call-ID: 39", bad);
	expect_relay(line, "RFC 2543 Call-ID changed", bad, bn, conf_proxy,
	    false);
	bn = mutate(resp, rn, "CSeq: 1 ", "CSeq: 2 ", bad);
	expect_relay(line, "RFC 2543 CSeq changed", bad, bn, conf_proxy,
	    false);
	c = q;
	c.method = "CANCEL";
	n = fwd_spec(&c, UNTR, 5072, 0, conf_proxy, fwd);
	CHECK(memcmp(top_branch(fwd, n), b1, sizeof(b1)) == 0,
	    "RFC 2543 CANCEL branch differs from the INVITE's");

	/* IPv6, from a source that is its own sent-by: no received */
	q.via = "Via: SIP/2.0/UDP [2001:db8:2::7]:5060;branch=z9hG4bK6\r\n";
	n = fwd_spec(&q, UNTR6, 5060, 2, conf_proxy, fwd);
	rn = answer(fwd, n, resp);
	expect_relay(line, "IPv6 genuine", resp, rn, conf_proxy, true);
	bn = mutate(resp, rn, "[2001:db8:2::7]:5060;", "[2001:db8:2::7]:5060;"
	    "received=2001:db8:2::8;", bad);
	expect_relay(line, "IPv6 received added", bad, bn, conf_proxy, false);
	assert_int_equal(nfail, 0);
}

static void
test_loop(void **state)
{
	static struct run first, r2;
	struct run *r = &r2;
	const char *what = "loop";
	char b[ROUTE_BRANCH_LEN], via[512];
	struct msgspec q = { .method = "INVITE",
	    .ruri = "sip:alice@example.com" };
	struct msgspec back;
	int line;

	(void)state;
	nfail = 0;
	run_spec(&first, &q, UNTR, conf_proxy);
	assert_int_equal(first.d.action, ROUTE_FORWARD);
	route_branch(&first.d, b);

	/* the same request back with our Via on top: 482 */
	back = q;
	snprintf(via, sizeof(via),
	    "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=%.*s\r\n" VIA_UA,
	    ROUTE_BRANCH_LEN, b);
	back.via = via;
	line = __LINE__;
	run_spec(r, &back, "127.0.0.1", conf_proxy);
	CHECK(r->d.action == ROUTE_REPLY && r->d.rule == RULE_LOOP &&
	    r->d.code == 482, "expected 482 Loop Detected");

	/* also when a proxy in between added its Via, and as advertised */
	snprintf(via, sizeof(via),
	    "Via: SIP/2.0/UDP 10.0.0.99:5060;branch=z9hG4bKmid1\r\n"
	    "Via: SIP/2.0/UDP proxy.example.com;branch=%.*s\r\n" VIA_UA,
	    ROUTE_BRANCH_LEN, b);
	line = __LINE__;
	run_spec(r, &back, TRUS, conf_proxy);
	CHECK(r->d.action == ROUTE_REPLY && r->d.rule == RULE_LOOP &&
	    r->d.code == 482, "expected 482 with our Via second");

	/* the same branch in a Via that is not ours proves nothing */
	snprintf(via, sizeof(via),
	    "Via: SIP/2.0/UDP 10.0.0.99:5060;branch=%.*s\r\n" VIA_UA,
	    ROUTE_BRANCH_LEN, b);
	line = __LINE__;
	run_spec(r, &back, TRUS, conf_proxy);
	CHECK(r->d.action == ROUTE_FORWARD && r->d.rule == RULE_ACTIVE,
	    "a foreign Via with our branch is not a loop");

	/* a spiral: back with another Request-URI, forwarded again with
	 * another branch */
	snprintf(via, sizeof(via),
	    "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=%.*s\r\n" VIA_UA,
	    ROUTE_BRANCH_LEN, b);
	back.ruri = "sip:alice@192.0.2.10";
	line = __LINE__;
	run_spec(r, &back, "127.0.0.1", conf_proxy);
	CHECK(r->d.action == ROUTE_FORWARD && r->d.rule == RULE_ACTIVE,
	    "a spiral must be forwarded");
	CHECK(r->d.branch_h2 != first.d.branch_h2, "the spiral kept H2");
	CHECK(r->d.branch_h1 != first.d.branch_h1, "the spiral kept H1");

	/* the loop is found whatever the mode */
	back.ruri = q.ruri;
	line = __LINE__;
	run_spec(r, &back, "127.0.0.1", conf_redirect);
	CHECK(r->d.action == ROUTE_REPLY && r->d.rule == RULE_LOOP &&
	    r->d.code == 482, "expected 482 in redirect mode");

	/* an ACK that loops is dropped, not answered */
	back.method = "ACK";
	back.to_tag = "zz1";
	line = __LINE__;
	run_spec(r, &back, "127.0.0.1", conf_proxy);
	CHECK(r->d.action == ROUTE_DROP && r->d.rule == RULE_LOOP &&
	    r->d.code == 482 && r->d.drop_reason != NULL &&
	    strcmp(r->d.drop_reason, "local_ack") == 0,
	    "a looping ACK must be dropped (local_ack)");
	assert_int_equal(nfail, 0);
}

static int	load_variant(const char *, const char *, const char *,
		    struct conf **);

/* Record-Route (SPEC §3): across transports two values, the outbound side
 * on top, as the callee sends to the first one and the caller to the last
 * (RFC 3261 §12.1, RFC 5658, Kamailio's double RR); one value otherwise. */
static void
test_record_route(void **state)
{
	static struct run run;
	struct run *r = &run;
	const char *what = "record-route", *why = NULL, *o, *i, *p;
	struct msgspec q = { .method = "INVITE",
	    .ruri = "sip:alice@example.com" };
	struct conf *c = NULL;
	struct fwd_hop hop;
	char out[4096];
	ssize_t n;
	int line, count;

	(void)state;
	nfail = 0;
	assert_int_equal(load_variant("record_route = false;",
	    "record_route = true;", NULL, &c), 0);
	assert_true(c->record_route);
	run_spec(r, &q, UNTR, c);
	assert_int_equal(r->d.action, ROUTE_FORWARD);
	assert_int_equal(forward_hop(c, &r->d.next_hop_uri, NULL, r->len,
	    &hop, &why), 0);
	assert_int_equal(hop.tp, SIP_TP_UDP);

	/* in over TCP (listener 1), out over UDP */
	line = __LINE__;
	n = forward_request(&r->m, &r->d, c, UNTR, 5060, 1, &hop, out,
	    sizeof(out) - 1, &why);
	assert_true(n > 0);
	out[n] = '\0';
	o = strstr(out, "Record-Route: <sip:proxy.example.com:5060;lr>\r\n");
	i = strstr(out, "Record-Route: "
	    "<sip:proxy.example.com:5060;transport=tcp;lr>\r\n");
	CHECK(o != NULL && i != NULL && o < i,
	    "expected the UDP (outbound) value on top, then the TCP one:\n%s",
	    out);

	/* in over UDP (listener 0), out over UDP: one value */
	line = __LINE__;
	n = forward_request(&r->m, &r->d, c, UNTR, 5060, 0, &hop, out,
	    sizeof(out) - 1, &why);
	assert_true(n > 0);
	out[n] = '\0';
	for (count = 0, p = out; (p = strstr(p, "Record-Route:")) != NULL;
	    p++)
		count++;
	CHECK(count == 1 && strstr(out, "Record-Route: "
	    "<sip:proxy.example.com:5060;lr>\r\n") != NULL,
	    "expected one Record-Route:\n%s", out);
	config_unref(c);
	assert_int_equal(nfail, 0);
}

/* SPEC §7: which forwarded requests may only leave over TLS. */
static void
test_needs_tls(void **state)
{
	static const struct {
		struct msgspec	 q;
		const char	*src;
		bool		 tls;
	} tls_rows[] = {
		{ { .method = "INVITE", .ruri = "sip:alice@example.com" },
		  UNTR, false },
		/* the caller's sips: survives retargeting to a sip: target */
		{ { .method = "INVITE", .ruri = "sips:alice@example.com" },
		  UNTR, true },
		{ { .method = "INVITE", .ruri = "sips:bob@203.0.113.9" },
		  TRUS, true },
		{ { .method = "INVITE", .ruri = "SIPS:bob@203.0.113.9" },
		  TRUS, true },
		{ { .method = "INVITE", .ruri = "sip:bob@203.0.113.9" },
		  TRUS, false },
		/* a sips: Route next hop */
		{ { .method = "BYE", .ruri = "sip:x@203.0.113.9",
		  .extra = "Route: <sip:127.0.0.1:5060;lr>,"
		  " <sips:203.0.113.9;lr>\r\n", .to_tag = "p1" },
		  TRUS, true },
		/* strict router: the last Route becomes the Request-URI */
		{ { .method = "BYE", .ruri = "sip:127.0.0.1:5060",
		  .extra = "Route: <sip:10.0.0.7;lr>, <sips:x@10.0.0.8>\r\n",
		  .to_tag = "p1" }, TRUS, true },
		{ { .method = "BYE", .ruri = "sip:127.0.0.1:5060",
		  .extra = "Route: <sip:10.0.0.7;lr>, <sip:x@10.0.0.8>\r\n",
		  .to_tag = "p1" }, TRUS, false },
	};
	static struct run run;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(tls_rows) / sizeof(tls_rows[0]); i++) {
		run_spec(&run, &tls_rows[i].q, tls_rows[i].src, conf_proxy);
		if (run.d.action != ROUTE_FORWARD)
			fail_msg("row %zu (%s): not forwarded", i,
			    tls_rows[i].q.ruri);
		if (forward_needs_tls(&run.m, &run.d) != tls_rows[i].tls)
			fail_msg("row %zu (%s): needs TLS should be %d", i,
			    tls_rows[i].q.ruri, tls_rows[i].tls);
	}
}

/* A sips: or transport=tls Route without a port names 5061 (RFC 3261
 * §19.1.2): ours when our TLS listener is there, a next hop when it is
 * not (usher on 5060 only). */
static void
test_tls_route_port(void **state)
{
	static const struct msgspec q = { .method = "BYE",
	    .ruri = "sip:x@10.0.0.7", .to_tag = "p1",
	    .extra = "Route: <sips:127.0.0.1;lr>, <sip:10.0.0.8;lr>\r\n" };
	static const struct msgspec q2 = { .method = "BYE",
	    .ruri = "sip:x@10.0.0.7", .to_tag = "p1",
	    .extra = "Route: <sip:127.0.0.1;transport=tls;lr>,"
	    " <sip:10.0.0.8;lr>\r\n" };
	static struct run run;
	struct conf *c = NULL;

	(void)state;
	assert_int_equal(load_variant("port = 5060; }\n);",
	    "port = 5060; },\n  { transport = \"tls\"; address = "
	    "\"127.0.0.1\"; port = 5061; }\n);", "tls = { certificate = "
	    "\"c.pem\"; private_key = \"k.pem\"; };\n", &c), 0);
	run_spec(&run, &q, TRUS, c);
	assert_int_equal(run.d.action, ROUTE_FORWARD);
	assert_int_equal(run.d.pop_routes, 1);
	assert_true(slice_eq(run.d.next_hop, SLICE("sip:10.0.0.8;lr")));
	run_spec(&run, &q2, TRUS, c);
	assert_int_equal(run.d.action, ROUTE_FORWARD);
	assert_int_equal(run.d.pop_routes, 1);
	/* no TLS listener on 5061: the Route is someone else's */
	run_spec(&run, &q, TRUS, conf_proxy);
	assert_int_equal(run.d.action, ROUTE_FORWARD);
	assert_int_equal(run.d.pop_routes, 0);
	assert_true(run.d.next_hop_uri.is_sips);
	config_unref(c);
}

static void
test_target_uri(void **state)
{
	static struct run run;
	struct run *r = &run;
	struct msgspec q = { .method = "INVITE",
	    .ruri = "sip:+15559999@example.com" };
	char out[64];
	const char *want = "sip:+15559999@10.0.0.9:5060";
	size_t wl = strlen(want);

	(void)state;
	run_spec(r, &q, UNTR, conf_proxy);
	assert_int_equal(r->d.action, ROUTE_FORWARD);
	assert_int_equal(route_target_uri(&r->d, &r->m, out, sizeof(out)),
	    (ssize_t)wl);
	assert_memory_equal(out, want, wl);
	assert_int_equal(route_target_uri(&r->d, &r->m, out, wl - 1), -1);

	/* a target with a user is given as is */
	q.ruri = "sip:+15551234@example.com";
	run_spec(r, &q, UNTR, conf_proxy);
	assert_int_equal(route_target_uri(&r->d, &r->m, out, sizeof(out)),
	    (ssize_t)strlen("sip:pbx3@10.0.0.11"));
	assert_memory_equal(out, "sip:pbx3@10.0.0.11", 18);
	assert_int_equal(route_target_uri(&r->d, &r->m, out, 10), -1);

	/* no entry, or an entry without a target: nothing to write */
	q.ruri = "sip:nobody@example.com";
	run_spec(r, &q, UNTR, conf_proxy);
	assert_null(r->d.entry);
	assert_int_equal(route_target_uri(&r->d, &r->m, out, sizeof(out)),
	    -1);
	q.ruri = "sip:carol@example.com";
	run_spec(r, &q, UNTR, conf_proxy);
	assert_non_null(r->d.entry);
	assert_int_equal(route_target_uri(&r->d, &r->m, out, sizeof(out)),
	    -1);

	/* route.h: -1 only "when it does not fit": the URI and its NUL
	 * fit in wl + 1 bytes. */
	q.ruri = "sip:+15559999@example.com";
	run_spec(r, &q, UNTR, conf_proxy);
	memset(out, 0, sizeof(out));
	assert_int_equal(route_target_uri(&r->d, &r->m, out, wl + 1),
	    (ssize_t)wl);
	assert_memory_equal(out, want, wl);
}

static void
test_names(void **state)
{
	const char *a, *b;
	int i, j;

	(void)state;
	for (i = 0; i < RULE__COUNT; i++) {
		a = route_rule_name((enum route_rule)i);
		assert_non_null(a);
		assert_true(a[0] != '\0');
		assert_string_not_equal(a, "?");
		for (j = 0; j < i; j++) {
			b = route_rule_name((enum route_rule)j);
			if (strcmp(a, b) == 0)
				fail_msg("rules %d and %d share the name %s",
				    i, j, a);
		}
	}
	assert_non_null(route_rule_name(RULE__COUNT));
	for (i = ROUTE_REPLY; i <= ROUTE_DROP; i++) {
		a = route_action_name((enum route_action)i);
		assert_non_null(a);
		assert_true(a[0] != '\0');
		assert_string_not_equal(a, "?");
	}
	assert_string_equal(route_action_name(ROUTE_FORWARD), "forward");
}

/* The file with `from` replaced by `to`, users_file made absolute (the
 * copy lives elsewhere) and `append` added, loaded. */
static int
load_variant(const char *from, const char *to, const char *append,
    struct conf **out)
{
	char path[] = "/tmp/test_route.XXXXXX", err[512];
	char *text = NULL, *p;
	size_t len, cap;
	FILE *f = NULL;
	int fd = -1, rc = -1;
	bool made = false;

	if ((f = fopen(CONF_PATH, "r")) == NULL) {
		fprintf(stderr, "%s: cannot open\n", CONF_PATH);
		goto out;
	}
	cap = 65536;
	if ((text = calloc(1, cap)) == NULL)
		goto out;
	len = fread(text, 1, cap - 1, f);
	if (len == cap - 1 || ferror(f)) {
		fprintf(stderr, "%s: cannot read (or too large)\n", CONF_PATH);
		goto out;
	}
	fclose(f);
	f = NULL;
	if ((fd = mkstemp(path)) == -1) {
		perror("mkstemp");
		goto out;
	}
	made = true;
	if ((f = fdopen(fd, "w")) == NULL)
		goto out;
	fd = -1;
	for (p = text; *p != '\0';) {
		if (from != NULL && strncmp(p, from, strlen(from)) == 0) {
			fputs(to, f);
			p += strlen(from);
			from = NULL;
		} else if (strncmp(p, USERS_LINE, strlen(USERS_LINE)) == 0) {
			fputs(USERS_ABS, f);
			p += strlen(USERS_LINE);
		} else
			fputc(*p++, f);
	}
	if (from != NULL) {
		fprintf(stderr, "%s: no \"%s\" to replace\n", CONF_PATH, from);
		goto out;
	}
	if (append != NULL)
		fputs(append, f);
	if (fclose(f) != 0) {
		f = NULL;
		goto out;
	}
	f = NULL;
	if (config_load(path, out, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s (variant of %s): %s\n", path, CONF_PATH,
		    err);
		goto out;
	}
	rc = 0;
out:
	if (f != NULL)
		fclose(f);
	if (fd != -1)
		close(fd);
	if (made)
		unlink(path);
	free(text);
	return rc;
}

static int
setup(void **state)
{
	char err[512];

	(void)state;
	if (config_load(CONF_PATH, &conf_proxy, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	if (conf_proxy->mode != MODE_PROXY || conf_proxy->ndomains != 3 ||
	    conf_proxy->ntrusted != 2) {
		fprintf(stderr, "%s: not the configuration this test expects\n",
		    CONF_PATH);
		return -1;
	}
	if (load_variant("mode = \"proxy\";", "mode = \"redirect\";", NULL,
	    &conf_redirect) == -1 ||
	    load_variant(NULL, NULL, "branch_secret = \"fleet-7\";\n",
	    &conf_secret) == -1)
		return -1;
	if (conf_redirect->mode != MODE_REDIRECT ||
	    strcmp(conf_secret->branch_secret, "fleet-7") != 0) {
		fprintf(stderr, "%s: variants not as written\n", CONF_PATH);
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	config_unref(conf_proxy);
	config_unref(conf_redirect);
	config_unref(conf_secret);
	conf_proxy = conf_redirect = conf_secret = NULL;
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_raw),
		cmocka_unit_test(test_branch),
		cmocka_unit_test(test_response_h1),
		cmocka_unit_test(test_loop),
		cmocka_unit_test(test_target_uri),
		cmocka_unit_test(test_needs_tls),
		cmocka_unit_test(test_tls_route_port),
		cmocka_unit_test(test_record_route),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
