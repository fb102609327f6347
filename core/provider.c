/*
 * Provider modules (xpushd-provider(7)): the loader and the dispatch layer
 * through which the core reaches them, as OpenSMTPD's table.c wraps each
 * backend call.
 *
 * A provider block's module is its 'plugin' key, the module of its Tigase
 * class parameter (options_class_module), or, for the well-known Tigase
 * provider ids, the module that serves them.  Modules are opened with
 * libltdl from `module-path` (default: the installed pkglibdir), must
 * export `xpushd_provider` with the ABI number this xpushd was built with,
 * and declare their options, which are checked here so that a typo in a
 * provider block is an error with file:line:col, like everywhere else.
 *
 * The contract's rules are enforced here, once, rather than by every
 * module: an answer a module gives inside send() is queued and delivered
 * from the event loop (one queue, one event); every answer, and every send
 * a module refuses at once, is counted in the provider's statistics
 * exactly once; log lines of a module carry the block id, added here.
 *
 * Every answer also goes through the provider's mass-deletion guard
 * (core/guard.h): when invalid-token answers pile up the way a
 * misconfiguration makes them (deletion-guard-count, -share, -window),
 * provider_deletion_allowed() says no, provider_status() reports the
 * provider unusable with the reason (GET /health), a warning is logged at
 * most once every PROVIDER_GUARD_LOG_MS and the admins get a chat message
 * (core/admins.c) when it trips and when it reopens.  A reload builds new
 * instances, with new guards: SIGHUP resumes deletions.
 */
#include "config.h"

#include <sys/queue.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <ltdl.h>

#include "core/admins.h"
#include "core/clock.h"
#include "core/guard.h"
#include "core/log.h"
#include "core/provider.h"
#include "core/stats.h"
#include "core/store.h"
#include "core/xmalloc.h"

#define PROVIDER_MAX_MODULES	16
/* Finished send records kept for reuse: sends come and go in bursts. */
#define PROVIDER_SEND_SPARE	1024
/* Held deletions are logged at most this often per provider. */
#define PROVIDER_GUARD_LOG_MS	60000
/* The tag of the guard's messages to the admins. */
#define PROVIDER_GUARD_TAG	"deletion-guard"

struct provider {
	char			*id;		/* the provider block's name */
	const struct xp_provider *mod;
	void			*self;
	struct provider		*next;
	struct guard		 guard;
	char			 guard_why[256];	/* while tripped */
	uint64_t		 guard_logged;	/* last log of held deletions */
	uint64_t		 guard_held;	/* held since that log */
};

/* One send between provider_send() and its answer. */
struct psend {
	struct provider		*p;
	xp_sent_cb		*cb;
	void			*arg;
	uint64_t		 started;	/* clock_ms() */
	bool			 in_send;	/* the module's send() runs */
	bool			 answered;	/* answered inside send() */
	bool			 unguarded;	/* an invalid token deletes
						   nothing: not counted as
						   invalid by the guard */
	enum xp_outcome		 outcome;	/* the queued answer */
	unsigned int		 retry_after;
	char			*reason;
	TAILQ_ENTRY(psend)	 entry;		/* deferred queue or spares */
};
TAILQ_HEAD(psendq, psend);

static const struct {
	const char	*id;
	const char	*module;
} well_known[] = {
	{ "apns-binary-api", "apns" },
	{ "apns-voip", "apns-voip" },
	{ "fcm-http-v1", "fcm" },
	{ NULL, NULL }
};

struct module {
	char			*name;
	lt_dlhandle		 handle;
	const struct xp_provider *prov;
};

/* What a module reads its options from: values resolved with defaults. */
struct block {
	const struct xp_provider *mod;
	const struct cfg_node	*node;		/* the provider block */
	struct cfg_file		*defaults;	/* parsed default texts */
	char			*id;
	struct xp_host		 host;
	const char		***lists;	/* opt_list arrays, by option */
	size_t			 nopts;
};

struct cert_watch {
	char			*id;		/* NULL: any */
	void			(*changed)(void *);
	void			*arg;
	struct cert_watch	*next;
};

static struct {
	bool			 lt_ready;
	struct module		 modules[PROVIDER_MAX_MODULES];
	size_t			 nmodules;
	struct provider		*list;
	struct block		**blocks;	/* one per instance, in list order */
	size_t			 nblocks;
	struct event_base	*base;
	struct store		*store;
	struct cert_watch	*watches;
	char			*module_path;
	struct psendq		 deferred;	/* answered inside send() */
	struct event		*deferred_ev;
	struct psendq		 spare;
	size_t			 nspare;
} pv = {
	.deferred = TAILQ_HEAD_INITIALIZER(pv.deferred),
	.spare = TAILQ_HEAD_INITIALIZER(pv.spare),
};

static const char *
provider_module_name(const struct cfg_node *block)
{
	const struct cfg_node *p = cfg_find(block->children, "plugin");
	const char *name;
	size_t i;

	if (p != NULL && p->value != NULL && p->value->type == CFG_STRING)
		return p->value->str;
	if ((name = options_class_module(block)) != NULL)
		return name;
	for (i = 0; well_known[i].id != NULL; i++)
		if (strcmp(well_known[i].id, block->key) == 0)
			return well_known[i].module;
	return NULL;
}

static const char *
module_dir(const struct xp_conf *conf)
{
	const char *p = conf_str(conf, NULL, "module-path");

	return p != NULL && *p != '\0' ? p : PKGLIBDIR;
}

static const struct xp_provider *
module_load(const char *dir, const char *name, char **error_r)
{
	const struct xp_provider *prov;
	const lt_dlinfo *info;
	struct module *m;
	lt_dlhandle h;
	char *path;
	size_t i;

	for (i = 0; i < pv.nmodules; i++)
		if (strcmp(pv.modules[i].name, name) == 0)
			return pv.modules[i].prov;
	if (strchr(name, '/') != NULL || name[0] == '.') {
		xasprintf(error_r, "module name '%s' must not hold a path: "
		    "set module-path instead", name);
		return NULL;
	}
	if (!pv.lt_ready) {
		if (lt_dlinit() != 0)
			fatalx("lt_dlinit: %s", lt_dlerror());
		pv.lt_ready = true;
	}
	if (pv.nmodules == PROVIDER_MAX_MODULES) {
		xasprintf(error_r, "too many provider modules");
		return NULL;
	}
	xasprintf(&path, "%s/%s", dir, name);
	if ((h = lt_dlopenext(path)) == NULL) {
		xasprintf(error_r, "cannot load provider module %s (.so/.la): "
		    "%s", path, lt_dlerror());
		free(path);
		return NULL;
	}
	/* From here on, messages name the file that was opened. */
	if ((info = lt_dlgetinfo(h)) != NULL && info->filename != NULL) {
		free(path);
		path = xstrdup(info->filename);
	}
	prov = lt_dlsym(h, "xpushd_provider");
	if (prov == NULL) {
		xasprintf(error_r, "%s is not an xpushd provider module: no "
		    "symbol xpushd_provider", path);
		lt_dlclose(h);
		free(path);
		return NULL;
	}
	if (prov->abi != XP_PROVIDER_ABI) {
		xasprintf(error_r, "%s was built for provider ABI %u, this "
		    "xpushd speaks ABI %u: rebuild the module", path,
		    prov->abi, XP_PROVIDER_ABI);
		lt_dlclose(h);
		free(path);
		return NULL;
	}
	if (prov->create == NULL || prov->send == NULL ||
	    prov->destroy == NULL || prov->name == NULL) {
		xasprintf(error_r, "%s lacks create, send, destroy or a name",
		    path);
		lt_dlclose(h);
		free(path);
		return NULL;
	}
	log_debug("provider: loaded module %s (%s)", path, prov->name);
	free(path);
	m = &pv.modules[pv.nmodules++];
	m->name = xstrdup(name);
	m->handle = h;
	m->prov = prov;
	return prov;
}

static enum opt_type
xp_type(enum xp_opt_type t)
{
	switch (t) {
	case XP_OPT_STRING:	return OPT_STRING;
	case XP_OPT_INTEGER:	return OPT_INTEGER;
	case XP_OPT_BOOLEAN:	return OPT_BOOLEAN;
	case XP_OPT_STRLIST:	return OPT_STRLIST;
	}
	return OPT_STRING;
}

static const struct xp_option *
module_option(const struct xp_provider *mod, const char *key)
{
	const struct xp_option *o;

	for (o = mod->options; o != NULL && o->key != NULL; o++)
		if (strcmp(o->key, key) == 0)
			return o;
	return NULL;
}

/* The block's keys against the module's options table. */
static int
block_check(const struct cfg_node *block, const struct xp_provider *mod,
    char **error_r)
{
	const struct xp_option *o;
	const struct cfg_node *n, *m;

	for (n = block->children; n != NULL; n = n->next) {
		if ((o = module_option(mod, n->key)) == NULL) {
			xasprintf(error_r, "%s: unknown key '%s' in provider "
			    "'%s' (module %s)", cfg_where(&n->pos), n->key,
			    block->key, mod->name);
			return -1;
		}
		for (m = n->next; m != NULL; m = m->next)
			if (strcmp(m->key, n->key) == 0) {
				xasprintf(error_r, "%s: '%s' is set twice",
				    cfg_where(&m->pos), n->key);
				return -1;
			}
		if (options_check_value(n, xp_type(o->type), o->min, o->max,
		    error_r) == -1)
			return -1;
	}
	for (o = mod->options; o != NULL && o->key != NULL; o++)
		if (o->def == NULL && cfg_find(block->children, o->key) ==
		    NULL) {
			xasprintf(error_r, "%s: provider '%s' needs '%s' (%s)",
			    cfg_where(&block->pos), block->key, o->key,
			    o->help != NULL ? o->help : "required");
			return -1;
		}
	return 0;
}

static const struct xp_provider *
block_module(const struct xp_conf *conf, const struct cfg_node *block,
    char **error_r)
{
	const struct xp_provider *mod;
	const char *name;
	char *err = NULL;

	if ((name = provider_module_name(block)) == NULL) {
		xasprintf(error_r, "%s: provider '%s' has no 'plugin' key and "
		    "is not a well-known provider id (apns-binary-api, "
		    "apns-voip, fcm-http-v1)", cfg_where(&block->pos),
		    block->key);
		return NULL;
	}
	if ((mod = module_load(module_dir(conf), name, &err)) == NULL) {
		xasprintf(error_r, "%s: provider '%s': %s",
		    cfg_where(&block->pos), block->key, err);
		free(err);
		return NULL;
	}
	if (block_check(block, mod, error_r) == -1)
		return NULL;
	return mod;
}

int
providers_check(const struct xp_conf *conf, char **error_r)
{
	const struct cfg_node *b;

	for (b = conf_providers(conf); b != NULL; b = b->next)
		if (conf_block_active(b) && block_module(conf, b, error_r)
		    == NULL)
			return -1;
	return 0;
}

int
provider_block_caps(const struct xp_conf *conf, const struct cfg_node *b,
    unsigned int *caps_r, char **error_r)
{
	const struct xp_provider *mod;

	if ((mod = block_module(conf, b, error_r)) == NULL)
		return -1;
	*caps_r = mod->caps;
	return 0;
}

/* Host services. */

static void
host_log(const struct xp_host *h, enum xp_log_level level, const char *fmt,
    ...)
{
	const struct block *b = h->ctx;
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	switch (level) {
	case XP_LOG_DEBUG:
		log_debug("%s: %s", b->id, msg);
		break;
	case XP_LOG_INFO:
		log_info("%s: %s", b->id, msg);
		break;
	default:
		log_warnx("%s: %s", b->id, msg);
		break;
	}
}

static const struct cfg_value *
block_value(const void *blockp, const char *key, enum xp_opt_type type)
{
	const struct block *b = blockp;
	const struct xp_option *o = module_option(b->mod, key);
	const struct cfg_node *n;
	size_t idx;

	if (o == NULL || o->type != type)
		fatalx("provider %s asked for option '%s' that its table "
		    "does not declare with that type", b->id, key);
	if ((n = cfg_find(b->node->children, key)) != NULL)
		return n->value;
	if (o->def == NULL || b->defaults == NULL)
		return NULL;
	/* Defaults were parsed in table order as v0 = …, v1 = … */
	idx = (size_t)(o - b->mod->options);
	for (n = b->defaults->root; n != NULL; n = n->next)
		if ((size_t)atoi(n->key + 1) == idx)
			return n->value;
	return NULL;
}

static const char *
host_opt_str(const struct xp_host *h, const void *block, const char *key)
{
	const struct cfg_value *v = block_value(block, key, XP_OPT_STRING);

	return v != NULL ? v->str : NULL;
}

static long long
host_opt_int(const struct xp_host *h, const void *block, const char *key)
{
	const struct cfg_value *v = block_value(block, key, XP_OPT_INTEGER);

	return v != NULL ? v->num : 0;
}

static bool
host_opt_bool(const struct xp_host *h, const void *block, const char *key)
{
	const struct cfg_value *v = block_value(block, key, XP_OPT_BOOLEAN);

	return v != NULL && v->boolean;
}

static size_t
host_opt_list(const struct xp_host *h, const void *block, const char *key,
    const char *const **items_r)
{
	const struct cfg_value *v = block_value(block, key, XP_OPT_STRLIST);
	struct block *b = (struct block *)block;
	const struct xp_option *o = module_option(b->mod, key);
	size_t idx = (size_t)(o - b->mod->options), i;

	if (v == NULL || v->nitems == 0) {
		*items_r = NULL;
		return 0;
	}
	/* Built once per block and key; freed with the block. */
	if (b->lists == NULL)
		b->lists = xcalloc(b->nopts, sizeof(*b->lists));
	if (b->lists[idx] == NULL) {
		b->lists[idx] = xcalloc(v->nitems, sizeof(**b->lists));
		for (i = 0; i < v->nitems; i++)
			b->lists[idx][i] = v->items[i]->str;
	}
	*items_r = b->lists[idx];
	return v->nitems;
}

struct cert_req {
	void	(*cb)(void *, int, const struct xp_cert *);
	void	*arg;
};

static void
host_cert_done_cb(void *arg, enum store_status st, const struct store_cert *c,
    const char *msg)
{
	struct cert_req *r = arg;
	struct xp_cert xc;

	if (st == STORE_OK) {
		memset(&xc, 0, sizeof(xc));
		xc.pkcs12 = c->pkcs12;
		xc.pkcs12_len = c->pkcs12_len;
		xc.password = c->password;
		xc.cert_pem = c->cert_pem;
		xc.key_pem = c->key_pem;
		r->cb(r->arg, 0, &xc);
	} else if (st == STORE_NOTFOUND)
		r->cb(r->arg, 1, NULL);
	else
		r->cb(r->arg, -1, NULL);
	free(r);
}

static void
host_cert_get(const struct xp_host *h, const char *id,
    void (*cb)(void *, int, const struct xp_cert *), void *arg)
{
	struct cert_req *r = xcalloc(1, sizeof(*r));

	r->cb = cb;
	r->arg = arg;
	store_cert_get(pv.store, id, host_cert_done_cb, r);
}

static void
host_cert_watch(const struct xp_host *h, const char *id,
    void (*changed)(void *), void *arg)
{
	struct cert_watch *w = xcalloc(1, sizeof(*w));

	w->id = id != NULL ? xstrdup(id) : NULL;
	w->changed = changed;
	w->arg = arg;
	w->next = pv.watches;
	pv.watches = w;
}

static void
host_cert_unwatch(const struct xp_host *h, void (*changed)(void *),
    void *arg)
{
	struct cert_watch **wp, *w;

	for (wp = &pv.watches; (w = *wp) != NULL; )
		if (w->changed == changed && w->arg == arg) {
			*wp = w->next;
			free(w->id);
			free(w);
		} else
			wp = &w->next;
}

static void
provider_cert_change_cb(void *arg, const char *id)
{
	struct cert_watch *w;

	log_info("provider: certificate of %s changed in the database",
	    id != NULL ? id : "every provider");
	for (w = pv.watches; w != NULL; w = w->next)
		if (id == NULL || w->id == NULL || strcmp(w->id, id) == 0)
			w->changed(w->arg);
}

static void
watches_clear(void)
{
	struct cert_watch *w;

	while ((w = pv.watches) != NULL) {
		pv.watches = w->next;
		free(w->id);
		free(w);
	}
}

static struct block *
block_new(const struct xp_provider *mod, const struct cfg_node *node)
{
	const struct xp_option *o;
	struct block *b = xcalloc(1, sizeof(*b));
	char *text = NULL, *err = NULL, *line;
	size_t len = 0, i;

	b->mod = mod;
	b->node = node;
	b->id = xstrdup(node->key);
	for (o = mod->options, i = 0; o != NULL && o->key != NULL; o++, i++) {
		b->nopts = i + 1;
		if (o->def == NULL)
			continue;
		line = xprintf("v%zu = %s\n", i, o->def);
		text = xrealloc(text, len + strlen(line) + 1);
		memcpy(text + len, line, strlen(line) + 1);
		len += strlen(line);
		free(line);
	}
	if (text != NULL) {
		b->defaults = cfg_parse_string(mod->name, text, len, &err);
		if (b->defaults == NULL)
			fatalx("module %s: a default in its options table does "
			    "not parse: %s", mod->name, err);
		free(text);
	}
	b->host.abi = XP_PROVIDER_ABI;
	b->host.base = pv.base;
	b->host.ctx = b;
	b->host.log = host_log;
	b->host.opt_str = host_opt_str;
	b->host.opt_int = host_opt_int;
	b->host.opt_bool = host_opt_bool;
	b->host.opt_list = host_opt_list;
	b->host.cert_get = host_cert_get;
	b->host.cert_watch = host_cert_watch;
	b->host.cert_unwatch = host_cert_unwatch;
	return b;
}

static void
block_free(struct block *b)
{
	size_t i;

	for (i = 0; b->lists != NULL && i < b->nopts; i++)
		free(b->lists[i]);
	free(b->lists);
	cfg_free(&b->defaults);
	free(b->id);
	free(b);
}

static void	deferred_flush(const struct provider *);

static void
list_destroy(struct provider *list, struct block **blocks, size_t nblocks)
{
	struct provider *p;
	size_t i;

	while ((p = list) != NULL) {
		list = p->next;
		/* destroy() answers what is outstanding; so does the queue. */
		p->mod->destroy(p->self);
		deferred_flush(p);
		free(p->id);
		free(p);
	}
	for (i = 0; i < nblocks; i++)
		block_free(blocks[i]);
	free(blocks);
}

static void
guard_conf_from(const struct xp_conf *conf, struct guard_conf *gc)
{
	gc->count = (uint64_t)conf_int(conf, NULL, "deletion-guard-count");
	gc->share = (unsigned int)conf_int(conf, NULL,
	    "deletion-guard-share");
	gc->window_ms = (uint64_t)conf_int(conf, NULL,
	    "deletion-guard-window") * 1000;
}

/* Creates every instance of conf into the lists given. */
static int
build(const struct xp_conf *conf, struct provider **list_r,
    struct block ***blocks_r, size_t *nblocks_r, char **error_r)
{
	struct provider *list = NULL, **tail = &list, *p;
	const struct xp_provider *mod;
	const struct cfg_node *n;
	struct block **blocks = NULL, *b;
	struct guard_conf gc;
	size_t nblocks = 0;
	char *err = NULL;
	void *self;

	guard_conf_from(conf, &gc);
	for (n = conf_providers(conf); n != NULL; n = n->next) {
		if (!conf_block_active(n)) {
			log_info("provider %s is switched off (active: false)",
			    n->key);
			continue;
		}
		if ((mod = block_module(conf, n, error_r)) == NULL)
			goto fail;
		b = block_new(mod, n);
		blocks = xreallocarray(blocks, nblocks + 1, sizeof(*blocks));
		blocks[nblocks++] = b;
		if ((self = mod->create(&b->host, b, n->key, &err)) == NULL) {
			xasprintf(error_r, "%s: provider '%s' (module %s): %s",
			    cfg_where(&n->pos), n->key, mod->name,
			    err != NULL ? err : "create failed");
			free(err);
			goto fail;
		}
		p = xcalloc(1, sizeof(*p));
		p->id = xstrdup(n->key);
		p->mod = mod;
		p->self = self;
		guard_init(&p->guard, &gc);
		*tail = p;
		tail = &p->next;
		log_info("provider %s ready (module %s)", p->id, mod->name);
	}
	*list_r = list;
	*blocks_r = blocks;
	*nblocks_r = nblocks;
	return 0;
fail:
	list_destroy(list, blocks, nblocks);
	return -1;
}

/* Dispatch */

static struct psend *
psend_get(void)
{
	struct psend *ps;

	if ((ps = TAILQ_FIRST(&pv.spare)) != NULL) {
		TAILQ_REMOVE(&pv.spare, ps, entry);
		pv.nspare--;
		return ps;
	}
	return xmalloc(sizeof(*ps));
}

static void
psend_put(struct psend *ps)
{
	free(ps->reason);
	if (pv.nspare >= PROVIDER_SEND_SPARE) {
		free(ps);
		return;
	}
	TAILQ_INSERT_HEAD(&pv.spare, ps, entry);
	pv.nspare++;
}

static void
spares_free(void)
{
	struct psend *ps;

	while ((ps = TAILQ_FIRST(&pv.spare)) != NULL) {
		TAILQ_REMOVE(&pv.spare, ps, entry);
		free(ps);
	}
	pv.nspare = 0;
}

/* The guard */

static void
guard_tripped(struct provider *p, uint64_t now, const char *reason)
{
	struct guard_figures f;
	char *text;

	guard_figures(&p->guard, now, &f);
	snprintf(p->guard_why, sizeof(p->guard_why), "deleting registrations "
	    "is suspended: %llu of %llu answers within %llu s said the token "
	    "is invalid (last: %s); a misconfiguration?",
	    (unsigned long long)f.invalid, (unsigned long long)f.answers,
	    (unsigned long long)(p->guard.conf.window_ms / 1000),
	    reason != NULL ? reason : "invalid token");
	log_warnx("provider %s: %s", p->id, p->guard_why);
	text = xprintf("xpushd: provider '%s' answered %llu of its last %llu "
	    "pushes (within %llu s) with an invalid device token (last "
	    "reason: %s). A wrong endpoint (sandbox or production), topic or "
	    "project looks like that, so xpushd stopped deleting the "
	    "registrations of '%s': those publishes get a wait error and the "
	    "rows are kept. Deletions resume once the rate stays below the "
	    "threshold for %llu s, or on SIGHUP.", p->id,
	    (unsigned long long)f.invalid, (unsigned long long)f.answers,
	    (unsigned long long)(p->guard.conf.window_ms / 1000),
	    reason != NULL ? reason : "invalid token", p->id,
	    (unsigned long long)(p->guard.conf.window_ms / 1000));
	admins_tell(PROVIDER_GUARD_TAG, text);
	free(text);
	p->guard_logged = now;
	p->guard_held = 0;
}

static void
guard_reopened(struct provider *p)
{
	char *text;

	log_info("provider %s: invalid-token answers back below the "
	    "threshold: deleting dead registrations again (%llu held since "
	    "the last report)", p->id, (unsigned long long)p->guard_held);
	p->guard_why[0] = '\0';
	p->guard_held = 0;
	text = xprintf("xpushd: provider '%s' no longer answers with invalid "
	    "tokens at a suspicious rate: deleting dead registrations again.",
	    p->id);
	admins_tell(PROVIDER_GUARD_TAG, text);
	free(text);
}

/* Whether p's guard lets deletions through now; tells of a reopening. */
static bool
guard_check(struct provider *p, uint64_t now)
{
	bool reopened;

	if (guard_open(&p->guard, now, &reopened)) {
		if (reopened)
			guard_reopened(p);
		return true;
	}
	return false;
}

bool
provider_deletion_allowed(struct provider *p)
{
	uint64_t now = clock_ms();

	if (guard_check(p, now))
		return true;
	p->guard_held++;
	if (now - p->guard_logged >= PROVIDER_GUARD_LOG_MS) {
		log_warnx("provider %s: %llu deletions held in the last "
		    "%llu s: %s", p->id, (unsigned long long)p->guard_held,
		    (unsigned long long)((now - p->guard_logged) / 1000),
		    p->guard_why);
		p->guard_logged = now;
		p->guard_held = 0;
	}
	return false;
}

/* Counts the answer, then hands it to the caller: the only way out. */
static void
psend_deliver(struct psend *ps, enum xp_outcome o, unsigned int retry_after,
    const char *reason)
{
	xp_sent_cb *cb = ps->cb;
	void *arg = ps->arg;
	uint64_t now = clock_ms();

	stats_provider_outcome(ps->p->id, o,
	    (double)(now - ps->started) / 1000.0);
	if (guard_note(&ps->p->guard, now, o == XP_INVALID_TOKEN &&
	    !ps->unguarded))
		guard_tripped(ps->p, now, reason);
	cb(arg, o, retry_after, reason);
}

static void
provider_sent_cb(void *arg, enum xp_outcome o, unsigned int retry_after,
    const char *reason)
{
	struct psend *ps = arg;

	if (ps->in_send) {
		/* Too early: the caller is still inside provider_send(). */
		ps->answered = true;
		ps->outcome = o;
		ps->retry_after = retry_after;
		ps->reason = reason != NULL ? xstrdup(reason) : NULL;
		TAILQ_INSERT_TAIL(&pv.deferred, ps, entry);
		event_active(pv.deferred_ev, EV_TIMEOUT, 0);
		return;
	}
	psend_deliver(ps, o, retry_after, reason);
	psend_put(ps);
}

/* Delivers one queued answer and recycles its record. */
static void
deferred_deliver(struct psend *ps)
{
	psend_deliver(ps, ps->outcome, ps->retry_after, ps->reason);
	psend_put(ps);
}

static void
provider_deferred_cb(evutil_socket_t fd, short what, void *arg)
{
	struct psendq now;
	struct psend *ps;

	/* Answers queued by these callbacks wait for the next turn. */
	TAILQ_INIT(&now);
	TAILQ_CONCAT(&now, &pv.deferred, entry);
	while ((ps = TAILQ_FIRST(&now)) != NULL) {
		TAILQ_REMOVE(&now, ps, entry);
		deferred_deliver(ps);
	}
}

/* A provider goes away: its queued answers cannot wait for the loop. */
static void
deferred_flush(const struct provider *p)
{
	struct psend *ps, *next;

	for (ps = TAILQ_FIRST(&pv.deferred); ps != NULL; ps = next) {
		next = TAILQ_NEXT(ps, entry);
		if (ps->p != p)
			continue;
		TAILQ_REMOVE(&pv.deferred, ps, entry);
		deferred_deliver(ps);
	}
}

static int
send_push(struct provider *p, const struct xp_push *push, xp_sent_cb *cb,
    void *arg, bool unguarded)
{
	struct psend *ps = psend_get();

	ps->p = p;
	ps->unguarded = unguarded;
	ps->cb = cb;
	ps->arg = arg;
	ps->started = clock_ms();
	ps->in_send = true;
	ps->answered = false;
	ps->reason = NULL;
	if (p->mod->send(p->self, push, provider_sent_cb, ps) == -1) {
		if (ps->answered) {
			log_warnx("provider %s: module %s answered a send it "
			    "then refused; the refusal stands", p->id,
			    p->mod->name);
			TAILQ_REMOVE(&pv.deferred, ps, entry);
		}
		stats_provider_outcome(p->id, XP_TEMPORARY, 0);
		psend_put(ps);
		return -1;
	}
	ps->in_send = false;
	return 0;
}

int
provider_send(struct provider *p, const struct xp_push *push, xp_sent_cb *cb,
    void *arg)
{
	return send_push(p, push, cb, arg, false);
}

int
provider_send_unguarded(struct provider *p, const struct xp_push *push,
    xp_sent_cb *cb, void *arg)
{
	return send_push(p, push, cb, arg, true);
}

int
provider_status(struct provider *p, const char **why_r)
{
	*why_r = NULL;
	if (p->mod->status != NULL && p->mod->status(p->self, why_r) == -1)
		return -1;
	if (!guard_check(p, clock_ms())) {
		*why_r = p->guard_why;
		return -1;
	}
	return 0;
}

int
provider_check_token(struct provider *p, const char *token, bool voip,
    char **error_r)
{
	if (p->mod->check_token == NULL)
		return 0;
	if (p->mod->check_token(p->self, token, voip, error_r) == -1) {
		if (*error_r == NULL)
			*error_r = xstrdup("the provider does not accept this token");
		return -1;
	}
	return 0;
}

const char *const *
provider_push_features(const struct provider *p)
{
	return p->mod->features;
}

size_t
provider_max_payload(const struct provider *p)
{
	return p->mod->max_payload;
}

bool
provider_has_cap(const struct provider *p, unsigned int cap)
{
	return (p->mod->caps & cap) == cap;
}

int
providers_start(struct event_base *base, struct store *store,
    const struct xp_conf *conf, char **error_r)
{
	pv.base = base;
	pv.store = store;
	if ((pv.deferred_ev = event_new(base, -1, 0, provider_deferred_cb,
	    NULL)) == NULL)
		fatalx("provider: event_new failed");
	if (store != NULL)
		store_on_certificate_change(store, provider_cert_change_cb,
		    NULL);
	return build(conf, &pv.list, &pv.blocks, &pv.nblocks, error_r);
}

int
providers_reload(const struct xp_conf *conf, char **error_r)
{
	struct provider *list, *old = pv.list;
	struct block **blocks, **oldblocks = pv.blocks;
	size_t nblocks, oldn = pv.nblocks;
	struct cert_watch *oldwatches = pv.watches;

	/* New instances register their own watches; keep the old apart. */
	pv.watches = NULL;
	if (build(conf, &list, &blocks, &nblocks, error_r) == -1) {
		watches_clear();
		pv.watches = oldwatches;
		return -1;
	}
	{
		struct cert_watch *neww = pv.watches;

		pv.watches = oldwatches;
		list_destroy(old, oldblocks, oldn);
		watches_clear();
		pv.watches = neww;
	}
	pv.list = list;
	pv.blocks = blocks;
	pv.nblocks = nblocks;
	return 0;
}

void
providers_stop(void)
{
	size_t i;

	list_destroy(pv.list, pv.blocks, pv.nblocks);
	pv.list = NULL;
	pv.blocks = NULL;
	pv.nblocks = 0;
	watches_clear();
	if (pv.deferred_ev != NULL)
		event_free(pv.deferred_ev);
	pv.deferred_ev = NULL;
	spares_free();
	for (i = 0; i < pv.nmodules; i++) {
		lt_dlclose(pv.modules[i].handle);
		free(pv.modules[i].name);
	}
	pv.nmodules = 0;
	if (pv.lt_ready)
		lt_dlexit();
	pv.lt_ready = false;
}

struct provider *
provider_find(const char *id)
{
	struct provider *p;

	for (p = pv.list; p != NULL; p = p->next)
		if (strcmp(p->id, id) == 0)
			return p;
	return NULL;
}

struct provider *
providers_first(void)
{
	return pv.list;
}

struct provider *
providers_next(const struct provider *p)
{
	return p->next;
}

const char *
provider_id(const struct provider *p)
{
	return p->id;
}
