/*
 * Parse throughput of xml/stream.c against raw expat on the same bytes.
 *
 * Generates a stream of 100,000 XEP-0357 publishes shaped like the ones
 * Prosody sends (test/fixtures/prosody), with a different node, id, body
 * and secret in each, then parses it with:
 *   - xml_stream, building a tree per stanza and freeing it as it is taken;
 *   - expat with namespaces and no handlers (the floor);
 *   - expat with namespaces and empty element/text handlers.
 * Input goes in 16 kB writes, like reads from a socket.  The best of five
 * runs is reported.  Build without sanitizers for meaningful numbers.
 *
 *	test/bench/xml_bench [stanzas]
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <expat.h>

#include "xml/buf.h"
#include "xml/node.h"
#include "xml/stream.h"

#define CHUNK	16384
#define RUNS	5

static const char *const bodies[] = {
	"New Message!",
	"hi alice, from the harness",
	("Are we still on for dinner tonight? I booked the table for 8 & "
	"told them we'd be 4 <maybe 5>."),
	"\xf0\x9f\x91\x8d",
	"",
};

static void
gen(struct xml_buf *b, size_t n)
{
	char tmp[2048];
	const char *body;
	size_t i;
	int len;

	xml_buf_append_str(b, "<?xml version='1.0'?><stream:stream "
	    "xmlns:stream='http://etherx.jabber.org/streams' "
	    "xmlns='jabber:component:accept' from='localhost' id='b1'>");
	for (i = 0; i < n; i++) {
		body = bodies[i % (sizeof(bodies) / sizeof(*bodies))];
		len = snprintf(tmp, sizeof(tmp),
		    "<iq from='localhost' to='push.localhost' "
		    "id='%08zx4e874a38fd27a41e1e1dc055136668954bba953e8d1bb3e71f'"
		    " type='set'><pubsub xmlns='http://jabber.org/protocol/pubsub'>"
		    "<publish node='%08zx3003b7c50f5b81a2c74282'><item>"
		    "<notification xmlns='urn:xmpp:push:0'>"
		    "<x xmlns='jabber:x:data' type='form'>"
		    "<field type='hidden' var='FORM_TYPE'>"
		    "<value>urn:xmpp:push:summary</value></field>"
		    "<field type='text-single' var='message-count'>"
		    "<value>%zu</value></field>"
		    "<field type='text-single' var='pending-subscription-count'/>"
		    "<field type='jid-single' var='last-message-sender'>"
		    "<value>user%zu@localhost/res</value></field>"
		    "<field type='text-single' var='last-message-body'>",
		    i * 2654435761u, i * 40503u, i % 17 + 1, i % 1000);
		xml_buf_append(b, tmp, (size_t)len);
		if (*body != '\0') {
			xml_buf_append_str(b, "<value>");
			xml_buf_append_text(b, body, strlen(body));
			xml_buf_append_str(b, "</value>");
		}
		len = snprintf(tmp, sizeof(tmp), "</field></x></notification>"
		    "</item></publish><publish-options>"
		    "<x type='submit' xmlns='jabber:x:data'>"
		    "<field type='hidden' var='FORM_TYPE'><value>"
		    "http://jabber.org/protocol/pubsub#publish-options</value>"
		    "</field><field var='secret'><value>%016zx%016zx</value>"
		    "</field></x></publish-options></pubsub></iq>",
		    i * 0x9e3779b97f4a7c15u, i);
		xml_buf_append(b, tmp, (size_t)len);
	}
	xml_buf_append_str(b, "</stream:stream>");
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t stanzas;
static int failed;

static void
bench_drain(struct xml_stream *s)
{
	struct xml_stream_event ev;

	while (xml_stream_next(s, &ev) != XML_STREAM_EV_NONE)
		if (ev.type == XML_STREAM_EV_STANZA) {
			stanzas++;
			xml_node_free(&ev.stanza);
		} else if (ev.type == XML_STREAM_EV_ERROR) {
			fprintf(stderr, "xml_stream: %s: %s\n",
			    xml_stream_cond_name(ev.cond), ev.text);
			failed = 1;
		}
}

static double
run_stream(const char *p, size_t len)
{
	struct xml_stream *s;
	size_t off, n, used;
	double t0;
	int rc;

	s = xml_stream_new(XML_STREAM_COMPONENT_NS, NULL);
	stanzas = 0;
	t0 = now();
	for (off = 0; off < len; off += used) {
		n = len - off < CHUNK ? len - off : CHUNK;
		rc = xml_stream_feed(s, p + off, n, &used);
		bench_drain(s);
		if (rc != 0)
			break;
	}
	t0 = now() - t0;
	xml_stream_free(&s);
	return t0;
}

static void
noop_start(void *arg, const XML_Char *name, const XML_Char **atts)
{
}

static void
noop_end(void *arg, const XML_Char *name)
{
}

static void
noop_text(void *arg, const XML_Char *s, int len)
{
}

static double
run_expat(const char *p, size_t len, int handlers)
{
	XML_Parser x;
	size_t off, n;
	double t0;

	x = XML_ParserCreateNS("UTF-8", '\xff');
	if (handlers) {
		XML_SetElementHandler(x, noop_start, noop_end);
		XML_SetCharacterDataHandler(x, noop_text);
	}
#ifdef HAVE_XML_SETREPARSEDEFERRALENABLED
	XML_SetReparseDeferralEnabled(x, XML_FALSE);
#endif
	t0 = now();
	for (off = 0; off < len; off += n) {
		n = len - off < CHUNK ? len - off : CHUNK;
		if (XML_Parse(x, p + off, (int)n, XML_FALSE) != XML_STATUS_OK) {
			fprintf(stderr, "expat: %s\n",
			    XML_ErrorString(XML_GetErrorCode(x)));
			failed = 1;
			break;
		}
	}
	t0 = now() - t0;
	XML_ParserFree(x);
	return t0;
}

static void
report(const char *name, double t, size_t len, size_t n, double base)
{
	printf("%-28s %8.1f MB/s %10.0f stanzas/s", name, len / t / 1e6,
	    n / t);
	if (base > 0)
		printf("   %.2fx the time of raw expat", t / base);
	printf("\n");
}

int
main(int argc, char *argv[])
{
	struct xml_buf b = XML_BUF_INIT;
	double ts = 1e9, te = 1e9, th = 1e9, t;
	size_t n = 100000;
	int i;

	if (argc > 1)
		n = strtoul(argv[1], NULL, 10);
	gen(&b, n);
	printf("%zu publishes, %.1f MB, %zu bytes each on average, "
	    "expat %s\n", n, b.len / 1e6, b.len / (n ? n : 1),
	    XML_ExpatVersion());
	for (i = 0; i < RUNS; i++) {
		if ((t = run_expat(b.data, b.len, 0)) < te)
			te = t;
		if ((t = run_expat(b.data, b.len, 1)) < th)
			th = t;
		if ((t = run_stream(b.data, b.len)) < ts)
			ts = t;
	}
	if (stanzas != n)
		failed = 1;
	report("raw expat (no handlers)", te, b.len, n, 0);
	report("expat, empty handlers", th, b.len, n, te);
	report("xml_stream (trees)", ts, b.len, n, te);
	printf("ratio xml_stream / raw expat: %.2f (goal <= 2)\n", ts / te);
	xml_buf_free(&b);
	return failed;
}
