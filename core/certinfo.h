/*
 * Reading and checking APNs certificates (PKCS#12 or PEM) with OpenSSL:
 * used by set-apns-certificate and the certificate watch.
 */
#ifndef XP_CERTINFO_H
#define XP_CERTINFO_H

#include <stddef.h>
#include <time.h>

struct certinfo {
	unsigned char	*pkcs12;	/* the decoded PKCS#12, or NULL (PEM) */
	size_t		 pkcs12_len;
	char		*cert_pem;	/* PEM input: certificate chain */
	char		*key_pem;	/* PEM input: private key */
	char		*subject;	/* one line, RFC 2253 */
	char		*topics;	/* Apple's topics, comma separated, or NULL */
	time_t		 not_after;
};

/*
 * Parses text as base64 PKCS#12 (as `base64 -w 0 file.p12` prints it) or as
 * PEM with a certificate and its private key; checks that the password
 * opens it, that the key matches the certificate and that it is not
 * expired.  Returns -1 with a message for the operator in *error_r.
 */
int	certinfo_parse(const char *text, const char *password,
	    struct certinfo *, char **error_r);
/* The same for stored material (PKCS#12 bytes, or PEM). */
int	certinfo_load(const unsigned char *pkcs12, size_t len,
	    const char *password, const char *cert_pem, const char *key_pem,
	    struct certinfo *, char **error_r);
void	certinfo_clear(struct certinfo *);
/*
 * Strict base64 (RFC 4648 section 4, padded; whitespace allowed), as
 * set-apns-certificate and Push 2.0 payloads carry it: malloc'd bytes, or
 * NULL when text is not base64.
 */
unsigned char *certinfo_b64_decode(const char *text, size_t *len_r);

#endif
