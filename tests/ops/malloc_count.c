/*
 * malloc_count.c: LD_PRELOAD counter of heap allocations, for the test that
 * usher allocates nothing per request (tests/ops/mallocs.sh). Counts
 * malloc, calloc, realloc and the aligned allocators, and at exit writes
 * "allocations N" to the file named by USHER_MALLOC_COUNT. Only the process
 * whose executable is named usher writes, so sipp and the shell, which
 * inherit LD_PRELOAD, leave the file alone.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void	*__libc_malloc(size_t);
extern void	*__libc_calloc(size_t, size_t);
extern void	*__libc_realloc(void *, size_t);
extern void	*__libc_memalign(size_t, size_t);
extern void	 __libc_free(void *);

static atomic_ulong	allocations;

void *
malloc(size_t n)
{
	atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
	return __libc_malloc(n);
}

void *
calloc(size_t k, size_t n)
{
	atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
	return __libc_calloc(k, n);
}

void *
realloc(void *p, size_t n)
{
	atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
	return __libc_realloc(p, n);
}

void
free(void *p)
{
	__libc_free(p);
}

int
posix_memalign(void **p, size_t align, size_t n)
{
	atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
	*p = __libc_memalign(align, n);
	return *p == NULL ? 12 /* ENOMEM */ : 0;
}

void *
aligned_alloc(size_t align, size_t n)
{
	atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
	return __libc_memalign(align, n);
}

void *
memalign(size_t align, size_t n)
{
	atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
	return __libc_memalign(align, n);
}

__attribute__((destructor)) static void
report(void)
{
	const char *path = getenv("USHER_MALLOC_COUNT");
	char exe[4096];
	ssize_t n;
	FILE *f;
	const char *base;

	if (path == NULL ||
	    (n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) <= 0)
		return;
	exe[n] = '\0';
	base = strrchr(exe, '/');
	if (strcmp(base ? base + 1 : exe, "usher") != 0)
		return;
	if ((f = fopen(path, "w")) == NULL)
		return;
	fprintf(f, "allocations %lu\n", atomic_load(&allocations));
	fclose(f);
}
