/* test_siphash.c: SipHash-2-4 against the reference vectors, and the
 * incremental interface against the one-shot one. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "siphash.h"

/* From the reference implementation's vectors.h (key 00..0f, message
 * 00..len-1), as little-endian 64-bit words. */
static const struct {
	size_t		 len;
	uint64_t	 out;
} vectors[] = {
	{ 0, 0x726fdb47dd0e0e31ULL },
	{ 1, 0x74f839c593dc67fdULL },
	{ 7, 0xab0200f58b01d137ULL },
	{ 8, 0x93f5f5799a932462ULL },
	{ 15, 0xa129ca6149be45e5ULL },
	{ 63, 0x958a324ceb064572ULL },
};

static void
test_vectors(void **state)
{
	uint8_t key[SIPHASH_KEY_LEN], msg[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)i;
	for (i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)i;
	for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++)
		assert_int_equal(siphash24(key, msg, vectors[i].len),
		    vectors[i].out);
}

/* Every split of a message gives the one-shot result. */
static void
test_incremental(void **state)
{
	uint8_t key[SIPHASH_KEY_LEN] = "0123456789abcdef", msg[40];
	struct siphash st;
	size_t i, a, b;

	(void)state;
	for (i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7 + 3);
	for (a = 0; a <= sizeof(msg); a++)
		for (b = a; b <= sizeof(msg); b += 3) {
			siphash_init(&st, key);
			siphash_update(&st, msg, a);
			siphash_update(&st, msg + a, b - a);
			siphash_update(&st, msg + b, sizeof(msg) - b);
			assert_int_equal(siphash_final(&st),
			    siphash24(key, msg, sizeof(msg)));
		}
	/* an empty piece, even a NULL one, changes nothing */
	siphash_init(&st, key);
	siphash_update(&st, msg, 3);
	siphash_update(&st, NULL, 0);
	siphash_update(&st, msg + 3, sizeof(msg) - 3);
	assert_int_equal(siphash_final(&st), siphash24(key, msg, sizeof(msg)));
}

static void
test_derive(void **state)
{
	uint8_t a[SIPHASH_KEY_LEN], b[SIPHASH_KEY_LEN], c[SIPHASH_KEY_LEN];

	(void)state;
	siphash_derive_key("secret", 6, "branch", a);
	siphash_derive_key("secret", 6, "branch", b);
	assert_memory_equal(a, b, sizeof(a));
	siphash_derive_key("secret", 6, "probe", c);
	assert_memory_not_equal(a, c, sizeof(a));
	siphash_derive_key("secreT", 6, "branch", c);
	assert_memory_not_equal(a, c, sizeof(a));
	/* the two halves differ */
	assert_memory_not_equal(a, a + 8, 8);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_incremental),
		cmocka_unit_test(test_derive),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
