/* test_corpus.c: every RFC 4475 / RFC 5118 torture message through the
 * scanner, as a datagram and (where it frames) as a stream, checked against
 * tests/data/index.tsv, and the valid ones against libosip2's full parse. */
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

/*
 * Messages whose expected 400 comes from the routing core, not from the
 * scanner (so they scan clean), each with the reason.
 */
static const char *const route_400[] = {
	"rfc4475/mismatch01.sip",	/* CSeq method mismatch: route.c */
	"rfc4475/mismatch02.sip",	/* same, unknown method */
	"rfc4475/badaspec.sip",		/* "400 or process": To is not used */
	"rfc4475/baddn.sip",		/* "400 or process": From/To kept */
	"rfc4475/regbadct.sip",		/* "400 or process": Contact unused */
	"rfc4475/baddate.sip",		/* "400 or process": Date unused */
	"rfc4475/badbranch.sip",	/* "process or 400": RFC 2543 branch */
	"rfc4475/unksm2.sip",		/* "process or 400": a proxy routes */
};

static bool
scans_clean_by_design(const char *file)
{
	size_t i;

	for (i = 0; i < sizeof(route_400) / sizeof(route_400[0]); i++)
		if (strcmp(route_400[i], file) == 0)
			return true;
	return false;
}

static char *
slurp(const char *rel, size_t *len)
{
	char path[512];
	char *buf;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", TEST_DATA_DIR, rel);
	if ((f = fopen(path, "rb")) == NULL)
		fail_msg("cannot open %s", path);
	buf = malloc(1 << 16);
	*len = fread(buf, 1, 1 << 16, f);
	fclose(f);
	return buf;
}

/* Call-ID and CSeq number as libosip2 sees them agree with our scan. */
static void
differential(const char *file, const char *buf, size_t len,
    const struct sipmsg *m)
{
	osip_message_t *om = NULL;

	if (osip_message_init(&om) != 0)
		fail_msg("osip_message_init");
	if (osip_message_parse(om, buf, len) == 0 && om->call_id != NULL &&
	    om->cseq != NULL && om->cseq->number != NULL) {
		char *cid = NULL;

		osip_call_id_to_str(om->call_id, &cid);
		if (cid == NULL || strlen(cid) != m->callid.value.len ||
		    memcmp(cid, m->callid.value.p, m->callid.value.len) != 0)
			fail_msg("%s: Call-ID %s vs %.*s", file, cid,
			    (int)m->callid.value.len, m->callid.value.p);
		if (strtoul(om->cseq->number, NULL, 10) != m->cseq_num)
			fail_msg("%s: CSeq %s vs %u", file, om->cseq->number,
			    m->cseq_num);
		osip_free(cid);
	}
	osip_message_free(om);
}

static void
test_corpus(void **state)
{
	char *index, *line, *save = NULL, *f[6];
	size_t len, n, i, rows = 0;
	struct sipmsg m;
	ssize_t rc;

	(void)state;
	parser_init();
	index = slurp("index.tsv", &len);
	index[len] = '\0';
	for (line = strtok_r(index, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		char *p = line, *buf;

		for (i = 0; i < 6; i++) {
			f[i] = p;
			if ((p = strchr(p, '\t')) != NULL)
				*p++ = '\0';
			else
				p = "";
		}
		if (strcmp(f[0], "file") == 0)
			continue;
		rows++;
		buf = slurp(f[0], &n);

		rc = sipmsg_scan(buf, n, SIPMSG_DGRAM, &m);
		if (strcmp(f[3], "process normally") == 0) {
			if (rc < 0)
				fail_msg("%s: valid, but fault %s", f[0],
				    m.fault ? m.fault : "?");
			differential(f[0], buf, n, &m);
		} else if (strcmp(f[3], "400") == 0 &&
		    !scans_clean_by_design(f[0]) && rc >= 0)
			fail_msg("%s: expected a fault", f[0]);
		else if (strcmp(f[3], "drop") == 0 && rc >= 0 && m.is_request)
			fail_msg("%s: a drop case scanned as a request", f[0]);

		/* On a stream the same bytes frame the same way, or wait. */
		if (strcmp(f[4], "yes") == 0) {
			struct sipmsg s;
			ssize_t src = sipmsg_scan(buf, n, SIPMSG_STREAM, &s);

			if (rc >= 0 && src != rc)
				fail_msg("%s: stream %zd vs dgram %zd", f[0],
				    src, rc);
		}
		/* Every prefix: no crash, never more consumed than given. */
		for (i = 0; i < n; i += 7) {
			rc = sipmsg_scan(buf, i, SIPMSG_STREAM, &m);
			if (rc > (ssize_t)i)
				fail_msg("%s: consumed %zd of %zu", f[0], rc, i);
		}
		free(buf);
	}
	assert_int_equal(rows, 61);
	free(index);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_corpus),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
