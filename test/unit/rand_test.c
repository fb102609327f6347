/*
 * rand: identifiers are base64url, the advertised length, and differ.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/rand.h"
#include "test/lib/tap.h"

int
main(void)
{
	char buf[32], *a, *b;
	unsigned char z[3] = { 0xfb, 0xff, 0xbf };
	size_t i;
	int good = 1;

	rand_b64url(buf, sizeof(buf), "foobar", 6);
	is_str(buf, "Zm9vYmFy", "RFC 4648 vector foobar");
	rand_b64url(buf, sizeof(buf), "fo", 2);
	is_str(buf, "Zm8", "no padding");
	rand_b64url(buf, sizeof(buf), z, 3);
	is_str(buf, "-_-_", "URL-safe alphabet");
	rand_b64url(buf, 4, "foobar", 6);
	is_str(buf, "Zm9", "truncates to the buffer");

	a = rand_id();
	b = rand_id();
	is_int(strlen(a), RAND_ID_LEN, "id length");
	ok(RAND_ID_BYTES * 8 >= 128, "at least 128 bits");
	ok(strcmp(a, b) != 0, "two ids differ");
	for (i = 0; a[i] != '\0'; i++)
		if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "abcdefghijklmnopqrstuvwxyz0123456789-_", a[i]) == NULL)
			good = 0;
	ok(good, "id is base64url: %s", a);
	free(a);
	free(b);
	return tap_done();
}
