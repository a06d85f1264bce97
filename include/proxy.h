/* proxy.h: per message: decide with route_decide() and act on it: reply,
 * redirect, forward, relay or drop. Also the published configuration that
 * a reload swaps. */
#ifndef USHER_PROXY_H
#define USHER_PROXY_H

#include <sys/types.h>
#include <sys/socket.h>

#include "config.h"
#include "resolve.h"
#include "route.h"
#include "sipmsg.h"
#include "transport.h"


/* Publish conf, and the map of its target names (may be NULL), as what
 * new messages see (takes over the caller's references; the previous ones
 * are released once no worker holds them). */
void	proxy_publish(struct conf *conf, struct resolve_map *map);
/* The currently published conf, referenced: config_unref() it. */
struct conf *proxy_current(void);

/* Called by the transport for each framed message (scan_rc as returned by
 * sipmsg_scan, with m filled). */
void	proxy_message(struct worker *w, const struct tp_source *src,
	    const struct sipmsg *m, ssize_t scan_rc);

/* Free what proxy keeps per worker (the DNS cache, answers not yet
 * used). After proxy_dns_stop(). */
void	proxy_worker_free(struct worker *w);

/*
 * Resolve the names of conf's active table targets (RFC 3263, blocking:
 * the loading thread calls it, never an event loop). A name that does not
 * resolve is logged as a warning (with prev, the map it replaces: only
 * when it resolved there) and its requests get 503. NULL when out of
 * memory.
 */
struct resolve_map *proxy_resolve_targets(const struct conf *conf,
	    const struct resolve_map *prev);

/* Start the resolver thread and the one that re-resolves the published
 * target names every dns.refresh seconds. 0 or -1. */
int	proxy_dns_start(void);
/* Stop both, before the workers are freed. */
void	proxy_dns_stop(void);

/* Take the configuration published last, dropping the one held. */
void	proxy_worker_refresh(struct worker *w);

/* A message over max_message_size: 513 when it can be answered (SPEC §4). */
void	proxy_too_large(struct worker *w, const struct tp_source *src,
	    const struct sipmsg *m);

/* Requests queued for a next hop that could not be reached (buf: whole
 * forwarded messages): each non-ACK one answered 503 why, via the Vias. */
void	proxy_undeliverable(struct worker *w, const char *buf, size_t len,
	    const char *why);

#endif
