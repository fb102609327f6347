/*
 * The PostgreSQL layer (see pg.h): an asynchronous libpq client on the
 * daemon's event_base, in the manner of Dovecot's driver-pgsql.
 *
 * It keeps pool_size connections.  Each is driven by one state machine
 * (conn_state): PQconnectStartParams/PQconnectPoll on socket events, then
 * pipeline mode, where the user's statements are prepared (and connection 0
 * LISTENs on the user's channels), then ready.  Every statement goes out as
 * PQsendQueryPrepared followed by its own PQpipelineSync, so several
 * statements are in flight on one connection at once while an error in one
 * cannot abort the others (each sync point is its own implicit
 * transaction).  Results come back in order; each in-flight query walks
 * result -> NULL -> PGRES_PIPELINE_SYNC.
 *
 * Failure handling: each connection sets statement_timeout a little below
 * query_timeout_ms, so a statement stuck behind a lock is cancelled by the
 * server (PG_ETEMP, nothing written late, connection kept).  If our own
 * timer fires first the connection is reset (libpq 15 has no non-blocking
 * cancel), failing everything in flight there with PG_ETEMP.  While no
 * connection is ready after a failure, new queries fail at once, but always
 * through a deferred event so that callbacks never run inside the call that
 * started the operation.  Connections come back with exponential backoff.
 *
 * LISTEN: the user hears when the LISTEN connection goes down (from then
 * on notifications may be missed), comes up, and comes back after an
 * outage (some were missed), so that whatever it keeps coherent through
 * notifications can act on it.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "core/log.h"
#include "core/pg.h"
#include "core/rand.h"
#include "core/xmalloc.h"

#define PG_MAXPARAMS		8
#define PG_MAXCONNS		64
#define PG_CHANNEL_MAX		63	/* NAMEDATALEN - 1 */
#define CONN_MAX_INFLIGHT	64
#define BACKOFF_MIN_MS		100
#define BACKOFF_MAX_MS		5000

enum query_stage {
	Q_PENDING,		/* queued in the layer, not sent */
	Q_RESULT,		/* sent, waiting for its result */
	Q_NULL,			/* got the result, waiting for the NULL */
	Q_SYNC,			/* waiting for PGRES_PIPELINE_SYNC */
	Q_DONE,			/* waiting in the deferred-completion queue */
};

enum query_kind {
	QK_USER,		/* a prepared statement for the user */
	QK_PREPARE,		/* connection setup: PQsendPrepare */
	QK_SETUP,		/* connection setup: SET, LISTEN */
};

/* A query: the user sees it as opaque. */
struct pg_query {
	TAILQ_ENTRY(pg_query)	 entry;
	struct pg		*db;
	struct conn		*conn;
	enum query_kind		 kind;
	enum query_stage	 stage;
	const struct pg_stmt	*stmt;
	const char		*text;		/* QK_SETUP */
	char			*params[PG_MAXPARAMS];
	int			 lengths[PG_MAXPARAMS];
	int			 formats[PG_MAXPARAMS];
	int			 nparams;
	struct event		*timer;
	PGresult		*res;
	pg_result_cb		*cb;
	void			*data;		/* the user's storage */
	/* Deferred completion. */
	enum pg_status		 status;
	char			*err;
};
TAILQ_HEAD(queryq, pg_query);

enum conn_state {
	CONN_IDLE,		/* not connected; maybe waiting to retry */
	CONN_CONNECTING,	/* PQconnectPoll */
	CONN_SETUP,		/* preparing statements, LISTEN */
	CONN_READY,
};

struct conn {
	struct pg		*db;
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

struct pg {
	struct event_base	*base;
	char			*conninfo;
	char			*timeout_sql;	/* SET statement_timeout */
	int			 query_timeout_ms;
	int			 connect_timeout_ms;
	const struct pg_stmt	*stmts;
	size_t			 nstmts;
	char			**listens;	/* "LISTEN channel" */
	size_t			 nlistens;
	pg_notify_cb		*notify_cb;
	pg_listen_cb		*listen_cb;
	void			*cb_arg;
	struct conn		*conns;
	int			 nconns;
	struct queryq		 pending;
	struct queryq		 done;
	struct event		*ev_done;
	bool			 down;		/* known down: fail fast */
	bool			 listening;
	bool			 listened_before;
	bool			 closing;
	struct pg_stats		 stats;
};

static void	conn_connect(struct conn *);
static void	conn_fail(struct conn *, const char *);
static void	conn_flush(struct conn *);
static void	conn_poll_cb(evutil_socket_t, short, void *);
static void	conn_send(struct conn *, struct pg_query *);
static void	pg_dispatch(struct pg *);
static void	pg_update_up(struct pg *);

/*
 * Queries.
 */

static void
query_free(struct pg_query *q)
{
	int i;

	for (i = 0; i < q->nparams; i++)
		free(q->params[i]);
	if (q->timer != NULL)
		event_free(q->timer);
	if (q->res != NULL)
		PQclear(q->res);
	free(q->err);
	free(q);
}

/* Hands the outcome to the user's callback, then frees q. */
static void
query_finish(struct pg_query *q, enum pg_status st, PGresult *res,
    const char *err)
{
	struct pg *s = q->db;

	if (st != PG_OK && st != PG_NOTFOUND)
		s->stats.errors++;
	if (q->kind == QK_USER)
		q->cb(q->data, st, res, err);
	query_free(q);
}

/* Completes q from the deferred-completion event, never re-entrantly. */
static void
query_defer(struct pg_query *q, enum pg_status st, const char *err)
{
	struct pg *s = q->db;

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
pg_deferred_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pg *s = arg;
	struct queryq batch;
	struct pg_query *q;

	/* Completions queued by these callbacks wait for the next round. */
	TAILQ_INIT(&batch);
	TAILQ_CONCAT(&batch, &s->done, entry);
	while ((q = TAILQ_FIRST(&batch)) != NULL) {
		TAILQ_REMOVE(&batch, q, entry);
		query_finish(q, q->status, NULL, q->err);
	}
}

static void
query_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pg_query *q = arg;
	struct pg *s = q->db;
	char msg[128];

	s->stats.timeouts++;
	snprintf(msg, sizeof(msg), "database query %s timed out after %d ms",
	    q->stmt->name, s->query_timeout_ms);
	if (q->stage == Q_PENDING) {
		TAILQ_REMOVE(&s->pending, q, entry);
		query_defer(q, PG_ETEMP, msg);
	} else
		/*
		 * Pipelined results arrive in order, so a stuck statement
		 * holds up everything behind it: start over.
		 */
		conn_fail(q->conn, msg);
}

struct pg_query *
pg_query_new(struct pg *s, size_t stmt, pg_result_cb *cb, size_t user_size)
{
	struct pg_query *q;

	if (stmt >= s->nstmts)
		fatalx("%s: no statement %zu", __func__, stmt);
	/* The user's storage follows the query: one allocation. */
	q = xcalloc(1, sizeof(*q) + user_size);
	q->db = s;
	q->kind = QK_USER;
	q->stmt = &s->stmts[stmt];
	q->cb = cb;
	q->data = q + 1;
	return q;
}

void *
pg_query_data(struct pg_query *q)
{
	return q->data;
}

void
pg_query_param(struct pg_query *q, const char *v)
{
	if (q->nparams >= PG_MAXPARAMS)
		fatalx("%s: too many parameters", __func__);
	q->params[q->nparams] = v != NULL ? xstrdup(v) : NULL;
	q->lengths[q->nparams] = 0;
	q->formats[q->nparams] = 0;
	q->nparams++;
}

void
pg_query_param_bin(struct pg_query *q, const void *v, size_t len)
{
	if (q->nparams >= PG_MAXPARAMS)
		fatalx("%s: too many parameters", __func__);
	if (len > INT32_MAX)
		fatalx("%s: parameter too long", __func__);
	q->params[q->nparams] = v != NULL ? xmemdup(v, len == 0 ? 1 : len) :
	    NULL;
	q->lengths[q->nparams] = (int)len;
	q->formats[q->nparams] = 1;
	q->nparams++;
}

void
pg_query_submit(struct pg_query *q)
{
	struct pg *s = q->db;

	if (q->nparams != q->stmt->nparams)
		fatalx("%s: %s takes %d parameters, got %d", __func__,
		    q->stmt->name, q->stmt->nparams, q->nparams);
	if (s->closing || s->down) {
		query_defer(q, PG_ETEMP, s->closing ?
		    "database layer shutting down" : "database unavailable");
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
	pg_dispatch(s);
}

/* Maps a failed result to a status; class 08 (connection), 40 (rollback),
 * 53 (resources), 57 (operator intervention) are worth retrying. */
static enum pg_status
status_of(PGresult *res, const char **msg_r)
{
	const char *state, *msg;

	switch (PQresultStatus(res)) {
	case PGRES_COMMAND_OK:
	case PGRES_TUPLES_OK:
		*msg_r = NULL;
		return PG_OK;
	case PGRES_PIPELINE_ABORTED:
		*msg_r = "pipeline aborted";
		return PG_ETEMP;
	default:
		break;
	}
	msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	*msg_r = msg != NULL ? msg : PQresultErrorMessage(res);
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (state == NULL)
		return PG_ETEMP;
	if (strncmp(state, "08", 2) == 0 || strncmp(state, "40", 2) == 0 ||
	    strncmp(state, "53", 2) == 0 || strncmp(state, "57", 2) == 0)
		return PG_ETEMP;
	if (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0)
		return PG_EINVAL;
	return PG_EFAIL;
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
 * up: everything in flight on it fails with PG_ETEMP (deferred), and a
 * reconnect is scheduled.
 */
static void
conn_fail(struct conn *c, const char *why)
{
	struct pg *s = c->db;
	struct pg_query *q;
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
			query_defer(q, PG_ETEMP, msg);
		else
			query_free(q);
	}
	c->ninflight = 0;
	conn_close(c);
	if (c->listener && s->listening) {
		s->listening = false;
		if (s->listen_cb != NULL)
			s->listen_cb(s->cb_arg, PG_LISTEN_DOWN);
	}
	pg_update_up(s);
	if (!s->closing)
		conn_retry_later(c);
}

/* A connection became ready or went away: fail fast if none is left. */
static void
pg_update_up(struct pg *s)
{
	struct pg_query *q;
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
		query_defer(q, PG_ETEMP, "database unavailable");
	}
}

static void
conn_ready(struct conn *c)
{
	struct pg *s = c->db;

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
		if (s->listened_before)
			log_info("database notifications back; some may "
			    "have been missed");
		if (s->listen_cb != NULL)
			s->listen_cb(s->cb_arg, s->listened_before ?
			    PG_LISTEN_AGAIN : PG_LISTEN_UP);
		s->listened_before = true;
		/* The callback may have reset us. */
		if (c->state != CONN_READY)
			return;
	}
	pg_update_up(s);
	pg_dispatch(s);
}

static void
conn_notifies(struct conn *c)
{
	struct pg *s = c->db;
	PGnotify *n;

	while ((n = PQnotifies(c->pg)) != NULL) {
		s->stats.notifications++;
		if (s->notify_cb != NULL)
			s->notify_cb(s->cb_arg, n->relname, n->extra);
		PQfreemem(n);
		/* The callback may have reset us. */
		if (c->pg == NULL)
			return;
	}
}

/* A setup statement (PREPARE, LISTEN) came back. */
static void
conn_setup_done(struct conn *c, struct pg_query *q)
{
	const char *msg;
	char buf[512];

	if (status_of(q->res, &msg) != PG_OK) {
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
	struct pg_query *q;
	enum pg_status st;
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
		pg_dispatch(c->db);
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
conn_send(struct conn *c, struct pg_query *q)
{
	int r;

	switch (q->kind) {
	case QK_USER:
		r = PQsendQueryPrepared(c->pg, q->stmt->name, q->nparams,
		    (const char *const *)q->params, q->lengths, q->formats, 0);
		c->db->stats.queries++;
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
pg_dispatch(struct pg *s)
{
	struct conn *c, *best;
	struct pg_query *q;
	bool sent[PG_MAXCONNS] = { false };
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
	struct pg *s = c->db;
	struct pg_query *q;
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
	for (i = 0; i < s->nstmts; i++) {
		q = xcalloc(1, sizeof(*q));
		q->db = s;
		q->kind = QK_PREPARE;
		q->stmt = &s->stmts[i];
		c->nsetup++;
		conn_send(c, q);
		if (c->pg == NULL)
			return;
	}
	/* SET statement_timeout everywhere, then the LISTENs on one. */
	for (i = 0; i <= s->nlistens; i++) {
		if (i > 0 && !c->listener)
			break;
		q = xcalloc(1, sizeof(*q));
		q->db = s;
		q->kind = QK_SETUP;
		q->text = i == 0 ? s->timeout_sql : s->listens[i - 1];
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
	struct pg *s = c->db;

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
	struct pg *s = c->db;
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
 * The layer.
 */

/* A channel name LISTEN takes without quoting. */
static bool
channel_ok(const char *ch)
{
	size_t i, len = strlen(ch);

	if (len == 0 || len > PG_CHANNEL_MAX)
		return false;
	for (i = 0; i < len; i++)
		if (!((ch[i] >= 'a' && ch[i] <= 'z') || ch[i] == '_' ||
		    (i > 0 && ch[i] >= '0' && ch[i] <= '9')))
			return false;
	return true;
}

struct pg *
pg_new(struct event_base *base, const struct pg_conf *conf, char **error_r)
{
	struct pg *s;
	PQconninfoOption *opts;
	char *perr = NULL;
	size_t k;
	int i;

	if (conf->pool_size < 1 || conf->pool_size > PG_MAXCONNS) {
		*error_r = xprintf("database pool-size %d is not between 1 "
		    "and %d", conf->pool_size, PG_MAXCONNS);
		return NULL;
	}
	for (k = 0; k < conf->nchannels; k++)
		if (!channel_ok(conf->channels[k])) {
			*error_r = xprintf("database channel '%s' is not a "
			    "plain lowercase identifier", conf->channels[k]);
			return NULL;
		}
	/* Catch a malformed URI now, not on every reconnect. */
	if ((opts = PQconninfoParse(conf->conninfo, &perr)) == NULL) {
		*error_r = xprintf("database uri: %.*s", perr != NULL ?
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
	s->stmts = conf->stmts;
	s->nstmts = conf->nstmts;
	s->nlistens = conf->nchannels;
	s->listens = xcalloc(s->nlistens + 1, sizeof(*s->listens));
	for (k = 0; k < s->nlistens; k++)
		s->listens[k] = xprintf("LISTEN %s", conf->channels[k]);
	s->notify_cb = conf->notify_cb;
	s->listen_cb = conf->listen_cb;
	s->cb_arg = conf->cb_arg;
	TAILQ_INIT(&s->pending);
	TAILQ_INIT(&s->done);
	if ((s->ev_done = event_new(base, -1, 0, pg_deferred_cb, s)) == NULL)
		fatalx("event_new");
	s->nconns = conf->pool_size;
	s->conns = xcalloc(s->nconns, sizeof(*s->conns));
	for (i = 0; i < s->nconns; i++) {
		struct conn *c = &s->conns[i];

		c->db = s;
		c->id = i;
		c->listener = i == 0 && s->nlistens > 0;
		TAILQ_INIT(&c->inflight);
		if ((c->ev_timer = evtimer_new(base, conn_timer_cb, c)) == NULL)
			fatalx("evtimer_new");
	}
	for (i = 0; i < s->nconns; i++)
		conn_connect(&s->conns[i]);
	return s;
}

void
pg_free(struct pg **sp)
{
	struct pg *s = *sp;
	struct pg_query *q;
	size_t k;
	int i;

	if (s == NULL)
		return;
	*sp = NULL;
	/* Every caller hears back once, even now (PG_ETEMP). */
	s->closing = true;
	for (i = 0; i < s->nconns; i++) {
		conn_fail(&s->conns[i], "shutting down");
		event_free(s->conns[i].ev_timer);
	}
	while ((q = TAILQ_FIRST(&s->pending)) != NULL) {
		TAILQ_REMOVE(&s->pending, q, entry);
		query_finish(q, PG_ETEMP, NULL, "database layer shutting "
		    "down");
	}
	while ((q = TAILQ_FIRST(&s->done)) != NULL) {
		TAILQ_REMOVE(&s->done, q, entry);
		query_finish(q, q->status, NULL, q->err);
	}
	free(s->conns);
	event_free(s->ev_done);
	for (k = 0; k < s->nlistens; k++)
		free(s->listens[k]);
	free(s->listens);
	free(s->conninfo);
	free(s->timeout_sql);
	free(s);
}

bool
pg_listening(const struct pg *s)
{
	return s->listening;
}

void
pg_stats_get(const struct pg *s, struct pg_stats *st)
{
	*st = s->stats;
	st->listening = s->listening;
}
