/*
 * provider_harness: see provider_harness.h.  Mirrors what core/provider.c
 * promises a module: unknown keys are refused, required keys checked,
 * defaults (written in the configuration's syntax) applied, and the typed
 * getters only answer for keys of the declared type.
 */
#include "config.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "test/lib/provider_harness.h"

#define PH_MAX_OPTS	64
#define PH_MAX_LIST	16
#define PH_MAX_WATCH	16

struct ph_kv {
	char		*key;
	char		*value;
};

struct ph_watch {
	char		*id;
	void		(*changed)(void *);
	void		*arg;
};

struct ph_pending {
	struct ph	*ph;
	struct event	*ev;
	void		(*cb)(void *, int, const struct xp_cert *);
	void		*arg;
};

struct ph {
	struct xp_host	 host;
	void		*dl;
	const struct xp_provider *prov;
	struct ph_kv	 kv[PH_MAX_OPTS];
	size_t		 nkv;
	/* Resolved values, by option index. */
	char		*val[PH_MAX_OPTS];
	const char	*list[PH_MAX_OPTS][PH_MAX_LIST + 1];
	char		*listbuf[PH_MAX_OPTS];
	struct xp_cert	 cert;
	bool		 have_cert;
	bool		 db_down;
	bool		 cert_sync;
	struct ph_watch	 watch[PH_MAX_WATCH];
	size_t		 nwatch;
	char		**logs;
	int		*log_levels;
	size_t		 nlogs;
};

static char *
ph_strdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		abort();
	return p;
}

static char *
ph_errf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	return s;
}

static void
ph_log(const struct xp_host *h, enum xp_log_level level, const char *fmt, ...)
{
	struct ph *ph = h->ctx;
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	va_end(ap);
	fprintf(stderr, "[%s] %s\n", level == XP_LOG_WARN ? "warn" :
	    level == XP_LOG_INFO ? "info" : "debug", msg);
	ph->logs = realloc(ph->logs, (ph->nlogs + 1) * sizeof(*ph->logs));
	ph->log_levels = realloc(ph->log_levels, (ph->nlogs + 1) *
	    sizeof(*ph->log_levels));
	if (ph->logs == NULL || ph->log_levels == NULL)
		abort();
	ph->logs[ph->nlogs] = msg;
	ph->log_levels[ph->nlogs++] = (int)level;
}

static int
opt_index(const struct ph *ph, const char *key, enum xp_opt_type type)
{
	const struct xp_option *o;
	int i;

	for (i = 0, o = ph->prov->options; o->key != NULL; o++, i++)
		if (strcmp(o->key, key) == 0) {
			if (o->type != type) {
				fprintf(stderr, "harness: module asked for "
				    "'%s' with the wrong type\n", key);
				abort();
			}
			return i;
		}
	fprintf(stderr, "harness: module asked for undeclared '%s'\n", key);
	abort();
}

static const char *
ph_opt_str(const struct xp_host *h, const void *block, const char *key)
{
	const struct ph *ph = block;

	return ph->val[opt_index(ph, key, XP_OPT_STRING)];
}

static long long
ph_opt_int(const struct xp_host *h, const void *block, const char *key)
{
	const struct ph *ph = block;
	const char *v = ph->val[opt_index(ph, key, XP_OPT_INTEGER)];

	return v != NULL ? strtoll(v, NULL, 10) : 0;
}

static bool
ph_opt_bool(const struct xp_host *h, const void *block, const char *key)
{
	const struct ph *ph = block;
	const char *v = ph->val[opt_index(ph, key, XP_OPT_BOOLEAN)];

	return v != NULL && strcmp(v, "true") == 0;
}

static size_t
ph_opt_list(const struct xp_host *h, const void *block, const char *key,
    const char *const **items_r)
{
	const struct ph *ph = block;
	int i = opt_index(ph, key, XP_OPT_STRLIST);
	size_t n;

	for (n = 0; ph->list[i][n] != NULL; n++)
		;
	*items_r = n > 0 ? ph->list[i] : NULL;
	return n;
}

static void
ph_cert_fire(struct ph *ph, void (*cb)(void *, int, const struct xp_cert *),
    void *arg)
{
	if (ph->db_down)
		cb(arg, -1, NULL);
	else if (!ph->have_cert)
		cb(arg, 1, NULL);
	else
		cb(arg, 0, &ph->cert);
}

static void
ph_pending_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ph_pending *p = arg;

	ph_cert_fire(p->ph, p->cb, p->arg);
	event_free(p->ev);
	free(p);
}

static void
ph_cert_get(const struct xp_host *h, const char *id,
    void (*cb)(void *, int, const struct xp_cert *), void *arg)
{
	struct ph *ph = h->ctx;
	struct ph_pending *p;

	if (ph->cert_sync) {
		ph_cert_fire(ph, cb, arg);
		return;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL)
		abort();
	p->ph = ph;
	p->cb = cb;
	p->arg = arg;
	p->ev = event_new(h->base, -1, 0, ph_pending_cb, p);
	event_active(p->ev, EV_TIMEOUT, 0);
}

static void
ph_cert_watch(const struct xp_host *h, const char *id,
    void (*changed)(void *), void *arg)
{
	struct ph *ph = h->ctx;

	if (ph->nwatch == PH_MAX_WATCH)
		abort();
	ph->watch[ph->nwatch].id = id != NULL ? ph_strdup(id) : NULL;
	ph->watch[ph->nwatch].changed = changed;
	ph->watch[ph->nwatch++].arg = arg;
}

static void
ph_cert_unwatch(const struct xp_host *h, void (*changed)(void *), void *arg)
{
	struct ph *ph = h->ctx;
	size_t i, j;

	for (i = j = 0; i < ph->nwatch; i++) {
		if (ph->watch[i].changed == changed && ph->watch[i].arg == arg) {
			free(ph->watch[i].id);
			continue;
		}
		ph->watch[j++] = ph->watch[i];
	}
	ph->nwatch = j;
}

struct ph *
ph_new(struct event_base *base, const char *path, char **error_r)
{
	struct ph *ph;
	const struct xp_provider *prov;
	void *dl;

	if ((dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		*error_r = ph_errf("%s", dlerror());
		return NULL;
	}
	if ((prov = dlsym(dl, "xpushd_provider")) == NULL) {
		*error_r = ph_errf("%s: no xpushd_provider", path);
		dlclose(dl);
		return NULL;
	}
	if (prov->abi != XP_PROVIDER_ABI) {
		*error_r = ph_errf("%s: ABI %u, want %u", path, prov->abi,
		    XP_PROVIDER_ABI);
		dlclose(dl);
		return NULL;
	}
	if ((ph = calloc(1, sizeof(*ph))) == NULL)
		abort();
	ph->dl = dl;
	ph->prov = prov;
	ph->host.abi = XP_PROVIDER_ABI;
	ph->host.base = base;
	ph->host.ctx = ph;
	ph->host.log = ph_log;
	ph->host.opt_str = ph_opt_str;
	ph->host.opt_int = ph_opt_int;
	ph->host.opt_bool = ph_opt_bool;
	ph->host.opt_list = ph_opt_list;
	ph->host.cert_get = ph_cert_get;
	ph->host.cert_watch = ph_cert_watch;
	ph->host.cert_unwatch = ph_cert_unwatch;
	return ph;
}

const struct xp_provider *
ph_provider(const struct ph *ph)
{
	return ph->prov;
}

const struct xp_host *
ph_host(const struct ph *ph)
{
	return &ph->host;
}

void
ph_set(struct ph *ph, const char *key, const char *value)
{
	size_t i;

	for (i = 0; i < ph->nkv; i++)
		if (strcmp(ph->kv[i].key, key) == 0) {
			free(ph->kv[i].value);
			ph->kv[i].value = ph_strdup(value);
			return;
		}
	if (ph->nkv == PH_MAX_OPTS)
		abort();
	ph->kv[ph->nkv].key = ph_strdup(key);
	ph->kv[ph->nkv++].value = ph_strdup(value);
}

static void
ph_clear_values(struct ph *ph)
{
	size_t i;

	for (i = 0; i < PH_MAX_OPTS; i++) {
		free(ph->val[i]);
		ph->val[i] = NULL;
		free(ph->listbuf[i]);
		ph->listbuf[i] = NULL;
		ph->list[i][0] = NULL;
	}
}

void
ph_clear(struct ph *ph)
{
	size_t i;

	for (i = 0; i < ph->nkv; i++) {
		free(ph->kv[i].key);
		free(ph->kv[i].value);
	}
	ph->nkv = 0;
}

/* A default in file syntax: 'str', 10, true, ['a', 'b']. */
static char *
ph_default_text(const char *def)
{
	char *out, *o;
	const char *p;

	out = o = ph_strdup(def);
	if (*def == '[') {
		/* ['a', 'b'] -> a,b */
		for (p = def + 1; *p != '\0' && *p != ']'; p++)
			if (*p != '\'' && *p != ' ')
				*o++ = *p;
		*o = '\0';
		return out;
	}
	if (*def == '\'') {
		size_t l = strlen(def);

		memcpy(out, def + 1, l - 2);
		out[l - 2] = '\0';
	}
	return out;
}

static void
ph_split_list(struct ph *ph, int i, const char *text)
{
	char *p, *s;
	size_t n = 0;

	ph->listbuf[i] = ph_strdup(text);
	for (s = ph->listbuf[i]; s != NULL && *s != '\0' && n < PH_MAX_LIST;
	    s = p) {
		if ((p = strchr(s, ',')) != NULL)
			*p++ = '\0';
		ph->list[i][n++] = s;
	}
	ph->list[i][n] = NULL;
}

void *
ph_create(struct ph *ph, const char *id, char **error_r)
{
	const struct xp_option *o;
	const char *v;
	char *end;
	size_t k;
	long long n;
	int i;

	ph_clear_values(ph);
	for (k = 0; k < ph->nkv; k++) {
		for (o = ph->prov->options; o->key != NULL; o++)
			if (strcmp(o->key, ph->kv[k].key) == 0)
				break;
		if (o->key == NULL) {
			*error_r = ph_errf("unknown key '%s' in provider '%s' "
			    "(module %s)", ph->kv[k].key, id, ph->prov->name);
			return NULL;
		}
	}
	for (i = 0, o = ph->prov->options; o->key != NULL; o++, i++) {
		v = NULL;
		for (k = 0; k < ph->nkv; k++)
			if (strcmp(o->key, ph->kv[k].key) == 0)
				v = ph->kv[k].value;
		if (v == NULL && o->def == NULL) {
			*error_r = ph_errf("provider '%s' needs '%s' (%s)", id,
			    o->key, o->help);
			return NULL;
		}
		ph->val[i] = v != NULL ? ph_strdup(v) :
		    ph_default_text(o->def);
		switch (o->type) {
		case XP_OPT_INTEGER:
			n = strtoll(ph->val[i], &end, 10);
			if (*end != '\0' || n < o->min || n > o->max) {
				*error_r = ph_errf("'%s': %s is not an integer "
				    "in %lld..%lld", o->key, ph->val[i],
				    o->min, o->max);
				return NULL;
			}
			break;
		case XP_OPT_BOOLEAN:
			if (strcmp(ph->val[i], "true") != 0 &&
			    strcmp(ph->val[i], "false") != 0) {
				*error_r = ph_errf("'%s': not a boolean",
				    o->key);
				return NULL;
			}
			break;
		case XP_OPT_STRLIST:
			ph_split_list(ph, i, ph->val[i]);
			break;
		case XP_OPT_STRING:
			break;
		}
	}
	return ph->prov->create(&ph->host, ph, id, error_r);
}

static void
ph_cert_clear(struct ph *ph)
{
	free((void *)ph->cert.pkcs12);
	free((void *)ph->cert.password);
	free((void *)ph->cert.cert_pem);
	free((void *)ph->cert.key_pem);
	memset(&ph->cert, 0, sizeof(ph->cert));
	ph->have_cert = false;
}

void
ph_set_cert(struct ph *ph, const struct xp_cert *c)
{
	unsigned char *p12;

	ph_cert_clear(ph);
	if (c == NULL)
		return;
	if (c->pkcs12 != NULL) {
		if ((p12 = malloc(c->pkcs12_len)) == NULL)
			abort();
		memcpy(p12, c->pkcs12, c->pkcs12_len);
		ph->cert.pkcs12 = p12;
		ph->cert.pkcs12_len = c->pkcs12_len;
	}
	if (c->password != NULL)
		ph->cert.password = ph_strdup(c->password);
	if (c->cert_pem != NULL)
		ph->cert.cert_pem = ph_strdup(c->cert_pem);
	if (c->key_pem != NULL)
		ph->cert.key_pem = ph_strdup(c->key_pem);
	ph->have_cert = true;
}

void
ph_set_cert_db_down(struct ph *ph, bool down)
{
	ph->db_down = down;
}

void
ph_set_cert_sync(struct ph *ph, bool sync)
{
	ph->cert_sync = sync;
}

void
ph_cert_changed(struct ph *ph, const char *id)
{
	size_t i;

	for (i = 0; i < ph->nwatch; i++)
		if (id == NULL || ph->watch[i].id == NULL ||
		    strcmp(ph->watch[i].id, id) == 0)
			ph->watch[i].changed(ph->watch[i].arg);
}

int
ph_log_count(const struct ph *ph, int level, const char *substr)
{
	size_t i;
	int n = 0;

	for (i = 0; i < ph->nlogs; i++)
		if ((level < 0 || ph->log_levels[i] == level) &&
		    (substr == NULL || strstr(ph->logs[i], substr) != NULL))
			n++;
	return n;
}

void
ph_log_reset(struct ph *ph)
{
	size_t i;

	for (i = 0; i < ph->nlogs; i++)
		free(ph->logs[i]);
	ph->nlogs = 0;
}

/*
 * The module is not dlclosed: the leak checker at exit then still has its
 * symbols.  Watch registrations are forgotten but their args stay
 * reachable through the static list below (modules that do not call
 * cert_unwatch in destroy would otherwise show as leaks).
 */
static void *ph_watch_args[256];
static size_t ph_nwatch_args;

void
ph_free(struct ph **php)
{
	struct ph *ph = *php;
	size_t i;

	if (ph == NULL)
		return;
	*php = NULL;
	for (i = 0; i < ph->nwatch; i++) {
		if (ph_nwatch_args < 256)
			ph_watch_args[ph_nwatch_args++] = ph->watch[i].arg;
		free(ph->watch[i].id);
	}
	ph_clear(ph);
	ph_clear_values(ph);
	ph_cert_clear(ph);
	ph_log_reset(ph);
	free(ph->logs);
	free(ph->log_levels);
	free(ph);
}
