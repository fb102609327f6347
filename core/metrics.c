/*
 * GET /metrics and GET /health on the HTTPS listener (core/rest.c).
 *
 *   GET /metrics	Prometheus text exposition format 0.0.4: the figures
 *			of core/stats.c, the pushes per provider and outcome
 *			with their latency histogram, dead tokens by
 *			provider, reason and fate (deleted, VoIP token
 *			cleared, held by the mass-deletion guard), the
 *			registrations per
 *			provider, whether each provider, the XEP-0114 link
 *			and the database are usable, the database's and the
 *			node cache's counters, and the seconds left on each
 *			APNs certificate.  With `metrics-token` set, only
 *			for "Authorization: Bearer <token>" (401 otherwise).
 *   GET /health	200 {"status":"ok",...} when the link, the database
 *			and every provider are usable (provider_status():
 *			the module's word and the mass-deletion guard's),
 *			else 503
 *			{"status":"unavailable","problems":[...]} naming what
 *			is not.
 *
 * Nothing blocks a scrape: the registration gauges are counted in the
 * background every `metrics-refresh` seconds while the listener is open,
 * not queried per request.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <json-c/json.h>
#include <openssl/crypto.h>

#include "core/certwatch.h"
#include "core/link.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/provider.h"
#include "core/rest.h"
#include "core/stats.h"
#include "core/store.h"
#include "core/xmalloc.h"
#include "core/xpushd.h"

#define METRICS_NAME_MAX	128	/* bytes of a metric name */

/* The registrations of one provider, as last counted. */
struct regcount {
	char		*provider;
	long long	 n;
	bool		 known;
	bool		 seen;		/* still configured */
	struct regcount	*next;
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
	char			*token;		/* NULL: /metrics is open */
	int			 refresh;	/* seconds between counts */
	struct event		*timer;
	struct regcount		*counts;
	unsigned int		 generation;
} metrics;

/* Registration counts for /metrics */

static struct regcount *
regcount_find(const char *provider, bool create)
{
	struct regcount *rc;

	for (rc = metrics.counts; rc != NULL; rc = rc->next)
		if (strcmp(rc->provider, provider) == 0)
			return rc;
	if (!create)
		return NULL;
	rc = xcalloc(1, sizeof(*rc));
	rc->provider = xstrdup(provider);
	rc->next = metrics.counts;
	metrics.counts = rc;
	return rc;
}

static void
regcounts_free(void)
{
	struct regcount *rc;

	while ((rc = metrics.counts) != NULL) {
		metrics.counts = rc->next;
		free(rc->provider);
		free(rc);
	}
}

static void
count_done_cb(void *arg, enum store_status st, long long n, const char *msg)
{
	struct count_job *job = arg;
	struct regcount *rc;

	if (metrics.running && job->generation == metrics.generation &&
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

	metrics.generation++;
	for (rc = metrics.counts; rc != NULL; rc = rc->next)
		rc->seen = false;
	for (p = providers_first(); p != NULL; p = providers_next(p)) {
		regcount_find(provider_id(p), true)->seen = true;
		job = xcalloc(1, sizeof(*job));
		job->provider = xstrdup(provider_id(p));
		job->generation = metrics.generation;
		store_device_count_provider(metrics.store, provider_id(p),
		    count_done_cb, job);
	}
	rcp = &metrics.counts;
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
metrics_refresh_cb(evutil_socket_t fd, short events, void *arg)
{
	struct timeval tv = { metrics.refresh, 0 };

	regcounts_refresh();
	evtimer_add(metrics.timer, &tv);
}

/* Metrics */

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

/* A metric with one sample and no labels. */
static void
metric_one(struct evbuffer *b, const char *name, const char *type,
    const char *help, unsigned long long v)
{
	metric_head(b, name, type, help);
	evbuffer_add_printf(b, "%s %llu\n", name, v);
}

static void
metrics_figure_cb(void *arg, const struct stats_figure *f)
{
	struct evbuffer *b = arg;
	char name[METRICS_NAME_MAX];
	size_t i;

	snprintf(name, sizeof(name), "xpushd_%s%s%s%s", f->name,
	    f->unit != NULL ? "_" : "", f->unit != NULL ? f->unit : "",
	    f->counter ? "_total" : "");
	for (i = 0; name[i] != '\0'; i++)
		if (name[i] == '-')
			name[i] = '_';
	metric_head(b, name, f->counter ? "counter" : "gauge", f->help);
	evbuffer_add_printf(b, "%s %s\n", name, f->value);
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

/*
 * Dead tokens by provider and reason (core/stats.c bounds the reasons per
 * provider), one family per fate.  Apart from the unlabelled
 * xpushd_registrations_removed_total: a sum over labels must not count a
 * deletion twice.
 */
static void
metrics_dead(struct evbuffer *b)
{
	static const struct {
		const char	*name, *help;
	} fams[STATS_DEAD_MAX] = {
		[STATS_DEAD_DELETED] = {
		    "xpushd_registrations_removed_by_reason_total",
		    "Registrations deleted (dead alert token, account "
		    "removed), by provider and reason" },
		[STATS_DEAD_VOIP_CLEARED] = {
		    "xpushd_voip_tokens_cleared_total",
		    "Dead VoIP tokens cleared (the registration stays), by "
		    "provider and reason" },
		[STATS_DEAD_HELD] = { "xpushd_deletions_held_total",
		    "Dead-token answers whose deletion the mass-deletion "
		    "guard held, by provider and reason" },
		[STATS_DEAD_UNSTORED] = {
		    "xpushd_dead_tokens_unregistered_total",
		    "Dead-token answers for registration-less nodes (fpush: "
		    "nothing to delete, the server is told), by provider and "
		    "reason" },
	};
	const struct stats_provider *sp;
	const struct stats_reason *r;
	size_t i;
	int k;

	for (k = 0; k < STATS_DEAD_MAX; k++) {
		metric_head(b, fams[k].name, "counter", fams[k].help);
		for (sp = stats_providers(); sp != NULL; sp = sp->next)
			for (i = 0; i <= STATS_REASONS_MAX; i++) {
				r = &sp->dead[k][i];
				if (r->n == 0)
					continue;
				evbuffer_add_printf(b, "%s{provider=\"",
				    fams[k].name);
				add_label(b, sp->id);
				evbuffer_add_printf(b, "\",reason=\"");
				add_label(b, r->reason);
				evbuffer_add_printf(b, "\"} %llu\n",
				    (unsigned long long)r->n);
			}
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
	for (rc = metrics.counts; rc != NULL; rc = rc->next)
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
	metric_one(b, "xpushd_link_up", "gauge",
	    "1 while the XEP-0114 link to the XMPP server is ready",
	    link_state(metrics.link) == LINK_READY ? 1 : 0);
	store_stats_get(metrics.store, &st);
	metric_one(b, "xpushd_database_up", "gauge",
	    "1 while at least one PostgreSQL connection is ready",
	    st.up ? 1 : 0);
	metric_one(b, "xpushd_database_connections", "gauge",
	    "Ready PostgreSQL connections", (unsigned long long)st.connections);
	metric_one(b, "xpushd_database_queries_total", "counter",
	    "Statements sent to PostgreSQL", st.queries);
	metric_one(b, "xpushd_database_errors_total", "counter",
	    "Failed statements, including those failed fast while down",
	    st.errors);
	metric_one(b, "xpushd_database_cache_hits_total", "counter",
	    "Node look-ups answered from the cache", st.cache_hits);
	metric_one(b, "xpushd_database_cache_misses_total", "counter",
	    "Node look-ups that went to the database", st.cache_misses);
	metric_head(b, "xpushd_certificate_expiry_seconds", "gauge",
	    "Seconds until the provider's APNs certificate expires "
	    "(negative: expired)");
	certwatch_foreach(metrics_cert_cb, b);
}

static bool
metrics_authorized(struct evhttp_request *req)
{
	const char *h, *tok = metrics.token;
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
metrics_handle(struct evhttp_request *req, const char *tail)
{
	struct evbuffer *b;

	if (!metrics_authorized(req)) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "WWW-Authenticate", "Bearer realm=\"xpushd metrics\"");
		rest_reply_text(req, 401, "Unauthorized",
		    "a bearer token is required\n");
		return;
	}
	if ((b = evbuffer_new()) == NULL)
		fatalx("evbuffer_new failed");
	stats_figures(metrics_figure_cb, b);
	metrics_providers(b);
	metrics_dead(b);
	metrics_state(b);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, HTTP_OK, "OK", b);
	evbuffer_free(b);
}

/* Health */

static void
health_handle(struct evhttp_request *req, const char *tail)
{
	struct json_object *o, *provs, *problems;
	struct store_stats st;
	struct provider *p;
	enum link_state ls = link_state(metrics.link);
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
	store_stats_get(metrics.store, &st);
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
		rest_reply_json(req, HTTP_OK, "OK", o);
		return;
	}
	json_object_object_add(o, "status",
	    json_object_new_string("unavailable"));
	json_object_object_add(o, "problems", problems);
	rest_reply_json(req, HTTP_SERVUNAVAIL, "Service Unavailable", o);
}

/* Lifecycle, with the listener */

static void
metrics_configure(const struct xp_conf *conf)
{
	const char *v = conf_str(conf, "rest", "metrics-token");

	free(metrics.token);
	metrics.token = *v != '\0' ? xstrdup(v) : NULL;
	metrics.refresh = (int)conf_int(conf, "rest", "metrics-refresh");
}

static void
metrics_start(const struct xp_conf *conf)
{
	metrics_configure(conf);
	metrics.timer = evtimer_new(metrics.base, metrics_refresh_cb, NULL);
	metrics.running = true;
	metrics_refresh_cb(-1, 0, NULL);
}

static void
metrics_reconfigure(const struct xp_conf *conf)
{
	struct timeval tv;

	metrics_configure(conf);
	evtimer_del(metrics.timer);
	tv.tv_sec = metrics.refresh;
	tv.tv_usec = 0;
	evtimer_add(metrics.timer, &tv);
}

static void
metrics_stop(void)
{
	metrics.running = false;
	if (metrics.timer != NULL)
		event_free(metrics.timer);
	metrics.timer = NULL;
	regcounts_free();
	free(metrics.token);
	metrics.token = NULL;
}

static const struct rest_route metrics_routes[] = {
	{ "/metrics", EVHTTP_REQ_GET, false, metrics_handle },
	{ "/health", EVHTTP_REQ_GET, false, health_handle },
	{ NULL, 0, false, NULL }
};

static const struct rest_service metrics_service = {
	metrics_routes, metrics_start, metrics_reconfigure, metrics_stop
};

void
metrics_init(struct event_base *base, struct store *store, struct link *link)
{
	metrics.base = base;
	metrics.store = store;
	metrics.link = link;
	rest_mount(&metrics_service);
}
