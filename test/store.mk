# test/: the PostgreSQL layer, the store's statements, the migrations and
# the registry.  The TAP binaries need a database, so TESTS lists wrapper
# scripts that start a throwaway cluster (test/lib/pg.sh), run one binary
# and stop the cluster.
XP_STORE_TEST_SRCS = core/pg.c core/pg.h core/store.c core/store.h \
	core/migrate.c core/migrate.h core/registry.c core/registry.h \
	core/fpush.c core/fpush.h core/options.c core/options.h \
	core/cfg.c core/cfg.h \
	core/rand.c core/rand.h \
	core/devcache.c core/devcache.h core/siphash.c core/siphash.h \
	core/log.c core/log.h core/xmalloc.c core/xmalloc.h \
	test/lib/tap.h test/lib/store_util.h
XP_STORE_TEST_LIBS = xml/libxpxml.a $(LIBEVENT_LIBS) $(LIBPQ_LIBS)

check_PROGRAMS += test/integration/store_test \
	test/integration/store_migrate_test \
	test/integration/store_cluster_test test/integration/store_outage_test \
	test/unit/rand_test test/unit/devcache_test \
	test/integration/registry_test
test_integration_store_test_SOURCES = test/integration/store_test.c \
	$(XP_STORE_TEST_SRCS)
test_integration_store_test_LDADD = $(XP_STORE_TEST_LIBS)
test_integration_store_migrate_test_SOURCES = \
	test/integration/store_migrate_test.c $(XP_STORE_TEST_SRCS)
test_integration_store_migrate_test_LDADD = $(XP_STORE_TEST_LIBS)
test_integration_store_cluster_test_SOURCES = \
	test/integration/store_cluster_test.c $(XP_STORE_TEST_SRCS)
test_integration_store_cluster_test_LDADD = $(XP_STORE_TEST_LIBS)
test_integration_store_outage_test_SOURCES = \
	test/integration/store_outage_test.c $(XP_STORE_TEST_SRCS)
test_integration_store_outage_test_LDADD = $(XP_STORE_TEST_LIBS)
test_integration_registry_test_SOURCES = test/integration/registry_test.c \
	$(XP_STORE_TEST_SRCS)
test_integration_registry_test_LDADD = $(XP_STORE_TEST_LIBS)
test_unit_rand_test_SOURCES = test/unit/rand_test.c core/rand.c core/rand.h \
	core/log.c core/xmalloc.c test/lib/tap.h

# The cache alone, without a database.
test_unit_devcache_test_SOURCES = test/unit/devcache_test.c core/devcache.c \
	core/devcache.h core/siphash.c core/siphash.h core/rand.c \
	core/rand.h core/log.c core/xmalloc.c test/lib/tap.h

TESTS += test/unit/rand_test test/unit/devcache_test \
	test/integration/store_test.sh test/integration/store_migrate_test.sh \
	test/integration/store_cluster_test.sh \
	test/integration/store_outage_test.sh test/integration/registry_test.sh
EXTRA_DIST += test/lib/pg.sh test/integration/store_test.sh \
	test/integration/store_migrate_test.sh \
	test/integration/store_cluster_test.sh \
	test/integration/store_outage_test.sh test/integration/registry_test.sh
