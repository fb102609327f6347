/*
 * Schema migrations: blocking, for `xpushd --migrate` and start-up, before
 * the event loop runs.  dir holds NNN-name.sql files.  target 0 means the
 * newest.  Both return STORE_OK, STORE_ETEMP (cannot connect) or
 * STORE_EFAIL, with a message for the operator in *error_r (free it).
 */
#ifndef XP_MIGRATE_H
#define XP_MIGRATE_H

#include "core/store.h"

enum store_status migrate_run(const char *conninfo, const char *dir,
	    int target, int *applied_r, char **error_r);
enum store_status migrate_check(const char *conninfo, const char *dir,
	    char **error_r);

#endif
