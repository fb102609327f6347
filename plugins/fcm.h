/*
 * fcm.so internals: the service account and its OAuth2 JWT (fcm_auth.c),
 * and the libcurl multi handle driven by libevent (fcm_curl.c); the
 * helpers they share are libxpplug's (plugins/lib/pu.h).  Nothing here is
 * exported from the module: the only public symbol is xpushd_provider (see
 * plugins/local.mk).
 */
#ifndef XP_FCM_H
#define XP_FCM_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <curl/curl.h>

#include "plugins/lib/pu.h"

struct event_base;
struct evp_pkey_st;

/* The service-account JSON file Google issues. */
struct fcm_sa {
	char		*project_id;
	char		*client_email;
	char		*token_uri;
	struct evp_pkey_st *key;	/* RSA private key */
};

int	 fcm_sa_load(const char *path, struct fcm_sa *, char **error_r);
void	 fcm_sa_free(struct fcm_sa *);
/* The form body of a token request: a fresh RS256 JWT assertion. */
char	*fcm_sa_token_request(const struct fcm_sa *, time_t now,
	    char **error_r);

/* A curl multi handle on a libevent base. */
struct fcm_curl;
typedef void fcm_curl_done_cb(CURL *easy, CURLcode rc, void *arg);

/* done is called once per finished transfer, from the loop. */
struct fcm_curl *fcm_curl_new(struct event_base *, long max_host_conns,
	    fcm_curl_done_cb *done);
/* arg goes to done; it is kept in CURLOPT_PRIVATE. */
int	 fcm_curl_add(struct fcm_curl *, CURL *easy, void *arg);
/* Takes easy out without calling done (destroy, cancel). */
void	 fcm_curl_remove(struct fcm_curl *, CURL *easy);
void	 fcm_curl_free(struct fcm_curl **);
/*
 * An easy handle for HTTPS sends: HTTP/2 when offered, waiting for a
 * stream rather than opening a connection, the timeouts, xpushd's
 * User-Agent, the callbacks, a CA file (NULL: the system's) and, with
 * no_proxy, no proxy lookups.
 */
CURL	*fcm_curl_easy(long timeout_ms, const char *ca_file, bool no_proxy,
	    curl_write_callback write_cb, curl_write_callback header_cb);
/* Whether the environment names no proxy for https:// URLs. */
bool	 fcm_curl_no_proxy(void);

#endif
