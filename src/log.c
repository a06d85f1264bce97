/* log.c: OpenBSD-style logging to stderr or syslog (facility daemon). */
#include <sys/stat.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"

static bool	log_stderr = true;
static bool	log_journal;	/* stderr is journald's: "<N>" prefixes */
/* Written by the reload thread, read by every worker: relaxed is enough,
 * a message logged at the old level during a reload is no harm. */
static atomic_int log_level = LOG_LEVEL_INFO;

static int
level(void)
{
	return atomic_load_explicit(&log_level, memory_order_relaxed);
}

/*
 * systemd sets JOURNAL_STREAM=DEV:INODE for a stderr it connected to the
 * journal; a "<N>" syslog priority at the start of a line sets its level
 * (sd-daemon(3)), so `journalctl -p warning` finds our warnings. The
 * variable is inherited by children whose stderr went elsewhere, hence the
 * comparison with what stderr is.
 */
static bool
is_journal(void)
{
	const char *s = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (s == NULL || sscanf(s, "%llu:%llu", &dev, &ino) != 2 ||
	    fstat(STDERR_FILENO, &st) == -1)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

void
log_init(bool to_stderr, int lvl)
{
	log_stderr = to_stderr;
	log_journal = to_stderr && is_journal();
	log_setlevel(lvl);
	if (!to_stderr)
		openlog("usher", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
log_setlevel(int lvl)
{
	atomic_store_explicit(&log_level, lvl, memory_order_relaxed);
}

bool
log_debug_enabled(void)
{
	return level() >= LOG_LEVEL_DEBUG;
}

size_t
log_escape(char *dst, size_t dstlen, const char *src, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char c;
	size_t i, n = 0;

	if (dstlen == 0)
		return 0;
	for (i = 0; i < len; i++) {
		c = (unsigned char)src[i];
		if (c >= 0x20 && c != 0x7f) {
			if (n + 1 >= dstlen)
				break;
			dst[n++] = (char)c;
			continue;
		}
		if (n + (c == '\r' || c == '\n' || c == '\t' ? 2 : 4) >= dstlen)
			break;
		dst[n++] = '\\';
		switch (c) {
		case '\r':
			dst[n++] = 'r';
			break;
		case '\n':
			dst[n++] = 'n';
			break;
		case '\t':
			dst[n++] = 't';
			break;
		default:
			dst[n++] = 'x';
			dst[n++] = hex[c >> 4];
			dst[n++] = hex[c & 0x0f];
			break;
		}
	}
	dst[n] = '\0';
	return n;
}

/*
 * Every line goes through here, so escaping here covers every caller: a
 * Call-ID or a name taken from a message may carry CR LF (folded or
 * forged) or ESC, and must not start a line of its own in the log nor
 * drive a terminal (SPEC §7).
 */
static void
vlog(int pri, int lvl, const char *fmt, va_list ap, const char *suffix)
{
	static const char *names[] = { "error", "warning", "info", "debug" };
	char raw[2048], msg[4 * sizeof(raw)], pfx[8] = "";
	int n;

	if (lvl > level())
		return;
	/* The length, not strlen: a %c or %.*s may have put a NUL in. */
	if ((n = vsnprintf(raw, sizeof(raw), fmt, ap)) < 0)
		n = 0;
	if ((size_t)n >= sizeof(raw))
		n = sizeof(raw) - 1;
	log_escape(msg, sizeof(msg), raw, (size_t)n);
	if (log_stderr) {
		if (log_journal)
			snprintf(pfx, sizeof(pfx), "<%d>", pri);
		/* One call, so that threads' lines never interleave. */
		fprintf(stderr, "%susher: %s: %s%s%s\n", pfx, names[lvl], msg,
		    suffix ? ": " : "", suffix ? suffix : "");
		fflush(stderr);
	} else if (suffix)
		syslog(pri, "%s: %s", msg, suffix);
	else
		syslog(pri, "%s", msg);
}

void
log_warn(const char *fmt, ...)
{
	char buf[256];
	const char *err;
	va_list ap;
	int saved = errno;

	err = strerror_r(saved, buf, sizeof(buf));	/* GNU: may not use buf */
	va_start(ap, fmt);
	vlog(LOG_WARNING, LOG_LEVEL_WARNING, fmt, ap, err);
	va_end(ap);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_WARNING, LOG_LEVEL_WARNING, fmt, ap, NULL);
	va_end(ap);
}

void
log_errx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_ERR, LOG_LEVEL_ERROR, fmt, ap, NULL);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_INFO, LOG_LEVEL_INFO, fmt, ap, NULL);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_DEBUG, LOG_LEVEL_DEBUG, fmt, ap, NULL);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	char buf[256];
	const char *err;
	va_list ap;

	err = strerror_r(errno, buf, sizeof(buf));
	va_start(ap, fmt);
	vlog(LOG_CRIT, LOG_LEVEL_ERROR, fmt, ap, err);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, LOG_LEVEL_ERROR, fmt, ap, NULL);
	va_end(ap);
	exit(1);
}
