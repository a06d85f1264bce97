/* resolve.h: RFC 3263 next hops for host names (SRV by priority and
 * weight, RFC 2782, then A/AAAA): a blocking DNS client for the resolver
 * and loading threads, one resolver thread with a bounded queue for the
 * event loops, and the map of table target names resolved at load. */
#ifndef USHER_RESOLVE_H
#define USHER_RESOLVE_H

#include <sys/types.h>
#include <sys/socket.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sipmsg.h"
#include "slice.h"

#define RESOLVE_MAX_TARGETS	8	/* SRV records (or addresses) kept */
#define RESOLVE_MAX_SERVERS	4
/* A DNS name as text: 253 bytes, 254 with the root's dot, its NUL, and
 * one byte more so that a longer name cut to fit (snprintf) is still seen
 * as too long by resolve_name_ok() rather than passed as another name. */
#define RESOLVE_HOST_MAX	256
#define RESOLVE_DNS_PORT	53	/* a server's port when none is given */
#define RESOLVE_QUEUE_MAX	256	/* lookups waiting for the thread */
#define RESOLVE_TTL_HOSTS	60	/* getaddrinfo() says no TTL */
/* How long an answer is kept, by the resolver thread and by the workers
 * alike: its TTL within these bounds (a TTL of 0 must not mean a query per
 * request), a name that did not resolve RESOLVE_TTL_NEGATIVE seconds (its
 * requests get 503 meanwhile). */
#define RESOLVE_TTL_MIN		30
#define RESOLVE_TTL_MAX		3600
#define RESOLVE_TTL_NEGATIVE	10
#define RESOLVE_PARALLEL	64	/* names in flight at load */

/*
 * What a next hop URI asks of DNS (RFC 3263 §4.1, §4.2, without NAPTR):
 * with a port, only A/AAAA; without one, SRV for the transport usher
 * will use, then A/AAAA at port 5060 (5061 for TLS) when the name has no
 * SRV. usher asks no NAPTR: it knows the transport it will use, and a
 * sips: or transport=tls URI leaves only TLS (_sips._tcp, SIPS+D2T).
 */
enum resolve_kind {
	RESOLVE_ADDR = 0,	/* explicit port: A/AAAA only */
	RESOLVE_ANY,		/* no transport=, fits UDP: _sip._udp, _sip._tcp */
	RESOLVE_UDP,		/* transport=udp: _sip._udp */
	RESOLVE_TCP,		/* transport=tcp, or too big for UDP: _sip._tcp */
	RESOLVE_TLS,		/* sips:, transport=tls: _sips._tcp */
	RESOLVE_KINDS
};

struct resolve_target {
	struct sockaddr_storage	 addr;		/* with its port */
	enum sip_transport	 tp;		/* from SRV; NONE after A/AAAA */
	uint16_t		 priority;
	uint16_t		 weight;
};

/* Where a name leads: n targets, or none and why (a static phrase that
 * follows the name in a 503 reason: "Does Not Resolve", ...). */
struct resolve_answer {
	struct resolve_target	 t[RESOLVE_MAX_TARGETS];
	size_t			 n;
	uint32_t		 ttl;		/* seconds it may be kept */
	const char		*why;
};

/* The DNS servers to ask; n == 0: those of /etc/resolv.conf for SRV, and
 * getaddrinfo() (which reads /etc/hosts too) for A/AAAA. */
struct resolve_servers {
	struct sockaddr_storage	 addr[RESOLVE_MAX_SERVERS];
	size_t			 n;
};

/* ---- pure parts ---- */

/*
 * The kind of lookup uri needs (big: the request is over the UDP limit,
 * SPEC §4). sips: is RESOLVE_TLS whatever transport= says (RFC 3261
 * §26.2.2: never downgraded). -1 with *why when usher cannot send there at
 * all (transport=sctp, ...).
 */
int	resolve_kind_of(const struct sip_uri *uri, bool big,
	    enum resolve_kind *kind, const char **why);

/* true when host is a name DNS can be asked for (labels of letters,
 * digits, '-' and '_', at most 63 bytes each, 253 in all). */
bool	resolve_name_ok(struct slice host);

/* Seconds to keep answer a (RESOLVE_TTL_MIN..MAX, or _NEGATIVE). */
uint32_t resolve_ttl(const struct resolve_answer *a);

/*
 * RFC 2782 selection: among the targets of the lowest priority, the one
 * whose running weight sum first reaches seed % (sum + 1), zero weights
 * ordered first; equal chances when every weight is 0. The same seed
 * always picks the same target: a stateless proxy must send a
 * retransmission where the original went (RFC 3261 §16.11). Index, or -1
 * when n is 0.
 */
int	resolve_pick(const struct resolve_target *t, size_t n, uint64_t seed);

/* A DNS query for name (class IN) with id into buf. Length, or -1 when
 * name is not a valid DNS name or buf is too small. */
ssize_t	resolve_query_build(const char *name, int type, uint16_t id,
	    unsigned char *buf, size_t len);

/* One SRV record of an answer, with the address its additional section
 * gave for the target (family 0 when none). */
struct resolve_srv {
	uint16_t		 priority, weight, port;
	char			 target[RESOLVE_HOST_MAX];
	struct sockaddr_storage	 addr;
	uint32_t		 ttl;
};

/*
 * Parse a DNS answer: its rcode, and for type ns_t_srv the SRV records
 * (sorted by priority, at most max), for ns_t_a/ns_t_aaaa the addresses
 * (port 0) into addr. The number found, or -1 when the message is
 * malformed. *ttl gets the smallest TTL of what was used.
 */
int	resolve_parse(const unsigned char *msg, size_t len, int type,
	    int *rcode, struct resolve_srv *srv, struct sockaddr_storage *addr,
	    size_t max, uint32_t *ttl);

/* ---- blocking: the resolver, loading and refresh threads ---- */

/* Where host leads for kind: RFC 3263 with the servers sv. Never fails
 * as a call: a->n == 0 and a->why say what went wrong. */
void	resolve_sip(const struct resolve_servers *sv, const char *host,
	    enum resolve_kind kind, struct resolve_answer *a);

/* ---- the resolver thread ---- */

/*
 * A lookup for an event loop: filled by the caller (host, kind, servers,
 * done, arg), answered by the resolver thread, which then calls done in
 * its own thread (cancelled: the resolver is stopping, answer unset). The
 * caller owns the job before and after.
 */
struct resolve_job {
	struct resolve_job	*next;
	char			 host[RESOLVE_HOST_MAX];
	enum resolve_kind	 kind;
	struct resolve_servers	 servers;
	struct resolve_answer	 answer;
	bool			 cancelled;
	void			(*done)(struct resolve_job *job);
	void			*arg;
};

/* Copy host into job->host with its NUL. 0, or -1 (job untouched) when
 * host is not a name DNS can be asked for (resolve_name_ok). */
int	resolve_job_host(struct resolve_job *job, struct slice host);

/* Start the resolver thread. 0 or -1. */
int	resolve_start(void);
/* Stop it: every job still queued gets done() with cancelled set. */
void	resolve_stop(void);
/* Queue job. 0, or -1 when the queue is full or no thread runs. */
int	resolve_submit(struct resolve_job *job);

/* ---- the map of table targets ---- */

/*
 * Names resolved ahead of time, immutable once built and shared by the
 * workers through a reference: a refresh builds a new one.
 */
struct resolve_map;

struct resolve_map *resolve_map_new(size_t nhosts);
/* Resolve host (blocking) and add it: every kind when srv, else only
 * RESOLVE_ADDR. The answer for the first kind asked goes to *first (may
 * be NULL), for the caller's log. 0, or -1 when out of memory or full. */
int	resolve_map_add(struct resolve_map *m, struct slice host, bool srv,
	    const struct resolve_servers *sv, struct resolve_answer *first);
/* Add host unresolved (every kind when srv, else only RESOLVE_ADDR):
 * resolve_map_resolve() resolves it. 0, or -1 when out of memory or
 * full; a name already there is kept as it is. */
int	resolve_map_put(struct resolve_map *m, struct slice host, bool srv);
/*
 * Resolve every name put and not yet resolved, blocking, at most
 * RESOLVE_PARALLEL at once in threads of its own, the whole set within
 * one name's DNS timeout (DNS_TRIES rounds over the servers, plus a
 * margin). A name not resolved by then stays unknown: resolve_map_find()
 * gives NULL and its requests look it up when they come. A lookup through
 * getaddrinfo() (no servers given) cannot be cut short and may run over.
 * Returns the number of names left unknown.
 */
size_t	resolve_map_resolve(struct resolve_map *m,
	    const struct resolve_servers *sv);
/* The answer for host and kind, or NULL when the map does not know it
 * (the caller then looks it up). No allocation, no lock. */
const struct resolve_answer *resolve_map_find(const struct resolve_map *m,
	    struct slice host, enum resolve_kind kind);
size_t	resolve_map_count(const struct resolve_map *m);
struct resolve_map *resolve_map_ref(struct resolve_map *m);
void	resolve_map_unref(struct resolve_map *m);	/* NULL ok */

#endif
