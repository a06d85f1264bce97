/* tablesync.c: the fleet table in Redis (SPEC §11): publish, fetch, check,
 * the cache file, and the sync thread that follows usher:current. */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>
#include <openssl/evp.h>

#include "config.h"
#include "log.h"
#include "tablesync.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

static const char *const reason_names[TS__COUNT] = {
	"checksum", "parse", "missing", "timeout", "connect",
};

const char *
tablesync_reason_name(enum tablesync_reason r)
{
	return r < TS__COUNT ? reason_names[r] : "?";
}

/* ---- pure parts ---- */

size_t
tablesync_chunk_end(const char *buf, size_t len, size_t off, size_t max)
{
	const char *nl;
	size_t end;

	if (len - off <= max)
		return len;
	/* The last '\n' within max bytes closes the chunk. */
	end = off + max;
	nl = memrchr(buf + off, '\n', end - off);
	return nl == NULL ? off : (size_t)(nl - buf) + 1;
}

uint64_t
tablesync_lines(const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len;
	uint64_t n = 0;

	while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		n++;
		p++;
	}
	if (len > 0 && buf[len - 1] != '\n')
		n++;
	return n;
}

void
tablesync_sha256(const char *buf, size_t len, char hex[TABLESYNC_SHA_HEX])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;

	if (EVP_Digest(buf, len, md, &n, EVP_sha256(), NULL) != 1)
		n = 0;
	for (i = 0; i < n && i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	hex[2 * i] = '\0';
}

int
tablesync_verify(const struct tablesync_meta *m, const char *buf, size_t len,
    char *err, size_t errlen)
{
	char sha[TABLESYNC_SHA_HEX];

	if (m->bytes != len) {
		snprintf(err, errlen, "%zu bytes, the meta says %" PRIu64, len,
		    m->bytes);
		return -1;
	}
	tablesync_sha256(buf, len, sha);
	if (strcmp(sha, m->sha256) != 0) {
		snprintf(err, errlen, "sha256 %.12s..., the meta says "
		    "%.12s...", sha, m->sha256);
		return -1;
	}
	if (tablesync_lines(buf, len) != m->lines) {
		snprintf(err, errlen, "%" PRIu64 " lines, the meta says %"
		    PRIu64, tablesync_lines(buf, len), m->lines);
		return -1;
	}
	return 0;
}

unsigned
tablesync_backoff_ms(unsigned attempt, uint32_t rnd)
{
	unsigned d = 1000u << (attempt < 5 ? attempt : 5);

	if (d > 30000)
		d = 30000;
	d += rnd % (d / 5 + 1);
	return d > 30000 ? 30000 : d;
}

unsigned
tablesync_load_wait_ms(long since_ms, uint32_t rnd)
{
	if (since_ms < 0 || since_ms >= TABLESYNC_LOAD_GAP)
		return 0;
	return (unsigned)(TABLESYNC_LOAD_GAP - since_ms) + rnd % 200;
}

bool
tablesync_wants(uint64_t cur, uint64_t loaded, uint64_t bad)
{
	return cur != 0 && cur != loaded && cur != bad;
}

/* ---- keys and replies ---- */

static void
key(char *buf, size_t len, const struct conf_source *src, const char *what)
{
	snprintf(buf, len, "%s%s", src->prefix, what);
}

static void
key_meta(char *buf, size_t len, const struct conf_source *src, uint64_t v)
{
	snprintf(buf, len, "%sv:%" PRIu64 ":meta", src->prefix, v);
}

static void
key_chunk(char *buf, size_t len, const struct conf_source *src, uint64_t v,
    uint64_t i)
{
	snprintf(buf, len, "%sv:%" PRIu64 ":chunk:%" PRIu64, src->prefix, v, i);
}

static int
parse_u64(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0 || len > 19)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

/* A version number from a GET or PUBLISH payload; 0 when nil or bad. */
static uint64_t
reply_version(const redisReply *r)
{
	uint64_t v;

	if (r == NULL || r->type != REDIS_REPLY_STRING ||
	    parse_u64(r->str, r->len, &v) == -1)
		return 0;
	return v;
}

/* HGETALL of a meta: -1 when missing or incomplete. */
static int
meta_parse(const redisReply *r, struct tablesync_meta *m)
{
	const redisReply *k, *v;
	unsigned seen = 0;
	size_t i;

	memset(m, 0, sizeof(*m));
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0)
		return -1;
	for (i = 0; i + 1 < r->elements; i += 2) {
		k = r->element[i];
		v = r->element[i + 1];
		if (k->type != REDIS_REPLY_STRING ||
		    v->type != REDIS_REPLY_STRING)
			return -1;
		if (strcmp(k->str, "chunks") == 0 &&
		    parse_u64(v->str, v->len, &m->chunks) == 0)
			seen |= 1;
		else if (strcmp(k->str, "bytes") == 0 &&
		    parse_u64(v->str, v->len, &m->bytes) == 0)
			seen |= 2;
		else if (strcmp(k->str, "lines") == 0 &&
		    parse_u64(v->str, v->len, &m->lines) == 0)
			seen |= 4;
		else if (strcmp(k->str, "sha256") == 0 && v->len == 64) {
			memcpy(m->sha256, v->str, 64);
			m->sha256[64] = '\0';
			seen |= 8;
		}
	}
	/* A chunk holds whole lines of at most 4 MiB: more chunks than
	 * bytes, or bytes no chunks could hold, are a broken meta. */
	if (seen != 15 || m->chunks > m->bytes ||
	    m->bytes > m->chunks * (uint64_t)TABLESYNC_CHUNK_MAX)
		return -1;
	return 0;
}

static struct timeval
ms_tv(unsigned ms)
{
	struct timeval tv = { (time_t)(ms / 1000),
	    (suseconds_t)(ms % 1000) * 1000 };

	return tv;
}

/* The first line of password_file, without its newline. */
static int
read_password(const struct conf_source *src, char *pw, size_t len,
    char *err, size_t errlen)
{
	FILE *f;

	pw[0] = '\0';
	if (src->password_file == NULL)
		return 0;
	if ((f = fopen(src->password_file, "re")) == NULL) {
		snprintf(err, errlen, "%s: %s", src->password_file,
		    strerror(errno));
		return -1;
	}
	if (fgets(pw, (int)len, f) == NULL)
		pw[0] = '\0';
	fclose(f);
	pw[strcspn(pw, "\r\n")] = '\0';
	return 0;
}

/* ---- blocking: start-up, -t and -P ---- */

static void
sync_error(redisContext *c, const struct conf_source *src, size_t i,
    const char *what, char *err, size_t errlen)
{
	if (c->err == REDIS_ERR_IO && (errno == EAGAIN ||
	    errno == EWOULDBLOCK || errno == EINPROGRESS))
		snprintf(err, errlen, "redis %s:%u: %s: no answer within %u ms",
		    src->hosts[i], src->ports[i], what,
		    src->command_timeout_ms);
	else
		snprintf(err, errlen, "redis %s:%u: %s: %s", src->hosts[i],
		    src->ports[i], what, c->errstr[0] ? c->errstr :
		    "connection closed");
}

/* Connect to server i with the timeouts and AUTH; NULL with err. */
static redisContext *
sync_connect_one(const struct conf_source *src, size_t i, char *err,
    size_t errlen)
{
	redisContext *c;
	redisReply *r;
	char pw[512];

	if (read_password(src, pw, sizeof(pw), err, errlen) == -1)
		return NULL;
	c = redisConnectWithTimeout(src->hosts[i], src->ports[i],
	    ms_tv(src->connect_timeout_ms));
	if (c == NULL) {
		snprintf(err, errlen, "redis %s:%u: out of memory",
		    src->hosts[i], src->ports[i]);
		return NULL;
	}
	if (c->err) {
		snprintf(err, errlen, "redis %s:%u: %s", src->hosts[i],
		    src->ports[i], c->errstr);
		goto bad;
	}
	if (redisSetTimeout(c, ms_tv(src->command_timeout_ms)) != REDIS_OK) {
		sync_error(c, src, i, "timeout", err, errlen);
		goto bad;
	}
	if (pw[0] == '\0')
		return c;
	if ((r = redisCommand(c, "AUTH %s", pw)) == NULL) {
		sync_error(c, src, i, "AUTH", err, errlen);
		goto bad;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		snprintf(err, errlen, "redis %s:%u: AUTH: %s", src->hosts[i],
		    src->ports[i], r->str);
		freeReplyObject(r);
		goto bad;
	}
	freeReplyObject(r);
	return c;
bad:
	redisFree(c);
	return NULL;
}

/* Read n pipelined replies into r[]; -1 (all freed) on a broken link. */
static int
sync_replies(redisContext *c, redisReply **r, size_t n)
{
	void *p;
	size_t i;

	for (i = 0; i < n; i++) {
		if (redisGetReply(c, &p) != REDIS_OK) {
			while (i > 0)
				freeReplyObject(r[--i]);
			return -1;
		}
		r[i] = p;
	}
	return 0;
}

static void
free_replies(redisReply **r, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		freeReplyObject(r[i]);
}

/* Version v from c: meta, then its chunks in one pipeline, checked. */
static int
sync_fetch(redisContext *c, const struct conf_source *src, size_t srv,
    uint64_t v, char **bufp, size_t *lenp, char *err, size_t errlen)
{
	struct tablesync_meta m;
	redisReply *r, **rs = NULL;
	char k[160], why[160];
	char *buf = NULL;
	size_t off = 0;
	uint64_t i;
	int rc = -1;

	key_meta(k, sizeof(k), src, v);
	if ((r = redisCommand(c, "HGETALL %s", k)) == NULL) {
		sync_error(c, src, srv, "HGETALL", err, errlen);
		return -1;
	}
	if (meta_parse(r, &m) == -1) {
		snprintf(err, errlen, "redis:v%" PRIu64 ": %s missing or "
		    "incomplete", v, k);
		freeReplyObject(r);
		return -1;
	}
	freeReplyObject(r);
	if ((buf = malloc(m.bytes + 1)) == NULL ||
	    (rs = calloc(m.chunks + 1, sizeof(*rs))) == NULL) {
		snprintf(err, errlen, "redis:v%" PRIu64 ": out of memory", v);
		goto out;
	}
	for (i = 0; i < m.chunks; i++) {
		key_chunk(k, sizeof(k), src, v, i);
		redisAppendCommand(c, "GET %s", k);
	}
	if (sync_replies(c, rs, m.chunks) == -1) {
		sync_error(c, src, srv, "GET chunks", err, errlen);
		goto out;
	}
	for (i = 0; i < m.chunks; i++) {
		r = rs[i];
		if (r->type != REDIS_REPLY_STRING) {
			snprintf(err, errlen, "redis:v%" PRIu64 ": chunk %"
			    PRIu64 " missing", v, i);
			goto freeall;
		}
		if ((uint64_t)r->len > m.bytes - off) {
			snprintf(err, errlen, "redis:v%" PRIu64 ": chunks hold "
			    "more than the meta's %" PRIu64 " bytes", v,
			    m.bytes);
			goto freeall;
		}
		memcpy(buf + off, r->str, r->len);
		off += r->len;
		/* Not the version twice over at the peak. */
		freeReplyObject(r);
		rs[i] = NULL;
	}
	if (tablesync_verify(&m, buf, off, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "redis:v%" PRIu64 ": %s", v, why);
		goto freeall;
	}
	*bufp = buf;
	*lenp = off;
	buf = NULL;
	rc = 0;
freeall:
	free_replies(rs, m.chunks);
out:
	free(rs);
	free(buf);
	return rc;
}

int
tablesync_fetch_current(const struct conf_source *src, uint64_t have,
    char **buf, size_t *len, uint64_t *version, char *err, size_t errlen)
{
	redisContext *c = NULL;
	redisReply *r;
	char k[160];
	size_t i, off;
	uint64_t v;
	int rc = -1;

	/* Each server's problem, when none answers: "A: refused; B: ...". */
	for (i = 0, off = 0; i < src->nservers && c == NULL; i++) {
		c = sync_connect_one(src, i, err + off, errlen - off);
		if (c == NULL && (off = strlen(err)) + 3 < errlen &&
		    i + 1 < src->nservers) {
			memcpy(err + off, "; ", 3);
			off += 2;
		}
	}
	if (c == NULL)
		return -1;
	i--;
	key(k, sizeof(k), src, "current");
	if ((r = redisCommand(c, "GET %s", k)) == NULL) {
		sync_error(c, src, i, "GET", err, errlen);
		goto out;
	}
	v = reply_version(r);
	freeReplyObject(r);
	if (v == 0) {
		snprintf(err, errlen, "redis %s:%u: no version published (%s "
		    "is not set)", src->hosts[i], src->ports[i], k);
		goto out;
	}
	*version = v;
	if (v == have)
		rc = 1;
	else if (sync_fetch(c, src, i, v, buf, len, err, errlen) == 0)
		rc = 0;
out:
	redisFree(c);
	return rc;
}

/* Every reply of a write pipeline must be a status, integer or array. */
static int
check_writes(redisReply **r, size_t n, char *err, size_t errlen)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (r[i]->type == REDIS_REPLY_ERROR ||
		    r[i]->type == REDIS_REPLY_NIL) {
			snprintf(err, errlen, "redis: write refused: %s",
			    r[i]->type == REDIS_REPLY_ERROR ? r[i]->str :
			    "transaction aborted");
			return -1;
		}
	return 0;
}

/* After version v: the version TABLESYNC_KEEP before it expires. */
static void
expire_old(redisContext *c, const struct conf_source *src, uint64_t v)
{
	struct tablesync_meta m;
	redisReply *r;
	char k[160];
	uint64_t old, i;

	if (v <= TABLESYNC_KEEP)
		return;
	old = v - TABLESYNC_KEEP;
	key_meta(k, sizeof(k), src, old);
	if ((r = redisCommand(c, "HGETALL %s", k)) == NULL)
		return;
	if (meta_parse(r, &m) == 0) {
		for (i = 0; i < m.chunks; i++) {
			key_chunk(k, sizeof(k), src, old, i);
			redisAppendCommand(c, "EXPIRE %s %d", k,
			    TABLESYNC_EXPIRE);
		}
		key_meta(k, sizeof(k), src, old);
		redisAppendCommand(c, "EXPIRE %s %d", k, TABLESYNC_EXPIRE);
		for (i = 0; i <= m.chunks; i++) {
			void *p;

			if (redisGetReply(c, &p) != REDIS_OK)
				break;
			freeReplyObject(p);
		}
	}
	freeReplyObject(r);
}

int
tablesync_publish(const struct conf_source *src, const char *buf, size_t len,
    uint64_t *version, char sha[TABLESYNC_SHA_HEX], char *err, size_t errlen)
{
	redisContext *c = NULL;
	redisReply *r = NULL, **rs = NULL;
	size_t *ends = NULL, n = 0, off, e, i, srv;
	char k[160], k2[160], vs[24];
	uint64_t v = 0;
	int rc = -1;

	/* Chunks end at line ends, so each is a valid piece of the file. */
	if ((ends = calloc(len / TABLESYNC_CHUNK_MAX + 2,
	    sizeof(*ends))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (off = 0; off < len; off = e) {
		if ((e = tablesync_chunk_end(buf, len, off,
		    TABLESYNC_CHUNK_MAX)) == off) {
			snprintf(err, errlen, "line %" PRIu64 " is longer "
			    "than a chunk (%u bytes)",
			    tablesync_lines(buf, off) + 1, TABLESYNC_CHUNK_MAX);
			goto out;
		}
		ends[n++] = e;
	}
	tablesync_sha256(buf, len, sha);
	/* Writes need the primary: a replica refuses INCR (READONLY). */
	for (srv = 0; srv < src->nservers; srv++) {
		if ((c = sync_connect_one(src, srv, err, errlen)) == NULL)
			continue;
		key(k, sizeof(k), src, "next");
		if ((r = redisCommand(c, "INCR %s", k)) == NULL)
			sync_error(c, src, srv, "INCR", err, errlen);
		else if (r->type != REDIS_REPLY_INTEGER || r->integer <= 0)
			snprintf(err, errlen, "redis %s:%u: INCR %s: %s",
			    src->hosts[srv], src->ports[srv], k,
			    r->type == REDIS_REPLY_ERROR ? r->str :
			    "not a number");
		else {
			v = (uint64_t)r->integer;
			break;
		}
		if (r != NULL)
			freeReplyObject(r);
		r = NULL;
		redisFree(c);
		c = NULL;
	}
	if (c == NULL)
		goto out;
	freeReplyObject(r);
	/*
	 * A counter that starts at 1 is a Redis that is new or lost its data
	 * (restarted empty): instances may run a version with this number
	 * from before, and would take the new one for it. Versions go on from
	 * the clock in ms instead, above any number used before.
	 */
	if (v == 1) {
		struct timespec now;

		clock_gettime(CLOCK_REALTIME, &now);
		v = (uint64_t)now.tv_sec * 1000 +
		    (uint64_t)now.tv_nsec / 1000000;
		key(k, sizeof(k), src, "next");
		if ((r = redisCommand(c, "SET %s %llu", k,
		    (unsigned long long)v)) == NULL) {
			sync_error(c, src, srv, "SET", err, errlen);
			goto out;
		}
		freeReplyObject(r);
	}
	if ((rs = calloc(n + 5, sizeof(*rs))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (i = 0, off = 0; i < n; off = ends[i++]) {
		key_chunk(k, sizeof(k), src, v, i);
		redisAppendCommand(c, "SET %s %b", k, buf + off, ends[i] - off);
	}
	/* The meta last: a reader that finds it finds every chunk. */
	key_meta(k, sizeof(k), src, v);
	redisAppendCommand(c, "HSET %s chunks %llu bytes %llu lines %llu "
	    "sha256 %s", k, (unsigned long long)n, (unsigned long long)len,
	    (unsigned long long)tablesync_lines(buf, len), sha);
	if (sync_replies(c, rs, n + 1) == -1) {
		sync_error(c, src, srv, "SET", err, errlen);
		goto out;
	}
	i = (size_t)check_writes(rs, n + 1, err, errlen);
	free_replies(rs, n + 1);
	if ((int)i == -1)
		goto out;
	snprintf(vs, sizeof(vs), "%" PRIu64, v);
	key(k, sizeof(k), src, "current");
	key(k2, sizeof(k2), src, "events");
	redisAppendCommand(c, "MULTI");
	redisAppendCommand(c, "SET %s %s", k, vs);
	redisAppendCommand(c, "PUBLISH %s %s", k2, vs);
	redisAppendCommand(c, "EXEC");
	if (sync_replies(c, rs, 4) == -1) {
		sync_error(c, src, srv, "EXEC", err, errlen);
		goto out;
	}
	i = (size_t)check_writes(rs, 4, err, errlen);
	free_replies(rs, 4);
	if ((int)i == -1)
		goto out;
	expire_old(c, src, v);
	*version = v;
	rc = 0;
out:
	if (c != NULL)
		redisFree(c);
	free(rs);
	free(ends);
	return rc;
}

int
tablesync_write_cache(const char *path, uint64_t version, const char *buf,
    size_t len, char *err, size_t errlen)
{
	char *tmp = NULL, *dir = NULL, head[64];
	const char *slash;
	size_t hl;
	int fd = -1, dfd, rc = -1;
	FILE *f = NULL;

	if (asprintf(&tmp, "%s.tmp.%ld", path, (long)getpid()) == -1) {
		tmp = NULL;
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0640)) == -1 || (f = fdopen(fd, "w")) == NULL) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	hl = (size_t)snprintf(head, sizeof(head),
	    "# usher table version %" PRIu64 "\n", version);
	if (fwrite(head, 1, hl, f) != hl || fwrite(buf, 1, len, f) != len ||
	    fflush(f) != 0 || fsync(fileno(f)) == -1) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	if (fclose(f) != 0) {
		f = NULL;
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	f = NULL;
	if (rename(tmp, path) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	/* The rename itself survives a crash once the directory is synced. */
	slash = strrchr(path, '/');
	if ((dir = slash ? strndup(path, (size_t)(slash - path) + 1) :
	    strdup(".")) != NULL &&
	    (dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		fsync(dfd);
		close(dfd);
	}
	rc = 0;
out:
	if (f != NULL)
		fclose(f);
	if (fd != -1)
		close(fd);
	if (rc == -1)
		unlink(tmp);
	free(tmp);
	free(dir);
	return rc;
}

/* ---- the sync thread ---- */

enum ts_state { ST_IDLE, ST_CURRENT, ST_META, ST_CHUNKS };

struct tablesync {
	struct conf_source	 src;		/* a copy */
	tablesync_load_fn	 fn;
	void			*arg;
	pthread_t		 thread;
	int			 stop_pipe[2];

	struct event_base	*base;
	struct event		*ev_stop, *ev_poll, *ev_retry, *ev_deadline;
	struct event		*ev_check, *ev_fail;
	redisAsyncContext	*cmd, *sub;
	size_t			 server;	/* index being used */
	size_t			 tried;		/* this round */
	unsigned		 attempt;	/* failed rounds in a row */
	unsigned		 connected;	/* contexts up, 0-2 */
	unsigned		 outstanding;	/* replies awaited */
	bool			 subscribed;
	bool			 answered_get;	/* GET current came back */

	enum ts_state		 state;
	bool			 recheck;	/* asked while busy */
	uint64_t		 fetch_v;
	struct tablesync_meta	 meta;
	char			*buf;
	uint64_t		 got;		/* bytes */
	uint64_t		 next_chunk;
	bool			 bad_fetch;	/* a chunk is wrong */
	uint64_t		 loaded, bad;
	atomic_uint_fast64_t	 loaded_hint;	/* from a SIGHUP */
	struct timespec		 last_load;
	struct timespec		 fetch_start;
	bool			 have_loaded;

	enum tablesync_reason	 fail_reason;	/* for ev_fail */
	char			 fail_msg[512];
	/* Causes logged since the source was last up: each once, even when
	 * the servers of a round fail in turn. */
	char			 causes[CONFIG_MAX_REDIS + 2][256];
	size_t			 ncauses;

	atomic_uint_fast64_t	 st_version;
	atomic_bool		 st_up;
	atomic_ulong		 st_failures[TS__COUNT];
};

static uint32_t
rnd32(void)
{
	return arc4random();
}

static void
arm_ms(struct event *ev, unsigned ms)
{
	struct timeval tv = ms_tv(ms);

	/* libevent counts from the time its loop cached, which a load of a
	 * million users leaves seconds behind: a deadline set from it would
	 * have passed already. */
	event_base_update_cache_time(event_get_base(ev));

	evtimer_add(ev, &tv);
}

static double
since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) +
	    (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

/* One log line per cause: the same failure again stays quiet. */
static void
cause(struct tablesync *ts, const char *msg)
{
	size_t i;

	for (i = 0; i < ts->ncauses; i++)
		if (strncmp(ts->causes[i], msg, sizeof(ts->causes[i]) - 1) == 0)
			return;
	i = ts->ncauses < NELEM(ts->causes) ? ts->ncauses++ :
	    NELEM(ts->causes) - 1;
	snprintf(ts->causes[i], sizeof(ts->causes[i]), "%s", msg);
	log_warnx("table source: %s; serving the last good table "
	    "(version %" PRIu64 ")", msg, ts->loaded);
}

static void
count(struct tablesync *ts, enum tablesync_reason r)
{
	atomic_fetch_add(&ts->st_failures[r], 1);
}

static void
fetch_reset(struct tablesync *ts)
{
	free(ts->buf);
	ts->buf = NULL;
	ts->state = ST_IDLE;
}

/* Called from hiredis callbacks: the teardown runs from ev_fail, outside
 * of them, so no context is freed under hiredis's feet. */
static void
fail_later(struct tablesync *ts, enum tablesync_reason r, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

static void
fail_later(struct tablesync *ts, enum tablesync_reason r, const char *fmt,
    ...)
{
	va_list ap;

	if (evtimer_pending(ts->ev_fail, NULL))
		return;		/* the first cause wins */
	ts->fail_reason = r;
	va_start(ap, fmt);
	vsnprintf(ts->fail_msg, sizeof(ts->fail_msg), fmt, ap);
	va_end(ap);
	arm_ms(ts->ev_fail, 0);
}

static void
drop_links(struct tablesync *ts)
{
	redisAsyncContext *c;

	/* Cleared first: the disconnect callbacks then see strangers. */
	if ((c = ts->cmd) != NULL) {
		ts->cmd = NULL;
		redisAsyncFree(c);
	}
	if ((c = ts->sub) != NULL) {
		ts->sub = NULL;
		redisAsyncFree(c);
	}
	ts->connected = 0;
	ts->outstanding = 0;
	ts->subscribed = false;
	ts->answered_get = false;
	evtimer_del(ts->ev_deadline);
	fetch_reset(ts);
	atomic_store(&ts->st_up, false);
}

static void
on_fail(evutil_socket_t fd, short what, void *arg)
{
	struct tablesync *ts = arg;
	unsigned ms;

	(void)fd;
	(void)what;
	drop_links(ts);
	count(ts, ts->fail_reason);
	cause(ts, ts->fail_msg);
	/* The next server at once; after a whole round, back off. */
	if (++ts->tried < ts->src.nservers) {
		ts->server = (ts->server + 1) % ts->src.nservers;
		arm_ms(ts->ev_retry, 0);
		return;
	}
	ts->tried = 0;
	ts->server = 0;
	ms = tablesync_backoff_ms(ts->attempt++, rnd32());
	arm_ms(ts->ev_retry, ms);
}

/* The deadline covers whatever is awaited: a connection or replies. */
static void
deadline_start(struct tablesync *ts)
{
	arm_ms(ts->ev_deadline, ts->connected < 2 ?
	    ts->src.connect_timeout_ms : ts->src.command_timeout_ms);
}

static void
sent(struct tablesync *ts)
{
	if (ts->outstanding++ == 0 || ts->connected == 2)
		deadline_start(ts);
}

static void
answered(struct tablesync *ts)
{
	if (ts->outstanding > 0)
		ts->outstanding--;
	if (ts->outstanding == 0 && ts->connected == 2)
		evtimer_del(ts->ev_deadline);
	else
		deadline_start(ts);	/* progress: a new deadline */
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct tablesync *ts = arg;

	(void)fd;
	(void)what;
	if (ts->connected < 2)
		fail_later(ts, TS_CONNECT, "redis %s:%u: no connection within "
		    "%u ms", ts->src.hosts[ts->server],
		    ts->src.ports[ts->server], ts->src.connect_timeout_ms);
	else
		fail_later(ts, TS_TIMEOUT, "redis %s:%u: no answer within %u "
		    "ms", ts->src.hosts[ts->server],
		    ts->src.ports[ts->server], ts->src.command_timeout_ms);
}

static void check(struct tablesync *);

static void
up(struct tablesync *ts)
{
	if (atomic_load(&ts->st_up))
		return;
	atomic_store(&ts->st_up, true);
	ts->attempt = 0;
	ts->tried = 0;
	if (ts->ncauses > 0)
		log_info("table source: redis %s:%u answers again",
		    ts->src.hosts[ts->server], ts->src.ports[ts->server]);
	ts->ncauses = 0;
}

/* A reply that is an error or missing breaks the link. */
static bool
is_broken(struct tablesync *ts, const redisReply *r, const char *what)
{
	if (r != NULL && r->type != REDIS_REPLY_ERROR)
		return false;
	if (r != NULL)
		fail_later(ts, TS_CONNECT, "redis %s:%u: %s: %s",
		    ts->src.hosts[ts->server], ts->src.ports[ts->server], what,
		    r->str);
	return true;
}

static void
load(struct tablesync *ts)
{
	struct conf_snapshot snap;
	char name[48], err[1024];
	uint64_t v = ts->fetch_v;
	double fetched = since(&ts->fetch_start);

	snprintf(name, sizeof(name), "redis:v%" PRIu64, v);
	snap.name = name;
	snap.buf = ts->buf;
	snap.len = ts->got;
	snap.version = v;
	clock_gettime(CLOCK_MONOTONIC, &ts->last_load);
	ts->have_loaded = true;
	if (ts->fn(ts->arg, &snap, err, sizeof(err)) == -1) {
		ts->bad = v;
		count(ts, TS_PARSE);
		log_warnx("table source: version %" PRIu64 " not loaded, "
		    "serving version %" PRIu64 ": %s", v, ts->loaded, err);
		return;
	}
	ts->loaded = v;
	ts->ncauses = 0;	/* a cause that comes back is news */
	atomic_store(&ts->st_version, v);
	log_info("table source: version %" PRIu64 ": %" PRIu64 " bytes "
	    "fetched and checked in %.0f ms, loaded in %.0f ms", v, ts->got,
	    fetched * 1000, (since(&ts->fetch_start) - fetched) * 1000);
}

/* A version the fetch found broken is not fetched again. */
static void
reject(struct tablesync *ts, enum tablesync_reason r, const char *why)
{
	ts->bad = ts->fetch_v;
	count(ts, r);
	log_warnx("table source: version %" PRIu64 " rejected (%s), serving "
	    "version %" PRIu64 ": redis:v%" PRIu64 ": %s", ts->fetch_v,
	    tablesync_reason_name(r), ts->loaded, ts->fetch_v, why);
}

static void
done(struct tablesync *ts)
{
	fetch_reset(ts);
	if (ts->recheck) {
		ts->recheck = false;
		check(ts);
	}
}

static void
on_chunk(redisAsyncContext *c, void *reply, void *priv)
{
	struct tablesync *ts = c->data;
	redisReply *r = reply;
	uint64_t i = (uint64_t)(uintptr_t)priv;
	char why[160];

	if (ts == NULL || r == NULL || ts->state != ST_CHUNKS)
		return;
	answered(ts);
	if (is_broken(ts, r, "GET chunk"))
		return;
	if (i != ts->next_chunk++)
		ts->bad_fetch = true;
	if (r->type != REDIS_REPLY_STRING) {
		if (!ts->bad_fetch)
			snprintf(ts->fail_msg, sizeof(ts->fail_msg),
			    "chunk %" PRIu64 " missing", i);
		ts->bad_fetch = true;
	} else if ((uint64_t)r->len > ts->meta.bytes - ts->got) {
		if (!ts->bad_fetch)
			snprintf(ts->fail_msg, sizeof(ts->fail_msg),
			    "chunks hold more than the meta's %" PRIu64
			    " bytes", ts->meta.bytes);
		ts->bad_fetch = true;
	} else {
		memcpy(ts->buf + ts->got, r->str, r->len);
		ts->got += r->len;
	}
	if (ts->next_chunk < ts->meta.chunks)
		return;
	if (ts->bad_fetch)
		reject(ts, strstr(ts->fail_msg, "missing") ? TS_MISSING :
		    TS_CHECKSUM, ts->fail_msg);
	else if (tablesync_verify(&ts->meta, ts->buf, ts->got, why,
	    sizeof(why)) == -1)
		reject(ts, TS_CHECKSUM, why);
	else
		load(ts);
	done(ts);
}

static void
on_meta(redisAsyncContext *c, void *reply, void *priv)
{
	struct tablesync *ts = c->data;
	redisReply *r = reply;
	char k[160];
	uint64_t i;

	(void)priv;
	if (ts == NULL || r == NULL || ts->state != ST_META)
		return;
	answered(ts);
	if (is_broken(ts, r, "HGETALL"))
		return;
	if (meta_parse(r, &ts->meta) == -1) {
		reject(ts, TS_MISSING, "meta missing or incomplete");
		done(ts);
		return;
	}
	if ((ts->buf = malloc(ts->meta.bytes + 1)) == NULL) {
		log_warnx("table source: version %" PRIu64 ": out of memory",
		    ts->fetch_v);
		done(ts);
		return;
	}
	ts->got = 0;
	ts->next_chunk = 0;
	ts->bad_fetch = false;
	ts->state = ST_CHUNKS;
	if (ts->meta.chunks == 0) {	/* an empty table */
		if (tablesync_verify(&ts->meta, ts->buf, 0, k,
		    sizeof(k)) == -1)
			reject(ts, TS_CHECKSUM, k);
		else
			load(ts);
		done(ts);
		return;
	}
	/* All chunks in one pipeline: one round trip for the lot. */
	for (i = 0; i < ts->meta.chunks; i++) {
		key_chunk(k, sizeof(k), &ts->src, ts->fetch_v, i);
		redisAsyncCommand(ts->cmd, on_chunk, (void *)(uintptr_t)i,
		    "GET %s", k);
		sent(ts);
	}
}

static void
on_current(redisAsyncContext *c, void *reply, void *priv)
{
	struct tablesync *ts = c->data;
	redisReply *r = reply;
	char k[160];
	unsigned wait;
	uint64_t v;

	(void)priv;
	if (ts == NULL || r == NULL || ts->state != ST_CURRENT)
		return;
	answered(ts);
	if (is_broken(ts, r, "GET"))
		return;
	/* Up: current answers and the channel is ours, in either order. */
	ts->answered_get = true;
	if (ts->subscribed)
		up(ts);
	v = reply_version(r);
	if (v == 0) {
		/* Restarted empty, or nothing published yet. */
		key(k, sizeof(k), &ts->src, "current");
		cause(ts, r->type == REDIS_REPLY_NIL ? "no version published "
		    "(current key not set)" : "current key is not a number");
		done(ts);
		return;
	}
	if (!tablesync_wants(v, ts->loaded, ts->bad)) {
		done(ts);
		return;
	}
	/* At most one load a second: later versions coalesce meanwhile. */
	if ((wait = tablesync_load_wait_ms(ts->have_loaded ?
	    (long)(since(&ts->last_load) * 1000) : -1, rnd32())) > 0) {
		if (!evtimer_pending(ts->ev_check, NULL))
			arm_ms(ts->ev_check, wait);
		done(ts);
		return;
	}
	ts->fetch_v = v;
	ts->state = ST_META;
	clock_gettime(CLOCK_MONOTONIC, &ts->fetch_start);
	key_meta(k, sizeof(k), &ts->src, v);
	redisAsyncCommand(ts->cmd, on_meta, NULL, "HGETALL %s", k);
	sent(ts);
}

static void
check(struct tablesync *ts)
{
	char k[160];
	uint64_t h;

	if ((h = atomic_exchange(&ts->loaded_hint, 0)) != 0)
		ts->loaded = h;
	if (ts->cmd == NULL)
		return;		/* the reconnect reads current */
	if (ts->state != ST_IDLE) {
		ts->recheck = true;
		return;
	}
	ts->state = ST_CURRENT;
	key(k, sizeof(k), &ts->src, "current");
	redisAsyncCommand(ts->cmd, on_current, NULL, "GET %s", k);
	sent(ts);
}

static void
on_check(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	check(arg);
}

static void
on_sub(redisAsyncContext *c, void *reply, void *priv)
{
	struct tablesync *ts = c->data;
	redisReply *r = reply, *kind;

	(void)priv;
	if (ts == NULL || r == NULL)
		return;
	if (is_broken(ts, r, "SUBSCRIBE"))
		return;
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
	    (kind = r->element[0])->type != REDIS_REPLY_STRING)
		return;
	if (strcmp(kind->str, "subscribe") == 0) {
		ts->subscribed = true;
		answered(ts);
		if (ts->answered_get)
			up(ts);
		return;
	}
	/* A little jitter, so a fleet does not fetch in one instant. */
	if (strcmp(kind->str, "message") == 0 &&
	    !evtimer_pending(ts->ev_check, NULL))
		arm_ms(ts->ev_check, rnd32() % 100);
}

static void
on_auth(redisAsyncContext *c, void *reply, void *priv)
{
	struct tablesync *ts = c->data;

	(void)priv;
	if (ts == NULL || reply == NULL)
		return;
	answered(ts);
	is_broken(ts, reply, "AUTH");
}

static void
on_connect(const redisAsyncContext *c, int status)
{
	struct tablesync *ts = c->data;

	if (ts == NULL || (c != ts->cmd && c != ts->sub))
		return;
	if (status != REDIS_OK) {
		/* hiredis frees c after this callback. */
		if (c == ts->cmd)
			ts->cmd = NULL;
		else
			ts->sub = NULL;
		fail_later(ts, TS_CONNECT, "redis %s:%u: %s",
		    ts->src.hosts[ts->server], ts->src.ports[ts->server],
		    c->errstr[0] ? c->errstr : "cannot connect");
		return;
	}
	if (++ts->connected == 2)
		deadline_start(ts);	/* now for the replies */
}

static void
on_disconnect(const redisAsyncContext *c, int status)
{
	struct tablesync *ts = c->data;

	(void)status;
	if (ts == NULL || (c != ts->cmd && c != ts->sub))
		return;		/* one we freed ourselves */
	if (c == ts->cmd)
		ts->cmd = NULL;
	else
		ts->sub = NULL;
	fail_later(ts, TS_CONNECT, "redis %s:%u: connection lost",
	    ts->src.hosts[ts->server], ts->src.ports[ts->server]);
}

static redisAsyncContext *
link_open(struct tablesync *ts, const char *pw, char *err, size_t errlen)
{
	redisAsyncContext *c;

	c = redisAsyncConnect(ts->src.hosts[ts->server],
	    ts->src.ports[ts->server]);
	if (c == NULL || c->err) {
		snprintf(err, errlen, "redis %s:%u: %s",
		    ts->src.hosts[ts->server], ts->src.ports[ts->server],
		    c ? c->errstr : "out of memory");
		if (c != NULL)
			redisAsyncFree(c);
		return NULL;
	}
	c->data = ts;
	redisLibeventAttach(c, ts->base);
	redisAsyncSetConnectCallback(c, on_connect);
	redisAsyncSetDisconnectCallback(c, on_disconnect);
	/* Queued now, written once connected. */
	if (pw[0] != '\0') {
		redisAsyncCommand(c, on_auth, NULL, "AUTH %s", pw);
		sent(ts);
	}
	return c;
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct tablesync *ts = arg;
	char pw[512], err[512], k[160];

	(void)fd;
	(void)what;
	if (read_password(&ts->src, pw, sizeof(pw), err, sizeof(err)) == -1 ||
	    (ts->cmd = link_open(ts, pw, err, sizeof(err))) == NULL ||
	    (ts->sub = link_open(ts, pw, err, sizeof(err))) == NULL) {
		fail_later(ts, TS_CONNECT, "%s", err);
		return;
	}
	deadline_start(ts);
	key(k, sizeof(k), &ts->src, "events");
	redisAsyncCommand(ts->sub, on_sub, NULL, "SUBSCRIBE %s", k);
	sent(ts);
	/* Events missed while away: current tells. */
	check(ts);
}

static void
on_poll(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	check(arg);
}

static void
on_stop(evutil_socket_t fd, short what, void *arg)
{
	struct tablesync *ts = arg;

	(void)fd;
	(void)what;
	event_base_loopbreak(ts->base);
}

static void *
sync_main(void *arg)
{
	struct tablesync *ts = arg;

	pthread_setname_np(pthread_self(), "usher-sync");
	event_base_dispatch(ts->base);
	drop_links(ts);
	return NULL;
}

static void
src_free(struct conf_source *s)
{
	size_t i;

	for (i = 0; i < s->nservers; i++)
		free(s->hosts[i]);
	free(s->prefix);
	free(s->password_file);
	free(s->cache_file);
}

static int
src_copy(struct conf_source *d, const struct conf_source *s)
{
	size_t i;

	*d = *s;
	d->prefix = strdup(s->prefix);
	d->password_file = s->password_file ? strdup(s->password_file) : NULL;
	d->cache_file = s->cache_file ? strdup(s->cache_file) : NULL;
	for (i = 0; i < s->nservers; i++)
		d->hosts[i] = strdup(s->hosts[i]);
	for (i = 0; i < s->nservers; i++)
		if (d->hosts[i] == NULL)
			return -1;
	if (d->prefix == NULL || (s->password_file && !d->password_file) ||
	    (s->cache_file && !d->cache_file))
		return -1;
	return 0;
}

struct tablesync *
tablesync_start(const struct conf_source *src, uint64_t loaded,
    tablesync_load_fn fn, void *arg)
{
	struct tablesync *ts;
	struct timeval tv;

	if ((ts = calloc(1, sizeof(*ts))) == NULL)
		return NULL;
	ts->stop_pipe[0] = ts->stop_pipe[1] = -1;
	if (src_copy(&ts->src, src) == -1 ||
	    pipe2(ts->stop_pipe, O_CLOEXEC | O_NONBLOCK) == -1 ||
	    (ts->base = event_base_new()) == NULL)
		goto bad;
	ts->fn = fn;
	ts->arg = arg;
	ts->loaded = loaded;
	atomic_store(&ts->st_version, loaded);
	ts->ev_stop = event_new(ts->base, ts->stop_pipe[0], EV_READ, on_stop,
	    ts);
	ts->ev_poll = event_new(ts->base, -1, EV_PERSIST, on_poll, ts);
	ts->ev_retry = evtimer_new(ts->base, on_retry, ts);
	ts->ev_deadline = evtimer_new(ts->base, on_deadline, ts);
	ts->ev_check = evtimer_new(ts->base, on_check, ts);
	ts->ev_fail = evtimer_new(ts->base, on_fail, ts);
	if (!ts->ev_stop || !ts->ev_poll || !ts->ev_retry ||
	    !ts->ev_deadline || !ts->ev_check || !ts->ev_fail)
		goto bad;
	event_add(ts->ev_stop, NULL);
	tv.tv_sec = ts->src.poll_interval;
	tv.tv_usec = 0;
	event_add(ts->ev_poll, &tv);
	arm_ms(ts->ev_retry, 0);
	if (pthread_create(&ts->thread, NULL, sync_main, ts) != 0)
		goto bad;
	return ts;
bad:
	ts->thread = 0;
	tablesync_stop(ts);
	return NULL;
}

void
tablesync_stop(struct tablesync *ts)
{
	struct event *evs[6];
	size_t i;

	if (ts == NULL)
		return;
	evs[0] = ts->ev_stop;
	evs[1] = ts->ev_poll;
	evs[2] = ts->ev_retry;
	evs[3] = ts->ev_deadline;
	evs[4] = ts->ev_check;
	evs[5] = ts->ev_fail;
	if (ts->thread != 0) {
		(void)!write(ts->stop_pipe[1], "x", 1);
		pthread_join(ts->thread, NULL);
	}
	for (i = 0; i < NELEM(evs); i++)
		if (evs[i] != NULL)
			event_free(evs[i]);
	if (ts->base != NULL)
		event_base_free(ts->base);
	if (ts->stop_pipe[0] != -1)
		close(ts->stop_pipe[0]);
	if (ts->stop_pipe[1] != -1)
		close(ts->stop_pipe[1]);
	free(ts->buf);
	src_free(&ts->src);
	free(ts);
}

void
tablesync_note_loaded(struct tablesync *ts, uint64_t version)
{
	if (ts != NULL && version != 0)
		atomic_store(&ts->loaded_hint, version);
}

void
tablesync_status(struct tablesync *ts, struct tablesync_status *st)
{
	int i;

	memset(st, 0, sizeof(*st));
	if (ts == NULL)
		return;
	st->version = atomic_load(&ts->st_version);
	st->up = atomic_load(&ts->st_up);
	for (i = 0; i < TS__COUNT; i++)
		st->failures[i] = atomic_load(&ts->st_failures[i]);
}
