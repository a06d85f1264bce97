/* transport.c: UDP/TCP/TLS sockets, worker event loops, stream framing and
 * limits. */
#include <sys/types.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/errqueue.h>

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "capture.h"
#include "config.h"
#include "hash.h"
#include "log.h"
#include "metrics.h"
#include "netaddr.h"
#include "resolve.h"
#include "siphash.h"
#include "sipmsg.h"
#include "tls.h"
#include "transport.h"

#define UDP_ROUNDS	8		/* batches per wake-up, for fairness */
#define ACCEPT_PAUSE_MS	100		/* accept() failed: listeners rest */
#define FD_PER_WORKER	3		/* epoll, wake-up eventfd, signals */
/* stdio, log, pid file, metrics and its clients, the resolver thread,
 * reload files; and one DNS socket per name a load resolves at once. */
#define FD_RESERVE	(64 + RESOLVE_PARALLEL)
#define OUT_KEEP	(64 * 1024)	/* queue buffer kept once drained */
/* Bytes written to one connection per writable event, then the others get
 * their turn (redis networking.c: NET_MAX_WRITES_PER_EVENT). */
#define TCP_WRITE_MAX	(64 * 1024)
/* Inbox items (see inbox_post) of this size are kept for reuse, up to
 * INBOX_SPARE per worker: a handed-over SIP message allocates nothing. */
#define INBOX_ITEM_SIZE	4096
#define INBOX_SPARE	64

struct tp_src;

static uint8_t	src_hkey[SIPHASH_KEY_LEN];	/* per-source table, random */

struct tp_conn {
	struct worker		*w;
	struct tp_conn		*prev, *next;	/* the worker's connections */
	int			 fd;
	int			 listener;
	struct event		*ev_read;
	struct event		*ev_write;
	struct event		*ev_timer;
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
	struct sockaddr_storage	 local;		/* our end, for capture */
	char			 ip[64];
	uint16_t		 port;
	char			*in;
	size_t			 inlen;		/* a message cut by a read */
	/* Unsent: out[sentlen..outlen) (an offset, no memmove per write). */
	char			*out;
	size_t			 sentlen, outlen, outcap;
	bool			 closing;	/* close once out is written */
	bool			 connected;	/* outgoing: connect() done */
	bool			 outgoing;	/* ours: counts in tcp_out */
	bool			 registered;	/* in tcp_reg (owner's view) */
	struct tp_src		*src;		/* its source, or NULL */
	struct tp_conn		*hnext;		/* registry chain, reg_mu */

	/* TLS (SPEC §9): the same connection with an SSL on its socket. */
	SSL			*ssl;		/* NULL: plain TCP */
	bool			 handshaking;	/* handshake not done yet */
	bool			 tls_failed;	/* fatal: no close_notify */
	bool			 read_wants_write;	/* SSL_read said so */
	bool			 write_wants_read;	/* SSL_write said so */
	/* Outgoing TLS: the name its server certificate was checked
	 * against; another name at the same address gets a connection of
	 * its own (a certificate for one name proves nothing of another). */
	char			*vname;
};

/* Bytes for a connection another worker owns, waiting in its inbox. */
struct tp_inbox_item {
	struct tp_inbox_item	*next;
	struct sockaddr_storage	 dst, alt;	/* alt: a new connection */
	socklen_t		 dstlen, altlen;
	bool			 tls;
	bool			 answer;	/* transport_send_tls()'s */
	char			 name[RESOLVE_HOST_MAX];	/* TLS: to verify */
	size_t			 len, cap;	/* cap: room in buf */
	char			 buf[];
};

#define INBOX_ROOM	(INBOX_ITEM_SIZE - sizeof(struct tp_inbox_item))

/* ss as the text usher logs and hands up (no brackets) and its port. */
static void
addr_text(const struct sockaddr_storage *ss, char *ip, size_t iplen,
    uint16_t *port)
{
	if (netaddr_format(ss, 0, ip, iplen) == -1)
		ip[0] = '\0';
	*port = netaddr_port(ss);
}

static int
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl == -1 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/*
 * Spreading UDP over the workers. Every worker polling one shared socket
 * wakes them all for each datagram (epoll has no exclusive wake-up through
 * libevent), which doubled the CPU per request with two workers. Instead,
 * each worker has its own socket on the same address and port
 * (SO_REUSEPORT), and a classic BPF program picks the socket for each
 * datagram at random: plain SO_REUSEPORT hashes the 4-tuple, so one trunk
 * or SBC, one address and port, would land on one worker. The proxy keeps
 * no state that would need a message on a given worker; the price is that
 * two datagrams of one call arriving within microseconds may leave in
 * either order, as with Kamailio's UDP children (UDP never promised
 * order, and SIP copes). workers = 1 keeps it.
 */
static int
attach_spread(int fd, int nworkers)
{
	struct sock_filter code[] = {
		{ BPF_LD | BPF_W | BPF_ABS, 0, 0, SKF_AD_OFF + SKF_AD_RANDOM },
		{ BPF_ALU | BPF_MOD | BPF_K, 0, 0, (uint32_t)nworkers },
		{ BPF_RET | BPF_A, 0, 0, 0 },
	};
	struct sock_fprog prog = { sizeof(code) / sizeof(code[0]), code };

	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog,
	    sizeof(prog));
}

static int
listen_socket(const struct conf_listen *l, bool reuseport)
{
	int fd, on = 1, rcvbuf = 4 * 1024 * 1024;

	fd = socket(l->ss.ss_family, (l->transport != SIP_TP_UDP ?
	    SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK, 0);
	if (fd == -1)
		return -1;
	/* TCP only: for UDP, SO_REUSEADDR would let a second usher bind
	 * the same port and silently take half of the traffic. */
	if (l->transport != SIP_TP_UDP)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (reuseport)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on));
	/* :: and 0.0.0.0 on the same port are two listen entries. */
	if (l->ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	if (l->transport == SIP_TP_UDP) {
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
		/* SPEC §8: ICMP unreachable for what we sent comes back on
		 * the error queue (udp_errqueue), with the destination. */
		if (l->ss.ss_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &on,
			    sizeof(on));
		else
			setsockopt(fd, IPPROTO_IP, IP_RECVERR, &on,
			    sizeof(on));
	}
	if (bind(fd, (const struct sockaddr *)&l->ss, l->sslen) == -1 ||
	    (l->transport != SIP_TP_UDP && listen(fd, 1024) == -1)) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int
transport_bind(struct server *srv, struct conf *conf, int nworkers,
    char *err, size_t errlen)
{
	const struct conf_listen *l;
	size_t i, nl = conf->nlisten;
	int k, fd;
	bool spread;

	memset(srv, 0, sizeof(*srv));
	srv->nsock = nworkers > 0 ? nworkers : 1;
	srv->max_message_size = conf->max_message_size;
	srv->tcp_max_connections = conf->tcp_max_connections;
	srv->tcp_max_per_source = conf->tcp_max_per_source;
	srv->tcp_max_outgoing = conf->tcp_max_outgoing;
	srv->tcp_idle_timeout = conf->tcp_idle_timeout;
	srv->tcp_max_queue = conf->tcp_max_queue;
	/* A guessable bucket key would let sources be picked to collide. */
	if (getrandom(src_hkey, sizeof(src_hkey), 0) != sizeof(src_hkey))
		log_warnx("getrandom: %s; per-source TCP table unkeyed",
		    strerror(errno));
	if ((srv->listen = calloc(nl, sizeof(*srv->listen))) == NULL ||
	    (srv->fds = calloc(nl * (size_t)srv->nsock, sizeof(int))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(srv->listen, conf->listen, nl * sizeof(*srv->listen));
	srv->nlisten = nl;
	for (i = 0; i < nl * (size_t)srv->nsock; i++)
		srv->fds[i] = -1;
	for (i = 0; i < nl; i++) {
		l = &conf->listen[i];
		if (l->transport == SIP_TP_TLS && !tls_has_server()) {
			/* tls_init() comes first: without our certificate a
			 * TLS listener could only refuse every client. */
			snprintf(err, errlen, "listen tls %s port %u: no TLS "
			    "certificate loaded", l->address, l->port);
			return -1;
		}
		spread = l->transport == SIP_TP_UDP && srv->nsock > 1;
		/* First without SO_REUSEPORT, so that a port another program
		 * (or another usher) holds is refused, not shared. */
		if ((fd = listen_socket(l, false)) == -1)
			goto bad;
		if (!spread) {
			/* TCP, TLS: one listening socket, all workers
			 * accept. */
			for (k = 0; k < srv->nsock; k++)
				srv->fds[(size_t)k * nl + i] = fd;
			continue;
		}
		close(fd);
		for (k = 0; k < srv->nsock; k++) {
			if ((fd = listen_socket(l, true)) == -1)
				goto bad;
			srv->fds[(size_t)k * nl + i] = fd;
		}
		if (attach_spread(srv->fds[i], srv->nsock) == -1)
			log_warnx("udp %s port %u: cannot spread datagrams over "
			    "the workers (%s); the kernel's per-source hash "
			    "decides", l->address, l->port, strerror(errno));
	}
	return 0;
bad:
	snprintf(err, errlen, "%s %s port %u: %s",
	    config_transport_name(conf->listen[i].transport),
	    conf->listen[i].address, conf->listen[i].port, strerror(errno));
	return -1;
}

/* The socket of listener i in worker k. */
static int
sock_of(const struct server *srv, int k, size_t i)
{
	return srv->fds[(size_t)k * srv->nlisten + i];
}

static bool
is_crlf_only(const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != '\r' && p[i] != '\n')
			return false;
	return true;
}

/* ---- capture (HEP mirror) ---- */

/*
 * Each caller tests capture_on first, so with capture off a message costs
 * one predictable branch. Our end of a UDP message is the listener's
 * address as configured (for a wildcard listener 0.0.0.0 or ::, with the
 * real port: recvmmsg is not asked for IP_PKTINFO per datagram); of a TCP
 * message, the connection's own address (getsockname at set-up).
 */
static void
capture_udp(struct worker *w, int fd, const struct sockaddr_storage *peer,
    bool sent, struct slice callid, const char *buf, size_t len)
{
	const struct sockaddr_storage *local = NULL;
	size_t k;

	for (k = 0; k < w->srv->nlisten; k++)
		if (w->fds[k] == fd)
			local = &w->srv->listen[k].ss;
	if (local == NULL || capture_send(IPPROTO_UDP, sent ? local : peer,
	    sent ? peer : local, callid, buf, len, w->hep, CAPTURE_MAX) == -1)
		metrics_inc(&w->metrics.capture_errors);
}

static void
capture_tcp(struct tp_conn *c, bool sent, struct slice callid,
    const char *buf, size_t len)
{
	if (capture_send(IPPROTO_TCP, sent ? &c->local : &c->addr,
	    sent ? &c->addr : &c->local, callid, buf, len, c->w->hep,
	    CAPTURE_MAX) == -1)
		metrics_inc(&c->w->metrics.capture_errors);
}

/* ---- sending ---- */

/* What an ICMP error (IP_RECVERR) or a TCP peer that is not there makes a
 * socket call report. */
static bool
is_icmp_errno(int e)
{
	return e == ECONNREFUSED || e == EHOSTUNREACH || e == ENETUNREACH ||
	    e == EHOSTDOWN || e == ECONNRESET || e == ETIMEDOUT;
}

void
transport_flush(struct worker *w)
{
	unsigned done = 0, retried = UINT_MAX;
	int n;

	while (done < w->ntx) {
		n = sendmmsg(w->txfd, w->txmsg + done, w->ntx - done, 0);
		if (n <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			/* IP_RECVERR: an ICMP error for an earlier datagram
			 * is reported once by the next call on the socket,
			 * this one, which sent nothing: send it again, once
			 * (a second error is its own: no route). */
			if (n == -1 && is_icmp_errno(errno) &&
			    retried != done) {
				retried = done;
				continue;
			}
			/* A datagram that cannot go (no route, buffer full)
			 * is lost as it would be on the wire; skip it. */
			log_debug("sendmmsg: %s", strerror(errno));
			done++;
			continue;
		}
		done += (unsigned)n;
	}
	w->ntx = 0;
}

static int	tcp_queue(struct tp_conn *c, const char *buf, size_t len);

int
transport_send_udp(struct worker *w, int fd, const struct sockaddr *dst,
    socklen_t dstlen, const char *buf, size_t len)
{
	unsigned i;

	if (len > TRANSPORT_UDP_MAX || fd == -1)
		return -1;
	if (capture_on) {
		struct sockaddr_storage to;

		memcpy(&to, dst, dstlen);
		capture_udp(w, fd, &to, true, SLICE_NULL, buf, len);
	}
	if (w->ntx > 0 && (w->txfd != fd || w->ntx == TRANSPORT_BATCH))
		transport_flush(w);
	i = w->ntx++;
	w->txfd = fd;
	memcpy(w->tx + (size_t)i * TRANSPORT_UDP_MAX, buf, len);
	memcpy(&w->txaddr[i], dst, dstlen);
	w->txiov[i].iov_base = w->tx + (size_t)i * TRANSPORT_UDP_MAX;
	w->txiov[i].iov_len = len;
	memset(&w->txmsg[i], 0, sizeof(w->txmsg[i]));
	w->txmsg[i].msg_hdr.msg_name = &w->txaddr[i];
	w->txmsg[i].msg_hdr.msg_namelen = dstlen;
	w->txmsg[i].msg_hdr.msg_iov = &w->txiov[i];
	w->txmsg[i].msg_hdr.msg_iovlen = 1;
	return 0;
}

int
transport_send(struct worker *w, const struct tp_source *src,
    const struct sockaddr *dst, socklen_t dstlen, const char *name,
    const char *buf, size_t len)
{
	/* The connection the message came in on, while its own worker is
	 * handling it; otherwise found again by address. */
	if (src->conn != NULL && src->conn->w == w)
		return tcp_queue(src->conn, buf, len);
	if (src->tp == SIP_TP_TCP)	/* answered later: find it again */
		return transport_send_tcp(w, (const struct sockaddr *)
		    &src->addr, src->addrlen, dst, dstlen, buf, len);
	if (src->tp == SIP_TP_TLS)
		return transport_send_tls(w, (const struct sockaddr *)
		    &src->addr, src->addrlen, dst, dstlen, name, true, buf,
		    len);
	if (dst == NULL) {
		dst = (const struct sockaddr *)&src->addr;
		dstlen = src->addrlen;
	}
	return transport_send_udp(w, src->fd, dst, dstlen, buf, len);
}

/* ---- UDP ---- */

#define ERRQUEUE_MAX	64	/* errors read per wake-up */

/*
 * The socket's error queue (IP_RECVERR): each ICMP unreachable for a
 * datagram we sent, with that datagram's destination, goes up to
 * on_unreachable. Read until empty or ERRQUEUE_MAX: the queue makes the
 * socket poll as ready, so it must be emptied (a full one is read on at the
 * next wake-up, never spun on).
 */
static void
udp_errqueue(struct worker *w, int fd)
{
	struct sockaddr_storage dst;
	struct sock_extended_err *ee;
	struct cmsghdr *cm;
	struct msghdr mh;
	struct iovec iov;
	char ctl[512], data[64];
	int i, err;

	for (i = 0; i < ERRQUEUE_MAX; i++) {
		memset(&mh, 0, sizeof(mh));
		memset(&dst, 0, sizeof(dst));
		iov.iov_base = data;
		iov.iov_len = sizeof(data);
		mh.msg_name = &dst;
		mh.msg_namelen = sizeof(dst);
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = ctl;
		mh.msg_controllen = sizeof(ctl);
		if (recvmsg(fd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		err = 0;
		for (cm = CMSG_FIRSTHDR(&mh); cm != NULL;
		    cm = CMSG_NXTHDR(&mh, cm)) {
			if (!((cm->cmsg_level == IPPROTO_IP &&
			    cm->cmsg_type == IP_RECVERR) ||
			    (cm->cmsg_level == IPPROTO_IPV6 &&
			    cm->cmsg_type == IPV6_RECVERR)))
				continue;
			ee = (struct sock_extended_err *)CMSG_DATA(cm);
			if (ee->ee_origin == SO_EE_ORIGIN_ICMP ||
			    ee->ee_origin == SO_EE_ORIGIN_ICMP6)
				err = (int)ee->ee_errno;
		}
		if (err == 0 || !is_icmp_errno(err) || mh.msg_namelen == 0)
			continue;	/* too big for the path, ...: not ours */
		metrics_inc(&w->metrics.unreachable);
		if (w->srv->h.on_unreachable != NULL)
			w->srv->h.on_unreachable(w, (struct sockaddr *)&dst,
			    mh.msg_namelen, err, SIP_TP_UDP);
	}
}

static void
udp_read(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct mmsghdr msgs[TRANSPORT_BATCH];
	struct iovec iov[TRANSPORT_BATCH];
	struct sockaddr_storage from[TRANSPORT_BATCH];
	struct tp_source src;
	struct sipmsg *m = w->msg;	/* 18 KB: not on the stack */
	ssize_t rc;
	int n, i, round, li = -1;
	size_t k;

	(void)what;
	for (k = 0; k < w->srv->nlisten; k++)
		if (w->fds[k] == fd)
			li = (int)k;
	for (round = 0; round < UDP_ROUNDS; round++) {
		for (i = 0; i < TRANSPORT_BATCH; i++) {
			iov[i].iov_base = w->rx + (size_t)i * TRANSPORT_UDP_MAX;
			iov[i].iov_len = TRANSPORT_UDP_MAX;
			memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
			msgs[i].msg_hdr.msg_name = &from[i];
			msgs[i].msg_hdr.msg_namelen = sizeof(from[i]);
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
		}
		n = recvmmsg(fd, msgs, TRANSPORT_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0) {
			int e = errno;

			/* Woken with nothing to read (the error queue makes
			 * the socket ready), or the pending ICMP error
			 * reported here instead of a datagram: the ones
			 * behind it are read on. */
			if (n == -1 && e != EINTR)
				udp_errqueue(w, fd);
			if (n == -1 && is_icmp_errno(e))
				continue;
			break;
		}
		for (i = 0; i < n; i++) {
			const char *buf = iov[i].iov_base;
			size_t len = msgs[i].msg_len;

			/* RFC 5626 §3.5.1 keep-alives over UDP are STUN; a
			 * bare CRLF is just ignored. */
			if (len == 0 || is_crlf_only(buf, len))
				continue;
			memset(&src, 0, sizeof(src));
			src.tp = SIP_TP_UDP;
			memcpy(&src.addr, &from[i], msgs[i].msg_hdr.msg_namelen);
			src.addrlen = msgs[i].msg_hdr.msg_namelen;
			addr_text(&src.addr, src.ip, sizeof(src.ip), &src.port);
			src.fd = fd;
			src.listener = li;
			if (len > w->srv->max_message_size) {
				metrics_inc(&w->metrics.dropped[DROP_TOO_LARGE]);
				rc = sipmsg_scan(buf, len, SIPMSG_DGRAM, m);
				if (capture_on)
					capture_udp(w, fd, &src.addr, false,
					    SLICE_NULL, buf, len);
				w->srv->h.on_too_large(w, &src, m);
				continue;
			}
			rc = sipmsg_scan(buf, len, SIPMSG_DGRAM, m);
			if (capture_on)
				capture_udp(w, fd, &src.addr, false, rc >= 0 ?
				    m->callid.value : SLICE_NULL, buf, len);
			w->srv->h.on_message(w, &src, m, rc);
		}
		if (w->ntx > 0)
			transport_flush(w);
		if (n < TRANSPORT_BATCH)
			break;
	}
}

/* ---- TCP ---- */

/*
 * Every connection, incoming or outgoing, of every worker is in one
 * registry keyed by the peer's address, so that a response relayed by any
 * worker goes back on the connection its request came in on, and outgoing
 * connections are reused.
 *
 * A connection belongs to one worker (c->w), which alone reads, writes,
 * queues, times out and frees it. reg_mu guards only the registry's chain
 * pointers: it is held for a lookup or a link/unlink, never across a
 * system call or an allocation. A worker that must send on a connection
 * another owns hands the bytes to that owner's inbox (a list under the
 * owner's inbox_mu, then event_active on its ev_inbox) and the owner
 * writes them; it never touches the connection itself. A connection is
 * unregistered as soon as it starts closing, so what a lookup finds is
 * open; a lookup keeps no pointer past the lock but its owner's.
 */
#define TCP_BUCKETS	4096

static pthread_mutex_t	 reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct tp_conn	*tcp_reg[TCP_BUCKETS];

static unsigned
addr_bucket(const struct sockaddr_storage *ss)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
	uint64_t h = HASH_SEED;

	if (ss->ss_family == AF_INET6) {
		h = hash_bytes(h, &sin6->sin6_addr, sizeof(sin6->sin6_addr));
		h = hash_bytes(h, &sin6->sin6_port, sizeof(sin6->sin6_port));
	} else {
		h = hash_bytes(h, &sin->sin_addr, sizeof(sin->sin_addr));
		h = hash_bytes(h, &sin->sin_port, sizeof(sin->sin_port));
	}
	return (unsigned)(hash_final(h) % TCP_BUCKETS);
}

/* With reg_mu held: the TLS (tls) or TCP connection to sa; an outgoing TLS
 * one only when it was checked against name (when name is given). */
static struct tp_conn *
tcp_find(const struct sockaddr *sa, bool tls, const char *name)
{
	struct tp_conn *c;

	c = tcp_reg[addr_bucket((const struct sockaddr_storage *)sa)];
	for (; c != NULL; c = c->hnext)
		if ((c->ssl != NULL) == tls && netaddr_eq_port(&c->addr,
		    (const struct sockaddr_storage *)(const void *)sa) &&
		    (c->vname == NULL || name == NULL || name[0] == '\0' ||
		    strcasecmp(c->vname, name) == 0))
			return c;
	return NULL;
}

/* By its owner: c into the registry, or out of it (closing). */
static void
tcp_register(struct tp_conn *c)
{
	unsigned b = addr_bucket(&c->addr);

	pthread_mutex_lock(&reg_mu);
	c->hnext = tcp_reg[b];
	tcp_reg[b] = c;
	pthread_mutex_unlock(&reg_mu);
	c->registered = true;
}

static void
tcp_unregister(struct tp_conn *c)
{
	struct tp_conn **pp;
	unsigned b;

	if (!c->registered)
		return;
	b = addr_bucket(&c->addr);
	pthread_mutex_lock(&reg_mu);
	for (pp = &tcp_reg[b]; *pp != NULL; pp = &(*pp)->hnext)
		if (*pp == c) {
			*pp = c->hnext;
			break;
		}
	pthread_mutex_unlock(&reg_mu);
	c->registered = false;
}

/*
 * Connections per source (SPEC §7: an IPv4 address, an IPv6 /64), for
 * tcp_max_connections_per_source. One entry per source that holds an
 * accepted connection, so at most tcp_max_connections of them. The bucket
 * is a keyed hash with a per-process random key: sources are chosen by
 * the attacker, and with IPv6 he has 2^16 /64s or more to pick colliding
 * ones from. src_mu guards only this table and is never held across a
 * system call.
 */
#define SRC_BUCKETS	4096

struct tp_src {
	struct tp_src		*next;
	uint8_t			 key[9];	/* family, 4 or 8 bytes */
	unsigned		 n;		/* connections it holds */
};

static pthread_mutex_t	 src_mu = PTHREAD_MUTEX_INITIALIZER;
static struct tp_src	*src_tab[SRC_BUCKETS];

static void
src_key(const struct sockaddr *sa, uint8_t key[9])
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

	memset(key, 0, 9);
	if (sa->sa_family == AF_INET6 &&
	    !IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
		key[0] = 6;
		memcpy(key + 1, &sin6->sin6_addr, 8);	/* the /64 */
	} else if (sa->sa_family == AF_INET6) {
		key[0] = 4;
		memcpy(key + 1, sin6->sin6_addr.s6_addr + 12, 4);
	} else {
		key[0] = 4;
		memcpy(key + 1, &sin->sin_addr, 4);
	}
}

/*
 * Count one more connection from sa; NULL (and nothing counted) when its
 * source already holds max, or out of memory. The entry goes to src_put().
 */
static struct tp_src *
src_take(const struct sockaddr *sa, unsigned max)
{
	struct tp_src *e, *fresh;
	uint8_t key[9];
	unsigned b;

	src_key(sa, key);
	b = (unsigned)(siphash24(src_hkey, key, sizeof(key)) % SRC_BUCKETS);
	/* Allocated outside the lock (usually given back unused). */
	if ((fresh = calloc(1, sizeof(*fresh))) == NULL)
		return NULL;
	pthread_mutex_lock(&src_mu);
	for (e = src_tab[b]; e != NULL; e = e->next)
		if (memcmp(e->key, key, sizeof(key)) == 0)
			break;
	if (e == NULL) {
		e = fresh;
		fresh = NULL;
		memcpy(e->key, key, sizeof(key));
		e->next = src_tab[b];
		src_tab[b] = e;
	}
	if (e->n >= max)
		e = NULL;
	else
		e->n++;
	pthread_mutex_unlock(&src_mu);
	free(fresh);
	return e;
}

static void
src_put(struct tp_src *e)
{
	struct tp_src **pp;
	unsigned b;

	if (e == NULL)
		return;
	b = (unsigned)(siphash24(src_hkey, e->key, sizeof(e->key)) %
	    SRC_BUCKETS);
	pthread_mutex_lock(&src_mu);
	if (--e->n > 0)
		e = NULL;
	else
		for (pp = &src_tab[b]; *pp != NULL; pp = &(*pp)->next)
			if (*pp == e) {
				*pp = e->next;
				break;
			}
	pthread_mutex_unlock(&src_mu);
	free(e);
}

/* A connection's slot in its pool, and its source's count, given back. */
static void
tcp_release(struct server *srv, bool outgoing, struct tp_src *src)
{
	atomic_fetch_sub(outgoing ? &srv->tcp_out : &srv->tcp_in, 1);
	src_put(src);
}

/*
 * Unsent bytes of every connection together, and those waiting in the
 * workers' inboxes: SPEC §7 caps them at CONFIG_TCP_QUEUE_TOTAL.
 */
static atomic_size_t	tcp_queued;

static size_t
tcp_pending(const struct tp_conn *c)
{
	return c->outlen - c->sentlen;
}

/* c's queue emptied (by its owner). */
static void
tcp_queue_clear(struct tp_conn *c)
{
	atomic_fetch_sub(&tcp_queued, tcp_pending(c));
	c->sentlen = c->outlen = 0;
}

static void
tcp_free(struct tp_conn *c)
{
	tcp_unregister(c);
	tcp_queue_clear(c);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		c->w->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	event_free(c->ev_read);
	event_free(c->ev_write);
	event_free(c->ev_timer);
	if (c->ssl != NULL) {
		/* A close_notify when the session is sound: one try, never
		 * waited for. */
		if (!c->handshaking && !c->tls_failed)
			SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		ERR_clear_error();
		atomic_fetch_sub(&c->w->srv->tls_open, 1);
	}
	close(c->fd);
	tcp_release(c->w->srv, c->outgoing, c->src);
	free(c->in);
	free(c->out);
	free(c->vname);
	free(c);
}

/* Closing from now on: no new bytes, out of the registry. */
static void
tcp_closing(struct tp_conn *c)
{
	c->closing = true;
	tcp_unregister(c);
}

/*
 * Up to len bytes of p onto c's socket, plain or through its SSL: the
 * bytes taken, 0 when it would block, -1 when the connection is broken.
 * TLS: a write that would block must be retried with the same bytes at
 * the same place in the queue, at least as many (SSL_write's rule; the
 * queue's buffer may move: SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER).
 */
static ssize_t
conn_send(struct tp_conn *c, const char *p, size_t len)
{
	ssize_t n;
	int rc;

	if (c->ssl == NULL) {
		do
			n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		while (n == -1 && errno == EINTR);
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		return n;
	}
	tls_clear_errors();
	if ((rc = SSL_write(c->ssl, p, (int)len)) > 0)
		return rc;
	switch (SSL_get_error(c->ssl, rc)) {
	case SSL_ERROR_WANT_WRITE:
		return 0;
	case SSL_ERROR_WANT_READ:
		/* Only the read event can move it on now. */
		c->write_wants_read = true;
		return 0;
	default:
		c->tls_failed = true;
		ERR_clear_error();
		return -1;
	}
}

/*
 * Queue bytes on c, by its owner (c->w's thread). On failure the
 * connection is marked closing and freed from its write event. SPEC §7: a
 * peer that does not read cannot make us hold more than tcp_max_queue for
 * it, nor all peers together more than CONFIG_TCP_QUEUE_TOTAL: the
 * connection that would go over is closed and counted (tcp_limit).
 */
static int
tcp_queue(struct tp_conn *c, const char *buf, size_t len)
{
	size_t pending = tcp_pending(c);
	ssize_t n = 0;
	char *p;

	if (c->closing)
		return -1;
	if (capture_on && !is_crlf_only(buf, len))
		capture_tcp(c, true, SLICE_NULL, buf, len);
	if (pending == 0 && c->connected && !c->handshaking) {
		n = conn_send(c, buf, len < TCP_WRITE_MAX ? len :
		    TCP_WRITE_MAX);
		if (n == -1)
			goto fail;
		if ((size_t)n == len)
			return 0;
	}
	buf += n;
	len -= (size_t)n;
	if (pending + len > c->w->srv->tcp_max_queue ||
	    atomic_load_explicit(&tcp_queued, memory_order_relaxed) + len >
	    CONFIG_TCP_QUEUE_TOTAL) {
		log_debug("%s %s:%u: %zu bytes unsent, over the queue limit, "
		    "closing", c->ssl ? "tls" : "tcp", c->ip, c->port,
		    pending + len);
		metrics_inc(&c->w->metrics.dropped[DROP_TCP_LIMIT]);
		goto fail;
	}
	if (c->outlen + len > c->outcap && c->sentlen > 0) {
		/* Only when out of room: the unsent part to the front. */
		memmove(c->out, c->out + c->sentlen, pending);
		c->sentlen = 0;
		c->outlen = pending;
	}
	if (c->outlen + len > c->outcap) {
		size_t cap = c->outcap ? c->outcap * 2 : 4096;

		while (cap < c->outlen + len)
			cap *= 2;
		if ((p = realloc(c->out, cap)) == NULL)
			goto fail;
		c->out = p;
		c->outcap = cap;
	}
	memcpy(c->out + c->outlen, buf, len);
	c->outlen += len;
	atomic_fetch_add(&tcp_queued, len);
	/* A connect in progress is seen by the write event; a handshake
	 * asks for it itself, and so does a TLS write waiting on a read. */
	if (pending == 0 && (!c->connected || !c->handshaking) &&
	    !c->write_wants_read)
		event_add(c->ev_write, NULL);
	return 0;
fail:
	tcp_closing(c);
	tcp_queue_clear(c);
	event_active(c->ev_write, EV_WRITE, 0);
	return -1;
}

/* Close now, or once what is queued has been written. */
static void
tcp_close(struct tp_conn *c)
{
	tcp_closing(c);
	/* TLS that failed, or whose write waits for a read that stops
	 * here: nothing more can go out, and waiting for it would hold the
	 * connection until its idle timer. */
	if (c->ssl != NULL && (c->tls_failed || c->write_wants_read))
		tcp_queue_clear(c);
	if (tcp_pending(c) == 0)
		tcp_free(c);
	else
		event_del(c->ev_read);
}

static void
tcp_arm_timer(struct tp_conn *c)
{
	/* A handshake has its own, shorter, limit (SPEC §9). */
	struct timeval tv = { c->handshaking ? tls_handshake_timeout() :
	    c->w->srv->tcp_idle_timeout, 0 };

	event_add(c->ev_timer, &tv);
}

/*
 * An outgoing connection that never came up: the requests queued on it are
 * taken off and answered 503 by tcp_undeliverable(), so the caller learns
 * at once instead of retrying into silence. Nothing of them was sent: the
 * queue starts at a message.
 */
static char *
tcp_take_queue(struct tp_conn *c, size_t *len)
{
	char *q = c->out;

	*len = tcp_pending(c);
	if (c->sentlen > 0)
		memmove(q, q + c->sentlen, *len);
	atomic_fetch_sub(&tcp_queued, *len);
	c->out = NULL;
	c->sentlen = c->outlen = c->outcap = 0;
	tcp_closing(c);
	return q;
}

static void
tcp_undeliverable(struct worker *w, char *q, size_t len, const char *cause)
{
	char why[128];

	if (q != NULL && len > 0) {
		snprintf(why, sizeof(why), "Cannot Connect To Next Hop (%s)",
		    cause);
		w->srv->h.on_undeliverable(w, q, len, why);
	}
	free(q);
}

/* An outgoing connection's peer is not there (refused, reset, timed out):
 * said once per connection, with the address copied before it goes. */
static void
tcp_unreachable(struct worker *w, const struct sockaddr_storage *addr,
    socklen_t addrlen, int err, enum sip_transport tp)
{
	metrics_inc(&w->metrics.unreachable);
	if (w->srv->h.on_unreachable != NULL)
		w->srv->h.on_unreachable(w, (const struct sockaddr *)addr,
		    addrlen, err, tp);
}

/*
 * A failed handshake: counted, logged at debug, and at info at most once
 * a second for all workers together (a scanner speaking plaintext to the
 * TLS port must not fill the log).
 */
static void
tls_failed(struct tp_conn *c, const char *why)
{
	static atomic_long last_log;
	static atomic_ulong quiet;
	long now = (long)time(NULL), then = atomic_load(&last_log);

	metrics_inc(&c->w->metrics.tls_handshakes[TLS_HS_FAILED]);
	if (log_debug_enabled())
		log_debug("tls %s:%u: handshake failed: %s", c->ip, c->port,
		    why);
	else if (now != then && atomic_compare_exchange_strong(&last_log,
	    &then, now))
		log_info("tls %s:%u: handshake failed: %s (%lu more since the "
		    "last line)", c->ip, c->port, why,
		    atomic_exchange(&quiet, 0));
	else
		atomic_fetch_add(&quiet, 1);
}

/*
 * One step of c's handshake. 0: c lives (done, or waiting for the peer);
 * -1: it failed and c was freed, an outgoing one's queued requests
 * answered (503) as after a failed connect.
 */
static int
tls_handshake(struct tp_conn *c)
{
	struct worker *w = c->w;
	char why[256], cause[300], *q = NULL;
	size_t qlen = 0;
	long vr;
	int rc, e, en;

	ERR_clear_error();
	errno = 0;
	rc = SSL_do_handshake(c->ssl);
	if (rc == 1) {
		c->handshaking = false;
		metrics_inc(&w->metrics.tls_handshakes[SSL_session_reused(
		    c->ssl) ? TLS_HS_RESUMED : TLS_HS_OK]);
		log_debug("tls %s:%u: %s %s%s", c->ip, c->port,
		    SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl),
		    SSL_session_reused(c->ssl) ? ", resumed" : "");
		tcp_arm_timer(c);	/* idle from now on */
		if (tcp_pending(c) > 0)
			event_add(c->ev_write, NULL);
		return 0;
	}
	en = errno;
	e = SSL_get_error(c->ssl, rc);
	if (e == SSL_ERROR_WANT_READ)
		return 0;		/* ev_read is always on */
	if (e == SSL_ERROR_WANT_WRITE) {
		event_add(c->ev_write, NULL);
		return 0;
	}
	if ((vr = SSL_get_verify_result(c->ssl)) != X509_V_OK)
		snprintf(why, sizeof(why), "certificate: %s",
		    X509_verify_cert_error_string(vr));
	else if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
		snprintf(why, sizeof(why), "%s", en != 0 ? strerror(en) :
		    "connection closed");
	else
		tls_error(why, sizeof(why));
	ERR_clear_error();
	c->tls_failed = true;
	tls_failed(c, why);
	cause[0] = '\0';
	if (c->outgoing) {
		q = tcp_take_queue(c, &qlen);
		snprintf(cause, sizeof(cause), "TLS: %s", why);
	}
	tcp_free(c);
	tcp_undeliverable(w, q, qlen, cause);
	return -1;
}

static void
tcp_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct tp_conn *c = arg;
	struct worker *w = c->w;
	struct sockaddr_storage addr = c->addr;
	socklen_t addrlen = c->addrlen;
	enum sip_transport tp = c->ssl != NULL ? SIP_TP_TLS : SIP_TP_TCP;
	bool never = !c->connected;
	const char *cause = "Connect Timed Out";
	char *q = NULL;
	size_t qlen = 0;

	(void)fd;
	(void)what;
	if (c->ssl != NULL && c->handshaking && c->connected) {
		tls_failed(c, "handshake timed out");
		cause = "TLS Handshake Timed Out";
	} else
		log_debug("%s %s:%u: idle or incomplete for %us, closing",
		    c->ssl ? "tls" : "tcp", c->ip, c->port,
		    w->srv->tcp_idle_timeout);
	if (c->outgoing && (!c->connected || c->handshaking))
		q = tcp_take_queue(c, &qlen);
	tcp_free(c);
	if (never)
		tcp_unreachable(w, &addr, addrlen, ETIMEDOUT, tp);
	tcp_undeliverable(w, q, qlen, cause);
}

/* What is queued on c, up to TCP_WRITE_MAX bytes. 0, or -1 when c was
 * freed (closing, and all written or broken). */
static int
conn_flush(struct tp_conn *c)
{
	size_t sent = 0, pending;
	ssize_t n;

	c->write_wants_read = false;
	while ((pending = tcp_pending(c)) > 0 && sent < TCP_WRITE_MAX) {
		n = conn_send(c, c->out + c->sentlen, pending <
		    TCP_WRITE_MAX - sent ? pending : TCP_WRITE_MAX - sent);
		if (n == -1) {
			/* A peer we opened a connection to that resets it
			 * or is unreachable (SPEC §8): said while c lives. */
			if (c->outgoing && c->ssl == NULL &&
			    is_icmp_errno(errno))
				tcp_unreachable(c->w, &c->addr, c->addrlen,
				    errno, SIP_TP_TCP);
			tcp_closing(c);
			tcp_queue_clear(c);
			break;
		}
		if (n == 0)
			break;
		c->sentlen += (size_t)n;
		sent += (size_t)n;
		atomic_fetch_sub(&tcp_queued, (size_t)n);
	}
	if (tcp_pending(c) == 0) {
		c->sentlen = c->outlen = 0;
		/* A peer that once fell behind does not keep up to
		 * tcp_max_queue of our memory for the rest of its life. */
		if (c->outcap > OUT_KEEP) {
			free(c->out);
			c->out = NULL;
			c->outcap = 0;
		}
	}
	if (tcp_pending(c) > 0) {
		if (!c->write_wants_read)	/* full, or its share used */
			event_add(c->ev_write, NULL);
	} else if (c->closing) {
		tcp_free(c);
		return -1;
	}
	return 0;
}

static int	tls_read(struct tp_conn *c);

static void
tcp_writable(evutil_socket_t fd, short what, void *arg)
{
	struct tp_conn *c = arg;
	struct worker *w = c->w;
	char *q = NULL;
	size_t qlen = 0;
	int soerr = 0;
	socklen_t sl = sizeof(soerr);

	(void)what;
	if (!c->connected) {
		/* An outgoing connect finished, one way or the other. */
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == -1)
			soerr = errno;
		if (soerr != 0) {
			log_debug("%s connect %s:%u: %s", c->ssl ? "tls" :
			    "tcp", c->ip, c->port, strerror(soerr));
			tcp_unreachable(w, &c->addr, c->addrlen, soerr,
			    c->ssl != NULL ? SIP_TP_TLS : SIP_TP_TCP);
			q = tcp_take_queue(c, &qlen);
		} else
			c->connected = true;
	}
	if (c->ssl != NULL && !c->closing) {
		if (c->handshaking && (tls_handshake(c) == -1 ||
		    c->handshaking))
			return;
		if (c->read_wants_write) {
			c->read_wants_write = false;
			if (tls_read(c) == -1 || c->closing)
				return;
		}
	}
	conn_flush(c);
	if (q != NULL || qlen > 0)
		tcp_undeliverable(w, q, qlen, strerror(soerr));
}

static void
tcp_source(struct tp_conn *c, struct tp_source *src)
{
	memset(src, 0, sizeof(*src));
	src->tp = c->ssl != NULL ? SIP_TP_TLS : SIP_TP_TCP;
	src->addr = c->addr;
	src->addrlen = c->addrlen;
	memcpy(src->ip, c->ip, sizeof(src->ip));
	src->port = c->port;
	src->fd = -1;
	src->conn = c;
	src->listener = c->listener;
}

/* The bytes of the message scanned at p (rc as sipmsg_scan returned it):
 * a bad one with sound framing is its Content-Length long, one past a
 * framing fault is the rest of what was read. */
static size_t
tcp_msg_len(const char *p, size_t len, const struct sipmsg *m, ssize_t rc)
{
	size_t n;

	if (rc >= 0)
		return (size_t)rc;
	if (m->hdr_complete && m->content_length >= 0) {
		n = (size_t)(m->buf - p) + m->body_off +
		    (size_t)m->content_length;
		if (n <= len)
			return n;
	}
	return len;
}

/*
 * Frame and hand on every whole message in buf. Returns the bytes used
 * (the rest is an incomplete message), or -1 when the connection must
 * close (framing lost or too large).
 */
static ssize_t
tcp_frame(struct tp_conn *c, const char *buf, size_t buflen)
{
	struct worker *w = c->w;
	struct tp_source src;
	struct sipmsg *m = w->msg;
	size_t off = 0, max = w->srv->max_message_size;
	ssize_t rc;

	while (off < buflen) {
		const char *p = buf + off;
		size_t len = buflen - off;

		/* RFC 5626 §4.4.1: a CRLFCRLF ping gets a CRLF pong. */
		if (len >= 4 && memcmp(p, "\r\n\r\n", 4) == 0) {
			/* Activity: an RFC 5626 client keeps its flow
			 * open with these alone (SPEC §7). */
			tcp_queue(c, "\r\n", 2);
			tcp_arm_timer(c);
			off += 4;
			continue;
		}
		if (p[0] == '\r' || p[0] == '\n') {
			if (len < 4 && is_crlf_only(p, len))
				break;		/* maybe a ping in pieces */
			off++;
			continue;
		}
		tcp_source(c, &src);
		rc = sipmsg_scan(p, len, SIPMSG_STREAM, m);
		if (rc == -2) {
			if (m->hdr_complete && m->content_length >= 0 &&
			    m->body_off + (size_t)m->content_length > max) {
				/* SPEC §4: answer 513, then close. */
				metrics_inc(&w->metrics.dropped[DROP_TOO_LARGE]);
				w->srv->h.on_too_large(w, &src, m);
				return -1;
			}
			if (len >= max) {
				metrics_inc(&w->metrics.dropped[DROP_TOO_LARGE]);
				return -1;
			}
			break;
		}
		if (capture_on)
			capture_tcp(c, false, rc >= 0 ? m->callid.value :
			    SLICE_NULL, p, tcp_msg_len(p, len, m, rc));
		w->srv->h.on_message(w, &src, m, rc);
		if (rc < 0) {
			/* A bad header with sound framing costs only that
			 * message; past a framing fault nothing can be trusted
			 * (SPEC §6: 400, then close). */
			if (m->hdr_complete && m->content_length >= 0 &&
			    m->body_off + (size_t)m->content_length <=
			    len - (size_t)(m->buf - p)) {
				off += (size_t)(m->buf - p) + m->body_off +
				    (size_t)m->content_length;
				tcp_arm_timer(c);
				continue;
			}
			return -1;
		}
		off += (size_t)rc;
		tcp_arm_timer(c);
	}
	return (ssize_t)off;
}

/*
 * len bytes at buf (the worker's scratch buffer, or c->in when a message
 * was cut before) framed and handed on; the start of a message cut by the
 * read is kept in c->in. Most reads hold whole messages, so an idle
 * connection costs no buffer of its own, and a busy worker does not walk
 * a different buffer for each of hundreds of connections. false when c
 * closed (maybe freed).
 */
static bool
conn_input(struct tp_conn *c, char *buf, size_t len)
{
	struct worker *w = c->w;
	size_t cap = w->srv->max_message_size + 1;
	ssize_t used;

	used = tcp_frame(c, buf, len);
	transport_flush(w);	/* TCP in may have queued UDP out */
	if (used == -1) {
		tcp_close(c);
		return false;
	}
	if ((size_t)used == len) {
		c->inlen = 0;
		return true;
	}
	if (c->in == NULL && (c->in = malloc(cap)) == NULL) {
		log_warnx("tcp %s:%u: out of memory", c->ip, c->port);
		tcp_close(c);
		return false;
	}
	memmove(c->in, buf + used, len - (size_t)used);
	c->inlen = len - (size_t)used;
	return true;
}

/*
 * Decrypted bytes straight into the same buffers as plain TCP (the
 * framing stays zero-copy), a record at a time, while the SSL holds
 * more. 0, or -1 when c closed (maybe freed).
 */
static int
tls_read(struct tp_conn *c)
{
	struct worker *w = c->w;
	size_t cap = w->srv->max_message_size + 1;
	char *buf;
	int n, e, en, round;

	for (round = 0; round < 64; round++) {
		buf = c->inlen == 0 ? w->rx : c->in;
		tls_clear_errors();
		errno = 0;
		n = SSL_read(c->ssl, buf + c->inlen, (int)(cap - c->inlen));
		if (n <= 0) {
			en = errno;
			e = SSL_get_error(c->ssl, n);
			if (e == SSL_ERROR_WANT_READ)
				return 0;
			if (e == SSL_ERROR_WANT_WRITE) {
				c->read_wants_write = true;
				event_add(c->ev_write, NULL);
				return 0;
			}
			/* close_notify, EOF or a broken record. */
			if (e != SSL_ERROR_ZERO_RETURN)
				c->tls_failed = true;
			ERR_clear_error();
			/* A peer that resets what we opened to it (SPEC §8),
			 * as over TCP. */
			if (e == SSL_ERROR_SYSCALL && c->outgoing &&
			    is_icmp_errno(en))
				tcp_unreachable(w, &c->addr, c->addrlen, en,
				    SIP_TP_TLS);
			tcp_close(c);
			return -1;
		}
		if (!conn_input(c, buf, c->inlen + (size_t)n))
			return -1;
		if (c->closing)
			return 0;
		/* Nothing buffered in the SSL: what is left is in the
		 * socket, and the read event (level-triggered) says so. One
		 * more SSL_read would cost a recv() that finds nothing,
		 * once per message. */
		if (!SSL_has_pending(c->ssl))
			return 0;
	}
	/* Records already decrypted wait in the SSL, not in the socket. */
	if (SSL_has_pending(c->ssl))
		event_active(c->ev_read, EV_READ, 0);
	return 0;
}

static void
tls_readable(struct tp_conn *c)
{
	if (!c->connected) {
		/* A connect that failed shows up here first. */
		tcp_writable(c->fd, EV_WRITE, c);
		return;
	}
	if (c->handshaking && (tls_handshake(c) == -1 || c->handshaking))
		return;
	if (tls_read(c) == -1 || c->closing)
		return;
	if (c->write_wants_read)
		conn_flush(c);
}

/*
 * Most reads hold whole messages: they go into the worker's scratch buffer
 * and are handled there, and only the start of a message cut by the read
 * is kept in the connection's own buffer, made when first needed. So an
 * idle connection costs no 64 KB buffer, and a busy worker does not walk a
 * different buffer for each of hundreds of connections.
 */
static void
tcp_readable(evutil_socket_t fd, short what, void *arg)
{
	struct tp_conn *c = arg;
	struct worker *w = c->w;
	size_t cap = w->srv->max_message_size + 1;
	char *buf;
	ssize_t n;

	(void)what;
	if (c->ssl != NULL) {
		tls_readable(c);
		return;
	}
	if (c->inlen == 0)
		buf = w->rx;		/* TRANSPORT_BATCH * UDP_MAX >= cap */
	else
		buf = c->in;
	n = recv(fd, buf + c->inlen, cap - c->inlen, MSG_DONTWAIT);
	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK &&
	    errno != EINTR)) {
		int e = n == 0 ? ECONNRESET : errno;
		struct sockaddr_storage addr = c->addr;
		socklen_t addrlen = c->addrlen;
		bool lost = c->outgoing && (!c->connected || is_icmp_errno(e));

		if (!c->connected) {
			/* A connect refused, seen here before the write
			 * event: its requests are answered all the same. */
			const char *why = n == 0 ? "Connection Closed" :
			    strerror(e);
			size_t qlen;
			char *q = tcp_take_queue(c, &qlen);

			tcp_free(c);
			tcp_unreachable(w, &addr, addrlen, e, SIP_TP_TCP);
			tcp_undeliverable(w, q, qlen, why);
			return;
		}
		tcp_close(c);
		/* A peer that resets what we opened to it (SPEC §8); a
		 * clean close (n == 0) of an open one is no failure. */
		if (lost && n != 0)
			tcp_unreachable(w, &addr, addrlen, e, SIP_TP_TCP);
		return;
	}
	if (n < 0)
		return;
	conn_input(c, buf, c->inlen + (size_t)n);
}

/* A connection object for fd, owned by w and registered; NULL on failure
 * (fd is then closed, ssl freed, and its slot and source count given
 * back). An outgoing one (listener -1) is still connecting. With ssl, a
 * TLS connection whose handshake starts; vname: the name an outgoing one
 * checks the server certificate against. */
static struct tp_conn *
tcp_conn_new(struct worker *w, int fd, const struct sockaddr *peer,
    socklen_t peerlen, int listener, struct tp_src *src, SSL *ssl,
    const char *vname)
{
	struct server *srv = w->srv;
	struct tp_conn *c;
	int on = 1;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto fail;
	c->w = w;
	c->fd = fd;
	c->listener = listener;
	c->outgoing = listener < 0;
	c->connected = !c->outgoing;
	c->src = src;
	if (ssl != NULL) {
		if (SSL_set_fd(ssl, fd) != 1)
			goto fail;
		if (c->outgoing)
			SSL_set_connect_state(ssl);
		else
			SSL_set_accept_state(ssl);
		c->ssl = ssl;
		c->handshaking = true;
		atomic_fetch_add(&srv->tls_open, 1);
		if (vname != NULL && (c->vname = strdup(vname)) == NULL)
			goto fail;
	}
	memcpy(&c->addr, peer, peerlen);
	c->addrlen = peerlen;
	addr_text(&c->addr, c->ip, sizeof(c->ip), &c->port);
	if (capture_on) {
		/* Our real end, even behind a wildcard listener; an
		 * outgoing socket has its port once connect() started. */
		socklen_t sl = sizeof(c->local);

		if (getsockname(fd, (struct sockaddr *)&c->local, &sl) == -1)
			c->local.ss_family = AF_UNSPEC;
	}
	set_nonblock(fd);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	c->ev_read = event_new(w->base, fd, EV_READ | EV_PERSIST,
	    tcp_readable, c);
	c->ev_write = event_new(w->base, fd, EV_WRITE, tcp_writable, c);
	c->ev_timer = evtimer_new(w->base, tcp_timeout, c);
	if (c->ev_read == NULL || c->ev_write == NULL || c->ev_timer == NULL)
		goto fail;
	event_add(c->ev_read, NULL);
	tcp_arm_timer(c);
	if ((c->next = w->conns) != NULL)
		w->conns->prev = c;
	w->conns = c;
	tcp_register(c);	/* made and set up without the lock */
	return c;
fail:
	log_warnx("tcp %s: out of memory", listener >= 0 ? "accept" :
	    "connect");
	if (c != NULL) {
		if (c->ev_read)
			event_free(c->ev_read);
		if (c->ev_write)
			event_free(c->ev_write);
		if (c->ev_timer)
			event_free(c->ev_timer);
		if (c->ssl != NULL)
			atomic_fetch_sub(&srv->tls_open, 1);
		free(c->vname);
		free(c->in);
		free(c);
	}
	SSL_free(ssl);
	tcp_release(srv, listener < 0, src);
	close(fd);
	return NULL;
}

/* A slot in pool (tcp_in or tcp_out) under max; false, counted, if none. */
static bool
tcp_take_slot(struct worker *w, atomic_uint *pool, unsigned max)
{
	if (atomic_fetch_add(pool, 1) >= max) {
		atomic_fetch_sub(pool, 1);
		metrics_inc(&w->metrics.dropped[DROP_TCP_LIMIT]);
		return false;
	}
	return true;
}

static void
tcp_accept(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct worker *w = arg;
	struct server *srv = w->srv;
	struct tp_src *src = NULL;
	SSL *ssl = NULL;
	char ip[64];
	uint16_t port;
	int listener = -1;
	size_t i;

	for (i = 0; i < srv->nlisten; i++)
		if (w->fds[i] == evconnlistener_get_fd(lev))
			listener = (int)i;
	/* SPEC §9: a handshake costs CPU, so it counts toward the source's
	 * rate; over it or banned, closed before any is done. */
	if (listener >= 0 && srv->listen[listener].transport == SIP_TP_TLS &&
	    srv->h.on_handshake != NULL && !srv->h.on_handshake(w, sa)) {
		close(fd);
		return;
	}
	/* SPEC §6: over the limit, accepted and closed at once. */
	if (!tcp_take_slot(w, &srv->tcp_in, srv->tcp_max_connections)) {
		close(fd);
		return;
	}
	/* SPEC §7: so is one over its source's share. */
	/* Exempt sources (the handlers say which: trusted ones, our PBXs
	 * and SBCs, one of which may hold a connection per phone behind it)
	 * are held to the global cap only. */
	if (srv->tcp_max_per_source > 0 && !srv->h.is_trusted(w, sa) &&
	    (src = src_take(sa, srv->tcp_max_per_source)) == NULL) {
		addr_text((const struct sockaddr_storage *)(void *)sa, ip,
		    sizeof(ip), &port);
		log_debug("tcp %s:%u: its source holds %u connections, "
		    "closing", ip, port, srv->tcp_max_per_source);
		metrics_inc(&w->metrics.dropped[DROP_TCP_LIMIT]);
		tcp_release(srv, false, NULL);
		close(fd);
		return;
	}
	if (listener >= 0 && srv->listen[listener].transport == SIP_TP_TLS &&
	    (ssl = tls_new_server()) == NULL) {
		log_warnx("tls accept: no TLS context");
		tcp_release(srv, false, src);
		close(fd);
		return;
	}
	tcp_conn_new(w, fd, sa, (socklen_t)salen, listener, src, ssl, NULL);
}

/*
 * accept() failed with something other than EAGAIN: EMFILE, ENFILE,
 * ENOBUFS, ENOMEM. The connection stays in the backlog, so the listening
 * socket stays readable, and libevent would call accept() again at once,
 * for ever (98% CPU and 738,000 log lines in 3 s). Instead the worker's
 * listeners rest for ACCEPT_PAUSE_MS, and one line a second at most says
 * so, for all workers together.
 */
static void
tcp_accept_error(struct evconnlistener *lev, void *arg)
{
	static atomic_long last_log;
	static atomic_ulong quiet;
	struct worker *w = arg;
	struct timeval tv = { 0, ACCEPT_PAUSE_MS * 1000 };
	int e = EVUTIL_SOCKET_ERROR();
	long now = (long)time(NULL), then = atomic_load(&last_log);

	evconnlistener_disable(lev);
	event_add(w->ev_accept, &tv);
	if (now != then && atomic_compare_exchange_strong(&last_log, &then,
	    now))
		log_warnx("tcp accept: %s; not accepting for %d ms (%lu more "
		    "since the last line)", strerror(e), ACCEPT_PAUSE_MS,
		    atomic_exchange(&quiet, 0));
	else
		atomic_fetch_add(&quiet, 1);
}

static void
tcp_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	size_t i;

	(void)fd;
	(void)what;
	for (i = 0; i < w->nlisteners; i++)
		evconnlistener_enable(w->listeners[i]);
}

int
transport_nofile(const struct conf *conf, int nworkers, bool raise,
    char *err, size_t errlen)
{
	struct rlimit rl;
	rlim_t need, was;
	size_t i;

	need = (rlim_t)conf->tcp_max_connections + conf->tcp_max_outgoing +
	    (rlim_t)FD_PER_WORKER * (rlim_t)nworkers + FD_RESERVE;
	for (i = 0; i < conf->nlisten; i++)
		need += conf->listen[i].transport == SIP_TP_UDP &&
		    nworkers > 1 ? (rlim_t)nworkers : 1;
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
		snprintf(err, errlen, "getrlimit: %s", strerror(errno));
		return -1;
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
		return 0;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
		snprintf(err, errlen, "%s: the limits need %llu open files "
		    "(tcp_max_connections %u + tcp_max_outgoing %u + "
		    "listening sockets, event loops and %d spare), but the "
		    "hard limit is %llu (ulimit -Hn, LimitNOFILE=): lower "
		    "the limits or raise it", conf->path,
		    (unsigned long long)need, conf->tcp_max_connections,
		    conf->tcp_max_outgoing, FD_RESERVE,
		    (unsigned long long)rl.rlim_max);
		return -1;
	}
	if (!raise)
		return 0;
	was = rl.rlim_cur;
	rl.rlim_cur = need;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
		snprintf(err, errlen, "%s: the limits need %llu open files, "
		    "the soft limit is %llu and cannot be raised: %s",
		    conf->path, (unsigned long long)need,
		    (unsigned long long)was, strerror(errno));
		return -1;
	}
	log_info("open files: soft limit raised from %llu to %llu for the "
	    "tcp_* limits", (unsigned long long)was, (unsigned long long)need);
	return 0;
}

/*
 * A new outgoing connection to dst, owned by w: made (socket, connect,
 * calloc) with no lock held, then registered. Two workers connecting to
 * the same destination at once both keep theirs: each is a sound
 * connection, lookups find one of them, and the other closes when idle.
 * tls: a TLS one, whose server certificate must name name (its IP
 * address when name is NULL), checked once, at the handshake.
 */
static struct tp_conn *
tcp_connect(struct worker *w, const struct sockaddr *dst, socklen_t dstlen,
    bool tls, const char *name)
{
	SSL *ssl = NULL;
	char ip[64];
	uint16_t port;
	int fd;

	/* Our own pool: inbound connections cannot use it up and keep us
	 * from reaching a PBX (SPEC §7). */
	if (!tcp_take_slot(w, &w->srv->tcp_out, w->srv->tcp_max_outgoing))
		return NULL;
	fd = socket(dst->sa_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd == -1) {
		tcp_release(w->srv, true, NULL);
		return NULL;
	}
	if (connect(fd, dst, dstlen) == -1 && errno != EINPROGRESS) {
		int e = errno;

		log_debug("tcp connect: %s", strerror(e));
		tcp_release(w->srv, true, NULL);
		close(fd);
		errno = e;	/* the caller's passive signal (SPEC §8) */
		return NULL;
	}
	if (tls) {
		if (name == NULL || name[0] == '\0') {
			addr_text((const struct sockaddr_storage *)
			    (const void *)dst, ip, sizeof(ip), &port);
			name = ip;
		}
		if ((ssl = tls_new_client(name)) == NULL) {
			log_warnx("tls connect %s: no TLS context", name);
			tcp_release(w->srv, true, NULL);
			close(fd);
			return NULL;
		}
	}
	return tcp_conn_new(w, fd, dst, dstlen, -1, NULL, ssl,
	    tls ? name : NULL);
}

/*
 * Hand bytes to the worker that owns the connection to dst. The copy is
 * counted in tcp_queued at once, so the total cap holds for bytes on the
 * way too; the owner applies the per-connection cap when it queues them.
 */
static int
inbox_post(struct worker *self, struct worker *owner,
    const struct sockaddr *dst, socklen_t dstlen, const struct sockaddr *alt,
    socklen_t altlen, bool tls, const char *name, bool answer,
    const char *buf, size_t len)
{
	struct tp_inbox_item *it;
	size_t nlen = tls && name != NULL ? strlen(name) : 0;
	bool was_empty;

	if (atomic_load_explicit(&tcp_queued, memory_order_relaxed) + len >
	    CONFIG_TCP_QUEUE_TOTAL) {
		metrics_inc(&self->metrics.dropped[DROP_TCP_LIMIT]);
		return -1;
	}
	it = NULL;
	if (len <= INBOX_ROOM) {
		pthread_mutex_lock(&owner->inbox_mu);
		if ((it = owner->spare) != NULL) {
			owner->spare = it->next;
			owner->nspare--;
		}
		pthread_mutex_unlock(&owner->inbox_mu);
	}
	if (it == NULL) {
		if ((it = malloc(sizeof(*it) + (len <= INBOX_ROOM ? INBOX_ROOM :
		    len))) == NULL)
			return -1;
		it->cap = len <= INBOX_ROOM ? INBOX_ROOM : len;
	}
	it->next = NULL;
	memcpy(&it->dst, dst, dstlen);
	it->dstlen = dstlen;
	memcpy(&it->alt, alt, altlen);
	it->altlen = altlen;
	it->tls = tls;
	it->answer = answer;
	if (nlen >= sizeof(it->name))
		nlen = 0;	/* none is longer: the hop's names fit */
	memcpy(it->name, name != NULL ? name : "", nlen);
	it->name[nlen] = '\0';
	it->len = len;
	memcpy(it->buf, buf, len);
	atomic_fetch_add(&tcp_queued, len);
	pthread_mutex_lock(&owner->inbox_mu);
	was_empty = owner->inbox == NULL;
	*owner->inbox_tail = it;
	owner->inbox_tail = &it->next;
	pthread_mutex_unlock(&owner->inbox_mu);
	/* Once per batch: the owner takes the whole list when it runs. */
	if (was_empty)
		event_active(owner->ev_inbox, EV_READ, 0);
	return 0;
}

/* On an open connection to dst, else to alt, else a new one to alt (dst
 * when alt is NULL). TLS: one usher opened serves name only, but an
 * answer takes the one to dst whatever its name (transport_send_tls). */
static int
conn_send_to(struct worker *w, const struct sockaddr *dst, socklen_t dstlen,
    const struct sockaddr *alt, socklen_t altlen, bool tls, const char *name,
    bool answer, const char *buf, size_t len)
{
	struct tp_conn *c;
	struct worker *owner = NULL;

	if (alt == NULL || altlen == 0) {
		alt = dst;
		altlen = dstlen;
	}
	pthread_mutex_lock(&reg_mu);
	if ((c = tcp_find(dst, tls, answer ? NULL : name)) != NULL ||
	    (alt != dst && (c = tcp_find(alt, tls, name)) != NULL))
		owner = c->w;
	pthread_mutex_unlock(&reg_mu);
	/* Ours: only this thread could have freed it since. */
	if (owner == w)
		return tcp_queue(c, buf, len);
	if (owner != NULL)
		return inbox_post(w, owner, dst, dstlen, alt, altlen, tls, name,
		    answer, buf, len);
	if ((c = tcp_connect(w, alt, altlen, tls, name)) == NULL)
		return -1;
	return tcp_queue(c, buf, len);
}

int
transport_send_tcp(struct worker *w, const struct sockaddr *dst,
    socklen_t dstlen, const struct sockaddr *alt, socklen_t altlen,
    const char *buf, size_t len)
{
	return conn_send_to(w, dst, dstlen, alt, altlen, false, NULL, false,
	    buf, len);
}

int
transport_send_tls(struct worker *w, const struct sockaddr *dst,
    socklen_t dstlen, const struct sockaddr *alt, socklen_t altlen,
    const char *name, bool answer, const char *buf, size_t len)
{
	return conn_send_to(w, dst, dstlen, alt, altlen, true, name, answer,
	    buf, len);
}

/*
 * The owner's side: bytes other workers handed over, in the order they
 * came. The connection they were meant for may have closed meanwhile:
 * they go to dst as any send would (a new connection, or another worker's
 * now), and requests that cannot are answered 503 as after a failed
 * connect, since their sender was told they went.
 */
static void
inbox_drain(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct tp_inbox_item *it, *list, *keep = NULL, **kt = &keep;
	unsigned nkeep = 0;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&w->inbox_mu);
	list = w->inbox;
	w->inbox = NULL;
	w->inbox_tail = &w->inbox;
	pthread_mutex_unlock(&w->inbox_mu);
	while ((it = list) != NULL) {
		list = it->next;
		atomic_fetch_sub(&tcp_queued, it->len);
		if (conn_send_to(w, (const struct sockaddr *)&it->dst,
		    it->dstlen, (const struct sockaddr *)&it->alt, it->altlen,
		    it->tls, it->name, it->answer, it->buf, it->len) == -1)
			w->srv->h.on_undeliverable(w, it->buf, it->len,
			    "Cannot Connect To Next Hop");
		if (it->cap == INBOX_ROOM && nkeep < INBOX_SPARE) {
			it->next = NULL;
			*kt = it;
			kt = &it->next;
			nkeep++;
		} else
			free(it);
	}
	if (keep == NULL)
		return;
	/* Back to the spares, as many as there is room for. */
	pthread_mutex_lock(&w->inbox_mu);
	while ((it = keep) != NULL && w->nspare < INBOX_SPARE) {
		keep = it->next;
		it->next = w->spare;
		w->spare = it;
		w->nspare++;
	}
	pthread_mutex_unlock(&w->inbox_mu);
	while ((it = keep) != NULL) {
		keep = it->next;
		free(it);
	}
}

/* ---- workers ---- */

static void
worker_wake(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)what;
	if (w->srv->h.on_wake != NULL)
		w->srv->h.on_wake(w);
}

void
transport_wake(struct server *srv)
{
	int k;

	for (k = 0; k < srv->nworkers; k++)
		event_active(srv->workers[k].ev_wake, EV_TIMEOUT, 0);
}

int
transport_workers(struct server *srv, int nworkers,
    const struct tp_handlers *h, char *err, size_t errlen)
{
	struct worker *w;
	size_t i;
	int k;

	srv->h = *h;
	evthread_use_pthreads();
	if ((srv->workers = calloc((size_t)nworkers, sizeof(*w))) == NULL)
		goto oom;
	srv->nworkers = nworkers;
	for (k = 0; k < nworkers; k++) {
		w = &srv->workers[k];
		w->id = k;
		w->srv = srv;
		w->fds = srv->fds + (size_t)(k % srv->nsock) * srv->nlisten;
		w->base = event_base_new();
		if (w->base != NULL)
			w->ev_wake = event_new(w->base, -1, 0, worker_wake, w);
		w->rx = malloc((size_t)TRANSPORT_BATCH * TRANSPORT_UDP_MAX);
		w->msg = malloc(sizeof(*w->msg));
		w->tx = malloc((size_t)TRANSPORT_BATCH * TRANSPORT_UDP_MAX);
		w->txmsg = calloc(TRANSPORT_BATCH, sizeof(*w->txmsg));
		w->txiov = calloc(TRANSPORT_BATCH, sizeof(*w->txiov));
		w->txaddr = calloc(TRANSPORT_BATCH, sizeof(*w->txaddr));
		if (capture_on)
			w->hep = malloc(CAPTURE_MAX);
		w->events = calloc(srv->nlisten, sizeof(*w->events));
		w->listeners = calloc(srv->nlisten, sizeof(*w->listeners));
		if (w->base != NULL)
			w->ev_accept = evtimer_new(w->base, tcp_accept_resume,
			    w);
		pthread_mutex_init(&w->inbox_mu, NULL);
		w->inbox_tail = &w->inbox;
		if (w->base != NULL)
			w->ev_inbox = event_new(w->base, -1, 0, inbox_drain,
			    w);
		if (w->base == NULL || w->ev_wake == NULL ||
		    w->ev_accept == NULL || w->ev_inbox == NULL || w->rx == NULL || w->tx == NULL ||
		    w->txmsg == NULL || w->txiov == NULL || w->txaddr == NULL ||
		    w->events == NULL || w->listeners == NULL || w->msg == NULL ||
		    (capture_on && w->hep == NULL) ||
		    (h->on_init != NULL && h->on_init(w) == -1))
			goto oom;
		for (i = 0; i < srv->nlisten; i++) {
			if (srv->listen[i].transport == SIP_TP_UDP) {
				w->events[w->nevents] = event_new(w->base,
				    w->fds[i], EV_READ | EV_PERSIST,
				    udp_read, w);
				if (w->events[w->nevents] == NULL ||
				    event_add(w->events[w->nevents], NULL))
					goto oom;
				w->nevents++;
			} else {
				/* Every worker accepts on the same socket;
				 * a connection stays with its acceptor. */
				w->listeners[w->nlisteners] =
				    evconnlistener_new(w->base, tcp_accept, w,
				    0, -1, w->fds[i]);
				if (w->listeners[w->nlisteners] == NULL)
					goto oom;
				evconnlistener_set_error_cb(
				    w->listeners[w->nlisteners],
				    tcp_accept_error);
				w->nlisteners++;
			}
		}
	}
	return 0;
oom:
	snprintf(err, errlen, "cannot set up worker event loops");
	return -1;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	char name[16];

	/* "usher-w1".. in ps -L, top -H and /proc/PID/task/TID/comm, so an
	 * operator (and tests/bench/compare) sees how the load spreads.
	 * Worker 0 is the main thread and keeps the process's name. */
	if (w->id > 0) {
		snprintf(name, sizeof(name), "usher-w%u", (unsigned)w->id % 1000);
		pthread_setname_np(pthread_self(), name);
	}
	event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

void
transport_run(struct server *srv)
{
	int k;

	for (k = 1; k < srv->nworkers; k++)
		if (pthread_create(&srv->workers[k].thread, NULL, worker_main,
		    &srv->workers[k]) != 0)
			fatal("pthread_create");
	worker_main(&srv->workers[0]);
	for (k = 1; k < srv->nworkers; k++)
		pthread_join(srv->workers[k].thread, NULL);
}

void
transport_stop(struct server *srv)
{
	int k;

	for (k = 0; k < srv->nworkers; k++)
		event_base_loopbreak(srv->workers[k].base);
}

void
transport_free(struct server *srv)
{
	struct tp_inbox_item *it;
	struct worker *w;
	size_t i;
	int k;

	for (k = 0; srv->workers != NULL && k < srv->nworkers; k++) {
		w = &srv->workers[k];
		while (w->conns != NULL)
			tcp_free(w->conns);
		while ((it = w->inbox) != NULL) {
			w->inbox = it->next;
			atomic_fetch_sub(&tcp_queued, it->len);
			free(it);
		}
		while ((it = w->spare) != NULL) {
			w->spare = it->next;
			free(it);
		}
		if (w->ev_inbox != NULL)
			event_free(w->ev_inbox);
		if (w->inbox_tail != NULL)
			pthread_mutex_destroy(&w->inbox_mu);
		if (srv->h.on_free != NULL)
			srv->h.on_free(w);
		if (w->ev_wake != NULL)
			event_free(w->ev_wake);
		if (w->ev_accept != NULL)
			event_free(w->ev_accept);
		for (i = 0; i < w->nevents; i++)
			event_free(w->events[i]);
		for (i = 0; i < w->nlisteners; i++)
			evconnlistener_free(w->listeners[i]);
		if (w->base != NULL)
			event_base_free(w->base);
		free(w->events);
		free(w->listeners);
		free(w->rx);
		free(w->msg);
		free(w->tx);
		free(w->hep);
		free(w->txmsg);
		free(w->txiov);
		free(w->txaddr);
	}
	free(srv->workers);
	for (i = 0; srv->fds != NULL && i < srv->nlisten; i++)
		for (k = 0; k < srv->nsock; k++)
			if (sock_of(srv, k, i) != -1 && (k == 0 ||
			    sock_of(srv, k, i) != sock_of(srv, 0, i)))
				close(sock_of(srv, k, i));
	free(srv->fds);
	free(srv->listen);
	memset(srv, 0, sizeof(*srv));
}
