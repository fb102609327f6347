/*
 * What a notification is and how urgent (DESIGN "Publish rules"): reading
 * <notification xmlns='urn:xmpp:push:0'/> with its summary form and the
 * Tigase extensions.  Pure: no I/O, no clock.
 */
#ifndef XP_NOTIF_H
#define XP_NOTIF_H

#include <stdbool.h>
#include "plugins/provider.h"
#include "xml/node.h"

#define NS_PUSH			"urn:xmpp:push:0"
#define NS_PUSH_SUMMARY		"urn:xmpp:push:summary"
#define NS_TIGASE_PRIORITY	"tigase:push:priority:0"
#define NS_TIGASE_ENCRYPT	"tigase:push:encrypt:0"
#define NS_TIGASE_JINGLE	"tigase:push:jingle:0"
#define NS_TIGASE_MUC_OFFLINE	"http://tigase.org/protocol/muc#offline"
#define NS_TIGASE_ACCOUNT	"http://tigase.org/protocol/account#event"

/* A notification read from <notification xmlns='urn:xmpp:push:0'/>. */
struct notif {
	bool		 has_form;
	long		 message_count;		/* -1: absent */
	long		 pending_subscriptions;	/* -1: absent */
	const char	*sender;		/* as sent (maybe a full JID) */
	const char	*body;			/* NULL or non-empty */
	int		 explicit_prio;		/* -1 none, else enum xp_prio */
	const char	*encrypted, *iv, *encryption_type;
	bool		 jingle;		/* tigase:push:jingle:0 present */
	const char	*jingle_action, *jingle_sid, *jingle_media;
	const char	*nickname;
	bool		 account_removed;
};

/*
 * Reads the notification (NULL: a publish with no item payload, which is
 * a plain wake-up).  The strings point into the tree.  Returns -1 with a
 * static message when the notification is malformed.
 */
int	notif_parse(const struct xml_node *notification, struct notif *,
	    const char **error_r);

/* Priority and kind; *call_r when this should ring a PushKit token. */
void	notif_classify(const struct notif *, enum xp_prio *prio_r,
	    enum xp_kind *kind_r, bool *call_r);

#endif
