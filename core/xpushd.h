/*
 * The daemon's shared state: one event base, the running configuration,
 * and the hooks that subsystems register for reload and shutdown.
 */
#ifndef XP_XPUSHD_H
#define XP_XPUSHD_H

#include <stdbool.h>
#include <event2/event.h>

#include "core/options.h"

struct store;

struct xpushd {
	struct event_base	*base;
	struct xp_conf		*conf;
	struct store		*store;
	char			*conf_path;
	bool			 stopping;
	time_t			 started;
};

extern struct xpushd *xpd;

/*
 * Subsystems register what they do on SIGHUP (with the new configuration
 * already validated; return -1 with *error_r to refuse it) and on a
 * graceful stop (call done() when drained; the daemon exits when every
 * stopper has).
 */
typedef int daemon_reload_fn(void *arg, const struct xp_conf *next,
    char **error_r);
typedef void daemon_stop_fn(void *arg, void (*done)(void *), void *done_arg);

void	daemon_on_reload(daemon_reload_fn *, void *arg);
void	daemon_on_stop(daemon_stop_fn *, void *arg);

#endif
