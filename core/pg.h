/*
 * The PostgreSQL layer: an asynchronous libpq client on the daemon's
 * event_base, in the manner of Dovecot's driver-pgsql.  It knows nothing
 * of what the statements mean: its user (core/store.c) hands it a table of
 * statements to prepare on every connection and the channels to LISTEN on,
 * and gets each result, every NOTIFY and every change of the LISTEN
 * connection's state through callbacks.
 *
 * Every callback runs from the event loop, never inside the call that
 * started the operation: a query that cannot be sent (the database is
 * down, the layer is closing) fails through a deferred event.  pg_free()
 * calls every result callback still pending, synchronously, with PG_ETEMP.
 * Callbacks must not call pg_free().
 */
#ifndef XP_PG_H
#define XP_PG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

struct event_base;
struct pg;
struct pg_query;

enum pg_status {
	PG_OK = 0,
	PG_NOTFOUND,		/* not produced here: room for the user's */
	PG_ETEMP,		/* down, timeout, overload: retry */
	PG_EINVAL,		/* the database refused the data (class 22, 23) */
	PG_EFAIL,		/* anything else: schema missing, bug */
};

/* One prepared statement: prepared on every connection as it comes up. */
struct pg_stmt {
	const char	*name;
	const char	*sql;
	int		 nparams;
};

enum pg_listen_event {
	PG_LISTEN_DOWN,		/* notifications may be missed from now on */
	PG_LISTEN_UP,		/* LISTENing for the first time */
	PG_LISTEN_AGAIN,	/* back after an outage: some were missed */
};

/* A NOTIFY on one of the conf's channels. */
typedef void pg_notify_cb(void *, const char *channel, const char *payload);
typedef void pg_listen_cb(void *, enum pg_listen_event);
/*
 * The outcome of a query: res is NULL when it never ran (status and err
 * say why) and belongs to the layer (valid during the call only).  The
 * first argument is the query's user storage (pg_query_data()).
 */
typedef void pg_result_cb(void *, enum pg_status, PGresult *res,
    const char *err);

struct pg_conf {
	const char		*conninfo;	/* libpq URI or "key=value" */
	int			 pool_size;	/* connections, >= 1 */
	int			 query_timeout_ms;	/* 0: none */
	int			 connect_timeout_ms;	/* 0: none */
	const struct pg_stmt	*stmts;		/* prepared on each */
	size_t			 nstmts;
	const char *const	*channels;	/* LISTENed on connection 0 */
	size_t			 nchannels;
	pg_notify_cb		*notify_cb;
	pg_listen_cb		*listen_cb;
	void			*cb_arg;
};

struct pg_stats {
	uint64_t	 queries;	/* statements sent */
	uint64_t	 errors;	/* failed statements, incl. fail-fast */
	uint64_t	 timeouts;
	uint64_t	 notifications;	/* NOTIFY messages received */
	uint64_t	 reconnects;	/* connections (re-)established */
	int		 connections;	/* ready connections */
	bool		 listening;	/* the LISTEN connection is up */
	bool		 up;		/* at least one connection is ready */
};

/* The conf's arrays must outlive the layer; the strings are copied. */
struct pg	*pg_new(struct event_base *, const struct pg_conf *,
		    char **error_r);
void		 pg_free(struct pg **);
bool		 pg_listening(const struct pg *);
void		 pg_stats_get(const struct pg *, struct pg_stats *);

/*
 * A query of statement stmt (an index into conf.stmts), with user_size
 * bytes of zeroed storage that live as long as the query, handed to cb.
 * Add the parameters (copied, NULL for SQL NULL), then submit: the query
 * then belongs to the layer, and cb hears back exactly once.
 */
struct pg_query	*pg_query_new(struct pg *, size_t stmt, pg_result_cb *cb,
		    size_t user_size);
void		*pg_query_data(struct pg_query *);
void		 pg_query_param(struct pg_query *, const char *);
void		 pg_query_param_bin(struct pg_query *, const void *, size_t);
void		 pg_query_submit(struct pg_query *);

#endif
