/*
 * Logging and the three error tiers (see STYLE.md): fatal()/fatalx() for
 * broken invariants, log_warn()/log_warnx() for trouble the daemon survives.
 * The "x" variants do not append strerror(errno).
 */
#ifndef XP_LOG_H
#define XP_LOG_H

#include <stdarg.h>
#include <stdbool.h>

#define XP_PRINTF(a, b) __attribute__((format(printf, a, b)))

void log_init(bool foreground, bool debug, const char *ident);
void log_set_debug(bool debug);
bool log_debug_enabled(void);
void log_debug(const char *, ...) XP_PRINTF(1, 2);
void log_info(const char *, ...) XP_PRINTF(1, 2);
void log_warn(const char *, ...) XP_PRINTF(1, 2);
void log_warnx(const char *, ...) XP_PRINTF(1, 2);
void fatal(const char *, ...) XP_PRINTF(1, 2) __attribute__((noreturn));
void fatalx(const char *, ...) XP_PRINTF(1, 2) __attribute__((noreturn));

#endif
