/*
 * libxpplug: OpenSSL's error queue as one line.
 *
 * OpenSSL queues the deepest failure first and each caller on the way out
 * adds its own: the first entry says what went wrong (a bad MAC, a wrong
 * tag), the last one what was being done (reading a PKCS#12, the
 * handshake).  Either alone has misled: the line holds the last, then the
 * first when they differ, and the queue is emptied so that a later
 * failure does not report this one.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "plugins/lib/pu.h"

const char *
pu_ssl_error(char *buf, size_t len, const char *none)
{
	unsigned long e, first = 0, last = 0;
	char one[256];
	size_t n;

	while ((e = ERR_get_error()) != 0) {
		if (first == 0)
			first = e;
		last = e;
	}
	if (last == 0) {
		snprintf(buf, len, "%s", none);
		return buf;
	}
	ERR_error_string_n(last, buf, len);
	if (first != last && (n = strlen(buf)) + 2 < len) {
		ERR_error_string_n(first, one, sizeof(one));
		snprintf(buf + n, len - n, ": %s", one);
	}
	return buf;
}
