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

struct apns_payload_opts {
	bool		 voip;
	bool		 badge;		/* aps.badge from the unread count */
	const char	*sound;		/* "" for none */
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

#endif
