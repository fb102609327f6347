# test/: unit tests (TAP binaries), integration scripts, mocks, bench.
EXTRA_DIST += test/tap.h

XP_TEST_LDADD = $(XP_CORE_LIBS)

check_PROGRAMS += test/cfg_test
TESTS += test/cfg_test
test_cfg_test_LDADD = $(XP_TEST_LDADD)
EXTRA_DIST += test/fixtures/conf

TESTS += test/daemon_test.sh
EXTRA_DIST += test/daemon_test.sh test/lib/tap.sh
include $(srcdir)/test/store.mk
include $(srcdir)/test/xml.mk

TESTS += test/link_fake_test.py test/link_prosody_test.sh
EXTRA_DIST += test/link_fake_test.py test/link_prosody_test.sh \
	test/lib/taplib.py test/lib/xptest.py test/lib/client.py \
	test/lib/prosody.sh
include $(srcdir)/test/fcm.mk

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
check_PROGRAMS += test/provider_test
TESTS += test/provider_test
test_provider_test_LDADD = $(XP_TEST_LDADD)
EXTRA_test_provider_test_DEPENDENCIES = test/plugins/testprov.la \
	test/plugins/badabi.la test/plugins/badnosym.la \
	test/plugins/badnosend.la
include $(srcdir)/test/apns.mk

TESTS += test/publish_test.sh
EXTRA_DIST += test/publish_test.sh test/publish_run.py test/lib/fakexmpp.py
include $(srcdir)/test/bench.mk
include $(srcdir)/test/man.mk

check_PROGRAMS += test/notif_test test/throttle_test
TESTS += test/notif_test test/throttle_test
test_notif_test_SOURCES = test/notif_test.c core/notif.c core/notif.h
test_notif_test_LDADD = xml/libxpxml.a $(EXPAT_LIBS)
test_throttle_test_LDADD = $(XP_TEST_LDADD)
TESTS += test/e2e_test.sh
EXTRA_DIST += test/e2e_test.sh test/lib/e2e.sh test/prosody
include $(srcdir)/test/rest.mk

# The mass-deletion guard's arithmetic on a fake clock.
check_PROGRAMS += test/guard_test
TESTS += test/guard_test
test_guard_test_SOURCES = test/guard_test.c core/guard.c core/guard.h

# Dead-token counters by reason, bounded.
check_PROGRAMS += test/stats_test
TESTS += test/stats_test
test_stats_test_LDADD = $(XP_TEST_LDADD)
