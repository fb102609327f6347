/*
 * Process-wide counters.  One thread, so plain integers.  The figures are
 * walked here once for every reader: the SIGUSR1 log line below and GET
 * /metrics (core/metrics.c) format the same names and values.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/stats.h"
#include "core/xmalloc.h"
#include "core/xpushd.h"

const double stats_latency_bounds[12] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10
};

/* Each counter's name (get-statistics, SIGUSR1) and its /metrics help. */
static const struct {
	const char	*name;
	const char	*help;
} stat_info[STAT_MAX] = {
	[STAT_PUBLISH_RECEIVED] = { "publishes-received",
	    "PubSub publishes received" },
	[STAT_PUBLISH_OK] = { "publishes-ok",
	    "Publishes answered with a result" },
	[STAT_PUBLISH_NOT_FOUND] = { "publishes-unknown-node",
	    "Publishes to an unknown node" },
	[STAT_PUBLISH_FORBIDDEN] = { "publishes-forbidden",
	    "Publishes refused: wrong domain or secret" },
	[STAT_PUBLISH_BAD_REQUEST] = { "publishes-malformed",
	    "Malformed publishes" },
	[STAT_PUBLISH_WAIT] = { "publishes-wait",
	    "Publishes answered with a wait error" },
	[STAT_PUBLISH_FAILED] = { "publishes-failed",
	    "Publishes answered with another error" },
	[STAT_PUSH_COALESCED] = { "pushes-coalesced",
	    "Pushes absorbed by throttling" },
	[STAT_PUSH_RETRIED] = { "pushes-retried", "Provider retries" },
	[STAT_REGISTRATIONS_REMOVED] = { "registrations-removed",
	    "Registrations removed for invalid tokens or account removal" },
	[STAT_REGISTER] = { "register-device",
	    "register-device commands completed" },
	[STAT_UNREGISTER] = { "unregister-device",
	    "Unregistrations completed (ad-hoc and HTTP)" },
	[STAT_COMMANDS] = { "commands-completed",
	    "Ad-hoc commands completed" },
};

static uint64_t counters[STAT_MAX];
static long in_flight;
static struct stats_provider *providers;

void
stats_inc(enum stat_id id)
{
	counters[id]++;
}

uint64_t
stats_get(enum stat_id id)
{
	return counters[id];
}

const char *
stats_name(enum stat_id id)
{
	return stat_info[id].name;
}

void
stats_in_flight(int delta)
{
	in_flight += delta;
}

long
stats_in_flight_now(void)
{
	return in_flight;
}

void
stats_figures(stats_figure_cb *cb, void *arg)
{
	struct stats_figure f = { "uptime", "seconds",
	    "Seconds since xpushd started", false, "" };
	int i;

	snprintf(f.value, sizeof(f.value), "%lld",
	    (long long)(time(NULL) - xpd->started));
	cb(arg, &f);
	f.name = "in-flight";
	f.unit = NULL;
	f.help = "Notifications in progress";
	snprintf(f.value, sizeof(f.value), "%ld", in_flight);
	cb(arg, &f);
	f.counter = true;
	for (i = 0; i < STAT_MAX; i++) {
		f.name = stat_info[i].name;
		f.help = stat_info[i].help != NULL ? stat_info[i].help :
		    stat_info[i].name;
		snprintf(f.value, sizeof(f.value), "%llu",
		    (unsigned long long)counters[i]);
		cb(arg, &f);
	}
}

const char *
stats_outcome_name(enum xp_outcome o)
{
	switch (o) {
	case XP_SENT:		return "sent";
	case XP_INVALID_TOKEN:	return "invalid-token";
	case XP_RATE_LIMITED:	return "rate-limited";
	case XP_TEMPORARY:	return "temporary-failure";
	case XP_PERMANENT:	return "permanent-failure";
	case XP_AUTH_FAILED:	return "auth-failure";
	}
	return "unknown";
}

static struct stats_provider *
provider_stats(const char *id)
{
	struct stats_provider *sp, **tail = &providers;

	for (sp = providers; sp != NULL; sp = sp->next) {
		if (strcmp(sp->id, id) == 0)
			return sp;
		tail = &sp->next;
	}
	sp = xcalloc(1, sizeof(*sp));
	sp->id = xstrdup(id);
	*tail = sp;
	return sp;
}

void
stats_provider_outcome(const char *id, enum xp_outcome o, double seconds)
{
	struct stats_provider *sp = provider_stats(id);
	size_t i;

	if ((unsigned)o <= XP_AUTH_FAILED)
		sp->outcomes[o]++;
	sp->latency_count++;
	sp->latency_sum += seconds;
	for (i = 0; i < 12; i++)
		if (seconds <= stats_latency_bounds[i]) {
			sp->latency_buckets[i]++;
			break;
		}
}

/* The reason as a bounded label: printable ASCII, cut. */
static void
reason_label(char *dst, const char *reason)
{
	size_t i;

	for (i = 0; i < STATS_REASON_LEN && reason[i] != '\0'; i++)
		dst[i] = reason[i] >= 0x20 && reason[i] < 0x7f ? reason[i] :
		    '_';
	dst[i] = '\0';
}

void
stats_dead_token(const char *id, enum stats_dead what, const char *reason)
{
	struct stats_provider *sp = provider_stats(id);
	struct stats_reason *r = sp->dead[what];
	char label[STATS_REASON_LEN + 1];
	size_t i;

	reason_label(label, reason != NULL && *reason != '\0' ? reason :
	    "unknown");
	for (i = 0; i < sp->ndead[what]; i++)
		if (strcmp(r[i].reason, label) == 0) {
			r[i].n++;
			return;
		}
	/* A reason spelt like the overflow's label joins it: no twin lines. */
	if (sp->ndead[what] == STATS_REASONS_MAX ||
	    strcmp(label, STATS_REASON_OTHER) == 0) {
		r = &r[STATS_REASONS_MAX];
		if (r->reason[0] == '\0')
			memcpy(r->reason, STATS_REASON_OTHER,
			    sizeof(STATS_REASON_OTHER));
		r->n++;
		return;
	}
	r = &r[sp->ndead[what]++];
	memcpy(r->reason, label, sizeof(label));
	r->n = 1;
}

const struct stats_provider *
stats_providers(void)
{
	return providers;
}

/* Appends to line; a line that would overflow is cut, never overrun. */
static size_t
line_add_str(char *line, size_t size, size_t len, const char *name,
    const char *v)
{
	int n;

	if (len >= size)
		return len;
	n = snprintf(line + len, size - len, "%s%s=%s", len ? " " : "",
	    name, v);
	return n < 0 ? len : len + (size_t)n;
}

static size_t
line_add(char *line, size_t size, size_t len, const char *name,
    unsigned long long v)
{
	char num[STATS_VALUE_SIZE];

	snprintf(num, sizeof(num), "%llu", v);
	return line_add_str(line, size, len, name, num);
}

struct stats_line {
	char	text[STATS_LOG_LINE];
	size_t	len;
};

static void
stats_log_figure_cb(void *arg, const struct stats_figure *f)
{
	struct stats_line *l = arg;

	l->len = line_add_str(l->text, sizeof(l->text), l->len, f->name,
	    f->value);
}

void
stats_log(void)
{
	const struct stats_provider *sp;
	struct stats_line all = { "", 0 };
	char line[STATS_LOG_LINE];
	size_t len = 0;
	int i;

	stats_figures(stats_log_figure_cb, &all);
	log_info("stats: %s", all.text);
	/* Outcome names as /metrics and get-statistics spell them. */
	for (sp = providers; sp != NULL; sp = sp->next) {
		len = 0;
		line[0] = '\0';
		for (i = 0; i <= XP_AUTH_FAILED; i++)
			len = line_add(line, sizeof(line), len,
			    stats_outcome_name((enum xp_outcome)i),
			    (unsigned long long)sp->outcomes[i]);
		log_info("stats: provider %s %s", sp->id, line);
	}
}

void
stats_free(void)
{
	struct stats_provider *sp;

	while ((sp = providers) != NULL) {
		providers = sp->next;
		free(sp->id);
		free(sp);
	}
}
