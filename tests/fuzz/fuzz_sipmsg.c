/* fuzz_sipmsg.c: the whole path from received bytes to the bytes usher
 * would send: scan (datagram and stream framing), decide, and build the
 * reply, the forwarded request or the relayed response. libFuzzer drives
 * LLVMFuzzerTestOneInput; replay.c runs the corpus without clang. */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "forward.h"
#include "netaddr.h"
#include "proxy.h"
#include "route.h"
#include "sipmsg.h"

static struct conf *conf[2];	/* proxy with record_route, redirect */

static const char conf_text[] =
    "listen = ( { transport = \"udp\"; address = \"127.0.0.1\"; port = 5060; },\n"
    "  { transport = \"tcp\"; address = \"127.0.0.1\"; port = 5060; },\n"
    "  { transport = \"udp\"; address = \"::1\"; port = 5060; } );\n"
    "mode = \"%s\";\n"
    "record_route = true;\n"
    "trusted = [ \"10.0.0.0/8\", \"127.0.0.1/32\" ];\n"
    "domains = (\n"
    "  { name = \"example.com\"; authoritative = true; aliases = [ \"192.0.2.10\" ]; },\n"
    "  { name = \"example.net\"; authoritative = false; },\n"
    "  { name = \"closed.example.com\"; authoritative = true; complete = true; } );\n"
    "users = (\n"
    "  { user = \"alice\"; domain = \"example.com\"; target = \"sip:alice@10.0.0.5:5060\"; },\n"
    "  { user = \"user\"; domain = \"example.com\"; target = \"sip:u@10.0.0.6;transport=tcp\"; },\n"
    "  { user = \"bob\"; domain = \"example.com\"; state = \"gone\"; },\n"
    "  { user = \"carol\"; domain = \"example.com\"; state = \"unavailable\"; retry_after = 30; },\n"
    "  { user = \"dave\"; domain = \"example.com\"; state = \"moved\"; target = \"sip:dave@example.net\"; },\n"
    "  { user = \"j.user\"; domain = \"example.com\"; target = \"sip:[2001:db8::5]:5070\"; },\n"
    "  { prefix = \"+1\"; domain = \"example.com\"; target = \"sip:10.0.0.9\"; } );\n";

static struct conf *
load(const char *mode)
{
	char path[] = "/tmp/usher-fuzz-XXXXXX";
	char err[512];
	struct conf *c = NULL;
	FILE *f;
	int fd;

	if ((fd = mkstemp(path)) == -1 || (f = fdopen(fd, "w")) == NULL)
		abort();
	fprintf(f, conf_text, mode);
	fclose(f);
	if (config_load(path, &c, err, sizeof(err)) == -1) {
		fprintf(stderr, "fuzz config: %s\n", err);
		abort();
	}
	unlink(path);
	return c;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	conf[0] = load("proxy");
	conf[1] = load("redirect");
	return 0;
}

/*
 * What usher sends must scan again as one whole message of exactly the
 * length written: as a datagram always, and framed by its Content-Length
 * when it goes over a stream (SPEC §7: a body must never become a second
 * message on a connection). Local replies may go over TCP, so they are
 * held to both; only those to requests that scanned clean, since a 400
 * carries the faulty Via or CSeq it answers.
 */
static void
rescan(const char *out, ssize_t n, enum sip_transport tp)
{
	struct sipmsg m;

	if (sipmsg_scan(out, (size_t)n, SIPMSG_DGRAM, &m) != n ||
	    m.fault != NULL)
		abort();
	if (tp == SIP_TP_TCP &&
	    sipmsg_scan(out, (size_t)n, SIPMSG_STREAM, &m) != n)
		abort();
}

static void
one(const uint8_t *data, size_t size, int mode, const struct conf *c,
    const struct sockaddr *src, char *out, size_t outlen)
{
	struct route_decision d;
	struct resolve_answer a;
	struct sockaddr_storage ss, dst;
	enum resolve_kind kind;
	enum fwd_next next;
	struct fwd_hop hop;
	struct sipmsg m;
	char reason[160];
	const char *why;
	ssize_t rc, n;

	rc = sipmsg_scan((const char *)data, size, mode, &m);
	if (rc == -2)
		return;
	if (rc > 0 && (size_t)rc > size)
		abort();	/* consumed more than there was */
	route_decide(&m, (int)rc, src, c, &d);
	switch (d.action) {
	case ROUTE_REPLY:
		n = forward_reply(&m, &d, "198.51.100.7", 5060, SIP_TP_UDP, out,
		    outlen);
		if (src != NULL) {
			memset(&ss, 0, sizeof(ss));
			memcpy(&ss, src, netaddr_len(src->sa_family));
			forward_reply_addr(&m, &ss, &dst);
		}
		break;
	case ROUTE_FORWARD:
		/* The daemon's decision; a name gets one made-up answer. */
		next = forward_next_hop(c, &m, &d, NULL, false, &hop, &kind,
		    &why, reason, sizeof(reason));
		if (next == FWD_NEXT_DNS) {
			memset(&a, 0, sizeof(a));
			a.n = m.len % 2;	/* one target, or none */
			(void)netaddr_parse(SLICE("10.0.0.77"), 5060,
			    &a.t[0].addr);
			a.t[0].tp = m.len % 3 == 0 ? SIP_TP_TCP : SIP_TP_NONE;
			next = forward_next_hop(c, &m, &d, &a, m.len % 5 == 0,
			    &hop, &kind, &why, reason, sizeof(reason));
		}
		if (next != FWD_NEXT_HOP)
			return;
		n = forward_request(&m, &d, c, "198.51.100.7", 5060, 0, &hop,
		    out, outlen, &why);
		break;
	case ROUTE_RELAY:
		n = forward_response(&m, c, &hop, out, outlen, &why);
		break;
	default:
		return;
	}
	/* Touch every byte we claim to have written (ASan checks it). */
	if (n > 0) {
		volatile char sink = 0;
		ssize_t i;

		for (i = 0; i < n; i++)
			sink ^= out[i];
		(void)sink;
		/* A 400 copies the faulty headers it answers: only an
		 * answer to a clean request must scan clean. */
		if (d.action != ROUTE_REPLY || (rc > 0 && m.fault == NULL))
			rescan(out, n, d.action == ROUTE_REPLY ? SIP_TP_TCP :
			    hop.tp);
	}
}

/*
 * A forged branch never reaches forward_response() (SPEC §7), so most
 * fuzzed responses would stop at route_decide(). Put a Via of ours with
 * the right H1 for the input's top Via above it, as usher would have
 * forwarded it, so relaying every response gets fuzzed too; the decision
 * must then be to relay.
 */
static void
sealed(const uint8_t *data, size_t size, const struct sockaddr *src,
    char *out, size_t outlen)
{
	static char buf[70000];
	struct route_decision d;
	struct sipmsg m, m2;
	const char *eol;
	char via[128], br[ROUTE_BRANCH_LEN];
	size_t at;
	ssize_t rc;
	int k;

	rc = sipmsg_scan((const char *)data, size, SIPMSG_DGRAM, &m);
	if (rc <= 0 || m.fault != NULL || m.is_request || m.nvia == 0 ||
	    (eol = memchr(m.buf, '\n', m.len)) == NULL)
		return;
	route_branch_text(route_via_h1(&m, &m.via[0], conf[0]), 1, br);
	k = snprintf(via, sizeof(via), "Via: SIP/2.0/UDP 127.0.0.1:5060;"
	    "branch=%.*s\r\n", ROUTE_BRANCH_LEN, br);
	at = (size_t)(eol + 1 - (const char *)data);
	if (size + (size_t)k > sizeof(buf))
		return;
	memmove(buf + at + (size_t)k, data + at, size - at);
	memcpy(buf + at, via, (size_t)k);
	memcpy(buf, data, at);
	rc = sipmsg_scan(buf, size + (size_t)k, SIPMSG_DGRAM, &m2);
	if (rc <= 0 || m2.fault != NULL || m2.nvia != m.nvia + 1 ||
	    m2.via[1].value.len != m.via[0].value.len ||
	    memcmp(m2.via[1].value.p, m.via[0].value.p, m.via[0].value.len))
		return;		/* our line changed how it scans */
	route_decide(&m2, (int)rc, src, conf[0], &d);
	if (d.action != ROUTE_RELAY)
		abort();	/* a branch we made, not recognised */
	one((const uint8_t *)buf, size + (size_t)k, SIPMSG_DGRAM, conf[0], src,
	    out, outlen);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char out[70000];
	struct sockaddr_in untrusted, trusted;

	memset(&untrusted, 0, sizeof(untrusted));
	untrusted.sin_family = AF_INET;
	untrusted.sin_port = htons(5060);
	inet_pton(AF_INET, "198.51.100.7", &untrusted.sin_addr);
	trusted = untrusted;
	inet_pton(AF_INET, "10.1.2.3", &trusted.sin_addr);

	one(data, size, SIPMSG_DGRAM, conf[0], (struct sockaddr *)&untrusted,
	    out, sizeof(out));
	one(data, size, SIPMSG_DGRAM, conf[0], (struct sockaddr *)&trusted,
	    out, sizeof(out));
	one(data, size, SIPMSG_STREAM, conf[1], (struct sockaddr *)&trusted,
	    out, sizeof(out));
	/* A reply that does not fit must be refused, not overflow. */
	one(data, size, SIPMSG_DGRAM, conf[0], (struct sockaddr *)&untrusted,
	    out, 64);
	sealed(data, size, (struct sockaddr *)&untrusted, out, sizeof(out));
	sealed(data, size, (struct sockaddr *)&untrusted, out, 64);
	return 0;
}
