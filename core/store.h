/*
 * PostgreSQL storage for devices and certificates (see sql/schema.sql).
 *
 * Everything but the migration helpers is asynchronous on the caller's
 * event_base and never blocks it: a small pool of libpq connections in
 * pipeline mode runs prepared statements; each operation completes through
 * its callback, never from inside the call that started it.  While the
 * database is unreachable, operations fail fast with STORE_ETEMP (answer the
 * XMPP peer with a `wait` error) and the store reconnects with backoff.
 *
 * A bounded cache maps node -> device for the publish hot path; it is filled
 * on lookup misses and kept coherent across processes by LISTEN on the
 * channels the schema's triggers NOTIFY (xpushd_devices, xpushd_certificates).
 * To stay small (core/devcache.c) it keeps only what a publish needs: a
 * device that comes from it has `cached` set, no secret (check one with
 * store_device_secret_ok()) and no created, updated, last_error or
 * last_error_text.
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
	size_t		 cache_size;	/* cached devices; 0 disables */
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
	/*
	 * From the cache: secret is NULL, created, updated and last_error
	 * are 0, last_error_text is NULL; has_secret and secret_tag stand
	 * for the secret, for store_device_secret_ok() only.
	 */
	bool		 cached;
	bool		 has_secret;
	uint64_t	 secret_tag;
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
	uint64_t	 cache_hits;
	uint64_t	 cache_misses;
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

void		 store_conf_defaults(struct store_conf *);
struct store	*store_new(struct event_base *, const struct store_conf *,
		    char **);
void		 store_free(struct store **);
void		 store_stats_get(const struct store *, struct store_stats *);
const char	*store_status_str(enum store_status);

/* Devices. */
void	store_device_register(struct store *, const char *owner,
	    const char *provider, const char *token, const char *voip_token,
	    store_device_cb *, void *);
void	store_device_unregister(struct store *, const char *owner,
	    const char *provider, const char *token, store_done_cb *, void *);
void	store_device_delete(struct store *, const char *node,
	    store_done_cb *, void *);
void	store_device_lookup(struct store *, const char *node,
	    store_device_cb *, void *);
void	store_device_lookup_token(struct store *, const char *provider,
	    const char *token, store_devices_cb *, void *);
void	store_device_list_owner(struct store *, const char *owner,
	    store_devices_cb *, void *);
void	store_device_delete_owner(struct store *, const char *owner,
	    store_count_cb *, void *);
void	store_device_count_provider(struct store *, const char *provider,
	    store_count_cb *, void *);
void	store_device_mark_push(struct store *, const char *node,
	    store_done_cb *, void *);
void	store_device_mark_error(struct store *, const char *node,
	    const char *reason, store_done_cb *, void *);

/*
 * The cached device for node, or NULL.  Never touches the database.  The
 * device is decoded into storage of the store that the next
 * store_cache_get() overwrites: copy what you keep, and do not hold it
 * across the event loop.
 */
const struct store_device *store_cache_get(struct store *, const char *node);
/*
 * When node was last pushed to, if it is cached: no decoding, no scratch
 * storage, and not counted as a hit (the publish path asks after a send).
 */
bool	store_cache_last_push(struct store *, const char *node, time_t *);

/*
 * Whether presented is d's publish secret, for a device from the cache or
 * from the database alike, compared in constant time.  A device without a
 * secret refuses every presented secret; presented NULL is refused too.
 */
bool	store_device_secret_ok(struct store *, const struct store_device *d,
	    const char *presented);

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
 * Schema migrations: blocking, for `xpushd --migrate` and start-up, before
 * the event loop runs.  dir holds NNN-name.sql files.  target 0 means the
 * newest.  Both return STORE_OK, STORE_ETEMP (cannot connect) or
 * STORE_EFAIL, with a message for the operator in *err (free it).
 */
enum store_status store_migrate(const char *conninfo, const char *dir,
	    int target, int *applied_r, char **err);
enum store_status store_schema_check(const char *conninfo, const char *dir,
	    char **err);

#endif
