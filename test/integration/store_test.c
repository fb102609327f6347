/*
 * Store: every repository operation against a real PostgreSQL (started by
 * test/integration/store_test.sh), verbatim storage of hostile strings,
 * certificates, pipelining, the query timeout, fail-fast without a server, and
 * a few latency figures reported as TAP diagnostics.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/rand.h"
#include "test/lib/store_util.h"

static struct store *store;

static bool
is_b64url(const char *s, size_t len)
{
	size_t i;

	if (s == NULL || strlen(s) != len)
		return false;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_')
			return false;
	return true;
}

static void
test_register(void)
{
	struct res r = { 0 }, r2 = { 0 };
	const char *nodes[1];

	CALL(&r, store_device_register(store, "alice@example.com",
	    "fcm-http-v1", "tok-1", NULL, res_device_cb, &r));
	is_int(r.st, STORE_OK, "register: ok");
	ok(r.dev.inserted, "register: a new row");
	ok(is_b64url(r.dev.node, RAND_ID_LEN), "register: node is %d "
	    "base64url characters (%s)", RAND_ID_LEN, r.dev.node);
	ok(is_b64url(r.dev.secret, RAND_ID_LEN), "register: secret too");
	ok(strcmp(r.dev.node, r.dev.secret) != 0, "node != secret");
	ok(r.dev.voip_token == NULL, "no VoIP token");
	ok(r.dev.created > 0 && r.dev.last_push == 0, "timestamps");
	ok(!r.reentrant, "callback not run inside the call");

	CALL(&r2, store_device_register(store, "alice@example.com",
	    "fcm-http-v1", "tok-1", NULL, res_device_cb, &r2));
	is_int(r2.st, STORE_OK, "register twice: ok");
	ok(!r2.dev.inserted, "register twice: same row");
	is_str(r2.dev.node, r.dev.node, "register twice: same node");
	is_str(r2.dev.secret, r.dev.secret, "register twice: same secret");

	CALL(&r2, store_device_register(store, "alice@example.com",
	    "fcm-http-v1", "tok-1", "voip-1", res_device_cb, &r2));
	is_str(r2.dev.voip_token, "voip-1", "VoIP token added");
	CALL(&r2, store_device_register(store, "alice@example.com",
	    "fcm-http-v1", "tok-1", "voip-2", res_device_cb, &r2));
	is_str(r2.dev.voip_token, "voip-2", "new VoIP token replaces the old");
	is_str(r2.dev.node, r.dev.node, "... keeping the node");

	/* Lookup (the cache is the registry's: see registry_test.c). */
	CALL(&r2, store_device_lookup(store, r.dev.node, res_device_cb, &r2));
	is_int(r2.st, STORE_OK, "lookup by node");
	is_str(r2.dev.owner, "alice@example.com", "lookup: owner");
	is_str(r2.dev.provider, "fcm-http-v1", "lookup: provider");
	is_str(r2.dev.token, "tok-1", "lookup: token");
	is_str(r2.dev.voip_token, "voip-2", "lookup: VoIP token");
	is_str(r2.dev.secret, r.dev.secret, "lookup: secret");
	ok(!r2.reentrant, "lookup answers asynchronously");

	CALL(&r2, store_device_lookup(store, "no-such-node", res_device_cb,
	    &r2));
	is_int(r2.st, STORE_NOTFOUND, "lookup unknown node: not found");

	/* Last push and last error. */
	nodes[0] = r.dev.node;
	CALL(&r2, store_device_mark_pushed(store, nodes, 1, res_done_cb, &r2));
	is_int(r2.st, STORE_OK, "mark push");
	CALL(&r2, store_device_mark_error(store, r.dev.node, "BadDeviceToken "
	    "'x'", res_done_cb, &r2));
	is_int(r2.st, STORE_OK, "mark error");
	nodes[0] = "no-such-node";
	CALL(&r2, store_device_mark_pushed(store, nodes, 1, res_done_cb, &r2));
	is_int(r2.st, STORE_NOTFOUND, "mark push, unknown node");
	CALL(&r2, store_device_list_owner(store, "alice@example.com",
	    res_devices_cb, &r2));
	is_int(r2.ndevs, 1, "list by owner: one");
	ok(r2.ndevs == 1 && r2.devs[0].last_push > 0, "last push stored");
	ok(r2.ndevs == 1 && r2.devs[0].last_error > 0, "last error stored");
	is_str(r2.ndevs == 1 ? r2.devs[0].last_error_text : NULL,
	    "BadDeviceToken 'x'", "last error text stored");

	/* Unregister and delete. */
	CALL(&r2, store_device_unregister(store, "alice@example.com",
	    "fcm-http-v1", "tok-1", res_done_cb, &r2));
	is_int(r2.st, STORE_OK, "unregister: existed");
	CALL(&r2, store_device_unregister(store, "alice@example.com",
	    "fcm-http-v1", "tok-1", res_done_cb, &r2));
	is_int(r2.st, STORE_NOTFOUND, "unregister again: did not exist");
	CALL(&r2, store_device_lookup(store, r.dev.node, res_device_cb, &r2));
	is_int(r2.st, STORE_NOTFOUND, "lookup after unregister");

	CALL(&r, store_device_register(store, "bob@example.com", "apns", "t2",
	    NULL, res_device_cb, &r));
	CALL(&r2, store_device_lookup(store, r.dev.node, res_device_cb, &r2));
	CALL(&r2, store_device_delete(store, r.dev.node, res_done_cb, &r2));
	is_int(r2.st, STORE_OK, "delete by node");
	CALL(&r2, store_device_delete(store, r.dev.node, res_done_cb, &r2));
	is_int(r2.st, STORE_NOTFOUND, "delete by node again: not found");
	res_reset(&r);
	res_reset(&r2);
}

static void
test_lists(void)
{
	struct res r = { 0 };

	const char *nodes[5];
	char *n1, *n2;
	size_t i, seen = 0;

	CALL(&r, store_device_register(store, "carol@example.com", "apns",
	    "shared", NULL, res_device_cb, &r));
	n1 = xstrdup(r.dev.node);
	CALL(&r, store_device_register(store, "dave@example.org", "apns",
	    "shared", NULL, res_device_cb, &r));
	n2 = xstrdup(r.dev.node);
	/* Nodes that need quoting in a text[] literal, and n1 twice. */
	nodes[0] = "no\"such\\node,{}";
	nodes[1] = n2;
	nodes[2] = n1;
	nodes[3] = "NULL";
	nodes[4] = n1;
	CALL(&r, store_device_lookup_many(store, nodes, 5, res_devices_cb,
	    &r));
	is_int(r.st, STORE_OK, "lookup of many nodes (%s)", r.err ? r.err :
	    "ok");
	for (i = 0; i < r.ndevs; i++)
		if (strcmp(r.devs[i].node, n1) == 0 ||
		    strcmp(r.devs[i].node, n2) == 0)
			seen++;
	ok(r.ndevs == 2 && seen == 2, "... one row per node that exists "
	    "(%zu)", r.ndevs);
	ok(r.ndevs == 2 && strcmp(r.devs[0].token, "shared") == 0 &&
	    strcmp(r.devs[0].provider, "apns") == 0 &&
	    r.devs[0].secret != NULL && r.devs[0].created == 0,
	    "... with what a push needs, and no more");
	free(n1);
	free(n2);
	CALL(&r, store_device_register(store, "carol@example.com", "fcm",
	    "shared", NULL, res_device_cb, &r));
	CALL(&r, store_device_register(store, "carol@example.com", "apns",
	    "other", "v", res_device_cb, &r));

	CALL(&r, store_device_lookup_token(store, "apns", "shared",
	    res_devices_cb, &r));
	is_int(r.st, STORE_OK, "lookup by (provider, token)");
	is_int(r.ndevs, 2, "... two accounts on one device");
	ok(r.ndevs == 2 && strcmp(r.devs[0].owner, "carol@example.com") == 0 &&
	    strcmp(r.devs[1].owner, "dave@example.org") == 0, "... in order");
	CALL(&r, store_device_lookup_token(store, "apns", "nothing",
	    res_devices_cb, &r));
	ok(r.st == STORE_OK && r.ndevs == 0, "lookup by token: none");

	CALL(&r, store_device_list_owner(store, "carol@example.com",
	    res_devices_cb, &r));
	is_int(r.ndevs, 3, "list by owner");
	CALL(&r, store_device_count_provider(store, "apns", res_count_cb, &r));
	ok(r.st == STORE_OK && r.count == 3, "count by provider (%lld)",
	    r.count);
	CALL(&r, store_device_count_provider(store, "none", res_count_cb, &r));
	ok(r.st == STORE_OK && r.count == 0, "count, unknown provider");
	CALL(&r, store_device_delete_owner(store, "carol@example.com",
	    res_count_cb, &r));
	ok(r.st == STORE_OK && r.count == 3, "delete by owner: 3 rows");
	CALL(&r, store_device_list_owner(store, "carol@example.com",
	    res_devices_cb, &r));
	ok(r.st == STORE_OK && r.ndevs == 0, "list by owner: none left");
	CALL(&r, store_device_delete_owner(store, "carol@example.com",
	    res_count_cb, &r));
	ok(r.st == STORE_OK && r.count == 0, "delete by owner again: 0");
	CALL(&r, store_device_delete_owner(store, "dave@example.org",
	    res_count_cb, &r));
	res_reset(&r);
}

static void
test_verbatim(void)
{
	static const char *junk[] = {
		"o'brien@example.com",
		"back\\slash\\\\@x",
		"'; DROP TABLE devices; --",
		"\"quoted\" $1 $$ $body$ %s %n",
		"\x01\x02\t\n\r\x1b\x7f end",
		"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 \xe2\x80\xae rtl",
		"E'\\x00' \\x27 \\' ) OR 1=1 --",
	};
	struct res r = { 0 }, r2 = { 0 };
	char big[4097];
	size_t i;
	int good = 0;

	for (i = 0; i < sizeof(junk) / sizeof(*junk); i++) {
		CALL(&r, store_device_register(store, junk[i], junk[i],
		    junk[i], junk[i], res_device_cb, &r));
		if (!ok(r.st == STORE_OK, "register junk %zu", i)) {
			diag("%s", r.err ? r.err : "?");
			continue;
		}
		CALL(&r2, store_device_lookup(store, r.dev.node, res_device_cb,
		    &r2));
		is_str(r2.dev.owner, junk[i], "junk %zu: owner verbatim", i);
		is_str(r2.dev.token, junk[i], "junk %zu: token verbatim", i);
		is_str(r2.dev.voip_token, junk[i], "junk %zu: VoIP verbatim",
		    i);
		CALL(&r2, store_device_lookup_token(store, junk[i], junk[i],
		    res_devices_cb, &r2));
		is_int(r2.ndevs, 1, "junk %zu: found by token", i);
		CALL(&r2, store_device_unregister(store, junk[i], junk[i],
		    junk[i], res_done_cb, &r2));
		if (r2.st == STORE_OK)
			good++;
	}
	is_int(good, (int)(sizeof(junk) / sizeof(*junk)), "junk unregistered "
	    "by the same strings");

	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CALL(&r, store_device_register(store, "big@example.com", "fcm", big,
	    NULL, res_device_cb, &r));
	is_str(r.dev.token, big, "4 KB token stored verbatim");
	CALL(&r, store_device_unregister(store, "big@example.com", "fcm", big,
	    res_done_cb, &r));

	/* expat hands us UTF-8; anything else is refused, not retried. */
	CALL(&r, store_device_register(store, "bad@example.com", "fcm",
	    "\xff\xfe\xc3", NULL, res_device_cb, &r));
	is_int(r.st, STORE_EINVAL, "invalid UTF-8: STORE_EINVAL (%s)",
	    r.err ? r.err : "");
	res_reset(&r);
	res_reset(&r2);
}

static int cert_changes;
static char *cert_last;

static void
cert_change_cb(void *arg, const char *provider)
{
	cert_changes++;
	free(cert_last);
	cert_last = provider != NULL ? xstrdup(provider) : NULL;
}

static void
test_certs(void)
{
	struct store_cert c;
	struct res r = { 0 };
	unsigned char p12[256];
	int i;

	store_on_certificate_change(store, cert_change_cb, NULL);
	for (i = 0; i < 256; i++)
		p12[i] = (unsigned char)i;
	memset(&c, 0, sizeof(c));
	c.provider = "apns-a";
	c.pkcs12 = p12;
	c.pkcs12_len = sizeof(p12);
	c.password = "p'w\\d";
	c.not_after = 2000000000;
	CALL(&r, store_cert_put(store, &c, res_done_cb, &r));
	is_int(r.st, STORE_OK, "certificate put (PKCS#12)");
	ok(WAIT_FOR(cert_changes > 0, 2000), "own change notified");
	is_str(cert_last, "apns-a", "... with the provider id");

	CALL(&r, store_cert_get(store, "apns-a", res_cert_cb, &r));
	is_int(r.st, STORE_OK, "certificate get");
	ok(r.cert.pkcs12_len == sizeof(p12) && r.cert.pkcs12 != NULL &&
	    memcmp(r.cert.pkcs12, p12, sizeof(p12)) == 0,
	    "PKCS#12 bytes (incl. NUL) round-trip (%zu)", r.cert.pkcs12_len);
	is_str(r.cert.password, "p'w\\d", "password");
	is_int(r.cert.not_after, 2000000000, "not_after");
	ok(r.cert.cert_pem == NULL && r.cert.updated > 0, "no PEM, updated");

	memset(&c, 0, sizeof(c));
	c.provider = "apns-b";
	c.cert_pem = "-----BEGIN CERTIFICATE-----\nMII\n-----END "
	    "CERTIFICATE-----\n";
	c.key_pem = "-----BEGIN PRIVATE KEY-----\nMII\n-----END "
	    "PRIVATE KEY-----\n";
	CALL(&r, store_cert_put(store, &c, res_done_cb, &r));
	is_int(r.st, STORE_OK, "certificate put (PEM)");
	CALL(&r, store_cert_get(store, "apns-b", res_cert_cb, &r));
	is_str(r.cert.key_pem, c.key_pem, "PEM key round-trips");
	ok(r.cert.pkcs12 == NULL && r.cert.not_after == 0, "no PKCS#12, "
	    "no expiry");
	c.cert_pem = "-----BEGIN CERTIFICATE-----\nnew\n";
	CALL(&r, store_cert_put(store, &c, res_done_cb, &r));
	CALL(&r, store_cert_get(store, "apns-b", res_cert_cb, &r));
	is_str(r.cert.cert_pem, c.cert_pem, "put replaces");

	CALL(&r, store_cert_list(store, res_certs_cb, &r));
	is_int(r.ncerts, 2, "certificate list");
	is_str(r.cert_providers, "apns-a apns-b", "... by provider");

	memset(&c, 0, sizeof(c));
	c.provider = "empty";
	CALL(&r, store_cert_put(store, &c, res_done_cb, &r));
	is_int(r.st, STORE_EINVAL, "certificate without credentials refused");

	CALL(&r, store_cert_delete(store, "apns-a", res_done_cb, &r));
	is_int(r.st, STORE_OK, "certificate delete");
	CALL(&r, store_cert_get(store, "apns-a", res_cert_cb, &r));
	is_int(r.st, STORE_NOTFOUND, "deleted certificate not found");
	CALL(&r, store_cert_delete(store, "apns-a", res_done_cb, &r));
	is_int(r.st, STORE_NOTFOUND, "delete again: not found");
	res_reset(&r);
}

/* Many operations queued at once ride the pipeline. */
#define MANY 500

static char *many_nodes[MANY];

static void
many_device_cb(void *arg, enum store_status st, const struct store_device *d,
    const char *err)
{
	intptr_t i = (intptr_t)arg;

	many_done++;
	if (st != STORE_OK) {
		many_bad++;
		return;
	}
	if (many_nodes[i] == NULL)
		many_nodes[i] = xstrdup(d->node);
	else if (strcmp(many_nodes[i], d->node) != 0)
		many_bad++;
}

static void
test_pipeline(void)
{
	struct store_stats st;
	char owner[64];
	double t0, t;
	uint64_t notes;
	intptr_t i;

	store_stats_get(store, &st);
	notes = st.notifications;
	many_done = many_bad = 0;
	t0 = now_ms();
	for (i = 0; i < MANY; i++) {
		snprintf(owner, sizeof(owner), "user%d@example.com", (int)i);
		store_device_register(store, owner, "fcm", "tok",
		    NULL, many_device_cb, (void *)i);
	}
	ok(WAIT_FOR(many_done == MANY, 30000), "%d registrations at once",
	    MANY);
	t = now_ms() - t0;
	is_int(many_bad, 0, "... all ok");
	diag("%d pipelined registrations: %.1f ms (%.0f/s)", MANY, t,
	    MANY * 1000.0 / t);

	/* The registry test looks these up through its cache. */
	ok(WAIT_FOR((store_stats_get(store, &st), st.notifications >=
	    notes + MANY), 5000), "one notification per new device");
	many_done = many_bad = 0;
	t0 = now_ms();
	for (i = 0; i < MANY; i++)
		store_device_lookup(store, many_nodes[i], many_device_cb,
		    (void *)i);
	ok(WAIT_FOR(many_done == MANY, 30000), "%d lookups at once", MANY);
	t = now_ms() - t0;
	is_int(many_bad, 0, "... all found, same nodes");
	diag("%d pipelined lookups (database): %.1f ms", MANY, t);


	/* One at a time: the latency a single ad-hoc command sees. */
	t0 = now_ms();
	for (i = 0; i < 100; i++) {
		struct res r = { 0 };

		snprintf(owner, sizeof(owner), "user%d@example.com", (int)i);
		CALL(&r, store_device_register(store, owner, "fcm", "tok",
		    NULL, res_device_cb, &r));
		if (r.st != STORE_OK)
			many_bad++;
		res_reset(&r);
	}
	t = now_ms() - t0;
	diag("sequential register: %.3f ms each", t / 100);
	t0 = now_ms();
	for (i = 0; i < 100; i++) {
		struct res r = { 0 };

		CALL(&r, store_device_lookup_token(store, "fcm", "tok",
		    res_devices_cb, &r));
		if (r.st != STORE_OK || r.ndevs != MANY)
			many_bad++;
		res_reset(&r);
	}
	t = now_ms() - t0;
	is_int(many_bad, 0, "sequential operations ok");
	diag("sequential lookup of %d rows by token: %.3f ms",
	    MANY, t / 100);

	many_done = many_bad = 0;
	for (i = 0; i < MANY; i++) {
		store_device_delete(store, many_nodes[i], many_done_cb, NULL);
		free(many_nodes[i]);
		many_nodes[i] = NULL;
	}
	ok(WAIT_FOR(many_done == MANY, 30000) && many_bad == 0,
	    "%d deletes at once", MANY);
}

/* A statement stuck behind a lock times out and writes nothing later. */
static void
test_timeout(const char *uri)
{
	struct store *s;
	struct store_stats st;
	struct res r = { 0 };
	double t0;
	pid_t pid;

	s = test_store(uri, 1, 1000);
	pid = spawn_sh("psql -X -q -c 'BEGIN; LOCK TABLE devices IN ACCESS "
	    "EXCLUSIVE MODE; SELECT pg_sleep(3); COMMIT;' >/dev/null");
	ok(pid > 0, "psql holds a lock on devices");
	spin(700);
	t0 = now_ms();
	CALL(&r, store_device_register(s, "slow@example.com", "fcm", "slow",
	    NULL, res_device_cb, &r));
	is_int(r.st, STORE_ETEMP, "blocked statement: STORE_ETEMP (%s)",
	    r.err ? r.err : "");
	ok(now_ms() - t0 < 1500, "... after the timeout (%.0f ms)",
	    now_ms() - t0);
	is_int(spawn_wait(pid, 10000), 0, "lock released");
	ok(WAIT_FOR((store_stats_get(s, &st), st.up), 10000), "store up");
	CALL(&r, store_device_lookup_token(s, "fcm", "slow", res_devices_cb,
	    &r));
	ok(r.st == STORE_OK && r.ndevs == 0, "timed-out registration was not "
	    "written later");
	CALL(&r, store_device_register(s, "slow@example.com", "fcm", "slow",
	    NULL, res_device_cb, &r));
	is_int(r.st, STORE_OK, "registration works afterwards");
	store_stats_get(s, &st);
	ok(st.timeouts >= 1 || st.errors >= 1, "timeout counted");
	CALL(&r, store_device_unregister(s, "slow@example.com", "fcm", "slow",
	    res_done_cb, &r));
	store_free(&s);
	ok(s == NULL, "store_free NULLs the pointer");
	res_reset(&r);
}

static void
test_no_server(void)
{
	struct store_conf conf;
	struct store *s;
	struct res r = { 0 }, r2 = { 0 };
	char *err = NULL;
	double t0;

	store_conf_defaults(&conf);
	conf.conninfo = "postgresql://nobody@127.0.0.1:1/none";
	s = store_new(base, &conf, &err);
	ok(s != NULL, "store_new does not wait for the server");
	t0 = now_ms();
	CALL(&r, store_device_lookup(s, "x", res_device_cb, &r));
	is_int(r.st, STORE_ETEMP, "no server: STORE_ETEMP");
	ok(now_ms() - t0 < 1000, "... fast (%.0f ms)", now_ms() - t0);
	ok(!r.reentrant, "... not from inside the call");
	t0 = now_ms();
	CALL(&r, store_device_register(s, "a@b", "fcm", "t", NULL,
	    res_device_cb, &r));
	ok(r.st == STORE_ETEMP && now_ms() - t0 < 100 && !r.reentrant,
	    "known down: fails at once (%.1f ms)", now_ms() - t0);

	/* Callbacks still pending at store_free hear STORE_ETEMP. */
	res_reset(&r);
	res_reset(&r2);
	store_device_lookup(s, "y", res_device_cb, &r);
	store_device_delete(s, "y", res_done_cb, &r2);
	r.returned = r2.returned = true;
	store_free(&s);
	ok(r.calls == 1 && r.st == STORE_ETEMP && r2.calls == 1,
	    "store_free completes what is pending");

	conf.conninfo = "postgresql://[oops";
	s = store_new(base, &conf, &err);
	ok(s == NULL && err != NULL, "bad URI refused: %s", err ? err : "");
	free(err);
	conf.conninfo = "";
	conf.pool_size = 0;
	err = NULL;
	s = store_new(base, &conf, &err);
	ok(s == NULL && err != NULL, "pool-size 0 refused");
	free(err);
	res_reset(&r);
	res_reset(&r2);
}

int
main(void)
{
	const char *uri = test_db_uri();
	struct store_stats st;

	log_init(true, getenv("XPUSHD_DEBUG") != NULL, "store_test");
	base = event_base_new();
	test_migrate(uri);
	store = test_store(uri, 2, 5000);
	store_stats_get(store, &st);
	ok(st.up && st.listening && st.connections == 2, "store connected, "
	    "2 connections, listening");

	test_register();
	test_lists();
	test_verbatim();
	test_certs();
	test_pipeline();
	test_timeout(uri);
	test_no_server();
	is_int(res_reentrant, 0, "no callback ran inside its call");

	store_free(&store);
	free(cert_last);
	event_base_free(base);
	return tap_done();
}
