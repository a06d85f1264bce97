/* log.h: OpenBSD-style logging to stderr (foreground) or syslog (daemon). */
#ifndef USHER_LOG_H
#define USHER_LOG_H

#include <stdarg.h>
#include <stdbool.h>

/* Levels match enum log_level in config.h. */
void	log_init(bool to_stderr, int level);
void	log_setlevel(int level);
int	log_getlevel(void);
bool	log_debug_enabled(void);

void	log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#endif
