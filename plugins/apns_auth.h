/*
 * APNs provider authentication: TLS client certificates (PKCS#12 or PEM,
 * from a file or from the database) and ES256 provider tokens (JWT, RFC
 * 7519/7518, from a .p8 key), as Apple's "Establishing a certificate-based
 * connection to APNs" and "Establishing a token-based connection to APNs"
 * describe.
 */
#ifndef XP_APNS_AUTH_H
#define XP_APNS_AUTH_H

#include <stdbool.h>
#include <time.h>

#include <openssl/ssl.h>

struct xp_cert;

/* A client identity: leaf certificate, key, intermediates. */
struct apns_ident {
	X509		*cert;
	EVP_PKEY	*key;
	STACK_OF(X509)	*chain;
	time_t		 not_after;
	char		*subject;	/* for logs */
};

/*
 * From files: a .p12 (any file that is not PEM) with password, or PEM
 * holding the certificate and, unless key_file is set, its key.  The
 * certificate must be valid now and match the key.  -1 with *error_r.
 */
int	 apns_ident_load_file(const char *cert_file, const char *key_file,
	    const char *password, struct apns_ident *, char **error_r);
/* The same from a certificate stored in the database. */
int	 apns_ident_load_mem(const struct xp_cert *, struct apns_ident *,
	    char **error_r);
void	 apns_ident_clear(struct apns_ident *);
/* A client TLS context presenting ident (NULL: none). */
SSL_CTX	*apns_tls_ctx(const char *ca_file, const struct apns_ident *,
	    char **error_r);

/* A provider token, shared by every connection of a provider. */
struct apns_jwt;

struct apns_jwt *apns_jwt_new(const char *key_file, const char *key_id,
	    const char *team_id, int lifetime, char **error_r);
/*
 * The "bearer <jwt>" value for the authorization header, renewed once it
 * is lifetime seconds old; *gen_r identifies the token for apns_jwt_stale.
 */
const char *apns_jwt_header(struct apns_jwt *, time_t now,
	    unsigned int *gen_r);
/* APNs said ExpiredProviderToken for token gen: make a new one. */
void	 apns_jwt_stale(struct apns_jwt *, unsigned int gen);
/* Signs a JWT with any iat (the tests use it). */
char	*apns_jwt_make(struct apns_jwt *, time_t iat, char **error_r);
void	 apns_jwt_free(struct apns_jwt **);

#endif
