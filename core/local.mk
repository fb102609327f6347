# core/: the daemon.  Everything but main.c goes into libxpcore.a so the
# unit tests can link the modules they exercise.
noinst_LIBRARIES += core/libxpcore.a
core_libxpcore_a_SOURCES = \
	core/log.c core/log.h \
	core/xmalloc.c core/xmalloc.h \
	core/cfg.c core/cfg.h \
	core/options.c core/options.h \
	core/xpushd.h \
	core/link.c core/link.h \
	core/router.c core/router.h \
	core/disco.c core/disco.h \
	core/adhoc.c core/adhoc.h \
	core/commands.c core/commands.h \
	core/p2.c core/p2.h \
	core/certinfo.c core/certinfo.h \
	core/provider.c core/provider.h \
	core/notif.c core/notif.h \
	core/throttle.c core/throttle.h \
	core/clock.h \
	core/publish.c core/publish.h \
	core/push2.c core/push2.h \
	core/stats.c core/stats.h \
	core/metrics.c core/metrics.h \
	core/pg.c core/pg.h core/store.c core/store.h \
	core/migrate.c core/migrate.h core/registry.c core/registry.h \
	core/fpush.c core/fpush.h \
	core/devcache.c core/devcache.h \
	core/siphash.c core/siphash.h \
	core/rand.c core/rand.h \
	core/rest.c core/rest.h \
	core/rest_unregister.c core/rest_unregister.h \
	core/certwatch.c core/certwatch.h \
	core/priv.c core/priv.h \
	core/admins.c core/admins.h \
	core/guard.c core/guard.h

XP_CORE_LIBS = core/libxpcore.a xml/libxpxml.a \
	$(LIBEVENT_LIBS) $(EXPAT_LIBS) $(OPENSSL_LIBS) $(NGHTTP2_LIBS) \
	$(CURL_LIBS) $(JSONC_LIBS) $(LIBPQ_LIBS) $(LTDL_LIBS)
# The provider contract, for modules built out of tree.
pkginclude_HEADERS = plugins/provider.h

AM_CPPFLAGS += $(LIBEVENT_CFLAGS) $(EXPAT_CFLAGS) $(OPENSSL_CFLAGS) \
	$(NGHTTP2_CFLAGS) $(CURL_CFLAGS) $(JSONC_CFLAGS) $(LIBPQ_CFLAGS)

sbin_PROGRAMS += xpushd
xpushd_SOURCES = core/main.c
xpushd_LDADD = $(XP_CORE_LIBS)
