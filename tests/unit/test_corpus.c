/* test_corpus.c: every RFC 4475 / RFC 5118 torture message through the
 * scanner, as a datagram and (where it frames) as a stream, checked against
 * tests/data/index.tsv, and the valid ones against libosip2's parse. */
#include <sys/types.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <osipparser2/osip_parser.h>

#include "sipmsg.h"

#ifndef TEST_DATA_DIR
#define TEST_DATA_DIR	"tests/data"
#endif

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))
#define CORPUS_ROWS	61

/* A file and what the test knows about it. */
struct note {
	const char	*file;
	const char	*text;
};

/*
 * Messages whose index says exactly "400" but whose 400 is not the
 * scanner's to give: they scan clean, and routing answers.
 */
static const struct note routing_400[] = {
	{ "rfc4475/mismatch01.sip", "CSeq method differs from the "
	  "request method: route_decide() compares them (SPEC §6)" },
};

/* The scanner's exact reason for the messages it must refuse: the first
 * fault in the message. */
static const struct note reasons[] = {
	{ "rfc4475/badinv01.sip", "Malformed Via" },
	{ "rfc4475/clerr.sip", "Content-Length larger than datagram" },
	{ "rfc4475/ncl.sip", "Bad Content-Length" },
	{ "rfc4475/scalar02.sip", "Bad CSeq" },
	{ "rfc4475/scalarlg.sip", "Bad CSeq" },
	{ "rfc4475/quotbal.sip", "Malformed To" },
	{ "rfc4475/ltgtruri.sip", "Bad Request-URI" },
	{ "rfc4475/lwsruri.sip", "Bad Request-Line" },
	{ "rfc4475/lwsstart.sip", "Bad Request-Line" },
	{ "rfc4475/trws.sip", "Bad Request-Line" },
	{ "rfc4475/escruri.sip", "Request-URI has escaped headers" },
	{ "rfc4475/bigcode.sip", "Bad Status-Line" },
	{ "rfc4475/insuf.sip", "Missing To" },
	{ "rfc4475/multi01.sip", "Multiple CSeq headers" },
	{ "rfc4475/mcl01.sip", "Multiple Content-Length headers" },
	{ "rfc5118/ipv6-bad.sip", "Bad Request-URI" },
};

/* Valid messages libosip2 does not parse, each with the reason. */
static const struct note osip_refuses[] = {
	{ "rfc4475/intmeth.sip", "the NUL in the To display name ends "
	  "libosip2's header scan (string functions): \"Final CRLF is "
	  "missing\"" },
	{ "rfc4475/novelsc.sip", "libosip2's URI parser refuses the '.' in "
	  "the scheme soap.beep: \"Could not parse start line\"" },
};

#define LOOKUP(tab, file)	note_find((tab), NELEM(tab), (file))

static const char *
note_find(const struct note *t, size_t n, const char *file)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (t[i].file != NULL && strcmp(t[i].file, file) == 0)
			return t[i].text;
	return NULL;
}

/* The file's bytes in a buffer of exactly their size, so that ASan sees a
 * read past the end. */
static char *
slurp(const char *rel, size_t *len)
{
	char path[512];
	char *buf;
	long n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", TEST_DATA_DIR, rel);
	if ((f = fopen(path, "rb")) == NULL)
		fail_msg("cannot open %s", path);
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0)
		fail_msg("%s: cannot size", path);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	*len = fread(buf, 1, (size_t)n, f);
	fclose(f);
	if (*len != (size_t)n)
		fail_msg("%s: short read", path);
	return buf;
}

static bool
has_fault(ssize_t rc, const struct sipmsg *m)
{
	return rc == -1 && m->fault != NULL;
}

/* Call-ID and CSeq number as libosip2 sees them agree with our scan. */
static void
differential(const char *file, const char *buf, size_t len,
    const struct sipmsg *m)
{
	osip_message_t *om = NULL;
	char *cid = NULL;

	if (osip_message_init(&om) != 0)
		fail_msg("osip_message_init");
	if (osip_message_parse(om, buf, len) != 0 || om->call_id == NULL ||
	    om->cseq == NULL || om->cseq->number == NULL) {
		osip_message_free(om);
		if (LOOKUP(osip_refuses, file) == NULL)
			fail_msg("%s: libosip2 does not parse it", file);
		return;
	}
	if (osip_call_id_to_str(om->call_id, &cid) != 0 || cid == NULL)
		fail_msg("%s: osip_call_id_to_str", file);
	if (strlen(cid) != m->callid.value.len ||
	    memcmp(cid, m->callid.value.p, m->callid.value.len) != 0)
		fail_msg("%s: Call-ID %s (osip) vs %.*s", file, cid,
		    (int)m->callid.value.len, m->callid.value.p);
	if (strtoul(om->cseq->number, NULL, 10) != m->cseq_num)
		fail_msg("%s: CSeq %s (osip) vs %u", file, om->cseq->number,
		    m->cseq_num);
	osip_free(cid);
	osip_message_free(om);
}

/* Every prefix, as a stream and as a datagram, each in a buffer of its
 * exact size: no crash, no read past the end, never more consumed than
 * given. */
static void
prefixes(const char *file, const char *buf, size_t n)
{
	struct sipmsg m;
	ssize_t rc;
	size_t i;
	char *copy;
	int mode;

	for (i = 0; i < n; i++) {
		copy = malloc(i ? i : 1);
		assert_non_null(copy);
		memcpy(copy, buf, i);
		for (mode = 0; mode < 2; mode++) {
			rc = sipmsg_scan(copy, i, mode, &m);
			if (rc > (ssize_t)i || rc < -2 || rc == 0)
				fail_msg("%s: prefix %zu: rc %zd", file, i, rc);
		}
		free(copy);
	}
}

static void
check_row(char *const f[6], size_t *checked)
{
	const char *file = f[0], *valid = f[2], *expect = f[3], *tcp = f[4];
	const char *want;
	struct sipmsg m, s;
	ssize_t rc, src;
	size_t n;
	char *buf;

	buf = slurp(file, &n);
	rc = sipmsg_scan(buf, n, SIPMSG_DGRAM, &m);
	if (rc > (ssize_t)n)
		fail_msg("%s: consumed %zd of %zu", file, rc, n);

	if ((want = LOOKUP(reasons, file)) != NULL) {
		if (!has_fault(rc, &m) || strcmp(m.fault, want) != 0)
			fail_msg("%s: fault \"%s\", want \"%s\"", file,
			    m.fault ? m.fault : "(none)", want);
		(*checked)++;
	}
	if (strcmp(expect, "process normally") == 0 ||
	    strcmp(expect, "416") == 0 || strcmp(expect, "420") == 0 ||
	    strcmp(expect, "483") == 0 || strcmp(expect, "505") == 0 ||
	    (strcmp(expect, "drop") == 0 && strcmp(valid, "yes") == 0)) {
		/* well formed: routing decides, never a 400 */
		if (rc <= 0 || m.fault != NULL)
			fail_msg("%s (%s): fault %s", file, expect,
			    m.fault ? m.fault : "(none)");
		if (strcmp(expect, "drop") == 0 ? m.is_request : !m.is_request)
			fail_msg("%s: is_request %d", file, m.is_request);
		(*checked)++;
	} else if (strcmp(expect, "400") == 0 ||
	    strcmp(expect, "400 or drop") == 0 || strcmp(expect, "drop") == 0) {
		if (LOOKUP(routing_400, file) != NULL) {
			if (rc <= 0)
				fail_msg("%s: routing's 400, yet fault %s",
				    file, m.fault ? m.fault : "(none)");
		} else if (!has_fault(rc, &m))
			fail_msg("%s (%s): scanned without a fault", file,
			    expect);
		(*checked)++;
	}
	/* "400 or process normally" and the like: either is right. */

	if (strcmp(valid, "yes") == 0 && rc > 0)
		differential(file, buf, n, &m);

	/* A stream frames the same bytes the same way, or refuses them. */
	src = sipmsg_scan(buf, n, SIPMSG_STREAM, &s);
	if (strcmp(tcp, "yes") == 0) {
		if (src != rc || (rc == -1 && strcmp(s.fault, m.fault) != 0))
			fail_msg("%s: stream %zd (%s) vs datagram %zd (%s)",
			    file, src, s.fault ? s.fault : "-", rc,
			    m.fault ? m.fault : "-");
	} else if (strcmp(tcp, "close") == 0) {
		if (!has_fault(src, &s) || s.content_length != -1)
			fail_msg("%s: stream framing kept (%zd)", file, src);
	} else if (src > (ssize_t)n)
		fail_msg("%s: stream consumed %zd of %zu", file, src, n);

	prefixes(file, buf, n);
	free(buf);
}

static void
test_corpus(void **state)
{
	char *index, *line, *save = NULL, *f[6], *p;
	size_t len, i, rows = 0, checked = 0;

	(void)state;
	index = slurp("index.tsv", &len);
	index[len] = '\0';
	for (line = strtok_r(index, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		for (p = line, i = 0; i < 6; i++) {
			f[i] = p;
			if ((p = strchr(p, '\t')) != NULL)
				*p++ = '\0';
			else
				p = line + strlen(line);
		}
		if (strcmp(f[0], "file") == 0)
			continue;
		rows++;
		check_row(f, &checked);
	}
	free(index);
	assert_int_equal(rows, CORPUS_ROWS);
	/* every reason in the table was checked, and most rows asserted */
	assert_true(checked >= NELEM(reasons) + 40);
}

/* The special cases the index describes in its notes. */
static void
test_corpus_framing(void **state)
{
	struct sipmsg m;
	ssize_t rc;
	size_t n;
	char *buf;

	(void)state;
	/* dblreq: one REGISTER; the INVITE-like octets after it are ignored
	 * in a datagram and are the next message on a stream. */
	buf = slurp("rfc4475/dblreq.sip", &n);
	rc = sipmsg_scan(buf, n, SIPMSG_DGRAM, &m);
	assert_true(rc > 0 && (size_t)rc < n);
	assert_int_equal(m.mid, SIP_REGISTER);
	assert_int_equal(sipmsg_scan(buf, n, SIPMSG_STREAM, &m), rc);
	free(buf);

	/* clerr: a stream waits for the 9999 octets, headers complete. */
	buf = slurp("rfc4475/clerr.sip", &n);
	assert_int_equal(sipmsg_scan(buf, n, SIPMSG_STREAM, &m), -2);
	assert_true(m.hdr_complete);
	assert_int_equal(m.content_length, 9999);
	free(buf);

	/* inv2543: no Content-Length, the body is the rest of the datagram;
	 * a stream cannot frame it. */
	buf = slurp("rfc4475/inv2543.sip", &n);
	assert_int_equal(sipmsg_scan(buf, n, SIPMSG_DGRAM, &m), (ssize_t)n);
	assert_int_equal(m.content_length, -1);
	assert_true(m.body_off < n);
	assert_int_equal(sipmsg_scan(buf, n, SIPMSG_STREAM, &m), -1);
	assert_string_equal(m.fault, "Missing Content-Length");
	free(buf);

	/* baddn: no empty line; a datagram still ends there */
	buf = slurp("rfc4475/baddn.sip", &n);
	assert_int_equal(sipmsg_scan(buf, n, SIPMSG_DGRAM, &m), (ssize_t)n);
	assert_false(m.hdr_complete);
	assert_int_equal(sipmsg_scan(buf, n, SIPMSG_STREAM, &m), -2);
	free(buf);

	/* mpart01: NULs in the body, framed by Content-Length */
	buf = slurp("rfc4475/mpart01.sip", &n);
	assert_int_equal(sipmsg_scan(buf, n, SIPMSG_STREAM, &m), (ssize_t)n);
	assert_non_null(memchr(m.buf + m.body_off, '\0', n - m.body_off));
	free(buf);

	/* esc02: RE%47IST%45R is not REGISTER */
	buf = slurp("rfc4475/esc02.sip", &n);
	assert_true(sipmsg_scan(buf, n, SIPMSG_DGRAM, &m) > 0);
	assert_int_equal(m.mid, SIP_OTHER);
	free(buf);

	/* badvers: recorded for routing's 505 */
	buf = slurp("rfc4475/badvers.sip", &n);
	assert_true(sipmsg_scan(buf, n, SIPMSG_DGRAM, &m) > 0);
	assert_true(m.version.len == 7 && memcmp(m.version.p, "SIP/7.0",
	    7) == 0);
	free(buf);

	/* wsinv: folding, LWS and leading zeros */
	buf = slurp("rfc4475/wsinv.sip", &n);
	assert_true(sipmsg_scan(buf, n, SIPMSG_DGRAM, &m) > 0);
	assert_int_equal(m.max_forwards, 68);
	assert_int_equal(m.cseq_num, 9);
	assert_int_equal(m.nvia, 3);
	assert_int_equal(m.nvia_hdr, 2);
	assert_true(m.to_tag.len == 11 &&
	    memcmp(m.to_tag.p, "1918181833n", 11) == 0);
	assert_true(m.from_tag.len == 7 &&
	    memcmp(m.from_tag.p, "98asjd8", 7) == 0);
	assert_true(m.via[2].branch.len == 12 &&
	    memcmp(m.via[2].branch.p, "z9hG4bK30239", 12) == 0);
	assert_int_equal(m.nroute, 1);
	free(buf);

	/* longreq: 28 Via lines */
	buf = slurp("rfc4475/longreq.sip", &n);
	assert_true(sipmsg_scan(buf, n, SIPMSG_DGRAM, &m) > 0);
	assert_true(m.nvia_hdr >= 28);
	free(buf);
}

static int
setup(void **state)
{
	(void)state;
	parser_init();		/* libosip2's tables, once */
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_corpus),
		cmocka_unit_test(test_corpus_framing),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
