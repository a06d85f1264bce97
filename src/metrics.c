/* metrics.c: counter names and the Prometheus endpoint (evhttp). */
#include <sys/types.h>
#include <sys/resource.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "health.h"
#include "log.h"
#include "metrics.h"
#include "tablesync.h"
#include "sipmsg.h"

#define METRICS_MAX_WORKERS	256
#define METRICS_TEXT_MAX	(64 * 1024)

static const char *drop_names[DROP__COUNT] = {
	[DROP_PARSE] = "parse",
	[DROP_TOO_LARGE] = "too_large",
	[DROP_RATE] = "rate",
	[DROP_BANNED] = "banned",
	[DROP_SCANNER] = "scanner",
	[DROP_NOT_OURS] = "not_ours",
	[DROP_LOCAL_ACK] = "local_ack",
	[DROP_TCP_LIMIT] = "tcp_limit",
};

static const char *method_names[METRICS_METHODS] = {
	[SIP_OTHER] = "OTHER",
	[SIP_INVITE] = "INVITE",
	[SIP_ACK] = "ACK",
	[SIP_BYE] = "BYE",
	[SIP_CANCEL] = "CANCEL",
	[SIP_OPTIONS] = "OPTIONS",
	[SIP_REGISTER] = "REGISTER",
	[SIP_INFO] = "INFO",
	[SIP_UPDATE] = "UPDATE",
	[SIP_PRACK] = "PRACK",
	[SIP_SUBSCRIBE] = "SUBSCRIBE",
	[SIP_NOTIFY] = "NOTIFY",
	[SIP_MESSAGE] = "MESSAGE",
	[SIP_REFER] = "REFER",
	[SIP_PUBLISH] = "PUBLISH",
};

static struct evhttp		*http;
static struct evconnlistener	*http_lev;
static struct event		*ev_resume;
static metrics_collect_fn	 collect;
static void			*collect_arg;

/* Every code usher itself answers with (route.c, proxy.c, transport.c):
 * their series exist from the start, at 0 (SPEC §10). */
static const int reply_codes[] = {
	200, 301, 302, 400, 403, 404, 416, 420, 480, 482, 483, 500, 503, 505,
	513, 604,
};

enum metrics_drop
metrics_drop_of(const char *reason)
{
	int i;

	/* An unscannable message route drops: parse_errors has it. */
	if (reason != NULL && strcmp(reason, "parse") == 0)
		return DROP_UNSCANNED;

	for (i = 0; i < DROP__COUNT; i++)
		if (reason != NULL && strcmp(reason, drop_names[i]) == 0)
			return (enum metrics_drop)i;
	return DROP_PARSE;
}

const char *
metrics_drop_name(enum metrics_drop d)
{
	return (unsigned)d < DROP__COUNT ? drop_names[d] : "?";
}

static unsigned long
sum(const struct metrics **w, int n, size_t off)
{
	unsigned long t = 0;
	int i;

	for (i = 0; i < n; i++)
		t += atomic_load_explicit((const atomic_ulong *)
		    ((const char *)w[i] + off), memory_order_relaxed);
	return t;
}

#define SUM(field)	sum(w, n, offsetof(struct metrics, field))

/* A label value as Prometheus reads it: \\, \" and \n escaped. */
static void
label_escape(const char *s, char *out, size_t len)
{
	size_t o = 0;

	for (; *s != '\0' && o + 3 < len; s++) {
		if (*s == '\\' || *s == '"') {
			out[o++] = '\\';
			out[o++] = *s;
		} else if (*s == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else
			out[o++] = *s;
	}
	out[o] = '\0';
}

enum member_family {
	MF_UP = 0,
	MF_DRAINED,
	MF_REQUESTS,
	MF_TRANSITIONS,
	MF_RTT,
	MF__COUNT
};

static const char *const member_help[MF__COUNT] = {
	"# HELP usher_member_up Whether a PBX group member is up (probes "
	    "answered).\n# TYPE usher_member_up gauge\n",
	"# HELP usher_member_drained Whether a PBX group member is drained "
	    "(usherctl drain).\n# TYPE usher_member_drained gauge\n",
	"# HELP usher_member_requests_total Requests forwarded to a PBX group "
	    "member.\n# TYPE usher_member_requests_total counter\n",
	"# HELP usher_member_transitions_total Times a PBX group member went "
	    "up or down.\n# TYPE usher_member_transitions_total counter\n",
	"# HELP usher_member_probe_rtt_seconds Round trip of the last probe "
	    "a PBX group member answered.\n"
	    "# TYPE usher_member_probe_rtt_seconds gauge\n",
};

/* Append to buf at o (size_t o, int k in scope); -1 when it is full. */
#define OUT(...) do {							\
	k = snprintf(buf + o, len - o, __VA_ARGS__);			\
	if (k < 0 || (size_t)k >= len - o)				\
		return -1;						\
	o += (size_t)k;							\
} while (0)

/* usher_member_* (SPEC §8), family by family. Returns the length or -1. */
static ssize_t
render_members(const struct metrics_gauges *g, char *buf, size_t len)
{
	const struct group_member *m;
	const struct member_health *h;
	char target[512];
	size_t o = 0, gi, mi;
	int f, k;

	for (f = 0; f < MF__COUNT; f++) {
		OUT("%s", member_help[f]);
		for (gi = 0; gi < g->ngroups; gi++)
			for (mi = 0; mi < g->groups[gi].nmembers; mi++) {
				m = &g->groups[gi].members[mi];
				h = m->health;
				label_escape(m->target, target,
				    sizeof(target));
#define LBL	"{group=\"%s\",member=\"%s\""
#define LBLV	g->groups[gi].name, target
#define LOAD(x)	(h != NULL ? atomic_load_explicit(&h->x, \
		    memory_order_relaxed) : 0)
				switch (f) {
				case MF_UP:
					OUT("usher_member_up" LBL "} %d\n",
					    LBLV, h == NULL ? 1 :
					    (int)LOAD(up));
					break;
				case MF_DRAINED:
					OUT("usher_member_drained" LBL
					    "} %d\n", LBLV, (int)LOAD(drained));
					break;
				case MF_REQUESTS:
					OUT("usher_member_requests_total" LBL
					    "} %llu\n", LBLV,
					    (unsigned long long)LOAD(requests));
					break;
				case MF_TRANSITIONS:
					OUT("usher_member_transitions_total"
					    LBL ",to=\"up\"} %llu\n", LBLV,
					    (unsigned long long)LOAD(to_up));
					OUT("usher_member_transitions_total"
					    LBL ",to=\"down\"} %llu\n", LBLV,
					    (unsigned long long)LOAD(to_down));
					break;
				case MF_RTT:
					OUT("usher_member_probe_rtt_seconds"
					    LBL "} %.6f\n", LBLV,
					    (double)LOAD(rtt_us) / 1e6);
					break;
				}
#undef LBL
#undef LBLV
#undef LOAD
			}
	}
	return (ssize_t)o;
}

ssize_t
metrics_render(const struct metrics **w, int n,
    const struct metrics_gauges *g, char *buf, size_t len)
{
	size_t o = 0;
	int i, k;

	OUT("# HELP usher_build_info Version of this usher.\n"
	    "# TYPE usher_build_info gauge\n"
	    "usher_build_info{version=\"%s\"} 1\n", USHER_VERSION);
	OUT("# HELP usher_requests_total Requests received, by method.\n"
	    "# TYPE usher_requests_total counter\n");
	for (i = 0; i < METRICS_METHODS; i++)
		OUT("usher_requests_total{method=\"%s\"} %lu\n",
		    method_names[i], SUM(requests[i]));
	OUT("# HELP usher_replies_total Responses usher generated, by code.\n"
	    "# TYPE usher_replies_total counter\n");
	for (i = 100; i < METRICS_CODES; i++) {
		unsigned long v = SUM(replies[i]);
		bool known = false;

		for (k = 0; k < (int)(sizeof(reply_codes) /
		    sizeof(reply_codes[0])); k++)
			known = known || reply_codes[k] == i;
		if (v > 0 || known)
			OUT("usher_replies_total{code=\"%d\"} %lu\n", i, v);
	}
	OUT("# HELP usher_dropped_total Messages dropped, by reason.\n"
	    "# TYPE usher_dropped_total counter\n");
	for (i = 0; i < DROP__COUNT; i++)
		OUT("usher_dropped_total{reason=\"%s\"} %lu\n", drop_names[i],
		    SUM(dropped[i]));
	OUT("# HELP usher_forwarded_requests_total Requests forwarded.\n"
	    "# TYPE usher_forwarded_requests_total counter\n"
	    "usher_forwarded_requests_total %lu\n",
	    SUM(forwarded_requests));
	OUT("# HELP usher_forwarded_responses_total Responses relayed.\n"
	    "# TYPE usher_forwarded_responses_total counter\n"
	    "usher_forwarded_responses_total %lu\n",
	    SUM(forwarded_responses));
	OUT("# HELP usher_parse_errors_total Messages that did not scan "
	    "(answered 400 or dropped; not in usher_dropped_total).\n"
	    "# TYPE usher_parse_errors_total counter\n"
	    "usher_parse_errors_total %lu\n", SUM(parse_errors));
	OUT("# HELP usher_capture_errors_total SIP messages not mirrored to "
	    "the HEP collector (too large, would block, ICMP error).\n"
	    "# TYPE usher_capture_errors_total counter\n"
	    "usher_capture_errors_total %lu\n", SUM(capture_errors));
	OUT("# HELP usher_probes_total OPTIONS probes of group members "
	    "(SPEC 8): sent, answered in time by the member, failed (no "
	    "answer in time, not sent), stale (an answer with our MAC that "
	    "came late, again or from another source).\n"
	    "# TYPE usher_probes_total counter\n"
	    "usher_probes_total{result=\"sent\"} %lu\n"
	    "usher_probes_total{result=\"answered\"} %lu\n"
	    "usher_probes_total{result=\"failed\"} %lu\n"
	    "usher_probes_total{result=\"stale\"} %lu\n",
	    SUM(probes_sent), SUM(probes_answered), SUM(probes_failed),
	    SUM(probes_stale));
	OUT("# HELP usher_unreachable_total Destinations reported unreachable "
	    "(ICMP on a UDP socket, TCP refused or reset).\n"
	    "# TYPE usher_unreachable_total counter\n"
	    "usher_unreachable_total %lu\n", SUM(unreachable));
	OUT("# HELP usher_tcp_connections TCP connections open.\n"
	    "# TYPE usher_tcp_connections gauge\n"
	    "usher_tcp_connections %lu\n", g->tcp_connections);
	OUT("# HELP usher_tls_connections TLS connections open (handshaking "
	    "ones too; also in usher_tcp_connections).\n"
	    "# TYPE usher_tls_connections gauge\n"
	    "usher_tls_connections %lu\n", g->tls_connections);
	OUT("# HELP usher_tls_handshakes_total TLS handshakes, by result "
	    "(ok: full, resumed: session ticket, failed: refused, broken or "
	    "timed out).\n"
	    "# TYPE usher_tls_handshakes_total counter\n"
	    "usher_tls_handshakes_total{result=\"ok\"} %lu\n"
	    "usher_tls_handshakes_total{result=\"resumed\"} %lu\n"
	    "usher_tls_handshakes_total{result=\"failed\"} %lu\n",
	    SUM(tls_handshakes[TLS_HS_OK]), SUM(tls_handshakes[TLS_HS_RESUMED]),
	    SUM(tls_handshakes[TLS_HS_FAILED]));
	OUT("# HELP usher_tls_certificate_expiry_timestamp_seconds When the "
	    "certificate in use expires (notAfter; 0: none loaded).\n"
	    "# TYPE usher_tls_certificate_expiry_timestamp_seconds gauge\n"
	    "usher_tls_certificate_expiry_timestamp_seconds %ld\n",
	    g->tls_cert_expiry);
	OUT("# HELP usher_table_entries User table entries (prefixes "
	    "included).\n# TYPE usher_table_entries gauge\n"
	    "usher_table_entries %lu\n", g->table_entries);
	OUT("# HELP usher_table_prefixes Number-block entries.\n"
	    "# TYPE usher_table_prefixes gauge\n"
	    "usher_table_prefixes %lu\n", g->table_prefixes);
	OUT("# HELP usher_reloads_total Configuration reloads, by result.\n"
	    "# TYPE usher_reloads_total counter\n"
	    "usher_reloads_total{result=\"ok\"} %lu\n"
	    "usher_reloads_total{result=\"failed\"} %lu\n",
	    g->reloads_ok, g->reloads_failed);
	OUT("# HELP usher_last_reload_timestamp_seconds When the running "
	    "table was loaded.\n"
	    "# TYPE usher_last_reload_timestamp_seconds gauge\n"
	    "usher_last_reload_timestamp_seconds %ld\n", g->last_reload);
	OUT("# HELP usher_table_version The table version served (0: "
	    "users_file).\n# TYPE usher_table_version gauge\n"
	    "usher_table_version %llu\n", g->table_serial);
	OUT("# HELP usher_table_source_up Whether the table source "
	    "answers.\n# TYPE usher_table_source_up gauge\n"
	    "usher_table_source_up %d\n", g->table_source_up);
	OUT("# HELP usher_table_load_failures_total Table versions or "
	    "source attempts that failed, by reason.\n"
	    "# TYPE usher_table_load_failures_total counter\n");
	for (i = 0; i < TS__COUNT; i++)
		OUT("usher_table_load_failures_total{reason=\"%s\"} %lu\n",
		    tablesync_reason_name((enum tablesync_reason)i),
		    g->table_load_failures[i]);
	OUT("# HELP usher_workers Worker threads.\n"
	    "# TYPE usher_workers gauge\nusher_workers %d\n", g->workers);
	OUT("# HELP usher_config_last_reload_successful Whether the last "
	    "reload (or the start) loaded the configuration.\n"
	    "# TYPE usher_config_last_reload_successful gauge\n"
	    "usher_config_last_reload_successful %d\n", g->last_reload_ok);
	/* Label values are usher's own words and hex: nothing to escape. */
	OUT("# HELP usher_table_info The running user table: where it comes "
	    "from, sha256 of its entries.\n"
	    "# TYPE usher_table_info gauge\n"
	    "usher_table_info{source=\"%s\",version=\"%s\"} 1\n",
	    g->table_source ? g->table_source : "file",
	    g->table_version ? g->table_version : "");
	if (g->ngroups > 0) {
		k = render_members(g, buf + o, len - o);
		if (k < 0)
			return -1;
		o += (size_t)k;
	}
	if (g->has_process)
		OUT("# HELP process_resident_memory_bytes Resident memory "
		    "size in bytes.\n"
		    "# TYPE process_resident_memory_bytes gauge\n"
		    "process_resident_memory_bytes %lu\n"
		    "# HELP process_virtual_memory_bytes Virtual memory size "
		    "in bytes.\n"
		    "# TYPE process_virtual_memory_bytes gauge\n"
		    "process_virtual_memory_bytes %lu\n"
		    "# HELP process_cpu_seconds_total User and system CPU "
		    "time spent in seconds.\n"
		    "# TYPE process_cpu_seconds_total counter\n"
		    "process_cpu_seconds_total %.2f\n"
		    "# HELP process_open_fds Number of open file "
		    "descriptors.\n"
		    "# TYPE process_open_fds gauge\n"
		    "process_open_fds %lu\n"
		    "# HELP process_max_fds Maximum number of open file "
		    "descriptors.\n"
		    "# TYPE process_max_fds gauge\n"
		    "process_max_fds %lu\n"
		    "# HELP process_start_time_seconds Start time of the "
		    "process since unix epoch in seconds.\n"
		    "# TYPE process_start_time_seconds gauge\n"
		    "process_start_time_seconds %.2f\n",
		    g->rss_bytes, g->vsize_bytes, g->cpu_seconds, g->open_fds,
		    g->max_fds, g->start_time);
#undef OUT
	return (ssize_t)o;
}

/*
 * The process_* families as Prometheus' client libraries define them, from
 * /proc/self/stat (fields 14-15 CPU ticks, 22 start ticks after boot,
 * 23 vsize, 24 rss pages), /proc/stat's btime and /proc/self/fd.
 */
int
metrics_process(struct metrics_gauges *g)
{
	unsigned long long utime, stime, start, vsize, btime = 0;
	long rss, tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	char buf[1024], *p;
	struct rlimit rl;
	struct dirent *de;
	size_t n;
	FILE *f;
	DIR *d;

	if ((f = fopen("/proc/self/stat", "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold spaces and ')': skip to the last one. */
	if ((p = strrchr(buf, ')')) == NULL || sscanf(p + 2,
	    "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d "
	    "%*d %*d %*d %*d %llu %llu %ld", &utime, &stime, &start, &vsize,
	    &rss) != 5)
		return -1;
	if ((f = fopen("/proc/stat", "r")) != NULL) {
		while (fgets(buf, sizeof(buf), f) != NULL)
			if (sscanf(buf, "btime %llu", &btime) == 1)
				break;
		fclose(f);
	}
	if (tick <= 0)
		tick = 100;
	g->cpu_seconds = (double)(utime + stime) / (double)tick;
	g->start_time = (double)btime + (double)start / (double)tick;
	g->vsize_bytes = (unsigned long)vsize;
	g->rss_bytes = (unsigned long)rss * (unsigned long)page;
	g->open_fds = 0;
	if ((d = opendir("/proc/self/fd")) != NULL) {
		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.')
				g->open_fds++;
		closedir(d);
		g->open_fds--;		/* the directory's own */
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		g->max_fds = (unsigned long)rl.rlim_cur;
	g->has_process = true;
	return 0;
}

static void
serve(struct evhttp_request *req, void *arg)
{
	const struct metrics *w[METRICS_MAX_WORKERS];
	struct metrics_gauges g;
	struct evbuffer *out;
	size_t i, j, size = METRICS_TEXT_MAX;
	char *text;
	ssize_t n;
	int nw = METRICS_MAX_WORKERS;

	(void)arg;
	memset(&g, 0, sizeof(g));
	collect(collect_arg, w, &nw, &g);
	metrics_process(&g);
	/* Each group member adds six lines: a few hundred bytes and its
	 * group's name and target, each escaped to at most twice its
	 * length. */
	for (i = 0; i < g.ngroups; i++)
		for (j = 0; j < g.groups[i].nmembers; j++)
			size += 6 * (256 + 2 * (strlen(g.groups[i].name) +
			    strlen(g.groups[i].members[j].target)));
	text = malloc(size);
	n = text != NULL ? metrics_render(w, nw, &g, text, size) : -1;
	if (g.release != NULL)
		g.release(g.release_arg);
	if (n < 0 || (out = evbuffer_new()) == NULL) {
		free(text);
		evhttp_send_error(req, 500, "Internal Server Error");
		return;
	}
	evbuffer_add(out, text, (size_t)n);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; version=0.0.4");
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
	free(text);
}

/*
 * accept() failed (EMFILE, ENFILE...): the scraper's connection stays in
 * the backlog and evhttp, which sets no error callback, would retry at
 * once for ever and log each time (97% CPU, 957,389 lines in 3 s). Rest
 * the listener for 100 ms instead, and say so once a second at most.
 */
static void
accept_error(struct evconnlistener *lev, void *arg)
{
	static time_t last;
	struct timeval tv = { 0, 100 * 1000 };
	int e = EVUTIL_SOCKET_ERROR();

	(void)arg;
	evconnlistener_disable(lev);
	event_add(ev_resume, &tv);
	if (time(NULL) != last) {
		last = time(NULL);
		log_warnx("metrics accept: %s; not accepting for 100 ms",
		    strerror(e));
	}
}

static void
accept_resume(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	evconnlistener_enable(http_lev);
}

int
metrics_serve(struct event_base *base, const char *address, uint16_t port,
    metrics_collect_fn fn, void *arg, char *err, size_t errlen)
{
	struct evhttp_bound_socket *bound;

	collect = fn;
	collect_arg = arg;
	if ((http = evhttp_new(base)) == NULL ||
	    (ev_resume = evtimer_new(base, accept_resume, NULL)) == NULL) {
		snprintf(err, errlen, "metrics: cannot create HTTP server");
		metrics_close();
		return -1;
	}
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_cb(http, "/metrics", serve, NULL);
	if ((bound = evhttp_bind_socket_with_handle(http, address,
	    port)) == NULL) {
		snprintf(err, errlen, "metrics: cannot listen on %s port %u",
		    address, port);
		metrics_close();
		return -1;
	}
	http_lev = evhttp_bound_socket_get_listener(bound);
	evconnlistener_set_error_cb(http_lev, accept_error);
	return 0;
}

void
metrics_close(void)
{
	if (http != NULL)
		evhttp_free(http);
	if (ev_resume != NULL)
		event_free(ev_resume);
	http = NULL;
	http_lev = NULL;
	ev_resume = NULL;
}
