/* parse.c: what one received message costs to parse, usher's scanner
 * against libosip2 (the reference parser the tests hold it against), on
 * the same bytes: nanoseconds and heap allocations per message. A
 * benchmark, not a test: `cmake --build build --target bench_parse`, then
 * build/tests/bench/bench_parse [ROUNDS]. Figures are CPU time of this
 * process (clock_gettime(CLOCK_PROCESS_CPUTIME_ID)), best of 5 runs. */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <osipparser2/osip_parser.h>

#include "../osip-quiet.h"

#include "sipmsg.h"

/* A typical INVITE as a phone sends it, and the 180 a PBX answers. */
static const char invite[] =
    "INVITE sip:+15551234@example.com;user=phone SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.33:5060;branch=z9hG4bK776asdhds;rport\r\n"
    "Max-Forwards: 70\r\n"
    "To: <sip:+15551234@example.com;user=phone>\r\n"
    "From: \"Alice\" <sip:alice@example.org>;tag=1928301774\r\n"
    "Call-ID: a84b4c76e66710@pc33.example.org\r\n"
    "CSeq: 314159 INVITE\r\n"
    "Contact: <sip:alice@192.0.2.33:5060>\r\n"
    "User-Agent: Phone/1.0\r\n"
    "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 134\r\n\r\n"
    "v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.33\r\n"
    "s=-\r\nc=IN IP4 192.0.2.33\r\nt=0 0\r\n"
    "m=audio 49172 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
static const char ringing[] =
    "SIP/2.0 180 Ringing\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK0123456789abcdef."
    "0123456789abcdef\r\n"
    "Via: SIP/2.0/UDP 192.0.2.33:5060;branch=z9hG4bK776asdhds;"
    "rport=5060;received=192.0.2.33\r\n"
    "To: <sip:+15551234@example.com;user=phone>;tag=a6c85cf\r\n"
    "From: \"Alice\" <sip:alice@example.org>;tag=1928301774\r\n"
    "Call-ID: a84b4c76e66710@pc33.example.org\r\n"
    "CSeq: 314159 INVITE\r\n"
    "Contact: <sip:+15551234@10.0.0.5:5060>\r\n"
    "Content-Length: 0\r\n\r\n";

static unsigned long	 mallocs;
static void		*(*real_malloc)(size_t);

/* Counts the allocations of both parsers (libosip2 goes through malloc). */
void *
malloc(size_t n)
{
	if (real_malloc == NULL)
		real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
	mallocs++;
	return real_malloc(n);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static volatile unsigned long sink;

static void
run_usher(const char *msg, size_t len, long rounds)
{
	struct sipmsg m;
	long i;

	for (i = 0; i < rounds; i++) {
		if (sipmsg_scan(msg, len, SIPMSG_DGRAM, &m) <= 0)
			abort();
		sink += m.cseq_num;
	}
}

static void
run_osip(const char *msg, size_t len, long rounds)
{
	osip_message_t *om;
	long i;

	for (i = 0; i < rounds; i++) {
		if (osip_message_init(&om) != 0)
			abort();
		if (osip_message_parse(om, msg, len) != 0)
			abort();	/* a benchmark of the error path is none */
		osip_message_free(om);
	}
}

static void
measure(const char *name, const char *msg, long rounds)
{
	size_t len = strlen(msg);
	double best[2] = { 1e300, 1e300 }, t;
	unsigned long allocs[2];
	int r, k;

	for (r = 0; r < 5; r++)
		for (k = 0; k < 2; k++) {
			mallocs = 0;
			t = now();
			if (k == 0)
				run_usher(msg, len, rounds);
			else
				run_osip(msg, len, rounds);
			t = (now() - t) / (double)rounds;
			allocs[k] = mallocs / (unsigned long)rounds;
			if (t < best[k])
				best[k] = t;
		}
	printf("%-8s %5zu bytes  usher %7.0f ns %3lu mallocs   libosip2 "
	    "%7.0f ns %4lu mallocs   ratio %.1fx\n", name, len, best[0],
	    allocs[0], best[1], allocs[1], best[1] / best[0]);
}

int
main(int argc, char *argv[])
{
	long rounds = argc > 1 ? strtol(argv[1], NULL, 10) : 200000;

	parser_init();
	osip_quiet();
	measure("INVITE", invite, rounds);
	measure("180", ringing, rounds);
	return 0;
}
