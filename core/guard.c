/*
 * The mass-deletion guard's arithmetic (see guard.h): a ring of
 * GUARD_SLOTS counters per kind, advanced lazily to the time the caller
 * gives, so that an idle provider costs nothing.
 */
#include "config.h"

#include <string.h>

#include "core/guard.h"

void
guard_init(struct guard *g, const struct guard_conf *conf)
{
	memset(g, 0, sizeof(*g));
	g->conf = *conf;
	g->slot_ms = conf->window_ms / GUARD_SLOTS;
	if (g->slot_ms == 0)
		g->slot_ms = 1;
}

void
guard_reset(struct guard *g)
{
	struct guard_conf conf = g->conf;

	guard_init(g, &conf);
}

/* Empties the slots that lie in the past of now. */
static void
guard_advance(struct guard *g, uint64_t now)
{
	uint64_t slot = now / g->slot_ms, i;

	if (slot <= g->slot)
		return;
	for (i = g->slot + 1; i <= slot && i - g->slot <= GUARD_SLOTS; i++) {
		g->answers[i % GUARD_SLOTS] = 0;
		g->invalid[i % GUARD_SLOTS] = 0;
	}
	g->slot = slot;
}

static void
guard_sum(const struct guard *g, uint64_t *answers_r, uint64_t *invalid_r)
{
	size_t i;

	*answers_r = *invalid_r = 0;
	for (i = 0; i < GUARD_SLOTS; i++) {
		*answers_r += g->answers[i];
		*invalid_r += g->invalid[i];
	}
}

/* More than count invalid answers and more than share % of them all. */
static bool
guard_over(const struct guard *g)
{
	uint64_t answers, invalid;

	guard_sum(g, &answers, &invalid);
	return invalid > g->conf.count &&
	    invalid * 100 > (uint64_t)g->conf.share * answers;
}

bool
guard_note(struct guard *g, uint64_t now, bool invalid)
{
	guard_advance(g, now);
	g->answers[g->slot % GUARD_SLOTS]++;
	if (!invalid)
		return false;
	g->invalid[g->slot % GUARD_SLOTS]++;
	if (!guard_over(g))
		return false;
	g->last_over = now;
	if (g->tripped)
		return false;
	g->tripped = true;
	g->since = now;
	return true;
}

bool
guard_open(struct guard *g, uint64_t now, bool *reopened_r)
{
	if (reopened_r != NULL)
		*reopened_r = false;
	if (!g->tripped)
		return true;
	guard_advance(g, now);
	if (guard_over(g)) {
		g->last_over = now;
		return false;
	}
	if (now - g->last_over < g->conf.window_ms)
		return false;
	g->tripped = false;
	if (reopened_r != NULL)
		*reopened_r = true;
	return true;
}

void
guard_figures(struct guard *g, uint64_t now, struct guard_figures *f)
{
	guard_advance(g, now);
	guard_sum(g, &f->answers, &f->invalid);
	f->tripped = g->tripped;
	f->since = g->since;
}
