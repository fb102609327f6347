# test/bench.mk: the end-to-end benchmark.  loadgen plays the
# XMPP server; scripts/bench.sh runs the suite, test/bench/bench_test.sh a tiny
# run in `make check` that only keeps the harness working.
noinst_PROGRAMS += test/bench/loadgen
test_bench_loadgen_SOURCES = test/bench/loadgen.c
test_bench_loadgen_CPPFLAGS = $(AM_CPPFLAGS) $(LIBEVENT_CFLAGS) \
	$(OPENSSL_CFLAGS)
test_bench_loadgen_LDADD = $(LIBEVENT_LIBS) $(OPENSSL_LIBS)

TESTS += test/bench/bench_test.sh
EXTRA_DIST += test/bench/bench_test.sh
