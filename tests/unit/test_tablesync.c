/* test_tablesync.c: the pure parts of the fleet table (SPEC §11): chunks
 * at line ends, the meta check, the backoff schedule, the rule for which
 * version is worth a load. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tablesync.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

static void
test_chunk_end(void **state)
{
	static const struct {
		const char	*buf;
		size_t		 off, max, end;
	} rows[] = {
		{ "ab\ncd\nef\n", 0, 100, 9 },	/* all fits */
		{ "ab\ncd\nef\n", 0, 7, 6 },	/* two whole lines */
		{ "ab\ncd\nef\n", 0, 6, 6 },	/* exactly two */
		{ "ab\ncd\nef\n", 0, 5, 3 },	/* never half a line */
		{ "ab\ncd\nef\n", 3, 3, 6 },
		{ "ab\ncd\nef", 6, 2, 8 },	/* the tail, unterminated */
		{ "abcdef\ngh\n", 0, 4, 0 },	/* a line longer than max */
		{ "", 0, 4, 0 },
	};
	size_t i, e;

	(void)state;
	for (i = 0; i < NELEM(rows); i++) {
		e = tablesync_chunk_end(rows[i].buf, strlen(rows[i].buf),
		    rows[i].off, rows[i].max);
		if (e != rows[i].end)
			fail_msg("row %zu: end %zu, expected %zu", i, e,
			    rows[i].end);
	}
}

/* Chunks of a generated file cover it exactly, each whole lines. */
static void
test_chunks_cover(void **state)
{
	char buf[4000];
	size_t len = 0, off, e, n = 0;
	int i;

	(void)state;
	for (i = 0; len < sizeof(buf) - 40; i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len,
		    "user%d@example.com gone\n", i * 37);
	for (off = 0; off < len; off = e, n++) {
		e = tablesync_chunk_end(buf, len, off, 100);
		assert_true(e > off && e - off <= 100);
		assert_int_equal(buf[e - 1], '\n');
	}
	assert_int_equal(off, len);
	assert_true(n > len / 100);
}

static void
test_lines_sha(void **state)
{
	char hex[TABLESYNC_SHA_HEX];

	(void)state;
	assert_int_equal(tablesync_lines("", 0), 0);
	assert_int_equal(tablesync_lines("a\n", 2), 1);
	assert_int_equal(tablesync_lines("a\nb", 3), 2);
	assert_int_equal(tablesync_lines("\n\n", 2), 2);
	tablesync_sha256("abc", 3, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad");
}

static void
test_verify(void **state)
{
	static const char body[] = "a@example.com gone\nb@example.com gone\n";
	struct tablesync_meta m;
	char err[160];

	(void)state;
	memset(&m, 0, sizeof(m));
	m.chunks = 1;
	m.bytes = sizeof(body) - 1;
	m.lines = 2;
	tablesync_sha256(body, sizeof(body) - 1, m.sha256);
	assert_int_equal(tablesync_verify(&m, body, sizeof(body) - 1, err,
	    sizeof(err)), 0);
	/* One byte short: a chunk lost its end. */
	assert_int_equal(tablesync_verify(&m, body, sizeof(body) - 2, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "bytes"));
	/* The same length, another byte: the checksum. */
	assert_int_equal(tablesync_verify(&m, "a@example.com gone\nb@example"
	    ".com gonE\n", sizeof(body) - 1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "sha256"));
	m.lines = 3;
	assert_int_equal(tablesync_verify(&m, body, sizeof(body) - 1, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "lines"));
}

static void
test_backoff(void **state)
{
	static const unsigned base[] = { 1000, 2000, 4000, 8000, 16000,
	    30000, 30000, 30000 };
	unsigned a, d;

	(void)state;
	for (a = 0; a < NELEM(base); a++) {
		/* No jitter: the schedule itself. */
		assert_int_equal(tablesync_backoff_ms(a, 0), base[a]);
		/* Jitter adds at most a fifth, never past 30 s. */
		d = tablesync_backoff_ms(a, UINT32_MAX);
		assert_true(d >= base[a] && d <= base[a] + base[a] / 5 &&
		    d <= 30000);
	}
	assert_int_equal(tablesync_backoff_ms(1000, 12345), 30000);
}

static void
test_wants(void **state)
{
	static const struct {
		uint64_t	 cur, loaded, bad;
		bool		 want;
	} rows[] = {
		{ 0, 5, 0, false },	/* nothing published (Redis empty) */
		{ 5, 5, 0, false },	/* running it */
		{ 6, 5, 0, true },	/* new */
		{ 6, 5, 6, false },	/* failed: not until current moves */
		{ 7, 5, 6, true },	/* moved on */
		{ 1, 5, 0, true },	/* another number: load it */
		{ 5, 0, 0, true },	/* nothing loaded yet */
	};
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(rows); i++)
		if (tablesync_wants(rows[i].cur, rows[i].loaded,
		    rows[i].bad) != rows[i].want)
			fail_msg("row %zu", i);
}

/* At most one load a second: the wait is what is left of it, plus a
 * jitter under 200 ms; nothing to wait for before the first load. */
static void
test_load_wait(void **state)
{
	(void)state;
	assert_int_equal(tablesync_load_wait_ms(-1, 12345), 0);
	assert_int_equal(tablesync_load_wait_ms(1000, 12345), 0);
	assert_int_equal(tablesync_load_wait_ms(5000, 7), 0);
	assert_int_equal(tablesync_load_wait_ms(0, 0), 1000);
	assert_int_equal(tablesync_load_wait_ms(400, 0), 600);
	assert_int_equal(tablesync_load_wait_ms(999, 199), 200);
	assert_int_equal(tablesync_load_wait_ms(400, 200), 600);
	assert_true(tablesync_load_wait_ms(0, UINT32_MAX) < 1200);
}

static void
test_reason_names(void **state)
{
	(void)state;
	assert_string_equal(tablesync_reason_name(TS_CHECKSUM), "checksum");
	assert_string_equal(tablesync_reason_name(TS_PARSE), "parse");
	assert_string_equal(tablesync_reason_name(TS_MISSING), "missing");
	assert_string_equal(tablesync_reason_name(TS_TIMEOUT), "timeout");
	assert_string_equal(tablesync_reason_name(TS_CONNECT), "connect");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chunk_end),
		cmocka_unit_test(test_chunks_cover),
		cmocka_unit_test(test_lines_sha),
		cmocka_unit_test(test_verify),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_wants),
		cmocka_unit_test(test_load_wait),
		cmocka_unit_test(test_reason_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
