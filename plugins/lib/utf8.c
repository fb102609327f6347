/*
 * Cutting UTF-8 text to a byte budget without splitting a character: what
 * every module that shortens a message body to fit its provider's limit
 * needs (fcm.c; apns_payload.c has the same loop).
 */
#include "config.h"

#include "plugins/lib/pu.h"

size_t
pu_utf8_cut(const char *s, size_t len, size_t n)
{
	if (n >= len)
		return len;
	/* s[n] is a continuation byte: the character starts before n. */
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}
