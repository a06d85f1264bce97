/* control.h: the control socket that usherctl talks to (SPEC §10), served
 * by a thread of its own with its own event loop, so that no command can
 * delay a SIP worker. */
#ifndef USHER_CONTROL_H
#define USHER_CONTROL_H

#include <stdbool.h>
#include <stdio.h>

#include "config.h"

#define CONTROL_LINE_MAX	4096	/* bytes of one request, newline included */
#define CONTROL_TIMEOUT		5	/* seconds a client has to send its line */
#define CONTROL_CLIENTS		16	/* at once; more are told "busy" */

/*
 * The commands the daemon itself must answer (main owns what they read).
 * Each writes its answer to out (text, or one JSON object when json) and
 * returns 0 when done, -1 when the command failed (out then holds why).
 * They run in the control thread.
 */
struct control_ops {
	int	(*status)(void *arg, bool json, FILE *out);
	int	(*reload)(void *arg, bool json, FILE *out);
	void	*arg;
};

/*
 * The protocol: the client sends one line, "[json ]COMMAND[ ARGS]\n"; the
 * daemon answers "ok\n" or "error\n", then the text or JSON, and closes.
 * COMMAND: status, reload, explain [-s SOURCE] REQUEST, members,
 * drain GROUP TARGET, undrain GROUP TARGET.
 */

/*
 * Create the socket at path (mode 0660; owned by user/group when given and
 * running as root; a stale socket nobody answers on is replaced) and start
 * the thread. Returns 0, or -1 with the reason in err. ops is copied.
 */
int	control_start(const char *path, const char *user, const char *group,
	    const struct control_ops *ops, char *err, size_t errlen);

/* Stop the thread, close and remove the socket. Safe when not started. */
void	control_stop(void);

/* Answer one request line (without its newline) as the socket would:
 * "ok\n"/"error\n" and the body into out. For tests and the thread. */
int	control_handle(const char *line, FILE *out);

/*
 * The table version: sha256 over conf's entries in load order, each as
 * "user domain state target retry_after prefix\n", as 64 hex digits into
 * out. Takes about 0.3 s for a million entries: not on an event loop.
 */
void	control_table_version(const struct conf *conf, char out[65]);

/* s as a JSON string, quotes included. */
void	control_json_str(FILE *out, const char *s);

#endif
