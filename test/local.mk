# test/: unit/ (TAP binaries), integration/ (the daemon and its real peers),
# lib/ (what the tests share), mock/, bench/, fuzz/, plugins/, fixtures/.
# The fragments test/*.mk hold one concern each, across those folders.
EXTRA_DIST += test/lib/tap.h

XP_TEST_LDADD = $(XP_CORE_LIBS)

check_PROGRAMS += test/unit/cfg_test
TESTS += test/unit/cfg_test
test_unit_cfg_test_LDADD = $(XP_TEST_LDADD)
EXTRA_DIST += test/fixtures/conf

TESTS += test/integration/daemon_test.sh
EXTRA_DIST += test/integration/daemon_test.sh test/lib/tap.sh
include $(srcdir)/test/store.mk
include $(srcdir)/test/xml.mk

TESTS += test/integration/link_fake_test.py \
	test/integration/link_prosody_test.sh \
	test/integration/link_reload_test.sh
check_PROGRAMS += test/unit/link_backoff_test
TESTS += test/unit/link_backoff_test
test_unit_link_backoff_test_LDADD = $(XP_TEST_LDADD)
EXTRA_DIST += test/integration/link_fake_test.py \
	test/integration/link_prosody_test.sh test/lib/taplib.py \
	test/integration/link_reload_test.sh test/integration/link_reload_run.py \
	test/lib/xptest.py test/lib/client.py test/lib/prosody.sh
include $(srcdir)/test/fcm.mk
include $(srcdir)/test/webpush.mk

# A provider module for the pipeline tests (not installed).
check_LTLIBRARIES += test/plugins/testprov.la
test_plugins_testprov_la_SOURCES = test/plugins/testprov.c
test_plugins_testprov_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere
test_plugins_testprov_la_LIBADD = $(LIBEVENT_LIBS)
# Modules the loader must refuse (test/plugins/badmod.c).
check_LTLIBRARIES += test/plugins/badabi.la test/plugins/badnosym.la \
	test/plugins/badnosend.la
XP_BADMOD_LDFLAGS = -module -avoid-version -shared -rpath /nowhere
test_plugins_badabi_la_SOURCES = test/plugins/badmod.c
test_plugins_badabi_la_CPPFLAGS = $(AM_CPPFLAGS) -DBADMOD_ABI=1
test_plugins_badabi_la_LDFLAGS = $(XP_BADMOD_LDFLAGS)
test_plugins_badnosym_la_SOURCES = test/plugins/badmod.c
test_plugins_badnosym_la_CPPFLAGS = $(AM_CPPFLAGS) -DBADMOD_NOSYM
test_plugins_badnosym_la_LDFLAGS = $(XP_BADMOD_LDFLAGS)
test_plugins_badnosend_la_SOURCES = test/plugins/badmod.c
test_plugins_badnosend_la_CPPFLAGS = $(AM_CPPFLAGS) -DBADMOD_NOSEND
test_plugins_badnosend_la_LDFLAGS = $(XP_BADMOD_LDFLAGS)

# The loader's refusals and the dispatch layer's rules.
check_PROGRAMS += test/integration/provider_test
TESTS += test/integration/provider_test
test_integration_provider_test_LDADD = $(XP_TEST_LDADD)
EXTRA_test_integration_provider_test_DEPENDENCIES = test/plugins/testprov.la \
	test/plugins/badabi.la test/plugins/badnosym.la \
	test/plugins/badnosend.la
include $(srcdir)/test/apns.mk

TESTS += test/integration/publish_test.sh
EXTRA_DIST += test/integration/publish_test.sh test/integration/publish_run.py \
	test/lib/fakexmpp.py
TESTS += test/integration/push2_test.sh
EXTRA_DIST += test/integration/push2_test.sh test/integration/push2_run.py
include $(srcdir)/test/bench.mk
include $(srcdir)/test/man.mk

check_PROGRAMS += test/unit/notif_test test/unit/throttle_test
TESTS += test/unit/notif_test test/unit/throttle_test
test_unit_notif_test_SOURCES = test/unit/notif_test.c core/notif.c core/notif.h
test_unit_notif_test_LDADD = xml/libxpxml.a $(EXPAT_LIBS)
test_unit_throttle_test_LDADD = $(XP_TEST_LDADD)
TESTS += test/integration/e2e_test.sh
EXTRA_DIST += test/integration/e2e_test.sh test/lib/e2e.sh \
	test/lib/prosody-modules
# The same world with ejabberd's mod_push as the XMPP server.
TESTS += test/integration/e2e_ejabberd_test.sh
EXTRA_DIST += test/integration/e2e_ejabberd_test.sh test/lib/ejabberd.sh
# fpush (Monal, Quicksy iOS): the apps' enable through the XMPP server.
TESTS += test/integration/fpush_test.sh \
	test/integration/fpush_ejabberd_test.sh \
	test/integration/fpush_pipeline_test.sh
EXTRA_DIST += test/integration/fpush_test.sh \
	test/integration/fpush_ejabberd_test.sh \
	test/integration/fpush_pipeline_test.sh \
	test/integration/fpush_pipeline_run.py
include $(srcdir)/test/rest.mk

# The mass-deletion guard's arithmetic on a fake clock.
check_PROGRAMS += test/unit/guard_test
TESTS += test/unit/guard_test
test_unit_guard_test_SOURCES = test/unit/guard_test.c core/guard.c \
	core/guard.h

# Dead-token counters by reason, bounded.
check_PROGRAMS += test/unit/stats_test
TESTS += test/unit/stats_test
test_unit_stats_test_LDADD = $(XP_TEST_LDADD)

# p2 (Conversations and its forks): the fingerprint, then the whole world.
TESTS += test/integration/p2_test.sh test/integration/p2_ejabberd_test.sh
EXTRA_DIST += test/integration/p2_test.sh test/integration/p2_ejabberd_test.sh

check_PROGRAMS += test/unit/p2_test
TESTS += test/unit/p2_test
test_unit_p2_test_LDADD = $(XP_TEST_LDADD)
include $(srcdir)/test/ctl.mk
include $(srcdir)/test/deb.mk
include $(srcdir)/test/apps.mk
