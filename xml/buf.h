/*
 * A growable byte buffer the serializer writes into; the core copies the
 * bytes into an evbuffer.  Escaping follows XML 1.0 §2.4 (character data)
 * and §3.1 (attribute values).
 */
#ifndef XP_XML_BUF_H
#define XP_XML_BUF_H

#include <stddef.h>

struct xml_buf {
	char	*data;		/* not NUL-terminated unless xml_buf_cstr() */
	size_t	 len;
	size_t	 cap;
};

#define XML_BUF_INIT	{ NULL, 0, 0 }

void	 xml_buf_init(struct xml_buf *);
void	 xml_buf_free(struct xml_buf *);
void	 xml_buf_reset(struct xml_buf *);
void	 xml_buf_reserve(struct xml_buf *, size_t);
void	 xml_buf_append(struct xml_buf *, const void *, size_t);
void	 xml_buf_append_str(struct xml_buf *, const char *);
void	 xml_buf_append_char(struct xml_buf *, char);
/* Escape & < > (and CR) in character data. */
void	 xml_buf_append_text(struct xml_buf *, const char *, size_t);
/* Escape & < > " ' (and CR, LF, TAB) in an attribute value. */
void	 xml_buf_append_attr(struct xml_buf *, const char *, size_t);
const char *xml_buf_cstr(struct xml_buf *);
/* Hands the bytes (NUL-terminated) to the caller, who free(3)s them. */
char	*xml_buf_steal(struct xml_buf *, size_t *len_r);

#endif
