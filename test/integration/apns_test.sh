#!/bin/sh
# Runs test/integration/apns_test (TAP) with freshly generated test keys and
# certificates (test/lib/apns_certs.sh), removed afterwards.
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
export top_builddir
dir=$(mktemp -d /tmp/apns_fixtures.XXXXXX) || exit 1
trap 'rm -rf "$dir"' EXIT INT TERM
if ! sh "$top_srcdir/test/lib/apns_certs.sh" "$dir" >"$dir/certs.log" 2>&1; then
	echo "1..0 # SKIP cannot make test certificates: $(tail -1 "$dir/certs.log")"
	exit 0
fi
APNS_FIXTURES=$dir "$top_builddir/test/integration/apns_test"
