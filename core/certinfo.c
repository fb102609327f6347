/*
 * APNs certificate checks.  Apple's push certificates carry their topics
 * in the extension 1.2.840.113635.100.6.3.6, a sequence of UTF8String
 * topics each followed by a sequence of options; we list the strings.
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/certinfo.h"
#include "core/xmalloc.h"

#define CERTINFO_MAX_INPUT	(256 * 1024)
#define APPLE_TOPICS_OID	"1.2.840.113635.100.6.3.6"

static char *
ssl_error(void)
{
	unsigned long e = ERR_get_error();
	char buf[256];

	ERR_clear_error();
	if (e == 0)
		return xstrdup("unknown error");
	ERR_error_string_n(e, buf, sizeof(buf));
	return xstrdup(buf);
}

unsigned char *
certinfo_b64_decode(const char *text, size_t *len_r)
{
	size_t n = strlen(text), i, j = 0;
	unsigned char *clean, *out;
	int r;

	clean = xmalloc(n + 1);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)text[i];

		if (isspace(c))
			continue;
		if (!isalnum(c) && c != '+' && c != '/' && c != '=') {
			free(clean);
			return NULL;
		}
		clean[j++] = c;
	}
	if (j == 0 || j % 4 != 0) {
		free(clean);
		return NULL;
	}
	out = xmalloc(j / 4 * 3 + 1);
	r = EVP_DecodeBlock(out, clean, (int)j);
	if (r < 0) {
		free(clean);
		free(out);
		return NULL;
	}
	/* EVP_DecodeBlock counts the padding as data. */
	if (clean[j - 1] == '=')
		r--;
	if (clean[j - 2] == '=')
		r--;
	free(clean);
	*len_r = (size_t)r;
	return out;
}

static void
topics_add(char **topics, const unsigned char *s, int len)
{
	char *t;

	t = xprintf("%s%s%.*s", *topics ? *topics : "", *topics ? "," : "",
	    len, s);
	free(*topics);
	*topics = t;
}

static char *
apple_topics(X509 *x)
{
	ASN1_OBJECT *obj = OBJ_txt2obj(APPLE_TOPICS_OID, 1);
	const unsigned char *p, *end;
	X509_EXTENSION *ext;
	ASN1_OCTET_STRING *os;
	char *topics = NULL;
	int idx, tag, xclass;
	long len;

	if (obj == NULL)
		return NULL;
	idx = X509_get_ext_by_OBJ(x, obj, -1);
	ASN1_OBJECT_free(obj);
	if (idx < 0 || (ext = X509_get_ext(x, idx)) == NULL)
		return NULL;
	os = X509_EXTENSION_get_data(ext);
	p = ASN1_STRING_get0_data(os);
	end = p + ASN1_STRING_length(os);
	/* Walk the DER: list every UTF8String at any depth. */
	while (p < end) {
		const unsigned char *start = p;
		int ret = ASN1_get_object(&p, &len, &tag, &xclass, end - p);

		if (ret & 0x80)
			break;
		if (ret & V_ASN1_CONSTRUCTED)
			continue;	/* descend into it */
		if (tag == V_ASN1_UTF8STRING && xclass == V_ASN1_UNIVERSAL)
			topics_add(&topics, p, (int)len);
		p += len;
		if (p <= start)
			break;
	}
	return topics;
}

static int
check_pair(X509 *cert, EVP_PKEY *key, struct certinfo *ci, char **error_r)
{
	const ASN1_TIME *na = X509_get0_notAfter(cert);
	struct tm tm;
	char *subj;
	BIO *bio;
	BUF_MEM *bm;

	if (key == NULL) {
		*error_r = xstrdup("it holds no private key");
		return -1;
	}
	if (X509_check_private_key(cert, key) != 1) {
		ERR_clear_error();
		*error_r = xstrdup("the private key does not match the "
		    "certificate");
		return -1;
	}
	if (ASN1_TIME_to_tm(na, &tm) != 1) {
		*error_r = xstrdup("the certificate's expiry date is "
		    "unreadable");
		return -1;
	}
	ci->not_after = timegm(&tm);
	if (X509_cmp_current_time(na) <= 0) {
		*error_r = xprintf("the certificate expired on "
		    "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1,
		    tm.tm_mday);
		return -1;
	}
	bio = BIO_new(BIO_s_mem());
	X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0,
	    XN_FLAG_RFC2253);
	BIO_get_mem_ptr(bio, &bm);
	subj = xstrndup(bm->data, bm->length);
	BIO_free(bio);
	ci->subject = subj;
	ci->topics = apple_topics(cert);
	return 0;
}

static int
parse_pkcs12(const unsigned char *der, size_t len, const char *password,
    struct certinfo *ci, char **error_r)
{
	const unsigned char *p = der;
	PKCS12 *p12;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	int rc;

	if ((p12 = d2i_PKCS12(NULL, &p, (long)len)) == NULL) {
		ERR_clear_error();
		*error_r = xstrdup("the certificate is neither PKCS#12 "
		    "(base64) nor PEM");
		return -1;
	}
	if (PKCS12_parse(p12, password != NULL ? password : "", &key, &cert,
	    NULL) != 1) {
		char *e = ssl_error();

		PKCS12_free(p12);
		if (strstr(e, "mac verify") != NULL ||
		    strstr(e, "verify failure") != NULL ||
		    strstr(e, "decrypt") != NULL)
			*error_r = xstrdup("the password does not open the "
			    "PKCS#12 file");
		else
			*error_r = xprintf("the PKCS#12 file cannot be read "
			    "(wrong password?): %s", e);
		free(e);
		return -1;
	}
	PKCS12_free(p12);
	if (cert == NULL) {
		EVP_PKEY_free(key);
		*error_r = xstrdup("the PKCS#12 file holds no certificate");
		return -1;
	}
	rc = check_pair(cert, key, ci, error_r);
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}

static int
parse_pem(const char *cert_pem, const char *key_pem, const char *password,
    struct certinfo *ci, char **error_r)
{
	EVP_PKEY *key = NULL;
	X509 *cert;
	BIO *bio;
	int rc;

	bio = BIO_new_mem_buf(cert_pem, -1);
	cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (cert == NULL) {
		ERR_clear_error();
		*error_r = xstrdup("the PEM text holds no certificate");
		return -1;
	}
	bio = BIO_new_mem_buf(key_pem, -1);
	key = PEM_read_bio_PrivateKey(bio, NULL, NULL,
	    (void *)(password != NULL ? password : ""));
	BIO_free(bio);
	if (key == NULL) {
		ERR_clear_error();
		X509_free(cert);
		*error_r = xstrdup("the PEM text holds no private key that "
		    "the password opens");
		return -1;
	}
	rc = check_pair(cert, key, ci, error_r);
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}

int
certinfo_parse(const char *text, const char *password, struct certinfo *ci,
    char **error_r)
{
	unsigned char *der;
	size_t len;

	memset(ci, 0, sizeof(*ci));
	if (strlen(text) > CERTINFO_MAX_INPUT) {
		*error_r = xprintf("the certificate is larger than %d bytes",
		    CERTINFO_MAX_INPUT);
		return -1;
	}
	if (strstr(text, "-----BEGIN") != NULL) {
		ci->cert_pem = xstrdup(text);
		ci->key_pem = xstrdup(text);
		if (parse_pem(text, text, password, ci, error_r) == -1) {
			certinfo_clear(ci);
			return -1;
		}
		return 0;
	}
	if ((der = certinfo_b64_decode(text, &len)) == NULL) {
		*error_r = xstrdup("the certificate is neither base64 PKCS#12 "
		    "nor PEM");
		return -1;
	}
	ci->pkcs12 = der;
	ci->pkcs12_len = len;
	if (parse_pkcs12(der, len, password, ci, error_r) == -1) {
		certinfo_clear(ci);
		return -1;
	}
	return 0;
}

int
certinfo_load(const unsigned char *pkcs12, size_t len, const char *password,
    const char *cert_pem, const char *key_pem, struct certinfo *ci,
    char **error_r)
{
	memset(ci, 0, sizeof(*ci));
	if (pkcs12 != NULL)
		return parse_pkcs12(pkcs12, len, password, ci, error_r);
	if (cert_pem != NULL && key_pem != NULL)
		return parse_pem(cert_pem, key_pem, password, ci, error_r);
	*error_r = xstrdup("no certificate material");
	return -1;
}

void
certinfo_clear(struct certinfo *ci)
{
	free(ci->pkcs12);
	free(ci->cert_pem);
	free(ci->key_pem);
	free(ci->subject);
	free(ci->topics);
	memset(ci, 0, sizeof(*ci));
}
