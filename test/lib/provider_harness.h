/*
 * provider_harness: a tiny xpushd host for driving a provider module in
 * unit tests the way xpushd does: dlopen the built module, check its ABI,
 * validate a provider block (an in-memory key/value table) against the
 * module's options table with its defaults, create(), and serve
 * cert_get/cert_watch from memory.  Log lines are kept for assertions and
 * echoed to stderr.
 */
#ifndef XP_PROVIDER_HARNESS_H
#define XP_PROVIDER_HARNESS_H

#include <stdbool.h>

#include "plugins/provider.h"

struct event_base;
struct ph;

/* Loads path (e.g. plugins/.libs/apns.so); NULL with *error_r. */
struct ph	*ph_new(struct event_base *, const char *path, char **error_r);
const struct xp_provider *ph_provider(const struct ph *);
const struct xp_host *ph_host(const struct ph *);

/*
 * Block values as text: strings as they are, integers and booleans as
 * written ("10", "true"), lists comma-separated.  ph_clear empties it.
 */
void		 ph_set(struct ph *, const char *key, const char *value);
void		 ph_clear(struct ph *);
/* Validates the block and calls create(); NULL with *error_r. */
void		*ph_create(struct ph *, const char *id, char **error_r);

/* The stored certificate (copied; NULL: none stored). */
void		 ph_set_cert(struct ph *, const struct xp_cert *);
void		 ph_set_cert_db_down(struct ph *, bool);
/* Answer cert_get at once instead of from the loop. */
void		 ph_set_cert_sync(struct ph *, bool);
/* Tells the watchers of id (or all, NULL) that the certificate changed. */
void		 ph_cert_changed(struct ph *, const char *id);

/* Log lines of that level (or any, -1) containing substr (or any). */
int		 ph_log_count(const struct ph *, int level, const char *substr);
void		 ph_log_reset(struct ph *);

void		 ph_free(struct ph **);

#endif
