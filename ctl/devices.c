/*
 * xpushctl's registrations: list, show, delete, stats, errors.
 *
 * Reads are plain blocking queries.  Deletes go through the daemon's own
 * store (core/store.c: store_device_delete, store_device_delete_owner) on
 * a private event_base, so they are the very statements xpushd runs when
 * it deletes; the schema's trigger then NOTIFYs xpushd_devices with each
 * node and every running xpushd drops it from its node cache
 * (core/registry.c).  Accounts are normalised as the daemon normalises
 * them (xml/jid.c), so "Alice@Example.org" finds alice@example.org.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "core/store.h"
#include "core/xmalloc.h"
#include "ctl/ctl.h"
#include "xml/jid.h"

#define CTL_LIST_MAX	1000	/* rows `list` prints; more says so */
#define CTL_ERRORS_DEF	20	/* rows `errors` prints by default */
#define CTL_ERRORS_MAX	10000	/* the most it prints on request */
#define CTL_TOKEN_SHOWN	16	/* token characters in a table */

#define CTL_DEVICE_COLS \
	"owner, provider, token, voip_token, node, " \
	"floor(extract(epoch FROM created))::bigint, " \
	"floor(extract(epoch FROM updated))::bigint, " \
	"floor(extract(epoch FROM last_push))::bigint, " \
	"floor(extract(epoch FROM last_error))::bigint, " \
	"last_error_text"

static struct json_object *
str_or_null(PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return NULL;
	return json_object_new_string(PQgetvalue(res, row, col));
}

static time_t
time_col(PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? 0 :
	    (time_t)strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* One row of CTL_DEVICE_COLS as an object.  The secret is never shown. */
static struct json_object *
device_json(PGresult *res, int row)
{
	static const char *const names[] = { "account", "provider", "token",
	    "voip_token", "node" };
	static const char *const times[] = { "created", "updated",
	    "last_push", "last_error" };
	struct json_object *o = json_object_new_object();
	int i;

	for (i = 0; i < 5; i++)
		json_object_object_add(o, names[i], str_or_null(res, row, i));
	for (i = 0; i < 4; i++)
		json_object_object_add(o, times[i],
		    ctl_time(time_col(res, row, 5 + i)));
	json_object_object_add(o, "last_error_text", str_or_null(res, row, 9));
	return o;
}

/* The account as the daemon stores it: a normalised bare JID. */
static char *
account_norm(const char *in)
{
	const char *why = NULL;
	struct jid *j;
	char *bare;

	if ((j = jid_parse(in, &why)) == NULL || !jid_is_bare(j) ||
	    jid_local(j) == NULL) {
		ctl_fail(CTL_USAGE, "'%s' is not an account (a bare JID, "
		    "user@domain)%s%s", in, why != NULL ? ": " : "",
		    why != NULL ? why : "");
		jid_free(&j);
		return NULL;
	}
	bare = xstrdup(jid_bare(j));
	jid_free(&j);
	return bare;
}

/* list */

static void
list_human(struct json_object *o)
{
	struct json_object *regs, *r;
	size_t i, n;
	const char *tok;

	json_object_object_get_ex(o, "registrations", &regs);
	n = json_object_array_length(regs);
	if (n == 0) {
		printf("no registrations\n");
		return;
	}
	printf("%-30s %-18s %-24s %-19s %s\n", "ACCOUNT", "PROVIDER", "NODE",
	    "TOKEN", "LAST PUSH");
	for (i = 0; i < n; i++) {
		r = json_object_array_get_idx(regs, i);
		tok = ctl_str(r, "token");
		printf("%-30s %-18s %-24s %.*s%-3s %s\n", ctl_str(r, "account"),
		    ctl_str(r, "provider"), ctl_str(r, "node"),
		    CTL_TOKEN_SHOWN, tok,
		    strlen(tok) > CTL_TOKEN_SHOWN ? "..." : "",
		    ctl_str(r, "last_push"));
	}
	printf("%zu registration%s%s\n", n, n == 1 ? "" : "s",
	    json_object_get_boolean(json_object_object_get(o, "truncated")) ?
	    " shown; there are more (narrow the search)" : "");
}

int
ctl_list(struct ctl *ctl, int argc, char **argv)
{
	char limit[16], *account = NULL, *sql;
	const char *params[2], *where;
	struct json_object *o, *regs;
	PGresult *res;
	int i, n, np = 0;

	if (argc == 1)
		where = "";
	else if (argc == 3 && strcmp(argv[1], "account") == 0) {
		if ((account = account_norm(argv[2])) == NULL)
			return CTL_USAGE;
		where = "WHERE owner = $2";
		params[np + 1] = account;
		np++;
	} else if (argc == 3 && strcmp(argv[1], "node") == 0) {
		where = "WHERE starts_with(node, $2)";
		params[++np] = argv[2];
	} else if (argc == 3 && strcmp(argv[1], "token") == 0) {
		where = "WHERE starts_with(token, $2) OR "
		    "starts_with(voip_token, $2)";
		params[++np] = argv[2];
	} else
		return ctl_fail(CTL_USAGE, "usage: xpushctl list [account JID "
		    "| node PREFIX | token PREFIX]");
	snprintf(limit, sizeof(limit), "%d", CTL_LIST_MAX + 1);
	params[0] = limit;
	sql = xprintf("SELECT " CTL_DEVICE_COLS " FROM devices %s ORDER BY "
	    "owner, provider, token LIMIT $1::integer", where);
	res = ctl_db_query(ctl, sql, np + 1, params);
	free(sql);
	free(account);
	if (res == NULL)
		return CTL_DATABASE;
	n = PQntuples(res);
	o = json_object_new_object();
	regs = json_object_new_array();
	for (i = 0; i < n && i < CTL_LIST_MAX; i++)
		json_object_array_add(regs, device_json(res, i));
	PQclear(res);
	json_object_object_add(o, "registrations", regs);
	json_object_object_add(o, "truncated",
	    json_object_new_boolean(n > CTL_LIST_MAX));
	ctl_emit(ctl, o, list_human);
	return CTL_OK;
}

/* show */

static void
show_human(struct json_object *o)
{
	static const char *const keys[] = { "account", "provider", "node",
	    "token", "voip_token", "created", "updated", "last_push",
	    "last_error", "last_error_text", NULL };
	size_t i;

	for (i = 0; keys[i] != NULL; i++)
		printf("%-16s %s\n", keys[i], ctl_str(o, keys[i]));
}

int
ctl_show(struct ctl *ctl, int argc, char **argv)
{
	const char *params[1] = { argv[1] };
	PGresult *res;

	if ((res = ctl_db_query(ctl, "SELECT " CTL_DEVICE_COLS " FROM devices "
	    "WHERE node = $1", 1, params)) == NULL)
		return CTL_DATABASE;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return ctl_fail(CTL_NOTFOUND, "no registration has the node "
		    "'%s' (xpushctl list node PREFIX searches)", argv[1]);
	}
	ctl_emit(ctl, device_json(res, 0), show_human);
	PQclear(res);
	return CTL_OK;
}

/* delete, through core/store.c */

struct del_job {
	const char		*key;		/* node or account */
	struct ctl_wait		*w;
};

static void
del_node_cb(void *arg, enum store_status st, const char *msg)
{
	ctl_wait_done(arg, st, st == STORE_OK ? 1 : 0, msg);
}

static void
del_owner_cb(void *arg, enum store_status st, long long n, const char *msg)
{
	ctl_wait_done(arg, st, n, msg);
}

static void
del_node_start(struct store *s, void *arg)
{
	struct del_job *j = arg;

	store_device_delete(s, j->key, del_node_cb, j->w);
}

static void
del_owner_start(struct store *s, void *arg)
{
	struct del_job *j = arg;

	store_device_delete_owner(s, j->key, del_owner_cb, j->w);
}

static void
delete_human(struct json_object *o)
{
	long long n = ctl_int(o, "deleted");

	printf("%lld registration%s deleted\n", n, n == 1 ? "" : "s");
}

int
ctl_delete(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_wait w;
	struct del_job j;
	struct json_object *o;
	char *account = NULL;
	int rc;

	memset(&w, 0, sizeof(w));
	j.w = &w;
	if (strcmp(argv[1], "node") == 0) {
		j.key = argv[2];
		rc = ctl_store_run(ctl, del_node_start, &j, &w);
	} else if (strcmp(argv[1], "account") == 0) {
		if ((account = account_norm(argv[2])) == NULL)
			return CTL_USAGE;
		j.key = account;
		rc = ctl_store_run(ctl, del_owner_start, &j, &w);
	} else
		return ctl_fail(CTL_USAGE, "usage: xpushctl delete node NODE "
		    "| account JID");
	if (rc == CTL_OK && w.st != STORE_OK && w.st != STORE_NOTFOUND)
		rc = ctl_fail(CTL_DATABASE, "database: %s", w.msg != NULL ?
		    w.msg : store_status_str(w.st));
	else if (rc == CTL_OK && w.count == 0)
		rc = ctl_fail(CTL_NOTFOUND, "no registration %s '%s'",
		    account != NULL ? "of the account" : "has the node",
		    j.key);
	else if (rc == CTL_OK) {
		o = json_object_new_object();
		json_object_object_add(o, "deleted",
		    json_object_new_int64(w.count));
		ctl_emit(ctl, o, delete_human);
	}
	free(w.msg);
	free(account);
	return rc;
}

/* stats: registrations per provider, configured or not. */

static void
stats_human(struct json_object *o)
{
	struct json_object *provs, *p;
	size_t i, n;

	json_object_object_get_ex(o, "providers", &provs);
	n = json_object_array_length(provs);
	printf("%-24s %12s %12s %s\n", "PROVIDER", "REGISTRATIONS", "WITH ERROR",
	    "CONFIGURED");
	for (i = 0; i < n; i++) {
		p = json_object_array_get_idx(provs, i);
		printf("%-24s %12lld %12lld %s\n", ctl_str(p, "provider"),
		    ctl_int(p, "registrations"), ctl_int(p, "with_error"),
		    json_object_get_boolean(json_object_object_get(p,
		    "configured")) ? "yes" : "no");
	}
	printf("%-24s %12lld %12lld\n", "total", ctl_int(o, "registrations"),
	    ctl_int(o, "with_error"));
}

static struct json_object *
stats_entry(struct json_object *provs, const char *id)
{
	struct json_object *p;
	size_t i;

	for (i = 0; i < json_object_array_length(provs); i++) {
		p = json_object_array_get_idx(provs, i);
		if (strcmp(ctl_str(p, "provider"), id) == 0)
			return p;
	}
	p = json_object_new_object();
	json_object_object_add(p, "provider", json_object_new_string(id));
	json_object_object_add(p, "registrations", json_object_new_int64(0));
	json_object_object_add(p, "with_error", json_object_new_int64(0));
	json_object_object_add(p, "configured",
	    json_object_new_boolean(false));
	json_object_array_add(provs, p);
	return p;
}

/*
 * "with error": the provider's last answer for the registration was an
 * error (last_error later than last_push, or no push since).
 */
int
ctl_stats(struct ctl *ctl, int argc, char **argv)
{
	const struct cfg_node *b;
	struct json_object *o, *provs, *p;
	long long total = 0, errs = 0, n, e;
	PGresult *res;
	int i;

	if ((res = ctl_db_query(ctl, "SELECT provider, count(*), "
	    "count(*) FILTER (WHERE last_error IS NOT NULL AND (last_push IS "
	    "NULL OR last_error >= last_push)) FROM devices GROUP BY provider "
	    "ORDER BY provider", 0, NULL)) == NULL)
		return CTL_DATABASE;
	provs = json_object_new_array();
	for (b = conf_providers(ctl->conf); b != NULL; b = b->next)
		json_object_object_add(stats_entry(provs, b->key),
		    "configured", json_object_new_boolean(true));
	for (i = 0; i < PQntuples(res); i++) {
		p = stats_entry(provs, PQgetvalue(res, i, 0));
		n = strtoll(PQgetvalue(res, i, 1), NULL, 10);
		e = strtoll(PQgetvalue(res, i, 2), NULL, 10);
		json_object_object_add(p, "registrations",
		    json_object_new_int64(n));
		json_object_object_add(p, "with_error",
		    json_object_new_int64(e));
		total += n;
		errs += e;
	}
	PQclear(res);
	o = json_object_new_object();
	json_object_object_add(o, "providers", provs);
	json_object_object_add(o, "registrations", json_object_new_int64(total));
	json_object_object_add(o, "with_error", json_object_new_int64(errs));
	ctl_emit(ctl, o, stats_human);
	return CTL_OK;
}

/* errors: the most recent provider errors, newest first. */

static void
errors_human(struct json_object *o)
{
	struct json_object *errs, *r;
	size_t i, n;

	json_object_object_get_ex(o, "errors", &errs);
	n = json_object_array_length(errs);
	if (n == 0) {
		printf("no registration has an error\n");
		return;
	}
	for (i = 0; i < n; i++) {
		r = json_object_array_get_idx(errs, i);
		printf("%s %s %s %s: %s\n", ctl_str(r, "last_error"),
		    ctl_str(r, "provider"), ctl_str(r, "account"),
		    ctl_str(r, "node"), ctl_str(r, "last_error_text"));
	}
}

int
ctl_errors(struct ctl *ctl, int argc, char **argv)
{
	struct json_object *o, *errs;
	const char *params[1];
	char limit[16], *end;
	PGresult *res;
	long n = CTL_ERRORS_DEF;
	int i;

	if (argc == 2) {
		n = strtol(argv[1], &end, 10);
		if (*argv[1] == '\0' || *end != '\0' || n < 1 ||
		    n > CTL_ERRORS_MAX)
			return ctl_fail(CTL_USAGE, "errors: COUNT is a number "
			    "from 1 to %d, not '%s'", CTL_ERRORS_MAX, argv[1]);
	}
	snprintf(limit, sizeof(limit), "%ld", n);
	params[0] = limit;
	if ((res = ctl_db_query(ctl, "SELECT " CTL_DEVICE_COLS " FROM devices "
	    "WHERE last_error IS NOT NULL ORDER BY last_error DESC, node "
	    "LIMIT $1::integer", 1, params)) == NULL)
		return CTL_DATABASE;
	errs = json_object_new_array();
	for (i = 0; i < PQntuples(res); i++)
		json_object_array_add(errs, device_json(res, i));
	PQclear(res);
	o = json_object_new_object();
	json_object_object_add(o, "errors", errs);
	ctl_emit(ctl, o, errors_human);
	return CTL_OK;
}
