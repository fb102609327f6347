/*
 * libxpplug: allocation.  Running out of memory aborts, as the core's
 * fatal() would: a module has no useful way to go on, and callers need no
 * NULL checks.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/lib/pu.h"

static void
pu_oom(void)
{
	fputs("xpushd provider module: out of memory\n", stderr);
	abort();
}

void *
pu_calloc(size_t n, size_t size)
{
	void *p;

	if ((p = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size)) == NULL)
		pu_oom();
	return p;
}

void *
pu_malloc(size_t size)
{
	void *p;

	if ((p = malloc(size == 0 ? 1 : size)) == NULL)
		pu_oom();
	return p;
}

void *
pu_realloc(void *old, size_t size)
{
	void *p;

	if ((p = realloc(old, size == 0 ? 1 : size)) == NULL)
		pu_oom();
	return p;
}

char *
pu_strdup(const char *s)
{
	char *p;

	if ((p = strdup(s)) == NULL)
		pu_oom();
	return p;
}

char *
pu_asprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		pu_oom();
	return s;
}
