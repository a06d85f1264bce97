/* hash.h: small deterministic hashes (no per-process seed: branches must be
 * the same after a restart and across a fleet). */
#ifndef USHER_HASH_H
#define USHER_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_SEED	0xcbf29ce484222325ULL

/* FNV-1a 64 with a final avalanche; chain calls by passing the last result. */
static inline uint64_t
hash_bytes(uint64_t h, const void *p, size_t len)
{
	const unsigned char *s = p;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= s[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* hash_bytes() of the ASCII lower case of p: for host names. */
static inline uint64_t
hash_bytes_nocase(uint64_t h, const void *p, size_t len)
{
	const unsigned char *s = p;
	unsigned char c;
	size_t i;

	for (i = 0; i < len; i++) {
		c = s[i] >= 'A' && s[i] <= 'Z' ? (unsigned char)(s[i] | 0x20) :
		    s[i];
		h ^= c;
		h *= 0x100000001b3ULL;
	}
	return h;
}

static inline uint64_t
hash_final(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

#endif
