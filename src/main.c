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

#include "config.h"
#include "daemon.h"
#include "explain.h"
#include "log.h"
#include "metrics.h"
#include "table.h"
#include "tablesync.h"
#include "proxy.h"
#include "resolve.h"
#include "ratelimit.h"
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

#define RATELIMIT_SOURCES	65536	/* sources remembered, ~4 MB */

struct runtime {
	struct server	 srv;
	const char	*path;
	struct event	*ev_term, *ev_int, *ev_hup;
	atomic_ulong	 reloads_ok, reloads_failed;
	atomic_long	 last_reload;
	atomic_ulong	 hup_wanted;	/* SIGHUPs received */
	atomic_bool	 reloading;	/* a reload thread runs */
	unsigned	 test_reload_delay_ms;
	/* SIGHUP reloads and Redis versions load one at a time. */
	pthread_mutex_t	 load_mu;
	struct tablesync *sync;		/* NULL: a users_file source */
};

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
	if (conf != NULL) {
		g->table_entries = table_count(conf->table);
		g->table_prefixes = table_count_prefixes(conf->table);
	}
	g->reloads_ok = atomic_load(&rt->reloads_ok);
	g->reloads_failed = atomic_load(&rt->reloads_failed);
	g->last_reload = atomic_load(&rt->last_reload);
	g->table_source_up = 1;
	if (conf != NULL)
		g->table_version = conf->table_version;
	if (rt->sync != NULL) {
		struct tablesync_status st;

		tablesync_status(rt->sync, &st);
		g->table_source_up = st.up;
		for (i = 0; i < TS__COUNT; i++)
			g->table_load_failures[i] = st.failures[i];
	}
	config_unref(conf);
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
	char sum[256], changed[256], why[512];
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
		return -1;
	}
	if (changed[0] != '\0')
		log_warnx("reload: %s changed: a restart applies it; "
		    "running on as before", changed);
	config_summary(conf, sum, sizeof(sum));
	log_setlevel(conf->log_level);
	/* Target names are resolved here, never in an event loop. */
	map = proxy_resolve_targets(conf, NULL);
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
	if (snap != NULL)
		log_info("table version %" PRIu64 " loaded: %s", snap->version,
		    sum);
	else
		log_info("reloaded %s: %s", rt->path, sum);
	return 0;
}

static void
reload_once(struct runtime *rt)
{
	char err[1024];

	if (reload_apply(rt, NULL, err, sizeof(err)) == -1)
		log_warnx("reload failed, keeping the running table: %s", err);
}

/* The sync thread's way in: exactly the reload above. */
static int
sync_load(void *arg, const struct conf_snapshot *snap, char *err,
    size_t errlen)
{
	return reload_apply(arg, snap, err, errlen);
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
		reload_once(rt);
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

/* libevent runs this in the loop, not in signal context. */
static void
on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct runtime *rt = arg;
	pthread_attr_t attr;
	pthread_t t;

	(void)sig;
	(void)what;
	atomic_fetch_add(&rt->hup_wanted, 1);
	if (atomic_exchange(&rt->reloading, true))
		return;		/* the running reload sees the count */
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, reload_main, rt) != 0) {
		log_warnx("reload: cannot start a thread, reloading inline");
		reload_main(rt);
	}
	pthread_attr_destroy(&attr);
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
	struct conf *conf;
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	const char *pidfile = NULL, *request = NULL, *source = NULL;
	const char *publish = NULL;
	bool json = false;
	char err[1024], sum[256];
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
			config_unref(conf);
			return 1;
		}
		log_init(false, conf->log_level);
	} else
		log_setlevel(conf->log_level);

	if (daemon_pidfile(pidfile ? pidfile : conf->pidfile, err,
	    sizeof(err)) == -1)
		goto fail;
	if (transport_bind(&rt.srv, conf, workers_of(conf), err,
	    sizeof(err)) == -1)
		goto fail;
	/* Sockets are bound (port 5060 may need root): now drop. */
	if (daemon_privdrop(conf->user, conf->group, err, sizeof(err)) == -1 ||
	    transport_workers(&rt.srv, workers_of(conf), err,
	    sizeof(err)) == -1)
		goto fail;
	/* Made whether or not a limit is set now: a reload may set one. */
	if ((rt.srv.rl = ratelimit_new(RATELIMIT_SOURCES)) == NULL) {
		snprintf(err, sizeof(err), "rate table: %s", strerror(errno));
		goto fail;
	}
	if (conf->metrics && metrics_serve(rt.srv.workers[0].base,
	    conf->metrics_address, conf->metrics_port, collect, &rt, err,
	    sizeof(err)) == -1)
		goto fail;
	rt.last_reload = (long)time(NULL);
	rt.test_reload_delay_ms = test_reload_delay();
	/* Target names are resolved before serving, in this thread. */
	proxy_publish(config_ref(conf), proxy_resolve_targets(conf, NULL));
	if (proxy_dns_start() == -1) {
		snprintf(err, sizeof(err), "cannot start the resolver threads");
		goto fail;
	}
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

	transport_run(&rt.srv);
	tablesync_stop(rt.sync);	/* a load in it finishes first */
	rt.sync = NULL;
	proxy_dns_stop();	/* before: it cuts a reload's DNS short */
	while (atomic_load(&rt.reloading))	/* let a reload finish */
		usleep(10000);

	event_free(rt.ev_term);
	event_free(rt.ev_int);
	event_free(rt.ev_hup);
	metrics_close();
	ratelimit_free(rt.srv.rl);
	transport_free(&rt.srv);
	proxy_publish(NULL, NULL);
	daemon_pidfile_remove();
	log_info("stopped");
	return 0;
fail:
	log_warnx("%s", err);
	daemon_fail(err);
	tablesync_stop(rt.sync);
	proxy_dns_stop();
	ratelimit_free(rt.srv.rl);
	transport_free(&rt.srv);
	daemon_pidfile_remove();
	config_unref(conf);
	return 1;
}
