/*
 * Per-device throttling: the arithmetic (a low window and a token bucket)
 * and the table of device states with their trailing pushes.
 *
 * The table is a fixed array of hash buckets keyed by node.  A state that
 * throttles nothing any more (no low push inside the window, a full bucket)
 * is the same as no state, so the sweep forgets it within a sweep period
 * rather than keeping it until an idle timeout: at a high push rate the
 * dead states would otherwise hold a lot of memory.  The sweep walks a
 * slice of the table per tick so that a million states never cost one long
 * callback (a latency spike).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "core/clock.h"
#include "core/options.h"
#include "core/throttle.h"
#include "core/xmalloc.h"

#define THROTTLE_BUCKETS	65536	/* hash buckets, a power of two */
#define THROTTLE_IDLE_MS	(15 * 60 * 1000)	/* at the most */
#define THROTTLE_SWEEP_PERIOD_MS 1000	/* every state looked at */
#define THROTTLE_SWEEP_TICK_MS	100	/* a slice of the table per tick */

struct dstate {
	char			*node;
	struct throttle_state	 ts;
	void			*held;		/* the trailing push */
	enum xp_prio		 held_prio;
	throttle_push_cb	*held_due, *held_drop;	/* its owner's */
	struct event		*trailing;
	uint64_t		 last_used;
	struct dstate		*next;
};

static struct {
	struct event_base	*base;
	struct throttle_conf	 tc;
	throttle_push_cb	*due, *drop;
	uint64_t		(*now)(void);
	struct dstate		*buckets[THROTTLE_BUCKETS];
	size_t			 nstates;
	struct event		*sweep;
	size_t			 sweep_next;	/* next bucket to sweep */
} tt;

enum throttle_verdict
throttle_check(struct throttle_state *ts, const struct throttle_conf *tc,
    enum xp_prio prio, uint64_t now, uint64_t *when_r)
{
	double need;

	if (!ts->primed) {
		ts->tokens = tc->high_burst;
		ts->refilled = now;
		ts->primed = true;
	}
	if (prio == XP_PRIO_LOW) {
		if (!ts->low_sent_once || now >= ts->low_last +
		    tc->low_window_ms) {
			ts->low_last = now;
			ts->low_sent_once = true;
			return THROTTLE_SEND;
		}
		*when_r = ts->low_last + tc->low_window_ms;
		return THROTTLE_COALESCE;
	}
	if (now > ts->refilled) {
		ts->tokens += (double)(now - ts->refilled) * tc->high_per_ms;
		if (ts->tokens > tc->high_burst)
			ts->tokens = tc->high_burst;
		ts->refilled = now;
	}
	if (ts->tokens >= 1.0) {
		ts->tokens -= 1.0;
		return THROTTLE_SEND;
	}
	need = (1.0 - ts->tokens) / tc->high_per_ms;
	*when_r = now + (uint64_t)need + 1;
	return THROTTLE_COALESCE;
}

bool
throttle_idle(const struct throttle_state *ts, const struct throttle_conf *tc,
    uint64_t now)
{
	double tokens;

	if (!ts->primed)
		return !ts->low_sent_once || now >= ts->low_last +
		    tc->low_window_ms;
	if (ts->low_sent_once && now < ts->low_last + tc->low_window_ms)
		return false;
	tokens = ts->tokens;
	if (now > ts->refilled)
		tokens += (double)(now - ts->refilled) * tc->high_per_ms;
	return tokens >= tc->high_burst;
}

void
throttle_conf_load(struct throttle_conf *tc, const struct xp_conf *conf)
{
	tc->low_window_ms = (uint64_t)conf_int(conf, NULL,
	    "low-priority-window") * 1000;
	tc->high_burst = (double)conf_int(conf, NULL, "high-priority-burst");
	tc->high_per_ms = (double)conf_int(conf, NULL,
	    "high-priority-rate") / 60000.0;
}

/* The table */

static uint32_t
hash_str(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s != '\0')
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

static struct dstate *
dstate_get(const char *node)
{
	uint32_t h = hash_str(node) & (THROTTLE_BUCKETS - 1);
	struct dstate *d;

	for (d = tt.buckets[h]; d != NULL; d = d->next)
		if (strcmp(d->node, node) == 0)
			return d;
	d = xcalloc(1, sizeof(*d));
	d->node = xstrdup(node);
	d->next = tt.buckets[h];
	tt.buckets[h] = d;
	tt.nstates++;
	return d;
}

/* Gives the held push back through drop(). */
static void
dstate_release(struct dstate *d)
{
	void *push = d->held;

	d->held = NULL;
	if (push != NULL)
		d->held_drop(push);
}

static void
dstate_free(struct dstate *d)
{
	dstate_release(d);
	if (d->trailing != NULL)
		event_free(d->trailing);
	free(d->node);
	free(d);
	tt.nstates--;
}

static void
throttle_sweep_cb(evutil_socket_t fd, short events, void *arg)
{
	uint64_t now = tt.now();
	struct dstate **dp, *d;
	size_t i, n;

	n = THROTTLE_BUCKETS / (THROTTLE_SWEEP_PERIOD_MS /
	    THROTTLE_SWEEP_TICK_MS) + 1;
	for (i = 0; i < n; i++, tt.sweep_next++) {
		dp = &tt.buckets[tt.sweep_next % THROTTLE_BUCKETS];
		while ((d = *dp) != NULL) {
			if (d->held == NULL && (throttle_idle(&d->ts, &tt.tc,
			    now) || now - d->last_used > THROTTLE_IDLE_MS)) {
				*dp = d->next;
				dstate_free(d);
				continue;
			}
			dp = &d->next;
		}
	}
	clock_timer_in(tt.sweep, THROTTLE_SWEEP_TICK_MS);
}

/* The trailing push of a device: the latest held notification. */
static void
throttle_trailing_cb(evutil_socket_t fd, short events, void *arg)
{
	struct dstate *d = arg;
	uint64_t when, now = tt.now();
	void *push = d->held;

	if (push == NULL)
		return;
	if (throttle_check(&d->ts, &tt.tc, d->held_prio, now, &when) ==
	    THROTTLE_COALESCE) {
		clock_timer_in(d->trailing, when - now);
		return;
	}
	d->held = NULL;
	d->last_used = now;
	d->held_due(push);
}

static void
dstate_hold(struct dstate *d, void *push, enum xp_prio prio,
    throttle_push_cb *due, throttle_push_cb *drop, uint64_t when,
    uint64_t now)
{
	dstate_release(d);
	d->held = push;
	d->held_prio = prio;
	d->held_due = due;
	d->held_drop = drop;
	if (d->trailing == NULL)
		d->trailing = evtimer_new(tt.base, throttle_trailing_cb, d);
	if (!evtimer_pending(d->trailing, NULL))
		clock_timer_in(d->trailing, when - now);
}

enum throttle_admit
throttle_admit(const char *node, enum xp_prio prio, void *push)
{
	return throttle_admit_cb(node, prio, push, tt.due, tt.drop);
}

enum throttle_admit
throttle_admit_cb(const char *node, enum xp_prio prio, void *push,
    throttle_push_cb *due, throttle_push_cb *drop)
{
	struct dstate *d = dstate_get(node);
	uint64_t when, now = tt.now();

	d->last_used = now;
	if (throttle_check(&d->ts, &tt.tc, prio, now, &when) ==
	    THROTTLE_COALESCE) {
		/* A high push waiting keeps its priority over a low one. */
		if (d->held != NULL && d->held_prio == XP_PRIO_HIGH &&
		    prio == XP_PRIO_LOW)
			return THROTTLE_ADMIT_DROPPED;
		dstate_hold(d, push, prio, due, drop, when, now);
		return THROTTLE_ADMIT_HELD;
	}
	/* A high push now also delivers a waiting low one. */
	if (prio == XP_PRIO_HIGH && d->held != NULL &&
	    d->held_prio == XP_PRIO_LOW) {
		evtimer_del(d->trailing);
		dstate_release(d);
	}
	return THROTTLE_ADMIT_SEND;
}

size_t
throttle_states(void)
{
	return tt.nstates;
}

void
throttle_init(struct event_base *base, const struct throttle_conf *tc,
    throttle_push_cb *due, throttle_push_cb *drop, uint64_t (*now)(void))
{
	tt.base = base;
	tt.tc = *tc;
	tt.due = due;
	tt.drop = drop;
	tt.now = now != NULL ? now : clock_ms;
	tt.sweep = evtimer_new(base, throttle_sweep_cb, NULL);
	clock_timer_in(tt.sweep, THROTTLE_SWEEP_PERIOD_MS);
}

void
throttle_reconfigure(const struct throttle_conf *tc)
{
	tt.tc = *tc;
}

void
throttle_shutdown(void)
{
	struct dstate *d;
	size_t i;

	for (i = 0; i < THROTTLE_BUCKETS; i++)
		while ((d = tt.buckets[i]) != NULL) {
			tt.buckets[i] = d->next;
			dstate_free(d);
		}
	if (tt.sweep != NULL)
		event_free(tt.sweep);
	tt.sweep = NULL;
}
