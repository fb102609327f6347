/*
 * h2: asynchronous HTTP/2 client over TLS for the APNs modules (see h2.h).
 *
 * RFC 9113 through nghttp2's session API, RFC 7301 ALPN, TLS through
 * libevent's bufferevent_openssl.  A connection walks an explicit state
 * machine:
 *
 *	CONNECTING --(TLS up, ALPN h2)--> READY --(GOAWAY, new TLS ctx)-->
 *	DRAINING --(no streams left)--> freed
 *
 * and any state goes straight to freed on an error.  Nothing runs inside
 * nghttp2's callbacks that could free the session: they record flags, and
 * a finished stream's answer goes to the caller's callback
 * (on_stream_close_cb -> req_complete), which must not free the client or
 * the connection; closing and reconnecting wait for conn_check(), which
 * acts once nghttp2 has returned.  Sending is deferred to one event per
 * client so that a burst of requests goes out in as few TLS records as
 * possible; h2_client_request() therefore never answers by itself.
 *
 * Retries: a request is moved to another connection only when HTTP/2 says
 * the server never processed it (RST_STREAM/GOAWAY with REFUSED_STREAM, a
 * stream above GOAWAY's last-stream-id, or a stream whose HEADERS never
 * left).  A request that went out on a connection that then died is
 * answered H2_ECONN: the server may have acted on it.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/bufferevent_struct.h>	/* ev_write: conn_write_now() */
#include <event2/dns.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "plugins/h2/h2.h"
#include "plugins/lib/pu.h"

#define H2_MAX_BODY		8192	/* response bodies we keep */
#define H2_MAX_RETRIES		8	/* moves to another stream */
/*
 * A request that finds no connection up or dialling does not wait for the
 * backoff timer: it dials at once, but the client dials on demand at most
 * once per H2_ONDEMAND_MIN_MS (a request arriving sooner arms a timer for
 * the rest of the interval), so a dead server is not hammered.
 */
#define H2_ONDEMAND_MIN_MS	1000
#define H2_STREAM_CAP		1000	/* our own bound per connection */
/*
 * Pool sizing (see h2.h): dial one more connection when the demand
 * (streams in flight plus requests waiting) reaches H2_GROW_SHARE % of
 * the streams the open connections allow, so the new one is up before
 * the others are full; shrink to what the period's peak needs at
 * H2_SHRINK_SHARE %, the gap between the two keeping a steady load from
 * closing and redialling connections (Apple counts rapid connect and
 * disconnect as an attack).
 */
#define H2_GROW_SHARE		80
#define H2_SHRINK_SHARE		50
#define H2_POOL_MIN		1	/* kept open however idle */
#define H2_OUT_HIGH		(256 * 1024) /* stop framing above this */
#define H2_WRITE_CHUNK		16384	/* frames coalesced per TLS record */

enum conn_state {
	CONN_CONNECTING,	/* TCP, TLS, then the server's SETTINGS */
	CONN_READY,		/* h2 session up: takes new streams */
	CONN_DRAINING,		/* GOAWAY or old TLS ctx: finish, then close */
};

struct h2_conn;

struct h2_req {
	TAILQ_ENTRY(h2_req) entry;	/* client queue or conn streams */
	struct h2_client *cl;
	struct h2_conn	*conn;		/* NULL while queued */
	int32_t		 stream_id;
	bool		 headers_sent;
	bool		 got_response;
	int		 retries;
	nghttp2_nv	*nv;
	size_t		 nnv;
	const unsigned char *body;	/* points into the same allocation */
	size_t		 body_len;
	size_t		 body_off;
	int		 status;
	char		*resp;
	size_t		 resp_len;
	struct event	*timer;
	h2_done_cb	*cb;
	void		*arg;
};
TAILQ_HEAD(h2_reqq, h2_req);

struct h2_conn {
	TAILQ_ENTRY(h2_conn) entry;
	struct h2_client *cl;
	unsigned int	 id;		/* for logs */
	enum conn_state	 state;
	struct bufferevent *bev;
	nghttp2_session	*sess;
	struct h2_reqq	 streams;
	size_t		 nstreams;	/* open at nghttp2, even detached */
	struct event	*flush_ev;
	struct event	*ping_ev;
	bool		 ping_outstanding;
	struct timeval	 last_read;
	bool		 dead;		/* set in callbacks, acted on later */
	char		 dead_reason[256];
	enum h2_error	 dead_kind;
	int32_t		 goaway_last;	/* -1: no GOAWAY */
};
TAILQ_HEAD(h2_connq, h2_conn);

struct h2_client {
	struct event_base *base;
	struct evdns_base *dns;
	struct h2_config cfg;
	char		*host;
	char		*authority;
	bool		 host_is_ip;
	SSL_CTX		*ctx;
	struct h2_connq	 conns;
	unsigned int	 next_conn_id;
	struct h2_reqq	 queue;
	size_t		 nqueued;
	size_t		 ninflight;
	struct event	*dispatch_ev;
	struct event	*backoff_ev;
	struct event	*reap_ev;	/* every idle_timeout_ms, or NULL */
	size_t		 peak_demand;	/* most in flight + queued, this period */
	int		 backoff_ms;
	struct event	*ondemand_ev;	/* the next on-demand dial allowed */
	uint64_t	 ondemand_last;	/* monotonic ms; 0: never */
	const struct timeval *req_timeout;
	char		 last_error[512];
	enum h2_error	 last_error_kind;
	struct h2_stats	 stats;
};

static void	 h2_log(struct h2_client *, enum h2_log_level, const char *,
		    ...) __attribute__((format(printf, 3, 4)));
static void	 client_grow(struct h2_client *);
static void	 client_maintain(struct h2_client *);
static void	 client_schedule_dispatch(struct h2_client *);
static void	 conn_free(struct h2_conn *, enum h2_error, const char *);
static void	 conn_check(struct h2_conn *);
static void	 conn_ready(struct h2_conn *);
static void	 conn_schedule_flush(struct h2_conn *);
static void	 req_complete(struct h2_req *, enum h2_error, const char *);

static void
h2_log(struct h2_client *cl, enum h2_log_level level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (cl->cfg.log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cl->cfg.log(cl->cfg.log_arg, level, msg);
}

SSL_CTX *
h2_tls_ctx_new(const char *ca_file, char **error_r)
{
	static const unsigned char alpn[] = { 2, 'h', '2' };
	char buf[256];
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		goto fail;
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
		goto fail;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (ca_file != NULL && *ca_file != '\0') {
		if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
			pu_ssl_error(buf, sizeof(buf), "unknown TLS error");
			*error_r = pu_asprintf("ca-file %s: %s", ca_file, buf);
			SSL_CTX_free(ctx);
			return NULL;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1)
		goto fail;
	/* SSL_CTX_set_alpn_protos returns 0 on success, unlike the rest. */
	if (SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn)) != 0)
		goto fail;
	/*
	 * No SSL_MODE_RELEASE_BUFFERS: a busy connection then freed and
	 * reallocated its 16 kB record buffers at every pause, a malloc and
	 * free pair per loop turn for about 34 kB kept per connection.
	 * No read-ahead either, though it would save a read(2) per record:
	 * bufferevent_openssl (libevent 2.1) then leaves records decrypted
	 * inside OpenSSL unread until the socket turns readable again, and
	 * the benchmark stalled for the 10 s request timeout.
	 */
	return ctx;
fail:
	pu_ssl_error(buf, sizeof(buf), "unknown TLS error");
	*error_r = pu_asprintf("TLS context: %s", buf);
	SSL_CTX_free(ctx);
	return NULL;
}

/* Requests */

static void
req_free(struct h2_req *req)
{
	if (req->timer != NULL)
		event_free(req->timer);
	free(req->resp);
	free(req->nv);
	free(req);
}

static void
req_complete(struct h2_req *req, enum h2_error error, const char *reason)
{
	struct h2_result res;

	memset(&res, 0, sizeof(res));
	res.error = error;
	res.status = error == H2_OK ? req->status : 0;
	res.body = req->resp != NULL ? req->resp : "";
	res.body_len = req->resp_len;
	res.reason = reason != NULL ? reason : "";
	req->cb(req->arg, &res);
	req_free(req);
}

/* Back to the head of the queue, for a stream the server never processed. */
static void
req_requeue(struct h2_req *req, const char *why)
{
	struct h2_client *cl = req->cl;

	if (++req->retries > H2_MAX_RETRIES) {
		req_complete(req, H2_ECONN, why);
		return;
	}
	cl->stats.retried++;
	req->conn = NULL;
	req->stream_id = -1;
	req->headers_sent = false;
	req->got_response = false;
	req->body_off = 0;
	req->status = 0;
	req->resp_len = 0;
	TAILQ_INSERT_HEAD(&cl->queue, req, entry);
	cl->nqueued++;
	client_schedule_dispatch(cl);
}

/* Takes a request off its connection without touching nghttp2. */
static void
req_detach(struct h2_req *req)
{
	struct h2_conn *conn = req->conn;

	TAILQ_REMOVE(&conn->streams, req, entry);
	req->cl->ninflight--;
	req->conn = NULL;
}

static void
req_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct h2_req *req = arg;
	struct h2_client *cl = req->cl;
	struct h2_conn *conn = req->conn;

	if (conn == NULL) {
		TAILQ_REMOVE(&cl->queue, req, entry);
		cl->nqueued--;
		req_complete(req, H2_ETIMEOUT, cl->ctx == NULL ?
		    "timed out waiting for TLS credentials" :
		    cl->last_error[0] != '\0' && !h2_client_ready(cl) ?
		    cl->last_error : "timed out waiting for a stream");
		return;
	}
	/* The stream lives on at nghttp2 until the reset goes out. */
	nghttp2_session_set_stream_user_data(conn->sess, req->stream_id,
	    NULL);
	nghttp2_submit_rst_stream(conn->sess, NGHTTP2_FLAG_NONE,
	    req->stream_id, NGHTTP2_CANCEL);
	req_detach(req);
	req_complete(req, H2_ETIMEOUT, "timed out waiting for the response");
	conn_schedule_flush(conn);
}

/* nghttp2 callbacks: record, never free the session from here. */

static ssize_t
body_read_cb(nghttp2_session *sess, int32_t stream_id, uint8_t *buf,
    size_t length, uint32_t *data_flags, nghttp2_data_source *source,
    void *user_data)
{
	struct h2_req *req = source->ptr;
	size_t n;

	n = req->body_len - req->body_off;
	if (n > length)
		n = length;
	memcpy(buf, req->body + req->body_off, n);
	req->body_off += n;
	if (req->body_off == req->body_len)
		*data_flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

static int
on_header_cb(nghttp2_session *sess, const nghttp2_frame *frame,
    const uint8_t *name, size_t namelen, const uint8_t *value,
    size_t valuelen, uint8_t flags, void *user_data)
{
	struct h2_req *req;
	char buf[8];

	if (frame->hd.type != NGHTTP2_HEADERS ||
	    frame->headers.cat != NGHTTP2_HCAT_RESPONSE)
		return 0;
	req = nghttp2_session_get_stream_user_data(sess, frame->hd.stream_id);
	if (req == NULL)
		return 0;
	if (namelen == 7 && memcmp(name, ":status", 7) == 0 &&
	    valuelen < sizeof(buf)) {
		memcpy(buf, value, valuelen);
		buf[valuelen] = '\0';
		req->status = atoi(buf);
		req->got_response = true;
	}
	return 0;
}

static int
on_data_chunk_cb(nghttp2_session *sess, uint8_t flags, int32_t stream_id,
    const uint8_t *data, size_t len, void *user_data)
{
	struct h2_req *req;
	size_t room;

	req = nghttp2_session_get_stream_user_data(sess, stream_id);
	if (req == NULL)
		return 0;
	if (req->resp == NULL)
		req->resp = pu_malloc(H2_MAX_BODY + 1);
	room = H2_MAX_BODY - req->resp_len;
	if (len > room)
		len = room;
	memcpy(req->resp + req->resp_len, data, len);
	req->resp_len += len;
	req->resp[req->resp_len] = '\0';
	return 0;
}

static int
on_frame_send_cb(nghttp2_session *sess, const nghttp2_frame *frame,
    void *user_data)
{
	struct h2_req *req;

	if (frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	req = nghttp2_session_get_stream_user_data(sess, frame->hd.stream_id);
	if (req != NULL)
		req->headers_sent = true;
	return 0;
}

static int
on_frame_recv_cb(nghttp2_session *sess, const nghttp2_frame *frame,
    void *user_data)
{
	struct h2_conn *conn = user_data;
	struct h2_client *cl = conn->cl;

	switch (frame->hd.type) {
	case NGHTTP2_GOAWAY:
		cl->stats.goaways++;
		conn->goaway_last = frame->goaway.last_stream_id;
		h2_log(cl, H2_LOG_INFO, "%s: connection %u: GOAWAY "
		    "(last stream %d, error %u%s%.*s): draining", cl->authority,
		    conn->id, frame->goaway.last_stream_id,
		    frame->goaway.error_code,
		    frame->goaway.opaque_data_len > 0 ? ", " : "",
		    (int)(frame->goaway.opaque_data_len > 200 ? 200 :
		    frame->goaway.opaque_data_len),
		    (const char *)frame->goaway.opaque_data);
		conn->state = CONN_DRAINING;
		/* A replacement connects while this one finishes. */
		client_maintain(cl);
		break;
	case NGHTTP2_SETTINGS:
		if (frame->hd.flags & NGHTTP2_FLAG_ACK)
			break;
		if (conn->state == CONN_CONNECTING)
			conn_ready(conn);
		/* The server may have raised MAX_CONCURRENT_STREAMS. */
		client_schedule_dispatch(cl);
		break;
	case NGHTTP2_PING:
		if (frame->hd.flags & NGHTTP2_FLAG_ACK)
			conn->ping_outstanding = false;
		break;
	}
	return 0;
}

static void
conn_ready(struct h2_conn *conn)
{
	struct h2_client *cl = conn->cl;

	conn->state = CONN_READY;
	cl->backoff_ms = 0;
	cl->stats.connects++;
	/* The PING timer watches from now on. */
	bufferevent_set_timeouts(conn->bev, NULL, NULL);
	event_base_gettimeofday_cached(cl->base, &conn->last_read);
	h2_log(cl, H2_LOG_DEBUG, "%s: connection %u ready (%u streams)",
	    cl->authority, conn->id, nghttp2_session_get_remote_settings(
	    conn->sess, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS));
}

static int
on_stream_close_cb(nghttp2_session *sess, int32_t stream_id,
    uint32_t error_code, void *user_data)
{
	struct h2_conn *conn = user_data;
	struct h2_client *cl = conn->cl;
	struct h2_req *req;
	char why[128];

	conn->nstreams--;
	client_schedule_dispatch(cl);
	if ((req = nghttp2_session_get_stream_user_data(sess, stream_id)) ==
	    NULL)
		return 0;	/* timed out earlier */
	req_detach(req);
	if (req->got_response && error_code == NGHTTP2_NO_ERROR) {
		req_complete(req, H2_OK, NULL);
		return 0;
	}
	if (!req->got_response && (error_code == NGHTTP2_REFUSED_STREAM ||
	    !req->headers_sent || (conn->goaway_last >= 0 &&
	    stream_id > conn->goaway_last))) {
		req_requeue(req, "stream refused too often");
		return 0;
	}
	snprintf(why, sizeof(why), "stream reset by the server (%s)",
	    nghttp2_http2_strerror(error_code));
	req_complete(req, H2_ECONN, why);
	return 0;
}

/* Connections */

/*
 * Frames go to the TLS bufferevent in contiguous runs of up to
 * H2_WRITE_CHUNK bytes, written in place with evbuffer_reserve_space:
 * bufferevent_openssl makes a TLS record and a write(2) for every
 * evbuffer_add, and for every chain an add may spill into, while nghttp2
 * hands out one frame at a time.  Adding each frame on its own cost two
 * records, two system calls and two wake-ups of the server per request.
 */
struct h2_out {
	struct evbuffer		*buf;
	struct evbuffer_iovec	 v;
	size_t			 have;	/* bytes written into v */
	bool			 open;	/* v is reserved */
};

static int
out_commit(struct h2_out *o)
{
	if (!o->open)
		return 0;
	o->open = false;
	o->v.iov_len = o->have;
	return evbuffer_commit_space(o->buf, &o->v, 1);
}

static int
out_put(struct h2_out *o, const uint8_t *data, size_t len)
{
	if (o->open && o->v.iov_len - o->have < len && out_commit(o) == -1)
		return -1;
	if (!o->open) {
		if (evbuffer_reserve_space(o->buf, (ev_ssize_t)(len >
		    H2_WRITE_CHUNK ? len : H2_WRITE_CHUNK), &o->v, 1) != 1)
			return -1;
		o->open = true;
		o->have = 0;
	}
	memcpy((uint8_t *)o->v.iov_base + o->have, data, len);
	o->have += len;
	return 0;
}

static void
conn_flush(struct h2_conn *conn)
{
	struct h2_out o;
	const uint8_t *data;
	ssize_t n;

	if (conn->dead || conn->sess == NULL)
		return;
	memset(&o, 0, sizeof(o));
	o.buf = bufferevent_get_output(conn->bev);
	while (evbuffer_get_length(o.buf) + o.have < H2_OUT_HIGH) {
		n = nghttp2_session_mem_send(conn->sess, &data);
		if (n < 0) {
			(void)out_commit(&o);
			conn->dead = true;
			conn->dead_kind = H2_ECONN;
			snprintf(conn->dead_reason, sizeof(conn->dead_reason),
			    "HTTP/2 error: %s", nghttp2_strerror((int)n));
			return;
		}
		if (n == 0)
			break;
		if (out_put(&o, data, (size_t)n) == -1)
			goto oom;
	}
	if (out_commit(&o) == 0)
		return;
oom:
	conn->dead = true;
	conn->dead_kind = H2_ECONN;
	snprintf(conn->dead_reason, sizeof(conn->dead_reason),
	    "out of buffer space");
}

/*
 * The frames of a turn go out in that turn.  bufferevent_openssl
 * (libevent 2.1) adds its write event when output arrives and writes once
 * the socket reports writable, a turn later: an epoll_ctl to add the
 * event, a wake-up and an epoll_ctl to remove it, for every flush, which
 * at a few requests per turn cost more than the write.  It has no flush
 * operation (its flush method is a stub), so its own write event is run
 * now: it writes, and removes the event it added in this turn, which the
 * epoll changelist then never applies.  A socket that takes less leaves
 * the event added, and libevent writes the rest when the socket drains.
 */
static void
conn_write_now(struct h2_conn *conn)
{
	if (evbuffer_get_length(bufferevent_get_output(conn->bev)) > 0)
		event_active(&conn->bev->ev_write, EV_WRITE, 1);
}

static void
conn_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct h2_conn *conn = arg;

	conn_flush(conn);
	if (!conn->dead && conn->sess != NULL)
		conn_write_now(conn);
	conn_check(conn);
}

static void
conn_schedule_flush(struct h2_conn *conn)
{
	if (conn->flush_ev != NULL && !event_pending(conn->flush_ev,
	    EV_TIMEOUT, NULL))
		event_active(conn->flush_ev, EV_TIMEOUT, 0);
}

/* Acts on what the callbacks recorded; may free conn. */
static void
conn_check(struct h2_conn *conn)
{
	if (conn->dead) {
		conn_free(conn, conn->dead_kind, conn->dead_reason);
		return;
	}
	if (conn->sess == NULL)
		return;
	if (conn->state == CONN_DRAINING && conn->nstreams == 0 &&
	    evbuffer_get_length(bufferevent_get_output(conn->bev)) == 0) {
		conn_free(conn, H2_ECONN, "drained");
		return;
	}
	if (!nghttp2_session_want_read(conn->sess) &&
	    !nghttp2_session_want_write(conn->sess) &&
	    evbuffer_get_length(bufferevent_get_output(conn->bev)) == 0)
		conn_free(conn, H2_ECONN, "HTTP/2 session ended");
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct h2_conn *conn = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_iovec v[8];
	ssize_t n;
	size_t total;
	int i, nv;

	event_base_gettimeofday_cached(conn->cl->base, &conn->last_read);
	conn->ping_outstanding = false;
	while (!conn->dead && (total = evbuffer_get_length(in)) > 0) {
		nv = evbuffer_peek(in, -1, NULL, v, 8);
		if (nv > 8)
			nv = 8;
		total = 0;
		for (i = 0; i < nv && !conn->dead; i++) {
			n = nghttp2_session_mem_recv(conn->sess, v[i].iov_base,
			    v[i].iov_len);
			if (n < 0) {
				conn->dead = true;
				conn->dead_kind = H2_ECONN;
				snprintf(conn->dead_reason,
				    sizeof(conn->dead_reason),
				    "HTTP/2 protocol error: %s",
				    nghttp2_strerror((int)n));
				break;
			}
			total += v[i].iov_len;
		}
		evbuffer_drain(in, total);
	}
	/*
	 * What the input made nghttp2 want to send (SETTINGS and PING
	 * acknowledgements, WINDOW_UPDATE) goes out with the requests of
	 * this loop turn, in one write.
	 */
	conn_schedule_flush(conn);
	conn_check(conn);
}

static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct h2_conn *conn = arg;

	/* Output drained below the low-water mark: frame more. */
	conn_flush(conn);
	conn_check(conn);
}

static void
conn_ping_cb(evutil_socket_t fd, short what, void *arg)
{
	struct h2_conn *conn = arg;
	struct h2_client *cl = conn->cl;
	struct timeval now, idle;

	if (conn->sess == NULL)
		return;
	if (conn->ping_outstanding) {
		conn->dead = true;
		conn->dead_kind = H2_ECONN;
		snprintf(conn->dead_reason, sizeof(conn->dead_reason),
		    "no answer to PING: connection dead");
		conn_check(conn);
		return;
	}
	event_base_gettimeofday_cached(cl->base, &now);
	timersub(&now, &conn->last_read, &idle);
	if (idle.tv_sec * 1000 + idle.tv_usec / 1000 <
	    cl->cfg.ping_interval_ms - 50)
		return;
	if (nghttp2_submit_ping(conn->sess, NGHTTP2_FLAG_NONE, NULL) == 0) {
		conn->ping_outstanding = true;
		conn_schedule_flush(conn);
	}
}

static bool
alpn_is_h2(SSL *ssl, char *got, size_t gotlen)
{
	const unsigned char *p = NULL;
	unsigned int len = 0;

	SSL_get0_alpn_selected(ssl, &p, &len);
	if (p == NULL || len == 0) {
		snprintf(got, gotlen, "no protocol");
		return false;
	}
	snprintf(got, gotlen, "'%.*s'", (int)len, (const char *)p);
	return len == 2 && memcmp(p, "h2", 2) == 0;
}

static int
conn_session_start(struct h2_conn *conn)
{
	nghttp2_session_callbacks *cbs;
	nghttp2_option *opt;
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100 },
	};
	int rv;

	if (nghttp2_session_callbacks_new(&cbs) != 0)
		return -1;
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header_cb);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs,
	    on_data_chunk_cb);
	nghttp2_session_callbacks_set_on_frame_send_callback(cbs,
	    on_frame_send_cb);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs,
	    on_frame_recv_cb);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs,
	    on_stream_close_cb);
	if (nghttp2_option_new(&opt) != 0) {
		nghttp2_session_callbacks_del(cbs);
		return -1;
	}
	/* We keep the PING timer: nghttp2 answers the server's PINGs. */
	rv = nghttp2_session_client_new2(&conn->sess, cbs, conn, opt);
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cbs);
	if (rv != 0)
		return -1;
	if (nghttp2_submit_settings(conn->sess, NGHTTP2_FLAG_NONE, iv,
	    sizeof(iv) / sizeof(iv[0])) != 0)
		return -1;
	return 0;
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct h2_conn *conn = arg;
	struct h2_client *cl = conn->cl;
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	char got[64], buf[300], tls[200];
	unsigned long e;
	long vr;
	int one = 1, err, dnserr, soerr;
	socklen_t solen;

	if (what & BEV_EVENT_CONNECTED) {
		if (!alpn_is_h2(ssl, got, sizeof(got))) {
			snprintf(buf, sizeof(buf), "%s: the server did not "
			    "select ALPN h2 (it chose %s): not an HTTP/2 "
			    "server, refused", cl->authority, got);
			conn_free(conn, H2_EALPN, buf);
			return;
		}
		setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY,
		    &one, sizeof(one));
		if (conn_session_start(conn) == -1) {
			conn_free(conn, H2_ECONN, "cannot start an HTTP/2 "
			    "session");
			return;
		}
		/*
		 * Ready once the server's SETTINGS arrive: streams sent
		 * before we know its MAX_CONCURRENT_STREAMS may be refused.
		 */
		h2_log(cl, H2_LOG_DEBUG, "%s: connection %u: %s, ALPN h2",
		    cl->authority, conn->id, SSL_get_version(ssl));
		conn_schedule_flush(conn);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		snprintf(buf, sizeof(buf), "%s: timed out %s", cl->authority,
		    conn->state == CONN_CONNECTING ? "connecting" :
		    "reading");
		conn_free(conn, H2_ECONN, buf);
		return;
	}
	/* The socket's own error says more than TLS's view of it. */
	soerr = 0;
	solen = sizeof(soerr);
	if (bufferevent_getfd(bev) != -1)
		getsockopt(bufferevent_getfd(bev), SOL_SOCKET, SO_ERROR,
		    &soerr, &solen);
	err = soerr != 0 ? soerr : EVUTIL_SOCKET_ERROR();
	if (what & BEV_EVENT_EOF) {
		if (conn->state == CONN_CONNECTING && soerr != 0)
			snprintf(buf, sizeof(buf), "%s: %s", cl->authority,
			    evutil_socket_error_to_string(soerr));
		else
			snprintf(buf, sizeof(buf), "%s: %s", cl->authority,
			    conn->state == CONN_CONNECTING ? "connection "
			    "refused, or closed during the TLS handshake" :
			    "connection closed by the server");
		conn_free(conn, H2_ECONN, buf);
		return;
	}
	/* BEV_EVENT_ERROR: socket, DNS or TLS. */
	dnserr = bufferevent_socket_get_dns_error(bev);
	tls[0] = '\0';
	while ((e = bufferevent_get_openssl_error(bev)) != 0) {
		/* libevent files system errors there as library 0. */
		if (ERR_GET_LIB(e) != 0)
			ERR_error_string_n(e, tls, sizeof(tls));
	}
	vr = SSL_get_verify_result(ssl);
	if (dnserr != 0)
		snprintf(buf, sizeof(buf), "%s: cannot resolve: %s",
		    cl->authority, evutil_gai_strerror(dnserr));
	else if (conn->state == CONN_CONNECTING && vr != X509_V_OK)
		snprintf(buf, sizeof(buf), "%s: server certificate refused: "
		    "%s", cl->authority, X509_verify_cert_error_string(vr));
	else if (tls[0] != '\0')
		snprintf(buf, sizeof(buf), "%s: TLS: %s", cl->authority, tls);
	else if (err != 0)
		snprintf(buf, sizeof(buf), "%s: %s", cl->authority,
		    evutil_socket_error_to_string(err));
	else
		snprintf(buf, sizeof(buf), "%s: connection lost",
		    cl->authority);
	conn_free(conn, H2_ECONN, buf);
}

static void
conn_open(struct h2_client *cl)
{
	struct h2_conn *conn;
	SSL *ssl;
	char buf[300];

	if ((ssl = SSL_new(cl->ctx)) == NULL)
		goto fail;
	if (cl->host_is_ip) {
		/* RFC 6066: no IP literals in SNI; verify the address. */
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
		    cl->host) != 1)
			goto fail_ssl;
	} else {
		if (SSL_set_tlsext_host_name(ssl, cl->host) != 1 ||
		    SSL_set1_host(ssl, cl->host) != 1)
			goto fail_ssl;
	}
	conn = pu_calloc(1, sizeof(*conn));
	conn->cl = cl;
	conn->id = ++cl->next_conn_id;
	conn->state = CONN_CONNECTING;
	conn->goaway_last = -1;
	TAILQ_INIT(&conn->streams);
	conn->bev = bufferevent_openssl_socket_new(cl->base, -1, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (conn->bev == NULL) {
		free(conn);
		goto fail_ssl;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(conn->bev, 1);
	bufferevent_setcb(conn->bev, conn_read_cb, conn_write_cb,
	    conn_event_cb, conn);
	bufferevent_setwatermark(conn->bev, EV_WRITE, H2_OUT_HIGH / 4, 0);
	{
		/* Connect, TLS and the server's SETTINGS within this. */
		struct timeval tv = {
			.tv_sec = cl->cfg.request_timeout_ms / 1000,
			.tv_usec = (cl->cfg.request_timeout_ms % 1000) * 1000,
		};

		bufferevent_set_timeouts(conn->bev, &tv, NULL);
	}
	bufferevent_enable(conn->bev, EV_READ | EV_WRITE);
	conn->flush_ev = event_new(cl->base, -1, 0, conn_flush_cb, conn);
	conn->ping_ev = event_new(cl->base, -1, EV_PERSIST, conn_ping_cb,
	    conn);
	if (conn->flush_ev == NULL || conn->ping_ev == NULL)
		abort();
	if (cl->cfg.ping_interval_ms > 0) {
		struct timeval tv = {
			.tv_sec = cl->cfg.ping_interval_ms / 1000,
			.tv_usec = (cl->cfg.ping_interval_ms % 1000) * 1000,
		};
		event_add(conn->ping_ev, &tv);
	}
	TAILQ_INSERT_TAIL(&cl->conns, conn, entry);
	h2_log(cl, H2_LOG_DEBUG, "%s: connection %u connecting",
	    cl->authority, conn->id);
	if (bufferevent_socket_connect_hostname(conn->bev, cl->dns, AF_UNSPEC,
	    cl->host, cl->cfg.port) != 0) {
		/* The event callback may already have freed conn: no use. */
		return;
	}
	return;
fail_ssl:
	SSL_free(ssl);
fail:
	pu_ssl_error(buf, sizeof(buf), "unknown TLS error");
	snprintf(cl->last_error, sizeof(cl->last_error), "%s: TLS setup: %s",
	    cl->authority, buf);
	cl->last_error_kind = H2_ECONN;
	h2_log(cl, H2_LOG_WARN, "%s", cl->last_error);
}

static void
conn_free(struct h2_conn *conn, enum h2_error kind, const char *reason)
{
	struct h2_client *cl = conn->cl;
	struct h2_req *req;
	bool was_ready = conn->state != CONN_CONNECTING;
	bool graceful = conn->state == CONN_DRAINING && conn->nstreams == 0;

	TAILQ_REMOVE(&cl->conns, conn, entry);
	if (!graceful) {
		snprintf(cl->last_error, sizeof(cl->last_error), "%s",
		    reason);
		cl->last_error_kind = kind;
		h2_log(cl, kind == H2_EALPN || !was_ready ? H2_LOG_WARN :
		    H2_LOG_INFO, "connection %u: %s", conn->id, reason);
	} else
		h2_log(cl, H2_LOG_DEBUG, "%s: connection %u drained and closed",
		    cl->authority, conn->id);

	/* Detach every stream first: nghttp2_session_del must find none. */
	while ((req = TAILQ_FIRST(&conn->streams)) != NULL) {
		if (conn->sess != NULL)
			nghttp2_session_set_stream_user_data(conn->sess,
			    req->stream_id, NULL);
		req_detach(req);
		if (!req->headers_sent || (conn->goaway_last >= 0 &&
		    req->stream_id > conn->goaway_last))
			req_requeue(req, reason);
		else
			req_complete(req, kind == H2_EALPN ? H2_EALPN :
			    H2_ECONN, reason);
	}
	if (conn->sess != NULL)
		nghttp2_session_del(conn->sess);
	event_free(conn->flush_ev);
	event_free(conn->ping_ev);
	bufferevent_free(conn->bev);
	free(conn);

	if (!was_ready) {
		/* Back off before dialling again. */
		if (cl->backoff_ms == 0)
			cl->backoff_ms = cl->cfg.backoff_min_ms;
		else if ((cl->backoff_ms *= 2) > cl->cfg.backoff_max_ms)
			cl->backoff_ms = cl->cfg.backoff_max_ms;
		if (!event_pending(cl->backoff_ev, EV_TIMEOUT, NULL)) {
			struct timeval tv = {
				.tv_sec = cl->backoff_ms / 1000,
				.tv_usec = (cl->backoff_ms % 1000) * 1000,
			};
			event_add(cl->backoff_ev, &tv);
		}
		/*
		 * Nothing to send them on soon: answer the waiting requests
		 * now rather than at their timeout, so the core can retry.
		 */
		if (!h2_client_ready(cl)) {
			while ((req = TAILQ_FIRST(&cl->queue)) != NULL) {
				TAILQ_REMOVE(&cl->queue, req, entry);
				cl->nqueued--;
				req_complete(req, kind, reason);
			}
		}
	}
	client_maintain(cl);
	client_schedule_dispatch(cl);
}

/* Client */

static size_t
conn_max_streams(struct h2_conn *conn)
{
	uint32_t max;

	max = nghttp2_session_get_remote_settings(conn->sess,
	    NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
	return max > H2_STREAM_CAP ? H2_STREAM_CAP : max;
}

static size_t
conn_capacity(struct h2_conn *conn)
{
	size_t max = conn_max_streams(conn);

	return conn->nstreams >= max ? 0 : max - conn->nstreams;
}

/* Takes new streams: up, not draining, not failed. */
static bool
conn_usable(const struct h2_conn *conn)
{
	return conn->state == CONN_READY && !conn->dead;
}

static int
conn_submit(struct h2_conn *conn, struct h2_req *req)
{
	nghttp2_data_provider prd;
	int32_t id;

	prd.source.ptr = req;
	prd.read_callback = body_read_cb;
	id = nghttp2_submit_request(conn->sess, NULL, req->nv, req->nnv,
	    req->body_len > 0 ? &prd : NULL, req);
	if (id < 0)
		return -1;
	req->stream_id = id;
	req->conn = conn;
	conn->nstreams++;
	conn->cl->ninflight++;
	TAILQ_INSERT_TAIL(&conn->streams, req, entry);
	return 0;
}

/* The usable connection with the most free streams, or NULL: none. */
static struct h2_conn *
client_most_room(struct h2_client *cl)
{
	struct h2_conn *conn, *best = NULL;
	size_t room, best_room = 0;

	TAILQ_FOREACH(conn, &cl->conns, entry) {
		if (conn_usable(conn) &&
		    (room = conn_capacity(conn)) > best_room) {
			best = conn;
			best_room = room;
		}
	}
	return best;
}

/*
 * The requests of a loop turn go to the connection with the most free
 * streams, all of them while it has room: one TLS write for the batch,
 * where spreading it request by request wrote to every connection of the
 * pool each turn; the loads still even out from turn to turn.
 */
static void
client_dispatch(struct h2_client *cl)
{
	struct h2_conn *best = NULL;
	struct h2_req *req;

	while ((req = TAILQ_FIRST(&cl->queue)) != NULL) {
		if ((best == NULL || conn_capacity(best) == 0) &&
		    (best = client_most_room(cl)) == NULL)
			break;
		TAILQ_REMOVE(&cl->queue, req, entry);
		cl->nqueued--;
		if (conn_submit(best, req) == -1) {
			/* Stream ids exhausted: retire this connection. */
			best->state = CONN_DRAINING;
			best = NULL;
			TAILQ_INSERT_HEAD(&cl->queue, req, entry);
			cl->nqueued++;
			client_maintain(cl);
			continue;
		}
		conn_schedule_flush(best);
	}
	if (cl->ninflight + cl->nqueued > cl->peak_demand)
		cl->peak_demand = cl->ninflight + cl->nqueued;
	client_grow(cl);
}

static void
client_dispatch_cb(evutil_socket_t fd, short what, void *arg)
{
	client_dispatch(arg);
}

/*
 * The connections that are not draining or failed, the streams they allow
 * and those open on them; false while one of them is still connecting
 * (the pool's size is not known until its SETTINGS arrive).
 */
static bool
client_pool(struct h2_client *cl, size_t *live_r, size_t *cap_r,
    size_t *busy_r)
{
	struct h2_conn *conn;

	*live_r = *cap_r = *busy_r = 0;
	TAILQ_FOREACH(conn, &cl->conns, entry) {
		if (conn->dead || conn->state == CONN_DRAINING)
			continue;
		if (conn->state == CONN_CONNECTING)
			return false;
		(*live_r)++;
		*cap_r += conn_max_streams(conn);
		*busy_r += conn->nstreams;
	}
	return true;
}

/*
 * One more connection when the demand reaches H2_GROW_SHARE % of the
 * streams the usable connections allow: one handshake at a time, none
 * during a reconnect backoff, at most pool_size.
 */
static void
client_grow(struct h2_client *cl)
{
	size_t live, cap, busy;

	if (cl->ctx == NULL || event_pending(cl->backoff_ev, EV_TIMEOUT, NULL))
		return;
	if (!client_pool(cl, &live, &cap, &busy) || live == 0 ||
	    live >= (size_t)cl->cfg.pool_size ||
	    (busy + cl->nqueued) * 100 < cap * H2_GROW_SHARE)
		return;
	h2_log(cl, H2_LOG_DEBUG, "%s: %zu streams wanted of %zu on %zu "
	    "connections: dialling one more", cl->authority,
	    busy + cl->nqueued, cap, live);
	conn_open(cl);
}

/* The usable connection with the fewest streams, or NULL. */
static struct h2_conn *
client_least_loaded(struct h2_client *cl)
{
	struct h2_conn *conn, *least = NULL;

	TAILQ_FOREACH(conn, &cl->conns, entry)
		if (conn_usable(conn) && (least == NULL ||
		    conn->nstreams < least->nstreams))
			least = conn;
	return least;
}

/*
 * Every idle_timeout_ms: keep the connections that this period's peak
 * demand needed at H2_SHRINK_SHARE % of their streams, at least
 * H2_POOL_MIN; the others take no new streams and close once their
 * streams are answered (conn_check).  Nothing is cut while a handshake
 * is pending: the period's figures do not count that connection yet.
 */
static void
client_reap(struct h2_client *cl)
{
	struct h2_conn *conn;
	size_t cap, live, busy, needed, peak = cl->peak_demand;

	cl->peak_demand = cl->ninflight + cl->nqueued;
	if (!client_pool(cl, &live, &cap, &busy) || cap == 0)
		return;
	/* cap / live streams a connection: the pool that holds peak. */
	needed = (peak * live * 100 + cap * H2_SHRINK_SHARE - 1) /
	    (cap * H2_SHRINK_SHARE);
	if (needed < H2_POOL_MIN)
		needed = H2_POOL_MIN;
	while (live > needed && (conn = client_least_loaded(cl)) != NULL) {
		h2_log(cl, H2_LOG_INFO, "%s: connection %u: not needed for "
		    "%d ms (peak %zu streams): closing, %zu left",
		    cl->authority, conn->id, cl->cfg.idle_timeout_ms, peak,
		    live - 1);
		conn->state = CONN_DRAINING;
		conn_schedule_flush(conn);
		live--;
	}
}

static void
client_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	client_reap(arg);
}

static void
client_schedule_dispatch(struct h2_client *cl)
{
	if (!event_pending(cl->dispatch_ev, EV_TIMEOUT, NULL))
		event_active(cl->dispatch_ev, EV_TIMEOUT, 0);
}

/*
 * Keeps H2_POOL_MIN connections connecting or ready, so that a push after
 * a quiet spell finds one up; client_grow() adds more under load.
 */
static void
client_maintain(struct h2_client *cl)
{
	struct h2_conn *conn;
	int live = 0;

	if (cl->ctx == NULL || event_pending(cl->backoff_ev, EV_TIMEOUT, NULL))
		return;
	TAILQ_FOREACH(conn, &cl->conns, entry)
		if (conn->state != CONN_DRAINING && !conn->dead)
			live++;
	for (; live < H2_POOL_MIN; live++)
		conn_open(cl);
}

static void
client_backoff_cb(evutil_socket_t fd, short what, void *arg)
{
	client_maintain(arg);
}

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Requests wait, nothing is up or dialling, and the backoff timer holds
 * client_maintain() back: dial one connection now if H2_ONDEMAND_MIN_MS
 * passed since the last on-demand dial, else when it will have.
 */
static void
client_dial_on_demand(struct h2_client *cl)
{
	struct h2_conn *conn;
	uint64_t now;
	struct timeval tv;

	if (cl->ctx == NULL || TAILQ_EMPTY(&cl->queue) ||
	    !event_pending(cl->backoff_ev, EV_TIMEOUT, NULL))
		return;
	TAILQ_FOREACH(conn, &cl->conns, entry)
		if (conn->state != CONN_DRAINING && !conn->dead)
			return;
	now = mono_ms();
	if (cl->ondemand_last != 0 &&
	    now - cl->ondemand_last < H2_ONDEMAND_MIN_MS) {
		if (!event_pending(cl->ondemand_ev, EV_TIMEOUT, NULL)) {
			now = H2_ONDEMAND_MIN_MS - (now - cl->ondemand_last);
			tv.tv_sec = (time_t)(now / 1000);
			tv.tv_usec = (suseconds_t)(now % 1000) * 1000;
			event_add(cl->ondemand_ev, &tv);
		}
		return;
	}
	cl->ondemand_last = now;
	h2_log(cl, H2_LOG_DEBUG, "%s: a request waits: dialling now, not "
	    "after the backoff", cl->authority);
	conn_open(cl);
}

static void
client_ondemand_cb(evutil_socket_t fd, short what, void *arg)
{
	client_dial_on_demand(arg);
}

static bool
host_is_ip(const char *host)
{
	struct in6_addr a6;
	struct in_addr a4;

	return inet_pton(AF_INET, host, &a4) == 1 ||
	    inet_pton(AF_INET6, host, &a6) == 1;
}

struct h2_client *
h2_client_new(struct event_base *base, const struct h2_config *cfg,
    SSL_CTX *ctx, char **error_r)
{
	struct h2_client *cl;
	struct timeval tv;

	if (cfg->host == NULL || *cfg->host == '\0' || cfg->port <= 0 ||
	    cfg->port > 65535) {
		*error_r = pu_strdup("h2: no host or bad port");
		return NULL;
	}
	cl = pu_calloc(1, sizeof(*cl));
	cl->base = base;
	cl->cfg = *cfg;
	cl->host = pu_strdup(cfg->host);
	cl->cfg.host = cl->host;
	if (cl->cfg.pool_size < 1)
		cl->cfg.pool_size = 1;
	if (cl->cfg.queue_size < 1)
		cl->cfg.queue_size = 1;
	if (cl->cfg.request_timeout_ms <= 0)
		cl->cfg.request_timeout_ms = 10000;
	if (cl->cfg.backoff_min_ms <= 0)
		cl->cfg.backoff_min_ms = 100;
	if (cl->cfg.backoff_max_ms < cl->cfg.backoff_min_ms)
		cl->cfg.backoff_max_ms = 30000;
	cl->host_is_ip = host_is_ip(cl->host);
	cl->authority = strchr(cl->host, ':') != NULL ?
	    pu_asprintf("[%s]:%d", cl->host, cfg->port) :
	    pu_asprintf("%s:%d", cl->host, cfg->port);
	TAILQ_INIT(&cl->conns);
	TAILQ_INIT(&cl->queue);
	cl->dispatch_ev = event_new(base, -1, 0, client_dispatch_cb, cl);
	cl->backoff_ev = event_new(base, -1, 0, client_backoff_cb, cl);
	cl->ondemand_ev = event_new(base, -1, 0, client_ondemand_cb, cl);
	if (cl->dispatch_ev == NULL || cl->backoff_ev == NULL ||
	    cl->ondemand_ev == NULL)
		abort();
	if (cl->cfg.idle_timeout_ms > 0) {
		tv.tv_sec = cl->cfg.idle_timeout_ms / 1000;
		tv.tv_usec = (cl->cfg.idle_timeout_ms % 1000) * 1000;
		if ((cl->reap_ev = event_new(base, -1, EV_PERSIST,
		    client_reap_cb, cl)) == NULL)
			abort();
		event_add(cl->reap_ev, &tv);
	}
	if (!cl->host_is_ip && (cl->dns = evdns_base_new(base,
	    EVDNS_BASE_INITIALIZE_NAMESERVERS)) == NULL) {
		*error_r = pu_strdup("h2: cannot set up the DNS resolver");
		cl->ctx = NULL;
		h2_client_free(&cl);
		return NULL;
	}
	/* Every request shares one timeout: libevent's O(1) common queue. */
	tv.tv_sec = cl->cfg.request_timeout_ms / 1000;
	tv.tv_usec = (cl->cfg.request_timeout_ms % 1000) * 1000;
	cl->req_timeout = event_base_init_common_timeout(base, &tv);
	if (ctx != NULL)
		h2_client_set_tls(cl, ctx);
	return cl;
}

void
h2_client_set_tls(struct h2_client *cl, SSL_CTX *ctx)
{
	struct h2_conn *conn;

	SSL_CTX_up_ref(ctx);
	if (cl->ctx != NULL) {
		SSL_CTX_free(cl->ctx);
		TAILQ_FOREACH(conn, &cl->conns, entry) {
			if (conn->state == CONN_READY) {
				conn->state = CONN_DRAINING;
				conn_schedule_flush(conn);
			}
		}
		/* The old credentials failed maybe: dial again at once. */
		event_del(cl->backoff_ev);
		cl->backoff_ms = 0;
	}
	cl->ctx = ctx;
	/* Connections still dialling with the old context: let them be. */
	client_maintain(cl);
	client_schedule_dispatch(cl);
}

int
h2_client_request(struct h2_client *cl, const struct h2_request *r,
    h2_done_cb *cb, void *arg)
{
	static const char *pseudo[] = { ":method", ":scheme", ":authority",
	    ":path" };
	const char *pval[4];
	struct h2_req *req;
	size_t i, n, len, off;
	char *buf;

	if (cl->nqueued >= cl->cfg.queue_size)
		return -1;
	pval[0] = r->method;
	pval[1] = "https";
	pval[2] = cl->authority;
	pval[3] = r->path;
	n = 4 + r->nheaders;
	len = r->body_len;
	for (i = 0; i < 4; i++)
		len += strlen(pseudo[i]) + strlen(pval[i]) + 2;
	for (i = 0; i < r->nheaders; i++)
		len += strlen(r->headers[i].name) +
		    strlen(r->headers[i].value) + 2;

	/* One allocation: the nv array, its strings, the body. */
	req = pu_calloc(1, sizeof(*req));
	req->nv = pu_malloc(n * sizeof(nghttp2_nv) + len);
	buf = (char *)(req->nv + n);
	off = 0;
	for (i = 0; i < n; i++) {
		const char *name = i < 4 ? pseudo[i] : r->headers[i - 4].name;
		const char *value = i < 4 ? pval[i] : r->headers[i - 4].value;
		size_t nl = strlen(name), vl = strlen(value);

		memcpy(buf + off, name, nl + 1);
		req->nv[i].name = (uint8_t *)buf + off;
		req->nv[i].namelen = nl;
		off += nl + 1;
		memcpy(buf + off, value, vl + 1);
		req->nv[i].value = (uint8_t *)buf + off;
		req->nv[i].valuelen = vl;
		off += vl + 1;
		req->nv[i].flags = NGHTTP2_NV_FLAG_NONE;
	}
	if (r->body_len > 0)
		memcpy(buf + off, r->body, r->body_len);
	req->body = (unsigned char *)buf + off;
	req->body_len = r->body_len;
	req->nnv = n;
	req->cl = cl;
	req->stream_id = -1;
	req->cb = cb;
	req->arg = arg;
	req->timer = evtimer_new(cl->base, req_timeout_cb, req);
	if (req->timer == NULL)
		abort();
	evtimer_add(req->timer, cl->req_timeout);
	TAILQ_INSERT_TAIL(&cl->queue, req, entry);
	cl->nqueued++;
	client_maintain(cl);
	client_dial_on_demand(cl);
	client_schedule_dispatch(cl);
	return 0;
}

bool
h2_client_ready(const struct h2_client *cl)
{
	const struct h2_conn *conn;

	TAILQ_FOREACH(conn, &cl->conns, entry)
		if (conn->state == CONN_READY && !conn->dead)
			return true;
	return false;
}

const char *
h2_client_last_error(const struct h2_client *cl)
{
	return cl->last_error[0] != '\0' ? cl->last_error : NULL;
}

enum h2_error
h2_client_last_error_kind(const struct h2_client *cl)
{
	return cl->last_error[0] != '\0' ? cl->last_error_kind : H2_OK;
}

void
h2_client_stats(const struct h2_client *cl, struct h2_stats *st)
{
	const struct h2_conn *conn;

	*st = cl->stats;
	st->queued = cl->nqueued;
	st->inflight = cl->ninflight;
	st->ready = 0;
	st->open = 0;
	TAILQ_FOREACH(conn, &cl->conns, entry) {
		st->open++;
		if (conn->state == CONN_READY)
			st->ready++;
	}
}

void
h2_client_free(struct h2_client **clp)
{
	struct h2_client *cl = *clp;
	struct h2_conn *conn;
	struct h2_req *req;

	if (cl == NULL)
		return;
	*clp = NULL;
	while ((conn = TAILQ_FIRST(&cl->conns)) != NULL) {
		TAILQ_REMOVE(&cl->conns, conn, entry);
		while ((req = TAILQ_FIRST(&conn->streams)) != NULL) {
			req_detach(req);
			req_complete(req, H2_ECLOSED, "client shut down");
		}
		if (conn->sess != NULL)
			nghttp2_session_del(conn->sess);
		event_free(conn->flush_ev);
		event_free(conn->ping_ev);
		bufferevent_free(conn->bev);
		free(conn);
	}
	while ((req = TAILQ_FIRST(&cl->queue)) != NULL) {
		TAILQ_REMOVE(&cl->queue, req, entry);
		cl->nqueued--;
		req_complete(req, H2_ECLOSED, "client shut down");
	}
	if (cl->dns != NULL)
		evdns_base_free(cl->dns, 0);
	event_free(cl->dispatch_ev);
	event_free(cl->backoff_ev);
	event_free(cl->ondemand_ev);
	if (cl->reap_ev != NULL)
		event_free(cl->reap_ev);
	if (cl->ctx != NULL)
		SSL_CTX_free(cl->ctx);
	free(cl->authority);
	free(cl->host);
	free(cl);
}
