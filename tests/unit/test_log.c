/* test_log.c: a log line stays one line whatever a message put in it
 * (SPEC §7: CR, LF, NUL, ESC are written escaped). */
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
#include "log.h"

static const struct {
	const char	*in;
	size_t		 len;
	const char	*out;
} rows[] = {
	{ "plain", 5, "plain" },
	{ "a\r\nb", 4, "a\\r\\nb" },
	{ "call\0id", 7, "call\\x00id" },
	{ "\x1b[2J", 4, "\\x1b[2J" },
	{ "\t\x01\x1f\x7f", 4, "\\t\\x01\\x1f\\x7f" },
	{ "caf\xc3\xa9 \\n", 8, "caf\xc3\xa9 \\n" },	/* UTF-8 kept */
};

static void
test_escape(void **state)
{
	char buf[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		assert_int_equal(log_escape(buf, sizeof(buf), rows[i].in,
		    rows[i].len), strlen(rows[i].out));
		assert_string_equal(buf, rows[i].out);
	}
}

/* No room for a whole escape: stop before it, terminated. */
static void
test_escape_short(void **state)
{
	char buf[6];

	(void)state;
	assert_int_equal(log_escape(buf, sizeof(buf), "ab\r\ncd", 6), 4);
	assert_string_equal(buf, "ab\\r");
	assert_int_equal(log_escape(buf, 1, "ab", 2), 0);
	assert_string_equal(buf, "");
	assert_int_equal(log_escape(buf, sizeof(buf), "abcdefgh", 8), 5);
	assert_string_equal(buf, "abcde");
}

/* Through the logger itself, as a folded Call-ID would come: one line. */
static void
test_one_line(void **state)
{
	static const char callid[] = "abc\r\nusher: warning: forged\x1b[0m";
	char path[] = "/tmp/test_log.XXXXXX", line[512];
	FILE *f;
	int fd, saved, lines = 0;

	(void)state;
	assert_true((fd = mkstemp(path)) >= 0);
	fflush(stderr);
	assert_true((saved = dup(STDERR_FILENO)) >= 0);
	assert_true(dup2(fd, STDERR_FILENO) >= 0);
	log_init(true, LOG_LEVEL_DEBUG);
	log_debug("request Call-ID %.*s%c!", (int)sizeof(callid) - 1, callid,
	    '\0');
	fflush(stderr);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	assert_non_null(f = fdopen(fd, "r"));
	rewind(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		lines++;
		assert_string_equal(line, "usher: debug: request Call-ID "
		    "abc\\r\\nusher: warning: forged\\x1b[0m\\x00!\n");
	}
	assert_int_equal(lines, 1);
	fclose(f);
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_escape_short),
		cmocka_unit_test(test_one_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
