/*
 * h2srv: a small HTTP/2 server over TLS (nghttp2 + libevent) for mocks and
 * benchmarks.  The application gets each complete request through
 * on_request and answers it with h2srv_respond(), then or later; when a
 * request dies unanswered (stream reset, connection gone) on_abort tells
 * the application to forget it.  Not for production: bodies are bounded
 * and kept in memory, there is no flow control beyond nghttp2's defaults.
 */
#ifndef XP_H2SRV_H
#define XP_H2SRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

struct event_base;
struct h2srv;
struct h2srv_req;

struct h2srv_hdr {
	const char	*name;
	const char	*value;
};

struct h2srv_config {
	struct event_base *base;
	const char	*addr;		/* default 127.0.0.1 */
	int		 port;		/* 0: any free port */
	SSL_CTX		*ctx;		/* server context, certificate set */
	const char	*alpn;		/* protocol to select (default h2) */
	unsigned int	 max_streams;	/* SETTINGS_MAX_CONCURRENT_STREAMS */
	unsigned int	 goaway_after;	/* requests per connection, 0: off */
	void		(*on_request)(void *arg, struct h2srv_req *);
	void		(*on_abort)(void *arg, struct h2srv_req *);
	/* A connection's scratch (h2srv_req_conn_data) at its close. */
	void		(*on_conn_free)(void *arg, void *conn_data);
	void		*arg;
};

struct h2srv	*h2srv_new(const struct h2srv_config *, char **error_r);
int		 h2srv_port(const struct h2srv *);
void		 h2srv_free(struct h2srv **);
/* Connections accepted, GOAWAYs sent; connections open now. */
unsigned long	 h2srv_connections(const struct h2srv *);
size_t		 h2srv_open_connections(const struct h2srv *);
unsigned long	 h2srv_goaways(const struct h2srv *);

const char	*h2srv_req_method(const struct h2srv_req *);
const char	*h2srv_req_path(const struct h2srv_req *);
/* The first header of that (lower-case) name, or NULL. */
const char	*h2srv_req_header(const struct h2srv_req *, const char *);
size_t		 h2srv_req_nheaders(const struct h2srv_req *);
const struct h2srv_hdr *h2srv_req_headers(const struct h2srv_req *);
/*
 * A request for a mock's record file: {"method":…,"path":…,"headers":{…}}
 * as a json-c object (a json_object *), to which the mock adds its own
 * members.  Callers link json-c.
 */
struct json_object *h2srv_req_record(const struct h2srv_req *);
const char	*h2srv_req_body(const struct h2srv_req *, size_t *len_r);
SSL		*h2srv_req_ssl(const struct h2srv_req *);
unsigned long	 h2srv_req_conn_id(const struct h2srv_req *);
/* Requests open on its connection, itself included: the concurrency. */
size_t		 h2srv_req_conn_streams(const struct h2srv_req *);
/* Per-connection scratch the application may use (NULL at first). */
void		**h2srv_req_conn_data(struct h2srv_req *);
void		*h2srv_req_get_data(const struct h2srv_req *);
void		 h2srv_req_set_data(struct h2srv_req *, void *);
/* Answers (once).  Copies what it needs. */
void		 h2srv_respond(struct h2srv_req *, int status,
		    const struct h2srv_hdr *, size_t nhdrs, const char *body,
		    size_t len);

#endif
