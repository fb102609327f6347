/*
 * The HTTPS listener of the `rest` block: evhttp over OpenSSL, its limits
 * and timeouts, a per-address rate limit, routing by path, and the helpers
 * an endpoint answers with.  It serves no path of its own: the endpoints
 * (core/rest_unregister.c, core/metrics.c) mount theirs with rest_mount().
 */
#ifndef XP_REST_H
#define XP_REST_H

#include <stdbool.h>
#include <event2/http.h>

#include "core/options.h"

struct event_base;
struct json_object;

/*
 * One path an endpoint serves.  A path that ends with '/' is a prefix and
 * the handler gets the rest of the path as tail; any other path must match
 * exactly (tail is "").  A request with another method is answered 405
 * before the handler runs, in JSON ({"result":"failure","error":...}) when
 * json is set, else in plain text.
 */
struct rest_route {
	const char		*path;
	enum evhttp_cmd_type	 method;
	bool			 json;
	void			(*handle)(struct evhttp_request *,
				    const char *tail);
};

/*
 * What an endpoint mounts: its routes (ended by one with a NULL path) and
 * what it does when the listener opens, takes a SIGHUP's configuration
 * (already accepted by the listener), or closes.  Any hook may be NULL.
 */
struct rest_service {
	const struct rest_route	*routes;
	void	(*start)(const struct xp_conf *);
	void	(*reconfigure)(const struct xp_conf *);
	void	(*stop)(void);
};

/* Mount before rest_init(); the service must outlive the listener. */
void	rest_mount(const struct rest_service *);

/* Semantic checks of the rest block (`xpushd -t`, start-up, SIGHUP). */
int	rest_check_conf(const struct xp_conf *, char **error_r);
/*
 * The rest block's listen address (host as written, port) for a local
 * client (xpushctl): 0 when there is no rest block, 1 with *host_r
 * malloc'd, -1 with *error_r when listen cannot be read.
 */
int	rest_listen_address(const struct xp_conf *, char **host_r,
	    int *port_r, char **error_r);
/* Starts listening when the configuration has a rest block. */
int	rest_init(struct event_base *, const struct xp_conf *, char **error_r);
/* SIGHUP: new limits and TLS material; rebinds if listen changed. */
int	rest_reconfigure(const struct xp_conf *, char **error_r);
/* Closes the listener and unmounts every service. */
void	rest_shutdown(void);

/*
 * Answers.  Each sets Content-Type and Cache-Control: no-store; add other
 * headers to the request's output headers before calling.
 */
void	rest_reply_text(struct evhttp_request *, int code, const char *reason,
	    const char *text);
/* Sends obj as one line of JSON and releases it. */
void	rest_reply_json(struct evhttp_request *, int code, const char *reason,
	    struct json_object *obj);
/* {"result": result} with "error": message when message is not NULL. */
void	rest_reply_result(struct evhttp_request *, int code,
	    const char *reason, const char *result, const char *message);

/*
 * cb(evcon, arg) runs when the connection of req goes away (instead of
 * evhttp_connection_set_closecb, which rest.c keeps for itself); NULL
 * stops it.
 */
void	rest_watch_close(struct evhttp_request *,
	    void (*cb)(struct evhttp_connection *, void *), void *arg);

/*
 * The request body as one JSON value (strict, nested at most
 * REST_JSON_DEPTH deep, nothing but white space after it), or NULL with
 * *error_r saying what is wrong with it.
 */
struct json_object *rest_read_json(struct evhttp_request *, char **error_r);

#endif
