/*
 * Reading XEP-0357 notifications as Prosody, ejabberd and Tigase send them,
 * and deciding their priority.
 *
 * Liberal on purpose (DESIGN): the summary form comes as type='form'
 * (Prosody) or 'submit' (ejabberd), fields may be empty or carry no
 * <value/>, message-count may be missing, and a notification may hold no
 * form at all.  The Tigase extensions read here:
 *   <priority xmlns='tigase:push:priority:0'>high|low</priority>
 *   <encrypted xmlns='tigase:push:encrypt:0' iv='…' [type='voip']>…</encrypted>
 *   <jingle xmlns='tigase:push:jingle:0' action='propose' sid='…'><media>audio</media></jingle>
 *   <groupchat xmlns='http://tigase.org/protocol/muc#offline'><nickname>…</nickname></groupchat>
 *   any element in http://tigase.org/protocol/account#event: the account is gone
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/notif.h"
#include "xml/form.h"

static long
parse_count(const char *s)
{
	char *end;
	long n;

	if (s == NULL || *s == '\0')
		return -1;
	errno = 0;
	n = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || n < 0)
		return -1;
	return n;
}

/* The value of a summary field straight from the tree: "" means none. */
static const char *
field_value(const struct xml_node *x, const char *var)
{
	const struct xml_node *f, *v;
	const char *name;

	for (f = xml_node_child(x, "field", FORM_NS); f != NULL;
	    f = xml_node_next(f, "field", FORM_NS)) {
		name = xml_node_attr(f, "var");
		if (name == NULL || strcmp(name, var) != 0)
			continue;
		if ((v = xml_node_child(f, "value", FORM_NS)) == NULL)
			return NULL;
		return xml_node_text(v);
	}
	return NULL;
}

static const struct xml_node *
summary_form(const struct xml_node *n)
{
	const struct xml_node *x;
	const char *ft;

	for (x = xml_node_child(n, "x", FORM_NS); x != NULL;
	    x = xml_node_next(x, "x", FORM_NS)) {
		ft = field_value(x, "FORM_TYPE");
		/* A form without FORM_TYPE is taken as the summary too. */
		if (ft == NULL || strcmp(ft, NS_PUSH_SUMMARY) == 0)
			return x;
	}
	return NULL;
}

int
notif_parse(const struct xml_node *n, struct notif *nf, const char **error_r)
{
	const struct xml_node *x, *c;
	const char *s;

	memset(nf, 0, sizeof(*nf));
	nf->message_count = -1;
	nf->pending_subscriptions = -1;
	nf->explicit_prio = -1;
	if (n == NULL)
		return 0;
	if ((x = summary_form(n)) != NULL) {
		nf->has_form = true;
		nf->message_count = parse_count(field_value(x,
		    "message-count"));
		nf->pending_subscriptions = parse_count(field_value(x,
		    "pending-subscription-count"));
		s = field_value(x, "last-message-sender");
		nf->sender = s != NULL && *s != '\0' ? s : NULL;
		s = field_value(x, "last-message-body");
		nf->body = s != NULL && *s != '\0' ? s : NULL;
	}
	if ((c = xml_node_child(n, "priority", NS_TIGASE_PRIORITY)) != NULL) {
		s = xml_node_text(c);
		if (strcmp(s, "high") == 0)
			nf->explicit_prio = XP_PRIO_HIGH;
		else if (strcmp(s, "low") == 0)
			nf->explicit_prio = XP_PRIO_LOW;
		else {
			*error_r = "tigase:push:priority:0 must be high or low";
			return -1;
		}
	}
	if ((c = xml_node_child(n, "encrypted", NS_TIGASE_ENCRYPT)) != NULL) {
		nf->encrypted = xml_node_text(c);
		nf->iv = xml_node_attr(c, "iv");
		nf->encryption_type = xml_node_attr(c, "type");
		if (*nf->encrypted == '\0' || nf->iv == NULL ||
		    *nf->iv == '\0') {
			*error_r = "an encrypted notification needs its "
			    "payload and an iv";
			return -1;
		}
	}
	if ((c = xml_node_child(n, "jingle", NS_TIGASE_JINGLE)) != NULL) {
		const struct xml_node *m = xml_node_child(c, "media", NULL);

		nf->jingle = true;
		nf->jingle_action = xml_node_attr(c, "action");
		nf->jingle_sid = xml_node_attr(c, "sid");
		nf->jingle_media = m != NULL ? xml_node_text(m) : NULL;
	}
	if ((c = xml_node_child(n, "groupchat", NS_TIGASE_MUC_OFFLINE)) !=
	    NULL) {
		s = xml_node_child_text(c, "nickname", NULL);
		nf->nickname = s != NULL && *s != '\0' ? s : NULL;
	}
	for (c = n->children; c != NULL; c = c->next)
		if (c->type == XML_NODE_ELEMENT && c->ns != NULL &&
		    strcmp(c->ns, NS_TIGASE_ACCOUNT) == 0)
			nf->account_removed = true;
	return 0;
}

void
notif_classify(const struct notif *nf, enum xp_prio *prio_r,
    enum xp_kind *kind_r, bool *call_r)
{
	bool call;

	call = (nf->jingle && (nf->jingle_action == NULL ||
	    strcmp(nf->jingle_action, "propose") == 0)) ||
	    (nf->encryption_type != NULL &&
	    strcmp(nf->encryption_type, "voip") == 0);
	*call_r = call;
	if (nf->account_removed)
		*kind_r = XP_KIND_ACCOUNT_EVENT;
	else if (call)
		*kind_r = XP_KIND_CALL;
	else if (nf->nickname != NULL)
		*kind_r = XP_KIND_GROUPCHAT;
	else if (nf->body != NULL || nf->encrypted != NULL ||
	    nf->message_count > 0)
		*kind_r = XP_KIND_MESSAGE;
	else if (nf->pending_subscriptions > 0)
		*kind_r = XP_KIND_SUBSCRIPTION;
	else
		*kind_r = XP_KIND_WAKEUP;

	if (nf->explicit_prio >= 0)
		*prio_r = (enum xp_prio)nf->explicit_prio;
	else if (call || nf->body != NULL || nf->encrypted != NULL)
		*prio_r = XP_PRIO_HIGH;
	else
		*prio_r = XP_PRIO_LOW;
}
