/* test_config.c: config_load on the shipped file and on small files, every
 * validation error with its file:line, and the lookups used per request. */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "siphash.h"
#include "slice.h"
#include "table.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

#ifndef TEST_SRC_DIR
#define TEST_SRC_DIR	"tests"
#endif

/* Two lines every small test file starts with, so line numbers are known. */
#define L_UDP	"listen = ( { transport = \"udp\"; address = \"127.0.0.1\"; " \
		    "port = 5060; } );\n"
#define D_EX	"domains = ( { name = \"example.com\"; } );\n"
#define BASE	L_UDP D_EX

static void
write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

/* Write text to a new temporary file; its name goes to path. */
static void
temp_conf(const char *text, char *path, size_t len)
{
	int fd;

	snprintf(path, len, "/tmp/usher-test-config-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	write_file(path, text);
}

static struct conf *
load_ok(const char *text)
{
	struct conf *c = NULL;
	char path[64], err[512];

	temp_conf(text, path, sizeof(path));
	err[0] = '\0';
	if (config_load(path, &c, err, sizeof(err)) != 0)
		fail_msg("config_load: %s", err);
	unlink(path);
	assert_non_null(c);
	return c;
}

static void
test_shipped(void **state)
{
	const char *path = TEST_SRC_DIR "/../conf/usher.conf";
	const struct table_entry *e;
	struct conf *c = NULL;
	char err[512], sum[256];
	const char *tail = "/conf/users.txt";

	(void)state;
	err[0] = '\0';
	if (config_load(path, &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	/* An example copied as it is must not leave a flood unlimited. */
	assert_true(c->rate_per_source > 0);
	assert_int_equal(c->nlisten, 2);
	assert_int_equal(c->listen[0].transport, SIP_TP_UDP);
	assert_int_equal(c->listen[1].transport, SIP_TP_TCP);
	assert_int_equal(c->listen[0].port, 5060);
	assert_int_equal(c->listen[0].ss.ss_family, AF_INET);
	assert_int_equal(c->mode, MODE_PROXY);
	assert_false(c->record_route);
	assert_int_equal(c->ntrusted, 1);
	assert_string_equal(c->trusted[0].text, "127.0.0.1/32");
	assert_string_equal(c->pidfile, "/tmp/usher.pid");
	assert_true(c->pidfile_set);
	assert_string_equal(c->control_socket, "/tmp/usher.sock");
	assert_null(c->user);
	assert_true(c->metrics);
	assert_string_equal(c->metrics_address, "127.0.0.1");
	assert_int_equal(c->metrics_port, 9160);
	assert_int_equal(c->ndomains, 3);
	assert_string_equal(c->domains[0].name, "example.com");
	assert_true(c->domains[0].authoritative);
	assert_false(c->domains[0].complete);
	assert_int_equal(c->domains[0].naliases, 1);
	assert_string_equal(c->domains[0].aliases[0], "192.0.2.10");
	assert_false(c->domains[1].authoritative);
	assert_true(c->domains[2].complete);
	assert_int_equal(c->nblock_ua, 8);
	assert_string_equal(c->block_ua[7], "pplsip");
	/* 6 users in usher.conf, 6 in users.txt, one number block in each. */
	assert_int_equal(table_count(c->table), 12);
	assert_int_equal(table_count_prefixes(c->table), 2);
	assert_non_null(c->users_file);
	assert_true(strlen(c->users_file) > strlen(tail));
	assert_string_equal(c->users_file + strlen(c->users_file) -
	    strlen(tail), tail);
	e = table_lookup(c->table, 0, "alice", 5);
	assert_non_null(e);
	assert_string_equal(e->target, "sip:alice@127.0.0.1:5070");
	assert_string_equal(e->file, path);
	e = table_lookup(c->table, 0, "frank", 5);
	assert_non_null(e);
	assert_string_equal(e->file, c->users_file);
	e = table_lookup(c->table, 0, "+16660000", 9);
	assert_non_null(e);
	assert_true(e->is_prefix);
	config_summary(c, sum, sizeof(sum));
	assert_string_equal(sum, "3 domains, 12 users (2 prefixes), "
	    "2 listeners (udp 127.0.0.1:5060, tcp 127.0.0.1:5060)");
	config_unref(c);
}

static void
test_defaults(void **state)
{
	struct conf *c = load_ok(BASE);

	(void)state;
	assert_int_equal(c->mode, MODE_PROXY);
	assert_null(c->advertise);
	assert_false(c->record_route);
	assert_string_equal(c->branch_secret, "");
	assert_int_equal(c->workers, 0);
	assert_int_equal(c->ntrusted, 0);
	assert_int_equal(c->log_level, LOG_LEVEL_INFO);
	assert_string_equal(c->pidfile, "/run/usher/usher.pid");
	assert_null(c->user);
	assert_null(c->group);
	assert_int_equal(c->max_message_size, 65535);
	assert_int_equal(c->tcp_max_connections, 4096);
	assert_int_equal(c->tcp_idle_timeout, 120);
	assert_int_equal(c->tcp_max_per_source, 32);
	assert_int_equal(c->tcp_max_outgoing, 4096);	/* = connections */
	assert_int_equal(c->tcp_max_queue, 1024 * 1024);
	assert_int_equal(c->rate_per_source, 0);
	assert_int_equal(c->ban_time, 30);
	assert_int_equal(c->nblock_ua, 8);
	assert_string_equal(c->block_ua[0], "friendly-scanner");
	assert_string_equal(c->block_ua[3], "vaxsipuseragent");
	assert_string_equal(c->block_ua[4], "iwar");
	assert_string_equal(c->block_ua[7], "pplsip");
	assert_false(c->metrics);
	assert_null(c->control_socket);
	assert_false(c->pidfile_set);
	assert_string_equal(c->pidfile, "/run/usher/usher.pid");
	assert_null(c->users_file);
	assert_int_equal(table_count(c->table), 0);
	assert_int_equal(c->ndns_servers, 0);
	assert_int_equal(c->dns_refresh, 300);
	assert_int_equal(c->refs, 1);
	assert_int_equal(c->listen[0].sslen, sizeof(struct sockaddr_in));
	assert_int_equal(ntohs(((struct sockaddr_in *)&c->listen[0].ss)->
	    sin_port), 5060);
	config_unref(c);
}

static void
test_values(void **state)
{
	struct conf *c;
	struct sockaddr_in6 *sin6;

	(void)state;
	c = load_ok(
	    "listen = ( { transport = \"TCP\"; address = \"::1\"; port = 5080; }"
	    ", { transport = \"udp\"; address = \"0.0.0.0\"; } );\n"
	    "mode = \"redirect\";\n"
	    "record_route = true;\n"
	    "branch_secret = \"s3cret\";\n"
	    "workers = 4;\n"
	    "trusted = [ \"10.1.2.3/8\", \"2001:db8::/32\", \"192.0.2.1\" ];\n"
	    "log = { level = \"debug\"; };\n"
	    "daemon = { pidfile = \"/tmp/x.pid\"; user = \"usher\"; "
	    "group = \"nogroup\"; };\n"
	    "limits = { max_message_size = 4096; tcp_max_connections = 10; "
	    "tcp_idle_timeout = 5; rate_per_source = 100; ban_time = 0; "
	    "tcp_max_connections_per_source = 3; tcp_max_outgoing = 7; "
	    "tcp_max_queue = 8192; };\n"
	    "security = { block_user_agents = [ \"Evil-Scanner\" ]; };\n"
	    "metrics = { address = \"::1\"; port = 9100; };\n"
	    "dns = { servers = [ \"127.0.0.1:5353\", \"[::1]:53\", "
	    "\"192.0.2.53\" ]; refresh = 5; };\n"
	    "domains = ( { name = \"Example.COM\"; authoritative = true; "
	    "complete = true; aliases = [ \"SIP.Example.com\", "
	    "\"[2001:DB8::10]\" ]; } );\n");
	assert_int_equal(c->listen[0].transport, SIP_TP_TCP);
	assert_int_equal(c->listen[0].port, 5080);
	assert_int_equal(c->listen[0].sslen, sizeof(struct sockaddr_in6));
	sin6 = (struct sockaddr_in6 *)&c->listen[0].ss;
	assert_int_equal(sin6->sin6_family, AF_INET6);
	assert_int_equal(ntohs(sin6->sin6_port), 5080);
	assert_true(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
	assert_int_equal(c->listen[1].port, 5060);
	assert_int_equal(c->mode, MODE_REDIRECT);
	assert_true(c->record_route);
	assert_string_equal(c->branch_secret, "s3cret");
	assert_int_equal(c->workers, 4);
	assert_int_equal(c->ntrusted, 3);
	assert_int_equal(c->trusted[0].family, AF_INET);
	assert_int_equal(c->trusted[0].bits, 8);
	assert_memory_equal(c->trusted[0].addr, "\x0a\x00\x00\x00", 4);
	assert_int_equal(c->trusted[1].family, AF_INET6);
	assert_int_equal(c->trusted[1].bits, 32);
	assert_int_equal(c->trusted[2].bits, 32);
	assert_int_equal(c->log_level, LOG_LEVEL_DEBUG);
	assert_string_equal(c->pidfile, "/tmp/x.pid");
	assert_string_equal(c->user, "usher");
	assert_string_equal(c->group, "nogroup");
	assert_int_equal(c->max_message_size, 4096);
	assert_int_equal(c->tcp_max_connections, 10);
	assert_int_equal(c->tcp_idle_timeout, 5);
	assert_int_equal(c->tcp_max_per_source, 3);
	assert_int_equal(c->tcp_max_outgoing, 7);
	assert_int_equal(c->tcp_max_queue, 8192);
	assert_int_equal(c->rate_per_source, 100);
	assert_int_equal(c->ban_time, 0);
	assert_int_equal(c->nblock_ua, 1);
	assert_string_equal(c->block_ua[0], "evil-scanner");
	assert_true(c->metrics);
	assert_string_equal(c->metrics_address, "::1");
	assert_int_equal(c->metrics_port, 9100);
	assert_int_equal(c->ndns_servers, 3);
	assert_int_equal(c->dns_refresh, 5);
	assert_int_equal(c->dns_servers[0].ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)&c->dns_servers[0])->
	    sin_port), 5353);
	sin6 = (struct sockaddr_in6 *)&c->dns_servers[1];
	assert_int_equal(sin6->sin6_family, AF_INET6);
	assert_int_equal(ntohs(sin6->sin6_port), 53);
	assert_true(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
	assert_int_equal(ntohs(((struct sockaddr_in *)&c->dns_servers[2])->
	    sin_port), 53);
	assert_string_equal(c->domains[0].name, "example.com");
	assert_true(c->domains[0].authoritative);
	assert_true(c->domains[0].complete);
	assert_int_equal(c->domains[0].naliases, 2);
	assert_string_equal(c->domains[0].aliases[0], "sip.example.com");
	assert_string_equal(c->domains[0].aliases[1], "2001:db8::10");
	config_unref(c);

	/* An explicitly empty list turns scanner blocking off. */
	c = load_ok(BASE "security = { block_user_agents = [ ]; };\n");
	assert_int_equal(c->nblock_ua, 0);
	config_unref(c);
}

struct bad {
	const char	*text;
	const char	*want;		/* after "path:"; "" = no line */
};

static const struct bad bad[] = {
	{ BASE "mdoe = \"proxy\";\n", "3: unknown key \"mdoe\"" },
	{ BASE "trusted = [ \"10.0.0.0/33\" ];\n",
	    "3: bad CIDR \"10.0.0.0/33\" in trusted" },
	{ BASE "trusted = [ \"2001:db8::/129\" ];\n",
	    "3: bad CIDR \"2001:db8::/129\" in trusted" },
	{ BASE "trusted = [ \"10.0.0/8\" ];\n",
	    "3: bad CIDR \"10.0.0/8\" in trusted" },
	{ BASE "trusted = [ \"10.0.0.0/\" ];\n",
	    "3: bad CIDR \"10.0.0.0/\" in trusted" },
	{ BASE "trusted = [ \"10.0.0.0/-1\" ];\n",
	    "3: bad CIDR \"10.0.0.0/-1\" in trusted" },
	{ BASE "trusted = [ 10 ];\n", "3: trusted must hold strings" },
	{ BASE "\nusers = (\n { user = \"alice\"; domain = \"example.com\"; }\n"
	    ");\n", "5: user \"alice\": state \"active\" needs a target" },
	{ BASE "users = ( { user = \"dave\"; domain = \"example.com\"; "
	    "state = \"moved\"; target = \"\"; } );\n",
	    "3: user \"dave\": state \"moved\" needs a target" },
	{ BASE "users = ( { prefix = \"+1\"; domain = \"example.com\"; } );\n",
	    "3: prefix \"+1\": state \"active\" needs a target" },
	{ BASE "users = ( { user = \"bob\"; domain = \"example.com\"; "
	    "state = \"gone\"; target = \"sip:b@h\"; } );\n",
	    "3: target given for a gone user" },
	{ BASE "users = ( { user = \"bob\"; domain = \"example.com\"; "
	    "target = \"http://x\"; } );\n", "3: target \"http://x\" is not "
	    "a sip: or sips: URI" },
	/* SPEC §7: targets usher could never send to */
	{ BASE "users = ( { user = \"bob\"; domain = \"example.com\"; "
	    "target = \"sip:bob@255.255.255.255\"; } );\n",
	    "3: target \"sip:bob@255.255.255.255\": host is a broadcast "
	    "address" },
	{ BASE "users = (\n { user = \"bob\"; domain = \"example.com\"; "
	    "target = \"sip:bob@224.0.0.5:5060\"; }\n);\n",
	    "4: target \"sip:bob@224.0.0.5:5060\": host is a multicast "
	    "address (224.0.0.0/4)" },
	{ BASE "users = ( { prefix = \"+1\"; domain = \"example.com\"; "
	    "target = \"sip:[ff02::1]\"; } );\n",
	    "3: target \"sip:[ff02::1]\": host is a multicast address "
	    "(ff00::/8)" },
	{ BASE "users = ( { user = \"bob\"; domain = \"example.com\"; "
	    "target = \"sip:bob@0.0.0.0\"; } );\n",
	    "3: target \"sip:bob@0.0.0.0\": host is an unspecified address "
	    "(0.0.0.0/8)" },
	{ BASE "users = ( { user = \"bob\"; domain = \"example.com\"; "
	    "target = \"sip:bob@[::]:5060\"; } );\n",
	    "3: target \"sip:bob@[::]:5060\": host is the unspecified "
	    "address (::)" },
	{ BASE "users = ( { user = \"bob\"; domain = \"example.com\"; "
	    "target = \"sip:bob@10.0.0.1:0\"; } );\n",
	    "3: bad target \"sip:bob@10.0.0.1:0\": not a valid SIP URI" },
	{ BASE "users = ( { user = \"bob\"; domain = \"example.com\"; "
	    "target = \"sips:bob@pbx.example.com\"; } );\n",
	    "3: target \"sips:bob@pbx.example.com\": sips: needs TLS, "
	    "which usher does not have yet" },
	{ BASE "users = (\n { user = \"a\"; domain = \"example.com\"; "
	    "state = \"gone\"; },\n { user = \"a\"; domain = \"example.com\"; "
	    "state = \"gone\"; }\n);\n", "5: duplicate user a (first at " },
	{ BASE "users = ( { user = \"bob\"; domain = \"nowhere.org\"; "
	    "state = \"gone\"; } );\n",
	    "3: user \"bob\": unknown domain \"nowhere.org\"" },
	{ BASE "users = ( { user = \"bob\"; domain = \"example.com\"; "
	    "state = \"away\"; } );\n", "3: user \"bob\": bad state \"away\"" },
	{ BASE "users = ( { user = \"bob\"; prefix = \"+1\"; "
	    "domain = \"example.com\"; state = \"gone\"; } );\n",
	    "3: users entry needs exactly one of \"user\" and \"prefix\"" },
	{ BASE "users = ( { state = \"gone\"; domain = \"example.com\"; } );\n",
	    "3: users entry needs exactly one of" },
	{ BASE "users = ( { user = \"bob\"; state = \"gone\"; } );\n",
	    "3: user \"bob\": domain missing" },
	{ BASE "users = ( { user = \"bob\"; domain = \"example.com\"; "
	    "state = \"gone\"; phone = true; } );\n",
	    "3: unknown key \"phone\" in users" },
	{ BASE "users = ( { user = \"bob\"; domain = \"example.com\"; "
	    "state = \"unavailable\"; retry_after = \"5\"; } );\n",
	    "3: retry_after must be an integer" },
	{ BASE "users = { user = \"bob\"; };\n", "3: users must be a list" },
	{ "listen = ( { transport = \"sctp\"; address = \"127.0.0.1\"; } );\n"
	    D_EX, "1: listen: transport must be \"udp\", \"tcp\" or \"tls\"" },
	{ "listen = ( { transport = \"tls\"; address = \"127.0.0.1\"; } );\n"
	    D_EX, " a tls listener needs tls = {" },
	{ BASE "tls = { certificate = \"a.pem\"; };\n",
	    "3: tls: certificate and private_key go together" },
	{ BASE "tls = { min_version = \"1.1\"; };\n",
	    "3: tls.min_version must be \"1.2\" or \"1.3\"" },
	{ BASE "tls = { verify_client = true; };\n",
	    "3: tls.verify_client needs tls.ca_file" },
	{ "listen = ( { address = \"127.0.0.1\"; } );\n" D_EX,
	    "1: listen: transport missing" },
	{ "listen = ( { transport = \"udp\"; } );\n" D_EX,
	    "1: listen: address missing" },
	{ BASE "mode = \"stateful\";\n",
	    "3: mode must be \"proxy\" or \"redirect\"" },
	{ BASE "mode = 1;\n", "3: mode must be a string" },
	{ "listen = (\n { transport = \"udp\"; address = \"127.0.0.1\";\n"
	    "   port = 70000; }\n);\n" D_EX, "3: listen: bad port 70000" },
	{ "listen = ( { transport = \"udp\"; address = \"127.0.0.1\"; "
	    "port = 0; } );\n" D_EX, "1: listen: bad port 0" },
	{ "listen = ( { transport = \"udp\"; address = \"127.0.0.1\"; "
	    "port = \"5060\"; } );\n" D_EX, "1: port must be an integer" },
	{ "listen = ( { transport = \"udp\"; address = \"localhost\"; } );\n"
	    D_EX, "1: listen.address must be an IPv4 or IPv6 literal" },
	{ "listen = ( { transport = \"udp\"; address = \"[::1]\"; } );\n"
	    D_EX, "1: listen.address must be an IPv4 or IPv6 literal" },
	{ "listen = (\n { transport = \"udp\"; address = \"::1\"; },\n"
	    " { transport = \"udp\"; address = \"0:0::1\"; port = 5060; }\n"
	    ");\n" D_EX, "3: duplicate listen entry udp 0:0::1 port 5060" },
	{ "listen = ( { transport = \"udp\"; address = \"127.0.0.1\"; "
	    "proto = 1; } );\n" D_EX, "1: unknown key \"proto\" in listen" },
	{ "listen = { transport = \"udp\"; };\n" D_EX,
	    "1: listen must be a list" },
	{ "listen = ( \"udp\" );\n" D_EX, "1: listen entries must be groups" },
	{ D_EX, " no listen entries" },
	{ "listen = ( );\n" D_EX, "1: no listen entries" },
	{ L_UDP, " no domains" },
	{ L_UDP "domains = ( );\n", "2: no domains" },
	{ L_UDP "domains = (\n { name = \"a.com\"; },\n { name = \"A.COM\"; }"
	    "\n);\n", "4: duplicate domain name or alias \"a.com\"" },
	{ L_UDP "domains = (\n { name = \"a.com\"; },\n { name = \"b.com\"; "
	    "aliases = [\n \"b.org\",\n \"A.com\" ]; }\n);\n",
	    "6: duplicate domain name or alias \"a.com\" (already the name "
	    "of \"a.com\")" },
	{ L_UDP "domains = ( { name = \"a.com\"; aliases = [ \"::1\" ]; }, "
	    "{ name = \"b.com\"; aliases = [ \"[0::1]\" ]; } );\n",
	    "2: duplicate domain name or alias \"0::1\"" },
	{ L_UDP "domains = ( { name = \"a com\"; } );\n",
	    "2: bad domain name \"a com\"" },
	{ L_UDP "domains = ( { authoritative = true; } );\n",
	    "2: domain without a name" },
	{ L_UDP "domains = ( { name = \"a.com\"; authoritative = \"yes\"; } );\n",
	    "2: authoritative must be a boolean" },
	{ L_UDP "domains = ( { name = \"a.com\"; alias = [ \"b\" ]; } );\n",
	    "2: unknown key \"alias\" in domains" },
	{ BASE "log = { level = \"verbose\"; };\n",
	    "3: log.level must be error, warning, info or debug" },
	{ BASE "log = { level = \"info\"; file = \"x\"; };\n",
	    "3: unknown key \"file\" in log" },
	{ BASE "log = \"info\";\n", "3: log must be a group" },
	{ BASE "daemon = { pidfile = \"/tmp/p\"; chroot = \"/\"; };\n",
	    "3: unknown key \"chroot\" in daemon" },
	{ BASE "daemon = { pidfile = \"\"; };\n", "3: daemon.pidfile is empty" },
	{ BASE "limits = { max_message_size = 512; };\n",
	    "3: max_message_size 512 out of range (1024..65535)" },
	{ BASE "limits = { max_message_size = 65536; };\n",
	    "3: max_message_size 65536 out of range" },
	{ BASE "limits = { ban = 3; };\n", "3: unknown key \"ban\" in limits" },
	{ BASE "limits = { tcp_idle_timeout = 1.5; };\n",
	    "3: tcp_idle_timeout must be an integer" },
	{ BASE "limits = {\n tcp_max_connections_per_source = -1; };\n",
	    "4: tcp_max_connections_per_source -1 out of range (0..1000000)" },
	{ BASE "limits = { tcp_max_outgoing = 0; };\n",
	    "3: tcp_max_outgoing 0 out of range (1..1000000)" },
	{ BASE "limits = { tcp_max_outgoing = \"many\"; };\n",
	    "3: tcp_max_outgoing must be an integer" },
	{ BASE "limits = { tcp_max_queue = 67108865; };\n",
	    "3: tcp_max_queue 67108865 out of range (1024..67108864)" },
	/* One whole message must fit in a queue. */
	{ BASE "limits = { max_message_size = 4096;\n tcp_max_queue = 2048; "
	    "};\n", "4: tcp_max_queue 2048 is smaller than max_message_size "
	    "4096" },
	{ BASE "limits = { tcp_max_queue = 60000; };\n",
	    "3: tcp_max_queue 60000 is smaller than max_message_size 65535" },
	{ BASE "security = { block_ua = [ ]; };\n",
	    "3: unknown key \"block_ua\" in security" },
	{ BASE "security = { block_user_agents = [ \"\" ]; };\n",
	    "3: empty string in block_user_agents" },
	{ BASE "metrics = { address = \"127.0.0.1\"; port = 9090; path = "
	    "\"/m\"; };\n", "3: unknown key \"path\" in metrics" },
	{ BASE "control = { path = \"/x\"; };\n",
	    "3: unknown key \"path\" in control" },
	{ BASE "control = { };\n", "3: control.socket missing" },
	{ BASE "control = { socket = \"usher.sock\"; };\n",
	    "3: control.socket must be an absolute path" },
	{ BASE "metrics = { address = \"127.0.0.1\"; };\n",
	    "3: metrics.port missing" },
	/* table_source (SPEC §11) */
	{ BASE "table_source = { type = \"etcd\"; };\n",
	    "3: table_source.type must be \"file\" or \"redis\"" },
	{ BASE "table_source = { type = \"redis\"; cache_file = \"c\"; };\n",
	    "3: table_source.servers missing" },
	{ BASE "table_source = { type = \"redis\"; servers = [ "
	    "\"10.0.0.1:0\" ]; cache_file = \"c\"; };\n",
	    "3: table_source.servers: \"10.0.0.1:0\" is not host:port" },
	{ BASE "table_source = { type = \"redis\"; servers = [ "
	    "\"10.0.0.1\" ]; };\n",
	    "3: table_source.cache_file missing" },
	{ BASE "table_source = { type = \"redis\"; servers = [ \"h:1\" ];\n"
	    " cache_file = \"c\"; poll_interval = 0; };\n",
	    "4: poll_interval 0 out of range (1..3600)" },
	{ BASE "table_source = { type = \"redis\"; server = [ \"h:1\" ]; };\n",
	    "3: unknown key \"server\" in table_source" },
	{ BASE "users_file = \"u.txt\";\ntable_source = { type = \"redis\"; "
	    "servers = [ \"h:1\" ]; cache_file = \"c\"; };\n",
	    "3: users_file and table_source type \"redis\" exclude each other" },
	{ BASE "metrics = { address = \"any\"; port = 9090; };\n",
	    "3: metrics.address must be an IPv4 or IPv6 literal" },
	{ BASE "record_route = \"yes\";\n", "3: record_route must be a boolean" },
	{ BASE "workers = -1;\n", "3: workers -1 out of range" },
	{ BASE "advertise = \"bad host\";\n",
	    "3: advertise must be a host name or IP address" },
	{ "listen = ( { transport = \"udp\"; address = \"0.0.0.0\"; } );\n"
	    D_EX, "1: listen 0.0.0.0: a wildcard address needs `advertise` in "
	    "proxy mode (Via and Record-Route must name a reachable host)" },
	{ "mode = \"proxy\";\nlisten = ( { transport = \"tcp\"; "
	    "address = \"::\"; } );\n" D_EX,
	    "2: listen ::: a wildcard address needs `advertise`" },
	{ BASE "\nmode = = \"proxy\";\n", "4: syntax error" },
	{ BASE "users_file = 3;\n", "3: users_file must be a string" },
	{ BASE "dns = { servers = [ \"localhost\" ]; };\n",
	    "3: dns.servers: \"localhost\" is not an IP address, IP:port or "
	    "[IPv6]:port" },
	{ BASE "dns = {\n servers = [ \"127.0.0.1\",\n \"127.0.0.1:0\" ]; };\n",
	    "5: dns.servers: \"127.0.0.1:0\" is not" },
	{ BASE "dns = { servers = [ \"127.0.0.1:70000\" ]; };\n",
	    "3: dns.servers: \"127.0.0.1:70000\" is not" },
	{ BASE "dns = { servers = [ \"127.0.0.1:\" ]; };\n",
	    "3: dns.servers: \"127.0.0.1:\" is not" },
	{ BASE "dns = { servers = [ \"[10.0.0.1]:53\" ]; };\n",
	    "3: dns.servers: \"[10.0.0.1]:53\" is not" },
	{ BASE "dns = { servers = [ \"[::1]53\" ]; };\n",
	    "3: dns.servers: \"[::1]53\" is not" },
	{ BASE "dns = { servers = [ \"::1\", \"::2\", \"::3\", \"::4\", "
	    "\"::5\" ]; };\n", "3: dns.servers: at most 4 servers, not 5" },
	{ BASE "dns = { servers = \"127.0.0.1\"; };\n",
	    "3: servers must be an array" },
	{ BASE "dns = { servers = [ 53 ]; };\n",
	    "3: servers must hold strings" },
	{ BASE "dns = { refresh = -1; };\n",
	    "3: refresh -1 out of range (0..86400)" },
	{ BASE "dns = { refresh = 86401; };\n",
	    "3: refresh 86401 out of range (0..86400)" },
	{ BASE "dns = { refresh = \"300\"; };\n",
	    "3: refresh must be an integer" },
	{ BASE "dns = {\n timeout = 3; };\n",
	    "4: unknown key \"timeout\" in dns" },
	{ BASE "dns = [ \"127.0.0.1\" ];\n", "3: dns must be a group" },
	/* groups (SPEC §8) */
#define GRP(m)	"groups = ( { name = \"g\"; members = ( " m " ); } );\n"
	{ BASE "groups = ( { members = ( { target = \"sip:10.0.0.5\"; } ); } );\n",
	    "3: group without a name" },
	{ BASE "groups = ( { name = \"a b\"; members = ( { target = "
	    "\"sip:10.0.0.5\"; } ); } );\n", "3: bad group name \"a b\"" },
	{ BASE GRP("{ target = \"sip:10.0.0.5\"; }") "groups2 = 1;\n",
	    "4: unknown key \"groups2\"" },
	{ BASE "groups = ( { name = \"g\"; members = ( { target = "
	    "\"sip:10.0.0.5\"; } ); },\n { name = \"g\"; members = ( { target = "
	    "\"sip:10.0.0.6\"; } ); } );\n", "4: duplicate group \"g\"" },
	{ BASE "groups = ( { name = \"g\"; } );\n",
	    "3: group \"g\" has no members" },
	{ BASE "groups = ( { name = \"g\"; members = ( ); } );\n",
	    "3: group \"g\" has no members" },
	{ BASE GRP("{ priority = 1; }"), "3: group \"g\": member without a target" },
	{ BASE GRP("{ target = \"sip:bob@10.0.0.5\"; }"),
	    "3: group \"g\": member target \"sip:bob@10.0.0.5\" has a user part" },
	{ BASE GRP("{ target = \"tel:+1555\"; }"),
	    "3: group \"g\": member target \"tel:+1555\" is not a sip: or sips: URI" },
	{ BASE GRP("{ target = \"sip:255.255.255.255\"; }"),
	    "3: group \"g\": member target \"sip:255.255.255.255\": host is a broadcast" },
	{ BASE GRP("{ target = \"sip:10.0.0.5?X=1\"; }"),
	    "3: group \"g\": member target \"sip:10.0.0.5?X=1\" has escaped" },
	{ BASE GRP("{ target = \"sip:10.0.0.5\"; }, { target = \"SIP:10.0.0.5\"; }"),
	    "3: group \"g\": duplicate member \"SIP:10.0.0.5\"" },
	{ BASE GRP("{ target = \"sip:10.0.0.5\"; weight = 0; }"),
	    "3: weight 0 out of range (1..1000)" },
	{ BASE GRP("{ target = \"sip:10.0.0.5\"; weight = 1001; }"),
	    "3: weight 1001 out of range (1..1000)" },
	{ BASE GRP("{ target = \"sip:10.0.0.5\"; priority = 0; }"),
	    "3: priority 0 out of range (1..1000)" },
	{ BASE GRP("{ target = \"sip:10.0.0.5\"; port = 5; }"),
	    "3: unknown key \"port\" in members" },
	{ BASE GRP("\"sip:10.0.0.5\""), "3: group \"g\": members entries must be" },
	{ BASE "groups = ( { name = \"g\"; members = ( { target = \"sip:h\"; } );\n"
	    " probe = { interval = 1; }; } );\n",
	    "4: group \"g\": probe timeout 2 is longer than its interval 1" },
	{ BASE "groups = ( { name = \"g\"; members = ( { target = \"sip:h\"; } );\n"
	    " probe = { interval = 0; }; } );\n",
	    "4: interval 0 out of range (1..3600)" },
	{ BASE "groups = ( { name = \"g\"; members = ( { target = \"sip:h\"; } );\n"
	    " probe = { down_after = 0; }; } );\n",
	    "4: down_after 0 out of range (1..100)" },
	{ BASE "groups = ( { name = \"g\"; members = ( { target = \"sip:h\"; } );\n"
	    " probe = { up_after = 101; }; } );\n",
	    "4: up_after 101 out of range (1..100)" },
	{ BASE "groups = ( { name = \"g\"; members = ( { target = \"sip:h\"; } );\n"
	    " probe = { every = 3; }; } );\n", "4: unknown key \"every\" in probe" },
	{ BASE GRP("{ target = \"sip:10.0.0.5\"; }")
	    "users = ( { user = \"a\"; domain = \"example.com\"; "
	    "target = \"group:h\"; } );\n", "4: unknown group \"h\" (not in groups)" },
	{ BASE "users = ( { user = \"a\"; domain = \"example.com\"; "
	    "target = \"group:g\"; } );\n", "3: unknown group \"g\"" },
	{ BASE GRP("{ target = \"sip:10.0.0.5\"; }")
	    "users = ( { user = \"a\"; domain = \"example.com\"; state = \"moved\"; "
	    "target = \"group:g\"; } );\n",
	    "4: a moved target cannot be a group (\"group:g\")" },
#undef GRP
};

static void
test_errors(void **state)
{
	struct conf *c;
	char path[64], err[512], want[600];
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(bad); i++) {
		temp_conf(bad[i].text, path, sizeof(path));
		c = NULL;
		err[0] = '\0';
		if (config_load(path, &c, err, sizeof(err)) != -1) {
			config_unref(c);
			fail_msg("row %zu loaded, wanted \"%s\"", i,
			    bad[i].want);
		}
		unlink(path);
		assert_null(c);
		snprintf(want, sizeof(want), "%s:%s", path, bad[i].want);
		if (strncmp(err, want, strlen(want)) != 0)
			fail_msg("row %zu: got \"%s\", wanted \"%s...\"", i,
			    err, want);
	}

	/* The whole message, where the first one was included. */
	temp_conf(BASE "users = (\n { user = \"alice\"; domain = "
	    "\"example.com\"; state = \"gone\"; },\n { user = \"al%69ce\"; "
	    "domain = \"example.com\"; state = \"gone\"; }\n);\n", path,
	    sizeof(path));
	c = NULL;
	assert_int_equal(config_load(path, &c, err, sizeof(err)), -1);
	unlink(path);
	assert_null(c);
	snprintf(want, sizeof(want), "%s:5: duplicate user alice (first at "
	    "%s:4)", path, path);
	assert_string_equal(err, want);
}

/* Configurations near the error rows above that are fine. */
static void
test_accepted(void **state)
{
	static const char *const good[] = {
		"mode = \"redirect\";\nlisten = ( { transport = \"udp\"; "
		    "address = \"0.0.0.0\"; } );\n" D_EX,
		"advertise = \"sip.example.com\";\nlisten = ( { transport = "
		    "\"udp\"; address = \"::\"; } );\n" D_EX,
		"listen = ( { transport = \"udp\"; address = \"::1\"; },\n"
		    "{ transport = \"tcp\"; address = \"::1\"; },\n"
		    "{ transport = \"udp\"; address = \"::1\"; port = 5061; } );\n"
		    D_EX,
		BASE "trusted = [ \"0.0.0.0/0\", \"::/0\", \"10.0.0.0/8\" ];\n",
		BASE "users = ( { user = \"bob\"; domain = \"EXAMPLE.com\"; "
		    "state = \"gone\"; } );\n",
		BASE "limits = { max_message_size = 1024; };\n",
		BASE "daemon = { user = \"\"; };\n",
		BASE "dns = { servers = [ \"::1\", \"[::1]:5353\", "
		    "\"10.0.0.1:1\", \"10.0.0.2:65535\" ]; refresh = 0; };\n",
		BASE "dns = { refresh = 86400; };\n",
		BASE "dns = { servers = [ ]; };\n",
		BASE "groups = ( );\n",
		BASE "groups = ( { name = \"a-b.c_d\"; members = ( { target = "
		    "\"sip:[2001:db8::1]:5061\"; priority = 1000; weight = "
		    "1000; } ); probe = { interval = 3600; timeout = 3600; "
		    "down_after = 100; up_after = 1; }; } );\n",
		BASE "groups = ( { name = \"g\"; members = ( { target = "
		    "\"sip:pbx.example.com;transport=tcp\"; } ); } );\n"
		    "users = ( { prefix = \"+1\"; domain = \"example.com\"; "
		    "target = \"GROUP:g\"; } );\n",
	};
	struct conf *c;
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(good); i++) {
		c = load_ok(good[i]);
		config_unref(c);
	}
}

static void
test_missing_file(void **state)
{
	struct conf *c = NULL;
	char err[256];

	(void)state;
	assert_int_equal(config_load("/nonexistent/usher.conf", &c, err,
	    sizeof(err)), -1);
	assert_null(c);
	assert_string_equal(err, "/nonexistent/usher.conf: "
	    "No such file or directory");
	assert_int_equal(config_load("/tmp", &c, err, sizeof(err)), -1);
	assert_string_equal(err, "/tmp: not a regular file");
}

static const char find_conf[] =
    "listen = ( { transport = \"udp\"; address = \"127.0.0.1\"; },\n"
    "  { transport = \"tcp\"; address = \"::1\"; port = 5080; },\n"
    "  { transport = \"udp\"; address = \"0.0.0.0\"; port = 5090; } );\n"
    "advertise = \"Proxy.Example.com\";\n"
    "trusted = [ \"10.0.0.0/8\", \"192.168.1.7\", \"2001:db8:1::/48\",\n"
    "  \"10.1.0.0/16\", \"172.16.0.0/12\", \"::ffff:203.0.113.0/120\" ];\n"
    "domains = (\n"
    "  { name = \"example.com\"; aliases = [ \"192.0.2.10\", "
    "\"[2001:db8::10]\", \"sip.example.com\" ]; },\n"
    "  { name = \"partner.net\"; aliases = [ \"198.51.100.1\" ]; }\n"
    ");\n";

static void
test_domain_find(void **state)
{
	static const struct {
		const char	*host;
		int		 domain;
		bool		 by_alias;
	} rows[] = {
		{ "example.com", 0, false },
		{ "EXAMPLE.COM", 0, false },
		{ "partner.net", 1, false },
		{ "Partner.Net", 1, false },
		{ "192.0.2.10", 0, true },
		{ "SIP.example.COM", 0, true },
		{ "198.51.100.1", 1, true },
		{ "[2001:db8::10]", 0, true },
		{ "2001:DB8:0::10", 0, true },
		{ "127.0.0.1", 0, true },		/* listen address */
		{ "[::1]", 0, true },
		{ "[0:0::1]", 0, true },
		{ "proxy.example.com", 0, true },	/* advertise */
		{ "0.0.0.0", -1, false },		/* wildcard: not us */
		{ "example.co", -1, false },
		{ "example.com.", -1, false },
		{ "nowhere.org", -1, false },
		{ "192.0.2.11", -1, false },
		{ "[", -1, false },
		{ "[]", -1, false },
		{ "", -1, false },
	};
	struct conf *c = load_ok(find_conf);
	bool alias;
	size_t i;
	int d;

	(void)state;
	for (i = 0; i < NELEM(rows); i++) {
		alias = !rows[i].by_alias;
		d = config_domain_find(c, slice_make(rows[i].host,
		    strlen(rows[i].host)), &alias);
		if (d != rows[i].domain)
			fail_msg("%s: domain %d, wanted %d", rows[i].host, d,
			    rows[i].domain);
		if (d >= 0 && alias != rows[i].by_alias)
			fail_msg("%s: by_alias %d", rows[i].host, alias);
	}
	/* by_alias may be NULL; the slice need not be NUL-terminated. */
	assert_int_equal(config_domain_find(c, slice_make("partner.netXX", 11),
	    NULL), 1);
	config_unref(c);
}

/* The most domains allowed, each with an alias: every one found by hash
 * (either case), a duplicate refused however it is written. */
static void
test_domain_find_many(void **state)
{
	enum { N = 65535 };
	char *text, *p, host[64];
	struct conf *c = NULL;
	char path[64], err[512];
	size_t i, size = (size_t)N * 96 + 256;
	bool alias;

	(void)state;
	text = malloc(size);
	assert_non_null(text);
	p = text + sprintf(text, L_UDP "domains = (\n");
	for (i = 0; i < N; i++)
		p += sprintf(p, "{ name = \"d%zu.example\"; aliases = "
		    "[ \"10.%zu.%zu.%zu\" ]; },\n", i, i >> 16, (i >> 8) & 255,
		    i & 255);
	p[-2] = '\n';
	p[-1] = ')';
	sprintf(p, ";\n");
	c = load_ok(text);
	for (i = 0; i < N; i += 97) {
		snprintf(host, sizeof(host), i % 2 ? "D%zu.EXAMPLE" :
		    "d%zu.example", i);
		assert_int_equal(config_domain_find(c, slice_make(host,
		    strlen(host)), &alias), (int)i);
		assert_false(alias);
		snprintf(host, sizeof(host), "10.%zu.%zu.%zu", i >> 16,
		    (i >> 8) & 255, i & 255);
		assert_int_equal(config_domain_find(c, slice_make(host,
		    strlen(host)), &alias), (int)i);
		assert_true(alias);
	}
	assert_int_equal(config_domain_find(c, SLICE("d65535.example"),
	    NULL), -1);
	config_unref(c);

	/* domain 65533 takes the alias of 65534: refused when 65534 comes */
	p = strstr(text, "\"10.0.255.253\"");
	assert_non_null(p);
	memcpy(p, "\"10.0.255.254\"", 14);
	temp_conf(text, path, sizeof(path));
	assert_int_equal(config_load(path, &c, err, sizeof(err)), -1);
	unlink(path);
	if (strstr(err, "duplicate domain name or alias \"10.0.255.254\" "
	    "(already an alias of \"d65533.example\")") == NULL)
		fail_msg("%s", err);
	free(text);
}

static void
test_is_self(void **state)
{
	static const struct {
		const char	*host;
		uint16_t	 port;
		bool		 self;
	} rows[] = {
		{ "127.0.0.1", 5060, true },
		{ "127.0.0.1", 0, true },		/* 0 means 5060 */
		{ "127.0.0.1", 5080, true },		/* any listener's port */
		{ "127.0.0.1", 5061, false },
		{ "::1", 5080, true },
		{ "[0:0::1]", 5060, true },
		{ "[::1]", 5070, false },
		{ "proxy.example.com", 0, true },
		{ "PROXY.EXAMPLE.COM", 5090, true },
		{ "example.com", 5060, false },		/* a domain, not us */
		{ "192.0.2.10", 5060, false },
		{ "0.0.0.0", 5090, true },		/* the literal itself */
		{ "0.0.0.0", 5061, false },
		{ "127.0.0.2", 5060, false },
		{ "", 5060, false },
	};
	/* Only a wildcard listener: its literal and its family's loopback
	 * are us, other addresses of the host are not known to be. */
	static const struct {
		const char	*host;
		uint16_t	 port;
		bool		 self;
		int		 domain;	/* config_domain_find */
	} wild[] = {
		{ "::", 5070, true, -1 },
		{ "[0::0]", 5070, true, -1 },
		{ "::1", 5070, true, 0 },
		{ "[::1]", 5070, true, 0 },
		{ "[::1]", 0, false, 0 },		/* 5060: not ours */
		{ "127.0.0.1", 5070, false, -1 },	/* V6ONLY: no IPv4 */
		{ "2001:db8::1", 5070, false, -1 },
		{ "sip.example.com", 5070, true, 0 },	/* advertise */
		{ "sip.example.com", 0, false, 0 },
	};
	struct conf *c = load_ok(find_conf);
	size_t i;
	int d;

	(void)state;
	for (i = 0; i < NELEM(rows); i++)
		if (config_is_self(c, slice_make(rows[i].host,
		    strlen(rows[i].host)), rows[i].port) != rows[i].self)
			fail_msg("%s:%u: wanted %d", rows[i].host,
			    rows[i].port, rows[i].self);
	config_unref(c);

	c = load_ok("listen = ( { transport = \"udp\"; address = \"::\"; "
	    "port = 5070; } );\nadvertise = \"sip.example.com\";\n" D_EX);
	for (i = 0; i < NELEM(wild); i++) {
		if (config_is_self(c, slice_make(wild[i].host,
		    strlen(wild[i].host)), wild[i].port) != wild[i].self)
			fail_msg("wildcard %s:%u: wanted %d", wild[i].host,
			    wild[i].port, wild[i].self);
		d = config_domain_find(c, slice_make(wild[i].host,
		    strlen(wild[i].host)), NULL);
		if (d != wild[i].domain)
			fail_msg("wildcard %s: domain %d, wanted %d",
			    wild[i].host, d, wild[i].domain);
	}
	config_unref(c);
}

static void
test_trusted_find(void **state)
{
	static const struct {
		const char	*addr;
		int		 want;
	} rows[] = {
		{ "10.2.3.4", 0 },
		{ "10.1.2.3", 0 },		/* the first match wins */
		{ "192.168.1.7", 1 },
		{ "192.168.1.8", -1 },
		{ "11.0.0.1", -1 },
		{ "172.16.0.1", 4 },
		{ "172.31.255.255", 4 },
		{ "172.32.0.0", -1 },
		{ "2001:db8:1:ffff::1", 2 },
		{ "2001:db8:2::1", -1 },
		{ "::ffff:10.9.9.9", 0 },	/* IPv4-mapped */
		{ "::ffff:192.168.1.7", 1 },
		{ "::ffff:11.0.0.1", -1 },
		{ "::ffff:203.0.113.9", 5 },	/* an IPv6 entry for mapped */
		{ "203.0.113.9", -1 },
		{ "::1", -1 },
	};
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	struct conf *c = load_ok(find_conf);
	size_t i;
	int got;

	(void)state;
	for (i = 0; i < NELEM(rows); i++) {
		memset(&ss, 0, sizeof(ss));
		if (inet_pton(AF_INET, rows[i].addr, &sin->sin_addr) == 1)
			sin->sin_family = AF_INET;
		else {
			assert_int_equal(inet_pton(AF_INET6, rows[i].addr,
			    &sin6->sin6_addr), 1);
			sin6->sin6_family = AF_INET6;
		}
		got = config_trusted_find(c, (struct sockaddr *)&ss);
		if (got != rows[i].want)
			fail_msg("%s: %d, wanted %d", rows[i].addr, got,
			    rows[i].want);
	}
	assert_int_equal(config_trusted_find(c, NULL), -1);
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	assert_int_equal(config_trusted_find(c, (struct sockaddr *)&ss), -1);
	config_unref(c);
}

static void
test_users_file(void **state)
{
	char dir[64], conf[128], users[128], err[512], want[512];
	struct conf *c = NULL;
	const struct table_entry *e;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/usher-test-config-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(conf, sizeof(conf), "%s/usher.conf", dir);
	snprintf(users, sizeof(users), "%s/u.txt", dir);
	write_file(conf, L_UDP
	    "domains = ( { name = \"example.com\"; }, { name = \"b.net\"; } );\n"
	    "users = ( { user = \"alice\"; domain = \"example.com\"; "
	    "target = \"sip:a@10.0.0.1\"; } );\n"
	    "users_file = \"u.txt\";\n");
	write_file(users, "# users\nbob@EXAMPLE.COM gone\n"
	    "carol@b.net unavailable retry_after=60\n"
	    "+1666*@example.com active sip:10.0.0.9\n");
	if (config_load(conf, &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_string_equal(c->users_file, users);
	assert_int_equal(table_count(c->table), 4);
	assert_int_equal(table_count_prefixes(c->table), 1);
	e = table_lookup(c->table, 1, "carol", 5);
	assert_non_null(e);
	assert_int_equal(e->retry_after, 60);
	assert_int_equal(e->line, 3);
	assert_string_equal(e->file, users);
	config_unref(c);

	/* Errors in the users_file name it and its line. */
	write_file(users, "bob@example.com gone\nzed@nowhere.org gone\n");
	c = NULL;
	assert_int_equal(config_load(conf, &c, err, sizeof(err)), -1);
	assert_null(c);
	snprintf(want, sizeof(want), "%s:2: ", users);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("got \"%s\", wanted \"%s...\"", err, want);

	/* A user in both files is a duplicate, found where it was first. */
	write_file(users, "alice@example.com gone\n");
	assert_int_equal(config_load(conf, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, conf));

	unlink(users);
	assert_int_equal(config_load(conf, &c, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:4: users_file %s: No such file",
	    conf, users);
	assert_int_equal(strncmp(err, want, strlen(want)), 0);
	unlink(conf);
	rmdir(dir);
}

/* SPEC §8: groups as written, group: targets in the configuration, a
 * users_file and a snapshot, members as target hosts and next hops. */
static int
dom_example(void *arg, const char *name, size_t len)
{
	(void)arg;
	return len == 11 && strncasecmp(name, "example.com", 11) == 0 ? 0 : -1;
}

static void
test_groups(void **state)
{
	char dir[64], conf[128], users[128], err[512], sum[256];
	const struct table_entry *e;
	const struct conf_group *g;
	struct sip_uri u;
	struct table *t;
	struct conf *c = NULL;
	struct slice host;
	unsigned flags;
	const char *fault, *snap;
	bool seen_name = false;
	size_t i;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/usher-test-config-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(conf, sizeof(conf), "%s/usher.conf", dir);
	snprintf(users, sizeof(users), "%s/u.txt", dir);
	write_file(conf, BASE
	    "groups = (\n"
	    " { name = \"east\"; members = (\n"
	    "  { target = \"sip:10.0.0.5:5070\"; weight = 2; },\n"
	    "  { target = \"sip:10.0.0.6;transport=tcp\"; },\n"
	    "  { target = \"sip:standby.example.net\"; priority = 2; } );\n"
	    "  probe = { interval = 10; timeout = 3; down_after = 4; "
	    "up_after = 5; }; },\n"
	    " { name = \"west\"; members = ( { target = \"sip:10.1.0.5\"; } ); }"
	    "\n);\n"
	    "users = ( { user = \"alice\"; domain = \"example.com\"; "
	    "target = \"group:west\"; },\n"
	    " { user = \"bob\"; domain = \"example.com\"; "
	    "target = \"sip:bob@10.2.0.1\"; } );\n"
	    "users_file = \"u.txt\";\n");
	write_file(users, "carol@example.com active group:east\n"
	    "+1555*@example.com active group:east\n");
	if (config_load(conf, &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(c->ngroups, 2);
	g = &c->groups[0];
	assert_string_equal(g->name, "east");
	assert_int_equal(g->nmembers, 3);
	assert_int_equal(g->interval, 10);
	assert_int_equal(g->timeout, 3);
	assert_int_equal(g->down_after, 4);
	assert_int_equal(g->up_after, 5);
	assert_string_equal(g->reason_down, "No Member Of east Up");
	assert_int_equal(g->members[0].weight, 2);
	assert_int_equal(g->members[0].priority, 1);
	assert_int_equal(g->members[1].weight, 1);
	assert_int_equal(g->members[2].priority, 2);
	assert_int_equal(g->members[1].uri.transport, SIP_TP_TCP);
	assert_null(g->members[0].health);
	assert_true(g->members[0].key != g->members[1].key);
	g = &c->groups[1];
	assert_int_equal(g->interval, 5);
	assert_int_equal(g->timeout, 2);
	assert_int_equal(g->down_after, 2);
	assert_int_equal(g->up_after, 2);
	assert_int_equal(config_group_find(c, "west", 4), 1);
	assert_int_equal(config_group_find(c, "wes", 3), -1);

	assert_non_null(e = table_lookup(c->table, 0, "alice", 5));
	assert_int_equal(e->group, 1);
	assert_non_null(e = table_lookup(c->table, 0, "bob", 3));
	assert_int_equal(e->group, TABLE_NO_GROUP);
	assert_non_null(e = table_lookup(c->table, 0, "carol", 5));
	assert_int_equal(e->group, 0);
	assert_int_equal(e->line, 1);
	assert_non_null(e = table_lookup(c->table, 0, "+15551234", 9));
	assert_int_equal(e->group, 0);
	assert_true(e->is_prefix);

	/* Members are next hops with their port and transport (SPEC §7)
	 * and hosts to resolve. */
	assert_int_equal(sipmsg_uri_parse(SLICE("sip:10.0.0.5:5070"), &u,
	    &fault), 0);
	assert_true(table_is_next_hop(c->table, &u));
	assert_int_equal(sipmsg_uri_parse(SLICE("sip:10.0.0.5"), &u,
	    &fault), 0);
	assert_false(table_is_next_hop(c->table, &u));
	assert_int_equal(sipmsg_uri_parse(SLICE("sip:10.0.0.6;transport=tcp"),
	    &u, &fault), 0);
	assert_true(table_is_next_hop(c->table, &u));
	assert_int_equal(sipmsg_uri_parse(SLICE("sip:10.0.0.6"), &u,
	    &fault), 0);
	assert_false(table_is_next_hop(c->table, &u));
	for (i = 0; table_target_host(c->table, i, &host, &flags); i++)
		if (slice_eq(host, SLICE("standby.example.net"))) {
			seen_name = true;
			assert_int_equal(flags, TABLE_HOST_FORWARD |
			    TABLE_HOST_NO_PORT);
		}
	assert_true(seen_name);

	config_summary(c, sum, sizeof(sum));
	assert_string_equal(sum, "1 domains, 4 users (1 prefixes), 2 groups "
	    "(4 members), 1 listeners (udp 127.0.0.1:5060)");

	/* A snapshot (Redis) names groups alike. */
	assert_non_null(t = table_new());
	assert_int_equal(table_set_groups(t, c->groups, c->ngroups), 0);
	snap = "dave@example.com active group:west\n";
	assert_int_equal(table_load_buffer(t, "redis:v7", snap, strlen(snap),
	    dom_example, NULL, err, sizeof(err)), 0);
	assert_non_null(e = table_lookup(t, 0, "dave", 4));
	assert_int_equal(e->group, 1);
	snap = "erin@example.com active group:north\n";
	assert_int_equal(table_load_buffer(t, "redis:v8", snap, strlen(snap),
	    dom_example, NULL, err, sizeof(err)), -1);
	assert_string_equal(err, "redis:v8:1: unknown group \"north\" "
	    "(not in groups)");
	table_free(t);
	config_unref(c);

	/* Errors in a users_file name it and its line. */
	write_file(users, "carol@example.com active group:east\n"
	    "dan@example.com active group:nowhere\n");
	assert_int_equal(config_load(conf, &c, err, sizeof(err)), -1);
	snprintf(sum, sizeof(sum), "%s:2: unknown group \"nowhere\"", users);
	if (strncmp(err, sum, strlen(sum)) != 0)
		fail_msg("got \"%s\", wanted \"%s...\"", err, sum);
	write_file(users, "dan@example.com moved group:east\n");
	assert_int_equal(config_load(conf, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "u.txt:1: a moved target cannot be a group"));
	unlink(users);
	unlink(conf);
	rmdir(dir);
}

static void
test_refcount(void **state)
{
	struct conf *c = load_ok(BASE);

	(void)state;
	assert_ptr_equal(config_ref(c), c);
	assert_int_equal(c->refs, 2);
	config_unref(c);
	assert_int_equal(c->refs, 1);
	config_unref(c);		/* freed: ASan reports any misuse */
	assert_null(config_ref(NULL));
	config_unref(NULL);
}

static void
test_summary_names(void **state)
{
	struct conf *c;
	char buf[256];

	(void)state;
	c = load_ok("listen = ( { transport = \"udp\"; address = \"::1\"; "
	    "port = 5062; } );\n" D_EX
	    "users = ( { prefix = \"+1\"; domain = \"example.com\"; "
	    "target = \"sip:10.0.0.1\"; } );\n");
	config_summary(c, buf, sizeof(buf));
	assert_string_equal(buf,
	    "1 domains, 1 users (1 prefixes), 1 listeners (udp [::1]:5062)");
	/* Truncation stays NUL-terminated. */
	config_summary(c, buf, 10);
	assert_string_equal(buf, "1 domains");
	config_unref(c);

	assert_string_equal(config_transport_name(SIP_TP_UDP), "udp");
	assert_string_equal(config_transport_name(SIP_TP_TCP), "tcp");
	assert_string_equal(config_transport_name(SIP_TP_TLS), "tls");
	assert_string_equal(config_transport_name(SIP_TP_SCTP), "sctp");
	assert_string_equal(config_transport_name(SIP_TP_NONE), "?");
	assert_string_equal(config_transport_name(SIP_TP_OTHER), "?");
}

/* A reload keeps what needs a restart and names it; the rest is new. */
static void
test_reload_keeps_running(void **state)
{
	struct conf *run, *c = NULL;
	char path[64], err[512], changed[256];

	(void)state;
	run = load_ok("listen = ( { transport = \"udp\"; address = "
	    "\"127.0.0.1\"; port = 5060; } );\n" D_EX
	    "workers = 2;\nlimits = { tcp_idle_timeout = 30; };\n"
	    "daemon = { pidfile = \"/run/a.pid\"; };\n"
	    "users = ( { user = \"bob\"; domain = \"example.com\"; "
	    "state = \"gone\"; } );\n");

	/* Routing changes only: nothing to report. */
	temp_conf("listen = ( { transport = \"udp\"; address = "
	    "\"127.0.0.1\"; port = 5060; } );\n" D_EX
	    "workers = 2;\nlimits = { tcp_idle_timeout = 30; };\n"
	    "daemon = { pidfile = \"/run/a.pid\"; };\nmode = \"redirect\";\n",
	    path, sizeof(path));
	assert_int_equal(config_reload(path, run, &c, changed, sizeof(changed),
	    err, sizeof(err)), 0);
	unlink(path);
	assert_string_equal(changed, "");
	assert_int_equal(c->mode, MODE_REDIRECT);
	assert_int_equal(table_count(c->table), 0);
	config_unref(c);

	/* Listen, workers, limits and daemon changed: all kept, all named;
	 * "this proxy" is still the running address. */
	temp_conf("listen = ( { transport = \"udp\"; address = "
	    "\"127.0.0.2\"; port = 5070; },\n { transport = \"tcp\"; "
	    "address = \"127.0.0.2\"; port = 5070; } );\n" D_EX
	    "workers = 4;\nlimits = { tcp_idle_timeout = 60; "
	    "rate_per_source = 5; tcp_max_connections_per_source = 2; "
	    "tcp_max_outgoing = 9; tcp_max_queue = 70000; };\n"
	    "daemon = { pidfile = \"/run/b.pid\"; };\n", path, sizeof(path));
	assert_int_equal(config_reload(path, run, &c, changed, sizeof(changed),
	    err, sizeof(err)), 0);
	unlink(path);
	assert_string_equal(changed,
	    "listen, workers, daemon, limits.max_message_size/tcp_*");
	assert_int_equal(c->nlisten, 1);
	assert_int_equal(c->listen[0].port, 5060);
	assert_string_equal(c->listen[0].address, "127.0.0.1");
	assert_int_equal(c->workers, 2);
	assert_int_equal(c->tcp_idle_timeout, 30);
	assert_int_equal(c->tcp_max_per_source, 32);
	assert_int_equal(c->tcp_max_outgoing, 4096);
	assert_int_equal(c->tcp_max_queue, 1024 * 1024);
	assert_string_equal(c->pidfile, "/run/a.pid");
	assert_int_equal(c->rate_per_source, 5);	/* reloadable */
	assert_true(config_is_self(c, slice_make("127.0.0.1", 9), 5060));
	assert_false(config_is_self(c, slice_make("127.0.0.2", 9), 5070));
	config_unref(c);

	/* A reload that fails validation still fails, with file:line. */
	temp_conf(BASE "workers = -1;\n", path, sizeof(path));
	c = NULL;
	assert_int_equal(config_reload(path, run, &c, changed, sizeof(changed),
	    err, sizeof(err)), -1);
	assert_null(c);
	assert_non_null(strstr(err, ":3: "));
	unlink(path);
	config_unref(run);
}

/* A reload of text over run; the new conf. */
static struct conf *
reload_ok(const struct conf *run, const char *text)
{
	struct conf *c = NULL;
	char path[64], err[512], changed[256];

	temp_conf(text, path, sizeof(path));
	if (config_reload(path, run, &c, changed, sizeof(changed), err,
	    sizeof(err)) != 0)
		fail_msg("config_reload: %s", err);
	unlink(path);
	return c;
}

/*
 * SPEC §7: the branch key. From branch_secret; else from the machine id
 * (the same on every load); else random (a new one per start) with a
 * warning. A reload keeps it while branch_secret stays as it was.
 */
static void
test_branch_key(void **state)
{
	uint8_t want[SIPHASH_KEY_LEN];
	struct conf *a, *b, *c;
	char idpath[64];

	(void)state;
	temp_conf("0123456789abcdef0123456789abcdef\n", idpath,
	    sizeof(idpath));
	config_set_machine_id_path(idpath);

	a = load_ok(BASE "branch_secret = \"fleet-7\";\n");
	siphash_derive_key("fleet-7", 7, "branch", want);
	assert_memory_equal(a->branch_key, want, SIPHASH_KEY_LEN);
	assert_false(a->branch_key_random);
	config_unref(a);

	/* the machine id, its newline not part of it */
	a = load_ok(BASE);
	b = load_ok(BASE);
	siphash_derive_key("0123456789abcdef0123456789abcdef", 32, "branch",
	    want);
	assert_memory_equal(a->branch_key, want, SIPHASH_KEY_LEN);
	assert_memory_equal(b->branch_key, want, SIPHASH_KEY_LEN);
	assert_false(a->branch_key_random);
	config_unref(b);
	/* a reload to a secret takes it; one back to none, the id again */
	b = reload_ok(a, BASE "branch_secret = \"s\";\n");
	siphash_derive_key("s", 1, "branch", want);
	assert_memory_equal(b->branch_key, want, SIPHASH_KEY_LEN);
	c = reload_ok(b, BASE);
	assert_memory_equal(c->branch_key, a->branch_key, SIPHASH_KEY_LEN);
	config_unref(a);
	config_unref(b);
	config_unref(c);

	/* no file (and an empty one): random, another one per load */
	write_file(idpath, "\n");
	a = load_ok(BASE);
	unlink(idpath);
	b = load_ok(BASE);
	assert_true(a->branch_key_random && b->branch_key_random);
	assert_memory_not_equal(a->branch_key, b->branch_key,
	    SIPHASH_KEY_LEN);
	/* ... which a reload keeps, or responses in flight are lost */
	c = reload_ok(b, BASE "mode = \"redirect\";\n");
	assert_memory_equal(c->branch_key, b->branch_key, SIPHASH_KEY_LEN);
	assert_true(c->branch_key_random);
	config_unref(a);
	config_unref(b);
	config_unref(c);
	config_set_machine_id_path(NULL);
}

/* table_source (SPEC §11): defaults, servers, and a table from a
 * snapshot in memory, loaded by the users_file parser under its name. */
static void
test_table_source(void **state)
{
	static const char text[] = BASE "table_source = { type = \"redis\"; "
	    "servers = [ \"10.0.0.1:6380\", \"[2001:db8::1]:7000\", "
	    "\"r3\" ]; cache_file = \"/nonexistent/usher.cache\"; };\n";
	struct conf_snapshot snap = { "redis:v9", "alice@example.com gone\n"
	    "bob@example.com bogus\n", 44, 9 };
	struct conf *c;
	char path[64], err[512];

	(void)state;
	c = load_ok(BASE);
	assert_int_equal(c->source.type, SOURCE_FILE);
	config_unref(c);

	c = load_ok(text);
	assert_int_equal(c->source.type, SOURCE_REDIS);
	assert_int_equal(c->source.nservers, 3);
	assert_string_equal(c->source.hosts[1], "2001:db8::1");
	assert_int_equal(c->source.ports[1], 7000);
	assert_int_equal(c->source.ports[2], 6379);
	assert_string_equal(c->source.prefix, "usher:");
	assert_int_equal(c->source.poll_interval, 5);
	assert_int_equal(c->source.connect_timeout_ms, 500);
	assert_int_equal(c->source.command_timeout_ms, 2000);
	/* No cache yet: loads, and says the table is missing. */
	assert_true(c->table_missing);
	assert_int_equal(table_count(c->table), 0);
	config_unref(c);

	temp_conf(text, path, sizeof(path));
	c = NULL;
	assert_int_equal(config_reload_snapshot(path, NULL, &snap, &c, NULL, 0,
	    err, sizeof(err)), -1);
	assert_string_equal(err, "redis:v9:2: unknown state \"bogus\" "
	    "(active, moved, unavailable, gone)");
	snap.len = 23;		/* alice only */
	assert_int_equal(config_reload_snapshot(path, NULL, &snap, &c, NULL, 0,
	    err, sizeof(err)), 0);
	assert_int_equal(table_count(c->table), 1);
	assert_int_equal(c->table_version, 9);
	assert_false(c->table_missing);
	config_unref(c);
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shipped),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_table_source),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_accepted),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_domain_find),
		cmocka_unit_test(test_domain_find_many),
		cmocka_unit_test(test_is_self),
		cmocka_unit_test(test_trusted_find),
		cmocka_unit_test(test_users_file),
		cmocka_unit_test(test_groups),
		cmocka_unit_test(test_refcount),
		cmocka_unit_test(test_summary_names),
		cmocka_unit_test(test_reload_keeps_running),
		cmocka_unit_test(test_branch_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
