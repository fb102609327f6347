/*
 * Growable byte buffer and XML escaping (XML 1.0 §2.4, §3.1).
 *
 * Escaping scans for the next byte that needs an entity with a 256-entry
 * table and copies the clean span in one memcpy, so ordinary text costs a
 * table lookup per byte and no call per character.  A carriage return is
 * written as a character reference, and so are tab and newline inside an
 * attribute value: a parser would otherwise normalise them (XML 1.0 §2.11,
 * §3.3.3) and the text read back would differ from the text written.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xml/buf.h"
#include "xml/mem.h"

/* 1: escape in text and attributes, 2: in attributes only. */
static const unsigned char buf_escape_class[256] = {
	['&'] = 1, ['<'] = 1, ['>'] = 1, ['\r'] = 1,
	['"'] = 2, ['\''] = 2, ['\t'] = 2, ['\n'] = 2,
};

void
xml_buf_init(struct xml_buf *b)
{
	b->data = NULL;
	b->len = b->cap = 0;
}

void
xml_buf_free(struct xml_buf *b)
{
	free(b->data);
	xml_buf_init(b);
}

void
xml_buf_reset(struct xml_buf *b)
{
	b->len = 0;
}

void
xml_buf_reserve(struct xml_buf *b, size_t more)
{
	size_t cap;

	if (b->cap - b->len > more)
		return;
	if (more > SIZE_MAX / 2 - b->len)
		abort();
	cap = b->cap < 256 ? 256 : b->cap;
	while (cap - b->len <= more)
		cap *= 2;
	b->data = xml_mem_realloc(b->data, cap);
	b->cap = cap;
}

void
xml_buf_append(struct xml_buf *b, const void *p, size_t n)
{
	if (n == 0)
		return;
	xml_buf_reserve(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void
xml_buf_append_str(struct xml_buf *b, const char *s)
{
	xml_buf_append(b, s, strlen(s));
}

void
xml_buf_append_char(struct xml_buf *b, char c)
{
	xml_buf_reserve(b, 1);
	b->data[b->len++] = c;
}

static void
buf_append_escaped(struct xml_buf *b, const char *s, size_t n,
    unsigned char maxclass)
{
	const unsigned char *p = (const unsigned char *)s;
	const unsigned char *end = p + n, *span;
	const char *ent;

	while (p < end) {
		span = p;
		while (p < end && (buf_escape_class[*p] == 0 ||
		    buf_escape_class[*p] > maxclass))
			p++;
		xml_buf_append(b, span, p - span);
		if (p == end)
			break;
		switch (*p) {
		case '&':
			ent = "&amp;";
			break;
		case '<':
			ent = "&lt;";
			break;
		case '>':
			ent = "&gt;";
			break;
		case '"':
			ent = "&quot;";
			break;
		case '\'':
			ent = "&apos;";
			break;
		case '\r':
			ent = "&#13;";
			break;
		case '\t':
			ent = "&#9;";
			break;
		default:
			ent = "&#10;";
			break;
		}
		xml_buf_append_str(b, ent);
		p++;
	}
}

void
xml_buf_append_text(struct xml_buf *b, const char *s, size_t n)
{
	buf_append_escaped(b, s, n, 1);
}

void
xml_buf_append_attr(struct xml_buf *b, const char *s, size_t n)
{
	buf_append_escaped(b, s, n, 2);
}

const char *
xml_buf_cstr(struct xml_buf *b)
{
	xml_buf_reserve(b, 1);
	b->data[b->len] = '\0';
	return b->data;
}

char *
xml_buf_steal(struct xml_buf *b, size_t *len_r)
{
	char *p;

	xml_buf_cstr(b);
	p = b->data;
	if (len_r != NULL)
		*len_r = b->len;
	xml_buf_init(b);
	return p;
}
