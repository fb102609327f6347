/*
 * Small helpers for provider modules.  A module must not use core/'s
 * xmalloc or log (it is dlopened into xpushd and linked on its own), so it
 * gets these: allocation that aborts on exhaustion like the core's, and
 * base64url (RFC 4648 section 5, unpadded) for JWTs.
 */
#ifndef XP_PLUGIN_UTIL_H
#define XP_PLUGIN_UTIL_H

#include <stddef.h>

void	*pu_calloc(size_t, size_t);
void	*pu_malloc(size_t);
void	*pu_realloc(void *, size_t);
char	*pu_strdup(const char *);
char	*pu_asprintf(const char *, ...) __attribute__((format(printf, 1, 2)));
/* Unpadded base64url of len bytes, NUL-terminated, malloc'd. */
char	*pu_b64url(const void *, size_t len);
/* Decodes base64url (padding optional); -1 on a bad character. */
int	 pu_b64url_decode(const char *, size_t len, unsigned char **out_r,
	    size_t *outlen_r);

#endif
