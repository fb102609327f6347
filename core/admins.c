/*
 * The admins (see admins.h): the one list the ad-hoc commands check and
 * the one outbox, with its retry timer, for every part of the daemon that
 * has something to tell them.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "core/admins.h"
#include "core/log.h"
#include "core/router.h"
#include "core/xmalloc.h"
#include "xml/jid.h"
#include "xml/node.h"
#include "xml/stream.h"

struct admin_msg {
	char		*tag;
	char		*to;
	char		*body;
	struct admin_msg *next;
};

static struct {
	bool		 running;
	char		**admins;
	size_t		 nadmins;
	struct admin_msg *outbox, **tail;
	size_t		 queued;
	struct event	*retry;
} ad;

static void
admins_free(void)
{
	size_t i;

	for (i = 0; i < ad.nadmins; i++)
		free(ad.admins[i]);
	free(ad.admins);
	ad.admins = NULL;
	ad.nadmins = 0;
}

static void
admins_from_conf(const struct xp_conf *conf)
{
	const struct cfg_value *const *items;
	struct jid *j;
	size_t i, n;

	admins_free();
	n = conf_list(conf, NULL, "admins", &items);
	ad.admins = xcalloc(n + 1, sizeof(*ad.admins));
	for (i = 0; i < n; i++) {
		/* Compare in canonical form: the domain is lowercased. */
		if ((j = jid_parse(items[i]->str, NULL)) == NULL) {
			log_warnx("admins: '%s' is not a JID, ignored",
			    items[i]->str);
			continue;
		}
		ad.admins[ad.nadmins++] = xstrdup(jid_bare(j));
		jid_free(&j);
	}
}

bool
admins_is(const char *bare)
{
	size_t i;

	for (i = 0; i < ad.nadmins; i++)
		if (strcmp(ad.admins[i], bare) == 0)
			return true;
	return false;
}

static void
msg_free(struct admin_msg *m)
{
	free(m->tag);
	free(m->to);
	free(m->body);
	free(m);
}

/* Takes the first message off the outbox. */
static void
outbox_pop(void)
{
	struct admin_msg *m = ad.outbox;

	if ((ad.outbox = m->next) == NULL)
		ad.tail = &ad.outbox;
	ad.queued--;
	msg_free(m);
}

static void
outbox_flush(void)
{
	struct timeval tv = { ADMINS_RETRY, 0 };
	struct xml_node *msg;
	struct admin_msg *m;

	while ((m = ad.outbox) != NULL) {
		msg = xml_node_new("message", XML_STREAM_COMPONENT_NS);
		xml_node_set_attr(msg, "type", "chat");
		xml_node_set_attr(msg, "to", m->to);
		xml_node_add_child_text(msg, "body", NULL, m->body);
		if (router_send(msg) == -1) {
			if (!evtimer_pending(ad.retry, NULL))
				evtimer_add(ad.retry, &tv);
			return;
		}
		log_debug("%s: told %s", m->tag, m->to);
		outbox_pop();
	}
}

static void
admins_retry_cb(evutil_socket_t fd, short events, void *arg)
{
	outbox_flush();
}

void
admins_init(struct event_base *base, const struct xp_conf *conf)
{
	if ((ad.retry = evtimer_new(base, admins_retry_cb, NULL)) == NULL)
		fatalx("admins: evtimer_new failed");
	ad.outbox = NULL;
	ad.tail = &ad.outbox;
	ad.queued = 0;
	admins_from_conf(conf);
	ad.running = true;
}

void
admins_reconfigure(const struct xp_conf *conf)
{
	admins_from_conf(conf);
}

void
admins_shutdown(void)
{
	if (!ad.running)
		return;
	ad.running = false;
	while (ad.outbox != NULL)
		outbox_pop();
	event_free(ad.retry);
	ad.retry = NULL;
	admins_free();
}

void
admins_tell(const char *tag, const char *text)
{
	struct admin_msg *m;
	size_t i;

	if (!ad.running)
		return;
	for (i = 0; i < ad.nadmins; i++) {
		if (ad.queued >= ADMINS_OUTBOX_MAX) {
			log_warnx("admins: %zu messages wait for the link; "
			    "dropping the oldest (%s)", ad.queued,
			    ad.outbox->tag);
			outbox_pop();
		}
		m = xcalloc(1, sizeof(*m));
		m->tag = xstrdup(tag);
		m->to = xstrdup(ad.admins[i]);
		m->body = xstrdup(text);
		*ad.tail = m;
		ad.tail = &m->next;
		ad.queued++;
	}
	outbox_flush();
}

void
admins_withdraw(const char *tag)
{
	struct admin_msg **mp, *m;

	if (!ad.running)
		return;
	for (mp = &ad.outbox; (m = *mp) != NULL; ) {
		if (strcmp(m->tag, tag) == 0) {
			*mp = m->next;
			ad.queued--;
			msg_free(m);
		} else
			mp = &m->next;
	}
	ad.tail = mp;
}
