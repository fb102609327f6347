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
#define MANY		100000	/* registrations for the size checks */
#define DOMAINS		16384	/* devcache.c DEVCACHE_DOMAINS_MAX */
#define CHURN_MAX	4000	/* cache-size for the churn test */
#define CHURN_PUTS	40000

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
	static const struct {
		const char	*node, *token, *what;
	} odd[] = {
		{ "n-mixedcase", "00aAbBcC", "mixed-case hex" },
		{ "n-odd", "abc", "odd-length hex" },
		{ "n-mixed", "00ff0G", "not hex" },
		{ "n-empty", "", "empty token" },
		{ "n-c0", ":APA91bxyz", "':' first, then APA91b" },
		{ "n-cend", "abcdefgh:", "':' last" },
		{ "n-cmark", "abcdefgh:APA91b", "':' then APA91b, nothing after" },
		{ "n-cpart", "abcdefgh:APA91", "':' then part of APA91b" },
		{ "n-cother", "abcdefghij:apa91bXYZ", "':' without APA91b" },
		{ "n-c2", "abcdefgh:APA91b:xyzxyz", "two colons: verbatim" },
		{ "n-b64", "ABCDEFGHIJ-_abcdefgh9", "base64url without a colon" },
		{ "n-plus", "abc+def/ghi=jkl", "standard base64: verbatim" },
		{ "n-space", "abc def\tghi\xc3\xa9", "spaces, UTF-8: verbatim" },
		{ "n-1", "Z", "one character" },
	};
	char local[300], name[64];
	int i;

	d = dev("n-apns", "alice@example.com", "apns", apns, NULL, "s3cret");
	d.last_push = 1700000000;
	round_trip(dc, &d, "APNs lowercase hex");
	devcache_stats_get(dc, &st);
	is_int(st.record_bytes, 28 + 1 + 5 + 1 + 32 + 1,
	    "... header, local part and 32 bytes of token, rounded to 4");
	is_int(st.raw_tokens, 0, "... no token kept verbatim");

	d = dev("n-fcm", "carol@example.org", "fcm-http-v1", fcm, NULL, "s");
	round_trip(dc, &d, "FCM token");
	devcache_stats_get(dc, &st);
	/* 169 characters, 162 packed. */
	is_int(st.record_bytes - 68, (28 + 1 + 5 + 1 + 1 + (6 * 162 + 7) / 8 +
	    3) / 4 * 4, "... 6 bits a character, the colon and APA91b set "
	    "apart");
	is_int(st.raw_tokens, 0, "... still none verbatim");
	devcache_drop(dc, "n-apns");
	devcache_drop(dc, "n-fcm");

	for (i = 0; i < (int)(sizeof(odd) / sizeof(odd[0])); i++) {
		d = dev(odd[i].node, "bob@example.com", "fcm", odd[i].token,
		    NULL, "s");
		round_trip(dc, &d, odd[i].what);
	}
	d = dev("n-upper", "bob@example.com", "apns", upper, NULL, "s");
	round_trip(dc, &d, "uppercase hex stays uppercase");
	devcache_stats_get(dc, &st);
	is_int(st.raw_tokens, 7, "verbatim where packing would not be "
	    "shorter or not exact: odd length, not hex, empty, two colons, "
	    "'+/=', spaces, one character");

	d = dev("n-voip", "dave@example.com", "apns", apns, "fedcba9876543210"
	    "fedcba9876543210fedcba9876543210fedcba9876543210", "s");
	round_trip(dc, &d, "VoIP token");
	d = dev("n-voip-up", "dave@example.com", "apns", upper, "ABCDEF", "s");
	round_trip(dc, &d, "uppercase VoIP token");
	d = dev("n-voip-empty", "dave@example.com", "apns", apns, "", "s");
	round_trip(dc, &d, "empty VoIP token (not the same as none)");
	d = dev("n-voip-fcm", "dave@example.com", "apns", fcm, fcm, "s");
	round_trip(dc, &d, "base64url VoIP token");
	memset(local, 'l', sizeof(local) - 1);
	local[sizeof(local) - 1] = '\0';
	memcpy(local + 60, "@long.example", 14);
	d = dev("n-long", local, "apns", apns, NULL, "s");
	round_trip(dc, &d, "60-byte local part");
	memset(local, 'l', sizeof(local) - 1);
	memcpy(local + 280, "@long.example", 14);
	d = dev("n-longer", local, "apns", apns, NULL, "s");
	round_trip(dc, &d, "280-byte local part (a three-byte length)");
	memset(local, 'T', sizeof(local) - 1);
	d = dev("n-longtok", "bob@example.com", "fcm", local, NULL, "s");
	round_trip(dc, &d, "299-character token");
	d = dev("n-domain", "example.net", "apns", apns, NULL, "s");
	round_trip(dc, &d, "owner without a local part");
	d = dev("n-nosecret", "erin@example.com", "apns", apns, NULL, NULL);
	round_trip(dc, &d, "no secret");
	d = dev("n-utf8", "\xc3\xa9lodie@\xc3\xa9xample.fr", "apns", apns,
	    NULL, "s");
	round_trip(dc, &d, "UTF-8 owner");
	devcache_stats_get(dc, &st);
	is_int(st.domains, 5, "domains interned once each");
	is_int(st.providers, 3, "providers interned once each");

	/* A record over 1 KB is not cached, and takes the old one along. */
	d = dev("n-big", "bob@example.com", "apns", apns, NULL, "s");
	put(dc, &d);
	d = dev("n-big", "bob@example.com", "fcm", local, local, "s");
	d.owner = "bob@example.com";
	ok(put(dc, &d), "two 299-byte tokens fit");
	{
		char *huge = xmalloc(2001);

		memset(huge, 'h', 2000);
		huge[2000] = '\0';
		d.token = huge;
		ok(!put(dc, &d) && get(dc, "n-big") == NULL,
		    "a 2000-byte token does not, and leaves nothing behind");
		free(huge);
	}

	/* Providers beyond the interned table are not cached at all. */
	for (i = 0; i < 260; i++) {
		snprintf(name, sizeof(name), "prov-%d", i);
		d = dev("n-prov", "frank@example.com", name, apns, NULL, "s");
		if (!put(dc, &d))
			break;
	}
	ok(i == 252, "provider table full after 255 (%d more)", i);
	ok(get(dc, "n-prov") == NULL, "... the refused one left "
	    "nothing behind, not even the earlier entry for its node");
	devcache_flush(dc);
	devcache_free(&dc);
	ok(dc == NULL, "devcache_free clears the pointer");

	/* Domains beyond the interned table: the owner is kept whole. */
	dc = devcache_new(DOMAINS + 200);
	for (i = 0; i < DOMAINS + 104; i++) {
		snprintf(name, sizeof(name), "u@d%d.example", i);
		snprintf(local, sizeof(local), "n%d", i);
		d = dev(local, name, "apns", apns, NULL, "s");
		put(dc, &d);
	}
	devcache_stats_get(dc, &st);
	is_int(st.domains, DOMAINS, "domain table bounded");
	is_int(st.entries, DOMAINS + 104, "... the rest cached all the same");
	snprintf(name, sizeof(name), "u@d%d.example", DOMAINS + 103);
	snprintf(local, sizeof(local), "n%d", DOMAINS + 103);
	d = dev(local, name, "apns", apns, NULL, "s");
	round_trip(dc, &d, "owner of an uninterned domain");
	devcache_free(&dc);
}

/*
 * A record replaced by a larger, then a smaller one: each read back
 * whole, the old record's bytes freed for the next of its size.
 */
static void
test_replace(void)
{
	struct devcache *dc = devcache_new(16);
	struct devcache_stats st, st0;
	struct tdev d;
	const char *apns = "00112233445566778899aabbccddeeff"
	    "00112233445566778899aabbccddeeff";
	char fcm[160];
	int i;

	for (i = 0; i < 152; i++)
		fcm[i] = "abcXYZ09-_"[i % 10];
	fcm[152] = '\0';
	fcm[16] = ':';
	d = dev("r", "small@example.com", "apns", apns, NULL, "s");
	round_trip(dc, &d, "small");
	devcache_stats_get(dc, &st0);
	d = dev("r", "a-much-longer-local-part@example.com", "fcm", fcm, apns,
	    "s2");
	round_trip(dc, &d, "replaced by a larger one");
	devcache_stats_get(dc, &st);
	ok(st.entries == 1 && st.record_bytes > st0.record_bytes &&
	    st.free_bytes == st0.record_bytes, "one entry; the small record "
	    "free (%zu bytes), the larger one in use (%zu)", st.free_bytes,
	    st.record_bytes);
	d = dev("r", "small@example.com", "apns", apns, NULL, NULL);
	round_trip(dc, &d, "replaced by a smaller one again");
	devcache_stats_get(dc, &st);
	ok(st.record_bytes == st0.record_bytes && st.arena_bytes ==
	    st0.record_bytes + st.free_bytes, "the small record's place "
	    "taken again: nothing new carved");
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
	int i, n, v;

	for (i = 0; i < 8; i++) {
		snprintf(node, sizeof(node), "e%d", i);
		d = dev(node, "a@example.com", "apns", "00", NULL, "s");
		put(dc, &d);
	}
	devcache_stats_get(dc, &st);
	is_int(st.entries, 8, "eight entries at cache-size 8");
	/*
	 * All eight were used (put) since the hand started: it clears them
	 * all, then evicts the first it meets again (in table order, which
	 * the cache's key decides).
	 */
	d = dev("e8", "a@example.com", "apns", "00", NULL, "s");
	put(dc, &d);
	devcache_stats_get(dc, &st);
	is_int(st.entries, 8, "a ninth evicts one");
	is_int(st.evictions, 1, "... counted");
	for (v = -1, n = 0, i = 0; i < 8; i++) {
		snprintf(node, sizeof(node), "e%d", i);
		if (!present(dc, node)) {
			v = i;
			n++;
		}
	}
	ok(n == 1 && present(dc, "e8"), "... one of the first eight (e%d), "
	    "not the new one", v);
	/*
	 * The hand cleared every bit on its way and the checks above set
	 * them again.  Start over the same way, but then use e0-e5 only:
	 * the next eviction must take e6 or e7 (whichever of them is still
	 * there and met first), never a used one.
	 */
	devcache_flush(dc);
	for (i = 0; i < 9; i++) {
		snprintf(node, sizeof(node), "e%d", i);
		d = dev(node, "a@example.com", "apns", "00", NULL, "s");
		put(dc, &d);
	}
	for (i = 0; i < 6; i++) {
		snprintf(node, sizeof(node), "e%d", i);
		devcache_find(dc, node);
	}
	d = dev("e9", "a@example.com", "apns", "00", NULL, "s");
	put(dc, &d);
	for (v = 0, n = 0, i = 0; i < 8; i++) {
		snprintf(node, sizeof(node), "e%d", i);
		if (present(dc, node))
			n++;
		else if (i < 6)
			v++;
	}
	ok(n == 6 && v <= 1 && present(dc, "e8") && present(dc, "e9"),
	    "CLOCK spares the entries used since the hand passed (%d of "
	    "e0-e7 left, %d used ones gone: the first eviction's)", n, v);
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
	ok(st.entries == 0 && st.mapped_bytes == 0 && !present(dc, "e1"),
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

/* xorshift64: the same registrations on every run. */
static uint64_t
rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void
rnd_chars(uint64_t *x, char *out, size_t n, const char *set)
{
	size_t i, k = strlen(set);

	for (i = 0; i < n; i++)
		out[i] = set[rnd(x) % k];
	out[n] = '\0';
}

/*
 * Registration i of issue 21's mix: local parts of 8-30 bytes, 3,000
 * domains, half FCM (140-165 characters, ':' after 11-22, then APA91b),
 * half APNs (64 hex) with a VoIP token for a third of them.
 */
static void
real_dev(uint64_t *x, int i, struct tdev *d, char *node, char *owner,
    char *token, char *voip)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t llen = 8 + rnd(x) % 23, tlen, c;

	sprintf(node, "real-%d", i);
	rnd_chars(x, owner, llen, "abcdefghijklmnopqrstuvwxyz0123456789.");
	sprintf(owner + llen, "@server%u.example", (unsigned)(rnd(x) % 3000));
	if (rnd(x) % 2 == 0) {
		tlen = 140 + rnd(x) % 26;
		c = 11 + rnd(x) % 12;
		rnd_chars(x, token, tlen, b64);
		memcpy(token + c, ":APA91b", 7);
		*d = dev(node, owner, "fcm", token, NULL, "secret");
		return;
	}
	rnd_chars(x, token, 64, "0123456789abcdef");
	*d = dev(node, owner, "apns", token, NULL, "secret");
	if (rnd(x) % 3 == 0) {
		rnd_chars(x, voip, 64, "0123456789abcdef");
		d->voip_token = voip;
	}
}

/*
 * Replaces and evictions at cache-size CHURN_MAX over CHURN_PUTS puts of
 * the real mix: every hit is exact, and the arena stops growing once
 * each size has seen its peak (what is left of the growth is each size's
 * peak creeping up: a few per cent here, less with more entries a size).
 */
static void
test_churn(void)
{
	struct devcache *dc = devcache_new(CHURN_MAX);
	struct devcache_stats st;
	const struct tdev *g;
	struct tdev d;
	char node[32], owner[64], token[200], voip[80];
	size_t warm = 0;
	uint64_t x = 99;
	int i, bad = 0;

	for (i = 0; i < CHURN_PUTS; i++) {
		real_dev(&x, i % (3 * CHURN_MAX), &d, node, owner, token, voip);
		if (!put(dc, &d) || (g = get(dc, node)) == NULL ||
		    !same_str(g->token, d.token) ||
		    !same_str(g->owner, d.owner) ||
		    !same_str(g->voip_token, d.voip_token))
			bad++;
		if (i == CHURN_PUTS / 2) {
			devcache_stats_get(dc, &st);
			warm = st.arena_bytes;
		}
	}
	devcache_stats_get(dc, &st);
	is_int(bad, 0, "%d puts of the real mix, each read back exact",
	    CHURN_PUTS);
	ok(st.entries == CHURN_MAX && st.evictions > 0, "full, evicting (%"
	    PRIu64 " evictions)", st.evictions);
	ok(st.arena_bytes <= warm + warm / 20, "arena flat under churn: "
	    "%zu bytes half-way, %zu at the end", warm, st.arena_bytes);
	ok(st.free_bytes <= st.record_bytes / 4, "freed records kept for "
	    "reuse: %zu bytes beside %zu in use", st.free_bytes,
	    st.record_bytes);
	ok(st.record_bytes + st.free_bytes <= st.arena_bytes,
	    "records and free ones within what was carved");
	devcache_flush(dc);
	devcache_stats_get(dc, &st);
	ok(st.entries == 0 && st.arena_bytes == 0 && st.mapped_bytes == 0 &&
	    st.record_bytes == 0 && st.free_bytes == 0,
	    "flush: empty, pages unmapped, counters back to 0");
	real_dev(&x, 1, &d, node, owner, token, voip);
	round_trip(dc, &d, "after a flush");
	devcache_free(&dc);
}

/* MANY cached, none verbatim, at most limit bytes each, table included. */
static void
size_check(struct devcache **dcp, const char *what, size_t limit)
{
	struct devcache_stats st;
	size_t each;

	devcache_stats_get(*dcp, &st);
	each = (st.arena_bytes + st.table_bytes) / MANY;
	ok(st.entries == MANY && st.raw_tokens == 0, "%s: %d registrations, "
	    "no token verbatim", what, MANY);
	ok(each <= limit, "%s: %zu bytes each, table included", what, each);
	diag("%d %s: records %zu + table %zu bytes = %.1f bytes each", MANY,
	    what, st.arena_bytes, st.table_bytes,
	    (double)(st.arena_bytes + st.table_bytes) / MANY);
	devcache_free(dcp);
}

static void
test_size(void)
{
	struct devcache *dc = devcache_new(MANY);
	struct tdev d;
	char node[40], owner[64], token[200], voip[80];
	uint64_t x = 21;
	int i;

	for (i = 0; i < MANY; i++) {
		snprintf(node, sizeof(node), "%032x", i);
		snprintf(owner, sizeof(owner), "u%d@localhost", i);
		snprintf(token, sizeof(token), "%064x", i * 7919);
		d = dev(node, owner, "bench", token, NULL, "secret");
		put(dc, &d);
	}
	size_check(&dc, "synthetic APNs", 80);

	dc = devcache_new(MANY);
	for (i = 0; i < MANY; i++) {
		real_dev(&x, i, &d, node, owner, token, voip);
		put(dc, &d);
	}
	size_check(&dc, "real mix (issue 21: 150)", 150);
}

int
main(void)
{
	test_siphash();
	test_encodings();
	test_secret();
	test_eviction();
	test_replace();
	test_churn();
	stress(STRESS_NODES + 96, "no evictions");
	stress(STRESS_NODES / 8, "cache-size 500");
	stress(1, "cache-size 1");
	test_size();
	return tap_done();
}
