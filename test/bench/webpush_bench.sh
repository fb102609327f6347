#!/bin/sh
# test/bench/webpush_bench.sh: the Web Push benchmark (BENCHMARKS.md, "Web
# Push").  Builds webpush.so and test/integration/webpush_module_test in an
# optimised build without sanitizers ($XPUSHD_BENCH_BUILD, default
# build-bench/, configured as scripts/bench.sh does when missing), runs
# the module test with N pushes (default 5000) against the Web Push mock
# and prints its JSON line: pushes/s (the Python mock's pace), CPU per push
# of the module's process, and the RFC 8291 encryption's cost with the
# ephemeral key pair's and the ECDH's shares.  The line is also appended to
# $XPUSHD_BENCH_OUT when set.
#
#	test/bench/webpush_bench.sh [N]
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${XPUSHD_BENCH_BUILD:-$top/build-bench}
n=${1:-5000}
die() { echo "webpush_bench: $*" >&2; exit 1; }

if [ ! -f "$BUILD/Makefile" ]; then
	mkdir -p "$BUILD" &&
	(cd "$BUILD" && "$top/configure" CFLAGS="-O2 -g" >configure.out 2>&1) ||
	    die "configure failed: see $BUILD/configure.out"
fi
grep -q '^XP_CFLAGS = .*fsanitize' "$BUILD/Makefile" &&
    die "$BUILD is a sanitizer build: numbers would mean nothing"
(cd "$BUILD" && make -j"$(nproc)" plugins/webpush.la xpushd-vapid \
    test/integration/webpush_module_test >make.out 2>&1) ||
    die "build failed: see $BUILD/make.out"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
top_srcdir=$top top_builddir=$BUILD sh \
    "$top/test/integration/webpush_module_test.sh" "$n" >"$tmp/tap" \
    2>"$tmp/log" || die "the module test failed: $(grep '^not ok' "$tmp/tap" | head -n 3)"
sed -n 's/^# bench //p' "$tmp/tap" | tee "$tmp/json"
[ -s "$tmp/json" ] || die "no result line"
[ -n "${XPUSHD_BENCH_OUT:-}" ] && cat "$tmp/json" >>"$XPUSHD_BENCH_OUT"
exit 0
