/*
 * libxpplug: a growable byte buffer with an optional size limit, for
 * response bodies and for JSON written in place.  The bytes are always
 * followed by a NUL that len does not count, so a buffer of text is a
 * string.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "plugins/lib/pu.h"

#define PU_BUF_FIRST	1024	/* bytes allocated by the first add */

char *
pu_buf_reserve(struct pu_buf *b, size_t n)
{
	if (b->overflow)
		return NULL;
	if (b->max != 0 && b->len + n > b->max) {
		b->overflow = true;
		return NULL;
	}
	if (b->cap - b->len < n + 1) {
		b->cap = b->cap == 0 ? PU_BUF_FIRST : b->cap;
		while (b->cap - b->len < n + 1)
			b->cap *= 2;
		b->data = pu_realloc(b->data, b->cap);
	}
	return b->data + b->len;
}

/* pu_buf_add's way when the room or the limit needs looking at. */
void
pu_buf_append(struct pu_buf *b, const void *data, size_t len)
{
	char *w;

	if ((w = pu_buf_reserve(b, len)) == NULL)
		return;
	memcpy(w, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void
pu_buf_free(struct pu_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
	b->overflow = false;
}
