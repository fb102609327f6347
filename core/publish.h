/*
 * XEP-0357 publishes: the App Server's main job.
 */
#ifndef XP_PUBLISH_H
#define XP_PUBLISH_H

#include "core/options.h"

struct registry;
struct event_base;

void	publish_init(struct event_base *, struct registry *,
	    const struct xp_conf *);
void	publish_reconfigure(const struct xp_conf *);
/* Jobs (and held trailing pushes) still running. */
size_t	publish_busy(void);
/* Before the providers go: their last answers are not retried. */
void	publish_stop(void);
void	publish_shutdown(void);

#endif
