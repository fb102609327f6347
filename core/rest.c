/*
 * The HTTPS endpoint: libevent's evhttp over OpenSSL bufferevents.
 *
 *   POST /rest/push/unregister-device/{component-jid}
 *   POST /unregister-device/{component-jid}
 *	Tigase's UnregisterDeviceHandler: the JSON body {"account": bare JID,
 *	"provider": id, "device-token": token} removes that registration,
 *	without XMPP authentication (whoever holds the token may drop it,
 *	as an app server does when the OS tells it a token is dead).
 *	200 {"result":"success"} when a row was removed, 200
 *	{"result":"failure"} when there was none (Tigase answers both with
 *	200 and tells them apart by the body), 404 for another component's
 *	JID, 400 for malformed JSON, wrong types or missing fields, 413 for
 *	bodies over max-body (evhttp refuses them before reading them), 503
 *	while the database is unreachable (retry later).
 *   GET /metrics	Prometheus text format 0.0.4; optional bearer token.
 *   GET /health	200 when the link, the database and every provider are
 *			usable, else 503 naming what is not.
 *
 * Every request first passes a per-address token bucket (429 with
 * Retry-After when empty).  Nothing here blocks: the unregister waits for
 * the store through a callback, and the registration gauges of /metrics
 * are refreshed in the background every `metrics-refresh` seconds rather
 * than queried per scrape.  Plain HTTP is allowed only on loopback.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "core/certwatch.h"
#include "core/link.h"
#include "core/log.h"
#include "core/provider.h"
#include "core/rest.h"
#include "core/stats.h"
#include "core/store.h"
#include "core/xmalloc.h"
#include "core/xpushd.h"
#include "xml/jid.h"

#define REST_PREFIX_TIGASE	"/rest/push/unregister-device/"
#define REST_PREFIX_SHORT	"/unregister-device/"
#define REST_MAX_HEADERS	8192	/* bytes of request headers */
#define REST_TIMEOUT		30	/* seconds of client silence */
#define REST_JSON_DEPTH		8	/* nesting accepted in a body */
#define REST_MAX_FIELD		4096	/* bytes of one body field */
#define RATE_HASH_SIZE		1024
#define RATE_MAX_CLIENTS	65536	/* addresses tracked at once */
#define RATE_SWEEP_INTERVAL	60	/* seconds between idle sweeps */

struct rest_settings {
	char		*host;
	int		 port;
	bool		 tls;
	char		*cert_file;
	char		*key_file;
	char		*metrics_token;	/* NULL: /metrics is open */
	size_t		 max_body;
	double		 rate;		/* tokens per second */
	double		 burst;
	int		 refresh;	/* seconds between registration counts */
};

/* One client address's token bucket. */
struct bucket {
	char		*addr;
	double		 tokens;
	double		 stamp;		/* monotonic seconds */
	struct bucket	*next;
};

/* The registrations of one provider, as last counted. */
struct regcount {
	char		*provider;
	long long	 n;
	bool		 known;
	bool		 seen;		/* still configured */
	struct regcount	*next;
};

/* An unregister waiting for the store. */
struct unreg_job {
	struct evhttp_request	*req;	/* NULL once the client is gone */
	char			*account;
	char			*provider;
};

struct count_job {
	char		*provider;
	unsigned int	 generation;
};

static struct {
	bool			 running;
	struct event_base	*base;
	struct store		*store;
	struct link		*link;
	char			*component;	/* the xmpp jid */
	struct rest_settings	 set;
	struct evhttp		*http;
	SSL_CTX			*ssl_ctx;
	struct bucket		*buckets[RATE_HASH_SIZE];
	size_t			 nbuckets;
	struct event		*sweep;
	struct event		*refresh;
	struct regcount		*counts;
	unsigned int		 generation;
} rest;

/* Settings */

static bool
rest_configured(const struct xp_conf *conf)
{
	return cfg_find(conf->file->root, "rest") != NULL;
}

/* "host:port", "[v6]:port"; the host may be empty or '*' for any. */
static int
parse_listen(const char *s, char **host_r, int *port_r, char **error_r)
{
	const char *colon, *end;
	char *ep;
	long port;

	if (*s == '[') {
		if ((end = strchr(s, ']')) == NULL || end[1] != ':') {
			xasprintf(error_r, "rest: listen '%s': write "
			    "[address]:port for IPv6", s);
			return -1;
		}
		*host_r = xstrndup(s + 1, (size_t)(end - s - 1));
		colon = end + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL) {
			xasprintf(error_r, "rest: listen '%s': write "
			    "host:port", s);
			return -1;
		}
		*host_r = xstrndup(s, (size_t)(colon - s));
	}
	port = strtol(colon + 1, &ep, 10);
	if (colon[1] == '\0' || *ep != '\0' || port < 1 || port > 65535) {
		xasprintf(error_r, "rest: listen '%s': the port must be a "
		    "number from 1 to 65535", s);
		free(*host_r);
		*host_r = NULL;
		return -1;
	}
	if (**host_r == '\0' || strcmp(*host_r, "*") == 0) {
		free(*host_r);
		*host_r = xstrdup("0.0.0.0");
	}
	*port_r = (int)port;
	return 0;
}

static bool
host_is_loopback(const char *h)
{
	return strcmp(h, "localhost") == 0 || strcmp(h, "::1") == 0 ||
	    strncmp(h, "127.", 4) == 0;
}

static void
settings_clear(struct rest_settings *set)
{
	free(set->host);
	free(set->cert_file);
	free(set->key_file);
	free(set->metrics_token);
	memset(set, 0, sizeof(*set));
}

static int
settings_from_conf(struct rest_settings *set, const struct xp_conf *conf,
    char **error_r)
{
	const char *v;

	memset(set, 0, sizeof(*set));
	if (parse_listen(conf_str(conf, "rest", "listen"), &set->host,
	    &set->port, error_r) == -1)
		return -1;
	set->tls = conf_bool(conf, "rest", "tls");
	if (!set->tls && !host_is_loopback(set->host)) {
		xasprintf(error_r, "rest: tls = false is allowed only on a "
		    "loopback address (127.0.0.1, ::1, localhost), not on "
		    "'%s': the unregister endpoint and the metrics token "
		    "must not cross a network in clear text", set->host);
		settings_clear(set);
		return -1;
	}
	v = conf_str(conf, "rest", "tls-cert");
	set->cert_file = *v != '\0' ? xstrdup(v) : NULL;
	v = conf_str(conf, "rest", "tls-key");
	set->key_file = *v != '\0' ? xstrdup(v) : NULL;
	if (set->tls && (set->cert_file == NULL || set->key_file == NULL)) {
		xasprintf(error_r, "rest: tls-cert and tls-key are required "
		    "(or tls = false on a loopback address)");
		settings_clear(set);
		return -1;
	}
	v = conf_str(conf, "rest", "metrics-token");
	set->metrics_token = *v != '\0' ? xstrdup(v) : NULL;
	set->max_body = (size_t)conf_int(conf, "rest", "max-body");
	set->rate = (double)conf_int(conf, "rest", "rate-limit") / 60.0;
	set->burst = (double)conf_int(conf, "rest", "rate-burst");
	set->refresh = (int)conf_int(conf, "rest", "metrics-refresh");
	return 0;
}

int
rest_check_conf(const struct xp_conf *conf, char **error_r)
{
	struct rest_settings set;

	if (!rest_configured(conf))
		return 0;
	if (settings_from_conf(&set, conf, error_r) == -1)
		return -1;
	settings_clear(&set);
	return 0;
}

static char *
ssl_error_string(void)
{
	unsigned long e = ERR_get_error();
	char buf[256];

	ERR_clear_error();
	if (e == 0)
		return xstrdup("unknown error");
	ERR_error_string_n(e, buf, sizeof(buf));
	return xstrdup(buf);
}

static SSL_CTX *
ssl_ctx_new(const struct rest_settings *set, char **error_r)
{
	SSL_CTX *ctx;
	char *e;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		fatalx("SSL_CTX_new failed");
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_use_certificate_chain_file(ctx, set->cert_file) != 1) {
		e = ssl_error_string();
		xasprintf(error_r, "rest: tls-cert %s: %s", set->cert_file, e);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, set->key_file,
	    SSL_FILETYPE_PEM) != 1) {
		e = ssl_error_string();
		xasprintf(error_r, "rest: tls-key %s: %s", set->key_file, e);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ERR_clear_error();
		xasprintf(error_r, "rest: tls-key %s does not match tls-cert "
		    "%s", set->key_file, set->cert_file);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
fail:
	free(e);
	SSL_CTX_free(ctx);
	return NULL;
}

/* Rate limit */

static double
now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t
addr_hash(const char *s)
{
	size_t h = 5381;

	while (*s != '\0')
		h = h * 33 + (unsigned char)*s++;
	return h % RATE_HASH_SIZE;
}

static void
bucket_refill(struct bucket *b, double now)
{
	b->tokens += (now - b->stamp) * rest.set.rate;
	if (b->tokens > rest.set.burst)
		b->tokens = rest.set.burst;
	b->stamp = now;
}

/* Takes a token for addr: 0, or the seconds to wait until one is there. */
static int
rate_take(const char *addr)
{
	struct bucket *b;
	size_t h = addr_hash(addr);
	double now = now_mono(), wait;
	int secs;

	for (b = rest.buckets[h]; b != NULL; b = b->next)
		if (strcmp(b->addr, addr) == 0)
			break;
	if (b == NULL) {
		if (rest.nbuckets >= RATE_MAX_CLIENTS) {
			log_warnx("rest: tracking %d client addresses already; "
			    "%s goes unlimited", RATE_MAX_CLIENTS, addr);
			return 0;
		}
		b = xcalloc(1, sizeof(*b));
		b->addr = xstrdup(addr);
		b->tokens = rest.set.burst;
		b->stamp = now;
		b->next = rest.buckets[h];
		rest.buckets[h] = b;
		rest.nbuckets++;
	}
	bucket_refill(b, now);
	if (b->tokens >= 1.0) {
		b->tokens -= 1.0;
		return 0;
	}
	wait = (1.0 - b->tokens) / rest.set.rate;
	secs = (int)wait;
	return secs < wait || secs < 1 ? secs + 1 : secs;
}

/* Drops the buckets that are full again: their clients went quiet. */
static void
rate_sweep(bool all)
{
	struct bucket *b, **bp;
	double now = now_mono();
	size_t i;

	for (i = 0; i < RATE_HASH_SIZE; i++) {
		bp = &rest.buckets[i];
		while ((b = *bp) != NULL) {
			bucket_refill(b, now);
			if (all || b->tokens >= rest.set.burst) {
				*bp = b->next;
				free(b->addr);
				free(b);
				rest.nbuckets--;
			} else
				bp = &b->next;
		}
	}
}

static void
rest_sweep_cb(evutil_socket_t fd, short events, void *arg)
{
	rate_sweep(false);
}

/* Replies */

static void
reply_body(struct evhttp_request *req, int code, const char *reason,
    const char *type, const char *body, size_t len)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *buf = evbuffer_new();

	if (buf == NULL)
		fatalx("evbuffer_new failed");
	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evbuffer_add(buf, body, len);
	evhttp_send_reply(req, code, reason, buf);
	evbuffer_free(buf);
}

static void
reply_json(struct evhttp_request *req, int code, const char *reason,
    struct json_object *obj)
{
	const char *s = json_object_to_json_string_ext(obj,
	    JSON_C_TO_STRING_PLAIN);
	char *line = xprintf("%s\n", s);

	reply_body(req, code, reason, "application/json", line,
	    strlen(line));
	free(line);
	json_object_put(obj);
}

/* {"result": result, "error": message} */
static void
reply_result(struct evhttp_request *req, int code, const char *reason,
    const char *result, const char *message)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "result", json_object_new_string(result));
	if (message != NULL)
		json_object_object_add(o, "error",
		    json_object_new_string(message));
	reply_json(req, code, reason, o);
}

static void
reply_text(struct evhttp_request *req, int code, const char *reason,
    const char *text)
{
	reply_body(req, code, reason, "text/plain; charset=utf-8", text,
	    strlen(text));
}

/* Unregister */

/*
 * The connection goes away while the store works.  When evhttp frees it
 * with its requests (evhttp_free at shutdown), forget the request.  When
 * the client hung up, evhttp has detached the request instead and frees
 * it when we reply.
 */
static void
unreg_conn_closed_cb(struct evhttp_connection *evcon, void *arg)
{
	struct unreg_job *job = arg;

	if (job->req != NULL && evhttp_request_get_connection(job->req) ==
	    evcon)
		job->req = NULL;
}

static void
unreg_job_free(struct unreg_job *job)
{
	free(job->account);
	free(job->provider);
	free(job);
}

static void
unreg_done_cb(void *arg, enum store_status st, const char *msg)
{
	struct unreg_job *job = arg;
	struct evhttp_request *req = job->req;

	if (st == STORE_OK) {
		stats_inc(STAT_UNREGISTER);
		log_info("rest: unregister-device removed a %s registration "
		    "of %s", job->provider, job->account);
	} else if (st != STORE_NOTFOUND)
		log_warnx("rest: unregister-device for %s: %s",
		    job->account, msg != NULL ? msg : store_status_str(st));
	if (req == NULL) {
		unreg_job_free(job);
		return;
	}
	if (evhttp_request_get_connection(req) != NULL)
		evhttp_connection_set_closecb(
		    evhttp_request_get_connection(req), NULL, NULL);
	switch (st) {
	case STORE_OK:
		reply_result(req, HTTP_OK, "OK", "success", NULL);
		break;
	case STORE_NOTFOUND:
		reply_result(req, HTTP_OK, "OK", "failure",
		    "no such registration");
		break;
	case STORE_ETEMP:
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Retry-After", "10");
		reply_result(req, HTTP_SERVUNAVAIL, "Service Unavailable",
		    "failure", "the database is unavailable; try again later");
		break;
	default:
		reply_result(req, HTTP_INTERNAL, "Internal Server Error",
		    "failure", "the registration could not be removed");
		break;
	}
	unreg_job_free(job);
}

/* A non-empty string member of the body, or NULL with *error_r. */
static const char *
body_string(struct json_object *body, const char *key, char **error_r)
{
	struct json_object *v;
	const char *s;

	if (!json_object_object_get_ex(body, key, &v) || v == NULL) {
		xasprintf(error_r, "'%s' is missing", key);
		return NULL;
	}
	if (!json_object_is_type(v, json_type_string)) {
		xasprintf(error_r, "'%s' must be a string", key);
		return NULL;
	}
	s = json_object_get_string(v);
	if ((size_t)json_object_get_string_len(v) != strlen(s) ||
	    *s == '\0') {
		xasprintf(error_r, "'%s' must be a non-empty string without "
		    "NUL characters", key);
		return NULL;
	}
	if (strlen(s) > REST_MAX_FIELD) {
		xasprintf(error_r, "'%s' is longer than %d bytes", key,
		    REST_MAX_FIELD);
		return NULL;
	}
	return s;
}

/* The JSON object in the request body, or NULL with *error_r. */
static struct json_object *
body_parse(struct evhttp_request *req, char **error_r)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	struct json_tokener *tok;
	struct json_object *obj;
	enum json_tokener_error jerr;
	const char *data;

	if (len == 0) {
		*error_r = xstrdup("the body is empty: send a JSON object");
		return NULL;
	}
	if (len > rest.set.max_body) {
		xasprintf(error_r, "the body is larger than %zu bytes",
		    rest.set.max_body);
		return NULL;
	}
	data = (const char *)evbuffer_pullup(in, -1);
	if ((tok = json_tokener_new_ex(REST_JSON_DEPTH)) == NULL)
		fatalx("json_tokener_new_ex failed");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	obj = json_tokener_parse_ex(tok, data, (int)len);
	jerr = json_tokener_get_error(tok);
	if (obj != NULL && jerr == json_tokener_success) {
		size_t end = json_tokener_get_parse_end(tok);

		while (end < len && isspace((unsigned char)data[end]))
			end++;
		if (end != len) {
			json_object_put(obj);
			obj = NULL;
			*error_r = xstrdup("the body is not valid JSON: "
			    "trailing characters after the object");
		}
	} else {
		json_object_put(obj);
		obj = NULL;
		xasprintf(error_r, "the body is not valid JSON: %s",
		    jerr == json_tokener_continue ? "it ends too early" :
		    json_tokener_error_desc(jerr));
	}
	json_tokener_free(tok);
	if (obj != NULL && !json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		obj = NULL;
		*error_r = xstrdup("the body must be a JSON object with "
		    "account, provider and device-token");
	}
	return obj;
}

static bool
is_component(const char *segment)
{
	struct jid *a, *b;
	char *decoded;
	bool same = false;

	if ((decoded = evhttp_uridecode(segment, 0, NULL)) == NULL)
		return false;
	if (strchr(decoded, '/') == NULL &&
	    (a = jid_parse(decoded, NULL)) != NULL) {
		if ((b = jid_parse(rest.component, NULL)) != NULL) {
			same = jid_compare(a, b) == 0;
			jid_free(&b);
		}
		jid_free(&a);
	}
	free(decoded);
	return same;
}

static void
handle_unregister(struct evhttp_request *req, const char *segment)
{
	struct json_object *body;
	struct unreg_job *job;
	const char *account, *provider, *token, *why = NULL;
	struct jid *jid;
	char *err = NULL;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", "POST");
		reply_result(req, 405, "Method Not Allowed", "failure",
		    "use POST");
		return;
	}
	if (!is_component(segment)) {
		reply_result(req, HTTP_NOTFOUND, "Not Found", "failure",
		    "no such push component here");
		return;
	}
	if ((body = body_parse(req, &err)) == NULL)
		goto bad;
	if ((account = body_string(body, "account", &err)) == NULL ||
	    (provider = body_string(body, "provider", &err)) == NULL ||
	    (token = body_string(body, "device-token", &err)) == NULL) {
		json_object_put(body);
		goto bad;
	}
	if ((jid = jid_parse(account, &why)) == NULL || !jid_is_bare(jid) ||
	    jid_local(jid) == NULL) {
		xasprintf(&err, "'account' must be a bare JID (user@domain)%s%s",
		    why != NULL ? ": " : "", why != NULL ? why : "");
		jid_free(&jid);
		json_object_put(body);
		goto bad;
	}
	job = xcalloc(1, sizeof(*job));
	job->req = req;
	job->account = xstrdup(jid_bare(jid));
	job->provider = xstrdup(provider);
	jid_free(&jid);
	evhttp_connection_set_closecb(evhttp_request_get_connection(req),
	    unreg_conn_closed_cb, job);
	store_device_unregister(rest.store, job->account, job->provider,
	    token, unreg_done_cb, job);
	json_object_put(body);
	return;
bad:
	reply_result(req, HTTP_BADREQUEST, "Bad Request", "failure", err);
	free(err);
}

/* Registration counts for /metrics */

static struct regcount *
regcount_find(const char *provider, bool create)
{
	struct regcount *rc;

	for (rc = rest.counts; rc != NULL; rc = rc->next)
		if (strcmp(rc->provider, provider) == 0)
			return rc;
	if (!create)
		return NULL;
	rc = xcalloc(1, sizeof(*rc));
	rc->provider = xstrdup(provider);
	rc->next = rest.counts;
	rest.counts = rc;
	return rc;
}

static void
regcounts_free(void)
{
	struct regcount *rc;

	while ((rc = rest.counts) != NULL) {
		rest.counts = rc->next;
		free(rc->provider);
		free(rc);
	}
}

static void
count_done_cb(void *arg, enum store_status st, long long n, const char *msg)
{
	struct count_job *job = arg;
	struct regcount *rc;

	if (rest.running && job->generation == rest.generation &&
	    (rc = regcount_find(job->provider, false)) != NULL) {
		rc->known = st == STORE_OK;
		rc->n = n;
	}
	free(job->provider);
	free(job);
}

static void
regcounts_refresh(void)
{
	struct regcount *rc, **rcp;
	struct provider *p;
	struct count_job *job;

	rest.generation++;
	for (rc = rest.counts; rc != NULL; rc = rc->next)
		rc->seen = false;
	for (p = providers_first(); p != NULL; p = providers_next(p)) {
		regcount_find(provider_id(p), true)->seen = true;
		job = xcalloc(1, sizeof(*job));
		job->provider = xstrdup(provider_id(p));
		job->generation = rest.generation;
		store_device_count_provider(rest.store, provider_id(p),
		    count_done_cb, job);
	}
	rcp = &rest.counts;
	while ((rc = *rcp) != NULL) {
		if (!rc->seen) {
			*rcp = rc->next;
			free(rc->provider);
			free(rc);
		} else
			rcp = &rc->next;
	}
}

static void
rest_refresh_cb(evutil_socket_t fd, short events, void *arg)
{
	struct timeval tv = { rest.set.refresh, 0 };

	regcounts_refresh();
	evtimer_add(rest.refresh, &tv);
}

/* Metrics */

/* Help texts of the core/stats.c counters, by id. */
static const char *const stat_help[STAT_MAX] = {
	[STAT_PUBLISH_RECEIVED] = "PubSub publishes received",
	[STAT_PUBLISH_OK] = "Publishes answered with a result",
	[STAT_PUBLISH_NOT_FOUND] = "Publishes to an unknown node",
	[STAT_PUBLISH_FORBIDDEN] = "Publishes refused: wrong domain or secret",
	[STAT_PUBLISH_BAD_REQUEST] = "Malformed publishes",
	[STAT_PUBLISH_WAIT] = "Publishes answered with a wait error",
	[STAT_PUBLISH_FAILED] = "Publishes answered with another error",
	[STAT_PUSH_COALESCED] = "Pushes absorbed by throttling",
	[STAT_PUSH_RETRIED] = "Provider retries",
	[STAT_REGISTRATIONS_REMOVED] =
	    "Registrations removed for invalid tokens or account removal",
	[STAT_REGISTER] = "register-device commands completed",
	[STAT_UNREGISTER] = "Unregistrations completed (ad-hoc and HTTP)",
	[STAT_COMMANDS] = "Ad-hoc commands completed",
};

/* A Prometheus label value: backslash, quote and newline escaped. */
static void
add_label(struct evbuffer *b, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			evbuffer_add_printf(b, "\\%c", *s);
		else if (*s == '\n')
			evbuffer_add(b, "\\n", 2);
		else
			evbuffer_add(b, s, 1);
	}
}

static void
metric_head(struct evbuffer *b, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

static void
metrics_counters(struct evbuffer *b)
{
	char name[128];
	size_t i;
	int id;

	metric_head(b, "xpushd_uptime_seconds", "gauge",
	    "Seconds since xpushd started");
	evbuffer_add_printf(b, "xpushd_uptime_seconds %lld\n",
	    (long long)(time(NULL) - xpd->started));
	metric_head(b, "xpushd_in_flight", "gauge",
	    "Notifications in progress");
	evbuffer_add_printf(b, "xpushd_in_flight %ld\n",
	    stats_in_flight_now());
	for (id = 0; id < STAT_MAX; id++) {
		snprintf(name, sizeof(name), "xpushd_%s_total",
		    stats_name(id));
		for (i = 0; name[i] != '\0'; i++)
			if (name[i] == '-')
				name[i] = '_';
		metric_head(b, name, "counter", stat_help[id] != NULL ?
		    stat_help[id] : stats_name(id));
		evbuffer_add_printf(b, "%s %llu\n", name,
		    (unsigned long long)stats_get(id));
	}
}

static void
metrics_providers(struct evbuffer *b)
{
	const struct stats_provider *sp;
	uint64_t cum;
	int o, i;

	metric_head(b, "xpushd_push_outcomes_total", "counter",
	    "Pushes handed to a provider, by outcome");
	for (sp = stats_providers(); sp != NULL; sp = sp->next)
		for (o = XP_SENT; o <= XP_AUTH_FAILED; o++) {
			evbuffer_add_printf(b,
			    "xpushd_push_outcomes_total{provider=\"");
			add_label(b, sp->id);
			evbuffer_add_printf(b, "\",outcome=\"%s\"} %llu\n",
			    stats_outcome_name(o),
			    (unsigned long long)sp->outcomes[o]);
		}
	metric_head(b, "xpushd_push_latency_seconds", "histogram",
	    "Time from handing a push to a provider to its answer");
	for (sp = stats_providers(); sp != NULL; sp = sp->next) {
		cum = 0;
		for (i = 0; i < 12; i++) {
			cum += sp->latency_buckets[i];
			evbuffer_add_printf(b,
			    "xpushd_push_latency_seconds_bucket{provider=\"");
			add_label(b, sp->id);
			evbuffer_add_printf(b, "\",le=\"%g\"} %llu\n",
			    stats_latency_bounds[i], (unsigned long long)cum);
		}
		evbuffer_add_printf(b,
		    "xpushd_push_latency_seconds_bucket{provider=\"");
		add_label(b, sp->id);
		evbuffer_add_printf(b, "\",le=\"+Inf\"} %llu\n",
		    (unsigned long long)sp->latency_count);
		evbuffer_add_printf(b,
		    "xpushd_push_latency_seconds_sum{provider=\"");
		add_label(b, sp->id);
		evbuffer_add_printf(b, "\"} %.6f\n", sp->latency_sum);
		evbuffer_add_printf(b,
		    "xpushd_push_latency_seconds_count{provider=\"");
		add_label(b, sp->id);
		evbuffer_add_printf(b, "\"} %llu\n",
		    (unsigned long long)sp->latency_count);
	}
}

static void
metrics_cert_cb(void *arg, const struct certwatch_result *r)
{
	struct evbuffer *b = arg;

	if (r->not_after == 0)
		return;
	evbuffer_add_printf(b, "xpushd_certificate_expiry_seconds{provider=\"");
	add_label(b, r->provider);
	evbuffer_add_printf(b, "\"} %lld\n",
	    (long long)(r->not_after - time(NULL)));
}

static void
metrics_state(struct evbuffer *b)
{
	const struct regcount *rc;
	struct store_stats st;
	struct provider *p;
	const char *why;

	metric_head(b, "xpushd_registrations", "gauge",
	    "Registered devices per provider (refreshed periodically)");
	for (rc = rest.counts; rc != NULL; rc = rc->next)
		if (rc->known) {
			evbuffer_add_printf(b,
			    "xpushd_registrations{provider=\"");
			add_label(b, rc->provider);
			evbuffer_add_printf(b, "\"} %lld\n", rc->n);
		}
	metric_head(b, "xpushd_provider_up", "gauge",
	    "1 when the provider reports itself usable");
	for (p = providers_first(); p != NULL; p = providers_next(p)) {
		bool up = provider_status(p, &why) == 0 &&
		    !certwatch_unusable(provider_id(p), &why);

		evbuffer_add_printf(b, "xpushd_provider_up{provider=\"");
		add_label(b, provider_id(p));
		evbuffer_add_printf(b, "\"} %d\n", up ? 1 : 0);
	}
	metric_head(b, "xpushd_link_up", "gauge",
	    "1 while the XEP-0114 link to the XMPP server is ready");
	evbuffer_add_printf(b, "xpushd_link_up %d\n",
	    link_state(rest.link) == LINK_READY ? 1 : 0);
	store_stats_get(rest.store, &st);
	metric_head(b, "xpushd_database_up", "gauge",
	    "1 while at least one PostgreSQL connection is ready");
	evbuffer_add_printf(b, "xpushd_database_up %d\n", st.up ? 1 : 0);
	metric_head(b, "xpushd_database_connections", "gauge",
	    "Ready PostgreSQL connections");
	evbuffer_add_printf(b, "xpushd_database_connections %d\n",
	    st.connections);
	metric_head(b, "xpushd_database_queries_total", "counter",
	    "Statements sent to PostgreSQL");
	evbuffer_add_printf(b, "xpushd_database_queries_total %llu\n",
	    (unsigned long long)st.queries);
	metric_head(b, "xpushd_database_errors_total", "counter",
	    "Failed statements, including those failed fast while down");
	evbuffer_add_printf(b, "xpushd_database_errors_total %llu\n",
	    (unsigned long long)st.errors);
	metric_head(b, "xpushd_database_cache_hits_total", "counter",
	    "Node look-ups answered from the cache");
	evbuffer_add_printf(b, "xpushd_database_cache_hits_total %llu\n",
	    (unsigned long long)st.cache_hits);
	metric_head(b, "xpushd_database_cache_misses_total", "counter",
	    "Node look-ups that went to the database");
	evbuffer_add_printf(b, "xpushd_database_cache_misses_total %llu\n",
	    (unsigned long long)st.cache_misses);
	metric_head(b, "xpushd_certificate_expiry_seconds", "gauge",
	    "Seconds until the provider's APNs certificate expires "
	    "(negative: expired)");
	certwatch_foreach(metrics_cert_cb, b);
}

static bool
metrics_authorized(struct evhttp_request *req)
{
	const char *h, *tok = rest.set.metrics_token;
	size_t len;

	if (tok == NULL)
		return true;
	h = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Authorization");
	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return false;
	h += 7;
	while (*h == ' ')
		h++;
	len = strlen(tok);
	return strlen(h) == len && CRYPTO_memcmp(h, tok, len) == 0;
}

static void
handle_metrics(struct evhttp_request *req)
{
	struct evbuffer *b;

	if (!metrics_authorized(req)) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "WWW-Authenticate", "Bearer realm=\"xpushd metrics\"");
		reply_text(req, 401, "Unauthorized",
		    "a bearer token is required\n");
		return;
	}
	if ((b = evbuffer_new()) == NULL)
		fatalx("evbuffer_new failed");
	metrics_counters(b);
	metrics_providers(b);
	metrics_state(b);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, HTTP_OK, "OK", b);
	evbuffer_free(b);
}

/* Health */

static void
handle_health(struct evhttp_request *req)
{
	struct json_object *o, *provs, *problems;
	struct store_stats st;
	struct provider *p;
	enum link_state ls = link_state(rest.link);
	const char *why;
	char *text;

	o = json_object_new_object();
	provs = json_object_new_object();
	problems = json_object_new_array();
	json_object_object_add(o, "xmpp",
	    json_object_new_string(link_state_name(ls)));
	if (ls != LINK_READY) {
		text = xprintf("xmpp link: %s", link_state_name(ls));
		json_object_array_add(problems, json_object_new_string(text));
		free(text);
	}
	store_stats_get(rest.store, &st);
	json_object_object_add(o, "database",
	    json_object_new_string(st.up ? "up" : "down"));
	if (!st.up)
		json_object_array_add(problems,
		    json_object_new_string("database: unreachable"));
	for (p = providers_first(); p != NULL; p = providers_next(p)) {
		if (provider_status(p, &why) != 0 ||
		    certwatch_unusable(provider_id(p), &why)) {
			if (why == NULL)
				why = "unusable";
			json_object_object_add(provs, provider_id(p),
			    json_object_new_string(why));
			text = xprintf("provider %s: %s", provider_id(p), why);
			json_object_array_add(problems,
			    json_object_new_string(text));
			free(text);
		} else
			json_object_object_add(provs, provider_id(p),
			    json_object_new_string("ok"));
	}
	json_object_object_add(o, "providers", provs);
	if (xpd->stopping)
		json_object_array_add(problems,
		    json_object_new_string("xpushd is stopping"));
	if (json_object_array_length(problems) == 0) {
		json_object_put(problems);
		json_object_object_add(o, "status",
		    json_object_new_string("ok"));
		reply_json(req, HTTP_OK, "OK", o);
		return;
	}
	json_object_object_add(o, "status",
	    json_object_new_string("unavailable"));
	json_object_object_add(o, "problems", problems);
	reply_json(req, HTTP_SERVUNAVAIL, "Service Unavailable", o);
}

/* Dispatch */

static void
rest_request_cb(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	char *addr = NULL, wait[16];
	ev_uint16_t port;
	int delay;

	evhttp_connection_get_peer(evhttp_request_get_connection(req), &addr,
	    &port);
	log_debug("rest: %s %s from %s", cmd == EVHTTP_REQ_GET ? "GET" :
	    cmd == EVHTTP_REQ_POST ? "POST" : "other",
	    path != NULL ? path : "?", addr != NULL ? addr : "?");
	if ((delay = rate_take(addr != NULL ? addr : "?")) > 0) {
		snprintf(wait, sizeof(wait), "%d", delay);
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Retry-After", wait);
		reply_result(req, 429, "Too Many Requests", "failure",
		    "too many requests from this address; slow down");
		return;
	}
	if (path == NULL) {
		reply_text(req, HTTP_BADREQUEST, "Bad Request", "bad URI\n");
		return;
	}
	if (strncmp(path, REST_PREFIX_TIGASE, strlen(REST_PREFIX_TIGASE))
	    == 0) {
		handle_unregister(req, path + strlen(REST_PREFIX_TIGASE));
		return;
	}
	if (strncmp(path, REST_PREFIX_SHORT, strlen(REST_PREFIX_SHORT))
	    == 0) {
		handle_unregister(req, path + strlen(REST_PREFIX_SHORT));
		return;
	}
	if (strcmp(path, "/metrics") != 0 && strcmp(path, "/health") != 0) {
		reply_text(req, HTTP_NOTFOUND, "Not Found", "not found\n");
		return;
	}
	if (cmd != EVHTTP_REQ_GET) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", "GET");
		reply_text(req, 405, "Method Not Allowed", "use GET\n");
		return;
	}
	if (strcmp(path, "/metrics") == 0)
		handle_metrics(req);
	else
		handle_health(req);
}

/* Listening */

static struct bufferevent *
rest_bev_cb(struct event_base *base, void *arg)
{
	struct bufferevent *bev;
	SSL *ssl;

	/* A NULL here would make evhttp fall back to clear text. */
	if ((ssl = SSL_new(rest.ssl_ctx)) == NULL)
		fatalx("SSL_new failed");
	bev = bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		fatalx("bufferevent_openssl_socket_new failed");
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

static struct evhttp *
http_new(const struct rest_settings *set, char **error_r)
{
	struct evhttp *http;

	if ((http = evhttp_new(rest.base)) == NULL)
		fatalx("evhttp_new failed");
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
	evhttp_set_max_headers_size(http, REST_MAX_HEADERS);
	evhttp_set_max_body_size(http, (ev_ssize_t)set->max_body);
	evhttp_set_timeout(http, REST_TIMEOUT);
	evhttp_set_gencb(http, rest_request_cb, NULL);
	if (set->tls)
		evhttp_set_bevcb(http, rest_bev_cb, NULL);
	if (evhttp_bind_socket_with_handle(http, set->host,
	    (ev_uint16_t)set->port) == NULL) {
		xasprintf(error_r, "rest: cannot listen on %s port %d",
		    set->host, set->port);
		evhttp_free(http);
		return NULL;
	}
	return http;
}

static void
http_limits(struct evhttp *http, const struct rest_settings *set)
{
	evhttp_set_max_body_size(http, (ev_ssize_t)set->max_body);
}

static void
rest_stop(void)
{
	rest.running = false;
	if (rest.http != NULL)
		evhttp_free(rest.http);
	rest.http = NULL;
	if (rest.ssl_ctx != NULL)
		SSL_CTX_free(rest.ssl_ctx);
	rest.ssl_ctx = NULL;
	if (rest.sweep != NULL)
		event_free(rest.sweep);
	rest.sweep = NULL;
	if (rest.refresh != NULL)
		event_free(rest.refresh);
	rest.refresh = NULL;
	rate_sweep(true);
	regcounts_free();
	settings_clear(&rest.set);
	free(rest.component);
	rest.component = NULL;
}

static int
rest_start(const struct xp_conf *conf, char **error_r)
{
	struct timeval sweep = { RATE_SWEEP_INTERVAL, 0 };
	struct rest_settings set;
	SSL_CTX *ctx = NULL;

	if (settings_from_conf(&set, conf, error_r) == -1)
		return -1;
	if (set.tls && (ctx = ssl_ctx_new(&set, error_r)) == NULL) {
		settings_clear(&set);
		return -1;
	}
	rest.ssl_ctx = ctx;
	rest.set = set;
	if ((rest.http = http_new(&rest.set, error_r)) == NULL) {
		rest_stop();
		return -1;
	}
	rest.component = xstrdup(conf_str(conf, "xmpp", "jid"));
	rest.sweep = event_new(rest.base, -1, EV_PERSIST, rest_sweep_cb,
	    NULL);
	evtimer_add(rest.sweep, &sweep);
	rest.refresh = evtimer_new(rest.base, rest_refresh_cb, NULL);
	rest.running = true;
	rest_refresh_cb(-1, 0, NULL);
	log_info("rest: listening on %s port %d (%s)", rest.set.host,
	    rest.set.port, rest.set.tls ? "https" : "plain http, loopback");
	return 0;
}

int
rest_init(struct event_base *base, struct store *store, struct link *link,
    const struct xp_conf *conf, char **error_r)
{
	rest.base = base;
	rest.store = store;
	rest.link = link;
	if (!rest_configured(conf))
		return 0;
	return rest_start(conf, error_r);
}

int
rest_reconfigure(const struct xp_conf *next, char **error_r)
{
	struct rest_settings set;
	struct evhttp *http;
	SSL_CTX *ctx = NULL;
	struct timeval tv;

	if (!rest_configured(next)) {
		if (rest.running)
			log_info("rest: no rest block any more, closing the "
			    "endpoint");
		rest_stop();
		return 0;
	}
	if (!rest.running)
		return rest_start(next, error_r);
	if (settings_from_conf(&set, next, error_r) == -1)
		return -1;
	if (set.tls && (ctx = ssl_ctx_new(&set, error_r)) == NULL) {
		settings_clear(&set);
		return -1;
	}
	if (strcmp(set.host, rest.set.host) != 0 ||
	    set.port != rest.set.port || set.tls != rest.set.tls) {
		/* Close first: the new address may share the old port. */
		evhttp_free(rest.http);
		rest.http = NULL;
		if ((http = http_new(&set, error_r)) == NULL) {
			log_warnx("rest: the endpoint is closed until the "
			    "next reload");
			if (ctx != NULL)
				SSL_CTX_free(ctx);
			settings_clear(&set);
			rest_stop();
			return -1;
		}
		rest.http = http;
		log_info("rest: now listening on %s port %d", set.host,
		    set.port);
	} else
		http_limits(rest.http, &set);
	if (rest.ssl_ctx != NULL)
		SSL_CTX_free(rest.ssl_ctx);
	rest.ssl_ctx = ctx;
	/* A new limit starts every client with a full bucket. */
	if (set.rate != rest.set.rate || set.burst != rest.set.burst)
		rate_sweep(true);
	settings_clear(&rest.set);
	rest.set = set;
	free(rest.component);
	rest.component = xstrdup(conf_str(next, "xmpp", "jid"));
	evtimer_del(rest.refresh);
	tv.tv_sec = rest.set.refresh;
	tv.tv_usec = 0;
	evtimer_add(rest.refresh, &tv);
	return 0;
}

void
rest_shutdown(void)
{
	rest_stop();
	rest.store = NULL;
	rest.link = NULL;
}
