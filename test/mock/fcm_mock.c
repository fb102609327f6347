/*
 * fcm_mock: a fake Firebase Cloud Messaging HTTP v1 API and Google OAuth2
 * token endpoint over real HTTP/2 and TLS (ALPN h2 only), for the
 * benchmark and the tests.  It speaks what test/mock/fcm_mock.py speaks,
 * at C speed: the Python mock saturates a core near 4,000 requests/s.
 *
 *	fcm_mock --cert C --key K --service-account SA.json [options]
 *
 *	--port N		0: any free port
 *	--port-file FILE	write the port there once listening
 *	--record FILE		one JSON line per request (not the controls):
 *				method, path, headers, body, status, time
 *	--token-lifetime S	access tokens' expires_in (3600)
 *	--slow S		delay of the "slow" device tokens (2.0)
 *	--max-streams N		SETTINGS_MAX_CONCURRENT_STREAMS (100, what
 *				Google's front ends announce)
 *	--quiet			no log line per refused request
 *
 *	POST /token		OAuth2 JWT bearer grant (RFC 7523 section
 *				2.1): the RS256 assertion is verified against
 *				the service account's public key; iss, scope,
 *				aud, iat and exp are checked
 *	POST /v1/projects/P/messages:send
 *				a bearer token this mock issued and that has
 *				not expired; the message JSON checked as FCM
 *				does for the fields xpushd sends; answered by
 *				the device token's prefix
 *	GET  /control/stats	counters as JSON (send_ok: 200 answers)
 *	POST /control/token	an access token for the test's own sends
 *	POST /control/revoke	forget every access token (next send: 401)
 *	POST /control/reject-auth, /control/accept-auth
 *				token requests get 400 invalid_grant, or not
 *	POST /control/reset	zero the counters
 *
 * Device token prefixes (https://firebase.google.com/docs/reference/fcm/
 * rest/v1/ErrorCode): unregistered 404 UNREGISTERED; invalid 400
 * INVALID_ARGUMENT about the registration token; badarg 400
 * INVALID_ARGUMENT about something else; quota 429 QUOTA_EXCEEDED with
 * Retry-After: 7; quotadate the same with an HTTP-date; unavailable 503;
 * internal 500; unspecified 500 UNSPECIFIED_ERROR; sendermismatch 403
 * SENDER_ID_MISMATCH; thirdparty 401 THIRD_PARTY_AUTH_ERROR; forbidden
 * 403 PERMISSION_DENIED; notfound 404 NOT_FOUND without an errorCode (what
 * a wrong project id gets); slow 200 after --slow seconds; stall 200
 * after STALL_S (60) seconds, for tests that must find a send still in
 * flight however slow the machine; anything else
 * 200 {"name": "projects/P/messages/0:N"}.  A message whose data (keys
 * and values, in bytes) is over 4096 bytes gets 400 INVALID_ARGUMENT
 * "Message is too big", as FCM answers it, whatever the token.
 *
 * Counters go to stderr on SIGUSR1 and at exit (SIGTERM, SIGINT).
 */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <json-c/json.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "test/mock/h2srv.h"

#define SCOPE		"https://www.googleapis.com/auth/firebase.messaging"
#define GRANT		"urn:ietf:params:oauth:grant-type:jwt-bearer"
#define FCM_ERROR	"type.googleapis.com/google.firebase.fcm.v1.FcmError"
#define BAD_REQUEST	"type.googleapis.com/google.rpc.BadRequest"
#define MAX_STREAMS	100	/* per connection, as Google announces */
#define MAX_TOKENS	256	/* issued and remembered at once */
#define TOKEN_LEN	64	/* "ya29.mock-N-<16 hex>" and room */
#define JWT_LIFETIME	3600	/* exp - iat, as Google requires */
#define JWT_SKEW	60	/* s an iat may lie in the future */
#define RETRY_AFTER	7	/* s, the quota answers' Retry-After */
#define SA_MAX		(64 * 1024)
#define FORM_MAX	8192	/* a decoded form value */
#define DATA_MAX	4096	/* FCM's limit: data keys + values, bytes */
#define STALL_S		60.0	/* the "stall" tokens' answer: after any test */

struct token {
	char		 s[TOKEN_LEN];
	long long	 until;		/* monotonic ms */
};

struct stats {
	unsigned long	 token, token_ok, send, send_ok, connections, open;
	unsigned long	 max_streams, unauthorized;
};

static struct {
	struct event_base *base;
	struct h2srv	*srv;
	EVP_PKEY	*pubkey;	/* the service account's */
	char		*email;
	char		*token_uri;
	const char	*token_path;	/* inside token_uri */
	char		*project;
	char		*send_path;
	struct token	 tokens[MAX_TOKENS];
	size_t		 ntokens;
	bool		 reject_auth;
	struct stats	 st;
	unsigned long	 n;		/* message names, token serials */
	long		 lifetime;
	double		 slow;
	FILE		*record;
	bool		 quiet;
	json_tokener	*tok;
} mock;

/* A connection's scratch: counted once it carries FCM traffic. */
struct conn {
	bool		 counted;
};

struct slow {
	struct h2srv_req *req;
	struct event	*ev;
};

struct answer {
	int		 status;
	char		*body;		/* malloc'd */
	const char	*retry_after;	/* header value, or NULL */
	char		 date[64];
};

static void
usage(void)
{
	fprintf(stderr, "usage: fcm_mock --cert FILE --key FILE "
	    "--service-account FILE [--port N]\n\t[--port-file FILE] "
	    "[--record FILE] [--token-lifetime S] [--slow S]\n"
	    "\t[--max-streams N] [--quiet]\n");
	exit(2);
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *
xstrdup(const char *s)
{
	char *p;

	if ((p = strdup(s)) == NULL)
		abort();
	return p;
}

static char *
json_text(json_object *o)
{
	char *s = xstrdup(json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));

	json_object_put(o);
	return s;
}

/* A whole JSON document, or NULL (trailing bytes other than space too). */
static json_object *
json_parse(const char *s, size_t len)
{
	json_object *o;
	size_t end;

	json_tokener_reset(mock.tok);
	o = json_tokener_parse_ex(mock.tok, s, (int)len);
	if (o == NULL || json_tokener_get_error(mock.tok) !=
	    json_tokener_success) {
		json_object_put(o);
		return NULL;
	}
	for (end = json_tokener_get_parse_end(mock.tok); end < len; end++)
		if (strchr(" \t\r\n", s[end]) == NULL) {
			json_object_put(o);
			return NULL;
		}
	return o;
}

static const char *
json_str(json_object *o, const char *key)
{
	json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static void
print_stats(void)
{
	fprintf(stderr, "fcm_mock: token %lu token_ok %lu send %lu send_ok "
	    "%lu unauthorized %lu connections %lu max_streams %lu\n",
	    mock.st.token, mock.st.token_ok, mock.st.send, mock.st.send_ok,
	    mock.st.unauthorized, mock.st.connections, mock.st.max_streams);
}

/* Base64url, padding optional (RFC 7515 section 2). */
static int
b64url_value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '-' ? 62 : c == '_' ? 63 : -1;
}

static unsigned char *
b64url_decode(const char *s, size_t len, size_t *len_r)
{
	unsigned char *out;
	unsigned long acc = 0;
	size_t i, n = 0;
	int v, bits = 0;

	while (len > 0 && s[len - 1] == '=')
		len--;
	if ((out = malloc(len * 3 / 4 + 2)) == NULL)
		abort();
	for (i = 0; i < len; i++) {
		if ((v = b64url_value((unsigned char)s[i])) < 0) {
			free(out);
			return NULL;
		}
		acc = (acc << 6 | (unsigned long)v) & 0xffffff;
		if ((bits += 6) >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	out[n] = '\0';
	*len_r = n;
	return out;
}

/* application/x-www-form-urlencoded: the value of key, decoded. */
static int
form_value(const char *body, const char *key, char *out, size_t outlen)
{
	size_t klen = strlen(key), n;
	const char *p = body, *end;
	unsigned int c;

	while (*p != '\0') {
		end = p + strcspn(p, "&");
		if ((size_t)(end - p) > klen && strncmp(p, key, klen) == 0 &&
		    p[klen] == '=') {
			for (p += klen + 1, n = 0; p < end; p++) {
				if (n + 1 >= outlen)
					return -1;
				if (*p == '%') {
					if (end - p < 3 ||
					    sscanf(p + 1, "%2x", &c) != 1)
						return -1;
					out[n++] = (char)c;
					p += 2;
				} else
					out[n++] = *p == '+' ? ' ' : *p;
			}
			out[n] = '\0';
			return 0;
		}
		p = *end == '&' ? end + 1 : end;
	}
	return -1;
}

/* Answers. */

static void
answer_json(struct answer *a, int status, json_object *doc)
{
	a->status = status;
	a->body = json_text(doc);
}

static void
answer_token_error(struct answer *a, const char *error, const char *desc)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "error", json_object_new_string(error));
	if (desc != NULL)
		json_object_object_add(o, "error_description",
		    json_object_new_string(desc));
	answer_json(a, 400, o);
}

/* Google's error body: error.code/message/status/details. */
static void
answer_fcm_error(struct answer *a, int code, const char *status,
    const char *message, const char *error_code, const char *violation)
{
	json_object *o, *e, *details, *d, *fv, *v;

	e = json_object_new_object();
	json_object_object_add(e, "code", json_object_new_int(code));
	json_object_object_add(e, "message", json_object_new_string(message));
	json_object_object_add(e, "status", json_object_new_string(status));
	details = json_object_new_array();
	if (violation != NULL) {
		d = json_object_new_object();
		json_object_object_add(d, "@type",
		    json_object_new_string(BAD_REQUEST));
		v = json_object_new_object();
		json_object_object_add(v, "field",
		    json_object_new_string("message"));
		json_object_object_add(v, "description",
		    json_object_new_string(violation));
		fv = json_object_new_array();
		json_object_array_add(fv, v);
		json_object_object_add(d, "fieldViolations", fv);
		json_object_array_add(details, d);
	}
	if (error_code != NULL) {
		d = json_object_new_object();
		json_object_object_add(d, "@type",
		    json_object_new_string(FCM_ERROR));
		json_object_object_add(d, "errorCode",
		    json_object_new_string(error_code));
		json_object_array_add(details, d);
	}
	json_object_object_add(e, "details", details);
	o = json_object_new_object();
	json_object_object_add(o, "error", e);
	answer_json(a, code, o);
}

static void
record(struct h2srv_req *req, const struct answer *a)
{
	json_object *o, *b;
	struct timespec ts;
	const char *body;
	size_t len;

	if (mock.record == NULL)
		return;
	o = h2srv_req_record(req);
	body = h2srv_req_body(req, &len);
	if ((b = json_parse(body, len)) == NULL)
		b = json_object_new_string_len(body, (int)len);
	json_object_object_add(o, "body", b);
	json_object_object_add(o, "status", json_object_new_int(a->status));
	clock_gettime(CLOCK_REALTIME, &ts);
	json_object_object_add(o, "time", json_object_new_double(ts.tv_sec +
	    ts.tv_nsec / 1e9));
	fprintf(mock.record, "%s\n", json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	fflush(mock.record);
	json_object_put(o);
}

static void
respond(struct h2srv_req *req, struct answer *a)
{
	struct h2srv_hdr h[3];
	char len[24];
	size_t n = 0, blen = strlen(a->body);

	if (strncmp(h2srv_req_path(req), "/control/", 9) != 0)
		record(req, a);
	if (!mock.quiet && a->status != 200)
		fprintf(stderr, "fcm_mock: %s %s -> %d %s\n",
		    h2srv_req_method(req), h2srv_req_path(req), a->status,
		    a->body);
	snprintf(len, sizeof(len), "%zu", blen);
	h[n++] = (struct h2srv_hdr){ "content-type",
	    "application/json; charset=UTF-8" };
	h[n++] = (struct h2srv_hdr){ "content-length", len };
	if (a->retry_after != NULL)
		h[n++] = (struct h2srv_hdr){ "retry-after", a->retry_after };
	h2srv_respond(req, a->status, h, n, a->body, blen);
	free(a->body);
	a->body = NULL;
}

/* POST /token: RFC 7523 section 2.1 and 3, as Google checks it. */

static const char *
jwt_problems(json_object *hdr, json_object *cl, char *buf, size_t len)
{
	json_object *iat, *exp;
	const char *s;
	long long now = (long long)time(NULL), i, e;

	buf[0] = '\0';
	if ((s = json_str(hdr, "alg")) == NULL || strcmp(s, "RS256") != 0 ||
	    (s = json_str(hdr, "typ")) == NULL || strcmp(s, "JWT") != 0)
		strncat(buf, ", header", len - strlen(buf) - 1);
	if ((s = json_str(cl, "iss")) == NULL || strcmp(s, mock.email) != 0)
		strncat(buf, ", iss", len - strlen(buf) - 1);
	if ((s = json_str(cl, "scope")) == NULL || strcmp(s, SCOPE) != 0)
		strncat(buf, ", scope", len - strlen(buf) - 1);
	if ((s = json_str(cl, "aud")) == NULL ||
	    strcmp(s, mock.token_uri) != 0)
		strncat(buf, ", aud", len - strlen(buf) - 1);
	if (!json_object_object_get_ex(cl, "iat", &iat) ||
	    !json_object_object_get_ex(cl, "exp", &exp) ||
	    !json_object_is_type(iat, json_type_int) ||
	    !json_object_is_type(exp, json_type_int))
		strncat(buf, ", iat/exp not integers", len - strlen(buf) - 1);
	else {
		i = json_object_get_int64(iat);
		e = json_object_get_int64(exp);
		if (e - i != JWT_LIFETIME || i > now + JWT_SKEW || e < now)
			strncat(buf, ", iat/exp out of range",
			    len - strlen(buf) - 1);
	}
	return buf[0] != '\0' ? buf + 2 : NULL;
}

/* The signature over "header.claims"; RS256 is RSASSA-PKCS1-v1_5 SHA-256. */
static bool
jwt_verify(const char *jwt, size_t signed_len, const unsigned char *sig,
    size_t siglen)
{
	EVP_MD_CTX *md;
	bool ok;

	if ((md = EVP_MD_CTX_new()) == NULL)
		abort();
	ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL,
	    mock.pubkey) == 1 && EVP_DigestVerify(md, sig, siglen,
	    (const unsigned char *)jwt, signed_len) == 1;
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	return ok;
}

static void
token_issue(struct answer *a)
{
	unsigned char rnd[8];
	struct token *t;
	json_object *o;
	long long now = now_ms();
	size_t i, j;

	/* Forget expired tokens; when still full, the oldest. */
	for (i = j = 0; i < mock.ntokens; i++)
		if (mock.tokens[i].until > now)
			mock.tokens[j++] = mock.tokens[i];
	mock.ntokens = j;
	if (mock.ntokens == MAX_TOKENS) {
		memmove(&mock.tokens[0], &mock.tokens[1],
		    (MAX_TOKENS - 1) * sizeof(mock.tokens[0]));
		mock.ntokens--;
	}
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		abort();
	t = &mock.tokens[mock.ntokens++];
	snprintf(t->s, sizeof(t->s), "ya29.mock-%lu-%02x%02x%02x%02x%02x%02x"
	    "%02x%02x", ++mock.n, rnd[0], rnd[1], rnd[2], rnd[3], rnd[4],
	    rnd[5], rnd[6], rnd[7]);
	t->until = now + mock.lifetime * 1000;
	mock.st.token_ok++;
	o = json_object_new_object();
	json_object_object_add(o, "access_token", json_object_new_string(t->s));
	json_object_object_add(o, "token_type", json_object_new_string(
	    "Bearer"));
	json_object_object_add(o, "expires_in",
	    json_object_new_int64(mock.lifetime));
	answer_json(a, 200, o);
}

static void
token_request(struct h2srv_req *req, struct answer *a)
{
	char value[FORM_MAX], why[256];
	const char *body, *dot1, *dot2, *problem;
	unsigned char *hb = NULL, *cb = NULL, *sig = NULL;
	json_object *hdr = NULL, *cl = NULL;
	size_t len, hlen, clen, siglen;

	mock.st.token++;
	body = h2srv_req_body(req, &len);
	if (form_value(body, "grant_type", value, sizeof(value)) == -1 ||
	    strcmp(value, GRANT) != 0) {
		answer_token_error(a, "unsupported_grant_type", NULL);
		return;
	}
	if (mock.reject_auth) {
		answer_token_error(a, "invalid_grant",
		    "Invalid JWT Signature.");
		return;
	}
	if (form_value(body, "assertion", value, sizeof(value)) == -1 ||
	    (dot1 = strchr(value, '.')) == NULL ||
	    (dot2 = strchr(dot1 + 1, '.')) == NULL ||
	    strchr(dot2 + 1, '.') != NULL) {
		answer_token_error(a, "invalid_grant", "malformed assertion");
		return;
	}
	if ((hb = b64url_decode(value, (size_t)(dot1 - value), &hlen)) ==
	    NULL ||
	    (cb = b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &clen)) ==
	    NULL ||
	    (sig = b64url_decode(dot2 + 1, strlen(dot2 + 1), &siglen)) ==
	    NULL ||
	    (hdr = json_parse((char *)hb, hlen)) == NULL ||
	    (cl = json_parse((char *)cb, clen)) == NULL ||
	    !jwt_verify(value, (size_t)(dot2 - value), sig, siglen)) {
		answer_token_error(a, "invalid_grant",
		    "Invalid JWT Signature.");
		goto out;
	}
	if ((problem = jwt_problems(hdr, cl, why, sizeof(why))) != NULL) {
		answer_token_error(a, "invalid_grant", problem);
		goto out;
	}
	token_issue(a);
out:
	json_object_put(hdr);
	json_object_put(cl);
	free(hb);
	free(cb);
	free(sig);
}

/* POST messages:send */

static bool
token_known(const char *auth)
{
	long long now = now_ms();
	size_t i;

	if (auth == NULL || strncmp(auth, "Bearer ", 7) != 0)
		return false;
	for (i = 0; i < mock.ntokens; i++)
		if (strcmp(mock.tokens[i].s, auth + 7) == 0)
			return mock.tokens[i].until > now;
	return false;
}

/* android.ttl is a google.protobuf.Duration: \d+(\.\d{1,9})?s */
static bool
is_duration(const char *s)
{
	size_t n = strspn(s, "0123456789"), f;

	if (n == 0)
		return false;
	s += n;
	if (*s == '.') {
		f = strspn(s + 1, "0123456789");
		if (f == 0 || f > 9)
			return false;
		s += 1 + f;
	}
	return strcmp(s, "s") == 0;
}

/* The problem with the message, or NULL; *token_r is message.token. */
static const char *
message_check(json_object *doc, const char **token_r, bool *too_big_r,
    char *buf, size_t len)
{
	json_object *msg, *data, *android, *v;
	const char *s;
	size_t size;
	int i = 0;

	if (doc == NULL)
		return "body is not JSON";
	if (!json_object_is_type(doc, json_type_object) ||
	    !json_object_object_get_ex(doc, "message", &msg) ||
	    !json_object_is_type(msg, json_type_object))
		return "no message object";
	if (json_object_object_length(doc) != 1)
		return "unknown top-level fields";
	if ((*token_r = json_str(msg, "token")) == NULL || **token_r == '\0')
		return "message.token missing";
	if (json_object_object_get_ex(msg, "data", &data)) {
		if (!json_object_is_type(data, json_type_object))
			return "message.data is not an object";
		size = 0;
		json_object_object_foreach(data, key, val) {
			if (!json_object_is_type(val, json_type_string)) {
				snprintf(buf, len, "Invalid value at "
				    "'message.data[%d].value' (TYPE_STRING)",
				    i);
				return buf;
			}
			if (strcmp(key, "from") == 0 || strcmp(key, "gcm") ==
			    0 || strncmp(key, "google", 6) == 0) {
				snprintf(buf, len, "Invalid data key '%s'",
				    key);
				return buf;
			}
			size += strlen(key) + (size_t)json_object_get_string_len(
			    val);
			i++;
		}
		if (size > DATA_MAX) {
			*too_big_r = true;
			return "Message is too big";
		}
	}
	if (json_object_object_get_ex(msg, "android", &android)) {
		if (!json_object_is_type(android, json_type_object))
			return "message.android is not an object";
		if (json_object_object_get_ex(android, "priority", &v) &&
		    (!json_object_is_type(v, json_type_string) ||
		    (strcmp(s = json_object_get_string(v), "HIGH") != 0 &&
		    strcmp(s, "NORMAL") != 0)))
			return "android.priority";
		if (json_object_object_get_ex(android, "ttl", &v) &&
		    (!json_object_is_type(v, json_type_string) ||
		    !is_duration(json_object_get_string(v))))
			return "android.ttl";
	}
	return NULL;
}

static const struct {
	const char	*prefix;
	int		 code;
	const char	*status;
	const char	*message;
	const char	*error_code;
} by_prefix[] = {
	{ "unregistered", 404, "NOT_FOUND", "Requested entity was not "
	    "found.", "UNREGISTERED" },
	{ "invalid", 400, "INVALID_ARGUMENT", "The registration token is not "
	    "a valid FCM registration token", "INVALID_ARGUMENT" },
	{ "badarg", 400, "INVALID_ARGUMENT", "Message is too big",
	    "INVALID_ARGUMENT" },
	{ "quota", 429, "RESOURCE_EXHAUSTED", "Quota exceeded.",
	    "QUOTA_EXCEEDED" },
	{ "unavailable", 503, "UNAVAILABLE", "The service is currently "
	    "unavailable.", "UNAVAILABLE" },
	{ "internal", 500, "INTERNAL", "Internal error encountered.",
	    "INTERNAL" },
	{ "unspecified", 500, "UNKNOWN", "Unknown error.",
	    "UNSPECIFIED_ERROR" },
	{ "notfound", 404, "NOT_FOUND", "Requested entity was not found.",
	    NULL },
	{ "sendermismatch", 403, "PERMISSION_DENIED", "SenderId mismatch",
	    "SENDER_ID_MISMATCH" },
	{ "thirdparty", 401, "UNAUTHENTICATED", "Auth error from APNS or Web "
	    "Push Service", "THIRD_PARTY_AUTH_ERROR" },
	{ "forbidden", 403, "PERMISSION_DENIED", "Permission "
	    "'cloudmessaging.messages.create' denied", NULL },
	{ NULL, 0, NULL, NULL, NULL }
};

static void
send_ok(struct answer *a)
{
	char name[256];

	mock.st.send_ok++;
	a->status = 200;
	snprintf(name, sizeof(name), "{\"name\": \"projects/%s/messages/"
	    "0:%lu\"}", mock.project, ++mock.n);
	a->body = xstrdup(name);
}

static void
slow_cb(evutil_socket_t fd, short what, void *arg)
{
	struct slow *sl = arg;
	struct answer a = { 0 };

	(void)fd;
	(void)what;
	h2srv_req_set_data(sl->req, NULL);
	send_ok(&a);
	respond(sl->req, &a);
	event_free(sl->ev);
	free(sl);
}

/* Returns false when the answer comes later (slow). */
static bool
send_request(struct h2srv_req *req, struct answer *a)
{
	const char *ct, *body, *problem, *token = NULL;
	bool too_big = false;
	char buf[256];
	json_object *doc;
	struct slow *sl;
	struct timeval tv;
	struct tm tm;
	time_t t;
	size_t len;
	int i;

	mock.st.send++;
	if (strcmp(h2srv_req_path(req), mock.send_path) != 0) {
		answer_fcm_error(a, 404, "NOT_FOUND", "no such project", NULL,
		    NULL);
		return true;
	}
	if (!token_known(h2srv_req_header(req, "authorization"))) {
		mock.st.unauthorized++;
		answer_fcm_error(a, 401, "UNAUTHENTICATED", "Request had "
		    "invalid authentication credentials. Expected OAuth 2 "
		    "access token.", NULL, NULL);
		return true;
	}
	if ((ct = h2srv_req_header(req, "content-type")) == NULL ||
	    strncmp(ct, "application/json", 16) != 0 ||
	    (ct[16] != '\0' && ct[16] != ';')) {
		answer_fcm_error(a, 400, "INVALID_ARGUMENT", "content-type",
		    NULL, NULL);
		return true;
	}
	body = h2srv_req_body(req, &len);
	doc = json_parse(body, len);
	if ((problem = message_check(doc, &token, &too_big, buf,
	    sizeof(buf))) != NULL) {
		answer_fcm_error(a, 400, "INVALID_ARGUMENT", problem, too_big ?
		    "INVALID_ARGUMENT" : NULL, problem);
		json_object_put(doc);
		return true;
	}
	for (i = 0; by_prefix[i].prefix != NULL; i++)
		if (strncmp(token, by_prefix[i].prefix,
		    strlen(by_prefix[i].prefix)) == 0)
			break;
	if (by_prefix[i].prefix != NULL) {
		answer_fcm_error(a, by_prefix[i].code, by_prefix[i].status,
		    by_prefix[i].message, by_prefix[i].error_code, NULL);
		if (by_prefix[i].code == 429 &&
		    strncmp(token, "quotadate", 9) == 0) {
			/* An IMF-fixdate, RFC 9110 section 5.6.7. */
			t = time(NULL) + RETRY_AFTER;
			gmtime_r(&t, &tm);
			strftime(a->date, sizeof(a->date),
			    "%a, %d %b %Y %H:%M:%S GMT", &tm);
			a->retry_after = a->date;
		} else if (by_prefix[i].code == 429) {
			snprintf(a->date, sizeof(a->date), "%d", RETRY_AFTER);
			a->retry_after = a->date;
		}
		json_object_put(doc);
		return true;
	}
	if (strncmp(token, "slow", 4) == 0 ||
	    strncmp(token, "stall", 5) == 0) {
		double delay = strncmp(token, "stall", 5) == 0 ? STALL_S :
		    mock.slow;

		json_object_put(doc);
		if ((sl = calloc(1, sizeof(*sl))) == NULL)
			abort();
		sl->req = req;
		sl->ev = evtimer_new(mock.base, slow_cb, sl);
		tv.tv_sec = (time_t)delay;
		tv.tv_usec = (suseconds_t)((delay - (double)tv.tv_sec) * 1e6);
		evtimer_add(sl->ev, &tv);
		h2srv_req_set_data(req, sl);
		return false;
	}
	json_object_put(doc);
	send_ok(a);
	return true;
}

/* The controls. */

static void
control(struct h2srv_req *req, const char *what, struct answer *a)
{
	json_object *o;

	if (strcmp(h2srv_req_method(req), "GET") == 0 &&
	    strcmp(what, "stats") == 0) {
		o = json_object_new_object();
#define STAT(k) json_object_object_add(o, #k, \
	json_object_new_int64((int64_t)mock.st.k))
		STAT(token);
		STAT(token_ok);
		STAT(send);
		STAT(send_ok);
		STAT(connections);
		STAT(open);
		STAT(max_streams);
		STAT(unauthorized);
#undef STAT
		json_object_object_add(o, "tokens",
		    json_object_new_int64((int64_t)mock.ntokens));
		answer_json(a, 200, o);
		return;
	}
	if (strcmp(h2srv_req_method(req), "POST") != 0) {
		answer_json(a, 405, json_object_new_string("POST only"));
		return;
	}
	if (strcmp(what, "token") == 0) {
		token_issue(a);
		return;
	}
	if (strcmp(what, "revoke") == 0)
		mock.ntokens = 0;
	else if (strcmp(what, "reject-auth") == 0)
		mock.reject_auth = true;
	else if (strcmp(what, "accept-auth") == 0)
		mock.reject_auth = false;
	else if (strcmp(what, "reset") == 0) {
		unsigned long open = mock.st.open;

		memset(&mock.st, 0, sizeof(mock.st));
		mock.st.open = open;
	} else {
		answer_json(a, 404, json_object_new_string("no such "
		    "control"));
		return;
	}
	answer_json(a, 200, json_object_new_object());
}

/* h2srv's callbacks. */

static void
on_request(void *arg, struct h2srv_req *req)
{
	struct conn **c = (struct conn **)h2srv_req_conn_data(req);
	const char *path = h2srv_req_path(req);
	struct answer a = { 0 };
	size_t streams;

	(void)arg;
	if (*c == NULL) {
		if ((*c = calloc(1, sizeof(**c))) == NULL)
			abort();
		mock.st.open++;
	}
	if (strncmp(path, "/control/", 9) == 0) {
		control(req, path + 9, &a);
		respond(req, &a);
		return;
	}
	/* Connections that carry FCM traffic, not the test's controls. */
	if (!(*c)->counted) {
		(*c)->counted = true;
		mock.st.connections++;
	}
	if ((streams = h2srv_req_conn_streams(req)) > mock.st.max_streams)
		mock.st.max_streams = streams;
	if (strcmp(h2srv_req_method(req), "POST") != 0)
		answer_json(&a, 405, json_object_new_string("POST only"));
	else if (strcmp(path, mock.token_path) == 0)
		token_request(req, &a);
	else if (!send_request(req, &a))
		return;
	respond(req, &a);
}

static void
on_abort(void *arg, struct h2srv_req *req)
{
	struct slow *sl = h2srv_req_get_data(req);

	(void)arg;
	if (sl != NULL) {
		event_free(sl->ev);
		free(sl);
	}
}

static void
on_conn_free(void *arg, void *data)
{
	(void)arg;
	mock.st.open--;
	free(data);
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	(void)arg;
	print_stats();
	if (sig != SIGUSR1)
		event_base_loopbreak(mock.base);
}

/* The service account: who signs, for which audience and project. */
static int
sa_load(const char *path)
{
	json_object *o;
	const char *email, *uri, *project, *pem;
	EVP_PKEY *key;
	unsigned char *der = NULL;
	const unsigned char *p;
	char *text;
	size_t n;
	int len;
	FILE *f;
	BIO *bio;

	if ((f = fopen(path, "r")) == NULL) {
		perror(path);
		return -1;
	}
	if ((text = malloc(SA_MAX)) == NULL)
		abort();
	n = fread(text, 1, SA_MAX - 1, f);
	fclose(f);
	text[n] = '\0';
	o = json_tokener_parse(text);
	free(text);
	if ((email = json_str(o, "client_email")) == NULL ||
	    (uri = json_str(o, "token_uri")) == NULL ||
	    (project = json_str(o, "project_id")) == NULL ||
	    (pem = json_str(o, "private_key")) == NULL) {
		fprintf(stderr, "fcm_mock: %s: not a service account file\n",
		    path);
		json_object_put(o);
		return -1;
	}
	mock.email = xstrdup(email);
	mock.token_uri = xstrdup(uri);
	mock.project = xstrdup(project);
	if ((bio = BIO_new_mem_buf(pem, -1)) == NULL)
		abort();
	key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	json_object_put(o);
	if (key == NULL || EVP_PKEY_base_id(key) != EVP_PKEY_RSA) {
		fprintf(stderr, "fcm_mock: %s: private_key is not RSA\n",
		    path);
		EVP_PKEY_free(key);
		return -1;
	}
	/* Google keeps only the public half: so does the mock. */
	if ((len = i2d_PUBKEY(key, &der)) <= 0)
		abort();
	p = der;
	mock.pubkey = d2i_PUBKEY(NULL, &p, len);
	OPENSSL_free(der);
	EVP_PKEY_free(key);
	if (mock.pubkey == NULL)
		abort();
	if (strncmp(mock.token_uri, "https://", 8) != 0 ||
	    (mock.token_path = strchr(mock.token_uri + 8, '/')) == NULL) {
		fprintf(stderr, "fcm_mock: %s: token_uri has no path\n",
		    path);
		return -1;
	}
	if (asprintf(&mock.send_path, "/v1/projects/%s/messages:send",
	    mock.project) == -1)
		abort();
	return 0;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "service-account", required_argument, NULL, 'S' },
		{ "port", required_argument, NULL, 'p' },
		{ "port-file", required_argument, NULL, 'P' },
		{ "record", required_argument, NULL, 'r' },
		{ "token-lifetime", required_argument, NULL, 'L' },
		{ "slow", required_argument, NULL, 's' },
		{ "max-streams", required_argument, NULL, 'm' },
		{ "quiet", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 }
	};
	const char *cert = NULL, *key = NULL, *sa = NULL, *port_file = NULL;
	struct h2srv_config cfg;
	struct event *sigs[4];
	char tmp[4096], *err = NULL;
	SSL_CTX *ctx;
	FILE *f;
	int ch, i;

	memset(&cfg, 0, sizeof(cfg));
	cfg.max_streams = MAX_STREAMS;
	mock.lifetime = 3600;
	mock.slow = 2.0;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': cert = optarg; break;
		case 'k': key = optarg; break;
		case 'S': sa = optarg; break;
		case 'p': cfg.port = atoi(optarg); break;
		case 'P': port_file = optarg; break;
		case 'r':
			if ((mock.record = fopen(optarg, "a")) == NULL) {
				perror(optarg);
				return 1;
			}
			break;
		case 'L': mock.lifetime = atol(optarg); break;
		case 's': mock.slow = atof(optarg); break;
		case 'm': cfg.max_streams = (unsigned int)atoi(optarg); break;
		case 'q': mock.quiet = true; break;
		default: usage();
		}
	}
	if (cert == NULL || key == NULL || sa == NULL || mock.lifetime <= 0 ||
	    mock.slow < 0)
		usage();
	signal(SIGPIPE, SIG_IGN);
	if (sa_load(sa) == -1)
		return 1;
	if ((mock.tok = json_tokener_new()) == NULL)
		abort();

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		fprintf(stderr, "fcm_mock: %s / %s: ", cert, key);
		ERR_print_errors_fp(stderr);
		return 1;
	}
	if ((mock.base = event_base_new()) == NULL)
		return 1;
	cfg.base = mock.base;
	cfg.ctx = ctx;
	cfg.alpn = "h2";
	cfg.on_request = on_request;
	cfg.on_abort = on_abort;
	cfg.on_conn_free = on_conn_free;
	if ((mock.srv = h2srv_new(&cfg, &err)) == NULL) {
		fprintf(stderr, "fcm_mock: %s\n", err);
		free(err);
		return 1;
	}
	if (port_file != NULL) {
		snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
		if ((f = fopen(tmp, "w")) == NULL) {
			perror(tmp);
			return 1;
		}
		fprintf(f, "%d\n", h2srv_port(mock.srv));
		fclose(f);
		/* Readers never see a half-written file. */
		rename(tmp, port_file);
	}
	fprintf(stderr, "fcm_mock: listening on 127.0.0.1:%d\n",
	    h2srv_port(mock.srv));
	sigs[0] = evsignal_new(mock.base, SIGUSR1, signal_cb, NULL);
	sigs[1] = evsignal_new(mock.base, SIGTERM, signal_cb, NULL);
	sigs[2] = evsignal_new(mock.base, SIGINT, signal_cb, NULL);
	sigs[3] = evsignal_new(mock.base, SIGHUP, signal_cb, NULL);
	for (i = 0; i < 4; i++)
		evsignal_add(sigs[i], NULL);
	event_base_dispatch(mock.base);

	h2srv_free(&mock.srv);
	for (i = 0; i < 4; i++)
		event_free(sigs[i]);
	event_base_free(mock.base);
	SSL_CTX_free(ctx);
	EVP_PKEY_free(mock.pubkey);
	json_tokener_free(mock.tok);
	free(mock.email);
	free(mock.token_uri);
	free(mock.project);
	free(mock.send_path);
	if (mock.record != NULL)
		fclose(mock.record);
	return 0;
}
