/*
 * The node -> device cache behind store_cache_get(): bounded, compact
 * (about 80 bytes a registration; see the layout notes in devcache.c),
 * CLOCK eviction.  It knows nothing about the database: store.c decides
 * what goes in and when it must leave.
 *
 * The cache keeps neither the node nor the secret, only keyed hashes of
 * them, and none of created, updated, last_error or last_error_text.  A
 * device it hands out has `cached` set, secret NULL and those times 0;
 * check a presented secret with devcache_secret_ok().
 */
#ifndef XP_DEVCACHE_H
#define XP_DEVCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct devcache;
struct store_device;

struct devcache_stats {
	size_t		 entries;
	size_t		 max;
	size_t		 blobs;		/* entries that did not fit inline */
	size_t		 blob_bytes;	/* their malloc'd bytes */
	size_t		 slot_bytes;	/* slot pages mapped */
	size_t		 table_bytes;	/* the hash table, mapped */
	size_t		 domains;	/* interned owner domains */
	size_t		 providers;	/* interned provider names */
	uint64_t	 evictions;
};

/* max entries, > 0. */
struct devcache	*devcache_new(size_t max);
void		 devcache_free(struct devcache **);
/*
 * Caches d under d->node, replacing what was cached for that node.  A
 * device that cannot be cached (a field too long, too many providers)
 * leaves nothing behind for its node and returns false.
 */
bool		 devcache_put(struct devcache *, const struct store_device *);
/* The device, decoded into storage valid until the next devcache_get. */
const struct store_device *devcache_get(struct devcache *, const char *node);
bool		 devcache_drop(struct devcache *, const char *node);
void		 devcache_flush(struct devcache *);
void		 devcache_set_last_push(struct devcache *, const char *node,
		    time_t);
/* The cached last_push of node, without decoding the entry. */
bool		 devcache_last_push(struct devcache *, const char *node,
		    time_t *);
/* Whether presented is the secret of d, a device devcache_get returned. */
bool		 devcache_secret_ok(const struct devcache *,
		    const struct store_device *, const char *presented);
void		 devcache_stats_get(const struct devcache *,
		    struct devcache_stats *);

#endif
