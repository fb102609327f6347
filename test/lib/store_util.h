/*
 * Helpers shared by the store and registry tests: run the event loop until
 * something happened, record what a store or registry callback reported,
 * start shell commands without blocking the loop.  Header-only, like
 * test/lib/tap.h.
 */
#ifndef XP_TEST_STORE_UTIL_H
#define XP_TEST_STORE_UTIL_H

#include <sys/types.h>
#include <sys/wait.h>

#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "core/migrate.h"
#include "core/registry.h"
#include "core/store.h"
#include "core/xmalloc.h"
#include "test/lib/tap.h"

extern char **environ;

static struct event_base *base;
static int res_reentrant;	/* callbacks run inside their call */

__attribute__((unused)) static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

__attribute__((unused)) static void
wait_tick_cb(evutil_socket_t fd, short what, void *arg)
{
}

/* Runs the loop until *cond (re-evaluated each round) or ms pass. */
#define WAIT_FOR(cond, ms) __extension__ ({		\
	bool _c = false;						\
	double _end = now_ms() + (ms);					\
	struct event *_t = event_new(base, -1, EV_PERSIST,		\
	    wait_tick_cb, NULL);					\
	struct timeval _tv = { 0, 10000 };				\
	event_add(_t, &_tv);						\
	while (!(_c = (cond)) && now_ms() < _end)			\
		event_base_loop(base, EVLOOP_ONCE);			\
	event_free(_t);							\
	_c; })

/* Runs the loop for ms. */
__attribute__((unused)) static void
spin(int ms)
{
	(void)WAIT_FOR(false, ms);
}

/* What a store callback reported. */
struct res {
	int			 calls;
	enum store_status	 st;
	char			*err;
	struct store_device	 dev;
	struct store_device	*devs;
	size_t			 ndevs;
	long long		 count;
	enum registry_status	 rst;		/* a registry answer */
	struct store_cert	 cert;
	size_t			 ncerts;
	char			*cert_providers;	/* space separated */
	bool			 returned;	/* set after the call returned */
	bool			 reentrant;	/* ran before it returned */
};

static char *
dupn(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

static void
dev_copy(struct store_device *d, const struct store_device *s)
{
	*d = *s;
	d->owner = dupn(s->owner);
	d->provider = dupn(s->provider);
	d->token = dupn(s->token);
	d->voip_token = dupn(s->voip_token);
	d->node = dupn(s->node);
	d->secret = dupn(s->secret);
	d->last_error_text = dupn(s->last_error_text);
	d->p2_device = dupn(s->p2_device);
	d->p2_channel = dupn(s->p2_channel);
	d->p2_muc = dupn(s->p2_muc);
}

static void
dev_clear(struct store_device *d)
{
	free(d->owner);
	free(d->provider);
	free(d->token);
	free(d->voip_token);
	free(d->node);
	free(d->secret);
	free(d->last_error_text);
	free(d->p2_device);
	free(d->p2_channel);
	free(d->p2_muc);
	memset(d, 0, sizeof(*d));
}

__attribute__((unused)) static void
res_reset(struct res *r)
{
	size_t i;

	free(r->err);
	dev_clear(&r->dev);
	for (i = 0; i < r->ndevs; i++)
		dev_clear(&r->devs[i]);
	free(r->devs);
	free(r->cert.provider);
	free(r->cert.pkcs12);
	free(r->cert.password);
	free(r->cert.cert_pem);
	free(r->cert.key_pem);
	free(r->cert_providers);
	memset(r, 0, sizeof(*r));
}

static void
res_note(struct res *r, enum store_status st, const char *err)
{
	if (!r->returned) {
		r->reentrant = true;
		res_reentrant++;
	}
	r->calls++;
	r->st = st;
	free(r->err);
	r->err = dupn(err);
}

__attribute__((unused)) static void
res_done_cb(void *arg, enum store_status st, const char *err)
{
	struct res *r = arg;

	res_note(r, st, err);
}

__attribute__((unused)) static void
res_device_cb(void *arg, enum store_status st, const struct store_device *d,
    const char *err)
{
	struct res *r = arg;

	res_note(r, st, err);
	dev_clear(&r->dev);
	if (d != NULL)
		dev_copy(&r->dev, d);
}

__attribute__((unused)) static void
res_devices_cb(void *arg, enum store_status st, const struct store_device *d,
    size_t n, const char *err)
{
	struct res *r = arg;
	size_t i;

	res_note(r, st, err);
	for (i = 0; i < r->ndevs; i++)
		dev_clear(&r->devs[i]);
	free(r->devs);
	r->devs = xcalloc(n + 1, sizeof(*r->devs));
	for (i = 0; i < n; i++)
		dev_copy(&r->devs[i], &d[i]);
	r->ndevs = n;
}

__attribute__((unused)) static void
res_count_cb(void *arg, enum store_status st, long long n, const char *err)
{
	struct res *r = arg;

	res_note(r, st, err);
	r->count = n;
}

__attribute__((unused)) static void
res_cert_cb(void *arg, enum store_status st, const struct store_cert *c,
    const char *err)
{
	struct res *r = arg;

	res_note(r, st, err);
	if (c == NULL)
		return;
	r->cert = *c;
	r->cert.provider = dupn(c->provider);
	r->cert.pkcs12 = c->pkcs12 ? xmemdup(c->pkcs12, c->pkcs12_len + 1) :
	    NULL;
	r->cert.password = dupn(c->password);
	r->cert.cert_pem = dupn(c->cert_pem);
	r->cert.key_pem = dupn(c->key_pem);
}

__attribute__((unused)) static void
res_certs_cb(void *arg, enum store_status st, const struct store_cert *c,
    size_t n, const char *err)
{
	struct res *r = arg;
	size_t i, len = 1;

	res_note(r, st, err);
	r->ncerts = n;
	for (i = 0; i < n; i++)
		len += strlen(c[i].provider) + 1;
	free(r->cert_providers);
	r->cert_providers = xcalloc(1, len);
	for (i = 0; i < n; i++) {
		if (i > 0)
			strcat(r->cert_providers, " ");
		strcat(r->cert_providers, c[i].provider);
	}
}

/* Answers to many operations issued at once, and how many went wrong. */
static int many_done, many_bad;

__attribute__((unused)) static void
many_done_cb(void *arg, enum store_status st, const char *err)
{
	many_done++;
	if (st != STORE_OK)
		many_bad++;
}

/*
 * A registry answer: the target goes into r->dev.  A cache hit answers
 * inside its call by design, so this notes r->reentrant but does not
 * count it in res_reentrant (which is about the store's callbacks).
 */
__attribute__((unused)) static void
res_registry_cb(void *arg, enum registry_status st,
    const struct push_target *t, const char *reason)
{
	struct res *r = arg;
	struct store_device d;

	if (!r->returned)
		r->reentrant = true;
	r->calls++;
	r->rst = st;
	r->st = st == REGISTRY_FOUND ? STORE_OK : STORE_EFAIL;
	free(r->err);
	r->err = dupn(reason);
	dev_clear(&r->dev);
	if (t == NULL)
		return;
	memset(&d, 0, sizeof(d));
	d.node = (char *)t->node;
	d.owner = (char *)t->owner;
	d.provider = (char *)t->provider;
	d.token = (char *)t->token;
	d.voip_token = (char *)t->voip_token;
	/* A p2 target's fingerprints, in the row's fields. */
	d.p2_device = (char *)t->p2_account;
	d.p2_channel = (char *)t->p2_channel;
	dev_copy(&r->dev, &d);
}

/* A registry lookup of node by from, with secret (or NULL). */
__attribute__((unused)) static void
reg_lookup(struct registry *reg, const char *node, const char *from,
    const char *secret, struct res *r)
{
	struct registry_query q;

	memset(&q, 0, sizeof(q));
	q.node = node;
	q.from = from;
	q.secret = secret;
	registry_lookup(reg, &q, res_registry_cb, r);
}

/* Issue an operation, note that it returned, wait for its callback. */
#define CALL(r, expr) do {						\
	res_reset(r);							\
	expr;								\
	(r)->returned = true;						\
	(void)WAIT_FOR((r)->calls > 0, 20000);				\
} while (0)

/* Starts sh -c cmd without waiting for it. */
__attribute__((unused)) static pid_t
spawn_sh(const char *cmd)
{
	char *argv[] = { "sh", "-c", (char *)cmd, NULL };
	pid_t pid;

	if (posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ) != 0)
		return -1;
	return pid;
}

/* Waits (running the loop) for a spawned child; its exit status or -1. */
__attribute__((unused)) static int
spawn_wait(pid_t pid, int ms)
{
	int status = 0;
	pid_t r = 0;

	(void)WAIT_FOR((r = waitpid(pid, &status, WNOHANG)) != 0, ms);
	if (r != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* Runs sql (no double quotes) through psql; its exit status or -1. */
__attribute__((unused)) static int
psql(const char *sql)
{
	char *cmd = xprintf("psql -X -q -v ON_ERROR_STOP=1 -c \"%s\"", sql);
	int rc;

	rc = spawn_wait(spawn_sh(cmd), 20000);
	free(cmd);
	return rc;
}

/* The test database, or skip the whole program. */
__attribute__((unused)) static const char *
test_db_uri(void)
{
	const char *uri = getenv("XPUSHD_TEST_DB_URI");

	if (uri == NULL || *uri == '\0') {
		printf("1..0 # SKIP XPUSHD_TEST_DB_URI not set "
		    "(run through the .sh wrapper)\n");
		exit(0);
	}
	return uri;
}

/* A store on the test database with the schema migrated. */
__attribute__((unused)) static void
test_migrate(const char *uri)
{
	char *err = NULL, *dir;
	const char *top = getenv("top_srcdir");

	dir = xprintf("%s/sql/migrations", top != NULL ? top : ".");
	if (migrate_run(uri, dir, 0, NULL, &err) != STORE_OK) {
		printf("Bail out! migrate: %s\n", err);
		exit(1);
	}
	free(dir);
}

__attribute__((unused)) static struct store *
test_store(const char *uri, int pool, int timeout_ms)
{
	struct store_conf conf;
	struct store_stats st;
	struct store *s;
	char *err = NULL;

	store_conf_defaults(&conf);
	conf.conninfo = uri;
	conf.pool_size = pool;
	conf.query_timeout_ms = timeout_ms;
	if ((s = store_new(base, &conf, &err)) == NULL) {
		printf("Bail out! store_new: %s\n", err);
		exit(1);
	}
	(void)WAIT_FOR((store_stats_get(s, &st), st.connections == pool &&
	    st.listening), 10000);
	return s;
}

/* A registry over s with room for cache nodes (0: none). */
__attribute__((unused)) static struct registry *
test_registry(struct store *s, size_t cache, bool require_secret,
    time_t (*now)(void))
{
	struct registry_conf conf;
	struct registry *reg;
	char *err = NULL;

	registry_conf_defaults(&conf);
	conf.cache_size = cache;
	conf.require_secret = require_secret;
	conf.now = now;
	if ((reg = registry_new(base, s, &conf, &err)) == NULL) {
		printf("Bail out! registry_new: %s\n", err);
		exit(1);
	}
	return reg;
}

#endif
