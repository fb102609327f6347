/*
 * Random identifiers: getrandom(2) bytes encoded as base64url (RFC 4648
 * section 5) without padding, so they are safe in XMPP node names, URLs and
 * psql without quoting.  A failing getrandom() is fatal: there is no safe
 * fallback for secrets.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <sys/random.h>

#include "core/log.h"
#include "core/rand.h"
#include "core/xmalloc.h"

void
rand_bytes(void *buf, size_t len)
{
	unsigned char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = getrandom(p, len, 0);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			fatal("getrandom");
		}
		p += n;
		len -= (size_t)n;
	}
}

/* Encode len bytes into dst (size dstlen, NUL-terminated, truncated). */
void
rand_b64url(char *dst, size_t dstlen, const void *src, size_t len)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const unsigned char *s = src;
	size_t i, o = 0;
	uint32_t v;
	int bits;

	if (dstlen == 0)
		return;
	v = 0;
	bits = 0;
	for (i = 0; i < len; i++) {
		v = (v << 8) | s[i];
		bits += 8;
		while (bits >= 6 && o + 1 < dstlen) {
			bits -= 6;
			dst[o++] = alphabet[(v >> bits) & 0x3f];
		}
	}
	if (bits > 0 && o + 1 < dstlen)
		dst[o++] = alphabet[(v << (6 - bits)) & 0x3f];
	dst[o] = '\0';
}

char *
rand_id(void)
{
	unsigned char raw[RAND_ID_BYTES];
	char *s;

	rand_bytes(raw, sizeof(raw));
	s = xmalloc(RAND_ID_LEN + 1);
	rand_b64url(s, RAND_ID_LEN + 1, raw, sizeof(raw));
	return s;
}
