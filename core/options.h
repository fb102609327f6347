/*
 * The daemon's settings: one table (block, key, type, default, range, help)
 * in the manner of tmux's options-table.c.  Validation, the typed getters,
 * xpushd.conf(5) and `xpushd -t` all work from it.
 */
#ifndef XP_OPTIONS_H
#define XP_OPTIONS_H

#include <stdbool.h>
#include "core/cfg.h"

enum opt_type {
	OPT_STRING,
	OPT_INTEGER,
	OPT_BOOLEAN,
	OPT_STRLIST,		/* a list of strings */
	OPT_BLOCK,
};

#define OPT_REQUIRED	0x1	/* no default: the file must set it */
#define OPT_SECRET	0x2	/* never printed */
#define OPT_PROVIDERS	0x4	/* a block whose children are provider blocks */

struct opt_entry {
	const char	*block;		/* NULL at top level */
	const char	*key;
	enum opt_type	 type;
	const char	*def;		/* the default, as the file would say it */
	long long	 min, max;	/* OPT_INTEGER */
	int		 flags;
	const char	*help;
};

extern const struct opt_entry options_table[];

/* A loaded and validated configuration. */
struct xp_conf {
	struct cfg_file	*file;
};

/*
 * Checks the provider blocks inside push () { }: called once per block;
 * returns -1 with *error_r set to refuse it.  NULL accepts every block.
 */
typedef int opt_provider_check(const struct cfg_node *block, char **error_r);

struct xp_conf	*conf_load(const char *path, opt_provider_check *,
		    char **error_r);
struct xp_conf	*conf_load_string(const char *name, const char *text,
		    opt_provider_check *, char **error_r);
void		 conf_free(struct xp_conf **);

/* Typed getters; the key must be in options_table (fatalx otherwise). */
const char	*conf_str(const struct xp_conf *, const char *block,
		    const char *key);
long long	 conf_int(const struct xp_conf *, const char *block,
		    const char *key);
bool		 conf_bool(const struct xp_conf *, const char *block,
		    const char *key);
/* A list of strings: returns the count, items through *items_r. */
size_t		 conf_list(const struct xp_conf *, const char *block,
		    const char *key, const struct cfg_value *const **items_r);
/* The provider blocks, in file order. */
const struct cfg_node *conf_providers(const struct xp_conf *);

/* False for a block written with (active: false). */
bool		 conf_block_active(const struct cfg_node *);

/*
 * Refuses Tigase's retired FCM legacy block with the way forward; the id
 * 'fcm-xmpp-api' itself is accepted when the block names the HTTP v1
 * module and carries none of the legacy keys.
 */
int		 options_check_provider_basic(const struct cfg_node *,
		    char **error_r);
/* The module a provider block's Tigase class parameter names, or NULL. */
const char	*options_class_module(const struct cfg_node *);

const struct opt_entry *options_find(const char *block, const char *key);
/* Checks one statement against a type and range (for provider options). */
int		 options_check_value(const struct cfg_node *, enum opt_type,
		    long long min, long long max, char **error_r);

#endif
