# test/fcm.mk: fcm.so.  fcm_test.sh makes the keys and certificates and
# runs test/integration/fcm_test, which dlopens plugins/.libs/fcm.so and drives
# it against test/mock/fcm_mock.py (Debian: python3-h2, python3-cryptography);
# fcm_cmock_test.sh runs the same test against the C mock, which is also
# the benchmark's FCM (noinst, not check, for that reason, like apns_mock).
noinst_PROGRAMS += test/mock/fcm_mock
test_mock_fcm_mock_SOURCES = test/mock/fcm_mock.c \
	test/mock/h2srv.c test/mock/h2srv.h
test_mock_fcm_mock_LDADD = $(OPENSSL_LIBS) $(NGHTTP2_LIBS) \
	$(LIBEVENT_LIBS) $(JSONC_LIBS)

check_PROGRAMS += test/integration/fcm_test
test_integration_fcm_test_SOURCES = test/integration/fcm_test.c test/lib/tap.h \
	plugins/provider.h
test_integration_fcm_test_CPPFLAGS = $(AM_CPPFLAGS) $(CURL_CFLAGS) \
	$(JSONC_CFLAGS) $(LIBEVENT_CFLAGS)
test_integration_fcm_test_LDADD = $(CURL_LIBS) $(JSONC_LIBS) $(LIBEVENT_LIBS) \
	$(LTDL_LIBS)
EXTRA_test_integration_fcm_test_DEPENDENCIES = plugins/fcm.la test/mock/fcm_mock

TESTS += test/integration/fcm_test.sh test/integration/fcm_cmock_test.sh \
	test/integration/fcm_legacy_test.sh
EXTRA_DIST += test/integration/fcm_test.sh test/integration/fcm_cmock_test.sh \
	test/integration/fcm_legacy_test.sh test/mock/fcm_mock.py
