/*
 * apns.so and apns-voip.so: pushes through Apple's Push Notification
 * service over HTTP/2 (Apple: "Sending notification requests to APNs",
 * "Handling notification responses from APNs").
 *
 * One instance per provider block.  It keeps an h2 client (plugins/h2) to
 * the endpoint, authenticates with a client certificate (file or database,
 * reloaded when the database copy changes: new connections take the new
 * one, open ones drain) or with an ES256 provider token shared by all
 * connections, and POSTs /3/device/<token> with the apns-* headers.
 *
 * Built twice from this file: apns.so sends alert/background pushes (and
 * VoIP ones when push->voip is set by the core for a call to a registration
 * with a VoIP token); apns-voip.so (APNS_VOIP_ONLY) sends every push as
 * VoIP, for provider ids whose registrations carry PushKit tokens.
 *
 * Deviations and choices:
 * - apns-expiration is sent only when `expiration` is set (APNs then
 *   stores the push as its storage policy says), except on VoIP pushes:
 *   a call that rings a minute late is over, so they always carry now +
 *   `call-lifetime` (0: the literal 0, deliver once now or never).
 * - VoIP payloads carry no aps dictionary (PushKit does not need one).
 * - A reason that names our credentials or topic (BadCertificate,
 *   InvalidProviderToken, TopicDisallowed, TooManyProviderTokenUpdates, …:
 *   apns_reasons[]) is logged once as a warning, and status() fails until
 *   a push goes through again.  ExpiredProviderToken renews the token and
 *   retries once.
 * - token-lifetime lies in Apple's [1200, 3600] s; only the tests go lower,
 *   through APNS_TEST_TOKEN_LIFETIME_ENV.
 * - Reconnects follow h2's backoff, but a push that finds no connection
 *   asks for one at once (h2: at most one such dial per client every
 *   H2_ONDEMAND_MIN_MS), so the first push after an outage need not wait
 *   out the backoff.
 * - The pool grows with the load (plugins/h2: one more connection when
 *   the pushes in flight reach 80 % of the streams APNs allows on the open
 *   ones) up to pool-size, 16 by default: 16 connections of 500 streams
 *   carry 50,000 pushes/s at 100 ms, 8 at Apple's usual 1,000 streams.
 *   Apple documents no cap on connections, only that providers may open
 *   several and must not open and close them rapidly (it counts that as a
 *   denial of service attack): connections are dialled one at a time,
 *   kept while the load needs them, and the surplus closes only after
 *   idle-timeout (120 s), never the last one.
 * - A server that does not negotiate h2 is a configuration error
 *   (XP_AUTH_FAILED), never a fallback to HTTP/1.1.
 * - A push of the fpush profile (Monal, Quicksy: core/fpush.c) carries
 *   what fpush-apns/src/push.rs sends, whatever the block's sound,
 *   badge, collapse-id and expiration say: an alert (apns-push-type
 *   alert, apns-priority 10) with the fixed payload of apns_payload.c,
 *   no collapse id, and apns-expiration now + APNS_FPUSH_EXPIRATION.
 *   fpush means that too but computes it from SystemTime::now().elapsed()
 *   (about 0), so it sends a date in 1970; here the 4 weeks it intends.
 *   fpush-additional-data adds members beside aps, as fpush's
 *   additionalData does (Monal's extension reads firstGoodBuildNumber
 *   and knownGoodBuildNumber there to tell users of outdated builds).
 *   fpush-modules and fpush-default are read by the core (core/fpush.c);
 *   they are declared here because only this module formats the profile
 *   (apns-voip.so does not take them: its pushes are all VoIP).
 */
#include "config.h"

#include <sys/queue.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "plugins/apns_auth.h"
#include "plugins/apns_payload.h"
#include "plugins/h2/h2.h"
#include "plugins/lib/pu.h"
#include "plugins/provider.h"

#ifdef APNS_VOIP_ONLY
#define APNS_MODULE	"apns-voip"
#else
#define APNS_MODULE	"apns"
#endif

#define APNS_HOST_PRODUCTION	"api.push.apple.com"
#define APNS_HOST_SANDBOX	"api.sandbox.push.apple.com"
#define APNS_PATH		"/3/device/"	/* + the device token */
#define APNS_UUID_POOL		4096	/* random bytes drawn at a time */
#define APNS_TOKEN_LIFETIME_MIN	1200	/* Apple: no renewal within 20 min */
#define APNS_TOKEN_LIFETIME_MAX	3600	/* Apple: expired after 60 min */
#define APNS_FPUSH_EXPIRATION	(4 * 7 * 24 * 3600)	/* fpush: 4 weeks */
/*
 * Test only: when set, this variable's value (seconds, >= 1) replaces
 * token-lifetime, so the tests can see a token renewed without waiting 20
 * minutes.  Deployments never set it; it is read only when present.
 */
#define APNS_TEST_TOKEN_LIFETIME_ENV	"XPUSHD_TEST_APNS_TOKEN_LIFETIME"

enum apns_auth_mode {
	AUTH_CERT_FILE,
	AUTH_CERT_DB,
	AUTH_TOKEN,
};

/* Where the database certificate is: the reason status() gives. */
enum apns_cert_state {
	CERT_OK,
	CERT_WAITING,		/* cert_get not answered yet */
	CERT_NONE,		/* nothing stored for this id */
	CERT_BAD,		/* stored, unusable (logged) */
	CERT_EXPIRED,
};

struct apns;

/*
 * A ticket outlives its instance while the host still holds it (a cert_get
 * in flight cannot be cancelled), so host callbacks never reach a freed
 * instance.  The cert_watch registration holds a reference too, dropped
 * by cert_unwatch in destroy().
 */
struct apns_ticket {
	struct apns	*a;
	int		 refs;
};

struct apns_send {
	struct apns	*a;
	xp_sent_cb	*cb;
	void		*arg;
	char		*path;
	char		*payload;
	size_t		 len;
	char		*collapse;	/* per push: the account */
	bool		 voip;
	bool		 high;
	bool		 fpush;		/* XP_PROFILE_FPUSH: fpush's headers */
	bool		 retried;
	unsigned int	 jwt_gen;
	char		 apns_id[37];
};

struct apns {
	const struct xp_host *host;
	char		*id;
	bool		 voip_only;
	char		*topic;
	char		*voip_topic;
	enum apns_auth_mode auth;
	char		*ca_file;
	struct apns_jwt	*jwt;
	struct h2_client *h2;
	struct apns_ticket *ticket;
	time_t		 cert_not_after;	/* 0: unknown / token auth */
	enum apns_cert_state cert_state;
	int		 expiration;
	int		 call_lifetime;		/* VoIP apns-expiration */
	char		*collapse;		/* NULL: none or per account */
	char		*fpush_extra;		/* fpush-additional-data's
						   members, or NULL */
	bool		 collapse_account;
	char		*sound;
	bool		 badge;
	const char	*auth_fail;		/* static; NULL while fine */
};

static const char *const apns_features[] = {
	"tigase:push:encrypt:0",
	"tigase:push:encrypt:aes-128-gcm",
	"tigase:push:priority:0",
	"tigase:push:jingle:0",
	NULL
};

static const struct xp_option apns_options[] = {
	{ "plugin", XP_OPT_STRING, "'" APNS_MODULE "'", 0, 0,
	  "the module serving this provider" },
	{ "endpoint", XP_OPT_STRING, "'production'", 0, 0,
	  "'production', 'sandbox', or host:port (tests)" },
	{ "apns-topic", XP_OPT_STRING, NULL, 0, 0,
	  "the app's bundle id (VoIP pushes use <bundle>.voip)" },
	{ "cert-file", XP_OPT_STRING, "''", 0, 0,
	  "client certificate: .p12, or PEM with the key (or key-file)" },
	{ "cert-password", XP_OPT_STRING, "''", 0, 0,
	  "password of the .p12 or of the PEM key" },
	{ "key-file", XP_OPT_STRING, "''", 0, 0,
	  "token auth: the .p8 key (with cert-file: the certificate's key)" },
	{ "key-id", XP_OPT_STRING, "''", 0, 0,
	  "token auth: the key's id (JWT kid)" },
	{ "team-id", XP_OPT_STRING, "''", 0, 0,
	  "token auth: the developer team id (JWT iss)" },
	{ "ca-file", XP_OPT_STRING, "''", 0, 0,
	  "CAs to verify the endpoint with (default: the system's)" },
	{ "pool-size", XP_OPT_INTEGER, "16", 1, 64,
	  "most HTTP/2 connections open at once: one is kept, more are "
	  "dialled as the pushes in flight near the streams APNs allows" },
	{ "idle-timeout", XP_OPT_INTEGER, "120", 0, 86400,
	  "seconds after which connections the load no longer needs close "
	  "(never the last one; 0: never)" },
	{ "queue-size", XP_OPT_INTEGER, "10000", 1, 1000000,
	  "pushes waiting for a free stream before send() refuses" },
	{ "request-timeout", XP_OPT_INTEGER, "10", 1, 300,
	  "seconds to wait for APNs' answer" },
	{ "reconnect-min-ms", XP_OPT_INTEGER, "100", 10, 600000,
	  "first delay before dialling APNs again after a failed connect "
	  "(doubles up to reconnect-max-ms)" },
	{ "reconnect-max-ms", XP_OPT_INTEGER, "10000", 10, 600000,
	  "longest delay between reconnects (a waiting push dials sooner)" },
	{ "ping-interval", XP_OPT_INTEGER, "60", 1, 3600,
	  "seconds of silence before a connection is PINGed" },
	{ "expiration", XP_OPT_INTEGER, "0", 0, 2592000,
	  "seconds APNs keeps trying an undelivered push (0: APNs default)" },
	{ "collapse-id", XP_OPT_STRING, "''", 0, 0,
	  "apns-collapse-id: '' none, 'account' the account JID, else as "
	  "given" },
	{ "sound", XP_OPT_STRING, "'default'", 0, 0,
	  "aps.sound of alert pushes ('' for silence)" },
	{ "badge", XP_OPT_BOOLEAN, "true", 0, 0,
	  "set aps.badge from the unread message count" },
	{ "features", XP_OPT_STRLIST, "['tigase:push:encrypt:0', "
	  "'tigase:push:encrypt:aes-128-gcm', 'tigase:push:priority:0', "
	  "'tigase:push:jingle:0']", 0, 0,
	  "push extensions announced to clients" },
	{ "token-lifetime", XP_OPT_INTEGER, "2400", APNS_TOKEN_LIFETIME_MIN,
	  APNS_TOKEN_LIFETIME_MAX,
	  "seconds a provider token is used (Apple refuses renewals more "
	  "often than every 20 minutes and tokens older than 60)" },
	{ "call-lifetime", XP_OPT_INTEGER, "30", 0, 3600,
	  "apns-expiration of VoIP pushes: seconds from now (0: deliver now "
	  "or never)" },
#ifndef APNS_VOIP_ONLY
	{ "fpush-modules", XP_OPT_STRLIST, "[]", 0, 0,
	  "fpush pushModule names this block serves (Monal, Quicksy: no "
	  "registration, node = device token)" },
	{ "fpush-default", XP_OPT_STRING, "''", 0, 0,
	  "the pushModule of a publish without one: one of fpush-modules, "
	  "in at most one block" },
	{ "fpush-additional-data", XP_OPT_STRING, "''", 0, 0,
	  "a JSON object whose members fpush pushes carry beside aps "
	  "(fpush's additionalData)" },
#endif
	{ NULL, 0, NULL, 0, 0, NULL }
};

static void	 apns_cert_watch_cb(void *);
static void	 apns_cert_got_cb(void *, int, const struct xp_cert *);

/* Helpers */

static void
apns_h2_log(void *arg, enum h2_log_level level, const char *msg)
{
	struct apns *a = arg;

	a->host->log(a->host, level == H2_LOG_WARN ? XP_LOG_WARN :
	    level == H2_LOG_INFO ? XP_LOG_INFO : XP_LOG_DEBUG,
	    "%s", msg);
}

static void
apns_ticket_unref(struct apns_ticket *t)
{
	if (--t->refs == 0)
		free(t);
}

/*
 * apns-id: a random UUID (RFC 4122 version 4).  The random bytes come from
 * a pool refilled APNS_UUID_POOL bytes at a time: one RAND_bytes call per
 * push cost a DRBG round and a getpid(2) (OpenSSL's fork check) each.
 */
static void
apns_uuid(char out[37])
{
	static unsigned char pool[APNS_UUID_POOL];
	static size_t left;
	static const char hex[] = "0123456789abcdef";
	unsigned char *b;
	size_t i;
	char *o = out;

	if (left < 16) {
		if (RAND_bytes(pool, sizeof(pool)) != 1)
			abort();
		left = sizeof(pool);
	}
	b = pool + sizeof(pool) - left;
	left -= 16;
	b[6] = (b[6] & 0x0f) | 0x40;	/* version 4 */
	b[8] = (b[8] & 0x3f) | 0x80;	/* RFC 4122 variant */
	for (i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*o++ = '-';
		*o++ = hex[b[i] >> 4];
		*o++ = hex[b[i] & 0x0f];
	}
	*o = '\0';
	OPENSSL_cleanse(b, 16);
}

/* APNs' answers */

/*
 * Every reason of Apple's "Handling notification responses from APNs"
 * (developer.apple.com/documentation/usernotifications/
 * handling-notification-responses-from-apns, "Response error strings"),
 * with the status Apple documents it under.  test/apns_test.c drives each
 * row through the mock.  Choices:
 * - 410 ExpiredToken and Unregistered: the token is dead.  BadDeviceToken
 *   and DeviceTokenNotForTopic too, although a wrong endpoint or topic
 *   looks the same: the core's mass-deletion guard covers that case.
 * - Reasons that name our credentials, key, topic or environment
 *   (BadTopic, MissingTopic, TopicDisallowed, every 403,
 *   TooManyProviderTokenUpdates) fail the provider, not the device.
 * - Reasons that name a header or the request we built fail this push only.
 */
static const struct {
	int		 status;
	const char	*reason;
	enum xp_outcome	 outcome;
} apns_reasons[] = {
	{ 400, "BadCollapseId",			XP_PERMANENT },
	{ 400, "BadDeviceToken",		XP_INVALID_TOKEN },
	{ 400, "BadExpirationDate",		XP_PERMANENT },
	{ 400, "BadMessageId",			XP_PERMANENT },
	{ 400, "BadPriority",			XP_PERMANENT },
	{ 400, "BadTopic",			XP_AUTH_FAILED },
	{ 400, "DeviceTokenNotForTopic",	XP_INVALID_TOKEN },
	{ 400, "DuplicateHeaders",		XP_PERMANENT },
	{ 400, "IdleTimeout",			XP_TEMPORARY },
	{ 400, "InvalidPushType",		XP_PERMANENT },
	{ 400, "MissingDeviceToken",		XP_PERMANENT },
	{ 400, "MissingTopic",			XP_AUTH_FAILED },
	{ 400, "PayloadEmpty",			XP_PERMANENT },
	{ 400, "TopicDisallowed",		XP_AUTH_FAILED },
	{ 403, "BadCertificate",		XP_AUTH_FAILED },
	{ 403, "BadCertificateEnvironment",	XP_AUTH_FAILED },
	{ 403, "ExpiredProviderToken",		XP_AUTH_FAILED },
	{ 403, "Forbidden",			XP_AUTH_FAILED },
	{ 403, "InvalidProviderToken",		XP_AUTH_FAILED },
	{ 403, "MissingProviderToken",		XP_AUTH_FAILED },
	{ 403, "UnrelatedKeyIdInToken",		XP_AUTH_FAILED },
	{ 403, "BadEnvironmentKeyIdInToken",	XP_AUTH_FAILED },
	{ 404, "BadPath",			XP_PERMANENT },
	{ 405, "MethodNotAllowed",		XP_PERMANENT },
	{ 410, "ExpiredToken",			XP_INVALID_TOKEN },
	{ 410, "Unregistered",			XP_INVALID_TOKEN },
	{ 413, "PayloadTooLarge",		XP_PERMANENT },
	{ 429, "TooManyProviderTokenUpdates",	XP_AUTH_FAILED },
	{ 429, "TooManyRequests",		XP_RATE_LIMITED },
	{ 500, "InternalServerError",		XP_TEMPORARY },
	{ 503, "ServiceUnavailable",		XP_TEMPORARY },
	{ 503, "Shutdown",			XP_TEMPORARY },
	{ 0, NULL,				XP_PERMANENT }
};

/*
 * The outcome of an APNs answer.  *reason_r is a static string naming the
 * reason (or the status when the body has none).
 */
static enum xp_outcome
apns_map(int status, const char *body, const char **reason_r)
{
	json_object *root, *r;
	const char *reason = NULL;
	enum xp_outcome o;
	size_t i;

	*reason_r = "unknown";
	if (status == 200) {
		*reason_r = "sent";
		return XP_SENT;
	}
	if (body != NULL && *body != '\0' &&
	    (root = json_tokener_parse(body)) != NULL) {
		if (json_object_object_get_ex(root, "reason", &r) &&
		    json_object_is_type(r, json_type_string))
			reason = json_object_get_string(r);
		for (i = 0; reason != NULL && apns_reasons[i].reason != NULL;
		    i++)
			if (strcmp(reason, apns_reasons[i].reason) == 0)
				break;
		json_object_put(root);
		if (reason != NULL && apns_reasons[i].reason != NULL) {
			*reason_r = apns_reasons[i].reason;
			return apns_reasons[i].outcome;
		}
		if (reason != NULL)
			*reason_r = "unknown reason";
	}
	switch (status) {
	case 410:
		*reason_r = "Unregistered";
		o = XP_INVALID_TOKEN;
		break;
	case 429:
		*reason_r = "TooManyRequests";
		o = XP_RATE_LIMITED;
		break;
	case 403:
		*reason_r = "Forbidden";
		o = XP_AUTH_FAILED;
		break;
	case 413:
		*reason_r = "PayloadTooLarge";
		o = XP_PERMANENT;
		break;
	default:
		o = status >= 500 ? XP_TEMPORARY : XP_PERMANENT;
		if (reason == NULL)
			*reason_r = status >= 500 ? "server error" :
			    "request refused";
		break;
	}
	return o;
}

static void
apns_auth_failing(struct apns *a, const char *reason)
{
	if (a->auth_fail != NULL)
		return;
	a->auth_fail = reason;
	a->host->log(a->host, XP_LOG_WARN, "APNs refuses our credentials or "
	    "topic (%s): every push of this provider fails until the %s is "
	    "fixed", reason,
	    a->auth == AUTH_TOKEN ? "key, key-id, team-id or apns-topic" :
	    "certificate or apns-topic");
}

static void
apns_auth_ok(struct apns *a)
{
	if (a->auth_fail == NULL)
		return;
	a->host->log(a->host, XP_LOG_INFO, "APNs accepts our credentials "
	    "again");
	a->auth_fail = NULL;
}

/* Sending */

static void	 apns_response_cb(void *, const struct h2_result *);

static int
apns_submit(struct apns *a, struct apns_send *s)
{
	struct h2_header h[8];
	struct h2_request r;
	char exp[24];
	size_t n = 0;

	h[n].name = "apns-topic";
	h[n++].value = s->voip ? a->voip_topic : a->topic;
	h[n].name = "apns-push-type";
	h[n++].value = s->voip ? "voip" : s->high ? "alert" : "background";
	h[n].name = "apns-priority";
	h[n++].value = s->voip || s->high ? "10" : "5";
	h[n].name = "apns-id";
	h[n++].value = s->apns_id;
	if (s->voip || a->expiration > 0 || s->fpush) {
		if (s->voip && a->call_lifetime == 0)
			snprintf(exp, sizeof(exp), "0");
		else if (s->fpush)
			snprintf(exp, sizeof(exp), "%lld", (long long)time(NULL) +
			    APNS_FPUSH_EXPIRATION);
		else
			snprintf(exp, sizeof(exp), "%lld", (long long)time(NULL) +
			    (s->voip ? a->call_lifetime : a->expiration));
		h[n].name = "apns-expiration";
		h[n++].value = exp;
	}
	if (!s->fpush && (s->collapse != NULL || a->collapse != NULL)) {
		h[n].name = "apns-collapse-id";
		h[n++].value = s->collapse != NULL ? s->collapse : a->collapse;
	}
	if (a->jwt != NULL) {
		h[n].name = "authorization";
		h[n++].value = apns_jwt_header(a->jwt, time(NULL),
		    &s->jwt_gen);
	}
	h[n].name = "content-type";
	h[n++].value = "application/json";
	memset(&r, 0, sizeof(r));
	r.method = "POST";
	r.path = s->path;
	r.headers = h;
	r.nheaders = n;
	r.body = s->payload;
	r.body_len = s->len;
	return h2_client_request(a->h2, &r, apns_response_cb, s);
}

static void
apns_send_free(struct apns_send *s)
{
	free(s->path);
	free(s->payload);
	free(s->collapse);
	free(s);
}

static void
apns_answer(struct apns_send *s, enum xp_outcome o, const char *reason)
{
	s->cb(s->arg, o, 0, reason);
	apns_send_free(s);
}

static void
apns_response_cb(void *arg, const struct h2_result *res)
{
	struct apns_send *s = arg;
	struct apns *a = s->a;
	enum xp_outcome o;
	const char *reason;
	char why[300];

	switch (res->error) {
	case H2_OK:
		break;
	case H2_EALPN:
		apns_answer(s, XP_AUTH_FAILED, res->reason);
		return;
	case H2_ETIMEOUT:
	case H2_ECONN:
	case H2_ECLOSED:
		snprintf(why, sizeof(why), "APNs: %s", res->reason);
		apns_answer(s, XP_TEMPORARY, why);
		return;
	}
	o = apns_map(res->status, res->body, &reason);
	if (o == XP_SENT) {
		apns_auth_ok(a);
		apns_answer(s, XP_SENT, "sent");
		return;
	}
	/* (memcmp: GCC 12's -Wstring-compare misjudges reason's length.) */
	if (a->jwt != NULL && !s->retried && reason != NULL &&
	    strlen(reason) == sizeof("ExpiredProviderToken") - 1 &&
	    memcmp(reason, "ExpiredProviderToken",
	    sizeof("ExpiredProviderToken") - 1) == 0) {
		/* Our clock or the token aged: a fresh one, one more try. */
		s->retried = true;
		apns_jwt_stale(a->jwt, s->jwt_gen);
		if (apns_submit(a, s) == 0)
			return;
		apns_answer(s, XP_TEMPORARY, "APNs: queue full on retry");
		return;
	}
	if (o == XP_AUTH_FAILED)
		apns_auth_failing(a, reason);
	snprintf(why, sizeof(why), "APNs %d %s", res->status, reason);
	apns_answer(s, o, why);
}

static int
apns_send(void *self, const struct xp_push *push, xp_sent_cb *cb, void *arg)
{
	struct apns *a = self;
	struct apns_payload_opts po;
	struct apns_send *s;
	const char *err = NULL;
	char *payload;
	size_t len, tlen;

	if (a->cert_state == CERT_NONE || a->cert_state == CERT_BAD ||
	    (a->cert_not_after != 0 && time(NULL) >= a->cert_not_after)) {
		/* Answered at once: the host delivers it from the loop. */
		cb(arg, XP_AUTH_FAILED, 0, a->cert_state == CERT_NONE ?
		    "no APNs certificate stored for this provider" :
		    "the APNs certificate is unusable or expired");
		return 0;
	}
	if (push->token == NULL || *push->token == '\0') {
		cb(arg, XP_INVALID_TOKEN, 0, "no device token");
		return 0;
	}
	memset(&po, 0, sizeof(po));
	po.voip = a->voip_only || push->voip;
	po.badge = a->badge;
	po.sound = a->sound;
	po.fpush_extra = a->fpush_extra;
	po.limit = po.voip ? APNS_MAX_PAYLOAD_VOIP : APNS_MAX_PAYLOAD;
	if ((payload = push->relay != NULL ?
	    apns_payload_relay(push, &po, &len, &err) :
	    apns_payload_build(push, &po, &len, &err)) == NULL) {
		cb(arg, XP_PERMANENT, 0, err);
		return 0;
	}
	s = pu_calloc(1, sizeof(*s));
	s->a = a;
	s->cb = cb;
	s->arg = arg;
	s->voip = po.voip;
	s->fpush = push->profile == XP_PROFILE_FPUSH;
	s->high = push->prio == XP_PRIO_HIGH || s->fpush;
	tlen = strlen(push->token);
	s->path = pu_malloc(sizeof(APNS_PATH) + tlen);
	memcpy(s->path, APNS_PATH, sizeof(APNS_PATH) - 1);
	memcpy(s->path + sizeof(APNS_PATH) - 1, push->token, tlen + 1);
	s->payload = payload;
	s->len = len;
	apns_uuid(s->apns_id);
	if (a->collapse_account && push->account != NULL &&
	    strlen(push->account) <= 64)
		s->collapse = pu_strdup(push->account);
	if (apns_submit(a, s) == -1) {
		apns_send_free(s);
		return -1;
	}
	return 0;
}

/* Certificates from the database */

static void
apns_cert_use(struct apns *a, const struct xp_cert *c)
{
	struct apns_ident ident;
	SSL_CTX *ctx;
	char *err = NULL;

	if (apns_ident_load_mem(c, &ident, &err) == -1) {
		a->host->log(a->host, XP_LOG_WARN, "%s", err);
		a->cert_state = strstr(err, "expired") != NULL ?
		    CERT_EXPIRED : CERT_BAD;
		free(err);
		return;
	}
	if ((ctx = apns_tls_ctx(a->ca_file, &ident, &err)) == NULL) {
		a->host->log(a->host, XP_LOG_WARN, "%s", err);
		a->cert_state = CERT_BAD;
		free(err);
		apns_ident_clear(&ident);
		return;
	}
	a->host->log(a->host, XP_LOG_INFO, "using the certificate "
	    "from the database (%s, valid until %lld)", ident.subject,
	    (long long)ident.not_after);
	a->cert_not_after = ident.not_after;
	a->cert_state = CERT_OK;
	a->auth_fail = NULL;
	h2_client_set_tls(a->h2, ctx);
	SSL_CTX_free(ctx);
	apns_ident_clear(&ident);
}

static void
apns_cert_got_cb(void *arg, int status, const struct xp_cert *c)
{
	struct apns_ticket *t = arg;
	struct apns *a = t->a;

	if (a != NULL) {
		if (status == 0)
			apns_cert_use(a, c);
		else if (status == 1) {
			a->host->log(a->host, XP_LOG_WARN, "no certificate "
			    "stored for this provider: set one with the "
			    "set-apns-certificate command or cert-file");
			a->cert_state = CERT_NONE;
		} else
			a->host->log(a->host, XP_LOG_WARN, "cannot read the "
			    "certificate from the database now");
	}
	apns_ticket_unref(t);
}

static void
apns_cert_fetch(struct apns *a)
{
	a->ticket->refs++;
	a->host->cert_get(a->host, a->id, apns_cert_got_cb, a->ticket);
}

static void
apns_cert_watch_cb(void *arg)
{
	struct apns_ticket *t = arg;

	if (t->a != NULL)
		apns_cert_fetch(t->a);
}

/* The provider contract */

static int
apns_check_token(void *self, const char *token, bool voip, char **error_r)
{
	size_t i, len = strlen(token);

	for (i = 0; i < len; i++)
		if (!isxdigit((unsigned char)token[i]))
			break;
	if (i < len || len < 32 || len > 200 || len % 2 != 0) {
		*error_r = pu_strdup("an APNs device token is an even number "
		    "(32 to 200) of hexadecimal digits");
		return -1;
	}
	return 0;
}

static int
apns_status(void *self, const char **why_r)
{
	struct apns *a = self;

	switch (a->cert_state) {
	case CERT_WAITING:
		*why_r = "waiting for the certificate from the database";
		return -1;
	case CERT_NONE:
		*why_r = "no APNs certificate stored for this provider";
		return -1;
	case CERT_BAD:
		*why_r = "the stored APNs certificate is unusable";
		return -1;
	case CERT_EXPIRED:
		*why_r = "the APNs certificate has expired";
		return -1;
	case CERT_OK:
		break;
	}
	if (a->cert_not_after != 0 && time(NULL) >= a->cert_not_after) {
		*why_r = "the APNs certificate has expired";
		return -1;
	}
	if (a->auth_fail != NULL) {
		*why_r = "APNs refuses our credentials or topic";
		return -1;
	}
	if (!h2_client_ready(a->h2) &&
	    h2_client_last_error_kind(a->h2) == H2_EALPN) {
		*why_r = "the APNs endpoint does not speak HTTP/2 (ALPN h2)";
		return -1;
	}
	return 0;
}

static void
apns_destroy(void *self)
{
	struct apns *a = self;

	if (a == NULL)
		return;
	/* Answers every outstanding push (XP_TEMPORARY) first. */
	h2_client_free(&a->h2);
	if (a->auth == AUTH_CERT_DB && a->host->cert_unwatch != NULL) {
		a->host->cert_unwatch(a->host, apns_cert_watch_cb, a->ticket);
		apns_ticket_unref(a->ticket);
	}
	a->ticket->a = NULL;
	apns_ticket_unref(a->ticket);
	apns_jwt_free(&a->jwt);
	free(a->id);
	free(a->topic);
	free(a->voip_topic);
	free(a->ca_file);
	free(a->collapse);
	free(a->fpush_extra);
	free(a->sound);
	free(a);
}

static int
apns_endpoint(const char *ep, char **host_r, int *port_r, char **error_r)
{
	const char *colon;
	char *end;
	long port;

	if (strcmp(ep, "production") == 0) {
		*host_r = pu_strdup(APNS_HOST_PRODUCTION);
		*port_r = 443;
		return 0;
	}
	if (strcmp(ep, "sandbox") == 0 || strcmp(ep, "development") == 0) {
		*host_r = pu_strdup(APNS_HOST_SANDBOX);
		*port_r = 443;
		return 0;
	}
	if ((colon = strrchr(ep, ':')) == NULL || colon == ep) {
		*error_r = pu_asprintf("endpoint '%s': want 'production', "
		    "'sandbox' or host:port", ep);
		return -1;
	}
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port < 1 || port > 65535) {
		*error_r = pu_asprintf("endpoint '%s': bad port", ep);
		return -1;
	}
	if (*ep == '[' && colon[-1] == ']')
		*host_r = pu_asprintf("%.*s", (int)(colon - ep - 2), ep + 1);
	else
		*host_r = pu_asprintf("%.*s", (int)(colon - ep), ep);
	*port_r = (int)port;
	return 0;
}

static const char *
opt_nonempty(const struct xp_host *h, const void *block, const char *key)
{
	const char *v = h->opt_str(h, block, key);

	return v != NULL && *v != '\0' ? v : NULL;
}

static int
apns_token_lifetime(const struct xp_host *h, const void *block)
{
	const char *v = getenv(APNS_TEST_TOKEN_LIFETIME_ENV);
	long t;

	if (v != NULL && (t = strtol(v, NULL, 10)) >= 1 &&
	    t <= APNS_TOKEN_LIFETIME_MAX) {
		h->log(h, XP_LOG_WARN, "%s=%ld: provider tokens renewed "
		    "faster than Apple allows (tests only)",
		    APNS_TEST_TOKEN_LIFETIME_ENV, t);
		return (int)t;
	}
	return (int)h->opt_int(h, block, "token-lifetime");
}

#ifndef APNS_VOIP_ONLY
/*
 * fpush-additional-data: a JSON object without "aps", whose members an
 * fpush push carries, kept as they print (no braces); the push with them
 * must fit.  NULL with *error_r.
 */
static char *
fpush_extra_parse(const char *text, char **error_r)
{
	struct apns_payload_opts po;
	struct xp_push push;
	json_object *o;
	const char *s, *err = NULL;
	char *extra = NULL, *payload;
	size_t len;

	o = json_tokener_parse(text);
	if (o == NULL || !json_object_is_type(o, json_type_object) ||
	    json_object_object_get_ex(o, "aps", NULL)) {
		*error_r = pu_strdup("fpush-additional-data: a JSON object "
		    "without \"aps\" is expected");
		json_object_put(o);
		return NULL;
	}
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	if (json_object_object_length(o) == 0)
		extra = pu_strdup("");
	else
		extra = pu_asprintf("%.*s", (int)(strlen(s) - 2), s + 1);
	json_object_put(o);
	memset(&push, 0, sizeof(push));
	push.profile = XP_PROFILE_FPUSH;
	memset(&po, 0, sizeof(po));
	po.limit = APNS_MAX_PAYLOAD;
	po.fpush_extra = extra;
	if ((payload = apns_payload_build(&push, &po, &len, &err)) == NULL) {
		*error_r = pu_asprintf("fpush-additional-data: %s", err);
		free(extra);
		return NULL;
	}
	free(payload);
	return extra;
}
#endif

static void *
apns_create(const struct xp_host *host, const void *block, const char *id,
    char **error_r)
{
	struct apns *a;
	struct h2_config hc;
	struct apns_ident ident;
	const char *cert_file, *key_file, *key_id, *team_id, *collapse, *v;
	SSL_CTX *ctx = NULL;
	char *hostname = NULL;
	int port;

	a = pu_calloc(1, sizeof(*a));
	a->host = host;
	a->id = pu_strdup(id);
	a->ticket = pu_calloc(1, sizeof(*a->ticket));
	a->ticket->a = a;
	a->ticket->refs = 1;
#ifdef APNS_VOIP_ONLY
	a->voip_only = true;
#endif
	if ((v = opt_nonempty(host, block, "apns-topic")) == NULL) {
		*error_r = pu_strdup("apns-topic (the app's bundle id) is "
		    "required");
		goto fail;
	}
	/* apns-voip blocks may name the bundle or the .voip topic. */
	a->topic = pu_strdup(v);
	if (strlen(v) > 5 && strcmp(v + strlen(v) - 5, ".voip") == 0)
		a->voip_topic = pu_strdup(v);
	else
		a->voip_topic = pu_asprintf("%s.voip", v);
	a->expiration = (int)host->opt_int(host, block, "expiration");
	a->call_lifetime = (int)host->opt_int(host, block, "call-lifetime");
	a->badge = host->opt_bool(host, block, "badge");
	v = host->opt_str(host, block, "sound");
	a->sound = pu_strdup(v != NULL ? v : "");
	if (strlen(a->sound) > sizeof(APNS_ENVELOPE_SOUND) - 1)
		host->log(host, XP_LOG_WARN, "sound '%s' is longer than '%s', "
		    "which the advertised max-payload-size assumes: an alert "
		    "push with the largest blob a client may send is refused",
		    a->sound, APNS_ENVELOPE_SOUND);
	if ((collapse = opt_nonempty(host, block, "collapse-id")) != NULL &&
	    strcmp(collapse, "false") != 0) {
		if (strlen(collapse) > 64) {
			*error_r = pu_strdup("collapse-id: at most 64 bytes");
			goto fail;
		}
		if (strcmp(collapse, "account") == 0)
			a->collapse_account = true;
		else
			a->collapse = pu_strdup(collapse);
	}
	if ((v = opt_nonempty(host, block, "ca-file")) != NULL)
		a->ca_file = pu_strdup(v);
#ifndef APNS_VOIP_ONLY
	if ((v = opt_nonempty(host, block, "fpush-additional-data")) != NULL &&
	    (a->fpush_extra = fpush_extra_parse(v, error_r)) == NULL)
		goto fail;
#endif

	cert_file = opt_nonempty(host, block, "cert-file");
	key_file = opt_nonempty(host, block, "key-file");
	key_id = opt_nonempty(host, block, "key-id");
	team_id = opt_nonempty(host, block, "team-id");
	if (cert_file != NULL) {
		if (key_id != NULL || team_id != NULL) {
			*error_r = pu_strdup("cert-file and token auth (key-id, "
			    "team-id) exclude each other: choose one");
			goto fail;
		}
		a->auth = AUTH_CERT_FILE;
		if (apns_ident_load_file(cert_file, key_file,
		    host->opt_str(host, block, "cert-password"), &ident,
		    error_r) == -1)
			goto fail;
		a->cert_not_after = ident.not_after;
		host->log(host, XP_LOG_INFO, "certificate %s valid until %lld",
		    ident.subject, (long long)ident.not_after);
		ctx = apns_tls_ctx(a->ca_file, &ident, error_r);
		apns_ident_clear(&ident);
		if (ctx == NULL)
			goto fail;
	} else if (key_file != NULL) {
		if (key_id == NULL || team_id == NULL) {
			*error_r = pu_strdup("token auth needs key-file, key-id "
			    "and team-id");
			goto fail;
		}
		a->auth = AUTH_TOKEN;
		if ((a->jwt = apns_jwt_new(key_file, key_id, team_id,
		    apns_token_lifetime(host, block), error_r)) == NULL)
			goto fail;
		if ((ctx = apns_tls_ctx(a->ca_file, NULL, error_r)) == NULL)
			goto fail;
	} else {
		if (key_id != NULL || team_id != NULL) {
			*error_r = pu_strdup("key-id and team-id need key-file "
			    "(the .p8 key)");
			goto fail;
		}
		a->auth = AUTH_CERT_DB;
		a->cert_state = CERT_WAITING;
	}

	if (apns_endpoint(host->opt_str(host, block, "endpoint"), &hostname,
	    &port, error_r) == -1)
		goto fail;
	memset(&hc, 0, sizeof(hc));
	hc.host = hostname;
	hc.port = port;
	hc.pool_size = (int)host->opt_int(host, block, "pool-size");
	hc.idle_timeout_ms = (int)host->opt_int(host, block,
	    "idle-timeout") * 1000;
	hc.queue_size = (size_t)host->opt_int(host, block, "queue-size");
	hc.request_timeout_ms = (int)host->opt_int(host, block,
	    "request-timeout") * 1000;
	hc.ping_interval_ms = (int)host->opt_int(host, block,
	    "ping-interval") * 1000;
	hc.backoff_min_ms = (int)host->opt_int(host, block,
	    "reconnect-min-ms");
	hc.backoff_max_ms = (int)host->opt_int(host, block,
	    "reconnect-max-ms");
	if (hc.backoff_max_ms < hc.backoff_min_ms) {
		*error_r = pu_strdup("reconnect-max-ms is less than "
		    "reconnect-min-ms");
		goto fail;
	}
	hc.log = apns_h2_log;
	hc.log_arg = a;
	if ((a->h2 = h2_client_new(host->base, &hc, ctx, error_r)) == NULL)
		goto fail;
	free(hostname);
	hostname = NULL;
	if (ctx != NULL)
		SSL_CTX_free(ctx);
	ctx = NULL;

	if (a->auth == AUTH_CERT_DB) {
		a->ticket->refs++;
		host->cert_watch(host, id, apns_cert_watch_cb, a->ticket);
		apns_cert_fetch(a);
		/* A host that answers at once lets create() report it. */
		if (a->cert_state == CERT_BAD || a->cert_state ==
		    CERT_EXPIRED) {
			*error_r = pu_asprintf("the certificate stored for %s "
			    "is %s", id, a->cert_state == CERT_EXPIRED ?
			    "expired" : "unusable (see the log)");
			goto fail;
		}
	}
	return a;
fail:
	free(hostname);
	if (ctx != NULL)
		SSL_CTX_free(ctx);
	apns_destroy(a);
	return NULL;
}

const struct xp_provider xpushd_provider = {
	.abi = XP_PROVIDER_ABI,
	.name = APNS_MODULE,
#ifdef APNS_VOIP_ONLY
	.description = "Apple Push Notification service, PushKit VoIP pushes "
	    "(HTTP/2)",
	.max_payload = APNS_ADVERTISED_PAYLOAD_VOIP,
#else
	.description = "Apple Push Notification service (HTTP/2)",
	/* VoIP pushes through apns.so have more room than this. */
	.max_payload = APNS_ADVERTISED_PAYLOAD,
#endif
	.options = apns_options,
	.features = apns_features,
	.caps = XP_CAP_APNS_CERT,
	.create = apns_create,
	.check_token = apns_check_token,
	.send = apns_send,
	.status = apns_status,
	.destroy = apns_destroy,
};
