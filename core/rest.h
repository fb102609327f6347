/*
 * The HTTPS endpoint of the `rest` block: Tigase's unregister-device
 * handler, GET /metrics (Prometheus text) and GET /health.
 */
#ifndef XP_REST_H
#define XP_REST_H

#include "core/options.h"

struct event_base;
struct link;
struct store;

/* Semantic checks of the rest block (`xpushd -t`, start-up, SIGHUP). */
int	rest_check_conf(const struct xp_conf *, char **error_r);
/* Starts listening when the configuration has a rest block. */
int	rest_init(struct event_base *, struct store *, struct link *,
	    const struct xp_conf *, char **error_r);
/* SIGHUP: new limits, token and TLS material; rebinds if listen changed. */
int	rest_reconfigure(const struct xp_conf *, char **error_r);
void	rest_shutdown(void);

#endif
