/*
 * disco#info and disco#items (XEP-0030), ping (XEP-0199), version (XEP-0092).
 *
 * The identity is pubsub/push as XEP-0357 §4 asks of an App Server.  The
 * features are the XEP-0357 ones, the Tigase push extensions xpushd speaks
 * and any a provider block's `features` list adds, and the id of every
 * active provider block, added from the configuration: apps look their
 * App Server up by their provider id.  Siskin (SiskinPushNotificationsModule
 * findPushComponent, through Martin's TigasePushNotificationsModule) runs
 * disco#items on the account's domain and disco#info on each item, and
 * takes the one with identity pubsub/push and the features urn:xmpp:push:0
 * and tigase:messenger:apns:1, its provider id.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/disco.h"
#include "core/log.h"
#include "core/xmalloc.h"

#define DISCO_MAX_NODE_HANDLERS	8

static const char *const base_features[] = {
	NS_DISCO_INFO,
	NS_DISCO_ITEMS,
	"urn:xmpp:push:0",
	"http://jabber.org/protocol/commands",
	"jabber:x:data",
	"http://jabber.org/protocol/pubsub#publish-options",
	NS_PING,
	NS_VERSION,
	"tigase:push:encrypt:0",
	"tigase:push:encrypt:aes-128-gcm",
	"tigase:push:priority:0",
	"tigase:push:jingle:0",
	NULL
};

static struct {
	char		**extra;	/* provider ids and features */
	size_t		  nextra;
	struct {
		disco_node_fn	*fn;
		void		*arg;
	} nodes[DISCO_MAX_NODE_HANDLERS];
	size_t		  nnodes;
} dc;

static bool
disco_has_feature(const char *f)
{
	size_t i;

	for (i = 0; base_features[i] != NULL; i++)
		if (strcmp(base_features[i], f) == 0)
			return true;
	for (i = 0; i < dc.nextra; i++)
		if (strcmp(dc.extra[i], f) == 0)
			return true;
	return false;
}

static void
disco_clear_features(void)
{
	size_t i;

	for (i = 0; i < dc.nextra; i++)
		free(dc.extra[i]);
	free(dc.extra);
	dc.extra = NULL;
	dc.nextra = 0;
}

static void
disco_add_feature(const char *f)
{
	if (disco_has_feature(f))
		return;
	dc.extra = xreallocarray(dc.extra, dc.nextra + 1, sizeof(*dc.extra));
	dc.extra[dc.nextra++] = xstrdup(f);
}

void
disco_reconfigure(const struct xp_conf *conf)
{
	const struct cfg_node *p, *f;
	size_t i;

	disco_clear_features();
	for (p = conf_providers(conf); p != NULL; p = p->next) {
		if (!conf_block_active(p))
			continue;
		disco_add_feature(p->key);
		if ((f = cfg_find(p->children, "features")) == NULL ||
		    f->value == NULL || f->value->type != CFG_LIST)
			continue;
		for (i = 0; i < f->value->nitems; i++)
			if (f->value->items[i]->type == CFG_STRING)
				disco_add_feature(f->value->items[i]->str);
	}
}

void
disco_register_node(disco_node_fn *fn, void *arg)
{
	if (dc.nnodes == DISCO_MAX_NODE_HANDLERS)
		fatalx("disco: too many node handlers");
	dc.nodes[dc.nnodes].fn = fn;
	dc.nodes[dc.nnodes++].arg = arg;
}

static bool
disco_node(struct router_req **reqp, bool items)
{
	const char *node = xml_node_attr((*reqp)->payload, "node");
	size_t i;

	if (node == NULL)
		return false;
	for (i = 0; i < dc.nnodes; i++)
		if (dc.nodes[i].fn(dc.nodes[i].arg, reqp, node, items))
			return true;
	router_error(reqp, "cancel", "item-not-found", NULL);
	return true;
}

static void
disco_info_cb(void *arg, struct router_req *req)
{
	struct xml_node *res, *q, *n;
	size_t i;

	if (disco_node(&req, false))
		return;
	res = router_result_new(req);
	q = xml_node_add_child(res, "query", NS_DISCO_INFO);
	n = xml_node_add_child(q, "identity", NULL);
	xml_node_set_attr(n, "category", "pubsub");
	xml_node_set_attr(n, "type", "push");
	xml_node_set_attr(n, "name", "xpushd");
	for (i = 0; base_features[i] != NULL; i++)
		xml_node_set_attr(xml_node_add_child(q, "feature", NULL),
		    "var", base_features[i]);
	for (i = 0; i < dc.nextra; i++)
		xml_node_set_attr(xml_node_add_child(q, "feature", NULL),
		    "var", dc.extra[i]);
	router_reply(&req, res);
}

static void
disco_items_cb(void *arg, struct router_req *req)
{
	struct xml_node *res;

	if (disco_node(&req, true))
		return;
	res = router_result_new(req);
	xml_node_add_child(res, "query", NS_DISCO_ITEMS);
	router_reply(&req, res);
}

static void
disco_ping_cb(void *arg, struct router_req *req)
{
	router_reply(&req, NULL);
}

static void
disco_version_cb(void *arg, struct router_req *req)
{
	struct xml_node *res, *q;

	res = router_result_new(req);
	q = xml_node_add_child(res, "query", NS_VERSION);
	xml_node_add_child_text(q, "name", NULL, "xpushd");
	xml_node_add_child_text(q, "version", NULL, PACKAGE_VERSION);
	router_reply(&req, res);
}

void
disco_init(const struct xp_conf *conf)
{
	disco_reconfigure(conf);
	router_register_iq("query", NS_DISCO_INFO, false, disco_info_cb, NULL);
	router_register_iq("query", NS_DISCO_ITEMS, false, disco_items_cb,
	    NULL);
	router_register_iq("ping", NS_PING, false, disco_ping_cb, NULL);
	router_register_iq("query", NS_VERSION, false, disco_version_cb, NULL);
}

void
disco_shutdown(void)
{
	disco_clear_features();
}
