/*
 * Allocation for the xml/ library, which links no part of core/: wrappers
 * that abort(3) when memory runs out (a daemon cannot do anything better,
 * and the callers stay free of NULL checks), and a bump-pointer arena that
 * holds everything one stanza, tree or form needs so it is freed at once.
 *
 * Internal to xml/: nothing outside this folder includes this header.
 */
#ifndef XP_XML_MEM_H
#define XP_XML_MEM_H

#include <stddef.h>

void	*xml_mem_alloc(size_t);
void	*xml_mem_calloc(size_t, size_t);
void	*xml_mem_realloc(void *, size_t);
char	*xml_mem_strdup(const char *);

struct xml_arena;

struct xml_arena *xml_arena_new(size_t first_size);
void	 xml_arena_free(struct xml_arena *);
void	*xml_arena_alloc(struct xml_arena *, size_t);
void	*xml_arena_zalloc(struct xml_arena *, size_t);
char	*xml_arena_strndup(struct xml_arena *, const char *, size_t);
char	*xml_arena_strdup(struct xml_arena *, const char *);
void	 xml_arena_adopt(struct xml_arena *, struct xml_arena *);

#endif
