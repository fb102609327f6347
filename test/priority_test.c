/*
 * Reading notifications and deciding priority (core/priority.c), and the
 * per-device throttle driven by a fake clock.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/priority.h"
#include "test/tap.h"
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

static void
test_throttle(void)
{
	struct throttle_conf tc = { 60000, 3.0, 60.0 / 60000.0 };
	struct throttle_state ts;
	uint64_t when = 0, now = 1000000;
	int i, sent;

	memset(&ts, 0, sizeof(ts));
	is_int(throttle_check(&ts, &tc, XP_PRIO_LOW, now, &when),
	    THROTTLE_SEND, "the first low push goes");
	is_int(throttle_check(&ts, &tc, XP_PRIO_LOW, now + 10, &when),
	    THROTTLE_COALESCE, "a second within the window waits");
	is_int(when, now + 60000, "until the window ends");
	is_int(throttle_check(&ts, &tc, XP_PRIO_LOW, now + 59999, &when),
	    THROTTLE_COALESCE, "still inside the window");
	is_int(throttle_check(&ts, &tc, XP_PRIO_LOW, now + 60000, &when),
	    THROTTLE_SEND, "the window's end lets the next one go");

	memset(&ts, 0, sizeof(ts));
	for (i = 0, sent = 0; i < 5; i++)
		if (throttle_check(&ts, &tc, XP_PRIO_HIGH, now, &when) ==
		    THROTTLE_SEND)
			sent++;
	is_int(sent, 3, "a burst of 3 high pushes passes");
	is_int(when, now + 1001, "the next token comes in a second");
	is_int(throttle_check(&ts, &tc, XP_PRIO_HIGH, now + 999, &when),
	    THROTTLE_COALESCE, "not before");
	is_int(throttle_check(&ts, &tc, XP_PRIO_HIGH, now + 1001, &when),
	    THROTTLE_SEND, "then one more");
	is_int(throttle_check(&ts, &tc, XP_PRIO_HIGH, now + 600000, &when),
	    THROTTLE_SEND, "after a long pause the bucket is full again");
	is_int(throttle_check(&ts, &tc, XP_PRIO_HIGH, now + 600000, &when),
	    THROTTLE_SEND, "burst 2 of 3");
	is_int(throttle_check(&ts, &tc, XP_PRIO_HIGH, now + 600000, &when),
	    THROTTLE_SEND, "burst 3 of 3");
	is_int(throttle_check(&ts, &tc, XP_PRIO_HIGH, now + 600000, &when),
	    THROTTLE_COALESCE, "and never more than the burst");
	is_int(throttle_check(&ts, &tc, XP_PRIO_LOW, now + 600000, &when),
	    THROTTLE_SEND, "low and high are throttled apart");

	/* When a state may be forgotten (the sweep in core/publish.c). */
	memset(&ts, 0, sizeof(ts));
	ok(throttle_idle(&ts, &tc, now), "a fresh state is idle");
	throttle_check(&ts, &tc, XP_PRIO_HIGH, now, &when);
	ok(!throttle_idle(&ts, &tc, now + 999),
	    "a token short of a full bucket: not idle");
	ok(throttle_idle(&ts, &tc, now + 1000),
	    "idle once the bucket has refilled");
	throttle_check(&ts, &tc, XP_PRIO_LOW, now + 2000, &when);
	ok(!throttle_idle(&ts, &tc, now + 2000 + 59999),
	    "a low push keeps it for the low window");
	ok(throttle_idle(&ts, &tc, now + 2000 + 60000),
	    "idle when the window is over and the bucket full");
	memset(&ts, 0, sizeof(ts));
	throttle_check(&ts, &tc, XP_PRIO_HIGH, now, &when);
	throttle_check(&ts, &tc, XP_PRIO_HIGH, now, &when);
	ok(!throttle_idle(&ts, &tc, now + 1999) &&
	    throttle_idle(&ts, &tc, now + 2000),
	    "two tokens spent: idle after two refills");
}

int
main(void)
{
	test_classify();
	test_throttle();
	return tap_done();
}
