/*
 * xml/stream.c: fixtures in every chunk size (and with the smallest
 * queue), round trips, byte-by-byte delivery, hostile input (each with its
 * RFC 6120 condition), limits, the event queue (order, its bound, reset
 * and free while it holds stanzas).  Run under ASan/LSan in CI, so "no
 * leak" is checked by the sanitizer rather than here.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/lib/tap.h"
#include "test/unit/xml_common.h"
#include "xml/node.h"
#include "xml/stream.h"

static void
test_fixture(const char *path)
{
	struct collect ref, c, again;
	char *stanza, *stream;
	size_t slen, len, chunk;
	int same = 1;
	size_t bad = 0;

	if (strstr(path, "xep0114-stream.xml") != NULL)
		stream = fixture_read(path, &len);
	else {
		stanza = fixture_stanza(path, &slen);
		stream = fixture_wrap(stanza, slen, &len);
		free(stanza);
	}

	collect_init(&ref);
	collect_parse(&ref, NULL, stream, len, 0);
	ok(ref.opens == 1 && ref.closes == 1 && ref.errors == 0 &&
	    ref.nstanzas >= 1, "%s: parses (%zu stanzas, error '%s')", path,
	    ref.nstanzas, ref.errtext);

	/* Serialize, parse again: the same trees and the same bytes. */
	{
		size_t wl, i;
		char *w;

		collect_init(&again);
		w = fixture_wrap(ref.out.data, ref.out.len, &wl);
		collect_parse(&again, NULL, w, wl, 0);
		free(w);
		same = again.nstanzas == ref.nstanzas && again.errors == 0;
		for (i = 0; same && i < ref.nstanzas; i++)
			same = xml_node_equal(ref.stanzas[i], again.stanzas[i]);
		ok(same, "%s: parse, serialize, parse gives the same tree",
		    path);
		ok(again.out.len == ref.out.len &&
		    memcmp(again.out.data, ref.out.data, ref.out.len) == 0,
		    "%s: serialization is stable", path);
		collect_free(&again);
	}

	/* Every chunk size from 1 byte to the whole input. */
	for (chunk = 1; chunk <= len; chunk++) {
		collect_init(&c);
		collect_parse(&c, NULL, stream, len, chunk);
		if (c.errors != 0 || c.closes != 1 ||
		    c.nstanzas != ref.nstanzas || c.out.len != ref.out.len ||
		    memcmp(c.out.data, ref.out.data, c.out.len) != 0) {
			if (bad++ == 0)
				diag("chunk %zu differs: %s", chunk, c.errtext);
		}
		collect_free(&c);
	}
	ok(bad == 0, "%s: same result in all %zu chunk sizes", path, len);
	collect_free(&ref);
	free(stream);
}

static void
test_fixtures(void)
{
	const char *dirs[] = { "test/fixtures/xml", "test/fixtures/prosody" };
	size_t i, j, n;
	char **v;

	for (i = 0; i < 2; i++) {
		v = fixture_list(dirs[i], &n);
		ok(n > 0, "%zu fixtures in %s", n, dirs[i]);
		for (j = 0; j < n; j++)
			test_fixture(v[j]);
		fixture_list_free(v, n);
	}
}

static void
test_header(void)
{
	struct collect c;
	size_t len;
	char *s;

	s = fixture_read("test/fixtures/xml/xep0114-stream.xml", &len);
	collect_init(&c);
	collect_parse(&c, NULL, s, len, 0);
	is_str(c.id, "3BF96D32", "header id");
	is_str(c.lang, "en", "header xml:lang");
	is_int(c.nstanzas, 3, "handshake and two iqs");
	ok(c.nstanzas == 3 && xml_node_is(c.stanzas[0], "handshake",
	    XML_STREAM_COMPONENT_NS), "first stanza is <handshake/> in %s",
	    XML_STREAM_COMPONENT_NS);
	ok(c.nstanzas == 3 && xml_node_child(c.stanzas[2], "ping",
	    "urn:xmpp:ping") != NULL, "ping child in its own namespace");
	collect_free(&c);
	free(s);
}

/* The stanza must come out as soon as its last '>' is in, not later. */
static void
test_dribble(void)
{
	const char *head = TEST_STREAM_HEAD;
	struct xml_stream *s;
	struct collect c;
	char *stanza;
	size_t len, i;
	int early = 0, rc = 0;

	stanza = fixture_stanza("test/fixtures/prosody/offline-chat-body.xml",
	    &len);
	while (len > 0 && stanza[len - 1] != '>')
		len--;
	collect_init(&c);
	s = xml_stream_new(XML_STREAM_COMPONENT_NS, NULL);
	for (i = 0; head[i] != '\0'; i++)
		rc |= collect_feed(&c, s, head + i, 1);
	ok(c.opens == 1, "header complete: its event is queued");
	for (i = 0; i < len; i++) {
		rc |= collect_feed(&c, s, stanza + i, 1);
		if (i + 1 < len && c.nstanzas != 0)
			early++;
	}
	ok(rc == 0 && early == 0, "dribbled stanza not delivered early");
	is_int(c.nstanzas, 1, "delivered on its closing '>'");
	rc = collect_feed(&c, s, "<iq type='get' id='x'/>", 23);
	is_int(c.nstanzas, 2, "a self-closed stanza is delivered at once");
	xml_stream_free(&s);
	collect_free(&c);
	ok(s == NULL, "free clears the pointer");
	free(stanza);
}

struct hostile {
	const char		*name;
	const char		*body;		/* after the stream header */
	enum xml_stream_cond	 cond;
	int			 no_header;	/* body is the whole input */
};

static const struct hostile hostiles[] = {
	{ "billion laughs",
	  "<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>"
	  "<!ENTITY lol2 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>"
	  "<!ENTITY lol3 '&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;'>"
	  "<!ENTITY lol4 '&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;'>"
	  "<!ENTITY lol5 '&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;'>"
	  "<!ENTITY lol6 '&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;'>"
	  "<!ENTITY lol7 '&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;'>"
	  "<!ENTITY lol8 '&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;'>"
	  "<!ENTITY lol9 '&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;'>"
	  "]><stream:stream xmlns:stream='http://etherx.jabber.org/streams' "
	  "xmlns='jabber:component:accept'><message><body>&lol9;</body>"
	  "</message>", XML_STREAM_COND_RESTRICTED_XML, 1 },
	{ "external entity",
	  "<!DOCTYPE s [<!ENTITY xxe SYSTEM 'file:///etc/passwd'>]>"
	  "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' "
	  "xmlns='jabber:component:accept'><message><body>&xxe;</body>"
	  "</message>", XML_STREAM_COND_RESTRICTED_XML, 1 },
	{ "undeclared entity reference",
	  "<message><body>&xxe;</body></message>",
	  XML_STREAM_COND_NOT_WELL_FORMED, 0 },
	{ "processing instruction",
	  "<message><?php echo 1; ?></message>",
	  XML_STREAM_COND_RESTRICTED_XML, 0 },
	{ "processing instruction between stanzas",
	  "<?xml-stylesheet href='a'?>",
	  XML_STREAM_COND_RESTRICTED_XML, 0 },
	{ "comment",
	  "<message><!-- hi --></message>",
	  XML_STREAM_COND_RESTRICTED_XML, 0 },
	{ "comment before the header",
	  "<!-- hi --><stream:stream "
	  "xmlns:stream='http://etherx.jabber.org/streams' "
	  "xmlns='jabber:component:accept'>",
	  XML_STREAM_COND_RESTRICTED_XML, 1 },
	{ "invalid UTF-8",
	  "<message><body>caf\xc3\x28</body></message>",
	  XML_STREAM_COND_NOT_WELL_FORMED, 0 },
	{ "overlong UTF-8",
	  "<message><body>\xc0\xbc</body></message>",
	  XML_STREAM_COND_NOT_WELL_FORMED, 0 },
	{ "second stream header",
	  "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' "
	  "xmlns='jabber:component:accept'>",
	  XML_STREAM_COND_BAD_FORMAT, 0 },
	{ "stanza cut at stream close",
	  "<message><body>half</stream:stream>",
	  XML_STREAM_COND_NOT_WELL_FORMED, 0 },
	{ "mismatched tags",
	  "<message><body></message></body>",
	  XML_STREAM_COND_NOT_WELL_FORMED, 0 },
	{ "unbound prefix",
	  "<message><foo:bar/></message>",
	  XML_STREAM_COND_NOT_WELL_FORMED, 0 },
	{ "text between stanzas",
	  "hello<message/>",
	  XML_STREAM_COND_BAD_FORMAT, 0 },
	{ "wrong stream namespace",
	  "<stream:stream xmlns:stream='urn:wrong' "
	  "xmlns='jabber:component:accept'>",
	  XML_STREAM_COND_INVALID_NAMESPACE, 1 },
	{ "wrong content namespace",
	  "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' "
	  "xmlns='jabber:client'>",
	  XML_STREAM_COND_INVALID_NAMESPACE, 1 },
	{ "no content namespace",
	  "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>",
	  XML_STREAM_COND_INVALID_NAMESPACE, 1 },
	{ "wrong root element",
	  "<stream:flow xmlns:stream='http://etherx.jabber.org/streams' "
	  "xmlns='jabber:component:accept'>",
	  XML_STREAM_COND_BAD_FORMAT, 1 },
	{ "Latin-1 declaration",
	  "<?xml version='1.0' encoding='ISO-8859-1'?><stream:stream "
	  "xmlns:stream='http://etherx.jabber.org/streams' "
	  "xmlns='jabber:component:accept'>",
	  XML_STREAM_COND_UNSUPPORTED_ENCODING, 1 },
	{ "not XML at all",
	  "GET / HTTP/1.1\r\n\r\n",
	  XML_STREAM_COND_NOT_WELL_FORMED, 1 },
};

static struct collect
hostile_parse(const char *data, size_t len, const struct xml_stream_limits *l,
    size_t chunk)
{
	struct collect c;

	collect_init(&c);
	collect_parse(&c, l, data, len, chunk);
	return c;
}

static void
check_error(struct collect *c, enum xml_stream_cond want, const char *name)
{
	ok(c->errors == 1 && c->cond == want, "%s: %s (got %s: %s)", name,
	    xml_stream_cond_name(want), xml_stream_cond_name(c->cond),
	    c->errtext);
}

static void
test_hostile(void)
{
	struct collect c;
	const struct hostile *h;
	size_t i, len, hl = strlen(TEST_STREAM_HEAD);
	char *buf;

	for (i = 0; i < sizeof(hostiles) / sizeof(*hostiles); i++) {
		h = &hostiles[i];
		len = strlen(h->body);
		buf = malloc(hl + len + 1);
		if (h->no_header) {
			memcpy(buf, h->body, len);
		} else {
			memcpy(buf, TEST_STREAM_HEAD, hl);
			memcpy(buf + hl, h->body, len);
			len += hl;
		}
		c = hostile_parse(buf, len, NULL, 0);
		check_error(&c, h->cond, h->name);
		ok(c.nstanzas == 0, "%s: no stanza delivered", h->name);
		collect_free(&c);
		/* The same bytes one at a time: same verdict. */
		c = hostile_parse(buf, len, NULL, 1);
		check_error(&c, h->cond, h->name);
		collect_free(&c);
		free(buf);
	}
}

/* A buffer of head + n copies of unit + tail. */
static char *
repeat(const char *head, const char *unit, size_t n, const char *tail,
    size_t *len_r)
{
	size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail), i;
	char *p, *q;

	p = q = malloc(hl + ul * n + tl + 1);
	memcpy(q, head, hl);
	q += hl;
	for (i = 0; i < n; i++, q += ul)
		memcpy(q, unit, ul);
	memcpy(q, tail, tl + 1);
	*len_r = hl + ul * n + tl;
	return p;
}

struct bounded {
	int	errors;
	enum xml_stream_cond cond;
};

static void
bounded_drain(struct xml_stream *s, struct bounded *b)
{
	struct xml_stream_event ev;

	while (xml_stream_next(s, &ev) != XML_STREAM_EV_NONE)
		if (ev.type == XML_STREAM_EV_STANZA)
			xml_node_free(&ev.stanza);
		else if (ev.type == XML_STREAM_EV_ERROR) {
			b->errors++;
			b->cond = ev.cond;
		}
}

/* Feed in 4 kB writes; return how many bytes went in before the error. */
static size_t
feed_until_error(const char *data, size_t len, struct bounded *b)
{
	struct xml_stream *s;
	size_t off, n, used;
	int rc;

	memset(b, 0, sizeof(*b));
	s = xml_stream_new(XML_STREAM_COMPONENT_NS, NULL);
	for (off = 0; off < len && b->errors == 0; ) {
		n = len - off < 4096 ? len - off : 4096;
		rc = xml_stream_feed(s, data + off, n, &used);
		off += used;
		bounded_drain(s, b);
		if (rc != 0)
			break;
	}
	xml_stream_free(&s);
	return off;
}

/* head, n times "x", tail: parses as one stanza and no error. */
static void
one_stanza(const char *head, size_t n, const char *tail,
    const struct xml_stream_limits *l, const char *name)
{
	struct collect c;
	size_t len;
	char *p;

	p = repeat(head, "x", n, tail, &len);
	c = hostile_parse(p, len, l, 0);
	ok(c.errors == 0 && c.nstanzas == 1, "%s", name);
	collect_free(&c);
	free(p);
}

static void
test_limits(void)
{
	struct xml_stream_limits l;
	struct bounded b;
	struct collect c;
	size_t len, used;
	char *p, *q;

	/* 10 MB attribute: refused long before it is all read. */
	p = repeat(TEST_STREAM_HEAD "<message id='", "aaaaaaaaaa",
	    1024 * 1024, "'/>", &len);
	used = feed_until_error(p, len, &b);
	ok(b.errors == 1 && b.cond == XML_STREAM_COND_POLICY_VIOLATION,
	    "10 MB attribute: policy-violation");
	ok(used <= XML_STREAM_MAX_STANZA_BYTES + 2 * 16384,
	    "10 MB attribute: stopped after %zu bytes", used);
	free(p);

	/* 10 MB of text inside one stanza. */
	p = repeat(TEST_STREAM_HEAD "<message><body>", "bbbbbbbbbb",
	    1024 * 1024, "</body></message>", &len);
	used = feed_until_error(p, len, &b);
	ok(b.errors == 1 && b.cond == XML_STREAM_COND_POLICY_VIOLATION &&
	    used <= XML_STREAM_MAX_STANZA_BYTES + 2 * 16384,
	    "10 MB of text: policy-violation after %zu bytes", used);
	free(p);

	/* A start tag that never ends, between stanzas. */
	p = repeat(TEST_STREAM_HEAD "<message ", "a='b' ", 2 * 1024 * 1024,
	    "", &len);
	used = feed_until_error(p, len, &b);
	ok(b.errors == 1 && b.cond == XML_STREAM_COND_POLICY_VIOLATION &&
	    used <= XML_STREAM_MAX_STANZA_BYTES + 2 * 16384,
	    "endless start tag: policy-violation after %zu bytes", used);
	free(p);

	/* Whitespace keepalives do not count against any stanza. */
	p = repeat(TEST_STREAM_HEAD, " ", 1024 * 1024, "<iq/>", &len);
	used = feed_until_error(p, len, &b);
	ok(b.errors == 0, "1 MB of whitespace keepalives is fine");
	free(p);

	/* Deep nesting. */
	p = repeat(TEST_STREAM_HEAD "<message>", "<a>", 10000, "", &len);
	c = hostile_parse(p, len, NULL, 0);
	check_error(&c, XML_STREAM_COND_POLICY_VIOLATION, "deep nesting");
	collect_free(&c);
	free(p);
	q = repeat("", "<a>", XML_STREAM_MAX_DEPTH - 1, "", &len);
	p = repeat(TEST_STREAM_HEAD "<message>", q, 1, "", &len);
	free(q);
	q = repeat(p, "</a>", XML_STREAM_MAX_DEPTH - 1, "</message>", &len);
	c = hostile_parse(q, len, NULL, 0);
	ok(c.errors == 0 && c.nstanzas == 1, "depth %d is accepted",
	    XML_STREAM_MAX_DEPTH);
	collect_free(&c);
	free(p);
	free(q);

	/*
	 * Attributes per element and the length of one value follow from
	 * the stanza limit (issue 18): 40 attributes, or one value of 9,000
	 * bytes, within the 64 kB a stanza may take, are a stanza like any
	 * other, not a stream error that would drop everything in flight.
	 * (Before, 33 attributes or 8,193 bytes closed the stream.)
	 */
	{
		char tag[2048];
		size_t i, o;

		o = snprintf(tag, sizeof(tag), "%s<message",
		    TEST_STREAM_HEAD);
		for (i = 0; i < 40; i++)
			o += snprintf(tag + o, sizeof(tag) - o, " a%zu='x'", i);
		snprintf(tag + o, sizeof(tag) - o, "/>");
		c = hostile_parse(tag, strlen(tag), NULL, 0);
		ok(c.errors == 0 && c.nstanzas == 1,
		    "40 attributes within the stanza limit: a stanza");
		collect_free(&c);
	}
	one_stanza(TEST_STREAM_HEAD "<message id='", 9000, "'/>", NULL,
	    "a 9,000-byte attribute within the stanza limit: a stanza");
	/* A larger stanza limit takes the text run limit with it. */
	xml_stream_limits_default(&l);
	l.stanza_bytes = 200000;
	one_stanza(TEST_STREAM_HEAD "<message><body>", 100000,
	    "</body></message>", &l,
	    "stanza_bytes=200000: a 100,000-byte body is a stanza");
	/* Past the stanza limit the stream still fails, as before. */
	p = repeat(TEST_STREAM_HEAD "<message id='", "x",
	    XML_STREAM_MAX_STANZA_BYTES, "'/>", &len);
	c = hostile_parse(p, len, NULL, 0);
	check_error(&c, XML_STREAM_COND_POLICY_VIOLATION,
	    "an attribute longer than the stanza limit");
	collect_free(&c);
	free(p);

	/* Each limit can be set at creation. */
	xml_stream_limits_default(&l);
	l.stanza_bytes = 100;
	p = repeat(TEST_STREAM_HEAD "<message>", "x", 100, "</message>", &len);
	c = hostile_parse(p, len, &l, 0);
	check_error(&c, XML_STREAM_COND_POLICY_VIOLATION, "stanza_bytes=100");
	collect_free(&c);
	free(p);
	p = repeat(TEST_STREAM_HEAD "<message>", "x", 80, "</message>", &len);
	c = hostile_parse(p, len, &l, 0);
	ok(c.errors == 0 && c.nstanzas == 1,
	    "stanza_bytes=100 lets 99 bytes through");
	collect_free(&c);
	free(p);

	xml_stream_limits_default(&l);
	l.text_len = 10;
	p = repeat(TEST_STREAM_HEAD "<message><body>", "x", 11,
	    "</body></message>", &len);
	c = hostile_parse(p, len, &l, 1);
	check_error(&c, XML_STREAM_COND_POLICY_VIOLATION, "text_len=10");
	collect_free(&c);
	free(p);

	xml_stream_limits_default(&l);
	l.attr_len = 3;
	p = repeat(TEST_STREAM_HEAD "<message id='", "x", 4, "'/>", &len);
	c = hostile_parse(p, len, &l, 0);
	check_error(&c, XML_STREAM_COND_POLICY_VIOLATION, "attr_len=3");
	collect_free(&c);
	free(p);

	xml_stream_limits_default(&l);
	l.attrs = 1;
	p = repeat(TEST_STREAM_HEAD "<message a='1' b='2'/>", "", 0, "", &len);
	c = hostile_parse(p, len, &l, 0);
	check_error(&c, XML_STREAM_COND_POLICY_VIOLATION, "attrs=1");
	collect_free(&c);
	free(p);

	xml_stream_limits_default(&l);
	l.depth = 2;
	p = repeat(TEST_STREAM_HEAD "<a><b><c/></b></a>", "", 0, "", &len);
	c = hostile_parse(p, len, &l, 0);
	check_error(&c, XML_STREAM_COND_POLICY_VIOLATION, "depth=2");
	collect_free(&c);
	free(p);
}

/* The refusal comes at the DOCTYPE, before any declaration is read. */
static void
test_doctype_early(void)
{
	const char *in = "<?xml version='1.0'?><!DOCTYPE lolz [";
	struct collect c;

	collect_init(&c);
	collect_parse(&c, NULL, in, strlen(in), 0);
	check_error(&c, XML_STREAM_COND_RESTRICTED_XML,
	    "DOCTYPE refused before its internal subset");
	collect_free(&c);
}

static void
test_nul(void)
{
	static const char in[] = TEST_STREAM_HEAD "<message>a\0b</message>";
	struct collect c;

	c = hostile_parse(in, sizeof(in) - 1, NULL, 0);
	check_error(&c, XML_STREAM_COND_NOT_WELL_FORMED, "NUL byte");
	collect_free(&c);
}

/* Errors are reported once; input after them is refused. */
static void
test_error_once_and_reset(void)
{
	struct collect c;
	struct xml_stream *s;
	const char *bad = TEST_STREAM_HEAD "<a><!-- x --></a>";
	const char *good = TEST_STREAM_HEAD "<iq/>" TEST_STREAM_TAIL;
	int rc1, rc2;

	collect_init(&c);
	s = xml_stream_new(XML_STREAM_COMPONENT_NS, NULL);
	rc1 = collect_feed(&c, s, bad, strlen(bad));
	rc2 = collect_feed(&c, s, "<b/>", 4);
	ok(rc1 == -1 && rc2 == -1 && c.errors == 1,
	    "error reported once, later input refused");
	ok(xml_stream_error(s, NULL) == XML_STREAM_COND_RESTRICTED_XML,
	    "xml_stream_error() tells the condition");
	xml_stream_reset(s);
	ok(collect_feed(&c, s, good, strlen(good)) == 0 && c.errors == 1,
	    "after reset a new stream parses");
	ok(xml_stream_error(s, NULL) == XML_STREAM_COND_NONE,
	    "reset clears the error");
	xml_stream_reset(s);
	ok(collect_feed(&c, s, good, strlen(good)) == 0,
	    "reset after a clean close");
	xml_stream_free(&s);
	collect_free(&c);

	/* Input after the close is dropped. */
	collect_init(&c);
	collect_parse(&c, NULL, TEST_STREAM_HEAD "<iq/>" TEST_STREAM_TAIL
	    "<iq/>garbage", strlen(TEST_STREAM_HEAD "<iq/>" TEST_STREAM_TAIL
	    "<iq/>garbage"), 0);
	ok(c.closes == 1 && c.errors == 0 && c.nstanzas == 1,
	    "bytes after </stream:stream> are dropped");
	collect_free(&c);

	is_str(xml_stream_cond_name(XML_STREAM_COND_POLICY_VIOLATION),
	    "policy-violation", "condition names");
}

/* Stanzas <iq id='0'/> ... <iq id='n-1'/> after the header. */
static char *
numbered(size_t n, size_t *len_r)
{
	struct xml_buf b = XML_BUF_INIT;
	char tag[64];
	size_t i;

	xml_buf_append_str(&b, TEST_STREAM_HEAD);
	for (i = 0; i < n; i++) {
		snprintf(tag, sizeof(tag), "<iq id='%zu'/>", i);
		xml_buf_append_str(&b, tag);
	}
	*len_r = b.len;
	xml_buf_append_char(&b, '\0');
	return b.data;
}

static int
in_order(const struct collect *c, size_t n)
{
	char want[32];
	size_t i;

	if (c->nstanzas != n)
		return 0;
	for (i = 0; i < n; i++) {
		snprintf(want, sizeof(want), "%zu", i);
		if (xml_node_attr(c->stanzas[i], "id") == NULL ||
		    strcmp(xml_node_attr(c->stanzas[i], "id"), want) != 0)
			return 0;
	}
	return 1;
}

/* Several stanzas in one feed come out in order, after the header. */
static void
test_queue_order(void)
{
	struct xml_stream_event ev;
	struct xml_stream *s;
	struct collect c;
	size_t len, used;
	char *in;

	in = numbered(10, &len);
	s = xml_stream_new(XML_STREAM_COMPONENT_NS, NULL);
	ok(xml_stream_feed(s, in, len, &used) == 0 && used == len,
	    "one feed takes ten stanzas");
	ok(xml_stream_next(s, &ev) == XML_STREAM_EV_OPEN &&
	    ev.header != NULL && strcmp(ev.header->id, "s1") == 0,
	    "the header comes first");
	collect_init(&c);
	collect_events(&c, s);
	ok(in_order(&c, 10) && c.errors == 0, "then the ten stanzas in order");
	ok(xml_stream_next(s, &ev) == XML_STREAM_EV_NONE &&
	    ev.stanza == NULL, "then nothing until the next feed");
	collect_free(&c);
	xml_stream_free(&s);
	free(in);

	/* Stanzas before an error or a close come out before it. */
	collect_init(&c);
	s = xml_stream_new(XML_STREAM_COMPONENT_NS, NULL);
	in = TEST_STREAM_HEAD "<iq id='0'/><iq id='1'/><a><!-- x --></a>";
	ok(xml_stream_feed(s, in, strlen(in), &used) == -1 &&
	    used == strlen(in), "an error in the feed: -1, all taken");
	ok(xml_stream_next(s, &ev) == XML_STREAM_EV_OPEN, "header");
	collect_events(&c, s);
	ok(in_order(&c, 2) && c.errors == 1 &&
	    c.cond == XML_STREAM_COND_RESTRICTED_XML,
	    "two stanzas, then the error");
	xml_stream_free(&s);
	collect_free(&c);

	collect_init(&c);
	in = TEST_STREAM_HEAD "<iq id='0'/><iq id='1'/>" TEST_STREAM_TAIL;
	collect_parse(&c, NULL, in, strlen(in), 0);
	ok(in_order(&c, 2) && c.closes == 1 && c.errors == 0,
	    "two stanzas, then the close");
	collect_free(&c);
}

/*
 * The queue's bound: with room for `queue` stanzas the parser pauses once
 * they wait, takes no more input, and goes on as they are taken.
 */
static void
test_queue_bound(void)
{
	struct xml_stream_limits l;
	struct xml_stream_event ev;
	struct xml_stream *s;
	struct collect c;
	size_t len, used, off, feeds, i;
	char *in;
	int rc;

	xml_stream_limits_default(&l);
	ok(l.queue == XML_STREAM_MAX_QUEUE, "queue limit defaults to %d",
	    XML_STREAM_MAX_QUEUE);
	l.queue = 3;
	in = numbered(5000, &len);
	ok(len > 3 * 16384, "%zu bytes of small stanzas", len);

	s = xml_stream_new(XML_STREAM_COMPONENT_NS, &l);
	rc = xml_stream_feed(s, in, len, &used);
	ok(rc == 0 && used > 0 && used < len,
	    "a full queue stops the feed after %zu of %zu bytes", used, len);
	ok(xml_stream_feed(s, in + used, len - used, &off) == 0 && off == 0,
	    "and it takes nothing more until the queue is drained");
	ok(xml_stream_next(s, &ev) == XML_STREAM_EV_OPEN, "header");
	for (i = 0; i < 3; i++)
		if (xml_stream_next(s, &ev) == XML_STREAM_EV_STANZA)
			xml_node_free(&ev.stanza);
	ok(i == 3 && xml_stream_next(s, &ev) == XML_STREAM_EV_STANZA,
	    "taking the queued stanzas resumes the parser");
	xml_node_free(&ev.stanza);
	xml_stream_free(&s);

	/* Fed in full, drained between feeds: everything, in order. */
	collect_init(&c);
	s = xml_stream_new(XML_STREAM_COMPONENT_NS, &l);
	for (off = 0, feeds = 0; off < len; off += used, feeds++) {
		xml_stream_feed(s, in + off, len - off, &used);
		collect_events(&c, s);
	}
	ok(in_order(&c, 5000) && c.errors == 0 && feeds > 1,
	    "5000 stanzas through a queue of 3 in %zu feeds, in order", feeds);
	xml_stream_free(&s);
	collect_free(&c);

	/* The smallest queue with every chunk size of a fixture stream. */
	{
		struct collect ref;
		size_t chunk, bad = 0;

		l.queue = 1;
		collect_init(&ref);
		collect_parse(&ref, NULL, in, 2000, 0);
		for (chunk = 1; chunk <= 2000; chunk += chunk < 64 ? 1 : 97) {
			collect_init(&c);
			collect_parse(&c, &l, in, 2000, chunk);
			if (c.nstanzas != ref.nstanzas || c.errors != 0 ||
			    c.out.len != ref.out.len || memcmp(c.out.data,
			    ref.out.data, c.out.len) != 0)
				bad++;
			collect_free(&c);
		}
		ok(ref.nstanzas > 100 && bad == 0,
		    "a queue of 1 gives the same %zu stanzas in any chunking",
		    ref.nstanzas);
		collect_free(&ref);
	}
	free(in);
}

#define THREE_IQS	TEST_STREAM_HEAD "<iq/><iq/><iq/>"

/* A stream fed THREE_IQS, its header and first stanza taken. */
static struct xml_stream *
two_queued(int *taken)
{
	struct xml_stream_event ev;
	struct xml_stream *s;
	size_t used;

	s = xml_stream_new(XML_STREAM_COMPONENT_NS, NULL);
	xml_stream_feed(s, THREE_IQS, strlen(THREE_IQS), &used);
	xml_stream_next(s, &ev);
	if (xml_stream_next(s, &ev) == XML_STREAM_EV_STANZA) {
		(*taken)++;
		xml_node_free(&ev.stanza);
	}
	return s;
}

/*
 * Reset and free drop what is queued (LSan checks the trees are freed);
 * after a reset the stream starts again.
 */
static void
test_queue_drop(void)
{
	const char *in = THREE_IQS;
	struct xml_stream_limits l;
	struct xml_stream_event ev;
	struct xml_stream *s;
	struct collect c;
	size_t used;
	int stanzas = 0;

	s = two_queued(&stanzas);
	xml_stream_free(&s);
	ok(s == NULL && stanzas == 1, "free with two stanzas still queued");

	collect_init(&c);
	s = two_queued(&stanzas);
	xml_stream_reset(s);
	ok(xml_stream_next(s, &ev) == XML_STREAM_EV_NONE,
	    "reset drops the queued stanzas");
	collect_feed(&c, s, in, strlen(in));
	ok(c.opens == 1 && c.nstanzas == 3, "and the stream starts again");
	xml_stream_free(&s);
	collect_free(&c);

	/* A paused parser with a full queue and input left in expat. */
	xml_stream_limits_default(&l);
	l.queue = 2;
	s = xml_stream_new(XML_STREAM_COMPONENT_NS, &l);
	xml_stream_feed(s, in, strlen(in), &used);
	xml_stream_reset(s);
	collect_init(&c);
	collect_feed(&c, s, in, strlen(in));
	ok(c.opens == 1 && c.nstanzas == 3 && c.errors == 0,
	    "reset while paused: the next stream parses from its start");
	collect_free(&c);
	xml_stream_feed(s, "<iq/><iq/><iq/>", 15, &used);
	xml_stream_free(&s);
	ok(s == NULL, "free while paused");
}

static void
test_misc(void)
{
	struct collect c;
	const char *in;

	/* A stanza left half-built when the stream is freed: no leak. */
	collect_init(&c);
	in = TEST_STREAM_HEAD "<message><body>unfinished";
	collect_parse(&c, NULL, in, strlen(in), 0);
	ok(c.errors == 0 && c.nstanzas == 0, "half a stanza, then free");
	collect_free(&c);

	/* Any content namespace when none is expected. */
	{
		const char *h = "<?xml version='1.0' encoding='utf-8'?>"
		    "<stream:stream xmlns:stream="
		    "'http://etherx.jabber.org/streams' xmlns='jabber:client'>"
		    "<message/>";
		struct xml_stream *s;

		collect_init(&c);
		s = xml_stream_new(NULL, NULL);
		collect_feed(&c, s, h, strlen(h));
		ok(c.errors == 0 && c.nstanzas == 1 &&
		    xml_node_is(c.stanzas[0], "message", "jabber:client"),
		    "content namespace not checked when NULL");
		xml_stream_free(&s);
		collect_free(&c);
	}

	/* stream:error arrives as a stanza in the streams namespace. */
	collect_init(&c);
	in = TEST_STREAM_HEAD "<stream:error><conflict xmlns="
	    "'urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>";
	collect_parse(&c, NULL, in, strlen(in), 0);
	ok(c.nstanzas == 1 && xml_node_is(c.stanzas[0], "error",
	    XML_STREAM_NS), "<stream:error/> is delivered");
	collect_free(&c);
}

int
main(void)
{
	test_fixtures();
	test_header();
	test_dribble();
	test_hostile();
	test_nul();
	test_doctype_early();
	test_limits();
	test_error_once_and_reset();
	test_queue_order();
	test_queue_bound();
	test_queue_drop();
	test_misc();
	return tap_done();
}
