/* usherctl.c: asks the running usher over its control socket (SPEC §10). */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_SOCKET	"/run/usher/usher.sock"
#define LINE_MAX_BYTES	4096	/* the daemon's CONTROL_LINE_MAX */
/* A reload of a million users takes a few seconds; status takes none. */
#define REPLY_TIMEOUT	120

enum { EXIT_DONE = 0, EXIT_FAILED = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3 };

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: usherctl [-s SOCKET] [-j] COMMAND\n"
	    "  status                     version, uptime, table version, "
	    "last reload\n"
	    "  reload                     reload and wait for the outcome\n"
	    "  explain REQUEST [-s SOURCE]  what the daemon does with "
	    "REQUEST ('METHOD URI')\n"
	    "  members [GROUP]            PBX group members and their state\n"
	    "  drain GROUP TARGET         send a member no new requests\n"
	    "                             (TARGET as written, or its index)\n"
	    "  undrain GROUP TARGET       undo drain\n"
	    "  -s SOCKET  control socket (default: " DEFAULT_SOCKET ")\n"
	    "  -j         JSON output\n"
	    "exit: 0 done, 1 the command failed, 2 usage, 3 cannot reach "
	    "the daemon\n");
}

/* Append s to buf (a request line), a space before it unless first. */
static int
add(char *buf, size_t len, const char *s)
{
	size_t n = strlen(buf);

	if (strchr(s, '\n') != NULL || strchr(s, '\r') != NULL)
		return -1;
	if (n + 1 + strlen(s) + 2 > len)
		return -1;
	if (n > 0)
		buf[n++] = ' ';
	strcpy(buf + n, s);
	return 0;
}

/* The request line for argv, or -1 on a usage error. */
static int
build(int argc, char **argv, bool json, char *line, size_t len)
{
	const char *cmd, *source = NULL;
	char req[LINE_MAX_BYTES] = "";
	int i;

	line[0] = '\0';
	if (argc < 1)
		return -1;
	cmd = argv[0];
	if (json && add(line, len, "json") == -1)
		return -1;
	if (strcmp(cmd, "status") == 0 || strcmp(cmd, "reload") == 0) {
		if (argc != 1)
			return -1;
		return add(line, len, cmd);
	}
	if (strcmp(cmd, "members") == 0) {
		if (argc > 2 || add(line, len, cmd) == -1 ||
		    (argc == 2 && add(line, len, argv[1]) == -1))
			return -1;
		return 0;
	}
	if (strcmp(cmd, "drain") == 0 || strcmp(cmd, "undrain") == 0) {
		if (argc != 3 || add(line, len, cmd) == -1 ||
		    add(line, len, argv[1]) == -1 ||
		    add(line, len, argv[2]) == -1)
			return -1;
		return 0;
	}
	if (strcmp(cmd, "explain") == 0) {
		/* REQUEST as one argument or as words; -s SOURCE anywhere. */
		for (i = 1; i < argc; i++) {
			if (strcmp(argv[i], "-s") == 0) {
				if (++i >= argc || source != NULL)
					return -1;
				source = argv[i];
			} else if (add(req, sizeof(req), argv[i]) == -1)
				return -1;
		}
		if (req[0] == '\0' || strcmp(req, "-") == 0 ||
		    (source != NULL && strchr(source, ' ') != NULL))
			return -1;
		if (add(line, len, "explain") == -1 ||
		    (source != NULL && (add(line, len, "-s") == -1 ||
		    add(line, len, source) == -1)) ||
		    add(line, len, req) == -1)
			return -1;
		return 0;
	}
	return -1;
}

int
main(int argc, char *argv[])
{
	struct sockaddr_un sun;
	struct timeval tv = { REPLY_TIMEOUT, 0 };
	const char *path = DEFAULT_SOCKET;
	/* static: the answer buffer is larger than a frame should be */
	static char buf[65536];
	char line[LINE_MAX_BYTES], *body;
	size_t got = 0, cap = 0;
	char *reply = NULL, *p;
	bool json = false;
	ssize_t n;
	int ch, fd, rc;

	/* "+": options stop at the command, whose own -s is explain's. */
	while ((ch = getopt(argc, argv, "+s:jh")) != -1) {
		switch (ch) {
		case 's':
			path = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return EXIT_DONE;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (build(argc - optind, argv + optind, json, line,
	    sizeof(line) - 1) == -1) {
		usage(stderr);
		return EXIT_USAGE;
	}
	strcat(line, "\n");

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "usherctl: %s: path too long\n", path);
		return EXIT_USAGE;
	}
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		fprintf(stderr, "usherctl: cannot reach usher at %s: %s\n",
		    path, strerror(errno));
		return EXIT_UNREACHABLE;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	/* A daemon that is busy answers and closes before reading: read
	 * what it said rather than die of SIGPIPE. */
	(void)!send(fd, line, strlen(line), MSG_NOSIGNAL);
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (got + (size_t)n + 1 > cap) {
			cap = (got + (size_t)n + 1) * 2;
			if ((p = realloc(reply, cap)) == NULL) {
				fprintf(stderr, "usherctl: out of memory\n");
				free(reply);
				close(fd);
				return EXIT_FAILED;
			}
			reply = p;
		}
		memcpy(reply + got, buf, (size_t)n);
		got += (size_t)n;
	}
	close(fd);
	if (n == -1 || reply == NULL) {
		fprintf(stderr, "usherctl: %s: %s\n", path, n == -1 ?
		    strerror(errno) : "no answer");
		free(reply);
		return EXIT_UNREACHABLE;
	}
	reply[got] = '\0';
	if (strncmp(reply, "ok\n", 3) == 0) {
		rc = EXIT_DONE;
		body = reply + 3;
	} else if (strncmp(reply, "error\n", 6) == 0) {
		rc = EXIT_FAILED;
		body = reply + 6;
	} else {
		fprintf(stderr, "usherctl: %s: not an usher answer\n", path);
		free(reply);
		return EXIT_UNREACHABLE;
	}
	/* Failures go to stderr, except JSON, which scripts read on stdout. */
	fputs(body, rc == EXIT_DONE || json ? stdout : stderr);
	free(reply);
	return rc;
}
