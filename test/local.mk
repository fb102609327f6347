# test/: unit tests (TAP binaries), integration scripts, mocks, bench.
EXTRA_DIST += test/tap.h
