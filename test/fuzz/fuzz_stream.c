/*
 * libFuzzer target for xml/stream.c.
 *
 * The first input byte picks how the rest is fed: its low 7 bits + 1 give
 * the write size, and its high bit prepends a valid component stream header
 * so the fuzzer spends its time inside stanzas.  Tight limits make the
 * limit paths reachable.  Every stanza delivered must serialize and parse
 * back to an equal tree; anything else aborts.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xml/buf.h"
#include "xml/node.h"
#include "xml/stream.h"

#define HEAD	"<stream:stream xmlns:stream='http://etherx.jabber.org/streams' " \
		"xmlns='jabber:component:accept'>"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct fuzz_check {
	struct xml_node	*got;
	int		 errors;
};

static void
check_stanza_cb(void *arg, struct xml_node *n)
{
	struct fuzz_check *c = arg;

	if (c->got != NULL)
		abort();
	c->got = n;
}

static void
check_error_cb(void *arg, enum xml_stream_cond cond, const char *text)
{
	struct fuzz_check *c = arg;

	c->errors++;
}

/* Serialize, parse in a fresh stream with roomier limits, compare. */
static void
fuzz_roundtrip(const struct xml_node *n)
{
	const struct xml_stream_cbs cbs = { NULL, check_stanza_cb, NULL,
	    check_error_cb };
	struct xml_stream_limits lim;
	struct fuzz_check c = { NULL, 0 };
	struct xml_buf b = XML_BUF_INIT;
	struct xml_stream *s;

	xml_stream_limits_default(&lim);
	lim.stanza_bytes *= 8;		/* escaping makes text longer */
	xml_buf_append_str(&b, HEAD);
	xml_node_serialize_with_default_ns(n, XML_STREAM_COMPONENT_NS, &b);
	s = xml_stream_new(XML_STREAM_COMPONENT_NS, &lim, &cbs, &c);
	xml_stream_feed(s, b.data, b.len);
	if (c.errors != 0 || c.got == NULL || !xml_node_equal(n, c.got))
		abort();
	xml_node_free(&c.got);
	xml_stream_free(&s);
	xml_buf_free(&b);
}

static void
fuzz_stanza_cb(void *arg, struct xml_node *n)
{
	fuzz_roundtrip(n);
	xml_node_free(&n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct xml_stream_cbs cbs = { NULL, fuzz_stanza_cb, NULL, NULL };
	struct xml_stream_limits lim;
	struct xml_stream *s;
	size_t chunk, off, n;

	if (size < 1)
		return 0;
	chunk = (data[0] & 0x7f) + 1;
	xml_stream_limits_default(&lim);
	lim.stanza_bytes = 4096;
	lim.depth = 16;
	lim.attrs = 8;
	lim.attr_len = 256;
	lim.text_len = 1024;
	s = xml_stream_new(XML_STREAM_COMPONENT_NS, &lim, &cbs, NULL);
	if (data[0] & 0x80)
		xml_stream_feed(s, HEAD, strlen(HEAD));
	for (off = 1; off < size; off += n) {
		n = size - off < chunk ? size - off : chunk;
		if (xml_stream_feed(s, data + off, n) != 0)
			break;
	}
	/* Reuse after reset must work too. */
	xml_stream_reset(s);
	xml_stream_feed(s, HEAD "<iq/>", strlen(HEAD "<iq/>"));
	xml_stream_free(&s);
	return 0;
}
