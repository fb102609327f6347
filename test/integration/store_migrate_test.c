/*
 * Schema migrations: from an empty database and from every earlier
 * version, re-running is a no-op, a failing migration leaves nothing
 * behind, a newer schema is reported, sql/schema.sql matches the
 * migrations, every table and column has a comment, and the triggers
 * NOTIFY what the caches need (and nothing on a last_push update).
 * Blocking libpq throughout, as `xpushd --migrate` is.
 */
#include "config.h"

#include <sys/select.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "core/log.h"
#include "core/migrate.h"
#include "core/store.h"
#include "core/xmalloc.h"
#include "test/lib/tap.h"

static const char *db_base, *top;
static PGconn *admin;
static char tmpdir[] = "/tmp/xpushd-migrate.XXXXXX";

static char *
db_uri(const char *name)
{
	return xprintf("%s/%s", db_base, name);
}

static void
sql(PGconn *pg, const char *q)
{
	PGresult *res = PQexec(pg, q);

	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK)
		printf("# %s: %s", q, PQerrorMessage(pg));
	PQclear(res);
}

/* First column of the first row, as a new string ("" if none). */
static char *
sql_value(const char *uri, const char *q)
{
	PGconn *pg = PQconnectdb(uri);
	PGresult *res;
	char *v;

	res = PQexec(pg, q);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0)
		v = xstrdup(PQgetvalue(res, 0, 0));
	else {
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			printf("# %s: %s", q, PQerrorMessage(pg));
		v = xstrdup("");
	}
	PQclear(res);
	PQfinish(pg);
	return v;
}

static char *
newdb(const char *name)
{
	char *q = xprintf("CREATE DATABASE %s", name);

	sql(admin, q);
	free(q);
	return db_uri(name);
}

static void
write_file(const char *dir, const char *name, const char *text)
{
	char *path = xprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");

	if (f == NULL || fputs(text, f) == EOF || fclose(f) == EOF)
		printf("Bail out! %s: %s\n", path, strerror(errno));
	free(path);
}

static char *
slurp_cmd(const char *cmd)
{
	FILE *p = popen(cmd, "r");
	char *buf = NULL;
	size_t len = 0, n;

	if (p == NULL)
		return xstrdup("");
	for (;;) {
		buf = xrealloc(buf, len + 4096 + 1);
		if ((n = fread(buf + len, 1, 4096, p)) == 0)
			break;
		len += n;
	}
	buf[len] = '\0';
	pclose(p);
	return buf;
}

/* pg_dump -s of a database, without comments, SET noise and the random
 * \restrict key of newer pg_dump. */
static char *
dump_schema(const char *uri)
{
	const char *bindir = getenv("PG_BINDIR");
	char *cmd, *out;

	cmd = xprintf("'%s/pg_dump' -s -O -x '%s' | grep -v -e '^--' "
	    "-e '^SET ' -e 'set_config' -e '^$' -e '^.restrict' "
	    "-e '^.unrestrict'", bindir ? bindir :
	    "/usr/bin", uri);
	out = slurp_cmd(cmd);
	free(cmd);
	return out;
}

static bool
contains(const char *s, const char *what)
{
	return s != NULL && strstr(s, what) != NULL;
}

static void
test_empty(const char *dir)
{
	char *uri = newdb("m_empty"), *err = NULL, *v;
	int applied = -1;

	is_int(migrate_check(uri, dir, &err), STORE_EFAIL,
	    "empty database: check fails");
	ok(contains(err, "run xpushd --migrate"), "... telling the operator "
	    "what to do: %s", err ? err : "");
	free(err);
	err = NULL;
	is_int(migrate_run(uri, dir, 0, &applied, &err), STORE_OK,
	    "migrate an empty database %s", err ? err : "");
	is_int(applied, 3, "... applied every migration");
	is_int(migrate_check(uri, dir, &err), STORE_OK, "now current");
	is_int(migrate_run(uri, dir, 0, &applied, &err), STORE_OK,
	    "migrate again");
	is_int(applied, 0, "... is a no-op");
	v = sql_value(uri, "SELECT string_agg(version || ' ' || name, ',') "
	    "FROM xpushd_schema_version");
	is_str(v, "1 001-initial.sql,2 002-cert-warnings.sql,3 003-p2.sql",
	    "version table records them");
	free(v);
	free(uri);
}

static void
test_steps(const char *dir)
{
	char *uri, *err = NULL, *v, *m1;
	int applied = -1;

	/* A private directory: 001 from the tree plus a test 002. */
	m1 = xprintf("cp '%s/001-initial.sql' '%s/'", dir, tmpdir);
	ok(system(m1) == 0, "copied 001 to a scratch directory");
	free(m1);
	write_file(tmpdir, "002-test.sql",
	    "ALTER TABLE devices ADD COLUMN test_note text;\n"
	    "COMMENT ON COLUMN devices.test_note IS 'test';\n");

	uri = newdb("m_steps");
	for (int v0 = 0; v0 < 2; v0++) {
		char name[32], *u;

		snprintf(name, sizeof(name), "m_from_%d", v0);
		u = newdb(name);
		if (v0 > 0)
			(void)migrate_run(u, tmpdir, v0, &applied, &err);
		is_int(migrate_check(u, tmpdir, &err), STORE_EFAIL,
		    "at version %d: outdated", v0);
		ok(contains(err, "xpushd --migrate"), "... %s", err);
		free(err);
		err = NULL;
		is_int(migrate_run(u, tmpdir, 0, &applied, &err), STORE_OK,
		    "migrate from version %d", v0);
		is_int(applied, 2 - v0, "... applied %d", 2 - v0);
		is_int(migrate_check(u, tmpdir, &err), STORE_OK,
		    "... current");
		v = sql_value(u, "SELECT count(*) FROM information_schema."
		    "columns WHERE table_name = 'devices' AND "
		    "column_name = 'test_note'");
		is_str(v, "1", "... 002 ran");
		free(v);
		free(u);
	}

	/* A broken 003 rolls back entirely. */
	(void)migrate_run(uri, tmpdir, 0, &applied, &err);
	write_file(tmpdir, "003-broken.sql",
	    "CREATE TABLE half_done (x int);\n"
	    "SELECT no_such_function();\n");
	is_int(migrate_run(uri, tmpdir, 0, &applied, &err), STORE_EFAIL,
	    "broken migration fails");
	ok(contains(err, "003-broken.sql"), "... naming the file: %s", err);
	free(err);
	err = NULL;
	v = sql_value(uri, "SELECT max(version) FROM xpushd_schema_version");
	is_str(v, "2", "... version stays 2");
	free(v);
	v = sql_value(uri, "SELECT to_regclass('half_done') IS NULL");
	is_str(v, "t", "... nothing half-applied");
	free(v);
	m1 = xprintf("%s/003-broken.sql", tmpdir);
	unlink(m1);
	free(m1);

	/* Two files with one number. */
	write_file(tmpdir, "002-again.sql", "SELECT 1;\n");
	is_int(migrate_run(uri, tmpdir, 0, &applied, &err), STORE_EFAIL,
	    "duplicate number refused");
	ok(contains(err, "same number"), "... %s", err);
	free(err);
	err = NULL;
	m1 = xprintf("%s/002-again.sql", tmpdir);
	unlink(m1);
	free(m1);
	free(uri);
}

/*
 * 003-p2 on a database that holds registrations: they stay, the Tigase
 * key (owner, provider, token) still holds for them, and p2 rows are
 * keyed by (provider, device, channel) instead.
 */
static void
test_p2_upgrade(const char *dir)
{
	char *uri = newdb("m_p2"), *err = NULL, *v, *cmd, *sub;
	PGconn *pg;
	int applied = -1;

	sub = xprintf("%s/p2", tmpdir);
	cmd = xprintf("mkdir -p '%s' && cp '%s/001-initial.sql' "
	    "'%s/002-cert-warnings.sql' '%s/'", sub, dir, dir, sub);
	ok(system(cmd) == 0, "001 and 002 in a scratch directory");
	free(cmd);
	is_int(migrate_run(uri, sub, 0, &applied, &err), STORE_OK,
	    "at version 2 %s", err ? err : "");
	pg = PQconnectdb(uri);
	sql(pg, "INSERT INTO devices (owner, provider, token, node, secret) "
	    "VALUES ('a@x', 'fcm-http-v1', 'T', 'N1', 'S1')");
	cmd = xprintf("cp '%s/003-p2.sql' '%s/'", dir, sub);
	ok(system(cmd) == 0, "003 added");
	free(cmd);
	is_int(migrate_run(uri, sub, 0, &applied, &err), STORE_OK,
	    "migrate to 3 %s", err ? err : "");
	is_int(applied, 1, "... applied 003");
	v = sql_value(uri, "SELECT node || ' ' || coalesce(p2_device, '-') "
	    "FROM devices");
	is_str(v, "N1 -", "... the registration stays, not a p2 one");
	free(v);
	v = sql_value(uri, "INSERT INTO devices (owner, provider, token, "
	    "node, secret) VALUES ('a@x', 'fcm-http-v1', 'T', 'N2', 'S2') "
	    "ON CONFLICT (owner, provider, token) WHERE p2_device IS NULL "
	    "DO UPDATE SET updated = now() RETURNING node");
	is_str(v, "N1", "... the Tigase key still holds");
	free(v);
	/* One device: its account and a channel share the token. */
	sql(pg, "INSERT INTO devices (owner, provider, token, node, secret, "
	    "p2_device, p2_channel) VALUES ('a@x', 'fcm-http-v1', 'T', "
	    "'p2.A', 'S', 'd', '')");
	sql(pg, "INSERT INTO devices (owner, provider, token, node, secret, "
	    "p2_device, p2_channel, p2_muc) VALUES ('a@x', 'fcm-http-v1', "
	    "'T', 'p2.B', 'S', 'd', 'c', 'room@muc.x')");
	v = sql_value(uri, "SELECT count(*) FROM devices");
	is_str(v, "3", "... p2 rows share the token");
	free(v);
	v = sql_value(uri, "INSERT INTO devices (owner, provider, token, "
	    "node, secret, p2_device, p2_channel) VALUES ('a@x', "
	    "'fcm-http-v1', 'T2', 'p2.C', 'S', 'd', '') ON CONFLICT "
	    "(provider, p2_device, p2_channel) WHERE p2_device IS NOT NULL "
	    "DO UPDATE SET token = EXCLUDED.token RETURNING node");
	is_str(v, "p2.A", "... and are keyed by device and channel");
	free(v);
	PQfinish(pg);
	free(sub);
	free(uri);
}

static void
test_future(const char *dir)
{
	char *uri = newdb("m_future"), *err = NULL;
	PGconn *pg;
	int applied;

	(void)migrate_run(uri, dir, 0, &applied, &err);
	pg = PQconnectdb(uri);
	sql(pg, "INSERT INTO xpushd_schema_version (version, name) "
	    "VALUES (999, '999-future.sql')");
	PQfinish(pg);
	is_int(migrate_check(uri, dir, &err), STORE_EFAIL,
	    "future version: check fails");
	ok(contains(err, "newer") && contains(err, "upgrade xpushd"),
	    "... %s", err);
	free(err);
	err = NULL;
	is_int(migrate_run(uri, dir, 0, &applied, &err), STORE_EFAIL,
	    "future version: migrate refuses");
	free(err);
	err = NULL;

	is_int(migrate_check("postgresql://x@127.0.0.1:1/none", dir,
	    &err), STORE_ETEMP, "no server: STORE_ETEMP");
	free(err);
	err = NULL;
	is_int(migrate_run(uri, "/nonexistent", 0, &applied, &err),
	    STORE_EFAIL, "missing directory");
	free(err);
	free(uri);
}

static void
test_schema_file(void)
{
	char *uri = newdb("m_schema_sql"), *migrated = db_uri("m_empty");
	char *cmd, *a, *b, *v, *err = NULL, *dir;

	cmd = xprintf("psql -X -q -v ON_ERROR_STOP=1 -d '%s' "
	    "-f '%s/sql/schema.sql' >/dev/null", uri, top);
	is_int(system(cmd), 0, "sql/schema.sql loads with psql");
	free(cmd);
	a = dump_schema(uri);
	b = dump_schema(migrated);
	ok(strlen(a) > 1000, "pg_dump works (%zu bytes)", strlen(a));
	if (!ok(strcmp(a, b) == 0, "schema.sql matches the migrations"))
		diag("compare: pg_dump -s '%s' vs '%s'", uri, migrated);
	free(a);
	free(b);
	dir = xprintf("%s/sql/migrations", top);
	is_int(migrate_check(uri, dir, &err), STORE_OK,
	    "schema.sql records its version");
	free(err);
	free(dir);

	v = sql_value(migrated, "SELECT count(*) FROM pg_class c JOIN "
	    "pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' "
	    "AND n.nspname = 'public' AND obj_description(c.oid, 'pg_class') "
	    "IS NULL");
	is_str(v, "0", "every table has a comment");
	free(v);
	v = sql_value(migrated, "SELECT coalesce(string_agg(c.relname || '.' "
	    "|| a.attname, ' '), '') FROM pg_attribute a JOIN pg_class c ON "
	    "c.oid = a.attrelid JOIN pg_namespace n ON n.oid = "
	    "c.relnamespace WHERE c.relkind = 'r' AND n.nspname = 'public' "
	    "AND a.attnum > 0 AND NOT a.attisdropped AND "
	    "col_description(c.oid, a.attnum) IS NULL");
	is_str(v, "", "every column has a comment");
	free(v);
	free(uri);
	free(migrated);
}

/* Waits up to ms for a notification on pg; its "channel payload". */
static char *
next_notify(PGconn *pg, int ms)
{
	PGnotify *n;
	fd_set rfds;
	struct timeval tv;
	char *s;

	for (;;) {
		PQconsumeInput(pg);
		if ((n = PQnotifies(pg)) != NULL) {
			s = xprintf("%s %s", n->relname, n->extra);
			PQfreemem(n);
			return s;
		}
		FD_ZERO(&rfds);
		FD_SET(PQsocket(pg), &rfds);
		tv.tv_sec = ms / 1000;
		tv.tv_usec = (ms % 1000) * 1000;
		if (select(PQsocket(pg) + 1, &rfds, NULL, NULL, &tv) <= 0)
			return NULL;
	}
}

static void
test_triggers(void)
{
	char *uri = db_uri("m_empty"), *n;
	PGconn *l = PQconnectdb(uri), *w = PQconnectdb(uri);

	sql(l, "LISTEN xpushd_devices");
	sql(l, "LISTEN xpushd_certificates");
	sql(w, "INSERT INTO devices (owner, provider, token, node, secret) "
	    "VALUES ('a@b', 'fcm', 't', 'NODE1', 's')");
	n = next_notify(l, 2000);
	is_str(n, "xpushd_devices NODE1", "insert notifies the node");
	free(n);
	sql(w, "UPDATE devices SET last_push = now(), last_error = now(), "
	    "last_error_text = 'x', updated = now() WHERE node = 'NODE1'");
	n = next_notify(l, 300);
	is_str(n, NULL, "bookkeeping update does not notify");
	free(n);
	sql(w, "UPDATE devices SET voip_token = 'v' WHERE node = 'NODE1'");
	n = next_notify(l, 2000);
	is_str(n, "xpushd_devices NODE1", "token update notifies");
	free(n);
	sql(w, "DELETE FROM devices WHERE node = 'NODE1'");
	n = next_notify(l, 2000);
	is_str(n, "xpushd_devices NODE1", "delete notifies");
	free(n);
	sql(w, "TRUNCATE devices");
	n = next_notify(l, 2000);
	is_str(n, "xpushd_devices *", "truncate notifies '*'");
	free(n);
	sql(w, "INSERT INTO certificates (provider, cert_pem, key_pem) "
	    "VALUES ('apns', 'c', 'k')");
	n = next_notify(l, 2000);
	is_str(n, "xpushd_certificates apns", "certificate insert notifies "
	    "the provider id");
	free(n);
	sql(w, "UPDATE certificates SET password = 'p'");
	n = next_notify(l, 2000);
	is_str(n, "xpushd_certificates apns", "certificate update notifies");
	free(n);
	sql(w, "DELETE FROM certificates");
	n = next_notify(l, 2000);
	is_str(n, "xpushd_certificates apns", "certificate delete notifies");
	free(n);
	PQfinish(l);
	PQfinish(w);
	free(uri);
}

int
main(void)
{
	const char *uri = getenv("XPUSHD_TEST_DB_URI");
	char *dir, *cmd;

	db_base = getenv("XPUSHD_TEST_DB_BASE");
	if (uri == NULL || db_base == NULL) {
		printf("1..0 # SKIP XPUSHD_TEST_DB_URI not set\n");
		return 0;
	}
	log_init(true, false, "store_migrate_test");
	if ((top = getenv("top_srcdir")) == NULL)
		top = ".";
	if (mkdtemp(tmpdir) == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	admin = PQconnectdb(uri);
	if (PQstatus(admin) != CONNECTION_OK) {
		printf("Bail out! %s", PQerrorMessage(admin));
		return 1;
	}
	dir = xprintf("%s/sql/migrations", top);

	test_empty(dir);
	test_steps(dir);
	test_p2_upgrade(dir);
	test_future(dir);
	test_schema_file();
	test_triggers();

	PQfinish(admin);
	cmd = xprintf("rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		diag("could not remove %s", tmpdir);
	free(cmd);
	free(dir);
	return tap_done();
}
