/*
 * webpush.so: pushes to browsers (and any Web Push client) through the
 * push service behind a subscription's endpoint: RFC 8030 delivery, RFC
 * 8291 message encryption, RFC 8292 VAPID.
 *
 * The device token is the subscription as the browser gives it,
 * PushSubscription.toJSON(): {"endpoint":"https://...","expirationTime":
 * null,"keys":{"p256dh":...,"auth":...}}; check_token refuses anything
 * else with a sentence saying what is wrong (webpush_crypto.c).
 *
 * A push (of the register-device dialect, XP_PROFILE_TIGASE: browsers
 * register no other way; other profiles are XP_PERMANENT) is a JSON
 * object with the keys the APNs payload carries (account,
 * sender, body, unread-messages, nickname, encrypted, iv; and type "call",
 * sid and media for a Jingle call), each only when the publish carried it
 * and the block's payload-keys allows it to leave the server.  It is
 * encrypted for the subscription (RFC 8291 section 4: one record, padded
 * to a multiple of the block's padding) and POSTed to the endpoint (RFC
 * 8030 section 5) with
 *	TTL		the block's ttl; call-lifetime for calls (section 5.2)
 *	Urgency		high for user-visible pushes and calls, low for
 *			wake-ups; never very-low (section 5.3)
 *	Topic		with topic = true, wake-ups of one node replace each
 *			other while undelivered (section 5.4): 32 characters
 *			of base64url SHA-256 of the node, nothing readable
 *	Authorization	vapid t=<JWT>, k=<public key> (RFC 8292 section 3):
 *			the JWT's aud is the endpoint's origin, exp
 *			vapid-lifetime ahead (at most 24 h, section 2), sub
 *			the block's vapid-subject.  One JWT per origin is
 *			cached and signed again when half its life is gone.
 * A relayed push (Push 2.0, struct xp_push's relay fields) is POSTed as it
 * is: its bytes are already aes128gcm for the client, and its VAPID JWT
 * and key are the user's server's; the token is then the endpoint URL
 * (or a subscription whose endpoint is used).
 *
 * Answers (RFC 8030 sections 5, 7.2, 7.3 and 8.4, RFC 8292 sections 2
 * and 4.2): 2xx
 * sent (201 Created is the specified one); 404 and 410 the subscription
 * is gone: XP_INVALID_TOKEN, the core deletes the registration under its
 * mass-deletion guard; 413 XP_PERMANENT; 429 XP_RATE_LIMITED with
 * Retry-After; 401 and 403 XP_AUTH_FAILED (our JWT refused, or a
 * subscription made for another applicationServerKey), logged once per
 * run of failures; other 4xx XP_PERMANENT; 5xx, timeouts and connection
 * failures XP_TEMPORARY.
 *
 * Transport: one libcurl multi handle on the host's event loop
 * (fcm_curl.c, shared with fcm.so), HTTP/2 when the push service offers it
 * in ALPN and HTTP/1.1 otherwise; at most pool-size connections per origin
 * (curl reuses them; over HTTP/2 requests wait for a stream rather than
 * open another connection).  At most pool-size x WP_CONN_STREAMS requests
 * are handed to curl at once, the rest wait in order.
 *
 * Cost per push: the encryption is most of it, and of that the fresh
 * ephemeral key pair and the ECDH that RFC 8291 requires for every
 * message; the subscription's point is checked on the curve once, at
 * registration (check_token), and the derive does not check it again.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/queue.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "plugins/provider.h"
#include "plugins/fcm.h"
#include "plugins/webpush.h"

/*
 * Requests in flight per connection.  libcurl's multi_socket runs every
 * transfer on a socket when that socket has an event, so each answer on a
 * connection costs in proportion to its transfers in flight: with 100, a
 * deep queue to a slow push service tripled the CPU per push; with 32 it
 * stays flat (BENCHMARKS.md, "Web Push").
 */
#define WP_CONN_STREAMS		32
#define WP_JWT_CACHE		64	/* origins whose JWT is kept */
#define WP_TOPIC_LEN		32	/* RFC 8030 section 5.4 */
#define WP_IDLE_MAX		256	/* easy handles kept for reuse */
#define WP_RESP_MAX		4096	/* bytes of an answer kept for logs */
#define WP_RETRY_AFTER_MAX	86400	/* s, the most we pass on */
#define WP_FIT_ROUNDS		8	/* cuts of the body before giving up */
#define WP_JSON_INITIAL		512

struct wp;

struct wp_req {
	TAILQ_ENTRY(wp_req) entry;
	struct wp	*w;
	CURL		*easy;
	struct curl_slist *hdrs;
	char		*url;
	char		*origin;	/* for logs: the endpoint is a secret */
	struct pu_buf	 body;
	struct pu_buf	 resp;
	long		 retry_after;	/* -1: none */
	xp_sent_cb	*cb;
	void		*arg;
};
TAILQ_HEAD(wp_reqs, wp_req);

struct wp_jwt {
	char		*origin;
	char		*hdr;		/* "Authorization: vapid t=..., k=..." */
	time_t		 renew;		/* sign again from then */
};

/* Payload keys an operator may let leave the server (payload-keys). */
enum {
	WP_K_ACCOUNT = 1 << 0,
	WP_K_SENDER = 1 << 1,
	WP_K_BODY = 1 << 2,
	WP_K_UNREAD = 1 << 3,
	WP_K_NICKNAME = 1 << 4,
	WP_K_ENCRYPTED = 1 << 5,	/* encrypted and iv */
	WP_K_CALL = 1 << 6,		/* type, sid, media */
};

static const struct wp_key_name {
	const char	*name;
	unsigned int	 bit;
} wp_key_names[] = {
	{ "account", WP_K_ACCOUNT },
	{ "sender", WP_K_SENDER },
	{ "body", WP_K_BODY },
	{ "unread-messages", WP_K_UNREAD },
	{ "nickname", WP_K_NICKNAME },
	{ "encrypted", WP_K_ENCRYPTED },
	{ "call", WP_K_CALL },
	{ NULL, 0 },
};

struct wp {
	const struct xp_host *host;
	struct wp_vapid	 vapid;
	char		*subject;
	char		*ca_file;
	long		 ttl;
	long		 call_lifetime;
	long		 vapid_lifetime;
	long		 timeout_ms;
	size_t		 pad_to;
	unsigned int	 keys;		/* WP_K_* allowed */
	bool		 topic;
	bool		 no_proxy;
	bool		 auth_failing;	/* logged, until a push goes through */
	size_t		 queue_max;
	size_t		 flight_max;
	size_t		 nflight;
	size_t		 outstanding;
	struct fcm_curl	*curl;
	CURL		*idle[WP_IDLE_MAX];	/* configured, for reuse */
	size_t		 nidle;
	struct wp_jwt	 jwt[WP_JWT_CACHE];
	size_t		 njwt;
	struct wp_reqs	 ready;
	struct wp_reqs	 flight;
};

static const struct xp_option wp_options[] = {
	{ "plugin", XP_OPT_STRING, "'webpush'", 0, 0,
	    "the provider module" },
	{ "vapid-key-file", XP_OPT_STRING, NULL, 0, 0,
	    "PEM file of the VAPID P-256 private key (xpushd-vapid prints "
	    "its applicationServerKey)" },
	{ "vapid-subject", XP_OPT_STRING, NULL, 0, 0,
	    "the VAPID JWT's sub: a mailto: or https: contact for push "
	    "services" },
	{ "vapid-lifetime", XP_OPT_INTEGER, "43200", 60, 86400,
	    "seconds a VAPID JWT is valid (exp; RFC 8292 allows 24 hours)" },
	{ "ttl", XP_OPT_INTEGER, "2419200", 0, 2419200,
	    "seconds a push service keeps an undelivered push (TTL)" },
	{ "call-lifetime", XP_OPT_INTEGER, "30", 0, 2419200,
	    "TTL of a call's push, seconds" },
	{ "topic", XP_OPT_BOOLEAN, "false", 0, 0,
	    "wake-ups of one node replace each other while undelivered "
	    "(Topic)" },
	{ "padding", XP_OPT_INTEGER, "256", 0, WP_PLAIN_MAX,
	    "pad the plaintext to a multiple of this many bytes (0: none)" },
	{ "payload-keys", XP_OPT_STRLIST, "['account', 'sender', 'body', "
	    "'unread-messages', 'nickname', 'encrypted', 'call']", 0, 0,
	    "payload keys that may leave the server: account, sender, body, "
	    "unread-messages, nickname, encrypted (with iv), call (type, "
	    "sid, media)" },
	{ "pool-size", XP_OPT_INTEGER, "2", 1, 64,
	    "connections per push service origin" },
	{ "request-timeout", XP_OPT_INTEGER, "30", 1, 600,
	    "seconds before a request counts as failed" },
	{ "queue-size", XP_OPT_INTEGER, "10000", 1, 1000000,
	    "pushes in flight or waiting before send() refuses" },
	{ "ca-file", XP_OPT_STRING, "''", 0, 0,
	    "CA bundle to verify push services with (tests)" },
	{ "features", XP_OPT_STRLIST, "['tigase:push:encrypt:0', "
	    "'tigase:push:encrypt:aes-128-gcm', 'tigase:push:priority:0', "
	    "'tigase:push:jingle:0']", 0, 0,
	    "push extensions announced to clients" },
	{ NULL, XP_OPT_STRING, NULL, 0, 0, NULL },
};

static const char *const wp_features[] = {
	"tigase:push:encrypt:0",
	"tigase:push:encrypt:aes-128-gcm",
	"tigase:push:priority:0",
	"tigase:push:jingle:0",
	NULL,
};

/*
 * What a client may fill with values and still have them go whole: the
 * record's plaintext less every key we write with its quotes, colon and
 * comma, the braces, and the values we write ourselves.
 */
#define WP_OWN_BYTES	(sizeof("account") + sizeof("sender") + \
	sizeof("body") + sizeof("unread-messages") + sizeof("nickname") + \
	sizeof("encrypted") + sizeof("iv") + sizeof("type") + \
	sizeof("sid") + sizeof("media") + 10 * 5 + sizeof("call") + 2 + 20)
#define WP_PAYLOAD_MAX	(WP_PLAIN_MAX - WP_OWN_BYTES)

/* Requests. */

static size_t
wp_write_cb(char *data, size_t size, size_t n, void *arg)
{
	struct wp_req *req = arg;

	pu_buf_add(&req->resp, data, size * n);
	return size * n;
}

/* Retry-After: delay-seconds or an IMF-fixdate (RFC 9110 10.2.3). */
static long
wp_retry_after(const char *v)
{
	struct tm tm;
	const char *end;
	time_t t;
	long n;

	if (isdigit((unsigned char)*v)) {
		n = strtol(v, NULL, 10);
		return n > WP_RETRY_AFTER_MAX ? WP_RETRY_AFTER_MAX : n;
	}
	memset(&tm, 0, sizeof(tm));
	if ((end = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm)) == NULL)
		return -1;
	t = timegm(&tm) - time(NULL);
	return t < 0 ? 0 : t > WP_RETRY_AFTER_MAX ? WP_RETRY_AFTER_MAX :
	    (long)t;
}

static size_t
wp_header_cb(char *data, size_t size, size_t n, void *arg)
{
	static const char name[] = "retry-after:";
	struct wp_req *req = arg;
	size_t len = size * n, i = sizeof(name) - 1, j = 0;
	char v[64];

	if (len <= i || strncasecmp(data, name, i) != 0)
		return len;
	while (i < len && (data[i] == ' ' || data[i] == '\t'))
		i++;
	while (i < len && j < sizeof(v) - 1 && data[i] != '\r' &&
	    data[i] != '\n')
		v[j++] = data[i++];
	v[j] = '\0';
	req->retry_after = wp_retry_after(v);
	return len;
}

static CURL *
wp_easy_get(struct wp *w)
{
	if (w->nidle > 0)
		return w->idle[--w->nidle];
	return fcm_curl_easy(w->timeout_ms, w->ca_file, w->no_proxy,
	    wp_write_cb, wp_header_cb);
}

static void
wp_easy_put(struct wp *w, CURL *e)
{
	if (w->nidle < WP_IDLE_MAX)
		w->idle[w->nidle++] = e;
	else
		curl_easy_cleanup(e);
}

static void
wp_req_free(struct wp_req *req)
{
	if (req->easy != NULL)
		wp_easy_put(req->w, req->easy);
	curl_slist_free_all(req->hdrs);
	free(req->url);
	free(req->origin);
	pu_buf_free(&req->body);
	pu_buf_free(&req->resp);
	free(req);
}

/*
 * Answers a push.  Callers run outside curl's callbacks, or inside send()
 * (whose answers the host delivers from the loop).
 */
static void
wp_req_finish(struct wp_req *req, enum xp_outcome outcome, unsigned int
    retry, const char *reason)
{
	struct wp *w = req->w;

	w->outstanding--;
	req->cb(req->arg, outcome, retry, reason);
	wp_req_free(req);
}

static void
wp_req_start(struct wp_req *req)
{
	struct wp *w = req->w;
	CURL *e;

	if (w->nflight >= w->flight_max) {
		TAILQ_INSERT_TAIL(&w->ready, req, entry);
		return;
	}
	req->easy = e = wp_easy_get(w);
	req->resp.max = WP_RESP_MAX;
	req->retry_after = -1;
	curl_easy_setopt(e, CURLOPT_URL, req->url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, req->hdrs);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body.data);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)req->body.len);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, req);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, req);
	if (fcm_curl_add(w->curl, e, req) == -1) {
		wp_req_finish(req, XP_TEMPORARY, 0, "curl_multi_add_handle "
		    "failed");
		return;
	}
	TAILQ_INSERT_TAIL(&w->flight, req, entry);
	w->nflight++;
}

/* Answers. */

static enum xp_outcome
wp_status_outcome(long status)
{
	if (status >= 200 && status < 300)
		return XP_SENT;
	switch (status) {
	case 404:
	case 410:
		return XP_INVALID_TOKEN;
	case 429:
		return XP_RATE_LIMITED;
	case 401:
	case 403:
		return XP_AUTH_FAILED;
	}
	return status >= 500 ? XP_TEMPORARY : XP_PERMANENT;
}

/* The first line of a push service's answer, printable, for the reason. */
static void
wp_resp_text(const struct wp_req *req, char *out, size_t size)
{
	size_t i, n = 0;

	for (i = 0; i < req->resp.len && n + 1 < size; i++) {
		if (req->resp.data[i] == '\n' || req->resp.data[i] == '\r')
			break;
		out[n++] = isprint((unsigned char)req->resp.data[i]) ?
		    req->resp.data[i] : '?';
	}
	out[n] = '\0';
}

static void
wp_answer(struct wp *w, struct wp_req *req, CURLcode rc)
{
	enum xp_outcome outcome;
	long status = 0;
	char *reason, text[160];
	unsigned int retry;

	if (rc != CURLE_OK) {
		reason = pu_asprintf("Web Push: %s", curl_easy_strerror(rc));
		wp_req_finish(req, XP_TEMPORARY, 0, reason);
		free(reason);
		return;
	}
	curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
	outcome = wp_status_outcome(status);
	if (outcome == XP_SENT) {
		if (w->auth_failing)
			w->host->log(w->host, XP_LOG_INFO, "a push service "
			    "accepts our VAPID JWT again");
		w->auth_failing = false;
		wp_req_finish(req, XP_SENT, 0, NULL);
		return;
	}
	wp_resp_text(req, text, sizeof(text));
	reason = pu_asprintf("Web Push: HTTP %ld from %s%s%s", status,
	    req->origin, *text != '\0' ? ": " : "", text);
	if (outcome == XP_AUTH_FAILED && !w->auth_failing) {
		w->auth_failing = true;
		w->host->log(w->host, XP_LOG_WARN, "%s; check vapid-key-file "
		    "and vapid-subject, and that the web app subscribed with "
		    "this key (not logged again until a push goes through)",
		    reason);
	}
	retry = req->retry_after > 0 ? (unsigned int)req->retry_after : 0;
	wp_req_finish(req, outcome, retry, reason);
	free(reason);
}

static void
wp_pump(struct wp *w)
{
	struct wp_req *req;

	while (w->nflight < w->flight_max &&
	    (req = TAILQ_FIRST(&w->ready)) != NULL) {
		TAILQ_REMOVE(&w->ready, req, entry);
		wp_req_start(req);
	}
}

static void
wp_curl_done(CURL *easy, CURLcode rc, void *arg)
{
	struct wp_req *req = arg;
	struct wp *w = req->w;

	(void)easy;
	TAILQ_REMOVE(&w->flight, req, entry);
	w->nflight--;
	wp_answer(w, req, rc);
	wp_pump(w);
}

/* VAPID: one JWT per origin, signed again half-way through its life. */

static const char *
wp_vapid_header(struct wp *w, const char *origin, char **error_r)
{
	struct wp_jwt *j = NULL;
	time_t now = time(NULL);
	char *jwt;
	size_t i;

	for (i = 0; i < w->njwt; i++)
		if (strcmp(w->jwt[i].origin, origin) == 0) {
			j = &w->jwt[i];
			break;
		}
	if (j != NULL && now < j->renew)
		return j->hdr;
	if ((jwt = wp_vapid_jwt(&w->vapid, origin, now + w->vapid_lifetime,
	    w->subject, error_r)) == NULL)
		return NULL;
	if (j == NULL && w->njwt < WP_JWT_CACHE)
		j = &w->jwt[w->njwt++];
	else if (j == NULL) {
		/* Full: the one due soonest goes. */
		j = &w->jwt[0];
		for (i = 1; i < w->njwt; i++)
			if (w->jwt[i].renew < j->renew)
				j = &w->jwt[i];
	}
	if (j->origin == NULL || strcmp(j->origin, origin) != 0) {
		free(j->origin);
		j->origin = pu_strdup(origin);
	}
	free(j->hdr);
	j->hdr = pu_asprintf("Authorization: vapid t=%s, k=%s", jwt,
	    w->vapid.public_b64);
	j->renew = now + w->vapid_lifetime / 2;
	free(jwt);
	return j->hdr;
}

/* The notification's JSON. */

static void
wp_json_kv(struct pu_buf *b, bool *first, const char *key, const char *v,
    size_t len)
{
	if (v == NULL)
		return;
	pu_json_key(b, first, key);
	pu_json_str(b, v, len);
}

static void
wp_json_num(struct pu_buf *b, bool *first, const char *key, long v)
{
	char num[24];
	int n;

	if (v < 0)
		return;
	n = snprintf(num, sizeof(num), "%ld", v);
	pu_json_key(b, first, key);
	pu_buf_add(b, num, (size_t)n);
}

/* With body (blen bytes, NULL: none) and, if blob, encrypted and iv. */
static void
wp_json(const struct wp *w, const struct xp_push *p, const char *body,
    size_t blen, bool blob, struct pu_buf *b)
{
	unsigned int k = w->keys;
	bool first = true;

	b->len = 0;
	pu_buf_add(b, "{", 1);
	if (k & WP_K_ACCOUNT)
		wp_json_kv(b, &first, "account", p->account, p->account !=
		    NULL ? strlen(p->account) : 0);
	if (k & WP_K_SENDER)
		wp_json_kv(b, &first, "sender", p->sender, p->sender != NULL ?
		    strlen(p->sender) : 0);
	if (k & WP_K_BODY)
		wp_json_kv(b, &first, "body", body, blen);
	if (k & WP_K_UNREAD)
		wp_json_num(b, &first, "unread-messages", p->unread);
	if (k & WP_K_NICKNAME)
		wp_json_kv(b, &first, "nickname", p->nickname, p->nickname !=
		    NULL ? strlen(p->nickname) : 0);
	if ((k & WP_K_ENCRYPTED) && blob) {
		wp_json_kv(b, &first, "encrypted", p->encrypted,
		    p->encrypted != NULL ? strlen(p->encrypted) : 0);
		wp_json_kv(b, &first, "iv", p->iv, p->iv != NULL ?
		    strlen(p->iv) : 0);
	}
	if ((k & WP_K_CALL) && p->kind == XP_KIND_CALL) {
		wp_json_kv(b, &first, "type", "call", 4);
		wp_json_kv(b, &first, "sid", p->jingle_sid, p->jingle_sid !=
		    NULL ? strlen(p->jingle_sid) : 0);
		wp_json_kv(b, &first, "media", p->jingle_media,
		    p->jingle_media != NULL ? strlen(p->jingle_media) : 0);
	}
	pu_buf_add(b, "}", 1);
}

/*
 * The JSON within one record: the body cut on a character boundary (and
 * ending with U+2026) when it must be; an encrypted payload is never cut
 * but left out.  -1 when nothing fits.
 */
static int
wp_json_fit(const struct wp *w, const struct xp_push *p, struct pu_buf *b)
{
	const char *body = p->body;
	size_t blen = body != NULL ? strlen(body) : 0, n;
	bool blob = true;
	char *cut = NULL;
	int i;

	wp_json(w, p, body, blen, blob, b);
	for (i = 0; b->len > WP_PLAIN_MAX && i < WP_FIT_ROUNDS; i++) {
		if (blob && p->encrypted != NULL &&
		    (w->keys & WP_K_ENCRYPTED)) {
			blob = false;
			wp_json(w, p, body, blen, blob, b);
			continue;
		}
		if (body == NULL || blen == 0 || !(w->keys & WP_K_BODY))
			break;
		/* Escaping makes the JSON longer than the bytes cut. */
		n = b->len - WP_PLAIN_MAX + sizeof(PU_ELLIPSIS) - 1;
		n = pu_utf8_cut(p->body, strlen(p->body), blen > n ? blen - n :
		    0);
		free(cut);
		cut = pu_malloc(n + sizeof(PU_ELLIPSIS));
		memcpy(cut, p->body, n);
		memcpy(cut + n, PU_ELLIPSIS, sizeof(PU_ELLIPSIS));
		body = cut;
		blen = n + sizeof(PU_ELLIPSIS) - 1;
		wp_json(w, p, body, blen, blob, b);
	}
	free(cut);
	return b->len > WP_PLAIN_MAX ? -1 : 0;
}

/* Headers. */

static void
wp_hdr(struct wp_req *req, const char *line)
{
	if ((req->hdrs = curl_slist_append(req->hdrs, line)) == NULL)
		abort();
}

static void
wp_topic(const char *node, char *out)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	char *b;

	SHA256((const unsigned char *)node, strlen(node), md);
	b = pu_b64url(md, sizeof(md));
	memcpy(out, b, WP_TOPIC_LEN);
	out[WP_TOPIC_LEN] = '\0';
	free(b);
}

static void
wp_headers(struct wp *w, struct wp_req *req, const struct xp_push *p,
    const char *auth)
{
	char line[64], topic[WP_TOPIC_LEN + 1];
	bool call = p->kind == XP_KIND_CALL || p->voip;
	long ttl = w->ttl;

	if (call && w->call_lifetime < ttl)
		ttl = w->call_lifetime;
	snprintf(line, sizeof(line), "TTL: %ld", ttl);
	wp_hdr(req, line);
	wp_hdr(req, call || p->prio == XP_PRIO_HIGH ? "Urgency: high" :
	    "Urgency: low");
	if (w->topic && !call && p->prio == XP_PRIO_LOW && p->node != NULL) {
		wp_topic(p->node, topic);
		snprintf(line, sizeof(line), "Topic: %s", topic);
		wp_hdr(req, line);
	}
	wp_hdr(req, "Content-Type: application/octet-stream");
	wp_hdr(req, "Content-Encoding: aes128gcm");
	if (auth != NULL)
		wp_hdr(req, auth);
	/* No "Expect: 100-continue" round trip over HTTP/1.1. */
	wp_hdr(req, "Expect:");
}

/* A relayed push's VAPID values go into a header: no separators. */
static bool
wp_relay_value_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && strchr("-_.=", *s) == NULL)
			return false;
	return true;
}

/* Push 2.0: bytes, JWT and key from the user's server, as they are. */
static int
wp_prepare_relay(struct wp *w, struct wp_req *req, const struct xp_push *p,
    char **error_r)
{
	struct wp_sub sub;
	char *auth = NULL;

	if (strncmp(p->token, "https://", 8) == 0) {
		if ((req->origin = wp_origin(p->token, error_r)) == NULL)
			return -1;
		req->url = pu_strdup(p->token);
	} else if (wp_sub_parse(p->token, false, &sub, error_r) == 0) {
		req->url = sub.endpoint;
		req->origin = sub.origin;
		sub.endpoint = sub.origin = NULL;
		wp_sub_free(&sub);
	} else
		return -1;
	if (p->relay_len > WP_BODY_MAX) {
		*error_r = pu_asprintf("the relayed payload has %zu bytes, "
		    "more than the %d a push service must take", p->relay_len,
		    WP_BODY_MAX);
		return 1;
	}
	if (p->relay_jwt != NULL && p->relay_key != NULL) {
		if (!wp_relay_value_ok(p->relay_jwt) ||
		    !wp_relay_value_ok(p->relay_key)) {
			*error_r = pu_strdup("the relayed VAPID JWT or key "
			    "holds characters base64url does not");
			return 1;
		}
		auth = pu_asprintf("Authorization: vapid t=%s, k=%s",
		    p->relay_jwt, p->relay_key);
	}
	pu_buf_add(&req->body, p->relay, p->relay_len);
	wp_headers(w, req, p, auth);
	free(auth);
	return 0;
}

/* An ordinary push: our JSON, encrypted, with our VAPID JWT. */
static int
wp_prepare(struct wp *w, struct wp_req *req, const struct xp_push *p,
    char **error_r)
{
	struct pu_buf json = { 0 };
	struct wp_sub sub;
	const char *auth;
	size_t pad;
	int rc = 1;

	if (wp_sub_parse(p->token, false, &sub, error_r) == -1)
		return -1;
	if ((json.data = malloc(WP_JSON_INITIAL)) == NULL)
		abort();
	json.cap = WP_JSON_INITIAL;
	if (wp_json_fit(w, p, &json) == -1) {
		*error_r = pu_asprintf("the notification does not fit one Web "
		    "Push record (%d bytes)", WP_PLAIN_MAX);
		goto done;
	}
	pad = w->pad_to > 0 ? (json.len + w->pad_to - 1) / w->pad_to *
	    w->pad_to : 0;
	if ((auth = wp_vapid_header(w, sub.origin, error_r)) == NULL ||
	    wp_encrypt(sub.p256dh, sub.auth, json.data, json.len, pad, NULL,
	    NULL, &req->body, error_r) == -1)
		goto done;
	req->url = sub.endpoint;
	req->origin = sub.origin;
	sub.endpoint = sub.origin = NULL;
	wp_headers(w, req, p, auth);
	rc = 0;
done:
	OPENSSL_cleanse(json.data, json.len);
	pu_buf_free(&json);
	wp_sub_free(&sub);
	return rc;
}

/* The provider contract. */

static int
wp_check_token(void *self, const char *token, bool voip, char **error_r)
{
	struct wp_sub sub;

	(void)self;
	if (voip) {
		*error_r = pu_strdup("Web Push has no separate VoIP "
		    "subscription");
		return -1;
	}
	if (wp_sub_parse(token, true, &sub, error_r) == -1)
		return -1;
	wp_sub_free(&sub);
	return 0;
}

static int
wp_send(void *self, const struct xp_push *p, xp_sent_cb *cb, void *arg)
{
	struct wp *w = self;
	struct wp_req *req;
	char *err = NULL;
	int rc;

	if (w->outstanding >= w->queue_max)
		return -1;
	req = pu_calloc(1, sizeof(*req));
	req->w = w;
	req->cb = cb;
	req->arg = arg;
	w->outstanding++;
	if (p->token == NULL)
		rc = -1;
	else if (p->relay != NULL)
		rc = wp_prepare_relay(w, req, p, &err);
	else if (p->profile != XP_PROFILE_TIGASE) {
		/* Browsers register with register-device: one layout. */
		err = pu_strdup("webpush.so writes the register-device "
		    "payload only, not this dialect's");
		rc = 1;
	} else
		rc = wp_prepare(w, req, p, &err);
	if (rc != 0) {
		/* -1: the subscription is unusable; 1: this push is. */
		wp_req_finish(req, rc == -1 ? XP_INVALID_TOKEN : XP_PERMANENT,
		    0, err != NULL ? err : "no subscription");
		free(err);
		return 0;
	}
	wp_req_start(req);
	return 0;
}

static int
wp_status(void *self, const char **why_r)
{
	(void)self;
	(void)why_r;
	return 0;
}

static void
wp_answer_all(struct wp *w, struct wp_reqs *list, bool in_curl)
{
	struct wp_req *req;

	while ((req = TAILQ_FIRST(list)) != NULL) {
		TAILQ_REMOVE(list, req, entry);
		if (in_curl)
			fcm_curl_remove(w->curl, req->easy);
		wp_req_finish(req, XP_TEMPORARY, 0, "the Web Push provider "
		    "is shutting down");
	}
}

static void
wp_destroy(void *self)
{
	struct wp *w = self;
	size_t i;

	if (w == NULL)
		return;
	if (w->curl != NULL) {
		wp_answer_all(w, &w->flight, true);
		wp_answer_all(w, &w->ready, false);
	}
	while (w->nidle > 0)
		curl_easy_cleanup(w->idle[--w->nidle]);
	fcm_curl_free(&w->curl);
	for (i = 0; i < w->njwt; i++) {
		free(w->jwt[i].origin);
		free(w->jwt[i].hdr);
	}
	wp_vapid_free(&w->vapid);
	free(w->subject);
	free(w->ca_file);
	free(w);
	curl_global_cleanup();
}

static int
wp_keys_parse(struct wp *w, const struct xp_host *h, const void *block,
    char **error_r)
{
	const char *const *items;
	size_t n, i, j;

	n = h->opt_list(h, block, "payload-keys", &items);
	for (i = 0; i < n; i++) {
		for (j = 0; wp_key_names[j].name != NULL; j++)
			if (strcmp(items[i], wp_key_names[j].name) == 0)
				break;
		if (wp_key_names[j].name == NULL) {
			*error_r = pu_asprintf("payload-keys: '%s' is none of "
			    "account, sender, body, unread-messages, nickname, "
			    "encrypted, call", items[i]);
			return -1;
		}
		w->keys |= wp_key_names[j].bit;
	}
	return 0;
}

static void *
wp_create(const struct xp_host *host, const void *block, const char *id,
    char **error_r)
{
	const struct xp_host *h = host;
	const char *s;
	struct wp *w;

	(void)id;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		*error_r = pu_strdup("curl_global_init failed");
		return NULL;
	}
	w = pu_calloc(1, sizeof(*w));
	w->host = host;
	TAILQ_INIT(&w->ready);
	TAILQ_INIT(&w->flight);
	if (wp_vapid_load(h->opt_str(h, block, "vapid-key-file"), &w->vapid,
	    error_r) == -1)
		goto fail;
	s = h->opt_str(h, block, "vapid-subject");
	/* RFC 8292 section 2.1: a mailto: or https: URI. */
	if ((strncmp(s, "mailto:", 7) != 0 && strncmp(s, "https://", 8) != 0) ||
	    strlen(s) < 9 || strpbrk(s, "\"\\ \t\r\n") != NULL) {
		*error_r = pu_asprintf("vapid-subject '%s' must be a mailto: "
		    "or https: URI (RFC 8292 section 2.1)", s);
		goto fail;
	}
	w->subject = pu_strdup(s);
	if (wp_keys_parse(w, h, block, error_r) == -1)
		goto fail;
	s = h->opt_str(h, block, "ca-file");
	w->ca_file = s != NULL && *s != '\0' ? pu_strdup(s) : NULL;
	w->ttl = h->opt_int(h, block, "ttl");
	w->call_lifetime = h->opt_int(h, block, "call-lifetime");
	w->vapid_lifetime = h->opt_int(h, block, "vapid-lifetime");
	w->timeout_ms = h->opt_int(h, block, "request-timeout") * 1000;
	w->pad_to = (size_t)h->opt_int(h, block, "padding");
	w->topic = h->opt_bool(h, block, "topic");
	w->queue_max = (size_t)h->opt_int(h, block, "queue-size");
	w->flight_max = (size_t)h->opt_int(h, block, "pool-size") *
	    WP_CONN_STREAMS;
	w->no_proxy = fcm_curl_no_proxy();
	w->curl = fcm_curl_new(h->base, h->opt_int(h, block, "pool-size"),
	    wp_curl_done);
	h->log(h, XP_LOG_INFO, "VAPID applicationServerKey %s, subject %s",
	    w->vapid.public_b64, w->subject);
	return w;
fail:
	wp_destroy(w);
	return NULL;
}

const struct xp_provider xpushd_provider = {
	.abi = XP_PROVIDER_ABI,
	.name = "webpush",
	.description = "Web Push (RFC 8030, RFC 8291, RFC 8292 VAPID)",
	.options = wp_options,
	.features = wp_features,
	.max_payload = WP_PAYLOAD_MAX,
	.create = wp_create,
	.check_token = wp_check_token,
	.send = wp_send,
	.status = wp_status,
	.destroy = wp_destroy,
};
