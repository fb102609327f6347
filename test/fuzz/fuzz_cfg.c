/*
 * libFuzzer target for the configuration language: core/cfg.c parses the
 * bytes (exactly size of them, no NUL after: an overread is ASan's), then
 * core/options.c checks the tree against the options table.  Whatever
 * loads must answer every getter of the table, integers within the
 * table's range; whatever fails must say why.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/cfg.h"
#include "core/options.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_getters(const struct xp_conf *conf)
{
	const struct opt_entry *o;
	const struct cfg_value *const *items;
	long long n;

	for (o = options_table; o->key != NULL; o++) {
		switch (o->type) {
		case OPT_STRING:
			if (conf_str(conf, o->block, o->key) == NULL &&
			    (o->flags & OPT_REQUIRED))
				abort();
			break;
		case OPT_INTEGER:
			n = conf_int(conf, o->block, o->key);
			if (n < o->min || n > o->max)
				abort();
			break;
		case OPT_BOOLEAN:
			(void)conf_bool(conf, o->block, o->key);
			break;
		case OPT_STRLIST:
			(void)conf_list(conf, o->block, o->key, &items);
			break;
		case OPT_BLOCK:
			break;
		}
	}
	(void)conf_providers(conf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cfg_file *cf;
	struct xp_conf *conf;
	char *buf, *err = NULL;

	/* The buffer entry point, on exactly the input's bytes. */
	if ((buf = malloc(size > 0 ? size : 1)) == NULL)
		return 0;
	memcpy(buf, data, size);
	cf = cfg_parse_string("fuzz.conf", buf, size, &err);
	if ((cf == NULL) == (err == NULL))
		abort();
	if (err != NULL && strncmp(err, "fuzz.conf", 9) != 0)
		abort();
	cfg_free(&cf);
	free(err);
	err = NULL;
	free(buf);

	/* The whole load: parse and check against the options table. */
	if ((buf = malloc(size + 1)) == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	conf = conf_load_string("fuzz.conf", buf, options_check_provider_basic,
	    &err);
	if ((conf == NULL) == (err == NULL))
		abort();
	if (conf != NULL)
		check_getters(conf);
	conf_free(&conf);
	free(err);
	free(buf);
	return 0;
}
