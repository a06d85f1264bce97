/* daemon.c: background start with a readiness pipe, pid file, privdrop. */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"

static int	 ready_fd = -1;		/* child's end of the pipe */
static int	 pid_fd = -1;
static char	*pid_path;

int
daemon_detach(char *err, size_t errlen)
{
	char msg[1024];
	ssize_t n, got = 0;
	int fds[2];
	pid_t pid;

	if (pipe(fds) == -1) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	if ((pid = fork()) == -1) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid > 0) {
		/* Parent: one byte "0" means serving; anything else is the
		 * reason the daemon could not start. EOF means it died. */
		close(fds[1]);
		while ((n = read(fds[0], msg + got,
		    sizeof(msg) - 1 - (size_t)got)) > 0)
			got += n;
		msg[got] = '\0';
		if (got == 1 && msg[0] == '0')
			_exit(0);
		fprintf(stderr, "usher: %s\n", got > 0 ? msg :
		    "daemon exited during start-up");
		_exit(1);
	}
	close(fds[0]);
	ready_fd = fds[1];
	setsid();
	umask(022);
	return 0;
}

static void
null_stdio(void)
{
	int fd;

	if ((fd = open("/dev/null", O_RDWR)) == -1)
		return;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
}

void
daemon_ready(void)
{
	if (ready_fd == -1)
		return;
	null_stdio();
	(void)!write(ready_fd, "0", 1);
	close(ready_fd);
	ready_fd = -1;
}

void
daemon_fail(const char *msg)
{
	if (ready_fd == -1)
		return;
	(void)!write(ready_fd, msg, strlen(msg));
	close(ready_fd);
	ready_fd = -1;
}

int
daemon_pidfile(const char *path, char *err, size_t errlen)
{
	struct flock fl;
	char buf[32];
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) == -1) {
		snprintf(err, errlen, "pid file %s: %s", path, strerror(errno));
		return -1;
	}
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(fd, F_SETLK, &fl) == -1) {
		n = read(fd, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		snprintf(err, errlen, "another usher (pid %s) holds %s",
		    buf[0] ? buf : "?", path);
		close(fd);
		return -1;
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == -1 || write(fd, buf, (size_t)n) != n) {
		snprintf(err, errlen, "pid file %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	free(pid_path);
	pid_path = strdup(path);
	pid_fd = fd;
	return 0;
}

void
daemon_pidfile_remove(void)
{
	if (pid_fd == -1)
		return;
	if (pid_path != NULL)
		unlink(pid_path);
	close(pid_fd);
	pid_fd = -1;
	free(pid_path);
	pid_path = NULL;
}

int
daemon_privdrop(const char *user, const char *group, char *err,
    size_t errlen)
{
	struct passwd *pw = NULL;
	struct group *gr;
	gid_t gid;

	if (user == NULL && group == NULL)
		return 0;
	if (geteuid() != 0)
		return 0;	/* nothing to drop */
	if (user != NULL && (pw = getpwnam(user)) == NULL) {
		snprintf(err, errlen, "daemon.user \"%s\" does not exist",
		    user);
		return -1;
	}
	if (group != NULL) {
		if ((gr = getgrnam(group)) == NULL) {
			snprintf(err, errlen,
			    "daemon.group \"%s\" does not exist", group);
			return -1;
		}
		gid = gr->gr_gid;
	} else
		gid = pw->pw_gid;
	if (setgroups(1, &gid) == -1 || setgid(gid) == -1 ||
	    (pw != NULL && setuid(pw->pw_uid) == -1)) {
		snprintf(err, errlen, "dropping privileges: %s",
		    strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * sd_notify(3) written out: one datagram to $NOTIFY_SOCKET, a path or, with
 * a leading '@', a name in the abstract namespace. Thirty lines instead of
 * linking libsystemd, which usher would load for nothing else and which
 * non-systemd systems lack.
 */
int
daemon_notify(const char *fmt, ...)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun;
	char msg[1024];
	size_t n;
	va_list ap;
	int fd, k, rc;

	if (path == NULL || (path[0] != '/' && path[0] != '@'))
		return 0;
	if ((n = strlen(path)) >= sizeof(sun.sun_path))
		return -1;
	va_start(ap, fmt);
	k = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= sizeof(msg))
		return -1;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, n);
	if (sun.sun_path[0] == '@')
		sun.sun_path[0] = '\0';
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	rc = sendto(fd, msg, (size_t)k, MSG_NOSIGNAL, (struct sockaddr *)&sun,
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) == k ?
	    0 : -1;
	close(fd);
	return rc;
}

long long
daemon_watchdog_usec(void)
{
	const char *s = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	long long us;
	char *end;

	if (s == NULL || (pid != NULL && atol(pid) != (long)getpid()))
		return 0;
	us = strtoll(s, &end, 10);
	return *end == '\0' && us > 0 ? us : 0;
}
