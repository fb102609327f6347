/*
 * xpushd: an XEP-0357 push App Server.  Command line, signals, the event
 * loop, configuration reload and graceful stop.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#ifdef HAVE_MALLOC_TRIM
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/adhoc.h"
#include "core/admins.h"
#include "core/certwatch.h"
#include "core/commands.h"
#include "core/disco.h"
#include "core/fpush.h"
#include "core/link.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/migrate.h"
#include "core/options.h"
#include "core/p2.h"
#include "core/priv.h"
#include "core/provider.h"
#include "core/publish.h"
#include "core/push2.h"
#include "core/registry.h"
#include "core/rest.h"
#include "core/rest_unregister.h"
#include "core/router.h"
#include "core/stats.h"
#include "core/store.h"
#include "core/xmalloc.h"
#include "core/xpushd.h"

#define XPUSHD_DEFAULT_CONF	SYSCONFDIR "/xpushd/xpushd.conf"
#define XPUSHD_STOP_TIMEOUT	10	/* seconds to drain before exiting */
#define DAEMON_TRIM_SECONDS	10	/* freed heap handed back this often */
#define XPUSHD_MAX_HOOKS	32

struct hook {
	void	*fn;
	void	*arg;
};

static struct xpushd xpd_storage;
struct xpushd *xpd = &xpd_storage;

static struct hook reload_hooks[XPUSHD_MAX_HOOKS];
static size_t nreload_hooks;
static struct hook stop_hooks[XPUSHD_MAX_HOOKS];
static size_t nstop_hooks, nstop_pending;

static void __attribute__((noreturn))
usage(int status)
{
	fprintf(status == 0 ? stdout : stderr, "usage: xpushd [-dfhtV] [-c file] [--migrate]\n"
	    "  -c file    configuration file (default %s)\n"
	    "  -d         debug logging\n"
	    "  -f         stay in the foreground and log to stderr\n"
	    "  -t         check the configuration and exit\n"
	    "  -V         print the version and exit\n"
	    "  --migrate  apply pending database migrations and exit\n",
	    XPUSHD_DEFAULT_CONF);
	exit(status);
}

void
daemon_on_reload(daemon_reload_fn *fn, void *arg)
{
	if (nreload_hooks == XPUSHD_MAX_HOOKS)
		fatalx("too many reload hooks");
	reload_hooks[nreload_hooks].fn = (void *)fn;
	reload_hooks[nreload_hooks++].arg = arg;
}

void
daemon_on_stop(daemon_stop_fn *fn, void *arg)
{
	if (nstop_hooks == XPUSHD_MAX_HOOKS)
		fatalx("too many stop hooks");
	stop_hooks[nstop_hooks].fn = (void *)fn;
	stop_hooks[nstop_hooks++].arg = arg;
}

static struct xp_conf *
load_conf(const char *path, char **error_r)
{
	struct xp_conf *conf;

	if ((conf = conf_load(path, options_check_provider_basic, error_r))
	    == NULL)
		return NULL;
	if (providers_check(conf, error_r) == -1 ||
	    fpush_check_conf(conf, error_r) == -1 ||
	    rest_check_conf(conf, error_r) == -1 ||
	    p2_check_conf(conf, error_r) == -1 ||
	    push2_check_conf(conf, error_r) == -1) {
		conf_free(&conf);
		return NULL;
	}
	return conf;
}

static const char *
migrations_dir(const struct xp_conf *conf)
{
	const char *d = conf_str(conf, "database", "migrations");

	return d != NULL && *d != '\0' ? d : PKGDATADIR "/sql/migrations";
}

/*
 * SIGHUP: a new file that does not load, or that a subsystem refuses,
 * leaves the running configuration in place.
 */
static void
daemon_reload(void)
{
	struct xp_conf *next;
	char *err = NULL;
	size_t i;

	log_info("reloading %s", xpd->conf_path);
	if ((next = load_conf(xpd->conf_path, &err)) == NULL) {
		log_warnx("reload refused, keeping the running configuration: "
		    "%s", err);
		free(err);
		return;
	}
	for (i = 0; i < nreload_hooks; i++) {
		daemon_reload_fn *fn = (daemon_reload_fn *)reload_hooks[i].fn;

		if (fn(reload_hooks[i].arg, next, &err) == -1) {
			log_warnx("reload refused, keeping the running "
			    "configuration: %s", err);
			free(err);
			conf_free(&next);
			return;
		}
	}
	conf_free(&xpd->conf);
	xpd->conf = next;
	log_info("configuration reloaded");
}

static void
daemon_stop_done(void *arg)
{
	if (nstop_pending > 0 && --nstop_pending == 0) {
		log_info("drained, exiting");
		event_base_loopexit(xpd->base, NULL);
	}
}

static void
daemon_stop_timeout_cb(evutil_socket_t fd, short events, void *arg)
{
	log_warnx("still busy after %d seconds, exiting anyway",
	    XPUSHD_STOP_TIMEOUT);
	event_base_loopexit(xpd->base, NULL);
}

static struct event *stop_timeout;

static void
daemon_stop(void)
{
	struct timeval tv = { XPUSHD_STOP_TIMEOUT, 0 };
	size_t i;

	if (xpd->stopping) {
		log_info("second stop signal, exiting now");
		event_base_loopbreak(xpd->base);
		return;
	}
	xpd->stopping = true;
	log_info("stopping");
	if (nstop_hooks == 0) {
		event_base_loopexit(xpd->base, NULL);
		return;
	}
	stop_timeout = evtimer_new(xpd->base, daemon_stop_timeout_cb, NULL);
	evtimer_add(stop_timeout, &tv);
	nstop_pending = nstop_hooks;
	for (i = 0; i < nstop_hooks; i++) {
		daemon_stop_fn *fn = (daemon_stop_fn *)stop_hooks[i].fn;

		fn(stop_hooks[i].arg, daemon_stop_done, NULL);
	}
}

#ifdef HAVE_MALLOC_TRIM
/*
 * After a burst (thousands of publishes in flight, each with its stanza)
 * glibc keeps the freed heap in its free lists, and the process stays as
 * large as the burst made it.  malloc_trim gives back every free page,
 * not only the top of the heap; done every DAEMON_TRIM_SECONDS it costs a
 * walk of the free lists and the page faults of the next burst.
 */
static void
daemon_trim_cb(evutil_socket_t fd, short events, void *arg)
{
	malloc_trim(0);
}
#endif

static void
daemon_signal_cb(evutil_socket_t sig, short events, void *arg)
{
	switch (sig) {
	case SIGHUP:
		daemon_reload();
		break;
	case SIGTERM:
	case SIGINT:
		daemon_stop();
		break;
	case SIGUSR1:
		stats_log();
		break;
	}
}

/*
 * The component: the link, the router and the handlers on it.  On SIGHUP
 * the link reconnects only when its own settings changed.
 */
static struct link *component_link;
static struct registry *component_registry;

static void
registry_conf_from(struct registry_conf *rc, const struct xp_conf *conf)
{
	registry_conf_defaults(rc);
	rc->cache_size = (size_t)conf_int(conf, "database", "cache-size");
	rc->require_secret = conf_bool(conf, NULL, "require-secret");
}

/*
 * A reload changed how the link connects: as on SIGTERM, what is in
 * flight is answered on the running stream first, then the stream is
 * closed and made again.  A stream that never goes quiet is closed after
 * COMPONENT_RELINK_MAX seconds all the same.
 */
#define COMPONENT_RELINK_MAX	XPUSHD_STOP_TIMEOUT	/* seconds */

static struct event *relink_timer;

static void
component_relink_now(void *arg)
{
	if (relink_timer != NULL)
		evtimer_del(relink_timer);
	if (xpd->stopping)
		return;
	link_restart(component_link);
}

static void
component_relink_timeout_cb(evutil_socket_t fd, short events, void *arg)
{
	log_warnx("reload: %zu requests still in flight after %d s, "
	    "reconnecting anyway", router_pending(), COMPONENT_RELINK_MAX);
	if (router_pending() > 0)
		router_when_idle(NULL, NULL);	/* forget the wait */
	link_restart(component_link);
}

static void
component_relink(void)
{
	struct timeval tv = { COMPONENT_RELINK_MAX, 0 };

	if (router_pending() > 0)
		log_info("reload: answering %zu requests in flight before "
		    "reconnecting", router_pending());
	if (relink_timer == NULL)
		relink_timer = evtimer_new(xpd->base,
		    component_relink_timeout_cb, NULL);
	evtimer_add(relink_timer, &tv);
	router_when_idle(component_relink_now, NULL);
}

static int
component_reload_cb(void *arg, const struct xp_conf *next, char **error_r)
{
	static const char *const restart_keys[] = { "uri", "pool-size",
	    "cache-size", "query-timeout", "connect-timeout", NULL };
	struct link_settings set;
	struct registry_conf rc;
	size_t i;

	for (i = 0; restart_keys[i] != NULL; i++) {
		const char *k = restart_keys[i];
		const struct opt_entry *oe = options_find("database", k);
		bool same = oe->type == OPT_STRING ?
		    strcmp(conf_str(xpd->conf, "database", k),
		    conf_str(next, "database", k)) == 0 :
		    conf_int(xpd->conf, "database", k) ==
		    conf_int(next, "database", k);

		if (!same)
			log_warnx("reload: database.%s changed; it takes "
			    "effect at the next restart", k);
	}

	link_settings_from_conf(&set, next);
	if (link_reconfigure(component_link, &set))
		component_relink();
	link_settings_clear(&set);
	if (providers_reload(next, error_r) == -1)
		return -1;
	disco_reconfigure(next);
	adhoc_reconfigure(next);
	registry_conf_from(&rc, next);
	registry_reconfigure(component_registry, &rc);
	fpush_reconfigure(next);
	publish_reconfigure(next);
	if (push2_reconfigure(next, error_r) == -1)
		return -1;
	/* Operations: the HTTPS endpoint and the certificate watch. */
	if (rest_reconfigure(next, error_r) == -1)
		return -1;
	admins_reconfigure(next);
	certwatch_reconfigure(next);
	return 0;
}

struct component_stop {
	void	(*done)(void *);
	void	*done_arg;
};

static struct component_stop component_stopping;

static void
component_closed_cb(void *arg)
{
	struct component_stop *cs = arg;

	cs->done(cs->done_arg);
}

static void
component_idle_cb(void *arg)
{
	link_stop(component_link, component_closed_cb, arg);
}

/* Answer what is in flight first, then close the stream. */
static void
component_stop_cb(void *arg, void (*done)(void *), void *done_arg)
{
	struct component_stop *cs = &component_stopping;

	cs->done = done;
	cs->done_arg = done_arg;
	if (relink_timer != NULL)
		evtimer_del(relink_timer);
	if (router_pending() > 0)
		log_info("answering %zu requests in flight before closing",
		    router_pending());
	router_when_idle(component_idle_cb, cs);
}

/* fpush's node shape check: the token check of the block's module. */
static int
component_fpush_token_check(const char *id, const char *token,
    char **error_r)
{
	struct provider *p = provider_find(id);

	if (p == NULL) {
		xasprintf(error_r, "provider %s is not configured", id);
		return -1;
	}
	return provider_check_token(p, token, false, error_r);
}

static void
component_start(void)
{
	struct link_settings set;
	struct store_conf sc;
	struct registry_conf rc;
	char *err = NULL;

	store_conf_defaults(&sc);
	sc.conninfo = conf_str(xpd->conf, "database", "uri");
	sc.pool_size = (int)conf_int(xpd->conf, "database", "pool-size");
	sc.query_timeout_ms = (int)conf_int(xpd->conf, "database",
	    "query-timeout");
	sc.connect_timeout_ms = (int)conf_int(xpd->conf, "database",
	    "connect-timeout");
	if ((xpd->store = store_new(xpd->base, &sc, &err)) == NULL)
		fatalx("database: %s", err);
	registry_conf_from(&rc, xpd->conf);
	if ((component_registry = registry_new(xpd->base, xpd->store, &rc,
	    &err)) == NULL)
		fatalx("%s", err);
	if (providers_start(xpd->base, xpd->store, xpd->conf, &err) == -1)
		fatalx("%s", err);

	link_settings_from_conf(&set, xpd->conf);
	component_link = link_new(xpd->base, &set, router_dispatch, NULL, NULL);
	link_settings_clear(&set);
	router_init(xpd->base, component_link);
	disco_init(xpd->conf);
	adhoc_init(xpd->base, xpd->conf);
	commands_init(xpd->store);
	p2_init(xpd->store);
	fpush_init(xpd->conf, component_fpush_token_check);
	publish_init(xpd->base, component_registry, xpd->conf);
	if (push2_init(xpd->base, xpd->conf, &err) == -1)
		fatalx("%s", err);
	/* Operations: the HTTPS endpoint and the certificate watch. */
	rest_unregister_init(xpd->store);
	metrics_init(xpd->base, xpd->store, component_link);
	if (rest_init(xpd->base, xpd->conf, &err) == -1)
		fatalx("%s", err);
	admins_init(xpd->base, xpd->conf);
	certwatch_init(xpd->base, xpd->store, xpd->conf);
	daemon_on_reload(component_reload_cb, NULL);
	daemon_on_stop(component_stop_cb, NULL);
	link_start(component_link);
}

static void
component_free(void)
{
	rest_shutdown();
	certwatch_shutdown();
	admins_shutdown();
	router_shutdown();
	publish_stop();
	providers_stop();
	publish_shutdown();
	fpush_shutdown();
	push2_shutdown();
	adhoc_shutdown();
	disco_shutdown();
	if (relink_timer != NULL)
		event_free(relink_timer);
	relink_timer = NULL;
	link_free(&component_link);
	registry_free(&component_registry);
	store_free(&xpd->store);
	stats_free();
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "migrate", no_argument, NULL, 'M' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const int signals[] = { SIGHUP, SIGTERM, SIGINT, SIGUSR1 };
	struct event *sigev[sizeof(signals) / sizeof(signals[0])];
	struct event_config *evcfg;
#ifdef HAVE_MALLOC_TRIM
	struct timeval trim_tv = { DAEMON_TRIM_SECONDS, 0 };
	struct event *trim_ev;
#endif
	bool foreground = false, debug = false, check = false;
	bool migrate = false;
	const char *path = XPUSHD_DEFAULT_CONF;
	char *err = NULL;
	size_t i;
	int ch;

	while ((ch = getopt_long(argc, argv, "c:dfhtV", longopts, NULL))
	    != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'd':
			debug = true;
			break;
		case 'f':
			foreground = true;
			break;
		case 't':
			check = true;
			break;
		case 'V':
			printf("xpushd %s\n", PACKAGE_VERSION);
			return 0;
		case 'M':
			migrate = true;
			break;
		case 'h':
			usage(0);
		default:
			usage(1);
		}
	}
	if (optind != argc)
		usage(1);

	/* Checks and one-shot jobs talk to the terminal. */
	log_init(foreground || check || migrate, debug, "xpushd");
	xpd->conf_path = xstrdup(path);
	if ((xpd->conf = load_conf(path, &err)) == NULL) {
		if (check)
			fprintf(stderr, "%s\n", err);
		else
			log_warnx("%s", err);
		free(err);
		return 1;
	}
	if (check) {
		fprintf(stderr, "%s: configuration OK\n", path);
		conf_free(&xpd->conf);
		free(xpd->conf_path);
		return 0;
	}
	if (migrate) {
		int applied = 0;

		if (migrate_run(conf_str(xpd->conf, "database", "uri"),
		    migrations_dir(xpd->conf), 0, &applied, &err) != STORE_OK) {
			fprintf(stderr, "xpushd --migrate: %s\n", err);
			free(err);
			return 1;
		}
		fprintf(stderr, "xpushd --migrate: %d migration%s applied, "
		    "the schema is current\n", applied, applied == 1 ? "" : "s");
		conf_free(&xpd->conf);
		free(xpd->conf_path);
		return 0;
	}
	/*
	 * An outdated schema stops xpushd; an unreachable database does not:
	 * the store reconnects and publishes get wait errors meanwhile.
	 */
	switch (migrate_check(conf_str(xpd->conf, "database", "uri"),
	    migrations_dir(xpd->conf), &err)) {
	case STORE_OK:
		break;
	case STORE_ETEMP:
		log_warnx("database: %s; starting anyway and retrying", err);
		free(err);
		err = NULL;
		break;
	default:
		log_warnx("database: %s", err);
		free(err);
		conf_free(&xpd->conf);
		free(xpd->conf_path);
		return 1;
	}

	if (!foreground && daemon(0, 0) == -1)
		fatal("daemon");
	signal(SIGPIPE, SIG_IGN);
	/*
	 * The changelist folds the enable/disable calls a loop turn makes on
	 * a descriptor (bufferevents switch their write events on and off
	 * around every write) into one epoll_ctl per descriptor and turn.
	 * libevent's caveat, descriptors cloned with dup(2), does not apply:
	 * xpushd dups nothing.
	 */
	if ((evcfg = event_config_new()) == NULL)
		fatalx("event_config_new failed");
	event_config_set_flag(evcfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	xpd->base = event_base_new_with_config(evcfg);
	event_config_free(evcfg);
	if (xpd->base == NULL)
		fatalx("event_base_new failed");
	xpd->started = time(NULL);
	for (i = 0; i < sizeof(signals) / sizeof(signals[0]); i++) {
		sigev[i] = evsignal_new(xpd->base, signals[i],
		    daemon_signal_cb, NULL);
		if (sigev[i] == NULL || evsignal_add(sigev[i], NULL) == -1)
			fatalx("cannot watch signal %d", signals[i]);
	}
	log_info("xpushd %s starting as %s", PACKAGE_VERSION,
	    conf_str(xpd->conf, "xmpp", "jid"));

	component_start();
	/* Everything that needs root is open now. */
	priv_drop(xpd->conf);
#ifdef HAVE_MALLOC_TRIM
	if ((trim_ev = event_new(xpd->base, -1, EV_PERSIST, daemon_trim_cb,
	    NULL)) == NULL || event_add(trim_ev, &trim_tv) == -1)
		fatalx("cannot add the heap trim timer");
#endif

	event_base_dispatch(xpd->base);
#ifdef HAVE_MALLOC_TRIM
	event_free(trim_ev);
#endif

	component_free();
	if (stop_timeout != NULL)
		event_free(stop_timeout);

	for (i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
		event_free(sigev[i]);
	event_base_free(xpd->base);
	conf_free(&xpd->conf);
	free(xpd->conf_path);
	log_info("stopped");
	return 0;
}
