/* main.c: command line, start-up order, signals, exit codes. */
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "capture.h"
#include "config.h"
#include "control.h"
#include "daemon.h"
#include "explain.h"
#include "health.h"
#include "probe.h"
#include "log.h"
#include "metrics.h"
#include "table.h"
#include "tablesync.h"
#include "proxy.h"
#include "resolve.h"
#include "tls.h"
#include "transport.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: usher [-c FILE] [-f] [-t] [-T REQUEST [-s SOURCE] [-j]] "
	    "[-P FILE] [-p PIDFILE] [-V] [-h]\n"
	    "  -c FILE     configuration file (default: " CONFIG_DEFAULT_PATH
	    ")\n"
	    "  -f          stay in the foreground and log to stderr\n"
	    "  -t          check the configuration and user table, print a "
	    "summary, exit\n"
	    "  -T REQUEST  explain what usher does with REQUEST (\"METHOD URI\", "
	    "or - to read\n"
	    "              a whole SIP message from standard input), then "
	    "exit\n"
	    "  -s SOURCE   with -T: the source address to assume (default "
	    "127.0.0.1)\n"
	    "  -j, --json  with -T: print one JSON object\n"
	    "  -P FILE     check FILE (a users_file, - for standard input) as "
	    "-t would and\n"
	    "              publish it to the fleet table in Redis\n"
	    "  -p PIDFILE  pid file (overrides daemon.pidfile)\n"
	    "  -V          print the version and exit\n"
	    "  -h          this help\n");
}

struct runtime {
	struct server	 srv;
	const char	*path;
	struct event	*ev_term, *ev_int, *ev_hup;
	atomic_ulong	 reloads_ok, reloads_failed;
	atomic_long	 last_reload;
	atomic_ulong	 hup_wanted;	/* SIGHUPs received */
	atomic_bool	 reloading;	/* a reload thread runs */
	unsigned	 test_reload_delay_ms;
	time_t		 started;

	/* What a reload pass leaves for usherctl; mu guards them. */
	pthread_mutex_t	 mu;
	pthread_cond_t	 reloaded;
	unsigned long	 done_gen;	/* hup_wanted a finished pass served */
	bool		 last_ok;
	char		 last_err[1024];
	char		 version[65];	/* sha256 of the running table */
	char		 version_label[72];	/* "sha256:...", for metrics */

	/* /metrics is served by a thread and loop of its own. */
	struct event_base *mbase;
	pthread_t	 mthread;
	bool		 mrunning;

	/* systemd's watchdog: a timer on each worker loop bumps its beat;
	 * WATCHDOG=1 goes out only when every beat moved (wd_* under mu). */
	long long	 wd_usec;
	struct beat	*beats;
	pthread_t	 wd_thread;
	pthread_cond_t	 wd_cv;
	bool		 wd_stop;

	/* SIGHUP reloads and Redis versions load one at a time. */
	pthread_mutex_t	 load_mu;
	struct tablesync *sync;		/* NULL: a users_file source */
};

struct beat {
	atomic_ulong	 n;
	struct event	*ev;
	unsigned	 stall_ms;	/* test only: block this loop once */
};

static void
release_conf(void *conf)
{
	config_unref(conf);
}

static void
collect(void *arg, const struct metrics **w, int *n,
    struct metrics_gauges *g)
{
	struct runtime *rt = arg;
	struct conf *conf = proxy_current();
	int i;

	for (i = 0; i < rt->srv.nworkers && i < *n; i++)
		w[i] = &rt->srv.workers[i].metrics;
	*n = i;
	g->workers = rt->srv.nworkers;
	g->tcp_connections = atomic_load(&rt->srv.tcp_in) +
	    atomic_load(&rt->srv.tcp_out);
	g->tls_connections = atomic_load(&rt->srv.tls_open);
	g->tls_cert_expiry = (long)tls_cert_expiry();
	if (conf != NULL) {
		g->table_entries = table_count(conf->table);
		g->table_prefixes = table_count_prefixes(conf->table);
	}
	g->reloads_ok = atomic_load(&rt->reloads_ok);
	g->reloads_failed = atomic_load(&rt->reloads_failed);
	g->last_reload = atomic_load(&rt->last_reload);
	pthread_mutex_lock(&rt->mu);
	g->last_reload_ok = rt->last_ok;
	snprintf(rt->version_label, sizeof(rt->version_label), "sha256:%s",
	    rt->version);
	pthread_mutex_unlock(&rt->mu);
	/* Only the metrics loop (one thread) reads version_label. */
	g->table_source = conf != NULL && conf->source.type == SOURCE_REDIS ?
	    "redis" : "file";
	g->table_version = rt->version_label;
	g->table_source_up = 1;
	if (conf != NULL)
		g->table_serial = conf->table_version;
	if (rt->sync != NULL) {
		struct tablesync_status st;

		tablesync_status(rt->sync, &st);
		g->table_source_up = st.up;
		for (i = 0; i < TS__COUNT; i++)
			g->table_load_failures[i] = st.failures[i];
	}
	if (conf != NULL && conf->ngroups > 0) {
		/* Rendered after this returns: the conf stays referenced. */
		g->groups = conf->groups;
		g->ngroups = conf->ngroups;
		g->release = release_conf;
		g->release_arg = conf;
		return;
	}
	config_unref(conf);
}

static void *
metrics_main(void *arg)
{
	pthread_setname_np(pthread_self(), "usher-metrics");
	event_base_dispatch(arg);
	return NULL;
}

/*
 * Scrapes on a loop of their own: served from worker 0's loop, a scraper
 * polling in a loop took the p99 of that worker's answers from 0.29 ms to
 * 2.2 ms (1 worker, 20,000 INVITEs, loopback).
 */
static int
metrics_start(struct runtime *rt, const struct conf *conf, char *err,
    size_t errlen)
{
	if ((rt->mbase = event_base_new()) == NULL) {
		snprintf(err, errlen, "metrics: cannot create an event loop");
		return -1;
	}
	if (metrics_serve(rt->mbase, conf->metrics_address,
	    conf->metrics_port, collect, rt, err, errlen) == -1)
		return -1;
	if (pthread_create(&rt->mthread, NULL, metrics_main,
	    rt->mbase) != 0) {
		snprintf(err, errlen, "metrics: cannot start a thread");
		return -1;
	}
	rt->mrunning = true;
	return 0;
}

static void
metrics_stop(struct runtime *rt)
{
	if (rt->mrunning) {
		event_base_loopbreak(rt->mbase);
		pthread_join(rt->mthread, NULL);
		rt->mrunning = false;
	}
	metrics_close();
	if (rt->mbase != NULL)
		event_base_free(rt->mbase);
	rt->mbase = NULL;
}

static void
on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct runtime *rt = arg;

	(void)what;
	log_info("signal %d: stopping", (int)sig);
	transport_stop(&rt->srv);
}

/*
 * A reload builds the new configuration and table in a thread of its own:
 * loading a million users takes about a second, and the worker whose loop
 * caught the signal must keep serving meanwhile. One reload at a time;
 * SIGHUPs during one are coalesced into one more pass.
 */
static int
reload_apply(struct runtime *rt, const struct conf_snapshot *snap, char *err,
    size_t errlen)
{
	struct resolve_map *map;
	struct conf *conf, *running;
	char sum[256], changed[256], why[512], version[65];
	int rc;

	pthread_mutex_lock(&rt->load_mu);
	running = proxy_current();
	rc = config_reload_snapshot(rt->path, running, snap, &conf, changed,
	    sizeof(changed), err, errlen);
	if (rc == 0 && running != NULL &&
	    conf->source.type != running->source.type) {
		snprintf(err, errlen, "%s: table_source.type changed: a "
		    "restart applies it", rt->path);
		config_unref(conf);
		rc = -1;
	} else if (rc == 0 && conf->table_missing) {
		snprintf(err, errlen, "%s: no copy of the running table to "
		    "reload: %s", rt->path, strerror(ENOENT));
		config_unref(conf);
		rc = -1;
	}
	config_unref(running);
	if (rc == -1) {
		atomic_fetch_add(&rt->reloads_failed, 1);
		pthread_mutex_unlock(&rt->load_mu);
		/* usherctl status reports the last reload, not a Redis
		 * version that failed (the sync counts and logs those). */
		if (snap == NULL) {
			pthread_mutex_lock(&rt->mu);
			rt->last_ok = false;
			snprintf(rt->last_err, sizeof(rt->last_err), "%s", err);
			pthread_mutex_unlock(&rt->mu);
		}
		return -1;
	}
	control_table_version(conf, version);
	if (changed[0] != '\0')
		log_warnx("reload: %s changed: a restart applies it; "
		    "running on as before", changed);
	config_summary(conf, sum, sizeof(sum));
	log_setlevel(conf->log_level);
	/* SPEC §9: new connections get the new certificate; a pair that
	 * does not load keeps the old one (logged) and the rest applies. */
	if (snap == NULL)
		tls_reload(conf);
	/* Target names are resolved here, never in an event loop. */
	map = proxy_resolve_targets(conf, NULL);
	/* SPEC §8: unchanged members keep their state across the reload. */
	if (probe_bind(conf->groups, conf->ngroups) == -1)
		log_warnx("reload: some group members have no health state: "
		    "they count as up");
	proxy_publish(conf, map);
	/* Idle workers too let go of the old table now. */
	transport_wake(&rt->srv);
	atomic_store(&rt->last_reload, (long)time(NULL));
	atomic_fetch_add(&rt->reloads_ok, 1);
	/* Before the next load may start: a SIGHUP reads the cache. */
	if (snap != NULL && tablesync_write_cache(conf->source.cache_file,
	    snap->version, snap->buf, snap->len, why, sizeof(why)) == -1)
		log_warnx("table source: cache not written: %s", why);
	if (snap == NULL)
		tablesync_note_loaded(rt->sync, conf->table_version);
	pthread_mutex_unlock(&rt->load_mu);
	pthread_mutex_lock(&rt->mu);
	if (snap == NULL) {
		rt->last_ok = true;
		rt->last_err[0] = '\0';
	}
	memcpy(rt->version, version, sizeof(rt->version));
	pthread_mutex_unlock(&rt->mu);
	if (snap != NULL)
		log_info("table version %" PRIu64 " loaded: %s", snap->version,
		    sum);
	else
		log_info("reloaded %s: %s", rt->path, sum);
	return 0;
}

static unsigned long long
monotonic_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000;
}

/* READY=1 with the running table's summary and the last reload's fate. */
static void
notify_ready(struct runtime *rt)
{
	struct conf *conf = proxy_current();
	char sum[256] = "", err[320];

	if (conf != NULL)
		config_summary(conf, sum, sizeof(sum));
	config_unref(conf);
	pthread_mutex_lock(&rt->mu);
	snprintf(err, sizeof(err), "%s%.280s", rt->last_ok ? "" :
	    "; last reload failed: ", rt->last_ok ? "" : rt->last_err);
	pthread_mutex_unlock(&rt->mu);
	daemon_notify("READY=1\nSTATUS=serving: %s%s", sum, err);
}

static void
on_beat(evutil_socket_t fd, short what, void *arg)
{
	struct beat *b = arg;

	(void)fd;
	(void)what;
	if (b->stall_ms > 0) {	/* USHER_TEST_WATCHDOG_STALL_MS */
		usleep(b->stall_ms * 1000);
		b->stall_ms = 0;
	}
	atomic_fetch_add_explicit(&b->n, 1, memory_order_relaxed);
}

static void *
watchdog_main(void *arg)
{
	struct runtime *rt = arg;
	unsigned long *seen;
	struct timespec ts;
	long long half = rt->wd_usec / 2;
	bool all, stuck = false;
	int i;

	pthread_setname_np(pthread_self(), "usher-watchdog");
	if ((seen = calloc((size_t)rt->srv.nworkers, sizeof(*seen))) == NULL)
		return NULL;
	pthread_mutex_lock(&rt->mu);
	while (!rt->wd_stop) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += half / 1000000;
		ts.tv_nsec += (half % 1000000) * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		while (!rt->wd_stop && pthread_cond_timedwait(&rt->wd_cv,
		    &rt->mu, &ts) == 0)
			;
		if (rt->wd_stop)
			break;
		for (all = true, i = 0; i < rt->srv.nworkers; i++) {
			unsigned long n = atomic_load(&rt->beats[i].n);

			if (n == seen[i])
				all = false;
			seen[i] = n;
		}
		if (all)
			daemon_notify("WATCHDOG=1");
		else if (!stuck)
			log_warnx("a worker loop has not turned for %lld ms: "
			    "not pinging the systemd watchdog", half / 1000);
		stuck = !all;
	}
	pthread_mutex_unlock(&rt->mu);
	free(seen);
	return NULL;
}

/* Under WatchdogSec=: a beat timer on every worker loop and the thread
 * that pings only while they all turn. 0, or -1 with err. */
static int
watchdog_start(struct runtime *rt, char *err, size_t errlen)
{
	const char *stall = getenv("USHER_TEST_WATCHDOG_STALL_MS");
	struct timeval tv;
	long long every;
	int i;

	if ((rt->wd_usec = daemon_watchdog_usec()) == 0)
		return 0;
	every = rt->wd_usec / 8 > 1000 ? rt->wd_usec / 8 : 1000;
	tv.tv_sec = every / 1000000;
	tv.tv_usec = every % 1000000;
	if ((rt->beats = calloc((size_t)rt->srv.nworkers,
	    sizeof(*rt->beats))) == NULL)
		goto bad;
	for (i = 0; i < rt->srv.nworkers; i++) {
		rt->beats[i].ev = event_new(rt->srv.workers[i].base, -1,
		    EV_PERSIST, on_beat, &rt->beats[i]);
		if (rt->beats[i].ev == NULL ||
		    event_add(rt->beats[i].ev, &tv) == -1)
			goto bad;
	}
	if (stall != NULL)
		rt->beats[0].stall_ms = (unsigned)atoi(stall);
	if (pthread_create(&rt->wd_thread, NULL, watchdog_main, rt) != 0)
		goto bad;
	log_info("systemd watchdog: %lld ms, pinged every %lld ms",
	    rt->wd_usec / 1000, rt->wd_usec / 2000);
	return 0;
bad:
	snprintf(err, errlen, "systemd watchdog: cannot start");
	rt->wd_usec = 0;
	return -1;
}

static void
watchdog_stop(struct runtime *rt)
{
	int i;

	if (rt->wd_usec > 0) {
		pthread_mutex_lock(&rt->mu);
		rt->wd_stop = true;
		pthread_cond_signal(&rt->wd_cv);
		pthread_mutex_unlock(&rt->mu);
		pthread_join(rt->wd_thread, NULL);
		rt->wd_usec = 0;
	}
	for (i = 0; rt->beats != NULL && i < rt->srv.nworkers; i++)
		if (rt->beats[i].ev != NULL)
			event_free(rt->beats[i].ev);
	free(rt->beats);
	rt->beats = NULL;
}

/* A SIGHUP's (or usherctl reload's) pass: one that waits in usherctl is
 * woken once the pass that covers its request is done. */
static void
reload_once(struct runtime *rt, unsigned long gen)
{
	char err[1024];

	if (reload_apply(rt, NULL, err, sizeof(err)) == -1)
		log_warnx("reload failed, keeping the running table: %s", err);
	pthread_mutex_lock(&rt->mu);
	rt->done_gen = gen;
	pthread_cond_broadcast(&rt->reloaded);
	pthread_mutex_unlock(&rt->mu);
}

static unsigned long long	monotonic_usec(void);
static void			notify_ready(struct runtime *);

/* The sync thread's way in: exactly the reload above, with systemd told
 * about it like a SIGHUP's. */
static int
sync_load(void *arg, const struct conf_snapshot *snap, char *err,
    size_t errlen)
{
	struct runtime *rt = arg;
	int rc;

	daemon_notify("RELOADING=1\nMONOTONIC_USEC=%llu\n"
	    "STATUS=loading table version %" PRIu64, monotonic_usec(),
	    snap->version);
	rc = reload_apply(rt, snap, err, errlen);
	notify_ready(rt);
	return rc;
}

/*
 * With a Redis source the table starts as the current version, else as
 * cache_file; without both there is nothing to serve. *confp is replaced
 * by the conf with the fetched version. write_cache: not for -t.
 */
static int
source_first(const char *path, struct conf **confp, bool write_cache,
    char *err, size_t errlen)
{
	struct conf_snapshot snap;
	struct conf *conf = *confp, *fresh;
	char why[600], name[48], *buf = NULL;
	uint64_t v;
	size_t len;
	int rc;

	if (conf->source.type != SOURCE_REDIS)
		return 0;
	/* A start whose cache holds the current version need not fetch it;
	 * -t (no cache written) checks Redis's copy all the same. */
	rc = tablesync_fetch_current(&conf->source, write_cache ?
	    conf->table_version : 0, &buf, &len, &v, why, sizeof(why));
	if (rc == 1)
		return 0;
	if (rc == 0) {
		snprintf(name, sizeof(name), "redis:v%" PRIu64, v);
		snap.name = name;
		snap.buf = buf;
		snap.len = len;
		snap.version = v;
		if (config_reload_snapshot(path, NULL, &snap, &fresh, NULL, 0,
		    why, sizeof(why)) == 0) {
			if (write_cache && tablesync_write_cache(
			    conf->source.cache_file, v, buf, len, err,
			    errlen) == -1)
				log_warnx("table source: cache not written: %s",
				    err);
			free(buf);
			config_unref(conf);
			*confp = fresh;
			return 0;
		}
		free(buf);
	}
	if (conf->table_missing) {
		snprintf(err, errlen, "no table: %.600s; and cache_file "
		    "%.300s: %s", why, conf->source.cache_file,
		    strerror(ENOENT));
		return -1;
	}
	log_warnx("table source: %s; starting from cache_file %s (version %"
	    PRIu64 ")", why, conf->source.cache_file, conf->table_version);
	return 0;
}

/* -P: check FILE as -t would, then publish it as the next version. */
static int
publish_run(const char *path, const char *file)
{
	struct conf_snapshot snap;
	struct conf *conf = NULL;
	char err[1024], sha[TABLESYNC_SHA_HEX], *buf = NULL, *nb;
	size_t len = 0, cap = 0;
	uint64_t v;
	ssize_t r;
	int fd, rc = 1;

	if (strcmp(file, "-") == 0)
		fd = STDIN_FILENO;
	else if ((fd = open(file, O_RDONLY | O_CLOEXEC)) == -1) {
		fprintf(stderr, "usher: %s: %s\n", file, strerror(errno));
		return 1;
	}
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 1 << 20;
			if ((nb = realloc(buf, cap)) == NULL) {
				fprintf(stderr, "usher: %s: out of memory\n",
				    file);
				goto out;
			}
			buf = nb;
		}
		if ((r = read(fd, buf + len, cap - len)) == -1) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "usher: %s: %s\n", file,
			    strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	snap.name = strcmp(file, "-") == 0 ? "stdin" : file;
	snap.buf = buf;
	snap.len = len;
	snap.version = 0;
	if (config_reload_snapshot(path, NULL, &snap, &conf, NULL, 0, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "usher: %s\n", err);
		goto out;
	}
	if (conf->source.type != SOURCE_REDIS) {
		fprintf(stderr, "usher: %s: -P needs table_source type "
		    "\"redis\"\n", path);
		goto out;
	}
	if (tablesync_publish(&conf->source, buf, len, &v, sha, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "usher: %s\n", err);
		goto out;
	}
	printf("published version %" PRIu64 ": %zu entries, sha256 %s\n",
	    v, table_count(conf->table), sha);
	rc = 0;
out:
	if (fd != STDIN_FILENO)
		close(fd);
	config_unref(conf);
	free(buf);
	return rc;
}

/*
 * Every SIGHUP bumps hup_wanted (SPEC §7: none is lost). A pass serves
 * every request counted before it began; the thread leaves only when no
 * request came in meanwhile. A SIGHUP that lands after that last look but
 * before reloading is cleared finds reloading still set and starts
 * nothing, so after clearing it we look once more and take the pass back,
 * unless a thread that on_hup started in between has it already.
 */
static void *
reload_main(void *arg)
{
	struct runtime *rt = arg;
	unsigned long gen;

	pthread_setname_np(pthread_self(), "usher-reload");
	for (;;) {
		gen = atomic_load(&rt->hup_wanted);
		/* systemd ≥ 253 wants MONOTONIC_USEC beside RELOADING=1. */
		daemon_notify("RELOADING=1\nMONOTONIC_USEC=%llu\n"
		    "STATUS=reloading %s", monotonic_usec(), rt->path);
		reload_once(rt, gen);
		notify_ready(rt);
		if (atomic_load(&rt->hup_wanted) != gen)
			continue;
		if (rt->test_reload_delay_ms > 0)	/* widens the window */
			usleep(rt->test_reload_delay_ms * 1000);
		atomic_store(&rt->reloading, false);
		if (atomic_load(&rt->hup_wanted) == gen ||
		    atomic_exchange(&rt->reloading, true))
			break;
	}
	return NULL;
}

/* Ask for a reload (SIGHUP or usherctl); the generation a pass that
 * serves this request will report in done_gen. */
static unsigned long
reload_request(struct runtime *rt)
{
	pthread_attr_t attr;
	pthread_t t;
	unsigned long gen;

	gen = atomic_fetch_add(&rt->hup_wanted, 1) + 1;
	if (atomic_exchange(&rt->reloading, true))
		return gen;	/* the running reload sees the count */
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, reload_main, rt) != 0) {
		log_warnx("reload: cannot start a thread, reloading inline");
		reload_main(rt);
	}
	pthread_attr_destroy(&attr);
	return gen;
}

/* libevent runs this in the loop, not in signal context. */
static void
on_hup(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	reload_request(arg);
}

static void
format_time(time_t t, char *buf, size_t len)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* usherctl status: what runs, which table, how the last reload went. */
static int
ctl_status(void *arg, bool json, FILE *out)
{
	struct runtime *rt = arg;
	struct conf *conf = proxy_current();
	const struct conf_listen *l;
	char when[32], version[65], lerr[1024];
	bool ok;
	size_t i;

	if (conf == NULL) {
		fprintf(out, json ? "{\"error\":\"starting\"}\n" :
		    "starting\n");
		return -1;
	}
	pthread_mutex_lock(&rt->mu);
	ok = rt->last_ok;
	memcpy(version, rt->version, sizeof(version));
	memcpy(lerr, rt->last_err, sizeof(lerr));
	pthread_mutex_unlock(&rt->mu);
	format_time((time_t)atomic_load(&rt->last_reload), when, sizeof(when));
	if (json) {
		fprintf(out, "{\"version\":\"%s\",\"pid\":%ld,"
		    "\"uptime\":%ld,\"mode\":\"%s\",\"workers\":%d,"
		    "\"listeners\":[", USHER_VERSION, (long)getpid(),
		    (long)(time(NULL) - rt->started),
		    conf->mode == MODE_PROXY ? "proxy" : "redirect",
		    rt->srv.nworkers);
		for (i = 0; i < conf->nlisten; i++) {
			l = &conf->listen[i];
			fprintf(out, "%s{\"transport\":\"%s\",\"address\":",
			    i ? "," : "", config_transport_name(l->transport));
			control_json_str(out, l->address);
			fprintf(out, ",\"port\":%u}", l->port);
		}
		fputs("],\"table\":{\"config\":", out);
		control_json_str(out, conf->path);
		fputs(",\"users_file\":", out);
		if (conf->users_file != NULL)
			control_json_str(out, conf->users_file);
		else
			fputs("null", out);
		fprintf(out, ",\"source\":\"%s\",\"redis_version\":%llu",
		    conf->source.type == SOURCE_REDIS ? "redis" : "file",
		    (unsigned long long)conf->table_version);
		fprintf(out, ",\"version\":\"sha256:%s\",\"entries\":%zu,"
		    "\"prefixes\":%zu,\"domains\":%zu},\"last_reload\":"
		    "{\"time\":\"%s\",\"result\":\"%s\",\"error\":",
		    version, table_count(conf->table),
		    table_count_prefixes(conf->table), conf->ndomains, when,
		    ok ? "ok" : "failed");
		if (ok)
			fputs("null", out);
		else
			control_json_str(out, lerr);
		fputs("}}\n", out);
	} else {
		fprintf(out, "usher %s, pid %ld, up %lds, %s mode, "
		    "%d workers\nlisteners:", USHER_VERSION, (long)getpid(),
		    (long)(time(NULL) - rt->started),
		    conf->mode == MODE_PROXY ? "proxy" : "redirect",
		    rt->srv.nworkers);
		for (i = 0; i < conf->nlisten; i++) {
			l = &conf->listen[i];
			fprintf(out, "%s %s %s%s%s:%u", i ? "," : "",
			    config_transport_name(l->transport),
			    l->ss.ss_family == AF_INET6 ? "[" : "",
			    l->address, l->ss.ss_family == AF_INET6 ? "]" : "",
			    l->port);
		}
		if (conf->source.type == SOURCE_REDIS)
			fprintf(out, "\ntable source: redis, version %llu",
			    (unsigned long long)conf->table_version);
		fprintf(out, "\ntable: %s%s%s\nversion: sha256:%s\n"
		    "entries: %zu (%zu prefixes), %zu domains\n"
		    "last reload: %s %s%s\n", conf->path,
		    conf->users_file ? " + " : "",
		    conf->users_file ? conf->users_file : "", version,
		    table_count(conf->table),
		    table_count_prefixes(conf->table), conf->ndomains, when,
		    ok ? "ok" : "failed: ", ok ? "" : lerr);
	}
	config_unref(conf);
	return 0;
}

/*
 * usherctl reload: the same pass as SIGHUP, waited for, so that
 * `systemctl reload` fails when the reload does (SPEC §10).
 */
static int
ctl_reload(void *arg, bool json, FILE *out)
{
	struct runtime *rt = arg;
	unsigned long gen;
	char err[1024];
	bool ok;

	log_info("reload requested on the control socket");
	gen = reload_request(rt);
	pthread_mutex_lock(&rt->mu);
	while (rt->done_gen < gen)
		pthread_cond_wait(&rt->reloaded, &rt->mu);
	ok = rt->last_ok;
	memcpy(err, rt->last_err, sizeof(err));
	pthread_mutex_unlock(&rt->mu);
	if (!ok) {
		if (json) {
			fputs("{\"error\":", out);
			control_json_str(out, err);
			fputs("}\n", out);
		} else
			fprintf(out, "%s\n", err);
		return -1;
	}
	return ctl_status(rt, json, out);
}

/*
 * Test only: USHER_TEST_RELOAD_DELAY_MS makes each reload wait that long
 * between its last look for another SIGHUP and its end, so that a test can
 * send a SIGHUP into that window (tests/ops/reload-race.sh).
 */
static unsigned
test_reload_delay(void)
{
	const char *s = getenv("USHER_TEST_RELOAD_DELAY_MS");
	unsigned long ms;
	char *end;

	if (s == NULL || *s == '\0')
		return 0;
	ms = strtoul(s, &end, 10);
	return *end == '\0' && ms <= 60000 ? (unsigned)ms : 0;
}

/*
 * A start-up failure names its fix, for the common ones a first run meets.
 * The texts matched are those transport_bind() and daemon_pidfile() write.
 */
static void
add_hint(char *err, size_t len)
{
	static const struct {
		const char *match, *hint;
	} hints[] = {
		{ "Address already in use", "another process holds that "
		    "port: stop it, or change the port in `listen`" },
		{ "Permission denied", "ports below 1024 need root or "
		    "CAP_NET_BIND_SERVICE; files need read/write access "
		    "for the user usher runs as" },
		{ "pid file", "create its directory, or point daemon.pidfile "
		    "or -p at a writable path (in the foreground, leave both "
		    "out to write none)" },
		{ "another usher", "stop that instance first, or give this "
		    "one its own daemon.pidfile" },
		{ "metrics: cannot listen", "change metrics.port, or remove "
		    "the metrics group" },
		{ "control", "create the socket's directory or change "
		    "control.socket" },
	};
	size_t i, n = strlen(err);

	for (i = 0; i < sizeof(hints) / sizeof(hints[0]); i++)
		if (strstr(err, hints[i].match) != NULL) {
			snprintf(err + n, len - n, " (%s)", hints[i].hint);
			return;
		}
}

static int
workers_of(const struct conf *conf)
{
	long n;

	if (conf->workers > 0)
		return conf->workers;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

int
main(int argc, char *argv[])
{
	struct runtime rt;
	pthread_condattr_t ca;
	struct conf *conf;
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	const char *pidfile = NULL, *request = NULL, *source = NULL;
	const char *publish = NULL;
	bool json = false;
	char err[1024], sum[256], warn[320];
	bool foreground = false, check = false;
	int ch;

	/*
	 * A fixed mmap threshold: the big arrays of a user table are mapped
	 * and given back to the system when a reload frees them. glibc's
	 * default threshold grows past the size of a freed mapping, after
	 * which the next table came from the heap and stayed there (220 MB
	 * resident after reloads of a 1,000,000-user table, not 113).
	 */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	memset(&rt, 0, sizeof(rt));
	rt.path = CONFIG_DEFAULT_PATH;
	pthread_mutex_init(&rt.mu, NULL);
	pthread_cond_init(&rt.reloaded, NULL);
	/* watchdog_main() waits on this with CLOCK_MONOTONIC deadlines: a
	 * default (CLOCK_REALTIME) condition took them for long past and
	 * never waited, so the thread spun and pinged at random. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&rt.wd_cv, &ca);
	pthread_condattr_destroy(&ca);
	rt.started = time(NULL);
	rt.last_ok = true;
	while ((ch = getopt_long(argc, argv, "c:ftT:s:jP:p:Vh", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			rt.path = optarg;
			break;
		case 'f':
			foreground = true;
			break;
		case 't':
			check = true;
			break;
		case 'T':
			request = optarg;
			break;
		case 's':
			source = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'P':
			publish = optarg;
			break;
		case 'p':
			pidfile = optarg;
			break;
		case 'V':
			printf("usher %s\n", USHER_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || ((source != NULL || json) && request == NULL)) {
		usage(stderr);
		return 2;
	}

	log_init(true, LOG_LEVEL_INFO);
	if (publish != NULL)
		return publish_run(rt.path, publish);
	pthread_mutex_init(&rt.load_mu, NULL);
	if (config_load(rt.path, &conf, err, sizeof(err)) == -1) {
		fprintf(stderr, "usher: %s\n", err);
		return 1;
	}
	/* Not for -T: it explains with what is at hand (the cache). */
	if (request == NULL && source_first(rt.path, &conf, !check, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "usher: %s\n", err);
		config_unref(conf);
		return 1;
	}
	config_summary(conf, sum, sizeof(sum));
	if (request != NULL) {
		ch = explain_run(conf, request, source, json, stdin, stdout,
		    stderr);
		config_unref(conf);
		return ch;
	}
	/* -t too: a configuration that cannot start is not OK. */
	if (transport_nofile(conf, workers_of(conf), !check, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "usher: %s\n", err);
		config_unref(conf);
		return 1;
	}
	/* SPEC §9: certificate and key load and match, or no start. -t
	 * checks them; a start builds its contexts from them, here, while
	 * errors still reach the terminal and before privileges are dropped
	 * (keys are often root's alone): loading twice warned twice. */
	warn[0] = '\0';
	if ((check ? tls_check(conf, warn, sizeof(warn), err, sizeof(err)) :
	    tls_init(conf, err, sizeof(err))) == -1) {
		fprintf(stderr, "usher: %s\n", err);
		config_unref(conf);
		return 1;
	}
	if (warn[0] != '\0')
		fprintf(stderr, "usher: warning: %s\n", warn);
	if (check) {
		if (conf->source.type == SOURCE_REDIS)
			printf("%s: OK: %s (table version %" PRIu64 "%s)\n",
			    rt.path, sum, conf->table_version,
			    conf->table_from_cache ? ", from cache_file" : "");
		else
			printf("%s: OK: %s\n", rt.path, sum);
		config_unref(conf);
		return 0;
	}
	if (!foreground) {
		if (daemon_detach(err, sizeof(err)) == -1) {
			fprintf(stderr, "usher: %s\n", err);
			tls_fini();
			config_unref(conf);
			return 1;
		}
		log_init(false, conf->log_level);
	} else
		log_setlevel(conf->log_level);

	/*
	 * In the foreground a pid file is written only when asked for (-p or
	 * daemon.pidfile): a first `usher -f -c my.conf` must not fail on a
	 * /run/usher that only the package creates.
	 */
	if (pidfile == NULL && (!foreground || conf->pidfile_set))
		pidfile = conf->pidfile;
	if (pidfile != NULL && daemon_pidfile(pidfile, err, sizeof(err)) == -1)
		goto fail;
	if (transport_bind(&rt.srv, conf, workers_of(conf), err,
	    sizeof(err)) == -1)
		goto fail;
	/* Before any worker runs: they read capture_on without a lock. */
	if (conf->capture_hep[0] != '\0' && capture_open(&conf->capture_addr,
	    conf->capture_addrlen, conf->capture_id, err, sizeof(err)) == -1)
		goto fail;
	/* Before dropping privileges: /run/usher may be root's. */
	if (conf->control_socket != NULL) {
		static const struct control_ops ops0 = { ctl_status,
		    ctl_reload, NULL };
		struct control_ops ops = ops0;

		ops.arg = &rt;
		if (control_start(conf->control_socket, conf->user,
		    conf->group, &ops, err, sizeof(err)) == -1)
			goto fail;
	}
	/* Sockets are bound (port 5060 may need root): now drop. */
	if (daemon_privdrop(conf->user, conf->group, err, sizeof(err)) == -1 ||
	    transport_workers(&rt.srv, workers_of(conf), &proxy_handlers, err,
	    sizeof(err)) == -1)
		goto fail;
	if (proxy_init() == -1) {
		snprintf(err, sizeof(err), "rate table: %s", strerror(errno));
		goto fail;
	}
	if (conf->metrics && metrics_start(&rt, conf, err, sizeof(err)) == -1)
		goto fail;
	rt.last_reload = (long)time(NULL);
	rt.test_reload_delay_ms = test_reload_delay();
	control_table_version(conf, rt.version);
	/* Target names are resolved before serving, in this thread. */
	if (probe_bind(conf->groups, conf->ngroups) == -1) {
		snprintf(err, sizeof(err), "group member states: %s",
		    strerror(errno));
		goto fail;
	}
	proxy_publish(config_ref(conf), proxy_resolve_targets(conf, NULL));
	if (proxy_dns_start() == -1) {
		snprintf(err, sizeof(err), "cannot start the resolver threads");
		goto fail;
	}
	if (watchdog_start(&rt, err, sizeof(err)) == -1)
		goto fail;
	signal(SIGPIPE, SIG_IGN);
	if (conf->source.type == SOURCE_REDIS && (rt.sync = tablesync_start(
	    &conf->source, conf->table_version, sync_load, &rt)) == NULL) {
		snprintf(err, sizeof(err), "cannot start the table sync "
		    "thread");
		goto fail;
	}
	rt.ev_term = evsignal_new(rt.srv.workers[0].base, SIGTERM, on_stop, &rt);
	rt.ev_int = evsignal_new(rt.srv.workers[0].base, SIGINT, on_stop, &rt);
	rt.ev_hup = evsignal_new(rt.srv.workers[0].base, SIGHUP, on_hup, &rt);
	event_add(rt.ev_term, NULL);
	event_add(rt.ev_int, NULL);
	event_add(rt.ev_hup, NULL);
	log_info("serving with %d workers: %s", rt.srv.nworkers, sum);
	config_unref(conf);
	daemon_ready();
	/* Sockets bound, table published: what arrives now is answered. */
	notify_ready(&rt);

	transport_run(&rt.srv);
	daemon_notify("STOPPING=1");
	watchdog_stop(&rt);
	control_stop();		/* no usherctl reload waits any more */
	tablesync_stop(rt.sync);	/* a load in it finishes first */
	rt.sync = NULL;
	proxy_dns_stop();	/* before: it cuts a reload's DNS short */
	while (atomic_load(&rt.reloading))	/* let a reload finish */
		usleep(10000);

	event_free(rt.ev_term);
	event_free(rt.ev_int);
	event_free(rt.ev_hup);
	metrics_stop(&rt);
	transport_free(&rt.srv);
	tls_fini();
	capture_close();
	proxy_fini();
	proxy_publish(NULL, NULL);
	health_fini();		/* no conf names them any more */
	daemon_pidfile_remove();
	log_info("stopped");
	return 0;
fail:
	add_hint(err, sizeof(err));
	log_errx("%s", err);
	daemon_fail(err);
	metrics_stop(&rt);
	watchdog_stop(&rt);
	control_stop();
	tablesync_stop(rt.sync);
	proxy_dns_stop();
	transport_free(&rt.srv);
	tls_fini();
	capture_close();
	proxy_fini();
	daemon_pidfile_remove();
	config_unref(conf);
	proxy_publish(NULL, NULL);
	health_fini();
	return 1;
}
