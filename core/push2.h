/*
 * The Push 2.0 relay (urn:xmpp:push2:0): notifications that users' servers
 * send in <message/> stanzas, relayed to the client's push service as
 * they are.  Off unless the configuration has a push2 () { } block.
 */
#ifndef XP_PUSH2_H
#define XP_PUSH2_H

#include <stddef.h>
#include "core/options.h"

struct event_base;

/* Whether the blocks push2 () names exist (xpushd -t, start, SIGHUP). */
int	push2_check_conf(const struct xp_conf *, char **error_r);
/*
 * After providers_start(): checks that the blocks push2 () names exist
 * and registers the message handler.  -1 with *error_r (malloc'd).
 */
int	push2_init(struct event_base *, const struct xp_conf *,
	    char **error_r);
/* SIGHUP, after providers_reload(): the same checks on the new file. */
int	push2_reconfigure(const struct xp_conf *, char **error_r);
/* Relays still waiting for their provider. */
size_t	push2_busy(void);
void	push2_shutdown(void);

#endif
