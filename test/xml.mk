# test/xml.mk: unit tests, fuzz targets and benchmark for the xml/ library.
XML_TEST_COMMON = test/unit/xml_common.c test/unit/xml_common.h
XML_TEST_LIBS = xml/libxpxml.a $(EXPAT_LIBS)

XML_TESTS = test/unit/xml_stream_test test/unit/xml_node_test \
	test/unit/xml_jid_test test/unit/xml_form_test
check_PROGRAMS += $(XML_TESTS)
TESTS += $(XML_TESTS)

test_unit_xml_stream_test_SOURCES = test/unit/xml_stream_test.c \
	$(XML_TEST_COMMON)
test_unit_xml_stream_test_LDADD = $(XML_TEST_LIBS)
test_unit_xml_node_test_SOURCES = test/unit/xml_node_test.c $(XML_TEST_COMMON)
test_unit_xml_node_test_LDADD = $(XML_TEST_LIBS)
test_unit_xml_jid_test_SOURCES = test/unit/xml_jid_test.c
test_unit_xml_jid_test_LDADD = $(XML_TEST_LIBS)
test_unit_xml_form_test_SOURCES = test/unit/xml_form_test.c $(XML_TEST_COMMON)
test_unit_xml_form_test_LDADD = $(XML_TEST_LIBS)

EXTRA_DIST += test/fixtures/xml test/fixtures/prosody

# Parse throughput against raw expat; run by hand (see the file's header).
noinst_PROGRAMS += test/bench/xml_bench
test_bench_xml_bench_SOURCES = test/bench/xml_bench.c
test_bench_xml_bench_LDADD = $(XML_TEST_LIBS)

# libFuzzer targets: configure --enable-fuzzing CC=clang, then
# test/fuzz/run.sh test/fuzz/fuzz_stream ...
if FUZZING
noinst_PROGRAMS += test/fuzz/fuzz_stream test/fuzz/fuzz_form \
	test/fuzz/fuzz_jid
test_fuzz_fuzz_stream_SOURCES = test/fuzz/fuzz_stream.c
test_fuzz_fuzz_stream_LDADD = $(XML_TEST_LIBS)
test_fuzz_fuzz_stream_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
test_fuzz_fuzz_form_SOURCES = test/fuzz/fuzz_form.c
test_fuzz_fuzz_form_LDADD = $(XML_TEST_LIBS)
test_fuzz_fuzz_form_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
test_fuzz_fuzz_jid_SOURCES = test/fuzz/fuzz_jid.c
test_fuzz_fuzz_jid_LDADD = $(XML_TEST_LIBS)
test_fuzz_fuzz_jid_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
# The configuration language (core/cfg.c and core/options.c).
noinst_PROGRAMS += test/fuzz/fuzz_cfg
test_fuzz_fuzz_cfg_SOURCES = test/fuzz/fuzz_cfg.c
test_fuzz_fuzz_cfg_LDADD = $(XP_TEST_LDADD)
test_fuzz_fuzz_cfg_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
endif
EXTRA_DIST += test/fuzz/run.sh test/fuzz/xml.dict test/fuzz/cfg.dict \
	test/fuzz/corpus
