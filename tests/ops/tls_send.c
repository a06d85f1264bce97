/* tls_send.c: usher's transport as a TLS client, alone: sends COUNT
 * OPTIONS requests through transport_send_tls() to a peer, one after the
 * answer to the one before, and prints what came of each (the routing
 * that picks TLS next hops is proxy's and forward's; this drives the
 * transport below it). Used by tests/ops/tls.py.
 *
 * usage: tls_send CONF IP PORT NAME COUNT [WORKERS [PAUSE_MS]]
 * NAME may be a comma-separated list: request k checks the k-th name,
 * round the list.
 * With WORKERS (default 1), request k is sent by worker k % WORKERS: the
 * others hand theirs to the owner of the connection through its inbox.
 * PAUSE_MS: wait that long after an answer before the next request (a peer
 * that closes after each answer is gone by then: a new connection).
 * prints: "response: STATUS-LINE" or "undeliverable: WHY" per request,
 * then "handshakes ok=N resumed=N failed=N connections=N"; exit 0 when it
 * ran, 2 on a usage or set-up error. */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "config.h"
#include "log.h"
#include "netaddr.h"
#include "slice.h"
#include "sipmsg.h"
#include "tls.h"
#include "transport.h"

static struct server		 srv;
static struct sockaddr_storage	 dst;
static socklen_t		 dstlen;
static char			*names[8];
static int			 nnames;
static atomic_int		 left, sent;
static struct event		*ev_go[8];
static int			 nworkers = 1;
static struct timeval		 pause_tv;

/* The next request, from the worker whose turn it is (in its thread). */
static void
send_next(void)
{
	if (atomic_fetch_sub(&left, 1) <= 0) {
		transport_stop(&srv);
		return;
	}
	event_add(ev_go[atomic_load(&sent) % nworkers], &pause_tv);
}

static void
send_one(struct worker *w)
{
	char buf[512];
	const char *name;
	int n;

	atomic_fetch_add(&sent, 1);
	name = names[(atomic_load(&sent) - 1) % nnames];
	n = snprintf(buf, sizeof(buf),
	    "OPTIONS sip:%s SIP/2.0\r\n"
	    "Via: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bKtlssend%d\r\n"
	    "From: <sip:usher@127.0.0.1>;tag=t%d\r\n"
	    "To: <sip:%s>\r\n"
	    "Call-ID: tlssend-%d\r\n"
	    "CSeq: 1 OPTIONS\r\n"
	    "Max-Forwards: 70\r\n"
	    "Content-Length: 0\r\n\r\n", name, atomic_load(&sent),
	    atomic_load(&sent), name, atomic_load(&sent));
	if (transport_send_tls(w, (struct sockaddr *)&dst, dstlen, NULL, 0,
	    name, false, buf, (size_t)n) == -1) {
		printf("undeliverable: transport_send_tls failed\n");
		send_next();
	}
}

static void
on_message(struct worker *w, const struct tp_source *src,
    const struct sipmsg *m, ssize_t rc)
{
	const char *eol = memchr(m->buf, '\r', m->len);

	printf("response: %.*s (over %s)\n", eol ? (int)(eol - m->buf) : 0,
	    m->buf, src->tp == SIP_TP_TLS ? "tls" : "other");
	fflush(stdout);
	send_next();
}

static void
on_too_large(struct worker *w, const struct tp_source *src,
    const struct sipmsg *m)
{
	printf("too large\n");
}

static void
on_undeliverable(struct worker *w, const char *buf, size_t len,
    const char *why)
{
	printf("undeliverable: %s\n", why);
	fflush(stdout);
	send_next();
}

static bool
is_trusted(struct worker *w, const struct sockaddr *sa)
{
	return false;
}

static void
on_timeout(evutil_socket_t fd, short what, void *arg)
{
	printf("timeout\n");
	transport_stop(&srv);
}

static void
on_go(evutil_socket_t fd, short what, void *arg)
{
	send_one(arg);
}

int
main(int argc, char *argv[])
{
	static const struct tp_handlers h = {
		.on_message = on_message,
		.on_too_large = on_too_large,
		.on_undeliverable = on_undeliverable,
		.is_trusted = is_trusted,
	};
	struct timeval tv = { 10, 0 };
	unsigned long hs[TLS_HS__COUNT] = { 0 };
	struct event *ev_to;
	struct conf *conf;
	struct worker *w;
	char err[1024];
	int rc, k, i;

	if (argc < 6 || argc > 8) {
		fprintf(stderr, "usage: tls_send CONF IP PORT NAME COUNT "
		    "[WORKERS [PAUSE_MS]]\n");
		return 2;
	}
	if (argc == 8) {
		pause_tv.tv_sec = atoi(argv[7]) / 1000;
		pause_tv.tv_usec = atoi(argv[7]) % 1000 * 1000;
	}
	if (argc >= 7 && ((nworkers = atoi(argv[6])) < 1 || nworkers > 8)) {
		fprintf(stderr, "tls_send: 1 to 8 workers\n");
		return 2;
	}
	log_init(true, LOG_LEVEL_INFO);
	/* As usher: a write to a peer that left is an error, not a death. */
	signal(SIGPIPE, SIG_IGN);
	if (netaddr_parse((struct slice){ argv[2], strlen(argv[2]) },
	    (uint16_t)atoi(argv[3]), &dst) == -1) {
		fprintf(stderr, "tls_send: bad address %s\n", argv[2]);
		return 2;
	}
	dstlen = dst.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in);
	for (char *tok = strtok(argv[4], ","); tok != NULL && nnames < 8;
	    tok = strtok(NULL, ","))
		names[nnames++] = tok;
	if (nnames == 0) {
		fprintf(stderr, "tls_send: no name\n");
		return 2;
	}
	atomic_store(&left, atoi(argv[5]));
	if (config_load(argv[1], &conf, err, sizeof(err)) == -1 ||
	    tls_init(conf, err, sizeof(err)) == -1 ||
	    transport_bind(&srv, conf, nworkers, err, sizeof(err)) == -1 ||
	    transport_workers(&srv, nworkers, &h, err, sizeof(err)) == -1) {
		fprintf(stderr, "tls_send: %s\n", err);
		return 2;
	}
	for (k = 0; k < nworkers; k++)
		ev_go[k] = event_new(srv.workers[k].base, -1, 0, on_go,
		    &srv.workers[k]);
	ev_to = evtimer_new(srv.workers[0].base, on_timeout, NULL);
	event_add(ev_to, &tv);
	send_next();
	transport_run(&srv);
	rc = 0;
	for (k = 0; k < nworkers; k++) {
		w = &srv.workers[k];
		for (i = 0; i < TLS_HS__COUNT; i++)
			hs[i] += atomic_load(&w->metrics.tls_handshakes[i]);
		event_free(ev_go[k]);
	}
	printf("handshakes ok=%lu resumed=%lu failed=%lu\n", hs[TLS_HS_OK],
	    hs[TLS_HS_RESUMED], hs[TLS_HS_FAILED]);
	event_free(ev_to);
	transport_free(&srv);
	tls_fini();
	config_unref(conf);
	return rc;
}
