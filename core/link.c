/*
 * The XEP-0114 component link.  One connection, driven by an explicit
 * state machine (enum link_state):
 *
 *   IDLE -> CONNECTING -> STREAM_OPENING -> HANDSHAKING -> READY
 *                 \______________\_______________\__________\__> BACKOFF
 *   READY -> CLOSING (stop)                             BACKOFF -> CONNECTING
 *
 * XEP-0114 §3: after the server's stream header we send
 * <handshake>hex(SHA-1(stream id + secret))</handshake> and wait for an
 * empty <handshake/>.  Any failure tears the connection down through
 * link_fail() and reconnects after an exponential backoff with jitter.
 *
 * Reading: the bytes go into the bufferevent's input buffer, the parser
 * takes them and queues what they complete (xml/stream.h), and
 * link_dispatch() hands each event on (stanzas to the router) once the
 * parser has returned, so nothing of the pipeline runs inside expat.
 *
 * Writing: what a loop turn queues goes out at the end of that turn
 * (link_flush_cb, activated by the first write of the turn), not when
 * the socket next reports writable: waiting for EPOLLOUT cost an
 * epoll_ctl to add the write event, a wake-up and an epoll_ctl to remove
 * it for every turn that answered something, which at a few publishes
 * per turn was a good part of the cost of each.  Over plain TCP the
 * flush is one direct writev and only what the socket refuses waits for
 * the write event; over TLS bufferevent_openssl owns the writes and has
 * no flush, so its write event is run at once (as plugins/h2/h2.c does).
 *
 * Liveness: every byte from the server counts.  After `keepalive` seconds
 * of silence we send an XEP-0199 ping to the server's domain and a single
 * space (whitespace keepalive); if nothing at all arrives within
 * `read-timeout` more seconds the peer is taken for dead.  A read only
 * notes the time; the idle timer, when it fires, works out how long the
 * silence really was and sleeps again for the rest (a timer re-armed at
 * every read cost a heap operation per loop turn).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/bufferevent_struct.h>	/* ev_write: link_flush_cb() */
#include <event2/dns.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/link.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "xml/stream.h"

#define LINK_BACKOFF_MIN	1	/* seconds */
#define LINK_JITTER_PERMILLE	250	/* jitter: up to a quarter of the wait */
#define LINK_CLOSE_GRACE	3	/* seconds to flush our stream close */
#define LINK_PING_ID		"xpushd-keepalive"
/*
 * Bytes taken from the socket per read callback: under load more
 * publishes per loop turn means fewer, larger writes of answers and
 * HTTP/2 frames, and fewer wake-ups.
 */
#define LINK_READ_CHUNK		(64 * 1024)
/*
 * What libevent 2.1's evbuffer_read() takes at most per call
 * (EVBUFFER_MAX_READ in its buffer.c): it asks the socket how much is
 * there (FIONREAD) and reads that, up to this.  A read that got less
 * found the socket drained, so reading on would only return EAGAIN.
 */
#define LINK_EVBUFFER_READ_MAX	4096

struct link {
	struct event_base	*base;
	struct evdns_base	*dns;
	struct link_settings	 set;
	enum link_state		 state;
	link_stanza_fn		*stanza_fn;
	link_state_fn		*state_fn;
	void			*arg;

	struct bufferevent	*bev;
	SSL_CTX			*ssl_ctx;
	struct xml_stream	*parser;
	struct xml_buf		 out;

	struct event		*timer;		/* connect, backoff, close */
	struct event		*idle;		/* keepalive and read timeout */
	struct event		*flush;		/* the turn's write (plain TCP) */
	struct timespec		 last_read;	/* CLOCK_MONOTONIC */
	bool			 ping_sent;
	int			 backoff;	/* seconds, next wait */
	bool			 auth_failed;	/* retry at the cap */

	/*
	 * SIGHUP changed what the connection is made with: the running
	 * stream keeps the old settings until it is closed (link_restart()
	 * or a failure), the next connection is made with these.
	 */
	struct link_settings	 next;
	bool			 has_next;
	bool			 restarting;	/* closing to reconnect at once */

	bool			 flushing;	/* closing after a flush */
	bool			 parser_stale;	/* limits changed: new parser */
	char			 fail_msg[256];

	void			(*stop_done)(void *);
	void			*stop_arg;
};

static void	link_connect(struct link *);
static void	link_fail(struct link *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	link_arm_idle(struct link *);
static void	link_parser_new(struct link *);
static void	link_event_cb(struct bufferevent *, short, void *);
static void	link_write_cb(struct bufferevent *, void *);

const char *
link_state_name(enum link_state s)
{
	switch (s) {
	case LINK_IDLE:			return "idle";
	case LINK_CONNECTING:		return "connecting";
	case LINK_STREAM_OPENING:	return "stream-opening";
	case LINK_HANDSHAKING:		return "handshaking";
	case LINK_READY:		return "ready";
	case LINK_CLOSING:		return "closing";
	case LINK_BACKOFF:		return "backoff";
	}
	return "?";
}

static void
link_set_state(struct link *l, enum link_state s)
{
	if (l->state == s)
		return;
	log_debug("link: %s -> %s", link_state_name(l->state),
	    link_state_name(s));
	l->state = s;
	if (l->state_fn != NULL)
		l->state_fn(l->arg, s);
}

void
link_handshake_digest(const char *stream_id, const char *secret,
    char out[41])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	EVP_MD_CTX *ctx;

	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, stream_id, strlen(stream_id)) != 1 ||
	    EVP_DigestUpdate(ctx, secret, strlen(secret)) != 1 ||
	    EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 20)
		fatalx("link: SHA-1 is not available from OpenSSL");
	EVP_MD_CTX_free(ctx);
	for (i = 0; i < 20; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[40] = '\0';
}

void
link_settings_from_conf(struct link_settings *s, const struct xp_conf *conf)
{
	const char *ca = conf_str(conf, "xmpp", "ca-file");

	memset(s, 0, sizeof(*s));
	s->jid = xstrdup(conf_str(conf, "xmpp", "jid"));
	s->host = xstrdup(conf_str(conf, "xmpp", "host"));
	s->port = (int)conf_int(conf, "xmpp", "port");
	s->secret = xstrdup(conf_str(conf, "xmpp", "secret"));
	s->tls = conf_bool(conf, "xmpp", "tls");
	s->ca_file = ca != NULL && *ca != '\0' ? xstrdup(ca) : NULL;
	s->keepalive = (int)conf_int(conf, "xmpp", "keepalive");
	s->read_timeout = (int)conf_int(conf, "xmpp", "read-timeout");
	s->connect_timeout = (int)conf_int(conf, "xmpp", "connect-timeout");
	s->backoff_max = (int)conf_int(conf, "xmpp", "reconnect-max");
	s->send_queue_limit = (size_t)conf_int(conf, "xmpp",
	    "send-queue-limit");
	s->max_stanza = (size_t)conf_int(conf, "xmpp", "max-stanza-size");
	s->max_depth = (unsigned int)conf_int(conf, "xmpp", "max-depth");
}

void
link_settings_clear(struct link_settings *s)
{
	free(s->jid);
	free(s->host);
	free(s->secret);
	free(s->ca_file);
	memset(s, 0, sizeof(*s));
}

static void
link_settings_copy(struct link_settings *dst, const struct link_settings *src)
{
	*dst = *src;
	dst->jid = xstrdup(src->jid);
	dst->host = xstrdup(src->host);
	dst->secret = xstrdup(src->secret);
	dst->ca_file = src->ca_file ? xstrdup(src->ca_file) : NULL;
}

static void
link_timer_add(struct link *l, int seconds, int usec)
{
	struct timeval tv = { seconds, usec };

	evtimer_add(l->timer, &tv);
}

/* Drops the connection and everything bound to it; no state change. */
static void
link_close_connection(struct link *l)
{
	if (l->bev != NULL) {
		bufferevent_free(l->bev);
		l->bev = NULL;
	}
	event_del(l->flush);
	evtimer_del(l->timer);
	evtimer_del(l->idle);
	l->ping_sent = false;
	l->flushing = false;
	xml_stream_reset(l->parser);
}

/*
 * The wait before reconnect attempt: `wait_s` seconds plus a jitter of up
 * to a quarter that keeps a fleet from reconnecting at once, and never
 * more than `cap_s` seconds, jitter included: at the cap the jitter is
 * taken off instead of added.  rnd(n) is uniform in [0, n).
 */
long
link_backoff_ms(int wait_s, int cap_s, uint32_t (*rnd)(uint32_t))
{
	long wait, cap, jitter;

	if (cap_s < 1)
		cap_s = 1;
	if (wait_s < 1)
		wait_s = 1;
	if (wait_s > cap_s)
		wait_s = cap_s;
	wait = (long)wait_s * 1000;
	cap = (long)cap_s * 1000;
	jitter = (long)rnd((uint32_t)(wait * LINK_JITTER_PERMILLE / 1000 + 1));
	if (wait + jitter > cap)
		return cap - jitter;
	return wait + jitter;
}

static uint32_t
link_random(uint32_t n)
{
	return arc4random_uniform(n);
}

static void
link_schedule_reconnect(struct link *l)
{
	long ms;

	ms = link_backoff_ms(l->auth_failed ? l->set.backoff_max : l->backoff,
	    l->set.backoff_max, link_random);
	log_info("link: reconnecting to %s:%d in %ld.%03ld s", l->set.host,
	    l->set.port, ms / 1000, ms % 1000);
	link_set_state(l, LINK_BACKOFF);
	link_timer_add(l, (int)(ms / 1000), (int)(ms % 1000) * 1000);
	l->backoff = l->backoff * 2 > l->set.backoff_max ?
	    l->set.backoff_max : l->backoff * 2;
}

static void
link_fail(struct link *l, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warnx("link: %s:%d: %s", l->set.host, l->set.port, msg);
	link_close_connection(l);
	if (l->stop_done != NULL) {
		void (*done)(void *) = l->stop_done;

		l->stop_done = NULL;
		link_set_state(l, LINK_IDLE);
		done(l->stop_arg);
		return;
	}
	if (l->restarting) {
		/* A reload's close that did not finish cleanly: go on. */
		l->restarting = false;
		link_connect(l);
		return;
	}
	link_schedule_reconnect(l);
}

/* Plain TCP: writes are ours (see the top). */
static bool
link_direct(const struct link *l)
{
	return !l->set.tls;
}

static void
link_write(struct link *l, const char *s, size_t len)
{
	if (l->bev == NULL)
		return;
	bufferevent_write(l->bev, s, len);
	if (!event_pending(l->flush, EV_TIMEOUT, NULL))
		event_active(l->flush, EV_TIMEOUT, 0);
}

/*
 * Runs after the callbacks of the turn that queued output: one write for
 * all of it.  Over plain TCP, what the socket does not take, and any
 * error, is left to the bufferevent's write event, which writes the rest
 * (or reports the error to link_event_cb) and hands back to
 * link_write_cb; while that event is on (a backlog, a flush before
 * closing) libevent writes, in order, when the socket takes more.
 */
static void
link_flush_cb(evutil_socket_t fd, short events, void *arg)
{
	struct link *l = arg;
	struct evbuffer *out;

	if (l->bev == NULL)
		return;
	out = bufferevent_get_output(l->bev);
	if (evbuffer_get_length(out) == 0)
		return;
	if (!link_direct(l)) {
		event_active(&l->bev->ev_write, EV_WRITE, 1);
		return;
	}
	if (bufferevent_get_enabled(l->bev) & EV_WRITE)
		return;
	if (evbuffer_write(out, bufferevent_getfd(l->bev)) == -1 ||
	    evbuffer_get_length(out) > 0)
		bufferevent_enable(l->bev, EV_WRITE);
}

/* The write event emptied the output: writes are ours again. */
static void
link_write_cb(struct bufferevent *bev, void *arg)
{
	struct link *l = arg;

	if (link_direct(l))
		bufferevent_disable(bev, EV_WRITE);
}

static void
link_write_str(struct link *l, const char *s)
{
	link_write(l, s, strlen(s));
}

/*
 * Ends the connection after what is queued has reached the server (a stream
 * error, our </stream:stream>), then fails with the message: reading stops
 * at once, the write callback finishes the job, a timer guards it.
 */
static void
link_write_drained_cb(struct bufferevent *bev, void *arg)
{
	struct link *l = arg;

	link_fail(l, "%s", l->fail_msg);
}

static void
link_fail_after_flush(struct link *l, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(l->fail_msg, sizeof(l->fail_msg), fmt, ap);
	va_end(ap);
	if (l->bev == NULL ||
	    evbuffer_get_length(bufferevent_get_output(l->bev)) == 0) {
		link_fail(l, "%s", l->fail_msg);
		return;
	}
	l->flushing = true;
	bufferevent_disable(l->bev, EV_READ);
	bufferevent_setcb(l->bev, NULL, link_write_drained_cb, link_event_cb,
	    l);
	bufferevent_setwatermark(l->bev, EV_WRITE, 0, 0);
	/* The write callback is now what ends the connection. */
	bufferevent_enable(l->bev, EV_WRITE);
	evtimer_del(l->idle);
	evtimer_del(l->timer);
	link_timer_add(l, LINK_CLOSE_GRACE, 0);
	/* Stop the parser: nothing more from this stream is read. */
	xml_stream_reset(l->parser);
}

/* A stream error of ours: send it, close the stream, reconnect. */
static void
link_stream_error(struct link *l, const char *cond, const char *text)
{
	char *s;

	s = xprintf("<stream:error><%s xmlns='urn:ietf:params:xml:ns:"
	    "xmpp-streams'/></stream:error></stream:stream>", cond);
	link_write_str(l, s);
	free(s);
	link_fail_after_flush(l, "closing the stream with %s: %s", cond, text);
}

/*
 * The server's <stream:error/>.  The three conditions an operator fixes in
 * the configuration are named with the key to look at; they are retried
 * at the backoff cap so a fix (and SIGHUP) is picked up without hammering.
 */
static void
link_peer_error(struct link *l, const struct xml_node *err)
{
	const char *ns = "urn:ietf:params:xml:ns:xmpp-streams";
	const struct xml_node *c;
	const char *cond = "undefined-condition", *text;

	for (c = err->children; c != NULL; c = c->next)
		if (c->type == XML_NODE_ELEMENT && c->ns != NULL &&
		    strcmp(c->ns, ns) == 0 && strcmp(c->name, "text") != 0) {
			cond = c->name;
			break;
		}
	text = xml_node_child_text(err, "text", ns);
	if (strcmp(cond, "not-authorized") == 0) {
		l->auth_failed = true;
		link_fail(l, "the server refused the handshake (not-authorized)"
		    ": check xmpp.secret against the server's component "
		    "secret%s%s", text ? ": " : "", text ? text : "");
	} else if (strcmp(cond, "conflict") == 0) {
		l->auth_failed = true;
		link_fail(l, "another component is already connected as %s "
		    "(conflict): check xmpp.jid or stop the other process%s%s",
		    l->set.jid, text ? ": " : "", text ? text : "");
	} else if (strcmp(cond, "host-unknown") == 0 ||
	    strcmp(cond, "improper-addressing") == 0) {
		l->auth_failed = true;
		link_fail(l, "the server does not know the component %s (%s): "
		    "check xmpp.jid against the server's Component section%s%s",
		    l->set.jid, cond, text ? ": " : "", text ? text : "");
	} else
		link_fail(l, "stream error from the server: %s%s%s", cond,
		    text ? ": " : "", text ? text : "");
}

static void
link_stream_open(struct link *l, const struct xml_stream_header *h)
{
	char digest[41], *s;

	if (l->state != LINK_STREAM_OPENING) {
		link_stream_error(l, "bad-format", "unexpected stream header");
		return;
	}
	if (h->id == NULL || *h->id == '\0') {
		link_stream_error(l, "invalid-id",
		    "the server's stream header has no id");
		return;
	}
	link_handshake_digest(h->id, l->set.secret, digest);
	s = xprintf("<handshake>%s</handshake>", digest);
	link_write_str(l, s);
	free(s);
	link_set_state(l, LINK_HANDSHAKING);
}

static void
link_stanza(struct link *l, struct xml_node *stanza)
{
	if (xml_node_is(stanza, "error", XML_STREAM_NS)) {
		link_peer_error(l, stanza);
		xml_node_free(&stanza);
		return;
	}
	switch (l->state) {
	case LINK_HANDSHAKING:
		if (!xml_node_is(stanza, "handshake",
		    XML_STREAM_COMPONENT_NS)) {
			xml_node_free(&stanza);
			link_stream_error(l, "not-authorized",
			    "a stanza before the handshake completed");
			return;
		}
		xml_node_free(&stanza);
		evtimer_del(l->timer);
		l->auth_failed = false;
		log_info("link: connected to %s:%d as %s", l->set.host,
		    l->set.port, l->set.jid);
		link_set_state(l, LINK_READY);
		return;
	case LINK_READY:
	case LINK_CLOSING:
		/*
		 * A stanza from the server after the handshake: the stream
		 * really works, so the next failure starts the backoff over.
		 */
		l->backoff = LINK_BACKOFF_MIN;
		/*
		 * The answer to our keepalive ping needs no routing; every
		 * other stanza goes to the router, even while closing, so
		 * results to what is in flight still arrive.
		 */
		if (xml_node_is(stanza, "iq", XML_STREAM_COMPONENT_NS) &&
		    xml_node_attr(stanza, "id") != NULL &&
		    strcmp(xml_node_attr(stanza, "id"), LINK_PING_ID) == 0) {
			xml_node_free(&stanza);
			return;
		}
		l->stanza_fn(l->arg, stanza);
		return;
	default:
		xml_node_free(&stanza);
		link_stream_error(l, "bad-format", "a stanza before the stream "
		    "was open");
	}
}

static void
link_stream_closed(struct link *l)
{
	if (l->state == LINK_CLOSING && l->restarting) {
		log_info("link: the stream to %s:%d is closed, reconnecting "
		    "with the new settings", l->set.host, l->set.port);
		l->restarting = false;
		link_close_connection(l);
		link_connect(l);
		return;
	}
	if (l->state == LINK_CLOSING) {
		link_close_connection(l);
		link_set_state(l, LINK_IDLE);
		if (l->stop_done != NULL) {
			void (*done)(void *) = l->stop_done;

			l->stop_done = NULL;
			done(l->stop_arg);
		}
		return;
	}
	link_write_str(l, "</stream:stream>");
	link_fail_after_flush(l, "the server closed the stream");
}

/*
 * Hands each event the parser completed to the state machine, in order,
 * after expat has returned.  False when one of them dropped the
 * connection: the parser was reset with it, and bev is gone.
 */
static bool
link_dispatch(struct link *l, struct bufferevent *bev)
{
	struct xml_stream_event ev;

	while (xml_stream_next(l->parser, &ev) != XML_STREAM_EV_NONE) {
		switch (ev.type) {
		case XML_STREAM_EV_OPEN:
			link_stream_open(l, ev.header);
			break;
		case XML_STREAM_EV_STANZA:
			link_stanza(l, ev.stanza);
			break;
		case XML_STREAM_EV_CLOSE:
			link_stream_closed(l);
			break;
		case XML_STREAM_EV_ERROR:
			link_stream_error(l, xml_stream_cond_name(ev.cond),
			    ev.text);
			break;
		case XML_STREAM_EV_NONE:
			break;
		}
		if (l->bev != bev || l->flushing)
			return false;
	}
	return true;
}

/* Parses and dispatches what the input buffer holds. */
static bool
link_parse_input(struct link *l, struct bufferevent *bev)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_iovec v;
	size_t used;

	while (evbuffer_peek(in, -1, NULL, &v, 1) > 0) {
		xml_stream_feed(l->parser, v.iov_base, v.iov_len, &used);
		evbuffer_drain(in, used);
		if (!link_dispatch(l, bev))
			return false;
	}
	return true;
}

/*
 * libevent 2.1 reads at most 4 kB per call of evbuffer_read(), and so
 * per read callback of a socket bufferevent, whatever max_single_read
 * says (2.2 has evbuffer_set_max_read() for this).  Over plain TCP the
 * callback therefore reads on into the same input buffer, up to
 * LINK_READ_CHUNK in all, the way the bufferevent itself does: its
 * input's end is frozen except while it reads.  TLS bufferevents honour
 * max_single_read.  End of file and errors are left for the
 * bufferevent's next read to report.
 */
static int
link_read_more(struct bufferevent *bev, size_t budget)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	int n;

	evbuffer_unfreeze(in, 0);
	n = evbuffer_read(in, bufferevent_getfd(bev), (int)budget);
	evbuffer_freeze(in, 0);
	return n;
}

/*
 * The input is empty when a read callback starts to parse (each parse
 * takes everything), so its length is what the bufferevent just read.
 */
static void
link_read_cb(struct bufferevent *bev, void *arg)
{
	struct link *l = arg;
	size_t budget = LINK_READ_CHUNK;
	size_t got = evbuffer_get_length(bufferevent_get_input(bev));
	int n;

	l->ping_sent = false;
	clock_gettime(CLOCK_MONOTONIC, &l->last_read);
	for (;;) {
		if (!link_parse_input(l, bev) || l->set.tls || budget == 0 ||
		    got < LINK_EVBUFFER_READ_MAX)
			return;
		if ((n = link_read_more(bev, budget)) <= 0)
			return;
		got = (size_t)n;
		budget -= got > budget ? budget : got;
	}
}

/*
 * What went wrong with the socket, errno named: the errno libevent left
 * when it called us, else the socket's pending error (SO_ERROR).
 */
static const char *
link_errstr(struct bufferevent *bev, int err)
{
	evutil_socket_t fd = bufferevent_getfd(bev);
	socklen_t len = sizeof(int);
	int soerr = 0;

	if (err == 0 && fd != -1 &&
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0)
		err = soerr;
	if (err == 0)
		return "unknown error (no errno was set)";
	return strerror(err);
}

static void
link_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct link *l = arg;
	int saved = EVUTIL_SOCKET_ERROR();	/* before anything clobbers it */
	unsigned long e;
	char *hdr;

	if (what & BEV_EVENT_CONNECTED) {
		int one = 1;

		/*
		 * Answers are small and latency matters: without this, Nagle
		 * meets the server's delayed ACK and an answer waits 40 ms.
		 */
		setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY,
		    &one, sizeof(one));
		/* The write event was on for the connect only. */
		if (link_direct(l))
			bufferevent_disable(bev, EV_WRITE);
		log_debug("link: TCP%s connected to %s:%d", l->set.tls ?
		    "+TLS" : "", l->set.host, l->set.port);
		link_set_state(l, LINK_STREAM_OPENING);
		hdr = xprintf("<?xml version='1.0'?><stream:stream "
		    "xmlns='jabber:component:accept' xmlns:stream="
		    "'http://etherx.jabber.org/streams' to='%s'>", l->set.jid);
		link_write_str(l, hdr);
		free(hdr);
		clock_gettime(CLOCK_MONOTONIC, &l->last_read);
		link_arm_idle(l);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		link_fail(l, "connection closed by the server");
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		int dnserr = bufferevent_socket_get_dns_error(bev);

		if (dnserr != 0) {
			link_fail(l, "cannot resolve %s: %s (check xmpp.host)",
			    l->set.host, evutil_gai_strerror(dnserr));
			return;
		}
		if (l->set.tls && (e = bufferevent_get_openssl_error(bev))
		    != 0) {
			char buf[256];

			ERR_error_string_n(e, buf, sizeof(buf));
			link_fail(l, "TLS failed: %s (check the server's "
			    "certificate and xmpp.ca-file)", buf);
			return;
		}
		link_fail(l, "%s: %s", l->state == LINK_CONNECTING ?
		    "connect failed" : "connection lost", link_errstr(bev,
		    saved));
	}
}

/* Connect, backoff and close timers share one event. */
static void
link_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	struct link *l = arg;

	if (l->flushing) {
		link_fail(l, "%s (the close was not flushed in time)",
		    l->fail_msg);
		return;
	}
	switch (l->state) {
	case LINK_BACKOFF:
		link_connect(l);
		break;
	case LINK_CONNECTING:
	case LINK_STREAM_OPENING:
	case LINK_HANDSHAKING:
		link_fail(l, "no answer within %d s while %s (check xmpp.host "
		    "and xmpp.port)", l->set.connect_timeout,
		    link_state_name(l->state));
		break;
	case LINK_CLOSING:
		link_fail(l, "the server did not close its stream");
		break;
	default:
		break;
	}
}

/* Milliseconds of silence after which the idle timer acts. */
static long long
link_idle_limit_ms(const struct link *l)
{
	return 1000LL * (l->set.keepalive +
	    (l->ping_sent ? l->set.read_timeout : 0));
}

static long long
link_silence_ms(const struct link *l)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - l->last_read.tv_sec) * 1000LL +
	    (now.tv_nsec - l->last_read.tv_nsec) / 1000000;
}

/* Sleeps until the silence since the last read reaches the limit. */
static void
link_arm_idle(struct link *l)
{
	long long ms = link_idle_limit_ms(l) - link_silence_ms(l);
	struct timeval tv;

	if (ms < 0)
		ms = 0;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(l->idle, &tv);
}

static void
link_idle_cb(evutil_socket_t fd, short events, void *arg)
{
	struct link *l = arg;
	const char *dot;
	char *s;

	if (l->state != LINK_READY) {
		/* The connect timer watches the handshake; look again later. */
		struct timeval tv = { l->set.keepalive, 0 };

		evtimer_add(l->idle, &tv);
		return;
	}
	if (link_silence_ms(l) < link_idle_limit_ms(l)) {
		/* Reads came meanwhile: sleep for the rest. */
		link_arm_idle(l);
		return;
	}
	if (l->ping_sent) {
		link_fail(l, "no data from the server for %d s after a ping: "
		    "taking the connection for dead",
		    l->set.keepalive + l->set.read_timeout);
		return;
	}
	/* Ping the server's own domain: push.example.com -> example.com. */
	dot = strchr(l->set.jid, '.');
	s = xprintf(" <iq type='get' id='" LINK_PING_ID "' from='%s' to='%s'>"
	    "<ping xmlns='urn:xmpp:ping'/></iq>", l->set.jid,
	    dot != NULL && dot[1] != '\0' ? dot + 1 : l->set.jid);
	log_debug("link: %d s of silence, pinging the server",
	    l->set.keepalive);
	link_write_str(l, s);
	free(s);
	l->ping_sent = true;
	link_arm_idle(l);
}

static SSL_CTX *
link_ssl_ctx(struct link *l)
{
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (l->set.ca_file != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, l->set.ca_file, NULL)
		    != 1) {
			log_warnx("link: cannot load xmpp.ca-file %s",
			    l->set.ca_file);
			SSL_CTX_free(ctx);
			return NULL;
		}
	} else
		SSL_CTX_set_default_verify_paths(ctx);
	return ctx;
}

static void
link_connect(struct link *l)
{
	struct bufferevent *bev;
	SSL *ssl;

	if (l->has_next) {
		link_settings_clear(&l->set);
		l->set = l->next;
		memset(&l->next, 0, sizeof(l->next));
		l->has_next = false;
		l->backoff = LINK_BACKOFF_MIN;
		l->auth_failed = false;
		if (l->ssl_ctx != NULL) {
			SSL_CTX_free(l->ssl_ctx);
			l->ssl_ctx = NULL;
		}
		log_info("link: connecting with the new settings");
	}
	link_set_state(l, LINK_CONNECTING);
	if (l->parser_stale) {
		link_parser_new(l);
		l->parser_stale = false;
	}
	if (l->set.tls) {
		if (l->ssl_ctx == NULL && (l->ssl_ctx = link_ssl_ctx(l))
		    == NULL) {
			link_fail(l, "cannot set up TLS");
			return;
		}
		if ((ssl = SSL_new(l->ssl_ctx)) == NULL)
			fatalx("SSL_new");
		/*
		 * Verify the name we connect to, as a browser would: an
		 * address against the certificate's IP entries, a host name
		 * against its DNS names (and sent as SNI).
		 */
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
		    l->set.host) != 1) {
			SSL_set_tlsext_host_name(ssl, l->set.host);
			SSL_set1_host(ssl, l->set.host);
		}
		bev = bufferevent_openssl_socket_new(l->base, -1, ssl,
		    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	} else
		bev = bufferevent_socket_new(l->base, -1,
		    BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		fatalx("link: cannot allocate a bufferevent");
	l->bev = bev;
	bufferevent_set_max_single_read(bev, LINK_READ_CHUNK);
	bufferevent_setcb(bev, link_read_cb, link_write_cb, link_event_cb, l);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	link_timer_add(l, l->set.connect_timeout, 0);
	log_debug("link: connecting to %s:%d", l->set.host, l->set.port);
	if (bufferevent_socket_connect_hostname(bev, l->dns, AF_UNSPEC,
	    l->set.host, l->set.port) == -1) {
		int err = EVUTIL_SOCKET_ERROR();

		link_fail(l, "connect failed: %s", err != 0 ? strerror(err) :
		    "unknown error (no errno was set)");
	}
}

static void
link_parser_new(struct link *l)
{
	struct xml_stream_limits lim;

	xml_stream_limits_default(&lim);
	if (l->set.max_stanza > 0)
		lim.stanza_bytes = l->set.max_stanza;
	if (l->set.max_depth > 0)
		lim.depth = l->set.max_depth;
	xml_stream_free(&l->parser);
	l->parser = xml_stream_new(XML_STREAM_COMPONENT_NS, &lim);
}

struct link *
link_new(struct event_base *base, const struct link_settings *set,
    link_stanza_fn *stanza_fn, link_state_fn *state_fn, void *arg)
{
	struct link *l = xcalloc(1, sizeof(*l));

	l->base = base;
	link_settings_copy(&l->set, set);
	l->stanza_fn = stanza_fn;
	l->state_fn = state_fn;
	l->arg = arg;
	l->backoff = LINK_BACKOFF_MIN;
	l->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
	    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (l->dns == NULL)	/* no resolv.conf: addresses still work */
		l->dns = evdns_base_new(base, 0);
	l->timer = evtimer_new(base, link_timer_cb, l);
	l->idle = evtimer_new(base, link_idle_cb, l);
	l->flush = event_new(base, -1, 0, link_flush_cb, l);
	xml_buf_init(&l->out);
	link_parser_new(l);
	return l;
}

void
link_start(struct link *l)
{
	if (l->state == LINK_IDLE)
		link_connect(l);
}

bool
link_reconfigure(struct link *l, const struct link_settings *set)
{
	const struct link_settings *cur = l->has_next ? &l->next : &l->set;
	bool reconnect;

	reconnect = strcmp(cur->jid, set->jid) != 0 ||
	    strcmp(cur->host, set->host) != 0 ||
	    cur->port != set->port ||
	    strcmp(cur->secret, set->secret) != 0 ||
	    cur->tls != set->tls ||
	    (cur->ca_file == NULL) != (set->ca_file == NULL) ||
	    (cur->ca_file && strcmp(cur->ca_file, set->ca_file) != 0);
	/* New parser limits apply from the next stream on. */
	l->parser_stale = true;
	if (l->has_next) {
		link_settings_clear(&l->next);
		l->has_next = false;
	}
	if (reconnect && (l->state == LINK_READY ||
	    (l->state == LINK_CLOSING && l->restarting))) {
		/*
		 * A stream is up (or closing for an earlier reload): what is
		 * in flight on it is answered on it, with its settings; the
		 * caller drains, then link_restart() closes it, and the next
		 * connection is made with these.
		 */
		link_settings_copy(&l->next, set);
		l->has_next = true;
		log_info("link: settings changed: the stream is closed and "
		    "made again once what is in flight is answered");
		return true;
	}
	link_settings_clear(&l->set);
	link_settings_copy(&l->set, set);
	if (l->ssl_ctx != NULL) {	/* a running SSL keeps its reference */
		SSL_CTX_free(l->ssl_ctx);
		l->ssl_ctx = NULL;
	}
	if (l->state == LINK_IDLE || l->state == LINK_CLOSING)
		return false;
	if (reconnect || l->state == LINK_BACKOFF) {
		/* No stream is up: nothing is in flight on one. */
		log_info("link: settings changed, reconnecting now");
		link_close_connection(l);
		l->auth_failed = false;
		l->backoff = LINK_BACKOFF_MIN;
		link_connect(l);
	}
	return false;
}

void
link_restart(struct link *l)
{
	if (l->state != LINK_READY)
		return;		/* failed meanwhile: reconnecting already */
	l->restarting = true;
	link_write_str(l, "</stream:stream>");
	link_set_state(l, LINK_CLOSING);
	evtimer_del(l->idle);
	link_timer_add(l, LINK_CLOSE_GRACE, 0);
}

void
link_stop(struct link *l, void (*done)(void *), void *arg)
{
	if (l->state != LINK_READY) {
		l->restarting = false;
		link_close_connection(l);
		link_set_state(l, LINK_IDLE);
		done(arg);
		return;
	}
	l->restarting = false;
	l->stop_done = done;
	l->stop_arg = arg;
	link_write_str(l, "</stream:stream>");
	link_set_state(l, LINK_CLOSING);
	evtimer_del(l->idle);
	link_timer_add(l, LINK_CLOSE_GRACE, 0);
}

void
link_free(struct link **lp)
{
	struct link *l = *lp;

	if (l == NULL)
		return;
	link_close_connection(l);
	event_free(l->timer);
	event_free(l->idle);
	event_free(l->flush);
	xml_stream_free(&l->parser);
	xml_buf_free(&l->out);
	if (l->ssl_ctx != NULL)
		SSL_CTX_free(l->ssl_ctx);
	if (l->dns != NULL)
		evdns_base_free(l->dns, 0);
	link_settings_clear(&l->set);
	link_settings_clear(&l->next);
	free(l);
	*lp = NULL;
}

int
link_send(struct link *l, const struct xml_node *stanza)
{
	if (l->state != LINK_READY && l->state != LINK_CLOSING)
		return -1;
	xml_buf_reset(&l->out);
	xml_node_serialize_with_default_ns(stanza, XML_STREAM_COMPONENT_NS,
	    &l->out);
	if (log_debug_enabled())
		log_debug("link: send %.*s", (int)l->out.len, l->out.data);
	link_write(l, l->out.data, l->out.len);
	return 0;
}

int
link_send_raw(struct link *l, const char *s, size_t len)
{
	if (l->state != LINK_READY && l->state != LINK_CLOSING)
		return -1;
	if (log_debug_enabled())
		log_debug("link: send %.*s", (int)len, s);
	link_write(l, s, len);
	return 0;
}

bool
link_ready(const struct link *l)
{
	return l->state == LINK_READY;
}

size_t
link_queued(const struct link *l)
{
	return l->bev == NULL ? 0 :
	    evbuffer_get_length(bufferevent_get_output(l->bev));
}

bool
link_congested(const struct link *l)
{
	return link_queued(l) > l->set.send_queue_limit;
}

enum link_state
link_state(const struct link *l)
{
	return l->state;
}

const char *
link_jid(const struct link *l)
{
	return l->set.jid;
}
