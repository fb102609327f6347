/*
 * The xpushd provider module contract (see xpushd-provider(7)).
 *
 * A provider module is a shared object (fcm.so, apns.so, ...) that exports
 * one const symbol, `xpushd_provider`, of type struct xp_provider.  xpushd
 * loads it with libltdl, checks `abi` against XP_PROVIDER_ABI before
 * touching anything else, validates the provider block of the
 * configuration against `options`, then calls create() once per provider
 * block that uses the module.
 *
 * Everything runs on xpushd's one libevent loop: send() must not block and
 * reports through its callback, exactly once per successful send() call.
 * A module may answer from inside send() (a push it refuses without a
 * round trip): xpushd then holds the answer and delivers it to the core
 * from the loop, so modules need no deferral of their own.
 *
 * Log lines a module writes through host->log are prefixed by xpushd with
 * the provider block's id: a module does not add it again.
 *
 * Install: $(includedir)/xpushd/provider.h; build out of tree with
 *	cc -shared -fPIC -I$(includedir) -o myprov.so myprov.c
 */
#ifndef XPUSHD_PROVIDER_H
#define XPUSHD_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Raised whenever a structure below changes.  2: struct xp_host gained
 * cert_unwatch, struct xp_provider gained caps, and answers from inside
 * send() became allowed.  3: struct xp_push gained profile (the payload
 * layout of the dialect the device registered in) and the relay fields
 * (Push 2.0).
 */
#define XP_PROVIDER_ABI		3

/* Capabilities a module declares in struct xp_provider's caps. */
#define XP_CAP_APNS_CERT	0x1u	/* takes an APNs certificate from
					   set-apns-certificate and the
					   certificates table */

struct event_base;

enum xp_prio {
	XP_PRIO_LOW,		/* background wake-up */
	XP_PRIO_HIGH,		/* user-visible: a message to show */
};

enum xp_kind {
	XP_KIND_WAKEUP,		/* no message: a keep-alive or other stanza */
	XP_KIND_MESSAGE,	/* a chat message (maybe with a body) */
	XP_KIND_GROUPCHAT,	/* a groupchat message (nickname set) */
	XP_KIND_CALL,		/* a Jingle call proposal */
	XP_KIND_SUBSCRIPTION,	/* a presence subscription request */
	XP_KIND_ACCOUNT_EVENT,	/* the account was removed */
};

/*
 * The payload layout the device's app reads: the dialect (command set) it
 * registered in.  The module formats each profile it knows; a push with a
 * profile the module does not format is answered XP_PERMANENT.
 */
enum xp_profile {
	XP_PROFILE_TIGASE,	/* Tigase Push: Siskin, Stork, Snikket ... */
	XP_PROFILE_P2,		/* Conversations and its forks (p2) */
	XP_PROFILE_FPUSH,	/* Monal and Quicksy iOS (fpush) */
};

/* A provider-neutral notification; strings are NULL when absent. */
struct xp_push {
	enum xp_profile	 profile;
	const char	*account;	/* owner bare JID */
	const char	*node;
	const char	*token;		/* the device token to push to */
	bool		 voip;		/* token is the PushKit/VoIP token */
	enum xp_prio	 prio;
	enum xp_kind	 kind;
	const char	*sender;	/* bare JID of the sender */
	const char	*body;		/* message body or placeholder */
	const char	*nickname;	/* groupchat nickname */
	long		 unread;	/* message count, -1 if unknown */
	long		 pending_subscriptions;	/* -1 if unknown */
	const char	*encrypted;	/* tigase:push:encrypt:0, as received */
	const char	*iv;
	const char	*encryption;	/* its type attribute, e.g. aes-128-gcm */
	const char	*jingle_sid;	/* call id, for XP_KIND_CALL */
	const char	*jingle_media;	/* "audio", "video" or NULL */
	/*
	 * A relayed payload (Push 2.0, urn:xmpp:push2:0): bytes the user's
	 * server already encrypted for the client (RFC 8291 aes128gcm), to
	 * be delivered as they are; NULL for an ordinary notification.
	 * relay_jwt and relay_key: the VAPID JWT the server signed and its
	 * public key, for a Web Push endpoint (RFC 8292); NULL if absent.
	 * The key is base64url (k= as RFC 8292 section 3.2 writes it).
	 */
	const unsigned char *relay;
	size_t		 relay_len;
	const char	*relay_jwt;
	const char	*relay_key;
};

enum xp_outcome {
	XP_SENT,		/* accepted by the provider */
	XP_INVALID_TOKEN,	/* the token is dead: delete the registration */
	XP_RATE_LIMITED,	/* retry_after seconds (0: unknown) */
	XP_TEMPORARY,		/* provider down, timeout, 5xx: try later */
	XP_PERMANENT,		/* this push can never succeed (too big ...) */
	XP_AUTH_FAILED,		/* credentials or configuration are wrong */
};

typedef void xp_sent_cb(void *arg, enum xp_outcome, unsigned int retry_after,
    const char *reason);

/* Options of a provider block, checked by xpushd before create(). */
enum xp_opt_type {
	XP_OPT_STRING,
	XP_OPT_INTEGER,
	XP_OPT_BOOLEAN,
	XP_OPT_STRLIST,
};

struct xp_option {
	const char	*key;		/* NULL ends the table */
	enum xp_opt_type type;
	const char	*def;		/* default as the file would write it;
					   NULL: required */
	long long	 min, max;	/* XP_OPT_INTEGER */
	const char	*help;
};

/* A certificate as stored by set-apns-certificate or psql. */
struct xp_cert {
	const unsigned char *pkcs12;	/* NULL when PEM is used */
	size_t		 pkcs12_len;
	const char	*password;
	const char	*cert_pem;
	const char	*key_pem;
};

enum xp_log_level {
	XP_LOG_DEBUG,
	XP_LOG_INFO,
	XP_LOG_WARN,
};

/* What xpushd offers a module.  ctx is opaque: pass it back. */
struct xp_host {
	unsigned int	 abi;
	struct event_base *base;
	void		*ctx;

	void	(*log)(const struct xp_host *, enum xp_log_level,
		    const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));

	/* The block's options (validated; defaults applied). */
	const char *(*opt_str)(const struct xp_host *, const void *block,
		    const char *key);
	long long (*opt_int)(const struct xp_host *, const void *block,
		    const char *key);
	bool	(*opt_bool)(const struct xp_host *, const void *block,
		    const char *key);
	size_t	(*opt_list)(const struct xp_host *, const void *block,
		    const char *key, const char *const **items_r);

	/*
	 * The certificate stored for a provider id, asynchronously: status 0
	 * with the certificate, 1 when none is stored, -1 when the database
	 * cannot be reached now.  cert_watch calls changed() whenever the
	 * stored certificate of that id (or, with id NULL, any) changes.
	 */
	void	(*cert_get)(const struct xp_host *, const char *id,
		    void (*cb)(void *arg, int status, const struct xp_cert *),
		    void *arg);
	void	(*cert_watch)(const struct xp_host *, const char *id,
		    void (*changed)(void *arg), void *arg);
	/* Ends a cert_watch registration (call it from destroy()). */
	void	(*cert_unwatch)(const struct xp_host *,
		    void (*changed)(void *arg), void *arg);
};

struct xp_provider {
	unsigned int	 abi;		/* XP_PROVIDER_ABI */
	const char	*name;		/* the module: "apns", "fcm" */
	const char	*description;
	const struct xp_option *options;
	/* Push extensions this provider supports (register-device result). */
	const char *const *features;
	size_t		 max_payload;	/* bytes the provider accepts */
	unsigned int	 caps;		/* XP_CAP_* */

	/*
	 * One instance per provider block.  block is opaque: read it with the
	 * host's opt_* functions.  Returns NULL with *error_r (malloc'd) set.
	 */
	void	*(*create)(const struct xp_host *, const void *block,
		    const char *id, char **error_r);
	/*
	 * Whether a device token is acceptable (register-device); NULL
	 * accepts anything printable.  Returns -1 with *error_r (malloc'd).
	 */
	int	 (*check_token)(void *self, const char *token, bool voip,
		    char **error_r);
	/*
	 * 0: cb will be called exactly once, later or from inside send();
	 * -1: refused at once (queue full), cb is never called.
	 */
	int	 (*send)(void *self, const struct xp_push *, xp_sent_cb *,
		    void *arg);
	/* Usable now?  0 yes; -1 no, with a static reason. */
	int	 (*status)(void *self, const char **why_r);
	/* Outstanding sends are answered XP_TEMPORARY before it returns. */
	void	 (*destroy)(void *self);
};

#endif
