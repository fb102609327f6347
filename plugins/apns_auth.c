/*
 * APNs authentication: client certificates and ES256 provider tokens.
 *
 * Certificates: Apple hands out a .cer that developers export from the
 * Keychain as a .p12.  Older Keychain exports protect the certificate bag
 * with RC2-40, which OpenSSL 3 keeps in its legacy provider: when a .p12
 * fails to parse for that reason, the legacy provider is loaded (with the
 * default one kept) and the parse is tried once more.  PEM works too, key
 * in the same file or in key-file, optionally encrypted with cert-password.
 *
 * Tokens (RFC 7519 JWT, RFC 7518 section 3.4 ES256): header {alg, kid},
 * claims {iss: team id, iat}, signed by libxpplug (pu_es256_sign: JWS wants
 * the raw 64-byte r||s).  Apple accepts a token for an hour and refuses
 * renewals more often than every 20 minutes (TooManyProviderTokenUpdates),
 * so a token is renewed once `lifetime` seconds old (40 minutes unless
 * configured) and immediately when APNs says ExpiredProviderToken.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/provider.h>
#include <openssl/x509.h>

#include "plugins/apns_auth.h"
#include "plugins/h2/h2.h"
#include "plugins/lib/pu.h"
#include "plugins/provider.h"

#define APNS_MAX_CERT_FILE	(1024 * 1024)

/* Loaded on the first .p12 that needs it, for the process's lifetime. */
static OSSL_PROVIDER *legacy_provider;

struct apns_jwt {
	EVP_PKEY	*key;
	char		*kid;
	char		*iss;
	int		 lifetime;
	char		*header;	/* "bearer <jwt>" */
	time_t		 iat;
	unsigned int	 gen;
};

static int
read_file(const char *path, unsigned char **data_r, size_t *len_r,
    char **error_r)
{
	FILE *f;
	unsigned char *data;
	size_t len;

	if ((f = fopen(path, "rb")) == NULL) {
		*error_r = pu_asprintf("%s: %s", path, strerror(errno));
		return -1;
	}
	data = pu_malloc(APNS_MAX_CERT_FILE + 1);
	len = fread(data, 1, APNS_MAX_CERT_FILE + 1, f);
	if (ferror(f) || len > APNS_MAX_CERT_FILE) {
		*error_r = pu_asprintf("%s: %s", path, ferror(f) ?
		    strerror(errno) : "too large for a certificate");
		fclose(f);
		free(data);
		return -1;
	}
	fclose(f);
	data[len] = '\0';
	*data_r = data;
	*len_r = len;
	return 0;
}

static bool
is_pem(const unsigned char *data, size_t len)
{
	return memmem(data, len, "-----BEGIN ", 11) != NULL;
}

static int
apns_pem_password_cb(char *buf, int size, int rwflag, void *u)
{
	const char *pw = u;
	size_t len;

	if (pw == NULL)
		return 0;
	len = strlen(pw);
	if (len > (size_t)size)
		return -1;
	memcpy(buf, pw, len);
	return (int)len;
}

void
apns_ident_clear(struct apns_ident *id)
{
	X509_free(id->cert);
	EVP_PKEY_free(id->key);
	sk_X509_pop_free(id->chain, X509_free);
	free(id->subject);
	memset(id, 0, sizeof(*id));
}

static time_t
asn1_time_t(const ASN1_TIME *t)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return timegm(&tm);
}

/* Validity now, key match; fills not_after and subject. */
static int
ident_check(struct apns_ident *id, const char *what, char **error_r)
{
	char date[64], buf[256];
	time_t na;

	if (id->cert == NULL) {
		*error_r = pu_asprintf("%s: no certificate in it", what);
		return -1;
	}
	if (id->key == NULL) {
		*error_r = pu_asprintf("%s: no private key (set key-file, or "
		    "put the key in the same file)", what);
		return -1;
	}
	X509_NAME_oneline(X509_get_subject_name(id->cert), buf, sizeof(buf));
	id->subject = pu_strdup(buf);
	na = asn1_time_t(X509_get0_notAfter(id->cert));
	id->not_after = na;
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S UTC", gmtime(&na));
	if (X509_cmp_current_time(X509_get0_notAfter(id->cert)) <= 0) {
		*error_r = pu_asprintf("%s: certificate %s expired on %s", what,
		    id->subject, date);
		return -1;
	}
	if (X509_cmp_current_time(X509_get0_notBefore(id->cert)) > 0) {
		*error_r = pu_asprintf("%s: certificate %s is not valid yet",
		    what, id->subject);
		return -1;
	}
	if (X509_check_private_key(id->cert, id->key) != 1) {
		ERR_clear_error();
		*error_r = pu_asprintf("%s: the private key does not match "
		    "certificate %s", what, id->subject);
		return -1;
	}
	return 0;
}

static int
ident_from_p12(const unsigned char *data, size_t len, const char *password,
    struct apns_ident *id, const char *what, char **error_r)
{
	const unsigned char *p = data;
	PKCS12 *p12;
	char buf[256];
	const char *pw = password != NULL ? password : "";
	int tries;

	if ((p12 = d2i_PKCS12(NULL, &p, (long)len)) == NULL) {
		pu_ssl_error(buf, sizeof(buf), "unknown error");
		*error_r = pu_asprintf("%s: neither PEM nor PKCS#12: %s", what,
		    buf);
		return -1;
	}
	/* An empty password may be written as "" or as no password. */
	if (PKCS12_verify_mac(p12, pw, -1) != 1 &&
	    (*pw != '\0' || PKCS12_verify_mac(p12, NULL, 0) != 1)) {
		ERR_clear_error();
		PKCS12_free(p12);
		*error_r = pu_asprintf("%s: wrong cert-password (PKCS#12 MAC "
		    "does not verify)", what);
		return -1;
	}
	for (tries = 0; tries < 2; tries++) {
		if (PKCS12_parse(p12, pw, &id->key, &id->cert,
		    &id->chain) == 1)
			break;
		pu_ssl_error(buf, sizeof(buf), "unknown error");
		if (tries == 0 && legacy_provider == NULL &&
		    (legacy_provider = OSSL_PROVIDER_try_load(NULL, "legacy",
		    1)) != NULL)
			continue;
		PKCS12_free(p12);
		*error_r = pu_asprintf("%s: cannot read the PKCS#12 bundle: %s",
		    what, buf);
		return -1;
	}
	PKCS12_free(p12);
	return 0;
}

static int
ident_from_pem(const void *cert_pem, size_t cert_len, const void *key_pem,
    size_t key_len, const char *password, struct apns_ident *id,
    const char *what, char **error_r)
{
	BIO *bio;
	X509 *x;
	char buf[256];

	if ((bio = BIO_new_mem_buf(cert_pem, (int)cert_len)) == NULL)
		abort();
	id->cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	if (id->cert != NULL) {
		id->chain = sk_X509_new_null();
		while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
			sk_X509_push(id->chain, x);
	}
	BIO_free(bio);
	ERR_clear_error();
	if (id->cert == NULL) {
		*error_r = pu_asprintf("%s: no PEM certificate in it", what);
		return -1;
	}
	if ((bio = BIO_new_mem_buf(key_pem, (int)key_len)) == NULL)
		abort();
	id->key = PEM_read_bio_PrivateKey(bio, NULL, apns_pem_password_cb,
	    (void *)password);
	BIO_free(bio);
	if (id->key == NULL) {
		pu_ssl_error(buf, sizeof(buf), "unknown error");
		*error_r = pu_asprintf("%s: cannot read the private key "
		    "(missing, or wrong cert-password?): %s", what, buf);
		return -1;
	}
	return 0;
}

int
apns_ident_load_file(const char *cert_file, const char *key_file,
    const char *password, struct apns_ident *id, char **error_r)
{
	unsigned char *cdata = NULL, *kdata = NULL;
	size_t clen, klen;
	int rv = -1;

	memset(id, 0, sizeof(*id));
	if (read_file(cert_file, &cdata, &clen, error_r) == -1)
		return -1;
	if (key_file != NULL && *key_file != '\0' &&
	    read_file(key_file, &kdata, &klen, error_r) == -1)
		goto out;
	if (is_pem(cdata, clen))
		rv = ident_from_pem(cdata, clen, kdata != NULL ? kdata : cdata,
		    kdata != NULL ? klen : clen, password, id, cert_file,
		    error_r);
	else
		rv = ident_from_p12(cdata, clen, password, id, cert_file,
		    error_r);
	if (rv == 0)
		rv = ident_check(id, cert_file, error_r);
out:
	if (rv == -1)
		apns_ident_clear(id);
	free(cdata);
	free(kdata);
	return rv;
}

int
apns_ident_load_mem(const struct xp_cert *c, struct apns_ident *id,
    char **error_r)
{
	const char *what = "the certificate stored in the database";
	int rv;

	memset(id, 0, sizeof(*id));
	if (c->pkcs12 != NULL && c->pkcs12_len > 0)
		rv = ident_from_p12(c->pkcs12, c->pkcs12_len, c->password, id,
		    what, error_r);
	else if (c->cert_pem != NULL)
		rv = ident_from_pem(c->cert_pem, strlen(c->cert_pem),
		    c->key_pem != NULL ? c->key_pem : c->cert_pem,
		    strlen(c->key_pem != NULL ? c->key_pem : c->cert_pem),
		    c->password, id, what, error_r);
	else {
		*error_r = pu_asprintf("%s: empty", what);
		rv = -1;
	}
	if (rv == 0)
		rv = ident_check(id, what, error_r);
	if (rv == -1)
		apns_ident_clear(id);
	return rv;
}

SSL_CTX *
apns_tls_ctx(const char *ca_file, const struct apns_ident *id,
    char **error_r)
{
	SSL_CTX *ctx;
	char buf[256];
	int i;

	if ((ctx = h2_tls_ctx_new(ca_file, error_r)) == NULL)
		return NULL;
	if (id == NULL || id->cert == NULL)
		return ctx;
	if (SSL_CTX_use_certificate(ctx, id->cert) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, id->key) != 1)
		goto fail;
	for (i = 0; id->chain != NULL && i < sk_X509_num(id->chain); i++)
		if (SSL_CTX_add1_chain_cert(ctx, sk_X509_value(id->chain,
		    i)) != 1)
			goto fail;
	return ctx;
fail:
	pu_ssl_error(buf, sizeof(buf), "unknown error");
	*error_r = pu_asprintf("client certificate: %s", buf);
	SSL_CTX_free(ctx);
	return NULL;
}

/* Provider tokens */

struct apns_jwt *
apns_jwt_new(const char *key_file, const char *key_id, const char *team_id,
    int lifetime, char **error_r)
{
	struct apns_jwt *j;
	unsigned char *data;
	size_t len;
	BIO *bio;
	EVP_PKEY *key;
	char group[64], buf[256];
	size_t glen = 0;

	if (read_file(key_file, &data, &len, error_r) == -1)
		return NULL;
	if ((bio = BIO_new_mem_buf(data, (int)len)) == NULL)
		abort();
	key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	free(data);
	if (key == NULL) {
		pu_ssl_error(buf, sizeof(buf), "unknown error");
		*error_r = pu_asprintf("%s: not a PKCS#8 PEM private key (the "
		    ".p8 file Apple issues): %s", key_file, buf);
		return NULL;
	}
	if (!EVP_PKEY_is_a(key, "EC") || EVP_PKEY_get_utf8_string_param(key,
	    OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &glen) != 1 ||
	    strcmp(group, "prime256v1") != 0) {
		ERR_clear_error();
		EVP_PKEY_free(key);
		*error_r = pu_asprintf("%s: not an EC P-256 key: APNs tokens "
		    "are ES256", key_file);
		return NULL;
	}
	j = pu_calloc(1, sizeof(*j));
	j->key = key;
	j->kid = pu_strdup(key_id);
	j->iss = pu_strdup(team_id);
	j->lifetime = lifetime;
	/* Proves the key signs before the first push needs it. */
	if ((j->header = apns_jwt_make(j, time(NULL), error_r)) == NULL) {
		apns_jwt_free(&j);
		return NULL;
	}
	free(j->header);
	j->header = NULL;
	return j;
}

static char *
json_string_escape(const char *s)
{
	/* key ids and team ids are [A-Z0-9]; refuse to guess otherwise. */
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (s[i] == '"' || s[i] == '\\' || (unsigned char)s[i] < 0x20)
			return NULL;
	return pu_strdup(s);
}

char *
apns_jwt_make(struct apns_jwt *j, time_t iat, char **error_r)
{
	char *kid, *iss, *hdr, *claims, *h64, *c64, *input, *s64, *out = NULL;
	char buf[256];

	kid = json_string_escape(j->kid);
	iss = json_string_escape(j->iss);
	if (kid == NULL || iss == NULL) {
		free(kid);
		free(iss);
		*error_r = pu_strdup("key-id and team-id must be plain text");
		return NULL;
	}
	hdr = pu_asprintf("{\"alg\":\"ES256\",\"kid\":\"%s\"}", kid);
	claims = pu_asprintf("{\"iss\":\"%s\",\"iat\":%lld}", iss,
	    (long long)iat);
	h64 = pu_b64url(hdr, strlen(hdr));
	c64 = pu_b64url(claims, strlen(claims));
	input = pu_asprintf("%s.%s", h64, c64);

	if ((s64 = pu_es256_sign(j->key, input, strlen(input))) == NULL)
		goto fail;
	out = pu_asprintf("%s.%s", input, s64);
	free(s64);
	goto done;
fail:
	pu_ssl_error(buf, sizeof(buf), "unknown error");
	*error_r = pu_asprintf("cannot sign the provider token: %s", buf);
done:
	free(kid);
	free(iss);
	free(hdr);
	free(claims);
	free(h64);
	free(c64);
	free(input);
	return out;
}

const char *
apns_jwt_header(struct apns_jwt *j, time_t now, unsigned int *gen_r)
{
	char *jwt, *err = NULL;

	if (j->header == NULL || now - j->iat >= j->lifetime ||
	    now < j->iat) {
		if ((jwt = apns_jwt_make(j, now, &err)) == NULL) {
			/* The key signed at load: keep the old token. */
			free(err);
		} else {
			free(j->header);
			j->header = pu_asprintf("bearer %s", jwt);
			free(jwt);
			j->iat = now;
			j->gen++;
		}
	}
	*gen_r = j->gen;
	return j->header != NULL ? j->header : "";
}

void
apns_jwt_stale(struct apns_jwt *j, unsigned int gen)
{
	/* Many streams may report the same token: renew it once. */
	if (gen == j->gen && j->header != NULL) {
		free(j->header);
		j->header = NULL;
	}
}

void
apns_jwt_free(struct apns_jwt **jp)
{
	struct apns_jwt *j = *jp;

	if (j == NULL)
		return;
	*jp = NULL;
	EVP_PKEY_free(j->key);
	free(j->kid);
	free(j->iss);
	free(j->header);
	free(j);
}
