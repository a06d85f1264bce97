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

/*
 * What the transport calls (main.c wires them with transport_workers()):
 * per framed message decide and act, 513 for one too large, 503 for
 * requests a TCP next hop did not take, pick up a new configuration on a
 * wake-up. Per worker, proxy keeps its state (the configuration held, the
 * DNS cache, scratch buffers) behind w->ctx: made by on_init, freed by
 * on_free (after proxy_dns_stop()).
 */
extern const struct tp_handlers proxy_handlers;

/* The per-source rate table (a policy, so proxy's): made whether or not
 * a limit is set now, as a reload may set one. 0 or -1 (errno). */
int	proxy_init(void);
void	proxy_fini(void);

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


#endif
