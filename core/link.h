/*
 * The XEP-0114 component connection to the XMPP server.
 */
#ifndef XP_LINK_H
#define XP_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <event2/event.h>

#include "core/options.h"
#include "xml/node.h"

enum link_state {
	LINK_IDLE,		/* not started, or stopped */
	LINK_CONNECTING,	/* TCP (and TLS) connect under way */
	LINK_STREAM_OPENING,	/* our header sent, waiting for the server's */
	LINK_HANDSHAKING,	/* handshake sent, waiting for <handshake/> */
	LINK_READY,		/* authenticated: stanzas flow */
	LINK_CLOSING,		/* our </stream:stream> sent, flushing */
	LINK_BACKOFF,		/* waiting to reconnect */
};

struct link_settings {
	char		*jid;
	char		*host;
	int		 port;
	char		*secret;
	bool		 tls;
	char		*ca_file;	/* NULL: the system's CAs */
	int		 keepalive;	/* seconds of silence before a ping */
	int		 read_timeout;	/* seconds to wait for the ping's answer */
	int		 connect_timeout;	/* seconds, up to <handshake/> */
	int		 backoff_max;	/* seconds */
	size_t		 send_queue_limit;	/* bytes: high-water mark */
	size_t		 max_stanza;	/* bytes */
	unsigned int	 max_depth;
};

/* Called for every stanza the server sends once the link is ready. */
typedef void link_stanza_fn(void *arg, struct xml_node *stanza);
/* Called on every state change, for health and statistics. */
typedef void link_state_fn(void *arg, enum link_state);

struct link;

void		 link_settings_from_conf(struct link_settings *,
		    const struct xp_conf *);
void		 link_settings_clear(struct link_settings *);

struct link	*link_new(struct event_base *, const struct link_settings *,
		    link_stanza_fn *, link_state_fn *, void *arg);
void		 link_start(struct link *);
/*
 * SIGHUP.  Settings the connection is not made with apply at once.  When
 * jid, host, port, secret, tls or ca-file changed and a stream is up,
 * returns true: the stream keeps its settings so that what is in flight
 * is answered on it; the caller drains, then calls link_restart(), and
 * the next connection is made with the new settings.  Without a stream
 * up it reconnects at once and returns false.
 */
bool		 link_reconfigure(struct link *, const struct link_settings *);
/* Close the stream with </stream:stream>, then reconnect at once. */
void		 link_restart(struct link *);
/*
 * Milliseconds to wait before a reconnect: wait_s plus up to a quarter of
 * jitter, never more than cap_s seconds in all.  rnd(n): uniform in [0,n).
 */
long		 link_backoff_ms(int wait_s, int cap_s,
		    uint32_t (*rnd)(uint32_t));
/* Close the stream cleanly once its output is flushed, then call done. */
void		 link_stop(struct link *, void (*done)(void *), void *arg);
void		 link_free(struct link **);

/*
 * Queue a stanza (serialized in the stream's default namespace).  Returns -1
 * when the link is not ready: the server bounces or times out what it sent.
 */
int		 link_send(struct link *, const struct xml_node *);
/* Serialised stanza bytes, in the stream's default namespace. */
int		 link_send_raw(struct link *, const char *, size_t);
bool		 link_ready(const struct link *);
/* True above the send queue's high-water mark: producers should hold off. */
bool		 link_congested(const struct link *);
size_t		 link_queued(const struct link *);
enum link_state	 link_state(const struct link *);
const char	*link_state_name(enum link_state);
const char	*link_jid(const struct link *);

/* The SHA-1 handshake of XEP-0114 §3: lowercase hex into out[41]. */
void		 link_handshake_digest(const char *stream_id,
		    const char *secret, char out[41]);

#endif
