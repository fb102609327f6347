#!/bin/sh
# scripts/bench.sh: xpushd's end-to-end benchmark suite.
#
#	scripts/bench.sh [--quick] [--keep] [--runs LIST] [--profile]
#	    [--prosody] [--no-callgrind]
#
# Builds an optimised xpushd (-O2 -g, no sanitizers) in build-bench/ (or
# $XPUSHD_BENCH_BUILD), starts a throwaway PostgreSQL (test/lib/pg.sh),
# bulk-loads the devices with COPY, starts the APNs mock (C, HTTP/2 + TLS
# with client certificates) and the FCM mock (C, OAuth2), one xpushd with a
# provider id for each, and test/bench/loadgen as the XMPP server.  Each
# run prints one JSON line (fields: see BENCHMARKS.md):
#
#   apns-cold     1M devices, 200,000 publishes at full speed, cold cache
#   memory        the other 800,000 devices once: all 1M now cached; RSS
#                 at the end and 12 s later at rest (rss_settled_kb)
#   apns-warm     200,000 publishes at full speed, every device cached
#   apns-rate     5,000 publishes/s for 60 s: latency
#   soak          5,000 publishes/s for 10 minutes, RSS sampled every 10 s
#   fcm-full      50,000 publishes at full speed through the FCM mock
#   fcm-rate      5,000 publishes/s for 60 s through the FCM mock
#   memory-real   issue 21's real-sized registrations (loadgen --mix real:
#                 local parts of 8-30 bytes, 3,000 domains, half FCM with
#                 140-165 character tokens, half APNs, a third of those
#                 with a VoIP token): 1M of them, each published once to a
#                 fresh xpushd after a 2,000-device warm-up; RSS at the end
#                 and at rest, and a memory-real-bytes line with the bytes
#                 each cached registration added at rest
#   soak-real     5,000 publishes/s for SOAK_S over the same devices, RSS
#                 sampled; a soak-real-rss line with the first, last and
#                 largest sample and the least-squares slope
#   apns-latency-0, -20, -100, -300
#                 APNs 0, 20, 100, 300 ms away: a mock of its own that
#                 holds every answer that long (--delay-ms) and allows
#                 500 streams a connection, and an xpushd of its own with
#                 APNs' default pool (it grows with the load): a warm-up
#                 pass over 100,000 devices, then 300,000 publishes at
#                 full speed with 8,000 in flight; the line adds the
#                 delay, the connections the mock accepted and those open
#                 at the end, and the refused publishes (errors plus
#                 unanswered)
#   prosody       through Debian's real Prosody: 20,000 publishes over
#                 10,000 devices sent by a component (loadgen --connect)
#                 to push.localhost, answered by a null component
#                 (loadgen --null) and by xpushd in turn, three rounds
#                 each; one line per round and a prosody-share line with
#                 the medians and xpushd's share of the null ceiling
#
# Every line also records the machine: its cores, the CPU that processes
# outside the benchmark used during the run (other_cpu_s, from /proc/stat
# minus xpushd, the mocks, loadgen, PostgreSQL and Prosody), how long the
# run waited for a quiet machine first (at most $XPUSHD_BENCH_QUIET_WAIT s,
# default 120, for others below XPUSHD_BENCH_QUIET_CORES, default 0.2 of a
# core), and the callgrind instructions per warm publish of this commit,
# the figure that does not depend on the machine: unless --no-callgrind,
# the suite starts with a callgrind run (xpushd under valgrind: 10,000
# publishes to uncached devices uncollected, then the same 10,000 warm,
# collected), which prints its own line.
#
# --quick shrinks everything (20,000 devices, runs of seconds) for CI and
# for trying things; --runs picks runs (comma separated, in the order
# above; memory also warms the cache for the runs after it).  --profile
# runs xpushd under valgrind --tool=callgrind instead: a cold pass over
# 10,000 devices uncollected, then a collected warm pass (the hot path),
# and prints callgrind_annotate's top functions (the JSON lines of a
# profile run measure valgrind, not xpushd).  Everything
# listens on 127.0.0.1 only and is stopped by PID on exit.  The lines are
# also appended to $XPUSHD_BENCH_OUT when set.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${XPUSHD_BENCH_BUILD:-$top/build-bench}
quick=0
keep=0
profile=0
runs=apns-cold,memory,apns-warm,apns-rate,soak,fcm-full,fcm-rate
runs=$runs,memory-real,soak-real
runs=$runs,apns-latency-0,apns-latency-20,apns-latency-100,apns-latency-300
runs=$runs,prosody
callgrind=1

while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 ;;
	--keep) keep=1 ;;
	--runs) runs=$2; shift ;;
	--profile) profile=1 ;;
	--prosody) runs=prosody ;;
	--no-callgrind) callgrind=0 ;;
	*) echo "usage: $0 [--quick] [--keep] [--runs LIST] [--profile]" \
	    "[--prosody] [--no-callgrind]" >&2
		exit 2 ;;
	esac
	shift
done

if [ $profile = 1 ]; then
	DEVICES=10000 COLD=10000 WARM=10000 RATE=5000 RATE_S=5 SETTLE=0
	FCM_DEVICES=0 FCM_FULL=0 SOAK_S=20 SOAK_EVERY=1 REAL_DEVICES=0
	runs=apns-cold,apns-warm
	callgrind=0
	command -v valgrind >/dev/null && command -v callgrind_control \
	    >/dev/null || { echo "bench: --profile needs valgrind" >&2; exit 1; }
elif [ $quick = 1 ]; then
	DEVICES=20000 COLD=5000 WARM=10000 RATE=5000 RATE_S=5 SETTLE=2
	FCM_DEVICES=5000 FCM_FULL=5000 SOAK_S=20 SOAK_EVERY=1
	REAL_DEVICES=20000
	PROSODY_DEVICES=1000 PROSODY_COUNT=2000 PROSODY_ROUNDS=1
	LAT_DEVICES=${LAT_DEVICES:-5000} LAT_COUNT=${LAT_COUNT:-10000}
	LAT_WINDOW=${LAT_WINDOW:-2000}
else
	DEVICES=1000000 COLD=200000 WARM=200000 RATE=5000 RATE_S=60 SETTLE=12
	FCM_DEVICES=50000 FCM_FULL=50000 SOAK_S=600 SOAK_EVERY=10
	REAL_DEVICES=1000000
fi
SOAK_S=${XPUSHD_BENCH_SOAK_S:-$SOAK_S}
PROSODY_DEVICES=${PROSODY_DEVICES:-10000}
PROSODY_COUNT=${PROSODY_COUNT:-20000}
PROSODY_ROUNDS=${XPUSHD_BENCH_ROUNDS:-${PROSODY_ROUNDS:-3}}
PROSODY_BASE=20000000		# the Prosody run's devices
# The latency runs: 50,000/s at 100 ms is 5,000 in flight; the window
# leaves room for the publishes inside xpushd.
LAT_DEVICES=${LAT_DEVICES:-100000}
LAT_COUNT=${LAT_COUNT:-300000}
LAT_WINDOW=${XPUSHD_BENCH_LAT_WINDOW:-${LAT_WINDOW:-8000}}
LAT_STREAMS=500			# APNs' SETTINGS_MAX_CONCURRENT_STREAMS
# XPUSHD_BENCH_LAT_POOL=N sets their pool-size (default: the provider's);
# XPUSHD_BENCH_LAT_RATE=R sends LAT_COUNT publishes at R/s instead of at
# full speed: the latency of a rate the machine sustains, not queueing.
LAT_POOL=${XPUSHD_BENCH_LAT_POOL:+; 'pool-size' = $XPUSHD_BENCH_LAT_POOL}
CG_DEVICES=10000		# the callgrind run: cold pass, then warm
QUIET_WAIT=${XPUSHD_BENCH_QUIET_WAIT:-120}
QUIET_CORES=${XPUSHD_BENCH_QUIET_CORES:-0.2}
if [ $callgrind = 1 ] && ! { command -v valgrind >/dev/null &&
    command -v callgrind_control >/dev/null; }; then
	echo "bench: no valgrind: the lines carry no callgrind figure" >&2
	callgrind=0
fi
# Room for every device, 10 % to spare: the cache's hash table is sized
# from cache-size, so a larger one would only cost memory.
CACHE=$((DEVICES + DEVICES / 10 + FCM_DEVICES))
# Overrides, for trying things: window, rate, warm-run size and the soaks'
# length (XPUSHD_BENCH_SOAK_S).
# XPUSHD_BENCH_SMAPS=FILE appends xpushd's resident kB by mapping after
# every run.
WINDOW=${XPUSHD_BENCH_WINDOW:-2000}
RATE=${XPUSHD_BENCH_RATE:-$RATE}
WARM=${XPUSHD_BENCH_WARM:-$WARM}
SECRET=bench-component-secret
FCM_BASE=10000000		# FCM devices are numbered from here
REAL_BASE=30000000		# the real-mix devices
REAL_WARMUP=2000		# memory-real: cached before the baseline

COMMIT=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$top" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
	COMMIT="$COMMIT+changes"
fi
CLK_TCK=$(getconf CLK_TCK)
NCORES=$(nproc)
CG_IR=null

log() { echo "bench: $*" >&2; }
die() { log "$*"; exit 1; }
want() { case ",$runs," in *,$1,*) return 0 ;; esac; return 1; }

# --- build -----------------------------------------------------------------
if [ ! -f "$BUILD/Makefile" ]; then
	log "configuring an -O2 build in $BUILD"
	mkdir -p "$BUILD" || exit 1
	(cd "$BUILD" && "$top/configure" CFLAGS="-O2 -g" >configure.out 2>&1) ||
	    die "configure failed: see $BUILD/configure.out"
fi
grep -q '^XP_CFLAGS = .*fsanitize' "$BUILD/Makefile" &&
    die "$BUILD is a sanitizer build: numbers would mean nothing"
log "building in $BUILD"
(cd "$BUILD" && make -j"$(nproc)" >make.out 2>&1) ||
    die "build failed: see $BUILD/make.out"
LOADGEN=$BUILD/test/bench/loadgen
XPUSHD=$BUILD/xpushd

# --- everything started is stopped on exit ---------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/xpushd-bench.XXXXXX") || exit 1
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
	pg_stop 2>/dev/null
	if [ $keep = 1 ]; then
		log "kept $tmp"
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

top_srcdir=$top
. "$top/test/lib/pg.sh"
pg_available || die "no PostgreSQL server binaries"
pg_start || die "cannot start PostgreSQL"
PG=$(pg_pid)
log "PostgreSQL on port $PG_PORT"

# --- the machine's other load ----------------------------------------------
# The benchmark's own processes: this shell's descendants and those of
# PostgreSQL and Prosody (started detached).
own_pids() {
	ps -e -o pid=,ppid= | awk -v roots="$$ ${PG:-} ${PROSODY_ROOT:-}" '
	    BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) own[r[i]] = 1 }
	    { par[$1] = $2; all[NR] = $1 }
	    END {
		do {
			more = 0
			for (i in all) {
				p = all[i]
				if (!(p in own) && (par[p] in own)) { own[p] = 1; more = 1 }
			}
		} while (more)
		for (p in own) print p
	    }'
}

# FILE gets the machine's busy ticks ("busy N") and each own process's
# CPU ticks ("PID N").
cpu_snap() {
	{
		awk '$1 == "cpu" { print "busy", $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
		for p in $(own_pids); do
			sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null |
			    awk -v p="$p" '{ print p, $12 + $13 }'
		done
	} >"$1"
}

# CPU seconds used outside the benchmark between two snapshots, less
# EXTRA seconds of own processes that are in neither (loadgen).
cpu_other() {	# BEFORE AFTER EXTRA
	awk -v tck="$CLK_TCK" -v extra="$3" '
	    FNR == NR { b[$1] = $2; next }
	    $1 == "busy" { busy = $2 - b["busy"]; next }
	    { own += $2 - ($1 in b ? b[$1] : 0) }
	    END { o = (busy - own) / tck - extra; printf "%.2f", o < 0 ? 0 : o }' "$1" "$2"
}

# CPU ticks used so far by PostgreSQL: the postmaster and its children
# (xpushd's backends live as long as xpushd, so a difference of two
# readings is their CPU in between).
pg_ticks() {
	for p in $PG $(ps -o pid= --ppid "$PG"); do
		sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null
	done | awk '{ t += $12 + $13 } END { print t + 0 }'
}

# Waits (at most QUIET_WAIT s) until others use less than QUIET_CORES
# cores over a second; sets QUIET_WAITED and QUIET_OTHERS.
wait_quiet() {
	_t0=$(date +%s)
	while :; do
		cpu_snap "$tmp/q0"
		sleep 1
		cpu_snap "$tmp/q1"
		QUIET_OTHERS=$(cpu_other "$tmp/q0" "$tmp/q1" 0)
		QUIET_WAITED=$(($(date +%s) - _t0 - 1))
		awk -v o="$QUIET_OTHERS" -v q="$QUIET_CORES" 'BEGIN { exit !(o <= q) }' && return 0
		[ "$QUIET_WAITED" -ge "$QUIET_WAIT" ] && {
			log "the machine is not quiet: others use $QUIET_OTHERS cores; running anyway"
			return 1
		}
	done
}

# The loadgen line of a run, with the commit, the date, the machine and
# the callgrind figure added.
annotate() {	# RAW OTHER_CPU_S WALL_S PG_TICKS
	/usr/bin/python3 - "$@" "$COMMIT" "$NCORES" "$QUIET_WAITED" \
	    "$QUIET_OTHERS" "$CG_IR" "$CLK_TCK" <<'PY'
import json, sys, time
raw, other, wall, pgt, commit, cores, waited, before, cg, tck = sys.argv[1:11]
with open(raw) as f:
    d = json.loads(f.read())
other, wall = float(other), float(wall)
# PostgreSQL's CPU during the run: what a cache miss costs the database.
pg_s = int(pgt) / float(tck)
d["postgres"] = {"cpu_s": round(pg_s, 2),
                 "cpu_us_per_publish": round(pg_s * 1e6 / d["answered"], 1)
                 if d.get("answered") else None}
d["commit"] = commit
d["date"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
d["machine"] = {"cores": int(cores), "other_cpu_s": other,
                "other_cpu_cores": round(other / wall, 3) if wall > 0 else None,
                "quiet_wait_s": int(waited),
                "others_before_cores": float(before),
                "loadavg": [float(x) for x in open("/proc/loadavg").read().split()[:3]]}
d["callgrind_ir_per_warm_publish"] = None if cg == "null" else int(cg)
print(json.dumps(d, separators=(",", ":")))
PY
}

# Waits for a file to appear (a port file).
wait_file() {
	n=0
	while [ ! -s "$1" ]; do
		n=$((n + 1))
		[ $n -gt 300 ] && return 1
		sleep 0.1
	done
}

# --- mocks -----------------------------------------------------------------
sh "$top/test/lib/apns_certs.sh" "$tmp/certs" || die "apns_certs.sh failed"
"$BUILD/test/mock/apns_mock" --cert "$tmp/certs/server.pem" \
    --key "$tmp/certs/server.key" --client-ca "$tmp/certs/ca.pem" \
    --topic com.example.bench --port-file "$tmp/apns.port" \
    --count-file "$tmp/apns.count" --quiet 2>"$tmp/apns_mock.log" &
APNS_PID=$!
pids="$pids $APNS_PID"
wait_file "$tmp/apns.port" || die "the APNs mock did not start"
APNS_PORT=$(cat "$tmp/apns.port")

fcm=0
real=0
if want memory-real || want soak-real; then
	[ $profile = 0 ] && real=1
fi
if want fcm-full || want fcm-rate || [ $real = 1 ]; then
	fcm=1
fi
if [ $fcm = 1 ]; then
	# The C mock (test/mock/fcm_mock.c): the Python one saturated a core
	# near 4,000 requests/s, so the FCM runs measured the mock.
	FCM_PORT=$(pg_pick_port)
	openssl genrsa -out "$tmp/sa.key" 2048 2>/dev/null &&
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
	    -nodes -keyout "$tmp/fcm-tls.key" -out "$tmp/fcm-tls.crt" \
	    -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
	    2>/dev/null || die "openssl failed"
	# A PEM key is base64, dashes and spaces: only its newlines need
	# escaping in a JSON string.
	{
		printf '{"type": "service_account", "project_id": "xpushd-bench",'
		printf ' "private_key_id": "0123456789abcdef", "private_key": "'
		awk '{ printf "%s\\n", $0 }' "$tmp/sa.key"
		printf '", "client_email": '
		printf '"bench@xpushd-bench.iam.gserviceaccount.com",'
		printf ' "client_id": "1",'
		printf ' "token_uri": "https://127.0.0.1:%s/token"}\n' "$FCM_PORT"
	} >"$tmp/sa.json" || die "service account"
	"$BUILD/test/mock/fcm_mock" --cert "$tmp/fcm-tls.crt" \
	    --key "$tmp/fcm-tls.key" --service-account "$tmp/sa.json" \
	    --port "$FCM_PORT" --port-file "$tmp/fcm.port" --quiet \
	    2>"$tmp/fcm_mock.log" &
	FCM_PID=$!
	pids="$pids $FCM_PID"
	wait_file "$tmp/fcm.port" || die "the FCM mock did not start"
	FCM_PUSH=fcm
else
	# xpushd refuses unknown plugins: point the id at the APNs mock.
	FCM_PORT=$APNS_PORT
	FCM_PUSH=
fi

# --- xpushd ----------------------------------------------------------------
XMPP_PORT=$(pg_pick_port)
if [ -n "$FCM_PUSH" ]; then
	fcm_block="benchfcm () { plugin = 'fcm'
		'service-account-file' = '$tmp/sa.json'
		endpoint = 'https://127.0.0.1:$FCM_PORT'
		'ca-file' = '$tmp/fcm-tls.crt'; 'pool-size' = 2
		'queue-size' = 1000000 }"
else
	fcm_block=
fi
cat >"$tmp/xpushd.conf" <<EOF
# Generated by scripts/bench.sh.  Every publish goes to a device that was
# not pushed to for seconds at least: throttling never triggers.
'module-path' = '$BUILD/plugins/.libs'
'max-in-flight' = 1000000
'publish-deadline' = 30000
'high-priority-burst' = 100000
'high-priority-rate' = 6000000
'low-priority-window' = 0
xmpp () {
	jid = 'push.localhost'; host = '127.0.0.1'; port = $XMPP_PORT
	secret = '$SECRET'; 'reconnect-max' = 1
	'send-queue-limit' = 268435456
}
database () {
	uri = '$XPUSHD_TEST_DB_URI'; migrations = '$top/sql/migrations'
	'cache-size' = $CACHE; 'pool-size' = 4
}
push () {
	bench () { plugin = 'apns'; endpoint = '127.0.0.1:$APNS_PORT'
		'apns-topic' = 'com.example.bench'
		'cert-file' = '$tmp/certs/client-combined.pem'
		'ca-file' = '$tmp/certs/ca.pem'; 'pool-size' = 2
		'queue-size' = 1000000 }
	$fcm_block
}
EOF
"$XPUSHD" --migrate -c "$tmp/xpushd.conf" 2>"$tmp/migrate.log" ||
    die "xpushd --migrate failed: $(cat "$tmp/migrate.log")"

# --- devices, in bulk ------------------------------------------------------
# The trigger would NOTIFY once per row; nobody listens yet.
load_devices() {	# provider base count [domain]
	"$LOADGEN" --emit-devices "$3" --base "$2" --provider "$1" \
	    --domain "${4:-localhost}" |
	"$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 \
	    -c "ALTER TABLE devices DISABLE TRIGGER devices_notify" \
	    -c "\\copy devices (owner, provider, token, node, secret) FROM pstdin" \
	    -c "ALTER TABLE devices ENABLE TRIGGER devices_notify" \
	    -c "ANALYZE devices"
}
t0=$(date +%s.%N)
load_devices bench 0 "$DEVICES" || die "loading devices failed"
[ $fcm = 1 ] && [ "$FCM_DEVICES" -gt 0 ] && { load_devices benchfcm $FCM_BASE $FCM_DEVICES ||
    die "loading FCM devices failed"; }
# The real mix: APNs devices to the APNs mock, FCM ones to the FCM mock.
load_real_devices() {	# count
	"$LOADGEN" --emit-devices "$1" --base $REAL_BASE --mix real \
	    --provider bench --fcm-provider benchfcm |
	"$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 \
	    -c "ALTER TABLE devices DISABLE TRIGGER devices_notify" \
	    -c "\\copy devices (owner, provider, token, voip_token, node, secret) FROM pstdin" \
	    -c "ALTER TABLE devices ENABLE TRIGGER devices_notify" \
	    -c "ANALYZE devices"
}
[ $real = 1 ] && { load_real_devices "$REAL_DEVICES" ||
    die "loading the real-mix devices failed"; }
t1=$(date +%s.%N)
log "loaded $DEVICES + $FCM_DEVICES devices in $(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }") s"

# --- callgrind: instructions per warm publish -------------------------------
# xpushd under valgrind: CG_DEVICES publishes to uncached devices (not
# collected), then the same devices again, cached (collected).  The
# figure goes into every line after it.
if [ $callgrind = 1 ]; then
	[ $quick = 1 ] && CG_DEVICES=2000
	log "callgrind: $CG_DEVICES cold publishes, then $CG_DEVICES warm ones (collected)"
	valgrind --tool=callgrind --instr-atstart=no \
	    --callgrind-out-file="$tmp/cg.out" \
	    "$XPUSHD" -f -c "$tmp/xpushd.conf" 2>"$tmp/cg-xpushd.log" &
	CGPID=$!
	pids="$pids $CGPID"
	cg_lg() {	# label
		timeout -s INT 900 "$LOADGEN" --port "$XMPP_PORT" \
		    --secret "$SECRET" --xpushd-pid "$CGPID" --label "$1" \
		    --devices "$CG_DEVICES" --count "$CG_DEVICES" \
		    --window 500 --connect-timeout 300 --drain-timeout 120 \
		    >"$tmp/$1.raw"
	}
	if cg_lg callgrind-cold && callgrind_control -i on "$CGPID" >/dev/null &&
	    cg_lg callgrind-warm && callgrind_control -i off "$CGPID" >/dev/null; then
		kill -TERM "$CGPID"
		wait "$CGPID"
		# "summary:" is 0 when collection was switched on and off.
		total=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$tmp/cg.out" | tail -n 1)
		if [ -n "$total" ]; then
			CG_IR=$((total / CG_DEVICES))
			QUIET_WAITED=0 QUIET_OTHERS=0
			printf '{"run":"callgrind","warm_publishes":%s,"ir_total":%s,"ir_per_warm_publish":%s,"commit":"%s"}\n' \
			    "$CG_DEVICES" "$total" "$CG_IR" "$COMMIT" | tee -a "${XPUSHD_BENCH_OUT:-/dev/null}"
		else
			log "callgrind: no totals in $tmp/cg.out"
		fi
	else
		log "callgrind: a pass failed: $(tail -n 3 "$tmp/cg-xpushd.log")"
		kill -TERM "$CGPID" 2>/dev/null
		wait "$CGPID"
	fi
fi

if [ $profile = 1 ]; then
	valgrind --tool=callgrind --instr-atstart=no \
	    --callgrind-out-file="$tmp/callgrind.out" \
	    "$XPUSHD" -f -c "$tmp/xpushd.conf" 2>"$tmp/xpushd.log" &
else
	"$XPUSHD" -f -c "$tmp/xpushd.conf" 2>"$tmp/xpushd.log" &
fi
XPID=$!
pids="$pids $XPID"

# --- runs ------------------------------------------------------------------
rc=0
LG_TARGET="--port $XMPP_PORT --secret $SECRET"
RUN_PID=$XPID
lg() {		# label timeout [loadgen args]
	label=$1 limit=$2
	shift 2
	kill -0 "$RUN_PID" 2>/dev/null || die "the component is not running: $(tail -n 5 "$tmp/xpushd.log")"
	wait_quiet
	cpu_snap "$tmp/s0"
	pg0=$(pg_ticks)
	w0=$(date +%s.%N)
	# shellcheck disable=SC2086
	timeout -s INT "$limit" "$LOADGEN" $LG_TARGET \
	    --xpushd-pid "$RUN_PID" --label "$label" "$@" >"$tmp/$label.raw"
	r=$?
	w1=$(date +%s.%N)
	cpu_snap "$tmp/s1"
	pg1=$(pg_ticks)
	if [ -s "$tmp/$label.raw" ]; then
		lgcpu=$(sed -n 's/.*"loadgen_cpu_s":\([0-9.]*\).*/\1/p' "$tmp/$label.raw")
		annotate "$tmp/$label.raw" \
		    "$(cpu_other "$tmp/s0" "$tmp/s1" "${lgcpu:-0}")" \
		    "$(awk "BEGIN { print $w1 - $w0 }")" $((pg1 - pg0)) \
		    >"$tmp/$label.json" ||
		    cp "$tmp/$label.raw" "$tmp/$label.json"
		# A run may add fields of its own (the latency runs).
		[ -n "${LG_EXTRA:-}" ] && $LG_EXTRA "$tmp/$label.json"
	fi
	if [ -s "$tmp/$label.json" ]; then
		cat "$tmp/$label.json"
		[ -n "${XPUSHD_BENCH_OUT:-}" ] &&
		    cat "$tmp/$label.json" >>"$XPUSHD_BENCH_OUT"
	else
		log "$label: no result (exit $r)"
	fi
	[ $r = 0 ] || { log "$label: not every publish got one answer"; rc=1; }
	# Where the memory is, for BENCHMARKS.md: kB resident by mapping.
	if [ -n "${XPUSHD_BENCH_SMAPS:-}" ]; then
		awk -v label="$label" '
		    /^[0-9a-f]+-[0-9a-f]+ / { name = NF >= 6 ? $6 : "[anon]" }
		    /^Rss:/ { rss[name] += $2 }
		    END { for (n in rss) if (rss[n] >= 256)
			printf "%s %8d kB %s\n", label, rss[n], n }' \
		    "/proc/$XPID/smaps" | sort -k2 -rn >>"$XPUSHD_BENCH_SMAPS"
	fi
}
apns="--mock-pid $APNS_PID --mock-count-file $tmp/apns.count"
fcmc="--mock-pid ${FCM_PID:-0} --mock-count-cmd"
fcmcmd="curl -sk --http2 https://127.0.0.1:$FCM_PORT/control/stats | sed -n 's/.*\"send_ok\": *\\([0-9]*\\).*/\\1/p'"
rest=$((DEVICES - COLD))

want apns-cold && lg apns-cold 600 --devices "$DEVICES" --count "$COLD" \
    --window "$WINDOW" $apns
want memory && lg memory 900 --devices "$DEVICES" --first "$COLD" \
    --count "$rest" --window "$WINDOW" --settle "$SETTLE" $apns
[ $profile = 1 ] && callgrind_control -i on "$XPID" >/dev/null
want apns-warm && lg apns-warm 600 --devices "$DEVICES" --count "$WARM" \
    --window "$WINDOW" $apns
want apns-rate && lg apns-rate $((RATE_S + 120)) --devices "$DEVICES" \
    --first "$WARM" --rate "$RATE" --duration "$RATE_S" $apns
# The soak comes before the FCM runs: their backlog (the Python mock is
# slower than 5,000/s) grows the heap, and freed memory that the soak
# reused would hide a leak.
want soak && lg soak $((SOAK_S + 120)) --devices "$DEVICES" \
    --rate "$RATE" --duration "$SOAK_S" --rss-every "$SOAK_EVERY" $apns
if [ $fcm = 1 ]; then
	want fcm-full && lg fcm-full 600 --base $FCM_BASE \
	    --devices "$FCM_DEVICES" --count "$FCM_FULL" --window "$WINDOW" \
	    $fcmc "$fcmcmd"
	want fcm-rate && lg fcm-rate $((RATE_S + 120)) --base $FCM_BASE \
	    --devices "$FCM_DEVICES" --rate "$RATE" --duration "$RATE_S" \
	    --drain-timeout 60 \
	    $fcmc "$fcmcmd"
fi

# --- real-sized registrations (issue 21) ------------------------------------
# A fresh xpushd, so that its cache holds the real mix only.  A warm-up
# (REAL_WARMUP devices, not a run of its own) opens its connections and
# pools first; its RSS at rest is the baseline, and what the memory-real
# run adds at rest, over the registrations it added, is a cached
# registration's cost (the devcache's own figures are not exported).
# A TERM that reaches a process between fork and exec is lost (the shell's
# trap takes it): ask again until it has gone.
stop_pid() {	# pid
	_n=0
	while kill -0 "$1" 2>/dev/null; do
		[ $((_n % 50)) = 0 ] && kill -TERM "$1" 2>/dev/null
		_n=$((_n + 1))
		[ $_n -gt 600 ] && kill -KILL "$1" 2>/dev/null
		sleep 0.1
	done
	wait "$1" 2>/dev/null
}
if [ $real = 1 ]; then
	stop_pid "$XPID"
	"$XPUSHD" -f -c "$tmp/xpushd.conf" 2>"$tmp/xpushd-real.log" &
	XPID=$!
	pids="$pids $XPID"
	RUN_PID=$XPID
	real_base_kb=null
	if want memory-real; then
		# shellcheck disable=SC2086
		timeout -s INT 300 "$LOADGEN" $LG_TARGET --xpushd-pid "$XPID" \
		    --label real-warmup --mix real --devices $REAL_WARMUP --base $REAL_BASE \
		    --count $REAL_WARMUP --window "$WINDOW" --settle "$SETTLE" \
		    >"$tmp/real-warmup.raw" ||
		    log "real-warmup: not every publish got one answer"
		real_base_kb=$(sed -n 's/.*"rss_settled_kb":\([0-9]*\).*/\1/p' \
		    "$tmp/real-warmup.raw")
		lg memory-real 900 --mix real --devices "$REAL_DEVICES" --base $REAL_BASE \
		    --first $REAL_WARMUP --count $((REAL_DEVICES - REAL_WARMUP)) \
		    --window "$WINDOW" --settle "$SETTLE"
	fi
	want soak-real && lg soak-real $((SOAK_S + 120)) --mix real \
	    --devices "$REAL_DEVICES" --base $REAL_BASE --rate "$RATE" \
	    --duration "$SOAK_S" --rss-every "$SOAK_EVERY" --drain-timeout 60
	/usr/bin/python3 - "$tmp" "${real_base_kb:-null}" \
	    $((REAL_DEVICES - REAL_WARMUP)) "$COMMIT" "$CG_IR" <<'PY' |
import json, sys
tmp, base, added, commit, cg = sys.argv[1:6]
cg = None if cg == "null" else int(cg)
def load(label):
    try:
        with open("%s/%s.json" % (tmp, label)) as f:
            return json.loads(f.read())
    except (OSError, ValueError):
        return None
m = load("memory-real")
if m is not None and base != "null":
    x = m.get("xpushd", {})
    rest = x.get("rss_settled_kb", x.get("rss_kb"))
    d = {"run": "memory-real-bytes", "registrations": int(added),
         "rss_baseline_kb": int(base), "rss_kb": x.get("rss_kb"),
         "rss_settled_kb": rest,
         "bytes_per_registration": round((rest - int(base)) * 1024 /
                                         int(added), 1),
         "commit": commit, "callgrind_ir_per_warm_publish": cg}
    print(json.dumps(d, separators=(",", ":")))
s = load("soak-real")
if s is not None and s.get("rss_samples_kb"):
    r, every = s["rss_samples_kb"], s.get("rss_every_s", 1)
    t = [i * every / 60.0 for i in range(len(r))]
    n, mt, mr = len(r), sum(t) / len(r), sum(r) / len(r)
    var = sum((a - mt) ** 2 for a in t)
    slope = sum((a - mt) * (b - mr) for a, b in zip(t, r)) / var if var else 0
    d = {"run": "soak-real-rss", "samples": n, "every_s": every,
         "first_kb": r[0], "last_kb": r[-1], "max_kb": max(r),
         "slope_kb_per_min": round(slope, 1), "commit": commit,
         "callgrind_ir_per_warm_publish": cg}
    print(json.dumps(d, separators=(",", ":")))
PY
	tee -a "${XPUSHD_BENCH_OUT:-/dev/null}"
fi

# --- APNs from far away ----------------------------------------------------
# Each delay gets its own mock (--delay-ms, LAT_STREAMS streams) and its
# own xpushd on its own component port, with the provider's default pool
# and idle-timeout: the main xpushd's pool-size 2 would cap the run.
lat_fields() {	# JSON file: the mock's connections, the refusals
	seq0=$(awk '{ print $1 }' "$LAT_COUNT_FILE" 2>/dev/null)
	kill -USR1 "$LAT_MOCK" 2>/dev/null
	n=0
	while [ "$(awk '{ print $1 }' "$LAT_COUNT_FILE" 2>/dev/null)" = "${seq0:-}" ] &&
	    [ $n -lt 300 ]; do
		sleep 0.01
		n=$((n + 1))
	done
	/usr/bin/python3 - "$1" "$LAT_DELAY" "$LAT_STREAMS" "$LAT_COUNT_FILE" <<'PY'
import json, sys
path, delay, streams, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
with open(path) as f:
    d = json.loads(f.read())
try:
    c = [int(x) for x in open(count).read().split()]
except (OSError, ValueError):
    c = []
d["apns_delay_ms"] = delay
d["apns_max_streams"] = streams
d["connections_opened"] = c[3] if len(c) >= 5 else None
d["connections_open_at_end"] = c[4] if len(c) >= 5 else None
d["refused"] = sum(d.get("errors", {}).values()) + d.get("unanswered", 0)
with open(path, "w") as f:
    f.write(json.dumps(d, separators=(",", ":")) + "\n")
PY
}
apns_latency() {	# delay_ms
	LAT_DELAY=$1
	LAT_COUNT_FILE=$tmp/lat$1.count
	"$BUILD/test/mock/apns_mock" --cert "$tmp/certs/server.pem" \
	    --key "$tmp/certs/server.key" --client-ca "$tmp/certs/ca.pem" \
	    --topic com.example.bench --port-file "$tmp/lat$1.port" \
	    --count-file "$LAT_COUNT_FILE" --max-streams "$LAT_STREAMS" \
	    --delay-ms "$1" --quiet 2>"$tmp/lat$1-mock.log" &
	LAT_MOCK=$!
	pids="$pids $LAT_MOCK"
	wait_file "$tmp/lat$1.port" || die "the delayed APNs mock did not start"
	lat_xmpp=$(pg_pick_port)
	sed -e "s/port = $XMPP_PORT/port = $lat_xmpp/" \
	    -e "s/127.0.0.1:$APNS_PORT'/127.0.0.1:$(cat "$tmp/lat$1.port")'/" \
	    -e "s|'ca-file' = '$tmp/certs/ca.pem'; 'pool-size' = 2|'ca-file' = '$tmp/certs/ca.pem'$LAT_POOL|" \
	    "$tmp/xpushd.conf" >"$tmp/xpushd-lat$1.conf"
	"$XPUSHD" -f -c "$tmp/xpushd-lat$1.conf" 2>"$tmp/xpushd-lat$1.log" &
	lat_x=$!
	pids="$pids $lat_x"
	# The cache warm, so the run measures APNs' distance, not the
	# database (apns-cold does that).
	timeout -s INT 600 "$LOADGEN" --port "$lat_xmpp" --secret "$SECRET" \
	    --label warm --devices "$LAT_DEVICES" --count "$LAT_DEVICES" \
	    --window "$LAT_WINDOW" >/dev/null ||
	    log "apns-latency-$1: the warm-up pass failed"
	save_target=$LG_TARGET save_pid=$RUN_PID
	LG_TARGET="--port $lat_xmpp --secret $SECRET" RUN_PID=$lat_x
	LG_EXTRA=lat_fields
	if [ -n "${XPUSHD_BENCH_LAT_RATE:-}" ]; then
		lat_load="--rate $XPUSHD_BENCH_LAT_RATE --duration $((LAT_COUNT / XPUSHD_BENCH_LAT_RATE))"
	else
		lat_load="--count $LAT_COUNT --window $LAT_WINDOW"
	fi
	# shellcheck disable=SC2086
	lg "apns-latency-$1" 900 --devices "$LAT_DEVICES" $lat_load \
	    --mock-pid "$LAT_MOCK" --mock-count-file "$LAT_COUNT_FILE"
	LG_TARGET=$save_target RUN_PID=$save_pid LG_EXTRA=
	stop_pid "$lat_x"
	stop_pid "$LAT_MOCK"
}
if [ $profile = 0 ]; then
	for d in 0 20 100 300; do
		want "apns-latency-$d" && apns_latency "$d"
	done
fi

# --- through a real Prosody ------------------------------------------------
# loadgen --connect is a component (bench.localhost) of Debian's Prosody
# and sends the publishes to push.localhost through it; push.localhost is
# the null component (loadgen --null: every IQ answered at once) and
# xpushd in turn.  The devices belong to bench.localhost, the publisher.
if want prosody && [ $profile = 0 ]; then
	. "$top/test/lib/prosody.sh"
	prosody_available || die "the prosody run needs Debian's prosody and prosody-modules"
	# The main xpushd has nothing more to do: keep its timers off the
	# machine.
	stop_pid "$XPID"
	load_devices bench $PROSODY_BASE "$PROSODY_DEVICES" bench.localhost ||
	    die "loading the Prosody run's devices failed"
	PROSODY_SECRET=$SECRET PROSODY_LOG_LEVEL=warn
	PROSODY_EXTRA_CFG="Component \"bench.localhost\"
  component_secret = \"$SECRET\""
	export PROSODY_SECRET PROSODY_LOG_LEVEL PROSODY_EXTRA_CFG
	prosody_start >"$tmp/prosody-start.log" 2>&1 ||
	    die "Prosody did not start: $(tail -n 5 "$tmp/prosody-start.log")"
	PROSODY_ROOT=$(prosody_pid)
	sed "s/port = $XMPP_PORT/port = $PROSODY_COMPONENT_PORT/" \
	    "$tmp/xpushd.conf" >"$tmp/xpushd-prosody.conf"
	LG_TARGET="--connect --port $PROSODY_COMPONENT_PORT --secret $SECRET --from bench.localhost"
	# push.localhost answers a ping through Prosody: connected.
	component_up() {	# pid
		n=0
		until prosody_component_up; do
			n=$((n + 1))
			kill -0 "$1" 2>/dev/null && [ $n -lt 300 ] || return 1
			sleep 0.1
		done
	}
	round=1
	while [ $round -le "$PROSODY_ROUNDS" ]; do
		"$LOADGEN" --connect --null --port "$PROSODY_COMPONENT_PORT" \
		    --secret "$SECRET" --jid push.localhost 2>>"$tmp/null.log" &
		RUN_PID=$!
		pids="$pids $RUN_PID"
		component_up $RUN_PID || die "the null component did not connect: $(tail -n 3 "$tmp/null.log")"
		lg prosody-null-$round 600 --devices "$PROSODY_DEVICES" \
		    --base $PROSODY_BASE --count "$PROSODY_COUNT" --window "$WINDOW"
		kill -TERM $RUN_PID
		wait $RUN_PID
		"$XPUSHD" -f -c "$tmp/xpushd-prosody.conf" 2>>"$tmp/xpushd-prosody.log" &
		RUN_PID=$!
		pids="$pids $RUN_PID"
		component_up $RUN_PID || die "xpushd did not connect to Prosody: $(tail -n 3 "$tmp/xpushd-prosody.log")"
		lg prosody-xpushd-$round 600 --devices "$PROSODY_DEVICES" \
		    --base $PROSODY_BASE --count "$PROSODY_COUNT" --window "$WINDOW" $apns
		kill -TERM $RUN_PID
		wait $RUN_PID
		round=$((round + 1))
	done
	/usr/bin/python3 - "$tmp" "$PROSODY_ROUNDS" "$COMMIT" "$CG_IR" <<'PY' |
import json, statistics, sys
tmp, rounds, commit, cg = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def rates(kind):
    out = []
    for r in range(1, rounds + 1):
        try:
            with open("%s/prosody-%s-%d.json" % (tmp, kind, r)) as f:
                out.append(json.loads(f.read())["publishes_per_s"])
        except (OSError, ValueError, KeyError):
            pass
    return out
n, x = rates("null"), rates("xpushd")
d = {"run": "prosody-share", "rounds": rounds, "null_per_s": n,
     "xpushd_per_s": x, "commit": commit,
     "callgrind_ir_per_warm_publish": None if cg == "null" else int(cg)}
if n and x:
    d["null_median"] = statistics.median(n)
    d["xpushd_median"] = statistics.median(x)
    d["share"] = round(d["xpushd_median"] / d["null_median"], 3)
print(json.dumps(d, separators=(",", ":")))
PY
	tee -a "${XPUSHD_BENCH_OUT:-/dev/null}"
	prosody_stop
	PROSODY_ROOT=
fi

if [ $profile = 1 ]; then
	callgrind_control -i off "$XPID" >/dev/null
	kill -TERM "$XPID"
	wait "$XPID"
	callgrind_annotate "$tmp/callgrind.out" >"$tmp/callgrind.txt" 2>&1
	callgrind_annotate --inclusive=yes "$tmp/callgrind.out" \
	    >"$tmp/callgrind-inclusive.txt" 2>&1
	log "callgrind, warm pass, self cost (full: $tmp/callgrind.txt):"
	sed -n '1,45p' "$tmp/callgrind.txt"
	log "inclusive:"
	sed -n '1,45p' "$tmp/callgrind-inclusive.txt"
	[ $keep = 1 ] || log "use --keep to keep the profile"
fi
if grep -q 'ERROR\|AddressSanitizer' "$tmp/xpushd.log"; then
	log "xpushd logged errors:"
	grep 'ERROR\|AddressSanitizer' "$tmp/xpushd.log" | head -n 5 >&2
fi
exit $rc
