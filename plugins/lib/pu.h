/*
 * libxpplug: the support library linked into every provider module.  A
 * module must not use core/'s xmalloc or log (it is dlopened into xpushd
 * and linked on its own), so it gets these, one of each: allocation that
 * never returns NULL, a growable buffer, a JSON writer, base64url, UTF-8
 * cutting, OpenSSL's error queue as text, and ES256 signatures.
 * Deferring answers is not here: the host does it (plugins/provider.h).
 */
#ifndef XP_PLUGIN_PU_H
#define XP_PLUGIN_PU_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* Allocation: aborts when memory is exhausted (alloc.c). */
void	*pu_calloc(size_t, size_t);
void	*pu_malloc(size_t);
void	*pu_realloc(void *, size_t);
char	*pu_strdup(const char *);
char	*pu_asprintf(const char *, ...) __attribute__((format(printf, 1, 2)));

/*
 * A growable buffer; max 0 means unbounded (buf.c).  data is kept
 * NUL-terminated (the NUL is not counted in len).
 */
struct pu_buf {
	char	*data;
	size_t	 len, cap;
	size_t	 max;		/* set before the first add */
	bool	 overflow;	/* an add would have passed max: dropped */
};
void	 pu_buf_append(struct pu_buf *, const void *, size_t);
/*
 * Room for n more bytes (and the NUL) at data + len, for writing in
 * place; the writer then advances len and puts the NUL back.  NULL once
 * max would be passed (overflow is then set).
 */
char	*pu_buf_reserve(struct pu_buf *, size_t n);
void	 pu_buf_free(struct pu_buf *);

/*
 * JSON text written straight into a buffer (json.c): a string of n bytes
 * escaped as RFC 8259 section 7 requires (quote, backslash, controls;
 * UTF-8 passes through), and an object member's key with the comma that
 * every member after the first needs.
 */
void	 pu_json_str(struct pu_buf *, const char *, size_t n);

/*
 * Inline because payloads are written a few bytes at a time on every
 * push: with room to spare an add is a copy, and a literal key's strlen
 * is folded where it is used.
 */
static inline void
pu_buf_add(struct pu_buf *b, const void *data, size_t len)
{
	if (b->max == 0 && b->cap - b->len > len) {
		memcpy(b->data + b->len, data, len);
		b->len += len;
		b->data[b->len] = '\0';
	} else
		pu_buf_append(b, data, len);
}

static inline void
pu_json_key(struct pu_buf *b, bool *first, const char *key)
{
	if (!*first)
		pu_buf_add(b, ",", 1);
	*first = false;
	pu_json_str(b, key, strlen(key));
	pu_buf_add(b, ":", 1);
}

/*
 * UTF-8 (utf8.c): the longest prefix of s (len bytes, valid UTF-8) of at
 * most n bytes that ends on a character boundary.  PU_ELLIPSIS (U+2026)
 * marks text that was cut.
 */
#define PU_ELLIPSIS	"\xe2\x80\xa6"
size_t	 pu_utf8_cut(const char *s, size_t len, size_t n);

/* Unpadded base64url of len bytes, NUL-terminated, malloc'd (b64url.c). */
char	*pu_b64url(const void *, size_t len);
/* Padded standard base64 of len bytes, NUL-terminated, malloc'd. */
char	*pu_b64(const void *, size_t len);
/* Decodes base64url (padding optional); -1 on a bad character. */
int	 pu_b64url_decode(const char *, size_t len, unsigned char **out_r,
	    size_t *outlen_r);

/*
 * OpenSSL's error queue, emptied, as one line in buf: the last error, then
 * the first when they differ; none when the queue is empty (sslerr.c).
 */
const char *pu_ssl_error(char *buf, size_t len, const char *none);

/*
 * A JWS ES256 signature of input with a P-256 key: r || s, base64url,
 * malloc'd; NULL when OpenSSL fails (its error queue says why) (es256.c).
 */
struct evp_pkey_st;
char	*pu_es256_sign(struct evp_pkey_st *, const void *input, size_t len);

#endif
