/*
 * Allocation wrappers and the per-tree arena (see mem.h).
 *
 * The arena hands out memory from chunks that grow geometrically, so a
 * stanza of a few kilobytes costs one or two malloc(3) calls in all instead
 * of one per node, attribute and string.  Nothing is freed individually.
 * One arena can adopt another (a tree built elsewhere and appended as a
 * child): the adopted arena is freed together with its new owner.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xml/mem.h"

#define ARENA_MAX_CHUNK	(64 * 1024)
#define ARENA_RECYCLE	128		/* freed arenas kept per first size */
#define ARENA_RECYCLE_BINS 4		/* first sizes recycled */

/*
 * Freed arenas keep their first chunk and wait in a stack for the next
 * xml_arena_new of the same first size: a stream makes and frees one
 * arena per stanza, the publish path one per job, and two malloc/free
 * pairs of kilobytes each were a measurable share of it.  Under load a
 * loop turn frees and makes arenas by the hundred, hence the depth (at
 * most a few megabytes kept).  The stack is process-wide and unlocked:
 * xpushd is one thread.  Sanitizer builds skip it so that a use after
 * xml_arena_free is still caught.
 */
#if defined(__SANITIZE_ADDRESS__)
#define ARENA_NO_RECYCLE	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define ARENA_NO_RECYCLE	1
#endif
#endif

struct arena_chunk {
	struct arena_chunk	*prev;
	size_t			 size;
	size_t			 used;
	_Alignas(max_align_t) unsigned char data[];
};

struct xml_arena {
	struct arena_chunk	*chunk;
	struct xml_arena	*adopted;	/* freed with this arena */
	struct xml_arena	*next_adopted;
};

static void
mem_oom(void)
{
	/* No logging from a library; the core can tell from the core dump. */
	abort();
}

void *
xml_mem_alloc(size_t n)
{
	void *p;

	if ((p = malloc(n == 0 ? 1 : n)) == NULL)
		mem_oom();
	return p;
}

void *
xml_mem_calloc(size_t nmemb, size_t size)
{
	void *p;

	if ((p = calloc(nmemb == 0 ? 1 : nmemb, size == 0 ? 1 : size)) == NULL)
		mem_oom();
	return p;
}

void *
xml_mem_realloc(void *old, size_t n)
{
	void *p;

	if ((p = realloc(old, n == 0 ? 1 : n)) == NULL)
		mem_oom();
	return p;
}

char *
xml_mem_strdup(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(xml_mem_alloc(n), s, n);
}

static struct arena_chunk *
arena_chunk_new(struct arena_chunk *prev, size_t size)
{
	struct arena_chunk *c;

	if (size > SIZE_MAX - sizeof(*c))
		mem_oom();
	c = xml_mem_alloc(sizeof(*c) + size);
	c->prev = prev;
	c->size = size;
	c->used = 0;
	return c;
}

#ifndef ARENA_NO_RECYCLE
static struct arena_bin {
	size_t			 size;		/* first chunk size; 0: free */
	size_t			 n;
	struct xml_arena	*a[ARENA_RECYCLE];
} bins[ARENA_RECYCLE_BINS];

static struct arena_bin *
arena_bin(size_t size, bool claim)
{
	size_t i;

	for (i = 0; i < ARENA_RECYCLE_BINS; i++)
		if (bins[i].size == size)
			return &bins[i];
	if (claim)
		for (i = 0; i < ARENA_RECYCLE_BINS; i++)
			if (bins[i].size == 0) {
				bins[i].size = size;
				return &bins[i];
			}
	return NULL;
}
#endif

struct xml_arena *
xml_arena_new(size_t first_size)
{
	struct xml_arena *a;
#ifndef ARENA_NO_RECYCLE
	struct arena_bin *bin;
#endif

	if (first_size < 256)
		first_size = 256;
#ifndef ARENA_NO_RECYCLE
	if ((bin = arena_bin(first_size, false)) != NULL && bin->n > 0) {
		a = bin->a[--bin->n];
		a->chunk->used = 0;
		return a;
	}
#endif
	a = xml_mem_alloc(sizeof(*a));
	a->chunk = arena_chunk_new(NULL, first_size);
	a->adopted = NULL;
	a->next_adopted = NULL;
	return a;
}

void
xml_arena_free(struct xml_arena *a)
{
	struct arena_chunk *c, *prev;
	struct xml_arena *child, *next;
#ifndef ARENA_NO_RECYCLE
	struct arena_bin *bin;
#endif

	if (a == NULL)
		return;
	for (child = a->adopted; child != NULL; child = next) {
		next = child->next_adopted;
		xml_arena_free(child);
	}
#ifndef ARENA_NO_RECYCLE
	for (c = a->chunk; c->prev != NULL; c = c->prev)
		;
	if ((bin = arena_bin(c->size, true)) != NULL &&
	    bin->n < ARENA_RECYCLE) {
		for (c = a->chunk; c->prev != NULL; c = prev) {
			prev = c->prev;
			free(c);
		}
		a->chunk = c;
		a->adopted = NULL;
		a->next_adopted = NULL;
		bin->a[bin->n++] = a;
		return;
	}
#endif
	for (c = a->chunk; c != NULL; c = prev) {
		prev = c->prev;
		free(c);
	}
	free(a);
}

/*
 * Strings need no alignment, structures need that of a pointer (nothing in
 * a tree holds a long double), so each call says which it wants.
 */
static void *
arena_alloc_align(struct xml_arena *a, size_t n, size_t align)
{
	struct arena_chunk *c = a->chunk;
	size_t off, size;
	void *p;

	if (n > SIZE_MAX / 2)
		mem_oom();
	off = (c->used + align - 1) & ~(align - 1);
	if (off > c->size || c->size - off < n) {
		size = c->size * 2;
		if (size > ARENA_MAX_CHUNK)
			size = ARENA_MAX_CHUNK;
		if (size < n)
			size = n;
		c = a->chunk = arena_chunk_new(c, size);
		off = 0;
	}
	p = c->data + off;
	c->used = off + n;
	return p;
}

void *
xml_arena_alloc(struct xml_arena *a, size_t n)
{
	return arena_alloc_align(a, n, sizeof(void *));
}

void *
xml_arena_zalloc(struct xml_arena *a, size_t n)
{
	return memset(xml_arena_alloc(a, n), 0, n);
}

char *
xml_arena_strndup(struct xml_arena *a, const char *s, size_t n)
{
	char *p;

	if (n == SIZE_MAX)
		mem_oom();
	p = arena_alloc_align(a, n + 1, 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
xml_arena_strdup(struct xml_arena *a, const char *s)
{
	return xml_arena_strndup(a, s, strlen(s));
}

void
xml_arena_adopt(struct xml_arena *owner, struct xml_arena *child)
{
	child->next_adopted = owner->adopted;
	owner->adopted = child;
}
