/*
 * PostgreSQL storage: an asynchronous libpq client on the daemon's
 * event_base, in the manner of Dovecot's driver-pgsql.
 *
 * The store keeps pool_size connections.  Each is driven by one state
 * machine (conn_state): PQconnectStartParams/PQconnectPoll on socket events,
 * then pipeline mode, where the statements are prepared (and connection 0
 * LISTENs), then ready.  Every statement goes out as PQsendQueryPrepared
 * followed by its own PQpipelineSync, so several statements are in flight
 * on one connection at once while an error in one cannot abort the others
 * (each sync point is its own implicit transaction).  Results come back in
 * order; each in-flight query walks result -> NULL -> PGRES_PIPELINE_SYNC.
 *
 * Failure handling: each connection sets statement_timeout a little below
 * query_timeout_ms, so a statement stuck behind a lock is cancelled by the
 * server (STORE_ETEMP, nothing written late, connection kept).  If our own
 * timer fires first the connection is reset (libpq 15 has no non-blocking
 * cancel), failing everything in flight there with STORE_ETEMP.  While no
 * connection is ready after a failure, new queries fail at once, but always
 * through a deferred event so that callbacks never run inside the call that
 * started the operation.  Connections come back with exponential backoff.
 * Every write is a single statement, so a lost connection never leaves half
 * a registration behind (a write that timed out may still have committed:
 * registration is idempotent, so retrying is safe).
 *
 * Cache coherence: the cache is only filled while the LISTEN connection is
 * up, and only with results of lookups during whose flight no invalidation
 * arrived for their node (store_uncache), so a NOTIFY racing with a lookup
 * result on another connection cannot leave a stale entry behind.  When
 * the LISTEN connection comes back, notifications may have been missed: the
 * cache is flushed and the certificate callback is told that everything may
 * have changed.
 * While the database is away, cached entries keep serving publishes.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/queue.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <libpq-fe.h>

#include "core/devcache.h"
#include "core/log.h"
#include "core/rand.h"
#include "core/store.h"
#include "core/xmalloc.h"

#define STORE_MAXPARAMS		8
#define STORE_MARK_BATCH_MAX	1000	/* devices per last_push UPDATE */
#define STORE_MARK_BATCH_SECONDS 1	/* at the latest, then it is written */
#define CONN_MAX_INFLIGHT	64
#define BACKOFF_MIN_MS		100
#define BACKOFF_MAX_MS		5000
#define CHANNEL_DEVICES		"xpushd_devices"
#define CHANNEL_CERTS		"xpushd_certificates"
/* Serialises concurrent `xpushd --migrate` runs (pg_advisory_xact_lock). */
#define MIGRATE_LOCK_KEY	"7870757368640001"

struct query;
struct store;

/* How a finished statement's result reaches the caller. */
typedef void query_finish_fn(struct query *, enum store_status, PGresult *,
    const char *);

enum stmt_id {
	ST_REGISTER,
	ST_UNREGISTER,
	ST_DELETE_NODE,
	ST_LOOKUP_NODE,
	ST_LOOKUP_TOKEN,
	ST_LIST_OWNER,
	ST_DELETE_OWNER,
	ST_COUNT_PROVIDER,
	ST_MARK_PUSH,
	ST_MARK_PUSH_MANY,
	ST_MARK_ERROR,
	ST_CERT_GET,
	ST_CERT_PUT,
	ST_CERT_DELETE,
	ST_CERT_LIST,
	ST_COUNT
};

struct stmt {
	const char		*name;
	const char		*sql;
	int			 nparams;
	query_finish_fn		*finish;
};

union query_cb {
	store_done_cb		*done;
	store_device_cb		*device;
	store_devices_cb	*devices;
	store_count_cb		*count;
	store_cert_cb		*cert;
	store_certs_cb		*certs;
};

enum query_stage {
	Q_PENDING,		/* queued in the store, not sent */
	Q_RESULT,		/* sent, waiting for its result */
	Q_NULL,			/* got the result, waiting for the NULL */
	Q_SYNC,			/* waiting for PGRES_PIPELINE_SYNC */
	Q_DONE,			/* waiting in the deferred-completion queue */
};

enum query_kind {
	QK_USER,		/* a prepared statement for a caller */
	QK_PREPARE,		/* connection setup: PQsendPrepare */
	QK_SETUP,		/* connection setup: SET, LISTEN */
};

struct query {
	TAILQ_ENTRY(query)	 entry;
	struct store		*store;
	struct conn		*conn;
	enum query_kind		 kind;
	enum query_stage	 stage;
	const struct stmt	*stmt;
	const char		*text;		/* QK_SETUP */
	char			*params[STORE_MAXPARAMS];
	int			 lengths[STORE_MAXPARAMS];
	int			 formats[STORE_MAXPARAMS];
	int			 nparams;
	struct event		*timer;
	PGresult		*res;
	union query_cb		 cb;
	void			*arg;
	/* Deferred completion. */
	enum store_status	 status;
	char			*err;
	struct store_device	*cached;	/* a cache hit, copied */
	bool			 cacheable;	/* result may fill the cache */
};
TAILQ_HEAD(queryq, query);

enum conn_state {
	CONN_IDLE,		/* not connected; maybe waiting to retry */
	CONN_CONNECTING,	/* PQconnectPoll */
	CONN_SETUP,		/* preparing statements, LISTEN */
	CONN_READY,
};

struct conn {
	struct store		*store;
	int			 id;
	bool			 listener;
	enum conn_state		 state;
	PGconn			*pg;
	struct event		*ev_io;
	struct event		*ev_write;
	struct event		*ev_timer;	/* connect timeout, backoff */
	int			 backoff_ms;
	bool			 warned;	/* logged this outage already */
	struct queryq		 inflight;
	int			 ninflight;
	int			 nsetup;
};

struct store {
	struct event_base	*base;
	char			*conninfo;
	char			*timeout_sql;	/* SET statement_timeout */
	int			 query_timeout_ms;
	int			 connect_timeout_ms;
	struct conn		*conns;
	int			 nconns;
	struct queryq		 pending;
	struct queryq		 done;
	struct event		*ev_done;
	bool			 down;		/* known down: fail fast */
	bool			 listening;
	bool			 listened_before;
	bool			 closing;
	struct store_stats	 stats;
	store_cert_change_cb	*cert_cb;
	void			*cert_arg;
	struct devcache		*cache;		/* NULL: cache-size 0 */
	/* last_push bookkeeping without a callback, written in batches. */
	struct evbuffer		*marks;		/* "{"n1","n2"…" */
	size_t			 nmarks;
	struct event		*ev_marks;
};

static query_finish_fn	finish_device, finish_devices, finish_done,
			finish_count, finish_cert, finish_certs;
static void		store_marks_cb(evutil_socket_t, short, void *);

#define DEVICE_COLS \
	"owner, provider, token, voip_token, node, secret, " \
	"floor(extract(epoch FROM created))::bigint, " \
	"floor(extract(epoch FROM updated))::bigint, " \
	"floor(extract(epoch FROM last_push))::bigint, " \
	"floor(extract(epoch FROM last_error))::bigint, " \
	"last_error_text"
#define CERT_COLS \
	"provider, pkcs12, password, cert_pem, key_pem, " \
	"floor(extract(epoch FROM not_after))::bigint, " \
	"floor(extract(epoch FROM updated))::bigint"

/*
 * Re-registering keeps node and secret (the conflict branch does not touch
 * them) and replaces the VoIP token with whatever the device sent now.
 * xmax = 0 is true only for a freshly inserted row.
 */
static const struct stmt stmts[ST_COUNT] = {
	[ST_REGISTER] = { "xp_register",
	    "INSERT INTO devices (owner, provider, token, voip_token, node, "
	    "secret) VALUES ($1, $2, $3, $4, $5, $6) "
	    "ON CONFLICT (owner, provider, token) DO UPDATE SET "
	    "voip_token = EXCLUDED.voip_token, updated = now() "
	    "RETURNING " DEVICE_COLS ", (xmax = 0)", 6, finish_device },
	[ST_UNREGISTER] = { "xp_unregister",
	    "DELETE FROM devices WHERE owner = $1 AND provider = $2 AND "
	    "token = $3 RETURNING node", 3, finish_done },
	[ST_DELETE_NODE] = { "xp_delete_node",
	    "DELETE FROM devices WHERE node = $1 RETURNING node", 1,
	    finish_done },
	[ST_LOOKUP_NODE] = { "xp_lookup_node",
	    "SELECT " DEVICE_COLS " FROM devices WHERE node = $1", 1,
	    finish_device },
	[ST_LOOKUP_TOKEN] = { "xp_lookup_token",
	    "SELECT " DEVICE_COLS " FROM devices WHERE provider = $1 AND "
	    "token = $2 ORDER BY id", 2, finish_devices },
	[ST_LIST_OWNER] = { "xp_list_owner",
	    "SELECT " DEVICE_COLS " FROM devices WHERE owner = $1 "
	    "ORDER BY id", 1, finish_devices },
	[ST_DELETE_OWNER] = { "xp_delete_owner",
	    "DELETE FROM devices WHERE owner = $1 RETURNING node", 1,
	    finish_count },
	[ST_COUNT_PROVIDER] = { "xp_count_provider",
	    "SELECT count(*) FROM devices WHERE provider = $1", 1,
	    finish_count },
	[ST_MARK_PUSH] = { "xp_mark_push",
	    "UPDATE devices SET last_push = now() WHERE node = $1", 1,
	    finish_done },
	[ST_MARK_PUSH_MANY] = { "xp_mark_push_many",
	    "UPDATE devices SET last_push = now() WHERE node = ANY($1::text[])",
	    1, finish_done },
	[ST_MARK_ERROR] = { "xp_mark_error",
	    "UPDATE devices SET last_error = now(), last_error_text = $2 "
	    "WHERE node = $1", 2, finish_done },
	[ST_CERT_GET] = { "xp_cert_get",
	    "SELECT " CERT_COLS " FROM certificates WHERE provider = $1", 1,
	    finish_cert },
	[ST_CERT_PUT] = { "xp_cert_put",
	    "INSERT INTO certificates (provider, pkcs12, password, cert_pem, "
	    "key_pem, not_after) VALUES ($1, $2, $3, $4, $5, "
	    "to_timestamp($6::bigint)) ON CONFLICT (provider) DO UPDATE SET "
	    "pkcs12 = EXCLUDED.pkcs12, password = EXCLUDED.password, "
	    "cert_pem = EXCLUDED.cert_pem, key_pem = EXCLUDED.key_pem, "
	    "not_after = EXCLUDED.not_after, updated = now()", 6,
	    finish_done },
	[ST_CERT_DELETE] = { "xp_cert_delete",
	    "DELETE FROM certificates WHERE provider = $1", 1, finish_done },
	[ST_CERT_LIST] = { "xp_cert_list",
	    "SELECT " CERT_COLS " FROM certificates ORDER BY provider", 0,
	    finish_certs },
};

static void	conn_connect(struct conn *);
static void	conn_fail(struct conn *, const char *);
static void	conn_flush(struct conn *);
static void	conn_poll_cb(evutil_socket_t, short, void *);
static void	conn_send(struct conn *, struct query *);
static void	store_dispatch(struct store *);
static void	store_update_up(struct store *);
static void	cache_drop(struct store *, const char *);
static void	cache_flush(struct store *);
static void	store_uncache(struct store *, const char *);

/*
 * Devices.
 */

static void
device_copy(struct store_device *dst, const struct store_device *src)
{
	*dst = *src;
	dst->owner = xstrdup(src->owner);
	dst->provider = xstrdup(src->provider);
	dst->token = xstrdup(src->token);
	dst->voip_token = src->voip_token ? xstrdup(src->voip_token) : NULL;
	dst->node = xstrdup(src->node);
	dst->secret = src->secret ? xstrdup(src->secret) : NULL;
	dst->last_error_text = src->last_error_text ?
	    xstrdup(src->last_error_text) : NULL;
}

static void
device_clear(struct store_device *d)
{
	free(d->owner);
	free(d->provider);
	free(d->token);
	free(d->voip_token);
	free(d->node);
	free(d->secret);
	free(d->last_error_text);
	memset(d, 0, sizeof(*d));
}

static char *
res_str(PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return NULL;
	return PQgetvalue(res, row, col);
}

static time_t
res_time(PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return 0;
	return (time_t)strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* Points into res: valid until PQclear(res). */
static void
device_from_row(struct store_device *d, PGresult *res, int row)
{
	memset(d, 0, sizeof(*d));
	d->owner = res_str(res, row, 0);
	d->provider = res_str(res, row, 1);
	d->token = res_str(res, row, 2);
	d->voip_token = res_str(res, row, 3);
	d->node = res_str(res, row, 4);
	d->secret = res_str(res, row, 5);
	d->created = res_time(res, row, 6);
	d->updated = res_time(res, row, 7);
	d->last_push = res_time(res, row, 8);
	d->last_error = res_time(res, row, 9);
	d->last_error_text = res_str(res, row, 10);
	if (PQnfields(res) > 11)
		d->inserted = strcmp(PQgetvalue(res, row, 11), "t") == 0;
}

/* Allocates the PKCS#12 bytes; free cert->pkcs12 afterwards. */
static void
cert_from_row(struct store_cert *c, PGresult *res, int row)
{
	const char *hex;

	memset(c, 0, sizeof(*c));
	c->provider = res_str(res, row, 0);
	if ((hex = res_str(res, row, 1)) != NULL) {
		c->pkcs12 = PQunescapeBytea((const unsigned char *)hex,
		    &c->pkcs12_len);
		if (c->pkcs12 == NULL)
			fatalx("PQunescapeBytea: out of memory");
	}
	c->password = res_str(res, row, 2);
	c->cert_pem = res_str(res, row, 3);
	c->key_pem = res_str(res, row, 4);
	c->not_after = res_time(res, row, 5);
	c->updated = res_time(res, row, 6);
}

/*
 * Cache: node -> device, bounded, in core/devcache.c.  These wrappers keep
 * the statistics and make cache-size 0 a cache that holds nothing.
 */

static void
cache_put(struct store *s, const struct store_device *d)
{
	struct devcache_stats st;

	if (s->cache == NULL)
		return;
	if (!devcache_put(s->cache, d))
		log_debug("device %s not cached: too large", d->node);
	devcache_stats_get(s->cache, &st);
	s->stats.cache_evictions = st.evictions;
	s->stats.cache_entries = st.entries;
}

static void
cache_drop(struct store *s, const char *node)
{
	if (s->cache != NULL && devcache_drop(s->cache, node))
		s->stats.cache_entries--;
}

static void
cache_flush(struct store *s)
{
	if (s->cache == NULL)
		return;
	devcache_flush(s->cache);
	s->stats.cache_entries = 0;
}

static void
cache_set_last_push(struct store *s, const char *node)
{
	if (s->cache != NULL)
		devcache_set_last_push(s->cache, node, time(NULL));
}

bool
store_cache_last_push(struct store *s, const char *node, time_t *t_r)
{
	return s->cache != NULL && devcache_last_push(s->cache, node, t_r);
}

const struct store_device *
store_cache_get(struct store *s, const char *node)
{
	const struct store_device *d;

	if (s->cache == NULL || (d = devcache_get(s->cache, node)) == NULL) {
		s->stats.cache_misses++;
		return NULL;
	}
	s->stats.cache_hits++;
	return d;
}

bool
store_device_secret_ok(struct store *s, const struct store_device *d,
    const char *presented)
{
	size_t la, lb, i;
	unsigned char diff;

	if (presented == NULL)
		return false;
	if (d->cached)
		return s->cache != NULL &&
		    devcache_secret_ok(s->cache, d, presented);
	if (d->secret == NULL)
		return false;
	/* The time taken depends on the lengths only, never the bytes. */
	la = strlen(presented);
	lb = strlen(d->secret);
	diff = la != lb;
	for (i = 0; i < la && i < lb; i++)
		diff |= (unsigned char)(presented[i] ^ d->secret[i]);
	return diff == 0;
}

/*
 * Queries.
 */

static void
query_free(struct query *q)
{
	int i;

	for (i = 0; i < q->nparams; i++)
		free(q->params[i]);
	if (q->timer != NULL)
		event_free(q->timer);
	if (q->res != NULL)
		PQclear(q->res);
	if (q->cached != NULL) {
		device_clear(q->cached);
		free(q->cached);
	}
	free(q->err);
	free(q);
}

/* Hands the outcome to the statement's finisher, then frees q. */
static void
query_finish(struct query *q, enum store_status st, PGresult *res,
    const char *err)
{
	struct store *s = q->store;

	if (st != STORE_OK && st != STORE_NOTFOUND)
		s->stats.errors++;
	if (q->kind == QK_USER)
		q->stmt->finish(q, st, res, err);
	query_free(q);
}

/* Completes q from the deferred-completion event, never re-entrantly. */
static void
query_defer(struct query *q, enum store_status st, const char *err)
{
	struct store *s = q->store;

	if (q->timer != NULL)
		event_del(q->timer);
	q->stage = Q_DONE;
	q->status = st;
	free(q->err);
	q->err = err != NULL ? xstrdup(err) : NULL;
	if (s->closing) {
		query_finish(q, st, NULL, err);
		return;
	}
	TAILQ_INSERT_TAIL(&s->done, q, entry);
	event_active(s->ev_done, EV_TIMEOUT, 1);
}

static void
store_deferred_cb(evutil_socket_t fd, short what, void *arg)
{
	struct store *s = arg;
	struct queryq batch;
	struct query *q;

	/* Completions queued by these callbacks wait for the next round. */
	TAILQ_INIT(&batch);
	TAILQ_CONCAT(&batch, &s->done, entry);
	while ((q = TAILQ_FIRST(&batch)) != NULL) {
		TAILQ_REMOVE(&batch, q, entry);
		if (q->cached != NULL) {
			q->cb.device(q->arg, STORE_OK, q->cached, NULL);
			query_free(q);
		} else
			query_finish(q, q->status, NULL, q->err);
	}
}

static void
query_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct query *q = arg;
	struct store *s = q->store;
	char msg[128];

	s->stats.timeouts++;
	snprintf(msg, sizeof(msg), "database query %s timed out after %d ms",
	    q->stmt->name, s->query_timeout_ms);
	if (q->stage == Q_PENDING) {
		TAILQ_REMOVE(&s->pending, q, entry);
		query_defer(q, STORE_ETEMP, msg);
	} else
		/*
		 * Pipelined results arrive in order, so a stuck statement
		 * holds up everything behind it: start over.
		 */
		conn_fail(q->conn, msg);
}

static struct query *
query_new(struct store *s, enum stmt_id id, void *arg)
{
	struct query *q;

	q = xcalloc(1, sizeof(*q));
	q->store = s;
	q->kind = QK_USER;
	q->stmt = &stmts[id];
	q->arg = arg;
	return q;
}

static void
query_param(struct query *q, const char *v)
{
	if (q->nparams >= STORE_MAXPARAMS)
		fatalx("%s: too many parameters", __func__);
	q->params[q->nparams] = v != NULL ? xstrdup(v) : NULL;
	q->lengths[q->nparams] = 0;
	q->formats[q->nparams] = 0;
	q->nparams++;
}

static void
query_param_bin(struct query *q, const void *v, size_t len)
{
	if (q->nparams >= STORE_MAXPARAMS)
		fatalx("%s: too many parameters", __func__);
	if (len > INT32_MAX)
		fatalx("%s: parameter too long", __func__);
	q->params[q->nparams] = v != NULL ? xmemdup(v, len == 0 ? 1 : len) :
	    NULL;
	q->lengths[q->nparams] = (int)len;
	q->formats[q->nparams] = 1;
	q->nparams++;
}

static void
query_submit(struct query *q)
{
	struct store *s = q->store;

	if (q->nparams != q->stmt->nparams)
		fatalx("%s: %s takes %d parameters, got %d", __func__,
		    q->stmt->name, q->stmt->nparams, q->nparams);
	q->cacheable = s->listening;
	if (s->closing || s->down) {
		query_defer(q, STORE_ETEMP, s->closing ?
		    "store is shutting down" : "database unavailable");
		return;
	}
	q->timer = evtimer_new(s->base, query_timeout_cb, q);
	if (q->timer == NULL)
		fatalx("evtimer_new");
	if (s->query_timeout_ms > 0) {
		struct timeval tv;

		tv.tv_sec = s->query_timeout_ms / 1000;
		tv.tv_usec = (s->query_timeout_ms % 1000) * 1000;
		evtimer_add(q->timer, &tv);
	}
	q->stage = Q_PENDING;
	TAILQ_INSERT_TAIL(&s->pending, q, entry);
	store_dispatch(s);
}

/* Maps a failed result to a status; class 08 (connection), 40 (rollback),
 * 53 (resources), 57 (operator intervention) are worth retrying. */
static enum store_status
status_of(PGresult *res, const char **msg_r)
{
	const char *state, *msg;

	switch (PQresultStatus(res)) {
	case PGRES_COMMAND_OK:
	case PGRES_TUPLES_OK:
		*msg_r = NULL;
		return STORE_OK;
	case PGRES_PIPELINE_ABORTED:
		*msg_r = "pipeline aborted";
		return STORE_ETEMP;
	default:
		break;
	}
	msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	*msg_r = msg != NULL ? msg : PQresultErrorMessage(res);
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (state == NULL)
		return STORE_ETEMP;
	if (strncmp(state, "08", 2) == 0 || strncmp(state, "40", 2) == 0 ||
	    strncmp(state, "53", 2) == 0 || strncmp(state, "57", 2) == 0)
		return STORE_ETEMP;
	if (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0)
		return STORE_EINVAL;
	return STORE_EFAIL;
}

/*
 * Finishers: turn a PGresult into the caller's callback.  res is NULL
 * when the query never ran (status says why).
 */

static void
finish_device(struct query *q, enum store_status st, PGresult *res,
    const char *err)
{
	struct store *s = q->store;
	struct store_device d;

	if (st == STORE_OK && PQntuples(res) == 0)
		st = STORE_NOTFOUND;
	if (st != STORE_OK) {
		if (q->cb.device != NULL)
			q->cb.device(q->arg, st, NULL, err != NULL ? err :
			    "no such device");
		return;
	}
	device_from_row(&d, res, 0);
	if (q->stmt == &stmts[ST_LOOKUP_NODE] && q->cacheable &&
	    s->listening)
		cache_put(s, &d);
	if (q->cb.device != NULL)
		q->cb.device(q->arg, STORE_OK, &d, NULL);
}

static void
finish_devices(struct query *q, enum store_status st, PGresult *res,
    const char *err)
{
	struct store_device *v;
	int i, n;

	if (st != STORE_OK) {
		if (q->cb.devices != NULL)
			q->cb.devices(q->arg, st, NULL, 0, err);
		return;
	}
	n = PQntuples(res);
	v = xcalloc(n > 0 ? n : 1, sizeof(*v));
	for (i = 0; i < n; i++)
		device_from_row(&v[i], res, i);
	if (q->cb.devices != NULL)
		q->cb.devices(q->arg, STORE_OK, v, n, NULL);
	free(v);
}

/* Rows a write touched; RETURNING node rows leave the cache right away,
 * before the NOTIFY comes round. */
static long long
touched(struct store *s, PGresult *res)
{
	int i;

	if (PQnfields(res) == 1 && strcmp(PQfname(res, 0), "node") == 0) {
		for (i = 0; i < PQntuples(res); i++)
			cache_drop(s, PQgetvalue(res, i, 0));
		return PQntuples(res);
	}
	return strtoll(PQcmdTuples(res), NULL, 10);
}

static void
finish_done(struct query *q, enum store_status st, PGresult *res,
    const char *err)
{
	struct store *s = q->store;

	if (st == STORE_OK && touched(s, res) == 0) {
		st = STORE_NOTFOUND;
		err = "no such row";
	}
	if (st == STORE_OK && q->stmt == &stmts[ST_MARK_PUSH])
		cache_set_last_push(s, q->params[0]);
	if (q->cb.done != NULL)
		q->cb.done(q->arg, st, err);
}

static void
finish_count(struct query *q, enum store_status st, PGresult *res,
    const char *err)
{
	long long n = 0;

	if (st == STORE_OK) {
		if (q->stmt == &stmts[ST_COUNT_PROVIDER])
			n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		else
			n = touched(q->store, res);
	}
	if (q->cb.count != NULL)
		q->cb.count(q->arg, st, n, err);
}

static void
finish_cert(struct query *q, enum store_status st, PGresult *res,
    const char *err)
{
	struct store_cert c;

	if (st == STORE_OK && PQntuples(res) == 0) {
		st = STORE_NOTFOUND;
		err = "no such certificate";
	}
	if (st != STORE_OK) {
		if (q->cb.cert != NULL)
			q->cb.cert(q->arg, st, NULL, err);
		return;
	}
	cert_from_row(&c, res, 0);
	if (q->cb.cert != NULL)
		q->cb.cert(q->arg, STORE_OK, &c, NULL);
	PQfreemem(c.pkcs12);
}

static void
finish_certs(struct query *q, enum store_status st, PGresult *res,
    const char *err)
{
	struct store_cert *v;
	int i, n;

	if (st != STORE_OK) {
		if (q->cb.certs != NULL)
			q->cb.certs(q->arg, st, NULL, 0, err);
		return;
	}
	n = PQntuples(res);
	v = xcalloc(n > 0 ? n : 1, sizeof(*v));
	for (i = 0; i < n; i++)
		cert_from_row(&v[i], res, i);
	if (q->cb.certs != NULL)
		q->cb.certs(q->arg, STORE_OK, v, n, NULL);
	for (i = 0; i < n; i++)
		PQfreemem(v[i].pkcs12);
	free(v);
}

/*
 * Connections.
 */

static void
conn_notice_cb(void *arg, const char *msg)
{
	struct conn *c = arg;

	log_debug("database connection %d: %.*s", c->id,
	    (int)strcspn(msg, "\n"), msg);
}

static void
conn_close(struct conn *c)
{
	if (c->ev_io != NULL) {
		event_free(c->ev_io);
		c->ev_io = NULL;
	}
	if (c->ev_write != NULL) {
		event_free(c->ev_write);
		c->ev_write = NULL;
	}
	if (c->pg != NULL) {
		PQfinish(c->pg);
		c->pg = NULL;
	}
	evtimer_del(c->ev_timer);
	c->state = CONN_IDLE;
	c->nsetup = 0;
}

static void
conn_retry_later(struct conn *c)
{
	struct timeval tv;
	uint16_t jitter;
	int ms;

	c->backoff_ms = c->backoff_ms == 0 ? BACKOFF_MIN_MS :
	    c->backoff_ms * 2;
	if (c->backoff_ms > BACKOFF_MAX_MS)
		c->backoff_ms = BACKOFF_MAX_MS;
	/* Spread reconnects of many processes over +-25%. */
	rand_bytes(&jitter, sizeof(jitter));
	ms = c->backoff_ms * 3 / 4 + (int)(jitter % (c->backoff_ms / 2 + 1));
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(c->ev_timer, &tv);
}

/*
 * The one exit for a connection that broke, timed out or failed to come
 * up: everything in flight on it fails with STORE_ETEMP (deferred), and a
 * reconnect is scheduled.
 */
static void
conn_fail(struct conn *c, const char *why)
{
	struct store *s = c->store;
	struct query *q;
	char msg[512];

	snprintf(msg, sizeof(msg), "database connection %d: %.*s", c->id,
	    (int)strcspn(why, "\n"), why);
	/* One warning per outage, not one per reconnect attempt. */
	if (!s->closing && (c->state == CONN_READY || !c->warned)) {
		log_warnx("%s", msg);
		c->warned = true;
	} else
		log_debug("%s", msg);
	while ((q = TAILQ_FIRST(&c->inflight)) != NULL) {
		TAILQ_REMOVE(&c->inflight, q, entry);
		if (q->kind == QK_USER)
			query_defer(q, STORE_ETEMP, msg);
		else
			query_free(q);
	}
	c->ninflight = 0;
	conn_close(c);
	if (c->listener && s->listening) {
		s->listening = false;
		store_uncache(s, NULL);
	}
	store_update_up(s);
	if (!s->closing)
		conn_retry_later(c);
}

/*
 * A lookup of node (NULL: any) still in flight may carry data older than an
 * invalidation that just arrived: its result must not fill the cache.
 */
static void
store_uncache(struct store *s, const char *node)
{
	struct query *q;
	int i;

	TAILQ_FOREACH(q, &s->pending, entry)
		if (q->stmt == &stmts[ST_LOOKUP_NODE] &&
		    (node == NULL || strcmp(q->params[0], node) == 0))
			q->cacheable = false;
	for (i = 0; i < s->nconns; i++)
		TAILQ_FOREACH(q, &s->conns[i].inflight, entry)
			if (q->kind == QK_USER &&
			    q->stmt == &stmts[ST_LOOKUP_NODE] &&
			    (node == NULL || strcmp(q->params[0], node) == 0))
				q->cacheable = false;
}

/* A connection became ready or went away: fail fast if none is left. */
static void
store_update_up(struct store *s)
{
	struct query *q;
	int i, n = 0;

	for (i = 0; i < s->nconns; i++)
		if (s->conns[i].state == CONN_READY)
			n++;
	s->stats.connections = n;
	s->stats.up = n > 0;
	s->stats.listening = s->listening;
	if (n > 0) {
		s->down = false;
		return;
	}
	/* Queued queries would wait for the timeout: fail them now. */
	for (i = 0; i < s->nconns; i++)
		if (s->conns[i].state != CONN_IDLE)
			return;
	s->down = true;
	while ((q = TAILQ_FIRST(&s->pending)) != NULL) {
		TAILQ_REMOVE(&s->pending, q, entry);
		query_defer(q, STORE_ETEMP, "database unavailable");
	}
}

static void
conn_ready(struct conn *c)
{
	struct store *s = c->store;

	if (c->warned)
		log_info("database connection %d: connected again", c->id);
	c->state = CONN_READY;
	c->backoff_ms = 0;
	c->warned = false;
	evtimer_del(c->ev_timer);
	s->stats.reconnects++;
	log_debug("database connection %d ready", c->id);
	if (c->listener) {
		s->listening = true;
		store_uncache(s, NULL);
		if (s->listened_before) {
			/* Missed notifications: trust nothing cached. */
			log_info("database notifications back; "
			    "dropping caches");
			cache_flush(s);
			if (s->cert_cb != NULL)
				s->cert_cb(s->cert_arg, NULL);
		}
		s->listened_before = true;
	}
	store_update_up(s);
	store_dispatch(s);
}

static void
conn_notifies(struct conn *c)
{
	struct store *s = c->store;
	PGnotify *n;

	while ((n = PQnotifies(c->pg)) != NULL) {
		s->stats.notifications++;
		if (strcmp(n->relname, CHANNEL_DEVICES) == 0) {
			if (strcmp(n->extra, "*") == 0) {
				cache_flush(s);
				store_uncache(s, NULL);
			} else {
				cache_drop(s, n->extra);
				store_uncache(s, n->extra);
			}
		} else if (strcmp(n->relname, CHANNEL_CERTS) == 0) {
			log_debug("certificate change: %s", n->extra);
			if (s->cert_cb != NULL)
				s->cert_cb(s->cert_arg,
				    strcmp(n->extra, "*") == 0 ? NULL :
				    n->extra);
		}
		PQfreemem(n);
		/* The callback may have reset us. */
		if (c->pg == NULL)
			return;
	}
}

/* A setup statement (PREPARE, LISTEN) came back. */
static void
conn_setup_done(struct conn *c, struct query *q)
{
	const char *msg;
	char buf[512];

	if (status_of(q->res, &msg) != STORE_OK) {
		snprintf(buf, sizeof(buf), "%s failed: %s%s",
		    q->kind == QK_SETUP ? q->text : "PREPARE", msg,
		    q->kind == QK_PREPARE ?
		    " (is the schema installed? run xpushd --migrate)" : "");
		query_free(q);
		conn_fail(c, buf);
		return;
	}
	query_free(q);
	if (--c->nsetup == 0)
		conn_ready(c);
}

/* Pulls every complete result libpq has buffered and finishes queries. */
static void
conn_results(struct conn *c)
{
	PGconn *pg = c->pg;
	struct query *q;
	enum store_status st;
	const char *msg;
	PGresult *res;

	while ((q = TAILQ_FIRST(&c->inflight)) != NULL) {
		if (PQisBusy(pg))
			return;
		res = PQgetResult(pg);
		switch (q->stage) {
		case Q_RESULT:
			if (res == NULL)
				return;
			if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
				PQclear(res);
				conn_fail(c, "pipeline out of step");
				return;
			}
			q->res = res;
			q->stage = Q_NULL;
			continue;
		case Q_NULL:
			if (res != NULL) {
				PQclear(res);	/* only one statement */
				continue;
			}
			q->stage = Q_SYNC;
			continue;
		case Q_SYNC:
			if (res == NULL)
				return;
			if (PQresultStatus(res) != PGRES_PIPELINE_SYNC) {
				PQclear(res);
				conn_fail(c, "pipeline out of step");
				return;
			}
			PQclear(res);
			break;
		default:
			fatalx("%s: query in stage %d", __func__, q->stage);
		}
		TAILQ_REMOVE(&c->inflight, q, entry);
		c->ninflight--;
		if (q->kind != QK_USER) {
			conn_setup_done(c, q);
		} else {
			res = q->res;
			q->res = NULL;
			st = status_of(res, &msg);
			query_finish(q, st, res, msg);
			PQclear(res);
		}
		/* A callback or a setup failure may have reset us. */
		if (c->pg != pg)
			return;
	}
}

static void
conn_io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	PGconn *pg = c->pg;

	if (what & EV_READ) {
		if (!PQconsumeInput(pg)) {
			conn_fail(c, PQerrorMessage(pg));
			return;
		}
		/*
		 * Results first: libpq parses a NOTIFY only once the
		 * results in front of it have been taken.
		 */
		conn_results(c);
		if (c->pg != pg)
			return;
		conn_notifies(c);
		if (c->pg != pg)
			return;
	}
	conn_flush(c);
	if (c->pg == pg && c->state == CONN_READY)
		store_dispatch(c->store);
}

static void
conn_flush(struct conn *c)
{
	switch (PQflush(c->pg)) {
	case 0:
		break;
	case 1:
		event_add(c->ev_write, NULL);
		break;
	default:
		conn_fail(c, PQerrorMessage(c->pg));
		break;
	}
}

static void
conn_send(struct conn *c, struct query *q)
{
	int r;

	switch (q->kind) {
	case QK_USER:
		r = PQsendQueryPrepared(c->pg, q->stmt->name, q->nparams,
		    (const char *const *)q->params, q->lengths, q->formats, 0);
		c->store->stats.queries++;
		break;
	case QK_PREPARE:
		r = PQsendPrepare(c->pg, q->stmt->name, q->stmt->sql,
		    q->stmt->nparams, NULL);
		break;
	case QK_SETUP:
		r = PQsendQueryParams(c->pg, q->text, 0, NULL, NULL, NULL,
		    NULL, 0);
		break;
	default:
		fatalx("%s: kind %d", __func__, q->kind);
	}
	if (r)
		r = PQpipelineSync(c->pg);
	q->conn = c;
	q->stage = Q_RESULT;
	TAILQ_INSERT_TAIL(&c->inflight, q, entry);
	c->ninflight++;
	if (!r)
		conn_fail(c, PQerrorMessage(c->pg));
}

/* Moves pending queries onto the least busy ready connections. */
static void
store_dispatch(struct store *s)
{
	struct conn *c, *best;
	struct query *q;
	bool sent[64] = { false };
	int i;

	while ((q = TAILQ_FIRST(&s->pending)) != NULL) {
		best = NULL;
		for (i = 0; i < s->nconns; i++) {
			c = &s->conns[i];
			if (c->state != CONN_READY ||
			    c->ninflight >= CONN_MAX_INFLIGHT)
				continue;
			if (best == NULL || c->ninflight < best->ninflight)
				best = c;
		}
		if (best == NULL)
			break;
		TAILQ_REMOVE(&s->pending, q, entry);
		conn_send(best, q);
		if (best->id < (int)(sizeof(sent) / sizeof(sent[0])))
			sent[best->id] = true;
	}
	for (i = 0; i < s->nconns && i < (int)(sizeof(sent) / sizeof(sent[0]));
	    i++)
		if (sent[i] && s->conns[i].state == CONN_READY)
			conn_flush(&s->conns[i]);
}

static void
conn_setup(struct conn *c)
{
	static const char *listens[] = {
		"LISTEN " CHANNEL_DEVICES, "LISTEN " CHANNEL_CERTS
	};
	struct store *s = c->store;
	struct query *q;
	size_t i;
	int fd = PQsocket(c->pg);

	if (c->ev_io != NULL)
		event_free(c->ev_io);
	c->ev_io = event_new(s->base, fd, EV_READ | EV_PERSIST, conn_io_cb, c);
	c->ev_write = event_new(s->base, fd, EV_WRITE, conn_io_cb, c);
	if (c->ev_io == NULL || c->ev_write == NULL)
		fatalx("event_new");
	event_add(c->ev_io, NULL);
	if (!PQenterPipelineMode(c->pg)) {
		conn_fail(c, PQerrorMessage(c->pg));
		return;
	}
	c->state = CONN_SETUP;
	for (i = 0; i < ST_COUNT; i++) {
		q = xcalloc(1, sizeof(*q));
		q->store = s;
		q->kind = QK_PREPARE;
		q->stmt = &stmts[i];
		c->nsetup++;
		conn_send(c, q);
		if (c->pg == NULL)
			return;
	}
	for (i = 0; i <= sizeof(listens) / sizeof(*listens); i++) {
		if (i > 0 && !c->listener)
			break;
		q = xcalloc(1, sizeof(*q));
		q->store = s;
		q->kind = QK_SETUP;
		q->text = i == 0 ? s->timeout_sql : listens[i - 1];
		c->nsetup++;
		conn_send(c, q);
		if (c->pg == NULL)
			return;
	}
	conn_flush(c);
}

static void
conn_poll_wait(struct conn *c, PostgresPollingStatusType r)
{
	struct store *s = c->store;

	if (c->ev_io != NULL)
		event_free(c->ev_io);
	/* The socket may change between polls (several hosts, SSL retry). */
	c->ev_io = event_new(s->base, PQsocket(c->pg),
	    r == PGRES_POLLING_READING ? EV_READ : EV_WRITE, conn_poll_cb, c);
	if (c->ev_io == NULL)
		fatalx("event_new");
	event_add(c->ev_io, NULL);
}

static void
conn_poll_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	PostgresPollingStatusType r;

	switch ((r = PQconnectPoll(c->pg))) {
	case PGRES_POLLING_READING:
	case PGRES_POLLING_WRITING:
		conn_poll_wait(c, r);
		break;
	case PGRES_POLLING_OK:
		conn_setup(c);
		break;
	default:
		conn_fail(c, PQerrorMessage(c->pg));
		break;
	}
}

/* Connect timeout while connecting, backoff timer while idle. */
static void
conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	if (c->state == CONN_IDLE)
		conn_connect(c);
	else if (c->state != CONN_READY)
		conn_fail(c, "connect timed out");
}

static void
conn_connect(struct conn *c)
{
	struct store *s = c->store;
	/*
	 * Keepalives before dbname so that the URI can override them: an
	 * idle LISTEN connection behind a dead network path would otherwise
	 * miss notifications for hours.
	 */
	const char *keys[] = { "keepalives_idle", "keepalives_interval",
	    "keepalives_count", "dbname", "client_encoding",
	    "fallback_application_name", NULL };
	const char *vals[] = { "30", "10", "3", s->conninfo, "UTF8", "xpushd",
	    NULL };
	struct timeval tv;

	c->pg = PQconnectStartParams(keys, vals, 1);
	if (c->pg == NULL)
		fatalx("PQconnectStartParams: out of memory");
	PQsetNoticeProcessor(c->pg, conn_notice_cb, c);
	c->state = CONN_CONNECTING;
	if (PQstatus(c->pg) == CONNECTION_BAD ||
	    PQsetnonblocking(c->pg, 1) != 0) {
		conn_fail(c, PQerrorMessage(c->pg));
		return;
	}
	if (s->connect_timeout_ms > 0) {
		tv.tv_sec = s->connect_timeout_ms / 1000;
		tv.tv_usec = (s->connect_timeout_ms % 1000) * 1000;
		evtimer_add(c->ev_timer, &tv);
	}
	conn_poll_wait(c, PGRES_POLLING_WRITING);
}

/*
 * The store.
 */

void
store_conf_defaults(struct store_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	conf->conninfo = "";
	conf->pool_size = 2;
	conf->cache_size = 100000;
	conf->query_timeout_ms = 5000;
	conf->connect_timeout_ms = 10000;
}

struct store *
store_new(struct event_base *base, const struct store_conf *conf,
    char **err)
{
	struct store *s;
	PQconninfoOption *opts;
	char *perr = NULL;
	int i;

	if (conf->pool_size < 1 || conf->pool_size > 64) {
		*err = xprintf("database pool-size %d is not between 1 and 64",
		    conf->pool_size);
		return NULL;
	}
	/* Catch a malformed URI now, not on every reconnect. */
	if ((opts = PQconninfoParse(conf->conninfo, &perr)) == NULL) {
		*err = xprintf("database uri: %.*s", perr != NULL ?
		    (int)strcspn(perr, "\n") : 13, perr != NULL ? perr :
		    "out of memory");
		PQfreemem(perr);
		return NULL;
	}
	PQconninfoFree(opts);

	s = xcalloc(1, sizeof(*s));
	s->base = base;
	s->conninfo = xstrdup(conf->conninfo);
	/*
	 * The server gives up a little before our timer does, so a statement
	 * stuck behind a lock is cancelled there (nothing written late) and
	 * the connection survives.
	 */
	s->timeout_sql = xprintf("SET statement_timeout = %d",
	    conf->query_timeout_ms > 0 ? conf->query_timeout_ms -
	    conf->query_timeout_ms / 10 : 0);
	s->query_timeout_ms = conf->query_timeout_ms;
	s->connect_timeout_ms = conf->connect_timeout_ms;
	TAILQ_INIT(&s->pending);
	TAILQ_INIT(&s->done);
	if ((s->ev_done = event_new(base, -1, 0, store_deferred_cb, s)) == NULL)
		fatalx("event_new");
	if ((s->marks = evbuffer_new()) == NULL ||
	    (s->ev_marks = evtimer_new(base, store_marks_cb, s)) == NULL)
		fatalx("store: cannot allocate events");
	if (conf->cache_size > 0)
		s->cache = devcache_new(conf->cache_size);
	s->nconns = conf->pool_size;
	s->conns = xcalloc(s->nconns, sizeof(*s->conns));
	for (i = 0; i < s->nconns; i++) {
		struct conn *c = &s->conns[i];

		c->store = s;
		c->id = i;
		c->listener = i == 0;
		TAILQ_INIT(&c->inflight);
		if ((c->ev_timer = evtimer_new(base, conn_timer_cb, c)) == NULL)
			fatalx("evtimer_new");
	}
	for (i = 0; i < s->nconns; i++)
		conn_connect(&s->conns[i]);
	return s;
}

void
store_free(struct store **sp)
{
	struct store *s = *sp;
	struct query *q;
	int i;

	if (s == NULL)
		return;
	*sp = NULL;
	/* Every caller hears back once, even now (STORE_ETEMP). */
	s->closing = true;
	for (i = 0; i < s->nconns; i++) {
		conn_fail(&s->conns[i], "shutting down");
		event_free(s->conns[i].ev_timer);
	}
	while ((q = TAILQ_FIRST(&s->pending)) != NULL) {
		TAILQ_REMOVE(&s->pending, q, entry);
		query_finish(q, STORE_ETEMP, NULL, "store is shutting down");
	}
	while ((q = TAILQ_FIRST(&s->done)) != NULL) {
		TAILQ_REMOVE(&s->done, q, entry);
		if (q->cached != NULL) {
			q->cb.device(q->arg, STORE_OK, q->cached, NULL);
			query_free(q);
		} else
			query_finish(q, q->status, NULL, q->err);
	}
	devcache_free(&s->cache);
	free(s->conns);
	event_free(s->ev_done);
	event_free(s->ev_marks);
	evbuffer_free(s->marks);
	free(s->conninfo);
	free(s->timeout_sql);
	free(s);
}

void
store_stats_get(const struct store *s, struct store_stats *st)
{
	*st = s->stats;
	st->listening = s->listening;
}

const char *
store_status_str(enum store_status st)
{
	switch (st) {
	case STORE_OK:
		return "ok";
	case STORE_NOTFOUND:
		return "not found";
	case STORE_ETEMP:
		return "temporary failure";
	case STORE_EINVAL:
		return "invalid data";
	case STORE_EFAIL:
		return "failure";
	}
	return "?";
}

void
store_on_certificate_change(struct store *s, store_cert_change_cb *cb,
    void *arg)
{
	s->cert_cb = cb;
	s->cert_arg = arg;
}

/*
 * Operations.
 */

void
store_device_register(struct store *s, const char *owner,
    const char *provider, const char *token, const char *voip_token,
    store_device_cb *cb, void *arg)
{
	struct query *q = query_new(s, ST_REGISTER, arg);
	char *node, *secret;

	q->cb.device = cb;
	node = rand_id();
	secret = rand_id();
	query_param(q, owner);
	query_param(q, provider);
	query_param(q, token);
	query_param(q, voip_token != NULL && *voip_token != '\0' ?
	    voip_token : NULL);
	query_param(q, node);
	query_param(q, secret);
	free(node);
	free(secret);
	query_submit(q);
}

void
store_device_unregister(struct store *s, const char *owner,
    const char *provider, const char *token, store_done_cb *cb, void *arg)
{
	struct query *q = query_new(s, ST_UNREGISTER, arg);

	q->cb.done = cb;
	query_param(q, owner);
	query_param(q, provider);
	query_param(q, token);
	query_submit(q);
}

void
store_device_delete(struct store *s, const char *node, store_done_cb *cb,
    void *arg)
{
	struct query *q = query_new(s, ST_DELETE_NODE, arg);

	q->cb.done = cb;
	query_param(q, node);
	cache_drop(s, node);
	query_submit(q);
}

void
store_device_lookup(struct store *s, const char *node, store_device_cb *cb,
    void *arg)
{
	struct query *q = query_new(s, ST_LOOKUP_NODE, arg);
	const struct store_device *d;

	q->cb.device = cb;
	if ((d = store_cache_get(s, node)) != NULL) {
		q->cached = xcalloc(1, sizeof(*q->cached));
		device_copy(q->cached, d);
		q->stage = Q_DONE;
		TAILQ_INSERT_TAIL(&s->done, q, entry);
		event_active(s->ev_done, EV_TIMEOUT, 1);
		return;
	}
	query_param(q, node);
	query_submit(q);
}

void
store_device_lookup_token(struct store *s, const char *provider,
    const char *token, store_devices_cb *cb, void *arg)
{
	struct query *q = query_new(s, ST_LOOKUP_TOKEN, arg);

	q->cb.devices = cb;
	query_param(q, provider);
	query_param(q, token);
	query_submit(q);
}

void
store_device_list_owner(struct store *s, const char *owner,
    store_devices_cb *cb, void *arg)
{
	struct query *q = query_new(s, ST_LIST_OWNER, arg);

	q->cb.devices = cb;
	query_param(q, owner);
	query_submit(q);
}

void
store_device_delete_owner(struct store *s, const char *owner,
    store_count_cb *cb, void *arg)
{
	struct query *q = query_new(s, ST_DELETE_OWNER, arg);

	q->cb.count = cb;
	query_param(q, owner);
	query_submit(q);
}

void
store_device_count_provider(struct store *s, const char *provider,
    store_count_cb *cb, void *arg)
{
	struct query *q = query_new(s, ST_COUNT_PROVIDER, arg);

	q->cb.count = cb;
	query_param(q, provider);
	query_submit(q);
}

/*
 * One UPDATE for many devices: on the publish path every push marks its
 * device, and one statement per push would load PostgreSQL as much as the
 * pushes themselves.
 */
static void
marks_flush(struct store *s)
{
	struct query *q;
	char *lit;
	size_t len;

	if (s->nmarks == 0)
		return;
	evbuffer_add(s->marks, "}", 2);
	len = evbuffer_get_length(s->marks);
	lit = xmalloc(len);
	evbuffer_remove(s->marks, lit, len);
	s->nmarks = 0;
	q = query_new(s, ST_MARK_PUSH_MANY, NULL);
	query_param(q, lit);
	free(lit);
	query_submit(q);
}

static void
store_marks_cb(evutil_socket_t fd, short events, void *arg)
{
	marks_flush(arg);
}

static void
marks_add(struct store *s, const char *node)
{
	struct timeval tv = { STORE_MARK_BATCH_SECONDS, 0 };
	const char *p;

	cache_set_last_push(s, node);
	evbuffer_add(s->marks, s->nmarks == 0 ? "{\"" : ",\"", 2);
	for (p = node; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			evbuffer_add(s->marks, "\\", 1);
		evbuffer_add(s->marks, p, 1);
	}
	evbuffer_add(s->marks, "\"", 1);
	if (++s->nmarks >= STORE_MARK_BATCH_MAX)
		marks_flush(s);
	else if (!evtimer_pending(s->ev_marks, NULL))
		evtimer_add(s->ev_marks, &tv);
}

void
store_device_mark_push(struct store *s, const char *node, store_done_cb *cb,
    void *arg)
{
	struct query *q;

	if (cb == NULL) {
		marks_add(s, node);
		return;
	}
	q = query_new(s, ST_MARK_PUSH, arg);

	q->cb.done = cb;
	query_param(q, node);
	query_submit(q);
}

void
store_device_mark_error(struct store *s, const char *node,
    const char *reason, store_done_cb *cb, void *arg)
{
	struct query *q = query_new(s, ST_MARK_ERROR, arg);

	/* The cache keeps no last_error: nothing to update there. */
	q->cb.done = cb;
	query_param(q, node);
	query_param(q, reason);
	query_submit(q);
}

void
store_cert_get(struct store *s, const char *provider, store_cert_cb *cb,
    void *arg)
{
	struct query *q = query_new(s, ST_CERT_GET, arg);

	q->cb.cert = cb;
	query_param(q, provider);
	query_submit(q);
}

void
store_cert_put(struct store *s, const struct store_cert *c,
    store_done_cb *cb, void *arg)
{
	struct query *q = query_new(s, ST_CERT_PUT, arg);
	char na[32];

	q->cb.done = cb;
	query_param(q, c->provider);
	query_param_bin(q, c->pkcs12, c->pkcs12_len);
	query_param(q, c->password);
	query_param(q, c->cert_pem);
	query_param(q, c->key_pem);
	snprintf(na, sizeof(na), "%lld", (long long)c->not_after);
	query_param(q, c->not_after != 0 ? na : NULL);
	query_submit(q);
}

void
store_cert_delete(struct store *s, const char *provider, store_done_cb *cb,
    void *arg)
{
	struct query *q = query_new(s, ST_CERT_DELETE, arg);

	q->cb.done = cb;
	query_param(q, provider);
	query_submit(q);
}

void
store_cert_list(struct store *s, store_certs_cb *cb, void *arg)
{
	struct query *q = query_new(s, ST_CERT_LIST, arg);

	q->cb.certs = cb;
	query_submit(q);
}

/*
 * Migrations (blocking).  Each file runs in one transaction together with
 * its row in xpushd_schema_version, under an advisory lock so that two
 * `xpushd --migrate` at once apply each file once.
 */

/* Keep in step with sql/schema.sql (test/store_test.sh compares them). */
static const char version_table_sql[] =
    "CREATE TABLE IF NOT EXISTS xpushd_schema_version (\n"
    "	version		integer PRIMARY KEY,\n"
    "	name		text NOT NULL,\n"
    "	applied		timestamptz NOT NULL DEFAULT now()\n"
    ");\n"
    "COMMENT ON TABLE xpushd_schema_version IS\n"
    "    'Schema migrations applied by xpushd --migrate, one row per "
    "sql/migrations file.';\n"
    "COMMENT ON COLUMN xpushd_schema_version.version IS 'Number of the "
    "migration (the NNN of NNN-name.sql).';\n"
    "COMMENT ON COLUMN xpushd_schema_version.name IS 'File name of the "
    "migration.';\n"
    "COMMENT ON COLUMN xpushd_schema_version.applied IS 'When the "
    "migration was applied.';\n";

struct migration {
	int	 version;
	char	*name;
};

static void
migrations_free(struct migration *m, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(m[i].name);
	free(m);
}

static int
migration_cmp(const void *a, const void *b)
{
	const struct migration *x = a, *y = b;

	return (x->version > y->version) - (x->version < y->version);
}

/* The NNN-name.sql files in dir, sorted by number. */
static int
migrations_list(const char *dir, struct migration **list_r, size_t *n_r,
    char **err)
{
	struct migration *list = NULL;
	struct dirent *de;
	size_t n = 0, i, len;
	DIR *d;
	char *end;
	long v;

	if ((d = opendir(dir)) == NULL) {
		*err = xprintf("migrations directory %s: %s", dir,
		    strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (!isdigit((unsigned char)de->d_name[0]) || len < 5 ||
		    strcmp(de->d_name + len - 4, ".sql") != 0)
			continue;
		v = strtol(de->d_name, &end, 10);
		if (*end != '-' || v <= 0 || v > 99999) {
			*err = xprintf("%s/%s: not named NNN-name.sql", dir,
			    de->d_name);
			closedir(d);
			migrations_free(list, n);
			return -1;
		}
		list = xreallocarray(list, n + 1, sizeof(*list));
		list[n].version = (int)v;
		list[n].name = xstrdup(de->d_name);
		n++;
	}
	closedir(d);
	qsort(list, n, sizeof(*list), migration_cmp);
	for (i = 1; i < n; i++) {
		if (list[i].version == list[i - 1].version) {
			*err = xprintf("%s: %s and %s have the same number",
			    dir, list[i - 1].name, list[i].name);
			migrations_free(list, n);
			return -1;
		}
	}
	if (n == 0) {
		*err = xprintf("%s: no migrations found", dir);
		free(list);
		return -1;
	}
	*list_r = list;
	*n_r = n;
	return 0;
}

static char *
file_read(const char *path, char **err)
{
	FILE *f;
	char *buf = NULL;
	size_t len = 0, n;

	if ((f = fopen(path, "r")) == NULL) {
		*err = xprintf("%s: %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		buf = xrealloc(buf, len + 8192 + 1);
		n = fread(buf + len, 1, 8192, f);
		len += n;
		if (n < 8192)
			break;
	}
	if (ferror(f)) {
		*err = xprintf("%s: %s", path, strerror(errno));
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	buf[len] = '\0';
	if (strlen(buf) != len) {
		*err = xprintf("%s: contains a NUL byte", path);
		free(buf);
		return NULL;
	}
	return buf;
}

static void
mig_notice_cb(void *arg, const char *msg)
{
	log_debug("database: %.*s", (int)strcspn(msg, "\n"), msg);
}

static PGconn *
mig_connect(const char *conninfo, char **err)
{
	const char *keys[] = { "dbname", "client_encoding",
	    "fallback_application_name", "connect_timeout", NULL };
	const char *vals[] = { conninfo, "UTF8", "xpushd", "10", NULL };
	PGconn *pg;

	if ((pg = PQconnectdbParams(keys, vals, 1)) == NULL)
		fatalx("PQconnectdbParams: out of memory");
	if (PQstatus(pg) != CONNECTION_OK) {
		*err = xprintf("cannot connect to the database: %.*s",
		    (int)strcspn(PQerrorMessage(pg), "\n"),
		    PQerrorMessage(pg));
		PQfinish(pg);
		return NULL;
	}
	PQsetNoticeProcessor(pg, mig_notice_cb, NULL);
	return pg;
}

/* Runs sql; on failure sets *err (prefixed with what) and returns -1. */
static int
mig_exec(PGconn *pg, const char *what, const char *sql, char **err)
{
	PGresult *res;
	const char *msg;
	int rc = 0;

	res = PQexec(pg, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK) {
		msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		if (msg == NULL)
			msg = PQerrorMessage(pg);
		*err = xprintf("%s: %.*s", what, (int)strcspn(msg, "\n"), msg);
		rc = -1;
	}
	PQclear(res);
	return rc;
}

/* The applied version, 0 without a version table, -1 on error. */
static int
mig_version(PGconn *pg, char **err)
{
	PGresult *res;
	int v;

	res = PQexec(pg, "SELECT CASE WHEN to_regclass("
	    "'xpushd_schema_version') IS NULL THEN -1 ELSE 0 END");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		*err = xprintf("reading the schema version: %s",
		    PQerrorMessage(pg));
		PQclear(res);
		return -1;
	}
	v = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (v == -1)
		return 0;
	res = PQexec(pg, "SELECT coalesce(max(version), 0) FROM "
	    "xpushd_schema_version");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		*err = xprintf("reading the schema version: %s",
		    PQerrorMessage(pg));
		PQclear(res);
		return -1;
	}
	v = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

static int
mig_apply(PGconn *pg, const char *dir, const struct migration *m,
    bool *applied_r, char **err)
{
	const char *params[2];
	PGresult *res;
	char *path, *sql, *e = NULL;
	char num[16];
	int v;

	*applied_r = false;
	path = xprintf("%s/%s", dir, m->name);
	sql = file_read(path, err);
	free(path);
	if (sql == NULL)
		return -1;
	if (mig_exec(pg, "BEGIN", "BEGIN", err) == -1 ||
	    mig_exec(pg, "locking", "SELECT pg_advisory_xact_lock("
	    MIGRATE_LOCK_KEY ")", err) == -1)
		goto fail;
	/* Someone else may have applied it while we waited for the lock. */
	if ((v = mig_version(pg, err)) == -1)
		goto fail;
	if (v >= m->version) {
		free(sql);
		return mig_exec(pg, "ROLLBACK", "ROLLBACK", err);
	}
	if (mig_exec(pg, m->name, sql, err) == -1)
		goto fail;
	snprintf(num, sizeof(num), "%d", m->version);
	params[0] = num;
	params[1] = m->name;
	res = PQexecParams(pg, "INSERT INTO xpushd_schema_version "
	    "(version, name) VALUES ($1, $2)", 2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		*err = xprintf("recording %s: %s", m->name,
		    PQerrorMessage(pg));
		PQclear(res);
		goto fail;
	}
	PQclear(res);
	if (mig_exec(pg, "COMMIT", "COMMIT", err) == -1)
		goto fail;
	free(sql);
	*applied_r = true;
	return 0;
fail:
	free(sql);
	(void)mig_exec(pg, "ROLLBACK", "ROLLBACK", &e);
	free(e);
	return -1;
}

enum store_status
store_migrate(const char *conninfo, const char *dir, int target,
    int *applied_r, char **err)
{
	struct migration *list;
	PGconn *pg;
	size_t n, i;
	char *setup;
	bool applied;
	int v, newest, count = 0, rc;

	if (applied_r != NULL)
		*applied_r = 0;
	if (migrations_list(dir, &list, &n, err) == -1)
		return STORE_EFAIL;
	newest = list[n - 1].version;
	if (target <= 0)
		target = newest;
	if ((pg = mig_connect(conninfo, err)) == NULL) {
		migrations_free(list, n);
		return STORE_ETEMP;
	}
	setup = xprintf("BEGIN; SELECT pg_advisory_xact_lock("
	    MIGRATE_LOCK_KEY "); %s COMMIT;", version_table_sql);
	rc = mig_exec(pg, "creating xpushd_schema_version", setup, err);
	free(setup);
	if (rc == -1 || (v = mig_version(pg, err)) == -1)
		goto fail;
	if (v > newest) {
		*err = xprintf("the database schema is at version %d, newer "
		    "than this xpushd knows (%d): upgrade xpushd", v, newest);
		goto fail;
	}
	for (i = 0; i < n && list[i].version <= target; i++) {
		if (list[i].version <= v)
			continue;
		if (mig_apply(pg, dir, &list[i], &applied, err) == -1)
			goto fail;
		if (applied) {
			log_info("database: applied migration %s",
			    list[i].name);
			count++;
		}
	}
	if (applied_r != NULL)
		*applied_r = count;
	PQfinish(pg);
	migrations_free(list, n);
	return STORE_OK;
fail:
	if (applied_r != NULL)
		*applied_r = count;
	PQfinish(pg);
	migrations_free(list, n);
	return STORE_EFAIL;
}

enum store_status
store_schema_check(const char *conninfo, const char *dir, char **err)
{
	struct migration *list;
	PGconn *pg;
	size_t n;
	int v, newest;

	if (migrations_list(dir, &list, &n, err) == -1)
		return STORE_EFAIL;
	newest = list[n - 1].version;
	migrations_free(list, n);
	if ((pg = mig_connect(conninfo, err)) == NULL)
		return STORE_ETEMP;
	v = mig_version(pg, err);
	PQfinish(pg);
	if (v == -1)
		return STORE_EFAIL;
	if (v == 0) {
		*err = xstrdup("the database has no xpushd schema: "
		    "run xpushd --migrate");
		return STORE_EFAIL;
	}
	if (v < newest) {
		*err = xprintf("the database schema is at version %d, this "
		    "xpushd needs %d: run xpushd --migrate", v, newest);
		return STORE_EFAIL;
	}
	if (v > newest) {
		*err = xprintf("the database schema is at version %d, newer "
		    "than this xpushd knows (%d): upgrade xpushd", v, newest);
		return STORE_EFAIL;
	}
	return STORE_OK;
}
