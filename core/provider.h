/*
 * Provider modules: loading (libltdl), option validation, one instance per
 * provider block, and the host services they get (plugins/provider.h).
 */
#ifndef XP_PROVIDER_H
#define XP_PROVIDER_H

#include <stdbool.h>
#include "core/options.h"
#include "plugins/provider.h"

struct store;
struct event_base;

struct provider {
	char			*id;		/* the provider block's name */
	const struct xp_provider *mod;
	void			*self;
	struct provider		*next;
};

/*
 * Loads the modules and checks every provider block against its module's
 * options, without creating instances (`xpushd -t`).
 */
int	providers_check(const struct xp_conf *, char **error_r);
/* Creates every instance; on error nothing is left half-configured. */
int	providers_start(struct event_base *, struct store *,
	    const struct xp_conf *, char **error_r);
/* SIGHUP: builds a new set; the old one is destroyed only on success. */
int	providers_reload(const struct xp_conf *, char **error_r);
void	providers_stop(void);

struct provider	*provider_find(const char *id);
struct provider	*providers_first(void);
/* The module name a provider block uses ("apns", "fcm", ...). */
const char	*provider_module_name(const struct cfg_node *block);

#endif
