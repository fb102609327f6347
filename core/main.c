/*
 * xpushd: an XEP-0357 push App Server.  Command line, signals, the event
 * loop, configuration reload and graceful stop.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/disco.h"
#include "core/link.h"
#include "core/log.h"
#include "core/options.h"
#include "core/router.h"
#include "core/xmalloc.h"
#include "core/xpushd.h"

#define XPUSHD_DEFAULT_CONF	SYSCONFDIR "/xpushd/xpushd.conf"
#define XPUSHD_STOP_TIMEOUT	10	/* seconds to drain before exiting */
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
usage(void)
{
	fprintf(stderr, "usage: xpushd [-dfhtV] [-c file] [--migrate]\n"
	    "  -c file    configuration file (default %s)\n"
	    "  -d         debug logging\n"
	    "  -f         stay in the foreground and log to stderr\n"
	    "  -t         check the configuration and exit\n"
	    "  -V         print the version and exit\n"
	    "  --migrate  apply pending database migrations and exit\n",
	    XPUSHD_DEFAULT_CONF);
	exit(1);
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
	return conf_load(path, options_check_provider_basic, error_r);
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
	}
}

/*
 * The component: the link, the router and the handlers on it.  On SIGHUP
 * the link reconnects only when its own settings changed.
 */
static struct link *component_link;

static int
component_reload_cb(void *arg, const struct xp_conf *next, char **error_r)
{
	struct link_settings set;

	link_settings_from_conf(&set, next);
	link_reconfigure(component_link, &set);
	link_settings_clear(&set);
	disco_reconfigure(next);
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
	if (router_pending() > 0)
		log_info("answering %zu requests in flight before closing",
		    router_pending());
	router_when_idle(component_idle_cb, cs);
}

static void
component_start(void)
{
	struct link_settings set;

	link_settings_from_conf(&set, xpd->conf);
	component_link = link_new(xpd->base, &set, router_dispatch, NULL, NULL);
	link_settings_clear(&set);
	router_init(xpd->base, component_link);
	disco_init(xpd->conf);
	daemon_on_reload(component_reload_cb, NULL);
	daemon_on_stop(component_stop_cb, NULL);
	link_start(component_link);
}

static void
component_free(void)
{
	router_shutdown();
	disco_shutdown();
	link_free(&component_link);
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
	const int signals[] = { SIGHUP, SIGTERM, SIGINT };
	struct event *sigev[sizeof(signals) / sizeof(signals[0])];
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
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();

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
		log_warnx("--migrate: the database store is not built yet");
		return 1;
	}

	if (!foreground && daemon(0, 0) == -1)
		fatal("daemon");
	signal(SIGPIPE, SIG_IGN);
	if ((xpd->base = event_base_new()) == NULL)
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

	event_base_dispatch(xpd->base);

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
