/*
 * XEP-0050 Ad-Hoc Commands, version 1.3.
 *
 * Flow: execute without a form opens a session and answers status
 * 'executing' with the form and <actions execute='complete'><complete/>;
 * complete (or execute) with a submitted form finishes it; cancel ends it
 * with status 'canceled'.  A client that sends the filled form with its
 * first execute (single-stage use, common in scripts and in Tigase's own
 * clients) is served without a session.  A command without an action
 * attribute is an execute (XEP-0050 §3.4): Stork
 * (PushController.registerInPushService, through jaxmpp's
 * AdHocCommansModule.execute with a null action) and Siskin (Martin's
 * AdHocCommandsModule.execute, which writes no action) send
 * register-device that way.
 *
 * Errors use XEP-0050 §4.6's application conditions: bad-action,
 * malformed-action, bad-locale, bad-payload, bad-sessionid, session-expired.
 * Input a command refuses is an IQ error too, modify/bad-request with
 * <bad-payload/> ("the responding JID cannot accept the specified payload")
 * and a text that names the field, not status='completed' with an error
 * note: §3.6's completed-but-failed shape is read as success by clients
 * (Siskin, scripts), and nothing was executed.  A submitted form is
 * checked against the form that was asked for (XEP-0004 §3.2: a
 * single-valued field with two values is refused, not cut to the first).
 *
 * Sessions are bound to the full JID that opened them and expire after
 * `adhoc-session-timeout` seconds.  An account (bare JID, all its
 * resources together) holds at most `adhoc-max-sessions` at once, and
 * everyone together `adhoc-max-sessions-total`; beyond either the answer
 * is wait/resource-constraint (RFC 6120 §8.3.3.18).  Sessions are found by
 * id and counted per account through hash tables keyed with SipHash (the
 * keys are chosen by the requesters), never by walking every session.
 * Expired ids are remembered an hour so a late complete gets
 * session-expired, at most `adhoc-max-sessions-total` of them.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/queue.h>

#include <event2/event.h>

#include "core/adhoc.h"
#include "core/admins.h"
#include "core/disco.h"
#include "core/log.h"
#include "core/rand.h"
#include "core/siphash.h"
#include "core/xmalloc.h"
#include "xml/jid.h"

#define ADHOC_MAX_COMMANDS	16
#define ADHOC_EXPIRED_KEEP	3600	/* seconds an expired id is known */
#define ADHOC_BUCKETS		4096	/* hash buckets, a power of two */

struct session {
	char		*id;
	char		*node;
	char		*owner;		/* full JID */
	char		*bare;		/* its account */
	time_t		 expires;
	bool		 expired;
	struct session	*hnext;		/* bucket chain, by id */
	TAILQ_ENTRY(session) entry;	/* ah.live or ah.dead, by expiry */
};
TAILQ_HEAD(session_q, session);

/* Live sessions of one account. */
struct account {
	char		*bare;
	int		 n;
	struct account	*hnext;
};

static struct {
	struct event_base	*base;
	struct adhoc_command	 cmds[ADHOC_MAX_COMMANDS];
	size_t			 ncmds;
	struct session		*by_id[ADHOC_BUCKETS];
	struct account		*by_bare[ADHOC_BUCKETS];
	struct session_q	 live, dead;
	int			 nlive, ndead;
	struct siphash_key	 key;
	struct event		*sweep;
	int			 timeout;
	int			 max_sessions;	/* per account */
	int			 max_total;
} ah = {
	.live = TAILQ_HEAD_INITIALIZER(ah.live),
	.dead = TAILQ_HEAD_INITIALIZER(ah.dead),
};

static const struct adhoc_command *
adhoc_find(const char *node)
{
	size_t i;

	for (i = 0; i < ah.ncmds; i++)
		if (strcmp(ah.cmds[i].node, node) == 0)
			return &ah.cmds[i];
	return NULL;
}

bool
adhoc_is_admin(const char *bare)
{
	return admins_is(bare);
}

void
adhoc_register(const struct adhoc_command *c)
{
	if (ah.ncmds == ADHOC_MAX_COMMANDS)
		fatalx("adhoc: too many commands");
	ah.cmds[ah.ncmds++] = *c;
}

static size_t
bucket(const char *key)
{
	return siphash64(&ah.key, key, strlen(key)) & (ADHOC_BUCKETS - 1);
}

static struct account *
account_find(const char *bare)
{
	struct account *a;

	for (a = ah.by_bare[bucket(bare)]; a != NULL; a = a->hnext)
		if (strcmp(a->bare, bare) == 0)
			return a;
	return NULL;
}

static int
account_sessions(const char *bare)
{
	struct account *a = account_find(bare);

	return a != NULL ? a->n : 0;
}

/* One more (delta 1) or one fewer (-1) live session for the account. */
static void
account_count(const char *bare, int delta)
{
	struct account *a, **ap;

	if ((a = account_find(bare)) == NULL) {
		a = xcalloc(1, sizeof(*a));
		a->bare = xstrdup(bare);
		a->hnext = ah.by_bare[bucket(bare)];
		ah.by_bare[bucket(bare)] = a;
	}
	if ((a->n += delta) > 0)
		return;
	for (ap = &ah.by_bare[bucket(bare)]; *ap != a; ap = &(*ap)->hnext)
		;
	*ap = a->hnext;
	free(a->bare);
	free(a);
}

static struct session *
session_find(const char *id)
{
	struct session *s;

	for (s = ah.by_id[bucket(id)]; s != NULL; s = s->hnext)
		if (strcmp(s->id, id) == 0)
			return s;
	return NULL;
}

/* In ah.live by expiry: from the tail, as the newest usually expires last. */
static void
session_add(struct session *s)
{
	struct session *p;

	s->hnext = ah.by_id[bucket(s->id)];
	ah.by_id[bucket(s->id)] = s;
	TAILQ_FOREACH_REVERSE(p, &ah.live, session_q, entry)
		if (p->expires <= s->expires)
			break;
	if (p != NULL)
		TAILQ_INSERT_AFTER(&ah.live, p, s, entry);
	else
		TAILQ_INSERT_HEAD(&ah.live, s, entry);
	ah.nlive++;
	account_count(s->bare, 1);
}

/* Every terminal path of a session: completed, canceled or forgotten. */
static void
session_remove(struct session *s)
{
	struct session **sp;

	for (sp = &ah.by_id[bucket(s->id)]; *sp != s; sp = &(*sp)->hnext)
		;
	*sp = s->hnext;
	if (s->expired) {
		TAILQ_REMOVE(&ah.dead, s, entry);
		ah.ndead--;
	} else {
		TAILQ_REMOVE(&ah.live, s, entry);
		ah.nlive--;
		account_count(s->bare, -1);
	}
	free(s->id);
	free(s->node);
	free(s->owner);
	free(s->bare);
	free(s);
}

/* Live -> dead: no longer counted, its id remembered for a while. */
static void
session_expire(struct session *s)
{
	log_debug("adhoc: session %s of %s expired", s->id, s->owner);
	TAILQ_REMOVE(&ah.live, s, entry);
	ah.nlive--;
	account_count(s->bare, -1);
	s->expired = true;
	TAILQ_INSERT_TAIL(&ah.dead, s, entry);
	ah.ndead++;
	while (ah.ndead > ah.max_total)
		session_remove(TAILQ_FIRST(&ah.dead));
}

/* Expires the sessions that are due; forgets expired ids after a while. */
static void
sessions_expire(time_t now)
{
	struct session *s;

	while ((s = TAILQ_FIRST(&ah.live)) != NULL && now >= s->expires)
		session_expire(s);
	while ((s = TAILQ_FIRST(&ah.dead)) != NULL &&
	    now >= s->expires + ADHOC_EXPIRED_KEEP)
		session_remove(s);
}

static void
adhoc_sweep_cb(evutil_socket_t fd, short events, void *arg)
{
	struct timeval tv = { 5, 0 };

	sessions_expire(time(NULL));
	evtimer_add(ah.sweep, &tv);
}

static void
adhoc_load_conf(const struct xp_conf *conf)
{
	ah.timeout = (int)conf_int(conf, NULL, "adhoc-session-timeout");
	ah.max_sessions = (int)conf_int(conf, NULL, "adhoc-max-sessions");
	ah.max_total = (int)conf_int(conf, NULL, "adhoc-max-sessions-total");
}

void
adhoc_reconfigure(const struct xp_conf *conf)
{
	adhoc_load_conf(conf);
}

static void
ctx_free(struct adhoc_ctx **ctxp)
{
	struct adhoc_ctx *ctx = *ctxp;

	if (ctx == NULL)
		return;
	form_free((struct form **)&ctx->form);
	free((char *)ctx->node);
	free((char *)ctx->requester);
	free((char *)ctx->requester_bare);
	free(ctx->sessionid);
	router_req_free(&ctx->req);
	free(ctx);
	*ctxp = NULL;
}

/* <iq type='result'><command node=… sessionid=… status=…/></iq> */
static struct xml_node *
command_reply(const struct router_req *req, const char *node,
    const char *sessionid, const char *status, struct xml_node **cmd_r)
{
	struct xml_node *res, *cmd;

	res = router_result_new(req);
	cmd = xml_node_add_child(res, "command", NS_COMMANDS);
	xml_node_set_attr(cmd, "node", node);
	if (sessionid != NULL)
		xml_node_set_attr(cmd, "sessionid", sessionid);
	xml_node_set_attr(cmd, "status", status);
	*cmd_r = cmd;
	return res;
}

/* A result form, kept on the context until the answer goes out. */
struct xml_node *
adhoc_result_form(struct adhoc_ctx *ctx)
{
	struct xml_node *x = form_build(FORM_RESULT, NULL);

	/* Attached by adhoc_complete: remember it in the request. */
	xml_node_append(ctx->req->payload, x);
	return x;
}

void
adhoc_complete(struct adhoc_ctx **ctxp, const char *note)
{
	struct adhoc_ctx *ctx = *ctxp;
	struct xml_node *res, *cmd, *c, *n;

	res = command_reply(ctx->req, ctx->node, ctx->sessionid, "completed",
	    &cmd);
	/* Result forms were parked under the request's payload. */
	for (c = ctx->req->payload->children; c != NULL; c = c->next)
		if (c->type == XML_NODE_ELEMENT &&
		    xml_node_is(c, "x", FORM_NS) &&
		    xml_node_attr(c, "type") != NULL &&
		    strcmp(xml_node_attr(c, "type"), "result") == 0)
			xml_node_append(cmd, xml_node_copy(c));
	if (note != NULL) {
		n = xml_node_add_child_text(cmd, "note", NULL, note);
		xml_node_set_attr(n, "type", "info");
	}
	router_reply(&ctx->req, res);
	ctx_free(ctxp);
}

static void
cmd_error(struct router_req **reqp, const char *type, const char *cond,
    const char *app, const char *text)
{
	router_error_app(reqp, type, cond, app, app ? NS_COMMANDS : NULL,
	    text);
}

/* XEP-0050 §4.6: modify / bad-request / bad-payload, with the reason. */
static void
refuse_payload(struct router_req **reqp, const char *node, const char *msg)
{
	log_info("adhoc: %s by %s refused: %s", node, (*reqp)->from, msg);
	cmd_error(reqp, "modify", "bad-request", "bad-payload", msg);
}

void
adhoc_refuse(struct adhoc_ctx **ctxp, const char *fmt, ...)
{
	struct adhoc_ctx *ctx = *ctxp;
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	refuse_payload(&ctx->req, ctx->node, msg);
	ctx_free(ctxp);
}

void
adhoc_error(struct adhoc_ctx **ctxp, const char *type, const char *cond,
    const char *text)
{
	struct adhoc_ctx *ctx = *ctxp;

	router_error(&ctx->req, type, cond, text);
	ctx_free(ctxp);
}

/* The submitted <x type='submit'/> inside the command, or NULL. */
static struct xml_node *
submitted_form(const struct xml_node *cmd)
{
	struct xml_node *x;

	for (x = xml_node_child(cmd, "x", FORM_NS); x != NULL;
	    x = xml_node_next(x, "x", FORM_NS)) {
		const char *t = xml_node_attr(x, "type");

		if (t != NULL && strcmp(t, "submit") == 0)
			return x;
	}
	return NULL;
}

/* What a command's form callback sees of the requester. */
static void
view_init(struct adhoc_ctx *view, const struct adhoc_command *c,
    const struct router_req *req, const char *bare)
{
	memset(view, 0, sizeof(*view));
	view->node = c->node;
	view->requester = req->from;
	view->requester_bare = bare;
	view->admin = adhoc_is_admin(bare);
	view->cmd_arg = c->arg;
}

/* The submitted form, read and checked against the one the command asks. */
static struct form *
submit_parse(const struct adhoc_command *c, const struct router_req *req,
    const struct xml_node *x, const char *bare, char **err_r)
{
	struct adhoc_ctx view;
	struct form *form, *asked;
	struct xml_node *ax;
	int rv;

	if ((form = form_parse(x, err_r)) == NULL)
		return NULL;
	ax = form_build(FORM_FORM, NULL);
	view_init(&view, c, req, bare);
	c->form(c->arg, &view, ax);
	asked = form_parse(ax, NULL);
	xml_node_free(&ax);
	rv = asked != NULL ? form_check_values(form, asked, err_r) : 0;
	form_free(&asked);
	if (rv == -1)
		form_free(&form);
	return form;
}

static void
run_submit(const struct adhoc_command *c, struct router_req *req,
    const struct xml_node *x, const char *sessionid, const char *bare)
{
	struct adhoc_ctx *ctx;
	struct form *form;
	char *err = NULL;

	if ((form = submit_parse(c, req, x, bare, &err)) == NULL) {
		refuse_payload(&req, c->node, err != NULL ? err :
		    "the form cannot be read");
		free(err);
		return;
	}
	ctx = xcalloc(1, sizeof(*ctx));
	ctx->node = xstrdup(c->node);
	ctx->requester = xstrdup(req->from);
	ctx->requester_bare = xstrdup(bare);
	ctx->admin = adhoc_is_admin(bare);
	ctx->form = form;
	ctx->cmd_arg = c->arg;
	ctx->req = req;
	ctx->sessionid = sessionid != NULL ? xstrdup(sessionid) : NULL;
	c->submit(c->arg, ctx);
}

static void
start_session(const struct adhoc_command *c, struct router_req *req,
    const char *bare)
{
	struct xml_node *res, *cmd, *actions, *x;
	struct adhoc_ctx view;
	struct session *s;
	time_t now = time(NULL);

	sessions_expire(now);
	if (account_sessions(bare) >= ah.max_sessions) {
		log_info("adhoc: %s holds %d command sessions: %s refused",
		    bare, ah.max_sessions, req->from);
		router_error(&req, "wait", "resource-constraint",
		    "too many open command sessions for this account: "
		    "complete or cancel one");
		return;
	}
	if (ah.nlive >= ah.max_total) {
		log_warnx("adhoc: %d command sessions open, the most "
		    "adhoc-max-sessions-total allows: %s refused", ah.nlive,
		    req->from);
		router_error(&req, "wait", "resource-constraint",
		    "too many open command sessions: try again later");
		return;
	}
	s = xcalloc(1, sizeof(*s));
	s->id = rand_id();
	s->node = xstrdup(c->node);
	s->owner = xstrdup(req->from);
	s->bare = xstrdup(bare);
	s->expires = now + ah.timeout;
	session_add(s);

	res = command_reply(req, c->node, s->id, "executing", &cmd);
	actions = xml_node_add_child(cmd, "actions", NULL);
	xml_node_set_attr(actions, "execute", "complete");
	xml_node_add_child(actions, "complete", NULL);
	x = form_build_in(cmd, FORM_FORM, NULL);
	view_init(&view, c, req, bare);
	form_build_title(x, c->name, NULL);
	c->form(c->arg, &view, x);
	router_reply(&req, res);
}

static void
adhoc_command_cb(void *arg, struct router_req *req)
{
	const struct xml_node *cmdel = req->payload;
	const char *node = xml_node_attr(cmdel, "node");
	const char *action = xml_node_attr(cmdel, "action");
	const char *sid = xml_node_attr(cmdel, "sessionid");
	const struct adhoc_command *c;
	struct xml_node *form, *res, *cmd;
	struct session *s;
	struct jid *j;
	char *bare;

	if ((j = jid_parse(req->from, NULL)) == NULL) {
		router_error(&req, "modify", "jid-malformed", NULL);
		return;
	}
	bare = xstrdup(jid_bare(j));
	jid_free(&j);
	if (node == NULL || (c = adhoc_find(node)) == NULL) {
		router_error(&req, "cancel", "item-not-found",
		    "no such command");
		goto out;
	}
	if (c->admin_only && !adhoc_is_admin(bare)) {
		log_info("adhoc: %s refused to %s: not an admin", node,
		    req->from);
		router_error(&req, "auth", "forbidden",
		    "this command is for the administrators");
		goto out;
	}
	if (action == NULL)
		action = "execute";
	if (strcmp(action, "execute") != 0 && strcmp(action, "complete") != 0 &&
	    strcmp(action, "cancel") != 0 && strcmp(action, "next") != 0 &&
	    strcmp(action, "prev") != 0) {
		cmd_error(&req, "modify", "bad-request", "malformed-action",
		    "the action must be execute, cancel, complete, next or "
		    "prev");
		goto out;
	}
	form = submitted_form(cmdel);

	if (sid == NULL) {
		if (strcmp(action, "execute") != 0 &&
		    strcmp(action, "complete") != 0) {
			cmd_error(&req, "modify", "bad-request", "bad-action",
			    "no session to apply this action to");
			goto out;
		}
		if (form != NULL)
			run_submit(c, req, form, NULL, bare);
		else if (strcmp(action, "complete") == 0)
			cmd_error(&req, "modify", "bad-request", "bad-payload",
			    "complete needs the submitted form");
		else
			start_session(c, req, bare);
		goto out;
	}

	s = session_find(sid);
	if (s == NULL || strcmp(s->owner, req->from) != 0 ||
	    strcmp(s->node, node) != 0) {
		cmd_error(&req, "modify", "bad-request", "bad-sessionid",
		    "no such session for you and this command");
		goto out;
	}
	if (s->expired || time(NULL) >= s->expires) {
		session_remove(s);
		cmd_error(&req, "cancel", "not-allowed", "session-expired",
		    "the session expired: execute the command again");
		goto out;
	}
	if (strcmp(action, "cancel") == 0) {
		session_remove(s);
		res = command_reply(req, node, sid, "canceled", &cmd);
		router_reply(&req, res);
		goto out;
	}
	if (strcmp(action, "prev") == 0 || strcmp(action, "next") == 0) {
		cmd_error(&req, "modify", "bad-request", "bad-action",
		    "this command has a single stage: complete it");
		goto out;
	}
	if (form == NULL) {
		cmd_error(&req, "modify", "bad-request", "bad-payload",
		    "the submitted form is missing");
		goto out;
	}
	session_remove(s);
	run_submit(c, req, form, sid, bare);
out:
	free(bare);
}

/* disco#items at the commands node; disco#info on a command's node. */
static bool
adhoc_disco_cb(void *arg, struct router_req **reqp, const char *node,
    bool items)
{
	struct router_req *req = *reqp;
	struct xml_node *res, *q, *n;
	struct jid *j;
	bool admin;
	size_t i;

	j = jid_parse(req->from, NULL);
	admin = j != NULL && adhoc_is_admin(jid_bare(j));
	jid_free(&j);
	if (items && strcmp(node, NS_COMMANDS) == 0) {
		res = router_result_new(req);
		q = xml_node_add_child(res, "query", NS_DISCO_ITEMS);
		xml_node_set_attr(q, "node", NS_COMMANDS);
		for (i = 0; i < ah.ncmds; i++) {
			if (ah.cmds[i].admin_only && !admin)
				continue;
			n = xml_node_add_child(q, "item", NULL);
			xml_node_set_attr(n, "jid", router_jid());
			xml_node_set_attr(n, "node", ah.cmds[i].node);
			xml_node_set_attr(n, "name", ah.cmds[i].name);
		}
		router_reply(reqp, res);
		return true;
	}
	if (!items && strcmp(node, NS_COMMANDS) == 0) {
		res = router_result_new(req);
		q = xml_node_add_child(res, "query", NS_DISCO_INFO);
		xml_node_set_attr(q, "node", NS_COMMANDS);
		n = xml_node_add_child(q, "identity", NULL);
		xml_node_set_attr(n, "category", "automation");
		xml_node_set_attr(n, "type", "command-list");
		router_reply(reqp, res);
		return true;
	}
	const struct adhoc_command *c = adhoc_find(node);
	if (c == NULL || (c->admin_only && !admin))
		return false;
	res = router_result_new(req);
	q = xml_node_add_child(res, "query", items ? NS_DISCO_ITEMS :
	    NS_DISCO_INFO);
	xml_node_set_attr(q, "node", node);
	if (!items) {
		n = xml_node_add_child(q, "identity", NULL);
		xml_node_set_attr(n, "category", "automation");
		xml_node_set_attr(n, "type", "command-node");
		xml_node_set_attr(n, "name", c->name);
		xml_node_set_attr(xml_node_add_child(q, "feature", NULL),
		    "var", NS_COMMANDS);
		xml_node_set_attr(xml_node_add_child(q, "feature", NULL),
		    "var", FORM_NS);
	}
	router_reply(reqp, res);
	return true;
}

void
adhoc_init(struct event_base *base, const struct xp_conf *conf)
{
	struct timeval tv = { 5, 0 };
	unsigned char key[SIPHASH_KEY_BYTES];

	rand_bytes(key, sizeof(key));
	siphash_key_set(&ah.key, key);
	ah.base = base;
	adhoc_load_conf(conf);
	router_register_iq("command", NS_COMMANDS, true, adhoc_command_cb,
	    NULL);
	disco_register_node(adhoc_disco_cb, NULL);
	ah.sweep = evtimer_new(base, adhoc_sweep_cb, NULL);
	evtimer_add(ah.sweep, &tv);
}

void
adhoc_shutdown(void)
{
	struct session *s;

	while ((s = TAILQ_FIRST(&ah.live)) != NULL)
		session_remove(s);
	while ((s = TAILQ_FIRST(&ah.dead)) != NULL)
		session_remove(s);
	if (ah.sweep != NULL)
		event_free(ah.sweep);
	ah.sweep = NULL;
	ah.ncmds = 0;
}
