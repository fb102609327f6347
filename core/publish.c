/*
 * The publish pipeline (XEP-0357 §5, DESIGN "Publish rules"):
 *
 *   pubsub publish -> node look-up (cache, then database) -> authorize
 *   (from = owner's domain or bare JID; publish-options secret) -> read
 *   the notification -> priority -> per-device throttle -> provider send
 *   -> IQ result, or an error a server understands.
 *
 * Errors follow DESIGN's table.  Everything transient is answered with an
 * error of type `wait`: Prosody disables a registration after 16 errors of
 * other types and ejabberd after one, so a provider outage must not look
 * like a dead device.  Temporary provider failures are retried with
 * backoff inside `publish-deadline`; if the provider has not answered by
 * then the server gets wait/remote-server-timeout, and the late answer
 * still counts (an invalid token still deletes the registration).
 *
 * Throttling: low-priority pushes go out at most once per
 * `low-priority-window` per device, with one trailing push carrying the
 * latest notification; high-priority pushes pass a token bucket
 * (`high-priority-burst`, refilled at `high-priority-rate` per minute),
 * and beyond it coalesce the same way.  Coalesced publishes are answered
 * with a normal result: the device will be woken.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "core/log.h"
#include "core/priority.h"
#include "core/provider.h"
#include "core/publish.h"
#include "core/router.h"
#include "core/stats.h"
#include "core/store.h"
#include "core/xmalloc.h"
#include "xml/form.h"
#include "xml/jid.h"
#include "xml/mem.h"

#define NS_PUBSUB		"http://jabber.org/protocol/pubsub"
#define NS_PUBLISH_OPTIONS	"http://jabber.org/protocol/pubsub#publish-options"

#define PUBLISH_RETRY_FIRST_MS	100
#define PUBLISH_THROTTLE_BUCKETS 65536	/* hash buckets, a power of two */
#define PUBLISH_THROTTLE_IDLE_MS (15 * 60 * 1000)	/* at the most */
#define PUBLISH_SWEEP_PERIOD_MS	1000	/* every throttle state looked at */
#define PUBLISH_SWEEP_TICK_MS	100	/* a slice of the table per tick */
#define PUBLISH_MARK_PUSH_EVERY	300	/* seconds between last_push writes */
/*
 * A job's strings (node, owner, provider, token and the push fields) go
 * into one arena: one allocation, recycled, instead of a dozen strdup and
 * free pairs per publish.
 */
#define PUBLISH_JOB_STRINGS	1024

struct dstate;

struct pjob {
	struct router_req	*req;		/* NULL once answered or held */
	struct dstate		*held_by;	/* a coalesced (trailing) push */
	char			*node, *owner, *provider;
	struct xml_arena	*strs;		/* the job's own strings */
	struct xp_push		 push;
	bool			 call;
	int			 attempts;
	bool			 busy;		/* the provider holds it */
	uint64_t		 started, deadline;	/* ms, monotonic */
	struct event		*retry;
	struct event		*timeout;	/* after the job, once assigned */
	bool			 timeout_set;
};

struct dstate {
	char			*node;
	struct throttle_state	 ts;
	struct pjob		*held;		/* latest coalesced push */
	struct event		*trailing;
	uint64_t		 last_used;
	struct dstate		*next;
};

static struct {
	struct event_base	*base;
	struct store		*store;
	bool			 require_secret;
	long			 max_in_flight;
	uint64_t		 deadline_ms;
	struct throttle_conf	 tc;
	long			 jobs;		/* live jobs */
	struct dstate		*buckets[PUBLISH_THROTTLE_BUCKETS];
	size_t			 ndstates;
	struct event		*sweep;
	size_t			 sweep_next;	/* next bucket to sweep */
	bool			 stopping;	/* no more retries */
} pb;

static void	job_send(struct pjob *);

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint32_t
hash_str(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s != '\0')
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

static void
publish_load_conf(const struct xp_conf *conf)
{
	pb.require_secret = conf_bool(conf, NULL, "require-secret");
	pb.max_in_flight = (long)conf_int(conf, NULL, "max-in-flight");
	pb.deadline_ms = (uint64_t)conf_int(conf, NULL, "publish-deadline");
	pb.tc.low_window_ms = (uint64_t)conf_int(conf, NULL,
	    "low-priority-window") * 1000;
	pb.tc.high_burst = (double)conf_int(conf, NULL, "high-priority-burst");
	pb.tc.high_per_ms = (double)conf_int(conf, NULL,
	    "high-priority-rate") / 60000.0;
}

void
publish_reconfigure(const struct xp_conf *conf)
{
	publish_load_conf(conf);
}

size_t
publish_busy(void)
{
	return (size_t)pb.jobs;
}

/* Jobs */

static struct pjob *
job_new(void)
{
	/* The deadline timer lives right after the job: no malloc of its own. */
	struct pjob *j = xcalloc(1, sizeof(*j) + event_get_struct_event_size());

	j->timeout = (struct event *)(j + 1);
	pb.jobs++;
	stats_in_flight(1);
	return j;
}

static void
job_free(struct pjob *j)
{
	router_req_free(&j->req);
	if (j->retry != NULL)
		event_free(j->retry);
	if (j->timeout_set)
		event_del(j->timeout);
	xml_arena_free(j->strs);
	free(j);
	pb.jobs--;
	stats_in_flight(-1);
}

/* Frees the job once it is answered and the provider has let it go. */
static void
job_maybe_free(struct pjob *j)
{
	if (j->req == NULL && !j->busy && j->held_by == NULL &&
	    (j->retry == NULL || !evtimer_pending(j->retry, NULL)))
		job_free(j);
}

static void
job_ok(struct pjob *j)
{
	if (j->req == NULL)
		return;
	stats_inc(STAT_PUBLISH_OK);
	router_reply(&j->req, NULL);
}

static void
job_error(struct pjob *j, const char *type, const char *cond,
    const char *text)
{
	if (j->req == NULL)
		return;
	if (strcmp(type, "wait") == 0)
		stats_inc(STAT_PUBLISH_WAIT);
	else if (strcmp(cond, "item-not-found") == 0)
		stats_inc(STAT_PUBLISH_NOT_FOUND);
	else if (strcmp(cond, "forbidden") == 0)
		stats_inc(STAT_PUBLISH_FORBIDDEN);
	else if (strcmp(cond, "bad-request") == 0)
		stats_inc(STAT_PUBLISH_BAD_REQUEST);
	else
		stats_inc(STAT_PUBLISH_FAILED);
	router_error(&j->req, type, cond, text);
}

static char *
own(struct pjob *j, const char *s)
{
	if (s == NULL)
		return NULL;
	if (j->strs == NULL)
		j->strs = xml_arena_new(PUBLISH_JOB_STRINGS);
	return xml_arena_strdup(j->strs, s);
}

/* Throttle states */

static struct dstate *
dstate_get(const char *node, bool create)
{
	uint32_t h = hash_str(node) & (PUBLISH_THROTTLE_BUCKETS - 1);
	struct dstate *d;

	for (d = pb.buckets[h]; d != NULL; d = d->next)
		if (strcmp(d->node, node) == 0)
			return d;
	if (!create)
		return NULL;
	d = xcalloc(1, sizeof(*d));
	d->node = xstrdup(node);
	d->next = pb.buckets[h];
	pb.buckets[h] = d;
	pb.ndstates++;
	return d;
}

static void
dstate_free(struct dstate *d)
{
	if (d->trailing != NULL)
		event_free(d->trailing);
	if (d->held != NULL) {
		d->held->held_by = NULL;
		job_maybe_free(d->held);
	}
	free(d->node);
	free(d);
	pb.ndstates--;
}

/*
 * Forgets idle throttle states.  A slice of the table per second, so that
 * a million states never cost one long callback (a latency spike).
 */
static void
publish_sweep_cb(evutil_socket_t fd, short events, void *arg)
{
	struct timeval tv = { 0, PUBLISH_SWEEP_TICK_MS * 1000 };
	uint64_t now = now_ms();
	struct dstate **dp, *d;
	size_t i, n;

	/*
	 * A state that throttles nothing any more (no low push inside the
	 * window, a full bucket) is the same as no state: forget it within
	 * a sweep period, not a minute later.  Each tick walks a slice of
	 * the table so that no callback walks all of it.  At 15,000 pushes/s
	 * sweeping once a minute kept some 440,000 dead states (63 MB).
	 */
	n = PUBLISH_THROTTLE_BUCKETS / (PUBLISH_SWEEP_PERIOD_MS /
	    PUBLISH_SWEEP_TICK_MS) + 1;
	for (i = 0; i < n; i++, pb.sweep_next++) {
		dp = &pb.buckets[pb.sweep_next % PUBLISH_THROTTLE_BUCKETS];
		while ((d = *dp) != NULL) {
			if (d->held == NULL && (throttle_idle(&d->ts, &pb.tc,
			    now) || now - d->last_used >
			    PUBLISH_THROTTLE_IDLE_MS)) {
				*dp = d->next;
				dstate_free(d);
				continue;
			}
			dp = &d->next;
		}
	}
	evtimer_add(pb.sweep, &tv);
}

/* The trailing push of a device: the latest coalesced notification. */
static void
publish_trailing_cb(evutil_socket_t fd, short events, void *arg)
{
	struct dstate *d = arg;
	struct pjob *j = d->held;
	uint64_t when, now = now_ms();
	struct timeval tv;

	if (j == NULL)
		return;
	if (throttle_check(&d->ts, &pb.tc, j->push.prio, now, &when) ==
	    THROTTLE_COALESCE) {
		tv.tv_sec = (time_t)((when - now) / 1000);
		tv.tv_usec = (suseconds_t)((when - now) % 1000) * 1000;
		evtimer_add(d->trailing, &tv);
		return;
	}
	d->held = NULL;
	j->held_by = NULL;
	d->last_used = now;
	log_debug("publish: trailing push for node %s", j->node);
	j->started = now;
	j->deadline = now + pb.deadline_ms;
	job_send(j);
}

/* Holds j as the device's trailing push (replacing an older one). */
static void
job_hold(struct pjob *j, struct dstate *d, uint64_t when)
{
	uint64_t now = now_ms();
	struct timeval tv;

	stats_inc(STAT_PUSH_COALESCED);
	job_ok(j);
	if (d->held != NULL) {
		/* A high push waiting keeps its priority over a low one. */
		if (d->held->push.prio == XP_PRIO_HIGH &&
		    j->push.prio == XP_PRIO_LOW) {
			job_maybe_free(j);
			return;
		}
		d->held->held_by = NULL;
		job_maybe_free(d->held);
	}
	d->held = j;
	j->held_by = d;
	if (d->trailing == NULL)
		d->trailing = evtimer_new(pb.base, publish_trailing_cb, d);
	if (!evtimer_pending(d->trailing, NULL)) {
		tv.tv_sec = (time_t)((when - now) / 1000);
		tv.tv_usec = (suseconds_t)((when - now) % 1000) * 1000;
		evtimer_add(d->trailing, &tv);
	}
}

/* Provider outcomes */

static void
job_mark_error(struct pjob *j, const char *reason)
{
	store_device_mark_error(pb.store, j->node, reason, NULL, NULL);
}

static void
job_delete_registration(struct pjob *j, const char *why)
{
	log_info("publish: %s token of %s on %s is no longer valid (%s): "
	    "registration %s deleted", j->push.voip ? "VoIP" : "device",
	    j->owner, j->provider, why, j->node);
	stats_inc(STAT_REGISTRATIONS_REMOVED);
	store_device_delete(pb.store, j->node, NULL, NULL);
}

static void
job_removed_cb(void *arg, enum store_status st, const char *msg)
{
	struct pjob *j = arg;

	j->busy = false;
	if (st == STORE_OK || st == STORE_NOTFOUND)
		job_ok(j);
	else {
		log_warnx("publish: cannot delete registration %s of a removed "
		    "account: %s", j->node, msg ? msg : store_status_str(st));
		job_error(j, "wait", "internal-server-error", "the "
		    "registration cannot be removed now: try again later");
	}
	job_maybe_free(j);
}

static void
job_retry_cb(evutil_socket_t fd, short events, void *arg)
{
	struct pjob *j = arg;

	stats_inc(STAT_PUSH_RETRIED);
	job_send(j);
}

static void
job_sent_cb(void *arg, enum xp_outcome outcome, unsigned int retry_after,
    const char *reason)
{
	struct pjob *j = arg;
	uint64_t now = now_ms(), backoff;
	time_t last;
	struct timeval tv;
	char text[256];

	j->busy = false;
	switch (outcome) {
	case XP_SENT:
		job_ok(j);
		/* The entry was decoded once, in job_start: just the time. */
		if (!store_cache_last_push(pb.store, j->node, &last) ||
		    time(NULL) - last >= PUBLISH_MARK_PUSH_EVERY)
			store_device_mark_push(pb.store, j->node, NULL, NULL);
		break;
	case XP_INVALID_TOKEN:
		job_delete_registration(j, reason ? reason : "invalid token");
		job_error(j, "cancel", "item-not-found", "the device token is "
		    "no longer valid: the registration was removed");
		break;
	case XP_RATE_LIMITED:
		snprintf(text, sizeof(text), "%s rate-limits this device%s",
		    j->provider, retry_after ? ": retry later" : "");
		job_mark_error(j, reason ? reason : "rate limited");
		job_error(j, "wait", "resource-constraint", text);
		break;
	case XP_TEMPORARY:
		backoff = (uint64_t)PUBLISH_RETRY_FIRST_MS << j->attempts;
		/* Retry only when the attempt itself fits before the deadline. */
		if (!pb.stopping && now + 2 * backoff < j->deadline) {
			log_debug("publish: %s temporary failure (%s), retry "
			    "in %llu ms", j->provider, reason ? reason : "",
			    (unsigned long long)backoff);
			j->attempts++;
			if (j->retry == NULL)
				j->retry = evtimer_new(pb.base, job_retry_cb,
				    j);
			tv.tv_sec = (time_t)(backoff / 1000);
			tv.tv_usec = (suseconds_t)(backoff % 1000) * 1000;
			evtimer_add(j->retry, &tv);
			return;
		}
		log_warnx("publish: %s: %s, giving up after %d attempts",
		    j->provider, reason ? reason : "temporary failure",
		    j->attempts + 1);
		job_mark_error(j, reason ? reason : "temporary failure");
		job_error(j, "wait", "internal-server-error",
		    "the push provider is unavailable: try again later");
		break;
	case XP_PERMANENT:
		/*
		 * This one notification cannot be delivered (too large, a
		 * field the provider refuses): the device is fine, so the
		 * error is of type wait and no server disables it for this.
		 */
		log_warnx("publish: %s refused a push for %s: %s",
		    j->provider, j->owner, reason ? reason : "");
		job_mark_error(j, reason ? reason : "refused");
		job_error(j, "wait", "internal-server-error", reason ? reason :
		    "the push provider refused this notification");
		break;
	case XP_AUTH_FAILED:
		job_mark_error(j, reason ? reason : "provider authentication");
		job_error(j, "wait", "internal-server-error",
		    "the push service is misconfigured: try again later");
		break;
	}
	job_maybe_free(j);
}

static void
job_timeout_cb(evutil_socket_t fd, short events, void *arg)
{
	struct pjob *j = arg;

	if (j->req == NULL)
		return;
	log_warnx("publish: %s did not answer within %llu ms for node %s",
	    j->provider, (unsigned long long)pb.deadline_ms, j->node);
	job_error(j, "wait", "remote-server-timeout",
	    "the push provider did not answer in time");
	if (j->retry != NULL)
		evtimer_del(j->retry);
	job_maybe_free(j);
}

static void
job_send(struct pjob *j)
{
	struct provider *p = provider_find(j->provider);
	struct timeval tv;

	if (p == NULL) {
		/* Reloaded away while this push waited. */
		job_error(j, "cancel", "item-not-found", "the push provider "
		    "of this registration is no longer configured");
		job_maybe_free(j);
		return;
	}
	if (j->req != NULL && !j->timeout_set && pb.deadline_ms > 0) {
		evtimer_assign(j->timeout, pb.base, job_timeout_cb, j);
		j->timeout_set = true;
		tv.tv_sec = (time_t)(pb.deadline_ms / 1000);
		tv.tv_usec = (suseconds_t)(pb.deadline_ms % 1000) * 1000;
		evtimer_add(j->timeout, &tv);
	}
	j->busy = true;
	if (provider_send(p, &j->push, job_sent_cb, j) == -1) {
		j->busy = false;
		job_error(j, "wait", "resource-constraint",
		    "the push provider's queue is full: try again later");
		job_maybe_free(j);
	}
}

/* From publish to provider */

static bool
from_authorized(const char *from, const char *owner)
{
	struct jid *f, *o;
	bool ok = false;

	if ((f = jid_parse(from, NULL)) == NULL)
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

/* The publish-options secret, NULL if none was sent. */
static const char *
publish_secret(const struct xml_node *pubsub)
{
	const struct xml_node *po, *x, *f;
	const char *var;

	if ((po = xml_node_child(pubsub, "publish-options", NS_PUBSUB)) ==
	    NULL)
		return NULL;
	if ((x = xml_node_child(po, "x", FORM_NS)) == NULL)
		return NULL;
	for (f = xml_node_child(x, "field", FORM_NS); f != NULL;
	    f = xml_node_next(f, "field", FORM_NS)) {
		var = xml_node_attr(f, "var");
		if (var != NULL && strcmp(var, "secret") == 0)
			return xml_node_child_text(f, "value", FORM_NS);
	}
	return NULL;
}

static void
job_start(struct pjob *j, const struct store_device *dev)
{
	const struct xml_node *pubsub = j->req->payload, *pub, *item, *n;
	const char *secret, *err = NULL;
	struct provider *p;
	struct notif nf;
	struct dstate *d;
	struct jid *sj;
	uint64_t when, now;

	if (!from_authorized(j->req->from, dev->owner)) {
		log_info("publish: %s may not publish to node %s of %s",
		    j->req->from, j->node, dev->owner);
		job_error(j, "auth", "forbidden", "only the owner's server may "
		    "publish to this node");
		goto done;
	}
	secret = publish_secret(pubsub);
	if ((secret != NULL && !store_device_secret_ok(pb.store, dev,
	    secret)) ||
	    (secret == NULL && pb.require_secret)) {
		log_info("publish: %s secret for node %s from %s",
		    secret ? "wrong" : "missing", j->node, j->req->from);
		job_error(j, "auth", "forbidden", secret ? "wrong secret" :
		    "this service requires the publish-options secret");
		goto done;
	}
	pub = xml_node_child(pubsub, "publish", NS_PUBSUB);
	item = xml_node_child(pub, "item", NS_PUBSUB);
	n = item != NULL ? xml_node_child(item, "notification", NS_PUSH) :
	    NULL;
	if (notif_parse(n, &nf, &err) == -1) {
		job_error(j, "modify", "bad-request", err);
		goto done;
	}
	j->owner = own(j, dev->owner);
	j->provider = own(j, dev->provider);
	if (nf.account_removed) {
		log_info("publish: account %s was removed: deleting its "
		    "registration %s", dev->owner, j->node);
		stats_inc(STAT_REGISTRATIONS_REMOVED);
		/* Answered once the row is gone: a publish after it misses. */
		j->busy = true;
		store_device_delete(pb.store, j->node, job_removed_cb, j);
		return;
	}
	if ((p = provider_find(dev->provider)) == NULL) {
		log_warnx("publish: node %s of %s uses provider '%s', which is "
		    "not configured (any more)", j->node, dev->owner,
		    dev->provider);
		job_error(j, "cancel", "item-not-found", "the push provider "
		    "of this registration is not configured");
		goto done;
	}
	notif_classify(&nf, &j->push.prio, &j->push.kind, &j->call);
	j->push.account = j->owner;
	j->push.node = j->node;
	j->push.token = own(j, dev->token);
	if (j->call && dev->voip_token != NULL) {
		j->push.token = own(j, dev->voip_token);
		j->push.voip = true;
		j->push.prio = XP_PRIO_HIGH;
	}
	if (nf.sender != NULL && (sj = jid_parse(nf.sender, NULL)) != NULL) {
		j->push.sender = own(j, jid_bare(sj));
		jid_free(&sj);
	} else
		j->push.sender = own(j, nf.sender);
	j->push.body = own(j, nf.body);
	j->push.nickname = own(j, nf.nickname);
	j->push.unread = nf.message_count;
	j->push.pending_subscriptions = nf.pending_subscriptions;
	j->push.encrypted = own(j, nf.encrypted);
	j->push.iv = own(j, nf.iv);
	j->push.encryption = own(j, nf.encryption_type);
	j->push.jingle_sid = own(j, nf.jingle_sid);
	j->push.jingle_media = own(j, nf.jingle_media);

	/*
	 * The push holds copies of what it needs: the request keeps only
	 * what its answer needs while the provider works (a publish tree is
	 * about 4.4 kB in an 8 kB arena; 2,000 in flight held 16 MB).
	 */
	router_req_slim(j->req);
	now = now_ms();
	j->started = now;
	j->deadline = now + pb.deadline_ms;
	/* Calls ring now: a call held for a minute is a missed call. */
	if (!j->call) {
		d = dstate_get(j->node, true);
		d->last_used = now;
		if (throttle_check(&d->ts, &pb.tc, j->push.prio, now, &when) ==
		    THROTTLE_COALESCE) {
			job_hold(j, d, when);
			return;
		}
		/* A high push now also delivers a waiting low one. */
		if (j->push.prio == XP_PRIO_HIGH && d->held != NULL &&
		    d->held->push.prio == XP_PRIO_LOW) {
			struct pjob *old = d->held;

			d->held = NULL;
			old->held_by = NULL;
			evtimer_del(d->trailing);
			job_maybe_free(old);
		}
	}
	job_send(j);
	return;
done:
	job_maybe_free(j);
}

static void
publish_lookup_cb(void *arg, enum store_status st,
    const struct store_device *dev, const char *msg)
{
	struct pjob *j = arg;

	switch (st) {
	case STORE_OK:
		job_start(j, dev);
		return;
	case STORE_NOTFOUND:
		log_debug("publish: unknown node %s from %s", j->node,
		    j->req->from);
		job_error(j, "cancel", "item-not-found", "no such node");
		break;
	default:
		log_warnx("publish: node look-up failed: %s",
		    msg ? msg : store_status_str(st));
		job_error(j, "wait", "internal-server-error",
		    "the registration database cannot be reached now");
		break;
	}
	job_maybe_free(j);
}

static void
publish_cb(void *arg, struct router_req *req)
{
	const struct xml_node *pub;
	const struct store_device *dev;
	const char *node;
	struct pjob *j;

	stats_inc(STAT_PUBLISH_RECEIVED);
	pub = xml_node_child(req->payload, "publish", NS_PUBSUB);
	if (pub == NULL || (node = xml_node_attr(pub, "node")) == NULL ||
	    *node == '\0') {
		stats_inc(STAT_PUBLISH_BAD_REQUEST);
		router_error(&req, "modify", "bad-request",
		    "a publish to a node is expected");
		return;
	}
	if (pb.jobs >= pb.max_in_flight) {
		stats_inc(STAT_PUBLISH_WAIT);
		router_error(&req, "wait", "resource-constraint",
		    "too many notifications in flight: try again later");
		return;
	}
	j = job_new();
	j->req = req;
	j->node = own(j, node);
	if ((dev = store_cache_get(pb.store, node)) != NULL) {
		job_start(j, dev);
		return;
	}
	store_device_lookup(pb.store, node, publish_lookup_cb, j);
}

void
publish_init(struct event_base *base, struct store *store,
    const struct xp_conf *conf)
{
	struct timeval tv = { 1, 0 };

	pb.base = base;
	pb.store = store;
	publish_load_conf(conf);
	router_register_iq("pubsub", NS_PUBSUB, true, publish_cb, NULL);
	pb.sweep = evtimer_new(base, publish_sweep_cb, NULL);
	evtimer_add(pb.sweep, &tv);
}

void
publish_stop(void)
{
	pb.stopping = true;
}

void
publish_shutdown(void)
{
	struct dstate *d;
	size_t i;

	for (i = 0; i < PUBLISH_THROTTLE_BUCKETS; i++)
		while ((d = pb.buckets[i]) != NULL) {
			pb.buckets[i] = d->next;
			dstate_free(d);
		}
	if (pb.sweep != NULL)
		event_free(pb.sweep);
	pb.sweep = NULL;
}
