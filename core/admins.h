/*
 * The admins: the top-level `admins` list (bare JIDs in canonical form;
 * entries that are not JIDs are logged and ignored), which the ad-hoc
 * commands check, and chat messages to them from the component's JID:
 * what the certificate watch and the mass-deletion guard tell the people
 * who run the service.  A message that finds the link
 * down waits for it, retried every ADMINS_RETRY seconds; at most
 * ADMINS_OUTBOX_MAX wait (the oldest goes first).  Each message carries a
 * tag naming who sent it, so that a sender can withdraw what it queued
 * and no longer means (the certificate watch, at its next check).
 */
#ifndef XP_ADMINS_H
#define XP_ADMINS_H

#include <stdbool.h>

#include "core/options.h"

struct event_base;

#define ADMINS_RETRY		2	/* seconds between sends */
#define ADMINS_OUTBOX_MAX	256	/* messages waiting for the link */

void	admins_init(struct event_base *, const struct xp_conf *);
void	admins_reconfigure(const struct xp_conf *);
void	admins_shutdown(void);
/* Whether bare (a bare JID in canonical form) is an admin. */
bool	admins_is(const char *bare);
/* One message with text to every admin; before admins_init(): dropped. */
void	admins_tell(const char *tag, const char *text);
/* Drops the messages of tag that still wait for the link. */
void	admins_withdraw(const char *tag);

#endif
