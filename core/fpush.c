/*
 * The fpush dialect, as Monal and Quicksy iOS use it (see fpush.h).
 *
 * What the app sends (Monal, Monal/Classes/XMPPIQ.m,
 * setPushEnableWithNode): an XEP-0357 enable at its own server with node
 * = the APNs device token as lower-case hex (HelperTools stringFromToken)
 * and a publish-options form (FORM_TYPE pubsub#publish-options) whose one
 * field pushModule names the build: monalProdiOS, monalProdCatalyst,
 * quicksyProdiOS, quicksyProdCatalyst, monalAlpha, each with "-sandbox"
 * for a sandbox build.  No secret, no registration.
 *
 * What fpush does with the publish (fpush/src/xmpp/message_loop.rs,
 * parse_token_and_module_id and handle_push_result): the module named by
 * pushModule, or the default module when there is none, pushes to the
 * node as a token; an unknown module is answered cancel/bad-request, a
 * token APNs calls dead cancel/policy-violation, a rate-limited one with
 * a result.  Here:
 *
 *   - pushModule names a module of a provider block (fpush-modules); an
 *     unknown one is refused with cancel/bad-request and says so;
 *   - the node must be a token of the right shape for that block's
 *     module (its check_token, through the hook main.c installs), else
 *     cancel/bad-request: a registration-less node must not open a hole;
 *   - no publisher check and no secret (fpush has neither): the token is
 *     the credential, as in fpush;
 *   - the target is not stored (stored = false): nothing to delete when
 *     the token dies, no last_push; the pipeline answers a dead token
 *     with cancel/policy-violation and throttles per node, i.e. per
 *     token.
 *
 * Deviations: fpush refuses publish-options that carry fields other than
 * pushModule (and more than 5); here other fields are ignored, so a
 * server that adds a secret still works.  fpush keeps a list of blocked
 * tokens; here each publish asks APNs again (the server stops publishing
 * after its own error limit).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cfg.h"
#include "core/fpush.h"
#include "core/log.h"
#include "core/options.h"
#include "core/xmalloc.h"
#include "xml/form.h"
#include "xml/node.h"

#define FPUSH_KEY_MODULES	"fpush-modules"
#define FPUSH_KEY_DEFAULT	"fpush-default"

struct fpush_module {
	char	*name;
	char	*provider;	/* the provider block's id */
};

static struct {
	struct fpush_module	 m[FPUSH_MODULES_MAX];
	size_t			 n;
	const struct fpush_module *def;	/* NULL: no default module */
	fpush_token_check	*check;
} fp;

/*
 * The configuration.
 */

static bool
module_name_ok(const char *s)
{
	size_t i, len = strlen(s);

	if (len == 0 || len > FPUSH_MODULE_NAME_MAX)
		return false;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
			return false;
	return true;
}

static const struct cfg_value *
block_modules(const struct cfg_node *b)
{
	const struct cfg_node *n = cfg_find(b->children, FPUSH_KEY_MODULES);

	return n != NULL && n->value != NULL && n->value->type == CFG_LIST ?
	    n->value : NULL;
}

static const char *
block_default(const struct cfg_node *b, const struct cfg_pos **pos_r)
{
	const struct cfg_node *n = cfg_find(b->children, FPUSH_KEY_DEFAULT);

	if (n == NULL || n->value == NULL || n->value->type != CFG_STRING ||
	    *n->value->str == '\0')
		return NULL;
	*pos_r = &n->pos;
	return n->value->str;
}

static bool
list_has(const struct cfg_value *l, const char *s)
{
	size_t i;

	for (i = 0; l != NULL && i < l->nitems; i++)
		if (l->items[i]->type == CFG_STRING &&
		    strcmp(l->items[i]->str, s) == 0)
			return true;
	return false;
}

/* The modules of block b against the names seen so far (*seen, count). */
static int
check_block(const struct cfg_node *b, const char **seen, size_t *count,
    const char **def_block, char **error_r)
{
	const struct cfg_value *l = block_modules(b), *v;
	const struct cfg_pos *pos = NULL;
	const char *def;
	size_t i, k;

	for (i = 0; l != NULL && i < l->nitems; i++) {
		v = l->items[i];
		if (v->type != CFG_STRING || !module_name_ok(v->str)) {
			xasprintf(error_r, "%s: %s: a pushModule name is 1 to "
			    "%d printable bytes without spaces",
			    cfg_where(&v->pos), FPUSH_KEY_MODULES,
			    FPUSH_MODULE_NAME_MAX);
			return -1;
		}
		for (k = 0; k < *count; k++)
			if (strcmp(seen[k], v->str) == 0) {
				xasprintf(error_r, "%s: pushModule '%s' is "
				    "served twice", cfg_where(&v->pos),
				    v->str);
				return -1;
			}
		if (*count == FPUSH_MODULES_MAX) {
			xasprintf(error_r, "%s: more than %d pushModule names",
			    cfg_where(&v->pos), FPUSH_MODULES_MAX);
			return -1;
		}
		seen[(*count)++] = v->str;
	}
	if ((def = block_default(b, &pos)) == NULL)
		return 0;
	if (!list_has(l, def)) {
		xasprintf(error_r, "%s: %s '%s' is not one of this block's %s",
		    cfg_where(pos), FPUSH_KEY_DEFAULT, def, FPUSH_KEY_MODULES);
		return -1;
	}
	if (*def_block != NULL) {
		xasprintf(error_r, "%s: %s is already set in provider '%s': "
		    "there is one default module", cfg_where(pos),
		    FPUSH_KEY_DEFAULT, *def_block);
		return -1;
	}
	*def_block = b->key;
	return 0;
}

int
fpush_check_conf(const struct xp_conf *conf, char **error_r)
{
	const char *seen[FPUSH_MODULES_MAX], *def_block = NULL;
	const struct cfg_node *b;
	size_t count = 0;

	for (b = conf_providers(conf); b != NULL; b = b->next)
		if (cfg_is_block(b) && conf_block_active(b) &&
		    check_block(b, seen, &count, &def_block, error_r) == -1)
			return -1;
	return 0;
}

static void
table_clear(void)
{
	size_t i;

	for (i = 0; i < fp.n; i++) {
		free(fp.m[i].name);
		free(fp.m[i].provider);
	}
	fp.n = 0;
	fp.def = NULL;
}

/* conf passed fpush_check_conf(). */
static void
table_load(const struct xp_conf *conf)
{
	const struct cfg_node *b;
	const struct cfg_value *l;
	const struct cfg_pos *pos;
	const char *def;
	size_t i;

	table_clear();
	for (b = conf_providers(conf); b != NULL; b = b->next) {
		if (!cfg_is_block(b) || !conf_block_active(b))
			continue;
		l = block_modules(b);
		def = block_default(b, &pos);
		for (i = 0; l != NULL && i < l->nitems &&
		    fp.n < FPUSH_MODULES_MAX; i++) {
			fp.m[fp.n].name = xstrdup(l->items[i]->str);
			fp.m[fp.n].provider = xstrdup(b->key);
			if (def != NULL && strcmp(def, l->items[i]->str) == 0)
				fp.def = &fp.m[fp.n];
			fp.n++;
		}
	}
	if (fp.n > 0)
		log_info("fpush: %zu pushModule names served%s%s", fp.n,
		    fp.def != NULL ? ", default " : "",
		    fp.def != NULL ? fp.def->name : "");
}

void
fpush_init(const struct xp_conf *conf, fpush_token_check *check)
{
	fp.check = check;
	table_load(conf);
}

void
fpush_reconfigure(const struct xp_conf *conf)
{
	table_load(conf);
}

void
fpush_shutdown(void)
{
	table_clear();
	fp.check = NULL;
}

bool
fpush_enabled(void)
{
	return fp.n > 0;
}

/*
 * The publish.
 */

/* The pushModule field of the publish-options form, or NULL. */
static const char *
options_module(const struct xml_node *po, bool *present_r)
{
	const char *v = form_node_value(po, FPUSH_FIELD_MODULE, present_r);

	return *present_r && v == NULL ? "" : v;
}

/* name as it may go into the log and an error text: cut, controls as '?'. */
static const char *
printable(const char *name, char *buf, size_t size)
{
	size_t i;

	for (i = 0; name[i] != '\0' && i + 1 < size; i++)
		buf[i] = (unsigned char)name[i] < ' ' || name[i] == 0x7f ?
		    '?' : name[i];
	buf[i] = '\0';
	return buf;
}

static const struct fpush_module *
module_find(const char *name)
{
	size_t i;

	for (i = 0; i < fp.n; i++)
		if (strcmp(fp.m[i].name, name) == 0)
			return &fp.m[i];
	return NULL;
}

/* Whether token has the shape m's provider wants; else *error_r. */
static bool
token_ok(const struct fpush_module *m, const char *token, char **error_r)
{
	if (fp.check == NULL) {
		*error_r = xstrdup("no token check installed");
		return false;
	}
	return fp.check(m->provider, token, error_r) == 0;
}

bool
fpush_claims_module(const struct registry_query *q)
{
	bool present;

	if (fp.n == 0)
		return false;
	options_module(q->options, &present);
	return present;
}

bool
fpush_claims_default(const struct registry_query *q)
{
	char *err = NULL;
	bool present, ok;

	if (fp.def == NULL)
		return false;
	options_module(q->options, &present);
	if (present)
		return false;
	if (!(ok = token_ok(fp.def, q->node, &err)))
		free(err);
	return ok;
}

void
fpush_lookup(const struct registry_query *q, registry_cb *cb, void *arg)
{
	const struct fpush_module *m;
	struct push_target t;
	const char *name;
	char why[256], shown[FPUSH_MODULE_NAME_MAX + 1], *err = NULL;
	bool present;

	name = options_module(q->options, &present);
	m = present ? module_find(name) : fp.def;
	if (m == NULL && !present) {
		/* The default module went away with a reload meanwhile. */
		cb(arg, REGISTRY_UNKNOWN, NULL, "no such node");
		return;
	}
	if (m == NULL) {
		printable(name, shown, sizeof(shown));
		log_info("fpush: %s asks for pushModule '%s', which is not "
		    "served", q->from != NULL ? q->from : "(nobody)", shown);
		snprintf(why, sizeof(why), "unknown pushModule '%s'", shown);
		cb(arg, REGISTRY_REFUSED, NULL, why);
		return;
	}
	if (!token_ok(m, q->node, &err)) {
		log_info("fpush: node from %s is not a device token for "
		    "pushModule %s: %s", q->from != NULL ? q->from :
		    "(nobody)", m->name, err);
		snprintf(why, sizeof(why), "the node is not a device token "
		    "for pushModule %s: %s", m->name, err);
		free(err);
		cb(arg, REGISTRY_REFUSED, NULL, why);
		return;
	}
	memset(&t, 0, sizeof(t));
	t.node = q->node;
	t.owner = NULL;
	t.provider = m->provider;
	t.token = q->node;
	t.voip_token = NULL;
	t.stored = false;
	t.profile = XP_PROFILE_FPUSH;
	cb(arg, REGISTRY_FOUND, &t, NULL);
}
