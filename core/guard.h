/*
 * The mass-deletion guard's arithmetic, one per provider: is the share of
 * invalid-token answers so high that they more likely mean a
 * misconfiguration (a sandbox app against the production endpoint, a wrong
 * apns-topic, the wrong Firebase project) than dead devices?  Then every
 * push would delete its registration and a deployment is wiped in
 * minutes, so deletions stop.
 *
 * The guard counts a provider's answers and its invalid-token answers over
 * a sliding window (GUARD_SLOTS slots of window/GUARD_SLOTS each).  It
 * trips on the invalid-token answer that makes them more than `count` in
 * the window AND more than `share` percent of all answers in it: that
 * answer and every later one deletes nothing.  It reopens once the figures
 * stayed at or below the threshold for a whole window (checked at every
 * answer and question), or on guard_reset().
 *
 * Pure: no clock, no I/O.  The caller passes the time in milliseconds of
 * a monotonic clock (core/clock.h; a fake one in test/guard_test.c) and
 * does the logging and the telling (core/provider.c).
 */
#ifndef XP_GUARD_H
#define XP_GUARD_H

#include <stdbool.h>
#include <stdint.h>

#define GUARD_SLOTS	12

struct guard_conf {
	uint64_t	 count;		/* invalid-token answers per window */
	unsigned int	 share;		/* percent of the window's answers;
					   100: never trips */
	uint64_t	 window_ms;
};

struct guard_figures {
	uint64_t	 answers;	/* in the window */
	uint64_t	 invalid;	/* of which invalid-token */
	bool		 tripped;
	uint64_t	 since;		/* when it tripped (ms) */
};

struct guard {
	struct guard_conf conf;
	uint64_t	 slot_ms;
	uint64_t	 slot;		/* absolute number of the newest slot */
	uint64_t	 answers[GUARD_SLOTS];
	uint64_t	 invalid[GUARD_SLOTS];
	bool		 tripped;
	uint64_t	 since;		/* when it tripped */
	uint64_t	 last_over;	/* when the figures were last over */
};

void	guard_init(struct guard *, const struct guard_conf *);
/* Forgets everything: open, empty window (SIGHUP). */
void	guard_reset(struct guard *);
/* Counts one answer at now; true if this answer tripped the guard. */
bool	guard_note(struct guard *, uint64_t now, bool invalid);
/*
 * Whether a deletion may go at now.  *reopened_r (may be NULL) says that
 * the guard reopened during this call.
 */
bool	guard_open(struct guard *, uint64_t now, bool *reopened_r);
void	guard_figures(struct guard *, uint64_t now, struct guard_figures *);

#endif
