/*
 * webpush.so's encryption against RFC 8291's own example (Appendix A):
 * the application server's key pair and the salt are the RFC's, so the
 * whole body must come out byte for byte as the RFC prints it.  Then a
 * decryption the browser's way (with the user agent's private key from
 * the same appendix) of a message with a fresh key, salt and padding,
 * the subscription checks, and the VAPID JWT's shape and signature.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>

#include "plugins/webpush.h"
#include "test/lib/tap.h"

/* RFC 8291 Appendix A, as printed (base64url). */
#define A_PLAIN		"When I grow up, I want to be a watermelon"
#define A_AS_PRIVATE	"yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"
#define A_AS_PUBLIC	"BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vC" \
			"YLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8"
#define A_UA_PRIVATE	"q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"
#define A_UA_PUBLIC	"BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AY" \
			"WXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
#define A_SALT		"DGv6ra1nlYgDCS1FRnbzlw"
#define A_AUTH		"BTBZMqHH6r4Tts7J_aSIgg"
#define A_BODY		"DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSP" \
			"QTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK" \
			"6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuw" \
			"XPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"

static unsigned char *
dec(const char *s, size_t *len_r)
{
	unsigned char *out;
	size_t len;

	if (pu_b64url_decode(s, strlen(s), &out, &len) == -1)
		abort();
	if (len_r != NULL)
		*len_r = len;
	return out;
}

static int
hkdf(int mode, const unsigned char *salt, size_t saltlen,
    const unsigned char *key, size_t keylen, const void *info, size_t ilen,
    unsigned char *out, size_t outlen)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
	int ok = c != NULL && EVP_PKEY_derive_init(c) == 1 &&
	    EVP_PKEY_CTX_set_hkdf_mode(c, mode) == 1 &&
	    EVP_PKEY_CTX_set_hkdf_md(c, EVP_sha256()) == 1 &&
	    EVP_PKEY_CTX_set1_hkdf_key(c, key, (int)keylen) == 1 &&
	    (salt == NULL || EVP_PKEY_CTX_set1_hkdf_salt(c, salt,
	    (int)saltlen) == 1) &&
	    (info == NULL || EVP_PKEY_CTX_add1_hkdf_info(c, info,
	    (int)ilen) == 1) &&
	    EVP_PKEY_derive(c, out, &outlen) == 1;

	EVP_PKEY_CTX_free(c);
	return ok ? 0 : -1;
}

/*
 * The receiving side, written from RFC 8291 section 3.4 and RFC 8188
 * section 2 independently of webpush_crypto.c's code path: returns the
 * plaintext without delimiter and padding (malloc'd), NULL if anything
 * does not check out.
 */
static unsigned char *
browser_decrypt(const unsigned char *body, size_t len, EVP_PKEY *ua,
    const unsigned char *ua_pub, const unsigned char *auth, size_t *len_r)
{
	unsigned char secret[32], prk_key[32], ikm[32], prk[32], cek[16];
	unsigned char nonce[12], info[14 + 130], *plain, *peer_pt;
	EVP_PKEY_CTX *c;
	EVP_PKEY *peer = NULL;
	EVP_CIPHER_CTX *ac;
	OSSL_PARAM params[3];
	size_t slen = sizeof(secret), clen, n;
	int outl = 0, finl = 0, ok;

	if (len < WP_HEADER_LEN + 17 || body[20] != 65)
		return NULL;
	peer_pt = (unsigned char *)body + 21;
	params[0] = OSSL_PARAM_construct_utf8_string(
	    OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0);
	params[1] = OSSL_PARAM_construct_octet_string(
	    OSSL_PKEY_PARAM_PUB_KEY, peer_pt, 65);
	params[2] = OSSL_PARAM_construct_end();
	c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (EVP_PKEY_fromdata_init(c) != 1 ||
	    EVP_PKEY_fromdata(c, &peer, EVP_PKEY_PUBLIC_KEY, params) != 1)
		abort();
	EVP_PKEY_CTX_free(c);
	c = EVP_PKEY_CTX_new(ua, NULL);
	if (EVP_PKEY_derive_init(c) != 1 ||
	    EVP_PKEY_derive_set_peer(c, peer) != 1 ||
	    EVP_PKEY_derive(c, secret, &slen) != 1)
		abort();
	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(peer);
	memcpy(info, "WebPush: info", 14);
	memcpy(info + 14, ua_pub, 65);
	memcpy(info + 79, peer_pt, 65);
	if (hkdf(EVP_PKEY_HKDEF_MODE_EXTRACT_ONLY, auth, 16, secret, 32, NULL,
	    0, prk_key, 32) || hkdf(EVP_PKEY_HKDEF_MODE_EXPAND_ONLY, NULL, 0,
	    prk_key, 32, info, sizeof(info), ikm, 32) ||
	    hkdf(EVP_PKEY_HKDEF_MODE_EXTRACT_ONLY, body, 16, ikm, 32, NULL, 0,
	    prk, 32) || hkdf(EVP_PKEY_HKDEF_MODE_EXPAND_ONLY, NULL, 0, prk, 32,
	    "Content-Encoding: aes128gcm", 28, cek, 16) ||
	    hkdf(EVP_PKEY_HKDEF_MODE_EXPAND_ONLY, NULL, 0, prk, 32,
	    "Content-Encoding: nonce", 24, nonce, 12))
		abort();
	clen = len - WP_HEADER_LEN - 16;
	plain = malloc(clen + 1);
	ac = EVP_CIPHER_CTX_new();
	ok = EVP_DecryptInit_ex(ac, EVP_aes_128_gcm(), NULL, cek, nonce) ==
	    1 && EVP_DecryptUpdate(ac, plain, &outl, body + WP_HEADER_LEN,
	    (int)clen) == 1 && EVP_CIPHER_CTX_ctrl(ac, EVP_CTRL_GCM_SET_TAG,
	    16, (void *)(body + len - 16)) == 1 &&
	    EVP_DecryptFinal_ex(ac, plain + outl, &finl) == 1;
	EVP_CIPHER_CTX_free(ac);
	/* RFC 8188 section 2: strip zeros back to the 0x02 delimiter. */
	for (n = clen; ok && n > 0 && plain[n - 1] == 0; n--)
		;
	if (!ok || n == 0 || plain[n - 1] != 0x02) {
		free(plain);
		return NULL;
	}
	*len_r = n - 1;
	return plain;
}

static void
test_appendix_a(void)
{
	unsigned char *d, *ua_pub, *auth, *salt, *as_pub, pt[65];
	struct pu_buf out = { 0 };
	EVP_PKEY *as;
	char *err = NULL, *b64;
	size_t len;

	d = dec(A_AS_PRIVATE, &len);
	as = wp_key_from_private(d, len);
	ok(as != NULL, "the RFC's application server private key loads");
	as_pub = dec(A_AS_PUBLIC, NULL);
	ok(wp_key_public(as, pt) == 0 && memcmp(pt, as_pub, 65) == 0,
	    "its public point is the RFC's as_public");
	ua_pub = dec(A_UA_PUBLIC, NULL);
	auth = dec(A_AUTH, NULL);
	salt = dec(A_SALT, NULL);
	is_int(wp_encrypt(ua_pub, auth, A_PLAIN, strlen(A_PLAIN), 0, as, salt,
	    &out, &err), 0, "encrypts");
	is_int(out.len, 144, "the body is the RFC's 144 bytes");
	b64 = pu_b64url(out.data, out.len);
	is_str(b64, A_BODY, "byte for byte RFC 8291 Appendix A's body");
	free(b64);
	free(err);
	pu_buf_free(&out);
	EVP_PKEY_free(as);
	free(d);
	free(as_pub);
	free(ua_pub);
	free(auth);
	free(salt);
}

static void
test_roundtrip(void)
{
	unsigned char *d, *ua_pub, *auth, *plain;
	struct pu_buf out = { 0 }, out2 = { 0 };
	EVP_PKEY *ua;
	char *err = NULL;
	size_t len, plen;
	const char msg[] = "{\"account\":\"alice@localhost\"}";

	d = dec(A_UA_PRIVATE, &len);
	ua = wp_key_from_private(d, len);
	ua_pub = dec(A_UA_PUBLIC, NULL);
	auth = dec(A_AUTH, NULL);
	is_int(wp_encrypt(ua_pub, auth, msg, strlen(msg), 256, NULL, NULL,
	    &out, &err), 0, "encrypts with a fresh key and salt, padded");
	is_int(out.len, WP_HEADER_LEN + 256 + 1 + WP_TAG_LEN,
	    "padded to 256 bytes of plaintext, one record");
	is_int(((unsigned char)out.data[16] << 24 | (unsigned char)out.data[17]
	    << 16 | (unsigned char)out.data[18] << 8 |
	    (unsigned char)out.data[19]), WP_RECORD_SIZE, "rs is 4096");
	plain = browser_decrypt((unsigned char *)out.data, out.len, ua,
	    ua_pub, auth, &plen);
	ok(plain != NULL && plen == strlen(msg) &&
	    memcmp(plain, msg, plen) == 0,
	    "the user agent decrypts it and strips the padding");
	free(plain);
	wp_encrypt(ua_pub, auth, msg, strlen(msg), 256, NULL, NULL, &out2,
	    &err);
	ok(out2.len == out.len && memcmp(out.data, out2.data, 21) != 0 &&
	    memcmp(out.data + 21, out2.data + 21, 65) != 0,
	    "every message has its own salt and ephemeral key");
	out.data[out.len - 1] ^= 1;
	ok(browser_decrypt((unsigned char *)out.data, out.len, ua, ua_pub,
	    auth, &plen) == NULL, "a flipped bit fails the tag");
	pu_buf_free(&out);
	pu_buf_free(&out2);
	ok(wp_encrypt(ua_pub, auth, msg, WP_PLAIN_MAX + 1, 0, NULL, NULL,
	    &out, &err) == -1 && strstr(err, "more than") != NULL,
	    "a plaintext over one record is refused");
	free(err);
	err = NULL;
	ua_pub[40] ^= 1;
	ok(wp_encrypt(ua_pub, auth, msg, strlen(msg), 0, NULL, NULL, &out,
	    &err) == -1, "a point off the curve fails the encryption");
	ua_pub[40] ^= 1;
	free(err);
	err = NULL;
	pu_buf_free(&out);
	is_int(wp_encrypt(ua_pub, auth, msg, strlen(msg), WP_BODY_MAX, NULL,
	    NULL, &out, &err), 0, "padding beyond the limit is capped");
	is_int(out.len, WP_BODY_MAX, "at 4096 bytes of body");
	pu_buf_free(&out);
	EVP_PKEY_free(ua);
	free(d);
	free(ua_pub);
	free(auth);
}

static void
bad_sub(const char *json, const char *want, const char *what)
{
	struct wp_sub s;
	char *err = NULL;

	int rc = wp_sub_parse(json, true, &s, &err);

	ok(rc == -1 && err != NULL && strstr(err, want) != NULL,
	    "%s refused: %s", what, err != NULL ? err : "(accepted)");
	if (rc == 0)
		wp_sub_free(&s);
	free(err);
}

static void
test_subscriptions(void)
{
	struct wp_sub s;
	char *err = NULL, big[WP_SUB_MAX + 64];
	const char *good = "{\"endpoint\":\"https://Push.Example.NET:443/"
	    "wpush/v2/abc\",\"expirationTime\":null,\"keys\":{\"p256dh\":\""
	    A_UA_PUBLIC "\",\"auth\":\"" A_AUTH "\"}}";

	is_int(wp_sub_parse(good, true, &s, &err), 0, "PushSubscription.toJSON() "
	    "is accepted");
	is_str(s.origin, "https://push.example.net", "the origin drops :443 "
	    "and lowers the host's case");
	wp_sub_free(&s);
	bad_sub("not json", "PushSubscription.toJSON()", "not JSON");
	bad_sub("{\"keys\":{}}", "no endpoint", "no endpoint");
	bad_sub("{\"endpoint\":\"http://push.example.net/x\",\"keys\":{}}",
	    "not an https:// URL", "an http endpoint");
	bad_sub("{\"endpoint\":\"https:///x\",\"keys\":{}}", "no host",
	    "no host");
	bad_sub("{\"endpoint\":\"https://a@push.example.net/x\",\"keys\":{}}",
	    "user information", "user information in the URL");
	bad_sub("{\"endpoint\":\"https://p.example/x\"}", "no keys", "no keys");
	bad_sub("{\"endpoint\":\"https://p.example/x\",\"keys\":{\"auth\":\""
	    A_AUTH "\"}}", "keys.p256dh", "no p256dh");
	bad_sub("{\"endpoint\":\"https://p.example/x\",\"keys\":{\"p256dh\":"
	    "\"" A_AUTH "\",\"auth\":\"" A_AUTH "\"}}", "16 bytes, not 65",
	    "a short p256dh");
	bad_sub("{\"endpoint\":\"https://p.example/x\",\"keys\":{\"p256dh\":"
	    "\"" A_UA_PUBLIC "\",\"auth\":\"" A_UA_PUBLIC "\"}}",
	    "65 bytes, not 16", "a long auth");
	bad_sub("{\"endpoint\":\"https://p.example/x\",\"keys\":{\"p256dh\":"
	    "\"BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPj"
	    "s7Vd8pZGH6SRpkNtoIAAw4\",\"auth\":\"" A_AUTH "\"}}",
	    "not an uncompressed point", "a point off the curve");
	bad_sub("{\"endpoint\":\"https://p.example/x\",\"keys\":{\"p256dh\":"
	    "\"!!\",\"auth\":\"" A_AUTH "\"}}", "not base64url",
	    "a p256dh that is not base64url");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	bad_sub(big, "at most 2048 bytes", "an oversized token");
}

static void
test_vapid(const char *pem)
{
	struct wp_vapid v;
	char *err = NULL, *jwt, *dot1, *dot2, *claims;
	unsigned char *sig, der[80], *p;
	size_t slen, clen, dlen;
	ECDSA_SIG *es;
	EVP_MD_CTX *md;

	is_int(wp_vapid_load(pem, &v, &err), 0, "a P-256 PEM key loads");
	is_int(strlen(v.public_b64), 87, "k is 65 bytes, base64url");
	jwt = wp_vapid_jwt(&v, "https://push.example.net", 1700000000,
	    "mailto:ops@example.net", &err);
	ok(jwt != NULL, "a JWT is signed");
	dot1 = strchr(jwt, '.');
	dot2 = strchr(dot1 + 1, '.');
	*dot2 = '\0';
	claims = (char *)dec(dot1 + 1, &clen);	/* not NUL-terminated */
	ok(strncmp(claims, "{\"aud\":\"https://push.example.net\",\"exp\":"
	    "1700000000,\"sub\":\"mailto:ops@example.net\"}", clen) == 0,
	    "claims aud, exp, sub");
	sig = dec(dot2 + 1, &slen);
	*dot2 = '.';
	is_int(slen, 64, "the signature is r || s, 64 bytes");
	es = ECDSA_SIG_new();
	ECDSA_SIG_set0(es, BN_bin2bn(sig, 32, NULL), BN_bin2bn(sig + 32, 32,
	    NULL));
	p = der;
	dlen = (size_t)i2d_ECDSA_SIG(es, &p);
	md = EVP_MD_CTX_new();
	ok(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, v.key) == 1 &&
	    EVP_DigestVerify(md, der, dlen, (unsigned char *)jwt,
	    (size_t)(dot2 - jwt)) == 1, "and it verifies with the public key");
	EVP_MD_CTX_free(md);
	ECDSA_SIG_free(es);
	free(sig);
	free(claims);
	free(jwt);
	wp_vapid_free(&v);
	ok(wp_vapid_load("/nonexistent/vapid.pem", &v, &err) == -1 &&
	    strstr(err, "No such file") != NULL, "a missing file: %s", err);
	free(err);
}

/* A throwaway P-256 key in a PEM file, as an operator would make one. */
static void
test_vapid_file(void)
{
	char path[] = "/tmp/rfc8291_test.XXXXXX";
	int fd = mkstemp(path);
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	FILE *f = fdopen(fd, "w");

	PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	EVP_PKEY_free(k);
	test_vapid(path);
	unlink(path);
}

int
main(void)
{
	test_appendix_a();
	test_roundtrip();
	test_subscriptions();
	test_vapid_file();
	return tap_done();
}
