/* osip-quiet.h: libosip2 logs every message it refuses to stdout unless
 * told otherwise; the tests and benchmarks that use it as the reference
 * parser call osip_quiet() once after parser_init(). */
#ifndef USHER_TESTS_OSIP_QUIET_H
#define USHER_TESTS_OSIP_QUIET_H

#include <stdarg.h>

#include <osipparser2/osip_port.h>

static void
osip_trace_nothing(const char *fi, int li, osip_trace_level_t level,
    const char *fmt, va_list ap)
{
	(void)fi;
	(void)li;
	(void)level;
	(void)fmt;
	(void)ap;
}

static inline void
osip_quiet(void)
{
	osip_trace_initialize_func(END_TRACE_LEVEL, osip_trace_nothing);
}

#endif
