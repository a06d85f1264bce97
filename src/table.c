/* table.c: the user table: exact users in an open-addressing hash, number
 * blocks by longest prefix, the users_file loader, user normalisation. */
#include <sys/types.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "group.h"
#include "hash.h"
#include "netaddr.h"
#include "resolve.h"
#include "sipmsg.h"
#include "slice.h"
#include "table.h"

#define ARENA_BLOCK	(1024 * 1024)
#define MASK_BITS	64	/* prefix lengths 1..63 live in the mask */

/*
 * One hash slot: the entry index + 1 (0: empty) and, so that most probes
 * never touch the entry, the high bits of the hash with the key length in
 * the low byte (keys are at most TABLE_MAX_USER - 1 bytes).
 */
struct slot {
	uint32_t	 idx;
	uint32_t	 meta;
};

struct hmap {
	struct slot	*slots;
	size_t		 cap;		/* a power of two, or 0 */
	size_t		 n;
};

/* Strings are carved out of big blocks; a users_file buffer becomes one
 * whole block, its user and target strings NUL-terminated in place. */
struct ablock {
	struct ablock	*next;
	size_t		 used;
	size_t		 cap;
	char		 data[];
};

struct domprefix {
	uint64_t	 mask;		/* bit L: a prefix of length L */
	bool		 has_long;	/* one of MASK_BITS bytes or more */
};

struct host {
	const char	*name;		/* lower case */
	size_t		 len;
	uint16_t	 port;		/* hops only: effective port */
	uint8_t		 tp;		/* hops only: enum sip_transport */
	unsigned	 flags;		/* TABLE_HOST_* */
};

/* Distinct hosts, or (host, port, transport) triples, with a hash index. */
struct hostset {
	struct host	*v;
	uint32_t	 n;
	uint32_t	 cap;
	struct hmap	 map;		/* key -> v[] */
};

struct table {
	struct ablock	*blocks;

	struct table_entry *ents;
	uint32_t	 nents;
	uint32_t	 entcap;
	size_t		 nprefixes;

	struct hmap	 exact;		/* (domain, user) -> entry */
	struct hmap	 prefix;	/* (domain, prefix) -> entry */

	struct domprefix *dp;		/* by domain index */
	size_t		 ndp;

	struct hostset	 hosts;		/* target hosts, for DNS */
	struct hostset	 hops;		/* where active targets send to */

	const char	**files;	/* interned file names */
	size_t		 nfiles;

	const struct conf_group *groups;	/* borrowed from the conf */
	size_t		 ngroups;
	bool		 tls;		/* a TLS listener: TLS targets */
};

enum norm_fault {
	NORM_OK = 0,
	NORM_BAD_ESCAPE,
	NORM_TOO_LONG,
};

static const char *state_names[] = {
	[USER_ACTIVE] = "active",
	[USER_MOVED] = "moved",
	[USER_UNAVAILABLE] = "unavailable",
	[USER_GONE] = "gone",
};

/* ---- small helpers ---- */

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool
is_visual_sep(char c)
{
	return c == '-' || c == '.' || c == '(' || c == ')' || c == ' ';
}

/* The byte at raw[*i], %-escapes decoded (RFC 3261 §19.1.4); -1 when an
 * escape is not '%' and two hex digits. */
static int
decode_at(struct slice raw, size_t *i, char *c)
{
	int hi, lo;

	if (raw.p[*i] != '%') {
		*c = raw.p[(*i)++];
		return 0;
	}
	if (*i + 2 >= raw.len ||
	    (hi = hexval(raw.p[*i + 1])) < 0 ||
	    (lo = hexval(raw.p[*i + 2])) < 0)
		return -1;
	*c = (char)(hi << 4 | lo);
	*i += 3;
	return 0;
}

/* Optional '+', then digits and visual separators, at least one digit. */
static int
looks_phone(struct slice raw, bool *phone)
{
	size_t i = 0;
	bool digit = false, first = true;
	char c;

	*phone = false;
	while (i < raw.len) {
		if (decode_at(raw, &i, &c) == -1)
			return -1;
		if (c >= '0' && c <= '9')
			digit = true;
		else if (!(first && c == '+') && !is_visual_sep(c))
			return 0;
		first = false;
	}
	*phone = digit;
	return 0;
}

static ssize_t
normalise(struct slice raw, bool phone, char *out, size_t outlen,
    enum norm_fault *fault)
{
	size_t i = 0, n = 0;
	char c;

	while (i < raw.len) {
		if (decode_at(raw, &i, &c) == -1) {
			*fault = NORM_BAD_ESCAPE;
			return -1;
		}
		if (phone && is_visual_sep(c))
			continue;
		if (n >= outlen) {
			*fault = NORM_TOO_LONG;
			return -1;
		}
		out[n++] = c;
	}
	*fault = NORM_OK;
	return (ssize_t)n;
}

ssize_t
table_normalise_user(struct slice raw, bool phone, char *out, size_t outlen)
{
	enum norm_fault fault;

	return normalise(raw, phone, out, outlen, &fault);
}

/*
 * Normalise a user or prefix as written in the configuration into out
 * (TABLE_MAX_USER bytes, NUL-terminated). Telephone numbers lose their
 * visual separators whether or not anyone said user=phone, so that
 * "+1-555-0100" and "+15550100" are one entry.
 */
static ssize_t
normalise_config_user(struct slice raw, bool prefix, char *out, char *err,
    size_t errlen)
{
	const char *what = prefix ? "prefix" : "user";
	enum norm_fault fault;
	bool phone;
	ssize_t n;

	if (looks_phone(raw, &phone) == -1)
		fault = NORM_BAD_ESCAPE;
	else if ((n = normalise(raw, phone, out, TABLE_MAX_USER - 1,
	    &fault)) >= 0)
		fault = NORM_OK;
	if (fault == NORM_BAD_ESCAPE) {
		snprintf(err, errlen, "bad %%-escape in %s %.*s", what,
		    (int)raw.len, raw.p);
		return -1;
	}
	if (fault == NORM_TOO_LONG) {
		snprintf(err, errlen, "%s %.*s... too long (more than %d "
		    "bytes)", what, 32, raw.p, TABLE_MAX_USER - 1);
		return -1;
	}
	if (n == 0) {
		snprintf(err, errlen, "empty %s", what);
		return -1;
	}
	out[n] = '\0';
	return n;
}

/* A user for a message: non-printable bytes (a %00 kept) escaped again. */
static const char *
printable(const char *u, size_t len, char *buf, size_t buflen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i, n = 0;
	unsigned char c;

	for (i = 0; i < len && n + 4 < buflen; i++) {
		c = (unsigned char)u[i];
		if (c <= 0x20 || c >= 0x7f || c == '%') {
			buf[n++] = '%';
			buf[n++] = hex[c >> 4];
			buf[n++] = hex[c & 0xf];
		} else
			buf[n++] = (char)c;
	}
	buf[n] = '\0';
	return buf;
}

/* ---- arena ---- */

static char *
arena_alloc(struct table *t, size_t len)
{
	struct ablock *b = t->blocks;
	size_t cap;
	char *p;

	if (b == NULL || b->cap - b->used < len) {
		cap = len > ARENA_BLOCK / 4 ? len : ARENA_BLOCK;
		if ((b = malloc(sizeof(*b) + cap)) == NULL)
			return NULL;
		b->used = 0;
		b->cap = cap;
		if (t->blocks != NULL && cap != ARENA_BLOCK) {
			/* A big one-off string: keep the current block. */
			b->next = t->blocks->next;
			t->blocks->next = b;
		} else {
			b->next = t->blocks;
			t->blocks = b;
		}
	}
	p = b->data + b->used;
	b->used += len;
	return p;
}

static char *
arena_strndup(struct table *t, const char *s, size_t len)
{
	char *p;

	if ((p = arena_alloc(t, len + 1)) == NULL)
		return NULL;
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

static const char *
intern_file(struct table *t, const char *file)
{
	const char **nf, *p;
	size_t i;

	if (file == NULL)
		file = "";
	for (i = t->nfiles; i > 0; i--)
		if (t->files[i - 1] == file || strcmp(t->files[i - 1],
		    file) == 0)
			return t->files[i - 1];
	if ((p = arena_strndup(t, file, strlen(file))) == NULL)
		return NULL;
	if ((nf = realloc(t->files, (t->nfiles + 1) * sizeof(*nf))) == NULL)
		return NULL;
	t->files = nf;
	t->files[t->nfiles++] = p;
	return p;
}

/* ---- hashes ---- */

static uint64_t
key_start(uint16_t domain)
{
	unsigned char d[2] = { (unsigned char)(domain & 0xff),
	    (unsigned char)(domain >> 8) };

	return hash_bytes(HASH_SEED, d, sizeof(d));
}

static uint32_t
slot_meta(uint64_t h, size_t len)
{
	return ((uint32_t)(h >> 32) & ~(uint32_t)0xff) | (uint32_t)len;
}

/* Entry index + 1 of (domain, key) in m, 0 when absent. */
static uint32_t
hmap_find(const struct hmap *m, const struct table_entry *ents, uint64_t h,
    uint16_t domain, const char *key, size_t len)
{
	const struct table_entry *e;
	uint32_t meta = slot_meta(h, len);
	size_t i, mask;

	if (m->cap == 0)
		return 0;
	mask = m->cap - 1;
	for (i = h & mask; m->slots[i].idx != 0; i = (i + 1) & mask) {
		if (m->slots[i].meta != meta)
			continue;
		e = &ents[m->slots[i].idx - 1];
		if (e->domain == domain && memcmp(e->user, key, len) == 0)
			return m->slots[i].idx;
	}
	return 0;
}

static void
hmap_place(struct slot *slots, size_t cap, uint64_t h, uint32_t idx,
    uint32_t meta)
{
	size_t i, mask = cap - 1;

	for (i = h & mask; slots[i].idx != 0; i = (i + 1) & mask)
		;
	slots[i].idx = idx;
	slots[i].meta = meta;
}

/* Make room for more keys, keeping the load factor at or under 0.7.
 * rehash gives a slot's full hash back from what it indexes. */
static int
hmap_reserve(struct hmap *m, size_t more,
    uint64_t (*rehash)(const void *, const struct slot *), const void *arg)
{
	struct slot *ns;
	size_t i, ncap;

	if ((m->n + more) * 10 <= m->cap * 7)
		return 0;
	for (ncap = m->cap ? m->cap * 2 : 16; (m->n + more) * 10 > ncap * 7;)
		ncap *= 2;
	if ((ns = calloc(ncap, sizeof(*ns))) == NULL)
		return -1;
	for (i = 0; i < m->cap; i++)
		if (m->slots[i].idx != 0)
			hmap_place(ns, ncap, rehash(arg, &m->slots[i]),
			    m->slots[i].idx, m->slots[i].meta);
	free(m->slots);
	m->slots = ns;
	m->cap = ncap;
	return 0;
}

static uint64_t
rehash_entry(const void *arg, const struct slot *sl)
{
	const struct table *t = arg;
	const struct table_entry *e = &t->ents[sl->idx - 1];

	/* The user may hold a %00 byte: its length is kept in the slot. */
	return hash_final(hash_bytes(key_start(e->domain), e->user,
	    sl->meta & 0xff));
}

static uint64_t
host_hash(const char *p, size_t len, uint16_t port, uint8_t tp)
{
	unsigned char k[3] = { (unsigned char)(port >> 8),
	    (unsigned char)port, tp };

	return hash_final(hash_bytes(hash_bytes_nocase(HASH_SEED, p, len), k,
	    sizeof(k)));
}

static uint64_t
rehash_host(const void *arg, const struct slot *sl)
{
	const struct hostset *hs = arg;
	const struct host *ho = &hs->v[sl->idx - 1];

	return host_hash(ho->name, ho->len, ho->port, ho->tp);
}

static uint32_t
host_find(const struct hostset *hs, const char *p, size_t len, uint16_t port,
    uint8_t tp, uint64_t h)
{
	const struct hmap *m = &hs->map;
	const struct host *ho;
	size_t i, mask;

	if (m->cap == 0 || len == 0)
		return 0;
	mask = m->cap - 1;
	for (i = h & mask; m->slots[i].idx != 0; i = (i + 1) & mask) {
		if (m->slots[i].meta != (uint32_t)(h >> 32))
			continue;
		ho = &hs->v[m->slots[i].idx - 1];
		if (ho->len == len && ho->port == port && ho->tp == tp &&
		    strncasecmp(ho->name, p, len) == 0)
			return m->slots[i].idx;
	}
	return 0;
}

static int
host_add(struct table *t, struct hostset *hs, struct slice host,
    uint16_t port, uint8_t tp, unsigned flags)
{
	struct host *nh;
	uint64_t h = host_hash(host.p, host.len, port, tp);
	uint32_t ncap, idx;
	char *name;
	size_t i;

	if (host.len == 0)
		return 0;
	if ((idx = host_find(hs, host.p, host.len, port, tp, h)) != 0) {
		hs->v[idx - 1].flags |= flags;
		return 0;
	}
	if (hs->n == hs->cap) {
		ncap = hs->cap ? hs->cap * 2 : 16;
		if ((nh = realloc(hs->v, ncap * sizeof(*nh))) == NULL)
			return -1;
		hs->v = nh;
		hs->cap = ncap;
	}
	if (hmap_reserve(&hs->map, 1, rehash_host, hs) == -1 ||
	    (name = arena_strndup(t, host.p, host.len)) == NULL)
		return -1;
	for (i = 0; i < host.len; i++)
		name[i] = lower_ascii(name[i]);
	nh = &hs->v[hs->n++];
	nh->name = name;
	nh->len = host.len;
	nh->port = port;
	nh->tp = tp;
	nh->flags = flags;
	hmap_place(hs->map.slots, hs->map.cap, h, hs->n, (uint32_t)(h >> 32));
	hs->map.n++;
	return 0;
}

/*
 * The port and transport a URI sends to when it names none: 5060 over UDP
 * for sip:, 5061 over TLS for sips: (RFC 3261 §19.1.2, §26.2.2). The same
 * rule for table targets and for next hops, so both compare as written
 * or as defaulted alike.
 */
static void
hop_key(const struct sip_uri *u, uint16_t *port, uint8_t *tp)
{
	*tp = (uint8_t)(u->is_sips ? SIP_TP_TLS : u->transport != SIP_TP_NONE ?
	    u->transport : SIP_TP_UDP);
	*port = u->port != 0 ? u->port : *tp == SIP_TP_TLS ?
	    SIP_TLS_DEFAULT_PORT : SIP_DEFAULT_PORT;
}

static void
hostset_free(struct hostset *hs)
{
	free(hs->v);
	free(hs->map.slots);
}

/* ---- building ---- */

struct table *
table_new(void)
{
	return calloc(1, sizeof(struct table));
}

void
table_set_tls(struct table *t, bool tls)
{
	t->tls = tls;
}

void
table_free(struct table *t)
{
	struct ablock *b, *next;

	if (t == NULL)
		return;
	for (b = t->blocks; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
	free(t->ents);
	free(t->exact.slots);
	free(t->prefix.slots);
	free(t->dp);
	hostset_free(&t->hosts);
	hostset_free(&t->hops);
	free(t->files);
	free(t);
}

static const char *
article(enum user_state state)
{
	return state == USER_UNAVAILABLE || state == USER_ACTIVE ? "an" : "a";
}

/* Why an IPv4 address (network order) is no place to send to, or NULL. */
static const char *
bad_ipv4(const uint8_t a[4])
{
	if (a[0] == 255 && a[1] == 255 && a[2] == 255 && a[3] == 255)
		return "a broadcast address";
	if ((a[0] & 0xf0) == 224)
		return "a multicast address (224.0.0.0/4)";
	if (a[0] == 0)
		return "an unspecified address (0.0.0.0/8)";
	return NULL;
}

/*
 * Whether u can be a target (SPEC §7): its host an address a request can
 * go to, or a name DNS can be asked for; and for an active target, which
 * usher forwards to, a transport usher can send over: sips: and
 * transport=tls need a TLS listener (a moved one is only handed to the
 * caller). 0, or -1 with the problem in err.
 */
static int
target_check(const struct sip_uri *u, enum user_state state, bool tls,
    const char *target, int tshow, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	const uint8_t *a;
	const char *why = NULL;
	size_t alen;

	if (state == USER_ACTIVE && !tls && (u->is_sips ||
	    u->transport == SIP_TP_TLS)) {
		snprintf(err, errlen, "target \"%.*s\": %s needs TLS: add a "
		    "listen entry with transport = \"tls\" and a tls block",
		    tshow, target, u->is_sips ? "sips:" : "transport=tls");
		return -1;
	}
	if (netaddr_parse(u->host, 0, &ss) == 0) {
		a = netaddr_bytes(&ss, &alen);
		if (alen == 4)
			why = bad_ipv4(a);
		else if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)a))
			why = bad_ipv4(a + 12);
		else if (a[0] == 0xff)
			why = "a multicast address (ff00::/8)";
		else if (IN6_IS_ADDR_UNSPECIFIED((const struct in6_addr *)a))
			why = "the unspecified address (::)";
	} else if (!resolve_name_ok(u->host))
		why = "not a DNS name (labels of letters, digits, '-', '_', "
		    "at most 63 bytes each, 253 in all)";
	if (why != NULL) {
		snprintf(err, errlen, "target \"%.*s\": host is %s", tshow,
		    target, why);
		return -1;
	}
	return 0;
}

int
table_check_target(const char *target, size_t tlen, bool forward,
    bool tls, struct sip_uri *u, char *err, size_t errlen)
{
	const char *fault;
	int tshow = tlen > 80 ? 80 : (int)tlen;

	if (sipmsg_uri_parse(slice_make(target, tlen), u, &fault) == -1) {
		snprintf(err, errlen, "bad target \"%.*s\": not a valid SIP "
		    "URI", tshow, target);
		return -1;
	}
	if (!u->is_sip) {
		snprintf(err, errlen, "target \"%.*s\" is not a sip: or sips: "
		    "URI", tshow, target);
		return -1;
	}
	/* It becomes a Request-URI, where RFC 3261 §19.1.1 allows no
	 * escaped headers. */
	if (u->headers.len != 0) {
		snprintf(err, errlen, "target \"%.*s\" has escaped headers "
		    "(\"?...\")", tshow, target);
		return -1;
	}
	return target_check(u, forward ? USER_ACTIVE : USER_MOVED, tls,
	    target, tshow, err, errlen);
}

int
table_set_groups(struct table *t, const struct conf_group *groups,
    size_t ngroups)
{
	const struct group_member *m;
	uint16_t port;
	uint8_t tp;
	size_t i, j;

	t->groups = groups;
	t->ngroups = ngroups;
	for (i = 0; i < ngroups; i++)
		for (j = 0; j < groups[i].nmembers; j++) {
			m = &groups[i].members[j];
			hop_key(&m->uri, &port, &tp);
			if (host_add(t, &t->hosts, m->uri.host, 0, 0,
			    TABLE_HOST_FORWARD | (m->uri.port == 0 ?
			    TABLE_HOST_NO_PORT : 0)) == -1 ||
			    host_add(t, &t->hops, m->uri.host, port, tp,
			    0) == -1)
				return -1;
		}
	return 0;
}

/* "group:NAME" (tlen bytes): the index of group NAME, or -1 with err. */
static int
group_target(const struct table *t, const char *target, size_t tlen,
    enum user_state state, char *err, size_t errlen)
{
	const size_t plen = sizeof(TABLE_GROUP_PREFIX) - 1;
	const char *name = target + plen;
	size_t nlen = tlen - plen;
	int i, show = nlen > 80 ? 80 : (int)nlen;

	if (state != USER_ACTIVE) {
		snprintf(err, errlen, "a %s target cannot be a group "
		    "(\"%.*s\"): only active entries forward to one",
		    state_names[state], show + (int)plen, target);
		return -1;
	}
	if ((i = group_find(t->groups, t->ngroups, name, nlen)) >= 0)
		return i;
	snprintf(err, errlen, "unknown group \"%.*s\" (not in groups)", show,
	    name);
	return -1;
}

static bool
is_group_target(const char *target, size_t tlen)
{
	const size_t plen = sizeof(TABLE_GROUP_PREFIX) - 1;

	return tlen >= plen && strncasecmp(target, TABLE_GROUP_PREFIX,
	    plen) == 0;
}

/*
 * Check and insert one entry whose user (ulen bytes, NUL-terminated) is
 * already normalised. With copy, user and target are copied into the arena;
 * without, they already live in a block of t (a users_file buffer).
 */
static int
add_entry(struct table *t, const char *user, size_t ulen, bool prefix,
    uint16_t domain, enum user_state state, const char *target,
    size_t tlen, uint32_t retry_after, const char *file, uint32_t line,
    bool copy, char *err, size_t errlen)
{
	const char *what = prefix ? "prefix" : "user";
	struct hmap *m = prefix ? &t->prefix : &t->exact;
	struct table_entry *e, *ne;
	struct domprefix *ndp;
	struct sip_uri u;
	char pbuf[TABLE_MAX_USER * 3 + 1];
	uint64_t h;
	uint32_t idx, ncap;
	uint16_t port;
	uint8_t tp;
	size_t nd;
	int group = -1;

	if ((unsigned)state > USER_GONE) {
		snprintf(err, errlen, "bad state %d", (int)state);
		return -1;
	}
	if (target != NULL && tlen == 0)
		target = NULL;
	if ((state == USER_ACTIVE || state == USER_MOVED) && target == NULL) {
		snprintf(err, errlen, "%s %s %s needs a target",
		    article(state), state_names[state], what);
		return -1;
	}
	if ((state == USER_GONE || state == USER_UNAVAILABLE) &&
	    target != NULL) {
		snprintf(err, errlen, "target given for %s %s %s",
		    article(state), state_names[state], what);
		return -1;
	}
	if (retry_after != 0 && state != USER_UNAVAILABLE) {
		snprintf(err, errlen, "retry_after given for %s %s %s",
		    article(state), state_names[state], what);
		return -1;
	}
	memset(&u, 0, sizeof(u));
	if (target != NULL && is_group_target(target, tlen)) {
		/* SPEC §8: the member is chosen per request; its hosts went
		 * in with table_set_groups(). */
		if ((group = group_target(t, target, tlen, state, err,
		    errlen)) == -1)
			return -1;
	} else if (target != NULL && table_check_target(target, tlen,
	    state == USER_ACTIVE, t->tls, &u, err, errlen) == -1)
		return -1;

	h = hash_final(hash_bytes(key_start(domain), user, ulen));
	if ((idx = hmap_find(m, t->ents, h, domain, user, ulen)) != 0) {
		e = &t->ents[idx - 1];
		snprintf(err, errlen, "duplicate %s %s (first at %s:%u)", what,
		    printable(user, ulen, pbuf, sizeof(pbuf)), e->file,
		    e->line);
		return -1;
	}

	if (t->nents == UINT32_MAX - 1) {
		snprintf(err, errlen, "too many entries");
		return -1;
	}
	if (t->nents == t->entcap) {
		ncap = t->entcap ? t->entcap * 2 : 1024;
		if ((ne = realloc(t->ents, (size_t)ncap * sizeof(*ne))) == NULL)
			goto nomem;
		t->ents = ne;
		t->entcap = ncap;
	}
	if (prefix && domain >= t->ndp) {
		nd = (size_t)domain + 1;
		if ((ndp = realloc(t->dp, nd * sizeof(*ndp))) == NULL)
			goto nomem;
		memset(ndp + t->ndp, 0, (nd - t->ndp) * sizeof(*ndp));
		t->dp = ndp;
		t->ndp = nd;
	}
	if (hmap_reserve(m, 1, rehash_entry, t) == -1)
		goto nomem;
	if ((file = intern_file(t, file)) == NULL)
		goto nomem;
	if (copy) {
		if ((user = arena_strndup(t, user, ulen)) == NULL ||
		    (target != NULL &&
		    (target = arena_strndup(t, target, tlen)) == NULL))
			goto nomem;
	}
	if (u.host.len != 0 && host_add(t, &t->hosts, u.host, 0, 0,
	    state != USER_ACTIVE ? 0 : TABLE_HOST_FORWARD |
	    (u.port == 0 ? TABLE_HOST_NO_PORT : 0)) == -1)
		goto nomem;
	if (u.host.len != 0 && state == USER_ACTIVE) {
		hop_key(&u, &port, &tp);
		if (host_add(t, &t->hops, u.host, port, tp, 0) == -1)
			goto nomem;
	}

	e = &t->ents[t->nents++];
	e->user = user;
	e->target = target;
	e->file = file;
	e->line = line;
	e->retry_after = retry_after;
	e->domain = domain;
	e->state = (uint8_t)state;
	e->is_prefix = prefix;
	e->target_has_user = u.user.len != 0;
	e->group = group >= 0 ? (uint16_t)group : TABLE_NO_GROUP;
	hmap_place(m->slots, m->cap, h, t->nents, slot_meta(h, ulen));
	m->n++;
	if (prefix) {
		t->nprefixes++;
		if (ulen < MASK_BITS)
			t->dp[domain].mask |= (uint64_t)1 << ulen;
		else
			t->dp[domain].has_long = true;
	}
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
	return -1;
}

int
table_add(struct table *t, const char *user, bool prefix, uint16_t domain,
    enum user_state state, const char *target, uint32_t retry_after,
    const char *file, uint32_t line, char *err, size_t errlen)
{
	char nu[TABLE_MAX_USER];
	ssize_t n;

	if (user == NULL)
		user = "";
	if ((n = normalise_config_user(slice_make(user, strlen(user)), prefix,
	    nu, err, errlen)) < 0)
		return -1;
	return add_entry(t, nu, (size_t)n, prefix, domain, state, target,
	    target ? strlen(target) : 0, retry_after, file, line, true, err,
	    errlen);
}

/* ---- users_file ---- */

static int
state_parse_n(const char *p, size_t len, enum user_state *state)
{
	size_t i;

	for (i = 0; i < sizeof(state_names) / sizeof(state_names[0]); i++)
		if (strlen(state_names[i]) == len &&
		    strncasecmp(state_names[i], p, len) == 0) {
			*state = (enum user_state)i;
			return 0;
		}
	return -1;
}

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Read the whole file into a new arena block, one spare byte at its end. */
static struct ablock *
read_whole(const char *path, char *err, size_t errlen)
{
	struct ablock *b = NULL;
	struct stat st;
	size_t size, got = 0;
	ssize_t r;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto bad;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto bad;
	}
	size = (size_t)st.st_size;
	if ((b = malloc(sizeof(*b) + size + 1)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto bad;
	}
	while (got < size) {
		if ((r = read(fd, b->data + got, size - got)) == -1) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			goto bad;
		}
		if (r == 0)	/* it shrank while we read */
			break;
		got += (size_t)r;
	}
	b->data[got] = '\0';
	b->used = b->cap = got + 1;
	close(fd);
	return b;
bad:
	free(b);
	close(fd);
	return NULL;
}

/* Size the entry array and the exact hash for one entry a line at once:
 * growing them step by step costs a rehash of everything each time. */
static int
reserve(struct table *t, const char *p, const char *end)
{
	struct table_entry *ne;
	size_t lines = 1;

	while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		lines++;
		p++;
	}
	if (lines > UINT32_MAX / 2 - t->nents)
		return -1;
	if (t->nents + lines > t->entcap) {
		if ((ne = realloc(t->ents, (t->nents + lines) *
		    sizeof(*ne))) == NULL)
			return -1;
		t->ents = ne;
		t->entcap = (uint32_t)(t->nents + lines);
	}
	return hmap_reserve(&t->exact, lines, rehash_entry, t);
}

/* USER@DOMAIN STATE [TARGET] [retry_after=N] */
#define MAX_TOKENS	4

/* "retry_after=N": N decimal, fits in 32 bits. */
static int
parse_retry(struct slice tok, uint32_t *retry)
{
	uint64_t v = 0;
	size_t i;

	if (tok.len == 12 || tok.len > 12 + 10)
		return -1;
	for (i = 12; i < tok.len; i++) {
		if (tok.p[i] < '0' || tok.p[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(tok.p[i] - '0');
	}
	if (v > UINT32_MAX)
		return -1;
	*retry = (uint32_t)v;
	return 0;
}

static bool
is_retry(struct slice tok)
{
	return tok.len >= 12 && memcmp(tok.p, "retry_after=", 12) == 0;
}

/* Split [p, end) at blanks into at most MAX_TOKENS fields; -1 if more. */
static int
split_fields(const char *p, const char *end, struct slice *tok, size_t *ntok)
{
	const char *s;

	for (*ntok = 0;;) {
		while (p < end && is_blank(*p))
			p++;
		if (p >= end)
			return 0;
		if (*ntok == MAX_TOKENS)
			return -1;
		for (s = p; p < end && !is_blank(*p); p++)
			;
		tok[(*ntok)++] = slice_make(s, (size_t)(p - s));
	}
}

/*
 * One users_file line, its comment cut off. The normalised user is written
 * back where it was and the target NUL-terminated in place: the buffer is
 * an arena block of t, so the entry points straight into it.
 */
static int
load_line(struct table *t, const char *p, const char *end, const char *file,
    uint32_t line, table_domain_fn domain_fn, void *arg, char *why,
    size_t whylen)
{
	struct slice tok[MAX_TOKENS], ru, dom;
	enum user_state state;
	struct slice target = SLICE_NULL;
	char nu[TABLE_MAX_USER];
	uint32_t retry = 0;
	const char *at;
	bool prefix, has_retry = false;
	size_t ntok, i;
	ssize_t n;
	int d;

	/* Users and targets become C strings: a raw NUL would cut them
	 * short without a word (an escaped %00 is fine). */
	if (memchr(p, '\0', (size_t)(end - p)) != NULL) {
		snprintf(why, whylen, "NUL byte in line");
		return -1;
	}
	if (split_fields(p, end, tok, &ntok) == -1) {
		snprintf(why, whylen, "too many fields (USER@DOMAIN STATE "
		    "[TARGET] [retry_after=N])");
		return -1;
	}
	if (ntok == 0)
		return 0;
	/* The user part may hold an '@' of its own. */
	if ((at = memrchr(tok[0].p, '@', tok[0].len)) == NULL) {
		snprintf(why, whylen, "missing @DOMAIN in \"%.*s\"",
		    (int)tok[0].len, tok[0].p);
		return -1;
	}
	ru = slice_make(tok[0].p, (size_t)(at - tok[0].p));
	if ((prefix = ru.len > 0 && ru.p[ru.len - 1] == '*'))
		ru.len--;
	dom = slice_make(at + 1, (size_t)(tok[0].p + tok[0].len - (at + 1)));
	if (dom.len == 0) {
		snprintf(why, whylen, "empty domain in \"%.*s\"",
		    (int)tok[0].len, tok[0].p);
		return -1;
	}
	if ((d = domain_fn(arg, dom.p, dom.len)) < 0 || d > UINT16_MAX) {
		snprintf(why, whylen, "unknown domain \"%.*s\"", (int)dom.len,
		    dom.p);
		return -1;
	}
	if (ntok < 2) {
		snprintf(why, whylen, "missing state after \"%.*s\"",
		    (int)tok[0].len, tok[0].p);
		return -1;
	}
	if (state_parse_n(tok[1].p, tok[1].len, &state) == -1) {
		snprintf(why, whylen, "unknown state \"%.*s\" (active, moved, "
		    "unavailable, gone)", (int)tok[1].len, tok[1].p);
		return -1;
	}
	for (i = 2; i < ntok; i++) {
		if (is_retry(tok[i]) && !has_retry) {
			if (parse_retry(tok[i], &retry) == -1) {
				snprintf(why, whylen, "bad retry_after "
				    "\"%.*s\"", (int)tok[i].len, tok[i].p);
				return -1;
			}
			if (state != USER_UNAVAILABLE) {
				snprintf(why, whylen, "retry_after given for "
				    "%s %s %s", article(state),
				    state_names[state],
				    prefix ? "prefix" : "user");
				return -1;
			}
			has_retry = true;
		} else if (target.p == NULL && !has_retry)
			target = tok[i];
		else {
			snprintf(why, whylen, "unexpected \"%.*s\"",
			    (int)tok[i].len, tok[i].p);
			return -1;
		}
	}
	if ((n = normalise_config_user(ru, prefix, nu, why, whylen)) < 0)
		return -1;
	/* Normalising never lengthens, and the byte after each field is a
	 * blank, a '#', a line end or the spare byte at the buffer's end. */
	memcpy((char *)ru.p, nu, (size_t)n + 1);
	if (target.p != NULL)
		((char *)target.p)[target.len] = '\0';
	return add_entry(t, ru.p, (size_t)n, prefix, (uint16_t)d, state,
	    target.p, target.len, retry, file, line, false, why, whylen);
}

/* The one users_file parser: b is a whole file's bytes in an arena block
 * (one spare byte at its end); the table owns b from here on. */
static int
load_block(struct table *t, const char *name, struct ablock *b,
    table_domain_fn domain_fn, void *arg, char *err, size_t errlen)
{
	const char *file, *p, *end, *le, *stop;
	char why[256];
	uint32_t line = 0;

	/* The buffer holds the entries' strings from now on. */
	if (t->blocks != NULL) {
		b->next = t->blocks->next;
		t->blocks->next = b;
	} else {
		b->next = NULL;
		t->blocks = b;
	}
	end = b->data + b->used - 1;
	if ((file = intern_file(t, name)) == NULL ||
	    reserve(t, b->data, end) == -1) {
		snprintf(err, errlen, "%s: out of memory", name);
		return -1;
	}
	for (p = b->data; p < end; p = le + 1) {
		line++;
		if ((le = memchr(p, '\n', (size_t)(end - p))) == NULL)
			le = end;
		/* '#' cannot appear unescaped in a user or a SIP URI. */
		if ((stop = memchr(p, '#', (size_t)(le - p))) == NULL)
			stop = le;
		if (load_line(t, p, stop, file, line, domain_fn, arg, why,
		    sizeof(why)) == -1) {
			snprintf(err, errlen, "%s:%u: %s", name, line, why);
			return -1;
		}
	}
	return 0;
}

int
table_load_file(struct table *t, const char *path, table_domain_fn domain_fn,
    void *arg, char *err, size_t errlen)
{
	struct ablock *b;

	if ((b = read_whole(path, err, errlen)) == NULL)
		return -1;
	return load_block(t, path, b, domain_fn, arg, err, errlen);
}

int
table_load_buffer(struct table *t, const char *name, const char *buf,
    size_t len, table_domain_fn domain_fn, void *arg, char *err,
    size_t errlen)
{
	struct ablock *b;

	if ((b = malloc(sizeof(*b) + len + 1)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", name);
		return -1;
	}
	memcpy(b->data, buf, len);
	b->data[len] = '\0';
	b->used = b->cap = len + 1;
	return load_block(t, name, b, domain_fn, arg, err, errlen);
}

/* ---- lookup ---- */

const struct table_entry *
table_lookup(const struct table *t, uint16_t domain, const char *user,
    size_t len)
{
	const struct domprefix *dp;
	uint64_t st[TABLE_MAX_USER], h, mask;
	uint32_t idx;
	size_t i, l, max;

	if (t == NULL || len == 0)
		return NULL;
	if (len < TABLE_MAX_USER) {
		h = hash_final(hash_bytes(key_start(domain), user, len));
		if ((idx = hmap_find(&t->exact, t->ents, h, domain, user,
		    len)) != 0)
			return &t->ents[idx - 1];
	}
	if (domain >= t->ndp)
		return NULL;
	dp = &t->dp[domain];
	if (dp->mask == 0 && !dp->has_long)
		return NULL;

	/* FNV runs forward: keep its state after every length once, so
	 * each prefix probe costs one finalisation. */
	max = len < TABLE_MAX_USER - 1 ? len : TABLE_MAX_USER - 1;
	if (!dp->has_long && max >= MASK_BITS)
		max = MASK_BITS - 1;
	st[0] = key_start(domain);
	for (i = 0; i < max; i++)
		st[i + 1] = hash_bytes(st[i], user + i, 1);
	for (l = max; l > 0; l--) {
		if (l < MASK_BITS) {
			mask = dp->mask & (((uint64_t)2 << l) - 1);
			if (mask == 0)
				break;
			/* Jump to the longest length still present. */
			l = 63 - (size_t)__builtin_clzll(mask);
		}
		if ((idx = hmap_find(&t->prefix, t->ents, hash_final(st[l]),
		    domain, user, l)) != 0)
			return &t->ents[idx - 1];
	}
	return NULL;
}

bool
table_is_next_hop(const struct table *t, const struct sip_uri *u)
{
	uint16_t port;
	uint8_t tp;

	if (t == NULL || !u->is_sip || u->host.len == 0)
		return false;
	hop_key(u, &port, &tp);
	return host_find(&t->hops, u->host.p, u->host.len, port, tp,
	    host_hash(u->host.p, u->host.len, port, tp)) != 0;
}

bool
table_target_host(const struct table *t, size_t i, struct slice *host,
    unsigned *flags)
{
	if (t == NULL || i >= t->hosts.n)
		return false;
	*host = slice_make(t->hosts.v[i].name, t->hosts.v[i].len);
	*flags = t->hosts.v[i].flags;
	return true;
}

const struct table_entry *
table_entry_at(const struct table *t, size_t i)
{
	return t != NULL && i < t->nents ? &t->ents[i] : NULL;
}

size_t
table_count(const struct table *t)
{
	return t ? t->nents : 0;
}

size_t
table_count_prefixes(const struct table *t)
{
	return t ? t->nprefixes : 0;
}

const char *
table_state_name(enum user_state state)
{
	if ((unsigned)state >= sizeof(state_names) / sizeof(state_names[0]))
		return "unknown";
	return state_names[state];
}

int
table_state_parse(const char *name, enum user_state *state)
{
	if (name == NULL)
		return -1;
	return state_parse_n(name, strlen(name), state);
}
