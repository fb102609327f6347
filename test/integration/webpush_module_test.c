/*
 * webpush.so against test/mock/webpush_mock.py, a push service that holds
 * its subscriptions' private keys: subscriptions checked at registration,
 * a push the mock decrypts to the expected JSON (keys, padding, headers,
 * the VAPID JWT it verified), wake-ups, calls, Topic, payload-keys, a
 * body cut to fit, every failure answer, a relayed Push 2.0 payload,
 * HTTP/2 and HTTP/1.1, connection reuse, and a throughput figure.
 *
 * Usage: webpush_module_test DIR [N], where DIR holds tls.crt, tls.key,
 * vapid.pem and server.pem (webpush_module_test.sh makes them); N pushes for
 * the throughput figure (default 300; scripts/bench.sh asks for more).
 * The module is $top_builddir/plugins/.libs/webpush.so; the mocks are
 * started and killed here.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <json-c/json.h>
#include <openssl/evp.h>

#include "plugins/provider.h"
#include "plugins/webpush.h"
#include "test/lib/provider_harness.h"
#include "test/lib/tap.h"

#define MOCK_START_S	20	/* deadline for the mock's port file */
#define ANSWER_S	60	/* deadline for answers */

struct mock {
	pid_t		 pid;
	char		 origin[64];
	char		 record[512];
};

static struct event_base *base;
static struct ph *ph;
static const struct xp_provider *prov;
static const char *dir;
static struct mock mock, mock1;
static int pending;

/* The mocks. */

static void
mock_start(struct mock *m, const char *name, bool http1)
{
	char port_file[512], cert[512], key[512], *script, buf[32];
	struct timespec t0, t;
	FILE *f;

	snprintf(port_file, sizeof(port_file), "%s/%s.port", dir, name);
	snprintf(m->record, sizeof(m->record), "%s/%s.jsonl", dir, name);
	snprintf(cert, sizeof(cert), "%s/tls.crt", dir);
	snprintf(key, sizeof(key), "%s/tls.key", dir);
	if (asprintf(&script, "%s/test/mock/webpush_mock.py",
	    getenv("top_srcdir") != NULL ? getenv("top_srcdir") : ".") < 0)
		abort();
	unlink(port_file);
	if ((m->pid = fork()) == 0) {
		char *args[] = { "python3", script, "--cert", cert, "--key",
		    key, "--port-file", port_file, "--record", m->record,
		    http1 ? "--http1" : NULL, NULL };

		execv("/usr/bin/python3", args);
		_exit(127);
	}
	free(script);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if ((f = fopen(port_file, "r")) != NULL) {
			if (fgets(buf, sizeof(buf), f) != NULL) {
				fclose(f);
				break;
			}
			fclose(f);
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > MOCK_START_S) {
			printf("Bail out! the Web Push mock did not start\n");
			exit(1);
		}
		usleep(20000);
	}
	snprintf(m->origin, sizeof(m->origin), "https://127.0.0.1:%d",
	    atoi(buf));
}

static void
mock_stop(struct mock *m)
{
	if (m->pid > 0) {
		kill(m->pid, SIGTERM);
		waitpid(m->pid, NULL, 0);
		m->pid = 0;
	}
}

static size_t
collect_cb(char *data, size_t size, size_t n, void *arg)
{
	pu_buf_add(arg, data, size * n);
	return size * n;
}

/* POST (or GET, body NULL) to the mock with a blocking easy handle. */
static char *
mock_http(const struct mock *m, const char *path, const char *body)
{
	struct pu_buf out = { 0 };
	char url[256], ca[512];
	CURL *e = curl_easy_init();

	snprintf(url, sizeof(url), "%s%s", m->origin, path);
	snprintf(ca, sizeof(ca), "%s/tls.crt", dir);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_CAINFO, ca);
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &out);
	if (body != NULL)
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
	if (curl_easy_perform(e) != CURLE_OK || out.data == NULL) {
		printf("Bail out! the mock does not answer %s\n", url);
		exit(1);
	}
	curl_easy_cleanup(e);
	return out.data;
}

/* A subscription as a browser's PushSubscription.toJSON() gives it. */
static char *
subscribe(const struct mock *m, const char *opts)
{
	return mock_http(m, "/subscribe", opts != NULL ? opts : "{}");
}

/* Connections the mock has accepted (this request's one too). */
static int
mock_connections(const struct mock *m)
{
	char *stats = mock_http(m, "/control/stats", NULL);
	json_object *o = json_tokener_parse(stats), *v;
	int n = -1;

	if (o != NULL && json_object_object_get_ex(o, "connections", &v))
		n = json_object_get_int(v);
	json_object_put(o);
	free(stats);
	return n;
}

/* The mock's last record, parsed. */
static json_object *
last_record(const struct mock *m)
{
	char line[65536], last[65536] = "";
	FILE *f;

	if ((f = fopen(m->record, "r")) == NULL)
		return NULL;
	while (fgets(line, sizeof(line), f) != NULL)
		snprintf(last, sizeof(last), "%s", line);
	fclose(f);
	return json_tokener_parse(last);
}

/* d["a"]["b"]... as a string ("" when absent). */
static const char *
jget(json_object *o, const char *path)
{
	static char out[8192];
	char key[128], *p;
	json_object *v = o;

	snprintf(key, sizeof(key), "%s", path);
	for (p = strtok(key, "."); p != NULL && v != NULL;
	    p = strtok(NULL, "."))
		if (!json_object_object_get_ex(v, p, &v))
			v = NULL;
	if (v == NULL)
		return "";
	snprintf(out, sizeof(out), "%s", json_object_is_type(v,
	    json_type_string) ? json_object_get_string(v) :
	    json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE));
	return out;
}

/* Sends. */

struct result {
	int		 calls;
	enum xp_outcome	 outcome;
	unsigned int	 retry;
	char		 reason[512];
};

static void
sent_cb(void *arg, enum xp_outcome o, unsigned int retry, const char *why)
{
	struct result *r = arg;

	r->calls++;
	r->outcome = o;
	r->retry = retry;
	snprintf(r->reason, sizeof(r->reason), "%s", why != NULL ? why : "");
	pending--;
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/* The loop until every send is answered, or the deadline. */
static void
wait_answers(void)
{
	struct timeval tv = { 0, 50000 };
	struct timespec t0, t;
	struct event *tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);

	event_add(tick, &tv);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (pending > 0) {
		event_base_loop(base, EVLOOP_ONCE);
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > ANSWER_S)
			break;
	}
	event_free(tick);
}

static struct result
push(void *self, const struct xp_push *p)
{
	struct result r = { 0 };

	pending++;
	if (prov->send(self, p, sent_cb, &r) == -1) {
		pending--;
		r.outcome = (enum xp_outcome)-1;
		return r;
	}
	wait_answers();
	return r;
}

static void *
make(const char *extra_key, const char *extra_value)
{
	char path[512], *err = NULL;
	void *self;

	ph_clear(ph);
	snprintf(path, sizeof(path), "%s/vapid.pem", dir);
	ph_set(ph, "vapid-key-file", path);
	ph_set(ph, "vapid-subject", "mailto:ops@push.example.net");
	snprintf(path, sizeof(path), "%s/tls.crt", dir);
	ph_set(ph, "ca-file", path);
	if (extra_key != NULL)
		ph_set(ph, extra_key, extra_value);
	if ((self = ph_create(ph, "webpush", &err)) == NULL) {
		printf("Bail out! create: %s\n", err);
		exit(1);
	}
	return self;
}

static struct xp_push
message(const char *token)
{
	return (struct xp_push){
		.profile = XP_PROFILE_TIGASE,
		.account = "alice@example.net",
		.node = "node-1",
		.token = token,
		.prio = XP_PRIO_HIGH,
		.kind = XP_KIND_MESSAGE,
		.sender = "bob@example.net",
		.body = "hello \"alice\"",
		.unread = 3,
		.pending_subscriptions = -1,
	};
}

/* check_token refuses tok; the reason names want. */
static void
refused(void *self, const char *tok, bool voip, const char *want,
    const char *what)
{
	char *err = NULL;
	int rc = prov->check_token(self, tok, voip, &err);

	ok(rc == -1 && err != NULL && strstr(err, want) != NULL, "%s is "
	    "refused: %s", what, err != NULL ? err : "(accepted)");
	free(err);
}

static void
test_check_token(void *self)
{
	char *sub = subscribe(&mock, NULL), *err = NULL;

	is_int(prov->check_token(self, sub, false, &err), 0,
	    "a browser's subscription JSON is a good device token");
	refused(self, sub, true, "VoIP", "as a VoIP token it");
	refused(self, "{\"endpoint\":\"http://127.0.0.1/x\",\"keys\":{}}",
	    false, "https", "an http endpoint");
	refused(self, "fcm-token-0001", false, "PushSubscription",
	    "an FCM-style token");
	free(sub);
}

static void
test_message(void *self)
{
	char *sub = subscribe(&mock, NULL);
	struct xp_push p = message(sub);
	struct result r = push(self, &p);
	json_object *rec = last_record(&mock);
	int plen;

	is_int(r.outcome, XP_SENT, "a message push is sent (%s)", r.reason);
	is_str(jget(rec, "status"), "201", "the push service answers 201 "
	    "Created");
	is_str(jget(rec, "plaintext"), "{\"account\":\"alice@example.net\","
	    "\"sender\":\"bob@example.net\",\"body\":\"hello \\\"alice\\\"\","
	    "\"unread-messages\":3}",
	    "the mock decrypts it to the notification JSON");
	plen = (int)strlen(json_object_to_json_string_ext(json_object_object_get(
	    rec, "plaintext"), JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE));
	is_int((plen + atoi(jget(rec, "padding"))) % 256, 0,
	    "padded to a multiple of 256 bytes (%d + %s)", plen,
	    jget(rec, "padding"));
	is_str(jget(rec, "headers.urgency"), "high", "Urgency: high");
	is_str(jget(rec, "headers.ttl"), "2419200", "TTL: the block's ttl");
	is_str(jget(rec, "headers.content-encoding"), "aes128gcm",
	    "Content-Encoding: aes128gcm");
	is_str(jget(rec, "headers.topic"), "", "no Topic by default");
	is_str(jget(rec, "jwt.aud"), mock.origin, "the JWT's aud is the "
	    "endpoint's origin (the mock verified its signature with k)");
	is_str(jget(rec, "jwt.sub"), "mailto:ops@push.example.net",
	    "its sub is vapid-subject");
	ok(atol(jget(rec, "jwt.exp")) > time(NULL) + 43000 &&
	    atol(jget(rec, "jwt.exp")) <= time(NULL) + 43200,
	    "its exp is vapid-lifetime ahead");
	is_str(jget(rec, "headers.:version"), "h2", "over HTTP/2");
	json_object_put(rec);
	free(sub);
}

static void
test_kinds(void *self)
{
	char *sub = subscribe(&mock, NULL);
	struct xp_push p = message(sub);
	struct result r;
	json_object *rec;
	void *t;

	p.prio = XP_PRIO_LOW;
	p.kind = XP_KIND_WAKEUP;
	p.sender = p.body = NULL;
	p.unread = -1;
	r = push(self, &p);
	rec = last_record(&mock);
	is_int(r.outcome, XP_SENT, "a wake-up is sent");
	is_str(jget(rec, "headers.urgency"), "low", "with Urgency: low");
	is_str(jget(rec, "plaintext"), "{\"account\":\"alice@example.net\"}",
	    "naming the account only");
	json_object_put(rec);

	p = message(sub);
	p.kind = XP_KIND_CALL;
	p.body = "Incoming call";
	p.jingle_sid = "sid-42";
	p.jingle_media = "audio";
	p.prio = XP_PRIO_LOW;	/* even so: a call is never low */
	r = push(self, &p);
	rec = last_record(&mock);
	is_int(r.outcome, XP_SENT, "a call is sent");
	is_str(jget(rec, "headers.urgency"), "high", "with Urgency: high");
	is_str(jget(rec, "headers.ttl"), "30", "and TTL call-lifetime");
	is_str(jget(rec, "plaintext.type") , "call", "type call");
	is_str(jget(rec, "plaintext.sid"), "sid-42", "its sid");
	is_str(jget(rec, "plaintext.media"), "audio", "and media");
	json_object_put(rec);

	t = make("topic", "true");
	p = message(sub);
	p.prio = XP_PRIO_LOW;
	p.kind = XP_KIND_WAKEUP;
	r = push(t, &p);
	rec = last_record(&mock);
	is_int((int)strlen(jget(rec, "headers.topic")), 32,
	    "topic = true: a wake-up carries a 32-character Topic");
	ok(strstr(jget(rec, "headers.topic"), "node") == NULL,
	    "that does not show the node");
	json_object_put(rec);
	prov->destroy(t);

	t = make("payload-keys", "account,unread-messages");
	p = message(sub);
	r = push(t, &p);
	rec = last_record(&mock);
	is_str(jget(rec, "plaintext"), "{\"account\":\"alice@example.net\","
	    "\"unread-messages\":3}", "payload-keys: only what the operator "
	    "lets leave the server");
	json_object_put(rec);
	prov->destroy(t);
	free(sub);
}

static void
test_big(void *self)
{
	char *sub = subscribe(&mock, NULL), *body;
	struct xp_push p = message(sub);
	struct result r;
	json_object *rec;
	const char *b;
	size_t i;

	/* 5000 bytes of two-byte characters (U+00E9). */
	body = malloc(5001);
	for (i = 0; i < 5000; i += 2)
		memcpy(body + i, "\xc3\xa9", 2);
	body[5000] = '\0';
	p.body = body;
	r = push(self, &p);
	rec = last_record(&mock);
	b = jget(rec, "plaintext.body");
	is_int(r.outcome, XP_SENT, "a 5000-byte body is sent");
	ok(strlen(b) < 4000 && strlen(b) > 3500 &&
	    strcmp(b + strlen(b) - 3, PU_ELLIPSIS) == 0,
	    "cut to fit one record, on a character boundary, with U+2026 "
	    "(%zu bytes)", strlen(b));
	ok(atoi(jget(rec, "length")) <= WP_BODY_MAX, "the body is at most "
	    "4096 bytes (%s)", jget(rec, "length"));
	json_object_put(rec);
	free(body);
	free(sub);
}

static void
failure(void *self, const char *opts, enum xp_outcome want,
    unsigned int retry, const char *what)
{
	char *sub = subscribe(&mock, opts);
	struct xp_push p = message(sub);
	struct result r = push(self, &p);

	ok(r.outcome == want && r.retry == retry && r.calls == 1,
	    "%s (%s)", what, r.reason);
	free(sub);
}

static void
test_failures(void *self)
{
	char *gone, key[128];
	struct wp_vapid other;
	char *err = NULL, path[512];
	struct xp_push p;
	struct result r;

	failure(self, "{\"fail\":404}", XP_INVALID_TOKEN, 0,
	    "404: the subscription is gone, XP_INVALID_TOKEN");
	failure(self, "{\"fail\":410}", XP_INVALID_TOKEN, 0,
	    "410 Gone: XP_INVALID_TOKEN");
	failure(self, "{\"fail\":413}", XP_PERMANENT, 0,
	    "413: XP_PERMANENT");
	failure(self, "{\"fail\":429,\"retry_after\":7}", XP_RATE_LIMITED, 7,
	    "429 with Retry-After: 7: XP_RATE_LIMITED, 7 s");
	failure(self, "{\"fail\":500}", XP_TEMPORARY, 0,
	    "500: XP_TEMPORARY");
	failure(self, "{\"fail\":503}", XP_TEMPORARY, 0,
	    "503: XP_TEMPORARY");
	snprintf(path, sizeof(path), "%s/server.pem", dir);
	if (wp_vapid_load(path, &other, &err) == -1)
		abort();
	snprintf(key, sizeof(key), "{\"applicationServerKey\":\"%s\"}",
	    other.public_b64);
	wp_vapid_free(&other);
	failure(self, key, XP_AUTH_FAILED, 0, "a subscription made for "
	    "another applicationServerKey: 403, XP_AUTH_FAILED");
	ok(ph_log_count(ph, XP_LOG_WARN, "HTTP 403") == 1,
	    "logged as a warning");
	failure(self, key, XP_AUTH_FAILED, 0, "again");
	ok(ph_log_count(ph, XP_LOG_WARN, "HTTP 403") == 1,
	    "not logged twice in a row");
	failure(self, NULL, XP_SENT, 0, "a good push after it is sent");

	/* A subscription the mock never made. */
	gone = subscribe(&mock, NULL);
	memcpy(strstr(gone, "/push/") + 6, "XXXX", 4);
	p = message(gone);
	r = push(self, &p);
	is_int(r.outcome, XP_INVALID_TOKEN, "an unknown push resource: 404");
	free(gone);

	/* A push service that is not there. */
	p = message("{\"endpoint\":\"https://127.0.0.1:1/push/x\",\"keys\":"
	    "{\"p256dh\":\"BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AY"
	    "WXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4\",\"auth\":\"BTBZMqHH6r4Tts7J_"
	    "aSIgg\"}}");
	r = push(self, &p);
	is_int(r.outcome, XP_TEMPORARY, "connection refused: XP_TEMPORARY "
	    "(%s)", r.reason);
	p = message(gone = subscribe(&mock, NULL));
	p.profile = XP_PROFILE_P2;
	r = push(self, &p);
	is_int(r.outcome, XP_PERMANENT, "a p2-dialect push: XP_PERMANENT, "
	    "no payload of that layout (%s)", r.reason);
	free(gone);
	p = message("{\"endpoint\":\"https://127.0.0.1:1/x\"}");
	r = push(self, &p);
	is_int(r.outcome, XP_INVALID_TOKEN, "a stored token that is no "
	    "subscription: XP_INVALID_TOKEN without a request (%s)", r.reason);
}

/*
 * Push 2.0: the user's server encrypted the payload for the client and
 * signed the JWT with its own VAPID key; webpush.so only carries them.
 */
static void
test_relay(void *self)
{
	char *sub = subscribe(&mock, NULL), *err = NULL, *jwt, path[512];
	const char *secret = "{\"push2\":\"opaque to the App Server\"}";
	struct pu_buf bytes = { 0 };
	struct wp_vapid server;
	struct wp_sub s;
	struct xp_push p = { 0 };
	struct result r;
	json_object *rec;

	snprintf(path, sizeof(path), "%s/server.pem", dir);
	if (wp_vapid_load(path, &server, &err) == -1 ||
	    wp_sub_parse(sub, true, &s, &err) == -1 ||
	    wp_encrypt(s.p256dh, s.auth, secret, strlen(secret), 0, NULL,
	    NULL, &bytes, &err) == -1 ||
	    (jwt = wp_vapid_jwt(&server, s.origin, time(NULL) + 3600,
	    "mailto:admin@example.org", &err)) == NULL) {
		printf("Bail out! %s\n", err);
		exit(1);
	}
	p.profile = XP_PROFILE_TIGASE;
	p.token = s.endpoint;
	p.prio = XP_PRIO_HIGH;
	p.kind = XP_KIND_MESSAGE;
	p.unread = p.pending_subscriptions = -1;
	p.relay = (const unsigned char *)bytes.data;
	p.relay_len = bytes.len;
	p.relay_jwt = jwt;
	p.relay_key = server.public_b64;
	r = push(self, &p);
	rec = last_record(&mock);
	is_int(r.outcome, XP_SENT, "a relayed Push 2.0 payload is sent to "
	    "the endpoint URL (%s)", r.reason);
	is_str(jget(rec, "plaintext"), secret, "byte for byte: the mock "
	    "decrypts what the user's server encrypted");
	is_str(jget(rec, "k"), server.public_b64, "with the server's VAPID "
	    "key as k");
	is_str(jget(rec, "jwt.sub"), "mailto:admin@example.org",
	    "and the server's JWT");
	json_object_put(rec);

	p.token = sub;
	p.prio = XP_PRIO_LOW;
	r = push(self, &p);
	rec = last_record(&mock);
	ok(r.outcome == XP_SENT && strcmp(jget(rec, "plaintext"), secret) ==
	    0, "to a subscription's JSON, too");
	is_str(jget(rec, "headers.urgency"), "low", "Urgency from the "
	    "priority");
	json_object_put(rec);

	p.relay_jwt = "a.b.c\r\nX-Injected: 1";
	r = push(self, &p);
	is_int(r.outcome, XP_PERMANENT, "a JWT with header syntax in it is "
	    "refused (%s)", r.reason);
	p.relay_jwt = jwt;
	p.relay_key = NULL;
	r = push(self, &p);
	is_int(r.outcome, XP_AUTH_FAILED, "without a key no Authorization "
	    "goes: the push service says 401");

	free(jwt);
	pu_buf_free(&bytes);
	wp_sub_free(&s);
	wp_vapid_free(&server);
	free(sub);
}

static void
test_http1(void)
{
	void *self = make(NULL, NULL);
	char *sub = subscribe(&mock1, NULL);
	struct xp_push p = message(sub);
	struct result r = push(self, &p);
	json_object *rec = last_record(&mock1);

	is_int(r.outcome, XP_SENT, "a push service without HTTP/2: sent");
	is_str(jget(rec, "headers.:version"), "http/1.1", "over HTTP/1.1");
	is_str(jget(rec, "plaintext.body"), "hello \"alice\"",
	    "and decrypted");
	json_object_put(rec);
	prov->destroy(self);
	free(sub);
}

/* CPU seconds this process has used. */
static double
cpu_now(void)
{
	struct rusage u;

	getrusage(RUSAGE_SELF, &u);
	return (double)u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 +
	    (double)u.ru_stime.tv_sec + u.ru_stime.tv_usec / 1e6;
}

/* CPU seconds per ECDH of eph with point, the way webpush.so does it. */
static double
ecdh_cost(EVP_PKEY *eph, const unsigned char *point, int n)
{
	double c0;
	unsigned char secret[32];
	EVP_PKEY *peer = EVP_PKEY_new();
	EVP_PKEY_CTX *c;
	size_t len;
	int i;

	if (EVP_PKEY_copy_parameters(peer, eph) != 1 ||
	    EVP_PKEY_set1_encoded_public_key(peer, point, 65) != 1)
		abort();
	c0 = cpu_now();
	for (i = 0; i < n; i++) {
		len = sizeof(secret);
		c = EVP_PKEY_CTX_new(eph, NULL);
		if (EVP_PKEY_derive_init(c) != 1 ||
		    EVP_PKEY_derive_set_peer_ex(c, peer, 0) != 1 ||
		    EVP_PKEY_derive(c, secret, &len) != 1)
			abort();
		EVP_PKEY_CTX_free(c);
	}
	c0 = (cpu_now() - c0) / n;
	EVP_PKEY_free(peer);
	return c0;
}

/* CPU seconds per wp_encrypt for s, with eph or fresh keys (NULL). */
static double
encrypt_cost(const struct wp_sub *s, EVP_PKEY *eph, int n)
{
	struct pu_buf b = { 0 };
	char *err = NULL;
	double c0 = cpu_now();
	int i;

	for (i = 0; i < n; i++) {
		b.len = 0;
		if (wp_encrypt(s->p256dh, s->auth, "{}", 2, 256, eph, NULL, &b,
		    &err) == -1)
			abort();
	}
	c0 = (cpu_now() - c0) / n;
	pu_buf_free(&b);
	return c0;
}

/* Throughput, CPU per push, and the encryption's share of it. */
static void
test_throughput(void *self, int n)
{
	char *sub = subscribe(&mock, NULL), *err = NULL;
	struct result *rs = calloc((size_t)n, sizeof(*rs));
	struct xp_push p = message(sub);
	struct timespec t0, t1;
	struct wp_sub s;
	EVP_PKEY *eph;
	double wall, cpu, enc, fixed, ecdh;
	int i, sent = 0, conns0, conns1;

	conns0 = mock_connections(&mock);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cpu = cpu_now();
	for (i = 0; i < n; i++) {
		pending++;
		if (prov->send(self, &p, sent_cb, &rs[i]) == -1)
			pending--;
	}
	wait_answers();
	cpu = cpu_now() - cpu;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	for (i = 0; i < n; i++)
		sent += rs[i].outcome == XP_SENT && rs[i].calls == 1;
	is_int(sent, n, "%d pushes at once: all sent", n);
	conns1 = mock_connections(&mock);
	/* One for the stats request itself. */
	ok(conns1 - conns0 <= 1 + 2, "over the pool's connections, reused "
	    "(%d new)", conns1 - conns0 - 1);
	wall = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) /
	    1e9;
	diag("webpush: %d pushes in %.2f s: %.0f pushes/s (the Python mock, "
	    "which decrypts each, is the bound); CPU %.1f us per push in "
	    "webpush.so and the host", n, wall, n / wall, cpu * 1e6 / n);

	/* The encryption alone: fresh key (ECDH + keygen) vs a fixed one. */
	wp_sub_parse(sub, true, &s, &err);
	enc = encrypt_cost(&s, NULL, n);
	eph = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	fixed = encrypt_cost(&s, eph, n);
	ecdh = ecdh_cost(eph, s.p256dh, n);
	diag("webpush: RFC 8291 encryption %.1f us per message, of which "
	    "the fresh ephemeral key pair %.1f us and the ECDH %.1f us "
	    "(EVP_PKEY_derive alone)", enc * 1e6, (enc - fixed) * 1e6,
	    ecdh * 1e6);
	/* One JSON line for scripts/bench.sh (BENCHMARKS.md). */
	printf("# bench {\"label\": \"webpush\", \"pushes\": %d, "
	    "\"seconds\": %.3f, \"pushes_per_s\": %.0f, "
	    "\"cpu_us_per_push\": %.1f, \"encrypt_us\": %.1f, "
	    "\"keygen_us\": %.1f, \"ecdh_us\": %.1f}\n", n, wall, n / wall,
	    cpu * 1e6 / n, enc * 1e6, (enc - fixed) * 1e6, ecdh * 1e6);
	ok(enc > 0, "the encryption was measured");
	EVP_PKEY_free(eph);
	wp_sub_free(&s);
	free(rs);
	free(sub);
}

static void
test_destroy_outstanding(void)
{
	void *self = make(NULL, NULL);
	char *sub = subscribe(&mock, NULL);
	struct xp_push p = message(sub);
	struct result r[3] = { 0 };
	int i;

	for (i = 0; i < 3; i++) {
		pending++;
		prov->send(self, &p, sent_cb, &r[i]);
	}
	prov->destroy(self);
	ok(pending == 0 && r[0].outcome == XP_TEMPORARY && r[2].calls == 1,
	    "destroy answers outstanding pushes XP_TEMPORARY");
	pending = 0;
	free(sub);
}

/* create() refuses the block; the reason names want. */
static void
create_refused(const char *want, const char *what)
{
	char *err = NULL;
	void *self = ph_create(ph, "webpush", &err);

	ok(self == NULL && err != NULL && strstr(err, want) != NULL,
	    "%s: %s", what, err != NULL ? err : "(created)");
	if (self != NULL)
		prov->destroy(self);
	free(err);
}

static void
test_create_errors(void)
{
	char path[512];

	ph_clear(ph);
	ph_set(ph, "vapid-key-file", "/nonexistent.pem");
	ph_set(ph, "vapid-subject", "mailto:ops@example.net");
	create_refused("/nonexistent.pem", "a missing VAPID key");
	snprintf(path, sizeof(path), "%s/tls.crt", dir);
	ph_set(ph, "vapid-key-file", path);
	create_refused("not a PEM private key", "a certificate instead");
	snprintf(path, sizeof(path), "%s/vapid.pem", dir);
	ph_set(ph, "vapid-key-file", path);
	ph_set(ph, "vapid-subject", "ops@example.net");
	create_refused("mailto:", "a subject that is no URI");
	ph_set(ph, "vapid-subject", "mailto:ops@example.net");
	ph_set(ph, "payload-keys", "account,password");
	create_refused("'password'", "an unknown payload key");
}

int
main(int argc, char **argv)
{
	char *err = NULL, path[512];
	void *self;
	int n;

	if (argc < 2) {
		fprintf(stderr, "usage: webpush_module_test DIR [N]\n");
		return 2;
	}
	dir = argv[1];
	n = argc > 2 ? atoi(argv[2]) : 300;
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	base = event_base_new();
	snprintf(path, sizeof(path), "%s/plugins/.libs/webpush.so",
	    getenv("top_builddir") != NULL ? getenv("top_builddir") : ".");
	if ((ph = ph_new(base, path, &err)) == NULL) {
		printf("Bail out! %s\n", err);
		return 1;
	}
	prov = ph_provider(ph);
	mock_start(&mock, "mock", false);
	mock_start(&mock1, "mock1", true);

	test_create_errors();
	self = make(NULL, NULL);
	test_check_token(self);
	test_message(self);
	test_kinds(self);
	test_big(self);
	test_failures(self);
	test_relay(self);
	test_http1();
	test_destroy_outstanding();
	test_throughput(self, n);
	prov->destroy(self);

	mock_stop(&mock);
	mock_stop(&mock1);
	ph_free(&ph);
	event_base_free(base);
	curl_global_cleanup();
	return tap_done();
}
