/*
 * The certificate watch.  APNs certificates expire after a year and a
 * forgotten renewal silently stops every push to iOS, so xpushd looks at
 * them at start-up and every `cert-check-interval` seconds:
 *
 *   - providers whose module name starts with "apns" and that use
 *     certificate authentication: from `cert-file` (PKCS#12, or PEM with
 *     the key in the file or in `key-file`) or, without a cert-file, from
 *     the certificates table (token authentication has nothing to expire);
 *   - each is loaded with core/certinfo.c, which also proves the material
 *     still opens with its password and that key and certificate match;
 *   - expiring within `cert-expiry-warning` days: a warning in the log;
 *     expired or unloadable: an error, and certwatch_unusable() makes
 *     /health report the provider;
 *   - either way a chat message to every admin from the component's JID
 *     (core/admins.c), once per certificate, level (expiring, expired,
 *     broken) and `cert-warning-repeat` seconds (a day by default), however
 *     many checks, SIGHUPs, restarts and processes there are: before it
 *     sends, a process claims the warning in the cert_warnings table
 *     (store_cert_warning_claim(), an INSERT ... ON CONFLICT that touches
 *     the row only when the last warning is old enough, so of two
 *     processes racing one sends).  The log says it at every check.  A
 *     message that finds the link down waits for it (admins.c); the
 *     claim is made already, so a process stopped before the link came
 *     back loses that day's message.  With the database unreachable the
 *     message is sent unclaimed: a repeated warning beats a lost one.
 *
 * The files are small and local and read with plain stdio, as the
 * providers read them at start-up; the database is asked asynchronously.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include "core/admins.h"
#include "core/certinfo.h"
#include "core/certwatch.h"
#include "core/log.h"
#include "core/provider.h"
#include "core/store.h"
#include "core/xmalloc.h"

/* The tag of the certificate watch's messages to the admins. */
#define CERTWATCH_TAG		"certwatch"
#define CERTWATCH_MAX_FILE	(256 * 1024)	/* bytes of a cert-file */

/* An APNs provider that authenticates with a certificate. */
struct cw_spec {
	char		*provider;
	char		*cert_file;	/* NULL: the database */
	char		*key_file;	/* NULL: the key is in cert_file */
	char		*password;
	struct cw_spec	*next;
};

struct cw_entry {
	char			*provider;
	char			*subject;
	char			*source;
	char			*error;
	char			*certificate;	/* "sha256:<hex>" or "error:" */
	time_t			 not_after;
	enum certwatch_state	 state;
	struct cw_entry		*next;
};

static struct {
	bool			 running;
	struct event_base	*base;
	struct store		*store;
	struct cw_spec		*specs;
	long long		 interval;	/* seconds */
	long long		 warning;	/* seconds */
	long long		 repeat;	/* seconds between warnings */
	struct cw_entry		*entries;	/* the last check's results */
	struct cw_entry		*building;	/* the check under way */
	bool			 busy;		/* waiting for the database */
	unsigned int		 generation;
	struct event		*timer;
} cw;

/* Configuration */

static const char *
block_str(const struct cfg_node *block, const char *key)
{
	const struct cfg_node *n = cfg_find(block->children, key);

	if (n == NULL || n->value == NULL || n->value->type != CFG_STRING ||
	    *n->value->str == '\0')
		return NULL;
	return n->value->str;
}

static void
specs_free(void)
{
	struct cw_spec *s;

	while ((s = cw.specs) != NULL) {
		cw.specs = s->next;
		free(s->provider);
		free(s->cert_file);
		free(s->key_file);
		free(s->password);
		free(s);
	}
}

static void
settings_from_conf(const struct xp_conf *conf)
{
	const struct cfg_node *b;
	struct cw_spec *s, **tail;
	const struct provider *p;
	const char *cert, *key;

	specs_free();
	tail = &cw.specs;
	for (b = conf_providers(conf); b != NULL; b = b->next) {
		if (!conf_block_active(b) || (p = provider_find(b->key)) ==
		    NULL || !provider_has_cap(p, XP_CAP_APNS_CERT))
			continue;
		cert = block_str(b, "cert-file");
		key = block_str(b, "key-file");
		if (cert == NULL && key != NULL)
			continue;	/* token authentication */
		s = xcalloc(1, sizeof(*s));
		s->provider = xstrdup(b->key);
		s->cert_file = cert != NULL ? xstrdup(cert) : NULL;
		s->key_file = cert != NULL && key != NULL ? xstrdup(key) :
		    NULL;
		s->password = xstrdup(block_str(b, "cert-password") != NULL ?
		    block_str(b, "cert-password") : "");
		*tail = s;
		tail = &s->next;
	}
	cw.interval = conf_int(conf, NULL, "cert-check-interval");
	cw.warning = conf_int(conf, NULL, "cert-expiry-warning") * 86400;
	cw.repeat = conf_int(conf, NULL, "cert-warning-repeat");
}

/* Results */

static void
entry_free(struct cw_entry *e)
{
	free(e->provider);
	free(e->subject);
	free(e->source);
	free(e->error);
	free(e->certificate);
	free(e);
}

static void
entries_free(struct cw_entry **list)
{
	struct cw_entry *e;

	while ((e = *list) != NULL) {
		*list = e->next;
		entry_free(e);
	}
}

static void
entry_add(struct cw_entry *e)
{
	struct cw_entry **tail;

	for (tail = &cw.building; *tail != NULL; tail = &(*tail)->next)
		;
	*tail = e;
}

static struct cw_entry *
entry_copy(const struct cw_entry *e)
{
	struct cw_entry *c = xcalloc(1, sizeof(*c));

	c->provider = xstrdup(e->provider);
	c->subject = e->subject != NULL ? xstrdup(e->subject) : NULL;
	c->source = xstrdup(e->source);
	c->error = e->error != NULL ? xstrdup(e->error) : NULL;
	c->certificate = e->certificate != NULL ? xstrdup(e->certificate) :
	    NULL;
	c->not_after = e->not_after;
	c->state = e->state;
	return c;
}

/* What names the certificate in the cert_warnings table. */
static void
fingerprint(const X509 *cert, struct cw_entry *e)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len, i;
	char *hex;

	if (X509_digest(cert, EVP_sha256(), md, &len) != 1) {
		ERR_clear_error();
		return;
	}
	hex = xmalloc(sizeof("sha256:") + 2 * len);
	memcpy(hex, "sha256:", sizeof("sha256:") - 1);
	for (i = 0; i < len; i++)
		snprintf(hex + sizeof("sha256:") - 1 + 2 * i, 3, "%02x",
		    md[i]);
	free(e->certificate);
	e->certificate = hex;
}

/*
 * The subject, expiry and fingerprint of the certificate alone, without the checks of
 * certinfo_load(), which refuses expired material: for the message about
 * a certificate that certinfo_load() turned down.
 */
static void
peek_cert(const unsigned char *pkcs12, size_t len, const char *password,
    const char *cert_pem, struct cw_entry *e)
{
	const unsigned char *p = pkcs12;
	const ASN1_TIME *na;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	PKCS12 *p12;
	struct tm tm;
	BUF_MEM *bm;
	BIO *bio;

	if (pkcs12 != NULL) {
		if ((p12 = d2i_PKCS12(NULL, &p, (long)len)) != NULL) {
			PKCS12_parse(p12, password, &key, &cert, NULL);
			PKCS12_free(p12);
		}
		EVP_PKEY_free(key);
	} else if (cert_pem != NULL) {
		bio = BIO_new_mem_buf(cert_pem, -1);
		cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		BIO_free(bio);
	}
	ERR_clear_error();
	if (cert == NULL)
		return;
	fingerprint(cert, e);
	na = X509_get0_notAfter(cert);
	if (ASN1_TIME_to_tm(na, &tm) == 1)
		e->not_after = timegm(&tm);
	bio = BIO_new(BIO_s_mem());
	X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0,
	    XN_FLAG_RFC2253);
	BIO_get_mem_ptr(bio, &bm);
	free(e->subject);
	e->subject = xstrndup(bm->data, bm->length);
	BIO_free(bio);
	X509_free(cert);
}

static void
judge(struct cw_entry *e, const unsigned char *pkcs12, size_t len,
    const char *password, const char *cert_pem, const char *key_pem)
{
	struct certinfo ci;
	char *err = NULL;
	time_t now = time(NULL);

	peek_cert(pkcs12, len, password, cert_pem, e);
	if (certinfo_load(pkcs12, len, password, cert_pem, key_pem, &ci,
	    &err) == 0) {
		free(e->subject);
		e->subject = xstrdup(ci.subject != NULL ? ci.subject : "?");
		e->not_after = ci.not_after;
		certinfo_clear(&ci);
	} else {
		certinfo_clear(&ci);
		e->error = err;
	}
	if (e->not_after != 0 && e->not_after <= now)
		e->state = CERTWATCH_EXPIRED;
	else if (e->error != NULL)
		e->state = CERTWATCH_BROKEN;
	else if (e->not_after - now < cw.warning)
		e->state = CERTWATCH_EXPIRING;
	else
		e->state = CERTWATCH_OK;
}

/* The file's bytes, NUL-terminated, or NULL with *error_r. */
static char *
read_file(const char *path, size_t *len_r, char **error_r)
{
	char *buf;
	size_t len;
	FILE *f;

	if ((f = fopen(path, "rb")) == NULL) {
		xasprintf(error_r, "cannot open %s: %s", path,
		    strerror(errno));
		return NULL;
	}
	buf = xmalloc(CERTWATCH_MAX_FILE + 1);
	len = fread(buf, 1, CERTWATCH_MAX_FILE + 1, f);
	if (ferror(f) || len > CERTWATCH_MAX_FILE) {
		xasprintf(error_r, "cannot read %s: %s", path, ferror(f) ?
		    strerror(errno) : "larger than 256 KiB");
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	buf[len] = '\0';
	*len_r = len;
	return buf;
}

static void
check_file(const struct cw_spec *s)
{
	struct cw_entry *e = xcalloc(1, sizeof(*e));
	char *data, *key = NULL;
	size_t len, klen;

	e->provider = xstrdup(s->provider);
	e->source = xstrdup(s->cert_file);
	if ((data = read_file(s->cert_file, &len, &e->error)) == NULL) {
		e->state = CERTWATCH_BROKEN;
		entry_add(e);
		return;
	}
	if (strstr(data, "-----BEGIN") != NULL) {
		if (s->key_file != NULL &&
		    (key = read_file(s->key_file, &klen, &e->error)) == NULL) {
			e->state = CERTWATCH_BROKEN;
			peek_cert(NULL, 0, NULL, data, e);
		} else
			judge(e, NULL, 0, s->password, data,
			    key != NULL ? key : data);
	} else
		judge(e, (unsigned char *)data, len, s->password, NULL, NULL);
	free(data);
	free(key);
	entry_add(e);
}

static void
check_row(const struct cw_spec *s, const struct store_cert *c)
{
	struct cw_entry *e = xcalloc(1, sizeof(*e));

	e->provider = xstrdup(s->provider);
	e->source = xstrdup("database");
	judge(e, c->pkcs12, c->pkcs12_len, c->password != NULL ?
	    c->password : "", c->cert_pem, c->key_pem);
	entry_add(e);
}

/* Messages */

static char *
describe(const struct cw_entry *e)
{
	char date[64], left[64];
	struct tm tm;
	long long secs = (long long)(e->not_after - time(NULL));

	date[0] = '\0';
	if (e->not_after != 0) {
		gmtime_r(&e->not_after, &tm);
		strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", &tm);
	}
	if (secs >= 2 * 86400)
		snprintf(left, sizeof(left), "in %lld days", secs / 86400);
	else
		snprintf(left, sizeof(left), "in %lld hours", secs / 3600);
	switch (e->state) {
	case CERTWATCH_EXPIRING:
		return xprintf("xpushd: the APNs certificate of provider '%s' "
		    "(%s, from %s) expires on %s, %s. Renew it and install "
		    "the new one (set-apns-certificate or cert-file).",
		    e->provider, e->subject, e->source, date, left);
	case CERTWATCH_EXPIRED:
		return xprintf("xpushd: the APNs certificate of provider '%s' "
		    "(%s, from %s) expired on %s: pushes through '%s' fail "
		    "until a renewed certificate is installed.", e->provider,
		    e->subject != NULL ? e->subject : "subject unreadable",
		    e->source, date, e->provider);
	case CERTWATCH_BROKEN:
		return xprintf("xpushd: the APNs certificate of provider '%s' "
		    "(%s, from %s) does not load: %s.", e->provider,
		    e->subject != NULL ? e->subject : "subject unreadable",
		    e->source, e->error);
	case CERTWATCH_OK:
		break;
	}
	return NULL;
}

/* The check */

static const char *const level_names[] = {
	[CERTWATCH_OK] = "ok",
	[CERTWATCH_EXPIRING] = "expiring",
	[CERTWATCH_EXPIRED] = "expired",
	[CERTWATCH_BROKEN] = "broken",
};

/* A warning waiting for its claim. */
struct cw_claim {
	char		*provider;
	char		*level;
	char		*text;
};

static void
claim_free(struct cw_claim *c)
{
	free(c->provider);
	free(c->level);
	free(c->text);
	free(c);
}

static void
claim_done_cb(void *arg, enum store_status st, const char *msg)
{
	struct cw_claim *c = arg;

	/* A claim made is sent, whatever SIGHUP came meanwhile. */
	if (!cw.running) {
		claim_free(c);
		return;
	}
	switch (st) {
	case STORE_OK:
		admins_tell(CERTWATCH_TAG, c->text);
		break;
	case STORE_NOTFOUND:
		log_debug("certwatch: %s: the admins heard about this %s "
		    "certificate less than %lld s ago: not repeated",
		    c->provider, c->level, cw.repeat);
		break;
	default:
		log_warnx("certwatch: %s: cannot record the warning (%s); "
		    "sending it anyway", c->provider, msg != NULL ? msg :
		    store_status_str(st));
		admins_tell(CERTWATCH_TAG, c->text);
		break;
	}
	claim_free(c);
}

/* Sends text to the admins unless a process did within cw.repeat. */
static void
warn_once(const struct cw_entry *e, const char *text)
{
	struct cw_claim *c = xcalloc(1, sizeof(*c));
	char *id;

	c->provider = xstrdup(e->provider);
	c->level = xstrdup(level_names[e->state]);
	c->text = xstrdup(text);
	if (e->certificate != NULL)
		id = xstrdup(e->certificate);
	else
		id = xprintf("error:%s: %s", e->source, e->error != NULL ?
		    e->error : "unreadable");
	store_cert_warning_claim(cw.store, e->provider, id, c->level,
	    cw.repeat, claim_done_cb, c);
	free(id);
}

static void
check_finish(void)
{
	struct cw_entry *e;
	char *text;

	entries_free(&cw.entries);
	cw.entries = cw.building;
	cw.building = NULL;
	cw.busy = false;
	for (e = cw.entries; e != NULL; e = e->next) {
		if ((text = describe(e)) == NULL) {
			log_debug("certwatch: %s: %s valid until %lld",
			    e->provider, e->subject, (long long)e->not_after);
			continue;
		}
		if (e->state == CERTWATCH_EXPIRING)
			log_warnx("certwatch: %s", text);
		else
			log_warnx("certwatch: error: %s", text);
		warn_once(e, text);
		free(text);
	}
}

static void
certs_listed_cb(void *arg, enum store_status st, const struct store_cert *c,
    size_t n, const char *msg)
{
	const struct cw_spec *s;
	const struct cw_entry *old;
	size_t i;

	if (!cw.running || (unsigned int)(uintptr_t)arg != cw.generation)
		return;
	if (st != STORE_OK && st != STORE_NOTFOUND)
		log_warnx("certwatch: cannot read the certificates from the "
		    "database now (%s); keeping the last results",
		    msg != NULL ? msg : store_status_str(st));
	for (s = cw.specs; s != NULL; s = s->next) {
		if (s->cert_file != NULL)
			continue;
		if (st == STORE_OK || st == STORE_NOTFOUND) {
			for (i = 0; i < n; i++)
				if (strcmp(c[i].provider, s->provider) == 0) {
					check_row(s, &c[i]);
					break;
				}
			continue;
		}
		for (old = cw.entries; old != NULL; old = old->next)
			if (strcmp(old->provider, s->provider) == 0)
				entry_add(entry_copy(old));
	}
	check_finish();
}

static void
check_run(void)
{
	const struct cw_spec *s;
	bool db = false;

	if (cw.busy) {
		log_debug("certwatch: the last check is still waiting for "
		    "the database");
		return;
	}
	entries_free(&cw.building);
	for (s = cw.specs; s != NULL; s = s->next) {
		if (s->cert_file != NULL)
			check_file(s);
		else
			db = true;
	}
	if (!db) {
		check_finish();
		return;
	}
	cw.busy = true;
	store_cert_list(cw.store, certs_listed_cb,
	    (void *)(uintptr_t)cw.generation);
}

static void
certwatch_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	check_run();
}

static void
timer_arm(void)
{
	struct timeval tv;

	tv.tv_sec = (time_t)cw.interval;
	tv.tv_usec = 0;
	event_del(cw.timer);
	event_add(cw.timer, &tv);
}

void
certwatch_init(struct event_base *base, struct store *store,
    const struct xp_conf *conf)
{
	cw.base = base;
	cw.store = store;
	cw.timer = event_new(base, -1, EV_PERSIST, certwatch_timer_cb, NULL);
	if (cw.timer == NULL)
		fatalx("certwatch: event_new failed");
	settings_from_conf(conf);
	cw.running = true;
	timer_arm();
	check_run();
}

void
certwatch_reconfigure(const struct xp_conf *next)
{
	settings_from_conf(next);
	/* A pending database answer belongs to the old settings. */
	cw.generation++;
	cw.busy = false;
	timer_arm();
	check_run();
}

void
certwatch_shutdown(void)
{
	if (!cw.running)
		return;
	cw.running = false;
	event_free(cw.timer);
	cw.timer = NULL;
	admins_withdraw(CERTWATCH_TAG);
	entries_free(&cw.entries);
	entries_free(&cw.building);
	specs_free();
}

void
certwatch_foreach(void (*fn)(void *, const struct certwatch_result *),
    void *arg)
{
	const struct cw_entry *e;
	struct certwatch_result r;

	for (e = cw.entries; e != NULL; e = e->next) {
		r.provider = e->provider;
		r.subject = e->subject;
		r.source = e->source;
		r.not_after = e->not_after;
		r.state = e->state;
		r.error = e->error;
		fn(arg, &r);
	}
}

bool
certwatch_unusable(const char *provider, const char **why_r)
{
	const struct cw_entry *e;

	for (e = cw.entries; e != NULL; e = e->next) {
		if (strcmp(e->provider, provider) != 0)
			continue;
		if (e->state == CERTWATCH_EXPIRED) {
			*why_r = "the APNs certificate has expired";
			return true;
		}
		if (e->state == CERTWATCH_BROKEN) {
			*why_r = "the APNs certificate does not load";
			return true;
		}
	}
	return false;
}
