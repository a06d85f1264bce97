/* test_torture.c: curl's "torture" for loading (STYLE.md §8): config_load
 * and the user table (inline users via table_add, users_file via
 * table_load_file) with the Nth allocation failed, for every N from 1
 * until the load succeeds: each must fail cleanly (-1 and a message), not
 * crash and not leak. The allocators are interposed in this executable,
 * so the C library's allocations on our behalf (strdup, getline, fopen)
 * fail too, not only usher's own; under ASan the interposer hands on to
 * ASan's allocator and LeakSanitizer checks as well.
 *
 * libconfig's own allocations are counted apart and not failed here:
 * libconfig 1.5 (Debian 12) uses calloc's result unchecked (config_init
 * dereferences it at once) and its flex scanner exit()s when out of memory,
 * so no caller can make those clean. TORTURE_LIBCONFIG=1 fails each of them
 * in a child process and counts what happens, for the record. */
#include <sys/types.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <sys/wait.h>

#include <libconfig.h>

#include "config.h"
#include "table.h"

/* ---- the interposed allocator: a countdown that fails one call ---- */

/* Called while ASan itself starts up, before its shadow memory exists:
 * not instrumented. */
#define NOSAN	__attribute__((no_sanitize("address", "undefined")))

static void	*(*real_malloc)(size_t);
static void	*(*real_calloc)(size_t, size_t);
static void	*(*real_realloc)(void *, size_t);
static void	 (*real_free)(void *);

static bool	armed;
static bool	in_libconfig;	/* fail libconfig's allocations, not ours */
static unsigned	fail_at;	/* the call that fails, 1-based */
static unsigned	calls;		/* allocations of that kind since armed */
static unsigned	others;		/* and of the other kind */
static long	live;		/* allocations not yet freed, while armed */

/*
 * ASan intercepts getline, strndup and others in the C library and
 * allocates for them past malloc(): the count would be off, and
 * LeakSanitizer checks instead (at exit).
 */
#if defined(__SANITIZE_ADDRESS__)
#define COUNT_LIVE	0
#else
#define COUNT_LIVE	1
#endif
static void	*libconfig_base;
static const void *failed_caller;	/* who got the NULL */

/* dlsym() may allocate before real_calloc is known: from here, never
 * freed (free() below recognises these). */
static char	boot[4096];
static size_t	boot_used;

NOSAN static void *
boot_alloc(size_t n)
{
	void *p;

	n = (n + 15) & ~(size_t)15;
	if (boot_used + n > sizeof(boot))
		return NULL;
	p = boot + boot_used;
	boot_used += n;
	return p;
}

NOSAN static bool
is_boot(const void *p)
{
	return (const char *)p >= boot && (const char *)p < boot + sizeof(boot);
}

NOSAN static void
resolve(void)
{
	static bool busy;

	if (real_free != NULL || busy)
		return;
	busy = true;
	real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
	real_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
	real_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT,
	    "realloc");
	real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
	busy = false;
}

NOSAN static bool
from_libconfig(const void *caller)
{
	static bool busy;
	Dl_info info;
	bool r;

	if (busy || libconfig_base == NULL)
		return false;
	busy = true;
	r = dladdr(caller, &info) != 0 && info.dli_fbase == libconfig_base;
	busy = false;
	return r;
}

/* TORTURE_TRACE=1: each counted allocation's caller, on stderr. */
static bool	trace;

NOSAN static void
trace_caller(const void *caller)
{
	static bool busy;
	char line[256];
	Dl_info info;
	int n;

	if (busy)
		return;
	busy = true;
	if (caller == NULL || dladdr(caller, &info) == 0)
		info.dli_sname = info.dli_fname = NULL;
	n = snprintf(line, sizeof(line), "alloc %u: %s (%s)\n", calls + 1,
	    info.dli_sname ? info.dli_sname : "strdup/strndup",
	    info.dli_fname ? info.dli_fname : "");
	if (n > 0)
		(void)!write(2, line, (size_t)n);
	busy = false;
}

/* true when this allocation (called from caller) is the one to fail. */
NOSAN static bool
fails(const void *caller)
{
	if (!armed)
		return false;
	if (from_libconfig(caller) != in_libconfig) {
		others++;
		return false;
	}
	if (trace)
		trace_caller(caller);
	if (++calls == fail_at) {
		failed_caller = caller;
		errno = ENOMEM;
		return true;
	}
	return false;
}

NOSAN void *
malloc(size_t n)
{
	void *p;

	resolve();
	if (real_malloc == NULL)
		return boot_alloc(n);
	if (fails(__builtin_return_address(0)))
		return NULL;
	if ((p = real_malloc(n)) != NULL && armed)
		live++;
	return p;
}

NOSAN void *
calloc(size_t k, size_t n)
{
	void *p;

	resolve();
	if (real_calloc == NULL)
		return boot_alloc(k * n);	/* static: zeroed */
	if (fails(__builtin_return_address(0)))
		return NULL;
	if ((p = real_calloc(k, n)) != NULL && armed)
		live++;
	return p;
}

NOSAN void *
realloc(void *old, size_t n)
{
	void *p;

	resolve();
	if (fails(__builtin_return_address(0)))
		return NULL;
	p = real_realloc(old, n);
	if (p != NULL && old == NULL && armed)
		live++;
	return p;
}

NOSAN void
free(void *p)
{
	if (p == NULL || is_boot(p))
		return;
	resolve();
	if (armed)
		live--;
	real_free(p);
}

/* Under ASan its own strdup would allocate past malloc(): ours goes
 * through it, so the countdown sees it in either build. A strdup() is the
 * C library's allocation whoever calls it, libconfig included (it keeps a
 * failed one as a NULL string, which config.c must catch). */
NOSAN static void *
alloc_for(size_t n, const void *caller)
{
	void *p;

	resolve();
	if (fails(caller))
		return NULL;
	if ((p = real_malloc(n)) != NULL && armed)
		live++;
	return p;
}

NOSAN char *
strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = alloc_for(n, NULL);

	if (p != NULL)
		memcpy(p, s, n);
	return p;
}

/* libconfig 1.5 was built against a glibc whose <string.h> turned
 * strdup() into __strdup(). */
NOSAN char *
__strdup(const char *s)
{
	return strdup(s);
}

NOSAN char *
strndup(const char *s, size_t max)
{
	size_t n = strnlen(s, max);
	char *p = alloc_for(n + 1, NULL);

	if (p != NULL) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

/* ---- the loads ---- */

static char	dir[64], conf_path[128], users_path[128], id_path[128];

static void
write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_true(fputs(text, fp) >= 0);
	assert_int_equal(fclose(fp), 0);
}

static int
setup(void **state)
{
	Dl_info info;

	(void)state;
	if (dladdr((void *)config_init, &info) == 0)
		return -1;
	libconfig_base = info.dli_fbase;
	trace = getenv("TORTURE_TRACE") != NULL;
	snprintf(dir, sizeof(dir), "/tmp/usher-test-torture-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(conf_path, sizeof(conf_path), "%s/usher.conf", dir);
	snprintf(users_path, sizeof(users_path), "%s/users.txt", dir);
	/* A machine id to read: the fopen() that may fail too. */
	snprintf(id_path, sizeof(id_path), "%s/machine-id", dir);
	write_file(id_path, "0123456789abcdef0123456789abcdef\n");
	config_set_machine_id_path(id_path);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(conf_path);
	unlink(users_path);
	unlink(id_path);
	config_set_machine_id_path(NULL);
	rmdir(dir);
	return 0;
}

static void
say_caller(const char *what, unsigned n)
{
	Dl_info info;

	if (dladdr(failed_caller, &info) != 0)
		print_message("%s: allocation %u failed in %s+%#lx (%s), "
		    "and the load succeeded\n", what, n, info.dli_sname ?
		    info.dli_sname : "?", (unsigned long)((const char *)
		    failed_caller - (const char *)(info.dli_saddr ?
		    info.dli_saddr : info.dli_fbase)), info.dli_fname);
}

/*
 * Load conf_path with allocation N failed, for N = 1, 2, ... until it
 * succeeds without reaching N. Every failed load must say why and leave
 * nothing allocated. Returns how many N failed the load.
 */
static const struct conf *running;	/* set: a reload of it */

static int
load(struct conf **c, char *err, size_t errlen)
{
	char changed[256];

	if (running == NULL)
		return config_load(conf_path, c, err, errlen);
	return config_reload(conf_path, running, c, changed, sizeof(changed),
	    err, errlen);
}

static unsigned
torture(const char *what)
{
	struct conf *c;
	Dl_info info, self;
	char err[512];
	unsigned n, failed = 0, swallowed = 0;
	int rc;

	struct conf *want = NULL;

	assert_int_not_equal(dladdr((void *)config_load, &self), 0);
	/* What a load with no failure gives, for the ones that succeed. */
	if (load(&want, err, sizeof(err)) != 0)
		fail_msg("%s: %s", what, err);

	for (n = 1; n < 100000; n++) {
		c = NULL;
		err[0] = '\0';
		calls = others = 0;
		live = 0;
		fail_at = n;
		armed = true;
		rc = load(&c, err, sizeof(err));
		armed = false;
		/* Succeeding after a failure is fine only with the same
		 * result: not without the users file, not with a random
		 * branch key instead of the machine's. */
		if (rc == 0 && (table_count(c->table) !=
		    table_count(want->table) || c->branch_key_random ||
		    memcmp(c->branch_key, want->branch_key,
		    sizeof(c->branch_key)) != 0 || c->ndomains !=
		    want->ndomains || c->ntrusted != want->ntrusted))
			fail_msg("%s: allocation %u failed, and the load "
			    "succeeded with another result", what, n);
		if (rc == 0) {
			armed = true;	/* its frees balance its allocations */
			config_unref(c);
			armed = false;
		}
		if (COUNT_LIVE && live != 0)
			fail_msg("%s, allocation %u failed: %ld allocations "
			    "left (rc %d: %s)", what, n, live, rc, err);
		if (rc == 0 && calls < n)
			break;			/* nothing left to fail */
		if (rc == 0) {
			/* An allocation it may do without: which, with
			 * TORTURE_VERBOSE set. */
			swallowed++;
			if (getenv("TORTURE_VERBOSE") != NULL)
				say_caller(what, n);
			/* The C library may (stdio buffers); usher may not. */
			if (dladdr(failed_caller, &info) != 0 &&
			    info.dli_fbase == self.dli_fbase)
				fail_msg("%s: allocation %u failed in usher, and "
				    "the load succeeded anyway", what, n);
			continue;
		}
		assert_int_equal(rc, -1);
		assert_null(c);
		if (err[0] == '\0')
			fail_msg("%s, allocation %u failed: -1 without a "
			    "message", what, n);
		failed++;
	}
	assert_true(n < 100000);
	config_unref(want);
	print_message("%s: %u allocations (and %u of libconfig's), each "
	    "failed in turn: %u loads failed cleanly, %u succeeded without "
	    "it\n", what, n - 1, others, failed, swallowed);
	return n - 1;
}

/* For the record: each of libconfig's allocations failed, in a child. */
static void
libconfig_record(const char *what)
{
	struct conf *c;
	char err[512];
	unsigned n, clean = 0, died = 0, exited = 0, total = 0;
	int status, fd;
	pid_t pid;

	if (getenv("TORTURE_LIBCONFIG") == NULL)
		return;
	for (n = 1; n < 10000; n++) {
		fflush(NULL);
		if ((pid = fork()) == 0) {
			/* cmocka's handlers would carry on with the tests */
			signal(SIGSEGV, SIG_DFL);
			signal(SIGBUS, SIG_DFL);
			signal(SIGABRT, SIG_DFL);
			signal(SIGILL, SIG_DFL);
			signal(SIGFPE, SIG_DFL);
			/* quiet: ASan and libconfig report on stderr */
			if ((fd = open("/dev/null", O_WRONLY)) >= 0)
				dup2(fd, 2);
			c = NULL;
			in_libconfig = true;
			calls = others = 0;
			fail_at = n;
			armed = true;
			if (config_load(conf_path, &c, err, sizeof(err)) == 0) {
				armed = false;
				_exit(calls < n ? 3 : 0);
			}
			armed = false;
			_exit(err[0] != '\0' ? 1 : 2);
		}
		assert_true(pid > 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (WIFEXITED(status) && WEXITSTATUS(status) == 3)
			break;			/* none left to fail */
		total++;
		if (WIFEXITED(status) && WEXITSTATUS(status) <= 1)
			clean++;
		else if (WIFSIGNALED(status))
			died++;
		else
			exited++;	/* flex's "out of dynamic memory" */
	}
	print_message("%s: libconfig's %u allocations, each failed in a "
	    "child: %u clean, %u killed by a signal, %u exited\n", what,
	    total, clean, died, exited);
}

static void
test_config(void **state)
{
	(void)state;
	write_file(conf_path,
	    "listen = ( { transport = \"udp\"; address = \"127.0.0.1\"; "
	    "port = 5060; }, { transport = \"tcp\"; address = \"::1\"; } );\n"
	    "mode = \"proxy\";\n"
	    "record_route = true;\n"
	    "advertise = \"proxy.example.com\";\n"
	    "trusted = [ \"10.0.0.0/8\", \"2001:db8::/32\", \"192.0.2.1\" ];\n"
	    "log = { level = \"info\"; };\n"
	    "daemon = { pidfile = \"/tmp/x.pid\"; user = \"usher\"; "
	    "group = \"nogroup\"; };\n"
	    "security = { block_user_agents = [ \"Evil\", \"sipvicious\" ]; };\n"
	    "metrics = { address = \"127.0.0.1\"; port = 9100; };\n"
	    "dns = { servers = [ \"127.0.0.1:5353\", \"[::1]:53\" ]; };\n"
	    "domains = ( { name = \"example.com\"; authoritative = true; "
	    "aliases = [ \"sip.example.com\", \"192.0.2.10\" ]; },\n"
	    "  { name = \"partner.net\"; } );\n"
	    "users = ( { user = \"alice\"; domain = \"example.com\"; "
	    "target = \"sip:alice@10.0.0.5:5060\"; },\n"
	    "  { user = \"bob\"; domain = \"example.com\"; state = \"gone\"; },\n"
	    "  { prefix = \"+1555\"; domain = \"example.com\"; "
	    "target = \"sip:10.0.0.9\"; } );\n");
	(void)torture("config_load, inline users");
	libconfig_record("config_load, inline users");
}

static void
test_users_file(void **state)
{
	(void)state;
	write_file(conf_path,
	    "listen = ( { transport = \"udp\"; address = \"127.0.0.1\"; } );\n"
	    "domains = ( { name = \"example.com\"; }, "
	    "{ name = \"b.net\"; } );\n"
	    "users = ( { user = \"alice\"; domain = \"example.com\"; "
	    "target = \"sip:a@10.0.0.1\"; } );\n"
	    "users_file = \"users.txt\";\n");
	write_file(users_path, "# users\n"
	    "bob@EXAMPLE.COM gone\n"
	    "carol@b.net unavailable retry_after=60\n"
	    "dave@example.com moved sip:dave@partner.net\n"
	    "+1666*@example.com active sip:10.0.0.9\n"
	    "+1667*@example.com active sip:pbx.example.net\n"
	    "erin@b.net active sip:erin@[2001:db8::5]:5070;transport=tcp\n");
	(void)torture("config_load, users_file");
	libconfig_record("config_load, users_file");
}

/* Enough entries and target hosts that the table's hashes, host set and
 * prefix lists grow while loading (from 16 slots), inline and from the
 * file: each growth step failed in turn. */
static void
test_growth(void **state)
{
	char *conf, *users, *p, *q;
	int i;

	(void)state;
	conf = malloc(16384);
	users = malloc(8192);
	assert_non_null(conf);
	assert_non_null(users);
	p = conf + sprintf(conf, "listen = ( { transport = \"udp\"; "
	    "address = \"127.0.0.1\"; } );\n"
	    "domains = ( { name = \"example.com\"; }, "
	    "{ name = \"b.net\"; } );\nusers_file = \"users.txt\";\n"
	    "users = (\n");
	for (i = 0; i < 40; i++)
		p += sprintf(p, "%s{ user = \"u%d\"; domain = \"example.com\"; "
		    "target = \"sip:u%d@10.0.%d.%d:%d\"; }", i ? ",\n" : "", i,
		    i, i / 8, i % 8 + 1, 5060 + i % 3);
	for (i = 0; i < 20; i++)
		p += sprintf(p, ",\n{ prefix = \"+1%03d\"; domain = \"b.net\"; "
		    "target = \"sip:pbx%d.example.net\"; }", i, i);
	sprintf(p, "\n);\n");
	write_file(conf_path, conf);
	q = users;
	for (i = 0; i < 40; i++)
		q += sprintf(q, "f%d@b.net %s\n", i, i % 2 ? "gone" :
		    "unavailable retry_after=5");
	for (i = 0; i < 20; i++)
		q += sprintf(q, "+44%02d*@example.com active sip:10.1.0.%d\n",
		    i, i + 1);
	write_file(users_path, users);
	free(conf);
	free(users);
	(void)torture("config_load, tables that grow");
}

/* SIGHUP: a reload beside the running configuration (the branch key
 * kept, settings that need a restart listed). */
static void
test_reload(void **state)
{
	struct conf *run = NULL;
	char err[512];

	(void)state;
	write_file(conf_path,
	    "listen = ( { transport = \"udp\"; address = \"127.0.0.1\"; } );\n"
	    "branch_secret = \"s3cret\";\n"
	    "domains = ( { name = \"example.com\"; } );\n"
	    "users_file = \"users.txt\";\n");
	write_file(users_path, "bob@example.com gone\n");
	if (config_load(conf_path, &run, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	write_file(conf_path,
	    "listen = ( { transport = \"udp\"; address = \"127.0.0.1\"; "
	    "port = 5070; } );\n"
	    "branch_secret = \"s3cret\";\n"
	    "domains = ( { name = \"example.com\"; aliases = "
	    "[ \"sip.example.com\" ]; } );\n"
	    "users = ( { user = \"alice\"; domain = \"example.com\"; "
	    "target = \"sip:a@10.0.0.1\"; } );\n"
	    "users_file = \"users.txt\";\n");
	write_file(users_path, "bob@example.com gone\n"
	    "carol@example.com active sip:carol@pbx.example.net\n");
	running = run;
	(void)torture("config_reload");
	running = NULL;
	config_unref(run);
}

/* A file libconfig refuses: its error path under failures too. */
static void
test_bad_config(void **state)
{
	struct conf *c = NULL;
	char err[512];
	unsigned n;

	(void)state;
	write_file(conf_path, "listen = ( { transport = \"udp\"; "
	    "address = \"127.0.0.1\"; } );\ndomains = ( { name = ; } );\n");
	for (n = 1; n < 10000; n++) {
		calls = others = 0;
		live = 0;
		fail_at = n;
		armed = true;
		err[0] = '\0';
		assert_int_equal(config_load(conf_path, &c, err, sizeof(err)),
		    -1);
		armed = false;
		assert_null(c);
		assert_true(err[0] != '\0');
		if (COUNT_LIVE)
			assert_int_equal(live, 0);
		if (calls < n)
			break;
	}
	print_message("config_load, syntax error: %u allocations, each "
	    "failed in turn\n", n - 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_users_file),
		cmocka_unit_test(test_growth),
		cmocka_unit_test(test_reload),
		cmocka_unit_test(test_bad_config),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
