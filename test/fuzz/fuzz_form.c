/*
 * libFuzzer target for xml/form.c: the input is the inside of a component
 * stream; every jabber:x:data <x/> anywhere in a stanza is parsed, looked
 * up, rebuilt and parsed again (which must succeed).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xml/form.h"
#include "xml/node.h"
#include "xml/stream.h"

#define HEAD	"<stream:stream xmlns:stream='http://etherx.jabber.org/streams' " \
		"xmlns='jabber:component:accept'>"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fuzz_form(const struct xml_node *x)
{
	struct xml_node *y;
	struct form *f, *g;
	size_t i;

	if ((f = form_parse(x, NULL)) == NULL)
		return;
	for (i = 0; i < f->nfields; i++)
		if (f->fields[i].var != NULL)
			(void)form_get_value(f, f->fields[i].var);
	(void)form_get_bool(f, "x", 0);
	y = form_to_node(f);
	if ((g = form_parse(y, NULL)) == NULL || g->nfields != f->nfields ||
	    g->type != f->type)
		abort();
	(void)form_find(x->parent, f->form_type);
	form_free(&g);
	form_free(&f);
	xml_node_free(&y);
}

static void
fuzz_walk(const struct xml_node *n)
{
	const struct xml_node *c;

	if (xml_node_is(n, "x", FORM_NS))
		fuzz_form(n);
	for (c = n->children; c != NULL; c = c->next)
		if (c->type == XML_NODE_ELEMENT)
			fuzz_walk(c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xml_stream_event ev;
	struct xml_stream *s;
	size_t used;
	int rc;

	s = xml_stream_new(XML_STREAM_COMPONENT_NS, NULL);
	xml_stream_feed(s, HEAD, strlen(HEAD), &used);
	do {
		rc = xml_stream_feed(s, data, size, &used);
		while (xml_stream_next(s, &ev) != XML_STREAM_EV_NONE)
			if (ev.type == XML_STREAM_EV_STANZA) {
				fuzz_walk(ev.stanza);
				xml_node_free(&ev.stanza);
			}
		data += used;
		size -= used;
	} while (size > 0 && rc == 0);
	xml_stream_free(&s);
	return 0;
}
