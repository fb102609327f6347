#!/bin/sh
# The daemon's command line: -t, -V, SIGHUP with a good and a broken file,
# SIGTERM.  TAP output.
. "$top_srcdir/test/lib/tap.sh"

xpushd="$top_builddir/xpushd"
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

export XPUSHD_SECRET=sekrit XPUSHD_APNS_PASSWORD=pw

# The modules check their provider blocks, so -t loads them: from the
# build tree (top-level keys may go anywhere in the file).
sample="$tmp/sample.conf"
{ echo "'module-path' = '$top_builddir/plugins/.libs'"
  cat "$top_srcdir/conf/xpushd.conf.sample"; } >"$sample"

"$xpushd" -V | grep -q '^xpushd [0-9]'
tap_ok $? "-V prints the version"

"$xpushd" -t -c "$sample" 2>"$tmp/err"
tap_ok $? "-t accepts conf/xpushd.conf.sample"
grep -q "configuration OK" "$tmp/err"
tap_ok $? "-t says the configuration is OK"

printf "xmpp () {\n  jid = 'p'\n  port = 'x'\n}\n" >"$tmp/bad.conf"
"$xpushd" -t -c "$tmp/bad.conf" 2>"$tmp/err"
tap_is "$?" 1 "-t rejects a broken file with exit 1"
tap_is "$(cat "$tmp/err")" "$tmp/bad.conf:3:10: 'port' takes an integer, not a string" \
	"-t names file:line:col"

"$xpushd" -t -c "$tmp/missing.conf" 2>"$tmp/err"
tap_is "$?" 1 "-t on a missing file exits 1"
grep -q "missing.conf: No such file" "$tmp/err"
tap_ok $? "and says why"

unset XPUSHD_SECRET
"$xpushd" -t -c "$sample" 2>"$tmp/err"
tap_is "$?" 1 "a missing env() variable is an error"
grep -q "environment variable XPUSHD_SECRET is not set" "$tmp/err"
tap_ok $? "naming the variable"
export XPUSHD_SECRET=sekrit

# A running daemon: SIGHUP with a broken file keeps it running.  No
# providers here: their modules have tests of their own.
cat >"$tmp/good.conf" <<CONF
xmpp () { jid = 'push.example.com'; port = 1; secret = env('XPUSHD_SECRET') }
database () { uri = 'postgresql:///unused'; migrations = '$top_srcdir/sql/migrations' }
CONF
cp "$tmp/good.conf" "$tmp/run.conf"
"$xpushd" -f -c "$tmp/run.conf" 2>"$tmp/log" &
pid=$!
tap_wait_for "grep -q 'starting as push.example.com' '$tmp/log'" 10
tap_ok $? "the daemon starts in the foreground"

echo "this is not = valid {" >>"$tmp/run.conf"
kill -HUP "$pid"
tap_wait_for "grep -q 'reload refused' '$tmp/log'" 10
tap_ok $? "SIGHUP with a broken file is refused"
grep -q "reload refused, keeping the running configuration: $tmp/run.conf:[0-9]*:[0-9]*:" "$tmp/log"
tap_ok $? "the refusal names file:line:col"
kill -0 "$pid" 2>/dev/null
tap_ok $? "the daemon keeps running"

cp "$tmp/good.conf" "$tmp/run.conf"
kill -HUP "$pid"
tap_wait_for "grep -q 'configuration reloaded' '$tmp/log'" 10
tap_ok $? "SIGHUP with a good file reloads"

kill -TERM "$pid"
tap_wait_for "! kill -0 $pid 2>/dev/null" 10
tap_ok $? "SIGTERM stops the daemon"
wait "$pid"
tap_is "$?" 0 "with exit status 0"
pid=
grep -q "stopped" "$tmp/log"
tap_ok $? "and it logs that it stopped"

tap_done
