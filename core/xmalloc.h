/*
 * Allocation wrappers that never return NULL: running out of memory is
 * fatal (STYLE.md, OpenSMTPD).
 */
#ifndef XP_XMALLOC_H
#define XP_XMALLOC_H

#include <stddef.h>
#include "core/log.h"

void *xmalloc(size_t);
void *xcalloc(size_t, size_t);
void *xrealloc(void *, size_t);
void *xreallocarray(void *, size_t, size_t);
char *xstrdup(const char *);
char *xstrndup(const char *, size_t);
void *xmemdup(const void *, size_t);
int xasprintf(char **, const char *, ...) XP_PRINTF(2, 3);
char *xprintf(const char *, ...) XP_PRINTF(1, 2);

#endif
