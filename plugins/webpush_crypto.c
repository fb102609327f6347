/*
 * Web Push message encryption (RFC 8291) and VAPID (RFC 8292), with
 * OpenSSL (EVP for keys, ECDH, signatures and AES-GCM; HMAC for HKDF).
 *
 * Encryption, RFC 8291 section 3.4 with RFC 8188's aes128gcm:
 *	ecdh_secret = ECDH(as_private, ua_public)		(P-256)
 *	PRK_key = HKDF-Extract(auth_secret, ecdh_secret)
 *	key_info = "WebPush: info" || 0x00 || ua_public || as_public
 *	IKM = HKDF-Expand(PRK_key, key_info, 32)
 *	PRK = HKDF-Extract(salt, IKM)
 *	CEK = HKDF-Expand(PRK, "Content-Encoding: aes128gcm" || 0x00, 16)
 *	NONCE = HKDF-Expand(PRK, "Content-Encoding: nonce" || 0x00, 12)
 * The body is the RFC 8188 section 2.1 header (salt, rs, idlen = 65,
 * keyid = as_public) and one record: AES-128-GCM of plaintext || 0x02
 * (the last record's delimiter, RFC 8188 section 2) || zero padding.  The
 * sequence number of the only record is 0, so the nonce is NONCE itself
 * (RFC 8188 section 2.3).  as_private is a fresh key for every message
 * (RFC 8291 section 3.1), which makes the ECDH the main cost of a push.
 *
 * VAPID, RFC 8292 section 2: a JWT signed ES256 (RFC 7518 section 3.4)
 * with aud (the push resource's origin), exp (at most 24 hours ahead)
 * and sub (a mailto: or https: contact); section 3.2: k is the public
 * key, an uncompressed point, base64url.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "plugins/webpush.h"

#define WP_GROUP	"prime256v1"
#define WP_SECRET_LEN	32	/* ECDH P-256 and SHA-256 output */
#define WP_CEK_LEN	16
#define WP_NONCE_LEN	12
#define WP_KEY_INFO	"WebPush: info"
#define WP_CEK_INFO	"Content-Encoding: aes128gcm"
#define WP_NONCE_INFO	"Content-Encoding: nonce"

/* Subscriptions. */

void
wp_sub_free(struct wp_sub *s)
{
	free(s->endpoint);
	free(s->origin);
	memset(s, 0, sizeof(*s));
}

char *
wp_origin(const char *url, char **error_r)
{
	const char *a = url + 8, *e;
	char *origin, *p;
	size_t n;

	if (strncasecmp(url, "https://", 8) != 0) {
		*error_r = pu_strdup("the endpoint is not an https:// URL");
		return NULL;
	}
	e = a + strcspn(a, "/?#");
	n = (size_t)(e - a);
	if (n == 0 || memchr(a, '@', n) != NULL) {
		*error_r = pu_strdup("the endpoint URL has no host (or has "
		    "user information)");
		return NULL;
	}
	/* RFC 6454 section 6.1: the default port left out, the host in
	   lower case. */
	if (n > 4 && memcmp(e - 4, ":443", 4) == 0)
		n -= 4;
	origin = pu_asprintf("https://%.*s", (int)n, a);
	for (p = origin + 8; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return origin;
}

/* A base64url member of exactly want bytes into out. */
static int
wp_sub_key(json_object *keys, const char *name, unsigned char *out,
    size_t want, char **error_r)
{
	json_object *v;
	unsigned char *raw;
	size_t len;
	const char *s;

	if (!json_object_object_get_ex(keys, name, &v) ||
	    !json_object_is_type(v, json_type_string)) {
		*error_r = pu_asprintf("the subscription has no keys.%s", name);
		return -1;
	}
	s = json_object_get_string(v);
	if (pu_b64url_decode(s, strlen(s), &raw, &len) == -1) {
		*error_r = pu_asprintf("keys.%s is not base64url", name);
		return -1;
	}
	if (len != want) {
		free(raw);
		*error_r = pu_asprintf("keys.%s has %zu bytes, not %zu", name,
		    len, want);
		return -1;
	}
	memcpy(out, raw, want);
	free(raw);
	return 0;
}

/*
 * Whether point is an uncompressed point on P-256: decoding it checks that
 * it lies on the curve (P-256's cofactor is 1, so that is all there is).
 */
static bool
wp_point_ok(const unsigned char *point)
{
	EC_GROUP *group;
	EC_POINT *pt = NULL;
	bool ok;

	if (point[0] != 0x04 ||
	    (group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1)) == NULL)
		return false;
	ok = (pt = EC_POINT_new(group)) != NULL &&
	    EC_POINT_oct2point(group, pt, point, WP_POINT_LEN, NULL) == 1;
	EC_POINT_free(pt);
	EC_GROUP_free(group);
	return ok;
}

int
wp_sub_parse(const char *json, bool check_point, struct wp_sub *s,
    char **error_r)
{
	json_object *root = NULL, *v, *keys;
	const char *ep;
	int rc = -1;

	memset(s, 0, sizeof(*s));
	if (strlen(json) > WP_SUB_MAX) {
		*error_r = pu_asprintf("a Web Push subscription is at most %d "
		    "bytes of JSON", WP_SUB_MAX);
		return -1;
	}
	root = json_tokener_parse(json);
	if (root == NULL || !json_object_is_type(root, json_type_object)) {
		*error_r = pu_strdup("a Web Push device token is the "
		    "subscription's JSON (PushSubscription.toJSON()): "
		    "{\"endpoint\":...,\"keys\":{\"p256dh\":...,\"auth\":...}}");
		goto done;
	}
	if (!json_object_object_get_ex(root, "endpoint", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		*error_r = pu_strdup("the subscription has no endpoint");
		goto done;
	}
	ep = json_object_get_string(v);
	if (strlen(ep) > WP_ENDPOINT_MAX) {
		*error_r = pu_asprintf("the endpoint URL is longer than %d "
		    "bytes", WP_ENDPOINT_MAX);
		goto done;
	}
	if (strpbrk(ep, " \t\r\n") != NULL) {
		*error_r = pu_strdup("the endpoint URL holds white space");
		goto done;
	}
	if ((s->origin = wp_origin(ep, error_r)) == NULL)
		goto done;
	if (!json_object_object_get_ex(root, "keys", &keys) ||
	    !json_object_is_type(keys, json_type_object)) {
		*error_r = pu_strdup("the subscription has no keys (p256dh "
		    "and auth)");
		goto done;
	}
	if (wp_sub_key(keys, "p256dh", s->p256dh, WP_POINT_LEN,
	    error_r) == -1 ||
	    wp_sub_key(keys, "auth", s->auth, WP_AUTH_LEN, error_r) == -1)
		goto done;
	if (check_point && !wp_point_ok(s->p256dh)) {
		ERR_clear_error();
		*error_r = pu_strdup("keys.p256dh is not an uncompressed "
		    "point on P-256");
		goto done;
	}
	s->endpoint = pu_strdup(ep);
	rc = 0;
done:
	json_object_put(root);
	if (rc == -1)
		wp_sub_free(s);
	return rc;
}

/* Keys. */

EVP_PKEY *
wp_key_from_private(const unsigned char *d, size_t len)
{
	OSSL_PARAM_BLD *bld;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	EC_GROUP *group = NULL;
	EC_POINT *pub = NULL;
	BIGNUM *priv = NULL;
	unsigned char point[WP_POINT_LEN];

	/* The public point is d x G: fromdata does not compute it. */
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    (priv = BN_bin2bn(d, (int)len, NULL)) == NULL ||
	    (group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1)) ==
	    NULL || (pub = EC_POINT_new(group)) == NULL ||
	    EC_POINT_mul(group, pub, priv, NULL, NULL, NULL) != 1 ||
	    EC_POINT_point2oct(group, pub, POINT_CONVERSION_UNCOMPRESSED,
	    point, sizeof(point), NULL) != sizeof(point) ||
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
	    WP_GROUP, 0) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
	    point, sizeof(point)) != 1 ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_KEYPAIR, params) != 1)
		pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EC_POINT_free(pub);
	EC_GROUP_free(group);
	BN_clear_free(priv);
	return pkey;
}

int
wp_key_public(EVP_PKEY *k, unsigned char out[WP_POINT_LEN])
{
	size_t len = 0;

	if (EVP_PKEY_get_octet_string_param(k,
	    OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, out, WP_POINT_LEN, &len) != 1 ||
	    len != WP_POINT_LEN || out[0] != 0x04)
		return -1;
	return 0;
}

/* Encryption. */

/*
 * HKDF (RFC 5869) with SHA-256, as its two steps: Extract (section 2.2)
 * is HMAC(salt, IKM); Expand (section 2.3) of at most one hash length is
 * the first block, HMAC(PRK, info || 0x01).  HMAC() rather than an HKDF
 * EVP_PKEY_CTX: four contexts per push cost more than the HMACs.
 */
static int
wp_hkdf_extract(const unsigned char *salt, size_t saltlen,
    const unsigned char *ikm, size_t ikmlen, unsigned char *prk)
{
	unsigned int len = 0;

	return HMAC(EVP_sha256(), salt, (int)saltlen, ikm, ikmlen, prk,
	    &len) != NULL && len == WP_SECRET_LEN ? 0 : -1;
}

static int
wp_hkdf_expand(const unsigned char *prk, const void *info, size_t infolen,
    unsigned char *out, size_t outlen)
{
	unsigned char in[sizeof(WP_KEY_INFO) + 2 * WP_POINT_LEN + 1];
	unsigned char t[WP_SECRET_LEN];
	unsigned int len = 0;

	if (infolen + 1 > sizeof(in) || outlen > sizeof(t))
		return -1;
	memcpy(in, info, infolen);
	in[infolen] = 0x01;
	if (HMAC(EVP_sha256(), prk, WP_SECRET_LEN, in, infolen + 1, t,
	    &len) == NULL || len != WP_SECRET_LEN)
		return -1;
	memcpy(out, t, outlen);
	OPENSSL_cleanse(t, sizeof(t));
	return 0;
}

/*
 * ECDH of our key and the subscriber's point (32 bytes).  The peer key
 * takes its group from ours; setting the point checks it is on the curve,
 * so the derive does not validate it again (in OpenSSL 3 that check is
 * a second scalar multiplication, as costly as the ECDH).
 */
static int
wp_ecdh(EVP_PKEY *ours, const unsigned char *point, unsigned char *secret)
{
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *peer;
	size_t len = WP_SECRET_LEN;
	int ok = 0;

	if ((peer = EVP_PKEY_new()) == NULL)
		return -1;
	if (EVP_PKEY_copy_parameters(peer, ours) == 1 &&
	    EVP_PKEY_set1_encoded_public_key(peer, point, WP_POINT_LEN) == 1 &&
	    (ctx = EVP_PKEY_CTX_new(ours, NULL)) != NULL)
		ok = EVP_PKEY_derive_init(ctx) == 1 &&
		    EVP_PKEY_derive_set_peer_ex(ctx, peer, 0) == 1 &&
		    EVP_PKEY_derive(ctx, secret, &len) == 1 &&
		    len == WP_SECRET_LEN;
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(peer);
	return ok ? 0 : -1;
}

/* CEK and NONCE of RFC 8291 section 3.4. */
static int
wp_keys(EVP_PKEY *eph, const unsigned char *as_public,
    const unsigned char *ua_public, const unsigned char *auth,
    const unsigned char *salt, unsigned char *cek, unsigned char *nonce)
{
	unsigned char secret[WP_SECRET_LEN], prk_key[WP_SECRET_LEN];
	unsigned char ikm[WP_SECRET_LEN], prk[WP_SECRET_LEN];
	unsigned char info[sizeof(WP_KEY_INFO) + 2 * WP_POINT_LEN];
	int rc = -1;

	memcpy(info, WP_KEY_INFO, sizeof(WP_KEY_INFO));	/* with its NUL */
	memcpy(info + sizeof(WP_KEY_INFO), ua_public, WP_POINT_LEN);
	memcpy(info + sizeof(WP_KEY_INFO) + WP_POINT_LEN, as_public,
	    WP_POINT_LEN);
	if (wp_ecdh(eph, ua_public, secret) == 0 &&
	    wp_hkdf_extract(auth, WP_AUTH_LEN, secret, sizeof(secret),
	    prk_key) == 0 &&
	    wp_hkdf_expand(prk_key, info, sizeof(info), ikm, sizeof(ikm)) == 0 &&
	    wp_hkdf_extract(salt, WP_SALT_LEN, ikm, sizeof(ikm), prk) == 0 &&
	    wp_hkdf_expand(prk, WP_CEK_INFO, sizeof(WP_CEK_INFO), cek,
	    WP_CEK_LEN) == 0 &&
	    wp_hkdf_expand(prk, WP_NONCE_INFO, sizeof(WP_NONCE_INFO), nonce,
	    WP_NONCE_LEN) == 0)
		rc = 0;
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(prk_key, sizeof(prk_key));
	OPENSSL_cleanse(ikm, sizeof(ikm));
	OPENSSL_cleanse(prk, sizeof(prk));
	return rc;
}

/* AES-128-GCM of in (len bytes) to out, the tag after it. */
static int
wp_seal(const unsigned char *cek, const unsigned char *nonce,
    const unsigned char *in, size_t len, unsigned char *out)
{
	EVP_CIPHER_CTX *c;
	int n = 0, m = 0, ok;

	if ((c = EVP_CIPHER_CTX_new()) == NULL)
		return -1;
	ok = EVP_EncryptInit_ex(c, EVP_aes_128_gcm(), NULL, cek, nonce) == 1 &&
	    EVP_EncryptUpdate(c, out, &n, in, (int)len) == 1 &&
	    EVP_EncryptFinal_ex(c, out + n, &m) == 1 &&
	    (size_t)(n + m) == len &&
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, WP_TAG_LEN,
	    out + len) == 1;
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : -1;
}

int
wp_encrypt(const unsigned char ua_public[WP_POINT_LEN],
    const unsigned char auth[WP_AUTH_LEN], const void *plain, size_t len,
    size_t pad_to, EVP_PKEY *eph, const unsigned char *salt_in,
    struct pu_buf *out, char **error_r)
{
	unsigned char salt[WP_SALT_LEN], as_public[WP_POINT_LEN];
	unsigned char cek[WP_CEK_LEN], nonce[WP_NONCE_LEN], *rec, *dst;
	EVP_PKEY *key = eph;
	size_t padded, reclen;
	char buf[160];
	int rc = -1;

	if (len > WP_PLAIN_MAX) {
		*error_r = pu_asprintf("the notification has %zu bytes, more "
		    "than the %d one Web Push record holds", len,
		    WP_PLAIN_MAX);
		return -1;
	}
	padded = pad_to > len ? pad_to : len;
	if (padded > WP_PLAIN_MAX)
		padded = WP_PLAIN_MAX;
	reclen = padded + 1 + WP_TAG_LEN;
	if (salt_in != NULL)
		memcpy(salt, salt_in, sizeof(salt));
	else if (RAND_bytes(salt, sizeof(salt)) != 1)
		goto fail;
	if (key == NULL && (key = EVP_PKEY_Q_keygen(NULL, NULL, "EC",
	    WP_GROUP)) == NULL)
		goto fail;
	if (wp_key_public(key, as_public) == -1 ||
	    wp_keys(key, as_public, ua_public, auth, salt, cek, nonce) == -1)
		goto fail;

	/* Header, RFC 8188 section 2.1. */
	pu_buf_add(out, salt, sizeof(salt));
	pu_buf_add(out, (unsigned char[]){ WP_RECORD_SIZE >> 24,
	    (WP_RECORD_SIZE >> 16) & 0xff, (WP_RECORD_SIZE >> 8) & 0xff,
	    WP_RECORD_SIZE & 0xff, WP_POINT_LEN }, 5);
	pu_buf_add(out, as_public, sizeof(as_public));
	/* The record: plaintext, delimiter, padding; sealed in place. */
	rec = pu_calloc(1, padded + 1);
	memcpy(rec, plain, len);
	rec[len] = 0x02;
	if ((dst = (unsigned char *)pu_buf_reserve(out, reclen)) == NULL ||
	    wp_seal(cek, nonce, rec, padded + 1, dst) == -1) {
		free(rec);
		goto fail;
	}
	out->len += reclen;
	out->data[out->len] = '\0';
	OPENSSL_cleanse(rec, padded + 1);
	free(rec);
	rc = 0;
	goto done;
fail:
	pu_ssl_error(buf, sizeof(buf), "out of room");
	*error_r = pu_asprintf("Web Push encryption failed: %s", buf);
done:
	OPENSSL_cleanse(cek, sizeof(cek));
	OPENSSL_cleanse(nonce, sizeof(nonce));
	if (key != eph)
		EVP_PKEY_free(key);
	return rc;
}

/* VAPID. */

void
wp_vapid_free(struct wp_vapid *v)
{
	EVP_PKEY_free(v->key);
	free(v->public_b64);
	memset(v, 0, sizeof(*v));
}

int
wp_vapid_load(const char *path, struct wp_vapid *v, char **error_r)
{
	unsigned char point[WP_POINT_LEN];
	char name[64], buf[160];
	size_t nlen = 0;
	FILE *f;

	memset(v, 0, sizeof(*v));
	if ((f = fopen(path, "r")) == NULL) {
		*error_r = pu_asprintf("VAPID key %s: %s", path,
		    strerror(errno));
		return -1;
	}
	v->key = PEM_read_PrivateKey(f, NULL, NULL, (void *)"");
	fclose(f);
	if (v->key == NULL) {
		pu_ssl_error(buf, sizeof(buf), "no private key in it");
		*error_r = pu_asprintf("VAPID key %s: not a PEM private key "
		    "(%s)", path, buf);
		return -1;
	}
	if (!EVP_PKEY_is_a(v->key, "EC") ||
	    EVP_PKEY_get_utf8_string_param(v->key, OSSL_PKEY_PARAM_GROUP_NAME,
	    name, sizeof(name), &nlen) != 1 || strcmp(name, WP_GROUP) != 0 ||
	    wp_key_public(v->key, point) == -1) {
		ERR_clear_error();
		*error_r = pu_asprintf("VAPID key %s: not a P-256 (prime256v1) "
		    "key, as RFC 8292 requires; make one with: openssl ecparam "
		    "-genkey -name prime256v1 -noout -out %s", path, path);
		wp_vapid_free(v);
		return -1;
	}
	v->public_b64 = pu_b64url(point, sizeof(point));
	return 0;
}

char *
wp_vapid_jwt(const struct wp_vapid *v, const char *aud, time_t exp,
    const char *sub, char **error_r)
{
	static const char hdr[] = "{\"typ\":\"JWT\",\"alg\":\"ES256\"}";
	struct pu_buf claims = { 0 };
	char *h64, *c64, *input, *sig, *out = NULL, buf[160];
	bool first = true;
	int n;
	char num[24];

	pu_buf_add(&claims, "{", 1);
	pu_json_key(&claims, &first, "aud");
	pu_json_str(&claims, aud, strlen(aud));
	pu_json_key(&claims, &first, "exp");
	n = snprintf(num, sizeof(num), "%lld", (long long)exp);
	pu_buf_add(&claims, num, (size_t)n);
	pu_json_key(&claims, &first, "sub");
	pu_json_str(&claims, sub, strlen(sub));
	pu_buf_add(&claims, "}", 1);
	h64 = pu_b64url(hdr, sizeof(hdr) - 1);
	c64 = pu_b64url(claims.data, claims.len);
	input = pu_asprintf("%s.%s", h64, c64);
	if ((sig = pu_es256_sign(v->key, input, strlen(input))) != NULL)
		out = pu_asprintf("%s.%s", input, sig);
	else {
		pu_ssl_error(buf, sizeof(buf), "unknown error");
		*error_r = pu_asprintf("cannot sign the VAPID JWT: %s", buf);
	}
	free(sig);
	free(input);
	free(h64);
	free(c64);
	pu_buf_free(&claims);
	return out;
}
