# test/webpush.mk: webpush.so.  rfc8291_test reproduces RFC 8291
# Appendix A byte for byte; webpush_module_test.sh drives the module (dlopened
# by test/integration/webpush_module_test) against test/mock/webpush_mock.py,
# which holds the subscriptions' private keys, checks VAPID and decrypts
# every push (Debian: python3-h2, python3-cryptography);
# webpush_test.sh goes through Prosody, PostgreSQL and xpushd.
check_PROGRAMS += test/unit/rfc8291_test
TESTS += test/unit/rfc8291_test
test_unit_rfc8291_test_SOURCES = test/unit/rfc8291_test.c \
	$(XP_WEBPUSH_CRYPTO) test/lib/tap.h
test_unit_rfc8291_test_CPPFLAGS = $(AM_CPPFLAGS) $(OPENSSL_CFLAGS) \
	$(JSONC_CFLAGS)
test_unit_rfc8291_test_LDADD = plugins/lib/libxpplug.la $(OPENSSL_LIBS) \
	$(JSONC_LIBS)

check_PROGRAMS += test/integration/webpush_module_test
test_integration_webpush_module_test_SOURCES = test/integration/webpush_module_test.c \
	$(XP_WEBPUSH_CRYPTO) test/lib/provider_harness.c \
	test/lib/provider_harness.h test/lib/tap.h plugins/provider.h
test_integration_webpush_module_test_CPPFLAGS = $(AM_CPPFLAGS) $(CURL_CFLAGS) \
	$(OPENSSL_CFLAGS) $(JSONC_CFLAGS) $(LIBEVENT_CFLAGS)
test_integration_webpush_module_test_LDADD = plugins/lib/libxpplug.la \
	$(CURL_LIBS) $(OPENSSL_LIBS) $(JSONC_LIBS) $(LIBEVENT_LIBS) \
	$(LTDL_LIBS)
EXTRA_test_integration_webpush_module_test_DEPENDENCIES = plugins/webpush.la \
	xpushd-vapid
TESTS += test/integration/webpush_module_test.sh
EXTRA_DIST += test/integration/webpush_module_test.sh test/mock/webpush_mock.py

TESTS += test/integration/webpush_test.sh
EXTRA_DIST += test/integration/webpush_test.sh
EXTRA_DIST += test/bench/webpush_bench.sh

# libFuzzer: the subscription check (configure --enable-fuzzing CC=clang;
# test/fuzz/run.sh test/fuzz/fuzz_webpush_sub).
if FUZZING
noinst_PROGRAMS += test/fuzz/fuzz_webpush_sub
test_fuzz_fuzz_webpush_sub_SOURCES = test/fuzz/fuzz_webpush_sub.c \
	$(XP_WEBPUSH_CRYPTO)
test_fuzz_fuzz_webpush_sub_CPPFLAGS = $(AM_CPPFLAGS) $(OPENSSL_CFLAGS) \
	$(JSONC_CFLAGS)
test_fuzz_fuzz_webpush_sub_LDADD = plugins/lib/libxpplug.la \
	$(OPENSSL_LIBS) $(JSONC_LIBS)
test_fuzz_fuzz_webpush_sub_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
endif
EXTRA_DIST += test/fuzz/webpush.dict
