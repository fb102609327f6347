/*
 * loadgen: the benchmark's XMPP server.  It listens for xpushd's XEP-0114
 * component connection, checks the handshake (lowercase hex SHA-1 of the
 * stream id and the secret), then sends XEP-0357 publishes shaped like
 * test/fixtures/prosody/offline-chat-body.xml to pre-registered devices and
 * times each one from send to its IQ result or error (matched by id).
 *
 *	loadgen --port N --secret S --devices N [--base B] [--first I]
 *	    (--count N | --duration S) [--window N | --rate N]
 *	    [--xpushd-pid PID] [--mock-pid PID --mock-count-file F |
 *	    --mock-count-cmd CMD] [--rss-every S] [--settle S] [--label NAME]
 *	    [--mix real [--seed S]]
 *	loadgen --emit-devices N [--base B] [--provider ID] [--domain D]
 *	    [--mix real [--fcm-provider ID] [--seed S]]
 *	loadgen --connect --port N --secret S --from C [run options as above]
 *	loadgen --connect --null --port N --secret S --jid J
 *
 * --connect plays the other side of XEP-0114, for runs through a real
 * XMPP server (scripts/bench.sh --prosody): loadgen connects to the
 * server's component port as the component C (--from, default
 * localhost), authenticates with the handshake, and sends its publishes
 * from C to --jid through the server.  With --null it is the null
 * component: it connects as --jid and answers every IQ get or set at once
 * with an empty result, until SIGTERM or SIGINT: the ceiling a component
 * can reach through that server.
 *
 * Publish i goes to device base + (first + i) mod devices: a run of up to
 * `devices` publishes touches each device once.  --emit-devices writes
 * devices base to base + N - 1.  Device k has a node, a
 * secret and a hex token derived from k alone, so --emit-devices (rows
 * for PostgreSQL's COPY: owner, provider, token, node, secret, tab
 * separated) and a later run agree without sharing a file.  --mix real
 * emits issue 21's real-sized registrations instead (see device_real):
 * owner, provider (--provider for APNs devices, --fcm-provider for FCM
 * ones), token, VoIP token (\N for none), node, secret; the node and the
 * secret are the synthetic ones, so the publishes are the same.
 *
 * With --window N at most N publishes are outstanding (full speed); with
 * --rate R publishes go out at R per second from a 1 ms tick.  Latency is
 * measured from the moment a publish was handed to the socket; in rate
 * mode send_lag_ms says how late that was against the schedule, so a
 * generator that falls behind is visible rather than hidden.  Answers are read with a small
 * quote-aware tag scanner (xpushd writes no comments or CDATA), not a
 * full XML parser, to leave the CPU to xpushd.
 *
 * Output: one JSON line on stdout when the run ends (all answered, or
 * --drain-timeout seconds after the last send).  With --settle S xpushd's
 * RSS is read again S seconds later, with no traffic (rss_settled_kb):
 * the memory it holds at rest, once the publishes of the run are gone.  The exit status is 0
 * when every publish got exactly one answer.
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/evp.h>

#define STREAM_ID	"loadgen-stream-1"
#define MAX_ERRKINDS	32
#define RATE_TICK_US	1000
#define MAX_TAG		8192
#define RATE_BACKLOG	200000	/* outstanding cap in rate mode */

enum lg_state {
	LG_WAIT_CONN,
	LG_WAIT_HEADER,
	LG_WAIT_SUCCESS,	/* --connect: our handshake sent */
	LG_WAIT_HANDSHAKE,
	LG_READY,
	LG_CLOSING,
};

struct errkind {
	char		 name[96];
	uint64_t	 n;
};

static struct {
	/* Options. */
	const char	*addr;
	int		 port;
	const char	*port_file;
	const char	*secret;
	const char	*jid;
	const char	*from;
	const char	*label;
	uint64_t	 devices, dbase, first, count;
	double		 duration;
	unsigned long	 window;
	double		 rate;
	long		 xpushd_pid, mock_pid;
	const char	*mock_count_file;
	const char	*mock_count_cmd;
	double		 rss_every;
	double		 settle;		/* seconds before rss_settled_kb */
	double		 drain_timeout;
	double		 connect_timeout;
	bool		 connect;	/* we are the component */
	bool		 null;		/* the null component */
	bool		 real;		/* --mix real */
	uint64_t	 seed;		/* --mix real: its --seed */
	uint64_t	 null_answered;
	char		 cur_from[1024];

	struct event_base *base;
	struct evconnlistener *lis;
	struct bufferevent *bev;
	enum lg_state	 state;
	struct event	*tick, *drain, *rss_ev, *guard;

	char		*in;
	size_t		 inlen, incap;
	int		 depth;
	bool		 in_iq, in_error, is_stanza_iq;
	char		 cur_id[128], cur_type[16], err_type[16], cond[64];

	/* Per publish: due or send time (ns), answered flag. */
	uint64_t	*t0;
	uint8_t		*answered;
	uint32_t	*lat_us;
	uint32_t	*lag_us;	/* rate mode: sent after due */
	uint64_t	 cap;
	uint64_t	 nsent, nanswered, nok, dups, unknown;
	uint64_t	 start_ns, last_send_ns, last_answer_ns;
	bool		 sending_done;
	struct errkind	 errs[MAX_ERRKINDS];
	int		 nerrs;
	uint64_t	 other_errs;

	double		 x_cpu0, mock_cpu0;
	unsigned long long mock_count0;
	bool		 mock_count_ok;
	long		*rss;
	size_t		 nrss, rsscap;
	bool		 timed_out;
	bool		 failed;
	char		 fail_msg[256];
} lg;

static void	send_more(void);
static void	finish(void);

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: loadgen --port N --secret S --devices N "
	    "[--base B] [--first I] (--count N | --duration S)\n"
	    "\t[--window N | --rate N] [--listen ADDR] [--port-file F] "
	    "[--jid J] [--from D]\n"
	    "\t[--xpushd-pid PID] [--mock-pid PID --mock-count-file F | "
	    "--mock-count-cmd CMD]\n"
	    "\t[--rss-every S] [--settle S] [--drain-timeout S] [--connect-timeout S] "
	    "[--label NAME]\n"
	    "\t[--mix real [--seed S]]\n"
	    "       loadgen --emit-devices N [--base B] [--provider ID] "
	    "[--domain D]\n"
	    "\t[--mix real [--fcm-provider ID] [--seed S]]\n"
	    "       loadgen --connect [--null] ... (see the header)\n");
	exit(2);
}

static void *
xrealloc(void *p, size_t n, size_t size)
{
	if (size != 0 && n > SIZE_MAX / size) {
		fprintf(stderr, "loadgen: overflow\n");
		exit(1);
	}
	if ((p = realloc(p, n * size)) == NULL) {
		perror("loadgen");
		exit(1);
	}
	return p;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Devices: everything derives from the index (splitmix64). */

static uint64_t
mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static void
hex_words(char *out, uint64_t k, int first_word, int nwords)
{
	int i;

	for (i = 0; i < nwords; i++)
		snprintf(out + 16 * i, 17, "%016" PRIx64,
		    mix(k * 16 + (uint64_t)(first_word + i)));
}

/* node: 32 hex, secret: 32 hex, token: 64 hex starting with "ab". */
static void
device_node(uint64_t k, char out[33])
{
	hex_words(out, k, 0, 2);
}

static void
device_secret(uint64_t k, char out[33])
{
	hex_words(out, k, 2, 2);
}

static void
device_token(uint64_t k, char out[65])
{
	/* "ab" matches no error prefix of the mocks or of testprov. */
	hex_words(out, k, 4, 4);
	out[0] = 'a';
	out[1] = 'b';
}

/*
 * --mix real: issue 21's registrations.  Device k's node and secret are
 * those of the synthetic mix (a run with --mix real differs only in
 * sending from the owner's domain); its owner and tokens come from a
 * stream of splitmix64 words seeded by k and --seed.  Half the devices are FCM, half APNs: the split of the
 * XMPP clients that push (Conversations and its forks on Android; Monal
 * and Siskin on iOS) is not published, and half of each puts the costly
 * FCM tokens at a realistic share rather than a best case.
 */
#define REAL_LOCAL_MIN	8	/* bytes of a local part */
#define REAL_LOCAL_SPAN	23	/* ... up to 30 */
#define REAL_DOMAINS	3000	/* servers the owners are on */
#define REAL_FCM_MIN	140	/* characters of an FCM token */
#define REAL_FCM_SPAN	26	/* ... up to 165 */
#define REAL_FCM_ID_MIN	11	/* characters before its ':' */
#define REAL_FCM_ID_SPAN 12	/* ... up to 22 */
#define REAL_VOIP_ONE_IN 3	/* APNs devices with a VoIP token */

struct real_dev {
	char	 owner[64];
	char	 token[REAL_FCM_MIN + REAL_FCM_SPAN];
	char	 voip[65];	/* "": none */
	bool	 fcm;
};

struct rstream {
	uint64_t	 state;
};

static uint64_t
rs_next(struct rstream *r)
{
	return mix(r->state++);
}

static void
rs_chars(struct rstream *r, char *out, size_t n, const char *set)
{
	size_t i, k = strlen(set);

	for (i = 0; i < n; i++)
		out[i] = set[rs_next(r) % k];
	out[n] = '\0';
}

static void
device_real(uint64_t k, uint64_t seed, struct real_dev *d)
{
	static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_";
	struct rstream r = { mix(k * 16 + 8) ^ mix(seed) };
	size_t llen, tlen, id;

	llen = REAL_LOCAL_MIN + rs_next(&r) % REAL_LOCAL_SPAN;
	rs_chars(&r, d->owner, llen, "abcdefghijklmnopqrstuvwxyz0123456789._");
	snprintf(d->owner + llen, sizeof(d->owner) - llen,
	    "@xmpp%" PRIu64 ".example.net", rs_next(&r) % REAL_DOMAINS);
	d->voip[0] = '\0';
	if ((d->fcm = rs_next(&r) % 2 == 0)) {
		tlen = REAL_FCM_MIN + rs_next(&r) % REAL_FCM_SPAN;
		id = REAL_FCM_ID_MIN + rs_next(&r) % REAL_FCM_ID_SPAN;
		rs_chars(&r, d->token, tlen, b64url);
		/*
		 * A lowercase letter, then not one: the FCM mock's error
		 * prefixes ("slow", "invalid", ...) are lowercase words.
		 */
		d->token[0] = b64url[26 + rs_next(&r) % 26];
		d->token[1] = b64url[rs_next(&r) % 26];
		memcpy(d->token + id, ":APA91b", 7);
		return;
	}
	device_token(k, d->token);
	if (rs_next(&r) % REAL_VOIP_ONE_IN == 0)
		rs_chars(&r, d->voip, 64, "0123456789abcdef");
}

static int
emit_devices(uint64_t base, uint64_t n, const char *provider,
    const char *domain)
{
	char node[33], secret[33], token[65];
	uint64_t k;

	for (k = base; k < base + n; k++) {
		device_node(k, node);
		device_secret(k, secret);
		device_token(k, token);
		if (printf("u%" PRIu64 "@%s\t%s\t%s\t%s\t%s\n", k, domain,
		    provider, token, node, secret) < 0)
			return 1;
	}
	return fflush(stdout) == 0 ? 0 : 1;
}

/* Rows for COPY devices (owner, provider, token, voip_token, node, secret). */
static int
emit_real(uint64_t base, uint64_t n, uint64_t seed, const char *apns,
    const char *fcm)
{
	char node[33], secret[33];
	struct real_dev d;
	uint64_t k;

	for (k = base; k < base + n; k++) {
		device_node(k, node);
		device_secret(k, secret);
		device_real(k, seed, &d);
		if (printf("%s\t%s\t%s\t%s\t%s\t%s\n", d.owner,
		    d.fcm ? fcm : apns, d.token, d.voip[0] != '\0' ? d.voip :
		    "\\N", node, secret) < 0)
			return 1;
	}
	return fflush(stdout) == 0 ? 0 : 1;
}

/* /proc readings */

static bool
proc_status_kb(long pid, const char *key, long *kb_r)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	if ((f = fopen(path, "r")) == NULL)
		return false;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			*kb_r = strtol(line + klen + 1, NULL, 10);
			found = true;
			break;
		}
	fclose(f);
	return found;
}

/* utime + stime in seconds, or -1. */
static double
proc_cpu_s(long pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	size_t n;
	FILE *f;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold spaces: fields count from its ')'. */
	if ((p = strrchr(buf, ')')) == NULL)
		return -1;
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu "
	    "%lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* The mock's request count: SIGUSR1, then a new line in the count file. */

static bool
read_count_file(const char *path, unsigned long long *seq_r,
    unsigned long long *n_r)
{
	FILE *f;
	int got;

	if ((f = fopen(path, "r")) == NULL)
		return false;
	got = fscanf(f, "%llu %llu", seq_r, n_r);
	fclose(f);
	return got == 2;
}

static bool
mock_count(unsigned long long *n_r)
{
	unsigned long long seq0 = 0, seq, n;
	char buf[256];
	FILE *p;
	int i;

	if (lg.mock_count_cmd != NULL) {
		if ((p = popen(lg.mock_count_cmd, "r")) == NULL)
			return false;
		buf[0] = '\0';
		if (fgets(buf, sizeof(buf), p) == NULL)
			buf[0] = '\0';
		if (pclose(p) != 0 || buf[0] < '0' || buf[0] > '9')
			return false;
		*n_r = strtoull(buf, NULL, 10);
		return true;
	}
	if (lg.mock_pid <= 0 || lg.mock_count_file == NULL)
		return false;
	if (!read_count_file(lg.mock_count_file, &seq0, &n))
		seq0 = 0;
	if (kill((pid_t)lg.mock_pid, SIGUSR1) == -1)
		return false;
	for (i = 0; i < 1500; i++) {
		if (read_count_file(lg.mock_count_file, &seq, &n) &&
		    seq != seq0) {
			*n_r = n;
			return true;
		}
		usleep(2000);
	}
	return false;
}

static void
rss_sample_cb(evutil_socket_t fd, short what, void *arg)
{
	long kb;

	if (lg.xpushd_pid <= 0 || !proc_status_kb(lg.xpushd_pid, "VmRSS",
	    &kb))
		return;
	if (lg.nrss == lg.rsscap) {
		lg.rsscap = lg.rsscap ? lg.rsscap * 2 : 64;
		lg.rss = xrealloc(lg.rss, lg.rsscap, sizeof(*lg.rss));
	}
	lg.rss[lg.nrss++] = kb;
}

/* Per-publish bookkeeping */

static void
ensure_cap(uint64_t n)
{
	uint64_t cap = lg.cap ? lg.cap : 4096;

	if (n <= lg.cap)
		return;
	while (cap < n)
		cap *= 2;
	lg.t0 = xrealloc(lg.t0, cap, sizeof(*lg.t0));
	lg.answered = xrealloc(lg.answered, cap, sizeof(*lg.answered));
	lg.lat_us = xrealloc(lg.lat_us, cap, sizeof(*lg.lat_us));
	lg.lag_us = xrealloc(lg.lag_us, cap, sizeof(*lg.lag_us));
	memset(lg.answered + lg.cap, 0, cap - lg.cap);
	lg.cap = cap;
}

static void
lg_write(const char *s, size_t len)
{
	if (lg.bev != NULL)
		bufferevent_write(lg.bev, s, len);
}

static void
send_publish(uint64_t due)
{
	char buf[2048], node[33], secret[33];
	uint64_t k = lg.dbase + (lg.first + lg.nsent) % lg.devices;
	const char *from = lg.from;
	struct real_dev d;
	int len;

	ensure_cap(lg.nsent + 1);
	device_node(k, node);
	device_secret(k, secret);
	/* Only the owner's server may publish to its devices. */
	if (lg.real) {
		device_real(k, lg.seed, &d);
		from = strchr(d.owner, '@') + 1;
	}
	len = snprintf(buf, sizeof(buf),
	    "<iq from='%s' to='%s' id='b%" PRIx64 "' type='set'>"
	    "<pubsub xmlns='http://jabber.org/protocol/pubsub'>"
	    "<publish node='%s'><item>"
	    "<notification xmlns='urn:xmpp:push:0'>"
	    "<x xmlns='jabber:x:data' type='form'>"
	    "<field type='hidden' var='FORM_TYPE'>"
	    "<value>urn:xmpp:push:summary</value></field>"
	    "<field type='text-single' var='message-count'>"
	    "<value>1</value></field>"
	    "<field type='text-single' var='pending-subscription-count'/>"
	    "<field type='jid-single' var='last-message-sender'/>"
	    "<field type='text-single' var='last-message-body'>"
	    "<value>New Message!</value></field>"
	    "</x></notification></item></publish>"
	    "<publish-options><x type='submit' xmlns='jabber:x:data'>"
	    "<field type='hidden' var='FORM_TYPE'><value>"
	    "http://jabber.org/protocol/pubsub#publish-options</value>"
	    "</field><field var='secret'><value>%s</value></field>"
	    "</x></publish-options></pubsub></iq>",
	    from, lg.jid, lg.nsent, node, secret);
	lg.last_send_ns = now_ns();
	lg.t0[lg.nsent] = lg.last_send_ns;
	lg.lag_us[lg.nsent] = (uint32_t)((lg.last_send_ns - due) / 1000);
	lg.nsent++;
	lg_write(buf, (size_t)len);
}

static bool
more_to_send(uint64_t now)
{
	if (lg.count > 0)
		return lg.nsent < lg.count;
	return (double)(now - lg.start_ns) / 1e9 < lg.duration;
}

static void
sending_finished(void)
{
	struct timeval tv;

	if (lg.sending_done)
		return;
	lg.sending_done = true;
	if (lg.tick != NULL)
		evtimer_del(lg.tick);
	if (lg.nanswered >= lg.nsent) {
		finish();
		return;
	}
	tv.tv_sec = (time_t)lg.drain_timeout;
	tv.tv_usec = (suseconds_t)((lg.drain_timeout - (double)tv.tv_sec) *
	    1e6);
	evtimer_add(lg.drain, &tv);
}

/* Window mode: top the window up. */
static void
send_more(void)
{
	uint64_t now = now_ns();

	if (lg.state != LG_READY || lg.sending_done || lg.rate > 0)
		return;
	while (lg.nsent - lg.nanswered < lg.window) {
		if (!more_to_send(now)) {
			sending_finished();
			return;
		}
		send_publish(now);
	}
}

/* Rate mode: send what is due by now. */
static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	uint64_t now = now_ns(), due, ival = (uint64_t)(1e9 / lg.rate);

	for (;;) {
		due = lg.start_ns + lg.nsent * ival;
		if (due > now)
			break;
		if (!more_to_send(due)) {
			sending_finished();
			return;
		}
		if (lg.nsent - lg.nanswered >= RATE_BACKLOG)
			break;
		send_publish(due);
	}
}

static void
start_sending(void)
{
	struct timeval tv = { 0, RATE_TICK_US };

	lg.x_cpu0 = proc_cpu_s(lg.xpushd_pid);
	lg.mock_cpu0 = proc_cpu_s(lg.mock_pid);
	lg.mock_count_ok = mock_count(&lg.mock_count0);
	if (lg.rss_every > 0) {
		struct timeval rv;

		rv.tv_sec = (time_t)lg.rss_every;
		rv.tv_usec = (suseconds_t)((lg.rss_every -
		    (double)rv.tv_sec) * 1e6);
		lg.rss_ev = event_new(lg.base, -1, EV_PERSIST, rss_sample_cb,
		    NULL);
		event_add(lg.rss_ev, &rv);
	}
	lg.start_ns = now_ns();
	if (lg.rate > 0) {
		lg.tick = event_new(lg.base, -1, EV_PERSIST, tick_cb, NULL);
		event_add(lg.tick, &tv);
		tick_cb(-1, 0, NULL);
	} else
		send_more();
}

/* Answers */

static void
count_error(const char *type, const char *cond)
{
	char name[96];
	int i;

	snprintf(name, sizeof(name), "%s/%s", *type ? type : "?",
	    *cond ? cond : "?");
	for (i = 0; i < lg.nerrs; i++)
		if (strcmp(lg.errs[i].name, name) == 0) {
			lg.errs[i].n++;
			return;
		}
	if (lg.nerrs == MAX_ERRKINDS) {
		lg.other_errs++;
		return;
	}
	snprintf(lg.errs[lg.nerrs].name, sizeof(lg.errs[0].name), "%s",
	    name);
	lg.errs[lg.nerrs++].n = 1;
}

static void
answer(const char *id, const char *type)
{
	uint64_t seq, now;
	char *end;

	if (id[0] != 'b' || id[1] == '\0') {
		lg.unknown++;
		return;
	}
	errno = 0;
	seq = strtoull(id + 1, &end, 16);
	if (errno != 0 || *end != '\0' || seq >= lg.nsent) {
		lg.unknown++;
		return;
	}
	if (lg.answered[seq]) {
		lg.dups++;
		return;
	}
	now = now_ns();
	lg.answered[seq] = 1;
	lg.lat_us[lg.nanswered] = (uint32_t)((now - lg.t0[seq]) / 1000);
	lg.nanswered++;
	lg.last_answer_ns = now;
	if (strcmp(type, "result") == 0)
		lg.nok++;
	else
		count_error(lg.err_type, lg.cond);
	if (lg.sending_done && lg.nanswered >= lg.nsent)
		finish();
	else
		send_more();
}

/* Copies attribute name of the tag [p, e) into out; false if absent. */
static bool
tag_attr(const char *p, const char *e, const char *name, char *out,
    size_t outsz)
{
	size_t nlen = strlen(name), n;
	const char *v, *q;
	char quote;

	for (; p + nlen + 2 < e; p++) {
		if ((p[0] != ' ' && p[0] != '\t' && p[0] != '\n' &&
		    p[0] != '\r') || memcmp(p + 1, name, nlen) != 0)
			continue;
		v = p + 1 + nlen;
		while (v < e && (*v == ' ' || *v == '\t' || *v == '\n'))
			v++;
		if (v >= e || *v != '=')
			continue;
		v++;
		while (v < e && (*v == ' ' || *v == '\t' || *v == '\n'))
			v++;
		if (v >= e || (*v != '\'' && *v != '"'))
			continue;
		quote = *v++;
		if ((q = memchr(v, quote, (size_t)(e - v))) == NULL)
			return false;
		n = (size_t)(q - v);
		if (n >= outsz)
			n = outsz - 1;
		memcpy(out, v, n);
		out[n] = '\0';
		return true;
	}
	return false;
}

/* The element name of a start tag "<name ...", without any prefix. */
static void
tag_name(const char *p, const char *e, char *out, size_t outsz)
{
	const char *s = p + 1, *q = s;
	size_t n;

	while (q < e && *q != ' ' && *q != '>' && *q != '/' && *q != '\t' &&
	    *q != '\n' && *q != '\r')
		q++;
	n = (size_t)(q - s);
	if (n >= outsz)
		n = outsz - 1;
	memcpy(out, s, n);
	out[n] = '\0';
}

static void
fail(const char *msg)
{
	if (!lg.failed) {
		lg.failed = true;
		snprintf(lg.fail_msg, sizeof(lg.fail_msg), "%s", msg);
	}
	finish();
}

/* XEP-0114 section 3: lower-case hex SHA-1 of stream id + secret. */
static bool
handshake_digest(const char *id, char want[41])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	static const char hex[] = "0123456789abcdef";
	unsigned int mdlen = 0, i;
	EVP_MD_CTX *ctx;

	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, id, strlen(id)) != 1 ||
	    EVP_DigestUpdate(ctx, lg.secret, strlen(lg.secret)) != 1 ||
	    EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 20) {
		EVP_MD_CTX_free(ctx);
		fail("SHA-1 unavailable");
		return false;
	}
	EVP_MD_CTX_free(ctx);
	for (i = 0; i < 20; i++) {
		want[2 * i] = hex[md[i] >> 4];
		want[2 * i + 1] = hex[md[i] & 0xf];
	}
	want[40] = '\0';
	return true;
}

static void
handshake_check(const char *text, size_t len)
{
	char want[41];

	if (!handshake_digest(STREAM_ID, want))
		return;
	if (len != 40 || memcmp(text, want, 40) != 0) {
		lg_write("<stream:error><not-authorized xmlns='urn:ietf:"
		    "params:xml:ns:xmpp-streams'/></stream:error>"
		    "</stream:stream>", 97);
		fail("bad handshake from xpushd");
		return;
	}
	lg_write("<handshake/>", 12);
	lg.state = LG_READY;
	lg.depth = 1;
	start_sending();
}

/* A complete top-level stanza that is not an answer we wait for. */
static void
stanza_end(void)
{
	char buf[512];
	int len;

	if (!lg.is_stanza_iq)
		return;
	if (lg.null) {
		if (strcmp(lg.cur_type, "get") != 0 &&
		    strcmp(lg.cur_type, "set") != 0)
			return;
		len = snprintf(buf, sizeof(buf), "<iq type='result' id='%s' "
		    "from='%s' to='%s'/>", lg.cur_id, lg.jid, lg.cur_from);
		if (len > 0 && (size_t)len < sizeof(buf))
			lg_write(buf, (size_t)len);
		lg.null_answered++;
		return;
	}
	if (strcmp(lg.cur_type, "result") == 0 ||
	    strcmp(lg.cur_type, "error") == 0) {
		answer(lg.cur_id, lg.cur_type);
		return;
	}
	/* A ping or any other request from xpushd: an empty result. */
	if (strcmp(lg.cur_type, "get") == 0 || strcmp(lg.cur_type, "set") ==
	    0) {
		len = snprintf(buf, sizeof(buf), "<iq type='result' id='%s' "
		    "from='%s' to='%s'/>", lg.cur_id, lg.from, lg.jid);
		if (len > 0 && (size_t)len < sizeof(buf))
			lg_write(buf, (size_t)len);
	}
}

/* One complete tag [p, e], e at its '>'. */
static void
on_tag(const char *p, const char *e)
{
	char name[64];
	bool selfclose = e[-1] == '/';

	if (p[1] == '?' || p[1] == '!')
		return;
	if (p[1] == '/') {
		lg.depth--;
		if (lg.depth == 0) {
			fail("xpushd closed the stream");
			return;
		}
		if (lg.depth == 2 && lg.in_error)
			lg.in_error = false;
		if (lg.depth == 1)
			stanza_end();
		return;
	}
	tag_name(p, e, name, sizeof(name));
	if (lg.depth == 1) {
		lg.is_stanza_iq = strcmp(name, "iq") == 0;
		lg.cur_id[0] = lg.cur_type[0] = '\0';
		lg.err_type[0] = lg.cond[0] = '\0';
		lg.in_error = false;
		if (lg.is_stanza_iq) {
			tag_attr(p, e, "id", lg.cur_id, sizeof(lg.cur_id));
			tag_attr(p, e, "type", lg.cur_type,
			    sizeof(lg.cur_type));
			if (!tag_attr(p, e, "from", lg.cur_from,
			    sizeof(lg.cur_from)))
				lg.cur_from[0] = '\0';
		} else if (strcmp(name, "stream:error") == 0)
			fail("xpushd sent a stream error");
		if (selfclose)
			stanza_end();
		else
			lg.depth++;
		return;
	}
	if (lg.depth == 2 && lg.is_stanza_iq && strcmp(name, "error") == 0) {
		lg.in_error = true;
		tag_attr(p, e, "type", lg.err_type, sizeof(lg.err_type));
	} else if (lg.depth == 3 && lg.in_error && lg.cond[0] == '\0' &&
	    strcmp(name, "text") != 0)
		snprintf(lg.cond, sizeof(lg.cond), "%s", name);
	if (!selfclose)
		lg.depth++;
}

/* The '>' ending the tag that starts at p, outside quotes; NULL if none. */
static const char *
tag_end(const char *p, const char *e)
{
	char quote = 0;

	for (p++; p < e; p++) {
		if (quote) {
			if (*p == quote)
				quote = 0;
		} else if (*p == '\'' || *p == '"')
			quote = *p;
		else if (*p == '>')
			return p;
	}
	return NULL;
}

/*
 * --connect: the server's stream header [p, t] (after an optional XML
 * declaration) carries the stream id; answer with the handshake.  Returns
 * true when the scan must stop (a failure).
 */
static bool
connect_header(const char *p, const char *t)
{
	char id[256], hs[64];

	if (p[1] == '?')
		return false;
	if (strncmp(p, "<stream:stream", 14) != 0 ||
	    !tag_attr(p, t, "id", id, sizeof(id))) {
		fail("the server sent no stream header with an id");
		return true;
	}
	if (!handshake_digest(id, hs))
		return true;
	lg_write("<handshake>", 11);
	lg_write(hs, 40);
	lg_write("</handshake>", 12);
	lg.state = LG_WAIT_SUCCESS;
	return false;
}

/* --connect: the server accepted the handshake. */
static void
connect_ready(void)
{
	lg.state = LG_READY;
	lg.depth = 1;
	evtimer_del(lg.guard);
	if (!lg.null)
		start_sending();
}

/* Scans lg.in; returns how many bytes were consumed. */
static size_t
scan(void)
{
	const char *b = lg.in, *p = lg.in, *e = lg.in + lg.inlen, *t, *h;
	char id[128];

	while (p < e && !lg.failed && lg.state != LG_CLOSING) {
		if ((p = memchr(p, '<', (size_t)(e - p))) == NULL)
			return lg.inlen;
		if ((t = tag_end(p, e)) == NULL) {
			if (e - p > MAX_TAG)
				fail("tag too long");
			break;
		}
		switch (lg.state) {
		case LG_WAIT_HEADER:
			if (lg.connect) {
				if (connect_header(p, t))
					return (size_t)(p - b);
				p = t + 1;
				continue;
			}
			if (p[1] == '?') {
				p = t + 1;
				continue;
			}
			if (strncmp(p, "<stream:stream", 14) != 0 ||
			    !tag_attr(p, t, "to", id, sizeof(id)) ||
			    strcmp(id, lg.jid) != 0) {
				fail("unexpected stream header");
				return (size_t)(p - b);
			}
			{
				char hdr[512];
				int len = snprintf(hdr, sizeof(hdr),
				    "<?xml version='1.0'?><stream:stream "
				    "xmlns='jabber:component:accept' "
				    "xmlns:stream='http://etherx.jabber.org/"
				    "streams' from='%s' id='" STREAM_ID "'>",
				    lg.jid);

				lg_write(hdr, (size_t)len);
			}
			lg.state = LG_WAIT_HANDSHAKE;
			p = t + 1;
			continue;
		case LG_WAIT_SUCCESS:
			if (strncmp(p, "<handshake", 10) != 0) {
				fail("the server refused our handshake");
				return (size_t)(p - b);
			}
			connect_ready();
			p = t + 1;
			if (t[-1] != '/') {
				h = memmem(p, (size_t)(e - p), "</handshake>",
				    12);
				if (h == NULL) {
					lg.depth = 2;	/* skip to its end */
					continue;
				}
				p = h + 12;
			}
			continue;
		case LG_WAIT_HANDSHAKE:
			if (strncmp(p, "<handshake>", 11) != 0) {
				fail("expected a handshake");
				return (size_t)(p - b);
			}
			h = memmem(t + 1, (size_t)(e - t - 1), "</handshake>",
			    12);
			if (h == NULL)
				return (size_t)(p - b);
			handshake_check(t + 1, (size_t)(h - t - 1));
			p = h + 12;
			continue;
		default:
			on_tag(p, t);
			p = t + 1;
		}
	}
	return (size_t)(p - b);
}

static void
read_cb(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t n, used;

	while ((n = evbuffer_get_length(in)) > 0) {
		if (lg.inlen + n > lg.incap) {
			lg.incap = (lg.inlen + n) * 2;
			lg.in = xrealloc(lg.in, lg.incap, 1);
		}
		evbuffer_remove(in, lg.in + lg.inlen, n);
		lg.inlen += n;
		used = scan();
		if (lg.state == LG_CLOSING)
			return;
		memmove(lg.in, lg.in + used, lg.inlen - used);
		lg.inlen -= used;
	}
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	char hdr[512];
	int len;

	if (what & BEV_EVENT_CONNECTED) {
		/* XEP-0114 section 3: the component opens the stream. */
		len = snprintf(hdr, sizeof(hdr), "<?xml version='1.0'?>"
		    "<stream:stream xmlns='jabber:component:accept' "
		    "xmlns:stream='http://etherx.jabber.org/streams' "
		    "to='%s'>", lg.null ? lg.jid : lg.from);
		lg_write(hdr, (size_t)len);
		lg.state = LG_WAIT_HEADER;
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		fail(lg.connect ? "the server closed the connection" :
		    "xpushd closed the connection");
}

static void
stop_cb(evutil_socket_t sig, short what, void *arg)
{
	event_base_loopbreak(lg.base);
}

static void
accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	int one = 1;

	if (lg.bev != NULL || lg.state != LG_WAIT_CONN) {
		evutil_closesocket(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	lg.bev = bufferevent_socket_new(lg.base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (lg.bev == NULL) {
		evutil_closesocket(fd);
		fail("bufferevent_socket_new");
		return;
	}
	bufferevent_setcb(lg.bev, read_cb, NULL, event_cb, NULL);
	bufferevent_enable(lg.bev, EV_READ | EV_WRITE);
	lg.state = LG_WAIT_HEADER;
	evtimer_del(lg.guard);
}

static void
guard_cb(evutil_socket_t fd, short what, void *arg)
{
	if (lg.state == LG_CLOSING)
		event_base_loopbreak(lg.base);
	else
		fail(lg.connect ? "the server did not accept us in time" :
		    "xpushd did not connect in time");
}

static void
drain_cb(evutil_socket_t fd, short what, void *arg)
{
	lg.timed_out = true;
	finish();
}

static void
closed_cb(struct bufferevent *bev, void *arg)
{
	event_base_loopbreak(lg.base);
}

/* Stops sending, closes our stream and leaves the loop once it is out. */
static void
finish(void)
{
	struct timeval tv = { 2, 0 };

	if (lg.state == LG_CLOSING)
		return;
	lg.state = LG_CLOSING;
	if (lg.tick != NULL)
		evtimer_del(lg.tick);
	evtimer_del(lg.drain);
	if (lg.rss_ev != NULL) {
		rss_sample_cb(-1, 0, NULL);
		event_del(lg.rss_ev);
	}
	if (lg.bev == NULL) {
		event_base_loopbreak(lg.base);
		return;
	}
	/* The write callback runs once this is out. */
	lg_write("</stream:stream>", 16);
	bufferevent_disable(lg.bev, EV_READ);
	bufferevent_setcb(lg.bev, NULL, closed_cb, NULL, NULL);
	/* At most two more seconds for the close to be written. */
	evtimer_add(lg.guard, &tv);
}

/* Results */

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Percentile p of the n sorted values v, in ms. */
static double
pct_ms(const uint32_t *v, uint64_t n, double p)
{
	uint64_t i;

	if (n == 0)
		return 0;
	i = (uint64_t)(p / 100.0 * (double)n);
	if (i >= n)
		i = n - 1;
	return v[i] / 1000.0;
}

static void
json_str(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", (unsigned char)*s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void
report(void)
{
	double el, xcpu, mcpu;
	unsigned long long mc = 0;
	struct rusage ru;
	long rss = -1, hwm = -1;
	bool mc_ok;
	size_t i;
	int k;

	el = lg.last_answer_ns > lg.start_ns ?
	    (double)(lg.last_answer_ns - lg.start_ns) / 1e9 : 0;
	if (lg.nanswered > 0)
		qsort(lg.lat_us, lg.nanswered, sizeof(*lg.lat_us), cmp_u32);
	if (lg.nsent > 0)
		qsort(lg.lag_us, lg.nsent, sizeof(*lg.lag_us), cmp_u32);
	mc_ok = lg.mock_count_ok && mock_count(&mc);
	xcpu = proc_cpu_s(lg.xpushd_pid);
	mcpu = proc_cpu_s(lg.mock_pid);
	if (lg.xpushd_pid > 0) {
		proc_status_kb(lg.xpushd_pid, "VmRSS", &rss);
		proc_status_kb(lg.xpushd_pid, "VmHWM", &hwm);
	}
	getrusage(RUSAGE_SELF, &ru);

	printf("{\"run\":");
	json_str(lg.label);
	printf(",\"mode\":\"%s\",\"window\":%lu,\"rate\":%.0f",
	    lg.rate > 0 ? "rate" : "window", lg.rate > 0 ? 0 : lg.window,
	    lg.rate);
	printf(",\"devices\":%" PRIu64 ",\"sent\":%" PRIu64 ",\"answered\":%"
	    PRIu64 ",\"ok\":%" PRIu64 ",\"unanswered\":%" PRIu64
	    ",\"duplicates\":%" PRIu64 ",\"unknown_ids\":%" PRIu64,
	    lg.devices, lg.nsent, lg.nanswered, lg.nok,
	    lg.nsent - lg.nanswered, lg.dups, lg.unknown);
	printf(",\"errors\":{");
	for (k = 0; k < lg.nerrs; k++) {
		if (k > 0)
			putchar(',');
		json_str(lg.errs[k].name);
		printf(":%" PRIu64, lg.errs[k].n);
	}
	if (lg.other_errs > 0)
		printf("%s\"other\":%" PRIu64, lg.nerrs ? "," : "",
		    lg.other_errs);
	printf("},\"elapsed_s\":%.3f,\"publishes_per_s\":%.0f", el,
	    el > 0 ? (double)lg.nanswered / el : 0.0);
	if (mc_ok)
		printf(",\"mock_pushes\":%llu,\"mock_pushes_per_s\":%.0f",
		    mc - lg.mock_count0, el > 0 ?
		    (double)(mc - lg.mock_count0) / el : 0.0);
	else
		printf(",\"mock_pushes\":null,\"mock_pushes_per_s\":null");
	printf(",\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,"
	    "\"p999\":%.3f,\"max\":%.3f}",
	    pct_ms(lg.lat_us, lg.nanswered, 50),
	    pct_ms(lg.lat_us, lg.nanswered, 90),
	    pct_ms(lg.lat_us, lg.nanswered, 99),
	    pct_ms(lg.lat_us, lg.nanswered, 99.9),
	    pct_ms(lg.lat_us, lg.nanswered, 100));
	if (lg.rate > 0)
		printf(",\"send_lag_ms\":{\"p50\":%.3f,\"p99\":%.3f,"
		    "\"max\":%.3f}", pct_ms(lg.lag_us, lg.nsent, 50),
		    pct_ms(lg.lag_us, lg.nsent, 99),
		    pct_ms(lg.lag_us, lg.nsent, 100));
	printf(",\"xpushd\":{\"pid\":%ld,\"rss_kb\":%ld,\"peak_rss_kb\":%ld",
	    lg.xpushd_pid, rss, hwm);
	if (lg.settle > 0 && lg.xpushd_pid > 0) {
		struct timespec ts;

		fflush(stdout);
		ts.tv_sec = (time_t)lg.settle;
		ts.tv_nsec = (long)((lg.settle - (double)ts.tv_sec) * 1e9);
		while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
			;
		if (proc_status_kb(lg.xpushd_pid, "VmRSS", &rss))
			printf(",\"rss_settled_kb\":%ld,\"settle_s\":%g", rss,
			    lg.settle);
	}
	if (xcpu >= 0 && lg.x_cpu0 >= 0)
		printf(",\"cpu_s\":%.2f,\"cpu_us_per_publish\":%.1f",
		    xcpu - lg.x_cpu0, lg.nanswered ? (xcpu - lg.x_cpu0) *
		    1e6 / (double)lg.nanswered : 0.0);
	else
		printf(",\"cpu_s\":null,\"cpu_us_per_publish\":null");
	printf("}");
	if (mcpu >= 0 && lg.mock_cpu0 >= 0)
		printf(",\"mock_cpu_s\":%.2f", mcpu - lg.mock_cpu0);
	printf(",\"loadgen_cpu_s\":%.2f", (double)ru.ru_utime.tv_sec +
	    (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	    (double)ru.ru_stime.tv_usec / 1e6);
	if (lg.rss_every > 0) {
		printf(",\"rss_every_s\":%g,\"rss_samples_kb\":[",
		    lg.rss_every);
		for (i = 0; i < lg.nrss; i++)
			printf("%s%ld", i ? "," : "", lg.rss[i]);
		printf("]");
		/* After the first fifth, counted as warm-up. */
		if (lg.nrss >= 2)
			printf(",\"rss_growth_kb\":%ld",
			    lg.rss[lg.nrss - 1] - lg.rss[lg.nrss / 5]);
	}
	printf(",\"timed_out\":%s", lg.timed_out ? "true" : "false");
	if (lg.failed) {
		printf(",\"failure\":");
		json_str(lg.fail_msg);
	}
	printf("}\n");
	fflush(stdout);
}

static void
free_run(void)
{
	if (lg.bev != NULL)
		bufferevent_free(lg.bev);
	if (lg.lis != NULL)
		evconnlistener_free(lg.lis);
	if (lg.tick != NULL)
		event_free(lg.tick);
	if (lg.rss_ev != NULL)
		event_free(lg.rss_ev);
	if (lg.drain != NULL)
		event_free(lg.drain);
	if (lg.guard != NULL)
		event_free(lg.guard);
	event_base_free(lg.base);
	free(lg.in);
	free(lg.t0);
	free(lg.answered);
	free(lg.lat_us);
	free(lg.lag_us);
	free(lg.rss);
}

/* --connect: we are a component of the server at sin. */
static int
connect_main(struct sockaddr_in *sin)
{
	struct event *sigterm, *sigint;
	struct timeval tv;
	int rc;

	lg.bev = bufferevent_socket_new(lg.base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (lg.bev == NULL) {
		fprintf(stderr, "loadgen: bufferevent_socket_new failed\n");
		return 1;
	}
	bufferevent_setcb(lg.bev, read_cb, NULL, event_cb, NULL);
	bufferevent_enable(lg.bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(lg.bev, (struct sockaddr *)sin,
	    sizeof(*sin)) != 0) {
		fprintf(stderr, "loadgen: cannot connect to %s:%d\n",
		    lg.addr, lg.port);
		return 1;
	}
	lg.state = LG_WAIT_CONN;
	lg.drain = evtimer_new(lg.base, drain_cb, NULL);
	lg.guard = evtimer_new(lg.base, guard_cb, NULL);
	tv.tv_sec = (time_t)lg.connect_timeout;
	tv.tv_usec = 0;
	evtimer_add(lg.guard, &tv);
	sigterm = evsignal_new(lg.base, SIGTERM, stop_cb, NULL);
	sigint = evsignal_new(lg.base, SIGINT, stop_cb, NULL);
	if (lg.null) {
		event_add(sigterm, NULL);
		event_add(sigint, NULL);
	}
	event_base_dispatch(lg.base);
	if (lg.null) {
		fprintf(stderr, "loadgen: null component answered %" PRIu64
		    " IQs%s%s\n", lg.null_answered, lg.failed ? ": " : "",
		    lg.failed ? lg.fail_msg : "");
		rc = lg.failed;
	} else {
		report();
		rc = lg.failed || lg.nanswered != lg.nsent || lg.dups > 0 ||
		    lg.unknown > 0 || lg.nsent == 0;
	}
	event_free(sigterm);
	event_free(sigint);
	free_run();
	return rc;
}

static double
num_arg(const char *s, double min)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || end == s || v < min)
		usage();
	return v;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "port", required_argument, NULL, 'p' },
		{ "port-file", required_argument, NULL, 'P' },
		{ "secret", required_argument, NULL, 's' },
		{ "jid", required_argument, NULL, 'j' },
		{ "from", required_argument, NULL, 'f' },
		{ "devices", required_argument, NULL, 'n' },
		{ "first", required_argument, NULL, 'F' },
		{ "base", required_argument, NULL, 'B' },
		{ "count", required_argument, NULL, 'c' },
		{ "duration", required_argument, NULL, 'd' },
		{ "window", required_argument, NULL, 'w' },
		{ "rate", required_argument, NULL, 'r' },
		{ "xpushd-pid", required_argument, NULL, 'x' },
		{ "mock-pid", required_argument, NULL, 'm' },
		{ "mock-count-file", required_argument, NULL, 'M' },
		{ "mock-count-cmd", required_argument, NULL, 'C' },
		{ "rss-every", required_argument, NULL, 'R' },
		{ "settle", required_argument, NULL, 'S' },
		{ "drain-timeout", required_argument, NULL, 'D' },
		{ "connect-timeout", required_argument, NULL, 'T' },
		{ "label", required_argument, NULL, 'L' },
		{ "emit-devices", required_argument, NULL, 'E' },
		{ "provider", required_argument, NULL, 'V' },
		{ "domain", required_argument, NULL, 'o' },
		{ "mix", required_argument, NULL, 'X' },
		{ "fcm-provider", required_argument, NULL, 'Y' },
		{ "seed", required_argument, NULL, 'Z' },
		{ "connect", no_argument, NULL, 'K' },
		{ "null", no_argument, NULL, 'N' },
		{ NULL, 0, NULL, 0 }
	};
	const char *provider = "bench", *domain = "localhost";
	const char *fcm_provider = NULL;
	struct event_config *ecfg;
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);
	struct timeval tv;
	uint64_t emit = 0;
	bool emit_mode = false;
	FILE *f;
	int ch, rc;

	lg.addr = "127.0.0.1";
	lg.jid = "push.localhost";
	lg.from = "localhost";
	lg.label = "bench";
	lg.seed = 21;
	lg.window = 1000;
	lg.drain_timeout = 30;
	lg.connect_timeout = 30;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'l': lg.addr = optarg; break;
		case 'p': lg.port = (int)num_arg(optarg, 0); break;
		case 'P': lg.port_file = optarg; break;
		case 's': lg.secret = optarg; break;
		case 'j': lg.jid = optarg; break;
		case 'f': lg.from = optarg; break;
		case 'n': lg.devices = (uint64_t)num_arg(optarg, 1); break;
		case 'F': lg.first = (uint64_t)num_arg(optarg, 0); break;
		case 'B': lg.dbase = (uint64_t)num_arg(optarg, 0); break;
		case 'c': lg.count = (uint64_t)num_arg(optarg, 1); break;
		case 'd': lg.duration = num_arg(optarg, 0.001); break;
		case 'w': lg.window = (unsigned long)num_arg(optarg, 1); break;
		case 'r': lg.rate = num_arg(optarg, 1); break;
		case 'x': lg.xpushd_pid = (long)num_arg(optarg, 1); break;
		case 'm': lg.mock_pid = (long)num_arg(optarg, 1); break;
		case 'M': lg.mock_count_file = optarg; break;
		case 'C': lg.mock_count_cmd = optarg; break;
		case 'R': lg.rss_every = num_arg(optarg, 0.01); break;
		case 'S': lg.settle = num_arg(optarg, 0); break;
		case 'D': lg.drain_timeout = num_arg(optarg, 0); break;
		case 'T': lg.connect_timeout = num_arg(optarg, 0); break;
		case 'L': lg.label = optarg; break;
		case 'E':
			emit = (uint64_t)num_arg(optarg, 1);
			emit_mode = true;
			break;
		case 'V': provider = optarg; break;
		case 'o': domain = optarg; break;
		case 'X':
			if (strcmp(optarg, "real") != 0 &&
			    strcmp(optarg, "synthetic") != 0)
				usage();
			lg.real = strcmp(optarg, "real") == 0;
			break;
		case 'Y': fcm_provider = optarg; break;
		case 'Z': lg.seed = (uint64_t)num_arg(optarg, 0); break;
		case 'K': lg.connect = true; break;
		case 'N': lg.null = true; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	if (emit_mode && lg.real)
		return emit_real(lg.dbase, emit, lg.seed, provider,
		    fcm_provider != NULL ? fcm_provider : provider);
	if (emit_mode)
		return emit_devices(lg.dbase, emit, provider, domain);
	if (lg.null && !lg.connect)
		usage();
	if (lg.secret == NULL || (!lg.null && (lg.devices == 0 ||
	    (lg.count == 0) == (lg.duration == 0))))
		usage();
	signal(SIGPIPE, SIG_IGN);

	/* The default coarse clock ticks every 4 ms: too coarse for --rate. */
	if ((ecfg = event_config_new()) == NULL ||
	    event_config_set_flag(ecfg, EVENT_BASE_FLAG_PRECISE_TIMER) != 0 ||
	    (lg.base = event_base_new_with_config(ecfg)) == NULL) {
		fprintf(stderr, "loadgen: cannot create an event base\n");
		return 1;
	}
	event_config_free(ecfg);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)lg.port);
	if (inet_pton(AF_INET, lg.addr, &sin.sin_addr) != 1)
		usage();
	if (lg.connect)
		return connect_main(&sin);
	lg.lis = evconnlistener_new_bind(lg.base, accept_cb, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 4,
	    (struct sockaddr *)&sin, sizeof(sin));
	if (lg.lis == NULL) {
		fprintf(stderr, "loadgen: cannot listen on %s:%d: %s\n",
		    lg.addr, lg.port, strerror(errno));
		return 1;
	}
	if (lg.port_file != NULL) {
		char tmp[4096];

		getsockname(evconnlistener_get_fd(lg.lis),
		    (struct sockaddr *)&sin, &slen);
		snprintf(tmp, sizeof(tmp), "%s.tmp", lg.port_file);
		if ((f = fopen(tmp, "w")) == NULL) {
			perror(tmp);
			return 1;
		}
		fprintf(f, "%d\n", ntohs(sin.sin_port));
		fclose(f);
		rename(tmp, lg.port_file);
	}
	lg.drain = evtimer_new(lg.base, drain_cb, NULL);
	lg.guard = evtimer_new(lg.base, guard_cb, NULL);
	tv.tv_sec = (time_t)lg.connect_timeout;
	tv.tv_usec = 0;
	evtimer_add(lg.guard, &tv);

	event_base_dispatch(lg.base);
	report();
	rc = lg.failed || lg.nanswered != lg.nsent || lg.dups > 0 ||
	    lg.unknown > 0 || lg.nsent == 0;

	free_run();
	return rc;
}
