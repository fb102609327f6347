/*
 * Helpers shared by the xml/ unit tests: fixtures and a stream collector.
 */
#ifndef XP_TEST_XML_COMMON_H
#define XP_TEST_XML_COMMON_H

#include <stddef.h>

#include "xml/buf.h"
#include "xml/node.h"
#include "xml/stream.h"

#define TEST_STREAM_HEAD \
	"<stream:stream xmlns:stream='http://etherx.jabber.org/streams' " \
	"xmlns='jabber:component:accept' from='localhost' id='s1'>"
#define TEST_STREAM_TAIL	"</stream:stream>"

/* What a parse produced. */
struct collect {
	int			 opens;
	int			 closes;
	int			 errors;
	enum xml_stream_cond	 cond;
	char			 errtext[200];
	struct xml_node		**stanzas;
	size_t			 nstanzas;
	struct xml_buf		 out;	/* every stanza, serialized */
	char			 id[64];	/* header id */
	char			 lang[16];	/* header xml:lang */
};

char	*fixture_read(const char *relpath, size_t *len_r);
char	*fixture_stanza(const char *relpath, size_t *len_r);
char	*fixture_wrap(const char *stanza, size_t len, size_t *len_r);
char   **fixture_list(const char *reldir, size_t *n_r);
void	 fixture_list_free(char **, size_t);

void	 collect_init(struct collect *);
void	 collect_free(struct collect *);
/* Takes every event the stream has queued. */
void	 collect_events(struct collect *, struct xml_stream *);
/* Feeds all of len bytes, taking the events as the queue fills. */
int	 collect_feed(struct collect *, struct xml_stream *, const char *,
	    size_t);
/* Parse len bytes fed chunk bytes at a time (0: all at once). */
void	 collect_parse(struct collect *, const struct xml_stream_limits *,
	    const char *data, size_t len, size_t chunk);

#endif
