/*
 * xpushctl: command line, configuration, output, exit codes, and the
 * subcommands that are the daemon's own one-shot jobs (check-config as
 * `xpushd -t`, migrate as `xpushd --migrate`).  See ctl/ctl.h.
 */
#include "config.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "core/log.h"
#include "core/migrate.h"
#include "core/provider.h"
#include "core/rest.h"
#include "core/xmalloc.h"
#include "core/xpushd.h"
#include "ctl/ctl.h"

#define CTL_DEFAULT_CONF	SYSCONFDIR "/xpushd/xpushd.conf"

/* core/stats.c (linked through core/provider.c) reads it; unused here. */
static struct xpushd xpd_storage;
struct xpushd *xpd = &xpd_storage;

static int	ctl_check_config(struct ctl *, int, char **);
static int	ctl_migrate(struct ctl *, int, char **);

static const struct ctl_cmd commands[] = {
	{ "list", "[account JID | node NODE | token PREFIX]", 0, 2,
	  ctl_list },
	{ "show", "NODE", 1, 1, ctl_show },
	{ "delete", "node NODE | account JID", 2, 2, ctl_delete },
	{ "stats", "", 0, 0, ctl_stats },
	{ "errors", "[COUNT]", 0, 1, ctl_errors },
	{ "cert", "set [-P password-file] PROVIDER FILE [KEY-FILE] |\n"
	  "\t\tshow [PROVIDER] | check [PROVIDER]", 1, 6, ctl_cert },
	{ "check-config", "", 0, 0, ctl_check_config },
	{ "migrate", "", 0, 0, ctl_migrate },
	{ "status", "", 0, 0, ctl_status },
	{ "vapid-key", "[PROVIDER]", 0, 1, ctl_vapid_key },
	{ NULL, NULL, 0, 0, NULL }
};

static void __attribute__((noreturn))
usage(int status)
{
	FILE *f = status == 0 ? stdout : stderr;
	const struct ctl_cmd *c;

	fprintf(f, "usage: xpushctl [-dhV] [-c file] [--json] command "
	    "[argument ...]\ncommands:\n");
	for (c = commands; c->name != NULL; c++)
		fprintf(f, "  %-13s %s\n", c->name, c->args);
	fprintf(f, "default configuration file: %s\n", CTL_DEFAULT_CONF);
	exit(status);
}

int
ctl_fail(int code, const char *fmt, ...)
{
	va_list ap;

	fputs("xpushctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

void
ctl_emit(struct ctl *ctl, struct json_object *obj,
    void (*human)(struct json_object *))
{
	if (ctl->json)
		printf("%s\n", json_object_to_json_string_ext(obj,
		    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED));
	else
		human(obj);
	json_object_put(obj);
}

struct json_object *
ctl_time(time_t t)
{
	char buf[32];
	struct tm tm;

	if (t == 0)
		return NULL;
	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_object_new_string(buf);
}

const char *
ctl_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || v == NULL)
		return "-";
	return json_object_get_string(v);
}

long long
ctl_int(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || v == NULL)
		return 0;
	return (long long)json_object_get_int64(v);
}

const char *
ctl_migrations_dir(const struct xp_conf *conf)
{
	const char *d = conf_str(conf, "database", "migrations");

	return d != NULL && *d != '\0' ? d : PKGDATADIR "/sql/migrations";
}

/* The database */

/*
 * What core/migrate.c said: CTL_OK, or CTL_DATABASE after printing err
 * (freed); an unreachable database points at database.uri.
 */
static int
migrate_trouble(struct ctl *ctl, enum store_status st, const char *what,
    char *err)
{
	if (st == STORE_OK)
		return CTL_OK;
	if (st == STORE_ETEMP)
		ctl_fail(CTL_DATABASE, "%s (database.uri in %s)", err,
		    ctl->conf_path);
	else
		ctl_fail(CTL_DATABASE, "%s%s", what, err);
	free(err);
	return CTL_DATABASE;
}

int
ctl_db_open(struct ctl *ctl)
{
	const char *uri = conf_str(ctl->conf, "database", "uri");
	const char *keys[] = { "dbname", "client_encoding",
	    "fallback_application_name", "connect_timeout", NULL };
	const char *vals[] = { uri, "UTF8", "xpushctl", "10", NULL };
	enum store_status st;
	char *err = NULL;

	st = migrate_check(uri, ctl_migrations_dir(ctl->conf), &err);
	if (migrate_trouble(ctl, st, "", err) != CTL_OK)
		return -1;
	if ((ctl->pg = PQconnectdbParams(keys, vals, 1)) == NULL)
		fatalx("PQconnectdbParams: out of memory");
	if (PQstatus(ctl->pg) != CONNECTION_OK) {
		ctl_fail(CTL_DATABASE, "cannot connect to the database: %.*s",
		    (int)strcspn(PQerrorMessage(ctl->pg), "\n"),
		    PQerrorMessage(ctl->pg));
		PQfinish(ctl->pg);
		ctl->pg = NULL;
		return -1;
	}
	return 0;
}

PGresult *
ctl_db_query(struct ctl *ctl, const char *sql, int nparams,
    const char *const *params)
{
	PGresult *res;
	const char *msg;

	if (ctl->pg == NULL && ctl_db_open(ctl) == -1)
		return NULL;
	res = PQexecParams(ctl->pg, sql, nparams, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK ||
	    PQresultStatus(res) == PGRES_COMMAND_OK)
		return res;
	msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	if (msg == NULL)
		msg = PQerrorMessage(ctl->pg);
	ctl_fail(CTL_DATABASE, "database: %.*s", (int)strcspn(msg, "\n"), msg);
	PQclear(res);
	return NULL;
}

void
ctl_wait_done(struct ctl_wait *w, enum store_status st, long long n,
    const char *msg)
{
	w->st = st;
	w->count = n;
	w->msg = msg != NULL ? xstrdup(msg) : NULL;
	w->done = true;
	event_base_loopbreak(w->base);
}

int
ctl_store_run(struct ctl *ctl, void (*start)(struct store *, void *),
    void *arg, struct ctl_wait *w)
{
	struct event_base *base;
	struct store_conf sc;
	struct store *s;
	char *err = NULL;

	if (ctl->pg == NULL && ctl_db_open(ctl) == -1)
		return CTL_DATABASE;
	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	store_conf_defaults(&sc);
	sc.conninfo = conf_str(ctl->conf, "database", "uri");
	sc.pool_size = 1;
	sc.query_timeout_ms = (int)conf_int(ctl->conf, "database",
	    "query-timeout");
	sc.connect_timeout_ms = (int)conf_int(ctl->conf, "database",
	    "connect-timeout");
	if ((s = store_new(base, &sc, &err)) == NULL) {
		ctl_fail(CTL_DATABASE, "database: %s", err);
		free(err);
		event_base_free(base);
		return CTL_DATABASE;
	}
	w->base = base;
	w->done = false;
	start(s, arg);
	while (!w->done)
		if (event_base_loop(base, EVLOOP_ONCE) == -1)
			fatalx("event_base_loop failed");
	store_free(&s);
	event_base_free(base);
	return CTL_OK;
}

/* check-config: what `xpushd -t` checks, modules included. */

static void
check_human(struct json_object *o)
{
	printf("%s: configuration OK\n", ctl_str(o, "file"));
}

static int
ctl_check_config(struct ctl *ctl, int argc, char **argv)
{
	struct json_object *o;
	char *err = NULL;

	if (providers_check(ctl->conf, &err) == -1 ||
	    rest_check_conf(ctl->conf, &err) == -1) {
		ctl_fail(CTL_CONFIG, "%s", err);
		free(err);
		return CTL_CONFIG;
	}
	o = json_object_new_object();
	json_object_object_add(o, "file",
	    json_object_new_string(ctl->conf_path));
	json_object_object_add(o, "result", json_object_new_string("ok"));
	ctl_emit(ctl, o, check_human);
	return CTL_OK;
}

/* migrate: what `xpushd --migrate` does. */

static void
migrate_human(struct json_object *o)
{
	long long n = ctl_int(o, "applied");

	printf("%lld migration%s applied, the schema is at version %lld\n",
	    n, n == 1 ? "" : "s", ctl_int(o, "version"));
}

static int
ctl_migrate(struct ctl *ctl, int argc, char **argv)
{
	struct json_object *o;
	PGresult *res;
	enum store_status st;
	char *err = NULL;
	int applied = 0;

	st = migrate_run(conf_str(ctl->conf, "database", "uri"),
	    ctl_migrations_dir(ctl->conf), 0, &applied, &err);
	if (migrate_trouble(ctl, st, "migrate: ", err) != CTL_OK)
		return CTL_DATABASE;
	if ((res = ctl_db_query(ctl, "SELECT max(version) FROM "
	    "xpushd_schema_version", 0, NULL)) == NULL)
		return CTL_DATABASE;
	o = json_object_new_object();
	json_object_object_add(o, "applied", json_object_new_int(applied));
	json_object_object_add(o, "version",
	    json_object_new_int(atoi(PQgetvalue(res, 0, 0))));
	PQclear(res);
	ctl_emit(ctl, o, migrate_human);
	return CTL_OK;
}

/* "--json" may stand anywhere before "--"; it is taken out of argv. */
static bool
take_json(int *argcp, char **argv)
{
	bool json = false;
	int i, j;

	for (i = j = 0; i < *argcp; i++) {
		if (strcmp(argv[i], "--") == 0) {
			while (i < *argcp)
				argv[j++] = argv[i++];
			break;
		}
		if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "-j")
		    == 0)
			json = true;
		else
			argv[j++] = argv[i];
	}
	argv[j] = NULL;
	*argcp = j;
	return json;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const struct ctl_cmd *c;
	struct ctl ctl;
	bool debug = false;
	char *err = NULL;
	int ch, rc, nargs;

	memset(&ctl, 0, sizeof(ctl));
	ctl.conf_path = CTL_DEFAULT_CONF;
	ctl.json = take_json(&argc, argv);
	while ((ch = getopt_long(argc, argv, "+c:dhV", longopts, NULL))
	    != -1) {
		switch (ch) {
		case 'c':
			ctl.conf_path = optarg;
			break;
		case 'd':
			debug = true;
			break;
		case 'V':
			printf("xpushctl %s\n", PACKAGE_VERSION);
			return CTL_OK;
		case 'h':
			usage(CTL_OK);
		default:
			usage(CTL_USAGE);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0)
		usage(CTL_USAGE);
	for (c = commands; c->name != NULL; c++)
		if (strcmp(c->name, argv[0]) == 0)
			break;
	if (c->name == NULL) {
		ctl_fail(CTL_USAGE, "unknown command '%s' (xpushctl -h lists "
		    "them)", argv[0]);
		return CTL_USAGE;
	}
	nargs = argc - 1;
	if (nargs < c->min_args || nargs > c->max_args) {
		ctl_fail(CTL_USAGE, "usage: xpushctl %s %s", c->name, c->args);
		return CTL_USAGE;
	}
	log_init(true, debug, "xpushctl");
	if ((ctl.conf = conf_load(ctl.conf_path, options_check_provider_basic,
	    &err)) == NULL) {
		ctl_fail(CTL_CONFIG, "%s", err);
		free(err);
		return CTL_CONFIG;
	}
	rc = c->run(&ctl, argc, argv);
	if (ctl.pg != NULL)
		PQfinish(ctl.pg);
	conf_free(&ctl.conf);
	return rc;
}
