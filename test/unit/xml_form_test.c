/*
 * xml/form.c: XEP-0004 forms from the XEP examples and from Prosody, the
 * tolerant cases, building, and parse -> build -> parse.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "test/lib/tap.h"
#include "test/unit/xml_common.h"
#include "xml/form.h"
#include "xml/node.h"

#define PUBSUB_NS	"http://jabber.org/protocol/pubsub"
#define PUBOPT_NS	"http://jabber.org/protocol/pubsub#publish-options"

/* The one stanza of a fixture; free both with collect_free(). */
static struct xml_node *
load(struct collect *c, const char *path)
{
	size_t len, wl;
	char *s, *w;

	s = fixture_stanza(path, &len);
	w = fixture_wrap(s, len, &wl);
	collect_init(c);
	collect_parse(c, NULL, w, wl, 0);
	free(s);
	free(w);
	if (c->nstanzas != 1) {
		printf("Bail out! %s: %s\n", path, c->errtext);
		exit(1);
	}
	return c->stanzas[0];
}

static int
same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	    (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static int
same_form(const struct form *f, const struct form *g)
{
	const struct form_field *a, *b;
	size_t i, j;

	if (f->type != g->type || f->nfields != g->nfields ||
	    !same_str(f->form_type, g->form_type) ||
	    !same_str(f->title, g->title) ||
	    !same_str(f->instructions, g->instructions))
		return 0;
	for (i = 0; i < f->nfields; i++) {
		a = &f->fields[i];
		b = &g->fields[i];
		if (!same_str(a->var, b->var) || a->type != b->type ||
		    a->type_given != b->type_given ||
		    !same_str(a->label, b->label) ||
		    !same_str(a->desc, b->desc) || a->required != b->required ||
		    a->nvalues != b->nvalues || a->noptions != b->noptions)
			return 0;
		for (j = 0; j < a->nvalues; j++)
			if (strcmp(a->values[j], b->values[j]) != 0)
				return 0;
		for (j = 0; j < a->noptions; j++)
			if (!same_str(a->options[j].label, b->options[j].label) ||
			    strcmp(a->options[j].value, b->options[j].value))
				return 0;
	}
	return 1;
}

/* xml_node_equal() but attributes in any order (Prosody puts type first). */
static int
same_tree(const struct xml_node *a, const struct xml_node *b)
{
	const struct xml_attr *at;
	const struct xml_node *ac, *bc;
	size_t na = 0, nb = 0;

	if (a->type != b->type)
		return 0;
	if (a->type == XML_NODE_TEXT)
		return strcmp(a->text, b->text) == 0;
	if (strcmp(a->name, b->name) != 0 || !same_str(a->ns, b->ns))
		return 0;
	for (at = a->attrs; at != NULL; at = at->next, na++)
		if (!same_str(at->value, xml_node_attr_ns(b, at->ns, at->name)))
			return 0;
	for (at = b->attrs; at != NULL; at = at->next)
		nb++;
	if (na != nb)
		return 0;
	for (ac = a->children, bc = b->children; ac && bc;
	    ac = ac->next, bc = bc->next)
		if (!same_tree(ac, bc))
			return 0;
	return ac == NULL && bc == NULL;
}

/*
 * Parse, rebuild, parse again: the same form; and the same tree when the
 * input had no indentation (whitespace text is not part of a form).
 */
static void
check_roundtrip(const struct xml_node *x, int want_tree, const char *name)
{
	struct form *f, *g;
	struct xml_node *y;

	f = form_parse(x, NULL);
	y = form_to_node(f);
	g = form_parse(y, NULL);
	ok(g != NULL && same_form(f, g), "%s: parse, build, parse", name);
	if (want_tree)
		ok(same_tree(x, y), "%s: form_to_node rebuilds the tree",
		    name);
	form_free(&f);
	form_free(&g);
	xml_node_free(&y);
}

static void
test_xep0004(void)
{
	const struct form_field *fl;
	struct collect c;
	struct xml_node *msg, *x;
	struct form *f;
	char *err;

	msg = load(&c, "test/fixtures/xml/xep0004-form.xml");
	x = xml_node_child(msg, "x", FORM_NS);
	f = form_parse(x, &err);
	ok(f != NULL && err == NULL, "XEP-0004 example form parses");
	is_int(f->type, FORM_FORM, "type form");
	is_str(f->title, "Bot Configuration", "title");
	is_str(f->instructions,
	    "Fill out this form to configure your new bot!", "instructions");
	is_str(f->form_type, "jabber:bot", "FORM_TYPE");
	is_int(f->nfields, 12, "12 fields, fixed ones included");
	fl = &f->fields[1];
	ok(fl->var == NULL && fl->type == FORM_FIELD_FIXED &&
	    fl->nvalues == 1 && strcmp(fl->values[0], "Section 1: Bot Info") ==
	    0, "a fixed field has no var and one value");
	fl = form_get_field(f, "public");
	ok(fl != NULL && fl->type == FORM_FIELD_BOOLEAN && fl->required,
	    "boolean, required");
	fl = form_get_field(f, "features");
	ok(fl != NULL && fl->type == FORM_FIELD_LIST_MULTI &&
	    fl->noptions == 5 && fl->nvalues == 2, "list-multi: 5 options, 2 "
	    "values");
	ok(fl != NULL && strcmp(fl->options[1].label, "News") == 0 &&
	    strcmp(fl->options[1].value, "news") == 0, "option label+value");
	fl = form_get_field(f, "invitelist");
	ok(fl != NULL && fl->type == FORM_FIELD_JID_MULTI && fl->nvalues == 0 &&
	    strcmp(fl->desc, "Tell all your friends about your new bot!") == 0,
	    "jid-multi with desc");
	ok(form_get_value(f, "botname") == NULL, "no value: NULL");
	is_str(form_get_value(f, "maxsubs"), "20", "first value");
	ok(form_get_field(f, "nope") == NULL, "unknown var");
	check_roundtrip(x, 0, "xep0004-form");
	form_free(&f);
	ok(f == NULL, "form_free clears the pointer");
	collect_free(&c);

	msg = load(&c, "test/fixtures/xml/xep0004-submit.xml");
	x = xml_node_child(msg, "x", FORM_NS);
	f = form_parse(x, NULL);
	is_int(f->type, FORM_SUBMIT, "type submit");
	fl = form_get_field(f, "description");
	ok(fl != NULL && fl->nvalues == 4 && strcmp(fl->values[2],
	    "in your Jabber client. It' really cool!") == 0,
	    "text-multi keeps its lines");
	is_int(form_get_bool(f, "public", 1), 0, "boolean 0");
	is_int(form_get_bool(f, "nope", -1), -1, "boolean default");
	check_roundtrip(x, 0, "xep0004-submit");
	form_free(&f);
	collect_free(&c);

	msg = load(&c, "test/fixtures/xml/xep0004-cancel.xml");
	x = xml_node_child(xml_node_child(msg, "command", NULL), "x", FORM_NS);
	f = form_parse(x, NULL);
	ok(f != NULL && f->type == FORM_CANCEL && f->nfields == 0,
	    "an empty cancel form");
	form_free(&f);
	collect_free(&c);

	msg = load(&c, "test/fixtures/xml/xep0050-completed.xml");
	x = xml_node_child(xml_node_child(msg, "command", NULL), "x", FORM_NS);
	f = form_parse(x, NULL);
	ok(f != NULL && f->type == FORM_RESULT && f->form_type == NULL,
	    "result form without FORM_TYPE");
	is_str(form_get_value(f, "node"), "3f3f0cb5fc803462e2e21324a4925879",
	    "result value");
	form_free(&f);
	collect_free(&c);
}

static void
test_prosody(void)
{
	const char *dir = "test/fixtures/prosody";
	const struct form_field *fl;
	struct xml_node *iq, *ps, *x;
	struct collect c;
	struct form *f, *opts;
	size_t i, n;
	char **v;

	v = fixture_list(dir, &n);
	for (i = 0; i < n; i++) {
		iq = load(&c, v[i]);
		ps = xml_node_child(iq, "pubsub", PUBSUB_NS);
		x = xml_node_child(xml_node_child(xml_node_child(xml_node_child(
		    ps, "publish", NULL), "item", NULL), "notification",
		    "urn:xmpp:push:0"), "x", FORM_NS);
		check_roundtrip(x, 1, v[i]);
		f = form_parse(x, NULL);
		ok(f != NULL && f->type == FORM_FORM &&
		    f->form_type != NULL &&
		    strcmp(f->form_type, "urn:xmpp:push:summary") == 0,
		    "%s: summary form", v[i]);
		is_str(form_get_value(f, "message-count"), "1",
		    "%s: message-count", v[i]);
		fl = form_get_field(f, "pending-subscription-count");
		ok(fl != NULL && fl->nvalues == 0 &&
		    form_get_value(f, "pending-subscription-count") == NULL,
		    "%s: empty field, no value", v[i]);
		x = form_find(xml_node_child(ps, "publish-options", NULL),
		    PUBOPT_NS);
		opts = form_parse(x, NULL);
		fl = opts ? form_get_field(opts, "secret") : NULL;
		ok(fl != NULL && !fl->type_given &&
		    fl->type == FORM_FIELD_TEXT_SINGLE && fl->nvalues == 1 &&
		    strlen(fl->values[0]) == 32,
		    "%s: publish-options secret (untyped field)", v[i]);
		check_roundtrip(x, 1, v[i]);
		form_free(&f);
		form_free(&opts);
		collect_free(&c);
	}
	fixture_list_free(v, n);

	iq = load(&c, "test/fixtures/prosody/full-offline-chat-body.xml");
	x = form_find(xml_node_child(xml_node_child(xml_node_child(
	    xml_node_child(xml_node_child(iq, "pubsub", PUBSUB_NS), "publish",
	    NULL), "item", NULL), "notification", NULL), "x", NULL)->parent,
	    "urn:xmpp:push:summary");
	f = form_parse(x, NULL);
	is_str(form_get_value(f, "last-message-body"),
	    "hi alice, from the harness", "full summary: body");
	is_str(form_get_value(f, "last-message-sender"),
	    "bob@localhost/CXeY64DJwrul", "full summary: sender");
	ok(form_find(x->parent, "urn:other") == NULL,
	    "form_find with another FORM_TYPE");
	form_free(&f);
	collect_free(&c);

	/* XEP-0357's own example: summary without a type attribute. */
	iq = load(&c, "test/fixtures/xml/xep0357-publish.xml");
	x = form_find(xml_node_child(xml_node_child(xml_node_child(
	    xml_node_child(xml_node_child(iq, "pubsub", PUBSUB_NS), "publish",
	    NULL), "item", NULL), "notification", NULL), "x", NULL)->parent,
	    NULL);
	f = form_parse(x, NULL);
	ok(f != NULL && f->type == FORM_FORM, "missing form type: form");
	is_str(form_get_value(f, "last-message-body"),
	    "Wherefore art thou, Romeo?", "XEP-0357 example body");
	form_free(&f);
	collect_free(&c);
}

static void
test_tolerance(void)
{
	struct xml_node *x, *fl;
	struct form *f;
	char *err;

	x = xml_node_new("x", FORM_NS);
	xml_node_set_attr(x, "type", "bogus");
	ok(form_parse(x, &err) == NULL && err != NULL,
	    "unknown form type refused");
	free(err);
	xml_node_set_attr(x, "type", "submit");
	fl = xml_node_add_child(x, "field", NULL);
	xml_node_set_attr(fl, "var", "v");
	xml_node_set_attr(fl, "type", "text-fancy");
	xml_node_add_child(fl, "value", NULL);
	f = form_parse(x, NULL);
	ok(f != NULL && f->fields[0].type == FORM_FIELD_TEXT_SINGLE &&
	    f->fields[0].type_given, "unknown field type: text-single");
	is_str(form_get_value(f, "v"), "", "<value/> is the empty string");
	form_free(&f);
	xml_node_free(&x);

	x = xml_node_new("y", FORM_NS);
	ok(form_parse(x, &err) == NULL, "not an <x/>");
	free(err);
	xml_node_free(&x);
	x = xml_node_new("x", "jabber:x:oob");
	ok(form_parse(x, &err) == NULL, "<x/> in another namespace");
	free(err);
	xml_node_free(&x);
	ok(form_parse(NULL, &err) == NULL, "NULL");
	free(err);
}

/* A submit form with one field of the given type and values. */
static struct xml_node *
submit_with(const char *var, const char *type, const char *v1,
    const char *v2)
{
	struct xml_node *x, *fl;

	x = form_build(FORM_SUBMIT, NULL);
	fl = xml_node_add_child(x, "field", NULL);
	xml_node_set_attr(fl, "var", var);
	if (type != NULL)
		xml_node_set_attr(fl, "type", type);
	form_build_value(fl, v1);
	if (v2 != NULL)
		form_build_value(fl, v2);
	return x;
}

/*
 * XEP-0004 section 3.2: a var is unique in its form; only list-multi,
 * jid-multi, text-multi and hidden carry several values.  Refused with a
 * message that names the field, never cut to the first value.
 */
static void
test_single_values(void)
{
	static const char *const single[] = { "text-single", "text-private",
	    "list-single", "jid-single", "boolean", "fixed", "text-fancy" };
	static const char *const multi[] = { "text-multi", "list-multi",
	    "jid-multi", "hidden" };
	struct xml_node *x, *fl, *ax;
	struct form *f, *asked;
	char *err;
	size_t i;

	for (i = 0; i < sizeof(single) / sizeof(single[0]); i++) {
		x = submit_with("device-token", single[i], "aa", "bb");
		f = form_parse(x, &err);
		ok(f == NULL && err != NULL &&
		    strncmp(err, "device-token: ", 14) == 0,
		    "%s with two values refused: %s", single[i],
		    err ? err : "(accepted)");
		free(err);
		form_free(&f);
		xml_node_free(&x);
		x = submit_with("device-token", single[i], "aa", NULL);
		f = form_parse(x, &err);
		ok(f != NULL && err == NULL, "%s with one value accepted",
		    single[i]);
		form_free(&f);
		xml_node_free(&x);
	}
	for (i = 0; i < sizeof(multi) / sizeof(multi[0]); i++) {
		x = submit_with("lines", multi[i], "aa", "bb");
		f = form_parse(x, &err);
		ok(f != NULL && err == NULL && f->fields[0].nvalues == 2,
		    "%s with two values accepted", multi[i]);
		form_free(&f);
		xml_node_free(&x);
	}

	x = submit_with("device-token", NULL, "aa", NULL);
	fl = xml_node_add_child(x, "field", NULL);
	xml_node_set_attr(fl, "var", "device-token");
	form_build_value(fl, "bb");
	f = form_parse(x, &err);
	is_str(err, "device-token: the field appears more than once in the "
	    "form", "the same field twice is refused, naming it");
	ok(f == NULL, "no form");
	free(err);
	xml_node_free(&x);

	/* Untyped values in a submission: the asked-for form's types count. */
	ax = form_build(FORM_FORM, NULL);
	form_build_field(ax, "device-token", FORM_FIELD_TEXT_SINGLE, NULL);
	form_build_field(ax, "certificate", FORM_FIELD_TEXT_MULTI, NULL);
	asked = form_parse(ax, NULL);
	x = submit_with("device-token", NULL, "aa", "bb");
	f = form_parse(x, &err);
	ok(f != NULL && err == NULL, "an untyped field with two values parses");
	is_int(form_check_values(f, asked, &err), -1,
	    "but the asked-for form makes it text-single: refused");
	is_str(err, "device-token: a text-single field holds one value, not 2",
	    "in one sentence naming the field");
	free(err);
	form_free(&f);
	xml_node_free(&x);
	x = submit_with("certificate", NULL, "line 1", "line 2");
	f = form_parse(x, NULL);
	is_int(form_check_values(f, asked, &err), 0,
	    "a text-multi field keeps its lines");
	ok(err == NULL, "no message");
	form_free(&f);
	xml_node_free(&x);
	x = submit_with("unknown", NULL, "a", "b");
	f = form_parse(x, NULL);
	is_int(form_check_values(f, asked, NULL), 0,
	    "a field the form did not ask for is left to the command");
	form_free(&f);
	xml_node_free(&x);
	form_free(&asked);
	xml_node_free(&ax);
}

static void
test_build(void)
{
	struct xml_node *iq, *cmd, *x, *fl;
	struct form *f;
	char *s;

	iq = xml_node_new("iq", XML_STREAM_COMPONENT_NS);
	cmd = xml_node_add_child(iq, "command",
	    "http://jabber.org/protocol/commands");
	x = form_build_in(cmd, FORM_FORM, NULL);
	fl = form_build_field(x, "provider", FORM_FIELD_LIST_SINGLE,
	    "Provider");
	form_build_required(fl);
	form_build_option(fl, "Google", "fcm-http-v1");
	form_build_option(fl, NULL, "apns-binary-api");
	form_build_title(x, "Register", "Pick one & go");
	s = xml_node_to_string(x);
	is_str(s, "<x xmlns='jabber:x:data' type='form'><title>Register"
	    "</title><instructions>Pick one &amp; go</instructions>"
	    "<field var='provider' type='list-single' label='Provider'>"
	    "<required/><option label='Google'><value>fcm-http-v1</value>"
	    "</option><option><value>apns-binary-api</value></option>"
	    "</field></x>", "built form, title first");
	free(s);
	f = form_parse(x, NULL);
	ok(f && f->fields[0].required && f->fields[0].noptions == 2 &&
	    f->fields[0].options[1].label == NULL, "built form parses");
	form_free(&f);
	xml_node_free(&iq);

	x = form_build(FORM_RESULT, "urn:xpushd:stats");
	form_build_value(form_build_field(x, "devices", FORM_FIELD_TEXT_SINGLE,
	    NULL), "42");
	s = xml_node_to_string(x);
	is_str(s, "<x xmlns='jabber:x:data' type='result'><field "
	    "var='FORM_TYPE' type='hidden'><value>urn:xpushd:stats</value>"
	    "</field><field var='devices' type='text-single'><value>42</value>"
	    "</field></x>", "result form with FORM_TYPE");
	free(s);
	f = form_parse(x, NULL);
	is_str(f->form_type, "urn:xpushd:stats", "FORM_TYPE read back");
	is_str(form_get_value(f, "devices"), "42", "value read back");
	form_free(&f);
	ok(form_find(x, NULL) == NULL, "form_find looks at children only");
	xml_node_free(&x);
	x = form_build(FORM_SUBMIT, NULL);
	form_build_title(x, NULL, "Only instructions");
	fl = form_build_field(x, "a", FORM_FIELD_BOOLEAN, NULL);
	form_build_value(fl, "true");
	f = form_parse(x, NULL);
	is_str(f->instructions, "Only instructions", "instructions only");
	is_int(form_get_bool(f, "a", 0), 1, "boolean true");
	form_free(&f);
	xml_node_free(&x);

	is_str(form_type_name(FORM_CANCEL), "cancel", "form_type_name");
	is_str(form_field_type_name(FORM_FIELD_JID_SINGLE), "jid-single",
	    "form_field_type_name");
}

/* form_node_value: one field of a form in a tree, unparsed. */
static void
test_node_value(void)
{
	struct xml_node *po, *x, *f;
	bool found;

	po = xml_node_new("publish-options",
	    "http://jabber.org/protocol/pubsub");
	ok(form_node_value(po, "secret", &found) == NULL && !found,
	    "node value: no form");
	x = xml_node_add_child(po, "x", FORM_NS);
	f = xml_node_add_child(x, "field", FORM_NS);
	xml_node_set_attr(f, "var", "FORM_TYPE");
	xml_node_add_child_text(f, "value", FORM_NS,
	    "http://jabber.org/protocol/pubsub#publish-options");
	f = xml_node_add_child(x, "field", FORM_NS);
	xml_node_set_attr(f, "var", "pushModule");
	xml_node_add_child_text(f, "value", FORM_NS, "monalProdiOS");
	xml_node_add_child_text(f, "value", FORM_NS, "second");
	f = xml_node_add_child(x, "field", FORM_NS);
	xml_node_set_attr(f, "var", "empty");
	is_str(form_node_value(po, "pushModule", &found), "monalProdiOS",
	    "node value: the first value");
	ok(found, "node value: found");
	ok(form_node_value(po, "empty", &found) == NULL && found,
	    "node value: a field without a value is found, with none");
	ok(form_node_value(po, "secret", &found) == NULL && !found,
	    "node value: an absent field");
	ok(form_node_value(NULL, "secret", NULL) == NULL,
	    "node value: no parent, no found_r");
	xml_node_free(&po);
}

int
main(void)
{
	test_node_value();
	test_xep0004();
	test_prosody();
	test_tolerance();
	test_single_values();
	test_build();
	return tap_done();
}
