/* slice.h: pointer+length views into bytes we do not own (never NUL-terminated). */
#ifndef USHER_SLICE_H
#define USHER_SLICE_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

struct slice {
	const char	*p;
	size_t		 len;
};

#define SLICE(lit)	((struct slice){ (lit), sizeof(lit) - 1 })
#define SLICE_NULL	((struct slice){ NULL, 0 })

static inline struct slice
slice_make(const char *p, size_t len)
{
	struct slice s = { p, len };
	return s;
}

static inline bool
slice_eq(struct slice a, struct slice b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static inline bool
slice_caseeq(struct slice a, struct slice b)
{
	return a.len == b.len && (a.len == 0 || strncasecmp(a.p, b.p, a.len) == 0);
}

/* nginx's ngx_cpymem: copy and return the end, for one-pass writers. */
static inline char *
cpymem(char *dst, const void *src, size_t n)
{
	if (n)
		memcpy(dst, src, n);
	return dst + n;
}

/* cpymem of a string literal, its length counted by the compiler. */
#define CPYLIT(dst, lit)	cpymem((dst), "" lit "", sizeof(lit) - 1)

/* v in decimal at p; returns the end. No NUL. */
static inline char *
put_uint(char *p, unsigned v)
{
	char d[10];
	size_t n = 0;

	do {
		d[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	while (n > 0)
		*p++ = d[--n];
	return p;
}

/* v as 16 lowercase hex digits at p; returns the end. No NUL. */
static inline char *
put_hex64(char *p, unsigned long long v)
{
	static const char hex[] = "0123456789abcdef";
	int i;

	for (i = 15; i >= 0; i--) {
		p[i] = hex[v & 0xf];
		v >>= 4;
	}
	return p + 16;
}

/* ASCII lower case, whatever the locale. */
static inline char
lower_ascii(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c | 0x20) : c;
}

#endif
