/*
 * JIDs after RFC 7622, without a stringprep/PRECIS library.
 *
 * Done: the split rules of §3.2 (resource after the first '/', local part
 * before the first '@' that precedes it), no empty part, each part at most
 * 1023 bytes, strict UTF-8 (no overlong forms, surrogates or code points
 * above U+10FFFF), no ASCII control characters anywhere, the characters
 * that §3.3.1 excludes from a localpart (" & ' / : < > @ and space), ASCII
 * case folding of the localpart and domainpart, removal of one trailing dot
 * from the domainpart (§3.2), and IP literals: [IPv6] checked with
 * inet_pton(3), IPv4 as an ordinary name.
 *
 * Simplified: non-ASCII characters are accepted as they come, with no
 * Unicode case folding, width mapping or NFC normalisation (PRECIS
 * UsernameCaseMapped, OpaqueString, IDNA2008), so two spellings of the same
 * non-ASCII JID compare different; domain labels may hold letters, digits,
 * '-', '_' and any non-ASCII character, with no IDNA check.  Servers send
 * JIDs they have already prepared, which is what a component sees.
 */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "xml/jid.h"
#include "xml/mem.h"

struct jid {
	const char	*local;
	const char	*domain;
	const char	*resource;
	const char	*bare;
	const char	*full;
	char		 buf[];
};

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0. */
static size_t
jid_utf8_len(const unsigned char *p, size_t n)
{
	unsigned int c = p[0];
	size_t len, i;
	unsigned long cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

static bool
jid_is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

static const char *
jid_check_local(const char *p, size_t n)
{
	size_t i;

	if (n == 0)
		return "empty localpart";
	if (n > JID_PART_MAX)
		return "localpart longer than 1023 bytes";
	for (i = 0; i < n; i++)
		if (strchr("\"&'/:<>@ ", p[i]) != NULL)
			return "forbidden character in localpart";
	return NULL;
}

static const char *
jid_check_domain(const char *p, size_t n)
{
	char addr[64];
	struct in6_addr in6;
	size_t i, label = 0;
	unsigned char c;

	if (n == 0)
		return "empty domainpart";
	if (n > JID_PART_MAX)
		return "domainpart longer than 1023 bytes";
	if (p[0] == '[') {
		if (p[n - 1] != ']' || n - 2 >= sizeof(addr))
			return "bad IPv6 literal";
		memcpy(addr, p + 1, n - 2);
		addr[n - 2] = '\0';
		if (inet_pton(AF_INET6, addr, &in6) != 1)
			return "bad IPv6 literal";
		return NULL;
	}
	for (i = 0; i < n; i++) {
		c = p[i];
		if (c == '.') {
			if (label == 0)
				return "empty label in domainpart";
			label = 0;
			continue;
		}
		if (!(c >= 0x80 || (c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_'))
			return "forbidden character in domainpart";
		label++;
	}
	if (label == 0)
		return "empty label in domainpart";
	return NULL;
}

static void
jid_copy_lower(char *dst, const char *src, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		dst[i] = (src[i] >= 'A' && src[i] <= 'Z') ?
		    src[i] - 'A' + 'a' : src[i];
	dst[n] = '\0';
}

struct jid *
jid_parse(const char *s, const char **err_r)
{
	const char *slash, *at, *err, *local = NULL, *dom, *res = NULL;
	size_t len, i, l, locallen = 0, domlen, reslen = 0, barelen;
	struct jid *j;
	char *p;

	if (err_r == NULL)
		err_r = &err;
	if (s == NULL) {
		*err_r = "no JID";
		return NULL;
	}
	len = strlen(s);
	if (len > 3 * JID_PART_MAX + 2) {
		*err_r = "JID too long";
		return NULL;
	}
	for (i = 0; i < len; i += l) {
		if ((l = jid_utf8_len((const unsigned char *)s + i,
		    len - i)) == 0) {
			*err_r = "invalid UTF-8";
			return NULL;
		}
		if (jid_is_ctl((unsigned char)s[i])) {
			*err_r = "control character";
			return NULL;
		}
	}

	slash = strchr(s, '/');
	if (slash != NULL) {
		res = slash + 1;
		reslen = len - (res - s);
		if (reslen == 0) {
			*err_r = "empty resourcepart";
			return NULL;
		}
		if (reslen > JID_PART_MAX) {
			*err_r = "resourcepart longer than 1023 bytes";
			return NULL;
		}
	} else
		slash = s + len;
	at = memchr(s, '@', slash - s);
	if (at != NULL) {
		local = s;
		locallen = at - s;
		if ((*err_r = jid_check_local(local, locallen)) != NULL)
			return NULL;
		dom = at + 1;
	} else
		dom = s;
	domlen = slash - dom;
	if (domlen > 1 && dom[domlen - 1] == '.')
		domlen--;
	if ((*err_r = jid_check_domain(dom, domlen)) != NULL)
		return NULL;

	/* local\0domain\0resource\0bare\0full\0 */
	barelen = (local ? locallen + 1 : 0) + domlen;
	j = xml_mem_alloc(sizeof(*j) + locallen + domlen + reslen +
	    barelen + barelen + (res ? reslen + 1 : 0) + 5);
	p = j->buf;
	j->local = NULL;
	if (local != NULL) {
		jid_copy_lower(p, local, locallen);
		j->local = p;
		p += locallen + 1;
	}
	jid_copy_lower(p, dom, domlen);
	j->domain = p;
	p += domlen + 1;
	j->resource = NULL;
	if (res != NULL) {
		memcpy(p, res, reslen + 1);
		j->resource = p;
		p += reslen + 1;
	}
	j->bare = p;
	if (local != NULL) {
		memcpy(p, j->local, locallen);
		p[locallen] = '@';
		p += locallen + 1;
	}
	memcpy(p, j->domain, domlen + 1);
	p += domlen + 1;
	j->full = p;
	memcpy(p, j->bare, barelen);
	p += barelen;
	if (res != NULL) {
		*p++ = '/';
		memcpy(p, res, reslen);
		p += reslen;
	}
	*p = '\0';
	*err_r = NULL;
	return j;
}

void
jid_free(struct jid **jp)
{
	free(*jp);
	*jp = NULL;
}

bool
jid_valid(const char *s)
{
	struct jid *j;

	if ((j = jid_parse(s, NULL)) == NULL)
		return false;
	jid_free(&j);
	return true;
}

const char *
jid_local(const struct jid *j)
{
	return j->local;
}

const char *
jid_domain(const struct jid *j)
{
	return j->domain;
}

const char *
jid_resource(const struct jid *j)
{
	return j->resource;
}

const char *
jid_bare(const struct jid *j)
{
	return j->bare;
}

const char *
jid_full(const struct jid *j)
{
	return j->full;
}

bool
jid_is_bare(const struct jid *j)
{
	return j->resource == NULL;
}

int
jid_compare(const struct jid *a, const struct jid *b)
{
	return strcmp(a->full, b->full);
}

bool
jid_bare_equal(const struct jid *a, const struct jid *b)
{
	return strcmp(a->bare, b->bare) == 0;
}
