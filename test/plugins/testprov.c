/*
 * testprov.so: a provider module for tests (not installed).  It records
 * every push as one JSON line in `record-file` and answers by the token's
 * prefix, so that every outcome of the pipeline can be driven:
 *
 *	invalid…  XP_INVALID_TOKEN	ratelimit…  XP_RATE_LIMITED (7 s)
 *	temp…     XP_TEMPORARY		perm…       XP_PERMANENT
 *	auth…     XP_AUTH_FAILED	never…      no answer until destroy
 *	flaky…    XP_TEMPORARY on the first try, XP_SENT on the next
 *	sync…     XP_SENT from inside send(), with a log line: the host
 *	          must hold the answer until send() returned
 *	anything else: XP_SENT
 *
 * Other answers come after `delay-ms` (default 0) from the event loop.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "plugins/provider.h"

struct pending;

struct testprov {
	const struct xp_host	*host;
	char			*id;
	char			*record;
	long			 delay_ms;
	struct pending		*pending;
	char			*flaky_seen[64];
	unsigned long long	 sent;
};

struct pending {
	struct testprov		*tp;
	struct event		*ev;
	xp_sent_cb		*cb;
	void			*arg;
	enum xp_outcome		 outcome;
	unsigned int		 retry_after;
	const char		*reason;
	struct pending		*next;
};

static const struct xp_option testprov_options[] = {
	{ "plugin", XP_OPT_STRING, "'testprov'", 0, 0, "the module" },
	{ "record-file", XP_OPT_STRING, "''", 0, 0,
	  "append every push to this file as JSON lines" },
	{ "delay-ms", XP_OPT_INTEGER, "0", 0, 60000,
	  "milliseconds before each answer" },
	{ "features", XP_OPT_STRLIST, "[ 'tigase:push:encrypt:0', "
	  "'tigase:push:priority:0', 'tigase:push:jingle:0' ]", 0, 0,
	  "push extensions announced to registering devices" },
	/* Read by the core (core/fpush.c), as from an APNs block. */
	{ "fpush-modules", XP_OPT_STRLIST, "[]", 0, 0,
	  "fpush pushModule names this block serves" },
	{ "fpush-default", XP_OPT_STRING, "''", 0, 0,
	  "the pushModule of a publish without one" },
	{ NULL, 0, NULL, 0, 0, NULL }
};

static const char *const testprov_features[] = {
	"tigase:push:encrypt:0", "tigase:push:priority:0",
	"tigase:push:jingle:0", NULL
};

static void
json_str(FILE *f, const char *key, const char *v)
{
	const unsigned char *p;

	if (v == NULL)
		return;
	fprintf(f, ",\"%s\":\"", key);
	for (p = (const unsigned char *)v; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static const char *
kind_name(enum xp_kind k)
{
	switch (k) {
	case XP_KIND_WAKEUP:		return "wakeup";
	case XP_KIND_MESSAGE:		return "message";
	case XP_KIND_GROUPCHAT:		return "groupchat";
	case XP_KIND_CALL:		return "call";
	case XP_KIND_SUBSCRIPTION:	return "subscription";
	case XP_KIND_ACCOUNT_EVENT:	return "account-event";
	}
	return "?";
}

static void
record(struct testprov *tp, const struct xp_push *p)
{
	FILE *f;

	if (tp->record == NULL || *tp->record == '\0')
		return;
	if ((f = fopen(tp->record, "a")) == NULL) {
		tp->host->log(tp->host, XP_LOG_WARN, "%s: %s", tp->record,
		    strerror(errno));
		return;
	}
	fprintf(f, "{\"provider\":\"%s\",\"prio\":\"%s\",\"kind\":\"%s\","
	    "\"voip\":%s,\"unread\":%ld", tp->id,
	    p->prio == XP_PRIO_HIGH ? "high" : "low", kind_name(p->kind),
	    p->voip ? "true" : "false", p->unread);
	fprintf(f, ",\"profile\":%d", (int)p->profile);
	json_str(f, "account", p->account);
	json_str(f, "node", p->node);
	json_str(f, "token", p->token);
	json_str(f, "sender", p->sender);
	json_str(f, "body", p->body);
	json_str(f, "nickname", p->nickname);
	json_str(f, "encrypted", p->encrypted);
	json_str(f, "iv", p->iv);
	json_str(f, "encryption", p->encryption);
	json_str(f, "jingle_sid", p->jingle_sid);
	fprintf(f, "}\n");
	fclose(f);
}

static void
pending_unlink(struct testprov *tp, struct pending *pd)
{
	struct pending **pp;

	for (pp = &tp->pending; *pp != NULL; pp = &(*pp)->next)
		if (*pp == pd) {
			*pp = pd->next;
			return;
		}
}

static void
testprov_answer_cb(evutil_socket_t fd, short events, void *arg)
{
	struct pending *pd = arg;

	pending_unlink(pd->tp, pd);
	event_free(pd->ev);
	pd->cb(pd->arg, pd->outcome, pd->retry_after, pd->reason);
	free(pd);
}

static int
flaky_first(struct testprov *tp, const char *token)
{
	size_t i;

	for (i = 0; i < 64 && tp->flaky_seen[i] != NULL; i++)
		if (strcmp(tp->flaky_seen[i], token) == 0) {
			free(tp->flaky_seen[i]);
			for (; i + 1 < 64; i++)
				tp->flaky_seen[i] = tp->flaky_seen[i + 1];
			tp->flaky_seen[63] = NULL;
			return 0;
		}
	if (i < 64)
		tp->flaky_seen[i] = strdup(token);
	return 1;
}

static int
testprov_send(void *self, const struct xp_push *p, xp_sent_cb *cb, void *arg)
{
	struct testprov *tp = self;
	struct pending *pd;
	struct timeval tv;

	record(tp, p);
	if (strncmp(p->token, "sync", 4) == 0) {
		tp->host->log(tp->host, XP_LOG_INFO, "answering %s inside "
		    "send()", p->token);
		cb(arg, XP_SENT, 0, "answered inside send()");
		return 0;
	}
	if ((pd = calloc(1, sizeof(*pd))) == NULL)
		return -1;
	pd->tp = tp;
	pd->cb = cb;
	pd->arg = arg;
	pd->outcome = XP_SENT;
	if (strncmp(p->token, "invalid", 7) == 0) {
		pd->outcome = XP_INVALID_TOKEN;
		pd->reason = "Unregistered";
	} else if (strncmp(p->token, "ratelimit", 9) == 0) {
		pd->outcome = XP_RATE_LIMITED;
		pd->retry_after = 7;
		pd->reason = "TooManyRequests";
	} else if (strncmp(p->token, "temp", 4) == 0) {
		pd->outcome = XP_TEMPORARY;
		pd->reason = "ServiceUnavailable";
	} else if (strncmp(p->token, "perm", 4) == 0) {
		pd->outcome = XP_PERMANENT;
		pd->reason = "PayloadTooLarge";
	} else if (strncmp(p->token, "auth", 4) == 0) {
		pd->outcome = XP_AUTH_FAILED;
		pd->reason = "BadCertificate";
	} else if (strncmp(p->token, "flaky", 5) == 0 &&
	    flaky_first(tp, p->token)) {
		pd->outcome = XP_TEMPORARY;
		pd->reason = "InternalServerError";
	}
	pd->next = tp->pending;
	tp->pending = pd;
	pd->ev = evtimer_new(tp->host->base, testprov_answer_cb, pd);
	if (strncmp(p->token, "never", 5) == 0)
		return 0;
	tv.tv_sec = tp->delay_ms / 1000;
	tv.tv_usec = (tp->delay_ms % 1000) * 1000;
	evtimer_add(pd->ev, &tv);
	tp->sent++;
	return 0;
}

static int
testprov_check_token(void *self, const char *token, bool voip, char **err)
{
	if (strncmp(token, "refuse", 6) == 0) {
		*err = strdup("tokens starting with 'refuse' are refused");
		return -1;
	}
	return 0;
}

static int
testprov_status(void *self, const char **why_r)
{
	return 0;
}

static void *
testprov_create(const struct xp_host *host, const void *block,
    const char *id, char **err)
{
	struct testprov *tp;

	if ((tp = calloc(1, sizeof(*tp))) == NULL) {
		*err = strdup("out of memory");
		return NULL;
	}
	tp->host = host;
	tp->id = strdup(id);
	tp->record = strdup(host->opt_str(host, block, "record-file"));
	tp->delay_ms = (long)host->opt_int(host, block, "delay-ms");
	return tp;
}

static void
testprov_destroy(void *self)
{
	struct testprov *tp = self;
	struct pending *pd;
	size_t i;

	while ((pd = tp->pending) != NULL) {
		tp->pending = pd->next;
		event_free(pd->ev);
		pd->cb(pd->arg, XP_TEMPORARY, 0, "provider shutting down");
		free(pd);
	}
	for (i = 0; i < 64; i++)
		free(tp->flaky_seen[i]);
	free(tp->record);
	free(tp->id);
	free(tp);
}

const struct xp_provider xpushd_provider = {
	.abi = XP_PROVIDER_ABI,
	.name = "testprov",
	.description = "records pushes and answers by token prefix (tests)",
	.options = testprov_options,
	.features = testprov_features,
	.max_payload = 4096,
	.create = testprov_create,
	.check_token = testprov_check_token,
	.send = testprov_send,
	.status = testprov_status,
	.destroy = testprov_destroy,
};
