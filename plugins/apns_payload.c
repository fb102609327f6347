/*
 * APNs payloads (Apple: "Generating a remote notification", "Pushing
 * background updates to your app", PushKit "Responding to VoIP
 * notifications").
 *
 *	alert (high):	{"aps":{"alert":{"title":…,"body":…},
 *			 "mutable-content":1,"sound":"default","badge":N}, …}
 *	background:	{"aps":{"content-available":1}, …}
 *	voip:		{…}  no aps: PushKit hands the whole dictionary to the
 *			app and APNs wants no alert for it; the call id and
 *			media go along as "sid" and "media".
 *
 * "…" is the Tigase keys, each only when the publish carried it: account,
 * sender, body, unread-messages, nickname, encrypted, iv.  The alert title
 * is the sender (or the account when there is none) and mutable-content
 * lets the app's notification service extension decrypt or rewrite it.
 *
 * Apple counts the payload in bytes; when it does not fit, the body (which
 * appears twice: aps.alert.body and body) is cut at the longest prefix that
 * fits, on a UTF-8 character boundary, found by bisection.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "plugins/apns_payload.h"
#include "plugins/h2/util.h"

#define ELLIPSIS	"\xe2\x80\xa6"

static const char *
placeholder(const struct xp_push *push)
{
	switch (push->kind) {
	case XP_KIND_CALL:
		return "Incoming call";
	case XP_KIND_SUBSCRIPTION:
		return "Subscription request";
	case XP_KIND_GROUPCHAT:
	case XP_KIND_MESSAGE:
	case XP_KIND_WAKEUP:
	case XP_KIND_ACCOUNT_EVENT:
		break;
	}
	return "New message";
}

static void
add_str(json_object *o, const char *key, const char *val)
{
	if (val != NULL)
		json_object_object_add(o, key, json_object_new_string(val));
}

/* The payload with body (may be NULL) of blen bytes. */
static char *
payload_render(const struct xp_push *push,
    const struct apns_payload_opts *opts, const char *body, size_t blen,
    size_t *len_r)
{
	json_object *root, *aps, *alert;
	const char *s;
	char *out;
	size_t len;

	root = json_object_new_object();
	if (!opts->voip) {
		aps = json_object_new_object();
		if (push->prio == XP_PRIO_HIGH) {
			alert = json_object_new_object();
			add_str(alert, "title", push->sender != NULL ?
			    push->sender : push->account);
			if (body != NULL)
				json_object_object_add(alert, "body",
				    json_object_new_string_len(body,
				    (int)blen));
			else
				add_str(alert, "body", placeholder(push));
			json_object_object_add(aps, "alert", alert);
			json_object_object_add(aps, "mutable-content",
			    json_object_new_int(1));
			if (opts->sound != NULL && *opts->sound != '\0')
				add_str(aps, "sound", opts->sound);
			if (opts->badge && push->unread >= 0)
				json_object_object_add(aps, "badge",
				    json_object_new_int64(push->unread));
		} else
			json_object_object_add(aps, "content-available",
			    json_object_new_int(1));
		json_object_object_add(root, "aps", aps);
	}
	add_str(root, "account", push->account);
	add_str(root, "sender", push->sender);
	if (body != NULL)
		json_object_object_add(root, "body",
		    json_object_new_string_len(body, (int)blen));
	if (push->unread >= 0)
		json_object_object_add(root, "unread-messages",
		    json_object_new_int64(push->unread));
	add_str(root, "nickname", push->nickname);
	add_str(root, "encrypted", push->encrypted);
	add_str(root, "iv", push->iv);
	if (opts->voip) {
		add_str(root, "sid", push->jingle_sid);
		add_str(root, "media", push->jingle_media);
	}
	s = json_object_to_json_string_length(root, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	out = pu_malloc(len + 1);
	memcpy(out, s, len + 1);
	json_object_put(root);
	*len_r = len;
	return out;
}

/* The longest prefix of s no longer than n that ends on a boundary. */
static size_t
utf8_cut(const char *s, size_t n)
{
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

static char *
body_with_ellipsis(const char *body, size_t n, size_t *len_r)
{
	char *b;

	b = pu_malloc(n + sizeof(ELLIPSIS));
	memcpy(b, body, n);
	memcpy(b + n, ELLIPSIS, sizeof(ELLIPSIS));
	*len_r = n + sizeof(ELLIPSIS) - 1;
	return b;
}

char *
apns_payload_build(const struct xp_push *push,
    const struct apns_payload_opts *opts, size_t *len_r,
    const char **error_r)
{
	char *out, *best = NULL, *b;
	size_t len, blen, lo, hi, mid, cut, bestlen = 0;

	out = payload_render(push, opts, push->body, push->body != NULL ?
	    strlen(push->body) : 0, &len);
	if (len <= opts->limit) {
		*len_r = len;
		return out;
	}
	free(out);
	if (push->body == NULL) {
		*error_r = "payload too large even without a body";
		return NULL;
	}
	/* Bisect on the number of body bytes kept. */
	blen = strlen(push->body);
	lo = 0;
	hi = blen;
	while (lo <= hi) {
		mid = lo + (hi - lo) / 2;
		cut = utf8_cut(push->body, mid);
		b = body_with_ellipsis(push->body, cut, &blen);
		out = payload_render(push, opts, b, blen, &len);
		free(b);
		if (len <= opts->limit) {
			free(best);
			best = out;
			bestlen = len;
			lo = mid + 1;
		} else {
			free(out);
			if (mid == 0)
				break;
			hi = mid - 1;
		}
	}
	if (best == NULL) {
		*error_r = "payload too large even without a body";
		return NULL;
	}
	*len_r = bestlen;
	return best;
}
