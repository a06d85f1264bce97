/* route.h: the routing core. route_decide() is a pure function from a
 * scanned message, its source, the configuration and the user table to a
 * decision: no I/O, no allocation, no clock, no logging. -T, the daemon and
 * the unit tests all call it. */
#ifndef USHER_ROUTE_H
#define USHER_ROUTE_H

#include <sys/types.h>
#include <sys/socket.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "sipmsg.h"
#include "slice.h"
#include "table.h"

enum route_action {
	ROUTE_REPLY = 0,	/* answer locally: code, reason, extras */
	ROUTE_FORWARD,		/* send the request on to next_hop */
	ROUTE_RELAY,		/* a response to us: strip our Via, send on */
	ROUTE_DROP,		/* say nothing; count under drop_reason */
};

/* Which row of SPEC §3 (or which "Other requests" bullet) applied. */
enum route_rule {
	RULE_ACTIVE = 0,	/* active user: forward, or 302 in redirect mode */
	RULE_MOVED,		/* 301 */
	RULE_UNAVAILABLE,	/* 480 */
	RULE_GONE_AUTH,		/* 604: gone, authoritative domain */
	RULE_GONE_NONAUTH,	/* 404: gone, domain not authoritative */
	RULE_UNKNOWN_COMPLETE,	/* 604: unknown user, complete domain */
	RULE_UNKNOWN,		/* 404: unknown user */
	RULE_SELF_OPTIONS,	/* OPTIONS to the proxy itself: 200 */
	RULE_SELF_OTHER,	/* other method to the proxy itself: 404 */
	RULE_ROUTE_NEXT,	/* our Route removed, forward to the next Route */
	RULE_ROUTE_UNTRUSTED,	/* next Route not allowed from this source: 403 */
	RULE_FOREIGN_TRUSTED,	/* foreign domain from a trusted source: forward */
	RULE_FOREIGN_UNTRUSTED,	/* foreign domain, untrusted or redirect: 403 */
	RULE_MAX_FORWARDS,	/* 483 */
	RULE_LOOP,		/* 482 */
	RULE_PROXY_REQUIRE,	/* 420 + Unsupported */
	RULE_SCHEME,		/* 416 */
	RULE_VERSION,		/* 505 */
	RULE_BAD_REQUEST,	/* 400 naming the fault */
	RULE_UNPARSABLE,	/* too broken to answer: drop (parse) */
	RULE_SCANNER,		/* blocked User-Agent: drop (scanner) */
	RULE_RESPONSE_OURS,	/* response with our top Via: relay */
	RULE_RESPONSE_NOT_OURS,	/* response whose top Via is not ours: drop */
	RULE_GROUP_DOWN,	/* group target, no member usable: 503 */
	RULE_PROBE_ANSWER,	/* an answer to our health probe: the daemon
				 * takes it before route_decide (SPEC §8);
				 * -T names it */
	RULE__COUNT
};

struct route_decision {
	enum route_action	 action;
	enum route_rule		 rule;
	/* ROUTE_REPLY: the answer. An ACK or CANCEL that would get it is
	 * dropped instead (RFC 3261 §8.2.7): action DROP, drop_reason
	 * "local_ack", code and reason kept for the trace. */
	unsigned		 code;
	const char		*reason;	/* static */
	const char		*drop_reason;	/* metrics label for ROUTE_DROP */

	/* What the decision looked at, for -T and the debug trace. */
	char			 user[TABLE_MAX_USER];	/* normalised user */
	size_t			 user_len;
	bool			 user_from_to;	/* REGISTER: taken from To */
	bool			 strict_route;	/* R-URI := last Route (§16.4) */
	bool			 self;		/* R-URI is this proxy */
	int			 domain;	/* index into conf->domains, -1 */
	bool			 domain_alias;	/* matched by an alias */
	const struct table_entry *entry;	/* NULL when not in the table */
	int			 trusted;	/* trusted entry of the source, -1 */

	/* Extras of a local reply. */
	uint32_t		 retry_after;	/* 480: 0 = none */
	bool			 contact;	/* 3xx: Contact: <target> */
	bool			 options_caps;	/* 200 to OPTIONS: Allow, ... */
	bool			 unsupported;	/* 420: every Proxy-Require tag */

	/* SPEC §8: the entry's target is a group (NULL: a plain target).
	 * member: the one chosen (group_choose), -1 when none is usable;
	 * redirect mode: every usable member, best first, in ranked. */
	const struct conf_group	*group;
	int			 member;
	unsigned		 nranked;
	uint8_t			 ranked[GROUP_MAX_MEMBERS];

	/* Forwarding (and 3xx Contact) target. */
	bool			 rewrite_ruri;	/* R-URI becomes the target */
	unsigned		 pop_routes;	/* leading Route values that are ours */
	struct slice		 next_hop;	/* URI to send to (as written) */
	struct sip_uri		 next_hop_uri;
	/* Our Via's branch is z9hG4bK<h1>.<h2>. branch_h1 here is the
	 * keyed hash of the top Via as received (route_via_h1), the same for
	 * a CANCEL as for its INVITE: resolve_pick() chooses by it.
	 * forward_request() writes the H1 of that Via as it leaves. */
	uint64_t		 branch_h1;
	uint64_t		 branch_h2;	/* loop detection (SPEC §3) */
};

/*
 * Decide what to do with m, whose scan returned scan_rc (bytes, or -1 with
 * m->fault set), received from src. Fills d completely. Pure: the same input
 * always gives the same decision.
 */
void	route_decide(const struct sipmsg *m, int scan_rc,
	    const struct sockaddr *src, const struct conf *conf,
	    struct route_decision *d);

/*
 * Write the URI a decision points to (the Contact of a 3xx, the new
 * Request-URI of a forward): the entry's target, with the dialled user put in
 * when a number-block target has none (SPEC §2); for a group target, the
 * chosen member's (route_member_uri). Returns the length, or -1
 * when it does not fit.
 */
ssize_t	route_target_uri(const struct route_decision *d,
	    const struct sipmsg *m, char *out, size_t outlen);

/*
 * route_target_uri() for member i of the decision's group (d->group set):
 * its target with the dialled user put in (SPEC §8). Length or -1.
 */
ssize_t	route_member_uri(const struct route_decision *d, int i,
	    char *out, size_t outlen);

/* Write our Via branch ("z9hG4bK" + 16 hex + "." + 16 hex) into out, which
 * must hold ROUTE_BRANCH_LEN bytes. */
#define ROUTE_BRANCH_LEN	40
void	route_branch(const struct route_decision *d, char *out);
void	route_branch_text(uint64_t h1, uint64_t h2, char *out);

/*
 * SPEC §7: H1 of the branch of our Via that sits above v, the Via of m
 * below ours as usher forwarded it: SipHash-2-4 under conf->branch_key of
 * length-prefixed fields: "b" and v's branch when it starts with z9hG4bK,
 * else "2", Call-ID, From tag and the CSeq number (RFC 2543, what a
 * response carries too); then v's transport, sent-by host and port,
 * received and rport (present, value) as they stand. A response is relayed
 * only when its top Via is ours and holds route_via_h1() of its second.
 */
uint64_t route_via_h1(const struct sipmsg *m, const struct sip_via *v,
	    const struct conf *conf);

const char	*route_rule_name(enum route_rule rule);
const char	*route_action_name(enum route_action action);

#endif
