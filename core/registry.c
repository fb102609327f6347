/*
 * The registry (see registry.h): node -> push target, with the node
 * cache, its coherence rules, the publisher and secret checks and the
 * last_push write policy in one place.
 *
 * The hot path is a cache hit: one hash of the node (devcache_find), the
 * entry decoded into a buffer on this call's stack, the publisher's JID
 * compared with the owner's, the presented secret hashed and compared,
 * and the answer given before registry_lookup() returns.  A miss costs
 * one allocation (the lookup waiting for the database, with its strings)
 * and a share of one statement: the misses of one event-loop turn wait in
 * a batch that goes out as one SELECT ... WHERE node = ANY($1) when the
 * turn's I/O callbacks are done (an event made active then runs after
 * them, in the same turn: no added latency), or at once when it holds
 * REGISTRY_LOOKUP_BATCH_MAX.  A cold cache used to pay one round trip
 * per publish; now it pays one per turn.
 *
 * last_push: a device pushed to many times a second would otherwise write
 * its row as often.  The registry writes it at most once every
 * REGISTRY_MARK_EVERY seconds per cached device (the cache remembers when),
 * and sends the writes in batches of up to REGISTRY_MARK_BATCH_MAX nodes
 * per UPDATE, at the latest REGISTRY_MARK_BATCH_SECONDS after the first.
 */
#include "config.h"

#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "core/devcache.h"
#include "core/fpush.h"
#include "core/log.h"
#include "core/registry.h"
#include "core/store.h"
#include "core/xmalloc.h"
#include "xml/jid.h"

#define REGISTRY_MARK_BATCH_MAX		1000	/* nodes per last_push UPDATE */
#define REGISTRY_MARK_BATCH_SECONDS	1	/* at the latest, then sent */
/* Room on the stack for a decoded cache entry; a larger one is malloc'd. */
#define REGISTRY_DECODE_BYTES		512

struct registry;

/* A lookup of a registered row waiting for the database. */
struct lookup {
	registry_cb		*cb;
	void			*arg;
	bool			 cacheable;	/* its result may fill the cache */
	bool			 p2;		/* for the p2 source */
	char			*node;		/* these point after the struct */
	char			*from;
	char			*secret;	/* NULL if none */
};

/*
 * The lookups of one statement: first filling (the registry's open
 * batch), then in flight until the store answers.
 */
struct batch {
	TAILQ_ENTRY(batch)	 entry;
	struct registry		*r;		/* NULL: the registry is gone */
	size_t			 n;
	struct lookup		*lookups[REGISTRY_LOOKUP_BATCH_MAX];
};
TAILQ_HEAD(batchq, batch);

/*
 * A source of push targets.  claims: whether the query's node is this
 * source's (NULL: every node), asked during registry_lookup() (the
 * publish-options are readable then); lookup answers through cb exactly
 * once.  A fallback source is asked only after the source that claimed
 * the node first answered REGISTRY_UNKNOWN; its lookup then gets the
 * node and publisher without the options (its claims saw them).
 */
struct source {
	const char	*name;
	bool		(*claims)(const struct registry *,
			    const struct registry_query *);
	void		(*lookup)(struct registry *, const struct registry_query *,
			    registry_cb *, void *);
	bool		 fallback;
};

/* A lookup waiting for its first source before a fallback is asked. */
struct fallback {
	struct registry		*r;
	size_t			 source;	/* the fallback's index */
	registry_cb		*cb;
	void			*arg;
	char			*node;		/* these point after the struct */
	char			*from;
};

struct registry {
	struct event_base		*base;
	struct store			*store;
	struct store_cache_counters	*counters;
	struct devcache			*cache;		/* NULL: cache-size 0 */
	bool				 require_secret;
	time_t				(*now)(void);
	struct batch			*open;		/* filling; NULL: none */
	struct event			*ev_batch;	/* sends it */
	struct batchq			 inflight;
	char				**marks;	/* nodes to mark */
	size_t				 nmarks;
	struct event			*ev_marks;
	struct registry_stats		 stats;
};

static void	rows_lookup(struct registry *, const struct registry_query *,
		    registry_cb *, void *);
static bool	p2_claims(const struct registry *,
		    const struct registry_query *);
static void	p2_lookup(struct registry *, const struct registry_query *,
		    registry_cb *, void *);
static bool	fpush_source_claims(const struct registry *,
		    const struct registry_query *);
static bool	fpush_source_claims_default(const struct registry *,
		    const struct registry_query *);
static void	fpush_source_lookup(struct registry *,
		    const struct registry_query *, registry_cb *, void *);

/*
 * Tried in order; the first that claims the node answers, then the first
 * fallback after it that claims the node if that answer was UNKNOWN.
 */
static const struct source sources[] = {
	{ "p2", p2_claims, p2_lookup, false },
	{ "fpush", fpush_source_claims, fpush_source_lookup, false },
	{ "registered", NULL, rows_lookup, false },
	{ "fpush-default", fpush_source_claims_default, fpush_source_lookup,
	  true },
};

/*
 * Checks shared by every source.
 */

/* from is the owner's domain (no local part, no resource) or bare JID. */
static bool
from_authorized(const char *from, const char *owner)
{
	struct jid *f, *o;
	bool ok = false;

	if (from == NULL || (f = jid_parse(from, NULL)) == NULL)
		return false;
	if ((o = jid_parse(owner, NULL)) == NULL) {
		jid_free(&f);
		return false;
	}
	if (jid_resource(f) == NULL) {
		if (jid_local(f) == NULL)
			ok = strcmp(jid_domain(f), jid_domain(o)) == 0;
		else
			ok = strcmp(jid_bare(f), jid_bare(o)) == 0;
	}
	jid_free(&f);
	jid_free(&o);
	return ok;
}

/* Whether presented is secret, in a time that depends on the lengths only. */
static bool
secret_equal(const char *secret, const char *presented)
{
	size_t la, lb, i;
	unsigned char diff;

	if (secret == NULL || presented == NULL)
		return false;
	la = strlen(presented);
	lb = strlen(secret);
	diff = la != lb;
	for (i = 0; i < la && i < lb; i++)
		diff |= (unsigned char)(presented[i] ^ secret[i]);
	return diff == 0;
}

/*
 * The publisher and secret checks of a registered row: NULL if the
 * publish may go, else the reason.  secret_ok says whether the presented
 * secret (if any) matched.
 */
static const char *
rows_refusal(const struct registry *r, const char *node, const char *from,
    const char *owner, const char *presented, bool secret_ok)
{
	if (!from_authorized(from, owner)) {
		log_info("publish: %s may not publish to node %s of %s",
		    from != NULL ? from : "(nobody)", node, owner);
		return "only the owner's server may publish to this node";
	}
	if ((presented != NULL && !secret_ok) ||
	    (presented == NULL && r->require_secret)) {
		log_info("publish: %s secret for node %s from %s",
		    presented ? "wrong" : "missing", node, from);
		/* from is not NULL: from_authorized() accepted it. */
		return presented ? "wrong secret" :
		    "this service requires the publish-options secret";
	}
	return NULL;
}

/*
 * p2's rules (p2 PushController.pubsubHandler): the secret always, and
 * the publisher the owner's server or account or, for a group chat
 * registration, the group chat's service or room.
 */
static const char *
p2_refusal(const char *node, const char *from, const char *owner,
    const char *muc, const char *presented, bool secret_ok)
{
	if (!from_authorized(from, owner) &&
	    (muc == NULL || !from_authorized(from, muc))) {
		log_info("publish: %s may not publish to p2 node %s of %s",
		    from != NULL ? from : "(nobody)", node, owner);
		return "only the owner's server may publish to this node";
	}
	if (!secret_ok) {
		log_info("publish: %s secret for p2 node %s from %s",
		    presented ? "wrong" : "missing", node, from);
		return presented ? "wrong secret" :
		    "this node requires the publish-options secret";
	}
	return NULL;
}

/*
 * A p2 entry keeps its fingerprints and group chat in the cache entry's
 * second-token field, which a p2 registration has no use for: "device
 * TAB channel TAB muc".  Only the p2 source reads entries of p2 nodes.
 */
static char *
p2_pack(const struct store_device *d)
{
	char *s;

	xasprintf(&s, "%s\t%s\t%s", d->p2_device, d->p2_channel != NULL ?
	    d->p2_channel : "", d->p2_muc != NULL ? d->p2_muc : "");
	return s;
}

/* Splits a packed entry in place: device, channel and muc (NULL: none). */
static void
p2_unpack(char *packed, const char **device_r, const char **channel_r,
    const char **muc_r)
{
	char *t1, *t2;

	*device_r = packed;
	*channel_r = NULL;
	*muc_r = NULL;
	if ((t1 = strchr(packed, '\t')) == NULL)
		return;
	*t1++ = '\0';
	if ((t2 = strchr(t1, '\t')) != NULL) {
		*t2++ = '\0';
		if (*t2 != '\0')
			*muc_r = t2;
	}
	if (*t1 != '\0')
		*channel_r = t1;
}

/*
 * The cache.
 */

static void
cache_count(struct registry *r)
{
	struct devcache_stats st;

	devcache_stats_get(r->cache, &st);
	r->counters->evictions = st.evictions;
	r->counters->entries = st.entries;
}

static void
cache_put(struct registry *r, const struct store_device *d)
{
	struct devcache_entry e;
	char *packed = NULL;

	e.owner = d->owner;
	e.provider = d->provider;
	e.token = d->token;
	e.voip_token = d->voip_token;
	if (d->p2_device != NULL)
		e.voip_token = packed = p2_pack(d);
	e.secret = d->secret;
	e.last_push = d->last_push;
	if (!devcache_put(r->cache, d->node, &e))
		log_debug("device %s not cached: too large", d->node);
	free(packed);
	cache_count(r);
}

/*
 * A lookup of node (NULL: any) still in flight may carry data older than
 * an invalidation that just arrived: its result must not fill the cache.
 */
static void
batch_uncache(struct batch *b, const char *node)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		if (node == NULL || strcmp(b->lookups[i]->node, node) == 0)
			b->lookups[i]->cacheable = false;
}

static void
uncache_inflight(struct registry *r, const char *node)
{
	struct batch *b;

	if (r->open != NULL)
		batch_uncache(r->open, node);
	TAILQ_FOREACH(b, &r->inflight, entry)
		batch_uncache(b, node);
}

static void
cache_drop(struct registry *r, const char *node)
{
	if (r->cache != NULL && devcache_drop(r->cache, node))
		r->counters->entries--;
	uncache_inflight(r, node);
}

static void
registry_change_cb(void *arg, enum store_change what, const char *node)
{
	struct registry *r = arg;

	switch (what) {
	case STORE_CHANGED_NODE:
		cache_drop(r, node);
		break;
	case STORE_CHANGED_ALL:
		log_debug("registry: every registration may have changed; "
		    "dropping the cache");
		if (r->cache != NULL) {
			devcache_flush(r->cache);
			r->counters->entries = 0;
		}
		uncache_inflight(r, NULL);
		break;
	case STORE_CHANGES_UNSEEN:
		uncache_inflight(r, NULL);
		break;
	}
}

/*
 * The registered-rows source.
 */

static void
rows_answer_cached(struct registry *r, const struct registry_query *q,
    const struct devcache_item *it, bool p2, registry_cb *cb, void *arg)
{
	char stack[REGISTRY_DECODE_BYTES], *buf = stack;
	struct devcache_entry e;
	struct push_target t;
	const char *why, *muc;
	size_t need;
	bool secret_ok;

	need = devcache_item_decode(r->cache, it, &e, buf, sizeof(stack));
	if (need > sizeof(stack)) {
		buf = xmalloc(need);
		devcache_item_decode(r->cache, it, &e, buf, need);
	}
	secret_ok = q->secret != NULL &&
	    devcache_item_secret_ok(r->cache, it, q->secret);
	memset(&t, 0, sizeof(t));
	t.profile = XP_PROFILE_TIGASE;
	t.voip_token = e.voip_token;
	if (p2 && e.voip_token != NULL) {
		/* Decoded into buf: ours to split. */
		p2_unpack((char *)e.voip_token, &t.p2_account, &t.p2_channel,
		    &muc);
		t.profile = XP_PROFILE_P2;
		t.voip_token = NULL;
		why = p2_refusal(q->node, q->from, e.owner, muc, q->secret,
		    secret_ok);
	} else
		why = rows_refusal(r, q->node, q->from, e.owner, q->secret,
		    secret_ok);
	if (p2 && e.voip_token == NULL)		/* not a p2 row: cannot be */
		cb(arg, REGISTRY_UNKNOWN, NULL, "no such node");
	else if (why != NULL)
		cb(arg, REGISTRY_FORBIDDEN, NULL, why);
	else {
		t.node = q->node;
		t.owner = e.owner;
		t.provider = e.provider;
		t.token = e.token;
		t.stored = true;
		cb(arg, REGISTRY_FOUND, &t, NULL);
	}
	if (buf != stack)
		free(buf);
}

/* Answers l from its row d, or UNKNOWN when d is NULL. */
static void
rows_answer(struct registry *r, struct lookup *l,
    const struct store_device *d)
{
	struct push_target t;
	const char *why;

	if (d == NULL) {
		log_debug("publish: unknown node %s from %s", l->node, l->from);
		l->cb(l->arg, REGISTRY_UNKNOWN, NULL, "no such node");
		return;
	}
	if (l->p2 != (d->p2_device != NULL)) {
		/* A node of one source in the other's rows. */
		l->cb(l->arg, REGISTRY_UNKNOWN, NULL, "no such node");
		return;
	}
	if (l->p2)
		why = p2_refusal(l->node, l->from, d->owner, d->p2_muc,
		    l->secret, secret_equal(d->secret, l->secret));
	else
		why = rows_refusal(r, l->node, l->from, d->owner, l->secret,
		    secret_equal(d->secret, l->secret));
	if (why != NULL) {
		l->cb(l->arg, REGISTRY_FORBIDDEN, NULL, why);
		return;
	}
	memset(&t, 0, sizeof(t));
	t.node = d->node;
	t.owner = d->owner;
	t.provider = d->provider;
	t.token = d->token;
	t.voip_token = d->voip_token;
	t.stored = true;
	t.profile = XP_PROFILE_TIGASE;
	if (l->p2) {
		t.profile = XP_PROFILE_P2;
		t.p2_account = d->p2_device;
		t.p2_channel = d->p2_channel != NULL &&
		    *d->p2_channel != '\0' ? d->p2_channel : NULL;
	}
	l->cb(l->arg, REGISTRY_FOUND, &t, NULL);
}

static int
device_cmp(const void *a, const void *b)
{
	const struct store_device *const *da = a, *const *db = b;

	return strcmp((*da)->node, (*db)->node);
}

/* The row of node among rows[0..n), sorted by node, or NULL. */
static const struct store_device *
row_find(const struct store_device **rows, size_t n, const char *node)
{
	struct store_device key, *kp = &key;
	const struct store_device **d;

	key.node = (char *)node;
	d = bsearch(&kp, rows, n, sizeof(*rows), device_cmp);
	return d != NULL ? *d : NULL;
}

/* Every lookup of b is answered UNAVAILABLE for reason; b is freed. */
static void
batch_unavailable(struct batch *b, const char *reason)
{
	struct lookup *l;
	size_t i;

	for (i = 0; i < b->n; i++) {
		l = b->lookups[i];
		l->cb(l->arg, REGISTRY_UNAVAILABLE, NULL, reason);
		free(l);
	}
	free(b);
}

/*
 * The rows of a batch came back (st == STORE_OK: one per node that
 * exists): every lookup is answered from them, in the order the lookups
 * came, several lookups of one node from its one row.
 */
static void
rows_batch_cb(void *arg, enum store_status st, const struct store_device *v,
    size_t n, const char *msg)
{
	struct batch *b = arg;
	struct registry *r = b->r;
	const struct store_device **rows = NULL, *d;
	struct lookup *l;
	size_t i;

	if (r == NULL) {
		batch_unavailable(b, "the registry is shutting down");
		return;
	}
	TAILQ_REMOVE(&r->inflight, b, entry);
	if (st != STORE_OK) {
		log_warnx("publish: look-up of %zu node%s failed: %s", b->n,
		    b->n == 1 ? "" : "s", msg ? msg : store_status_str(st));
		batch_unavailable(b,
		    "the registration database cannot be reached now");
		return;
	}
	rows = xcalloc(n > 0 ? n : 1, sizeof(*rows));
	for (i = 0; i < n; i++)
		rows[i] = &v[i];
	qsort(rows, n, sizeof(*rows), device_cmp);
	/* Cached before anyone is answered: a callback may look up again. */
	for (i = 0; i < b->n; i++) {
		l = b->lookups[i];
		if (l->cacheable && r->cache != NULL &&
		    store_listening(r->store) &&
		    (d = row_find(rows, n, l->node)) != NULL)
			cache_put(r, d);
	}
	for (i = 0; i < b->n; i++) {
		l = b->lookups[i];
		rows_answer(r, l, row_find(rows, n, l->node));
		free(l);
	}
	free(rows);
	free(b);
}

static int
node_cmp(const void *a, const void *b)
{
	const char *const *na = a, *const *nb = b;

	return strcmp(*na, *nb);
}

/* Sends the open batch: its nodes, each once. */
static void
batch_send(struct registry *r)
{
	struct batch *b = r->open;
	const char **nodes;
	size_t i, n = 0;

	if (b == NULL)
		return;
	r->open = NULL;
	event_del(r->ev_batch);
	nodes = xcalloc(b->n, sizeof(*nodes));
	for (i = 0; i < b->n; i++)
		nodes[i] = b->lookups[i]->node;
	qsort(nodes, b->n, sizeof(*nodes), node_cmp);
	for (i = 0; i < b->n; i++)
		if (n == 0 || strcmp(nodes[n - 1], nodes[i]) != 0)
			nodes[n++] = nodes[i];
	TAILQ_INSERT_TAIL(&r->inflight, b, entry);
	r->stats.lookup_batches++;
	store_device_lookup_many(r->store, nodes, n, rows_batch_cb, b);
	free(nodes);
}

static void
registry_batch_cb(evutil_socket_t fd, short events, void *arg)
{
	batch_send(arg);
}

/* l waits in the open batch, which goes out at the end of this turn. */
static void
batch_add(struct registry *r, struct lookup *l)
{
	if (r->open == NULL) {
		r->open = xcalloc(1, sizeof(*r->open));
		r->open->r = r;
		event_active(r->ev_batch, EV_TIMEOUT, 1);
	}
	r->open->lookups[r->open->n++] = l;
	if (r->open->n == REGISTRY_LOOKUP_BATCH_MAX)
		batch_send(r);
}

/* The lookup and its strings in one allocation. */
static struct lookup *
lookup_new(struct registry *r, const struct registry_query *q,
    registry_cb *cb, void *arg)
{
	const char *from = q->from != NULL ? q->from : "";
	size_t nlen = strlen(q->node) + 1, flen = strlen(from) + 1;
	size_t slen = q->secret != NULL ? strlen(q->secret) + 1 : 0;
	struct lookup *l;
	char *p;

	l = xcalloc(1, sizeof(*l) + nlen + flen + slen);
	p = (char *)(l + 1);
	l->node = memcpy(p, q->node, nlen);
	l->from = memcpy(p + nlen, from, flen);
	if (q->secret != NULL)
		l->secret = memcpy(p + nlen + flen, q->secret, slen);
	l->cb = cb;
	l->arg = arg;
	return l;
}

static void
rows_lookup_in(struct registry *r, const struct registry_query *q, bool p2,
    registry_cb *cb, void *arg)
{
	struct devcache_item *it;
	struct lookup *l;

	if (r->cache != NULL && (it = devcache_find(r->cache, q->node)) !=
	    NULL) {
		r->counters->hits++;
		rows_answer_cached(r, q, it, p2, cb, arg);
		return;
	}
	/* The one place a miss is counted: the database is asked next. */
	r->counters->misses++;
	l = lookup_new(r, q, cb, arg);
	l->p2 = p2;
	/* A lookup sent while changes go unheard must not fill the cache. */
	l->cacheable = store_listening(r->store);
	batch_add(r, l);
}

static void
rows_lookup(struct registry *r, const struct registry_query *q,
    registry_cb *cb, void *arg)
{
	rows_lookup_in(r, q, false, cb, arg);
}

/*
 * The p2 source: the rows of p2 registrations, by their node's prefix.
 */

static bool
p2_claims(const struct registry *r, const struct registry_query *q)
{
	return strncmp(q->node, STORE_P2_NODE_PREFIX,
	    sizeof(STORE_P2_NODE_PREFIX) - 1) == 0;
}

static void
p2_lookup(struct registry *r, const struct registry_query *q,
    registry_cb *cb, void *arg)
{
	rows_lookup_in(r, q, true, cb, arg);
}

/*
 * The fpush sources (core/fpush.c): registration-less, answered at once.
 */

static bool
fpush_source_claims(const struct registry *r, const struct registry_query *q)
{
	return fpush_claims_module(q);
}

static bool
fpush_source_claims_default(const struct registry *r,
    const struct registry_query *q)
{
	return fpush_claims_default(q);
}

static void
fpush_source_lookup(struct registry *r, const struct registry_query *q,
    registry_cb *cb, void *arg)
{
	fpush_lookup(q, cb, arg);
}

/*
 * last_push.
 */

static void
marks_flush(struct registry *r)
{
	size_t i;

	if (r->nmarks == 0)
		return;
	store_device_mark_pushed(r->store, (const char *const *)r->marks,
	    r->nmarks, NULL, NULL);
	for (i = 0; i < r->nmarks; i++)
		free(r->marks[i]);
	r->nmarks = 0;
	r->stats.mark_batches++;
	evtimer_del(r->ev_marks);
}

static void
registry_marks_cb(evutil_socket_t fd, short events, void *arg)
{
	marks_flush(arg);
}

static void
marks_add(struct registry *r, const char *node)
{
	struct timeval tv = { REGISTRY_MARK_BATCH_SECONDS, 0 };

	r->marks[r->nmarks++] = xstrdup(node);
	r->stats.marks++;
	if (r->nmarks >= REGISTRY_MARK_BATCH_MAX)
		marks_flush(r);
	else if (!evtimer_pending(r->ev_marks, NULL))
		evtimer_add(r->ev_marks, &tv);
}

static time_t
clock_now(void)
{
	return time(NULL);
}

/*
 * The registry.
 */

void
registry_conf_defaults(struct registry_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	conf->cache_size = 100000;
}

struct registry *
registry_new(struct event_base *base, struct store *store,
    const struct registry_conf *conf, char **error_r)
{
	struct registry *r;

	if (store == NULL) {
		*error_r = xstrdup("registry: no store");
		return NULL;
	}
	r = xcalloc(1, sizeof(*r));
	r->base = base;
	r->store = store;
	r->counters = store_cache_counters(store);
	memset(r->counters, 0, sizeof(*r->counters));
	if (conf->cache_size > 0)
		r->cache = devcache_new(conf->cache_size);
	r->require_secret = conf->require_secret;
	r->now = conf->now != NULL ? conf->now : clock_now;
	TAILQ_INIT(&r->inflight);
	if ((r->ev_batch = event_new(base, -1, 0, registry_batch_cb, r)) ==
	    NULL)
		fatalx("registry: event_new");
	r->marks = xcalloc(REGISTRY_MARK_BATCH_MAX, sizeof(*r->marks));
	if ((r->ev_marks = evtimer_new(base, registry_marks_cb, r)) == NULL)
		fatalx("registry: evtimer_new");
	store_on_device_change(store, registry_change_cb, r);
	return r;
}

void
registry_free(struct registry **rp)
{
	struct registry *r = *rp;
	struct batch *b;
	size_t i;

	if (r == NULL)
		return;
	*rp = NULL;
	/*
	 * Lookups still waiting are answered by the store, without us: the
	 * open batch goes out now so that they are among them.
	 */
	batch_send(r);
	while ((b = TAILQ_FIRST(&r->inflight)) != NULL) {
		TAILQ_REMOVE(&r->inflight, b, entry);
		b->r = NULL;
	}
	event_free(r->ev_batch);
	store_on_device_change(r->store, NULL, NULL);
	for (i = 0; i < r->nmarks; i++)
		free(r->marks[i]);
	free(r->marks);
	event_free(r->ev_marks);
	devcache_free(&r->cache);
	free(r);
}

void
registry_reconfigure(struct registry *r, const struct registry_conf *conf)
{
	r->require_secret = conf->require_secret;
}

void
registry_stats_get(const struct registry *r, struct registry_stats *st)
{
	*st = r->stats;
	st->marks_pending = r->nmarks;
}

#define NSOURCES	(sizeof(sources) / sizeof(sources[0]))

static bool
source_claims(const struct registry *r, size_t i,
    const struct registry_query *q)
{
	return sources[i].claims == NULL || sources[i].claims(r, q);
}

/* The first source claimed the node or not: ask the fallback if not. */
static void
fallback_cb(void *arg, enum registry_status st, const struct push_target *t,
    const char *reason)
{
	struct fallback *f = arg;
	struct registry_query q;

	if (st == REGISTRY_UNKNOWN) {
		memset(&q, 0, sizeof(q));
		q.node = f->node;
		q.from = *f->from != '\0' ? f->from : NULL;
		sources[f->source].lookup(f->r, &q, f->cb, f->arg);
	} else
		f->cb(f->arg, st, t, reason);
	free(f);
}

static struct fallback *
fallback_new(struct registry *r, size_t source,
    const struct registry_query *q, registry_cb *cb, void *arg)
{
	const char *from = q->from != NULL ? q->from : "";
	size_t nlen = strlen(q->node) + 1, flen = strlen(from) + 1;
	struct fallback *f;
	char *p;

	f = xcalloc(1, sizeof(*f) + nlen + flen);
	p = (char *)(f + 1);
	f->node = memcpy(p, q->node, nlen);
	f->from = memcpy(p + nlen, from, flen);
	f->r = r;
	f->source = source;
	f->cb = cb;
	f->arg = arg;
	return f;
}

void
registry_lookup(struct registry *r, const struct registry_query *q,
    registry_cb *cb, void *arg)
{
	size_t i, k;

	r->stats.lookups++;
	for (i = 0; i < NSOURCES; i++) {
		if (sources[i].fallback || !source_claims(r, i, q))
			continue;
		for (k = i + 1; k < NSOURCES; k++)
			if (sources[k].fallback && source_claims(r, k, q)) {
				sources[i].lookup(r, q, fallback_cb,
				    fallback_new(r, k, q, cb, arg));
				return;
			}
		sources[i].lookup(r, q, cb, arg);
		return;
	}
	cb(arg, REGISTRY_UNKNOWN, NULL, "no such node");
}

void
registry_pushed(struct registry *r, const struct push_target *t)
{
	struct devcache_item *it;
	time_t now;

	if (!t->stored)
		return;
	now = r->now();
	if (r->cache != NULL && (it = devcache_find(r->cache, t->node)) !=
	    NULL) {
		if (now - devcache_item_last_push(it) < REGISTRY_MARK_EVERY)
			return;
		devcache_item_set_last_push(it, now);
	}
	marks_add(r, t->node);
}

void
registry_failed(struct registry *r, const struct push_target *t,
    const char *reason)
{
	if (t->stored)
		store_device_mark_error(r->store, t->node, reason, NULL, NULL);
}

struct forget_done {
	store_done_cb	*cb;
	void		*arg;
};

static void
forget_done_cb(evutil_socket_t fd, short events, void *arg)
{
	struct forget_done *fd_ = arg;

	fd_->cb(fd_->arg, STORE_OK, NULL);
	free(fd_);
}

/* Nothing is kept for a target without a row: done, from the loop. */
static void
forget_nothing(struct registry *r, store_done_cb *cb, void *arg)
{
	struct forget_done *fd_;

	if (cb == NULL)
		return;
	fd_ = xcalloc(1, sizeof(*fd_));
	fd_->cb = cb;
	fd_->arg = arg;
	if (event_base_once(r->base, -1, EV_TIMEOUT, forget_done_cb, fd_,
	    NULL) == -1)
		fatalx("registry: event_base_once");
}

void
registry_forget(struct registry *r, const struct push_target *t,
    const char *why, store_done_cb *cb, void *arg)
{
	log_debug("registry: forgetting node %s: %s", t->node, why);
	if (!t->stored) {
		forget_nothing(r, cb, arg);
		return;
	}
	/* Gone from the cache now: a publish next asks the database. */
	cache_drop(r, t->node);
	store_device_delete(r->store, t->node, cb, arg);
}

void
registry_forget_voip(struct registry *r, const struct push_target *t,
    const char *why, store_done_cb *cb, void *arg)
{
	log_debug("registry: forgetting the VoIP token of node %s: %s",
	    t->node, why);
	if (!t->stored || t->voip_token == NULL) {
		forget_nothing(r, cb, arg);
		return;
	}
	/* The next publish reads the row again, without the VoIP token. */
	cache_drop(r, t->node);
	store_device_forget_voip(r->store, t->node, t->voip_token, cb, arg);
}

void
registry_flush_marks(struct registry *r)
{
	marks_flush(r);
}

bool
registry_cached(struct registry *r, const char *node)
{
	return r->cache != NULL && devcache_find(r->cache, node) != NULL;
}
