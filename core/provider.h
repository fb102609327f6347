/*
 * Provider dispatch: the only way the core reaches a provider module
 * (plugins/provider.h).  It loads the modules (libltdl), validates their
 * provider blocks, keeps one instance per block, and wraps every call so
 * that the contract's rules hold once, here: an answer given inside send()
 * reaches the caller from the event loop, and each answer is counted (the
 * per-provider outcomes and latency of stats.c) exactly once.
 */
#ifndef XP_PROVIDER_H
#define XP_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include "core/options.h"
#include "plugins/provider.h"

struct store;
struct event_base;
struct provider;		/* one configured provider block */

/*
 * Loads the modules and checks every provider block against its module's
 * options, without creating instances (`xpushd -t`).
 */
int	providers_check(const struct xp_conf *, char **error_r);
/*
 * The capabilities (XP_CAP_*) of the module that serves a provider block
 * of conf, loading and checking it as providers_check() does but creating
 * no instance (xpushctl: set-apns-certificate's check without a daemon).
 */
int	provider_block_caps(const struct xp_conf *, const struct cfg_node *,
	    unsigned int *caps_r, char **error_r);
/* Creates every instance; on error nothing is left half-configured. */
int	providers_start(struct event_base *, struct store *,
	    const struct xp_conf *, char **error_r);
/* SIGHUP: builds a new set; the old one is destroyed only on success. */
int	providers_reload(const struct xp_conf *, char **error_r);
void	providers_stop(void);

/* The configured providers, in configuration order. */
struct provider	*provider_find(const char *id);
struct provider	*providers_first(void);
struct provider	*providers_next(const struct provider *);
const char	*provider_id(const struct provider *);

/*
 * Hands a push to the provider.  0: cb runs exactly once, always from the
 * event loop, never before this returns; -1: the module refused it at once
 * (its queue is full) and cb never runs.
 */
int	provider_send(struct provider *, const struct xp_push *, xp_sent_cb *,
	    void *arg);
/*
 * As provider_send, for a push whose invalid-token answer deletes nothing
 * (a registration-less target, core/fpush.c): the mass-deletion guard
 * counts the answer, but not as an invalid token.
 */
int	provider_send_unguarded(struct provider *, const struct xp_push *,
	    xp_sent_cb *, void *arg);
/*
 * Usable now?  0 yes; -1 no, with a reason valid until the next call into
 * this layer: the module's, or the mass-deletion guard's while it holds.
 */
int	provider_status(struct provider *, const char **why_r);
/*
 * The provider called a token dead: may its registration be deleted (or
 * its VoIP token cleared)?  No while the mass-deletion guard holds; each
 * such answer is counted and logged at most once a minute.
 */
bool	provider_deletion_allowed(struct provider *);
/* The module's token check (register-device): -1 with *error_r malloc'd. */
int	provider_check_token(struct provider *, const char *token, bool voip,
	    char **error_r);
/* What the module declares: push extensions (NULL-ended), payload limit. */
const char *const *provider_push_features(const struct provider *);
size_t	provider_max_payload(const struct provider *);
/* Whether the module declares the capability (XP_CAP_*). */
bool	provider_has_cap(const struct provider *, unsigned int cap);

#endif
