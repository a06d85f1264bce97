/* siphash.h: SipHash-2-4 (Aumasson and Bernstein), the keyed PRF behind
 * every value usher must be able to recognise as its own and nobody else
 * can make: the H1 part of our Via branches (SPEC §7), probe branches, and
 * the bucket index of the rate table. A plain hash (hash.h) is forgeable by
 * anyone who reads the source; this one needs the 128-bit key. */
#ifndef USHER_SIPHASH_H
#define USHER_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define SIPHASH_KEY_LEN	16

/* Incremental state: feed fields with siphash_update(), in any pieces; the
 * result only depends on the concatenated bytes. */
struct siphash {
	uint64_t	 v0, v1, v2, v3;
	uint64_t	 tail;		/* bytes not yet in a whole word */
	size_t		 ntail;
	uint64_t	 total;		/* bytes fed */
};

void		 siphash_init(struct siphash *st,
		    const uint8_t key[SIPHASH_KEY_LEN]);
void		 siphash_update(struct siphash *st, const void *p, size_t len);
uint64_t	 siphash_final(const struct siphash *st);

/* One call: SipHash-2-4 of len bytes at p under key. */
uint64_t	 siphash24(const uint8_t key[SIPHASH_KEY_LEN], const void *p,
		    size_t len);

/* A 128-bit key made from a secret of any length (a passphrase such as
 * branch_secret, or /etc/machine-id), separated by a purpose label so that
 * one secret gives unrelated keys to unrelated uses. */
void		 siphash_derive_key(const void *secret, size_t len,
		    const char *purpose, uint8_t key[SIPHASH_KEY_LEN]);

#endif
