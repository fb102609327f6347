/*
 * h2srv: HTTP/2 over TLS server for mocks (see h2srv.h).  RFC 9113 by
 * nghttp2's server session, RFC 7301 ALPN (the configured protocol only:
 * a client that does not offer it gets a fatal alert, so "h2 required" is
 * real), TLS by libevent's bufferevent_openssl.
 *
 * GOAWAY after N requests (goaway_after) is graceful: the Nth request's
 * stream is the last-stream-id, every stream up to it is answered, any
 * later one the client already sent is reset with REFUSED_STREAM so the
 * client knows it may retry it elsewhere, and the connection closes once
 * the last answer is out.
 *
 * With alpn set to anything but "h2" the server completes the handshake
 * without ALPN (or with that protocol) and never speaks HTTP/2: it is the
 * "server without h2" the client must refuse.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <json-c/json.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>

#include "test/mock/h2srv.h"

#define H2SRV_MAX_BODY		(64 * 1024)
#define H2SRV_MAX_HEADERS	32
#define H2SRV_WRITE_CHUNK	16384	/* frames coalesced per TLS record */

struct h2srv_conn;

struct h2srv_req {
	TAILQ_ENTRY(h2srv_req) entry;
	struct h2srv_conn *conn;
	int32_t		 stream_id;
	bool		 dispatched;	/* handed to on_request */
	bool		 answered;
	struct h2srv_hdr hdrs[H2SRV_MAX_HEADERS];
	size_t		 nhdrs;
	char		*method;
	char		*path;
	char		*body;
	size_t		 body_len;
	char		*resp;		/* response body */
	size_t		 resp_len;
	size_t		 resp_off;
	void		*data;
};

struct h2srv_conn {
	TAILQ_ENTRY(h2srv_conn) entry;
	struct h2srv	*srv;
	unsigned long	 id;
	struct bufferevent *bev;
	nghttp2_session	*sess;
	TAILQ_HEAD(, h2srv_req) reqs;
	unsigned int	 nreqs;		/* requests seen on it */
	int32_t		 goaway_last;	/* -1: none sent */
	bool		 dead;
	bool		 in_recv;	/* inside nghttp2: no sending */
	bool		 closing;	/* write side shut, draining input */
	struct event	*linger_ev;
	void		*data;
};

struct h2srv {
	struct h2srv_config cfg;
	struct evconnlistener *lev;
	int		 port;
	unsigned long	 nconns;
	unsigned long	 ngoaways;
	TAILQ_HEAD(, h2srv_conn) conns;
};

static void	 conn_free(struct h2srv_conn *);

static void
req_free(struct h2srv_req *req)
{
	size_t i;

	for (i = 0; i < req->nhdrs; i++) {
		free((char *)req->hdrs[i].name);
		free((char *)req->hdrs[i].value);
	}
	free(req->method);
	free(req->path);
	free(req->body);
	free(req->resp);
	free(req);
}

/* Drops a request; the application hears of it if it holds it. */
static void
req_drop(struct h2srv_req *req)
{
	struct h2srv *srv = req->conn->srv;

	TAILQ_REMOVE(&req->conn->reqs, req, entry);
	if (req->dispatched && !req->answered && srv->cfg.on_abort != NULL)
		srv->cfg.on_abort(srv->cfg.arg, req);
	req_free(req);
}

/*
 * Frames are coalesced into runs written in place (evbuffer_reserve_space):
 * over TLS every evbuffer_add, and every chain it spills into, is a record
 * and a write(2), and nghttp2 hands out a frame at a time.
 */
static void
conn_flush(struct h2srv_conn *conn)
{
	struct evbuffer *out = bufferevent_get_output(conn->bev);
	struct evbuffer_iovec v;
	const uint8_t *data;
	size_t have = 0;
	bool open = false;
	ssize_t n;

	if (conn->sess == NULL || conn->dead || conn->closing)
		return;
	for (;;) {
		n = nghttp2_session_mem_send(conn->sess, &data);
		if (n < 0)
			conn->dead = true;
		if (n <= 0)
			break;
		if (open && v.iov_len - have < (size_t)n) {
			v.iov_len = have;
			evbuffer_commit_space(out, &v, 1);
			open = false;
		}
		if (!open) {
			if (evbuffer_reserve_space(out, n > H2SRV_WRITE_CHUNK ?
			    n : H2SRV_WRITE_CHUNK, &v, 1) != 1)
				abort();
			open = true;
			have = 0;
		}
		memcpy((uint8_t *)v.iov_base + have, data, (size_t)n);
		have += (size_t)n;
	}
	if (open) {
		v.iov_len = have;
		evbuffer_commit_space(out, &v, 1);
	}
}

static void
linger_cb(evutil_socket_t fd, short what, void *arg)
{
	conn_free(arg);
}

/*
 * Closing a socket with unread input makes the kernel send a RST, and the
 * peer may then lose the last answers and the GOAWAY still in its receive
 * buffer.  So: shut our write side, read and drop until the peer closes,
 * or two seconds pass.
 */
static void
conn_linger(struct h2srv_conn *conn)
{
	struct timeval tv = { 2, 0 };

	conn->closing = true;
	shutdown(bufferevent_getfd(conn->bev), SHUT_WR);
	conn->linger_ev = evtimer_new(conn->srv->cfg.base, linger_cb, conn);
	evtimer_add(conn->linger_ev, &tv);
}

/* Closes the connection when it has nothing left to do. */
static void
conn_check(struct h2srv_conn *conn)
{
	if (conn->dead) {
		conn_free(conn);
		return;
	}
	if (!conn->closing && conn->sess != NULL &&
	    !nghttp2_session_want_read(conn->sess) &&
	    !nghttp2_session_want_write(conn->sess) &&
	    evbuffer_get_length(bufferevent_get_output(conn->bev)) == 0)
		conn_linger(conn);
}

static ssize_t
resp_read_cb(nghttp2_session *sess, int32_t stream_id, uint8_t *buf,
    size_t length, uint32_t *data_flags, nghttp2_data_source *source,
    void *user_data)
{
	struct h2srv_req *req = source->ptr;
	size_t n = req->resp_len - req->resp_off;

	if (n > length)
		n = length;
	memcpy(buf, req->resp + req->resp_off, n);
	req->resp_off += n;
	if (req->resp_off == req->resp_len)
		*data_flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

void
h2srv_respond(struct h2srv_req *req, int status, const struct h2srv_hdr *h,
    size_t n, const char *body, size_t len)
{
	struct h2srv_conn *conn = req->conn;
	nghttp2_nv nv[H2SRV_MAX_HEADERS + 1];
	nghttp2_data_provider prd;
	char st[8];
	size_t i, k = 0;

	if (req->answered)
		return;
	req->answered = true;
	snprintf(st, sizeof(st), "%d", status);
	nv[k].name = (uint8_t *)":status";
	nv[k].namelen = 7;
	nv[k].value = (uint8_t *)st;
	nv[k].valuelen = strlen(st);
	nv[k++].flags = NGHTTP2_NV_FLAG_NONE;
	for (i = 0; i < n && k < H2SRV_MAX_HEADERS + 1; i++, k++) {
		nv[k].name = (uint8_t *)h[i].name;
		nv[k].namelen = strlen(h[i].name);
		nv[k].value = (uint8_t *)h[i].value;
		nv[k].valuelen = strlen(h[i].value);
		nv[k].flags = NGHTTP2_NV_FLAG_NONE;
	}
	if (len > 0) {
		req->resp = malloc(len);
		if (req->resp == NULL)
			abort();
		memcpy(req->resp, body, len);
		req->resp_len = len;
		prd.source.ptr = req;
		prd.read_callback = resp_read_cb;
	}
	/* nghttp2 copies the name/value pairs. */
	nghttp2_submit_response(conn->sess, req->stream_id, nv, k,
	    len > 0 ? &prd : NULL);
	/* From a timer: send now; from on_request, the reader sends. */
	if (!conn->in_recv)
		conn_flush(conn);
}

static int
on_begin_headers_cb(nghttp2_session *sess, const nghttp2_frame *frame,
    void *user_data)
{
	struct h2srv_conn *conn = user_data;
	struct h2srv_req *req;

	if (frame->hd.type != NGHTTP2_HEADERS ||
	    frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	if ((req = calloc(1, sizeof(*req))) == NULL)
		abort();
	req->conn = conn;
	req->stream_id = frame->hd.stream_id;
	TAILQ_INSERT_TAIL(&conn->reqs, req, entry);
	nghttp2_session_set_stream_user_data(sess, frame->hd.stream_id, req);
	return 0;
}

static char *
dupn(const uint8_t *p, size_t len)
{
	char *s = malloc(len + 1);

	if (s == NULL)
		abort();
	memcpy(s, p, len);
	s[len] = '\0';
	return s;
}

static int
on_header_cb(nghttp2_session *sess, const nghttp2_frame *frame,
    const uint8_t *name, size_t namelen, const uint8_t *value,
    size_t valuelen, uint8_t flags, void *user_data)
{
	struct h2srv_req *req;

	req = nghttp2_session_get_stream_user_data(sess, frame->hd.stream_id);
	if (req == NULL)
		return 0;
	if (namelen == 7 && memcmp(name, ":method", 7) == 0)
		req->method = dupn(value, valuelen);
	else if (namelen == 5 && memcmp(name, ":path", 5) == 0)
		req->path = dupn(value, valuelen);
	else if (name[0] != ':' && req->nhdrs < H2SRV_MAX_HEADERS) {
		req->hdrs[req->nhdrs].name = dupn(name, namelen);
		req->hdrs[req->nhdrs].value = dupn(value, valuelen);
		req->nhdrs++;
	}
	return 0;
}

static int
on_data_chunk_cb(nghttp2_session *sess, uint8_t flags, int32_t stream_id,
    const uint8_t *data, size_t len, void *user_data)
{
	struct h2srv_req *req;

	req = nghttp2_session_get_stream_user_data(sess, stream_id);
	if (req == NULL || req->body_len + len > H2SRV_MAX_BODY)
		return 0;
	req->body = realloc(req->body, req->body_len + len + 1);
	if (req->body == NULL)
		abort();
	memcpy(req->body + req->body_len, data, len);
	req->body_len += len;
	req->body[req->body_len] = '\0';
	return 0;
}

static void
req_dispatch(struct h2srv_conn *conn, struct h2srv_req *req)
{
	struct h2srv *srv = conn->srv;

	if (conn->goaway_last >= 0 && req->stream_id > conn->goaway_last) {
		/* Announced as unprocessed: the client retries it. */
		nghttp2_submit_rst_stream(conn->sess, NGHTTP2_FLAG_NONE,
		    req->stream_id, NGHTTP2_REFUSED_STREAM);
		return;
	}
	conn->nreqs++;
	if (srv->cfg.goaway_after > 0 && conn->goaway_last < 0 &&
	    conn->nreqs >= srv->cfg.goaway_after) {
		conn->goaway_last = req->stream_id;
		srv->ngoaways++;
		nghttp2_submit_goaway(conn->sess, NGHTTP2_FLAG_NONE,
		    req->stream_id, NGHTTP2_NO_ERROR, NULL, 0);
	}
	req->dispatched = true;
	srv->cfg.on_request(srv->cfg.arg, req);
}

static int
on_frame_recv_cb(nghttp2_session *sess, const nghttp2_frame *frame,
    void *user_data)
{
	struct h2srv_conn *conn = user_data;
	struct h2srv_req *req;

	if ((frame->hd.type != NGHTTP2_HEADERS &&
	    frame->hd.type != NGHTTP2_DATA) ||
	    !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
		return 0;
	req = nghttp2_session_get_stream_user_data(sess, frame->hd.stream_id);
	if (req == NULL || req->dispatched)
		return 0;
	req_dispatch(conn, req);
	return 0;
}

static int
on_stream_close_cb(nghttp2_session *sess, int32_t stream_id,
    uint32_t error_code, void *user_data)
{
	struct h2srv_req *req;

	req = nghttp2_session_get_stream_user_data(sess, stream_id);
	if (req != NULL)
		req_drop(req);
	return 0;
}

static void
conn_free(struct h2srv_conn *conn)
{
	struct h2srv *srv = conn->srv;
	struct h2srv_req *req;

	TAILQ_REMOVE(&srv->conns, conn, entry);
	while ((req = TAILQ_FIRST(&conn->reqs)) != NULL) {
		if (conn->sess != NULL)
			nghttp2_session_set_stream_user_data(conn->sess,
			    req->stream_id, NULL);
		req_drop(req);
	}
	if (conn->sess != NULL)
		nghttp2_session_del(conn->sess);
	if (srv->cfg.on_conn_free != NULL && conn->data != NULL)
		srv->cfg.on_conn_free(srv->cfg.arg, conn->data);
	if (conn->linger_ev != NULL)
		event_free(conn->linger_ev);
	bufferevent_free(conn->bev);
	free(conn);
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct h2srv_conn *conn = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_iovec v[8];
	size_t total;
	ssize_t n;
	int i, nv;

	if (conn->sess == NULL || conn->closing) {
		/* Not speaking HTTP/2, or closing: swallow what comes. */
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	while (!conn->dead && evbuffer_get_length(in) > 0) {
		nv = evbuffer_peek(in, -1, NULL, v, 8);
		if (nv > 8)
			nv = 8;
		total = 0;
		for (i = 0; i < nv; i++) {
			conn->in_recv = true;
			n = nghttp2_session_mem_recv(conn->sess, v[i].iov_base,
			    v[i].iov_len);
			conn->in_recv = false;
			if (n < 0) {
				conn->dead = true;
				break;
			}
			total += v[i].iov_len;
		}
		evbuffer_drain(in, total);
	}
	conn_flush(conn);
	conn_check(conn);
}

static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct h2srv_conn *conn = arg;

	if (conn->closing)
		return;
	conn_flush(conn);
	conn_check(conn);
}

static int
conn_session_start(struct h2srv_conn *conn)
{
	nghttp2_session_callbacks *cbs;
	nghttp2_settings_entry iv[1];
	int rv;

	if (nghttp2_session_callbacks_new(&cbs) != 0)
		return -1;
	nghttp2_session_callbacks_set_on_begin_headers_callback(cbs,
	    on_begin_headers_cb);
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header_cb);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs,
	    on_data_chunk_cb);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs,
	    on_frame_recv_cb);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs,
	    on_stream_close_cb);
	rv = nghttp2_session_server_new(&conn->sess, cbs, conn);
	nghttp2_session_callbacks_del(cbs);
	if (rv != 0)
		return -1;
	iv[0].settings_id = NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS;
	iv[0].value = conn->srv->cfg.max_streams > 0 ?
	    conn->srv->cfg.max_streams : 1000;
	if (nghttp2_submit_settings(conn->sess, NGHTTP2_FLAG_NONE, iv, 1) != 0)
		return -1;
	return 0;
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct h2srv_conn *conn = arg;
	const unsigned char *p = NULL;
	unsigned int len = 0;
	int one = 1;

	if (what & BEV_EVENT_CONNECTED) {
		SSL_get0_alpn_selected(bufferevent_openssl_get_ssl(bev), &p,
		    &len);
		setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY,
		    &one, sizeof(one));
		if (len == 2 && memcmp(p, "h2", 2) == 0) {
			if (conn_session_start(conn) == -1) {
				conn_free(conn);
				return;
			}
			conn_flush(conn);
		}
		return;
	}
	/* EOF or error: nothing more can be answered. */
	while (ERR_get_error() != 0)
		;
	conn_free(conn);
}

static int
alpn_select_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	struct h2srv *srv = arg;
	const char *want = srv->cfg.alpn;
	size_t wl = strlen(want);
	unsigned int i;

	for (i = 0; i < inlen; i += 1 + in[i]) {
		if (in[i] == wl && i + 1 + wl <= inlen &&
		    memcmp(in + i + 1, want, wl) == 0) {
			*out = in + i + 1;
			*outlen = in[i];
			return SSL_TLSEXT_ERR_OK;
		}
	}
	/* h2 is required; any other mode just declines ALPN. */
	return strcmp(want, "h2") == 0 ? SSL_TLSEXT_ERR_ALERT_FATAL :
	    SSL_TLSEXT_ERR_NOACK;
}

static void
accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct h2srv *srv = arg;
	struct h2srv_conn *conn;
	SSL *ssl;

	if ((ssl = SSL_new(srv->cfg.ctx)) == NULL) {
		evutil_closesocket(fd);
		return;
	}
	if ((conn = calloc(1, sizeof(*conn))) == NULL)
		abort();
	conn->srv = srv;
	conn->id = ++srv->nconns;
	conn->goaway_last = -1;
	TAILQ_INIT(&conn->reqs);
	conn->bev = bufferevent_openssl_socket_new(srv->cfg.base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (conn->bev == NULL) {
		SSL_free(ssl);
		evutil_closesocket(fd);
		free(conn);
		return;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(conn->bev, 1);
	bufferevent_setcb(conn->bev, conn_read_cb, conn_write_cb,
	    conn_event_cb, conn);
	bufferevent_enable(conn->bev, EV_READ | EV_WRITE);
	TAILQ_INSERT_TAIL(&srv->conns, conn, entry);
}

struct h2srv *
h2srv_new(const struct h2srv_config *cfg, char **error_r)
{
	struct h2srv *srv;
	struct sockaddr_in sin;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if ((srv = calloc(1, sizeof(*srv))) == NULL)
		abort();
	srv->cfg = *cfg;
	if (srv->cfg.alpn == NULL)
		srv->cfg.alpn = "h2";
	TAILQ_INIT(&srv->conns);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)cfg->port);
	if (inet_pton(AF_INET, cfg->addr != NULL ? cfg->addr : "127.0.0.1",
	    &sin.sin_addr) != 1) {
		*error_r = strdup("bad listen address (IPv4 only)");
		free(srv);
		return NULL;
	}
	SSL_CTX_set_alpn_select_cb(cfg->ctx, alpn_select_cb, srv);
	srv->lev = evconnlistener_new_bind(cfg->base, accept_cb, srv,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 512,
	    (struct sockaddr *)&sin, sizeof(sin));
	if (srv->lev == NULL) {
		*error_r = strdup("cannot listen (port in use?)");
		free(srv);
		return NULL;
	}
	getsockname(evconnlistener_get_fd(srv->lev), (struct sockaddr *)&ss,
	    &sl);
	srv->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return srv;
}

int
h2srv_port(const struct h2srv *srv)
{
	return srv->port;
}

unsigned long
h2srv_connections(const struct h2srv *srv)
{
	return srv->nconns;
}

unsigned long
h2srv_goaways(const struct h2srv *srv)
{
	return srv->ngoaways;
}

size_t
h2srv_open_connections(const struct h2srv *srv)
{
	const struct h2srv_conn *conn;
	size_t n = 0;

	/* A walk: only the mocks' count requests ask. */
	TAILQ_FOREACH(conn, &srv->conns, entry)
		n++;
	return n;
}

void
h2srv_free(struct h2srv **srvp)
{
	struct h2srv *srv = *srvp;
	struct h2srv_conn *conn;

	if (srv == NULL)
		return;
	*srvp = NULL;
	while ((conn = TAILQ_FIRST(&srv->conns)) != NULL)
		conn_free(conn);
	evconnlistener_free(srv->lev);
	free(srv);
}

const char *
h2srv_req_method(const struct h2srv_req *req)
{
	return req->method != NULL ? req->method : "";
}

const char *
h2srv_req_path(const struct h2srv_req *req)
{
	return req->path != NULL ? req->path : "";
}

const char *
h2srv_req_header(const struct h2srv_req *req, const char *name)
{
	size_t i;

	for (i = 0; i < req->nhdrs; i++)
		if (strcmp(req->hdrs[i].name, name) == 0)
			return req->hdrs[i].value;
	return NULL;
}

size_t
h2srv_req_nheaders(const struct h2srv_req *req)
{
	return req->nhdrs;
}

const struct h2srv_hdr *
h2srv_req_headers(const struct h2srv_req *req)
{
	return req->hdrs;
}

const char *
h2srv_req_body(const struct h2srv_req *req, size_t *len_r)
{
	*len_r = req->body_len;
	return req->body != NULL ? req->body : "";
}

SSL *
h2srv_req_ssl(const struct h2srv_req *req)
{
	return bufferevent_openssl_get_ssl(req->conn->bev);
}

unsigned long
h2srv_req_conn_id(const struct h2srv_req *req)
{
	return req->conn->id;
}

size_t
h2srv_req_conn_streams(const struct h2srv_req *req)
{
	const struct h2srv_req *r;
	size_t n = 0;

	/* A walk: bounded by max_streams, and only mocks ask. */
	TAILQ_FOREACH(r, &req->conn->reqs, entry)
		n++;
	return n;
}

void **
h2srv_req_conn_data(struct h2srv_req *req)
{
	return &req->conn->data;
}

void *
h2srv_req_get_data(const struct h2srv_req *req)
{
	return req->data;
}

void
h2srv_req_set_data(struct h2srv_req *req, void *data)
{
	req->data = data;
}

struct json_object *
h2srv_req_record(const struct h2srv_req *req)
{
	const struct h2srv_hdr *hd = h2srv_req_headers(req);
	size_t i, n = h2srv_req_nheaders(req);
	json_object *o, *h;

	o = json_object_new_object();
	json_object_object_add(o, "method",
	    json_object_new_string(h2srv_req_method(req)));
	json_object_object_add(o, "path",
	    json_object_new_string(h2srv_req_path(req)));
	h = json_object_new_object();
	for (i = 0; i < n; i++)
		json_object_object_add(h, hd[i].name,
		    json_object_new_string(hd[i].value));
	json_object_object_add(o, "headers", h);
	return o;
}
