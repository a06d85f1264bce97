/* log.c: OpenBSD-style logging to stderr or syslog (facility daemon). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "config.h"
#include "log.h"

static bool	log_stderr = true;
static int	log_level = LOG_LEVEL_INFO;

void
log_init(bool to_stderr, int level)
{
	log_stderr = to_stderr;
	log_level = level;
	if (!to_stderr)
		openlog("usher", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
log_setlevel(int level)
{
	log_level = level;
}

int
log_getlevel(void)
{
	return log_level;
}

bool
log_debug_enabled(void)
{
	return log_level >= LOG_LEVEL_DEBUG;
}

static void
vlog(int pri, int level, const char *fmt, va_list ap, const char *suffix)
{
	static const char *names[] = { "error", "warning", "info", "debug" };
	char msg[2048];

	if (level > log_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_stderr) {
		fprintf(stderr, "usher: %s: %s%s%s\n", names[level], msg,
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
