/* control.c: the control socket usherctl talks to, in a thread of its own. */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include <openssl/evp.h>

#include "control.h"
#include "explain.h"
#include "group.h"
#include "health.h"
#include "log.h"
#include "proxy.h"
#include "table.h"

static struct control_ops	 ops;
static struct event_base	*base;
static struct evconnlistener	*lev;
static pthread_t		 thread;
static bool			 running;
static char			*sock_path;
/* Control thread only; what is left is freed by control_stop(). */
static struct bufferevent	*clients[CONTROL_CLIENTS];
static int			 nclients;

void
control_json_str(FILE *out, const char *s)
{
	unsigned char c;

	fputc('"', out);
	for (; s != NULL && *s != '\0'; s++) {
		c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

void
control_table_version(const struct conf *conf, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	const struct table_entry *e;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	EVP_MD_CTX *ctx;
	char line[1024];
	size_t k;
	int n;

	out[0] = '\0';
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		goto out;
	for (k = 0; (e = table_entry_at(conf->table, k)) != NULL; k++) {
		n = snprintf(line, sizeof(line), "%s %s %s %s %u %u\n",
		    e->user, e->domain < conf->ndomains ?
		    conf->domains[e->domain].name : "?",
		    table_state_name(e->state), e->target ? e->target : "-",
		    e->retry_after, e->is_prefix);
		if (n < 0)
			goto out;
		if ((size_t)n >= sizeof(line))
			n = sizeof(line) - 1;
		if (EVP_DigestUpdate(ctx, line, (size_t)n) != 1)
			goto out;
	}
	if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1)
		goto out;
	for (i = 0; i < mdlen && i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[2 * i] = '\0';
out:
	EVP_MD_CTX_free(ctx);
}

static int
reply_error(FILE *out, bool json, const char *msg)
{
	fputs("error\n", out);
	if (json) {
		fputs("{\"error\":", out);
		control_json_str(out, msg);
		fputs("}\n", out);
	} else
		fprintf(out, "%s\n", msg);
	return -1;
}

/* Next space-separated word of *p, NUL-terminated in place; NULL: none. */
static char *
word(char **p)
{
	char *w;

	*p += strspn(*p, " \t");
	if (**p == '\0')
		return NULL;
	w = *p;
	*p += strcspn(*p, " \t");
	if (**p != '\0')
		*(*p)++ = '\0';
	return w;
}

static int
run_explain(char *args, bool json, FILE *out)
{
	struct conf *conf;
	char *source = NULL, *ebuf = NULL, *obuf = NULL;
	size_t elen = 0, olen = 0;
	FILE *ef = NULL, *of = NULL;
	int rc = -1;

	args += strspn(args, " \t");
	if (strncmp(args, "-s ", 3) == 0) {
		args += 3;
		source = word(&args);
		args += strspn(args, " \t");
	}
	if (*args == '\0' || strcmp(args, "-") == 0)
		return reply_error(out, json, "usage: explain [-s SOURCE] "
		    "'METHOD URI'");
	if ((conf = proxy_current()) == NULL)
		return reply_error(out, json, "no configuration loaded yet");
	if ((ef = open_memstream(&ebuf, &elen)) == NULL ||
	    (of = open_memstream(&obuf, &olen)) == NULL) {
		rc = reply_error(out, json, "out of memory");
		goto done;
	}
	/* The same code and formatter as usher -T, on the running table. */
	rc = explain_run(conf, args, source, json, NULL, of, ef);
	fclose(of);
	fclose(ef);
	of = ef = NULL;
	if (rc == 0) {
		fputs("ok\n", out);
		fwrite(obuf, 1, olen, out);
	} else {
		elen = strcspn(ebuf ? ebuf : "", "\n");
		if (ebuf != NULL)
			ebuf[elen] = '\0';
		rc = reply_error(out, json, ebuf && *ebuf ? ebuf :
		    "cannot explain that request");
	}
done:
	if (of != NULL)
		fclose(of);
	if (ef != NULL)
		fclose(ef);
	free(obuf);
	free(ebuf);
	config_unref(conf);
	return rc;
}

static int
run_with(int (*fn)(void *, bool, FILE *), bool json, FILE *out)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int rc;

	if (fn == NULL)
		return reply_error(out, json, "not available");
	if ((f = open_memstream(&buf, &len)) == NULL)
		return reply_error(out, json, "out of memory");
	rc = fn(ops.arg, json, f);
	fclose(f);
	fputs(rc == 0 ? "ok\n" : "error\n", out);
	fwrite(buf, 1, len, out);
	free(buf);
	return rc;
}

/* One member as `usherctl members` shows it. */
static void
member_line(const struct conf_group *g, size_t i, bool json, bool first,
    FILE *out)
{
	const struct group_member *m = &g->members[i];
	const struct member_health *h = m->health;
	bool up = true, drained = false;
	unsigned long long requests = 0, rtt = 0;

	if (h != NULL) {
		up = atomic_load(&h->up);
		drained = atomic_load(&h->drained);
		requests = atomic_load(&h->requests);
		rtt = atomic_load(&h->rtt_us);
	}
	if (!json) {
		fprintf(out, "%s %zu %s %s%s priority=%u weight=%u "
		    "requests=%llu rtt_ms=%.3f\n", g->name, i, m->target,
		    up ? "up" : "down", drained ? " drained" : "", m->priority,
		    m->weight, requests, (double)rtt / 1000.0);
		return;
	}
	fputs(first ? "{\"group\":" : ",{\"group\":", out);
	control_json_str(out, g->name);
	fprintf(out, ",\"index\":%zu,\"target\":", i);
	control_json_str(out, m->target);
	fprintf(out, ",\"up\":%s,\"drained\":%s,\"priority\":%u,"
	    "\"weight\":%u,\"requests\":%llu,\"rtt_ms\":%.3f}",
	    up ? "true" : "false", drained ? "true" : "false", m->priority,
	    m->weight, requests, (double)rtt / 1000.0);
}

/* SPEC §8: every member of every group (or of one) and its state. */
static int
run_members(const char *group, bool json, FILE *out)
{
	struct conf *conf = proxy_current();
	const struct conf_group *g;
	char msg[160];
	bool first = true;
	size_t i, j;
	int gi = -1;

	if (conf == NULL || conf->ngroups == 0) {
		config_unref(conf);
		if (group != NULL) {
			snprintf(msg, sizeof(msg), "no group %.100s", group);
			return reply_error(out, json, msg);
		}
		fputs("ok\n", out);
		fputs(json ? "{\"members\":[]}\n" : "no groups configured\n",
		    out);
		return 0;
	}
	if (group != NULL && (gi = config_group_find(conf, group,
	    strlen(group))) < 0) {
		config_unref(conf);
		snprintf(msg, sizeof(msg), "no group %.100s", group);
		return reply_error(out, json, msg);
	}
	fputs(json ? "ok\n{\"members\":[" : "ok\n", out);
	for (i = 0; i < conf->ngroups; i++) {
		if (gi >= 0 && (size_t)gi != i)
			continue;
		g = &conf->groups[i];
		for (j = 0; j < g->nmembers; j++) {
			member_line(g, j, json, first, out);
			first = false;
		}
	}
	if (json)
		fputs("]}\n", out);
	config_unref(conf);
	return 0;
}

/*
 * drain/undrain GROUP MEMBER: MEMBER is the target as written (case aside)
 * or its index. The flag lives in the member's health state, which a
 * reload keeps for an unchanged member, so it outlasts reloads.
 */
static int
run_drain(const char *group, const char *member, bool drain, bool json,
    FILE *out)
{
	struct conf *conf = proxy_current();
	const struct conf_group *g;
	struct member_health *h;
	char msg[400], *end;
	unsigned long idx;
	size_t i = 0;
	int gi;

	if (conf == NULL || (gi = config_group_find(conf, group,
	    strlen(group))) < 0) {
		config_unref(conf);
		snprintf(msg, sizeof(msg), "no group %.100s", group);
		return reply_error(out, json, msg);
	}
	g = &conf->groups[gi];
	idx = strtoul(member, &end, 10);
	if (member[0] >= '0' && member[0] <= '9' && *end == '\0')
		i = idx < g->nmembers ? (size_t)idx : g->nmembers;
	else
		for (i = 0; i < g->nmembers; i++)
			if (strcasecmp(g->members[i].target, member) == 0)
				break;
	if (i >= g->nmembers) {
		snprintf(msg, sizeof(msg), "no member %.200s in group %s",
		    member, g->name);
		config_unref(conf);
		return reply_error(out, json, msg);
	}
	if ((h = g->members[i].health) == NULL) {
		snprintf(msg, sizeof(msg), "member %s of group %s has no "
		    "health state", g->members[i].target, g->name);
		config_unref(conf);
		return reply_error(out, json, msg);
	}
	atomic_store(&h->drained, drain);
	log_info("member %s of group %s %s by usherctl",
	    g->members[i].target, g->name, drain ? "drained" : "undrained");
	fputs("ok\n", out);
	if (json) {
		fputs("{\"group\":", out);
		control_json_str(out, g->name);
		fputs(",\"target\":", out);
		control_json_str(out, g->members[i].target);
		fprintf(out, ",\"drained\":%s}\n", drain ? "true" : "false");
	} else
		fprintf(out, "%s %s %s\n", g->name, g->members[i].target,
		    drain ? "drained" : "undrained");
	config_unref(conf);
	return 0;
}

int
control_handle(const char *request, FILE *out)
{
	char line[CONTROL_LINE_MAX], msg[256], *p = line, *cmd, *g, *t;
	bool json = false;

	snprintf(line, sizeof(line), "%s", request);
	line[strcspn(line, "\r\n")] = '\0';
	if ((cmd = word(&p)) != NULL && strcmp(cmd, "json") == 0) {
		json = true;
		cmd = word(&p);
	}
	if (cmd == NULL)
		return reply_error(out, json, "empty request");
	if (strcmp(cmd, "status") == 0)
		return run_with(ops.status, json, out);
	if (strcmp(cmd, "reload") == 0)
		return run_with(ops.reload, json, out);
	if (strcmp(cmd, "explain") == 0)
		return run_explain(p, json, out);
	if (strcmp(cmd, "members") == 0) {
		g = word(&p);
		if (word(&p) != NULL)
			return reply_error(out, json, "usage: members [GROUP]");
		return run_members(g, json, out);
	}
	if (strcmp(cmd, "drain") == 0 || strcmp(cmd, "undrain") == 0) {
		if ((g = word(&p)) == NULL || (t = word(&p)) == NULL ||
		    word(&p) != NULL) {
			snprintf(msg, sizeof(msg), "usage: %s GROUP TARGET",
			    cmd);
			return reply_error(out, json, msg);
		}
		return run_drain(g, t, strcmp(cmd, "drain") == 0, json, out);
	}
	snprintf(msg, sizeof(msg), "unknown command \"%.64s\"", cmd);
	return reply_error(out, json, msg);
}

static void
client_free(struct bufferevent *bev)
{
	int i;

	for (i = 0; i < CONTROL_CLIENTS; i++)
		if (clients[i] == bev)
			clients[i] = NULL;
	bufferevent_free(bev);
	nclients--;
}

static void	on_event(struct bufferevent *, short, void *);

static void
on_discard(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);

	(void)arg;
	evbuffer_drain(in, evbuffer_get_length(in));
}

/*
 * Answered: end our side, then read and discard until the client closes
 * (or the timeout): closing with unread bytes (an oversized request) would
 * reset the connection before the client has read why.
 */
static void
on_written(struct bufferevent *bev, void *arg)
{
	(void)arg;
	if (evbuffer_get_length(bufferevent_get_output(bev)) != 0)
		return;
	shutdown(bufferevent_getfd(bev), SHUT_WR);
	evbuffer_drain(bufferevent_get_input(bev),
	    evbuffer_get_length(bufferevent_get_input(bev)));
	bufferevent_setwatermark(bev, EV_READ, 0, 0);
	bufferevent_setcb(bev, on_discard, NULL, on_event, NULL);
	bufferevent_enable(bev, EV_READ);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)what;
	(void)arg;
	/* EOF, error, or the timeout of a client that says nothing. */
	client_free(bev);
}

static void
answer(struct bufferevent *bev, const char *text, size_t len)
{
	bufferevent_disable(bev, EV_READ);
	bufferevent_setcb(bev, NULL, on_written, on_event, NULL);
	bufferevent_write(bev, text, len);
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	static const char toolong[] = "error\nrequest longer than 4096 "
	    "bytes\n";
	char *line, *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)arg;
	if ((line = evbuffer_readln(in, NULL, EVBUFFER_EOL_LF)) == NULL) {
		if (evbuffer_get_length(in) >= CONTROL_LINE_MAX)
			answer(bev, toolong, sizeof(toolong) - 1);
		return;
	}
	if (strlen(line) >= CONTROL_LINE_MAX) {
		free(line);
		answer(bev, toolong, sizeof(toolong) - 1);
		return;
	}
	if ((f = open_memstream(&buf, &len)) == NULL) {
		free(line);
		client_free(bev);
		return;
	}
	log_debug("control: %s", line);
	control_handle(line, f);
	fclose(f);
	free(line);
	answer(bev, buf, len);
	free(buf);
}

/*
 * Closing a unix socket with unread bytes resets the connection, and the
 * client may lose the answer: take what it has sent so far first.
 */
static void
busy_close(evutil_socket_t fd)
{
	char buf[CONTROL_LINE_MAX];

	shutdown(fd, SHUT_WR);
	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
	evutil_closesocket(fd);
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	static const char busy[] = "error\nbusy: too many control clients\n";
	struct timeval tv = { CONTROL_TIMEOUT, 0 };
	struct bufferevent *bev;
	int i;

	(void)l;
	(void)sa;
	(void)salen;
	(void)arg;
	if (nclients >= CONTROL_CLIENTS) {
		(void)!write(fd, busy, sizeof(busy) - 1);
		busy_close(fd);
		return;
	}
	if ((bev = bufferevent_socket_new(base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		evutil_closesocket(fd);
		return;
	}
	for (i = 0; clients[i] != NULL; i++)
		;
	clients[i] = bev;
	nclients++;
	bufferevent_setwatermark(bev, EV_READ, 0, CONTROL_LINE_MAX);
	bufferevent_setcb(bev, on_read, NULL, on_event, NULL);
	bufferevent_set_timeouts(bev, &tv, &tv);
	bufferevent_enable(bev, EV_READ);
}

static void *
control_main(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "usher-control");
	event_base_dispatch(base);
	return NULL;
}

static int
make_socket(const char *path, const char *user, const char *group,
    char *err, size_t errlen)
{
	struct sockaddr_un sun;
	struct passwd *pw;
	struct group *gr;
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	mode_t old;
	int fd, probe;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	/* A socket file left by a daemon that died: replace it, unless a
	 * live usher answers there. */
	if ((probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) != -1) {
		if (connect(probe, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
			close(probe);
			snprintf(err, errlen, "control socket %s: another "
			    "process answers on it", path);
			return -1;
		}
		if (errno == ECONNREFUSED)
			unlink(path);
		close(probe);
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) == -1) {
		snprintf(err, errlen, "control socket: %s", strerror(errno));
		return -1;
	}
	old = umask(0117);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(old);
		snprintf(err, errlen, "control socket %s: %s", path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	umask(old);
	if (geteuid() == 0 && (user != NULL || group != NULL)) {
		if (user != NULL && (pw = getpwnam(user)) != NULL) {
			uid = pw->pw_uid;
			gid = pw->pw_gid;
		}
		if (group != NULL && (gr = getgrnam(group)) != NULL)
			gid = gr->gr_gid;
		if (chown(path, uid, gid) == -1)
			log_warn("control socket %s: chown", path);
	}
	if (chmod(path, 0660) == -1 || listen(fd, CONTROL_CLIENTS) == -1) {
		snprintf(err, errlen, "control socket %s: %s", path,
		    strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	return fd;
}

int
control_start(const char *path, const char *user, const char *group,
    const struct control_ops *o, char *err, size_t errlen)
{
	int fd;

	ops = *o;
	if ((fd = make_socket(path, user, group, err, errlen)) == -1)
		return -1;
	/* control_stop() breaks the loop from the main thread: the base must
	 * be notifiable, whatever the order of start-up. */
	evthread_use_pthreads();
	if ((sock_path = strdup(path)) == NULL ||
	    (base = event_base_new()) == NULL ||
	    (lev = evconnlistener_new(base, on_accept, NULL,
	    LEV_OPT_CLOSE_ON_FREE, -1, fd)) == NULL) {
		snprintf(err, errlen, "control socket %s: cannot start", path);
		close(fd);
		goto bad;
	}
	if (pthread_create(&thread, NULL, control_main, NULL) != 0) {
		snprintf(err, errlen, "control: cannot start a thread");
		goto bad;
	}
	running = true;
	return 0;
bad:
	control_stop();
	return -1;
}

void
control_stop(void)
{
	int i;

	if (running) {
		event_base_loopbreak(base);
		pthread_join(thread, NULL);
		running = false;
	}
	for (i = 0; i < CONTROL_CLIENTS; i++)
		if (clients[i] != NULL)
			client_free(clients[i]);
	if (lev != NULL)
		evconnlistener_free(lev);
	lev = NULL;
	if (base != NULL)
		event_base_free(base);
	base = NULL;
	if (sock_path != NULL)
		unlink(sock_path);
	free(sock_path);
	sock_path = NULL;
}
