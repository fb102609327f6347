/*
 * Helpers for provider modules: see util.h.  Running out of memory aborts,
 * as the core's fatal() would: a module has no useful way to go on.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/h2/util.h"

static void
pu_oom(void)
{
	fputs("xpushd provider module: out of memory\n", stderr);
	abort();
}

void *
pu_calloc(size_t n, size_t size)
{
	void *p;

	if ((p = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size)) == NULL)
		pu_oom();
	return p;
}

void *
pu_malloc(size_t size)
{
	void *p;

	if ((p = malloc(size == 0 ? 1 : size)) == NULL)
		pu_oom();
	return p;
}

void *
pu_realloc(void *old, size_t size)
{
	void *p;

	if ((p = realloc(old, size == 0 ? 1 : size)) == NULL)
		pu_oom();
	return p;
}

char *
pu_strdup(const char *s)
{
	char *p;

	if ((p = strdup(s)) == NULL)
		pu_oom();
	return p;
}

char *
pu_asprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		pu_oom();
	return s;
}

static const char b64url_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *
pu_b64url(const void *data, size_t len)
{
	const unsigned char *p = data;
	char *out, *o;
	size_t i;
	unsigned int v;

	out = o = pu_malloc((len + 2) / 3 * 4 + 1);
	for (i = 0; i + 2 < len; i += 3) {
		v = (unsigned int)p[i] << 16 | (unsigned int)p[i + 1] << 8 |
		    p[i + 2];
		*o++ = b64url_chars[(v >> 18) & 63];
		*o++ = b64url_chars[(v >> 12) & 63];
		*o++ = b64url_chars[(v >> 6) & 63];
		*o++ = b64url_chars[v & 63];
	}
	if (len - i == 1) {
		v = (unsigned int)p[i] << 16;
		*o++ = b64url_chars[(v >> 18) & 63];
		*o++ = b64url_chars[(v >> 12) & 63];
	} else if (len - i == 2) {
		v = (unsigned int)p[i] << 16 | (unsigned int)p[i + 1] << 8;
		*o++ = b64url_chars[(v >> 18) & 63];
		*o++ = b64url_chars[(v >> 12) & 63];
		*o++ = b64url_chars[(v >> 6) & 63];
	}
	*o = '\0';
	return out;
}

static int
b64url_value(int c)
{
	const char *p;

	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	if (c == '\0' || (p = strchr(b64url_chars, c)) == NULL)
		return -1;
	return (int)(p - b64url_chars);
}

int
pu_b64url_decode(const char *s, size_t len, unsigned char **out_r,
    size_t *outlen_r)
{
	unsigned char *out;
	size_t i, n = 0;
	unsigned int acc = 0;
	int bits = 0, v;

	while (len > 0 && s[len - 1] == '=')
		len--;
	out = pu_malloc(len * 3 / 4 + 1);
	for (i = 0; i < len; i++) {
		if ((v = b64url_value((unsigned char)s[i])) < 0) {
			free(out);
			return -1;
		}
		acc = (acc << 6) | (unsigned int)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (acc >> bits) & 0xff;
		}
	}
	*out_r = out;
	*outlen_r = n;
	return 0;
}
