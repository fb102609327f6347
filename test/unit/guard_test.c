/*
 * The mass-deletion guard's arithmetic (core/guard.c) on a fake clock:
 * it trips on the answer that makes the invalid-token answers more than
 * `count` and more than `share` % in the window, not before; not on many
 * invalid answers that are a small share; the window slides; it reopens
 * only after a whole window below the threshold, and at once on reset.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "core/guard.h"
#include "test/lib/tap.h"

#define WINDOW_MS	60000

static const struct guard_conf conf = { 50, 20, WINDOW_MS };

/* n answers at now, invalid or not; how many of them tripped it. */
static int
note(struct guard *g, uint64_t now, int n, bool invalid)
{
	int i, trips = 0;

	for (i = 0; i < n; i++)
		trips += guard_note(g, now, invalid);
	return trips;
}

static void
test_trip(void)
{
	struct guard g;
	struct guard_figures f;
	uint64_t now = 1000000, last, slot = WINDOW_MS / GUARD_SLOTS;
	bool reopened;
	int i, trips = 0, deleted = 0;

	guard_init(&g, &conf);
	ok(guard_open(&g, now, NULL), "a new guard is open");
	/* Every answer says invalid: the 51st trips it. */
	for (i = 0; i < 200; i++) {
		trips += guard_note(&g, now + (uint64_t)i, true);
		if (guard_open(&g, now + (uint64_t)i, NULL))
			deleted++;
	}
	is_int(trips, 1, "it trips once");
	is_int(deleted, 50, "50 deletions allowed (count 50), the rest held");
	guard_figures(&g, now + 199, &f);
	ok(f.tripped && f.invalid == 200 && f.answers == 200 &&
	    f.since == now + 50, "figures: 200 of 200 invalid, tripped at "
	    "the 51st (%llu/%llu)", (unsigned long long)f.invalid,
	    (unsigned long long)f.answers);

	/* Still invalid answers later: it stays shut. */
	now += WINDOW_MS / 2;
	note(&g, now, 60, true);
	ok(!guard_open(&g, now, &reopened) && !reopened,
	    "more invalid answers half a window later: still shut");
	/* The invalid answers stop; while they are in the window it is over. */
	last = now + WINDOW_MS - slot;
	note(&g, last, 10, false);
	ok(!guard_open(&g, last, &reopened) && !reopened,
	    "a window minus a slot later, the excess still in the window: "
	    "shut");
	now += WINDOW_MS + slot;
	guard_figures(&g, now, &f);
	ok(f.invalid == 0 && !guard_open(&g, now, &reopened) && !reopened,
	    "the excess left the window, but it was over %llu ms ago: shut",
	    (unsigned long long)(now - last));
	ok(!guard_open(&g, last + WINDOW_MS - 1, &reopened) && !reopened,
	    "a window minus 1 ms after the last excess: still shut");
	ok(guard_open(&g, last + WINDOW_MS, &reopened) && reopened,
	    "a whole window below the threshold: open again, said once");
	ok(guard_open(&g, last + WINDOW_MS, &reopened) && !reopened,
	    "... and once only");
}

static void
test_share(void)
{
	struct guard g;
	uint64_t now = 5000000;
	int i, trips = 0;

	guard_init(&g, &conf);
	/* 100 invalid among 1000: 10 %, under the 20 % share. */
	for (i = 0; i < 1000; i++)
		trips += guard_note(&g, now + (uint64_t)i, i % 10 == 0);
	is_int(trips, 0, "100 invalid answers of 1000 (10 %% < 20 %%): open");
	ok(guard_open(&g, now + 1000, NULL), "deletions allowed");
	/* Now invalid only: trips when the share passes 20 %. */
	for (i = 0; i < 300 && trips == 0; i++)
		trips += guard_note(&g, now + 1000, true);
	/* 100 + i invalid of 1000 + i answers: > 20 % at i = 126 (226 of 1126
	 * is 20.07 %; 225 of 1125 is exactly 20 %, not more). */
	is_int(i, 126, "then invalid only: it trips when the share passes "
	    "20 %% (after %d more)", i);
	ok(!guard_open(&g, now + 1000, NULL), "deletions held");

	/* Few answers at all: the count must be passed too. */
	guard_init(&g, &conf);
	is_int(note(&g, now, 50, true), 0, "50 invalid of 50 (100 %%, but "
	    "not more than 50): open");
	is_int(note(&g, now, 1, true), 1, "the 51st trips it");
}

static void
test_window(void)
{
	struct guard g;
	uint64_t now = 9000000, slot = WINDOW_MS / GUARD_SLOTS;
	struct guard_figures f;

	guard_init(&g, &conf);
	/* 40 now, 40 a window later: never more than 50 in one window. */
	is_int(note(&g, now, 40, true), 0, "40 invalid: open");
	is_int(note(&g, now + WINDOW_MS, 40, true), 0, "40 more a window "
	    "later: the first 40 left the window, open");
	guard_figures(&g, now + WINDOW_MS, &f);
	is_int(f.invalid, 40, "the window holds 40");
	/* 40 now, 40 half a window later: both in the window. */
	guard_init(&g, &conf);
	note(&g, now, 40, true);
	is_int(note(&g, now + WINDOW_MS / 2, 40, true), 1, "40 and 40 within "
	    "half a window: trips");
	/* A slot's answers leave the window a whole window later. */
	guard_init(&g, &conf);
	note(&g, now, 10, true);
	guard_figures(&g, now + WINDOW_MS - slot, &f);
	is_int(f.invalid, 10, "still counted a window minus a slot later");
	guard_figures(&g, now + WINDOW_MS + slot, &f);
	is_int(f.invalid, 0, "gone a window and a slot later");
	guard_figures(&g, now + 100 * WINDOW_MS, &f);
	ok(f.invalid == 0 && f.answers == 0, "a long idle time: empty");
}

static void
test_reset(void)
{
	struct guard g;
	uint64_t now = 20000000;
	struct guard_conf off = { 50, 100, WINDOW_MS };

	guard_init(&g, &conf);
	note(&g, now, 100, true);
	ok(!guard_open(&g, now, NULL), "tripped");
	guard_reset(&g);
	ok(guard_open(&g, now, NULL), "reset (SIGHUP): open at once");
	is_int(note(&g, now, 50, true), 0, "with an empty window: 50 more "
	    "allowed");
	is_int(note(&g, now, 1, true), 1, "the 51st trips it again");

	guard_init(&g, &off);
	is_int(note(&g, now, 100000, true), 0, "share 100: never trips");
}

int
main(void)
{
	test_trip();
	test_share();
	test_window();
	test_reset();
	return tap_done();
}
