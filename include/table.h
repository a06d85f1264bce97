/* table.h: the user table: exact users in an open-addressing hash, number
 * blocks by longest prefix, the users_file loader, user normalisation. Built
 * once, then read-only and shared by every worker without locks. */
#ifndef USHER_TABLE_H
#define USHER_TABLE_H

#include <sys/types.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slice.h"

#define TABLE_MAX_USER	128	/* bytes of a normalised user part */
#define TABLE_NO_GROUP	0xffff	/* table_entry.group: a plain target */
#define TABLE_MAX_GROUPS	4096	/* groups a table can name */
#define TABLE_GROUP_PREFIX	"group:"

enum user_state {
	USER_ACTIVE = 0,
	USER_MOVED,
	USER_UNAVAILABLE,
	USER_GONE,
};

struct table_entry {
	const char	*user;		/* normalised user or prefix, NUL-terminated */
	const char	*target;	/* target URI, NUL-terminated; NULL: none */
	const char	*file;		/* where it was defined (config or users_file) */
	uint32_t	 line;
	uint32_t	 retry_after;	/* seconds; 0: no Retry-After */
	uint16_t	 domain;	/* index into conf->domains */
	uint16_t	 group;		/* group:NAME target: its index in
					 * conf->groups, else TABLE_NO_GROUP */
	uint8_t		 state;		/* enum user_state */
	uint8_t		 is_prefix;	/* a number block: "+1555*" */
	uint8_t		 target_has_user; /* target URI has a user part */
};

/* Maps a domain name to its index in the configuration; -1 if unknown. */
typedef int (*table_domain_fn)(void *arg, const char *name, size_t len);

struct conf_group;
struct sip_uri;

struct table	*table_new(void);
void		 table_free(struct table *t);

/*
 * The groups (SPEC §8) that "group:NAME" targets may name, before any entry
 * is added: borrowed, they must outlive the table (the conf owns both).
 * Their members' hosts join the target hosts (table_target_host) and their
 * (host, port, transport) the next hops (table_is_next_hop). 0, or -1 out
 * of memory.
 */
int	table_set_groups(struct table *t, const struct conf_group *groups,
	    size_t ngroups);

/*
 * Check a target URI of len bytes as table_add() checks one (a sip: or
 * sips: URI, no escaped headers, a host that is an address one can send
 * to or a DNS name; forward: usher sends there) and parse it into u
 * (slices into target). 0, or -1 with the problem in err, naming the
 * target.
 */
int	table_check_target(const char *target, size_t len, bool forward,
	    struct sip_uri *u, char *err, size_t errlen);

/*
 * Add one entry. user is as written in the configuration (it is normalised
 * here: %-unescaped, and visual separators removed from telephone numbers);
 * prefix marks a number block. state ACTIVE and MOVED need a sip/sips target;
 * an ACTIVE one may be "group:NAME", a group given to table_set_groups().
 * file must outlive the table (it is interned). Returns 0, or -1 with the
 * problem in err (no file:line prefix: the caller knows where it is), e.g.
 * "duplicate user alice (first at usher.conf:40)".
 */
int	table_add(struct table *t, const char *user, bool prefix,
	    uint16_t domain, enum user_state state, const char *target,
	    uint32_t retry_after, const char *file, uint32_t line,
	    char *err, size_t errlen);

/*
 * Load a users_file (SPEC §2): "USER@DOMAIN STATE [TARGET] [retry_after=N]"
 * or "+PREFIX*@DOMAIN active TARGET", '#' comments, blank lines. Domains are
 * resolved with domain_fn. Returns 0, or -1 with "path:line: problem" in err.
 */
int	table_load_file(struct table *t, const char *path,
	    table_domain_fn domain_fn, void *arg, char *err, size_t errlen);

/*
 * The same parser over bytes in memory (a copy is kept by the table); name
 * stands for the path in entries and errors ("redis:v43:12: problem").
 */
int	table_load_buffer(struct table *t, const char *name, const char *buf,
	    size_t len, table_domain_fn domain_fn, void *arg, char *err,
	    size_t errlen);

/* Exact entry for (domain, normalised user), else the longest prefix entry
 * of that domain that the user starts with, else NULL. No allocation. */
const struct table_entry *table_lookup(const struct table *t, uint16_t domain,
	    const char *user, size_t len);

/*
 * Normalise a user part as it appears in a URI: %-unescape it (RFC 3261
 * §19.1.4) and, when phone is true, remove the visual separators "-.()" and
 * spaces. Returns the length written to out, or -1 when the escape is bad or
 * the result does not fit in outlen.
 */
ssize_t	table_normalise_user(struct slice raw, bool phone, char *out,
	    size_t outlen);

/*
 * true when u names the host (case-insensitive), port and transport of an
 * active entry's target, each as written or defaulted alike (5060 over UDP
 * for sip:, 5061 over TLS for sips:): from an untrusted source, in-dialog
 * requests may go only there (SPEC §7). Moved targets are no next hops.
 */
bool	table_is_next_hop(const struct table *t, const struct sip_uri *u);

/* The i-th distinct target host (0-based, as written, lower case): false
 * past the last. flags: TABLE_HOST_FORWARD when an active entry forwards
 * there, TABLE_HOST_NO_PORT when one of those targets has no port (so
 * RFC 3263 asks for SRV). The host is valid as long as the table. */
#define TABLE_HOST_FORWARD	0x1
#define TABLE_HOST_NO_PORT	0x2
bool	table_target_host(const struct table *t, size_t i, struct slice *host,
	    unsigned *flags);

/* The i-th entry in load order (configuration, then users_file), NULL
 * past the last: the same input gives the same order. */
const struct table_entry *table_entry_at(const struct table *t, size_t i);
size_t	table_count(const struct table *t);	/* entries, prefixes included */
size_t	table_count_prefixes(const struct table *t);

const char *table_state_name(enum user_state state);
int	table_state_parse(const char *name, enum user_state *state);

#endif
