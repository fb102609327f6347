/*
 * Google OAuth2 for service accounts ("Using OAuth 2.0 for Server to Server
 * Applications"): the service-account JSON file, and the token request
 * that carries an RS256-signed JWT (RFC 7519, RFC 7523 section 2.1):
 *
 *	header	{"alg":"RS256","typ":"JWT"}
 *	claims	{"iss":client_email,
 *		 "scope":"https://www.googleapis.com/auth/firebase.messaging",
 *		 "aud":token_uri, "iat":now, "exp":now + 3600}
 *	body	grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&
 *		assertion=<jwt>
 *
 * Deviation: the file's token_uri is used as is (Google's files say
 * https://oauth2.googleapis.com/token), so the tests can point it at a
 * mock; other keys of the file (private_key_id, client_id, ...) are ignored.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "plugins/fcm.h"

#define FCM_SCOPE	"https://www.googleapis.com/auth/firebase.messaging"
#define FCM_GRANT	"urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
#define FCM_SA_MAX	(64 * 1024)	/* the files are ~2 KiB */

static char *
fcm_sa_string(json_object *root, const char *key, const char *path,
    char **error_r)
{
	json_object *v;
	const char *s;

	if (!json_object_object_get_ex(root, key, &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    *(s = json_object_get_string(v)) == '\0') {
		*error_r = pu_asprintf("%s: no string '%s' in the service "
		    "account file", path, key);
		return NULL;
	}
	return pu_strdup(s);
}

static char *
fcm_sa_read(const char *path, char **error_r)
{
	struct pu_buf b = { .max = FCM_SA_MAX };
	char chunk[4096];
	size_t n;
	FILE *fp;

	if ((fp = fopen(path, "r")) == NULL) {
		*error_r = pu_asprintf("%s: %s", path, strerror(errno));
		return NULL;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		pu_buf_add(&b, chunk, n);
	if (ferror(fp) || b.overflow) {
		*error_r = pu_asprintf("%s: %s", path, b.overflow ?
		    "too large for a service account file" : "read error");
		fclose(fp);
		pu_buf_free(&b);
		return NULL;
	}
	fclose(fp);
	return b.data != NULL ? b.data : pu_strdup("");
}

int
fcm_sa_load(const char *path, struct fcm_sa *sa, char **error_r)
{
	json_object *root;
	char *text, *pem = NULL;
	BIO *bio;

	memset(sa, 0, sizeof(*sa));
	if ((text = fcm_sa_read(path, error_r)) == NULL)
		return -1;
	root = json_tokener_parse(text);
	free(text);
	if (root == NULL || !json_object_is_type(root, json_type_object)) {
		*error_r = pu_asprintf("%s: not a JSON object (the service "
		    "account key file from the Firebase console)", path);
		json_object_put(root);
		return -1;
	}
	if ((sa->project_id = fcm_sa_string(root, "project_id", path,
	    error_r)) == NULL ||
	    (sa->client_email = fcm_sa_string(root, "client_email", path,
	    error_r)) == NULL ||
	    (sa->token_uri = fcm_sa_string(root, "token_uri", path,
	    error_r)) == NULL ||
	    (pem = fcm_sa_string(root, "private_key", path, error_r)) ==
	    NULL)
		goto fail;
	json_object_put(root);
	root = NULL;

	if ((bio = BIO_new_mem_buf(pem, -1)) == NULL)
		abort();
	sa->key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	explicit_bzero(pem, strlen(pem));
	free(pem);
	pem = NULL;
	if (sa->key == NULL || EVP_PKEY_base_id(sa->key) != EVP_PKEY_RSA) {
		*error_r = pu_asprintf("%s: private_key is not a PEM RSA "
		    "private key", path);
		goto fail;
	}
	if (strncmp(sa->token_uri, "https://", 8) != 0) {
		*error_r = pu_asprintf("%s: token_uri must be https://",
		    path);
		goto fail;
	}
	return 0;
fail:
	json_object_put(root);
	free(pem);
	fcm_sa_free(sa);
	return -1;
}

void
fcm_sa_free(struct fcm_sa *sa)
{
	free(sa->project_id);
	free(sa->client_email);
	free(sa->token_uri);
	EVP_PKEY_free(sa->key);
	memset(sa, 0, sizeof(*sa));
}

static char *
fcm_b64url_json(json_object *o)
{
	const char *s = json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);

	return pu_b64url((const unsigned char *)s, strlen(s));
}

char *
fcm_sa_token_request(const struct fcm_sa *sa, time_t now, char **error_r)
{
	json_object *hdr, *claims;
	char *h64, *c64, *input, *s64, *body;
	unsigned char *sig = NULL;
	size_t siglen = 0;
	EVP_MD_CTX *md;

	hdr = json_object_new_object();
	json_object_object_add(hdr, "alg", json_object_new_string("RS256"));
	json_object_object_add(hdr, "typ", json_object_new_string("JWT"));
	claims = json_object_new_object();
	json_object_object_add(claims, "iss",
	    json_object_new_string(sa->client_email));
	json_object_object_add(claims, "scope",
	    json_object_new_string(FCM_SCOPE));
	json_object_object_add(claims, "aud",
	    json_object_new_string(sa->token_uri));
	json_object_object_add(claims, "iat", json_object_new_int64(now));
	json_object_object_add(claims, "exp",
	    json_object_new_int64(now + 3600));
	h64 = fcm_b64url_json(hdr);
	c64 = fcm_b64url_json(claims);
	json_object_put(hdr);
	json_object_put(claims);
	input = pu_asprintf("%s.%s", h64, c64);
	free(h64);
	free(c64);

	if ((md = EVP_MD_CTX_new()) == NULL)
		abort();
	if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, sa->key) != 1 ||
	    EVP_DigestSign(md, NULL, &siglen, (unsigned char *)input,
	    strlen(input)) != 1 ||
	    (sig = pu_calloc(1, siglen)) == NULL ||
	    EVP_DigestSign(md, sig, &siglen, (unsigned char *)input,
	    strlen(input)) != 1) {
		EVP_MD_CTX_free(md);
		free(sig);
		free(input);
		*error_r = pu_strdup("cannot sign the OAuth2 JWT with the "
		    "service account's key");
		return NULL;
	}
	EVP_MD_CTX_free(md);
	s64 = pu_b64url(sig, siglen);
	free(sig);
	/* Base64url and '.' need no form encoding. */
	body = pu_asprintf("grant_type=%s&assertion=%s.%s", FCM_GRANT, input,
	    s64);
	free(input);
	free(s64);
	return body;
}
