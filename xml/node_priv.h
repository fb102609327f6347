/*
 * Tree construction without copying, for the parsers inside xml/: the
 * strings passed in must already live in the tree's arena.
 */
#ifndef XP_XML_NODE_PRIV_H
#define XP_XML_NODE_PRIV_H

#include "xml/mem.h"
#include "xml/node.h"

static inline struct xml_node *
xml_node_alloc(struct xml_arena *a, enum xml_node_type type)
{
	struct xml_node *n;

	n = xml_arena_zalloc(a, sizeof(*n));
	n->type = type;
	n->arena = a;
	return n;
}

static inline void
xml_node_link(struct xml_node *parent, struct xml_node *child)
{
	child->parent = parent;
	child->next = NULL;
	if (parent->last_child != NULL)
		parent->last_child->next = child;
	else
		parent->children = child;
	parent->last_child = child;
}

static inline void
xml_node_link_attr(struct xml_node *n, struct xml_attr *at)
{
	at->next = NULL;
	if (n->last_attr != NULL)
		n->last_attr->next = at;
	else
		n->attrs = at;
	n->last_attr = at;
}

#endif
