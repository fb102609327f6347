/*
 * GET /metrics (Prometheus text) and GET /health (JSON) on the HTTPS
 * listener, from core/stats.c, the store, the providers, the link and the
 * certificate watch.
 */
#ifndef XP_METRICS_H
#define XP_METRICS_H

struct event_base;
struct link;
struct store;

/* Mounts both paths on the listener; call before rest_init(). */
void	metrics_init(struct event_base *, struct store *, struct link *);

#endif
