#!/bin/sh
# The benchmark harness in miniature, so CI keeps it working: a throwaway
# PostgreSQL with 1,000 devices loaded by COPY (as scripts/bench.sh does),
# the APNs mock, xpushd, and test/bench/loadgen sending 2,000 publishes at
# full speed and then 500 at a fixed rate; then, as scripts/bench.sh's
# apns-latency runs do, a mock that holds every answer 20 ms and allows
# 50 streams a connection, and 2,000 publishes with 400 in flight, which
# must make xpushd's pool grow beyond one connection.  Asserts that every publish got
# exactly one answer, that the mock got every push, and that the JSON line
# is well-formed.  No timing is asserted: see scripts/bench.sh for numbers.
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
. "$top_srcdir/test/lib/pg.sh"

if ! pg_available; then
	if [ "${XPUSHD_REQUIRE_ALL:-0}" = 1 ]; then
		echo "Bail out! no PostgreSQL and XPUSHD_REQUIRE_ALL=1"
		exit 1
	fi
	echo "1..0 # SKIP no PostgreSQL"
	exit 0
fi

LOADGEN=$top_builddir/test/bench/loadgen
tmp=$(mktemp -d "${TMPDIR:-/tmp}/xpushd-bench-test.XXXXXX") || exit 1
pids=
cleanup() {
	for p in $pids; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in $pids; do
		n=0
		while kill -0 "$p" 2>/dev/null && [ $n -lt 100 ]; do
			sleep 0.1
			n=$((n + 1))
		done
		kill -KILL "$p" 2>/dev/null
	done
	pg_stop
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

echo "1..12"
n=0
ok() {	# condition-status description
	n=$((n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
	fi
}
bail() {
	echo "Bail out! $*"
	for f in "$tmp"/*.log; do
		[ -f "$f" ] && tail -n 20 "$f" | sed "s|^|# $(basename "$f"): |"
	done
	exit 1
}
wait_file() {
	_n=0
	while [ ! -s "$1" ]; do
		_n=$((_n + 1))
		[ $_n -gt 300 ] && return 1
		sleep 0.1
	done
}

pg_start 2>"$tmp/pg.log" || bail "cannot start PostgreSQL"
sh "$top_srcdir/test/lib/apns_certs.sh" "$tmp/certs" || bail "apns_certs.sh"
"$top_builddir/test/mock/apns_mock" --cert "$tmp/certs/server.pem" \
    --key "$tmp/certs/server.key" --client-ca "$tmp/certs/ca.pem" \
    --port-file "$tmp/apns.port" --count-file "$tmp/apns.count" --quiet \
    2>"$tmp/apns_mock.log" &
APNS_PID=$!
pids="$pids $APNS_PID"
wait_file "$tmp/apns.port" || bail "the APNs mock did not start"

XMPP_PORT=$(pg_pick_port)
cat >"$tmp/xpushd.conf" <<EOC
'module-path' = '$top_builddir/plugins/.libs'
'max-in-flight' = 100000
'high-priority-burst' = 100000
'high-priority-rate' = 6000000
xmpp () { jid = 'push.localhost'; port = $XMPP_PORT; secret = 'bench'
	'reconnect-max' = 1 }
database () { uri = '$XPUSHD_TEST_DB_URI'
	migrations = '$top_srcdir/sql/migrations'; 'cache-size' = 10000 }
push () { bench () { plugin = 'apns'
	endpoint = '127.0.0.1:$(cat "$tmp/apns.port")'
	'apns-topic' = 'com.example.bench'
	'cert-file' = '$tmp/certs/client-combined.pem'
	'ca-file' = '$tmp/certs/ca.pem' } }
EOC
"$top_builddir/xpushd" --migrate -c "$tmp/xpushd.conf" 2>"$tmp/migrate.log" ||
    bail "xpushd --migrate"

"$LOADGEN" --emit-devices 1000 --provider bench >"$tmp/devices.tsv"
ok $? "loadgen --emit-devices writes the rows"
"$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 \
    -c "\\copy devices (owner, provider, token, node, secret) FROM '$tmp/devices.tsv'" \
    2>"$tmp/copy.log"
ok $? "COPY loads them"
count=$("$PG_BINDIR/psql" -X -At -c "SELECT count(DISTINCT node) FROM devices")
[ "$count" = 1000 ]
ok $? "1000 distinct devices registered ($count)"

"$top_builddir/xpushd" -f -c "$tmp/xpushd.conf" 2>"$tmp/xpushd.log" &
XPID=$!
pids="$pids $XPID"

# check FILE SENT: the JSON line is well-formed and every publish got
# exactly one answer, every one a result, and the mock saw every push.
check() {
	/usr/bin/python3 - "$1" "$2" <<'EOP'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 1, "one line, not %d" % len(lines)
r = json.loads(lines[0])
want = int(sys.argv[2])
for k in ("run", "publishes_per_s", "latency_ms", "errors", "xpushd",
          "mock_pushes_per_s", "elapsed_s"):
    assert k in r, "no %s" % k
for k in ("p50", "p99", "p999"):
    assert isinstance(r["latency_ms"][k], (int, float)), k
assert r["sent"] == want, "sent %r" % r["sent"]
assert r["answered"] == want and r["ok"] == want, (r["answered"], r["ok"])
assert r["duplicates"] == 0 and r["unknown_ids"] == 0 and r["unanswered"] == 0
assert r["errors"] == {}, r["errors"]
assert r["mock_pushes"] == want, "mock saw %r" % r["mock_pushes"]
assert r["xpushd"]["peak_rss_kb"] > 0 and r["xpushd"]["cpu_s"] is not None
EOP
}

timeout 120 "$LOADGEN" --port "$XMPP_PORT" --secret bench --devices 1000 \
    --count 2000 --window 100 --xpushd-pid "$XPID" --label ci-full \
    --mock-pid "$APNS_PID" --mock-count-file "$tmp/apns.count" \
    >"$tmp/full.json" 2>"$tmp/loadgen.log"
ok $? "2000 publishes at full speed: loadgen reports success"
sed 's/^/# /' "$tmp/full.json"
check "$tmp/full.json" 2000 2>"$tmp/check.log"
ok $? "every publish got exactly one result and made one push"
sed 's/^/# /' "$tmp/check.log"

timeout 120 "$LOADGEN" --port "$XMPP_PORT" --secret bench --devices 1000 \
    --first 500 --rate 500 --duration 1 --xpushd-pid "$XPID" \
    --label ci-rate --mock-pid "$APNS_PID" \
    --mock-count-file "$tmp/apns.count" --rss-every 0.2 \
    >"$tmp/rate.json" 2>>"$tmp/loadgen.log"
ok $? "500 publishes at 500/s: loadgen reports success"
sed 's/^/# /' "$tmp/rate.json"
check "$tmp/rate.json" 500 2>"$tmp/check.log"
ok $? "every publish got exactly one result and made one push"
sed 's/^/# /' "$tmp/check.log"
/usr/bin/python3 -c 'import json, sys
r = json.loads(open(sys.argv[1]).read())
assert r["mode"] == "rate" and len(r["rss_samples_kb"]) >= 2
assert "rss_growth_kb" in r and "send_lag_ms" in r' "$tmp/rate.json"
ok $? "a rate run reports its send lag and RSS samples"

kill -TERM "$XPID"
wait "$XPID"
ok $? "xpushd stops cleanly"

"$top_builddir/test/mock/apns_mock" --cert "$tmp/certs/server.pem" \
    --key "$tmp/certs/server.key" --client-ca "$tmp/certs/ca.pem" \
    --port-file "$tmp/lat.port" --count-file "$tmp/lat.count" \
    --delay-ms 20 --max-streams 50 --quiet 2>"$tmp/lat_mock.log" &
LAT_PID=$!
pids="$pids $LAT_PID"
wait_file "$tmp/lat.port" || bail "the delayed APNs mock did not start"
sed "s/127.0.0.1:$(cat "$tmp/apns.port")'/127.0.0.1:$(cat "$tmp/lat.port")'/" \
    "$tmp/xpushd.conf" >"$tmp/xpushd-lat.conf"
"$top_builddir/xpushd" -f -c "$tmp/xpushd-lat.conf" 2>"$tmp/xpushd-lat.log" &
XPID=$!
pids="$pids $XPID"
timeout 120 "$LOADGEN" --port "$XMPP_PORT" --secret bench --devices 1000 \
    --count 2000 --window 400 --xpushd-pid "$XPID" --label ci-latency \
    --mock-pid "$LAT_PID" --mock-count-file "$tmp/lat.count" \
    >"$tmp/lat.json" 2>>"$tmp/loadgen.log"
ok $? "2000 publishes, APNs 20 ms away: loadgen reports success"
sed 's/^/# /' "$tmp/lat.json"
check "$tmp/lat.json" 2000 2>"$tmp/check.log"
ok $? "every publish got exactly one result and made one push"
sed 's/^/# /' "$tmp/check.log"
# The count file's fourth field: connections the mock accepted.
conns=$(awk '{ print $4 }' "$tmp/lat.count")
[ "${conns:-0}" -ge 2 ]
ok $? "400 in flight over 50 streams a connection: the pool grew (${conns:-?} connections)"
