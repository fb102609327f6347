/*
 * libxpplug: JSON text written straight into a pu_buf.  Escaping in place
 * after one reservation keeps the common case (no byte to escape) a copy
 * loop; what the modules send is small and built once per push.
 */
#include "config.h"

#include <string.h>

#include "plugins/lib/pu.h"

void
pu_json_str(struct pu_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	char *w;
	size_t i;

	/* Every byte as \u00XX, and the quotes; mostly there is room. */
	if (b->max == 0 && b->cap - b->len > 6 * n + 2)
		w = b->data + b->len;
	else if ((w = pu_buf_reserve(b, 6 * n + 2)) == NULL)
		return;
	*w++ = '"';
	for (i = 0; i < n; i++) {
		if (u[i] >= 0x20 && u[i] != '"' && u[i] != '\\') {
			*w++ = (char)u[i];
			continue;
		}
		*w++ = '\\';
		switch (u[i]) {
		case '"':
		case '\\':
			*w++ = (char)u[i];
			break;
		case '\b':
			*w++ = 'b';
			break;
		case '\f':
			*w++ = 'f';
			break;
		case '\n':
			*w++ = 'n';
			break;
		case '\r':
			*w++ = 'r';
			break;
		case '\t':
			*w++ = 't';
			break;
		default:
			*w++ = 'u';
			*w++ = '0';
			*w++ = '0';
			*w++ = hex[u[i] >> 4];
			*w++ = hex[u[i] & 0x0f];
			break;
		}
	}
	*w++ = '"';
	*w = '\0';
	b->len = (size_t)(w - b->data);
}
