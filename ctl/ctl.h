/*
 * xpushctl: the administration tool of xpushd (xpushctl(8)).  It reads
 * the daemon's configuration file with the daemon's own code
 * (core/options.c), talks to the same database (blocking libpq for what
 * it reads; the daemon's store, core/store.c, for what it writes, so that
 * every write is the statement the daemon itself runs and every running
 * xpushd hears of it through the schema's NOTIFY triggers), and asks a
 * running daemon for its live state through the rest block's GET /health.
 *
 * Each subcommand returns one of the exit codes below; what went wrong
 * goes to stderr, naming what to fix.
 */
#ifndef XP_CTL_H
#define XP_CTL_H

#include <stdbool.h>
#include <time.h>

#include <json-c/json.h>
#include <libpq-fe.h>

#include "core/options.h"
#include "core/store.h"

struct event_base;

/* Exit codes (xpushctl(8) EXIT STATUS). */
enum ctl_exit {
	CTL_OK = 0,
	CTL_NOTFOUND = 1,	/* no such registration, certificate, block */
	CTL_USAGE = 2,		/* bad command line */
	CTL_CONFIG = 3,		/* the configuration does not load */
	CTL_DATABASE = 4,	/* unreachable, schema missing or outdated */
	CTL_DAEMON = 5,		/* the running xpushd cannot be reached */
	CTL_FAILED = 6,		/* checked and found wanting: refused or
				   expiring certificate, unhealthy daemon */
};

struct ctl {
	const char	*conf_path;
	struct xp_conf	*conf;
	bool		 json;
	PGconn		*pg;		/* ctl_db_open() */
};

struct ctl_cmd {
	const char	*name;
	const char	*args;		/* for usage() */
	int		 min_args, max_args;
	int		(*run)(struct ctl *, int argc, char **argv);
};

/* Diagnostics: "xpushctl: message" on stderr; returns code. */
int	ctl_fail(int code, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/* Output: obj is printed (--json) or handed to human() and released. */
void	ctl_emit(struct ctl *, struct json_object *obj,
	    void (*human)(struct json_object *));
/* JSON helpers. */
struct json_object *ctl_time(time_t);	/* ISO 8601 UTC, or null for 0 */
const char	*ctl_str(struct json_object *, const char *key);
long long	 ctl_int(struct json_object *, const char *key);

/*
 * The database, opened on first use (after the command line and the
 * configuration were found sound): the schema check, then a blocking
 * connection.  -1 after printing the error (exit CTL_DATABASE).
 */
int	ctl_db_open(struct ctl *);
/* A one-shot query: NULL after printing the error (exit CTL_DATABASE). */
PGresult *ctl_db_query(struct ctl *, const char *sql, int nparams,
	    const char *const *params);
const char *ctl_migrations_dir(const struct xp_conf *);

/*
 * Writes go through the daemon's store (core/store.c) on a private
 * event_base: start() submits one operation whose callback ends in
 * ctl_wait_done(); ctl_store_run() returns when it has, CTL_OK with w
 * filled in (w->msg is malloc'd), or CTL_DATABASE.
 */
struct ctl_wait {
	struct event_base	*base;
	bool			 done;
	enum store_status	 st;
	long long		 count;
	char			*msg;
};
void	ctl_wait_done(struct ctl_wait *, enum store_status, long long,
	    const char *msg);
int	ctl_store_run(struct ctl *, void (*start)(struct store *, void *),
	    void *arg, struct ctl_wait *);

/* Subcommands (ctl/devices.c, ctl/certs.c, ctl/live.c, xpushctl.c). */
int	ctl_list(struct ctl *, int, char **);
int	ctl_show(struct ctl *, int, char **);
int	ctl_delete(struct ctl *, int, char **);
int	ctl_stats(struct ctl *, int, char **);
int	ctl_errors(struct ctl *, int, char **);
int	ctl_cert(struct ctl *, int, char **);
int	ctl_status(struct ctl *, int, char **);
int	ctl_vapid_key(struct ctl *, int, char **);

#endif
