/* sipmsg.h: one scan of received SIP bytes into slices, URI and Via decoding,
 * local replies written straight into a caller buffer, and byte splicing.
 * Nothing here allocates; every slice points into the caller's bytes and is
 * valid as long as those bytes are. */
#ifndef USHER_SIPMSG_H
#define USHER_SIPMSG_H

#include <sys/types.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slice.h"

#define SIPMSG_MAX_VIA		64	/* Via values (and Via lines) kept */
#define SIPMSG_MAX_ROUTE	32	/* Route values kept */
#define SIPMSG_MAX_PREQ		16	/* Proxy-Require option tags kept */

enum sip_method {
	SIP_OTHER = 0,		/* any other token: routed like the rest */
	SIP_INVITE,
	SIP_ACK,
	SIP_BYE,
	SIP_CANCEL,
	SIP_OPTIONS,
	SIP_REGISTER,
	SIP_INFO,
	SIP_UPDATE,
	SIP_PRACK,
	SIP_SUBSCRIBE,
	SIP_NOTIFY,
	SIP_MESSAGE,
	SIP_REFER,
	SIP_PUBLISH,
};

enum sip_transport {
	SIP_TP_NONE = 0,	/* not given */
	SIP_TP_UDP,
	SIP_TP_TCP,
	SIP_TP_TLS,
	SIP_TP_SCTP,
	SIP_TP_OTHER,
};

struct sip_uri {
	struct slice	 all;		/* the whole URI as written */
	struct slice	 scheme;	/* "sip", "sips", "tel", ... */
	struct slice	 user;		/* raw (still %-escaped); empty when absent */
	struct slice	 password;
	struct slice	 host;		/* IPv6 references keep their brackets */
	struct slice	 hostport;	/* host[:port] as written */
	uint16_t	 port;		/* 0 when absent */
	struct slice	 params;	/* ";..." after hostport, empty if none */
	struct slice	 headers;	/* "?..." escaped headers, empty if none */
	enum sip_transport transport;	/* transport= parameter */
	bool		 user_phone;	/* user=phone */
	bool		 lr;		/* lr parameter present */
	bool		 is_sip;	/* scheme is sip or sips (rest parsed) */
	bool		 is_sips;	/* scheme is sips: TLS on every hop */
};

struct sip_via {
	struct slice	 value;		/* the via-parm, from "SIP/2.0/..." to its end */
	struct slice	 transport;	/* "UDP", "TCP", ... as written */
	enum sip_transport tp;
	struct slice	 host;		/* sent-by host (IPv6 in brackets) */
	uint16_t	 port;		/* sent-by port, 0 when absent */
	struct slice	 branch;	/* branch value, empty when absent */
	struct slice	 received;	/* received value, empty when absent */
	struct slice	 received_param; /* ";received=..." with its ';', for deleting */
	bool		 has_rport;
	struct slice	 rport;		/* rport value, empty when bare "rport" */
	struct slice	 rport_param;	/* ";rport[=N]" with its ';', for deleting */
};

/* A header field as it stands in the message. */
struct sip_hdr {
	struct slice	 line;		/* name through value, folding kept, no CRLF */
	struct slice	 value;		/* the value, LWS trimmed; p == NULL: absent */
};

struct sipmsg {
	const char	*buf;		/* first byte of the start line */
	size_t		 len;		/* bytes of this message, body included */
	size_t		 body_off;	/* offset of the body (after the empty line) */
	long		 content_length; /* -1 when absent */
	bool		 hdr_complete;	/* the empty line was seen */
	bool		 is_request;

	/* Request-Line */
	struct slice	 method;
	enum sip_method	 mid;
	struct slice	 ruri_text;
	struct sip_uri	 ruri;
	struct slice	 version;	/* "SIP/2.0" as written */

	/* Status-Line */
	unsigned	 status;
	struct slice	 reason;

	struct sip_hdr	 from, to, callid, cseq, max_fwd, user_agent;
	struct slice	 from_tag, to_tag;	/* empty when absent */
	struct sip_uri	 to_uri;		/* REGISTER looks its user up */
	uint32_t	 cseq_num;
	struct slice	 cseq_method;
	int		 max_forwards;		/* -1 when absent */

	const char	*fault;		/* first fault found, a static reason */

	/* How much of each array below is filled. */
	size_t		 nvia_hdr, nvia, nroute_hdr, nroute, npreq;

	/*
	 * The arrays (about 20 KB) last: they are read only up to their
	 * counts, so a scan clears everything above them and not them.
	 */
	struct sip_hdr	 via_hdr[SIPMSG_MAX_VIA];	/* Via lines, in order */
	struct sip_via	 via[SIPMSG_MAX_VIA];		/* Via values; [0] is top */
	struct sip_hdr	 route_hdr[SIPMSG_MAX_ROUTE];	/* Route lines */
	struct slice	 route[SIPMSG_MAX_ROUTE];	/* route-param values */
	struct sip_uri	 route_uri[SIPMSG_MAX_ROUTE];	/* the URI inside <> */
	struct slice	 proxy_require[SIPMSG_MAX_PREQ];	/* option tags */
};

#define SIPMSG_DGRAM	0	/* UDP: the datagram is the whole message */
#define SIPMSG_STREAM	1	/* TCP: Content-Length frames the message */

/*
 * Scan one message at buf. Leading CR/LF octets are skipped (RFC 3261 §7.5).
 * Returns the bytes consumed (skipped CRLFs + message, body included), -2
 * when a STREAM message is incomplete (m->hdr_complete tells whether the
 * header fields were all seen, so content_length may be checked), or -1 on
 * bad input with m->fault set. After -1 the fields that could be scanned are
 * still filled in, so sipmsg_can_reply() says whether a 400 can be built.
 * DGRAM: octets past Content-Length are ignored; no Content-Length means the
 * rest of the datagram is the body; a Content-Length larger than what is
 * there is a fault. STREAM: Content-Length is required.
 */
ssize_t	sipmsg_scan(const char *buf, size_t len, int mode, struct sipmsg *m);

/* true when req has what a response must copy: a parsable top Via, From,
 * To, Call-ID and CSeq. */
bool	sipmsg_can_reply(const struct sipmsg *m);

/* Parse a SIP URI. sip/sips URIs are decoded whole; other schemes only
 * fill all and scheme (is_sip false) and still return 0. -1 on bad input,
 * with *fault set to a static reason. */
int	sipmsg_uri_parse(struct slice s, struct sip_uri *u, const char **fault);

/* Parse one via-parm ("SIP/2.0/UDP host:port;params"). 0 or -1 + *fault. */
int	sipmsg_via_parse(struct slice s, struct sip_via *v, const char **fault);

/* Find parameter name (case-insensitive) in a ";a=b;c" list. Returns true
 * and sets *val (empty for a bare name) when present. */
bool	sipmsg_param(struct slice params, const char *name, struct slice *val);

enum sip_method	sipmsg_method(struct slice token);

/* What a locally generated response needs besides the request. */
struct sip_reply {
	unsigned	 code;
	const char	*reason;	/* reason phrase */
	const char	*src_ip;	/* source address text for received= */
	uint16_t	 src_port;	/* source port for rport= */
	struct slice	 to_tag;	/* added when To has no tag */
	struct slice	 extra;		/* more header lines, each ending in CRLF */
	struct slice	 server;	/* Server header value, e.g. "usher/0.1.0" */
};

/*
 * Write a response to req into out: status line, every Via line copied in
 * order (the top Via with received/rport set as RFC 3261 §18.2.1 and RFC 3581
 * say, an existing received replaced), From, To (+ ;tag= when it has none),
 * Call-ID, CSeq, Server, the extra lines, Content-Length: 0. Returns the
 * length written, or -1 when it does not fit in outlen or req cannot be
 * answered (sipmsg_can_reply() false).
 */
ssize_t	sipmsg_reply(const struct sipmsg *req, const struct sip_reply *r,
	    char *out, size_t outlen);

/* Byte edits of a received message (Kamailio's lumps, flattened). */
#define SIPMSG_MAX_EDITS	24
#define SIPMSG_EDIT_SPACE	2048

struct sip_edit {
	size_t		 off;	/* offset into the message */
	size_t		 del;	/* bytes removed at off */
	struct slice	 ins;	/* bytes inserted at off */
};

struct sip_edits {
	struct sip_edit	 e[SIPMSG_MAX_EDITS];	/* sorted by off */
	size_t		 n;
	char		 space[SIPMSG_EDIT_SPACE];	/* copies of inserted text */
	size_t		 used;
};

void	sipmsg_edits_init(struct sip_edits *ed);

/* Record an edit at off: delete del bytes, insert ins (copied). Edits at the
 * same offset apply in the order added. 0, or -1 when the list is full or
 * the edit overlaps one already recorded. */
int	sipmsg_edit(struct sip_edits *ed, size_t off, size_t del,
	    const char *ins, size_t inslen);

/* Write m's bytes with the edits applied. Returns the length or -1 when
 * out is too small. */
ssize_t	sipmsg_splice(const struct sipmsg *m, const struct sip_edits *ed,
	    char *out, size_t outlen);

/*
 * Record the received/rport edits RFC 3261 §18.2.1 / RFC 3581 ask for on the
 * top Via, given the source of the message. When sent is not NULL it gets
 * that Via as it will leave: m's, with received and rport as written (its
 * slices point into m, src_ip and port_text, which must outlive it). 0 or
 * -1 (edit list full).
 */
#define SIPMSG_PORT_TEXT	6	/* "65535" and its NUL */
int	sipmsg_edit_via_received(const struct sipmsg *m, struct sip_edits *ed,
	    const char *src_ip, uint16_t src_port, struct sip_via *sent,
	    char port_text[SIPMSG_PORT_TEXT]);

#endif
