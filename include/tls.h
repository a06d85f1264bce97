/* tls.h: the OpenSSL contexts of SIP over TLS (SPEC §9): our certificate
 * and key, the server context for TLS listeners and the client context for
 * outgoing connections, their reload, and the TLS counters. */
#ifndef USHER_TLS_H
#define USHER_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "config.h"

/*
 * Empty this thread's OpenSSL error queue before an SSL call whose
 * SSL_get_error() matters (the queue must be empty then). Peeking first:
 * ERR_clear_error() walks every slot, some 800 instructions, five times a
 * call over TLS, while the queue is nearly always empty already.
 */
static inline void
tls_clear_errors(void)
{
	if (ERR_peek_error() != 0)
		ERR_clear_error();
}

/* A certificate expiring sooner than this is warned about (-t, start,
 * reload). */
#define TLS_EXPIRY_WARN	(30 * 86400)

/*
 * -t and start: load conf's certificate chain and key (when set), check
 * that they match, and that ca_file loads. 0, or -1 with the reason in
 * err. A certificate that expires within TLS_EXPIRY_WARN (or has expired)
 * is not an error: a line saying so goes to warn (NUL when none).
 */
int	tls_check(const struct conf *conf, char *warn, size_t warnlen,
	    char *err, size_t errlen);

/*
 * Build the contexts from conf (at start, before privileges are dropped:
 * keys are often readable by root alone). 0, or -1 with the reason in
 * err. Without any tls settings it builds a client context on the system
 * store, so that outgoing TLS works with verify_server.
 */
int	tls_init(const struct conf *conf, char *err, size_t errlen);

/*
 * SIGHUP: new contexts from conf for the connections made from now on;
 * open ones keep theirs. A certificate or key that does not load or does
 * not match keeps the pair in use (logged, with why); the other settings
 * still apply. Session ticket keys are kept, so that returning clients
 * resume. 0, or -1 when the pair was kept or the contexts could not be
 * built (logged).
 */
int	tls_reload(const struct conf *conf);
void	tls_fini(void);

/* A new SSL for an accepted connection (server) or an outgoing one
 * (client: name checked as RFC 5922 §7.2 says when verify_server; SNI for
 * a DNS name; the session last kept for name offered, and the one this
 * connection gets kept for the next). The caller owns it: SSL_shutdown
 * before SSL_free on a sound close, else OpenSSL voids its session. NULL
 * when TLS is not set up or out of memory. */
SSL	*tls_new_server(void);
SSL	*tls_new_client(const char *name);

/* Whether the server side is set up (a certificate is loaded). */
bool	tls_has_server(void);
unsigned tls_handshake_timeout(void);

/* notAfter of the certificate in use; 0 when none. */
time_t	tls_cert_expiry(void);

/* The OpenSSL reason of the last failure on this thread, for a log line
 * ("certificate verify failed", ...); "unknown" when none queued. The
 * error queue is emptied. */
const char *tls_error(char *buf, size_t len);

#endif
