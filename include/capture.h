/* capture.h: HEPv3 (Homer's sipcapture format) mirror of SIP messages over
 * UDP to one collector set in the configuration. Below transport: it knows
 * addresses and bytes, not SIP beyond finding a Call-ID. */
#ifndef USHER_CAPTURE_H
#define USHER_CAPTURE_H

#include <sys/types.h>
#include <sys/socket.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slice.h"

/* HEPv3 carries its total length in 16 bits: no packet is larger. */
#define CAPTURE_MAX	65535

/* What one HEP packet says about a message. src and dst must be of one
 * family (AF_INET or AF_INET6); an IPv4-mapped IPv6 address is not
 * unmapped here. */
struct capture_meta {
	int				 proto;	/* IPPROTO_UDP, IPPROTO_TCP */
	const struct sockaddr_storage	*src;
	const struct sockaddr_storage	*dst;
	uint32_t			 sec, usec;	/* wall clock */
	uint32_t			 id;		/* capture agent id */
	struct slice			 callid;	/* {NULL, 0}: none */
};

/*
 * Encode msg[0..len) and cm as one HEPv3 packet into out (pure: no I/O, no
 * clock). Returns the packet length, or -1 when it does not fit outlen or
 * CAPTURE_MAX, or the addresses are of no or different families (out is
 * then unspecified).
 */
ssize_t	capture_encode(const struct capture_meta *cm, const char *msg,
	    size_t len, uint8_t *out, size_t outlen);

/* The Call-ID header value of the SIP message in buf (long or compact
 * form "i:", case-insensitive, headers only), trimmed; {NULL, 0} if none.
 * Points into buf. */
struct slice	capture_callid(const char *buf, size_t len);

/*
 * Open the non-blocking UDP socket to the collector (shared by every
 * worker: sendto on a UDP socket is thread-safe) and turn capture on.
 * Called once before the workers run. 0, or -1 with the reason in err.
 */
int	capture_open(const struct sockaddr_storage *collector,
	    socklen_t collectorlen, uint32_t id, char *err, size_t errlen);
void	capture_close(void);

/* Whether capture_open() turned it on: the one branch the hot path pays
 * when capture is off. */
extern bool	capture_on;

/*
 * Mirror one message (src to dst, proto) to the collector now, never
 * blocking: encoded into buf (the caller's, per thread; CAPTURE_MAX is
 * always enough) and sent with MSG_DONTWAIT. callid may be {NULL, 0}:
 * then it is looked for in msg. Returns 0, or -1
 * when it could not go (too large, would block, an ICMP error reported
 * by the socket): the caller counts it; nothing is retried or queued.
 */
int	capture_send(int proto, const struct sockaddr_storage *src,
	    const struct sockaddr_storage *dst, struct slice callid,
	    const char *msg, size_t len, uint8_t *buf, size_t buflen);

#endif
