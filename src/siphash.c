/* siphash.c: SipHash-2-4, from the paper's description (2012). */
#include <string.h>

#include "siphash.h"

#define ROTL(x, b)	(uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static inline uint64_t
load64_le(const uint8_t *p)
{
	return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
	    (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 |
	    (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
	    (uint64_t)p[7] << 56;
}

static inline void
sipround(uint64_t *v0, uint64_t *v1, uint64_t *v2, uint64_t *v3)
{
	*v0 += *v1; *v1 = ROTL(*v1, 13); *v1 ^= *v0; *v0 = ROTL(*v0, 32);
	*v2 += *v3; *v3 = ROTL(*v3, 16); *v3 ^= *v2;
	*v0 += *v3; *v3 = ROTL(*v3, 21); *v3 ^= *v0;
	*v2 += *v1; *v1 = ROTL(*v1, 17); *v1 ^= *v2; *v2 = ROTL(*v2, 32);
}

static inline void
compress(struct siphash *st, uint64_t m)
{
	st->v3 ^= m;
	sipround(&st->v0, &st->v1, &st->v2, &st->v3);
	sipround(&st->v0, &st->v1, &st->v2, &st->v3);
	st->v0 ^= m;
}

void
siphash_init(struct siphash *st, const uint8_t key[SIPHASH_KEY_LEN])
{
	uint64_t k0 = load64_le(key), k1 = load64_le(key + 8);

	st->v0 = k0 ^ 0x736f6d6570736575ULL;
	st->v1 = k1 ^ 0x646f72616e646f6dULL;
	st->v2 = k0 ^ 0x6c7967656e657261ULL;
	st->v3 = k1 ^ 0x7465646279746573ULL;
	st->tail = 0;
	st->ntail = 0;
	st->total = 0;
}

/* The bytes p[0..len) (len < 8) as the low bytes of a little-endian word. */
static inline uint64_t
load_tail(const uint8_t *p, size_t len)
{
	uint64_t w = 0;

	switch (len) {
	case 7: w |= (uint64_t)p[6] << 48;	/* FALLTHROUGH */
	case 6: w |= (uint64_t)p[5] << 40;	/* FALLTHROUGH */
	case 5: w |= (uint64_t)p[4] << 32;	/* FALLTHROUGH */
	case 4: w |= (uint64_t)p[3] << 24;	/* FALLTHROUGH */
	case 3: w |= (uint64_t)p[2] << 16;	/* FALLTHROUGH */
	case 2: w |= (uint64_t)p[1] << 8;	/* FALLTHROUGH */
	case 1: w |= (uint64_t)p[0];
	}
	return w;
}

void
siphash_update(struct siphash *st, const void *p, size_t len)
{
	const uint8_t *s = p;
	size_t take;

	if (len == 0)
		return;		/* p may be NULL: an empty slice */
	st->total += len;
	if (st->ntail > 0) {
		take = 8 - st->ntail < len ? 8 - st->ntail : len;
		st->tail |= load_tail(s, take) << (8 * st->ntail);
		st->ntail += take;
		s += take;
		len -= take;
		if (st->ntail < 8)
			return;
		compress(st, st->tail);
		st->tail = 0;
		st->ntail = 0;
	}
	for (; len >= 8; s += 8, len -= 8)
		compress(st, load64_le(s));
	st->tail = load_tail(s, len);
	st->ntail = len;
}

uint64_t
siphash_final(const struct siphash *st)
{
	struct siphash f = *st;

	compress(&f, f.tail | f.total << 56);
	f.v2 ^= 0xff;
	sipround(&f.v0, &f.v1, &f.v2, &f.v3);
	sipround(&f.v0, &f.v1, &f.v2, &f.v3);
	sipround(&f.v0, &f.v1, &f.v2, &f.v3);
	sipround(&f.v0, &f.v1, &f.v2, &f.v3);
	return f.v0 ^ f.v1 ^ f.v2 ^ f.v3;
}

uint64_t
siphash24(const uint8_t key[SIPHASH_KEY_LEN], const void *p, size_t len)
{
	struct siphash st;

	siphash_init(&st, key);
	siphash_update(&st, p, len);
	return siphash_final(&st);
}

void
siphash_derive_key(const void *secret, size_t len, const char *purpose,
    uint8_t key[SIPHASH_KEY_LEN])
{
	/* A fixed, public first key: the output is secret because the input
	 * is. Two passes with different labels give the two halves. */
	static const uint8_t k0[SIPHASH_KEY_LEN] = "usher-derive-key";
	struct siphash st;
	uint64_t h[2];
	uint8_t half;
	int i, j;

	for (i = 0; i < 2; i++) {
		half = (uint8_t)i;
		siphash_init(&st, k0);
		siphash_update(&st, purpose, strlen(purpose) + 1);
		siphash_update(&st, &half, 1);
		siphash_update(&st, secret, len);
		h[i] = siphash_final(&st);
		for (j = 0; j < 8; j++)
			key[i * 8 + j] = (uint8_t)(h[i] >> (8 * j));
	}
}
