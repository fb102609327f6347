/*
 * Per-device throttling (DESIGN "Publish rules"): low-priority pushes at
 * most one per window, high-priority pushes through a token bucket, and
 * one trailing push per device that carries the latest of those held back.
 *
 * Two layers.  throttle_check() and throttle_idle() are pure arithmetic on
 * one device's state with the clock passed in.  The table above them keys
 * states by node, holds the trailing push, arms its timer and forgets idle
 * states; it hands pushes back to its user through two callbacks and never
 * looks inside them.
 */
#ifndef XP_THROTTLE_H
#define XP_THROTTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "plugins/provider.h"

struct event_base;
struct xp_conf;

struct throttle_conf {
	uint64_t	low_window_ms;	/* one low push per window */
	double		high_burst;	/* token bucket size */
	double		high_per_ms;	/* tokens refilled per millisecond */
};

struct throttle_state {
	uint64_t	low_last;	/* when the last low push went out */
	bool		low_sent_once;
	double		tokens;
	uint64_t	refilled;
	bool		primed;
};

enum throttle_verdict {
	THROTTLE_SEND,
	THROTTLE_COALESCE,	/* hold it; send the latest at *when_r */
};

enum throttle_verdict throttle_check(struct throttle_state *,
	    const struct throttle_conf *, enum xp_prio, uint64_t now_ms,
	    uint64_t *when_r);
/* True when the state throttles nothing any more: forgetting it is the same. */
bool	throttle_idle(const struct throttle_state *,
	    const struct throttle_conf *, uint64_t now_ms);

/* The keys low-priority-window, high-priority-burst, high-priority-rate. */
void	throttle_conf_load(struct throttle_conf *, const struct xp_conf *);

/*
 * The table.  A held push is the caller's object; the table calls due(push)
 * when it is time to send it, or drop(push) when a newer push replaced it
 * or the table is shut down.  Either call gives the push back for good.
 * now is the clock in milliseconds (NULL: CLOCK_MONOTONIC; tests pass a
 * fake one).
 */
typedef void	throttle_push_cb(void *push);

void	throttle_init(struct event_base *, const struct throttle_conf *,
	    throttle_push_cb *due, throttle_push_cb *drop,
	    uint64_t (*now)(void));
void	throttle_reconfigure(const struct throttle_conf *);
void	throttle_shutdown(void);

enum throttle_admit {
	THROTTLE_ADMIT_SEND,	/* send it now */
	THROTTLE_ADMIT_HELD,	/* the table holds it as the trailing push */
	THROTTLE_ADMIT_DROPPED,	/* a high push already waits: this one adds
				   nothing and is the caller's to end */
};

/*
 * Admits a push of prio for node.  A newer held push replaces an older one
 * (drop() ends the older), a low push never replaces a waiting high one,
 * and a high push that may go now also takes a waiting low one's place.
 */
enum throttle_admit throttle_admit(const char *node, enum xp_prio,
	    void *push);
/*
 * The same for a push whose owner is not the table's user (the Push 2.0
 * relay): due and drop are called for this push instead of the table's.
 */
enum throttle_admit throttle_admit_cb(const char *node, enum xp_prio,
	    void *push, throttle_push_cb *due, throttle_push_cb *drop);
/* Device states the table keeps. */
size_t	throttle_states(void);

#endif
