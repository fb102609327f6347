/*
 * Dead-token counters by provider and reason (core/stats.c): counted per
 * reason, reasons cut to printable ASCII of bounded length, and at most
 * STATS_REASONS_MAX distinct reasons per provider and fate, the rest under
 * "other", so that a provider cannot grow /metrics without bound.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "core/stats.h"
#include "core/xpushd.h"
#include "test/lib/tap.h"

struct xpushd *xpd;		/* stats.c's figures read it; unused */

static const struct stats_provider *
find(const char *id)
{
	const struct stats_provider *sp;

	for (sp = stats_providers(); sp != NULL; sp = sp->next)
		if (strcmp(sp->id, id) == 0)
			return sp;
	return NULL;
}

int
main(void)
{
	const struct stats_provider *sp;
	const struct stats_reason *r;
	char reason[32], longr[200];
	size_t i, labels;
	uint64_t total;

	stats_dead_token("p1", STATS_DEAD_DELETED, "Unregistered");
	stats_dead_token("p1", STATS_DEAD_DELETED, "Unregistered");
	stats_dead_token("p1", STATS_DEAD_DELETED, "BadDeviceToken");
	stats_dead_token("p1", STATS_DEAD_HELD, "Unregistered");
	stats_dead_token("p1", STATS_DEAD_DELETED, NULL);
	sp = find("p1");
	ok(sp != NULL && sp->ndead[STATS_DEAD_DELETED] == 3, "three reasons "
	    "for deletions");
	ok(strcmp(sp->dead[STATS_DEAD_DELETED][0].reason, "Unregistered") == 0
	    && sp->dead[STATS_DEAD_DELETED][0].n == 2, "Unregistered twice");
	ok(sp->dead[STATS_DEAD_DELETED][1].n == 1 &&
	    strcmp(sp->dead[STATS_DEAD_DELETED][2].reason, "unknown") == 0,
	    "BadDeviceToken once, no reason as 'unknown'");
	ok(sp->ndead[STATS_DEAD_HELD] == 1 &&
	    sp->dead[STATS_DEAD_HELD][0].n == 1, "held ones apart");

	memset(longr, 'x', sizeof(longr) - 1);
	longr[sizeof(longr) - 1] = '\0';
	longr[3] = '\n';
	stats_dead_token("p2", STATS_DEAD_DELETED, longr);
	sp = find("p2");
	r = &sp->dead[STATS_DEAD_DELETED][0];
	ok(strlen(r->reason) == STATS_REASON_LEN && r->reason[3] == '_',
	    "a long reason with a newline: cut to %d bytes, '_' for the "
	    "newline", STATS_REASON_LEN);

	/* A provider that makes up a reason per answer. */
	total = 0;
	for (i = 0; i < 1000; i++) {
		snprintf(reason, sizeof(reason), "made-up-%zu", i);
		stats_dead_token("p3", STATS_DEAD_DELETED, reason);
	}
	stats_dead_token("p3", STATS_DEAD_DELETED, STATS_REASON_OTHER);
	sp = find("p3");
	labels = sp->ndead[STATS_DEAD_DELETED];
	for (i = 0; i <= STATS_REASONS_MAX; i++)
		total += sp->dead[STATS_DEAD_DELETED][i].n;
	r = &sp->dead[STATS_DEAD_DELETED][STATS_REASONS_MAX];
	ok(labels == STATS_REASONS_MAX && strcmp(r->reason, "other") == 0 &&
	    r->n == 1000 - STATS_REASONS_MAX + 1, "1000 made-up reasons: %zu "
	    "labels and 'other' (%llu)", labels, (unsigned long long)r->n);
	is_int(total, 1001, "nothing lost");
	stats_dead_token("p4", STATS_DEAD_DELETED, "other");
	sp = find("p4");
	ok(sp->ndead[STATS_DEAD_DELETED] == 0 &&
	    sp->dead[STATS_DEAD_DELETED][STATS_REASONS_MAX].n == 1,
	    "a reason spelt 'other' joins the overflow: no twin label");
	stats_free();
	return tap_done();
}
