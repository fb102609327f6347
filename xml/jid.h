/*
 * Jabber identifiers (RFC 7622): parse, validate, normalise, compare.
 * See jid.c for what is simplified.
 */
#ifndef XP_XML_JID_H
#define XP_XML_JID_H

#include <stdbool.h>

#define JID_PART_MAX	1023	/* bytes, each of local, domain, resource */

struct jid;

struct jid	*jid_parse(const char *, const char **err_r);
void		 jid_free(struct jid **);
bool		 jid_valid(const char *);
const char	*jid_local(const struct jid *);		/* NULL if none */
const char	*jid_domain(const struct jid *);
const char	*jid_resource(const struct jid *);	/* NULL if none */
const char	*jid_bare(const struct jid *);		/* local@domain */
const char	*jid_full(const struct jid *);
bool		 jid_is_bare(const struct jid *);
int		 jid_compare(const struct jid *, const struct jid *);
bool		 jid_bare_equal(const struct jid *, const struct jid *);

#endif
