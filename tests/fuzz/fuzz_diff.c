/* fuzz_diff.c: differential fuzzing of usher's scanner against libosip2,
 * the reference parser. For every input that both accept as a datagram,
 * the fields the routing decision stands on must agree: Call-ID, CSeq
 * number and method, the top Via's sent-by and branch, the From and To
 * tags, and the Request-URI's scheme, user, host and port. The exceptions
 * are known and listed in is_known_difference(), each with its reason.
 * libFuzzer drives LLVMFuzzerTestOneInput; replay.c runs the corpus in
 * ctest without clang. libosip2 is linked here and in the unit tests only,
 * never into the daemon. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <osipparser2/osip_parser.h>

#include "../osip-quiet.h"

#include "sipmsg.h"
#include "table.h"

int	LLVMFuzzerInitialize(int *argc, char ***argv);
int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int	fuzz_replay_done(void);

static unsigned long	compared;

static void
differ(const char *field, const char *theirs, struct slice ours,
    const uint8_t *data, size_t size)
{
	fprintf(stderr, "fuzz_diff: %s differs: libosip2 \"%s\", usher "
	    "\"%.*s\"\n--- input (%zu bytes) ---\n%.*s\n---\n", field,
	    theirs ? theirs : "(none)", (int)ours.len, ours.p ? ours.p : "",
	    size, (int)size, (const char *)data);
	abort();
}

/* Equal as text; NULL and empty are both "absent". */
static bool
same(const char *theirs, struct slice ours, bool nocase)
{
	size_t n = theirs ? strlen(theirs) : 0;

	if (n != ours.len)
		return false;
	return n == 0 || (nocase ? strncasecmp(theirs, ours.p, n) :
	    memcmp(theirs, ours.p, n)) == 0;
}

/* An IPv6 reference without its brackets: libosip2 drops them. */
static struct slice
unbracket(struct slice h)
{
	if (h.len >= 2 && h.p[0] == '[' && h.p[h.len - 1] == ']')
		return slice_make(h.p + 1, h.len - 2);
	return h;
}

static bool
same_port(const char *theirs, uint16_t ours)
{
	char *end;
	unsigned long v;

	if (theirs == NULL || *theirs == '\0')
		return ours == 0;
	v = strtoul(theirs, &end, 10);
	return *end == '\0' && v == ours;
}

/* RFC 3261 §25.1 token: a tag or branch outside it is malformed, and the
 * parsers disagree on where it ends (libosip2 takes up to the next ';',
 * spaces included; usher stops at white space). */
static bool
is_token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' && strchr("-.!%*_+`'~", c));
}

/* Both values tokens (an absent one counts as one). */
static bool
are_tokens(const char *v, struct slice s)
{
	size_t i;

	for (; v != NULL && *v != '\0'; v++)
		if (!is_token_char(*v))
			return false;
	for (i = 0; i < s.len; i++)
		if (!is_token_char(s.p[i]))
			return false;
	return true;
}

/* How often ";name" (any case, white space allowed around ';') stands
 * in s. */
static size_t
count_param(struct slice s, const char *name)
{
	size_t i, j, n = strlen(name), count = 0;

	for (i = 0; i < s.len; i++) {
		if (s.p[i] != ';')
			continue;
		for (j = i + 1; j < s.len && (s.p[j] == ' ' || s.p[j] == '\t');
		    j++)
			;
		if (j + n <= s.len && strncasecmp(s.p + j, name, n) == 0)
			count++;
	}
	return count;
}

/*
 * Where the two parsers may rightly differ. Each is a place where
 * libosip2 is lenient or rewrites what it read, and usher keeps the bytes
 * as received (it forwards them and compares them as they are):
 * - a header value with folding (CRLF + white space) or quotes: libosip2
 *   unfolds and unquotes some values, usher keeps the bytes;
 * - an input with a NUL byte or other control characters in its headers:
 *   libosip2 works on C strings;
 * - a tag or branch that is not a token (see are_tokens());
 * - the same parameter twice (two branches in a Via, two tags): libosip2
 *   takes the first, usher (like Kamailio's parser) the last;
 * - more than one Call-ID, CSeq, From or To header: libosip2 keeps the
 *   first for some and the last for others; usher refuses none of them but
 *   answers from the first (RFC 3261 §7.3.1: such a message is malformed,
 *   and either choice is a guess).
 */
static bool
is_known_difference(const uint8_t *data, size_t size,
    const struct sipmsg *m)
{
	static const char *single[] = { "\ncall-id", "\ni:", "\ni ",
	    "\ncseq", "\nfrom", "\nf:", "\nf ", "\nto", "\nt:", "\nt " };
	size_t i, j, k, count, hdr_end = m->body_off ? m->body_off : size;
	const char *p = (const char *)data;

	for (i = 0; i < hdr_end; i++) {
		unsigned char c = data[i];

		if (c == 0 || (c < 0x20 && c != '\r' && c != '\n' &&
		    c != '\t') || c == 0x7f)
			return true;
		if (c == '\n' && i + 1 < hdr_end && (data[i + 1] == ' ' ||
		    data[i + 1] == '\t'))
			return true;	/* folding */
	}
	if ((m->nvia > 0 && count_param(m->via[0].value, "branch") > 1) ||
	    count_param(m->from.value, "tag") > 1 ||
	    count_param(m->to.value, "tag") > 1)
		return true;
	for (k = 0; k < sizeof(single) / sizeof(single[0]); k += 1) {
		size_t n = strlen(single[k]);

		for (count = 0, j = 0; j + n <= hdr_end; j++)
			if (strncasecmp(p + j, single[k], n) == 0)
				count++;
		if (count > 1)
			return true;
	}
	return false;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	parser_init();
	/* libosip2 logs every refusal to stdout unless told otherwise. */
	osip_quiet();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	osip_message_t *om = NULL;
	osip_via_t *via = NULL;
	osip_generic_param_t *param = NULL;
	struct sipmsg m;
	char *cid = NULL;
	ssize_t rc;

	if (size == 0 || size > 65535)
		return 0;
	rc = sipmsg_scan((const char *)data, size, SIPMSG_DGRAM, &m);
	if (rc < 0 || m.fault != NULL)
		return 0;	/* usher is stricter: it answers 400 */
	if (osip_message_init(&om) != 0)
		return 0;
	if (osip_message_parse(om, (const char *)data, size) != 0)
		goto out;	/* libosip2 refuses: nothing to compare */
	if (is_known_difference(data, size, &m))
		goto out;
	compared++;

	if (om->call_id != NULL && osip_call_id_to_str(om->call_id, &cid) == 0 &&
	    !same(cid, m.callid.value, false))
		differ("Call-ID", cid, m.callid.value, data, size);
	if (om->cseq != NULL) {
		char num[16];

		snprintf(num, sizeof(num), "%u", m.cseq_num);
		if (om->cseq->number != NULL && strtoul(om->cseq->number,
		    NULL, 10) != m.cseq_num)
			differ("CSeq number", om->cseq->number,
			    slice_make(num, strlen(num)), data, size);
		if (!same(om->cseq->method, m.cseq_method, false))
			differ("CSeq method", om->cseq->method, m.cseq_method,
			    data, size);
	}
	if (osip_message_get_via(om, 0, &via) >= 0 && via != NULL &&
	    m.nvia > 0) {
		if (!same(via->host, unbracket(m.via[0].host), true))
			differ("Via host", via->host, m.via[0].host, data,
			    size);
		if (!same_port(via->port, m.via[0].port))
			differ("Via port", via->port, m.via[0].host, data,
			    size);
		if (osip_via_param_get_byname(via, "branch", &param) >= 0 &&
		    param != NULL && are_tokens(param->gvalue, m.via[0].branch) &&
		    !same(param->gvalue, m.via[0].branch, false))
			differ("Via branch", param->gvalue, m.via[0].branch,
			    data, size);
	}
	param = NULL;
	if (om->from != NULL && osip_from_get_tag(om->from, &param) >= 0 &&
	    param != NULL && are_tokens(param->gvalue, m.from_tag) &&
	    !same(param->gvalue, m.from_tag, false))
		differ("From tag", param->gvalue, m.from_tag, data, size);
	param = NULL;
	if (om->to != NULL && osip_to_get_tag(om->to, &param) >= 0 &&
	    param != NULL && are_tokens(param->gvalue, m.to_tag) &&
	    !same(param->gvalue, m.to_tag, false))
		differ("To tag", param->gvalue, m.to_tag, data, size);
	if (MSG_IS_REQUEST(om) && om->req_uri != NULL && m.ruri.is_sip) {
		osip_uri_t *u = om->req_uri;

		if (!same(u->scheme, m.ruri.scheme, true))
			differ("R-URI scheme", u->scheme, m.ruri.scheme, data,
			    size);
		char user[TABLE_MAX_USER];
		ssize_t ul;

		/* libosip2 %-unescapes the user part; usher keeps it
		 * escaped and unescapes when it looks it up. */
		ul = table_normalise_user(m.ruri.user, false, user,
		    sizeof(user));
		if (ul >= 0 && !same(u->username, slice_make(user,
		    (size_t)ul), false))
			differ("R-URI user", u->username, m.ruri.user, data,
			    size);
		if (!same(u->host, unbracket(m.ruri.host), true))
			differ("R-URI host", u->host, m.ruri.host, data, size);
		if (!same_port(u->port, m.ruri.port))
			differ("R-URI port", u->port, m.ruri.hostport, data,
			    size);
	}
out:
	osip_free(cid);
	osip_message_free(om);
	return 0;
}

/* After a replay: the corpus must have given both parsers something to
 * agree on, or this test would pass on nothing. */
int
fuzz_replay_done(void)
{
	printf("fuzz_diff: %lu inputs compared field by field\n", compared);
	return compared == 0;
}
