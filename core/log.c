/*
 * Logging: stderr with a timestamp in the foreground, syslog(3) otherwise.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <sys/time.h>

#include "core/log.h"

static bool log_foreground = true;
static bool log_debugging;

void
log_init(bool foreground, bool debug, const char *ident)
{
	log_foreground = foreground;
	log_debugging = debug;
	if (!foreground)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
log_set_debug(bool debug)
{
	log_debugging = debug;
}

bool
log_debug_enabled(void)
{
	return log_debugging;
}

static void
log_vwrite(int pri, const char *fmt, va_list ap, int errnum)
{
	char msg[2048];
	int n;

	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		return;
	if (errnum != 0 && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(errnum));

	if (log_foreground) {
		struct timeval tv;
		struct tm tm;
		char ts[32];
		static const char *names[] = {
			[LOG_CRIT] = "fatal", [LOG_ERR] = "error",
			[LOG_WARNING] = "warning", [LOG_INFO] = "info",
			[LOG_DEBUG] = "debug",
		};

		gettimeofday(&tv, NULL);
		localtime_r(&tv.tv_sec, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ld %s: %s\n", ts, (long)tv.tv_usec / 1000,
		    names[pri] != NULL ? names[pri] : "log", msg);
		fflush(stderr);
	} else
		syslog(pri, "%s", msg);
}

#define LOG_BODY(pri, errnum) do {		\
	va_list ap;				\
	va_start(ap, fmt);			\
	log_vwrite(pri, fmt, ap, errnum);	\
	va_end(ap);				\
} while (0)

void
log_debug(const char *fmt, ...)
{
	if (log_debugging)
		LOG_BODY(LOG_DEBUG, 0);
}

void
log_info(const char *fmt, ...)
{
	LOG_BODY(LOG_INFO, 0);
}

void
log_warn(const char *fmt, ...)
{
	int saved = errno;

	LOG_BODY(LOG_WARNING, saved);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	LOG_BODY(LOG_WARNING, 0);
}

void
fatal(const char *fmt, ...)
{
	int saved = errno;

	LOG_BODY(LOG_CRIT, saved);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	LOG_BODY(LOG_CRIT, 0);
	exit(1);
}
