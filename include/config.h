/* config.h: the configuration file (libconfig) turned into a validated,
 * read-only struct conf that owns the user table. A reload builds a new one
 * beside the old; workers hold references (config_ref/config_unref). */
#ifndef USHER_CONFIG_H
#define USHER_CONFIG_H

#include <sys/types.h>
#include <sys/socket.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "group.h"
#include "log.h"
#include "siphash.h"
#include "slice.h"
#include "sipmsg.h"

/* CMake passes the install's sysconfdir (SPEC §10: `cmake --install` then
 * `usher -t` finds the sample); this is for builds without it. */
#ifndef CONFIG_DEFAULT_PATH
#define CONFIG_DEFAULT_PATH	"/etc/usher/usher.conf"
#endif
#define CONFIG_MAX_DNS_SERVERS	4
#define CONFIG_DNS_REFRESH	300	/* seconds, dns.refresh default */
/* Unsent TCP bytes of all connections together (SPEC §7); also the
 * largest tcp_max_queue. */
#define CONFIG_TCP_QUEUE_TOTAL	(64 * 1024 * 1024)

enum conf_mode {
	MODE_PROXY = 0,
	MODE_REDIRECT,
};

struct conf_listen {
	enum sip_transport	 transport;	/* SIP_TP_UDP, _TCP or _TLS */
	char			 address[64];	/* as written, IP literal */
	uint16_t		 port;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
};

struct conf_cidr {
	char		 text[64];	/* as written, for -T and logs */
	int		 family;	/* AF_INET or AF_INET6 */
	uint8_t		 addr[16];	/* network address, host bits cleared */
	unsigned	 bits;
};

struct conf_domain {
	char		*name;		/* lower case */
	bool		 authoritative;
	bool		 complete;
	char		**aliases;	/* lower case */
	size_t		 naliases;
	uint32_t	 line;
};

/* table_source (SPEC §11): where the users_file part of the table comes
 * from. */
enum conf_source_type {
	SOURCE_FILE = 0,	/* users_file, as always */
	SOURCE_REDIS,		/* a version published to Redis */
};

#define CONFIG_MAX_REDIS	8

struct conf_source {
	enum conf_source_type	 type;
	char			*hosts[CONFIG_MAX_REDIS]; /* as written */
	uint16_t		 ports[CONFIG_MAX_REDIS];
	size_t			 nservers;
	char			*prefix;	/* "usher:" */
	char			*password_file;	/* or NULL */
	unsigned		 poll_interval;		/* s */
	unsigned		 connect_timeout_ms;
	unsigned		 command_timeout_ms;
	char			*cache_file;	/* resolved; required */
};

/* tls = { ... } (SPEC §9). Paths resolved against the config file's
 * folder; NULL when not set. A reload re-reads certificate and key. */
enum conf_tls_version {
	CONF_TLS_1_2 = 0,
	CONF_TLS_1_3,
};

struct conf_tls {
	char		*certificate;	/* PEM: leaf first, then the chain */
	char		*private_key;
	char		*ca_file;	/* to verify peers; NULL: system store */
	bool		 verify_client;	/* default false */
	bool		 verify_server;	/* default true */
	enum conf_tls_version min_version;	/* default 1.2 */
	unsigned	 handshake_timeout;	/* seconds, default 5 */
};

/* A table version in memory, parsed as if it were users_file. */
struct conf_snapshot {
	const char	*name;		/* "redis:v43": errors and -T */
	const char	*buf;
	size_t		 len;
	uint64_t	 version;
};

struct conf {
	atomic_int		 refs;
	char			*path;		/* the config file */

	struct conf_listen	*listen;
	size_t			 nlisten;
	enum conf_mode		 mode;
	char			*advertise;	/* NULL when not set */
	bool			 record_route;
	char			*branch_secret;	/* "" when not set */
	/* SPEC §7: the key of H1 in our branches, from branch_secret, else
	 * /etc/machine-id, else random; kept by a reload that leaves
	 * branch_secret as it was, so responses in flight still match. */
	uint8_t			 branch_key[SIPHASH_KEY_LEN];
	bool			 branch_key_random;	/* neither was there */
	int			 workers;	/* 0: one per core */
	struct conf_cidr	*trusted;
	size_t			 ntrusted;
	enum log_level		 log_level;

	char			*pidfile;	/* default /run/usher/usher.pid */
	bool			 pidfile_set;	/* daemon.pidfile written */
	char			*user;		/* daemon.user, NULL: keep */
	char			*group;

	size_t			 max_message_size;
	unsigned		 tcp_max_connections;
	unsigned		 tcp_idle_timeout;
	unsigned		 tcp_max_per_source;	/* 0: no limit */
	unsigned		 tcp_max_outgoing;	/* own pool */
	size_t			 tcp_max_queue;		/* per conn */
	unsigned		 rate_per_source;	/* 0: no limit */
	unsigned		 ban_time;

	char			**block_ua;	/* lower case substrings */
	size_t			 nblock_ua;

	char			*control_socket;	/* NULL: no control */

	/* capture.hep (SPEC §10): the HEPv3 collector; capture_id its
	 * capture agent id. capture_hep[0] == '\0': no capture. */
	char			 capture_hep[96];	/* as written */
	struct sockaddr_storage	 capture_addr;
	socklen_t		 capture_addrlen;
	uint32_t		 capture_id;

	struct conf_tls		 tls;
	bool			 has_tls_listener;	/* a listen entry is tls */

	bool			 metrics;
	char			 metrics_address[64];
	uint16_t		 metrics_port;

	/* dns.servers, with their ports; none: /etc/resolv.conf and
	 * getaddrinfo() */
	struct sockaddr_storage	 dns_servers[CONFIG_MAX_DNS_SERVERS];
	size_t			 ndns_servers;
	unsigned		 dns_refresh;	/* seconds; 0: at load only */

	struct conf_domain	*domains;
	size_t			 ndomains;
	/* groups = ( ... ) (SPEC §8), as written; a table entry whose
	 * target is "group:NAME" holds its index (table_entry.group). */
	struct conf_group	*groups;
	size_t			 ngroups;
	char			*users_file;	/* resolved path, NULL: none */
	struct table		*table;
	struct conf_source	 source;
	/* With a Redis source: the version the table holds (0: none), and
	 * whether it came from cache_file. table_missing: neither a snapshot
	 * nor the cache was there, the table has the inline users only. */
	uint64_t		 table_version;
	bool			 table_from_cache;
	bool			 table_missing;
};

/*
 * Load and validate path. Returns 0 and a new conf (refs = 1) in *out, or
 * -1 with "file:line: problem" in err (line omitted when libconfig or the
 * problem has none). The user table is built too, users_file included.
 */
int	config_load(const char *path, struct conf **out, char *err,
	    size_t errlen);

/*
 * config_load() for a reload of the running conf: the settings a reload
 * cannot apply (listen, workers, daemon, metrics, control, capture,
 * max_message_size and the
 * tcp_* limits) keep running's values in the new conf, and their names go
 * to changed (comma-separated, "" when none) for the log.
 */
int	config_reload(const char *path, const struct conf *running,
	    struct conf **out, char *changed, size_t changedlen, char *err,
	    size_t errlen);

/*
 * config_reload() with the users_file part of the table taken from snap (a
 * Redis source; NULL: from cache_file). With a file source snap is ignored.
 */
int	config_reload_snapshot(const char *path, const struct conf *running,
	    const struct conf_snapshot *snap, struct conf **out, char *changed,
	    size_t changedlen, char *err, size_t errlen);

/* The version a cache_file names in its first line, 0 if none. */
uint64_t	config_cache_version(const char *path);

/* Where the branch key comes from when branch_secret is empty
 * (/etc/machine-id); for unit tests. NULL restores the default. */
void	config_set_machine_id_path(const char *path);

struct conf	*config_ref(struct conf *c);
void		 config_unref(struct conf *c);	/* frees at zero; NULL ok */

/* Domain index whose name or alias is host (case-insensitive; an IPv6
 * reference may be bracketed), -1 if none. The proxy's own listen and
 * advertise addresses are aliases of domain 0 (SPEC §6). *by_alias tells
 * whether it matched an alias rather than the name (may be NULL). */
int	config_domain_find(const struct conf *c, struct slice host,
	    bool *by_alias);

/* true when host[:port] names this proxy: a listen address (port must match
 * a listener; 0 means 5060) or the advertise host. */
bool	config_is_self(const struct conf *c, struct slice host, uint16_t port);

/* Index of the group named name (len bytes), -1 if none. */
int	config_group_find(const struct conf *c, const char *name,
	    size_t len);

/* Index of the first trusted entry containing sa, or -1. */
int	config_trusted_find(const struct conf *c, const struct sockaddr *sa);

/* One line: "N domains, N users (N prefixes), N listeners (udp ..., tcp ...)". */
void	config_summary(const struct conf *c, char *buf, size_t len);

const char	*config_transport_name(enum sip_transport tp);

#endif
