/*
 * Element tree, builder and serializer for XMPP stanzas.
 *
 * Namespaces (Namespaces in XML 1.0) are resolved: every element carries its
 * namespace URI, not a prefix, and the serializer writes a default-namespace
 * declaration (xmlns='...') wherever an element's namespace differs from its
 * parent's.  Element prefixes seen on input are therefore not kept (a
 * <stream:error/> stanza comes back as <error xmlns='http://etherx...'/>,
 * which means the same).  Namespaced attributes keep their input prefix;
 * xml:lang is written with the reserved xml: prefix.
 *
 * Memory: every tree lives in one arena owned by its root.  Nodes are never
 * freed one by one; xml_node_free() on the root frees the whole tree.  The
 * structures below are read-only for callers: change trees through the
 * functions.
 *
 * Namespace arguments: in lookups NULL matches any namespace and
 * XML_NS_NONE ("") matches only elements in no namespace; xml_node_new()
 * takes NULL as no namespace; xml_node_add_child() takes NULL as "same as
 * the parent", the common case when building a stanza.
 */
#ifndef XP_XML_NODE_H
#define XP_XML_NODE_H

#include <stdbool.h>
#include <stddef.h>

#include "xml/buf.h"

#define XML_NS_NONE	""
#define XML_NS_XML	"http://www.w3.org/XML/1998/namespace"

enum xml_node_type {
	XML_NODE_ELEMENT,
	XML_NODE_TEXT,
};

struct xml_arena;

struct xml_attr {
	struct xml_attr	*next;
	const char	*name;		/* local name */
	const char	*ns;		/* NULL: no namespace, the usual case */
	const char	*prefix;	/* as seen on input, NULL if none */
	const char	*value;
	size_t		 valuelen;
};

struct xml_node {
	enum xml_node_type type;
	const char	*name;		/* local name; NULL for text */
	const char	*ns;		/* NULL: no namespace */
	const char	*text;		/* text nodes: the characters */
	size_t		 textlen;
	struct xml_attr	*attrs;		/* in document order */
	struct xml_attr	*last_attr;
	struct xml_node	*parent;
	struct xml_node	*children;	/* elements and text, in order */
	struct xml_node	*last_child;
	struct xml_node	*next;		/* sibling */
	struct xml_arena *arena;	/* where this tree allocates */
	bool		 owns_arena;	/* a root that frees the arena */
};

/* Building. */
struct xml_node	*xml_node_new(const char *name, const char *ns);
struct xml_node	*xml_node_add_child(struct xml_node *, const char *name,
		    const char *ns);
struct xml_node	*xml_node_add_child_text(struct xml_node *, const char *name,
		    const char *ns, const char *text);
struct xml_node	*xml_node_append(struct xml_node *parent, struct xml_node *);
void		 xml_node_add_text(struct xml_node *, const char *);
void		 xml_node_add_textn(struct xml_node *, const char *, size_t);
void		 xml_node_set_attr(struct xml_node *, const char *name,
		    const char *value);
void		 xml_node_set_attr_ns(struct xml_node *, const char *ns,
		    const char *name, const char *value);
void		 xml_node_remove(struct xml_node *);
struct xml_node	*xml_node_copy(const struct xml_node *);
/* The element and its attributes, without children, in a small arena. */
struct xml_node	*xml_node_copy_shallow(const struct xml_node *);
void		 xml_node_free(struct xml_node **);

/* Lookups. */
bool		 xml_node_is(const struct xml_node *, const char *name,
		    const char *ns);
const char	*xml_node_attr(const struct xml_node *, const char *name);
const char	*xml_node_attr_ns(const struct xml_node *, const char *ns,
		    const char *name);
struct xml_node	*xml_node_child(const struct xml_node *, const char *name,
		    const char *ns);
struct xml_node	*xml_node_next(const struct xml_node *, const char *name,
		    const char *ns);
const char	*xml_node_text(const struct xml_node *);
const char	*xml_node_child_text(const struct xml_node *, const char *name,
		    const char *ns);
bool		 xml_node_equal(const struct xml_node *,
		    const struct xml_node *);

/* Serializing. */
void		 xml_node_serialize(const struct xml_node *, struct xml_buf *);
void		 xml_node_serialize_with_default_ns(const struct xml_node *,
		    const char *default_ns, struct xml_buf *);
char		*xml_node_to_string(const struct xml_node *);

#endif
