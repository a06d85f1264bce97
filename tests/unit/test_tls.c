/* test_tls.c: our certificate and key as tls.c loads, checks and reloads
 * them (SPEC §9), and the names an outgoing connection checks. Pairs are
 * made in the test (OpenSSL, P-256) into a temporary folder. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "config.h"
#include "tls.h"

static char	dir[64];
static long	serial = 1;

/* name.pem and name.key: a self-signed certificate for SAN
 * DNS:localhost, valid from `from` days from now for `days` days. */
static X509 *
make_pair(const char *name, long from, long days)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	char path[128];
	FILE *f;

	assert_non_null(key);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), from * 86400);
	X509_gmtime_adj(X509_getm_notAfter(x), (from + days) * 86400);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN",
	    MBSTRING_ASC, (const unsigned char *)name, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name,
	    "DNS:localhost");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	snprintf(path, sizeof(path), "%s/%s.pem", dir, name);
	assert_non_null(f = fopen(path, "w"));
	PEM_write_X509(f, x);
	fclose(f);
	snprintf(path, sizeof(path), "%s/%s.key", dir, name);
	assert_non_null(f = fopen(path, "w"));
	PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	EVP_PKEY_free(key);
	return x;
}

static char *
path_of(const char *name, const char *ext)
{
	char *p;

	assert_true(asprintf(&p, "%s/%s.%s", dir, name, ext) > 0);
	return p;
}

/* Files in dir, by name: from over to. */
static void
copy(const char *from, const char *to)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "cp %s/%s %s/%s", dir, from, dir, to);
	assert_int_equal(system(cmd), 0);
}

/* A conf with only tls set: cert/key by name (NULL: none). */
static struct conf *
conf_with(const char *cert, const char *key)
{
	struct conf *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	c->tls.certificate = cert ? path_of(cert, "pem") : NULL;
	c->tls.private_key = key ? path_of(key, "key") : NULL;
	c->tls.verify_server = true;
	c->tls.handshake_timeout = 5;
	return c;
}

static void
conf_done(struct conf *c)
{
	free(c->tls.certificate);
	free(c->tls.private_key);
	free(c->tls.ca_file);
	free(c);
}

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/usher-test-tls.XXXXXX");
	assert_non_null(mkdtemp(dir));
	X509_free(make_pair("good", 0, 365));
	X509_free(make_pair("other", 0, 365));
	X509_free(make_pair("soon", 0, 10));
	X509_free(make_pair("expired", -10, 1));
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* tls_check: { cert, key, rc, what err or warn must say } */
static const struct {
	const char	*cert, *key;
	int		 rc;
	const char	*says;
} rows[] = {
	{ "good", "good", 0, "" },
	{ NULL, NULL, 0, "" },			/* client context only */
	{ "soon", "soon", 0, "expires on" },
	{ "expired", "expired", 0, "expired on" },
	{ "good", "other", -1, "does not match the certificate" },
	{ "missing", "good", -1, "No such file or directory" },
	{ "good", "missing", -1, "tls.private_key" },
	{ "good.key", "good", -1, "" },		/* see below: a key as cert */
};

static void
test_check(void **state)
{
	char err[512], warn[256];
	struct conf *c;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (rows[i].cert != NULL && strchr(rows[i].cert, '.')) {
			/* A key file given as the certificate. */
			c = conf_with(NULL, rows[i].key);
			c->tls.certificate = path_of("good", "key");
		} else
			c = conf_with(rows[i].cert, rows[i].key);
		err[0] = '\0';
		assert_int_equal(tls_check(c, warn, sizeof(warn), err,
		    sizeof(err)), rows[i].rc);
		if (rows[i].rc == 0 && rows[i].says[0] != '\0')
			assert_non_null(strstr(warn, rows[i].says));
		else if (rows[i].rc == 0)
			assert_string_equal(warn, "");
		else
			assert_non_null(strstr(err, rows[i].says));
		conf_done(c);
	}
}

static void
test_bad_ca(void **state)
{
	struct conf *c = conf_with("good", "good");
	char err[512], warn[256];

	(void)state;
	c->tls.ca_file = path_of("good", "key");	/* no certificate */
	assert_int_equal(tls_check(c, warn, sizeof(warn), err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "tls.ca_file"));
	conf_done(c);
}

/* Whether ssl would present the certificate made as name (its CN). */
static bool
serves(SSL *ssl, const char *name)
{
	X509_NAME *subject = X509_get_subject_name(SSL_get_certificate(ssl));
	X509_NAME_ENTRY *e;

	e = X509_NAME_get_entry(subject, X509_NAME_get_index_by_NID(subject,
	    NID_commonName, -1));
	return strcmp((const char *)ASN1_STRING_get0_data(
	    X509_NAME_ENTRY_get_data(e)), name) == 0;
}

/* SIGHUP: a good new pair is taken, a broken one keeps the one in use;
 * connections made before keep theirs; ticket keys stay. */
static void
test_reload(void **state)
{
	struct conf *c;
	SSL *before, *kept, *after;
	unsigned char k1[80], k2[80];
	char err[512];
	time_t e1;

	(void)state;
	copy("good.pem", "live.pem");
	copy("good.key", "live.key");
	c = conf_with("live", "live");
	assert_int_equal(tls_init(c, err, sizeof(err)), 0);
	assert_true(tls_has_server());
	e1 = tls_cert_expiry();
	assert_true(e1 > time(NULL) + 300 * 86400);
	assert_non_null(before = tls_new_server());
	assert_true(serves(before, "good"));

	/* broken: other's certificate with good's key */
	copy("other.pem", "live.pem");
	assert_int_equal(tls_reload(c), -1);
	assert_int_equal(tls_cert_expiry(), e1);
	assert_non_null(kept = tls_new_server());
	assert_true(serves(kept, "good"));

	/* good: the soon pair */
	copy("soon.pem", "live.pem");
	copy("soon.key", "live.key");
	assert_int_equal(tls_reload(c), 0);
	assert_true(tls_cert_expiry() < e1);
	assert_non_null(after = tls_new_server());
	assert_true(serves(after, "soon"));
	assert_true(serves(before, "good"));	/* open ones keep theirs */
	assert_int_equal(SSL_CTX_get_tlsext_ticket_keys(SSL_get_SSL_CTX(
	    before), k1, sizeof(k1)), 1);
	assert_int_equal(SSL_CTX_get_tlsext_ticket_keys(SSL_get_SSL_CTX(
	    after), k2, sizeof(k2)), 1);
	assert_memory_equal(k1, k2, sizeof(k1));
	SSL_free(before);
	SSL_free(kept);
	SSL_free(after);
	tls_fini();
	assert_false(tls_has_server());
	assert_int_equal(tls_cert_expiry(), 0);
	conf_done(c);
}

/* RFC 5922 §7.2: the name checked is the target's host, DNS or IP. */
static void
test_client_names(void **state)
{
	struct conf *c = conf_with(NULL, NULL);
	X509_VERIFY_PARAM *p;
	char err[512], *ip;
	SSL *ssl;

	(void)state;
	assert_int_equal(tls_init(c, err, sizeof(err)), 0);
	assert_false(tls_has_server());
	assert_null(tls_new_server());

	assert_non_null(ssl = tls_new_client("sip.example.com"));
	p = SSL_get0_param(ssl);
	assert_string_equal(X509_VERIFY_PARAM_get0_host(p, 0),
	    "sip.example.com");
	assert_string_equal(SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name),
	    "sip.example.com");
	SSL_free(ssl);

	assert_non_null(ssl = tls_new_client("192.0.2.7"));
	p = SSL_get0_param(ssl);
	assert_null(X509_VERIFY_PARAM_get0_host(p, 0));
	assert_non_null(ip = X509_VERIFY_PARAM_get1_ip_asc(p));
	assert_string_equal(ip, "192.0.2.7");
	OPENSSL_free(ip);
	/* no SNI for an address (RFC 6066 §3) */
	assert_null(SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name));
	SSL_free(ssl);

	assert_non_null(ssl = tls_new_client("[2001:db8::1]"));
	assert_non_null(ip = X509_VERIFY_PARAM_get1_ip_asc(
	    SSL_get0_param(ssl)));
	assert_string_equal(ip, "2001:DB8:0:0:0:0:0:1");
	OPENSSL_free(ip);
	SSL_free(ssl);
	tls_fini();
	conf_done(c);
}

/*
 * A handshake between a server and a client SSL over a memory BIO pair.
 * true when both ends finished; afterwards the client reads once, so that
 * the TLS 1.3 ticket sent after the handshake is taken in.
 */
static bool
handshake(SSL *srv, SSL *cli)
{
	BIO *a, *b;
	int i, rs = 0, rc = 0;
	char c;

	assert_int_equal(BIO_new_bio_pair(&a, 0, &b, 0), 1);
	SSL_set_bio(srv, a, a);
	SSL_set_bio(cli, b, b);
	SSL_set_accept_state(srv);
	SSL_set_connect_state(cli);
	for (i = 0; i < 20 && (rs != 1 || rc != 1); i++) {
		if (rc != 1 && (rc = SSL_do_handshake(cli)) != 1 &&
		    SSL_get_error(cli, rc) != SSL_ERROR_WANT_READ)
			return false;
		if (rs != 1 && (rs = SSL_do_handshake(srv)) != 1 &&
		    SSL_get_error(srv, rs) != SSL_ERROR_WANT_READ)
			return false;
	}
	if (rs != 1 || rc != 1)
		return false;
	(void)SSL_read(cli, &c, 1);	/* the ticket, then WANT_READ */
	ERR_clear_error();
	return true;
}

/* As the transport closes a sound connection: close_notify first, else
 * OpenSSL voids the session it used. */
static void
closed(SSL *ssl)
{
	SSL_shutdown(ssl);
	SSL_free(ssl);
	ERR_clear_error();
}

/* Outgoing names checked in subjectAltName; sessions resumed per name,
 * forgotten at a reload; tickets issued before a reload still honoured. */
static void
test_handshakes(void **state)
{
	struct conf *c = conf_with("good", "good");
	SSL *s, *k, *first;
	SSL_SESSION *unused;
	char err[512];

	(void)state;
	c->tls.ca_file = path_of("good", "pem");	/* self-signed */
	assert_int_equal(tls_init(c, err, sizeof(err)), 0);

	/* by DNS name: verified, full */
	first = tls_new_client("localhost");
	s = tls_new_server();
	assert_true(handshake(s, first));
	assert_int_equal(SSL_get_verify_result(first), X509_V_OK);
	assert_false(SSL_session_reused(first));
	closed(s);

	/* again: the session kept for that name resumes */
	k = tls_new_client("localhost");
	s = tls_new_server();
	assert_true(handshake(s, k));
	assert_true(SSL_session_reused(k));
	closed(k);
	closed(s);

	/* another name, an IP the certificate does not carry: refused */
	k = tls_new_client("other.example.com");
	s = tls_new_server();
	assert_false(handshake(s, k));
	assert_int_equal(SSL_get_verify_result(k),
	    X509_V_ERR_HOSTNAME_MISMATCH);
	closed(k);
	closed(s);
	ERR_clear_error();
	k = tls_new_client("127.0.0.1");
	s = tls_new_server();
	assert_false(handshake(s, k));
	assert_int_equal(SSL_get_verify_result(k),
	    X509_V_ERR_IP_ADDRESS_MISMATCH);
	closed(k);
	closed(s);
	ERR_clear_error();

	/* a ticket from before the reload, never used (no name: not kept) */
	k = tls_new_client(NULL);
	s = tls_new_server();
	assert_true(handshake(s, k));
	assert_non_null(unused = SSL_get1_session(k));
	closed(k);
	closed(s);

	/* a reload forgets outgoing sessions... */
	assert_int_equal(tls_reload(c), 0);
	k = tls_new_client("localhost");
	s = tls_new_server();
	assert_true(handshake(s, k));
	assert_false(SSL_session_reused(k));
	closed(k);
	closed(s);
	/* ...but the server still takes a ticket issued before it */
	k = tls_new_client(NULL);
	SSL_set_session(k, unused);
	s = tls_new_server();
	assert_true(handshake(s, k));
	assert_true(SSL_session_reused(s));
	closed(k);
	closed(s);

	SSL_SESSION_free(unused);
	closed(first);
	tls_fini();
	conf_done(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_bad_ca),
		cmocka_unit_test(test_reload),
		cmocka_unit_test(test_client_names),
		cmocka_unit_test(test_handshakes),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
