/*
 * Service discovery (XEP-0030), ping (XEP-0199) and software version
 * (XEP-0092) for the component.
 */
#ifndef XP_DISCO_H
#define XP_DISCO_H

#include <stdbool.h>
#include "core/options.h"
#include "core/router.h"

#define NS_DISCO_INFO	"http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS	"http://jabber.org/protocol/disco#items"
#define NS_PING		"urn:xmpp:ping"
#define NS_VERSION	"jabber:iq:version"

/*
 * A handler for disco requests that name a node: return false to leave the
 * request to the next handler (in the end: item-not-found).
 */
typedef bool disco_node_fn(void *arg, struct router_req **, const char *node,
    bool items);

void	disco_init(const struct xp_conf *);
/* SIGHUP: the provider features may have changed. */
void	disco_reconfigure(const struct xp_conf *);
void	disco_register_node(disco_node_fn *, void *arg);
void	disco_shutdown(void);

#endif
