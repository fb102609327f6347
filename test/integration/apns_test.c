/*
 * apns_test: apns.so and apns-voip.so driven through provider_harness (as
 * xpushd drives them) against test/mock/apns_mock over real HTTP/2 + TLS.
 * Run by apns_test.sh, which makes the keys and certificates
 * (apns_certs.sh) and passes their directory in APNS_FIXTURES.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "test/lib/provider_harness.h"
#include "test/lib/tap.h"

static struct event_base *base;
static const char *fx;		/* fixtures directory */
static const char *bdir;	/* build directory */
static char tmpdir[256];

/* Mock process */

struct mock {
	pid_t	 pid;
	int	 port;
	char	 record[512];
	char	 received[512];	/* held requests, as they arrive */
	char	 count[512];	/* --count-file */
};

static char *
fxp(const char *name)
{
	static char bufs[8][512];
	static int i;

	i = (i + 1) % 8;
	snprintf(bufs[i], sizeof(bufs[i]), "%s/%s", fx, name);
	return bufs[i];
}

/* Starts the mock with extra arguments (NULL-terminated); port 0: any. */
static int
mock_start(struct mock *m, int port, const char *extra[])
{
	const char *argv[48];
	char portfile[512], portarg[16], bin[512];
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	FILE *f;
	int argc = 0, i;
	static int seq;

	snprintf(bin, sizeof(bin), "%s/test/mock/apns_mock", bdir);
	snprintf(portfile, sizeof(portfile), "%s/port.%d", tmpdir, ++seq);
	snprintf(m->record, sizeof(m->record), "%s/record.%d", tmpdir, seq);
	snprintf(m->received, sizeof(m->received), "%s/received.%d", tmpdir,
	    seq);
	snprintf(m->count, sizeof(m->count), "%s/count.%d", tmpdir, seq);
	unlink(m->count);
	snprintf(portarg, sizeof(portarg), "%d", port);
	unlink(portfile);
	argv[argc++] = bin;
	argv[argc++] = "--cert";
	argv[argc++] = fxp("server.pem");
	argv[argc++] = "--key";
	argv[argc++] = fxp("server.key");
	argv[argc++] = "--port";
	argv[argc++] = portarg;
	argv[argc++] = "--port-file";
	argv[argc++] = portfile;
	argv[argc++] = "--record";
	argv[argc++] = m->record;
	argv[argc++] = "--received";
	argv[argc++] = m->received;
	argv[argc++] = "--count-file";
	argv[argc++] = m->count;
	argv[argc++] = "--quiet";
	for (i = 0; extra != NULL && extra[i] != NULL && argc < 46; i++)
		argv[argc++] = extra[i];
	argv[argc] = NULL;
	if ((m->pid = fork()) == 0) {
		execv(bin, (char **)argv);
		_exit(127);
	}
	for (i = 0; i < 1500; i++) {	/* 30 s: a loaded machine */
		if ((f = fopen(portfile, "r")) != NULL) {
			if (fscanf(f, "%d", &m->port) != 1)
				m->port = 0;
			fclose(f);
			if (m->port > 0)
				return 0;
		}
		nanosleep(&ts, NULL);
	}
	diag("the mock did not start");
	return -1;
}

static void
mock_stop(struct mock *m)
{
	int st;

	if (m->pid <= 0)
		return;
	kill(m->pid, SIGTERM);
	waitpid(m->pid, &st, 0);
	m->pid = 0;
}

/* How many slow requests the mock has received so far. */
static int
mock_received(const struct mock *m)
{
	FILE *f;
	int c, n = 0;

	if ((f = fopen(m->received, "r")) == NULL)
		return 0;
	while ((c = getc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

/*
 * The mock's connections: accepted so far and open now, from its count
 * file, which it rewrites on SIGUSR1 (the first field counts the
 * writes).  False when it does not answer within WAIT_DEADLINE.
 */
#define MOCK_COUNT_POLL_MS	5
static bool
mock_conns(const struct mock *m, unsigned long *accepted_r,
    unsigned long *open_r)
{
	struct timespec ts = { 0, MOCK_COUNT_POLL_MS * 1000 * 1000 };
	unsigned long seq0 = 0, seq, req, ok;
	FILE *f;
	int i, got;

	if ((f = fopen(m->count, "r")) != NULL) {
		if (fscanf(f, "%lu", &seq0) != 1)
			seq0 = 0;
		fclose(f);
	}
	if (kill(m->pid, SIGUSR1) == -1)
		return false;
	for (i = 0; i < 30 * 1000 / MOCK_COUNT_POLL_MS; i++) {
		if ((f = fopen(m->count, "r")) != NULL) {
			got = fscanf(f, "%lu %lu %lu %lu %lu", &seq, &req, &ok,
			    accepted_r, open_r);
			fclose(f);
			if (got == 5 && seq != seq0)
				return true;
		}
		nanosleep(&ts, NULL);
	}
	return false;
}

/* The recorded requests, one JSON object per line. */
static json_object **
mock_records(struct mock *m, int *n_r)
{
	json_object **v = NULL;
	char line[65536];
	FILE *f;
	int n = 0;

	if ((f = fopen(m->record, "r")) != NULL) {
		while (fgets(line, sizeof(line), f) != NULL) {
			v = realloc(v, (size_t)(n + 1) * sizeof(*v));
			v[n++] = json_tokener_parse(line);
		}
		fclose(f);
	}
	*n_r = n;
	return v;
}

static void
records_free(json_object **v, int n)
{
	int i;

	for (i = 0; i < n; i++)
		json_object_put(v[i]);
	free(v);
}

static const char *
rec_str(json_object *rec, const char *a, const char *b)
{
	json_object *o, *p;

	if (rec == NULL || !json_object_object_get_ex(rec, a, &o))
		return NULL;
	if (b == NULL)
		return json_object_get_string(o);
	if (!json_object_object_get_ex(o, b, &p))
		return NULL;
	return json_object_get_string(p);
}

/* Sends and their answers */

struct answer {
	int		 calls;
	enum xp_outcome	 outcome;
	char		 reason[256];
};

static int answers_pending;

static void
sent_cb(void *arg, enum xp_outcome o, unsigned int retry_after,
    const char *reason)
{
	struct answer *a = arg;

	a->calls++;
	a->outcome = o;
	snprintf(a->reason, sizeof(a->reason), "%s", reason != NULL ? reason :
	    "");
	answers_pending--;
}

/* Runs the loop until every answer arrived or seconds passed. */
static void
run_until_answered(double seconds)
{
	struct timeval tv = { 0, 10000 };
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (answers_pending > 0) {
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((double)(t.tv_sec - t0.tv_sec) +
		    (double)(t.tv_nsec - t0.tv_nsec) / 1e9 > seconds)
			break;
	}
}

/*
 * Runs the loop in 20 ms steps until done(arg) or seconds passed; returns
 * done(arg).  The deadline only bounds a test that failed already.
 */
static bool
run_until(bool (*done)(void *), void *arg, double seconds)
{
	struct timeval tv = { 0, 20 * 1000 };
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!done(arg)) {
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((double)(t.tv_sec - t0.tv_sec) +
		    (double)(t.tv_nsec - t0.tv_nsec) / 1e9 > seconds)
			return done(arg);
	}
	return true;
}

static void
run_for(double seconds)
{
	struct timeval tv;

	tv.tv_sec = (long)seconds;
	tv.tv_usec = (long)((seconds - (double)tv.tv_sec) * 1e6);
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

struct received_want {
	const struct mock	*m;
	int			 n;
};

static bool
received_done(void *arg)
{
	const struct received_want *w = arg;

	return mock_received(w->m) >= w->n;
}

struct status_want {
	const struct xp_provider	*prov;
	void				*inst;
	int				 rv;
	const char			*not_yet;	/* why while waiting */
	const char			*why;
};

static bool
status_done(void *arg)
{
	struct status_want *w = arg;

	w->why = NULL;
	return w->prov->status(w->inst, &w->why) == w->rv &&
	    (w->why == NULL || strstr(w->why, w->not_yet) == NULL);
}

struct log_want {
	struct ph	*ph;
	const char	*text;
	int		 n;
};

static bool
log_done(void *arg)
{
	const struct log_want *w = arg;

	return ph_log_count(w->ph, XP_LOG_INFO, w->text) >= w->n;
}

static void
push_init(struct xp_push *p, const char *token)
{
	memset(p, 0, sizeof(*p));
	p->account = "juliet@capulet.example";
	p->token = token;
	p->prio = XP_PRIO_HIGH;
	p->kind = XP_KIND_MESSAGE;
	p->sender = "romeo@montague.example";
	p->body = "Wherefore art thou?";
	p->unread = 3;
	p->pending_subscriptions = -1;
}

#define WAIT_DEADLINE	30.0	/* seconds; bounds a failed test only */
#define APNS_TEST_BIG	4096	/* bytes: more than any payload may have */
#define TOKEN_OK	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* One push, answered; returns its outcome (-1: not exactly one answer). */
static int
send_one(const struct xp_provider *prov, void *inst, const struct xp_push *p,
    struct answer *a, double timeout)
{
	memset(a, 0, sizeof(*a));
	answers_pending++;
	if (prov->send(inst, p, sent_cb, a) != 0) {
		answers_pending--;
		return -2;
	}
	/* A refusal without a round trip may come inside send(). */
	if (a->calls == 0)
		run_until_answered(timeout);
	return a->calls == 1 ? (int)a->outcome : -1;
}

static struct ph *
harness(const char *module)
{
	char path[512], *err = NULL;
	struct ph *ph;

	snprintf(path, sizeof(path), "%s/plugins/.libs/%s", bdir, module);
	if ((ph = ph_new(base, path, &err)) == NULL) {
		diag("%s", err);
		free(err);
		exit(1);
	}
	return ph;
}

static void
set_endpoint(struct ph *ph, const struct mock *m)
{
	char ep[64];

	snprintf(ep, sizeof(ep), "127.0.0.1:%d", m->port);
	ph_set(ph, "endpoint", ep);
	ph_set(ph, "ca-file", fxp("ca.pem"));
	ph_set(ph, "apns-topic", "com.example.app");
}

static void *
create_ok(struct ph *ph, const char *what)
{
	char *err = NULL;
	void *inst = ph_create(ph, "apns-binary-api", &err);

	if (!ok(inst != NULL, "create: %s", what))
		diag("%s", err);
	free(err);
	return inst;
}

static void
create_fails(struct ph *ph, const char *what, const char *want)
{
	char *err = NULL;
	void *inst = ph_create(ph, "apns-binary-api", &err);

	ok(inst == NULL && err != NULL && strstr(err, want) != NULL,
	    "create refused: %s", what);
	if (err != NULL)
		diag("error: %s", err);
	if (inst != NULL)
		ph_provider(ph)->destroy(inst);
	free(err);
}

/* Tests */

static void
test_contract(void)
{
	struct ph *ph = harness("apns.so");
	const struct xp_provider *prov = ph_provider(ph);
	char *err = NULL;
	int i;

	is_str(prov->name, "apns", "module name");
	/* Issue 17: the room left after our envelope, not APNs' 4096. */
	ok(prov->max_payload > 0 && prov->max_payload < 4096,
	    "max payload %zu: within APNs' 4096", prov->max_payload);
	ok(prov->features != NULL && strcmp(prov->features[0],
	    "tigase:push:encrypt:0") == 0, "features");
	is_int(prov->check_token(NULL, TOKEN_OK, false, &err), 0,
	    "64 hex digits accepted");
	is_int(prov->check_token(NULL, "0123456789ABCDEF0123456789abcdef",
	    false, &err), 0, "32 hex digits accepted");
	i = prov->check_token(NULL, "0123456789abcdefg123456789abcdef", false,
	    &err);
	ok(i == -1 && err != NULL, "non-hex refused");
	free(err);
	err = NULL;
	i = prov->check_token(NULL, "0123456789abcdef0", false, &err);
	ok(i == -1, "short/odd refused");
	free(err);
	err = NULL;

	ph_set(ph, "endpoint", "sandbox");
	create_fails(ph, "apns-topic is required", "apns-topic");
	ph_set(ph, "apns-topic", "com.example.app");
	ph_set(ph, "certfile", "x");
	create_fails(ph, "unknown key", "unknown key 'certfile'");
	ph_clear(ph);
	ph_set(ph, "apns-topic", "com.example.app");
	ph_set(ph, "cert-file", fxp("nonexistent.p12"));
	create_fails(ph, "missing certificate file", "No such file");
	ph_set(ph, "cert-file", fxp("client.p12"));
	ph_set(ph, "cert-password", "wrong");
	create_fails(ph, "wrong .p12 password", "wrong cert-password");
	ph_set(ph, "cert-file", fxp("expired.p12"));
	ph_set(ph, "cert-password", "secret");
	create_fails(ph, "expired .p12", "expired on 2021-01-01");
	ph_set(ph, "cert-file", fxp("expired.pem"));
	ph_set(ph, "key-file", fxp("expired.key"));
	create_fails(ph, "expired PEM", "expired");
	ph_set(ph, "cert-file", fxp("client.pem"));
	ph_set(ph, "key-file", fxp("other-client.key"));
	create_fails(ph, "key does not match", "does not match");
	ph_set(ph, "key-file", fxp("client-enc.key"));
	ph_set(ph, "cert-password", "nope");
	create_fails(ph, "encrypted PEM key, wrong password", "private key");
	ph_set(ph, "key-id", "ABC123DEFG");
	create_fails(ph, "certificate and token auth together", "exclude");
	ph_clear(ph);
	ph_set(ph, "apns-topic", "com.example.app");
	ph_set(ph, "key-file", fxp("rsa.key"));
	ph_set(ph, "key-id", "ABC123DEFG");
	ph_set(ph, "team-id", "TEAM123456");
	create_fails(ph, "token key is not P-256", "EC P-256");
	ph_set(ph, "key-file", fxp("AuthKey.p8"));
	ph_set(ph, "team-id", "");
	create_fails(ph, "token auth without team-id", "team-id");
	ph_clear(ph);
	ph_set(ph, "apns-topic", "com.example.app");
	ph_set(ph, "cert-file", fxp("client.p12"));
	ph_set(ph, "cert-password", "secret");
	ph_set(ph, "endpoint", "localhost");
	create_fails(ph, "endpoint without port", "endpoint");
	ph_free(&ph);
}

static void
test_cert_auth(void)
{
	const char *args[] = { "--client-ca", fxp("ca.pem"), "--topic",
	    "com.example.app", NULL };
	struct ph *ph = harness("apns.so");
	const struct xp_provider *prov = ph_provider(ph);
	struct xp_push p;
	struct answer a;
	struct mock m;
	json_object **rec;
	const char *why;
	void *inst;
	int n;

	if (mock_start(&m, 0, args) == -1)
		exit(1);

	/* PEM, certificate and key in one file. */
	set_endpoint(ph, &m);
	ph_set(ph, "cert-file", fxp("client-combined.pem"));
	if ((inst = create_ok(ph, "PEM certificate and key in one file"))) {
		push_init(&p, TOKEN_OK);
		is_int(send_one(prov, inst, &p, &a, 5), XP_SENT,
		    "PEM: alert push sent (%s)", a.reason);
		is_int(prov->status(inst, &why), 0, "status ok");
		p.prio = XP_PRIO_LOW;
		p.body = NULL;
		is_int(send_one(prov, inst, &p, &a, 5), XP_SENT,
		    "PEM: background push sent (%s)", a.reason);
		prov->destroy(inst);
	}
	rec = mock_records(&m, &n);
	is_int(n, 2, "mock saw two requests");
	if (n == 2) {
		json_object *body;
		const char *id = rec_str(rec[0], "headers", "apns-id");

		is_str(rec_str(rec[0], "path", NULL), "/3/device/" TOKEN_OK,
		    "path /3/device/<token>");
		is_str(rec_str(rec[0], "method", NULL), "POST", "POST");
		is_str(rec_str(rec[0], "headers", "apns-topic"),
		    "com.example.app", "apns-topic");
		is_str(rec_str(rec[0], "headers", "apns-push-type"), "alert",
		    "alert push type");
		is_str(rec_str(rec[0], "headers", "apns-priority"), "10",
		    "priority 10");
		ok(id != NULL && strlen(id) == 36 && id[14] == '4',
		    "apns-id is a v4 UUID");
		ok(rec_str(rec[0], "headers", "apns-expiration") == NULL,
		    "no apns-expiration by default");
		body = json_tokener_parse(rec_str(rec[0], "body", NULL));
		is_str(rec_str(body, "aps", "sound"), "default", "aps.sound");
		is_str(rec_str(body, "aps", "badge"), "3", "aps.badge = unread");
		is_str(rec_str(body, "aps", "mutable-content"), "1",
		    "aps.mutable-content");
		is_str(rec_str(body, "sender", NULL), "romeo@montague.example",
		    "sender key");
		is_str(rec_str(body, "account", NULL),
		    "juliet@capulet.example", "account key");
		is_str(rec_str(body, "body", NULL), "Wherefore art thou?",
		    "body key");
		is_str(rec_str(body, "unread-messages", NULL), "3",
		    "unread-messages key");
		ok(rec_str(body, "nickname", NULL) == NULL,
		    "absent keys left out");
		{
			json_object *aps, *alert;

			ok(json_object_object_get_ex(body, "aps", &aps) &&
			    json_object_object_get_ex(aps, "alert", &alert) &&
			    strcmp(rec_str(alert, "title", NULL),
			    "romeo@montague.example") == 0 &&
			    strcmp(rec_str(alert, "body", NULL),
			    "Wherefore art thou?") == 0,
			    "aps.alert title and body");
		}
		json_object_put(body);
		is_str(rec_str(rec[1], "headers", "apns-push-type"),
		    "background", "background push type");
		is_str(rec_str(rec[1], "headers", "apns-priority"), "5",
		    "priority 5");
		body = json_tokener_parse(rec_str(rec[1], "body", NULL));
		{
			json_object *aps;

			ok(json_object_object_get_ex(body, "aps", &aps) &&
			    json_object_object_length(aps) == 1 &&
			    strcmp(rec_str(aps, "content-available", NULL),
			    "1") == 0, "background: aps is content-available "
			    "alone");
		}
		json_object_put(body);
	}
	records_free(rec, n);

	/* PKCS#12 with the right password; expiration and collapse id. */
	ph_clear(ph);
	set_endpoint(ph, &m);
	ph_set(ph, "cert-file", fxp("client.p12"));
	ph_set(ph, "cert-password", "secret");
	ph_set(ph, "expiration", "3600");
	ph_set(ph, "collapse-id", "account");
	ph_set(ph, "sound", "chime.caf");
	ph_set(ph, "badge", "false");
	if ((inst = create_ok(ph, ".p12 with the right password"))) {
		push_init(&p, TOKEN_OK);
		is_int(send_one(prov, inst, &p, &a, 5), XP_SENT,
		    ".p12: push sent (%s)", a.reason);
		prov->destroy(inst);
	}
	rec = mock_records(&m, &n);
	if (n == 3) {
		json_object *body;
		const char *e = rec_str(rec[2], "headers", "apns-expiration");

		ok(e != NULL && atoll(e) > (long long)time(NULL) + 3500,
		    "apns-expiration from expiration");
		is_str(rec_str(rec[2], "headers", "apns-collapse-id"),
		    "juliet@capulet.example", "collapse-id 'account'");
		body = json_tokener_parse(rec_str(rec[2], "body", NULL));
		is_str(rec_str(body, "aps", "sound"), "chime.caf",
		    "configured sound");
		ok(rec_str(body, "aps", "badge") == NULL, "badge = false");
		json_object_put(body);
	} else
		ok(0, "third request recorded (got %d)", n);
	records_free(rec, n);

	/* Legacy (RC2) .p12 as old Keychains export. */
	if (access(fxp("client-legacy.p12"), R_OK) == 0) {
		ph_set(ph, "cert-file", fxp("client-legacy.p12"));
		if ((inst = create_ok(ph, "legacy RC2 .p12"))) {
			push_init(&p, TOKEN_OK);
			is_int(send_one(prov, inst, &p, &a, 5), XP_SENT,
			    "legacy .p12: push sent (%s)", a.reason);
			prov->destroy(inst);
		}
	}

	/* PEM with an encrypted key in key-file. */
	ph_clear(ph);
	set_endpoint(ph, &m);
	ph_set(ph, "cert-file", fxp("client.pem"));
	ph_set(ph, "key-file", fxp("client-enc.key"));
	ph_set(ph, "cert-password", "secret");
	if ((inst = create_ok(ph, "PEM with an encrypted key-file"))) {
		push_init(&p, TOKEN_OK);
		is_int(send_one(prov, inst, &p, &a, 5), XP_SENT,
		    "encrypted key: push sent (%s)", a.reason);
		prov->destroy(inst);
	}

	/* A certificate the server does not accept: logged once. */
	ph_clear(ph);
	ph_log_reset(ph);
	set_endpoint(ph, &m);
	ph_set(ph, "cert-file", fxp("other-client-combined.pem"));
	if ((inst = create_ok(ph, "certificate of another CA"))) {
		int i, bad = 0;

		for (i = 0; i < 3; i++) {
			push_init(&p, TOKEN_OK);
			if (send_one(prov, inst, &p, &a, 5) != XP_AUTH_FAILED)
				bad++;
		}
		is_int(bad, 0, "BadCertificate: XP_AUTH_FAILED every time (%s)",
		    a.reason);
		ok(strstr(a.reason, "BadCertificate") != NULL,
		    "reason names BadCertificate");
		is_int(ph_log_count(ph, XP_LOG_WARN, "refuses our credentials"),
		    1, "the auth failure is logged once");
		why = NULL;
		n = prov->status(inst, &why);
		ok(n == -1 && why != NULL,
		    "status() fails while auth fails (%s)", why);
		prov->destroy(inst);
	}

	/* The wrong topic for the certificate. */
	ph_clear(ph);
	set_endpoint(ph, &m);
	ph_set(ph, "apns-topic", "com.example.other");
	ph_set(ph, "cert-file", fxp("client-combined.pem"));
	if ((inst = create_ok(ph, "topic the mock does not allow"))) {
		push_init(&p, TOKEN_OK);
		is_int(send_one(prov, inst, &p, &a, 5), XP_AUTH_FAILED,
		    "TopicDisallowed -> XP_AUTH_FAILED (%s)", a.reason);
		prov->destroy(inst);
	}
	mock_stop(&m);
	ph_free(&ph);
}

static void
test_reasons(void)
{
	static const struct {
		const char	*prefix;
		enum xp_outcome	 want;
		const char	*what;
	} cases[] = {
		{ "dead", XP_INVALID_TOKEN, "410 Unregistered" },
		{ "bad0", XP_INVALID_TOKEN, "400 BadDeviceToken" },
		{ "bad1", XP_INVALID_TOKEN, "400 DeviceTokenNotForTopic" },
		{ "4290", XP_RATE_LIMITED, "429 TooManyRequests" },
		{ "4130", XP_PERMANENT, "413 PayloadTooLarge" },
		{ "4000", XP_PERMANENT, "400 BadMessageId" },
		{ "4030", XP_AUTH_FAILED, "403 Forbidden" },
		{ "4031", XP_AUTH_FAILED, "403 BadCertificate" },
		{ "4032", XP_AUTH_FAILED, "403 InvalidProviderToken" },
		{ "4033", XP_AUTH_FAILED, "400 TopicDisallowed" },
		{ "5000", XP_TEMPORARY, "500 InternalServerError" },
		{ "5030", XP_TEMPORARY, "503 ServiceUnavailable" },
		{ "5031", XP_TEMPORARY, "503 Shutdown" },
		{ "5104", XP_TEMPORARY, "no answer within request-timeout" },
		{ "abcd", XP_SENT, "200" },
	};
	const char *args[] = { "--slow-ms", "3000", NULL };
	struct ph *ph = harness("apns.so");
	const struct xp_provider *prov = ph_provider(ph);
	struct answer a;
	struct xp_push p;
	struct mock m;
	char token[65];
	void *inst;
	size_t i;

	if (mock_start(&m, 0, args) == -1)
		exit(1);
	set_endpoint(ph, &m);
	ph_set(ph, "cert-file", fxp("client-combined.pem"));
	ph_set(ph, "request-timeout", "1");
	if ((inst = create_ok(ph, "for the reason mapping")) == NULL)
		return;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(token, sizeof(token), "%s%s", cases[i].prefix,
		    TOKEN_OK + 4);
		push_init(&p, token);
		is_int(send_one(prov, inst, &p, &a, 5), cases[i].want,
		    "%s -> outcome %d (%s)", cases[i].what, cases[i].want,
		    a.reason);
	}
	is_int(ph_log_count(ph, XP_LOG_WARN, "refuses our credentials"), 1,
	    "three kinds of auth failure, one warning");
	prov->destroy(inst);

	/* A push too large even without its body. */
	ph_set(ph, "request-timeout", "10");
	if ((inst = create_ok(ph, "for the oversized push"))) {
		char *big = malloc(5000);

		memset(big, 'A', 4999);
		big[4999] = '\0';
		push_init(&p, TOKEN_OK);
		p.encrypted = big;
		is_int(send_one(prov, inst, &p, &a, 5), XP_PERMANENT,
		    "payload over 4096 without a body: XP_PERMANENT (%s)",
		    a.reason);
		free(big);
		prov->destroy(inst);
	}
	mock_stop(&m);
	ph_free(&ph);
}

/*
 * Every reason of Apple's "Handling notification responses from APNs"
 * (developer.apple.com/documentation/usernotifications/
 * handling-notification-responses-from-apns), produced on demand by the
 * mock (--answers), with the outcome and reason apns.so must give, and
 * whether the provider then reports itself failing.
 */
static const struct {
	int		 status;
	const char	*reason;	/* NULL: an answer without a body */
	enum xp_outcome	 want;
	const char	*want_reason;	/* NULL: "APNs STATUS REASON" */
} reason_rows[] = {
	{ 400, "BadCollapseId", XP_PERMANENT, NULL },
	{ 400, "BadDeviceToken", XP_INVALID_TOKEN, NULL },
	{ 400, "BadExpirationDate", XP_PERMANENT, NULL },
	{ 400, "BadMessageId", XP_PERMANENT, NULL },
	{ 400, "BadPriority", XP_PERMANENT, NULL },
	{ 400, "BadTopic", XP_AUTH_FAILED, NULL },
	{ 400, "DeviceTokenNotForTopic", XP_INVALID_TOKEN, NULL },
	{ 400, "DuplicateHeaders", XP_PERMANENT, NULL },
	{ 400, "IdleTimeout", XP_TEMPORARY, NULL },
	{ 400, "InvalidPushType", XP_PERMANENT, NULL },
	{ 400, "MissingDeviceToken", XP_PERMANENT, NULL },
	{ 400, "MissingTopic", XP_AUTH_FAILED, NULL },
	{ 400, "PayloadEmpty", XP_PERMANENT, NULL },
	{ 400, "TopicDisallowed", XP_AUTH_FAILED, NULL },
	{ 403, "BadCertificate", XP_AUTH_FAILED, NULL },
	{ 403, "BadCertificateEnvironment", XP_AUTH_FAILED, NULL },
	{ 403, "ExpiredProviderToken", XP_AUTH_FAILED, NULL },
	{ 403, "Forbidden", XP_AUTH_FAILED, NULL },
	{ 403, "InvalidProviderToken", XP_AUTH_FAILED, NULL },
	{ 403, "MissingProviderToken", XP_AUTH_FAILED, NULL },
	{ 403, "UnrelatedKeyIdInToken", XP_AUTH_FAILED, NULL },
	{ 403, "BadEnvironmentKeyIdInToken", XP_AUTH_FAILED, NULL },
	{ 404, "BadPath", XP_PERMANENT, NULL },
	{ 405, "MethodNotAllowed", XP_PERMANENT, NULL },
	{ 410, "ExpiredToken", XP_INVALID_TOKEN, NULL },
	{ 410, "Unregistered", XP_INVALID_TOKEN, NULL },
	{ 413, "PayloadTooLarge", XP_PERMANENT, NULL },
	{ 429, "TooManyProviderTokenUpdates", XP_AUTH_FAILED, NULL },
	{ 429, "TooManyRequests", XP_RATE_LIMITED, NULL },
	{ 500, "InternalServerError", XP_TEMPORARY, NULL },
	{ 503, "ServiceUnavailable", XP_TEMPORARY, NULL },
	{ 503, "Shutdown", XP_TEMPORARY, NULL },
	/* Not in Apple's list: a reason we do not know, or no body. */
	{ 400, "SomethingNew", XP_PERMANENT, "APNs 400 unknown reason" },
	{ 410, NULL, XP_INVALID_TOKEN, "APNs 410 Unregistered" },
	{ 429, NULL, XP_RATE_LIMITED, "APNs 429 TooManyRequests" },
	{ 403, NULL, XP_AUTH_FAILED, "APNs 403 Forbidden" },
	{ 502, NULL, XP_TEMPORARY, "APNs 502 server error" },
};

static void
test_reason_table(void)
{
	struct ph *ph = harness("apns.so");
	const struct xp_provider *prov = ph_provider(ph);
	const char *args[3], *why;
	char file[512], token[65], want[80];
	struct answer a, g;
	struct xp_push p;
	struct mock m;
	json_object **rec;
	size_t i, nrows = sizeof(reason_rows) / sizeof(reason_rows[0]);
	void *inst;
	FILE *f;
	int n, failing;

	snprintf(file, sizeof(file), "%s/answers", tmpdir);
	if ((f = fopen(file, "w")) == NULL)
		exit(1);
	/* Token prefix "ee" + the row number in hex: that row's answer. */
	for (i = 0; i < nrows; i++)
		fprintf(f, "ee%02zx %d %s\n", i, reason_rows[i].status,
		    reason_rows[i].reason != NULL ? reason_rows[i].reason : "");
	fclose(f);
	args[0] = "--answers";
	args[1] = file;
	args[2] = NULL;
	if (mock_start(&m, 0, args) == -1)
		exit(1);
	set_endpoint(ph, &m);
	ph_set(ph, "cert-file", fxp("client-combined.pem"));
	if ((inst = create_ok(ph, "for the whole reason table")) == NULL)
		return;
	for (i = 0; i < nrows; i++) {
		if (reason_rows[i].want_reason != NULL)
			snprintf(want, sizeof(want), "%s",
			    reason_rows[i].want_reason);
		else
			snprintf(want, sizeof(want), "APNs %d %s",
			    reason_rows[i].status, reason_rows[i].reason);
		snprintf(token, sizeof(token), "ee%02zx%s", i, TOKEN_OK + 4);
		push_init(&p, token);
		is_int(send_one(prov, inst, &p, &a, 10), reason_rows[i].want,
		    "%d %s -> outcome %d", reason_rows[i].status,
		    reason_rows[i].reason != NULL ? reason_rows[i].reason :
		    "(no body)", reason_rows[i].want);
		is_str(a.reason, want, "%d %s -> reason '%s'",
		    reason_rows[i].status, reason_rows[i].reason != NULL ?
		    reason_rows[i].reason : "(no body)", want);
		failing = prov->status(inst, &why) == -1;
		is_int(failing, reason_rows[i].want == XP_AUTH_FAILED,
		    "%d %s: provider %s", reason_rows[i].status,
		    reason_rows[i].reason != NULL ? reason_rows[i].reason :
		    "(no body)", failing ? "failing" : "healthy");
		/* A push that goes through clears the failing state. */
		push_init(&p, TOKEN_OK);
		if (send_one(prov, inst, &p, &g, 10) != XP_SENT)
			diag("reset push: %s", g.reason);
	}
	prov->destroy(inst);
	rec = mock_records(&m, &n);
	is_int(n, (int)(2 * nrows), "the mock answered every row once, "
	    "and every reset push");
	for (i = 0; (int)(2 * i) < n && i < nrows; i++)
		if (rec_str(rec[2 * i], "status", NULL) == NULL ||
		    atoi(rec_str(rec[2 * i], "status", NULL)) !=
		    reason_rows[i].status)
			break;
	is_int(i, nrows, "each row's status came from the mock");
	records_free(rec, n);
	mock_stop(&m);
	ph_free(&ph);
}

/* apns-expiration: VoIP pushes expire after call-lifetime. */
static void
test_call_lifetime(void)
{
	struct ph *ph = harness("apns.so"), *pv = harness("apns-voip.so");
	const struct xp_provider *prov = ph_provider(ph);
	const struct xp_provider *vprov = ph_provider(pv);
	struct answer a;
	struct xp_push p;
	struct mock m;
	json_object **rec;
	const char *e;
	long long t0[4] = { 0 }, t1[4] = { 0 }, v;
	void *inst;
	int n;

	if (mock_start(&m, 0, NULL) == -1)
		exit(1);
	set_endpoint(ph, &m);
	ph_set(ph, "cert-file", fxp("client-combined.pem"));
	if ((inst = create_ok(ph, "for call-lifetime (default)")) == NULL)
		return;
	/* 0: VoIP via apns.so, default call-lifetime 30. */
	push_init(&p, "b0b0" TOKEN_OK);
	p.voip = true;
	p.kind = XP_KIND_CALL;
	p.jingle_sid = "call-9";
	t0[0] = (long long)time(NULL);
	is_int(send_one(prov, inst, &p, &a, 5), XP_SENT, "VoIP push (%s)",
	    a.reason);
	t1[0] = (long long)time(NULL);
	/* 1: a plain push: no apns-expiration (expiration unset). */
	push_init(&p, TOKEN_OK);
	is_int(send_one(prov, inst, &p, &a, 5), XP_SENT, "plain push (%s)",
	    a.reason);
	prov->destroy(inst);

	/* 2: expiration set: plain pushes keep it, calls do not. */
	ph_set(ph, "expiration", "3600");
	ph_set(ph, "call-lifetime", "0");
	if ((inst = create_ok(ph, "expiration 3600, call-lifetime 0"))) {
		push_init(&p, TOKEN_OK);
		t0[2] = (long long)time(NULL);
		is_int(send_one(prov, inst, &p, &a, 5), XP_SENT,
		    "plain push with expiration (%s)", a.reason);
		t1[2] = (long long)time(NULL);
		push_init(&p, "b0b0" TOKEN_OK);
		p.voip = true;
		p.kind = XP_KIND_CALL;
		is_int(send_one(prov, inst, &p, &a, 5), XP_SENT,
		    "VoIP push, call-lifetime 0 (%s)", a.reason);
		prov->destroy(inst);
	}

	/* 4: apns-voip.so: every push is a VoIP push. */
	set_endpoint(pv, &m);
	ph_set(pv, "cert-file", fxp("client-combined.pem"));
	ph_set(pv, "call-lifetime", "45");
	if ((inst = create_ok(pv, "apns-voip.so, call-lifetime 45"))) {
		push_init(&p, "c0c0" TOKEN_OK);
		t0[3] = (long long)time(NULL);
		is_int(send_one(vprov, inst, &p, &a, 5), XP_SENT,
		    "apns-voip.so push (%s)", a.reason);
		t1[3] = (long long)time(NULL);
		vprov->destroy(inst);
	}

	rec = mock_records(&m, &n);
	if (ok(n == 5, "five requests recorded")) {
		e = rec_str(rec[0], "headers", "apns-expiration");
		v = e != NULL ? atoll(e) : -1;
		ok(v >= t0[0] + 30 && v <= t1[0] + 30,
		    "VoIP: apns-expiration %s is now + 30 (sent within "
		    "[%lld, %lld])", e != NULL ? e : "(none)", t0[0], t1[0]);
		ok(rec_str(rec[1], "headers", "apns-expiration") == NULL,
		    "plain push: no apns-expiration by default");
		e = rec_str(rec[2], "headers", "apns-expiration");
		v = e != NULL ? atoll(e) : -1;
		ok(v >= t0[2] + 3600 && v <= t1[2] + 3600,
		    "plain push: apns-expiration %s from expiration",
		    e != NULL ? e : "(none)");
		is_str(rec_str(rec[3], "headers", "apns-expiration"), "0",
		    "VoIP, call-lifetime 0: apns-expiration 0 (now or never)");
		is_str(rec_str(rec[3], "headers", "apns-push-type"), "voip",
		    "and it is a VoIP push");
		e = rec_str(rec[4], "headers", "apns-expiration");
		v = e != NULL ? atoll(e) : -1;
		ok(v >= t0[3] + 45 && v <= t1[3] + 45,
		    "apns-voip.so: apns-expiration %s is now + 45",
		    e != NULL ? e : "(none)");
	}
	records_free(rec, n);
	mock_stop(&m);
	ph_free(&ph);
	ph_free(&pv);
}

/* token-lifetime lies in Apple's [1200, 3600]. */
static void
test_token_lifetime_range(void)
{
	struct ph *ph = harness("apns.so");
	void *inst;

	ph_set(ph, "apns-topic", "com.example.app");
	ph_set(ph, "endpoint", "127.0.0.1:9");
	ph_set(ph, "ca-file", fxp("ca.pem"));
	ph_set(ph, "key-file", fxp("AuthKey.p8"));
	ph_set(ph, "key-id", "KEY1234567");
	ph_set(ph, "team-id", "TEAM123456");
	ph_set(ph, "token-lifetime", "1199");
	create_fails(ph, "token-lifetime 1199 (Apple: at least 20 minutes)",
	    "'token-lifetime'");
	ph_set(ph, "token-lifetime", "1");
	create_fails(ph, "token-lifetime 1", "'token-lifetime'");
	ph_set(ph, "token-lifetime", "3601");
	create_fails(ph, "token-lifetime 3601 (Apple: at most 60 minutes)",
	    "'token-lifetime'");
	ph_set(ph, "token-lifetime", "1200");
	if ((inst = create_ok(ph, "token-lifetime 1200")) != NULL)
		ph_provider(ph)->destroy(inst);
	ph_set(ph, "token-lifetime", "3600");
	if ((inst = create_ok(ph, "token-lifetime 3600")) != NULL)
		ph_provider(ph)->destroy(inst);
	ph_free(&ph);
}

/*
 * After an outage the first push dials at once: with the reconnect
 * backoff at 60 s and request-timeout 30 s, a push sent within its 30 s
 * deadline can only have gone out on an on-demand connection.
 */
static void
test_ondemand_reconnect(void)
{
	struct ph *ph = harness("apns.so");
	const struct xp_provider *prov = ph_provider(ph);
	struct answer a;
	struct xp_push p;
	struct mock m;
	json_object **rec;
	void *inst;
	int n, port;

	/* A port with nobody listening: the mock's, once it stopped. */
	if (mock_start(&m, 0, NULL) == -1)
		exit(1);
	port = m.port;
	mock_stop(&m);
	set_endpoint(ph, &m);
	ph_set(ph, "cert-file", fxp("client-combined.pem"));
	ph_set(ph, "reconnect-min-ms", "60000");
	ph_set(ph, "reconnect-max-ms", "60000");
	ph_set(ph, "request-timeout", "30");
	if ((inst = create_ok(ph, "reconnect backoff 60 s")) == NULL)
		return;
	push_init(&p, TOKEN_OK);
	is_int(send_one(prov, inst, &p, &a, 30), XP_TEMPORARY,
	    "APNs down: XP_TEMPORARY (%s)", a.reason);
	if (mock_start(&m, port, NULL) == -1)
		exit(1);
	is_int(send_one(prov, inst, &p, &a, 30), XP_SENT,
	    "APNs back: the next push is sent within 30 s, not after the "
	    "60 s backoff (%s)", a.reason);
	rec = mock_records(&m, &n);
	ok(n == 1 && strcmp(rec_str(rec[0], "path", NULL), "/3/device/"
	    TOKEN_OK) == 0 && strcmp(rec_str(rec[0], "status", NULL),
	    "200") == 0, "the mock received it and answered 200");
	records_free(rec, n);
	prov->destroy(inst);
	mock_stop(&m);
	ph_free(&ph);
}

/* A string of n bytes of c, then tail (tail included in n). */
static char *
filled(size_t n, char c, const char *tail)
{
	char *s = malloc(n + 1);
	size_t tl = strlen(tail);

	memset(s, c, n - tl);
	memcpy(s + n - tl, tail, tl + 1);
	return s;
}

/*
 * max-payload-size is the room left for the blob after the envelope: a
 * push with every other field at its budget and a blob of exactly that
 * size fills APNs' limit to the byte; one byte more is refused.
 */
static void
advertised_fits(const char *module, size_t limit)
{
	struct ph *ph = harness(module);
	const struct xp_provider *prov = ph_provider(ph);
	bool voip = strcmp(module, "apns-voip.so") == 0;
	char *account, *sender, *nick, *iv, *sid, *blob;
	struct answer a;
	struct xp_push p;
	struct mock m;
	json_object **rec;
	const char *body;
	void *inst;
	int n;

	ok(prov->max_payload > 0 && prov->max_payload < limit,
	    "%s advertises %zu: less than APNs' %zu", module,
	    prov->max_payload, limit);
	if (mock_start(&m, 0, NULL) == -1)
		exit(1);
	set_endpoint(ph, &m);
	ph_set(ph, "cert-file", fxp("client-combined.pem"));
	if ((inst = create_ok(ph, module)) == NULL)
		return;
	account = filled(128, 'j', "@capulet.example");
	sender = filled(128, 'r', "@montague.example");
	nick = filled(64, 'n', "");
	iv = filled(32, 'i', "");
	sid = filled(64, 's', "");
	blob = filled(prov->max_payload, 'E', "");
	push_init(&p, TOKEN_OK);
	p.account = account;
	p.sender = sender;
	p.body = NULL;
	p.nickname = nick;
	p.unread = 9223372036854775807L;
	p.encrypted = blob;
	p.iv = iv;
	p.kind = voip ? XP_KIND_CALL : XP_KIND_SUBSCRIPTION;
	p.jingle_sid = sid;
	p.jingle_media = "video";
	is_int(send_one(prov, inst, &p, &a, 5), XP_SENT,
	    "%s: a blob of the advertised size is accepted (%s)", module,
	    a.reason);
	free(blob);
	blob = filled(prov->max_payload + 1, 'E', "");
	p.encrypted = blob;
	is_int(send_one(prov, inst, &p, &a, 5), XP_PERMANENT,
	    "%s: one byte more is refused, never cut (%s)", module, a.reason);
	prov->destroy(inst);
	rec = mock_records(&m, &n);
	body = n >= 1 ? rec_str(rec[0], "body", NULL) : NULL;
	ok(n == 1 && body != NULL && strlen(body) == limit,
	    "%s: the mock got one payload of exactly %zu bytes (%zu)", module,
	    limit, body != NULL ? strlen(body) : (size_t)0);
	records_free(rec, n);
	free(account);
	free(sender);
	free(nick);
	free(iv);
	free(sid);
	free(blob);
	mock_stop(&m);
	ph_free(&ph);
}

static void
test_advertised_payload(void)
{
	advertised_fits("apns.so", 4096);
	advertised_fits("apns-voip.so", 5120);
}

static bool
utf8_valid(const unsigned char *s)
{
	int n;

	while (*s) {
		if (*s < 0x80)
			n = 0;
		else if ((*s & 0xe0) == 0xc0)
			n = 1;
		else if ((*s & 0xf0) == 0xe0)
			n = 2;
		else if ((*s & 0xf8) == 0xf0)
			n = 3;
		else
			return false;
		s++;
		while (n-- > 0)
			if ((*s++ & 0xc0) != 0x80)
				return false;
	}
	return true;
}

#define ESCAPES_BODY	"say \"hi\" \\ a/b\n\ttab\x01\x1f\b\f\r \xc3\xa9\xe2\x82\xac"

static void
test_trim_and_voip(void)
{
	struct ph *ph = harness("apns.so"), *pv = harness("apns-voip.so");
	const struct xp_provider *prov = ph_provider(ph);
	const struct xp_provider *vprov = ph_provider(pv);
	struct answer a;
	struct xp_push p;
	struct mock m;
	json_object **rec;
	char *body;
	void *inst;
	size_t i;
	int n;

	if (mock_start(&m, 0, NULL) == -1)
		exit(1);
	set_endpoint(ph, &m);
	ph_set(ph, "cert-file", fxp("client-combined.pem"));
	inst = create_ok(ph, "for trimming and VoIP");
	/* 3000 x "é" (2 bytes) then "€" (3 bytes): 6000+ bytes. */
	body = malloc(8000);
	for (i = 0; i < 3000; i++)
		memcpy(body + 2 * i, "\xc3\xa9", 2);
	for (i = 0; i < 500; i++)
		memcpy(body + 6000 + 3 * i, "\xe2\x82\xac", 3);
	body[7500] = '\0';
	push_init(&p, TOKEN_OK);
	p.body = body;
	p.encrypted = "c2VjcmV0";
	p.iv = "aXY=";
	p.nickname = "Romeo";
	is_int(send_one(prov, inst, &p, &a, 5), XP_SENT,
	    "7500-byte body: push sent, trimmed (%s)", a.reason);

	/* VoIP through apns.so: push->voip. */
	push_init(&p, "b0b0" TOKEN_OK);
	p.voip = true;
	p.kind = XP_KIND_CALL;
	p.jingle_sid = "call-1";
	p.jingle_media = "audio";
	is_int(send_one(prov, inst, &p, &a, 5), XP_SENT,
	    "VoIP push via apns.so (%s)", a.reason);

	/* JSON escaping (the payload is written by hand, not by json-c). */
	push_init(&p, TOKEN_OK);
	p.body = ESCAPES_BODY;
	p.nickname = "\"Romeo\" \\ Montague";
	p.unread = 1234567890123LL;
	is_int(send_one(prov, inst, &p, &a, 5), XP_SENT,
	    "push with characters JSON must escape (%s)", a.reason);
	prov->destroy(inst);

	/* apns-voip.so: every push is VoIP, 5120 bytes allowed. */
	set_endpoint(pv, &m);
	ph_set(pv, "cert-file", fxp("client-combined.pem"));
	/* Issue 17: the room left after our envelope, not APNs' 5120. */
	ok(vprov->max_payload > 4096 && vprov->max_payload < 5120,
	    "apns-voip max payload %zu: more than alerts, within 5120",
	    vprov->max_payload);
	inst = create_ok(pv, "apns-voip.so");
	push_init(&p, "c0c0" TOKEN_OK);
	p.body = body;
	is_int(send_one(vprov, inst, &p, &a, 5), XP_SENT,
	    "apns-voip.so push (%s)", a.reason);
	vprov->destroy(inst);

	rec = mock_records(&m, &n);
	if (ok(n == 4, "four requests recorded")) {
		const char *pl = rec_str(rec[0], "body", NULL);
		json_object *o = json_tokener_parse(pl);
		const char *b = rec_str(o, "body", NULL);

		ok(strlen(pl) <= 4096 && strlen(pl) > 3900,
		    "trimmed payload %zu bytes: fits 4096, not much less",
		    strlen(pl));
		ok(utf8_valid((const unsigned char *)pl), "valid UTF-8");
		ok(b != NULL && strncmp(b, body, strlen(b) - 3) == 0 &&
		    strcmp(b + strlen(b) - 3, "\xe2\x80\xa6") == 0,
		    "body is a prefix cut on a boundary, ending with U+2026");
		is_str(rec_str(o, "encrypted", NULL), "c2VjcmV0",
		    "encrypted passed through");
		is_str(rec_str(o, "iv", NULL), "aXY=", "iv passed through");
		is_str(rec_str(o, "nickname", NULL), "Romeo", "nickname");
		json_object_put(o);

		is_str(rec_str(rec[1], "headers", "apns-topic"),
		    "com.example.app.voip", "VoIP topic <bundle>.voip");
		is_str(rec_str(rec[1], "headers", "apns-push-type"), "voip",
		    "push type voip");
		is_str(rec_str(rec[1], "headers", "apns-priority"), "10",
		    "VoIP priority 10");
		is_str(rec_str(rec[1], "path", NULL), "/3/device/b0b0" TOKEN_OK,
		    "sent to the VoIP token");
		o = json_tokener_parse(rec_str(rec[1], "body", NULL));
		ok(rec_str(o, "aps", NULL) == NULL, "VoIP: no aps");
		is_str(rec_str(o, "sid", NULL), "call-1", "VoIP: call sid");
		json_object_put(o);
		pl = rec_str(rec[2], "body", NULL);
		o = json_tokener_parse(pl);
		ok(o != NULL, "escaped payload is valid JSON");
		is_str(rec_str(o, "body", NULL), ESCAPES_BODY,
		    "body with quote, backslash, controls, '/' and UTF-8 "
		    "round-trips");
		is_str(rec_str(o, "nickname", NULL), "\"Romeo\" \\ Montague",
		    "nickname round-trips");
		is_str(rec_str(o, "unread-messages", NULL), "1234567890123",
		    "64-bit unread count");
		ok(strstr(pl, "\\u0001") != NULL && strstr(pl, "\\n") != NULL &&
		    strstr(pl, "\\t") != NULL && strstr(pl, "a/b") != NULL,
		    "controls as \\u0001 \\n \\t, '/' left as is");
		json_object_put(o);
		pl = rec_str(rec[3], "body", NULL);
		is_str(rec_str(rec[3], "headers", "apns-push-type"), "voip",
		    "apns-voip.so: push type voip");
		ok(strlen(pl) <= 5120 && strlen(pl) > 4096,
		    "apns-voip.so: payload %zu bytes within 5120", strlen(pl));
	}
	records_free(rec, n);
	free(body);
	mock_stop(&m);
	ph_free(&ph);
	ph_free(&pv);
}

static void
test_goaway(int pool, int npush)
{
	const char *args[] = { "--goaway-after", "50", "--max-streams", "20",
	    NULL };
	struct ph *ph = harness("apns.so");
	const struct xp_provider *prov = ph_provider(ph);
	struct answer *a;
	struct xp_push p;
	struct mock m;
	char spool[8];
	void *inst;
	int i, sent = 0, once = 0, refused = 0;
	struct timespec t0, t1;
	double dt;

	if (mock_start(&m, 0, args) == -1)
		exit(1);
	set_endpoint(ph, &m);
	ph_set(ph, "cert-file", fxp("client-combined.pem"));
	snprintf(spool, sizeof(spool), "%d", pool);
	ph_set(ph, "pool-size", spool);
	/* No push may time out in the queue of a busy machine. */
	ph_set(ph, "request-timeout", "300");
	if ((inst = create_ok(ph, "for GOAWAY under load")) == NULL)
		return;
	a = calloc((size_t)npush, sizeof(*a));
	push_init(&p, TOKEN_OK);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < npush; i++) {
		answers_pending++;
		if (prov->send(inst, &p, sent_cb, &a[i]) != 0) {
			answers_pending--;
			refused++;
		}
	}
	run_until_answered(600);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	dt = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	for (i = 0; i < npush; i++) {
		if (a[i].calls == 1)
			once++;
		if (a[i].calls == 1 && a[i].outcome == XP_SENT)
			sent++;
		else if (a[i].calls == 1 && i - sent < 3)
			diag("push %d: outcome %d: %s", i, a[i].outcome,
			    a[i].reason);
	}
	is_int(refused, 0, "pool %d: no send refused", pool);
	is_int(once, npush, "pool %d: every push answered exactly once",
	    pool);
	is_int(sent, npush, "pool %d: %d pushes through GOAWAY every 50 "
	    "requests all XP_SENT", pool, npush);
	diag("pool %d: %d pushes in %.3f s (%.0f/s) with a GOAWAY every 50",
	    pool, npush, dt, npush / dt);
	prov->destroy(inst);
	free(a);
	mock_stop(&m);
	ph_free(&ph);
}

static void
test_throughput(int npush)
{
	struct ph *ph = harness("apns.so");
	const struct xp_provider *prov = ph_provider(ph);
	struct answer *a;
	struct xp_push p;
	struct mock m;
	void *inst;
	int i, sent = 0;
	struct timespec t0, t1;
	double dt;

	if (mock_start(&m, 0, NULL) == -1)
		exit(1);
	set_endpoint(ph, &m);
	ph_set(ph, "cert-file", fxp("client-combined.pem"));
	ph_set(ph, "pool-size", "2");
	ph_set(ph, "queue-size", "1000000");
	/*
	 * A busy machine may take minutes for 20,000 sanitized pushes: the
	 * figure is a diagnostic, the assertion is that all are sent, so no
	 * push may time out in the queue.
	 */
	ph_set(ph, "request-timeout", "300");
	if ((inst = create_ok(ph, "for a throughput figure")) == NULL)
		return;
	/* Connect first: the figure is for pushes, not handshakes. */
	push_init(&p, TOKEN_OK);
	{
		struct answer w;

		send_one(prov, inst, &p, &w, 5);
	}
	a = calloc((size_t)npush, sizeof(*a));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < npush; i++) {
		answers_pending++;
		if (prov->send(inst, &p, sent_cb, &a[i]) != 0)
			answers_pending--;
	}
	run_until_answered(600);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	dt = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	for (i = 0; i < npush; i++)
		if (a[i].calls == 1 && a[i].outcome == XP_SENT)
			sent++;
	is_int(sent, npush, "throughput run: all %d sent", npush);
	diag("%d pushes in %.3f s: %.0f pushes/s (pool 2, one process each "
	    "side)", npush, dt, npush / dt);
	prov->destroy(inst);
	free(a);
	mock_stop(&m);
	ph_free(&ph);
}

static void
test_connection_loss(void)
{
	const char *args[] = { "--slow-ms", "5000", NULL };
	struct ph *ph = harness("apns.so");
	const struct xp_provider *prov = ph_provider(ph);
	struct answer a[5], b;
	struct xp_push p;
	struct mock m;
	void *inst;
	int i, temp = 0, port;

	if (mock_start(&m, 0, args) == -1)
		exit(1);
	port = m.port;
	set_endpoint(ph, &m);
	ph_set(ph, "cert-file", fxp("client-combined.pem"));
	if ((inst = create_ok(ph, "for connection loss")) == NULL)
		return;
	push_init(&p, TOKEN_OK);
	is_int(send_one(prov, inst, &p, &b, 5), XP_SENT, "sent before the "
	    "loss");
	/* Five slow pushes in flight, then the server goes away. */
	push_init(&p, "5104" TOKEN_OK);
	memset(a, 0, sizeof(a));
	for (i = 0; i < 5; i++) {
		answers_pending++;
		prov->send(inst, &p, sent_cb, &a[i]);
	}
	/* In flight means at the mock: wait until it has all five. */
	{
		struct received_want w = { &m, 5 };

		ok(run_until(received_done, &w, WAIT_DEADLINE),
		    "the five slow pushes reached the mock");
	}
	mock_stop(&m);
	run_until_answered(5);
	for (i = 0; i < 5; i++)
		if (a[i].calls == 1 && a[i].outcome == XP_TEMPORARY)
			temp++;
	is_int(temp, 5, "in-flight pushes answered XP_TEMPORARY (%s)",
	    a[0].reason);
	push_init(&p, TOKEN_OK);
	is_int(send_one(prov, inst, &p, &b, 5), XP_TEMPORARY,
	    "while the server is down: XP_TEMPORARY (%s)", b.reason);
	/* Back on the same port: the client reconnects by itself. */
	if (mock_start(&m, port, args) == -1)
		exit(1);
	for (i = 0; i < 40; i++) {
		if (send_one(prov, inst, &p, &b, 5) == XP_SENT)
			break;
		run_for(0.5);
	}
	is_int(b.outcome, XP_SENT, "sent again once the server is back "
	    "(after %d tries)", i + 1);
	mock_stop(&m);
	prov->destroy(inst);
	ph_free(&ph);
}

static void
test_no_h2(void)
{
	const char *args[] = { "--alpn", "http/1.1", NULL };
	struct ph *ph = harness("apns.so");
	const struct xp_provider *prov = ph_provider(ph);
	struct answer a;
	struct xp_push p;
	struct mock m;
	const char *why = NULL;
	void *inst;
	int rv;

	if (mock_start(&m, 0, args) == -1)
		exit(1);
	set_endpoint(ph, &m);
	ph_set(ph, "cert-file", fxp("client-combined.pem"));
	if ((inst = create_ok(ph, "against a server without h2")) == NULL)
		return;
	push_init(&p, TOKEN_OK);
	is_int(send_one(prov, inst, &p, &a, 5), XP_AUTH_FAILED,
	    "no ALPN h2: refused (%s)", a.reason);
	ok(strstr(a.reason, "ALPN h2") != NULL, "the reason says ALPN h2");
	ok(ph_log_count(ph, XP_LOG_WARN, "did not select ALPN h2") >= 1,
	    "logged as a warning");
	rv = prov->status(inst, &why);
	ok(rv == -1 && why != NULL && strstr(why, "HTTP/2") != NULL,
	    "status: %s", why ? why : "");
	prov->destroy(inst);
	mock_stop(&m);
	ph_free(&ph);
}

static void
test_token_auth(void)
{
	const char *args[] = { "--jwt-key", fxp("AuthKey.pub"), "--key-id",
	    "KEY1234567", "--team-id", "TEAM123456", "--jwt-max-age", "2",
	    "--topic", "com.example.app", NULL };
	struct ph *ph = harness("apns.so");
	const struct xp_provider *prov = ph_provider(ph);
	struct answer a;
	struct xp_push p;
	struct mock m;
	json_object **rec;
	const char *auth0, *auth1;
	void *inst;
	int n;

	if (mock_start(&m, 0, args) == -1)
		exit(1);
	set_endpoint(ph, &m);
	ph_set(ph, "key-file", fxp("AuthKey.p8"));
	ph_set(ph, "key-id", "KEY1234567");
	ph_set(ph, "team-id", "TEAM123456");
	/* Below Apple's 1200 s minimum: the test-only override. */
	setenv("XPUSHD_TEST_APNS_TOKEN_LIFETIME", "1", 1);
	inst = create_ok(ph, "token auth, 1 s tokens (test override)");
	unsetenv("XPUSHD_TEST_APNS_TOKEN_LIFETIME");
	if (inst == NULL)
		return;
	push_init(&p, TOKEN_OK);
	is_int(send_one(prov, inst, &p, &a, 5), XP_SENT,
	    "token auth: JWT verified by the mock (%s)", a.reason);
	/*
	 * Lets 1.5 s of wall time pass so that the 1 s token is old: a slow
	 * machine only makes it older, so this cannot fail for being slow.
	 */
	run_for(1.5);
	is_int(send_one(prov, inst, &p, &a, 5), XP_SENT,
	    "token auth after renewal (%s)", a.reason);
	prov->destroy(inst);
	rec = mock_records(&m, &n);
	if (ok(n == 2, "two requests")) {
		auth0 = rec_str(rec[0], "headers", "authorization");
		auth1 = rec_str(rec[1], "headers", "authorization");
		ok(auth0 != NULL && strncmp(auth0, "bearer ey", 9) == 0,
		    "authorization: bearer <jwt>");
		ok(auth0 != NULL && auth1 != NULL && strcmp(auth0, auth1) != 0,
		    "the token was renewed after token-lifetime");
	}
	records_free(rec, n);

	/* A token APNs calls expired: renewed and retried once. */
	ph_set(ph, "token-lifetime", "3600");
	if ((inst = create_ok(ph, "token auth, long lifetime"))) {
		is_int(send_one(prov, inst, &p, &a, 5), XP_SENT,
		    "first push (%s)", a.reason);
		/*
		 * Wall time for the mock's --jwt-max-age to pass: a slow
		 * machine only makes the token older, never younger.
		 */
		run_for(3.2);
		is_int(send_one(prov, inst, &p, &a, 5), XP_SENT,
		    "ExpiredProviderToken: renewed, retried, sent (%s)",
		    a.reason);
		rec = mock_records(&m, &n);
		ok(n == 5 && strcmp(rec_str(rec[3], "reason", NULL),
		    "ExpiredProviderToken") == 0 &&
		    strcmp(rec_str(rec[4], "status", NULL), "200") == 0,
		    "the mock saw the expired token, then the new one");
		records_free(rec, n);
		/* A token the server always calls expired: one retry only. */
		push_init(&p, "4034" TOKEN_OK);
		is_int(send_one(prov, inst, &p, &a, 5), XP_AUTH_FAILED,
		    "always expired: XP_AUTH_FAILED after one retry (%s)",
		    a.reason);
		rec = mock_records(&m, &n);
		is_int(n, 7, "exactly one retry");
		records_free(rec, n);
		prov->destroy(inst);
	}

	/* The wrong key id. */
	ph_set(ph, "key-id", "WRONGKEY00");
	if ((inst = create_ok(ph, "token auth with a wrong key-id"))) {
		push_init(&p, TOKEN_OK);
		is_int(send_one(prov, inst, &p, &a, 5), XP_AUTH_FAILED,
		    "wrong kid: XP_AUTH_FAILED (%s)", a.reason);
		prov->destroy(inst);
	}
	mock_stop(&m);
	ph_free(&ph);
}

static char *
slurp(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (f == NULL)
		return NULL;
	buf = malloc(65536);
	n = fread(buf, 1, 65535, f);
	fclose(f);
	buf[n] = '\0';
	if (len_r != NULL)
		*len_r = n;
	return buf;
}

/*
 * The fpush profile (Monal, Quicksy): what fpush-apns/src/push.rs
 * (FpushApns::send) sends, whatever the block's sound, badge, collapse-id
 * and expiration, and whatever the publish's priority and body.
 */
static void
test_fpush_profile(void)
{
	const char *args[] = { "--client-ca", fxp("ca.pem"), NULL };
	struct ph *ph = harness("apns.so"), *vph;
	const struct xp_provider *prov = ph_provider(ph);
	struct answer a;
	struct xp_push p;
	struct mock m;
	json_object **rec;
	const char *e;
	void *inst;
	int n;

	if (mock_start(&m, 0, args) == -1)
		exit(1);
	set_endpoint(ph, &m);
	ph_set(ph, "cert-file", fxp("client.p12"));
	ph_set(ph, "cert-password", "secret");
	ph_set(ph, "expiration", "3600");
	ph_set(ph, "collapse-id", "account");
	ph_set(ph, "sound", "chime.caf");
	if ((inst = create_ok(ph, "fpush: a block with its own settings"))) {
		push_init(&p, TOKEN_OK);
		p.profile = XP_PROFILE_FPUSH;
		p.prio = XP_PRIO_LOW;
		is_int(send_one(prov, inst, &p, &a, 5), XP_SENT,
		    "fpush: sent (%s)", a.reason);
		prov->destroy(inst);
	}
	rec = mock_records(&m, &n);
	if (n == 1) {
		is_str(rec_str(rec[0], "body", NULL), "{\"aps\":{\"alert\":"
		    "{\"title\":\"New Message\",\"body\":\"New Message?\"},"
		    "\"sound\":\"default\",\"mutable-content\":1}}",
		    "fpush: fpush's payload, byte for byte");
		is_str(rec_str(rec[0], "headers", "apns-push-type"), "alert",
		    "fpush: an alert, even for a low-priority publish");
		is_str(rec_str(rec[0], "headers", "apns-priority"), "10",
		    "fpush: priority 10");
		ok(rec_str(rec[0], "headers", "apns-collapse-id") == NULL,
		    "fpush: no collapse id");
		e = rec_str(rec[0], "headers", "apns-expiration");
		ok(e != NULL && atoll(e) > (long long)time(NULL) + 2419200 -
		    600 && atoll(e) <= (long long)time(NULL) + 2419200,
		    "fpush: apns-expiration four weeks from now");
		is_str(rec_str(rec[0], "headers", "apns-topic"),
		    "com.example.app", "fpush: the block's topic");
	} else
		ok(0, "fpush: one request recorded (got %d)", n);
	records_free(rec, n);

	/* fpush's additionalData: Monal's build numbers beside aps. */
	ph_set(ph, "fpush-additional-data", "{ \"firstGoodBuildNumber\": "
	    "1234, \"knownGoodBuildNumber\": [ 1234, 1240 ] }");
	if ((inst = create_ok(ph, "fpush: additional data"))) {
		push_init(&p, TOKEN_OK);
		p.profile = XP_PROFILE_FPUSH;
		is_int(send_one(prov, inst, &p, &a, 5), XP_SENT,
		    "fpush: sent with additional data (%s)", a.reason);
		prov->destroy(inst);
	}
	rec = mock_records(&m, &n);
	is_str(n == 2 ? rec_str(rec[1], "body", NULL) : NULL,
	    "{\"aps\":{\"alert\":{\"title\":\"New Message\",\"body\":"
	    "\"New Message?\"},\"sound\":\"default\",\"mutable-content\":1},"
	    "\"firstGoodBuildNumber\":1234,\"knownGoodBuildNumber\":"
	    "[1234,1240]}", "fpush: the additional members after aps");
	records_free(rec, n);
	ph_set(ph, "fpush-additional-data", "[ 1 ]");
	create_fails(ph, "fpush-additional-data not an object",
	    "a JSON object");
	ph_set(ph, "fpush-additional-data", "{ \"aps\": {} }");
	create_fails(ph, "fpush-additional-data with aps", "without \"aps\"");
	ph_set(ph, "fpush-additional-data", "{ \"x\": \"");
	create_fails(ph, "fpush-additional-data that is no JSON",
	    "a JSON object");
	{
		char big[APNS_TEST_BIG + 16];

		memset(big, 'a', sizeof(big));
		memcpy(big, "{\"x\":\"", 6);
		memcpy(big + sizeof(big) - 3, "\"}", 3);
		ph_set(ph, "fpush-additional-data", big);
		create_fails(ph, "fpush-additional-data too large",
		    "too large");
	}
	ph_set(ph, "fpush-additional-data", "");

	/* apns-voip.so sends every push as VoIP: never fpush's alert. */
	vph = harness("apns-voip.so");
	set_endpoint(vph, &m);
	ph_set(vph, "cert-file", fxp("client.p12"));
	ph_set(vph, "cert-password", "secret");
	if ((inst = create_ok(vph, "fpush: apns-voip"))) {
		push_init(&p, TOKEN_OK);
		p.profile = XP_PROFILE_FPUSH;
		is_int(send_one(ph_provider(vph), inst, &p, &a, 5),
		    XP_PERMANENT, "fpush: apns-voip refuses the profile (%s)",
		    a.reason);
		ph_provider(vph)->destroy(inst);
	}
	ph_free(&vph);
	mock_stop(&m);
	ph_free(&ph);
}

static void
test_db_cert(void)
{
	const char *args[] = { "--client-ca", fxp("ca.pem"), NULL };
	struct ph *ph = harness("apns.so");
	const struct xp_provider *prov = ph_provider(ph);
	struct xp_cert c;
	struct answer a;
	struct xp_push p;
	struct mock m;
	const char *why;
	json_object **rec;
	char *pem, *p12, *err = NULL;
	size_t p12len;
	void *inst;
	int n;

	if (mock_start(&m, 0, args) == -1)
		exit(1);
	set_endpoint(ph, &m);

	/* Nothing stored. */
	if ((inst = create_ok(ph, "database certificate, none stored"))) {
		struct status_want w = { prov, inst, -1, "waiting", NULL };

		/* The database answers asynchronously: wait for it. */
		n = run_until(status_done, &w, WAIT_DEADLINE) ? -1 : 0;
		why = w.why;
		ok(n == -1, "status: %s", why);
		push_init(&p, TOKEN_OK);
		is_int(send_one(prov, inst, &p, &a, 5), XP_AUTH_FAILED,
		    "no certificate: XP_AUTH_FAILED (%s)", a.reason);
		prov->destroy(inst);
	}

	/* PEM stored; then replaced by a .p12 while running. */
	pem = slurp(fxp("client-combined.pem"), NULL);
	memset(&c, 0, sizeof(c));
	c.cert_pem = pem;
	ph_set_cert(ph, &c);
	if ((inst = create_ok(ph, "database certificate (PEM)"))) {
		push_init(&p, TOKEN_OK);
		is_int(send_one(prov, inst, &p, &a, 5), XP_SENT,
		    "sent with the stored PEM certificate (%s)", a.reason);
		p12 = slurp(fxp("client.p12"), &p12len);
		memset(&c, 0, sizeof(c));
		c.pkcs12 = (unsigned char *)p12;
		c.pkcs12_len = p12len;
		c.password = "secret";
		ph_set_cert(ph, &c);
		ph_cert_changed(ph, "apns-binary-api");
		{
			struct log_want w = { ph, "from the database", 2 };

			/* Reloaded (and logged) asynchronously. */
			(void)run_until(log_done, &w, WAIT_DEADLINE);
		}
		is_int(send_one(prov, inst, &p, &a, 5), XP_SENT,
		    "sent after the stored certificate changed (%s)",
		    a.reason);
		rec = mock_records(&m, &n);
		ok(n == 2 && strcmp(rec_str(rec[0], "conn", NULL),
		    rec_str(rec[1], "conn", NULL)) != 0,
		    "the new certificate went out on a new connection");
		records_free(rec, n);
		is_int(ph_log_count(ph, XP_LOG_INFO, "from the database"), 2,
		    "both certificates logged as loaded");
		is_int(ph_log_count(ph, -1, "apns-binary-api"), 0,
		    "the module does not prefix its lines: the host does");
		prov->destroy(inst);
		free(p12);
	}
	free(pem);

	/* An expired stored certificate, answered at once: create fails. */
	pem = slurp(fxp("expired.pem"), NULL);
	memset(&c, 0, sizeof(c));
	c.cert_pem = pem;
	c.key_pem = slurp(fxp("expired.key"), NULL);
	ph_set_cert(ph, &c);
	ph_set_cert_sync(ph, true);
	inst = ph_create(ph, "apns-binary-api", &err);
	ok(inst == NULL && err != NULL && strstr(err, "expired") != NULL,
	    "expired stored certificate: create fails (%s)", err);
	free(err);
	free(pem);
	free((char *)c.key_pem);
	mock_stop(&m);
	ph_free(&ph);
}

static void
test_queue_and_destroy(void)
{
	/*
	 * The slow push must stay in flight over the 0.5 s below however
	 * slow the machine: the mock answers it after 60 s, and destroy()
	 * answers it first.
	 */
	const char *args[] = { "--slow-ms", "60000", NULL };
	struct ph *ph = harness("apns.so");
	const struct xp_provider *prov = ph_provider(ph);
	struct answer a[3];
	struct xp_push p;
	struct mock m;
	void *inst;
	int rv;

	if (mock_start(&m, 0, args) == -1)
		exit(1);
	set_endpoint(ph, &m);
	ph_set(ph, "cert-file", fxp("client-combined.pem"));
	ph_set(ph, "queue-size", "1");
	if ((inst = create_ok(ph, "queue-size 1")) == NULL)
		return;
	memset(a, 0, sizeof(a));
	push_init(&p, "5104" TOKEN_OK);
	answers_pending++;
	prov->send(inst, &p, sent_cb, &a[0]);
	rv = prov->send(inst, &p, sent_cb, &a[1]);
	is_int(rv, -1, "second send refused while the queue is full");
	/*
	 * A negative check: the answer cannot come within 0.5 s (the mock
	 * holds it for 60), so a slow machine cannot make this fail; what it
	 * would catch is a send that answered at once.
	 */
	run_for(0.5);
	is_int(a[0].calls, 0, "the slow push is still in flight");
	prov->destroy(inst);
	ok(a[0].calls == 1 && a[0].outcome == XP_TEMPORARY,
	    "destroy answered it XP_TEMPORARY before returning");
	answers_pending = 0;
	mock_stop(&m);
	ph_free(&ph);
}

/* Conditions on the mock's connections, for run_until(). */
struct conns_want {
	const struct mock	*m;
	unsigned long		 accepted;	/* at least this many */
	long			 open;		/* exactly (-1: any) */
	unsigned long		 got_accepted, got_open;
};

static bool
conns_done(void *arg)
{
	struct conns_want *w = arg;

	if (!mock_conns(w->m, &w->got_accepted, &w->got_open))
		return false;
	return w->got_accepted >= w->accepted && (w->open < 0 ||
	    w->got_open == (unsigned long)w->open);
}

/* Sends n pushes to token, each answer into a[i]; returns the refusals. */
static int
send_n(const struct xp_provider *prov, void *inst, const char *token,
    struct answer *a, int n)
{
	struct xp_push p;
	int i, refused = 0;

	push_init(&p, token);
	for (i = 0; i < n; i++) {
		memset(&a[i], 0, sizeof(a[i]));
		answers_pending++;
		if (prov->send(inst, &p, sent_cb, &a[i]) != 0) {
			answers_pending--;
			refused++;
		}
	}
	return refused;
}

/*
 * The pool grows with the streams in flight: the mock allows 10 streams
 * a connection and holds the slow pushes 60 s, so they stay in flight.
 * Seven (below 80 % of 10) keep one connection; the eighth dials a
 * second; 38 want four connections but pool-size is 3.
 */
static void
test_pool_growth(void)
{
	const char *args[] = { "--max-streams", "10", "--slow-ms", "60000",
	    NULL };
	struct ph *ph = harness("apns.so");
	const struct xp_provider *prov = ph_provider(ph);
	struct answer a[38];
	struct received_want rw;
	struct conns_want cw;
	struct mock m;
	void *inst;
	int refused;

	if (mock_start(&m, 0, args) == -1)
		exit(1);
	set_endpoint(ph, &m);
	ph_set(ph, "cert-file", fxp("client-combined.pem"));
	ph_set(ph, "pool-size", "3");
	ph_set(ph, "idle-timeout", "0");
	ph_set(ph, "request-timeout", "120");
	if ((inst = create_ok(ph, "pool-size 3")) == NULL)
		return;
	refused = send_n(prov, inst, "5104" TOKEN_OK, a, 7);
	rw.m = &m;
	rw.n = 7;
	ok(run_until(received_done, &rw, WAIT_DEADLINE),
	    "7 slow pushes in flight at the mock");
	/* A negative check: a wrong second dial would show by now. */
	memset(&cw, 0, sizeof(cw));
	cw.m = &m;
	cw.open = -1;
	ok(mock_conns(&m, &cw.got_accepted, &cw.got_open) &&
	    cw.got_accepted == 1, "7 of 10 streams (below 80 %%): one "
	    "connection (%lu)", cw.got_accepted);
	refused += send_n(prov, inst, "5104" TOKEN_OK, a + 7, 1);
	cw.accepted = 2;
	ok(run_until(conns_done, &cw, WAIT_DEADLINE) && cw.got_accepted == 2,
	    "the 8th stream (80 %% of 10) dials a second connection (%lu)",
	    cw.got_accepted);
	refused += send_n(prov, inst, "5104" TOKEN_OK, a + 8, 30);
	rw.n = 30;
	ok(run_until(received_done, &rw, WAIT_DEADLINE),
	    "30 slow pushes in flight: 3 connections of 10 streams");
	ok(mock_conns(&m, &cw.got_accepted, &cw.got_open) &&
	    cw.got_accepted == 3 && cw.got_open == 3, "38 wanted, 30 "
	    "allowed: still pool-size 3 connections (accepted %lu, open "
	    "%lu)", cw.got_accepted, cw.got_open);
	is_int(refused, 0, "no push refused");
	prov->destroy(inst);
	answers_pending = 0;
	mock_stop(&m);
	ph_free(&ph);
}

/*
 * With idle-timeout 1 s, the connections a burst opened close once it is
 * over, except the last, which the next push finds up.
 */
static void
test_pool_idle(void)
{
	const char *args[] = { "--max-streams", "10", "--slow-ms", "1000",
	    NULL };
	struct ph *ph = harness("apns.so");
	const struct xp_provider *prov = ph_provider(ph);
	struct answer a[25], b;
	struct conns_want cw;
	struct xp_push p;
	struct mock m;
	unsigned long grown;
	void *inst;
	int i, sent = 0;

	if (mock_start(&m, 0, args) == -1)
		exit(1);
	set_endpoint(ph, &m);
	ph_set(ph, "cert-file", fxp("client-combined.pem"));
	ph_set(ph, "pool-size", "3");
	ph_set(ph, "idle-timeout", "1");
	ph_set(ph, "request-timeout", "120");
	if ((inst = create_ok(ph, "idle-timeout 1")) == NULL)
		return;
	is_int(send_n(prov, inst, "5104" TOKEN_OK, a, 25), 0,
	    "25 slow pushes taken");
	run_until_answered(WAIT_DEADLINE * 4);
	for (i = 0; i < 25; i++)
		sent += a[i].calls == 1 && a[i].outcome == XP_SENT;
	is_int(sent, 25, "all 25 sent");
	memset(&cw, 0, sizeof(cw));
	cw.m = &m;
	cw.open = 1;
	ok(run_until(conns_done, &cw, WAIT_DEADLINE) && cw.got_accepted >= 2,
	    "the burst opened %lu connections; idle, all but one closed",
	    cw.got_accepted);
	grown = cw.got_accepted;
	/* A negative check: the last one must outlive several periods. */
	run_for(2.5);
	ok(mock_conns(&m, &cw.got_accepted, &cw.got_open) &&
	    cw.got_open == 1, "the last connection stays open (%lu open)",
	    cw.got_open);
	push_init(&p, TOKEN_OK);
	is_int(send_one(prov, inst, &p, &b, WAIT_DEADLINE), XP_SENT,
	    "a push after the quiet spell is sent (%s)", b.reason);
	ok(mock_conns(&m, &cw.got_accepted, &cw.got_open) &&
	    cw.got_accepted == grown, "on the connection kept: no new "
	    "handshake (%lu accepted)", cw.got_accepted);
	prov->destroy(inst);
	mock_stop(&m);
	ph_free(&ph);
}

/* Every answer held: within request-timeout it arrives, beyond it not. */
static void
test_delay(void)
{
	const char *fast[] = { "--delay-ms", "300", NULL };
	const char *slow[] = { "--delay-ms", "6000", NULL };
	struct ph *ph = harness("apns.so");
	const struct xp_provider *prov = ph_provider(ph);
	struct received_want rw;
	struct timespec t0, t1;
	struct answer a;
	struct xp_push p;
	struct mock m;
	void *inst;
	double dt;

	if (mock_start(&m, 0, fast) == -1)
		exit(1);
	set_endpoint(ph, &m);
	ph_set(ph, "cert-file", fxp("client-combined.pem"));
	ph_set(ph, "request-timeout", "30");
	if ((inst = create_ok(ph, "delayed answers")) == NULL)
		return;
	push_init(&p, TOKEN_OK);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	is_int(send_one(prov, inst, &p, &a, WAIT_DEADLINE), XP_SENT,
	    "an answer held 300 ms, within request-timeout: sent (%s)",
	    a.reason);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	dt = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	ok(dt >= 0.3, "it took at least the 300 ms (%.3f s)", dt);
	prov->destroy(inst);
	mock_stop(&m);

	if (mock_start(&m, 0, slow) == -1)
		exit(1);
	set_endpoint(ph, &m);
	ph_set(ph, "request-timeout", "2");
	if ((inst = create_ok(ph, "answers beyond request-timeout")) == NULL)
		return;
	memset(&a, 0, sizeof(a));
	answers_pending++;
	prov->send(inst, &p, sent_cb, &a);
	rw.m = &m;
	rw.n = 1;
	ok(run_until(received_done, &rw, WAIT_DEADLINE),
	    "the push reached the mock");
	run_until_answered(WAIT_DEADLINE);
	ok(a.calls == 1 && a.outcome == XP_TEMPORARY &&
	    strstr(a.reason, "waiting for the response") != NULL,
	    "an answer held 6 s, beyond request-timeout 2 s: XP_TEMPORARY "
	    "(%s)", a.reason);
	prov->destroy(inst);
	mock_stop(&m);
	ph_free(&ph);
}

int
main(void)
{
	char tmpl[] = "/tmp/apns_test.XXXXXX";
	const char *only = getenv("APNS_TEST_ONLY");

	signal(SIGPIPE, SIG_IGN);
	if ((fx = getenv("APNS_FIXTURES")) == NULL) {
		printf("1..0 # SKIP APNS_FIXTURES not set (run apns_test.sh)\n");
		return 0;
	}
	if ((bdir = getenv("top_builddir")) == NULL)
		bdir = ".";
	if (mkdtemp(tmpl) == NULL)
		return 1;
	snprintf(tmpdir, sizeof(tmpdir), "%s", tmpl);
	base = event_base_new();

#define RUN(name, call) \
	if (only == NULL || strstr(only, name) != NULL) { \
		diag("== %s", name); call; }
	RUN("contract", test_contract());
	RUN("cert", test_cert_auth());
	RUN("reasons", test_reasons());
	RUN("table", test_reason_table());
	RUN("calls", test_call_lifetime());
	RUN("lifetime", test_token_lifetime_range());
	RUN("ondemand", test_ondemand_reconnect());
	RUN("advertised", test_advertised_payload());
	RUN("trim", test_trim_and_voip());
	RUN("goaway", test_goaway(1, 1000));
	RUN("goaway", test_goaway(3, 1000));
	RUN("loss", test_connection_loss());
	RUN("noh2", test_no_h2());
	RUN("token", test_token_auth());
	RUN("fpush", test_fpush_profile());
	RUN("db", test_db_cert());
	RUN("queue", test_queue_and_destroy());
	RUN("growth", test_pool_growth());
	RUN("idle", test_pool_idle());
	RUN("delay", test_delay());
	RUN("throughput", test_throughput(20000));

	event_base_free(base);
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			diag("cannot remove %s", tmpdir);
	}
	return tap_done();
}
