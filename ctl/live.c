/*
 * xpushctl status: the running daemon's word on itself, GET /health on
 * the rest block's listener (core/metrics.c), asked on loopback.  Over
 * TLS the answer is trusted when the server's public key is the one in
 * the rest block's tls-cert (curl's public-key pinning): the daemon and
 * this tool read the same file, so no CA or host name is involved.
 *
 * xpushctl vapid-key: the applicationServerKey of a webpush block (RFC
 * 8292 section 3.2: the uncompressed P-256 point, base64url without
 * padding) from the PEM private key its vapid-key-file names.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/rand.h"
#include "core/rest.h"
#include "core/xmalloc.h"
#include "ctl/ctl.h"

#define CTL_HTTP_TIMEOUT	10		/* seconds for /health */
#define CTL_HTTP_MAX		(64 * 1024)	/* bytes of its answer */
#define CTL_P256_POINT		65		/* 0x04 || x || y */

struct body {
	char	*data;
	size_t	 len;
	bool	 toolong;
};

static size_t
body_write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct body *b = arg;

	if (b->len + n > CTL_HTTP_MAX) {
		b->toolong = true;
		return 0;
	}
	b->data = xrealloc(b->data, b->len + n + 1);
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return size * n;
}

/* "sha256//" and the base64 SHA-256 of the certificate's public key. */
static char *
cert_pin(const char *path, char **err)
{
	unsigned char *der = NULL, md[32], b64[64];
	X509 *x = NULL;
	FILE *f;
	int len;

	if ((f = fopen(path, "r")) == NULL) {
		*err = xprintf("rest.tls-cert %s cannot be read", path);
		return NULL;
	}
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (x == NULL || (len = i2d_PUBKEY(X509_get0_pubkey(x), &der)) <= 0) {
		X509_free(x);
		*err = xprintf("rest.tls-cert %s holds no PEM certificate",
		    path);
		return NULL;
	}
	EVP_Digest(der, (size_t)len, md, NULL, EVP_sha256(), NULL);
	OPENSSL_free(der);
	X509_free(x);
	EVP_EncodeBlock(b64, md, sizeof(md));
	return xprintf("sha256//%s", b64);
}

/* http(s)://host:port/health, a wildcard address asked on loopback. */
static char *
health_url(struct ctl *ctl, int *rc_r)
{
	char *host = NULL, *err = NULL, *url;
	const char *h;
	int port, r;

	if ((r = rest_listen_address(ctl->conf, &host, &port, &err)) != 1) {
		if (r == 0)
			*rc_r = ctl_fail(CTL_CONFIG, "%s has no rest block: "
			    "xpushctl status asks the running xpushd through "
			    "it (rest { listen = '127.0.0.1:8443'; tls = "
			    "false } serves loopback only)", ctl->conf_path);
		else
			*rc_r = ctl_fail(CTL_CONFIG, "%s", err);
		free(err);
		return NULL;
	}
	h = host;
	if (strcmp(h, "0.0.0.0") == 0)
		h = "127.0.0.1";
	else if (strcmp(h, "::") == 0)
		h = "::1";
	url = xprintf("%s://%s%s%s:%d/health",
	    conf_bool(ctl->conf, "rest", "tls") ? "https" : "http",
	    strchr(h, ':') != NULL ? "[" : "", h,
	    strchr(h, ':') != NULL ? "]" : "", port);
	free(host);
	return url;
}

static void
status_human(struct json_object *o)
{
	struct json_object *provs, *probs;

	printf("status     %s\n", ctl_str(o, "status"));
	printf("xmpp link  %s\n", ctl_str(o, "xmpp"));
	printf("database   %s\n", ctl_str(o, "database"));
	if (json_object_object_get_ex(o, "providers", &provs)) {
		json_object_object_foreach(provs, k, v)
			printf("provider   %s: %s\n", k,
			    json_object_get_string(v));
	}
	if (json_object_object_get_ex(o, "problems", &probs)) {
		size_t i;

		for (i = 0; i < json_object_array_length(probs); i++)
			printf("problem    %s\n", json_object_get_string(
			    json_object_array_get_idx(probs, i)));
	}
}

/* GET url: the HTTP status, or -1 after saying why. */
static long
http_get(struct ctl *ctl, const char *url, struct body *b)
{
	char errbuf[CURL_ERROR_SIZE] = "", *pin = NULL, *err = NULL;
	const char *cert;
	long code = -1;
	CURLcode cc;
	CURL *c;

	if ((c = curl_easy_init()) == NULL)
		fatalx("curl_easy_init failed");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)CTL_HTTP_TIMEOUT);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	if (conf_bool(ctl->conf, "rest", "tls")) {
		cert = conf_str(ctl->conf, "rest", "tls-cert");
		if ((pin = cert_pin(cert, &err)) == NULL) {
			ctl_fail(CTL_CONFIG, "%s", err);
			free(err);
			curl_easy_cleanup(c);
			return -1;
		}
		/* Trust is the pinned key, not a CA or the host name. */
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
		curl_easy_setopt(c, CURLOPT_PINNEDPUBLICKEY, pin);
	}
	if ((cc = curl_easy_perform(c)) != CURLE_OK)
		ctl_fail(CTL_DAEMON, "cannot reach xpushd at %s: %s%s", url,
		    *errbuf != '\0' ? errbuf : curl_easy_strerror(cc),
		    cc == CURLE_COULDNT_CONNECT ? " (is xpushd running with "
		    "this configuration's rest block?)" :
		    cc == CURLE_SSL_PINNEDPUBKEYNOTMATCH ? " (the server there "
		    "is not the xpushd whose rest.tls-cert this is)" : "");
	else
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	free(pin);
	return code;
}

int
ctl_status(struct ctl *ctl, int argc, char **argv)
{
	struct json_object *o;
	struct body b = { NULL, 0, false };
	int rc = CTL_OK;
	long code;
	char *url;

	if ((url = health_url(ctl, &rc)) == NULL)
		return rc;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		fatalx("curl_global_init failed");
	code = http_get(ctl, url, &b);
	curl_global_cleanup();
	if (code == -1)
		rc = CTL_DAEMON;
	else if ((code != 200 && code != 503) || b.data == NULL ||
	    (o = json_tokener_parse(b.data)) == NULL ||
	    !json_object_is_type(o, json_type_object))
		rc = ctl_fail(CTL_DAEMON, "%s answered %ld, not xpushd's "
		    "health report: is another program listening there?",
		    url, code);
	else {
		ctl_emit(ctl, o, status_human);
		if (code == 503)
			rc = ctl_fail(CTL_FAILED, "xpushd reports problems");
	}
	free(b.data);
	free(url);
	return rc;
}

/* vapid-key */

static bool
is_webpush(const struct cfg_node *b)
{
	const struct cfg_node *p = cfg_find(b->children, "plugin");

	return p != NULL && p->value != NULL && p->value->type == CFG_STRING
	    && strcmp(p->value->str, "webpush") == 0;
}

/* The base64url point of the P-256 key in path; NULL after saying why. */
static char *
vapid_public(const char *id, const char *path, int *rc_r)
{
	unsigned char pt[CTL_P256_POINT + 1];
	char group[32], out[CTL_P256_POINT * 2];
	EVP_PKEY *k;
	size_t len = 0;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL) {
		*rc_r = ctl_fail(CTL_NOTFOUND, "provider '%s': vapid-key-file %s "
		    "cannot be read (xpushd-vapid -g %s makes one)", id, path,
		    path);
		return NULL;
	}
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (k == NULL || !EVP_PKEY_is_a(k, "EC") ||
	    EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME,
	    group, sizeof(group), NULL) != 1 ||
	    strcmp(group, "prime256v1") != 0 ||
	    EVP_PKEY_get_octet_string_param(k,
	    OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt, sizeof(pt), &len) != 1 ||
	    len != CTL_P256_POINT || pt[0] != 0x04) {
		EVP_PKEY_free(k);
		*rc_r = ctl_fail(CTL_CONFIG, "provider '%s': vapid-key-file %s holds "
		    "no PEM P-256 private key", id, path);
		return NULL;
	}
	EVP_PKEY_free(k);
	rand_b64url(out, sizeof(out), pt, len);
	return xstrdup(out);
}

static void
vapid_human(struct json_object *o)
{
	struct json_object *keys, *k;
	size_t i, n;

	json_object_object_get_ex(o, "keys", &keys);
	n = json_object_array_length(keys);
	for (i = 0; i < n; i++) {
		k = json_object_array_get_idx(keys, i);
		if (n == 1)
			printf("%s\n", ctl_str(k, "public_key"));
		else
			printf("%s %s\n", ctl_str(k, "provider"),
			    ctl_str(k, "public_key"));
	}
}

int
ctl_vapid_key(struct ctl *ctl, int argc, char **argv)
{
	const struct cfg_node *b, *f;
	struct json_object *o, *keys, *k;
	const char *id = argc == 2 ? argv[1] : NULL;
	char *pub;
	size_t n = 0;
	int rc;

	keys = json_object_new_array();
	for (b = conf_providers(ctl->conf); b != NULL; b = b->next) {
		if (!is_webpush(b) || (id != NULL && strcmp(b->key, id) != 0))
			continue;
		f = cfg_find(b->children, "vapid-key-file");
		if (f == NULL || f->value == NULL ||
		    f->value->type != CFG_STRING) {
			json_object_put(keys);
			return ctl_fail(CTL_CONFIG, "provider '%s' in %s has no "
			    "vapid-key-file", b->key, ctl->conf_path);
		}
		if ((pub = vapid_public(b->key, f->value->str, &rc)) == NULL) {
			json_object_put(keys);
			return rc;
		}
		k = json_object_new_object();
		json_object_object_add(k, "provider",
		    json_object_new_string(b->key));
		json_object_object_add(k, "key_file",
		    json_object_new_string(f->value->str));
		json_object_object_add(k, "public_key",
		    json_object_new_string(pub));
		json_object_array_add(keys, k);
		free(pub);
		n++;
	}
	if (n == 0) {
		json_object_put(keys);
		return ctl_fail(CTL_NOTFOUND, id != NULL ? "no webpush "
		    "provider '%s' in %s" : "no webpush provider%s in %s",
		    id != NULL ? id : "", ctl->conf_path);
	}
	o = json_object_new_object();
	json_object_object_add(o, "keys", keys);
	ctl_emit(ctl, o, vapid_human);
	return CTL_OK;
}
