# test/apns.mk: the APNs modules.  The mock is a real HTTP/2 +
# TLS server; noinst (not check) so the benchmark can use it too.
noinst_PROGRAMS += test/mock/apns_mock
test_mock_apns_mock_SOURCES = test/mock/apns_mock.c \
	test/mock/h2srv.c test/mock/h2srv.h
test_mock_apns_mock_LDADD = $(OPENSSL_LIBS) $(NGHTTP2_LIBS) \
	$(LIBEVENT_LIBS) $(JSONC_LIBS)

# apns_test dlopens plugins/.libs/apns.so and apns-voip.so, as xpushd does.
check_PROGRAMS += test/integration/apns_test
test_integration_apns_test_SOURCES = test/integration/apns_test.c \
	test/lib/provider_harness.c test/lib/provider_harness.h test/lib/tap.h
test_integration_apns_test_LDADD = $(LIBEVENT_LIBS) $(JSONC_LIBS)
EXTRA_test_integration_apns_test_DEPENDENCIES = plugins/apns.la \
	plugins/apns-voip.la test/mock/apns_mock

TESTS += test/integration/apns_test.sh
EXTRA_DIST += test/integration/apns_test.sh test/lib/apns_certs.sh
