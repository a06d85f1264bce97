/* capture.c: HEPv3 encoding and the non-blocking mirror to the collector. */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "log.h"

/* HEPv3 chunk types (vendor 0, the generic ones), as sipcapture reads. */
#define HEP_IP_FAMILY	0x0001
#define HEP_IP_PROTO	0x0002
#define HEP_SRC_IP4	0x0003
#define HEP_DST_IP4	0x0004
#define HEP_SRC_IP6	0x0005
#define HEP_DST_IP6	0x0006
#define HEP_SRC_PORT	0x0007
#define HEP_DST_PORT	0x0008
#define HEP_TS_SEC	0x0009
#define HEP_TS_USEC	0x000a
#define HEP_PROTO_TYPE	0x000b
#define HEP_CAPTURE_ID	0x000c
#define HEP_PAYLOAD	0x000f
#define HEP_CORRELATION	0x0011

#define HEP_PROTO_SIP	1
#define HEP_HDR		6	/* "HEP3" + total length */
#define CHUNK_HDR	6	/* vendor, type, length (header included) */

bool		capture_on;
static int	capture_fd = -1;
static uint32_t	capture_id;
/* Unconnected (no route at start): each send names the collector. */
static bool	capture_connected;
static struct sockaddr_storage	capture_to;
static socklen_t		capture_tolen;

static uint8_t *
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

static uint8_t *
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return p + 4;
}

/* One chunk; the room was checked by the caller. */
static uint8_t *
chunk(uint8_t *p, uint16_t type, const void *data, size_t len)
{
	p = put16(p, 0);		/* vendor: generic */
	p = put16(p, type);
	p = put16(p, (uint16_t)(CHUNK_HDR + len));
	memcpy(p, data, len);
	return p + len;
}

static uint8_t *
chunk8(uint8_t *p, uint16_t type, uint8_t v)
{
	return chunk(p, type, &v, 1);
}

static uint8_t *
chunk16(uint8_t *p, uint16_t type, uint16_t v)
{
	uint8_t b[2];

	put16(b, v);
	return chunk(p, type, b, 2);
}

static uint8_t *
chunk32(uint8_t *p, uint16_t type, uint32_t v)
{
	uint8_t b[4];

	put32(b, v);
	return chunk(p, type, b, 4);
}

ssize_t
capture_encode(const struct capture_meta *cm, const char *msg, size_t len,
    uint8_t *out, size_t outlen)
{
	const struct sockaddr_in *s4, *d4;
	const struct sockaddr_in6 *s6, *d6;
	size_t alen, total;
	int family = cm->src->ss_family;
	uint8_t *p = out;

	if (family != cm->dst->ss_family)
		return -1;
	if (family == AF_INET)
		alen = 4;
	else if (family == AF_INET6)
		alen = 16;
	else
		return -1;
	/* Sizes first, so that nothing is written past outlen. */
	total = HEP_HDR + (CHUNK_HDR + 1) * 3 +	/* family, proto, type */
	    (CHUNK_HDR + alen) * 2 + (CHUNK_HDR + 2) * 2 +
	    (CHUNK_HDR + 4) * 3;			/* sec, usec, id */
	if (len > CAPTURE_MAX || cm->callid.len > CAPTURE_MAX)
		return -1;
	total += CHUNK_HDR + len;
	if (cm->callid.len > 0)
		total += CHUNK_HDR + cm->callid.len;
	if (total > CAPTURE_MAX || total > outlen)
		return -1;

	memcpy(p, "HEP3", 4);
	p = put16(p + 4, (uint16_t)total);
	/* sipcapture takes the family as the AF_ value of Linux: 2, 10. */
	p = chunk8(p, HEP_IP_FAMILY, family == AF_INET ? 2 : 10);
	p = chunk8(p, HEP_IP_PROTO, (uint8_t)cm->proto);
	if (family == AF_INET) {
		s4 = (const struct sockaddr_in *)cm->src;
		d4 = (const struct sockaddr_in *)cm->dst;
		p = chunk(p, HEP_SRC_IP4, &s4->sin_addr, 4);
		p = chunk(p, HEP_DST_IP4, &d4->sin_addr, 4);
		p = chunk16(p, HEP_SRC_PORT, ntohs(s4->sin_port));
		p = chunk16(p, HEP_DST_PORT, ntohs(d4->sin_port));
	} else {
		s6 = (const struct sockaddr_in6 *)cm->src;
		d6 = (const struct sockaddr_in6 *)cm->dst;
		p = chunk(p, HEP_SRC_IP6, &s6->sin6_addr, 16);
		p = chunk(p, HEP_DST_IP6, &d6->sin6_addr, 16);
		p = chunk16(p, HEP_SRC_PORT, ntohs(s6->sin6_port));
		p = chunk16(p, HEP_DST_PORT, ntohs(d6->sin6_port));
	}
	p = chunk32(p, HEP_TS_SEC, cm->sec);
	p = chunk32(p, HEP_TS_USEC, cm->usec);
	p = chunk8(p, HEP_PROTO_TYPE, HEP_PROTO_SIP);
	p = chunk32(p, HEP_CAPTURE_ID, cm->id);
	p = chunk(p, HEP_PAYLOAD, msg, len);
	if (cm->callid.len > 0)
		p = chunk(p, HEP_CORRELATION, cm->callid.p, cm->callid.len);
	return (ssize_t)(p - out);
}

static bool
is_name(const char *p, const char *end, const char *name, size_t n)
{
	size_t i;

	if ((size_t)(end - p) < n)
		return false;
	for (i = 0; i < n; i++)
		if ((p[i] | 0x20) != name[i])
			return false;
	return true;
}

struct slice
capture_callid(const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len, *eol, *v;
	size_t n;

	/* Skip the start line; then one header per line, up to the blank
	 * line. Folded lines are not joined: a Call-ID is one word. */
	while (p < end) {
		if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL)
			eol = end;
		if (p != buf) {
			if (p == eol || (*p == '\r' && p + 1 == eol))
				break;		/* end of the headers */
			n = 0;
			if (is_name(p, eol, "call-id", 7))
				n = 7;
			else if (is_name(p, eol, "i", 1))
				n = 1;
			if (n > 0) {
				v = p + n;
				while (v < eol && (*v == ' ' || *v == '\t'))
					v++;
				if (v < eol && *v == ':') {
					const char *e = eol;

					v++;
					while (v < e && (*v == ' ' ||
					    *v == '\t'))
						v++;
					while (e > v && (e[-1] == '\r' ||
					    e[-1] == ' ' || e[-1] == '\t'))
						e--;
					return (struct slice){ v,
					    (size_t)(e - v) };
				}
			}
		}
		p = eol + 1;
	}
	return SLICE_NULL;
}

int
capture_open(const struct sockaddr_storage *collector, socklen_t len,
    uint32_t id, char *err, size_t errlen)
{
	int fd;

	if ((fd = socket(collector->ss_family, SOCK_DGRAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "capture socket: %s", strerror(errno));
		return -1;
	}
	/*
	 * Connected: an ICMP error comes back as the next send's errno
	 * (counted) instead of being lost. With no route to the collector
	 * yet (the network comes up after usher), SIP must not wait for
	 * it: each packet is then sent to it by address, and fails
	 * (counted) until there is one. Either way the destination is the
	 * configuration's alone.
	 */
	capture_connected = connect(fd, (const struct sockaddr *)collector,
	    len) == 0;
	if (!capture_connected)
		log_warn("capture: connect to the HEP collector; sending "
		    "unconnected");
	memcpy(&capture_to, collector, len);
	capture_tolen = len;
	capture_fd = fd;
	capture_id = id;
	capture_on = true;
	return 0;
}

void
capture_close(void)
{
	capture_on = false;
	if (capture_fd != -1)
		close(capture_fd);
	capture_fd = -1;
}

int
capture_send(int proto, const struct sockaddr_storage *src,
    const struct sockaddr_storage *dst, struct slice callid,
    const char *msg, size_t len, uint8_t *pkt, size_t pktlen)
{
	struct capture_meta cm;
	struct timespec ts;
	ssize_t n;

	if (capture_fd == -1 || pkt == NULL)
		return -1;
	clock_gettime(CLOCK_REALTIME, &ts);
	cm.proto = proto;
	cm.src = src;
	cm.dst = dst;
	cm.sec = (uint32_t)ts.tv_sec;
	cm.usec = (uint32_t)(ts.tv_nsec / 1000);
	cm.id = capture_id;
	cm.callid = callid.len > 0 ? callid : capture_callid(msg, len);
	if ((n = capture_encode(&cm, msg, len, pkt, pktlen)) == -1)
		return -1;
	if (capture_connected)
		return send(capture_fd, pkt, (size_t)n, MSG_DONTWAIT |
		    MSG_NOSIGNAL) == n ? 0 : -1;
	if (sendto(capture_fd, pkt, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL,
	    (const struct sockaddr *)&capture_to, capture_tolen) != n)
		return -1;
	return 0;
}
