/*
 * A minimal TAP producer for the unit tests (automake's tap-driver.sh reads
 * it).  Header-only so every test binary is one .c file plus what it tests.
 *
 *	ok(cond, "name %d", i);  is_int(got, want, "name");
 *	is_str(got, want, "name");  return tap_done();
 */
#ifndef XP_TAP_H
#define XP_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_count, tap_failed;

__attribute__((format(printf, 2, 3), unused)) static int
ok(int cond, const char *fmt, ...)
{
	va_list ap;

	tap_count++;
	printf("%sok %d - ", cond ? "" : "not ", tap_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!cond)
		tap_failed++;
	fflush(stdout);
	return cond;
}

#define is_int(got, want, ...) tap_is_int((long long)(got), (long long)(want), __VA_ARGS__)
__attribute__((format(printf, 3, 4), unused)) static int
tap_is_int(long long got, long long want, const char *fmt, ...)
{
	char name[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	if (!ok(got == want, "%s", name))
		printf("#   got %lld, want %lld\n", got, want);
	return got == want;
}

#define is_str(got, want, ...) tap_is_str((got), (want), __VA_ARGS__)
__attribute__((format(printf, 3, 4), unused)) static int
tap_is_str(const char *got, const char *want, const char *fmt, ...)
{
	char name[512];
	va_list ap;
	int same;

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	same = (got == NULL && want == NULL) ||
	    (got != NULL && want != NULL && strcmp(got, want) == 0);
	if (!ok(same, "%s", name))
		printf("#   got  \"%s\"\n#   want \"%s\"\n",
		    got ? got : "(null)", want ? want : "(null)");
	return same;
}

__attribute__((format(printf, 1, 2), unused)) static void
diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

__attribute__((unused)) static int
tap_done(void)
{
	printf("1..%d\n", tap_count);
	return tap_failed ? 1 : 0;
}

#endif
