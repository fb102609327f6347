/*
 * core/provider.c: the module loader's refusals and the dispatch layer's
 * rules, with testprov.so and the badmod builds from test/plugins/.
 *
 * - a module of another ABI, one without the symbol, one without send(),
 *   a module that is not there and a module name with a path are refused
 *   with a message naming the file (and, for the ABI, both numbers);
 * - an answer the module gives inside send() reaches the caller only
 *   after provider_send() returned, from a later turn of the loop, once;
 * - each answer is counted once in the provider's statistics;
 * - a module's log line carries the block id once.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/log.h"
#include "core/options.h"
#include "core/provider.h"
#include "core/stats.h"
#include "core/xpushd.h"
#include "test/lib/tap.h"

struct xpushd *xpd;		/* stats.c's SIGUSR1 line reads it; unused */
static const char *bdir;

static struct xp_conf *
conf_with(const char *dir, const char *blocks)
{
	struct xp_conf *conf;
	char text[4096], *err = NULL;

	snprintf(text, sizeof(text),
	    "xmpp () { jid = 'p.example'; secret = 's' }\n"
	    "database () { uri = 'postgresql:///x' }\n"
	    "'module-path' = '%s/%s'\n"
	    "push () {\n%s\n}\n", bdir, dir, blocks);
	if ((conf = conf_load_string("t.conf", text,
	    options_check_provider_basic, &err)) == NULL) {
		printf("Bail out! configuration: %s\n", err);
		exit(1);
	}
	return conf;
}

/* providers_check on one block; the error or NULL. */
static char *
check_error(const char *dir, const char *block)
{
	struct xp_conf *conf = conf_with(dir, block);
	char *err = NULL;

	if (providers_check(conf, &err) == 0)
		err = NULL;
	providers_stop();
	conf_free(&conf);
	return err;
}

static void
test_refusals(void)
{
	char *err, want[64];

	err = check_error("test/plugins/.libs",
	    "'p1' () { plugin = 'badabi' }");
	ok(err != NULL, "a module built for ABI 1 is refused");
	diag("%s", err != NULL ? err : "(accepted)");
	ok(err != NULL && strstr(err, "/test/plugins/.libs/badabi.so") !=
	    NULL, "the message names the file");
	snprintf(want, sizeof(want), "this xpushd speaks ABI %d",
	    XP_PROVIDER_ABI);
	ok(err != NULL && strstr(err, "built for provider ABI 1") != NULL &&
	    strstr(err, want) != NULL, "and both ABI numbers");
	ok(err != NULL && strncmp(err, "t.conf:", 7) == 0 &&
	    strstr(err, "provider 'p1'") != NULL,
	    "and where the block is, and its name");
	free(err);

	err = check_error("test/plugins/.libs",
	    "'p1' () { plugin = 'badnosym' }");
	ok(err != NULL && strstr(err, "badnosym.so is not an xpushd provider "
	    "module: no symbol xpushd_provider") != NULL,
	    "a shared object without xpushd_provider is refused");
	diag("%s", err != NULL ? err : "(accepted)");
	free(err);

	err = check_error("test/plugins/.libs",
	    "'p1' () { plugin = 'badnosend' }");
	ok(err != NULL && strstr(err, "badnosend.so lacks create, send, "
	    "destroy or a name") != NULL, "a module without send() is refused");
	diag("%s", err != NULL ? err : "(accepted)");
	free(err);

	err = check_error("test/plugins/.libs",
	    "'p1' () { plugin = 'nosuchmodule' }");
	ok(err != NULL && strstr(err, "cannot load provider module") !=
	    NULL && strstr(err, "/test/plugins/.libs/nosuchmodule") != NULL,
	    "a missing module is named");
	diag("%s", err != NULL ? err : "(accepted)");
	free(err);

	err = check_error("test/plugins/.libs",
	    "'p1' () { plugin = '../plugins/.libs/testprov' }");
	ok(err != NULL && strstr(err, "must not hold a path") != NULL,
	    "a module name with a path is refused");
	free(err);
}

struct answer {
	int		 calls;
	enum xp_outcome	 outcome;
	char		 reason[128];
};

static void
answer_cb(void *arg, enum xp_outcome o, unsigned int retry_after,
    const char *reason)
{
	struct answer *a = arg;

	a->calls++;
	a->outcome = o;
	snprintf(a->reason, sizeof(a->reason), "%s", reason ? reason : "");
}

static const struct stats_provider *
stats_of(const char *id)
{
	const struct stats_provider *sp;

	for (sp = stats_providers(); sp != NULL; sp = sp->next)
		if (strcmp(sp->id, id) == 0)
			return sp;
	return NULL;
}

static uint64_t
answers_counted(const char *id)
{
	const struct stats_provider *sp = stats_of(id);
	uint64_t n = 0;
	int o;

	for (o = XP_SENT; sp != NULL && o <= XP_AUTH_FAILED; o++)
		n += sp->outcomes[o];
	return n;
}

/* Lines of the captured log holding s; *ids_r: the block id's count. */
static int
log_lines(const char *path, const char *s, const char *id, int *ids_r)
{
	char line[2048], *p;
	FILE *f;
	int n = 0;

	*ids_r = 0;
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strstr(line, s) == NULL)
			continue;
		n++;
		for (p = line; (p = strstr(p, id)) != NULL; p += strlen(id))
			(*ids_r)++;
	}
	fclose(f);
	return n;
}

static void
test_dispatch(const char *logpath)
{
	struct event_base *base = event_base_new();
	struct xp_conf *conf;
	struct provider *p;
	struct xp_push push;
	struct answer a[4];
	char *err = NULL;
	int ids, rc;

	conf = conf_with("test/plugins/.libs",
	    "'blk-one' () { plugin = 'testprov' }");
	ok(providers_start(base, NULL, conf, &err) == 0, "providers start");
	p = provider_find("blk-one");
	ok(p != NULL && strcmp(provider_id(p), "blk-one") == 0,
	    "provider_find and provider_id");
	ok(p != NULL && providers_first() == p && providers_next(p) == NULL,
	    "iteration");
	ok(p != NULL && !provider_has_cap(p, XP_CAP_APNS_CERT),
	    "testprov does not take APNs certificates");
	if (p == NULL) {
		printf("Bail out! %s\n", err != NULL ? err : "no provider");
		exit(1);
	}
	memset(&push, 0, sizeof(push));
	memset(a, 0, sizeof(a));
	push.account = "juliet@capulet.example";
	push.unread = -1;
	push.pending_subscriptions = -1;

	push.token = "sync-1";
	rc = provider_send(p, &push, answer_cb, &a[0]);
	ok(rc == 0, "a send answered inside send() is accepted");
	is_int(a[0].calls, 0, "its answer is not delivered inside send()");
	is_int(answers_counted("blk-one"), 0, "nor counted yet");
	event_base_loop(base, EVLOOP_NONBLOCK);
	is_int(a[0].calls, 1, "it is delivered on a later loop turn, once");
	ok(a[0].outcome == XP_SENT && strcmp(a[0].reason,
	    "answered inside send()") == 0, "with the module's outcome and "
	    "reason (copied)");
	is_int(answers_counted("blk-one"), 1, "counted once");
	event_base_loop(base, EVLOOP_NONBLOCK);
	is_int(a[0].calls, 1, "and never again");

	is_int(log_lines(logpath, "answering sync-1 inside send()",
	    "blk-one", &ids), 1, "the module's log line is there");
	is_int(ids, 1, "with the block id once");

	push.token = "ok-1";
	ok(provider_send(p, &push, answer_cb, &a[1]) == 0 && a[1].calls == 0,
	    "an ordinary send");
	while (a[1].calls == 0 && event_base_loop(base, EVLOOP_ONCE) == 0)
		;
	ok(a[1].calls == 1 && a[1].outcome == XP_SENT, "answered from the "
	    "loop");
	is_int(answers_counted("blk-one"), 2, "counted once");
	ok(stats_of("blk-one") != NULL &&
	    stats_of("blk-one")->latency_count == 2, "two latencies");

	/* Stopping delivers what is queued and what is in flight. */
	push.token = "sync-2";
	provider_send(p, &push, answer_cb, &a[2]);
	push.token = "never-1";
	provider_send(p, &push, answer_cb, &a[3]);
	is_int(a[2].calls + a[3].calls, 0, "two sends outstanding");
	providers_stop();
	ok(a[2].calls == 1 && a[2].outcome == XP_SENT,
	    "stop delivers the queued answer once");
	ok(a[3].calls == 1 && a[3].outcome == XP_TEMPORARY,
	    "and the module answers the one in flight");
	is_int(answers_counted("blk-one"), 4, "each counted once");
	event_base_loop(base, EVLOOP_NONBLOCK);
	is_int(a[2].calls + a[3].calls, 2, "nothing arrives twice");
	conf_free(&conf);
	event_base_free(base);
}

/*
 * provider_send_unguarded: the invalid-token answers of pushes that delete
 * nothing (fpush) never trip the mass-deletion guard; the same answers
 * through provider_send do.
 */
static void
send_invalid(struct event_base *base, struct provider *p, bool guarded,
    int n, int *invalid_r)
{
	struct xp_push push;
	struct answer a;
	int i;

	memset(&push, 0, sizeof(push));
	push.profile = XP_PROFILE_FPUSH;
	push.token = "invalid-1";
	push.unread = -1;
	push.pending_subscriptions = -1;
	for (i = 0; i < n; i++) {
		memset(&a, 0, sizeof(a));
		if ((guarded ? provider_send(p, &push, answer_cb, &a) :
		    provider_send_unguarded(p, &push, answer_cb, &a)) == -1)
			break;
		while (a.calls == 0 && event_base_loop(base, EVLOOP_ONCE) == 0)
			;
		if (a.outcome == XP_INVALID_TOKEN)
			(*invalid_r)++;
	}
}

static void
test_unguarded(void)
{
	struct event_base *base = event_base_new();
	struct xp_conf *conf;
	struct provider *p;
	char text[1024], *err = NULL;
	int invalid = 0;

	snprintf(text, sizeof(text),
	    "xmpp () { jid = 'p.example'; secret = 's' }\n"
	    "database () { uri = 'postgresql:///x' }\n"
	    "'module-path' = '%s/test/plugins/.libs'\n"
	    "'deletion-guard-count' = 2\n"
	    "push () { 'blk-guard' () { plugin = 'testprov' } }\n", bdir);
	if ((conf = conf_load_string("t.conf", text,
	    options_check_provider_basic, &err)) == NULL ||
	    providers_start(base, NULL, conf, &err) == -1 ||
	    (p = provider_find("blk-guard")) == NULL) {
		printf("Bail out! %s\n", err != NULL ? err : "no provider");
		exit(1);
	}
	send_invalid(base, p, false, 10, &invalid);
	is_int(invalid, 10, "unguarded: ten invalid-token answers delivered");
	ok(provider_deletion_allowed(p), "unguarded: they do not trip the "
	    "mass-deletion guard (count 2)");
	invalid = 0;
	send_invalid(base, p, true, 3, &invalid);
	is_int(invalid, 3, "guarded: three invalid-token answers");
	ok(!provider_deletion_allowed(p), "guarded: they trip it");
	providers_stop();
	conf_free(&conf);
	event_base_free(base);
}

int
main(void)
{
	char logpath[] = "/tmp/provider_test.XXXXXX";
	int fd;

	if ((bdir = getenv("top_builddir")) == NULL)
		bdir = ".";
	/* The log goes to a file the test reads back. */
	if ((fd = mkstemp(logpath)) == -1 || dup2(fd, 2) == -1) {
		printf("Bail out! cannot capture the log\n");
		return 1;
	}
	close(fd);
	log_init(true, true, "provider_test");
	test_refusals();
	test_dispatch(logpath);
	test_unguarded();
	stats_free();
	unlink(logpath);
	return tap_done();
}
