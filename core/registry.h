/*
 * The registry: node -> push target, for the publish pipeline.  One call,
 * registry_lookup(), answers whether a node may be pushed to by whoever
 * publishes, and where to: it finds the target, checks the publisher
 * (the owner's domain, without local part or resource, or the owner's
 * bare JID: XEP-0357 since 0.3 has the server publish, older servers use
 * the account) and the publish-options secret (with require-secret, a
 * publish without one is refused).  After a push the pipeline tells the
 * registry what happened (registry_pushed, _failed, _forget,
 * _forget_voip) and the registry decides what is written back: last_push
 * at most once every REGISTRY_MARK_EVERY seconds per device, in batches.
 *
 * Sources.  A target comes from a source, tried in order until one knows
 * the node.  Today there is one: registered rows (the devices table),
 * behind a node cache (core/devcache.c) kept coherent with the database
 * and with the other processes through LISTEN/NOTIFY:
 *
 *  - the cache is only filled while the LISTEN connection is up;
 *  - never from a lookup during whose flight an invalidation for its node
 *    (or for every node) arrived, so a NOTIFY racing with a result on
 *    another connection cannot leave a stale entry behind;
 *  - it is flushed when the LISTEN connection comes back after an outage
 *    (notifications may have been missed);
 *  - while the database is away, cached entries keep serving publishes.
 *
 * The p2 source serves the rows of p2 registrations (core/p2.c), told
 * apart by their node's prefix (STORE_P2_NODE_PREFIX) before any row is
 * read, through the same cache.  Its rules are p2's
 * (PushController.pubsubHandler): a publish must carry the secret, always,
 * and come from the owner's server or account or, for a group chat
 * registration, from the group chat's service or room.
 *
 * The seam: a registration-less source (node = a device token, fpush
 * style) or a source for registrations of another command set would be
 * another entry in the table of sources in registry.c, with its own
 * lookup function.  It hands back a push_target with stored = false (no
 * row: no last_push, nothing to delete) and its own rules for the
 * publisher and the secret, which is why those checks live here and not
 * in the pipeline.
 *
 * fpush (core/fpush.c) is two such entries: one before the registered
 * rows, claiming a publish whose options carry pushModule, and a
 * fallback after them, asked only when the rows did not know the node
 * (REGISTRY_UNKNOWN), claiming a token-shaped node without pushModule
 * when a default module is configured.
 *
 * Callbacks: registry_lookup() answers through its callback exactly once.
 * On a cache hit it answers before returning, so that the warm hot path
 * pays for no deferral; on a miss it answers from the event loop once the
 * database has (the misses of one loop turn share one query).  The
 * target passed to a callback is valid only during the call: copy what
 * you keep.
 */
#ifndef XP_REGISTRY_H
#define XP_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/store.h"
#include "plugins/provider.h"

struct event_base;
struct registry;
struct xml_node;

#define REGISTRY_MARK_EVERY	300	/* seconds between last_push writes */
/* Cache misses looked up in one statement, at most. */
#define REGISTRY_LOOKUP_BATCH_MAX	512

struct push_target {
	const char	*node;
	const char	*owner;		/* bare JID; NULL for a registration-
					   less node (later issues) */
	const char	*provider;	/* provider block id */
	const char	*token;
	const char	*voip_token;	/* NULL if none */
	bool		 stored;	/* backed by a devices row: may be
					   deleted, last_push written */
	enum xp_profile	 profile;	/* the payload layout its app reads */
	/* XP_PROFILE_P2: the fingerprints (struct xp_push); else NULL. */
	const char	*p2_account;
	const char	*p2_channel;	/* NULL: not a channel registration */
};

enum registry_status {
	REGISTRY_FOUND,
	REGISTRY_UNKNOWN,	/* no such node -> cancel/item-not-found */
	REGISTRY_FORBIDDEN,	/* publisher not the owner's domain/bare JID,
				   wrong or missing secret -> auth/forbidden */
	REGISTRY_UNAVAILABLE,	/* database cannot be reached now -> wait */
	REGISTRY_REFUSED,	/* a registration-less node the dialect
				   refuses (unknown module, not a token of
				   the right shape) -> cancel/bad-request */
};

struct registry_query {
	const char		*node;
	const char		*from;		/* the publishing JID */
	const char		*secret;	/* publish-options secret, or
						   NULL */
	const struct xml_node	*options;	/* the publish-options form or
						   NULL: for dialects later;
						   read during the call only */
};

struct registry_conf {
	size_t		 cache_size;	/* cached nodes; 0: no cache */
	bool		 require_secret;
	/* The clock for last_push decisions; NULL: time(3).  For tests. */
	time_t		(*now)(void);
};

struct registry_stats {
	uint64_t	 lookups;	/* registry_lookup calls */
	uint64_t	 lookup_batches;	/* statements sent for misses */
	uint64_t	 marks;		/* last_push writes queued */
	uint64_t	 mark_batches;	/* UPDATE statements sent for them */
	size_t		 marks_pending;	/* queued, not yet sent */
};

/*
 * reason: a short text for the log/IQ error when status != FOUND.  The
 * target is valid only during the call: copy what you keep.
 */
typedef void registry_cb(void *arg, enum registry_status,
    const struct push_target *, const char *reason);

void		 registry_conf_defaults(struct registry_conf *);
struct registry	*registry_new(struct event_base *, struct store *,
		    const struct registry_conf *, char **error_r);
/*
 * Before store_free(): the registry is one of the store's users.  Lookups
 * still in flight are answered REGISTRY_UNAVAILABLE when the store lets
 * them go; queued last_push writes are dropped (they are only ever an
 * approximation of the last push).
 */
void		 registry_free(struct registry **);
/* require-secret takes effect at once; the cache size at the next start. */
void		 registry_reconfigure(struct registry *,
		    const struct registry_conf *);
void		 registry_stats_get(const struct registry *,
		    struct registry_stats *);

/*
 * Answers through cb exactly once; on a cache hit it answers before
 * returning (the hot path pays no deferral).
 */
void	registry_lookup(struct registry *, const struct registry_query *,
	    registry_cb *, void *arg);
/*
 * A push to target went out: the registry decides whether and when
 * last_push is written (batched, at most every REGISTRY_MARK_EVERY s per
 * device).
 */
void	registry_pushed(struct registry *, const struct push_target *);
/* A push failed with reason: last_error/last_error_text. */
void	registry_failed(struct registry *, const struct push_target *,
	    const char *reason);
/*
 * The token is dead or the account removed: delete the registration.  cb
 * may be NULL; it is called from the event loop, never inside this call.
 */
void	registry_forget(struct registry *, const struct push_target *,
	    const char *why, store_done_cb *cb, void *arg);
/*
 * The VoIP (second) token of target is dead: clear it, keep the
 * registration and its alert token.  Only if the row still holds that VoIP
 * token (a device that re-registered meanwhile keeps its new one: then cb
 * gets STORE_NOTFOUND).  Every process drops the node from its cache
 * (NOTIFY).  cb may be NULL; it is called from the event loop.
 */
void	registry_forget_voip(struct registry *, const struct push_target *,
	    const char *why, store_done_cb *cb, void *arg);
/* Whether node is in the cache; not counted as a hit (tests). */
bool	registry_cached(struct registry *, const char *node);
/* Sends the queued last_push writes now (shutdown, tests). */
void	registry_flush_marks(struct registry *);

#endif
