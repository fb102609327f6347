/*
 * PostgreSQL stopped mid-run: operations fail fast with STORE_ETEMP, the
 * event loop keeps running, the registry's cached devices keep answering,
 * and after the restart everything works again with no stored row lost.  The server is
 * stopped and started through test/lib/pg.sh ($XPUSHD_PG_SH).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "test/lib/store_util.h"

#define NDEV	50
#define NBURST	100

static struct store *store;
static struct registry *reg;
static int ticks;
static int cert_all;

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	ticks++;
}

static void
cert_change_cb(void *arg, const char *provider)
{
	if (provider == NULL)
		cert_all++;
}

static int burst_ok, burst_temp, burst_other;

static void
burst_cb(void *arg, enum store_status st, const struct store_device *d,
    const char *err)
{
	if (st == STORE_OK)
		burst_ok++;
	else if (st == STORE_ETEMP)
		burst_temp++;
	else
		burst_other++;
}

static int
server(const char *fn)
{
	char *cmd = xprintf(". \"$XPUSHD_PG_SH\" && %s", fn);
	int rc;

	rc = spawn_wait(spawn_sh(cmd), 60000);
	free(cmd);
	return rc;
}

static bool
is_up(void)
{
	struct store_stats st;

	store_stats_get(store, &st);
	return st.up && st.listening;
}

int
main(void)
{
	const char *uri = test_db_uri();
	struct event *tick;
	struct timeval tv = { 0, 50000 };
	struct store_stats st;
	struct res r = { 0 };
	char *nodes[NDEV], owner[64];
	double t0, worst;
	int i, n, t;

	if (getenv("XPUSHD_PG_SH") == NULL) {
		printf("1..0 # SKIP XPUSHD_PG_SH not set\n");
		return 0;
	}
	log_init(true, getenv("XPUSHD_DEBUG") != NULL, "store_outage_test");
	base = event_base_new();
	test_migrate(uri);
	store = test_store(uri, 2, 2000);
	reg = test_registry(store, 1000, false, NULL);
	store_on_certificate_change(store, cert_change_cb, NULL);
	tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	event_add(tick, &tv);

	for (i = n = 0; i < NDEV; i++) {
		snprintf(owner, sizeof(owner), "user%d@example.com", i);
		CALL(&r, store_device_register(store, owner, "fcm", "tok",
		    NULL, res_device_cb, &r));
		nodes[i] = xstrdup(r.st == STORE_OK ? r.dev.node : "?");
		n += r.st == STORE_OK;
	}
	is_int(n, NDEV, "%d devices registered", NDEV);
	CALL(&r, reg_lookup(reg, nodes[0], "example.com", NULL, &r));
	ok(registry_cached(reg, nodes[0]), "one of them cached");

	/* Registrations in flight while the server goes down. */
	for (i = 0; i < NBURST; i++) {
		snprintf(owner, sizeof(owner), "burst%d@example.com", i);
		store_device_register(store, owner, "fcm", "tok", NULL,
		    burst_cb, NULL);
	}
	is_int(server("pg_stop_server"), 0, "PostgreSQL stopped");
	ok(WAIT_FOR(burst_ok + burst_temp + burst_other == NBURST, 5000),
	    "every in-flight registration answered (%d ok, %d temporary)",
	    burst_ok, burst_temp);
	is_int(burst_other, 0, "... none with a permanent error");
	ok(WAIT_FOR((store_stats_get(store, &st), !st.up), 3000),
	    "store noticed the outage");

	worst = 0;
	n = 0;
	for (i = 0; i < 20; i++) {
		t0 = now_ms();
		CALL(&r, store_device_lookup(store, nodes[1 + i], res_device_cb,
		    &r));
		if (now_ms() - t0 > worst)
			worst = now_ms() - t0;
		n += r.st == STORE_ETEMP && !r.reentrant;
	}
	is_int(n, 20, "lookups during the outage: STORE_ETEMP, deferred");
	ok(worst < 100, "... fast (worst %.1f ms)", worst);
	CALL(&r, reg_lookup(reg, nodes[1], "example.com", NULL, &r));
	ok(r.calls == 1 && r.rst == REGISTRY_UNAVAILABLE && !r.reentrant,
	    "registry lookup of an uncached node: unavailable, deferred (%s)",
	    r.err ? r.err : "");
	t0 = now_ms();
	CALL(&r, store_device_register(store, "new@example.com", "fcm", "x",
	    NULL, res_device_cb, &r));
	is_int(r.st, STORE_ETEMP, "register during the outage: STORE_ETEMP");
	CALL(&r, store_device_unregister(store, "user0@example.com", "fcm",
	    "tok", res_done_cb, &r));
	is_int(r.st, STORE_ETEMP, "unregister during the outage: STORE_ETEMP");
	CALL(&r, store_cert_list(store, res_certs_cb, &r));
	is_int(r.st, STORE_ETEMP, "certificate list during the outage");
	ok(registry_cached(reg, nodes[0]), "cached device still kept");
	CALL(&r, reg_lookup(reg, nodes[0], "example.com", NULL, &r));
	ok(r.rst == REGISTRY_FOUND && r.reentrant, "... and served by the "
	    "registry at once");

	t = ticks;
	spin(1000);
	ok(ticks - t >= 15, "the loop keeps running: %d timer ticks in 1 s",
	    ticks - t);

	is_int(server("pg_start_server"), 0, "PostgreSQL started again");
	t0 = now_ms();
	ok(WAIT_FOR(is_up(), 15000), "store reconnected (%.0f ms)",
	    now_ms() - t0);
	ok(WAIT_FOR((store_stats_get(store, &st), st.connections == 2), 10000),
	    "... both connections (%.0f ms)", now_ms() - t0);
	ok(!registry_cached(reg, nodes[0]), "cache dropped: "
	    "notifications may have been missed");
	ok(cert_all > 0, "certificate listeners told to reload everything");

	for (i = n = 0; i < NDEV; i++) {
		CALL(&r, store_device_lookup(store, nodes[i], res_device_cb,
		    &r));
		n += r.st == STORE_OK;
	}
	is_int(n, NDEV, "no stored device lost");
	CALL(&r, store_device_lookup_token(store, "fcm", "tok", res_devices_cb,
	    &r));
	ok(r.st == STORE_OK && (int)r.ndevs >= NDEV + burst_ok,
	    "every acknowledged registration is there (%zu rows)", r.ndevs);
	for (i = n = 0; i < (int)r.ndevs; i++)
		n += r.devs[i].node != NULL && r.devs[i].secret != NULL &&
		    strlen(r.devs[i].node) > 0;
	is_int(n, (int)r.ndevs, "... each one whole");
	CALL(&r, store_device_register(store, "new@example.com", "fcm", "x",
	    NULL, res_device_cb, &r));
	is_int(r.st, STORE_OK, "register works again");
	CALL(&r, reg_lookup(reg, nodes[0], "example.com", NULL, &r));
	ok(r.rst == REGISTRY_FOUND && registry_cached(reg, nodes[0]),
	    "cache fills again");
	is_int(res_reentrant, 0, "no callback ran inside its call");

	for (i = 0; i < NDEV; i++)
		free(nodes[i]);
	res_reset(&r);
	event_free(tick);
	registry_free(&reg);
	store_free(&store);
	event_base_free(base);
	return tap_done();
}
