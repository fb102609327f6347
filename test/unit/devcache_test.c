/*
 * devcache: SipHash against OpenSSL's output, every encoding of a
 * registration round trip, the secret check, CLOCK eviction, invalidation,
 * and many random operations against a reference model.  No database.
 */
#include "config.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/devcache.h"
#include "core/siphash.h"
#include "core/xmalloc.h"
#include "test/lib/tap.h"

#define STRESS_NODES	4000	/* distinct nodes in the model */
#define STRESS_OPS	200000
#define MANY		100000	/* APNs registrations for the size check */

/* A registration as the tests write it: an entry and its node. */
struct tdev {
	const char		*node;
	const char		*owner;
	const char		*provider;
	const char		*token;
	const char		*voip_token;
	const char		*secret;
	time_t			 last_push;
	/* From get(): the item it was decoded from. */
	struct devcache_item	*item;
};

static struct tdev
dev(const char *node, const char *owner, const char *provider,
    const char *token, const char *voip, const char *secret)
{
	struct tdev d;

	memset(&d, 0, sizeof(d));
	d.node = node;
	d.owner = owner;
	d.provider = provider;
	d.token = token;
	d.voip_token = voip;
	d.secret = secret;
	return d;
}

static bool
put(struct devcache *dc, const struct tdev *d)
{
	struct devcache_entry e;

	e.owner = d->owner;
	e.provider = d->provider;
	e.token = d->token;
	e.voip_token = d->voip_token;
	e.secret = d->secret;
	e.last_push = d->last_push;
	return devcache_put(dc, d->node, &e);
}

/*
 * The entry cached for node, decoded into caller-owned storage (here one
 * buffer per test program, grown as needed), or NULL.
 */
static const struct tdev *
get(struct devcache *dc, const char *node)
{
	static struct tdev g;
	static char *buf, nodebuf[256];
	static size_t size;
	struct devcache_entry e;
	size_t need;

	if ((g.item = devcache_find(dc, node)) == NULL)
		return NULL;
	need = devcache_item_decode(dc, g.item, &e, buf, size);
	if (need > size) {
		buf = xrealloc(buf, need);
		size = need;
		devcache_item_decode(dc, g.item, &e, buf, size);
	}
	snprintf(nodebuf, sizeof(nodebuf), "%s", node);
	g.node = nodebuf;
	g.owner = e.owner;
	g.provider = e.provider;
	g.token = e.token;
	g.voip_token = e.voip_token;
	g.secret = e.secret;
	g.last_push = e.last_push;
	return &g;
}

/* Whether the item stands for d's secret, and for no other. */
static bool
secret_kept(const struct devcache *dc, const struct tdev *g,
    const struct tdev *d)
{
	if (d->secret == NULL)
		return !devcache_item_secret_ok(dc, g->item, "") &&
		    !devcache_item_secret_ok(dc, g->item, "s");
	return devcache_item_secret_ok(dc, g->item, d->secret);
}

static bool
same_str(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Puts d, gets it back and compares every field the cache keeps. */
static void
round_trip(struct devcache *dc, const struct tdev *d, const char *what)
{
	const struct tdev *g;

	ok(put(dc, d), "%s: cached", what);
	if ((g = get(dc, d->node)) == NULL) {
		ok(0, "%s: found again", what);
		return;
	}
	ok(same_str(g->owner, d->owner) && same_str(g->provider,
	    d->provider) && same_str(g->token, d->token) &&
	    same_str(g->voip_token, d->voip_token) &&
	    same_str(g->node, d->node) && g->last_push == d->last_push,
	    "%s: round trip (owner %s, token %s, voip %s)", what, g->owner,
	    g->token, g->voip_token ? g->voip_token : "none");
	ok(g->secret == NULL && secret_kept(dc, g, d),
	    "%s: a cached entry, its secret only as a hash", what);
}

static void
test_siphash(void)
{
	/* From `openssl mac -macopt hexkey:000102...0f SIPHASH`. */
	static const struct {
		size_t		 len;
		const char	*h64, *h128;
	} v[] = {
		{ 0, "310e0edd47db6f72", "a3817f04ba25a8e66df67214c7550293" },
		{ 1, "fd67dc93c539f874", "da87c1d86b99af44347659119b22fc45" },
		{ 7, "37d1018bf50002ab", "a1f1ebbed8dbc153c0b84aa61ff08239" },
		{ 8, "6224939a79f5f593", "3b62a9ba6258f5610f83e264f31497b4" },
		{ 15, "e545be4961ca29a1", "5493e99933b0a8117e08ec0f97cfc3d9" },
		{ 16, "db9bc2577fcc2a3f", "6ee2a4ca67b054bbfd3315bf85230577" },
		{ 63, "724506eb4c328a95", "5150d1772f50834a503e069a973fbd7c" },
	};
	unsigned char key[SIPHASH_KEY_BYTES], msg[64];
	struct siphash_key k;
	uint64_t h, o[2];
	char got64[17], got128[33];
	size_t i, j;

	for (i = 0; i < sizeof(key); i++)
		key[i] = (unsigned char)i;
	for (i = 0; i < sizeof(msg); i++)
		msg[i] = (unsigned char)i;
	siphash_key_set(&k, key);
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		h = siphash64(&k, msg, v[i].len);
		siphash128(&k, msg, v[i].len, o);
		/* Output bytes in order: each word little-endian. */
		for (j = 0; j < 8; j++)
			snprintf(got64 + 2 * j, 3, "%02x",
			    (unsigned)(h >> (8 * j)) & 0xff);
		for (j = 0; j < 16; j++)
			snprintf(got128 + 2 * j, 3, "%02x",
			    (unsigned)(o[j / 8] >> (8 * (j % 8))) & 0xff);
		is_str(got64, v[i].h64, "SipHash-2-4-64, %zu bytes", v[i].len);
		is_str(got128, v[i].h128, "SipHash-2-4-128, %zu bytes",
		    v[i].len);
	}
}

static void
test_encodings(void)
{
	struct devcache *dc = devcache_new(64);
	struct devcache_stats st;
	struct tdev d;
	const char *apns = "0123456789abcdef0123456789abcdef"
	    "0123456789abcdef0123456789abcdef";
	const char *upper = "0123456789ABCDEF0123456789ABCDEF"
	    "0123456789ABCDEF0123456789ABCDEF";
	const char *fcm = "dXk1Mz9fQ0y:APA91bHqD8sFv3_xkQpLw0zT-7bNcJr"
	    "5mYe2uAiOgS4hKd1WfVx6tLnPj9CbEsRa0oMqZ8yIwUk3DgHlFe7vTn2cXb5"
	    "JsQ1rYp6KmA4iNo9uGzWd0hLq8eVt3xBfCjR7nMkSa2yPwUo5IgEl1DcHb6T"
	    "zX4vFr";
	char local[80], name[64];
	int i;

	d = dev("n-apns", "alice@example.com", "apns", apns, NULL, "s3cret");
	d.last_push = 1700000000;
	round_trip(dc, &d, "APNs lowercase hex");
	devcache_stats_get(dc, &st);
	is_int(st.blobs, 0, "... inline: no blob");

	d = dev("n-10", "abcdefghij@example.com", "apns", apns, NULL, "s");
	round_trip(dc, &d, "APNs, 10-byte local part");
	devcache_stats_get(dc, &st);
	is_int(st.blobs, 0, "... still inline");
	d = dev("n-11", "abcdefghijk@example.com", "apns", apns, NULL, "s");
	round_trip(dc, &d, "APNs, 11-byte local part");
	devcache_stats_get(dc, &st);
	is_int(st.blobs, 1, "... in a blob: 32 + 11 bytes do not fit inline");

	d = dev("n-upper", "bob@example.com", "apns", upper, NULL, "s");
	round_trip(dc, &d, "uppercase hex stays uppercase");
	d = dev("n-odd", "bob@example.com", "apns", "abc", NULL, "s");
	round_trip(dc, &d, "odd-length hex");
	d = dev("n-mixed", "bob@example.com", "apns", "00ff0G", NULL, "s");
	round_trip(dc, &d, "not hex");
	d = dev("n-empty", "bob@example.com", "apns", "", NULL, "s");
	round_trip(dc, &d, "empty token");
	d = dev("n-fcm", "carol@example.org", "fcm-http-v1", fcm, NULL, "s");
	round_trip(dc, &d, "FCM token");
	d = dev("n-voip", "dave@example.com", "apns", apns, "fedcba9876543210"
	    "fedcba9876543210fedcba9876543210fedcba9876543210", "s");
	round_trip(dc, &d, "VoIP token");
	d = dev("n-voip-up", "dave@example.com", "apns", upper, "ABCDEF", "s");
	round_trip(dc, &d, "uppercase VoIP token");
	memset(local, 'l', sizeof(local) - 1);
	local[sizeof(local) - 1] = '\0';
	memcpy(local + 60, "@long.example", 14);
	d = dev("n-long", local, "apns", apns, NULL, "s");
	round_trip(dc, &d, "60-byte local part");
	d = dev("n-domain", "example.net", "apns", apns, NULL, "s");
	round_trip(dc, &d, "owner without a local part");
	d = dev("n-nosecret", "erin@example.com", "apns", apns, NULL, NULL);
	round_trip(dc, &d, "no secret");
	d = dev("n-utf8", "\xc3\xa9lodie@\xc3\xa9xample.fr", "apns", apns,
	    NULL, "s");
	round_trip(dc, &d, "UTF-8 owner");
	devcache_stats_get(dc, &st);
	is_int(st.domains, 5, "domains interned once each");
	is_int(st.providers, 2, "providers interned once each");

	/* Providers beyond the interned table are not cached at all. */
	for (i = 0; i < 260; i++) {
		snprintf(name, sizeof(name), "prov-%d", i);
		d = dev("n-prov", "frank@example.com", name, apns, NULL, "s");
		if (!put(dc, &d))
			break;
	}
	ok(i == 253, "provider table full after 255 (%d more)", i);
	ok(get(dc, "n-prov") == NULL, "... the refused one left "
	    "nothing behind, not even the earlier entry for its node");
	devcache_flush(dc);
	devcache_free(&dc);
	ok(dc == NULL, "devcache_free clears the pointer");

	/* Domains beyond the interned table: the owner is kept whole. */
	dc = devcache_new(8192);
	for (i = 0; i < 4200; i++) {
		snprintf(name, sizeof(name), "u@d%d.example", i);
		snprintf(local, sizeof(local), "n%d", i);
		d = dev(local, name, "apns", apns, NULL, "s");
		put(dc, &d);
	}
	devcache_stats_get(dc, &st);
	is_int(st.domains, 4096, "domain table bounded");
	is_int(st.blobs, 4200 - 4096, "the rest in blobs");
	d = dev("n4199", "u@d4199.example", "apns", apns, NULL, "s");
	round_trip(dc, &d, "owner of an uninterned domain");
	devcache_free(&dc);
}

static void
test_secret(void)
{
	struct devcache *dc = devcache_new(16), *other = devcache_new(16);
	const struct tdev *g;
	struct tdev d;

	d = dev("n1", "a@example.com", "apns", "00", NULL, "right-secret");
	put(dc, &d);
	put(other, &d);
	g = get(dc, "n1");
	ok(g != NULL && devcache_item_secret_ok(dc, g->item, "right-secret"),
	    "right secret");
	ok(!devcache_item_secret_ok(dc, g->item, "wrong-secret"),
	    "wrong secret");
	ok(!devcache_item_secret_ok(dc, g->item, "right-secre"), "prefix");
	ok(!devcache_item_secret_ok(dc, g->item, ""), "empty secret");
	ok(!devcache_item_secret_ok(dc, g->item, NULL), "absent secret");
	ok(!devcache_item_secret_ok(other, g->item, "right-secret"),
	    "another cache's key does not match");
	d = dev("n2", "a@example.com", "apns", "00", NULL, NULL);
	put(dc, &d);
	g = get(dc, "n2");
	ok(g != NULL && !devcache_item_secret_ok(dc, g->item, "") &&
	    !devcache_item_secret_ok(dc, g->item, "anything"),
	    "no secret: every presented secret refused");
	ok(devcache_find(dc, "n3") == NULL, "a node never put has no item "
	    "to check a secret against");
	devcache_free(&dc);
	devcache_free(&other);
}

static bool
present(struct devcache *dc, const char *node)
{
	return get(dc, node) != NULL;
}

static void
test_eviction(void)
{
	struct devcache *dc = devcache_new(8);
	struct devcache_stats st;
	struct tdev d;
	char node[16];
	int i, n;

	for (i = 0; i < 8; i++) {
		snprintf(node, sizeof(node), "e%d", i);
		d = dev(node, "a@example.com", "apns", "00", NULL, "s");
		put(dc, &d);
	}
	devcache_stats_get(dc, &st);
	is_int(st.entries, 8, "eight entries at cache-size 8");
	d = dev("e8", "a@example.com", "apns", "00", NULL, "s");
	put(dc, &d);
	devcache_stats_get(dc, &st);
	is_int(st.entries, 8, "a ninth evicts one");
	is_int(st.evictions, 1, "... counted");
	ok(!present(dc, "e0") && present(dc, "e8"), "... the oldest, none "
	    "used since");
	/* The hand is past e0's slot; e1 was just used, e2 was not. */
	for (i = 3; i < 8; i++) {
		snprintf(node, sizeof(node), "e%d", i);
		present(dc, node);
	}
	present(dc, "e1");
	d = dev("e9", "a@example.com", "apns", "00", NULL, "s");
	put(dc, &d);
	ok(present(dc, "e1") && !present(dc, "e2") && present(dc, "e9"),
	    "CLOCK spares the entries used since the hand passed");
	for (i = 10; i < 1000; i++) {
		snprintf(node, sizeof(node), "e%d", i);
		d = dev(node, "a@example.com", "apns", "00", NULL, "s");
		put(dc, &d);
	}
	devcache_stats_get(dc, &st);
	for (n = 0, i = 0; i < 1000; i++) {
		snprintf(node, sizeof(node), "e%d", i);
		n += present(dc, node);
	}
	ok(st.entries == 8 && n == 8, "never more than cache-size (%zu, %d)",
	    st.entries, n);
	ok(present(dc, "e999"), "the newest is there");

	/* Invalidation by node, and a flush. */
	ok(devcache_drop(dc, "e999") && !present(dc, "e999"), "drop by node");
	ok(!devcache_drop(dc, "e999"), "drop again: nothing there");
	devcache_stats_get(dc, &st);
	is_int(st.entries, 7, "entries counted down");
	d = dev("e999", "b@example.com", "apns", "01", NULL, "s");
	put(dc, &d);
	d = dev("e999", "b@example.com", "apns", "02", NULL, "s");
	put(dc, &d);
	devcache_stats_get(dc, &st);
	ok(st.entries == 8 && strcmp(get(dc, "e999")->token, "02") ==
	    0, "a second put for a node replaces the first");
	devcache_item_set_last_push(devcache_find(dc, "e999"), 1800000000);
	is_int(get(dc, "e999")->last_push, 1800000000,
	    "last_push updated in place");
	ok(devcache_item_last_push(devcache_find(dc, "e999")) == 1800000000,
	    "devcache_item_last_push reads it without decoding");
	ok(devcache_find(dc, "nope") == NULL, "devcache_find: not cached");
	devcache_flush(dc);
	devcache_stats_get(dc, &st);
	ok(st.entries == 0 && st.slot_bytes == 0 && !present(dc, "e1"),
	    "flush: empty, pages unmapped");
	d = dev("e1", "a@example.com", "apns", "00", NULL, "s");
	ok(put(dc, &d) && present(dc, "e1"), "usable after a flush");
	devcache_free(&dc);
}

/* The reference model: what was last put for each node, if anything. */
struct model {
	bool	 in;
	int	 version;
};

static void
model_dev(int node, int version, char *nodebuf, char *owner, char *token,
    struct tdev *d)
{
	static const char *providers[] = { "apns", "fcm", "apns-voip" };

	sprintf(nodebuf, "node-%d", node);
	/* Every few versions a blob: a long local part or an FCM token. */
	if (version % 5 == 0)
		sprintf(owner, "a-rather-long-local-part-%d@example%d.org",
		    version, node % 7);
	else
		sprintf(owner, "u%d@example%d.org", version, node % 7);
	if (version % 3 == 0)
		sprintf(token, "fcm:%d-%d", node, version);
	else
		sprintf(token, "%016x%016x", node, version);
	*d = dev(nodebuf, owner, providers[version % 3], token,
	    version % 7 == 0 ? token : NULL, version % 11 == 0 ? NULL : "s");
	d->last_push = version;
}

static bool
model_match(const struct devcache *dc, const struct tdev *g, int node,
    int version)
{
	struct tdev d;
	char nb[32], ob[96], tb[64];

	model_dev(node, version, nb, ob, tb, &d);
	return same_str(g->owner, d.owner) && same_str(g->provider,
	    d.provider) && same_str(g->token, d.token) &&
	    same_str(g->voip_token, d.voip_token) &&
	    same_str(g->node, d.node) && g->last_push == d.last_push &&
	    secret_kept(dc, g, &d);
}

/*
 * Without evictions the cache must equal the model exactly; with a small
 * cache-size every hit must still be the node's latest version.
 */
static void
stress(size_t max, const char *what)
{
	struct devcache *dc = devcache_new(max);
	struct model *m = calloc(STRESS_NODES, sizeof(*m));
	const struct tdev *g;
	struct devcache_stats st;
	struct tdev d;
	char nb[32], ob[96], tb[64];
	int i, node, op, version = 0, bad = 0, n;

	srandom(12);
	for (i = 0; i < STRESS_OPS; i++) {
		node = (int)(random() % STRESS_NODES);
		op = (int)(random() % 10);
		sprintf(nb, "node-%d", node);
		if (op < 5) {
			m[node].in = true;
			m[node].version = ++version;
			model_dev(node, version, nb, ob, tb, &d);
			if (!put(dc, &d))
				bad++;
		} else if (op < 7) {
			if (devcache_drop(dc, nb) != m[node].in &&
			    max >= STRESS_NODES)
				bad++;
			m[node].in = false;
		} else {
			g = get(dc, nb);
			if (g != NULL && (!m[node].in ||
			    !model_match(dc, g, node, m[node].version)))
				bad++;
			if (g == NULL && m[node].in && max >= STRESS_NODES)
				bad++;
		}
	}
	is_int(bad, 0, "%s: %d random operations agree with the model",
	    what, STRESS_OPS);
	devcache_stats_get(dc, &st);
	for (n = 0, i = 0; i < STRESS_NODES; i++) {
		sprintf(nb, "node-%d", i);
		n += present(dc, nb);
	}
	ok(st.entries <= max && (size_t)n == st.entries, "%s: %zu entries, "
	    "%d reachable, at most %zu", what, st.entries, n, max);
	devcache_free(&dc);
	free(m);
}

static void
test_size(void)
{
	struct devcache *dc = devcache_new(MANY);
	struct devcache_stats st;
	struct tdev d;
	char node[40], owner[32], token[72];
	int i;

	for (i = 0; i < MANY; i++) {
		snprintf(node, sizeof(node), "%032x", i);
		snprintf(owner, sizeof(owner), "u%d@localhost", i);
		snprintf(token, sizeof(token), "%064x", i * 7919);
		d = dev(node, owner, "bench", token, NULL, "secret");
		put(dc, &d);
	}
	devcache_stats_get(dc, &st);
	ok(st.entries == MANY && st.blobs == 0, "%d APNs registrations, all "
	    "inline", MANY);
	ok(st.slot_bytes / MANY <= 82, "%zu slot bytes each",
	    st.slot_bytes / MANY);
	diag("%d cached: slots %zu + table %zu bytes = %.1f bytes each",
	    MANY, st.slot_bytes, st.table_bytes,
	    (double)(st.slot_bytes + st.table_bytes) / MANY);
	devcache_free(&dc);
}

int
main(void)
{
	test_siphash();
	test_encodings();
	test_secret();
	test_eviction();
	stress(STRESS_NODES + 96, "no evictions");
	stress(STRESS_NODES / 8, "cache-size 500");
	stress(1, "cache-size 1");
	test_size();
	return tap_done();
}
