/*
 * xpushctl cert: APNs client certificates in the certificates table.
 *
 *   set	reads a PKCS#12 file (DER, or base64 as set-apns-certificate
 *		takes it) or PEM (certificate and key in one file or two),
 *		makes the checks set-apns-certificate makes (core/certinfo.c:
 *		the password opens it, the key matches, not expired; the
 *		provider is an APNs provider of this configuration), and
 *		stores it with the same statement (store_cert_put): every
 *		running xpushd reloads it on the NOTIFY that follows.
 *   show	every stored certificate (or one) with subject, topics and
 *		expiry.
 *   check	the same, failing (CTL_FAILED) when one is broken, expired
 *		or expires within cert-expiry-warning days.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/certinfo.h"
#include "core/provider.h"
#include "core/store.h"
#include "core/xmalloc.h"
#include "ctl/ctl.h"

#define CTL_CERT_FILE_MAX	(1024 * 1024)	/* bytes of a file read */
#define CTL_PASSWORD_MAX	1024		/* bytes of a password */
#define CTL_DAY			86400

/* The whole file, NUL-terminated; NULL after saying why (*rc_r). */
static char *
file_slurp(const char *path, size_t max, size_t *len_r, int *rc_r)
{
	FILE *f;
	char *buf;
	size_t n;

	if ((f = fopen(path, "rb")) == NULL) {
		*rc_r = ctl_fail(CTL_NOTFOUND, "%s: %s", path,
		    strerror(errno));
		return NULL;
	}
	buf = xmalloc(max + 2);
	n = fread(buf, 1, max + 1, f);
	if (ferror(f)) {
		*rc_r = ctl_fail(CTL_NOTFOUND, "%s: %s", path,
		    strerror(errno));
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	if (n > max) {
		*rc_r = ctl_fail(CTL_FAILED, "%s: larger than %zu bytes: not a "
		    "certificate", path, max);
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len_r = n;
	return buf;
}

/* The block of provider id, or NULL. */
static const struct cfg_node *
provider_block(const struct ctl *ctl, const char *id)
{
	const struct cfg_node *b;

	for (b = conf_providers(ctl->conf); b != NULL; b = b->next)
		if (strcmp(b->key, id) == 0 && conf_block_active(b))
			return b;
	return NULL;
}

static int
days_left(time_t not_after, time_t now)
{
	return (int)((not_after - now) / CTL_DAY);
}

/* What `cert show` and `cert check` print for one certinfo. */
static void
cert_fields(struct json_object *o, const struct certinfo *ci,
    time_t not_after)
{
	json_object_object_add(o, "subject", ci->subject != NULL ?
	    json_object_new_string(ci->subject) : NULL);
	json_object_object_add(o, "topics", ci->topics != NULL ?
	    json_object_new_string(ci->topics) : NULL);
	json_object_object_add(o, "not_after", ctl_time(not_after));
	json_object_object_add(o, "days_left", not_after != 0 ?
	    json_object_new_int(days_left(not_after, time(NULL))) : NULL);
}

/* set */

struct put_job {
	struct store_cert	 sc;
	struct ctl_wait		*w;
};

static void
put_done_cb(void *arg, enum store_status st, const char *msg)
{
	ctl_wait_done(arg, st, 0, msg);
}

static void
put_start(struct store *s, void *arg)
{
	struct put_job *j = arg;

	store_cert_put(s, &j->sc, put_done_cb, j->w);
}

static void
set_human(struct json_object *o)
{
	printf("stored the certificate of %s: %s", ctl_str(o, "provider"),
	    ctl_str(o, "subject"));
	printf(", valid until %s (%lld days)\n", ctl_str(o, "not_after"),
	    ctl_int(o, "days_left"));
	if (strcmp(ctl_str(o, "topics"), "-") != 0)
		printf("topics: %s\n", ctl_str(o, "topics"));
	printf("every xpushd process switches to it\n");
}

static char *
password_read(const char *path, int *rc_r)
{
	size_t len;
	char *p;

	if ((p = file_slurp(path, CTL_PASSWORD_MAX, &len, rc_r)) == NULL)
		return NULL;
	p[strcspn(p, "\r\n")] = '\0';
	return p;
}

/*
 * The file as certinfo wants it; DER PKCS#12 is read as it is.  CTL_OK,
 * or the exit code after saying why.
 */
static int
cert_read(const char *file, const char *keyfile, const char *password,
    struct certinfo *ci)
{
	char *text, *key, *both, *err = NULL;
	size_t len, klen;
	int rc;

	if ((text = file_slurp(file, CTL_CERT_FILE_MAX, &len, &rc)) == NULL)
		return rc;
	if (len > 0 && (unsigned char)text[0] == 0x30 && keyfile == NULL) {
		/* A SEQUENCE: binary PKCS#12, as Keychain exports it. */
		rc = certinfo_load((unsigned char *)text, len, password, NULL,
		    NULL, ci, &err);
		if (rc == 0) {
			ci->pkcs12 = xmemdup(text, len);
			ci->pkcs12_len = len;
		}
	} else {
		if (strlen(text) != len) {
			free(text);
			return ctl_fail(CTL_FAILED, "%s: neither PKCS#12 nor "
			    "PEM", file);
		}
		if (keyfile != NULL) {
			if ((key = file_slurp(keyfile, CTL_CERT_FILE_MAX,
			    &klen, &rc)) == NULL) {
				free(text);
				return rc;
			}
			both = xprintf("%s\n%s", text, key);
			free(key);
			free(text);
			text = both;
		}
		rc = certinfo_parse(text, password, ci, &err);
	}
	free(text);
	if (rc == -1) {
		ctl_fail(CTL_FAILED, "%s: %s", file, err);
		free(err);
		return CTL_FAILED;
	}
	return CTL_OK;
}

static int
cert_set(struct ctl *ctl, int argc, char **argv)
{
	const struct cfg_node *b;
	struct json_object *o;
	struct certinfo ci;
	struct ctl_wait w;
	struct put_job j;
	unsigned int caps = 0;
	char *password = NULL, *err = NULL;
	int ch, rc;

	optind = 1;
	while ((ch = getopt(argc, argv, "+P:")) != -1) {
		if (ch != 'P' || password != NULL)
			return ctl_fail(CTL_USAGE, "usage: xpushctl cert set "
			    "[-P password-file] PROVIDER FILE [KEY-FILE]");
		if ((password = password_read(optarg, &rc)) == NULL)
			return rc;
	}
	argc -= optind;
	argv += optind;
	if (argc < 2 || argc > 3) {
		free(password);
		return ctl_fail(CTL_USAGE, "usage: xpushctl cert set "
		    "[-P password-file] PROVIDER FILE [KEY-FILE]");
	}
	if ((b = provider_block(ctl, argv[0])) == NULL) {
		free(password);
		return ctl_fail(CTL_NOTFOUND, "no provider '%s' in %s",
		    argv[0], ctl->conf_path);
	}
	if (provider_block_caps(ctl->conf, b, &caps, &err) == -1) {
		free(password);
		ctl_fail(CTL_CONFIG, "%s", err);
		free(err);
		return CTL_CONFIG;
	}
	if ((caps & XP_CAP_APNS_CERT) == 0) {
		free(password);
		return ctl_fail(CTL_FAILED, "provider '%s' is not an APNs "
		    "provider: its module takes no certificate", argv[0]);
	}
	if ((rc = cert_read(argv[1], argc == 3 ? argv[2] : NULL, password,
	    &ci)) != CTL_OK) {
		free(password);
		return rc;
	}
	memset(&w, 0, sizeof(w));
	memset(&j, 0, sizeof(j));
	j.w = &w;
	j.sc.provider = argv[0];
	j.sc.pkcs12 = ci.pkcs12;
	j.sc.pkcs12_len = ci.pkcs12_len;
	j.sc.password = password != NULL && *password != '\0' ? password :
	    NULL;
	j.sc.cert_pem = ci.cert_pem;
	j.sc.key_pem = ci.key_pem;
	j.sc.not_after = ci.not_after;
	rc = ctl_store_run(ctl, put_start, &j, &w);
	if (rc == CTL_OK && w.st != STORE_OK)
		rc = ctl_fail(CTL_DATABASE, "database: %s", w.msg != NULL ?
		    w.msg : store_status_str(w.st));
	if (rc == CTL_OK) {
		o = json_object_new_object();
		json_object_object_add(o, "provider",
		    json_object_new_string(argv[0]));
		cert_fields(o, &ci, ci.not_after);
		ctl_emit(ctl, o, set_human);
	}
	free(w.msg);
	free(password);
	certinfo_clear(&ci);
	return rc;
}

/* show, check */

static struct json_object *
cert_row(struct ctl *ctl, PGresult *res, int row, bool *ok_r)
{
	struct json_object *o = json_object_new_object();
	unsigned char *der = NULL;
	const char *pass, *status;
	struct certinfo ci;
	time_t na;
	size_t len = 0;
	char *err = NULL;
	int warn = (int)conf_int(ctl->conf, NULL, "cert-expiry-warning");

	json_object_object_add(o, "provider",
	    json_object_new_string(PQgetvalue(res, row, 0)));
	json_object_object_add(o, "format", json_object_new_string(
	    PQgetisnull(res, row, 1) ? "pem" : "pkcs12"));
	if (!PQgetisnull(res, row, 1))
		der = PQunescapeBytea((const unsigned char *)PQgetvalue(res,
		    row, 1), &len);
	pass = PQgetisnull(res, row, 2) ? NULL : PQgetvalue(res, row, 2);
	na = PQgetisnull(res, row, 5) ? 0 :
	    (time_t)strtoll(PQgetvalue(res, row, 5), NULL, 10);
	if (certinfo_load(der, len, pass, PQgetisnull(res, row, 3) ? NULL :
	    PQgetvalue(res, row, 3), PQgetisnull(res, row, 4) ? NULL :
	    PQgetvalue(res, row, 4), &ci, &err) == 0) {
		na = ci.not_after;
		status = days_left(na, time(NULL)) < warn ? "expiring" : "ok";
	} else
		status = ci.not_after != 0 && ci.not_after <= time(NULL) ?
		    "expired" : "broken";
	if (ci.not_after != 0)
		na = ci.not_after;
	cert_fields(o, &ci, na);
	json_object_object_add(o, "updated", ctl_time((time_t)strtoll(
	    PQgetvalue(res, row, 6), NULL, 10)));
	json_object_object_add(o, "status", json_object_new_string(status));
	json_object_object_add(o, "error", err != NULL ?
	    json_object_new_string(err) : NULL);
	*ok_r = strcmp(status, "ok") == 0;
	certinfo_clear(&ci);
	PQfreemem(der);
	free(err);
	return o;
}

static void
certs_human(struct json_object *o)
{
	struct json_object *certs, *c;
	size_t i, n;

	json_object_object_get_ex(o, "certificates", &certs);
	n = json_object_array_length(certs);
	if (n == 0) {
		printf("no certificates stored\n");
		return;
	}
	for (i = 0; i < n; i++) {
		c = json_object_array_get_idx(certs, i);
		printf("%s%s: %s (%s)\n", i > 0 ? "\n" : "",
		    ctl_str(c, "provider"), ctl_str(c, "status"),
		    ctl_str(c, "format"));
		printf("  subject    %s\n", ctl_str(c, "subject"));
		printf("  topics     %s\n", ctl_str(c, "topics"));
		printf("  not after  %s (%s days left)\n",
		    ctl_str(c, "not_after"), ctl_str(c, "days_left"));
		printf("  updated    %s\n", ctl_str(c, "updated"));
		if (strcmp(ctl_str(c, "error"), "-") != 0)
			printf("  error      %s\n", ctl_str(c, "error"));
	}
}

static int
cert_list(struct ctl *ctl, int argc, char **argv, bool check)
{
	const char *params[1];
	struct json_object *o, *certs;
	PGresult *res;
	bool ok, all_ok = true;
	int i;

	if (argc > 2)
		return ctl_fail(CTL_USAGE, "usage: xpushctl cert %s "
		    "[PROVIDER]", argv[0]);
	params[0] = argc == 2 ? argv[1] : NULL;
	if ((res = ctl_db_query(ctl, "SELECT provider, pkcs12, password, "
	    "cert_pem, key_pem, floor(extract(epoch FROM not_after))::bigint, "
	    "floor(extract(epoch FROM updated))::bigint FROM certificates "
	    "WHERE $1::text IS NULL OR provider = $1 ORDER BY provider", 1,
	    params)) == NULL)
		return CTL_DATABASE;
	if (argc == 2 && PQntuples(res) == 0) {
		PQclear(res);
		return ctl_fail(CTL_NOTFOUND, "no certificate is stored for "
		    "'%s' (xpushctl cert set %s FILE stores one)", argv[1],
		    argv[1]);
	}
	certs = json_object_new_array();
	for (i = 0; i < PQntuples(res); i++) {
		json_object_array_add(certs, cert_row(ctl, res, i, &ok));
		all_ok = all_ok && ok;
	}
	PQclear(res);
	o = json_object_new_object();
	json_object_object_add(o, "certificates", certs);
	json_object_object_add(o, "expiry_warning_days", json_object_new_int(
	    (int)conf_int(ctl->conf, NULL, "cert-expiry-warning")));
	ctl_emit(ctl, o, certs_human);
	if (check && !all_ok)
		return ctl_fail(CTL_FAILED, "a certificate is broken, expired "
		    "or expires within cert-expiry-warning days: replace it "
		    "with xpushctl cert set");
	return CTL_OK;
}

int
ctl_cert(struct ctl *ctl, int argc, char **argv)
{
	argc--;
	argv++;
	if (strcmp(argv[0], "set") == 0)
		return cert_set(ctl, argc, argv);
	if (strcmp(argv[0], "show") == 0)
		return cert_list(ctl, argc, argv, false);
	if (strcmp(argv[0], "check") == 0)
		return cert_list(ctl, argc, argv, true);
	return ctl_fail(CTL_USAGE, "unknown cert command '%s': set, show or "
	    "check", argv[0]);
}
