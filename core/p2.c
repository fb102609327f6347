/*
 * The p2 commands (see p2.h), as p2 serves them
 * (eu.siacs.p2.controller.PushController) and Conversations sends them
 * (IqGenerator.pushTokenToAppServer, unregisterChannelOnAppServer;
 * PushManagementService.registerPushTokenOnServer, unregisterChannel):
 *
 *  - register-push-SERVICE, one step: <command action='execute'> with a
 *    submitted form of untyped fields token, android-id (or device-id,
 *    which wins when both are there) and, for a group chat (a "channel"),
 *    muc = its bare JID.  The answer is a completed command with a form
 *    holding jid (this component: the app enables push with it), node and
 *    secret; the app needs all three or it never enables push.
 *  - The registration is keyed by (service, device fingerprint, channel
 *    fingerprint): the same device registering again gets the same node
 *    and secret, with its new token.  The fingerprints are p2_fingerprint()
 *    of the account and of the group chat with the device id; FCM pushes
 *    carry them as data.account and data.channel.
 *  - unregister-push-SERVICE: android-id (or device-id) and channel, the
 *    channel fingerprint from a push the app could not place
 *    (Conversations sends it), or muc (what p2 reads); with neither, every
 *    registration of the device with that service goes.
 *
 * Deviations from p2: the input a command refuses is modify/bad-request
 * with a text that names the field (p2 answers a bare bad-request); a
 * service that is not configured is not offered (not listed; its commands
 * answer item-not-found, saying so); unregistering more than one
 * row succeeds (p2 says item-not-found then); unregister answers
 * status='completed'.  Publishes (core/registry.c, the p2 source): p2
 * takes any bare JID of the owner's domain, xpushd the owner's server or
 * account, or a group chat registration's service or room; a dead FCM
 * token deletes the registration (p2 keeps it and answers item-not-found
 * forever); the FCM priority follows the notification, as for every push
 * (p2 sets none).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "core/adhoc.h"
#include "core/log.h"
#include "core/p2.h"
#include "core/provider.h"
#include "core/stats.h"
#include "core/store.h"
#include "core/xmalloc.h"
#include "core/xpushd.h"
#include "xml/jid.h"

#define P2_TOKEN_MAX	4096	/* bytes of a device token */

/* A service of p2: its command suffix and the p2 () key naming its block. */
struct p2_service {
	const char	*name;		/* fcm, apns */
	const char	*register_node, *register_name;
	const char	*unregister_node, *unregister_name;
};

static const struct p2_service p2_services[] = {
	{ "fcm", "register-push-fcm", "Register an FCM token (p2)",
	  "unregister-push-fcm", "Unregister an FCM token (p2)" },
	{ "apns", "register-push-apns", "Register an APNs token (p2)",
	  "unregister-push-apns", "Unregister an APNs token (p2)" },
};

static struct store *p2_store;

void
p2_fingerprint(const char *jid, const char *device_id, char *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen, i;
	EVP_MD_CTX *c;

	if ((c = EVP_MD_CTX_new()) == NULL)
		fatalx("p2: EVP_MD_CTX_new: out of memory");
	if (EVP_DigestInit_ex(c, EVP_sha1(), NULL) != 1 ||
	    EVP_DigestUpdate(c, jid, strlen(jid) + 1) != 1 ||
	    EVP_DigestUpdate(c, device_id, strlen(device_id)) != 1 ||
	    EVP_DigestFinal_ex(c, md, &mdlen) != 1 ||
	    mdlen * 2 != P2_FINGERPRINT_LEN)
		fatalx("p2: SHA-1 failed");
	EVP_MD_CTX_free(c);
	for (i = 0; i < mdlen; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[P2_FINGERPRINT_LEN] = '\0';
}

/* The provider block serving service now, or NULL. */
static const char *
p2_block(const struct xp_conf *conf, const struct p2_service *sv)
{
	const char *id = conf_str(conf, "p2", sv->name);

	return id != NULL && *id != '\0' ? id : NULL;
}

int
p2_check_conf(const struct xp_conf *conf, char **error_r)
{
	const struct cfg_node *b;
	const char *id;
	size_t i;

	for (i = 0; i < sizeof(p2_services) / sizeof(p2_services[0]); i++) {
		if ((id = p2_block(conf, &p2_services[i])) == NULL)
			continue;
		for (b = conf_providers(conf); b != NULL; b = b->next)
			if (strcmp(b->key, id) == 0)
				break;
		if (b == NULL) {
			xasprintf(error_r, "p2: %s = '%s' names no provider "
			    "block of push ()", p2_services[i].name, id);
			return -1;
		}
	}
	return 0;
}

static bool
p2_offered_cb(void *arg)
{
	const struct p2_service *sv = arg;
	const char *id = p2_block(xpd->conf, sv);

	return id != NULL && provider_find(id) != NULL;
}

/* A value p2 takes: not empty once trimmed (p2 isNullOrEmpty). */
static const char *
p2_value(const struct adhoc_ctx *ctx, const char *var)
{
	const char *v = form_get_value(ctx->form, var), *c;

	if (v == NULL)
		return NULL;
	for (c = v; *c == ' ' || *c == '\t' || *c == '\n' || *c == '\r'; c++)
		;
	return *c != '\0' ? v : NULL;
}

/* device-id wins over android-id (p2 PushController.findDeviceId). */
static const char *
p2_device_id(struct adhoc_ctx **ctxp)
{
	const char *id = p2_value(*ctxp, "device-id");
	const unsigned char *c;

	if (id == NULL)
		id = p2_value(*ctxp, "android-id");
	if (id == NULL) {
		adhoc_refuse(ctxp, "android-id: the device id (android-id or "
		    "device-id) is required");
		return NULL;
	}
	if (strlen(id) > P2_DEVICE_ID_MAX) {
		adhoc_refuse(ctxp, "android-id: a device id is at most %d "
		    "bytes long", P2_DEVICE_ID_MAX);
		return NULL;
	}
	for (c = (const unsigned char *)id; *c != '\0'; c++)
		if (*c < 0x20 || *c == 0x7f) {
			adhoc_refuse(ctxp, "android-id: a device id holds no "
			    "control characters");
			return NULL;
		}
	return id;
}

/*
 * The group chat: NULL with *bare_r NULL when there is none; -1 when it
 * was refused.  *bare_r is malloc'd.
 */
static int
p2_muc(struct adhoc_ctx **ctxp, char **bare_r)
{
	const char *v = p2_value(*ctxp, "muc");
	struct jid *j;

	*bare_r = NULL;
	if (v == NULL)
		return 0;
	if ((j = jid_parse(v, NULL)) == NULL || jid_resource(j) != NULL) {
		jid_free(&j);
		adhoc_refuse(ctxp, "muc: the group chat is a bare JID");
		return -1;
	}
	*bare_r = xstrdup(jid_bare(j));
	jid_free(&j);
	return 0;
}

static void
p2_db_trouble(struct adhoc_ctx **ctxp, enum store_status st, const char *msg)
{
	log_warnx("adhoc: %s: database %s: %s", (*ctxp)->node,
	    st == STORE_ETEMP ? "unavailable" : "error",
	    msg ? msg : store_status_str(st));
	adhoc_error(ctxp, "wait", "internal-server-error",
	    "the registration could not be stored now: try again later");
}

/* The fields of both commands: the device id, under either name. */
static void
p2_device_fields(struct xml_node *x)
{
	form_build_field(x, "android-id", FORM_FIELD_TEXT_SINGLE,
	    "Device id");
	form_build_field(x, "device-id", FORM_FIELD_TEXT_SINGLE,
	    "Device id (instead of android-id)");
}

/* register-push-* */

static void
p2_register_form_cb(void *arg, const struct adhoc_ctx *ctx,
    struct xml_node *x)
{
	form_build_required(form_build_field(x, "token",
	    FORM_FIELD_TEXT_SINGLE, "Device token"));
	p2_device_fields(x);
	form_build_field(x, "muc", FORM_FIELD_TEXT_SINGLE,
	    "Group chat (for its own registration)");
}

static void
p2_register_done_cb(void *arg, enum store_status st,
    const struct store_device *d, const char *msg)
{
	struct adhoc_ctx *ctx = arg;
	struct xml_node *x;

	if (st != STORE_OK) {
		p2_db_trouble(&ctx, st, msg);
		return;
	}
	stats_inc(STAT_REGISTER);
	stats_inc(STAT_COMMANDS);
	log_info("%s: %s %s a device with %s%s%s (node %s)", ctx->node,
	    d->owner, d->inserted ? "registered" : "re-registered",
	    d->provider, d->p2_muc != NULL ? " for " : "",
	    d->p2_muc != NULL ? d->p2_muc : "", d->node);
	/* PushManagementService.registerPushTokenOnServer reads these. */
	x = adhoc_result_form(ctx);
	form_build_value(form_build_field(x, "jid", FORM_FIELD_JID_SINGLE,
	    NULL), router_jid());
	form_build_value(form_build_field(x, "node", FORM_FIELD_TEXT_SINGLE,
	    NULL), d->node);
	form_build_value(form_build_field(x, "secret",
	    FORM_FIELD_TEXT_SINGLE, NULL), d->secret);
	adhoc_complete(&ctx, NULL);
}

static void
p2_register_submit_cb(void *arg, struct adhoc_ctx *ctx)
{
	const struct p2_service *sv = arg;
	const char *token, *id, *prov, *c;
	char device[P2_FINGERPRINT_LEN + 1], channel[P2_FINGERPRINT_LEN + 1];
	struct store_p2_reg reg;
	struct provider *p;
	char *muc, *err = NULL;

	prov = p2_block(xpd->conf, sv);
	if (prov == NULL || (p = provider_find(prov)) == NULL) {
		adhoc_error(&ctx, "cancel", "item-not-found",
		    "this service is not offered here");
		return;
	}
	if ((token = p2_value(ctx, "token")) == NULL) {
		adhoc_refuse(&ctx, "token: a device token is required");
		return;
	}
	if (strlen(token) > P2_TOKEN_MAX) {
		adhoc_refuse(&ctx, "token: a device token is at most %d bytes "
		    "long", P2_TOKEN_MAX);
		return;
	}
	for (c = token; *c != '\0'; c++)
		if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f) {
			adhoc_refuse(&ctx, "token: a device token is printable "
			    "ASCII without spaces");
			return;
		}
	if (provider_check_token(p, token, false, &err) == -1) {
		adhoc_refuse(&ctx, "token: %s", err);
		free(err);
		return;
	}
	if ((id = p2_device_id(&ctx)) == NULL || p2_muc(&ctx, &muc) == -1)
		return;
	p2_fingerprint(ctx->requester_bare, id, device);
	memset(&reg, 0, sizeof(reg));
	reg.owner = ctx->requester_bare;
	reg.provider = prov;
	reg.token = token;
	reg.device = device;
	if (muc != NULL) {
		p2_fingerprint(muc, id, channel);
		reg.channel = channel;
		reg.muc = muc;
	}
	store_p2_register(p2_store, &reg, p2_register_done_cb, ctx);
	free(muc);
}

/* unregister-push-* */

static void
p2_unregister_form_cb(void *arg, const struct adhoc_ctx *ctx,
    struct xml_node *x)
{
	p2_device_fields(x);
	form_build_field(x, "channel", FORM_FIELD_TEXT_SINGLE,
	    "Channel fingerprint (one group chat's registration)");
	form_build_field(x, "muc", FORM_FIELD_TEXT_SINGLE,
	    "Group chat (its registration)");
}

static void
p2_unregister_done_cb(void *arg, enum store_status st, const char *msg)
{
	struct adhoc_ctx *ctx = arg;

	if (st == STORE_NOTFOUND) {
		adhoc_error(&ctx, "cancel", "item-not-found",
		    "no such registration of this device");
		return;
	}
	if (st != STORE_OK) {
		p2_db_trouble(&ctx, st, msg);
		return;
	}
	stats_inc(STAT_UNREGISTER);
	stats_inc(STAT_COMMANDS);
	log_info("%s: %s removed a registration", ctx->node,
	    ctx->requester_bare);
	adhoc_complete(&ctx, NULL);
}

static bool
is_fingerprint(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return i == P2_FINGERPRINT_LEN;
}

static void
p2_unregister_submit_cb(void *arg, struct adhoc_ctx *ctx)
{
	const struct p2_service *sv = arg;
	char device[P2_FINGERPRINT_LEN + 1], channel[P2_FINGERPRINT_LEN + 1];
	const char *id, *prov, *ch;
	char *muc;

	if ((prov = p2_block(xpd->conf, sv)) == NULL) {
		adhoc_error(&ctx, "cancel", "item-not-found",
		    "this service is not offered here");
		return;
	}
	if ((id = p2_device_id(&ctx)) == NULL)
		return;
	ch = p2_value(ctx, "channel");
	if (ch != NULL && !is_fingerprint(ch)) {
		adhoc_refuse(&ctx, "channel: a channel is the %d lower-case "
		    "hex digits of its fingerprint", P2_FINGERPRINT_LEN);
		return;
	}
	if (ch == NULL) {
		if (p2_muc(&ctx, &muc) == -1)
			return;
		if (muc != NULL) {
			p2_fingerprint(muc, id, channel);
			ch = channel;
			free(muc);
		}
	}
	p2_fingerprint(ctx->requester_bare, id, device);
	store_p2_unregister(p2_store, ctx->requester_bare, prov, device, ch,
	    p2_unregister_done_cb, ctx);
}

void
p2_init(struct store *store)
{
	const struct p2_service *sv;
	size_t i;

	p2_store = store;
	for (i = 0; i < sizeof(p2_services) / sizeof(p2_services[0]); i++) {
		sv = &p2_services[i];
		/* adhoc_register_offered() keeps a copy. */
		adhoc_register_offered(&(struct adhoc_command){
		    sv->register_node, sv->register_name, false,
		    p2_register_form_cb, p2_register_submit_cb, (void *)sv },
		    p2_offered_cb);
		adhoc_register_offered(&(struct adhoc_command){
		    sv->unregister_node, sv->unregister_name, false,
		    p2_unregister_form_cb, p2_unregister_submit_cb,
		    (void *)sv }, p2_offered_cb);
	}
}
