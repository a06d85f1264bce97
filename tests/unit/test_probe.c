/* test_probe.c: which probe answers count for a member (SPEC §8): the
 * latest probe's, within its timeout, from the address it went to, with
 * our MAC; 408 and 5xx are failures; and passive signals by address. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "group.h"
#include "health.h"
#include "netaddr.h"
#include "probe.h"
#include "sipmsg.h"
#include "transport.h"

static struct conf		 conf;
static struct conf_group	 grp;
static struct group_member	 mem[2];
static struct worker		 wk;
static struct sipmsg		 msg;
static uint8_t			 pkey[SIPHASH_KEY_LEN];
static char			 text[2048];

static void
addr_of(const char *ip, uint16_t port, struct sockaddr_storage *ss)
{
	assert_int_equal(netaddr_parse(slice_make(ip, strlen(ip)), port, ss),
	    0);
}

static int
setup(void **state)
{
	const char *fault;
	size_t i;

	(void)state;
	memset(&conf, 0, sizeof(conf));
	memset(&grp, 0, sizeof(grp));
	memset(mem, 0, sizeof(mem));
	memset(&wk, 0, sizeof(wk));
	memset(conf.branch_key, 0x5a, sizeof(conf.branch_key));
	health_branch_key(conf.branch_key, pkey);
	mem[0].target = "sip:127.0.0.1:5070";
	mem[1].target = "sip:127.0.0.2:5070";
	for (i = 0; i < 2; i++)
		assert_int_equal(sipmsg_uri_parse(slice_make(mem[i].target,
		    strlen(mem[i].target)), &mem[i].uri, &fault), 0);
	grp.name = "pbx";
	grp.members = mem;
	grp.nmembers = 2;
	grp.interval = 1;
	grp.timeout = 1;
	grp.down_after = 1;
	grp.up_after = 1;
	conf.groups = &grp;
	conf.ngroups = 1;
	return probe_bind(&grp, 1);
}

static int
teardown(void **state)
{
	(void)state;
	health_fini();
	return 0;
}

/* As if probe seq had just gone to member 0 at 127.0.0.1:5070. */
static struct member_health *
sent(uint32_t seq)
{
	struct member_health *h = mem[0].health;

	pthread_mutex_lock(&h->mu);
	h->seq = seq;
	h->waiting = true;
	h->sent_us = health_now_us();
	h->deadline_us = h->sent_us + 1000000;
	addr_of("127.0.0.1", 5070, &h->addr);
	h->addrlen = sizeof(struct sockaddr_in);
	h->down_after = 1;
	h->up_after = 1;
	pthread_mutex_unlock(&h->mu);
	return h;
}

/* The answer code to probe (id, seq), scanned into msg. */
static const struct sipmsg *
answer(unsigned code, uint32_t id, uint32_t seq, bool tamper)
{
	char branch[HEALTH_BRANCH_LEN + 1];
	int n;

	health_branch(pkey, id, seq, branch);
	if (tamper)
		branch[HEALTH_BRANCH_LEN - 1] ^= 1;
	n = snprintf(text, sizeof(text), "SIP/2.0 %u X\r\n"
	    "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=%s;rport=5060\r\n"
	    "From: <sip:usher@127.0.0.1>;tag=1\r\n"
	    "To: <sip:127.0.0.1:5070>;tag=2\r\n"
	    "Call-ID: c@usher\r\nCSeq: %u OPTIONS\r\n"
	    "Content-Length: 0\r\n\r\n", code, branch, seq);
	assert_true(sipmsg_scan(text, (size_t)n, SIPMSG_DGRAM, &msg) > 0);
	return &msg;
}

static struct tp_source *
from(const char *ip, uint16_t port)
{
	static struct tp_source src;

	memset(&src, 0, sizeof(src));
	src.tp = SIP_TP_UDP;
	addr_of(ip, port, &src.addr);
	snprintf(src.ip, sizeof(src.ip), "%s", ip);
	src.port = port;
	return &src;
}

static void
test_answers(void **state)
{
	struct member_health *h;
	uint32_t id = mem[0].health->id;

	(void)state;
	/* our answer: alive, rtt noted, the probe no longer awaited */
	h = sent(7);
	atomic_store(&h->up, false);
	assert_true(probe_is_answer(answer(200, id, 7, false)));
	assert_true(probe_answer(&wk, from("127.0.0.1", 5070), &msg, &conf));
	assert_true(atomic_load(&h->up));
	assert_false(h->waiting);
	assert_int_equal(atomic_load(&wk.metrics.probes_answered), 1);
	/* the same again (a duplicate, a replay): stale, no count */
	assert_true(probe_answer(&wk, from("127.0.0.1", 5070), &msg, &conf));
	assert_int_equal(atomic_load(&wk.metrics.probes_answered), 1);
	assert_int_equal(atomic_load(&wk.metrics.probes_stale), 1);

	/* 503 and 408 are failures; 404 and 486 alive */
	sent(8);
	answer(503, id, 8, false);
	assert_true(probe_answer(&wk, from("127.0.0.1", 5070), &msg, &conf));
	assert_false(atomic_load(&h->up));
	sent(9);
	answer(404, id, 9, false);
	assert_true(probe_answer(&wk, from("127.0.0.1", 5070), &msg, &conf));
	assert_true(atomic_load(&h->up));
	sent(10);
	answer(408, id, 10, false);
	assert_true(probe_answer(&wk, from("127.0.0.1", 5070), &msg, &conf));
	assert_false(atomic_load(&h->up));

	/* a dead member stays down: the right branch from another port or
	 * host, an older sequence, a tampered MAC, another member's id */
	sent(11);
	answer(200, id, 11, false);
	assert_true(probe_answer(&wk, from("127.0.0.1", 5071), &msg, &conf));
	assert_true(probe_answer(&wk, from("127.0.0.3", 5070), &msg, &conf));
	answer(200, id, 10, false);
	assert_true(probe_answer(&wk, from("127.0.0.1", 5070), &msg, &conf));
	answer(200, id, 11, true);
	assert_false(probe_answer(&wk, from("127.0.0.1", 5070), &msg, &conf));
	answer(200, mem[1].health->id, 11, false);
	assert_true(probe_answer(&wk, from("127.0.0.1", 5070), &msg, &conf));
	answer(200, 0x7fffffff, 11, false);	/* no such member */
	assert_false(probe_answer(&wk, from("127.0.0.1", 5070), &msg, &conf));
	assert_false(atomic_load(&h->up));
	assert_true(h->waiting);	/* still awaited */
	assert_false(atomic_load(&mem[1].health->up) == false);

	/* a provisional answer is ours, changes nothing */
	answer(100, id, 11, false);
	assert_true(probe_answer(&wk, from("127.0.0.1", 5070), &msg, &conf));
	assert_true(h->waiting);

	/* too late */
	pthread_mutex_lock(&h->mu);
	h->deadline_us = health_now_us() - 1;
	pthread_mutex_unlock(&h->mu);
	answer(200, id, 11, false);
	assert_true(probe_answer(&wk, from("127.0.0.1", 5070), &msg, &conf));
	assert_false(atomic_load(&h->up));

	/* the genuine one in time at last */
	sent(12);
	answer(200, id, 12, false);
	assert_true(probe_answer(&wk, from("127.0.0.1", 5070), &msg, &conf));
	assert_true(atomic_load(&h->up));
	assert_int_equal(atomic_load(&h->to_down), 2);
	assert_int_equal(atomic_load(&h->to_up), 3);
}

static void
test_not_answers(void **state)
{
	static const char *rq = "OPTIONS sip:127.0.0.1 SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKP0000000100000001"
	    "0123456789abcdef\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\n"
	    "Call-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
	static const char *fw = "SIP/2.0 200 OK\r\n"
	    "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK0123456789abcdef."
	    "0123456789abcdef\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKa\r\n"
	    "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\n"
	    "Call-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";

	(void)state;
	/* a request with a probe-like branch is a request */
	assert_true(sipmsg_scan(rq, strlen(rq), SIPMSG_DGRAM, &msg) > 0);
	assert_false(probe_is_answer(&msg));
	/* a response to a forwarded request */
	assert_true(sipmsg_scan(fw, strlen(fw), SIPMSG_DGRAM, &msg) > 0);
	assert_false(probe_is_answer(&msg));
}

static void
test_passive(void **state)
{
	struct sockaddr_storage ss;
	struct member_health *h0 = mem[0].health, *h1 = mem[1].health;

	(void)state;
	/* member 1 never probed: found by its IP literal */
	addr_of("127.0.0.2", 5070, &ss);
	assert_true(probe_peer_failed(&conf, (struct sockaddr *)&ss,
	    ECONNREFUSED, "ICMP"));
	assert_false(atomic_load(&h1->up));	/* down_after 1 */
	/* another port of the same host, another host: no member */
	addr_of("127.0.0.2", 5071, &ss);
	assert_false(probe_peer_failed(&conf, (struct sockaddr *)&ss,
	    ECONNREFUSED, "ICMP"));
	addr_of("192.0.2.1", 5070, &ss);
	assert_false(probe_peer_failed(&conf, (struct sockaddr *)&ss,
	    EHOSTUNREACH, "ICMP"));
	/* an awaited probe's member: its failure, the probe done with */
	sent(3);
	addr_of("127.0.0.1", 5070, &ss);
	assert_true(probe_peer_failed(&conf, (struct sockaddr *)&ss,
	    ECONNRESET, "TCP"));
	assert_false(atomic_load(&h0->up));
	assert_false(h0->waiting);
	assert_false(probe_peer_failed(NULL, (struct sockaddr *)&ss,
	    ECONNRESET, "TCP"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_answers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_answers, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_passive, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
