/*
 * The device cache (see devcache.h): a registration in a fixed 72-byte
 * slot, because a malloc'd record with five strdup'd strings, chained
 * buckets and a doubly linked LRU costs several times that per entry, and
 * a publish server keeps a million of them (BENCHMARKS.md "Memory").
 *
 * Layout, and why:
 *
 * - Every entry is one fixed 72-byte struct cslot, in pages of
 *   DEVCACHE_PAGE_SLOTS slots mapped on first use, addressed by a uint32
 *   index: no malloc header or rounding per entry, no pointers to chase,
 *   and a flush hands the pages straight back to the kernel (munmap), so
 *   the heap neither fragments nor keeps them.
 *
 * - The index is an open-addressing table (linear probing) of uint32 slot
 *   indices, 1.5 times the maximum, so that the load stays at or below
 *   2/3; positions come from multiply-shift, so the size need not be a
 *   power of two (rounding up to one costs up to a third more).  Deletion
 *   shifts the following entries back instead of leaving tombstones, so
 *   probes never lengthen with age.
 *
 * - The node is not stored: the slot holds 96 bits of a SipHash-2-4 of it
 *   under a key drawn from getrandom(2) once per cache, and part of them
 *   picks the table position.  Two of one million nodes share a tag with
 *   a probability of about n^2 / 2^97 = 6e-18 (and even then the secret
 *   check refuses the publish rather than misdirect it); 96 bits rather
 *   than 128 keep the slot at 72 bytes next to the 64-bit secret hash.
 *   Nobody outside the process can aim for a collision or a long probe
 *   without the key.  A NOTIFY payload (a node) is hashed the same way to
 *   drop its entry.
 *
 * - The secret is not stored either: a 64-bit SipHash under a second key,
 *   compared in constant time.  Guessing it is a 2^-64 chance per try,
 *   far below guessing the 144-bit secret's neighbours would need.
 *
 * - The token is stored as binary when it is lowercase hex of even length
 *   (APNs: 64 characters, 32 bytes), verbatim otherwise (FCM, or hex that
 *   must come back in upper case).  The owner's domain and the provider
 *   are indices into small interned tables (few distinct values); the
 *   local part is kept as is.  last_push is 32-bit seconds.
 *
 * - An APNs registration (binary token plus a local part of up to
 *   DEVCACHE_INLINE - 32 bytes) fits in the slot's inline area.  Anything
 *   larger (an FCM token, a VoIP token, a long local part, an owner whose
 *   domain could not be interned) goes into one malloc'd blob the slot
 *   points to.
 *
 * - Eviction is CLOCK: a referenced bit set on every hit, a hand sweeping
 *   the slots that clears it or evicts the first entry found clear.  One
 *   bit instead of two list pointers, and a hit writes one byte instead of
 *   relinking a list.
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

#define DEVCACHE_SLOT_BYTES	72	/* sizeof(struct cslot) */
#define DEVCACHE_INLINE		42	/* bytes of token + local part inline */
#define DEVCACHE_PAGE_SLOTS	4096	/* slots per mapped page (288 KB) */
#define DEVCACHE_MAX		(UINT32_MAX / 2)	/* entries at the most */
#define DEVCACHE_PART_MAX	UINT16_MAX	/* bytes of one blob field */
#define DEVCACHE_NAME_MAX	255	/* bytes of an interned name */
#define DEVCACHE_DOMAINS_MAX	4096	/* interned domains, then blobs */
#define DEVCACHE_DOMAIN_NONE	UINT16_MAX	/* owner kept whole */
#define DEVCACHE_PROVIDERS_MAX	255	/* interned providers, then uncached */

/* cslot.flags */
#define CS_USED		0x01
#define CS_REF		0x02	/* CLOCK: hit since the hand last passed */
#define CS_BLOB		0x04	/* data holds a pointer to a blob */
#define CS_TOKEN_HEX	0x08	/* token stored as binary, lowercase hex */
#define CS_VOIP		0x10	/* has a VoIP token (always in a blob) */
#define CS_VOIP_HEX	0x20
#define CS_SECRET	0x40	/* has a secret: cslot.secret is its hash */
#define CS_AT		0x80	/* owner is local@domain, not just domain */

struct cslot {
	uint32_t	 tag[3];	/* 96 bits of SipHash-128 of the node */
	uint32_t	 secret[2];	/* SipHash-64 of the secret */
	uint32_t	 last_push;	/* seconds; free slots: next free */
	uint16_t	 domain;	/* interned, or DEVCACHE_DOMAIN_NONE */
	uint8_t		 provider;	/* interned */
	uint8_t		 flags;
	uint8_t		 token_len;	/* inline: stored bytes of the token */
	uint8_t		 local_len;	/* inline: bytes of the local part */
	/* Inline: token, then local part.  CS_BLOB: a char *. */
	unsigned char	 data[DEVCACHE_INLINE];
};
/* What devcache.h calls an item is a slot. */
struct devcache_item {
	struct cslot	 s;
};
_Static_assert(sizeof(struct cslot) == DEVCACHE_SLOT_BYTES,
    "struct cslot is not the size the layout was planned for");

/*
 * A blob: three little-endian uint16 lengths (owner part, token, VoIP
 * token) and the bytes, in that order.
 */
#define BLOB_HEADER	6

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
	struct cslot		**pages;
	size_t			 npages;
	size_t			 mapped;	/* pages mapped */
	uint32_t		*tab;		/* slot index + 1; 0 empty */
	size_t			 tab_size;	/* positions */
	uint32_t		 max;
	uint32_t		 nslots;	/* slots handed out so far */
	uint32_t		 entries;
	uint32_t		 free_head;	/* index + 1; 0: none */
	uint32_t		 hand;		/* CLOCK */
	uint64_t		 evictions;
	size_t			 blobs;
	size_t			 blob_bytes;
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

static struct cslot *
slot_at(const struct devcache *dc, uint32_t i)
{
	return &dc->pages[i / DEVCACHE_PAGE_SLOTS][i % DEVCACHE_PAGE_SLOTS];
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
 * Tokens: lowercase hex of even length is stored as binary.
 */

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

/* Writes the stored form of a token; returns its length. */
static size_t
token_pack(unsigned char *dst, const char *tok, size_t len, bool hex)
{
	size_t i;

	if (!hex) {
		memcpy(dst, tok, len);
		return len;
	}
	for (i = 0; i < len / 2; i++)
		dst[i] = (unsigned char)(hexval(tok[2 * i]) << 4 |
		    hexval(tok[2 * i + 1]));
	return len / 2;
}

/* Writes the token, NUL-terminated; returns the bytes written with it. */
static size_t
token_unpack(char *dst, const unsigned char *src, size_t len, bool hex)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	if (!hex) {
		memcpy(dst, src, len);
		dst[len] = '\0';
		return len + 1;
	}
	for (i = 0; i < len; i++) {
		dst[2 * i] = digits[src[i] >> 4];
		dst[2 * i + 1] = digits[src[i] & 0xf];
	}
	dst[2 * len] = '\0';
	return 2 * len + 1;
}

static void
put16(unsigned char *p, size_t v)
{
	p[0] = (unsigned char)(v & 0xff);
	p[1] = (unsigned char)(v >> 8);
}

static size_t
get16(const unsigned char *p)
{
	return (size_t)p[0] | (size_t)p[1] << 8;
}

static unsigned char *
slot_blob(const struct cslot *s)
{
	unsigned char *b;

	memcpy(&b, s->data, sizeof(b));
	return b;
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
slot_tag(const struct cslot *s, uint64_t tag[2])
{
	tag[0] = (uint64_t)s->tag[1] << 32 | s->tag[0];
	tag[1] = s->tag[2];
}

static void
slot_set_tag(struct cslot *s, const uint64_t tag[2])
{
	s->tag[0] = (uint32_t)tag[0];
	s->tag[1] = (uint32_t)(tag[0] >> 32);
	s->tag[2] = (uint32_t)tag[1];
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
	const struct cslot *s;
	uint64_t st[2];

	for (; dc->tab[pos] != 0; pos = tab_next(dc, pos)) {
		s = slot_at(dc, dc->tab[pos] - 1);
		slot_tag(s, st);
		if (st[0] == tag[0] && st[1] == tag[1]) {
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
	uint64_t st[2];

	for (next = tab_next(dc, pos); dc->tab[next] != 0;
	    next = tab_next(dc, next)) {
		slot_tag(slot_at(dc, dc->tab[next] - 1), st);
		home = tab_home(dc, st);
		/* Movable unless its home lies in (pos, next]. */
		if (tab_dist(dc, home, next) >= tab_dist(dc, pos, next)) {
			dc->tab[pos] = dc->tab[next];
			pos = next;
		}
	}
	dc->tab[pos] = 0;
}

/* Frees what the slot owns and marks it unused (not yet on a free list). */
static void
slot_clear(struct devcache *dc, struct cslot *s)
{
	unsigned char *b;

	if (s->flags & CS_BLOB) {
		b = slot_blob(s);
		dc->blobs--;
		dc->blob_bytes -= BLOB_HEADER + get16(b) + get16(b + 2) +
		    get16(b + 4);
		free(b);
	}
	memset(s, 0, sizeof(*s));
}

/* Removes the entry at table position pos and frees its slot. */
static void
entry_remove(struct devcache *dc, size_t pos)
{
	uint32_t i = dc->tab[pos] - 1;
	struct cslot *s = slot_at(dc, i);

	tab_delete(dc, pos);
	slot_clear(dc, s);
	s->last_push = dc->free_head;
	dc->free_head = i + 1;
	dc->entries--;
}

/* CLOCK: the first entry not referenced since the hand last passed. */
static void
evict_one(struct devcache *dc)
{
	struct cslot *s;
	uint64_t st[2];
	size_t pos;
	bool found;

	for (;;) {
		s = slot_at(dc, dc->hand);
		dc->hand = (dc->hand + 1) % dc->nslots;
		if (!(s->flags & CS_USED))
			continue;
		if (s->flags & CS_REF) {
			s->flags &= ~CS_REF;
			continue;
		}
		slot_tag(s, st);
		pos = tab_find(dc, st, &found);
		if (!found)
			fatalx("%s: slot not in the table", __func__);
		entry_remove(dc, pos);
		dc->evictions++;
		return;
	}
}

/* A free slot, evicting an entry if the cache is full. */
static uint32_t
slot_get(struct devcache *dc)
{
	uint32_t i;

	if (dc->free_head == 0 && dc->nslots < dc->max) {
		i = dc->nslots;
		if (dc->pages[i / DEVCACHE_PAGE_SLOTS] == NULL) {
			dc->pages[i / DEVCACHE_PAGE_SLOTS] = map_zero(
			    DEVCACHE_PAGE_SLOTS * sizeof(struct cslot));
			dc->mapped++;
		}
		dc->nslots++;
		return i;
	}
	if (dc->free_head == 0)
		evict_one(dc);
	i = dc->free_head - 1;
	dc->free_head = slot_at(dc, i)->last_push;
	return i;
}

/*
 * Encoding.
 */

/* Fills s from d, or returns false if d cannot be cached. */
static bool
slot_encode(struct devcache *dc, struct cslot *s,
    const struct devcache_entry *d)
{
	const char *at, *opart;
	size_t olen, tlen, vlen = 0, tstored, vstored = 0;
	unsigned char *b, *p;
	uint64_t h;
	int dom, prov;
	bool thex, vhex = false;

	prov = intern(&dc->providers, &dc->name_key, d->provider,
	    strlen(d->provider));
	if (prov == -1)
		return false;
	s->provider = (uint8_t)prov;
	if ((at = strchr(d->owner, '@')) != NULL) {
		s->flags |= CS_AT;
		dom = intern(&dc->domains, &dc->name_key, at + 1,
		    strlen(at + 1));
		opart = d->owner;
		olen = (size_t)(at - d->owner);
	} else {
		dom = intern(&dc->domains, &dc->name_key, d->owner,
		    strlen(d->owner));
		opart = "";
		olen = 0;
	}
	if (dom == -1) {
		s->domain = DEVCACHE_DOMAIN_NONE;
		opart = d->owner;
		olen = strlen(d->owner);
	} else
		s->domain = (uint16_t)dom;
	tlen = strlen(d->token);
	thex = is_lower_hex(d->token, tlen);
	tstored = thex ? tlen / 2 : tlen;
	if (d->voip_token != NULL) {
		vlen = strlen(d->voip_token);
		vhex = is_lower_hex(d->voip_token, vlen);
		vstored = vhex ? vlen / 2 : vlen;
		s->flags |= CS_VOIP | (vhex ? CS_VOIP_HEX : 0);
	}
	if (thex)
		s->flags |= CS_TOKEN_HEX;
	if (d->secret != NULL) {
		s->flags |= CS_SECRET;
		h = siphash64(&dc->secret_key, d->secret, strlen(d->secret));
		memcpy(s->secret, &h, sizeof(h));
	}
	s->last_push = d->last_push > 0 && d->last_push <= UINT32_MAX ?
	    (uint32_t)d->last_push : 0;

	if (d->voip_token == NULL && s->domain != DEVCACHE_DOMAIN_NONE &&
	    tstored + olen <= DEVCACHE_INLINE) {
		s->token_len = (uint8_t)tstored;
		s->local_len = (uint8_t)olen;
		token_pack(s->data, d->token, tlen, thex);
		memcpy(s->data + tstored, opart, olen);
		return true;
	}
	if (olen > DEVCACHE_PART_MAX || tstored > DEVCACHE_PART_MAX ||
	    vstored > DEVCACHE_PART_MAX)
		return false;
	b = xmalloc(BLOB_HEADER + olen + tstored + vstored);
	put16(b, olen);
	put16(b + 2, tstored);
	put16(b + 4, vstored);
	p = b + BLOB_HEADER;
	memcpy(p, opart, olen);
	p += olen;
	p += token_pack(p, d->token, tlen, thex);
	if (d->voip_token != NULL)
		token_pack(p, d->voip_token, vlen, vhex);
	s->flags |= CS_BLOB;
	memcpy(s->data, &b, sizeof(b));
	dc->blobs++;
	dc->blob_bytes += BLOB_HEADER + olen + tstored + vstored;
	return true;
}

/* Where the parts of an entry are in the slot or its blob. */
struct parts {
	const unsigned char	*opart, *tok, *voip;
	size_t			 olen, tlen, vlen, dlen, plen;
	const char		*dom, *prov;
};

static void
slot_parts(const struct devcache *dc, const struct cslot *s, struct parts *p)
{
	p->voip = NULL;
	p->vlen = 0;
	if (s->flags & CS_BLOB) {
		p->opart = slot_blob(s);
		p->olen = get16(p->opart);
		p->tlen = get16(p->opart + 2);
		p->vlen = get16(p->opart + 4);
		p->opart += BLOB_HEADER;
		p->tok = p->opart + p->olen;
		p->voip = p->tok + p->tlen;
	} else {
		p->olen = s->local_len;
		p->tlen = s->token_len;
		p->tok = s->data;
		p->opart = s->data + p->tlen;
	}
	p->dom = "";
	p->dlen = 0;
	if (s->domain != DEVCACHE_DOMAIN_NONE) {
		p->dom = dc->domains.names[s->domain];
		p->dlen = strlen(p->dom);
	}
	p->prov = dc->providers.names[s->provider];
	p->plen = strlen(p->prov);
}

/* Bytes the decoded strings take: owner, provider, token, VoIP token. */
static size_t
parts_size(const struct parts *p)
{
	return p->olen + 1 + p->dlen + 1 + p->plen + 1 + 2 * p->tlen + 1 +
	    2 * p->vlen + 1;
}

static void
slot_decode(const struct cslot *s, const struct parts *pt,
    struct devcache_entry *d, char *p)
{
	memset(d, 0, sizeof(*d));
	d->owner = p;
	memcpy(p, pt->opart, pt->olen);
	p += pt->olen;
	if (s->domain != DEVCACHE_DOMAIN_NONE) {
		if (s->flags & CS_AT)
			*p++ = '@';
		memcpy(p, pt->dom, pt->dlen);
		p += pt->dlen;
	}
	*p++ = '\0';
	d->provider = p;
	memcpy(p, pt->prov, pt->plen + 1);
	p += pt->plen + 1;
	d->token = p;
	p += token_unpack(p, pt->tok, pt->tlen, s->flags & CS_TOKEN_HEX);
	if (s->flags & CS_VOIP) {
		d->voip_token = p;
		token_unpack(p, pt->voip, pt->vlen, s->flags & CS_VOIP_HEX);
	}
	d->last_push = s->last_push;
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
	dc->npages = (max + DEVCACHE_PAGE_SLOTS - 1) / DEVCACHE_PAGE_SLOTS;
	dc->pages = xcalloc(dc->npages, sizeof(*dc->pages));
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
	size_t i;
	uint32_t n;

	for (n = 0; n < dc->nslots; n++)
		if (slot_at(dc, n)->flags & CS_BLOB)
			slot_clear(dc, slot_at(dc, n));
	for (i = 0; i < dc->npages; i++) {
		unmap(dc->pages[i], DEVCACHE_PAGE_SLOTS * sizeof(struct cslot));
		dc->pages[i] = NULL;
	}
	/* Fresh zero pages: the old ones go back to the kernel. */
	unmap(dc->tab, dc->tab_size * sizeof(*dc->tab));
	dc->tab = map_zero(dc->tab_size * sizeof(*dc->tab));
	dc->nslots = dc->entries = dc->free_head = dc->hand = 0;
	dc->mapped = 0;
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
	uint64_t tag[2];
	struct cslot *s;
	size_t pos;
	uint32_t i;
	bool found;

	node_tag(dc, node, tag);
	pos = tab_find(dc, tag, &found);
	if (found) {
		i = dc->tab[pos] - 1;
		s = slot_at(dc, i);
		slot_clear(dc, s);
	} else {
		i = slot_get(dc);
		s = slot_at(dc, i);
		/* An eviction may have moved entries. */
		pos = tab_find(dc, tag, &found);
		dc->tab[pos] = i + 1;
		dc->entries++;
	}
	slot_set_tag(s, tag);
	s->flags = CS_USED | CS_REF;
	if (slot_encode(dc, s, d))
		return true;
	entry_remove(dc, pos);
	return false;
}

struct devcache_item *
devcache_find(struct devcache *dc, const char *node)
{
	uint64_t tag[2];
	struct cslot *s;
	size_t pos;
	bool found;

	node_tag(dc, node, tag);
	pos = tab_find(dc, tag, &found);
	if (!found)
		return NULL;
	s = slot_at(dc, dc->tab[pos] - 1);
	s->flags |= CS_REF;
	return (struct devcache_item *)s;
}

size_t
devcache_item_decode(const struct devcache *dc,
    const struct devcache_item *it, struct devcache_entry *e, char *buf,
    size_t size)
{
	struct parts p;
	size_t need;

	slot_parts(dc, &it->s, &p);
	if ((need = parts_size(&p)) <= size)
		slot_decode(&it->s, &p, e, buf);
	return need;
}

time_t
devcache_item_last_push(const struct devcache_item *it)
{
	return (time_t)it->s.last_push;
}

void
devcache_item_set_last_push(struct devcache_item *it, time_t t)
{
	if (t > 0 && t <= UINT32_MAX)
		it->s.last_push = (uint32_t)t;
}

bool
devcache_item_secret_ok(const struct devcache *dc,
    const struct devcache_item *it, const char *presented)
{
	uint64_t diff, tag;

	if (!(it->s.flags & CS_SECRET) || presented == NULL)
		return false;
	memcpy(&tag, it->s.secret, sizeof(tag));
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
	st->blobs = dc->blobs;
	st->blob_bytes = dc->blob_bytes;
	st->slot_bytes = dc->mapped * DEVCACHE_PAGE_SLOTS *
	    sizeof(struct cslot);
	st->table_bytes = dc->tab_size * sizeof(*dc->tab);
	st->domains = dc->domains.n;
	st->providers = dc->providers.n;
	st->evictions = dc->evictions;
}
