/* test_table.c: the user table: exact and prefix lookups, normalisation,
 * every validation error of table_add and of a users_file. */
#include <sys/types.h>

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

#include "sipmsg.h"
#include "slice.h"
#include "table.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

enum { EXAMPLE = 0, PARTNER = 1 };

static int
domain_of(void *arg, const char *name, size_t len)
{
	static const char *names[] = { "example.com", "partner.net" };
	size_t i;

	(void)arg;
	for (i = 0; i < NELEM(names); i++)
		if (strlen(names[i]) == len &&
		    strncasecmp(names[i], name, len) == 0)
			return (int)i;
	return -1;
}

struct add {
	const char	*user;
	bool		 prefix;
	uint16_t	 domain;
	enum user_state	 state;
	const char	*target;
	uint32_t	 retry_after;
};

static struct table *
build(const struct add *a, size_t n)
{
	struct table *t = table_new();
	char err[256];
	size_t i;

	assert_non_null(t);
	for (i = 0; i < n; i++) {
		err[0] = '\0';
		if (table_add(t, a[i].user, a[i].prefix, a[i].domain,
		    a[i].state, a[i].target, a[i].retry_after, "usher.conf",
		    (uint32_t)(10 + i), err, sizeof(err)) != 0)
			fail_msg("adding %s: %s", a[i].user, err);
	}
	return t;
}

struct look {
	uint16_t	 domain;
	const char	*user;
	size_t		 len;		/* 0: strlen(user) */
	const char	*target;	/* expected target; NULL: no entry */
};

static void
check_lookups(const struct table *t, const struct look *l, size_t n)
{
	const struct table_entry *e;
	size_t i, len;

	for (i = 0; i < n; i++) {
		len = l[i].len ? l[i].len : strlen(l[i].user);
		e = table_lookup(t, l[i].domain, l[i].user, len);
		if (l[i].target == NULL) {
			if (e != NULL)
				fail_msg("row %zu %s: expected no entry, got %s",
				    i, l[i].user, e->user);
			continue;
		}
		if (e == NULL)
			fail_msg("row %zu %s: no entry", i, l[i].user);
		if (e->target == NULL || strcmp(e->target, l[i].target) != 0)
			fail_msg("row %zu %s: target %s, expected %s", i,
			    l[i].user, e->target ? e->target : "(none)",
			    l[i].target);
	}
}

static void
test_exact(void **state)
{
	static const struct add a[] = {
		{ "alice", false, EXAMPLE, USER_ACTIVE, "sip:alice@10.0.0.5:5060", 0 },
		{ "Alice", false, EXAMPLE, USER_ACTIVE, "sip:Alice@10.0.0.6", 0 },
		{ "alice", false, PARTNER, USER_ACTIVE, "sip:alice@10.0.0.7", 0 },
		{ "bob", false, EXAMPLE, USER_MOVED, "sips:bob@partner.net", 0 },
		{ "carol", false, EXAMPLE, USER_UNAVAILABLE, NULL, 300 },
		{ "dave", false, EXAMPLE, USER_GONE, NULL, 0 },
		{ "%61nn", false, EXAMPLE, USER_ACTIVE, "sip:ann@10.0.0.8", 0 },
		{ "z%00z", false, EXAMPLE, USER_ACTIVE, "sip:zz@10.0.0.9", 0 },
	};
	static const struct look l[] = {
		{ EXAMPLE, "alice", 0, "sip:alice@10.0.0.5:5060" },
		{ EXAMPLE, "Alice", 0, "sip:Alice@10.0.0.6" },	/* case kept */
		{ EXAMPLE, "ALICE", 0, NULL },
		{ PARTNER, "alice", 0, "sip:alice@10.0.0.7" },	/* own domain */
		{ PARTNER, "bob", 0, NULL },
		{ 7, "alice", 0, NULL },			/* no such domain */
		{ EXAMPLE, "alic", 0, NULL },
		{ EXAMPLE, "alicee", 0, NULL },
		{ EXAMPLE, "bob", 0, "sips:bob@partner.net" },
		{ EXAMPLE, "ann", 0, "sip:ann@10.0.0.8" },	/* %61 unescaped */
		{ EXAMPLE, "%61nn", 0, NULL },			/* lookups get it raw */
		{ EXAMPLE, "z\0z", 3, "sip:zz@10.0.0.9" },	/* %00 kept */
		{ EXAMPLE, "z", 0, NULL },
		{ EXAMPLE, "zz", 0, NULL },
	};
	struct table *t = build(a, NELEM(a));
	const struct table_entry *e;

	(void)state;
	check_lookups(t, l, NELEM(l));
	assert_int_equal(table_count(t), NELEM(a));
	assert_int_equal(table_count_prefixes(t), 0);

	e = table_lookup(t, EXAMPLE, "carol", 5);
	assert_non_null(e);
	assert_int_equal(e->state, USER_UNAVAILABLE);
	assert_int_equal(e->retry_after, 300);
	assert_null(e->target);
	assert_string_equal(e->file, "usher.conf");
	assert_int_equal(e->line, 14);
	assert_false(e->is_prefix);

	e = table_lookup(t, EXAMPLE, "dave", 4);
	assert_non_null(e);
	assert_int_equal(e->state, USER_GONE);

	e = table_lookup(t, EXAMPLE, "alice", 5);
	assert_non_null(e);
	assert_true(e->target_has_user);
	assert_string_equal(e->user, "alice");
	assert_int_equal(e->domain, EXAMPLE);

	e = table_lookup(t, EXAMPLE, "z\0z", 3);
	assert_non_null(e);
	assert_memory_equal(e->user, "z\0z", 4);	/* NUL-terminated too */
	table_free(t);
}

static void
test_normalise(void **state)
{
	static const struct {
		const char	*raw;
		bool		 phone;
		const char	*out;	/* NULL: -1 */
		size_t		 len;
	} rows[] = {
		{ "alice", false, "alice", 5 },
		{ "%61lice", false, "alice", 5 },
		{ "%4c%4C", false, "LL", 2 },
		{ "a%00b", false, "a\0b", 3 },
		{ "a%2", false, NULL, 0 },
		{ "a%", false, NULL, 0 },
		{ "%zz", false, NULL, 0 },
		{ "%g0", false, NULL, 0 },
		{ "+1-555-0100", false, "+1-555-0100", 11 },
		{ "+1-555-0100", true, "+15550100", 9 },
		{ "+1 (555) 01.00", true, "+15550100", 9 },
		{ "+1%20555%2D0100", true, "+15550100", 9 },
		{ "a.b-c", true, "abc", 3 },
		{ "", false, "", 0 },
	};
	char out[TABLE_MAX_USER];
	ssize_t n;
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(rows); i++) {
		n = table_normalise_user(slice_make(rows[i].raw,
		    strlen(rows[i].raw)), rows[i].phone, out, sizeof(out));
		if (rows[i].out == NULL) {
			if (n != -1)
				fail_msg("row %zu %s: %zd, expected -1", i,
				    rows[i].raw, n);
			continue;
		}
		if (n != (ssize_t)rows[i].len ||
		    memcmp(out, rows[i].out, rows[i].len) != 0)
			fail_msg("row %zu %s: got %zd bytes", i, rows[i].raw, n);
	}
	/* Does not fit. */
	assert_int_equal(table_normalise_user(SLICE("abcdef"), false, out, 5),
	    -1);
	assert_int_equal(table_normalise_user(SLICE("ab-c"), true, out, 3), 3);
}

static void
test_phone(void **state)
{
	static const struct add a[] = {
		{ "+1-555-0100", false, EXAMPLE, USER_ACTIVE, "sip:a@10.0.1.1", 0 },
		{ "+15550200", false, EXAMPLE, USER_ACTIVE, "sip:b@10.0.1.2", 0 },
		{ "(555) 0300", false, EXAMPLE, USER_ACTIVE, "sip:c@10.0.1.3", 0 },
		{ "a-b.c", false, EXAMPLE, USER_ACTIVE, "sip:d@10.0.1.4", 0 },
		{ "+--", false, EXAMPLE, USER_ACTIVE, "sip:e@10.0.1.5", 0 },
	};
	static const struct {
		const char	*raw;
		bool		 phone;
		const char	*target;
	} rows[] = {
		{ "+15550100", false, "sip:a@10.0.1.1" },
		{ "+1-555-0100", true, "sip:a@10.0.1.1" },
		{ "+1-555-0100", false, NULL },	/* separators kept w/o phone */
		{ "+1.555.0200", true, "sip:b@10.0.1.2" },
		{ "+1%2D555-0200", true, "sip:b@10.0.1.2" },
		{ "5550300", false, "sip:c@10.0.1.3" },
		{ "a-b.c", false, "sip:d@10.0.1.4" },	/* not a number */
		{ "abc", false, NULL },
		{ "+--", false, "sip:e@10.0.1.5" },	/* no digit: kept */
	};
	struct table *t = build(a, NELEM(a));
	const struct table_entry *e;
	char out[TABLE_MAX_USER];
	ssize_t n;
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(rows); i++) {
		n = table_normalise_user(slice_make(rows[i].raw,
		    strlen(rows[i].raw)), rows[i].phone, out, sizeof(out));
		assert_true(n > 0);
		e = table_lookup(t, EXAMPLE, out, (size_t)n);
		if (rows[i].target == NULL) {
			if (e != NULL)
				fail_msg("row %zu %s: unexpected entry", i,
				    rows[i].raw);
			continue;
		}
		if (e == NULL || strcmp(e->target, rows[i].target) != 0)
			fail_msg("row %zu %s: wrong entry", i, rows[i].raw);
	}
	table_free(t);
}

static void
test_prefix(void **state)
{
	static char longp[80], longu[100];
	struct add a[] = {
		{ "+1", true, EXAMPLE, USER_ACTIVE, "sip:10.0.2.1", 0 },
		{ "+1555", true, EXAMPLE, USER_ACTIVE, "sip:10.0.2.2", 0 },
		{ "+1-555-1", true, EXAMPLE, USER_ACTIVE, "sip:10.0.2.3", 0 },
		{ "+15551234", false, EXAMPLE, USER_ACTIVE, "sip:x@10.0.2.4", 0 },
		{ "+44", true, PARTNER, USER_ACTIVE, "sip:10.0.2.5", 0 },
		{ "sales", true, EXAMPLE, USER_MOVED, "sip:s@10.0.2.6", 0 },
		{ "+49", true, EXAMPLE, USER_GONE, NULL, 0 },
		{ longp, true, EXAMPLE, USER_ACTIVE, "sip:10.0.2.7", 0 },
	};
	const struct look l[] = {
		{ EXAMPLE, "+15551999", 0, "sip:10.0.2.3" },	/* longest */
		{ EXAMPLE, "+15551", 0, "sip:10.0.2.3" },	/* equal length */
		{ EXAMPLE, "+15559999", 0, "sip:10.0.2.2" },
		{ EXAMPLE, "+1555", 0, "sip:10.0.2.2" },
		{ EXAMPLE, "+1999", 0, "sip:10.0.2.1" },
		{ EXAMPLE, "+155", 0, "sip:10.0.2.1" },	/* +1555 is longer */
		{ EXAMPLE, "+1", 0, "sip:10.0.2.1" },
		{ EXAMPLE, "+15551234", 0, "sip:x@10.0.2.4" },	/* exact wins */
		{ EXAMPLE, "+155512345", 0, "sip:10.0.2.3" },
		{ EXAMPLE, "+2", 0, NULL },
		{ EXAMPLE, "+", 0, NULL },
		{ EXAMPLE, "1555", 0, NULL },
		{ EXAMPLE, "+44123", 0, NULL },			/* other domain */
		{ PARTNER, "+44123", 0, "sip:10.0.2.5" },
		{ PARTNER, "+15551999", 0, NULL },
		{ EXAMPLE, "salesdesk", 0, "sip:s@10.0.2.6" },	/* not a number */
		{ EXAMPLE, "sale", 0, NULL },
		{ EXAMPLE, longu, 0, "sip:10.0.2.7" },		/* >63 bytes */
		{ EXAMPLE, longp, 0, "sip:10.0.2.7" },
		{ EXAMPLE, longp, 70, "sip:10.0.2.1" },	/* shorter than it */
	};
	struct table *t;
	const struct table_entry *e;

	(void)state;
	memset(longp, '7', sizeof(longp) - 1);
	longp[0] = '+';
	longp[1] = '1';
	memcpy(longu, longp, sizeof(longp) - 1);
	memset(longu + sizeof(longp) - 1, '8', sizeof(longu) - sizeof(longp));
	t = build(a, NELEM(a));
	check_lookups(t, l, NELEM(l));
	assert_int_equal(table_count(t), NELEM(a));
	assert_int_equal(table_count_prefixes(t), NELEM(a) - 1);

	e = table_lookup(t, EXAMPLE, "+4930", 5);
	assert_non_null(e);
	assert_int_equal(e->state, USER_GONE);
	e = table_lookup(t, EXAMPLE, "+155519", 7);
	assert_non_null(e);
	assert_true(e->is_prefix);
	assert_false(e->target_has_user);
	assert_string_equal(e->user, "+15551");	/* separators removed */
	table_free(t);
}

static void
test_add_errors(void **state)
{
	static const struct {
		struct add	 a;
		const char	*err;
	} rows[] = {
		{ { "x", false, 0, USER_ACTIVE, NULL, 0 },
		    "an active user needs a target" },
		{ { "x", false, 0, USER_MOVED, NULL, 0 },
		    "a moved user needs a target" },
		{ { "+1", true, 0, USER_ACTIVE, NULL, 0 },
		    "an active prefix needs a target" },
		{ { "x", false, 0, USER_GONE, "sip:x@h", 0 },
		    "target given for a gone user" },
		{ { "x", false, 0, USER_UNAVAILABLE, "sip:x@h", 0 },
		    "target given for an unavailable user" },
		{ { "x", false, 0, USER_ACTIVE, "sip:x@h", 30 },
		    "retry_after given for an active user" },
		{ { "x", false, 0, USER_GONE, NULL, 30 },
		    "retry_after given for a gone user" },
		{ { "x", false, 0, USER_ACTIVE, "tel:+15550100", 0 },
		    "target \"tel:+15550100\" is not a sip: or sips: URI" },
		{ { "x", false, 0, USER_ACTIVE, "sip:x@h?Subject=hi", 0 },
		    "target \"sip:x@h?Subject=hi\" has escaped headers "
		    "(\"?...\")" },
		{ { "x", false, 0, USER_ACTIVE, "sip:x@", 0 },
		    "bad target \"sip:x@\": not a valid SIP URI" },
		{ { "x", false, 0, USER_MOVED, "not a uri", 0 },
		    "bad target \"not a uri\": not a valid SIP URI" },
		/* SPEC §7: no target usher could never send to */
		{ { "x", false, 0, USER_ACTIVE, "sip:x@255.255.255.255", 0 },
		    "target \"sip:x@255.255.255.255\": host is a broadcast "
		    "address" },
		{ { "x", false, 0, USER_ACTIVE, "sip:x@224.0.0.1", 0 },
		    "target \"sip:x@224.0.0.1\": host is a multicast address "
		    "(224.0.0.0/4)" },
		{ { "x", false, 0, USER_MOVED, "sip:x@239.255.255.250:5060",
		    0 }, "target \"sip:x@239.255.255.250:5060\": host is a "
		    "multicast address (224.0.0.0/4)" },
		{ { "x", false, 0, USER_ACTIVE, "sip:x@0.0.0.0", 0 },
		    "target \"sip:x@0.0.0.0\": host is an unspecified address "
		    "(0.0.0.0/8)" },
		{ { "x", false, 0, USER_ACTIVE, "sip:x@[::]", 0 },
		    "target \"sip:x@[::]\": host is the unspecified address "
		    "(::)" },
		{ { "x", false, 0, USER_ACTIVE, "sip:x@[ff02::1]:5060", 0 },
		    "target \"sip:x@[ff02::1]:5060\": host is a multicast "
		    "address (ff00::/8)" },
		{ { "x", false, 0, USER_ACTIVE,
		    "sip:x@[::ffff:255.255.255.255]", 0 },
		    "target \"sip:x@[::ffff:255.255.255.255]\": host is a "
		    "broadcast address" },
		{ { "x", false, 0, USER_ACTIVE, "sip:x@10.0.0.1:0", 0 },
		    "bad target \"sip:x@10.0.0.1:0\": not a valid SIP URI" },
		/* no TLS listener (table_set_tls): not a target we can
		 * reach, and never downgraded */
		{ { "x", false, 0, USER_ACTIVE, "sips:x@pbx.example.com", 0 },
		    "target \"sips:x@pbx.example.com\": sips: needs TLS: add a "
		    "listen entry with transport = \"tls\" and a tls block" },
		{ { "x", false, 0, USER_ACTIVE,
		    "sip:x@10.0.0.1;transport=tls", 0 },
		    "target \"sip:x@10.0.0.1;transport=tls\": transport=tls "
		    "needs TLS: add a listen entry with transport = \"tls\" "
		    "and a tls block" },
		{ { "x", false, 0, USER_ACTIVE, "sip:x@a..b", 0 },
		    "target \"sip:x@a..b\": host is not a DNS name (labels of "
		    "letters, digits, '-', '_', at most 63 bytes each, 253 in "
		    "all)" },
		{ { "alice", false, 0, USER_ACTIVE, "sip:a@h", 0 },
		    "duplicate user alice (first at usher.conf:40)" },
		{ { "%61lice", false, 0, USER_GONE, NULL, 0 },
		    "duplicate user alice (first at usher.conf:40)" },
		{ { "+1-555", true, 0, USER_ACTIVE, "sip:h", 0 },
		    "duplicate prefix +1555 (first at usher.conf:41)" },
		{ { "a%00", false, 0, USER_GONE, NULL, 0 },
		    "duplicate user a%00 (first at usher.conf:42)" },
		{ { "", false, 0, USER_GONE, NULL, 0 }, "empty user" },
		{ { "", true, 0, USER_GONE, NULL, 0 }, "empty prefix" },
		{ { "al%6", false, 0, USER_GONE, NULL, 0 },
		    "bad %-escape in user al%6" },
		{ { "al%xxce", false, 0, USER_GONE, NULL, 0 },
		    "bad %-escape in user al%xxce" },
		{ { "+1%", true, 0, USER_ACTIVE, "sip:h", 0 },
		    "bad %-escape in prefix +1%" },
		{ { "u", false, 0, (enum user_state)9, NULL, 0 },
		    "bad state 9" },
	};
	char err[256], big[200], bigerr[256];
	struct table *t = table_new();
	size_t i;

	(void)state;
	assert_int_equal(table_add(t, "alice", false, 0, USER_ACTIVE,
	    "sip:alice@h", 0, "usher.conf", 40, err, sizeof(err)), 0);
	assert_int_equal(table_add(t, "+1555", true, 0, USER_ACTIVE,
	    "sip:h", 0, "usher.conf", 41, err, sizeof(err)), 0);
	assert_int_equal(table_add(t, "a%00", false, 0, USER_GONE, NULL, 0,
	    "usher.conf", 42, err, sizeof(err)), 0);
	/* The same user in another domain, or as a prefix, is no duplicate. */
	assert_int_equal(table_add(t, "alice", false, 1, USER_GONE, NULL, 0,
	    "usher.conf", 43, err, sizeof(err)), 0);
	assert_int_equal(table_add(t, "alice", true, 0, USER_GONE, NULL, 0,
	    "usher.conf", 44, err, sizeof(err)), 0);
	for (i = 0; i < NELEM(rows); i++) {
		err[0] = '\0';
		if (table_add(t, rows[i].a.user, rows[i].a.prefix,
		    rows[i].a.domain, rows[i].a.state, rows[i].a.target,
		    rows[i].a.retry_after, "usher.conf", 99, err,
		    sizeof(err)) != -1)
			fail_msg("row %zu: accepted", i);
		if (strcmp(err, rows[i].err) != 0)
			fail_msg("row %zu: \"%s\", expected \"%s\"", i, err,
			    rows[i].err);
	}
	assert_int_equal(table_count(t), 5);

	/* 127 bytes fit, 128 do not, unless separators come out. */
	memset(big, 'u', sizeof(big));
	big[TABLE_MAX_USER - 1] = '\0';
	assert_int_equal(table_add(t, big, false, 0, USER_GONE, NULL, 0,
	    "usher.conf", 50, err, sizeof(err)), 0);
	assert_non_null(table_lookup(t, 0, big, TABLE_MAX_USER - 1));
	memset(big, 'v', sizeof(big));
	big[TABLE_MAX_USER] = '\0';
	assert_int_equal(table_add(t, big, false, 0, USER_GONE, NULL, 0,
	    "usher.conf", 51, err, sizeof(err)), -1);
	snprintf(bigerr, sizeof(bigerr), "user %.32s... too long (more than "
	    "127 bytes)", big);
	assert_string_equal(err, bigerr);
	memset(big, '1', sizeof(big));
	memset(big, '-', 10);
	big[TABLE_MAX_USER + 10] = '\0';	/* 128 digits */
	assert_int_equal(table_add(t, big, false, 0, USER_GONE, NULL, 0,
	    "usher.conf", 52, err, sizeof(err)), -1);
	big[TABLE_MAX_USER + 9] = '\0';	/* 127 */
	assert_int_equal(table_add(t, big, false, 0, USER_GONE, NULL, 0,
	    "usher.conf", 53, err, sizeof(err)), 0);
	table_free(t);
}

static char *
write_temp_n(const char *content, size_t len)
{
	char *path = strdup("/tmp/test_table.XXXXXX");
	int fd;

	assert_non_null(path);
	assert_true((fd = mkstemp(path)) != -1);
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	close(fd);
	return path;
}

/* table_is_next_hop() of a URI given as text; false when it does not
 * parse. */
static bool
is_next_hop(const struct table *t, const char *uri)
{
	struct sip_uri u;
	const char *fault;

	if (sipmsg_uri_parse(slice_make(uri, strlen(uri)), &u, &fault) == -1)
		return false;
	return table_is_next_hop(t, &u);
}

/*
 * SPEC §9: with a TLS listener (table_set_tls), sips: and transport=tls
 * targets load, and a next hop is one when host, port and transport match
 * as written or defaulted: sips: is 5061 over TLS.
 */
static void
test_tls_targets(void **state)
{
	static const char content[] =
	    "alice@example.com active sips:alice@pbx.example.com\n"
	    "bob@example.com active sip:bob@10.0.0.5;transport=tls\n"
	    "carl@example.com active sips:carl@[2001:db8::5]:5071\n"
	    "dan@example.com moved sips:dan@partner.net\n";
	static const char *yes[] = { "sips:pbx.example.com",
	    "sips:x@PBX.example.com:5061;lr",
	    "sip:pbx.example.com:5061;transport=tls",
	    "sip:10.0.0.5:5061;transport=TLS", "sips:10.0.0.5",
	    "sips:[2001:db8::5]:5071" };
	static const char *no[] = { "sip:pbx.example.com",
	    "sip:pbx.example.com:5061", "sips:pbx.example.com:5062",
	    "sip:10.0.0.5", "sip:10.0.0.5:5061", "sips:[2001:db8::5]",
	    "sips:partner.net" };
	struct table *t;
	struct slice host;
	char err[512];
	unsigned flags;
	size_t i;
	bool named = false;

	(void)state;
	t = table_new();
	table_set_tls(t, true);
	if (table_load_buffer(t, "tls", content, sizeof(content) - 1,
	    domain_of, NULL, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(table_count(t), 4);
	for (i = 0; i < NELEM(yes); i++)
		if (!is_next_hop(t, yes[i]))
			fail_msg("%s: not a next hop", yes[i]);
	for (i = 0; i < NELEM(no); i++)
		if (is_next_hop(t, no[i]))
			fail_msg("%s: a next hop", no[i]);
	/* the name without a port asks DNS for SRV (_sips._tcp) */
	for (i = 0; table_target_host(t, i, &host, &flags); i++)
		if (host.len == 15 && memcmp(host.p, "pbx.example.com",
		    15) == 0) {
			named = true;
			assert_true(flags & TABLE_HOST_FORWARD);
			assert_true(flags & TABLE_HOST_NO_PORT);
		}
	assert_true(named);
	table_free(t);
}

static char *
write_temp(const char *content)
{
	return write_temp_n(content, strlen(content));
}

static void
test_users_file(void **state)
{
	static const char content[] =
	    "# users for example.com\n"
	    "\n"
	    "alice@example.com active sip:alice@10.0.0.5:5060\r\n"
	    "   \t  \n"
	    "bob@EXAMPLE.com moved sips:bob@partner.net   # left us\n"
	    "carol@example.com unavailable retry_after=300\n"
	    "dave@example.com\tgone\r\n"
	    "erin@example.com unavailable\n"
	    "+1-555*@example.com active sip:[2001:db8::1]:5070\n"
	    "1666*@partner.net active sip:pbx@10.0.0.9;transport=tcp\n"
	    "%61nn@partner.net active sip:ann@Pbx.Example.NET#no space\n"
	    "we@ird@example.com gone\n"
	    "  #indented comment\n"
	    "last@example.com active sip:last@10.0.0.6";	/* no newline */
	static const struct {
		uint16_t	 domain;
		const char	*user;
		enum user_state	 state;
		const char	*target;
		uint32_t	 retry_after;
		uint32_t	 line;
		bool		 is_prefix;
	} rows[] = {
		{ EXAMPLE, "alice", USER_ACTIVE, "sip:alice@10.0.0.5:5060", 0, 3, false },
		{ EXAMPLE, "bob", USER_MOVED, "sips:bob@partner.net", 0, 5, false },
		{ EXAMPLE, "carol", USER_UNAVAILABLE, NULL, 300, 6, false },
		{ EXAMPLE, "dave", USER_GONE, NULL, 0, 7, false },
		{ EXAMPLE, "erin", USER_UNAVAILABLE, NULL, 0, 8, false },
		{ EXAMPLE, "+15550123", USER_ACTIVE, "sip:[2001:db8::1]:5070", 0, 9, true },
		{ PARTNER, "16661", USER_ACTIVE, "sip:pbx@10.0.0.9;transport=tcp", 0, 10, true },
		{ PARTNER, "ann", USER_ACTIVE, "sip:ann@Pbx.Example.NET", 0, 11, false },
		{ EXAMPLE, "we@ird", USER_GONE, NULL, 0, 12, false },
		{ EXAMPLE, "last", USER_ACTIVE, "sip:last@10.0.0.6", 0, 14, false },
	};
	/* SPEC §7: the exact host, port and transport of active targets,
	 * as written or defaulted (5060/UDP for sip:, 5061/TLS for sips:) */
	static const char *hosts_yes[] = { "sip:10.0.0.5:5060",
	    "sip:10.0.0.5", "SIP:x@10.0.0.5;transport=UDP;lr",
	    "sip:[2001:db8::1]:5070", "sip:[2001:DB8::1]:5070",
	    "sip:10.0.0.9;transport=tcp", "sip:y@10.0.0.9:5060;transport=TCP",
	    "sip:pbx.example.net", "sip:PBX.Example.net:5060", "sip:10.0.0.6" };
	static const char *hosts_no[] = { "sip:10.0.0.7", "sip:10.0.0.5:5070",
	    "sip:10.0.0.5;transport=tcp", "sips:10.0.0.5",
	    "sip:10.0.0.5;transport=tls", "sip:[2001:db8::1]",
	    "sip:10.0.0.9", "sip:10.0.0.9;transport=udp",
	    /* moved: a 301 points there, we never send there */
	    "sip:partner.net", "sips:bob@partner.net", "sip:PARTNER.NET:5061",
	    "sip:example.com", "sip:10.0.0.", "sip:partner.ne",
	    "tel:+15550100", "sip:pbx.example.net:5070" };
	const struct table_entry *e;
	struct table *t = table_new();
	char err[512], *path = write_temp(content);
	size_t i;

	(void)state;
	if (table_load_file(t, path, domain_of, NULL, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(table_count(t), NELEM(rows));
	assert_int_equal(table_count_prefixes(t), 2);
	for (i = 0; i < NELEM(rows); i++) {
		e = table_lookup(t, rows[i].domain, rows[i].user,
		    strlen(rows[i].user));
		if (e == NULL)
			fail_msg("row %zu %s: not found", i, rows[i].user);
		assert_int_equal(e->state, rows[i].state);
		if (rows[i].target == NULL)
			assert_null(e->target);
		else
			assert_string_equal(e->target, rows[i].target);
		assert_int_equal(e->retry_after, rows[i].retry_after);
		assert_int_equal(e->line, rows[i].line);
		assert_int_equal(e->is_prefix, rows[i].is_prefix);
		assert_string_equal(e->file, path);
	}
	e = table_lookup(t, PARTNER, "16661", 5);
	assert_true(e->target_has_user);
	e = table_lookup(t, EXAMPLE, "+15550123", 9);
	assert_false(e->target_has_user);
	assert_string_equal(e->user, "+1555");
	for (i = 0; i < NELEM(hosts_yes); i++)
		if (!is_next_hop(t, hosts_yes[i]))
			fail_msg("%s: not a next hop", hosts_yes[i]);
	for (i = 0; i < NELEM(hosts_no); i++)
		if (is_next_hop(t, hosts_no[i]))
			fail_msg("%s: a next hop", hosts_no[i]);

	/* A second file adds to the table; its duplicates name the first. */
	unlink(path);
	free(path);
	path = write_temp("zed@example.com gone\nalice@example.com gone\n");
	assert_int_equal(table_load_file(t, path, domain_of, NULL, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, ":2: duplicate user alice (first at "
	    "/tmp/test_table."));
	assert_non_null(strstr(err, ":3)"));
	assert_non_null(table_lookup(t, EXAMPLE, "zed", 3));
	unlink(path);
	free(path);
	table_free(t);
}

static void
test_users_file_errors(void **state)
{
	static const struct {
		const char	*content;
		const char	*err;	/* after "path:" */
	} rows[] = {
		{ "a@example.com gone\n\nb@foo.com gone\n",
		    "3: unknown domain \"foo.com\"" },
		{ "alice active sip:a@h\n", "1: missing @DOMAIN in \"alice\"" },
		{ "alice@ gone\n", "1: empty domain in \"alice@\"" },
		{ "alice@example.com\n",
		    "1: missing state after \"alice@example.com\"" },
		{ "alice@example.com # gone\n",
		    "1: missing state after \"alice@example.com\"" },
		{ "alice@example.com actve sip:a@h\n", "1: unknown state "
		    "\"actve\" (active, moved, unavailable, gone)" },
		{ "alice@example.com active\n",
		    "1: an active user needs a target" },
		{ "alice@example.com gone sip:a@h\n",
		    "1: target given for a gone user" },
		{ "a@example.com gone\r\nalice@example.com unavailable "
		    "sip:a@h\r\n", "2: target given for an unavailable user" },
		{ "alice@example.com active sip:a@h retry_after=5\n",
		    "1: retry_after given for an active user" },
		{ "alice@example.com unavailable retry_after=x\n",
		    "1: bad retry_after \"retry_after=x\"" },
		{ "alice@example.com unavailable retry_after=\n",
		    "1: bad retry_after \"retry_after=\"" },
		{ "alice@example.com unavailable retry_after=-1\n",
		    "1: bad retry_after \"retry_after=-1\"" },
		{ "alice@example.com unavailable retry_after=99999999999\n",
		    "1: bad retry_after \"retry_after=99999999999\"" },
		{ "alice@example.com unavailable retry_after=5 retry_after=6\n",
		    "1: unexpected \"retry_after=6\"" },
		{ "alice@example.com active sip:a@h sip:b@h\n",
		    "1: unexpected \"sip:b@h\"" },
		{ "alice@example.com active sip:a@h x y z\n",
		    "1: too many fields (USER@DOMAIN STATE [TARGET] "
		    "[retry_after=N])" },
		{ "alice@example.com active tel:+1555\n",
		    "1: target \"tel:+1555\" is not a sip: or sips: URI" },
		{ "alice@example.com active sip:a@h?X=y\n",
		    "1: target \"sip:a@h?X=y\" has escaped headers "
		    "(\"?...\")" },
		{ "alice@example.com active sip:a@[::1\n",
		    "1: bad target \"sip:a@[::1\": not a valid SIP URI" },
		{ "a@example.com gone\nalice@example.com active "
		    "sip:a@255.255.255.255:5060\n", "2: target "
		    "\"sip:a@255.255.255.255:5060\": host is a broadcast "
		    "address" },
		{ "alice@example.com moved sip:a@230.1.2.3\n",
		    "1: target \"sip:a@230.1.2.3\": host is a multicast "
		    "address (224.0.0.0/4)" },
		{ "alice@example.com active sip:a@0.0.0.0\n",
		    "1: target \"sip:a@0.0.0.0\": host is an unspecified "
		    "address (0.0.0.0/8)" },
		{ "+1555*@example.com active sip:[::]\n",
		    "1: target \"sip:[::]\": host is the unspecified address "
		    "(::)" },
		{ "alice@example.com active sip:a@[ff05::2]\n",
		    "1: target \"sip:a@[ff05::2]\": host is a multicast "
		    "address (ff00::/8)" },
		{ "alice@example.com active sip:a@h:0\n",
		    "1: bad target \"sip:a@h:0\": not a valid SIP URI" },
		{ "alice@example.com active sips:a@h\n",
		    "1: target \"sips:a@h\": sips: needs TLS: add a listen "
		    "entry with transport = \"tls\" and a tls block" },
		{ "alice@example.com gone\n#\nalice@example.com gone\n",
		    "3: duplicate user alice (first at %s:1)" },
		{ "+1555*@example.com active sip:h\n+1-555*@example.com "
		    "active sip:h\n", "2: duplicate prefix +1555 (first at "
		    "%s:1)" },
		{ "@example.com gone\n", "1: empty user" },
		{ "*@example.com active sip:h\n", "1: empty prefix" },
		{ "al%4@example.com gone\n", "1: bad %%-escape in user al%%4" },
	};
	static const char nul[] = "a@example.com gone # \0\n"
	    "b@exa\0mple.com gone\n";
	char err[512], want[512], fmt[256], *path;
	struct table *t;
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(rows); i++) {
		path = write_temp(rows[i].content);
		t = table_new();
		err[0] = '\0';
		if (table_load_file(t, path, domain_of, NULL, err,
		    sizeof(err)) != -1)
			fail_msg("row %zu: accepted", i);
		snprintf(fmt, sizeof(fmt), "%%s:%s", rows[i].err);
		/* Rows name the file once or twice: pass it twice. */
		snprintf(want, sizeof(want), fmt, path, path);
		if (strcmp(err, want) != 0)
			fail_msg("row %zu: \"%s\", expected \"%s\"", i, err,
			    want);
		table_free(t);
		unlink(path);
		free(path);

		/* The same parser over bytes in memory, as a Redis version
		 * is loaded: the same errors, under its name. */
		t = table_new();
		if (table_load_buffer(t, "redis:v43", rows[i].content,
		    strlen(rows[i].content), domain_of, NULL, err,
		    sizeof(err)) != -1)
			fail_msg("row %zu: buffer accepted", i);
		snprintf(want, sizeof(want), fmt, "redis:v43", "redis:v43");
		if (strcmp(err, want) != 0)
			fail_msg("row %zu: \"%s\", expected \"%s\"", i, err,
			    want);
		table_free(t);
	}

	/* A buffer that loads: entries name it, no NUL needed at its end. */
	t = table_new();
	assert_int_equal(table_load_buffer(t, "redis:v7",
	    "x@example.com gone\ny@example.com gone", 37, domain_of, NULL,
	    err, sizeof(err)), 0);
	assert_int_equal(table_count(t), 2);
	assert_string_equal(table_lookup(t, EXAMPLE, "y", 1)->file,
	    "redis:v7");
	assert_int_equal(table_lookup(t, EXAMPLE, "y", 1)->line, 2);
	table_free(t);

	/* A raw NUL byte would cut a string short; in a comment it is
	 * harmless. */
	path = write_temp_n(nul, sizeof(nul) - 1);
	t = table_new();
	assert_int_equal(table_load_file(t, path, domain_of, NULL, err,
	    sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:2: NUL byte in line", path);
	assert_string_equal(err, want);
	assert_non_null(table_lookup(t, EXAMPLE, "a", 1));
	table_free(t);
	unlink(path);
	free(path);

	t = table_new();
	assert_int_equal(table_load_file(t, "/nonexistent/users.txt",
	    domain_of, NULL, err, sizeof(err)), -1);
	assert_string_equal(err,
	    "/nonexistent/users.txt: No such file or directory");
	table_free(t);
}

#define NGEN	100000

static void
test_many(void **state)
{
	static const char *states[] = { "active", "gone", "unavailable",
	    "moved" };
	struct table *t = table_new();
	const struct table_entry *e;
	char *buf, *p, *path, err[512], u[32];
	size_t i, cap = (size_t)NGEN * 64;
	int fd, n;

	(void)state;
	assert_non_null(buf = malloc(cap));
	p = buf;
	for (i = 0; i < NGEN; i++) {
		if (i % 4 == 0 || i % 4 == 3)
			p += sprintf(p, "u%zu@example.com %s sip:u%zu@10.0.%zu"
			    ".%zu:5060\n", i, states[i % 4], i, i / 256 % 256,
			    i % 256);
		else
			p += sprintf(p, "u%zu@%s %s\n", i, i % 3 ?
			    "example.com" : "partner.net", states[i % 4]);
	}
	path = strdup("/tmp/test_table.XXXXXX");
	assert_true((fd = mkstemp(path)) != -1);
	assert_int_equal(write(fd, buf, (size_t)(p - buf)), p - buf);
	close(fd);
	free(buf);
	if (table_load_file(t, path, domain_of, NULL, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(table_count(t), NGEN);
	for (i = 0; i < NGEN; i++) {
		n = snprintf(u, sizeof(u), "u%zu", i);
		e = table_lookup(t, i % 4 == 0 || i % 4 == 3 || i % 3 ?
		    EXAMPLE : PARTNER, u, (size_t)n);
		if (e == NULL || e->line != i + 1 ||
		    strcmp(e->user, u) != 0 ||
		    strcmp(table_state_name(e->state), states[i % 4]) != 0)
			fail_msg("%s: wrong or missing entry", u);
		/* Absent: other numbers, the other domain. */
		n = snprintf(u, sizeof(u), "u%zu", i + NGEN);
		assert_null(table_lookup(t, EXAMPLE, u, (size_t)n));
		n = snprintf(u, sizeof(u), "v%zu", i);
		assert_null(table_lookup(t, EXAMPLE, u, (size_t)n));
	}
	assert_true(is_next_hop(t, "sip:10.0.1.44"));
	assert_false(is_next_hop(t, "sip:10.0.1.45"));
	unlink(path);
	free(path);
	table_free(t);
}

static void
test_states_and_null(void **state)
{
	static const struct {
		const char	*name;
		enum user_state	 state;
	} rows[] = {
		{ "active", USER_ACTIVE },
		{ "moved", USER_MOVED },
		{ "unavailable", USER_UNAVAILABLE },
		{ "gone", USER_GONE },
	};
	static const char *bad[] = { "", "act", "activ", "actives", "away" };
	enum user_state s;
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(rows); i++) {
		assert_string_equal(table_state_name(rows[i].state),
		    rows[i].name);
		assert_int_equal(table_state_parse(rows[i].name, &s), 0);
		assert_int_equal(s, rows[i].state);
	}
	for (i = 0; i < NELEM(bad); i++)
		assert_int_equal(table_state_parse(bad[i], &s), -1);

	table_free(NULL);
	assert_int_equal(table_count(NULL), 0);
	assert_null(table_lookup(NULL, 0, "a", 1));
	assert_false(is_next_hop(NULL, "sip:h"));
}

static void
test_empty_table(void **state)
{
	struct table *t = table_new();

	(void)state;
	assert_null(table_lookup(t, 0, "alice", 5));
	assert_null(table_lookup(t, 0, "", 0));
	assert_false(is_next_hop(t, "sip:10.0.0.1"));
	assert_int_equal(table_count(t), 0);
	assert_int_equal(table_count_prefixes(t), 0);
	table_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact),
		cmocka_unit_test(test_normalise),
		cmocka_unit_test(test_phone),
		cmocka_unit_test(test_prefix),
		cmocka_unit_test(test_add_errors),
		cmocka_unit_test(test_users_file),
		cmocka_unit_test(test_users_file_errors),
		cmocka_unit_test(test_tls_targets),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_states_and_null),
		cmocka_unit_test(test_empty_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
