/*
 * apns_mock: a fake APNs provider API (Apple: "Sending notification
 * requests to APNs", "Handling notification responses from APNs") over
 * real HTTP/2 and TLS, for the tests and the benchmark.
 *
 *	apns_mock --cert server.pem --key server.key [options]
 *
 *	--listen ADDR		127.0.0.1
 *	--port N		0: any free port
 *	--port-file FILE	write the port there once listening
 *	--alpn PROTO		protocol to select (h2); anything else makes a
 *				TLS server that never speaks HTTP/2
 *	--client-ca FILE	verify client certificates against these CAs;
 *				a bad one is answered 403 BadCertificate
 *	--jwt-key FILE		verify ES256 provider tokens with this public
 *	--key-id ID --team-id ID  key; kid and iss must match
 *	--jwt-max-age S		older iat: 403 ExpiredProviderToken (3600)
 *	--topic T		allowed apns-topic (repeatable; default any);
 *				T.voip is allowed with T
 *	--max-streams N		SETTINGS_MAX_CONCURRENT_STREAMS (1000)
 *	--goaway-after N	GOAWAY after N requests on a connection
 *	--slow-ms MS		delay of the "slow" tokens (2000)
 *	--delay-ms MS		hold every other answer MS ms (0), as
 *				APNs seen from across the internet does;
 *				a timer per stream, the loop never waits
 *	--received FILE		one line per held request (slow, or any
 *				with --delay-ms) as it arrives (the token),
 *				for tests that wait until requests are in
 *				flight
 *	--record FILE		one JSON line per request: conn, path,
 *				headers, body, status, reason
 *	--answers FILE		answers on demand, one a line:
 *				"PREFIX STATUS [REASON]": a request that passes
 *				the checks below and whose token starts with
 *				the hex PREFIX gets STATUS and {"reason":
 *				REASON} (none when REASON is absent); looked
 *				up before the fixed prefixes, first match wins
 *	--quiet			no per-request logging
 *	--count-file FILE	on SIGUSR1 and at exit also write "SEQ
 *				REQUESTS OK ACCEPTED OPEN" there (SEQ counts
 *				the writes, OK the 200 answers, ACCEPTED the
 *				connections so far, OPEN those open now),
 *				replaced atomically
 *
 * Without --client-ca or --jwt-key no authentication is asked for.
 * Counts go to stderr on SIGUSR1 and at exit (SIGTERM, SIGINT).
 *
 * Checks, as APNs makes them: :method POST (405 MethodNotAllowed), :path
 * /3/device/<hex token> (404 BadPath, 400 MissingDeviceToken,
 * BadDeviceToken), apns-topic (400 MissingTopic, TopicDisallowed),
 * apns-push-type one of Apple's (400 InvalidPushType; voip needs a .voip
 * topic, background priority 5), apns-priority 1/5/10 (BadPriority),
 * apns-id a UUID (BadMessageId), apns-expiration a number
 * (BadExpirationDate), apns-collapse-id <= 64 bytes (BadCollapseId), a
 * payload (400 PayloadEmpty) of at most 4096 bytes, 5120 for voip (413
 * PayloadTooLarge), that is a JSON object (400 BadPayload: the mock's own
 * name, Apple documents none).
 *
 * Then the answer by token prefix (hex, so a client's token check passes):
 *
 *	dead	410 Unregistered	4290	429 TooManyRequests
 *	bad0	400 BadDeviceToken	4130	413 PayloadTooLarge
 *	bad1	400 DeviceTokenNotForTopic	4000	400 BadMessageId
 *	4030	403 Forbidden		4031	403 BadCertificate
 *	4032	403 InvalidProviderToken	4033	400 TopicDisallowed
 *	4034	403 ExpiredProviderToken (always)
 *	5000	500 InternalServerError	5030	503 ServiceUnavailable
 *	5031	503 Shutdown		5104	200 after --slow-ms
 *	anything else: 200
 */
#include "config.h"

#include <sys/types.h>

#include <ctype.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <json-c/json.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "test/mock/h2srv.h"

#define MAX_TOPICS	16
#define MAX_ANSWERS	128	/* lines of --answers */

static struct {
	struct event_base *base;
	struct h2srv	*srv;
	EVP_PKEY	*jwt_key;
	const char	*key_id;
	const char	*team_id;
	long		 jwt_max_age;
	bool		 client_ca;
	const char	*topics[MAX_TOPICS];
	int		 ntopics;
	int		 slow_ms;
	const struct timeval *delay;	/* --delay-ms; NULL: answer at once */
	FILE		*record;
	FILE		*received;
	const char	*count_file;
	unsigned long	 count_seq;
	bool		 quiet;
	unsigned long	 requests;
	unsigned long	 by_status[600];
	unsigned long	 jwt_verified;
	struct answer_rule {
		char	 prefix[65];
		int	 status;
		char	 reason[64];
		bool	 has_reason;
	}		 answers[MAX_ANSWERS];
	int		 nanswers;
} mock;

/* An answer decided but not sent yet: a slow token, or --delay-ms. */
struct held {
	struct h2srv_req *req;
	struct event	*ev;
	int		 status;
	const char	*reason;	/* static, or in mock.answers */
};

static void
usage(void)
{
	fprintf(stderr, "usage: apns_mock --cert FILE --key FILE [--listen "
	    "ADDR] [--port N] [--port-file FILE] [--alpn PROTO]\n"
	    "\t[--client-ca FILE] [--jwt-key FILE --key-id ID --team-id ID "
	    "[--jwt-max-age S]]\n\t[--topic T]... [--max-streams N] "
	    "[--goaway-after N] [--slow-ms MS] [--delay-ms MS]\n"
	    "\t[--record FILE] [--received FILE] [--quiet]\n"
	    "\t[--count-file FILE] [--answers FILE]\n");
	exit(2);
}

static void
print_counts(void)
{
	int i;

	fprintf(stderr, "apns_mock: requests %lu connections %lu goaways %lu "
	    "jwt-verified %lu", mock.requests, h2srv_connections(mock.srv),
	    h2srv_goaways(mock.srv), mock.jwt_verified);
	for (i = 0; i < 600; i++)
		if (mock.by_status[i] > 0)
			fprintf(stderr, " %d:%lu", i, mock.by_status[i]);
	fprintf(stderr, "\n");
}

static void
write_count_file(void)
{
	char tmp[4096];
	FILE *f;

	if (mock.count_file == NULL)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", mock.count_file);
	if ((f = fopen(tmp, "w")) == NULL) {
		perror(tmp);
		return;
	}
	fprintf(f, "%lu %lu %lu %lu %zu\n", ++mock.count_seq, mock.requests,
	    mock.by_status[200], h2srv_connections(mock.srv),
	    h2srv_open_connections(mock.srv));
	if (fclose(f) == 0)
		rename(tmp, mock.count_file);
}

static bool
is_hex(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

static bool
is_uuid(const char *s)
{
	static const int dash[] = { 8, 13, 18, 23 };
	size_t i, d = 0;

	if (strlen(s) != 36)
		return false;
	for (i = 0; i < 36; i++) {
		if (d < 4 && (int)i == dash[d]) {
			if (s[i] != '-')
				return false;
			d++;
		} else if (!isxdigit((unsigned char)s[i]))
			return false;
	}
	return true;
}

static void
record(struct h2srv_req *req, int status, const char *reason)
{
	json_object *o;
	const char *body;
	size_t len;

	if (mock.record == NULL)
		return;
	o = h2srv_req_record(req);
	json_object_object_add(o, "conn",
	    json_object_new_int64((int64_t)h2srv_req_conn_id(req)));
	body = h2srv_req_body(req, &len);
	json_object_object_add(o, "body",
	    json_object_new_string_len(body, (int)len));
	json_object_object_add(o, "status", json_object_new_int(status));
	if (reason != NULL)
		json_object_object_add(o, "reason",
		    json_object_new_string(reason));
	fprintf(mock.record, "%s\n", json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	fflush(mock.record);
	json_object_put(o);
}

static void
respond(struct h2srv_req *req, int status, const char *reason)
{
	struct h2srv_hdr h[1];
	char body[160], uuid[40];
	const char *id;
	size_t n = 0;
	int len = 0;

	mock.requests++;
	if (status >= 0 && status < 600)
		mock.by_status[status]++;
	record(req, status, reason);
	if ((id = h2srv_req_header(req, "apns-id")) != NULL &&
	    strlen(id) < sizeof(uuid)) {
		snprintf(uuid, sizeof(uuid), "%s", id);
		h[n].name = "apns-id";
		h[n++].value = uuid;
	}
	if (reason != NULL) {
		if (status == 410)
			len = snprintf(body, sizeof(body), "{\"reason\":\"%s\","
			    "\"timestamp\":%lld}", reason,
			    (long long)time(NULL) * 1000);
		else
			len = snprintf(body, sizeof(body),
			    "{\"reason\":\"%s\"}", reason);
	}
	if (!mock.quiet && status != 200)
		fprintf(stderr, "apns_mock: %s -> %d %s\n",
		    h2srv_req_path(req), status, reason != NULL ? reason : "");
	h2srv_respond(req, status, h, n, body, (size_t)len);
}

static int
b64url_dec(const char *s, size_t len, unsigned char **out_r, size_t *len_r)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
	    "qrstuvwxyz0123456789-_";
	unsigned char *out;
	unsigned int acc = 0;
	size_t i, n = 0;
	const char *p;
	int bits = 0;

	out = malloc(len + 1);
	if (out == NULL)
		abort();
	for (i = 0; i < len; i++) {
		if (s[i] == '\0' || (p = strchr(tab, s[i])) == NULL) {
			free(out);
			return -1;
		}
		acc = (acc << 6) | (unsigned int)(p - tab);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (acc >> bits) & 0xff;
		}
	}
	out[n] = '\0';
	*out_r = out;
	*len_r = n;
	return 0;
}

/* ES256 JWT check; returns the 403 reason, or NULL when it verifies. */
static const char *
jwt_check(struct h2srv_req *req, const char *auth)
{
	const char *jwt, *dot1, *dot2;
	unsigned char *raw = NULL, *der = NULL, *hb = NULL, *cb = NULL;
	size_t rawlen, hlen, clen;
	json_object *hdr = NULL, *cl = NULL, *v;
	char **cache = (char **)h2srv_req_conn_data(req);
	const char *why = "InvalidProviderToken";
	ECDSA_SIG *sig = NULL;
	EVP_MD_CTX *md = NULL;
	BIGNUM *r, *s;
	long long iat;
	int derlen;

	if (strncmp(auth, "bearer ", 7) != 0)
		return "MissingProviderToken";
	jwt = auth + 7;
	if ((dot1 = strchr(jwt, '.')) == NULL ||
	    (dot2 = strchr(dot1 + 1, '.')) == NULL)
		return why;
	if (b64url_dec(jwt, (size_t)(dot1 - jwt), &hb, &hlen) == -1 ||
	    b64url_dec(dot1 + 1, (size_t)(dot2 - dot1 - 1), &cb, &clen) == -1 ||
	    b64url_dec(dot2 + 1, strlen(dot2 + 1), &raw, &rawlen) == -1)
		goto out;
	hdr = json_tokener_parse((char *)hb);
	cl = json_tokener_parse((char *)cb);
	if (hdr == NULL || cl == NULL)
		goto out;
	if (!json_object_object_get_ex(hdr, "alg", &v) ||
	    strcmp(json_object_get_string(v), "ES256") != 0)
		goto out;
	if (!json_object_object_get_ex(hdr, "kid", &v) ||
	    strcmp(json_object_get_string(v), mock.key_id) != 0)
		goto out;
	if (!json_object_object_get_ex(cl, "iss", &v) ||
	    strcmp(json_object_get_string(v), mock.team_id) != 0)
		goto out;
	if (!json_object_object_get_ex(cl, "iat", &v) ||
	    !json_object_is_type(v, json_type_int))
		goto out;
	iat = json_object_get_int64(v);
	if (iat > (long long)time(NULL) + 60)
		goto out;
	if ((long long)time(NULL) - iat > mock.jwt_max_age) {
		why = "ExpiredProviderToken";
		goto out;
	}
	/* A connection reuses its token: verify each one once. */
	if (*cache != NULL && strcmp(*cache, jwt) == 0) {
		why = NULL;
		goto out;
	}
	if (rawlen != 64)
		goto out;
	if ((sig = ECDSA_SIG_new()) == NULL)
		abort();
	r = BN_bin2bn(raw, 32, NULL);
	s = BN_bin2bn(raw + 32, 32, NULL);
	ECDSA_SIG_set0(sig, r, s);
	if ((derlen = i2d_ECDSA_SIG(sig, &der)) <= 0)
		goto out;
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL,
	    mock.jwt_key) != 1 ||
	    EVP_DigestVerify(md, der, (size_t)derlen,
	    (const unsigned char *)jwt, (size_t)(dot2 - jwt)) != 1)
		goto out;
	mock.jwt_verified++;
	free(*cache);
	if ((*cache = strdup(jwt)) == NULL)
		abort();
	why = NULL;
out:
	ERR_clear_error();
	EVP_MD_CTX_free(md);
	ECDSA_SIG_free(sig);
	OPENSSL_free(der);
	json_object_put(hdr);
	json_object_put(cl);
	free(hb);
	free(cb);
	free(raw);
	return why;
}

static bool
topic_allowed(const char *topic)
{
	size_t tl = strlen(topic);
	int i;

	if (mock.ntopics == 0)
		return true;
	for (i = 0; i < mock.ntopics; i++) {
		size_t l = strlen(mock.topics[i]);

		if (strcmp(topic, mock.topics[i]) == 0 ||
		    (tl == l + 5 && strncmp(topic, mock.topics[i], l) == 0 &&
		    strcmp(topic + l, ".voip") == 0))
			return true;
	}
	return false;
}

static void
held_cb(evutil_socket_t fd, short what, void *arg)
{
	struct held *hd = arg;

	h2srv_req_set_data(hd->req, NULL);
	respond(hd->req, hd->status, hd->reason);
	event_free(hd->ev);
	free(hd);
}

/* Answers after tv; the stream stays open at nghttp2 meanwhile. */
static void
hold(struct h2srv_req *req, const struct timeval *tv, int status,
    const char *reason)
{
	struct held *hd = calloc(1, sizeof(*hd));
	const char *path = h2srv_req_path(req);

	if (hd == NULL)
		abort();
	if (mock.received != NULL) {
		fprintf(mock.received, "%s\n", strncmp(path, "/3/device/",
		    10) == 0 ? path + 10 : path);
		fflush(mock.received);
	}
	hd->req = req;
	hd->status = status;
	hd->reason = reason;
	if ((hd->ev = evtimer_new(mock.base, held_cb, hd)) == NULL)
		abort();
	evtimer_add(hd->ev, tv);
	h2srv_req_set_data(req, hd);
}

static void
answer(struct h2srv_req *req, int status, const char *reason)
{
	if (mock.delay != NULL)
		hold(req, mock.delay, status, reason);
	else
		respond(req, status, reason);
}

static void
on_abort(void *arg, struct h2srv_req *req)
{
	struct held *hd = h2srv_req_get_data(req);

	if (hd != NULL) {
		event_free(hd->ev);
		free(hd);
	}
}

static void
on_conn_free(void *arg, void *data)
{
	free(data);
}

static const struct {
	const char	*prefix;
	int		 status;
	const char	*reason;
} by_prefix[] = {
	{ "dead", 410, "Unregistered" },
	{ "bad0", 400, "BadDeviceToken" },
	{ "bad1", 400, "DeviceTokenNotForTopic" },
	{ "4290", 429, "TooManyRequests" },
	{ "4130", 413, "PayloadTooLarge" },
	{ "4000", 400, "BadMessageId" },
	{ "4030", 403, "Forbidden" },
	{ "4031", 403, "BadCertificate" },
	{ "4032", 403, "InvalidProviderToken" },
	{ "4033", 400, "TopicDisallowed" },
	{ "4034", 403, "ExpiredProviderToken" },
	{ "5000", 500, "InternalServerError" },
	{ "5030", 503, "ServiceUnavailable" },
	{ "5031", 503, "Shutdown" },
	{ NULL, 0, NULL }
};

static int
answers_load(const char *file)
{
	struct answer_rule *r;
	char line[256], reason[64];
	FILE *f;
	int n;

	if ((f = fopen(file, "r")) == NULL) {
		perror(file);
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (mock.nanswers == MAX_ANSWERS) {
			fprintf(stderr, "apns_mock: %s: over %d lines\n", file,
			    MAX_ANSWERS);
			fclose(f);
			return -1;
		}
		r = &mock.answers[mock.nanswers];
		n = sscanf(line, "%64s %d %63s", r->prefix, &r->status,
		    reason);
		if (n < 2 || !is_hex(r->prefix, strlen(r->prefix)) ||
		    r->status < 100 || r->status > 599) {
			fprintf(stderr, "apns_mock: %s: bad line: %s", file,
			    line);
			fclose(f);
			return -1;
		}
		r->has_reason = n == 3;
		if (r->has_reason)
			snprintf(r->reason, sizeof(r->reason), "%s", reason);
		mock.nanswers++;
	}
	fclose(f);
	return 0;
}

static void
on_request(void *arg, struct h2srv_req *req)
{
	const char *path = h2srv_req_path(req), *token, *topic, *type, *v;
	const char *auth, *why, *body;
	SSL *ssl = h2srv_req_ssl(req);
	X509 *peer;
	json_object *o;
	size_t len, limit;
	bool voip;
	int i;

	if (strcmp(h2srv_req_method(req), "POST") != 0) {
		answer(req, 405, "MethodNotAllowed");
		return;
	}
	if (strncmp(path, "/3/device/", 10) != 0) {
		answer(req, 404, "BadPath");
		return;
	}
	token = path + 10;
	if (*token == '\0') {
		answer(req, 400, "MissingDeviceToken");
		return;
	}
	if (!is_hex(token, strlen(token))) {
		answer(req, 400, "BadDeviceToken");
		return;
	}
	/* Authentication: a verified client certificate, else a token. */
	auth = h2srv_req_header(req, "authorization");
	if (mock.client_ca || mock.jwt_key != NULL) {
		peer = SSL_get1_peer_certificate(ssl);
		if (peer != NULL) {
			X509_free(peer);
			if (!mock.client_ca || SSL_get_verify_result(ssl) !=
			    X509_V_OK) {
				answer(req, 403, "BadCertificate");
				return;
			}
		} else if (mock.jwt_key == NULL) {
			answer(req, 403, "MissingProviderToken");
			return;
		} else if (auth == NULL) {
			answer(req, 403, "MissingProviderToken");
			return;
		} else if ((why = jwt_check(req, auth)) != NULL) {
			answer(req, 403, why);
			return;
		}
	}
	if ((topic = h2srv_req_header(req, "apns-topic")) == NULL) {
		answer(req, 400, "MissingTopic");
		return;
	}
	if (!topic_allowed(topic)) {
		answer(req, 400, "TopicDisallowed");
		return;
	}
	type = h2srv_req_header(req, "apns-push-type");
	if (type == NULL || (strcmp(type, "alert") != 0 && strcmp(type,
	    "background") != 0 && strcmp(type, "voip") != 0 &&
	    strcmp(type, "location") != 0 && strcmp(type, "complication") !=
	    0 && strcmp(type, "fileprovider") != 0 && strcmp(type, "mdm") !=
	    0 && strcmp(type, "liveactivity") != 0 && strcmp(type,
	    "pushtotalk") != 0)) {
		answer(req, 400, "InvalidPushType");
		return;
	}
	voip = strcmp(type, "voip") == 0;
	if (voip && (strlen(topic) < 5 ||
	    strcmp(topic + strlen(topic) - 5, ".voip") != 0)) {
		answer(req, 400, "InvalidPushType");
		return;
	}
	if ((v = h2srv_req_header(req, "apns-priority")) != NULL &&
	    ((strcmp(v, "10") != 0 && strcmp(v, "5") != 0 &&
	    strcmp(v, "1") != 0) || (strcmp(type, "background") == 0 &&
	    strcmp(v, "10") == 0))) {
		answer(req, 400, "BadPriority");
		return;
	}
	if ((v = h2srv_req_header(req, "apns-id")) != NULL && !is_uuid(v)) {
		answer(req, 400, "BadMessageId");
		return;
	}
	if ((v = h2srv_req_header(req, "apns-expiration")) != NULL &&
	    (*v == '\0' || strspn(v, "0123456789") != strlen(v))) {
		answer(req, 400, "BadExpirationDate");
		return;
	}
	if ((v = h2srv_req_header(req, "apns-collapse-id")) != NULL &&
	    strlen(v) > 64) {
		answer(req, 400, "BadCollapseId");
		return;
	}
	body = h2srv_req_body(req, &len);
	limit = voip ? 5120 : 4096;
	if (len == 0) {
		answer(req, 400, "PayloadEmpty");
		return;
	}
	if (len > limit) {
		answer(req, 413, "PayloadTooLarge");
		return;
	}
	if ((o = json_tokener_parse(body)) == NULL ||
	    !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		answer(req, 400, "BadPayload");
		return;
	}
	json_object_put(o);

	for (i = 0; i < mock.nanswers; i++)
		if (strncasecmp(token, mock.answers[i].prefix,
		    strlen(mock.answers[i].prefix)) == 0) {
			answer(req, mock.answers[i].status,
			    mock.answers[i].has_reason ?
			    mock.answers[i].reason : NULL);
			return;
		}
	for (i = 0; by_prefix[i].prefix != NULL; i++)
		if (strncasecmp(token, by_prefix[i].prefix, 4) == 0) {
			answer(req, by_prefix[i].status, by_prefix[i].reason);
			return;
		}
	if (strncmp(token, "5104", 4) == 0) {
		struct timeval tv = { mock.slow_ms / 1000,
		    (mock.slow_ms % 1000) * 1000 };

		hold(req, &tv, 200, NULL);
		return;
	}
	answer(req, 200, NULL);
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	if (sig == SIGUSR1) {
		print_counts();
		write_count_file();
		return;
	}
	event_base_loopbreak(mock.base);
}

static int
verify_accept_cb(int ok, X509_STORE_CTX *ctx)
{
	/* Decided per request, so a bad certificate gets APNs' 403. */
	return 1;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "listen", required_argument, NULL, 'l' },
		{ "port", required_argument, NULL, 'p' },
		{ "port-file", required_argument, NULL, 'P' },
		{ "alpn", required_argument, NULL, 'a' },
		{ "client-ca", required_argument, NULL, 'C' },
		{ "jwt-key", required_argument, NULL, 'j' },
		{ "key-id", required_argument, NULL, 'i' },
		{ "team-id", required_argument, NULL, 't' },
		{ "jwt-max-age", required_argument, NULL, 'A' },
		{ "topic", required_argument, NULL, 'T' },
		{ "max-streams", required_argument, NULL, 'm' },
		{ "goaway-after", required_argument, NULL, 'g' },
		{ "slow-ms", required_argument, NULL, 's' },
		{ "delay-ms", required_argument, NULL, 'D' },
		{ "record", required_argument, NULL, 'r' },
		{ "received", required_argument, NULL, 'I' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "count-file", required_argument, NULL, 'N' },
		{ "answers", required_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 }
	};
	const char *cert = NULL, *key = NULL, *port_file = NULL, *ca = NULL;
	const char *jwt_key = NULL;
	struct h2srv_config cfg;
	struct event *sigs[4];
	SSL_CTX *ctx;
	FILE *f;
	char *err = NULL;
	int ch, i, delay_ms = 0;

	memset(&cfg, 0, sizeof(cfg));
	mock.jwt_max_age = 3600;
	mock.slow_ms = 2000;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': cert = optarg; break;
		case 'k': key = optarg; break;
		case 'l': cfg.addr = optarg; break;
		case 'p': cfg.port = atoi(optarg); break;
		case 'P': port_file = optarg; break;
		case 'a': cfg.alpn = optarg; break;
		case 'C': ca = optarg; break;
		case 'j': jwt_key = optarg; break;
		case 'i': mock.key_id = optarg; break;
		case 't': mock.team_id = optarg; break;
		case 'A': mock.jwt_max_age = atol(optarg); break;
		case 'T':
			if (mock.ntopics == MAX_TOPICS)
				usage();
			mock.topics[mock.ntopics++] = optarg;
			break;
		case 'm': cfg.max_streams = (unsigned int)atoi(optarg); break;
		case 'g': cfg.goaway_after = (unsigned int)atoi(optarg); break;
		case 's': mock.slow_ms = atoi(optarg); break;
		case 'D': delay_ms = atoi(optarg); break;
		case 'r':
			if ((mock.record = fopen(optarg, "w")) == NULL) {
				perror(optarg);
				return 1;
			}
			break;
		case 'I':
			if ((mock.received = fopen(optarg, "w")) == NULL) {
				perror(optarg);
				return 1;
			}
			break;
		case 'q': mock.quiet = true; break;
		case 'N': mock.count_file = optarg; break;
		case 'R':
			if (answers_load(optarg) == -1)
				return 1;
			break;
		default: usage();
		}
	}
	if (cert == NULL || key == NULL || (jwt_key != NULL &&
	    (mock.key_id == NULL || mock.team_id == NULL)))
		usage();
	signal(SIGPIPE, SIG_IGN);

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		fprintf(stderr, "apns_mock: %s / %s: ", cert, key);
		ERR_print_errors_fp(stderr);
		return 1;
	}
	if (ca != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
			fprintf(stderr, "apns_mock: %s: ", ca);
			ERR_print_errors_fp(stderr);
			return 1;
		}
		SSL_CTX_set_client_CA_list(ctx, SSL_load_client_CA_file(ca));
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_accept_cb);
		mock.client_ca = true;
	}
	if (jwt_key != NULL) {
		if ((f = fopen(jwt_key, "r")) == NULL) {
			perror(jwt_key);
			return 1;
		}
		mock.jwt_key = PEM_read_PUBKEY(f, NULL, NULL, NULL);
		fclose(f);
		if (mock.jwt_key == NULL) {
			fprintf(stderr, "apns_mock: %s: not a public key\n",
			    jwt_key);
			return 1;
		}
		/* Token clients present no certificate: do not ask. */
		if (!mock.client_ca)
			SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}

	if ((mock.base = event_base_new()) == NULL)
		return 1;
	if (delay_ms > 0) {
		struct timeval tv = { delay_ms / 1000,
		    (delay_ms % 1000) * 1000 };

		/* Thousands of equal timers: libevent's O(1) common queue. */
		mock.delay = event_base_init_common_timeout(mock.base, &tv);
	}
	cfg.base = mock.base;
	cfg.ctx = ctx;
	cfg.on_request = on_request;
	cfg.on_abort = on_abort;
	cfg.on_conn_free = on_conn_free;
	if ((mock.srv = h2srv_new(&cfg, &err)) == NULL) {
		fprintf(stderr, "apns_mock: %s\n", err);
		free(err);
		return 1;
	}
	if (port_file != NULL) {
		char tmp[4096];

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
	if (!mock.quiet)
		fprintf(stderr, "apns_mock: listening on port %d\n",
		    h2srv_port(mock.srv));
	sigs[0] = evsignal_new(mock.base, SIGUSR1, signal_cb, NULL);
	sigs[1] = evsignal_new(mock.base, SIGTERM, signal_cb, NULL);
	sigs[2] = evsignal_new(mock.base, SIGINT, signal_cb, NULL);
	sigs[3] = evsignal_new(mock.base, SIGHUP, signal_cb, NULL);
	for (i = 0; i < 4; i++)
		evsignal_add(sigs[i], NULL);
	event_base_dispatch(mock.base);

	print_counts();
	write_count_file();
	h2srv_free(&mock.srv);
	for (i = 0; i < 4; i++)
		event_free(sigs[i]);
	event_base_free(mock.base);
	SSL_CTX_free(ctx);
	EVP_PKEY_free(mock.jwt_key);
	if (mock.record != NULL)
		fclose(mock.record);
	if (mock.received != NULL)
		fclose(mock.received);
	return 0;
}
