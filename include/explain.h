/* explain.h: `usher -T`: decide one request with the daemon's own code and
 * say why, for a person or (JSON) a provisioning system; and the one-line
 * trace the daemon logs at debug level. */
#ifndef USHER_EXPLAIN_H
#define USHER_EXPLAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config.h"
#include "route.h"
#include "sipmsg.h"

/*
 * Explain request ("METHOD URI", or "-" for a whole SIP message read from
 * in) as if it came from source (an IP address; NULL: 127.0.0.1) over UDP.
 * Writes to out. Returns 0 when explained, 2 when request or source is bad
 * (the reason is written to err).
 */
int	explain_run(const struct conf *conf, const char *request,
	    const char *source, bool json, FILE *in, FILE *out, FILE *err);

/* One line: method, Call-ID, source, matched entry, rule, outcome. */
void	explain_line(const struct sipmsg *m, const struct route_decision *d,
	    const struct conf *conf, const char *transport, const char *src_ip,
	    unsigned src_port, char *buf, size_t len);

#endif
