/*
 * Incremental XMPP stream parser (RFC 6120 §4, XEP-0114): feed it bytes in
 * any chunking, then take the events they completed, in order: the stream
 * header, each complete top-level stanza as a tree, the stream close, or
 * one error naming the stream error condition to send.  Restricted XML
 * (RFC 6120 §11.1) is enforced and every input is bounded by the limits
 * below.
 *
 * Feeding only parses: nothing of the caller runs while expat does, so
 * the caller may reset or free the stream, or feed it again, whenever it
 * likes.  The queue between the two is bounded: once it holds `queue`
 * stanzas the parser pauses, takes no more input, and goes on only when
 * xml_stream_next() has emptied it.  What a stream holds at any time is
 * therefore at most `queue` stanzas of at most `stanza_bytes` each, one
 * stanza being built, and one slice of input not yet parsed.
 */
#ifndef XP_XML_STREAM_H
#define XP_XML_STREAM_H

#include <stddef.h>

#include "xml/node.h"

#define XML_STREAM_NS			"http://etherx.jabber.org/streams"
#define XML_STREAM_COMPONENT_NS		"jabber:component:accept"

/* Defaults; each can be changed per parser through struct xml_stream_limits. */
#define XML_STREAM_MAX_STANZA_BYTES	65536	/* one stanza, tags included */
#define XML_STREAM_MAX_DEPTH		32	/* the stanza itself is 1 */
/*
 * Attributes per element, the bytes of one value and of one text run
 * follow from the stanza limit unless set (0: follow): any stanza within
 * stanza_bytes is within them, so a peer cannot close the stream with a stanza the
 * documented size allows.  The smallest attribute, ` a=''`, takes
 * XML_STREAM_MIN_ATTR_BYTES of the stanza.
 */
#define XML_STREAM_MIN_ATTR_BYTES	5
/*
 * Stanzas parsed and not yet taken.  A 64 kB read holds up to 16,384
 * stanzas as small as <a/>, and each tree starts with an 8 kB arena:
 * without a bound one read could cost 128 MB before the first is handled.
 */
#define XML_STREAM_MAX_QUEUE		64

struct xml_stream_limits {
	size_t		stanza_bytes;
	unsigned int	depth;
	unsigned int	attrs;		/* 0: stanza_bytes / MIN_ATTR_BYTES */
	size_t		attr_len;	/* 0: stanza_bytes */
	size_t		text_len;	/* 0: stanza_bytes */
	unsigned int	queue;
};

/* RFC 6120 §4.9.3 conditions this parser can detect. */
enum xml_stream_cond {
	XML_STREAM_COND_NONE = 0,
	XML_STREAM_COND_BAD_FORMAT,
	XML_STREAM_COND_INVALID_NAMESPACE,
	XML_STREAM_COND_NOT_WELL_FORMED,
	XML_STREAM_COND_POLICY_VIOLATION,
	XML_STREAM_COND_RESTRICTED_XML,
	XML_STREAM_COND_UNSUPPORTED_ENCODING,
};

/* Attributes of the peer's <stream:stream>; NULL when absent. */
struct xml_stream_header {
	const char	*id;
	const char	*from;
	const char	*to;
	const char	*version;
	const char	*lang;		/* xml:lang */
	const char	*content_ns;	/* the default namespace declared */
};

/* What xml_stream_next() hands back, in stream order. */
enum xml_stream_ev {
	XML_STREAM_EV_NONE = 0,		/* nothing more until the next feed */
	XML_STREAM_EV_OPEN,		/* the peer's header */
	XML_STREAM_EV_STANZA,		/* a complete top-level stanza */
	XML_STREAM_EV_CLOSE,		/* </stream:stream> */
	XML_STREAM_EV_ERROR,		/* the stream failed: cond, text */
};

struct xml_stream_event {
	enum xml_stream_ev		 type;
	/* OPEN: valid until the stream is reset or freed. */
	const struct xml_stream_header	*header;
	/* STANZA: the caller's now; free it with xml_node_free(). */
	struct xml_node			*stanza;
	/* ERROR: text is valid until the stream is reset or freed. */
	enum xml_stream_cond		 cond;
	const char			*text;
};

struct xml_stream;

void		 xml_stream_limits_default(struct xml_stream_limits *);
struct xml_stream *xml_stream_new(const char *content_ns,
		    const struct xml_stream_limits *);
/*
 * Parses len bytes and queues the events they complete.  It stops taking
 * input once the queue is full: *used_r tells how much it took, and the
 * caller feeds the rest after draining the queue with xml_stream_next().  Bytes after
 * the stream's close or error are taken and dropped.  Returns -1 once the
 * stream has failed (its error event is queued after the stanzas that
 * came before it), 0 otherwise.
 */
int		 xml_stream_feed(struct xml_stream *, const void *, size_t,
		    size_t *used_r);
/*
 * The next event, XML_STREAM_EV_NONE when the input fed so far holds no
 * more.  The error event comes once; the stream then takes no input until
 * reset.  Reset and free drop whatever is still queued.
 */
enum xml_stream_ev xml_stream_next(struct xml_stream *,
		    struct xml_stream_event *);
void		 xml_stream_reset(struct xml_stream *);
void		 xml_stream_free(struct xml_stream **);
enum xml_stream_cond xml_stream_error(const struct xml_stream *,
		    const char **text_r);
const char	*xml_stream_cond_name(enum xml_stream_cond);

#endif
