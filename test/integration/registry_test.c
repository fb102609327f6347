/*
 * Registry: node -> push target against a real PostgreSQL (started by
 * test/integration/registry_test.sh): found, unknown, forbidden (publisher,
 * secret, require-secret) and unavailable; the cache (filled on a miss,
 * answered from on a hit without a query, counted once either way);
 * invalidation across two registries through NOTIFY and by the registry's own
 * deletes; the last_push write policy under a controllable clock; a dead
 * VoIP token cleared alone; the p2 source (its rules, its fingerprints,
 * from the database and from the cache); the fpush sources (core/fpush.c):
 * pushModule before the rows, the default module after them, refusals,
 * mode off; the misses of one loop turn batched into one query
 * (duplicates, hits among them, the batch limit, a NOTIFY while a batch
 * is in flight, a failed batch).
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ctype.h>

#include "core/fpush.h"
#include "core/log.h"
#include "core/options.h"
#include "test/lib/store_util.h"
#include "xml/form.h"
#include "xml/node.h"

#define WITHIN_MS	2000
#define MANY		500

static struct store *store;
static struct registry *reg;
static time_t fake_now = 1800000000;

static time_t
fake_clock(void)
{
	return fake_now;
}

static uint64_t
misses(void)
{
	struct store_stats st;

	store_stats_get(store, &st);
	return st.cache_misses;
}

static uint64_t
hits(void)
{
	struct store_stats st;

	store_stats_get(store, &st);
	return st.cache_hits;
}

static uint64_t
queries(void)
{
	struct store_stats st;

	store_stats_get(store, &st);
	return st.queries;
}

static char *
registered(struct store *s, const char *owner, const char *token,
    char **secret_r)
{
	struct res r = { 0 };
	char *node;

	CALL(&r, store_device_register(s, owner, "apns", token, NULL,
	    res_device_cb, &r));
	node = xstrdup(r.st == STORE_OK ? r.dev.node : "?");
	if (secret_r != NULL)
		*secret_r = xstrdup(r.st == STORE_OK ? r.dev.secret : "?");
	res_reset(&r);
	return node;
}

/*
 * Notifications come in commit order on the LISTEN connection: once a
 * NOTIFY sent now is heard, every change committed before it has reached
 * the registry (and a lookup sent from now on may fill the cache).  The
 * marker goes on the certificates channel, which no registry reads.
 */
static int drained_seen;

static void
drained_cb(void *arg, const char *provider)
{
	if (provider != NULL && strcmp(provider, arg) == 0)
		drained_seen = 1;
}

static void
notifications_drained(struct store *s)
{
	static int seq;
	char marker[32], *sql;

	snprintf(marker, sizeof(marker), "drained-%d", ++seq);
	drained_seen = 0;
	store_on_certificate_change(s, drained_cb, marker);
	sql = xprintf("NOTIFY xpushd_certificates, '%s'", marker);
	(void)psql(sql);
	free(sql);
	(void)WAIT_FOR(drained_seen, 20000);
	store_on_certificate_change(s, NULL, NULL);
}

static void
test_lookup(void)
{
	struct registry_stats rs;
	struct res r = { 0 };
	char *node, *secret;
	uint64_t m, h, q, lookups;

	node = registered(store, "alice@example.com", "0011aabb", &secret);
	registry_stats_get(reg, &rs);
	lookups = rs.lookups;
	m = misses();
	h = hits();

	CALL(&r, reg_lookup(reg, node, "example.com", NULL, &r));
	is_int(r.rst, REGISTRY_FOUND, "found from the database");
	is_str(r.dev.node, node, "target: node");
	is_str(r.dev.owner, "alice@example.com", "target: owner");
	is_str(r.dev.provider, "apns", "target: provider");
	is_str(r.dev.token, "0011aabb", "target: token");
	ok(r.dev.voip_token == NULL, "target: no VoIP token");
	ok(!r.reentrant, "a miss answers from the loop");
	is_int(misses() - m, 1, "a miss is counted once");
	is_int(hits() - h, 0, "... and no hit");
	ok(registry_cached(reg, node), "the lookup filled the cache");

	q = queries();
	CALL(&r, reg_lookup(reg, node, "example.com", NULL, &r));
	is_int(r.rst, REGISTRY_FOUND, "found again");
	is_str(r.dev.token, "0011aabb", "... same device");
	ok(r.reentrant, "a cache hit answers before registry_lookup returns");
	is_int(queries(), q, "a cache hit sends no query");
	is_int(hits() - h, 1, "a hit is counted once");
	is_int(misses() - m, 1, "... and no miss");

	/* The secret, on a cached entry. */
	CALL(&r, reg_lookup(reg, node, "example.com", secret, &r));
	is_int(r.rst, REGISTRY_FOUND, "cached: right secret");
	CALL(&r, reg_lookup(reg, node, "example.com", "wrong", &r));
	ok(r.rst == REGISTRY_FORBIDDEN && r.dev.node == NULL,
	    "cached: wrong secret: forbidden (%s)", r.err ? r.err : "");
	CALL(&r, reg_lookup(reg, node, "example.com", "", &r));
	is_int(r.rst, REGISTRY_FORBIDDEN, "cached: empty secret: forbidden");
	CALL(&r, reg_lookup(reg, node, "example.com", NULL, &r));
	is_int(r.rst, REGISTRY_FOUND, "cached: no secret, not required: found");

	/* The publisher. */
	CALL(&r, reg_lookup(reg, node, "alice@example.com", NULL, &r));
	is_int(r.rst, REGISTRY_FOUND, "the owner's bare JID may publish");
	CALL(&r, reg_lookup(reg, node, "other.example", NULL, &r));
	is_int(r.rst, REGISTRY_FORBIDDEN, "another domain: forbidden");
	CALL(&r, reg_lookup(reg, node, "bob@example.com", NULL, &r));
	is_int(r.rst, REGISTRY_FORBIDDEN, "another account: forbidden");
	CALL(&r, reg_lookup(reg, node, "example.com/res", NULL, &r));
	is_int(r.rst, REGISTRY_FORBIDDEN, "the domain with a resource: "
	    "forbidden");
	CALL(&r, reg_lookup(reg, node, "alice@example.com/phone", NULL, &r));
	is_int(r.rst, REGISTRY_FORBIDDEN, "a full JID: forbidden");
	CALL(&r, reg_lookup(reg, node, "not a jid@@", NULL, &r));
	is_int(r.rst, REGISTRY_FORBIDDEN, "an invalid JID: forbidden");

	/* require-secret. */
	{
		struct registry_conf rc;

		registry_conf_defaults(&rc);
		rc.cache_size = 1000;
		rc.require_secret = true;
		registry_reconfigure(reg, &rc);
		CALL(&r, reg_lookup(reg, node, "example.com", NULL, &r));
		ok(r.rst == REGISTRY_FORBIDDEN, "require-secret: a missing "
		    "secret is forbidden (%s)", r.err ? r.err : "");
		CALL(&r, reg_lookup(reg, node, "example.com", secret, &r));
		is_int(r.rst, REGISTRY_FOUND, "require-secret: right secret");
		rc.require_secret = false;
		registry_reconfigure(reg, &rc);
	}

	m = misses();
	CALL(&r, reg_lookup(reg, "no-such-node", "example.com", NULL, &r));
	ok(r.rst == REGISTRY_UNKNOWN && !r.reentrant, "unknown node (%s)",
	    r.err ? r.err : "");
	is_int(misses() - m, 1, "... one miss");
	ok(!registry_cached(reg, "no-such-node"), "... nothing cached");
	registry_stats_get(reg, &rs);
	is_int(rs.lookups - lookups, 15, "every lookup counted");
	{
		struct store_stats st;

		store_stats_get(store, &st);
		is_int(st.cache_hits + st.cache_misses, rs.lookups,
		    "hits + misses = lookups: each counted exactly once");
	}

	/* The registry's own delete and a store unregister drop the entry. */
	CALL(&r, store_device_unregister(store, "alice@example.com", "apns",
	    "0011aabb", res_done_cb, &r));
	is_int(r.st, STORE_OK, "unregister");
	ok(!registry_cached(reg, node), "unregister dropped the cache entry "
	    "at once");
	CALL(&r, reg_lookup(reg, node, "example.com", NULL, &r));
	is_int(r.rst, REGISTRY_UNKNOWN, "... lookup after it: unknown");
	free(node);
	free(secret);

	node = registered(store, "bob@example.com", "22", NULL);
	CALL(&r, reg_lookup(reg, node, "example.com", NULL, &r));
	ok(registry_cached(reg, node), "bob cached");
	{
		struct push_target t = { node, "bob@example.com", "apns",
		    "22", NULL, true,
		    XP_PROFILE_TIGASE, NULL, NULL };

		CALL(&r, registry_forget(reg, &t, "test", res_done_cb, &r));
		ok(r.st == STORE_OK && !r.reentrant, "registry_forget "
		    "deleted the row, answered from the loop");
		ok(!registry_cached(reg, node), "... and from the cache");
		CALL(&r, store_device_delete(store, node, res_done_cb, &r));
		is_int(r.st, STORE_NOTFOUND, "... the row is gone");
		t.stored = false;
		CALL(&r, registry_forget(reg, &t, "test", res_done_cb, &r));
		ok(r.calls == 1 && r.st == STORE_OK && !r.reentrant,
		    "forgetting a target without a row: done, from the loop");
	}
	free(node);
	res_reset(&r);
}

/* The secret and publisher checks when the row comes from the database. */
static void
test_uncached(const char *uri)
{
	struct registry *r0;
	struct store *s;
	struct res r = { 0 };
	char *node, *secret;
	struct store_stats st;

	s = test_store(uri, 1, 5000);
	r0 = test_registry(s, 0, true, NULL);
	node = registered(s, "carol@example.com", "33", &secret);
	CALL(&r, reg_lookup(r0, node, "example.com", secret, &r));
	ok(r.rst == REGISTRY_FOUND && !r.reentrant, "no cache: found with "
	    "the right secret");
	CALL(&r, reg_lookup(r0, node, "example.com", "wrong", &r));
	is_int(r.rst, REGISTRY_FORBIDDEN, "no cache: wrong secret");
	CALL(&r, reg_lookup(r0, node, "example.com", NULL, &r));
	is_int(r.rst, REGISTRY_FORBIDDEN, "no cache, require-secret: missing "
	    "secret");
	CALL(&r, reg_lookup(r0, node, "elsewhere.example", secret, &r));
	is_int(r.rst, REGISTRY_FORBIDDEN, "no cache: another domain");
	ok(!registry_cached(r0, node), "cache-size 0 caches nothing");
	store_stats_get(s, &st);
	ok(st.cache_misses == 4 && st.cache_hits == 0, "four misses counted "
	    "(%llu), once each", (unsigned long long)st.cache_misses);
	CALL(&r, store_device_delete(s, node, res_done_cb, &r));
	free(node);
	free(secret);
	res_reset(&r);
	registry_free(&r0);
	store_free(&s);
}

static void
test_unavailable(void)
{
	struct store_conf conf;
	struct registry *r0;
	struct store *s;
	struct res r = { 0 };
	char *err = NULL;

	store_conf_defaults(&conf);
	conf.conninfo = "postgresql://nobody@127.0.0.1:1/none";
	s = store_new(base, &conf, &err);
	r0 = test_registry(s, 100, false, NULL);
	CALL(&r, reg_lookup(r0, "some-node", "example.com", NULL, &r));
	ok(r.calls == 1 && r.rst == REGISTRY_UNAVAILABLE && !r.reentrant,
	    "database down: unavailable, from the loop (%s)",
	    r.err ? r.err : "");
	/* A lookup in flight when the registry goes: answered by the store. */
	res_reset(&r);
	reg_lookup(r0, "other-node", "example.com", NULL, &r);
	r.returned = true;
	registry_free(&r0);
	ok(r0 == NULL, "registry_free NULLs the pointer");
	ok(r.calls == 0, "... the lookup still waits for the store");
	store_free(&s);
	ok(r.calls == 1 && r.rst == REGISTRY_UNAVAILABLE,
	    "a lookup pending at registry_free is still answered once");
	res_reset(&r);
}

/* Two registries, two stores: what one deletes leaves the other's cache. */
static void
test_two_registries(const char *uri)
{
	struct store *s2;
	struct registry *reg2;
	struct res r = { 0 };
	char *node, *node2;
	double t0;
	struct store_stats st;
	uint64_t notes;

	s2 = test_store(uri, 1, 5000);
	reg2 = test_registry(s2, 100, false, NULL);
	store_stats_get(s2, &st);
	notes = st.notifications;
	node = registered(store, "dave@example.com", "44", NULL);
	node2 = registered(store, "erin@example.com", "55", NULL);
	/* A lookup sent before the inserts' NOTIFY came would not cache. */
	ok(WAIT_FOR((store_stats_get(s2, &st), st.notifications >= notes + 2),
	    WITHIN_MS), "the other store heard of both inserts");
	CALL(&r, reg_lookup(reg, node, "example.com", NULL, &r));
	CALL(&r, reg_lookup(reg2, node, "example.com", NULL, &r));
	CALL(&r, reg_lookup(reg2, node2, "example.com", NULL, &r));
	ok(registry_cached(reg, node) && registry_cached(reg2, node) &&
	    registry_cached(reg2, node2), "both registries cache the node");
	{
		struct push_target t = { node, "dave@example.com", "apns",
		    "44", NULL, true,
		    XP_PROFILE_TIGASE, NULL, NULL };

		CALL(&r, registry_forget(reg, &t, "test", res_done_cb, &r));
	}
	t0 = now_ms();
	ok(WAIT_FOR(!registry_cached(reg2, node), WITHIN_MS), "a forget in "
	    "one reaches the other's cache through NOTIFY (%.1f ms)",
	    now_ms() - t0);
	ok(registry_cached(reg2, node2), "... the other entry stays");
	CALL(&r, reg_lookup(reg2, node, "example.com", NULL, &r));
	is_int(r.rst, REGISTRY_UNKNOWN, "... and the node is unknown there");

	/* A re-registration through the other store changes the row. */
	CALL(&r, store_device_register(s2, "erin@example.com", "apns", "55",
	    "voip-55", res_device_cb, &r));
	ok(WAIT_FOR(!registry_cached(reg2, node2), WITHIN_MS), "its own "
	    "change leaves its cache through NOTIFY too");
	CALL(&r, reg_lookup(reg2, node2, "example.com", NULL, &r));
	is_str(r.dev.voip_token, "voip-55", "... the new VoIP token is seen");

	CALL(&r, store_device_delete(store, node2, res_done_cb, &r));
	free(node);
	free(node2);
	res_reset(&r);
	registry_free(&reg2);
	store_free(&s2);
}

/* A lookup and a delete of its node in flight together. */
static void
test_race(void)
{
	struct res r = { 0 }, r2 = { 0 };
	char *node;

	node = registered(store, "frank@example.com", "66", NULL);
	res_reset(&r);
	reg_lookup(reg, node, "example.com", NULL, &r);
	r.returned = true;
	/* Our own unregister tells the registry before its answer comes. */
	CALL(&r2, store_device_unregister(store, "frank@example.com", "apns",
	    "66", res_done_cb, &r2));
	ok(WAIT_FOR(r.calls == 1, WITHIN_MS), "the lookup answered");
	ok(!registry_cached(reg, node), "a lookup racing an unregister of "
	    "its node leaves nothing cached (%s)",
	    r.rst == REGISTRY_FOUND ? "found" : "not found");
	free(node);
	res_reset(&r);
	res_reset(&r2);
}

static char *many_nodes[MANY];

static void
many_cb(void *arg, enum registry_status st, const struct push_target *t,
    const char *reason)
{
	many_done++;
	if (st != REGISTRY_FOUND)
		many_bad++;
}

/* Many lookups at once fill the cache; then every one is a hit. */
static void
test_many(void)
{
	struct registry_query q;
	struct store_stats st;
	char owner[64];
	size_t before;
	uint64_t notes;
	double t0, t;
	int i;

	store_stats_get(store, &st);
	before = st.cache_entries;
	notes = st.notifications;
	for (i = 0; i < MANY; i++) {
		snprintf(owner, sizeof(owner), "many%d@example.com", i);
		many_nodes[i] = registered(store, owner, "77", NULL);
	}
	/* Lookups sent before the inserts' NOTIFYs came would not cache. */
	ok(WAIT_FOR((store_stats_get(store, &st), st.notifications >=
	    notes + MANY), WITHIN_MS), "one notification per new device");
	memset(&q, 0, sizeof(q));
	q.from = "example.com";
	many_done = many_bad = 0;
	for (i = 0; i < MANY; i++) {
		q.node = many_nodes[i];
		registry_lookup(reg, &q, many_cb, NULL);
	}
	ok(WAIT_FOR(many_done == MANY, 30000) && many_bad == 0,
	    "%d lookups at once, all found", MANY);
	store_stats_get(store, &st);
	ok(st.cache_entries >= before + MANY, "cache holds them (%zu)",
	    st.cache_entries);
	many_done = many_bad = 0;
	t0 = now_ms();
	for (i = 0; i < MANY; i++) {
		q.node = many_nodes[i];
		registry_lookup(reg, &q, many_cb, NULL);
	}
	t = now_ms() - t0;
	ok(many_done == MANY && many_bad == 0, "%d hits, each answered at "
	    "once", MANY);
	diag("%d cache hits: %.3f ms (%.2f us each)", MANY, t,
	    t * 1000.0 / MANY);
	many_done = many_bad = 0;
	for (i = 0; i < MANY; i++) {
		store_device_delete(store, many_nodes[i], many_done_cb, NULL);
		free(many_nodes[i]);
		many_nodes[i] = NULL;
	}
	ok(WAIT_FOR(many_done == MANY, 30000) && many_bad == 0,
	    "%d deletes at once", MANY);
	store_stats_get(store, &st);
	is_int(st.cache_entries, before, "their entries left the cache");
}

static time_t
row_last_push(const char *owner)
{
	struct res r = { 0 };
	time_t t = -1;

	CALL(&r, store_device_list_owner(store, owner, res_devices_cb, &r));
	if (r.st == STORE_OK && r.ndevs == 1)
		t = r.devs[0].last_push;
	res_reset(&r);
	return t;
}

/* last_push: at most once per REGISTRY_MARK_EVERY per device, batched. */
static void
test_marks(const char *uri)
{
	struct registry_stats rs, rs0;
	struct registry *r0;
	struct store *s;
	struct res r = { 0 };
	char *node, name[32];
	int i;

	s = test_store(uri, 1, 5000);
	r0 = test_registry(s, 100, false, fake_clock);
	node = registered(s, "gina@example.com", "88", NULL);
	CALL(&r, reg_lookup(r0, node, "example.com", NULL, &r));
	ok(registry_cached(r0, node), "cached");
	{
		struct push_target t = { node, "gina@example.com", "apns", "88",
		    NULL, true,
		    XP_PROFILE_TIGASE, NULL, NULL };

		registry_stats_get(r0, &rs0);
		for (i = 0; i < 5; i++)
			registry_pushed(r0, &t);
		registry_stats_get(r0, &rs);
		is_int(rs.marks - rs0.marks, 1, "five pushes at once: one "
		    "last_push write");
		fake_now += REGISTRY_MARK_EVERY - 1;
		registry_pushed(r0, &t);
		registry_stats_get(r0, &rs);
		is_int(rs.marks - rs0.marks, 1, "%d s later: still one",
		    REGISTRY_MARK_EVERY - 1);
		fake_now += 1;
		registry_pushed(r0, &t);
		registry_pushed(r0, &t);
		registry_stats_get(r0, &rs);
		is_int(rs.marks - rs0.marks, 2, "%d s later: a second write, "
		    "once", REGISTRY_MARK_EVERY);
		is_int(rs.marks_pending, 2, "... both queued");
		ok(WAIT_FOR((registry_stats_get(r0, &rs), rs.marks_pending ==
		    0), 5000), "the batch goes out on its own timer");
		is_int(rs.mark_batches - rs0.mark_batches, 1, "... in one "
		    "UPDATE");
		ok(WAIT_FOR(row_last_push("gina@example.com") > 0, 5000),
		    "last_push written to the row");
		t.stored = false;
		fake_now += REGISTRY_MARK_EVERY;
		registry_pushed(r0, &t);
		registry_stats_get(r0, &rs);
		is_int(rs.marks - rs0.marks, 2, "a target without a row: "
		    "nothing to write");
	}
	/* Uncached devices: every push is written, in batches of 1,000. */
	registry_stats_get(r0, &rs0);
	for (i = 0; i < 1000; i++) {
		struct push_target t = { name, "x@example.com", "apns", "00",
		    NULL, true,
		    XP_PROFILE_TIGASE, NULL, NULL };

		snprintf(name, sizeof(name), "uncached-%d", i);
		registry_pushed(r0, &t);
	}
	registry_stats_get(r0, &rs);
	ok(rs.marks - rs0.marks == 1000 && rs.mark_batches -
	    rs0.mark_batches == 1 && rs.marks_pending == 0,
	    "1,000 uncached pushes: one full batch sent at once");
	{
		struct push_target t = { "uncached-x", "x@example.com", "apns",
		    "00", NULL, true,
		    XP_PROFILE_TIGASE, NULL, NULL };

		registry_pushed(r0, &t);
		registry_flush_marks(r0);
		registry_stats_get(r0, &rs);
		ok(rs.marks_pending == 0 && rs.mark_batches -
		    rs0.mark_batches == 2, "registry_flush_marks sends the "
		    "rest");
	}
	CALL(&r, store_device_delete(s, node, res_done_cb, &r));
	spin(100);
	free(node);
	res_reset(&r);
	registry_free(&r0);
	store_free(&s);
}

/* The row's last_error_text, or NULL. */
static char *
row_error(const char *owner)
{
	struct res r = { 0 };
	char *text = NULL;

	CALL(&r, store_device_list_owner(store, owner, res_devices_cb, &r));
	if (r.st == STORE_OK && r.ndevs == 1 &&
	    r.devs[0].last_error_text != NULL)
		text = xstrdup(r.devs[0].last_error_text);
	res_reset(&r);
	return text;
}

/* A failed push writes last_error. */
static void
test_failed(void)
{
	struct res r = { 0 };
	char *node, *text = NULL;

	node = registered(store, "hank@example.com", "99", NULL);
	{
		struct push_target t = { node, "hank@example.com", "apns",
		    "99", NULL, true,
		    XP_PROFILE_TIGASE, NULL, NULL };

		registry_failed(reg, &t, "BadDeviceToken");
	}
	ok(WAIT_FOR((text = row_error("hank@example.com")) != NULL, 5000),
	    "registry_failed wrote last_error");
	is_str(text, "BadDeviceToken", "... with its text");
	free(text);
	CALL(&r, store_device_delete(store, node, res_done_cb, &r));
	free(node);
	res_reset(&r);
}

/*
 * A dead VoIP token: registry_forget_voip clears it alone, only while the
 * row still holds it, and every registry's cache lets the node go.
 */
static void
test_forget_voip(const char *uri)
{
	struct store *s2;
	struct registry *reg2;
	struct res r = { 0 };
	struct store_stats st;
	uint64_t notes;
	char *node;

	s2 = test_store(uri, 1, 5000);
	reg2 = test_registry(s2, 100, false, NULL);
	store_stats_get(s2, &st);
	notes = st.notifications;
	CALL(&r, store_device_register(store, "ivy@example.com", "apns",
	    "a1", "v1", res_device_cb, &r));
	node = xstrdup(r.st == STORE_OK ? r.dev.node : "?");
	ok(WAIT_FOR((store_stats_get(s2, &st), st.notifications >= notes + 1),
	    WITHIN_MS), "the other store heard of the insert");
	CALL(&r, reg_lookup(reg, node, "example.com", NULL, &r));
	CALL(&r, reg_lookup(reg2, node, "example.com", NULL, &r));
	ok(registry_cached(reg, node) && registry_cached(reg2, node),
	    "both registries cache the node with its VoIP token");
	{
		struct push_target t = { node, "ivy@example.com", "apns", "a1",
		    "v1", true,
		    XP_PROFILE_TIGASE, NULL, NULL };

		CALL(&r, registry_forget_voip(reg, &t, "Unregistered",
		    res_done_cb, &r));
		ok(r.st == STORE_OK && !r.reentrant, "registry_forget_voip "
		    "cleared it, answered from the loop");
		ok(!registry_cached(reg, node), "... its own cache dropped "
		    "the node at once");
		ok(WAIT_FOR(!registry_cached(reg2, node), WITHIN_MS),
		    "... the other registry's through NOTIFY");
		CALL(&r, reg_lookup(reg2, node, "example.com", NULL, &r));
		ok(r.rst == REGISTRY_FOUND && r.dev.voip_token == NULL,
		    "the registration stays, without the VoIP token");
		is_str(r.dev.token, "a1", "... its alert token kept");
		CALL(&r, registry_forget_voip(reg, &t, "Unregistered",
		    res_done_cb, &r));
		is_int(r.st, STORE_NOTFOUND, "clearing it again: nothing to "
		    "clear");
	}
	/* The device registered a new VoIP token before the answer came. */
	CALL(&r, store_device_register(store, "ivy@example.com", "apns",
	    "a1", "v2", res_device_cb, &r));
	{
		struct push_target t = { node, "ivy@example.com", "apns", "a1",
		    "v1", true,
		    XP_PROFILE_TIGASE, NULL, NULL };

		CALL(&r, registry_forget_voip(reg, &t, "Unregistered",
		    res_done_cb, &r));
		is_int(r.st, STORE_NOTFOUND, "a dead VoIP token the device "
		    "replaced meanwhile: the row is left alone");
		CALL(&r, reg_lookup(reg, node, "example.com", NULL, &r));
		is_str(r.dev.voip_token, "v2", "... the new VoIP token stays");
		t.voip_token = NULL;
		CALL(&r, registry_forget_voip(reg, &t, "x", res_done_cb, &r));
		ok(r.calls == 1 && r.st == STORE_OK && !r.reentrant,
		    "a target without a VoIP token: nothing to do, from the "
		    "loop");
	}
	CALL(&r, store_device_delete(store, node, res_done_cb, &r));
	free(node);
	res_reset(&r);
	registry_free(&reg2);
	store_free(&s2);
}

/* A p2 registration: its node and secret. */
static char *
p2_registered(const char *owner, const char *token, const char *device,
    const char *channel, const char *muc, char **secret_r)
{
	struct store_p2_reg reg2 = { owner, "fcm", token, device, channel,
	    muc };
	struct res r = { 0 };
	char *node;

	CALL(&r, store_p2_register(store, &reg2, res_device_cb, &r));
	node = xstrdup(r.st == STORE_OK ? r.dev.node : "?");
	*secret_r = xstrdup(r.st == STORE_OK ? r.dev.secret : "?");
	res_reset(&r);
	return node;
}

static void
test_p2(void)
{
	static const char dev[] = "a177f1f0cf9b5546ac96c8070355eb5921a7e1d2";
	static const char chan[] = "83263b0052de1f99f631b704b64bf0d7d5fc53d6";
	struct res r = { 0 };
	char *node, *secret, *cnode, *csecret, *again, *s2;
	uint64_t q;

	node = p2_registered("paul@example.com", "tok-1", dev, NULL, NULL,
	    &secret);
	ok(strncmp(node, STORE_P2_NODE_PREFIX, 3) == 0, "p2 node %s", node);
	CALL(&r, reg_lookup(reg, node, "example.com", NULL, &r));
	is_int(r.rst, REGISTRY_FORBIDDEN, "p2: a publish without the secret "
	    "is forbidden (p2 PushController.pubsubHandler)");
	CALL(&r, reg_lookup(reg, node, "example.com", secret, &r));
	is_int(r.rst, REGISTRY_FOUND, "p2: with the secret: found");
	is_str(r.dev.p2_device, dev, "... with the device fingerprint");
	ok(r.dev.p2_channel == NULL, "... and no channel");
	is_str(r.dev.token, "tok-1", "... and the token");
	ok(registry_cached(reg, node), "... and cached");
	q = queries();
	CALL(&r, reg_lookup(reg, node, "paul@example.com", secret, &r));
	ok(r.rst == REGISTRY_FOUND && r.reentrant && queries() == q,
	    "p2: from the cache, the owner's bare JID publishing");
	is_str(r.dev.p2_device, dev, "... the fingerprint from the cache");
	ok(r.dev.voip_token == NULL, "... and no VoIP token");
	CALL(&r, reg_lookup(reg, node, "example.com", NULL, &r));
	is_int(r.rst, REGISTRY_FORBIDDEN, "p2 cached: no secret: forbidden");
	CALL(&r, reg_lookup(reg, node, "example.com", "wrong", &r));
	is_int(r.rst, REGISTRY_FORBIDDEN, "p2 cached: wrong secret: forbidden");
	CALL(&r, reg_lookup(reg, node, "other.example", secret, &r));
	is_int(r.rst, REGISTRY_FORBIDDEN, "p2 cached: another domain: "
	    "forbidden");

	/* The same device again: same node, the new token at once. */
	again = p2_registered("paul@example.com", "tok-2", dev, NULL, NULL,
	    &s2);
	ok(strcmp(again, node) == 0 && strcmp(s2, secret) == 0,
	    "p2: the same device again keeps node and secret");
	CALL(&r, reg_lookup(reg, node, "example.com", secret, &r));
	is_str(r.dev.token, "tok-2", "... and the next lookup has the new "
	    "token");
	free(again);
	free(s2);

	/* A channel: the group chat's service may publish too. */
	cnode = p2_registered("paul@example.com", "tok-2", dev, chan,
	    "room@muc.example.net", &csecret);
	ok(strcmp(cnode, node) != 0, "p2: a channel has its own node");
	CALL(&r, reg_lookup(reg, cnode, "muc.example.net", csecret, &r));
	is_int(r.rst, REGISTRY_FOUND, "p2 channel: the group chat's service "
	    "publishes");
	is_str(r.dev.p2_channel, chan, "... with the channel fingerprint");
	CALL(&r, reg_lookup(reg, cnode, "muc.example.net", csecret, &r));
	ok(r.rst == REGISTRY_FOUND && r.reentrant, "... again, cached");
	is_str(r.dev.p2_channel, chan, "... the channel from the cache");
	is_str(r.dev.p2_device, dev, "... and the device");
	CALL(&r, reg_lookup(reg, cnode, "example.com", csecret, &r));
	is_int(r.rst, REGISTRY_FOUND, "p2 channel: the owner's server too");
	CALL(&r, reg_lookup(reg, cnode, "evil.example", csecret, &r));
	is_int(r.rst, REGISTRY_FORBIDDEN, "p2 channel: another domain: "
	    "forbidden");

	CALL(&r, store_p2_unregister(store, "paul@example.com", "fcm", dev,
	    chan, res_done_cb, &r));
	is_int(r.st, STORE_OK, "p2: the channel unregistered");
	CALL(&r, reg_lookup(reg, cnode, "muc.example.net", csecret, &r));
	is_int(r.rst, REGISTRY_UNKNOWN, "... its node is unknown now");
	CALL(&r, store_p2_unregister(store, "mallory@example.com", "fcm",
	    dev, NULL, res_done_cb, &r));
	is_int(r.st, STORE_NOTFOUND, "p2: another account cannot remove it");
	CALL(&r, store_p2_unregister(store, "paul@example.com", "fcm", dev,
	    NULL, res_done_cb, &r));
	is_int(r.st, STORE_OK, "p2: the device unregistered");
	CALL(&r, reg_lookup(reg, node, "example.com", secret, &r));
	is_int(r.rst, REGISTRY_UNKNOWN, "... its node is unknown now");
	CALL(&r, reg_lookup(reg, "p2.nosuchnode", "example.com", "x", &r));
	is_int(r.rst, REGISTRY_UNKNOWN, "p2: an unknown p2 node");
	res_reset(&r);
	free(node);
	free(secret);
	free(cnode);
	free(csecret);
}

/*
 * fpush.  The token check main.c installs asks the provider module; this
 * one stands for an APNs module: an even number, 8 or more, of hex digits.
 */
static int fpush_checked;

static int
fpush_check(const char *provider, const char *token, char **error_r)
{
	size_t i, len = strlen(token);

	fpush_checked++;
	for (i = 0; i < len; i++)
		if (!isxdigit((unsigned char)token[i]))
			break;
	if (i < len || len < 8 || len % 2 != 0) {
		*error_r = xstrdup("not a hex token");
		return -1;
	}
	return 0;
}

struct fres {
	int			 calls;
	bool			 returned;
	bool			 reentrant;
	enum registry_status	 st;
	char			*provider, *token, *reason;
	bool			 owner;		/* the target had one */
	bool			 stored;
	enum xp_profile		 profile;
};

static void
fres_reset(struct fres *r)
{
	free(r->provider);
	free(r->token);
	free(r->reason);
	memset(r, 0, sizeof(*r));
}

static void
fres_cb(void *arg, enum registry_status st, const struct push_target *t,
    const char *reason)
{
	struct fres *r = arg;

	r->calls++;
	r->reentrant = !r->returned;
	r->st = st;
	r->reason = reason != NULL ? xstrdup(reason) : NULL;
	if (t == NULL)
		return;
	r->provider = xstrdup(t->provider);
	r->token = xstrdup(t->token);
	r->owner = t->owner != NULL;
	r->stored = t->stored;
	r->profile = t->profile;
}

/*
 * The publish-options Prosody copies from Monal's enable (XMPPIQ.m
 * setPushEnableWithNode): FORM_TYPE and pushModule.  module NULL: none.
 */
static struct xml_node *
fpush_options(const char *module)
{
	struct xml_node *po, *x, *f;

	po = xml_node_new("publish-options",
	    "http://jabber.org/protocol/pubsub");
	x = xml_node_add_child(po, "x", FORM_NS);
	xml_node_set_attr(x, "type", "submit");
	f = xml_node_add_child(x, "field", FORM_NS);
	xml_node_set_attr(f, "var", "FORM_TYPE");
	xml_node_add_child_text(f, "value", FORM_NS,
	    "http://jabber.org/protocol/pubsub#publish-options");
	if (module != NULL) {
		f = xml_node_add_child(x, "field", FORM_NS);
		xml_node_set_attr(f, "var", "pushModule");
		xml_node_add_child_text(f, "value", FORM_NS, module);
	}
	return po;
}

static void
fpush_ask(const char *node, const char *module, struct fres *r)
{
	struct registry_query q;
	struct xml_node *po = fpush_options(module);

	fres_reset(r);
	memset(&q, 0, sizeof(q));
	q.node = node;
	q.from = "example.com";
	q.options = po;
	registry_lookup(reg, &q, fres_cb, r);
	r->returned = true;
	xml_node_free(&po);
	(void)WAIT_FOR(r->calls > 0, 20000);
}

static struct xp_conf *
fpush_conf(const char *blocks)
{
	struct xp_conf *conf;
	char text[2048], *err = NULL;

	snprintf(text, sizeof(text),
	    "xmpp () { jid = 'p.example'; secret = 's' }\n"
	    "database () { uri = 'postgresql:///x' }\n"
	    "push () {\n%s\n}\n", blocks);
	if ((conf = conf_load_string("t.conf", text, NULL, &err)) == NULL) {
		printf("Bail out! configuration: %s\n", err);
		exit(1);
	}
	return conf;
}

/* fpush_check_conf's error for blocks, or NULL. */
static char *
fpush_conf_error(const char *blocks)
{
	struct xp_conf *conf = fpush_conf(blocks);
	char *err = NULL;

	if (fpush_check_conf(conf, &err) == 0)
		err = NULL;
	conf_free(&conf);
	return err;
}

#define FPUSH_BLOCKS \
	"'monal' () { 'fpush-modules' = [ 'monalProdiOS', " \
	"'monalProdCatalyst' ]; 'fpush-default' = 'monalProdiOS' }\n" \
	"'quicksy' () { 'fpush-modules' = [ 'quicksyProdiOS' ] }\n" \
	"'off' (active: false) { 'fpush-modules' = [ 'monalProdiOS' ] }"

static void
test_fpush_conf(void)
{
	char *err;

	ok((err = fpush_conf_error(FPUSH_BLOCKS)) == NULL, "fpush: two "
	    "blocks, one default; a switched-off block does not count");
	free(err);
	err = fpush_conf_error("'a' () { 'fpush-modules' = [ 'm1', 'm2' ] }\n"
	    "'b' () { 'fpush-modules' = [ 'm2' ] }");
	ok(err != NULL && strstr(err, "'m2' is served twice") != NULL,
	    "fpush: a name in two blocks is refused (%s)", err ? err : "");
	free(err);
	err = fpush_conf_error("'a' () { 'fpush-modules' = [ 'm1' ]; "
	    "'fpush-default' = 'm2' }");
	ok(err != NULL && strstr(err, "not one of this block's") != NULL,
	    "fpush: a default the block does not serve is refused (%s)",
	    err ? err : "");
	free(err);
	err = fpush_conf_error("'a' () { 'fpush-modules' = [ 'm1' ]; "
	    "'fpush-default' = 'm1' }\n'b' () { 'fpush-modules' = [ 'm2' ]; "
	    "'fpush-default' = 'm2' }");
	ok(err != NULL && strstr(err, "one default module") != NULL,
	    "fpush: two defaults are refused (%s)", err ? err : "");
	free(err);
	err = fpush_conf_error("'a' () { 'fpush-modules' = [ 'has space' ] }");
	ok(err != NULL && strstr(err, "pushModule name") != NULL,
	    "fpush: a name with a space is refused (%s)", err ? err : "");
	free(err);
}

static void
test_fpush(void)
{
	struct xp_conf *conf, *nodef;
	struct fres r = { 0 };
	char *node;
	uint64_t m;

	test_fpush_conf();
	conf = fpush_conf(FPUSH_BLOCKS);
	nodef = fpush_conf("'monal' () { 'fpush-modules' = [ 'monalProdiOS' ] }");

	fpush_ask("a1b2c3d4e5f60718", "monalProdiOS", &r);
	is_int(r.st, REGISTRY_UNKNOWN, "fpush off: a pushModule finds no node");
	ok(!fpush_enabled(), "fpush: off before any block serves a module");

	fpush_init(conf, fpush_check);
	ok(fpush_enabled(), "fpush: on");
	m = misses();
	fpush_ask("a1b2c3d4e5f60718", "monalProdiOS", &r);
	ok(r.st == REGISTRY_FOUND && r.provider != NULL &&
	    strcmp(r.provider, "monal") == 0, "fpush: monalProdiOS -> block "
	    "monal");
	is_str(r.token, "a1b2c3d4e5f60718", "fpush: the node is the token");
	ok(!r.owner && !r.stored && r.profile == XP_PROFILE_FPUSH,
	    "fpush: no owner, not stored, profile fpush");
	ok(r.reentrant, "fpush: answered before registry_lookup returns");
	is_int(misses(), m, "fpush: the database is not asked");
	fpush_ask("a1b2c3d4e5f60718", "monalProdCatalyst", &r);
	ok(r.st == REGISTRY_FOUND && strcmp(r.provider, "monal") == 0,
	    "fpush: monalProdCatalyst -> block monal");
	fpush_ask("a1b2c3d4e5f60718", "quicksyProdiOS", &r);
	ok(r.st == REGISTRY_FOUND && strcmp(r.provider, "quicksy") == 0,
	    "fpush: quicksyProdiOS -> block quicksy");

	fpush_ask("a1b2c3d4e5f60718", "monalBogus", &r);
	ok(r.st == REGISTRY_REFUSED && r.reason != NULL &&
	    strstr(r.reason, "unknown pushModule 'monalBogus'") != NULL,
	    "fpush: an unknown module is refused, by name (%s)",
	    r.reason ? r.reason : "");
	fpush_ask("a1b2c3d4e5f60718", "bad\nname", &r);
	ok(r.st == REGISTRY_REFUSED && r.reason != NULL &&
	    strstr(r.reason, "'bad?name'") != NULL, "fpush: a module name's "
	    "control characters are not repeated (%s)", r.reason);
	fpush_ask("a1b2c3d4e5f60718", "", &r);
	is_int(r.st, REGISTRY_REFUSED, "fpush: an empty pushModule is refused");
	fpush_ask("not-a-token", "monalProdiOS", &r);
	ok(r.st == REGISTRY_REFUSED && r.reason != NULL &&
	    strstr(r.reason, "not a hex token") != NULL, "fpush: a node of "
	    "the wrong shape is refused with the module's reason");

	/* Without pushModule: the rows first, then the default module. */
	m = misses();
	fpush_ask("0123456789abcdef", NULL, &r);
	ok(r.st == REGISTRY_FOUND && strcmp(r.provider, "monal") == 0 &&
	    r.profile == XP_PROFILE_FPUSH, "fpush: no pushModule, a token "
	    "node no row has: the default module");
	ok(!r.reentrant && misses() == m + 1, "fpush: ... after the "
	    "registered rows were asked");
	node = registered(store, "fpush@example.com", "00112233", NULL);
	fpush_ask(node, NULL, &r);
	ok(r.st == REGISTRY_FOUND && r.stored && r.owner &&
	    r.profile == XP_PROFILE_TIGASE, "fpush: a registered node stays "
	    "the registration's");
	free(node);
	fpush_ask("not-a-token", NULL, &r);
	is_int(r.st, REGISTRY_UNKNOWN, "fpush: no pushModule, not a token: "
	    "unknown");

	fpush_reconfigure(nodef);
	fpush_ask("0123456789abcdef", NULL, &r);
	is_int(r.st, REGISTRY_UNKNOWN, "fpush: no default module: unknown");
	fpush_ask("0123456789abcdef", "quicksyProdiOS", &r);
	is_int(r.st, REGISTRY_REFUSED, "fpush: a module gone with a reload "
	    "is refused");
	fpush_shutdown();
	ok(!fpush_enabled(), "fpush: off after shutdown");
	fpush_ask("0123456789abcdef", "monalProdiOS", &r);
	is_int(r.st, REGISTRY_UNKNOWN, "fpush: off again: unknown");
	ok(fpush_checked > 0, "fpush: the module's token check was asked");
	fres_reset(&r);
	conf_free(&conf);
	conf_free(&nodef);
}

/*
 * Batched misses: the misses of one loop turn go to the database as one
 * statement (registry.c), and every lookup gets the answer it would get
 * alone.
 */

static uint64_t
lookup_batches(struct registry *r0)
{
	struct registry_stats rs;

	registry_stats_get(r0, &rs);
	return rs.lookup_batches;
}

/* Looks up nodes[0..n) with secrets (or NULL) in one turn: answers in rs. */
static void
lookup_all(struct registry *r0, char *const *nodes, const char *const *secrets,
    size_t n, struct res *rs)
{
	size_t i;

	for (i = 0; i < n; i++) {
		res_reset(&rs[i]);
		reg_lookup(r0, nodes[i], "example.com",
		    secrets != NULL ? secrets[i] : NULL, &rs[i]);
		rs[i].returned = true;
	}
}

static size_t
answered(const struct res *rs, size_t n)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++)
		k += rs[i].calls;
	return k;
}

/* n new devices, heard of through NOTIFY (so that lookups may cache). */
static void
batch_register(const char *name, char **nodes, char **secrets, size_t n)
{
	char owner[64], token[32];
	size_t i;

	for (i = 0; i < n; i++) {
		snprintf(owner, sizeof(owner), "%s%zu@example.com", name, i);
		snprintf(token, sizeof(token), "%s-%zu", name, i);
		nodes[i] = registered(store, owner, token,
		    secrets != NULL ? &secrets[i] : NULL);
	}
	notifications_drained(store);
}

#define BATCH_N		8

static void
test_batch(void)
{
	char *nodes[BATCH_N], *dup[5], *mixed[4], *secrets[2];
	const char *dupsec[5];
	struct res rs[BATCH_N];
	char token[32];
	uint64_t q, b;
	size_t i;
	bool good;

	memset(rs, 0, sizeof(rs));
	batch_register("batch", nodes, NULL, BATCH_N);
	q = queries();
	b = lookup_batches(reg);
	lookup_all(reg, nodes, NULL, BATCH_N, rs);
	ok(WAIT_FOR(answered(rs, BATCH_N) == BATCH_N, 20000),
	    "a batch of %d misses: every lookup answered", BATCH_N);
	is_int(queries() - q, 1, "... by one query");
	is_int(lookup_batches(reg) - b, 1, "... counted as one batch");
	good = true;
	for (i = 0; i < BATCH_N; i++) {
		snprintf(token, sizeof(token), "batch-%zu", i);
		good = good && rs[i].calls == 1 && !rs[i].reentrant &&
		    rs[i].rst == REGISTRY_FOUND && rs[i].dev.token != NULL &&
		    strcmp(rs[i].dev.token, token) == 0 &&
		    strcmp(rs[i].dev.node, nodes[i]) == 0 &&
		    registry_cached(reg, nodes[i]);
	}
	ok(good, "... each once, from the loop, with its own device, cached");

	/* One node three times (no, right and wrong secret), another twice. */
	{
		char *two[2];

		batch_register("dup", two, secrets, 2);
		dup[0] = dup[1] = dup[2] = two[0];
		dup[3] = dup[4] = two[1];
		dupsec[0] = NULL;
		dupsec[1] = secrets[0];
		dupsec[2] = "wrong";
		dupsec[3] = NULL;
		dupsec[4] = secrets[1];
		q = queries();
		lookup_all(reg, dup, dupsec, 5, rs);
		ok(WAIT_FOR(answered(rs, 5) == 5, 20000), "duplicates in a "
		    "batch: all five lookups answered");
		is_int(queries() - q, 1, "... by one query");
		ok(rs[0].rst == REGISTRY_FOUND && rs[1].rst == REGISTRY_FOUND &&
		    rs[2].rst == REGISTRY_FORBIDDEN &&
		    rs[3].rst == REGISTRY_FOUND && rs[4].rst == REGISTRY_FOUND,
		    "... each with its own answer (the wrong secret refused)");
		ok(strcmp(rs[0].dev.token, "dup-0") == 0 &&
		    strcmp(rs[4].dev.token, "dup-1") == 0, "... from its "
		    "node's row");
		ok(registry_cached(reg, two[0]) && registry_cached(reg, two[1]),
		    "... both nodes cached");
		free(two[0]);
		free(two[1]);
		free(secrets[0]);
		free(secrets[1]);
	}

	/* A hit, two misses and an unknown node in one turn. */
	batch_register("mixed", &mixed[1], NULL, 2);
	mixed[0] = nodes[0];
	mixed[3] = "no-such-batched-node";
	q = queries();
	b = lookup_batches(reg);
	lookup_all(reg, mixed, NULL, 4, rs);
	ok(rs[0].calls == 1 && rs[0].reentrant && rs[0].rst == REGISTRY_FOUND,
	    "hits and misses: the hit answered at once");
	is_int(answered(rs, 4), 1, "... the misses wait for the loop");
	ok(WAIT_FOR(answered(rs, 4) == 4, 20000), "... then all answered");
	ok(queries() - q == 1 && lookup_batches(reg) - b == 1, "... the "
	    "three misses by one query");
	ok(rs[1].rst == REGISTRY_FOUND && rs[2].rst == REGISTRY_FOUND &&
	    strcmp(rs[2].dev.token, "mixed-1") == 0 &&
	    rs[3].rst == REGISTRY_UNKNOWN, "... found, found, unknown");
	ok(!registry_cached(reg, mixed[3]), "... the unknown node not cached");
	free(mixed[1]);
	free(mixed[2]);

	for (i = 0; i < BATCH_N; i++) {
		store_device_delete(store, nodes[i], NULL, NULL);
		free(nodes[i]);
		res_reset(&rs[i]);
	}
	spin(100);
}

/* More misses in one turn than a batch holds: several queries. */
static void
test_batch_limit(void)
{
	size_t n = 2 * REGISTRY_LOOKUP_BATCH_MAX + 1, i;
	struct res *rs = xcalloc(n, sizeof(*rs));
	char **nodes = xcalloc(n, sizeof(*nodes));
	uint64_t q, b;
	bool good = true;

	for (i = 0; i < n; i++)
		nodes[i] = xprintf("unknown-batched-%zu", i);
	q = queries();
	b = lookup_batches(reg);
	lookup_all(reg, nodes, NULL, n, rs);
	is_int(lookup_batches(reg) - b, 2, "%zu misses: the two full batches "
	    "of %d went out at once", n, REGISTRY_LOOKUP_BATCH_MAX);
	ok(WAIT_FOR(answered(rs, n) == n, 30000), "... every lookup "
	    "answered");
	ok(queries() - q == 3 && lookup_batches(reg) - b == 3, "... by three "
	    "queries (%llu)", (unsigned long long)(queries() - q));
	for (i = 0; i < n; i++) {
		good = good && rs[i].calls == 1 &&
		    rs[i].rst == REGISTRY_UNKNOWN;
		res_reset(&rs[i]);
		free(nodes[i]);
	}
	ok(good, "... each once, unknown");
	free(rs);
	free(nodes);
}

/*
 * Holds an exclusive lock on devices (every statement on it waits) until
 * lock_release(); returns the psql holding it once the lock is granted.
 */
static pid_t
lock_devices(void)
{
	pid_t pid;

	pid = spawn_sh("PGAPPNAME=xp_locker psql -X -q -c "
	    "\"BEGIN; LOCK TABLE devices IN ACCESS EXCLUSIVE MODE; "
	    "SELECT pg_sleep(120)\" >/dev/null 2>&1");
	ok(pid > 0 && WAIT_FOR(psql("DO \\$\\$ BEGIN IF NOT EXISTS (SELECT "
	    "1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE "
	    "c.relname = 'devices' AND l.mode = 'AccessExclusiveLock' AND "
	    "l.granted) THEN RAISE 'not yet'; END IF; END \\$\\$") == 0,
	    20000), "devices locked by another session");
	return pid;
}

static void
lock_release(pid_t pid)
{
	psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
	    "WHERE application_name = 'xp_locker'");
	spawn_wait(pid, 20000);
}

/*
 * A NOTIFY for a node whose lookup is in flight: the answer still comes,
 * but may be older than the change, so it must not fill the cache; the
 * other node of the batch is cached.
 */
static void
test_batch_notify(void)
{
	char *nodes[2];
	struct res rs[2];
	struct store_stats st;
	uint64_t notes, b;
	char *sql;
	pid_t locker;

	memset(rs, 0, sizeof(rs));
	batch_register("notify", nodes, NULL, 2);
	locker = lock_devices();
	b = lookup_batches(reg);
	lookup_all(reg, nodes, NULL, 2, rs);
	/*
	 * A quick statement in flight on the LISTEN connection (the first
	 * of two idle ones) sends the batch to the other: a backend waiting
	 * on a lock would deliver no NOTIFY.
	 */
	store_cert_list(store, NULL, NULL);
	ok(WAIT_FOR(lookup_batches(reg) - b == 1, WITHIN_MS),
	    "NOTIFY during a batch: the batch went out");
	store_stats_get(store, &st);
	notes = st.notifications;
	sql = xprintf("NOTIFY xpushd_devices, '%s'", nodes[0]);
	is_int(psql(sql), 0, "... a change of its first node is notified");
	free(sql);
	ok(WAIT_FOR((store_stats_get(store, &st), st.notifications > notes),
	    WITHIN_MS), "... and heard while the batch waits on the lock");
	is_int(answered(rs, 2), 0, "... the batch is still in flight");
	lock_release(locker);
	ok(WAIT_FOR(answered(rs, 2) == 2, 20000) &&
	    rs[0].rst == REGISTRY_FOUND && rs[1].rst == REGISTRY_FOUND,
	    "... both answered once the lock is gone");
	ok(!registry_cached(reg, nodes[0]), "... the notified node is not "
	    "cached from a result that may predate the change");
	ok(registry_cached(reg, nodes[1]), "... the other one is");
	store_device_delete(store, nodes[0], NULL, NULL);
	store_device_delete(store, nodes[1], NULL, NULL);
	free(nodes[0]);
	free(nodes[1]);
	res_reset(&rs[0]);
	res_reset(&rs[1]);
	spin(100);
}

/* The batch's statement fails: every lookup in it is unavailable. */
static void
test_batch_failure(const char *uri)
{
	char *nodes[3];
	struct res rs[3];
	struct registry *r0;
	struct store *s;
	pid_t locker;
	size_t i;

	memset(rs, 0, sizeof(rs));
	/* The server cancels a statement after 900 ms of this store's 1 s. */
	s = test_store(uri, 2, 1000);
	r0 = test_registry(s, 100, false, NULL);
	batch_register("failure", nodes, NULL, 2);
	nodes[2] = "no-such-failed-node";
	locker = lock_devices();
	lookup_all(r0, nodes, NULL, 3, rs);
	ok(WAIT_FOR(answered(rs, 3) == 3, 20000), "a batch whose query "
	    "fails: every lookup answered");
	ok(rs[0].rst == REGISTRY_UNAVAILABLE &&
	    rs[1].rst == REGISTRY_UNAVAILABLE &&
	    rs[2].rst == REGISTRY_UNAVAILABLE && rs[0].err != NULL &&
	    strcmp(rs[0].err, "the registration database cannot be reached "
	    "now") == 0, "... unavailable, as a single failed look-up is");
	ok(!registry_cached(r0, nodes[0]) && !registry_cached(r0, nodes[1]),
	    "... nothing cached");
	lock_release(locker);
	lookup_all(r0, nodes, NULL, 1, rs);
	ok(WAIT_FOR(rs[0].calls == 1, 20000) && rs[0].rst == REGISTRY_FOUND,
	    "... and the next look-up finds its node");
	for (i = 0; i < 3; i++)
		res_reset(&rs[i]);
	store_device_delete(store, nodes[0], NULL, NULL);
	store_device_delete(store, nodes[1], NULL, NULL);
	free(nodes[0]);
	free(nodes[1]);
	spin(100);
	registry_free(&r0);
	store_free(&s);
}

int
main(void)
{
	const char *uri = test_db_uri();

	log_init(true, getenv("XPUSHD_DEBUG") != NULL, "registry_test");
	base = event_base_new();
	test_migrate(uri);
	store = test_store(uri, 2, 5000);
	reg = test_registry(store, 1000, false, NULL);

	test_lookup();
	test_uncached(uri);
	test_unavailable();
	test_two_registries(uri);
	test_race();
	test_many();
	test_batch();
	test_batch_limit();
	test_batch_notify();
	test_batch_failure(uri);
	test_marks(uri);
	test_failed();
	test_forget_voip(uri);
	test_p2();
	test_fpush();
	is_int(res_reentrant, 0, "no store callback ran inside its call");

	registry_free(&reg);
	store_free(&store);
	event_base_free(base);
	return tap_done();
}
