# test/ctl.mk: xpushctl(8) against PostgreSQL and a running xpushd.
TESTS += test/integration/ctl_test.sh
EXTRA_DIST += test/integration/ctl_test.sh test/integration/ctl_run.py
