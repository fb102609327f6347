/*
 * Element tree, builder and serializer (see node.h).
 *
 * Follows XML 1.0 (fifth edition) and Namespaces in XML 1.0 for output.
 * Deviations and simplifications:
 *   - element prefixes are not preserved; namespaces are written as default
 *     namespace declarations, which is equivalent;
 *   - attributes in a namespace other than xml: are written with the prefix
 *     they had on input, or a generated one (xpN), declared on the element
 *     that uses them;
 *   - no check that names are valid XML names: builders pass literals, and
 *     parsed names were checked by expat.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>

#include "xml/mem.h"
#include "xml/node.h"
#include "xml/node_priv.h"

/* A Prosody publish takes a little over 4 kB of tree. */
#define NODE_ARENA_FIRST	4096
#define NODE_ARENA_SHALLOW	512	/* an element and its attributes */

static bool
ns_same(const char *a, const char *b)
{
	if (a == b)
		return true;
	if (a == NULL || b == NULL)
		return false;
	return strcmp(a, b) == 0;
}

/* Lookup semantics: NULL is any namespace, "" is none. */
static bool
ns_match(const char *have, const char *want)
{
	if (want == NULL)
		return true;
	if (*want == '\0')
		return have == NULL;
	return have != NULL && strcmp(have, want) == 0;
}

/* Builder semantics: NULL or "" is no namespace; share the parent's copy. */
static const char *
node_intern_ns(struct xml_node *parent, struct xml_arena *a, const char *ns)
{
	if (ns == NULL || *ns == '\0')
		return NULL;
	if (parent != NULL && parent->ns != NULL && strcmp(parent->ns, ns) == 0)
		return parent->ns;
	return xml_arena_strdup(a, ns);
}

struct xml_node *
xml_node_new(const char *name, const char *ns)
{
	struct xml_arena *a;
	struct xml_node *n;

	a = xml_arena_new(NODE_ARENA_FIRST);
	n = xml_node_alloc(a, XML_NODE_ELEMENT);
	n->name = xml_arena_strdup(a, name);
	n->ns = node_intern_ns(NULL, a, ns);
	n->owns_arena = true;
	return n;
}

struct xml_node *
xml_node_add_child(struct xml_node *parent, const char *name, const char *ns)
{
	struct xml_node *n;

	n = xml_node_alloc(parent->arena, XML_NODE_ELEMENT);
	n->name = xml_arena_strdup(parent->arena, name);
	n->ns = ns == NULL ? parent->ns :
	    node_intern_ns(parent, parent->arena, ns);
	xml_node_link(parent, n);
	return n;
}

struct xml_node *
xml_node_add_child_text(struct xml_node *parent, const char *name,
    const char *ns, const char *text)
{
	struct xml_node *n;

	n = xml_node_add_child(parent, name, ns);
	if (text != NULL)
		xml_node_add_text(n, text);
	return n;
}

static struct xml_node *
node_copy_into(struct xml_arena *a, struct xml_node *parent,
    const struct xml_node *src, bool deep)
{
	const struct xml_attr *sat;
	const struct xml_node *sc;
	struct xml_attr *at;
	struct xml_node *n;

	n = xml_node_alloc(a, src->type);
	if (src->type == XML_NODE_TEXT) {
		n->text = xml_arena_strndup(a, src->text, src->textlen);
		n->textlen = src->textlen;
	} else {
		n->name = xml_arena_strdup(a, src->name);
		n->ns = node_intern_ns(parent, a, src->ns);
		for (sat = src->attrs; sat != NULL; sat = sat->next) {
			at = xml_arena_zalloc(a, sizeof(*at));
			at->name = xml_arena_strdup(a, sat->name);
			at->ns = sat->ns ? xml_arena_strdup(a, sat->ns) : NULL;
			at->prefix = sat->prefix ?
			    xml_arena_strdup(a, sat->prefix) : NULL;
			at->value = xml_arena_strndup(a, sat->value,
			    sat->valuelen);
			at->valuelen = sat->valuelen;
			xml_node_link_attr(n, at);
		}
		for (sc = deep ? src->children : NULL; sc != NULL;
		    sc = sc->next)
			node_copy_into(a, n, sc, true);
	}
	if (parent != NULL)
		xml_node_link(parent, n);
	return n;
}

struct xml_node *
xml_node_copy(const struct xml_node *src)
{
	struct xml_arena *a;
	struct xml_node *n;

	a = xml_arena_new(NODE_ARENA_FIRST);
	n = node_copy_into(a, NULL, src, true);
	n->owns_arena = true;
	return n;
}

struct xml_node *
xml_node_copy_shallow(const struct xml_node *src)
{
	struct xml_arena *a;
	struct xml_node *n;

	a = xml_arena_new(NODE_ARENA_SHALLOW);
	n = node_copy_into(a, NULL, src, false);
	n->owns_arena = true;
	return n;
}

/*
 * A root that owns its arena is moved in without a copy: its arena joins
 * the parent's and goes when the parent's tree goes.  Anything else is part
 * of some other tree, which may be freed first, so it is copied.
 */
struct xml_node *
xml_node_append(struct xml_node *parent, struct xml_node *child)
{
	if (child->owns_arena && child->parent == NULL) {
		child->owns_arena = false;
		xml_arena_adopt(parent->arena, child->arena);
		xml_node_link(parent, child);
		return child;
	}
	return node_copy_into(parent->arena, parent, child, true);
}

/*
 * Adjacent text is merged into one node so lookups see one string; a
 * builder adds text a handful of times, so the copy is cheap.
 */
void
xml_node_add_textn(struct xml_node *n, const char *text, size_t len)
{
	struct xml_node *t = n->last_child;
	char *p;

	if (len == 0)
		return;
	if (t != NULL && t->type == XML_NODE_TEXT) {
		p = xml_arena_alloc(n->arena, t->textlen + len + 1);
		memcpy(p, t->text, t->textlen);
		memcpy(p + t->textlen, text, len);
		t->textlen += len;
		p[t->textlen] = '\0';
		t->text = p;
		return;
	}
	t = xml_node_alloc(n->arena, XML_NODE_TEXT);
	t->text = xml_arena_strndup(n->arena, text, len);
	t->textlen = len;
	xml_node_link(n, t);
}

void
xml_node_add_text(struct xml_node *n, const char *text)
{
	xml_node_add_textn(n, text, strlen(text));
}

void
xml_node_set_attr_ns(struct xml_node *n, const char *ns, const char *name,
    const char *value)
{
	struct xml_attr *at, **pp;

	if (ns != NULL && *ns == '\0')
		ns = NULL;
	for (pp = &n->attrs; (at = *pp) != NULL; pp = &at->next) {
		if (strcmp(at->name, name) == 0 && ns_same(at->ns, ns))
			break;
	}
	if (value == NULL) {
		if (at == NULL)
			return;
		*pp = at->next;
		if (n->last_attr == at) {
			n->last_attr = NULL;
			for (at = n->attrs; at != NULL; at = at->next)
				n->last_attr = at;
		}
		return;
	}
	if (at == NULL) {
		at = xml_arena_zalloc(n->arena, sizeof(*at));
		at->name = xml_arena_strdup(n->arena, name);
		at->ns = ns ? xml_arena_strdup(n->arena, ns) : NULL;
		xml_node_link_attr(n, at);
	}
	at->valuelen = strlen(value);
	at->value = xml_arena_strndup(n->arena, value, at->valuelen);
}

void
xml_node_set_attr(struct xml_node *n, const char *name, const char *value)
{
	xml_node_set_attr_ns(n, NULL, name, value);
}

/* The node's memory stays in its tree's arena until that tree is freed. */
void
xml_node_remove(struct xml_node *n)
{
	struct xml_node *p = n->parent, *c, *prev = NULL;

	if (p == NULL)
		return;
	for (c = p->children; c != NULL; prev = c, c = c->next) {
		if (c != n)
			continue;
		if (prev != NULL)
			prev->next = c->next;
		else
			p->children = c->next;
		if (p->last_child == c)
			p->last_child = prev;
		break;
	}
	n->parent = NULL;
	n->next = NULL;
}

void
xml_node_free(struct xml_node **np)
{
	struct xml_node *n = *np;

	if (n == NULL)
		return;
	*np = NULL;
	if (n->owns_arena)
		xml_arena_free(n->arena);
	else
		xml_node_remove(n);
}

bool
xml_node_is(const struct xml_node *n, const char *name, const char *ns)
{
	return n != NULL && n->type == XML_NODE_ELEMENT &&
	    (name == NULL || strcmp(n->name, name) == 0) && ns_match(n->ns, ns);
}

const char *
xml_node_attr_ns(const struct xml_node *n, const char *ns, const char *name)
{
	const struct xml_attr *at;

	if (n == NULL)
		return NULL;
	if (ns != NULL && *ns == '\0')
		ns = NULL;
	for (at = n->attrs; at != NULL; at = at->next)
		if (strcmp(at->name, name) == 0 && ns_same(at->ns, ns))
			return at->value;
	return NULL;
}

const char *
xml_node_attr(const struct xml_node *n, const char *name)
{
	return xml_node_attr_ns(n, NULL, name);
}

static struct xml_node *
node_find(struct xml_node *c, const char *name, const char *ns)
{
	for (; c != NULL; c = c->next)
		if (xml_node_is(c, name, ns))
			return c;
	return NULL;
}

struct xml_node *
xml_node_child(const struct xml_node *n, const char *name, const char *ns)
{
	return n == NULL ? NULL : node_find(n->children, name, ns);
}

struct xml_node *
xml_node_next(const struct xml_node *n, const char *name, const char *ns)
{
	return n == NULL ? NULL : node_find(n->next, name, ns);
}

/*
 * Text of the direct text children, never NULL.  Parsed trees and builders
 * keep adjacent text in one node, so this is almost always a pointer into
 * the tree; mixed content ("a<b/>c") is joined in the arena.
 */
const char *
xml_node_text(const struct xml_node *n)
{
	const struct xml_node *c, *first = NULL;
	size_t len = 0, count = 0;
	char *p;

	if (n == NULL)
		return "";
	if (n->type == XML_NODE_TEXT)
		return n->text;
	for (c = n->children; c != NULL; c = c->next) {
		if (c->type != XML_NODE_TEXT)
			continue;
		if (first == NULL)
			first = c;
		len += c->textlen;
		count++;
	}
	if (count == 0)
		return "";
	if (count == 1)
		return first->text;
	p = xml_arena_alloc(n->arena, len + 1);
	len = 0;
	for (c = first; c != NULL; c = c->next) {
		if (c->type != XML_NODE_TEXT)
			continue;
		memcpy(p + len, c->text, c->textlen);
		len += c->textlen;
	}
	p[len] = '\0';
	return p;
}

const char *
xml_node_child_text(const struct xml_node *n, const char *name,
    const char *ns)
{
	struct xml_node *c;

	if ((c = xml_node_child(n, name, ns)) == NULL)
		return NULL;
	return xml_node_text(c);
}

bool
xml_node_equal(const struct xml_node *a, const struct xml_node *b)
{
	const struct xml_attr *aa, *ba;
	const struct xml_node *ac, *bc;

	if (a->type != b->type)
		return false;
	if (a->type == XML_NODE_TEXT)
		return a->textlen == b->textlen &&
		    memcmp(a->text, b->text, a->textlen) == 0;
	if (strcmp(a->name, b->name) != 0 || !ns_same(a->ns, b->ns))
		return false;
	for (aa = a->attrs, ba = b->attrs; aa != NULL && ba != NULL;
	    aa = aa->next, ba = ba->next) {
		if (strcmp(aa->name, ba->name) != 0 ||
		    !ns_same(aa->ns, ba->ns) || aa->valuelen != ba->valuelen ||
		    memcmp(aa->value, ba->value, aa->valuelen) != 0)
			return false;
	}
	if (aa != NULL || ba != NULL)
		return false;
	for (ac = a->children, bc = b->children; ac != NULL && bc != NULL;
	    ac = ac->next, bc = bc->next)
		if (!xml_node_equal(ac, bc))
			return false;
	return ac == NULL && bc == NULL;
}

static bool
node_prefix_taken(const struct xml_node *n, const struct xml_attr *at,
    const char *prefix)
{
	const struct xml_attr *o;

	for (o = n->attrs; o != NULL; o = o->next)
		if (o != at && o->ns != NULL && o->prefix != NULL &&
		    strcmp(o->prefix, prefix) == 0 &&
		    (at == NULL || strcmp(o->ns, at->ns) != 0))
			return true;
	return false;
}

/*
 * The prefix for a namespaced attribute: xml: is predeclared; otherwise the
 * prefix it had on input, declared on this element unless an earlier
 * attribute declared the same binding.  An attribute built without a prefix
 * (or whose prefix clashes) gets xpN, N its position, skipping any prefix
 * the element's attributes already use.
 */
static const char *
node_attr_prefix(const struct xml_node *n, const struct xml_attr *at,
    char *tmp, size_t tmpsz, bool *declare_r)
{
	const struct xml_attr *o;
	unsigned int idx = 0;

	*declare_r = false;
	if (strcmp(at->ns, XML_NS_XML) == 0)
		return "xml";
	*declare_r = true;
	if (at->prefix != NULL && strcmp(at->prefix, "xml") != 0 &&
	    strcmp(at->prefix, "xmlns") != 0 &&
	    !node_prefix_taken(n, at, at->prefix)) {
		for (o = n->attrs; o != at; o = o->next)
			if (o->ns != NULL && o->prefix != NULL &&
			    strcmp(o->prefix, at->prefix) == 0)
				*declare_r = false;
		return at->prefix;
	}
	for (o = n->attrs; o != at; o = o->next)
		idx++;
	do {
		snprintf(tmp, tmpsz, "xp%u", idx);
		idx += 1000;
	} while (node_prefix_taken(n, NULL, tmp));
	return tmp;
}

static void
node_write_start(const struct xml_node *n, const char *inherited,
    struct xml_buf *b)
{
	const struct xml_attr *at;
	const char *prefix;
	char tmp[16];
	bool declare;

	xml_buf_append_char(b, '<');
	xml_buf_append_str(b, n->name);
	if (!ns_same(n->ns, inherited)) {
		xml_buf_append(b, " xmlns='", 8);
		if (n->ns != NULL)
			xml_buf_append_attr(b, n->ns, strlen(n->ns));
		xml_buf_append_char(b, '\'');
	}
	for (at = n->attrs; at != NULL; at = at->next) {
		xml_buf_append_char(b, ' ');
		if (at->ns != NULL) {
			prefix = node_attr_prefix(n, at, tmp, sizeof(tmp),
			    &declare);
			if (declare) {
				xml_buf_append(b, "xmlns:", 6);
				xml_buf_append_str(b, prefix);
				xml_buf_append(b, "='", 2);
				xml_buf_append_attr(b, at->ns, strlen(at->ns));
				xml_buf_append(b, "' ", 2);
			}
			xml_buf_append_str(b, prefix);
			xml_buf_append_char(b, ':');
		}
		xml_buf_append_str(b, at->name);
		xml_buf_append(b, "='", 2);
		xml_buf_append_attr(b, at->value, at->valuelen);
		xml_buf_append_char(b, '\'');
	}
	xml_buf_append(b, n->children != NULL ? ">" : "/>", n->children ? 1 : 2);
}

static void
node_write_end(const struct xml_node *n, struct xml_buf *b)
{
	xml_buf_append(b, "</", 2);
	xml_buf_append_str(b, n->name);
	xml_buf_append_char(b, '>');
}

/*
 * Iterative walk so a deep tree cannot exhaust the stack.  Each element
 * declares its namespace when it differs from its parent's, so the default
 * namespace in scope for a child is always its parent's namespace.
 */
void
xml_node_serialize_with_default_ns(const struct xml_node *top,
    const char *default_ns, struct xml_buf *b)
{
	const struct xml_node *n = top;

	if (default_ns != NULL && *default_ns == '\0')
		default_ns = NULL;
	for (;;) {
		if (n->type == XML_NODE_TEXT)
			xml_buf_append_text(b, n->text, n->textlen);
		else {
			node_write_start(n, n == top ? default_ns :
			    n->parent->ns, b);
			if (n->children != NULL) {
				n = n->children;
				continue;
			}
		}
		/* Close finished elements until one has a next sibling. */
		for (;;) {
			if (n == top)
				return;
			if (n->next != NULL) {
				n = n->next;
				break;
			}
			n = n->parent;
			node_write_end(n, b);
		}
	}
}

void
xml_node_serialize(const struct xml_node *n, struct xml_buf *b)
{
	xml_node_serialize_with_default_ns(n, NULL, b);
}

char *
xml_node_to_string(const struct xml_node *n)
{
	struct xml_buf b = XML_BUF_INIT;

	xml_node_serialize(n, &b);
	return xml_buf_steal(&b, NULL);
}
