/*
 * The publish pipeline (XEP-0357 §5, DESIGN "Publish rules"): every pubsub
 * publish becomes one job, and a job is an explicit state machine.
 *
 *   publish_cb -> LOOKUP -+-> REMOVING -------------------------> finish
 *                         +-> THROTTLED --(due)--> SENDING
 *                         |       '--(replaced)-------------------> finish
 *                         +-> SENDING -+-> RETRY_WAIT -> SENDING
 *                         |            |       '--(deadline)------> finish
 *                         |            '--(provider answers)------> finish
 *                         '--(unknown, forbidden, malformed ...)--> finish
 *
 *   LOOKUP      registry_lookup() in flight: node -> push target, with the
 *               publisher and secret checks (a cached node answers at once).
 *   REMOVING    a Tigase account-removed event: the registration's DELETE
 *               is in flight.  Answered only once the row is gone, so that
 *               a publish after the answer misses.
 *   THROTTLED   held by core/throttle.c as the device's trailing push.  It
 *               was answered with a result when it was held (the device
 *               will be woken).  Leaves for SENDING when the push is due,
 *               or ends when a newer push (or a high one sent at once)
 *               takes its place.
 *   SENDING     the provider module holds it.  If the deadline passes
 *               first, the server gets wait/remote-server-timeout and the
 *               job stays here: the late answer still counts (an invalid
 *               token still deletes the registration).  A dead VoIP token
 *               is cleared and the job sends again, to the alert token.
 *
 * Dead tokens (XP_INVALID_TOKEN, job_dead_token()):
 *   - the VoIP (second) token: only it is cleared, and only if the row
 *     still holds it (registry_forget_voip); the registration and its
 *     alert token stay, and the call goes to the alert token at once;
 *   - the alert token: the registration is deleted, even when it has a
 *     live VoIP token (useless for messages; the log line says so), and
 *     the server gets cancel/item-not-found;
 *   - either way, if the provider's mass-deletion guard holds (too many
 *     invalid-token answers at once: a misconfiguration, core/guard.h,
 *     provider_deletion_allowed), nothing is deleted and the server gets
 *     wait/internal-server-error (OUTCOME_DELETION_HELD);
 *   - a target without a row (stored = false: fpush, core/fpush.c):
 *     nothing to delete, nothing held; the server gets
 *     cancel/policy-violation as fpush answers it (OUTCOME_TOKEN_DEAD),
 *     and the push went out through provider_send_unguarded(), so the
 *     guard never counted the answer as a deletion.
 * Each is counted by provider and reason (stats_dead_token, /metrics).
 *   RETRY_WAIT  a temporary provider failure; the retry timer runs.  The
 *               deadline ends the job.  Once publish_stop() was called no
 *               job enters this state.
 *
 * job_enter() is the one transition; job_finish(job, outcome) the one
 * exit: it answers the IQ if nobody has yet, and frees.  The IQ is answered
 * exactly once, through the outcome table (answer()), either at the finish
 * or earlier: when a push is held (a result) and when the deadline passes.
 *
 * Errors follow DESIGN's table.  Everything transient is answered with an
 * error of type `wait`: Prosody disables a registration after 16 errors of
 * other types and ejabberd after one, so a provider outage must not look
 * like a dead device.  Temporary provider failures are retried with
 * backoff inside `publish-deadline`.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/notif.h"
#include "core/provider.h"
#include "core/publish.h"
#include "core/router.h"
#include "core/stats.h"
#include "core/registry.h"
#include "core/store.h"
#include "core/throttle.h"
#include "core/xmalloc.h"
#include "xml/form.h"
#include "xml/jid.h"
#include "xml/mem.h"

#define NS_PUBSUB		"http://jabber.org/protocol/pubsub"

#define PUBLISH_RETRY_FIRST_MS	100
/*
 * A job's strings (node, the target and the push fields) go into one
 * arena: one allocation, recycled, instead of a dozen strdup and free
 * pairs per publish.
 */
#define PUBLISH_JOB_STRINGS	1024

enum job_state {
	JOB_LOOKUP,
	JOB_REMOVING,
	JOB_THROTTLED,
	JOB_SENDING,
	JOB_RETRY_WAIT,
};

/* How a publish ends; outcomes[] says how it is answered and counted. */
enum job_outcome {
	OUTCOME_OK,
	OUTCOME_COALESCED,		/* held, or replaced by a newer push */
	OUTCOME_UNKNOWN_NODE,
	OUTCOME_FORBIDDEN,		/* publisher or secret */
	OUTCOME_BAD_REQUEST,
	OUTCOME_PROVIDER_UNCONFIGURED,	/* the registration's block is gone */
	OUTCOME_PROVIDER_GONE,		/* reloaded away while the push waited */
	OUTCOME_INVALID_TOKEN,		/* the registration was removed */
	OUTCOME_DELETION_HELD,		/* invalid token, but the mass-
					   deletion guard keeps the row */
	OUTCOME_RATE_LIMITED,
	OUTCOME_TEMPORARY,		/* retried until the deadline, gave up */
	OUTCOME_REFUSED,		/* this push only: the device is fine */
	OUTCOME_AUTH_FAILED,		/* provider credentials or configuration */
	OUTCOME_DEADLINE,
	OUTCOME_PROVIDER_BUSY,		/* the module's queue is full */
	OUTCOME_TOO_BUSY,		/* max-in-flight reached */
	OUTCOME_DB_UNAVAILABLE,
	OUTCOME_REMOVAL_FAILED,		/* account removed, DELETE failed */
	OUTCOME_NODE_REFUSED,		/* a registration-less node the
					   dialect refuses */
	OUTCOME_TOKEN_DEAD,		/* invalid token of a target without
					   a row: nothing deleted */
};

/* type NULL: an IQ result.  text is the default; a job may give its own. */
static const struct outcome_answer {
	const char	*type, *cond, *text;
	enum stat_id	 stat;
} outcomes[] = {
	[OUTCOME_OK] = { NULL, NULL, NULL, STAT_PUBLISH_OK },
	[OUTCOME_COALESCED] = { NULL, NULL, NULL, STAT_PUBLISH_OK },
	[OUTCOME_UNKNOWN_NODE] = { "cancel", "item-not-found",
	    "no such node", STAT_PUBLISH_NOT_FOUND },
	[OUTCOME_FORBIDDEN] = { "auth", "forbidden",
	    "not authorized to publish to this node", STAT_PUBLISH_FORBIDDEN },
	[OUTCOME_BAD_REQUEST] = { "modify", "bad-request",
	    "a publish to a node is expected", STAT_PUBLISH_BAD_REQUEST },
	[OUTCOME_PROVIDER_UNCONFIGURED] = { "cancel", "item-not-found",
	    "the push provider of this registration is not configured",
	    STAT_PUBLISH_NOT_FOUND },
	[OUTCOME_PROVIDER_GONE] = { "cancel", "item-not-found",
	    "the push provider of this registration is no longer configured",
	    STAT_PUBLISH_NOT_FOUND },
	[OUTCOME_INVALID_TOKEN] = { "cancel", "item-not-found",
	    "the device token is no longer valid: the registration was "
	    "removed", STAT_PUBLISH_NOT_FOUND },
	[OUTCOME_DELETION_HELD] = { "wait", "internal-server-error",
	    "the push provider refused the device token, but it refuses "
	    "too many at once to be trusted: try again later",
	    STAT_PUBLISH_WAIT },
	[OUTCOME_RATE_LIMITED] = { "wait", "resource-constraint",
	    "the push provider rate-limits this device", STAT_PUBLISH_WAIT },
	[OUTCOME_TEMPORARY] = { "wait", "internal-server-error",
	    "the push provider is unavailable: try again later",
	    STAT_PUBLISH_WAIT },
	[OUTCOME_REFUSED] = { "wait", "internal-server-error",
	    "the push provider refused this notification", STAT_PUBLISH_WAIT },
	[OUTCOME_AUTH_FAILED] = { "wait", "internal-server-error",
	    "the push service is misconfigured: try again later",
	    STAT_PUBLISH_WAIT },
	[OUTCOME_DEADLINE] = { "wait", "remote-server-timeout",
	    "the push provider did not answer in time", STAT_PUBLISH_WAIT },
	[OUTCOME_PROVIDER_BUSY] = { "wait", "resource-constraint",
	    "the push provider's queue is full: try again later",
	    STAT_PUBLISH_WAIT },
	[OUTCOME_TOO_BUSY] = { "wait", "resource-constraint",
	    "too many notifications in flight: try again later",
	    STAT_PUBLISH_WAIT },
	[OUTCOME_DB_UNAVAILABLE] = { "wait", "internal-server-error",
	    "the registration database cannot be reached now",
	    STAT_PUBLISH_WAIT },
	[OUTCOME_REMOVAL_FAILED] = { "wait", "internal-server-error",
	    "the registration cannot be removed now: try again later",
	    STAT_PUBLISH_WAIT },
	/* fpush answers both with these conditions (handle_push_result). */
	[OUTCOME_NODE_REFUSED] = { "cancel", "bad-request",
	    "this node cannot be pushed to", STAT_PUBLISH_BAD_REQUEST },
	[OUTCOME_TOKEN_DEAD] = { "cancel", "policy-violation",
	    "the device token is no longer valid", STAT_PUBLISH_NOT_FOUND },
};

struct pjob {
	enum job_state		 state;
	struct router_req	*req;		/* NULL once answered */
	const char		*node;
	struct push_target	 t;		/* copied into strs */
	struct xml_arena	*strs;		/* the job's own strings */
	struct xp_push		 push;
	bool			 call;
	int			 attempts;
	uint64_t		 deadline;	/* ms, monotonic */
	struct event		*retry;
	struct event		*timeout;	/* after the job, once assigned */
	bool			 timeout_set;
};

static struct {
	struct event_base	*base;
	struct registry		*reg;
	long			 max_in_flight;
	uint64_t		 deadline_ms;
	long			 jobs;		/* live jobs */
	bool			 stopping;	/* no more retries */
} pb;

static void	job_enter(struct pjob *, enum job_state);

static void
publish_load_conf(const struct xp_conf *conf, struct throttle_conf *tc)
{
	pb.max_in_flight = (long)conf_int(conf, NULL, "max-in-flight");
	pb.deadline_ms = (uint64_t)conf_int(conf, NULL, "publish-deadline");
	throttle_conf_load(tc, conf);
}

void
publish_reconfigure(const struct xp_conf *conf)
{
	struct throttle_conf tc;

	publish_load_conf(conf, &tc);
	throttle_reconfigure(&tc);
}

size_t
publish_busy(void)
{
	return (size_t)pb.jobs;
}

/* The one place an outcome becomes an IQ answer and a statistic. */
static void
answer(struct router_req **req, enum job_outcome o, const char *text)
{
	const struct outcome_answer *a = &outcomes[o];

	stats_inc(a->stat);
	if (a->type == NULL)
		router_reply(req, NULL);
	else
		router_error(req, a->type, a->cond, text != NULL ? text :
		    a->text);
}

/* Jobs */

static struct pjob *
job_new(struct router_req *req)
{
	/* The deadline timer lives right after the job: no malloc of its own. */
	struct pjob *j = xcalloc(1, sizeof(*j) + event_get_struct_event_size());

	j->timeout = (struct event *)(j + 1);
	j->req = req;
	pb.jobs++;
	stats_in_flight(1);
	return j;
}

/* Answers now if nobody has; the job goes on. */
static void
job_answer(struct pjob *j, enum job_outcome o, const char *text)
{
	if (j->req != NULL)
		answer(&j->req, o, text);
}

/* The only exit of a job. */
static void
job_finish(struct pjob *j, enum job_outcome o, const char *text)
{
	job_answer(j, o, text);
	if (j->retry != NULL)
		event_free(j->retry);
	if (j->timeout_set)
		event_del(j->timeout);
	xml_arena_free(j->strs);
	free(j);
	pb.jobs--;
	stats_in_flight(-1);
}

static const char *
own(struct pjob *j, const char *s)
{
	if (s == NULL)
		return NULL;
	if (j->strs == NULL)
		j->strs = xml_arena_new(PUBLISH_JOB_STRINGS);
	return xml_arena_strdup(j->strs, s);
}

/* The target's owner for the log; a registration-less one has none. */
static const char *
who(const struct pjob *j)
{
	return j->t.owner != NULL ? j->t.owner : "a registration-less node";
}

/* Throttle: a held push is due, or was replaced. */

static void
job_due_cb(void *arg)
{
	struct pjob *j = arg;
	uint64_t now = clock_ms();

	log_debug("publish: trailing push for node %s", j->node);
	j->deadline = now + pb.deadline_ms;
	job_enter(j, JOB_SENDING);
}

static void
job_dropped_cb(void *arg)
{
	struct pjob *j = arg;

	job_finish(j, OUTCOME_COALESCED, NULL);
}

/* Provider outcomes */

/* The wait before the next attempt: doubled at each. */
static uint64_t
job_backoff(const struct pjob *j)
{
	return (uint64_t)PUBLISH_RETRY_FIRST_MS << j->attempts;
}

static bool
job_may_retry(const struct pjob *j, uint64_t now)
{
	/* Retry only when the attempt itself fits before the deadline. */
	return !pb.stopping && now + 2 * job_backoff(j) < j->deadline;
}

/*
 * The provider called the token dead.  The VoIP token: clear it alone and
 * ring the call on the alert token.  The alert token: delete the
 * registration, VoIP token or not (it cannot carry messages any more).
 * Unless the provider's mass-deletion guard holds: then nothing changes
 * and the server gets a wait error.
 */
static void
job_dead_token(struct pjob *j, const char *reason)
{
	struct provider *p = provider_find(j->t.provider);

	if (!j->t.stored) {
		log_info("publish: device token of node %s on %s is no longer "
		    "valid (%s): nothing stored, the server is told",
		    j->node, j->t.provider, reason);
		stats_dead_token(j->t.provider, STATS_DEAD_UNSTORED, reason);
		registry_failed(pb.reg, &j->t, reason);
		job_finish(j, OUTCOME_TOKEN_DEAD, NULL);
		return;
	}
	if (p != NULL && !provider_deletion_allowed(p)) {
		stats_dead_token(j->t.provider, STATS_DEAD_HELD, reason);
		registry_failed(pb.reg, &j->t, reason);
		job_finish(j, OUTCOME_DELETION_HELD, NULL);
		return;
	}
	if (j->push.voip) {
		log_info("publish: VoIP token of %s on %s is no longer valid "
		    "(%s): cleared from registration %s, its alert token "
		    "stays", who(j), j->t.provider, reason, j->node);
		stats_dead_token(j->t.provider, STATS_DEAD_VOIP_CLEARED,
		    reason);
		registry_forget_voip(pb.reg, &j->t, reason, NULL, NULL);
		j->t.voip_token = NULL;
		j->push.token = j->t.token;
		j->push.voip = false;
		job_enter(j, JOB_SENDING);
		return;
	}
	log_info("publish: device token of %s on %s is no longer valid (%s): "
	    "registration %s %s", who(j), j->t.provider, reason, j->node,
	    j->t.voip_token != NULL ? "had a VoIP token too: deleted" :
	    "deleted");
	stats_inc(STAT_REGISTRATIONS_REMOVED);
	stats_dead_token(j->t.provider, STATS_DEAD_DELETED, reason);
	registry_forget(pb.reg, &j->t, reason, NULL, NULL);
	job_finish(j, OUTCOME_INVALID_TOKEN, NULL);
}

static void
job_provider_answer(struct pjob *j, enum xp_outcome outcome,
    unsigned int retry_after, const char *reason)
{
	char text[256];

	switch (outcome) {
	case XP_SENT:
		registry_pushed(pb.reg, &j->t);
		job_finish(j, OUTCOME_OK, NULL);
		return;
	case XP_INVALID_TOKEN:
		job_dead_token(j, reason != NULL ? reason : "invalid token");
		return;
	case XP_RATE_LIMITED:
		snprintf(text, sizeof(text), "%s rate-limits this device%s",
		    j->t.provider, retry_after ? ": retry later" : "");
		registry_failed(pb.reg, &j->t, reason ? reason :
		    "rate limited");
		job_finish(j, OUTCOME_RATE_LIMITED, text);
		return;
	case XP_TEMPORARY:
		if (job_may_retry(j, clock_ms())) {
			log_debug("publish: %s temporary failure (%s), retry "
			    "in %llu ms", j->t.provider, reason ? reason : "",
			    (unsigned long long)job_backoff(j));
			job_enter(j, JOB_RETRY_WAIT);
			return;
		}
		log_warnx("publish: %s: %s, giving up after %d attempts",
		    j->t.provider, reason ? reason : "temporary failure",
		    j->attempts + 1);
		registry_failed(pb.reg, &j->t, reason ? reason :
		    "temporary failure");
		job_finish(j, OUTCOME_TEMPORARY, NULL);
		return;
	case XP_PERMANENT:
		log_warnx("publish: %s refused a push for %s: %s",
		    j->t.provider, who(j), reason ? reason : "");
		registry_failed(pb.reg, &j->t, reason ? reason : "refused");
		job_finish(j, OUTCOME_REFUSED, reason);
		return;
	case XP_AUTH_FAILED:
		registry_failed(pb.reg, &j->t, reason ? reason :
		    "provider authentication");
		job_finish(j, OUTCOME_AUTH_FAILED, NULL);
		return;
	}
}

static void
job_sent_cb(void *arg, enum xp_outcome outcome, unsigned int retry_after,
    const char *reason)
{
	struct pjob *j = arg;

	job_provider_answer(j, outcome, retry_after, reason);
}

static void
job_retry_cb(evutil_socket_t fd, short events, void *arg)
{
	struct pjob *j = arg;

	stats_inc(STAT_PUSH_RETRIED);
	job_enter(j, JOB_SENDING);
}

static void
job_timeout_cb(evutil_socket_t fd, short events, void *arg)
{
	struct pjob *j = arg;

	if (j->req == NULL)
		return;
	log_warnx("publish: %s did not answer within %llu ms for node %s",
	    j->t.provider, (unsigned long long)pb.deadline_ms, j->node);
	if (j->state == JOB_RETRY_WAIT)
		job_finish(j, OUTCOME_DEADLINE, NULL);
	else
		job_answer(j, OUTCOME_DEADLINE, NULL);
}

static void
job_removed_cb(void *arg, enum store_status st, const char *msg)
{
	struct pjob *j = arg;

	if (st == STORE_OK || st == STORE_NOTFOUND) {
		job_finish(j, OUTCOME_OK, NULL);
		return;
	}
	log_warnx("publish: cannot delete registration %s of a removed "
	    "account: %s", j->node, msg ? msg : store_status_str(st));
	job_finish(j, OUTCOME_REMOVAL_FAILED, NULL);
}

/* Transitions */

/* The publish-options secret, NULL if none was sent. */
static const char *
publish_secret(const struct xml_node *po)
{
	return form_node_value(po, "secret", NULL);
}

static void
job_send(struct pjob *j)
{
	struct provider *p;

	if ((p = provider_find(j->t.provider)) == NULL) {
		job_finish(j, OUTCOME_PROVIDER_GONE, NULL);
		return;
	}
	if (j->req != NULL && !j->timeout_set && pb.deadline_ms > 0) {
		evtimer_assign(j->timeout, pb.base, job_timeout_cb, j);
		j->timeout_set = true;
		clock_timer_in(j->timeout, pb.deadline_ms);
	}
	/* A target without a row deletes nothing: not the guard's business. */
	if ((j->t.stored ? provider_send(p, &j->push, job_sent_cb, j) :
	    provider_send_unguarded(p, &j->push, job_sent_cb, j)) == -1)
		job_finish(j, OUTCOME_PROVIDER_BUSY, NULL);
}

static void
job_retry_later(struct pjob *j)
{
	uint64_t backoff = job_backoff(j);

	j->attempts++;
	if (j->retry == NULL)
		j->retry = evtimer_new(pb.base, job_retry_cb, j);
	clock_timer_in(j->retry, backoff);
}

/* What the notification asks for: the push, its priority and kind. */
static void
job_push_fill(struct pjob *j, const struct notif *nf)
{
	struct jid *sj;

	notif_classify(nf, &j->push.prio, &j->push.kind, &j->call);
	j->push.profile = j->t.profile;
	j->push.account = j->t.owner;
	j->push.node = j->node;
	j->push.token = j->t.token;
	j->push.p2_account = j->t.p2_account;
	j->push.p2_channel = j->t.p2_channel;
	if (j->call && j->t.voip_token != NULL) {
		j->push.token = j->t.voip_token;
		j->push.voip = true;
		j->push.prio = XP_PRIO_HIGH;
	}
	if (nf->sender != NULL && (sj = jid_parse(nf->sender, NULL)) != NULL) {
		j->push.sender = own(j, jid_bare(sj));
		jid_free(&sj);
	} else
		j->push.sender = own(j, nf->sender);
	j->push.body = own(j, nf->body);
	j->push.nickname = own(j, nf->nickname);
	j->push.unread = nf->message_count;
	j->push.pending_subscriptions = nf->pending_subscriptions;
	j->push.encrypted = own(j, nf->encrypted);
	j->push.iv = own(j, nf->iv);
	j->push.encryption = own(j, nf->encryption_type);
	j->push.jingle_sid = own(j, nf->jingle_sid);
	j->push.jingle_media = own(j, nf->jingle_media);
}

/* LOOKUP found the target: on to REMOVING, THROTTLED or SENDING. */
static void
job_route(struct pjob *j, const struct push_target *t)
{
	const struct xml_node *pub, *item, *n;
	const char *err = NULL;
	struct notif nf;
	uint64_t now;

	pub = xml_node_child(j->req->payload, "publish", NS_PUBSUB);
	item = xml_node_child(pub, "item", NS_PUBSUB);
	n = item != NULL ? xml_node_child(item, "notification", NS_PUSH) :
	    NULL;
	if (notif_parse(n, &nf, &err) == -1) {
		job_finish(j, OUTCOME_BAD_REQUEST, err);
		return;
	}
	j->t.node = j->node;
	j->t.owner = own(j, t->owner);
	j->t.provider = own(j, t->provider);
	j->t.token = own(j, t->token);
	j->t.voip_token = own(j, t->voip_token);
	j->t.stored = t->stored;
	j->t.profile = t->profile;
	j->t.p2_account = own(j, t->p2_account);
	j->t.p2_channel = own(j, t->p2_channel);
	if (nf.account_removed && !j->t.stored) {
		/* Registration-less (fpush): nothing to remove. */
		job_finish(j, OUTCOME_OK, NULL);
		return;
	}
	if (nf.account_removed) {
		job_enter(j, JOB_REMOVING);
		return;
	}
	if (provider_find(j->t.provider) == NULL) {
		log_warnx("publish: node %s of %s uses provider '%s', which is "
		    "not configured (any more)", j->node, who(j),
		    j->t.provider);
		job_finish(j, OUTCOME_PROVIDER_UNCONFIGURED, NULL);
		return;
	}
	job_push_fill(j, &nf);

	/*
	 * The push holds copies of what it needs: the request keeps only
	 * what its answer needs while the provider works, not the whole
	 * publish tree.
	 */
	router_req_slim(j->req);
	now = clock_ms();
	j->deadline = now + pb.deadline_ms;
	/* Calls ring now: a call held for a minute is a missed call. */
	if (!j->call) {
		switch (throttle_admit(j->node, j->push.prio, j)) {
		case THROTTLE_ADMIT_HELD:
			job_enter(j, JOB_THROTTLED);
			return;
		case THROTTLE_ADMIT_DROPPED:
			stats_inc(STAT_PUSH_COALESCED);
			job_finish(j, OUTCOME_COALESCED, NULL);
			return;
		case THROTTLE_ADMIT_SEND:
			break;
		}
	}
	job_enter(j, JOB_SENDING);
}

static void
job_found_cb(void *arg, enum registry_status st, const struct push_target *t,
    const char *reason)
{
	struct pjob *j = arg;

	switch (st) {
	case REGISTRY_FOUND:
		job_route(j, t);
		return;
	case REGISTRY_UNKNOWN:
		log_debug("publish: unknown node %s from %s", j->node,
		    j->req->from);
		job_finish(j, OUTCOME_UNKNOWN_NODE, NULL);
		return;
	case REGISTRY_FORBIDDEN:
		job_finish(j, OUTCOME_FORBIDDEN, reason);
		return;
	case REGISTRY_UNAVAILABLE:
		log_warnx("publish: node look-up failed: %s", reason ? reason :
		    "database unavailable");
		job_finish(j, OUTCOME_DB_UNAVAILABLE, NULL);
		return;
	case REGISTRY_REFUSED:
		job_finish(j, OUTCOME_NODE_REFUSED, reason);
		return;
	}
}

static void
job_lookup(struct pjob *j)
{
	struct registry_query q;

	q.node = j->node;
	q.from = j->req->from;
	q.options = xml_node_child(j->req->payload, "publish-options",
	    NS_PUBSUB);
	q.secret = publish_secret(q.options);
	registry_lookup(pb.reg, &q, job_found_cb, j);
}

/*
 * The one transition: the state's entry action.  It may end the job, so
 * the caller touches j no more.
 */
static void
job_enter(struct pjob *j, enum job_state state)
{
	j->state = state;
	switch (state) {
	case JOB_LOOKUP:
		job_lookup(j);
		break;
	case JOB_REMOVING:
		log_info("publish: account %s was removed: deleting its "
		    "registration %s", who(j), j->node);
		stats_inc(STAT_REGISTRATIONS_REMOVED);
		stats_dead_token(j->t.provider, STATS_DEAD_DELETED,
		    "account removed");
		registry_forget(pb.reg, &j->t, "account removed",
		    job_removed_cb, j);
		break;
	case JOB_THROTTLED:
		stats_inc(STAT_PUSH_COALESCED);
		job_answer(j, OUTCOME_COALESCED, NULL);
		break;
	case JOB_SENDING:
		job_send(j);
		break;
	case JOB_RETRY_WAIT:
		job_retry_later(j);
		break;
	}
}

static void
publish_cb(void *arg, struct router_req *req)
{
	const struct xml_node *pub;
	const char *node;
	struct pjob *j;

	stats_inc(STAT_PUBLISH_RECEIVED);
	pub = xml_node_child(req->payload, "publish", NS_PUBSUB);
	if (pub == NULL || (node = xml_node_attr(pub, "node")) == NULL ||
	    *node == '\0') {
		answer(&req, OUTCOME_BAD_REQUEST, NULL);
		return;
	}
	if (pb.jobs >= pb.max_in_flight) {
		answer(&req, OUTCOME_TOO_BUSY, NULL);
		return;
	}
	j = job_new(req);
	j->node = own(j, node);
	job_enter(j, JOB_LOOKUP);
}

void
publish_init(struct event_base *base, struct registry *reg,
    const struct xp_conf *conf)
{
	struct throttle_conf tc;

	pb.base = base;
	pb.reg = reg;
	publish_load_conf(conf, &tc);
	throttle_init(base, &tc, job_due_cb, job_dropped_cb, NULL);
	router_register_iq("pubsub", NS_PUBSUB, true, publish_cb, NULL);
}

void
publish_stop(void)
{
	pb.stopping = true;
}

void
publish_shutdown(void)
{
	throttle_shutdown();
}

