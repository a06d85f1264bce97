/* tablesync.h: the fleet table in Redis (SPEC §11): publishing a users_file
 * as a version, fetching and checking one, and the sync thread that follows
 * usher:current and hands each new version to a load callback. */
#ifndef USHER_TABLESYNC_H
#define USHER_TABLESYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define TABLESYNC_CHUNK_MAX	(4u * 1024 * 1024)	/* bytes */
#define TABLESYNC_KEEP		3	/* versions kept whole */
#define TABLESYNC_EXPIRE	3600	/* s, for the versions before */
#define TABLESYNC_LOAD_GAP	1000	/* ms between two loads, at least */
#define TABLESYNC_SHA_HEX	65	/* 64 hex digits and a NUL */

enum tablesync_reason {
	TS_CHECKSUM = 0,	/* bytes or sha256 do not match the meta */
	TS_PARSE,		/* the users_file part does not load */
	TS_MISSING,		/* meta or a chunk is not there */
	TS_TIMEOUT,		/* no answer within command_timeout_ms */
	TS_CONNECT,		/* cannot connect, or the connection broke */
	TS__COUNT
};

const char	*tablesync_reason_name(enum tablesync_reason r);

/* A version as read from usher:v:N:meta. */
struct tablesync_meta {
	uint64_t	 chunks;
	uint64_t	 bytes;
	uint64_t	 lines;
	char		 sha256[TABLESYNC_SHA_HEX];
};

/* ---- pure parts (unit tested) ---- */

/*
 * End (exclusive) of the chunk that starts at off: as many whole lines as
 * fit in max bytes; the last line may lack its '\n'. Returns off when the
 * line at off alone is longer than max (it cannot be stored).
 */
size_t	tablesync_chunk_end(const char *buf, size_t len, size_t off,
	    size_t max);

/* Lines as the parser counts them: '\n's, plus one unterminated tail. */
uint64_t	tablesync_lines(const char *buf, size_t len);

/* sha256 of buf as 64 lower-case hex digits (libcrypto). */
void	tablesync_sha256(const char *buf, size_t len,
	    char hex[TABLESYNC_SHA_HEX]);

/* Checks the bytes assembled from a version's chunks against its meta: 0,
 * or -1 with the reason in *why (TS_CHECKSUM) and the detail in err. */
int	tablesync_verify(const struct tablesync_meta *m, const char *buf,
	    size_t len, char *err, size_t errlen);

/* Retry delay in ms after attempt failures in a row (0 for the first
 * retry): 1 s doubling to 30 s, plus up to a fifth more from rnd, never
 * above 30 s. */
unsigned	tablesync_backoff_ms(unsigned attempt, uint32_t rnd);

/* How long to wait before a load, since_ms after the last one began (-1:
 * none yet): 0 when a load may start now, else what is left of
 * TABLESYNC_LOAD_GAP plus up to 199 ms from rnd, so that a fleet does not
 * fetch in one instant. A version published meanwhile replaces this one. */
unsigned	tablesync_load_wait_ms(long since_ms, uint32_t rnd);

/* Whether version cur is worth a load: there is one, it is not the one
 * running, and it is not the one that failed (a bad version is retried
 * only once usher:current names another). */
bool	tablesync_wants(uint64_t cur, uint64_t loaded, uint64_t bad);

/* ---- blocking (start-up, -t, -P) ---- */

/*
 * Fetch and check the current version from the first server that answers.
 * On 0, *buf (malloc'd, caller frees), *len and *version hold it; 1 when
 * the current version is have (nothing fetched; *version is set). -1 with
 * the problem in err ("redis 127.0.0.1:6379: Connection refused").
 */
int	tablesync_fetch_current(const struct conf_source *src, uint64_t have,
	    char **buf, size_t *len, uint64_t *version, char *err,
	    size_t errlen);

/*
 * Write buf as a new version (chunks, then meta, then one MULTI with SET
 * current and PUBLISH), expire the version TABLESYNC_KEEP before it. On 0,
 * *version and sha (hex) say what was published; -1 with err.
 */
int	tablesync_publish(const struct conf_source *src, const char *buf,
	    size_t len, uint64_t *version, char sha[TABLESYNC_SHA_HEX],
	    char *err, size_t errlen);

/* Write cache_file atomically: a temporary file beside it, fsync, rename.
 * Its first line, a comment, names the version. 0, or -1 with err. */
int	tablesync_write_cache(const char *path, uint64_t version,
	    const char *buf, size_t len, char *err, size_t errlen);

/* ---- the sync thread ---- */

/* Load snap and swap it in as a reload does. 0, or -1 with why in err
 * (the version is then not retried). Runs in the sync thread. */
typedef int (*tablesync_load_fn)(void *arg, const struct conf_snapshot *snap,
    char *err, size_t errlen);

struct tablesync;

/* What metrics show. */
struct tablesync_status {
	uint64_t	 version;	/* loaded (or from the cache) */
	bool		 up;
	unsigned long	 failures[TS__COUNT];
};

/*
 * Start following src in a thread of its own (its own event_base, hiredis
 * with the libevent adapter). loaded is the version the running table
 * holds (0: none). src is copied. NULL on failure.
 */
struct tablesync *tablesync_start(const struct conf_source *src,
	    uint64_t loaded, tablesync_load_fn fn, void *arg);
void	tablesync_stop(struct tablesync *ts);	/* joins; NULL ok */
void	tablesync_status(struct tablesync *ts, struct tablesync_status *st);

/* A SIGHUP reload took the table from cache_file: version is what runs
 * now, and what the sync thread compares usher:current with. */
void	tablesync_note_loaded(struct tablesync *ts, uint64_t version);

#endif
