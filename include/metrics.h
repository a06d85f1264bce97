/* metrics.h: per-worker counters (no locks on the request path), summed
 * when scraped. */
#ifndef USHER_METRICS_H
#define USHER_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "group.h"
#include "sipmsg.h"
#include "tablesync.h"

enum metrics_drop {
	DROP_PARSE = 0,
	DROP_TOO_LARGE,
	DROP_RATE,
	DROP_BANNED,
	DROP_SCANNER,
	DROP_NOT_OURS,
	DROP_LOCAL_ACK,
	DROP_TCP_LIMIT,
	DROP__COUNT,
	/* Route's "parse": the message is in parse_errors already, so this
	 * slot is kept but not exposed (SPEC §10: counted once). */
	DROP_UNSCANNED = DROP__COUNT,
};

/* usher_tls_handshakes_total{result} (SPEC §9) */
enum metrics_tls {
	TLS_HS_OK = 0,		/* a full handshake */
	TLS_HS_RESUMED,		/* a session resumed (ticket) */
	TLS_HS_FAILED,		/* failed, refused or timed out */
	TLS_HS__COUNT,
};

#define METRICS_METHODS	(SIP_PUBLISH + 1)
#define METRICS_CODES	700

/* Counters one worker owns. Written only by its thread; read (relaxed) by
 * the scraper, so each is a relaxed atomic. */
struct metrics {
	atomic_ulong	requests[METRICS_METHODS];
	atomic_ulong	replies[METRICS_CODES];
	atomic_ulong	dropped[DROP__COUNT + 1];
	atomic_ulong	forwarded_requests;
	atomic_ulong	forwarded_responses;
	atomic_ulong	parse_errors;
	atomic_ulong	capture_errors;	/* HEP packets that could not go */
	/* Group member probes (SPEC §8): sent, answered in time by the
	 * member, failed (no answer, not sent), answers that did not count
	 * (late, replayed, another source); and unreachable signals
	 * (ICMP, TCP refused or reset) for any destination. */
	atomic_ulong	probes_sent;
	atomic_ulong	probes_answered;
	atomic_ulong	probes_failed;
	atomic_ulong	probes_stale;	/* our MAC, but late or replayed */
	atomic_ulong	unreachable;
	atomic_ulong	tls_handshakes[TLS_HS__COUNT];
};

static inline void
metrics_inc(atomic_ulong *c)
{
	atomic_store_explicit(c, atomic_load_explicit(c,
	    memory_order_relaxed) + 1, memory_order_relaxed);
}

/* Values that are not per-worker counters, collected at scrape time. */
struct metrics_gauges {
	unsigned long	 tcp_connections;
	unsigned long	 tls_connections;	/* of tcp_connections */
	long		 tls_cert_expiry;	/* notAfter, 0: none */
	unsigned long	 table_entries;
	unsigned long	 table_prefixes;
	unsigned long	 reloads_ok;
	unsigned long	 reloads_failed;
	long		 last_reload;		/* unix time */
	int		 workers;
	int		 last_reload_ok;	/* 1, or 0 when it failed */
	const char	*table_source;		/* "file" */
	const char	*table_version;		/* "sha256:..." */

	/* process_* (SPEC §10), from /proc/self; has_process: read them */
	bool		 has_process;
	unsigned long	 rss_bytes;
	unsigned long	 vsize_bytes;
	double		 cpu_seconds;
	unsigned long	 open_fds;
	unsigned long	 max_fds;
	double		 start_time;		/* unix time */

	/* The table's source (SPEC §11): the version running (0 with a
	 * file), whether Redis answers (always 1 with a file), and the
	 * versions or attempts that failed, by enum tablesync_reason. */
	unsigned long long table_serial;	/* Redis version, 0 with a file */
	int		 table_source_up;
	unsigned long	 table_load_failures[TS__COUNT];
	/* PBX groups (SPEC §8): usher_member_* from each member's health
	 * (NULL: up, nothing counted). Valid until release(release_arg),
	 * which the server calls once the text is rendered (NULL: none). */
	const struct conf_group *groups;
	size_t		 ngroups;
	void		(*release)(void *);
	void		*release_arg;
};

/* Fill g's process_* from /proc/self; 0, or -1 when it is not there. */
int	metrics_process(struct metrics_gauges *g);

/* Fills per-worker counters (up to *n, sets *n) and the gauges. */
typedef void (*metrics_collect_fn)(void *arg, const struct metrics **w,
    int *n, struct metrics_gauges *g);

struct event_base;

/*
 * Serve Prometheus text at http://address:port/metrics from base (evhttp).
 * Returns 0, or -1 with the reason in err.
 */
int	metrics_serve(struct event_base *base, const char *address,
	    uint16_t port, metrics_collect_fn fn, void *arg, char *err,
	    size_t errlen);
void	metrics_close(void);

/* Render the exposition text into buf; returns the length or -1. */
ssize_t	metrics_render(const struct metrics **w, int n,
	    const struct metrics_gauges *g, char *buf, size_t len);

/* The drop enum for a route drop_reason label; DROP_PARSE if unknown. */
enum metrics_drop	 metrics_drop_of(const char *reason);
const char		*metrics_drop_name(enum metrics_drop d);

#endif
