/* tls.c: OpenSSL contexts for SIP over TLS, built from conf->tls, and
 * their reload. */
#include <sys/socket.h>

#include <arpa/inet.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "config.h"
#include "log.h"
#include "tls.h"

/* TLS 1.2 suites: forward secrecy and AEAD only (TLS 1.3 has its own,
 * all fine). Mozilla's "intermediate" list, RSA and ECDSA. */
#define TLS12_CIPHERS	"ECDHE-ECDSA-AES128-GCM-SHA256:" \
	"ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:" \
	"ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:" \
	"ECDHE-RSA-CHACHA20-POLY1305"
#define TICKET_KEYS_LEN	80	/* name 16, HMAC 32, AES 32 */

/* Our certificate (leaf and chain) and key as loaded. */
struct pair {
	X509		*leaf;
	STACK_OF(X509)	*chain;
	EVP_PKEY	*key;
	time_t		 expiry;	/* notAfter */
};

/*
 * The contexts in use. Workers take a context (a reference, under mu) for
 * each new connection; a reload builds new ones beside them and swaps
 * them in under mu. An SSL holds its context, so open connections keep
 * theirs until they close.
 */
static pthread_mutex_t	 mu = PTHREAD_MUTEX_INITIALIZER;
static SSL_CTX		*srv_ctx, *cli_ctx;
static struct pair	 cur;			/* reload thread only */
static time_t		 cur_expiry;		/* under mu */
static unsigned		 hs_timeout = 5;	/* under mu */
/* Session ticket keys: made once, kept by every context built, so a
 * ticket issued before a reload still resumes after it. */
static unsigned char	 ticket_keys[TICKET_KEYS_LEN];
static bool		 have_ticket_keys;

/*
 * Outgoing sessions, so that a connection to a trunk made again after an
 * idle close resumes instead of paying a full handshake: one session per
 * next-hop name (the name its certificate was checked against), in a
 * fixed table, the newest kept. Emptied by a reload: a session skips the
 * certificate check, so one made under the old ca_file or verify_server
 * must not outlive them.
 */
#define SESS_SLOTS	256
#define SESS_KEY	256

struct sess_slot {
	char		 name[SESS_KEY];
	SSL_SESSION	*s;
};

/* What a client SSL carries (ex_data): its name, and the generation of
 * the table when it was made: a handshake that ends after a reload does
 * not store a session checked under the old settings. */
struct sess_tag {
	unsigned	 gen;
	char		 name[SESS_KEY];
};

static pthread_mutex_t	 sess_mu = PTHREAD_MUTEX_INITIALIZER;
static struct sess_slot	 sess[SESS_SLOTS];
static unsigned		 sess_gen;		/* sess_mu */
static int		 sess_idx = -1;		/* SSL ex_data: a sess_tag */

static unsigned
sess_slot_of(const char *name)
{
	unsigned h = 2166136261u;		/* FNV-1a */

	for (; *name != '\0'; name++)
		h = (h ^ (unsigned char)*name) * 16777619u;
	return h % SESS_SLOTS;
}

/* OpenSSL: a session (a TLS 1.3 ticket arrives after the handshake) for
 * a client SSL; 1: we keep the reference. */
static int
sess_new(SSL *ssl, SSL_SESSION *s)
{
	const struct sess_tag *tag = SSL_get_ex_data(ssl, sess_idx);
	SSL_SESSION *old = NULL;
	unsigned k;
	int kept = 0;

	if (tag == NULL)
		return 0;
	k = sess_slot_of(tag->name);
	pthread_mutex_lock(&sess_mu);
	if (tag->gen == sess_gen) {
		old = sess[k].s;
		memcpy(sess[k].name, tag->name, sizeof(sess[k].name));
		sess[k].s = s;
		kept = 1;
	}
	pthread_mutex_unlock(&sess_mu);
	SSL_SESSION_free(old);
	return kept;
}

static void
sess_flush(void)
{
	SSL_SESSION *old[SESS_SLOTS];
	size_t i;

	pthread_mutex_lock(&sess_mu);
	sess_gen++;
	for (i = 0; i < SESS_SLOTS; i++) {
		old[i] = sess[i].s;
		sess[i].s = NULL;
		sess[i].name[0] = '\0';
	}
	pthread_mutex_unlock(&sess_mu);
	for (i = 0; i < SESS_SLOTS; i++)
		SSL_SESSION_free(old[i]);
}

static void
sess_name_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
    long argl, void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	free(ptr);
}

const char *
tls_error(char *buf, size_t len)
{
	unsigned long e, last = 0;

	while ((e = ERR_get_error()) != 0)
		last = e;
	if (last == 0)
		snprintf(buf, len, "unknown");
	else if (ERR_reason_error_string(last) != NULL)
		snprintf(buf, len, "%s", ERR_reason_error_string(last));
	else
		ERR_error_string_n(last, buf, len);
	return buf;
}

static void
pair_free(struct pair *p)
{
	X509_free(p->leaf);
	sk_X509_pop_free(p->chain, X509_free);
	EVP_PKEY_free(p->key);
	memset(p, 0, sizeof(*p));
}

static time_t
asn1_time(const ASN1_TIME *t)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return timegm(&tm);
}

/* Load cert (leaf first, then the chain) and key into p; they must
 * match. 0, or -1 with why in err (p untouched). */
static int
pair_load(const char *cert, const char *keyfile, struct pair *p, char *err,
    size_t errlen)
{
	struct pair n = { 0 };
	BIO *b = NULL;
	X509 *x;
	char why[256];

	ERR_clear_error();
	if ((b = BIO_new_file(cert, "r")) == NULL) {
		snprintf(err, errlen, "tls.certificate %s: %s", cert,
		    strerror(errno));
		goto bad;
	}
	if ((n.leaf = PEM_read_bio_X509_AUX(b, NULL, NULL, NULL)) == NULL) {
		snprintf(err, errlen, "tls.certificate %s: no PEM certificate "
		    "(%s)", cert, tls_error(why, sizeof(why)));
		goto bad;
	}
	if ((n.chain = sk_X509_new_null()) == NULL)
		goto oom;
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
		if (!sk_X509_push(n.chain, x)) {
			X509_free(x);
			goto oom;
		}
	/* The end of the file reads as "no start line": not an error. */
	if (ERR_GET_REASON(ERR_peek_last_error()) == PEM_R_NO_START_LINE)
		ERR_clear_error();
	else if (ERR_peek_error() != 0) {
		snprintf(err, errlen, "tls.certificate %s: bad chain "
		    "certificate (%s)", cert, tls_error(why, sizeof(why)));
		goto bad;
	}
	BIO_free(b);
	if ((b = BIO_new_file(keyfile, "r")) == NULL) {
		snprintf(err, errlen, "tls.private_key %s: %s", keyfile,
		    strerror(errno));
		goto bad;
	}
	if ((n.key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)) == NULL) {
		snprintf(err, errlen, "tls.private_key %s: no PEM private key "
		    "(%s)", keyfile, tls_error(why, sizeof(why)));
		goto bad;
	}
	if (X509_check_private_key(n.leaf, n.key) != 1) {
		ERR_clear_error();
		snprintf(err, errlen, "tls.private_key %s does not match the "
		    "certificate in %s", keyfile, cert);
		goto bad;
	}
	n.expiry = asn1_time(X509_get0_notAfter(n.leaf));
	BIO_free(b);
	*p = n;
	return 0;
oom:
	snprintf(err, errlen, "tls: out of memory");
bad:
	BIO_free(b);
	pair_free(&n);
	ERR_clear_error();
	return -1;
}

/* What server and client contexts share. */
static SSL_CTX *
ctx_common(const SSL_METHOD *method, const struct conf_tls *t,
    const struct pair *p, char *err, size_t errlen)
{
	SSL_CTX *ctx;
	char why[256];

	if ((ctx = SSL_CTX_new(method)) == NULL) {
		snprintf(err, errlen, "tls: %s", tls_error(why, sizeof(why)));
		return NULL;
	}
	/* Nothing older than 1.2 is ever offered (SPEC §9); 1.3 is preferred
	 * by OpenSSL when both ends have it. */
	SSL_CTX_set_min_proto_version(ctx, t->min_version == CONF_TLS_1_3 ?
	    TLS1_3_VERSION : TLS1_2_VERSION);
	/* An EOF without close_notify is an ordinary close: SIP frames by
	 * Content-Length, so a truncation cannot pass for a message, and a
	 * peer that just closes must not void the session we resume with. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_IGNORE_UNEXPECTED_EOF);
	/* Writes come from the connection's queue, which may move (realloc,
	 * memmove) between a partial write and its retry; idle connections
	 * give their read and write buffers back (300 idle phones). */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1)
		goto bad;
	if (p != NULL && p->leaf != NULL &&
	    (SSL_CTX_use_certificate(ctx, p->leaf) != 1 ||
	    SSL_CTX_set1_chain(ctx, p->chain) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, p->key) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1))
		goto bad;
	return ctx;
bad:
	snprintf(err, errlen, "tls: %s", tls_error(why, sizeof(why)));
	SSL_CTX_free(ctx);
	return NULL;
}

static int
load_ca(SSL_CTX *ctx, const struct conf_tls *t, char *err, size_t errlen)
{
	char why[256];

	if (t->ca_file != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, t->ca_file, NULL) != 1) {
			snprintf(err, errlen, "tls.ca_file %s: %s", t->ca_file,
			    tls_error(why, sizeof(why)));
			return -1;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1)
		ERR_clear_error();	/* no system store: verify fails */
	return 0;
}

static SSL_CTX *
server_ctx(const struct conf_tls *t, const struct pair *p, char *err,
    size_t errlen)
{
	STACK_OF(X509_NAME) *names;
	SSL_CTX *ctx;

	if ((ctx = ctx_common(TLS_server_method(), t, p, err, errlen)) == NULL)
		return NULL;
	/* Resumption by stateless tickets only: no session cache to fill
	 * per client, and tickets survive a reload (same keys). */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"usher",
	    5);
	SSL_CTX_set_num_tickets(ctx, 1);
	if (SSL_CTX_set_tlsext_ticket_keys(ctx, ticket_keys,
	    sizeof(ticket_keys)) != 1) {
		snprintf(err, errlen, "tls: cannot set session ticket keys");
		goto bad;
	}
	if (t->verify_client) {
		/* Mutual TLS (trunks): no certificate ca_file verifies, no
		 * connection. */
		if (load_ca(ctx, t, err, errlen) == -1)
			goto bad;
		if ((names = SSL_load_client_CA_file(t->ca_file)) != NULL)
			SSL_CTX_set_client_CA_list(ctx, names);
		ERR_clear_error();
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
		    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	return ctx;
bad:
	SSL_CTX_free(ctx);
	return NULL;
}

static SSL_CTX *
client_ctx(const struct conf_tls *t, const struct pair *p, char *err,
    size_t errlen)
{
	SSL_CTX *ctx;

	/* Our certificate is our client certificate too: a trunk with
	 * mutual TLS asks for it. */
	if ((ctx = ctx_common(TLS_client_method(), t, p, err, errlen)) == NULL)
		return NULL;
	if (load_ca(ctx, t, err, errlen) == -1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, t->verify_server ? SSL_VERIFY_PEER :
	    SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
	    SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, sess_new);
	return ctx;
}

static void
warn_expiry(const char *cert, time_t expiry, char *warn, size_t warnlen)
{
	time_t now = time(NULL);
	char when[32];
	struct tm tm;

	if (warn != NULL && warnlen > 0)
		warn[0] = '\0';
	if (expiry == 0 || expiry - now > TLS_EXPIRY_WARN)
		return;
	gmtime_r(&expiry, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	if (expiry <= now)
		snprintf(warn, warnlen, "tls.certificate %s expired on %s",
		    cert, when);
	else
		snprintf(warn, warnlen, "tls.certificate %s expires on %s, in "
		    "%ld days", cert, when, (long)((expiry - now) / 86400));
}

static int
make_ticket_keys(char *err, size_t errlen)
{
	if (have_ticket_keys)
		return 0;
	if (RAND_bytes(ticket_keys, sizeof(ticket_keys)) != 1) {
		snprintf(err, errlen, "tls: no randomness for session tickets");
		return -1;
	}
	have_ticket_keys = true;
	return 0;
}

/* Both contexts from t and p (p->leaf NULL: no certificate, no server
 * context). 0, or -1 (err) with nothing made. */
static int
build(const struct conf_tls *t, const struct pair *p, SSL_CTX **srv,
    SSL_CTX **cli, char *err, size_t errlen)
{
	*srv = *cli = NULL;
	if (make_ticket_keys(err, errlen) == -1)
		return -1;
	if (sess_idx == -1 && (sess_idx = SSL_get_ex_new_index(0, NULL, NULL,
	    NULL, sess_name_free)) == -1) {
		snprintf(err, errlen, "tls: no ex_data index");
		return -1;
	}
	if (p->leaf != NULL && (*srv = server_ctx(t, p, err, errlen)) == NULL)
		return -1;
	if ((*cli = client_ctx(t, p, err, errlen)) == NULL) {
		SSL_CTX_free(*srv);
		*srv = NULL;
		return -1;
	}
	return 0;
}

int
tls_check(const struct conf *conf, char *warn, size_t warnlen, char *err,
    size_t errlen)
{
	const struct conf_tls *t = &conf->tls;
	struct pair p = { 0 };
	SSL_CTX *s, *c;
	int rc;

	if (warn != NULL && warnlen > 0)
		warn[0] = '\0';
	if (t->certificate != NULL && pair_load(t->certificate,
	    t->private_key, &p, err, errlen) == -1)
		return -1;
	rc = build(t, &p, &s, &c, err, errlen);
	SSL_CTX_free(s);
	SSL_CTX_free(c);
	if (rc == 0 && p.leaf != NULL)
		warn_expiry(t->certificate, p.expiry, warn, warnlen);
	pair_free(&p);
	return rc;
}

static void
publish(const struct conf_tls *t, SSL_CTX *s, SSL_CTX *c, time_t expiry)
{
	SSL_CTX *olds, *oldc;

	pthread_mutex_lock(&mu);
	olds = srv_ctx;
	oldc = cli_ctx;
	srv_ctx = s;
	cli_ctx = c;
	cur_expiry = expiry;
	hs_timeout = t->handshake_timeout > 0 ? t->handshake_timeout : 5;
	pthread_mutex_unlock(&mu);
	/* Connections made with them hold their own references. */
	SSL_CTX_free(olds);
	SSL_CTX_free(oldc);
}

int
tls_init(const struct conf *conf, char *err, size_t errlen)
{
	const struct conf_tls *t = &conf->tls;
	struct pair p = { 0 };
	SSL_CTX *s, *c;
	char warn[256];

	if (t->certificate != NULL && pair_load(t->certificate,
	    t->private_key, &p, err, errlen) == -1)
		return -1;
	if (build(t, &p, &s, &c, err, errlen) == -1) {
		pair_free(&p);
		return -1;
	}
	if (p.leaf != NULL) {
		warn_expiry(t->certificate, p.expiry, warn, sizeof(warn));
		if (warn[0] != '\0')
			log_warnx("%s", warn);
	}
	pair_free(&cur);
	cur = p;
	publish(t, s, c, p.expiry);
	return 0;
}

int
tls_reload(const struct conf *conf)
{
	const struct conf_tls *t = &conf->tls;
	struct pair p = { 0 }, *use = &p;
	SSL_CTX *s, *c;
	char err[512], warn[256];
	int rc = 0;

	if (t->certificate != NULL && pair_load(t->certificate,
	    t->private_key, &p, err, sizeof(err)) == -1) {
		log_warnx("tls: reload: %s; keeping the certificate in use",
		    err);
		use = &cur;
		rc = -1;
	}
	if (build(t, use, &s, &c, err, sizeof(err)) == -1) {
		log_warnx("tls: reload: %s; keeping the TLS settings in use",
		    err);
		pair_free(&p);
		return -1;
	}
	if (use == &p) {
		if (p.leaf != NULL) {
			warn_expiry(t->certificate, p.expiry, warn,
			    sizeof(warn));
			if (warn[0] != '\0')
				log_warnx("%s", warn);
		}
		pair_free(&cur);
		cur = p;
	}
	publish(t, s, c, cur.expiry);
	sess_flush();
	return rc;
}

void
tls_fini(void)
{
	pthread_mutex_lock(&mu);
	SSL_CTX_free(srv_ctx);
	SSL_CTX_free(cli_ctx);
	srv_ctx = cli_ctx = NULL;
	cur_expiry = 0;
	pthread_mutex_unlock(&mu);
	pair_free(&cur);
	sess_flush();
}

/* A reference to *which, or NULL. */
static SSL_CTX *
ctx_get(SSL_CTX **which)
{
	SSL_CTX *ctx;

	pthread_mutex_lock(&mu);
	if ((ctx = *which) != NULL)
		SSL_CTX_up_ref(ctx);
	pthread_mutex_unlock(&mu);
	return ctx;
}

SSL *
tls_new_server(void)
{
	SSL_CTX *ctx = ctx_get(&srv_ctx);
	SSL *ssl;

	if (ctx == NULL)
		return NULL;
	ssl = SSL_new(ctx);
	SSL_CTX_free(ctx);		/* ssl holds its own */
	return ssl;
}

/* name as an IP literal ("[::1]" too) in ip, or false. */
static bool
is_ip_literal(const char *name, char *ip, size_t iplen)
{
	unsigned char a[16];
	size_t n = strlen(name);

	if (n >= 2 && name[0] == '[' && name[n - 1] == ']') {
		name++;
		n -= 2;
	}
	if (n == 0 || n >= iplen)
		return false;
	memcpy(ip, name, n);
	ip[n] = '\0';
	return inet_pton(AF_INET, ip, a) == 1 ||
	    inet_pton(AF_INET6, ip, a) == 1;
}

SSL *
tls_new_client(const char *name)
{
	SSL_CTX *ctx = ctx_get(&cli_ctx);
	SSL *ssl;
	char ip[64];

	if (ctx == NULL)
		return NULL;
	ssl = SSL_new(ctx);
	SSL_CTX_free(ctx);
	if (ssl == NULL || name == NULL || name[0] == '\0')
		return ssl;
	if (strlen(name) < SESS_KEY) {
		struct sess_tag *tag = calloc(1, sizeof(*tag));
		unsigned k = sess_slot_of(name);
		SSL_SESSION *s = NULL;

		if (tag == NULL || !SSL_set_ex_data(ssl, sess_idx, tag)) {
			free(tag);
			goto bad;
		}
		memcpy(tag->name, name, strlen(name) + 1);
		pthread_mutex_lock(&sess_mu);
		tag->gen = sess_gen;
		if (sess[k].s != NULL && strcmp(sess[k].name, name) == 0 &&
		    SSL_SESSION_is_resumable(sess[k].s) &&
		    SSL_SESSION_up_ref(sess[k].s))
			s = sess[k].s;
		pthread_mutex_unlock(&sess_mu);
		if (s != NULL) {
			SSL_set_session(ssl, s);	/* its own reference */
			SSL_SESSION_free(s);
		}
	}
	/* RFC 5922 §7.2: the target's host in subjectAltName, a DNS name
	 * or an IP address; no wildcards in part of a label. */
	if (is_ip_literal(name, ip, sizeof(ip))) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), ip) != 1)
			goto bad;
	} else {
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (SSL_set1_host(ssl, name) != 1 ||
		    SSL_set_tlsext_host_name(ssl, name) != 1)
			goto bad;
	}
	return ssl;
bad:
	ERR_clear_error();
	SSL_free(ssl);
	return NULL;
}

bool
tls_has_server(void)
{
	bool has;

	pthread_mutex_lock(&mu);
	has = srv_ctx != NULL;
	pthread_mutex_unlock(&mu);
	return has;
}

unsigned
tls_handshake_timeout(void)
{
	unsigned v;

	pthread_mutex_lock(&mu);
	v = hs_timeout;
	pthread_mutex_unlock(&mu);
	return v;
}

time_t
tls_cert_expiry(void)
{
	time_t v;

	pthread_mutex_lock(&mu);
	v = cur_expiry;
	pthread_mutex_unlock(&mu);
	return v;
}
