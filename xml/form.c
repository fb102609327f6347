/*
 * XEP-0004 data forms (with the XEP-0068 FORM_TYPE convention).
 *
 * Parsing is tolerant, as servers in the field need: a missing form type
 * is taken as 'form'; a field's missing or unknown type is text-single
 * (XEP-0004 §3.3 makes text-single the default); a field with no <value/>
 * has no values and one with an empty <value/> has the value "".  Prosody
 * sends its push summary as type='form' with such fields.  Not parsed:
 * the <reported/> and <item/> tables of multi-item results, <media/>
 * (XEP-0221) and validation (XEP-0122); they are skipped.
 *
 * Refused, as XEP-0004 section 3.2 ("The Field Element") demands: a var
 * that appears twice in one form ("a 'var' attribute that uniquely
 * identifies the field in the context of the form"), and several <value/>
 * in a field whose type is given and is not list-multi, jid-multi,
 * text-multi or hidden ("all other field types MUST NOT contain more than
 * one <value/> element").  A submitted form usually leaves the type out;
 * form_check_values() applies the same rule with the types of the form
 * that was asked for.  Taking the first of two values would act on data
 * the sender may not have meant.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xml/form.h"
#include "xml/mem.h"
#include "xml/node.h"

static const char *const form_type_names[] = {
	[FORM_FORM] = "form",
	[FORM_SUBMIT] = "submit",
	[FORM_CANCEL] = "cancel",
	[FORM_RESULT] = "result",
};

static const char *const form_field_type_names[] = {
	[FORM_FIELD_TEXT_SINGLE] = "text-single",
	[FORM_FIELD_BOOLEAN] = "boolean",
	[FORM_FIELD_FIXED] = "fixed",
	[FORM_FIELD_HIDDEN] = "hidden",
	[FORM_FIELD_JID_MULTI] = "jid-multi",
	[FORM_FIELD_JID_SINGLE] = "jid-single",
	[FORM_FIELD_LIST_MULTI] = "list-multi",
	[FORM_FIELD_LIST_SINGLE] = "list-single",
	[FORM_FIELD_TEXT_MULTI] = "text-multi",
	[FORM_FIELD_TEXT_PRIVATE] = "text-private",
};

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

const char *
form_type_name(enum form_type t)
{
	return (size_t)t < NELEM(form_type_names) ? form_type_names[t] : "form";
}

const char *
form_field_type_name(enum form_field_type t)
{
	return (size_t)t < NELEM(form_field_type_names) ?
	    form_field_type_names[t] : "text-single";
}

/* A message for err_r (may be NULL), allocated: the caller frees it. */
static void __attribute__((format(printf, 2, 3)))
form_err(char **err_r, const char *fmt, ...)
{
	va_list ap;
	int len;

	if (err_r == NULL)
		return;
	va_start(ap, fmt);
	len = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	*err_r = xml_mem_alloc((size_t)len + 1);
	va_start(ap, fmt);
	vsnprintf(*err_r, (size_t)len + 1, fmt, ap);
	va_end(ap);
}

/* XEP-0004 section 3.2: the types that may carry several values. */
static bool
form_type_multi(enum form_field_type t)
{
	return t == FORM_FIELD_LIST_MULTI || t == FORM_FIELD_JID_MULTI ||
	    t == FORM_FIELD_TEXT_MULTI || t == FORM_FIELD_HIDDEN;
}

static int
form_field_too_many(const struct form_field *fl, enum form_field_type type,
    char **err_r)
{
	if (fl->nvalues <= 1 || form_type_multi(type))
		return 0;
	form_err(err_r, "%s: a %s field holds one value, not %zu",
	    fl->var != NULL ? fl->var : "(fixed)", form_field_type_name(type),
	    fl->nvalues);
	return -1;
}

/* The rules of section 3.2 that a form can be checked against alone. */
static int
form_check(const struct form *f, char **err_r)
{
	const struct form_field *a;
	size_t i, j;

	for (i = 0; i < f->nfields; i++) {
		a = &f->fields[i];
		if (a->type_given && form_field_too_many(a, a->type, err_r))
			return -1;
		if (a->var == NULL)
			continue;
		/* Forms have a handful of fields: no table needed. */
		for (j = 0; j < i; j++)
			if (f->fields[j].var != NULL &&
			    strcmp(f->fields[j].var, a->var) == 0) {
				form_err(err_r, "%s: the field appears more "
				    "than once in the form", a->var);
				return -1;
			}
	}
	return 0;
}

static char *
form_dup(struct form *f, const char *s)
{
	return s == NULL ? NULL : xml_arena_strdup(f->arena, s);
}

static size_t
form_count(const struct xml_node *n, const char *name)
{
	struct xml_node *c;
	size_t count = 0;

	for (c = xml_node_child(n, name, FORM_NS); c != NULL;
	    c = xml_node_next(c, name, FORM_NS))
		count++;
	return count;
}

static void
form_parse_field(struct form *f, struct form_field *fl,
    const struct xml_node *n)
{
	struct xml_node *c, *d;
	const char *type;
	size_t i;

	fl->var = form_dup(f, xml_node_attr(n, "var"));
	fl->label = form_dup(f, xml_node_attr(n, "label"));
	fl->desc = form_dup(f, xml_node_child_text(n, "desc", FORM_NS));
	fl->required = xml_node_child(n, "required", FORM_NS) != NULL;
	fl->type = FORM_FIELD_TEXT_SINGLE;
	if ((type = xml_node_attr(n, "type")) != NULL) {
		fl->type_given = true;
		for (i = 0; i < NELEM(form_field_type_names); i++)
			if (strcmp(type, form_field_type_names[i]) == 0)
				fl->type = i;
	}

	fl->nvalues = form_count(n, "value");
	fl->values = xml_arena_alloc(f->arena,
	    sizeof(*fl->values) * fl->nvalues);
	i = 0;
	for (c = xml_node_child(n, "value", FORM_NS); c != NULL;
	    c = xml_node_next(c, "value", FORM_NS))
		fl->values[i++] = form_dup(f, xml_node_text(c));

	fl->noptions = form_count(n, "option");
	fl->options = xml_arena_zalloc(f->arena,
	    sizeof(*fl->options) * fl->noptions);
	i = 0;
	for (c = xml_node_child(n, "option", FORM_NS); c != NULL;
	    c = xml_node_next(c, "option", FORM_NS), i++) {
		fl->options[i].label = form_dup(f, xml_node_attr(c, "label"));
		d = xml_node_child(c, "value", FORM_NS);
		fl->options[i].value = form_dup(f, xml_node_text(d));
	}
}

struct form *
form_parse(const struct xml_node *x, char **err_r)
{
	struct xml_arena *a;
	struct xml_node *c;
	const char *type;
	struct form *f;
	size_t i;

	if (err_r != NULL)
		*err_r = NULL;
	if (!xml_node_is(x, "x", FORM_NS)) {
		form_err(err_r, "not a jabber:x:data form");
		return NULL;
	}
	a = xml_arena_new(2048);
	f = xml_arena_zalloc(a, sizeof(*f));
	f->arena = a;
	f->type = FORM_FORM;
	if ((type = xml_node_attr(x, "type")) != NULL) {
		for (i = 0; i < NELEM(form_type_names); i++)
			if (strcmp(type, form_type_names[i]) == 0)
				break;
		if (i == NELEM(form_type_names)) {
			form_err(err_r, "unknown form type");
			xml_arena_free(a);
			return NULL;
		}
		f->type = i;
	}
	f->title = form_dup(f, xml_node_child_text(x, "title", FORM_NS));
	f->instructions = form_dup(f, xml_node_child_text(x, "instructions",
	    FORM_NS));

	f->nfields = form_count(x, "field");
	f->fields = xml_arena_zalloc(a, sizeof(*f->fields) * f->nfields);
	i = 0;
	for (c = xml_node_child(x, "field", FORM_NS); c != NULL;
	    c = xml_node_next(c, "field", FORM_NS))
		form_parse_field(f, &f->fields[i++], c);
	if (form_check(f, err_r) == -1) {
		xml_arena_free(a);
		return NULL;
	}
	for (i = 0; i < f->nfields; i++) {
		if (f->fields[i].var != NULL &&
		    strcmp(f->fields[i].var, "FORM_TYPE") == 0 &&
		    f->fields[i].nvalues > 0) {
			f->form_type = f->fields[i].values[0];
			break;
		}
	}
	return f;
}

int
form_check_values(const struct form *f, const struct form *asked,
    char **err_r)
{
	const struct form_field *a, *def;
	size_t i;

	if (err_r != NULL)
		*err_r = NULL;
	for (i = 0; i < f->nfields; i++) {
		a = &f->fields[i];
		if (a->var == NULL || (def = form_get_field(asked, a->var)) ==
		    NULL)
			continue;
		if (form_field_too_many(a, def->type, err_r) == -1)
			return -1;
	}
	return 0;
}

void
form_free(struct form **fp)
{
	if (*fp != NULL)
		xml_arena_free((*fp)->arena);
	*fp = NULL;
}

/* The first form under parent whose FORM_TYPE is form_type (NULL: any). */
struct xml_node *
form_find(const struct xml_node *parent, const char *form_type)
{
	struct xml_node *x, *fl;
	const char *v;

	for (x = xml_node_child(parent, "x", FORM_NS); x != NULL;
	    x = xml_node_next(x, "x", FORM_NS)) {
		if (form_type == NULL)
			return x;
		for (fl = xml_node_child(x, "field", FORM_NS); fl != NULL;
		    fl = xml_node_next(fl, "field", FORM_NS)) {
			v = xml_node_attr(fl, "var");
			if (v == NULL || strcmp(v, "FORM_TYPE") != 0)
				continue;
			v = xml_node_child_text(fl, "value", FORM_NS);
			if (v != NULL && strcmp(v, form_type) == 0)
				return x;
			break;
		}
	}
	return NULL;
}

const struct form_field *
form_get_field(const struct form *f, const char *var)
{
	size_t i;

	for (i = 0; i < f->nfields; i++)
		if (f->fields[i].var != NULL &&
		    strcmp(f->fields[i].var, var) == 0)
			return &f->fields[i];
	return NULL;
}

const char *
form_node_value(const struct xml_node *parent, const char *var,
    bool *found_r)
{
	const struct xml_node *x, *f;
	const char *fvar;

	if (found_r != NULL)
		*found_r = false;
	if (parent == NULL || (x = xml_node_child(parent, "x", FORM_NS)) ==
	    NULL)
		return NULL;
	for (f = xml_node_child(x, "field", FORM_NS); f != NULL;
	    f = xml_node_next(f, "field", FORM_NS)) {
		fvar = xml_node_attr(f, "var");
		if (fvar != NULL && strcmp(fvar, var) == 0) {
			if (found_r != NULL)
				*found_r = true;
			return xml_node_child_text(f, "value", FORM_NS);
		}
	}
	return NULL;
}

const char *
form_get_value(const struct form *f, const char *var)
{
	const struct form_field *fl;

	if ((fl = form_get_field(f, var)) == NULL || fl->nvalues == 0)
		return NULL;
	return fl->values[0];
}

/* XEP-0004 §3.3 boolean: "0", "1", "false", "true". */
int
form_get_bool(const struct form *f, const char *var, int dflt)
{
	const char *v;

	if ((v = form_get_value(f, var)) == NULL)
		return dflt;
	if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0)
		return 1;
	if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0)
		return 0;
	return dflt;
}

static struct xml_node *
form_build_field_type(struct xml_node *x, const char *var, const char *type,
    const char *label)
{
	struct xml_node *fl;

	fl = xml_node_add_child(x, "field", FORM_NS);
	if (var != NULL)
		xml_node_set_attr(fl, "var", var);
	if (type != NULL)
		xml_node_set_attr(fl, "type", type);
	if (label != NULL)
		xml_node_set_attr(fl, "label", label);
	return fl;
}

static void
form_build_init(struct xml_node *x, enum form_type type,
    const char *form_type)
{
	struct xml_node *fl;

	xml_node_set_attr(x, "type", form_type_name(type));
	if (form_type != NULL) {
		fl = form_build_field_type(x, "FORM_TYPE", "hidden", NULL);
		form_build_value(fl, form_type);
	}
}

struct xml_node *
form_build(enum form_type type, const char *form_type)
{
	struct xml_node *x;

	x = xml_node_new("x", FORM_NS);
	form_build_init(x, type, form_type);
	return x;
}

struct xml_node *
form_build_in(struct xml_node *parent, enum form_type type,
    const char *form_type)
{
	struct xml_node *x;

	x = xml_node_add_child(parent, "x", FORM_NS);
	form_build_init(x, type, form_type);
	return x;
}

struct xml_node *
form_build_field(struct xml_node *x, const char *var,
    enum form_field_type type, const char *label)
{
	return form_build_field_type(x, var, form_field_type_name(type), label);
}

void
form_build_value(struct xml_node *field, const char *value)
{
	xml_node_add_child_text(field, "value", FORM_NS, value);
}

void
form_build_option(struct xml_node *field, const char *label,
    const char *value)
{
	struct xml_node *o;

	o = xml_node_add_child(field, "option", FORM_NS);
	if (label != NULL)
		xml_node_set_attr(o, "label", label);
	xml_node_add_child_text(o, "value", FORM_NS, value);
}

void
form_build_required(struct xml_node *field)
{
	xml_node_add_child(field, "required", FORM_NS);
}

/* Title and instructions come first in a form (XEP-0004 §3.1 schema). */
void
form_build_title(struct xml_node *x, const char *title,
    const char *instructions)
{
	struct xml_node *first = x->children, *n;

	if (title != NULL) {
		n = xml_node_add_child_text(x, "title", FORM_NS, title);
		if (first != NULL && first != n) {
			xml_node_remove(n);
			n->next = x->children;
			n->parent = x;
			x->children = n;
		}
	}
	if (instructions != NULL) {
		n = xml_node_add_child_text(x, "instructions", FORM_NS,
		    instructions);
		if (first != NULL && first != n) {
			/* After the title if there is one. */
			xml_node_remove(n);
			n->parent = x;
			if (title != NULL) {
				n->next = x->children->next;
				x->children->next = n;
			} else {
				n->next = x->children;
				x->children = n;
			}
		}
	}
}

/* A tree for a parsed (or filled-in) form, in the same order. */
struct xml_node *
form_to_node(const struct form *f)
{
	const struct form_field *fl;
	struct xml_node *x, *n;
	size_t i, j;

	x = form_build(f->type, NULL);
	form_build_title(x, f->title, f->instructions);
	for (i = 0; i < f->nfields; i++) {
		fl = &f->fields[i];
		n = form_build_field_type(x, fl->var, fl->type_given ?
		    form_field_type_name(fl->type) : NULL, fl->label);
		if (fl->desc != NULL)
			xml_node_add_child_text(n, "desc", FORM_NS, fl->desc);
		if (fl->required)
			form_build_required(n);
		for (j = 0; j < fl->nvalues; j++)
			form_build_value(n, fl->values[j]);
		for (j = 0; j < fl->noptions; j++)
			form_build_option(n, fl->options[j].label,
			    fl->options[j].value);
	}
	return x;
}
