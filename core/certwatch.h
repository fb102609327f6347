/*
 * The certificate watch: at start-up and every `cert-check-interval`
 * seconds, the client certificate of every APNs provider (from its
 * cert-file or from the database) is loaded and its expiry checked; the
 * admins hear about certificates that expire within `cert-expiry-warning`
 * days, that have expired, or that no longer load.
 */
#ifndef XP_CERTWATCH_H
#define XP_CERTWATCH_H

#include <stdbool.h>
#include <time.h>

#include "core/options.h"

struct event_base;
struct store;

enum certwatch_state {
	CERTWATCH_OK,
	CERTWATCH_EXPIRING,	/* within the warning period */
	CERTWATCH_EXPIRED,
	CERTWATCH_BROKEN,	/* the material does not load */
};

/* What the last check found for one provider. */
struct certwatch_result {
	const char		*provider;
	const char		*subject;	/* NULL if unreadable */
	const char		*source;	/* the file, or "database" */
	time_t			 not_after;	/* 0 if unknown */
	enum certwatch_state	 state;
	const char		*error;		/* CERTWATCH_BROKEN: why */
};

void	certwatch_init(struct event_base *, struct store *,
	    const struct xp_conf *);
void	certwatch_reconfigure(const struct xp_conf *);
void	certwatch_shutdown(void);

/* Calls fn for each provider the last check looked at. */
void	certwatch_foreach(void (*fn)(void *, const struct certwatch_result *),
	    void *arg);
/* True when the provider's certificate is expired or broken. */
bool	certwatch_unusable(const char *provider, const char **why_r);

#endif
