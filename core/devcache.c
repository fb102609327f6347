/*
 * The device cache (see devcache.h): a registration as one variable-length
 * record of about its packed size, because a malloc'd record with five
 * strdup'd strings, chained buckets and a doubly linked LRU costs several
 * times that per entry, and a publish server keeps a million of them
 * (BENCHMARKS.md "Memory", "Real-sized registrations").
 *
 * Layout, and why:
 *
 * - A record is a 28-byte header (tag, secret hash, last_push, interned
 *   domain and provider, flags) followed by the local part and the tokens,
 *   each with its length, rounded up to DEVCACHE_UNIT bytes.  Records live
 *   in an arena of DEVCACHE_PAGE_BYTES pages mapped on first use, carved
 *   per size class (one class per DEVCACHE_UNIT bytes of record size):
 *   no malloc header or power-of-two rounding per entry, no separate
 *   fixed slot that most real registrations would overflow, and a flush
 *   hands the pages straight back to the kernel (munmap).  A record
 *   freed by a replace, drop or eviction goes on its class's free list
 *   and the next record of that size takes it: the arena grows to the
 *   peak of each size and no further, so memory stays flat under churn
 *   of a steady mix.  A page's tail that was never carved is never
 *   touched, so it costs address space, not memory.
 *
 * - A record is named by a 32-bit reference, page number and offset in
 *   units; page 0 is never mapped, so 0 means empty.  That bounds the
 *   arena to DEVCACHE_PAGES_MAX pages (16 GB); a record that finds it
 *   full is not cached (the registry then asks the database), as is one
 *   larger than DEVCACHE_REC_MAX.
 *
 * - The index is an open-addressing table (linear probing) of record
 *   references, 1.5 times the maximum, so that the load stays at or below
 *   2/3; positions come from multiply-shift, so the size need not be a
 *   power of two (rounding up to one costs up to a third more).  Deletion
 *   shifts the following entries back instead of leaving tombstones, so
 *   probes never lengthen with age.
 *
 * - The node is not stored: the record holds 96 bits of a SipHash-2-4 of
 *   it under a key drawn from getrandom(2) once per cache, and part of
 *   them picks the table position.  Two of one million nodes share a tag
 *   with a probability of about n^2 / 2^97 = 6e-18 (and even then the
 *   secret check refuses the publish rather than misdirect it).  Nobody
 *   outside the process can aim for a collision or a long probe without
 *   the key.  A NOTIFY payload (a node) is hashed the same way to drop
 *   its entry.
 *
 * - The secret is not stored either: a 64-bit SipHash under a second key,
 *   compared in constant time.  Guessing it is a 2^-64 chance per try,
 *   far below guessing the 144-bit secret's neighbours would need.
 *
 * - A token (and a VoIP token) is kept in the densest form that gives
 *   back the same bytes: lowercase hex of even length as binary (APNs: 64
 *   characters, 32 bytes); a string of the base64url alphabet with at
 *   most one ':' as 6 bits a character, the colon's place kept aside and
 *   an "APA91b" after it (every FCM registration token has one) as one
 *   bit (FCM: 152 characters, 111 bytes); anything else, upper-case hex
 *   included when base64url is no shorter, verbatim.  The owner's domain
 *   and the provider are indices into small interned tables (few distinct
 *   values); the local part is kept as is.  last_push is 32-bit seconds.
 *
 * - Eviction is CLOCK: a referenced bit set on every hit, a hand sweeping
 *   the table positions that clears it or evicts the first entry found
 *   clear.  One bit instead of two list pointers, and a hit writes one
 *   byte instead of relinking a list; sweeping the table rather than the
 *   arena needs no walk over free records or size classes.
 *
 * Not kept: anything but what struct devcache_entry holds (the publish
 * path reads nothing else).
 */
#include "config.h"

#include <sys/mman.h>

#include <stdlib.h>
#include <string.h>

#include "core/devcache.h"
#include "core/log.h"
#include "core/rand.h"
#include "core/siphash.h"
#include "core/xmalloc.h"

#define DEVCACHE_UNIT		4	/* record sizes round up to this */
#define DEVCACHE_OFF_BITS	19	/* units in a page: 2 MB */
#define DEVCACHE_PAGE_UNITS	(1u << DEVCACHE_OFF_BITS)
#define DEVCACHE_PAGE_BYTES	((size_t)DEVCACHE_PAGE_UNITS * DEVCACHE_UNIT)
#define DEVCACHE_PAGES_MAX	(1u << (32 - DEVCACHE_OFF_BITS))
#define DEVCACHE_REC_MAX	1024	/* bytes of a record, then uncached */
#define DEVCACHE_CLASSES	(DEVCACHE_REC_MAX / DEVCACHE_UNIT + 1)
#define DEVCACHE_MAX		(1u << 27)	/* entries at the most */
#define DEVCACHE_NAME_MAX	255	/* bytes of an interned name */
#define DEVCACHE_DOMAINS_MAX	16384	/* interned domains, then verbatim */
#define DEVCACHE_DOMAIN_NONE	UINT16_MAX	/* owner kept whole */
#define DEVCACHE_PROVIDERS_MAX	255	/* interned providers, then uncached */
#define LEN_LONG		0xff	/* a length byte: two more follow */
#define LEN_MAX			UINT16_MAX
#define FCM_MARK		"APA91b"	/* after the ':' of FCM tokens */
#define FCM_MARK_LEN		6

/* rec.flags */
#define R_REF		0x01	/* CLOCK: hit since the hand last passed */
#define R_SECRET	0x02	/* has a secret: rec.secret is its hash */
#define R_AT		0x04	/* owner is local@domain, not just domain */
#define R_VOIP		0x08	/* has a VoIP token */
#define R_TOKEN_SHIFT	4	/* token's enum tkind */
#define R_VOIP_SHIFT	6	/* VoIP token's enum tkind */
#define R_KIND_MASK	0x03

enum tkind {
	TK_RAW,		/* verbatim */
	TK_HEX,		/* lowercase hex of even length, as binary */
	TK_B64,		/* base64url characters, 6 bits each */
};

/*
 * A record's header, which devcache.h calls an item.  Its data follow it:
 * the local part (or the whole owner, if its domain is not interned), the
 * token, then the VoIP token if R_VOIP, each as a length (one byte, or
 * LEN_LONG and two little-endian bytes) and its stored form (see struct
 * tok).
 */
struct devcache_item {
	uint32_t	 tag[3];	/* 96 bits of SipHash-128 of the node */
	uint32_t	 secret[2];	/* SipHash-64 of the secret */
	uint32_t	 last_push;	/* seconds; free records: next free */
	uint16_t	 domain;	/* interned, or DEVCACHE_DOMAIN_NONE */
	uint8_t		 provider;	/* interned */
	uint8_t		 flags;
	/* The data follow: see rec_data(). */
};
#define REC_HEADER	28
_Static_assert(sizeof(struct devcache_item) == REC_HEADER,
    "the record header is not the size the layout was planned for");
_Static_assert(REC_HEADER % DEVCACHE_UNIT == 0 && DEVCACHE_UNIT % 4 == 0,
    "records must stay aligned for their uint32 fields");

/*
 * A token's stored form.  Encoding fills s; decoding fills p.  n is its
 * length in characters; body the bytes stored after that length.  For
 * TK_B64 the body starts with a length-coded colon: 0 for none, else
 * 1 + 2 * its position + 1 if FCM_MARK follows it; neither the colon nor
 * the mark is among the packed characters.
 */
struct tok {
	enum tkind		 kind;
	size_t			 n;
	size_t			 colon;
	size_t			 body;
	const char		*s;
	const unsigned char	*p;
};

/* A size class: its free records and the page it carves new ones from. */
struct rclass {
	uint32_t	 free;		/* reference, 0: none */
	uint32_t	 page;		/* 0: none yet */
	uint32_t	 used;		/* units of that page carved */
};

struct intern {
	char		**names;	/* by index */
	uint16_t	 *tab;		/* open addressing: index + 1, 0 empty */
	uint32_t	  mask;
	uint32_t	  n;
	uint32_t	  max;
};

struct devcache {
	struct siphash_key	 node_key;
	struct siphash_key	 secret_key;
	struct siphash_key	 name_key;	/* the intern tables */
	unsigned char		**pages;	/* by page number; [0] unused */
	uint32_t		 npages;	/* numbers handed out, from 1 */
	uint32_t		*tab;		/* record references; 0 empty */
	size_t			 tab_size;	/* positions */
	uint32_t		 max;
	uint32_t		 entries;
	size_t			 hand;		/* CLOCK: a table position */
	uint64_t		 evictions;
	size_t			 record_bytes;	/* live records */
	size_t			 free_bytes;	/* on the free lists */
	size_t			 carved_bytes;	/* of the pages, ever */
	size_t			 raw_tokens;
	struct rclass		 classes[DEVCACHE_CLASSES];
	struct intern		 domains;
	struct intern		 providers;
};

/*
 * Mapped memory.
 */

static void *
map_zero(size_t len)
{
	void *p;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
	    -1, 0);
	if (p == MAP_FAILED)
		fatal("devcache: mmap %zu bytes", len);
	return p;
}

static void
unmap(void *p, size_t len)
{
	if (p != NULL && munmap(p, len) == -1)
		fatal("devcache: munmap");
}

/*
 * Interned names: owner domains and providers.  Reset only by a flush, so
 * indices stay valid for every cached entry; bounded in number and length.
 */

static void
intern_init(struct intern *t, uint32_t max)
{
	uint32_t size = 16;

	while (size < 2 * max)
		size <<= 1;
	t->names = xcalloc(max, sizeof(*t->names));
	t->tab = xcalloc(size, sizeof(*t->tab));
	t->mask = size - 1;
	t->n = 0;
	t->max = max;
}

static void
intern_reset(struct intern *t)
{
	uint32_t i;

	for (i = 0; i < t->n; i++)
		free(t->names[i]);
	memset(t->tab, 0, (t->mask + 1) * sizeof(*t->tab));
	t->n = 0;
}

static void
intern_free(struct intern *t)
{
	intern_reset(t);
	free(t->names);
	free(t->tab);
}

/* The index of name[0..len), added if new; -1 if the table is full. */
static int
intern(struct intern *t, const struct siphash_key *k, const char *name,
    size_t len)
{
	uint32_t pos;
	const char *n;

	if (len > DEVCACHE_NAME_MAX)
		return -1;
	pos = (uint32_t)siphash64(k, name, len) & t->mask;
	for (; t->tab[pos] != 0; pos = (pos + 1) & t->mask) {
		n = t->names[t->tab[pos] - 1];
		if (strncmp(n, name, len) == 0 && n[len] == '\0')
			return t->tab[pos] - 1;
	}
	if (t->n >= t->max)
		return -1;
	t->names[t->n] = xstrndup(name, len);
	t->tab[pos] = (uint16_t)(t->n + 1);
	return (int)t->n++;
}

/*
 * Lengths: one byte below LEN_LONG, else LEN_LONG and two bytes.
 */

static size_t
len_size(size_t v)
{
	return v < LEN_LONG ? 1 : 3;
}

static size_t
len_put(unsigned char *p, size_t v)
{
	if (v < LEN_LONG) {
		p[0] = (unsigned char)v;
		return 1;
	}
	p[0] = LEN_LONG;
	p[1] = (unsigned char)(v & 0xff);
	p[2] = (unsigned char)(v >> 8);
	return 3;
}

static size_t
len_get(const unsigned char *p, size_t *v_r)
{
	if (p[0] != LEN_LONG) {
		*v_r = p[0];
		return 1;
	}
	*v_r = (size_t)p[1] | (size_t)p[2] << 8;
	return 3;
}

/*
 * Tokens.
 */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int
b64_index(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	return c == '_' ? 63 : -1;
}

static bool
is_lower_hex(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len % 2 != 0)
		return false;
	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static int
hexval(char c)
{
	return c <= '9' ? c - '0' : c - 'a' + 10;
}

/* TK_B64: characters packed, of n, once the colon and mark are set apart. */
static size_t
b64_chars(size_t n, size_t colon)
{
	if (colon == 0)
		return n;
	return n - 1 - (colon % 2 == 0 ? FCM_MARK_LEN : 0);
}

/* Where the colon is, and whether FCM_MARK follows it. */
static void
b64_colon(size_t colon, size_t *pos_r, bool *mark_r)
{
	*pos_r = (colon - 1) / 2;
	*mark_r = colon % 2 == 0;
}

/* The stored form of s, and its size: the densest of the three kinds. */
static void
tok_plan(const char *s, struct tok *t)
{
	size_t i, colon = 0, b64;

	memset(t, 0, sizeof(*t));
	t->s = s;
	t->n = strlen(s);
	if (is_lower_hex(s, t->n)) {
		t->kind = TK_HEX;
		t->body = t->n / 2;
		return;
	}
	t->kind = TK_RAW;
	t->body = t->n;
	for (i = 0; i < t->n; i++) {
		if (b64_index(s[i]) >= 0)
			continue;
		if (s[i] != ':' || colon != 0)
			return;
		colon = 1 + 2 * i;
		if (t->n - i - 1 >= FCM_MARK_LEN &&
		    memcmp(s + i + 1, FCM_MARK, FCM_MARK_LEN) == 0)
			colon++;
	}
	if (colon > LEN_MAX)
		return;
	b64 = len_size(colon) + (6 * b64_chars(t->n, colon) + 7) / 8;
	if (b64 < t->n) {
		t->kind = TK_B64;
		t->colon = colon;
		t->body = b64;
	}
}

static size_t
tok_size(const struct tok *t)
{
	return len_size(t->n) + t->body;
}

/* 6-bit characters into bytes, high bits first. */
struct bits {
	unsigned char		*w;
	uint32_t		 acc;
	int			 n;
};

static void
bits_put(struct bits *b, int v)
{
	b->acc = (b->acc << 6 | (uint32_t)v) & 0xfff;
	if ((b->n += 6) >= 8) {
		b->n -= 8;
		*b->w++ = (unsigned char)(b->acc >> b->n);
	}
}

static void
bits_flush(struct bits *b)
{
	if (b->n > 0)
		*b->w++ = (unsigned char)(b->acc << (8 - b->n));
}

static size_t
tok_write(unsigned char *dst, const struct tok *t)
{
	unsigned char *p = dst + len_put(dst, t->n);
	struct bits b;
	size_t i, pos = SIZE_MAX;
	bool mark = false;

	switch (t->kind) {
	case TK_RAW:
		memcpy(p, t->s, t->n);
		break;
	case TK_HEX:
		for (i = 0; i < t->n / 2; i++)
			p[i] = (unsigned char)(hexval(t->s[2 * i]) << 4 |
			    hexval(t->s[2 * i + 1]));
		break;
	case TK_B64:
		memset(&b, 0, sizeof(b));
		b.w = p + len_put(p, t->colon);
		if (t->colon != 0)
			b64_colon(t->colon, &pos, &mark);
		for (i = 0; i < t->n; i++) {
			if (i == pos) {
				i += mark ? FCM_MARK_LEN : 0;
				continue;
			}
			bits_put(&b, b64_index(t->s[i]));
		}
		bits_flush(&b);
		break;
	}
	return len_size(t->n) + t->body;
}

/* Reads the token stored at src as kind; returns the bytes it takes. */
static size_t
tok_read(const unsigned char *src, enum tkind kind, struct tok *t)
{
	size_t h = len_get(src, &t->n), c;

	t->kind = kind;
	t->colon = 0;
	t->p = src + h;
	switch (kind) {
	case TK_HEX:
		t->body = t->n / 2;
		break;
	case TK_B64:
		c = len_get(t->p, &t->colon);
		t->body = c + (6 * b64_chars(t->n, t->colon) + 7) / 8;
		break;
	default:
		t->body = t->n;
		break;
	}
	return h + t->body;
}

/*
 * TK_B64 back to characters: the 6-bit groups in order, with the colon
 * and the mark put back where they were.  Locals rather than struct
 * bits, because the stores to dst may alias anything a pointer reaches
 * and would reload it every character (a warm FCM publish decodes one).
 */
static void
b64_unpack(char *dst, const struct tok *t)
{
	const unsigned char *src = t->p + len_size(t->colon);
	size_t i = 0, stop = t->n, pos = SIZE_MAX;
	uint32_t acc = 0;
	bool mark = false;
	int n = 0;

	if (t->colon != 0) {
		b64_colon(t->colon, &pos, &mark);
		stop = pos;
	}
	for (;;) {
		for (; i < stop; i++) {
			if (n < 6) {
				acc = acc << 8 | *src++;
				n += 8;
			}
			n -= 6;
			dst[i] = b64_alphabet[(acc >> n) & 0x3f];
		}
		if (stop == t->n)
			return;
		dst[i++] = ':';
		if (mark) {
			memcpy(dst + i, FCM_MARK, FCM_MARK_LEN);
			i += FCM_MARK_LEN;
		}
		stop = t->n;
	}
}

/* Writes the token, NUL-terminated; returns the bytes written with it. */
static size_t
tok_unpack(char *dst, const struct tok *t)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *src = t->p;
	size_t i, n = t->n;

	switch (t->kind) {
	case TK_RAW:
		memcpy(dst, src, n);
		break;
	case TK_HEX:
		for (i = 0; i < n / 2; i++) {
			dst[2 * i] = digits[src[i] >> 4];
			dst[2 * i + 1] = digits[src[i] & 0xf];
		}
		break;
	case TK_B64:
		b64_unpack(dst, t);
		break;
	}
	dst[n] = '\0';
	return n + 1;
}

/*
 * The arena.
 */

static struct devcache_item *
rec_at(const struct devcache *dc, uint32_t ref)
{
	return (struct devcache_item *)(dc->pages[ref >> DEVCACHE_OFF_BITS] +
	    (size_t)(ref & (DEVCACHE_PAGE_UNITS - 1)) * DEVCACHE_UNIT);
}

/* A record of units units, or 0 if the arena is full. */
static unsigned char *
rec_data(struct devcache_item *r)
{
	return (unsigned char *)(r + 1);
}

static uint32_t
chunk_get(struct devcache *dc, uint32_t units)
{
	struct rclass *c = &dc->classes[units];
	uint32_t ref;

	if ((ref = c->free) != 0) {
		c->free = rec_at(dc, ref)->last_push;
		dc->free_bytes -= units * DEVCACHE_UNIT;
		return ref;
	}
	if (c->page == 0 || c->used + units > DEVCACHE_PAGE_UNITS) {
		if (dc->npages >= DEVCACHE_PAGES_MAX)
			return 0;
		/* The tail left behind is never touched. */
		if (c->page != 0)
			dc->carved_bytes += (DEVCACHE_PAGE_UNITS - c->used) *
			    DEVCACHE_UNIT;
		dc->pages[dc->npages] = map_zero(DEVCACHE_PAGE_BYTES);
		c->page = dc->npages++;
		c->used = 0;
	}
	ref = c->page << DEVCACHE_OFF_BITS | c->used;
	c->used += units;
	dc->carved_bytes += units * DEVCACHE_UNIT;
	return ref;
}

static void
chunk_put(struct devcache *dc, uint32_t ref, uint32_t units)
{
	struct rclass *c = &dc->classes[units];

	rec_at(dc, ref)->last_push = c->free;
	c->free = ref;
	dc->free_bytes += units * DEVCACHE_UNIT;
}

static uint32_t
units_of(size_t bytes)
{
	return (uint32_t)((bytes + DEVCACHE_UNIT - 1) / DEVCACHE_UNIT);
}

/* Where the parts of a record are. */
struct parts {
	const unsigned char	*opart;
	size_t			 olen, dlen, plen, size;
	struct tok		 tok, voip;
	const char		*dom, *prov;
};

static void
rec_parts(const struct devcache *dc, const struct devcache_item *r,
    struct parts *p)
{
	const unsigned char *d = (const unsigned char *)(r + 1);

	d += len_get(d, &p->olen);
	p->opart = d;
	d += p->olen;
	d += tok_read(d, (r->flags >> R_TOKEN_SHIFT) & R_KIND_MASK, &p->tok);
	p->voip.n = 0;
	if (r->flags & R_VOIP)
		d += tok_read(d, (r->flags >> R_VOIP_SHIFT) & R_KIND_MASK,
		    &p->voip);
	p->size = REC_HEADER + (size_t)(d - (const unsigned char *)(r + 1));
	p->dom = "";
	p->dlen = 0;
	if (r->domain != DEVCACHE_DOMAIN_NONE) {
		p->dom = dc->domains.names[r->domain];
		p->dlen = strlen(p->dom);
	}
	p->prov = dc->providers.names[r->provider];
	p->plen = strlen(p->prov);
}

static uint32_t
rec_units(const struct devcache *dc, const struct devcache_item *r)
{
	struct parts p;

	rec_parts(dc, r, &p);
	return units_of(p.size);
}

static size_t
rec_raw_tokens(const struct devcache_item *r)
{
	return (((r->flags >> R_TOKEN_SHIFT) & R_KIND_MASK) == TK_RAW) +
	    ((r->flags & R_VOIP) != 0 &&
	    ((r->flags >> R_VOIP_SHIFT) & R_KIND_MASK) == TK_RAW);
}

/*
 * The table.
 */

/*
 * A tag is 96 bits: tag[0] whole, the low half of tag[1].  The high half
 * of tag[0] picks the table position.
 */
static void
node_tag(const struct devcache *dc, const char *node, uint64_t tag[2])
{
	siphash128(&dc->node_key, node, strlen(node), tag);
	tag[1] &= UINT32_MAX;
}

static void
rec_tag(const struct devcache_item *r, uint64_t tag[2])
{
	tag[0] = (uint64_t)r->tag[1] << 32 | r->tag[0];
	tag[1] = r->tag[2];
}

static void
rec_set_tag(struct devcache_item *r, const uint64_t tag[2])
{
	r->tag[0] = (uint32_t)tag[0];
	r->tag[1] = (uint32_t)(tag[0] >> 32);
	r->tag[2] = (uint32_t)tag[1];
}

/* Home position: multiply-shift, so the table need not be a power of two. */
static size_t
tab_home(const struct devcache *dc, const uint64_t tag[2])
{
	return (size_t)(((tag[0] >> 32) * (uint64_t)dc->tab_size) >> 32);
}

static size_t
tab_next(const struct devcache *dc, size_t pos)
{
	return pos + 1 == dc->tab_size ? 0 : pos + 1;
}

/* Steps from a to b going forward, around the end. */
static size_t
tab_dist(const struct devcache *dc, size_t a, size_t b)
{
	return b >= a ? b - a : b + dc->tab_size - a;
}

/* The table position holding tag, or the empty one where it would go. */
static size_t
tab_find(const struct devcache *dc, const uint64_t tag[2], bool *found_r)
{
	size_t pos = tab_home(dc, tag);
	uint64_t rt[2];

	for (; dc->tab[pos] != 0; pos = tab_next(dc, pos)) {
		rec_tag(rec_at(dc, dc->tab[pos]), rt);
		if (rt[0] == tag[0] && rt[1] == tag[1]) {
			*found_r = true;
			return pos;
		}
	}
	*found_r = false;
	return pos;
}

/* Empties position pos, shifting back the entries that probed past it. */
static void
tab_delete(struct devcache *dc, size_t pos)
{
	size_t next, home;
	uint64_t rt[2];

	for (next = tab_next(dc, pos); dc->tab[next] != 0;
	    next = tab_next(dc, next)) {
		rec_tag(rec_at(dc, dc->tab[next]), rt);
		home = tab_home(dc, rt);
		/* Movable unless its home lies in (pos, next]. */
		if (tab_dist(dc, home, next) >= tab_dist(dc, pos, next)) {
			dc->tab[pos] = dc->tab[next];
			pos = next;
		}
	}
	dc->tab[pos] = 0;
}

/* Removes the entry at table position pos and frees its record. */
static void
entry_remove(struct devcache *dc, size_t pos)
{
	uint32_t ref = dc->tab[pos], units;
	struct devcache_item *r = rec_at(dc, ref);

	units = rec_units(dc, r);
	dc->raw_tokens -= rec_raw_tokens(r);
	dc->record_bytes -= units * DEVCACHE_UNIT;
	tab_delete(dc, pos);
	chunk_put(dc, ref, units);
	dc->entries--;
}

/*
 * CLOCK: the first entry not referenced since the hand last passed.  An
 * eviction shifts later entries back into the hand's position, so the
 * hand stays there to look at them.
 */
static void
evict_one(struct devcache *dc)
{
	struct devcache_item *r;

	for (;; dc->hand = tab_next(dc, dc->hand)) {
		if (dc->tab[dc->hand] == 0)
			continue;
		r = rec_at(dc, dc->tab[dc->hand]);
		if (r->flags & R_REF) {
			r->flags &= ~R_REF;
			continue;
		}
		entry_remove(dc, dc->hand);
		dc->evictions++;
		return;
	}
}

/*
 * Encoding.
 */

/* What a record of an entry will hold, before it has a place. */
struct plan {
	struct devcache_item	 h;
	const char		*opart;
	size_t			 olen, size;
	struct tok		 tok, voip;
};

/* Plans the record of d, or returns false if d cannot be cached. */
static bool
rec_plan(struct devcache *dc, const struct devcache_entry *d,
    struct plan *p)
{
	const char *at;
	uint64_t h;
	int dom, prov;

	memset(p, 0, sizeof(*p));
	if ((prov = intern(&dc->providers, &dc->name_key, d->provider,
	    strlen(d->provider))) == -1)
		return false;
	p->h.provider = (uint8_t)prov;
	p->h.flags = R_REF;
	p->opart = d->owner;
	if ((at = strchr(d->owner, '@')) != NULL) {
		p->h.flags |= R_AT;
		dom = intern(&dc->domains, &dc->name_key, at + 1,
		    strlen(at + 1));
		p->olen = (size_t)(at - d->owner);
	} else {
		dom = intern(&dc->domains, &dc->name_key, d->owner,
		    strlen(d->owner));
		p->olen = 0;
	}
	p->h.domain = (uint16_t)dom;
	if (dom == -1) {
		p->h.domain = DEVCACHE_DOMAIN_NONE;
		p->olen = strlen(d->owner);
	}
	tok_plan(d->token, &p->tok);
	p->h.flags |= (uint8_t)(p->tok.kind << R_TOKEN_SHIFT);
	p->size = REC_HEADER + len_size(p->olen) + p->olen + tok_size(&p->tok);
	if (d->voip_token != NULL) {
		tok_plan(d->voip_token, &p->voip);
		p->h.flags |= (uint8_t)(R_VOIP | p->voip.kind << R_VOIP_SHIFT);
		p->size += tok_size(&p->voip);
	}
	if (d->secret != NULL) {
		p->h.flags |= R_SECRET;
		h = siphash64(&dc->secret_key, d->secret, strlen(d->secret));
		memcpy(p->h.secret, &h, sizeof(h));
	}
	p->h.last_push = d->last_push > 0 && d->last_push <= UINT32_MAX ?
	    (uint32_t)d->last_push : 0;
	return p->olen <= LEN_MAX && p->tok.n <= LEN_MAX &&
	    p->voip.n <= LEN_MAX && p->size <= DEVCACHE_REC_MAX;
}

static void
rec_write(struct devcache_item *r, const struct plan *p)
{
	unsigned char *d = rec_data(r);

	*r = p->h;
	d += len_put(d, p->olen);
	memcpy(d, p->opart, p->olen);
	d += p->olen;
	d += tok_write(d, &p->tok);
	if (r->flags & R_VOIP)
		tok_write(d, &p->voip);
}

/* Bytes the decoded strings take: owner, provider, token, VoIP token. */
static size_t
parts_size(const struct parts *p)
{
	return p->olen + 1 + p->dlen + 1 + p->plen + 1 + p->tok.n + 1 +
	    p->voip.n + 1;
}

static void
rec_decode(const struct devcache_item *r, const struct parts *pt,
    struct devcache_entry *d, char *p)
{
	memset(d, 0, sizeof(*d));
	d->owner = p;
	memcpy(p, pt->opart, pt->olen);
	p += pt->olen;
	if (r->domain != DEVCACHE_DOMAIN_NONE) {
		if (r->flags & R_AT)
			*p++ = '@';
		memcpy(p, pt->dom, pt->dlen);
		p += pt->dlen;
	}
	*p++ = '\0';
	d->provider = p;
	memcpy(p, pt->prov, pt->plen + 1);
	p += pt->plen + 1;
	d->token = p;
	p += tok_unpack(p, &pt->tok);
	if (r->flags & R_VOIP) {
		d->voip_token = p;
		tok_unpack(p, &pt->voip);
	}
	d->last_push = r->last_push;
}

/*
 * The cache.
 */

struct devcache *
devcache_new(size_t max)
{
	unsigned char key[3 * SIPHASH_KEY_BYTES];
	struct devcache *dc;

	if (max == 0 || max > DEVCACHE_MAX)
		fatalx("%s: %zu entries", __func__, max);
	dc = xcalloc(1, sizeof(*dc));
	rand_bytes(key, sizeof(key));
	siphash_key_set(&dc->node_key, key);
	siphash_key_set(&dc->secret_key, key + SIPHASH_KEY_BYTES);
	siphash_key_set(&dc->name_key, key + 2 * SIPHASH_KEY_BYTES);
	dc->max = (uint32_t)max;
	dc->pages = xcalloc(DEVCACHE_PAGES_MAX, sizeof(*dc->pages));
	dc->npages = 1;
	/* Load at most 2/3; multiply-shift homes need no power of two. */
	dc->tab_size = max + max / 2 + 16;
	dc->tab = map_zero(dc->tab_size * sizeof(*dc->tab));
	intern_init(&dc->domains, DEVCACHE_DOMAINS_MAX);
	intern_init(&dc->providers, DEVCACHE_PROVIDERS_MAX);
	return dc;
}

void
devcache_flush(struct devcache *dc)
{
	uint32_t i;

	for (i = 1; i < dc->npages; i++) {
		unmap(dc->pages[i], DEVCACHE_PAGE_BYTES);
		dc->pages[i] = NULL;
	}
	dc->npages = 1;
	memset(dc->classes, 0, sizeof(dc->classes));
	/* Fresh zero pages: the old ones go back to the kernel. */
	unmap(dc->tab, dc->tab_size * sizeof(*dc->tab));
	dc->tab = map_zero(dc->tab_size * sizeof(*dc->tab));
	dc->entries = 0;
	dc->hand = 0;
	dc->record_bytes = dc->free_bytes = dc->carved_bytes = 0;
	dc->raw_tokens = 0;
	intern_reset(&dc->domains);
	intern_reset(&dc->providers);
}

void
devcache_free(struct devcache **dcp)
{
	struct devcache *dc = *dcp;

	if (dc == NULL)
		return;
	*dcp = NULL;
	devcache_flush(dc);
	unmap(dc->tab, dc->tab_size * sizeof(*dc->tab));
	free(dc->pages);
	intern_free(&dc->domains);
	intern_free(&dc->providers);
	free(dc);
}

bool
devcache_put(struct devcache *dc, const char *node,
    const struct devcache_entry *d)
{
	struct devcache_item *r;
	struct plan p;
	uint64_t tag[2];
	uint32_t ref, units;
	size_t pos;
	bool found;

	node_tag(dc, node, tag);
	pos = tab_find(dc, tag, &found);
	/* The old record first: its place may suit the new one. */
	if (found)
		entry_remove(dc, pos);
	if (!rec_plan(dc, d, &p))
		return false;
	if (dc->entries >= dc->max)
		evict_one(dc);
	units = units_of(p.size);
	if ((ref = chunk_get(dc, units)) == 0)
		return false;
	r = rec_at(dc, ref);
	rec_set_tag(&p.h, tag);
	rec_write(r, &p);
	dc->record_bytes += units * DEVCACHE_UNIT;
	dc->raw_tokens += rec_raw_tokens(r);
	/* Removals may have moved entries. */
	pos = tab_find(dc, tag, &found);
	dc->tab[pos] = ref;
	dc->entries++;
	return true;
}

struct devcache_item *
devcache_find(struct devcache *dc, const char *node)
{
	struct devcache_item *r;
	uint64_t tag[2];
	size_t pos;
	bool found;

	node_tag(dc, node, tag);
	pos = tab_find(dc, tag, &found);
	if (!found)
		return NULL;
	r = rec_at(dc, dc->tab[pos]);
	r->flags |= R_REF;
	return r;
}

size_t
devcache_item_decode(const struct devcache *dc,
    const struct devcache_item *it, struct devcache_entry *e, char *buf,
    size_t size)
{
	struct parts p;
	size_t need;

	rec_parts(dc, it, &p);
	if ((need = parts_size(&p)) <= size)
		rec_decode(it, &p, e, buf);
	return need;
}

time_t
devcache_item_last_push(const struct devcache_item *it)
{
	return (time_t)it->last_push;
}

void
devcache_item_set_last_push(struct devcache_item *it, time_t t)
{
	if (t > 0 && t <= UINT32_MAX)
		it->last_push = (uint32_t)t;
}

bool
devcache_item_secret_ok(const struct devcache *dc,
    const struct devcache_item *it, const char *presented)
{
	uint64_t diff, tag;

	if (!(it->flags & R_SECRET) || presented == NULL)
		return false;
	memcpy(&tag, it->secret, sizeof(tag));
	/* A plain comparison of two words does not branch on their bytes. */
	diff = siphash64(&dc->secret_key, presented, strlen(presented)) ^ tag;
	return diff == 0;
}

bool
devcache_drop(struct devcache *dc, const char *node)
{
	uint64_t tag[2];
	size_t pos;
	bool found;

	node_tag(dc, node, tag);
	pos = tab_find(dc, tag, &found);
	if (found)
		entry_remove(dc, pos);
	return found;
}

void
devcache_stats_get(const struct devcache *dc, struct devcache_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->entries = dc->entries;
	st->max = dc->max;
	st->record_bytes = dc->record_bytes;
	st->free_bytes = dc->free_bytes;
	st->arena_bytes = dc->carved_bytes;
	st->mapped_bytes = (size_t)(dc->npages - 1) * DEVCACHE_PAGE_BYTES;
	st->table_bytes = dc->tab_size * sizeof(*dc->tab);
	st->domains = dc->domains.n;
	st->providers = dc->providers.n;
	st->raw_tokens = dc->raw_tokens;
	st->evictions = dc->evictions;
}
