/*
 * The HTTPS listener of the `rest` block: libevent's evhttp over OpenSSL
 * bufferevents, for the endpoints that mount themselves on it
 * (core/rest_unregister.c: Tigase's unregister-device handler;
 * core/metrics.c: GET /metrics and GET /health).
 *
 * Limits: request headers up to REST_MAX_HEADERS bytes, bodies up to
 * `max-body` (evhttp answers 413 before reading a larger one), REST_TIMEOUT
 * seconds of client silence, GET and POST only (evhttp answers 405 to the
 * others), TLS 1.2 or later without renegotiation.  Plain HTTP is allowed
 * only on loopback.
 *
 * Descriptors: at most `max-connections` client connections at once (the
 * listener is disabled while they are all taken, so further clients wait
 * in the kernel's backlog), never more than RLIMIT_NOFILE minus what the
 * rest of the daemon needs (REST_FD_RESERVE plus the database pool), and
 * at most `max-connections-per-address` from one address (the excess is
 * closed at once).  A connection has `request-timeout` seconds, counted
 * from accept, to deliver its whole request: REST_TIMEOUT restarts on
 * every byte, this deadline does not, so a client dribbling a header line
 * now and then is still closed.  Each connection carries one request
 * (every answer says Connection: close), so the deadline covers the
 * connection's whole life up to its answer.  Should accept() fail anyway
 * (EMFILE: descriptors taken elsewhere), the listener's error callback
 * (libevent 2.1 evconnlistener_set_error_cb) disables it for
 * REST_ACCEPT_BACKOFF seconds and logs once per back-off instead of
 * letting libevent log every failed accept in a busy loop.
 *
 * Every request first passes a per-address token bucket
 * (`rate-limit` per minute, `rate-burst`; 429 with Retry-After when
 * empty), then goes to the route whose path matches; an unknown path is
 * answered 404 and a known path with the wrong method 405.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <json-c/json.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "core/log.h"
#include "core/rest.h"
#include "core/xmalloc.h"

#define REST_MAX_HEADERS	8192	/* bytes of request headers */
#define REST_TIMEOUT		30	/* seconds of client silence */
#define REST_JSON_DEPTH		8	/* nesting accepted in a body */
#define REST_MAX_SERVICES	8	/* endpoints mounted at once */
#define RATE_HASH_SIZE		1024
#define RATE_MAX_CLIENTS	65536	/* addresses tracked at once */
#define RATE_SWEEP_INTERVAL	60	/* seconds between idle sweeps */
#define CONN_HASH_SIZE		256	/* buckets of the connection table */
#define REST_ACCEPT_BACKOFF	1	/* seconds the listener rests after
					   accept() failed */
/*
 * Descriptors kept for everything but the endpoint's clients: the XMPP
 * link and its DNS, the log, the listener, libevent's own, the modules'
 * provider connections and files (the database pool comes on top).
 */
#define REST_FD_RESERVE		64
#define FD_PROBE_MAX		65536	/* descriptors looked at when counting */

struct rest_settings {
	char		*host;
	int		 port;
	bool		 tls;
	char		*cert_file;
	char		*key_file;
	size_t		 max_body;
	double		 rate;		/* tokens per second */
	double		 burst;
	size_t		 max_conns;	/* after the descriptor reserve */
	size_t		 max_per_addr;
	int		 request_timeout;	/* seconds from accept */
};

/* One client address's token bucket. */
struct bucket {
	char		*addr;
	double		 tokens;
	double		 stamp;		/* monotonic seconds */
	size_t		 nconns;	/* open connections from addr */
	struct bucket	*next;
};

/*
 * One client connection.  It is created in the bufferevent callback,
 * before evhttp has its evhttp_connection; the deadline event first runs
 * at once to attach it (CONN_NEW -> CONN_OPEN), then fires at the
 * deadline.  evhttp's close callback is the one terminal path (conn_free).
 */
enum conn_state {
	CONN_NEW,		/* accepted, evcon not known yet */
	CONN_OPEN,		/* reading its request, deadline armed */
	CONN_ANSWERING		/* request delivered, deadline off */
};

struct conn {
	enum conn_state		 state;
	struct bufferevent	*bev;		/* referenced while CONN_NEW */
	struct evhttp_connection *evcon;
	struct bucket		*bucket;	/* its address */
	struct event		*deadline;
	void			(*close_cb)(struct evhttp_connection *,
				    void *);
	void			*close_arg;
	struct conn		*next;		/* in conns[] */
};

static struct {
	bool			 running;
	struct event_base	*base;
	struct rest_settings	 set;
	struct evhttp		*http;
	SSL_CTX			*ssl_ctx;
	struct bucket		*buckets[RATE_HASH_SIZE];
	size_t			 nbuckets;
	struct event		*sweep;
	const struct rest_service *services[REST_MAX_SERVICES];
	size_t			 nservices;
	struct evconnlistener	*listener;
	struct event		*backoff;	/* re-enables the listener */
	struct conn		*conns[CONN_HASH_SIZE];	/* by evcon */
	struct conn		*pending;	/* the CONN_NEW ones */
	size_t			 nconns;
	unsigned long		 refused_addr;	/* since the last warning */
	double			 refused_warned;
	double			 full_warned;	/* max-connections reached */
	int			 spare_fd;	/* closed to accept and drop */
} rest = { .spare_fd = -1 };

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

/* Descriptors open now among the first `limit` (FD_PROBE_MAX at most). */
static size_t
fds_open(size_t limit)
{
	size_t fd, n = 0;

	for (fd = 0; fd < limit && fd < FD_PROBE_MAX; fd++)
		if (fcntl((int)fd, F_GETFD) != -1)
			n++;
	return n;
}

/*
 * `max-connections`, lowered so that the descriptors the rest of the
 * daemon needs stay free: RLIMIT_NOFILE minus what is open now, minus
 * REST_FD_RESERVE, minus the database pool.
 */
static size_t
conns_allowed(const struct xp_conf *conf)
{
	size_t want = (size_t)conf_int(conf, "rest", "max-connections");
	size_t reserve, open, room;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur == RLIM_INFINITY)
		return want;
	open = fds_open((size_t)rl.rlim_cur);
	open = open > rest.nconns ? open - rest.nconns : 0;
	reserve = REST_FD_RESERVE + (size_t)conf_int(conf, "database",
	    "pool-size");
	room = (size_t)rl.rlim_cur > open + reserve ?
	    (size_t)rl.rlim_cur - open - reserve : 1;
	if (room < want) {
		log_warnx("rest: the descriptor limit is %llu with %zu open "
		    "and %zu kept for the link, the database and the "
		    "providers: max-connections %zu lowered to %zu (raise "
		    "the limit, ulimit -n)", (unsigned long long)rl.rlim_cur,
		    open, reserve, want, room);
		return room;
	}
	return want;
}

static void
settings_clear(struct rest_settings *set)
{
	free(set->host);
	free(set->cert_file);
	free(set->key_file);
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
	set->max_body = (size_t)conf_int(conf, "rest", "max-body");
	set->rate = (double)conf_int(conf, "rest", "rate-limit") / 60.0;
	set->burst = (double)conf_int(conf, "rest", "rate-burst");
	set->max_conns = conns_allowed(conf);
	set->max_per_addr = (size_t)conf_int(conf, "rest",
	    "max-connections-per-address");
	set->request_timeout = (int)conf_int(conf, "rest", "request-timeout");
	return 0;
}

int
rest_listen_address(const struct xp_conf *conf, char **host_r, int *port_r,
    char **error_r)
{
	if (!rest_configured(conf))
		return 0;
	if (parse_listen(conf_str(conf, "rest", "listen"), host_r, port_r,
	    error_r) == -1)
		return -1;
	return 1;
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

/* addr's bucket, created full; NULL when RATE_MAX_CLIENTS are tracked. */
static struct bucket *
bucket_get(const char *addr)
{
	struct bucket *b;
	size_t h = addr_hash(addr);

	for (b = rest.buckets[h]; b != NULL; b = b->next)
		if (strcmp(b->addr, addr) == 0)
			return b;
	if (rest.nbuckets >= RATE_MAX_CLIENTS) {
		log_warnx("rest: tracking %d client addresses already; "
		    "%s goes unlimited", RATE_MAX_CLIENTS, addr);
		return NULL;
	}
	b = xcalloc(1, sizeof(*b));
	b->addr = xstrdup(addr);
	b->tokens = rest.set.burst;
	b->stamp = now_mono();
	b->next = rest.buckets[h];
	rest.buckets[h] = b;
	rest.nbuckets++;
	return b;
}

/* Takes a token for addr: 0, or the seconds to wait until one is there. */
static int
rate_take(const char *addr)
{
	struct bucket *b;
	double now = now_mono(), wait;
	int secs;

	if ((b = bucket_get(addr)) == NULL)
		return 0;
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
			if (all && b->nconns > 0)
				b->tokens = rest.set.burst;
			if (b->nconns == 0 &&
			    (all || b->tokens >= rest.set.burst)) {
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

/* Connections */

static size_t
conn_hash(const struct evhttp_connection *evcon)
{
	return ((uintptr_t)evcon >> 4) % CONN_HASH_SIZE;
}

static struct conn *
conn_find(const struct evhttp_connection *evcon)
{
	struct conn *c;

	if (evcon == NULL)
		return NULL;
	for (c = rest.conns[conn_hash(evcon)]; c != NULL; c = c->next)
		if (c->evcon == evcon)
			return c;
	return NULL;
}

static void
conn_unlink(struct conn *c)
{
	struct conn **cp = c->state == CONN_NEW ? &rest.pending :
	    &rest.conns[conn_hash(c->evcon)];

	while (*cp != c)
		cp = &(*cp)->next;
	*cp = c->next;
}

/* Accepts while there is room and no back-off runs. */
static void
listener_update(void)
{
	if (rest.listener == NULL)
		return;
	if (rest.nconns >= rest.set.max_conns &&
	    now_mono() - rest.full_warned >= REST_ACCEPT_BACKOFF) {
		log_warnx("rest: %zu client connections open "
		    "(max-connections, within the descriptor limit): not "
		    "accepting until one closes", rest.nconns);
		rest.full_warned = now_mono();
	}
	if (rest.nconns >= rest.set.max_conns ||
	    evtimer_pending(rest.backoff, NULL))
		evconnlistener_disable(rest.listener);
	else
		evconnlistener_enable(rest.listener);
}

/* The one terminal path of a connection. */
static void
conn_free(struct conn *c)
{
	conn_unlink(c);
	if (c->state == CONN_NEW)
		bufferevent_decref(c->bev);
	if (c->bucket != NULL)
		c->bucket->nconns--;
	if (c->close_cb != NULL)
		c->close_cb(c->evcon, c->close_arg);
	event_free(c->deadline);
	free(c);
	rest.nconns--;
	listener_update();
}

static void
conn_closed_cb(struct evhttp_connection *evcon, void *arg)
{
	struct conn *c = arg;

	evhttp_connection_set_closecb(evcon, NULL, NULL);
	conn_free(c);
}

static void
warn_refused(const char *addr)
{
	double now = now_mono();

	rest.refused_addr++;
	if (now - rest.refused_warned < REST_ACCEPT_BACKOFF)
		return;
	log_warnx("rest: %s holds %zu connections already "
	    "(max-connections-per-address); closed %lu such connection%s",
	    addr, rest.set.max_per_addr, rest.refused_addr,
	    rest.refused_addr == 1 ? "" : "s");
	rest.refused_addr = 0;
	rest.refused_warned = now;
}

/*
 * evhttp made its evhttp_connection around c's bufferevent (libevent 2.1
 * passes it as the bufferevent's callback argument): take over its close
 * callback, count the address and arm the deadline.
 */
static void
conn_attach(struct conn *c)
{
	struct timeval tv = { rest.set.request_timeout, 0 };
	bufferevent_data_cb readcb;
	void *arg = NULL;
	char *addr = NULL;
	ev_uint16_t port;
	struct bucket *b;

	bufferevent_getcb(c->bev, &readcb, NULL, NULL, &arg);
	if (readcb == NULL || arg == NULL) {
		/* evhttp dropped it already (bufferevent_free clears them). */
		conn_free(c);
		return;
	}
	conn_unlink(c);
	bufferevent_decref(c->bev);
	c->bev = NULL;
	c->evcon = arg;
	c->state = CONN_OPEN;
	c->next = rest.conns[conn_hash(c->evcon)];
	rest.conns[conn_hash(c->evcon)] = c;
	evhttp_connection_set_closecb(c->evcon, conn_closed_cb, c);
	evhttp_connection_get_peer(c->evcon, &addr, &port);
	if (addr != NULL && (b = bucket_get(addr)) != NULL) {
		if (b->nconns >= rest.set.max_per_addr) {
			warn_refused(addr);
			evhttp_connection_free(c->evcon);
			return;
		}
		b->nconns++;
		c->bucket = b;
	}
	evtimer_add(c->deadline, &tv);
}

static void
conn_deadline_cb(evutil_socket_t fd, short events, void *arg)
{
	struct conn *c = arg;
	char *addr = NULL;
	ev_uint16_t port;

	if (c->state == CONN_NEW) {
		conn_attach(c);
		return;
	}
	evhttp_connection_get_peer(c->evcon, &addr, &port);
	log_debug("rest: %s sent no whole request in %d s (request-timeout), "
	    "closing", addr != NULL ? addr : "?", rest.set.request_timeout);
	evhttp_connection_free(c->evcon);
}

/* Called by evhttp for every accepted connection, before it has its fd. */
static struct conn *
conn_new(struct bufferevent *bev)
{
	struct conn *c = xcalloc(1, sizeof(*c));

	c->state = CONN_NEW;
	c->bev = bev;
	bufferevent_incref(bev);
	c->deadline = evtimer_new(rest.base, conn_deadline_cb, c);
	if (c->deadline == NULL)
		fatalx("evtimer_new failed");
	c->next = rest.pending;
	rest.pending = c;
	rest.nconns++;
	/* Attaches once evhttp has returned to the loop. */
	event_active(c->deadline, EV_TIMEOUT, 1);
	listener_update();
	return c;
}

/* The request is in: the deadline has been met. */
static void
conn_request_in(struct evhttp_request *req)
{
	struct conn *c = conn_find(evhttp_request_get_connection(req));

	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Connection", "close");
	if (c == NULL)
		return;
	evtimer_del(c->deadline);
	c->state = CONN_ANSWERING;
}

void
rest_watch_close(struct evhttp_request *req,
    void (*cb)(struct evhttp_connection *, void *), void *arg)
{
	struct conn *c = conn_find(evhttp_request_get_connection(req));

	if (c == NULL)
		return;
	c->close_cb = cb;
	c->close_arg = arg;
}

static void
rest_backoff_cb(evutil_socket_t fd, short events, void *arg)
{
	listener_update();
}

/*
 * accept() failed with something other than EAGAIN/EINTR (libevent's
 * EVUTIL_ERR_ACCEPT_RETRIABLE): typically EMFILE or ENFILE.  Without this
 * callback libevent logs the error and retries at once, forever (the
 * libevent book, Ref8_listener, introduces the error callback for error
 * conditions that would otherwise lock the process up).  Rest
 * for REST_ACCEPT_BACKOFF seconds; on EMFILE/ENFILE first use the spare
 * descriptor to accept and close one waiting client, which would only
 * wait in vain otherwise.
 */
static void
rest_accept_error_cb(struct evconnlistener *lev, void *arg)
{
	int err = EVUTIL_SOCKET_ERROR(), fd;
	struct timeval tv = { REST_ACCEPT_BACKOFF, 0 };

	if ((err == EMFILE || err == ENFILE) && rest.spare_fd != -1) {
		close(rest.spare_fd);
		if ((fd = accept(evconnlistener_get_fd(lev), NULL, NULL)) != -1)
			close(fd);
		rest.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	evconnlistener_disable(lev);
	evtimer_add(rest.backoff, &tv);
	log_warnx("rest: accept: %s; not accepting for %d s (%zu client "
	    "connections open)", evutil_socket_error_to_string(err),
	    REST_ACCEPT_BACKOFF, rest.nconns);
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

void
rest_reply_json(struct evhttp_request *req, int code, const char *reason,
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

void
rest_reply_result(struct evhttp_request *req, int code, const char *reason,
    const char *result, const char *message)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "result", json_object_new_string(result));
	if (message != NULL)
		json_object_object_add(o, "error",
		    json_object_new_string(message));
	rest_reply_json(req, code, reason, o);
}

void
rest_reply_text(struct evhttp_request *req, int code, const char *reason,
    const char *text)
{
	reply_body(req, code, reason, "text/plain; charset=utf-8", text,
	    strlen(text));
}

/* Request bodies */

struct json_object *
rest_read_json(struct evhttp_request *req, char **error_r)
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
	return obj;
}

/* Routing */

void
rest_mount(const struct rest_service *svc)
{
	if (rest.nservices == REST_MAX_SERVICES)
		fatalx("rest: more than %d endpoints mounted",
		    REST_MAX_SERVICES);
	rest.services[rest.nservices++] = svc;
}

static const char *
method_name(enum evhttp_cmd_type cmd)
{
	return cmd == EVHTTP_REQ_GET ? "GET" :
	    cmd == EVHTTP_REQ_POST ? "POST" : "other";
}

/* The route serving path, with *tail_r the part after its prefix. */
static const struct rest_route *
route_find(const char *path, const char **tail_r)
{
	const struct rest_route *r;
	size_t i, len;

	for (i = 0; i < rest.nservices; i++)
		for (r = rest.services[i]->routes; r->path != NULL; r++) {
			len = strlen(r->path);
			if (len > 0 && r->path[len - 1] == '/' ?
			    strncmp(path, r->path, len) == 0 :
			    strcmp(path, r->path) == 0) {
				*tail_r = path + len;
				return r;
			}
		}
	return NULL;
}

static void
reply_method_not_allowed(struct evhttp_request *req,
    const struct rest_route *r)
{
	const char *allow = method_name(r->method);
	char *text;

	evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
	    allow);
	if (r->json) {
		text = xprintf("use %s", allow);
		rest_reply_result(req, 405, "Method Not Allowed", "failure",
		    text);
	} else {
		text = xprintf("use %s\n", allow);
		rest_reply_text(req, 405, "Method Not Allowed", text);
	}
	free(text);
}

static void
rest_request_cb(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	const struct rest_route *r;
	const char *tail;
	char *addr = NULL, wait[16];
	ev_uint16_t port;
	int delay;

	evhttp_connection_get_peer(evhttp_request_get_connection(req), &addr,
	    &port);
	conn_request_in(req);
	log_debug("rest: %s %s from %s", method_name(cmd),
	    path != NULL ? path : "?", addr != NULL ? addr : "?");
	if ((delay = rate_take(addr != NULL ? addr : "?")) > 0) {
		snprintf(wait, sizeof(wait), "%d", delay);
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Retry-After", wait);
		rest_reply_result(req, 429, "Too Many Requests", "failure",
		    "too many requests from this address; slow down");
		return;
	}
	if (path == NULL) {
		rest_reply_text(req, HTTP_BADREQUEST, "Bad Request",
		    "bad URI\n");
		return;
	}
	if ((r = route_find(path, &tail)) == NULL) {
		rest_reply_text(req, HTTP_NOTFOUND, "Not Found", "not found\n");
		return;
	}
	if (cmd != r->method) {
		reply_method_not_allowed(req, r);
		return;
	}
	r->handle(req, tail);
}

/* Listening */

static struct bufferevent *
rest_bev_cb(struct event_base *base, void *arg)
{
	struct bufferevent *bev;
	SSL *ssl;

	if (rest.set.tls) {
		/* A NULL here would make evhttp fall back to clear text. */
		if ((ssl = SSL_new(rest.ssl_ctx)) == NULL)
			fatalx("SSL_new failed");
		bev = bufferevent_openssl_socket_new(base, -1, ssl,
		    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
		if (bev == NULL)
			fatalx("bufferevent_openssl_socket_new failed");
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	} else if ((bev = bufferevent_socket_new(base, -1,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL)
		fatalx("bufferevent_socket_new failed");
	conn_new(bev);
	return bev;
}

static struct evhttp *
http_new(const struct rest_settings *set, char **error_r)
{
	struct evhttp_bound_socket *bound;
	struct evhttp *http;

	if ((http = evhttp_new(rest.base)) == NULL)
		fatalx("evhttp_new failed");
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
	evhttp_set_max_headers_size(http, REST_MAX_HEADERS);
	evhttp_set_max_body_size(http, (ev_ssize_t)set->max_body);
	evhttp_set_timeout(http, REST_TIMEOUT);
	evhttp_set_gencb(http, rest_request_cb, NULL);
	evhttp_set_bevcb(http, rest_bev_cb, NULL);
	if ((bound = evhttp_bind_socket_with_handle(http, set->host,
	    (ev_uint16_t)set->port)) == NULL) {
		xasprintf(error_r, "rest: cannot listen on %s port %d",
		    set->host, set->port);
		evhttp_free(http);
		return NULL;
	}
	rest.listener = evhttp_bound_socket_get_listener(bound);
	evconnlistener_set_error_cb(rest.listener, rest_accept_error_cb);
	return http;
}

/* Closes the listener and every connection (their close callbacks run). */
static void
http_free(void)
{
	rest.listener = NULL;
	if (rest.http != NULL)
		evhttp_free(rest.http);
	rest.http = NULL;
	while (rest.pending != NULL)
		conn_free(rest.pending);
	if (rest.backoff != NULL)
		evtimer_del(rest.backoff);
}

static void
http_limits(struct evhttp *http, const struct rest_settings *set)
{
	evhttp_set_max_body_size(http, (ev_ssize_t)set->max_body);
}

/* Services */

static void
services_start(const struct xp_conf *conf)
{
	size_t i;

	for (i = 0; i < rest.nservices; i++)
		if (rest.services[i]->start != NULL)
			rest.services[i]->start(conf);
}

static void
services_reconfigure(const struct xp_conf *conf)
{
	size_t i;

	for (i = 0; i < rest.nservices; i++)
		if (rest.services[i]->reconfigure != NULL)
			rest.services[i]->reconfigure(conf);
}

static void
services_stop(void)
{
	size_t i;

	for (i = 0; i < rest.nservices; i++)
		if (rest.services[i]->stop != NULL)
			rest.services[i]->stop();
}

static void
rest_stop(void)
{
	bool was_running = rest.running;

	rest.running = false;
	http_free();
	if (rest.ssl_ctx != NULL)
		SSL_CTX_free(rest.ssl_ctx);
	rest.ssl_ctx = NULL;
	if (rest.sweep != NULL)
		event_free(rest.sweep);
	rest.sweep = NULL;
	rate_sweep(true);
	settings_clear(&rest.set);
	if (was_running)
		services_stop();
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
	rest.sweep = event_new(rest.base, -1, EV_PERSIST, rest_sweep_cb,
	    NULL);
	evtimer_add(rest.sweep, &sweep);
	rest.running = true;
	services_start(conf);
	log_info("rest: listening on %s port %d (%s)", rest.set.host,
	    rest.set.port, rest.set.tls ? "https" : "plain http, loopback");
	return 0;
}

int
rest_init(struct event_base *base, const struct xp_conf *conf,
    char **error_r)
{
	rest.base = base;
	if (rest.backoff == NULL &&
	    (rest.backoff = evtimer_new(base, rest_backoff_cb, NULL)) == NULL)
		fatalx("evtimer_new failed");
	if (rest.spare_fd == -1)
		rest.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
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
		http_free();
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
	listener_update();
	services_reconfigure(next);
	return 0;
}

void
rest_shutdown(void)
{
	rest_stop();
	rest.nservices = 0;
	if (rest.backoff != NULL)
		event_free(rest.backoff);
	rest.backoff = NULL;
	if (rest.spare_fd != -1)
		close(rest.spare_fd);
	rest.spare_fd = -1;
}
