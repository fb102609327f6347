/*
 * Ad-hoc commands, with the node names, fields and results of the Tigase
 * Push Component (so Siskin, Stork and Tigase Messenger register unchanged)
 * plus account administration for operators.
 *
 * Every command answers only after its row is committed: the result a
 * client sees is what the database holds.  A database that cannot be
 * reached is a wait/internal-server-error, so the client tries again.
 * Input a command cannot accept is refused with adhoc_refuse() (an IQ
 * error, XEP-0050 §4.6 bad-payload) in one sentence that names the field.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/adhoc.h"
#include "core/certinfo.h"
#include "core/commands.h"
#include "core/log.h"
#include "core/provider.h"
#include "core/stats.h"
#include "core/store.h"
#include "core/xmalloc.h"
#include "core/xpushd.h"
#include "xml/jid.h"

#define CMD_TOKEN_MAX		4096	/* bytes of a device token */
#define CMD_TOKEN_SHOWN		12	/* characters of a token in lists */

static struct store *cmd_store;

static void
db_trouble(struct adhoc_ctx **ctxp, enum store_status st, const char *msg)
{
	if (st == STORE_ETEMP) {
		log_warnx("adhoc: %s: database unavailable: %s", (*ctxp)->node,
		    msg ? msg : "");
		adhoc_error(ctxp, "wait", "internal-server-error",
		    "the database cannot be reached now: try again later");
	} else {
		log_warnx("adhoc: %s: database error: %s", (*ctxp)->node,
		    msg ? msg : store_status_str(st));
		adhoc_error(ctxp, "wait", "internal-server-error",
		    "the registration could not be stored: try again later");
	}
}

static void
add_field(struct xml_node *x, const char *var, enum form_field_type type,
    const char *label, const char *value)
{
	struct xml_node *f = form_build_field(x, var, type, label);

	if (value != NULL)
		form_build_value(f, value);
}

static void
provider_options(struct xml_node *x, bool apns_only)
{
	struct xml_node *f;
	struct provider *p;

	f = form_build_field(x, "provider", FORM_FIELD_LIST_SINGLE,
	    "Push provider");
	form_build_required(f);
	for (p = providers_first(); p != NULL; p = providers_next(p)) {
		if (apns_only && !provider_has_cap(p, XP_CAP_APNS_CERT))
			continue;
		form_build_option(f, provider_id(p), provider_id(p));
	}
}

/*
 * A token: non-empty, printable ASCII, bounded, then the module's check.
 * The reason is a sentence of its own (the module's one too).
 */
static const char *
check_token(struct provider *p, const char *token, bool voip, char **err)
{
	const unsigned char *c;

	if (strlen(token) > CMD_TOKEN_MAX)
		return "a device token is at most 4096 bytes long";
	for (c = (const unsigned char *)token; *c != '\0'; c++)
		if (*c <= 0x20 || *c >= 0x7f)
			return "a device token is printable ASCII without "
			    "spaces";
	if (provider_check_token(p, token, voip, err) == -1)
		return *err;
	return NULL;
}

/* register-device */

/*
 * The push extensions a registration may use (Siskin reads
 * tigase:push:encrypt:0 here before it asks for encrypted pushes): the
 * provider block's `features`, or the module's own list.  Provider ids
 * are what disco#info announces to find the service (core/disco.c), not
 * extensions: one listed in `features` is left out here.
 */
static void
add_push_features(struct xml_node *x, const char *id, struct provider *p)
{
	const char *const *features = NULL;
	const struct cfg_node *b, *block = NULL, *fl;
	struct xml_node *f;
	const char *v;
	size_t i;

	f = form_build_field(x, "features", FORM_FIELD_TEXT_MULTI, NULL);
	for (b = conf_providers(xpd->conf); b != NULL; b = b->next)
		if (strcmp(b->key, id) == 0)
			block = b;
	fl = block != NULL ? cfg_find(block->children, "features") : NULL;
	if (fl != NULL && fl->value != NULL && fl->value->type == CFG_LIST) {
		for (i = 0; i < fl->value->nitems; i++) {
			v = fl->value->items[i]->str;
			if (provider_find(v) == NULL)
				form_build_value(f, v);
		}
	} else if (p != NULL && (features = provider_push_features(p)) !=
	    NULL) {
		for (i = 0; features[i] != NULL; i++)
			form_build_value(f, features[i]);
	}
}

static void
register_form_cb(void *arg, const struct adhoc_ctx *ctx, struct xml_node *x)
{
	struct xml_node *f;

	provider_options(x, false);
	f = form_build_field(x, "device-token", FORM_FIELD_TEXT_SINGLE,
	    "Device token");
	form_build_required(f);
	form_build_field(x, "device-second-token", FORM_FIELD_TEXT_SINGLE,
	    "Device second token (VoIP/PushKit)");
}

static void
register_done_cb(void *arg, enum store_status st,
    const struct store_device *d, const char *msg)
{
	struct adhoc_ctx *ctx = arg;
	struct provider *p;
	struct xml_node *x;
	char size[32];

	if (st != STORE_OK) {
		db_trouble(&ctx, st, msg);
		return;
	}
	stats_inc(STAT_REGISTER);
	log_info("register-device: %s %s a device with %s%s (node %s)", d->owner,
	    d->inserted ? "registered" : "re-registered", d->provider,
	    d->voip_token ? " with a VoIP token" : "", d->node);
	x = adhoc_result_form(ctx);
	add_field(x, "node", FORM_FIELD_TEXT_SINGLE, NULL, d->node);
	add_field(x, "secret", FORM_FIELD_TEXT_SINGLE, NULL, d->secret);
	p = provider_find(d->provider);
	add_push_features(x, d->provider, p);
	snprintf(size, sizeof(size), "%zu", p != NULL ?
	    provider_max_payload(p) : (size_t)0);
	add_field(x, "max-payload-size", FORM_FIELD_TEXT_SINGLE, NULL, size);
	stats_inc(STAT_COMMANDS);
	adhoc_complete(&ctx, NULL);
}

static void
register_submit_cb(void *arg, struct adhoc_ctx *ctx)
{
	const char *prov = form_get_value(ctx->form, "provider");
	const char *token = form_get_value(ctx->form, "device-token");
	const char *voip = form_get_value(ctx->form, "device-second-token");
	const char *why;
	struct provider *p;
	char *err = NULL;

	if (prov == NULL || *prov == '\0') {
		adhoc_refuse(&ctx, "provider: a provider is required");
		return;
	}
	if ((p = provider_find(prov)) == NULL) {
		adhoc_refuse(&ctx, "provider: '%s' is not a provider of this "
		    "service", prov);
		return;
	}
	if (token == NULL || *token == '\0') {
		adhoc_refuse(&ctx, "device-token: a device token is required");
		return;
	}
	if ((why = check_token(p, token, false, &err)) != NULL) {
		adhoc_refuse(&ctx, "device-token: %s", why);
		free(err);
		return;
	}
	if (voip != NULL && *voip == '\0')
		voip = NULL;
	if (voip != NULL && (why = check_token(p, voip, true, &err)) != NULL) {
		adhoc_refuse(&ctx, "device-second-token: %s", why);
		free(err);
		return;
	}
	store_device_register(cmd_store, ctx->requester_bare, prov, token,
	    voip, register_done_cb, ctx);
}

/* unregister-device */

static void
unregister_form_cb(void *arg, const struct adhoc_ctx *ctx, struct xml_node *x)
{
	struct xml_node *f;

	provider_options(x, false);
	f = form_build_field(x, "device-token", FORM_FIELD_TEXT_SINGLE,
	    "Device token");
	form_build_required(f);
}

static void
unregister_done_cb(void *arg, enum store_status st, const char *msg)
{
	struct adhoc_ctx *ctx = arg;

	if (st == STORE_NOTFOUND) {
		adhoc_error(&ctx, "cancel", "item-not-found", "device-token: "
		    "you have no registration of this device with this "
		    "provider");
		return;
	}
	if (st != STORE_OK) {
		db_trouble(&ctx, st, msg);
		return;
	}
	stats_inc(STAT_UNREGISTER);
	stats_inc(STAT_COMMANDS);
	log_info("unregister-device: %s removed a %s registration",
	    ctx->requester_bare, form_get_value(ctx->form, "provider"));
	adhoc_complete(&ctx, NULL);
}

static void
unregister_submit_cb(void *arg, struct adhoc_ctx *ctx)
{
	const char *prov = form_get_value(ctx->form, "provider");
	const char *token = form_get_value(ctx->form, "device-token");

	if (prov == NULL || *prov == '\0') {
		adhoc_refuse(&ctx, "provider: a provider is required");
		return;
	}
	if (token == NULL || *token == '\0') {
		adhoc_refuse(&ctx, "device-token: a device token is required");
		return;
	}
	/* The owner is the requester: nobody removes another's row. */
	store_device_unregister(cmd_store, ctx->requester_bare, prov, token,
	    unregister_done_cb, ctx);
}

/* set-apns-certificate */

struct cert_job {
	struct adhoc_ctx	*ctx;
	struct certinfo		 ci;
};

static void
cert_form_cb(void *arg, const struct adhoc_ctx *ctx, struct xml_node *x)
{
	struct xml_node *f;

	provider_options(x, true);
	f = form_build_field(x, "certificate", FORM_FIELD_TEXT_MULTI,
	    "Certificate: base64 PKCS#12 (base64 -w 0 cert.p12) or PEM");
	form_build_required(f);
	form_build_field(x, "password", FORM_FIELD_TEXT_PRIVATE, "Password");
}

static void
cert_done_cb(void *arg, enum store_status st, const char *msg)
{
	struct cert_job *job = arg;
	struct adhoc_ctx *ctx = job->ctx;
	struct xml_node *x;
	char date[32];
	struct tm tm;

	if (st != STORE_OK) {
		certinfo_clear(&job->ci);
		free(job);
		db_trouble(&ctx, st, msg);
		return;
	}
	gmtime_r(&job->ci.not_after, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm);
	log_info("set-apns-certificate: %s stored a certificate for %s (%s, "
	    "valid until %s)", ctx->requester_bare,
	    form_get_value(ctx->form, "provider"), job->ci.subject, date);
	x = adhoc_result_form(ctx);
	add_field(x, "subject", FORM_FIELD_TEXT_SINGLE, "Subject",
	    job->ci.subject);
	if (job->ci.topics != NULL)
		add_field(x, "topics", FORM_FIELD_TEXT_SINGLE, "Topics",
		    job->ci.topics);
	add_field(x, "not-after", FORM_FIELD_TEXT_SINGLE, "Valid until", date);
	certinfo_clear(&job->ci);
	free(job);
	stats_inc(STAT_COMMANDS);
	adhoc_complete(&ctx, "The certificate is stored; every xpushd "
	    "process switches to it.");
}

static void
cert_submit_cb(void *arg, struct adhoc_ctx *ctx)
{
	const char *prov = form_get_value(ctx->form, "provider");
	const struct form_field *cf = form_get_field(ctx->form, "certificate");
	const char *password = form_get_value(ctx->form, "password");
	struct store_cert sc;
	struct cert_job *job;
	struct provider *p;
	char *text, *err = NULL;
	size_t i, len = 0;

	if (prov == NULL || (p = provider_find(prov)) == NULL ||
	    !provider_has_cap(p, XP_CAP_APNS_CERT)) {
		adhoc_refuse(&ctx, "provider: '%s' is not an APNs provider of "
		    "this service", prov ? prov : "");
		return;
	}
	if (cf == NULL || cf->nvalues == 0) {
		adhoc_refuse(&ctx, "certificate: a certificate is required");
		return;
	}
	/* text-multi: one value per line. */
	for (i = 0; i < cf->nvalues; i++)
		len += strlen(cf->values[i]) + 1;
	text = xmalloc(len + 1);
	text[0] = '\0';
	for (i = 0; i < cf->nvalues; i++) {
		strcat(text, cf->values[i]);
		strcat(text, "\n");
	}
	job = xcalloc(1, sizeof(*job));
	job->ctx = ctx;
	if (certinfo_parse(text, password, &job->ci, &err) == -1) {
		free(text);
		free(job);
		adhoc_refuse(&ctx, "certificate: %s", err);
		free(err);
		return;
	}
	free(text);
	memset(&sc, 0, sizeof(sc));
	sc.provider = (char *)prov;
	sc.pkcs12 = job->ci.pkcs12;
	sc.pkcs12_len = job->ci.pkcs12_len;
	sc.password = password != NULL && *password != '\0' ?
	    (char *)password : NULL;
	sc.cert_pem = job->ci.cert_pem;
	sc.key_pem = job->ci.key_pem;
	sc.not_after = job->ci.not_after;
	store_cert_put(cmd_store, &sc, cert_done_cb, job);
}

/* get-statistics */

static void
stats_form_cb(void *arg, const struct adhoc_ctx *ctx, struct xml_node *x)
{
	form_build_title(x, NULL, "Submit to read the statistics.");
}

struct stats_job {
	struct adhoc_ctx	*ctx;
	struct provider		*next;		/* provider to count next */
	struct xml_node		*x;
};

static void
stats_count_cb(void *arg, enum store_status st, long long n, const char *msg)
{
	struct stats_job *job = arg;
	char var[256], val[32];

	snprintf(var, sizeof(var), "registrations-%s", provider_id(job->next));
	if (st == STORE_OK)
		snprintf(val, sizeof(val), "%lld", n);
	else
		snprintf(val, sizeof(val), "unavailable");
	add_field(job->x, var, FORM_FIELD_TEXT_SINGLE, NULL, val);
	job->next = providers_next(job->next);
	if (job->next != NULL) {
		store_device_count_provider(cmd_store, provider_id(job->next),
		    stats_count_cb, job);
		return;
	}
	stats_inc(STAT_COMMANDS);
	adhoc_complete(&job->ctx, NULL);
	free(job);
}

static void
stats_submit_cb(void *arg, struct adhoc_ctx *ctx)
{
	const struct stats_provider *sp;
	struct stats_job *job;
	struct xml_node *x;
	char var[256], val[64];
	int i, o;

	x = adhoc_result_form(ctx);
	snprintf(val, sizeof(val), "%lld", (long long)(time(NULL) -
	    xpd->started));
	add_field(x, "uptime", FORM_FIELD_TEXT_SINGLE, "Uptime (s)", val);
	snprintf(val, sizeof(val), "%ld", stats_in_flight_now());
	add_field(x, "in-flight", FORM_FIELD_TEXT_SINGLE, "In flight", val);
	for (i = 0; i < STAT_MAX; i++) {
		snprintf(val, sizeof(val), "%llu",
		    (unsigned long long)stats_get(i));
		add_field(x, stats_name(i), FORM_FIELD_TEXT_SINGLE, NULL, val);
	}
	for (sp = stats_providers(); sp != NULL; sp = sp->next)
		for (o = XP_SENT; o <= XP_AUTH_FAILED; o++) {
			snprintf(var, sizeof(var), "%s-%s", sp->id,
			    stats_outcome_name(o));
			snprintf(val, sizeof(val), "%llu",
			    (unsigned long long)sp->outcomes[o]);
			add_field(x, var, FORM_FIELD_TEXT_SINGLE, NULL, val);
		}
	if (providers_first() == NULL) {
		stats_inc(STAT_COMMANDS);
		adhoc_complete(&ctx, NULL);
		return;
	}
	job = xcalloc(1, sizeof(*job));
	job->ctx = ctx;
	job->x = x;
	job->next = providers_first();
	store_device_count_provider(cmd_store, provider_id(job->next),
	    stats_count_cb, job);
}

/* list-devices and delete-devices */

static void
jid_form_cb(void *arg, const struct adhoc_ctx *ctx, struct xml_node *x)
{
	struct xml_node *f;

	f = form_build_field(x, "jid", FORM_FIELD_JID_SINGLE, "Account (JID)");
	form_build_required(f);
}

static char *
submitted_bare_jid(struct adhoc_ctx **ctxp)
{
	const char *v = form_get_value((*ctxp)->form, "jid");
	const char *err = NULL;
	struct jid *j;
	char *bare;

	if (v == NULL || *v == '\0') {
		adhoc_refuse(ctxp, "jid: an account JID is required");
		return NULL;
	}
	if ((j = jid_parse(v, &err)) == NULL) {
		adhoc_refuse(ctxp, "jid: '%s' is not a JID: %s", v,
		    err ? err : "malformed");
		return NULL;
	}
	bare = xstrdup(jid_bare(j));
	jid_free(&j);
	return bare;
}

static void
fmt_time(char *buf, size_t len, time_t t)
{
	struct tm tm;

	if (t == 0) {
		snprintf(buf, len, "never");
		return;
	}
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
list_done_cb(void *arg, enum store_status st, const struct store_device *d,
    size_t n, const char *msg)
{
	struct adhoc_ctx *ctx = arg;
	struct xml_node *x, *rep, *item;
	char buf[64], tok[CMD_TOKEN_SHOWN + 4];
	size_t i;

	if (st != STORE_OK && st != STORE_NOTFOUND) {
		db_trouble(&ctx, st, msg);
		return;
	}
	x = adhoc_result_form(ctx);
	rep = xml_node_add_child(x, "reported", NULL);
	form_build_field(rep, "provider", FORM_FIELD_TEXT_SINGLE, "Provider");
	form_build_field(rep, "token", FORM_FIELD_TEXT_SINGLE, "Token");
	form_build_field(rep, "node", FORM_FIELD_TEXT_SINGLE, "Node");
	form_build_field(rep, "created", FORM_FIELD_TEXT_SINGLE, "Created");
	form_build_field(rep, "last-push", FORM_FIELD_TEXT_SINGLE,
	    "Last push");
	form_build_field(rep, "last-error", FORM_FIELD_TEXT_SINGLE,
	    "Last error");
	for (i = 0; st == STORE_OK && i < n; i++) {
		item = xml_node_add_child(x, "item", NULL);
		add_field(item, "provider", FORM_FIELD_TEXT_SINGLE, NULL,
		    d[i].provider);
		if (strlen(d[i].token) > CMD_TOKEN_SHOWN)
			snprintf(tok, sizeof(tok), "%.*s...", CMD_TOKEN_SHOWN,
			    d[i].token);
		else
			snprintf(tok, sizeof(tok), "%s", d[i].token);
		add_field(item, "token", FORM_FIELD_TEXT_SINGLE, NULL, tok);
		add_field(item, "node", FORM_FIELD_TEXT_SINGLE, NULL,
		    d[i].node);
		fmt_time(buf, sizeof(buf), d[i].created);
		add_field(item, "created", FORM_FIELD_TEXT_SINGLE, NULL, buf);
		fmt_time(buf, sizeof(buf), d[i].last_push);
		add_field(item, "last-push", FORM_FIELD_TEXT_SINGLE, NULL, buf);
		add_field(item, "last-error", FORM_FIELD_TEXT_SINGLE, NULL,
		    d[i].last_error_text ? d[i].last_error_text : "");
	}
	stats_inc(STAT_COMMANDS);
	adhoc_complete(&ctx, NULL);
}

static void
list_submit_cb(void *arg, struct adhoc_ctx *ctx)
{
	char *bare;

	if ((bare = submitted_bare_jid(&ctx)) == NULL)
		return;
	store_device_list_owner(cmd_store, bare, list_done_cb, ctx);
	free(bare);
}

static void
delete_done_cb(void *arg, enum store_status st, long long n, const char *msg)
{
	struct adhoc_ctx *ctx = arg;
	char note[128];

	if (st != STORE_OK && st != STORE_NOTFOUND) {
		db_trouble(&ctx, st, msg);
		return;
	}
	if (st == STORE_NOTFOUND)
		n = 0;
	log_info("delete-devices: %s deleted %lld registrations of %s",
	    ctx->requester_bare, n, form_get_value(ctx->form, "jid"));
	snprintf(note, sizeof(note), "%lld registration%s deleted.", n,
	    n == 1 ? "" : "s");
	stats_inc(STAT_COMMANDS);
	adhoc_complete(&ctx, note);
}

static void
delete_submit_cb(void *arg, struct adhoc_ctx *ctx)
{
	char *bare;

	if ((bare = submitted_bare_jid(&ctx)) == NULL)
		return;
	store_device_delete_owner(cmd_store, bare, delete_done_cb, ctx);
	free(bare);
}

void
commands_init(struct store *store)
{
	static const struct adhoc_command cmds[] = {
		{ "register-device", "Register device", false,
		  register_form_cb, register_submit_cb, NULL },
		{ "unregister-device", "Unregister device", false,
		  unregister_form_cb, unregister_submit_cb, NULL },
		{ "set-apns-certificate", "Set APNs certificate", true,
		  cert_form_cb, cert_submit_cb, NULL },
		{ "get-statistics", "Get statistics", true,
		  stats_form_cb, stats_submit_cb, NULL },
		{ "list-devices", "List an account's devices", true,
		  jid_form_cb, list_submit_cb, NULL },
		{ "delete-devices", "Delete an account's devices", true,
		  jid_form_cb, delete_submit_cb, NULL },
	};
	size_t i;

	cmd_store = store;
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		adhoc_register(&cmds[i]);
}
