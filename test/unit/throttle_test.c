/*
 * Per-device throttling (core/throttle.c): the arithmetic driven by a fake
 * clock, and the table's held, replaced and trailing pushes, with the
 * table's decisions on the same fake clock.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "core/throttle.h"
#include "test/lib/tap.h"

#define WATCHDOG_S	10	/* a trailing push that never comes fails */

static void
test_throttle(void)
{
	struct throttle_conf tc = { 60000, 3.0, 60.0 / 60000.0 };
	struct throttle_state ts;
	uint64_t when = 0, now = 1000000;
	int i, sent;

	memset(&ts, 0, sizeof(ts));
	is_int(throttle_check(&ts, &tc, XP_PRIO_LOW, now, &when),
	    THROTTLE_SEND, "the first low push goes");
	is_int(throttle_check(&ts, &tc, XP_PRIO_LOW, now + 10, &when),
	    THROTTLE_COALESCE, "a second within the window waits");
	is_int(when, now + 60000, "until the window ends");
	is_int(throttle_check(&ts, &tc, XP_PRIO_LOW, now + 59999, &when),
	    THROTTLE_COALESCE, "still inside the window");
	is_int(throttle_check(&ts, &tc, XP_PRIO_LOW, now + 60000, &when),
	    THROTTLE_SEND, "the window's end lets the next one go");

	memset(&ts, 0, sizeof(ts));
	for (i = 0, sent = 0; i < 5; i++)
		if (throttle_check(&ts, &tc, XP_PRIO_HIGH, now, &when) ==
		    THROTTLE_SEND)
			sent++;
	is_int(sent, 3, "a burst of 3 high pushes passes");
	is_int(when, now + 1001, "the next token comes in a second");
	is_int(throttle_check(&ts, &tc, XP_PRIO_HIGH, now + 999, &when),
	    THROTTLE_COALESCE, "not before");
	is_int(throttle_check(&ts, &tc, XP_PRIO_HIGH, now + 1001, &when),
	    THROTTLE_SEND, "then one more");
	is_int(throttle_check(&ts, &tc, XP_PRIO_HIGH, now + 600000, &when),
	    THROTTLE_SEND, "after a long pause the bucket is full again");
	is_int(throttle_check(&ts, &tc, XP_PRIO_HIGH, now + 600000, &when),
	    THROTTLE_SEND, "burst 2 of 3");
	is_int(throttle_check(&ts, &tc, XP_PRIO_HIGH, now + 600000, &when),
	    THROTTLE_SEND, "burst 3 of 3");
	is_int(throttle_check(&ts, &tc, XP_PRIO_HIGH, now + 600000, &when),
	    THROTTLE_COALESCE, "and never more than the burst");
	is_int(throttle_check(&ts, &tc, XP_PRIO_LOW, now + 600000, &when),
	    THROTTLE_SEND, "low and high are throttled apart");

	/* When a state may be forgotten (the table's sweep). */
	memset(&ts, 0, sizeof(ts));
	ok(throttle_idle(&ts, &tc, now), "a fresh state is idle");
	throttle_check(&ts, &tc, XP_PRIO_HIGH, now, &when);
	ok(!throttle_idle(&ts, &tc, now + 999),
	    "a token short of a full bucket: not idle");
	ok(throttle_idle(&ts, &tc, now + 1000),
	    "idle once the bucket has refilled");
	throttle_check(&ts, &tc, XP_PRIO_LOW, now + 2000, &when);
	ok(!throttle_idle(&ts, &tc, now + 2000 + 59999),
	    "a low push keeps it for the low window");
	ok(throttle_idle(&ts, &tc, now + 2000 + 60000),
	    "idle when the window is over and the bucket full");
	memset(&ts, 0, sizeof(ts));
	throttle_check(&ts, &tc, XP_PRIO_HIGH, now, &when);
	throttle_check(&ts, &tc, XP_PRIO_HIGH, now, &when);
	ok(!throttle_idle(&ts, &tc, now + 1999) &&
	    throttle_idle(&ts, &tc, now + 2000),
	    "two tokens spent: idle after two refills");
}

static uint64_t fake_now;
static void *due[8], *dropped[8];
static int ndue, ndropped;
static struct event_base *base;

static uint64_t
fake_clock(void)
{
	return fake_now;
}

static void
due_cb(void *push)
{
	if (ndue < 8)
		due[ndue] = push;
	ndue++;
	event_base_loopbreak(base);
}

static void
drop_cb(void *push)
{
	if (ndropped < 8)
		dropped[ndropped] = push;
	ndropped++;
}

static void
watchdog_cb(evutil_socket_t fd, short events, void *arg)
{
	event_base_loopbreak(base);
}

/* Runs the loop until the trailing push is due (or the watchdog ends it). */
static void
wait_due(void)
{
	struct timeval tv = { WATCHDOG_S, 0 };
	struct event *wd = evtimer_new(base, watchdog_cb, NULL);
	int before = ndue;

	evtimer_add(wd, &tv);
	while (ndue == before && evtimer_pending(wd, NULL))
		event_base_loop(base, EVLOOP_ONCE);
	event_free(wd);
}

static void
test_table(void)
{
	/* One low push per 5 ms; one high token, refilled every 5 ms. */
	struct throttle_conf tc = { 5, 1.0, 1.0 / 5.0 };
	int a, b, c, d, e, f, f2, g, h1, h2, h3;

	base = event_base_new();
	fake_now = 1000;
	throttle_init(base, &tc, due_cb, drop_cb, fake_clock);

	is_int(throttle_admit("n1", XP_PRIO_LOW, &a), THROTTLE_ADMIT_SEND,
	    "table: the first low push goes");
	is_int(throttle_admit("n1", XP_PRIO_LOW, &b), THROTTLE_ADMIT_HELD,
	    "table: the second is held as the trailing push");
	is_int(throttle_states(), 1, "table: one device state");
	is_int(throttle_admit("n1", XP_PRIO_LOW, &c), THROTTLE_ADMIT_HELD,
	    "table: a third is held");
	ok(ndropped == 1 && dropped[0] == &b,
	    "table: and the older held push is dropped");
	is_int(throttle_admit("n1", XP_PRIO_HIGH, &h1), THROTTLE_ADMIT_SEND,
	    "table: a high push within the bucket goes");
	ok(ndropped == 2 && dropped[1] == &c,
	    "table: and takes the waiting low push's place");
	is_int(throttle_admit("n1", XP_PRIO_HIGH, &h2), THROTTLE_ADMIT_HELD,
	    "table: a high push beyond the bucket is held");
	is_int(throttle_admit("n1", XP_PRIO_LOW, &d), THROTTLE_ADMIT_DROPPED,
	    "table: a low push does not replace a waiting high one");
	is_int(ndropped, 2, "table: and the held high push stays");
	is_int(throttle_admit("n1", XP_PRIO_HIGH, &h3), THROTTLE_ADMIT_HELD,
	    "table: a newer high push is held");
	ok(ndropped == 3 && dropped[2] == &h2,
	    "table: in place of the older one");
	is_int(throttle_admit("n2", XP_PRIO_LOW, &f), THROTTLE_ADMIT_SEND,
	    "table: another device is throttled apart");
	is_int(throttle_states(), 2, "table: two device states");

	fake_now = 1010;
	wait_due();
	ok(ndue == 1 && due[0] == &h3,
	    "table: the latest held push is due once a token is back");
	is_int(throttle_admit("n1", XP_PRIO_LOW, &e), THROTTLE_ADMIT_SEND,
	    "table: after it, a low push past the window goes");

	is_int(throttle_admit("n2", XP_PRIO_LOW, &f2), THROTTLE_ADMIT_SEND,
	    "table: the other device's window is over too");
	is_int(throttle_admit("n2", XP_PRIO_LOW, &g), THROTTLE_ADMIT_HELD,
	    "table: a held push at shutdown");
	throttle_shutdown();
	ok(ndropped == 4 && dropped[3] == &g,
	    "table: is given back when the table goes");
	is_int(throttle_states(), 0, "table: no state is left");
	is_int(ndue, 1, "table: nothing else was due");
	event_base_free(base);
}

int
main(void)
{
	test_throttle();
	test_table();
	return tap_done();
}
