#!/bin/sh
# Run libFuzzer targets for a while each; exit non-zero if any crashes.
# Builds nothing: configure --enable-fuzzing CC=clang and make first.
#
#	test/fuzz/run.sh [-t seconds] builddir/test/fuzz/fuzz_stream ...
#
# Seeds come from test/fuzz/corpus/<target>/ next to this script and are
# not modified (the dictionary is cfg.dict for fuzz_cfg, else xml.dict);
# new inputs go to a temporary corpus that is removed.  A
# crashing input is kept in $FUZZ_ARTIFACTS (default: the current
# directory) as crash-<hash>, and its path is printed.
set -u

seconds=30
if [ "${1:-}" = "-t" ]; then
	seconds=$2
	shift 2
fi
if [ $# -eq 0 ]; then
	echo "usage: $0 [-t seconds] fuzz-binary ..." >&2
	exit 2
fi

here=$(cd "$(dirname "$0")" && pwd)
artifacts=${FUZZ_ARTIFACTS:-$(pwd)}
status=0
for bin in "$@"; do
	name=$(basename "$bin")
	if [ ! -x "$bin" ]; then
		echo "$name: $bin is not an executable" >&2
		status=1
		continue
	fi
	work=$(mktemp -d "${TMPDIR:-/tmp}/xpfuzz.XXXXXX") || exit 1
	seeds="$here/corpus/$name"
	[ -d "$seeds" ] || seeds=
	log="$work/log"
	dict="$here/xml.dict"
	case $name in
	fuzz_cfg) dict="$here/cfg.dict" ;;
	fuzz_webpush_sub) dict="$here/webpush.dict" ;;
	esac
	mkdir "$work/corpus"
	echo "$name: fuzzing for ${seconds}s"
	if "$bin" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 \
	    -print_final_stats=1 -dict="$dict" \
	    -artifact_prefix="$artifacts/" "$work/corpus" $seeds \
	    >"$log" 2>&1 </dev/null; then
		grep -E '^(stat::number_of_executed_units|Done)' "$log" |
		    sed "s/^/$name: /"
	else
		echo "$name: FAILED, last lines of its log:" >&2
		tail -n 40 "$log" >&2
		status=1
	fi
	rm -rf "$work"
done
exit $status
