/*
 * libFuzzer target for xml/stream.c.
 *
 * The first input byte picks how the rest is fed: its low 7 bits + 1 give
 * the write size, and its high bit prepends a valid component stream header
 * so the fuzzer spends its time inside stanzas.  Tight limits make the
 * limit paths reachable, and a queue of at most 4 stanzas makes the parser
 * pause and resume.  Events are taken after every write; when the second
 * input byte is odd, those of the last write are left queued for the
 * reset.  Every stanza delivered must serialize and
 * parse back to an equal tree; anything else aborts.
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

/* Serialize, parse in a fresh stream with roomier limits, compare. */
static void
fuzz_roundtrip(const struct xml_node *n)
{
	struct xml_stream_limits lim;
	struct xml_stream_event ev;
	struct xml_buf b = XML_BUF_INIT;
	struct xml_node *got = NULL;
	struct xml_stream *s;
	size_t used;

	xml_stream_limits_default(&lim);
	lim.stanza_bytes *= 8;		/* escaping makes text longer */
	xml_buf_append_str(&b, HEAD);
	xml_node_serialize_with_default_ns(n, XML_STREAM_COMPONENT_NS, &b);
	s = xml_stream_new(XML_STREAM_COMPONENT_NS, &lim);
	if (xml_stream_feed(s, b.data, b.len, &used) != 0 || used != b.len)
		abort();
	while (xml_stream_next(s, &ev) != XML_STREAM_EV_NONE)
		if (ev.type == XML_STREAM_EV_STANZA) {
			if (got != NULL)
				abort();
			got = ev.stanza;
		} else if (ev.type != XML_STREAM_EV_OPEN)
			abort();
	if (got == NULL || !xml_node_equal(n, got))
		abort();
	xml_node_free(&got);
	xml_stream_free(&s);
	xml_buf_free(&b);
}

/* Takes every queued event; false after the stream's error. */
static int
fuzz_drain(struct xml_stream *s)
{
	struct xml_stream_event ev;
	int failed = 0;

	while (xml_stream_next(s, &ev) != XML_STREAM_EV_NONE)
		if (ev.type == XML_STREAM_EV_STANZA) {
			fuzz_roundtrip(ev.stanza);
			xml_node_free(&ev.stanza);
		} else if (ev.type == XML_STREAM_EV_ERROR)
			failed = 1;
	return !failed;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xml_stream_limits lim;
	struct xml_stream *s;
	size_t chunk, off, n, used;
	int keep = 1;

	if (size < 1)
		return 0;
	chunk = (data[0] & 0x7f) + 1;
	xml_stream_limits_default(&lim);
	lim.stanza_bytes = 4096;
	lim.depth = 16;
	lim.attrs = 8;
	lim.attr_len = 256;
	lim.text_len = 1024;
	lim.queue = 4;
	s = xml_stream_new(XML_STREAM_COMPONENT_NS, &lim);
	if (data[0] & 0x80) {
		xml_stream_feed(s, HEAD, strlen(HEAD), &used);
		keep = fuzz_drain(s);
	}
	for (off = 1; keep && off < size; off += used) {
		n = size - off < chunk ? size - off : chunk;
		xml_stream_feed(s, data + off, n, &used);
		if (used > n)
			abort();
		if (size > 1 && (data[1] & 1) && off + used >= size)
			break;		/* reset with events still queued */
		keep = fuzz_drain(s);
	}
	/* Reuse after reset must work too. */
	xml_stream_reset(s);
	if (xml_stream_feed(s, HEAD "<iq/>", strlen(HEAD "<iq/>"), &used) != 0)
		abort();
	if (!fuzz_drain(s))
		abort();
	xml_stream_free(&s);
	return 0;
}
