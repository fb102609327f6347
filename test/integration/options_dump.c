/*
 * Prints every entry of options_table, one per line:
 *
 *	block.key<TAB>type<TAB>default
 *
 * with the bare key at top level, the type as xpushd.conf(5) names it
 * (string, integer, boolean, list, block) and the default as the table
 * writes it ("-" when there is none: required keys and blocks).
 * test/integration/man_test.sh compares this with man/xpushd.conf.5.
 */
#include "config.h"

#include <stdio.h>

#include "core/options.h"

static const char *
type_word(enum opt_type t)
{
	switch (t) {
	case OPT_STRING:	return "string";
	case OPT_INTEGER:	return "integer";
	case OPT_BOOLEAN:	return "boolean";
	case OPT_STRLIST:	return "list";
	case OPT_BLOCK:		return "block";
	}
	return "?";
}

int
main(void)
{
	const struct opt_entry *oe;

	for (oe = options_table; oe->key != NULL; oe++)
		printf("%s%s%s\t%s\t%s%s\n", oe->block != NULL ? oe->block : "",
		    oe->block != NULL ? "." : "", oe->key, type_word(oe->type),
		    oe->def != NULL ? oe->def : "-",
		    oe->flags & OPT_REQUIRED ? "\trequired" : "");
	return ferror(stdout) || fflush(stdout) != 0;
}
