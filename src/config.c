/* config.c: libconfig file to a validated, read-only struct conf (SPEC §2). */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <libconfig.h>

#include "config.h"
#include "group.h"
#include "hash.h"
#include "log.h"
#include "netaddr.h"
#include "resolve.h"
#include "siphash.h"
#include "sipmsg.h"
#include "slice.h"
#include "table.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/* One name config_domain_find() and config_is_self() compare against,
 * prepared at load so that a lookup neither allocates nor parses names. */
struct host_key {
	const char	*name;		/* lower case, no brackets */
	size_t		 len;
	int		 family;	/* AF_INET/AF_INET6 for IP literals, else 0 */
	uint8_t		 addr[16];
	int		 domain;
	bool		 by_alias;
	bool		 self_only;	/* a wildcard literal: us, not domain 0 */
};

/* What the header does not show: the lookup keys live beside the conf. */
struct conf_priv {
	struct conf	 pub;
	struct host_key	*keys;		/* domain names and aliases */
	size_t		 nkeys;
	uint32_t	*slots;		/* open addressing: keys index + 1 */
	size_t		 mask;		/* slots - 1, a power of two - 1 */
	struct host_key	*self;		/* listen addresses, advertise */
	size_t		 nself;
	char		*adv_key;	/* advertise, lower case, no brackets */
};

#define PRIV(c)	((struct conf_priv *)(void *)(c))

struct loader;
static int	keep_running(struct loader *);
static char	*conf_relative(struct loader *, const config_setting_t *,
		    const char *);

struct loader {
	struct conf	*c;
	const char	*path;
	char		*err;
	size_t		 errlen;
	const struct conf *running;	/* a reload: what the daemon runs */
	const struct conf_snapshot *snap;	/* Redis table, or NULL */
	char		*changed;	/* settings that need a restart */
	size_t		 changedlen;
};

static const char *const default_block_ua[] = {
	"friendly-scanner", "sipvicious", "sipcli", "VaxSIPUserAgent", "iWar",
	"SIPScan", "sundayddr", "pplsip",
};

static int
fail(struct loader *ld, const config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "file:line: problem"; the line is left out when there is none. */
static int
fail(struct loader *ld, const config_setting_t *s, const char *fmt, ...)
{
	va_list ap;
	unsigned line = s ? config_setting_source_line(s) : 0;
	int n;

	if (line > 0)
		n = snprintf(ld->err, ld->errlen, "%s:%u: ", ld->path, line);
	else
		n = snprintf(ld->err, ld->errlen, "%s: ", ld->path);
	if (n < 0 || (size_t)n >= ld->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(ld->err + n, ld->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static char *
xstrdup(struct loader *ld, const config_setting_t *s, const char *str)
{
	char *p;

	if ((p = strdup(str)) == NULL)
		fail(ld, s, "out of memory");
	return p;
}

static void
lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

static int
check_keys(struct loader *ld, const config_setting_t *group,
    const char *where, const char *const *keys, size_t nkeys)
{
	config_setting_t *s;
	const char *name;
	size_t i;
	int j;

	for (j = 0; (s = config_setting_get_elem(group, j)) != NULL; j++) {
		name = config_setting_name(s);
		for (i = 0; i < nkeys; i++)
			if (name != NULL && strcmp(name, keys[i]) == 0)
				break;
		if (i == nkeys) {
			if (where != NULL)
				return fail(ld, s, "unknown key \"%s\" in %s",
				    name ? name : "?", where);
			return fail(ld, s, "unknown key \"%s\"",
			    name ? name : "?");
		}
	}
	return 0;
}

static const char *
type_name(int type)
{
	switch (type) {
	case CONFIG_TYPE_GROUP:
		return "a group { ... }";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return "an integer";
	case CONFIG_TYPE_FLOAT:
		return "a number with a fraction";
	case CONFIG_TYPE_STRING:
		return "a string";
	case CONFIG_TYPE_BOOL:
		return "a boolean";
	case CONFIG_TYPE_ARRAY:
		return "an array [ ... ]";
	case CONFIG_TYPE_LIST:
		return "a list ( ... )";
	default:
		return "something else";
	}
}

static int
want_type(struct loader *ld, const config_setting_t *s, const char *name,
    int type)
{
	int t = config_setting_type(s);

	if (t == type || (type == CONFIG_TYPE_INT && t == CONFIG_TYPE_INT64))
		return 0;
	return fail(ld, s, "%s must be %s, not %s", name, type_name(type),
	    type_name(t));
}

/* Optional string member: *out stays as it is when absent. */
static int
get_str(struct loader *ld, const config_setting_t *g, const char *name,
    const char **out, const config_setting_t **where)
{
	config_setting_t *s;

	if ((s = config_setting_get_member(g, name)) == NULL)
		return 0;
	if (want_type(ld, s, name, CONFIG_TYPE_STRING) == -1)
		return -1;
	/* libconfig 1.5 keeps a string whose strdup() failed as NULL. */
	if ((*out = config_setting_get_string(s)) == NULL)
		return fail(ld, s, "out of memory");
	if (where != NULL)
		*where = s;
	return 0;
}

static int
get_bool(struct loader *ld, const config_setting_t *g, const char *name,
    bool *out)
{
	config_setting_t *s;

	if ((s = config_setting_get_member(g, name)) == NULL)
		return 0;
	if (want_type(ld, s, name, CONFIG_TYPE_BOOL) == -1)
		return -1;
	*out = config_setting_get_bool(s) != 0;
	return 0;
}

static int
get_int(struct loader *ld, const config_setting_t *g, const char *name,
    long long lo, long long hi, long long *out)
{
	config_setting_t *s;
	long long v;

	if ((s = config_setting_get_member(g, name)) == NULL)
		return 0;
	if (want_type(ld, s, name, CONFIG_TYPE_INT) == -1)
		return -1;
	v = config_setting_get_int64(s);
	if (v < lo || v > hi)
		return fail(ld, s, "%s %lld out of range (%lld..%lld)", name,
		    v, lo, hi);
	*out = v;
	return 0;
}

static int
get_uint(struct loader *ld, const config_setting_t *g, const char *name,
    long long lo, long long hi, unsigned *out)
{
	long long v = *out;

	if (get_int(ld, g, name, lo, hi, &v) == -1)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* A group member that must be a list of groups, or absent. */
static int
get_list(struct loader *ld, const config_setting_t *g, const char *name,
    config_setting_t **out)
{
	config_setting_t *s;

	*out = NULL;
	if ((s = config_setting_get_member(g, name)) == NULL)
		return 0;
	if (want_type(ld, s, name, CONFIG_TYPE_LIST) == -1)
		return -1;
	*out = s;
	return 0;
}

static int
get_group(struct loader *ld, const config_setting_t *g, const char *name,
    config_setting_t **out)
{
	config_setting_t *s;

	*out = NULL;
	if ((s = config_setting_get_member(g, name)) == NULL)
		return 0;
	if (want_type(ld, s, name, CONFIG_TYPE_GROUP) == -1)
		return -1;
	*out = s;
	return 0;
}

/* An array of strings, or absent (*out NULL). Elements must be strings. */
static int
get_str_array(struct loader *ld, const config_setting_t *g, const char *name,
    config_setting_t **out)
{
	config_setting_t *s, *e;
	int i;

	*out = NULL;
	if ((s = config_setting_get_member(g, name)) == NULL)
		return 0;
	if (want_type(ld, s, name, CONFIG_TYPE_ARRAY) == -1)
		return -1;
	for (i = 0; (e = config_setting_get_elem(s, i)) != NULL; i++) {
		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			return fail(ld, e, "%s must hold strings", name);
		if (config_setting_get_string(e) == NULL)	/* as above */
			return fail(ld, e, "out of memory");
		if (config_setting_get_string(e)[0] == '\0')
			return fail(ld, e, "empty string in %s", name);
	}
	*out = s;
	return 0;
}

/* IPv4 or IPv6 literal (no brackets) to family and bytes; -1 if not one. */
static int
parse_ip(const char *s, int *family, uint8_t addr[16])
{
	struct sockaddr_storage ss;
	const uint8_t *a;
	size_t n;

	memset(addr, 0, 16);
	if (s[0] == '[' || netaddr_parse(slice_make(s, strlen(s)), 0,
	    &ss) == -1)
		return -1;
	a = netaddr_bytes(&ss, &n);
	memcpy(addr, a, n);
	*family = ss.ss_family;
	return 0;
}

static bool
is_wildcard(const struct conf_listen *l)
{
	static const uint8_t zero[16];
	const uint8_t *a;
	size_t n;

	a = netaddr_bytes(&l->ss, &n);
	return memcmp(a, zero, n) == 0;
}

static int
parse_listen(struct loader *ld, const config_setting_t *root)
{
	static const char *const keys[] = { "transport", "address", "port" };
	struct conf *c = ld->c;
	struct conf_listen *l, *o;
	config_setting_t *list, *e, *s;
	const char *tp, *addr;
	long long port;
	size_t i;
	int j, n;

	if (get_list(ld, root, "listen", &list) == -1)
		return -1;
	if (list == NULL || (n = config_setting_length(list)) == 0)
		return fail(ld, list, "no listen entries: usher needs at least "
		    "one, e.g. listen = ( { transport = \"udp\"; address = "
		    "\"127.0.0.1\"; port = 5060; } );");
	if ((c->listen = calloc((size_t)n, sizeof(*c->listen))) == NULL)
		return fail(ld, list, "out of memory");
	for (j = 0; j < n; j++) {
		e = config_setting_get_elem(list, j);
		if (config_setting_type(e) != CONFIG_TYPE_GROUP)
			return fail(ld, e, "listen entries must be groups "
			    "{ transport = ...; address = ...; port = ...; }");
		if (check_keys(ld, e, "listen", keys, NELEM(keys)) == -1)
			return -1;
		l = &c->listen[c->nlisten];
		tp = NULL;
		if (get_str(ld, e, "transport", &tp, NULL) == -1)
			return -1;
		if (tp == NULL)
			return fail(ld, e, "listen: transport missing (\"udp\", "
			    "\"tcp\" or \"tls\")");
		if (strcasecmp(tp, "udp") == 0)
			l->transport = SIP_TP_UDP;
		else if (strcasecmp(tp, "tcp") == 0)
			l->transport = SIP_TP_TCP;
		else if (strcasecmp(tp, "tls") == 0)
			l->transport = SIP_TP_TLS;
		else
			return fail(ld, config_setting_get_member(e,
			    "transport"), "listen: transport must be \"udp\", "
			    "\"tcp\" or \"tls\", not \"%s\"", tp);
		addr = NULL;
		if (get_str(ld, e, "address", &addr, NULL) == -1)
			return -1;
		if (addr == NULL)
			return fail(ld, e, "listen: address missing");
		s = config_setting_get_member(e, "address");
		if (strlen(addr) >= sizeof(l->address))
			return fail(ld, s, "listen.address \"%.70s\" too long",
			    addr);
		port = l->transport == SIP_TP_TLS ? SIP_TLS_DEFAULT_PORT :
		    SIP_DEFAULT_PORT;
		if ((s = config_setting_get_member(e, "port")) != NULL) {
			if (want_type(ld, s, "port", CONFIG_TYPE_INT) == -1)
				return -1;
			port = config_setting_get_int64(s);
			if (port < 1 || port > 65535)
				return fail(ld, s, "listen: bad port %lld "
				    "(1..65535)", port);
		}
		s = config_setting_get_member(e, "address");
		if (addr[0] == '[' || netaddr_parse(slice_make(addr,
		    strlen(addr)), (uint16_t)port, &l->ss) == -1)
			return fail(ld, s, "listen.address must be an IPv4 or "
			    "IPv6 literal, not \"%s\"", addr);
		l->sslen = netaddr_len(l->ss.ss_family);
		snprintf(l->address, sizeof(l->address), "%s", addr);
		l->port = (uint16_t)port;
		for (i = 0; i < c->nlisten; i++) {
			o = &c->listen[i];
			if (o->transport == l->transport &&
			    o->sslen == l->sslen &&
			    memcmp(&o->ss, &l->ss, l->sslen) == 0)
				return fail(ld, e, "duplicate listen entry "
				    "%s %s port %u", config_transport_name(
				    l->transport), l->address, l->port);
		}
		if (l->transport == SIP_TP_TLS)
			c->has_tls_listener = true;
		if (c->mode == MODE_PROXY && c->advertise == NULL &&
		    is_wildcard(l))
			return fail(ld, e, "listen %s: a wildcard address "
			    "needs `advertise` in proxy mode (Via and "
			    "Record-Route must name a reachable host)",
			    l->address);
		c->nlisten++;
	}
	return 0;
}

/* "10.0.0.0/8", "2001:db8::/32", or a bare address (a host). */
static int
parse_cidr(const char *text, struct conf_cidr *cidr)
{
	char buf[64], *slash, *end;
	unsigned long bits;
	unsigned i, max;

	if (strlen(text) >= sizeof(buf))
		return -1;
	snprintf(buf, sizeof(buf), "%s", text);
	if ((slash = strchr(buf, '/')) != NULL)
		*slash++ = '\0';
	if (parse_ip(buf, &cidr->family, cidr->addr) == -1)
		return -1;
	max = cidr->family == AF_INET ? 32 : 128;
	bits = max;
	if (slash != NULL) {
		if (!isdigit((unsigned char)*slash))
			return -1;
		errno = 0;
		bits = strtoul(slash, &end, 10);
		if (*end != '\0' || errno != 0 || bits > max)
			return -1;
	}
	cidr->bits = (unsigned)bits;
	/* The header promises a network address: clear the host bits. */
	for (i = 0; i < 16; i++) {
		if (i * 8 >= bits)
			cidr->addr[i] = 0;
		else if (i * 8 + 8 > bits)
			cidr->addr[i] &= (uint8_t)(0xff << (8 - (bits - i * 8)));
	}
	snprintf(cidr->text, sizeof(cidr->text), "%s", text);
	return 0;
}

static int
parse_trusted(struct loader *ld, const config_setting_t *root)
{
	struct conf *c = ld->c;
	config_setting_t *arr, *e;
	const char *text;
	int i, n;

	if (get_str_array(ld, root, "trusted", &arr) == -1)
		return -1;
	if (arr == NULL || (n = config_setting_length(arr)) == 0)
		return 0;
	if ((c->trusted = calloc((size_t)n, sizeof(*c->trusted))) == NULL)
		return fail(ld, arr, "out of memory");
	for (i = 0; i < n; i++) {
		e = config_setting_get_elem(arr, i);
		text = config_setting_get_string(e);
		if (parse_cidr(text, &c->trusted[c->ntrusted]) == -1)
			return fail(ld, e, "bad CIDR \"%s\" in trusted", text);
		c->ntrusted++;
	}
	return 0;
}

static int
parse_log(struct loader *ld, const config_setting_t *root)
{
	static const char *const keys[] = { "level" };
	static const char *const levels[] = {
		"error", "warning", "info", "debug",
	};
	config_setting_t *g;
	const config_setting_t *s = NULL;
	const char *level = NULL;
	size_t i;

	if (get_group(ld, root, "log", &g) == -1)
		return -1;
	if (g == NULL)
		return 0;
	if (check_keys(ld, g, "log", keys, NELEM(keys)) == -1 ||
	    get_str(ld, g, "level", &level, &s) == -1)
		return -1;
	if (level == NULL)
		return 0;
	for (i = 0; i < NELEM(levels); i++)
		if (strcasecmp(level, levels[i]) == 0) {
			ld->c->log_level = (enum log_level)i;
			return 0;
		}
	return fail(ld, s, "log.level must be error, warning, info or debug, "
	    "not \"%s\"", level);
}

static int
parse_daemon(struct loader *ld, const config_setting_t *root)
{
	static const char *const keys[] = { "pidfile", "user", "group" };
	struct conf *c = ld->c;
	config_setting_t *g;
	const config_setting_t *s = NULL;
	const char *pidfile = NULL, *user = NULL, *group = NULL;

	if (get_group(ld, root, "daemon", &g) == -1)
		return -1;
	if (g != NULL) {
		if (check_keys(ld, g, "daemon", keys, NELEM(keys)) == -1 ||
		    get_str(ld, g, "pidfile", &pidfile, &s) == -1 ||
		    get_str(ld, g, "user", &user, NULL) == -1 ||
		    get_str(ld, g, "group", &group, NULL) == -1)
			return -1;
		if (pidfile != NULL && pidfile[0] == '\0')
			return fail(ld, s, "daemon.pidfile is empty");
		if (user != NULL && user[0] == '\0')
			user = NULL;
		if (group != NULL && group[0] == '\0')
			group = NULL;
	}
	/* In the foreground only an explicit pid file is written. */
	c->pidfile_set = pidfile != NULL;
	if ((c->pidfile = xstrdup(ld, g, pidfile ? pidfile :
	    "/run/usher/usher.pid")) == NULL)
		return -1;
	if (user != NULL && (c->user = xstrdup(ld, g, user)) == NULL)
		return -1;
	if (group != NULL && (c->group = xstrdup(ld, g, group)) == NULL)
		return -1;
	return 0;
}

static int
parse_limits(struct loader *ld, const config_setting_t *root)
{
	static const char *const keys[] = {
		"max_message_size", "tcp_max_connections", "tcp_idle_timeout",
		"rate_per_source", "ban_time", "tcp_max_connections_per_source",
		"tcp_max_outgoing", "tcp_max_queue",
	};
	struct conf *c = ld->c;
	config_setting_t *g, *s;
	long long v = (long long)c->max_message_size;
	long long q = (long long)c->tcp_max_queue;

	if (get_group(ld, root, "limits", &g) == -1)
		return -1;
	if (g == NULL)
		goto out;
	if (check_keys(ld, g, "limits", keys, NELEM(keys)) == -1 ||
	    get_int(ld, g, "max_message_size", 1024, 65535, &v) == -1 ||
	    get_uint(ld, g, "tcp_max_connections", 1, 1000000,
	    &c->tcp_max_connections) == -1 ||
	    get_uint(ld, g, "tcp_idle_timeout", 1, 86400,
	    &c->tcp_idle_timeout) == -1 ||
	    get_uint(ld, g, "rate_per_source", 0, 1000000,
	    &c->rate_per_source) == -1 ||
	    get_uint(ld, g, "ban_time", 0, 86400, &c->ban_time) == -1 ||
	    get_uint(ld, g, "tcp_max_connections_per_source", 0, 1000000,
	    &c->tcp_max_per_source) == -1 ||
	    get_uint(ld, g, "tcp_max_outgoing", 1, 1000000,
	    &c->tcp_max_outgoing) == -1 ||
	    get_int(ld, g, "tcp_max_queue", 1024, CONFIG_TCP_QUEUE_TOTAL,
	    &q) == -1)
		return -1;
	c->max_message_size = (size_t)v;
	c->tcp_max_queue = (size_t)q;
	/* A queue must hold at least one whole message, or the first large
	 * answer would close its connection. */
	if (c->tcp_max_queue < c->max_message_size) {
		if ((s = config_setting_get_member(g, "tcp_max_queue")) == NULL)
			s = g;
		return fail(ld, s, "tcp_max_queue %zu is smaller than "
		    "max_message_size %zu", c->tcp_max_queue,
		    c->max_message_size);
	}
out:
	/* Absent: as many outgoing connections as incoming ones. */
	if (c->tcp_max_outgoing == 0)
		c->tcp_max_outgoing = c->tcp_max_connections;
	return 0;
}

static int
set_block_ua(struct loader *ld, const config_setting_t *arr)
{
	struct conf *c = ld->c;
	size_t i, n;

	n = arr ? (size_t)config_setting_length(arr) : NELEM(default_block_ua);
	if (n == 0)
		return 0;
	if ((c->block_ua = calloc(n, sizeof(*c->block_ua))) == NULL)
		return fail(ld, arr, "out of memory");
	for (i = 0; i < n; i++) {
		c->block_ua[i] = xstrdup(ld, arr, arr ?
		    config_setting_get_string(config_setting_get_elem(arr,
		    (unsigned)i)) : default_block_ua[i]);
		if (c->block_ua[i] == NULL)
			return -1;
		c->nblock_ua++;
		lower(c->block_ua[i]);
	}
	return 0;
}

static int
parse_security(struct loader *ld, const config_setting_t *root)
{
	static const char *const keys[] = { "block_user_agents" };
	config_setting_t *g, *arr = NULL;

	if (get_group(ld, root, "security", &g) == -1)
		return -1;
	if (g != NULL) {
		if (check_keys(ld, g, "security", keys, NELEM(keys)) == -1 ||
		    get_str_array(ld, g, "block_user_agents", &arr) == -1)
			return -1;
	}
	return set_block_ua(ld, arr);
}

static int
parse_metrics(struct loader *ld, const config_setting_t *root)
{
	static const char *const keys[] = { "address", "port" };
	struct conf *c = ld->c;
	config_setting_t *g;
	const config_setting_t *s = NULL;
	const char *addr = NULL;
	long long port = 0;
	uint8_t bin[16];
	int family;

	if (get_group(ld, root, "metrics", &g) == -1)
		return -1;
	if (g == NULL)
		return 0;
	if (check_keys(ld, g, "metrics", keys, NELEM(keys)) == -1 ||
	    get_str(ld, g, "address", &addr, &s) == -1 ||
	    get_int(ld, g, "port", 1, 65535, &port) == -1)
		return -1;
	if (addr == NULL)
		return fail(ld, g, "metrics.address missing");
	if (port == 0)
		return fail(ld, g, "metrics.port missing");
	if (strlen(addr) >= sizeof(c->metrics_address) ||
	    parse_ip(addr, &family, bin) == -1)
		return fail(ld, s, "metrics.address must be an IPv4 or IPv6 "
		    "literal, not \"%.70s\"", addr);
	snprintf(c->metrics_address, sizeof(c->metrics_address), "%s", addr);
	c->metrics_port = (uint16_t)port;
	c->metrics = true;
	return 0;
}

/* control.socket: the unix socket usherctl talks to (SPEC §10). */
static int
parse_control(struct loader *ld, const config_setting_t *root)
{
	static const char *const keys[] = { "socket" };
	struct sockaddr_un sun;
	config_setting_t *g;
	const config_setting_t *s = NULL;
	const char *path = NULL;

	if (get_group(ld, root, "control", &g) == -1)
		return -1;
	if (g == NULL)
		return 0;
	if (check_keys(ld, g, "control", keys, NELEM(keys)) == -1 ||
	    get_str(ld, g, "socket", &path, &s) == -1)
		return -1;
	if (path == NULL)
		return fail(ld, g, "control.socket missing");
	if (path[0] != '/' || strlen(path) >= sizeof(sun.sun_path))
		return fail(ld, s, "control.socket must be an absolute path "
		    "shorter than %zu bytes, not \"%.80s\"",
		    sizeof(sun.sun_path), path);
	if ((ld->c->control_socket = xstrdup(ld, s, path)) == NULL)
		return -1;
	return 0;
}

/* capture = { hep = "udp:IP:PORT"; id = N; } (SPEC §10). Only an IP
 * literal: capture goes where the file says, never where a DNS answer
 * would send it, and starting needs no resolver. */
static int
parse_capture(struct loader *ld, const config_setting_t *root)
{
	static const char *const keys[] = { "hep", "id" };
	struct conf *c = ld->c;
	config_setting_t *g;
	const config_setting_t *s = NULL;
	const char *hep = NULL;
	long long id = 0;

	if (get_group(ld, root, "capture", &g) == -1)
		return -1;
	if (g == NULL)
		return 0;
	if (check_keys(ld, g, "capture", keys, NELEM(keys)) == -1 ||
	    get_str(ld, g, "hep", &hep, &s) == -1 ||
	    get_int(ld, g, "id", 0, UINT32_MAX, &id) == -1)
		return -1;
	if (hep == NULL)
		return fail(ld, g, "capture.hep missing");
	if (strncasecmp(hep, "udp:", 4) != 0 ||
	    strlen(hep) >= sizeof(c->capture_hep) ||
	    netaddr_parse_hostport((struct slice){ hep + 4, strlen(hep + 4) },
	    0, &c->capture_addr) == -1 ||
	    netaddr_port(&c->capture_addr) == 0)
		return fail(ld, s, "capture.hep must be \"udp:IP:PORT\" (an "
		    "IPv4 or [IPv6] literal, port 1-65535), not \"%.80s\"",
		    hep);
	c->capture_addrlen = netaddr_len(c->capture_addr.ss_family);
	snprintf(c->capture_hep, sizeof(c->capture_hep), "%s", hep);
	c->capture_id = (uint32_t)id;
	return 0;
}

/* tls = { certificate; private_key; ca_file; verify_client;
 * verify_server; min_version; handshake_timeout; } (SPEC §9). Whether the
 * files load and match is tls.c's to check (-t, start, SIGHUP): here only
 * the shape. A tls listener needs certificate and key. */
static int
parse_tls(struct loader *ld, const config_setting_t *root)
{
	static const char *const keys[] = {
		"certificate", "private_key", "ca_file", "verify_client",
		"verify_server", "min_version", "handshake_timeout",
	};
	struct conf_tls *t = &ld->c->tls;
	config_setting_t *g;
	const config_setting_t *s = NULL, *sc = NULL, *sk = NULL, *sa = NULL;
	const char *cert = NULL, *key = NULL, *ca = NULL, *minv = NULL;

	t->verify_server = true;
	t->min_version = CONF_TLS_1_2;
	t->handshake_timeout = 5;
	if (get_group(ld, root, "tls", &g) == -1)
		return -1;
	if (g == NULL) {
		if (ld->c->has_tls_listener)
			return fail(ld, NULL, "a tls listener needs tls = { "
			    "certificate = ...; private_key = ...; }");
		return 0;
	}
	if (check_keys(ld, g, "tls", keys, NELEM(keys)) == -1 ||
	    get_str(ld, g, "certificate", &cert, &sc) == -1 ||
	    get_str(ld, g, "private_key", &key, &sk) == -1 ||
	    get_str(ld, g, "ca_file", &ca, &sa) == -1 ||
	    get_bool(ld, g, "verify_client", &t->verify_client) == -1 ||
	    get_bool(ld, g, "verify_server", &t->verify_server) == -1 ||
	    get_str(ld, g, "min_version", &minv, &s) == -1 ||
	    get_uint(ld, g, "handshake_timeout", 1, 300,
	    &t->handshake_timeout) == -1)
		return -1;
	if (minv != NULL) {
		if (strcmp(minv, "1.2") == 0)
			t->min_version = CONF_TLS_1_2;
		else if (strcmp(minv, "1.3") == 0)
			t->min_version = CONF_TLS_1_3;
		else
			return fail(ld, s, "tls.min_version must be \"1.2\" or "
			    "\"1.3\", not \"%.20s\"", minv);
	}
	if ((cert == NULL) != (key == NULL))
		return fail(ld, g, "tls: certificate and private_key go "
		    "together");
	if (cert == NULL && ld->c->has_tls_listener)
		return fail(ld, g, "a tls listener needs tls.certificate and "
		    "tls.private_key");
	if (t->verify_client && ca == NULL)
		return fail(ld, g, "tls.verify_client needs tls.ca_file");
	if ((cert != NULL && (t->certificate = conf_relative(ld, sc,
	    cert)) == NULL) ||
	    (key != NULL && (t->private_key = conf_relative(ld, sk,
	    key)) == NULL) ||
	    (ca != NULL && (t->ca_file = conf_relative(ld, sa, ca)) == NULL))
		return -1;
	return 0;
}

static int
parse_dns(struct loader *ld, const config_setting_t *root)
{
	static const char *const keys[] = { "servers", "refresh" };
	struct conf *c = ld->c;
	config_setting_t *g, *arr = NULL, *e;
	const char *text;
	int i, n;

	c->dns_refresh = CONFIG_DNS_REFRESH;
	if (get_group(ld, root, "dns", &g) == -1)
		return -1;
	if (g == NULL)
		return 0;
	if (check_keys(ld, g, "dns", keys, NELEM(keys)) == -1 ||
	    get_uint(ld, g, "refresh", 0, 86400, &c->dns_refresh) == -1 ||
	    get_str_array(ld, g, "servers", &arr) == -1)
		return -1;
	if (arr == NULL)
		return 0;
	if ((n = config_setting_length(arr)) > CONFIG_MAX_DNS_SERVERS)
		return fail(ld, arr, "dns.servers: at most %d servers, not %d",
		    CONFIG_MAX_DNS_SERVERS, n);
	for (i = 0; i < n; i++) {
		e = config_setting_get_elem(arr, i);
		text = config_setting_get_string(e);
		if (netaddr_parse_hostport(slice_make(text, strlen(text)),
		    RESOLVE_DNS_PORT, &c->dns_servers[i]) == -1)
			return fail(ld, e, "dns.servers: \"%.70s\" is not an "
			    "IP address, IP:port or [IPv6]:port", text);
	}
	c->ndns_servers = (size_t)n;
	return 0;
}

/* A host name or IP literal as a lookup key: lower case, "[v6]" unwrapped. */
static int
host_norm(const char *in, char **out)
{
	size_t len = strlen(in);
	char *p;

	if (len >= 2 && in[0] == '[' && in[len - 1] == ']') {
		in++;
		len -= 2;
	}
	if ((p = strndup(in, len)) == NULL)
		return -1;
	lower(p);
	*out = p;
	return 0;
}

/* A host name, an IP literal, or "[IPv6]" (as a URI writes it). */
static bool
is_host_ok(const char *h)
{
	char buf[64];
	uint8_t bin[16];
	size_t len = strlen(h);
	int family;

	if (len >= 2 && h[0] == '[' && h[len - 1] == ']') {
		if (len - 2 >= sizeof(buf))
			return false;
		memcpy(buf, h + 1, len - 2);
		buf[len - 2] = '\0';
		return parse_ip(buf, &family, bin) == 0 && family == AF_INET6;
	}
	if (len == 0 || len > 253)
		return false;
	if (strchr(h, ':') != NULL)
		return parse_ip(h, &family, bin) == 0;
	for (; *h; h++)
		if (!isalnum((unsigned char)*h) && strchr("-._", *h) == NULL)
			return false;
	return true;
}

static void
key_set(struct host_key *k, const char *name, int domain, bool by_alias)
{
	k->name = name;
	k->len = strlen(name);
	k->domain = domain;
	k->by_alias = by_alias;
	if (parse_ip(name, &k->family, k->addr) == -1)
		k->family = 0;
}

static bool
key_eq(const struct host_key *a, const struct host_key *b)
{
	if (a->family != 0 || b->family != 0)
		return a->family == b->family && memcmp(a->addr, b->addr,
		    a->family == AF_INET ? 4 : 16) == 0;
	return a->len == b->len && strcasecmp(a->name, b->name) == 0;
}

/* Domain names and aliases up to this many are looked at one by one. */
#define DOMAIN_SCAN_MAX	8

/* Agrees with key_eq: an IP literal by its address, a name by its
 * letters in either case. */
static uint64_t
key_hash(const struct host_key *k)
{
	uint64_t h = hash_bytes(HASH_SEED, &k->family, sizeof(k->family));

	if (k->family != 0)
		return hash_final(hash_bytes(h, k->addr,
		    k->family == AF_INET ? 4 : 16));
	return hash_final(hash_bytes_nocase(h, k->name, k->len));
}

/* The slot that holds a key equal to k, or the empty one it would go to:
 * per request, with up to 65,535 domains and their aliases (half full at
 * most, so the probe is short whatever the query). */
static uint32_t *
key_slot(const struct conf_priv *pv, const struct host_key *k)
{
	size_t i;

	for (i = (size_t)key_hash(k) & pv->mask; pv->slots[i] != 0;
	    i = (i + 1) & pv->mask)
		if (key_eq(&pv->keys[pv->slots[i] - 1], k))
			break;
	return &pv->slots[i];
}

/* Add a domain name or alias, refusing one that is already taken. */
static int
add_key(struct loader *ld, const config_setting_t *s, const char *name,
    int domain, bool by_alias)
{
	struct conf_priv *pv = PRIV(ld->c);
	struct host_key *k = &pv->keys[pv->nkeys], *o;
	uint32_t *slot;

	key_set(k, name, domain, by_alias);
	if (*(slot = key_slot(pv, k)) != 0) {
		o = &pv->keys[*slot - 1];
		return fail(ld, s, "duplicate domain name or alias "
		    "\"%s\" (already %s of \"%s\")", name,
		    o->by_alias ? "an alias" : "the name",
		    ld->c->domains[o->domain].name);
	}
	*slot = (uint32_t)++pv->nkeys;
	return 0;
}

static int
parse_domain(struct loader *ld, config_setting_t *e, int idx)
{
	static const char *const keys[] = {
		"name", "authoritative", "complete", "aliases",
	};
	struct conf_domain *d = &ld->c->domains[idx];
	config_setting_t *arr, *a, *s;
	const char *name = NULL, *alias;
	int i, n;

	d->line = config_setting_source_line(e);
	if (config_setting_type(e) != CONFIG_TYPE_GROUP)
		return fail(ld, e, "domains entries must be groups "
		    "{ name = ...; authoritative = ...; }");
	if (check_keys(ld, e, "domains", keys, NELEM(keys)) == -1 ||
	    get_str(ld, e, "name", &name, NULL) == -1 ||
	    get_bool(ld, e, "authoritative", &d->authoritative) == -1 ||
	    get_bool(ld, e, "complete", &d->complete) == -1 ||
	    get_str_array(ld, e, "aliases", &arr) == -1)
		return -1;
	if (name == NULL)
		return fail(ld, e, "domain without a name");
	s = config_setting_get_member(e, "name");
	if (!is_host_ok(name))
		return fail(ld, s, "bad domain name \"%.80s\"", name);
	if (host_norm(name, &d->name) == -1)
		return fail(ld, s, "out of memory");
	if (add_key(ld, s, d->name, idx, false) == -1)
		return -1;
	if (arr == NULL || (n = config_setting_length(arr)) == 0)
		return 0;
	if ((d->aliases = calloc((size_t)n, sizeof(*d->aliases))) == NULL)
		return fail(ld, arr, "out of memory");
	for (i = 0; i < n; i++) {
		a = config_setting_get_elem(arr, i);
		alias = config_setting_get_string(a);
		if (!is_host_ok(alias))
			return fail(ld, a, "bad alias \"%.80s\" of domain "
			    "\"%s\"", alias, d->name);
		if (host_norm(alias, &d->aliases[i]) == -1)
			return fail(ld, a, "out of memory");
		d->naliases++;
		if (add_key(ld, a, d->aliases[i], idx, true) == -1)
			return -1;
	}
	return 0;
}

static int
parse_domains(struct loader *ld, const config_setting_t *root)
{
	struct conf *c = ld->c;
	struct conf_priv *pv = PRIV(c);
	config_setting_t *list, *e, *arr;
	size_t nkeys, nslots;
	int i, n;

	if (get_list(ld, root, "domains", &list) == -1)
		return -1;
	if (list == NULL || (n = config_setting_length(list)) == 0)
		return fail(ld, list, "no domains: usher needs at least one, "
		    "e.g. domains = ( { name = \"example.com\"; } );");
	if (n > UINT16_MAX)
		return fail(ld, list, "too many domains (at most %u)",
		    UINT16_MAX);
	nkeys = (size_t)n;
	for (i = 0; i < n; i++) {
		e = config_setting_get_elem(list, i);
		if (config_setting_type(e) == CONFIG_TYPE_GROUP &&
		    (arr = config_setting_get_member(e, "aliases")) != NULL)
			nkeys += (size_t)config_setting_length(arr);
	}
	for (nslots = 16; nslots < 2 * nkeys; nslots *= 2)
		;
	if ((c->domains = calloc((size_t)n, sizeof(*c->domains))) == NULL ||
	    (pv->keys = calloc(nkeys, sizeof(*pv->keys))) == NULL ||
	    (pv->slots = calloc(nslots, sizeof(*pv->slots))) == NULL)
		return fail(ld, list, "out of memory");
	pv->mask = nslots - 1;
	for (i = 0; i < n; i++) {
		c->ndomains++;
		if (parse_domain(ld, config_setting_get_elem(list, i), i) == -1)
			return -1;
	}
	return 0;
}

/*
 * SPEC §6: our own listen and advertise addresses are aliases of domain 0.
 * A wildcard listener does not make every address ours (we cannot know the
 * host's addresses without asking the kernel on each reload), only its own
 * literal, which is never a domain alias, and the loopback address of its
 * family, which is certainly ours (transport.c sets IPV6_V6ONLY, so "::"
 * does not cover 127.0.0.1).
 */
static int
make_self(struct loader *ld)
{
	struct conf *c = ld->c;
	struct conf_priv *pv = PRIV(c);
	struct host_key *k;
	size_t i;

	if ((pv->self = calloc(2 * c->nlisten + 1, sizeof(*pv->self))) ==
	    NULL)
		return fail(ld, NULL, "out of memory");
	for (i = 0; i < c->nlisten; i++) {
		k = &pv->self[pv->nself++];
		key_set(k, c->listen[i].address, 0, true);
		if (!is_wildcard(&c->listen[i]))
			continue;
		k->self_only = true;
		k = &pv->self[pv->nself++];
		key_set(k, c->listen[i].ss.ss_family == AF_INET ? "127.0.0.1" :
		    "::1", 0, true);
	}
	if (c->advertise != NULL) {
		if (host_norm(c->advertise, &pv->adv_key) == -1)
			return fail(ld, NULL, "out of memory");
		key_set(&pv->self[pv->nself++], pv->adv_key, 0, true);
	}
	return 0;
}

static int
domain_fn(void *arg, const char *name, size_t len)
{
	const struct conf *c = arg;
	size_t i;

	for (i = 0; i < c->ndomains; i++)
		if (strlen(c->domains[i].name) == len &&
		    strncasecmp(c->domains[i].name, name, len) == 0)
			return (int)i;
	return -1;
}

/* A group name: what "group:NAME" can spell in a users_file line. */
static bool
is_group_name_ok(const char *n)
{
	size_t len = strlen(n);

	if (len == 0 || len >= GROUP_NAME_MAX)
		return false;
	for (; *n; n++)
		if (!isalnum((unsigned char)*n) && strchr("-._", *n) == NULL)
			return false;
	return true;
}

static int
parse_member(struct loader *ld, struct conf_group *g, config_setting_t *e)
{
	static const char *const keys[] = { "target", "priority", "weight" };
	struct group_member *m = &g->members[g->nmembers];
	const config_setting_t *ts = NULL;
	const char *target = NULL;
	char why[256];
	size_t i, len;

	if (config_setting_type(e) != CONFIG_TYPE_GROUP)
		return fail(ld, e, "group \"%s\": members entries must be "
		    "groups { target = ...; priority = ...; weight = ...; }",
		    g->name);
	m->priority = 1;
	m->weight = 1;
	if (check_keys(ld, e, "members", keys, NELEM(keys)) == -1 ||
	    get_str(ld, e, "target", &target, &ts) == -1 ||
	    get_uint(ld, e, "priority", 1, 1000, &m->priority) == -1 ||
	    get_uint(ld, e, "weight", 1, 1000, &m->weight) == -1)
		return -1;
	if (target == NULL || target[0] == '\0')
		return fail(ld, e, "group \"%s\": member without a target",
		    g->name);
	len = strlen(target);
	if ((m->target = xstrdup(ld, ts, target)) == NULL)
		return -1;
	g->nmembers++;	/* conf_free frees what is set */
	if (table_check_target(m->target, len, true,
	    ld->c->has_tls_listener, &m->uri, why,
	    sizeof(why)) == -1)
		return fail(ld, ts, "group \"%s\": member %s", g->name, why);
	/* SPEC §8: the request's user goes in, as into a number block's
	 * user-less target. */
	if (m->uri.user.len != 0)
		return fail(ld, ts, "group \"%s\": member target \"%.80s\" "
		    "has a user part (the caller's user goes there)",
		    g->name, target);
	for (i = 0; i + 1 < g->nmembers; i++)
		if (strcasecmp(g->members[i].target, m->target) == 0)
			return fail(ld, ts, "group \"%s\": duplicate member "
			    "\"%.80s\"", g->name, target);
	m->key = hash_final(hash_bytes(HASH_SEED, m->target, len));
	return 0;
}

static int
parse_probe(struct loader *ld, struct conf_group *g, config_setting_t *e)
{
	static const char *const keys[] = {
		"interval", "timeout", "down_after", "up_after",
	};
	config_setting_t *p, *ts;

	g->interval = 5;
	g->timeout = 2;
	g->down_after = 2;
	g->up_after = 2;
	if (get_group(ld, e, "probe", &p) == -1)
		return -1;
	if (p == NULL)
		return 0;
	if (check_keys(ld, p, "probe", keys, NELEM(keys)) == -1 ||
	    get_uint(ld, p, "interval", 1, 3600, &g->interval) == -1 ||
	    get_uint(ld, p, "timeout", 1, 3600, &g->timeout) == -1 ||
	    get_uint(ld, p, "down_after", 1, 100, &g->down_after) == -1 ||
	    get_uint(ld, p, "up_after", 1, 100, &g->up_after) == -1)
		return -1;
	/* A probe still waiting when the next one leaves would overlap
	 * it. */
	if (g->timeout > g->interval) {
		ts = config_setting_get_member(p, "timeout");
		return fail(ld, ts != NULL ? ts : p, "group \"%s\": probe "
		    "timeout %u is longer than its interval %u", g->name,
		    g->timeout, g->interval);
	}
	return 0;
}

static int
parse_group(struct loader *ld, config_setting_t *e)
{
	static const char *const keys[] = { "name", "members", "probe" };
	struct conf *c = ld->c;
	struct conf_group *g = &c->groups[c->ngroups];
	const config_setting_t *ns = NULL;
	config_setting_t *list;
	const char *name = NULL;
	int j, n;

	if (config_setting_type(e) != CONFIG_TYPE_GROUP)
		return fail(ld, e, "groups entries must be groups "
		    "{ name = ...; members = ( ... ); }");
	if (check_keys(ld, e, "groups", keys, NELEM(keys)) == -1 ||
	    get_str(ld, e, "name", &name, &ns) == -1)
		return -1;
	if (name == NULL)
		return fail(ld, e, "group without a name");
	if (!is_group_name_ok(name))
		return fail(ld, ns, "bad group name \"%.80s\" (letters, "
		    "digits, '-', '.', '_', at most %d)", name,
		    GROUP_NAME_MAX - 1);
	if (group_find(c->groups, c->ngroups, name, strlen(name)) >= 0)
		return fail(ld, ns, "duplicate group \"%s\"", name);
	if ((g->name = xstrdup(ld, ns, name)) == NULL)
		return -1;
	c->ngroups++;	/* conf_free frees what is set */
	if (asprintf(&g->reason_down, "No Member Of %s Up", name) == -1) {
		g->reason_down = NULL;
		return fail(ld, e, "out of memory");
	}
	if (parse_probe(ld, g, e) == -1 ||
	    get_list(ld, e, "members", &list) == -1)
		return -1;
	n = list != NULL ? config_setting_length(list) : 0;
	if (n == 0)
		return fail(ld, list != NULL ? list : e, "group \"%s\" has "
		    "no members", name);
	if (n > GROUP_MAX_MEMBERS)
		return fail(ld, list, "group \"%s\" has %d members, at most "
		    "%d", name, n, GROUP_MAX_MEMBERS);
	if ((g->members = calloc((size_t)n, sizeof(*g->members))) == NULL)
		return fail(ld, list, "out of memory");
	for (j = 0; j < n; j++)
		if (parse_member(ld, g, config_setting_get_elem(list,
		    j)) == -1)
			return -1;
	return 0;
}

/* groups = ( ... ) (SPEC §8): before the users that name them. */
static int
parse_groups(struct loader *ld, const config_setting_t *root)
{
	struct conf *c = ld->c;
	config_setting_t *list;
	int i, n;

	if (get_list(ld, root, "groups", &list) == -1)
		return -1;
	if (list == NULL || (n = config_setting_length(list)) == 0)
		return 0;
	if (n > TABLE_MAX_GROUPS)
		return fail(ld, list, "%d groups, at most %d", n,
		    TABLE_MAX_GROUPS);
	if ((c->groups = calloc((size_t)n, sizeof(*c->groups))) == NULL)
		return fail(ld, list, "out of memory");
	for (i = 0; i < n; i++)
		if (parse_group(ld, config_setting_get_elem(list, i)) == -1)
			return -1;
	return 0;
}

int
config_group_find(const struct conf *c, const char *name, size_t len)
{
	return group_find(c->groups, c->ngroups, name, len);
}

static int
parse_user(struct loader *ld, config_setting_t *e)
{
	static const char *const keys[] = {
		"user", "prefix", "domain", "state", "target", "retry_after",
	};
	struct conf *c = ld->c;
	const char *user = NULL, *prefix = NULL, *domain = NULL;
	const char *state = NULL, *target = NULL;
	const config_setting_t *ds = NULL, *ss = NULL;
	enum user_state st = USER_ACTIVE;
	long long retry = 0;
	char why[256];
	int d;

	if (config_setting_type(e) != CONFIG_TYPE_GROUP)
		return fail(ld, e, "users entries must be groups "
		    "{ user = ...; domain = ...; ... }");
	if (check_keys(ld, e, "users", keys, NELEM(keys)) == -1 ||
	    get_str(ld, e, "user", &user, NULL) == -1 ||
	    get_str(ld, e, "prefix", &prefix, NULL) == -1 ||
	    get_str(ld, e, "domain", &domain, &ds) == -1 ||
	    get_str(ld, e, "state", &state, &ss) == -1 ||
	    get_str(ld, e, "target", &target, NULL) == -1 ||
	    get_int(ld, e, "retry_after", 0, UINT32_MAX, &retry) == -1)
		return -1;
	if ((user == NULL) == (prefix == NULL))
		return fail(ld, e, "users entry needs exactly one of \"user\" "
		    "and \"prefix\"");
	if (domain == NULL)
		return fail(ld, e, "%s \"%s\": domain missing",
		    user ? "user" : "prefix", user ? user : prefix);
	if ((d = domain_fn(c, domain, strlen(domain))) == -1)
		return fail(ld, ds, "%s \"%s\": unknown domain \"%s\" (not in "
		    "domains)", user ? "user" : "prefix", user ? user : prefix,
		    domain);
	if (state != NULL && table_state_parse(state, &st) == -1)
		return fail(ld, ss, "%s \"%s\": bad state \"%s\" (active, "
		    "moved, unavailable or gone)", user ? "user" : "prefix",
		    user ? user : prefix, state);
	if ((st == USER_ACTIVE || st == USER_MOVED) &&
	    (target == NULL || target[0] == '\0'))
		return fail(ld, e, "%s \"%s\": state \"%s\" needs a target",
		    user ? "user" : "prefix", user ? user : prefix,
		    table_state_name(st));
	/* table_add names the user itself ("duplicate user alice (first at
	 * usher.conf:30)"); it only lacks where. */
	if (table_add(c->table, user ? user : prefix, prefix != NULL,
	    (uint16_t)d, st, target, (uint32_t)retry, c->path,
	    (uint32_t)config_setting_source_line(e), why, sizeof(why)) == -1)
		return fail(ld, e, "%s", why);
	return 0;
}

/* "host:port" or "[v6]:port" (port 6379 when absent) of a Redis server. */
static int
parse_server(struct loader *ld, const config_setting_t *e, size_t i)
{
	struct conf_source *src = &ld->c->source;
	const char *text = config_setting_get_string(e), *colon, *h;
	size_t hlen;
	long port = 6379;
	char *end;

	h = text;
	if (text[0] == '[') {
		if ((colon = strchr(text, ']')) == NULL)
			goto bad;
		h = text + 1;
		hlen = (size_t)(colon - h);
		colon = colon[1] == ':' ? colon + 1 :
		    colon[1] == '\0' ? NULL : text;
		if (colon == text)
			goto bad;
	} else {
		colon = strrchr(text, ':');
		if (colon != NULL && strchr(text, ':') != colon)
			colon = NULL;	/* a bare IPv6 literal */
		hlen = colon ? (size_t)(colon - text) : strlen(text);
	}
	if (colon != NULL) {
		errno = 0;
		port = strtol(colon + 1, &end, 10);
		if (colon[1] == '\0' || *end != '\0' || port < 1 ||
		    port > 65535)
			goto bad;
	}
	if (hlen == 0 || (src->hosts[i] = strndup(h, hlen)) == NULL)
		goto bad;
	src->ports[i] = (uint16_t)port;
	return 0;
bad:
	return fail(ld, e, "table_source.servers: \"%.80s\" is not "
	    "host:port", text);
}

/* A path in the configuration, relative to the configuration's directory. */
static char *
conf_relative(struct loader *ld, const config_setting_t *s, const char *file)
{
	const char *slash = strrchr(ld->c->path, '/');
	char *p = NULL;

	if (file[0] == '/' || slash == NULL)
		p = strdup(file);
	else if (asprintf(&p, "%.*s/%s", (int)(slash - ld->c->path),
	    ld->c->path, file) == -1)
		p = NULL;
	if (p == NULL)
		fail(ld, s, "out of memory");
	return p;
}

static int
parse_source(struct loader *ld, const config_setting_t *root)
{
	static const char *const keys[] = {
		"type", "servers", "prefix", "password_file", "poll_interval",
		"connect_timeout_ms", "command_timeout_ms", "cache_file",
	};
	struct conf_source *src = &ld->c->source;
	config_setting_t *g, *arr, *e;
	const config_setting_t *ts = NULL, *ps = NULL, *cs = NULL;
	const char *type = NULL, *prefix = "usher:", *pass = NULL;
	const char *cache = NULL;
	int i;

	src->poll_interval = 5;
	src->connect_timeout_ms = 500;
	src->command_timeout_ms = 2000;
	if (get_group(ld, root, "table_source", &g) == -1)
		return -1;
	if (g == NULL)
		return 0;
	if (check_keys(ld, g, "table_source", keys, NELEM(keys)) == -1 ||
	    get_str(ld, g, "type", &type, &ts) == -1 ||
	    get_str_array(ld, g, "servers", &arr) == -1 ||
	    get_str(ld, g, "prefix", &prefix, NULL) == -1 ||
	    get_str(ld, g, "password_file", &pass, &ps) == -1 ||
	    get_uint(ld, g, "poll_interval", 1, 3600,
	    &src->poll_interval) == -1 ||
	    get_uint(ld, g, "connect_timeout_ms", 10, 60000,
	    &src->connect_timeout_ms) == -1 ||
	    get_uint(ld, g, "command_timeout_ms", 10, 60000,
	    &src->command_timeout_ms) == -1 ||
	    get_str(ld, g, "cache_file", &cache, &cs) == -1)
		return -1;
	if (type == NULL || strcmp(type, "file") == 0) {
		src->type = SOURCE_FILE;
		return 0;
	}
	if (strcmp(type, "redis") != 0)
		return fail(ld, ts, "table_source.type must be \"file\" or "
		    "\"redis\", not \"%.40s\"", type);
	src->type = SOURCE_REDIS;
	if (arr == NULL || config_setting_length(arr) == 0)
		return fail(ld, g, "table_source.servers missing: at least one "
		    "\"host:port\"");
	if (config_setting_length(arr) > CONFIG_MAX_REDIS)
		return fail(ld, arr, "table_source.servers: at most %d",
		    CONFIG_MAX_REDIS);
	for (i = 0; (e = config_setting_get_elem(arr, i)) != NULL; i++) {
		if (parse_server(ld, e, (size_t)i) == -1)
			return -1;
		src->nservers++;
	}
	if (strlen(prefix) > 64 || strpbrk(prefix, " \t\r\n") != NULL)
		return fail(ld, g, "table_source.prefix: at most 64 "
		    "characters, no spaces");
	if ((src->prefix = xstrdup(ld, g, prefix)) == NULL)
		return -1;
	/* Without a cache an instance that starts while Redis is away has
	 * no table, and a SIGHUP has no copy of the running one. */
	if (cache == NULL || cache[0] == '\0')
		return fail(ld, g, "table_source.cache_file missing: type "
		    "\"redis\" needs it (the table to start from without "
		    "Redis)");
	if ((src->cache_file = conf_relative(ld, cs, cache)) == NULL)
		return -1;
	if (pass != NULL) {
		if (pass[0] == '\0')
			return fail(ld, ps, "table_source.password_file is "
			    "empty");
		if ((src->password_file = conf_relative(ld, ps, pass)) == NULL)
			return -1;
	}
	return 0;
}

uint64_t
config_cache_version(const char *path)
{
	char line[128];
	unsigned long long v = 0;
	FILE *f;

	if ((f = fopen(path, "re")) == NULL)
		return 0;
	if (fgets(line, sizeof(line), f) == NULL ||
	    sscanf(line, "# usher table version %llu", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

/* The Redis part of the table: the snapshot fetched, else cache_file. */
static int
load_source(struct loader *ld)
{
	struct conf *c = ld->c;
	const struct conf_snapshot *snap = ld->snap;

	if (snap != NULL) {
		c->table_version = snap->version;
		return table_load_buffer(c->table, snap->name, snap->buf,
		    snap->len, domain_fn, c, ld->err, ld->errlen);
	}
	if (access(c->source.cache_file, F_OK) == -1 && errno == ENOENT) {
		c->table_missing = true;
		return 0;
	}
	c->table_from_cache = true;
	c->table_version = config_cache_version(c->source.cache_file);
	return table_load_file(c->table, c->source.cache_file, domain_fn, c,
	    ld->err, ld->errlen);
}

static int
parse_users(struct loader *ld, const config_setting_t *root)
{
	struct conf *c = ld->c;
	config_setting_t *list, *s;
	const char *file = NULL;
	const char *slash;
	struct stat st;
	int i, n;

	if ((c->table = table_new()) == NULL ||
	    table_set_groups(c->table, c->groups, c->ngroups) == -1)
		return fail(ld, NULL, "out of memory");
	/* parse_tls() made sure a tls listener has its certificate. */
	table_set_tls(c->table, c->has_tls_listener);
	if (get_list(ld, root, "users", &list) == -1)
		return -1;
	n = list ? config_setting_length(list) : 0;
	for (i = 0; i < n; i++)
		if (parse_user(ld, config_setting_get_elem(list, i)) == -1)
			return -1;

	if (get_str(ld, root, "users_file", &file, NULL) == -1)
		return -1;
	s = config_setting_get_member(root, "users_file");
	if (c->source.type == SOURCE_REDIS) {
		if (file != NULL)
			return fail(ld, s, "users_file and table_source type "
			    "\"redis\" exclude each other");
		return load_source(ld);
	}
	if (file == NULL)
		return 0;
	if (file[0] == '\0')
		return fail(ld, s, "users_file is empty");
	slash = strrchr(c->path, '/');
	if (file[0] == '/' || slash == NULL)
		c->users_file = strdup(file);
	else if (asprintf(&c->users_file, "%.*s/%s", (int)(slash - c->path),
	    c->path, file) == -1)
		c->users_file = NULL;
	if (c->users_file == NULL)
		return fail(ld, s, "out of memory");
	/* Say which line named a users_file that is not there. */
	if (stat(c->users_file, &st) == -1)
		return fail(ld, s, "users_file %s: %s", c->users_file,
		    strerror(errno));
	/* table_load_file puts its own "path:line:" in front. */
	return table_load_file(c->table, c->users_file, domain_fn, c, ld->err,
	    ld->errlen);
}

#define MACHINE_ID_PATH	"/etc/machine-id"

static const char *machine_id_path = MACHINE_ID_PATH;

void
config_set_machine_id_path(const char *path)
{
	machine_id_path = path != NULL ? path : MACHINE_ID_PATH;
}

/* The machine's identity, a secret the network never sees: 0, or -1 when
 * the file is missing, unreadable or empty. */
static int
read_machine_id(char *buf, size_t len, size_t *n)
{
	FILE *f;
	size_t k;

	if ((f = fopen(machine_id_path, "re")) == NULL)
		return -1;
	k = fread(buf, 1, len, f);
	fclose(f);
	while (k > 0 && isspace((unsigned char)buf[k - 1]))
		k--;
	*n = k;
	errno = 0;		/* there, but empty */
	return k > 0 ? 0 : -1;
}

/*
 * SPEC §7: the key H1 is hashed under. Every instance of a fleet with the
 * same branch_secret, and one instance across restarts with none, must
 * agree, or responses to requests forwarded before are dropped; a reload
 * keeps the running key unless branch_secret changed, for the same reason
 * (and a random key could never be made again).
 */
static int
make_branch_key(struct loader *ld, const char *secret)
{
	struct conf *c = ld->c;
	const struct conf *r = ld->running;
	char id[256];
	size_t n;

	if (r != NULL && strcmp(r->branch_secret, secret) == 0) {
		memcpy(c->branch_key, r->branch_key, sizeof(c->branch_key));
		c->branch_key_random = r->branch_key_random;
		return 0;
	}
	if (secret[0] != '\0') {
		siphash_derive_key(secret, strlen(secret), "branch",
		    c->branch_key);
		return 0;
	}
	if (read_machine_id(id, sizeof(id), &n) == 0) {
		siphash_derive_key(id, n, "branch", c->branch_key);
		explicit_bzero(id, sizeof(id));
		return 0;
	}
	/* A machine without one gets a random key; a transient failure
	 * (out of memory or files) must not, or a reload would change the
	 * key and drop the responses of calls under way. */
	if (errno != 0 && errno != ENOENT && errno != ENOTDIR &&
	    errno != EACCES && errno != EPERM)
		return fail(ld, NULL, "branch key: %s: %s", machine_id_path,
		    strerror(errno));
	if (getrandom(c->branch_key, sizeof(c->branch_key), 0) !=
	    (ssize_t)sizeof(c->branch_key))
		return fail(ld, NULL, "branch key: no randomness: %s",
		    strerror(errno));
	c->branch_key_random = true;
	log_warnx("%s: no branch_secret and no %s: random branch key, "
	    "responses to requests forwarded before a restart or by "
	    "another instance will be dropped", ld->path, machine_id_path);
	return 0;
}

static int
parse_top(struct loader *ld, const config_setting_t *root)
{
	static const char *const keys[] = {
		"listen", "mode", "advertise", "record_route", "branch_secret",
		"workers", "trusted", "log", "daemon", "limits", "security",
		"metrics", "dns", "domains", "users", "users_file", "control",
		"capture", "table_source", "tls", "groups",
	};
	struct conf *c = ld->c;
	const config_setting_t *s = NULL;
	const char *mode = NULL, *adv = NULL, *secret = "";
	long long workers = 0;

	if (check_keys(ld, root, NULL, keys, NELEM(keys)) == -1 ||
	    get_str(ld, root, "mode", &mode, &s) == -1)
		return -1;
	if (mode != NULL) {
		if (strcasecmp(mode, "proxy") == 0)
			c->mode = MODE_PROXY;
		else if (strcasecmp(mode, "redirect") == 0)
			c->mode = MODE_REDIRECT;
		else
			return fail(ld, s, "mode must be \"proxy\" or "
			    "\"redirect\", not \"%s\"", mode);
	}
	if (get_str(ld, root, "advertise", &adv, &s) == -1)
		return -1;
	if (adv != NULL) {
		if (!is_host_ok(adv))
			return fail(ld, s, "advertise must be a host name or IP "
			    "address, not \"%.80s\"", adv);
		if ((c->advertise = xstrdup(ld, s, adv)) == NULL)
			return -1;
	}
	if (get_bool(ld, root, "record_route", &c->record_route) == -1 ||
	    get_str(ld, root, "branch_secret", &secret, NULL) == -1 ||
	    get_int(ld, root, "workers", 0, 1024, &workers) == -1)
		return -1;
	c->workers = (int)workers;
	if ((c->branch_secret = xstrdup(ld, root, secret)) == NULL ||
	    make_branch_key(ld, secret) == -1)
		return -1;
	if (parse_listen(ld, root) == -1 ||
	    parse_trusted(ld, root) == -1 ||
	    parse_log(ld, root) == -1 ||
	    parse_daemon(ld, root) == -1 ||
	    parse_limits(ld, root) == -1 ||
	    parse_security(ld, root) == -1 ||
	    parse_metrics(ld, root) == -1 ||
	    parse_control(ld, root) == -1 ||
	    parse_capture(ld, root) == -1 ||
	    parse_tls(ld, root) == -1 ||
	    parse_dns(ld, root) == -1 ||
	    parse_source(ld, root) == -1 ||
	    keep_running(ld) == -1 ||
	    parse_domains(ld, root) == -1 ||
	    make_self(ld) == -1 ||
	    parse_groups(ld, root) == -1 ||
	    parse_users(ld, root) == -1)
		return -1;
	return 0;
}

static bool
str_differs(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0);
}

static int
keep_str(struct loader *ld, char **mine, const char *running)
{
	char *s = NULL;

	if (running != NULL && (s = strdup(running)) == NULL)
		return fail(ld, NULL, "out of memory");
	free(*mine);
	*mine = s;
	return 0;
}

static void
note_changed(struct loader *ld, const char *what)
{
	size_t n = strlen(ld->changed);

	snprintf(ld->changed + n, ld->changedlen - n, "%s%s", n ? ", " : "",
	    what);
}

/*
 * A reload cannot rebind sockets, start workers or move the pid file: the
 * settings behind them keep their running values, and their names are
 * noted in ld->changed so the operator learns a restart is due. Runs
 * before make_self(), so "this proxy" stays the sockets really bound.
 */
static int
keep_running(struct loader *ld)
{
	struct conf *c = ld->c;
	const struct conf *r = ld->running;
	struct conf_listen *l;

	if (r == NULL)
		return 0;
	if (c->nlisten != r->nlisten || memcmp(c->listen, r->listen,
	    r->nlisten * sizeof(*r->listen)) != 0) {
		note_changed(ld, "listen");
		if ((l = calloc(r->nlisten, sizeof(*l))) == NULL)
			return fail(ld, NULL, "out of memory");
		memcpy(l, r->listen, r->nlisten * sizeof(*l));
		free(c->listen);
		c->listen = l;
		c->nlisten = r->nlisten;
		/* The tls listener keeps running: it needs its pair. */
		c->has_tls_listener = r->has_tls_listener;
		if (c->has_tls_listener && c->tls.certificate == NULL)
			return fail(ld, NULL, "the running tls listener needs "
			    "tls.certificate and tls.private_key");
	}
	if (c->workers != r->workers) {
		note_changed(ld, "workers");
		c->workers = r->workers;
	}
	if (str_differs(c->pidfile, r->pidfile) ||
	    str_differs(c->user, r->user) || str_differs(c->group, r->group)) {
		note_changed(ld, "daemon");
		if (keep_str(ld, &c->pidfile, r->pidfile) == -1 ||
		    keep_str(ld, &c->user, r->user) == -1 ||
		    keep_str(ld, &c->group, r->group) == -1)
			return -1;
	}
	if (c->max_message_size != r->max_message_size ||
	    c->tcp_max_connections != r->tcp_max_connections ||
	    c->tcp_idle_timeout != r->tcp_idle_timeout ||
	    c->tcp_max_per_source != r->tcp_max_per_source ||
	    c->tcp_max_outgoing != r->tcp_max_outgoing ||
	    c->tcp_max_queue != r->tcp_max_queue) {
		note_changed(ld, "limits.max_message_size/tcp_*");
		c->max_message_size = r->max_message_size;
		c->tcp_max_connections = r->tcp_max_connections;
		c->tcp_idle_timeout = r->tcp_idle_timeout;
		c->tcp_max_per_source = r->tcp_max_per_source;
		c->tcp_max_outgoing = r->tcp_max_outgoing;
		c->tcp_max_queue = r->tcp_max_queue;
	}
	if (c->metrics != r->metrics || c->metrics_port != r->metrics_port ||
	    strcmp(c->metrics_address, r->metrics_address) != 0) {
		note_changed(ld, "metrics");
		c->metrics = r->metrics;
		c->metrics_port = r->metrics_port;
		memcpy(c->metrics_address, r->metrics_address,
		    sizeof(c->metrics_address));
	}
	if (strcmp(c->capture_hep, r->capture_hep) != 0 ||
	    c->capture_id != r->capture_id) {
		note_changed(ld, "capture");
		memcpy(c->capture_hep, r->capture_hep, sizeof(c->capture_hep));
		c->capture_addr = r->capture_addr;
		c->capture_addrlen = r->capture_addrlen;
		c->capture_id = r->capture_id;
	}
	if (str_differs(c->control_socket, r->control_socket)) {
		note_changed(ld, "control");
		if (keep_str(ld, &c->control_socket, r->control_socket) == -1)
			return -1;
	}
	return 0;
}

static void
conf_free(struct conf *c)
{
	struct conf_priv *pv;
	size_t i, j;

	if (c == NULL)
		return;
	pv = PRIV(c);
	/* The table interns c->path and c->users_file: free it first. */
	table_free(c->table);
	for (i = 0; i < c->ndomains; i++) {
		free(c->domains[i].name);
		for (j = 0; j < c->domains[i].naliases; j++)
			free(c->domains[i].aliases[j]);
		free(c->domains[i].aliases);
	}
	free(c->domains);
	for (i = 0; i < c->ngroups; i++) {
		for (j = 0; j < c->groups[i].nmembers; j++)
			free(c->groups[i].members[j].target);
		free(c->groups[i].members);
		free(c->groups[i].name);
		free(c->groups[i].reason_down);
	}
	free(c->groups);
	for (i = 0; i < c->nblock_ua; i++)
		free(c->block_ua[i]);
	free(c->block_ua);
	free(c->listen);
	free(c->trusted);
	free(c->advertise);
	free(c->branch_secret);
	free(c->pidfile);
	free(c->control_socket);
	free(c->user);
	free(c->group);
	free(c->users_file);
	free(c->tls.certificate);
	free(c->tls.private_key);
	free(c->tls.ca_file);
	for (i = 0; i < c->source.nservers; i++)
		free(c->source.hosts[i]);
	free(c->source.prefix);
	free(c->source.password_file);
	free(c->source.cache_file);
	free(c->path);
	free(pv->keys);
	free(pv->slots);
	free(pv->self);
	free(pv->adv_key);
	free(pv);
}

int
config_load(const char *path, struct conf **out, char *err, size_t errlen)
{
	return config_reload(path, NULL, out, NULL, 0, err, errlen);
}

int
config_reload(const char *path, const struct conf *running, struct conf **out,
    char *changed, size_t changedlen, char *err, size_t errlen)
{
	return config_reload_snapshot(path, running, NULL, out, changed,
	    changedlen, err, errlen);
}

int
config_reload_snapshot(const char *path, const struct conf *running,
    const struct conf_snapshot *snap, struct conf **out, char *changed,
    size_t changedlen, char *err, size_t errlen)
{
	struct conf_priv *pv = NULL;
	struct conf *c = NULL;
	struct loader ld;
	config_t cfg;
	struct stat st;
	int rc = -1;

	if (errlen > 0)
		err[0] = '\0';
	config_init(&cfg);
	if (config_read_file(&cfg, path) == CONFIG_FALSE) {
		if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO) {
			/* libconfig does not say why; ask once more. */
			if (stat(path, &st) == -1)
				snprintf(err, errlen, "%s: %s", path,
				    strerror(errno));
			else if (!S_ISREG(st.st_mode))
				snprintf(err, errlen, "%s: not a regular file",
				    path);
			else
				snprintf(err, errlen, "%s: cannot read", path);
		} else
			snprintf(err, errlen, "%s:%d: %s",
			    config_error_file(&cfg) ? config_error_file(&cfg) :
			    path, config_error_line(&cfg),
			    config_error_text(&cfg));
		goto out;
	}
	if ((pv = calloc(1, sizeof(*pv))) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	c = &pv->pub;
	atomic_init(&c->refs, 1);
	c->mode = MODE_PROXY;
	c->log_level = LOG_LEVEL_INFO;
	c->max_message_size = 65535;
	c->tcp_max_connections = 4096;
	c->tcp_idle_timeout = 120;
	c->tcp_max_per_source = 32;
	c->tcp_max_queue = 1024 * 1024;
	c->ban_time = 30;
	if ((c->path = strdup(path)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	ld.c = c;
	ld.path = path;
	ld.err = err;
	ld.errlen = errlen;
	ld.running = running;
	ld.snap = snap;
	ld.changed = changed;
	ld.changedlen = changedlen;
	if (changed != NULL && changedlen > 0)
		changed[0] = '\0';
	else
		ld.running = NULL;
	if (parse_top(&ld, config_root_setting(&cfg)) == -1)
		goto out;
	*out = c;
	c = NULL;
	rc = 0;
out:
	conf_free(c);
	config_destroy(&cfg);
	return rc;
}

struct conf *
config_ref(struct conf *c)
{
	if (c != NULL)
		atomic_fetch_add(&c->refs, 1);
	return c;
}

void
config_unref(struct conf *c)
{
	if (c != NULL && atomic_fetch_sub(&c->refs, 1) == 1)
		conf_free(c);
}

/* host with "[...]" removed, as a key; false when it cannot be one. */
static bool
host_key_of(struct slice host, struct host_key *k, char *buf, size_t buflen)
{
	if (host.len >= 2 && host.p[0] == '[' && host.p[host.len - 1] == ']') {
		host.p++;
		host.len -= 2;
	}
	if (host.len == 0 || host.len >= buflen)
		return false;
	memcpy(buf, host.p, host.len);
	buf[host.len] = '\0';
	k->name = buf;
	k->len = host.len;
	if (parse_ip(buf, &k->family, k->addr) == -1)
		k->family = 0;
	return true;
}

int
config_domain_find(const struct conf *c, struct slice host, bool *by_alias)
{
	const struct conf_priv *pv;
	const struct host_key *f;
	struct host_key k;
	char buf[256];
	uint32_t slot;
	size_t i;

	if (c == NULL || !host_key_of(host, &k, buf, sizeof(buf)))
		return -1;
	pv = PRIV(c);
	/* A handful of names is found faster by looking at each (a length
	 * differs, a byte differs) than by hashing the host: 120
	 * instructions a lookup with three domains (callgrind). Keys are
	 * unique, so both ways find the same one. */
	f = NULL;
	if (pv->nkeys <= DOMAIN_SCAN_MAX) {
		for (i = 0; i < pv->nkeys && f == NULL; i++)
			if (key_eq(&pv->keys[i], &k))
				f = &pv->keys[i];
	} else if (pv->slots != NULL && (slot = *key_slot(pv, &k)) != 0)
		f = &pv->keys[slot - 1];
	if (f != NULL) {
		if (by_alias != NULL)
			*by_alias = f->by_alias;
		return f->domain;
	}
	for (i = 0; i < pv->nself; i++)
		if (!pv->self[i].self_only && key_eq(&pv->self[i], &k)) {
			if (by_alias != NULL)
				*by_alias = true;
			return 0;
		}
	return -1;
}

bool
config_is_self(const struct conf *c, struct slice host, uint16_t port)
{
	const struct conf_priv *pv;
	struct host_key k;
	char buf[256];
	size_t i;
	bool named = false;

	if (c == NULL || !host_key_of(host, &k, buf, sizeof(buf)))
		return false;
	pv = PRIV(c);
	for (i = 0; i < pv->nself && !named; i++)
		named = key_eq(&pv->self[i], &k);
	if (!named)
		return false;
	if (port == 0)
		port = SIP_DEFAULT_PORT;
	for (i = 0; i < c->nlisten; i++)
		if (c->listen[i].port == port)
			return true;
	return false;
}

static bool
cidr_contains(const struct conf_cidr *r, const uint8_t *a)
{
	unsigned full = r->bits / 8, rest = r->bits % 8;
	uint8_t mask;

	if (memcmp(r->addr, a, full) != 0)
		return false;
	if (rest == 0)
		return true;
	mask = (uint8_t)(0xff << (8 - rest));
	return (a[full] & mask) == r->addr[full];
}

int
config_trusted_find(const struct conf *c, const struct sockaddr *sa)
{
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;
	const uint8_t *v4 = NULL, *v6 = NULL;
	size_t i;

	if (c == NULL || sa == NULL)
		return -1;
	if (sa->sa_family == AF_INET) {
		sin = (const struct sockaddr_in *)(const void *)sa;
		v4 = (const uint8_t *)&sin->sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		sin6 = (const struct sockaddr_in6 *)(const void *)sa;
		v6 = sin6->sin6_addr.s6_addr;
		/* A dual-stack socket shows IPv4 peers as ::ffff:a.b.c.d. */
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
			v4 = v6 + 12;
	} else
		return -1;
	for (i = 0; i < c->ntrusted; i++) {
		if (c->trusted[i].family == AF_INET && v4 != NULL &&
		    cidr_contains(&c->trusted[i], v4))
			return (int)i;
		if (c->trusted[i].family == AF_INET6 && v6 != NULL &&
		    cidr_contains(&c->trusted[i], v6))
			return (int)i;
	}
	return -1;
}

void
config_summary(const struct conf *c, char *buf, size_t len)
{
	const struct conf_listen *l;
	size_t i, off, nmembers = 0;
	int n;

	if (len == 0)
		return;
	n = snprintf(buf, len, "%zu domains, %zu users (%zu prefixes), ",
	    c->ndomains, table_count(c->table),
	    table_count_prefixes(c->table));
	for (i = 0; i < c->ngroups; i++)
		nmembers += c->groups[i].nmembers;
	if (c->ngroups > 0 && n >= 0 && (size_t)n < len)
		n += snprintf(buf + n, len - (size_t)n, "%zu groups "
		    "(%zu members), ", c->ngroups, nmembers);
	if (n >= 0 && (size_t)n < len)
		n += snprintf(buf + n, len - (size_t)n, "%zu listeners (",
		    c->nlisten);
	for (i = 0; i < c->nlisten && n >= 0 && (size_t)n < len; i++) {
		off = (size_t)n;
		l = &c->listen[i];
		n += snprintf(buf + off, len - off, "%s%s %s%s%s:%u",
		    i ? ", " : "", config_transport_name(l->transport),
		    l->ss.ss_family == AF_INET6 ? "[" : "", l->address,
		    l->ss.ss_family == AF_INET6 ? "]" : "", l->port);
	}
	if (n >= 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, ")");
}

const char *
config_transport_name(enum sip_transport tp)
{
	switch (tp) {
	case SIP_TP_UDP:
		return "udp";
	case SIP_TP_TCP:
		return "tcp";
	case SIP_TP_TLS:
		return "tls";
	case SIP_TP_SCTP:
		return "sctp";
	default:
		return "?";
	}
}
