/*
 * h2: a small asynchronous HTTP/2 client over TLS (RFC 9113, nghttp2 over
 * libevent's OpenSSL bufferevents), shared by the APNs modules.
 *
 * One h2_client talks to one origin through a pool of long-lived
 * connections.  Requests are copied, queued (bounded), spread over the
 * ready connections within each server's SETTINGS_MAX_CONCURRENT_STREAMS
 * (a loop turn's requests to the least loaded one, while it has room),
 * and answered exactly once
 * through their callback, never from inside h2_client_request().
 *
 * The pool follows the demand: one connection is kept open; when the
 * requests in flight and waiting reach H2_GROW_SHARE percent of the
 * streams the open connections allow, one more is dialled (one handshake
 * at a time), up to pool_size.  Every idle_timeout_ms the pool is cut
 * back to what the busiest moment of that period needed at
 * H2_SHRINK_SHARE percent of the streams (never below one connection):
 * the surplus, least loaded first, drain and close.  A GOAWAY drains its connection: streams the server
 * promised to process (id <= last-stream-id) complete there, the refused
 * ones are retried on another connection.  TLS is 1.2 or later, the server
 * certificate is verified against the name dialled, and ALPN must select
 * "h2": there is no HTTP/1.1 fallback.
 *
 * A failed connect is retried after backoff_min_ms, doubling up to
 * backoff_max_ms; a request that finds no connection up or dialling dials
 * one at once, at most once a second (H2_ONDEMAND_MIN_MS in h2.c).
 *
 * A done callback may issue new requests but must not free the client.
 *
 * Not implemented (APNs needs none of it): server push (disabled in our
 * SETTINGS), trailers, request bodies produced incrementally, priorities.
 */
#ifndef XP_H2_H
#define XP_H2_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

struct event_base;
struct h2_client;

enum h2_error {
	H2_OK,			/* a response arrived: status is set */
	H2_ETIMEOUT,		/* no answer within the request timeout */
	H2_ECONN,		/* connect, TLS, or connection lost */
	H2_EALPN,		/* the server did not select ALPN h2 */
	H2_ECLOSED,		/* the client was freed */
};

struct h2_result {
	enum h2_error	 error;
	int		 status;	/* :status when error is H2_OK */
	const char	*body;		/* response body (NUL-terminated) */
	size_t		 body_len;
	const char	*reason;	/* why, for errors; never NULL */
};

typedef void h2_done_cb(void *arg, const struct h2_result *);

struct h2_header {
	const char	*name;		/* lower case, as HTTP/2 wants */
	const char	*value;
};

struct h2_request {
	const char	*method;
	const char	*path;
	const struct h2_header *headers;
	size_t		 nheaders;
	const void	*body;
	size_t		 body_len;
};

enum h2_log_level {
	H2_LOG_DEBUG,
	H2_LOG_INFO,
	H2_LOG_WARN,
};

struct h2_config {
	const char	*host;		/* name dialled, SNI and verified */
	int		 port;
	int		 pool_size;	/* most connections open at once */
	int		 idle_timeout_ms; /* pool shrink period (0: never) */
	size_t		 queue_size;	/* requests waiting for a stream */
	int		 request_timeout_ms;
	int		 ping_interval_ms; /* PING after this much silence */
	int		 backoff_min_ms; /* reconnect delays (doubling) */
	int		 backoff_max_ms;
	void		(*log)(void *arg, enum h2_log_level, const char *msg);
	void		*log_arg;
};

struct h2_stats {
	size_t		 queued;	/* waiting for a stream */
	size_t		 inflight;	/* on a stream */
	size_t		 ready;		/* connections ready for streams */
	size_t		 open;		/* connections in any state */
	unsigned long	 connects;	/* TLS+h2 sessions established */
	unsigned long	 goaways;	/* GOAWAY frames received */
	unsigned long	 retried;	/* requests moved to another stream */
};

/*
 * A client context for h2 clients: TLS >= 1.2, peer verification against
 * ca_file (or the system store when NULL), ALPN "h2" offered.  The caller
 * may add a client certificate before handing it to h2_client_new().
 */
SSL_CTX	*h2_tls_ctx_new(const char *ca_file, char **error_r);

/*
 * ctx may be NULL: requests queue until h2_client_set_tls() provides one.
 * The client takes its own reference on ctx.
 */
struct h2_client *h2_client_new(struct event_base *, const struct h2_config *,
	    SSL_CTX *ctx, char **error_r);
/* New connections use ctx; the open ones finish their streams and close. */
void	 h2_client_set_tls(struct h2_client *, SSL_CTX *ctx);
/* 0: cb will be called once, later; -1: the queue is full. */
int	 h2_client_request(struct h2_client *, const struct h2_request *,
	    h2_done_cb *cb, void *arg);
/* Whether a connection is up, and the last connection error (or NULL). */
bool	 h2_client_ready(const struct h2_client *);
const char *h2_client_last_error(const struct h2_client *);
enum h2_error h2_client_last_error_kind(const struct h2_client *);
void	 h2_client_stats(const struct h2_client *, struct h2_stats *);
/* Every outstanding request is answered H2_ECLOSED before it returns. */
void	 h2_client_free(struct h2_client **);

#endif
