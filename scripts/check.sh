#!/bin/sh
# scripts/check.sh: sets everything up on a Debian 12 machine and runs the
# whole test suite: unit and integration tests under AddressSanitizer and
# UndefinedBehaviorSanitizer, the Debian package's install test (as root),
# short fuzz runs, and make distcheck.  Ends with
# one line "N passed, N failed" and exits non-zero on any failure.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

sh scripts/deps.sh || { echo "0 passed, 1 failed"; exit 1; }

jobs=$(nproc 2>/dev/null || echo 2)
build="$top/build-check"
passed=0
failed=0
skipped=0

step() {	# NAME COMMAND...: one counted step outside make check
	name=$1; shift
	if "$@" >"$build/step.log" 2>&1; then
		passed=$((passed + 1))
		echo "PASS: $name"
	else
		failed=$((failed + 1))
		echo "FAIL: $name"
		tail -40 "$build/step.log" | sed 's/^/    /'
	fi
}

finish() {
	if [ "$skipped" -gt 0 ]; then
		echo "$passed passed, $failed failed, $skipped skipped"
	else
		echo "$passed passed, $failed failed"
	fi
	[ "$failed" -eq 0 ]
	exit $?
}

rm -rf "$build"
mkdir -p "$build" m4
if ! autoreconf -fi >"$build/autoreconf.log" 2>&1; then
	cat "$build/autoreconf.log"
	failed=1
	finish
fi

cd "$build"
if ! "$top/configure" --enable-werror --enable-sanitizers >configure.log 2>&1 ||
   ! make -j"$jobs" >make.log 2>&1; then
	tail -40 configure.log make.log
	failed=1
	finish
fi

# Every test must run here: a missing PostgreSQL or Prosody is a failure.
XPUSHD_REQUIRE_ALL=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	make -j"$jobs" check >check.log 2>&1
grep -E '^(FAIL|ERROR|XPASS)' test-suite.log check.log 2>/dev/null | sort -u | head -40
for f in $(find . -name '*.log' -path './test/*' ! -name test-suite.log); do
	if grep -qE '^(not ok|Bail out)' "$f" 2>/dev/null; then
		echo "--- $f"; grep -E -B2 -A6 '^(not ok|Bail out)' "$f" | head -60
	fi
done
if [ -f test-suite.log ]; then
	count() { sed -n "s/^# $1: *\([0-9]*\)/\1/p" test-suite.log | head -1; }
	passed=$((passed + $(count PASS)))
	failed=$((failed + $(count FAIL) + $(count ERROR) + $(count XPASS)))
	skipped=$((skipped + $(count SKIP)))
else
	tail -40 check.log
	failed=$((failed + 1))
fi

# The Debian package: built from make dist, installed, reinstalled over
# itself, one push through the installed daemon, purged.  It installs a
# package on this machine, so it runs here, as root, and not in make check.
if [ "$(id -u)" -eq 0 ]; then
	step "Debian package (test/integration/deb_test.sh)" sh -c '
		XPUSHD_REQUIRE_ALL=1 make check TESTS=test/integration/deb_test.sh \
		    TEST_SUITE_LOG=deb-suite.log >/dev/null 2>&1 ||
		{ grep -v "^PASS:" test/integration/deb_test.log; false; }'
else
	skipped=$((skipped + 1))
	echo "SKIP: Debian package (installs a package: run check.sh as root)"
fi

# Short fuzz runs of every libFuzzer target, when clang is here.
fuzz_targets="test/fuzz/fuzz_stream test/fuzz/fuzz_form test/fuzz/fuzz_jid test/fuzz/fuzz_cfg
	test/fuzz/fuzz_webpush_sub"
if command -v clang >/dev/null; then
	mkdir -p "$build/fuzz"
	cd "$build/fuzz"
	if "$top/configure" CC=clang --enable-fuzzing --enable-sanitizers >configure.log 2>&1 &&
	   make -j"$jobs" $fuzz_targets >make.log 2>&1; then
		for t in $fuzz_targets; do
			step "fuzz $(basename "$t") ${XPUSHD_FUZZ_SECONDS:-30}s" \
				sh "$top/test/fuzz/run.sh" -t "${XPUSHD_FUZZ_SECONDS:-30}" "$t"
		done
	else
		step "fuzz build" sh -c "tail -30 make.log; false"
	fi
	cd "$build"
fi

# The release tarball builds and passes its own tests.
step "make distcheck" make -j"$jobs" distcheck

finish
