/*
 * libxpplug: a JWS ES256 signature (RFC 7518 section 3.4).  OpenSSL signs
 * ECDSA in DER (SEQUENCE of r and s); JWS wants r and s as two 32-byte
 * big-endian integers, concatenated, then base64url.
 */
#include "config.h"

#include <stdlib.h>

#include <openssl/ecdsa.h>
#include <openssl/evp.h>

#include "plugins/lib/pu.h"

char *
pu_es256_sign(struct evp_pkey_st *key, const void *input, size_t len)
{
	EVP_MD_CTX *md;
	ECDSA_SIG *sig = NULL;
	const BIGNUM *r, *s;
	unsigned char der[128], raw[64];
	const unsigned char *p;
	size_t derlen = sizeof(der);
	char *out = NULL;

	if ((md = EVP_MD_CTX_new()) == NULL)
		return NULL;
	if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, der, &derlen, input, len) != 1)
		goto done;
	p = der;
	if ((sig = d2i_ECDSA_SIG(NULL, &p, (long)derlen)) == NULL)
		goto done;
	ECDSA_SIG_get0(sig, &r, &s);
	if (BN_bn2binpad(r, raw, 32) == 32 && BN_bn2binpad(s, raw + 32,
	    32) == 32)
		out = pu_b64url(raw, sizeof(raw));
done:
	ECDSA_SIG_free(sig);
	EVP_MD_CTX_free(md);
	return out;
}
