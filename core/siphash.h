/*
 * SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF",
 * 2012), with the 64-bit output of the paper and the 128-bit output of the
 * reference implementation.  Written from the description in the paper;
 * test/unit/devcache_test.c checks it against OpenSSL's SIPHASH MAC.
 *
 * A keyed hash: with a secret random key, an outsider can neither predict
 * nor provoke collisions, which is what a hash table of attacker-chosen
 * strings and a stored tag of a secret need.
 */
#ifndef XP_SIPHASH_H
#define XP_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define SIPHASH_KEY_BYTES	16

struct siphash_key {
	uint64_t	k0, k1;
};

/* The key from 16 bytes, read little-endian as in the paper. */
void		siphash_key_set(struct siphash_key *, const unsigned char *);
uint64_t	siphash64(const struct siphash_key *, const void *, size_t);
/* out[0] is the first 8 bytes of the output, little-endian. */
void		siphash128(const struct siphash_key *, const void *, size_t,
		    uint64_t out[2]);

#endif
