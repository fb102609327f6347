# test/man.mk: the documentation and the installation.
# options_dump prints options_table so that man_test.sh can hold
# xpushd.conf(5) against it; install_test.sh runs make install DESTDIR=...
check_PROGRAMS += test/integration/options_dump
test_integration_options_dump_SOURCES = test/integration/options_dump.c \
	core/options.c core/options.h core/cfg.c core/cfg.h \
	core/log.c core/log.h core/xmalloc.c core/xmalloc.h

TESTS += test/integration/man_test.sh test/integration/install_test.sh
EXTRA_DIST += test/integration/man_test.sh test/integration/install_test.sh
