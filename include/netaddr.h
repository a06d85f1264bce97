/* netaddr.h: IP literals and socket addresses: parse, format, compare,
 * length and port, in one place. No SIP, no I/O, no allocation. */
#ifndef USHER_NETADDR_H
#define USHER_NETADDR_H

#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slice.h"

/* RFC 3261 §19.1.2: the port a sip: URI (or Via) without one means, and
 * the one of sips: (TLS). */
#define SIP_DEFAULT_PORT	5060
#define SIP_TLS_DEFAULT_PORT	5061

/* The longest netaddr_format() text with its NUL: "[v6]:65535". */
#define NETADDR_STRLEN		(INET6_ADDRSTRLEN + sizeof("[]:65535"))

/*
 * A dotted-quad IPv4 literal as inet_pton(AF_INET) takes it (four decimal
 * octets, no leading zeros), without a NUL-terminated copy: host names and
 * addresses are told apart per request. true when p..len is one.
 */
bool	netaddr_ipv4_parse(const char *p, size_t len, uint8_t out[4]);

/*
 * An IP literal: a dotted quad, or IPv6 with or without brackets (never a
 * zone id, "%eth0": it names an interface of this host, not a peer; a
 * bracketed dotted quad passes, as it always did for next hops), into
 * *ss with port. 0, or -1 when host is no IP literal (ss unspecified).
 */
int	netaddr_parse(struct slice host, uint16_t port,
	    struct sockaddr_storage *ss);

/* true when host is an IP literal as netaddr_parse() takes it. */
bool	netaddr_is_ip(struct slice host);

/*
 * "IP", "IP:port", "[IPv6]" or "[IPv6]:port", or a bare IPv6 literal (its
 * colons are not a port); port 1..65535, defport when absent. 0 or -1.
 */
int	netaddr_parse_hostport(struct slice text, uint16_t defport,
	    struct sockaddr_storage *ss);

/* The length of a sockaddr of family (AF_INET, AF_INET6); 0 otherwise. */
socklen_t netaddr_len(int family);

/* The port of ss in host order, and setting it (v4 and v6). */
uint16_t netaddr_port(const struct sockaddr_storage *ss);
void	netaddr_set_port(struct sockaddr_storage *ss, uint16_t port);

/* The address bytes of ss (4 or 16, into *len), pointing into ss. */
const uint8_t *netaddr_bytes(const struct sockaddr_storage *ss, size_t *len);

/* An IPv4-mapped IPv6 address (::ffff:a.b.c.d) made the IPv4 one, port
 * kept; any other left as it is. */
void	netaddr_unmap(struct sockaddr_storage *ss);

/* Same family and address; netaddr_eq_port: and the same port. */
bool	netaddr_eq(const struct sockaddr_storage *a,
	    const struct sockaddr_storage *b);
bool	netaddr_eq_port(const struct sockaddr_storage *a,
	    const struct sockaddr_storage *b);

/*
 * One host: not the unspecified address, broadcast, multicast or the
 * reserved IPv4 block, and not port 0.
 */
bool	netaddr_is_unicast(const struct sockaddr_storage *ss);

#define NETADDR_BRACKETS	0x1	/* IPv6 as "[...]" */
#define NETADDR_PORT		0x2	/* ":port" after it (and brackets) */

/*
 * ss as text into buf (NUL-terminated; NETADDR_STRLEN is always enough):
 * the bare address, or as flags ask. Returns the length, or -1 when it
 * does not fit or ss is neither IPv4 nor IPv6.
 */
int	netaddr_format(const struct sockaddr_storage *ss, unsigned flags,
	    char *buf, size_t len);

#endif
