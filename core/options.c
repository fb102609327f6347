/*
 * The settings table and the validation of a parsed file against it.
 * Unknown keys are errors (a typo must not silently fall back to a default).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/options.h"
#include "core/xmalloc.h"


const struct opt_entry options_table[] = {
	{ NULL, "admins", OPT_STRLIST, "[]", 0, 0, 0,
	  "bare JIDs allowed to run the administrative commands" },
	{ NULL, "module-path", OPT_STRING, "''", 0, 0, 0,
	  "directory of the provider modules (default: the installed one)" },
	{ NULL, "adhoc-session-timeout", OPT_INTEGER, "600", 1, 86400, 0,
	  "seconds an ad-hoc command session stays open" },
	{ NULL, "adhoc-max-sessions", OPT_INTEGER, "16", 1, 1000, 0,
	  "open ad-hoc command sessions per account (bare JID), all its "
	  "resources together" },
	{ NULL, "adhoc-max-sessions-total", OPT_INTEGER, "10000", 1, 1000000,
	  0, "open ad-hoc command sessions of all requesters together" },
	{ NULL, "require-secret", OPT_BOOLEAN, "false", 0, 0, 0,
	  "refuse publishes that carry no publish-options secret" },
	{ NULL, "max-in-flight", OPT_INTEGER, "20000", 1, 10000000, 0,
	  "notifications in progress at once; beyond, publishes get "
	  "wait/resource-constraint" },
	{ NULL, "publish-deadline", OPT_INTEGER, "8000", 100, 600000, 0,
	  "milliseconds to deliver a push, retries included, before the "
	  "server gets wait/remote-server-timeout" },
	{ NULL, "low-priority-window", OPT_INTEGER, "60", 0, 86400, 0,
	  "seconds: at most one low-priority push per device per window, "
	  "plus one trailing push" },
	{ NULL, "high-priority-burst", OPT_INTEGER, "30", 1, 100000, 0,
	  "high-priority pushes a device may get in a burst" },
	{ NULL, "high-priority-rate", OPT_INTEGER, "120", 1, 6000000, 0,
	  "high-priority pushes per minute per device after the burst" },
	{ NULL, "user", OPT_STRING, "''", 0, 0, 0,
	  "started as root: the user xpushd switches to once it has opened "
	  "what needs root (read at start-up only)" },
	{ NULL, "group", OPT_STRING, "''", 0, 0, 0,
	  "with user: the group to switch to instead of the user's own" },
	{ NULL, "cert-check-interval", OPT_INTEGER, "43200", 1, 2592000, 0,
	  "seconds between checks of the APNs certificates' expiry" },
	{ NULL, "cert-expiry-warning", OPT_INTEGER, "30", 1, 365, 0,
	  "days before an APNs certificate expires that the admins are "
	  "warned" },
	{ NULL, "cert-warning-repeat", OPT_INTEGER, "86400", 1, 31536000, 0,
	  "seconds before the admins are warned again about the same "
	  "certificate at the same level" },
	{ NULL, "deletion-guard-count", OPT_INTEGER, "50", 1, 10000000, 0,
	  "invalid-token answers of a provider within deletion-guard-window "
	  "above which it stops deleting registrations (with "
	  "deletion-guard-share)" },
	{ NULL, "deletion-guard-share", OPT_INTEGER, "20", 1, 100, 0,
	  "percent of a provider's answers within deletion-guard-window that "
	  "must also be invalid-token answers for the guard to trip (100: "
	  "never)" },
	{ NULL, "deletion-guard-window", OPT_INTEGER, "60", 1, 86400, 0,
	  "seconds over which the deletion guard counts a provider's answers" },
	{ NULL, "xmpp", OPT_BLOCK, NULL, 0, 0, OPT_REQUIRED,
	  "the XEP-0114 component connection to the XMPP server" },
	{ NULL, "database", OPT_BLOCK, NULL, 0, 0, OPT_REQUIRED,
	  "the PostgreSQL store" },
	{ NULL, "push", OPT_BLOCK, NULL, 0, 0, OPT_PROVIDERS,
	  "the push providers: one block per provider id" },
	{ NULL, "rest", OPT_BLOCK, NULL, 0, 0, 0,
	  "the HTTPS endpoint (unregister, metrics, health)" },
	{ NULL, "push2", OPT_BLOCK, NULL, 0, 0, 0,
	  "the Push 2.0 relay (urn:xmpp:push2:0); off when absent" },

	{ "xmpp", "jid", OPT_STRING, NULL, 0, 0, OPT_REQUIRED,
	  "the component's JID, as the XMPP server knows it" },
	{ "xmpp", "host", OPT_STRING, "'127.0.0.1'", 0, 0, 0,
	  "the XMPP server's component listener: host name or address" },
	{ "xmpp", "port", OPT_INTEGER, "5347", 1, 65535, 0,
	  "the XMPP server's component listener: TCP port" },
	{ "xmpp", "secret", OPT_STRING, NULL, 0, 0, OPT_REQUIRED | OPT_SECRET,
	  "the shared secret of the component handshake; env('NAME') keeps "
	  "it out of the file" },

	{ "xmpp", "tls", OPT_BOOLEAN, "false", 0, 0, 0,
	  "connect with direct TLS and verify the server's certificate" },
	{ "xmpp", "ca-file", OPT_STRING, "''", 0, 0, 0,
	  "PEM file of CAs to verify the server with (default: the system's)" },
	{ "xmpp", "keepalive", OPT_INTEGER, "60", 1, 3600, 0,
	  "seconds of silence before xpushd pings the server" },
	{ "xmpp", "read-timeout", OPT_INTEGER, "20", 1, 600, 0,
	  "seconds to wait for any data after that ping before reconnecting" },
	{ "xmpp", "connect-timeout", OPT_INTEGER, "10", 1, 600, 0,
	  "seconds allowed from connecting to the completed handshake" },
	{ "xmpp", "reconnect-max", OPT_INTEGER, "60", 1, 3600, 0,
	  "cap of the exponential reconnect backoff, in seconds" },
	{ "xmpp", "send-queue-limit", OPT_INTEGER, "4194304", 65536,
	  1073741824, 0,
	  "bytes queued to the server above which new work is refused with "
	  "a wait error" },
	{ "xmpp", "max-stanza-size", OPT_INTEGER, "65536", 4096, 16777216, 0,
	  "largest stanza accepted from the server, in bytes" },
	{ "xmpp", "max-depth", OPT_INTEGER, "32", 8, 256, 0,
	  "deepest element nesting accepted in a stanza" },

	{ "database", "uri", OPT_STRING, NULL, 0, 0, OPT_REQUIRED | OPT_SECRET,
	  "a libpq connection URI or key=value string" },
	{ "database", "pool-size", OPT_INTEGER, "2", 1, 64, 0,
	  "PostgreSQL connections per process (one of them LISTENs)" },
	{ "database", "cache-size", OPT_INTEGER, "100000", 0, 100000000, 0,
	  "registrations kept in memory for the publish path (0: none)" },
	{ "database", "query-timeout", OPT_INTEGER, "5000", 100, 600000, 0,
	  "milliseconds a query may take before it fails with a wait error" },
	{ "database", "connect-timeout", OPT_INTEGER, "10000", 100, 600000, 0,
	  "milliseconds a connection attempt may take" },
	{ "database", "migrations", OPT_STRING, "''", 0, 0, 0,
	  "directory of the numbered migrations (default: the installed "
	  "sql/migrations)" },

	{ "rest", "listen", OPT_STRING, "'127.0.0.1:8443'", 0, 0, 0,
	  "address and port of the HTTPS endpoint" },
	{ "rest", "tls-cert", OPT_STRING, "''", 0, 0, 0,
	  "PEM certificate chain of the HTTPS endpoint" },
	{ "rest", "tls-key", OPT_STRING, "''", 0, 0, 0,
	  "PEM private key of the HTTPS endpoint" },
	{ "rest", "tls", OPT_BOOLEAN, "true", 0, 0, 0,
	  "serve HTTPS; false (plain HTTP) is accepted only on a loopback "
	  "listen address" },
	{ "rest", "metrics-token", OPT_STRING, "''", 0, 0, OPT_SECRET,
	  "bearer token GET /metrics requires ('' leaves it open)" },
	{ "rest", "max-body", OPT_INTEGER, "16384", 256, 1048576, 0,
	  "largest request body accepted, in bytes (larger: 413)" },
	{ "rest", "rate-limit", OPT_INTEGER, "120", 1, 6000000, 0,
	  "requests per minute per client address after the burst "
	  "(beyond: 429)" },
	{ "rest", "rate-burst", OPT_INTEGER, "30", 1, 100000, 0,
	  "requests a client address may make in a burst" },
	{ "rest", "max-connections", OPT_INTEGER, "256", 1, 65536, 0,
	  "client connections open at once (beyond: not accepted until "
	  "one closes)" },
	{ "rest", "max-connections-per-address", OPT_INTEGER, "16", 1,
	  65536, 0, "client connections one address may hold open at once "
	  "(beyond: closed at once)" },
	{ "rest", "request-timeout", OPT_INTEGER, "20", 1, 3600, 0,
	  "seconds a connection has to deliver a whole request, head and "
	  "body, however slowly it sends" },
	{ "rest", "metrics-refresh", OPT_INTEGER, "30", 1, 3600, 0,
	  "seconds between the registration counts GET /metrics shows" },

	{ "push2", "web", OPT_STRING, "''", 0, 0, 0,
	  "the provider block (module webpush) that relays to Web Push "
	  "endpoints ('': none)" },
	{ "push2", "apns", OPT_STRLIST, "[]", 0, 0, 0,
	  "the APNs provider blocks that relay to Apple clients, chosen by "
	  "the client's topic" },
	{ "push2", "fcm", OPT_STRING, "''", 0, 0, 0,
	  "the FCM provider block that relays to Android clients ('': none)" },
	{ "push2", "servers", OPT_STRLIST, "[]", 0, 0, 0,
	  "the domains of the XMPP servers whose notifications are relayed "
	  "([]: any)" },
	{ "push2", "max-in-flight", OPT_INTEGER, "10000", 1, 10000000, 0,
	  "Push 2.0 notifications in progress at once; beyond, they get "
	  "wait/resource-constraint" },

	{ NULL, NULL, 0, NULL, 0, 0, 0, NULL }
};

const struct opt_entry *
options_find(const char *block, const char *key)
{
	const struct opt_entry *oe;

	for (oe = options_table; oe->key != NULL; oe++) {
		if ((block == NULL) != (oe->block == NULL))
			continue;
		if (block != NULL && strcmp(block, oe->block) != 0)
			continue;
		if (strcmp(key, oe->key) == 0)
			return oe;
	}
	return NULL;
}

static const char *
opt_type_name(enum opt_type t)
{
	switch (t) {
	case OPT_STRING:	return "a string";
	case OPT_INTEGER:	return "an integer";
	case OPT_BOOLEAN:	return "true or false";
	case OPT_STRLIST:	return "a list of strings";
	case OPT_BLOCK:		return "a block";
	}
	return "?";
}

static int
check_value(const struct cfg_node *n, const struct opt_entry *oe,
    char **error_r)
{
	return options_check_value(n, oe->type, oe->min, oe->max, error_r);
}

int
options_check_value(const struct cfg_node *n, enum opt_type type,
    long long min, long long max, char **error_r)
{
	const struct cfg_value *v = n->value;
	enum cfg_type want;
	size_t i;

	if (type == OPT_BLOCK) {
		if (!cfg_is_block(n)) {
			xasprintf(error_r, "%s: '%s' is a block: write %s () "
			    "{ ... }", cfg_where(&n->pos), n->key, n->key);
			return -1;
		}
		return 0;
	}
	if (cfg_is_block(n)) {
		xasprintf(error_r, "%s: '%s' takes %s, not a block",
		    cfg_where(&n->pos), n->key, opt_type_name(type));
		return -1;
	}
	switch (type) {
	case OPT_STRING:	want = CFG_STRING; break;
	case OPT_INTEGER:	want = CFG_INTEGER; break;
	case OPT_BOOLEAN:	want = CFG_BOOLEAN; break;
	default:		want = CFG_LIST; break;
	}
	if (v->type != want) {
		xasprintf(error_r, "%s: '%s' takes %s, not %s",
		    cfg_where(&v->pos), n->key, opt_type_name(type),
		    cfg_type_name(v->type));
		return -1;
	}
	if (type == OPT_INTEGER && (v->num < min || v->num > max)) {
		xasprintf(error_r, "%s: '%s' must be between %lld and %lld, "
		    "not %lld", cfg_where(&v->pos), n->key, min, max,
		    v->num);
		return -1;
	}
	if (type == OPT_STRLIST)
		for (i = 0; i < v->nitems; i++)
			if (v->items[i]->type != CFG_STRING) {
				xasprintf(error_r, "%s: '%s' holds strings "
				    "only, not %s", cfg_where(&v->items[i]->pos),
				    n->key, cfg_type_name(v->items[i]->type));
				return -1;
			}
	return 0;
}

/*
 * Tigase writes bean blocks with parameters: (class: some.Class) names the
 * implementation, which means nothing here, and (active: false) switches a
 * bean off.  Both are accepted so Tigase files load; nothing else is.
 */
static int
check_params(const struct cfg_node *n, char **error_r)
{
	const struct cfg_node *p;

	for (p = n->params; p != NULL; p = p->next) {
		if (strcmp(p->key, "class") == 0 &&
		    p->value->type == CFG_STRING)
			continue;
		if (strcmp(p->key, "active") == 0 &&
		    p->value->type == CFG_BOOLEAN)
			continue;
		xasprintf(error_r, "%s: unknown block parameter '%s' (only "
		    "class: NAME and active: true|false are understood)",
		    cfg_where(&p->pos), p->key);
		return -1;
	}
	return 0;
}

/* Finds the first duplicate of n's key further down its own list. */
static const struct cfg_node *
find_duplicate(const struct cfg_node *n)
{
	const struct cfg_node *m;

	for (m = n->next; m != NULL; m = m->next)
		if (strcmp(m->key, n->key) == 0)
			return m;
	return NULL;
}

static int
check_list(const struct cfg_node *list, const char *block,
    opt_provider_check *provider_check, char **error_r)
{
	const struct opt_entry *oe;
	const struct cfg_node *n, *dup;

	for (n = list; n != NULL; n = n->next) {
		if ((oe = options_find(block, n->key)) == NULL) {
			if (block == NULL)
				xasprintf(error_r, "%s: unknown key '%s'",
				    cfg_where(&n->pos), n->key);
			else
				xasprintf(error_r, "%s: unknown key '%s' in "
				    "%s ()", cfg_where(&n->pos), n->key, block);
			return -1;
		}
		if ((dup = find_duplicate(n)) != NULL) {
			char *first = xstrdup(cfg_where(&n->pos));

			xasprintf(error_r, "%s: '%s' is set twice (first at "
			    "%s)", cfg_where(&dup->pos), n->key, first);
			free(first);
			return -1;
		}
		if (check_value(n, oe, error_r) == -1)
			return -1;
		if (oe->type != OPT_BLOCK)
			continue;
		if (check_params(n, error_r) == -1)
			return -1;
		if (oe->flags & OPT_PROVIDERS) {
			const struct cfg_node *p;

			for (p = n->children; p != NULL; p = p->next) {
				if (!cfg_is_block(p)) {
					xasprintf(error_r, "%s: push () holds "
					    "provider blocks: write '%s' () "
					    "{ ... }", cfg_where(&p->pos),
					    p->key);
					return -1;
				}
				if ((dup = find_duplicate(p)) != NULL) {
					xasprintf(error_r, "%s: provider '%s' "
					    "is configured twice",
					    cfg_where(&dup->pos), p->key);
					return -1;
				}
				if (check_params(p, error_r) == -1)
					return -1;
				if (provider_check != NULL &&
				    provider_check(p, error_r) == -1)
					return -1;
			}
		} else if (check_list(n->children, n->key, provider_check,
		    error_r) == -1)
			return -1;
	}
	/* Required keys of this level. */
	for (oe = options_table; oe->key != NULL; oe++) {
		if ((block == NULL) != (oe->block == NULL) ||
		    (block != NULL && strcmp(block, oe->block) != 0))
			continue;
		if ((oe->flags & OPT_REQUIRED) && cfg_find(list, oe->key) ==
		    NULL) {
			if (block == NULL)
				xasprintf(error_r, "missing %s '%s'",
				    oe->type == OPT_BLOCK ? "block" : "key",
				    oe->key);
			else
				xasprintf(error_r, "missing key '%s' in %s ()",
				    oe->key, block);
			return -1;
		}
	}
	return 0;
}

/*
 * Tigase class parameters that name an implementation xpushd has: such a
 * block is served by that module whatever its id (Tigase's documentation
 * serves any id, 'fcm-xmpp-api' included, by the HTTP v1 provider this
 * way).
 */
static const struct {
	const char	*cls;
	const char	*module;
} tigase_classes[] = {
	{ "tigase.push.fcm.FcmHttpV1Provider", "fcm" },
	{ NULL, NULL }
};

/* The keys of Tigase's legacy FCM provider (the XMPP API). */
static const char *const fcm_legacy_keys[] = { "sender-id", "server-key",
    NULL };

const char *
options_class_module(const struct cfg_node *block)
{
	const struct cfg_node *p = cfg_find(block->params, "class");
	size_t i;

	if (p == NULL || p->value == NULL || p->value->type != CFG_STRING)
		return NULL;
	for (i = 0; tigase_classes[i].cls != NULL; i++)
		if (strcmp(tigase_classes[i].cls, p->value->str) == 0)
			return tigase_classes[i].module;
	return NULL;
}

/*
 * 'fcm-xmpp-api' is the id Stork registers with, hard-coded: a block of
 * that name that names the HTTP v1 module (plugin = 'fcm', or Tigase's
 * class tigase.push.fcm.FcmHttpV1Provider) serves it through FCM HTTP
 * v1.  Without either, or with the legacy keys, it is Tigase's legacy
 * provider, whose API Google shut down.
 */
static bool
block_is_fcm_v1(const struct cfg_node *block)
{
	const struct cfg_node *p = cfg_find(block->children, "plugin");
	const char *mod;
	size_t i;

	for (i = 0; fcm_legacy_keys[i] != NULL; i++)
		if (cfg_find(block->children, fcm_legacy_keys[i]) != NULL)
			return false;
	if (p != NULL && p->value != NULL && p->value->type == CFG_STRING)
		mod = p->value->str;
	else
		mod = options_class_module(block);
	return mod != NULL && strcmp(mod, "fcm") == 0;
}

int
options_check_provider_basic(const struct cfg_node *p, char **error_r)
{
	if (strcmp(p->key, "fcm-xmpp-api") == 0 && !block_is_fcm_v1(p)) {
		xasprintf(error_r, "%s: provider 'fcm-xmpp-api' used Google's "
		    "legacy FCM API, which Google shut down in 2024; serve it "
		    "through FCM HTTP v1 with the service account JSON from "
		    "the Firebase console: keep the id (Stork registers with "
		    "it) and write 'fcm-xmpp-api' () { plugin = 'fcm'; "
		    "'service-account-file' = "
		    "'/etc/xpushd/service-account.json' } without 'sender-id' "
		    "and 'server-key', or use 'fcm-http-v1' () { ... } for "
		    "apps that register with that id", cfg_where(&p->pos));
		return -1;
	}
	return 0;
}

static struct xp_conf *
conf_check(struct cfg_file *cf, opt_provider_check *provider_check,
    char **error_r)
{
	struct xp_conf *conf;
	char *err = NULL;

	if (cf == NULL)
		return NULL;
	if (check_list(cf->root, NULL, provider_check, &err) == -1) {
		/* Errors without a position name the file at least. */
		if (strncmp(err, cf->path, strlen(cf->path)) != 0) {
			xasprintf(error_r, "%s: %s", cf->path, err);
			free(err);
		} else
			*error_r = err;
		cfg_free(&cf);
		return NULL;
	}
	conf = xcalloc(1, sizeof(*conf));
	conf->file = cf;
	return conf;
}

struct xp_conf *
conf_load(const char *path, opt_provider_check *provider_check,
    char **error_r)
{
	return conf_check(cfg_parse_file(path, error_r), provider_check,
	    error_r);
}

struct xp_conf *
conf_load_string(const char *name, const char *text,
    opt_provider_check *provider_check, char **error_r)
{
	return conf_check(cfg_parse_string(name, text, strlen(text), error_r),
	    provider_check, error_r);
}

void
conf_free(struct xp_conf **confp)
{
	if (*confp == NULL)
		return;
	cfg_free(&(*confp)->file);
	free(*confp);
	*confp = NULL;
}

/*
 * The value the file sets, or NULL for the default.  The default texts in
 * the table are parsed on demand into a small cache so that a getter always
 * returns a value of the right type.
 */
static const struct cfg_value *
conf_value(const struct xp_conf *conf, const char *block, const char *key,
    enum opt_type type)
{
	static struct cfg_file *defaults[sizeof(options_table) /
	    sizeof(options_table[0])];
	const struct opt_entry *oe;
	const struct cfg_node *b, *n;
	char *text, *err = NULL;
	size_t idx;

	if ((oe = options_find(block, key)) == NULL || oe->type != type)
		fatalx("configuration key %s%s%s is not in the options table "
		    "as %s", block ? block : "", block ? "." : "", key,
		    opt_type_name(type));
	if (conf != NULL) {
		b = block == NULL ? conf->file->root : NULL;
		if (block != NULL && (n = cfg_find(conf->file->root, block))
		    != NULL)
			b = n->children;
		if ((block == NULL || b != NULL) &&
		    (n = cfg_find(b, key)) != NULL)
			return n->value;
	}
	if (oe->def == NULL)
		return NULL;
	idx = (size_t)(oe - options_table);
	if (defaults[idx] == NULL) {
		xasprintf(&text, "v = %s\n", oe->def);
		defaults[idx] = cfg_parse_string("(default)", text,
		    strlen(text), &err);
		if (defaults[idx] == NULL)
			fatalx("default of %s: %s", key, err);
		free(text);
	}
	return defaults[idx]->root->value;
}

const char *
conf_str(const struct xp_conf *conf, const char *block, const char *key)
{
	const struct cfg_value *v = conf_value(conf, block, key, OPT_STRING);

	return v == NULL ? NULL : v->str;
}

long long
conf_int(const struct xp_conf *conf, const char *block, const char *key)
{
	const struct cfg_value *v = conf_value(conf, block, key, OPT_INTEGER);

	return v == NULL ? 0 : v->num;
}

bool
conf_bool(const struct xp_conf *conf, const char *block, const char *key)
{
	const struct cfg_value *v = conf_value(conf, block, key, OPT_BOOLEAN);

	return v != NULL && v->boolean;
}

size_t
conf_list(const struct xp_conf *conf, const char *block, const char *key,
    const struct cfg_value *const **items_r)
{
	const struct cfg_value *v = conf_value(conf, block, key, OPT_STRLIST);

	if (v == NULL) {
		*items_r = NULL;
		return 0;
	}
	*items_r = (const struct cfg_value *const *)v->items;
	return v->nitems;
}

const struct cfg_node *
conf_providers(const struct xp_conf *conf)
{
	const struct cfg_node *n = cfg_find(conf->file->root, "push");

	return n == NULL ? NULL : n->children;
}

bool
conf_block_active(const struct cfg_node *block)
{
	const struct cfg_node *p;

	for (p = block->params; p != NULL; p = p->next)
		if (strcmp(p->key, "active") == 0)
			return p->value->boolean;
	return true;
}
