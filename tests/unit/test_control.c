/* test_control.c: the control protocol's answers, one row per request
 * line, and the table version (SPEC §10). */
#include <stdarg.h>
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_version),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
