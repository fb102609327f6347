/*
 * A libcurl multi handle driven by a libevent base, the multi_socket way
 * (curl_multi_socket_action(3), CURLMOPT_SOCKETFUNCTION(3),
 * CURLMOPT_TIMERFUNCTION(3)): curl tells us which sockets to watch and when
 * to call it back; we never poll and never block.
 *
 * Transfers are HTTP/2 over TLS, multiplexed (CURLPIPE_MULTIPLEX) on at most
 * max_host_conns connections per host.  DNS goes through libcurl's threaded
 * resolver, so it does not block the loop either.
 *
 * fcm_curl_easy configures an easy handle the way both modules send
 * (webpush.so links this file too).
 *
 * Over HTTP/2 curl asks for EV_WRITE and drops it again around every
 * request it sends: a socket's event is allocated once and changed only
 * when the interest really changes.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "plugins/fcm.h"

struct fcm_sock {
	struct fcm_sock	*next, *prev;
	struct fcm_curl	*fc;
	curl_socket_t	 fd;
	short		 what;		/* of ev: EV_READ, EV_WRITE */
	struct event	*ev;
};

struct fcm_curl {
	CURLM		*multi;
	struct event_base *base;
	struct event	*timer;
	fcm_curl_done_cb *done;
	struct fcm_sock	*socks;
	int		 running;
};

static void
fcm_curl_check(struct fcm_curl *fc)
{
	CURLMsg *msg;
	CURL *easy;
	CURLcode rc;
	void *arg;
	int left;

	while ((msg = curl_multi_info_read(fc->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		easy = msg->easy_handle;
		rc = msg->data.result;
		arg = NULL;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&arg);
		/* msg is invalid once the handle is removed. */
		curl_multi_remove_handle(fc->multi, easy);
		fc->done(easy, rc, arg);
	}
}

static void
fcm_curl_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fcm_curl *fc = arg;
	int flags = 0;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(fc->multi, fd, flags, &fc->running);
	fcm_curl_check(fc);
}

static void
fcm_curl_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fcm_curl *fc = arg;

	(void)fd;
	(void)what;
	curl_multi_socket_action(fc->multi, CURL_SOCKET_TIMEOUT, 0,
	    &fc->running);
	fcm_curl_check(fc);
}

/* CURLMOPT_TIMERFUNCTION: never act from here, only arm the timer. */
static int
fcm_curl_timer_set(CURLM *multi, long timeout_ms, void *arg)
{
	struct fcm_curl *fc = arg;
	struct timeval tv;

	(void)multi;
	if (timeout_ms < 0) {
		evtimer_del(fc->timer);
		return 0;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(fc->timer, &tv);
	return 0;
}

static void
fcm_curl_sock_free(struct fcm_sock *s)
{
	struct fcm_curl *fc = s->fc;

	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		fc->socks = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	event_free(s->ev);
	free(s);
}

/* CURLMOPT_SOCKETFUNCTION: mirror curl's interest in fd onto an event. */
static int
fcm_curl_sock_set(CURL *easy, curl_socket_t fd, int what, void *arg,
    void *sockp)
{
	struct fcm_curl *fc = arg;
	struct fcm_sock *s = sockp;
	short ev = EV_PERSIST;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s != NULL) {
			fcm_curl_sock_free(s);
			curl_multi_assign(fc->multi, fd, NULL);
		}
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev |= EV_READ;
	if (what & CURL_POLL_OUT)
		ev |= EV_WRITE;
	if (s == NULL) {
		s = pu_calloc(1, sizeof(*s));
		s->fc = fc;
		s->fd = fd;
		s->next = fc->socks;
		if (fc->socks != NULL)
			fc->socks->prev = s;
		fc->socks = s;
		curl_multi_assign(fc->multi, fd, s);
		s->ev = event_new(fc->base, fd, ev, fcm_curl_event_cb, fc);
		if (s->ev == NULL)
			abort();
	} else if (s->what == ev)
		return 0;
	else {
		event_del(s->ev);
		if (event_assign(s->ev, fc->base, fd, ev, fcm_curl_event_cb,
		    fc) == -1)
			abort();
	}
	s->what = ev;
	event_add(s->ev, NULL);
	return 0;
}

struct fcm_curl *
fcm_curl_new(struct event_base *base, long max_host_conns,
    fcm_curl_done_cb *done)
{
	struct fcm_curl *fc = pu_calloc(1, sizeof(*fc));

	fc->base = base;
	fc->done = done;
	if ((fc->multi = curl_multi_init()) == NULL)
		abort();
	if ((fc->timer = evtimer_new(base, fcm_curl_timer_cb, fc)) == NULL)
		abort();
	curl_multi_setopt(fc->multi, CURLMOPT_SOCKETFUNCTION,
	    fcm_curl_sock_set);
	curl_multi_setopt(fc->multi, CURLMOPT_SOCKETDATA, fc);
	curl_multi_setopt(fc->multi, CURLMOPT_TIMERFUNCTION,
	    fcm_curl_timer_set);
	curl_multi_setopt(fc->multi, CURLMOPT_TIMERDATA, fc);
	curl_multi_setopt(fc->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
	curl_multi_setopt(fc->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
	    max_host_conns);
	return fc;
}

int
fcm_curl_add(struct fcm_curl *fc, CURL *easy, void *arg)
{
	curl_easy_setopt(easy, CURLOPT_PRIVATE, arg);
	/*
	 * Adding only arms the timer (a 0 ms timeout): the transfer starts
	 * from the loop, so no callback runs inside the caller.
	 */
	return curl_multi_add_handle(fc->multi, easy) == CURLM_OK ? 0 : -1;
}

void
fcm_curl_remove(struct fcm_curl *fc, CURL *easy)
{
	curl_multi_remove_handle(fc->multi, easy);
}

CURL *
fcm_curl_easy(long timeout_ms, const char *ca_file, bool no_proxy,
    curl_write_callback write_cb, curl_write_callback header_cb)
{
	CURL *e;

	if ((e = curl_easy_init()) == NULL)
		abort();
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
#else
	curl_easy_setopt(e, CURLOPT_PROTOCOLS, CURLPROTO_HTTPS);
#endif
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
	/* Wait for a stream on a connection rather than open another. */
	curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
	    timeout_ms < 10000 ? timeout_ms : 10000L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "xpushd/" PACKAGE_VERSION);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	if (ca_file != NULL)
		curl_easy_setopt(e, CURLOPT_CAINFO, ca_file);
	if (no_proxy) {
		curl_easy_setopt(e, CURLOPT_PROXY, "");
		curl_easy_setopt(e, CURLOPT_NOPROXY, "");
	}
	return e;
}

bool
fcm_curl_no_proxy(void)
{
	/* The variables libcurl reads for an https:// URL. */
	return getenv("https_proxy") == NULL && getenv("HTTPS_PROXY") ==
	    NULL && getenv("all_proxy") == NULL && getenv("ALL_PROXY") == NULL;
}

void
fcm_curl_free(struct fcm_curl **fcp)
{
	struct fcm_curl *fc = *fcp;

	if (fc == NULL)
		return;
	*fcp = NULL;
	curl_multi_cleanup(fc->multi);
	/* Sockets curl closed without a CURL_POLL_REMOVE. */
	while (fc->socks != NULL)
		fcm_curl_sock_free(fc->socks);
	event_free(fc->timer);
	free(fc);
}
