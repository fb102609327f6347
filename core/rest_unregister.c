/*
 * Tigase's UnregisterDeviceHandler on the HTTPS listener (core/rest.c):
 *
 *   POST /rest/push/unregister-device/{component-jid}
 *   POST /unregister-device/{component-jid}
 *
 * The JSON body {"account": bare JID, "provider": id, "device-token":
 * token} removes that registration, without XMPP authentication (whoever
 * holds the token may drop it, as an app server does when the OS tells it
 * a token is dead).  200 {"result":"success"} when a row was removed, 200
 * {"result":"failure"} when there was none (Tigase answers both with 200
 * and tells them apart by the body), 404 for another component's JID, 400
 * for malformed JSON, wrong types or missing fields, 405 for a method
 * other than POST, 413 for bodies over max-body (the listener refuses them
 * before reading them), 503 while the database is unreachable (retry
 * later).  Nothing blocks: the answer waits for the store through a
 * callback.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <json-c/json.h>

#include "core/cfg.h"
#include "core/log.h"
#include "core/rest.h"
#include "core/rest_unregister.h"
#include "core/stats.h"
#include "core/store.h"
#include "core/xmalloc.h"
#include "xml/jid.h"

#define UNREG_MAX_FIELD		4096	/* bytes of one body field */
#define UNREG_RETRY_AFTER	"10"	/* seconds to wait for the database */

/* An unregister waiting for the store. */
struct unreg_job {
	struct evhttp_request	*req;	/* NULL once the client is gone */
	char			*account;
	char			*provider;
};

static struct {
	struct store	*store;
	char		*component;	/* the xmpp jid */
} unreg;

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
		rest_watch_close(req, NULL, NULL);
	switch (st) {
	case STORE_OK:
		rest_reply_result(req, HTTP_OK, "OK", "success", NULL);
		break;
	case STORE_NOTFOUND:
		rest_reply_result(req, HTTP_OK, "OK", "failure",
		    "no such registration");
		break;
	case STORE_ETEMP:
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Retry-After", UNREG_RETRY_AFTER);
		rest_reply_result(req, HTTP_SERVUNAVAIL,
		    "Service Unavailable", "failure",
		    "the database is unavailable; try again later");
		break;
	default:
		rest_reply_result(req, HTTP_INTERNAL,
		    "Internal Server Error", "failure",
		    "the registration could not be removed");
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
	if (!utf8_valid(s, strlen(s))) {
		xasprintf(error_r, "'%s' is not valid UTF-8", key);
		return NULL;
	}
	if (strlen(s) > UNREG_MAX_FIELD) {
		xasprintf(error_r, "'%s' is longer than %d bytes", key,
		    UNREG_MAX_FIELD);
		return NULL;
	}
	return s;
}

/* The JSON object in the request body, or NULL with *error_r. */
static struct json_object *
body_parse(struct evhttp_request *req, char **error_r)
{
	struct json_object *obj;

	if ((obj = rest_read_json(req, error_r)) != NULL &&
	    !json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		obj = NULL;
		*error_r = xstrdup("the body must be a JSON object with "
		    "account, provider and device-token");
	}
	return obj;
}

/*
 * Whether segment (the rest of the path, still %-encoded) names this
 * component: 1, 0, or -1 when it decodes to a NUL byte (%00), which would
 * cut the name short and must not pass as the component's.
 */
static int
is_component(const char *segment)
{
	struct jid *a, *b;
	char *decoded;
	size_t len;
	int same = 0;

	if ((decoded = evhttp_uridecode(segment, 0, &len)) == NULL)
		return 0;
	if (strlen(decoded) != len) {
		free(decoded);
		return -1;
	}
	if (strchr(decoded, '/') == NULL &&
	    (a = jid_parse(decoded, NULL)) != NULL) {
		if ((b = jid_parse(unreg.component, NULL)) != NULL) {
			same = jid_compare(a, b) == 0;
			jid_free(&b);
		}
		jid_free(&a);
	}
	free(decoded);
	return same;
}

static void
unreg_handle(struct evhttp_request *req, const char *segment)
{
	struct json_object *body;
	struct unreg_job *job;
	const char *account, *provider, *token, *why = NULL;
	struct jid *jid;
	char *err = NULL;

	switch (is_component(segment)) {
	case -1:
		rest_reply_result(req, HTTP_BADREQUEST, "Bad Request",
		    "failure", "the component's JID in the path contains a "
		    "NUL byte (%00)");
		return;
	case 0:
		rest_reply_result(req, HTTP_NOTFOUND, "Not Found",
		    "failure", "no such push component here");
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
	rest_watch_close(req, unreg_conn_closed_cb, job);
	store_device_unregister(unreg.store, job->account, job->provider,
	    token, unreg_done_cb, job);
	json_object_put(body);
	return;
bad:
	rest_reply_result(req, HTTP_BADREQUEST, "Bad Request", "failure",
	    err);
	free(err);
}

static void
unreg_configure(const struct xp_conf *conf)
{
	free(unreg.component);
	unreg.component = xstrdup(conf_str(conf, "xmpp", "jid"));
}

static void
unreg_stop(void)
{
	free(unreg.component);
	unreg.component = NULL;
}

static const struct rest_route unreg_routes[] = {
	{ "/rest/push/unregister-device/", EVHTTP_REQ_POST, true,
	    unreg_handle },
	{ "/unregister-device/", EVHTTP_REQ_POST, true, unreg_handle },
	{ NULL, 0, false, NULL }
};

static const struct rest_service unreg_service = {
	unreg_routes, unreg_configure, unreg_configure, unreg_stop
};

void
rest_unregister_init(struct store *store)
{
	unreg.store = store;
	rest_mount(&unreg_service);
}
