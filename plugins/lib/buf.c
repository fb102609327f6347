/*
 * libxpplug: a growable byte buffer with an optional size limit, for
 * response bodies and for JSON written in place.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "plugins/lib/pu.h"

#define PU_BUF_FIRST	1024	/* bytes allocated by the first add */

void
pu_buf_add(struct pu_buf *b, const void *data, size_t len)
{
	if (b->overflow || len == 0)
		return;
	if (b->max != 0 && b->len + len > b->max) {
		b->overflow = true;
		return;
	}
	if (b->len + len > b->cap) {
		b->cap = b->cap == 0 ? PU_BUF_FIRST : b->cap;
		while (b->cap < b->len + len)
			b->cap *= 2;
		b->data = pu_realloc(b->data, b->cap);
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
}

void
pu_buf_free(struct pu_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
	b->overflow = false;
}
