# test/deb.mk: the Debian package.  deb_test.sh installs and purges a
# package on the machine, so it is not in TESTS: scripts/check.sh runs it as
# a stage of its own (make check TESTS=test/integration/deb_test.sh, as
# root).  deps_test.sh checks debian/control against scripts/deps.list.
TESTS += test/integration/deps_test.sh
EXTRA_DIST += test/integration/deb_test.sh test/integration/deps_test.sh
