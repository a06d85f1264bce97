/* daemon.h: detaching from the terminal, the locked pid file, dropping
 * privileges. */
#ifndef USHER_DAEMON_H
#define USHER_DAEMON_H

#include <stddef.h>

/*
 * Fork into the background: the parent waits until daemon_ready() or
 * daemon_fail() in the child and exits 0 or 1 with it; the child continues
 * in a new session. Returns in the child only (0), or -1 with err set when
 * the fork itself failed.
 */
int	daemon_detach(char *err, size_t errlen);

/* Tell the waiting parent that we serve (exit 0) or why we could not
 * (it prints msg and exits 1). Then stdio goes to /dev/null. */
void	daemon_ready(void);
void	daemon_fail(const char *msg);

/* Create and lock the pid file and write our pid into it. -1 with err
 * ("another usher (pid 123) holds /run/usher/usher.pid") when locked. */
int	daemon_pidfile(const char *path, char *err, size_t errlen);
void	daemon_pidfile_remove(void);

/* setgroups/setgid/setuid to user and group (either may be NULL: group
 * defaults to the user's). 0, or -1 with err. No-op when not root. */
int	daemon_privdrop(const char *user, const char *group, char *err,
	    size_t errlen);

/*
 * Tell systemd (sd_notify protocol: a datagram to $NOTIFY_SOCKET) the
 * printf-formatted "KEY=value\n..." lines: READY=1, RELOADING=1, STATUS=,
 * WATCHDOG=1. 0 when sent or when not under systemd, -1 on failure.
 */
int	daemon_notify(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));

/* $WATCHDOG_USEC when it is meant for this process, else 0. */
long long	daemon_watchdog_usec(void);

#endif
