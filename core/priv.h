/*
 * Dropping root.  Started as root with the `user` key, xpushd gives up
 * root once everything that needs it is open (the configuration read, the
 * log open, the REST port bound, the providers' key files read), as
 * OpenSMTPD does after its set-up: setgroups, setgid, setuid, and a check
 * that root cannot be regained.  Started as root without the key, it
 * warns and names the key.  Started as another user with the key, it
 * warns that the key is ignored, unless it already runs as that user.
 */
#ifndef XP_PRIV_H
#define XP_PRIV_H

#include "core/options.h"

/* Calls fatalx() when the switch fails: running as root was not asked. */
void	priv_drop(const struct xp_conf *);

#endif
