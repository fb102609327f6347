/*
 * SipHash-2-4: two compression rounds per 8-byte word, four finalisation
 * rounds.  The 128-bit variant differs from the 64-bit one only by
 * v1 ^= 0xee at the start, v2 ^= 0xee (not 0xff) before the first
 * finalisation and a second finalisation after v1 ^= 0xdd.
 */
#include "config.h"

#include <stdbool.h>

#include "core/siphash.h"

#define SIP_C_ROUNDS	2
#define SIP_D_ROUNDS	4

#define ROTL(x, b)	(((x) << (b)) | ((x) >> (64 - (b))))

struct sipstate {
	uint64_t	v0, v1, v2, v3;
};

static uint64_t
le64(const unsigned char *p)
{
	return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
	    (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 |
	    (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
	    (uint64_t)p[7] << 56;
}

static void
sip_rounds(struct sipstate *s, int n)
{
	while (n-- > 0) {
		s->v0 += s->v1;
		s->v1 = ROTL(s->v1, 13);
		s->v1 ^= s->v0;
		s->v0 = ROTL(s->v0, 32);
		s->v2 += s->v3;
		s->v3 = ROTL(s->v3, 16);
		s->v3 ^= s->v2;
		s->v0 += s->v3;
		s->v3 = ROTL(s->v3, 21);
		s->v3 ^= s->v0;
		s->v2 += s->v1;
		s->v1 = ROTL(s->v1, 17);
		s->v1 ^= s->v2;
		s->v2 = ROTL(s->v2, 32);
	}
}

/* Initialisation and compression of every word, the length byte last. */
static void
sip_absorb(struct sipstate *s, const struct siphash_key *k, bool wide,
    const unsigned char *p, size_t len)
{
	uint64_t m;
	size_t i, left = len % 8;

	s->v0 = k->k0 ^ 0x736f6d6570736575ULL;	/* "somepseu" */
	s->v1 = k->k1 ^ 0x646f72616e646f6dULL;	/* "dorandom" */
	s->v2 = k->k0 ^ 0x6c7967656e657261ULL;	/* "lygenera" */
	s->v3 = k->k1 ^ 0x7465646279746573ULL;	/* "tedbytes" */
	if (wide)
		s->v1 ^= 0xee;
	for (i = 0; i + 8 <= len; i += 8) {
		m = le64(p + i);
		s->v3 ^= m;
		sip_rounds(s, SIP_C_ROUNDS);
		s->v0 ^= m;
	}
	m = (uint64_t)(len & 0xff) << 56;
	while (left-- > 0)
		m |= (uint64_t)p[i + left] << (8 * left);
	s->v3 ^= m;
	sip_rounds(s, SIP_C_ROUNDS);
	s->v0 ^= m;
}

void
siphash_key_set(struct siphash_key *k, const unsigned char *b)
{
	k->k0 = le64(b);
	k->k1 = le64(b + 8);
}

uint64_t
siphash64(const struct siphash_key *k, const void *p, size_t len)
{
	struct sipstate s;

	sip_absorb(&s, k, false, p, len);
	s.v2 ^= 0xff;
	sip_rounds(&s, SIP_D_ROUNDS);
	return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

void
siphash128(const struct siphash_key *k, const void *p, size_t len,
    uint64_t out[2])
{
	struct sipstate s;

	sip_absorb(&s, k, true, p, len);
	s.v2 ^= 0xee;
	sip_rounds(&s, SIP_D_ROUNDS);
	out[0] = s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
	s.v1 ^= 0xdd;
	sip_rounds(&s, SIP_D_ROUNDS);
	out[1] = s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}
