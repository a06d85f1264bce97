/* test_control.c: the control protocol's answers, one row per request
 * line, and the table version (SPEC §10). */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "control.h"
#include "group.h"
#include "health.h"
#include "proxy.h"

static const struct {
	const char	*line;
	int		 rc;
	const char	*answer;
} rows[] = {
	{ "members", 0, "ok\nno groups configured\n" },
	{ "json members", 0, "ok\n{\"members\":[]}\n" },
	{ "drain pbx 10.0.0.1", -1, "error\nno group pbx\n" },
	{ "undrain pbx 10.0.0.1\r", -1, "error\nno group pbx\n" },
	{ "json drain pbx 10.0.0.1", -1, "error\n{\"error\":\"no group pbx\"}\n" },
	{ "drain pbx", -1, "error\nusage: drain GROUP TARGET\n" },
	{ "", -1, "error\nempty request\n" },
	{ "json", -1, "error\n{\"error\":\"empty request\"}\n" },
	{ "bogus x", -1, "error\nunknown command \"bogus\"\n" },
	{ "json \"\\", -1, "error\n{\"error\":\"unknown command \\\"\\\"\\\\\\\"\"}\n" },
	{ "status", -1, "error\nnot available\n" },	/* no ops given */
	{ "explain", -1, "error\nusage: explain [-s SOURCE] 'METHOD URI'\n" },
	{ "explain -s 1.2.3.4 -", -1,
	    "error\nusage: explain [-s SOURCE] 'METHOD URI'\n" },
	{ "explain INVITE sip:a@b", -1, "error\nno configuration loaded yet\n" },
};

static void
test_rows(void **state)
{
	char *buf;
	size_t len, i;
	FILE *f;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		buf = NULL;
		f = open_memstream(&buf, &len);
		assert_non_null(f);
		rc = control_handle(rows[i].line, f);
		fclose(f);
		if (rc != rows[i].rc || strcmp(buf, rows[i].answer) != 0)
			fail_msg("row %zu \"%s\": rc %d, \"%s\"", i,
			    rows[i].line, rc, buf);
		free(buf);
	}
}

static struct conf *
load(const char *users)
{
	char path[] = "/tmp/test_control.XXXXXX", err[512];
	struct conf *c = NULL;
	FILE *f;
	int fd;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fprintf(f, "listen = ( { transport = \"udp\"; address = "
	    "\"127.0.0.1\"; } );\ndomains = ( { name = \"example.com\"; } );\n"
	    "users = ( %s );\n", users);
	fclose(f);
	if (config_load(path, &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	unlink(path);
	return c;
}

static void
test_version(void **state)
{
	struct conf *a, *b, *c;
	char va[65], vb[65], vc[65];

	(void)state;
	a = load("{ user = \"bob\"; domain = \"example.com\"; state = \"gone\"; }");
	b = load("{ user = \"bob\"; domain = \"example.com\"; state = \"gone\"; }");
	c = load("{ user = \"bob\"; domain = \"example.com\"; "
	    "state = \"unavailable\"; }");
	control_table_version(a, va);
	control_table_version(b, vb);
	control_table_version(c, vc);
	assert_int_equal(strlen(va), 64);
	assert_string_equal(va, vb);		/* same entries, same version */
	assert_string_not_equal(va, vc);	/* a state changed */
	config_unref(a);
	config_unref(b);
	config_unref(c);
}

/* The answer to one request line; rc into *rc. Caller frees. */
static char *
ask(const char *line, int *rc)
{
	char *buf = NULL;
	size_t len;
	FILE *f;

	f = open_memstream(&buf, &len);
	assert_non_null(f);
	*rc = control_handle(line, f);
	fclose(f);
	return buf;
}

#define ASK(line, want_rc, want) do {					\
	char *a_ = ask((line), &rc);					\
	if (rc != (want_rc) || strcmp(a_, (want)) != 0)			\
		fail_msg("\"%s\": rc %d, \"%s\"", (line), rc, a_);	\
	free(a_);							\
} while (0)

/* SPEC §8: members, drain, undrain on the published configuration. */
static void
test_members(void **state)
{
	static struct member_health h[3];
	char path[] = "/tmp/test_control.XXXXXX", err[512];
	struct conf *c = NULL;
	size_t i;
	FILE *f;
	int fd, rc;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fprintf(f, "listen = ( { transport = \"udp\"; address = "
	    "\"127.0.0.1\"; } );\ndomains = ( { name = \"example.com\"; } );\n"
	    "groups = ( { name = \"east\"; members = ( { target = "
	    "\"sip:10.0.0.5:5060\"; weight = 2; }, { target = "
	    "\"sip:10.0.0.6\"; priority = 2; } ); },\n"
	    " { name = \"west\"; members = ( { target = \"sip:10.1.0.5\"; } ); }"
	    " );\n");
	fclose(f);
	if (config_load(path, &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	unlink(path);
	for (i = 0; i < 2; i++) {
		atomic_init(&h[i].up, true);
		c->groups[0].members[i].health = &h[i];
	}
	atomic_store(&h[0].requests, 17);
	atomic_store(&h[0].rtt_us, 1250);
	atomic_store(&h[1].up, false);
	proxy_publish(c, NULL);

	ASK("members", 0, "ok\n"
	    "east 0 sip:10.0.0.5:5060 up priority=1 weight=2 requests=17 "
	    "rtt_ms=1.250\n"
	    "east 1 sip:10.0.0.6 down priority=2 weight=1 requests=0 "
	    "rtt_ms=0.000\n"
	    "west 0 sip:10.1.0.5 up priority=1 weight=1 requests=0 "
	    "rtt_ms=0.000\n");
	ASK("members west", 0, "ok\nwest 0 sip:10.1.0.5 up priority=1 "
	    "weight=1 requests=0 rtt_ms=0.000\n");
	ASK("json members west", 0, "ok\n{\"members\":[{\"group\":\"west\","
	    "\"index\":0,\"target\":\"sip:10.1.0.5\",\"up\":true,\"drained\":"
	    "false,\"priority\":1,\"weight\":1,\"requests\":0,\"rtt_ms\":"
	    "0.000}]}\n");
	ASK("members north", -1, "error\nno group north\n");
	ASK("members a b", -1, "error\nusage: members [GROUP]\n");

	/* By target as written (any case) or by index. */
	ASK("drain east SIP:10.0.0.5:5060", 0,
	    "ok\neast sip:10.0.0.5:5060 drained\n");
	assert_true(atomic_load(&h[0].drained));
	ASK("members east", 0, "ok\n"
	    "east 0 sip:10.0.0.5:5060 up drained priority=1 weight=2 "
	    "requests=17 rtt_ms=1.250\n"
	    "east 1 sip:10.0.0.6 down priority=2 weight=1 requests=0 "
	    "rtt_ms=0.000\n");
	ASK("undrain east 0", 0, "ok\neast sip:10.0.0.5:5060 undrained\n");
	assert_false(atomic_load(&h[0].drained));
	ASK("json drain east 1", 0, "ok\n{\"group\":\"east\",\"target\":"
	    "\"sip:10.0.0.6\",\"drained\":true}\n");
	assert_true(atomic_load(&h[1].drained));
	ASK("drain east 2", -1, "error\nno member 2 in group east\n");
	ASK("drain east 1x", -1, "error\nno member 1x in group east\n");
	ASK("drain east sip:10.0.0.7", -1,
	    "error\nno member sip:10.0.0.7 in group east\n");
	ASK("drain north 0", -1, "error\nno group north\n");
	/* Without health (not bound): said, not pretended. */
	ASK("drain west 0", -1, "error\nmember sip:10.1.0.5 of group west "
	    "has no health state\n");
	proxy_publish(NULL, NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_members),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
