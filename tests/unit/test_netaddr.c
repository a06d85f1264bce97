/* test_netaddr.c: IP literals and sockaddrs, driven by tables: parse (with
 * and without brackets, zone ids refused), host:port, format, compare,
 * port, unicast; and the IPv4 parser against inet_pton(). */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "netaddr.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/* Each literal: whether it parses, its family, and how it prints back
 * (bare and with NETADDR_PORT at port 5061). */
static const struct {
	const char	*in;
	int		 family;	/* 0: refused */
	const char	*text;
	const char	*withport;
} literals[] = {
	{ "1.2.3.4", AF_INET, "1.2.3.4", "1.2.3.4:5061" },
	{ "0.0.0.0", AF_INET, "0.0.0.0", "0.0.0.0:5061" },
	{ "255.255.255.255", AF_INET, "255.255.255.255",
	  "255.255.255.255:5061" },
	{ "[1.2.3.4]", AF_INET, "1.2.3.4", "1.2.3.4:5061" },	/* as before */
	{ "::1", AF_INET6, "::1", "[::1]:5061" },
	{ "[::1]", AF_INET6, "::1", "[::1]:5061" },
	{ "2001:DB8::1", AF_INET6, "2001:db8::1", "[2001:db8::1]:5061" },
	{ "[2001:db8:0:0:0:0:0:1]", AF_INET6, "2001:db8::1",
	  "[2001:db8::1]:5061" },
	{ "::ffff:1.2.3.4", AF_INET6, "::ffff:1.2.3.4",
	  "[::ffff:1.2.3.4]:5061" },
	{ "256.1.1.1", 0, NULL, NULL },
	{ "1.2.3.256", 0, NULL, NULL },
	{ "01.2.3.4", 0, NULL, NULL },		/* leading zero */
	{ "1.2.3.04", 0, NULL, NULL },
	{ "1.2.3", 0, NULL, NULL },
	{ "1.2.3.4.5", 0, NULL, NULL },
	{ "1..2.3", 0, NULL, NULL },
	{ "1.2.3.", 0, NULL, NULL },
	{ " 1.2.3.4", 0, NULL, NULL },
	{ "1.2.3.4 ", 0, NULL, NULL },
	{ "1.2.3.4:5060", 0, NULL, NULL },	/* a port is no host */
	{ "1234.1.1.1", 0, NULL, NULL },
	{ "example.com", 0, NULL, NULL },
	{ "a.b.c.d", 0, NULL, NULL },
	{ "fe80::1%eth0", 0, NULL, NULL },	/* zone ids refused */
	{ "[fe80::1%25eth0]", 0, NULL, NULL },
	{ "[::1", 0, NULL, NULL },
	{ "::1]", 0, NULL, NULL },
	{ "[]", 0, NULL, NULL },
	{ "[", 0, NULL, NULL },
	{ "", 0, NULL, NULL },
	{ "1:2", 0, NULL, NULL },
	{ ":::", 0, NULL, NULL },
	{ "1:2:3:4:5:6:7:8:9", 0, NULL, NULL },
	{ "[[::1]]", 0, NULL, NULL },
	{ "0000:0000:0000:0000:0000:0000:0000:0000:0", 0, NULL, NULL },
};

static void
test_parse(void **state)
{
	struct sockaddr_storage ss;
	char buf[NETADDR_STRLEN];
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < NELEM(literals); i++) {
		rc = netaddr_parse(slice_make(literals[i].in,
		    strlen(literals[i].in)), 5061, &ss);
		if ((rc == 0) != (literals[i].family != 0))
			fail_msg("%s: netaddr_parse says %d", literals[i].in,
			    rc);
		assert_int_equal(netaddr_is_ip(slice_make(literals[i].in,
		    strlen(literals[i].in))), literals[i].family != 0);
		if (rc == -1)
			continue;
		assert_int_equal(ss.ss_family, literals[i].family);
		assert_int_equal(netaddr_port(&ss), 5061);
		assert_int_equal(netaddr_len(ss.ss_family),
		    literals[i].family == AF_INET ?
		    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
		assert_int_equal(netaddr_format(&ss, 0, buf, sizeof(buf)),
		    strlen(literals[i].text));
		assert_string_equal(buf, literals[i].text);
		assert_int_equal(netaddr_format(&ss, NETADDR_PORT, buf,
		    sizeof(buf)), strlen(literals[i].withport));
		assert_string_equal(buf, literals[i].withport);
	}
}

/* The parser that spares a NUL-terminated copy, against inet_pton(). */
static void
test_ipv4_vs_inet_pton(void **state)
{
	static const char *const in[] = { "1.2.3.4", "0.0.0.0", "10.0.0.1",
	    "255.255.255.255", "256.1.1.1", "999.1.1.1", "01.2.3.4",
	    "00.1.2.3", "1.2.3.0000", "1.2.3", "", ".1.2.3", "1.2.3.4x",
	    "1.2.3.-1", "+1.2.3.4", "1.2.3.4\n", "127.1" };
	uint8_t a[4], b[4];
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(in); i++) {
		bool mine = netaddr_ipv4_parse(in[i], strlen(in[i]), a);
		bool libc = inet_pton(AF_INET, in[i], b) == 1;

		if (mine != libc)
			fail_msg("\"%s\": netaddr %d, inet_pton %d", in[i],
			    mine, libc);
		if (mine)
			assert_memory_equal(a, b, 4);
	}
}

static void
test_hostport(void **state)
{
	static const struct {
		const char	*in;
		const char	*out;	/* NETADDR_PORT text; NULL: refused */
	} t[] = {
		{ "1.2.3.4", "1.2.3.4:53" },
		{ "1.2.3.4:5353", "1.2.3.4:5353" },
		{ "1.2.3.4:65535", "1.2.3.4:65535" },
		{ "::1", "[::1]:53" },			/* bare IPv6 */
		{ "2001:db8::53", "[2001:db8::53]:53" },
		{ "[::1]", "[::1]:53" },
		{ "[::1]:5353", "[::1]:5353" },
		{ "1.2.3.4:0", NULL },
		{ "1.2.3.4:65536", NULL },
		{ "1.2.3.4:", NULL },
		{ "1.2.3.4:x", NULL },
		{ "1.2.3.4:+53", NULL },
		{ "1.2.3.4:000053", NULL },
		{ "[1.2.3.4]:53", NULL },		/* brackets: IPv6 */
		{ "[::1]53", NULL },
		{ "[::1]:", NULL },
		{ "[::1", NULL },
		{ "ns.example.com:53", NULL },
		{ "fe80::1%eth0", NULL },
		{ "", NULL },
	};
	struct sockaddr_storage ss;
	char buf[NETADDR_STRLEN];
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < NELEM(t); i++) {
		rc = netaddr_parse_hostport(slice_make(t[i].in,
		    strlen(t[i].in)), 53, &ss);
		if ((rc == 0) != (t[i].out != NULL))
			fail_msg("%s: netaddr_parse_hostport says %d",
			    t[i].in, rc);
		if (rc == 0) {
			netaddr_format(&ss, NETADDR_PORT, buf, sizeof(buf));
			assert_string_equal(buf, t[i].out);
		}
	}
}

static void
ss_of(const char *text, uint16_t port, struct sockaddr_storage *ss)
{
	assert_int_equal(netaddr_parse(slice_make(text, strlen(text)), port,
	    ss), 0);
}

static void
test_compare(void **state)
{
	static const struct {
		const char	*a;
		uint16_t	 pa;
		const char	*b;
		uint16_t	 pb;
		bool		 eq, eq_port, eq_unmapped;
	} t[] = {
		{ "1.2.3.4", 5060, "1.2.3.4", 5060, true, true, true },
		{ "1.2.3.4", 5060, "1.2.3.4", 5061, true, false, true },
		{ "1.2.3.4", 5060, "1.2.3.5", 5060, false, false, false },
		{ "::1", 5060, "[0:0::1]", 5060, true, true, true },
		{ "::1", 5060, "::2", 5060, false, false, false },
		{ "1.2.3.4", 5060, "::ffff:1.2.3.4", 5060, false, false,
		  true },
		{ "::1", 5060, "0.0.0.1", 5060, false, false, false },
	};
	struct sockaddr_storage a, b;
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(t); i++) {
		ss_of(t[i].a, t[i].pa, &a);
		ss_of(t[i].b, t[i].pb, &b);
		assert_int_equal(netaddr_eq(&a, &b), t[i].eq);
		assert_int_equal(netaddr_eq_port(&a, &b), t[i].eq_port);
		netaddr_unmap(&a);
		netaddr_unmap(&b);
		assert_int_equal(netaddr_eq(&a, &b), t[i].eq_unmapped);
		assert_int_equal(netaddr_port(&a), t[i].pa);
	}
}

static void
test_port_and_format(void **state)
{
	struct sockaddr_storage ss;
	char small[8], buf[NETADDR_STRLEN];

	(void)state;
	ss_of("2001:db8::1", 0, &ss);
	assert_int_equal(netaddr_port(&ss), 0);
	netaddr_set_port(&ss, 65535);
	assert_int_equal(netaddr_port(&ss), 65535);
	assert_int_equal(netaddr_format(&ss, NETADDR_BRACKETS, buf,
	    sizeof(buf)), strlen("[2001:db8::1]"));
	assert_string_equal(buf, "[2001:db8::1]");
	assert_int_equal(netaddr_format(&ss, NETADDR_PORT, small,
	    sizeof(small)), -1);
	ss_of("192.0.2.1", 7, &ss);
	assert_int_equal(netaddr_format(&ss, NETADDR_BRACKETS, buf,
	    sizeof(buf)), 9);			/* no brackets for IPv4 */
	assert_string_equal(buf, "192.0.2.1");
	assert_int_equal(netaddr_format(&ss, 0, buf, 10), 9);
	assert_int_equal(netaddr_format(&ss, 0, buf, 9), -1);
	/* the longest text fits NETADDR_STRLEN */
	ss_of("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", 65535, &ss);
	assert_true(netaddr_format(&ss, NETADDR_PORT, buf, sizeof(buf)) > 0);
	memset(&ss, 0, sizeof(ss));
	assert_int_equal(netaddr_format(&ss, 0, buf, sizeof(buf)), -1);
	assert_int_equal(netaddr_len(AF_UNIX), 0);
	assert_int_equal(SIP_DEFAULT_PORT, 5060);
	assert_int_equal(SIP_TLS_DEFAULT_PORT, 5061);
}

static void
test_unicast(void **state)
{
	static const struct {
		const char	*in;
		uint16_t	 port;
		bool		 unicast;
	} t[] = {
		{ "192.0.2.1", 5060, true },
		{ "192.0.2.1", 0, false },		/* port 0 */
		{ "0.0.0.0", 5060, false },
		{ "255.255.255.255", 5060, false },
		{ "224.0.0.1", 5060, false },
		{ "239.255.255.250", 5060, false },
		{ "240.0.0.1", 5060, false },
		{ "223.255.255.255", 5060, true },
		{ "::1", 5060, true },
		{ "::", 5060, false },
		{ "ff02::1", 5060, false },
		{ "2001:db8::1", 0, false },
	};
	struct sockaddr_storage ss;
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(t); i++) {
		ss_of(t[i].in, t[i].port, &ss);
		if (netaddr_is_unicast(&ss) != t[i].unicast)
			fail_msg("%s port %u: unicast %d", t[i].in,
			    t[i].port, !t[i].unicast);
	}
	memset(&ss, 0, sizeof(ss));
	assert_false(netaddr_is_unicast(&ss));	/* no family */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_ipv4_vs_inet_pton),
		cmocka_unit_test(test_hostport),
		cmocka_unit_test(test_compare),
		cmocka_unit_test(test_port_and_format),
		cmocka_unit_test(test_unicast),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
