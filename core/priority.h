/*
 * What a notification is and how urgent (DESIGN "Publish rules"), and
 * per-device throttling.  Pure logic with the clock passed in, so that
 * tests drive it with a fake clock.
 */
#ifndef XP_PRIORITY_H
#define XP_PRIORITY_H

#include <stdbool.h>
#include <stdint.h>
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

/* Priority and kind; *voip_r when this should ring a PushKit token. */
void	notif_classify(const struct notif *, enum xp_prio *prio_r,
	    enum xp_kind *kind_r, bool *call_r);

struct throttle_conf {
	uint64_t	low_window_ms;	/* one low push per window */
	double		high_burst;	/* token bucket size */
	double		high_per_ms;	/* tokens refilled per millisecond */
};

struct throttle_state {
	uint64_t	low_last;	/* when the last low push went out */
	bool		low_sent_once;
	double		tokens;
	uint64_t	refilled;
	bool		primed;
};

enum throttle_verdict {
	THROTTLE_SEND,
	THROTTLE_COALESCE,	/* hold it; send the latest at *when_r */
};

enum throttle_verdict throttle_check(struct throttle_state *,
	    const struct throttle_conf *, enum xp_prio, uint64_t now_ms,
	    uint64_t *when_r);
/* True when the state throttles nothing any more: forgetting it is the same. */
bool	throttle_idle(const struct throttle_state *,
	    const struct throttle_conf *, uint64_t now_ms);

#endif
