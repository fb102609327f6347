/*
 * Incremental XMPP stream parser over expat (see stream.h).
 *
 * Follows RFC 6120 §4 (streams), §4.9.3 (stream error conditions), §11
 * (XML usage) and XEP-0114 (jabber:component:accept).  Notes:
 *   - expat runs namespace-aware with triplets, the separator being 0xFF, a
 *     byte that never occurs in UTF-8 and so never in a name or URI;
 *   - the encoding is forced to UTF-8 and an XML declaration naming any
 *     other is unsupported-encoding (RFC 6120 §11.6);
 *   - DTDs, entity declarations, processing instructions and comments stop
 *     the parser at once with restricted-xml (§11.1): no entity is ever
 *     declared, so none is expanded and none is loaded;
 *   - memory is bounded: the bytes handed to expat since the start of the
 *     current stanza (or since the last complete event between stanzas)
 *     never exceed the stanza limit by more than one slice of input;
 *   - character data directly inside <stream:stream> other than whitespace
 *     is bad-format, as is a second stream header;
 *   - reparse deferral (expat >= 2.6, CVE-2023-52425 backports) is turned
 *     off, so a stanza is queued as soon as its last '>' arrives;
 *   - the handlers only build trees and queue events; when the queue is
 *     full the end-element handler suspends expat (XML_StopParser with
 *     resumable set), and xml_stream_next() resumes it once the queue is
 *     empty, so expat keeps at most the rest of one slice.
 */
#include "config.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <expat.h>

#include "xml/mem.h"
#include "xml/node.h"
#include "xml/node_priv.h"
#include "xml/stream.h"

#define NS_SEP		'\xff'
/* Input goes to expat in slices so a huge write cannot outrun the limits. */
#define FEED_SLICE	16384
/* Per stanza, namespace URIs already copied into its arena. */
#define NS_CACHE	8
/* A Prosody publish builds about 4 kB of tree: one chunk. */
#define STANZA_ARENA	8192

enum stream_state {
	STREAM_START,		/* waiting for <stream:stream> */
	STREAM_OPEN,
	STREAM_CLOSED,		/* </stream:stream> seen */
	STREAM_FAILED,
};

struct xml_stream {
	XML_Parser		 parser;
	struct xml_stream_limits lim;
	char			*content_ns;	/* expected, NULL: any */

	enum stream_state	 state;
	bool			 suspended;	/* queue full, expat paused */
	unsigned int		 depth;		/* 1: inside the stream */
	struct xml_node		*stanza;	/* being built */
	struct xml_node		*cur;
	struct xml_buf		 text;		/* character data pending */
	const char		*ns_cache[NS_CACHE];
	unsigned int		 ns_cached;

	uint64_t		 fed;		/* bytes handed to expat */
	uint64_t		 anchor;	/* start of pending input */

	struct xml_arena	*hdr_arena;
	const char		*decl_ns;	/* default ns on the header */

	enum xml_stream_cond	 cond;
	char			 errtext[160];

	/* Events not yet taken, in order: open, stanzas, close or error. */
	struct xml_stream_header hdr;
	bool			 open_queued;
	struct xml_node		**queue;	/* ring of lim.queue stanzas */
	unsigned int		 qhead;
	unsigned int		 qlen;
	enum xml_stream_ev	 end_queued;	/* CLOSE, ERROR or NONE */
};

static const char *const stream_cond_names[] = {
	[XML_STREAM_COND_NONE] = "none",
	[XML_STREAM_COND_BAD_FORMAT] = "bad-format",
	[XML_STREAM_COND_INVALID_NAMESPACE] = "invalid-namespace",
	[XML_STREAM_COND_NOT_WELL_FORMED] = "not-well-formed",
	[XML_STREAM_COND_POLICY_VIOLATION] = "policy-violation",
	[XML_STREAM_COND_RESTRICTED_XML] = "restricted-xml",
	[XML_STREAM_COND_UNSUPPORTED_ENCODING] = "unsupported-encoding",
};

const char *
xml_stream_cond_name(enum xml_stream_cond c)
{
	if ((size_t)c >= sizeof(stream_cond_names) / sizeof(*stream_cond_names))
		return "undefined-condition";
	return stream_cond_names[c];
}

void
xml_stream_limits_default(struct xml_stream_limits *l)
{
	l->stanza_bytes = XML_STREAM_MAX_STANZA_BYTES;
	l->depth = XML_STREAM_MAX_DEPTH;
	l->attrs = 0;		/* follow stanza_bytes */
	l->attr_len = 0;
	l->text_len = 0;
	l->queue = XML_STREAM_MAX_QUEUE;
}

/* The first failure wins; the parser stops at once. */
__attribute__((format(printf, 3, 4)))
static void
stream_fail(struct xml_stream *s, enum xml_stream_cond cond,
    const char *fmt, ...)
{
	va_list ap;

	if (s->cond != XML_STREAM_COND_NONE)
		return;
	s->cond = cond;
	va_start(ap, fmt);
	vsnprintf(s->errtext, sizeof(s->errtext), fmt, ap);
	va_end(ap);
	s->state = STREAM_FAILED;
	XML_StopParser(s->parser, XML_FALSE);
}

static bool
stream_ok(const struct xml_stream *s)
{
	return s->state == STREAM_OPEN || s->state == STREAM_START;
}

/*
 * Split an expat name "uri SEP local [SEP prefix]" (or a bare "local")
 * without copying.  The local name ends at a separator or the NUL.
 */
struct qname {
	const char	*uri;		/* NULL: no namespace */
	size_t		 urilen;
	const char	*local;
	size_t		 locallen;
	const char	*prefix;	/* NULL: none */
};

static void
stream_split(const char *name, struct qname *q)
{
	const char *sep, *sep2;

	if ((sep = strchr(name, NS_SEP)) == NULL) {
		q->uri = NULL;
		q->urilen = 0;
		q->local = name;
		q->locallen = strlen(name);
		q->prefix = NULL;
		return;
	}
	q->uri = name;
	q->urilen = sep - name;
	q->local = sep + 1;
	if ((sep2 = strchr(q->local, NS_SEP)) != NULL) {
		q->locallen = sep2 - q->local;
		q->prefix = sep2 + 1;
	} else {
		q->locallen = strlen(q->local);
		q->prefix = NULL;
	}
}

static bool
qname_is(const struct qname *q, const char *uri, const char *local)
{
	return q->uri != NULL && q->urilen == strlen(uri) &&
	    memcmp(q->uri, uri, q->urilen) == 0 &&
	    q->locallen == strlen(local) &&
	    memcmp(q->local, local, q->locallen) == 0;
}

static bool
str_eq_len(const char *s, const char *p, size_t n)
{
	return strncmp(s, p, n) == 0 && s[n] == '\0';
}

/*
 * Namespace URIs repeat within a stanza (x:data on every field and value),
 * so each distinct one is copied into the stanza's arena once.
 */
static const char *
stream_ns(struct xml_stream *s, const struct qname *q)
{
	const char *ns;
	unsigned int i;

	if (q->uri == NULL)
		return NULL;
	if (s->cur != NULL && s->cur->ns != NULL &&
	    str_eq_len(s->cur->ns, q->uri, q->urilen))
		return s->cur->ns;
	for (i = 0; i < s->ns_cached; i++)
		if (str_eq_len(s->ns_cache[i], q->uri, q->urilen))
			return s->ns_cache[i];
	ns = xml_arena_strndup(s->stanza->arena, q->uri, q->urilen);
	if (s->ns_cached < NS_CACHE)
		s->ns_cache[s->ns_cached++] = ns;
	return ns;
}

static uint64_t
stream_event_end(struct xml_stream *s)
{
	return (uint64_t)XML_GetCurrentByteIndex(s->parser) +
	    (uint64_t)XML_GetCurrentByteCount(s->parser);
}

static void
stream_flush_text(struct xml_stream *s)
{
	struct xml_node *t;

	if (s->text.len == 0)
		return;
	t = xml_node_alloc(s->stanza->arena, XML_NODE_TEXT);
	t->text = xml_arena_strndup(s->stanza->arena, s->text.data,
	    s->text.len);
	t->textlen = s->text.len;
	xml_node_link(s->cur, t);
	xml_buf_reset(&s->text);
}

static void
stream_drop_stanza(struct xml_stream *s)
{
	if (s->stanza != NULL)
		xml_arena_free(s->stanza->arena);
	s->stanza = s->cur = NULL;
	s->ns_cached = 0;
	xml_buf_reset(&s->text);
}

static const char *
stream_hdr_dup(struct xml_stream *s, const char *v)
{
	return xml_arena_strdup(s->hdr_arena, v);
}

static void
stream_open(struct xml_stream *s, const struct qname *q, const char **atts)
{
	struct xml_stream_header *h = &s->hdr;
	struct qname aq;
	unsigned int n;

	if (q->uri == NULL || !str_eq_len(XML_STREAM_NS, q->uri, q->urilen)) {
		stream_fail(s, XML_STREAM_COND_INVALID_NAMESPACE,
		    "the stream element is not in the streams namespace");
		return;
	}
	if (!str_eq_len("stream", q->local, q->locallen)) {
		stream_fail(s, XML_STREAM_COND_BAD_FORMAT,
		    "the root element is not <stream:stream>");
		return;
	}
	if (s->content_ns != NULL && (s->decl_ns == NULL ||
	    strcmp(s->decl_ns, s->content_ns) != 0)) {
		stream_fail(s, XML_STREAM_COND_INVALID_NAMESPACE,
		    "the stream's default namespace is not %s",
		    s->content_ns);
		return;
	}
	memset(h, 0, sizeof(*h));
	h->content_ns = s->decl_ns;
	for (n = 0; atts[n] != NULL; n += 2) {
		if (n / 2 >= s->lim.attrs) {
			stream_fail(s, XML_STREAM_COND_POLICY_VIOLATION,
			    "too many attributes on the stream header");
			return;
		}
		if (strlen(atts[n + 1]) > s->lim.attr_len) {
			stream_fail(s, XML_STREAM_COND_POLICY_VIOLATION,
			    "attribute value too long on the stream header");
			return;
		}
		stream_split(atts[n], &aq);
		if (aq.uri == NULL) {
			if (str_eq_len("id", aq.local, aq.locallen))
				h->id = stream_hdr_dup(s, atts[n + 1]);
			else if (str_eq_len("from", aq.local, aq.locallen))
				h->from = stream_hdr_dup(s, atts[n + 1]);
			else if (str_eq_len("to", aq.local, aq.locallen))
				h->to = stream_hdr_dup(s, atts[n + 1]);
			else if (str_eq_len("version", aq.local, aq.locallen))
				h->version = stream_hdr_dup(s, atts[n + 1]);
		} else if (qname_is(&aq, XML_NS_XML, "lang"))
			h->lang = stream_hdr_dup(s, atts[n + 1]);
	}
	s->state = STREAM_OPEN;
	s->anchor = stream_event_end(s);
	s->open_queued = true;
}

static void
stream_start_cb(void *arg, const XML_Char *name, const XML_Char **atts)
{
	struct xml_stream *s = arg;
	struct xml_arena *a;
	struct xml_attr *at;
	struct xml_node *n;
	struct qname q, aq;
	unsigned int i;
	size_t vlen;

	if (!stream_ok(s))
		return;
	s->depth++;
	stream_split(name, &q);
	if (s->depth == 1) {
		stream_open(s, &q, atts);
		return;
	}
	if (qname_is(&q, XML_STREAM_NS, "stream")) {
		stream_fail(s, XML_STREAM_COND_BAD_FORMAT,
		    "a stream header inside the stream");
		return;
	}
	if (s->depth - 1 > s->lim.depth) {
		stream_fail(s, XML_STREAM_COND_POLICY_VIOLATION,
		    "elements nested deeper than %u", s->lim.depth);
		return;
	}
	if (s->depth == 2) {
		s->anchor = (uint64_t)XML_GetCurrentByteIndex(s->parser);
		a = xml_arena_new(STANZA_ARENA);
		n = xml_node_alloc(a, XML_NODE_ELEMENT);
		s->stanza = n;
		s->ns_cached = 0;
	} else {
		stream_flush_text(s);
		n = xml_node_alloc(s->stanza->arena, XML_NODE_ELEMENT);
	}
	a = s->stanza->arena;
	n->name = xml_arena_strndup(a, q.local, q.locallen);
	n->ns = stream_ns(s, &q);
	if (s->cur != NULL)
		xml_node_link(s->cur, n);
	s->cur = n;

	for (i = 0; atts[2 * i] != NULL; i++) {
		if (i >= s->lim.attrs) {
			stream_fail(s, XML_STREAM_COND_POLICY_VIOLATION,
			    "more than %u attributes on <%s/>", s->lim.attrs,
			    n->name);
			return;
		}
		vlen = strlen(atts[2 * i + 1]);
		if (vlen > s->lim.attr_len) {
			stream_fail(s, XML_STREAM_COND_POLICY_VIOLATION,
			    "attribute value longer than %zu bytes",
			    s->lim.attr_len);
			return;
		}
		stream_split(atts[2 * i], &aq);
		at = xml_arena_alloc(a, sizeof(*at));
		at->name = xml_arena_strndup(a, aq.local, aq.locallen);
		at->ns = aq.uri == NULL ? NULL :
		    xml_arena_strndup(a, aq.uri, aq.urilen);
		at->prefix = aq.prefix == NULL ? NULL :
		    xml_arena_strdup(a, aq.prefix);
		at->value = xml_arena_strndup(a, atts[2 * i + 1], vlen);
		at->valuelen = vlen;
		xml_node_link_attr(n, at);
	}
}

/*
 * expat calls no handler after a suspension from an end-element handler,
 * so the queue never holds more than its size.
 */
static void
stream_enqueue(struct xml_stream *s, struct xml_node *stanza)
{
	if (s->qlen == s->lim.queue)
		abort();
	s->queue[(s->qhead + s->qlen) % s->lim.queue] = stanza;
	if (++s->qlen == s->lim.queue) {
		s->suspended = true;
		XML_StopParser(s->parser, XML_TRUE);
	}
}

static void
stream_drop_queue(struct xml_stream *s)
{
	while (s->qlen > 0) {
		xml_node_free(&s->queue[s->qhead]);
		s->qhead = (s->qhead + 1) % s->lim.queue;
		s->qlen--;
	}
	s->qhead = 0;
	s->open_queued = false;
	s->end_queued = XML_STREAM_EV_NONE;
}

static void
stream_end_cb(void *arg, const XML_Char *name)
{
	struct xml_stream *s = arg;
	struct xml_node *stanza;
	uint64_t end;

	if (!stream_ok(s))
		return;
	if (s->depth == 1) {
		s->depth = 0;
		s->state = STREAM_CLOSED;
		s->end_queued = XML_STREAM_EV_CLOSE;
		XML_StopParser(s->parser, XML_FALSE);
		return;
	}
	stream_flush_text(s);
	s->depth--;
	if (s->depth > 1) {
		s->cur = s->cur->parent;
		return;
	}
	end = stream_event_end(s);
	if (end - s->anchor > s->lim.stanza_bytes) {
		stream_fail(s, XML_STREAM_COND_POLICY_VIOLATION,
		    "stanza larger than %zu bytes", s->lim.stanza_bytes);
		return;
	}
	s->anchor = end;
	stanza = s->stanza;
	stanza->owns_arena = true;
	s->stanza = s->cur = NULL;
	stream_enqueue(s, stanza);
}

static bool
stream_is_space(const char *p, int len)
{
	int i;

	for (i = 0; i < len; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\n' &&
		    p[i] != '\r')
			return false;
	return true;
}

static void
stream_text_cb(void *arg, const XML_Char *p, int len)
{
	struct xml_stream *s = arg;

	if (!stream_ok(s))
		return;
	if (s->depth <= 1) {
		if (!stream_is_space(p, len))
			stream_fail(s, XML_STREAM_COND_BAD_FORMAT,
			    "text outside a stanza");
		else
			s->anchor = stream_event_end(s);
		return;
	}
	if ((size_t)len > s->lim.text_len - s->text.len ||
	    s->text.len > s->lim.text_len) {
		stream_fail(s, XML_STREAM_COND_POLICY_VIOLATION,
		    "text longer than %zu bytes", s->lim.text_len);
		return;
	}
	xml_buf_append(&s->text, p, (size_t)len);
}

static void
stream_ns_cb(void *arg, const XML_Char *prefix, const XML_Char *uri)
{
	struct xml_stream *s = arg;

	/* Only the header's default namespace matters. */
	if (s->depth != 0 || prefix != NULL || !stream_ok(s))
		return;
	s->decl_ns = uri == NULL ? NULL : stream_hdr_dup(s, uri);
}

static void
stream_xmldecl_cb(void *arg, const XML_Char *version,
    const XML_Char *encoding, int standalone)
{
	struct xml_stream *s = arg;

	if (encoding != NULL && strcasecmp(encoding, "UTF-8") != 0)
		stream_fail(s, XML_STREAM_COND_UNSUPPORTED_ENCODING,
		    "encoding %.40s is not UTF-8", encoding);
}

static void
stream_doctype_cb(void *arg, const XML_Char *name, const XML_Char *sysid,
    const XML_Char *pubid, int has_internal_subset)
{
	stream_fail(arg, XML_STREAM_COND_RESTRICTED_XML,
	    "document type declaration");
}

static void
stream_entity_cb(void *arg, const XML_Char *name, int is_param,
    const XML_Char *value, int value_len, const XML_Char *base,
    const XML_Char *sysid, const XML_Char *pubid, const XML_Char *notation)
{
	stream_fail(arg, XML_STREAM_COND_RESTRICTED_XML, "entity declaration");
}

static void
stream_pi_cb(void *arg, const XML_Char *target, const XML_Char *data)
{
	stream_fail(arg, XML_STREAM_COND_RESTRICTED_XML,
	    "processing instruction");
}

static void
stream_comment_cb(void *arg, const XML_Char *data)
{
	stream_fail(arg, XML_STREAM_COND_RESTRICTED_XML, "comment");
}

static int
stream_extent_cb(XML_Parser p, const XML_Char *context, const XML_Char *base,
    const XML_Char *sysid, const XML_Char *pubid)
{
	stream_fail(XML_GetUserData(p), XML_STREAM_COND_RESTRICTED_XML,
	    "external entity reference");
	return XML_STATUS_ERROR;
}

static void
stream_skipped_cb(void *arg, const XML_Char *name, int is_param)
{
	stream_fail(arg, XML_STREAM_COND_RESTRICTED_XML, "entity reference");
}

/* XML_ParserReset() drops the handlers, so they are set after each. */
static void
stream_setup(struct xml_stream *s)
{
	XML_Parser p = s->parser;

	XML_SetUserData(p, s);
	XML_SetReturnNSTriplet(p, XML_TRUE);
	XML_SetElementHandler(p, stream_start_cb, stream_end_cb);
	XML_SetCharacterDataHandler(p, stream_text_cb);
	XML_SetStartNamespaceDeclHandler(p, stream_ns_cb);
	XML_SetXmlDeclHandler(p, stream_xmldecl_cb);
	XML_SetStartDoctypeDeclHandler(p, stream_doctype_cb);
	XML_SetEntityDeclHandler(p, stream_entity_cb);
	XML_SetProcessingInstructionHandler(p, stream_pi_cb);
	XML_SetCommentHandler(p, stream_comment_cb);
	XML_SetExternalEntityRefHandler(p, stream_extent_cb);
	XML_SetSkippedEntityHandler(p, stream_skipped_cb);
	XML_SetParamEntityParsing(p, XML_PARAM_ENTITY_PARSING_NEVER);
#ifdef HAVE_XML_SETREPARSEDEFERRALENABLED
	XML_SetReparseDeferralEnabled(p, XML_FALSE);
#endif
}

struct xml_stream *
xml_stream_new(const char *content_ns, const struct xml_stream_limits *lim)
{
	struct xml_stream *s;

	s = xml_mem_calloc(1, sizeof(*s));
	if ((s->parser = XML_ParserCreateNS("UTF-8", NS_SEP)) == NULL)
		abort();
	if (lim != NULL)
		s->lim = *lim;
	else
		xml_stream_limits_default(&s->lim);
	if (s->lim.queue == 0)
		s->lim.queue = 1;
	if (s->lim.attrs == 0)
		s->lim.attrs = (unsigned int)(s->lim.stanza_bytes /
		    XML_STREAM_MIN_ATTR_BYTES);
	if (s->lim.attr_len == 0)
		s->lim.attr_len = s->lim.stanza_bytes;
	if (s->lim.text_len == 0)
		s->lim.text_len = s->lim.stanza_bytes;
	s->queue = xml_mem_calloc(s->lim.queue, sizeof(*s->queue));
	s->content_ns = content_ns ? xml_mem_strdup(content_ns) : NULL;
	xml_buf_init(&s->text);
	s->hdr_arena = xml_arena_new(512);
	stream_setup(s);
	return s;
}

void
xml_stream_reset(struct xml_stream *s)
{
	stream_drop_stanza(s);
	stream_drop_queue(s);
	if (XML_ParserReset(s->parser, "UTF-8") != XML_TRUE)
		abort();
	stream_setup(s);
	xml_arena_free(s->hdr_arena);
	s->hdr_arena = xml_arena_new(512);
	s->decl_ns = NULL;
	s->state = STREAM_START;
	s->suspended = false;
	s->depth = 0;
	s->fed = s->anchor = 0;
	s->cond = XML_STREAM_COND_NONE;
	s->errtext[0] = '\0';
}

void
xml_stream_free(struct xml_stream **sp)
{
	struct xml_stream *s = *sp;

	if (s == NULL)
		return;
	*sp = NULL;
	stream_drop_stanza(s);
	stream_drop_queue(s);
	XML_ParserFree(s->parser);
	xml_arena_free(s->hdr_arena);
	xml_buf_free(&s->text);
	free(s->queue);
	free(s->content_ns);
	free(s);
}

/* After a parse error of expat's own (not one of our stops). */
static void
stream_expat_error(struct xml_stream *s)
{
	enum XML_Error e = XML_GetErrorCode(s->parser);
	enum xml_stream_cond cond = XML_STREAM_COND_NOT_WELL_FORMED;

	if (e == XML_ERROR_UNKNOWN_ENCODING || e == XML_ERROR_INCORRECT_ENCODING)
		cond = XML_STREAM_COND_UNSUPPORTED_ENCODING;
	else if (e == XML_ERROR_NO_MEMORY)
		abort();
	stream_fail(s, cond, "%s at line %lu column %lu", XML_ErrorString(e),
	    (unsigned long)XML_GetCurrentLineNumber(s->parser),
	    (unsigned long)XML_GetCurrentColumnNumber(s->parser));
}

/*
 * What XML_Parse or XML_ResumeParser returned.  While suspended, bytes
 * fed but not yet parsed would count against the stanza limit, so the
 * limit is checked once expat has parsed all it holds.
 */
static void
stream_parsed(struct xml_stream *s, enum XML_Status st)
{
	s->suspended = st == XML_STATUS_SUSPENDED;
	if (s->suspended || s->state == STREAM_CLOSED)
		return;
	if (st == XML_STATUS_ERROR && s->cond == XML_STREAM_COND_NONE)
		stream_expat_error(s);
	if (s->cond == XML_STREAM_COND_NONE &&
	    s->fed - s->anchor > s->lim.stanza_bytes)
		stream_fail(s, XML_STREAM_COND_POLICY_VIOLATION,
		    "more than %zu bytes without a complete stanza",
		    s->lim.stanza_bytes);
	if (s->cond != XML_STREAM_COND_NONE && s->end_queued ==
	    XML_STREAM_EV_NONE) {
		stream_drop_stanza(s);
		s->end_queued = XML_STREAM_EV_ERROR;
	}
}

int
xml_stream_feed(struct xml_stream *s, const void *data, size_t len,
    size_t *used_r)
{
	const char *p = data;
	enum XML_Status st;
	size_t n;

	*used_r = 0;
	while (len > 0 && !s->suspended) {
		if (s->state == STREAM_CLOSED || s->state == STREAM_FAILED) {
			*used_r += len;
			break;
		}
		n = len < FEED_SLICE ? len : FEED_SLICE;
		st = XML_Parse(s->parser, p, (int)n, XML_FALSE);
		p += n;
		len -= n;
		*used_r += n;
		s->fed += n;
		stream_parsed(s, st);
	}
	return s->state == STREAM_FAILED ? -1 : 0;
}

enum xml_stream_ev
xml_stream_next(struct xml_stream *s, struct xml_stream_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	if (s->open_queued) {
		s->open_queued = false;
		ev->header = &s->hdr;
		return ev->type = XML_STREAM_EV_OPEN;
	}
	if (s->qlen == 0 && s->suspended)
		stream_parsed(s, XML_ResumeParser(s->parser));
	if (s->qlen > 0) {
		ev->stanza = s->queue[s->qhead];
		s->queue[s->qhead] = NULL;
		s->qhead = (s->qhead + 1) % s->lim.queue;
		s->qlen--;
		return ev->type = XML_STREAM_EV_STANZA;
	}
	ev->type = s->end_queued;
	s->end_queued = XML_STREAM_EV_NONE;
	if (ev->type == XML_STREAM_EV_ERROR) {
		ev->cond = s->cond;
		ev->text = s->errtext;
	}
	return ev->type;
}

enum xml_stream_cond
xml_stream_error(const struct xml_stream *s, const char **text_r)
{
	if (text_r != NULL)
		*text_r = s->errtext;
	return s->cond;
}
