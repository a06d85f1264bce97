/* transport.h: UDP, TCP and TLS sockets on libevent, one event_base per
 * worker thread, stream framing by Content-Length, connection limits and
 * idle timeouts, connection ownership. Every framed message goes up through the
 * handler table the transport is given (struct tp_handlers): it knows
 * nothing of what sits above it. */
#ifndef USHER_TRANSPORT_H
#define USHER_TRANSPORT_H

#include <sys/types.h>
#include <sys/socket.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "config.h"
#include "metrics.h"
#include "sipmsg.h"

#define TRANSPORT_BATCH		16	/* datagrams per recvmmsg/sendmmsg */
#define TRANSPORT_UDP_MAX	65536

struct tp_conn;
struct tp_inbox_item;
struct tp_source;
struct server;
struct worker;

/*
 * What the transport calls, set up once by whoever wires it (main.c hands
 * it proxy's). Called in the worker's own thread, from its event loop,
 * never nested in another handler; the pointers and slices they get are
 * valid until they return. As unbound's comm_point takes a callback.
 */
struct tp_handlers {
	/* Per worker, in transport_workers() (the main thread): set up
	 * w->ctx. 0, or -1 to fail the set-up. */
	int	(*on_init)(struct worker *w);
	/* A framed message (scan_rc as sipmsg_scan returned it, m filled). */
	void	(*on_message)(struct worker *w, const struct tp_source *src,
		    const struct sipmsg *m, ssize_t scan_rc);
	/* A message over max_message_size (m as far as it was scanned). */
	void	(*on_too_large)(struct worker *w, const struct tp_source *src,
		    const struct sipmsg *m);
	/* Bytes handed to transport_send_tcp() that could not go out (an
	 * outgoing connection that did not come up): whole messages. */
	void	(*on_undeliverable)(struct worker *w, const char *buf,
		    size_t len, const char *why);
	/* dst cannot be reached (SPEC §8's passive signals): an ICMP
	 * unreachable for a datagram we sent to it (tp SIP_TP_UDP, read from
	 * the socket's error queue: IP_RECVERR), or an outgoing connection to
	 * it refused, reset or timed out (SIP_TP_TCP); err says which
	 * (ECONNREFUSED, EHOSTUNREACH, ECONNRESET, ETIMEDOUT, ...). A
	 * transport_send_tcp() that fails at once says it in errno instead.
	 * May be NULL. */
	void	(*on_unreachable)(struct worker *w, const struct sockaddr *dst,
		    socklen_t dstlen, int err, enum sip_transport tp);
	/* transport_wake() reached the worker. */
	void	(*on_wake)(struct worker *w);
	/* A TLS handshake from sa is about to start (an accepted
	 * connection): false closes it at once (SPEC §9: handshakes count
	 * toward rate_per_source). NULL: all pass. */
	bool	(*on_handshake)(struct worker *w, const struct sockaddr *sa);
	/* Whether sa is exempt from the per-source connection cap. */
	bool	(*is_trusted)(struct worker *w, const struct sockaddr *sa);
	/* The worker goes away (transport_free): free w->ctx. */
	void	(*on_free)(struct worker *w);
	void	*arg;		/* theirs, as w->srv->h.arg; proxy: unused */
};

/* Where a message came from, and how to answer it. */
struct tp_source {
	enum sip_transport	 tp;		/* SIP_TP_UDP, _TCP or _TLS */
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
	char			 ip[64];	/* addr as text, no brackets */
	uint16_t		 port;
	int			 fd;		/* UDP socket it arrived on */
	struct tp_conn		*conn;		/* TCP/TLS connection, or NULL */
	int			 listener;	/* index into conf->listen */
};

struct worker {
	int			 id;
	pthread_t		 thread;
	struct event_base	*base;
	struct server		*srv;
	int			*fds;		/* its socket per conf->listen */
	void			*ctx;		/* the handlers' own, per worker */
	struct metrics		 metrics;

	/* UDP batch: receive buffers and the replies queued for sendmmsg. */
	char			*rx;		/* TRANSPORT_BATCH * UDP_MAX */
	char			*tx;		/* TRANSPORT_BATCH * UDP_MAX */
	struct mmsghdr		*txmsg;
	struct iovec		*txiov;
	struct sockaddr_storage	*txaddr;
	int			 txfd;		/* socket the queue goes out on */
	unsigned		 ntx;
	uint8_t			*hep;		/* CAPTURE_MAX, capture on */

	struct sipmsg		*msg;		/* what udp_read/tcp_frame scan */
	struct tp_conn		*conns;		/* TCP connections it owns */
	/* Bytes other workers send on connections this one owns: only the
	 * list is guarded (inbox_mu), ev_inbox wakes the owner, who writes. */
	pthread_mutex_t		 inbox_mu;
	struct tp_inbox_item	*inbox, **inbox_tail;
	struct tp_inbox_item	*spare;		/* items to reuse, inbox_mu */
	unsigned		 nspare;
	struct event		*ev_inbox;
	struct event		*ev_wake;	/* transport_wake() */
	struct event		*ev_accept;	/* ends an accept() rest */
	struct event		**events;	/* UDP read events */
	struct evconnlistener	**listeners;	/* TCP */
	size_t			 nevents, nlisteners;
};

struct server {
	/* What the sockets were made for, copied at start: a reload cannot
	 * change it (config_reload keeps it), and holding the start-up conf
	 * itself would keep its user table alive for ever. */
	struct conf_listen	*listen;
	size_t			 nlisten;
	size_t			 max_message_size;
	unsigned		 tcp_max_connections;	/* accepted ones */
	unsigned		 tcp_max_per_source;	/* 0: no limit */
	unsigned		 tcp_max_outgoing;	/* own pool */
	unsigned		 tcp_idle_timeout;
	size_t			 tcp_max_queue;		/* per conn */
	int			*fds;		/* nsock rows of nlisten */
	int			 nsock;		/* rows: UDP has one per worker */
	struct worker		*workers;
	int			 nworkers;
	atomic_uint		 tcp_in;	/* accepted and open */
	atomic_uint		 tcp_out;	/* connected by us and open */
	atomic_uint		 tls_open;	/* of those, TLS ones */
	struct tp_handlers	 h;
};

/* Bind every listener of conf: one TCP (or TLS) socket that every worker
 * accepts on, and per UDP listener one SO_REUSEPORT socket for each of nworkers.
 * Returns 0 or -1 with the reason in err. */
int	transport_bind(struct server *srv, struct conf *conf, int nworkers,
	    char *err, size_t errlen);

/*
 * SPEC §7: check that RLIMIT_NOFILE covers what conf's limits can open
 * with nworkers: tcp_max_connections + tcp_max_outgoing + the listening
 * sockets (UDP: one per worker) + 3 per worker (event loop) + 64 spare
 * (stdio, log, pid file, metrics, DNS, reload). When only the soft limit
 * is short it is raised (with raise; without, as for -t, it would be).
 * 0, or -1 with both numbers in err.
 */
int	transport_nofile(const struct conf *conf, int nworkers, bool raise,
	    char *err, size_t errlen);

/* Create nworkers event bases and their events, each worker handing what
 * it receives to h (copied). 0 or -1 (err). */
int	transport_workers(struct server *srv, int nworkers,
	    const struct tp_handlers *h, char *err, size_t errlen);

/* Run worker 1..n-1 in threads and worker 0 in the calling thread until
 * transport_stop(). Returns when every worker has stopped. */
void	transport_run(struct server *srv);
void	transport_stop(struct server *srv);

/* From any thread: have every worker pick up the configuration published
 * last, so an idle worker lets go of the old one (and its table) now. */
void	transport_wake(struct server *srv);
void	transport_free(struct server *srv);

/* Send a datagram from our listening socket fd (never an ephemeral port:
 * SPEC §4). Queued for sendmmsg until the batch ends. 0 or -1. */
int	transport_send_udp(struct worker *w, int fd, const struct sockaddr *dst,
	    socklen_t dstlen, const char *buf, size_t len);

/* Send the queued datagrams now (the UDP read loop does it per batch). */
void	transport_flush(struct worker *w);

/* Send over TCP to dst: on an open connection to dst, whichever worker
 * owns it (incoming or outgoing: connections are reused; another worker's
 * gets the bytes through its inbox and writes them itself), else on one
 * to alt, else on a new outgoing connection to alt owned by w. alt NULL:
 * dst (RFC 3261 §18.2.2: a response whose request's connection closed goes
 * to the Via's sent-by port, not to the caller's ephemeral one). 0 or -1
 * (then nothing was queued; errno ECONNREFUSED etc. when the connect
 * failed at once). */
int	transport_send_tcp(struct worker *w, const struct sockaddr *dst,
	    socklen_t dstlen, const struct sockaddr *alt, socklen_t altlen,
	    const char *buf, size_t len);

/*
 * Send over TLS to dst (SPEC §9): as transport_send_tcp(), on an open TLS
 * connection to dst or a new outgoing one whose server certificate is
 * checked (tls.verify_server) against ca_file and name (the next hop's
 * host as written: a DNS name or an IP literal, RFC 5922 §7.2). A
 * connection usher opened serves only the name it was checked for, except
 * for an answer (a response, a local reply), which goes on the connection
 * to dst whatever it was checked for: the request came by it. 0 or -1.
 */
int	transport_send_tls(struct worker *w, const struct sockaddr *dst,
	    socklen_t dstlen, const struct sockaddr *alt, socklen_t altlen,
	    const char *name, bool answer, const char *buf, size_t len);

/*
 * Send bytes as an answer to src: on its TCP or TLS connection (found by
 * address when src->conn is NULL or another worker's), else on a new one
 * to dst (src's address when dst is NULL) verifying name over TLS (NULL:
 * dst's address); or over UDP from the socket it arrived on to dst (src's
 * address when dst is NULL). UDP sends are queued and flushed with
 * sendmmsg at the end of the batch. 0, or -1 when it could not be sent
 * (counted by the caller).
 */
int	transport_send(struct worker *w, const struct tp_source *src,
	    const struct sockaddr *dst, socklen_t dstlen, const char *name,
	    const char *buf, size_t len);

#endif
