/*
 * The configuration language: the subset of the Tigase DSL that the Tigase
 * Push Component's documentation uses, so its examples load unchanged.
 *
 *	file   := stmt*
 *	stmt   := key '=' value | key ['(' params ')'] '{' stmt* '}'
 *	params := key ':' value { ',' key ':' value }
 *	key    := identifier | 'string' | "string"
 *	value  := string | integer | true | false | '[' values ']' | env('NAME')
 *
 * Statements end at a newline or ';'.  Comments: '#' and '//' to the end of
 * the line, and '/' '*' ... '*' '/'.  Errors read "file:line:col: message".
 *
 * This file only builds the tree; which keys exist and what they mean is the
 * business of core/options.c.
 */
#ifndef XP_CFG_H
#define XP_CFG_H

#include <stdbool.h>
#include <stddef.h>

enum cfg_type {
	CFG_STRING,
	CFG_INTEGER,
	CFG_BOOLEAN,
	CFG_LIST,
	CFG_BLOCK,
};

struct cfg_pos {
	const char	*file;		/* owned by the cfg_file */
	int		 line, col;
};

struct cfg_value {
	enum cfg_type	  type;		/* never CFG_BLOCK */
	struct cfg_pos	  pos;
	char		 *str;		/* CFG_STRING (may hold no NUL) */
	long long	  num;		/* CFG_INTEGER */
	bool		  boolean;	/* CFG_BOOLEAN */
	struct cfg_value **items;	/* CFG_LIST */
	size_t		  nitems;
};

struct cfg_node {
	char		 *key;
	struct cfg_pos	  pos;
	struct cfg_value *value;	/* an assignment; NULL for a block */
	struct cfg_node	 *params;	/* a block's (key: value) list */
	struct cfg_node	 *children;	/* a block's statements */
	struct cfg_node	 *next;
};

struct cfg_file {
	char		*path;
	struct cfg_node	*root;		/* top-level statements */
};

struct cfg_file	*cfg_parse_file(const char *path, char **error_r);
struct cfg_file	*cfg_parse_string(const char *name, const char *text,
		    size_t len, char **error_r);
void		 cfg_free(struct cfg_file **);

/* Look-ups in a statement list; the last assignment of a key wins. */
const struct cfg_node *cfg_find(const struct cfg_node *list, const char *key);
bool		 cfg_is_block(const struct cfg_node *);
const char	*cfg_type_name(enum cfg_type);

/* "file:line:col" for messages; returns a static buffer. */
const char	*cfg_where(const struct cfg_pos *);

/*
 * Strict UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF):
 * the configuration's strings and the REST endpoint's JSON fields.
 */
bool	utf8_valid(const char *, size_t);

#endif
