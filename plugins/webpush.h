/*
 * webpush.so internals: the subscription a browser hands us, RFC 8291
 * message encryption and RFC 8292 VAPID (webpush_crypto.c).  Nothing here
 * is exported from the module (plugins/local.mk); the RFC 8291 unit test
 * and xpushd-vapid link webpush_crypto.c directly.
 */
#ifndef XP_WEBPUSH_H
#define XP_WEBPUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "plugins/lib/pu.h"

struct evp_pkey_st;

#define WP_POINT_LEN	65	/* uncompressed P-256 point, 0x04 || X || Y */
#define WP_AUTH_LEN	16	/* RFC 8291 section 3.2: the auth secret */
#define WP_SALT_LEN	16	/* RFC 8188 section 2.1 */
#define WP_HEADER_LEN	(WP_SALT_LEN + 4 + 1 + WP_POINT_LEN)
#define WP_TAG_LEN	16	/* AEAD_AES_128_GCM */
/*
 * RFC 8030 section 7.2: a push service must accept 4096 octets of
 * payload; RFC 8291 section 4: one record, so the header, the padding
 * delimiter and the tag come out of it.
 */
#define WP_BODY_MAX	4096
#define WP_PLAIN_MAX	(WP_BODY_MAX - WP_HEADER_LEN - 1 - WP_TAG_LEN)
#define WP_RECORD_SIZE	4096	/* rs, as in RFC 8291 Appendix A */
#define WP_SUB_MAX	2048	/* bytes of a subscription's JSON */
#define WP_ENDPOINT_MAX	1024	/* bytes of its endpoint URL */

/* A PushSubscription (W3C Push API, toJSON()). */
struct wp_sub {
	char		*endpoint;	/* https://... */
	char		*origin;	/* https://host[:port]: the JWT's aud */
	unsigned char	 p256dh[WP_POINT_LEN];
	unsigned char	 auth[WP_AUTH_LEN];
};

/*
 * Parses and checks a subscription's JSON: an https endpoint, p256dh 65
 * bytes (with check_point: an uncompressed point on P-256, which costs a
 * curve's set-up; a stored token was checked when it was registered, and
 * the encryption refuses a point off the curve anyway), auth 16 bytes, at
 * most WP_SUB_MAX bytes.  -1 with *error_r (a sentence, malloc'd).
 */
int	 wp_sub_parse(const char *json, bool check_point, struct wp_sub *,
	    char **error_r);
void	 wp_sub_free(struct wp_sub *);
/* The origin (RFC 6454) of an https URL, malloc'd; NULL with *error_r. */
char	*wp_origin(const char *url, char **error_r);

/*
 * RFC 8291 section 4 (RFC 8188 aes128gcm): plain (len bytes, at most
 * WP_PLAIN_MAX) padded with zeros to pad_to bytes (when longer than len),
 * encrypted in one record for the subscriber's ua_public and auth secret,
 * into out (header || record).  eph and salt are the sender's ephemeral
 * key and the salt; NULL for fresh ones (the tests pass the RFC's).  -1
 * with *error_r.
 */
int	 wp_encrypt(const unsigned char ua_public[WP_POINT_LEN],
	    const unsigned char auth[WP_AUTH_LEN], const void *plain,
	    size_t len, size_t pad_to, struct evp_pkey_st *eph,
	    const unsigned char *salt, struct pu_buf *out, char **error_r);

/* A P-256 key from its raw private scalar (32 bytes); NULL on error. */
struct evp_pkey_st *wp_key_from_private(const unsigned char *d, size_t len);
/* The uncompressed public point of a P-256 key; -1 on error. */
int	 wp_key_public(struct evp_pkey_st *, unsigned char out[WP_POINT_LEN]);

/* The VAPID key pair (RFC 8292 section 3.2). */
struct wp_vapid {
	struct evp_pkey_st *key;
	char		*public_b64;	/* k=, and the applicationServerKey */
};

/* From a PEM file holding a P-256 private key.  -1 with *error_r. */
int	 wp_vapid_load(const char *path, struct wp_vapid *, char **error_r);
void	 wp_vapid_free(struct wp_vapid *);
/*
 * RFC 8292 section 2: an ES256 JWT with aud, exp and sub; NULL with
 * *error_r.
 */
char	*wp_vapid_jwt(const struct wp_vapid *, const char *aud, time_t exp,
	    const char *sub, char **error_r);

#endif
