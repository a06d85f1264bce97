/* test_route_group.c: route_decide() and the local answers for users whose
 * target is a PBX group (SPEC §8): forward to the chosen member with the
 * user put in, CANCEL/ACK/retransmission to the INVITE's member, 503 with
 * Retry-After when no member is usable (the group named to trusted
 * sources only), a 302 listing the usable members best first with
 * q-values, members as in-dialog next hops. */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "forward.h"
#include "group.h"
#include "health.h"
#include "route.h"
#include "sipmsg.h"

#define UNTR	"198.51.100.7"
#define TRUS	"10.1.2.3"

static const char conf_text[] =
    "listen = ( { transport = \"udp\"; address = \"127.0.0.1\"; "
    "port = 5060; } );\n"
    "MODE\n"
    "branch_secret = \"fleet\";\n"
    "trusted = [ \"10.1.0.0/16\" ];\n"
    "domains = ( { name = \"example.com\"; authoritative = true; } );\n"
    "groups = ( { name = \"east\"; members = (\n"
    "  { target = \"sip:10.0.0.5:5060\"; weight = 2; },\n"
    "  { target = \"sip:10.0.0.6:5070;transport=tcp\"; },\n"
    "  { target = \"sip:10.0.0.7\"; priority = 2; } );\n"
    "  probe = { interval = 7; timeout = 3; }; } );\n"
    "users = ( { user = \"alice\"; domain = \"example.com\"; "
    "target = \"group:east\"; },\n"
    "  { prefix = \"+1555\"; domain = \"example.com\"; "
    "target = \"group:east\"; },\n"
    "  { user = \"bob\"; domain = \"example.com\"; "
    "target = \"sip:bob@10.0.0.9\"; } );\n";

static struct conf *proxy, *redirect;
static const char *via_tp = "UDP";	/* of the requests decide() makes */
static struct member_health health[2][3];

static struct conf *
load(const char *mode)
{
	char path[64], err[512], text[2048];
	const char *at = strstr(conf_text, "MODE");
	struct conf *c = NULL;
	FILE *fp;
	int fd;

	assert_non_null(at);
	snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - conf_text),
	    conf_text, mode, at + 4);
	snprintf(path, sizeof(path), "/tmp/usher-test-rgroup-XXXXXX");
	assert_true((fd = mkstemp(path)) >= 0);
	assert_non_null(fp = fdopen(fd, "w"));
	fputs(text, fp);
	fclose(fp);
	if (config_load(path, &c, err, sizeof(err)) == -1)
		fail_msg("%s", err);
	unlink(path);
	return c;
}

/* Bind each member to a health record the test can flip. */
static void
bind_health(struct conf *c, struct member_health *h)
{
	struct group_member *m = c->groups[0].members;
	size_t i;

	for (i = 0; i < c->groups[0].nmembers; i++) {
		atomic_init(&h[i].up, true);
		atomic_init(&h[i].drained, false);
		m[i].health = &h[i];
	}
}

static void
all_up(struct member_health *h)
{
	size_t i;

	for (i = 0; i < 3; i++) {
		atomic_store(&h[i].up, true);
		atomic_store(&h[i].drained, false);
	}
}

struct run {
	char			 buf[2048];
	struct sipmsg		 m;
	struct route_decision	 d;
};

static void
decide(struct run *r, const struct conf *c, const char *method,
    const char *ruri, const char *callid, const char *src,
    const char *extra)
{
	struct sockaddr_in sin;
	ssize_t rc;
	int n;

	n = snprintf(r->buf, sizeof(r->buf),
	    "%s %s SIP/2.0\r\n"
	    "Via: SIP/2.0/%s 198.51.100.7:5060;branch=z9hG4bK74bf9\r\n"
	    "Max-Forwards: 70\r\n"
	    "From: <sip:caller@198.51.100.7>;tag=9fxced76sl\r\n"
	    "To: <sip:alice@example.com>\r\n"
	    "Call-ID: %s\r\n"
	    "CSeq: 1 %s\r\n%s"
	    "Content-Length: 0\r\n\r\n", method, ruri, via_tp, callid,
	    method, extra != NULL ? extra : "");
	assert_true(n > 0 && (size_t)n < sizeof(r->buf));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(5060);
	assert_int_equal(inet_pton(AF_INET, src, &sin.sin_addr), 1);
	memset(&r->m, 0, sizeof(r->m));
	rc = sipmsg_scan(r->buf, (size_t)n, SIPMSG_DGRAM, &r->m);
	assert_true(rc > 0);
	route_decide(&r->m, (int)rc, (struct sockaddr *)&sin, c, &r->d);
}

static const char *
target_uri(const struct run *r, char *buf, size_t len)
{
	ssize_t n = route_target_uri(&r->d, &r->m, buf, len);

	assert_true(n > 0);
	return buf;
}

static void
test_forward_to_member(void **state)
{
	const struct conf_group *g;
	char uri[256], want[256], cid[64];
	struct run r;
	int seen[3] = { 0 }, i, k;

	(void)state;
	g = &proxy->groups[0];
	for (i = 0; i < 300; i++) {
		snprintf(cid, sizeof(cid), "call-%d@198.51.100.7", i);
		decide(&r, proxy, "INVITE", "sip:alice@example.com", cid, UNTR,
		    NULL);
		assert_int_equal(r.d.action, ROUTE_FORWARD);
		assert_int_equal(r.d.rule, RULE_ACTIVE);
		assert_ptr_equal(r.d.group, g);
		k = r.d.member;
		assert_int_equal(k, group_choose(g, slice_make(cid,
		    strlen(cid)), proxy->branch_key));
		assert_in_range(k, 0, 1);	/* priority 1 only */
		seen[k]++;
		assert_true(r.d.rewrite_ruri);
		assert_true(slice_eq(r.d.next_hop_uri.host,
		    g->members[k].uri.host));
		assert_int_equal(r.d.next_hop_uri.port, g->members[k].uri.port);
		snprintf(want, sizeof(want), "sip:alice@%s",
		    g->members[k].target + 4);
		assert_string_equal(target_uri(&r, uri, sizeof(uri)), want);

		/* Its CANCEL, ACK and a retransmission: the same member. */
		decide(&r, proxy, "CANCEL", "sip:alice@example.com", cid, UNTR,
		    NULL);
		assert_int_equal(r.d.action, ROUTE_FORWARD);
		assert_int_equal(r.d.member, k);
		decide(&r, proxy, "ACK", "sip:alice@example.com", cid, UNTR,
		    NULL);
		assert_int_equal(r.d.member, k);
		decide(&r, proxy, "INVITE", "sip:alice@example.com", cid,
		    TRUS, NULL);
		assert_int_equal(r.d.member, k);
	}
	/* Weights 2:1 over 300 calls. */
	assert_in_range(seen[0], 170, 230);
	assert_int_equal(seen[2], 0);

	/* A number block: the dialled number, separators removed. */
	decide(&r, proxy, "INVITE", "sip:+1-555-0100@example.com;user=phone",
	    "n1@x", UNTR, NULL);
	assert_int_equal(r.d.action, ROUTE_FORWARD);
	snprintf(want, sizeof(want), "sip:+15550100@%s",
	    g->members[r.d.member].target + 4);
	assert_string_equal(target_uri(&r, uri, sizeof(uri)), want);

	/* A REGISTER keeps its Request-URI and goes to the member. */
	decide(&r, proxy, "REGISTER", "sip:example.com", "reg1@x", UNTR, NULL);
	assert_int_equal(r.d.action, ROUTE_FORWARD);
	assert_false(r.d.rewrite_ruri);
	assert_true(r.d.member >= 0);

	/* A plain target is no group. */
	decide(&r, proxy, "INVITE", "sip:bob@example.com", "b@x", UNTR, NULL);
	assert_null(r.d.group);
	assert_int_equal(r.d.member, -1);
	assert_string_equal(target_uri(&r, uri, sizeof(uri)),
	    "sip:bob@10.0.0.9");
}

static void
test_failover_and_down(void **state)
{
	struct member_health *h = health[0];
	char buf[2048], cid[32];
	struct run r;
	ssize_t n;
	int i, k;

	(void)state;
	all_up(h);
	atomic_store(&h[0].up, false);
	atomic_store(&h[1].drained, true);
	decide(&r, proxy, "INVITE", "sip:alice@example.com", "f1@x", UNTR,
	    NULL);
	assert_int_equal(r.d.action, ROUTE_FORWARD);
	assert_int_equal(r.d.member, 2);	/* priority 2 takes over */

	/* A call that rang at member 1 before its drain: its CANCEL and
	 * ACK still go there; a new INVITE does not. */
	atomic_store(&h[0].up, true);
	atomic_store(&h[1].drained, false);
	for (k = 0, i = 0; i < 200 && k == 0; i++) {
		snprintf(cid, sizeof(cid), "d%d@x", i);
		decide(&r, proxy, "INVITE", "sip:alice@example.com", cid,
		    UNTR, NULL);
		if (r.d.member == 1)
			k = 1;
	}
	assert_int_equal(k, 1);
	atomic_store(&h[1].drained, true);
	decide(&r, proxy, "INVITE", "sip:alice@example.com", cid, UNTR, NULL);
	assert_int_equal(r.d.member, 0);
	decide(&r, proxy, "CANCEL", "sip:alice@example.com", cid, UNTR, NULL);
	assert_int_equal(r.d.action, ROUTE_FORWARD);
	assert_int_equal(r.d.member, 1);
	decide(&r, proxy, "ACK", "sip:alice@example.com", cid, UNTR, NULL);
	assert_int_equal(r.d.member, 1);
	atomic_store(&h[0].up, false);

	atomic_store(&h[2].up, false);
	decide(&r, proxy, "INVITE", "sip:alice@example.com", "f1@x", UNTR,
	    NULL);
	assert_int_equal(r.d.action, ROUTE_REPLY);
	assert_int_equal(r.d.rule, RULE_GROUP_DOWN);
	assert_int_equal(r.d.code, 503);
	assert_int_equal(r.d.retry_after, 7);
	assert_string_equal(r.d.reason, "Service Unavailable");
	n = forward_reply(&r.m, &r.d, UNTR, 5060, SIP_TP_UDP, buf,
	    sizeof(buf));
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "SIP/2.0 503 Service Unavailable\r\n"));
	assert_non_null(strstr(buf, "\r\nRetry-After: 7\r\n"));
	assert_null(strstr(buf, "east"));

	/* Trusted sources learn which group. */
	decide(&r, proxy, "INVITE", "sip:alice@example.com", "f1@x", TRUS,
	    NULL);
	assert_int_equal(r.d.code, 503);
	assert_string_equal(r.d.reason, "No Member Of east Up");

	/* ACK and CANCEL of it are not answered (member 1 is drained but
	 * down too now). */
	atomic_store(&h[1].up, false);
	decide(&r, proxy, "ACK", "sip:alice@example.com", "f1@x", UNTR, NULL);
	assert_int_equal(r.d.action, ROUTE_DROP);
	assert_string_equal(r.d.drop_reason, "local_ack");
	decide(&r, proxy, "CANCEL", "sip:alice@example.com", "f1@x", UNTR,
	    NULL);
	assert_int_equal(r.d.action, ROUTE_DROP);
	all_up(h);
}

static void
test_redirect(void **state)
{
	struct member_health *h = health[1];
	const char *p, *q;
	char buf[2048];
	struct run r;
	ssize_t n;

	(void)state;
	all_up(h);
	decide(&r, redirect, "INVITE", "sip:alice@example.com", "r1@x", UNTR,
	    NULL);
	assert_int_equal(r.d.action, ROUTE_REPLY);
	assert_int_equal(r.d.code, 302);
	assert_int_equal(r.d.nranked, 3);
	assert_int_equal(r.d.ranked[0], r.d.member);
	assert_int_equal(r.d.ranked[2], 2);	/* priority 2 last */
	n = forward_reply(&r.m, &r.d, UNTR, 5060, SIP_TP_UDP, buf,
	    sizeof(buf));
	assert_true(n > 0);
	buf[n] = '\0';
	p = strstr(buf, r.d.member == 0 ?
	    "Contact: <sip:alice@10.0.0.5:5060>;q=1.0\r\n"
	    "Contact: <sip:alice@10.0.0.6:5070;transport=tcp>;q=0.9\r\n" :
	    "Contact: <sip:alice@10.0.0.6:5070;transport=tcp>;q=1.0\r\n"
	    "Contact: <sip:alice@10.0.0.5:5060>;q=0.9\r\n");
	assert_non_null(p);
	assert_non_null(q = strstr(p, "Contact: <sip:alice@10.0.0.7>;q=0.8\r\n"));
	assert_null(strstr(q + 1, "Contact:"));

	/* Only the usable ones. */
	atomic_store(&h[0].up, false);
	decide(&r, redirect, "INVITE", "sip:alice@example.com", "r1@x", UNTR,
	    NULL);
	n = forward_reply(&r.m, &r.d, UNTR, 5060, SIP_TP_UDP, buf,
	    sizeof(buf));
	buf[n] = '\0';
	assert_non_null(strstr(buf, "Contact: <sip:alice@10.0.0.6:5070;"
	    "transport=tcp>;q=1.0\r\nContact: <sip:alice@10.0.0.7>;q=0.9\r\n"));
	assert_null(strstr(buf, "10.0.0.5"));

	/* None: 503 + Retry-After, no Contact. */
	atomic_store(&h[1].drained, true);
	atomic_store(&h[2].up, false);
	decide(&r, redirect, "INVITE", "sip:alice@example.com", "r1@x", UNTR,
	    NULL);
	assert_int_equal(r.d.code, 503);
	n = forward_reply(&r.m, &r.d, UNTR, 5060, SIP_TP_UDP, buf,
	    sizeof(buf));
	buf[n] = '\0';
	assert_non_null(strstr(buf, "\r\nRetry-After: 7\r\n"));
	assert_null(strstr(buf, "Contact:"));
	all_up(h);
}

/* SPEC §7: a member's exact host, port and transport is an in-dialog next
 * hop for an untrusted source; another port of it is not. */
static void
test_member_next_hop(void **state)
{
	struct run r;

	(void)state;
	decide(&r, proxy, "BYE", "sip:pbx@10.0.0.6:5070;transport=tcp",
	    "d1@x", UNTR, "Route: <sip:127.0.0.1:5060;lr>\r\n");
	if (r.d.action != ROUTE_FORWARD)
		fail_msg("%s %u %s", route_rule_name(r.d.rule), r.d.code,
		    r.d.reason);
	assert_int_equal(r.d.rule, RULE_ROUTE_NEXT);
	decide(&r, proxy, "BYE", "sip:pbx@10.0.0.6:5071;transport=tcp",
	    "d1@x", UNTR, "Route: <sip:127.0.0.1:5060;lr>\r\n");
	assert_int_equal(r.d.action, ROUTE_REPLY);
	assert_int_equal(r.d.code, 403);
	decide(&r, proxy, "BYE", "sip:pbx@10.0.0.7", "d1@x", UNTR,
	    "Route: <sip:127.0.0.1:5060;lr>\r\n");
	assert_int_equal(r.d.action, ROUTE_FORWARD);
}

/* A 302 for 64 members with long names and a long user: the best ones
 * that fit, never an overflow or no answer. */
static void
test_redirect_many(void **state)
{
	static char text[16384], path[64], buf[16384], user[120], ruri[200];
	struct conf *c = NULL;
	const char *p;
	char err[512];
	struct run r;
	size_t o = 0;
	ssize_t n;
	int i, fd, contacts = 0;
	FILE *fp;

	(void)state;
	o += (size_t)snprintf(text + o, sizeof(text) - o, "listen = ( { "
	    "transport = \"udp\"; address = \"127.0.0.1\"; port = 5060; } );\n"
	    "mode = \"redirect\";\ndomains = ( { name = \"example.com\"; } );\n"
	    "groups = ( { name = \"big\"; members = (\n");
	for (i = 0; i < GROUP_MAX_MEMBERS; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o, "%s{ target = "
		    "\"sip:pbx-member-%02d.a-rather-long-data-centre-name.east."
		    "example.com:5060;transport=tcp\"; }\n", i ? "," : "", i);
	o += (size_t)snprintf(text + o, sizeof(text) - o, "); } );\nusers = "
	    "( { prefix = \"u\"; domain = \"example.com\"; target = "
	    "\"group:big\"; } );\n");
	assert_true(o < sizeof(text));
	snprintf(path, sizeof(path), "/tmp/usher-test-rgroup-XXXXXX");
	assert_true((fd = mkstemp(path)) >= 0);
	assert_non_null(fp = fdopen(fd, "w"));
	fputs(text, fp);
	fclose(fp);
	if (config_load(path, &c, err, sizeof(err)) == -1)
		fail_msg("%s", err);
	unlink(path);
	memset(user, 'u', 100);
	user[100] = '\0';
	snprintf(ruri, sizeof(ruri), "sip:%s@example.com", user);
	/* Over TCP: as many as the buffer holds. */
	via_tp = "TCP";
	decide(&r, c, "INVITE", ruri, "big@x", UNTR, NULL);
	via_tp = "UDP";
	assert_int_equal(r.d.code, 302);
	assert_int_equal(r.d.nranked, GROUP_MAX_MEMBERS);
	n = forward_reply(&r.m, &r.d, UNTR, 5060, SIP_TP_TCP, buf,
	    sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	for (p = buf; (p = strstr(p, "\r\nContact: <sip:")) != NULL; p++)
		contacts++;
	assert_in_range(contacts, 20, GROUP_MAX_MEMBERS - 1);
	assert_non_null(strstr(buf, ">;q=1.0\r\n"));

	/* The same Via saying TCP, but the request came over UDP: the
	 * transport it came by counts, not what it claims. */
	n = forward_reply(&r.m, &r.d, UNTR, 5060, SIP_TP_UDP, buf,
	    sizeof(buf) - 1);
	assert_true(n > 0 && n < 1024 + 600);

	/* Over UDP (a source anyone can forge): about 1 KB of Contacts, so
	 * the answer is no amplifier; the best first all the same. */
	decide(&r, c, "INVITE", ruri, "big@x", UNTR, NULL);
	n = forward_reply(&r.m, &r.d, UNTR, 5060, SIP_TP_UDP, buf,
	    sizeof(buf) - 1);
	assert_true(n > 0 && n < 1024 + 600);
	buf[n] = '\0';
	for (contacts = 0, p = buf; (p = strstr(p, "\r\nContact: <sip:")) !=
	    NULL; p++)
		contacts++;
	assert_in_range(contacts, 2, 6);
	assert_non_null(strstr(buf, ">;q=1.0\r\n"));
	config_unref(c);
}

static int
setup(void **state)
{
	(void)state;
	proxy = load("");
	redirect = load("mode = \"redirect\";");
	if (proxy == NULL || redirect == NULL)
		return -1;
	bind_health(proxy, health[0]);
	bind_health(redirect, health[1]);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	config_unref(proxy);
	config_unref(redirect);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forward_to_member),
		cmocka_unit_test(test_failover_and_down),
		cmocka_unit_test(test_redirect),
		cmocka_unit_test(test_member_next_hop),
		cmocka_unit_test(test_redirect_many),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
