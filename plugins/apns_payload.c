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

#include "plugins/apns_payload.h"
#include "plugins/lib/pu.h"

#define ELLIPSIS	"\xe2\x80\xa6"
#define JOUT_FIRST	512	/* first size of a payload buffer */

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
struct jout {
	char	*p;
	size_t	 len, cap;
};

static void
jout_need(struct jout *o, size_t n)
{
	if (o->cap - o->len >= n + 1)
		return;
	while (o->cap - o->len < n + 1)
		o->cap = o->cap < JOUT_FIRST ? JOUT_FIRST : o->cap * 2;
	o->p = pu_realloc(o->p, o->cap);
}

static void
jout_raw(struct jout *o, const char *s, size_t n)
{
	jout_need(o, n);
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

/* A JSON string (RFC 8259 section 7): quote, backslash and controls. */
static void
jout_str(struct jout *o, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	char *w;
	size_t i;

	jout_need(o, 6 * n + 2);	/* every byte as \u00XX, quotes */
	w = o->p + o->len;
	*w++ = '"';
	for (i = 0; i < n; i++) {
		if (u[i] >= 0x20 && u[i] != '"' && u[i] != '\\') {
			*w++ = (char)u[i];
			continue;
		}
		*w++ = '\\';
		switch (u[i]) {
		case '"':
		case '\\':
			*w++ = (char)u[i];
			break;
		case '\b':
			*w++ = 'b';
			break;
		case '\f':
			*w++ = 'f';
			break;
		case '\n':
			*w++ = 'n';
			break;
		case '\r':
			*w++ = 'r';
			break;
		case '\t':
			*w++ = 't';
			break;
		default:
			*w++ = 'u';
			*w++ = '0';
			*w++ = '0';
			*w++ = hex[u[i] >> 4];
			*w++ = hex[u[i] & 0x0f];
			break;
		}
	}
	*w++ = '"';
	*w = '\0';
	o->len = (size_t)(w - o->p);
}

/* "key": with the comma a member after the first needs. */
static void
jout_key(struct jout *o, bool *first, const char *key)
{
	if (!*first)
		jout_raw(o, ",", 1);
	*first = false;
	jout_str(o, key, strlen(key));
	jout_raw(o, ":", 1);
}

static void
jout_member_str(struct jout *o, bool *first, const char *key,
    const char *val, size_t len)
{
	jout_key(o, first, key);
	jout_str(o, val, len);
}

static void
add_str(struct jout *o, bool *first, const char *key, const char *val)
{
	if (val != NULL)
		jout_member_str(o, first, key, val, strlen(val));
}

static void
add_int(struct jout *o, bool *first, const char *key, long long v)
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
	jout_key(o, first, key);
	jout_raw(o, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* The payload with body (may be NULL) of blen bytes. */
static char *
payload_render(const struct xp_push *push,
    const struct apns_payload_opts *opts, const char *body, size_t blen,
    size_t *len_r)
{
	struct jout o = { NULL, 0, 0 };
	bool first = true, afirst, alfirst;

	jout_raw(&o, "{", 1);
	if (!opts->voip) {
		jout_key(&o, &first, "aps");
		jout_raw(&o, "{", 1);
		afirst = true;
		if (push->prio == XP_PRIO_HIGH) {
			jout_key(&o, &afirst, "alert");
			jout_raw(&o, "{", 1);
			alfirst = true;
			add_str(&o, &alfirst, "title", push->sender != NULL ?
			    push->sender : push->account);
			if (body != NULL)
				jout_member_str(&o, &alfirst, "body", body,
				    blen);
			else
				add_str(&o, &alfirst, "body",
				    placeholder(push));
			jout_raw(&o, "}", 1);
			add_int(&o, &afirst, "mutable-content", 1);
			if (opts->sound != NULL && *opts->sound != '\0')
				add_str(&o, &afirst, "sound", opts->sound);
			if (opts->badge && push->unread >= 0)
				add_int(&o, &afirst, "badge", push->unread);
		} else
			add_int(&o, &afirst, "content-available", 1);
		jout_raw(&o, "}", 1);
	}
	add_str(&o, &first, "account", push->account);
	add_str(&o, &first, "sender", push->sender);
	if (body != NULL)
		jout_member_str(&o, &first, "body", body, blen);
	if (push->unread >= 0)
		add_int(&o, &first, "unread-messages", push->unread);
	add_str(&o, &first, "nickname", push->nickname);
	add_str(&o, &first, "encrypted", push->encrypted);
	add_str(&o, &first, "iv", push->iv);
	if (opts->voip) {
		add_str(&o, &first, "sid", push->jingle_sid);
		add_str(&o, &first, "media", push->jingle_media);
	}
	jout_raw(&o, "}", 1);
	*len_r = o.len;
	return o.p;
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
