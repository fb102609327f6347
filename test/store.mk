# test/: the PostgreSQL layer, the store's statements, the migrations and
# the registry.  The TAP binaries need a database, so TESTS lists wrapper
# scripts that start a throwaway cluster (test/lib/pg.sh), run one binary
# and stop the cluster.
XP_STORE_TEST_SRCS = core/pg.c core/pg.h core/store.c core/store.h \
	core/migrate.c core/migrate.h core/registry.c core/registry.h \
	core/rand.c core/rand.h \
	core/devcache.c core/devcache.h core/siphash.c core/siphash.h \
	core/log.c core/log.h core/xmalloc.c core/xmalloc.h \
	test/tap.h test/lib/store_util.h
XP_STORE_TEST_LIBS = xml/libxpxml.a $(LIBEVENT_LIBS) $(LIBPQ_LIBS)

check_PROGRAMS += test/store_test test/store_migrate_test \
	test/store_cluster_test test/store_outage_test test/rand_test \
	test/devcache_test test/registry_test
test_store_test_SOURCES = test/store_test.c $(XP_STORE_TEST_SRCS)
test_store_test_LDADD = $(XP_STORE_TEST_LIBS)
test_store_migrate_test_SOURCES = test/store_migrate_test.c \
	$(XP_STORE_TEST_SRCS)
test_store_migrate_test_LDADD = $(XP_STORE_TEST_LIBS)
test_store_cluster_test_SOURCES = test/store_cluster_test.c \
	$(XP_STORE_TEST_SRCS)
test_store_cluster_test_LDADD = $(XP_STORE_TEST_LIBS)
test_store_outage_test_SOURCES = test/store_outage_test.c \
	$(XP_STORE_TEST_SRCS)
test_store_outage_test_LDADD = $(XP_STORE_TEST_LIBS)
test_registry_test_SOURCES = test/registry_test.c $(XP_STORE_TEST_SRCS)
test_registry_test_LDADD = $(XP_STORE_TEST_LIBS)
test_rand_test_SOURCES = test/rand_test.c core/rand.c core/rand.h \
	core/log.c core/xmalloc.c test/tap.h

# The cache alone, without a database.
test_devcache_test_SOURCES = test/devcache_test.c core/devcache.c \
	core/devcache.h core/siphash.c core/siphash.h core/rand.c \
	core/rand.h core/log.c core/xmalloc.c test/tap.h

TESTS += test/rand_test test/devcache_test test/store_test.sh \
	test/store_migrate_test.sh test/store_cluster_test.sh \
	test/store_outage_test.sh test/registry_test.sh
EXTRA_DIST += test/lib/pg.sh test/store_test.sh test/store_migrate_test.sh \
	test/store_cluster_test.sh test/store_outage_test.sh \
	test/registry_test.sh
