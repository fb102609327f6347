/*
 * xml/node.c and xml/buf.c: builder, lookups, escaping, namespaces on
 * output, copying and moving subtrees.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "test/lib/tap.h"
#include "test/unit/xml_common.h"
#include "xml/buf.h"
#include "xml/mem.h"
#include "xml/node.h"

#define NS_C	XML_STREAM_COMPONENT_NS
#define NS_CMD	"http://jabber.org/protocol/commands"

static void
is_xml(const struct xml_node *n, const char *default_ns, const char *want,
    const char *name)
{
	struct xml_buf b = XML_BUF_INIT;

	xml_node_serialize_with_default_ns(n, default_ns, &b);
	is_str(xml_buf_cstr(&b), want, "%s", name);
	xml_buf_free(&b);
}

static void
test_buf(void)
{
	struct xml_buf b;
	char *s;
	size_t len, i;

	xml_buf_init(&b);
	xml_buf_append_str(&b, "a");
	xml_buf_append_char(&b, 'b');
	xml_buf_append(&b, "cd", 2);
	is_str(xml_buf_cstr(&b), "abcd", "append");
	xml_buf_reset(&b);
	xml_buf_append_text(&b, "<a & b> \"'\r\n\t", 13);
	is_str(xml_buf_cstr(&b), "&lt;a &amp; b&gt; \"'&#13;\n\t",
	    "text escaping");
	xml_buf_reset(&b);
	xml_buf_append_attr(&b, "<a & b> \"'\r\n\t", 13);
	is_str(xml_buf_cstr(&b),
	    "&lt;a &amp; b&gt; &quot;&apos;&#13;&#10;&#9;", "attr escaping");
	xml_buf_reset(&b);
	xml_buf_append_text(&b, "plain", 5);
	xml_buf_append_text(&b, "", 0);
	is_str(xml_buf_cstr(&b), "plain", "clean spans copied as is");
	xml_buf_reset(&b);
	for (i = 0; i < 100000; i++)
		xml_buf_append(&b, "0123456789", 10);
	is_int(b.len, 1000000, "grows to 1 MB");
	s = xml_buf_steal(&b, &len);
	ok(len == 1000000 && s[len] == '\0' && b.data == NULL,
	    "steal hands over a NUL-terminated copy");
	free(s);
	xml_buf_free(&b);
}

static void
test_builder(void)
{
	struct xml_node *iq, *cmd, *x, *n;

	iq = xml_node_new("iq", NS_C);
	xml_node_set_attr(iq, "type", "result");
	xml_node_set_attr(iq, "id", "a+b/c=");
	xml_node_set_attr(iq, "to", "alice@example.org/phone");
	cmd = xml_node_add_child(iq, "command", NS_CMD);
	xml_node_set_attr(cmd, "node", "register-device");
	xml_node_set_attr(cmd, "status", "completed");
	n = xml_node_add_child_text(cmd, "note", NULL, "Done & <dusted>");
	xml_node_set_attr(n, "type", "info");
	is_xml(iq, NS_C, "<iq type='result' id='a+b/c=' "
	    "to='alice@example.org/phone'><command xmlns='" NS_CMD "' "
	    "node='register-device' status='completed'><note type='info'>"
	    "Done &amp; &lt;dusted&gt;</note></command></iq>",
	    "stanza in the default namespace has no xmlns");
	is_xml(iq, NULL, "<iq xmlns='" NS_C "' type='result' id='a+b/c=' "
	    "to='alice@example.org/phone'><command xmlns='" NS_CMD "' "
	    "node='register-device' status='completed'><note type='info'>"
	    "Done &amp; &lt;dusted&gt;</note></command></iq>",
	    "serialize declares the namespace");

	xml_node_set_attr(iq, "type", "error");
	is_str(xml_node_attr(iq, "type"), "error", "set_attr replaces");
	xml_node_set_attr(iq, "to", NULL);
	ok(xml_node_attr(iq, "to") == NULL, "set_attr NULL removes");
	xml_node_set_attr(iq, "id", NULL);
	xml_node_set_attr(iq, "from", "push.example.org");
	ok(iq->last_attr != NULL && strcmp(iq->last_attr->name, "from") == 0,
	    "removing the last attribute keeps the list's tail right");
	is_xml(iq, NS_C, "<iq type='error' from='push.example.org'>"
	    "<command xmlns='" NS_CMD "' node='register-device' "
	    "status='completed'><note type='info'>Done &amp; &lt;dusted&gt;"
	    "</note></command></iq>", "after attribute edits");

	ok(xml_node_child(iq, "command", NS_CMD) == cmd, "child by name+ns");
	ok(xml_node_child(iq, "command", NULL) == cmd, "child, any ns");
	ok(xml_node_child(iq, "command", NS_C) == NULL,
	    "child in another ns not found");
	ok(xml_node_child(iq, NULL, NULL) == cmd, "first element child");
	is_str(xml_node_child_text(cmd, "note", NS_CMD), "Done & <dusted>",
	    "child text");
	ok(xml_node_child_text(cmd, "nope", NULL) == NULL,
	    "missing child text is NULL");
	is_str(xml_node_text(cmd), "", "no text is the empty string");

	/* Mixed content and text merging. */
	n = xml_node_add_child(iq, "body", NULL);
	xml_node_add_text(n, "a");
	xml_node_add_text(n, "b");
	xml_node_add_child(n, "br", NULL);
	xml_node_add_text(n, "c");
	is_str(xml_node_text(n), "abc", "text joins around elements");
	ok(n->children->type == XML_NODE_TEXT &&
	    n->children->textlen == 2, "adjacent text is merged");

	/* Element in no namespace under a namespaced one. */
	x = xml_node_add_child(iq, "bare", XML_NS_NONE);
	ok(x->ns == NULL, "XML_NS_NONE makes no namespace");
	xml_node_add_child(x, "inner", NULL);
	xml_node_set_attr_ns(x, XML_NS_XML, "lang", "en");
	xml_node_set_attr_ns(x, "urn:example:a", "foo", "1");
	xml_node_set_attr_ns(x, "urn:example:b", "bar", "2");
	is_str(xml_node_attr_ns(x, XML_NS_XML, "lang"), "en", "xml:lang");
	ok(xml_node_attr(x, "lang") == NULL,
	    "a namespaced attribute is not found without its namespace");
	is_xml(x, NS_C, "<bare xmlns='' xml:lang='en' "
	    "xmlns:xp1='urn:example:a' xp1:foo='1' xmlns:xp2='urn:example:b' "
	    "xp2:bar='2'><inner/></bare>", "xmlns='' and attribute prefixes");

	xml_node_remove(x);
	ok(xml_node_child(iq, "bare", NULL) == NULL, "remove unlinks");
	xml_node_remove(n);
	ok(iq->last_child == cmd, "remove the last child fixes the tail");
	xml_node_free(&iq);
	ok(iq == NULL, "free clears the pointer");
}

static void
test_move_copy(void)
{
	struct xml_node *a, *b, *c, *moved, *copied;
	char *s;

	a = xml_node_new("iq", NS_C);
	b = xml_node_new("query", "jabber:iq:version");
	xml_node_add_child_text(b, "name", NULL, "xpushd");
	moved = xml_node_append(a, b);
	ok(moved == b && !b->owns_arena, "a root is moved in, not copied");

	c = xml_node_new("wrap", "urn:x");
	copied = xml_node_append(c, xml_node_child(b, "name", NULL));
	ok(copied != NULL && copied->arena == c->arena,
	    "a subtree of another tree is copied");
	xml_node_free(&a);	/* frees b too: ASan would see a leak or UAF */
	s = xml_node_to_string(c);
	is_str(s, "<wrap xmlns='urn:x'><name xmlns='jabber:iq:version'>"
	    "xpushd</name></wrap>", "copy outlives its source");
	free(s);

	a = xml_node_copy(c);
	ok(xml_node_equal(a, c), "xml_node_copy() is equal");
	xml_node_set_attr(a, "x", "1");
	ok(!xml_node_equal(a, c), "and independent");
	xml_node_free(&a);
	xml_node_free(&c);

	/* What router_req_slim keeps of a request. */
	a = xml_node_new("iq", NS_C);
	xml_node_set_attr(a, "id", "a+b/c=d&e");
	xml_node_set_attr(a, "from", "localhost");
	xml_node_set_attr_ns(a, XML_NS_XML, "lang", "en");
	b = xml_node_add_child(a, "pubsub", "http://jabber.org/protocol/pubsub");
	xml_node_add_child_text(b, "publish", NULL, "big");
	c = xml_node_copy_shallow(a);
	xml_node_free(&a);
	s = xml_node_to_string(c);
	is_str(s, "<iq xmlns='jabber:component:accept' id='a+b/c=d&amp;e' "
	    "from='localhost' xml:lang='en'/>",
	    "a shallow copy keeps the element and its attributes, no children, "
	    "and outlives its source");
	free(s);
	xml_node_free(&c);
}

static void
test_deep(void)
{
	struct xml_node *root, *n;
	struct xml_buf b = XML_BUF_INIT;
	int i;

	root = n = xml_node_new("a", "urn:deep");
	for (i = 0; i < 100000; i++)
		n = xml_node_add_child(n, "a", NULL);
	xml_node_serialize(root, &b);
	is_int(b.len, strlen("<a xmlns='urn:deep'></a>") + 99999 * 7 + 4,
	    "a 100000-deep tree serializes (no recursion)");
	xml_buf_free(&b);
	xml_node_free(&root);
}

/* Parse a fixture, then look things up the way the core will. */
static void
test_lookups(void)
{
	struct collect c;
	struct xml_node *iq, *pub, *n;
	size_t len, wl;
	char *s, *w;

	s = fixture_stanza("test/fixtures/prosody/offline-chat-body.xml", &len);
	w = fixture_wrap(s, len, &wl);
	collect_init(&c);
	collect_parse(&c, NULL, w, wl, 0);
	iq = c.nstanzas == 1 ? c.stanzas[0] : NULL;
	ok(xml_node_is(iq, "iq", NS_C), "parsed the publish");
	is_str(xml_node_attr(iq, "id"), "c155c4174e874a38fd27a41e1e1dc055"
	    "136668954bba953e8d1bb3e71fed8fbd", "iq id");
	pub = xml_node_child(xml_node_child(iq, "pubsub",
	    "http://jabber.org/protocol/pubsub"), "publish", NULL);
	is_str(xml_node_attr(pub, "node"), "335acd656b3003b7c50f5b81a2c74282",
	    "publish node");
	n = xml_node_child(xml_node_child(pub, "item", NULL), "notification",
	    "urn:xmpp:push:0");
	ok(n != NULL, "notification in urn:xmpp:push:0");
	n = xml_node_child(n, "x", "jabber:x:data");
	for (n = xml_node_child(n, "field", NULL); n != NULL;
	    n = xml_node_next(n, "field", NULL))
		if (strcmp(xml_node_attr(n, "var"), "last-message-body") == 0)
			break;
	is_str(xml_node_child_text(n, "value", NULL), "New Message!",
	    "last-message-body by walking fields");
	collect_free(&c);
	free(s);
	free(w);
}

/*
 * Freed arenas are recycled (xml/mem.c, off in sanitizer builds): live
 * arenas must never share memory, a reused one must start empty, and more
 * arenas than the recycler keeps must still come and go cleanly.
 */
#define NARENAS	600

static void
test_arena_recycling(void)
{
	static const size_t sizes[] = { 8192, 1024, 300 };
	struct xml_arena *a[NARENAS];
	unsigned char *p[NARENAS], *q;
	size_t i, k, bad = 0;
	int round;

	for (round = 0; round < 3; round++) {
		for (i = 0; i < NARENAS; i++) {
			a[i] = xml_arena_new(sizes[i % 3]);
			/* Past the first chunk now and then. */
			p[i] = xml_arena_alloc(a[i], 200 + (i % 7) * 1500);
			memset(p[i], (int)(i & 0xff), 200);
			q = xml_arena_zalloc(a[i], 64);
			for (k = 0; k < 64; k++)
				bad += q[k] != 0;
		}
		for (i = 0; i < NARENAS; i++)
			for (k = 0; k < 200; k++)
				bad += p[i][k] != (unsigned char)(i & 0xff);
		/* Free in an order unlike the allocation's. */
		for (i = 0; i < NARENAS; i += 2)
			xml_arena_free(a[i]);
		for (i = 1; i < NARENAS; i += 2)
			xml_arena_free(a[i]);
	}
	is_int((long long)bad, 0, "%d arenas of 3 first sizes, 3 rounds: no "
	    "two live arenas share bytes, reused memory zeroed where asked",
	    NARENAS);
}

int
main(void)
{
	test_arena_recycling();
	test_buf();
	test_builder();
	test_move_copy();
	test_deep();
	test_lookups();
	return tap_done();
}
