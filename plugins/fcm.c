/*
 * fcm.so: pushes to Android devices through Firebase Cloud Messaging, HTTP
 * v1 API (POST {endpoint}/v1/projects/{project}/messages:send), with OAuth2
 * access tokens from a service account (fcm_auth.c), over a libcurl multi
 * handle on xpushd's event loop (fcm_curl.c).
 *
 * The message is a data message, as Tigase's apps (Stork, Tigase
 * Messenger) expect: message.data holds account, sender, body,
 * unread-messages, nickname, encrypted and iv as strings (FCM refuses
 * other value types), plus type=call, sid and media for a Jingle call;
 * android.priority is HIGH for user-visible pushes, NORMAL otherwise;
 * android.ttl is the block's ttl, but call-lifetime (when shorter) for a
 * call (a Jingle proposal or a push to the VoIP token): a call that rings
 * a minute late is over.  A notification block is added only when the
 * configuration asks for one.
 *
 * Size: FCM refuses a message whose data map (keys and values, in bytes)
 * is over 4096 bytes (INVALID_ARGUMENT, "FCM error codes").  A body that
 * does not fit is cut on a UTF-8 character boundary and ends with U+2026;
 * an encrypted payload is never cut (the app could not decrypt it): when
 * it does not fit, the push goes without it, as a wake-up that names the
 * account, and is counted and logged.  The max-payload-size clients are
 * told (xpushd_provider.max_payload) is 4096 less every data key fcm.so
 * can write and the one value it writes itself ("call"): values up to it
 * always go whole.
 *
 * A relayed Push 2.0 payload (p->relay) goes as message.data.rfc8291, in
 * base64 (the key the Push 2.0 APNs relays use), with the android block
 * alone: never cut, refused when it does not fit.
 *
 * Access tokens are cached until shortly before they expire, and the next
 * one is fetched three quarters into a token's use, with or without
 * traffic, while sends go on with the current one.  At most one
 * token request is in flight; sends that need a token wait for it in one
 * queue (bounded by queue-size together with the sends in flight).  A 401
 * from messages:send drops the token, fetches a new one and retries that
 * message once.
 *
 * Errors: the table fcm_rules below (Google's ErrorCode reference and "FCM
 * error codes" page).  Only UNREGISTERED, SENDER_ID_MISMATCH and an
 * INVALID_ARGUMENT about the registration token say the token is dead; a
 * 404 without an errorCode is a project FCM does not know (configuration).
 * Timeouts, connection failures and an unreachable token endpoint are
 * XP_TEMPORARY; a refused token request is XP_AUTH_FAILED.
 * XP_AUTH_FAILED is logged as a warning once, when it starts; status()
 * reports the provider unusable until a token request or a send succeeds.
 *
 * Deviations: Google's endpoints are only defaults (endpoint, token_uri
 * and ca-file let the tests use a mock); a refused token request is
 * retried after a minute, an unreachable token endpoint after 1, 2, 4 ...
 * 30 seconds, and sends in between fail at once with the same outcome.
 *
 * Cost per push (a libcurl transfer is most of it): easy handles are kept
 * configured between sends (curl_easy_init and twenty setopts cost more
 * than the rest of the push), each with its header list, rebuilt only when
 * the access token changes; the message JSON is written straight into a
 * buffer; at most pool-size x FCM_CONN_STREAMS sends are handed to curl at
 * once, the rest wait in our own FIFO (curl would park them as "pending"
 * and retry a connection for each, allocating and freeing one every time);
 * request-timeout counts from that hand-over.  Proxies come from the
 * environment as curl reads them, but it is read once, at create: with no
 * https_proxy/all_proxy set, curl is told so and stops calling getenv(3)
 * six times per transfer.
 */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/queue.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <json-c/json.h>

#include "plugins/provider.h"
#include "plugins/fcm.h"

#define FCM_TOKEN_MAX		4096	/* device token length */
#define FCM_RESP_MAX		(64 * 1024)
#define FCM_DATA_MAX		4096	/* FCM's limit: data keys + values */
#define FCM_RELAY_KEY		"rfc8291"	/* a relayed Push 2.0 payload */
/* Every data key fcm.so writes, and the value it writes itself. */
#define FCM_OWN_KEYS	(sizeof("account") + sizeof("sender") + \
	sizeof("body") + sizeof("unread-messages") + sizeof("nickname") + \
	sizeof("encrypted") + sizeof("iv") + sizeof("type") + \
	sizeof("call") + sizeof("sid") + sizeof("media") - 11)
/* What a client may fill with values (max-payload-size). */
#define FCM_PAYLOAD_MAX		(FCM_DATA_MAX - FCM_OWN_KEYS)
#define FCM_DATA_FIELDS		10	/* data keys of one message */
#define FCM_AUTH_RETRY		60	/* s after a refused token */
#define FCM_TEMP_RETRY_MAX	30	/* seconds, token endpoint down */
#define FCM_TOKEN_MARGIN	300	/* refresh this long before expiry */
#define FCM_CONN_STREAMS	100	/* concurrent streams Google allows */
#define FCM_IDLE_MAX		1024	/* configured easy handles kept idle */
#define FCM_JSON_INITIAL	512	/* a message is ~300 bytes */

struct fcm;

/* An easy handle and its header list, configured once, reused. */
struct fcm_easy {
	SLIST_ENTRY(fcm_easy) entry;
	CURL		*easy;
	struct curl_slist *hdrs;	/* Content-Type, Authorization */
	unsigned int	 token_gen;	/* of the Authorization in hdrs */
};
SLIST_HEAD(fcm_easies, fcm_easy);

struct fcm_req {
	TAILQ_ENTRY(fcm_req) entry;
	struct fcm	*f;
	struct fcm_easy	*h;		/* while it has one */
	char		*body;
	size_t		 body_len;
	struct pu_buf	 resp;
	long		 retry_after;	/* -1: no Retry-After header */
	unsigned int	 token_gen;	/* access token it carries */
	bool		 retried;	/* after a 401 */
	xp_sent_cb	*cb;		/* NULL: the token request */
	void		*arg;
};
TAILQ_HEAD(fcm_reqs, fcm_req);

struct fcm {
	const struct xp_host *host;
	char		*id;
	struct fcm_sa	 sa;
	char		*project;
	char		*send_url;
	char		*ca_file;
	long		 ttl;
	long		 call_lifetime;	/* android.ttl of calls, s */
	unsigned long	 blobs_dropped;	/* encrypted payloads too big */
	long		 timeout_ms;
	bool		 notification;
	bool		 no_proxy;	/* the environment names none */
	size_t		 queue_max;
	size_t		 flight_max;	/* transfers handed to curl */
	size_t		 nflight;
	struct fcm_easies idle;		/* configured send handles */
	size_t		 nidle;
	struct fcm_curl	*curl;
	struct event	*auth_ev;	/* retries a token request */

	/* OAuth2 */
	char		*auth_hdr;	/* "Authorization: Bearer ..." */
	unsigned int	 token_gen;
	long long	 token_until;	/* monotonic ms */
	long long	 token_refresh;	/* monotonic ms: fetch the next one */
	struct fcm_req	*token_req;	/* the one in flight */
	long long	 auth_retry_at;	/* no token request before */
	enum xp_outcome	 auth_outcome;	/* of the last failure */
	char		*auth_reason;
	unsigned int	 auth_backoff;

	bool		 failing;	/* auth/config failure, logged */
	const char	*why;
	char		*why_buf;	/* a why naming the project */

	struct fcm_reqs	 waiting;	/* for an access token */
	struct fcm_reqs	 ready;		/* for room in flight */
	struct fcm_reqs	 flight;
	size_t		 outstanding;	/* accepted, not answered */
};

static void	fcm_token_fetch(struct fcm *);
static void	fcm_req_start(struct fcm_req *);
static void	fcm_req_submit(struct fcm_req *);
static size_t	fcm_write_cb(char *, size_t, size_t, void *);
static size_t	fcm_header_cb(char *, size_t, size_t, void *);

static const struct xp_option fcm_options[] = {
	{ "plugin", XP_OPT_STRING, "'fcm'", 0, 0,
	    "the provider module" },
	{ "service-account-file", XP_OPT_STRING, NULL, 0, 0,
	    "the service account JSON key file from the Firebase console" },
	{ "project-id", XP_OPT_STRING, "''", 0, 0,
	    "Firebase project id (default: the file's project_id)" },
	{ "endpoint", XP_OPT_STRING, "'https://fcm.googleapis.com'", 0, 0,
	    "FCM HTTP v1 base URL" },
	{ "ttl", XP_OPT_INTEGER, "2419200", 0, 2419200,
	    "seconds FCM keeps an undelivered message (android.ttl)" },
	{ "call-lifetime", XP_OPT_INTEGER, "30", 0, 2419200,
	    "seconds FCM keeps an undelivered call push (its android.ttl)" },
	{ "pool-size", XP_OPT_INTEGER, "1", 1, 64,
	    "HTTP/2 connections to FCM" },
	{ "request-timeout", XP_OPT_INTEGER, "30", 1, 600,
	    "seconds before a request counts as failed" },
	{ "queue-size", XP_OPT_INTEGER, "10000", 1, 1000000,
	    "sends in flight or waiting before send() refuses" },
	{ "ca-file", XP_OPT_STRING, "''", 0, 0,
	    "CA bundle to verify the endpoints with (tests)" },
	{ "notification", XP_OPT_BOOLEAN, "false", 0, 0,
	    "add a notification block to user-visible pushes" },
	{ "features", XP_OPT_STRLIST, "['tigase:push:encrypt:0', "
	    "'tigase:push:encrypt:aes-128-gcm', 'tigase:push:priority:0', "
	    "'tigase:push:jingle:0']", 0, 0,
	    "push extensions announced to clients" },
	{ NULL, XP_OPT_STRING, NULL, 0, 0, NULL },
};

static const char *const fcm_features[] = {
	"tigase:push:encrypt:0",
	"tigase:push:encrypt:aes-128-gcm",
	"tigase:push:priority:0",
	"tigase:push:jingle:0",
	NULL,
};

#ifdef FCM_TEST_HOOKS
/*
 * The test build only (test/fcm.mk builds fcm_hooks.so with it): the
 * test moves fcm.so's clock forward, so that token lifetimes and the
 * refresh timer are tested without waiting for them.
 */
extern long long fcm_test_clock_offset;
long long fcm_test_clock_offset;
#define FCM_CLOCK_OFFSET	fcm_test_clock_offset
#else
#define FCM_CLOCK_OFFSET	0
#endif

/* Monotonic milliseconds: token lifetimes must not follow the wall clock. */
static long long
fcm_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 +
	    FCM_CLOCK_OFFSET;
}

/* The request side. */

/* Every option that does not change from one transfer to the next. */
static struct fcm_easy *
fcm_easy_new(struct fcm *f, const char *url)
{
	struct fcm_easy *h = pu_calloc(1, sizeof(*h));
	CURL *e;

	h->easy = e = fcm_curl_easy(f->timeout_ms, f->ca_file, f->no_proxy,
	    fcm_write_cb, fcm_header_cb);
	curl_easy_setopt(e, CURLOPT_URL, url);
	return h;
}

static void
fcm_easy_free(struct fcm_easy *h)
{
	curl_easy_cleanup(h->easy);
	curl_slist_free_all(h->hdrs);
	free(h);
}

/* A send's handle, its Authorization the current access token's. */
static struct fcm_easy *
fcm_easy_get(struct fcm *f)
{
	struct fcm_easy *h;

	if ((h = SLIST_FIRST(&f->idle)) != NULL) {
		SLIST_REMOVE_HEAD(&f->idle, entry);
		f->nidle--;
	} else
		h = fcm_easy_new(f, f->send_url);
	return h;
}

static void
fcm_easy_put(struct fcm *f, struct fcm_easy *h)
{
	if (f->nidle >= FCM_IDLE_MAX) {
		fcm_easy_free(h);
		return;
	}
	SLIST_INSERT_HEAD(&f->idle, h, entry);
	f->nidle++;
}

static void
fcm_req_free(struct fcm_req *req)
{
	if (req->h != NULL) {
		if (req->cb != NULL)
			fcm_easy_put(req->f, req->h);
		else
			fcm_easy_free(req->h);
	}
	free(req->body);
	pu_buf_free(&req->resp);
	free(req);
}

/*
 * Answers a send now.  Callers run outside curl's callbacks (after
 * curl_multi_socket_action returned) or inside send(), whose answers the
 * host delivers from the loop.  A callback may send() again.
 */
static void
fcm_req_finish(struct fcm_req *req, enum xp_outcome outcome,
    unsigned int retry, const char *reason)
{
	struct fcm *f = req->f;

	f->outstanding--;
	req->cb(req->arg, outcome, retry, reason);
	fcm_req_free(req);
}

static size_t
fcm_write_cb(char *data, size_t size, size_t n, void *arg)
{
	struct fcm_req *req = arg;
	long status = 0;

	/* A send's 200 says nothing we read: no buffer for it. */
	if (req->cb != NULL && curl_easy_getinfo(req->h->easy,
	    CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status == 200)
		return size * n;
	pu_buf_add(&req->resp, data, size * n);
	return size * n;
}

/* Retry-After: delay-seconds or an HTTP-date (RFC 9110 section 10.2.3). */
static long
fcm_retry_after(const char *v)
{
	const char *p;
	time_t t;
	long n;

	for (p = v; isdigit((unsigned char)*p); p++)
		;
	if (p != v && *p == '\0') {
		n = strtol(v, NULL, 10);
		return n > 86400 ? 86400 : n;
	}
	if ((t = curl_getdate(v, NULL)) == -1)
		return -1;
	t -= time(NULL);
	return t < 0 ? 0 : t > 86400 ? 86400 : (long)t;
}

static size_t
fcm_header_cb(char *data, size_t size, size_t n, void *arg)
{
	struct fcm_req *req = arg;
	size_t len = size * n, i, j;
	char v[128];

	if (len > 12 && strncasecmp(data, "retry-after:", 12) == 0) {
		for (i = 12; i < len && (data[i] == ' ' || data[i] == '\t');
		    i++)
			;
		for (j = 0; i < len && j < sizeof(v) - 1 && data[i] != '\r' &&
		    data[i] != '\n'; i++, j++)
			v[j] = data[i];
		while (j > 0 && (v[j - 1] == ' ' || v[j - 1] == '\t'))
			j--;
		v[j] = '\0';
		req->retry_after = fcm_retry_after(v);
	}
	return len;
}

/* Ready the request's handle for one transfer of req->body. */
static void
fcm_req_setup(struct fcm_req *req)
{
	struct fcm *f = req->f;
	struct fcm_easy *h = req->h;
	CURL *e = h->easy;

	pu_buf_free(&req->resp);
	req->resp.max = FCM_RESP_MAX;
	req->retry_after = -1;
	if (req->cb != NULL && (h->hdrs == NULL ||
	    h->token_gen != f->token_gen)) {
		curl_slist_free_all(h->hdrs);
		h->hdrs = curl_slist_append(NULL,
		    "Content-Type: application/json");
		h->hdrs = curl_slist_append(h->hdrs, f->auth_hdr);
		if (h->hdrs == NULL)
			abort();
		h->token_gen = f->token_gen;
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->hdrs);
	}
	req->token_gen = h->token_gen;
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)req->body_len);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, req);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, req);
}

/* Hands the send to curl, or queues it while curl has enough. */
static void
fcm_req_start(struct fcm_req *req)
{
	struct fcm *f = req->f;

	if (f->nflight >= f->flight_max) {
		TAILQ_INSERT_TAIL(&f->ready, req, entry);
		return;
	}
	if (req->h == NULL)
		req->h = fcm_easy_get(f);
	fcm_req_setup(req);
	if (fcm_curl_add(f->curl, req->h->easy, req) == -1) {
		fcm_req_finish(req, XP_TEMPORARY, 0, "curl_multi_add_handle "
		    "failed");
		return;
	}
	TAILQ_INSERT_TAIL(&f->flight, req, entry);
	f->nflight++;
}

/* Failures. */

static void
fcm_fail_auth(struct fcm *f, const char *reason)
{
	if (f->failing) {
		f->host->log(f->host, XP_LOG_DEBUG, "%s",
		    reason);
		return;
	}
	f->failing = true;
	f->host->log(f->host, XP_LOG_WARN, "FCM refuses our "
	    "credentials or configuration: %s; check the service account "
	    "file and the project (not logged again until it works)", reason);
}

static void
fcm_recovered(struct fcm *f)
{
	if (!f->failing)
		return;
	f->failing = false;
	f->host->log(f->host, XP_LOG_INFO, "FCM accepts our "
	    "credentials again");
}

/* OAuth2 access tokens. */

static bool
fcm_token_valid(struct fcm *f)
{
	return f->auth_hdr != NULL && fcm_now() < f->token_until;
}

static void
fcm_token_failed(struct fcm *f, enum xp_outcome outcome, const char *reason)
{
	struct fcm_req *req;
	struct timeval tv;

	if (outcome == XP_AUTH_FAILED) {
		fcm_fail_auth(f, reason);
		f->auth_backoff = FCM_AUTH_RETRY;
		f->why = "FCM refuses the service account's credentials";
	} else {
		f->host->log(f->host, XP_LOG_WARN, "%s",
		    reason);
		f->auth_backoff = f->auth_backoff == 0 ? 1 :
		    f->auth_backoff * 2 > FCM_TEMP_RETRY_MAX ?
		    FCM_TEMP_RETRY_MAX : f->auth_backoff * 2;
		f->why = "the OAuth2 token endpoint cannot be reached";
	}
	f->auth_outcome = outcome;
	free(f->auth_reason);
	f->auth_reason = pu_strdup(reason);
	f->auth_retry_at = fcm_now() + f->auth_backoff * 1000LL;
	/* Try again by itself, so status() recovers without traffic. */
	tv.tv_sec = f->auth_backoff;
	tv.tv_usec = 0;
	evtimer_add(f->auth_ev, &tv);

	while ((req = TAILQ_FIRST(&f->waiting)) != NULL) {
		TAILQ_REMOVE(&f->waiting, req, entry);
		fcm_req_finish(req, outcome, 0, reason);
	}
}

static void
fcm_token_ok(struct fcm *f, const char *token, long expires_in)
{
	struct fcm_req *req;
	struct timeval tv;
	long long refresh_ms;
	long margin;

	margin = expires_in >= 4 * FCM_TOKEN_MARGIN ? FCM_TOKEN_MARGIN :
	    expires_in / 4;
	free(f->auth_hdr);
	f->auth_hdr = pu_asprintf("Authorization: Bearer %s", token);
	f->token_gen++;
	f->token_until = fcm_now() + (expires_in - margin) * 1000LL;
	/*
	 * The next token is fetched ahead, three quarters into this one's
	 * use, traffic or not: the first push after a quiet hour does not
	 * wait for the token endpoint, pushes meanwhile use this token, and
	 * revoked credentials show in status() before a push finds them.
	 */
	refresh_ms = (expires_in - margin) * 1000LL * 3 / 4;
	if (refresh_ms < 1000)
		refresh_ms = 1000;
	f->token_refresh = fcm_now() + refresh_ms;
	f->auth_backoff = 0;
	f->auth_retry_at = 0;
	f->why = NULL;
	tv.tv_sec = (time_t)(refresh_ms / 1000);
	tv.tv_usec = (suseconds_t)(refresh_ms % 1000) * 1000;
	evtimer_add(f->auth_ev, &tv);
	fcm_recovered(f);
	f->host->log(f->host, XP_LOG_DEBUG, "new access token, "
	    "valid %ld s", expires_in);
	while ((req = TAILQ_FIRST(&f->waiting)) != NULL) {
		TAILQ_REMOVE(&f->waiting, req, entry);
		fcm_req_start(req);
	}
}

static void
fcm_token_done(struct fcm *f, struct fcm_req *req, CURLcode rc)
{
	json_object *root = NULL, *v;
	const char *token = NULL, *err = NULL, *desc = NULL;
	long status = 0, expires = 0;
	char *reason;

	f->token_req = NULL;
	if (rc != CURLE_OK) {
		reason = pu_asprintf("OAuth2 token request to %s failed: %s",
		    f->sa.token_uri, curl_easy_strerror(rc));
		fcm_token_failed(f, XP_TEMPORARY, reason);
		goto out;
	}
	curl_easy_getinfo(req->h->easy, CURLINFO_RESPONSE_CODE, &status);
	if (!req->resp.overflow && req->resp.len > 0) {
		root = json_tokener_parse(req->resp.data);
	}
	if (root != NULL && json_object_is_type(root, json_type_object)) {
		if (json_object_object_get_ex(root, "access_token", &v) &&
		    json_object_is_type(v, json_type_string))
			token = json_object_get_string(v);
		if (json_object_object_get_ex(root, "expires_in", &v) &&
		    json_object_is_type(v, json_type_int))
			expires = json_object_get_int64(v);
		if (json_object_object_get_ex(root, "error", &v) &&
		    json_object_is_type(v, json_type_string))
			err = json_object_get_string(v);
		if (json_object_object_get_ex(root, "error_description", &v) &&
		    json_object_is_type(v, json_type_string))
			desc = json_object_get_string(v);
	}
	if (expires > 86400)	/* Google says 3600 */
		expires = 86400;
	if (status == 200 && token != NULL && *token != '\0' &&
	    strlen(token) < 8192 && strpbrk(token, "\r\n") == NULL &&
	    expires > 0) {
		fcm_token_ok(f, token, expires);
		reason = NULL;
	} else if (status == 200) {
		reason = pu_asprintf("OAuth2 token endpoint %s: no "
		    "access_token/expires_in in its answer", f->sa.token_uri);
		fcm_token_failed(f, XP_TEMPORARY, reason);
	} else if (status == 429 || status >= 500) {
		reason = pu_asprintf("OAuth2 token endpoint %s: HTTP %ld",
		    f->sa.token_uri, status);
		fcm_token_failed(f, XP_TEMPORARY, reason);
	} else {
		/* invalid_grant, invalid_client: the key or account is bad. */
		reason = pu_asprintf("OAuth2 token endpoint %s refused the "
		    "service account %s: HTTP %ld %s%s%s", f->sa.token_uri,
		    f->sa.client_email, status, err != NULL ? err : "",
		    desc != NULL ? ": " : "", desc != NULL ? desc : "");
		fcm_token_failed(f, XP_AUTH_FAILED, reason);
	}
	free(reason);
out:
	json_object_put(root);
	fcm_req_free(req);
}

static void
fcm_token_fetch(struct fcm *f)
{
	struct fcm_req *req;
	char *err = NULL;

	if (f->token_req != NULL)
		return;
	req = pu_calloc(1, sizeof(*req));
	req->f = f;
	if ((req->body = fcm_sa_token_request(&f->sa, time(NULL), &err)) ==
	    NULL) {
		free(req);
		fcm_token_failed(f, XP_AUTH_FAILED, err);
		free(err);
		return;
	}
	req->body_len = strlen(req->body);
	req->h = fcm_easy_new(f, f->sa.token_uri);
	if ((req->h->hdrs = curl_slist_append(NULL, "Content-Type: "
	    "application/x-www-form-urlencoded")) == NULL)
		abort();
	curl_easy_setopt(req->h->easy, CURLOPT_HTTPHEADER, req->h->hdrs);
	fcm_req_setup(req);
	if (fcm_curl_add(f->curl, req->h->easy, req) == -1) {
		fcm_req_free(req);
		fcm_token_failed(f, XP_TEMPORARY, "curl_multi_add_handle "
		    "failed");
		return;
	}
	f->token_req = req;
}

/*
 * The refresh (or retry) timer.  Whenever it fires it fetches (or finds a
 * fetch in flight, which arms it again when it ends) or arms itself again
 * for the time left: never neither (fcm_test's test_refresh_clock fires it
 * early by hand on fcm_hooks.so's clock).
 */
static void
fcm_auth_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fcm *f = arg;
	struct timeval tv;
	long long left;

	(void)fd;
	(void)what;
	if (!fcm_token_valid(f) || (left = f->token_refresh - fcm_now()) <= 0) {
		fcm_token_fetch(f);
		return;
	}
	/*
	 * Early by our clock: libevent's monotonic clock may be the coarse
	 * one, a tick behind.  Without this the refresh would wait for the
	 * next push, the very wait it exists to avoid.
	 */
	tv.tv_sec = (time_t)(left / 1000);
	tv.tv_usec = (suseconds_t)(left % 1000) * 1000;
	evtimer_add(f->auth_ev, &tv);
}

/* Sends: queue for a token, or go. */
static void
fcm_req_submit(struct fcm_req *req)
{
	struct fcm *f = req->f;

	if (fcm_token_valid(f)) {
		fcm_req_start(req);
		return;
	}
	if (f->token_req == NULL && fcm_now() < f->auth_retry_at) {
		fcm_req_finish(req, f->auth_outcome, 0, f->auth_reason);
		return;
	}
	TAILQ_INSERT_TAIL(&f->waiting, req, entry);
	fcm_token_fetch(f);
}

/* messages:send answers. */

struct fcm_error {
	long		 status;
	const char	*code;		/* FcmError's errorCode, or NULL */
	const char	*rpc_status;	/* error.status */
	const char	*message;
	bool		 about_token;	/* the message names the token */
};

/*
 * What an answer of messages:send means, first match wins.  From
 * Google's ErrorCode reference,
 * https://firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode, and
 * "FCM error codes", https://firebase.google.com/docs/cloud-messaging/
 * error-codes: the errorCode comes in error.details[] as
 * {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
 * "errorCode": ...}.  Only the rows marked dead delete a registration.
 * An errorCode this table does not know (UNSPECIFIED_ERROR) is judged by
 * the HTTP status.  A 401 without THIRD_PARTY_AUTH_ERROR first gets one
 * token refresh and one retry (fcm_send_answer).
 */
enum fcm_when {
	FCM_ALWAYS,
	FCM_ABOUT_TOKEN,	/* the message names the registration token */
};

static const struct fcm_rule {
	const char	*code;		/* errorCode; NULL: none matched */
	long		 status;	/* HTTP status; 0: any; 500: 5xx */
	enum fcm_when	 when;
	enum xp_outcome	 outcome;
} fcm_rules[] = {
	/* 404: the app was uninstalled or the token expired: dead. */
	{ "UNREGISTERED",	  0, FCM_ALWAYS,	XP_INVALID_TOKEN },
	/* 400: "The registration token is not a valid FCM registration
	   token": dead. */
	{ "INVALID_ARGUMENT",	  0, FCM_ABOUT_TOKEN,	XP_INVALID_TOKEN },
	/* 400: too big, a bad key or ttl: this push, not the device. */
	{ "INVALID_ARGUMENT",	  0, FCM_ALWAYS,	XP_PERMANENT },
	/* 403: the token is another Firebase project's: dead (the core's
	   mass-deletion guard counts these: a wrong project looks alike). */
	{ "SENDER_ID_MISMATCH",	  0, FCM_ALWAYS,	XP_INVALID_TOKEN },
	/* 429: Retry-After honoured. */
	{ "QUOTA_EXCEEDED",	  0, FCM_ALWAYS,	XP_RATE_LIMITED },
	/* 503, 500: retry with backoff. */
	{ "UNAVAILABLE",	  0, FCM_ALWAYS,	XP_TEMPORARY },
	{ "INTERNAL",		  0, FCM_ALWAYS,	XP_TEMPORARY },
	/* 401: the APNs certificate or Web Push key in the Firebase
	   project is wrong: our configuration, not the token. */
	{ "THIRD_PARTY_AUTH_ERROR", 0, FCM_ALWAYS,	XP_AUTH_FAILED },
	/* No errorCode.  404: the project in the URL does not exist (a
	   wrong project id): configuration, never the token. */
	{ NULL,			404, FCM_ALWAYS,	XP_AUTH_FAILED },
	{ NULL,			429, FCM_ALWAYS,	XP_RATE_LIMITED },
	{ NULL,			401, FCM_ALWAYS,	XP_AUTH_FAILED },
	/* PERMISSION_DENIED: the service account may not send. */
	{ NULL,			403, FCM_ALWAYS,	XP_AUTH_FAILED },
	{ NULL,			500, FCM_ALWAYS,	XP_TEMPORARY },
	/* Any other answer: this push cannot succeed. */
	{ NULL,			  0, FCM_ALWAYS,	XP_PERMANENT },
};

static bool
fcm_rule_matches(const struct fcm_rule *r, const struct fcm_error *e)
{
	if (r->code != NULL && (e->code == NULL || strcmp(r->code,
	    e->code) != 0))
		return false;
	if (r->status == 500 ? e->status < 500 :
	    r->status != 0 && r->status != e->status)
		return false;
	return r->when == FCM_ALWAYS || e->about_token;
}

static enum xp_outcome
fcm_error_outcome(const struct fcm_error *e)
{
	size_t i;

	for (i = 0; i < sizeof(fcm_rules) / sizeof(fcm_rules[0]); i++)
		if (fcm_rule_matches(&fcm_rules[i], e))
			return fcm_rules[i].outcome;
	return XP_PERMANENT;
}

static void
fcm_error_parse(json_object *root, struct fcm_error *e)
{
	json_object *err, *v, *details, *d, *fv, *x;
	size_t i, j;

	if (root == NULL || !json_object_object_get_ex(root, "error", &err) ||
	    !json_object_is_type(err, json_type_object))
		return;
	if (json_object_object_get_ex(err, "status", &v) &&
	    json_object_is_type(v, json_type_string))
		e->rpc_status = json_object_get_string(v);
	if (json_object_object_get_ex(err, "message", &v) &&
	    json_object_is_type(v, json_type_string))
		e->message = json_object_get_string(v);
	if (e->message != NULL && strcasestr(e->message,
	    "registration token") != NULL)
		e->about_token = true;
	if (!json_object_object_get_ex(err, "details", &details) ||
	    !json_object_is_type(details, json_type_array))
		return;
	for (i = 0; i < json_object_array_length(details); i++) {
		d = json_object_array_get_idx(details, i);
		if (!json_object_is_type(d, json_type_object) ||
		    !json_object_object_get_ex(d, "@type", &v) ||
		    !json_object_is_type(v, json_type_string))
			continue;
		if (strstr(json_object_get_string(v),
		    "google.firebase.fcm.v1.FcmError") != NULL &&
		    json_object_object_get_ex(d, "errorCode", &x) &&
		    json_object_is_type(x, json_type_string))
			e->code = json_object_get_string(x);
		if (!json_object_object_get_ex(d, "fieldViolations", &fv) ||
		    !json_object_is_type(fv, json_type_array))
			continue;
		for (j = 0; j < json_object_array_length(fv); j++) {
			x = json_object_array_get_idx(fv, j);
			if (json_object_is_type(x, json_type_object) &&
			    json_object_object_get_ex(x, "field", &v) &&
			    json_object_is_type(v, json_type_string) &&
			    strcmp(json_object_get_string(v),
			    "message.token") == 0)
				e->about_token = true;
		}
	}
}

static void
fcm_send_answer(struct fcm *f, struct fcm_req *req, CURLcode rc)
{
	struct fcm_error e = { 0 };
	json_object *root = NULL;
	enum xp_outcome outcome;
	unsigned int retry;
	char *reason;

	if (rc != CURLE_OK) {
		reason = pu_asprintf("FCM: %s", curl_easy_strerror(rc));
		fcm_req_finish(req, XP_TEMPORARY, 0, reason);
		free(reason);
		return;
	}
	curl_easy_getinfo(req->h->easy, CURLINFO_RESPONSE_CODE, &e.status);
	if (e.status == 200) {
		fcm_recovered(f);
		fcm_req_finish(req, XP_SENT, 0, NULL);
		return;
	}
	if (!req->resp.overflow && req->resp.len > 0) {
		root = json_tokener_parse(req->resp.data);
	}
	fcm_error_parse(root, &e);
	retry = req->retry_after > 0 ? (unsigned int)req->retry_after : 0;

	if (e.status == 401 && (e.code == NULL ||
	    strcmp(e.code, "THIRD_PARTY_AUTH_ERROR") != 0) && !req->retried) {
		/* The token expired or was revoked: one refresh, one retry. */
		req->retried = true;
		if (req->token_gen == f->token_gen)
			f->token_until = 0;
		f->host->log(f->host, XP_LOG_DEBUG, "401, refreshing "
		    "the access token");
		json_object_put(root);
		fcm_req_submit(req);
		return;
	}
	outcome = fcm_error_outcome(&e);
	reason = pu_asprintf("FCM: HTTP %ld %s%s%s", e.status,
	    e.code != NULL ? e.code : e.rpc_status != NULL ? e.rpc_status :
	    "", e.message != NULL ? ": " : "",
	    e.message != NULL ? e.message : "");
	if (outcome == XP_AUTH_FAILED && e.status == 404 && e.code == NULL) {
		free(f->why_buf);
		f->why_buf = pu_asprintf("FCM knows no project '%s' (HTTP 404 "
		    "from %s): a wrong project-id or service account file",
		    f->project, f->send_url);
		fcm_fail_auth(f, f->why_buf);
		f->why = f->why_buf;
	} else if (outcome == XP_AUTH_FAILED) {
		fcm_fail_auth(f, reason);
		f->why = "FCM refuses our credentials or configuration";
	}
	fcm_req_finish(req, outcome, retry, reason);
	free(reason);
	json_object_put(root);
}

/* Room in flight: the queued sends go, in order. */
static void
fcm_pump(struct fcm *f)
{
	struct fcm_req *req;

	while (f->nflight < f->flight_max &&
	    (req = TAILQ_FIRST(&f->ready)) != NULL) {
		TAILQ_REMOVE(&f->ready, req, entry);
		fcm_req_submit(req);
	}
}

static void
fcm_send_done(struct fcm *f, struct fcm_req *req, CURLcode rc)
{
	TAILQ_REMOVE(&f->flight, req, entry);
	f->nflight--;
	fcm_send_answer(f, req, rc);
	fcm_pump(f);
}

static void
fcm_curl_done(CURL *easy, CURLcode rc, void *arg)
{
	struct fcm_req *req = arg;
	struct fcm *f = req->f;

	(void)easy;
	if (req == f->token_req)
		fcm_token_done(f, req, rc);
	else
		fcm_send_done(f, req, rc);
}

/*
 * The message, written straight into a buffer (libxpplug's JSON writer):
 * json-c built a tree of a dozen objects to print it once.  UTF-8 passes
 * through unchanged; the core checked it.
 */

/* ,"key":"value" (no comma first), or nothing when value is NULL. */
static void
fcm_json_kv(struct pu_buf *b, bool *first, const char *key,
    const char *value)
{
	if (value == NULL)
		return;
	pu_json_key(b, first, key);
	pu_json_str(b, value, strlen(value));
}

static void
fcm_json_lit(struct pu_buf *b, const char *s)
{
	pu_buf_add(b, s, strlen(s));
}

/* One member of message.data. */
struct fcm_field {
	const char	*key;
	const char	*value;
	size_t		 len;
};

struct fcm_data {
	struct fcm_field f[FCM_DATA_FIELDS];
	size_t		 n;
	size_t		 size;		/* keys + values, as FCM counts */
};

static void
fcm_data_add(struct fcm_data *d, const char *key, const char *value,
    size_t len)
{
	if (value == NULL)
		return;
	d->f[d->n++] = (struct fcm_field){ key, value, len };
	d->size += strlen(key) + len;
}

/*
 * message.data of p, with body (may be NULL) of blen bytes; without blob,
 * the wake-up: the account, the count and a call's keys, no content.
 */
static void
fcm_data_make(struct fcm_data *d, const struct xp_push *p, const char *body,
    size_t blen, bool blob, const char *unread)
{
	memset(d, 0, sizeof(*d));
	fcm_data_add(d, "account", p->account, p->account != NULL ?
	    strlen(p->account) : 0);
	if (blob) {
		fcm_data_add(d, "sender", p->sender, p->sender != NULL ?
		    strlen(p->sender) : 0);
		fcm_data_add(d, "body", body, blen);
	}
	fcm_data_add(d, "unread-messages", unread, unread != NULL ?
	    strlen(unread) : 0);
	if (blob) {
		fcm_data_add(d, "nickname", p->nickname, p->nickname != NULL ?
		    strlen(p->nickname) : 0);
		fcm_data_add(d, "encrypted", p->encrypted, p->encrypted !=
		    NULL ? strlen(p->encrypted) : 0);
		fcm_data_add(d, "iv", p->iv, p->iv != NULL ? strlen(p->iv) :
		    0);
	}
	/* A call's wake-up still says it is one. */
	if (p->kind == XP_KIND_CALL) {
		fcm_data_add(d, "type", "call", 4);
		fcm_data_add(d, "sid", p->jingle_sid, p->jingle_sid != NULL ?
		    strlen(p->jingle_sid) : 0);
		fcm_data_add(d, "media", p->jingle_media, p->jingle_media !=
		    NULL ? strlen(p->jingle_media) : 0);
	}
}

/*
 * message.data within FCM_DATA_MAX: the body cut when it must be (into
 * *cut_r, malloc'd), or, for an encrypted payload that does not fit, the
 * wake-up without it (*dropped_r).  -1 when nothing fits.
 */
static int
fcm_data_fit(struct fcm_data *d, const struct xp_push *p, const char *unread,
    char **cut_r, bool *dropped_r)
{
	size_t blen = p->body != NULL ? strlen(p->body) : 0, other, n;
	char *b;

	*cut_r = NULL;
	*dropped_r = false;
	fcm_data_make(d, p, p->body, blen, true, unread);
	if (d->size <= FCM_DATA_MAX)
		return 0;
	if (p->encrypted == NULL && p->body != NULL) {
		other = d->size - blen;
		if (other + sizeof(PU_ELLIPSIS) - 1 <= FCM_DATA_MAX) {
			n = pu_utf8_cut(p->body, blen, FCM_DATA_MAX - other -
			    (sizeof(PU_ELLIPSIS) - 1));
			b = pu_malloc(n + sizeof(PU_ELLIPSIS));
			memcpy(b, p->body, n);
			memcpy(b + n, PU_ELLIPSIS, sizeof(PU_ELLIPSIS));
			*cut_r = b;
			fcm_data_make(d, p, b, n + sizeof(PU_ELLIPSIS) - 1,
			    true, unread);
			return 0;
		}
	}
	/* Never a cut blob: the app could not decrypt it. */
	if (p->encrypted != NULL) {
		fcm_data_make(d, p, NULL, 0, false, unread);
		*dropped_r = true;
		if (d->size <= FCM_DATA_MAX)
			return 0;
	}
	return -1;
}

static char *
fcm_message(struct fcm *f, const struct xp_push *p, size_t *len_r,
    const char **error_r)
{
	struct pu_buf b = { 0 };
	struct fcm_data d;
	char num[32], unread[32], *cut;
	const char *body;
	bool first, dropped;
	long ttl;
	size_t i;

	if (p->unread >= 0)
		snprintf(unread, sizeof(unread), "%ld", p->unread);
	if (fcm_data_fit(&d, p, p->unread >= 0 ? unread : NULL, &cut,
	    &dropped) == -1) {
		*error_r = "the message does not fit FCM's 4096-byte data "
		    "limit even without its body";
		return NULL;
	}
	if (dropped) {
		f->blobs_dropped++;
		f->host->log(f->host, XP_LOG_INFO, "an encrypted payload of "
		    "%zu bytes does not fit FCM's %d-byte data limit: sent a "
		    "wake-up for %s without it (%lu so far)",
		    strlen(p->encrypted), FCM_DATA_MAX, p->account != NULL ?
		    p->account : "?", f->blobs_dropped);
	}
	if ((b.data = malloc(FCM_JSON_INITIAL)) == NULL)
		abort();
	b.cap = FCM_JSON_INITIAL;
	fcm_json_lit(&b, "{\"message\":{\"token\":");
	pu_json_str(&b, p->token, strlen(p->token));

	fcm_json_lit(&b, ",\"data\":{");
	first = true;
	for (i = 0; i < d.n; i++) {
		pu_json_key(&b, &first, d.f[i].key);
		pu_json_str(&b, d.f[i].value, d.f[i].len);
	}
	fcm_json_lit(&b, "}");

	ttl = f->ttl;
	if ((p->kind == XP_KIND_CALL || p->voip) && f->call_lifetime < ttl)
		ttl = f->call_lifetime;
	fcm_json_lit(&b, p->prio == XP_PRIO_HIGH ?
	    ",\"android\":{\"priority\":\"HIGH\",\"ttl\":" :
	    ",\"android\":{\"priority\":\"NORMAL\",\"ttl\":");
	snprintf(num, sizeof(num), "%lds", ttl);
	pu_json_str(&b, num, strlen(num));
	fcm_json_lit(&b, "}");

	if (f->notification && p->prio == XP_PRIO_HIGH) {
		body = cut != NULL ? cut : dropped ? NULL : p->body;
		fcm_json_lit(&b, ",\"notification\":{");
		first = true;
		fcm_json_kv(&b, &first, "title", p->nickname != NULL ?
		    p->nickname : p->sender != NULL ? p->sender : p->account);
		fcm_json_kv(&b, &first, "body", body != NULL ? body :
		    p->kind == XP_KIND_CALL ? "Incoming call" :
		    "New message");
		fcm_json_lit(&b, "}");
	}
	fcm_json_lit(&b, "}}");
	free(cut);
	*len_r = b.len;
	return b.data;
}

/* android.priority and android.ttl of a relay, as fcm_message writes them. */
static void
fcm_android(struct fcm *f, struct pu_buf *b, const struct xp_push *p)
{
	char num[32];
	long ttl;

	ttl = f->ttl;
	if ((p->kind == XP_KIND_CALL || p->voip) && f->call_lifetime < ttl)
		ttl = f->call_lifetime;
	fcm_json_lit(b, p->prio == XP_PRIO_HIGH ?
	    ",\"android\":{\"priority\":\"HIGH\",\"ttl\":" :
	    ",\"android\":{\"priority\":\"NORMAL\",\"ttl\":");
	snprintf(num, sizeof(num), "%lds", ttl);
	pu_json_str(b, num, strlen(num));
	fcm_json_lit(b, "}");
}

/* A Push 2.0 relay: the client's ciphertext, whole or not at all. */
static char *
fcm_relay_message(struct fcm *f, const struct xp_push *p, size_t *len_r,
    const char **error_r)
{
	struct pu_buf b = { 0 };
	bool first = true;
	char *b64;

	b64 = pu_b64(p->relay, p->relay_len);
	if (strlen(FCM_RELAY_KEY) + strlen(b64) > FCM_DATA_MAX) {
		free(b64);
		*error_r = "the relayed payload does not fit FCM's 4096-byte "
		    "data limit";
		return NULL;
	}
	fcm_json_lit(&b, "{\"message\":{\"token\":");
	pu_json_str(&b, p->token, strlen(p->token));
	fcm_json_lit(&b, ",\"data\":{");
	fcm_json_kv(&b, &first, FCM_RELAY_KEY, b64);
	free(b64);
	fcm_json_lit(&b, "}");
	fcm_android(f, &b, p);
	fcm_json_lit(&b, "}}");
	*len_r = b.len;
	return b.data;
}

/* The provider contract. */

static int
fcm_check_token(void *self, const char *token, bool voip, char **error_r)
{
	size_t i;

	(void)self;
	(void)voip;
	for (i = 0; token[i] != '\0'; i++)
		if (token[i] <= ' ' || token[i] > '~') {
			*error_r = pu_strdup("an FCM registration token is "
			    "printable ASCII without spaces");
			return -1;
		}
	if (i == 0 || i > FCM_TOKEN_MAX) {
		*error_r = pu_asprintf("an FCM registration token has 1 to %d "
		    "characters", FCM_TOKEN_MAX);
		return -1;
	}
	return 0;
}

static int
fcm_send(void *self, const struct xp_push *p, xp_sent_cb *cb, void *arg)
{
	struct fcm *f = self;
	struct fcm_req *req;
	const char *why;
	char *err = NULL;

	if (f->outstanding >= f->queue_max)
		return -1;
	req = pu_calloc(1, sizeof(*req));
	req->f = f;
	req->cb = cb;
	req->arg = arg;
	f->outstanding++;
	if (p->token == NULL || fcm_check_token(f, p->token, p->voip,
	    &err) == -1) {
		req->body = pu_strdup("");
		fcm_req_finish(req, XP_INVALID_TOKEN, 0, err != NULL ? err :
		    "no device token");
		free(err);
		return 0;
	}
	if ((req->body = p->relay != NULL ?
	    fcm_relay_message(f, p, &req->body_len, &why) :
	    fcm_message(f, p, &req->body_len, &why)) == NULL) {
		req->body = pu_strdup("");
		fcm_req_finish(req, XP_PERMANENT, 0, why);
		return 0;
	}
	fcm_req_submit(req);
	return 0;
}

static int
fcm_status(void *self, const char **why_r)
{
	struct fcm *f = self;

	if (f->failing || (f->auth_retry_at != 0 && f->token_req == NULL &&
	    !fcm_token_valid(f))) {
		*why_r = f->why != NULL ? f->why :
		    "FCM refuses our credentials or configuration";
		return -1;
	}
	return 0;
}

static void
fcm_answer_all(struct fcm_reqs *list, bool removing, struct fcm *f)
{
	struct fcm_req *req;

	while ((req = TAILQ_FIRST(list)) != NULL) {
		TAILQ_REMOVE(list, req, entry);
		if (removing && req->h != NULL)
			fcm_curl_remove(f->curl, req->h->easy);
		fcm_req_finish(req, XP_TEMPORARY, 0, "the FCM provider is "
		    "shutting down");
	}
}

static void
fcm_destroy(void *self)
{
	struct fcm *f = self;
	struct fcm_easy *h;

	if (f == NULL)
		return;
	if (f->token_req != NULL) {
		fcm_curl_remove(f->curl, f->token_req->h->easy);
		fcm_req_free(f->token_req);
		f->token_req = NULL;
	}
	if (f->curl != NULL) {
		fcm_answer_all(&f->flight, true, f);
		fcm_answer_all(&f->waiting, false, f);
		fcm_answer_all(&f->ready, false, f);
	}
	while ((h = SLIST_FIRST(&f->idle)) != NULL) {
		SLIST_REMOVE_HEAD(&f->idle, entry);
		fcm_easy_free(h);
	}
	fcm_curl_free(&f->curl);
	if (f->auth_ev != NULL)
		event_free(f->auth_ev);
	fcm_sa_free(&f->sa);
	free(f->id);
	free(f->project);
	free(f->why_buf);
	free(f->send_url);
	free(f->ca_file);
	free(f->auth_hdr);
	free(f->auth_reason);
	free(f);
	curl_global_cleanup();
}

static void *
fcm_create(const struct xp_host *host, const void *block, const char *id,
    char **error_r)
{
	const struct xp_host *h = host;
	const char *s, *project, *endpoint;
	curl_version_info_data *cv;
	struct fcm *f;
	size_t len;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		*error_r = pu_strdup("curl_global_init failed");
		return NULL;
	}
	cv = curl_version_info(CURLVERSION_NOW);
	if (!(cv->features & CURL_VERSION_HTTP2)) {
		curl_global_cleanup();
		*error_r = pu_asprintf("libcurl %s has no HTTP/2 support",
		    cv->version);
		return NULL;
	}
	f = pu_calloc(1, sizeof(*f));
	f->host = host;
	f->id = pu_strdup(id);
	TAILQ_INIT(&f->waiting);
	TAILQ_INIT(&f->ready);
	TAILQ_INIT(&f->flight);
	SLIST_INIT(&f->idle);

	s = h->opt_str(h, block, "service-account-file");
	if (fcm_sa_load(s, &f->sa, error_r) == -1)
		goto fail;
	project = h->opt_str(h, block, "project-id");
	if (project == NULL || *project == '\0')
		project = f->sa.project_id;
	if (strspn(project, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:") != strlen(project)) {
		*error_r = pu_asprintf("project id '%s' holds characters a "
		    "Firebase project id cannot", project);
		goto fail;
	}
	endpoint = h->opt_str(h, block, "endpoint");
	if (strncmp(endpoint, "https://", 8) != 0) {
		*error_r = pu_asprintf("endpoint '%s' must be https://",
		    endpoint);
		goto fail;
	}
	len = strlen(endpoint);
	while (len > 8 && endpoint[len - 1] == '/')
		len--;
	f->project = pu_strdup(project);
	f->send_url = pu_asprintf("%.*s/v1/projects/%s/messages:send",
	    (int)len, endpoint, project);
	s = h->opt_str(h, block, "ca-file");
	f->ca_file = s != NULL && *s != '\0' ? pu_strdup(s) : NULL;
	f->ttl = h->opt_int(h, block, "ttl");
	f->call_lifetime = h->opt_int(h, block, "call-lifetime");
	f->timeout_ms = h->opt_int(h, block, "request-timeout") * 1000;
	f->queue_max = h->opt_int(h, block, "queue-size");
	f->notification = h->opt_bool(h, block, "notification");
	f->flight_max = (size_t)h->opt_int(h, block, "pool-size") *
	    FCM_CONN_STREAMS;
	f->no_proxy = fcm_curl_no_proxy();

	f->curl = fcm_curl_new(h->base, h->opt_int(h, block, "pool-size"),
	    fcm_curl_done);
	f->auth_ev = evtimer_new(h->base, fcm_auth_cb, f);
	if (f->auth_ev == NULL)
		abort();
	h->log(h, XP_LOG_INFO, "project %s, service account %s, "
	    "%s", project, f->sa.client_email, f->send_url);
	return f;
fail:
	fcm_destroy(f);
	return NULL;
}

const struct xp_provider xpushd_provider = {
	.abi = XP_PROVIDER_ABI,
	.name = "fcm",
	.description = "Firebase Cloud Messaging, HTTP v1 API",
	.options = fcm_options,
	.features = fcm_features,
	.max_payload = FCM_PAYLOAD_MAX,
	.create = fcm_create,
	.check_token = fcm_check_token,
	.send = fcm_send,
	.status = fcm_status,
	.destroy = fcm_destroy,
};
