/* log.h: OpenBSD-style logging to stderr (foreground) or syslog (daemon). */
#ifndef USHER_LOG_H
#define USHER_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARNING,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

/* The level may be set from any thread (a reload) while workers log. */
void	log_init(bool to_stderr, int level);
void	log_setlevel(int level);
bool	log_debug_enabled(void);

void	log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* An error that stops usher, logged at level error (start-up). */
void	log_errx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * len bytes of src into dst as one line: C0 controls and DEL written as
 * \r, \n, \t or \xHH (NUL too), the rest as it is. Always terminated
 * (dstlen > 0); stops early rather than cut an escape. The length written.
 * Every log line goes through it.
 */
size_t	log_escape(char *dst, size_t dstlen, const char *src, size_t len);

void	fatal(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#endif
