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
 * Profile XP_PROFILE_P2 (Conversations' APNs twin, register-push-apns):
 * what p2's apns/Notification.java sends, no keys of ours:
 *
 *	alert (high):	{"aps":{"alert":{"title":"New message"},
 *			 "sound":"default"}}
 *	background:	{"aps":{"content-available":1}}
 *
 * The fpush profile (Monal, Quicksy iOS: core/fpush.c) is what
 * fpush-apns/src/push.rs (FpushApns::send) builds, whatever the publish
 * said: an alert with its fixed title and body, mutable-content and sound
 * "default", and nothing from the publish.  Monal's notification service
 * extension runs only on such a push, and fetches the messages itself.
 *
 *	fpush:		{"aps":{"alert":{"title":"New Message",
 *			 "body":"New Message?"},"sound":"default",
 *			 "mutable-content":1}, …}
 *
 * where "…" is the block's fpush-additional-data (fpush's additionalData).
 *
 * Apple counts the payload in bytes; when it does not fit, the body (which
 * appears twice: aps.alert.body and body) is cut at the longest prefix that
 * fits, on a UTF-8 character boundary, found by bisection.
 *
 * apns_payload_relay(): a relayed Push 2.0 payload (push->relay) goes
 * base64 under "rfc8291", the key the Snikket/Cheogram APNs relay
 * writes, with nothing of ours but the aps dictionary: an alert titled
 * "New Message" with mutable-content (the app's extension decrypts and
 * rewrites it), a content-available background push for low priority,
 * none for VoIP.  It is never cut: one that does not fit is refused.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "plugins/apns_payload.h"
#include "plugins/lib/pu.h"

#define ELLIPSIS	"\xe2\x80\xa6"
/* fpush-apns/src/push.rs: set_title, set_body, set_sound. */
#define FPUSH_TITLE	"New Message"
#define FPUSH_BODY	"New Message?"
#define FPUSH_SOUND	"default"

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

/*
 * The payload is written directly rather than built as a json-c object
 * tree: the tree costs a hash table per object, a printbuf and snprintf
 * for every number, on every push (BENCHMARKS.md has the profile).
 * Output is what json-c printed with
 * JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE: members in
 * insertion order, no spaces, '/' as is.
 */
static void
add_strn(struct pu_buf *o, bool *first, const char *key, const char *val,
    size_t len)
{
	pu_json_key(o, first, key);
	pu_json_str(o, val, len);
}

static void
add_str(struct pu_buf *o, bool *first, const char *key, const char *val)
{
	if (val != NULL)
		add_strn(o, first, key, val, strlen(val));
}

static void
add_int(struct pu_buf *o, bool *first, const char *key, long long v)
{
	char tmp[24], *p = tmp + sizeof(tmp);
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v :
	    (unsigned long long)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--p = '-';
	pu_json_key(o, first, key);
	pu_buf_add(o, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* The payload with body (may be NULL) of blen bytes. */
static char *
payload_render(const struct xp_push *push,
    const struct apns_payload_opts *opts, const char *body, size_t blen,
    size_t *len_r)
{
	struct pu_buf o = { NULL, 0, 0, 0, false };
	bool first = true, afirst, alfirst;

	pu_buf_add(&o, "{", 1);
	if (!opts->voip) {
		pu_json_key(&o, &first, "aps");
		pu_buf_add(&o, "{", 1);
		afirst = true;
		if (push->prio == XP_PRIO_HIGH) {
			pu_json_key(&o, &afirst, "alert");
			pu_buf_add(&o, "{", 1);
			alfirst = true;
			add_str(&o, &alfirst, "title", push->sender != NULL ?
			    push->sender : push->account);
			if (body != NULL)
				add_strn(&o, &alfirst, "body", body,
				    blen);
			else
				add_str(&o, &alfirst, "body",
				    placeholder(push));
			pu_buf_add(&o, "}", 1);
			add_int(&o, &afirst, "mutable-content", 1);
			if (opts->sound != NULL && *opts->sound != '\0')
				add_str(&o, &afirst, "sound", opts->sound);
			if (opts->badge && push->unread >= 0)
				add_int(&o, &afirst, "badge", push->unread);
		} else
			add_int(&o, &afirst, "content-available", 1);
		pu_buf_add(&o, "}", 1);
	}
	add_str(&o, &first, "account", push->account);
	add_str(&o, &first, "sender", push->sender);
	if (body != NULL)
		add_strn(&o, &first, "body", body, blen);
	if (push->unread >= 0)
		add_int(&o, &first, "unread-messages", push->unread);
	add_str(&o, &first, "nickname", push->nickname);
	add_str(&o, &first, "encrypted", push->encrypted);
	add_str(&o, &first, "iv", push->iv);
	if (opts->voip) {
		add_str(&o, &first, "sid", push->jingle_sid);
		add_str(&o, &first, "media", push->jingle_media);
	}
	pu_buf_add(&o, "}", 1);
	*len_r = o.len;
	return o.data;
}

/*
 * The fpush profile: fpush's fixed alert, nothing from the publish; the
 * block's additional members (fpush's additionalData) after it.
 */
static char *
payload_render_fpush(const struct apns_payload_opts *opts, size_t *len_r)
{
	struct pu_buf o = { NULL, 0, 0, 0, false };
	bool first = true, afirst = true, alfirst = true;

	pu_buf_add(&o, "{", 1);
	pu_json_key(&o, &first, "aps");
	pu_buf_add(&o, "{", 1);
	pu_json_key(&o, &afirst, "alert");
	pu_buf_add(&o, "{", 1);
	add_str(&o, &alfirst, "title", FPUSH_TITLE);
	add_str(&o, &alfirst, "body", FPUSH_BODY);
	pu_buf_add(&o, "}", 1);
	add_str(&o, &afirst, "sound", FPUSH_SOUND);
	add_int(&o, &afirst, "mutable-content", 1);
	pu_buf_add(&o, "}", 1);
	if (opts->fpush_extra != NULL && *opts->fpush_extra != '\0') {
		pu_buf_add(&o, ",", 1);
		pu_buf_add(&o, opts->fpush_extra, strlen(opts->fpush_extra));
	}
	pu_buf_add(&o, "}", 1);
	*len_r = o.len;
	return o.data;
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

/* p2's payload (p2 apns/Notification.java createAlert, -ContentAvailable). */
static char *
payload_render_p2(const struct xp_push *push, size_t *len_r)
{
	static const char alert[] = "{\"aps\":{\"alert\":{\"title\":"
	    "\"New message\"},\"sound\":\"default\"}}";
	static const char background[] =
	    "{\"aps\":{\"content-available\":1}}";
	const char *p = push->prio == XP_PRIO_HIGH ? alert : background;

	*len_r = strlen(p);
	return pu_strdup(p);
}

char *
apns_payload_build(const struct xp_push *push,
    const struct apns_payload_opts *opts, size_t *len_r,
    const char **error_r)
{
	char *out, *best = NULL, *b;
	size_t len, blen, lo, hi, mid, cut, bestlen = 0;

	if (push->profile == XP_PROFILE_P2 && !opts->voip)
		return payload_render_p2(push, len_r);

	if (push->profile == XP_PROFILE_FPUSH) {
		if (opts->voip) {
			*error_r = "an fpush push is an alert, never VoIP";
			return NULL;
		}
		out = payload_render_fpush(opts, &len);
		if (len > opts->limit) {
			free(out);
			*error_r = "the fpush payload with its additional data "
			    "is too large";
			return NULL;
		}
		*len_r = len;
		return out;
	}
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

#define APNS_RELAY_TITLE	"New Message"

/* A Push 2.0 relay: the client's ciphertext, whole or not at all. */
char *
apns_payload_relay(const struct xp_push *push,
    const struct apns_payload_opts *opts, size_t *len_r,
    const char **error_r)
{
	struct pu_buf o = { NULL, 0, 0, 0, false };
	bool first = true, afirst = true, alfirst = true;
	char *b64;

	pu_buf_add(&o, "{", 1);
	if (!opts->voip) {
		pu_json_key(&o, &first, "aps");
		pu_buf_add(&o, "{", 1);
		if (push->prio == XP_PRIO_HIGH) {
			pu_json_key(&o, &afirst, "alert");
			pu_buf_add(&o, "{", 1);
			add_str(&o, &alfirst, "title", APNS_RELAY_TITLE);
			pu_buf_add(&o, "}", 1);
			add_int(&o, &afirst, "mutable-content", 1);
		} else
			add_int(&o, &afirst, "content-available", 1);
		pu_buf_add(&o, "}", 1);
	}
	b64 = pu_b64(push->relay, push->relay_len);
	add_str(&o, &first, "rfc8291", b64);
	free(b64);
	pu_buf_add(&o, "}", 1);
	if (o.len > opts->limit) {
		free(o.data);
		*error_r = "the relayed payload does not fit APNs' limit";
		return NULL;
	}
	*len_r = o.len;
	return o.data;
}
