/*
 * Reading notifications and deciding priority (core/notif.c).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/notif.h"
#include "test/lib/tap.h"
#include "xml/stream.h"

/* Parses one <notification xmlns='urn:xmpp:push:0'>inner</notification>. */
static struct xml_node *
notification(const char *inner)
{
	struct xml_node *parsed = NULL;
	struct xml_stream_event ev;
	struct xml_stream *s;
	size_t used;
	char *doc;

	s = xml_stream_new("jabber:component:accept", NULL);
	if (asprintf(&doc, "<stream:stream xmlns='jabber:component:accept' "
	    "xmlns:stream='http://etherx.jabber.org/streams'>"
	    "<notification xmlns='urn:xmpp:push:0'>%s</notification>",
	    inner) < 0)
		abort();
	xml_stream_feed(s, doc, strlen(doc), &used);
	while (xml_stream_next(s, &ev) != XML_STREAM_EV_NONE)
		if (ev.type == XML_STREAM_EV_STANZA)
			parsed = ev.stanza;
	free(doc);
	xml_stream_free(&s);
	return parsed;
}

#define FORM(fields) "<x xmlns='jabber:x:data' type='form'><field " \
	"var='FORM_TYPE'><value>urn:xmpp:push:summary</value></field>" fields "</x>"

static void
classify(const char *inner, int want_prio, int want_kind, int want_call,
    const char *name)
{
	struct xml_node *n = notification(inner);
	enum xp_prio prio;
	enum xp_kind kind;
	const char *err = NULL;
	struct notif nf;
	bool call;

	if (!ok(n != NULL && notif_parse(n, &nf, &err) == 0, "%s: parses",
	    name)) {
		diag("%s", err ? err : "no tree");
		xml_node_free(&n);
		return;
	}
	notif_classify(&nf, &prio, &kind, &call);
	is_int(prio, want_prio, "%s: priority", name);
	is_int(kind, want_kind, "%s: kind", name);
	is_int(call, want_call, "%s: call", name);
	xml_node_free(&n);
}

static void
test_classify(void)
{
	struct xml_node *n;
	const char *err = NULL;
	struct notif nf;

	classify(FORM("<field var='message-count'><value>1</value></field>"
	    "<field var='pending-subscription-count'/>"
	    "<field var='last-message-sender'/>"
	    "<field var='last-message-body'><value>New Message!</value></field>"),
	    XP_PRIO_HIGH, XP_KIND_MESSAGE, 0, "Prosody placeholder body");
	classify(FORM("<field var='message-count'><value>1</value></field>"
	    "<field var='last-message-body'/>"),
	    XP_PRIO_LOW, XP_KIND_MESSAGE, 0, "chat state only");
	classify("", XP_PRIO_LOW, XP_KIND_WAKEUP, 0, "no form at all");
	classify(FORM("<field var='pending-subscription-count'><value>2</value>"
	    "</field>"), XP_PRIO_LOW, XP_KIND_SUBSCRIPTION, 0, "subscription");
	classify("<encrypted xmlns='tigase:push:encrypt:0' iv='aXY='>eA==</encrypted>",
	    XP_PRIO_HIGH, XP_KIND_MESSAGE, 0, "encrypted message");
	classify("<encrypted xmlns='tigase:push:encrypt:0' iv='aXY=' type='voip'>"
	    "eA==</encrypted>", XP_PRIO_HIGH, XP_KIND_CALL, 1, "encrypted voip");
	classify("<jingle xmlns='tigase:push:jingle:0' action='propose' sid='s'>"
	    "<media>audio</media></jingle>", XP_PRIO_HIGH, XP_KIND_CALL, 1,
	    "Jingle propose");
	classify("<jingle xmlns='tigase:push:jingle:0' action='retract' sid='s'/>",
	    XP_PRIO_LOW, XP_KIND_WAKEUP, 0, "Jingle retract is no call");
	classify("<priority xmlns='tigase:push:priority:0'>low</priority>"
	    FORM("<field var='last-message-body'><value>hi</value></field>"),
	    XP_PRIO_LOW, XP_KIND_MESSAGE, 0, "explicit low wins over a body");
	classify("<priority xmlns='tigase:push:priority:0'>high</priority>",
	    XP_PRIO_HIGH, XP_KIND_WAKEUP, 0, "explicit high");
	classify("<groupchat xmlns='http://tigase.org/protocol/muc#offline'>"
	    "<nickname>bob</nickname></groupchat>"
	    FORM("<field var='last-message-body'><value>hi</value></field>"),
	    XP_PRIO_HIGH, XP_KIND_GROUPCHAT, 0, "groupchat");
	classify("<removed xmlns='http://tigase.org/protocol/account#event'/>",
	    XP_PRIO_LOW, XP_KIND_ACCOUNT_EVENT, 0, "account removed");
	classify("<x xmlns='jabber:x:data' type='submit'><field var='last-message-body'>"
	    "<value>hey</value></field></x>", XP_PRIO_HIGH, XP_KIND_MESSAGE, 0,
	    "ejabberd submit form without FORM_TYPE or message-count");

	n = notification("<priority xmlns='tigase:push:priority:0'>urgent</priority>");
	ok(notif_parse(n, &nf, &err) == -1 && err != NULL,
	    "a priority other than high or low is refused");
	xml_node_free(&n);
	n = notification("<encrypted xmlns='tigase:push:encrypt:0'>eA==</encrypted>");
	ok(notif_parse(n, &nf, &err) == -1, "encrypted without an iv is refused");
	xml_node_free(&n);
	n = notification(FORM("<field var='message-count'><value>x7</value></field>"));
	ok(notif_parse(n, &nf, &err) == 0 && nf.message_count == -1,
	    "a garbled message-count counts as unknown");
	xml_node_free(&n);
	ok(notif_parse(NULL, &nf, &err) == 0 && !nf.has_form,
	    "a publish with no notification is a wake-up");
}

int
main(void)
{
	test_classify();
	return tap_done();
}
