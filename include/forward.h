/* forward.h: what goes out: the bytes of a forwarded request and of a
 * relayed response, as the received message with splices (RFC 3261 §16.6,
 * §16.11, RFC 3581), of a local reply, and the next hop and reply address:
 * pure functions of the message, the decision, the configuration (and a
 * DNS answer the caller got), so the daemon and -T run the same code. */
#ifndef USHER_FORWARD_H
#define USHER_FORWARD_H

#include <sys/types.h>
#include <sys/socket.h>

#include "config.h"
#include "resolve.h"
#include "route.h"
#include "sipmsg.h"

/* RFC 3261 §18.1.1: larger requests go over a congestion-controlled
 * transport unless the URI insists on UDP. */
#define FORWARD_UDP_MTU_LIMIT	1300

/* The Contacts of a group's 302 to a request that came over UDP stay
 * within this many bytes (the best members first): a forged source must
 * not get a large answer for a small request. */
#define FORWARD_UDP_CONTACTS	1024

/* A host name as text, its NUL included (RESOLVE_HOST_MAX). */
#define FORWARD_NAME_MAX	RESOLVE_HOST_MAX

struct fwd_hop {
	enum sip_transport	 tp;		/* SIP_TP_UDP, _TCP, _TLS */
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
	/* TCP/TLS answers (RFC 3261 §18.2.2): addr finds the connection
	 * the request came in on (received:rport) while it is open; a new
	 * one goes to alt (received or host : sent-by port, 5060/5061 by
	 * default). altlen 0: addr for both. */
	struct sockaddr_storage	 alt;
	socklen_t		 altlen;
	/* An answer (a relayed response, a local reply): an open connection
	 * to addr serves whatever name it was checked for (it is the one
	 * the request came by); only a new one checks name. */
	bool			 answer;
	int			 listener;	/* conf->listen index we send from */
	/* TLS: the name the peer's certificate must carry (RFC 5922 §7.2):
	 * the host as the URI or Via wrote it, a DNS name or an IP literal
	 * without brackets (as X509_VERIFY_PARAM_set1_ip_asc takes it);
	 * "" for UDP and TCP. */
	char			 name[FORWARD_NAME_MAX];
};

/*
 * Work out where a request for uri goes: its host (an IP literal, or the
 * address in resolved when it is a name), port (5060 when absent, 5061
 * over TLS), transport (TLS for a sips: URI or transport=tls; else the
 * transport= parameter; TCP when msglen is over the UDP limit and the URI
 * does not say udp) and the listener of that transport and family to send
 * from; a TLS hop needs a TLS listener of its family, whose address goes
 * into Via, and gets the name to verify. 0, or -1 with *why ("no IPv6
 * listener", FORWARD_NO_TLS for sips:, ...).
 */
int	forward_hop(const struct conf *conf, const struct sip_uri *uri,
	    const struct sockaddr_storage *resolved, size_t msglen,
	    struct fwd_hop *hop, const char **why);

/* The conf->listen index of the first listener of transport tp and address
 * family, or -1. */
int	forward_listener(const struct conf *conf, enum sip_transport tp,
	    int family);

enum fwd_next {
	FWD_NEXT_HOP,		/* *hop is where it goes */
	FWD_NEXT_DNS,		/* ask DNS for (next hop host, *kind), again */
	FWD_NEXT_FAIL,		/* cannot go: 503 *why */
};

/*
 * The next hop of the request of decision d (ROUTE_FORWARD): over TLS when
 * forward_needs_tls() says so (never downgraded, also when SRV names
 * another transport; 503 FORWARD_NO_TLS without a TLS listener), an IP
 * literal's address, or a name's address picked from a,
 * the DNS answer for the next hop's host and *kind (RFC 3263; SRV's
 * transport wins; d's H1 picks among equals), NULL when the caller has none
 * yet; target says a came from the table targets' map (the 503 reason then
 * says "Target"). The caller only gets the answer: the daemon from its
 * cache or the resolver thread, -T by a blocking lookup. *why may point
 * into reason (reasonlen: 160 is enough).
 */
enum fwd_next forward_next_hop(const struct conf *conf, const struct sipmsg *m,
	    const struct route_decision *d, const struct resolve_answer *a,
	    bool target, struct fwd_hop *hop, enum resolve_kind *kind,
	    const char **why, char *reason, size_t reasonlen);

/* The DNS servers of conf (dns.servers) as the resolver takes them; none:
 * the system's. */
void	forward_dns_servers(const struct conf *conf,
	    struct resolve_servers *sv);

/*
 * The bytes of a local answer for decision d (ROUTE_REPLY) to m from
 * src_ip:src_port (NULL: none to note in received=), which arrived over
 * tp (not what its Via says: a group's 302 over UDP stays within
 * FORWARD_UDP_CONTACTS), as the daemon sends them and -T prints them.
 * Returns the length or -1.
 */
ssize_t	forward_reply(const struct sipmsg *m, const struct route_decision *d,
	    const char *src_ip, uint16_t src_port, enum sip_transport tp,
	    char *out, size_t outlen);

/* Where a UDP answer to m from src goes (RFC 3261 §18.2.2, RFC 3581):
 * with rport to the source port, else the top Via's sent-by port. */
void	forward_reply_addr(const struct sipmsg *m,
	    const struct sockaddr_storage *src, struct sockaddr_storage *dst);

/*
 * Where a local answer to m from src over tp goes: UDP as
 * forward_reply_addr(); TCP and TLS (RFC 3261 §18.2.2) on src's
 * connection while it is open (hop->addr: src), else on a new one to src's
 * address at the top Via's sent-by port (5060, 5061 over TLS: hop->alt,
 * when that differs), verifying over TLS the Via's sent-by host (name).
 * hop->listener is not set.
 */
void	forward_reply_hop(const struct sipmsg *m, enum sip_transport tp,
	    const struct sockaddr_storage *src, struct fwd_hop *hop);

/* SPEC §7: the reason of the 503 when a sips: request has no TLS hop. */
#define FORWARD_NO_TLS	"No TLS For sips Next Hop"

/*
 * true when the request of decision d may only leave over TLS (RFC 3261
 * §26.2.2, SPEC §7): its next hop, its Request-URI as received, or the one
 * it will carry is a sips: URI. Never downgraded to UDP or TCP, IP literal
 * or name.
 */
bool	forward_needs_tls(const struct sipmsg *m,
	    const struct route_decision *d);

/*
 * The forwarded request: Request-URI rewritten (or restored, strict route),
 * our Route values removed, a new top Via whose branch is the H1 of the
 * previous top Via as it leaves (route_via_h1, SPEC §7) and d's H2,
 * received/rport on the previous top Via, Max-Forwards decremented (70
 * when absent), Record-Route when configured (two values when the request
 * changes transport or family), Content-Length added when it was absent and
 * the request goes over TCP. in_listener/in_tp: where it arrived. Returns
 * the length or -1 (*why).
 */
ssize_t	forward_request(const struct sipmsg *m, const struct route_decision *d,
	    const struct conf *conf, const char *src_ip, uint16_t src_port,
	    int in_listener, const struct fwd_hop *hop, char *out,
	    size_t outlen, const char **why);

/*
 * A response whose top Via is ours (route_decide() checked its H1): that
 * Via removed, Content-Length added when it has none and goes over TCP or
 * TLS. *hop gets the next Via's address (received and rport first, RFC
 * 3581), when it is an IP literal, and its transport; over TCP and TLS
 * alt is where a new connection goes when that one is closed (RFC 3261
 * §18.2.2: received, else the host, at the sent-by port; rport is for
 * UDP only), and over TLS its name is the Via's sent-by host, which a new
 * connection verifies. Bytes past
 * Content-Length are never copied. Returns the length or -1 (*why).
 */
ssize_t	forward_response(const struct sipmsg *m, const struct conf *conf,
	    struct fwd_hop *hop, char *out, size_t outlen, const char **why);

#endif
