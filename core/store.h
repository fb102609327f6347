/*
 * The statements on devices and certificates (see sql/schema.sql), over
 * the PostgreSQL layer (core/pg.h): every call here is one prepared
 * statement, asynchronous on the caller's event_base.  Each operation
 * completes through its callback, never from inside the call that started
 * it.  While the database is unreachable, operations fail fast with
 * STORE_ETEMP (answer the XMPP peer with a `wait` error) and the layer
 * reconnects with backoff.  Every write is a single statement, so a lost
 * connection never leaves half a registration behind (a write that timed
 * out may still have committed: registration is idempotent, so retrying
 * is safe).
 *
 * The store LISTENs on the channels the schema's triggers NOTIFY
 * (xpushd_devices, xpushd_certificates) and passes what it hears on: a
 * device change to store_on_device_change()'s callback (the registry,
 * core/registry.c, keeps its node cache coherent with it), a certificate
 * change to store_on_certificate_change()'s.  There is no cache here.
 *
 * Callbacks must not call store_free().  Pointers handed to a callback are
 * valid only during the call: copy what you keep.  store_free() calls every
 * callback still pending, synchronously, with STORE_ETEMP.
 */
#ifndef XP_STORE_H
#define XP_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct event_base;
struct store;

/* The same values as enum pg_status (core/pg.h). */
enum store_status {
	STORE_OK = 0,
	STORE_NOTFOUND,		/* no such row */
	STORE_ETEMP,		/* database down, timeout, overload: retry */
	STORE_EINVAL,		/* the database refused the data (bad UTF-8) */
	STORE_EFAIL,		/* anything else: schema missing, bug */
};

struct store_conf {
	const char	*conninfo;	/* libpq URI or "key=value" string */
	int		 pool_size;	/* connections, >= 1; one LISTENs */
	int		 query_timeout_ms;
	int		 connect_timeout_ms;
};

struct store_device {
	char		*owner;		/* bare JID */
	char		*provider;
	char		*token;
	char		*voip_token;	/* NULL if none */
	char		*node;
	char		*secret;
	time_t		 created, updated;
	time_t		 last_push;	/* 0 if never */
	time_t		 last_error;	/* 0 if never */
	char		*last_error_text; /* NULL if none */
	bool		 inserted;	/* store_device_register: row is new */
	/* p2 registrations (core/p2.c) only; NULL for the others. */
	char		*p2_device;	/* the device fingerprint */
	char		*p2_channel;	/* "" or the channel fingerprint */
	char		*p2_muc;	/* the channel's bare JID, or NULL */
};

/*
 * A p2 registration (core/p2.c): its node starts with
 * STORE_P2_NODE_PREFIX, which no other node does (they are base64url),
 * so that the registry knows a p2 node before it has the row.
 */
#define STORE_P2_NODE_PREFIX	"p2."
struct store_p2_reg {
	const char	*owner;		/* bare JID */
	const char	*provider;
	const char	*token;
	const char	*device;	/* device fingerprint */
	const char	*channel;	/* channel fingerprint, or NULL */
	const char	*muc;		/* with channel: the group chat */
};

struct store_cert {
	char		*provider;
	unsigned char	*pkcs12;	/* NULL when PEM is used */
	size_t		 pkcs12_len;
	char		*password;	/* NULL for none */
	char		*cert_pem;	/* NULL when PKCS#12 is used */
	char		*key_pem;
	time_t		 not_after;	/* 0 if unknown */
	time_t		 updated;	/* ignored by store_cert_put */
};

struct store_stats {
	uint64_t	 queries;	/* statements sent */
	uint64_t	 errors;	/* failed statements, incl. fail-fast */
	uint64_t	 timeouts;
	uint64_t	 cache_hits;	/* the registry's node cache: */
	uint64_t	 cache_misses;	/* see struct store_cache_counters */
	uint64_t	 cache_evictions;
	uint64_t	 notifications;	/* NOTIFY messages received */
	uint64_t	 reconnects;	/* connections (re-)established */
	size_t		 cache_entries;
	int		 connections;	/* ready connections */
	bool		 listening;	/* the LISTEN connection is up */
	bool		 up;		/* at least one connection is ready */
};

/* status, the row(s) or NULL, and a message when status != STORE_OK. */
typedef void store_done_cb(void *, enum store_status, const char *);
typedef void store_device_cb(void *, enum store_status,
    const struct store_device *, const char *);
typedef void store_devices_cb(void *, enum store_status,
    const struct store_device *, size_t, const char *);
typedef void store_count_cb(void *, enum store_status, long long,
    const char *);
typedef void store_cert_cb(void *, enum store_status,
    const struct store_cert *, const char *);
typedef void store_certs_cb(void *, enum store_status,
    const struct store_cert *, size_t, const char *);
/* provider id, or NULL: everything may have changed (reconnect, TRUNCATE). */
typedef void store_cert_change_cb(void *, const char *);

enum store_change {
	STORE_CHANGED_NODE,	/* node's row changed or is gone */
	STORE_CHANGED_ALL,	/* any row may have changed (TRUNCATE, or
				   notifications were missed) */
	STORE_CHANGES_UNSEEN,	/* LISTEN went down, or just came up: a
				   change may go (or have gone) unnoticed */
};
/*
 * node for STORE_CHANGED_NODE, else NULL.  Told for every NOTIFY on the
 * devices channel, and at once for every row this store deleted (before
 * the caller's callback, ahead of the NOTIFY that follows).
 */
typedef void store_device_change_cb(void *, enum store_change,
    const char *node);

/*
 * The node cache's counters.  The cache is the registry's; they are kept
 * here so that store_stats_get() reports the database and its cache as
 * one (/metrics): the registry writes them, nothing else does.
 */
struct store_cache_counters {
	uint64_t	 hits;
	uint64_t	 misses;
	uint64_t	 evictions;
	size_t		 entries;
};

void		 store_conf_defaults(struct store_conf *);
struct store	*store_new(struct event_base *, const struct store_conf *,
		    char **);
void		 store_free(struct store **);
void		 store_stats_get(const struct store *, struct store_stats *);
const char	*store_status_str(enum store_status);
/* Whether the LISTEN connection is up: changes are being heard. */
bool		 store_listening(const struct store *);
struct store_cache_counters *store_cache_counters(struct store *);
void		 store_on_device_change(struct store *,
		    store_device_change_cb *, void *);

/* Devices. */
void	store_device_register(struct store *, const char *owner,
	    const char *provider, const char *token, const char *voip_token,
	    store_device_cb *, void *);
/*
 * p2: registers (owner, provider, device, channel) or takes its new token,
 * keeping node and secret; removes the device's channel registration, or
 * with channel NULL every registration of the device with provider
 * (STORE_NOTFOUND when there was none).
 */
void	store_p2_register(struct store *, const struct store_p2_reg *,
	    store_device_cb *, void *);
void	store_p2_unregister(struct store *, const char *owner,
	    const char *provider, const char *device, const char *channel,
	    store_done_cb *, void *);
void	store_device_unregister(struct store *, const char *owner,
	    const char *provider, const char *token, store_done_cb *, void *);
void	store_device_delete(struct store *, const char *node,
	    store_done_cb *, void *);
/*
 * Clears the VoIP token of node if it is still voip_token (STORE_NOTFOUND
 * when the row is gone or holds another VoIP token by now).
 */
void	store_device_forget_voip(struct store *, const char *node,
	    const char *voip_token, store_done_cb *, void *);
void	store_device_lookup(struct store *, const char *node,
	    store_device_cb *, void *);
/*
 * The rows of nodes[0..n) (n >= 1) in one statement: one device per node
 * that exists, in no particular order; a node not found has no row.  Only
 * what a push needs is read: created, updated, last_error and
 * last_error_text are 0 or NULL.
 */
void	store_device_lookup_many(struct store *, const char *const *nodes,
	    size_t n, store_devices_cb *, void *);
void	store_device_lookup_token(struct store *, const char *provider,
	    const char *token, store_devices_cb *, void *);
void	store_device_list_owner(struct store *, const char *owner,
	    store_devices_cb *, void *);
void	store_device_delete_owner(struct store *, const char *owner,
	    store_count_cb *, void *);
void	store_device_count_provider(struct store *, const char *provider,
	    store_count_cb *, void *);
/* last_push = now() for nodes[0..n), in one statement; n >= 1. */
void	store_device_mark_pushed(struct store *, const char *const *nodes,
	    size_t n, store_done_cb *, void *);
void	store_device_mark_error(struct store *, const char *node,
	    const char *reason, store_done_cb *, void *);

/* Certificates. */
void	store_cert_get(struct store *, const char *provider,
	    store_cert_cb *, void *);
void	store_cert_put(struct store *, const struct store_cert *,
	    store_done_cb *, void *);
void	store_cert_delete(struct store *, const char *provider,
	    store_done_cb *, void *);
void	store_cert_list(struct store *, store_certs_cb *, void *);
void	store_on_certificate_change(struct store *, store_cert_change_cb *,
	    void *);
/*
 * Claims the warning (provider, certificate, level) for this process:
 * STORE_OK when no process sent it within the last repeat seconds (the
 * caller sends it now), STORE_NOTFOUND when one did (table cert_warnings).
 */
void	store_cert_warning_claim(struct store *, const char *provider,
	    const char *certificate, const char *level, long long repeat,
	    store_done_cb *, void *);

#endif
