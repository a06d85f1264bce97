/* test_capture.c: the HEPv3 encoder byte for byte (IPv4 and IPv6, written
 * out by hand from the HEPv3 chunk table, not from the encoder), its limits
 * (buffer too small, 16-bit total length, mixed families) and the Call-ID
 * finder. */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "capture.h"

static void
v4(struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	assert_int_equal(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
}

static void
v6(struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	assert_int_equal(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
}

static const uint8_t want_v4[] = {
	'H', 'E', 'P', '3', 0x00, 0x6c,			/* 108 bytes */
	0, 0, 0, 0x01, 0, 7, 2,				/* AF_INET */
	0, 0, 0, 0x02, 0, 7, 17,			/* UDP */
	0, 0, 0, 0x03, 0, 10, 192, 0, 2, 1,
	0, 0, 0, 0x04, 0, 10, 198, 51, 100, 2,
	0, 0, 0, 0x07, 0, 8, 0x13, 0xc4,		/* 5060 */
	0, 0, 0, 0x08, 0, 8, 0x13, 0xd8,		/* 5080 */
	0, 0, 0, 0x09, 0, 10, 0x5f, 0x5e, 0x10, 0x00,
	0, 0, 0, 0x0a, 0, 10, 0x00, 0x0a, 0x1b, 0x2c,
	0, 0, 0, 0x0b, 0, 7, 1,				/* SIP */
	0, 0, 0, 0x0c, 0, 10, 0, 0, 0x07, 0xd1,		/* 2001 */
	0, 0, 0, 0x0f, 0, 7, 'X',
	0, 0, 0, 0x11, 0, 8, 'c', '1',
};

static const uint8_t want_v6[] = {
	'H', 'E', 'P', '3', 0x00, 0x7c,			/* 124 bytes */
	0, 0, 0, 0x01, 0, 7, 10,			/* AF_INET6 */
	0, 0, 0, 0x02, 0, 7, 6,				/* TCP */
	0, 0, 0, 0x05, 0, 22, 0, 0, 0, 0, 0, 0, 0, 0,
	    0, 0, 0, 0, 0, 0, 0, 1,
	0, 0, 0, 0x06, 0, 22, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
	    0, 0, 0, 0, 0, 0, 0, 2,
	0, 0, 0, 0x07, 0, 8, 0xff, 0xff,
	0, 0, 0, 0x08, 0, 8, 0x00, 0x01,
	0, 0, 0, 0x09, 0, 10, 0xff, 0xff, 0xff, 0xff,
	0, 0, 0, 0x0a, 0, 10, 0x00, 0x0f, 0x42, 0x3f,	/* 999999 */
	0, 0, 0, 0x0b, 0, 7, 1,
	0, 0, 0, 0x0c, 0, 10, 0xff, 0xff, 0xff, 0xff,
	0, 0, 0, 0x0f, 0, 7, 'Y',			/* no Call-ID chunk */
};

static void
test_encode_v4(void **state)
{
	struct sockaddr_storage s, d;
	struct capture_meta cm = { IPPROTO_UDP, &s, &d, 0x5f5e1000, 0x0a1b2c,
	    2001, SLICE("c1") };
	uint8_t out[256];

	(void)state;
	v4(&s, "192.0.2.1", 5060);
	v4(&d, "198.51.100.2", 5080);
	assert_int_equal(capture_encode(&cm, "X", 1, out, sizeof(out)),
	    sizeof(want_v4));
	assert_memory_equal(out, want_v4, sizeof(want_v4));
	/* Exactly big enough works; one byte less is refused. */
	assert_int_equal(capture_encode(&cm, "X", 1, out, sizeof(want_v4)),
	    sizeof(want_v4));
	assert_int_equal(capture_encode(&cm, "X", 1, out,
	    sizeof(want_v4) - 1), -1);
	assert_int_equal(capture_encode(&cm, "X", 1, out, 0), -1);
}

static void
test_encode_v6(void **state)
{
	struct sockaddr_storage s, d;
	struct capture_meta cm = { IPPROTO_TCP, &s, &d, 0xffffffff, 999999,
	    0xffffffff, SLICE_NULL };
	uint8_t out[256];

	(void)state;
	v6(&s, "::1", 65535);
	v6(&d, "2001:db8::2", 1);
	assert_int_equal(capture_encode(&cm, "Y", 1, out, sizeof(out)),
	    sizeof(want_v6));
	assert_memory_equal(out, want_v6, sizeof(want_v6));
	assert_int_equal(capture_encode(&cm, "Y", 1, out,
	    sizeof(want_v6) - 1), -1);
}

static void
test_limits(void **state)
{
	struct sockaddr_storage s, d;
	struct capture_meta cm = { IPPROTO_UDP, &s, &d, 1, 2, 3, SLICE_NULL };
	size_t room = CAPTURE_MAX - (sizeof(want_v4) - 8 - 1);
	uint8_t *out = malloc(70000);
	char *msg = malloc(70000);

	(void)state;
	assert_non_null(out);
	assert_non_null(msg);
	memset(msg, 'a', 70000);
	v4(&s, "192.0.2.1", 5060);
	v4(&d, "198.51.100.2", 5080);
	/* The largest payload that fits the 16-bit length, and one more. */
	assert_int_equal(capture_encode(&cm, msg, room, out, 70000),
	    CAPTURE_MAX);
	assert_int_equal(out[4], 0xff);
	assert_int_equal(out[5], 0xff);
	/* The payload chunk's own length, its header included. */
	assert_int_equal(out[CAPTURE_MAX - room - 2], (room + 6) >> 8);
	assert_int_equal(out[CAPTURE_MAX - room - 1], (room + 6) & 0xff);
	assert_int_equal(capture_encode(&cm, msg, room + 1, out, 70000), -1);
	assert_int_equal(capture_encode(&cm, msg, 65535, out, 70000), -1);
	assert_int_equal(capture_encode(&cm, msg, 69999, out, 70000), -1);
	/* Families must agree, and be IP. */
	v6(&d, "::1", 5060);
	assert_int_equal(capture_encode(&cm, "X", 1, out, 70000), -1);
	d.ss_family = AF_UNIX;
	s.ss_family = AF_UNIX;
	assert_int_equal(capture_encode(&cm, "X", 1, out, 70000), -1);
	free(out);
	free(msg);
}

static void
test_callid(void **state)
{
	static const struct {
		const char	*msg;
		const char	*want;		/* NULL: none */
	} t[] = {
		{ "INVITE sip:a@b SIP/2.0\r\nVia: x\r\nCall-ID: abc@h\r\n\r\n",
		    "abc@h" },
		{ "SIP/2.0 200 OK\r\ncall-id:\t x1 \r\n\r\n", "x1" },
		{ "BYE sip:a@b SIP/2.0\r\nI : short\r\n\r\n", "short" },
		{ "BYE sip:a@b SIP/2.0\nCALL-ID: lf-only\n\n", "lf-only" },
		{ "BYE sip:a@b SIP/2.0\r\nCall-Info: no\r\nIn: no\r\n\r\n",
		    NULL },
		/* Only the headers: a body that says Call-ID is no header. */
		{ "MESSAGE sip:a@b SIP/2.0\r\nTo: t\r\n\r\nCall-ID: body\r\n",
		    NULL },
		{ "Call-ID: start-line-only", NULL },
		{ "", NULL },
		{ "X sip:a SIP/2.0\r\nCall-ID: cut", "cut" },
	};
	struct slice r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		r = capture_callid(t[i].msg, strlen(t[i].msg));
		if (t[i].want == NULL) {
			assert_null(r.p);
			continue;
		}
		assert_int_equal(r.len, strlen(t[i].want));
		assert_memory_equal(r.p, t[i].want, r.len);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_v4),
		cmocka_unit_test(test_encode_v6),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_callid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
