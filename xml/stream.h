/*
 * Incremental XMPP stream parser (RFC 6120 §4, XEP-0114): feed it bytes in
 * any chunking, get the stream header, each complete top-level stanza as a
 * tree, the stream close, or one error naming the stream error condition to
 * send.  Restricted XML (RFC 6120 §11.1) is enforced and every input is
 * bounded by the limits below.
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
#define XML_STREAM_MAX_ATTRS		32	/* per element */
#define XML_STREAM_MAX_ATTR_LEN		8192	/* one value, bytes */
#define XML_STREAM_MAX_TEXT_LEN		65536	/* one text run, bytes */

struct xml_stream_limits {
	size_t		stanza_bytes;
	unsigned int	depth;
	unsigned int	attrs;
	size_t		attr_len;
	size_t		text_len;
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

/*
 * Callbacks, each optional.  The stanza callback receives a tree it owns:
 * free it with xml_node_free() whenever it is done, possibly much later.
 * The header is only valid during the open callback.  error is called at
 * most once per stream; the parser then refuses input until reset.
 * A callback may call xml_stream_reset() or xml_stream_free(): both take
 * effect when xml_stream_feed() returns, and the rest of that input is
 * dropped.  xml_stream_feed() called from a callback does nothing.
 */
struct xml_stream_cbs {
	void	(*open)(void *arg, const struct xml_stream_header *);
	void	(*stanza)(void *arg, struct xml_node *stanza);
	void	(*close)(void *arg);
	void	(*error)(void *arg, enum xml_stream_cond, const char *text);
};

struct xml_stream;

void		 xml_stream_limits_default(struct xml_stream_limits *);
struct xml_stream *xml_stream_new(const char *content_ns,
		    const struct xml_stream_limits *,
		    const struct xml_stream_cbs *, void *arg);
int		 xml_stream_feed(struct xml_stream *, const void *, size_t);
void		 xml_stream_reset(struct xml_stream *);
void		 xml_stream_free(struct xml_stream **);
enum xml_stream_cond xml_stream_error(const struct xml_stream *,
		    const char **text_r);
const char	*xml_stream_cond_name(enum xml_stream_cond);

#endif
