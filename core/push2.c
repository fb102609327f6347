/*
 * The Push 2.0 relay (urn:xmpp:push2:0, prosody-modules' push2.markdown;
 * the server side is mod_push2.lua).  The user's server, not the client,
 * talks to us: for each stanza to push it sends, in handle_notify_request,
 *
 *   <message to='push.example' from='server' id='uuid'>
 *     <notification xmlns='urn:xmpp:push2:0'>
 *       <client>https://push.example.com/endpoint</client>
 *       <priority>high|normal|low</priority>
 *       <voip/>                                  (a Jingle propose/retract)
 *       <encrypted xmlns='urn:xmpp:sce:rfc8291:0'>
 *         <payload>base64 of the RFC 8291 aes128gcm body</payload>
 *       </encrypted>                              (add_sce_rfc8291)
 *       <jwt key='base64 raw P-256 public key'>ES256 JWT</jwt> (add_rfc8292)
 *     </notification>
 *   </message>
 *
 * The payload is already encrypted for the client: we never decrypt it.
 * <client> is the client's opaque endpoint; we map it to a provider block
 * of the push2 () { } configuration block:
 *
 *   https://api.push.apple.com/<token>#<topic>&<voip token>
 *   https://api.development.push.apple.com/...   (the same, sandbox)
 *	an APNs block of `apns` whose apns-topic is <topic> (the first one
 *	without a topic); with <voip/> and a VoIP token, a PushKit push to
 *	it.  This is the form the Snikket/Cheogram APNs relay reads
 *	(topic and VoIP token in the fragment, token the last path segment).
 *   https://fcm.googleapis.com/<token>
 *	the `fcm` block, the token the last path segment (our choice: no
 *	FCM relay of Push 2.0 is published).
 *   any other https URL
 *	a Web Push endpoint (RFC 8030): the `web` block (module webpush)
 *	POSTs the payload bytes as they are, with the VAPID JWT and key.
 *
 * The modules get the bytes in struct xp_push's relay fields (relay_key in
 * base64url, as RFC 8292's k= parameter wants it); APNs and FCM deliver
 * them base64 under the key "rfc8291".  A notify-only notification (no
 * <encrypted/>) goes to APNs and FCM as an ordinary wake-up and is refused
 * for a Web Push client (an empty Web Push message wakes no page).
 *
 * Answers.  A message that worked gets none; a failure comes back as a
 * <message type='error'/>.  The draft ("Transient delivery errors"): the
 * server SHOULD retry errors of type wait and MUST NOT retry others; it
 * MAY disable a registration that keeps failing.  mod_push2.lua today
 * only sends (its "watch for message error replies" is a TODO), so the
 * types are chosen for the draft: a subscription the provider calls dead
 * is cancel/item-not-found (stop), one this notification alone cannot
 * take is modify (not retried as it is), a Web Push service's refusal
 * of the server's VAPID JWT or key is auth/not-authorized (the server's
 * configuration, e.g. mod_push2's contact_uri, must change), everything
 * transient is wait, our own provider credentials included.
 * xpushd itself does not retry: a wait error hands the retry to the
 * server, which holds the notification.
 *
 * Anyone who can reach the component can send it notifications, as Push
 * 2.0 has no registration at the App Server: push2 servers limits the
 * relay to the domains of the servers an operator serves.
 *
 * Limits: the payload (PUSH2_MAX_CIPHERTEXT, what RFC 8030 section 7.2
 * obliges push services to accept), the client and JWT lengths, the
 * relays in flight (push2 max-in-flight), publish-deadline, and the
 * per-device throttle of publishes applied per client (job_admit).
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "core/certinfo.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/provider.h"
#include "core/push2.h"
#include "core/rand.h"
#include "core/router.h"
#include "core/stats.h"
#include "core/throttle.h"
#include "core/xmalloc.h"
#include "xml/jid.h"
#include "xml/node.h"

#define NS_PUSH2		"urn:xmpp:push2:0"
#define NS_SCE_RFC8291		"urn:xmpp:sce:rfc8291:0"

#define PUSH2_MAX_CIPHERTEXT	4096	/* payload bytes, decoded */
/* Its base64 text, with room for line breaks, refused before decoding. */
#define PUSH2_MAX_PAYLOAD_TEXT	((PUSH2_MAX_CIPHERTEXT + 2) / 3 * 4 + 256)
#define PUSH2_MAX_CLIENT	2048	/* bytes of <client> */
#define PUSH2_MAX_JWT		2048	/* bytes of <jwt> */
#define PUSH2_MAX_TOKEN		512	/* bytes of an APNs or FCM token */
#define PUSH2_MAX_APNS		16	/* APNs blocks in push2 apns */
#define PUSH2_MAX_SERVERS	1024	/* domains in push2 servers */
#define PUSH2_MAX_HOST		256	/* bytes of the client URL's host */
#define PUSH2_P256_RAW		65	/* an uncompressed P-256 point */
/* RFC 8188 section 2.1: salt, rs, idlen; then keyid, one padded record. */
#define PUSH2_AES128GCM_HEADER	21
#define PUSH2_AES128GCM_MIN_RECORD 17	/* the delimiter and the tag */

#define PUSH2_APNS_HOST		"api.push.apple.com"
#define PUSH2_APNS_SANDBOX_HOST	"api.development.push.apple.com"
#define PUSH2_FCM_HOST		"fcm.googleapis.com"
/* Throttle keys: apart from the nodes of publishes. */
#define PUSH2_THROTTLE_PREFIX	"push2 "

enum p2_outcome {
	P2_SENT,
	P2_BAD_REQUEST,
	P2_TOO_BIG,
	P2_NO_SERVICE,
	P2_NO_PAYLOAD,
	P2_GONE,
	P2_DELETION_HELD,
	P2_RATE_LIMITED,
	P2_TEMPORARY,
	P2_REFUSED,
	P2_AUTH_FAILED,
	P2_VAPID_REFUSED,
	P2_DEADLINE,
	P2_PROVIDER_BUSY,
	P2_TOO_BUSY,
	P2_FORBIDDEN,
};

/* type NULL: no answer (the message worked). */
static const struct p2_answer {
	const char	*type, *cond, *text;
} answers[] = {
	[P2_SENT] = { NULL, NULL, NULL },
	[P2_BAD_REQUEST] = { "modify", "bad-request",
	    "a Push 2.0 notification is malformed" },
	[P2_TOO_BIG] = { "modify", "policy-violation",
	    "the notification is larger than this push service relays" },
	[P2_NO_SERVICE] = { "cancel", "item-not-found",
	    "this push service serves no such client" },
	[P2_NO_PAYLOAD] = { "cancel", "feature-not-implemented",
	    "a Web Push client needs an encrypted payload "
	    "(urn:xmpp:push2:send:sce+rfc8291+rfc8292:0)" },
	[P2_GONE] = { "cancel", "item-not-found",
	    "the client's push subscription is gone: disable it" },
	[P2_DELETION_HELD] = { "wait", "internal-server-error",
	    "the push provider refuses too many subscriptions at once to be "
	    "trusted: try again later" },
	[P2_RATE_LIMITED] = { "wait", "resource-constraint",
	    "the push provider rate-limits this client: try again later" },
	[P2_TEMPORARY] = { "wait", "internal-server-error",
	    "the push provider is unavailable: try again later" },
	[P2_REFUSED] = { "modify", "not-acceptable",
	    "the push provider refused this notification" },
	[P2_AUTH_FAILED] = { "wait", "internal-server-error",
	    "the push service is misconfigured: try again later" },
	[P2_VAPID_REFUSED] = { "auth", "not-authorized",
	    "the Web Push service refused the notification's VAPID JWT or "
	    "key (RFC 8292: sub must be a mailto: or https: URI)" },
	[P2_DEADLINE] = { "wait", "remote-server-timeout",
	    "the push provider did not answer in time" },
	[P2_PROVIDER_BUSY] = { "wait", "resource-constraint",
	    "the push provider's queue is full: try again later" },
	[P2_TOO_BUSY] = { "wait", "resource-constraint",
	    "too many notifications in flight: try again later" },
	[P2_FORBIDDEN] = { "auth", "forbidden",
	    "this push service relays for other servers only" },
};

struct p2_apns {
	char		*id;
	char		*topic;		/* the block's apns-topic */
};

struct p2job {
	struct router_req *req;		/* NULL once answered */
	char		*provider;	/* the block's id */
	struct xp_push	 push;
	char		*client;
	char		*token;
	char		*jwt;
	char		 key[PUSH2_P256_RAW * 2];	/* base64url */
	unsigned char	*relay;
	bool		 web;		/* to a Web Push endpoint */
	char		 host[PUSH2_MAX_HOST];	/* the client's, for logs */
	struct event	*timeout;
};

/* What push2 () says; swapped whole so that a bad reload changes nothing. */
struct p2_conf {
	bool		 on;		/* a push2 () block is configured */
	char		*web;		/* provider ids, NULL: none */
	char		*fcm;
	struct p2_apns	 apns[PUSH2_MAX_APNS];
	size_t		 napns;
	char		**servers;	/* domains allowed; none: any */
	size_t		 nservers;
	long		 max_in_flight;
	uint64_t	 deadline_ms;
};

static struct {
	struct event_base *base;
	bool		 registered;
	struct p2_conf	 c;
	long		 jobs;
} p2;

/* Configuration */

static void
p2_conf_clear(struct p2_conf *c)
{
	size_t i;

	free(c->web);
	free(c->fcm);
	for (i = 0; i < c->napns; i++) {
		free(c->apns[i].id);
		free(c->apns[i].topic);
	}
	for (i = 0; i < c->nservers; i++)
		free(c->servers[i]);
	free(c->servers);
	memset(c, 0, sizeof(*c));
}

static const struct cfg_node *
p2_provider_block(const struct xp_conf *conf, const char *id)
{
	const struct cfg_node *n;

	for (n = conf_providers(conf); n != NULL; n = n->next)
		if (strcmp(n->key, id) == 0 && cfg_is_block(n) &&
		    conf_block_active(n))
			return n;
	return NULL;
}

/* id, or NULL for ''; -1 when it names no provider block. */
static int
p2_conf_id(const struct xp_conf *conf, const char *key, char **id_r,
    char **error_r)
{
	const char *id = conf_str(conf, "push2", key);

	*id_r = NULL;
	if (id == NULL || *id == '\0')
		return 0;
	if (p2_provider_block(conf, id) == NULL) {
		xasprintf(error_r, "push2: %s = '%s' names no active provider "
		    "block of push ()", key, id);
		return -1;
	}
	*id_r = xstrdup(id);
	return 0;
}

static int
p2_conf_apns(struct p2_conf *c, const struct xp_conf *conf, char **error_r)
{
	const struct cfg_value *const *items;
	const struct cfg_node *b, *t;
	size_t i, n;

	n = conf_list(conf, "push2", "apns", &items);
	if (n > PUSH2_MAX_APNS) {
		xasprintf(error_r, "push2: apns names %zu blocks, at most %d",
		    n, PUSH2_MAX_APNS);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if ((b = p2_provider_block(conf, items[i]->str)) == NULL) {
			xasprintf(error_r, "push2: apns names '%s', which is "
			    "no active provider block of push ()",
			    items[i]->str);
			return -1;
		}
		t = cfg_find(b->children, "apns-topic");
		if (t == NULL || t->value == NULL ||
		    t->value->type != CFG_STRING) {
			xasprintf(error_r, "push2: apns block '%s' has no "
			    "apns-topic", items[i]->str);
			return -1;
		}
		c->apns[c->napns].id = xstrdup(items[i]->str);
		c->apns[c->napns++].topic = xstrdup(t->value->str);
	}
	return 0;
}

static int
p2_conf_servers(struct p2_conf *c, const struct xp_conf *conf,
    char **error_r)
{
	const struct cfg_value *const *items;
	size_t i, n;

	n = conf_list(conf, "push2", "servers", &items);
	if (n > PUSH2_MAX_SERVERS) {
		xasprintf(error_r, "push2: servers names %zu domains, at most "
		    "%d", n, PUSH2_MAX_SERVERS);
		return -1;
	}
	c->servers = n > 0 ? xcalloc(n, sizeof(*c->servers)) : NULL;
	for (i = 0; i < n; i++) {
		if (!jid_valid(items[i]->str) || strpbrk(items[i]->str, "@/")
		    != NULL) {
			xasprintf(error_r, "push2: servers: '%s' is not a "
			    "domain", items[i]->str);
			return -1;
		}
		c->servers[c->nservers++] = xstrdup(items[i]->str);
	}
	return 0;
}

/* Whether from (a JID) belongs to a server the relay serves. */
static bool
p2_server_allowed(const char *from)
{
	struct jid *j;
	bool ok = false;
	size_t i;

	if (p2.c.nservers == 0)
		return true;
	if ((j = jid_parse(from, NULL)) == NULL)
		return false;
	for (i = 0; i < p2.c.nservers && !ok; i++)
		ok = strcasecmp(jid_domain(j), p2.c.servers[i]) == 0;
	jid_free(&j);
	return ok;
}

static int
p2_conf_load(struct p2_conf *c, const struct xp_conf *conf, char **error_r)
{
	memset(c, 0, sizeof(*c));
	c->deadline_ms = (uint64_t)conf_int(conf, NULL, "publish-deadline");
	if (cfg_find(conf->file->root, "push2") == NULL)
		return 0;
	c->on = true;
	c->max_in_flight = (long)conf_int(conf, "push2", "max-in-flight");
	if (p2_conf_id(conf, "web", &c->web, error_r) == -1 ||
	    p2_conf_id(conf, "fcm", &c->fcm, error_r) == -1 ||
	    p2_conf_apns(c, conf, error_r) == -1 ||
	    p2_conf_servers(c, conf, error_r) == -1) {
		p2_conf_clear(c);
		return -1;
	}
	return 0;
}

int
push2_check_conf(const struct xp_conf *conf, char **error_r)
{
	struct p2_conf c;

	if (p2_conf_load(&c, conf, error_r) == -1)
		return -1;
	p2_conf_clear(&c);
	return 0;
}

/* Loads conf; on success it replaces the configuration in use. */
static int
p2_conf_apply(const struct xp_conf *conf, char **error_r)
{
	struct p2_conf c;

	if (p2_conf_load(&c, conf, error_r) == -1)
		return -1;
	if (c.on && c.web == NULL && c.fcm == NULL && c.napns == 0)
		log_warnx("push2: the block names no provider: every Push 2.0 "
		    "notification will be refused");
	p2_conf_clear(&p2.c);
	p2.c = c;
	return 0;
}

/* Answers and the end of a job */

static void
p2_answer(struct router_req **req, enum p2_outcome o, const char *text)
{
	const struct p2_answer *a = &answers[o];

	if (a->type == NULL) {
		router_req_free(req);
		return;
	}
	router_error(req, a->type, a->cond, text != NULL ? text : a->text);
}

static void
job_answer(struct p2job *j, enum p2_outcome o, const char *text)
{
	if (j->req != NULL)
		p2_answer(&j->req, o, text);
}

/* The only exit of a job. */
static void
job_finish(struct p2job *j, enum p2_outcome o, const char *text)
{
	job_answer(j, o, text);
	if (j->timeout != NULL)
		event_free(j->timeout);
	free(j->provider);
	free(j->client);
	free(j->token);
	free(j->jwt);
	free(j->relay);
	free(j);
	p2.jobs--;
	stats_in_flight(-1);
}

static void
job_sent_cb(void *arg, enum xp_outcome outcome, unsigned int retry_after,
    const char *reason)
{
	struct p2job *j = arg;
	struct provider *p;
	char text[256];

	switch (outcome) {
	case XP_SENT:
		job_finish(j, P2_SENT, NULL);
		return;
	case XP_INVALID_TOKEN:
		p = provider_find(j->provider);
		if (p != NULL && !provider_deletion_allowed(p)) {
			job_finish(j, P2_DELETION_HELD, NULL);
			return;
		}
		log_info("push2: %s calls a subscription at %s dead (%s): "
		    "told its server", j->provider, j->host, reason ?
		    reason : "invalid token");
		job_finish(j, P2_GONE, NULL);
		return;
	case XP_RATE_LIMITED:
		if (retry_after > 0) {
			snprintf(text, sizeof(text), "the push provider "
			    "rate-limits this client: retry in %u s",
			    retry_after);
			job_finish(j, P2_RATE_LIMITED, text);
		} else
			job_finish(j, P2_RATE_LIMITED, NULL);
		return;
	case XP_TEMPORARY:
		job_finish(j, P2_TEMPORARY, NULL);
		return;
	case XP_PERMANENT:
		log_warnx("push2: %s refused a notification for %s: %s",
		    j->provider, j->host, reason ? reason : "");
		if (reason != NULL) {
			snprintf(text, sizeof(text), "the push provider "
			    "refused this notification: %s", reason);
			job_finish(j, P2_REFUSED, text);
		} else
			job_finish(j, P2_REFUSED, NULL);
		return;
	case XP_AUTH_FAILED:
		/* A push service refuses the server's JWT, not ours. */
		job_finish(j, j->web ? P2_VAPID_REFUSED : P2_AUTH_FAILED,
		    NULL);
		return;
	}
	job_finish(j, P2_TEMPORARY, NULL);
}

static void
job_timeout_cb(evutil_socket_t fd, short events, void *arg)
{
	struct p2job *j = arg;

	log_warnx("push2: %s did not answer within %llu ms for %s",
	    j->provider, (unsigned long long)p2.c.deadline_ms, j->host);
	job_answer(j, P2_DEADLINE, NULL);
}

/* Parsing the notification */

/* "https://host[:port]/path#fragment": host (without the port) and path. */
static int
url_split(const char *url, char *host, size_t hostlen, const char **path_r)
{
	const char *h, *e;
	size_t n;

	if (strncmp(url, "https://", strlen("https://")) != 0)
		return -1;
	h = url + strlen("https://");
	for (e = h; *e != '\0' && *e != '/' && *e != '?' && *e != '#'; e++)
		;
	n = (size_t)(e - h);
	if (n == 0 || memchr(h, '@', n) != NULL)
		return -1;
	if (memchr(h, ':', n) != NULL)
		n = (size_t)((const char *)memchr(h, ':', n) - h);
	if (n == 0 || n >= hostlen)
		return -1;
	memcpy(host, h, n);
	host[n] = '\0';
	*path_r = e;
	return 0;
}

/* The last segment of the path, up to the fragment or query; malloc'd. */
static char *
url_last_segment(const char *path)
{
	const char *end = path + strcspn(path, "?#"), *s = end;

	while (s > path && s[-1] != '/')
		s--;
	if (s == end || (size_t)(end - s) > PUSH2_MAX_TOKEN)
		return NULL;
	return xstrndup(s, (size_t)(end - s));
}

static bool
printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s == 0x7f)
			return false;
	return true;
}

/*
 * An APNs client: the token, and from the fragment the topic and the VoIP
 * token ("topic&voip").  Picks the block by topic.
 */
static enum p2_outcome
job_map_apns(struct p2job *j, const char *path, bool voip,
    const char **text_r)
{
	const char *frag = strchr(path, '#'), *amp;
	char *topic = NULL;
	size_t i;

	if ((j->token = url_last_segment(path)) == NULL) {
		*text_r = "an APNs client URL ends with the device token";
		return P2_BAD_REQUEST;
	}
	if (frag != NULL && frag[1] != '\0') {
		frag++;
		amp = strchr(frag, '&');
		topic = xstrndup(frag, amp != NULL ? (size_t)(amp - frag) :
		    strlen(frag));
		if (voip && amp != NULL && amp[1] != '\0' &&
		    strlen(amp + 1) <= PUSH2_MAX_TOKEN) {
			free(j->token);
			j->token = xstrdup(amp + 1);
			j->push.voip = true;
		}
	}
	for (i = 0; i < p2.c.napns; i++)
		if (topic == NULL || *topic == '\0' ||
		    strcmp(topic, p2.c.apns[i].topic) == 0)
			break;
	free(topic);
	if (i == p2.c.napns) {
		*text_r = "no APNs block of this push service has the "
		    "client's topic";
		return P2_NO_SERVICE;
	}
	j->provider = xstrdup(p2.c.apns[i].id);
	return P2_SENT;
}

/* The client -> provider block, token and VoIP flag. */
static enum p2_outcome
job_map_client(struct p2job *j, bool voip, const char **text_r)
{
	const char *host = j->host, *path;

	if (url_split(j->client, j->host, sizeof(j->host), &path) == -1) {
		*text_r = "the client is not an https URL";
		return P2_BAD_REQUEST;
	}
	if (strcasecmp(host, PUSH2_APNS_HOST) == 0 ||
	    strcasecmp(host, PUSH2_APNS_SANDBOX_HOST) == 0)
		return job_map_apns(j, path, voip, text_r);
	if (strcasecmp(host, PUSH2_FCM_HOST) == 0) {
		if (p2.c.fcm == NULL) {
			*text_r = "this push service relays to no FCM app";
			return P2_NO_SERVICE;
		}
		if ((j->token = url_last_segment(path)) == NULL) {
			*text_r = "an FCM client URL ends with the "
			    "registration token";
			return P2_BAD_REQUEST;
		}
		j->provider = xstrdup(p2.c.fcm);
		return P2_SENT;
	}
	if (p2.c.web == NULL) {
		*text_r = "this push service relays to no Web Push endpoint";
		return P2_NO_SERVICE;
	}
	if (j->relay == NULL)
		return P2_NO_PAYLOAD;
	j->token = xstrdup(j->client);
	j->provider = xstrdup(p2.c.web);
	j->web = true;
	return P2_SENT;
}

/* <encrypted><payload/></encrypted>: the aes128gcm body, checked. */
static enum p2_outcome
job_parse_payload(struct p2job *j, const struct xml_node *enc,
    const char **text_r)
{
	const char *b64 = xml_node_child_text(enc, "payload", NS_SCE_RFC8291);
	size_t len;

	if (b64 == NULL || *b64 == '\0') {
		*text_r = "<encrypted/> without a <payload/>";
		return P2_BAD_REQUEST;
	}
	if (strlen(b64) > PUSH2_MAX_PAYLOAD_TEXT)
		return P2_TOO_BIG;
	if ((j->relay = certinfo_b64_decode(b64, &len)) == NULL) {
		*text_r = "the payload is not base64";
		return P2_BAD_REQUEST;
	}
	if (len > PUSH2_MAX_CIPHERTEXT)
		return P2_TOO_BIG;
	if (len < PUSH2_AES128GCM_HEADER || len < PUSH2_AES128GCM_HEADER +
	    (size_t)j->relay[PUSH2_AES128GCM_HEADER - 1] +
	    PUSH2_AES128GCM_MIN_RECORD) {
		*text_r = "the payload is no aes128gcm message (RFC 8188)";
		return P2_BAD_REQUEST;
	}
	j->push.relay = j->relay;
	j->push.relay_len = len;
	return P2_SENT;
}

/* <jwt key='...'>: a JWS compact serialisation and a raw P-256 key. */
static enum p2_outcome
job_parse_jwt(struct p2job *j, const struct xml_node *jwt,
    const char **text_r)
{
	const char *text = xml_node_text(jwt), *key = xml_node_attr(jwt,
	    "key"), *s;
	unsigned char *raw;
	size_t len, dots = 0;

	if (text == NULL || *text == '\0' || key == NULL) {
		*text_r = "a <jwt/> needs the token and its key attribute";
		return P2_BAD_REQUEST;
	}
	if (strlen(text) > PUSH2_MAX_JWT)
		return P2_TOO_BIG;
	for (s = text; *s != '\0'; s++) {
		if (*s == '.')
			dots++;
		else if (!(*s >= 'A' && *s <= 'Z') && !(*s >= 'a' &&
		    *s <= 'z') && !(*s >= '0' && *s <= '9') && *s != '-' &&
		    *s != '_') {
			*text_r = "the <jwt/> is no JWS compact serialisation";
			return P2_BAD_REQUEST;
		}
	}
	if (dots != 2) {
		*text_r = "the <jwt/> is no JWS compact serialisation";
		return P2_BAD_REQUEST;
	}
	raw = certinfo_b64_decode(key, &len);
	if (raw == NULL || len != PUSH2_P256_RAW || raw[0] != 0x04) {
		free(raw);
		*text_r = "the <jwt/> key is no base64 uncompressed P-256 "
		    "public key";
		return P2_BAD_REQUEST;
	}
	rand_b64url(j->key, sizeof(j->key), raw, len);
	free(raw);
	j->jwt = xstrdup(text);
	j->push.relay_jwt = j->jwt;
	j->push.relay_key = j->key;
	return P2_SENT;
}

static enum p2_outcome
job_parse(struct p2job *j, const struct xml_node *n, const char **text_r)
{
	const char *client, *prio;
	const struct xml_node *c;
	enum p2_outcome o;
	bool voip;

	client = xml_node_child_text(n, "client", NS_PUSH2);
	if (client == NULL || *client == '\0') {
		*text_r = "a notification without a <client/>";
		return P2_BAD_REQUEST;
	}
	if (strlen(client) > PUSH2_MAX_CLIENT)
		return P2_TOO_BIG;
	if (!printable(client)) {
		*text_r = "the client is not a URL";
		return P2_BAD_REQUEST;
	}
	j->client = xstrdup(client);
	prio = xml_node_child_text(n, "priority", NS_PUSH2);
	voip = xml_node_child(n, "voip", NS_PUSH2) != NULL;
	if (prio == NULL || strcmp(prio, "normal") == 0 ||
	    strcmp(prio, "high") == 0)
		j->push.prio = XP_PRIO_HIGH;
	else if (strcmp(prio, "low") == 0)
		j->push.prio = XP_PRIO_LOW;
	else {
		*text_r = "<priority/> is high, normal or low";
		return P2_BAD_REQUEST;
	}
	if (voip) {
		j->push.prio = XP_PRIO_HIGH;
		j->push.kind = XP_KIND_CALL;
	} else
		j->push.kind = j->push.prio == XP_PRIO_HIGH ?
		    XP_KIND_MESSAGE : XP_KIND_WAKEUP;
	if ((c = xml_node_child(n, "encrypted", NS_SCE_RFC8291)) != NULL &&
	    (o = job_parse_payload(j, c, text_r)) != P2_SENT)
		return o;
	if ((c = xml_node_child(n, "jwt", NS_PUSH2)) != NULL &&
	    (o = job_parse_jwt(j, c, text_r)) != P2_SENT)
		return o;
	if ((o = job_map_client(j, voip, text_r)) != P2_SENT)
		return o;
	if (!printable(j->token)) {
		*text_r = "the client's device token is not printable";
		return P2_BAD_REQUEST;
	}
	/*
	 * No account: the server's JID is no account, and a module that
	 * collapses pushes by account must not merge its users' pushes.
	 */
	j->push.profile = XP_PROFILE_TIGASE;
	j->push.token = j->token;
	j->push.unread = -1;
	j->push.pending_subscriptions = -1;
	return P2_SENT;
}

static void
job_send(struct p2job *j)
{
	struct provider *p;

	if ((p = provider_find(j->provider)) == NULL) {
		job_finish(j, P2_NO_SERVICE, "the push provider of this "
		    "client is no longer configured");
		return;
	}
	if (p2.c.deadline_ms > 0) {
		j->timeout = evtimer_new(p2.base, job_timeout_cb, j);
		clock_timer_in(j->timeout, p2.c.deadline_ms);
	}
	if (provider_send(p, &j->push, job_sent_cb, j) == -1)
		job_finish(j, P2_PROVIDER_BUSY, NULL);
}

/* Throttle: a held relay is due, or a newer one took its place. */

static void
job_due_cb(void *arg)
{
	struct p2job *j = arg;

	log_debug("push2: trailing notification for %s", j->host);
	job_send(j);
}

static void
job_dropped_cb(void *arg)
{
	struct p2job *j = arg;

	job_finish(j, P2_SENT, NULL);
}

/*
 * Per client, as publishes per device (core/throttle.c, the same keys):
 * calls go at once; a notification beyond the window or the bucket is
 * held as the client's trailing one, and a newer one replaces it.  A held
 * notification has had its answer, which is none: the server is not told
 * of a failure after that, as a held publish got its result.
 */
static void
job_admit(struct p2job *j)
{
	char *key;
	enum throttle_admit a;

	if (j->push.kind == XP_KIND_CALL) {
		job_send(j);
		return;
	}
	xasprintf(&key, "%s%s", PUSH2_THROTTLE_PREFIX, j->client);
	a = throttle_admit_cb(key, j->push.prio, j, job_due_cb,
	    job_dropped_cb);
	free(key);
	switch (a) {
	case THROTTLE_ADMIT_HELD:
		stats_inc(STAT_PUSH_COALESCED);
		router_req_free(&j->req);
		return;
	case THROTTLE_ADMIT_DROPPED:
		stats_inc(STAT_PUSH_COALESCED);
		job_finish(j, P2_SENT, NULL);
		return;
	case THROTTLE_ADMIT_SEND:
		job_send(j);
		return;
	}
}

static void
push2_cb(void *arg, struct router_req *req)
{
	const char *text = NULL;
	enum p2_outcome o;
	struct p2job *j;

	if (!p2.c.on) {
		router_error(&req, "cancel", "service-unavailable",
		    "this push service does not relay Push 2.0");
		return;
	}
	if (!p2_server_allowed(req->from)) {
		log_debug("push2: refused a notification from %s: not in "
		    "push2 servers", req->from);
		p2_answer(&req, P2_FORBIDDEN, NULL);
		return;
	}
	if (p2.jobs >= p2.c.max_in_flight) {
		p2_answer(&req, P2_TOO_BUSY, NULL);
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->req = req;
	p2.jobs++;
	stats_in_flight(1);
	if ((o = job_parse(j, req->payload, &text)) != P2_SENT) {
		log_debug("push2: refused a notification from %s: %s",
		    req->from, text != NULL ? text : answers[o].text);
		job_finish(j, o, text);
		return;
	}
	/* The push holds copies; the answer needs the stanza only. */
	router_req_slim(j->req);
	job_admit(j);
}

int
push2_init(struct event_base *base, const struct xp_conf *conf,
    char **error_r)
{
	p2.base = base;
	if (p2_conf_apply(conf, error_r) == -1)
		return -1;
	if (!p2.registered) {
		router_register_message_payload("notification", NS_PUSH2,
		    push2_cb, NULL);
		p2.registered = true;
	}
	return 0;
}

int
push2_reconfigure(const struct xp_conf *conf, char **error_r)
{
	return p2_conf_apply(conf, error_r);
}

size_t
push2_busy(void)
{
	return (size_t)p2.jobs;
}

void
push2_shutdown(void)
{
	p2_conf_clear(&p2.c);
}
