/*
 * Schema migrations (sql/migrations/NNN-name.sql), blocking, for
 * `xpushd --migrate` and the start-up check, before the event loop runs:
 * plain PQconnectdbParams/PQexec, no event_base.
 *
 * Each file runs in one transaction together with its row in
 * xpushd_schema_version, under an advisory lock so that two
 * `xpushd --migrate` at once apply each file once.
 */
#include "config.h"

#include <sys/types.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "core/log.h"
#include "core/migrate.h"
#include "core/xmalloc.h"

/* Serialises concurrent `xpushd --migrate` runs (pg_advisory_xact_lock). */
#define MIGRATE_LOCK_KEY	"7870757368640001"

/*
 * Keep in step with sql/schema.sql (test/integration/store_test.sh
 * compares them).
 */
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

/* The integer a one-row, one-column query answers; -1 on error. */
static int
mig_int(PGconn *pg, const char *sql, int *v_r, char **err)
{
	PGresult *res = PQexec(pg, sql);

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		*err = xprintf("reading the schema version: %s",
		    PQerrorMessage(pg));
		PQclear(res);
		return -1;
	}
	*v_r = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

/* The applied version, 0 without a version table, -1 on error. */
static int
mig_version(PGconn *pg, char **err)
{
	int v;

	if (mig_int(pg, "SELECT CASE WHEN to_regclass("
	    "'xpushd_schema_version') IS NULL THEN -1 ELSE 0 END", &v,
	    err) == -1)
		return -1;
	if (v == -1)
		return 0;
	if (mig_int(pg, "SELECT coalesce(max(version), 0) FROM "
	    "xpushd_schema_version", &v, err) == -1)
		return -1;
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
migrate_run(const char *conninfo, const char *dir, int target,
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
migrate_check(const char *conninfo, const char *dir, char **err)
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
