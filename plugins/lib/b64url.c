/*
 * libxpplug: base64url (RFC 4648 section 5) without padding, as JWTs use
 * it (RFC 7515 section 2), and padded base64 (section 4) for payloads
 * that carry it (a relayed Push 2.0 payload).  The decoder also takes the
 * standard alphabet's '+' and '/' and trailing '=' padding.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "plugins/lib/pu.h"

static const char b64url_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char b64_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *
b64_encode(const void *data, size_t len, const char *alphabet, bool pad)
{
	const unsigned char *p = data;
	char *out, *o;
	size_t i;
	unsigned int v;

	out = o = pu_malloc((len + 2) / 3 * 4 + 1);
	for (i = 0; i + 2 < len; i += 3) {
		v = (unsigned int)p[i] << 16 | (unsigned int)p[i + 1] << 8 |
		    p[i + 2];
		*o++ = alphabet[(v >> 18) & 63];
		*o++ = alphabet[(v >> 12) & 63];
		*o++ = alphabet[(v >> 6) & 63];
		*o++ = alphabet[v & 63];
	}
	if (len - i == 1) {
		v = (unsigned int)p[i] << 16;
		*o++ = alphabet[(v >> 18) & 63];
		*o++ = alphabet[(v >> 12) & 63];
	} else if (len - i == 2) {
		v = (unsigned int)p[i] << 16 | (unsigned int)p[i + 1] << 8;
		*o++ = alphabet[(v >> 18) & 63];
		*o++ = alphabet[(v >> 12) & 63];
		*o++ = alphabet[(v >> 6) & 63];
	}
	while (pad && (o - out) % 4 != 0)
		*o++ = '=';
	*o = '\0';
	return out;
}

char *
pu_b64url(const void *data, size_t len)
{
	return b64_encode(data, len, b64url_chars, false);
}

char *
pu_b64(const void *data, size_t len)
{
	return b64_encode(data, len, b64_chars, true);
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
