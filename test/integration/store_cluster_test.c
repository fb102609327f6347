/*
 * Two xpushd processes on one database: what one of them (or psql)
 * changes reaches the other's registry cache within a second through
 * LISTEN/NOTIFY.  The second process is this program run again with
 * --peer OP ARGS.
 */
#include "config.h"

#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "test/lib/store_util.h"

#define WITHIN_MS	1000

static struct store *store;
static struct registry *reg;
static int cert_calls;
static char *cert_provider;

static void
cert_change_cb(void *arg, const char *provider)
{
	cert_calls++;
	free(cert_provider);
	cert_provider = provider != NULL ? xstrdup(provider) : xstrdup("(all)");
}

/* The other process: one operation on its own store, exit 0 if it worked. */
static int
peer_main(const char *uri, int argc, char **argv)
{
	struct store_cert c;
	struct res r = { 0 };
	const char *op = argv[0];
	int rc;

	store = test_store(uri, 1, 5000);
	if (strcmp(op, "delete") == 0 && argc == 2)
		CALL(&r, store_device_delete(store, argv[1], res_done_cb, &r));
	else if (strcmp(op, "markpush") == 0 && argc == 2)
		CALL(&r, store_device_mark_pushed(store,
		    (const char *const *)&argv[1], 1, res_done_cb, &r));
	else if (strcmp(op, "register") == 0 && argc == 5)
		CALL(&r, store_device_register(store, argv[1], argv[2],
		    argv[3], argv[4], res_device_cb, &r));
	else if (strcmp(op, "cert") == 0 && argc == 2) {
		memset(&c, 0, sizeof(c));
		c.provider = argv[1];
		c.cert_pem = "peer certificate";
		c.key_pem = "peer key";
		CALL(&r, store_cert_put(store, &c, res_done_cb, &r));
	} else {
		fprintf(stderr, "peer: bad operation %s\n", op);
		return 2;
	}
	rc = r.calls == 1 && r.st == STORE_OK ? 0 : 1;
	if (rc != 0)
		fprintf(stderr, "peer %s: %s %s\n", op, store_status_str(r.st),
		    r.err ? r.err : "");
	res_reset(&r);
	store_free(&store);
	return rc;
}

static int
peer(const char *op, const char *a1, const char *a2, const char *a3,
    const char *a4)
{
	char *argv[] = { "store_cluster_test", "--peer", (char *)op,
	    (char *)a1, (char *)a2, (char *)a3, (char *)a4, NULL };
	pid_t pid;

	if (posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv,
	    environ) != 0)
		return -1;
	return spawn_wait(pid, 20000);
}

static char *
registered(const char *owner, const char *token)
{
	struct res r = { 0 };
	char *node;

	CALL(&r, store_device_register(store, owner, "fcm", token, NULL,
	    res_device_cb, &r));
	node = xstrdup(r.st == STORE_OK ? r.dev.node : "?");
	CALL(&r, reg_lookup(reg, node, "example.com", NULL, &r));
	res_reset(&r);
	return node;
}

/* How long until node left the cache, or -1 if it did not. */
static double
gone_after(const char *node)
{
	double t0 = now_ms();

	if (!WAIT_FOR(!registry_cached(reg, node), WITHIN_MS))
		return -1;
	return now_ms() - t0;
}

int
main(int argc, char **argv)
{
	const char *uri = test_db_uri();
	struct store_stats st;
	struct res r = { 0 };
	char *n1, *n2, *n3, *n4;
	double t;

	log_init(true, getenv("XPUSHD_DEBUG") != NULL, "store_cluster_test");
	base = event_base_new();
	if (argc > 2 && strcmp(argv[1], "--peer") == 0) {
		int rc = peer_main(uri, argc - 2, argv + 2);

		event_base_free(base);
		return rc;
	}
	test_migrate(uri);
	store = test_store(uri, 2, 5000);
	reg = test_registry(store, 1000, false, NULL);
	store_on_certificate_change(store, cert_change_cb, NULL);
	n1 = registered("one@example.com", "t1");
	n2 = registered("two@example.com", "t2");
	n3 = registered("three@example.com", "t3");
	n4 = registered("four@example.com", "t4");
	ok(registry_cached(reg, n1) && registry_cached(reg, n2) &&
	    registry_cached(reg, n3) && registry_cached(reg, n4),
	    "four devices cached");

	/* Another xpushd process. */
	is_int(peer("delete", n1, NULL, NULL, NULL), 0,
	    "other process deleted a device");
	t = gone_after(n1);
	ok(t >= 0, "... gone from our cache within a second (%.1f ms)", t);
	CALL(&r, store_device_lookup(store, n1, res_device_cb, &r));
	is_int(r.st, STORE_NOTFOUND, "... and not found");

	is_int(peer("markpush", n2, NULL, NULL, NULL), 0,
	    "other process marked a push");
	spin(300);
	ok(registry_cached(reg, n2), "... which does not flush "
	    "our cache entry");

	is_int(peer("register", "two@example.com", "fcm", "t2", "voip-new"),
	    0, "other process re-registered with a VoIP token");
	t = gone_after(n2);
	ok(t >= 0, "... our stale entry dropped (%.1f ms)", t);
	CALL(&r, reg_lookup(reg, n2, "example.com", NULL, &r));
	is_str(r.dev.voip_token, "voip-new", "... lookup sees the new token");
	ok(registry_cached(reg, n2), "... and caches it");
	CALL(&r, reg_lookup(reg, n2, "example.com", NULL, &r));
	ok(r.reentrant && r.dev.voip_token != NULL &&
	    strcmp(r.dev.voip_token, "voip-new") == 0,
	    "... the cached entry has the new token");

	cert_calls = 0;
	is_int(peer("cert", "apns-peer", NULL, NULL, NULL), 0,
	    "other process stored a certificate");
	t = now_ms();
	ok(WAIT_FOR(cert_calls > 0, WITHIN_MS), "certificate change reached "
	    "us (%.1f ms)", now_ms() - t);
	is_str(cert_provider, "apns-peer", "... naming the provider");

	/* An administrator with psql. */
	is_int(psql("DELETE FROM devices WHERE owner = 'three@example.com'"),
	    0, "psql deleted a device");
	t = gone_after(n3);
	ok(t >= 0, "... gone from our cache (%.1f ms)", t);
	cert_calls = 0;
	is_int(psql("UPDATE certificates SET password = 'new' WHERE "
	    "provider = 'apns-peer'"), 0, "psql updated a certificate");
	ok(WAIT_FOR(cert_calls > 0, WITHIN_MS) &&
	    strcmp(cert_provider, "apns-peer") == 0, "... reached us");
	CALL(&r, reg_lookup(reg, n2, "example.com", NULL, &r));
	ok(registry_cached(reg, n2) && registry_cached(reg, n4),
	    "two entries cached");
	is_int(psql("TRUNCATE devices"), 0, "psql truncated devices");
	ok(WAIT_FOR(!registry_cached(reg, n4) &&
	    !registry_cached(reg, n2), WITHIN_MS),
	    "... everything dropped");

	store_stats_get(store, &st);
	ok(st.notifications >= 5, "notifications counted (%llu)",
	    (unsigned long long)st.notifications);
	is_int(res_reentrant, 0, "no callback ran inside its call");

	res_reset(&r);
	free(n1);
	free(n2);
	free(n3);
	free(n4);
	free(cert_provider);
	registry_free(&reg);
	store_free(&store);
	event_base_free(base);
	return tap_done();
}
