/*
 * The statements on devices and certificates (see store.h), over the
 * PostgreSQL layer (core/pg.c), in the manner of Dovecot's sql-api over
 * driver-pgsql: each call here builds one prepared statement's parameters,
 * and a finisher turns its PGresult into the caller's callback.  The store
 * keeps no cache; it passes on what LISTEN hears, and the rows its own
 * deletes returned, to whoever keeps one (core/registry.c).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "core/log.h"
#include "core/pg.h"
#include "core/rand.h"
#include "core/store.h"
#include "core/xmalloc.h"

#define CHANNEL_DEVICES		"xpushd_devices"
#define CHANNEL_CERTS		"xpushd_certificates"

_Static_assert((int)STORE_OK == (int)PG_OK &&
    (int)STORE_NOTFOUND == (int)PG_NOTFOUND &&
    (int)STORE_ETEMP == (int)PG_ETEMP &&
    (int)STORE_EINVAL == (int)PG_EINVAL &&
    (int)STORE_EFAIL == (int)PG_EFAIL,
    "enum store_status must mirror enum pg_status");

struct op;

/* How a finished statement's result reaches the caller. */
typedef void query_finish_fn(struct op *, enum store_status, PGresult *,
    const char *);

enum stmt_id {
	ST_REGISTER,
	ST_UNREGISTER,
	ST_DELETE_NODE,
	ST_FORGET_VOIP,
	ST_LOOKUP_NODE,
	ST_LOOKUP_NODES,
	ST_LOOKUP_TOKEN,
	ST_LIST_OWNER,
	ST_DELETE_OWNER,
	ST_COUNT_PROVIDER,
	ST_MARK_PUSH_MANY,
	ST_MARK_ERROR,
	ST_CERT_GET,
	ST_CERT_PUT,
	ST_CERT_DELETE,
	ST_CERT_LIST,
	ST_CERT_WARN_CLAIM,
	ST_P2_REGISTER,
	ST_P2_UNREGISTER,
	ST_COUNT
};

union op_cb {
	store_done_cb		*done;
	store_device_cb		*device;
	store_devices_cb	*devices;
	store_count_cb		*count;
	store_cert_cb		*cert;
	store_certs_cb		*certs;
};

/* One operation: the user storage of its pg query. */
struct op {
	struct store		*store;
	enum stmt_id		 id;
	union op_cb		 cb;
	void			*arg;
};

struct store {
	struct pg			*pg;
	store_cert_change_cb		*cert_cb;
	void				*cert_arg;
	store_device_change_cb		*dev_cb;
	void				*dev_arg;
	struct store_cache_counters	 cache;
};

static query_finish_fn	finish_device, finish_devices, finish_done,
			finish_count, finish_cert, finish_certs, finish_p2_register;
static void		device_changed(struct store *, enum store_change,
			    const char *);

#define DEVICE_COLS \
	"owner, provider, token, voip_token, node, secret, " \
	"floor(extract(epoch FROM created))::bigint, " \
	"floor(extract(epoch FROM updated))::bigint, " \
	"floor(extract(epoch FROM last_push))::bigint, " \
	"floor(extract(epoch FROM last_error))::bigint, " \
	"last_error_text, p2_device, p2_channel, p2_muc"
#define DEVICE_NCOLS	14	/* then register's (xmax = 0) */
/*
 * DEVICE_COLS as a push needs them: the columns nobody reads then are
 * NULL, in their places.  The time conversions and the wider rows were
 * half of what the batched lookup cost the server (10.3 against 5.4 ms
 * for 1,000 nodes of 1M rows).
 */
#define DEVICE_PUSH_COLS \
	"owner, provider, token, voip_token, node, secret, " \
	"NULL::bigint, NULL::bigint, " \
	"floor(extract(epoch FROM last_push))::bigint, " \
	"NULL::bigint, NULL::text, p2_device, p2_channel, p2_muc"
#define CERT_COLS \
	"provider, pkcs12, password, cert_pem, key_pem, " \
	"floor(extract(epoch FROM not_after))::bigint, " \
	"floor(extract(epoch FROM updated))::bigint"

/*
 * Re-registering keeps node and secret (the conflict branch does not touch
 * them) and replaces the VoIP token with whatever the device sent now.
 * xmax = 0 is true only for a freshly inserted row.
 */
static const struct pg_stmt stmts[ST_COUNT] = {
	[ST_REGISTER] = { "xp_register",
	    "INSERT INTO devices (owner, provider, token, voip_token, node, "
	    "secret) VALUES ($1, $2, $3, $4, $5, $6) "
	    "ON CONFLICT (owner, provider, token) WHERE p2_device IS NULL "
	    "DO UPDATE SET voip_token = EXCLUDED.voip_token, updated = now() "
	    "RETURNING " DEVICE_COLS ", (xmax = 0)", 6 },
	[ST_UNREGISTER] = { "xp_unregister",
	    "DELETE FROM devices WHERE owner = $1 AND provider = $2 AND "
	    "token = $3 AND p2_device IS NULL RETURNING node", 3 },
	[ST_DELETE_NODE] = { "xp_delete_node",
	    "DELETE FROM devices WHERE node = $1 RETURNING node", 1 },
	/*
	 * Only the dead VoIP token: one the device re-registered meanwhile
	 * stays.  The update trigger NOTIFYs the node (voip_token changed).
	 */
	[ST_FORGET_VOIP] = { "xp_forget_voip",
	    "UPDATE devices SET voip_token = NULL, updated = now() "
	    "WHERE node = $1 AND voip_token = $2 RETURNING node", 2 },
	[ST_LOOKUP_NODE] = { "xp_lookup_node",
	    "SELECT " DEVICE_COLS " FROM devices WHERE node = $1", 1 },
	/*
	 * The registry's misses of one event-loop turn, in one round trip
	 * (core/registry.c): one row per node that exists, in no order,
	 * with what a push needs.
	 */
	[ST_LOOKUP_NODES] = { "xp_lookup_nodes",
	    "SELECT " DEVICE_PUSH_COLS " FROM devices "
	    "WHERE node = ANY($1::text[])",
	    1 },
	[ST_LOOKUP_TOKEN] = { "xp_lookup_token",
	    "SELECT " DEVICE_COLS " FROM devices WHERE provider = $1 AND "
	    "token = $2 ORDER BY id", 2 },
	[ST_LIST_OWNER] = { "xp_list_owner",
	    "SELECT " DEVICE_COLS " FROM devices WHERE owner = $1 "
	    "ORDER BY id", 1 },
	[ST_DELETE_OWNER] = { "xp_delete_owner",
	    "DELETE FROM devices WHERE owner = $1 RETURNING node", 1 },
	[ST_COUNT_PROVIDER] = { "xp_count_provider",
	    "SELECT count(*) FROM devices WHERE provider = $1", 1 },
	[ST_MARK_PUSH_MANY] = { "xp_mark_push_many",
	    "UPDATE devices SET last_push = now() WHERE node = ANY($1::text[])",
	    1 },
	[ST_MARK_ERROR] = { "xp_mark_error",
	    "UPDATE devices SET last_error = now(), last_error_text = $2 "
	    "WHERE node = $1", 2 },
	[ST_CERT_GET] = { "xp_cert_get",
	    "SELECT " CERT_COLS " FROM certificates WHERE provider = $1", 1 },
	[ST_CERT_PUT] = { "xp_cert_put",
	    "INSERT INTO certificates (provider, pkcs12, password, cert_pem, "
	    "key_pem, not_after) VALUES ($1, $2, $3, $4, $5, "
	    "to_timestamp($6::bigint)) ON CONFLICT (provider) DO UPDATE SET "
	    "pkcs12 = EXCLUDED.pkcs12, password = EXCLUDED.password, "
	    "cert_pem = EXCLUDED.cert_pem, key_pem = EXCLUDED.key_pem, "
	    "not_after = EXCLUDED.not_after, updated = now()", 6 },
	[ST_CERT_DELETE] = { "xp_cert_delete",
	    "DELETE FROM certificates WHERE provider = $1", 1 },
	[ST_CERT_LIST] = { "xp_cert_list",
	    "SELECT " CERT_COLS " FROM certificates ORDER BY provider", 0 },
	/*
	 * The claim touches a row only when it inserts it or when the last
	 * warning is at least $4 seconds old: of two processes racing, the
	 * second waits for the first's row and then finds it fresh.
	 */
	[ST_CERT_WARN_CLAIM] = { "xp_cert_warn_claim",
	    "INSERT INTO cert_warnings (provider, certificate, level) "
	    "VALUES ($1, $2, $3) ON CONFLICT (provider, certificate, level) "
	    "DO UPDATE SET sent_at = now() WHERE cert_warnings.sent_at <= "
	    "now() - make_interval(secs => $4::bigint)", 4 },
	/*
	 * p2 (core/p2.c): one row per (service, device, channel), as p2
	 * keeps it.  Re-registering keeps node and secret and takes the new
	 * token.  Unregistering with a channel removes that channel's row,
	 * without one every row of the device with that provider.
	 */
	[ST_P2_REGISTER] = { "xp_p2_register",
	    "INSERT INTO devices (owner, provider, token, node, secret, "
	    "p2_device, p2_channel, p2_muc) VALUES ($1, $2, $3, $4, $5, $6, "
	    "$7, $8) ON CONFLICT (provider, p2_device, p2_channel) "
	    "WHERE p2_device IS NOT NULL DO UPDATE SET "
	    "owner = EXCLUDED.owner, token = EXCLUDED.token, "
	    "p2_muc = EXCLUDED.p2_muc, updated = now() "
	    "RETURNING " DEVICE_COLS ", (xmax = 0)", 8 },
	[ST_P2_UNREGISTER] = { "xp_p2_unregister",
	    "DELETE FROM devices WHERE owner = $1 AND provider = $2 AND "
	    "p2_device = $3 AND ($4::text IS NULL OR p2_channel = $4) "
	    "RETURNING node", 4 },
};

static query_finish_fn *const finishers[ST_COUNT] = {
	[ST_REGISTER] = finish_device,
	[ST_UNREGISTER] = finish_done,
	[ST_DELETE_NODE] = finish_done,
	[ST_FORGET_VOIP] = finish_done,
	[ST_LOOKUP_NODE] = finish_device,
	[ST_LOOKUP_NODES] = finish_devices,
	[ST_LOOKUP_TOKEN] = finish_devices,
	[ST_LIST_OWNER] = finish_devices,
	[ST_DELETE_OWNER] = finish_count,
	[ST_COUNT_PROVIDER] = finish_count,
	[ST_MARK_PUSH_MANY] = finish_done,
	[ST_MARK_ERROR] = finish_done,
	[ST_CERT_GET] = finish_cert,
	[ST_CERT_PUT] = finish_done,
	[ST_CERT_DELETE] = finish_done,
	[ST_CERT_LIST] = finish_certs,
	[ST_CERT_WARN_CLAIM] = finish_done,
	[ST_P2_REGISTER] = finish_p2_register,
	[ST_P2_UNREGISTER] = finish_done,
};

static char *
res_str(PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return NULL;
	return PQgetvalue(res, row, col);
}

static time_t
res_time(PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return 0;
	return (time_t)strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* Points into res: valid until PQclear(res). */
static void
device_from_row(struct store_device *d, PGresult *res, int row)
{
	memset(d, 0, sizeof(*d));
	d->owner = res_str(res, row, 0);
	d->provider = res_str(res, row, 1);
	d->token = res_str(res, row, 2);
	d->voip_token = res_str(res, row, 3);
	d->node = res_str(res, row, 4);
	d->secret = res_str(res, row, 5);
	d->created = res_time(res, row, 6);
	d->updated = res_time(res, row, 7);
	d->last_push = res_time(res, row, 8);
	d->last_error = res_time(res, row, 9);
	d->last_error_text = res_str(res, row, 10);
	d->p2_device = res_str(res, row, 11);
	d->p2_channel = res_str(res, row, 12);
	d->p2_muc = res_str(res, row, 13);
	if (PQnfields(res) > DEVICE_NCOLS)
		d->inserted = strcmp(PQgetvalue(res, row, DEVICE_NCOLS),
		    "t") == 0;
}

/* Allocates the PKCS#12 bytes; free cert->pkcs12 afterwards. */
static void
cert_from_row(struct store_cert *c, PGresult *res, int row)
{
	const char *hex;

	memset(c, 0, sizeof(*c));
	c->provider = res_str(res, row, 0);
	if ((hex = res_str(res, row, 1)) != NULL) {
		c->pkcs12 = PQunescapeBytea((const unsigned char *)hex,
		    &c->pkcs12_len);
		if (c->pkcs12 == NULL)
			fatalx("PQunescapeBytea: out of memory");
	}
	c->password = res_str(res, row, 2);
	c->cert_pem = res_str(res, row, 3);
	c->key_pem = res_str(res, row, 4);
	c->not_after = res_time(res, row, 5);
	c->updated = res_time(res, row, 6);
}

/*
 * Finishers: turn a PGresult into the caller's callback.  res is NULL
 * when the query never ran (status says why).
 */

static void
finish_device(struct op *o, enum store_status st, PGresult *res,
    const char *err)
{
	struct store_device d;

	if (st == STORE_OK && PQntuples(res) == 0)
		st = STORE_NOTFOUND;
	if (st != STORE_OK) {
		if (o->cb.device != NULL)
			o->cb.device(o->arg, st, NULL, err != NULL ? err :
			    "no such device");
		return;
	}
	device_from_row(&d, res, 0);
	if (o->cb.device != NULL)
		o->cb.device(o->arg, STORE_OK, &d, NULL);
}

/*
 * A p2 device registering again may bring a new token: this process's
 * cache lets go of the node before the caller hears of it (the NOTIFY
 * tells the others, and us again, later).
 */
static void
finish_p2_register(struct op *o, enum store_status st, PGresult *res,
    const char *err)
{
	if (st == STORE_OK && PQntuples(res) == 1 &&
	    strcmp(PQgetvalue(res, 0, DEVICE_NCOLS), "t") != 0)
		device_changed(o->store, STORE_CHANGED_NODE,
		    PQgetvalue(res, 0, 4));
	finish_device(o, st, res, err);
}

static void
finish_devices(struct op *o, enum store_status st, PGresult *res,
    const char *err)
{
	struct store_device *v;
	int i, n;

	if (st != STORE_OK) {
		if (o->cb.devices != NULL)
			o->cb.devices(o->arg, st, NULL, 0, err);
		return;
	}
	n = PQntuples(res);
	v = xcalloc(n > 0 ? n : 1, sizeof(*v));
	for (i = 0; i < n; i++)
		device_from_row(&v[i], res, i);
	if (o->cb.devices != NULL)
		o->cb.devices(o->arg, STORE_OK, v, n, NULL);
	free(v);
}

/* Rows a write touched; RETURNING node rows are told as changed right
 * away, before the NOTIFY comes round. */
static long long
touched(struct store *s, PGresult *res)
{
	int i;

	if (PQnfields(res) == 1 && strcmp(PQfname(res, 0), "node") == 0) {
		for (i = 0; i < PQntuples(res); i++)
			device_changed(s, STORE_CHANGED_NODE,
			    PQgetvalue(res, i, 0));
		return PQntuples(res);
	}
	return strtoll(PQcmdTuples(res), NULL, 10);
}

static void
finish_done(struct op *o, enum store_status st, PGresult *res,
    const char *err)
{
	struct store *s = o->store;

	if (st == STORE_OK && touched(s, res) == 0) {
		st = STORE_NOTFOUND;
		err = "no such row";
	}
	if (o->cb.done != NULL)
		o->cb.done(o->arg, st, err);
}

static void
finish_count(struct op *o, enum store_status st, PGresult *res,
    const char *err)
{
	long long n = 0;

	if (st == STORE_OK) {
		if (o->id == ST_COUNT_PROVIDER)
			n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		else
			n = touched(o->store, res);
	}
	if (o->cb.count != NULL)
		o->cb.count(o->arg, st, n, err);
}

static void
finish_cert(struct op *o, enum store_status st, PGresult *res,
    const char *err)
{
	struct store_cert c;

	if (st == STORE_OK && PQntuples(res) == 0) {
		st = STORE_NOTFOUND;
		err = "no such certificate";
	}
	if (st != STORE_OK) {
		if (o->cb.cert != NULL)
			o->cb.cert(o->arg, st, NULL, err);
		return;
	}
	cert_from_row(&c, res, 0);
	if (o->cb.cert != NULL)
		o->cb.cert(o->arg, STORE_OK, &c, NULL);
	PQfreemem(c.pkcs12);
}

static void
finish_certs(struct op *o, enum store_status st, PGresult *res,
    const char *err)
{
	struct store_cert *v;
	int i, n;

	if (st != STORE_OK) {
		if (o->cb.certs != NULL)
			o->cb.certs(o->arg, st, NULL, 0, err);
		return;
	}
	n = PQntuples(res);
	v = xcalloc(n > 0 ? n : 1, sizeof(*v));
	for (i = 0; i < n; i++)
		cert_from_row(&v[i], res, i);
	if (o->cb.certs != NULL)
		o->cb.certs(o->arg, STORE_OK, v, n, NULL);
	for (i = 0; i < n; i++)
		PQfreemem(v[i].pkcs12);
	free(v);
}


static void
device_changed(struct store *s, enum store_change what, const char *node)
{
	if (s->dev_cb != NULL)
		s->dev_cb(s->dev_arg, what, node);
}

static void
op_result_cb(void *data, enum pg_status st, PGresult *res, const char *err)
{
	struct op *o = data;

	finishers[o->id](o, (enum store_status)st, res, err);
}

static struct op *
op_new(struct store *s, enum stmt_id id, void *arg, struct pg_query **q_r)
{
	struct op *o;

	*q_r = pg_query_new(s->pg, id, op_result_cb, sizeof(*o));
	o = pg_query_data(*q_r);
	o->store = s;
	o->id = id;
	o->arg = arg;
	return o;
}

/*
 * nodes[0..n) as one text[] literal: a statement over many nodes takes
 * one parameter, whatever n is.
 */
static void
param_nodes(struct pg_query *q, const char *const *nodes, size_t n)
{
	const char *p;
	char *lit, *w;
	size_t i, room = 2;

	if (n == 0)
		fatalx("%s: no nodes", __func__);
	/* Each node quoted, every byte possibly escaped, a comma after. */
	for (i = 0; i < n; i++)
		room += 2 * strlen(nodes[i]) + 3;
	w = lit = xmalloc(room);
	*w++ = '{';
	for (i = 0; i < n; i++) {
		if (i > 0)
			*w++ = ',';
		*w++ = '"';
		for (p = nodes[i]; *p != '\0'; p++) {
			if (*p == '"' || *p == '\\')
				*w++ = '\\';
			*w++ = *p;
		}
		*w++ = '"';
	}
	*w++ = '}';
	*w = '\0';
	pg_query_param(q, lit);
	free(lit);
}

/*
 * LISTEN.
 */

static void
store_notify_cb(void *arg, const char *channel, const char *payload)
{
	struct store *s = arg;

	if (strcmp(channel, CHANNEL_DEVICES) == 0) {
		if (strcmp(payload, "*") == 0)
			device_changed(s, STORE_CHANGED_ALL, NULL);
		else
			device_changed(s, STORE_CHANGED_NODE, payload);
	} else if (strcmp(channel, CHANNEL_CERTS) == 0) {
		log_debug("certificate change: %s", payload);
		if (s->cert_cb != NULL)
			s->cert_cb(s->cert_arg, strcmp(payload, "*") == 0 ?
			    NULL : payload);
	}
}

static void
store_listen_cb(void *arg, enum pg_listen_event ev)
{
	struct store *s = arg;

	switch (ev) {
	case PG_LISTEN_DOWN:
	case PG_LISTEN_UP:
		device_changed(s, STORE_CHANGES_UNSEEN, NULL);
		break;
	case PG_LISTEN_AGAIN:
		/* Missed notifications: trust nothing kept from before. */
		device_changed(s, STORE_CHANGED_ALL, NULL);
		if (s->cert_cb != NULL)
			s->cert_cb(s->cert_arg, NULL);
		break;
	}
}

/*
 * The store.
 */

void
store_conf_defaults(struct store_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	conf->conninfo = "";
	conf->pool_size = 2;
	conf->query_timeout_ms = 5000;
	conf->connect_timeout_ms = 10000;
}

struct store *
store_new(struct event_base *base, const struct store_conf *conf,
    char **err)
{
	static const char *const channels[] = { CHANNEL_DEVICES,
	    CHANNEL_CERTS };
	struct pg_conf pc;
	struct store *s;

	s = xcalloc(1, sizeof(*s));
	memset(&pc, 0, sizeof(pc));
	pc.conninfo = conf->conninfo;
	pc.pool_size = conf->pool_size;
	pc.query_timeout_ms = conf->query_timeout_ms;
	pc.connect_timeout_ms = conf->connect_timeout_ms;
	pc.stmts = stmts;
	pc.nstmts = ST_COUNT;
	pc.channels = channels;
	pc.nchannels = sizeof(channels) / sizeof(channels[0]);
	pc.notify_cb = store_notify_cb;
	pc.listen_cb = store_listen_cb;
	pc.cb_arg = s;
	if ((s->pg = pg_new(base, &pc, err)) == NULL) {
		free(s);
		return NULL;
	}
	return s;
}

void
store_free(struct store **sp)
{
	struct store *s = *sp;

	if (s == NULL)
		return;
	*sp = NULL;
	pg_free(&s->pg);
	free(s);
}

void
store_stats_get(const struct store *s, struct store_stats *st)
{
	struct pg_stats ps;

	pg_stats_get(s->pg, &ps);
	memset(st, 0, sizeof(*st));
	st->queries = ps.queries;
	st->errors = ps.errors;
	st->timeouts = ps.timeouts;
	st->notifications = ps.notifications;
	st->reconnects = ps.reconnects;
	st->connections = ps.connections;
	st->listening = ps.listening;
	st->up = ps.up;
	st->cache_hits = s->cache.hits;
	st->cache_misses = s->cache.misses;
	st->cache_evictions = s->cache.evictions;
	st->cache_entries = s->cache.entries;
}

bool
store_listening(const struct store *s)
{
	return pg_listening(s->pg);
}

struct store_cache_counters *
store_cache_counters(struct store *s)
{
	return &s->cache;
}

void
store_on_device_change(struct store *s, store_device_change_cb *cb,
    void *arg)
{
	s->dev_cb = cb;
	s->dev_arg = arg;
}

const char *
store_status_str(enum store_status st)
{
	switch (st) {
	case STORE_OK:
		return "ok";
	case STORE_NOTFOUND:
		return "not found";
	case STORE_ETEMP:
		return "temporary failure";
	case STORE_EINVAL:
		return "invalid data";
	case STORE_EFAIL:
		return "failure";
	}
	return "?";
}

void
store_on_certificate_change(struct store *s, store_cert_change_cb *cb,
    void *arg)
{
	s->cert_cb = cb;
	s->cert_arg = arg;
}

/*
 * Operations.
 */

void
store_device_register(struct store *s, const char *owner,
    const char *provider, const char *token, const char *voip_token,
    store_device_cb *cb, void *arg)
{
	struct pg_query *q;
	struct op *o = op_new(s, ST_REGISTER, arg, &q);
	char *node, *secret;

	o->cb.device = cb;
	node = rand_id();
	secret = rand_id();
	pg_query_param(q, owner);
	pg_query_param(q, provider);
	pg_query_param(q, token);
	pg_query_param(q, voip_token != NULL && *voip_token != '\0' ?
	    voip_token : NULL);
	pg_query_param(q, node);
	pg_query_param(q, secret);
	free(node);
	free(secret);
	pg_query_submit(q);
}

void
store_p2_register(struct store *s, const struct store_p2_reg *r,
    store_device_cb *cb, void *arg)
{
	struct pg_query *q;
	struct op *o = op_new(s, ST_P2_REGISTER, arg, &q);
	char *id, *node, *secret;

	o->cb.device = cb;
	id = rand_id();
	xasprintf(&node, "%s%s", STORE_P2_NODE_PREFIX, id);
	secret = rand_id();
	pg_query_param(q, r->owner);
	pg_query_param(q, r->provider);
	pg_query_param(q, r->token);
	pg_query_param(q, node);
	pg_query_param(q, secret);
	pg_query_param(q, r->device);
	pg_query_param(q, r->channel != NULL ? r->channel : "");
	pg_query_param(q, r->muc);
	free(id);
	free(node);
	free(secret);
	pg_query_submit(q);
}

void
store_p2_unregister(struct store *s, const char *owner, const char *provider,
    const char *device, const char *channel, store_done_cb *cb, void *arg)
{
	struct pg_query *q;
	struct op *o = op_new(s, ST_P2_UNREGISTER, arg, &q);

	o->cb.done = cb;
	pg_query_param(q, owner);
	pg_query_param(q, provider);
	pg_query_param(q, device);
	pg_query_param(q, channel);
	pg_query_submit(q);
}

void
store_device_unregister(struct store *s, const char *owner,
    const char *provider, const char *token, store_done_cb *cb, void *arg)
{
	struct pg_query *q;
	struct op *o = op_new(s, ST_UNREGISTER, arg, &q);

	o->cb.done = cb;
	pg_query_param(q, owner);
	pg_query_param(q, provider);
	pg_query_param(q, token);
	pg_query_submit(q);
}

void
store_device_delete(struct store *s, const char *node, store_done_cb *cb,
    void *arg)
{
	struct pg_query *q;
	struct op *o = op_new(s, ST_DELETE_NODE, arg, &q);

	o->cb.done = cb;
	pg_query_param(q, node);
	pg_query_submit(q);
}

void
store_device_forget_voip(struct store *s, const char *node,
    const char *voip_token, store_done_cb *cb, void *arg)
{
	struct pg_query *q;
	struct op *o = op_new(s, ST_FORGET_VOIP, arg, &q);

	o->cb.done = cb;
	pg_query_param(q, node);
	pg_query_param(q, voip_token);
	pg_query_submit(q);
}

void
store_device_lookup(struct store *s, const char *node, store_device_cb *cb,
    void *arg)
{
	struct pg_query *q;
	struct op *o = op_new(s, ST_LOOKUP_NODE, arg, &q);

	o->cb.device = cb;
	pg_query_param(q, node);
	pg_query_submit(q);
}

void
store_device_lookup_many(struct store *s, const char *const *nodes,
    size_t n, store_devices_cb *cb, void *arg)
{
	struct pg_query *q;
	struct op *o = op_new(s, ST_LOOKUP_NODES, arg, &q);

	o->cb.devices = cb;
	param_nodes(q, nodes, n);
	pg_query_submit(q);
}

void
store_device_lookup_token(struct store *s, const char *provider,
    const char *token, store_devices_cb *cb, void *arg)
{
	struct pg_query *q;
	struct op *o = op_new(s, ST_LOOKUP_TOKEN, arg, &q);

	o->cb.devices = cb;
	pg_query_param(q, provider);
	pg_query_param(q, token);
	pg_query_submit(q);
}

void
store_device_list_owner(struct store *s, const char *owner,
    store_devices_cb *cb, void *arg)
{
	struct pg_query *q;
	struct op *o = op_new(s, ST_LIST_OWNER, arg, &q);

	o->cb.devices = cb;
	pg_query_param(q, owner);
	pg_query_submit(q);
}

void
store_device_delete_owner(struct store *s, const char *owner,
    store_count_cb *cb, void *arg)
{
	struct pg_query *q;
	struct op *o = op_new(s, ST_DELETE_OWNER, arg, &q);

	o->cb.count = cb;
	pg_query_param(q, owner);
	pg_query_submit(q);
}

void
store_device_count_provider(struct store *s, const char *provider,
    store_count_cb *cb, void *arg)
{
	struct pg_query *q;
	struct op *o = op_new(s, ST_COUNT_PROVIDER, arg, &q);

	o->cb.count = cb;
	pg_query_param(q, provider);
	pg_query_submit(q);
}

/*
 * One UPDATE for many devices: the registry batches last_push writes, as
 * one statement per push would load PostgreSQL as much as the pushes
 * themselves.
 */
void
store_device_mark_pushed(struct store *s, const char *const *nodes,
    size_t n, store_done_cb *cb, void *arg)
{
	struct pg_query *q;
	struct op *o = op_new(s, ST_MARK_PUSH_MANY, arg, &q);

	o->cb.done = cb;
	param_nodes(q, nodes, n);
	pg_query_submit(q);
}

void
store_device_mark_error(struct store *s, const char *node,
    const char *reason, store_done_cb *cb, void *arg)
{
	struct pg_query *q;
	struct op *o = op_new(s, ST_MARK_ERROR, arg, &q);

	o->cb.done = cb;
	pg_query_param(q, node);
	pg_query_param(q, reason);
	pg_query_submit(q);
}

void
store_cert_get(struct store *s, const char *provider, store_cert_cb *cb,
    void *arg)
{
	struct pg_query *q;
	struct op *o = op_new(s, ST_CERT_GET, arg, &q);

	o->cb.cert = cb;
	pg_query_param(q, provider);
	pg_query_submit(q);
}

void
store_cert_put(struct store *s, const struct store_cert *c,
    store_done_cb *cb, void *arg)
{
	struct pg_query *q;
	struct op *o = op_new(s, ST_CERT_PUT, arg, &q);
	char na[32];

	o->cb.done = cb;
	pg_query_param(q, c->provider);
	pg_query_param_bin(q, c->pkcs12, c->pkcs12_len);
	pg_query_param(q, c->password);
	pg_query_param(q, c->cert_pem);
	pg_query_param(q, c->key_pem);
	snprintf(na, sizeof(na), "%lld", (long long)c->not_after);
	pg_query_param(q, c->not_after != 0 ? na : NULL);
	pg_query_submit(q);
}

void
store_cert_delete(struct store *s, const char *provider, store_done_cb *cb,
    void *arg)
{
	struct pg_query *q;
	struct op *o = op_new(s, ST_CERT_DELETE, arg, &q);

	o->cb.done = cb;
	pg_query_param(q, provider);
	pg_query_submit(q);
}

void
store_cert_list(struct store *s, store_certs_cb *cb, void *arg)
{
	struct pg_query *q;
	struct op *o = op_new(s, ST_CERT_LIST, arg, &q);

	o->cb.certs = cb;
	pg_query_submit(q);
}


void
store_cert_warning_claim(struct store *s, const char *provider,
    const char *certificate, const char *level, long long repeat,
    store_done_cb *cb, void *arg)
{
	struct pg_query *q;
	struct op *o = op_new(s, ST_CERT_WARN_CLAIM, arg, &q);
	char secs[32];

	o->cb.done = cb;
	pg_query_param(q, provider);
	pg_query_param(q, certificate);
	pg_query_param(q, level);
	snprintf(secs, sizeof(secs), "%lld", repeat);
	pg_query_param(q, secs);
	pg_query_submit(q);
}
