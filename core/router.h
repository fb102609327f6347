/*
 * Routing of the stanzas that reach the component: IQ get/set by the
 * payload's name and namespace to registered handlers, results and errors
 * to the callbacks of the IQs we sent, messages by the name and namespace
 * of a child (Push 2.0 notifications) or to an optional handler, and
 * presences nowhere.  Every reply carries from and to.
 */
#ifndef XP_ROUTER_H
#define XP_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <event2/event.h>

#include "xml/node.h"

#define NS_STANZAS	"urn:ietf:params:xml:ns:xmpp-stanzas"

struct link;

/* An IQ get or set being answered.  Answer each exactly once. */
struct router_req {
	struct xml_node	*stanza;	/* owned by the request */
	struct xml_node	*payload;	/* the single child element */
	const char	*id;
	const char	*from;
	const char	*to;
	bool		 set;		/* type='set' (else 'get') */
	struct timeval	 received;
};

typedef void router_iq_fn(void *arg, struct router_req *);
typedef void router_stanza_fn(void *arg, struct xml_node *stanza);
/* The answer to an IQ we sent; stanza is NULL on timeout or link loss. */
typedef void router_result_fn(void *arg, const struct xml_node *stanza);

void	router_init(struct event_base *, struct link *);
void	router_shutdown(void);
/* The link calls this for every stanza; the router takes ownership. */
void	router_dispatch(void *arg, struct xml_node *stanza);

void	router_register_iq(const char *name, const char *ns, bool set,
	    router_iq_fn *, void *arg);
void	router_register_message(router_stanza_fn *, void *arg);
/*
 * Messages that carry an element name/ns go to fn as a request (payload:
 * that element; set is false).  The request is answered with
 * router_error() (a <message type='error'/>) or, when all went well,
 * ended without an answer by router_req_free().
 */
void	router_register_message_payload(const char *name, const char *ns,
	    router_iq_fn *, void *arg);

/* An empty <iq type='result'/> addressed back; add children, then send. */
struct xml_node *router_result_new(const struct router_req *);
/* Sends the answer (router_result_new's, or NULL for an empty result). */
void	router_reply(struct router_req **, struct xml_node *result);
/*
 * An error answer: type is cancel, modify, auth or wait; cond a stanza error
 * condition; app_name/app_ns an optional application condition (XEP-0050's
 * bad-sessionid, say); text optional.
 */
void	router_error(struct router_req **, const char *type, const char *cond,
	    const char *text);
void	router_error_app(struct router_req **, const char *type,
	    const char *cond, const char *app_name, const char *app_ns,
	    const char *text);
/* Drops a request without answering (the link is gone). */
void	router_req_free(struct router_req **);
/*
 * Keeps of the request only what an answer needs (the stanza element and
 * its attributes); payload becomes NULL.  For requests that wait long.
 */
void	router_req_slim(struct router_req *);

/* Sends a stanza of ours: from is set to the component JID if missing. */
int	router_send(struct xml_node *stanza);
/* Sends an IQ with a fresh id; cb gets the answer or NULL on timeout. */
int	router_send_iq(struct xml_node *iq, int timeout_s, router_result_fn *,
	    void *arg);

/* Requests received but not answered yet (for draining at stop). */
size_t	router_pending(void);
/* Call fn once router_pending() drops to zero (at once if it is zero). */
void	router_when_idle(void (*fn)(void *), void *arg);
const char *router_jid(void);

#endif
