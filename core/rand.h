/*
 * Random identifiers from the operating system: push nodes and publish
 * secrets must not be guessable, so they come from getrandom(2) and never
 * from a userland PRNG.
 */
#ifndef XP_RAND_H
#define XP_RAND_H

#include <stddef.h>

/* 18 bytes: 144 bits, 24 base64url characters without padding. */
#define RAND_ID_BYTES	18
#define RAND_ID_LEN	24

void	 rand_bytes(void *, size_t);
void	 rand_b64url(char *, size_t, const void *, size_t);
char	*rand_id(void);

#endif
