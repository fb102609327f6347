/*
 * The JSON payload of an APNs push, as Tigase-compatible apps read it.
 */
#ifndef XP_APNS_PAYLOAD_H
#define XP_APNS_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>

#include "plugins/provider.h"

#define APNS_MAX_PAYLOAD	4096	/* alert and background pushes */
#define APNS_MAX_PAYLOAD_VOIP	5120	/* PushKit VoIP pushes */

/*
 * What register-device advertises as max-payload-size: the room left for
 * the client's encrypted blob once our own envelope is in, for a push
 * whose other fields stay within these budgets (bytes as JSON-escaped).
 * A push over them with a blob of the advertised size does not fit and
 * is refused (the blob is never cut).
 */
#define APNS_BUDGET_JID		128	/* account, sender (alert title) */
#define APNS_BUDGET_NICK	64	/* groupchat nickname */
#define APNS_BUDGET_IV		32	/* the blob's iv, base64 */
#define APNS_BUDGET_SID		64	/* Jingle session id (VoIP) */
#define APNS_BUDGET_COUNT	19	/* digits of a count (badge, unread) */
#define APNS_BUDGET_PLACEHOLDER	20	/* "Subscription request" */
#define APNS_ENVELOPE_SOUND	"default"
/* The keys around the variable parts, as payload_render writes them. */
#define APNS_ENVELOPE_ALERT_KEYS "{\"aps\":{\"alert\":{\"title\":\"\"," \
	"\"body\":\"\"},\"mutable-content\":1,\"sound\":\"" \
	APNS_ENVELOPE_SOUND "\",\"badge\":},\"account\":\"\",\"sender\":" \
	"\"\",\"unread-messages\":,\"nickname\":\"\",\"encrypted\":\"\"," \
	"\"iv\":\"\"}"
#define APNS_ENVELOPE_VOIP_KEYS "{\"account\":\"\",\"sender\":\"\"," \
	"\"unread-messages\":,\"nickname\":\"\",\"encrypted\":\"\"," \
	"\"iv\":\"\",\"sid\":\"\",\"media\":\"video\"}"
#define APNS_ENVELOPE_ALERT	(sizeof(APNS_ENVELOPE_ALERT_KEYS) - 1 + \
	3 * APNS_BUDGET_JID + APNS_BUDGET_PLACEHOLDER + \
	2 * APNS_BUDGET_COUNT + APNS_BUDGET_NICK + APNS_BUDGET_IV)
#define APNS_ENVELOPE_VOIP	(sizeof(APNS_ENVELOPE_VOIP_KEYS) - 1 + \
	2 * APNS_BUDGET_JID + APNS_BUDGET_COUNT + APNS_BUDGET_NICK + \
	APNS_BUDGET_IV + APNS_BUDGET_SID)
#define APNS_ADVERTISED_PAYLOAD	(APNS_MAX_PAYLOAD - APNS_ENVELOPE_ALERT)
#define APNS_ADVERTISED_PAYLOAD_VOIP \
	(APNS_MAX_PAYLOAD_VOIP - APNS_ENVELOPE_VOIP)

struct apns_payload_opts {
	bool		 voip;
	bool		 badge;		/* aps.badge from the unread count */
	const char	*sound;		/* "" for none */
	const char	*fpush_extra;	/* fpush pushes: JSON members (no
					   braces) beside aps, or NULL */
	size_t		 limit;		/* bytes */
};

/*
 * The payload for push, at most opts->limit bytes: the body is cut on a
 * UTF-8 character boundary (and ends with U+2026) when it must be.  NULL
 * with a static *error_r when even an empty body does not fit.
 */
char	*apns_payload_build(const struct xp_push *,
	    const struct apns_payload_opts *, size_t *len_r,
	    const char **error_r);
/*
 * The payload of a relayed Push 2.0 push (push->relay), at most
 * opts->limit bytes; NULL with a static *error_r when it does not fit.
 */
char	*apns_payload_relay(const struct xp_push *,
	    const struct apns_payload_opts *, size_t *len_r,
	    const char **error_r);

#endif
