/*
 * The fpush dialect (Monal, Quicksy iOS): no registration.  The app
 * enables push at its own server with node = its APNs device token and
 * the publish-options field pushModule naming the App Server's module
 * (and so the APNs topic and credentials); see core/fpush.c.
 *
 * Configuration: an APNs provider block serves the pushModule names in
 * its `fpush-modules` list; `fpush-default` names the module used for a
 * publish without pushModule.  The mode is off unless some active block
 * lists a module.
 *
 * To the registry (core/registry.c) the dialect is two sources: one that
 * claims a publish carrying pushModule, tried first, and one that claims
 * a token-shaped node without pushModule when a default module is set,
 * tried only after the registered rows did not know the node.
 */
#ifndef XP_FPUSH_H
#define XP_FPUSH_H

#include <stdbool.h>

#include "core/registry.h"

struct xp_conf;

#define FPUSH_MODULES_MAX	64	/* pushModule names, all blocks */
#define FPUSH_MODULE_NAME_MAX	64	/* bytes of one name */
/* The publish-options field that names the module (fpush's name). */
#define FPUSH_FIELD_MODULE	"pushModule"

/*
 * The blocks' fpush keys: names unique across blocks, at most one
 * default and it one of its block's modules.  -1 with *error_r.
 */
int	fpush_check_conf(const struct xp_conf *, char **error_r);
/*
 * Whether token has the shape the module of provider block `provider`
 * accepts: 0, or -1 with *error_r (malloc'd).  main.c installs one over
 * core/provider.h (provider_check_token), so that this file and the
 * registry link without the provider layer.
 */
typedef int fpush_token_check(const char *provider, const char *token,
    char **error_r);

/* Takes conf's modules (conf passed fpush_check_conf). */
void	fpush_init(const struct xp_conf *, fpush_token_check *);
void	fpush_reconfigure(const struct xp_conf *);
void	fpush_shutdown(void);
/* Whether some block serves fpush modules. */
bool	fpush_enabled(void);

/* The registry's sources (core/registry.c). */
bool	fpush_claims_module(const struct registry_query *);
bool	fpush_claims_default(const struct registry_query *);
/* Answers through cb before returning. */
void	fpush_lookup(const struct registry_query *, registry_cb *, void *arg);

#endif
