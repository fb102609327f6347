/*
 * Stanza routing for the component (RFC 6120 §8, XEP-0114).
 *
 * IQ rules (RFC 6120 §8.2.3): get and set carry exactly one payload element
 * and an id; anything else is bad-request.  An unknown payload is
 * service-unavailable.  Errors are never answered with errors, and results
 * and errors nobody waits for are dropped.  Error elements are written in
 * the stream's default namespace with the condition in the stanzas
 * namespace: a server that finds <error/> in a foreign namespace sees no
 * error type (DESIGN: Prosody then counts even a wait error).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/link.h"
#include "core/log.h"
#include "core/router.h"
#include "core/xmalloc.h"
#include "xml/stream.h"

#define ROUTER_MAX_HANDLERS	64
#define ROUTER_MAX_MESSAGE_HANDLERS 8

struct handler {
	const char	*name;
	const char	*ns;
	bool		 set;
	router_iq_fn	*fn;
	void		*arg;
};

struct pending_iq {
	char			*id;
	router_result_fn	*fn;
	void			*arg;
	struct event		*timeout;
	struct pending_iq	*next;
};

static struct {
	struct event_base	*base;
	struct link		*link;
	struct handler		 handlers[ROUTER_MAX_HANDLERS];
	size_t			 nhandlers;
	struct handler		 mhandlers[ROUTER_MAX_MESSAGE_HANDLERS];
	size_t			 nmhandlers;
	router_stanza_fn	*message_fn;
	void			*message_arg;
	struct pending_iq	*sent;
	unsigned long long	 next_id;
	size_t			 pending;
	void			(*idle_fn)(void *);
	void			*idle_arg;
	struct xml_buf		 out;		/* empty results */
} rt;

void
router_init(struct event_base *base, struct link *link)
{
	rt.base = base;
	rt.link = link;
	rt.next_id = ((unsigned long long)time(NULL) << 20) ^
	    (unsigned long long)getpid();
}

static void
pending_free(struct pending_iq *p)
{
	event_free(p->timeout);
	free(p->id);
	free(p);
}

void
router_shutdown(void)
{
	struct pending_iq *p;

	while ((p = rt.sent) != NULL) {
		rt.sent = p->next;
		p->fn(p->arg, NULL);
		pending_free(p);
	}
	xml_buf_free(&rt.out);
}

const char *
router_jid(void)
{
	return link_jid(rt.link);
}

static void
handler_add(struct handler *table, size_t *n, size_t max, const char *name,
    const char *ns, bool set, router_iq_fn *fn, void *arg)
{
	if (*n == max)
		fatalx("router: no room for a handler of <%s/> (%zu at most)",
		    name, max);
	table[(*n)++] = (struct handler){ name, ns, set, fn, arg };
}

void
router_register_iq(const char *name, const char *ns, bool set,
    router_iq_fn *fn, void *arg)
{
	handler_add(rt.handlers, &rt.nhandlers, ROUTER_MAX_HANDLERS, name, ns,
	    set, fn, arg);
}

void
router_register_message_payload(const char *name, const char *ns,
    router_iq_fn *fn, void *arg)
{
	handler_add(rt.mhandlers, &rt.nmhandlers, ROUTER_MAX_MESSAGE_HANDLERS,
	    name, ns, false, fn, arg);
}

void
router_register_message(router_stanza_fn *fn, void *arg)
{
	rt.message_fn = fn;
	rt.message_arg = arg;
}

size_t
router_pending(void)
{
	return rt.pending;
}

void
router_when_idle(void (*fn)(void *), void *arg)
{
	if (rt.pending == 0) {
		fn(arg);
		return;
	}
	rt.idle_fn = fn;
	rt.idle_arg = arg;
}

void
router_req_free(struct router_req **reqp)
{
	struct router_req *req = *reqp;

	if (req == NULL)
		return;
	xml_node_free(&req->stanza);
	free(req);
	*reqp = NULL;
	if (rt.pending > 0 && --rt.pending == 0 && rt.idle_fn != NULL) {
		void (*fn)(void *) = rt.idle_fn;

		rt.idle_fn = NULL;
		fn(rt.idle_arg);
	}
}

int
router_send(struct xml_node *stanza)
{
	int rc;

	if (xml_node_attr(stanza, "from") == NULL)
		xml_node_set_attr(stanza, "from", link_jid(rt.link));
	rc = link_send(rt.link, stanza);
	xml_node_free(&stanza);
	return rc;
}

/* An <iq/> addressed back to the sender of the stanza. */
static struct xml_node *
reply_new(const struct xml_node *to_this, const char *type)
{
	const char *id = xml_node_attr(to_this, "id");
	const char *from = xml_node_attr(to_this, "from");
	const char *to = xml_node_attr(to_this, "to");
	struct xml_node *iq;

	iq = xml_node_new(to_this->name, XML_STREAM_COMPONENT_NS);
	xml_node_set_attr(iq, "type", type);
	if (id != NULL)
		xml_node_set_attr(iq, "id", id);
	xml_node_set_attr(iq, "from", to != NULL ? to : link_jid(rt.link));
	if (from != NULL)
		xml_node_set_attr(iq, "to", from);
	return iq;
}

struct xml_node *
router_result_new(const struct router_req *req)
{
	return reply_new(req->stanza, "result");
}

/* " name='value'", escaped. */
static void
out_attr(struct xml_buf *b, const char *name, const char *value)
{
	xml_buf_append_char(b, ' ');
	xml_buf_append_str(b, name);
	xml_buf_append(b, "='", 2);
	xml_buf_append_attr(b, value, strlen(value));
	xml_buf_append_char(b, '\'');
}

/*
 * The empty result, written as text: what reply_new and the serialiser
 * would make, without building and freeing a tree for every publish.
 */
static void
send_empty_result(const struct xml_node *to_this)
{
	const char *id = xml_node_attr(to_this, "id");
	const char *from = xml_node_attr(to_this, "from");
	const char *to = xml_node_attr(to_this, "to");

	xml_buf_reset(&rt.out);
	xml_buf_append_char(&rt.out, '<');
	xml_buf_append_str(&rt.out, to_this->name);
	out_attr(&rt.out, "type", "result");
	if (id != NULL)
		out_attr(&rt.out, "id", id);
	out_attr(&rt.out, "from", to != NULL ? to : link_jid(rt.link));
	if (from != NULL)
		out_attr(&rt.out, "to", from);
	xml_buf_append(&rt.out, "/>", 2);
	(void)link_send_raw(rt.link, rt.out.data, rt.out.len);
}

void
router_req_slim(struct router_req *req)
{
	struct xml_node *slim;

	if (req->payload == NULL)
		return;
	slim = xml_node_copy_shallow(req->stanza);
	xml_node_free(&req->stanza);
	req->stanza = slim;
	req->payload = NULL;
	req->id = xml_node_attr(slim, "id");
	req->from = xml_node_attr(slim, "from");
	req->to = xml_node_attr(slim, "to");
}

void
router_reply(struct router_req **reqp, struct xml_node *result)
{
	if (result == NULL)
		send_empty_result((*reqp)->stanza);
	else
		router_send(result);
	router_req_free(reqp);
}

static struct xml_node *
error_new(const struct xml_node *stanza, const char *type, const char *cond,
    const char *app_name, const char *app_ns, const char *text)
{
	struct xml_node *reply, *err;

	reply = reply_new(stanza, "error");
	err = xml_node_add_child(reply, "error", NULL);
	xml_node_set_attr(err, "type", type);
	xml_node_add_child(err, cond, NS_STANZAS);
	if (app_name != NULL)
		xml_node_add_child(err, app_name, app_ns);
	if (text != NULL) {
		struct xml_node *t = xml_node_add_child_text(err, "text",
		    NS_STANZAS, text);

		xml_node_set_attr_ns(t, XML_NS_XML, "lang", "en");
	}
	return reply;
}

void
router_error_app(struct router_req **reqp, const char *type, const char *cond,
    const char *app_name, const char *app_ns, const char *text)
{
	struct router_req *req = *reqp;

	log_debug("router: %s from %s: %s/%s%s%s", req->payload ?
	    req->payload->name : "iq", req->from, type, cond,
	    text ? ": " : "", text ? text : "");
	router_send(error_new(req->stanza, type, cond, app_name, app_ns,
	    text));
	router_req_free(reqp);
}

void
router_error(struct router_req **reqp, const char *type, const char *cond,
    const char *text)
{
	router_error_app(reqp, type, cond, NULL, NULL, text);
}

/* An error for a stanza that never became a request. */
static void
stanza_error(const struct xml_node *stanza, const char *type,
    const char *cond, const char *text)
{
	const char *t = xml_node_attr(stanza, "type");

	if (t != NULL && strcmp(t, "error") == 0)
		return;		/* never answer an error with an error */
	if (xml_node_attr(stanza, "from") == NULL)
		return;		/* nobody to answer */
	router_send(error_new(stanza, type, cond, NULL, NULL, text));
}

static void
pending_timeout_cb(evutil_socket_t fd, short events, void *arg)
{
	struct pending_iq *p = arg, **pp;

	for (pp = &rt.sent; *pp != NULL; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	log_debug("router: no answer to iq %s", p->id);
	p->fn(p->arg, NULL);
	pending_free(p);
}

int
router_send_iq(struct xml_node *iq, int timeout_s, router_result_fn *fn,
    void *arg)
{
	struct timeval tv = { timeout_s, 0 };
	struct pending_iq *p;
	char id[32];

	snprintf(id, sizeof(id), "xp%llx", rt.next_id++);
	xml_node_set_attr(iq, "id", id);
	if (router_send(iq) == -1)
		return -1;
	p = xcalloc(1, sizeof(*p));
	p->id = xstrdup(id);
	p->fn = fn;
	p->arg = arg;
	p->timeout = evtimer_new(rt.base, pending_timeout_cb, p);
	evtimer_add(p->timeout, &tv);
	p->next = rt.sent;
	rt.sent = p;
	return 0;
}

static void
route_answer(struct xml_node *stanza)
{
	const char *id = xml_node_attr(stanza, "id");
	struct pending_iq *p, **pp;

	for (pp = &rt.sent; id != NULL && *pp != NULL; pp = &(*pp)->next) {
		p = *pp;
		if (strcmp(p->id, id) != 0)
			continue;
		*pp = p->next;
		p->fn(p->arg, stanza);
		pending_free(p);
		break;
	}
	xml_node_free(&stanza);
}

/* The single element child of an IQ, or NULL when there are none or more. */
static struct xml_node *
iq_payload(const struct xml_node *iq, size_t *count_r)
{
	struct xml_node *c, *found = NULL;
	size_t n = 0;

	for (c = iq->children; c != NULL; c = c->next)
		if (c->type == XML_NODE_ELEMENT) {
			n++;
			found = c;
		}
	*count_r = n;
	return n == 1 ? found : NULL;
}

static struct router_req *
req_new(struct xml_node *stanza, struct xml_node *payload, bool set)
{
	struct router_req *req;

	req = xcalloc(1, sizeof(*req));
	req->stanza = stanza;
	req->payload = payload;
	req->id = xml_node_attr(stanza, "id");
	req->from = xml_node_attr(stanza, "from");
	req->to = xml_node_attr(stanza, "to");
	req->set = set;
	gettimeofday(&req->received, NULL);
	rt.pending++;
	return req;
}

static void
route_iq(struct xml_node *stanza)
{
	const char *type = xml_node_attr(stanza, "type");
	struct router_req *req;
	struct xml_node *payload;
	struct handler *h;
	size_t i, n;
	bool set;

	if (type != NULL && (strcmp(type, "result") == 0 ||
	    strcmp(type, "error") == 0)) {
		route_answer(stanza);
		return;
	}
	if (type == NULL || (strcmp(type, "get") != 0 &&
	    strcmp(type, "set") != 0)) {
		stanza_error(stanza, "modify", "bad-request",
		    "iq type must be get, set, result or error");
		goto drop;
	}
	set = type[0] == 's';
	if (xml_node_attr(stanza, "id") == NULL) {
		stanza_error(stanza, "modify", "bad-request",
		    "iq without an id");
		goto drop;
	}
	if ((payload = iq_payload(stanza, &n)) == NULL) {
		stanza_error(stanza, "modify", "bad-request", n == 0 ?
		    "iq get or set without a payload" :
		    "iq get or set with more than one payload");
		goto drop;
	}
	if (xml_node_attr(stanza, "from") == NULL) {
		log_warnx("router: iq without a from attribute dropped");
		goto drop;
	}
	for (i = 0; i < rt.nhandlers; i++) {
		h = &rt.handlers[i];
		if (h->set != set || !xml_node_is(payload, h->name, h->ns))
			continue;
		req = req_new(stanza, payload, set);
		h->fn(h->arg, req);
		return;
	}
	stanza_error(stanza, "cancel", "service-unavailable", NULL);
drop:
	xml_node_free(&stanza);
}

/*
 * A message: to the handler of the first child element it has one for
 * (a Push 2.0 notification, say), else to the plain message handler.
 * Messages of type error are never answered: they go to the plain handler
 * (or nowhere).  A handled message without a from has nobody to answer
 * and is dropped.
 */
static void
route_message(struct xml_node *stanza)
{
	const char *type = xml_node_attr(stanza, "type");
	struct xml_node *c;
	struct handler *h;
	size_t i;

	if (type == NULL || strcmp(type, "error") != 0)
		for (c = stanza->children; c != NULL; c = c->next) {
			if (c->type != XML_NODE_ELEMENT)
				continue;
			for (i = 0; i < rt.nmhandlers; i++) {
				h = &rt.mhandlers[i];
				if (!xml_node_is(c, h->name, h->ns))
					continue;
				if (xml_node_attr(stanza, "from") == NULL) {
					log_warnx("router: message without a "
					    "from attribute dropped");
					xml_node_free(&stanza);
					return;
				}
				h->fn(h->arg, req_new(stanza, c, false));
				return;
			}
		}
	if (rt.message_fn != NULL)
		rt.message_fn(rt.message_arg, stanza);
	else
		xml_node_free(&stanza);
}

void
router_dispatch(void *arg, struct xml_node *stanza)
{
	if (stanza->ns == NULL ||
	    strcmp(stanza->ns, XML_STREAM_COMPONENT_NS) != 0) {
		log_debug("router: dropping <%s/> in namespace %s",
		    stanza->name, stanza->ns ? stanza->ns : "(none)");
		xml_node_free(&stanza);
		return;
	}
	if (strcmp(stanza->name, "iq") == 0)
		route_iq(stanza);
	else if (strcmp(stanza->name, "message") == 0)
		route_message(stanza);
	else
		xml_node_free(&stanza);	/* presences and the rest: quietly */
}
