/*
 * XEP-0004 data forms: parse an <x xmlns='jabber:x:data'/> into a struct,
 * and build forms as trees.
 */
#ifndef XP_XML_FORM_H
#define XP_XML_FORM_H

#include <stdbool.h>
#include <stddef.h>

#include "xml/node.h"

#define FORM_NS		"jabber:x:data"

enum form_type {
	FORM_FORM,
	FORM_SUBMIT,
	FORM_CANCEL,
	FORM_RESULT,
};

enum form_field_type {
	FORM_FIELD_TEXT_SINGLE = 0,	/* also absent and unknown types */
	FORM_FIELD_BOOLEAN,
	FORM_FIELD_FIXED,
	FORM_FIELD_HIDDEN,
	FORM_FIELD_JID_MULTI,
	FORM_FIELD_JID_SINGLE,
	FORM_FIELD_LIST_MULTI,
	FORM_FIELD_LIST_SINGLE,
	FORM_FIELD_TEXT_MULTI,
	FORM_FIELD_TEXT_PRIVATE,
};

struct form_option {
	const char	*label;		/* NULL if none */
	const char	*value;
};

struct form_field {
	const char	*var;		/* NULL for a fixed field */
	enum form_field_type type;
	bool		 type_given;	/* the type attribute was present */
	const char	*label;		/* NULL if none */
	const char	*desc;		/* NULL if none */
	bool		 required;
	const char	**values;	/* nvalues; <value/> gives "" */
	size_t		 nvalues;
	struct form_option *options;
	size_t		 noptions;
};

struct form {
	enum form_type	 type;
	const char	*form_type;	/* the FORM_TYPE value, or NULL */
	const char	*title;		/* NULL if none */
	const char	*instructions;	/* first one, NULL if none */
	struct form_field *fields;
	size_t		 nfields;
	struct xml_arena *arena;
};

/*
 * Parsing (the form copies what it needs; the tree may go first).  On
 * NULL, *err_r (if err_r is not NULL) is one sentence, naming the field
 * where one is at fault ("device-token: ..."), to free(3).
 */
struct form	*form_parse(const struct xml_node *x, char **err_r);
/*
 * A submitted form against the form that was asked for, whose field types
 * count (the submitter need not repeat them): -1 and *err_r (to free) if
 * a field of a single-valued type carries several values.
 */
int		 form_check_values(const struct form *, const struct form *asked,
		    char **err_r);
void		 form_free(struct form **);
struct xml_node	*form_find(const struct xml_node *parent,
		    const char *form_type);
const struct form_field *form_get_field(const struct form *,
		    const char *var);
/*
 * The text of the first <value/> of field var in the form that is
 * parent's <x/> child, read from the tree without parsing the form (a hot
 * path: the publish-options of every publish).  NULL when there is no
 * such field or it has no value; *found_r (may be NULL) says whether the
 * field is there.
 */
const char	*form_node_value(const struct xml_node *parent,
		    const char *var, bool *found_r);
const char	*form_get_value(const struct form *, const char *var);
int		 form_get_bool(const struct form *, const char *var, int dflt);
const char	*form_type_name(enum form_type);
const char	*form_field_type_name(enum form_field_type);

/* Building. */
struct xml_node	*form_build(enum form_type, const char *form_type);
struct xml_node	*form_build_in(struct xml_node *parent, enum form_type,
		    const char *form_type);
struct xml_node	*form_build_field(struct xml_node *x, const char *var,
		    enum form_field_type, const char *label);
void		 form_build_value(struct xml_node *field, const char *value);
void		 form_build_option(struct xml_node *field, const char *label,
		    const char *value);
void		 form_build_required(struct xml_node *field);
void		 form_build_title(struct xml_node *x, const char *title,
		    const char *instructions);
struct xml_node	*form_to_node(const struct form *);

#endif
