/* group.c: what choosing a PBX group member costs (SPEC §8: at most 500
 * instructions for a group of 8), group_choose() over typical Call-IDs.
 * A benchmark, not a test: `cmake --build build --target bench_group`,
 * then under callgrind for instructions per choice:
 *   valgrind --tool=callgrind --toggle-collect=group_choose \
 *       build/tests/bench_group 100000
 * (Ir of the run / the count printed), or alone for ns per choice. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "group.h"
#include "hash.h"
#include "health.h"

#define NMEMBERS	8

int
main(int argc, char **argv)
{
	static const uint8_t key[16] = "0123456789abcdef";
	static struct group_member m[NMEMBERS];
	static struct member_health h[NMEMBERS];
	static char t[NMEMBERS][48], ids[1024][64];
	struct conf_group g;
	struct timespec t0, t1;
	unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
	unsigned long i, sum = 0;
	size_t k;

	for (k = 0; k < NMEMBERS; k++) {
		snprintf(t[k], sizeof(t[k]), "sip:10.0.0.%zu:5060", k + 1);
		m[k].target = t[k];
		m[k].priority = 1;
		m[k].weight = (unsigned)(k % 3) + 1;
		m[k].key = hash_final(hash_bytes(HASH_SEED, t[k],
		    strlen(t[k])));
		m[k].health = &h[k];
		atomic_init(&h[k].up, true);
	}
	memset(&g, 0, sizeof(g));
	g.name = "bench";
	g.members = m;
	g.nmembers = NMEMBERS;
	/* A phone's Call-ID: 32 hex digits @ host, about 40 bytes. */
	for (k = 0; k < 1024; k++)
		snprintf(ids[k], sizeof(ids[k]), "%016llx%016llx@192.0.2.%zu",
		    (unsigned long long)hash_final(k),
		    (unsigned long long)hash_final(k + 7), k % 250);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	for (i = 0; i < n; i++)
		sum += (unsigned long)group_choose(&g, slice_make(ids[i & 1023],
		    strlen(ids[i & 1023])), key);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
	printf("%lu choices among %d members: %.1f ns each (checksum %lu)\n",
	    n, NMEMBERS, ((t1.tv_sec - t0.tv_sec) * 1e9 +
	    (t1.tv_nsec - t0.tv_nsec)) / (double)n, sum);
	return 0;
}
