/*
 * The node -> registration cache that core/registry.c keeps: a plain
 * container, bounded, compact (a registration costs about its packed
 * size: 28 bytes, the local part, the tokens as binary or 6 bits a
 * character, plus 6 bytes of table; see the layout notes in devcache.c),
 * CLOCK eviction.  It knows nothing
 * of the database or of what a registration means: the registry decides
 * what goes in and when it must leave.
 *
 * The cache keeps neither the node nor the secret, only keyed hashes of
 * them: a secret is checked with devcache_item_secret_ok(), never read
 * back.  An item is an entry in place: valid until the cache next changes
 * (a put, drop, flush or eviction), so use it at once.
 */
#ifndef XP_DEVCACHE_H
#define XP_DEVCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct devcache;
struct devcache_item;

/* What the cache keeps of a registration. */
struct devcache_entry {
	const char	*owner;		/* bare JID */
	const char	*provider;
	const char	*token;
	const char	*voip_token;	/* NULL if none */
	const char	*secret;	/* devcache_put: NULL if none; decoded:
					   always NULL */
	time_t		 last_push;	/* 0 if never */
};

struct devcache_stats {
	size_t		 entries;
	size_t		 max;
	size_t		 record_bytes;	/* the entries' records */
	size_t		 free_bytes;	/* freed records kept for reuse */
	size_t		 arena_bytes;	/* carved from the pages: records,
					   free ones and the tails of full
					   pages; what the arena touched */
	size_t		 mapped_bytes;	/* pages mapped, touched or not */
	size_t		 table_bytes;	/* the hash table, mapped */
	size_t		 raw_tokens;	/* tokens kept verbatim (neither hex
					   nor base64url) */
	size_t		 domains;	/* interned owner domains */
	size_t		 providers;	/* interned provider names */
	uint64_t	 evictions;
};

/* max entries, > 0. */
struct devcache	*devcache_new(size_t max);
void		 devcache_free(struct devcache **);
/*
 * Caches e under node, replacing what was cached for it.  An entry that
 * cannot be cached (a record over 1 KB, too many providers, the arena's
 * 16 GB full) leaves nothing behind for its node and returns false.
 */
bool		 devcache_put(struct devcache *, const char *node,
		    const struct devcache_entry *);
/* The item cached for node, or NULL; counts as a use for eviction. */
struct devcache_item *devcache_find(struct devcache *, const char *node);
bool		 devcache_drop(struct devcache *, const char *node);
void		 devcache_flush(struct devcache *);
/*
 * Decodes it into e, with its strings in buf, if they fit in size bytes;
 * returns the bytes they need either way (call again with more room).
 */
size_t		 devcache_item_decode(const struct devcache *,
		    const struct devcache_item *, struct devcache_entry *e,
		    char *buf, size_t size);
time_t		 devcache_item_last_push(const struct devcache_item *);
void		 devcache_item_set_last_push(struct devcache_item *, time_t);
/*
 * Whether presented is the item's secret (constant time in its bytes).
 * An entry put without a secret refuses every one; NULL is refused.
 */
bool		 devcache_item_secret_ok(const struct devcache *,
		    const struct devcache_item *, const char *presented);
void		 devcache_stats_get(const struct devcache *,
		    struct devcache_stats *);

#endif
